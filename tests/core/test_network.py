"""Real rooms on loopback with real websockets clients: joining, order, host controls, limits,
hostile input and slow readers. Each hostile case checks the room still works for others."""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.error
import urllib.request
import uuid

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from core.admission import AdmissionRules
from core.client import (
    Ended,
    JoinRefused,
    MessageTooLarge,
    Reconnecting,
    ReconnectPolicy,
    RoomClient,
    RoomUnreachable,
    SendFailed,
)
from core.pake import GuestExchange, decode_nonce, encode_b64url
from core.protocol import (
    AUTH_SPAKE2,
    PROTOCOL_VERSION,
    CloseCode,
    ErrorMessage,
    MessagePosted,
    ParticipantJoined,
    ParticipantLeft,
    RoomClosed,
    RoomUpdated,
    TypingChanged,
)
from core.room import RoomConfig
from core.room_tls import RoomCertificate, client_context
from core.server import RoomServer
from tests.conftest import Inbox, RoomFactory, RoomHarness, hand_join, limits, recv_until


async def assert_room_alive(room: RoomHarness) -> None:
    """Two fresh participants can still talk: the room carries on."""
    a, _ = await room.join(f"Alive-{uuid.uuid4().hex[:4]}")
    _, b_inbox = await room.join(f"Check-{uuid.uuid4().hex[:4]}")
    text = f"still working {uuid.uuid4().hex}"
    await a.send(text)
    await b_inbox.wait_type(MessagePosted, text=text)


async def test_join_leave_and_presence(room: RoomHarness) -> None:
    host, host_inbox = await room.join("Hana", host=True)
    sam, sam_inbox = await room.join("Sam")
    await host_inbox.wait_for(
        lambda e: isinstance(e, ParticipantJoined) and e.participant.name == "Sam"
    )
    assert {p.name for p in host.participants.values()} == {"Hana", "Sam"}
    assert sam.room.host_name == "Hana" and host.you.role == "host" and sam.you.role == "guest"
    await sam.set_typing(True)
    typing = await host_inbox.wait_type(TypingChanged, active=True)
    assert typing.participant == sam.you.id
    await sam.leave()
    left = await host_inbox.wait_type(ParticipantLeft)
    assert (left.name, left.reason) == ("Sam", "left")
    assert [p.name for p in host.participants.values()] == ["Hana"]
    assert (await sam_inbox.wait_type(Ended)).reason == "left"
    assert sam.ended is not None


async def test_twenty_concurrent_clients_see_one_order(room: RoomHarness) -> None:
    clients = [await room.join(f"Person {i}") for i in range(20)]
    per_client = 5
    await asyncio.gather(
        *(c.send(f"{c.name} says {n}") for c, _ in clients for n in range(per_client))
    )
    total = 20 * per_client
    orders = [await inbox.wait_texts(total, timeout=15) for _, inbox in clients]
    assert all(order == orders[0] for order in orders)
    assert sorted(orders[0]) == sorted(f"Person {i} says {n}" for i in range(20) for n in range(5))
    seqs = [e.seq for e in clients[0][1].events if isinstance(e, MessagePosted)]
    assert seqs == sorted(seqs)
    for _, inbox in clients:  # each author's own messages keep the order they were sent in
        mine = [t for t in inbox.texts() if t.startswith("Person 3 ")]
        assert mine == [f"Person 3 says {n}" for n in range(per_client)]


async def test_late_joiner_gets_recent_history(room: RoomHarness) -> None:
    host, _ = await room.join("Hana", host=True)
    for i in range(30):
        await host.send(f"message {i}")
    _, late = await room.join("Late")
    assert await late.wait_texts(30) == [f"message {i}" for i in range(30)]


async def test_same_name_twice_both_get_in_and_differ(room: RoomHarness) -> None:
    first, inbox = await room.join("Sam")
    second, _ = await room.join(" sam ")
    assert first.you.name == "Sam" and second.you.name == "sam (2)"
    await second.send("which Sam am I?")
    posted = await inbox.wait_type(MessagePosted, text="which Sam am I?")
    assert (posted.author, posted.author_name) == (second.you.id, "sam (2)")
    with pytest.raises(JoinRefused) as caught:
        await room.join("\u202eevil")
    assert caught.value.code == "invalid_name"


