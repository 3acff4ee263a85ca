"""Display names, room names and message text: what people may type and how it is normalised."""

from __future__ import annotations

import unicodedata

import pytest
import regex
from hypothesis import given
from hypothesis import strategies as st

from core.confusables import DATA_UNICODE_VERSION, prototypes, skeleton
from core.protocol import MAX_ROOM_NAME_CHARS, ErrorCode
from core.text_rules import (
    ROLE_WORDS,
    TextRejected,
    clean_label,
    clean_message_text,
    is_default_ignorable,
    name_key,
    normalize_display_name,
    normalize_room_name,
    visible_length,
)
from resources import read_text
from tests.core.room_harness import Harness, welcome_of

CYRILLIC_A = "\u0430"
CYRILLIC_O = "\u043e"
GREEK_CAPITAL_ETA = "\u0397"
GREEK_CAPITAL_NU = "\u039d"
# The invisible marks from the audit, and more of the same kind.
INVISIBLE = [
    "\u17b4",  # KHMER VOWEL INHERENT AQ
    "\u034f",  # COMBINING GRAPHEME JOINER
    "\u180b",  # MONGOLIAN FREE VARIATION SELECTOR ONE
    "\ufe0f",  # VARIATION SELECTOR-16, outside an emoji
    "\U000e0100",  # VARIATION SELECTOR-17 (variation selectors supplement)
    "\u200b",  # ZERO WIDTH SPACE
    "\u2060",  # WORD JOINER
    "\u00ad",  # SOFT HYPHEN
    "\u061c",  # ARABIC LETTER MARK
    "\u3164",  # HANGUL FILLER
    "\u115f",  # HANGUL CHOSEONG FILLER
    "\U000e0041",  # TAG LATIN CAPITAL LETTER A
    "\u202e",  # RIGHT-TO-LEFT OVERRIDE
    "\u200d",  # ZERO WIDTH JOINER, outside an emoji
]
# Line breaks and other controls that whitespace-collapsing used to turn into spaces.
LINE_BREAKS_AND_CONTROLS = ["\n", "\r", "\t", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029"]


def refused(raw: str) -> TextRejected:
    with pytest.raises(TextRejected) as caught:
        normalize_display_name(raw)
    assert caught.value.code == ErrorCode.INVALID_NAME
    return caught.value


# ----------------------------------------------------------------------------- display names


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Sam  ", "Sam"),
        ("Anna   Lena", "Anna Lena"),
        ("Anna\u00a0Lena", "Anna Lena"),  # a no-break space is a space
        ("Anna \u3000\u2003 Lena", "Anna Lena"),  # so is every other space separator (Zs)
        ("Zoë", "Zoë"),
        ("Zoe\u0308", "Zoë"),  # decomposed form is composed
        ("李小龍", "李小龍"),
        ("👩\u200d💻 Dev", "👩\u200d💻 Dev"),  # emoji sequences keep their joiner
        ("❤\ufe0f\u200d🔥", "❤\ufe0f\u200d🔥"),  # a joiner after an emoji's selector
        ("🧑🏽\u200d💻", "🧑🏽\u200d💻"),  # a joiner after a skin tone
        ("Sam ❤\ufe0f", "Sam ❤\ufe0f"),  # emoji presentation of a text-style emoji
        ("1\ufe0f\u20e3 One", "1\ufe0f\u20e3 One"),  # a keycap
        ("Sam (2)", "Sam (2)"),  # looks like the room's own suffix, which is fine
        ("Hana (hostess)", "Hana (hostess)"),
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
        "\u00a0\u3000",  # only spaces
        "\u0301",  # only a combining mark
        "x" * 33,
        "Sam\x00",
        "Sam\x1b[31m",
        "Sa\u200bm",  # zero-width space
        "\u200dSam",  # a joiner outside an emoji
        "Sam\u202e",  # right-to-left override
        "\u2800",  # braille blank
        "Sam\ufffc",  # object replacement character
        "\u3164",  # hangul filler
        "Sam\ue000",  # private use
        "Sam\u0378",  # unassigned
        "Sam\udc00",  # a lone surrogate (JSON can carry one)
        "Sam1\ufe0f",  # a selector after a digit that is no keycap changes nothing visible
        "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",  # tag characters
    ],
)
def test_bad_names_are_refused(raw: str) -> None:
    refused(raw)


