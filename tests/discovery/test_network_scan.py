""" "Search this network": which addresses a scan tries, that it stays bounded and stops when
cancelled (over the loopback of the suite's private namespace), and that it finds a room
across a pretend LAN whose switch drops both multicast and broadcast."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator

import ifaddr
import pytest

from core.network_scan import scan_addresses, scan_network
from tests.cli_processes import Process
from tests.discovery.test_beacon import drop_on_switch, python_in, require_nft
from tests.discovery.test_lan import host_in, watcher_in
from tests.netns import PretendLan, require_netns


def test_a_scan_never_knocks_through_a_vpn_or_on_public_neighbours() -> None:
    adapters = [
        ifaddr.Adapter("eth0", "eth0", [ifaddr.IP("192.168.1.20", 24, "eth0")]),
        ifaddr.Adapter("tun0", "tun0", [ifaddr.IP("10.8.0.6", 24, "tun0")]),
        ifaddr.Adapter("wg-office", "WireGuard", [ifaddr.IP("10.20.0.3", 24, "wg-office")]),
        ifaddr.Adapter("eth1", "eth1", [ifaddr.IP("198.51.100.7", 24, "eth1")]),
    ]
    addresses = scan_addresses(adapters)
    assert len(addresses) == 254
    assert all(a.startswith("192.168.1.") for a in addresses)


def test_a_scan_tries_at_most_the_24_around_each_address_and_never_loopback() -> None:
    adapters = [
        ifaddr.Adapter("lo", "lo", [ifaddr.IP("127.0.0.1", 8, "lo")]),
        ifaddr.Adapter(
            "eth0",
            "eth0",
            [
                ifaddr.IP("10.20.30.40", 16, "eth0"),
                ifaddr.IP(("fd00::1", 0, 0), 64, "eth0"),
            ],
        ),
        ifaddr.Adapter("wlan0", "wlan0", [ifaddr.IP("192.168.7.9", 30, "wlan0")]),
        ifaddr.Adapter("dup", "dup", [ifaddr.IP("10.20.30.41", 24, "dup")]),
    ]
    addresses = scan_addresses(adapters)
    assert addresses[:2] == ["10.20.30.1", "10.20.30.2"] and "10.20.30.254" in addresses
    assert "10.20.30.40" in addresses  # this machine too: a room hosted here is found
    assert [a for a in addresses if not a.startswith("10.20.30.")] == [
        "192.168.7.9",
        "192.168.7.10",
    ]
    assert len(addresses) == 254 + 2  # the second address of the same /24 adds nothing


def private_namespace() -> None:
    if not os.environ.get("GPTGROUP_TEST_NETNS"):
        if os.environ.get("GPTGROUP_REQUIRE_NETNS") == "1":
            pytest.fail("GPTGROUP_REQUIRE_NETNS=1 but the suite is not in a private namespace")
        pytest.skip("needs the private network namespace that make test provides as root")


async def test_a_scan_keeps_to_its_concurrency_reports_progress_and_stops_when_cancelled() -> None:
    private_namespace()
    accepted = 0
    open_now = 0
    all_closed = asyncio.Event()

    async def tarpit(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted, open_now
        accepted += 1
        open_now += 1
        try:
            await reader.read()  # never answers the TLS hello
        finally:
            open_now -= 1
            if open_now == 0:
                all_closed.set()
            writer.close()

    server = await asyncio.start_server(tarpit, "0.0.0.0", 0)
    port = server.sockets[0].getsockname()[1]
    addresses = [f"127.0.0.{n}" for n in range(1, 101)]  # all of them this machine
    # (done, total, connections accepted by then): when the k-th probe ends, at most
    # 8 + k - 1 have begun (a worker starts its next probe only after its last one ended).
    progress: list[tuple[int, int, int]] = []
    try:
        scan = asyncio.create_task(
            scan_network(port, addresses=addresses, concurrency=8, timeout=0.3,
                         progress=lambda done, total: progress.append((done, total, accepted)))
        )  # fmt: skip
        async with asyncio.timeout(5):
            while len(progress) < 20:
                await asyncio.sleep(0.02)
        assert progress[0][:2] == (1, 100) and progress[0][2] == 8  # eight at once
        assert all(seen <= 8 + done - 1 for done, _, seen in progress)
        started = time.monotonic()
        scan.cancel()
        with pytest.raises(asyncio.CancelledError):
            await scan
        assert time.monotonic() - started < 0.5
        async with asyncio.timeout(2):
            await all_closed.wait()  # every connection it had open was closed
        assert len(progress) < 100
    finally:
        server.close()


# A browser that scans when told to (after ``wait`` seconds) and hands it what it found. (The
# scans try 254 addresses of which one or two answer: wide, so that the test is quick.)
SCANNING_BROWSER = r"""
import asyncio, json, sys
from core.discovery import Discovery
from core.network_scan import scan_network
from core.room_tls import verification_code

