"""Discovery across a pretend LAN: hosts and browsers in different network namespaces, with
the real command-line tools, real zeroconf and real multicast, on veth links only."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

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


@pytest.fixture
async def processes() -> AsyncIterator[list[Process]]:
    started: list[Process] = []
    yield started
    for proc in started:
        await proc.kill()


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
    hostile = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", lan.ns(1), sys.executable, str(HOSTILE_ADVERTISER),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        assert hostile.stdout is not None
        assert (await asyncio.wait_for(hostile.stdout.readline(), 15)).strip() == b"ready"
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
        assert all(len(r["name"]) <= 64 for r in seen.values())
        huge = next(r for r in seen.values() if r["name"].startswith("AAAA"))
        assert huge["participants"] is None and huge["assistant_kind"] == "unknown"
        assert len(huge["model"] or "") <= 64
        junk = next(r for r in seen.values() if r["protocol"] is None)
        assert junk["compatible"] is False
        assert watcher.proc.proc.returncode is None  # the browser is still running
    finally:
        hostile.kill()
        await hostile.wait()


async def test_join_by_address_link_and_name_across_hosts(
    lan: PretendLan, processes: list[Process]
) -> None:
    host, port = await host_in(lan, 1, processes, "--name", "Reading room")
    link = next(line.strip() for line in host.lines if "gptgroup://10.77.0.1:" in line)
    assert "room=Reading%20room" in link and "pw=0" in link
    joins = [
        (f"{lan.ipv4(1)}:{port}",),
        (f"[{lan.ipv6(1)}]:{port}",),
        (link,),
        ("--room", "reading ROOM", "--browse-time", "5"),
    ]
    for n, target in enumerate(joins):
        guest = await Process.start(
            "gptgroup-chat", *target, "--name", f"Guest{n}", netns=lan.ns(2)
        )
        processes.append(guest)
        await guest.expect("You joined 'Reading room'")
        guest.end_input()
        assert await guest.wait() == 0
