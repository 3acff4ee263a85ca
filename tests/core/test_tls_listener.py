"""The room's port on loopback: TLS told apart from plain text by the first byte, old software
told to update in the clear and nothing more, and sockets that stall anywhere on their way in
cut by the upgrade deadline or by closing the room."""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import inspect
import json
import ssl
from collections.abc import Awaitable, Callable

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from core.protocol import PROTOCOL_VERSION, CloseCode, ErrorCode
from core.room_tls import RoomCertificate, client_context, peer_fingerprint
from core.tls_listener import TLS_HANDSHAKE_RECORD, start_server_tls
from tests.conftest import RoomFactory, RoomHarness


def test_asyncio_still_has_the_tls_protocol_the_listener_builds() -> None:
    """start_server_tls builds asyncio's own TLS protocol by hand (a private class): if a
    Python release changes it, this says so before anything else breaks."""
    protocol = asyncio.sslproto.SSLProtocol
    assert issubclass(protocol, asyncio.BufferedProtocol)
    parameters = inspect.signature(protocol.__init__).parameters
    for name in (
        "loop",
        "app_protocol",
        "sslcontext",
        "waiter",
        "server_side",
        "ssl_handshake_timeout",
        "ssl_shutdown_timeout",
    ):
        assert name in parameters, f"asyncio.sslproto.SSLProtocol lost {name!r}"
    assert list(parameters)[1:5] == ["loop", "app_protocol", "sslcontext", "waiter"]
    assert isinstance(protocol.max_size, int)
    for method in ("connection_made", "get_buffer", "buffer_updated", "connection_lost"):
        assert callable(getattr(protocol, method))


class _Echo(asyncio.Protocol):
    """What start_server_tls hands the TLS transport to, in the next test."""

    def __init__(self) -> None:
        self.made = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.made += 1
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(data.upper())  # type: ignore[attr-defined]


