"""The headless host and the terminal client, end to end as separate processes."""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.chat import ASSISTANT, describe
from core.client import Ended, Queued, Reconnecting, Resumed
from core.protocol import (
    AnswerFinished,
    AnswerStarted,
    AnswerTicket,
    AssistantState,
    AssistantStateChanged,
    MessageId,
    MessagePosted,
    Notice,
    ParticipantInfo,
    ParticipantJoined,
    ParticipantLeft,
)
from core.room_tls import fingerprint_text
from tests.cli_processes import Process, start_host
from tests.fake_openai import FakeOpenAI, Reply
from tests.netns import PretendLan, require_netns


async def test_two_terminals_chat_through_a_headless_host() -> None:
    host, address, key = await start_host("--name", "Terminal room")
    procs = [host]
    try:
        assert address.startswith("127.0.0.1:")
        await host.expect("Press Ctrl\\+C")
        sam = await Process.start("gptgroup-chat", address, "--name", "Sam", f"--host-key={key}")
        procs.append(sam)
        await sam.expect("You joined 'Terminal room' as Sam")
        bob = await Process.start("gptgroup-chat", address, "--name", "Bob")
        procs.append(bob)
        await bob.expect("You joined 'Terminal room' as Bob")
        await sam.expect(r"\* Bob joined")

        await sam.type("hello from Sam")
        await bob.expect(r"\] Sam: hello from Sam$")
        await bob.type("hi Sam, Bob here")
        await sam.expect(r"\] Bob: hi Sam, Bob here$")

        await sam.type("/who")
        await sam.expect(r"^  Sam \(host, you\)$")
        await sam.expect(r"^  Bob$")

        host.interrupt()  # Ctrl+C at the host: everyone is told, then all exit cleanly
        await sam.expect("The host shut down")
        await bob.expect("The host shut down")
        assert await host.wait() == 0
        assert await sam.wait() == 0
        assert await bob.wait() == 0
        assert "Room closed." in host.lines
    finally:
        for proc in procs:
            await proc.kill()


async def test_host_controls_from_the_terminal() -> None:
    host, address, key = await start_host()
    sam = bob = None
    try:
        sam = await Process.start("gptgroup-chat", address, "--name", "Sam", f"--host-key={key}")
        await sam.expect("You joined")
        bob = await Process.start("gptgroup-chat", address, "--name", "Bob")
        await bob.expect("You joined")
        await sam.expect(r"\* Bob joined")
        await bob.type("/kick Sam")
        await bob.expect("only the host can do that")
        await sam.type("/kick Bob")
        await bob.expect("the host removed you")
        assert await bob.wait() == 1  # a kick is not a normal exit
        await sam.expect(r"\* Bob was removed by the host")
        await sam.type("/close")
        await sam.expect("The host closed the room")
        assert await sam.wait() == 0
        assert await host.wait() == 0  # the headless host exits once its room is closed
    finally:
        for p in (host, sam, bob):
            if p is not None:
                await p.kill()


async def test_chat_client_reports_a_wrong_password() -> None:
    host, address, _ = await start_host(env={"GPTGROUP_ROOM_PASSWORD": "letmein"})
    try:
        eve = await Process.start("gptgroup-chat", address, "--name", "Eve", "--password", "no")
        await eve.expect("wrong room code")
        assert await eve.wait() == 1
        sam = await Process.start(
            "gptgroup-chat", address, "--name", "Sam", env={"GPTGROUP_ROOM_PASSWORD": "letmein"}
        )
        await sam.expect("You joined")
        sam.end_input()  # end of input leaves the room
        await sam.expect("you left the room")
        assert await sam.wait() == 0
    finally:
        host.interrupt()
        await host.wait()


