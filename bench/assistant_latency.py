"""How much later the assistant's tokens reach people in a room than a program reading the
provider's stream itself.

Run on demand, on loopback only (``make bench`` runs it with the other benchmarks):

    .venv/bin/python -m bench.assistant_latency            # 50 clients, 100 tokens/s
    .venv/bin/python -m bench.assistant_latency --smoke    # a few seconds, to see it works
    .venv/bin/python -m bench.assistant_latency --clients 200 --rate 50 --json out.json

Every part runs in a process of its own, so that no two share an event loop or a CPU-time
count:

* a provider (:mod:`bench.paced_openai`): an OpenAI-compatible server that streams ``--rate``
  tokens a second, each token carrying the time it was written (every process reads the
  same monotonic clock);
* the room: ``gptgroup-host`` itself (``python -m cli.host``, loopback only, not announced),
  its assistant pointed at that provider;
* the clients: ``--clients`` participants (the app's own ``RoomClient``, each from its own
  loopback address 127.0.0.N as the room's per-address limits require), spread over
  ``--client-processes`` processes; one of them asks the assistant, and all of them read
  the answer as it grows;
* the direct reader, the baseline measured in the same run: the openai SDK streaming the same
  kind of answer from the same provider at the same time, on the same pace.

Per token, the delay is from the provider's stamp to its arrival at the direct reader, and to
each room client (when its ``answer_delta`` has been parsed by the client). The added delay
is what the room adds: its percentile less the direct reader's (p50 and p99); the target of
issue 14 is an added p99 of at most 5 ms at 100 tokens a second with 50 clients. "First to
have it" is, per token, the earliest of the clients: the host and the network without the
fan-out (the host writes to one connection after another, and a client process reads its
clients' frames one after another, which people on their own machines do not wait for).
Also reported: the ratios room / direct (the figures that compare across machines), the frames
each client got per answer (every token its own frame when nobody is behind; fewer when a
reader's connection is backed up and its deltas merge), and the host's CPU time per token
delivered. The first answer warms up (connections, imports) and is not counted.

``--host-source DIR`` runs the host from another source tree (an older version unpacked with
``git archive``), so that a change can be compared with what came before it.

Linux only: every 127.0.0.N is loopback there, and the host's CPU time is read from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import signal
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openai import AsyncOpenAI

from bench.children import LINE_LIMIT, STOP_WAIT, BenchError, Child
from bench.fanout import loopback_address
from bench.paced_openai import PacedOpenAI, tokens_in
from bench.report import Row, write_json
from core.accept_gate import raise_open_files_limit
from core.client import Ended, Reconnecting, RoomClient
from core.protocol import AnswerDelta, AnswerFinished

MODEL = "bench-model"
API_KEY = "sk-bench-not-a-real-key"
ROOM_NAME = "Bench latency"
QUESTION = "@assistant count for us, please"
ROOT = Path(__file__).resolve().parents[1]
START_WAIT = 30.0  # seconds a process may take to start and say it is ready
JOIN_WAIT_PER_CLIENT = 0.25  # plus START_WAIT, for a client process to join all its clients
JOIN_CONCURRENCY = 16  # joins under way at once in one client process
ANSWER_SLACK = 30.0  # seconds past an answer's own length that it may take to arrive
PORT_LINE = re.compile(r"is open on port (\d+)\.")
SATURATED = 0.8  # a share of a core above which the client processes are falling behind
TARGET_ADDED_P99 = 0.005  # seconds: issue 14's target at 100 tokens/s with 50 clients


def report(reply: dict[str, Any]) -> None:
    """Answer the orchestrating process: one line of JSON on stdout."""
    print(json.dumps(reply), flush=True)


async def command_lines() -> asyncio.StreamReader:
    """This process's stdin, where the orchestrating process writes its commands; it ends
    (EOF) when that process is done with us or has died."""
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


@dataclass
class Reading:
    """One reader's view of one answer: its text so far, and the tokens found in it."""

    text: str = ""
    parsed: int = 0  # where the next token starts in ``text``
    last: int = -1  # the highest token number seen
    frames: int = 0
    tokens: int = 0

    def grow(self, offset: int, added: str, now_ns: int) -> list[tuple[int, int]]:
        """Apply one delta (as every client does); the tokens it completed, each as its
        number and its delay in µs."""
        self.frames += 1
        self.text = self.text[:offset] + added
        self.parsed = min(self.parsed, offset)
        found, self.parsed = tokens_in(self.text, self.parsed)
        timed: list[tuple[int, int]] = []
        for number, stamp in found:
            if number > self.last:  # a token seen before (a repeated delta) is not timed again
                self.last = number
                self.tokens += 1
                timed.append((number, (now_ns - stamp) // 1000))
        return timed


# --------------------------------------------------------------------------- provider process


async def run_provider(args: argparse.Namespace) -> int:
    """Serve the paced stream on 127.0.0.1 until stdin ends."""
    server = PacedOpenAI(model=MODEL, rate=args.rate, tokens=args.tokens)
    try:
        await server.start()
    except OSError as exc:
        report({"error": f"cannot listen on 127.0.0.1: {exc}"})
        return 2
    try:
        report({"port": server.port})
        commands = await command_lines()
        await commands.read()
    finally:
        await server.close()
    return 0


# --------------------------------------------------------------------------- direct reader


async def run_direct(args: argparse.Namespace) -> int:
    """For every round the orchestrating process starts, stream one answer with the openai
    SDK and report each token's delay."""
    client = AsyncOpenAI(
        api_key=API_KEY, base_url=f"http://127.0.0.1:{args.provider_port}/v1", max_retries=0
    )
    try:
        report({"ready": 1})
        commands = await command_lines()
        while line := await commands.readline():
            plan = json.loads(line)
            reading, delays_us = Reading(), []
            stream = await client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": QUESTION}], stream=True
            )
            async for chunk in stream:
                now = time.monotonic_ns()
                if chunk.choices and (text := chunk.choices[0].delta.content):
                    delays_us += [d for _, d in reading.grow(len(reading.text), text, now)]
            report({"round": plan["round"], "delays_us": delays_us,
                    "frames": [reading.frames], "tokens": [reading.tokens]})  # fmt: skip
    finally:
        await client.close()
    return 0


# --------------------------------------------------------------------------- client process


@dataclass
class Tally:
    """What the clients of one process read of the answers, round by round."""

    delays_us: list[int] = field(default_factory=list)  # this round's, every client's
    firsts: dict[int, int] = field(default_factory=dict)  # token: its least delay here
    readings: dict[int, Reading] = field(default_factory=dict)  # this round's, per client
    finished: dict[int, int] = field(default_factory=dict)  # answers finished, per client
    dropped: int = 0  # connections lost this round
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def new_round(self) -> None:
        self.delays_us, self.firsts, self.readings, self.dropped = [], {}, {}, 0

    def delta(self, index: int, event: AnswerDelta, now_ns: int) -> None:
        reading = self.readings.setdefault(index, Reading())
        for number, delay in reading.grow(event.offset, event.text, now_ns):
            self.delays_us.append(delay)
            self.firsts[number] = min(delay, self.firsts.get(number, delay))

    def answer_finished(self, index: int) -> None:
        self.finished[index] = self.finished.get(index, 0) + 1
        self.changed.set()

    async def until_finished(self, indices: range, answers: int) -> None:
        while any(self.finished.get(i, 0) < answers for i in indices):
            self.changed.clear()
            await self.changed.wait()


class Listener:
    """One participant, reading every event of the room and timing the answer's tokens."""

    def __init__(self, index: int, client: RoomClient, tally: Tally) -> None:
        self.index = index
        self.client = client
        self._tally = tally
        self._leaving = False
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def join(cls, port: int, index: int, tally: Tally) -> Listener:
        client = RoomClient(
            f"wss://127.0.0.1:{port}/",
            f"Guest {index}",
            local_address=loopback_address(index),
            client_name="gptgroup-bench",
        )
        await client.connect()  # on loopback the certificate is the room's: learned, not pinned
        return cls(index, client, tally)

    async def close(self) -> None:
        self._leaving = True
        try:
            await self.client.leave()
        finally:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def _read(self) -> None:
        async for event in self.client.events():
            now = time.monotonic_ns()
            if isinstance(event, AnswerDelta):
                self._tally.delta(self.index, event, now)
            elif isinstance(event, AnswerFinished):
                self._tally.answer_finished(self.index)
            elif isinstance(event, Reconnecting | Ended) and not self._leaving:
                self._tally.dropped += 1
                self._tally.changed.set()


async def join_all(port: int, indices: range, tally: Tally) -> tuple[list[Listener], str | None]:
    """Join a client for each index, a few at a time; the clients that joined, and why the
    first that could not did not (None when all did)."""
    gate = asyncio.Semaphore(JOIN_CONCURRENCY)
    joined: list[Listener] = []
    failures: list[str] = []

    async def join(index: int) -> None:
        async with gate:
            if failures:
                return
            try:
                joined.append(await Listener.join(port, index, tally))
            except Exception as exc:  # reported as it is: this is what the user must fix
                failures.append(f"client {index} could not join from {loopback_address(index)}:"
                                f" {type(exc).__name__}: {exc}")  # fmt: skip

    await asyncio.gather(*(join(index) for index in indices))
    return joined, failures[0] if failures else None


async def run_clients(args: argparse.Namespace) -> int:
    """Join clients ``first``..``first + count``, say ``ready``; for each round, ask (client
    0 only) and report, once every client here has the whole answer, what each one read."""
    raise_open_files_limit()
    tally = Tally()
    commands = await command_lines()
    listeners: list[Listener] = []
    try:
        indices = range(args.first, args.first + args.count)
        listeners, failure = await join_all(args.port, indices, tally)
        if failure is not None:
            report({"error": failure})
            return 2
        report({"ready": len(listeners)})
        asker = next((x for x in listeners if x.index == 0), None)
        while line := await commands.readline():
            plan = json.loads(line)
            tally.new_round()
            if asker is not None:
                asker.client.post(f"{QUESTION} (round {plan['round']})")
            await tally.until_finished(indices, plan["round"] + 1)
            readings = [tally.readings.get(i, Reading()) for i in indices]
            report({
                "round": plan["round"], "delays_us": tally.delays_us,
                "frames": [r.frames for r in readings], "tokens": [r.tokens for r in readings],
                "dropped": tally.dropped, "firsts": tally.firsts,
            })  # fmt: skip
        return 0
    finally:
        with contextlib.suppress(TimeoutError):  # what is left is closed as the process ends
            async with asyncio.timeout(STOP_WAIT):
                await asyncio.gather(*(x.close() for x in listeners), return_exceptions=True)


# --------------------------------------------------------------------------- orchestration


async def role(name: str, *args: str) -> Child:
    """A process of this module in one of its roles."""
    return await Child.start(name, [sys.executable, "-m", "bench.assistant_latency", *args])


async def start_host(provider_port: int, source: Path) -> tuple[Child, int]:
    """``gptgroup-host`` on 127.0.0.1 (unannounced), its assistant at the paced provider; the
    process and the port its room listens on."""
    env = dict(os.environ, GPTGROUP_PROVIDER_KEY=API_KEY, PYTHONPATH=str(source))
    env.pop("OPENAI_API_KEY", None)
    env.pop("OPENAI_BASE_URL", None)
    argv = [sys.executable, "-m", "cli.host", "--name", ROOM_NAME, "--bind", "127.0.0.1",
            "--port", "0", "--no-advertise", "--provider", "compatible",
            "--base-url", f"http://127.0.0.1:{provider_port}/v1", "--model", MODEL]  # fmt: skip
    host = await Child.start("the room host (gptgroup-host)", argv, cwd=source, env=env)
    while True:
        if match := PORT_LINE.search(await host.line(START_WAIT)):
            return host, int(match.group(1))


@dataclass
class Side:
    """What the readers of one side (the room's clients, or the direct reader) got."""

    delays: list[float] = field(default_factory=list)  # seconds, every token of every reader
    frames: list[int] = field(default_factory=list)  # per reader per answer
    missing: int = 0  # tokens that never reached a reader
    dropped: int = 0
    # (answer, token): its delay to the first reader that had it, in seconds
    firsts: dict[tuple[int, int], float] = field(default_factory=dict)

    def add(self, answer: int, reply: dict[str, Any], tokens: int) -> None:
        self.delays += [d / 1e6 for d in reply["delays_us"]]
        self.frames += reply["frames"]
        self.missing += sum(tokens - seen for seen in reply["tokens"])
        self.dropped += reply.get("dropped", 0)
        for token, delay in reply.get("firsts", {}).items():
            key = (answer, int(token))
            self.firsts[key] = min(delay / 1e6, self.firsts.get(key, math.inf))

    def percentile(self, p: int) -> float:
        return _percentile(self.delays, p)

    def first_percentile(self, p: int) -> float:
        return _percentile(list(self.firsts.values()), p)


def _percentile(values: list[float], p: int) -> float:
    if len(values) < 2:
        return math.nan
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


@dataclass
class Result:
    clients: int
    rate: float
    tokens: int
    answers: int
    room: Side
    direct: Side
    host_cpu: float  # seconds over the measured answers
    clients_cpu: float  # the client processes', together

    @property
    def added_p50(self) -> float:
        return self.room.percentile(50) - self.direct.percentile(50)

    @property
    def added_p99(self) -> float:
        return self.room.percentile(99) - self.direct.percentile(99)

    def as_json(self) -> dict[str, Any]:
        frames = self.room.frames
        return {
            "clients": self.clients, "tokens_per_second": self.rate,
            "tokens_per_answer": self.tokens, "answers": self.answers,
            "direct_ms": {"p50": self.direct.percentile(50) * 1e3,
                          "p99": self.direct.percentile(99) * 1e3},
            "room_ms": {"p50": self.room.percentile(50) * 1e3,
                        "p99": self.room.percentile(99) * 1e3},
            "room_first_reader_ms": {"p50": self.room.first_percentile(50) * 1e3,
                                     "p99": self.room.first_percentile(99) * 1e3},
            "added_ms": {"p50": self.added_p50 * 1e3, "p99": self.added_p99 * 1e3},
            "frames_per_client_per_answer": {
                "mean": statistics.fmean(frames) if frames else math.nan,
                "min": min(frames, default=0), "max": max(frames, default=0),
            },
            "host_cpu_us_per_token_delivered": self.host_cpu_per_token * 1e6,
            "host_cpu_share": self.host_cpu / self.seconds,
            "clients_cpu_share": self.clients_cpu / self.seconds,
            "missing_tokens": self.room.missing, "direct_missing_tokens": self.direct.missing,
            "dropped_connections": self.room.dropped,
        }  # fmt: skip

    @property
    def seconds(self) -> float:
        """How long the measured answers took to stream, at their pace."""
        return self.answers * self.tokens / self.rate

    @property
    def host_cpu_per_token(self) -> float:
        delivered = self.clients * self.tokens * self.answers
        return self.host_cpu / delivered if delivered else math.nan


async def measure(args: argparse.Namespace) -> Result:
    """Start every process, run a warm-up answer and ``args.answers`` measured ones."""
    children: list[Child] = []
    try:
        provider = await role("the provider", "--role", "provider", "--rate",
                                    repr(args.rate), "--tokens", str(args.tokens))  # fmt: skip
        children.append(provider)
        provider_port = int((await provider.read(START_WAIT))["port"])
        host, port = await start_host(provider_port, args.host_source)
        children.append(host)
        processes = min(args.client_processes, args.clients)
        clients: list[Child] = []
        for p in range(processes):
            first, end = p * args.clients // processes, (p + 1) * args.clients // processes
            child = await role(
                f"client process {p + 1}", "--role", "clients", "--port", str(port),
                "--first", str(first), "--count", str(end - first),
            )  # fmt: skip
            children.append(child)
            clients.append(child)
        direct = await role("the direct reader", "--role", "direct",
                                  "--provider-port", str(provider_port))  # fmt: skip
        children.append(direct)
        for child in [*clients, direct]:
            await child.read(START_WAIT + JOIN_WAIT_PER_CLIENT * args.clients)
        room_side, direct_side = Side(), Side()
        cpu_before = clients_before = 0.0
        wait = args.tokens / args.rate + ANSWER_SLACK
        for number in range(args.answers + 1):  # the first one warms up
            if number == 1:
                cpu_before = host.cpu_seconds()
                clients_before = sum(child.cpu_seconds() for child in clients)
            for child in [*clients, direct]:
                child.write(json.dumps({"round": number}))
            for child in clients:
                reply = await child.read(wait)
                if number:
                    room_side.add(number, reply, args.tokens)
            reply = await direct.read(wait)
            if number:
                direct_side.add(number, reply, args.tokens)
        host_cpu = host.cpu_seconds() - cpu_before
        clients_cpu = sum(child.cpu_seconds() for child in clients) - clients_before
    finally:
        # Clients first, so that they leave a room still there to say goodbye to.
        await asyncio.gather(*(child.stop() for child in children[2:]))
        if len(children) > 1:
            await children[1].stop(by_stdin=False)  # the host
        if children:
            await children[0].stop()  # the provider
    return Result(args.clients, args.rate, args.tokens, args.answers, room_side, direct_side,
                  host_cpu, clients_cpu)  # fmt: skip


def describe(r: Result) -> str:
    def ms(seconds: float) -> str:
        return f"{seconds * 1e3:8.2f} ms"

    def ratio(room: float, direct: float) -> str:
        return f"x{room / direct:.2f}" if direct > 0 else "-"

    frames = r.room.frames
    mean_frames = statistics.fmean(frames) if frames else math.nan
    lines = [
        f"  {'delay per token':24}{'p50':>11}{'p99':>11}",
        f"  {'direct (openai SDK)':24}{ms(r.direct.percentile(50)):>11}"
        f"{ms(r.direct.percentile(99)):>11}",
        f"  {'room clients':24}{ms(r.room.percentile(50)):>11}{ms(r.room.percentile(99)):>11}",
        f"  {'  first to have it':24}{ms(r.room.first_percentile(50)):>11}"
        f"{ms(r.room.first_percentile(99)):>11}",
        f"  {'added by the room':24}{ms(r.added_p50):>11}{ms(r.added_p99):>11}",
        f"  {'ratio room / direct':24}"
        f"{ratio(r.room.percentile(50), r.direct.percentile(50)):>11}"
        f"{ratio(r.room.percentile(99), r.direct.percentile(99)):>11}",
        f"  frames per client per answer: {mean_frames:.1f} (min {min(frames, default=0)}, "
        f"max {max(frames, default=0)}) for {r.tokens} tokens",
        f"  host CPU: {r.host_cpu_per_token * 1e6:.1f} µs per token delivered "
        f"({r.host_cpu / r.seconds:.0%} of a core while answering)",
        f"  the clients used {r.clients_cpu / r.seconds:.0%} of a core"
        + (
            " (they could not keep up: their delays are mostly queueing)"
            if r.clients_cpu / r.seconds > SATURATED
            else ""
        ),
    ]
    if r.room.missing or r.direct.missing or r.room.dropped:
        lines.append(
            f"  {r.room.missing} tokens never reached a client, {r.direct.missing} never "
            f"reached the direct reader; {r.room.dropped} connections dropped"
        )
    target = f"  target: added p99 <= {TARGET_ADDED_P99 * 1e3:.0f} ms, 100 tokens/s, 50 clients"
    if r.clients >= 50 and r.rate >= 100:
        lines.append(f"{target}: {'met' if r.added_p99 <= TARGET_ADDED_P99 else 'NOT met'} here")
    else:
        lines.append(f"{target} (not measured by this run)")
    return "\n".join(lines)


def table_rows(r: Result) -> list[Row]:
    """The rows for ``make bench``: the delay per token to the room's clients against the
    direct reader's; the target is on the difference (what the room adds) at p99."""
    held = r.clients >= 50 and r.rate >= 100
    target = f"added <= {TARGET_ADDED_P99 * 1e3:.0f} ms"
    where = f"{r.clients} clients, {r.rate:g} tokens/s"
    return [
        Row("assistant", f"delay per token p50 ({where})", r.room.percentile(50) * 1e3,
            r.direct.percentile(50) * 1e3, "ms", "openai SDK reader"),
        Row("assistant", f"delay per token p99 ({where})", r.room.percentile(99) * 1e3,
            r.direct.percentile(99) * 1e3, "ms", "openai SDK reader",
            f"{target} at 50 clients, 100 tokens/s",
            r.added_p99 <= TARGET_ADDED_P99 if held else None),
    ]  # fmt: skip


async def orchestrate(args: argparse.Namespace) -> int:
    raise_open_files_limit()
    # Stopped with SIGTERM, it ends its processes as on Ctrl+C.
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    source = "" if args.host_source == ROOT else f", the host from {args.host_source}"
    print(
        f"assistant latency: {args.clients} clients in {min(args.client_processes, args.clients)}"
        f" process(es), {args.rate:g} tokens/s, {args.answers} answers of {args.tokens} tokens"
        f" after a warm-up answer{source}",
        flush=True,
    )
    try:
        result = await measure(args)
    except BenchError as exc:
        print(f"assistant_latency: {exc}", file=sys.stderr)
        return 2
    print(describe(result), flush=True)
    if args.json is not None:
        write_json(args.json, table_rows(result), **result.as_json())
        print(f"  (written to {args.json})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.assistant_latency", description=__doc__.splitlines()[0]
    )
    add = parser.add_argument
    add("--clients", type=int, default=50, help="participants reading (default: 50)")
    add("--rate", type=float, default=100.0, help="tokens a second (default: 100)")
    add("--tokens", type=int, default=300, help="tokens per answer (default: 300)")
    add("--answers", type=int, default=3, help="answers measured (default: 3)")
    add("--client-processes", type=int, default=max(1, (os.cpu_count() or 2) - 1),
        help="processes the clients are spread over (default: cores - 1)")  # fmt: skip
    add("--smoke", action="store_true", help="a small run that takes seconds")
    add("--json", type=Path, metavar="PATH", help="write the results as JSON there too")
    add("--host-source", type=Path, default=ROOT, metavar="DIR",
        help="run gptgroup-host from this source tree (to compare with an older one)")  # fmt: skip
    # How the orchestrating process starts its children; not for people.
    add("--role", choices=["provider", "clients", "direct"], help=argparse.SUPPRESS)
    add("--port", type=int, help=argparse.SUPPRESS)
    add("--provider-port", type=int, help=argparse.SUPPRESS)
    add("--first", type=int, help=argparse.SUPPRESS)
    add("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.clients, args.tokens, args.answers = min(args.clients, 5), 40, 1
    if args.role is None and not Path("/proc/self/stat").exists():
        parser.error("needs Linux (/proc, and every 127.0.0.N on loopback)")
    if min(args.clients, args.tokens, args.answers, args.client_processes) < 1 or args.rate <= 0:
        parser.error("--clients, --tokens, --answers, --client-processes and --rate must be > 0")
    args.host_source = args.host_source.resolve()
    try:
        if args.role == "provider":
            return asyncio.run(run_provider(args))
        if args.role == "clients":
            return asyncio.run(run_clients(args))
        if args.role == "direct":
            return asyncio.run(run_direct(args))
        return asyncio.run(orchestrate(args))
    except (KeyboardInterrupt, asyncio.CancelledError):  # every socket was closed on the way
        if args.role is None:
            print("assistant_latency: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
