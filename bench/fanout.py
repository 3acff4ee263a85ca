"""How a room fans messages out to everyone in it, against the websockets stack's own floor.

Run on demand, on loopback only (``make bench`` runs it with the other benchmarks):

    .venv/bin/python -m bench.fanout                          # 50, 100, 200 clients, 10 s each
    .venv/bin/python -m bench.fanout --clients 20 --seconds 5
    .venv/bin/python -m bench.fanout --smoke --json out.json  # seconds: the harness works

N clients each post a chat message at a steady pace below the room's per-participant rate
(by default one every 1.5 times the room's minimum interval, 1.5 s, staggered so that the
server sees an even stream), and every message goes to every client. Three servers are
measured in the same run, one after the other, with the same clients:

* floor, plain: a bare websockets server that parses each frame, stamps a sequence number,
  serialises it once and hands it to ``websockets.broadcast()``: about the least a server on
  this stack can do per message;
* floor, TLS: the same over TLS 1.3 with a room's own certificate (its ``server_context()``);
* room: ``RoomServer`` (TLS, as every room is), which the clients join with the protocol's
  handshake (``server_hello``, ``hello``, ``welcome``) before posting ``send`` frames.

Each server runs in its own process, so that its CPU time (``getrusage`` in that process) is
its own; the clients run in one or more other processes, each from its own loopback address
127.0.0.N as the room's per-address limits require. By default the clients speak the wire
protocol themselves, with one code path for every server, so that client costs weigh the
same on each side; ``--room-client`` makes the room's clients ``RoomClient`` instances
instead (the app's own client, heavier per event).

For each server it reports, over the measured seconds: frames delivered per second (every
copy of a message that reached a client, the sender's own included, against the offered
N x N / interval), the 50th and 99th percentile of the delay from a message's sending to its
receipt by each other client (the sending time travels in the message's text; every process
reads the same monotonic clock), the server's CPU time per delivered frame (and the share of
a core it used, and the clients'), and the memory each idle client holds in the server: its
resident size with N idle clients minus with none, over N, where "none" is after one client
came and went, so that what a server sets up once is not counted. (asyncio gives every TLS
connection a 256 KiB read buffer, which the TLS floor keeps and the room cuts to 64 KiB.)
The results that compare across machines are the ratios: room / TLS floor (what the room's
own work costs) and TLS floor / plain floor (what TLS itself costs); the targets, at 200
clients: p99 delay and CPU per delivered frame at most 1.3 times the TLS floor's. Fewer
frames delivered than offered, or more (a backlog from the warm-up), means the machine was
saturated: the clients share it, and the delays are then mostly queueing. The delays are
also what other work on the machine disturbs most; CPU per frame and memory stay steady from
run to run.

Linux only: every 127.0.0.N is loopback there, and the server reads its size from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import gc
import json
import math
import os
import resource
import signal
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

from bench.children import LINE_LIMIT, STOP_WAIT, BenchError, Child
from bench.report import Row, write_json
from core.accept_gate import raise_open_files_limit
from core.client import Ended, Reconnecting, RoomClient, SendFailed
from core.codec import serialize
from core.connection_writer import CLOSE_GRACE
from core.participant import NotConnected
from core.protocol import ABILITIES, PROTOCOL_VERSION, Hello, Limits, MessageId, MessagePosted
from core.protocol import SendMessage as SendFrame
from core.room import RoomConfig
from core.room_tls import RoomCertificate, client_context
from core.server import RoomServer

KINDS = ("floor-plain", "floor-tls", "room")
LABELS = {"floor-plain": "floor, plain ws", "floor-tls": "floor, TLS", "room": "room (TLS)"}
ROOM_NAME = "Bench fan-out"
LIMITS = Limits()
MIN_INTERVAL = 60.0 / LIMITS.messages_per_minute  # the room's steady per-participant rate
DEFAULT_INTERVAL = 1.5 * MIN_INTERVAL
# About a line of chat; with the stamp in front, every message is about 80 characters.
FILLER = "see you at noon by the north entrance, bring the maps"
ROOT = Path(__file__).resolve().parents[1]
TARGET_RATIO = 1.3  # p99 delay and CPU per frame, room / TLS floor, at TARGET_CLIENTS
TARGET_CLIENTS = 200
START_WAIT = 30.0  # seconds a server process may take to listen
JOIN_WAIT_PER_CLIENT = 0.25  # plus START_WAIT, for a client process to join all its clients
JOIN_CONCURRENCY = 16  # joins under way at once in one client process
# After the joins and after the run, a client process waits for this long a quiet (--quiet)...
QUIET = 1.0
SETTLE_MAX = 30.0  # ...but no longer than this after the joins, before it says it is ready
DRAIN_MAX = 15.0  # ...and than this after the end of the run
LEAD = 0.5  # seconds between telling the clients the plan and its start
SMOKE = {"clients": [4], "seconds": 1.0, "interval": MIN_INTERVAL, "quiet": 0.2}


def clock() -> float:
    """Seconds on CLOCK_MONOTONIC, which every process of the machine reads alike, so a time
    taken in one client process can be compared with one taken in another."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def loopback_address(index: int) -> str:
    """Client ``index``'s own loopback address (from 127.0.0.2 on): the room limits what one
    address may do, as it would for one machine."""
    number = index + 2
    return f"127.{(number >> 16) & 255}.{(number >> 8) & 255}.{number & 255}"


