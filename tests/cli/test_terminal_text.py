"""Text from the network made safe to print: every character that could act on a terminal or
reorder the text around it is shown instead, and ordinary text is left alone."""

from __future__ import annotations

import json
import logging
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cli.terminal_text import (
    BIDI_CONTROLS,
    TerminalSafeFormatter,
    safe_traceback,
    terminal_json,
    terminal_safe,
)


def acting(text: str, *, keep_lines: bool = False) -> set[str]:
    """Characters in ``text`` that a terminal would act on (or that reorder text)."""
    allowed = "\n\t" if keep_lines else ""
    return {
        ch
        for ch in text
        if (unicodedata.category(ch) in ("Cc", "Cs") and ch not in allowed)
        or ch in BIDI_CONTROLS
        or ch in "\u2028\u2029"
    }


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b]52;c;cHduZWQ=\x07", "␛]52;c;cHduZWQ=␇"),  # write the clipboard
        ("\x1b]0;title\x07", "␛]0;title␇"),  # set the window title
        ("\x1b[2J\x1b[1A\r", "␛[2J␛[1A␍"),  # clear the screen, overwrite a line
        ("a\x00b\x7fc", "a␀b␡c"),
        ("\x9b31m", "<U+009B>31m"),  # the one-character CSI
        ("next\x85line", "next<U+0085>line"),  # NEL
        ("\u202e00.001$", "<U+202E>00.001$"),  # would read as $100.00
        ("\u2066x\u2069\u200f", "<U+2066>x<U+2069><U+200F>"),
        ("a\u2028b", "a<U+2028>b"),
        ("lone \ud800", "lone <U+D800>"),
    ],
)
def test_what_could_act_is_shown_instead(raw: str, shown: str) -> None:
    assert terminal_safe(raw) == shown
    assert terminal_safe(raw, keep_lines=True) == shown


def test_line_breaks_stay_only_in_message_bodies() -> None:
    assert terminal_safe("one\ntwo\tthree") == "one␊two␉three"  # a name stays on one line
    assert terminal_safe("one\ntwo\tthree", keep_lines=True) == "one\ntwo\tthree"


@pytest.mark.parametrize(
    "text",
    ["Hana", "Café ☕", "👩‍👩‍👧 family", "שלום עולם", "مرحبا", "e\u0301", "日本語", "<b>x</b>"],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert terminal_safe(text) == text


@given(st.text(), st.booleans())
def test_nothing_that_acts_survives_and_a_second_pass_changes_nothing(
    text: str, keep_lines: bool
) -> None:
    safe = terminal_safe(text, keep_lines=keep_lines)
    assert not acting(safe, keep_lines=keep_lines)
    safe.encode("utf-8")  # printable on any UTF-8 terminal: no lone surrogates left
    assert terminal_safe(safe, keep_lines=keep_lines) == safe


@given(st.text())
def test_json_output_reads_back_the_same_and_is_inert(text: str) -> None:
    line = terminal_json({"name": text, "list": [text]})
    assert not acting(line)
    assert json.loads(line) == {"name": text, "list": [text]}


def test_tracebacks_and_log_lines_are_made_safe() -> None:
    try:
        raise ValueError("bad name \x1b]0;owned\x07\u202e")
    except ValueError as exc:
        shown = safe_traceback(exc)
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "saw %s", ("\x1b[2J",), (type(exc), exc, None)
        )
    assert "Traceback" in shown and "␛]0;owned␇<U+202E>" in shown
    assert not acting(shown, keep_lines=True)
    logged = TerminalSafeFormatter("%(message)s").format(record)
    assert logged.startswith("saw ␛[2J") and "ValueError: bad name ␛]0;owned␇" in logged
    assert not acting(logged, keep_lines=True)
