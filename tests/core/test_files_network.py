"""Sharing files through a real room on loopback, with raw WebSocket clients speaking the
protocol's JSON by hand: uploads, downloads, resuming both, hostile input, and chat that keeps
flowing while a large file moves. Each hostile case checks the room still works for others."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import statistics
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from core.ai.desk import AssistantConfig
from core.file_store import FILE_OVERHEAD_BYTES
from core.protocol import Limits
from core.room import RoomConfig
from core.server import RoomServer
from tests.conftest import RELAXED, RELAXED_ADMISSION, RoomFactory, RoomHarness, hand_join

CHUNK = Limits().file_chunk_bytes
FAST_FRAMES = {"frame_burst": 100_000, "frames_per_second": 100_000.0}
Frame = dict[str, Any]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_OPEN: list[ClientConnection] = []


@pytest.fixture(autouse=True)
async def _close_sockets() -> AsyncIterator[None]:
    """Every raw socket a test opened is let go after it (the room's close ends most)."""
    yield
    while _OPEN:
        _OPEN.pop().transport.abort()


class Raw:
    """One participant on a bare WebSocket, speaking the files protocol by hand."""

    def __init__(self, ws: ClientConnection, welcome: Frame) -> None:
        self.ws = ws
        self.welcome = welcome

    @classmethod
    async def join(cls, room: RoomHarness, name: str, **hello: Any) -> Raw:
        hello.setdefault("abilities", ["files"])
        ws = await room.raw()
        _OPEN.append(ws)
        welcome = await hand_join(ws, name, **hello)
        assert welcome["type"] == "welcome", welcome
        return cls(ws, welcome)

    async def send(self, **frame: Any) -> None:
        await self.ws.send(json.dumps(frame))

    async def next(self, type_name: str, timeout: float = 10.0, **fields: Any) -> Frame:
        """The next frame of ``type_name`` whose ``fields`` match (others are skipped)."""

        async def read() -> Frame:
            while True:
                frame: Frame = json.loads(await self.ws.recv())
                if frame["type"] == type_name and all(frame.get(k) == v for k, v in fields.items()):
                    return frame

        return await asyncio.wait_for(read(), timeout)

    async def offer(
        self, data: bytes, cid: str = "c1", name: str = "file.bin", **extra: Any
    ) -> None:
        sha = hashlib.sha256(data).hexdigest()
        await self.send(type="file_offer", id=cid, name=name, size=len(data), sha256=sha, **extra)

    async def chunks(self, file: str, data: bytes, start: int = 0, end: int | None = None) -> None:
        for offset in range(start, len(data) if end is None else end, CHUNK):
            piece = data[offset : offset + CHUNK]
            await self.send(type="file_chunk", file=file, offset=offset, data=b64(piece))

    async def upload(
        self, data: bytes, cid: str = "c1", name: str = "file.bin", **extra: Any
    ) -> Frame:
        """Share ``data``; returns the ``file_shared`` event that confirms it."""
        await self.offer(data, cid, name, **extra)
        accepted = await self.next("file_accepted", id=cid)
        await self.chunks(accepted["file"], data, accepted["offset"])
        return await self.next("file_shared", client_id=cid)

    async def fetch(self, file: str, offset: int = 0, stop_after: int | None = None) -> bytes:
        """The file from ``offset`` on (or only ``stop_after`` bytes of it, then stop)."""
        await self.send(type="file_get", file=file, offset=offset)
        got = bytearray()
        while True:
            frame = await self.next("file_data", file=file)
            assert frame["offset"] == offset + len(got)
            got += unb64(frame["data"])
            if frame["done"]:
                return bytes(got)
            if stop_after is not None and len(got) >= stop_after:
                await self.send(type="file_stop", file=file)
                return bytes(got)

    async def chat(self, text: str) -> None:
        await self.send(type="send", id=f"m-{text}", text=text)
        await self.next("message", text=text)


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Until ``condition()`` holds (the room's state changes on its own loop)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def still_chatting(room: RoomHarness) -> None:
    a = await Raw.join(room, "Ann")
    b = await Raw.join(room, "Ben")
    await a.send(type="send", id="alive", text="still here?")
    await b.next("message", text="still here?")


async def test_a_file_is_shared_and_fetched_by_two_others(make_room: RoomFactory) -> None:
    room = await make_room(**FAST_FRAMES)
    sam, ana, bo = [await Raw.join(room, n) for n in ("Sam", "Ana", "Bo")]
    data = os.urandom(300_000)
    shared = await sam.upload(data, name="photo.raw")
    for other in (ana, bo):
        seen = await other.next("file_shared", file=shared["file"])
        assert (seen["author_name"], seen["size"], seen["kind"]) == ("Sam", len(data), "other")
    ana_copy, bo_copy = await asyncio.gather(ana.fetch(shared["file"]), bo.fetch(shared["file"]))
    assert ana_copy == data and bo_copy == data


async def test_a_late_joiner_sees_the_file_and_fetches_it(room: RoomHarness) -> None:
    sam = await Raw.join(room, "Sam")
    shared = await sam.upload(b"# Agenda\n\n1. files\n", name="agenda.md")
    late = await Raw.join(room, "Late")
    replayed = await late.next("file_shared")  # in the history after the welcome
    assert replayed == shared
    assert await late.fetch(shared["file"]) == b"# Agenda\n\n1. files\n"


async def test_an_upload_resumes_after_the_connection_drops(make_room: RoomFactory) -> None:
    room = await make_room(**FAST_FRAMES)
    sam = await Raw.join(room, "Sam")
    ana = await Raw.join(room, "Ana")
    data = os.urandom(5 * CHUNK + 123)
    await sam.offer(data)
    accepted = await sam.next("file_accepted")
    await sam.chunks(accepted["file"], data, end=3 * CHUNK)
    await sam.chat("three chunks in")  # so they have all arrived before the drop
    sam.ws.transport.abort()
    resume = {"session": sam.welcome["session"], "last_seq": sam.welcome["last_seq"]}
    back = await Raw.join(room, "Sam", resume=resume)
    assert back.welcome["resumed"]
    await back.offer(data)
    again = await back.next("file_accepted")
    assert (again["file"], again["offset"]) == (accepted["file"], 3 * CHUNK)
    await back.chunks(again["file"], data, again["offset"])
    shared = await ana.next("file_shared", client_id="c1")
    assert await ana.fetch(shared["file"]) == data


async def test_a_download_resumes_from_an_offset(make_room: RoomFactory) -> None:
    room = await make_room(**FAST_FRAMES)
    sam = await Raw.join(room, "Sam")
    ana = await Raw.join(room, "Ana")
    data = os.urandom(10 * CHUNK + 7)
    shared = await sam.upload(data)
    first = await ana.fetch(shared["file"], stop_after=4 * CHUNK)
    ana.ws.transport.abort()
    back = await Raw.join(
        room, "Ana", resume={"session": ana.welcome["session"], "last_seq": shared["seq"]}
    )
    rest = await back.fetch(shared["file"], offset=len(first))
    assert first + rest == data


async def test_hostile_uploads_get_typed_errors_and_the_room_carries_on(
    make_room: RoomFactory,
) -> None:
    room = await make_room(max_file_bytes=100_000)
    eve = await Raw.join(room, "Eve")
    await eve.offer(b"", cid="zero")
    assert (await eve.next("error", ref="zero"))["code"] == "file_empty"
    await eve.offer(bytes(100_001), cid="big")
    assert (await eve.next("error", ref="big"))["code"] == "file_too_large"
    await eve.send(type="file_chunk", file="f404", offset=0, data=b64(b"boo"))
    assert (await eve.next("error", ref="f404"))["code"] == "unknown_file"
    real = b"the real contents"
    await eve.send(
        type="file_offer", id="liar", name="x.txt", size=len(real),
        sha256=hashlib.sha256(b"something else").hexdigest(),
    )  # fmt: skip
    file = (await eve.next("file_accepted", id="liar"))["file"]
    await eve.send(type="file_chunk", file=file, offset=5, data=b64(real[5:]))  # out of order
    assert (await eve.next("file_accepted", id="liar"))["offset"] == 0
    await eve.send(type="file_chunk", file=file, offset=0, data="A")  # no bytes encode to it
    assert (await eve.next("error", ref=file))["code"] == "bad_message"
    await eve.send(type="file_chunk", file=file, offset=0, data=b64(real))
    assert (await eve.next("error", ref="liar"))["code"] == "file_corrupt"
    await eve.send(type="file_get", file=file)
    assert (await eve.next("error", ref=file))["code"] == "unknown_file"
    assert room.room.file_bytes_used == 0 and room.room.shared_files() == ()
    await still_chatting(room)


async def test_a_flood_of_small_files_meets_the_rate_and_the_budget(
    make_room: RoomFactory,
) -> None:
    room = await make_room(limits=Limits(message_burst=5, messages_per_minute=60))
    eve = await Raw.join(room, "Eve")
    for n in range(5):
        await eve.upload(f"tiny {n}".encode(), cid=f"t{n}")
    await eve.offer(b"one too many", cid="t5")
    refused = await eve.next("error", ref="t5")
    assert refused["code"] == "rate_limited" and refused["retry_after"] > 0
    assert len(room.room.shared_files()) == 5
    budget = 2 * (1000 + FILE_OVERHEAD_BYTES)
    full = await make_room(file_budget_bytes=budget)
    eve, ana = await Raw.join(full, "Eve"), await Raw.join(full, "Ana")
    await eve.upload(bytes(1000), cid="a")
    await eve.upload(bytes(1000), cid="b")
    await ana.offer(b"mine", cid="c")
    assert (await ana.next("error", ref="c"))["code"] == "storage_full"
    await ana.send(type="send", id="m", text="chat carries on")
    await eve.next("message", text="chat carries on")


async def test_an_abandoned_upload_is_freed_after_two_minutes() -> None:
    skew = [0.0]
    server = RoomServer(
        RoomConfig(name="Clocked", limits=RELAXED, admission=RELAXED_ADMISSION),
        tick_interval=0.02, clock=lambda: time.monotonic() + skew[0],
    )  # fmt: skip
    await server.start()
    room = RoomHarness(server)
    try:
        sam = await Raw.join(room, "Sam")
        await sam.offer(bytes(100_000))
        file = (await sam.next("file_accepted"))["file"]
        await sam.chunks(file, bytes(100_000), end=CHUNK)
        await sam.chat("one chunk sent")
        assert server.room.file_bytes_used > 0
        skew[0] += 119.0
        await sam.chat("still under way")  # (a tick has passed meanwhile, almost surely)
        assert server.room.file_bytes_used > 0
        skew[0] += 1.5
        await until(lambda: server.room.file_bytes_used == 0)
        await sam.send(type="file_chunk", file=file, offset=CHUNK, data=b64(bytes(CHUNK)))
        assert (await sam.next("error", ref=file))["code"] == "unknown_file"
    finally:
        await room.aclose()


async def test_programs_are_named_so_and_names_are_made_safe(room: RoomHarness) -> None:
    sam = await Raw.join(room, "Sam")
    program = await sam.upload(b"#!/bin/sh\nrm -rf ~\n", cid="p", name="notes.txt")
    assert (program["kind"], program["mime"]) == ("program", "text/x-script")
    tricky = await sam.upload(b"hi", cid="n", name="..\\..\\x\u202etxt.exe\u0000\u200b.txt")
    assert tricky["name"] == "xtxt.exe.txt"


async def test_a_participant_without_files_gets_files_off(room: RoomHarness) -> None:
    old = await Raw.join(room, "Old", abilities=[])
    await old.offer(b"hello", cid="x")
    assert (await old.next("error", ref="x"))["code"] == "files_off"


async def test_chat_keeps_flowing_while_a_large_file_is_downloading(
    make_room: RoomFactory,
) -> None:
    """While 10 MB stream to Ana (and to Sleepy, who asked and stopped reading), Ben's messages
    still reach Ben and Ana promptly: not a benchmark (see bench/file_transfer.py), only a
    bound far above normal that a download queued ahead of chat would break."""
    room = await make_room(**FAST_FRAMES)
    sam, ana, ben = [await Raw.join(room, n) for n in ("Sam", "Ana", "Ben")]
    data = os.urandom(10_000_000)
    shared = await sam.upload(data)
    sleepy = await Raw.join(room, "Sleepy")
    await sleepy.send(type="file_get", file=shared["file"])  # and never reads again
    sent: dict[str, float] = {}
    to_ana: list[float] = []
    received = bytearray()

    async def ana_reads() -> None:
        await ana.send(type="file_get", file=shared["file"])
        while True:
            frame = json.loads(await ana.ws.recv())
            if frame["type"] == "file_data":
                received.extend(unb64(frame["data"]))
                if frame["done"]:
                    return
            elif frame["type"] == "message" and frame["text"] in sent:
                to_ana.append(time.monotonic() - sent[frame["text"]])

    reading = asyncio.create_task(ana_reads())
    to_ben: list[float] = []
    n = 0
    while not reading.done() or n < 20:
        text = f"ping {n}"
        sent[text] = time.monotonic()
        await ben.chat(text)
        to_ben.append(time.monotonic() - sent[text])
        n += 1
    await reading
    assert bytes(received) == data
    assert len(to_ana) >= 10, "the download ended before chat could be measured"
    for delays in (to_ben, to_ana):
        p99 = statistics.quantiles(delays, n=100)[98]
        assert p99 < 0.2, f"p99 {p99 * 1000:.0f} ms"


async def test_the_text_of_a_file_for_the_assistant_is_read_off_the_loop(
    make_room: RoomFactory,
) -> None:
    room = await make_room(assistant=AssistantConfig(model="m"))  # no provider: none needed
    sam = await Raw.join(room, "Sam")
    text = await sam.upload("Grüße, assistant\n".encode(), cid="t", name="a.txt", assistant=True)
    broken = await sam.upload(b"%PDF-1.7\nnot really a PDF", cid="p", assistant=True)
    private = await sam.upload(b"not for the assistant", cid="n", name="b.txt")

    def held(event: Frame) -> Any:
        return room.room.file(event["file"])

    await until(lambda: held(text).text is not None and held(broken).text_problem is not None)
    assert held(text).text == "Grüße, assistant\n" and held(text).text_problem is None
    assert held(broken).text is None
    assert held(broken).text_problem == "the PDF could not be read"  # the worker process's word
    assert held(private).text is None and held(private).text_problem is None


@pytest.mark.parametrize("assistant", [True, False])
async def test_only_a_room_with_an_assistant_reads_text(
    make_room: RoomFactory, assistant: bool
) -> None:
    room = await make_room(assistant=AssistantConfig(model="m") if assistant else None)
    sam = await Raw.join(room, "Sam")
    notes = await sam.upload(b"packing list", cid="t", name="a.txt", assistant=True)
    # A text file is read as soon as the room's loop comes round again, well within the time
    # a chat message takes there and back.
    await sam.chat("after the file")
    held = room.room.file(notes["file"])
    assert held is not None
    assert held.text == ("packing list" if assistant else None)
