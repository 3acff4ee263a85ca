"""Attacks on the host's sockets, with real sockets on loopback: web pages, half-open floods,
readers that stop, oversized close reasons. Each time the room carries on for everyone else."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import socket
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

import core.server
from core import connection_writer
from core.accept_gate import AcceptGate
from core.protocol import CloseCode, MessagePosted, ParticipantStatusChanged
from tests.conftest import RoomFactory, RoomHarness, hand_join
from tests.raw_tls import closed_by_peer, tls_hello


async def still_chatting(room: RoomHarness) -> None:
    """Two fresh participants can still join and hear each other."""
    a, _ = await room.join("Ann")
    b, b_inbox = await room.join("Ben")
    await a.send("still here?")
    await b_inbox.wait_type(MessagePosted, text="still here?")
    await a.leave()
    await b.leave()


async def test_a_web_page_cannot_join(room: RoomHarness) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await room.raw(origin="https://attacker.example")
    assert refused.value.response.status_code == 403
    assert b"web page" in refused.value.response.body
    await still_chatting(room)


async def test_half_open_upgrades_from_one_address_cannot_exhaust_the_host(
    make_room: RoomFactory,
) -> None:
    room = await make_room(open_timeout=0.5)
    loop = asyncio.get_running_loop()
    flood: list[socket.socket] = []
    try:
        for _ in range(300):  # connect and never send the HTTP upgrade
            s = socket.socket()
            s.setblocking(False)
            s.bind(("127.0.0.2", 0))  # the attacker's own address
            await loop.sock_connect(s, ("127.0.0.1", room.server.port))
            flood.append(s)
        await asyncio.sleep(0.1)
        cut = sum(1 for s in flood if closed_by_peer(s))
        assert cut >= 300 - 2 * room.room.config.admission.max_connections_per_address
        await asyncio.wait_for(still_chatting(room), 5)
        await asyncio.sleep(0.8)  # past the upgrade timeout, the rest are cut too
        assert all(closed_by_peer(s) for s in flood)
    finally:
        for s in flood:
            s.close()


async def test_stalled_and_broken_tls_handshakes_cannot_exhaust_the_host(
    make_room: RoomFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sockets that start TLS and stop halfway, or send nonsense that looks like TLS, are
    counted from the moment they are accepted like any other, and give their places back
    once cut: afterwards the same address gets as many sockets as before."""
    # This is about places, not about how often an address may connect (its own test).
    monkeypatch.setattr(core.server, "AcceptGate", functools.partial(AcceptGate, accept_burst=1000))
    room = await make_room(open_timeout=0.5)
    per_address = 2 * room.room.config.admission.max_connections_per_address
    hello = tls_hello()
    loop = asyncio.get_running_loop()
    flood: list[socket.socket] = []
    try:
        for i in range(300):
            s = socket.socket()
            s.setblocking(False)
            s.bind(("127.0.0.2", 0))  # the attacker's own address
            await loop.sock_connect(s, ("127.0.0.1", room.server.port))
            # Half stall inside a real hello; half send a TLS record header and then junk.
            await loop.sock_sendall(s, hello[:40] if i % 2 else b"\x16\x03\x01\x00\x05junk!")
            flood.append(s)
        await asyncio.sleep(0.1)
        assert sum(1 for s in flood if closed_by_peer(s)) >= 300 - per_address
        await asyncio.wait_for(still_chatting(room), 5)
        await asyncio.sleep(0.8)  # past the upgrade deadline, the rest are cut too
        assert all(closed_by_peer(s) for s in flood)
    finally:
        for s in flood:
            s.close()
    # Every place was given back: the same address may hold as many sockets as before, and
    # not one more.
    again: list[socket.socket] = []
    try:
        for _ in range(per_address + 1):
            s = socket.socket()
            s.setblocking(False)
            s.bind(("127.0.0.2", 0))
            await loop.sock_connect(s, ("127.0.0.1", room.server.port))
            again.append(s)
        await asyncio.sleep(0.1)  # well before their deadline
        assert [closed_by_peer(s) for s in again] == [False] * per_address + [True]
    finally:
        for s in again:
            s.close()