async def test_a_new_room_code_is_printed_and_typed_any_way_it_reads() -> None:
    """``--room-code new`` makes a code people can read aloud; typed with a dash instead of
    the space, it still lets a guest in, and a wrong one is said in one line."""
    host, address, _ = await start_host("--room-code", "new")
    try:
        printed = next(line for line in host.lines if line.startswith("Room code: "))
        code = printed.removeprefix("Room code: ")
        assert re.fullmatch(r"\d{4} \d{4}", code), printed
        wrong = "1111 1111" if code != "1111 1111" else "2222 2222"
        eve = await Process.start("gptgroup-chat", address, "--name", "Eve", "--room-code", wrong)
        await eve.expect("wrong room code")
        assert await eve.wait() == 1
        typed = code.replace(" ", "-")
        sam = await Process.start(
            "gptgroup-chat", address, "--name", "Sam", env={"GPTGROUP_ROOM_CODE": typed}
        )
        await sam.expect("You joined")
        sam.end_input()
        assert await sam.wait() == 0
    finally:
        host.interrupt()
        await host.wait()


async def test_an_unusable_room_code_is_refused_in_one_line() -> None:
    host = await Process.start(
        "gptgroup-host", "--bind", "127.0.0.1", "--port", "0", "--no-advertise",
        "--room-code", "\u200b\u200b",
    )  # fmt: skip
    assert await host.wait() == 2
    assert len(host.lines) == 1 and "room code" in host.lines[0]


async def test_the_room_is_the_one_the_host_printed_or_it_is_refused_in_one_line() -> None:
    host, address, _ = await start_host("--name", "Pinned")
    try:
        [code] = [line.split(": ")[1] for line in host.lines if line.startswith("Verification")]
        [link] = [line.strip() for line in host.lines if line.strip().startswith("gptgroup://")]
        # A link that names another certificate (as an impostor's would, or a doctored one):
        # nothing is sent to the room, and the one line says why.
        doctored = link.rsplit("fp=", 1)[0] + "fp=" + fingerprint_text(bytes(32))
        eve = await Process.start("gptgroup-chat", doctored, "--name", "Sam", stderr_apart=True)
        assert await eve.wait() == 1
        said = (await eve.stderr_text()).splitlines()
        assert len(said) == 1 and said[0].startswith("gptgroup-chat: This is not the room")
        assert "impersonating" in said[0] and eve.lines == []
        # The link as printed joins, with nothing to compare; a typed address shows the code.
        for target, shows_code in ((link, False), (address, True)):
            sam = await Process.start("gptgroup-chat", target, "--name", "Sam")
            await sam.expect("You joined 'Pinned'")
            sam.end_input()
            assert await sam.wait() == 0
            shown = [line for line in sam.lines if "Verification code" in line]
            assert shown == ([f"* Verification code: {code}. Compare it with the host's: if it "
                              "differs, this is not the room you think; say nothing and /quit."]
                             if shows_code else [])  # fmt: skip
    finally:
        host.interrupt()
        await host.wait()


async def test_end_of_input_sends_everything_typed_before_leaving() -> None:
    host, address, _ = await start_host()
    try:
        watcher = await Process.start("gptgroup-chat", address, "--name", "Watcher")
        await watcher.expect("You joined")
        script = await Process.start("gptgroup-chat", address, "--name", "Script")
        for i in range(10):  # more than the room's burst: the client paces them
            await script.type(f"line {i}")
        script.end_input()
        assert await script.wait() == 0
        for i in range(10):
            await watcher.expect(rf"Script: line {i}$")
        await watcher.expect(r"\* Script left")
        watcher.end_input()
        await watcher.wait()
    finally:
        host.interrupt()
        await host.wait()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["not a host:99999", "--name", "Sam"], "not a valid address"),
        (["127.0.0.1:1", "--name", "Sam"], "cannot reach a room"),
    ],
)
async def test_chat_client_explains_bad_addresses(args: list[str], message: str) -> None:
    proc = await Process.start("gptgroup-chat", *args)
    await proc.expect(message)
    assert await proc.wait() in (1, 2)


