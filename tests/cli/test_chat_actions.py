"""Replies, edits, deletions and reactions from the terminal (issue 17), through a real room
on loopback and real ``gptgroup-chat`` processes: what one person types, the others see,
numbered the same for everyone; a bad command is answered in a line and the session goes
on; a late joiner and a resumed terminal read the room as it is now, each event once."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import pytest

from cli.chat import HELP, describe
from core.ai.desk import AssistantConfig
from core.ai.provider import ChatProvider, ProviderSettings
from core.client import ClientEvent
from core.protocol import (
    AnswerFinished,
    AnswerId,
    ErrorMessage,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    ParticipantId,
    Quote,
    ReactionChanged,
)
from tests.blip_proxy import BlipProxy
from tests.cli.test_chat_terminal import assert_inert, evil
from tests.cli_processes import Process
from tests.conftest import RELAXED, RoomFactory, RoomHarness
from tests.fake_openai import FakeOpenAI, Reply

Chats = Callable[..., asyncio.Task[Process]]
STAMP = r"\[\d\d:\d\d\]"


@pytest.fixture
async def chats() -> AsyncIterator[Chats]:
    """Start ``gptgroup-chat`` processes (each waits to have joined); all ended afterwards.
    ``chats(room, name, host=True)`` joins with the room's host key; ``port=`` joins through
    another port (a proxy)."""
    started: list[Process] = []

    async def start(room: RoomHarness, name: str, host: bool, port: int | None) -> Process:
        args = [f"127.0.0.1:{port or room.server.port}", "--name", name]
        env = {"GPTGROUP_HOST_KEY": room.room.config.host_key} if host else None
        chat = await Process.start("gptgroup-chat", *args, env=env)
        started.append(chat)
        await chat.expect("You joined")
        return chat

    def task(
        room: RoomHarness, name: str, *, host: bool = False, port: int | None = None
    ) -> asyncio.Task[Process]:
        return asyncio.create_task(start(room, name, host, port))

    yield task
    for chat in started:
        await chat.kill()


async def posted(chat: Process, author: str, text: str) -> int:
    """Wait for ``chat`` to print ``author``'s message ``text``; its number."""
    line = rf"^\[(\d+)\] {STAMP} {re.escape(author)}: {re.escape(text)}$"
    return int((await chat.expect(line)).group(1))


async def test_reply_edit_react_and_delete_are_seen_by_the_others_and_by_a_late_joiner(
    make_room: RoomFactory, chats: Chats
) -> None:
    room = await make_room()
    sam, hana = await asyncio.gather(chats(room, "Sam"), chats(room, "Hana", host=True))

    await sam.type("Lunch at noon?")
    q = await posted(hana, "Sam", "Lunch at noon?")
    assert q == await posted(sam, "Sam", "Lunch at noon?")  # the same number for everyone
    await hana.type(f"/reply {q} Works for me")
    line = rf'^\[(\d+)\] {STAMP} Hana ↪ \[{q}\] Sam "Lunch at noon\?": Works for me$'
    r = int((await sam.expect(line)).group(1))
    assert r > q

    await sam.type(f"/edit {q} Lunch at 12:30?")
    await hana.expect(rf"^\[{q}\] Sam edited: Lunch at 12:30\? \(was: Lunch at noon\?\)$")

    # /react toggles: the same emoji again takes it back, and so does -EMOJI.
    await hana.type(f"/react {q} 👍")
    await sam.expect(rf"^\* Hana reacted 👍 to \[{q}\]$")
    await hana.expect(rf"^\* Hana reacted 👍 to \[{q}\]$")  # her own terminal knows it too
    await hana.type(f"/react {q} 👍")
    await sam.expect(rf"^\* Hana took back 👍 from \[{q}\]$")
    await hana.type(f"/react [{q}] 🍕")  # the number as printed, brackets and all
    await sam.expect(rf"^\* Hana reacted 🍕 to \[{q}\]$")
    await hana.type(f"/react {q} -🍕")
    await sam.expect(rf"^\* Hana took back 🍕 from \[{q}\]$")

    # One's own message, and (the host) anyone's.
    await sam.type("oops, wrong room")
    oops = await posted(hana, "Sam", "oops, wrong room")
    await sam.type(f"/delete {oops}")
    await hana.expect(rf"^\[{oops}\] deleted by Sam$")
    await sam.type("something rude")
    rude = await posted(hana, "Sam", "something rude")
    await hana.type(f"/delete {rude}")
    await sam.expect(rf"^\[{rude}\] deleted by Hana$")

    # A late joiner reads the room as it is now (the quote too), and each event once.
    cy = await chats(room, "Cy")
    await cy.expect(rf"^\[{q}\] {STAMP} Sam: Lunch at 12:30\? \(edited\)$")
    await cy.expect(rf'^\[{r}\] {STAMP} Hana ↪ \[{q}\] Sam "Lunch at 12:30\?": Works for me$')
    await cy.expect(rf"^\[{q}\] Sam edited: Lunch at 12:30\? \(was: Lunch at noon\?\)$")
    await cy.expect(rf"^\* Hana took back 🍕 from \[{q}\]$")
    await cy.expect(rf"^\[{oops}\] \(message deleted\)$")
    await cy.expect(rf"^\[{oops}\] deleted by Sam$")
    await cy.expect(rf"^\[{rude}\] \(message deleted\)$")
    await cy.expect(rf"^\[{rude}\] deleted by Hana$")
    await sam.type("sync")
    await posted(cy, "Sam", "sync")
    shown = "\n".join(cy.lines)
    assert "oops" not in shown and "rude" not in shown  # deleted words never reach it
    assert len(re.findall(r"(?m)^\[\d+\] deleted by ", shown)) == 2
    assert len(re.findall(r"(?m)^\[\d+\] Sam edited", shown)) == 1
    assert len(re.findall(r"(?m)^\* Hana (reacted|took back)", shown)) == 4


