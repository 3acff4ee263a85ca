"""Finding rooms on the LAN: advertise and browse over zeroconf (mDNS / DNS-SD).

Each open room is a DNS-SD service of type ``_gptgroup._tcp.local.`` whose TXT record says
what a person needs to choose a room (see :mod:`core.room_records`, which this module
re-exports). :class:`Discovery` owns one
``AsyncZeroconf`` on the running loop and hands out :class:`Advertisement` objects (one per
hosted room, kept current, withdrawn with goodbye packets on close) and a
:class:`RoomBrowser` (a live list of rooms).

Everything read from the network is untrusted: ``decode_txt`` turns any TXT record, however
malformed, into checked values or drops it, and never raises; nothing a record holds can make
the browser raise in a task either.

A room is listed only once one of its addresses answers ``GET /health`` over TLS with the
certificate its record names (``fp``), and stays listed while it keeps answering (checked
every ``check_interval`` seconds). Anyone can announce a record that points at someone
else's room, or at a relay to it: the pin makes such a record fail its checks, so it is never
listed. A record without a valid ``fp`` (a room of an older version) is checked with a plain
``GET /health`` that carries nothing, and listed as incompatible if it answers.

A room whose host vanished without a goodbye leaves after ``failures_to_drop`` failed checks
in a row: a connection to a vanished host fails within ``probe_timeout``, so that takes at
most ``failures_to_drop * (check_interval + probe_timeout)`` seconds (14 s with the defaults;
the docs promise 15). A goodbye alone proves nothing (anyone on the LAN can send one), so a
room leaves on a goodbye only if it fails one of the two checks that follow (at once, then a
second later, in case its host was about to stop).

Anyone on the LAN can also announce thousands of rooms that do not exist. The browser stays
bounded whatever is announced: it holds at most :data:`MAX_CHECK_SOCKETS` sockets for checks
at any moment (so browsing never takes the sockets a room hosted by the same process needs),
checks listed rooms before anything else, backs off from instances that do not answer and
forgets them after a few failures, and tracks at most :data:`MAX_TRACKED` instances.

Where multicast is dropped, rooms are also found by their broadcast beacon (see
:mod:`core.beacon`: an :class:`Advertisement` sends it, a :class:`RoomBrowser` listens for it)
and by a scan someone asks for (:mod:`core.network_scan`, handed in with
:meth:`RoomBrowser.add_scanned`). A room is one entry however it was found: rooms are keyed by
room id, certificate and port (:func:`core.room_records.room_key`), and each entry keeps what
each of its *sources* (an mDNS record, a beacon's sender, a scanned address) said, its
``found_by`` naming the ways. A room found by beacon or scan goes through the same checks,
with the same bounds, as one found by mDNS.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import ipaddress
import itertools
import logging
import secrets
import socket
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import ifaddr
from zeroconf import InterfaceChoice, IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from core.beacon import BEACON_PORT, BeaconListener, BeaconRoom, BeaconSender, broadcast_targets
from core.netinfo import lan_addresses
from core.protocol import SERVICE_TYPE, RoomInfo
from core.room_records import (
    MAX_ADDRESSES,
    DiscoveredRoom,
    RoomAdvert,
    clip_utf8,
    decode_txt,
    encode_txt,
    parse_address,
    room_key,
)
from core.room_tls import RoomIdentityError, check_pin, client_context, peer_fingerprint

if TYPE_CHECKING:
    from core.network_scan import ScannedRoom

__all__ = [
    "MAX_CHECK_SOCKETS",
    "MAX_TRACKED",
    "Advertisement",
    "BrowserEvent",
    "DiscoveredRoom",
    "Discovery",
    "InterfaceError",
    "RoomAdvert",
    "RoomBrowser",
    "decode_txt",
    "encode_txt",
    "resolve_interfaces",
]

log = logging.getLogger("gptgroup.discovery")

MAX_INSTANCE_BYTES = 63  # a DNS label
UPDATE_DEBOUNCE = 0.5  # seconds: many joins at once make one announcement

# The browser's bounds (see the module's docstring).
MAX_CHECK_SOCKETS = 16  # sockets open for reachability checks at any moment
MAX_CHECKS_AT_ONCE = 16  # rooms being checked at once
MAX_TRACKED = 1024  # instances known at once; listed rooms are never pushed out
MAX_WAITING_RESOLVES = 256  # incomplete records waiting to be asked for
RESOLVERS = 2  # incomplete records asked for at once (each may wait RESOLVE_TIMEOUT_MS)
RESOLVE_TIMEOUT_MS = 3000
FORGET_AFTER_FAILURES = 4  # failed checks in a row before an instance that never answered...
FORGET_ANSWERED_AFTER_FAILURES = 12  # ...or one that did (its host may come back) is forgotten
MAX_BACKOFF = 60.0  # seconds between checks of an instance that keeps failing
MAX_REMEMBERED = 4096  # forgotten instances whose failure count is kept
GOODBYE_RECHECKS = 2  # checks after a goodbye in which one failure drops the room at once
GOODBYE_RECHECK_DELAY = 1.0  # seconds between them (a host says goodbye just before it stops)
MAX_SOURCES = 8  # ways one room was heard of (records, beacon senders, scanned addresses)
_SOURCE_ORDER = {"mdns": 0, "broadcast": 1, "scan": 2}  # whose fields a room shows, first


class InterfaceError(ValueError):
    """An ``--interface`` choice that names no interface or address of this machine.

    ``str()`` is one line saying what is wrong and what there is instead.
    """


def _adapter_addresses(adapter: ifaddr.Adapter) -> tuple[list[str], list[str]]:
    """An interface's IPv4 and IPv6 addresses, as zeroconf takes them (no scope)."""
    v4 = [ip.ip for ip in adapter.ips if isinstance(ip.ip, str)]
    v6 = [ip.ip[0] for ip in adapter.ips if not isinstance(ip.ip, str)]
    return v4, v6


