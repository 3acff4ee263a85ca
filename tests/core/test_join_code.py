"""The join code: what the host shows, what a guest types, and every typo it must refuse."""

from __future__ import annotations

import ipaddress
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.join_code import (
    ALPHABET,
    MIN_TAG_BITS,
    TEST_VECTOR,
    InvalidJoinCode,
    JoinCodeError,
    NoJoinCode,
    can_have_join_code,
    make_join_code,
    parse_join_code,
)
from core.protocol import DEFAULT_PORT

FINGERPRINT = bytes(range(32))
PRIVATE_RANGES = ["10.0.0.0/8", "192.168.0.0/16", "172.16.0.0/12"]
TYPO = "this code has a typo: check it with the host"

# One room of each kind of code (three ranges, with the default port or another one); the
# fingerprints differ so that the tags differ too.
ROOMS = [
    ("10.0.0.7", DEFAULT_PORT),
    ("192.168.1.20", DEFAULT_PORT),
    ("172.16.5.9", DEFAULT_PORT),
    ("10.255.255.254", 8080),
    ("192.168.178.1", 1),
    ("172.31.255.255", 65535),
]


def codes_of_each_kind() -> list[str]:
    return [
        make_join_code(address, port, bytes([n]) * 32) for n, (address, port) in enumerate(ROOMS)
    ]


def bare(code: str) -> str:
    return code.replace("-", "")


private_addresses = st.sampled_from(PRIVATE_RANGES).flatmap(
    lambda cidr: st.integers(0, ipaddress.ip_network(cidr).num_addresses - 1).map(
        lambda n, cidr=cidr: str(ipaddress.ip_network(cidr).network_address + n)
    )
)
ports = st.one_of(st.just(DEFAULT_PORT), st.integers(1, 65535))
fingerprints = st.binary(min_size=32, max_size=32)


def test_the_documented_test_vector() -> None:
    address, port, fingerprint, code = TEST_VECTOR
    assert (address, port, fingerprint) == ("192.168.1.20", DEFAULT_PORT, FINGERPRINT)
    assert make_join_code(address, port, fingerprint) == code == "G12G-P7HD-H0T"
    parsed = parse_join_code(code)
    assert (parsed.address, parsed.port, parsed.text) == (address, port, code)
    assert parsed.url == "wss://192.168.1.20:47321/"
    assert parsed.matches(fingerprint)
    # More vectors for the protocol document: another port, the other two ranges.
    assert make_join_code("10.0.0.7", 8080, fingerprint) == "W3Y8-0000-7GBC-SBRY"
    assert make_join_code("172.16.5.9", DEFAULT_PORT, fingerprint) == "R051-5Z0Z-7ZWZ"
    assert make_join_code("10.1.2.3", DEFAULT_PORT, fingerprint) == "020G-3D76-8MRJ"


def test_common_codes_are_short_and_carry_at_least_30_bits_of_the_certificate() -> None:
    codes = codes_of_each_kind()
    lengths = [len(bare(code)) for code in codes]
    assert lengths == [12, 11, 12, 16, 15, 16]  # the default port: 11 or 12 characters
    for code in codes:
        assert parse_join_code(code).tag_bits >= MIN_TAG_BITS
        groups = code.split("-")
        assert all(len(g) == 4 for g in groups[:-1]) and 1 <= len(groups[-1]) <= 4
        assert set(bare(code)) <= set(ALPHABET)
    # The first character tells the kind of code, as the protocol document says.
    assert [code[0] in kinds for code, kinds in zip(codes, ["0123456789ABCDEF", "GHJKMNPQ",
            "RSTV", "W", "X", "Y"], strict=True)] == [True] * 6  # fmt: skip


@settings(max_examples=40, deadline=None)  # scrypt takes tens of milliseconds a code
@given(private_addresses, ports, fingerprints)
def test_a_code_gives_back_its_address_port_and_certificate(
    address: str, port: int, fingerprint: bytes
) -> None:
    code = make_join_code(address, port, fingerprint)
    parsed = parse_join_code(code)
    assert (parsed.address, parsed.port, parsed.text) == (address, port, code)
    assert parsed.matches(fingerprint)
    assert len(bare(code)) <= (12 if port == DEFAULT_PORT else 16)


