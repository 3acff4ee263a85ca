""" "Why can't I see the room?": a check of this machine's network, said in plain words.

:func:`diagnose` looks at what keeps rooms from being found and joined, and
:meth:`Diagnosis.as_text` says it for people who never heard of multicast:

- the network interfaces that are up, their addresses, and which ones look like VPNs (by
  name: ``tun*``, ``tap*``, ``wg*``, ``ppp*``, ``utun*``, ``ipsec*``, ``tailscale*``, ``zt*``
  and names that say VPN, WireGuard, Tailscale or ZeroTier; or point-to-point links);
- whether this machine hears its own mDNS announcements: it registers a short-lived probe
  service of type ``_gptgroup._tcp.local.``, browses for it and withdraws it;
- whether it hears its own broadcast: one probe datagram to the broadcast address of each of
  its subnets, at UDP :data:`~core.beacon.BEACON_PORT`, listened for on that port;
- whether announcements from *other* machines arrive at all: any ``_gptgroup`` service whose
  addresses are not this machine's, and any beacon or probe datagram from an address that is
  not this machine's, within ``listen_seconds``;
- when hosting, whether the room's port answers at this machine's own LAN addresses (not only
  on loopback): a room that answers on loopback but not there is blocked by a firewall;
- and what to try next.

Nothing leaves the local network: mDNS goes to 224.0.0.251 and ff02::fb, broadcasts to the
subnets' own broadcast addresses, and connections only to loopback and this machine's own
addresses. VPN interfaces are left out of the mDNS and broadcast checks (their far end is not
the local network).

The probes are made to be ignored by every lobby. The mDNS probe's instance name starts with
:data:`PROBE_INSTANCE_PREFIX`; its SRV record names port 0 (no room can be there, so
:func:`core.room_records.decode_txt` drops it and no browser ever checks or lists it) and its
TXT record is ``probe=1`` alone (no ``fp``, no ``v``). The broadcast probe is
:data:`PROBE_MAGIC` followed by 8 random bytes: not a beacon, so
:func:`core.beacon.decode_beacon` returns None for it. Two machines running the check at the
same time each hear the other's probes, which is the quickest way to test a network with no
room open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from zeroconf import IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from core.beacon import BEACON_INTERVAL, BEACON_PORT, broadcast_targets, decode_beacon
from core.interfaces import NetworkInterface, list_interfaces
from core.protocol import DEFAULT_PORT, SERVICE_TYPE
from core.room_records import parse_address

__all__ = [
    "PROBE_INSTANCE_PREFIX",
    "PROBE_MAGIC",
    "Diagnosis",
    "Finding",
    "HostedRoomInfo",
    "NetworkInterface",
    "PortAnswer",
    "RoomPortCheck",
    "diagnose",
    "list_interfaces",
]

log = logging.getLogger("gptgroup.discovery")

PROBE_INSTANCE_PREFIX = "gptgroup-network-check-"
PROBE_MAGIC = b"GGNC"  # "GPT Group network check"; a beacon starts with b"GGRB"
_PROBE_TOKEN_BYTES = 8

# Registering a service takes about a second (zeroconf probes for its name first), so the
# check of this machine's own announcements waits at least this long, however short
# listen_seconds is.
MIN_OWN_WAIT = 3.0
LISTEN_SECONDS = BEACON_INTERVAL + 1.5  # one beacon interval and a margin: a beacon arrives
BROADCAST_REPEAT = 1.0  # seconds: the probe datagram is sent twice, in case one is lost
CONNECT_TIMEOUT = 1.5
RESOLVE_TIMEOUT_MS = 1000
MAX_SERVICES = 64  # service names looked at; a flood of fake rooms only makes the check slower
MAX_DATAGRAMS = 4096  # datagrams read on the beacon port
MAX_OTHERS = 8  # other machines' addresses kept, per way of hearing them


Outcome = Literal["answers", "refused", "no answer", "blocked", "unreachable"]
"""What connecting to the room's port gave: it answered; the connection was refused (nothing
listens there); no answer in time (a firewall that drops); blocked (a firewall or route
that rejects: permission denied); or the address cannot be reached."""

Status = Literal["ok", "note", "warning", "problem"]


@dataclass(frozen=True)
class HostedRoomInfo:
    """The room this machine hosts, for :func:`diagnose` to check its port.

    ``addresses`` are where others reach it (:meth:`core.hosting.RoomHost.addresses`);
    empty means this machine's LAN addresses.
    """

    port: int
    addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class PortAnswer:
    address: str
    outcome: Outcome


@dataclass(frozen=True)
class RoomPortCheck:
    """Whether the hosted room's port answers, on loopback and at each LAN address."""

    port: int
    loopback: Outcome
    lan: tuple[PortAnswer, ...]

    @property
    def firewalled(self) -> tuple[str, ...]:
        """LAN addresses where the room does not answer although it answers on loopback."""
        if self.loopback != "answers":
            return ()
        return tuple(a.address for a in self.lan if a.outcome != "answers")


