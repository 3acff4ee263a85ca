"""A stand-in assistant: a minimal OpenAI-compatible HTTP server on loopback.

It exists for ``gptgroup --self-test`` and for tests, never for real answers: an installation
proves that its assistant path works (the openai SDK and its HTTP stack, streaming, the relay)
without a provider, a key or a network beyond loopback. Its answer echoes the words of the
last user message ("You said: ..."), so whoever asked can tell that the prompt went through.

Usage::

    async with StandInAssistant() as stand_in:
        settings = ProviderSettings.from_preset(
            "compatible", base_url=stand_in.base_url, model=stand_in.model, api_key="x"
        )

What it answers, on ``127.0.0.1`` only, at a free port, one request per connection (every
response says ``Connection: close``):

* ``GET /v1/models``: a list of one model, :attr:`StandInAssistant.model`;
* ``POST /v1/chat/completions`` with ``"stream": true``: server-sent events, one
  ``chat.completion.chunk`` per word of the answer, :attr:`StandInAssistant.pace` seconds
  apart, then one with ``finish_reason`` ``"stop"``, then a usage chunk when the request asked
  for ``stream_options.include_usage``, then ``data: [DONE]``; the body is sent chunked, so a
  stream cut short can never pass for a whole one;
* the same without ``stream``: one ``chat.completion`` with the whole answer and its usage;
* anything else: an OpenAI-shaped JSON error (404 for an unknown path; 400 for a body that is
  not a chat request; 413 for a body over :data:`MAX_BODY_BYTES`; 431 for a head over
  :data:`MAX_HEAD_BYTES`; 411 for a body without ``Content-Length``).

Bounded: a request must arrive whole within :data:`READ_TIMEOUT` seconds, and the echo is
cut at :data:`MAX_ECHO_WORDS` words. Token counts in ``usage`` are rough (four characters a
token for the prompt, one a word for the answer): nothing may rely on them beyond being there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Self

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_HEAD_BYTES",
    "STAND_IN_MODEL",
    "StandInAssistant",
    "stand_in_answer",
]

STAND_IN_MODEL = "stand-in"
MAX_BODY_BYTES = 1024 * 1024
MAX_HEAD_BYTES = 16 * 1024
READ_TIMEOUT = 10.0
MAX_ECHO_WORDS = 200
LINGER_SECONDS = 2.0
"""How long a refused body is still read (and thrown away) after the refusal was sent: a
client that is still sending would otherwise meet a reset instead of reading the refusal."""
LINGER_BYTES = 64 * MAX_BODY_BYTES
"""How much of a refused body is read and thrown away at most."""

_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    411: "Length Required",
    413: "Payload Too Large",
    431: "Request Header Fields Too Large",
}
_WORDS = re.compile(r"\s*\S+")

JsonObject = dict[str, object]


def stand_in_answer(messages: object) -> str:
    """What the stand-in answers to a chat request's ``messages``: the words of the last user
    message, echoed (at most :data:`MAX_ECHO_WORDS`), or a sentence saying there was none."""
    words: list[str] = []
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, dict) and message.get("role") == "user":
            words = _text_of(message.get("content")).split()
            break
    if not words:
        return "You said nothing I could read."
    return "You said: " + " ".join(words[:MAX_ECHO_WORDS])


def _text_of(content: object) -> str:
    """The text of a message's ``content``: a string, or a list of parts with ``text``."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    headers: Mapping[str, str]  # lower-case names
    body: bytes


