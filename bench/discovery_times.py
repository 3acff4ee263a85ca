"""How fast rooms appear in and vanish from another machine's list, on a pretend LAN.

Run as root (it makes network namespaces; nothing touches a real interface):

    make bench            # or: .venv/bin/python -m bench.discovery_times --rounds 5
    .venv/bin/python -m bench.discovery_times --smoke --json out.json   # one round

Each round measures, between two namespaces:

* baseline: a bare zeroconf registration seen by a bare zeroconf browser (appear), and its
  unregistration (goodbye), with no GPT Group code involved;
* ours: ``gptgroup-host`` seen by ``gptgroup-chat --list --watch`` (appear: announce, resolve
  and the reachability check), a clean close (goodbye), and a killed host (crash, bounded by the
  browser's reachability checks).

Results are medians, reported as ratios against the baseline of the same run, so they compare
across machines; the crash time is compared with the bound the docs promise.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

from bench.report import Row, write_json
from tests.cli_processes import Process
from tests.netns import PretendLan, netns_available

CHECK_INTERVAL = 1.0  # the watcher's reachability check, as in the tests
FAILURES_TO_DROP = 2
PROBE_TIMEOUT = 2.0

BARE = r"""
import asyncio, sys
from zeroconf import ServiceStateChange
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf
T = "_gptbench._tcp.local."
async def main():
    zc = AsyncZeroconf()
    if sys.argv[1] == "browse":
        def on(zeroconf, service_type, name, state_change):
            kind = "added" if state_change is ServiceStateChange.Added else (
                "removed" if state_change is ServiceStateChange.Removed else "updated")
            print(kind, flush=True)
        AsyncServiceBrowser(zc.zeroconf, T, handlers=[on])
        await asyncio.Event().wait()
    info = AsyncServiceInfo(T, "bench." + T, port=9, properties={"a": "b"},
                            server="bench.local.", parsed_addresses=[sys.argv[2]])
    await (await zc.async_register_service(info))
    print("registered", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await (await zc.async_unregister_service(info))
    print("unregistered", flush=True)
    await zc.async_close()
asyncio.run(main())
"""


async def python_in(ns: str, *args: str) -> Process:
    proc = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", ns, sys.executable, "-c", BARE, *args,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    return Process(proc, "bare zeroconf")


async def baseline_round(lan: PretendLan) -> tuple[float, float]:
    browser = await python_in(lan.ns(2), "browse")
    await asyncio.sleep(1.0)  # the browser is listening before anything is announced
    host = await python_in(lan.ns(1), "register", lan.ipv4(1))
    try:
        start = time.monotonic()
        await browser.expect("^added$", 20)
        appear = time.monotonic() - start
        await host.type("")
        start = time.monotonic()
        await browser.expect("^removed$", 20)
        return appear, time.monotonic() - start
    finally:
        await host.kill()
        await browser.kill()


async def our_round(lan: PretendLan) -> tuple[float, float, float]:
    watcher = await Process.start(
        "gptgroup-chat", "--list", "--watch", "--check-interval", str(CHECK_INTERVAL),
        netns=lan.ns(2),
    )  # fmt: skip
    await asyncio.sleep(1.0)
    times: list[float] = []
    try:
        for crash in (False, True):
            start = time.monotonic()
            host = await Process.start(
                "gptgroup-host", "--port", "0", "--provider", "none", "--name", "Bench",
                netns=lan.ns(1),
            )  # fmt: skip
            await watcher.expect("^added: ", 30)
            if not crash:
                times.append(time.monotonic() - start)
                host.interrupt()
            start = time.monotonic()
            if crash:
                host.proc.kill()
            await watcher.expect("^removed: ", 30)
            times.append(time.monotonic() - start)
            await host.kill()
    finally:
        await watcher.kill()
    return times[0], times[1], times[2]


async def run(rounds: int, json_path: Path | None) -> int:
    if not netns_available():
        print("discovery_times: needs root and iproute2 to make network namespaces")
        return 2
    base_appear, base_goodbye, appear, goodbye, crash = [], [], [], [], []
    with PretendLan(2) as lan:
        for n in range(1, rounds + 1):
            a, g = await baseline_round(lan)
            base_appear.append(a)
            base_goodbye.append(g)
            a, g, c = await our_round(lan)
            appear.append(a)
            goodbye.append(g)
            crash.append(c)
            print(f"round {n}: baseline appear {base_appear[-1]:.2f} s, goodbye "
                  f"{base_goodbye[-1]:.2f} s; ours appear {a:.2f} s, goodbye {g:.2f} s, "
                  f"crash {c:.2f} s")  # fmt: skip
    med = statistics.median
    bound = FAILURES_TO_DROP * (CHECK_INTERVAL + PROBE_TIMEOUT)
    print()
    print(
        f"time to appear:          {med(appear):.2f} s = {med(appear) / med(base_appear):.2f}"
        f" x bare zeroconf ({med(base_appear):.2f} s; ours includes starting the host)"
    )
    print(
        f"time to vanish, closed:  {med(goodbye):.2f} s = "
        f"{med(goodbye) / max(med(base_goodbye), 1e-3):.2f} x bare zeroconf goodbye "
        f"({med(base_goodbye):.2f} s)"
    )
    print(
        f"time to vanish, crashed: {med(crash):.2f} s = {med(crash) / bound:.2f} x the "
        f"documented bound ({bound:.1f} s at a {CHECK_INTERVAL:.0f} s check interval)"
    )
    if json_path is not None:
        bare = "bare zeroconf"
        rows = [
            Row("discovery", "a room appears", med(appear), med(base_appear), "s", bare),
            Row("discovery", "a closed room vanishes", med(goodbye), med(base_goodbye), "s",
                f"{bare} goodbye"),
            Row("discovery", "a crashed room vanishes", med(crash), bound, "s",
                "documented bound", "<= the bound", med(crash) <= bound),
        ]  # fmt: skip
        write_json(json_path, rows, rounds=rounds)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="one round")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the results there too")
    args = parser.parse_args(argv)
    return asyncio.run(run(1 if args.smoke else args.rounds, args.json))


if __name__ == "__main__":
    sys.exit(main())
