"""Rules for the text people type: display names, room names and chat messages.

Pure functions, no I/O. Each raises :class:`TextRejected` (with an :class:`ErrorCode`) for
input the room refuses, and returns the normalised form otherwise.

Names (display names and room names) are checked with Unicode's own properties rather than a
hand list: general categories from :mod:`unicodedata`, and Default_Ignorable_Code_Point and
the emoji properties from the ``regex`` package (the standard library has no property
lookup). Only space separators (category Zs) count as spaces; every Zs character becomes
U+0020, so a pasted no-break space is an ordinary space.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import regex  # type: ignore[import-untyped]  # (no type information shipped)

from core.confusables import look_alike_key
from core.protocol import MAX_ROOM_NAME_CHARS, ErrorCode

__all__ = [
    "ROLE_WORDS",
    "TextRejected",
    "clean_label",
    "clean_message_text",
    "clean_reaction",
    "is_default_ignorable",
    "name_key",
    "normalize_display_name",
    "normalize_room_name",
    "strip_controls",
    "visible_length",
]

# Words the apps show after a name in brackets, or that would pass for such a marker. A name
# may not contain one in brackets, in any look-alike spelling: "Hana (host)" is refused.
ROLE_WORDS = ("host", "you", "assistant", "ai", "bot", "guest", "admin")
_ROLE_BRACKETS = (("(", ")"), ("[", "]"), ("{", "}"), ("<", ">"))

# Categories a name may not contain: controls, format characters, surrogates, private use,
# unassigned code points (unassigned to this Python: it cannot normalise or compare them),
# and line and paragraph separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# Symbols (So) that show nothing a reader can tell apart, yet are not Default_Ignorable, so no
# property catches them: the braille blank is drawn as an empty cell, and Qt's text documents
# take U+FFFC as the place of an embedded object.
_BLANK_SYMBOLS = frozenset("\u2800\ufffc")  # BRAILLE PATTERN BLANK, OBJECT REPLACEMENT CHAR.
_ZWJ = "\u200d"
_EMOJI_PRESENTATION_SELECTOR = "\ufe0f"  # VARIATION SELECTOR-16
_COMBINING_KEYCAP = "\u20e3"
_KEYCAP_BASES = frozenset("0123456789#*")
_MARK_CATEGORIES = frozenset({"Mn", "Mc", "Me"})

_DEFAULT_IGNORABLE = regex.compile(r"\p{Default_Ignorable_Code_Point}")
_EMOJI = regex.compile(r"\p{Emoji}")
_PICTOGRAPHIC = regex.compile(r"\p{Extended_Pictographic}")
_EMOJI_MODIFIER = regex.compile(r"\p{Emoji_Modifier}")

_SPACE_RUN = re.compile(r" {2,}")
_WHITESPACE_RUN = re.compile(r"\s+")
_ALLOWED_CONTROLS_IN_TEXT = frozenset("\n\t")


class TextRejected(ValueError):
    """Text the room refuses; ``code`` says why, ``str()`` says it to a person."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def is_default_ignorable(ch: str) -> bool:
    """Whether ``ch`` has Unicode's Default_Ignorable_Code_Point property (drawn as nothing)."""
    return _DEFAULT_IGNORABLE.match(ch) is not None


def _has(pattern: regex.Pattern[str], ch: str) -> bool:  # pattern is typed Any: no stubs
    return pattern.match(ch) is not None


def _emoji_joiner_allowed(text: str, i: int) -> bool:
    """A zero-width joiner is allowed between two parts of one emoji (👩‍💻, ❤️‍🔥, 🧑🏽‍💻)."""
    before = i - 1
    if before >= 0 and text[before] == _EMOJI_PRESENTATION_SELECTOR:
        before -= 1
    if before < 0 or i + 1 >= len(text):
        return False
    prev, following = text[before], text[i + 1]
    return (_has(_PICTOGRAPHIC, prev) or _has(_EMOJI_MODIFIER, prev)) and _has(
        _PICTOGRAPHIC, following
    )


def _presentation_selector_allowed(text: str, i: int) -> bool:
    """U+FE0F is allowed right after an emoji character, asking for its emoji presentation.

    After a keycap base (a digit, ``#`` or ``*``) only when U+20E3 follows (1️⃣): alone it
    changes nothing visible, so "Sam1" and "Sam1" + U+FE0F would be two names that look alike.
    """
    if i == 0 or not _has(_EMOJI, text[i - 1]):
        return False
    if text[i - 1] in _KEYCAP_BASES:
        return i + 1 < len(text) and text[i + 1] == _COMBINING_KEYCAP
    return True


def _is_invisible_in_name(text: str, i: int) -> bool:
    """Whether ``text[i]`` is a character a name may not contain (see :func:`_normalize_name`)."""
    ch = text[i]
    if ch == _ZWJ:
        return not _emoji_joiner_allowed(text, i)
    if ch == _EMOJI_PRESENTATION_SELECTOR:
        return not _presentation_selector_allowed(text, i)
    return (
        unicodedata.category(ch) in _REFUSED_CATEGORIES
        or is_default_ignorable(ch)
        or ch in _BLANK_SYMBOLS
    )


