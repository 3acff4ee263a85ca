"""What in a message is almost certainly sensitive, found on the sender's machine before the
message leaves the composer. Pure: no I/O, no Qt, nothing logged.

:func:`find_sensitive` finds

* payment card numbers: 13 to 19 digits, unbroken or in the printed groups (4-4-4-4…, or
  Amex's 4-6-5) split by spaces or by dashes, with a card network's prefix and one of its
  lengths (:data:`CARD_NETWORKS`), and a valid Luhn check digit;
* IBANs: a country code, check digits and a BBAN of exactly that country's length
  (:data:`IBAN_LENGTHS`), compact or in groups of four, passing the mod-97 check;
* API keys and tokens of well-known shapes, as a whole word: OpenAI (``sk-``, ``sk-proj-``),
  Anthropic (``sk-ant-``), GitHub (``ghp_``, ``gho_``, ``ghu_``, ``ghs_``, ``ghr_``,
  ``github_pat_``), AWS access key IDs (``AKIA``/``ASIA`` and 16 more), Slack (``xoxb-``,
  ``xoxp-``…), Google (``AIza``), Stripe live keys (``sk_live_``, ``rk_live_``); and
  private key blocks (``-----BEGIN … PRIVATE KEY-----`` followed by key material);
* a password typed after its keyword and ``:`` or ``=`` ("password:", "pw:", "passwd=",
  "Passwort:", "mot de passe :", "contraseña:", "wachtwoord:", "senha:", "hasło:",
  "lösenord:", "пароль:", "パスワード:", "密码:"…), when the value looks like a password
  (see :func:`_looks_like_password`): "password: forgotten again?" is no password;
* national identity numbers whose check is public: the Dutch BSN (11-test), only after its
  keyword, since any nine digits pass one time in eleven; the Spanish DNI and NIE (check
  letter); the Italian codice fiscale (check character); the Swedish personnummer (a real
  date and the Luhn digit), only after its keyword, since invoice numbers are often a date
  and four digits too; the Finnish HETU (a real date and the check character), after its
  keyword unless it has a letter in it.

Precision comes first: a warning people learn to click through protects nobody. So every kind
needs its checksum (or, for passwords, its keyword and a value that looks the part), and a
number glued to other text (in a URL, a reference like ``#4111…``, a decimal) is left alone.

Linear time: every pattern is a run of one character class or a fixed shape with bounded
repetitions; where a repeated group holds a quantifier, each repetition starts with a
character the one before cannot end with, so the text splits into repetitions one way only
and the engine never backtracks more than a constant amount at a position. What is done with
a match (checksums, a card's groups, a password's value) looks at a bounded number of
characters. ``bench/sensitive.py`` measures ordinary and hostile text of 200,000 characters.

A :class:`Finding` says where and what kind, never the text: nothing here can leak what it
found, even into a log line.
"""

from __future__ import annotations

import bisect
import itertools
import re
import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "CARD_NETWORKS",
    "IBAN_LENGTHS",
    "KINDS",
    "Finding",
    "Kind",
    "described",
    "find_sensitive",
    "luhn_valid",
]

Kind = Literal["card", "iban", "api_key", "private_key", "password", "national_id"]
KINDS: Final[tuple[Kind, ...]] = (
    "private_key", "api_key", "card", "iban", "national_id", "password",
)  # fmt: skip
"""Every kind, in the order that wins when two findings of the same length overlap: a card
number typed after "password:" is reported as the card number."""


@dataclass(frozen=True, slots=True)
class Finding:
    """Something sensitive at ``text[start:end]``; ``words`` names it for a sentence
    ("a card number", "an OpenAI API key"). It holds no part of the text."""

    kind: Kind
    words: str
    start: int
    end: int


def described(findings: Sequence[Finding]) -> str:
    """The kinds of ``findings`` in words, each once, in the order found: "a card number",
    "a card number and a password", "an IBAN, a password and a private key"."""
    words = list(dict.fromkeys(finding.words for finding in findings))
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"