async def refused_host(*args: str) -> str:
    """Run ``gptgroup-host`` with options it must refuse; its one line of output."""
    proc = await Process.start("gptgroup-host", "--no-advertise", *args)
    try:
        assert await proc.wait(timeout=5) == 2, proc.lines
    finally:
        await proc.kill()
    assert len(proc.lines) == 1, proc.lines  # one line, never a traceback
    assert proc.lines[0].startswith("gptgroup-host: ")
    return proc.lines[0]


async def test_host_reports_a_port_in_use() -> None:
    host, address, _ = await start_host()
    try:
        port = address.rsplit(":", 1)[1]
        line = await refused_host("--bind", "127.0.0.1", "--port", port)
        assert line == (
            f"gptgroup-host: cannot listen on port {port}: it is already in use "
            "(by another room or program)"
        )
    finally:
        host.interrupt()
        await host.wait()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--bind", "192.0.2.1"], "cannot listen on 192.0.2.1: it is not an address of this"),
        (["--bind", "fe80::1"], "a link-local address needs its interface, as in fe80::1%eth0"),
        (["--interface", "nosuch0"], "--interface: "),
        (["--interface", "192.0.2.1"], "--interface: "),
        (["--port", "70000"], "--port must be between 0 and 65535"),
        (["--max-participants", "0"], "--max-participants must be at least 1"),
    ],
)
async def test_host_says_what_is_wrong_with_its_address_in_one_line(
    args: list[str], words: str
) -> None:
    """Binding sends nothing, and each of these fails before anything is announced."""
    line = await refused_host("--port", "0", *args)
    assert words in line
    if "--port" not in words:
        assert "port" not in line.replace("--port", "")  # the port is not to blame


@pytest.mark.parametrize("name", ["x" * 41, "   "])
async def test_host_refuses_a_room_name_it_could_not_announce(name: str) -> None:
    line = await refused_host("--port", "0", "--name", name)
    assert line.startswith("gptgroup-host: --name: ")


async def test_host_key_travels_in_the_environment_not_the_process_list() -> None:
    host, address, _ = await start_host("--name", "Quiet key")
    try:
        [printed] = [line for line in host.lines if "GPTGROUP_HOST_KEY=" in line]
        setting, command, *args = printed.split()
        assert args == [address, "--name", "YOUR_NAME"]
        name, key = setting.split("=", 1)
        assert not any("--host-key" in line for line in host.lines)
        sam = await Process.start(command, address, "--name", "Sam", env={name: key})
        try:
            await sam.expect("You joined 'Quiet key' as Sam")
            cmdline = Path(f"/proc/{sam.proc.pid}/cmdline")
            command_line = await asyncio.to_thread(cmdline.read_bytes)
            assert key.encode() not in command_line  # what `ps` shows every local user
            await sam.type("/who")
            await sam.expect(r"^  Sam \(host, you\)$")
        finally:
            await sam.kill()
    finally:
        host.interrupt()
        await host.wait()


@pytest.fixture
def link_local_lan() -> Iterator[PretendLan]:
    """Two machines whose eth0 also has a link-local address usable at once (no DAD wait)."""
    require_netns()
    with PretendLan(2) as lan:
        for i in (1, 2):
            subprocess.run(
                ["ip", "-n", lan.ns(i), "addr", "add", f"fe80::77:{i}/64", "dev", "eth0", "nodad"],
                check=True,
            )  # fmt: skip
        yield lan


async def test_link_local_addresses_are_printed_with_their_scope_and_join(
    link_local_lan: PretendLan,
) -> None:
    """The host uses only its link-local address; what it prints carries the interface (a
    bare fe80:: address cannot be joined), and both the address and the room link join from
    the other machine."""
    lan = link_local_lan
    host = await Process.start(
        "gptgroup-host", "--port", "0", "--no-advertise", "--interface", "fe80::77:1",
        "--name", "Scoped", netns=lan.ns(1),
    )  # fmt: skip
    procs = [host]
    try:
        address = (await host.expect(r"gptgroup-chat (\S+) --name")).group(1)
        link = (await host.expect(r"^  (gptgroup://\S+)$")).group(1)
        await host.expect("Press Ctrl")
        assert address.startswith("[fe80::77:1%eth0]:")
        assert link.startswith("gptgroup://[fe80::77:1%25eth0]:")
        assert not any("fe80::77:1]" in line for line in host.lines)  # never unscoped
        for i, where in enumerate((address, link)):
            guest = await Process.start(
                "gptgroup-chat", where, "--name", f"Guest{i}", netns=lan.ns(2)
            )
            procs.append(guest)
            await guest.expect(f"You joined 'Scoped' as Guest{i}")
        host.interrupt()
        assert await host.wait() == 0
    finally:
        for proc in procs:
            await proc.kill()