@pytest.mark.parametrize(
    "frame",
    [
        json.dumps({"type": "😀" * 40}, ensure_ascii=False),
        '{"type":"hello","protocol":' + "9" * 5000 + ',"name":"x"}',
        json.dumps({"type": "hello", "protocol": 1, "name": "x" * 300}),
    ],
    ids=["emoji-type", "huge-integer", "long-name"],
)
async def test_any_refusal_before_joining_closes_cleanly(
    room: RoomHarness, frame: str, caplog: pytest.LogCaptureFixture
) -> None:
    ws = await room.raw()
    await ws.recv()  # server_hello
    await ws.send(frame)
    error = json.loads(await asyncio.wait_for(ws.recv(), 2))
    assert error["type"] == "error"
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 2)
    assert ws.close_code in (CloseCode.PROTOCOL_ERROR, CloseCode.INVALID_NAME)
    assert len((ws.close_reason or "").encode()) <= 123
    if "9999" in frame:
        assert "number" in error["message"] and "JSON" not in error["message"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    await still_chatting(room)


async def test_a_reader_cut_off_for_falling_behind_is_told_why(make_room: RoomFactory) -> None:
    room = await make_room(max_pending_bytes=64 * 1024)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a reader on a slow link
    sock.connect(("127.0.0.1", room.server.port))
    ws = await room.raw(sock=sock, max_queue=1)
    await hand_join(ws, "Sleepy")
    for _ in range(400):  # far more than the socket buffers and the budget hold
        room.server.notice("info", "test", "x" * 30_000)
        await asyncio.sleep(0)
    await asyncio.sleep(3)  # longer than a normal closing handshake may take
    frames = 0
    with pytest.raises(ConnectionClosed) as closed:
        while True:  # the reader wakes up and reads everything it can
            await asyncio.wait_for(ws.recv(), 5)
            frames += 1
    assert closed.value.rcvd is not None, "the close frame never arrived"
    assert closed.value.rcvd.code == CloseCode.TOO_SLOW
    assert frames < 400
    await still_chatting(room)


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


async def test_joiners_that_never_read_do_not_grow_the_host(make_room: RoomFactory) -> None:
    room = await make_room(history_capacity=600, history_on_join=500)
    for i in range(500):  # 500 events of 8 KB: 4 MB of history a join replays
        room.server.notice("info", "test", f"{i} " + "y" * 8000)
    await asyncio.sleep(0)
    before = _rss_mb()
    sleepers: list[Any] = []
    for i in range(30):
        ws = await room.raw(max_queue=1)
        await hand_join(ws, f"Sleeper {i}")
        sleepers.append(ws)
    await asyncio.sleep(1.0)
    grown = _rss_mb() - before
    queued = sum(w.pending_bytes for w in room.server._outboxes.values())
    # Before, each joiner held its own serialised copy of the replay: 30 x 4 MB.
    assert grown < 40, f"the host grew by {grown:.0f} MB"
    assert queued < 30 * 4096  # live events only: the replay is references, not copies
    await still_chatting(room)
    for ws in sleepers:
        ws.transport.abort()


async def test_debug_tracing_shows_frames_but_no_chat_content(
    room: RoomHarness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="gptgroup.server")
    a, _ = await room.join("Ann")
    _, b_inbox = await room.join("Ben")
    await a.send("the secret plan")
    await b_inbox.wait_type(MessagePosted, text="the secret plan")
    traced = [r.getMessage() for r in caplog.records if r.name == "gptgroup.server"]
    assert any(line.startswith("< ") and "send" in line for line in traced)
    assert any(line.startswith("> ") and "message" in line for line in traced)
    assert not any("secret plan" in line for line in traced)


async def _sleeper(room: RoomHarness, name: str) -> Any:
    """A participant on a slow link that stops reading right after joining."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", room.server.port))
    ws = await room.raw(sock=sock, max_queue=1)
    welcome = await hand_join(ws, name)
    return ws, welcome["you"]["id"]


async def test_a_reader_that_stopped_is_let_go_when_removed_and_on_closing(
    make_room: RoomFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection_writer, "FLUSH_DEADLINE", 0.3)
    room = await make_room(max_pending_bytes=64 * 1024 * 1024)  # the budget never cuts it
    host, _ = await room.join("Hana", host=True)
    kicked, kicked_id = await _sleeper(room, "Kicked")
    stays, _ = await _sleeper(room, "Stays")
    for _ in range(200):  # more than the socket buffers hold
        room.server.notice("info", "test", "x" * 30_000)
        await asyncio.sleep(0)
    await host.kick(kicked_id)
    loop = asyncio.get_running_loop()
    started = loop.time()
    while len(room.server._outboxes) > 2 and loop.time() - started < 5:  # host and "Stays"
        await asyncio.sleep(0.05)
    assert len(room.server._outboxes) == 2, "the removed reader's socket was never let go"
    started = loop.time()
    await asyncio.wait_for(room.server.close("closed_by_host"), 10)
    assert loop.time() - started < 6  # a reader that never reads does not hold the host up
    for ws in (kicked, stays):
        ws.transport.abort()


async def test_a_reader_that_takes_nothing_for_long_is_cut_off(
    make_room: RoomFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connection_writer, "SEND_STALL_TIMEOUT", 0.5)
    room = await make_room(max_pending_bytes=64 * 1024 * 1024)
    _, host_inbox = await room.join("Hana", host=True)
    ws, sleeper_id = await _sleeper(room, "Sleepy")
    for _ in range(200):
        room.server.notice("info", "test", "x" * 30_000)
        await asyncio.sleep(0)
    status = await host_inbox.wait_type(ParticipantStatusChanged, timeout=5, participant=sleeper_id)
    assert status.status == "reconnecting"
    ws.transport.abort()
    await still_chatting(room)
