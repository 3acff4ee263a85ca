"""The text the assistant reads of a shared ``text`` or ``pdf`` file.

:func:`extract_text` is pure and blocking. The room server calls
:func:`extract_text_isolated` instead when a file shared with the assistant has arrived, and
stores the result in the :class:`~core.shared_files.SharedFile`. The failures of both are
:class:`FileTextError`, whose ``str()`` says why in words for everyone in the room ("the PDF
is encrypted").

Reading a PDF is pure Python (pypdf), and a hostile file can keep it busy for many seconds
or make it take hundreds of megabytes. So :func:`extract_text_isolated` reads a PDF in a
child process (:func:`worker_main`): it never competes with the host's event loop for the
GIL, it is killed at its deadline, and where the system has POSIX ``resource`` it runs under
limits of memory (:data:`WORKER_MEMORY_LIMIT`) and CPU time. From source the worker is
``python -m core.ai.file_text``; the frozen app runs itself with the hidden first word
:data:`WORKER_WORD` (see :mod:`desktop.launcher`). The worker reads the file on stdin and
writes one JSON object on stdout, ``{"text": ...}`` or ``{"problem": ...}``. Its environment
leaves out every variable whose name looks like a secret (such as an API key), since it is
the process that handles hostile input.

PDFs come from guests and are hostile until proven otherwise. pypdf reads them with
``strict=False`` under its own limits on decompression and object sizes (tighter here than
pypdf's defaults); on top of that this module reads at most :data:`MAX_PDF_PAGES` pages,
stops once ``max_chars`` characters are had, begins no page after :data:`PDF_TIME_LIMIT`
seconds (or the ``time_limit`` given), and turns whatever pypdf raises on a malformed file
(its own errors, and the ``ValueError``, ``KeyError``, ``RecursionError`` and the like that
its parsers let out) into :class:`FileTextError`.

A text that had to be cut ends with a note in the form ``[... cut: <what> left out]``
(:func:`was_cut` recognises it), so that the model and the people reading the notices know
that they have only part of the file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import logging
import math
import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from core.filetypes import FileKind

__all__ = [
    "MAX_PDF_PAGES",
    "PDF_TIME_LIMIT",
    "WORKER_MEMORY_LIMIT",
    "WORKER_WORD",
    "FileTextError",
    "cut_note",
    "extract_text",
    "extract_text_isolated",
    "was_cut",
    "worker_command",
    "worker_main",
]

log = logging.getLogger("gptgroup.ai.file_text")

# pypdf logs a warning for every oddity of a malformed file it works around ("EOF marker not
# found"); on a guest's file those are expected, not something for the host's log.
logging.getLogger("pypdf").setLevel(logging.ERROR)

MAX_PDF_PAGES = 500
"""Pages read of a PDF at most; the rest are left out (and the text says so)."""
PDF_TIME_LIMIT = 15.0
"""Seconds of reading after which the remaining pages are left out (checked between pages)."""

WORKER_WORD = "extract-text"
"""The hidden first word that makes the frozen app a PDF worker (:func:`worker_main`)."""
WORKER_MEMORY_LIMIT = 1 << 30
"""Bytes of address space a PDF worker may have: a hostile PDF ends there, not in swap."""

# pypdf's limits (its Configuration) where they are looser than reading text needs. Text
# extraction decodes content streams, not images, and real content streams are a few MB.
_PYPDF_LIMITS = {
    "zlib_maximum_output_length": 20_000_000,
    "lzw_maximum_output_length": 20_000_000,
    "run_length_maximum_output_length": 20_000_000,
    "brotli_maximum_output_length": 20_000_000,
    "array_based_stream_maximum_output_length": 20_000_000,
    "stream_decoding_work_maximum_length": 60_000_000,
    # pypdf retries a damaged stream byte by byte, in Python: a second's worth at most.
    "zlib_maximum_recovery_input_length": 500_000,
}

# Environment variables the worker does not get (it handles hostile input): their names.
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASS|CREDENTIAL|AUTH", re.IGNORECASE)
# Where ``python -m core.ai.file_text`` finds this same ``core`` package (from source).
_SOURCE_ROOT = Path(__file__).resolve().parents[2]

_CUT_NOTE = re.compile(r"\n\n\[\.\.\. cut: [^\n\]]+ left out\]\Z")


class FileTextError(Exception):
    """No text could be had from a file; ``str()`` says why, for everyone in the room."""


def cut_note(what: str) -> str:
    """The note that ends a text cut short: ``what`` was left out (e.g. "1,234 characters")."""
    return f"\n\n[... cut: {what} left out]"


def was_cut(text: str) -> bool:
    """Whether ``text`` ends with the note of :func:`cut_note`."""
    return _CUT_NOTE.search(text) is not None


def extract_text(
    data: bytes, kind: FileKind, *, max_chars: int, time_limit: float = PDF_TIME_LIMIT
) -> str:
    """The text of a ``text`` file (UTF-8, a BOM allowed, undecodable bytes replaced) or of a
    ``pdf`` (its text layer, page by page), at most ``max_chars`` characters plus the note of
    :func:`cut_note` when it had to be cut. Pages not begun within ``time_limit`` seconds are
    left out.

    Raises :class:`FileTextError` for an encrypted, malformed or text-less PDF, and for a kind
    that has no text (``image``, ``program``, ``other``). Blocking, and on a PDF it can take
    far longer than ``time_limit`` (one page of a hostile file can take seconds) and hundreds
    of megabytes: on a host, read PDFs with :func:`extract_text_isolated`.
    """
    if max_chars < 1:
        raise ValueError("max_chars must be at least 1")
    if kind == "text":
        text = data.decode("utf-8-sig", errors="replace")
        if len(text) > max_chars:
            left_out = len(text) - max_chars
            return text[:max_chars] + cut_note(f"{left_out:,} characters")
        return text
    if kind == "pdf":
        return _pdf_text(data, max_chars, time_limit)
    raise FileTextError(f"a file of kind {kind} has no text to read")


def _pdf_text(data: bytes, max_chars: int, time_limit: float) -> str:
    try:
        return _read_pdf(data, max_chars, time_limit)
    except FileTextError:
        raise
    except Exception as exc:
        # A hostile or broken file can make pypdf's parsers raise nearly anything (its own
        # errors, ValueError, KeyError, IndexError, RecursionError, zlib.error...): all of it
        # means the same thing to the room.
        log.info("a PDF could not be read: %s", type(exc).__name__)
        raise FileTextError("the PDF could not be read") from None


def _read_pdf(data: bytes, max_chars: int, time_limit: float) -> str:
    # Loaded on first use: it takes longer to import than the rest of the room together.
    import pypdf  # noqa: PLC0415

    # Only the limits this pypdf has (each release adds some).
    known = pypdf.Configuration.__dataclass_fields__
    limits = {name: value for name, value in _PYPDF_LIMITS.items() if name in known}
    with pypdf.apply_configuration(pypdf.get_configuration().with_overwrites(**limits)):
        return _read_pdf_pages(data, max_chars, time_limit)


def _read_pdf_pages(data: bytes, max_chars: int, time_limit: float) -> str:
    import pypdf  # noqa: PLC0415  (imported by _read_pdf already)

    reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
    # Many PDFs are encrypted with an empty password only to restrict printing or copying;
    # anyone can open those, so their text is as readable as any other's.
    if reader.is_encrypted and reader.decrypt("") == pypdf.PasswordType.NOT_DECRYPTED:
        raise FileTextError("the PDF is encrypted")
    pages = reader.pages
    total = len(pages)
    deadline = time.monotonic() + time_limit
    texts: list[str] = []
    had = 0
    read = 0
    for index in range(min(total, MAX_PDF_PAGES)):
        if had >= max_chars or time.monotonic() > deadline:
            break
        page_text = (pages[index].extract_text() or "").strip()
        read += 1
        if page_text:
            texts.append(page_text)
            had += len(page_text) + 2
    text = "\n\n".join(texts)
    if not text.strip():
        if read < total:
            raise FileTextError(f"the PDF has no text in its first {read} pages")
        raise FileTextError("the PDF has no text (only scans or images)")
    unread = _pages(read + 1, total)
    if len(text) > max_chars:
        # Only the page read last is cut; the pages after it were never read.
        left = f"the rest of page {read}" + (f" and {unread}" if unread else "")
        return text[:max_chars] + cut_note(left)
    if unread:
        return text + cut_note(unread)
    return text


def _pages(first: int, last: int) -> str:
    """ "pages 4 to 9", "page 9", or "" when there are none."""
    if first > last:
        return ""
    return f"page {last}" if first == last else f"pages {first} to {last}"


# ----------------------------------------------------------------- in a child process


async def extract_text_isolated(
    data: bytes,
    kind: FileKind,
    *,
    max_chars: int,
    timeout: float = 20.0,  # noqa: ASYNC109  (the worker needs it: see the docstring)
) -> str:
    """What :func:`extract_text` gives, without holding up the event loop: a ``text`` file is
    decoded here (quick), a ``pdf`` is read by a worker process (see the module's docstring),
    which is killed once ``timeout`` seconds have passed. A slow PDF gives the text of the
    pages read in the first three quarters of ``timeout`` (at most :data:`PDF_TIME_LIMIT`):
    the worker is told ``timeout`` for that and for its CPU limit, which is why this is a
    parameter rather than the caller's ``asyncio.timeout``.

    Raises :class:`FileTextError` as :func:`extract_text` does, and also: "reading the PDF
    took too long" at the timeout; "the PDF could not be read" when the worker ended without
    an answer (over its memory or CPU limit, killed); "the PDF reader could not be started"
    (logged: the system refused the process). Cancelling the call kills the worker. The caller
    decides how many run at once: each takes a process and up to a CPU core.
    """
    if max_chars < 1:
        raise ValueError("max_chars must be at least 1")
    if kind != "pdf":
        return extract_text(data, kind, max_chars=max_chars)
    command = [*worker_command(), "--max-chars", str(max_chars), "--seconds", repr(timeout)]
    flags = 0
    if sys.platform == "win32":  # python.exe would flash a console window
        flags = subprocess.CREATE_NO_WINDOW
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=None if getattr(sys, "frozen", False) else _SOURCE_ROOT,
            env=_worker_environment(os.environ),
            creationflags=flags,
        )
    except (OSError, NotImplementedError):  # NotImplementedError: a loop without processes
        log.exception("the PDF reader could not be started")
        raise FileTextError("the PDF reader could not be started") from None
    try:
        async with asyncio.timeout(timeout):
            out, err = await process.communicate(data)
    except TimeoutError:
        raise FileTextError("reading the PDF took too long") from None
    finally:
        if process.returncode is None:  # timed out or cancelled: it must not read on
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    return _worker_answer(out, err, process.returncode)


def worker_command() -> list[str]:
    """The command that starts a PDF worker: this module run by the same Python from source,
    or the frozen app itself with :data:`WORKER_WORD` (it has no ``-m``)."""
    if getattr(sys, "frozen", False):
        return [sys.executable, WORKER_WORD]
    return [sys.executable, "-m", "core.ai.file_text"]


def worker_main(argv: Sequence[str] | None = None) -> int:
    """Be a PDF worker: limit this process, read a PDF on stdin, write its text (or why there
    is none) on stdout as one JSON object, and return the exit status (0; 2 for wrong
    arguments). ``argv`` is ``--max-chars N [--seconds S]`` (``sys.argv[1:]`` when None);
    ``S`` is the caller's timeout, which sets the CPU limit and the time for pages.
    """
    parser = argparse.ArgumentParser(
        prog=f"gptgroup {WORKER_WORD}",
        description="Read the text of a PDF on stdin; write it as JSON on stdout.",
    )
    parser.add_argument("--max-chars", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=20.0)
    options = parser.parse_args(argv)
    if options.max_chars < 1 or not 0 < options.seconds < math.inf:
        parser.error("--max-chars and --seconds must be positive numbers")
    _limit_resources(options.seconds)
    # The descriptors, not sys.stdin and sys.stdout: a frozen windowed app may have no
    # sys.stdout even when it was given pipes.
    with open(0, "rb", closefd=False) as source:
        data = source.read()
    time_limit = min(PDF_TIME_LIMIT, 0.75 * options.seconds)
    answer: dict[str, str]
    try:
        answer = {
            "text": extract_text(data, "pdf", max_chars=options.max_chars, time_limit=time_limit)
        }
    except FileTextError as exc:
        answer = {"problem": str(exc)}
    with open(1, "wb", closefd=False) as out:
        out.write(json.dumps(answer).encode("ascii") + b"\n")
    return 0


def _limit_resources(seconds: float) -> None:
    """Limit this process (a worker) to :data:`WORKER_MEMORY_LIMIT` bytes of address space,
    about ``seconds`` of CPU time, no core dumps, and a low priority; where the system has
    these (POSIX), and never above limits already set."""
    if hasattr(os, "nice"):
        with contextlib.suppress(OSError):
            os.nice(10)  # the host's event loop and the people's own apps come first
    try:
        import resource  # noqa: PLC0415  (POSIX only)
    except ImportError:
        return
    cpu = math.ceil(seconds) + 1
    # (soft, hard): past the soft CPU limit SIGXCPU ends the process, past the hard SIGKILL.
    wanted = {
        resource.RLIMIT_AS: (WORKER_MEMORY_LIMIT, WORKER_MEMORY_LIMIT),
        resource.RLIMIT_CPU: (cpu, cpu + 1),
        resource.RLIMIT_CORE: (0, 0),
    }
    for which, (soft, hard) in wanted.items():
        _, ceiling = resource.getrlimit(which)
        if ceiling != resource.RLIM_INFINITY:
            soft, hard = min(soft, ceiling), min(hard, ceiling)  # noqa: PLW2901
        with contextlib.suppress(ValueError, OSError):  # a system that refuses: no limit
            resource.setrlimit(which, (soft, hard))


def _worker_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` without the variables whose names look like secrets (API keys, tokens)."""
    return {name: value for name, value in environ.items() if not _SECRET_NAME.search(name)}


def _worker_answer(out: bytes, err: bytes, status: int | None) -> str:
    """The text in a worker's answer, or its :class:`FileTextError`."""
    answer: object = None
    if status == 0:
        with contextlib.suppress(ValueError):
            answer = json.loads(out)
    if isinstance(answer, dict):
        if isinstance(text := answer.get("text"), str):
            return text
        if isinstance(problem := answer.get("problem"), str):
            raise FileTextError(problem)
    # What the worker said last (a Python error's name, say) names the cause; no file content.
    last = err.decode("utf-8", "replace").strip().rpartition("\n")[2][:200]
    log.info("the PDF reader ended without an answer (exit status %s): %s", status, last or "-")
    raise FileTextError("the PDF could not be read")


if __name__ == "__main__":
    sys.exit(worker_main())