def report(reply: dict[str, object]) -> None:
    """Answer the orchestrating process: one line of JSON on stdout."""
    print(json.dumps(reply), flush=True)


async def command_lines() -> asyncio.StreamReader:
    """This process's stdin, where the orchestrating process writes its commands; it ends
    (EOF) when that process is done with us or has died."""
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


# --------------------------------------------------------------------------- server process


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def resident_bytes() -> int:
    """This process's resident size now, after a full garbage collection and after giving
    the C library's free memory back to the system, so that what is counted is in use (memory
    a server freed after its start would otherwise hide the first clients' in the sizes)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # a C library other than glibc
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Floor:
    """The floor: one parse, one sequence number, one serialisation and one
    ``websockets.broadcast()`` per frame received, to every connection."""

    def __init__(self) -> None:
        self.connections: set[ServerConnection] = set()
        self.seq = 0

    async def handle(self, ws: ServerConnection) -> None:
        self.connections.add(ws)
        try:
            async for frame in ws:
                message = json.loads(frame)
                self.seq += 1
                message.update(type="message", seq=self.seq, ts=time.time())
                text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
                broadcast(self.connections, text)
        except ConnectionClosed:
            pass
        finally:
            self.connections.discard(ws)


async def run_server(kind: str) -> int:
    """Serve as ``kind`` on 127.0.0.1 until stdin ends, answering ``cpu`` and ``rss``."""
    raise_open_files_limit()
    room: RoomServer | None = None
    floor: Server | None = None
    try:
        if kind == "room":
            room = RoomServer(RoomConfig(name=ROOM_NAME), host="127.0.0.1", port=0)
            await room.start()
            port, fingerprint = room.port, room.fingerprint.hex()
        else:
            certificate = RoomCertificate.generate(ROOM_NAME)
            # The room's own options, so that only the work per message differs.
            floor = await serve(
                Floor().handle,
                "127.0.0.1",
                0,
                ssl=certificate.server_context() if kind == "floor-tls" else None,
                max_size=LIMITS.max_frame_bytes,
                compression=None,
                ping_interval=20.0,
                ping_timeout=20.0,
                close_timeout=CLOSE_GRACE,
            )
            port = int(next(iter(floor.sockets)).getsockname()[1])
            fingerprint = certificate.fingerprint.hex()
    except OSError as exc:
        report({"error": f"cannot listen on 127.0.0.1: {exc}"})
        return 2
    try:
        report({"port": port, "fingerprint": fingerprint})
        commands = await command_lines()
        while line := await commands.readline():
            command = line.decode().strip()
            if command == "cpu":
                report({"cpu": cpu_seconds()})
            elif command == "rss":
                report({"rss": resident_bytes()})
    finally:
        if room is not None:
            await room.close()
        if floor is not None:
            floor.close()
            await floor.wait_closed()
    return 0


# --------------------------------------------------------------------------- client process


@dataclass
class Tally:
    """What the clients of one process received, in the measured window ``t0``..``t1``."""

    t0: float = math.inf  # nothing counts before the plan says when
    t1: float = -math.inf
    delivered: int = 0  # message frames received in the window, the sender's own included
    sent: int = 0  # messages sent in the window
    refused: int = 0  # error frames (or refused sends) from the server
    dropped: int = 0  # connections the server closed, or lost
    delays_us: list[int] = field(default_factory=list)  # of messages sent in the window
    arrived: asyncio.Event = field(default_factory=asyncio.Event)  # set on every frame

    def received(self, text: str, receiver: int) -> None:
        now = clock()
        if self.t0 <= now <= self.t1:
            self.delivered += 1
        sender, sent_at = stamp_of(text)
        if sender != receiver and self.t0 <= sent_at <= self.t1:
            self.delays_us.append(round((now - sent_at) * 1e6))

    def sent_at(self, stamp: float) -> None:
        if self.t0 <= stamp <= self.t1:
            self.sent += 1

    async def settle(self, quiet: float, deadline: float) -> None:
        """Return once no frame has arrived for ``quiet`` seconds, or at ``deadline``."""
        while (left := deadline - clock()) > 0:
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), min(quiet, left))
            except TimeoutError:
                return


def message_text(sender: int, stamp: float) -> str:
    return f"{sender} {stamp:.6f} {FILLER}"


def stamp_of(text: str) -> tuple[int, float]:
    """Who sent a message and when (see :func:`message_text`); (-1, nan) for another text."""
    try:
        sender, stamp, _ = text.split(" ", 2)
        return int(sender), float(stamp)
    except ValueError:
        return -1, math.nan


class Guest(Protocol):
    index: int

    async def send(self, text: str, number: int) -> None: ...

    async def close(self) -> None: ...


class WireGuest:
    """A client that speaks the wire protocol itself: for the room, its handshake first; then,
    for every server alike, ``send`` frames out and every received frame parsed as JSON."""

    def __init__(self, index: int, ws: ClientConnection, tally: Tally) -> None:
        self.index = index
        self._ws = ws
        self._tally = tally
        self._leaving = False
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def join(cls, kind: str, port: int, index: int, tally: Tally) -> WireGuest:
        tls = kind != "floor-plain"
        ws = await connect(
            f"{'wss' if tls else 'ws'}://127.0.0.1:{port}/",
            ssl=client_context() if tls else None,
            local_addr=(loopback_address(index), 0),
            proxy=None,
            compression=None,
            max_size=4 * 1024 * 1024,
            open_timeout=10.0,
            close_timeout=CLOSE_GRACE,
        )
        try:
            if kind == "room":  # the certificate is not pinned: on loopback, ours is the room
                await room_handshake(ws, f"Guest {index}")
        except BaseException:
            ws.transport.abort()
            raise
        return cls(index, ws, tally)

    async def send(self, text: str, number: int) -> None:
        frame = serialize(SendFrame(id=MessageId(f"{self.index}-{number}"), text=text))
        with contextlib.suppress(ConnectionClosed):  # counted as dropped by the reader
            await self._ws.send(frame)

    async def close(self) -> None:
        self._leaving = True
        try:
            await self._ws.close()
        finally:
            self._ws.transport.abort()
            await self._reader

    async def _read(self) -> None:
        try:
            async for frame in self._ws:
                self._tally.arrived.set()
                message = json.loads(frame)
                kind = message.get("type")
                if kind == "message":
                    self._tally.received(message["text"], self.index)
                elif kind == "error":
                    self._tally.refused += 1
        except ConnectionClosed:
            pass
        if not self._leaving:
            self._tally.dropped += 1


async def room_handshake(ws: ClientConnection, name: str) -> None:
    """Join the room on ``ws`` as ``name``: its greeting, our ``hello``, its ``welcome``."""
    greeting = json.loads(await ws.recv())
    if greeting.get("type") != "server_hello":
        raise BenchError(f"the room greeted with {greeting.get('type')!r}, not server_hello")
    hello = Hello(PROTOCOL_VERSION, name, abilities=ABILITIES, client="gptgroup-bench")
    await ws.send(serialize(hello))
    answer = json.loads(await ws.recv())
    if answer.get("type") != "welcome":
        why = f"{answer.get('code')}: {answer.get('message')}"
        raise BenchError(f"the room refused the join: {why}")


class AppGuest:
    """A client that is the app's own :class:`RoomClient` (``--room-client``)."""

    def __init__(self, index: int, client: RoomClient, tally: Tally) -> None:
        self.index = index
        self._client = client
        self._tally = tally
        self._leaving = False
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def join(cls, port: int, fingerprint: bytes, index: int, tally: Tally) -> AppGuest:
        client = RoomClient(
            f"wss://127.0.0.1:{port}/",
            f"Guest {index}",
            fingerprint=fingerprint,
            local_address=loopback_address(index),
            client_name="gptgroup-bench",
        )
        await client.connect()
        return cls(index, client, tally)

    async def send(self, text: str, number: int) -> None:
        with contextlib.suppress(NotConnected):  # it ended: counted as dropped by the reader
            self._client.post(text)

    async def close(self) -> None:
        self._leaving = True
        try:
            await self._client.leave()
        finally:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def _read(self) -> None:
        async for event in self._client.events():
            self._tally.arrived.set()
            if isinstance(event, MessagePosted):
                self._tally.received(event.text, self.index)
            elif isinstance(event, SendFailed):
                self._tally.refused += 1
            elif isinstance(event, Reconnecting | Ended) and not self._leaving:
                self._tally.dropped += 1