def test_describe_renders_events_for_a_terminal() -> None:
    def names(pid: str) -> str:
        return {"p1": "Sam"}.get(pid, pid)

    line = describe(MessagePosted(1, 0.0, "p1", "Sam", "one\ntwo"), names)
    assert line is not None and line.startswith("[1] [")  # the room's number of the message
    assert line.endswith("Sam: one\n" + " " * 17 + "two")  # lined up under its first line
    joined = ParticipantJoined(2, 0.0, ParticipantInfo("p2", "Hana", "host"))
    assert describe(joined, names) == "* Hana joined (host)"
    assert describe(ParticipantLeft(3, 0.0, "p2", "Hana", "timed_out"), names) == (
        "* Hana lost connection"
    )
    assert "reconnecting" in (describe(Reconnecting(1, 0.5, "x"), names) or "")
    you = ParticipantInfo("p9", "Sam (2)", "guest")
    assert describe(Resumed(False, True, you), names) == (
        "* reconnected as a new participant, Sam (2)"
    )
    assert describe(Ended("kicked", "the host removed you"), names) == "* the host removed you"
    ended = Ended(
        "unreachable", "the room cannot be reached",
        unsent=(Queued(MessageId("c1"), "typed\x1b[31m late", 0.0),),
        unconfirmed=(Queued(MessageId("c2"), "in flight", 0.0),),
    )  # fmt: skip
    assert describe(ended, names).splitlines() == [
        "* the room cannot be reached",
        "! not sent: typed␛[31m late",
        "! may not have been sent: in flight",
    ]


async def test_headless_host_with_an_assistant() -> None:
    async with FakeOpenAI(models=("llama3.2",)) as fake:
        fake.default = Reply(["Hello", " from", " the", " model", "!"], delay=0.01)
        # The key goes to the compatible server set beside it, as OpenAI's tools do.
        env = {"OPENAI_API_KEY": "sk-cli-test-key", "OPENAI_BASE_URL": fake.base_url}
        host, address, key = await start_host(
            "--provider", "compatible", "--answer-mode", "mention", env=env
        )  # fmt: skip
        procs = [host]
        try:
            await host.expect(r"Assistant: @assistant, llama3\.2 via OpenAI-compatible server")
            await host.expect(r"Connected to .*1 models available")
            sam = await Process.start(
                "gptgroup-chat", address, "--name", "Sam", f"--host-key={key}"
            )
            procs.append(sam)
            await sam.expect("You joined")
            await sam.type("@assistant say hello")
            await sam.expect(r"\* assistant is answering Sam")
            await sam.expect(r"\] assistant: Hello from the model!$")
            await sam.type("/usage")
            await sam.expect(r"\* assistant: 1 answers, [\d,]+ tokens")
            await sam.type("/mode always")
            await sam.type("no mention this time")
            await sam.expect(r"assistant: Hello from the model!$")
            assert len(fake.chat_requests) == 2
            assert all(a == "Bearer sk-cli-test-key" for a in fake.authorizations)
            assert not any("sk-cli-test-key" in line for p in procs for line in p.lines)
            host.interrupt()
            assert await host.wait() == 0
        finally:
            for proc in procs:
                await proc.kill()