async def test_nobody_can_speak_as_someone_else(room: RoomHarness) -> None:
    host, host_inbox = await room.join("Hana", host=True)
    ws = await room.raw()
    welcome = await hand_join(ws, "Mallory")
    await ws.send(
        json.dumps(
            {
                "type": "send",
                "id": "x1",
                "text": "I am the host",
                "author": host.you.id,
                "author_name": "Hana",
            }
        )
    )
    posted = await host_inbox.wait_type(MessagePosted, text="I am the host")
    assert posted.author == welcome["you"]["id"] and posted.author_name == "Mallory"
    await ws.send(json.dumps({"type": "kick", "participant": host.you.id}))
    error = await recv_until(ws, "error")
    assert error.code == "not_allowed"
    await ws.close()
    with pytest.raises(JoinRefused) as caught:
        await room.join("Fake host", host_key="not-the-key")
    assert caught.value.code == "auth_failed"
    await assert_room_alive(room)


async def test_password_protects_the_room(make_room: RoomFactory) -> None:
    room = await make_room(password="open sesame")
    host, _ = await room.join("Hana", host=True, password="open sesame")
    await host.send("the secret plan")
    for password in (None, "wrong"):
        with pytest.raises(JoinRefused) as caught:
            await room.join("Eve", password=password)
        assert caught.value.code == "auth_failed"
    # By hand, a guess and then a made-up confirmation: nothing of the room's content or
    # people is revealed.
    ws = await room.raw()
    frames = [await ws.recv()]
    nonce = decode_nonce(json.loads(frames[0])["auth"]["nonce"])
    guess = GuestExchange("0000 0000", room.server.fingerprint, nonce)
    start = {"type": "auth_start", "method": AUTH_SPAKE2, "message": encode_b64url(guess.start())}
    await ws.send(json.dumps(start))
    frames.append(await ws.recv())
    await ws.send(
        json.dumps(
            {
                "type": "hello",
                "protocol": PROTOCOL_VERSION,
                "name": "Eve",
                "auth": {"method": AUTH_SPAKE2, "confirmation": encode_b64url(bytes(32))},
            }
        )
    )
    with pytest.raises(ConnectionClosed):
        while True:
            frames.append(await ws.recv())
    assert ws.close_code == CloseCode.AUTH_FAILED
    assert not any("secret plan" in str(f) or "Hana" in str(f) for f in frames)
    _, inbox = await room.join("Sam", password="open sesame")
    assert await inbox.wait_texts(1) == ["the secret plan"]


async def test_kick_ends_the_guest_without_retries(room: RoomHarness) -> None:
    host, host_inbox = await room.join("Hana", host=True)
    sam, sam_inbox = await room.join("Sam")
    await host.kick(sam.you.id)
    ended = await sam_inbox.wait_type(Ended)
    assert ended.reason == "kicked" and ended.close_code == CloseCode.KICKED
    assert (await host_inbox.wait_type(ParticipantLeft)).reason == "kicked"
    await sam_inbox.wait_stream_end()
    assert not any(isinstance(e, Reconnecting) for e in sam_inbox.events)
    assert sam.you.id not in host.participants
    await assert_room_alive(room)


async def test_ban_is_by_address(room: RoomHarness) -> None:
    host, _ = await room.join("Hana", host=True)
    sam, sam_inbox = await room.join("Sam", local_address="127.0.0.2")
    bob, bob_inbox = await room.join("Bob", local_address="127.0.0.3")
    await host.kick(sam.you.id, ban=True)
    assert (await sam_inbox.wait_type(Ended)).reason == "banned"
    with pytest.raises(JoinRefused) as caught:
        await room.join("Sam in disguise", local_address="127.0.0.2")
    assert caught.value.code == "banned"
    await bob.send("bob is fine")
    await bob_inbox.wait_type(MessagePosted, text="bob is fine")