async def test_start_server_tls_takes_over_a_socket_that_already_read_its_first_bytes() -> None:
    """The plain server reads some of the client's hello; TLS still completes with it, and
    the app protocol hears of the connection once, with TLS up."""
    certificate = RoomCertificate.generate()
    echo = _Echo()

    class Sniff(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            assert isinstance(transport, asyncio.Transport)
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            waiter = asyncio.get_running_loop().create_future()
            start_server_tls(
                self.transport, echo, certificate.server_context(), data,
                waiter=waiter, handshake_timeout=5.0, shutdown_timeout=1.0,
            )  # fmt: skip

    server = await asyncio.get_running_loop().create_server(Sniff, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_context())
        ssl_object = writer.get_extra_info("ssl_object")
        assert peer_fingerprint(ssl_object) == certificate.fingerprint
        assert ssl_object.version() == "TLSv1.3"
        writer.write(b"hello")
        assert await asyncio.wait_for(reader.readexactly(5), 5) == b"HELLO"
        assert echo.made == 1
        writer.close()
    finally:
        server.close()


class HandTls:
    """A TLS client run by hand over a plain socket, so a test decides how its bytes are cut."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = client_context().wrap_bio(self.incoming, self.outgoing)

    @classmethod
    async def open(cls, port: int) -> HandTls:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    def hello(self) -> bytes:
        """The client's first flight (its TLS hello), not sent yet."""
        with pytest.raises(ssl.SSLWantReadError):
            self.tls.do_handshake()
        return self.outgoing.read()

    async def send(self, data: bytes, pieces: Callable[[bytes], list[bytes]]) -> None:
        for piece in pieces(data):
            self.writer.write(piece)
            await self.writer.drain()
            await asyncio.sleep(0.05)  # each piece reaches the room on its own

    async def finish_handshake(self) -> None:
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                await self._flush()
                self.incoming.write(await self._more())
        await self._flush()

    async def request(self, text: bytes) -> bytes:
        self.tls.write(text)
        await self._flush()
        while True:
            try:
                return self.tls.read(65536)
            except ssl.SSLWantReadError:
                self.incoming.write(await self._more())

    async def _flush(self) -> None:
        if data := self.outgoing.read():
            self.writer.write(data)
            await self.writer.drain()

    async def _more(self) -> bytes:
        data = await asyncio.wait_for(self.reader.read(65536), 5)
        assert data, "the room closed the connection"
        return data


def first_byte_alone(data: bytes) -> list[bytes]:
    return [data[:1], data[1:]]


def byte_by_byte_then_rest(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(7)] + [data[7:]]


@pytest.mark.parametrize("pieces", [first_byte_alone, byte_by_byte_then_rest])
async def test_a_tls_hello_cut_into_pieces_still_gets_the_room(
    room: RoomHarness, pieces: Callable[[bytes], list[bytes]]
) -> None:
    client = await HandTls.open(room.server.port)
    hello = client.hello()
    assert hello[0] == TLS_HANDSHAKE_RECORD
    await client.send(hello, pieces)
    await client.finish_handshake()
    assert peer_fingerprint(client.tls) == room.server.fingerprint
    answer = await client.request(b"GET /health HTTP/1.1\r\nHost: room\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"ok\n")
    client.writer.close()


async def test_old_software_in_the_clear_is_told_to_update_and_nothing_else(
    make_room: RoomFactory,
) -> None:
    room = await make_room(name="Team lunch", password="1234 5678")
    host, _ = await room.join("Hana", host=True, password="1234 5678")
    await host.send("the secret plan")
    ws = await connect(f"ws://127.0.0.1:{room.server.port}/", proxy=None, compression=None)
    frames = []
    with pytest.raises(ConnectionClosed):
        while True:
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
    greeting, error = frames
    # Our version and the room's name, for the other side to say which app to update...
    assert greeting["type"] == "server_hello" and greeting["protocol"] == PROTOCOL_VERSION
    assert greeting["room"] == {"name": "Team lunch", "password_required": False}
    assert greeting["abilities"] == [] and greeting["auth"]["methods"] == []
    assert error["code"] == ErrorCode.INCOMPATIBLE_VERSION and "update" in error["message"]
    assert ws.close_code == CloseCode.INCOMPATIBLE_VERSION and "update" in (ws.close_reason or "")
    # ...and nothing of the room: no people, no messages, no place taken.
    assert not any(word in json.dumps(frames) for word in ("Hana", "secret", "instance"))
    assert [p.name for p in room.room.participants] == ["Hana"]
    _, inbox = await room.join("Sam", password="1234 5678")
    assert await inbox.wait_texts(1) == ["the secret plan"]


async def silent_socket(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A socket that connects and never says anything."""
    return await asyncio.open_connection("127.0.0.1", port)


async def stalled_tls(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A socket that starts a TLS hello and stops halfway through it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    hello = HandTls(reader, writer).hello()
    writer.write(hello[: len(hello) // 2])
    await writer.drain()
    return reader, writer


async def cut_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    """Whether the room closes this socket within ``seconds``."""
    try:
        return await asyncio.wait_for(reader.read(), seconds) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


@pytest.mark.parametrize("stall", [silent_socket, stalled_tls], ids=["silent", "stalled-tls"])
async def test_a_socket_that_stalls_on_its_way_in_is_cut_at_the_upgrade_deadline(
    make_room: RoomFactory,
    stall: Callable[[int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]],
) -> None:
    room = await make_room(open_timeout=0.5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    reader, writer = await stall(room.server.port)
    assert await cut_within(reader, 3)
    assert 0.4 < loop.time() - started < 2.5
    writer.close()
    await room.join("Sam")  # the room carries on


@pytest.mark.parametrize("stall", [silent_socket, stalled_tls], ids=["silent", "stalled-tls"])
async def test_closing_the_room_cuts_sockets_still_on_their_way_in(
    make_room: RoomFactory,
    stall: Callable[[int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]],
) -> None:
    room = await make_room(open_timeout=30.0)  # the deadline is far: only the close cuts them
    sockets = [await stall(room.server.port) for _ in range(3)]
    await asyncio.sleep(0.2)
    assert not any([await cut_within(reader, 0.1) for reader, _ in sockets])
    loop = asyncio.get_running_loop()
    started = loop.time()
    await room.server.close()
    assert all([await cut_within(reader, 1) for reader, _ in sockets])
    assert loop.time() - started < 3
    for _, writer in sockets:
        writer.close()
