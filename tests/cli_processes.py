"""Run ``gptgroup-host`` and ``gptgroup-chat`` as real processes and talk to them by line."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


class Process:
    """A child process whose output is read line by line while a test waits for lines."""

    def __init__(self, proc: asyncio.subprocess.Process, name: str) -> None:
        self.proc = proc
        self.name = name
        self.lines: list[str] = []
        self._seen = 0  # lines before this index were already matched past
        self._stderr: asyncio.Task[bytes] | None = None
        if proc.stderr is not None:  # kept apart: read all along, so the pipe never fills
            self._stderr = asyncio.create_task(proc.stderr.read())

    @classmethod
    async def start(
        cls,
        command: str,
        *args: str,
        env: dict[str, str] | None = None,
        cwd: str | None = None,
        netns: str | None = None,
        stderr_apart: bool = False,
    ) -> Process:
        """Start ``command`` (a script of this environment), inside network namespace
        ``netns`` when given. Its stderr joins :attr:`lines` unless ``stderr_apart``, when
        :meth:`stderr_text` returns it once the process has ended."""
        prefix = ["ip", "netns", "exec", netns] if netns else []
        proc = await asyncio.create_subprocess_exec(
            *prefix,
            str(BIN / command),
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE if stderr_apart else asyncio.subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
            cwd=cwd,
        )
        return cls(proc, command)

    async def expect(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        """Wait for an output line matching ``pattern`` (a regex) after the last line matched.

        Every line is kept in :attr:`lines`; each match moves past the line it matched, so
        expecting the same text twice waits for it to be printed twice.
        """
        regex = re.compile(pattern)
        for index in range(self._seen, len(self.lines)):
            if m := regex.search(self.lines[index]):
                self._seen = index + 1
                return m
        assert self.proc.stdout is not None

        async def read() -> re.Match[str]:
            while True:
                raw = await self.proc.stdout.readline()  # type: ignore[union-attr]
                if not raw:
                    raise AssertionError(
                        f"{self.name} ended before printing {pattern!r}; it printed:\n"
                        + "\n".join(self.lines)
                    )
                line = raw.decode().rstrip("\n")
                self.lines.append(line)
                if m := regex.search(line):
                    self._seen = len(self.lines)
                    return m

        try:
            return await asyncio.wait_for(read(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"{self.name} did not print {pattern!r} in {timeout} s; it printed:\n"
                + "\n".join(self.lines)
            ) from None

    async def type(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((line + "\n").encode())
        await self.proc.stdin.drain()

    def end_input(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    def interrupt(self) -> None:
        self.proc.send_signal(signal.SIGINT)

    async def wait(self, timeout: float = 10.0) -> int:
        assert self.proc.stdout is not None
        rest = await asyncio.wait_for(self.proc.stdout.read(), timeout)
        self.lines += rest.decode().splitlines()
        return await asyncio.wait_for(self.proc.wait(), timeout)

    async def stderr_text(self, timeout: float = 10.0) -> str:
        """Everything the process wrote to stderr (started with ``stderr_apart``)."""
        assert self._stderr is not None, "start the process with stderr_apart=True"
        return (await asyncio.wait_for(self._stderr, timeout)).decode(errors="replace")

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


async def start_host(
    *args: str, env: dict[str, str] | None = None, cwd: str | None = None
) -> tuple[Process, str, str]:
    """Start a headless host on loopback; returns it with its address and host key.

    The room is not announced over mDNS (``--no-advertise``): discovery is tested only in
    network namespaces made for it (tests/netns.py), never on this machine's interfaces.
    """
    host = await Process.start(
        "gptgroup-host", "--bind", "127.0.0.1", "--port", "0", "--no-advertise", *args,
        env=env, cwd=cwd,
    )  # fmt: skip
    address = (await host.expect(r"gptgroup-chat (\S+) --name")).group(1)
    key = (await host.expect(r"GPTGROUP_HOST_KEY=(\S+) gptgroup-chat")).group(1)
    return host, address, key