@dataclass(frozen=True)
class Finding:
    """One line of the diagnosis: ``status`` and a sentence."""

    status: Status
    text: str


@dataclass(frozen=True)
class Diagnosis:
    """What :func:`diagnose` found. ``None`` for a check that could not be made; ``notes``
    say why. ``others_by_mdns`` and ``others_by_broadcast`` are the addresses of other
    machines heard each way (at most 8 each)."""

    interfaces: tuple[NetworkInterface, ...]
    port: int
    listened: float  # seconds
    own_mdns: bool | None
    own_broadcast: bool | None
    others_by_mdns: tuple[str, ...]
    others_by_broadcast: tuple[str, ...]
    room: RoomPortCheck | None = None
    notes: tuple[str, ...] = ()
    reach: PortAnswer | None = None  # the room address a guest asked to check, from here

    @property
    def vpns(self) -> tuple[NetworkInterface, ...]:
        """The VPN interfaces in use: up, with an address beyond link-local (macOS always
        has a few ``utun`` interfaces with link-local addresses only, for its own services)."""
        return tuple(
            i
            for i in self.interfaces
            if i.vpn and i.up is not False and any(_routable(a) for a in i.addresses)
        )

    @property
    def connected(self) -> bool:
        """Whether any interface may reach the local network."""
        return any(i.lan for i in self.interfaces)

    @property
    def only_vpn(self) -> bool:
        """Whether the only interfaces besides loopback are VPNs."""
        return bool(self.vpns) and not self.connected

    @property
    def others_heard(self) -> bool:
        return bool(self.others_by_mdns or self.others_by_broadcast)

    @property
    def findings(self) -> list[Finding]:
        """What was found, a sentence each, in the order :meth:`as_text` shows them."""
        found: list[Finding] = []
        if self.only_vpn:
            names = ", ".join(i.name for i in self.vpns)
            found.append(
                Finding(
                    "problem",
                    f"This machine reaches networks only through a VPN "
                    f"({names}), not the local network directly.",
                )
            )
        elif not self.connected:
            found.append(Finding("problem", "This machine is not connected to any network."))
        elif self.vpns:
            names = ", ".join(i.name for i in self.vpns)
            found.append(
                Finding(
                    "warning",
                    f"A VPN is on ({names}). Some VPNs keep this "
                    "machine from seeing others on the local network.",
                )
            )
        found += [
            _own_finding(self.own_mdns, "announcements (mDNS)", "UDP port 5353"),
            _own_finding(self.own_broadcast, "broadcasts", f"UDP port {BEACON_PORT}"),
        ]
        found.append(self._others_finding())
        if self.room is not None:
            found.append(_room_finding(self.room))
        if self.reach is not None:
            found.append(_reach_finding(self.reach, self.port))
        found += [Finding("note", note) for note in self.notes]
        return found

    def _others_finding(self) -> Finding:
        seconds = f"{self.listened:g} second{'' if self.listened == 1 else 's'}"
        if not self.others_heard:
            # A problem only if a room is expected: alone on the network, nothing arrives.
            return Finding(
                "warning",
                f"No announcements from other machines arrived in {seconds} (if someone "
                "here has a room open, their announcements do not reach this machine).",
            )
        machines = sorted(set(self.others_by_mdns) | set(self.others_by_broadcast), key=_order)
        shown = ", ".join(machines)
        if not self.others_by_mdns:
            return Finding(
                "warning",
                f"Only broadcasts from other machines arrived ({shown}): "
                "this network drops multicast, so rooms are found more slowly.",
            )
        return Finding("ok", f"Announcements from other machines arrive ({shown}).")

    @property
    def advice(self) -> list[str]:
        """What to try next, most useful first; empty when nothing looks wrong."""
        tips: list[str] = []
        example = f"such as 192.168.1.20:{self.port}"
        if self.only_vpn or not self.connected:
            tips.append(
                "Connect this machine to the same Wi-Fi or network as the host's, "
                "and turn off the VPN if one is on."
            )
        if self.reach is not None and self.reach.outcome != "answers":
            tips.append(
                f"Ask the host to allow GPT Group through their firewall (TCP port "
                f"{self.port}), and check that the room is still open at that address."
            )
        if self.room is not None and self.room.firewalled:
            tips.append(
                f"Allow GPT Group through this machine's firewall (TCP port "
                f"{self.room.port}), or turn the firewall off while the room is open."
            )
        elif self.room is not None and self.room.loopback != "answers":
            tips.append("The room does not answer on this machine: open it again.")
        if self.own_mdns is False or self.own_broadcast is False:
            tips.append(
                "A firewall or security program on this machine blocks announcements: "
                "allow GPT Group in it."
            )
        if not self.others_heard and self.connected:
            if self.room is None:
                tips += [
                    "Type the room's join code, which the host's window shows.",
                    f"Or type the host's address and port ({example}).",
                ]
            else:
                tips.append(
                    "Others may not see the room in their list: give them its join code or "
                    "its address, which they can type instead."
                )
            tips += [
                "Guest Wi-Fi often keeps devices apart: use the main Wi-Fi, or join the "
                "host's hotspot.",
                "Ask the others to run this check too, at the same time: each of you then "
                "sees whether the other's announcements arrive.",
            ]
        if self.vpns and not self.only_vpn and (not self.others_heard or tips):
            tips.append("Turn off the VPN and look again.")
        return tips

    def as_text(self) -> str:
        """The diagnosis for a terminal, in plain words (``gptgroup-chat --doctor``)."""
        marks = {"ok": "ok  ", "note": "note", "warning": "warn", "problem": "FAIL"}
        lines = ["Network check", "", "Network connections:"]
        shown = 0
        for interface in self.interfaces:
            # Link-local IPv6 addresses only crowd the list (nobody types them), and so do
            # interfaces that have no other (as macOS has several).
            addresses = [a for a in interface.addresses if "%" not in a]
            if interface.loopback or interface.up is False or not addresses:
                continue
            kind = " (a VPN)" if interface.vpn else ""
            lines.append(f"  {interface.name}{kind}: {', '.join(addresses)}")
            shown += 1
        if not shown:
            lines.append("  none")
        lines += ["", "What was found:"]
        lines += [f"  [{marks[f.status]}] {f.text}" for f in self.findings]
        if tips := self.advice:
            lines += ["", "What to try:", *(f"  - {tip}" for tip in tips)]
        elif all(f.status in ("ok", "note") for f in self.findings):
            lines += [
                "",
                "Everything looks fine. If a room still does not show up, ask its "
                "host to run this check too.",
            ]
        return "\n".join(lines) + "\n"


