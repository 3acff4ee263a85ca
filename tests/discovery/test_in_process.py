"""Advertising and browsing in one process, over the loopback of the suite's private network
namespace (see tests/isolated.sh): recognising one's own rooms, live updates, goodbyes, and
records no host would send."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import AsyncIterator, Callable

import pytest

from core.client import RoomClient
from core.discovery import BrowserEvent, Discovery, RoomAdvert, RoomBrowser
from core.hosting import RoomHost
from core.room import RoomConfig
from core.room_tls import RoomCertificate
from tests.conftest import RoomFactory
from tests.discovery.hostile_advertiser import (
    CONTROL_NAME,
    TYPE,
    address_records,
    raw_txt,
    send,
    service_records,
)


@pytest.fixture
async def two_machines() -> AsyncIterator[tuple[Discovery, Discovery]]:
    """Two zeroconf instances; mDNS on loopback only inside the suite's private namespace."""
    if not os.environ.get("GPTGROUP_TEST_NETNS"):
        if os.environ.get("GPTGROUP_REQUIRE_NETNS") == "1":
            pytest.fail("GPTGROUP_REQUIRE_NETNS=1 but the suite is not in a private namespace")
        pytest.skip("needs the private network namespace that make test provides as root")
    host, other = Discovery(), Discovery()
    await host.start()
    await other.start()
    yield host, other
    await host.close()
    await other.close()


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


async def test_own_rooms_are_recognised_and_counts_stay_current(
    two_machines: tuple[Discovery, Discovery], make_room: RoomFactory
) -> None:
    host, other = two_machines
    room = await make_room(name="Mine")
    advertisement = await host.advertise(
        room.room.info(), room.server.port, room.server.fingerprint
    )
    browsers: list[RoomBrowser] = [
        await host.browse(check_interval=0.5),
        await other.browse(check_interval=0.5),
    ]
    mine, theirs = browsers
    try:
        await until(lambda: bool(mine.rooms) and bool(theirs.rooms))
        assert mine.rooms[0].own is True and theirs.rooms[0].own is False
        await room.join("Sam")
        room_id = advertisement.advert.room_id
        advertisement.update(
            RoomAdvert.for_room(
                room_id, room.room.info(), room.server.port, room.server.fingerprint
            )
        )
        await until(lambda: bool(theirs.rooms) and theirs.rooms[0].participants == 1)
        await advertisement.close()  # goodbye packets; the server stops right after, as a host's
        await room.server.close()
        await until(lambda: not theirs.rooms, timeout=3)
    finally:
        for browser in browsers:
            await browser.close()


async def test_a_goodbye_from_a_room_that_still_answers_does_not_hide_it(
    two_machines: tuple[Discovery, Discovery], make_room: RoomFactory
) -> None:
    host, other = two_machines
    room = await make_room(name="Still here")
    advertisement = await host.advertise(
        room.room.info(), room.server.port, room.server.fingerprint
    )
    browser = await other.browse(check_interval=0.5)
    events: list[BrowserEvent] = []
    browser.subscribe(events.append)
    try:
        await until(lambda: bool(browser.rooms))
        await advertisement.close()  # a goodbye, as anyone on the LAN could send one
        await asyncio.sleep(2.5)  # the goodbye and the two checks after it
        assert [e.kind for e in events] == ["added"] and browser.rooms
        await room.server.close()
        await until(lambda: not browser.rooms, timeout=3)  # checks still notice it going
    finally:
        await browser.close()


async def test_an_instance_name_with_control_characters_breaks_nothing(
    two_machines: tuple[Discovery, Discovery],
    make_room: RoomFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    attacker, other = two_machines
    browser = await other.browse(check_interval=0.5)
    room = await make_room(name="Honest")
    try:
        name = f"{CONTROL_NAME}.{TYPE}"
        records = address_records("evil.local.", ["127.0.0.1"])
        records += service_records(name, "evil.local.", room.server.port, raw_txt(b"v=1"))
        await send(attacker.zeroconf, records)
        # announced after it
        await attacker.advertise(room.room.info(), room.server.port, room.server.fingerprint)
        await until(lambda: bool(browser.rooms))
        assert [r.name for r in browser.rooms] == ["Honest"]
        gc.collect()  # an unretrieved task exception is reported when the task is collected
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert all(CONTROL_NAME not in r.getMessage() for r in caplog.records)
    finally:
        await browser.close()


async def test_a_removed_participant_leaves_other_lobbies_counts_at_once(
    two_machines: tuple[Discovery, Discovery],
) -> None:
    host_side, other = two_machines
    host = RoomHost(RoomConfig(name="Kick test"), port=0, discovery=host_side)
    await host.start()
    browser = await other.browse(check_interval=0.5)
    guest = RoomClient(host.local_url(), "Sam", fingerprint=host.fingerprint)
    try:
        await guest.connect()
        await until(lambda: bool(browser.rooms) and browser.rooms[0].participants == 1)
        assert browser.rooms[0].fingerprint == host.fingerprint
        owner = RoomClient(host.local_url(), "Hana", host_key=host.host_key)
        await owner.connect()
        await until(lambda: browser.rooms[0].participants == 2)
        await owner.kick(guest.you.id, ban=True)
        started = asyncio.get_running_loop().time()
        await until(lambda: browser.rooms[0].participants == 1, timeout=5)
        assert asyncio.get_running_loop().time() - started < 3
        await owner.leave()
    finally:
        await browser.close()
        await host.close()


async def test_a_record_naming_another_certificate_than_its_room_presents_is_never_listed(
    two_machines: tuple[Discovery, Discovery], make_room: RoomFactory
) -> None:
    """Someone announces a copy of a room (same name, its address and port) with their own
    certificate's fingerprint: the check meets the real room's certificate, not the one the
    record names, so the copy is never listed; the real room is, and stays."""
    attacker, other = two_machines
    room = await make_room(name="Team lunch")
    browser = await other.browse(check_interval=0.3)
    events: list[BrowserEvent] = []
    browser.subscribe(events.append)
    try:
        impostor = RoomCertificate.generate().fingerprint
        await attacker.advertise(room.room.info(), room.server.port, impostor)
        await attacker.advertise(room.room.info(), room.server.port, room.server.fingerprint)
        await until(lambda: bool(browser.rooms))
        await asyncio.sleep(1.5)  # several checks of both records
        assert [r.fingerprint for r in browser.rooms] == [room.server.fingerprint]
        assert all(e.room.fingerprint == room.server.fingerprint for e in events)
    finally:
        await browser.close()


async def test_a_record_of_an_older_room_is_listed_as_incompatible(
    two_machines: tuple[Discovery, Discovery],
) -> None:
    """A room from before encryption (no ``fp``, ``v=1``) answering its /health in plain
    text is listed, so people learn it needs updating, and never joinable."""
    attacker, other = two_machines
    server = await asyncio.start_server(_plain_health, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    browser = await other.browse(check_interval=0.3)
    try:
        records = address_records("older.local.", ["127.0.0.1"])
        txt = raw_txt(b"v=1", b"rid=0ld", b"n=Older room")
        records += service_records(f"Older room@0ld.{TYPE}", "older.local.", port, txt)
        await send(attacker.zeroconf, records)
        await until(lambda: bool(browser.rooms))
        [older] = browser.rooms
        assert (older.name, older.protocol, older.fingerprint) == ("Older room", 1, None)
        assert not older.compatible
    finally:
        await browser.close()
        server.close()
        await server.wait_closed()


async def _plain_health(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readline()
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
    await writer.drain()
    writer.close()
