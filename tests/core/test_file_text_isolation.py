"""Reading a shared PDF in a worker process: its text comes back, a hostile PDF is killed at
its deadline while the host's event loop carries on, and a room reads a good PDF even when
hostile ones were shared before it. These start real worker processes (``python -m
core.ai.file_text``), as a host does."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import zlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import core.server
from core.ai import file_text
from core.ai.file_text import FileTextError, extract_text_isolated, worker_command
from core.protocol import FileShared
from tests.conftest import RoomFactory
from tests.core.test_assistant_files import ai_room, encrypted, eventually, make_pdf
from tests.fake_openai import FakeOpenAI


def slow_pdf(operations: int = 600_000, pages: int = 50) -> bytes:
    """A small PDF whose pages all show one content stream of ``operations`` empty text
    operations: a few KB that take pypdf seconds of CPU per page (the reviewer's file)."""
    content = b"BT /F1 1 Tf " + b"() Tj " * operations + b" ET"
    packed = zlib.compress(content, 9)
    objects = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids ["
        + b" ".join(b"%d 0 R" % (10 + i) for i in range(pages))
        + b"] /Count %d >>" % pages,
        4: b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(packed)
        + packed
        + b"\nendstream",
        5: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    }
    for index in range(pages):
        objects[10 + index] = (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>"
        )
    out = bytearray(b"%PDF-1.4\n")
    offsets: dict[int, int] = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + objects[number] + b"\nendobj\n"
    xref, size = len(out), max(objects) + 1
    out += b"xref\n0 %d\n" % size
    for number in range(size):
        out += (
            b"%010d 00000 n \n" % offsets[number] if number in offsets else b"0000000000 65535 f \n"
        )
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, xref)
    return bytes(out)


class Workers:
    """Every worker process started (through the real ``create_subprocess_exec``), and the
    most that were alive at once."""

    def __init__(self) -> None:
        self.processes: list[asyncio.subprocess.Process] = []
        self.commands: list[list[str]] = []
        self.most_at_once = 0

    async def start(self, *command: Any, **options: Any) -> asyncio.subprocess.Process:
        process = await _real_exec(*command, **options)
        self.processes.append(process)
        self.commands.append([str(part) for part in command])
        alive = sum(p.returncode is None for p in self.processes)
        self.most_at_once = max(self.most_at_once, alive)
        return process


_real_exec = asyncio.create_subprocess_exec


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> Workers:
    spy = Workers()
    monkeypatch.setattr(asyncio, "create_subprocess_exec", spy.start)
    return spy


async def ticking(latencies: list[float], period: float = 0.01) -> None:
    """Sleep ``period`` over and over, noting how late the loop woke up each time."""
    while True:
        start = time.monotonic()
        await asyncio.sleep(period)
        latencies.append(time.monotonic() - start - period)


def killed(process: asyncio.subprocess.Process) -> bool:
    """Whether ``process`` was ended by us (SIGKILL on POSIX) and has been reaped."""
    if os.name == "posix":
        return process.returncode == -signal.SIGKILL
    return process.returncode not in (None, 0)


# --------------------------------------------------------------------------- the worker


async def test_a_good_pdfs_text_comes_back_from_a_worker_process(workers: Workers) -> None:
    pdf = make_pdf(["Hotel (harbour view)", "Ferry at 9:40"])
    text = await extract_text_isolated(pdf, "pdf", max_chars=10_000)
    assert text == "Hotel (harbour view)\n\nFerry at 9:40"
    [process] = workers.processes
    assert process.returncode == 0
    assert workers.commands[0][: len(worker_command())] == worker_command()


async def test_a_cut_text_keeps_its_note_across_the_process(workers: Workers) -> None:
    pdf = make_pdf([f"page {n} " + "words " * 20 for n in range(1, 6)])
    text = await extract_text_isolated(pdf, "pdf", max_chars=200)
    assert text.startswith("page 1 words")
    assert text.endswith("[... cut: the rest of page 2 and pages 3 to 5 left out]")


async def test_a_text_file_is_decoded_without_a_process(workers: Workers) -> None:
    text = await extract_text_isolated("Café".encode(), "text", max_chars=100)
    assert text == "Café"
    assert workers.processes == []


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        pytest.param(b"%PDF-1.4\nnot really a PDF at all", "the PDF could not be read", id="junk"),
        pytest.param(
            encrypted(make_pdf(["Salaries"]), "open-sesame"), "the PDF is encrypted", id="locked"
        ),
        pytest.param(make_pdf(["", ""]), "the PDF has no text (only scans or images)", id="scan"),
    ],
)
async def test_the_workers_problem_is_the_callers_error(
    workers: Workers, data: bytes, problem: str
) -> None:
    with pytest.raises(FileTextError) as caught:
        await extract_text_isolated(data, "pdf", max_chars=1000)
    assert str(caught.value) == problem
    assert [p.returncode for p in workers.processes] == [0]


