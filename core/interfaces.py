"""This machine's network interfaces: which are up, which are loopback, which look like VPNs,
and the IPv4 networks of the local network itself. Reads the interface table only; sends
nothing.

A VPN's far end is not the local network: announcements (the broadcast beacon) and "Search
this network" stay off VPN and point-to-point interfaces, and the network check reports them.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct
import sys
from collections.abc import Sequence
from dataclasses import dataclass

import ifaddr

from core.room_records import parse_address

__all__ = [
    "NetworkInterface", "is_lan_adapter", "lan_ipv4_interfaces", "list_interfaces",
    "local_ipv4_networks",
]  # fmt: skip

_VPN_PREFIXES = ("tun", "tap", "wg", "ppp", "utun", "ipsec", "tailscale", "zt")
_VPN_WORDS = ("vpn", "wireguard", "tailscale", "zerotier", "tap-windows", "anyconnect")
_IFF_UP = 0x1
_IFF_LOOPBACK = 0x8
_IFF_POINTOPOINT = 0x10


@dataclass(frozen=True)
class NetworkInterface:
    """One network interface. ``up`` is None where the system does not say."""

    name: str
    addresses: tuple[str, ...]  # IPv4 first, then IPv6 (link-local ones with their scope)
    up: bool | None
    loopback: bool
    vpn: bool

    @property
    def lan(self) -> bool:
        """Whether it may reach the local network: up (or not known), with an address, and
        neither loopback nor a VPN."""
        return self.up is not False and bool(self.addresses) and not self.loopback and not self.vpn


def list_interfaces(adapters: Sequence[ifaddr.Adapter] | None = None) -> list[NetworkInterface]:
    """This machine's interfaces (or ``adapters``), as :class:`NetworkInterface` values, in
    the system's order. Reads the interface table only; sends nothing."""
    result: list[NetworkInterface] = []
    for adapter in ifaddr.get_adapters() if adapters is None else adapters:
        v4: list[str] = []
        v6: list[str] = []
        loopback = False
        for ip in adapter.ips:
            if isinstance(ip.ip, str):
                text = ip.ip
            else:
                text, _, scope = ip.ip
            address = parse_address(text)
            if address is None:
                continue
            if address.version == 6 and address.is_link_local and scope:
                text = f"{text}%{scope}"  # by number: a Windows interface's name is a GUID
            loopback = loopback or address.is_loopback
            (v4 if address.version == 4 else v6).append(text)
        flags = _interface_flags(adapter.name)
        if flags is not None:
            loopback = loopback or bool(flags & _IFF_LOOPBACK)
        result.append(
            NetworkInterface(
                name=str(adapter.nice_name or adapter.name),
                addresses=tuple(dict.fromkeys(v4 + v6)),
                up=None if flags is None else bool(flags & _IFF_UP),
                loopback=loopback,
                vpn=not loopback and _looks_like_vpn(adapter, flags),
            )
        )
    return result


def _looks_like_vpn(adapter: ifaddr.Adapter, flags: int | None) -> bool:
    names = {str(adapter.name).lower(), str(adapter.nice_name).lower()}
    if any(n.startswith(_VPN_PREFIXES) or any(w in n for w in _VPN_WORDS) for n in names):
        return True
    return flags is not None and bool(flags & _IFF_POINTOPOINT)


def _interface_flags(name: str) -> int | None:
    """The interface's flags (``IFF_*``) from ``SIOCGIFFLAGS``; None where not known."""
    if sys.platform == "win32":
        return None
    import fcntl  # noqa: PLC0415  (not on Windows)

    if sys.platform.startswith("linux"):
        request = 0x8913
    elif sys.platform == "darwin" or "bsd" in sys.platform:
        request = 0xC0206911
    else:
        return None
    encoded = name.encode()
    if len(encoded) > 15:
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            answer = fcntl.ioctl(sock.fileno(), request, struct.pack("16s24x", encoded))
        except OSError:
            return None
    flags: int = struct.unpack_from("H", answer, 16)[0]
    return flags


def is_lan_adapter(adapter: ifaddr.Adapter) -> bool:
    """Whether ``adapter`` may reach the local network: not loopback, not down, not a VPN or
    point-to-point link (as far as the system says)."""
    flags = _interface_flags(adapter.name)
    if flags is not None and (flags & _IFF_LOOPBACK or not flags & _IFF_UP):
        return False
    return not _looks_like_vpn(adapter, flags)


def lan_ipv4_interfaces(
    adapters: Sequence[ifaddr.Adapter] | None = None,
) -> list[ipaddress.IPv4Interface]:
    """The IPv4 addresses, with their prefixes, of this machine's interfaces (or
    ``adapters``) that may reach the local network (see :func:`is_lan_adapter`)."""
    found = ifaddr.get_adapters() if adapters is None else adapters
    return [i for a in found if is_lan_adapter(a) for i in _ipv4_interfaces(a)]


def local_ipv4_networks(
    adapters: Sequence[ifaddr.Adapter] | None = None,
) -> list[ipaddress.IPv4Network]:
    """The IPv4 networks this machine's interfaces (or ``adapters``) are on, every one
    (loopback and VPNs included): where a datagram on the local link may come from."""
    found = ifaddr.get_adapters() if adapters is None else adapters
    return list(dict.fromkeys(i.network for a in found for i in _ipv4_interfaces(a)))


def _ipv4_interfaces(adapter: ifaddr.Adapter) -> list[ipaddress.IPv4Interface]:
    """``adapter``'s IPv4 addresses with their prefixes (what does not parse is left out)."""
    found: list[ipaddress.IPv4Interface] = []
    for ip in adapter.ips:
        if isinstance(ip.ip, str):
            with contextlib.suppress(ValueError):
                found.append(ipaddress.IPv4Interface(f"{ip.ip}/{ip.network_prefix}"))
    return found
