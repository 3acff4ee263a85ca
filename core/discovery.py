"""Finding rooms on the LAN: advertise and browse over zeroconf (mDNS / DNS-SD).

Each open room is a DNS-SD service of type ``_gptgroup._tcp.local.`` whose TXT record says
what a person needs to choose a room (see :func:`encode_txt`). :class:`Discovery` owns one
``AsyncZeroconf`` on the running loop and hands out :class:`Advertisement` objects (one per
hosted room, kept current, withdrawn with goodbye packets on close) and a
:class:`RoomBrowser` (a live list of rooms).

Everything read from the network is untrusted: :func:`decode_txt` turns any TXT record,
however malformed, into checked values or drops it, and never raises.

A room whose host vanished without a goodbye is noticed by the browser's reachability check
(``GET /health`` on all its advertised addresses at once, every ``check_interval`` seconds):
after ``failures_to_drop`` failed rounds in a row it leaves the list, within
``failures_to_drop * (check_interval + probe_timeout)`` seconds (14 s with the defaults; the
docs promise 15).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import secrets
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import ifaddr
from zeroconf import InterfaceChoice, IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from core import __version__
from core.netinfo import lan_addresses
from core.protocol import PROTOCOL_VERSION, SERVICE_TYPE, RoomInfo
from core.text_rules import clean_label

__all__ = [
    "Advertisement",
    "BrowserEvent",
    "DiscoveredRoom",
    "Discovery",
    "RoomAdvert",
    "RoomBrowser",
    "decode_txt",
    "encode_txt",
    "resolve_interfaces",
]

log = logging.getLogger("gptgroup.discovery")

MAX_TXT_VALUE_BYTES = 100  # each value; the whole record stays well under 400 bytes
MAX_INSTANCE_BYTES = 63  # a DNS label
RESOLVE_TIMEOUT_MS = 3000
UPDATE_DEBOUNCE = 0.5  # seconds: many joins at once make one announcement

_TXT_LIMITS = {"n": 64, "h": 32, "ap": 48, "am": 64, "av": 16}


@dataclass(frozen=True)
class RoomAdvert:
    """What a host tells the LAN about one room. No chat content, no secrets."""

    room_id: str
    name: str
    port: int
    host_name: str | None = None
    participants: int = 0
    password_required: bool = False
    assistant_kind: str = "none"  # "cloud", "local" or "none"
    provider: str | None = None
    model: str | None = None
    protocol: int = PROTOCOL_VERSION
    app_version: str = __version__

    @classmethod
    def for_room(cls, room_id: str, info: RoomInfo, port: int) -> RoomAdvert:
        assistant = info.assistant
        return cls(
            room_id=room_id, name=info.name, port=port, host_name=info.host_name,
            participants=info.participant_count, password_required=info.password_required,
            assistant_kind=assistant.provider_kind if assistant else "none",
            provider=assistant.provider if assistant else None,
            model=assistant.model if assistant else None,
        )  # fmt: skip


def _clip(text: str, max_bytes: int = MAX_TXT_VALUE_BYTES) -> str:
    """``text`` cut to at most ``max_bytes`` of UTF-8, never inside a character."""
    return text.encode()[:max_bytes].decode("utf-8", errors="ignore")


def encode_txt(advert: RoomAdvert) -> dict[str, str]:
    """The TXT properties for ``advert``: short keys, each value bounded in bytes."""
    txt = {
        "v": str(advert.protocol),
        "rid": advert.room_id,
        "n": _clip(advert.name),
        "c": str(advert.participants),
        "pw": "1" if advert.password_required else "0",
        "ak": advert.assistant_kind,
        "av": _clip(advert.app_version, 16),
    }
    if advert.host_name:
        txt["h"] = _clip(advert.host_name)
    if advert.provider:
        txt["ap"] = _clip(advert.provider, 48)
    if advert.model:
        txt["am"] = _clip(advert.model, 64)
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
    reachable: str | None = None  # the address that last answered, if any

    @property
    def compatible(self) -> bool:
        return self.protocol == PROTOCOL_VERSION

    def url(self) -> str:
        """The address to join: the one that answered, else the first advertised."""
        host = self.reachable or self.addresses[0]
        shown = f"[{host}]" if ":" in host else host
        return f"ws://{shown}:{self.port}/"


def _text(raw: bytes | None, limit: int) -> str | None:
    if raw is None:
        return None
    return clean_label(raw[: limit * 4].decode("utf-8", errors="replace"), limit) or None


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
    to a safe value (unknown version, unknown participant count, name from the instance name).
    Never raises.
    """
    usable = [a for a in addresses if _is_address(a)]
    if not usable or port is None or not 0 < port < 65536:
        return None
    props: dict[bytes, bytes | None] = {}
    for k, v in properties.items():  # zeroconf keeps the first of duplicate keys already
        if isinstance(k, bytes) and (v is None or isinstance(v, bytes)):
            props.setdefault(k.lower(), v)
    kind = (props.get(b"ak") or b"").decode("ascii", errors="replace")
    name = _text(props.get(b"n"), _TXT_LIMITS["n"]) or clean_label(instance, 64) or "Unnamed room"
    room_id = (props.get(b"rid") or b"").decode("ascii", errors="replace")
    return DiscoveredRoom(
        key=key,
        room_id=room_id if room_id.isalnum() and len(room_id) <= 32 else "",
        name=name,
        host_name=_text(props.get(b"h"), _TXT_LIMITS["h"]),
        participants=_int(props.get(b"c"), 0, 100_000),
        password_required=props.get(b"pw") == b"1",
        assistant_kind=kind if kind in ("cloud", "local", "none") else "unknown",
        provider=_text(props.get(b"ap"), _TXT_LIMITS["ap"]),
        model=_text(props.get(b"am"), _TXT_LIMITS["am"]),
        protocol=_int(props.get(b"v"), 0, 1000),
        app_version=_text(props.get(b"av"), _TXT_LIMITS["av"]),
        addresses=tuple(sorted(set(usable), key=lambda a: (":" in a, a))),
        port=port,
    )