@pytest.mark.parametrize("mark", LINE_BREAKS_AND_CONTROLS)
def test_line_breaks_and_tabs_are_refused_not_turned_into_spaces(mark: str) -> None:
    error = refused(f"Sam{mark}Bob")
    assert "line breaks" in str(error)
    assert f"U+{ord(mark):04X}" in str(error)  # the person can see which character it was


@pytest.mark.parametrize("mark", INVISIBLE)
def test_invisible_marks_are_refused(mark: str) -> None:
    error = refused(f"Sa{mark}m")
    assert "invisible" in str(error)


def test_combining_marks_do_not_count_against_the_length() -> None:
    assert normalize_display_name("e\u0301" * 32 + "\u0323") is not None
    assert visible_length("👩\u200d💻") == 2  # the joiner does not count; both pictures do
    assert visible_length("❤\ufe0f") == 1


# --------------------------------------------------------------------------- role markers


@pytest.mark.parametrize(
    "raw",
    [
        "Hana (host)",
        "Hana (Host)",
        "Hana (HOST)",
        "Hana(host)",
        "Hana ( host )",
        "Hana [host]",
        "Sam {you}",
        "Sam <you>",
        "Sam (you)",
        "Bot (assistant)",
        "Sam (guest)",
        "Sam (admin)",
        "Sam (AI)",
        f"Hana (h{CYRILLIC_O}st)",  # a look-alike spelling
        f"Hana ({GREEK_CAPITAL_ETA}OST)",
        "Hana \uff08host\uff09",  # fullwidth brackets
        "Hana (host) Smith",  # not only at the end
    ],
)
def test_names_cannot_imitate_a_role_marker(raw: str) -> None:
    error = refused(raw)
    assert "role" in str(error)


def test_every_role_word_is_covered() -> None:
    for word in ROLE_WORDS:
        refused(f"Sam ({word})")
        refused(f"Sam [{word.upper()}]")


# ------------------------------------------------------------------------------- name keys


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("SAM", "sam"),
        ("Ｓａｍ", "sam"),  # fullwidth letters
        ("Straße", "STRASSE"),
        ("Hana", f"H{CYRILLIC_A}na"),  # the audit's example
        ("paypal", f"p{CYRILLIC_A}yp{CYRILLIC_A}l"),
        ("PayPal", "PayPaI"),  # capital I looks like small l
        ("Ian", "lan"),
        ("Ian", "ian"),  # and case folding still holds
        ("Ali", "All"),  # so i joins l: accepted
        ("Sam 1", "Sam l"),
        ("Bob", "B0b"),
        ("Mike", "rnike"),
        ("Hana", f"{GREEK_CAPITAL_ETA}ana"),
        ("Nina", f"{GREEK_CAPITAL_NU}ina"),
        ("Sam", "𝐒𝐚𝐦"),  # mathematical bold
        ("Sam", "S\u200ba\u034fm\ufe0f"),  # invisible marks do not make a new name
        ("\u039d\u03af\u03ba\u03bf\u03c2", "\u03bd\u03af\u03ba\u03bf\u03c2"),  # Greek, any case
        ("\u0411\u043e\u0440\u0438\u0441", "\u0431\u043e\u0440\u0438\u0441"),  # Cyrillic too
    ],
)
def test_names_that_look_alike_share_a_key(a: str, b: str) -> None:
    assert name_key(a) == name_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Sam", "Sara"),
        ("Ava", "Ana"),
        ("Tony", "Rony"),
        ("Sam", "Fam"),
        ("Bob", "Boss"),
        ("Zoë", "Zoe"),
        ("Hana", "Hanna"),
    ],
)
def test_different_names_keep_different_keys(a: str, b: str) -> None:
    assert name_key(a) != name_key(b)


def test_a_look_alike_joins_with_a_suffix_like_any_clash() -> None:
    h = Harness()
    h.host("Hana")
    spoof = welcome_of(h.join(f"H{CYRILLIC_A}na")).you
    assert spoof.name == f"H{CYRILLIC_A}na (2)"
    capital = welcome_of(h.join("PayPal")).you
    assert capital.name == "PayPal"
    assert welcome_of(h.join("PayPaI")).you.name == "PayPaI (2)"


