"""``make bench``: every benchmark, each in processes of its own, and one table at the end.

    tests/isolated.sh .venv/bin/python -m bench.run_all                  # as make bench does
    tests/isolated.sh .venv/bin/python -m bench.run_all --smoke          # seconds each
    tests/isolated.sh .venv/bin/python -m bench.run_all --only fanout startup

Each benchmark of :data:`BENCHMARKS` runs as ``python -m bench.NAME --json FILE`` (with
``--smoke`` when asked), one after the other, so that no measured process shares the machine
with another benchmark; its own report goes by as it runs. Then one table (Markdown) gathers
every benchmark's rows (:class:`bench.report.Row`): ours, the floor or baseline measured in
the same run, their ratio, and the target. The table, the rows and the machine they ran on
(cores, CPU model, Python, load average before and after) are written as JSON to ``--json``.

Discovery and the host's start-up make network namespaces, so they need root (the others
run anyway, and the table says which could not). The exit status is 1 when a benchmark
failed or could not run, else 0; a target missed is in the table, not in the status.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.report import Row, load_rows

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_JSON = ROOT / "build" / "bench" / "results.json"


@dataclass(frozen=True)
class Benchmark:
    """One module of ``bench/``, with the arguments ``make bench`` gives it."""

    name: str
    args: tuple[str, ...] = ()
    qt: bool = False  # draws with Qt (offscreen)


BENCHMARKS = (
    Benchmark("fanout", ("--clients", "50", "100", "200")),
    Benchmark("assistant_latency"),
    Benchmark("discovery_times", ("--rounds", "5")),
    Benchmark("host_startup"),
    Benchmark("startup", qt=True),
    Benchmark("chat_view", qt=True),
    Benchmark("streaming", qt=True),
    Benchmark("file_transfer"),
)


@dataclass
class Outcome:
    """What one benchmark gave: its rows, or why it has none."""

    benchmark: Benchmark
    rows: list[Row]
    seconds: float
    problem: str | None = None


def run(benchmark: Benchmark, smoke: bool, where: Path) -> Outcome:
    """Run ``benchmark`` to the end, its output going by; its rows from its JSON."""
    out = where / f"{benchmark.name}.json"
    argv = [sys.executable, "-m", f"bench.{benchmark.name}", *benchmark.args, "--json", str(out)]
    if smoke:
        argv.append("--smoke")
    env = dict(os.environ)
    if benchmark.qt:
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    print(f"\n== {benchmark.name}{' (smoke)' if smoke else ''}", flush=True)
    start = time.monotonic()
    result = subprocess.run(argv, cwd=ROOT, env=env, check=False, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip
    seconds = time.monotonic() - start
    print(result.stdout, end="", flush=True)
    if result.returncode != 0 or not out.is_file():
        last = (result.stdout.strip().splitlines() or ["(no output)"])[-1]
        return Outcome(benchmark, [], seconds, f"exit status {result.returncode}: {last}")
    return Outcome(benchmark, load_rows(out), seconds)


def machine() -> dict[str, Any]:
    """What the numbers depend on: cores, CPU model, Python, the system's load."""
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def number(value: float, unit: str) -> str:
    if not math.isfinite(value):
        return "-"
    digits = 3 if abs(value) < 1 else 2 if abs(value) < 10 else 1 if abs(value) < 100 else 0
    return f"{value:,.{digits}f} {unit}"


def table(outcomes: list[Outcome]) -> str:
    """Every row of every benchmark, as one Markdown table (aligned, to read as text too)."""
    head = ["benchmark", "measure", "ours", "floor or baseline", "ratio", "target", "met"]
    lines: list[list[str]] = []
    for outcome in outcomes:
        if outcome.problem is not None:
            lines.append([outcome.benchmark.name, "not measured", "-", outcome.problem[:60],
                          "-", "-", "-"])  # fmt: skip
        for r in outcome.rows:
            met = {True: "yes", False: "NO", None: ""}[r.met]
            ratio = f"x{r.ratio:.2f}" if math.isfinite(r.ratio) else "-"
            base = f"{number(r.baseline, r.unit)} ({r.against})"
            lines.append([r.benchmark, r.measure, number(r.ours, r.unit), base, ratio, r.target,
                          met])  # fmt: skip
    widths = [max(len(x) for x in column) for column in zip(head, *lines, strict=True)]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(head), rule, *(line(cells) for cells in lines)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run_all", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="each benchmark's smoke size")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        choices=[b.name for b in BENCHMARKS], help="run only these")  # fmt: skip
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, metavar="PATH",
                        help="where to write the results (default: %(default)s)")  # fmt: skip
    args = parser.parse_args(argv)
    chosen = [b for b in BENCHMARKS if args.only is None or b.name in args.only]
    before = load_average()
    with tempfile.TemporaryDirectory(prefix="gptgroup-bench-") as where:
        outcomes = [run(b, args.smoke, Path(where)) for b in chosen]
    after = load_average()
    about = machine()
    text = table(outcomes)
    sizes = " (smoke sizes)" if args.smoke else ""
    print(f"\n{about['cores']} cores, {about['cpu']}, Python {about['python']}; load average "
          f"{before[:1] or '?'} before, {after[:1] or '?'} after{sizes}")  # fmt: skip
    print(text)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    results = {
        "machine": about, "load_average": {"before": before, "after": after},
        "smoke": args.smoke, "table": text,
        "benchmarks": {
            o.benchmark.name: {"seconds": round(o.seconds, 1), "problem": o.problem,
                               "rows": [r.as_json() for r in o.rows]}
            for o in outcomes
        },
    }  # fmt: skip
    args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"(written to {args.json})")
    return 1 if any(o.problem is not None for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
