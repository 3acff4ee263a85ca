"""What the host writes to each connection, and how much it may hold back for laggards.

A live event goes to every connection the way ``websockets.broadcast()`` sends it: serialised
and encoded once for everyone, and written straight into each connection's transport, in the
turn of the event loop that made it, as long as that transport's buffer is below its
high-water mark (the connection has not been told to pause writing) and nothing waits ahead of
it. No task wakes for it, so a message to hundreds of readers who keep up costs one write per
reader and nothing more.

A connection that is *behind* (its transport's buffer is over the high-water mark: the reader
or the network has not taken what went before; or frames already wait for it) gets a
:class:`ConnectionWriter`'s queue instead, and the one task that writes it out, so a
participant that stops reading only ever delays itself. Two kinds of frames go in:

* live events, in the bytes encoded for everyone, counted against the connection's budget
  (``max_pending_bytes``) and the host's :class:`OutputBudget`; over either, the connection is
  cut off (close code 4008) and may resume. What went straight to the transport is not held
  back by us and not counted: the transport holds at most its high-water mark and one frame;
* catch-up (the welcome and the history replayed after it): references to events the room
  holds anyway, serialised one at a time as the writer reaches them. A resume that never
  reads therefore costs a list of references, not a copy of the history per connection.

The assistant's deltas (``answer_delta``) are live events too: a reader that keeps up gets
each one at once, in the frame made for everyone. Only a delta that must wait in the queue
joins the one queued last, when that is of the same answer and ends where the new one
starts, so a slow reader gets fewer, larger frames and loses no text. Such a merged frame is
serialised by this connection alone, when written, and counted at exactly the bytes it will
take (what its queued part cost, plus the new text as the frame spells it), so the budgets
mean what they did.

Below both, a *filler* (a download's ``file_data`` frames) is asked for one frame at a time,
and only when nothing else waits: a frame queued meanwhile waits for one filler frame at
most, and a file costs the host one frame's worth of memory per connection, not the file.
Nor may the filler fill the buffers between us and the reader (the kernels' can hold
megabytes, which a chat frame would then wait behind): a WebSocket ping follows every
:data:`FILLER_PING_EVERY` bytes of it, and no more filler goes out while more than
:data:`FILLER_WINDOW` bytes of it were written after the latest ping the reader answered.
Every WebSocket endpoint answers pings by itself, so a client needs nothing for this.

Nothing here waits for a peer for ever: a write that makes no progress for
:data:`SEND_STALL_TIMEOUT` reports the reader as stalled (the room then cuts it off like any
laggard), and a close that was to be sent after the queue gives up on the queue after
:data:`FLUSH_DEADLINE`, so the socket, its slot and its memory always come back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from collections import deque
from collections.abc import Callable

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from core.codec import serialize
from core.protocol import AnswerDelta, AnswerId, ServerMessage, close_reason

__all__ = [
    "CLOSE_GRACE",
    "FILLER_PING_EVERY",
    "FILLER_WINDOW",
    "FLUSH_DEADLINE",
    "SEND_STALL_TIMEOUT",
    "SLOW_READER_CLOSE_GRACE",
    "ConnectionWriter",
    "OutputBudget",
]

log = logging.getLogger("gptgroup.server")

CLOSE_GRACE = 2.0  # seconds a closing handshake may take before the socket is cut
# A reader cut off for falling behind still has our earlier frames to read before it reaches
# the close frame; give it that long to learn why (4008) before the socket is cut.
SLOW_READER_CLOSE_GRACE = 20.0
FLUSH_DEADLINE = 5.0  # seconds a close may wait for the queue ahead of it to be written
SEND_STALL_TIMEOUT = 20.0  # seconds one write may wait for the reader (as the ping's timeout)
FILLER_WINDOW = 192 * 1024  # filler bytes on their way to a reader, at most
FILLER_PING_EVERY = 64 * 1024  # filler bytes between two pings that tell how far it read


class OutputBudget:
    """Bytes of live events waiting in every connection's queue, against a host-wide cap."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.pending = 0

    @property
    def exceeded(self) -> bool:
        return self.pending > self.max_bytes


@dataclasses.dataclass(slots=True)
class _MergedDelta:
    """Deltas of one answer, contiguous, merged while queued: one frame when written."""

    answer: AnswerId
    offset: int
    parts: list[str]  # joined only when written: merging stays linear in the text
    end: int  # offset + the characters in ``parts``

    def message(self) -> AnswerDelta:
        return AnswerDelta(self.answer, self.offset, "".join(self.parts))


