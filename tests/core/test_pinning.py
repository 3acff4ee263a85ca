"""Which room a client talks to, on loopback: a pinned certificate is checked before the room
is sent anything, a typed address learns the certificate once, a reconnect that meets another
certificate ends the session, and rooms from before encryption are told apart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from http import HTTPStatus

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from core.address import parse_room_address
from core.client import (
    OLDER_ROOM_TEXT,
    CertificateMismatch,
    Ended,
    JoinRefused,
    Reconnecting,
    Resumed,
    RoomClient,
    RoomUnreachable,
    probe_room,
)
from core.hosting import RoomHost
from core.protocol import ErrorCode, MessagePosted, ParticipantStatusChanged
from core.room import RoomConfig
from core.room_tls import RoomCertificate, verification_code
from tests.blip_proxy import BlipProxy
from tests.conftest import FAST_RECONNECT, Inbox, RoomFactory, RoomHarness


class Impostor:
    """Something at an address that speaks TLS with its own certificate, and notes every
    HTTP request that reaches it (a client that checks its pin sends it none)."""

    server: Server

    def __init__(self) -> None:
        self.certificate = RoomCertificate.generate("Team lunch")
        self.requests: list[str] = []

    def saw(self, connection: ServerConnection, request: Request) -> Response:
        self.requests.append(request.path)
        return connection.respond(HTTPStatus.OK, "ok\n")

    @property
    def port(self) -> int:
        return int(self.server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"wss://127.0.0.1:{self.port}/"


async def _ignore(ws: ServerConnection) -> None:
    await ws.wait_closed()


@pytest.fixture
async def impostor() -> AsyncIterator[Impostor]:
    fake = Impostor()
    context = fake.certificate.server_context()
    async with serve(_ignore, "127.0.0.1", 0, ssl=context, process_request=fake.saw) as server:
        fake.server = server
        yield fake


async def test_a_pinned_client_sends_another_room_nothing_and_says_why(
    impostor: Impostor, room: RoomHarness
) -> None:
    client = RoomClient(impostor.url, "Sam", fingerprint=room.server.fingerprint)
    with pytest.raises(CertificateMismatch, match="impersonating") as refused:
        await client.connect()
    assert refused.value.actual == impostor.certificate.fingerprint
    assert impostor.requests == []  # not even the upgrade request: no name, no session
    with pytest.raises(CertificateMismatch):
        await probe_room(impostor.url, fingerprint=room.server.fingerprint)
    assert impostor.requests == []


async def test_a_real_room_with_a_pin_it_does_not_match_sees_no_one(room: RoomHarness) -> None:
    wrong = RoomCertificate.generate().fingerprint
    with pytest.raises(CertificateMismatch):
        await RoomClient(room.url, "Sam", fingerprint=wrong).connect()
    assert not room.room.participants
    sam, _ = await room.join("Sam", fingerprint=room.server.fingerprint)
    assert sam.fingerprint == room.server.fingerprint


async def test_a_typed_address_learns_the_certificate_and_shows_its_code(
    room: RoomHarness,
) -> None:
    client = RoomClient(room.url, "Sam")
    assert (client.fingerprint, client.verification_code) == (None, None)
    await client.connect()
    assert client.fingerprint == room.server.fingerprint
    assert client.verification_code == room.server.verification_code
    await client.leave()


async def test_probing_shows_the_room_and_its_code_before_joining(make_room: RoomFactory) -> None:
    room = await make_room(name="Book club", password="1234 5678")
    probe = await probe_room(room.url)
    assert probe.preview.name == "Book club" and probe.preview.password_required
    assert probe.fingerprint == room.server.fingerprint
    assert probe.verification_code == room.server.verification_code
    # The join pins what was probed, so the code people compared is the room they join.
    await room.join("Sam", password="1234 5678", fingerprint=probe.fingerprint)
    assert not [p for p in room.room.participants if p.name != "Sam"]


async def test_a_reconnect_that_meets_another_certificate_ends_and_never_resumes(
    room: RoomHarness, impostor: Impostor
) -> None:
    proxy = BlipProxy(room.server.port)
    await proxy.start()
    try:
        _, host_inbox = await room.join("Hana", host=True)
        sam, sam_inbox = await room.join("Sam", url=proxy.url)
        await sam.send("before")
        await host_inbox.wait_type(MessagePosted, text="before")
        proxy.target_port = impostor.port  # the network now leads somewhere else
        proxy.cut()
        ended = await sam_inbox.wait_type(Ended, timeout=10)
        assert ended.reason == "certificate_changed" and "certificate" in ended.message
        assert impostor.requests == []  # neither the session token nor the name went there
        assert not any(isinstance(e, Resumed) for e in sam_inbox.events)
        await sam_inbox.wait_stream_end()
        reconnects = sum(isinstance(e, Reconnecting) for e in sam_inbox.events)
        assert reconnects == 1  # one attempt, and it stopped there
        await host_inbox.wait_type(ParticipantStatusChanged, status="reconnecting")
        assert sam.fingerprint == room.server.fingerprint
    finally:
        await proxy.close()


async def test_a_room_from_before_encryption_is_told_to_update() -> None:
    """A room of the previous version: plain WebSocket, /health in the clear."""

    def older_room(connection: ServerConnection, request: Request) -> Response | None:
        if request.path == "/health":
            return connection.respond(HTTPStatus.OK, "ok\n")
        return None

    async with serve(_ignore, "127.0.0.1", 0, process_request=older_room) as server:
        url = f"wss://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        for attempt in (RoomClient(url, "Sam", open_timeout=3).connect(), probe_room(url)):
            with pytest.raises(JoinRefused) as refused:
                await attempt
            assert refused.value.code == ErrorCode.INCOMPATIBLE_VERSION
            assert str(refused.value) == OLDER_ROOM_TEXT


async def test_a_pinned_client_is_not_told_by_the_network_that_its_room_is_older() -> None:
    """Something on the path resets the TLS handshake and answers ``GET /health`` in plain
    text as a room from before encryption would. A client that knows which certificate to
    expect must not believe it (before, it said "ask the host to update")."""
    health_checks = 0

    async def reset_tls_and_answer_plain(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        nonlocal health_checks
        first = await reader.read(1)
        if first == b"\x16":  # a TLS handshake: reset it
            writer.transport.abort()
            return
        health_checks += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(reset_tls_and_answer_plain, "127.0.0.1", 0)
    try:
        url = f"wss://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        pin = RoomCertificate.generate("Team lunch").fingerprint
        client = RoomClient(url, "Sam", fingerprint=pin, password="1234 5678", open_timeout=3)
        for attempt in (client.connect, lambda: probe_room(url, fingerprint=pin, wait=3)):
            with pytest.raises(RoomUnreachable) as unreachable:
                await attempt()
            words = str(unreachable.value)
            assert "encrypted connection" in words and "update" not in words
        assert health_checks == 0  # nothing in the clear was even asked
        # Without a pin, the same answer is how a room from before encryption is known.
        with pytest.raises(JoinRefused) as refused:
            await RoomClient(url, "Sam", open_timeout=3).connect()
        assert str(refused.value) == OLDER_ROOM_TEXT
    finally:
        server.close()
        await server.wait_closed()


async def test_something_that_does_not_speak_tls_is_unreachable_in_plain_words() -> None:
    async def say_hello_and_hang_up(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(say_hello_and_hang_up, "127.0.0.1", 0)
    try:
        url = f"wss://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
        with pytest.raises(RoomUnreachable) as unreachable:
            await RoomClient(url, "Sam", open_timeout=3).connect()
        words = str(unreachable.value)
        assert "encrypted connection" in words and "SSL" not in words and "_ssl" not in words
    finally:
        server.close()
        await server.wait_closed()


def test_a_fingerprint_is_32_bytes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        RoomClient("wss://127.0.0.1:1/", "Sam", fingerprint=b"short")


async def test_a_hosted_room_shares_links_that_pin_it_and_shows_its_code() -> None:
    host = RoomHost(RoomConfig(name="Team lunch"), bind="127.0.0.1", port=0, advertise=False)
    await host.start()
    try:
        assert host.local_url().startswith("wss://127.0.0.1:")
        assert host.verification_code == verification_code(host.fingerprint)
        [link] = host.links()
        address = parse_room_address(link)
        assert address.fingerprint == host.fingerprint and address.url == host.local_url()
        client = RoomClient(address.url, "Sam", fingerprint=address.fingerprint)
        await client.connect()
        inbox = Inbox(client)
        await client.send("pinned and in")
        await inbox.wait_type(MessagePosted, text="pinned and in")
        inbox.close()
        await client.leave()
    finally:
        await host.close()


async def test_the_host_window_pins_its_own_room_across_reconnects(room: RoomHarness) -> None:
    """A client told the right fingerprint resumes through blips as any other."""
    proxy = BlipProxy(room.server.port)
    await proxy.start()
    try:
        hana = RoomClient(
            proxy.url, "Hana", host_key=room.room.config.host_key,
            fingerprint=room.server.fingerprint, policy=FAST_RECONNECT,
        )  # fmt: skip
        await hana.connect()
        inbox = Inbox(hana)
        proxy.cut()
        resumed = await inbox.wait_type(Resumed, timeout=10)
        assert resumed.resumed and hana.you.role == "host"
        inbox.close()
        await hana.leave()
    finally:
        await proxy.close()
