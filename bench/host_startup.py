"""How long ``gptgroup-host`` takes from its start to its room announced on the LAN, against a
bare python-zeroconf registration measured the same way.

Run as root (it makes network namespaces; nothing touches a real interface):

    .venv/bin/python -m bench.host_startup                       # 7 rounds
    .venv/bin/python -m bench.host_startup --smoke --json out.json

On a pretend LAN of two namespaces (``tests/netns.py``), each round starts in the first, one
after the other:

* the floor: a Python process that imports python-zeroconf and registers one service with
  ``AsyncZeroconf.async_register_service`` (its probes, then its announcement): the least a
  program that announces itself with that library pays;
* ours: ``gptgroup-host --provider none`` (a room without an assistant: its certificate, its
  server, its announcement through :mod:`core.discovery`).

Two times for each, from just before the process is started: until it says its registration
is done (*announced*: the floor's ``registered``, the host's "Announced on the local
network" line), and until a bare browser in the second namespace sees the service (*seen*:
the time the browser stamps on its ``added`` line; every process reads the same monotonic
clock). Both run with Python's bytecode caches, as installed programs do. Results are
medians; the target is ours at most :data:`TARGET_EXTRA` seconds more than the floor.

``--host-source DIR`` runs the host from another source tree (``python -m cli.host`` there,
say an older version unpacked with ``git archive``), to compare a change with what came
before it.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.report import Row, with_bytecode_caches, write_json
from core.protocol import SERVICE_TYPE
from tests.cli_processes import BIN, Process
from tests.netns import PretendLan, netns_available

TARGET_EXTRA = 0.2  # seconds ours may take beyond the floor, start to announced
BARE_TYPE = "_gptbench._tcp.local."
WAIT = 30.0  # seconds any one step may take before the round counts as failed
LISTEN_FIRST = 1.0  # seconds the browsers get to start listening before the first round

REGISTER = """
import asyncio, sys
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf
T = sys.argv[1]
async def main():
    zc = AsyncZeroconf()
    info = AsyncServiceInfo(T, "bench." + T, port=9, properties={"a": "b"},
                            server="bench.local.", parsed_addresses=[sys.argv[2]])
    await (await zc.async_register_service(info))
    print("registered", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await (await zc.async_unregister_service(info))
    await zc.async_close()
asyncio.run(main())
"""

BROWSE = """
import asyncio, sys, time
from zeroconf import ServiceStateChange
from zeroconf.asyncio import AsyncServiceBrowser, AsyncZeroconf
async def main():
    zc = AsyncZeroconf()
    def on(zeroconf, service_type, name, state_change):
        now = time.clock_gettime(time.CLOCK_MONOTONIC)
        if state_change is not ServiceStateChange.Updated:
            print(state_change.name.lower(), repr(now), flush=True)
    AsyncServiceBrowser(zc.zeroconf, sys.argv[1], handlers=[on])
    await asyncio.Event().wait()
asyncio.run(main())
"""


def clock() -> float:
    return time.clock_gettime(time.CLOCK_MONOTONIC)


async def start_in(ns: str, name: str, *argv: str, cwd: Path | None = None) -> Process:
    """``argv`` run in namespace ``ns``, with bytecode caches and unbuffered output."""
    proc = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", ns, *argv,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, env={**with_bytecode_caches(), "PYTHONUNBUFFERED": "1"},
        cwd=cwd,
    )  # fmt: skip
    return Process(proc, name)


@dataclass
class Times:
    """Seconds from start to announced and to seen, one of each per round."""

    announced: list[float] = field(default_factory=list)
    seen: list[float] = field(default_factory=list)


async def one_start(
    lan: PretendLan, browser: Process, ours: bool, times: Times, source: Path | None
) -> None:
    """Start the floor or ours (from ``source`` when given) in the LAN's first host, time it,
    and stop it again (waiting until the browser has seen it go, so that rounds do not
    overlap)."""
    start = clock()
    if ours:
        command = [str(BIN / "gptgroup-host")] if source is None else [
            sys.executable, "-m", "cli.host"]  # fmt: skip
        process = await start_in(
            lan.ns(1), "gptgroup-host", *command,
            "--port", "0", "--provider", "none", "--name", "Bench start-up", cwd=source,
        )  # fmt: skip
        announced = "^Announced on the local network"
    else:
        process = await start_in(
            lan.ns(1), "bare zeroconf", sys.executable, "-c", REGISTER, BARE_TYPE, lan.ipv4(1)
        )
        announced = "^registered$"
    try:
        await process.expect(announced, WAIT)
        times.announced.append(clock() - start)
        seen = await browser.expect(r"^added (\S+)$", WAIT)
        times.seen.append(float(seen.group(1)) - start)
        if ours:
            process.interrupt()
        else:
            await process.type("")
        await browser.expect("^removed ", WAIT)
        await process.wait(WAIT)
    finally:
        await process.kill()


async def run(rounds: int, json_path: Path | None, source: Path | None) -> int:
    if not netns_available():
        print("host_startup: needs root and iproute2 to make network namespaces")
        return 2
    floor, ours = Times(), Times()
    with PretendLan(2) as lan:
        browsers = [
            await start_in(lan.ns(2), f"browser of {t}", sys.executable, "-c", BROWSE, t)
            for t in (BARE_TYPE, SERVICE_TYPE)
        ]
        try:
            await asyncio.sleep(LISTEN_FIRST)
            for n in range(rounds + 1):  # the first round warms up (and writes the caches)
                kept_floor, kept_ours = (floor, ours) if n else (Times(), Times())
                await one_start(lan, browsers[0], False, kept_floor, None)
                await one_start(lan, browsers[1], True, kept_ours, source)
                if n:
                    print(f"round {n}: bare zeroconf announced {floor.announced[-1]:.3f} s, "
                          f"seen {floor.seen[-1]:.3f} s; gptgroup-host announced "
                          f"{ours.announced[-1]:.3f} s, seen {ours.seen[-1]:.3f} s")  # fmt: skip
        finally:
            for browser in browsers:
                await browser.kill()
    med = statistics.median
    rows = []
    for what in ("announced", "seen"):
        mine, base = med(getattr(ours, what)), med(getattr(floor, what))
        print(f"start to {what + ':':10} gptgroup-host {mine:.3f} s, bare zeroconf {base:.3f} s: "
              f"{mine - base:+.3f} s, x{mine / base:.2f}")  # fmt: skip
        measure = "host start to room " + ("announced" if what == "announced" else "seen on LAN")
        rows.append(
            Row("start-up", measure, mine, base, "s", "bare zeroconf registration",
                f"<= floor + {TARGET_EXTRA} s", mine - base <= TARGET_EXTRA)
        )  # fmt: skip
    if json_path is not None:
        write_json(json_path, rows, rounds=rounds, floor=vars(floor), ours=vars(ours))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--smoke", action="store_true", help="one round (after the warm-up)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the results there too")
    parser.add_argument("--host-source", type=Path, metavar="DIR",
                        help="run gptgroup-host from this source tree (to compare)")  # fmt: skip
    args = parser.parse_args(argv)
    source = args.host_source.resolve() if args.host_source else None
    return asyncio.run(run(1 if args.smoke else max(1, args.rounds), args.json, source))


if __name__ == "__main__":
    sys.exit(main())