def find_sensitive(text: str) -> list[Finding]:
    """Everything almost certainly sensitive in ``text``, in order, none overlapping another.

    Where two findings overlap, the longer one wins (an IBAN over the card-like digits
    inside it, a private key block over anything in it), then the kind earlier in
    :data:`KINDS`.
    """
    folded = _folded(text)
    found = [
        *_cards(text),
        *_ibans(text),
        *_tokens(text),
        *_private_keys(text),
        *_passwords(text, folded),
        *_national_ids(text, folded),
    ]
    found.sort(key=lambda f: (f.start - f.end, KINDS.index(f.kind), f.start))
    kept: list[Finding] = []
    taken: list[tuple[int, int]] = []  # sorted spans kept so far
    for finding in found:
        at = bisect.bisect_left(taken, (finding.start, finding.end))
        before = taken[at - 1] if at else None
        after = taken[at] if at < len(taken) else None
        if (before is not None and before[1] > finding.start) or (
            after is not None and after[0] < finding.end
        ):
            continue
        taken.insert(at, (finding.start, finding.end))
        kept.append(finding)
    kept.sort(key=lambda f: f.start)
    return kept


def _folded(text: str) -> str:
    """``text`` in small letters, character for character, for the keywords to be found
    without ``re.IGNORECASE`` (which makes the engine try every position the slow way)."""
    folded = text.replace("\u0130", "I").lower()  # "İ" is the one that lowers to two
    if len(folded) != len(text):  # a newer Unicode may add more: then only ASCII is folded
        folded = text.translate(_ASCII_LOWER)
    return folded


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)

# ----------------------------------------------------------------------------- boundaries

# Characters that glue a number to what comes before it: part of a word, a path, a URL, a
# reference ("#4111…", "order-4111…"), a decimal ("0.4111…"), a phone number ("+4111…").
_GLUED_BEFORE = frozenset("/\\@#+-_.,&%$€£¥")
# A dash, dot or comma after a number glues it only when more of the same token follows.
_GLUED_AFTER = frozenset("/\\@_%")
_CONTINUED_AFTER = frozenset("-.,")
URL_LOOKBACK = 300
"""How far back the start of a URL is looked for, from a number inside it."""


def _free_before(text: str, start: int) -> bool:
    if start == 0:
        return True
    before = text[start - 1]
    return not (_word_character(before) or before in _GLUED_BEFORE or _in_url(text, start))


def _free_after(text: str, end: int) -> bool:
    if end >= len(text):
        return True
    after = text[end]
    if _word_character(after) or after in _GLUED_AFTER:
        return False
    return not (
        after in _CONTINUED_AFTER and end + 1 < len(text) and _word_character(text[end + 1])
    )


def _word_character(char: str) -> bool:
    """Whether ``char`` would make a number beside it part of a longer word: a letter or a
    digit, except in scripts written without spaces (Chinese, Japanese, Thai), where a number
    sits right next to the words around it ("カード番号は4111…です")."""
    return char.isalnum() and not any(low <= char <= high for low, high in _UNSPACED_SCRIPTS)


_UNSPACED_SCRIPTS = (
    ("\u0e00", "\u0e7f"),  # Thai
    ("\u3040", "\u30ff"),  # Hiragana, Katakana
    ("\u3400", "\u4dbf"),  # CJK Unified Ideographs Extension A
    ("\u4e00", "\u9fff"),  # CJK Unified Ideographs
    ("\uf900", "\ufaff"),  # CJK Compatibility Ideographs
)


def _in_url(text: str, start: int) -> bool:
    """Whether ``text[start]`` is inside a URL (the same run of non-space characters as a
    ``://`` or a ``www.`` before it, at most :data:`URL_LOOKBACK` back)."""
    if start == 0 or text[start - 1].isspace():
        return False
    segment = text[max(0, start - URL_LOOKBACK) : start]
    word = segment.rsplit(maxsplit=1)[-1].lower()
    return "://" in word or word.startswith("www.")