async def test_answers_and_files_are_numbered_replied_to_and_the_host_deletes_an_answer(
    make_room: RoomFactory, chats: Chats, tmp_path: Path
) -> None:
    async with FakeOpenAI() as fake:
        fake.default = Reply(["Noon ", "works."])
        settings = ProviderSettings.from_preset(
            "compatible", model="gpt-4o-mini", base_url=fake.base_url, api_key="k"
        )
        config = AssistantConfig(model=settings.model, provider=settings.label,
                                 provider_kind=settings.kind)  # fmt: skip
        room = await make_room(assistant=config, provider=ChatProvider(settings))
        sam, hana = await asyncio.gather(chats(room, "Sam"), chats(room, "Hana", host=True))
        await sam.type("@assistant when is lunch?")
        asked = await posted(hana, "Sam", "@assistant when is lunch?")
        answer_line = rf"^\[(\d+)\] {STAMP} assistant: Noon works\.$"
        answer = int((await hana.expect(answer_line)).group(1))
        assert answer == int((await sam.expect(answer_line)).group(1)) > asked
        await sam.type(f"/reply {answer} thanks")
        await hana.expect(rf'^\[\d+\] {STAMP} Sam ↪ \[{answer}\] assistant "Noon works\.": thanks$')

        (tmp_path / "plan.txt").write_text("the plan")
        await sam.type(f"/send {tmp_path / 'plan.txt'}")
        file = int((await hana.expect(r"^\[(\d+)\] \[file 1\] Sam shared plan\.txt")).group(1))
        await hana.type(f"/reply {file} got it")
        await sam.expect(rf'^\[\d+\] {STAMP} Hana ↪ \[{file}\] Sam\'s file "plan\.txt": got it$')

        await sam.type(f"/delete {answer}")
        await sam.expect(rf"^! /delete {answer}: only the host can delete an answer$")
        await hana.type(f"/delete {answer}")
        await sam.expect(rf"^\[{answer}\] deleted by Hana$")
        cy = await chats(room, "Cy")
        await cy.expect(rf"^\[{answer}\] \(message deleted\)$")
        await cy.expect(rf"^\[\d+\] {STAMP} Sam ↪ \[{answer}\] \(message deleted\): thanks$")
        await sam.type("sync")
        await posted(cy, "Sam", "sync")
        assert not [line for line in cy.lines if "Noon works" in line]


