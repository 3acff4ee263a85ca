"""The broadcast beacon: rooms found where multicast is dropped, listed once however they were
found, and a browser that stays bounded under a flood of forged beacons.

In one process over the loopback of the suite's private namespace (beacons sent to the
browser's port by unicast), and across a pretend LAN whose switch drops multicast (an
nftables ``bridge`` rule in the switch's namespace): never on a real interface.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

import core.beacon
from core.beacon import (
    BEACON_PORT,
    FIRST_BEACON_GAP,
    FIRST_BEACONS,
    TOTAL_BURST,
    TOTAL_RATE,
    BeaconRoom,
    BeaconSender,
    decode_beacon,
    encode_beacon,
)
from core.discovery import MAX_CHECK_SOCKETS, BrowserEvent, Discovery
from core.hosting import RoomHost
from core.network_scan import scan_network
from core.room import RoomConfig
from core.room_records import RoomAdvert
from tests.cli_processes import Process
from tests.discovery.test_lan import heard_both_ways, host_in, open_sockets, watcher_in
from tests.netns import PretendLan, require_netns

# -- in one process, over loopback ----------------------------------------------------------


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def private_namespace() -> None:
    if not os.environ.get("GPTGROUP_TEST_NETNS"):
        if os.environ.get("GPTGROUP_REQUIRE_NETNS") == "1":
            pytest.fail("GPTGROUP_REQUIRE_NETNS=1 but the suite is not in a private namespace")
        pytest.skip("needs the private network namespace that make test provides as root")


@pytest.fixture
async def loopback_discovery() -> AsyncIterator[Discovery]:
    """A Discovery whose beacons use a port of their own, inside the private namespace."""
    private_namespace()
    discovery = Discovery(beacon_port=free_udp_port())
    await discovery.start()
    yield discovery
    await discovery.close()


@pytest.fixture
async def loopback_room() -> AsyncIterator[RoomHost]:
    """A room on 127.0.0.1, not announced (the tests send its beacon themselves)."""
    host = RoomHost(RoomConfig(name="Beacon room"), bind="127.0.0.1", port=0, advertise=False)
    await host.start()
    yield host
    await host.close()


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


def send_beacon(data: bytes, port: int, source: str = "127.0.0.1") -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.bind((source, 0))
        sender.sendto(data, ("127.0.0.1", port))


def advert_of(host: RoomHost, **changes: Any) -> RoomAdvert:
    values: dict[str, Any] = {
        "room_id": host.server.room.instance, "name": "Beacon room", "port": host.port,
        "fingerprint": host.fingerprint,
    }  # fmt: skip
    return RoomAdvert(**(values | changes))


async def test_a_room_heard_by_beacon_and_by_scan_is_listed_once_with_both(
    loopback_discovery: Discovery, loopback_room: RoomHost
) -> None:
    browser = await loopback_discovery.browse(check_interval=0.5)
    events: list[BrowserEvent] = []
    browser.subscribe(events.append)
    try:
        port = loopback_discovery.beacon_port
        send_beacon(encode_beacon(advert_of(loopback_room), loopback_room.port), port)
        await until(lambda: bool(browser.rooms))
        [room] = browser.rooms
        assert (room.name, room.found_by, room.addresses) == (
            "Beacon room",
            ("broadcast",),
            ("127.0.0.1",),
        )
        assert room.compatible and room.reachable == "127.0.0.1"
        assert room.verification_code == loopback_room.verification_code

        # A copy of the beacon from another address, under another name: the room people see
        # keeps the name its answering address gave, and stays one entry.
        forged = encode_beacon(advert_of(loopback_room, name="Evil twin"), loopback_room.port)
        send_beacon(forged, port, source="127.0.0.2")
        scanned = await scan_network(loopback_room.port, addresses=["127.0.0.1"], timeout=2.0)
        assert [(s.address, s.name, s.fingerprint) for s in scanned] == [
            ("127.0.0.1", "Beacon room", loopback_room.fingerprint)
        ]
        browser.add_scanned(scanned)
        await until(lambda: browser.rooms[0].found_by == ("broadcast", "scan"))
        [room] = browser.rooms
        assert room.name == "Beacon room" and room.reachable == "127.0.0.1"
        assert [e.kind for e in events].count("added") == 1
        assert browser.tracked == 1
    finally:
        await browser.close()


async def test_a_beacon_room_survives_a_forged_goodbye_and_leaves_when_its_checks_fail(
    loopback_discovery: Discovery, loopback_room: RoomHost
) -> None:
    browser = await loopback_discovery.browse(check_interval=0.3, probe_timeout=0.5)
    events: list[BrowserEvent] = []
    browser.subscribe(events.append)
    port = loopback_discovery.beacon_port
    try:
        send_beacon(encode_beacon(advert_of(loopback_room), loopback_room.port), port)
        await until(lambda: bool(browser.rooms))
        # Anyone can send a goodbye: the room is checked at once and again, and stays.
        bye = encode_beacon(advert_of(loopback_room), loopback_room.port, goodbye=True)
        send_beacon(bye, port, source="127.0.0.9")
        await asyncio.sleep(1.5)  # the two checks after a goodbye, a second apart
        assert [e.kind for e in events] == ["added"] and len(browser.rooms) == 1
        # A host that vanishes without a word leaves after two failed checks.
        await loopback_room.close()
        await until(lambda: not browser.rooms, timeout=3)
        assert [e.kind for e in events] == ["added", "removed"]
    finally:
        await browser.close()


async def test_a_beacon_for_a_room_that_does_not_answer_is_never_listed(
    loopback_discovery: Discovery, loopback_room: RoomHost
) -> None:
    browser = await loopback_discovery.browse(check_interval=0.2, probe_timeout=0.5)
    try:
        impostor = advert_of(loopback_room, fingerprint=secrets.token_bytes(32), name="Impostor")
        send_beacon(encode_beacon(impostor, loopback_room.port), loopback_discovery.beacon_port)
        await until(lambda: browser.tracked == 1)
        await asyncio.sleep(1.0)  # several checks, each one refused for its certificate
        assert browser.rooms == []
    finally:
        await browser.close()


async def test_a_beacon_port_taken_by_another_program_leaves_mdns_working(
    loopback_discovery: Discovery,
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("0.0.0.0", loopback_discovery.beacon_port))  # no SO_REUSEADDR/PORT
        browser = await loopback_discovery.browse()
        try:
            problem = browser.beacon_problem
            assert problem is not None and str(loopback_discovery.beacon_port) in problem
            assert "in use" in problem
        finally:
            await browser.close()
    # Several apps on one machine share the port when each of them asks to.
    first = await loopback_discovery.browse()
    second = await loopback_discovery.browse()
    try:
        assert first.beacon_problem is None and second.beacon_problem is None
    finally:
        await first.close()
        await second.close()


async def test_a_host_beacons_three_times_at_first_then_every_few_seconds_and_on_change(
    loopback_room: RoomHost, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    private_namespace()
    monkeypatch.setattr(core.beacon, "BEACON_INTERVAL", 1.5)  # 5 s, but the test is quick
    caplog.set_level(logging.INFO, logger="gptgroup.discovery")
    loop = asyncio.get_running_loop()
    heard: asyncio.Queue[tuple[float, BeaconRoom]] = asyncio.Queue()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        receiver.setblocking(False)

        def received() -> None:
            data, (source, _) = receiver.recvfrom(1024)
            if (room := decode_beacon(data, source)) is not None:
                heard.put_nowait((loop.time(), room))

        loop.add_reader(receiver.fileno(), received)
        # A target that can send (to the receiver, by unicast) and one that cannot.
        targets = [("127.0.0.1", "127.0.0.1"), ("192.0.2.1", "192.0.2.255")]
        sender = BeaconSender(advert_of(loopback_room), targets, receiver.getsockname()[1])
        try:
            started = loop.time()
            sender.start()
            first = [await asyncio.wait_for(heard.get(), 2) for _ in range(FIRST_BEACONS)]
            last_at = first[-1][0] - started
            assert last_at == pytest.approx((FIRST_BEACONS - 1) * FIRST_BEACON_GAP, abs=0.3)
            assert all(room.name == "Beacon room" and not room.goodbye for _, room in first)
            changed_at = loop.time()
            sender.update(advert_of(loopback_room, participants=2))
            at, changed = await asyncio.wait_for(heard.get(), 1)
            assert changed.participants == 2 and at - changed_at < 0.3  # at once
            again_at, again = await asyncio.wait_for(heard.get(), 2.5)
            assert again.participants == 2
            assert again_at - at == pytest.approx(1.5, abs=0.3)  # then at the usual pace
        finally:
            await sender.close()
            loop.remove_reader(receiver.fileno())
        goodbye = receiver.recv(1024)
    assert (room := decode_beacon(goodbye, "127.0.0.1")) is not None and room.goodbye
    # The target that cannot send was tried each time, and said so once.
    failures = [r for r in caplog.records if "cannot send the room's beacon" in r.getMessage()]
    assert len(failures) == 1 and "192.0.2.1" in failures[0].getMessage()


# -- across a pretend LAN -------------------------------------------------------------------

NFT_REASON = "dropping multicast on the pretend switch needs nftables ('nft')"


def require_nft() -> None:
    if shutil.which("nft") is not None:
        return
    if os.environ.get("GPTGROUP_REQUIRE_NETNS") == "1":
        pytest.fail(f"GPTGROUP_REQUIRE_NETNS=1 but {NFT_REASON}")
    pytest.skip(NFT_REASON)


def drop_on_switch(lan: PretendLan, *, multicast: bool, broadcast: bool = False) -> None:
    """What a filtering access point does: the switch forwards no mDNS (``multicast``) and
    no beacons (``broadcast``) between its ports; everything else passes."""
    rules = []
    if multicast:
        rules += ["ip daddr 224.0.0.251 drop", "ip6 daddr ff02::fb drop", "udp dport 5353 drop"]
    if broadcast:
        rules += [f"udp dport {BEACON_PORT} drop", "ip daddr 10.77.0.255 drop"]
    table = (
        "table bridge pretend_filter {\n  chain forward {\n"
        "    type filter hook forward priority 0; policy accept;\n"
        + "".join(f"    {rule}\n" for rule in rules)
        + "  }\n}\n"
    )
    subprocess.run(
        ["ip", "netns", "exec", lan.switch, "nft", "-f", "-"],
        input=table, check=True, capture_output=True, text=True,
    )  # fmt: skip


@pytest.fixture
def lan() -> Iterator[PretendLan]:
    require_netns()
    require_nft()
    with PretendLan(3) as pretend:
        yield pretend


async def test_where_multicast_is_dropped_the_beacon_lists_the_room(
    lan: PretendLan, processes: list[Process]
) -> None:
    drop_on_switch(lan, multicast=True)
    watcher = await watcher_in(lan, 2, processes)
    started = time.monotonic()
    host, port = await host_in(lan, 1, processes, "--name", "Behind the filter")
    added = (await watcher.next("added", timeout=8, name="Behind the filter"))["room"]
    assert time.monotonic() - started < 6
    assert added["found_by"] == ["broadcast"]
    assert added["addresses"] == [lan.ipv4(1)] and added["port"] == int(port)
    assert added["compatible"] and added["reachable"] == lan.ipv4(1)
    [code] = [line.split(": ")[1] for line in host.lines if line.startswith("Verification code")]
    assert added["verification_code"] == code

    host.interrupt()  # its goodbye beacon has the room checked at once
    started = time.monotonic()
    removed = await watcher.next("removed", timeout=6)
    assert removed["room"]["key"] == added["key"] and time.monotonic() - started < 4


async def test_a_room_heard_both_ways_is_listed_once(
    lan: PretendLan, processes: list[Process]
) -> None:
    watcher = await watcher_in(lan, 2, processes)
    await host_in(lan, 1, processes, "--name", "Heard twice")
    added = await heard_both_ways(watcher, await watcher.next("added", name="Heard twice"))
    assert lan.ipv4(1) in added["addresses"] and lan.ipv6(1) in added["addresses"]
    later = await watcher.unread(3)  # a few beacons and checks later
    assert [e for e in later if e["event"] != "updated"] == []
    assert all(e["room"]["key"] == added["key"] for e in later)


# The forger: from many addresses of its host, thousands of datagrams to the beacon port:
# beacons for rooms that do not exist (pointing at a tarpit that accepts and never answers),
# garbage, oversize datagrams, and fields with bytes that are no UTF-8 (a lone surrogate).
FORGER = r"""
import asyncio, os, secrets, socket, struct, sys
from core.beacon import BEACON_PORT, encode_beacon
from core.room_records import RoomAdvert
from core.room_tls import fingerprint_text