def _is_address(text: str) -> bool:
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    return not (address.is_unspecified or address.is_multicast)


def resolve_interfaces(choices: Iterable[str]) -> list[str]:
    """IP addresses for ``choices``, each an address or an interface name (``eth0``).

    Raises ``ValueError`` naming a choice that is neither.
    """
    adapters = {a.nice_name: a for a in ifaddr.get_adapters()} | {
        a.name: a for a in ifaddr.get_adapters()
    }
    result: list[str] = []
    for choice in choices:
        if _is_address(choice):
            result.append(choice)
        elif choice in adapters:
            result += [ip.ip if isinstance(ip.ip, str) else ip.ip[0] for ip in adapters[choice].ips]
        else:
            raise ValueError(f"{choice!r} is neither an IP address nor a network interface")
    return result


def _network_interfaces() -> list[str]:
    """One address per IP version of every interface but loopback (nobody else can hear
    loopback, and multicast on it only fails noisily). Empty on a loopback-only machine."""
    chosen: list[str] = []
    for adapter in ifaddr.get_adapters():
        v4 = [ip.ip for ip in adapter.ips if isinstance(ip.ip, str)]
        v6 = [ip.ip[0] for ip in adapter.ips if not isinstance(ip.ip, str)]
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

    def _service_info(self, advert: RoomAdvert, name: str | None = None) -> AsyncServiceInfo:
        suffix = f"@{advert.room_id[:8]}"
        label = _clip(advert.name, MAX_INSTANCE_BYTES - len(suffix)).replace(".", " ") + suffix
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

    def update(self, advert: RoomAdvert) -> None:
        """Announce new values (participant count, assistant...), coalesced over half a second."""
        if advert == self.advert:
            return
        self._pending = advert
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        await asyncio.sleep(UPDATE_DEBOUNCE)
        advert, self._pending = self._pending, None
        if advert is None or self._info is None:
            return
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


@dataclass
class _Known:
    room: DiscoveredRoom
    listed: bool = False
    failures: int = 0


