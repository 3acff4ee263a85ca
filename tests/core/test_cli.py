"""The headless host and the terminal client, end to end as separate processes."""

from __future__ import annotations

import pytest

from core.cli.chat import ASSISTANT, describe
from core.client import Ended, Reconnecting, Resumed
from core.protocol import (
    AnswerFinished,
    AnswerStarted,
    MessagePosted,
    Notice,
    ParticipantInfo,
    ParticipantJoined,
    ParticipantLeft,
)
from tests.cli_processes import Process, start_host
from tests.fake_openai import FakeOpenAI, Reply


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
        await eve.expect("wrong room password")
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


async def test_host_reports_a_port_in_use() -> None:
    host, address, _ = await start_host()
    try:
        port = address.rsplit(":", 1)[1]
        second = await Process.start(
            "gptgroup-host", "--bind", "127.0.0.1", "--port", port, "--no-advertise"
        )
        await second.expect("cannot listen on port")
        assert await second.wait() == 2
    finally:
        host.interrupt()
        await host.wait()


def test_describe_renders_events_for_a_terminal() -> None:
    def names(pid: str) -> str:
        return {"p1": "Sam"}.get(pid, pid)

    line = describe(MessagePosted(1, 0.0, "p1", "Sam", "one\ntwo"), names)
    assert line is not None and line.endswith("Sam: one\n" + " " * 13 + "two")
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


async def test_headless_host_with_an_assistant() -> None:
    async with FakeOpenAI(models=("llama3.2",)) as fake:
        fake.default = Reply(["Hello", " from", " the", " model", "!"], delay=0.01)
        env = {"OPENAI_API_KEY": "sk-cli-test-key"}
        host, address, key = await start_host(
            "--provider", "compatible", "--base-url", fake.base_url, "--answer-mode", "mention",
            env=env,
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

    started = AnswerStarted(5, 0.0, "a1", 4, "p1", "Sam", "Robo", "m")
    assert describe(started, names) == "* Robo is answering Sam..."
    done = AnswerFinished(6, 0.0, "a1", "Partial", "interrupted", "m", error="It broke off.")
    line = describe(done, names)
    assert line is not None and line.endswith("Robo: Partial\n  (cut off: It broke off.)")
    failed = AnswerFinished(6, 0.0, "a1", "", "failed", "m", error="No key.")
    assert describe(failed, names) == "  (no answer: No key.)"
    notice = Notice(7, 0.0, "info", "assistant_retrying", "Trying again in 2 s.")
    assert describe(notice, names) == "* Trying again in 2 s."