def raw(entries, port):
    body = b"".join(bytes([len(e)]) + e for e in entries)
    return struct.pack("!4sBBH", b"GGRB", 1, 0, port) + body

async def tarpit(reader, writer):
    await reader.read()

async def main(sources, count, target):
    server = await asyncio.start_server(tarpit, "0.0.0.0", 0)
    port = server.sockets[0].getsockname()[1]
    senders = []
    for source in sources:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.bind((source, 0))
        senders.append(sock)
    print("ready", flush=True)
    for i in range(count):
        kind = i % 4
        if kind == 0:
            advert = RoomAdvert(secrets.token_hex(8), f"Fake {i}", port, secrets.token_bytes(32))
            data = encode_beacon(advert, port)
        elif kind == 1:
            data = os.urandom(i % 700)
        elif kind == 2:
            data = b"GGRB\x01\x00" + os.urandom(1400)
        else:
            fp = fingerprint_text(secrets.token_bytes(32)).encode()
            data = raw([b"v=2", b"rid=" + secrets.token_hex(6).encode(), b"fp=" + fp,
                        b"n=\xed\xa0\x80\xff" * 40, b"c=99999999999", b"h=\x1b[2J" * 20], port)
        sender = senders[i % len(senders)]
        for address in (target, "10.77.0.255"):
            try:
                sender.sendto(data, (address, BEACON_PORT))
            except OSError:
                pass  # a full buffer: the flood goes on
        if i % 200 == 0:
            await asyncio.sleep(0.01)
    print("sent", flush=True)
    await asyncio.Event().wait()