class _Refusal(Exception):
    """The request cannot be served; answer ``status`` with ``message``. ``unread`` is how
    many bytes of its body are still on the way (to be read and thrown away)."""

    def __init__(self, status: int, message: str, *, unread: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.unread = unread


class StandInAssistant:
    """The stand-in server; see the module docstring. Start it inside the running loop,
    :meth:`close` it (or use ``async with``). ``pace`` is the pause between streamed words:
    longer than the relay's 40 ms coalescing, so a room sees the answer grow in several
    deltas."""

    def __init__(self, *, model: str = STAND_IN_MODEL, pace: float = 0.06) -> None:
        self.model = model
        self.pace = pace
        self.requests = 0
        """Requests answered so far (refusals included)."""
        self._server: asyncio.Server | None = None
        self._closing = asyncio.Event()  # wakes handlers pausing between words
        self._connections: dict[asyncio.Task[object], asyncio.StreamWriter] = {}

    async def start(self) -> None:
        """Listen on ``127.0.0.1`` at a free port."""
        if self._server is not None:
            raise RuntimeError("the stand-in assistant is already running")
        self._closing.clear()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, limit=MAX_HEAD_BYTES)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the stand-in assistant is not running")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def base_url(self) -> str:
        """The base URL to give an OpenAI client: ``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    async def close(self) -> None:
        """Stop listening and drop every open connection; returns once their handlers have
        ended. Calling it again does nothing."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        self._closing.set()
        for writer in self._connections.values():
            writer.transport.abort()  # a handler mid-stream ends at its next write
        if self._connections:
            await asyncio.wait(list(self._connections))
        await server.wait_closed()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ----------------------------------------------------------------- one connection

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        try:
            await self._answer(reader, writer)
        except (ConnectionError, OSError):
            pass  # the client went away (or close() dropped it): nothing left to tell it
        finally:
            del self._connections[task]
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(READ_TIMEOUT):
                request = await _read_request(reader)
        except TimeoutError:
            return  # a client that sends nothing whole in time gets nothing
        except _Refusal as refusal:
            self.requests += 1
            await _send_json(writer, refusal.status, _error(refusal.message))
            await _discard(reader, writer, refusal.unread)
            return
        if request is None:
            return
        self.requests += 1
        if request.method == "GET" and request.path == "/v1/models":
            listing: JsonObject = {"object": "list", "data": [_model_object(self.model)]}
            await _send_json(writer, 200, listing)
        elif request.method == "POST" and request.path == "/v1/chat/completions":
            await self._chat(writer, request.body)
        else:
            message = f"Unknown request: {request.method} {request.path}"
            await _send_json(writer, 404, _error(message, code="not_found"))

    async def _chat(self, writer: asyncio.StreamWriter, body: bytes) -> None:
        try:
            chat = json.loads(body)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than Python recurses
            chat = None
        if not isinstance(chat, dict) or not isinstance(chat.get("messages"), list):
            await _send_json(writer, 400, _error("The body is not a chat completion request."))
            return
        answer = stand_in_answer(chat["messages"])
        words = _WORDS.findall(answer)
        usage = _usage(_prompt_chars(chat["messages"]) // 4, len(words))
        model = chat.get("model") if isinstance(chat.get("model"), str) else self.model
        reply_id = f"chatcmpl-standin{time.monotonic_ns()}"
        if chat.get("stream") is not True:
            message = {"role": "assistant", "content": answer, "refusal": None}
            completion = {
                **_envelope(reply_id, "chat.completion", model),
                "choices": [{"index": 0, "message": message, "finish_reason": "stop",
                             "logprobs": None}],
                "usage": usage,
            }  # fmt: skip
            await _send_json(writer, 200, completion)
            return
        options = chat.get("stream_options")
        with_usage = isinstance(options, dict) and options.get("include_usage") is True

        def event(choices: list[JsonObject], **extra: object) -> bytes:
            chunk = {**_envelope(reply_id, "chat.completion.chunk", model), "choices": choices}
            if with_usage:
                chunk["usage"] = None  # as the API does: null on every chunk but the last
            chunk.update(extra)
            return _http_chunk(b"data: " + json.dumps(chunk).encode() + b"\n\n")

        head = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
        writer.write(_head(200, head, chunked=True))
        for index, word in enumerate(words):
            if index and not await self._pause():
                return
            delta: JsonObject = {"content": word}
            if index == 0:
                delta["role"] = "assistant"
            writer.write(event([_choice(delta, None)]))
            await writer.drain()
        tail = event([_choice({}, "stop")])
        if with_usage:
            tail += event([], usage=usage)
        writer.write(tail + _http_chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
        await writer.drain()

    async def _pause(self) -> bool:
        """Wait :attr:`pace` seconds between words; False when :meth:`close` came first."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.pace):
                await self._closing.wait()
        return not self._closing.is_set()


# --------------------------------------------------------------------------- the wire


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    """One HTTP/1.1 request, or None when the client closed before sending any.

    Raises :class:`_Refusal` for a head or body the stand-in will not read."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise _Refusal(400, "The request ended inside its head.") from None
    except asyncio.LimitOverrunError:
        raise _Refusal(431, "The request head is too large.") from None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _Refusal(400, "Not an HTTP/1.1 request.")
    method, target, _version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    if "transfer-encoding" in headers:
        raise _Refusal(411, "Send the body with a Content-Length.")
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise _Refusal(400, "The Content-Length is not a number.") from None
    if length < 0:
        raise _Refusal(400, "The Content-Length is negative.")
    if length > MAX_BODY_BYTES:
        raise _Refusal(413, f"The body is over {MAX_BODY_BYTES} bytes.", unread=length)
    try:
        body = await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        raise _Refusal(400, "The body is shorter than its Content-Length.") from None
    return _Request(method, target.partition("?")[0], headers, body)


async def _discard(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, size: int) -> None:
    """Say we are done sending, then read and throw away up to ``size`` bytes (at most
    :data:`LINGER_BYTES`, for at most :data:`LINGER_SECONDS`): see :data:`LINGER_SECONDS`."""
    if size <= 0:
        return
    if writer.can_write_eof():
        writer.write_eof()
    left = min(size, LINGER_BYTES)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(LINGER_SECONDS):
            while left > 0 and (data := await reader.read(min(left, 65536))):
                left -= len(data)


def _head(status: int, headers: Mapping[str, str], *, length: int = 0, chunked: bool = False
          ) -> bytes:  # fmt: skip
    fields = {"Server": "gptgroup-stand-in", "Connection": "close", **headers}
    if chunked:
        fields["Transfer-Encoding"] = "chunked"
    else:
        fields["Content-Length"] = str(length)
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}"]
    lines += [f"{name}: {value}" for name, value in fields.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _send_json(writer: asyncio.StreamWriter, status: int, payload: JsonObject) -> None:
    body = json.dumps(payload).encode()
    writer.write(_head(status, {"Content-Type": "application/json"}, length=len(body)) + body)
    await writer.drain()


def _http_chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _error(message: str, *, code: str | None = None) -> JsonObject:
    return {"error": {"message": message, "type": "invalid_request_error", "param": None,
                      "code": code}}  # fmt: skip


def _envelope(reply_id: str, kind: str, model: object) -> JsonObject:
    return {"id": reply_id, "object": kind, "created": int(time.time()), "model": model,
            "system_fingerprint": None}  # fmt: skip


def _choice(delta: JsonObject, finish_reason: str | None) -> JsonObject:
    return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}


def _model_object(model: str) -> JsonObject:
    return {"id": model, "object": "model", "created": 0, "owned_by": "gptgroup-stand-in"}


def _usage(prompt: int, completion: int) -> JsonObject:
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}  # fmt: skip


def _prompt_chars(messages: list[object]) -> int:
    return sum(len(_text_of(m.get("content"))) for m in messages if isinstance(m, dict))
