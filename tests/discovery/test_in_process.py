"""Advertising and browsing in one process, over the loopback of the suite's private network
namespace (see tests/isolated.sh): recognising one's own rooms, and live updates."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable

import pytest

from core.discovery import Discovery, RoomAdvert, RoomBrowser
from tests.conftest import RoomFactory


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
    advertisement = await host.advertise(room.room.info(), room.server.port)
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
        advertisement.update(RoomAdvert.for_room(room_id, room.room.info(), room.server.port))
        await until(lambda: bool(theirs.rooms) and theirs.rooms[0].participants == 1)
        await advertisement.close()
        await until(lambda: not theirs.rooms)
    finally:
        for browser in browsers:
            await browser.close()