async def test_a_slow_pdf_is_killed_at_the_timeout_while_the_loop_carries_on(
    workers: Workers,
) -> None:
    latencies: list[float] = []
    ticker = asyncio.create_task(ticking(latencies))
    started = time.monotonic()
    try:
        with pytest.raises(FileTextError, match=r"^reading the PDF took too long$"):
            await extract_text_isolated(slow_pdf(), "pdf", max_chars=10_000, timeout=1.0)
    finally:
        ticker.cancel()
    took = time.monotonic() - started
    assert 0.9 < took < 3.0
    [process] = workers.processes
    assert killed(process)
    # The loop woke on time throughout (generous: the machine is shared), not once a page.
    assert len(latencies) > 30
    assert max(latencies) < 0.25


async def test_cancelling_the_call_kills_its_worker(workers: Workers) -> None:
    reading = asyncio.create_task(
        extract_text_isolated(slow_pdf(), "pdf", max_chars=10_000, timeout=30.0)
    )
    await eventually(lambda: len(workers.processes) == 1)
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
    assert killed(workers.processes[0])


@pytest.mark.parametrize(
    "code",
    [
        pytest.param("import os; os._exit(9)", id="dies"),
        pytest.param("print('not an answer')", id="babbles"),
        pytest.param("import json; print(json.dumps({'text': 3}))", id="wrong-shape"),
    ],
)
async def test_a_worker_that_gives_no_answer_means_an_unreadable_pdf(
    monkeypatch: pytest.MonkeyPatch, code: str
) -> None:
    monkeypatch.setattr(file_text, "worker_command", lambda: [sys.executable, "-c", code])
    with pytest.raises(FileTextError, match=r"^the PDF could not be read$"):
        await extract_text_isolated(make_pdf(["Hello"]), "pdf", max_chars=1000)


async def test_the_worker_inherits_no_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPTGROUP_PROVIDER_KEY", "sk-provider-secret")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-secret")
    monkeypatch.setenv("GPTGROUP_HARMLESS", "kept")
    show_environment = (
        "import json, os, sys; sys.stdin.buffer.read(); "
        "print(json.dumps({'text': json.dumps(dict(os.environ))}))"
    )
    monkeypatch.setattr(
        file_text, "worker_command", lambda: [sys.executable, "-c", show_environment]
    )
    seen = json.loads(await extract_text_isolated(make_pdf(["x"]), "pdf", max_chars=10))
    assert seen["GPTGROUP_HARMLESS"] == "kept"
    assert "GPTGROUP_PROVIDER_KEY" not in seen
    assert "OPENAI_API_KEY" not in seen
    assert "sk-" not in json.dumps(seen)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX resource limits")
async def test_a_worker_cannot_take_more_than_its_memory() -> None:
    # An anonymous mapping of 2 GiB only reserves address space, so without the limit this
    # costs nothing; with it, the worker's allocation fails as pypdf's would.
    code = (
        "import mmap\n"
        "from core.ai.file_text import _limit_resources\n"
        "_limit_resources(5.0)\n"
        "try:\n"
        "    mmap.mmap(-1, 2 << 30)\n"
        "except OSError:\n"
        "    print('refused')\n"
        "else:\n"
        "    print('allowed')\n"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    assert out.decode().strip() == "refused"


def test_the_frozen_app_is_its_own_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", "/Applications/GPT Group.app/Contents/MacOS/gptgroup")
    assert worker_command() == [sys.executable, "extract-text"]


# --------------------------------------------------------------------------- in a room


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


async def test_a_good_pdf_shared_after_hostile_ones_is_still_read(
    make_room: RoomFactory, fake: FakeOpenAI, workers: Workers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(core.server, "EXTRACT_TIMEOUT", 1.5)
    room = await ai_room(make_room, fake, "gpt-4o-mini")
    sam, inbox = await room.join("Sam")
    hostile = slow_pdf()
    for n in range(3):
        sam.share_file(f"trap{n}.pdf", hostile + b"%" + bytes([n]), assistant=True)
    sam.share_file("ferry.pdf", make_pdf(["Ferry at 9:40"]), assistant=True)
    events: dict[str, FileShared] = {}
    for name in ("trap0.pdf", "trap1.pdf", "trap2.pdf", "ferry.pdf"):
        events[name] = await inbox.wait_type(FileShared, timeout=10.0, name=name)

    def read(name: str) -> Callable[[], bool]:
        def done() -> bool:
            held = room.room.file(events[name].file)
            return held is not None and (held.text is not None or held.text_problem is not None)

        return done

    for name in events:
        await eventually(read(name), timeout=15.0)
    ferry = room.room.file(events["ferry.pdf"].file)
    assert ferry is not None and ferry.text == "Ferry at 9:40"
    for name in ("trap0.pdf", "trap1.pdf", "trap2.pdf"):
        trap = room.room.file(events[name].file)
        assert trap is not None and trap.text_problem == "reading the PDF took too long"
    assert workers.most_at_once == core.server.EXTRACT_PROCESSES
    assert len(workers.processes) == 4


async def test_closing_the_room_kills_a_worker_still_reading(
    make_room: RoomFactory, fake: FakeOpenAI, workers: Workers
) -> None:
    room = await ai_room(make_room, fake, "gpt-4o-mini")
    sam, _ = await room.join("Sam")
    sam.share_file("trap.pdf", slow_pdf(), assistant=True)
    await eventually(lambda: len(workers.processes) == 1)
    await room.server.close()
    assert killed(workers.processes[0])
