"""The words people read that every front end shares. No I/O.

The terminal client, the desktop app and the transcript tell people the same things: how an
answer ended, why someone left, that the room closed. They take those words from here, so
that the front ends cannot drift apart. The app also words why the room is over for us and
why a join was refused from here; the terminal prints the room's own message for those.
Each table is keyed by the protocol's code for the thing (see ``docs/protocol.md``); a code
this version does not know reads through its function's fallback, never as an error.

Front ends still decorate the words (a terminal prefixes ``*``, the app adds a sentence about
what stays on screen); what something *is called* lives here.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "ANSWER_STATUS_WORDS",
    "ENDED_WORDS",
    "JOIN_REFUSALS",
    "LEFT_WORDS",
    "ROOM_CLOSED_WORDS",
    "answer_status_words",
    "ended_words",
    "file_type_words",
    "left_words",
    "room_closed_words",
    "size_words",
    "sizes_apart",
]

LEFT_WORDS: Final = {
    "left": "left",
    "kicked": "was removed by the host",
    "banned": "was banned by the host",
    "timed_out": "lost connection",
}
"""How a departure reads after the name, by ``participant_left`` reason."""

ANSWER_STATUS_WORDS: Final = {
    "streaming": "writing…",
    "stopped": "stopped",
    "interrupted": "cut off",
    "failed": "no answer",
}
"""How an answer that is not simply complete is marked, by its ``status``."""

ROOM_CLOSED_WORDS: Final = {
    "closed_by_host": "The host closed the room.",
    "host_shutdown": "The host shut down the room.",
}
"""The line a ``room_closed`` event becomes, by its ``reason``."""

ENDED_WORDS: Final = {
    **ROOM_CLOSED_WORDS,
    "kicked": "The host removed you from the room.",
    "banned": "The host banned you from this room.",
    "unreachable": "The room cannot be reached any more.",
    "replaced": "Your place in this room was taken over by another connection.",
    "restarted": "The host restarted the room; this conversation has ended.",
    "certificate_changed": (
        "The room's security certificate changed: the host restarted it as a new room, or "
        "someone is impersonating it. You were not rejoined."
    ),
    "left": "You left the room.",
}
"""Why the room is over for us, by :class:`core.client.Ended` ``reason``."""

JOIN_REFUSALS: Final = {
    "auth_failed": "Wrong room code, or this is not the room you think.",
    "room_full": "The room is full.",
    "room_locked": "The host has locked the room to new people.",
    "banned": "You cannot join this room: the host banned this computer.",
    "room_closed": "This room has closed.",
    "too_many_attempts": "Too many wrong room codes. Wait a minute, then try again.",
}
"""Why joining did not work, by the ``error`` code the room refused us with."""


def left_words(reason: str) -> str:
    """The words after a name for a departure; an unknown reason reads as "left"."""
    return LEFT_WORDS.get(reason, "left")


def answer_status_words(status: str) -> str:
    """The mark of an answer's ``status``; an unknown status reads as itself."""
    return ANSWER_STATUS_WORDS.get(status, status)


def room_closed_words(reason: str) -> str:
    """The line for a ``room_closed`` event; an unknown reason reads as a shutdown."""
    return ROOM_CLOSED_WORDS.get(reason, ROOM_CLOSED_WORDS["host_shutdown"])


def ended_words(reason: str) -> str | None:
    """Why the room is over for us, or None when the reason has no words of its own (say
    the room's own message instead)."""
    return ENDED_WORDS.get(reason)


def size_words(size: int) -> str:
    """A size for people, in the units the host sets the room's file limits in (1 MB is
    1,000,000 bytes): "1 byte", "512 bytes", "79 KB", "4.2 MB", "10 MB", "250 MB"."""
    if size == 1:
        return "1 byte"
    if size < 1000:
        return f"{size} bytes"
    if size < 1000 * 1000:
        return f"{size / 1000:.0f} KB"
    megabytes = size / (1000 * 1000)
    shown = f"{megabytes:.1f}".removesuffix(".0") if megabytes < 100 else f"{megabytes:,.0f}"
    return f"{shown} MB"


def sizes_apart(size: int, limit: int) -> tuple[str, str]:
    """``size`` and ``limit`` in words that tell them apart: exact byte counts when rounding
    would make them read the same ("1 KB: files up to 1 KB" would read as a mistake)."""
    shown, most = size_words(size), size_words(limit)
    if shown == most:
        return f"{size:,} bytes", f"{limit:,} bytes"
    return shown, most


_FILE_KIND_WORDS: Final = {
    "image": "image",
    "text": "text",
    "pdf": "PDF document",
    "program": "program or script",
    "other": "file",
}
# A media type simple enough to show as it is (the room detected it, but it is network text).
_PLAIN_MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9.+-]{0,30}/[a-z0-9][a-z0-9.+-]{0,40}")


def file_type_words(kind: str, mime: str) -> str:
    """What a shared file is, from its detected ``kind`` and media type ``mime`` (both as the
    room sent them): "PNG image", "PDF document", "text", "program or script", and for
    other files "file (application/zip)" (only a plain media type is shown; "file" for a
    kind this version does not know)."""
    plain = mime if _PLAIN_MEDIA_TYPE.fullmatch(mime) else ""
    if kind == "image" and plain.startswith("image/"):
        return f"{plain.removeprefix('image/').upper()} image"
    words = _FILE_KIND_WORDS.get(kind, "file")
    if (kind in _FILE_KIND_WORDS and kind != "other") or not plain:
        return words
    return f"{words} ({plain})"  # what kind of "file": the media type says more