async def test_a_bad_command_or_a_refusal_is_one_line_and_the_session_goes_on(
    make_room: RoomFactory, chats: Chats
) -> None:
    room = await make_room(edit_window=0, limits=replace(RELAXED, max_reaction_kinds=1))
    sam, bob = await asyncio.gather(chats(room, "Sam"), chats(room, "Bob"))
    await bob.type("Bob's words")
    theirs = await posted(sam, "Bob", "Bob's words")
    await sam.type("Sam's words")
    mine = await posted(sam, "Sam", "Sam's words")
    commands_and_lines = [
        # Refused before anything is sent:
        ("/reply abc hi", r"^! abc is not a message number: use the number in \[brackets\]"),
        ("/delete 0", r"^! 0 is not a message number"),
        (f"/reply {theirs}", rf"^! /reply {theirs} needs the text of your reply: /reply N TEXT$"),
        (f"/edit {mine}", rf"^! /edit {mine} needs the new text: /edit N TEXT$"),
        ("/edit", r"^! usage: /edit N TEXT$"),
        (f"/delete {mine} now", r"^! usage: /delete N$"),
        (f"/react {theirs} yes", r"^! yes is not one emoji: /react N EMOJI"),
        (f"/react {theirs}", rf"^! /react {theirs} needs an emoji"),
        # Refused by the room, in its words:
        ("/reply 999 hi", r"^! not sent: the room holds no message 999 \(it may be too old\)$"),
        ("/edit 999 x", r"^! /edit 999: the room holds no message 999"),
        ("/react 999 👍", r"^! /react 999: the room holds no message 999"),
        (f"/edit {theirs} mine now", rf"^! /edit {theirs}: you can edit only your own messages$"),
        (f"/delete {theirs}", rf"^! /delete {theirs}: you can delete only your own messages$"),
        (f"/edit {mine} changed", rf"^! /edit {mine}: this room does not allow editing$"),
        (f"/react {theirs} 👍", rf"^\* Sam reacted 👍 to \[{theirs}\]$"),
        (f"/react {theirs} 🍕", rf"^! /react {theirs}: a message can have at most 1 different"),
        ("/help", r"^  /reply N TEXT "),
    ]
    for command, line in commands_and_lines:
        await sam.type(command)
        await sam.expect(line)
    await sam.type("still here")
    await posted(bob, "Sam", "still here")
    assert not [line for line in bob.lines if line.startswith("!")]  # nobody else is told
    sam.end_input()
    assert await sam.wait() == 0
    assert not [line for line in sam.lines if "Traceback" in line]


async def test_a_resumed_terminal_catches_up_on_what_changed_once(
    make_room: RoomFactory, chats: Chats
) -> None:
    room = await make_room()
    proxy = BlipProxy(room.server.port)
    await proxy.start()
    try:
        bob = await chats(room, "Bob", port=proxy.port)
        sam, sam_inbox = await room.join("Sam")
        await sam.send("Lunch at noon?")
        q = (await sam_inbox.wait_type(MessagePosted, text="Lunch at noon?")).seq
        await posted(bob, "Sam", "Lunch at noon?")

        proxy.refusing = True
        proxy.cut()
        await bob.expect(r"^! connection lost")
        await sam.edit_message(q, "Lunch at 12:30?")
        await sam.react(q, "👍")
        await sam.send("gone soon")
        gone = (await sam_inbox.wait_type(MessagePosted, text="gone soon")).seq
        await sam.delete_message(gone)
        await sam_inbox.wait_type(MessageDeleted)
        proxy.refusing = False

        await bob.expect(r"^\* reconnected$", timeout=15)
        await bob.expect(rf"^\[{q}\] Sam edited: Lunch at 12:30\? \(was: Lunch at noon\?\)$")
        await bob.expect(rf"^\* Sam reacted 👍 to \[{q}\]$")
        await bob.expect(rf"^\[{gone}\] \(message deleted\)$")
        await bob.expect(rf"^\[{gone}\] deleted by Sam$")
        await sam.send("sync")
        await posted(bob, "Sam", "sync")
        shown = "\n".join(bob.lines)
        assert "gone soon" not in shown
        assert shown.count("Sam edited") == 1 and shown.count("deleted by Sam") == 1
    finally:
        await proxy.close()