asyncio.run(main(sys.argv[1].split(","), int(sys.argv[2]), sys.argv[3]))
"""

# A browser that says how much it tracks, four times a second, and what it lists.
STATUS_BROWSER = r"""
import asyncio, json
from core.discovery import Discovery

async def main():
    discovery = Discovery()
    await discovery.start()
    browser = await discovery.browse(check_interval=0.5)
    browser.subscribe(lambda e: print(json.dumps(
        {"event": e.kind, "name": e.room.name, "found_by": list(e.room.found_by)}), flush=True))
    while True:
        print(json.dumps({"tracked": browser.tracked, "dropped": browser.beacons_dropped,
                          "listed": [r.name for r in browser.rooms]}), flush=True)
        await asyncio.sleep(0.25)

asyncio.run(main())
"""


def add_addresses(lan: PretendLan, i: int, addresses: list[str]) -> None:
    for address in addresses:
        subprocess.run(
            ["ip", "-n", lan.ns(i), "addr", "add", f"{address}/24", "dev", "eth0"],
            check=True, capture_output=True,
        )  # fmt: skip


async def python_in(lan: PretendLan, i: int, script: str, *args: str) -> Process:
    return await Process.start("python", "-c", script, *args, netns=lan.ns(i))


async def test_a_flood_of_forged_beacons_stays_bounded_and_hides_no_real_room(
    lan: PretendLan, processes: list[Process]
) -> None:
    sources = [f"10.77.0.{n}" for n in range(100, 120)]
    add_addresses(lan, 1, sources)  # the forger's host answers to many addresses
    browser = await python_in(lan, 2, STATUS_BROWSER)
    processes.append(browser)
    await host_in(lan, 3, processes, "--name", "Real room")
    await browser.expect('"event": "added", "name": "Real room"', timeout=10)
    pid = browser.proc.pid
    baseline = min(open_sockets(pid) for _ in range(5))
    before_flood = len(browser.lines)
    forger = await python_in(lan, 1, FORGER, ",".join(sources), "6000", lan.ipv4(2))
    processes.append(forger)
    await forger.expect("ready")
    flood_started = time.monotonic()
    peak_sockets = baseline
    while time.monotonic() - flood_started < 4:
        peak_sockets = max(peak_sockets, open_sockets(pid))
        await browser.expect('"tracked"', timeout=2)  # four times a second
    flood_seconds = time.monotonic() - flood_started
    await forger.expect("sent", timeout=10)

    assert browser.proc.returncode is None
    lines = [json.loads(line) for line in browser.lines if line.startswith("{")]
    events = [(e["event"], e["name"]) for e in lines if "event" in e]
    assert [e for e in events if e[0] != "updated"] == [("added", "Real room")]
    assert {name for _, name in events} == {"Real room"}  # no fake room, and no removal
    flooded = [json.loads(line) for line in browser.lines[before_flood:] if line.startswith("{")]
    statuses = [s for s in flooded if "tracked" in s]
    assert all(s["listed"] == ["Real room"] for s in statuses)
    assert statuses[-1]["dropped"] > 1000  # most of the flood was never parsed
    most = max(s["tracked"] for s in statuses)
    assert 1 < most <= 1 + TOTAL_BURST + TOTAL_RATE * (flood_seconds + 1)
    assert baseline < peak_sockets <= baseline + MAX_CHECK_SOCKETS
