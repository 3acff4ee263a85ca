"""TXT records and room links on plain values: what a host announces, and what a browser
accepts from anyone on the network."""

from __future__ import annotations

import json
import struct
import unicodedata
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cli.rooms import describe_room, matching_rooms, room_json
from core.address import InvalidAddress, parse_room_address, room_link
from core.discovery import BrowserEvent
from core.protocol import MAX_ROOM_NAME_CHARS, PROTOCOL_VERSION, AssistantInfo, RoomInfo
from core.room_records import (
    MAX_ADDRESSES,
    MAX_TXT_RECORD_BYTES,
    DiscoveredRoom,
    RoomAdvert,
    decode_txt,
    encode_txt,
)
from core.room_tls import fingerprint_text, verification_code

# docs/protocol.md's test vector: the fingerprint 00 01 ... 1f and its text form.
FINGERPRINT = bytes(range(32))
FP_TEXT = "aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypq"


def advert(**changes: object) -> RoomAdvert:
    values: dict[str, object] = {
        "room_id": "a1b2c3d4e5f6", "name": "Team lunch", "port": 47321, "host_name": "Hana",
        "participants": 3, "password_required": True, "assistant_kind": "cloud",
        "provider": "OpenAI", "model": "gpt-4o-mini", "fingerprint": FINGERPRINT,
    }  # fmt: skip
    return RoomAdvert(**(values | changes))  # type: ignore[arg-type]


def as_props(txt: dict[str, str]) -> dict[bytes, bytes | None]:
    return {k.encode(): v.encode() for k, v in txt.items()}


def test_an_advert_round_trips() -> None:
    room = decode_txt("key", "Team lunch", as_props(encode_txt(advert())), ["10.0.0.5"], 47321)
    assert room is not None
    assert (room.name, room.host_name, room.participants, room.password_required) == (
        "Team lunch", "Hana", 3, True,
    )  # fmt: skip
    assert (room.assistant_kind, room.provider, room.model) == ("cloud", "OpenAI", "gpt-4o-mini")
    assert room.protocol == PROTOCOL_VERSION and room.compatible
    assert room.fingerprint == FINGERPRINT and room.verification_code == verification_code(
        FINGERPRINT
    )
    assert room.url() == "wss://10.0.0.5:47321/"


def record_bytes(txt: dict[str, str]) -> int:
    return sum(len(f"{k}={v}".encode()) + 1 for k, v in txt.items())


# The longest valid room name in the widest characters: four bytes each, 160 in all.
WIDEST_NAME = "🎲" * MAX_ROOM_NAME_CHARS


@pytest.mark.parametrize("name", [WIDEST_NAME, "Café ☕ Ωμέγα 日本語 " * 2, "x"])
def test_any_valid_room_name_is_announced_whole_and_the_record_stays_small(name: str) -> None:
    name = name.strip()[:MAX_ROOM_NAME_CHARS]
    long = "Café ☕ " * 40
    txt = encode_txt(advert(name=name, host_name=long, provider=long, model=long))
    assert txt["n"] == name
    assert all(len(f"{k}={v}".encode()) <= 255 for k, v in txt.items())
    assert record_bytes(txt) < 400
    room = decode_txt("key", "x", as_props(txt), ["10.0.0.5"], 1)
    assert room is not None and room.name == name and not room.name_cut


def test_the_fingerprint_is_never_cut_even_in_the_fullest_record() -> None:
    """Every value at its widest: what is never cut still fits, with room to spare, and the
    fingerprint is announced whole."""
    long = "Café ☕ " * 40
    fullest = advert(
        name=WIDEST_NAME, host_name=long, provider=long, model=long, participants=999_999,
        assistant_kind="cloud", app_version="v" * 40, room_id="f" * 12,
    )  # fmt: skip
    txt = encode_txt(fullest)
    assert txt["fp"] == FP_TEXT and txt["n"] == WIDEST_NAME
    assert record_bytes(txt) <= MAX_TXT_RECORD_BYTES
    never_cut = {k: v for k, v in txt.items() if k not in ("h", "ap", "am")}
    assert record_bytes(never_cut) <= 288  # as room_records.py says
    room = decode_txt("key", "x", as_props(txt), ["10.0.0.5"], 1)
    assert room is not None and room.fingerprint == FINGERPRINT and room.compatible


