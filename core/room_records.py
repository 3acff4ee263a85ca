"""A room's DNS-SD TXT record: what a host announces and what a browser makes of it. No I/O.

:func:`encode_txt` turns a :class:`RoomAdvert` into short keys under 400 bytes, the room's name
and certificate fingerprint always whole; :func:`decode_txt` turns any TXT record, however
malformed, into a checked :class:`DiscoveredRoom` or drops it, and never raises. The keys are
listed in ``docs/protocol.md`` ("Discovery on the LAN").
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from core import __version__
from core.address import wss_url
from core.protocol import MAX_ROOM_NAME_CHARS, PROTOCOL_VERSION, RoomInfo
from core.room_tls import (
    FINGERPRINT_TEXT_CHARS,
    InvalidFingerprint,
    fingerprint_text,
    parse_fingerprint,
    verification_code,
)
from core.text_rules import clean_label

__all__ = [
    "MAX_ADDRESSES",
    "MAX_TXT_RECORD_BYTES",
    "DiscoveredRoom",
    "FoundBy",
    "RoomAdvert",
    "clip_utf8",
    "decode_txt",
    "encode_txt",
    "is_joinable_address",
    "parse_address",
    "read_room_id",
    "room_key",
]

# The TXT record. A room name of MAX_ROOM_NAME_CHARS characters takes at most four bytes
# each, so ``n`` always carries a valid name in full, and ``fp`` is always its 52 characters;
# the other free-text values are cut instead when the record would grow past
# MAX_TXT_RECORD_BYTES (what is never cut takes at most 288 bytes: see the tests).
MAX_TXT_RECORD_BYTES = 399  # the whole record, length bytes included: under 400
MAX_NAME_TXT_BYTES = 4 * MAX_ROOM_NAME_CHARS  # 160
_TXT_CAPS = {"h": 96, "ap": 48, "am": 64, "av": 16}  # bytes, before the record limit
_CUT_FIRST = ("h", "ap", "am")  # what gives way when the record is too long, in this order
_TXT_LIMITS = {"h": 32, "ap": 48, "am": 64, "av": 16}  # characters kept when reading
ELLIPSIS = "\u2026"
MAX_ADDRESSES = 8  # per room; a record could list hundreds, each one a connection to try

FoundBy = Literal["mdns", "broadcast", "scan"]
"""How a room was found: its mDNS record, its broadcast beacon, or a scan of the network."""


@dataclass(frozen=True)
class RoomAdvert:
    """What a host tells the LAN about one room. No chat content, no secrets.

    ``fingerprint`` is the room certificate's (32 bytes), which browsers pin.
    """

    room_id: str
    name: str
    port: int
    fingerprint: bytes
    host_name: str | None = None
    participants: int = 0
    password_required: bool = False
    locked: bool = False
    assistant_kind: str = "none"  # "cloud", "local" or "none"
    provider: str | None = None
    model: str | None = None
    protocol: int = PROTOCOL_VERSION
    app_version: str = __version__

    @classmethod
    def for_room(cls, room_id: str, info: RoomInfo, port: int, fingerprint: bytes) -> RoomAdvert:
        assistant = info.assistant
        return cls(
            room_id=room_id, name=info.name, port=port, fingerprint=fingerprint,
            host_name=info.host_name,
            participants=info.participant_count, password_required=info.password_required,
            locked=info.locked, assistant_kind=assistant.provider_kind if assistant else "none",
            provider=assistant.provider if assistant else None,
            model=assistant.model if assistant else None,
        )  # fmt: skip


def clip_utf8(text: str, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` of UTF-8, never inside a character."""
    return text.encode()[: max(0, max_bytes)].decode("utf-8", errors="ignore")


def _record_bytes(txt: dict[str, str]) -> int:
    """The size of ``txt`` on the wire: each ``key=value`` string and its length byte."""
    return sum(1 + len(f"{key}={value}".encode()) for key, value in txt.items())


