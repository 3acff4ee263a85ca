"""The text the assistant reads of a shared ``text`` or ``pdf`` file.

:func:`extract_text` is pure and blocking: the room server runs it in a worker thread
(``asyncio.to_thread``, with a timeout) when a file shared with the assistant has arrived,
and stores the result in the :class:`~core.shared_files.SharedFile`. Its failures are
:class:`FileTextError`, whose ``str()`` says why in words for everyone in the room ("the PDF
is encrypted").

PDFs come from guests and are hostile until proven otherwise. pypdf reads them with
``strict=False`` under its own limits on decompression and object sizes; on top of that this
module reads at most :data:`MAX_PDF_PAGES` pages, stops once ``max_chars`` characters are
had, stops reading after :data:`PDF_TIME_LIMIT` seconds, and turns whatever pypdf raises on a
malformed file (its own errors, and the ``ValueError``, ``KeyError``, ``RecursionError`` and
the like that its parsers let out) into :class:`FileTextError`.

A text that had to be cut ends with a note in the form ``[... cut: <what> left out]``
(:func:`was_cut` recognises it), so that the model and the people reading the notices know
that they have only part of the file.
"""

from __future__ import annotations

import io
import logging
import re
import time

from core.filetypes import FileKind

__all__ = [
    "MAX_PDF_PAGES",
    "PDF_TIME_LIMIT",
    "FileTextError",
    "cut_note",
    "extract_text",
    "was_cut",
]

log = logging.getLogger("gptgroup.ai.file_text")

# pypdf logs a warning for every oddity of a malformed file it works around ("EOF marker not
# found"); on a guest's file those are expected, not something for the host's log.
logging.getLogger("pypdf").setLevel(logging.ERROR)

MAX_PDF_PAGES = 500
"""Pages read of a PDF at most; the rest are left out (and the text says so)."""
PDF_TIME_LIMIT = 15.0
"""Seconds of reading after which the remaining pages are left out (checked between pages)."""

_CUT_NOTE = re.compile(r"\n\n\[\.\.\. cut: [^\n\]]+ left out\]\Z")


class FileTextError(Exception):
    """No text could be had from a file; ``str()`` says why, for everyone in the room."""


def cut_note(what: str) -> str:
    """The note that ends a text cut short: ``what`` was left out (e.g. "1,234 characters")."""
    return f"\n\n[... cut: {what} left out]"


def was_cut(text: str) -> bool:
    """Whether ``text`` ends with the note of :func:`cut_note`."""
    return _CUT_NOTE.search(text) is not None


def extract_text(data: bytes, kind: FileKind, *, max_chars: int) -> str:
    """The text of a ``text`` file (UTF-8, a BOM allowed, undecodable bytes replaced) or of a
    ``pdf`` (its text layer, page by page), at most ``max_chars`` characters plus the note of
    :func:`cut_note` when it had to be cut.

    Raises :class:`FileTextError` for an encrypted, malformed or text-less PDF, and for a kind
    that has no text (``image``, ``program``, ``other``). Blocking; may take seconds on a large
    PDF (at most about :data:`PDF_TIME_LIMIT`), so call it off the event loop.
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
        return _pdf_text(data, max_chars)
    raise FileTextError(f"a file of kind {kind} has no text to read")


def _pdf_text(data: bytes, max_chars: int) -> str:
    try:
        return _read_pdf(data, max_chars)
    except FileTextError:
        raise
    except Exception as exc:
        # A hostile or broken file can make pypdf's parsers raise nearly anything (its own
        # errors, ValueError, KeyError, IndexError, RecursionError, zlib.error...): all of it
        # means the same thing to the room.
        log.info("a PDF could not be read: %s", type(exc).__name__)
        raise FileTextError("the PDF could not be read") from None


def _read_pdf(data: bytes, max_chars: int) -> str:
    # Loaded on first use: it takes longer to import than the rest of the room together.
    import pypdf  # noqa: PLC0415

    reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
    # Many PDFs are encrypted with an empty password only to restrict printing or copying;
    # anyone can open those, so their text is as readable as any other's.
    if reader.is_encrypted and reader.decrypt("") == pypdf.PasswordType.NOT_DECRYPTED:
        raise FileTextError("the PDF is encrypted")
    pages = reader.pages
    total = len(pages)
    deadline = time.monotonic() + PDF_TIME_LIMIT
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
