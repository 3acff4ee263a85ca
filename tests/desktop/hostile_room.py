"""A hostile room for desktop tests: a real room behind a WebSocket relay that rewrites it.

The app's safety against hostile text must hold whatever a host (or an old client the room
let through) sends, but a real room refuses names like ``<img src=/dev/zero>`` or 10,000
characters. So the desktop connects through :class:`RewritingRelay`, which passes frames
between it and a real room on loopback and replaces a marker (``Zed9``) with hostile text in
every string of every frame the room sends: names, the room's name, the assistant's name,
provider and model, answers. It can also send frames of its own (an ``error``), and refuse a
join with any message, as a hostile host would.

Every room connection is TLS, so the relay is one too: it presents a certificate of its own
(:attr:`RewritingRelay.fingerprint`), as a hostile host's room would, and talks TLS to the
room behind it. Join it by its URL (its certificate is then the one the join pins) or pin
its fingerprint.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from core.room_tls import RoomCertificate, client_context

MARKER = "Zed9"


def rewrite(value: Any, replacements: Mapping[str, str]) -> Any:
    """``value`` (decoded JSON) with each marker replaced in every string in it."""
    if isinstance(value, str):
        for marker, replacement in replacements.items():
            value = value.replace(marker, replacement)
        return value
    if isinstance(value, list):
        return [rewrite(v, replacements) for v in value]
    if isinstance(value, dict):
        return {k: rewrite(v, replacements) for k, v in value.items()}
    return value


class RewritingRelay:
    """Relays ``wss://127.0.0.1:<port>/`` to a room, rewriting what the room says: each key of
    ``replacements`` (a marker such as :data:`MARKER`) becomes its value."""

    def __init__(self, room_port: int, replacements: Mapping[str, str]) -> None:
        self.room_port = room_port
        self.replacements = dict(replacements)
        self.refusal: tuple[str, str] | None = None  # (code, message) for the next hello
        self._server: Server | None = None
        self._clients: set[ServerConnection] = set()
        self.certificate = RoomCertificate.generate()

    async def start(self) -> None:
        self._server = await serve(
            self._relay, "127.0.0.1", 0, max_size=None, compression=None,
            ssl=self.certificate.server_context(),
        )  # fmt: skip

    @property
    def url(self) -> str:
        assert self._server is not None
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"wss://127.0.0.1:{port}/"

    @property
    def fingerprint(self) -> bytes:
        """The relay's own certificate's: what a client that joins it pins."""
        return self.certificate.fingerprint

    async def inject(self, frame: dict[str, Any]) -> None:
        """Send ``frame`` (rewritten like the rest) to every client, as if the room had."""
        text = json.dumps(rewrite(frame, self.replacements))
        for client in list(self._clients):
            with contextlib.suppress(ConnectionClosed):
                await client.send(text)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _relay(self, client: ServerConnection) -> None:
        room_url = f"wss://127.0.0.1:{self.room_port}/"
        async with connect(
            room_url, max_size=None, compression=None, proxy=None, ssl=client_context()
        ) as room:
            self._clients.add(client)
            try:
                await self._pipe(client, room)
            finally:
                self._clients.discard(client)

    async def _pipe(self, client: ServerConnection, room: ClientConnection) -> None:
        async def downstream() -> None:
            async for text in room:
                frame = rewrite(json.loads(text), self.replacements)
                await client.send(json.dumps(frame))

        async def upstream() -> None:
            async for text in client:
                if self.refusal is not None and json.loads(text).get("type") == "hello":
                    code, message = self.refusal
                    self.refusal = None
                    refusal = {"type": "error", "code": code, "message": message}
                    await client.send(json.dumps(rewrite(refusal, self.replacements)))
                    await client.close(4000, "refused")
                    return
                await room.send(text)

        tasks = [asyncio.ensure_future(downstream()), asyncio.ensure_future(upstream())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await task
