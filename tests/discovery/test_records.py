"""TXT records and room links on plain values: what a host announces, and what a browser
accepts from anyone on the network."""

from __future__ import annotations

import struct

import pytest

from core.address import InvalidAddress, parse_room_address, room_link
from core.discovery import RoomAdvert, decode_txt, encode_txt, resolve_interfaces
from core.protocol import PROTOCOL_VERSION, AssistantInfo, RoomInfo


def advert(**changes: object) -> RoomAdvert:
    values: dict[str, object] = {
        "room_id": "a1b2c3d4e5f6", "name": "Team lunch", "port": 47321, "host_name": "Hana",
        "participants": 3, "password_required": True, "assistant_kind": "cloud",
        "provider": "OpenAI", "model": "gpt-4o-mini",
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
    assert room.url() == "ws://10.0.0.5:47321/"


def test_the_record_stays_small_with_long_unicode_values() -> None:
    long = "Café ☕ " * 40
    txt = encode_txt(advert(name=long, host_name=long, provider=long, model=long))
    assert all(len(f"{k}={v}".encode()) <= 255 for k, v in txt.items())
    assert sum(len(f"{k}={v}".encode()) + 1 for k, v in txt.items()) < 400
    assert txt["n"].startswith("Café ☕")  # cut between characters, never inside one


def test_room_info_becomes_an_advert() -> None:
    info = RoomInfo(
        "Book club", "Ana", 4, None, False, True,
        assistant=AssistantInfo("assistant", "Ollama", "local", "llama3.2", "mention"),
    )  # fmt: skip
    a = RoomAdvert.for_room("abc123", info, 5000)
    assert (a.participants, a.assistant_kind, a.provider, a.model, a.password_required) == (
        4, "local", "Ollama", "llama3.2", True,
    )  # fmt: skip


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
        ({b"n": b"A" * 255}, lambda r: r.name == "A" * 64),
        ({b"ak": b"quantum"}, lambda r: r.assistant_kind == "unknown"),
        ({b"pw": None}, lambda r: r.password_required is False),
        ({b"rid": b"../../etc"}, lambda r: r.room_id == ""),
        ({b"N": b"Upper key"}, lambda r: r.name == "Upper key"),
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


def test_room_links_round_trip() -> None:
    link = room_link("192.168.1.20", 47321, "Team lunch & co", password_required=True, protocol=1)
    assert link == "gptgroup://192.168.1.20:47321/?room=Team%20lunch%20%26%20co&v=1&pw=1"
    parsed = parse_room_address(link)
    assert parsed.url == "ws://192.168.1.20:47321/"
    assert (parsed.name, parsed.password_required, parsed.protocol) == ("Team lunch & co", True, 1)
    v6 = parse_room_address(room_link("fd00::5", 9, "R", password_required=False, protocol=1))
    assert v6.url == "ws://[fd00::5]:9/" and v6.password_required is False


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("10.0.0.5", "ws://10.0.0.5:47321/"),
        ("10.0.0.5:9000", "ws://10.0.0.5:9000/"),
        ("fd00::5", "ws://[fd00::5]:47321/"),
        ("[fd00::5]:9000", "ws://[fd00::5]:9000/"),
        ("ws://host.local:9000/", "ws://host.local:9000/"),
        ("gptgroup://host.local:9000/?room=x", "ws://host.local:9000/"),
        ("  gptgroup://10.0.0.5  ", "ws://10.0.0.5:47321/"),
    ],
)
def test_addresses_people_type(text: str, url: str) -> None:
    assert parse_room_address(text).url == url


@pytest.mark.parametrize(
    "text", ["", "http://10.0.0.5", "10.0.0.5:99999", "gptgroup://", "wss://x:1", "10.0.0.5:abc"]
)
def test_bad_addresses_say_what_is_wrong(text: str) -> None:
    with pytest.raises(InvalidAddress):
        parse_room_address(text)


def test_a_link_never_carries_a_password() -> None:
    parsed = parse_room_address("gptgroup://h:1/?room=R&pw=1&password=secret")
    assert "secret" not in repr(parsed)


def test_interfaces_by_address_or_name() -> None:
    assert resolve_interfaces(["10.0.0.5"]) == ["10.0.0.5"]
    assert "127.0.0.1" in resolve_interfaces(["lo"])
    with pytest.raises(ValueError, match="neither an IP address nor a network interface"):
        resolve_interfaces(["no-such-interface0"])


def test_raw_txt_helper_matches_the_wire_format() -> None:
    # Guards the hostile advertiser used by the LAN tests: length-prefixed strings.
    assert struct.pack("B", 3) + b"v=1" == b"\x03v=1"
