"""The broadcast beacon on plain values: what a host sends, and what a listener accepts from
anyone on the network (see core/beacon.py and docs/protocol.md, "Broadcast beacon")."""

from __future__ import annotations

import asyncio
import struct

import ifaddr
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.beacon import (
    MAX_BEACON_BYTES,
    PER_SOURCE_BURST,
    TOTAL_BURST,
    BeaconGate,
    BeaconListener,
    BeaconRoom,
    broadcast_targets,
    decode_beacon,
    encode_beacon,
)
from core.protocol import MAX_ROOM_NAME_CHARS
from core.room_records import decode_txt, encode_txt
from core.room_tls import fingerprint_text
from tests.discovery.test_records import FINGERPRINT, advert

SOURCE = "10.0.0.5"


def datagram(entries: list[bytes], *, port: int = 47321, magic: bytes = b"GGRB",
             version: int = 1, flags: int = 0) -> bytes:  # fmt: skip
    body = b"".join(bytes([len(e)]) + e for e in entries)
    return struct.pack("!4sBBH", magic, version, flags, port) + body


def test_a_beacon_carries_what_the_txt_record_does_from_its_sender() -> None:
    sent = advert(locked=True)
    room = decode_beacon(encode_beacon(sent, 47321), SOURCE)
    assert room is not None
    via_txt = decode_txt(
        "k", "", {k.encode(): v.encode() for k, v in encode_txt(sent).items()}, [SOURCE], 47321
    )
    assert via_txt is not None
    assert room.discovered().addresses == (SOURCE,) and room.address == SOURCE
    assert (room.name, room.host_name, room.participants) == ("Team lunch", "Hana", 3)
    assert (room.password_required, room.locked, room.assistant_kind) == (True, True, "cloud")
    assert (room.provider, room.model, room.protocol) == ("OpenAI", "gpt-4o-mini", 2)
    assert room.fingerprint == FINGERPRINT and room.compatible and room.port == 47321
    assert room.verification_code == via_txt.verification_code
    assert room.discovered().found_by == ("broadcast",) and not room.goodbye
    assert decode_beacon(encode_beacon(sent, 47321, goodbye=True), SOURCE).goodbye  # type: ignore[union-attr]


def test_a_beacon_of_the_longest_fields_stays_small() -> None:
    big = advert(
        name="🎲" * MAX_ROOM_NAME_CHARS, host_name="é" * 200, provider="p" * 200, model="m" * 200,
        app_version="9" * 40,
    )  # fmt: skip
    data = encode_beacon(big, 65535)
    assert len(data) <= 8 + 399 < MAX_BEACON_BYTES
    room = decode_beacon(data, SOURCE)
    assert room is not None and room.name == "🎲" * MAX_ROOM_NAME_CHARS and not room.name_cut


def test_the_address_is_the_sender_whatever_the_datagram_says() -> None:
    fp = fingerprint_text(FINGERPRINT).encode()
    entries = [b"v=2", b"fp=" + fp, b"rid=abc123", b"n=Trap", b"a=192.0.2.66", b"addr=1.1.1.1"]
    room = decode_beacon(datagram(entries), "10.77.0.9")
    assert room is not None and room.address == "10.77.0.9"
    assert room.discovered().addresses == ("10.77.0.9",)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"GGRB",
        datagram([b"v=2"], magic=b"MDNS"),
        datagram([b"v=2", b"rid=abc", b"fp=" + fingerprint_text(FINGERPRINT).encode()], version=2),
        datagram([b"v=2", b"rid=abc"]),  # no fingerprint: beacons are newer than those rooms
        datagram([b"v=2", b"fp=" + fingerprint_text(FINGERPRINT).encode()]),  # no room id
        datagram([b"v=2", b"rid=abc", b"fp=" + fingerprint_text(FINGERPRINT).encode()], port=0),
        datagram([b"v=2"])[:-1] + b"\x09x",  # a string that runs past the end
        encode_beacon(advert(), 47321) + b"x" * MAX_BEACON_BYTES,  # too long to be read
    ],
)
def test_what_is_no_beacon_is_dropped(data: bytes) -> None:
    assert decode_beacon(data, SOURCE) is None


def test_a_beacon_from_an_address_nobody_can_reach_is_dropped() -> None:
    data = encode_beacon(advert(), 47321)
    assert decode_beacon(data, "0.0.0.0") is None
    assert decode_beacon(data, "fe80::1") is None  # link-local without its scope
    assert decode_beacon(data, "not an address") is None


def test_odd_fields_are_read_as_a_txt_record_reads_them() -> None:
    fp = fingerprint_text(FINGERPRINT).encode()
    entries = [
        # A lone surrogate (ED A0 80: not UTF-8), an escape sequence, a direction override.
        b"V=2", b"v=7", b"fp=" + fp, b"rid=abc",
        b"n=Bad\xed\xa0\x80name\x1b[31m" + "\u202e".encode(),
        b"c=-1", b"h", b"", b"=nokey", b"ak=robot", b"am=" + b"m" * 200,
    ]  # fmt: skip
    room = decode_beacon(datagram(entries), SOURCE)
    assert room is not None
    assert room.protocol == 2  # the first of duplicate keys, in any case
    assert "\x1b" not in room.name and "\u202e" not in room.name and room.name.startswith("Bad")
    assert room.participants is None and room.host_name is None
    assert room.assistant_kind == "unknown" and len(room.model or "") <= 64


