"""Files from the terminal: ``/send``, ``/save`` and what is printed, through a real room on
loopback and the real ``gptgroup-chat`` process."""

from __future__ import annotations

import asyncio
import os
import re
import stat
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from cli.chat import HELP, describe, file_line
from core.ai.desk import AssistantConfig
from core.protocol import FileId, FileShared, MessageId, ParticipantId
from tests.cli_processes import Process
from tests.conftest import RoomFactory, RoomHarness


@pytest.fixture
async def chats() -> AsyncIterator[Callable[[RoomHarness, str], asyncio.Task[Process]]]:
    """Start ``gptgroup-chat`` processes in a room (each waits to have joined); all are
    ended afterwards."""
    started: list[Process] = []

    async def start(room: RoomHarness, name: str) -> Process:
        chat = await Process.start("gptgroup-chat", f"127.0.0.1:{room.server.port}", "--name", name)
        started.append(chat)
        await chat.expect("You joined")
        return chat

    def task(room: RoomHarness, name: str) -> asyncio.Task[Process]:
        return asyncio.create_task(start(room, name))

    yield task
    for chat in started:
        await chat.kill()


def pdf(size: int) -> bytes:
    head = b"%PDF-1.7\n"
    return head + os.urandom(size - len(head))


async def test_a_file_sent_from_one_terminal_is_saved_from_another(
    make_room: RoomFactory, chats: Callable[[RoomHarness, str], asyncio.Task[Process]],
    tmp_path: Path,
) -> None:  # fmt: skip
    room = await make_room()
    sam, bob = await asyncio.gather(chats(room, "Sam"), chats(room, "Bob"))
    data = pdf(81_234)
    (tmp_path / "plan.pdf").write_bytes(data)
    await sam.type(f"/send {tmp_path / 'plan.pdf'}")
    line = r"^\[\d+\] \[file 1\] Sam shared plan\.pdf \(81 KB, PDF document\) — for the assistant: "
    line += "no$"
    await sam.expect(line)
    await bob.expect(line)

    inbox = tmp_path / "bob"
    inbox.mkdir()
    await bob.type(f"/save 1 {inbox}")  # a folder: the file keeps its (safe) name
    await bob.expect(rf"^\* saved file 1 to {re.escape(str(inbox / 'plan.pdf'))} \(81 KB\)$")
    saved = inbox / "plan.pdf"
    assert saved.read_bytes() == data
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert not stat.S_IMODE(saved.stat().st_mode) & stat.S_IXUSR  # never made runnable

    await bob.type(f"/save 1 {saved}")
    await bob.expect(r"^! .*plan\.pdf exists; /save! 1 PATH replaces it$")
    saved.write_bytes(b"something else")
    saved.chmod(0o644)
    await bob.type(f"/save! 1 {saved}")
    await bob.expect(r"^\* saved file 1 to .*plan\.pdf \(81 KB\)$")
    assert saved.read_bytes() == data
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert sorted(p.name for p in inbox.iterdir()) == ["plan.pdf"]  # nothing left beside it

    await bob.type("/files")
    await bob.expect(r"^  \[\d+\] \[file 1\] Sam shared plan\.pdf \(81 KB, PDF document\)")
    bob.end_input()
    assert await bob.wait() == 0


async def test_progress_is_printed_every_quarter_both_ways(
    make_room: RoomFactory, chats: Callable[[RoomHarness, str], asyncio.Task[Process]],
    tmp_path: Path,
) -> None:  # fmt: skip
    room = await make_room()
    sam, bob = await asyncio.gather(chats(room, "Sam"), chats(room, "Bob"))
    data = pdf(3_000_000)
    (tmp_path / "big.pdf").write_bytes(data)
    await sam.type(f"/send {tmp_path / 'big.pdf'}")
    await sam.expect(r"^\* sharing big\.pdf \(3 MB\)\.\.\.$")
    for quarter in (25, 50, 75):
        await sam.expect(rf"^\* big\.pdf: {quarter}% sent$", timeout=20)
    await bob.expect(r"^\[\d+\] \[file 1\] Sam shared big\.pdf", timeout=20)
    await bob.type(f"/save 1 {tmp_path / 'copy.pdf'}")
    for quarter in (25, 50, 75):
        await bob.expect(rf"^\* file 1: {quarter}% received$", timeout=20)
    await bob.expect(r"^\* saved file 1 to .*copy\.pdf \(3 MB\)$", timeout=20)
    assert (tmp_path / "copy.pdf").read_bytes() == data


