"""desktop.network_text on plain values: isolation that nothing inside can break out of,
bounded one-line pieces, and tooltips that show markup as text."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from desktop.network_text import (
    FSI,
    PDI,
    breakable,
    close_bidi,
    fenced,
    isolate,
    one_line,
    shorten,
    tooltip,
)
from tests.desktop.hostile_checks import left_to_right, tooltip_shows, visible

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f"


@pytest.mark.parametrize(
    "name",
    [
        "\u202eevil",  # an override never closed
        "\u2067evil",  # an isolate never closed: our PDI would close it, not ours
        "\u2069\u202eevil",  # a stray PDI first: it would close our isolate early
        "\u202b\u2066x\u202c\u202eevil",  # a PDF cannot close past an isolate
        "\u2069" * 5 + "\u202e" * 5 + "evil",
    ],
)
def test_nothing_inside_an_isolate_reorders_what_follows(qapp: Any, name: str) -> None:
    line = f"{isolate(name)} is typing… 12:30"
    assert left_to_right(line, " is typing… 12:30")


def test_a_line_without_direction_controls_is_untouched() -> None:
    assert close_bidi("plain text") == "plain text"
    assert isolate("Ana") == f"{FSI}Ana{PDI}"


@given(st.text(alphabet=st.sampled_from([*BIDI, "a", "ب", " "]), max_size=30))
def test_isolate_is_always_balanced(text: str) -> None:
    """Whatever the controls inside, the isolate's own PDI closes it: after it, no
    embedding, override or isolate is left open."""
    shown = isolate(text)
    assert shown.startswith(FSI) and shown.endswith(PDI)
    assert close_bidi(shown) == shown  # nothing is left open


def test_one_line_and_shorten() -> None:
    assert one_line("a\nb\r\nc\u2028d\u0085e\tf\x1bg") == "a b c d e f g"
    assert shorten("Sam", 5) == "Sam"
    assert shorten("abcdefgh", 5) == "abcd…"
    assert shorten("abcde\u0301fgh", 6) == "abcd…"  # never an accent without its letter
    assert shorten("ab\u202ecdefgh", 6) == "ab\u202ecd\u202c…"  # the override ends before "…"
    assert fenced("x" * 10_000, 48) == f"{FSI}{'x' * 47}…{PDI}"


def test_long_runs_can_break() -> None:
    assert breakable("short words stay as they are") == "short words stay as they are"
    assert breakable("y" * 65) == "\u200b".join(["y" * 30, "y" * 30, "y" * 5])


@pytest.mark.parametrize(
    "text", ["<img src=/dev/zero>", '<a href="file:///etc/passwd">x</a>', "<b>x</b>", "a & b"]
)
def test_a_tooltip_shows_markup_as_text(qapp: Any, text: str) -> None:
    shown, loads = tooltip_shows(tooltip(text))
    assert visible(shown) == text and loads == []  # (long runs may get break points)
    assert tooltip("") == ""