async def join_all(
    kind: str, port: int, fingerprint: bytes, indices: range, app_client: bool, tally: Tally
) -> tuple[list[Guest], str | None]:
    """Join a client for each index, a few at a time; the clients that joined, and why the
    first that could not did not (None when all did)."""
    gate = asyncio.Semaphore(JOIN_CONCURRENCY)
    guests: list[Guest] = []
    failures: list[str] = []

    async def join(index: int) -> None:
        async with gate:
            if failures:
                return
            try:
                if app_client:
                    guests.append(await AppGuest.join(port, fingerprint, index, tally))
                else:
                    guests.append(await WireGuest.join(kind, port, index, tally))
            except Exception as exc:  # reported as it is: this is what the user must fix
                failures.append(f"client {index} could not join from {loopback_address(index)}:"
                                f" {type(exc).__name__}: {exc}")  # fmt: skip

    await asyncio.gather(*(join(index) for index in indices))
    return guests, failures[0] if failures else None


async def pace(guest: Guest, offset: float, start: float, tally: Tally, interval: float) -> None:
    """Send ``guest``'s messages every ``interval`` from ``start + offset`` until the end of
    the window; never two closer than the room's steady rate allows, even when late."""
    at, number = start + offset, 0
    while at < tally.t1:
        await asyncio.sleep(at - clock())
        stamp = clock()
        await guest.send(message_text(guest.index, stamp), number)
        tally.sent_at(stamp)
        number += 1
        at = max(at + interval, stamp + MIN_INTERVAL)


