"""What the composer warns about before a message leaves: card numbers, IBANs, keys and tokens,
private keys, passwords and national identity numbers, and, as much as the finds, what it
must not warn about (a corpus of ordinary chat in fourteen languages).

Key-shaped test values are put together at run time from a seeded generator, so that no
secret scanner (ours or a code host's) takes this file for a leak.
"""

from __future__ import annotations

import itertools
import logging
import random
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.sensitive import (
    CARD_NETWORKS,
    IBAN_LENGTHS,
    KINDS,
    Finding,
    described,
    find_sensitive,
    luhn_valid,
)

CORPUS = Path(__file__).parent.parent / "data" / "ordinary_chat.txt"
CORPUS_LANGUAGES = (
    "English", "German", "French", "Spanish", "Italian", "Dutch", "Portuguese", "Polish",
    "Swedish", "Japanese", "Chinese", "Arabic", "Hindi", "Russian",
)  # fmt: skip
BEGIN = "-----BEGIN "  # split, so that this file holds no whole private key header
END = "-----END "


KEY_CHARACTERS = string.ascii_letters + string.digits


def random_body(length: int, seed: int, alphabet: str = KEY_CHARACTERS) -> str:
    """``length`` characters of ``alphabet`` as a random key has them: with a digit, a
    capital and a small letter, of those the alphabet has."""
    rng = random.Random(seed)
    wanted = [kind for kind in (str.isdigit, str.isupper, str.islower) if any(map(kind, alphabet))]
    while True:
        body = "".join(rng.choice(alphabet) for _ in range(length))
        if all(any(map(kind, body)) for kind in wanted):
            return body


def found(text: str) -> list[tuple[str, str]]:
    """Each finding's kind and the text it covers."""
    return [(f.kind, text[f.start : f.end]) for f in find_sensitive(text)]


def check_spans(text: str, findings: list[Finding]) -> None:
    for finding in findings:
        assert 0 <= finding.start < finding.end <= len(text)
        assert finding.kind in KINDS and finding.words
    for a, b in itertools.pairwise(findings):
        assert a.end <= b.start  # in order, none overlapping


# ----------------------------------------------------------------------------- cards

CARDS = [
    "4111 1111 1111 1111",  # Visa, the classic test number
    "4111-1111-1111-1111",
    "4111111111111111",
    "4012888888881881",
    "5555 5555 5555 4444",  # Mastercard
    "2223 0031 2200 3222",  # Mastercard's 2-series
    "3782 822463 10005",  # American Express, printed 4-6-5
    "378282246310005",
    "6011 1111 1111 1117",  # Discover
    "3530 1113 3330 0000",  # JCB
    "3056 9309 0259 04",  # Diners Club, 14 digits
    "6200 0000 0000 0005",  # UnionPay
    "6759 6498 2643 8453",  # Maestro
    "2200 0000 0000 0004",  # Mir
    "４１１１ １１１１ １１１１ １１１１",  # typed with a Japanese input method
]


@pytest.mark.parametrize("card", CARDS)
def test_a_card_number_is_found_wherever_it_sits(card: str) -> None:
    for text in (
        card, f"my card is {card} exp 12/27 cvc 123", f"Karte: {card}.", f"({card})",
        f"カード番号は{card}です", f"номер карты {card}, срок 12/27",
    ):  # fmt: skip
        assert found(text) == [("card", card)], text
        assert find_sensitive(text)[0].words == "a card number"


