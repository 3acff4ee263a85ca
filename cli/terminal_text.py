"""Text from the network made safe to print on a terminal.

A terminal obeys what it is sent: an escape sequence in a display name could write the
clipboard (OSC 52), set the window title, clear the screen or rewrite an earlier line, and a
right-to-left override in a message (U+202E) could make ``00.001$`` read ``$100.00``. Every
line the terminal client prints that holds text it did not write itself goes through
:func:`terminal_safe`, which makes each such character visible instead of letting it act:

- C0 controls become their Unicode control pictures (ESC becomes ``␛``, CR ``␍``), DEL
  becomes ``␡``; newline and tab are kept only where asked (message bodies).
- C1 controls (U+0080-U+009F, among them NEL U+0085 and the one-character CSI U+009B), the
  bidirectional controls, the line and paragraph separators and lone surrogates become
  ``<U+XXXX>``.

Making every direction control visible is what isolates a message: with none left to act,
text cannot reorder what surrounds it (and no isolate marks of our own are needed, which
terminals without bidi support would show as boxes).
"""

from __future__ import annotations

import json
import logging
import traceback

__all__ = [
    "TerminalSafeFormatter",
    "indented_body",
    "one_line_start",
    "safe_traceback",
    "terminal_json",
    "terminal_safe",
]

# Marks that change the direction of the text around them (Unicode's Bidi_Control property).
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_SEPARATORS = "\u2028\u2029"  # some programs break lines on them; a name must stay one line
_KEPT_IN_BODIES = "\n\t"


def _is_unsafe(code: int) -> bool:
    char = chr(code)
    return (
        code < 0x20
        or 0x7F <= code <= 0x9F
        or 0xD800 <= code <= 0xDFFF
        or char in BIDI_CONTROLS
        or char in _SEPARATORS
    )


def _shown(code: int) -> str:
    if code < 0x20:
        return chr(0x2400 + code)  # the control pictures block: ␀ ... ␟
    if code == 0x7F:
        return "\u2421"  # ␡
    return f"<U+{code:04X}>"


_UNSAFE = [code for code in range(0xE000) if _is_unsafe(code)]  # all unsafe ones are below
_ONE_LINE = {code: _shown(code) for code in _UNSAFE}
_LINES = {code: shown for code, shown in _ONE_LINE.items() if chr(code) not in _KEPT_IN_BODIES}
_IN_JSON = {code: f"\\u{code:04x}" for code in _UNSAFE if code >= 0x20}


def terminal_safe(text: str, *, keep_lines: bool = False) -> str:
    """``text`` with every character that could drive a terminal or reorder text made visible.

    Newline and tab are made visible too unless ``keep_lines`` (for message bodies, whose
    lines the caller indents). Idempotent: what it produces passes through unchanged.
    """
    return text.translate(_LINES if keep_lines else _ONE_LINE)


def indented_body(text: str, column: int) -> str:
    """A message body made safe, its own line breaks kept and each further line indented by
    ``column`` spaces, so that it lines up under the first one (printed after ``column``
    characters of the caller's own)."""
    return terminal_safe(text, keep_lines=True).replace("\n", "\n" + " " * column)


def one_line_start(text: str, limit: int) -> str:
    """The start of ``text`` on one line, made safe: every run of whitespace (line breaks
    too) becomes one space, and a text longer than ``limit`` characters is cut (between
    words, unless that loses more than half) to end in "…". For quotes and previous
    versions, which only remind of a text shown before."""
    flat = " ".join(text.split())
    if len(flat) > limit:
        cut = flat[: max(0, limit - 1)]
        space = cut.rfind(" ")
        if flat[len(cut)] != " " and space > limit // 2:
            cut = cut[:space]
        flat = cut.rstrip() + "…"
    return terminal_safe(flat)


def terminal_json(value: object) -> str:
    """``value`` as one line of JSON that is also safe to print.

    ``json.dumps`` escapes only C0 controls; DEL, C1 controls, direction controls, the line
    separators and lone surrogates would reach the terminal as they are, so they are written
    as ``\\uXXXX`` escapes too. A JSON reader gets back exactly the same value.
    """
    return json.dumps(value, ensure_ascii=False).translate(_IN_JSON)


def safe_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` as text safe to print (exception messages can quote the
    network)."""
    return terminal_safe("".join(traceback.format_exception(exc)), keep_lines=True)


class TerminalSafeFormatter(logging.Formatter):
    """A log formatter whose output, tracebacks included, is safe to print on a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        return terminal_safe(super().format(record), keep_lines=True)
