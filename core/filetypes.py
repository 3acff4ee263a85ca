"""What a shared file is, from its contents, and a safe name to show and save it under.

The room decides a file's ``kind`` once, when all of it has arrived, and everyone acts on that
decision: the app shows an ``image`` inline (decoded with limits), the assistant may read
``image``, ``text`` and ``pdf`` files (when their senders allow it), and a ``program`` is never
opened by a click. A file's name says nothing here: ``invoice.pdf`` that starts like an
executable is a ``program``. The kinds acted on are recognised by their own signatures below;
:mod:`puremagic` names the media type of everything else.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

import puremagic

__all__ = [
    "MAX_SHOWN_NAME_CHARS",
    "FileKind",
    "FileType",
    "detect",
    "safe_file_name",
]

FileKind = Literal["image", "text", "pdf", "program", "other"]

MAX_SHOWN_NAME_CHARS = 120
"""The longest file name the room passes on (its extension is kept when it is cut)."""

# Images a client may show inline, by signature: (prefix, media type).
_IMAGES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)
# Programs: executables of the common systems, and scripts (a "#!" line).
_PROGRAMS: tuple[tuple[bytes, str], ...] = (
    (b"\x7fELF", "application/x-executable"),
    (b"MZ", "application/vnd.microsoft.portable-executable"),
    (b"\xfe\xed\xfa\xce", "application/x-mach-binary"),
    (b"\xfe\xed\xfa\xcf", "application/x-mach-binary"),
    (b"\xce\xfa\xed\xfe", "application/x-mach-binary"),
    (b"\xcf\xfa\xed\xfe", "application/x-mach-binary"),
    (b"\xca\xfe\xba\xbe", "application/x-mach-binary"),
    (b"#!", "text/x-script"),
)
# Names that run something when opened on some system, whatever their contents are.
_PROGRAM_EXTENSIONS = frozenset(
    [
        ".app",
        ".apk",
        ".appimage",
        ".bat",
        ".cmd",
        ".com",
        ".cpl",
        ".desktop",
        ".deb",
        ".dmg",
        ".exe",
        ".hta",
        ".jar",
        ".js",
        ".jse",
        ".lnk",
        ".msi",
        ".msp",
        ".pif",
        ".ps1",
        ".psm1",
        ".reg",
        ".rpm",
        ".run",
        ".scr",
        ".sh",
        ".vb",
        ".vbe",
        ".vbs",
        ".ws",
        ".wsf",
        ".command",
        ".py",
        ".pyw",
        ".url",
        ".scf",
        ".msc",
        ".chm",
        ".sct",
        ".wsh",
        ".iso",
        ".img",
        ".vhd",
        ".vhdx",
        ".appref-ms",
        ".settingcontent-ms",
    ]
)
# Texts by extension, for the media type only (the kind comes from the contents).
_TEXT_TYPES = {
    ".md": "text/markdown",
    ".csv": "text/csv",
    ".json": "application/json",
    ".html": "text/html",
    ".htm": "text/html",
    ".xml": "application/xml",
    ".svg": "image/svg+xml",
}
_TEXT_SAMPLE = 64 * 1024  # how much of a file decides whether it is text
_WINDOWS_RESERVED = frozenset(
    [
        "CON",
        "PRN",
        "AUX",
        "NUL",
        "COM1",
        "COM2",
        "COM3",
        "COM4",
        "COM5",
        "COM6",
        "COM7",
        "COM8",
        "COM9",
        "LPT1",
        "LPT2",
        "LPT3",
        "LPT4",
        "LPT5",
        "LPT6",
        "LPT7",
        "LPT8",
        "LPT9",
    ]
)


@dataclass(frozen=True)
class FileType:
    """A file's detected media type (``mime``) and what may be done with it (``kind``)."""

    mime: str
    kind: FileKind


def detect(data: bytes, name: str = "") -> FileType:
    """The type of a file from its bytes. ``name`` (its extension) can only make a file more
    dangerous (a script saved as ``notes.txt`` stays a ``program``; ``x.exe`` holding text is
    a ``program`` too) and choose between text media types; it never makes one an image."""
    extension = PurePosixPath(name.lower()).suffix
    for signature, mime in _PROGRAMS:
        if data.startswith(signature):
            return FileType(mime, "program")
    if extension in _PROGRAM_EXTENSIONS:
        return FileType("application/octet-stream", "program")
    for signature, mime in _IMAGES:
        if data.startswith(signature):
            return FileType(mime, "image")
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return FileType("image/webp", "image")
    if data.startswith(b"%PDF-"):
        return FileType("application/pdf", "pdf")
    if _is_text(data):
        return FileType(_TEXT_TYPES.get(extension, "text/plain"), "text")
    return FileType(_media_type(data), "other")


def _is_text(data: bytes) -> bool:
    """UTF-8 text (a BOM allowed) without NUL bytes or other C0 controls but tab, newline,
    carriage return and form feed: what a person wrote, not a binary format."""
    sample = data[:_TEXT_SAMPLE]
    if b"\0" in sample:
        return False
    try:
        # A cut in the middle of a character at the sample's end is not a reason to refuse.
        text = sample.decode(
            "utf-8-sig", errors="strict" if len(data) <= _TEXT_SAMPLE else "ignore"
        )
    except UnicodeDecodeError:
        return False
    return not any(ord(c) < 32 and c not in "\t\n\r\f" for c in text)


def _media_type(data: bytes) -> str:
    try:
        mime = puremagic.from_string(data[:_TEXT_SAMPLE], mime=True)
    except (puremagic.PureError, ValueError):
        return "application/octet-stream"
    return mime or "application/octet-stream"


def safe_file_name(name: str) -> str:
    """``name`` made safe to show and to save: its last path component only, without control,
    format (bidirectional overrides, zero-width) or unassigned characters, path separators,
    characters Windows forbids, leading dots or spaces and trailing dots or spaces; not a
    name Windows reserves; at most :data:`MAX_SHOWN_NAME_CHARS` characters with its extension
    kept. Never empty: ``"file"`` when nothing is left."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    kept = []
    for char in unicodedata.normalize("NFC", base):
        category = unicodedata.category(char)
        if category[0] == "C" or category in ("Zl", "Zp") or char in '<>:"|?*':
            continue
        kept.append(" " if category == "Zs" else char)
    cleaned = " ".join("".join(kept).split()).strip(". ")
    if not cleaned:
        return "file"
    stem, dot, extension = cleaned.rpartition(".")
    if not dot or not stem or len(extension) > 16:
        stem, extension = cleaned, ""
    if stem.upper().split(".")[0] in _WINDOWS_RESERVED:
        stem = f"_{stem}"
    room = MAX_SHOWN_NAME_CHARS - (len(extension) + 1 if extension else 0)
    if len(stem) > room:
        stem = stem[: room - 1].rstrip(". ") + "…"
    return f"{stem}.{extension}" if extension else stem
