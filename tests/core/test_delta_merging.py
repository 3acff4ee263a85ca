"""Live frames go straight into the transport of a reader that keeps up and wait in order for one
that is behind; the assistant's deltas merge only for the latter: real websockets on loopback
(and, for the merge rule's property, a stand-in socket that takes a frame only when the test
lets it)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from core import connection_writer
from core.ai.desk import AssistantConfig
from core.ai.provider import ChatProvider, ProviderSettings
from core.client import RoomClient
from core.codec import serialize
from core.connection_writer import ConnectionWriter, OutputBudget
from core.protocol import (
    AnswerDelta,
    AnswerId,
    AnswerStarted,
    CloseCode,
    ParticipantStatusChanged,
)
from tests.conftest import Inbox, RoomFactory, RoomHarness, hand_join
from tests.fake_openai import FakeOpenAI, Hang

A = AnswerId("answer-a")
B = AnswerId("answer-b")
FILLER = json.dumps({"type": "notice", "text": "x" * 16_000})
STUCK = 0.05  # seconds a frame stays queued before the writer counts as stuck behind it


@dataclass
class Link:
    """A writer on the host's side of a real WebSocket, and the reader at its far end."""

    writer: ConnectionWriter
    reader: ClientConnection
    budget: OutputBudget

    def put(self, frame: str) -> bool:
        """Send a frame as the server does: serialised and encoded once."""
        return self.writer.put(frame.encode())

    def put_delta(self, delta: AnswerDelta) -> bool:
        return self.writer.put(serialize(delta).encode(), delta=delta)

    async def next_frame(self, timeout: float = 5.0) -> dict[str, Any]:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(self.reader.recv(), timeout))
        return frame

    async def fill_the_pipe(self) -> int:
        """Send frames until the reader's buffers hold no more, so that the writer is behind
        until the reader reads; returns the bytes of those frames still queued."""
        loop = asyncio.get_running_loop()
        while True:
            assert self.put(FILLER)
            since = loop.time()
            while self.writer.queued_frames and loop.time() - since < STUCK:
                await asyncio.sleep(0.005)
            if self.writer.queued_frames:
                return self.writer.pending_bytes

    async def next_delta(self, timeout: float = 30.0) -> str:
        """The next ``answer_delta`` frame's text, after the filler."""
        while True:
            frame = await asyncio.wait_for(self.reader.recv(), timeout)
            assert isinstance(frame, str)
            if json.loads(frame)["type"] == "answer_delta":
                return frame