async def test_stop_in_the_terminal_follows_the_rooms_rule() -> None:
    """/stop offers what the room allows: a guest cannot stop someone else's answer (and is
    told so without a round trip), the asker can."""
    async with FakeOpenAI(models=("llama3.2",)) as fake:
        fake.default = Reply(["slow"] * 200, delay=0.05)
        env = {"OPENAI_API_KEY": "sk-cli-test-key", "OPENAI_BASE_URL": fake.base_url}
        host, address, _key = await start_host("--provider", "compatible", env=env)
        procs = [host]
        try:
            sam = await Process.start("gptgroup-chat", address, "--name", "Sam")
            procs.append(sam)
            await sam.expect("You joined")
            bob = await Process.start("gptgroup-chat", address, "--name", "Bob")
            procs.append(bob)
            await bob.expect("You joined")
            await sam.type("@assistant take your time")
            await bob.expect(r"\* assistant is answering Sam")
            await bob.type("/stop")
            await bob.expect("! there is no answer of yours to stop")
            await sam.type("/stop")
            await sam.expect(r"\(stopped\)")
        finally:
            for proc in procs:
                await proc.kill()


async def test_an_answer_cut_at_the_length_limit_goes_on_with_continue() -> None:
    async with FakeOpenAI(models=("llama3.2",)) as fake:
        fake.script(Reply(["First half,"], finish_reason="length"), Reply([" second half."]))
        env = {"OPENAI_API_KEY": "sk-cli-test-key", "OPENAI_BASE_URL": fake.base_url}
        host, address, _key = await start_host("--provider", "compatible", env=env)
        procs = [host]
        try:
            sam = await Process.start("gptgroup-chat", address, "--name", "Sam")
            procs.append(sam)
            await sam.expect("You joined")
            await sam.type("/continue")
            await sam.expect("! the last answer was not cut off: there is nothing to continue")
            await sam.type("@assistant tell me")
            await sam.expect(r"\] assistant: First half,$")
            await sam.expect(r"\(cut off at the length limit: /continue asks for the rest\)")
            await sam.type("/continue")
            await sam.expect(r"\] assistant:  second half\.$")
            assert fake.chat_requests[-1].json["messages"][-2]["content"] == "First half,"
        finally:
            for proc in procs:
                await proc.kill()


async def test_host_lists_models_and_refuses_bad_assistant_options() -> None:
    async with FakeOpenAI(models=("llama3.2", "qwen2.5")) as fake:
        lister = await Process.start(
            "gptgroup-host", "--no-advertise", "--provider", "compatible",
            "--base-url", fake.base_url, "--model", "x", "--list-models",
        )  # fmt: skip
        assert await lister.wait() == 0
        assert lister.lines == ["llama3.2", "qwen2.5"]
    bad = await Process.start(
        "gptgroup-host", "--no-advertise", "--provider", "compatible", "--model", "m"
    )
    await bad.expect("needs a base URL")
    assert await bad.wait() == 2


def test_describe_renders_the_assistant() -> None:
    def names(pid: str) -> str:
        return "Robo" if pid == ASSISTANT else pid

    # One "is answering" line per answer: the assistant_state's (issue: it used to be two).
    started = AnswerStarted(5, 0.0, "a1", 4, "p1", "Sam", "Robo", "m")
    assert describe(started, names) is None
    state = AssistantStateChanged(AssistantState(AnswerTicket("a1", "p1", "Sam")))
    assert describe(state, names) == "* Robo is answering Sam"
    empty = AnswerFinished(6, 0.0, "a1", "", "complete", "m")
    line = describe(empty, names)
    assert line is not None and line.endswith("Robo: (no answer)")
    done = AnswerFinished(6, 0.0, "a1", "Partial", "interrupted", "m", error="It broke off.")
    line = describe(done, names)
    assert line is not None and line.endswith("Robo: Partial\n  (cut off: It broke off.)")
    failed = AnswerFinished(6, 0.0, "a1", "", "failed", "m", error="No key.")
    assert describe(failed, names) == "  (no answer: No key.)"
    notice = Notice(7, 0.0, "info", "assistant_retrying", "Trying again in 2 s.")
    assert describe(notice, names) == "* Trying again in 2 s."
