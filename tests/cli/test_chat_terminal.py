"""``gptgroup-chat`` against a hostile room: nothing the room sends can drive the terminal.

The room here is a small WebSocket server written for the test from docs/protocol.md. It puts
escape sequences (clipboard write, window title, clear screen, cursor up, carriage return),
C1 controls and direction overrides in every string it sends; the terminal client runs as a
real process, and its output is checked byte for byte.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection, serve

from cli.chat import build_parser, describe
from cli.terminal_text import BIDI_CONTROLS
from core.codec import serialize
from core.protocol import (
    PROTOCOL_VERSION,
    AnswerDelta,
    AnswerFinished,
    AnswerStarted,
    AnswerTicket,
    AssistantInfo,
    AssistantState,
    AssistantStateChanged,
    AuthOffer,
    ErrorMessage,
    MessagePosted,
    Notice,
    ParticipantInfo,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantStatusChanged,
    RoomClosed,
    RoomInfo,
    RoomPreview,
    RoomUpdated,
    ServerHello,
    ServerMessage,
    Welcome,
)
from core.room_tls import RoomCertificate
from tests.cli_processes import Process, start_host

# Each would act on a terminal that received it as it is.
CLIPBOARD = "\x1b]52;c;cHduZWQ=\x07"
TITLE = "\x1b]0;owned\x07"
CLEAR = "\x1b[2J\x1b[H"
OVERWRITE = "\x1b[1A\r\x1b[2K"
C1_CSI = "\x9b31m\x85"
RLO = "\u202e"


def evil(label: str) -> str:
    """A string for one field: readable, then every kind of attack."""
    return f"{label}{CLIPBOARD}{TITLE}{CLEAR}{OVERWRITE}{C1_CSI}{RLO}00.001$\u2066x\u2069"


ROOM = evil("Room")
HOST = ParticipantInfo("p1", evil("Host"), "host")
GHOST = evil("p9")  # an id nobody has: the client shows it where a name is missing
ASSISTANT = AssistantInfo(evil("Bot"), evil("Provider"), "cloud", evil("model"), "mention")


def hostile_events() -> list[ServerMessage]:
    ts = time.time()
    room = RoomInfo(ROOM, HOST.name, 2, 5, True, False, assistant=ASSISTANT)
    ticket = AnswerTicket("a1", "p2", evil("Asker"))
    return [
        ParticipantJoined(1, ts, HOST),
        MessagePosted(2, ts, "p1", HOST.name, evil("first line") + "\n" + evil("second line")),
        ParticipantStatusChanged(3, ts, GHOST, "reconnecting"),
        ParticipantStatusChanged(4, ts, "p1", "online"),
        AnswerStarted(5, ts, "a1", 2, "p2", ticket.asked_by_name, ASSISTANT.name, "m"),
        AssistantStateChanged(AssistantState(ticket, (ticket,))),
        AnswerDelta("a1", 0, evil("delta")),
        AnswerFinished(6, ts, "a1", evil("answer"), "failed", "m", error=evil("error")),
        AnswerFinished(7, ts, "a2", "", evil("status"), "m"),
        Notice(8, ts, "warning", "x", evil("notice")),
        ErrorMessage("bad_message", evil("error frame")),
        RoomUpdated(9, ts, room),
        ParticipantLeft(10, ts, "p1", evil("Leaver"), evil("reason")),
        RoomClosed(11, ts, "host_shutdown"),
    ]


Handler = Callable[[ServerConnection], Awaitable[None]]


@pytest.fixture
async def hostile_room() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """Serve a handler on loopback (over TLS, as rooms are); returns the address to give
    gptgroup-chat."""
    servers = []

    async def start(handler: Handler) -> str:
        context = RoomCertificate.generate(evil("Room")).server_context()
        server = await serve(handler, "127.0.0.1", 0, compression=None, ssl=context)
        servers.append(server)
        port = next(iter(server.sockets)).getsockname()[1]
        return f"127.0.0.1:{port}"

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def greet(ws: ServerConnection) -> dict[str, object]:
    """Send ``server_hello`` as docs/protocol.md describes it; return the client's ``hello``."""
    preview = RoomPreview(ROOM, password_required=False, assistant=ASSISTANT)
    hello = ServerHello(PROTOCOL_VERSION, ("resume",), preview, AuthOffer(("none",), "n" * 24))
    await ws.send(serialize(hello))
    reply: dict[str, object] = json.loads(await ws.recv())
    return reply