def _counts_as_visible(ch: str) -> bool:
    """Visible characters: code points other than combining marks (Mn, Mc, Me) and the
    emoji joiner and presentation selector (the only invisible characters a name keeps)."""
    return unicodedata.category(ch) not in _MARK_CATEGORIES and ch not in (
        _ZWJ,
        _EMOJI_PRESENTATION_SELECTOR,
    )


# Why a refused character is refused, by general category, for the error message.
_REFUSAL_REASONS = {
    "Cc": "control characters or line breaks",
    "Zl": "control characters or line breaks",
    "Zp": "control characters or line breaks",
    "Cs": "unpaired surrogates (not valid Unicode text)",
    "Co": "private-use characters",
    "Cn": "unassigned characters",
}


def _refusal(ch: str, code: ErrorCode, what: str) -> TextRejected:
    reason = _REFUSAL_REASONS.get(unicodedata.category(ch), "invisible characters")
    return TextRejected(code, f"{what} cannot contain {reason} (U+{ord(ch):04X})")


def _normalize_name(raw: str, code: ErrorCode, what: str) -> str:
    """The shared normalisation of display names and room names; raises :class:`TextRejected`.

    NFC; every space separator (Zs) becomes U+0020, runs of spaces become one and the ends are
    trimmed. Then any control character (Cc: newline and tab too), format character (Cf),
    surrogate, private-use or unassigned code point, line or paragraph separator, any
    Default_Ignorable_Code_Point, U+2800 and U+FFFC is refused, except a zero-width joiner
    inside an emoji sequence and U+FE0F right after an emoji. The result is a fixed point:
    normalising it again returns it unchanged. Needs at least one visible character.
    """
    text = unicodedata.normalize("NFC", raw)
    text = "".join(" " if unicodedata.category(ch) == "Zs" else ch for ch in text)
    text = _SPACE_RUN.sub(" ", text).strip(" ")
    for i, ch in enumerate(text):
        if _is_invisible_in_name(text, i):
            raise _refusal(ch, code, what)
    if not any(_counts_as_visible(ch) for ch in text):
        raise TextRejected(code, f"{what} need at least one visible character")
    return text


def visible_length(name: str) -> int:
    """How many visible characters ``name`` has (see :func:`_counts_as_visible`)."""
    return sum(1 for ch in name if _counts_as_visible(ch))


def normalize_display_name(raw: str, max_chars: int = 32) -> str:
    """Return the display name to use for ``raw``, or raise :class:`TextRejected`.

    Normalised as described in :func:`_normalize_name` (code ``invalid_name``), with between
    1 and ``max_chars`` visible characters, and no role word in brackets (``Hana (host)``,
    ``Sam [you]``, or a look-alike spelling of one). Never raises anything else, whatever the
    input (lone surrogates included).
    """
    name = _normalize_name(raw, ErrorCode.INVALID_NAME, "names")
    if visible_length(name) > max_chars:
        raise TextRejected(ErrorCode.INVALID_NAME, f"names are at most {max_chars} characters")
    if _role_marker_pattern().search(name_key(name)):
        raise TextRejected(
            ErrorCode.INVALID_NAME,
            "names cannot contain a role in brackets, such as (host) or (you): "
            "the app shows those itself",
        )
    return name


def normalize_room_name(raw: str) -> str:
    """Return the room name to use for ``raw``, or raise :class:`TextRejected`.

    The same normalisation as a display name (code ``invalid_value``), and at most
    :data:`~core.protocol.MAX_ROOM_NAME_CHARS` code points, every code point counted (marks
    too), so that any valid name fits a DNS-SD TXT record whole (4 bytes each at most).
    """
    name = _normalize_name(raw, ErrorCode.INVALID_VALUE, "room names")
    if len(name) > MAX_ROOM_NAME_CHARS:
        raise TextRejected(
            ErrorCode.INVALID_VALUE, f"room names are at most {MAX_ROOM_NAME_CHARS} characters"
        )
    return name


@functools.lru_cache(maxsize=1024)  # the room keys every present name on each join
def name_key(name: str) -> str:
    """The form two names are compared in: names with equal keys clash.

    NFKC, then Default_Ignorable characters removed (as TR39's skeleton does), then
    :func:`core.confusables.look_alike_key`: names equal after NFKC case folding always
    clash, and so do look-alikes by Unicode TR39 (``Hana`` and ``Hana`` spelt with the
    Cyrillic ``a``, U+0430; ``I``, ``l``, ``1`` and so ``i`` too). Not for display.
    """
    text = unicodedata.normalize("NFKC", name)
    text = _DEFAULT_IGNORABLE.sub("", text)
    return look_alike_key(text)


@functools.cache
def _role_marker_pattern() -> re.Pattern[str]:
    """A role word in brackets, as it appears in a :func:`name_key` (spaces allowed inside)."""
    words = "|".join(re.escape(name_key(word)) for word in ROLE_WORDS)
    space = re.escape(name_key(" "))
    markers = [
        f"{re.escape(name_key(open_))}{space}?(?:{words}){space}?{re.escape(name_key(close))}"
        for open_, close in _ROLE_BRACKETS
    ]
    return re.compile("|".join(markers))


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


