"""How long the app takes from launch to the lobby on the screen: from source and frozen.

Run on demand (``make bench`` runs it inside a private network namespace, since the lobby
starts looking for rooms at once):

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m bench.startup
    QT_QPA_PLATFORM=offscreen .venv/bin/python -m bench.startup --frozen dist/gptgroup/gptgroup
    QT_QPA_PLATFORM=offscreen .venv/bin/python -m bench.startup --smoke --json out.json

Each command is a whole new process, timed from its start until it prints ``lobby shown``
(``--startup-probe``: the window's first paint, with discovery started), over ``--rounds``
rounds that take the commands in turn so that a drift of the machine's speed touches each
alike. The baseline, measured in the same run, is the least any PySide6 app pays:
``python -c "import PySide6.QtWidgets"``. The figures to compare across machines are the
ratios to that baseline; the medians in seconds are this machine's. The target: the lobby on
the screen at most :data:`TARGET_SECONDS` after launch.

Every command runs with Python's bytecode caches, as an installed app does (pip compiles a
wheel's modules as it installs them; the frozen app carries them): a
``PYTHONDONTWRITEBYTECODE`` in the environment is left out, so the warm-up round writes them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.report import Row, with_bytecode_caches, write_json
from desktop.app import LOBBY_SHOWN

__all__ = ["Command", "main", "measure", "time_until"]

DEFAULT_FROZEN = Path("dist") / "gptgroup" / "gptgroup"
TARGET_SECONDS = 0.8


@dataclass(frozen=True)
class Command:
    """A command to time: its label, its arguments, and the line that ends the timing
    (``None``: the process's exit)."""

    label: str
    argv: list[str]
    until: str | None


def time_until(command: Command, timeout: float = 60.0) -> float:
    """Seconds from starting ``command`` until it printed ``command.until`` (or exited).
    Raises :class:`RuntimeError` when it failed or never printed the line."""
    env = with_bytecode_caches()
    start = time.perf_counter()
    with subprocess.Popen(
        command.argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    ) as process:
        assert process.stdout is not None
        if command.until is None:
            status = process.wait(timeout)
            elapsed = time.perf_counter() - start
            if status != 0:
                raise RuntimeError(f"{command.label}: exit status {status}")
            return elapsed
        for line in process.stdout:
            if line.strip() == command.until:
                elapsed = time.perf_counter() - start
                process.wait(timeout)
                return elapsed
        raise RuntimeError(f"{command.label}: ended without printing {command.until!r}")


def measure(commands: list[Command], rounds: int) -> dict[str, list[float]]:
    """Each command once per round, in turn, after one warm-up round that is not kept."""
    times: dict[str, list[float]] = {c.label: [] for c in commands}
    for round_number in range(rounds + 1):
        for command in commands:
            elapsed = time_until(command)
            if round_number:
                times[command.label].append(elapsed)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--smoke", action="store_true", help="one round (after the warm-up)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the results there too")
    parser.add_argument(
        "--frozen", type=Path, default=DEFAULT_FROZEN,
        help="the frozen app (make package); left out when absent",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.smoke:
        args.rounds = 1
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    baseline = Command(
        "import PySide6.QtWidgets", [sys.executable, "-c", "import PySide6.QtWidgets"], None
    )
    commands = [
        baseline,
        Command(
            "app from source", [sys.executable, "-m", "desktop", "--startup-probe"], LOBBY_SHOWN
        ),
    ]
    if args.frozen.is_file():
        commands.append(Command("frozen app", [str(args.frozen), "--startup-probe"], LOBBY_SHOWN))
    else:
        print(f"(no frozen app at {args.frozen}: run make package to measure it too)")
    try:
        times = measure(commands, args.rounds)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        print(f"startup: {exc}", file=sys.stderr)
        return 1
    base = statistics.median(times[baseline.label])
    print(f"Launch to lobby shown, median of {args.rounds} runs each:")
    for command in commands:
        median = statistics.median(times[command.label])
        spread = f"{min(times[command.label]):.3f}-{max(times[command.label]):.3f}"
        print(f"  {command.label:<26} {median:6.3f} s  ({spread})  {median / base:5.2f}x baseline")
    if args.json is not None:
        target = f"<= {TARGET_SECONDS} s"
        rows = [
            Row("start-up", f"app launch to lobby shown ({command.label})",
                statistics.median(times[command.label]), base, "s", baseline.label, target,
                statistics.median(times[command.label]) <= TARGET_SECONDS)
            for command in commands[1:]
        ]  # fmt: skip
        write_json(args.json, rows, rounds=args.rounds, seconds=times)
    return 0


if __name__ == "__main__":
    sys.exit(main())