def resolve_interfaces(choices: Iterable[str]) -> list[str]:
    """IP addresses for ``choices``, each an interface name (``eth0``) or an address of it.

    An interface gives all its IPv4 addresses and its first IPv6 one (one is enough to join
    the multicast group on it). Raises :class:`InterfaceError` for a name that is no
    interface of this machine, an interface without addresses, or an address that is not
    this machine's, saying what there is instead.
    """
    adapters = list(ifaddr.get_adapters())
    by_name = {a.nice_name: a for a in adapters} | {a.name: a for a in adapters}
    ours: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, str] = {}
    for adapter in adapters:
        v4, v6 = _adapter_addresses(adapter)
        for text in v4 + v6:
            if (address := parse_address(text)) is not None:
                ours.setdefault(address, text)
    result: list[str] = []
    for choice in choices:
        if (address := parse_address(choice.split("%", 1)[0])) is not None:
            if address not in ours:
                raise InterfaceError(
                    f"{address} is not an address of this machine; its addresses are: "
                    + ", ".join(ours.values())
                )
            result.append(ours[address])
        elif choice in by_name:
            v4, v6 = _adapter_addresses(by_name[choice])
            if not v4 + v6:
                raise InterfaceError(f"the network interface {choice!r} has no IP address")
            result += v4 + v6[:1]
        else:
            names = sorted({a.nice_name for a in adapters})
            raise InterfaceError(
                f"no network interface named {choice!r}; this machine has: " + ", ".join(names)
            )
    return list(dict.fromkeys(result))


def _network_interfaces() -> list[str]:
    """One address per IP version of every interface but loopback (nobody else can hear
    loopback, and multicast on it only fails noisily). Empty on a loopback-only machine."""
    chosen: list[str] = []
    for adapter in ifaddr.get_adapters():
        v4, v6 = _adapter_addresses(adapter)
        if any(ipaddress.ip_address(a).is_loopback for a in v4 + v6):
            continue
        chosen += v4 + v6[:1]
    return chosen