@pytest.mark.parametrize(
    "text",
    [
        "4111 1111 1111 1112",  # Luhn fails
        "9111111111111110",  # Luhn passes, but no card network starts with 9
        "1234567890123452",  # nor with 1
        "4111 1111 1111 111",  # 15 digits: no Visa has them
        "4111 11111 1111 1111",  # not grouped as cards are printed
        "4111 1111-1111 1111",  # separators mixed
        "4111-1111-1111-1111-2",
        "order #4111111111111111",
        "ref-4111111111111111",
        "https://shop.example/orders/4111111111111111/status",
        "www.example.com/?id=4111111111111111",
        "0.4111111111111111",
        "4111111111111111.50",
        "abc4111111111111111",
        "4111111111111111abc",
        "+4111111111111111",
        "4111\u202e1111\u202c1111 1111",  # bidi controls break it up: not as typed
        "4111 1111 🙂 1111 1111",
        "4006381333931",  # an EAN-13 barcode (and Luhn-valid 13 digits starting with 4)
        "9780306406157",  # an ISBN-13
        "1700000000000",  # a timestamp in milliseconds
        "18446744073709551616",
        "7" * 4000,  # a 4,000-digit integer
        "4111111111111111" * 250,
    ],
)
def test_numbers_that_are_not_card_numbers_are_left_alone(text: str) -> None:
    assert found(text) == []


def card_numbers() -> st.SearchStrategy[str]:
    """Luhn-valid numbers of a network's prefix and length."""

    @st.composite
    def build(draw: st.DrawFn) -> str:
        network = draw(st.sampled_from(CARD_NETWORKS))
        prefix = str(draw(st.integers(network.low, network.high)))
        length = draw(st.sampled_from(sorted(network.lengths)))
        middle = draw(st.text("0123456789", min_size=length - len(prefix) - 1,
                              max_size=length - len(prefix) - 1))  # fmt: skip
        stem = prefix + middle
        check = next(d for d in "0123456789" if luhn_valid([int(c) for c in stem + d]))
        return stem + check

    return build()


@given(
    number=card_numbers(),
    separator=st.sampled_from(["", " ", "-", "\u00a0"]),
    amex_style=st.booleans(),
    context=st.sampled_from(["{}", "card {} thanks", "Karte: {}.", "({})", "卡号{}。", "«{}»"]),
)
def test_any_valid_card_is_found_with_the_usual_separators(
    number: str, separator: str, amex_style: bool, context: str
) -> None:
    if amex_style and len(number) == 15:
        groups = [number[:4], number[4:10], number[10:]]
    else:
        groups = [number[i : i + 4] for i in range(0, len(number), 4)]
    card = separator.join(groups)
    text = context.format(card)
    assert found(text) == [("card", card)]


# ----------------------------------------------------------------------------- IBANs

IBANS = [  # examples published by the banks and the IBAN registry
    "DE89 3704 0044 0532 0130 00",
    "GB82 WEST 1234 5698 7654 32",
    "NL91 ABNA 0417 1643 00",
    "FR14 2004 1010 0505 0001 3M02 606",
    "BE68 5390 0754 7034",
    "CH93 0076 2011 6238 5295 7",
    "ES91 2100 0418 4502 0005 1332",
    "IT60 X054 2811 1010 0000 0123 456",
    "AT61 1904 3002 3457 3201",
    "PL61 1090 1014 0000 0712 1981 2874",
    "SE45 5000 0000 0583 9825 7466",
    "NO93 8601 1117 947",
    "PT50 0002 0123 1234 5678 9015 4",
    "IE29 AIBK 9311 5212 3456 78",
    "MT84 MALT 0110 0001 2345 MTLC AST0 01S",
    "BR97 0036 0305 0000 1000 9795 493P 1",
    "DE89370400440532013000",
    "de89370400440532013000",
]


@pytest.mark.parametrize("iban", IBANS)
def test_an_iban_is_found(iban: str) -> None:
    for text in (iban, f"IBAN: {iban}, BIC COBADEFFXXX", f"überweise an {iban}."):
        assert found(text) == [("iban", iban)], text
    assert find_sensitive(iban)[0].words == "an IBAN"


@pytest.mark.parametrize(
    "text",
    [
        "DE89 3704 0044 0532 0130 01",  # checksum
        "DE88 3704 0044 0532 0130 00",
        "DE89 3704 0044 0532 0130 0",  # one character short
        "DE89 3704 0044 0532 0130 000",  # one too many
        "DE89370400440532013000X",
        "XX89 3704 0044 0532 0130 00",  # no such country
        "DE89 370 40044 0532 0130 00",  # not in groups of four
        "De89370400440532013000",  # cases mixed
        "GB82 West 1234 5698 7654 32",
        "https://bank.example/DE89370400440532013000",
        "Product code DE89-BLUE-XL",
    ],
)
def test_almost_ibans_are_left_alone(text: str) -> None:
    assert found(text) == []