async def test_lock_and_limit_new_joins(room: RoomHarness) -> None:
    host, host_inbox = await room.join("Hana", host=True)
    await host.lock(True)
    assert (await host_inbox.wait_type(RoomUpdated)).room.locked
    with pytest.raises(JoinRefused) as caught:
        await room.join("Sam")
    assert caught.value.code == "room_locked"
    await host.lock(False)
    await host.set_max_participants(2)
    await host_inbox.wait_for(lambda e: isinstance(e, RoomUpdated) and e.room.max_participants == 2)
    await room.join("Sam")
    with pytest.raises(JoinRefused) as caught:
        await room.join("Bob")
    assert caught.value.code == "room_full"


async def test_close_room_tells_everyone_and_stops_retries(room: RoomHarness) -> None:
    host, host_inbox = await room.join("Hana", host=True)
    _, sam_inbox = await room.join("Sam")
    await host.close_room()
    assert (await sam_inbox.wait_type(RoomClosed)).reason == "closed_by_host"
    ended = await sam_inbox.wait_type(Ended)
    assert ended.reason == "closed_by_host" and ended.close_code == CloseCode.ROOM_CLOSED
    assert (await host_inbox.wait_type(Ended)).reason == "closed_by_host"
    await sam_inbox.wait_stream_end()
    assert not any(isinstance(e, Reconnecting) for e in sam_inbox.events)
    with pytest.raises(JoinRefused) as caught:
        await room.join("Late")
    assert caught.value.code == "room_closed"


async def test_server_shutdown_is_reported_as_such(room: RoomHarness) -> None:
    _, inbox = await room.join("Sam")
    await room.server.close("host_shutdown")
    assert (await inbox.wait_type(Ended)).reason == "host_shutdown"


async def test_text_limits(make_room: RoomFactory) -> None:
    room = await make_room(limits=limits(max_text_chars=50))
    sam, sam_inbox = await room.join("Sam")
    with pytest.raises(MessageTooLarge):
        await sam.send("x" * 51)
    ws = await room.raw()  # a client that does not check for itself
    await hand_join(ws, "Raw")
    await ws.send(json.dumps({"type": "send", "id": "long", "text": "y" * 51}))
    error = await recv_until(ws, "error")
    assert (error.code, error.ref) == ("text_too_long", "long")
    await ws.send(json.dumps({"type": "send", "id": "blank", "text": "   "}))
    assert (await recv_until(ws, "error")).code == "empty_text"
    await sam.send("z" * 50)
    await sam_inbox.wait_type(MessagePosted, text="z" * 50)


async def test_rate_limit_gives_a_clear_error(make_room: RoomFactory) -> None:
    room = await make_room(limits=limits(message_burst=3, messages_per_minute=6))
    ws = await room.raw()  # a client that ignores the announced limits
    await hand_join(ws, "Hasty")
    for i in range(5):
        await ws.send(json.dumps({"type": "send", "id": f"m{i}", "text": f"m{i}"}))
    error = await recv_until(ws, "error")
    assert (error.code, error.ref) == ("rate_limited", "m3")
    assert error.retry_after is not None and error.retry_after > 0
    assert "too fast" in error.message
    await assert_room_alive(room)


async def test_client_paces_a_burst_to_the_room_limit(make_room: RoomFactory) -> None:
    room = await make_room(limits=limits(message_burst=3, messages_per_minute=600))
    sam, inbox = await room.join("Sam")
    for i in range(12):  # four times the burst, pasted at once
        await sam.send(f"line {i}")
    assert len(sam.pending) == 12
    texts = await inbox.wait_texts(12, timeout=10)
    assert texts == [f"line {i}" for i in range(12)]
    assert not any(isinstance(e, SendFailed) for e in inbox.events)
    assert sam.pending == []