@contextlib.asynccontextmanager
async def linked(*, slow: bool, max_pending_bytes: int = 64 * 1024 * 1024) -> AsyncIterator[Link]:
    """A websockets server on loopback whose one connection gets a :class:`ConnectionWriter`.
    ``slow``: the reader's socket buffers are tiny, as on a slow link, and it reads only
    when the test says so."""
    budget = OutputBudget(256 * 1024 * 1024)
    writers: asyncio.Queue[ConnectionWriter] = asyncio.Queue()

    async def handle(ws: ServerConnection) -> None:
        if slow:
            ws.transport.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_SNDBUF, 4096
            )
        writer = ConnectionWriter(ws, max_pending_bytes, budget)
        await writers.put(writer)
        await ws.wait_closed()
        writer.abort()

    async with serve(handle, "127.0.0.1", 0, compression=None, max_size=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        sock = socket.socket()
        if slow:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        async with connect(
            f"ws://127.0.0.1:{port}/", sock=sock, max_queue=1, max_size=None,
            compression=None, proxy=None,
        ) as reader:  # fmt: skip
            yield Link(await writers.get(), reader, budget)
            reader.transport.abort()


def grown(text: str, delta: dict[str, Any]) -> str:
    """``text`` after one ``answer_delta``, as every client applies it."""
    offset: int = delta["offset"]
    added: str = delta["text"]
    return text[:offset] + added


def _texts(deltas: list[dict[str, Any]]) -> dict[str, str]:
    """Each answer's text after applying ``deltas`` in order."""
    texts: dict[str, str] = {}
    for delta in deltas:
        texts[delta["answer"]] = grown(texts.get(delta["answer"], ""), delta)
    return texts


@pytest.fixture
def own_serialisations(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """What writers serialise themselves (the server's one serialisation is not counted)."""
    calls: list[object] = []

    def counting(message: Any) -> str:
        calls.append(message)
        return serialize(message)

    monkeypatch.setattr(connection_writer, "serialize", counting)
    return calls


# --------------------------------------------------------------------------- over a real socket


async def test_a_reader_that_keeps_up_gets_every_delta_at_once(
    own_serialisations: list[object],
) -> None:
    async with linked(slow=False) as link:
        text = ""
        for piece in ["Once", " upon", " a", " time", "…", " the", " end", "."]:
            assert link.put_delta(AnswerDelta(A, len(text), piece))
            # Written to the transport at once, as websockets.broadcast() would: nothing
            # waits in the queue for the writer task.
            assert link.writer.queued_frames == 0 and link.writer.pending_bytes == 0
            # Each arrives by itself before the next one exists: nothing waits to be merged.
            frame = await link.next_frame()
            assert frame == {"type": "answer_delta", "answer": A, "offset": len(text),
                             "text": piece}  # fmt: skip
            text += piece
        # Two in the same turn of the loop still go as they are, in the frame made once for
        # everyone: merging them would cost this connection a serialisation of its own.
        assert link.put_delta(AnswerDelta(A, len(text), " More"))
        assert link.put_delta(AnswerDelta(A, len(text) + 5, " text"))
        assert [(await link.next_frame())["text"] for _ in range(2)] == [" More", " text"]
    assert own_serialisations == []


async def test_frames_keep_their_order_as_a_reader_falls_behind_and_catches_up() -> None:
    async with linked(slow=True) as link:
        got: list[str] = []

        async def read() -> None:  # a reader slower than the writer, but reading
            while len(got) < 400:
                got.append(json.loads(await link.reader.recv())["text"])
                await asyncio.sleep(0.001)

        reading = asyncio.create_task(read())
        went_straight = waited = 0
        for i in range(400):
            queued = link.writer.queued_frames
            assert link.put(json.dumps({"type": "notice", "text": f"{i:03} " + "t" * 2000}))
            if link.writer.queued_frames > queued:
                waited += 1
            else:
                went_straight += 1
            if i % 8 == 0:
                await asyncio.sleep(0.002)
        await asyncio.wait_for(reading, 30)
        # Both ways were taken, and no frame written at once overtook one that waited.
        assert went_straight and waited
        assert [text[:3] for text in got] == [f"{i:03}" for i in range(400)]
        assert link.writer.pending_bytes == link.budget.pending == 0


async def test_a_reader_that_is_behind_gets_fewer_larger_frames_and_the_exact_text() -> None:
    async with linked(slow=True) as link:
        filler = await link.fill_the_pipe()
        pieces = [f" token{i}" + 'é✓😀"\\\n'[i % 6] for i in range(300)]
        offset = 0
        for piece in pieces:
            assert link.put_delta(AnswerDelta(A, offset, piece))
            offset += len(piece)
            await asyncio.sleep(0)  # the writer runs in between, as with a real provider
        counted = link.writer.pending_bytes - filler
        assert link.writer.queued_frames == 2  # the filler, and every delta in one frame
        frame_text = await link.next_delta()  # the reader wakes up and reads
        merged = json.loads(frame_text)
        assert merged == {"type": "answer_delta", "answer": A, "offset": 0,
                          "text": "".join(pieces)}  # fmt: skip
        # What was counted against the budgets is exactly what the merged frame took.
        assert counted == len(frame_text.encode())
        await _until(lambda: link.writer.pending_bytes == 0 and link.budget.pending == 0)


async def test_deltas_of_other_answers_or_not_following_on_are_never_merged() -> None:
    async with linked(slow=True) as link:
        await link.fill_the_pipe()
        puts = [
            AnswerDelta(A, 0, "ab"),
            AnswerDelta(B, 0, "x"),  # another answer: a frame of its own
            AnswerDelta(A, 2, "cd"),  # follows A, but B's frame is in between
            AnswerDelta(A, 4, "ef"),  # follows on: merged
            AnswerDelta(A, 10, "zz"),  # a gap: a frame of its own
            AnswerDelta(A, 11, "q"),  # overlaps: a frame of its own
            AnswerDelta(A, 11, "q"),  # the same again (harmless to apply twice): not merged
            AnswerDelta(A, 12, "rs"),  # follows on: merged
        ]
        for delta in puts:
            assert link.put_delta(delta)
            await asyncio.sleep(0)
        got = [json.loads(await link.next_delta())] + [await link.next_frame() for _ in range(5)]
        assert [(f["answer"], f["offset"], f["text"]) for f in got] == [
            (A, 0, "ab"), (B, 0, "x"), (A, 2, "cdef"), (A, 10, "zz"), (A, 11, "q"),
            (A, 11, "qrs"),
        ]  # fmt: skip
        # Applied in order, the frames leave each answer's text as every delta would have.
        assert _texts(got) == _texts([{"answer": d.answer, "offset": d.offset, "text": d.text}
                                      for d in puts])  # fmt: skip


async def test_a_reader_too_far_behind_is_still_refused_when_its_deltas_merge() -> None:
    limit = 64 * 1024
    async with linked(slow=True, max_pending_bytes=limit) as link:
        filler = await link.fill_the_pipe()
        offset, accepted = 0, 0
        for _ in range(200):  # 200 kB of text, merged into one frame as long as it fits
            if not link.put_delta(AnswerDelta(A, offset, "y" * 1000)):
                break
            offset += 1000
            accepted += 1
            assert link.writer.pending_bytes <= limit
            assert link.budget.pending == link.writer.pending_bytes
            await asyncio.sleep(0)
        else:
            pytest.fail("the reader was never refused: merging hid what it held back")
        # Refused once the merged frame would pass the limit, not before.
        frame = len(serialize(AnswerDelta(A, 0, "")).encode())
        assert accepted == (limit - filler - frame) // 1000
        assert link.writer.queued_frames == 2


async def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


# --------------------------------------------------------------------------- in a room


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    """A provider that never answers: the test streams the answer itself, as the relay
    would, through the room server's ``answer_delta``."""
    async with FakeOpenAI() as server:
        server.default = Hang()
        yield server


async def answering_room(make_room: RoomFactory, fake: FakeOpenAI, max_pending: int) -> RoomHarness:
    settings = ProviderSettings.from_preset(
        "compatible", model="gpt-4o-mini", base_url=fake.base_url, api_key="sk-test",
        request_timeout=60.0, connect_timeout=1.0,
    )  # fmt: skip
    config = AssistantConfig(model=settings.model, provider=settings.label,
                             provider_kind=settings.kind)  # fmt: skip
    return await make_room(
        name="Stories", assistant=config, provider=ChatProvider(settings),
        max_pending_bytes=max_pending,
    )  # fmt: skip


async def _sleeper(room: RoomHarness) -> tuple[ClientConnection, str]:
    """A participant on a slow link that stops reading right after joining, and its id."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", room.server.port))
    ws = await room.raw(sock=sock, max_queue=1, max_size=None)
    welcome = await hand_join(ws, "Sleepy")
    return ws, welcome["you"]["id"]


async def _asked(inbox: Inbox, client: RoomClient) -> AnswerId:
    await client.send("@assistant tell us a long story")
    return (await inbox.wait_type(AnswerStarted)).answer


@dataclass
class Deltas:
    """The ``answer_delta`` frames a raw reader got, until a notice ``done`` or its end."""

    frames: list[dict[str, Any]] = field(default_factory=list)
    close_code: int | None = None


async def _read_all(ws: ClientConnection) -> Deltas:
    got = Deltas()
    try:
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if frame["type"] == "answer_delta":
                got.frames.append(frame)
            elif frame["type"] == "notice" and frame["text"] == "done":
                return got
    except ConnectionClosed as closed:
        got.close_code = closed.rcvd.code if closed.rcvd is not None else None
    return got


async def test_in_a_room_only_the_reader_that_is_behind_gets_merged_frames(
    make_room: RoomFactory, fake: FakeOpenAI
) -> None:
    room = await answering_room(make_room, fake, max_pending=64 * 1024 * 1024)
    host, inbox = await room.join("Hana", host=True)
    sleeper, _ = await _sleeper(room)
    answer = await _asked(inbox, host)
    for _ in range(200):  # more than the socket buffers hold: the sleeper's writer is behind
        room.server.notice("info", "test", "n" * 30_000)
        await asyncio.sleep(0)
    pieces = [f"word{i} " for i in range(200)]
    offset = 0
    for piece in pieces:
        room.server.answer_delta(answer, piece)
        # The host's app keeps up: each delta reaches it as a frame of its own.
        delta = await inbox.wait_type(AnswerDelta, offset=offset)
        assert delta.text == piece
        offset += len(piece)
    room.server.notice("info", "test", "done")
    got = await _read_all(sleeper)
    assert got.close_code is None
    assert 1 <= len(got.frames) < len(pieces) // 10
    assert _texts(got.frames) == {answer: "".join(pieces)}
    sleeper.transport.abort()


async def test_in_a_room_a_reader_too_far_behind_is_cut_off_while_others_read_on(
    make_room: RoomFactory, fake: FakeOpenAI
) -> None:
    room = await answering_room(make_room, fake, max_pending=64 * 1024)
    host, inbox = await room.join("Hana", host=True)
    sleeper, sleeper_id = await _sleeper(room)
    answer = await _asked(inbox, host)
    cut_off = False
    for n in range(1000):  # up to 16 MB of answer; the sleeper may hold 64 kB of it queued
        room.server.answer_delta(answer, "z" * 16_000)
        await inbox.wait_type(AnswerDelta, offset=n * 16_000)  # every one, at once
        if any(isinstance(e, ParticipantStatusChanged) and e.participant == sleeper_id
               for e in inbox.events):  # fmt: skip
            cut_off = True
            break
    assert cut_off, "the reader that fell behind was never cut off"
    got = await _read_all(sleeper)
    assert got.close_code == CloseCode.TOO_SLOW
    # What it got before the cut is the start of the answer, whole.
    text = _texts(got.frames).get(answer, "")
    assert text == "z" * len(text)
    sleeper.transport.abort()


# --------------------------------------------------------------------------- the merge rule


class _Gate:
    """A stand-in for a connection whose far end takes a frame only when the test lets it.
    While ``paused`` (its transport over the high-water mark, as it starts), every frame
    waits in the writer's queue and goes out through :meth:`send`; else the writer may write
    one straight away (``protocol.send_text``), which the far end takes at once."""

    def __init__(self) -> None:
        self.taken: list[str] = []
        self.in_flight: str | None = None
        self.paused = True
        self._credit = asyncio.Semaphore(0)
        self.state = State.OPEN
        self.protocol = self  # state and send_text() are all the writer asks of the protocol
        self.transport = self  # abort() is all the writer asks of the transport

    def send_text(self, frame: bytes) -> None:
        assert not self.paused and self.in_flight is None
        self.taken.append(frame.decode())

    def send_data(self) -> None:
        pass

    async def send(self, frame: bytes, *, text: bool) -> None:
        assert text, "every frame the room sends is a text frame"
        self.in_flight = frame.decode()
        await self._credit.acquire()
        self.taken.append(self.in_flight)
        self.in_flight = None

    def let(self, frames: int) -> None:
        for _ in range(frames):
            self._credit.release()

    def abort(self) -> None:
        pass


async def test_a_frame_written_at_once_never_overtakes_one_that_waits() -> None:
    gate = _Gate()
    budget = OutputBudget(1 << 20)
    writer = ConnectionWriter(cast(ServerConnection, gate), 1 << 20, budget)
    gate.paused = False
    assert writer.put(b'"a"')  # straight into the transport
    assert gate.taken == ['"a"'] and writer.queued_frames == 0
    gate.paused = True  # the reader has not taken what went before
    assert writer.put(b'"b"') and writer.put(b'"c"')
    await asyncio.sleep(0)  # the writer task writes "b" and waits for the reader
    assert gate.in_flight == '"b"' and writer.queued_frames == 1
    gate.paused = False  # the transport has room again, but "c" still waits
    assert writer.put(b'"d"')
    assert gate.taken == ['"a"'] and writer.queued_frames == 2
    assert writer.pending_bytes == budget.pending == 6
    gate.let(10)
    await _until(lambda: writer.queued_frames == 0 and gate.in_flight is None)
    assert writer.put(b'"e"')  # caught up: straight again
    assert gate.taken == ['"a"', '"b"', '"c"', '"d"', '"e"']
    assert writer.pending_bytes == budget.pending == 0
    writer.abort()


_steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("delta"),
            st.sampled_from([A, B]),
            st.sampled_from(["next", "next", "next", "gap", "again", "back"]),
            st.text(min_size=1, max_size=6),
        ),
        st.tuples(st.just("let"), st.integers(0, 3)),
        st.tuples(st.just("turn")),
    ),
    max_size=60,
)


@settings(deadline=None, max_examples=200)
@given(_steps)
def test_frames_applied_in_order_leave_the_text_every_delta_would(steps: list[Any]) -> None:
    asyncio.run(_run_merge_rule(steps))


async def _run_merge_rule(steps: list[Any]) -> None:
    gate = _Gate()
    budget = OutputBudget(1 << 30)
    writer = ConnectionWriter(cast(ServerConnection, gate), 1 << 30, budget)
    ends = {A: 0, B: 0}
    applied = {A: "", B: ""}
    for step in steps:
        if step[0] == "delta":
            _, answer, where, text = step
            offset = {"next": ends[answer], "gap": ends[answer] + 3, "again": ends[answer] - 1,
                      "back": 0}[where]  # fmt: skip
            offset = max(offset, 0)
            delta = AnswerDelta(answer, offset, text)
            assert writer.put(serialize(delta).encode(), delta=delta)
            applied[answer] = applied[answer][:offset] + text
            ends[answer] = offset + len(text)
        elif step[0] == "let":
            gate.let(step[1])
        await asyncio.sleep(0)
    # Counted: exactly the bytes of the frames still queued (not the one being written).
    counted = writer.pending_bytes
    in_flight = gate.in_flight
    written_before = len(gate.taken)
    gate.let(10_000)
    await _until(lambda: writer.queued_frames == 0 and gate.in_flight is None)
    later = gate.taken[written_before:]
    if in_flight is not None:
        assert later[0] == in_flight
        later = later[1:]
    assert counted == sum(len(f.encode()) for f in later)
    assert writer.pending_bytes == budget.pending == 0
    texts = {A: "", B: ""}
    for frame_text in gate.taken:
        frame = json.loads(frame_text)
        texts[frame["answer"]] = grown(texts[frame["answer"]], frame)
    assert texts == applied
    writer.abort()