async def close_all(guests: list[Guest]) -> None:
    results = await asyncio.gather(*(guest.close() for guest in guests), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, Exception):
            raise result  # a cancellation; a failure to close politely changes nothing here


async def cpu_between(t0: float, t1: float) -> float:
    """This process's CPU seconds from ``t0`` to ``t1``, to tell whether the clients kept up."""
    await asyncio.sleep(t0 - clock())
    before = cpu_seconds()
    await asyncio.sleep(t1 - clock())
    return cpu_seconds() - before


async def exercise(
    guests: list[Guest], tally: Tally, interval: float, total: int, quiet: float
) -> dict[str, object]:
    """Run the plan in ``tally`` (a warm-up of one interval, then the window) and return the
    report for the orchestrating process, once no frame has come for ``quiet`` seconds."""
    start = tally.t0 - interval  # after the warm-up, every client is sending
    busy = asyncio.create_task(cpu_between(tally.t0, tally.t1))
    try:
        await asyncio.gather(
            *(
                pace(guest, guest.index / total * interval, start, tally, interval)
                for guest in guests
            )
        )
        await tally.settle(quiet, tally.t1 + DRAIN_MAX)
        return {
            "cpu": await busy,
            "delivered": tally.delivered,
            "sent": tally.sent,
            "refused": tally.refused,
            "dropped": tally.dropped,
            "delays_us": tally.delays_us,
        }
    finally:
        busy.cancel()