class Advertisement:
    """One room announced on the LAN. Keep it current with :meth:`update`; :meth:`close` it."""

    def __init__(self, discovery: Discovery, advert: RoomAdvert, addresses: list[str]) -> None:
        self._discovery = discovery
        self.advert = advert
        self._addresses = addresses
        self._info: AsyncServiceInfo | None = None
        self._pending: RoomAdvert | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._beacon: BeaconSender | None = None

    def _service_info(self, advert: RoomAdvert, name: str | None = None) -> AsyncServiceInfo:
        suffix = f"@{advert.room_id[:8]}"
        label = clip_utf8(advert.name, MAX_INSTANCE_BYTES - len(suffix)).replace(".", " ") + suffix
        return AsyncServiceInfo(
            SERVICE_TYPE,
            name or f"{label}.{SERVICE_TYPE}",
            port=advert.port,
            properties=encode_txt(advert),
            server=f"gptgroup-{advert.room_id}.local.",
            parsed_addresses=self._addresses,
        )

    async def start(self) -> None:
        zc = self._discovery.zeroconf
        info = self._service_info(self.advert)
        await (await zc.async_register_service(info, allow_name_change=True))
        self._info = info
        log.info("advertising %s on %s", info.name, ", ".join(self._addresses))
        # The beacon goes to the same interfaces' subnets (never to any other address).
        self._beacon = BeaconSender(
            self.advert, broadcast_targets(self._addresses), self._discovery.beacon_port
        )
        self._beacon.start()

    def update(self, advert: RoomAdvert) -> None:
        """Announce new values (participant count, assistant...), coalesced over half a second."""
        self._pending = advert  # the latest wins, even one equal to what is announced
        if advert != self.advert and (self._flusher is None or self._flusher.done()):
            self._flusher = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        # Loops: a change that arrives while an update is being sent must not wait for the
        # next change (a removed participant stayed counted in other lobbies until then).
        while self._pending is not None:
            await asyncio.sleep(UPDATE_DEBOUNCE)
            advert, self._pending = self._pending, None
            if advert is None or self._info is None or advert == self.advert:
                continue
            if self._beacon is not None:
                self._beacon.update(advert)  # first: it goes out whatever zeroconf does
            info = self._service_info(advert, self._info.name)
            await (await self._discovery.zeroconf.async_update_service(info))
            self._info = info
            self.advert = advert

    async def close(self) -> None:
        """Withdraw the room: goodbye packets make it vanish from other lists at once."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        if self._beacon is not None:
            await self._beacon.close()
            self._beacon = None
        if self._info is not None:
            info, self._info = self._info, None
            with contextlib.suppress(Exception):  # the network may already be gone
                await (await self._discovery.zeroconf.async_unregister_service(info))
            self._discovery.forget(self.advert.room_id)


@dataclass(frozen=True)
class BrowserEvent:
    """``kind`` is ``"added"``, ``"updated"`` or ``"removed"``; ``room`` as last known."""

    kind: str
    room: DiscoveredRoom


class _Slots:
    """At most ``size`` holders at once; waiters are served by priority (lower first), then
    in order of arrival. Keeps the browser's sockets bounded while listed rooms go first."""

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._arrivals = itertools.count()

    @contextlib.asynccontextmanager
    async def hold(self, priority: int) -> AsyncIterator[None]:
        if self._free > 0 and not self._waiting:
            self._free -= 1
        else:
            turn = asyncio.get_running_loop().create_future()
            heapq.heappush(self._waiting, (priority, next(self._arrivals), turn))
            try:
                await turn
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():
                    self._release()  # handed the slot just as we were cancelled
                raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        while self._waiting:
            _, _, turn = heapq.heappop(self._waiting)
            if not turn.done():  # skip waiters that were cancelled
                turn.set_result(None)
                return
        self._free += 1


@dataclass(eq=False)
class _Known:
    """An instance the browser knows of, and when and how to check it next."""

    room: DiscoveredRoom
    listed: bool = False
    failures: int = 0  # failed checks in a row
    due: float = 0.0  # loop time of the next check
    checking: bool = False
    answered_at: float | None = None  # loop time of the last answer
    goodbye_rechecks: int = 0  # checks left in which one failure drops it (after a goodbye)
    # What each way of hearing of it said ("mdns:<service name>", "broadcast:<sender>",
    # "scan:<address>"), oldest first; ``room`` is made of them (see ``_merged``).
    sources: dict[str, DiscoveredRoom] = field(default_factory=dict)

    @property
    def urgency(self) -> int:
        """0 for rooms people see (their checks keep the list true), 1 for instances not
        checked yet, 2 for instances that failed."""
        if self.listed or self.goodbye_rechecks:
            return 0
        return 1 if self.failures == 0 else 2