def test_the_host_name_gives_way_before_the_assistant() -> None:
    long = "Café ☕ " * 40
    txt = encode_txt(advert(name=WIDEST_NAME, host_name=long, provider=long, model=long))
    assert 396 < record_bytes(txt) < 400  # as much host name as fits
    assert len(txt["ap"].encode()) > 45 and len(txt["am"].encode()) > 61  # their own caps
    assert 0 < len(txt["h"].encode()) < 96 and long.startswith(txt["h"])  # never inside one


def test_room_info_becomes_an_advert() -> None:
    info = RoomInfo(
        "Book club", "Ana", 4, None, False, True,
        assistant=AssistantInfo("assistant", "Ollama", "local", "llama3.2", "mention"),
    )  # fmt: skip
    a = RoomAdvert.for_room("abc123", info, 5000, FINGERPRINT)
    assert (a.participants, a.assistant_kind, a.provider, a.model, a.password_required) == (
        4, "local", "Ollama", "llama3.2", True,
    )  # fmt: skip
    assert encode_txt(a)["fp"] == FP_TEXT


@pytest.mark.parametrize(
    ("props", "check"),
    [
        ({}, lambda r: r.name == "instance name" and r.protocol is None and not r.compatible),
        ({b"v": b"2"}, lambda r: r.protocol == 2 and not r.compatible),
        ({b"v": b"x1"}, lambda r: r.protocol is None),
        ({b"c": b"-1"}, lambda r: r.participants is None),
        ({b"c": b"99999999999"}, lambda r: r.participants is None),
        ({b"n": b"\xff\xfe\xfd"}, lambda r: r.name == "\ufffd\ufffd\ufffd"),
        ({b"n": "Evil\u202eeulb\x1b[2J".encode()}, lambda r: r.name == "Evileulb[2J"),
        ({b"n": b"A" * 255}, lambda r: r.name == "A" * 39 + "…" and r.name_cut),
        ({b"n": b"B" * 40}, lambda r: r.name == "B" * 40 and not r.name_cut),
        ({b"n": b" \x1b "}, lambda r: r.name == "instance name" and not r.name_cut),
        ({b"ak": b"quantum"}, lambda r: r.assistant_kind == "unknown"),
        ({b"pw": None}, lambda r: r.password_required is False),
        ({b"rid": b"../../etc"}, lambda r: r.room_id == ""),
        ({b"N": b"Upper key"}, lambda r: r.name == "Upper key"),
        ({b"v": b"2", b"fp": FP_TEXT.encode()}, lambda r: r.compatible),
        ({b"v": b"1", b"fp": FP_TEXT.encode()}, lambda r: r.fingerprint and not r.compatible),
        ({b"v": b"2", b"fp": FP_TEXT.upper().encode()}, lambda r: r.fingerprint is None),
        ({b"v": b"2", b"fp": FP_TEXT[:-1].encode()}, lambda r: not r.compatible),
        ({b"v": b"2", b"fp": FP_TEXT[:-1].encode() + b"r"}, lambda r: r.fingerprint is None),
        ({b"v": b"2", b"fp": FP_TEXT.encode() + b"\x00"}, lambda r: r.fingerprint is None),
        ({b"v": b"2", b"fp": b"\xff" * 52}, lambda r: r.fingerprint is None),
        ({b"v": b"2", b"fp": None}, lambda r: r.fingerprint is None and not r.compatible),
        ({b"v": b"2", b"FP": FP_TEXT.encode()}, lambda r: r.fingerprint == FINGERPRINT),
    ],
)
def test_hostile_values_are_tamed(props: dict[bytes, bytes | None], check: object) -> None:
    room = decode_txt("key", "instance name", props, ["10.0.0.5"], 47321)
    assert room is not None and check(room)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("addresses", "port"),
    [([], 47321), (["not an ip"], 47321), (["0.0.0.0"], 47321), (["10.0.0.5"], None),
     (["10.0.0.5"], 0), (["224.0.0.251"], 47321)],
)  # fmt: skip
def test_records_with_nothing_to_connect_to_are_dropped(
    addresses: list[str], port: int | None
) -> None:
    assert decode_txt("key", "x", {b"n": b"Room"}, addresses, port) is None


def test_addresses_are_ordered_ipv4_first() -> None:
    room = decode_txt("k", "x", {}, ["fe80::1%eth0", "10.0.0.9", "10.0.0.5", "10.0.0.5"], 1)
    assert room is not None and room.addresses == ("10.0.0.5", "10.0.0.9", "fe80::1%eth0")


