"""Rules for the text people type: display names and chat messages.

Pure functions, no I/O. Each raises :class:`TextRejected` (with an :class:`ErrorCode`) for
input the room refuses, and returns the normalised form otherwise.
"""

from __future__ import annotations

import re
import unicodedata

from core.protocol import ErrorCode

__all__ = [
    "TextRejected",
    "clean_label",
    "clean_message_text",
    "name_key",
    "normalize_display_name",
    "strip_controls",
]

# Invisible characters a name could hide in, on top of categories Cc/Cf/Co/Cs/Cn/Zl/Zp.
_INVISIBLE_EXTRA = frozenset("\u115f\u1160\u3164\uffa0\u2800")
_ZWJ = "\u200d"
_WHITESPACE_RUN = re.compile(r"\s+")
_ALLOWED_CONTROLS_IN_TEXT = frozenset("\n\t")


class TextRejected(ValueError):
    """Text the room refuses; ``code`` says why, ``str()`` says it to a person."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def _is_emoji_like(ch: str) -> bool:
    return unicodedata.category(ch) == "So" or 0x1F000 <= ord(ch) <= 0x1FAFF


def normalize_display_name(raw: str, max_chars: int = 32) -> str:
    """Return the display name to use for ``raw``, or raise :class:`TextRejected`.

    Trims the ends, collapses inner whitespace to single spaces, applies NFC, and refuses
    control and invisible formatting characters, except a zero-width joiner inside an emoji
    sequence. Between 1 and ``max_chars`` visible characters (combining marks and emoji
    joiners do not count) are allowed.
    """
    name = unicodedata.normalize("NFC", _WHITESPACE_RUN.sub(" ", raw).strip())
    visible = 0
    for i, ch in enumerate(name):
        category = unicodedata.category(ch)
        if ch == _ZWJ:
            inside_emoji = 0 < i < len(name) - 1 and _is_emoji_like(name[i - 1])
            if not inside_emoji:
                raise TextRejected(
                    ErrorCode.INVALID_NAME, "names cannot contain invisible characters"
                )
            continue
        if category in ("Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp") or ch in _INVISIBLE_EXTRA:
            raise TextRejected(
                ErrorCode.INVALID_NAME, "names cannot contain control or invisible characters"
            )
        if category in ("Mn", "Me", "Mc") or 0xFE00 <= ord(ch) <= 0xFE0F:
            continue
        visible += 1
    if visible == 0:
        raise TextRejected(ErrorCode.INVALID_NAME, "a name needs at least one visible character")
    if visible > max_chars:
        raise TextRejected(ErrorCode.INVALID_NAME, f"names are at most {max_chars} characters")
    return name


def name_key(name: str) -> str:
    """The form two names are compared in: look-alike forms and letter case fold together."""
    return unicodedata.normalize("NFKC", name).casefold()


def clean_message_text(text: str, max_chars: int) -> str:
    """Return ``text`` as the room will post it, or raise :class:`TextRejected`.

    Line ends become ``\\n``. Control characters other than newline and tab are refused, so a
    message cannot drive another participant's terminal. Text that is only whitespace is
    refused, as is text over ``max_chars`` characters.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if len(text) > max_chars:
        raise TextRejected(ErrorCode.TEXT_TOO_LONG, f"messages are at most {max_chars} characters")
    for ch in text:
        if ch in _ALLOWED_CONTROLS_IN_TEXT:
            continue
        if unicodedata.category(ch) in ("Cc", "Cs"):
            raise TextRejected(ErrorCode.BAD_MESSAGE, "messages cannot contain control characters")
    if not text.strip():
        raise TextRejected(ErrorCode.EMPTY_TEXT, "a message cannot be empty")
    return text


def clean_label(text: str, max_chars: int) -> str:
    """A short label from untrusted text (a name read off the network), made safe to show.

    Never raises: control and invisible formatting characters (direction overrides, zero-width
    spaces) are dropped, whitespace runs become one space, and the result is NFC and at most
    ``max_chars`` characters. May return an empty string.
    """
    kept = [
        ch
        for ch in unicodedata.normalize("NFC", text)
        if unicodedata.category(ch) not in ("Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp")
        and ch not in _INVISIBLE_EXTRA
    ]
    return _WHITESPACE_RUN.sub(" ", "".join(kept)).strip()[:max_chars].strip()


def strip_controls(text: str) -> str:
    """``text`` without control characters other than newline and tab (for text the room
    relays but did not receive from a person, such as the assistant's answers)."""
    return "".join(
        ch for ch in text if ch in _ALLOWED_CONTROLS_IN_TEXT or unicodedata.category(ch) != "Cc"
    )