async def test_oversize_frame_closes_only_that_connection(make_room: RoomFactory) -> None:
    room = await make_room(limits=limits(max_frame_bytes=4096))
    ws = await room.raw(max_size=None)
    await hand_join(ws, "Big")
    await ws.send(json.dumps({"type": "send", "id": "big", "text": "x" * 10_000}))
    with pytest.raises(ConnectionClosed):
        await recv_until(ws, "never")
    assert ws.close_code == CloseCode.MESSAGE_TOO_BIG
    await assert_room_alive(room)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "bad_frame"),
        (b"\x00\x01binary", "bad_frame"),
        ('{"type": "send", "id": 7, "text": ["a"]}', "bad_message"),
        ('{"type": "typing", "active": "very"}', "bad_message"),
        ('{"type": "summon_dragon"}', "unknown_type"),
        ('{"type": "kick", "participant": "p999"}', "not_allowed"),
    ],
)
async def test_malformed_frames_get_typed_errors(
    room: RoomHarness, frame: str | bytes, code: str
) -> None:
    ws = await room.raw()
    await hand_join(ws, "Fuzzy")
    await ws.send(frame)
    error = await recv_until(ws, "error")
    assert error.code == code
    await ws.send(json.dumps({"type": "send", "id": "after", "text": "still connected"}))
    posted = await recv_until(ws, "message")
    assert posted.text == "still connected"
    await assert_room_alive(room)


async def test_garbage_before_hello_is_refused(room: RoomHarness) -> None:
    ws = await room.raw()
    await ws.recv()
    await ws.send("GET / HTTP/1.1")
    error = await recv_until(ws, "error")
    assert error.code == "bad_frame"
    with pytest.raises(ConnectionClosed):
        await ws.recv()
    assert ws.close_code == CloseCode.PROTOCOL_ERROR
    await assert_room_alive(room)


async def test_flood_disconnects_the_flooder_only(room: RoomHarness) -> None:
    ws = await room.raw()
    await hand_join(ws, "Flood")
    with pytest.raises(ConnectionClosed):
        for i in range(2000):
            await ws.send(json.dumps({"type": "typing", "active": bool(i % 2)}))
        await recv_until(ws, "never")
    assert ws.close_code == CloseCode.FLOODING
    await assert_room_alive(room)


async def test_silent_connection_times_out(make_room: RoomFactory) -> None:
    room = await make_room(handshake_timeout=0.3)
    ws = await room.raw()
    await ws.recv()  # the greeting, then say nothing
    assert (await recv_until(ws, "error")).code == "handshake_timeout"
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 5)
    assert ws.close_code == CloseCode.HANDSHAKE_TIMEOUT
    await assert_room_alive(room)


async def test_a_reader_that_stops_is_cut_off_and_the_room_keeps_pace(
    make_room: RoomFactory,
) -> None:
    room = await make_room(max_pending_bytes=64 * 1024)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", room.server.port))
    slow = await room.raw(sock=sock, max_queue=1)
    await hand_join(slow, "Sleepy")  # ...and never reads again
    # On loopback the kernel would take megabytes for it (the host's send buffer grows to
    # tcp_wmem's maximum): give its socket on the host a send buffer as on a slow link, so
    # that it is the room's own budget that runs out, however the host reads its input.
    [sleepy_side] = room.server._outboxes.values()
    host_socket = sleepy_side._ws.transport.get_extra_info("socket")
    host_socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    host, _ = await room.join("Hana", host=True)
    _, bob_inbox = await room.join("Bob")
    text = "x" * 3000
    for i in range(400):
        await host.send(f"{i} {text}")
    texts = await bob_inbox.wait_texts(400, timeout=20)
    assert texts[-1].startswith("399 ")
    assert slow.close_code is None or slow.close_code == CloseCode.TOO_SLOW
    participants = room.room.participants
    sleepy = next(p for p in participants if p.name == "Sleepy")
    assert sleepy.status == "reconnecting"  # cut off, but may resume
    slow.transport.abort()
    await assert_room_alive(room)


async def test_unreachable_room_is_reported(make_room: RoomFactory) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = RoomClient(f"wss://127.0.0.1:{port}/", "Sam", open_timeout=2)
    with pytest.raises(RoomUnreachable):
        await client.connect()


