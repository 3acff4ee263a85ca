"""An attacker on a pretend LAN, for the encryption tests. Run inside a test namespace only.

It prints one JSON object a line on stdout: ``{"event": "ready", ...}`` once it is ready
(with its port, and its certificate's fingerprint and verification code where it has one),
then what it saw and did, until it is killed (or, for ``guess`` and ``replay``, is done).
Modes:

``room NAME [--copy-fingerprint FP]``
    An impostor room: a real room of the same name with a certificate of its own, behind a
    front that logs everything guests send it, announced on the LAN. With
    ``--copy-fingerprint`` it is also announced a second time naming the *real* room's
    certificate (a record that lies), at the same address.
``mitm URL [--code CODE] [--try-join]``
    Terminates TLS with its own certificate and relays every frame to the room at ``URL``
    and back, logging each. Knowing the room code (``--code``), it runs an exchange of its
    own with each side instead of relaying theirs. With ``--try-join``, when a guest leaves
    before saying hello, it tries to finish the join itself on the room's connection.
``relay HOST PORT FILE``
    Forwards bytes both ways between whoever connects and ``HOST:PORT`` (TLS and all, as
    a router would), appending every byte it forwarded to ``FILE``.
``guess URL CODE COUNT``
    Tries ``CODE`` (a wrong one) ``COUNT`` times, each on a new connection, as a guesser.
``replay URL FILE [--session TOKEN]``
    Replays the ``auth_start`` and ``hello`` a real client sent (from the record
    ``tests/discovery/recording_chat.py`` wrote), with ``TOKEN`` as the session to resume.

Events:

- ``tls`` (a guest completed a TLS handshake with us), ``closed`` (that connection ended;
  ``bytes``: how many decrypted bytes the guest sent at all), ``frame`` (``from`` ``guest``
  or ``room``, ``text``), ``own_attempt`` (what the room answered our own hello),
  ``exchanged`` (with ``--code``: both exchanges done), ``connection`` (relay),
  ``guess`` (``outcome``: ``wrong``, ``right`` or the error code), ``replay``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import secrets
from http import HTTPStatus
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.connection import Connection
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from core.discovery import Discovery
from core.pake import (
    METHOD,
    GuestExchange,
    RoomExchange,
    WrongCode,
    decode_confirmation,
    decode_message,
    decode_nonce,
    encode_b64url,
)
from core.protocol import PROTOCOL_VERSION
from core.room import RoomConfig
from core.room_tls import (
    RoomCertificate,
    client_context,
    fingerprint_text,
    parse_fingerprint,
    peer_fingerprint,
    verification_code,
)
from core.server import RoomServer

_numbers = itertools.count(1)
ATTACKER_NAME = "Mallory"


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **fields}, ensure_ascii=False), flush=True)


def frame_type(frame: str | bytes) -> str | None:
    """The ``type`` of a JSON frame, or None for anything else."""
    try:
        value = json.loads(frame)
    except ValueError:
        return None
    kind = value.get("type") if isinstance(value, dict) else None
    return kind if isinstance(kind, str) else None


async def open_room(url: str) -> ClientConnection:
    """A connection to the room at ``url`` as any client makes one, checking no certificate
    (an attacker takes whatever the room presents)."""
    return await connect(
        url, ssl=client_context(), proxy=None, compression=None, open_timeout=5, max_size=2**22
    )


async def closed_or_let_in(ws: ClientConnection) -> None:
    """Wait for the room to close ``ws`` after refusing us; a room that let us in keeps it
    open (then ``close_code`` stays None)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(ws.wait_closed(), 5)


def fingerprint_of_connection(ws: ClientConnection) -> bytes:
    return peer_fingerprint(ws.transport.get_extra_info("ssl_object"))


class _Watched(ServerConnection):
    """A guest's connection to the front that reports its TLS handshake and counts every
    decrypted byte the guest sends (the HTTP upgrade included)."""

    number = 0
    peer: str | None = None
    received = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's TLS calls this once the handshake is done: the guest has our certificate.
        self.number = next(_numbers)
        address = transport.get_extra_info("peername")
        self.peer = address[0] if address else None
        emit("tls", conn=self.number, peer=self.peer)
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        emit("closed", conn=self.number, peer=self.peer, bytes=self.received)
        super().connection_lost(exc)