def test_link_local_addresses_without_a_scope_are_left_out() -> None:
    room = decode_txt("k", "x", {}, ["fe80::1", "fe80::2%3", "fd00::5"], 1)
    assert room is not None and room.addresses == ("fd00::5", "fe80::2%3")
    assert room.url() == "wss://[fd00::5]:1/"
    assert decode_txt("k", "x", {}, ["fe80::1"], 1) is None  # nothing left to join


def test_a_record_listing_hundreds_of_addresses_keeps_a_few() -> None:
    many = [f"10.0.{i // 250}.{i % 250 + 1}" for i in range(500)]
    room = decode_txt("k", "x", {}, many, 1)
    assert room is not None and len(room.addresses) == MAX_ADDRESSES


def test_room_links_round_trip() -> None:
    link = room_link(
        "192.168.1.20", 47321, "Team lunch & co", password_required=True, protocol=2,
        fingerprint=FINGERPRINT,
    )  # fmt: skip
    assert link == (
        f"gptgroup://192.168.1.20:47321/?room=Team%20lunch%20%26%20co&v=2&pw=1&fp={FP_TEXT}"
    )
    parsed = parse_room_address(link)
    assert parsed.url == "wss://192.168.1.20:47321/"
    assert (parsed.name, parsed.password_required, parsed.protocol) == ("Team lunch & co", True, 2)
    assert parsed.fingerprint == FINGERPRINT
    v6 = parse_room_address(room_link("fd00::5", 9, "R", password_required=False, protocol=2))
    assert v6.url == "wss://[fd00::5]:9/" and v6.password_required is False
    assert v6.fingerprint is None  # joined as a typed address is: people compare the code


@given(st.binary(min_size=32, max_size=32), st.text(min_size=1, max_size=40))
def test_every_fingerprint_round_trips_through_a_link_and_a_record(
    fingerprint: bytes, name: str
) -> None:
    link = room_link("10.0.0.5", 1, name, password_required=False, protocol=2,
                     fingerprint=fingerprint)  # fmt: skip
    assert parse_room_address(link).fingerprint == fingerprint
    txt = encode_txt(advert(fingerprint=fingerprint))
    room = decode_txt("key", "x", as_props(txt), ["10.0.0.5"], 1)
    assert room is not None and room.fingerprint == fingerprint


# Near misses: mostly the right alphabet and length, with what a hostile record might hold.
near_fingerprints = st.text(
    alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyz234567AQ018=%&# \u0430\x00"),
    min_size=50,
    max_size=54,
)


@given(st.one_of(st.binary(max_size=80), near_fingerprints.map(str.encode)))
def test_any_fp_in_a_record_is_a_fingerprint_or_none(raw: bytes) -> None:
    room = decode_txt("key", "x", {b"v": b"2", b"fp": raw}, ["10.0.0.5"], 1)
    assert room is not None
    if room.fingerprint is None:
        assert not room.compatible
    else:
        assert fingerprint_text(room.fingerprint).encode() == raw and room.compatible


@given(st.one_of(st.text(max_size=80), near_fingerprints))
def test_any_fp_in_a_link_is_a_fingerprint_or_a_refusal(fp: str) -> None:
    try:
        parsed = parse_room_address(f"gptgroup://10.0.0.5:1/?room=R&fp={fp}")
    except InvalidAddress:
        return
    assert parsed.fingerprint is not None and fingerprint_text(parsed.fingerprint) == fp


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("10.0.0.5", "wss://10.0.0.5:47321/"),
        ("10.0.0.5:9000", "wss://10.0.0.5:9000/"),
        ("fd00::5", "wss://[fd00::5]:47321/"),
        ("[fd00::5]:9000", "wss://[fd00::5]:9000/"),
        ("wss://host.local:9000/", "wss://host.local:9000/"),
        ("ws://host.local:9000/", "wss://host.local:9000/"),  # never in the clear
        ("gptgroup://host.local:9000/?room=x", "wss://host.local:9000/"),
        ("  gptgroup://10.0.0.5  ", "wss://10.0.0.5:47321/"),
    ],
)
def test_addresses_people_type(text: str, url: str) -> None:
    assert parse_room_address(text).url == url


