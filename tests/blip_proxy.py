"""A TCP proxy on loopback that can break connections the way a flaky network does."""

from __future__ import annotations

import asyncio
import contextlib


class BlipProxy:
    """Forwards 127.0.0.1:``port`` to a target port, and can misbehave on demand.

    It forwards bytes, TLS and all: to a client it is the room at another address, with the
    room's own certificate (as a network in between, honest or not, would be).

    * :meth:`cut` aborts every connection passing through (a Wi-Fi drop);
    * ``refusing = True`` closes new connections at once (the network is still down);
    * ``swallow_downstream = True`` silently drops what the server sends (replies get lost).
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.refusing = False
        self.swallow_downstream = False
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"wss://127.0.0.1:{self.port}/"

    def cut(self) -> None:
        """Abort every live connection, without a close handshake."""
        for client_w, server_w in list(self._pipes):
            client_w.transport.abort()
            server_w.transport.abort()
        self._pipes.clear()

    async def close(self) -> None:
        self.cut()
        for task in self._tasks:
            task.cancel()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self.refusing:
            client_w.transport.abort()
            return
        self.connections += 1
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_w.transport.abort()
            return
        pipe = (client_w, server_w)
        self._pipes.add(pipe)
        up = asyncio.create_task(self._pump(client_r, server_w, downstream=False))
        down = asyncio.create_task(self._pump(server_r, client_w, downstream=True))
        self._tasks |= {up, down}
        await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        for task in (up, down):
            task.cancel()
            self._tasks.discard(task)
        self._pipes.discard(pipe)
        client_w.transport.abort()
        server_w.transport.abort()

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, downstream: bool
    ) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                if downstream and self.swallow_downstream:
                    continue
                writer.write(data)
                await writer.drain()