def test_every_single_substitution_is_refused() -> None:
    for code in codes_of_each_kind():
        chars = bare(code)
        for at, original in enumerate(chars):
            for other in ALPHABET.replace(original, ""):
                typed = chars[:at] + other + chars[at + 1 :]
                with pytest.raises(InvalidJoinCode, match=TYPO):
                    parse_join_code(typed)


def test_every_transposition_is_refused_neighbours_or_not() -> None:
    for code in codes_of_each_kind():
        chars = list(bare(code))
        for i in range(len(chars)):
            for j in range(i + 1, len(chars)):
                if chars[i] == chars[j]:
                    continue  # swapping equal characters changes nothing
                swapped = chars.copy()
                swapped[i], swapped[j] = swapped[j], swapped[i]
                with pytest.raises(InvalidJoinCode, match=TYPO):
                    parse_join_code("".join(swapped))


def test_a_character_left_out_or_added_after_the_first_is_refused() -> None:
    # The header says how long the code is, so only a change at the very start can even
    # reach the check character.
    for code in codes_of_each_kind():
        chars = bare(code)
        typed = [chars[:at] + chars[at + 1 :] for at in range(1, len(chars))]
        typed += [chars[:at] + c + chars[at:] for at in range(1, len(chars) + 1) for c in ALPHABET]
        for text in typed:
            with pytest.raises(InvalidJoinCode, match="check it with the host"):
                parse_join_code(text)


@pytest.mark.parametrize("leading", ["0", "O", "o"])
def test_a_zero_added_in_front_or_a_leading_zero_dropped_is_refused(leading: str) -> None:
    # Without the length in the check, "0" + a 192.168 code read as a valid 10/8 code for
    # another address, and dropping a 10.8-10.11 code's leading "0" as a 192.168 one.
    for code in codes_of_each_kind():
        with pytest.raises(InvalidJoinCode):
            parse_join_code(leading + code)
    for address in ("10.8.1.2", "10.9.200.7", "10.11.0.1"):
        code = bare(make_join_code(address, DEFAULT_PORT, FINGERPRINT))
        assert code.startswith("0")
        with pytest.raises(InvalidJoinCode):
            parse_join_code(code[1:])


@settings(max_examples=30, deadline=None)
@given(private_addresses, ports, st.data())
def test_one_typo_anywhere_in_any_code_is_refused(
    address: str, port: int, data: st.DataObject
) -> None:
    chars = bare(make_join_code(address, port, FINGERPRINT))
    at = data.draw(st.integers(0, len(chars) - 1))
    if data.draw(st.booleans()) and at + 1 < len(chars) and chars[at] != chars[at + 1]:
        typed = chars[:at] + chars[at + 1] + chars[at] + chars[at + 2 :]
    else:
        other = data.draw(st.sampled_from(ALPHABET.replace(chars[at], "")))
        typed = chars[:at] + other + chars[at + 1 :]
    with pytest.raises(InvalidJoinCode, match=TYPO):
        parse_join_code(typed)


@pytest.mark.parametrize(
    "typed",
    [
        "G12G-P7HD-H0T",
        "g12g-p7hd-h0t",
        "G12GP7HDH0T",
        "  g12g p7hd h0t\t",
        "G-1-2-G-P-7-H-D-H-0-T",
        "GI2G-P7HD-HOT",  # I for 1, O for 0, as Crockford allows
        "gl2g-p7hd-hot",  # l for 1
    ],
)
def test_forgiving_ways_of_typing_a_code(typed: str) -> None:
    parsed = parse_join_code(typed)
    assert (parsed.address, parsed.port, parsed.text) == ("192.168.1.20", 47321, "G12G-P7HD-H0T")