def test_an_invisible_marked_name_is_refused_by_the_room() -> None:
    h = Harness()
    h.join("Sam")
    peer = h.join("Sa\u034fm")
    assert peer.last_error().code == "invalid_name"
    peer = h.join("Sam\nBob")
    assert peer.last_error().code == "invalid_name"


def test_a_guest_cannot_call_themselves_the_host() -> None:
    h = Harness()
    h.host("Hana")
    peer = h.join("Hana (host)")
    assert peer.last_error().code == "invalid_name"
    assert "role" in peer.last_error().message


# ------------------------------------------------------------------------------- room names


def test_room_names_are_normalised_like_display_names() -> None:
    assert normalize_room_name("  Team\u00a0 lunch ") == "Team lunch"
    assert normalize_room_name("Cafe\u0301") == "Café"
    assert normalize_room_name("Hana (host)") == "Hana (host)"  # no role rule for rooms
    assert normalize_room_name("x" * MAX_ROOM_NAME_CHARS) == "x" * MAX_ROOM_NAME_CHARS


@pytest.mark.parametrize(
    "raw",
    ["", "  ", "x" * (MAX_ROOM_NAME_CHARS + 1), "Team\nlunch", "Team\u200blunch", "\u3164"],
)
def test_bad_room_names_are_refused(raw: str) -> None:
    with pytest.raises(TextRejected) as caught:
        normalize_room_name(raw)
    assert caught.value.code == ErrorCode.INVALID_VALUE