# ----------------------------------------------------------------------------- cards


@dataclass(frozen=True, slots=True)
class CardNetwork:
    """Numbers starting with ``low``..``high`` (as prefixes of ``len(str(low))`` digits) and
    having one of ``lengths`` digits."""

    name: str
    low: int
    high: int
    lengths: frozenset[int]


def _network(name: str, low: int, high: int, lengths: Sequence[int]) -> CardNetwork:
    return CardNetwork(name, low, high, frozenset(lengths))


_LONG = range(16, 20)
CARD_NETWORKS: Final = (
    # Visa's 13-digit numbers are no longer issued, and EAN-13 barcodes starting with 4
    # (German products) pass Luhn one time in ten: only 16 and 19 digits count.
    _network("Visa", 4, 4, (16, 19)),
    _network("Mastercard", 51, 55, (16,)),
    _network("Mastercard", 2221, 2720, (16,)),
    _network("American Express", 34, 34, (15,)),
    _network("American Express", 37, 37, (15,)),
    _network("Discover", 6011, 6011, _LONG),
    _network("Discover", 644, 649, _LONG),
    _network("Discover", 65, 65, _LONG),
    _network("JCB", 3528, 3589, _LONG),
    _network("Diners Club", 300, 305, range(14, 20)),
    _network("Diners Club", 3095, 3095, range(14, 20)),
    _network("Diners Club", 36, 36, range(14, 20)),
    _network("Diners Club", 38, 39, _LONG),
    _network("UnionPay", 62, 62, _LONG),
    _network("Maestro", 5018, 5018, _LONG),
    _network("Maestro", 5020, 5020, _LONG),
    _network("Maestro", 5038, 5038, _LONG),
    _network("Maestro", 5893, 5893, _LONG),
    _network("Maestro", 6304, 6304, _LONG),
    _network("Maestro", 6759, 6759, _LONG),
    _network("Maestro", 6761, 6763, _LONG),
    _network("Mir", 2200, 2204, _LONG),
)
"""Card networks by prefix and length (from the networks' published ranges)."""

_CARD_SPACES = " \u00a0\u2009\u202f"  # space, no-break space, thin spaces
_CARD_SEPARATORS = _CARD_SPACES + "-"
# Digits, with at most one separator between two. (Linear: a repetition of the group starts
# with a separator, which no digit is, so the text splits into repetitions one way only.)
_DIGIT_RUN = re.compile(rf"\d+(?:[{_CARD_SEPARATORS}]\d+)*")
_CARD_MIN_DIGITS = 13
_SPACE = re.compile(f"[{_CARD_SPACES}]")
_CARD_MAX_CHARS = 19 + 18  # 19 digits and a separator between each
_CARD_GROUPINGS = frozenset({(4, 6, 5), (4, 6, 4)})  # American Express, Diners Club


def luhn_valid(digits: Sequence[int]) -> bool:
    """Whether ``digits`` end with a valid Luhn check digit."""
    total = 0
    for i, digit in enumerate(reversed(digits)):
        doubled = digit * 2 if i % 2 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return total % 10 == 0


def _card_network(digits: Sequence[int]) -> CardNetwork | None:
    for network in CARD_NETWORKS:
        width = len(str(network.low))
        prefix = 0
        for digit in digits[:width]:
            prefix = prefix * 10 + digit
        if network.low <= prefix <= network.high and len(digits) in network.lengths:
            return network
    return None


def _card_grouping(sizes: Sequence[int]) -> bool:
    """One unbroken number, groups of four (the last may be shorter), or 4-6-5 (American
    Express) or 4-6-4 (Diners Club)."""
    if len(sizes) == 1:
        return True
    if all(size == 4 for size in sizes[:-1]) and 1 <= sizes[-1] <= 4:
        return True
    return tuple(sizes) in _CARD_GROUPINGS