def test_only_the_rooms_own_certificate_matches() -> None:
    parsed = parse_join_code("G12G-P7HD-H0T")
    assert parsed.matches(FINGERPRINT)
    for bit in [0, 1, 7, 29, 30, 31, 100, 255]:  # in the first 30 bits and beyond
        other = bytearray(FINGERPRINT)
        other[bit // 8] ^= 0x80 >> (bit % 8)
        assert not parsed.matches(bytes(other))
    # The same first bytes do not make a certificate match: the code holds a hash of the
    # whole fingerprint, not its first bits (which the whole LAN learns from the room's record).
    assert not parsed.matches(FINGERPRINT[:16] + bytes(16))
    assert not parsed.matches(FINGERPRINT[:31])  # not a fingerprint at all
    # The tag belongs to the address and port too: the same room elsewhere has another code.
    assert make_join_code("192.168.1.21", DEFAULT_PORT, FINGERPRINT) != "G12G-P7HD-H0Y"
    moved = parse_join_code(make_join_code("192.168.1.21", DEFAULT_PORT, FINGERPRINT))
    assert moved.tag != parsed.tag


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "172.32.0.1", "192.169.0.1", "100.64.0.1", "169.254.1.1", "127.0.0.1",
     "fd77::1", "fe80::1%eth0", "2001:db8::1", "gpu-box.local", ""],
)  # fmt: skip
def test_no_code_for_addresses_other_than_private_ipv4(address: str) -> None:
    assert not can_have_join_code(address)
    with pytest.raises(NoJoinCode) as caught:
        make_join_code(address, DEFAULT_PORT, FINGERPRINT)
    assert str(caught.value) == (
        "a join code works only on a private IPv4 network; share the room link instead"
    )
    assert isinstance(caught.value, JoinCodeError) and isinstance(caught.value, ValueError)


def test_an_ipv4_mapped_address_is_its_ipv4_address() -> None:
    assert can_have_join_code("::ffff:192.168.1.20")
    assert make_join_code("::ffff:192.168.1.20", DEFAULT_PORT, FINGERPRINT) == "G12G-P7HD-H0T"


def test_a_code_needs_a_real_port_and_fingerprint() -> None:
    for port in (0, 65536, -1):
        with pytest.raises(ValueError, match="port"):
            make_join_code("10.0.0.1", port, FINGERPRINT)
    with pytest.raises(ValueError, match="32 bytes"):
        make_join_code("10.0.0.1", DEFAULT_PORT, FINGERPRINT[:20])


def checked(data: str) -> str:
    """``data`` with the check character that makes it pass, however it is laid out."""
    total = 1  # the x^n that ties the check to the length
    for char in data:
        total <<= 1
        total = (total ^ 0b100101 if total & 0b100000 else total) ^ ALPHABET.index(char)
    total <<= 1
    return data + ALPHABET[total ^ 0b100101 if total & 0b100000 else total]


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        ("", "enter the join code the host's screen shows"),
        (" - ", "enter the join code"),
        ("G12G-P7HD-H0U", "without U, not U: check it with the host"),
        ("G12G-P7HD-H0!", "not !: check it with the host"),
        ("G12G-P7HD-H0\x1b", r"not '\\x1b'"),
        ("G12G-P7HD-H0", "a join code has 11 or 12 characters .* this one has 10"),
        ("G12G-P7HD-H0TX-XXXX-X", "this one has 17"),
        ("G12G-P7HD-H0TA", TYPO),  # one character too many, and the check fails
        # The check passes but the header says 11 characters: one was doubled or left out.
        (checked("G12G-P7HD-H0T"[:-1].replace("-", "") + "0"), TYPO),
        (checked("Z" + "0" * 14), "made by a newer version of GPT Group"),
        (checked("W" + "0" * 14), TYPO),  # port 0 is no room's
    ],
)
def test_what_is_wrong_with_a_code_is_said_in_words(typed: str, words: str) -> None:
    with pytest.raises(InvalidJoinCode, match=words):
        parse_join_code(typed)


def test_the_test_helper_makes_valid_codes() -> None:
    # checked() (above) follows the documented check character, so the refusals above are
    # about the layout, not the check: the check of a real code agrees with it.
    assert checked("G12GP7HDH0") == "G12GP7HDH0T"


@given(st.text(max_size=40) | st.text(alphabet=ALPHABET + "-ILOU ilo", max_size=20))
def test_any_text_is_a_code_or_a_sentence_saying_why_not(text: str) -> None:
    try:
        parsed = parse_join_code(text)
    except InvalidJoinCode as exc:
        assert str(exc)
    else:
        assert can_have_join_code(parsed.address) and 0 < parsed.port < 65536
        assert parse_join_code(parsed.text) == parsed


def test_a_code_is_text() -> None:
    with pytest.raises(InvalidJoinCode, match="text"):
        parse_join_code(cast(str, b"G12GP7HDH0T"))  # what a careless caller might pass