class Front:
    """Terminates TLS with a certificate of its own and relays each guest's frames to the room
    at ``target`` (see the module docstring)."""

    def __init__(self, target: str, *, code: str | None = None, try_join: bool = False) -> None:
        self.target = target
        self.code = code
        self.try_join = try_join
        self.certificate = RoomCertificate.generate()
        self.port = 0

    async def start(self) -> None:
        server = await serve(
            self._handle, "0.0.0.0", 0, ssl=self.certificate.server_context(),
            compression=None, create_connection=_Watched, process_request=_health,
            max_size=2**22,
        )  # fmt: skip
        self.port = int(server.sockets[0].getsockname()[1])

    async def _handle(self, guest: ServerConnection) -> None:
        number = guest.number if isinstance(guest, _Watched) else 0
        room = await open_room(self.target)
        try:
            greeting = await room.recv()
            emit("frame", conn=number, **{"from": "room"}, text=greeting)
            await guest.send(greeting)
            if self.code is not None and not await self._exchange(number, guest, room, greeting):
                return
            said_hello = await self._relay(number, guest, room)
            if not said_hello and self.try_join and room.close_code is None:
                await self._own_attempt(number, room)
        except ConnectionClosed:
            pass
        finally:
            await room.close()
            await guest.close()

    async def _relay(self, number: int, guest: ServerConnection, room: ClientConnection) -> bool:
        """Relay frames both ways until one side ends; whether the guest said hello."""
        said_hello = False

        async def pump(source: Connection, sink: Connection, side: str) -> None:
            nonlocal said_hello
            async for frame in source:
                emit("frame", conn=number, **{"from": side}, text=frame)
                said_hello |= side == "guest" and frame_type(frame) == "hello"
                await sink.send(frame)

        up = asyncio.create_task(pump(guest, room, "guest"))
        down = asyncio.create_task(pump(room, guest, "room"))
        await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        for task in (up, down):
            task.cancel()
        await asyncio.gather(up, down, return_exceptions=True)
        return said_hello

    async def _own_attempt(self, number: int, room: ClientConnection) -> None:
        """Finish the join on the room's connection as best we can: a hello whose
        confirmation we have no way to compute."""
        hello = {
            "type": "hello", "protocol": PROTOCOL_VERSION, "name": ATTACKER_NAME,
            "auth": {"method": METHOD, "confirmation": encode_b64url(secrets.token_bytes(32))},
        }  # fmt: skip
        await room.send(json.dumps(hello))
        try:
            answer: str | bytes | None = await asyncio.wait_for(room.recv(), 5)
        except ConnectionClosed:
            answer = None
        await closed_or_let_in(room)
        emit("own_attempt", conn=number, answer=answer, close=room.close_code)

    async def _exchange(
        self, number: int, guest: ServerConnection, room: ClientConnection, greeting: str | bytes
    ) -> bool:
        """Knowing the code: an exchange with the guest as the room (bound to our own
        certificate) and one with the room as a guest (bound to the room's), with the nonce of
        the room's greeting for both; the guest's hello goes on with our confirmation in it.
        Whether the guest said hello."""
        assert self.code is not None
        nonce = decode_nonce(json.loads(greeting)["auth"]["nonce"])
        start = await guest.recv()
        emit("frame", conn=number, **{"from": "guest"}, text=start)
        as_room = RoomExchange(self.code, self.certificate.fingerprint, nonce)
        reply = as_room.respond(decode_message(json.loads(start)["message"]))
        as_guest = GuestExchange(self.code, fingerprint_of_connection(room), nonce)
        message = encode_b64url(as_guest.start())
        await room.send(json.dumps({"type": "auth_start", "method": METHOD, "message": message}))
        answer = json.loads(await room.recv())
        confirmed = as_guest.finish(
            decode_message(answer["message"]), decode_confirmation(answer["confirmation"])
        )
        await guest.send(
            json.dumps({
                "type": "auth_reply", "message": encode_b64url(reply.message),
                "confirmation": encode_b64url(reply.confirmation),
            })
        )  # fmt: skip
        try:
            text = await guest.recv()
        except ConnectionClosed:
            return False
        emit("frame", conn=number, **{"from": "guest"}, text=text)
        hello = json.loads(text)
        as_room.finish(decode_confirmation(hello["auth"]["confirmation"]))
        hello["auth"]["confirmation"] = encode_b64url(confirmed.confirmation)
        await room.send(json.dumps(hello, ensure_ascii=False))
        emit("exchanged", conn=number)
        return True


def _health(connection: ServerConnection, request: Request) -> Response | None:
    """Answer a browser's check as a room does, so that the impostor gets listed."""
    if request.path == "/health":
        return connection.respond(HTTPStatus.OK, "ok\n")
    return None


async def impostor_room(name: str, copy_fingerprint: str | None) -> None:
    backend = RoomServer(RoomConfig(name=name), host="127.0.0.1", port=0)
    await backend.start()
    front = Front(backend.url("127.0.0.1"))
    await front.start()
    discovery = Discovery()
    await discovery.start()
    info = backend.room.info()
    await discovery.advertise(info, front.port, front.certificate.fingerprint)
    if copy_fingerprint is not None:
        await discovery.advertise(info, front.port, parse_fingerprint(copy_fingerprint))
    ready(front)
    await asyncio.Event().wait()