async def run_clients(args: argparse.Namespace) -> int:
    """Join clients ``first``..``first + count`` of ``total``, say ``ready``, run the plan
    read from stdin, report what was received, and close every connection at stdin's end."""
    raise_open_files_limit()
    tally = Tally()
    commands = await command_lines()
    guests: list[Guest] = []
    try:
        indices = range(args.first, args.first + args.count)
        guests, failure = await join_all(
            args.kind, args.port, bytes.fromhex(args.fingerprint), indices, args.room_client, tally
        )
        if failure is not None:
            report({"error": failure})
            return 2
        # The joins' last events (each join goes to everyone) have reached everyone.
        await tally.settle(args.quiet, clock() + SETTLE_MAX)
        report({"ready": len(guests)})
        line = await commands.readline()
        if not line:
            return 0
        plan = json.loads(line)
        tally.t0, tally.t1 = plan["t0"], plan["t1"]
        run = asyncio.create_task(exercise(guests, tally, args.interval, args.total, args.quiet))
        done = asyncio.create_task(commands.read())  # the orchestrating process is done with us
        await asyncio.wait({run, done}, return_when=asyncio.FIRST_COMPLETED)
        if not run.done():  # it stopped the run: end now, not at the end of the run
            run.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await run
            return 0
        report(run.result())
        await done
        return 0
    finally:
        with contextlib.suppress(TimeoutError):  # what is left is closed as the process ends
            async with asyncio.timeout(STOP_WAIT):
                await close_all(guests)


# --------------------------------------------------------------------------- orchestration


async def start(name: str, *args: str) -> Child:
    """A process of this module in one of its roles."""
    return await Child.start(name, [sys.executable, "-m", "bench.fanout", *args])


async def ask(server: Child, command: str) -> float:
    """Ask the server process for a number (``cpu`` or ``rss``)."""
    server.write(command)
    return float((await server.read(10.0))[command])


@dataclass(frozen=True)
class Result:
    """One server's measurements with ``clients`` clients."""

    kind: str
    clients: int
    seconds: float
    interval: float
    delivered: int
    sent: int
    delays: list[float]  # seconds
    cpu: float  # the server's CPU seconds in the window
    client_cpu: float  # the client processes' CPU seconds in the window, together
    idle_bytes: float  # the server's growth per idle client
    refused: int
    dropped: int

    @property
    def offered(self) -> float:
        return self.clients * self.clients / self.interval

    @property
    def rate(self) -> float:
        return self.delivered / self.seconds

    @property
    def p50(self) -> float:
        return statistics.median(self.delays) if self.delays else math.nan

    @property
    def p99(self) -> float:
        return statistics.quantiles(self.delays, n=100)[98] if len(self.delays) > 1 else math.nan

    @property
    def missing(self) -> int:
        """Copies of the messages sent in the window that never reached another client."""
        return self.sent * (self.clients - 1) - len(self.delays)

    @property
    def cpu_per_frame(self) -> float:
        return self.cpu / self.delivered if self.delivered else math.nan


async def come_and_go(kind: str, port: int, index: int) -> None:
    """Let one client join and leave, so that what a server sets up once (TLS, a room's
    first join) is not counted against its idle clients."""
    try:
        guest = await WireGuest.join(kind, port, index, Tally())
    except Exception as exc:  # reported as it is: this is what the user must fix
        why = f"{type(exc).__name__}: {exc}"
        raise BenchError(
            f"cannot join the {LABELS[kind]} server on 127.0.0.1:{port}: {why}"
        ) from exc
    await guest.close()


