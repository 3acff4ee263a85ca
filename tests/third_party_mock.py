"""LLMock, an OpenAI-compatible mock server from PyPI (``llmock``, MIT) that the project did not
write, run as a separate process on loopback and scripted over its own HTTP control API.

The project's own fake (:mod:`tests.fake_openai`) says exactly what we think a provider does;
this one says what somebody else thinks, so the assistant is also tried against a server
whose SSE framing, error bodies and ``Retry-After`` headers we did not choose.

What LLMock can script per request (see :func:`reply`, :func:`fail`, :func:`stream_fault`):
an answer's text and ``finish_reason``; an HTTP error with its ``Retry-After`` (sent both as
``retry-after`` and ``retry-after-ms``); a stream broken after N chunks (``disconnect``: the
connection dropped, ``truncate``: a clean end without finish reason or ``[DONE]``, ``stall``:
nothing sent for a while, ``malformed``: a chunk that is not JSON). Chunk pacing is a setting of
the whole server (``--stream-chunk-delay-ms``). What it cannot do: send SSE keep-alive comments,
so a stall it makes is a silent one.

Chunk 0 of an LLMock stream is the role chunk (no text); text starts at chunk 1, one word per
chunk. A scripted reply and a stream fault are separate queues: one request takes the first
of each, so a broken request uses up a reply too.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from pathlib import Path
from typing import Any

import httpx2

__all__ = ["LLMockProcess", "fail", "reply", "stream_fault"]

LLMOCK = Path(sys.executable).parent / "llmock"
HOST = "127.0.0.1"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 3.0
CHAT_PATH = "/v1/chat/completions"
_READY = "Uvicorn running on"


def reply(text: str, *, finish_reason: str | None = None) -> dict[str, Any]:
    """The next request's answer: ``text``, streamed a word per chunk, ending with
    ``finish_reason`` (``"stop"`` unless given)."""
    return {"type": "reply", "text": text, "finish_reason": finish_reason}


def fail(
    status: int, *, retry_after: float | None = None, code: str | None = None
) -> dict[str, Any]:
    """The next request fails with HTTP ``status`` (an OpenAI-shaped error body), asking for
    ``retry_after`` seconds when given."""
    return {"type": "fail", "status": status, "retry_after": retry_after, "code": code}


def stream_fault(kind: str, *, after_chunks: int, stall_seconds: float = 30.0) -> dict[str, Any]:
    """The next stream breaks (``kind``: disconnect, truncate, stall, malformed) once
    ``after_chunks`` chunks have gone out."""
    return {
        "type": "stream_fault", "kind": kind, "after_chunks": after_chunks,
        "stall_seconds": stall_seconds,
    }  # fmt: skip


class LLMockProcess:
    """One ``llmock serve`` process on ``127.0.0.1``. Start with :meth:`start`; always
    :meth:`aclose` (it kills the process if it will not stop)."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc = proc
        self.port = port
        self.output: list[str] = []  # everything it printed, for a failing test's report
        self._control = httpx2.AsyncClient(
            base_url=f"http://{HOST}:{port}", trust_env=False, timeout=10.0
        )
        self._drain: asyncio.Task[None] | None = None

    @property
    def base_url(self) -> str:
        """The OpenAI base URL to give a client."""
        return f"http://{HOST}:{self.port}/v1"

    @classmethod
    async def start(cls, *options: str, attempts: int = 3) -> LLMockProcess:
        """Start LLMock on a free loopback port (``options``: more ``llmock serve`` options)
        and return once it answers. The port is chosen here and may be taken by someone else
        before LLMock binds it: then another port is tried, ``attempts`` times in all."""
        for attempt in range(1, attempts + 1):
            port = _free_port()
            server = cls(await _spawn(port, options), port)
            try:
                await asyncio.wait_for(server._until_ready(), START_TIMEOUT)
                if server.proc.returncode is None:
                    server._drain = asyncio.create_task(server._read_output())
                    health = await server._control.get("/health")
                    assert health.status_code == 200 and health.json()["status"] == "ok"
                    return server
            except BaseException:
                await server.aclose()
                raise
            await server.aclose()
            if attempt == attempts:
                raise RuntimeError("llmock did not start:\n" + "\n".join(server.output))
        raise ValueError(f"attempts must be at least 1, not {attempts}")

    async def _until_ready(self) -> None:
        """Read its output until uvicorn says it listens, or the process ends (a port that
        was taken after all)."""
        assert self.proc.stdout is not None
        while True:
            raw = await self.proc.stdout.readline()
            if not raw:
                await self.proc.wait()
                return
            line = raw.decode(errors="replace").rstrip("\n")
            self.output.append(line)
            if _READY in line:
                return

    async def _read_output(self) -> None:
        """Keep reading, so the pipe never fills and blocks the server."""
        assert self.proc.stdout is not None
        while raw := await self.proc.stdout.readline():
            self.output.append(raw.decode(errors="replace").rstrip("\n"))

    async def script(self, *behaviors: dict[str, Any]) -> None:
        """Queue ``behaviors`` (see :func:`reply`, :func:`fail`, :func:`stream_fault`) for
        the requests to come, in order."""
        response = await self._control.post("/_llmock/scenario", json={"behaviors": behaviors})
        assert response.status_code == 201, response.text

    async def chat_requests(self) -> list[dict[str, Any]]:
        """LLMock's record of every chat completion request so far, oldest first: ``body``,
        ``status``, ``fault`` (e.g. ``"stream:stall@1"``), ``chunks_sent``, ``stall_waited``,
        ``started_at`` and ``ended_at`` (seconds on the server's monotonic clock), ...
        Requests still in flight are waited for (up to 2 s, by LLMock)."""
        response = await self._control.get("/_llmock/requests")
        assert response.status_code == 200, response.text
        records: list[dict[str, Any]] = response.json()["requests"]
        return [r for r in records if r["path"] == CHAT_PATH]

    async def aclose(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL after :data:`STOP_TIMEOUT`) and wait for
        it. Safe to call more than once."""
        await self._control.aclose()
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), STOP_TIMEOUT)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()
        if self._drain is not None:
            await asyncio.wait_for(self._drain, STOP_TIMEOUT)  # ends at the pipe's end


def _free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


async def _spawn(port: int, options: tuple[str, ...]) -> asyncio.subprocess.Process:
    """``llmock serve`` on ``HOST:port``, its stderr joined to its stdout. Settings it would
    take from the environment (``LLMOCK_*``) are left out, so only ``options`` apply."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMOCK_")}
    return await asyncio.create_subprocess_exec(
        str(LLMOCK), "serve", "--host", HOST, "--port", str(port), "--log-level", "info",
        *options,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**env, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"},
    )  # fmt: skip
