"""What every benchmark hands ``make bench`` (:mod:`bench.run_all`): rows of one table.

Each benchmark measures ours against a floor or a baseline measured in the same run, so a
row holds both, their ratio (the figure that compares across machines), and the target it is
held to, if any. ``--json PATH`` makes a benchmark write its rows there (and whatever details
it likes beside them), for :mod:`bench.run_all` to gather into one table.

Start-up benchmarks start their processes with :func:`with_bytecode_caches`.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["Row", "load_rows", "with_bytecode_caches", "write_json"]


@dataclass(frozen=True)
class Row:
    """One line of the table: ``ours`` against ``baseline`` (named ``against``), in ``unit``.

    ``target`` says in words what ours is held to; ``met`` whether this run met it (None:
    no target, or not measurable in this run, e.g. at a smoke size).
    """

    benchmark: str
    measure: str
    ours: float
    baseline: float
    unit: str
    against: str
    target: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> float:
        if self.baseline > 0 and math.isfinite(self.baseline) and math.isfinite(self.ours):
            return self.ours / self.baseline
        return math.nan

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": _finite(self.ratio)} | {
            "ours": _finite(self.ours),
            "baseline": _finite(self.baseline),
        }


def _finite(value: float) -> float | None:
    """JSON has no NaN: a value this run could not measure is null."""
    return value if math.isfinite(value) else None


def write_json(path: Path, rows: list[Row], **details: Any) -> None:
    """Write ``rows`` (and ``details``, as they are) to ``path`` as JSON."""
    body = {"rows": [row.as_json() for row in rows], **details}
    path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")


def load_rows(path: Path) -> list[Row]:
    """The rows a benchmark wrote with :func:`write_json`."""
    rows = json.loads(path.read_text(encoding="utf-8"))["rows"]
    fields = {"benchmark", "measure", "unit", "against", "target", "met"}
    return [
        Row(
            ours=math.nan if r["ours"] is None else float(r["ours"]),
            baseline=math.nan if r["baseline"] is None else float(r["baseline"]),
            **{k: v for k, v in r.items() if k in fields},
        )
        for r in rows
    ]


def with_bytecode_caches() -> dict[str, str]:
    """This process's environment, less what would stop Python from using (and writing) its
    bytecode caches: a process started with it starts as an installed program does (pip
    compiles a wheel's modules as it installs them; the frozen app carries them)."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