async def measure(kind: str, n: int, args: argparse.Namespace) -> Result:
    """Run one server with ``n`` clients and return what was measured."""
    children: list[Child] = []
    try:
        server = await start(f"the {LABELS[kind]} server", "--role", "server", "--kind", kind)
        children.append(server)
        hello = await server.read(START_WAIT)
        await come_and_go(kind, int(hello["port"]), n)
        empty = await ask(server, "rss")
        processes = min(args.client_processes, n)
        common = ["--role", "clients", "--kind", kind, "--port", str(hello["port"]),
                  "--fingerprint", hello["fingerprint"], "--total", str(n),
                  "--interval", repr(args.interval), "--quiet", repr(args.quiet)]  # fmt: skip
        if args.room_client and kind == "room":  # the floors speak no room protocol
            common.append("--room-client")
        for p in range(processes):
            first, end = p * n // processes, (p + 1) * n // processes
            name = f"client process {p + 1} ({LABELS[kind]})"
            where = ["--first", str(first), "--count", str(end - first)]
            children.append(await start(name, *common, *where))
        clients = children[1:]
        for child in clients:
            await child.read(START_WAIT + SETTLE_MAX + JOIN_WAIT_PER_CLIENT * n)
        idle = await ask(server, "rss")
        t0 = clock() + LEAD + args.interval
        t1 = t0 + args.seconds
        for child in clients:
            child.write(json.dumps({"t0": t0, "t1": t1}))
        await asyncio.sleep(t0 - clock())
        cpu0 = await ask(server, "cpu")
        await asyncio.sleep(t1 - clock())
        cpu1 = await ask(server, "cpu")
        reports = [await child.read(DRAIN_MAX + 30.0) for child in clients]
    finally:
        # Clients first, so that they leave a server still there to say goodbye to.
        await asyncio.gather(*(child.stop() for child in children[1:]))
        if children:
            await children[0].stop()
    return Result(
        kind=kind,
        clients=n,
        seconds=args.seconds,
        interval=args.interval,
        delivered=sum(r["delivered"] for r in reports),
        sent=sum(r["sent"] for r in reports),
        delays=[d / 1e6 for r in reports for d in r["delays_us"]],
        cpu=cpu1 - cpu0,
        client_cpu=sum(r["cpu"] for r in reports),
        idle_bytes=(idle - empty) / n,
        refused=sum(r["refused"] for r in reports),
        dropped=sum(r["dropped"] for r in reports),
    )


def describe(result: Result) -> str:
    r = result
    text = (
        f"  {LABELS[r.kind] + ':':17}{r.rate:,.0f} frames/s of {r.offered:,.0f} offered"
        f" ({r.rate / r.offered:.0%}); delay p50 {r.p50 * 1000:.2f} ms, p99 {r.p99 * 1000:.2f} ms"
        f"\n{'':19}server CPU {r.cpu_per_frame * 1e6:.1f} µs/frame ({r.cpu / r.seconds:.0%} of a"
        f" core), {r.idle_bytes / 1024:.1f} KiB per idle client; the clients used"
        f" {r.client_cpu / r.seconds:.0%} of a core"
    )
    if r.dropped or r.refused or r.missing:
        text += (
            f"\n{'':19}{r.dropped} connections dropped, {r.refused} refusals, {r.missing}"
            " copies of messages sent in the window never arrived"
        )
    return text


def ratios(results: dict[str, Result]) -> str:
    """The table of ratios: room / TLS floor (what the room's own work costs) and TLS floor /
    plain floor (what TLS itself costs)."""
    room, tls, plain = results["room"], results["floor-tls"], results["floor-plain"]
    rows: list[tuple[str, Callable[[Result], float]]] = [
        ("frames/s", lambda r: r.rate),
        ("delay p50", lambda r: r.p50),
        ("delay p99", lambda r: r.p99),
        ("CPU per frame", lambda r: r.cpu_per_frame),
        ("memory per idle client", lambda r: r.idle_bytes),
    ]
    lines = [f"  {'ratios':24}{'room / TLS floor':>18}{'TLS floor / plain floor':>26}"]
    for name, value in rows:
        room_cost = value(room) / value(tls) if value(tls) > 0 else math.nan
        tls_cost = value(tls) / value(plain) if value(plain) > 0 else math.nan
        lines.append(f"  {name:24}{f'x{room_cost:.2f}':>18}{f'x{tls_cost:.2f}':>26}")
    return "\n".join(lines)


async def orchestrate(args: argparse.Namespace) -> int:
    if args.interval < MIN_INTERVAL:
        print(f"fanout: --interval {args.interval} s is faster than the room allows one client "
              f"({LIMITS.messages_per_minute} messages per minute)", file=sys.stderr)  # fmt: skip
        return 2
    raise_open_files_limit()
    # Stopped with SIGTERM, it ends its processes as on Ctrl+C (they would end by themselves
    # once their stdin closes, but only after the run under way).
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    print(
        f"fan-out: each client posts every {args.interval:.2f} s (the room allows bursts of "
        f"{LIMITS.message_burst}, then {LIMITS.messages_per_minute} per minute), measured over "
        f"{args.seconds:.0f} s after a warm-up of {args.interval:.2f} s; clients in "
        f"{args.client_processes} process(es), {'RoomClient' if args.room_client else 'wire'}"
        " clients in the room",
        flush=True,
    )
    every: dict[int, dict[str, Result]] = {}
    try:
        for n in args.clients:
            print(f"{n} clients:", flush=True)
            results = every[n] = {}
            for kind in KINDS:
                results[kind] = await measure(kind, n, args)
                print(describe(results[kind]), flush=True)
            print(ratios(results), flush=True)
    except BenchError as exc:
        print(f"fanout: {exc}", file=sys.stderr)
        return 2
    if args.json is not None:
        details = {
            str(n): {k: summary(r) for k, r in results.items()} for n, results in every.items()
        }
        write_json(args.json, table_rows(every), results=details)
    return 0


