""" "Search this network": look for rooms at every address of this machine's subnets.

For networks where neither mDNS nor the broadcast beacon gets through (client isolation,
filtering routers), someone can ask for a scan: :func:`scan_network` tries the room port at
each address of the /24 around each of this machine's IPv4 addresses (the whole subnet when
it is smaller; never more than a /24 per address, however big the network; never loopback;
this machine's own address included, so a room hosted here is found too). It never starts by
itself, sends nothing but those connection attempts, and stops when cancelled.

Each probe is what the client does before joining a typed address
(:func:`core.client.probe_room`): a TCP connection, TLS without validating anything (the
certificate's fingerprint is read from the handshake), the room's greeting read, and the
connection closed without joining: nobody in a room sees a scan. The fingerprint was learned,
not told, so a :class:`ScannedRoom` is joined as a typed address is: people compare the
verification code first. Hand the results to :meth:`core.discovery.RoomBrowser.add_scanned`
to list them with the rest (``found_by`` ``"scan"``), once each.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import ifaddr

from core.address import wss_url
from core.client import CertificateMismatch, JoinRefused, RoomUnreachable, probe_room
from core.interfaces import lan_ipv4_interfaces
from core.protocol import DEFAULT_PORT, PROTOCOL_VERSION
from core.room_records import DiscoveredRoom, decode_txt, read_room_id, room_key
from core.room_tls import fingerprint_text, verification_code

__all__ = ["MAX_PREFIX", "ScannedRoom", "scan_addresses", "scan_network"]

log = logging.getLogger("gptgroup.discovery")

MAX_PREFIX = 24  # never more addresses than a /24 around each of this machine's


@dataclass(frozen=True)
class ScannedRoom:
    """A room a scan found at ``address``:``port``, every field checked as a discovery
    record's would be. ``fingerprint`` is the certificate the room presented: learned, not
    told, so show :attr:`verification_code` for people to compare before joining.
    ``room_id`` is the room's instance from its greeting ("" if it gave none usable)."""

    address: str
    port: int
    fingerprint: bytes
    room_id: str
    name: str
    name_cut: bool
    password_required: bool
    assistant_kind: str  # "cloud", "local", "none" or "unknown"
    provider: str | None
    model: str | None

    @property
    def verification_code(self) -> str:
        return verification_code(self.fingerprint)

    def url(self) -> str:
        return wss_url(self.address, self.port)

    def discovered(self) -> DiscoveredRoom:
        """The room as a browser lists it: the key its announcements would have (so it is
        listed once), ``found_by`` ``("scan",)``."""
        key = room_key(self.room_id, self.fingerprint, self.port)
        return DiscoveredRoom(
            key=key or f"scan:{self.address}:{self.port}:{fingerprint_text(self.fingerprint)}",
            room_id=self.room_id, name=self.name, name_cut=self.name_cut, host_name=None,
            participants=None, password_required=self.password_required,
            assistant_kind=self.assistant_kind, provider=self.provider, model=self.model,
            protocol=PROTOCOL_VERSION, app_version=None, addresses=(self.address,),
            port=self.port, fingerprint=self.fingerprint, found_by=("scan",),
        )  # fmt: skip


_PRIVATE = tuple(
    ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)


def scan_addresses(adapters: Sequence[ifaddr.Adapter] | None = None) -> list[str]:
    """The addresses a scan tries, in order and without repeats: for each private IPv4
    address (10/8, 172.16/12, 192.168/16) of ``adapters`` (this machine's by default), every
    host address of its subnet, or of the /24 around it when the subnet is bigger. Loopback,
    VPN and point-to-point interfaces are left out (a VPN's far end is not the local network,
    and knocking on 254 addresses there looks like an attack), and so are public addresses
    (the neighbours there are strangers)."""
    targets: dict[str, None] = {}
    for interface in lan_ipv4_interfaces(adapters):
        if not any(interface.ip in network for network in _PRIVATE):
            continue
        prefix = max(interface.network.prefixlen, MAX_PREFIX)
        network = ipaddress.IPv4Network(f"{interface.ip}/{prefix}", strict=False)
        targets.update((str(host), None) for host in network.hosts())
    return list(targets)


async def scan_network(
    port: int = DEFAULT_PORT,
    *,
    timeout: float = 0.6,  # noqa: ASYNC109  # each probe's, not the scan's: cancel to stop
    concurrency: int = 32,
    progress: Callable[[int, int], None] | None = None,
    addresses: Sequence[str] | None = None,
) -> list[ScannedRoom]:
    """The rooms answering at ``port`` on this machine's subnets (see :func:`scan_addresses`;
    ``addresses`` to try others instead), in the order of their addresses.

    At most ``concurrency`` probes run at once; each gives up after ``timeout`` seconds for
    the connection and as long again for the greeting. ``progress(done, total)`` is called
    after each address (on the loop; it must not raise). Cancel the task to stop: every
    connection is closed. Never raises for what the network does.
    """
    targets = list(addresses) if addresses is not None else scan_addresses()
    found: dict[str, ScannedRoom] = {}
    done = 0
    pending: Iterator[str] = iter(targets)

    async def worker() -> None:
        nonlocal done
        for address in pending:  # shared: each address goes to one worker
            room = await _probe(address, port, timeout)
            if room is not None:
                found[address] = room
            done += 1
            if progress is not None:
                try:
                    progress(done, len(targets))
                except Exception:  # the caller's bug must not end the scan
                    log.exception("scan progress callback failed")

    async with asyncio.TaskGroup() as group:
        for _ in range(max(1, min(concurrency, len(targets)))):
            group.create_task(worker())
    return [found[a] for a in targets if a in found]


async def _probe(address: str, port: int, wait: float) -> ScannedRoom | None:
    """The room at ``address``, or None if nothing there greets as a room of this version."""
    url = wss_url(address, port)
    try:
        # probe_room bounds each of its steps by ``wait``; this bounds them all together.
        async with asyncio.timeout(3 * wait):
            probe = await probe_room(url, wait=wait)
    except (RoomUnreachable, JoinRefused, CertificateMismatch, TimeoutError, OSError):
        return None  # nothing there, not a room, or a room of another version
    except Exception as exc:  # whatever a hostile server makes of the greeting: not a room
        log.debug("scan: %s gave no readable greeting: %s", address, ascii(str(exc)[:200]))
        return None
    preview = probe.preview
    assistant = preview.assistant
    properties: dict[bytes, bytes | None] = {
        b"n": preview.name.encode("utf-8", errors="replace"),
        b"pw": b"1" if preview.password_required else b"0",
        b"ak": (assistant.provider_kind if assistant else "none").encode(errors="replace"),
    }
    if assistant is not None:
        properties[b"ap"] = assistant.provider.encode(errors="replace")
        properties[b"am"] = assistant.model.encode(errors="replace")
    # The same reading as a discovery record's: limits, invisible characters, cut names.
    room = decode_txt("", "", properties, [address], port)
    if room is None:
        return None
    return ScannedRoom(
        address=address, port=port, fingerprint=probe.fingerprint,
        room_id=read_room_id(preview.instance), name=room.name, name_cut=room.name_cut,
        password_required=room.password_required, assistant_kind=room.assistant_kind,
        provider=room.provider, model=room.model,
    )  # fmt: skip
