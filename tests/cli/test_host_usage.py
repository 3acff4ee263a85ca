"""``gptgroup-host``'s commands at its terminal: ``/usage`` (what the assistant cost) and
``/help``; a host without a terminal reads nothing, and the end of input closes nothing."""

from __future__ import annotations

import asyncio
import os
import re

from cli.host import HELP, usage_report
from core.ai.desk import AnswerOutcome, AnswerTiming
from core.ai.usage_ledger import ModelPrice, PriceTable, UsageLedger
from core.protocol import Usage
from tests.cli_processes import BIN, Process
from tests.fake_openai import FakeOpenAI, Reply

PRICES = PriceTable("2025-08-07", "test", {"gpt-4o-mini": ModelPrice(0.15, 0.60)})
HOSTILE = "\x1b]52;c;cHduZWQ=\x07Eve\u202egnp.exe\nline two\x9b2J"


def test_usage_report_shows_totals_and_a_table_with_names_made_safe() -> None:
    ledger = UsageLedger("gpt-4o-mini", "cloud", prices=PRICES, clock=lambda: 0.0)
    timing = AnswerTiming(0.5, 4.5)
    ledger.record_answer(
        AnswerOutcome("complete", "text", Usage(1000, 200, 1200), None, timing),
        asked_by=HOSTILE,
    )
    ledger.record_answer(
        AnswerOutcome("complete", "t", Usage(50, 400, 450, estimated=True), None, timing, True),
        asked_by="Sam",
    )
    ledger.record_answer(AnswerOutcome("failed", "", None, "No key."), asked_by="Ana")
    ledger.record_decision(Usage(300, 2, 302))
    report = usage_report(ledger)
    lines = report.splitlines()
    assert "3 answers (2 with text), 1 auto mode decisions" in report
    assert "tokens: ~1,350 in, ~602 out (1 not reported by the provider)" in report
    assert "time to first token: 0.50 s on average; speed: ~75.0 tokens/s" in report
    assert "cost: ~$0.0006, estimated at OpenAI's prices of 2025-08-07 for gpt-4o-mini" in report
    # Nothing in the report can drive the terminal or reorder the line.
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", report)
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["ended", "asked"])
    rows = lines[header + 1 :]
    assert len(rows) == 3  # one line per answer: the name's newline did not break its row
    assert rows[0].split()[1:] == [
        "␛]52;c;cHduZWQ=…", "complete", "1,000", "200", "0.50", "s", "50.0", "$0.0003"
    ]  # the name cut to its column, the escape made visible  # fmt: skip
    assert rows[1].split()[1:] == [
        "Sam", "length", "limit", "~50", "~400", "0.50", "s", "~100.0", "~$0.0002"
    ]  # fmt: skip
    assert rows[2].split()[1:] == ["Ana", "no", "answer", "—", "—", "—", "—", "—"]


def test_usage_report_without_answers_and_for_a_local_model() -> None:
    ledger = UsageLedger("llama3.2", "local", prices=PRICES)
    report = usage_report(ledger)
    assert "0 answers" in report
    assert "cost: local, no charge" in report
    assert report.splitlines()[-1] == "No answers yet."
    ledger.record_answer(AnswerOutcome("complete", "", Usage(1, 1, 2)), asked_by="Sam")
    assert usage_report(ledger).splitlines()[-2].split()[-1] == "tokens/s"  # no cost column
    unknown = UsageLedger("llama3.2", "cloud", prices=PRICES)
    assert "cost: cost unknown: llama3.2 is not in the price table" in usage_report(unknown)


def test_usage_report_lists_only_the_latest_answers() -> None:
    ledger = UsageLedger("gpt-4o-mini", "cloud", prices=PRICES)
    for n in range(30):
        ledger.record_answer(AnswerOutcome("complete", "", Usage(1, 1, 2)), asked_by=f"p{n}")
    lines = usage_report(ledger, rows=5).splitlines()
    assert "30 answers" in lines[1]
    assert [line.split()[1] for line in lines[-5:]] == ["p25", "p26", "p27", "p28", "p29"]


