"""Save transcript…: the conversation written to a file the person picks, when they ask.

This is the one place the app writes chat content of its own accord to nowhere but where the
person chose (docs/architecture.md, invariant 2): :func:`save_transcript` asks where, as
Markdown or as a web page (:mod:`core.transcript_export` makes the text), and writes it
readable by its owner only, all at once: into a temporary file in the same folder, then put
in place, so a failure (a full disk, no permission) leaves no half-written file, nor a
half-replaced one. Why it failed is said in words.

The web page shows messages as the chat does: :func:`message_html` is the chat's own renderer
(:func:`desktop.markdown.render`, which needs no ``QApplication``), with its links marked to
open with no referrer and their real address shown next to any text that differs from it.
"""

from __future__ import annotations

import contextlib
import errno
import html
import os
import re
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QStandardPaths
from PySide6.QtWidgets import QDialog, QFileDialog, QMessageBox, QWidget

from core.filetypes import safe_file_name
from core.transcript import Entry
from core.transcript_export import Conversation, transcript_html, transcript_markdown
from desktop.labels import message_box
from desktop.markdown import render

__all__ = [
    "FORMATS",
    "default_name",
    "message_html",
    "save_transcript",
    "why_not_written",
    "write_privately",
]

FORMATS = {"Markdown (*.md)": "md", "Web page (*.html)": "html"}
"""The save dialog's filters, and the format (a file name extension) each one means."""
_SUFFIXES = {".md": "md", ".markdown": "md", ".html": "html", ".htm": "html"}

# Every tag in the renderer's output is its own (the text in it is escaped, "<" included),
# and links never nest: an <a> and its text up to the next </a> are one link.
_LINK = re.compile(r'<a href="([^"]*)"[^>]*>(.*?)</a>', re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


def _marked(link: re.Match[str]) -> str:
    href, inner = link.group(1), link.group(2)
    said = html.unescape(_TAG.sub("", inner)).replace("\xa0", " ")
    where = "" if said == html.unescape(href) else f' <span class="href">({href})</span>'
    return f'<a href="{href}" rel="noopener noreferrer" target="_blank">{inner}</a>{where}'


def message_html(text: str) -> str:
    """A message as the chat shows it (light theme), for :func:`transcript_html`: its
    links open only when clicked, in a new tab with no referrer, and where a link's text is
    not its address, the address follows in brackets."""
    return _LINK.sub(_marked, render(text))


def default_name(room: str, when: datetime) -> str:
    """The file name offered: the room's name made safe for a file name, and the date."""
    stem = safe_file_name(room.replace("/", "-").replace("\\", "-"))
    return f"{stem} {when:%Y-%m-%d}.md"


def write_privately(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path``, readable and writable by its owner only: into a
    temporary file beside it, flushed to the disk, then renamed over it, so ``path`` is
    either the whole new file or what it was before. Raises :class:`OSError`; the temporary
    file is gone then."""
    data = text.encode("utf-8")
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as file:
            if hasattr(os, "fchmod"):  # mkstemp's 0600 already; said again, on purpose
                os.fchmod(file.fileno(), 0o600)
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def why_not_written(exc: OSError) -> str:
    """Why a file could not be written, in words for people."""
    code = exc.errno
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return "The disk is full."
    if code in (errno.EACCES, errno.EPERM) or isinstance(exc, PermissionError):
        return "You do not have permission to write there."
    if code == errno.EROFS:
        return "That place is read-only."
    if code == errno.ENOENT:
        return "That folder does not exist any more."
    if code == errno.EISDIR:
        return "A folder there has that name."
    if code == errno.ENAMETOOLONG:
        return "The file name is too long."
    reason = exc.strerror or str(exc) or "an unknown error"
    return f"The system said: {reason.rstrip('.')}."


def _format_of(path: Path, chosen: str) -> str:
    """The format the name's extension says, else the filter's."""
    return _SUFFIXES.get(path.suffix.lower(), chosen)


def _documents() -> Path:
    """Where the save dialog opens: the Documents folder, or home."""
    where = QStandardPaths.StandardLocation
    return Path(
        QStandardPaths.writableLocation(where.DocumentsLocation)
        or QStandardPaths.writableLocation(where.HomeLocation)
    )


def save_transcript(
    parent: QWidget, entries: Sequence[Entry], conversation: Conversation, *,
    folder: Path | None = None,
) -> Path | None:  # fmt: skip
    """Ask where to save ``entries`` (with ``conversation``'s facts), write them there, and
    return where; None when the person cancelled or it could not be written (which a warning
    has then said, in words).

    Modal: the save dialog and the warning run their own event loops, so call this from a
    Qt slot, never from a coroutine (see :mod:`desktop.modal`).
    """
    dialog = QFileDialog(parent, "Save transcript", str(folder or _documents()))
    dialog.setObjectName("saveTranscript")
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    dialog.setFileMode(QFileDialog.FileMode.AnyFile)
    dialog.setNameFilters(list(FORMATS))
    dialog.setDefaultSuffix("md")
    dialog.filterSelected.connect(lambda chosen: dialog.setDefaultSuffix(FORMATS.get(chosen, "md")))
    dialog.selectFile(default_name(conversation.room, datetime.now()))
    try:
        if dialog.exec() != QDialog.DialogCode.Accepted or not dialog.selectedFiles():
            return None
        path = Path(dialog.selectedFiles()[0])
        chosen = FORMATS.get(dialog.selectedNameFilter(), "md")
    finally:
        dialog.deleteLater()
    if _format_of(path, chosen) == "html":
        text = transcript_html(entries, conversation, render_text=message_html)
    else:
        text = transcript_markdown(entries, conversation)
    try:
        write_privately(path, text)
    except OSError as exc:
        box = message_box(
            QMessageBox.Icon.Warning, "Transcript not saved",
            f"The transcript was not saved to {path}. {why_not_written(exc)}", parent=parent,
        )  # fmt: skip
        box.setObjectName("transcriptNotSaved")
        box.exec()
        box.deleteLater()
        return None
    return path