@dataclass
class RoomBrowser:
    """A live list of rooms on the LAN. Listeners get :class:`BrowserEvent` values.

    Records complete in zeroconf's cache (as a host's announcement makes them) are read at
    once; incomplete ones are asked for by at most :data:`RESOLVERS` tasks. Beacons are read
    from UDP port ``discovery.beacon_port`` as far as a :class:`core.beacon.BeaconGate`
    lets them in (``listen_beacons=False``: not at all); when that port cannot be listened on,
    mDNS works alone and :attr:`beacon_problem` says why. A scheduler task checks each known
    instance when it is due, at most :data:`MAX_CHECKS_AT_ONCE` at a time and listed rooms
    first, through at most :data:`MAX_CHECK_SOCKETS` sockets.
    """

    discovery: Discovery
    check_interval: float = 5.0
    probe_timeout: float = 2.0
    failures_to_drop: int = 2
    listen_beacons: bool = True
    _known: dict[str, _Known] = field(default_factory=dict)
    _names: dict[str, str] = field(default_factory=dict)  # mDNS service name: its room's key
    _beacons: BeaconListener | None = None
    _beacon_problem: str | None = None
    _forgotten: OrderedDict[str, int] = field(default_factory=OrderedDict)  # key: failures
    _listeners: list[Callable[[BrowserEvent], None]] = field(default_factory=list)
    _browser: AsyncServiceBrowser | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _to_resolve: dict[str, None] = field(default_factory=dict)  # names, oldest first
    _resolve_wake: asyncio.Event = field(default_factory=asyncio.Event)
    _check_wake: asyncio.Event = field(default_factory=asyncio.Event)
    _checks_running: int = 0
    _sockets: _Slots = field(default_factory=lambda: _Slots(MAX_CHECK_SOCKETS))

    @property
    def rooms(self) -> list[DiscoveredRoom]:
        """Rooms listed now, sorted by name."""
        return sorted(
            (k.room for k in self._known.values() if k.listed),
            key=lambda r: (r.name.casefold(), r.key),
        )

    @property
    def tracked(self) -> int:
        """How many instances the browser knows of now, listed or not (at most
        :data:`MAX_TRACKED`)."""
        return len(self._known)

    @property
    def beacon_problem(self) -> str | None:
        """Why this browser hears no beacons (one sentence), or None while it listens (or
        was asked not to)."""
        return self._beacon_problem

    @property
    def beacons_dropped(self) -> int:
        """Beacon datagrams left unread so far, over the per-source or total rate."""
        return 0 if self._beacons is None else self._beacons.gate.dropped

    def subscribe(self, listener: Callable[[BrowserEvent], None]) -> None:
        self._listeners.append(listener)

    async def start(self) -> None:
        self._browser = AsyncServiceBrowser(
            self.discovery.zeroconf.zeroconf, SERVICE_TYPE, handlers=[self._on_change]
        )
        self._spawn(self._check_forever())
        for _ in range(RESOLVERS):
            self._spawn(self._resolve_forever())
        if self.listen_beacons:
            port = self.discovery.beacon_port
            beacons = BeaconListener(self._on_beacon, port)
            try:
                await beacons.start()
            except OSError as exc:  # not fatal: mDNS still works
                self._beacon_problem = (
                    f"cannot listen for room beacons on UDP port {port}: "
                    f"{(exc.strerror or str(exc)).lower()}"
                )
                log.info("%s", self._beacon_problem)
            else:
                self._beacons = beacons

    async def close(self) -> None:
        if self._beacons is not None:
            self._beacons.close()
            self._beacons = None
        for task in list(self._tasks):
            task.cancel()
        if self._browser is not None:
            await self._browser.async_cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def add_scanned(self, rooms: Iterable[ScannedRoom]) -> None:
        """Take in rooms a scan found (:func:`core.network_scan.scan_network`): each is
        merged with the same room found otherwise, else checked like any other before it is
        listed, with ``"scan"`` in its ``found_by``."""
        for scanned in rooms:
            self._heard(f"scan:{scanned.address}", scanned.discovered())

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- what zeroconf reports ----------------------------------------------------------

    def _on_change(
        self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        """zeroconf's handler: runs on the loop and must not block or raise. Reads the
        record from the cache at once when it is complete; queues it to be asked for if not."""
        try:
            if state_change is ServiceStateChange.Removed:
                self._to_resolve.pop(name, None)
                if (key := self._names.get(name.lower())) is not None:
                    self._on_goodbye(key, f"mdns:{name.lower()}")
            elif not self._read_from_cache(zeroconf, name):
                self._queue_resolve(name)
        except Exception as exc:  # a hostile record must never break zeroconf's dispatch
            log.warning("ignoring service %s: %s", _shown_name(name), _shown(exc))

    def _read_from_cache(self, zc: Zeroconf, name: str) -> bool:
        """Learn ``name`` from zeroconf's cache; False if the cache does not hold all of it."""
        info = self._service_info(name)
        if info is None:
            return True  # unreadable: nothing more to ask for
        if not info.load_from_cache(zc):
            return False
        self._learn(name, info)
        return True

    def _queue_resolve(self, name: str) -> None:
        if name not in self._to_resolve and len(self._to_resolve) >= MAX_WAITING_RESOLVES:
            log.info("too many incomplete services waiting; ignoring %s", _shown_name(name))
            return
        self._to_resolve[name] = None
        self._resolve_wake.set()

    async def _resolve_forever(self) -> None:
        while True:
            while not self._to_resolve:
                self._resolve_wake.clear()
                await self._resolve_wake.wait()
            name = next(iter(self._to_resolve))
            del self._to_resolve[name]
            try:
                info = self._service_info(name)
                zc = self.discovery.zeroconf.zeroconf
                if info is not None and await info.async_request(zc, RESOLVE_TIMEOUT_MS):
                    self._learn(name, info)
            except Exception as exc:  # a hostile record must never end this task
                log.info("ignoring unreadable service %s: %s", _shown_name(name), _shown(exc))

    @staticmethod
    def _service_info(name: str) -> AsyncServiceInfo | None:
        try:
            return AsyncServiceInfo(SERVICE_TYPE, name)
        except Exception as exc:  # zeroconf refuses some names (control characters...)
            log.info("ignoring service %s: %s", _shown_name(name), _shown(exc))
            return None

    def _learn(self, name: str, info: AsyncServiceInfo) -> None:
        """Take in what a record says; a new instance is checked before it is listed."""
        instance = name.removesuffix("." + SERVICE_TYPE).rsplit("@", 1)[0]
        lowered = name.lower()
        room = decode_txt(
            lowered, instance, dict(info.properties), info.parsed_scoped_addresses(), info.port
        )
        if room is None:
            log.info("ignoring service %s: no usable address", _shown_name(name))
            return
        # A room of this version is keyed as its beacon and a scan key it; an older one (no
        # certificate, or no room id) by its service name, as it is found no other way.
        key = room_key(room.room_id, room.fingerprint, room.port) or lowered
        room = replace(room, key=key, found_by=("mdns",))
        source = f"mdns:{lowered}"
        before = self._names.get(lowered)
        if before is not None and before != key and (old := self._known.get(before)):
            self._drop_source(old, source)  # the record now names another room
        if self._heard(source, room):
            self._names[lowered] = key
        else:
            log.info("ignoring %s: too many services, or sources of its room", _shown_name(name))

    def _on_beacon(self, beacon: BeaconRoom) -> None:
        """A beacon that passed the gate and decoded: learn its room from its sender, or
        (a goodbye, which anyone can send) check the room it names."""
        if beacon.goodbye:
            self._on_goodbye(beacon.key, f"broadcast:{beacon.address}")
        elif not self._heard(f"broadcast:{beacon.address}", beacon.discovered()):
            log.debug("tracking too many rooms; ignoring a beacon from %s", beacon.address)

    def _heard(self, source: str, room: DiscoveredRoom) -> bool:
        """Take in what one ``source`` says of the room keyed ``room.key``: a new room is
        checked before it is listed. False when it was not taken in (too many rooms, or too
        many sources of this one that gave the address that answered)."""
        room = replace(room, own=room.room_id != "" and self.discovery.owns(room.room_id))
        known = self._known.get(room.key)
        if known is None:
            if not self._make_room():
                return False
            failures = self._forgotten.pop(room.key, 0)
            known = self._known[room.key] = _Known(room, failures=failures, due=_now())
            known.sources[source] = room
            self._check_wake.set()
            return True
        if source not in known.sources and len(known.sources) >= MAX_SOURCES:
            # Someone is announcing the room from many places: keep the ones that answered.
            reachable = known.room.reachable
            spare = [s for s, r in known.sources.items() if reachable not in r.addresses]
            if not spare:
                return False
            self._drop_source(known, spare[0])
        known.sources.pop(source, None)  # newest last
        known.sources[source] = room
        self._refresh(known)
        return True

    def _drop_source(self, known: _Known, source: str) -> None:
        """Forget what ``source`` said of a room; forget the room when nothing else told of it."""
        known.sources.pop(source, None)
        if source.startswith("mdns:") and self._names.get(source[5:]) == known.room.key:
            del self._names[source[5:]]
        if not known.sources:
            self._forget(known)
        else:
            self._refresh(known)

    def _refresh(self, known: _Known) -> None:
        """Make the room from its sources again, and tell listeners if it is listed and
        changed."""
        room = _merged(known.sources, known.room.reachable)
        if room != known.room:
            known.room = room
            if known.listed:
                self._emit("updated", known)

    def _make_room(self) -> bool:
        """Whether one more instance may be tracked, forgetting the worst one if need be.

        Listed rooms and instances not yet checked are never pushed out; of the rest, the one
        that failed most often goes.
        """
        if len(self._known) < MAX_TRACKED:
            return True
        failing = [k for k in self._known.values() if k.urgency == 2 and not k.checking]
        if not failing:
            return False
        self._forget(max(failing, key=lambda k: (k.failures, k.due)))
        return True

    def _on_goodbye(self, key: str, source: str) -> None:
        """Anyone can send a goodbye: a room that answered before leaves only if it fails a
        check now (and, in case its host is about to stop, the next one too). Of one that
        never answered, what ``source`` said is forgotten."""
        known = self._known.get(key)
        if known is None:
            return
        if known.answered_at is None:
            if source in known.sources:
                self._drop_source(known, source)
            return
        known.goodbye_rechecks = GOODBYE_RECHECKS
        # At most one check a second however many goodbyes arrive.
        known.due = max(_now(), known.answered_at + GOODBYE_RECHECK_DELAY)
        self._check_wake.set()

    # -- checks -------------------------------------------------------------------------

    async def _check_forever(self) -> None:
        while True:
            self._check_wake.clear()
            next_due = self._start_due_checks()
            timeout = None if next_due is None else max(0.0, next_due - _now())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._check_wake.wait(), timeout)

    def _start_due_checks(self) -> float | None:
        """Start the checks that are due, most urgent first; returns when the next one is."""
        now = _now()
        idle = [k for k in self._known.values() if not k.checking]
        due = sorted((k for k in idle if k.due <= now), key=lambda k: (k.urgency, k.due))
        for known in due[: MAX_CHECKS_AT_ONCE - self._checks_running]:
            known.checking = True
            self._checks_running += 1
            self._spawn(self._run_check(known))
        later = [k.due for k in idle if k.due > now]
        return min(later, default=None)

    async def _run_check(self, known: _Known) -> None:
        try:
            answered = await self._probe_known(known)
        except Exception as exc:  # never let a hostile address end the task with an error
            log.warning("checking %s failed: %s", _shown_name(known.room.key), _shown(exc))
            answered = False
        finally:
            known.checking = False
            self._checks_running -= 1
            self._check_wake.set()
        if self._known.get(known.room.key) is not known:
            return  # forgotten while we were checking
        if answered:
            self._answered(known)
        else:
            self._failed(known)

    def _answered(self, known: _Known) -> None:
        now = _now()
        known.failures = 0
        known.answered_at = now
        if known.goodbye_rechecks:
            known.goodbye_rechecks -= 1
        soon = known.goodbye_rechecks > 0
        known.due = now + (GOODBYE_RECHECK_DELAY if soon else self.check_interval)
        if not known.listed:
            known.listed = True
            self._emit("added", known)

    def _failed(self, known: _Known) -> None:
        known.failures += 1
        limit = (
            FORGET_AFTER_FAILURES if known.answered_at is None else FORGET_ANSWERED_AFTER_FAILURES
        )
        if known.goodbye_rechecks or known.failures >= limit:
            self._forget(known)
            return
        if known.listed and known.failures >= self.failures_to_drop:
            known.listed = False
            self._emit("removed", known)
        backoff = min(self.check_interval * 2 ** (known.failures - 1), MAX_BACKOFF)
        known.due = _now() + (self.check_interval if known.listed else backoff)

    def _forget(self, known: _Known) -> None:
        """Stop tracking an instance (leaving the list if it was on it). Its failure count is
        kept, so if it is announced again it is checked once more at low priority."""
        key = known.room.key
        if self._known.get(key) is known:
            del self._known[key]
        for source in known.sources:
            if source.startswith("mdns:") and self._names.get(source[5:]) == key:
                del self._names[source[5:]]
        if known.listed:
            known.listed = False
            self._emit("removed", known)
        self._forgotten[key] = known.failures
        self._forgotten.move_to_end(key)
        while len(self._forgotten) > MAX_REMEMBERED:
            self._forgotten.popitem(last=False)

    def _emit(self, kind: str, known: _Known) -> None:
        event = BrowserEvent(kind, known.room)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # one listener's bug must not stop the others
                log.exception("room list listener failed")

    async def _probe_known(self, known: _Known) -> bool:
        """Probe every address at once (the one that answered before first, then IPv4);
        remember which one answered."""
        room = known.room
        order = sorted(room.addresses, key=lambda a: a != room.reachable)
        priority = known.urgency
        answers = await asyncio.gather(
            *(self._probe(a, room.port, room.fingerprint, priority) for a in order)
        )
        answering = [a for a, ok in zip(order, answers, strict=True) if ok]
        if not answering:
            return False
        if answering[0] in known.room.addresses:  # the record may have changed meanwhile
            # Its fields are now those of a source that gave the address that answered.
            known.room = _merged(known.sources, answering[0])
        return True

    async def _probe(
        self, address: str, port: int, fingerprint: bytes | None, priority: int
    ) -> bool:
        """Whether a room server answers ``GET /health`` at ``address``: over TLS with the
        certificate ``fingerprint`` names, or (None: a record without one) in plain text.
        Holds one of the browser's sockets while it runs; its timeouts start once it has one.
        """
        async with self._sockets.hold(priority):
            tls: dict[str, Any] = {}
            if fingerprint is not None:
                tls = {"ssl": client_context(), "ssl_handshake_timeout": self.probe_timeout}
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(address, port, **tls), self.probe_timeout
                )
            except Exception:  # refused, unreachable, timed out, not TLS, or no such scope
                return False
            try:
                if fingerprint is not None:
                    # Before anything is sent: a record pointing at someone else's room
                    # (or a relay to it) presents another certificate, and is not listed.
                    check_pin(peer_fingerprint(writer.get_extra_info("ssl_object")), fingerprint)
                writer.write(b"GET /health HTTP/1.1\r\nHost: room\r\nConnection: close\r\n\r\n")
                status = await asyncio.wait_for(reader.readline(), self.probe_timeout)
                return status.split(b" ")[1:2] == [b"200"]
            except RoomIdentityError:
                log.info("%s port %d: not the certificate its record names", address, port)
                return False
            except Exception:  # reset, timed out, or an endless line
                return False
            finally:
                writer.transport.abort()  # nothing more to say; never wait on the peer
                with contextlib.suppress(Exception):
                    await writer.wait_closed()  # the socket is closed before the slot is free