def _cards(text: str) -> Iterator[Finding]:
    for run in _DIGIT_RUN.finditer(text):
        start, run_end = run.span()
        if run_end - start < _CARD_MIN_DIGITS:
            continue
        if not _free_before(text, start):
            # Its first digits end a word ("hunter2 4111…"): the number may start after them.
            space = _SPACE.search(text, start, run_end)
            if space is None:
                continue
            start = space.end()
        end = _card_end(text, start, run_end)
        if end is not None:
            yield Finding("card", "a card number", start, end)


def _card_end(text: str, start: int, run_end: int) -> int | None:
    """Where the card number starting at ``start`` ends, or None. The number may be followed
    by more of the run after a space (an expiry date, a security code): the longest valid
    number of whole groups from ``start`` is taken. Looks at most at 38 characters."""
    head = text[start : min(run_end, start + _CARD_MAX_CHARS + 1)]
    groups: list[tuple[int, int]] = []  # (start, end) of each group of digits, in head
    separators: list[str] = []
    group_start = 0
    for i, char in enumerate(head):
        if char in _CARD_SEPARATORS:
            groups.append((group_start, i))
            separators.append("-" if char == "-" else " ")
            group_start = i + 1
    complete = start + len(head) == run_end
    if complete:
        groups.append((group_start, len(head)))
    for count in range(len(groups), 0, -1):
        window = groups[:count]
        end = start + window[-1][1]
        if end != run_end and separators[count - 1] != " ":
            continue  # 4111-1111-1111-1111-2 is not a card and its last group
        if len(set(separators[: count - 1])) > 1:
            continue  # one kind of separator throughout
        sizes = [b - a for a, b in window]
        if not _CARD_MIN_DIGITS <= sum(sizes) <= 19 or not _card_grouping(sizes):
            continue
        digits = [int(char) for char in head[: window[-1][1]] if char not in _CARD_SEPARATORS]
        if _card_network(digits) is None or not luhn_valid(digits):
            continue
        if end == run_end and not _free_after(text, end):
            return None
        return end
    return None


# ----------------------------------------------------------------------------- IBANs

IBAN_LENGTHS: Final = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32,
    "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31,
    "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28, "TL": 23,
    "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip
"""Every IBAN country's full IBAN length (the SWIFT IBAN registry)."""

_IBAN_START = re.compile(r"(?:[A-Z]{2}|[a-z]{2})[0-9]{2}")


def _ibans(text: str) -> Iterator[Finding]:
    for start_match in _IBAN_START.finditer(text):
        start = start_match.start()
        length = IBAN_LENGTHS.get(start_match.group()[:2].upper())
        if length is None:
            continue
        end = _iban_end(text, start, length)
        if end is not None and _free_before(text, start):
            yield Finding("iban", "an IBAN", start, end)


def _iban_end(text: str, start: int, length: int) -> int | None:
    """Where the IBAN of ``length`` characters starting at ``start`` ends, or None: compact,
    or printed with a space after every fourth character; its letters all in one case."""
    end = start + length
    iban = text[start:end]
    if not (iban.isalnum() and iban.isascii()):
        end = start + length + (length - 1) // 4
        printed = text[start:end]
        gaps = printed[4::5]
        if len(gaps) != (length - 1) // 4 or gaps.strip(_CARD_SPACES):
            return None
        iban = "".join(printed.split())
        if not (len(iban) == length and iban.isalnum() and iban.isascii()):
            return None
    if not (iban.isupper() or iban.islower()) or not _free_after(text, end):
        return None
    return end if _iban_checksum(iban.upper()) == 1 else None


def _iban_checksum(iban: str) -> int:
    """The IBAN's mod-97 remainder (1 when valid), with letters counted A=10 … Z=35."""
    return int((iban[4:] + iban[:4]).translate(_IBAN_LETTER_VALUES)) % 97


_IBAN_LETTER_VALUES = str.maketrans(
    {letter: str(value) for value, letter in enumerate(string.ascii_uppercase, start=10)}
)


# ----------------------------------------------------------------------------- keys and tokens