async def test_what_cannot_be_sent_or_saved_is_said_in_one_line(
    make_room: RoomFactory, chats: Callable[[RoomHarness, str], asyncio.Task[Process]],
    tmp_path: Path,
) -> None:  # fmt: skip
    room = await make_room(max_file_bytes=1000)
    sam = await chats(room, "Sam")
    (tmp_path / "large.bin").write_bytes(bytes(5000))
    (tmp_path / "empty.txt").write_bytes(b"")
    commands_and_lines = [
        (f"/send {tmp_path / 'missing.txt'}", r"^! cannot read .*missing\.txt: No such file"),
        (f"/send {tmp_path}", r"^! cannot read .*: .+$"),
        (f"/send {tmp_path / 'large.bin'}", r"not shared: .*at most 1 KB$"),
        (f"/send {tmp_path / 'empty.txt'}", r"not shared: the file is empty$"),
        ("/send --ai " + str(tmp_path / "empty.txt"), r"^! this room has no assistant"),
        ("/send", r"^! usage: /send PATH"),
        ("/save 3 x", r"^! there is no file 3$"),
        ("/save one", r"^! usage: /save N PATH"),
        ("/cancel", r"^! no file of yours is being sent$"),
    ]
    for command, line in commands_and_lines:
        await sam.type(command)
        await sam.expect(line)
    sam.end_input()
    assert await sam.wait() == 0
    assert not [line for line in sam.lines if "Traceback" in line]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this system")
async def test_a_named_pipe_is_refused_in_one_line_and_the_terminal_goes_on(
    make_room: RoomFactory, chats: Callable[[RoomHarness, str], asyncio.Task[Process]],
    tmp_path: Path,
) -> None:  # fmt: skip
    """Opening a named pipe the usual way waits for a writer, for ever: it is refused at
    once instead, and the next command is answered."""
    room = await make_room()
    sam = await chats(room, "Sam")
    fifo = tmp_path / "notes.txt"
    os.mkfifo(fifo)
    await sam.type(f"/send {fifo}")
    await sam.expect(r"^! cannot read .*notes\.txt: not a regular file$")
    await sam.type("/help")
    await sam.expect(r"^Commands:")
    sam.end_input()
    assert await sam.wait() == 0


async def test_sending_for_the_assistant_says_where_the_file_goes(
    make_room: RoomFactory, chats: Callable[[RoomHarness, str], asyncio.Task[Process]],
    tmp_path: Path,
) -> None:  # fmt: skip
    room = await make_room(assistant=AssistantConfig(model="gpt-4o", provider="OpenAI"))
    sam, bob = await asyncio.gather(chats(room, "Sam"), chats(room, "Bob"))
    (tmp_path / "notes.md").write_text("# Notes\n\nplain words\n")
    await sam.type(f"/send --ai {tmp_path / 'notes.md'}")
    await sam.expect(
        r"^\* You let the assistant read notes\.md: when it answers, the file is sent to "
        r"OpenAI / gpt-4o\.$"
    )
    await bob.expect(
        r"^\[\d+\] \[file 1\] Sam shared notes\.md \(\d+ bytes, text\) — for the assistant: yes$"
    )


async def test_a_hostile_file_name_is_shown_inert(
    make_room: RoomFactory, chats: Callable[[RoomHarness, str], asyncio.Task[Process]],
    tmp_path: Path,
) -> None:  # fmt: skip
    room = await make_room()
    sam, bob = await asyncio.gather(chats(room, "Sam"), chats(room, "Bob"))
    name = "x\x1b]0;owned\x07\u202eevil.txt"
    (tmp_path / name).write_bytes(b"hello")
    await sam.type(f"/send {tmp_path / name}")
    line = await bob.expect(r"^\[\d+\] \[file 1\] Sam shared ")
    shown = line.string
    assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown
    assert "evil.txt (5 bytes, text)" in shown


def test_the_help_lists_the_file_commands() -> None:
    for command in ("/send PATH", "/send --ai PATH", "/save N PATH", "/save! N PATH", "/files"):
        assert command in HELP
    assert "sent to the AI provider" in HELP


def test_a_file_line_is_one_inert_line() -> None:
    event = FileShared(
        3, 0.0, FileId("f3"), ParticipantId("p1"), "Sam\n[12:00] Host", "a\x1b[2J.png",
        2_500_000, "0" * 64, "image/png", "image", True, MessageId("c-1"),
    )  # fmt: skip
    line = file_line(event, 3)
    assert line == (
        "[3] [file 3] Sam␊[12:00] Host shared a␛[2J.png (2.5 MB, PNG image)"
        " — for the assistant: yes"
    )
    assert describe(event, str, {"f3": 3}.get) == line
    odd = FileShared(4, 0.0, FileId("f4"), ParticipantId("p1"), "Sam", "x", 1, "0" * 64,
                     "x/y", "something-new", False, MessageId("c-2"))  # fmt: skip
    odd_line = "[4] [file] Sam shared x (1 byte, file (x/y)) — for the assistant: no"
    assert describe(odd, str) == odd_line