def summary(r: Result) -> dict[str, float]:
    """One server's figures, for the JSON."""
    return {
        "frames_per_second": r.rate, "offered_per_second": r.offered,
        "p50_ms": r.p50 * 1e3, "p99_ms": r.p99 * 1e3, "cpu_us_per_frame": r.cpu_per_frame * 1e6,
        "cpu_share": r.cpu / r.seconds, "clients_cpu_share": r.client_cpu / r.seconds,
        "idle_kib_per_client": r.idle_bytes / 1024, "dropped": r.dropped, "refused": r.refused,
        "missing": r.missing,
    }  # fmt: skip


def table_rows(every: dict[int, dict[str, Result]]) -> list[Row]:
    """The rows for ``make bench``: the room against the TLS floor at each size (the target
    applies at :data:`TARGET_CLIENTS`), and the memory of an idle guest at the largest."""
    rows: list[Row] = []
    target = f"<= x{TARGET_RATIO} at {TARGET_CLIENTS}"
    for n, results in every.items():
        room, floor = results["room"], results["floor-tls"]
        held = n >= TARGET_CLIENTS

        def row(measure: str, ours: float, base: float, unit: str, held: bool = held) -> Row:
            met = ours <= TARGET_RATIO * base if held else None
            return Row("fan-out", measure, ours, base, unit, "TLS floor",
                       target if held else "", met)  # fmt: skip

        rows.append(row(f"{n} clients: delay p99", room.p99 * 1e3, floor.p99 * 1e3, "ms"))
        rows.append(row(f"{n} clients: CPU per frame", room.cpu_per_frame * 1e6,
                        floor.cpu_per_frame * 1e6, "µs"))  # fmt: skip
    largest = max(every)
    room, floor = every[largest]["room"], every[largest]["floor-tls"]
    rows.append(Row("fan-out", f"{largest} idle guests: memory each", room.idle_bytes / 1e6,
                    floor.idle_bytes / 1e6, "MB", "TLS floor", "reported"))  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--clients", type=int, nargs="+", default=[50, 100, 200], metavar="N",
        help="numbers of clients to measure with (default: 50 100 200)")  # fmt: skip
    add("--seconds", type=float, default=10.0, help="seconds measured per server (default: 10)")
    add("--interval", type=float, default=DEFAULT_INTERVAL,
        help="seconds between one client's messages (default: %(default).1f)")  # fmt: skip
    add("--client-processes", type=int, default=max(1, (os.cpu_count() or 2) - 1),
        help="processes the clients are spread over (default: cores - 1)")  # fmt: skip
    add("--room-client", action="store_true", help="the room's clients are RoomClient instances")
    add("--quiet", type=float, default=QUIET,
        help="seconds of quiet that end the joins and the run (default: %(default)g)")  # fmt: skip
    add("--smoke", action="store_true", help="a small run that takes seconds")
    add("--json", type=Path, metavar="PATH", help="write the results as JSON there too")
    # How the orchestrating process starts its children; not for people.
    parser.add_argument("--role", choices=["server", "clients"], help=argparse.SUPPRESS)
    parser.add_argument("--kind", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--fingerprint", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--total", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        vars(args).update(SMOKE)
    if args.role is None and not Path("/proc/self/statm").exists():
        parser.error("needs Linux (/proc, and every 127.0.0.N on loopback)")
    if min(args.clients) < 2 or args.seconds <= 0 or args.client_processes < 1:
        parser.error("needs at least 2 clients, a positive --seconds and --client-processes")
    try:
        if args.role == "server":
            return asyncio.run(run_server(args.kind))
        if args.role == "clients":
            return asyncio.run(run_clients(args))
        return asyncio.run(orchestrate(args))
    except (KeyboardInterrupt, asyncio.CancelledError):  # every socket was closed on the way
        if args.role is None:
            print("fanout: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