def _merged(sources: dict[str, DiscoveredRoom], reachable: str | None) -> DiscoveredRoom:
    """One room from what each way of finding it said (``sources``, not empty, all of one
    key). Its fields are those of a source that gave the ``reachable`` address (so a beacon
    copied from a listed room, from somewhere else, changes nothing people see), mDNS first;
    its addresses are every source's (that source's first, IPv4 first, at most
    :data:`~core.room_records.MAX_ADDRESSES`); ``found_by`` names every way."""
    rooms = list(sources.values())
    answering = [r for r in rooms if reachable in r.addresses] or rooms
    first = min(answering, key=lambda r: min(_SOURCE_ORDER[f] for f in r.found_by or ("scan",)))
    addresses = list(dict.fromkeys([*first.addresses, *(a for r in rooms for a in r.addresses)]))
    addresses.sort(key=lambda a: ":" in a)  # stable: IPv4 first, each in the order above
    kept = tuple(addresses[:MAX_ADDRESSES])
    return replace(
        first,
        addresses=kept,
        found_by=tuple(sorted({f for r in rooms for f in r.found_by})),
        reachable=reachable if reachable in kept else None,
    )


def _now() -> float:
    return asyncio.get_running_loop().time()


def _shown(exc: BaseException) -> str:
    """An exception's message for the log, with anything unprintable escaped."""
    return ascii(str(exc)[:200])