@st.composite
def valid_ibans(draw: st.DrawFn) -> str:
    country = draw(st.sampled_from(sorted(IBAN_LENGTHS)))
    size = IBAN_LENGTHS[country] - 4
    bban = draw(st.text(string.digits + string.ascii_uppercase, min_size=size, max_size=size))
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(numeric) % 97:02d}{bban}"


@given(iban=valid_ibans(), printed=st.booleans())
def test_any_valid_iban_is_found_compact_or_printed(iban: str, printed: bool) -> None:
    shown = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4)) if printed else iban
    assert found(f"send it to {shown} please") == [("iban", shown)]


# ----------------------------------------------------------------------------- keys

KEYS = [
    ("sk-proj-" + random_body(156, 1, KEY_CHARACTERS + "_-"),
     "an OpenAI API key"),
    ("sk-" + random_body(48, 2), "an OpenAI API key"),
    ("sk-ant-api03-" + random_body(93, 3, KEY_CHARACTERS + "_-") + "AA",
     "an Anthropic API key"),
    ("ghp_" + random_body(36, 4), "a GitHub token"),
    ("gho_" + random_body(36, 5), "a GitHub token"),
    ("ghu_" + random_body(36, 6), "a GitHub token"),
    ("ghs_" + random_body(36, 7), "a GitHub token"),
    ("ghr_" + random_body(36, 8), "a GitHub token"),
    ("github_pat_" + random_body(22, 9) + "_" + random_body(59, 10), "a GitHub token"),
    ("AKIA" + "IOSFODNN7EXAMPLE", "an AWS access key ID"),  # AWS's documentation example
    ("ASIA" + random_body(16, 11, string.ascii_uppercase + "234567"), "an AWS access key ID"),
    ("xoxb-" + "123456789012-1234567890123-" + random_body(24, 12), "a Slack token"),
    ("xoxp-" + "123456789012-123456789012-1234567890123-" + random_body(32, 13, "0123456789abcdef"),
     "a Slack token"),
    ("AIza" + random_body(35, 14, KEY_CHARACTERS + "_-"),
     "a Google API key"),
    ("sk_" + "live_" + random_body(24, 15), "a Stripe API key"),
    ("rk_" + "live_" + random_body(99, 16), "a Stripe API key"),
]  # fmt: skip


@pytest.mark.parametrize(("key", "words"), KEYS)
def test_a_key_of_a_known_shape_is_found(key: str, words: str) -> None:
    for text in (key, f"here's the key: {key}", f"OPENAI_API_KEY={key}", f'"{key}"',
                 f"https://api.example/v1?key={key}&x=1", f"--token {key}\n"):  # fmt: skip
        findings = find_sensitive(text)
        assert [(f.kind, text[f.start : f.end]) for f in findings] == [("api_key", key)], text
        assert findings[0].words == words


@pytest.mark.parametrize(
    "text",
    [
        "does sk-learn do this?",
        "sk-this-is-not-a-key-but-a-rather-long-hyphenated-phrase-about-keys",
        "The key starts with sk- and then random characters",
        "ghp_" + random_body(35, 20),  # one character short
        "xghp_" + random_body(36, 21),  # inside a longer word
        "AKIA" + "IOSFODNN7EXAMPL",  # 15 after the prefix
        "AKIA" + "IOSFODNN7EXAMPLEX",
        "xoxb-not-a-real-token-this-will-not-work",  # Slack's documentation placeholder
        "sk_" + "test_" + random_body(24, 22),  # a test key charges nobody
        "3f2a9c1e7b4d8a06c5e1f9b2d7a4c8e0f1b3d5a7",  # a git SHA
        "550e8400-e29b-41d4-a716-446655440000",  # a UUID
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
    ],
)
def test_things_that_look_a_little_like_keys_are_left_alone(text: str) -> None:
    assert found(text) == []


