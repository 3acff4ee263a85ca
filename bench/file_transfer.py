"""What a large download costs everyone else's chat: message delays with and without it.

Run on demand, on loopback only:

    tests/isolated.sh .venv/bin/python -m bench.file_transfer               # 10 MB, 10 rounds
    tests/isolated.sh .venv/bin/python -m bench.file_transfer --mb 10 --rounds 5
    tests/isolated.sh .venv/bin/python -m bench.file_transfer --smoke --json out.json

Three processes, so that no side's work shows up as another's delay: the room (a
``RoomServer``, TLS as every room is), Ana (who downloads) and Ben (who chats), each speaking
the wire protocol by hand. A file of ``--mb`` megabytes is shared first (not measured; the
room's rate limits are lifted for it). Then each round has two phases:

* **download**: Ana fetches the whole file (``file_get``, decoding every ``file_data``
  frame), while Ben posts messages one after another, each as soon as his previous one came
  back to him;
* **idle**: Ben does the same for as long as the download took, and nobody downloads.

Each message carries its sending time (every process reads the same monotonic clock), so
the report gives, for Ben's messages reaching Ben and reaching Ana, the median, the 99th
percentile and the largest delay in each phase, and the ratios download / idle. The target is
that a download adds no more than a few milliseconds: the room writes the next chunk of a
file to a connection only when nothing else waits for it, so a chat frame waits behind one
chunk (32 KiB) at most. The milliseconds depend on the machine; the ratios much less.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from bench.report import Row, write_json
from core.protocol import PROTOCOL_VERSION, Limits
from core.room import RoomConfig
from core.room_tls import client_context
from core.server import RoomServer

CHUNK = Limits().file_chunk_bytes
Frame = dict[str, Any]

# ----------------------------------------------------------------------- the wire, by hand


async def join(port: int, name: str) -> ClientConnection:
    """A participant on a bare WebSocket, past the room's welcome."""
    ws = await connect(
        f"wss://127.0.0.1:{port}/", ssl=client_context(), proxy=None, compression=None
    )
    greeting = json.loads(await ws.recv())
    assert greeting["type"] == "server_hello", greeting
    hello = {"type": "hello", "protocol": PROTOCOL_VERSION, "name": name, "abilities": ["files"]}
    await ws.send(json.dumps(hello))
    await next_of(ws, "welcome")
    return ws


async def next_of(ws: ClientConnection, type_name: str, **fields: Any) -> Frame:
    """The next frame of ``type_name`` whose ``fields`` match (others are skipped)."""
    while True:
        frame: Frame = json.loads(await ws.recv())
        if frame["type"] == type_name and all(frame.get(k) == v for k, v in fields.items()):
            return frame


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def share(port: int, data: bytes) -> str:
    """Share ``data`` as Sam; returns the file's id."""
    ws = await join(port, "Sam")
    sha = hashlib.sha256(data).hexdigest()
    offer = {"type": "file_offer", "id": "f", "name": "big.bin", "size": len(data), "sha256": sha}
    await ws.send(json.dumps(offer))
    file = str((await next_of(ws, "file_accepted"))["file"])
    for offset in range(0, len(data), CHUNK):
        piece = b64(data[offset : offset + CHUNK])
        await ws.send(json.dumps({"type": "file_chunk", "file": file, "offset": offset,
                                  "data": piece}))  # fmt: skip
    await next_of(ws, "file_shared", client_id="f")
    await ws.close()
    return file


def stamped(text: str, since: float) -> float | None:
    """The delay of a message Ben sent after ``since`` (its text is ``t=`` and the time)."""
    if not text.startswith("t="):
        return None
    sent = float(text[2:])
    return time.monotonic() - sent if sent >= since else None


# ----------------------------------------------------------------------- the processes


async def serve() -> None:
    """The room: prints its port, then serves until its standard input closes."""
    config = RoomConfig(
        name="Bench", limits=Limits(message_burst=100_000, messages_per_minute=6_000_000),
        frame_burst=100_000, frames_per_second=100_000.0,
    )  # fmt: skip
    async with RoomServer(config, host="127.0.0.1", port=0) as server:
        print(json.dumps({"port": server.port}), flush=True)
        await asyncio.to_thread(sys.stdin.read)


async def downloader(port: int, file: str) -> None:
    """Ana: for each ``download`` line on standard input, fetches the file; for each ``idle``
    line, reads until Ben says ``stop``. Prints the delays of Ben's messages meanwhile."""
    ws = await join(port, "Ana")
    print(json.dumps({"ready": True}), flush=True)
    while (command := (await asyncio.to_thread(sys.stdin.readline)).strip()) in (
        "download",
        "idle",
    ):
        delays: list[float] = []
        received = 0
        started = time.monotonic()
        if command == "download":
            await ws.send(json.dumps({"type": "file_get", "file": file, "offset": 0}))
        print(json.dumps({"started": True}), flush=True)
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == "message":
                if frame["text"] == "stop" and command == "idle":
                    break
                delay = stamped(frame["text"], started)
                if delay is not None:
                    delays.append(delay)
            elif frame["type"] == "file_data":
                received += len(unb64(frame["data"]))
                if frame["done"]:
                    break
        seconds = time.monotonic() - started
        print(json.dumps({"delays": delays, "bytes": received, "seconds": seconds}), flush=True)
    await ws.close()