def test_room_names_count_every_code_point_so_any_valid_one_fits_a_txt_record() -> None:
    name = "e\u0301\u0323" * (MAX_ROOM_NAME_CHARS // 2)  # NFC makes two code points of each
    assert len(normalize_room_name(name)) == MAX_ROOM_NAME_CHARS
    with pytest.raises(TextRejected):
        normalize_room_name("e\u0301\u0323" * (MAX_ROOM_NAME_CHARS // 2 + 1))


# ------------------------------------------------------------------------------------ labels


def test_labels_drop_the_same_invisible_characters_as_names() -> None:
    for mark in INVISIBLE:
        assert clean_label(f"Sa{mark}m", 64) == "Sam", ascii(mark)
    assert clean_label("Sam\nBob\u2028Eve", 64) == "Sam Bob Eve"
    assert clean_label("👩\u200d💻 ❤\ufe0f", 64) == "👩\u200d💻 ❤\ufe0f"


def test_a_label_cut_inside_an_emoji_keeps_no_stray_joiner() -> None:
    assert clean_label("ab👩\u200d💻", 4) == "ab👩"


# ------------------------------------------------------------------------------ Unicode data


def test_the_property_tables_know_every_character_this_python_knows() -> None:
    """Default_Ignorable and the emoji properties come from ``regex``: its Unicode version
    must not be older than :mod:`unicodedata`'s, or a new invisible character could pass."""
    assigned = "".join(
        chr(cp)
        for cp in range(0x110000)
        if not 0xD800 <= cp <= 0xDFFF and unicodedata.category(chr(cp)) != "Cn"
    )
    unknown = regex.findall(r"\p{Cn}", assigned)
    assert not unknown, [f"U+{ord(c):04X}" for c in unknown[:10]]


def test_default_ignorable_matches_its_derivation() -> None:
    """DerivedCoreProperties: Default_Ignorable_Code_Point = Other_Default_Ignorable_Code_Point
    + Cf + Variation_Selector - White_Space - FFF9..FFFB - 13430..1343F (Egyptian format
    controls) - Prepended_Concatenation_Mark. Checked here on the parts unicodedata knows."""
    prepended_marks = {*range(0x0600, 0x0606), 0x06DD, 0x070F, 0x0890, 0x0891, 0x08E2}
    prepended_marks |= {0x110BD, 0x110CD}
    excluded = {*range(0xFFF9, 0xFFFC), *range(0x13430, 0x13440), *prepended_marks}
    for cp in range(0x110000):
        ch = chr(cp)
        if unicodedata.category(ch) == "Cf" and cp not in excluded and not ch.isspace():
            assert is_default_ignorable(ch), f"U+{cp:04X}"
    selectors = [*range(0x180B, 0x1810), *range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)]
    assert all(is_default_ignorable(chr(cp)) for cp in selectors)
    assert all(is_default_ignorable(ch) for ch in INVISIBLE)
    assert not any(is_default_ignorable(ch) for ch in "a 1\u00a0\u0301\u2800")


def test_the_confusables_data_is_the_version_it_claims() -> None:
    header = read_text("confusable_prototypes.txt").split("\n", 2)[1]
    assert f"confusables.txt version {DATA_UNICODE_VERSION}," in header
    data = tuple(int(part) for part in DATA_UNICODE_VERSION.split("."))
    runtime = tuple(int(part) for part in unicodedata.unidata_version.split("."))
    assert data >= runtime, "regenerate resources/confusable_prototypes.txt (see its header)"


def test_the_confusables_data_is_tr39s() -> None:
    table = prototypes()
    assert len(table) > 5000
    assert table["\u0430"] == "a" and table["I"] == "l" and table["m"] == "rn"
    for source in table:
        if unicodedata.category(source) != "Cn":  # known to this Python
            assert unicodedata.normalize("NFD", source) == source
            assert not is_default_ignorable(source)
    assert skeleton(f"H{CYRILLIC_A}na") == "Hana"
    assert skeleton("PayPaI") == "PayPal"


# ------------------------------------------------------------------------------- properties

# Arbitrary code points (surrogates included), mixed with the characters the rules are about.
SPECIAL = [
    *INVISIBLE,
    *LINE_BREAKS_AND_CONTROLS,
    *"\u200d\ufe0f\u20e3 \u00a0\u3000\u0301\u0323\u2800",
    *"👩💻❤🔥🏽1#IlO0m()[]",
    "host",
    "you",
    CYRILLIC_A,
    GREEK_CAPITAL_ETA,
]
ANY_CHAR = st.characters(exclude_categories=())
NAMES = st.lists(st.one_of(ANY_CHAR, st.sampled_from(SPECIAL), ANY_CHAR), max_size=40).map("".join)


def assert_is_a_clean_name(name: str) -> None:
    assert name == unicodedata.normalize("NFC", name)
    assert name == name.strip(" ") and "  " not in name
    for i, ch in enumerate(name):
        category = unicodedata.category(ch)
        assert category not in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") or ch == "\u200d"
        assert category != "Zs" or ch == " "
        if is_default_ignorable(ch):
            assert ch in "\u200d\ufe0f", f"U+{ord(ch):04X}"
            assert i > 0, "an emoji joiner or selector follows something"


@given(NAMES)
def test_display_names_only_ever_raise_text_rejected(raw: str) -> None:
    try:
        name = normalize_display_name(raw)
    except TextRejected as exc:
        assert exc.code == ErrorCode.INVALID_NAME
        return
    assert_is_a_clean_name(name)
    assert 1 <= visible_length(name) <= 32
    assert normalize_display_name(name) == name  # a fixed point


@given(NAMES)
def test_room_names_only_ever_raise_text_rejected(raw: str) -> None:
    try:
        name = normalize_room_name(raw)
    except TextRejected as exc:
        assert exc.code == ErrorCode.INVALID_VALUE
        return
    assert_is_a_clean_name(name)
    assert 1 <= len(name) <= MAX_ROOM_NAME_CHARS
    assert normalize_room_name(name) == name


@given(NAMES)
def test_name_keys_are_stable_and_fold_case(raw: str) -> None:
    key = name_key(raw)
    assert name_key(raw) == key
    assert name_key(unicodedata.normalize("NFKC", raw).casefold()) == key  # as coarse as before
    assert name_key(f"\u200b{raw}\u2060") == key  # invisible characters make no new name


@given(NAMES, st.integers(min_value=0, max_value=64))
def test_labels_never_raise_and_hold_nothing_invisible(raw: str, limit: int) -> None:
    label = clean_label(raw, limit)
    assert len(label) <= limit
    assert label == label.strip()
    for i, ch in enumerate(label):
        category = unicodedata.category(ch)
        assert category not in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") or ch == "\u200d"
        assert not is_default_ignorable(ch) or (ch in "\u200d\ufe0f" and i > 0)


# ---------------------------------------------------------------------------------- messages


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