@pytest.mark.parametrize(
    "text", ["", "http://10.0.0.5", "10.0.0.5:99999", "gptgroup://", "https://x:1", "10.0.0.5:abc"]
)
def test_bad_addresses_say_what_is_wrong(text: str) -> None:
    with pytest.raises(InvalidAddress):
        parse_room_address(text)


def test_a_link_never_carries_a_password() -> None:
    parsed = parse_room_address("gptgroup://h:1/?room=R&pw=1&password=secret")
    assert "secret" not in repr(parsed)


def found(name: str, cut: bool = False) -> DiscoveredRoom:
    room = decode_txt(f"{name}@k", "x", {b"n": name.encode()}, ["10.0.0.5"], 1)
    assert room is not None
    return replace(room, name_cut=cut)


@pytest.mark.parametrize(
    ("typed", "rooms", "expected", "exact"),
    [
        ("Book club", ["Book club", "book club"], ["Book club"], True),
        ("book club", ["Book club", "book club"], ["book club"], True),
        ("BOOK CLUB", ["Book club"], ["Book club"], False),  # any case, only as a fallback
        ("BOOK CLUB", ["Book club", "book club"], ["Book club", "book club"], False),
        ("  Café   club ", ["Cafe\u0301 club"], ["Cafe\u0301 club"], True),  # NFC, spaces
        ("Book", ["Book club"], [], False),
    ],
)
def test_room_names_match_whole_and_exactly_first(
    typed: str, rooms: list[str], expected: list[str], exact: bool
) -> None:
    matches, was_exact = matching_rooms(typed, [found(n) for n in rooms])
    assert [m.name for m in matches] == [unicodedata.normalize("NFC", e) for e in expected]
    assert was_exact is exact


def test_a_name_shown_cut_never_matches() -> None:
    cut = found("A" * 39 + "…", cut=True)
    assert matching_rooms("A" * 39 + "…", [cut]) == ([], False)
    assert matching_rooms("A" * 39 + "…".upper(), [cut]) == ([], False)


def test_raw_txt_helper_matches_the_wire_format() -> None:
    # Guards the hostile advertiser used by the LAN tests: length-prefixed strings.
    assert struct.pack("B", 3) + b"v=1" == b"\x03v=1"


def test_a_room_line_is_inert_whatever_the_room_announced() -> None:
    evil = "Evil\x1b]52;c;eA==\x07\x9b2J\u202e$001\u2028"
    room = replace(
        found("x"), name=evil, host_name=evil, model=evil, provider=evil, assistant_kind="cloud"
    )
    line = describe_room(room)
    assert "Evil␛]52;c;eA==␇<U+009B>2J<U+202E>$001<U+2028>" in line
    shown = room_json(BrowserEvent("added", room))
    assert json.loads(shown)["room"]["name"] == evil
    for text in (line, shown):
        assert not [ch for ch in text if unicodedata.category(ch) in ("Cc", "Cf", "Zl")]


def test_a_locked_room_says_so_in_its_record() -> None:
    info = RoomInfo("Book club", "Ana", 4, None, True, False)
    txt = encode_txt(RoomAdvert.for_room("abc123", info, 5000, FINGERPRINT))
    room = decode_txt("key", "Book club", as_props(txt), ["10.0.0.5"], 5000)
    assert room is not None and room.locked
    unlocked = decode_txt("key", "x", as_props(encode_txt(advert())), ["10.0.0.5"], 5000)
    assert unlocked is not None and not unlocked.locked


def test_a_listed_room_shows_its_verification_code_and_what_keeps_it_out() -> None:
    room = decode_txt("key", "x", as_props(encode_txt(advert())), ["10.0.0.5"], 47321)
    assert room is not None
    code = verification_code(FINGERPRINT)
    assert f"code {code}" in describe_room(room)
    shown = json.loads(room_json(BrowserEvent("added", room)))["room"]
    assert (shown["fingerprint"], shown["verification_code"]) == (FP_TEXT, code)
    unpinned = replace(room, fingerprint=None)
    assert "INCOMPATIBLE (announced without its certificate)" in describe_room(unpinned)
    assert json.loads(room_json(BrowserEvent("added", unpinned)))["room"]["fingerprint"] is None
    older = replace(room, protocol=1, fingerprint=None)
    assert "INCOMPATIBLE (protocol 1)" in describe_room(older)