# Every run of the characters keys are made of, at least as long as the shortest key.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,}")
_SECRET_TOKENS: Final = (
    # Anthropic's keys start like OpenAI's: they are tried first.
    (re.compile(r"sk-ant-[A-Za-z0-9_-]{32,}"), "an Anthropic API key", True),
    (re.compile(r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{32,}"), "an OpenAI API key", True),
    (re.compile(r"gh[pousr]_[A-Za-z0-9]{36,251}"), "a GitHub token", True),
    (re.compile(r"github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}"), "a GitHub token", True),
    (re.compile(r"(?:AKIA|ASIA)[A-Z2-7]{16}"), "an AWS access key ID", False),
    (re.compile(r"xox[abposr]-[0-9]{6,}-[A-Za-z0-9-]{10,}"), "a Slack token", False),
    (re.compile(r"AIza[A-Za-z0-9_-]{35}"), "a Google API key", False),
    (re.compile(r"[sr]k_live_[A-Za-z0-9]{24,}"), "a Stripe API key", False),
)
"""Key shapes (matched against a whole token), their words, and whether the token must mix
digits, capitals and small letters, as random keys do (so that ``sk-`` and a long
hyphenated phrase is not taken for a key)."""


def _tokens(text: str) -> Iterator[Finding]:
    for token in _TOKEN.finditer(text):
        start, end = token.span()
        value = token.group()
        lead = len(value) - len(value.lstrip("-_"))  # "--sk-…" on a command line
        value = value[lead:]
        for shape, words, mixed in _SECRET_TOKENS:
            if shape.fullmatch(value) and (not mixed or _mixes_characters(value)):
                yield Finding("api_key", words, start + lead, end)
                break


def _mixes_characters(value: str) -> bool:
    return (
        any(c.isdigit() for c in value)
        and any(c.isupper() for c in value)
        and any(c.islower() for c in value)
    )


# ----------------------------------------------------------------------------- private keys

_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----")
_PEM_END = re.compile(r"-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----")
_ARMOR_HEADERS = ("Proc-Type:", "DEK-Info:", "Version:", "Comment:", "Hash:", "Charset:")
_KEY_MATERIAL = re.compile(r"[A-Za-z0-9+/=]{32}")
HEADER_LINE_CHARS = 200
_WHITE_SPACE = re.compile(r"\s*")


def _private_keys(text: str) -> Iterator[Finding]:
    """Private key blocks: the header and key material after it (after any header lines of an
    encrypted key or a PGP block), to the end line, or to the start of the material when the
    end is missing. A header alone, as in a question about the format, is no key."""
    ends = [match.end() for match in _PEM_END.finditer(text)]
    for begin in _PEM_BEGIN.finditer(text):
        material = _KEY_MATERIAL.match(text, _after_armor_headers(text, begin.end()))
        if material is None:
            continue
        at = bisect.bisect_right(ends, begin.end())
        end = ends[at] if at < len(ends) else material.end()
        yield Finding("private_key", "a private key", begin.start(), end)


def _after_armor_headers(text: str, pos: int) -> int:
    """Where the key material should start after a header ending at ``pos``: past white
    space and a few "Name: value" lines."""
    for _ in range(len(_ARMOR_HEADERS) + 1):
        blank = _WHITE_SPACE.match(text, pos)  # (always matches, if only nothing)
        pos = blank.end() if blank else pos
        if not text.startswith(_ARMOR_HEADERS, pos):
            return pos
        line_end = text.find("\n", pos, pos + HEADER_LINE_CHARS)
        if line_end < 0:
            return pos
        pos = line_end + 1
    return pos


# ----------------------------------------------------------------------------- passwords

_PASSWORD_WORDS = (
    "password", "passwd", "pwd", "pw",  # English (and Italian, which says "password")
    "passwort", "kennwort",  # German
    "mot de passe", "mdp",  # French
    "contraseña", "contrasena",  # Spanish
    "wachtwoord",  # Dutch
    "senha", "palavra-passe",  # Portuguese
    "hasło", "haslo",  # Polish
    "lösenord", "losenord",  # Swedish
    "пароль", "パスワード", "密码", "密碼",  # Russian, Japanese, Chinese
)  # fmt: skip
_GAP = "[ \t\u00a0\u202f]{0,3}"
# The keyword (not inside a longer word, though "DB_PASSWORD" counts), maybe closing a quoted
# key ("password": …), then ":" or "=" (not "==" or ":=", which are code), then the value.
_PASSWORD = re.compile(
    rf"(?:{'|'.join(_PASSWORD_WORDS)})[\"']?{_GAP}[:=\uff1a]{_GAP}(?![=:])(\S{{1,200}})"
)  # (searched in the folded text; \uff1a is the full-width colon of Chinese and Japanese)
_OPENING = "\"'`«\u201c\u2018([{<"  # and the curly quotes
_CLOSING = "\"'`»\u201d\u2019)]}>"
_SENTENCE_END = ".,;:!?…"
_QUIET_SYMBOLS = frozenset("-_.'\u2019")  # in words and names: no sign of a password by themselves
_PLACEHOLDER = re.compile(
    r"[<\[{(].*[>\]})]"  # <your password>, [redacted], {password}
    r"|[$%][({].*|\$[A-Za-z_][A-Za-z0-9_]*"  # ${PASSWORD}, $(cat …), %(pw)s, $PW
    r"|\*+|x+|X+|•+|…|\.\.\.+"  # masked
)
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*")  # YOUR_PASSWORD, user_password
_DATE_OR_NUMBER = re.compile(r"[\d\s+()./:-]+")  # a date, a time, a phone number, a version
# Code: a dotted name (args.password), a call or an index (input(, env[).
_CODE = re.compile(r"(?<!\w)[A-Za-z_]\w*\.[A-Za-z_]|\w\(|\w\[")


def _passwords(text: str, folded: str) -> Iterator[Finding]:
    for match in _PASSWORD.finditer(folded):
        raw = text[match.start(1) : match.end(1)]
        start, end = _quoted(raw)
        if _after_word_break(text, match.start()) and _looks_like_password(raw[start:end]):
            yield Finding("password", "a password", match.start(1) + start, match.start(1) + end)


def _quoted(raw: str) -> tuple[int, int]:
    """The span of the value in ``raw``: inside its quotes or brackets if it opens with one
    (``"hunter2"},`` → ``hunter2``), else all of it."""
    if raw[:1] not in _OPENING:
        return 0, len(raw)
    close = raw.find(_CLOSING[_OPENING.index(raw[0])], 1)
    return 1, close if close > 0 else len(raw)


def _looks_like_password(raw: str) -> bool:
    """Whether ``raw`` (what follows "password:" up to a space, out of its quotes) looks like
    a password rather than words about one, a placeholder or code.

    It must be 6 to 128 characters and not a placeholder (``<…>``, ``${…}``, ``****``), a
    URL, a path, an address, a date or number with punctuation, or an expression in code;
    then it counts when it is six or more digits, or mixes letters with digits, letters with
    symbols, or small letters with a capital inside a word ("hunTer"), as passwords do and
    words do not ("forgotten", "Zettel", "WLAN-Router").
    """
    value = raw.rstrip(_SENTENCE_END + _CLOSING)
    if not 6 <= len(value) <= 128 or _PLACEHOLDER.fullmatch(value):
        return False
    if _IDENTIFIER.fullmatch(value) and "_" in value and not any(c.isdigit() for c in value):
        return False  # a name in code or a template, not a value
    if value.isdigit():
        return True
    lowered = value.lower()
    if _DATE_OR_NUMBER.fullmatch(value) or "://" in lowered or _CODE.search(value):
        return False
    if lowered.startswith(("www.", "/", "~/", "./", "../")):
        return False
    if "@" in value and "." in value.rpartition("@")[2]:
        return False  # an e-mail address
    digit = any(c.isdigit() for c in value)
    letter = any(c.isalpha() for c in value)
    symbol = any(not c.isalnum() and c not in _QUIET_SYMBOLS for c in value)
    mixed = (letter and (digit or symbol)) or any(
        a.islower() and b.isupper() for a, b in itertools.pairwise(value)
    )
    # Chinese, Japanese or Thai in it: words (passwords are not typed with an input method).
    return mixed and not any(low <= c <= high for c in value for low, high in _UNSPACED_SCRIPTS)


# ----------------------------------------------------------------------------- national IDs


def _national_ids(text: str, folded: str) -> Iterator[Finding]:
    yield from _bsns(text, folded)
    yield from _spanish_ids(text)
    yield from _codici_fiscali(text)
    yield from _personnummer(text, folded)
    yield from _hetus(text, folded)


def _free(text: str, start: int, end: int) -> bool:
    return _free_before(text, start) and _free_after(text, end)


def _after_word_break(text: str, start: int) -> bool:
    """Whether a keyword at ``start`` begins a word ("_" joins: DB_PASSWORD is a keyword)."""
    return start == 0 or not _word_character(text[start - 1])


# Dutch BSN: nine digits (eight of older ones, a leading zero left off), 4.2.3 or 3 3 3 in
# print, after its keyword and at most a few words ("BSN-nummer:", "mijn bsn is").
_BSN = re.compile(
    r"(?:bsn|burgerservicenummer|sofinummer|sofi-nummer)(?!\w)[^\d\n]{0,20}?"
    r"(?<!\d)([0-9]{4}[ .]?[0-9]{2}[ .]?[0-9]{3}|[0-9]{3}[ .]?[0-9]{3}[ .]?[0-9]{3}|[0-9]{8})"
    r"(?!\d)",
)  # (searched in the folded text)


def _bsns(text: str, folded: str) -> Iterator[Finding]:
    for match in _BSN.finditer(folded):
        if not _after_word_break(text, match.start()):
            continue
        digits = [int(c) for c in match.group(1) if c.isdigit()]
        digits = [0] * (9 - len(digits)) + digits
        weighted = sum(d * w for d, w in zip(digits, range(9, 1, -1), strict=False))
        if any(digits) and (weighted - digits[8]) % 11 == 0 and _free_after(text, match.end()):
            yield Finding(
                "national_id", "a Dutch citizen service number (BSN)", match.start(1), match.end()
            )


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
_DNI = re.compile(r"[0-9]{8}-?[A-Z](?![A-Za-z0-9])")
_NIE_PREFIX = str.maketrans("XYZ", "012")
_NIE = re.compile(r"[XYZ]-?[0-9]{7}-?[A-Z](?![A-Za-z0-9])")


def _spanish_ids(text: str) -> Iterator[Finding]:
    """DNI numbers (eight digits and a check letter) and NIE numbers (X, Y or Z standing for
    0, 1 or 2, seven digits and the check letter)."""
    for pattern, words in (
        (_DNI, "a Spanish DNI number"),
        (_NIE, "a Spanish foreigner identity number (NIE)"),
    ):
        for match in pattern.finditer(text):
            value = match.group().replace("-", "")
            number = int(value[:-1].translate(_NIE_PREFIX))
            if _DNI_LETTERS[number % 23] == value[-1] and _free_before(text, match.start()):
                yield Finding("national_id", words, match.start(), match.end())


_OMOCODIA = "LMNPQRSTUV"  # letters standing for the digits 0-9 when two codes would clash
_CF_DIGIT = f"[0-9{_OMOCODIA}{_OMOCODIA.lower()}]"
# Six letters, the year (its first digit never replaced), the month's letter, the day, the
# place (a letter and three digits) and the check letter.
_CODICE_FISCALE = re.compile(
    rf"(?<![A-Za-z0-9])[A-Za-z]{{6}}[0-9]{_CF_DIGIT}[ABCDEHLMPRSTabcdehlmprst]"
    rf"{_CF_DIGIT}{{2}}[A-Za-z]{_CF_DIGIT}{{3}}[A-Za-z](?![A-Za-z0-9])"
)
_CF_ODD = dict(zip("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", (
    1, 0, 5, 7, 9, 13, 15, 17, 19, 21,
    1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23,
), strict=True))  # fmt: skip


def _codici_fiscali(text: str) -> Iterator[Finding]:
    for match in _CODICE_FISCALE.finditer(text):
        code = match.group()
        letters = "".join(c for c in code if c.isalpha())
        if not (letters.isupper() or letters.islower()):
            continue
        code = code.upper()
        day = "".join(str(_OMOCODIA.index(c)) if c in _OMOCODIA else c for c in code[9:11])
        if not (1 <= int(day) <= 31 or 41 <= int(day) <= 71):
            continue
        total = sum(
            _CF_ODD[c] if i % 2 == 0 else (int(c) if c.isdigit() else ord(c) - ord("A"))
            for i, c in enumerate(code[:15])
        )
        if chr(ord("A") + total % 26) == code[15]:
            yield Finding(
                "national_id", "an Italian tax code (codice fiscale)", match.start(), match.end()
            )


# Swedish personnummer: (YY)YYMMDD-NNNC ("+" for people over a hundred), only after its
# keyword: invoice and order numbers are often a date and four digits too.
_PERSONNUMMER = re.compile(
    r"(?:personnummer|samordningsnummer|personnr|pers\.nr|pnr)(?!\w)[^\d\n]{0,12}?"
    r"([0-9]{6}(?:[0-9]{2})?[-+]?[0-9]{4})(?![0-9])",
)  # (searched in the folded text)


def _personnummer(text: str, folded: str) -> Iterator[Finding]:
    for match in _PERSONNUMMER.finditer(folded):
        if (
            _after_word_break(text, match.start())
            and _valid_personnummer(match.group(1))
            and _free_after(text, match.end())
        ):
            yield Finding("national_id", "a Swedish personal identity number", *match.span(1))


def _valid_personnummer(number: str) -> bool:
    digits = number.replace("-", "").replace("+", "")[-10:]
    month, day = int(digits[2:4]), int(digits[4:6])
    # Day + 60: a coordination number, for people not (yet) registered in Sweden.
    if not 1 <= month <= 12 or not (1 <= day <= 31 or 61 <= day <= 91):
        return False
    return luhn_valid([int(c) for c in digits])


# Finnish HETU: DDMMYY, the century sign, a three-digit number and the check character. A
# code with a letter in it stands alone; one of digits and a dash or plus only (which a date
# and a reference number can be) needs its keyword just before it.
_HETU = re.compile(r"([0-9]{6})([-+A-FU-Y])([0-9]{3})([0-9A-Y])(?![A-Za-z0-9])")
_HETU_CHECK = "0123456789ABCDEFHJKLMNPRSTUVWXY"
_HETU_KEYWORD = re.compile(r"(?<!\w)(?:henkilötunnu|hetu|sotu)")  # (henkilötunnus, -ksen…)
KEYWORD_WITHIN = 32
"""How far before a number its keyword is looked for, where a number needs one."""


def _keyword_before(keyword: re.Pattern[str], folded: str, start: int) -> bool:
    return keyword.search(folded, max(0, start - KEYWORD_WITHIN), start) is not None


def _hetus(text: str, folded: str) -> Iterator[Finding]:
    for match in _HETU.finditer(text):
        date, sign, serial, check = match.groups()
        day, month = int(date[:2]), int(date[2:4])
        if not (1 <= day <= 31 and 1 <= month <= 12 and 2 <= int(serial) <= 899):
            continue
        if _HETU_CHECK[int(date + serial) % 31] != check:
            continue
        start = match.start()
        if check.isdigit() and sign in "-+" and not _keyword_before(_HETU_KEYWORD, folded, start):
            continue
        if _free(text, start, match.end()):
            yield Finding("national_id", "a Finnish personal identity code", start, match.end())