async def mitm(url: str, code: str | None, try_join: bool) -> None:
    front = Front(url, code=code, try_join=try_join)
    await front.start()
    ready(front)
    await asyncio.Event().wait()


def ready(front: Front) -> None:
    fingerprint = front.certificate.fingerprint
    emit(
        "ready", port=front.port, fingerprint=fingerprint_text(fingerprint),
        code=verification_code(fingerprint),
    )  # fmt: skip


async def relay(host: str, port: int, record: Path) -> None:
    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            with record.open("ab") as copy:
                copy.write(data)
            writer.write(data)
            await writer.drain()

    async def accept(guest_r: asyncio.StreamReader, guest_w: asyncio.StreamWriter) -> None:
        emit("connection", peer=guest_w.get_extra_info("peername")[0])
        room_r, room_w = await asyncio.open_connection(host, port)
        tasks = {
            asyncio.create_task(pump(guest_r, room_w)),
            asyncio.create_task(pump(room_r, guest_w)),
        }
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        guest_w.close()
        room_w.close()

    server = await asyncio.start_server(accept, "0.0.0.0", 0)
    emit("ready", port=int(server.sockets[0].getsockname()[1]))
    await asyncio.Event().wait()


async def guess(url: str, code: str, count: int) -> None:
    emit("ready")
    for n in range(1, count + 1):
        async with await open_room(url) as ws:
            greeting = json.loads(await ws.recv())
            exchange = GuestExchange(
                code, fingerprint_of_connection(ws), decode_nonce(greeting["auth"]["nonce"])
            )
            message = encode_b64url(exchange.start())
            await ws.send(json.dumps({"type": "auth_start", "method": METHOD, "message": message}))
            answer = json.loads(await ws.recv())
            if answer["type"] == "auth_reply":
                try:
                    exchange.finish(
                        decode_message(answer["message"]),
                        decode_confirmation(answer["confirmation"]),
                    )
                    outcome = "right"
                except WrongCode:
                    outcome = "wrong"
            else:
                outcome = str(answer.get("code"))
            emit("guess", n=n, outcome=outcome)


def recorded_handshake(record: Path, session: str | None) -> tuple[str, str]:
    """The first ``auth_start`` and ``hello`` in ``record``, the hello resuming ``session``."""
    sent = [json.loads(line).get("sent") for line in record.read_text().splitlines()]
    auth_start = next(text for text in sent if text and frame_type(text) == "auth_start")
    hello = json.loads(next(text for text in sent if text and frame_type(text) == "hello"))
    if session is not None:
        hello["resume"] = {"session": session, "last_seq": 0}
    return auth_start, json.dumps(hello, ensure_ascii=False)


async def replay(url: str, auth_start: str, hello: str) -> None:
    emit("ready")
    answers: list[str | None] = []
    async with await open_room(url) as ws:
        await ws.recv()  # the greeting, with a nonce the recording knows nothing of
        await ws.send(auth_start)
        answers.append(frame_type(await ws.recv()))
        await ws.send(hello)
        try:
            answer = json.loads(await ws.recv())
            answers.append(f"{answer['type']}:{answer.get('code')}")
        except ConnectionClosed:
            answers.append(None)
        await closed_or_let_in(ws)
        emit("replay", answers=answers, close=ws.close_code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    modes = parser.add_subparsers(dest="mode", required=True)
    room = modes.add_parser("room")
    room.add_argument("name")
    room.add_argument("--copy-fingerprint")
    middle = modes.add_parser("mitm")
    middle.add_argument("url")
    middle.add_argument("--code")
    middle.add_argument("--try-join", action="store_true")
    forward = modes.add_parser("relay")
    forward.add_argument("host")
    forward.add_argument("port", type=int)
    forward.add_argument("file", type=Path)
    guesser = modes.add_parser("guess")
    guesser.add_argument("url")
    guesser.add_argument("code")
    guesser.add_argument("count", type=int)
    replayer = modes.add_parser("replay")
    replayer.add_argument("url")
    replayer.add_argument("file", type=Path)
    replayer.add_argument("--session")
    args = parser.parse_args()
    # A guest who refuses our certificate ends the upgrade early; websockets would log that.
    logging.getLogger("websockets").setLevel(logging.CRITICAL)
    match args.mode:
        case "room":
            work = impostor_room(args.name, args.copy_fingerprint)
        case "mitm":
            work = mitm(args.url, args.code, args.try_join)
        case "relay":
            work = relay(args.host, args.port, args.file)
        case "guess":
            work = guess(args.url, args.code, args.count)
        case _:
            work = replay(args.url, *recorded_handshake(args.file, args.session))
    asyncio.run(work)


if __name__ == "__main__":
    main()