def private_key(kind: str = "RSA ", *, headers: str = "", end: bool = True) -> str:
    lines = [random_body(64, 30 + i, KEY_CHARACTERS + "+/") for i in range(4)]
    block = f"{BEGIN}{kind}PRIVATE KEY-----\n{headers}" + "\n".join(lines) + "\n"
    return block + (f"{END}{kind}PRIVATE KEY-----" if end else "")


@pytest.mark.parametrize(
    "key",
    [
        private_key(),
        private_key(""),
        private_key("OPENSSH "),
        private_key("EC "),
        private_key("ENCRYPTED "),
        private_key(headers="Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,0123456789ABCDEF\n\n"),
        private_key("PGP ", headers="Version: GnuPG v2\n\n").replace("KEY-----", "KEY BLOCK-----"),
    ],
)
def test_a_private_key_block_is_found_whole(key: str) -> None:
    text = f"here you go:\n{key}\nthanks"
    assert found(text) == [("private_key", key)]
    assert find_sensitive(text)[0].words == "a private key"


def test_a_private_key_pasted_without_its_end_is_found_from_its_header() -> None:
    key = private_key(end=False)
    findings = find_sensitive(key)
    assert [f.kind for f in findings] == ["private_key"] and findings[0].start == 0


def test_a_private_key_header_alone_is_no_key() -> None:
    text = f"the file should start with {BEGIN}PRIVATE KEY----- and then base64"
    assert found(text) == []
    assert found(f"{BEGIN}PRIVATE KEY-----\n\n{END}PRIVATE KEY-----") == []


# ----------------------------------------------------------------------------- passwords

PASSWORDS = [
    ("password: hunter2", "hunter2"),
    ("Password: Sommer2024!", "Sommer2024!"),
    ("PASSWORD=Tr0ub4dor&3", "Tr0ub4dor&3"),
    ("passwd=correct-Horse7", "correct-Horse7"),
    ("pw: 8kF!2mQz", "8kF!2mQz"),
    ("pwd:hunTer", "hunTer"),
    ("pw: 123456", "123456"),
    ("mysql --password=secret123 -u root", "secret123"),
    ('{"user": "ana", "password": "hunter2x"}', "hunter2x"),
    ("DB_PASSWORD=s3cr3t-Pa55", "s3cr3t-Pa55"),
    ("spring.datasource.password=Geheim!42", "Geheim!42"),
    ("Passwort: Kaffee123", "Kaffee123"),
    ("Kennwort = Blume!7", "Blume!7"),
    ("mot de passe : Azerty123", "Azerty123"),
    ("Mot de passe\u00a0: Soleil#2024", "Soleil#2024"),
    ("mdp: chat2024", "chat2024"),
    ("contraseña: Hola2024", "Hola2024"),
    ("Contraseña=Madrid#1", "Madrid#1"),
    ("la password: Ciao2024!", "Ciao2024!"),
    ("wachtwoord: Fiets123", "Fiets123"),
    ("senha: Brasil2024", "Brasil2024"),
    ("palavra-passe: Lisboa#1", "Lisboa#1"),
    ("hasło: Kot2024!", "Kot2024!"),
    ("HASŁO: Kot2024!", "Kot2024!"),
    ("haslo=Krakow99", "Krakow99"),
    ("lösenord: Sommar2024", "Sommar2024"),
    ("Пароль: Qwerty123", "Qwerty123"),
    ("パスワード：Sakura2024", "Sakura2024"),
    ("我的密码：abc12345", "abc12345"),
]


@pytest.mark.parametrize(("text", "value"), PASSWORDS)
def test_a_password_typed_after_its_keyword_is_found(text: str, value: str) -> None:
    assert found(text) == [("password", value)]
    assert find_sensitive(text)[0].words == "a password"


