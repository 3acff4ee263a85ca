"""A room's broadcast beacon: a second way to find rooms where multicast is dropped.

Many networks that drop multicast (and so mDNS) still pass broadcast. While a room is
announced, its host also sends a small UDP datagram, the *beacon*, to the directed broadcast
address of each IPv4 subnet it announces the room on, at UDP port :data:`BEACON_PORT`. The
beacon carries the same fields as the room's TXT record (see :mod:`core.room_records`), under
the same limits, and a browser reads it with the same parser. Layout (``docs/protocol.md``,
"Broadcast beacon")::

    offset  size  value
    0       4     magic b"GGRB"
    4       1     beacon format, 1 (a browser ignores any other)
    5       1     flags: bit 0 set = goodbye (the room is closing); other bits ignored
    6       2     the room's TCP port, big-endian
    8       ...   the TXT record as DNS-SD writes it: for each ``key=value``, one length
                  byte and that many bytes of UTF-8; at most 399 bytes

A whole beacon is at most 407 bytes; anything over :data:`MAX_BEACON_BYTES` is dropped
unread. A beacon is as untrusted as a TXT record, and more easily forged: the address a
browser connects to is always the datagram's source address, never anything written inside
it, and a browser lists a room only once its ``/health`` answers with the certificate the
beacon names (exactly as for mDNS, in :class:`core.discovery.RoomBrowser`).

Pure part (no I/O): :func:`encode_beacon`, :func:`decode_beacon`, :class:`BeaconRoom`,
:class:`BeaconGate` (how many datagrams a listener reads, per source and in all). The I/O
part: :class:`BeaconListener` (a browser's socket) and :class:`BeaconSender` (a host's
schedule: three beacons in the first two seconds, then one every five, one at once when the
record changes, and a goodbye when the room closes).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import ifaddr

from core.interfaces import lan_ipv4_interfaces, local_ipv4_networks
from core.ratelimit import TokenBucket
from core.room_records import (
    DiscoveredRoom,
    RoomAdvert,
    decode_txt,
    encode_txt,
    room_key,
)
from core.room_tls import verification_code

__all__ = [
    "BEACON_PORT",
    "MAX_BEACON_BYTES",
    "BeaconGate",
    "BeaconListener",
    "BeaconRoom",
    "BeaconSender",
    "broadcast_targets",
    "decode_beacon",
    "encode_beacon",
]

log = logging.getLogger("gptgroup.discovery")

BEACON_PORT = 47322  # UDP; the room itself stays on TCP 47321
BEACON_MAGIC = b"GGRB"
BEACON_FORMAT = 1
FLAG_GOODBYE = 0x01
MAX_BEACON_BYTES = 512  # anything longer is not a beacon: dropped before it is parsed
_HEADER = struct.Struct("!4sBBH")  # magic, format, flags, port

# The host's schedule (seconds).
FIRST_BEACONS = 3  # sent at 0, 1 and 2 s: one lost datagram must not hide a new room
FIRST_BEACON_GAP = 1.0
BEACON_INTERVAL = 5.0

# A listener's bounds: datagrams beyond these are dropped before they are parsed, so a flood
# costs a recvfrom and a dictionary look-up each. One host sends a beacon per room every 5 s
# (three in its first 2 s), so 16 at once and 4 a second leave room for a few rooms a host.
PER_SOURCE_BURST = 16
PER_SOURCE_RATE = 4.0  # datagrams a second, after the burst
TOTAL_BURST = 128
TOTAL_RATE = 64.0
PRUNE_INTERVAL = 0.25  # seconds: how often a full gate looks for sources it may forget
SUBNETS_REFRESH = 30.0  # seconds: how long the list of this machine's networks is trusted
MAX_SOURCES = 256  # sources whose rate is remembered; beyond, new sources wait


@dataclass(frozen=True)
class BeaconRoom:
    """A room as its beacon describes it, every field checked as a TXT record's would be.

    ``address`` is where the beacon came from (the only address a browser uses), ``port`` the
    room's TCP port. A beacon without a valid room id or certificate fingerprint is no
    :class:`BeaconRoom` (beacons are newer than rooms without certificates). ``goodbye``: the
    host says the room is closing, which (since anyone can say so) only calls for a check.
    """

    room_id: str
    fingerprint: bytes
    name: str
    name_cut: bool
    host_name: str | None
    participants: int | None
    password_required: bool
    locked: bool
    assistant_kind: str  # "cloud", "local", "none" or "unknown"
    provider: str | None
    model: str | None
    protocol: int | None
    app_version: str | None
    address: str
    port: int
    goodbye: bool = False

    @property
    def key(self) -> str:
        """The room's key in a browser's list, the same whichever way it was found."""
        key = room_key(self.room_id, self.fingerprint, self.port)
        assert key is not None  # a BeaconRoom always has both
        return key

    @property
    def compatible(self) -> bool:
        return self.discovered().compatible

    @property
    def verification_code(self) -> str:
        return verification_code(self.fingerprint)

    def discovered(self) -> DiscoveredRoom:
        """The room as a browser lists it (``found_by`` ``("broadcast",)``)."""
        return DiscoveredRoom(
            key=self.key, room_id=self.room_id, name=self.name, name_cut=self.name_cut,
            host_name=self.host_name, participants=self.participants,
            password_required=self.password_required, locked=self.locked,
            assistant_kind=self.assistant_kind, provider=self.provider, model=self.model,
            protocol=self.protocol, app_version=self.app_version, addresses=(self.address,),
            port=self.port, fingerprint=self.fingerprint, found_by=("broadcast",),
        )  # fmt: skip


def encode_beacon(advert: RoomAdvert, port: int, *, goodbye: bool = False) -> bytes:
    """The beacon for ``advert``, whose room listens on TCP ``port``: the fields of its TXT
    record (:func:`core.room_records.encode_txt`, so the same limits), at most 407 bytes."""
    entries = [f"{key}={value}".encode() for key, value in encode_txt(advert).items()]
    header = _HEADER.pack(BEACON_MAGIC, BEACON_FORMAT, FLAG_GOODBYE if goodbye else 0, port)
    return header + b"".join(bytes([len(entry)]) + entry for entry in entries)


def _read_txt(data: bytes) -> dict[bytes, bytes | None] | None:
    """DNS-SD TXT strings (a length byte, then ``key=value`` or a bare ``key``), first of
    duplicate keys kept; None if a string runs past the end."""
    properties: dict[bytes, bytes | None] = {}
    at = 0
    while at < len(data):
        end = at + 1 + data[at]
        if end > len(data):
            return None
        entry = data[at + 1 : end]
        at = end
        key, equals, value = entry.partition(b"=")
        if key:
            properties.setdefault(key, value if equals else None)
    return properties


def decode_beacon(data: bytes, source: str) -> BeaconRoom | None:
    """The room a datagram from ``source`` (its sender's address) announces, or None.

    None for anything that is not a beacon of format 1 (wrong magic, another format, longer
    than :data:`MAX_BEACON_BYTES`, a truncated record), for a beacon without a valid room id
    and fingerprint, and for a ``source`` one cannot connect to. Every field is read as
    :func:`core.room_records.decode_txt` reads a TXT record. The room's address is always
    ``source``: nothing written inside the datagram is ever an address. Never raises.
    """
    if len(data) > MAX_BEACON_BYTES or len(data) < _HEADER.size:
        return None
    magic, version, flags, port = _HEADER.unpack_from(data)
    if magic != BEACON_MAGIC or version != BEACON_FORMAT:
        return None
    properties = _read_txt(bytes(data[_HEADER.size :]))
    if properties is None:
        return None
    room = decode_txt("", "", properties, [source], port)
    if room is None or room.fingerprint is None or not room.room_id:
        return None
    return BeaconRoom(
        room_id=room.room_id, fingerprint=room.fingerprint, name=room.name,
        name_cut=room.name_cut, host_name=room.host_name, participants=room.participants,
        password_required=room.password_required, locked=room.locked,
        assistant_kind=room.assistant_kind, provider=room.provider, model=room.model,
        protocol=room.protocol, app_version=room.app_version, address=source, port=port,
        goodbye=bool(flags & FLAG_GOODBYE),
    )  # fmt: skip


class BeaconGate:
    """Which datagrams a listener reads: at most :data:`PER_SOURCE_RATE` a second from one
    source (after a burst of :data:`PER_SOURCE_BURST`) and :data:`TOTAL_RATE` in all (after
    :data:`TOTAL_BURST`). Remembers at most :data:`MAX_SOURCES` sources. Time is passed in."""

    def __init__(self) -> None:
        self._total: TokenBucket | None = None
        self._sources: dict[str, TokenBucket] = {}
        self._pruned_at = float("-inf")
        self.dropped = 0  # datagrams refused so far

    def admit(self, source: str, now: float) -> bool:
        """Whether to read a datagram from ``source`` now (each call counts as one)."""
        bucket = self._sources.get(source)
        if bucket is None:
            # Forgetting sources that are quiet again walks them all: at most every so often,
            # so that a flood from ever new sources costs a look-up each, not a walk each.
            if len(self._sources) >= MAX_SOURCES and now - self._pruned_at >= PRUNE_INTERVAL:
                self._pruned_at = now
                self._sources = {k: b for k, b in self._sources.items() if not b.full(now)}
            if len(self._sources) >= MAX_SOURCES:
                self.dropped += 1
                return False
            bucket = self._sources[source] = TokenBucket(PER_SOURCE_BURST, PER_SOURCE_RATE, now)
        if self._total is None:
            self._total = TokenBucket(TOTAL_BURST, TOTAL_RATE, now)
        if bucket.take(now) and self._total.take(now):
            return True
        self.dropped += 1
        return False


# -- I/O ----------------------------------------------------------------------------------


def broadcast_targets(
    addresses: Iterable[str], adapters: Sequence[ifaddr.Adapter] | None = None
) -> list[tuple[str, str]]:
    """``(own address, directed broadcast address)`` for each IPv4 address of ``addresses``
    that an interface of ``adapters`` (this machine's, by default) holds, from that
    interface's prefix. Loopback is left out, and so are VPN and point-to-point interfaces
    (their far end is not the local network) and /31 and /32 networks (they have no
    broadcast address). Reads the interface table only; sends nothing."""
    wanted: set[ipaddress.IPv4Address] = set()
    for text in addresses:
        with contextlib.suppress(ValueError):
            if isinstance(address := ipaddress.ip_address(text), ipaddress.IPv4Address):
                wanted.add(address)
    targets: list[tuple[str, str]] = []
    for network in lan_ipv4_interfaces(adapters):
        own = network.ip
        if own not in wanted or own.is_loopback or network.network.prefixlen >= 31:
            continue
        target = (str(own), str(network.network.broadcast_address))
        if target not in targets:
            targets.append(target)
    return targets


class BeaconSender:
    """Sends one room's beacon from each of ``targets`` (see :func:`broadcast_targets`):
    :data:`FIRST_BEACONS` times :data:`FIRST_BEACON_GAP` apart, then every
    :data:`BEACON_INTERVAL` seconds, and at once after :meth:`update`. :meth:`close` sends a
    goodbye and stops. A target that cannot send (no broadcast there, the interface went
    away) is logged once and tried again at the next beacon; nothing here raises.
    """

    def __init__(
        self, advert: RoomAdvert, targets: Sequence[tuple[str, str]], port: int = BEACON_PORT
    ) -> None:
        self.advert = advert
        self._targets = list(targets)
        self._port = port
        self._sockets: dict[str, socket.socket] = {}
        self._failing: set[str] = set()  # targets whose failure was logged
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._targets and self._task is None:
            self._task = asyncio.create_task(self._run())

    def update(self, advert: RoomAdvert) -> None:
        """Announce ``advert`` now (the caller coalesces changes, as for the TXT record)."""
        if advert != self.advert:
            self.advert = advert
            self._wake.set()

    async def close(self) -> None:
        """Stop, after one goodbye beacon."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            self._send(goodbye=True)
        for sock in self._sockets.values():
            sock.close()
        self._sockets.clear()

    async def _run(self) -> None:
        sent = 0
        while True:
            self._wake.clear()
            self._send()
            sent += 1
            gap = FIRST_BEACON_GAP if sent < FIRST_BEACONS else BEACON_INTERVAL
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), gap)

    def _send(self, *, goodbye: bool = False) -> None:
        datagram = encode_beacon(self.advert, self.advert.port, goodbye=goodbye)
        for own, broadcast in self._targets:
            try:
                sock = self._sockets.get(own)
                if sock is None:
                    sock = self._sockets[own] = _sending_socket(own)
                sock.sendto(datagram, (broadcast, self._port))
            except OSError as exc:
                if own not in self._failing:
                    self._failing.add(own)
                    log.info(
                        "cannot send the room's beacon from %s to %s: %s",
                        own, broadcast, exc.strerror or exc,
                    )  # fmt: skip
                if (broken := self._sockets.pop(own, None)) is not None:
                    broken.close()
            else:
                self._failing.discard(own)


