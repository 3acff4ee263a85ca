"""This machine's network addresses, for telling people how to reach a room."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence

import ifaddr

__all__ = ["joinable_addresses", "lan_addresses"]


def lan_addresses() -> list[str]:
    """The IPv4 addresses of this machine's interfaces, then global IPv6 ones.

    Loopback and link-local addresses are left out (others cannot use them). Reads the
    interface table only; sends nothing.
    """
    v4: list[str] = []
    v6: list[str] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            raw = ip.ip if isinstance(ip.ip, str) else ip.ip[0]
            try:
                address = ipaddress.ip_address(raw)
            except ValueError:
                continue
            if address.is_loopback or address.is_link_local or address.is_unspecified:
                continue
            (v4 if address.version == 4 else v6).append(str(address))
    return sorted(set(v4)) + sorted(set(v6))


def joinable_addresses(
    addresses: Iterable[str], adapters: Sequence[ifaddr.Adapter] | None = None
) -> list[str]:
    """``addresses`` as others can use them, in order and without repeats.

    An IPv6 link-local address means nothing without its interface, so one given without a
    scope gets the scope of the interface that holds it (``fe80::1%eth0``) and is left out
    when no interface of ``adapters`` (this machine's, by default) does. Unspecified
    addresses are left out; everything else (names included) is kept as it is.
    """
    result: list[str] = []
    for text in addresses:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            shown: str | None = text  # a host name
        else:
            shown = None if address.is_unspecified else str(address)
            if isinstance(address, ipaddress.IPv6Address) and _needs_scope(address):
                if adapters is None:
                    adapters = list(ifaddr.get_adapters())
                shown = _with_scope(address, adapters)
        if shown is not None and shown not in result:
            result.append(shown)
    return result


def _needs_scope(address: ipaddress.IPv6Address) -> bool:
    return address.is_link_local and address.scope_id is None


def _with_scope(address: ipaddress.IPv6Address, adapters: Sequence[ifaddr.Adapter]) -> str | None:
    """``address%scope`` from the interface that has it, or None if none does."""
    for adapter in adapters:
        for ip in adapter.ips:
            if isinstance(ip.ip, str):
                continue
            raw, _flowinfo, scope_id = ip.ip
            try:
                same = ipaddress.ip_address(raw.split("%", 1)[0]) == address
            except ValueError:
                continue
            if same:
                scope = _scope_name(adapter.name, scope_id)
                return f"{address}%{scope}" if scope else None
    return None


def _scope_name(interface: str, scope_id: int) -> str | None:
    """The interface's name where the system resolves names as scopes (POSIX), else its
    index (Windows, where adapter names are GUIDs)."""
    try:
        socket.if_nametoindex(interface)
    except (OSError, AttributeError):
        return str(scope_id) if scope_id else None
    return interface
