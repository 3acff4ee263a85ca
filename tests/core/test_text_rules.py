"""Display names and message text: what people may type and how it is normalised."""

from __future__ import annotations

import pytest

from core.protocol import ErrorCode
from core.text_rules import TextRejected, clean_message_text, name_key, normalize_display_name


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Sam  ", "Sam"),
        ("Anna   Lena", "Anna Lena"),
        ("Sam\u2028\tBob", "Sam Bob"),  # any whitespace run becomes one space
        ("Zoë", "Zoë"),
        ("Zoe\u0308", "Zoë"),  # decomposed form is composed
        ("李小龍", "李小龍"),
        ("👩\u200d💻 Dev", "👩\u200d💻 Dev"),  # emoji sequences keep their joiner
        ("x" * 32, "x" * 32),
        ("é" * 32, "é" * 32),
    ],
)
def test_names_are_normalised(raw: str, expected: str) -> None:
    assert normalize_display_name(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "x" * 33,
        "Sam\x00",
        "Sam\x1b[31m",
        "Sa\u200bm",  # zero-width space
        "\u200dSam",  # a joiner outside an emoji
        "Sam\u202e",  # right-to-left override
        "\u2800",  # braille blank
        "\u3164",  # hangul filler
    ],
)
def test_bad_names_are_refused(raw: str) -> None:
    with pytest.raises(TextRejected) as caught:
        normalize_display_name(raw)
    assert caught.value.code == ErrorCode.INVALID_NAME


def test_combining_marks_do_not_count_against_the_length() -> None:
    assert normalize_display_name("e\u0301" * 32 + "\u0323") is not None


def test_name_key_folds_case_and_lookalike_forms() -> None:
    assert name_key("SAM") == name_key("sam")
    assert name_key("Ｓａｍ") == name_key("sam")  # fullwidth letters
    assert name_key("Sam") != name_key("Sara")


def test_message_text_keeps_what_was_typed() -> None:
    text = "  indented\n\tcode\n**bold** <b>raw</b>  "
    assert clean_message_text(text, 4000) == text


def test_message_line_ends_are_normalised() -> None:
    assert clean_message_text("a\r\nb\rc", 100) == "a\nb\nc"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", ErrorCode.EMPTY_TEXT),
        (" \n\t ", ErrorCode.EMPTY_TEXT),
        ("x" * 101, ErrorCode.TEXT_TOO_LONG),
        ("bell\x07", ErrorCode.BAD_MESSAGE),
        ("\x1b]0;pwned\x07", ErrorCode.BAD_MESSAGE),
        ("c1 control \x9b", ErrorCode.BAD_MESSAGE),
    ],
)
def test_bad_message_text_is_refused(text: str, code: ErrorCode) -> None:
    with pytest.raises(TextRejected) as caught:
        clean_message_text(text, 100)
    assert caught.value.code == code
