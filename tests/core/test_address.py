"""Addresses and room links as the host prints them and as people type them back."""

from __future__ import annotations

from urllib.parse import quote

import ifaddr
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from core.address import InvalidAddress, host_port, parse_room_address, room_link, wss_url
from core.netinfo import joinable_addresses
from core.room_tls import fingerprint_text

# docs/protocol.md's test vector: the fingerprint 00 01 ... 1f and its text form.
FINGERPRINT = bytes(range(32))
FP_TEXT = "aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypq"

# "lo" exists on every machine these tests run on, so the system knows it as a scope name;
# "nosuch9" does not, so its scope is given by number.
LOOPBACK_IPS = [ifaddr.IP("127.0.0.1", 8, "lo"), ifaddr.IP(("fe80::1", 0, 1), 64, "lo")]
ADAPTERS = [
    ifaddr.Adapter("lo", "lo", LOOPBACK_IPS),
    ifaddr.Adapter("nosuch9", "nosuch9", [ifaddr.IP(("fe80::2", 0, 7), 64, "nosuch9")]),
]


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        (["fe80::1"], ["fe80::1%lo"]),  # the scope of the interface that holds it
        (["FE80::0:1"], ["fe80::1%lo"]),
        (["fe80::2"], ["fe80::2%7"]),  # by index where the name is no scope
        (["fe80::3"], []),  # on no interface: it cannot be joined, so it is left out
        (["fe80::3%eth1"], ["fe80::3%eth1"]),  # a scope given is kept
        (["0.0.0.0", "::"], []),
        (["192.168.1.20", "192.168.1.20", "fd00::5"], ["192.168.1.20", "fd00::5"]),
        (["gpu-box.local"], ["gpu-box.local"]),
    ],
)
def test_only_joinable_addresses_are_shown(given: list[str], shown: list[str]) -> None:
    assert joinable_addresses(given, ADAPTERS) == shown


def test_a_link_keeps_the_scope_of_a_link_local_address() -> None:
    link = room_link("fe80::1%eth0", 47321, "Team lunch", password_required=False, protocol=2)
    assert link == "gptgroup://[fe80::1%25eth0]:47321/?room=Team%20lunch&v=2&pw=0"
    address = parse_room_address(link)
    assert (address.host, address.url) == ("fe80::1%eth0", "wss://[fe80::1%eth0]:47321/")


@pytest.mark.parametrize(
    "typed",
    [
        "[fe80::1%eth0]:47321",
        "[fe80::1%25eth0]:47321",
        "wss://[fe80::1%eth0]:47321/",
        "ws://[fe80::1%eth0]:47321/",  # an address from before rooms were encrypted
        "gptgroup://[FE80::1%25eth0]:47321/?room=x",
    ],
)
def test_typed_scoped_addresses_join_the_same_room(typed: str) -> None:
    assert parse_room_address(typed).url == "wss://[fe80::1%eth0]:47321/"


def test_an_interface_name_keeps_its_case() -> None:
    assert parse_room_address("[fe80::1%Eth0]:1").url == "wss://[fe80::1%Eth0]:1/"


def test_a_link_carries_the_fingerprint_to_pin_and_a_typed_address_none() -> None:
    link = room_link(
        "192.168.1.20", 47321, "Team lunch", password_required=True, protocol=2,
        fingerprint=FINGERPRINT,
    )  # fmt: skip
    assert link == (
        f"gptgroup://192.168.1.20:47321/?room=Team%20lunch&v=2&pw=1&fp={FP_TEXT}"
    )  # as docs/protocol.md shows it
    assert parse_room_address(link).fingerprint == FINGERPRINT
    assert parse_room_address("192.168.1.20:47321").fingerprint is None
    assert parse_room_address("wss://192.168.1.20:47321/").fingerprint is None
    no_fp = room_link("192.168.1.20", 47321, "Team lunch", password_required=True, protocol=2)
    assert "fp=" not in no_fp and parse_room_address(no_fp).fingerprint is None


