"""Room addresses as people type or share them, turned into WebSocket URLs.

Three forms join the same way: ``host:port`` (or ``[v6]:port``, or just ``host`` for the
default port), a ``ws://host:port/`` URL, and a room link the host can copy and share:

    gptgroup://192.168.1.20:47321/?room=Team%20lunch&v=1&pw=1

A link carries what is needed to join and to show the room before joining: the address, the
room's name, the protocol version and whether a password is needed. It never carries the
password itself.

An IPv6 link-local address needs its interface (its scope) to be joinable: ``fe80::1%eth0``.
In links the ``%`` is written ``%25`` (RFC 6874: ``[fe80::1%25eth0]``); typed addresses may
use either form.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, urlsplit

from core.protocol import DEFAULT_PORT, MAX_ROOM_NAME_CHARS
from core.text_rules import clean_label

__all__ = [
    "InvalidAddress",
    "RoomAddress",
    "host_port",
    "parse_room_address",
    "room_link",
    "room_url",
    "ws_url",
]

LINK_SCHEME = "gptgroup"


def host_port(host: str, port: int | None = None, *, in_link: bool = False) -> str:
    """``host:port`` as people type it and URLs carry it: an IPv6 address in brackets
    (``[fe80::1%eth0]:47321``; ``in_link`` writes its zone's ``%`` as ``%25``, RFC 6874).
    Without ``port``, just the host, bracketed if need be."""
    if ":" in host:
        host = f"[{host.replace('%', '%25', 1) if in_link else host}]"
    return host if port is None else f"{host}:{port}"


def ws_url(host: str, port: int) -> str:
    """The ``ws://`` URL of a room at ``host`` and ``port``."""
    return f"ws://{host_port(host, port)}/"


class InvalidAddress(ValueError):
    """Text that is not a usable room address; ``str()`` says what is wrong."""


@dataclass(frozen=True)
class RoomAddress:
    """Where a room is, plus what a link said about it (None when not known)."""

    url: str
    host: str
    port: int
    name: str | None = None
    password_required: bool | None = None
    protocol: int | None = None


def parse_room_address(text: str) -> RoomAddress:
    """Read ``host:port``, a ``ws://`` URL or a ``gptgroup://`` link. Raises
    :class:`InvalidAddress` with a sentence saying what is wrong."""
    text = text.strip()
    if not text:
        raise InvalidAddress("enter an address such as 192.168.1.20:47321, or a room link")
    if "://" not in text:
        if _is_bare_ipv6(text):
            text = f"[{text}]"
        text = f"ws://{text}"
    try:
        parts = urlsplit(text)
        port = parts.port or DEFAULT_PORT
    except ValueError as exc:
        raise InvalidAddress(f"not a valid address: {exc}") from None
    if parts.scheme not in ("ws", LINK_SCHEME):
        raise InvalidAddress(f"unsupported address scheme {parts.scheme!r}; use host:port")
    host = _host_with_zone(parts.netloc, parts.hostname)
    if not host:
        raise InvalidAddress("the address has no host")
    url = ws_url(host, port)
    if parts.scheme == "ws":
        return RoomAddress(url, host, port)
    query = parse_qs(parts.query)

    def first(key: str) -> str | None:
        values = query.get(key)
        return values[0] if values else None

    version = first("v")
    password = first("pw")
    return RoomAddress(
        url=url,
        host=host,
        port=port,
        name=clean_label(first("room") or "", MAX_ROOM_NAME_CHARS) or None,
        password_required=None if password is None else password == "1",
        protocol=int(version) if version is not None and version.isdigit() else None,
    )


def room_url(text: str) -> str:
    """The ``ws://`` URL for any accepted address form. Raises :class:`InvalidAddress`."""
    return parse_room_address(text).url


def room_link(
    host: str, port: int, name: str, *, password_required: bool, protocol: int
) -> str:  # fmt: skip
    """A ``gptgroup://`` link for a room at ``host:port`` (a scoped IPv6 address keeps its
    scope, as ``[fe80::1%25eth0]``)."""
    where = host_port(host, port, in_link=True)
    room = quote(name, safe="")
    return f"{LINK_SCHEME}://{where}/?room={room}&v={protocol}&pw={int(password_required)}"


def _host_with_zone(netloc: str, hostname: str | None) -> str | None:
    """``hostname``, but an IPv6 zone keeps its case (``urlsplit`` lowers it, and interface
    names are case-sensitive) and its ``%25`` (RFC 6874) is read as ``%``."""
    if not hostname or "%" not in hostname:
        return hostname
    authority = netloc.rpartition("@")[2]
    start, end = authority.find("["), authority.find("]")
    literal = authority[start + 1 : end] if 0 <= start < end else hostname
    address, _, zone = literal.partition("%")
    if zone.startswith("25") and len(zone) > 2:
        zone = zone[2:]
    return f"{address.lower()}%{zone}"


def _is_bare_ipv6(text: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(text), ipaddress.IPv6Address)
    except ValueError:
        return False
