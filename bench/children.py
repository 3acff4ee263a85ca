"""The processes a benchmark runs beside the one it measures, spoken to by lines on their
stdin and stdout (JSON, one object a line); each one's stderr goes to a file, shown when it
fails. Shared by the benchmarks that run their own servers and clients
(:mod:`bench.fanout`, :mod:`bench.assistant_latency`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any

__all__ = ["LINE_LIMIT", "STOP_WAIT", "BenchError", "Child"]

ROOT = Path(__file__).resolve().parent.parent
LINE_LIMIT = 1 << 28  # a process's report carries every delay it measured
STOP_WAIT = 15.0  # seconds a process may take to close its sockets and end


class BenchError(Exception):
    """Something the benchmark needs could not start or answer; the text says what."""


class Child:
    """One process of a benchmark (see the module docstring)."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process, stderr: IO[bytes]) -> None:
        self.name = name
        self.proc = proc
        self._stderr = stderr

    @classmethod
    async def start(
        cls, name: str, argv: list[str], *, cwd: Path = ROOT, env: dict[str, str] | None = None
    ) -> Child:
        """Start ``argv`` as ``name`` (the name its errors are told by)."""
        stderr = tempfile.TemporaryFile()  # noqa: SIM115 (the child's, closed by stop())
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=stderr, cwd=cwd, env=env, limit=LINE_LIMIT,
            )  # fmt: skip
        except OSError as exc:
            stderr.close()
            raise BenchError(f"cannot start {name}: {exc}") from exc
        return cls(name, proc, stderr)

    def write(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")

    async def line(self, wait: float) -> str:
        """The next line the process prints; raises :class:`BenchError` when it ends or says
        nothing for ``wait`` seconds."""
        assert self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), wait)
        except TimeoutError:
            why = f"{self.name} did not answer within {wait:.0f} s{self._tail()}"
            raise BenchError(why) from None
        if not line:
            code = await self.proc.wait()
            raise BenchError(f"{self.name} stopped (exit code {code}){self._tail()}")
        return line.decode(errors="replace")

    async def read(self, wait: float) -> dict[str, Any]:
        """The next line of JSON from the process; raises :class:`BenchError` when it reports
        an error, ends, or says nothing in time."""
        reply: dict[str, Any] = json.loads(await self.line(wait))
        if "error" in reply:
            raise BenchError(f"{self.name}: {reply['error']}")
        return reply

    def cpu_seconds(self) -> float:
        """The process's CPU time so far (user and system), from /proc."""
        with open(f"/proc/{self.proc.pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    async def stop(self, *, by_stdin: bool = True) -> None:
        """End the process: by closing its stdin (unless not ``by_stdin``: for one that reads
        none), then by SIGTERM, then by SIGKILL."""
        try:
            if self.proc.returncode is None and self.proc.stdin is not None:
                self.proc.stdin.close()
            first = [None] if by_stdin else []
            for escalate in (*first, self.proc.terminate, self.proc.kill):
                if self.proc.returncode is not None:
                    break
                if escalate is not None:
                    with contextlib.suppress(ProcessLookupError):
                        escalate()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.proc.wait(), STOP_WAIT if escalate is None else 3)
        finally:
            self._stderr.close()

    def _tail(self) -> str:
        self._stderr.seek(0)
        lines = self._stderr.read().decode(errors="replace").strip().splitlines()[-8:]
        return "".join(f"\n    {line}" for line in lines)
