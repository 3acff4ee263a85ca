"""Text from the network, made safe to put on screen. Plain functions, no Qt.

Everything a room, its host or an announcement on the LAN sends is hostile. A name may be
``<img src=/dev/zero>`` (which a rich-text label would try to load, forever), 10,000
characters long from an old or hostile client, or carry a right-to-left override that makes
``00.001$`` read as ``$100.00`` and reorders whatever is drawn after it. Widgets use these
functions on every such piece of text:

* :func:`fenced` for a piece set among our own words on one line ("NAME is typing…"): line
  breaks and control characters become spaces, the length is bounded, and the direction is
  isolated, so nothing in it can reorder the words around it.
* :func:`close_bidi` ends every embedding, override and isolate a piece opened, where a piece
  cannot be wrapped (a line of a rendered message).
* :func:`tooltip` for text shown in a tooltip, which Qt would otherwise guess to be rich text.
* :func:`breakable` for long unbroken runs in wrapped text, which would otherwise widen a
  window past the screen.

Showing text as plain text is the widgets' part: see :mod:`desktop.labels`.
"""

from __future__ import annotations

import html
import re
import unicodedata

__all__ = [
    "FIELD_CHARS",
    "FSI",
    "NAME_CHARS",
    "PDI",
    "TEXT_CHARS",
    "bidi_controls",
    "breakable",
    "close_bidi",
    "fenced",
    "isolate",
    "one_line",
    "shorten",
    "tooltip",
]

FSI = "\u2068"  # FIRST STRONG ISOLATE
PDI = "\u2069"  # POP DIRECTIONAL ISOLATE
_ISOLATE_OPENERS = frozenset("\u2066\u2067\u2068")  # LRI, RLI, FSI
_EMBEDDING_OPENERS = frozenset("\u202a\u202b\u202d\u202e")  # LRE, RLE, LRO, RLO
_PDF = "\u202c"  # POP DIRECTIONAL FORMATTING
_BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")

NAME_CHARS = 48
"""Names are at most 32 visible characters in a current room, plus a suffix like " (12)" and
combining marks; anything longer came from an old or hostile client and is cut."""
FIELD_CHARS = 64
"""Provider and model names: the longest real ones are about 50 characters."""
TEXT_CHARS = 300
"""Errors, refusals and other sentences from the room: more is never needed in a banner or a
dialog, and is cut."""
TOOLTIP_CHARS = 500

_LINE_BREAKS_AND_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_LONG_RUN = re.compile(r"\S{30,}")
_ZERO_WIDTH_SPACE = "\u200b"
_JOINERS = frozenset("\u200c\u200d")


def one_line(text: str) -> str:
    """``text`` with line breaks, tabs and other control characters turned into spaces.

    A line break inside a name would split a one-line label, and a paragraph break would end
    the isolation :func:`isolate` gives it.
    """
    return _LINE_BREAKS_AND_CONTROLS.sub(" ", text)


def shorten(text: str, limit: int) -> str:
    """``text`` if it has at most ``limit`` characters, else its start and "…" (``limit`` in
    all). The cut never leaves an accent or a joiner without what it belongs to."""
    if len(text) <= limit:
        return text
    cut = max(0, limit - 1)
    while cut > 0 and (_continues(text[cut]) or text[cut - 1] in _JOINERS):
        cut -= 1
    return close_bidi(text[:cut]) + "…"


def _continues(ch: str) -> bool:
    """Whether ``ch`` belongs to the character before it (a mark, a joiner, a variant)."""
    return (
        unicodedata.category(ch).startswith("M")
        or ch in _JOINERS
        or "\ufe00" <= ch <= "\ufe0f"
        or "\U000e0100" <= ch <= "\U000e01ef"
    )


def close_bidi(text: str, *, drop_stray: bool = False) -> str:
    """``text`` followed by the controls that end every embedding, override and isolate it
    opened and left open, so its direction cannot spill into what follows.

    With ``drop_stray``, a POP DIRECTIONAL ISOLATE that closes nothing opened inside ``text``
    is dropped: inside :func:`isolate` it would close the isolate early.
    """
    if not _BIDI_CONTROLS.search(text):
        return text
    stack: list[str] = []  # "I" for an isolate, "E" for an embedding or override
    kept: list[str] = []
    for ch in text:
        if ch in _ISOLATE_OPENERS:
            stack.append("I")
        elif ch in _EMBEDDING_OPENERS:
            stack.append("E")
        elif ch == _PDF:
            if stack and stack[-1] == "E":  # a PDF never closes an isolate (UAX #9, X7)
                stack.pop()
        elif ch == PDI:
            if "I" not in stack:
                if drop_stray:
                    continue
            else:  # closes the innermost isolate and everything opened inside it (X6a)
                while stack.pop() != "I":
                    pass
        kept.append(ch)
    closers = "".join(PDI if kind == "I" else _PDF for kind in reversed(stack))
    return "".join(kept) + closers


def isolate(text: str) -> str:
    """``text`` between FIRST STRONG ISOLATE and POP DIRECTIONAL ISOLATE: it takes the
    direction of its first strong character and cannot reorder the text around it, whatever
    direction controls it holds (they are closed before the isolate ends)."""
    return FSI + close_bidi(text, drop_stray=True) + PDI


def fenced(text: str, limit: int = NAME_CHARS) -> str:
    """A piece of network text ready to sit among our own words: on one line, at most
    ``limit`` characters (cut with "…"), direction isolated."""
    return isolate(shorten(one_line(text), limit))


def bidi_controls(text: str) -> bool:
    """Whether ``text`` holds a character that changes the direction of other text."""
    return bool(_BIDI_CONTROLS.search(text))


def breakable(text: str) -> str:
    """``text`` with a zero-width space after every 30 characters of a run without spaces, so
    word wrap can break a long name or address instead of widening its window."""

    def split(match: re.Match[str]) -> str:
        run = match.group()
        return _ZERO_WIDTH_SPACE.join(run[i : i + 30] for i in range(0, len(run), 30))

    return _LONG_RUN.sub(split, text)


def tooltip(text: str) -> str:
    """Rich text that shows ``text`` literally in a tooltip.

    Qt shows a tooltip as rich text whenever it looks like markup (``Qt::mightBeRichText``),
    so network text there must be escaped, inside a paragraph so that it is taken as rich
    text and the escapes are read back. Empty text gives no tooltip.
    """
    if not text:
        return ""
    shown = breakable(shorten(one_line(text), TOOLTIP_CHARS))
    return f"<p>{html.escape(close_bidi(shown))}</p>"