async def main(port, wait, concurrency):
    discovery = Discovery()
    await discovery.start()
    browser = await discovery.browse(check_interval=0.5)
    browser.subscribe(lambda e: print(json.dumps({"event": e.kind, "name": e.room.name,
        "key": e.room.key, "found_by": list(e.room.found_by)}), flush=True))
    await asyncio.sleep(wait)
    print(json.dumps({"before_scan": [r.name for r in browser.rooms]}), flush=True)
    rooms = await scan_network(port, concurrency=concurrency)
    print(json.dumps({"scanned": [{"address": r.address, "name": r.name,
        "code": r.verification_code, "password_required": r.password_required,
        "assistant_kind": r.assistant_kind} for r in rooms]}), flush=True)
    browser.add_scanned(rooms)
    await asyncio.Event().wait()

asyncio.run(main(int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])))
"""


@pytest.fixture
def lan() -> Iterator[PretendLan]:
    require_netns()
    require_nft()
    with PretendLan(2) as pretend:
        yield pretend


async def test_where_announcements_are_dropped_a_scan_finds_the_room(
    lan: PretendLan, processes: list[Process]
) -> None:
    drop_on_switch(lan, multicast=True, broadcast=True)
    watcher = await watcher_in(lan, 2, processes)
    host, port = await host_in(lan, 1, processes, "--name", "Isolated", "--password", "pw")
    [code] = [line.split(": ")[1] for line in host.lines if line.startswith("Verification code")]
    assert await watcher.unread(3) == []  # neither mDNS nor a beacon got through

    browser = await python_in(lan, 2, SCANNING_BROWSER, port, "0", "128")
    processes.append(browser)
    scanned = json.loads((await browser.expect('"scanned"', timeout=20)).string)["scanned"]
    assert scanned == [
        {"address": lan.ipv4(1), "name": "Isolated", "code": code, "password_required": True,
         "assistant_kind": "none"},
    ]  # fmt: skip
    added = json.loads((await browser.expect('"added"', timeout=5)).string)
    assert (added["name"], added["found_by"]) == ("Isolated", ["scan"])


async def test_a_scanned_room_that_was_announced_too_is_listed_once(
    lan: PretendLan, processes: list[Process]
) -> None:
    _, port = await host_in(lan, 1, processes, "--name", "Everywhere")
    browser = await python_in(lan, 2, SCANNING_BROWSER, port, "3", "128")
    processes.append(browser)
    before = json.loads((await browser.expect('"before_scan"', timeout=10)).string)
    assert before["before_scan"] == ["Everywhere"]
    await browser.expect('"scanned"', timeout=20)
    await browser.expect('"found_by": \\["broadcast", "mdns", "scan"\\]', timeout=5)
    events = [json.loads(line) for line in browser.lines if line.startswith('{"event"')]
    assert [e["event"] for e in events].count("added") == 1
    assert {e["key"] for e in events} == {events[0]["key"]}