def _shown_name(name: str) -> str:
    """A service name from the network, for the log: cut short, anything unprintable escaped."""
    return ascii(name[:80])


class Discovery:
    """One zeroconf instance for this process: advertising and browsing share it.

    ``interfaces`` restricts mDNS to these IP addresses (or interface names); ``None`` means
    every interface. Create and :meth:`start` it inside the running event loop.
    """

    def __init__(
        self, interfaces: Sequence[str] | None = None, *, beacon_port: int = BEACON_PORT
    ) -> None:
        self._interfaces = resolve_interfaces(interfaces) if interfaces else None
        self.beacon_port = beacon_port  # UDP, where beacons are sent and listened for
        self._zc: AsyncZeroconf | None = None
        self._own: set[str] = set()

    @property
    def zeroconf(self) -> AsyncZeroconf:
        if self._zc is None:
            raise RuntimeError("discovery has not been started")
        return self._zc

    async def start(self) -> None:
        choice: Any = self._interfaces or _network_interfaces()
        version = IPVersion.All if socket.has_ipv6 else IPVersion.V4Only
        if not choice:
            # Loopback only (no network, or a test namespace): IPv6 multicast cannot be routed
            # there and would only fail noisily, so use IPv4 on every interface.
            choice, version = InterfaceChoice.All, IPVersion.V4Only
        self._zc = AsyncZeroconf(interfaces=choice, ip_version=version)

    async def close(self) -> None:
        if self._zc is not None:
            await self._zc.async_close()
            self._zc = None

    def owns(self, room_id: str) -> bool:
        return room_id in self._own

    def forget(self, room_id: str) -> None:
        self._own.discard(room_id)

    async def advertise(
        self, info: RoomInfo, port: int, fingerprint: bytes, *, room_id: str | None = None
    ) -> Advertisement:
        """Announce a room hosted by this process, whose certificate has ``fingerprint``, by
        mDNS and by its beacon; returns its :class:`Advertisement`. ``room_id`` (random when
        None) should be the room's ``instance``, which its greeting tells anyone who looks,
        so that a scan finds the room under the same key as its announcements."""
        room_id = room_id or secrets.token_hex(6)
        self._own.add(room_id)
        addresses = self._interfaces or lan_addresses() or ["127.0.0.1"]
        advert = RoomAdvert.for_room(room_id, info, port, fingerprint)
        advertisement = Advertisement(self, advert, addresses)
        await advertisement.start()
        return advertisement

    async def browse(self, **options: Any) -> RoomBrowser:
        browser = RoomBrowser(self, **options)
        await browser.start()
        return browser