def _own_finding(heard: bool | None, what: str, port: str) -> Finding:
    if heard is None:
        return Finding("note", f"Whether this machine hears its own {what} was not checked.")
    if heard:
        return Finding("ok", f"This machine hears its own {what}.")
    return Finding(
        "problem", f"This machine does not hear its own {what}: something on it blocks {port}."
    )


def _reach_finding(reach: PortAnswer, port: int) -> Finding:
    """Whether the room's port at the address a guest gave answers from this machine: the
    one check that sees a firewall on the host, since the host's own connections to itself
    pass its firewall."""
    where = f"{reach.address}, port {port}"
    if reach.outcome == "answers":
        return Finding("ok", f"The room's address answers from this machine ({where}).")
    why = {
        "refused": "nothing listens there (is the room still open, on that port?)",
        "no answer": "no answer: a firewall on the host, or on the way, drops the connection",
        "blocked": "a firewall refuses the connection",
        "unreachable": "that address cannot be reached from this network",
    }[reach.outcome]
    return Finding("problem", f"The room's address does not answer from here ({where}): {why}.")


def _room_finding(room: RoomPortCheck) -> Finding:
    if room.loopback != "answers":
        return Finding("problem", f"The room does not answer on this machine (port {room.port}).")
    if room.firewalled:
        where = ", ".join(room.firewalled)
        return Finding(
            "problem",
            f"The room answers on this machine, but not at its network "
            f"address ({where}, port {room.port}): a firewall blocks it, so nobody "
            "else can join.",
        )
    if not room.lan:
        return Finding(
            "note", "The room answers on this machine; it has no network address to check."
        )
    where = ", ".join(a.address for a in room.lan)
    # This machine's connections to itself pass its own firewall: only another machine can
    # tell whether the firewall lets others in (see the reach check).
    return Finding(
        "note",
        f"The room answers at this machine's network address ({where}, port {room.port}). "
        "A firewall here could still keep others out: to be sure, ask a guest to run this "
        "check with the room's address.",
    )


