"""Network blips: a client cut off mid-conversation resumes with nothing lost or doubled."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from core.client import Ended, Reconnecting, Resumed, RoomClient
from core.protocol import MessagePosted, ParticipantStatusChanged
from core.room import RoomConfig
from core.server import RoomServer
from tests.blip_proxy import BlipProxy
from tests.conftest import (
    FAST_RECONNECT,
    RELAXED,
    RELAXED_ADMISSION,
    Inbox,
    RoomFactory,
    RoomHarness,
)


def message_seqs(events: list[object]) -> list[int]:
    return [e.seq for e in events if isinstance(e, MessagePosted)]


async def test_resume_after_a_cut_loses_and_repeats_nothing(
    room: RoomHarness, proxy: BlipProxy
) -> None:
    host, host_inbox = await room.join("Hana", host=True)
    sam, sam_inbox = await room.join("Sam", url=proxy.url)
    await host.send("before")
    await sam_inbox.wait_type(MessagePosted, text="before")

    proxy.refusing = True
    proxy.cut()
    await sam_inbox.wait_type(Reconnecting)
    await host_inbox.wait_type(ParticipantStatusChanged, status="reconnecting")
    for i in range(10):
        await host.send(f"missed {i}")
    sent_offline = await sam.send("typed while offline")
    assert [q.text for q in sam.pending] == ["typed while offline"]
    proxy.refusing = False

    resumed = await sam_inbox.wait_type(Resumed, timeout=10)
    assert resumed.resumed and resumed.history_complete and resumed.you.id == sam.you.id
    await host_inbox.wait_type(MessagePosted, text="typed while offline")
    await sam_inbox.wait_type(MessagePosted, text="typed while offline")
    await host.send("after")
    await sam_inbox.wait_type(MessagePosted, text="after")

    expected = ["before", *[f"missed {i}" for i in range(10)], "typed while offline", "after"]
    assert sam_inbox.texts() == expected
    assert host_inbox.texts() == expected
    seqs = message_seqs(sam_inbox.events)
    assert seqs == sorted(set(seqs))  # in order, no duplicates
    assert sam.pending == [] and sent_offline


async def test_a_message_whose_echo_was_lost_is_posted_once(
    room: RoomHarness, proxy: BlipProxy
) -> None:
    host, host_inbox = await room.join("Hana", host=True)
    sam, sam_inbox = await room.join("Sam", url=proxy.url)
    proxy.swallow_downstream = True  # the room gets the message, Sam never hears back
    await sam.send("did this arrive?")
    await host_inbox.wait_type(MessagePosted, text="did this arrive?")
    await asyncio.sleep(0.1)
    assert sam.pending  # unconfirmed from Sam's side
    proxy.cut()
    proxy.swallow_downstream = False
    await sam_inbox.wait_type(Resumed, timeout=10)
    await sam_inbox.wait_type(MessagePosted, text="did this arrive?")
    await host.send("sync point")
    await sam_inbox.wait_type(MessagePosted, text="sync point")
    await host_inbox.wait_type(MessagePosted, text="sync point")
    assert host_inbox.texts().count("did this arrive?") == 1
    assert sam_inbox.texts().count("did this arrive?") == 1
    assert sam.pending == []


async def test_repeated_blips_during_a_busy_conversation(
    room: RoomHarness, proxy: BlipProxy
) -> None:
    host, host_inbox = await room.join("Hana", host=True)
    sam, sam_inbox = await room.join("Sam", url=proxy.url)

    async def host_talks() -> None:
        for i in range(60):
            await host.send(f"h{i}")
            await asyncio.sleep(0.005)

    async def sam_talks() -> None:
        for i in range(30):
            await sam.send(f"s{i}")
            await asyncio.sleep(0.01)

    async def blips() -> None:
        for _ in range(4):
            await asyncio.sleep(0.07)
            proxy.cut()

    await asyncio.gather(host_talks(), sam_talks(), blips())
    await sam.send("last")
    await host_inbox.wait_type(MessagePosted, text="last", timeout=15)
    await sam_inbox.wait_type(MessagePosted, text="last", timeout=15)
    assert sam_inbox.texts() == host_inbox.texts()
    assert sorted(sam_inbox.texts()) == sorted(
        [f"h{i}" for i in range(60)] + [f"s{i}" for i in range(30)] + ["last"]
    )
    sams_own = [t for t in host_inbox.texts() if t.startswith("s")]
    assert sams_own == [f"s{i}" for i in range(30)]  # sent order kept across reconnects
    assert proxy.connections >= 2  # it really did reconnect


async def test_resume_after_the_grace_period_rejoins_as_new(make_room: RoomFactory) -> None:
    room = await make_room(resume_grace=0.2)
    proxy = BlipProxy(room.server.port)
    await proxy.start()
    try:
        _, host_inbox = await room.join("Hana", host=True)
        sam, sam_inbox = await room.join("Sam", url=proxy.url)
        old_id = sam.you.id
        proxy.refusing = True
        proxy.cut()
        await host_inbox.wait_for(lambda e: getattr(e, "reason", None) == "timed_out", 5)
        proxy.refusing = False
        resumed = await sam_inbox.wait_type(Resumed, timeout=10)
        assert resumed.resumed is False and resumed.you.id != old_id
        await sam.send("back again")
        await host_inbox.wait_type(MessagePosted, text="back again")
    finally:
        await proxy.close()


async def test_a_message_in_flight_when_the_grace_runs_out_is_posted_once(
    make_room: RoomFactory,
) -> None:
    room = await make_room(resume_grace=0.3)
    proxy = BlipProxy(room.server.port)
    await proxy.start()
    try:
        _, host_inbox = await room.join("Hana", host=True)
        sam, sam_inbox = await room.join("Sam", url=proxy.url)
        proxy.swallow_downstream = True  # the room posts it; Sam never hears back
        await sam.send("did this arrive?")
        await host_inbox.wait_type(MessagePosted, text="did this arrive?")
        proxy.refusing = True
        proxy.cut()
        await host_inbox.wait_for(lambda e: getattr(e, "reason", None) == "timed_out", 5)
        proxy.swallow_downstream = False
        proxy.refusing = False
        resumed = await sam_inbox.wait_type(Resumed, timeout=10)
        assert resumed.resumed is False
        await sam.send("and this")
        await host_inbox.wait_type(MessagePosted, text="and this")
        await sam_inbox.wait_type(MessagePosted, text="and this")  # Sam's own echo too
        assert host_inbox.texts().count("did this arrive?") == 1
        assert sam.pending == []
    finally:
        await proxy.close()


async def crash(server: RoomServer) -> None:
    """The host process dies: no goodbye, every socket cut, the port free again."""
    assert server._server is not None
    server._server.close()
    for ws in list(server._server.connections):
        ws.transport.abort()
    await server._server.wait_closed()


@pytest.mark.parametrize("certificate", ["the same", "a new"])
async def test_a_restarted_room_is_not_joined_behind_the_users_back(certificate: str) -> None:
    first = RoomServer(RoomConfig(name="Before", limits=RELAXED), port=0, tick_interval=0.05)
    await first.start()
    port = first.port
    sam = RoomClient(first.url(), "Sam", policy=FAST_RECONNECT)
    await sam.connect()
    inbox = Inbox(sam)
    for i in range(10):
        await sam.send(f"old {i}")
    await inbox.wait_texts(10)
    await crash(first)
    # A room's certificate dies with it, so a restarted room has a new one; a host that kept
    # its certificate still has a new run of the room, which the client tells apart too.
    kept = first.certificate if certificate == "the same" else None
    second = RoomServer(RoomConfig(name="After", limits=RELAXED), port=port, certificate=kept)
    await second.start()
    try:
        ended = await inbox.wait_type(Ended, timeout=10)
        if certificate == "the same":
            assert ended.reason == "restarted"
            assert ended.new_room is not None and ended.new_room.name == "After"
        else:  # told apart before the new room is sent anything, its greeting included
            assert ended.reason == "certificate_changed"
            assert ended.new_room is None and "certificate" in ended.message
            assert sam.fingerprint == first.fingerprint != second.fingerprint
        assert not second.room.participants  # Sam was not moved into the new room
        assert not any(isinstance(e, Resumed) for e in inbox.events)
        assert inbox.texts() == [f"old {i}" for i in range(10)]  # the old transcript stays
    finally:
        inbox.close()
        await sam.leave()
        await second.close()
        await first.close()


async def test_a_flaky_link_is_slowed_down_but_never_thrown_out(make_room: RoomFactory) -> None:
    rules = replace(RELAXED_ADMISSION, session_resume_burst=2, session_resumes_per_minute=60)
    room = await make_room(admission=rules)
    proxy = BlipProxy(room.server.port)
    await proxy.start()
    try:
        _, host_inbox = await room.join("Hana", host=True)
        sam, sam_inbox = await room.join("Sam", url=proxy.url)
        for _ in range(5):  # cut right after each resume: the room asks to slow down
            resumed_before = sum(isinstance(e, Resumed) for e in sam_inbox.events)
            proxy.cut()
            await sam_inbox.wait_for(
                lambda _e, n=resumed_before: (
                    sum(isinstance(e, Resumed) for e in sam_inbox.events) > n
                ),
                timeout=10,
            )
        assert not any(isinstance(e, Ended) for e in sam_inbox.events)
        await sam.send("still here")
        await host_inbox.wait_type(MessagePosted, text="still here")
    finally:
        await proxy.close()
