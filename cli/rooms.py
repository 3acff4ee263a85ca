"""Room discovery for the terminal client: ``--list``, ``--watch``, ``--scan`` and
``--room NAME``.

Everything here prints what strangers on the network announced, so each piece of it goes
through :func:`cli.terminal_text.terminal_safe` (or :func:`terminal_json`) on its way out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import unicodedata
from collections.abc import Callable, Sequence

from cli.terminal_text import terminal_json, terminal_safe
from core.address import host_port
from core.discovery import BrowserEvent, DiscoveredRoom, Discovery, RoomBrowser
from core.network_scan import scan_addresses, scan_network
from core.protocol import DEFAULT_PORT, PROTOCOL_VERSION
from core.room_tls import fingerprint_text

__all__ = [
    "describe_room", "find_room", "list_rooms", "matching_rooms", "room_json", "scan_rooms",
]  # fmt: skip

_WHITESPACE_RUN = re.compile(r"\s+")


def describe_room(room: DiscoveredRoom) -> str:
    """One line about a discovered room, for people, safe to print."""
    parts = [room.name]
    if room.host_name:
        parts.append(f"host {room.host_name}")
    if room.participants is not None:
        parts.append(f"{room.participants} here")
    if room.password_required:
        parts.append("password")
    if room.assistant_kind in ("cloud", "local"):
        parts.append(
            f"assistant: {room.model or '?'} via {room.provider or '?'} ({room.assistant_kind})"
        )
    elif room.assistant_kind == "none":
        parts.append("no assistant")
    if not room.compatible:
        parts.append(f"INCOMPATIBLE ({_incompatibility(room)})")
    elif room.verification_code is not None:
        parts.append(f"code {room.verification_code}")
    if room.own:
        parts.append("yours")
    if room.found_by and "mdns" not in room.found_by:
        parts.append(f"found by {' and '.join(room.found_by)}")
    where = host_port(room.reachable or room.addresses[0], room.port)
    return terminal_safe("  " + " · ".join(parts) + f"  →  {where}")


def _incompatibility(room: DiscoveredRoom) -> str:
    if room.protocol == PROTOCOL_VERSION:
        return "announced without its certificate"
    return f"protocol {room.protocol or '?'}"


def room_json(event: BrowserEvent) -> str:
    """One line of JSON about a room, safe to print (see :func:`terminal_json`). The
    certificate's fingerprint is in its text form, as links carry it."""
    fingerprint = event.room.fingerprint
    room = dataclasses.asdict(event.room) | {
        "compatible": event.room.compatible,
        "fingerprint": None if fingerprint is None else fingerprint_text(fingerprint),
        "verification_code": event.room.verification_code,
    }
    return terminal_json({"event": event.kind, "room": room})


async def _browse(
    interfaces: Sequence[str] | None, check_interval: float = 5.0
) -> tuple[Discovery, RoomBrowser]:
    discovery = Discovery(interfaces)
    await discovery.start()
    return discovery, await discovery.browse(check_interval=check_interval)


async def list_rooms(
    seconds: float, interfaces: Sequence[str] | None, out: Callable[[str], None], *,
    watch: bool, as_json: bool, check_interval: float = 5.0,
) -> int:  # fmt: skip
    """Print the rooms found within ``seconds`` (or every change, for ever, with ``watch``)."""
    discovery, browser = await _browse(interfaces, check_interval)
    try:
        if watch:
            browser.subscribe(
                lambda e: out(room_json(e) if as_json else f"{e.kind}: {describe_room(e.room)}")
            )
            await asyncio.Event().wait()  # until interrupted
        await asyncio.sleep(seconds)
        _print_rooms(
            browser.rooms, out, as_json=as_json, heading="Rooms on this network:",
            none=(
                "No rooms found. Announcements may not reach this machine here: try --scan, "
                "a join code (--code) or the room's address; --doctor says why."
            ),
        )  # fmt: skip
        return 0
    finally:
        await browser.close()
        await discovery.close()


async def scan_rooms(out: Callable[[str], None], *, as_json: bool) -> int:
    """Search this machine's own subnets for rooms (see :mod:`core.network_scan`) and print
    what answered. Only on request: it knocks on every address of the local /24."""
    targets = scan_addresses()
    if not as_json:
        out(f"Searching this network: {len(targets)} addresses on port {DEFAULT_PORT}...")
    rooms = [scanned.discovered() for scanned in await scan_network(addresses=targets)]
    _print_rooms(
        rooms, out, as_json=as_json,
        heading="Rooms found (nobody vouched for them: compare the code with the host's):",
        none="No room answered on this network. Ask the host for a join code or the address.",
    )  # fmt: skip
    return 0


def _print_rooms(
    rooms: Sequence[DiscoveredRoom], out: Callable[[str], None], *, as_json: bool,
    heading: str, none: str,
) -> None:  # fmt: skip
    """Print ``rooms``: a JSON line each, or ``heading`` and a line each (``none`` when there
    are none)."""
    if as_json:
        for room in rooms:
            out(room_json(BrowserEvent("listed", room)))
    elif rooms:
        out(heading)
        for room in rooms:
            out(describe_room(room))
    else:
        out(none)


def _name_form(name: str) -> str:
    """A room name as the room itself keeps it: NFC, whitespace runs as one space, trimmed."""
    return unicodedata.normalize("NFC", _WHITESPACE_RUN.sub(" ", name).strip())


def matching_rooms(name: str, rooms: Sequence[DiscoveredRoom]) -> tuple[list[DiscoveredRoom], bool]:
    """The rooms called ``name``, and whether they match it exactly.

    Names are compared as the room normalises them. The rooms whose name equals ``name``
    exactly win; only when there are none do the rooms whose name differs in letter case
    count. A name announced longer than any room name may be (shown cut, with an ellipsis)
    matches nothing: what is shown is not the room's name.
    """
    wanted = _name_form(name)
    whole = [room for room in rooms if not room.name_cut]
    exact = [room for room in whole if _name_form(room.name) == wanted]
    if exact:
        return exact, True
    folded = wanted.casefold()
    return [room for room in whole if _name_form(room.name).casefold() == folded], False


async def find_room(
    name: str, seconds: float, interfaces: Sequence[str] | None
) -> DiscoveredRoom | str:
    """The one compatible room called ``name``, or a sentence saying why not.

    An exact match is taken as soon as it is seen; a match in another letter case only at
    the end of ``seconds``, and only if it is the only one, since a room of exactly that
    name may still answer.
    """
    discovery, browser = await _browse(interfaces)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            matches, exact = matching_rooms(name, browser.rooms)
            if len(matches) == 1 and matches[0].compatible and exact:
                return matches[0]
            if loop.time() >= deadline:
                break
            await asyncio.sleep(0.1)
    finally:
        await browser.close()
        await discovery.close()
    if len(matches) == 1 and matches[0].compatible:
        return matches[0]
    if not matches:
        return f"no room called {name!r} was found on this network; join by address or link"
    if len(matches) > 1:
        listing = "\n".join(describe_room(r) for r in matches)
        return (
            f"several rooms are called {name!r}; ask the host for the room link, or compare "
            f"the codes with the host's and join one by address:\n{listing}"
        )
    if matches[0].protocol == PROTOCOL_VERSION:
        return f"the room {name!r} was announced without its certificate; ask for the room link"
    return f"the room {name!r} uses protocol {matches[0].protocol}; update the older app"