def test_hostile_text_in_quotes_edits_and_reactions_is_shown_inert() -> None:
    ts = time.time()
    quote = Quote(5, "message", ParticipantId("p1"), evil("Quoted"), evil("quoted text"))
    file_quote = Quote(3, "file", ParticipantId("p1"), "Sam", evil("file.txt"))
    events: list[ClientEvent] = [
        MessagePosted(6, ts, ParticipantId("p2"), evil("Replier"), "fine", reply_to=quote),
        MessagePosted(7, ts, ParticipantId("p2"), "Bob", "x", reply_to=file_quote),
        MessageEdited(8, ts, 5, ParticipantId("p1"), evil("Editor"), evil("new"), evil("old")),
        MessageDeleted(9, ts, 5, ParticipantId("p1"), evil("Deleter")),
        ReactionChanged(10, ts, 5, ParticipantId("p1"), evil("Reactor"), evil("👍"), True),
        ErrorMessage("unknown_message", evil("refusal")),
    ]
    lines = [describe(event, str) for event in events]
    assert all(line is not None and "\n" not in line for line in lines), lines
    text = assert_inert("\n".join(line for line in lines if line).encode())
    for label in ("Quoted", "quoted text", "Replier", "file.txt", "Editor", "new", "old",
                  "Deleter", "Reactor", "👍", "refusal"):  # fmt: skip
        assert re.search(rf"{label}␛\]52;c;cHduZWQ=␇", text), label
    reply = lines[0]
    assert reply is not None and reply.startswith("[6] [")
    assert "↪ [5] Quoted␛]52;c;cHduZWQ=␇" in reply and reply.endswith(": fine")


def test_a_quote_and_a_previous_text_are_one_short_line() -> None:
    long = "first line\nsecond line " + "word " * 30
    quote = Quote(5, "message", ParticipantId("p1"), "Sam", long)
    line = describe(MessagePosted(6, 0.0, ParticipantId("p2"), "Bob", "yes", reply_to=quote), str)
    assert line is not None
    cut = r'"first line second line word[^"]*…"'  # one line, cut short
    assert re.fullmatch(rf"\[6\] {STAMP} Bob ↪ \[5\] Sam {cut}: yes", line), line
    edited = MessageEdited(7, 0.0, 5, ParticipantId("p1"), "Sam", "new\ntext", long)
    shown = describe(edited, str)
    assert shown is not None
    first, second = shown.split("\n")
    assert first == "[5] Sam edited: new"
    assert (
        second
        == " " * len("[5] Sam edited: ") + "text (was: first line second line word word word…)"
    )
    gone = MessageEdited(8, 0.0, 5, ParticipantId("p1"), "Sam", "", "")  # deleted since
    assert describe(gone, str) == "[5] Sam edited (the message was deleted since)"
    deleted_quote = replace(quote, text="", deleted=True)
    line = describe(
        MessagePosted(9, 0.0, ParticipantId("p2"), "Bob", "ok", reply_to=deleted_quote), str
    )
    assert line is not None and line.endswith("Bob ↪ [5] (message deleted): ok")


def test_answers_carry_the_number_of_their_start() -> None:
    numbers = {"a1": 41}.get
    a1 = AnswerId("a1")
    done = AnswerFinished(44, 0.0, a1, "Sure.", "complete", "m")
    line = describe(done, lambda _pid: "Robo", answer_number=numbers)
    assert line is not None and re.fullmatch(r"\[41\] \[\d\d:\d\d\] Robo: Sure\.", line)
    failed = AnswerFinished(44, 0.0, a1, "", "failed", "m", error="No key.")
    assert describe(failed, str, answer_number=numbers) == "[41] (no answer: No key.)"
    deleted = AnswerFinished(44, 0.0, a1, "", "complete", "m", deleted=True)
    assert describe(deleted, str, answer_number=numbers) == "[41] (message deleted)"


def test_a_refusal_without_words_is_said_in_words() -> None:
    for code in ("unknown_message", "edit_window_closed", "not_allowed", "too_many_reactions",
                 "invalid_value"):  # fmt: skip
        line = describe(ErrorMessage(code, ""), str)
        assert line is not None and line.startswith("! ") and "_" not in line, line


def test_the_help_lists_the_message_commands() -> None:
    for command in ("/reply N TEXT", "/edit N TEXT", "/delete N", "/react N EMOJI",
                    "/react N -EMOJI"):  # fmt: skip
        assert command in HELP
