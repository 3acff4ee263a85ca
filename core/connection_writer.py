"""What the host writes to each connection, and how much it may hold back for laggards.

Each connection gets a :class:`ConnectionWriter`: a queue and one task that writes it out, so
a participant that stops reading only ever delays itself. Two kinds of frames go in:

* live events, serialised once for everyone and counted against the connection's budget
  (``max_pending_bytes``) and the host's :class:`OutputBudget`; over either, the connection is
  cut off (close code 4008) and may resume;
* catch-up (the welcome and the history replayed after it): references to events the room
  holds anyway, serialised one at a time as the writer reaches them. A resume that never
  reads therefore costs a list of references, not a copy of the history per connection.
"""

from __future__ import annotations

import asyncio
from collections import deque

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from core.codec import serialize
from core.protocol import (
    ServerMessage,
    close_reason,
)

__all__ = ["CLOSE_GRACE", "SLOW_READER_CLOSE_GRACE", "ConnectionWriter", "OutputBudget"]

CLOSE_GRACE = 2.0  # seconds a closing handshake may take before the socket is cut
# A reader cut off for falling behind still has our earlier frames to read before it reaches
# the close frame; give it that long to learn why (4008) before the socket is cut.
SLOW_READER_CLOSE_GRACE = 20.0


class OutputBudget:
    """Bytes of live events waiting in every connection's queue, against a host-wide cap."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.pending = 0

    @property
    def exceeded(self) -> bool:
        return self.pending > self.max_bytes


class ConnectionWriter:
    """Frames waiting to be written to one connection, and the task that writes them."""

    def __init__(self, ws: ServerConnection, max_pending_bytes: int, budget: OutputBudget) -> None:
        self._ws = ws
        self._max_pending = max_pending_bytes
        self._budget = budget
        self._frames: deque[tuple[str | ServerMessage, int]] = deque()
        self._pending = 0
        self._wake = asyncio.Event()
        self._close: tuple[int, str] | None = None
        self._grace = CLOSE_GRACE
        self._task = asyncio.create_task(self._write())

    @property
    def pending_bytes(self) -> int:
        """Bytes of live events queued and not yet written."""
        return self._pending

    def put(self, frame: str, size: int) -> bool:
        """Queue a live frame of ``size`` bytes. False if this reader has fallen too far
        behind (the frame is then not queued)."""
        if self._close is not None:
            return True
        if self._pending + size > self._max_pending:
            return False
        self._frames.append((frame, size))
        self._count(size)
        self._wake.set()
        return True

    def put_catch_up(self, message: ServerMessage) -> None:
        """Queue ``message`` to be serialised when the writer reaches it (not counted)."""
        if self._close is None:
            self._frames.append((message, 0))
            self._wake.set()

    def close(self, code: int, reason: str, *, flush: bool) -> None:
        """Close after sending what is queued, or, without ``flush``, drop the queue and send
        the close frame next, giving a slow reader time to read up to it."""
        if self._close is not None:
            return
        self._close = (code, close_reason(reason))
        if not flush:
            self._drop_queue()
            self._task.cancel()
            self._grace = SLOW_READER_CLOSE_GRACE
            self._task = asyncio.create_task(self._close_now(*self._close))
        self._wake.set()

    async def finish(self) -> None:
        """Wait for the writer to end, cutting the socket if it cannot finish in time."""
        if self._close is None:
            self._task.cancel()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), self._grace + 1.0)
        except TimeoutError:
            self._task.cancel()
            self._ws.transport.abort()
        except asyncio.CancelledError:
            if not self._task.cancelled():
                raise
        finally:
            self._drop_queue()

    # ----------------------------------------------------------------- internals

    def _count(self, size: int) -> None:
        self._pending += size
        self._budget.pending += size

    def _drop_queue(self) -> None:
        self._frames.clear()
        self._count(-self._pending)

    async def _write(self) -> None:
        try:
            while True:
                while self._frames:
                    item, size = self._frames.popleft()
                    self._count(-size)
                    await self._ws.send(item if isinstance(item, str) else serialize(item))
                if self._close is not None:
                    await self._close_now(*self._close)
                    return
                self._wake.clear()
                await self._wake.wait()
        except ConnectionClosed:
            pass

    async def _close_now(self, code: int, reason: str) -> None:
        self._ws.close_timeout = self._grace
        try:
            await asyncio.wait_for(self._ws.close(code, reason), self._grace)
        except TimeoutError:
            self._ws.transport.abort()