# -- interfaces ---------------------------------------------------------------------------


def _routable(text: str) -> bool:
    address = parse_address(text.split("%", 1)[0])
    return address is not None and not address.is_link_local


def _bare(text: str) -> str:
    """An address without its scope, in its one normal form, to compare addresses."""
    address = parse_address(text.split("%", 1)[0])
    return text if address is None else str(address)


def _order(text: str) -> tuple[bool, str]:
    return (":" in text, text)


# -- the checks ---------------------------------------------------------------------------


@dataclass
class _Heard:
    """What the listeners heard so far."""

    own_mdns: asyncio.Event = field(default_factory=asyncio.Event)
    own_broadcast: asyncio.Event = field(default_factory=asyncio.Event)
    others_by_mdns: dict[str, None] = field(default_factory=dict)
    others_by_broadcast: dict[str, None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @staticmethod
    def add(where: dict[str, None], address: str) -> None:
        if len(where) < MAX_OTHERS:
            where.setdefault(address)


async def diagnose(
    *,
    port: int = DEFAULT_PORT,
    listen_seconds: float = LISTEN_SECONDS,
    hosting: HostedRoomInfo | None = None,
    room_address: str | None = None,
) -> Diagnosis:
    """Check this machine's network (see the module docstring) and say what was found.

    Listens for ``listen_seconds`` (by default a little more than the time between two
    beacons, so that a room heard only by broadcast is heard), and longer while this
    machine's own announcements have not been heard yet, up to :data:`MIN_OWN_WAIT` in all
    (making one takes about a second). ``port`` is the room port the advice names;
    ``hosting`` the room this machine hosts, whose port is checked; ``room_address`` a room's
    address a guest was given, whose ``port`` is tried from here (the check that sees a
    firewall on the host). Never raises for what the network does: a check that cannot be
    made is ``None``, with a note saying why.
    """
    started = time.monotonic()
    interfaces = list_interfaces()
    own = {_bare(a) for i in interfaces for a in i.addresses}
    lan = [i for i in interfaces if i.lan]
    heard = _Heard()
    own_mdns: bool | None = None
    own_broadcast: bool | None = None
    room: RoomPortCheck | None = None
    reach: PortAnswer | None = None
    async with contextlib.AsyncExitStack() as stack:
        if lan:
            mdns = await _start_mdns(stack, lan, own, heard)
            broadcast = await _start_broadcast(stack, lan, own, heard)
            own_mdns = False if mdns else None
            own_broadcast = False if broadcast else None
        if hosting is not None:
            room = await _check_room(hosting, lan)
        if room_address is not None:
            reach = PortAnswer(room_address, await _connect(room_address, port))
        left = listen_seconds - (time.monotonic() - started)
        await asyncio.sleep(max(0.0, left))
        own_events = [heard.own_mdns] if own_mdns is not None else []
        own_events += [heard.own_broadcast] if own_broadcast is not None else []
        with contextlib.suppress(TimeoutError):
            left = MIN_OWN_WAIT - (time.monotonic() - started)
            await asyncio.wait_for(_all_set(own_events), max(0.0, left))
        if own_mdns is not None:
            own_mdns = heard.own_mdns.is_set()
        if own_broadcast is not None:
            own_broadcast = heard.own_broadcast.is_set()
        others_by_mdns = tuple(sorted(heard.others_by_mdns, key=_order))
        others_by_broadcast = tuple(sorted(heard.others_by_broadcast, key=_order))
    if not lan:
        heard.notes.append("Announcements were not checked: there is no local network here.")
    return Diagnosis(
        interfaces=tuple(interfaces),
        port=hosting.port if hosting is not None else port,
        listened=round(max(listen_seconds, 0.0), 1),
        own_mdns=own_mdns,
        own_broadcast=own_broadcast,
        others_by_mdns=others_by_mdns,
        others_by_broadcast=others_by_broadcast,
        room=room,
        notes=tuple(heard.notes),
        reach=reach,
    )


async def _all_set(events: Iterable[asyncio.Event]) -> None:
    for event in events:
        await event.wait()


async def _start_mdns(
    stack: contextlib.AsyncExitStack, lan: list[NetworkInterface], own: set[str], heard: _Heard
) -> bool:
    """Browse for rooms and register the probe service, on the LAN interfaces only; both
    end when ``stack`` closes. False (with a note) when mDNS cannot be started at all."""
    chosen: list[str] = []
    for interface in lan:
        v4 = [a for a in interface.addresses if ":" not in a]
        v6 = [a.split("%", 1)[0] for a in interface.addresses if ":" in a]
        chosen += v4 + v6[:1]
    try:
        version = IPVersion.All if socket.has_ipv6 else IPVersion.V4Only
        zc = AsyncZeroconf(interfaces=chosen, ip_version=version)
    except OSError as exc:
        heard.notes.append(f"mDNS could not be started: {_reason(exc)}.")
        return False
    stack.push_async_callback(zc.async_close)
    token = secrets.token_hex(_PROBE_TOKEN_BYTES)
    probe_name = f"{PROBE_INSTANCE_PREFIX}{token}.{SERVICE_TYPE}"
    names: dict[str, None] = {}
    wake = asyncio.Event()

    def on_change(
        zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        if state_change is ServiceStateChange.Removed:
            return
        if name.lower() == probe_name.lower():
            heard.own_mdns.set()
        elif len(names) < MAX_SERVICES and name not in names:
            names[name] = None
            wake.set()

    browser = AsyncServiceBrowser(zc.zeroconf, SERVICE_TYPE, handlers=[on_change])
    stack.push_async_callback(browser.async_cancel)
    probe = AsyncServiceInfo(
        SERVICE_TYPE,
        probe_name,
        port=0,
        properties={"probe": "1"},
        server=f"{PROBE_INSTANCE_PREFIX}{token}.local.",
        parsed_addresses=chosen,
    )
    _background(stack, _register(zc, probe, heard))
    _background(stack, _resolve(zc, names, wake, own, heard))
    return True


async def _register(zc: AsyncZeroconf, probe: AsyncServiceInfo, heard: _Heard) -> None:
    try:
        await (await zc.async_register_service(probe))
    except Exception as exc:  # a name clash, or the network went away
        heard.notes.append(f"The probe announcement could not be made: {_reason(exc)}.")
        return
    try:
        await asyncio.Event().wait()  # until the check ends, then withdraw it
    finally:
        with contextlib.suppress(Exception):
            await (await zc.async_unregister_service(probe))


async def _resolve(
    zc: AsyncZeroconf, names: dict[str, None], wake: asyncio.Event, own: set[str], heard: _Heard
) -> None:
    """Learn the addresses of each service seen; those not this machine's are others'."""
    done = 0
    while True:
        while done == len(names):
            wake.clear()
            await wake.wait()
        name = list(names)[done]
        done += 1
        try:
            info = AsyncServiceInfo(SERVICE_TYPE, name)
            if not info.load_from_cache(zc.zeroconf):
                await info.async_request(zc.zeroconf, RESOLVE_TIMEOUT_MS)
            addresses = info.parsed_scoped_addresses()
        except Exception as exc:  # hostile or odd records: one less service to look at
            log.info("network check: ignoring service %s: %s", ascii(name[:80]), ascii(str(exc)))
            continue
        for address in addresses:
            if _bare(address) not in own:
                heard.add(heard.others_by_mdns, address)


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, received: Callable[[bytes, str], None]) -> None:
        self._received = received

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        if addr and isinstance(addr[0], str):
            self._received(data, addr[0])

    def error_received(self, exc: Exception) -> None:
        pass  # an ICMP error about a datagram: nothing to do


async def _start_broadcast(
    stack: contextlib.AsyncExitStack, lan: list[NetworkInterface], own: set[str], heard: _Heard
) -> bool:
    """Listen on the beacon port and send the probe to each subnet's broadcast address;
    False (with a note) when there is no subnet to send to or the port cannot be used."""
    targets = broadcast_targets([a for i in lan for a in i.addresses])
    if not targets:
        heard.notes.append("Broadcasts were not checked: no network here has a broadcast address.")
        return False
    probe = PROBE_MAGIC + secrets.token_bytes(_PROBE_TOKEN_BYTES)
    read = 0

    def received(data: bytes, source: str) -> None:
        nonlocal read
        if read >= MAX_DATAGRAMS:
            return
        read += 1
        if _bare(source) in own:
            if data == probe:
                heard.own_broadcast.set()
            return
        if data.startswith(PROBE_MAGIC) or decode_beacon(data, source) is not None:
            heard.add(heard.others_by_broadcast, source)

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        # Shared with the lobby's beacon listener (core.beacon), which sets the same options.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.setblocking(False)
        sock.bind(("0.0.0.0", BEACON_PORT))
    except OSError as exc:
        sock.close()
        heard.notes.append(
            f"Broadcasts were not checked: UDP port {BEACON_PORT} cannot be "
            f"listened on ({_reason(exc)})."
        )
        return False
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(lambda: _Datagrams(received), sock=sock)
    stack.callback(transport.close)
    _background(stack, _send_probes(targets, probe, heard))
    return True


async def _send_probes(targets: list[tuple[str, str]], probe: bytes, heard: _Heard) -> None:
    failed: set[str] = set()
    for attempt in range(2):
        if attempt:
            await asyncio.sleep(BROADCAST_REPEAT)
        for own, broadcast in targets:
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
                    sock.bind((own, 0))
                    sock.sendto(probe, (broadcast, BEACON_PORT))
            except OSError as exc:
                if own not in failed:
                    failed.add(own)
                    heard.notes.append(
                        f"A broadcast from {own} to {broadcast} could not be sent: {_reason(exc)}."
                    )


async def _check_room(hosting: HostedRoomInfo, lan: list[NetworkInterface]) -> RoomPortCheck:
    """Connect to the room's port on loopback and at each LAN address, all at once."""
    wanted = hosting.addresses or tuple(a for i in lan for a in i.addresses)
    addresses = [
        a
        for a in dict.fromkeys(wanted)
        if (ip := parse_address(a.split("%", 1)[0])) is not None
        and not ip.is_loopback
        and not ip.is_link_local
        and not ip.is_unspecified
    ]
    outcomes = await asyncio.gather(
        _connect("127.0.0.1", hosting.port), *(_connect(a, hosting.port) for a in addresses)
    )
    lan_answers = tuple(PortAnswer(a, o) for a, o in zip(addresses, outcomes[1:], strict=True))
    return RoomPortCheck(hosting.port, outcomes[0], lan_answers)


async def _connect(address: str, port: int) -> Outcome:
    """Whether a TCP connection to ``address:port`` opens; closes it at once, unused."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(address, port), CONNECT_TIMEOUT)
    except TimeoutError:
        return "no answer"
    except ConnectionRefusedError:
        return "refused"
    except PermissionError:  # EACCES or EPERM: a firewall rule, or a route that prohibits
        return "blocked"
    except OSError:
        return "unreachable"
    writer.transport.abort()
    return "answers"


def _background(stack: contextlib.AsyncExitStack, work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` until ``stack`` closes, then cancel it and wait for it."""
    task = asyncio.create_task(work)

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    stack.push_async_callback(stop)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return ascii(str(exc)[:120])
