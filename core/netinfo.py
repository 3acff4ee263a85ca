"""This machine's network addresses, for telling people how to reach a room."""

from __future__ import annotations

import ipaddress

import ifaddr

__all__ = ["lan_addresses"]


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
