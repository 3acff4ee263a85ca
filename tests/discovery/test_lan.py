"""Discovery across a pretend LAN: hosts and browsers in different network namespaces, with
the real command-line tools, real zeroconf and real multicast, on veth links only."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.discovery import MAX_CHECK_SOCKETS
from core.protocol import MAX_ROOM_NAME_CHARS, SERVICE_TYPE
from tests.cli_processes import Process
from tests.netns import PretendLan, require_netns

HOSTILE_ADVERTISER = Path(__file__).with_name("hostile_advertiser.py")


@pytest.fixture
def lan() -> Iterator[PretendLan]:
    require_netns()
    with PretendLan(3) as pretend:
        yield pretend


class Watcher:
    """``gptgroup-chat --list --watch --json`` in one namespace, read event by event."""

    def __init__(self, proc: Process) -> None:
        self.proc = proc
        self.events: list[dict[str, Any]] = []

    async def next(self, kind: str, timeout: float = 10.0, **match: Any) -> dict[str, Any]:
        """The next event of ``kind`` whose room fields equal ``match``."""
        pattern = f'"event": "{kind}"'
        while True:
            found = await self.proc.expect(pattern, timeout)
            event = json.loads(found.string)
            self.events.append(event)
            if all(event["room"].get(k) == v for k, v in match.items()):
                return event

    async def unread(self, seconds: float) -> list[dict[str, Any]]:
        """Every event printed and not read yet, and those printed over the next ``seconds``."""
        assert self.proc.proc.stdout is not None
        events = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                raw = await asyncio.wait_for(self.proc.proc.stdout.readline(), left)
            except TimeoutError:
                break
            self.proc.lines.append(raw.decode().rstrip("\n"))
            if raw.startswith(b"{"):
                events.append(json.loads(raw))
        return events


async def heard_both_ways(watcher: Watcher, added: dict[str, Any]) -> dict[str, Any]:
    """The room of an ``added`` event once the watcher has heard it by mDNS and by its
    beacon too (the second way heard is an ``updated`` event), so that later events are
    about something else."""
    room: dict[str, Any] = added["room"]
    while room["found_by"] != ["broadcast", "mdns"]:
        room = (await watcher.next("updated", key=room["key"]))["room"]
    return room


async def hostile_in(lan: PretendLan, i: int, *args: str) -> asyncio.subprocess.Process:
    """The hostile announcer (see hostile_advertiser.py) on host ``i``, once it is ready."""
    hostile = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", lan.ns(i), sys.executable, str(HOSTILE_ADVERTISER), *args,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert hostile.stdout is not None
    assert (await asyncio.wait_for(hostile.stdout.readline(), 15)).strip() == b"ready"
    return hostile


def open_sockets(pid: int) -> int:
    """How many sockets process ``pid`` has open."""
    fds = Path(f"/proc/{pid}/fd")
    count = 0
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):  # closed meanwhile
            count += os.readlink(fd).startswith("socket:")
    return count


async def host_in(lan: PretendLan, i: int, procs: list[Process], *args: str) -> tuple[Process, str]:
    """A headless host announcing its room from host ``i``; returns it and its port."""
    host = await Process.start(
        "gptgroup-host", "--port", "0", "--provider", "none", *args, netns=lan.ns(i)
    )
    procs.append(host)
    port = (await host.expect(r"is open on port (\d+)")).group(1)
    await host.expect("Announced on the local network")
    return host, port


async def watcher_in(lan: PretendLan, i: int, procs: list[Process]) -> Watcher:
    proc = await Process.start(
        "gptgroup-chat", "--list", "--watch", "--json", "--check-interval", "0.5", netns=lan.ns(i)
    )
    procs.append(proc)
    return Watcher(proc)


async def test_a_room_appears_updates_and_vanishes_on_close(
    lan: PretendLan, processes: list[Process]
) -> None:
    watcher = await watcher_in(lan, 2, processes)
    host, port = await host_in(lan, 1, processes, "--name", "Lan party ☕")
    added = (await watcher.next("added", name="Lan party ☕"))["room"]
    assert added["participants"] == 0 and added["compatible"] and not added["own"]
    assert lan.ipv4(1) in added["addresses"] and lan.ipv6(1) in added["addresses"]
    assert added["reachable"] in added["addresses"] and added["port"] == int(port)
    assert (added["assistant_kind"], added["password_required"]) == ("none", False)

    guest = await Process.start(
        "gptgroup-chat", f"{lan.ipv4(1)}:{port}", "--name", "Sam", netns=lan.ns(3)
    )
    processes.append(guest)
    await guest.expect("You joined")
    updated = await watcher.next("updated", participants=1)
    assert updated["room"]["key"] == added["key"]

    host.interrupt()
    started = time.monotonic()
    removed = await watcher.next("removed", timeout=5)
    assert removed["room"]["key"] == added["key"]
    assert time.monotonic() - started < 3  # goodbye packets: at once, not after a timeout
    await guest.expect("The host shut down")


async def test_a_crashed_host_disappears(lan: PretendLan, processes: list[Process]) -> None:
    watcher = await watcher_in(lan, 2, processes)
    host, _ = await host_in(lan, 1, processes, "--name", "Fragile")
    await watcher.next("added", name="Fragile")
    host.proc.kill()  # no goodbye
    await host.proc.wait()
    removed = await watcher.next("removed", timeout=10)
    assert removed["room"]["name"] == "Fragile"


async def test_two_rooms_with_one_name_are_told_apart(
    lan: PretendLan, processes: list[Process]
) -> None:
    watcher = await watcher_in(lan, 2, processes)
    await host_in(lan, 1, processes, "--name", "Study group")
    await host_in(lan, 3, processes, "--name", "Study group", "--password", "pw")
    first = (await watcher.next("added", name="Study group"))["room"]
    second = (await watcher.next("added", name="Study group"))["room"]
    assert first["key"] != second["key"] and first["room_id"] != second["room_id"]
    hosts = {first["reachable"], second["reachable"]}
    assert hosts <= {lan.ipv4(1), lan.ipv6(1), lan.ipv4(3), lan.ipv6(3)}
    assert {h[-1] for h in hosts} == {"1", "3"}  # one room from each host
    assert sorted([first["password_required"], second["password_required"]]) == [False, True]


async def test_hostile_records_never_break_the_list(
    lan: PretendLan, processes: list[Process]
) -> None:
    watcher = await watcher_in(lan, 2, processes)
    hostile = await hostile_in(lan, 1)
    try:
        await host_in(lan, 3, processes, "--name", "Honest room")
        seen: dict[str, dict[str, Any]] = {}
        deadline = time.monotonic() + 15
        while "Honest room" not in seen or len(seen) < 5:
            event = await watcher.next("added", timeout=max(0.1, deadline - time.monotonic()))
            seen[event["room"]["name"]] = event["room"]
        assert seen["Honest room"]["compatible"]
        future = seen["From the future"]
        assert future["compatible"] is False and future["protocol"] == 99
        sneaky = next(r for name, r in seen.items() if name.startswith("Sneaky"))
        assert "\u202e" not in sneaky["name"] and "\x1b" not in sneaky["name"]
        assert all(len(r["name"]) <= MAX_ROOM_NAME_CHARS for r in seen.values())
        huge = next(r for r in seen.values() if r["name"].startswith("AAAA"))
        assert huge["name_cut"] and huge["name"].endswith("…")
        assert huge["participants"] is None and huge["assistant_kind"] == "unknown"
        assert len(huge["model"] or "") <= 64
        junk = next(r for r in seen.values() if r["protocol"] is None)
        assert junk["compatible"] is False
        assert not any(r["name"].startswith("Clear") for r in seen.values())
        # The instance name with control characters was announced first: it was set aside
        # without a word, rather than ending a task with its escape sequences printed.
        assert watcher.proc.proc.returncode is None  # the browser is still running
        assert all(line.startswith('{"event": "added"') for line in watcher.proc.lines)
    finally:
        hostile.kill()
        await hostile.wait()


async def test_join_by_address_link_and_name_across_hosts(
    lan: PretendLan, processes: list[Process]
) -> None:
    host, port = await host_in(lan, 1, processes, "--name", "Reading room")
    [code] = [line.split(": ")[1] for line in host.lines if line.startswith("Verification code")]
    link = next(line.strip() for line in host.lines if "gptgroup://10.77.0.1:" in line)
    assert "room=Reading%20room" in link and "pw=0" in link and "&fp=" in link
    joins = [
        (f"{lan.ipv4(1)}:{port}",),
        (f"[{lan.ipv6(1)}]:{port}",),
        (link,),
        ("--room", "reading ROOM", "--browse-time", "3"),  # any case, when only one matches
    ]
    for n, target in enumerate(joins):
        guest = await Process.start(
            "gptgroup-chat", *target, "--name", f"Guest{n}", netns=lan.ns(2)
        )
        processes.append(guest)
        await guest.expect("You joined 'Reading room'")
        guest.end_input()
        assert await guest.wait() == 0
        # A typed address is only as good as the code people compare, and so is a name: anyone
        # can announce a room of that name. Only the link named the certificate for certain.
        shown = [line for line in guest.lines if "Verification code" in line]
        if target == (link,):
            assert shown == []
        else:
            assert len(shown) == 1 and f"Verification code: {code}." in shown[0]


async def test_a_long_unicode_room_name_is_announced_whole_and_joined_by_name(
    lan: PretendLan, processes: list[Process]
) -> None:
    name = "☕ 日本語のチャット部屋です 🎲🎲🎲🎲🎲🎲🎲🎲 Ωμέγα Café 🎲🎲🎲🎲🎲"
    assert len(name) == MAX_ROOM_NAME_CHARS and len(name.encode()) > 100
    await host_in(lan, 1, processes, "--name", name)
    guest = await Process.start(
        "gptgroup-chat", "--room", name, "--name", "Sam", "--browse-time", "5", netns=lan.ns(2)
    )
    processes.append(guest)
    await guest.expect(f"You joined '{name}'")
    guest.end_input()
    assert await guest.wait() == 0


async def test_a_flood_of_fake_rooms_neither_hides_a_real_one_nor_takes_its_sockets(
    lan: PretendLan, processes: list[Process]
) -> None:
    watcher = await watcher_in(lan, 2, processes)
    await host_in(lan, 3, processes, "--name", "Real room")
    real = await heard_both_ways(watcher, await watcher.next("added", name="Real room"))
    pid = watcher.proc.proc.pid
    baseline = min([open_sockets(pid) for _ in range(5)])
    hostile = await hostile_in(lan, 1, "flood", "1500")
    try:
        peak = baseline
        started = time.monotonic()
        while time.monotonic() - started < 4:
            peak = max(peak, open_sockets(pid))
            await asyncio.sleep(0.02)
        printed = await watcher.unread(0.5)
    finally:
        hostile.kill()
        await hostile.wait()
    assert baseline < peak <= baseline + MAX_CHECK_SOCKETS  # checked, through a few sockets
    assert printed == []  # no fake room listed, and the real one never left the list
    assert watcher.proc.proc.returncode is None
    assert real["compatible"]


async def test_a_spoofed_goodbye_does_not_hide_a_live_room(
    lan: PretendLan, processes: list[Process]
) -> None:
    watcher = await watcher_in(lan, 2, processes)
    host, _ = await host_in(lan, 3, processes, "--name", "Live room")
    room = await heard_both_ways(watcher, await watcher.next("added", name="Live room"))
    instance = f"Live room@{room['room_id'][:8]}.{SERVICE_TYPE}"
    hostile = await hostile_in(lan, 1, "goodbye", instance)
    try:
        printed = await watcher.unread(3)
    finally:
        hostile.kill()
        await hostile.wait()
    assert printed == []  # still listed: it answered every check after each goodbye
    host.interrupt()  # and when it does close, it leaves the list
    removed = await watcher.next("removed", timeout=5)
    assert removed["room"]["key"] == room["key"]
