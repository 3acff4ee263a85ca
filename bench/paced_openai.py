"""A small OpenAI-compatible server that streams stamped tokens at a steady pace, for benchmarks.

Every ``POST /v1/chat/completions`` with ``"stream": true`` gets ``tokens`` tokens, one every
``1 / rate`` seconds on a fixed schedule from the request's arrival (a late token does not
push the later ones back), each token the text ``"<k>:<ns> "``: its number from 0 and the
time it was written (``time.monotonic_ns()``, which every process of the machine reads alike),
so a reader anywhere on the machine can tell how long each token took to reach it. Requests
are answered concurrently, each on its own schedule; nothing else is slowed by a stream.

``GET /v1/models`` lists the one model; a request without ``stream`` gets the whole answer at
once. Everything is HTTP/1.1 with ``Connection: close``, streams sent chunked, as the real API
does; it listens on 127.0.0.1 only. Not a test double: it has no faults, only a pace.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

__all__ = ["PacedOpenAI", "token_text", "tokens_in"]

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024
READ_WAIT = 10.0  # seconds a request may take to arrive


def token_text(number: int) -> str:
    """Token ``number`` as the server writes it, stamped now."""
    return f"{number}:{time.monotonic_ns()} "


def tokens_in(text: str, start: int = 0) -> tuple[list[tuple[int, int]], int]:
    """The whole tokens (number, stamp in ns) in ``text`` from ``start`` on, and where the
    next one begins (a token cut at the end of ``text`` is left for later)."""
    found: list[tuple[int, int]] = []
    while (end := text.find(" ", start)) >= 0:
        number, _, stamp = text[start:end].partition(":")
        with contextlib.suppress(ValueError):  # not one of ours: skipped
            found.append((int(number), int(stamp)))
        start = end + 1
    return found, start


class PacedOpenAI:
    """The server; ``await start()``, then :attr:`port`; ``await close()`` when done."""

    def __init__(self, *, model: str, rate: float, tokens: int) -> None:
        self.model = model
        self.rate = rate
        self.tokens = tokens
        self.streams = 0  # streamed answers begun
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._handlers):
            task.cancel()
        if self._handlers:
            await asyncio.wait(self._handlers)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            request = await asyncio.wait_for(_read_request(reader), READ_WAIT)
            if request is not None:
                await self._answer(writer, *request)
        except (OSError, TimeoutError, ValueError, asyncio.IncompleteReadError):
            pass  # the client went away or sent nonsense: nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            self._handlers.discard(task)

    async def _answer(
        self, writer: asyncio.StreamWriter, method: str, path: str, body: Any
    ) -> None:
        path = path.split("?", 1)[0].rstrip("/")
        if method == "GET" and path == "/v1/models":
            model = {"id": self.model, "object": "model", "created": 0, "owned_by": "bench"}
            await _send_json(writer, 200, {"object": "list", "data": [model]})
        elif method == "GET" and path == f"/v1/models/{self.model}":
            await _send_json(writer, 200, {"id": self.model, "object": "model", "created": 0})
        elif method == "POST" and path == "/v1/chat/completions" and isinstance(body, dict):
            if body.get("stream"):
                await self._stream(writer)
            else:
                text = "".join(token_text(k) for k in range(self.tokens))
                await _send_json(writer, 200, _completion(self.model, text))
        else:
            error = {"message": f"no {method} {path} here", "type": "invalid_request_error"}
            await _send_json(writer, 404, {"error": error})

    async def _stream(self, writer: asyncio.StreamWriter) -> None:
        """The tokens on their schedule, then the end of the answer and its usage."""
        self.streams += 1
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
            "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode())
        base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0,
                "model": self.model}  # fmt: skip
        loop = asyncio.get_running_loop()
        start = loop.time()
        for number in range(self.tokens):
            await asyncio.sleep(max(0.0, start + number / self.rate - loop.time()))
            delta = {"content": token_text(number)}
            if number == 0:
                delta["role"] = "assistant"
            choice = {"index": 0, "delta": delta, "finish_reason": None}
            writer.write(_chunk(_event({**base, "choices": [choice]})))
            await writer.drain()  # a reader that does not keep up holds its own stream only
        end = {"index": 0, "delta": {}, "finish_reason": "stop"}
        usage = {"prompt_tokens": 10, "completion_tokens": self.tokens,
                 "total_tokens": 10 + self.tokens}  # fmt: skip
        tail = _chunk(_event({**base, "choices": [end]}))
        tail += _chunk(_event({**base, "choices": [], "usage": usage}))
        tail += _chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n"
        writer.write(tail)
        await writer.drain()


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, Any] | None:
    """Method, path and JSON body (None when there is none) of one request."""
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > MAX_HEADER_BYTES:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    if not 0 <= length <= MAX_BODY_BYTES:
        return None
    body = json.loads(await reader.readexactly(length)) if length else None
    return method, path, body


async def _send_json(writer: asyncio.StreamWriter, status: int, payload: Any) -> None:
    body = json.dumps(payload).encode()
    reason = {200: "OK", 404: "Not Found"}[status]
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode() + body)
    await writer.drain()


def _completion(model: str, text: str) -> dict[str, Any]:
    message = {"role": "assistant", "content": text}
    return {
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
    }  # fmt: skip


def _event(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"