@pytest.mark.parametrize(
    "text",
    [
        "I forgot my password again",
        "password: forgotten again?",
        "Password: see the sticky note",
        "Passwort: steht auf dem Zettel",
        "Passwort: WLAN-Router",
        "Password: Forgotten",
        "mot de passe : celui d'hier",
        "hasło: to samo co zawsze",
        "Пароль: спроси у Ивана",
        "パスワード：忘れました（笑）",
        "密码：问一下小王吧",
        "password: 12 characters",
        "password: 2024-03-15",
        "password: 12/05/2024",
        "password: +49 30 1234567",
        "password: anna@example.com",
        "password: https://example.com/reset",
        "password: /etc/shadow",
        "password: <redacted>",
        "password: [REDACTED]",
        "password: ********",
        "Passwort: ••••••••",
        "pw: xxxxxx",
        "password=${DB_PASSWORD}",
        "password: ${{ secrets.DB_PASSWORD }}",
        "password=$PGPASS",
        '"password": "YOUR_PASSWORD_HERE",',
        "password = user_password",
        "password = getpass.getpass()",
        "password = os.environ['PW']",
        "password=request.form['password']",
        "if password == expected_value:",
        "password := readPassword()",
        "passwords: use a manager",
        "password_hash: $2b$12$abcdefghijklmnopqrstuv",
        "PGPASSWORD=$PGPASS psql",
        "superpassword: Hunter22",  # not the keyword
    ],
)
def test_words_about_passwords_are_not_passwords(text: str) -> None:
    assert found(text) == []


# ----------------------------------------------------------------------------- national IDs

NATIONAL_IDS = [
    ("mijn BSN is 111222333", "111222333", "a Dutch citizen service number (BSN)"),
    ("BSN-nummer: 1234.56.782", "1234.56.782", "a Dutch citizen service number (BSN)"),
    ("burgerservicenummer 123 456 782", "123 456 782", "a Dutch citizen service number (BSN)"),
    ("DNI 12345678Z", "12345678Z", "a Spanish DNI number"),
    ("mi DNI es 87654321-X", "87654321-X", "a Spanish DNI number"),
    ("NIE: X1234567L", "X1234567L", "a Spanish foreigner identity number (NIE)"),
    ("Y1234567X", "Y1234567X", "a Spanish foreigner identity number (NIE)"),
    ("CF RSSMRA85T10A562S", "RSSMRA85T10A562S", "an Italian tax code (codice fiscale)"),
    ("cf: rssmra85t10a562s", "rssmra85t10a562s", "an Italian tax code (codice fiscale)"),
    ("BNCLRA90A41H501F", "BNCLRA90A41H501F", "an Italian tax code (codice fiscale)"),
    ("RSSMRA85T10A56NH", "RSSMRA85T10A56NH", "an Italian tax code (codice fiscale)"),  # omocodia
    ("mitt personnummer är 811218-9876", "811218-9876", "a Swedish personal identity number"),
    ("Personnummer: 19811218-9876", "19811218-9876", "a Swedish personal identity number"),
    ("pnr 8112189876", "8112189876", "a Swedish personal identity number"),
    ("131052-308T", "131052-308T", "a Finnish personal identity code"),
    ("hetu: 010101A123N", "010101A123N", "a Finnish personal identity code"),
    ("henkilötunnus 311299+0029", "311299+0029", "a Finnish personal identity code"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "value", "words"), NATIONAL_IDS)
def test_a_national_id_with_a_public_check_is_found(text: str, value: str, words: str) -> None:
    findings = find_sensitive(text)
    assert [(f.kind, text[f.start : f.end]) for f in findings] == [("national_id", value)]
    assert findings[0].words == words


@pytest.mark.parametrize(
    "text",
    [
        "111222333",  # passes the 11-test, but nine digits alone are anything
        "BSN 111222334",  # fails it
        "BSN 000000000",
        "12345678A",  # wrong DNI letter
        "X1234567A",
        "RSSMRA85T10A562T",  # wrong check character
        "RSSMRA85T40A562S",  # no such day
        "811218-9876",  # a personnummer's shape, but invoices look like this too
        "Faktura 240115-0042",
        "personnummer 811218-9875",  # Luhn fails
        "personnummer 811318-9876",  # month 13
        "131052-308U",  # wrong HETU check
        "311299+0029",  # a HETU of digits only, with no keyword before it
    ],
)
def test_almost_national_ids_are_left_alone(text: str) -> None:
    assert found(text) == []