@pytest.mark.parametrize(
    "fp",
    [
        "",  # emptied
        FP_TEXT[:30],  # cut short when pasted
        FP_TEXT.upper(),  # one fingerprint, one text
        FP_TEXT[:-1] + "r",  # the same bytes with stray bits
        FP_TEXT + "%00",
        "%20" + FP_TEXT,
    ],
    ids=["empty", "cut", "upper", "stray-bits", "nul", "space"],
)
def test_a_damaged_fingerprint_refuses_the_link_instead_of_joining_unpinned(fp: str) -> None:
    with pytest.raises(InvalidAddress, match="fingerprint"):
        parse_room_address(f"gptgroup://10.0.0.5:1/?room=R&v=2&pw=0&fp={fp}")


def test_a_link_naming_two_certificates_is_refused() -> None:
    other = fingerprint_text(bytes(32))
    with pytest.raises(InvalidAddress, match="more than one"):
        parse_room_address(f"gptgroup://10.0.0.5:1/?room=R&fp={FP_TEXT}&fp={other}")


@pytest.mark.parametrize(
    ("host", "port", "in_link", "shown"),
    [
        ("192.168.1.20", 47321, False, "192.168.1.20:47321"),
        ("2001:db8::1", 47321, False, "[2001:db8::1]:47321"),
        ("fe80::1%eth0", 47321, False, "[fe80::1%eth0]:47321"),
        ("fe80::1%eth0", 47321, True, "[fe80::1%25eth0]:47321"),
        ("gpu-box.local", None, False, "gpu-box.local"),
        ("::1", None, False, "[::1]"),
    ],
)
def test_one_way_to_write_host_and_port(
    host: str, port: int | None, in_link: bool, shown: str
) -> None:
    assert host_port(host, port, in_link=in_link) == shown


def test_a_room_url_for_an_ipv6_host_has_brackets() -> None:
    assert wss_url("2001:db8::1", 5) == "wss://[2001:db8::1]:5/"


@pytest.mark.parametrize(
    ("v", "protocol"),
    [("2", 2), ("02", 2), ("²", None), ("٣", None), ("9" * 4300, None), ("-1", None), ("", None)],
    ids=["2", "02", "superscript", "arabic-indic", "4300-digits", "negative", "empty"],
)
def test_a_link_reads_a_protocol_number_or_none(v: str, protocol: int | None) -> None:
    """Before, ``v=²`` and a 4300-digit ``v`` raised a bare ValueError (``str.isdigit``
    says yes, ``int`` says no), which callers catching InvalidAddress let through."""
    link = f"gptgroup://10.0.0.5:1/?room=R&v={quote(v)}&pw=1"
    assert parse_room_address(link).protocol == protocol


_QUERY_VALUE = st.one_of(
    st.text(),
    st.text(st.characters(categories=["Nd", "No"])),  # what str.isdigit says yes to
    st.just(FP_TEXT),
)


@given(room=_QUERY_VALUE, v=_QUERY_VALUE, pw=_QUERY_VALUE, fp=st.none() | _QUERY_VALUE)
@example(room="R", v="²", pw="1", fp=None)
@example(room="R", v="9" * 4300, pw="1", fp=None)
def test_any_link_query_is_read_or_refused_with_invalid_address(
    room: str, v: str, pw: str, fp: str | None
) -> None:
    link = f"gptgroup://10.0.0.5:1/?room={quote(room)}&v={quote(v)}&pw={quote(pw)}"
    if fp is not None:
        link += f"&fp={quote(fp)}"
    try:
        address = parse_room_address(link)
    except InvalidAddress:
        return
    assert address.url == "wss://10.0.0.5:1/"
    assert address.protocol is None or (v.isascii() and int(v) == address.protocol)
    assert address.password_required is (None if not pw else pw == "1")


@pytest.mark.parametrize("text", ["not an address at all!", "-bad", "a b:47321", "x" * 70, "é..x"])
def test_what_is_no_host_name_nor_address_is_refused_in_words(text: str) -> None:
    with pytest.raises(InvalidAddress, match=r"neither an address such as 192\.168\.1\.20 nor"):
        parse_room_address(text)


@pytest.mark.parametrize("text", ["pc1:47321", "my-laptop.local", "bücher.example", "a_b"])
def test_computer_names_are_addresses(text: str) -> None:
    assert parse_room_address(text).host == text.split(":", maxsplit=1)[0]
