"""Room addresses as people type them, turned into WebSocket URLs."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from core.protocol import DEFAULT_PORT

__all__ = ["InvalidAddress", "room_url"]


class InvalidAddress(ValueError):
    """Text that is not a usable room address; ``str()`` says what is wrong."""


def room_url(text: str) -> str:
    """The ``ws://`` URL for ``host``, ``host:port``, ``[v6]:port`` or a ``ws://`` URL.

    The port defaults to the protocol's default port. Raises :class:`InvalidAddress`.
    """
    text = text.strip()
    if not text:
        raise InvalidAddress("enter an address such as 192.168.1.20:47321")
    if "://" not in text:
        if _is_bare_ipv6(text):
            text = f"[{text}]"
        text = f"ws://{text}"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InvalidAddress(f"not a valid address: {exc}") from None
    if parts.scheme != "ws":
        raise InvalidAddress(f"unsupported address scheme {parts.scheme!r}; use host:port")
    host = parts.hostname
    if not host:
        raise InvalidAddress("the address has no host")
    shown = f"[{host}]" if ":" in host else host
    return f"ws://{shown}:{port or DEFAULT_PORT}/"


def _is_bare_ipv6(text: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(text), ipaddress.IPv6Address)
    except ValueError:
        return False