def encode_txt(advert: RoomAdvert) -> dict[str, str]:
    """The TXT properties for ``advert``: short keys, the whole record under 400 bytes.

    The room name is carried in full (a valid name is at most :data:`MAX_NAME_TXT_BYTES`),
    so a browser can match it exactly, and so is the fingerprint; the host name, then the
    provider, then the model are cut (between characters) or left out when the record would
    be too long.
    """
    txt = {
        "v": str(advert.protocol),
        "fp": fingerprint_text(advert.fingerprint),
        "rid": advert.room_id,
        "n": clip_utf8(advert.name, MAX_NAME_TXT_BYTES),
        "c": str(advert.participants),
        "pw": "1" if advert.password_required else "0",
        "lk": "1" if advert.locked else "0",
        "ak": advert.assistant_kind,
        "av": clip_utf8(advert.app_version, _TXT_CAPS["av"]),
    }
    for key, value in (("h", advert.host_name), ("ap", advert.provider), ("am", advert.model)):
        if value and (clipped := clip_utf8(value, _TXT_CAPS[key])):
            txt[key] = clipped
    for key in _CUT_FIRST:
        excess = _record_bytes(txt) - MAX_TXT_RECORD_BYTES
        if excess <= 0:
            break
        if key in txt:
            kept = clip_utf8(txt[key], len(txt[key].encode()) - excess)
            if kept:
                txt[key] = kept
            else:
                del txt[key]
    return txt


@dataclass(frozen=True)
class DiscoveredRoom:
    """A room seen on the LAN, with every field checked. ``key`` identifies it while listed."""

    key: str
    room_id: str
    name: str
    host_name: str | None
    participants: int | None
    password_required: bool
    assistant_kind: str  # "cloud", "local", "none" or "unknown"
    provider: str | None
    model: str | None
    protocol: int | None
    app_version: str | None
    addresses: tuple[str, ...]
    port: int
    own: bool = False
    locked: bool = False  # the host refuses new joins for now
    reachable: str | None = None  # the address that last answered, if any
    # The record announced a name longer than any room name may be: ``name`` shows its start
    # and ends in an ellipsis, and is not the room's name (so it never matches one typed).
    name_cut: bool = False
    # The certificate the record names (its ``fp``), which the browser's checks and a join
    # pin; None when the record has none, or none that is valid.
    fingerprint: bytes | None = None
    # How the room was found, each way once, in this order: "broadcast", "mdns", "scan" (a
    # tuple rather than a set, so that it compares and prints as JSON the same every time).
    found_by: tuple[FoundBy, ...] = ()

    @property
    def compatible(self) -> bool:
        """Whether this app can join it: our protocol version, and a certificate to pin."""
        return self.protocol == PROTOCOL_VERSION and self.fingerprint is not None

    @property
    def verification_code(self) -> str | None:
        """The code people compare with the host's (None without a fingerprint)."""
        return None if self.fingerprint is None else verification_code(self.fingerprint)

    def url(self) -> str:
        """The address to join: the one that answered, else the first advertised."""
        return wss_url(self.reachable or self.addresses[0], self.port)


def room_key(room_id: str, fingerprint: bytes | None, port: int) -> str | None:
    """The key of a room with this room id and certificate, reached at ``port``, however it
    was found (its mDNS record, its beacon, a scan), so that it is listed once; None without
    a room id or a fingerprint. (The port is part of it so that every way a room was found
    reaches it at the one port its entry shows.)"""
    if not room_id or fingerprint is None:
        return None
    return f"room:{room_id}:{fingerprint_text(fingerprint)}:{port}"


def read_room_id(raw: str) -> str:
    """A room id read from the network, or "" for one that is not short letters and digits."""
    return raw if raw.isascii() and raw.isalnum() and len(raw) <= 32 else ""


def _text(raw: bytes | None, limit: int) -> str | None:
    if raw is None:
        return None
    return clean_label(raw[: limit * 4].decode("utf-8", errors="replace"), limit) or None