def _sending_socket(own: str) -> socket.socket:
    """A UDP socket that may broadcast, bound to ``own`` so that the beacon comes from the
    address the room is reached at on that subnet."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.setblocking(False)
        sock.bind((own, 0))
    except OSError:
        sock.close()
        raise
    return sock


class _BeaconProtocol(asyncio.DatagramProtocol):
    def __init__(self, listener: BeaconListener) -> None:
        self._listener = listener

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self._listener._received(data, addr)

    def error_received(self, exc: Exception) -> None:
        pass  # an ICMP error about a datagram sent by someone: nothing to do


class BeaconListener:
    """Listens for beacons on UDP :data:`BEACON_PORT` (every IPv4 address, sharing the port
    with other listeners on this machine) and calls ``on_beacon`` for each one that a
    :class:`BeaconGate` lets through and that decodes. ``on_beacon`` runs on the loop and
    must not raise (what it raises is logged).

    A beacon is a directed broadcast, which only a machine on one of this machine's own
    networks can send: one from any other source address (spoofed, to make browsers knock
    on some far address) is dropped before anything else."""

    def __init__(self, on_beacon: Callable[[BeaconRoom], None], port: int = BEACON_PORT) -> None:
        self._on_beacon = on_beacon
        self._port = port
        self.gate = BeaconGate()
        self._transport: asyncio.DatagramTransport | None = None
        self._networks: list[ipaddress.IPv4Network] = []
        self._networks_read = float("-inf")
        self.off_link = 0  # datagrams dropped for coming from outside this machine's networks

    def _on_link(self, source: str, now: float) -> bool:
        """Whether ``source`` is on one of this machine's networks (read again now and then:
        interfaces come and go)."""
        if now - self._networks_read >= SUBNETS_REFRESH:
            self._networks, self._networks_read = local_ipv4_networks(), now
        try:
            address = ipaddress.IPv4Address(source)
        except ValueError:
            self.off_link += 1
            return False
        if any(address in network for network in self._networks):
            return True
        self.off_link += 1
        return False

    async def start(self) -> None:
        """Open the socket. Raises ``OSError`` when the port cannot be listened on."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if hasattr(socket, "SO_REUSEPORT"):  # not on Windows, where SO_REUSEADDR does it
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.setblocking(False)
            sock.bind(("0.0.0.0", self._port))  # broadcast reaches only a wildcard bind
        except OSError:
            sock.close()
            raise
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _BeaconProtocol(self), sock=sock)
        self._transport = transport

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def _received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        source = addr[0] if addr and isinstance(addr[0], str) else None
        now = asyncio.get_running_loop().time()
        if source is None or not self._on_link(source, now) or not self.gate.admit(source, now):
            return
        room = decode_beacon(data, source)
        if room is None:
            return
        try:
            self._on_beacon(room)
        except Exception:  # a listener's bug must not close the socket's reading
            log.exception("beacon listener failed")
