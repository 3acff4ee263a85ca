"""Every benchmark of ``make bench`` at its smoke size, so that the harness cannot rot.

Each runs as ``make bench`` runs it (``python -m bench.NAME --smoke --json FILE``, in processes
of its own, inside the test's network namespace) and must produce rows that measured
something: ours and the floor or baseline beside it. The numbers of a smoke run mean
nothing; only that every part of each benchmark still works.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.report import load_rows
from bench.run_all import BENCHMARKS, Benchmark
from tests.netns import require_netns

ROOT = Path(__file__).resolve().parents[1]
NEEDS_NAMESPACES = {"discovery_times", "host_startup"}
# Helpers of the others.
NOT_BENCHMARKS = {"__init__", "report", "run_all", "paced_openai", "children"}
# Benchmarks run on demand only, each saying so in its docstring: none of make bench's table.
ON_DEMAND = {"sensitive"}


def run_python(*args: str, qt: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **({"QT_QPA_PLATFORM": "offscreen"} if qt else {})}
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=100, check=False,
    )  # fmt: skip


def test_every_benchmark_is_in_make_bench() -> None:
    modules = {p.stem for p in (ROOT / "bench").glob("*.py")} - NOT_BENCHMARKS - ON_DEMAND
    assert modules == {b.name for b in BENCHMARKS}


@pytest.mark.parametrize("benchmark", BENCHMARKS, ids=lambda b: b.name)
def test_each_benchmark_measures_at_its_smoke_size(benchmark: Benchmark, tmp_path: Path) -> None:
    if benchmark.name in NEEDS_NAMESPACES:
        require_netns()
    out = tmp_path / "rows.json"
    result = run_python("-m", f"bench.{benchmark.name}", "--smoke", "--json", str(out),
                        qt=benchmark.qt)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    rows = load_rows(out)
    assert rows, result.stdout
    for row in rows:
        assert math.isfinite(row.ours) and row.ours > 0, row
        assert math.isfinite(row.baseline) and row.baseline > 0, row
        assert row.met is None or row.target, row  # a verdict always says what it judged


def test_make_bench_prints_one_table_and_writes_it(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    result = run_python("-m", "bench.run_all", "--smoke", "--only", "file_transfer", "--json",
                        str(out))  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    results = json.loads(out.read_text(encoding="utf-8"))
    assert results["machine"]["cores"] == os.cpu_count()
    rows = results["benchmarks"]["file_transfer"]["rows"]
    assert rows and results["table"] in result.stdout
    assert all(row["measure"] in results["table"] for row in rows)


def test_a_room_without_an_assistant_never_loads_the_sdk() -> None:
    """What keeps the host's start-up near the floor (bench.host_startup): the openai SDK
    is executed only once a provider is made, neither by the host nor by the app's lobby."""
    code = (
        "import sys\n"
        "import cli.host, core.hosting, desktop.app\n"
        "print(sorted(m for m in sys.modules if m.startswith(('openai.', 'httpx2.'))))\n"
    )
    result = run_python("-c", code, qt=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
