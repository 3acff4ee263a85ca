"""Files on this machine that a person chose: reading one to share, writing one they saved.

Both front ends read and write chat files the same way: a path that is not a regular file (a
named pipe would make a plain open wait for a writer for ever) is refused at once, and a
saved file is readable by its owner alone and never left half-written. Blocking calls: run
them in a thread.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO

__all__ = ["NotARegularFile", "open_regular", "write_private"]


class NotARegularFile(OSError):
    """The path names a folder, a pipe, a device or a socket: nothing to share."""

    def __init__(self) -> None:
        super().__init__(0, "not a regular file")


def open_regular(path: Path) -> BinaryIO:
    """The regular file at ``path``, open for reading. Raises :class:`NotARegularFile` for
    anything else, without waiting for it, and ``OSError`` when it cannot be opened."""
    # Opened without waiting: a plain open of a named pipe waits for a writer, for ever.
    # O_NONBLOCK changes nothing for a regular file's reads; Windows has neither it nor FIFOs.
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    source = os.fdopen(os.open(path, flags | getattr(os, "O_BINARY", 0)), "rb")
    if not stat.S_ISREG(os.fstat(source.fileno()).st_mode):
        source.close()
        raise NotARegularFile()
    return source


def write_private(path: Path, data: bytes, *, replace: bool) -> None:
    """Write ``data`` to a file at ``path`` readable by its owner alone (0600 on POSIX).

    Without ``replace``, only as a new file (``FileExistsError`` if anything is there, a
    link included). With it, whole or not at all: into a new file beside it (mkstemp makes it
    0600), then put in its place (a link there is replaced, never followed). Nothing
    half-written is left behind."""
    if replace:
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".part")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        return
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    handle = os.open(path, flags, 0o600)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