async def start_host_on_a_terminal(*args: str, env: dict[str, str]) -> tuple[Process, int, str]:
    """A headless host on loopback whose standard input is a pseudo-terminal; returns it,
    the terminal's controlling side (write to it as if typing) and the room's address."""
    controller, terminal = os.openpty()
    try:
        proc = await asyncio.create_subprocess_exec(
            str(BIN / "gptgroup-host"), "--bind", "127.0.0.1", "--port", "0", "--no-advertise",
            *args,
            stdin=terminal, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        )  # fmt: skip
    finally:
        os.close(terminal)
    host = Process(proc, "gptgroup-host")
    address = (await host.expect(r"gptgroup-chat (\S+) --name")).group(1)
    return host, controller, address


async def test_the_host_answers_usage_and_help_typed_at_its_terminal() -> None:
    async with FakeOpenAI(models=("gpt-4o-mini",)) as fake:
        fake.default = Reply(["Hello", " from", " the", " model", "!"], usage=(120, 5))
        env = {"OPENAI_API_KEY": "sk-cli-test-key", "OPENAI_BASE_URL": fake.base_url}
        host, terminal, address = await start_host_on_a_terminal(
            "--provider", "compatible", "--model", "gpt-4o-mini", env=env
        )
        procs = [host]
        try:
            await host.expect(r"Type /help for the host's commands")
            os.write(terminal, b"/usage\n")
            await host.expect(r"0 answers \(0 with text\)")
            await host.expect("No answers yet.")
            sam = await Process.start("gptgroup-chat", address, "--name", "Sam")
            procs.append(sam)
            await sam.expect("You joined")
            await sam.type("@assistant say hello")
            await sam.expect(r"assistant: Hello from the model!$")
            os.write(terminal, b"/usage\n")
            await host.expect(r"1 answers \(1 with text\), 0 auto mode decisions")
            await host.expect(r"tokens: 120 in, 5 out$")
            await host.expect(r"cost: local, no charge$")  # the fake server is on loopback
            await host.expect(r"^  ended +asked by +status +in +out +first +tokens/s$")
            await host.expect(r"^  \d\d:\d\d:\d\d  .+ complete +120 +5 +\d+\.\d+ s +\S+$")
            os.write(terminal, b"/help\n")
            await host.expect(r"/usage +what the assistant has cost")
            os.write(terminal, b"/nonsense\x1b[2J\n")
            await host.expect(r"Unknown command '/nonsense␛\[2J'")
            host.interrupt()
            assert await host.wait() == 0
            assert not any("sk-cli-test-key" in line for p in procs for line in p.lines)
            assert HELP.splitlines()[0] in host.lines
        finally:
            os.close(terminal)
            for proc in procs:
                await proc.kill()


async def test_the_end_of_the_terminals_input_leaves_the_room_open() -> None:
    host, terminal, address = await start_host_on_a_terminal(env={})
    procs = [host]
    try:
        await host.expect(r"Type /help")
        os.write(terminal, b"\x04")  # Ctrl+D at the start of a line: the end of input
        os.write(terminal, b"/help\n")  # no longer read
        sam = await Process.start("gptgroup-chat", address, "--name", "Sam")
        procs.append(sam)
        await sam.expect("You joined")  # the room still serves
        os.write(terminal, b"/usage\n")
        host.interrupt()
        assert await host.wait() == 0
        assert "Commands:" not in host.lines
        assert not any("nothing to count" in line for line in host.lines)
    finally:
        os.close(terminal)
        for proc in procs:
            await proc.kill()


async def test_without_an_assistant_usage_says_there_is_nothing_to_count() -> None:
    host, terminal, _address = await start_host_on_a_terminal(env={})
    try:
        await host.expect(r"Type /help")
        os.write(terminal, b"/usage\n")
        await host.expect("No assistant in this room: nothing to count.")
        host.interrupt()
        assert await host.wait() == 0
    finally:
        os.close(terminal)
        await host.kill()