async def chat(
    ws: ClientConnection, done: asyncio.Future[bytes] | None, seconds: float
) -> list[float]:
    """Ben: posts messages one after another until ``done`` (or, without it, for
    ``seconds``); returns how long each took to come back to him."""
    delays: list[float] = []
    end = time.monotonic() + seconds
    while (not done.done()) if done is not None else time.monotonic() < end:
        sent = time.monotonic()
        text = f"t={sent!r}"
        await ws.send(json.dumps({"type": "send", "id": text, "text": text}))
        await next_of(ws, "message", text=text)
        delays.append(time.monotonic() - sent)
    return delays


async def bench(megabytes: float, rounds: int, json_path: Path | None) -> None:
    me = [sys.executable, "-m", "bench.file_transfer"]
    pipe = asyncio.subprocess.PIPE
    server = await asyncio.create_subprocess_exec(*me, "--serve", stdin=pipe, stdout=pipe)
    assert server.stdout is not None and server.stdin is not None
    port = json.loads(await server.stdout.readline())["port"]
    size = int(megabytes * 1_000_000)
    file = await share(port, os.urandom(size))
    ana = await asyncio.create_subprocess_exec(
        *me, "--download", str(port), file, stdin=pipe, stdout=pipe
    )
    assert ana.stdout is not None and ana.stdin is not None
    await ana.stdout.readline()
    ben = await join(port, "Ben")
    results: dict[str, list[float]] = {
        k: [] for k in ("ben idle", "ben busy", "ana idle", "ana busy")
    }
    durations: list[float] = []

    async def tell_ana(command: str) -> None:
        assert ana.stdin is not None and ana.stdout is not None
        ana.stdin.write(f"{command}\n".encode())
        await ana.stdin.drain()
        await ana.stdout.readline()  # she has started

    for n in range(rounds):
        await tell_ana("download")
        report = asyncio.ensure_future(ana.stdout.readline())
        results["ben busy"] += await chat(ben, report, 0.0)
        downloaded = json.loads(await report)
        assert downloaded["bytes"] == size, downloaded["bytes"]
        results["ana busy"] += downloaded["delays"]
        durations.append(downloaded["seconds"])
        await tell_ana("idle")
        results["ben idle"] += await chat(ben, None, downloaded["seconds"])
        await ben.send(json.dumps({"type": "send", "id": f"stop{n}", "text": "stop"}))
        results["ana idle"] += json.loads(await ana.stdout.readline())["delays"]
    ana.stdin.write(b"quit\n")
    await ana.wait()
    await ben.close()
    server.stdin.close()
    await server.wait()
    report_table(results, megabytes, durations)
    if json_path is not None:
        rows = [
            Row("file transfer", f"chat delay p99 to {who} during a {megabytes:g} MB download",
                p99_ms(results[f"{key} busy"]), p99_ms(results[f"{key} idle"]), "ms",
                "no download")
            for key, who in (("ben", "the chatter"), ("ana", "the downloader"))
        ]  # fmt: skip
        write_json(json_path, rows, megabytes=megabytes, rounds=rounds, seconds=durations)


def p99_ms(delays: list[float]) -> float:
    ms = [d * 1000 for d in delays]
    return statistics.quantiles(ms, n=100)[98] if len(ms) >= 2 else ms[0]


def report_table(results: dict[str, list[float]], megabytes: float, durations: list[float]) -> None:
    def stats(delays: list[float]) -> tuple[int, float, float, float]:
        ms = [d * 1000 for d in delays]
        return len(ms), statistics.median(ms), p99_ms(delays), max(ms)

    mean = statistics.mean(durations)
    print(f"Download: {megabytes:g} MB in {mean:.2f} s on average ({megabytes / mean:.1f} MB/s), "
          f"{len(durations)} rounds")  # fmt: skip
    print()
    who_head = "Ben's messages reaching"
    head = f"{who_head:<26}{'phase':<10}{'n':>6}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
    print(head)
    print("-" * len(head))
    for who, label in (("ben", "Ben (chatting)"), ("ana", "Ana (downloading)")):
        idle, busy = stats(results[f"{who} idle"]), stats(results[f"{who} busy"])
        for phase, row in (("idle", idle), ("download", busy)):
            n, p50, p99, top = row
            print(f"{label:<26}{phase:<10}{n:>6}{p50:>9.2f}{p99:>9.2f}{top:>9.2f}")
        print(f"{'':<26}{'ratio':<10}{'':>6}{busy[1] / idle[1]:>9.2f}{busy[2] / idle[2]:>9.2f}"
              f"{busy[3] / idle[3]:>9.2f}")  # fmt: skip
    print()
    print("ratio: download / idle. The room writes a file chunk only when nothing else waits.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=10.0, help="the file's size in MB")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--smoke", action="store_true", help="1 MB, one round")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the results there too")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--download", nargs=2, metavar=("PORT", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.mb, args.rounds = 1.0, 1
    if args.serve:
        asyncio.run(serve())
    elif args.download:
        asyncio.run(downloader(int(args.download[0]), args.download[1]))
    else:
        asyncio.run(bench(args.mb, args.rounds, args.json))
    return 0


if __name__ == "__main__":
    sys.exit(main())
