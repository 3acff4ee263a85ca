"""Room addresses as people type or share them, turned into ``wss://`` URLs.

Three forms join the same way: ``host:port`` (or ``[v6]:port``, or just ``host`` for the
default port), a ``wss://host:port/`` URL, and a room link the host can copy and share:

    gptgroup://192.168.1.20:47321/?room=Team%20lunch&v=2&pw=1&fp=aaaq...

A link carries what is needed to join and to show the room before joining: the address, the
room's name, the protocol version, whether a room code is needed and the fingerprint of the
room's certificate (``fp``, see :mod:`core.room_tls`), which the client then pins. It never
carries the room code itself. Without ``fp`` (a typed address, or a link without one) the
client learns the certificate when it connects, and people compare the verification code.

Every room connection is TLS. A ``ws://`` URL (how rooms were written before they were
encrypted) is read as the same address over ``wss://``: the client never speaks in the clear,
so nothing is lost by reading it, and a room of the old kind then says, through the client,
that it must be updated.

An IPv6 link-local address needs its interface (its scope) to be joinable: ``fe80::1%eth0``.
In links the ``%`` is written ``%25`` (RFC 6874: ``[fe80::1%25eth0]``); typed addresses may
use either form.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, urlsplit

from core.protocol import DEFAULT_PORT, MAX_ROOM_NAME_CHARS
from core.room_tls import InvalidFingerprint, fingerprint_text, parse_fingerprint
from core.text_rules import clean_label

__all__ = [
    "InvalidAddress",
    "RoomAddress",
    "host_port",
    "parse_room_address",
    "room_link",
    "room_url",
    "wss_url",
]

LINK_SCHEME = "gptgroup"


def host_port(host: str, port: int | None = None, *, in_link: bool = False) -> str:
    """``host:port`` as people type it and URLs carry it: an IPv6 address in brackets
    (``[fe80::1%eth0]:47321``; ``in_link`` writes its zone's ``%`` as ``%25``, RFC 6874).
    Without ``port``, just the host, bracketed if need be."""
    if ":" in host:
        host = f"[{host.replace('%', '%25', 1) if in_link else host}]"
    return host if port is None else f"{host}:{port}"


def wss_url(host: str, port: int) -> str:
    """The ``wss://`` URL of a room at ``host`` and ``port``."""
    return f"wss://{host_port(host, port)}/"


class InvalidAddress(ValueError):
    """Text that is not a usable room address; ``str()`` says what is wrong."""


@dataclass(frozen=True)
class RoomAddress:
    """Where a room is, plus what a link said about it (None when not known).

    ``fingerprint`` is the room certificate's fingerprint from a link's ``fp``: a client
    pins it. None means nobody said which certificate to expect (see the module docstring).
    """

    url: str
    host: str
    port: int
    name: str | None = None
    password_required: bool | None = None
    protocol: int | None = None
    fingerprint: bytes | None = None


def parse_room_address(text: str) -> RoomAddress:
    """Read ``host:port``, a ``wss://`` (or ``ws://``) URL or a ``gptgroup://`` link. Raises
    :class:`InvalidAddress` with a sentence saying what is wrong, a damaged ``fp`` included."""
    text = text.strip()
    if not text:
        raise InvalidAddress("enter an address such as 192.168.1.20:47321, or a room link")
    if "://" not in text:
        if _is_bare_ipv6(text):
            text = f"[{text}]"
        text = f"wss://{text}"
    try:
        parts = urlsplit(text)
        port = parts.port or DEFAULT_PORT
    except ValueError as exc:
        raise InvalidAddress(f"not a valid address: {exc}") from None
    if parts.scheme not in ("wss", "ws", LINK_SCHEME):
        raise InvalidAddress(f"unsupported address scheme {parts.scheme!r}; use host:port")
    host = _host_with_zone(parts.netloc, parts.hostname)
    if not host:
        raise InvalidAddress("the address has no host")
    if not _is_host(host):
        raise InvalidAddress(
            f"{host[:60]!r} is neither an address such as 192.168.1.20 nor a computer's name"
        )
    url = wss_url(host, port)
    if parts.scheme != LINK_SCHEME:
        return RoomAddress(url, host, port)
    query = parse_qs(parts.query)

    def first(key: str) -> str | None:
        values = query.get(key)
        return values[0] if values else None

    password = first("pw")
    return RoomAddress(
        url=url,
        host=host,
        port=port,
        name=clean_label(first("room") or "", MAX_ROOM_NAME_CHARS) or None,
        password_required=None if password is None else password == "1",
        protocol=_protocol_number(first("v")),
        fingerprint=_link_fingerprint(parts.query),
    )


_LABEL = re.compile(r"(?!-)[\w-]{1,63}(?<!-)")


def _is_host(host: str) -> bool:
    """Whether ``host`` is an IP address (an IPv6 one with its zone) or a host name: dot
    separated labels of letters, digits, hyphens and underscores (not at a label's ends)."""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    else:
        return True
    name = host.removesuffix(".")
    return 0 < len(name) <= 253 and all(_LABEL.fullmatch(label) for label in name.split("."))


def room_url(text: str) -> str:
    """The ``wss://`` URL for any accepted address form. Raises :class:`InvalidAddress`."""
    return parse_room_address(text).url


def room_link(
    host: str, port: int, name: str, *, password_required: bool, protocol: int,
    fingerprint: bytes | None = None,
) -> str:  # fmt: skip
    """A ``gptgroup://`` link for a room at ``host:port`` (a scoped IPv6 address keeps its
    scope, as ``[fe80::1%25eth0]``), carrying the certificate's ``fingerprint`` when given."""
    where = host_port(host, port, in_link=True)
    room = quote(name, safe="")
    link = f"{LINK_SCHEME}://{where}/?room={room}&v={protocol}&pw={int(password_required)}"
    return link if fingerprint is None else f"{link}&fp={fingerprint_text(fingerprint)}"


def _protocol_number(value: str | None) -> int | None:
    """A link's ``v``: a protocol number of at most a few ASCII digits, else None (not
    known). ``str.isdigit`` alone would let through digits ``int`` refuses (``"²"``) and
    numbers too long for it (thousands of digits)."""
    if value is None or not value.isascii() or not value.isdigit() or len(value) > 9:
        return None
    return int(value)


def _link_fingerprint(query: str) -> bytes | None:
    """The fingerprint a link's ``fp`` names; None without ``fp``. A link with an ``fp``
    that is not one fingerprint, exactly, is refused rather than joined unpinned: it was
    damaged on its way (cut, or its case changed), and the check it asks for cannot be made.
    """
    values = parse_qs(query, keep_blank_values=True).get("fp")
    if values is None:
        return None
    if len(values) > 1:
        raise InvalidAddress(
            "the room link names more than one certificate (fp); ask the host for the link again"
        )
    try:
        return parse_fingerprint(values[0])
    except InvalidFingerprint as exc:
        raise InvalidAddress(
            f"the room link's certificate fingerprint (fp) is damaged: {exc}; "
            "ask the host to share the link again"
        ) from None


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