async def test_client_gives_up_when_the_room_never_comes_back(make_room: RoomFactory) -> None:
    room = await make_room()
    client = RoomClient(
        room.url,
        "Sam",
        policy=ReconnectPolicy(initial_delay=0.05, max_delay=0.1, give_up_after=0.6),
    )
    await client.connect()
    inbox = Inbox(client)
    room.server._server.close()  # type: ignore[union-attr]  # the host vanishes: no goodbye
    for ws in list(room.server._server.connections):  # type: ignore[union-attr]
        ws.transport.abort()
    ended = await inbox.wait_type(Ended, timeout=5)
    assert ended.reason == "unreachable"
    assert any(isinstance(e, Reconnecting) for e in inbox.events)
    inbox.close()


async def test_every_interface_shares_one_port() -> None:
    """Listening everywhere on port 0 must give IPv4 and IPv6 the same port."""
    if not socket.has_dualstack_ipv6():
        pytest.skip("this machine has no dual-stack IPv6")
    server = RoomServer(RoomConfig(name="Both"), host=None, port=0)
    await server.start()
    try:
        for host in ("127.0.0.1", "::1"):
            client = RoomClient(server.url(host), f"via {host}", open_timeout=3)
            await client.connect()
            await client.leave()
    finally:
        await server.close()


async def test_health_endpoint(room: RoomHarness) -> None:
    url = f"https://127.0.0.1:{room.server.port}/health"
    context = client_context()
    body = await asyncio.to_thread(
        lambda: urllib.request.urlopen(url, timeout=5, context=context).read()
    )
    assert body == b"ok\n"


async def test_health_in_plain_text_is_told_to_use_encryption(room: RoomHarness) -> None:
    url = f"http://127.0.0.1:{room.server.port}/health"
    with pytest.raises(urllib.error.HTTPError) as refused:
        await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5))
    assert refused.value.code == 426
    words = refused.value.read().decode()
    assert words.count("\n") == 1 and "encrypted" in words and "update" in words


async def test_errors_for_others_are_not_broadcast(room: RoomHarness) -> None:
    _, host_inbox = await room.join("Hana", host=True)
    ws = await room.raw()
    await hand_join(ws, "Noisy")
    await ws.send("{broken")
    await recv_until(ws, "error")
    # One connection's frames arrive in order: once the host has this later message, an
    # error broadcast for the broken frame would already have arrived too.
    await ws.send(json.dumps({"type": "send", "id": "m1", "text": "sync point"}))
    await host_inbox.wait_type(MessagePosted, text="sync point")
    assert not any(isinstance(e, ErrorMessage) for e in host_inbox.events)


async def test_a_server_that_never_greets_is_reported_unreachable() -> None:
    async def silent(ws: ServerConnection) -> None:
        await ws.wait_closed()  # accepts the WebSocket, then says nothing

    context = RoomCertificate.generate().server_context()
    async with serve(silent, "127.0.0.1", 0, ssl=context) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        client = RoomClient(f"wss://127.0.0.1:{port}/", "Sam", open_timeout=0.5)
        with pytest.raises(RoomUnreachable, match="did not answer in time"):
            await client.connect()


async def test_a_session_continued_elsewhere_ends_the_old_client(room: RoomHarness) -> None:
    sam, inbox = await room.join("Sam")
    ws = await room.raw()
    await hand_join(ws, "Sam", resume={"session": sam._session, "last_seq": 0})
    ended = await inbox.wait_type(Ended)
    assert ended.reason == "replaced" and ended.close_code == CloseCode.SESSION_REPLACED
    await ws.close()


async def test_guessing_the_password_is_slowed_down(make_room: RoomFactory) -> None:
    room = await make_room(password="right", admission=AdmissionRules(failed_auth_limit=3))
    for _ in range(3):
        with pytest.raises(JoinRefused):
            await room.join("Eve", password="wrong")
    with pytest.raises(JoinRefused) as caught:
        await room.join("Eve", password="right")
    assert caught.value.code == "too_many_attempts"