_GRAPHEME = regex.compile(r"\X")
_REGIONAL_INDICATOR = regex.compile(r"\p{Regional_Indicator}")
_EMOJI_COMPONENT = regex.compile(r"\p{Emoji_Component}")
_TAG = re.compile("[\U000e0020-\U000e007f]")
_TAG_FLAG = re.compile("\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f")
_EMOJI_PRESENTATION = regex.compile(r"\p{Emoji_Presentation}")
_MODIFIER_BASE = regex.compile(r"\p{Emoji_Modifier_Base}")


def clean_reaction(text: str) -> str:
    """Return ``text`` as one emoji in its one written form, or raise :class:`TextRejected`
    (``invalid_value``) when it is not one emoji as people pick it from an emoji keyboard.

    One emoji is one grapheme cluster made only of emoji characters and the pieces that
    compose them, holding a pictograph, a flag (two regional indicators, or a black flag
    with tag letters ending in CANCEL TAG) or a keycap: ``"👍"``, ``"👩🏽‍💻"``, ``"🇫🇷"``,
    ``"1️⃣"``. A plain digit, ``#`` or a letter is not one, nor is text with anything else
    around it. A skin tone must follow a character that takes one (never another skin tone),
    and tag characters appear only in a tag flag, so nothing invisible rides along.

    The form returned is the fully-qualified one: U+FE0F after exactly the characters that
    are not emoji by default (``❤`` becomes ``❤️``; ``👍️`` becomes ``👍``), so two people
    who pick the same emoji always react the same way.
    """
    refused = TextRejected(ErrorCode.INVALID_VALUE, "a reaction is one emoji")
    bare = text.replace(_EMOJI_PRESENTATION_SELECTOR, "")
    if not bare or len(_GRAPHEME.findall(text)) != 1:
        raise refused
    for i, ch in enumerate(bare):
        allowed = _has(_EMOJI, ch) or _has(_EMOJI_COMPONENT, ch) or ch == _ZWJ
        if not allowed and not _TAG.match(ch) and ch != _COMBINING_KEYCAP:
            raise refused
        if _has(_EMOJI_MODIFIER, ch) and (i == 0 or not _has(_MODIFIER_BASE, bare[i - 1])):
            raise refused
    tags = [ch for ch in bare if _TAG.match(ch)]
    if tags and not _TAG_FLAG.fullmatch(bare):
        raise refused
    pictograph = any(_has(_PICTOGRAPHIC, ch) for ch in bare)
    flag = sum(1 for ch in bare if _has(_REGIONAL_INDICATOR, ch)) == 2
    keycap = len(bare) == 2 and bare[0] in _KEYCAP_BASES and bare[1] == _COMBINING_KEYCAP
    if not (pictograph or flag or keycap):
        raise refused
    return "".join(
        ch + _EMOJI_PRESENTATION_SELECTOR if _needs_selector(bare, i) else ch
        for i, ch in enumerate(bare)
    )


def _needs_selector(text: str, i: int) -> bool:
    """Whether the fully-qualified form has U+FE0F after ``text[i]``: a character that is an
    emoji, but not one by default, and that no skin tone follows."""
    ch = text[i]
    if not _has(_EMOJI, ch) or _has(_EMOJI_PRESENTATION, ch) or _has(_EMOJI_MODIFIER, ch):
        return False
    if _has(_REGIONAL_INDICATOR, ch) or _TAG.match(ch):
        return False
    return not (i + 1 < len(text) and _has(_EMOJI_MODIFIER, text[i + 1]))


def clean_label(text: str, max_chars: int) -> str:
    """A short label from untrusted text (a name read off the network), made safe to show.

    Never raises: whitespace runs (line breaks and tabs included) become one space, and every
    character a name may not contain is dropped (controls, format characters, direction
    overrides, Default_Ignorable characters such as zero-width spaces and variation selectors
    outside emoji). The result is NFC and at most ``max_chars`` characters; it may be empty.
    """
    text = _drop_invisible(_WHITESPACE_RUN.sub(" ", unicodedata.normalize("NFC", text)))
    text = _WHITESPACE_RUN.sub(" ", text).strip()[:max_chars]
    return _drop_invisible(text).strip()  # the cut may have stranded an emoji joiner


def _drop_invisible(text: str) -> str:
    """``text`` without the characters a name may not contain.

    Dropping a character can strand a joiner or selector that was allowed beside it, so this
    repeats until nothing changes (each round removes at least one character).
    """
    while True:
        kept = "".join(ch for i, ch in enumerate(text) if not _is_invisible_in_name(text, i))
        if kept == text:
            return kept
        text = kept


def strip_controls(text: str) -> str:
    """``text`` without control characters other than newline and tab (for text the room
    relays but did not receive from a person, such as the assistant's answers)."""
    return "".join(
        ch for ch in text if ch in _ALLOWED_CONTROLS_IN_TEXT or unicodedata.category(ch) != "Cc"
    )