@dataclass
class RoomBrowser:
    """A live list of rooms on the LAN. Listeners get :class:`BrowserEvent` values."""

    discovery: Discovery
    check_interval: float = 5.0
    probe_timeout: float = 2.0
    failures_to_drop: int = 2
    _known: dict[str, _Known] = field(default_factory=dict)
    _listeners: list[Callable[[BrowserEvent], None]] = field(default_factory=list)
    _browser: AsyncServiceBrowser | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _checker: asyncio.Task[None] | None = None

    @property
    def rooms(self) -> list[DiscoveredRoom]:
        """Rooms listed now, sorted by name."""
        return sorted(
            (k.room for k in self._known.values() if k.listed),
            key=lambda r: (r.name.casefold(), r.key),
        )

    def subscribe(self, listener: Callable[[BrowserEvent], None]) -> None:
        self._listeners.append(listener)

    async def start(self) -> None:
        self._browser = AsyncServiceBrowser(
            self.discovery.zeroconf.zeroconf, SERVICE_TYPE, handlers=[self._on_change]
        )
        self._checker = asyncio.create_task(self._check_forever())

    async def close(self) -> None:
        if self._checker is not None:
            self._checker.cancel()
        for task in list(self._tasks):
            task.cancel()
        if self._browser is not None:
            await self._browser.async_cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _on_change(
        self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        """zeroconf's handler: runs on the loop and must not block, so resolving is a task."""
        if state_change is ServiceStateChange.Removed:
            self._drop(name.lower())
            return
        task = asyncio.create_task(self._resolve(zeroconf, service_type, name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resolve(self, zc: Zeroconf, service_type: str, name: str) -> None:
        info = AsyncServiceInfo(service_type, name)
        try:
            if not await info.async_request(zc, RESOLVE_TIMEOUT_MS):
                return
            instance = name.removesuffix("." + service_type).rsplit("@", 1)[0]
            room = decode_txt(
                name.lower(), instance, dict(info.properties), info.parsed_scoped_addresses(),
                info.port,
            )  # fmt: skip
        except Exception as exc:  # a hostile record must never take the browser down
            log.info("ignoring unreadable service %r: %s", name[:80], exc)
            return
        if room is None:
            log.info("ignoring service %r: no usable address", name[:80])
            return
        room = replace(room, own=room.room_id != "" and self.discovery.owns(room.room_id))
        known = self._known.get(room.key)
        if known is None:
            self._known[room.key] = known = _Known(room)
        else:
            room = replace(room, reachable=known.room.reachable)
            known.room = room
        if await self._probe_known(known):
            self._emit("updated" if known.listed else "added", known)
            known.listed = True

    def _drop(self, key: str) -> None:
        known = self._known.pop(key, None)
        if known is not None and known.listed:
            self._emit("removed", known)

    def _emit(self, kind: str, known: _Known) -> None:
        event = BrowserEvent(kind, known.room)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # one listener's bug must not stop the others
                log.exception("room list listener failed")

    async def _check_forever(self) -> None:
        while True:
            await asyncio.sleep(self.check_interval)
            await asyncio.gather(*(self._check(k) for k in list(self._known.values())))

    async def _check(self, known: _Known) -> None:
        answered = await self._probe_known(known)
        if known.room.key not in self._known:
            return  # withdrawn while we were probing
        if answered and not known.listed:
            known.listed = True
            self._emit("added", known)
        elif not answered and known.listed and known.failures >= self.failures_to_drop:
            known.listed = False
            self._emit("removed", known)

    async def _probe_known(self, known: _Known) -> bool:
        """Probe every address at once; prefer the one that answered before, then IPv4."""
        room = known.room
        answers = await asyncio.gather(*(self._probe(a, room.port) for a in room.addresses))
        answering = [a for a, ok in zip(room.addresses, answers, strict=True) if ok]
        if not answering:
            known.failures += 1
            return False
        best = room.reachable if room.reachable in answering else answering[0]
        known.room = replace(room, reachable=best)
        known.failures = 0
        return True

    async def _probe(self, address: str, port: int) -> bool:
        """Whether a room server answers ``GET /health`` at ``address``."""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(address, port), self.probe_timeout
            )
        except (OSError, TimeoutError):
            return False
        try:
            writer.write(b"GET /health HTTP/1.1\r\nHost: room\r\nConnection: close\r\n\r\n")
            status = await asyncio.wait_for(reader.readline(), self.probe_timeout)
            return status.split(b" ")[1:2] == [b"200"]
        except (OSError, TimeoutError):
            return False
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


class Discovery:
    """One zeroconf instance for this process: advertising and browsing share it.

    ``interfaces`` restricts mDNS to these IP addresses (or interface names); ``None`` means
    every interface. Create and :meth:`start` it inside the running event loop.
    """

    def __init__(self, interfaces: Sequence[str] | None = None) -> None:
        self._interfaces = resolve_interfaces(interfaces) if interfaces else None
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

    async def advertise(self, info: RoomInfo, port: int) -> Advertisement:
        """Announce a room hosted by this process; returns its :class:`Advertisement`."""
        room_id = secrets.token_hex(6)
        self._own.add(room_id)
        addresses = self._interfaces or lan_addresses() or ["127.0.0.1"]
        advertisement = Advertisement(self, RoomAdvert.for_room(room_id, info, port), addresses)
        await advertisement.start()
        return advertisement

    async def browse(self, **options: Any) -> RoomBrowser:
        browser = RoomBrowser(self, **options)
        await browser.start()
        return browser