def _room_name(raw: bytes | None, instance: str) -> tuple[str, bool]:
    """The name to show for a room (from ``n``, else from the instance name), and whether it
    had to be cut (see ``DiscoveredRoom.name_cut``)."""
    limit = MAX_ROOM_NAME_CHARS
    announced = raw[: 8 * limit].decode("utf-8", errors="replace") if raw is not None else ""
    for text in (announced, instance):
        name = clean_label(text, limit + 1)
        if len(name) > limit:
            return name[: limit - 1].rstrip() + ELLIPSIS, True
        if name:
            return name, False
    return "Unnamed room", False


def _fingerprint(raw: bytes | None) -> bytes | None:
    """The fingerprint ``fp`` names, read strictly; None for anything else."""
    if raw is None or len(raw) != FINGERPRINT_TEXT_CHARS:
        return None
    try:
        return parse_fingerprint(raw.decode("ascii"))
    except (UnicodeDecodeError, InvalidFingerprint):
        return None


def _int(raw: bytes | None, low: int, high: int) -> int | None:
    if raw is None or not raw.isdigit() or len(raw) > 6:
        return None
    value = int(raw)
    return value if low <= value <= high else None


def decode_txt(
    key: str, instance: str, properties: dict[bytes, bytes | None],
    addresses: Sequence[str], port: int | None,
) -> DiscoveredRoom | None:  # fmt: skip
    """A checked :class:`DiscoveredRoom` from raw TXT properties, or None if unusable.

    Unusable means no address or no port: nothing to connect to. Every other field falls back
    to a safe value (unknown version, unknown participant count, name from the instance name,
    no fingerprint: then the room is not :attr:`~DiscoveredRoom.compatible`).
    IPv6 link-local addresses without a scope are left out (nobody can connect to one), and
    at most :data:`MAX_ADDRESSES` addresses are kept, IPv4 first. Never raises.
    """
    usable = sorted({a for a in addresses if is_joinable_address(a)}, key=lambda a: (":" in a, a))
    if not usable or port is None or not 0 < port < 65536:
        return None
    props: dict[bytes, bytes | None] = {}
    for k, v in properties.items():  # zeroconf keeps the first of duplicate keys already
        if isinstance(k, bytes) and (v is None or isinstance(v, bytes)):
            props.setdefault(k.lower(), v)
    kind = (props.get(b"ak") or b"").decode("ascii", errors="replace")
    name, name_cut = _room_name(props.get(b"n"), instance)
    room_id = (props.get(b"rid") or b"").decode("ascii", errors="replace")
    return DiscoveredRoom(
        key=key,
        room_id=read_room_id(room_id),
        name=name,
        name_cut=name_cut,
        host_name=_text(props.get(b"h"), _TXT_LIMITS["h"]),
        participants=_int(props.get(b"c"), 0, 100_000),
        password_required=props.get(b"pw") == b"1",
        locked=props.get(b"lk") == b"1",
        assistant_kind=kind if kind in ("cloud", "local", "none") else "unknown",
        provider=_text(props.get(b"ap"), _TXT_LIMITS["ap"]),
        model=_text(props.get(b"am"), _TXT_LIMITS["am"]),
        protocol=_int(props.get(b"v"), 0, 1000),
        app_version=_text(props.get(b"av"), _TXT_LIMITS["av"]),
        addresses=tuple(usable[:MAX_ADDRESSES]),
        port=port,
        fingerprint=_fingerprint(props.get(b"fp")),
    )


def parse_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def is_joinable_address(text: str) -> bool:
    """Whether ``text`` is an address one could connect to (a link-local IPv6 address only
    with the scope that says which interface it is on)."""
    address = parse_address(text)
    if address is None or address.is_unspecified or address.is_multicast:
        return False
    return not (
        isinstance(address, ipaddress.IPv6Address)
        and address.is_link_local
        and address.scope_id is None
    )