async def hostile_session(ws: ServerConnection) -> None:
    hello = await greet(ws)
    you = ParticipantInfo("p2", str(hello["name"]), "guest")
    room = RoomInfo(ROOM, HOST.name, 2, None, False, False, assistant=ASSISTANT)
    await ws.send(serialize(Welcome(you, "s" * 32, False, room, (HOST, you), 0, None)))
    for event in hostile_events():
        await ws.send(serialize(event))
    await ws.send(json.dumps({"type": evil("unknown")}))
    await ws.close(4001, evil("bye")[:40])


async def hostile_refusal(ws: ServerConnection) -> None:
    await greet(ws)
    await ws.send(serialize(ErrorMessage("banned", evil("refused"))))
    await ws.close(4003, "banned")


def assert_inert(output: bytes) -> str:
    """``output`` decodes as UTF-8 and holds no character that acts on a terminal (other than
    line ends) and no direction control."""
    text = output.decode("utf-8")
    acting = {
        ch
        for ch in text
        if (unicodedata.category(ch) == "Cc" and ch != "\n")
        or ch in BIDI_CONTROLS
        or ch in "\u2028\u2029"
    }
    assert not acting, f"these reached the terminal: {sorted(map(ascii, acting))}\n{text}"
    return text


async def run_chat(*args: str) -> tuple[int, bytes]:
    """Run gptgroup-chat to the end; its exit status and everything it wrote (both streams)."""
    proc = await Process.start("gptgroup-chat", *args)
    assert proc.proc.stdout is not None
    output = await asyncio.wait_for(proc.proc.stdout.read(), 15)
    return await asyncio.wait_for(proc.proc.wait(), 5), output


async def test_a_hostile_room_cannot_drive_the_terminal(
    hostile_room: Callable[[Handler], Awaitable[str]],
) -> None:
    address = await hostile_room(hostile_session)
    status, output = await run_chat(address, "--name", "Sam")
    text = assert_inert(output)
    assert status == 0, text
    # Everything was shown, made visible rather than dropped...
    for label in ("Room", "Host", "first line", "second line", "p9", "Bot", "Asker", "answer",
                  "error", "status", "notice", "error frame", "Leaver", "bye"):  # fmt: skip
        assert re.search(rf"{label}␛\]52;c;cHduZWQ=␇␛\]0;owned␇␛\[2J", text), label
    assert "<U+009B>31m<U+0085><U+202E>00.001$<U+2066>x<U+2069>" in text
    assert "The host shut down" in text
    # ...and a message keeps its own line breaks, lined up under its first line.
    first, second = next(
        (line, after)
        for line, after in zip(text.splitlines(), text.splitlines()[1:], strict=False)
        if "first line" in line
    )
    assert second.lstrip().startswith("second line") and second.startswith(" ")
    assert first.index("first line") == len(second) - len(second.lstrip())


async def test_a_refusal_from_a_hostile_room_is_shown_inert(
    hostile_room: Callable[[Handler], Awaitable[str]],
) -> None:
    address = await hostile_room(hostile_refusal)
    status, output = await run_chat(address, "--name", "Sam")
    text = assert_inert(output)
    assert status == 1
    assert re.search(r"gptgroup-chat: refused␛\]52;c;", text), text


async def test_the_host_key_can_come_from_the_environment() -> None:
    host, address, key = await start_host("--name", "Keys")
    try:
        guest = await Process.start(
            "gptgroup-chat", address, "--name", "Hana", env={"GPTGROUP_HOST_KEY": key}
        )
        await guest.expect("You joined")
        cmdline = await asyncio.to_thread(Path(f"/proc/{guest.proc.pid}/cmdline").read_bytes)
        assert key.encode() not in cmdline  # nobody sees it in the process list
        await guest.type("/who")
        await guest.expect(r"Hana \(host, you\)")
        guest.end_input()
        assert await guest.wait() == 0
    finally:
        await host.kill()


def test_the_help_says_the_variable_keeps_the_key_out_of_the_process_list() -> None:
    help_text = " ".join(build_parser().format_help().split())
    assert "GPTGROUP_HOST_KEY, which keeps it out of the process list" in help_text


def test_a_name_cannot_start_a_line_of_its_own() -> None:
    forged = "Sam\n[12:00] Host: the password is hunter2"
    joined = describe(
        ParticipantJoined(1, time.time(), ParticipantInfo("p3", forged, "guest")), str
    )
    posted = describe(MessagePosted(2, time.time(), "p3", forged, "hi\nthere"), str)
    assert joined is not None and posted is not None
    assert joined == "* Sam␊[12:00] Host: the password is hunter2 joined"
    assert posted.count("\n") == 1  # the message's own line break, and no other