@dataclasses.dataclass(slots=True)
class _Queued:
    """One frame waiting in a writer's queue."""

    item: bytes | ServerMessage | _MergedDelta  # a frame, or what to serialise when written
    size: int  # bytes counted against the budgets (0: catch-up, not counted)
    delta: AnswerDelta | _MergedDelta | None = None  # a live delta, which a later one may join


class ConnectionWriter:
    """What goes to one connection: live frames straight into its transport while it keeps
    up, else into a queue, and the task that writes the queue (see the module docstring).

    ``on_stalled`` is called (once) when the reader has taken nothing for
    :data:`SEND_STALL_TIMEOUT` seconds; the owner then closes the writer without flushing.
    ``filler`` gives the next low-priority frame (or None when it has none); it is asked only
    when the queue is empty and the writer is not closing; call :meth:`wake` when it has
    frames again.
    """

    def __init__(
        self,
        ws: ServerConnection,
        max_pending_bytes: int,
        budget: OutputBudget,
        on_stalled: Callable[[], None] = lambda: None,
        filler: Callable[[], str | None] | None = None,
    ) -> None:
        self._ws = ws
        self._max_pending = max_pending_bytes
        self._budget = budget
        self._on_stalled = on_stalled
        self._filler = filler
        self._filler_sent = 0  # bytes of filler written
        self._filler_pinged = 0  # ... when the latest ping went
        self._filler_arrived = 0  # ... when the latest ping the reader answered went
        self._frames: deque[_Queued] = deque()
        self._pending = 0
        self._wake = asyncio.Event()
        self._close: tuple[int, str] | None = None
        self._flushing = False
        self._flush_deadline: asyncio.TimerHandle | None = None
        self._grace = CLOSE_GRACE
        self._task = asyncio.create_task(self._write())

    @property
    def pending_bytes(self) -> int:
        """Bytes of live events queued and not yet written."""
        return self._pending

    @property
    def closing(self) -> bool:
        return self._close is not None

    @property
    def queued_frames(self) -> int:
        """Frames queued and not yet written (live and catch-up)."""
        return len(self._frames)

    def put(self, frame: bytes, *, delta: AnswerDelta | None = None) -> bool:
        """Send a live frame (its text, UTF-8 encoded; the same bytes may go to every
        connection): written to the transport at once if the connection keeps up, else
        queued (``delta``: the answer delta it is, which may then join the delta queued
        last; see the module docstring). False if this reader has fallen too far behind (the
        frame is then not sent)."""
        if self._close is not None:
            return True
        ws = self._ws
        # As websockets.broadcast() does, without its per-call checks that cannot fail here
        # (this module never sends a fragmented message); ``paused`` is websockets' record of
        # the transport's flow control: over the high-water mark until drained below the low.
        if not self._frames and not ws.paused and ws.protocol.state is State.OPEN:
            try:
                ws.protocol.send_text(frame)
                ws.send_data()
            except Exception:  # as in the writer task: a bug must not leave the socket open
                log.exception("writing to a connection failed")
                ws.transport.abort()
            return True
        size = len(frame)
        if delta is not None and (merged := self._merge(delta, size)) is not None:
            return merged
        if self._pending + size > self._max_pending:
            return False
        self._frames.append(_Queued(frame, size, delta))
        self._count(size)
        self._wake.set()
        return True

    def wake(self) -> None:
        """The filler has frames to give (again)."""
        if self._close is None:
            self._wake.set()

    def put_catch_up(self, message: ServerMessage) -> None:
        """Queue ``message`` to be serialised when the writer reaches it (not counted)."""
        if self._close is None:
            self._frames.append(_Queued(message, 0))
            self._wake.set()

    def close(self, code: int, reason: str, *, flush: bool) -> None:
        """Close after sending what is queued (giving up on the queue after
        :data:`FLUSH_DEADLINE`), or, without ``flush``, drop the queue and send the close frame
        next, giving a slow reader time to read up to it. A close without ``flush`` takes over
        from one still flushing."""
        if self._close is not None and not (self._flushing and not flush):
            return
        self._close = (code, close_reason(reason))
        if flush:
            self._flushing = True
            loop = asyncio.get_running_loop()
            self._flush_deadline = loop.call_later(FLUSH_DEADLINE, self._stop_flushing)
            self._wake.set()
            return
        self._flushing = False
        self._grace = SLOW_READER_CLOSE_GRACE
        self._close_without_queue()

    def abort(self) -> None:
        """Cut the connection now, without a closing handshake."""
        self._drop_queue()
        if self._flush_deadline is not None:
            self._flush_deadline.cancel()
        self._task.cancel()
        self._ws.transport.abort()

    async def finish(self) -> None:
        """Wait for the writer to end, cutting the socket if it cannot finish in time."""
        if self._close is None:
            self._task.cancel()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), self._grace + FLUSH_DEADLINE + 1)
        except TimeoutError:
            self._task.cancel()
            self._ws.transport.abort()
        except asyncio.CancelledError:
            if not self._task.cancelled():
                raise
        finally:
            self._drop_queue()
            if self._flush_deadline is not None:
                self._flush_deadline.cancel()

    # ----------------------------------------------------------------- internals

    def _stop_flushing(self) -> None:
        """The queue ahead of a close was not written in time: close without it."""
        if self._flushing and not self._task.done():
            log.info("a connection did not take its last frames in time; closing it")
            self._flushing = False
            self._close_without_queue()

    def _close_without_queue(self) -> None:
        assert self._close is not None
        self._drop_queue()
        self._task.cancel()
        self._task = asyncio.create_task(self._close_now(*self._close))
        self._wake.set()

    def _merge(self, delta: AnswerDelta, size: int) -> bool | None:
        """Let ``delta`` (whose frame takes ``size`` bytes, and which must wait) join the
        delta queued last, if that one is of the same answer and ends where ``delta`` starts:
        True if it did, False if it would take this reader over its budget, None if it cannot
        join (then it is queued as a frame of its own)."""
        if not self._frames:
            return None
        last = self._frames[-1]
        queued = last.delta
        if queued is None or queued.answer != delta.answer:
            return None
        end = queued.end if isinstance(queued, _MergedDelta) else queued.offset + len(queued.text)
        if end != delta.offset:
            return None
        # The merged frame is the queued one with the new text inside its quotes: it costs
        # the new frame's bytes less what the new frame spends around its text.
        extra = size - len(serialize(dataclasses.replace(delta, text="")).encode())
        if self._pending + extra > self._max_pending:
            return False
        if not isinstance(queued, _MergedDelta):
            queued = _MergedDelta(queued.answer, queued.offset, [queued.text], end)
            last.item = last.delta = queued
        queued.parts.append(delta.text)
        queued.end += len(delta.text)
        last.size += extra
        self._count(extra)
        return True

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
                    queued = self._frames.popleft()
                    self._count(-queued.size)
                    if not await self._send(_frame_bytes(queued.item)):
                        return
                if self._close is not None:
                    await self._close_now(*self._close)
                    return
                extra = self._next_filler()
                if extra is not None:
                    if not await self._send(extra.encode()):
                        return
                    self._filler_sent += len(extra)
                    if self._filler_sent - self._filler_pinged >= FILLER_PING_EVERY:
                        await self._ping_for_filler()
                    # A write that the socket takes at once does not yield: let the room and
                    # the other connections' writers run between one chunk and the next.
                    await asyncio.sleep(0)
                    continue
                self._wake.clear()
                await self._wake.wait()
        except ConnectionClosed:
            pass
        except Exception:  # a bug here must not leave the socket and its slot open for ever
            log.exception("writing to a connection failed")
            self._ws.transport.abort()

    def _next_filler(self) -> str | None:
        """The filler's next frame, if it has one and the reader is near enough."""
        if self._filler is None or self._filler_sent - self._filler_arrived >= FILLER_WINDOW:
            return None
        return self._filler()

    async def _ping_for_filler(self) -> None:
        mark = self._filler_pinged = self._filler_sent
        pong = asyncio.ensure_future(await self._ws.ping())
        pong.add_done_callback(functools.partial(self._filler_read, mark))

    def _filler_read(self, mark: int, pong: asyncio.Future[float]) -> None:
        """The reader answered the ping sent after ``mark`` bytes of filler."""
        if pong.cancelled() or pong.exception() is not None:  # closed: nothing more to send
            return
        self._filler_arrived = max(self._filler_arrived, mark)
        if self._close is None:
            self._wake.set()

    async def _send(self, frame: bytes) -> bool:
        """Write one text frame (UTF-8); False (after telling the owner) if the reader took
        nothing for :data:`SEND_STALL_TIMEOUT`."""
        try:  # (a timeout in this task: wait_for would start one task per frame)
            async with asyncio.timeout(SEND_STALL_TIMEOUT):
                await self._ws.send(frame, text=True)
        except TimeoutError:
            self._on_stalled()  # the owner closes us without flushing
            return False
        return True

    async def _close_now(self, code: int, reason: str) -> None:
        self._ws.close_timeout = self._grace
        try:
            async with asyncio.timeout(self._grace):
                await self._ws.close(code, reason)
        except TimeoutError:
            self._ws.transport.abort()


def _frame_bytes(item: bytes | ServerMessage | _MergedDelta) -> bytes:
    """The bytes of a queued frame, serialising it now if it was queued as a message."""
    if isinstance(item, bytes):
        return item
    if isinstance(item, _MergedDelta):
        return serialize(item.message()).encode()
    return serialize(item).encode()