sources = st.one_of(
    st.ip_addresses(v=4).map(str).filter(lambda a: a != "0.0.0.0"),
    st.ip_addresses(v=6).map(str).filter(lambda a: not a.startswith("fe80") and a != "::"),
)
fuzzed = st.one_of(
    st.binary(max_size=600),
    st.binary(max_size=500).map(lambda b: b"GGRB\x01" + b),
    st.lists(st.binary(max_size=300), max_size=12).map(datagram),
    st.lists(
        st.sampled_from([b"v=2", b"rid=ab12", b"fp=" + fingerprint_text(FINGERPRINT).encode()])
        | st.binary(max_size=120),
        max_size=10,
    ).map(lambda es: datagram([e[:255] for e in es])),
)


@given(fuzzed, sources)
def test_any_datagram_is_a_checked_room_from_its_sender_or_nothing(
    data: bytes, source: str
) -> None:
    room = decode_beacon(data, source)
    if room is None:
        return
    assert room.address == source and room.discovered().addresses == (source,)
    assert len(room.name) <= MAX_ROOM_NAME_CHARS and 0 < room.port < 65536
    assert room.room_id.isascii() and room.room_id.isalnum() and len(room.fingerprint) == 32


@given(st.text(max_size=MAX_ROOM_NAME_CHARS), st.text(max_size=100), st.integers(1, 65535))
def test_every_advert_round_trips(name: str, host: str, port: int) -> None:
    room = decode_beacon(encode_beacon(advert(name=name, host_name=host), port), SOURCE)
    assert room is not None and room.port == port and room.fingerprint == FINGERPRINT


def test_the_gate_reads_a_few_datagrams_per_source_and_a_bounded_number_in_all() -> None:
    gate = BeaconGate()
    admitted = sum(gate.admit("10.0.0.1", 0.0) for _ in range(1000))
    assert admitted == PER_SOURCE_BURST
    assert gate.admit("10.0.0.2", 0.0)  # another source is not held back by the first
    spoofed = sum(gate.admit(f"10.1.{i // 250}.{i % 250}", 0.0) for i in range(5000))
    assert spoofed <= TOTAL_BURST  # however many sources the flood pretends to come from
    assert gate.admit("10.0.0.1", 10.0)  # later, the rates refill


def test_beacons_go_to_the_directed_broadcast_of_the_rooms_own_interfaces() -> None:
    adapters = [
        ifaddr.Adapter("lo", "lo", [ifaddr.IP("127.0.0.1", 8, "lo")]),
        ifaddr.Adapter(
            "eth0",
            "eth0",
            [
                ifaddr.IP("192.168.1.20", 24, "eth0"),
                ifaddr.IP(("fd00::1", 0, 0), 64, "eth0"),
            ],
        ),
        ifaddr.Adapter("wg0", "wg0", [ifaddr.IP("10.9.0.2", 32, "wg0")]),
        ifaddr.Adapter("eth1", "eth1", [ifaddr.IP("172.16.5.9", 16, "eth1")]),
    ]
    every = ["127.0.0.1", "192.168.1.20", "fd00::1", "10.9.0.2", "172.16.5.9"]
    assert broadcast_targets(every, adapters) == [
        ("192.168.1.20", "192.168.1.255"),
        ("172.16.5.9", "172.16.255.255"),
    ]
    assert broadcast_targets(["192.168.1.20"], adapters) == [("192.168.1.20", "192.168.1.255")]


def test_no_beacon_goes_through_a_vpn_even_with_a_broadcast_address() -> None:
    adapters = [
        ifaddr.Adapter("eth0", "eth0", [ifaddr.IP("192.168.1.20", 24, "eth0")]),
        ifaddr.Adapter("tun0", "tun0", [ifaddr.IP("10.8.0.6", 24, "tun0")]),
        ifaddr.Adapter("corpvpn", "Corp VPN", [ifaddr.IP("10.20.0.3", 16, "corpvpn")]),
    ]
    every = ["192.168.1.20", "10.8.0.6", "10.20.0.3"]
    assert broadcast_targets(every, adapters) == [("192.168.1.20", "192.168.1.255")]


def test_a_beacon_from_outside_this_machines_networks_is_dropped_unread() -> None:
    heard: list[BeaconRoom] = []
    listener = BeaconListener(heard.append)
    sent = encode_beacon(advert(), 47321)

    async def feed() -> None:
        listener._received(sent, ("8.8.8.8", 47322))  # spoofed from far away
        listener._received(sent, ("127.0.0.1", 47322))  # this machine itself

    asyncio.run(feed())
    assert [room.address for room in heard] == ["127.0.0.1"]
    assert listener.off_link == 1 and listener.gate.dropped == 0