# ----------------------------------------------------------------------------- everything


def test_overlapping_findings_are_reported_once_by_the_stronger_kind() -> None:
    text = "password: 4111111111111111"
    assert found(text) == [("card", "4111111111111111")]
    key = "AKIA" + "IOSFODNN7EXAMPLE"
    assert found(f"pw={key}") == [("api_key", key)]


def test_several_things_in_one_message_are_each_found_in_order() -> None:
    text = "card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, password: hunter2"
    assert [kind for kind, _ in found(text)] == ["card", "iban", "password"]
    assert described(find_sensitive(text)) == "a card number, an IBAN and a password"
    assert described(find_sensitive("4111111111111111 and 5555555555554444")) == "a card number"
    assert described(find_sensitive("password: hunter2 4111111111111111")) == (
        "a password and a card number"
    )
    assert described([]) == ""


def test_a_finding_holds_no_part_of_the_text_and_nothing_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "Sommer2024!"
    findings = find_sensitive(f"password: {secret} 4111 1111 1111 1111")
    assert len(findings) == 2
    assert all(secret not in repr(f) and "4111" not in repr(f) for f in findings)
    assert caplog.records == []


def test_ordinary_chat_in_fourteen_languages_raises_nothing() -> None:
    corpus = CORPUS.read_text(encoding="utf-8")
    for language in CORPUS_LANGUAGES:
        assert f"## {language}" in corpus, f"the corpus has lost its {language} section"
    lines = [line for line in corpus.splitlines() if line and not line.startswith("## ")]
    assert len(lines) >= 350
    fired = {line: found(line) for line in lines if find_sensitive(line)}
    assert fired == {}
    assert find_sensitive(corpus) == []  # and all of it as one long message


@pytest.mark.parametrize(
    "text",
    [
        "\ud800\udc00\udfff" * 50 + "4111 1111 1111 1111",  # lone surrogates
        "\u202e\u2066\u2069\u200f" * 50,
        "🙂👩‍👩‍👧‍👦🏳️‍🌈" * 50,
        "",
    ],
)
def test_odd_text_does_not_trouble_it(text: str) -> None:
    findings = find_sensitive(text)
    check_spans(text, findings)
    assert [f.kind for f in findings] == (["card"] if "4111" in text else [])


HOSTILE_LENGTH = 200_000


@pytest.mark.parametrize(
    "unit",
    [
        "7", "1 ", "4111 ", "1234-", "aB3-", "xoxb-", "sk-", "password: ", "pw:" + "a" * 197 + " ",
        f"{BEGIN}PRIVATE KEY-----", "DE89 ", "bsn ", "RSSMRA85T10A562", "😀", "\ud800",
        "\u202e4111", "https://x/" + "1" * 16 + "/",
    ],
)  # fmt: skip
def test_long_hostile_text_finds_nothing(unit: str) -> None:
    """Inputs that make a careless pattern backtrack (each one's time is measured by
    ``bench/sensitive.py``; here they must simply come out right)."""
    text = unit * (HOSTILE_LENGTH // len(unit))
    assert find_sensitive(text) == []


_BUSY = "0123456789 -:=/_.#@+ABCDEFGHIJKLMNOPRSTUVXYZabcdeghkoprstvwxyzłöñ\n"


@settings(max_examples=300)
@given(text=st.one_of(st.text(), st.text(_BUSY), st.text(st.characters(exclude_categories=()))))
def test_any_text_gives_findings_within_it(text: str) -> None:
    check_spans(text, find_sensitive(text))


@settings(max_examples=100)
@given(before=st.text(_BUSY), number=card_numbers(), after=st.text(_BUSY))
def test_findings_stay_within_the_text_around_a_card(before: str, number: str, after: str) -> None:
    text = f"{before} {number} {after}"
    check_spans(text, find_sensitive(text))
