"""A fake OpenAI-compatible server on loopback, for testing the AI relay against the real SDK.

:class:`FakeOpenAI` is a real HTTP/1.1 server built on :func:`asyncio.start_server`. It listens
on ``127.0.0.1`` only, on a free port, and runs on the test's own event loop::

    async with FakeOpenAI() as fake:
        fake.script(Reply(["Hi", "!"], delay=0.05), Fail(429, "rate_limit_exceeded", "Slow down"))
        client = AsyncOpenAI(api_key="sk-test", base_url=fake.base_url, max_retries=0)
        ...
        assert fake.authorizations == ["Bearer sk-test", "Bearer sk-test"]

Wire format, as the real API does it: every response carries ``Connection: close`` (one request
per connection); JSON bodies have a ``Content-Length``; streams are ``text/event-stream`` sent with
``Transfer-Encoding: chunked``, so a connection that ends before the terminating chunk is a
protocol error to the client and can never pass for a complete stream.

Chat completions are answered by *behaviours* (:class:`Reply`, :class:`Reasoning`, :class:`Fail`,
:class:`Cut`, :class:`Hang`, :class:`StreamError`, :class:`KeepAlive`, :class:`IgnoresStream`):
:meth:`FakeOpenAI.script` queues them, one is consumed per ``POST /v1/chat/completions`` request,
and :attr:`FakeOpenAI.default` answers once the queue is empty.

Beside the OpenAI API under ``/v1``, the fake answers two native endpoints at its root
(:attr:`FakeOpenAI.root_url`) that say what a model can do: Ollama's ``POST /api/show`` and
LM Studio's ``GET /api/v0/models/{id}``, for the models given in ``capabilities``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import struct
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self

__all__ = [
    "Behaviour",
    "Cut",
    "Fail",
    "FakeOpenAI",
    "Hang",
    "IgnoresStream",
    "KeepAlive",
    "Raw",
    "Reasoning",
    "RecordedRequest",
    "Reply",
    "StreamError",
]

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    431: "Request Header Fields Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


# --------------------------------------------------------------------------------------------
# Behaviours


@dataclass(frozen=True)
class Reply:
    """Answer with ``tokens``.

    Streaming requests get one ``chat.completion.chunk`` per token (the first also carries
    ``"role": "assistant"``), ``delay`` seconds apart, then a chunk with ``finish_reason``, then a
    usage chunk if the request asked for ``stream_options.include_usage``, then ``[DONE]``.
    Non-streaming requests wait as long as the stream would have taken (``delay`` times the number
    of gaps between tokens) and get the joined text in one ``chat.completion``.

    ``usage`` is ``(prompt_tokens, completion_tokens)``; by default it is (characters of the
    request's message contents // 4, ``len(tokens)``). The request's ``max_tokens`` is not
    applied (``finish_reason`` says what it is told); :class:`Reasoning` applies it.
    """

    tokens: list[str] = field(default_factory=lambda: ["Hello", " there", "!"])
    delay: float = 0.0
    usage: tuple[int, int] | None = None
    finish_reason: str = "stop"


@dataclass(frozen=True)
class Fail:
    """Answer with HTTP ``status`` and an OpenAI-shaped error body.

    The body is ``{"error": {"message", "type", "param": null, "code"}}``. ``type`` defaults to
    what OpenAI sends for that status and code (e.g. ``"invalid_request_error"`` for 400/401/404,
    ``"requests"`` for 429 ``rate_limit_exceeded``, ``"insufficient_quota"`` for 429
    ``insufficient_quota``, ``"server_error"`` for 5xx). ``retry_after`` becomes a
    ``Retry-After`` header; ``headers`` are added as they are. Applies to streaming and
    non-streaming requests alike: the real API reports these before any stream starts.
    """

    status: int
    code: str | None
    message: str
    type: str | None = None
    retry_after: str | None = None
    headers: dict[str, str] | None = None

    def error_type(self) -> str:
        """The ``error.type`` to send: :attr:`type` if given, else OpenAI's usual one."""
        if self.type is not None:
            return self.type
        if self.status == 429:
            return "insufficient_quota" if self.code == "insufficient_quota" else "requests"
        if self.status >= 500:
            return "server_error"
        return "invalid_request_error"


@dataclass(frozen=True)
class Cut:
    """Stream the first ``after`` of ``tokens`` (``delay`` seconds apart), then stop without a
    finishing chunk and without ``[DONE]``. ``how`` says what happens to the connection:

    * ``"reset"`` (default): ``transport.abort()`` with ``SO_LINGER`` 0, so the client gets a TCP
      RST, like a crashed server or a dropped route (the SDK raises ``APIConnectionError`` from
      ``httpx2.ReadError``). Where ``SO_LINGER`` cannot be set this degrades to ``"close"``;
    * ``"close"``: ``transport.abort()`` as is, which on a socket with nothing unread sends a
      FIN; the HTTP chunked body is left unterminated, so the SDK raises ``APIConnectionError``
      from ``httpx2.RemoteProtocolError``;
    * ``"end"``: end the HTTP body properly, just early: the SDK's iteration ends *without any
      error*, having yielded no ``finish_reason`` (it does not insist on ``[DONE]``).

    The cut comes ``delay`` seconds after the last token sent (at least 50 ms), so the client
    has read those tokens first. A non-streaming request gets no response at all: the
    connection is reset (``"reset"``) or closed (otherwise) once the reply would have been ready.
    """

    tokens: list[str]
    after: int
    delay: float = 0.0
    how: Literal["reset", "close", "end"] = "reset"


@dataclass(frozen=True)
class Hang:
    """Read the request, then never answer, until the client disconnects or the fake closes."""


@dataclass(frozen=True)
class StreamError:
    """Stream ``tokens_before``, then a ``data: {"error": {...}}`` event, then end the stream.

    This is how the API reports a failure after a stream has started; the SDK raises
    :class:`openai.APIError` when it reads the event. A non-streaming request gets a 500 with the
    same error object instead.
    """

    tokens_before: list[str]
    message: str
    type: str = "server_error"
    code: str | None = None


@dataclass(frozen=True)
class Reasoning:
    """A model that reasons before it answers: ``reasoning`` first, then the answer ``tokens``.

    ``style`` says where the reasoning goes, as servers differ:

    * ``"field"``: streamed deltas carry it in ``reasoning_content`` (DeepSeek, vLLM, LM Studio)
      and the same text in ``reasoning`` (Ollama's OpenAI endpoint, OpenRouter), with
      ``"content": null``, before the ``content`` deltas of the answer; a non-streaming
      ``message`` has ``reasoning_content`` and ``reasoning`` beside ``content``;
    * ``"think"``: the content itself is ``"<think>"``, the reasoning, ``"</think>"``, then the
      answer (models served raw, e.g. by llama.cpp); the two tags are items of output too.

    The model's output is one item per list item (and tag), ``delay`` seconds apart, and the
    usage counts all of it: ``completion_tokens`` is reasoning plus answer, with
    ``completion_tokens_details.reasoning_tokens`` the reasoning part (as OpenAI reports).
    A request's ``max_completion_tokens`` or ``max_tokens`` (the smaller, if both) is honoured
    the way real models do it: the output stops after that many items and ``finish_reason`` is
    ``"length"``; when that is within the reasoning, the answer is empty (``"field"``) or only
    the partial reasoning (``"think"``). Otherwise ``finish_reason`` is as given.
    """

    reasoning: list[str]
    tokens: list[str]
    delay: float = 0.0
    style: Literal["field", "think"] = "field"
    finish_reason: str = "stop"


@dataclass(frozen=True)
class KeepAlive:
    """A server that keeps a streaming response open with SSE comments while it works.

    The response head is sent at once; then only the comment ``: keep-alive`` (a line and a
    blank line, as OpenRouter and other gateways send them, and which the SDK must skip), every
    ``interval`` seconds for ``seconds`` seconds. After that the same response goes on with
    ``then``'s deltas and ending (a :class:`Reply`, :class:`Reasoning`, :class:`Cut` or
    :class:`StreamError`, streamed as on their own but without a second head), or, with
    ``then=None``, with keep-alives for ever, until the client disconnects or the fake closes.

    A non-streaming request gets silence for ``seconds``, then ``then``'s non-streaming answer
    (with ``then=None``: silence until the client gives up, like :class:`Hang`).
    Each comment sent counts in :attr:`FakeOpenAI.keepalives`.
    """

    seconds: float
    then: Reply | Reasoning | Cut | StreamError | None = None
    interval: float = 1.0


@dataclass(frozen=True)
class IgnoresStream:
    """A server that ignores ``"stream": true``: it answers every request with one plain
    ``chat.completion`` (``Content-Type: application/json``, a ``Content-Length``), exactly as
    ``reply`` answers a non-streaming request (after the same wait)."""

    reply: Reply | Reasoning


@dataclass(frozen=True)
class Raw:
    """Exactly these bodies, whatever shape they have (the hostile server): for a streaming
    request, each of ``events`` as one ``data:`` line (a ``str`` as it is, anything else as
    JSON), then ``data: [DONE]``; for a non-streaming one (or with ``json_reply`` for both),
    ``json_reply`` as the whole ``application/json`` body."""

    events: tuple[object, ...] = ()
    json_reply: object = None


Behaviour = Reply | Reasoning | Fail | Cut | Hang | StreamError | KeepAlive | IgnoresStream | Raw


# --------------------------------------------------------------------------------------------
# Recording


@dataclass
class RecordedRequest:
    """One request as the fake received it.

    ``headers`` has lower-case names (repeated headers joined with ``", "``); ``path`` has no
    query string (that is in ``query``); ``json`` is the parsed body, or ``None`` if there was no
    body or it was not JSON. ``disconnected`` becomes true if the client went away before the fake
    finished answering it (see :attr:`FakeOpenAI.disconnects`).
    """

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    json: Any
    disconnected: bool = False

    @property
    def stream(self) -> bool:
        """Whether this was a chat request with ``"stream": true``."""
        return isinstance(self.json, dict) and self.json.get("stream") is True


class _BadRequest(Exception):
    """The bytes on the wire are not an HTTP/1.1 request the fake understands."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _Connection:
    """One accepted TCP connection, and whether it has ended (either side)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        # Set when the reader sees EOF or an error: the client closed (or the fake aborted).
        self.gone = asyncio.Event()
        # Set when the fake itself ends the connection, so that is not counted as the client's.
        self.closed_by_server = False
        self._watcher: asyncio.Task[None] | None = None

    def watch(self) -> None:
        """Start noticing the client going away. Call once the request has been read."""
        self._watcher = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        # A client sends nothing after its request, so any read that returns is either EOF (the
        # client closed, or the transport was aborted) or stray bytes to ignore.
        try:
            while await self.reader.read(65536):
                pass
        except (ConnectionError, OSError):
            pass
        self.gone.set()

    async def stop_watching(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None

    @property
    def client_gone(self) -> bool:
        """The client closed or reset the connection (not the fake)."""
        return self.gone.is_set() and not self.closed_by_server

    async def pause(self, seconds: float) -> bool:
        """Sleep ``seconds``, waking early if the connection ends. True if it is still up."""
        if seconds > 0 and not self.gone.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self.gone.wait()
        return not self.gone.is_set()

    async def send(self, data: bytes) -> bool:
        """Write and drain ``data``. False (and nothing sent) if the connection has ended."""
        if self.gone.is_set() or self.writer.transport.is_closing():
            self.gone.set()
            return False
        self.writer.write(data)
        try:
            await self.writer.drain()
        except (ConnectionError, OSError):
            self.gone.set()
            return False
        return True

    def abort(self, *, reset: bool) -> None:
        """Drop the connection now, discarding unsent data. With ``reset``, try to make that a
        TCP RST (as a crashed peer or dropped route would) rather than a FIN."""
        self.closed_by_server = True
        sock = self.writer.get_extra_info("socket")
        if reset and sock is not None:
            with contextlib.suppress(OSError, struct.error):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    async def close(self) -> None:
        """Flush what was written, then close (FIN)."""
        self.closed_by_server = True
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


# --------------------------------------------------------------------------------------------
# The server


class FakeOpenAI:
    """An OpenAI-compatible HTTP server on ``127.0.0.1`` for tests; see the module docstring.

    Endpoints: ``GET /v1/models``, ``GET /v1/models/{id}``, ``POST /v1/chat/completions``, and
    at the root ``POST /api/show`` (Ollama) and ``GET /api/v0/models/{id}`` (LM Studio).
    Anything else gets a 404 with an OpenAI-shaped error body.

    Settable attributes:

    * ``models`` - model ids listed by ``GET /v1/models``;
    * ``default`` - the behaviour for chat requests once the :meth:`script` queue is empty;
    * ``models_behaviour`` - if set (a :class:`Fail` or :class:`Hang`), how the models
      endpoints answer instead of listing ``models``;
    * ``models_body`` - if set (and ``models_behaviour`` is not), the JSON value that
      ``GET /v1/models`` answers with (status 200) instead of the list, for servers whose
      "list" is not one;
    * ``capabilities`` - model name to Ollama capability words (``"completion"``,
      ``"vision"``, ``"thinking"``, ``"tools"``, ``"embedding"``...). ``POST /api/show`` with
      ``{"model": name}`` (or the older ``"name"``) answers ``{"capabilities", "details",
      "model_info"}`` for these, and 404 ``{"error": "model 'x' not found"}`` for others, as
      Ollama does. ``GET /api/v0/models/{id}`` answers LM Studio's model object for them, with
      ``"type"`` ``"vlm"`` for a model with ``"vision"``, ``"embeddings"`` for one with
      ``"embedding"``, else ``"llm"`` (404 for others);
    * ``native_behaviour`` - if set (a :class:`Fail` or :class:`Hang`), how those two native
      endpoints answer instead;
    * ``native_body`` - if set (and ``native_behaviour`` is not), what they answer with status
      200 whatever the model: a JSON value, or ``bytes`` sent as they are (as
      ``application/json``), for hostile or broken servers.

    Recorded state, for assertions: :attr:`requests`, :attr:`authorizations`,
    :attr:`disconnects`, :attr:`active_streams`, :attr:`keepalives`,
    :attr:`open_connections`.
    """

    def __init__(
        self,
        models: Iterable[str] = ("gpt-4o-mini", "llama3.2"),
        capabilities: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.models: list[str] = list(models)
        self.default: Behaviour = Reply()
        self.models_behaviour: Fail | Hang | None = None
        self.models_body: Any = None
        self.capabilities: dict[str, list[str]] = {
            name: list(words) for name, words in (capabilities or {}).items()
        }
        self.native_behaviour: Fail | Hang | None = None
        self.native_body: Any = None
        #: Every request received, in arrival order (recorded once its body has been read).
        self.requests: list[RecordedRequest] = []
        #: How many times a client went away before the fake finished answering (mid-stream,
        #: during a delay or a :class:`Hang`). Cuts and :meth:`close` by the fake never count.
        self.disconnects = 0
        #: Streaming chat responses in progress (a :class:`Reply`, :class:`Reasoning`,
        #: :class:`Cut`, :class:`StreamError` or :class:`KeepAlive` answering
        #: ``"stream": true``; not :class:`Hang`, :class:`Fail` or :class:`IgnoresStream`).
        self.active_streams = 0
        #: SSE keep-alive comments sent so far (by :class:`KeepAlive`), on all streams.
        self.keepalives = 0
        self._queue: deque[Behaviour] = deque()
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._changed = asyncio.Event()
        self._ids = itertools.count(1)
        self._closing = False
        self._errors: list[Exception] = []

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on ``127.0.0.1`` on a free port."""
        if self._server is not None:
            raise RuntimeError("FakeOpenAI already started")
        self._closing = False
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)

    async def close(self) -> None:
        """Stop listening, abort every open connection and wait for their handlers to end.

        Raises :class:`RuntimeError` if a connection handler crashed (a bug in the fake), so
        such a bug fails the test instead of going unnoticed.
        """
        server, self._server = self._server, None
        self._closing = True
        if server is not None:
            server.close()
        for conn in list(self._connections):
            conn.closed_by_server = True
            conn.writer.transport.abort()
        # Aborting ends every handler (each waits on its connection); cancelling is a last
        # resort, because asyncio logs the cancellation of a client_connected_cb task.
        tasks = set(self._tasks)
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=2.0)
            for task in stuck:
                task.cancel()
            if stuck:
                await asyncio.wait(stuck)
        if server is not None:
            await server.wait_closed()
        self._notify()
        if self._errors:
            errors, self._errors = self._errors, []
            first = errors[0]
            raise RuntimeError(f"FakeOpenAI connection handler crashed: {first!r}") from first

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

    @property
    def port(self) -> int:
        """The port the fake listens on (after :meth:`start`)."""
        if self._server is None:
            raise RuntimeError("FakeOpenAI is not running")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/v1``, to pass as the SDK's ``base_url``."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT``, where the native (Ollama, LM Studio) endpoints are."""
        return f"http://127.0.0.1:{self.port}"

    # -- scripting and inspection ----------------------------------------------------------

    def script(self, *behaviours: Behaviour) -> None:
        """Queue ``behaviours`` for the next chat-completions requests, one per request, in
        order (after any still queued). :attr:`default` answers once the queue is empty."""
        self._queue.extend(behaviours)

    @property
    def pending(self) -> int:
        """How many scripted behaviours have not been used yet."""
        return len(self._queue)

    @property
    def authorizations(self) -> list[str | None]:
        """The ``Authorization`` header of every request, in order (``None`` where absent)."""
        return [r.headers.get("authorization") for r in self.requests]

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """The recorded ``POST /v1/chat/completions`` requests."""
        return [r for r in self.requests if r.path == "/v1/chat/completions"]

    @property
    def open_connections(self) -> int:
        """TCP connections currently open to the fake."""
        return len(self._connections)

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Return once ``predicate()`` is true; it is re-checked whenever the fake's recorded
        state changes (a request arrives, a stream starts or ends, a client disconnects).
        Raises :class:`TimeoutError` after ``timeout`` seconds."""
        async with asyncio.timeout(timeout):
            while not predicate():
                changed = self._changed
                await changed.wait()

    async def wait_requests(self, count: int = 1, timeout: float = 5.0) -> None:
        """Return once at least ``count`` requests have been received (:class:`TimeoutError`
        after ``timeout`` seconds)."""
        await self.wait_until(lambda: len(self.requests) >= count, timeout)

    async def wait_disconnect(self, timeout: float = 5.0, count: int = 1) -> None:
        """Return once clients have gone away early at least ``count`` times in total (at once
        if that already happened). Raises :class:`TimeoutError` after ``timeout`` seconds.

        "Going away early" means closing or resetting the connection before the fake finished
        its answer: mid-stream, during a :class:`Reply` delay, or during a :class:`Hang`.
        """
        await self.wait_until(lambda: self.disconnects >= count, timeout)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # -- connection handling ---------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Must never raise, not even CancelledError: asyncio (3.11) logs whatever the task of a
        # client_connected_cb ends with as an "unhandled exception".
        task = asyncio.current_task()
        assert task is not None
        if self._server is None:  # accepted while closing
            writer.transport.abort()
            return
        conn = _Connection(reader, writer)
        self._tasks.add(task)
        self._connections.add(conn)
        try:
            await self._handle(conn)
        except (ConnectionError, OSError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            if not self._closing:
                raise
        except Exception as err:
            self._errors.append(err)
        finally:
            await conn.stop_watching()
            if not writer.transport.is_closing():
                await conn.close()
            self._connections.discard(conn)
            self._tasks.discard(task)
            self._notify()

    async def _handle(self, conn: _Connection) -> None:
        try:
            request = await _read_request(conn.reader)
        except _BadRequest as err:
            await self._send_error(conn, err.status, err.message, "invalid_request_error", None)
            return
        if request is None:
            return
        self.requests.append(request)
        self._notify()
        conn.watch()
        finished = await self._route(conn, request)
        if not finished and conn.client_gone:
            request.disconnected = True
            self.disconnects += 1
            self._notify()

    async def _route(self, conn: _Connection, request: RecordedRequest) -> bool:
        """Answer ``request``. True if the answer was sent completely."""
        method, path = request.method, request.path
        if path == "/v1/chat/completions" and method == "POST":
            return await self._chat(conn, request)
        if method == "GET" and (path == "/v1/models" or path.startswith("/v1/models/")):
            return await self._models(conn, path.removeprefix("/v1/models").lstrip("/"))
        if method == "POST" and path == "/api/show":
            return await self._native(conn, request, "ollama")
        if method == "GET" and path.startswith("/api/v0/models/"):
            return await self._native(conn, request, "lmstudio")
        return await self._send_error(
            conn, 404, f"Invalid URL ({method} {path})", "invalid_request_error", None
        )

    async def _models(self, conn: _Connection, model_id: str) -> bool:
        behaviour = self.models_behaviour
        if isinstance(behaviour, Hang):
            await conn.gone.wait()
            return False
        if isinstance(behaviour, Fail):
            return await self._send_fail(conn, behaviour)
        if not model_id and self.models_body is not None:
            return await self._send_json(conn, 200, self.models_body)
        if not model_id:
            data = [_model_object(m) for m in self.models]
            return await self._send_json(conn, 200, {"object": "list", "data": data})
        if model_id in self.models:
            return await self._send_json(conn, 200, _model_object(model_id))
        return await self._send_error(
            conn,
            404,
            f"The model '{model_id}' does not exist",
            "invalid_request_error",
            "model_not_found",
        )

    async def _native(
        self, conn: _Connection, request: RecordedRequest, server: Literal["ollama", "lmstudio"]
    ) -> bool:
        """Ollama's ``POST /api/show`` or LM Studio's ``GET /api/v0/models/{id}``."""
        behaviour = self.native_behaviour
        if isinstance(behaviour, Hang):
            await conn.gone.wait()
            return False
        if isinstance(behaviour, Fail):
            return await self._send_fail(conn, behaviour)
        if isinstance(self.native_body, bytes):
            body = self.native_body
            head = _head(200, {"Content-Type": "application/json"}, content_length=len(body))
            return await conn.send(head + body)
        if self.native_body is not None:
            return await self._send_json(conn, 200, self.native_body)
        if server == "lmstudio":
            model_id = urllib.parse.unquote(request.path.removeprefix("/api/v0/models/"))
            if model_id not in self.capabilities:
                return await self._send_json(conn, 404, {"error": f"model '{model_id}' not found"})
            return await self._send_json(
                conn, 200, _lmstudio_model(model_id, self.capabilities[model_id])
            )
        asked = request.json if isinstance(request.json, dict) else {}
        name = asked.get("model") or asked.get("name")
        if not isinstance(name, str) or name not in self.capabilities:
            return await self._send_json(conn, 404, {"error": f"model '{name}' not found"})
        return await self._send_json(conn, 200, _ollama_show(name, self.capabilities[name]))

    async def _chat(self, conn: _Connection, request: RecordedRequest) -> bool:
        body = request.json
        if not isinstance(body, dict):
            return await self._send_error(
                conn,
                400,
                "We could not parse the JSON body of your request.",
                "invalid_request_error",
                None,
            )
        behaviour = self._queue.popleft() if self._queue else self.default
        streaming = body.get("stream") is True
        if isinstance(behaviour, Fail):
            return await self._send_fail(conn, behaviour)
        if isinstance(behaviour, Hang):
            await conn.gone.wait()
            return False
        if isinstance(behaviour, IgnoresStream):
            return await self._complete(conn, body, behaviour.reply)
        if isinstance(behaviour, Raw):
            return await self._raw(conn, behaviour, streaming)
        if not streaming:
            return await self._complete(conn, body, behaviour)
        self.active_streams += 1
        self._notify()
        try:
            return await self._stream(conn, body, behaviour)
        finally:
            self.active_streams -= 1
            self._notify()

    async def _raw(self, conn: _Connection, raw: Raw, streaming: bool) -> bool:
        if not streaming or raw.json_reply is not None:
            return await self._send_json(conn, 200, raw.json_reply)
        headers = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
        data = b"".join(
            _chunk(f"data: {e}\n\n".encode() if isinstance(e, str) else _sse(e)) for e in raw.events
        )
        return await conn.send(
            _head(200, headers, chunked=True) + data + _chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n"
        )

    async def _complete(
        self,
        conn: _Connection,
        body: dict[str, Any],
        behaviour: Reply | Reasoning | Cut | StreamError | KeepAlive,
    ) -> bool:
        """Answer a non-streaming chat request."""
        if isinstance(behaviour, KeepAlive):
            if behaviour.then is None:
                await conn.gone.wait()
                return False
            if not await conn.pause(behaviour.seconds):
                return False
            return await self._complete(conn, body, behaviour.then)
        if isinstance(behaviour, StreamError):
            return await self._send_error(
                conn, 500, behaviour.message, behaviour.type, behaviour.code
            )
        if isinstance(behaviour, Cut):
            await conn.pause(behaviour.delay * max(behaviour.after - 1, 0))
            conn.abort(reset=behaviour.how == "reset")
            return False
        output = _output(body, behaviour)
        if not await conn.pause(behaviour.delay * max(len(output.pieces) - 1, 0)):
            return False
        message: dict[str, Any] = {
            "role": "assistant",
            "content": "".join(text for kind, text in output.pieces if kind == "content"),
            "refusal": None,
        }
        if isinstance(behaviour, Reasoning) and behaviour.style == "field":
            thought = "".join(text for kind, text in output.pieces if kind == "reasoning")
            message["reasoning_content"] = message["reasoning"] = thought
        completion_object = {
            "id": f"chatcmpl-fake{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": str(body.get("model", "")),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": output.finish_reason,
                }
            ],
            "usage": output.usage,
            "system_fingerprint": "fp_fake",
        }
        return await self._send_json(conn, 200, completion_object)

    async def _stream(
        self,
        conn: _Connection,
        body: dict[str, Any],
        behaviour: Reply | Reasoning | Cut | StreamError | KeepAlive,
        *,
        head_sent: bool = False,
    ) -> bool:
        """Answer a streaming chat request (its head already sent if ``head_sent``)."""
        stream_options = body.get("stream_options")
        include_usage = isinstance(stream_options, dict) and bool(
            stream_options.get("include_usage")
        )
        chunk_id = f"chatcmpl-fake{next(self._ids)}"
        created = int(time.time())
        model = str(body.get("model", ""))

        def chunk(choices: list[dict[str, Any]], **extra: Any) -> bytes:
            payload: dict[str, Any] = {
                "id": chunk_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": choices,
            }
            if include_usage:
                payload["usage"] = None
            payload.update(extra)
            return _sse(payload)

        def delta_chunk(index: int, kind: _PieceKind, text: str) -> bytes:
            delta: dict[str, Any] = {"role": "assistant"} if index == 0 else {}
            if kind == "reasoning":
                delta |= {"content": None, "reasoning_content": text, "reasoning": text}
            else:
                delta["content"] = text
            return chunk([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}])

        if not head_sent:
            headers = {
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
            }
            if not await conn.send(_head(200, headers, chunked=True)):
                return False
        if isinstance(behaviour, KeepAlive):
            if not await self._keep_alive(conn, behaviour):
                return False
            assert behaviour.then is not None  # without one, _keep_alive never returns True
            return await self._stream(conn, body, behaviour.then, head_sent=True)

        if isinstance(behaviour, Cut):
            pieces: list[_Piece] = [("content", t) for t in behaviour.tokens[: behaviour.after]]
        elif isinstance(behaviour, StreamError):
            pieces = [("content", t) for t in behaviour.tokens_before]
        else:
            output = _output(body, behaviour)
            pieces = output.pieces
        delay = 0.0 if isinstance(behaviour, StreamError) else behaviour.delay

        for index, (kind, text) in enumerate(pieces):
            if index and not await conn.pause(delay):
                return False
            if not await conn.send(_chunk(delta_chunk(index, kind, text))):
                return False

        if isinstance(behaviour, Cut):
            await conn.pause(max(delay, 0.05))
            if behaviour.how == "end":
                conn.closed_by_server = True  # whatever the client does next is not early
                await conn.send(b"0\r\n\r\n")
            else:
                conn.abort(reset=behaviour.how == "reset")
            return False
        if isinstance(behaviour, StreamError):
            error = _error_body(behaviour.message, behaviour.type, behaviour.code)
            return await conn.send(_chunk(_sse(error)) + _chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")

        if pieces and not await conn.pause(delay):
            return False
        finish = {
            "index": 0,
            "delta": {},
            "logprobs": None,
            "finish_reason": output.finish_reason,
        }
        tail = _chunk(chunk([finish]))
        if include_usage:
            tail += _chunk(chunk([], usage=output.usage))
        tail += _chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n"
        return await conn.send(tail)

    async def _keep_alive(self, conn: _Connection, behaviour: KeepAlive) -> bool:
        """Send ``: keep-alive`` comments for ``behaviour.seconds`` (for ever without a
        ``then``). True if the connection is still up afterwards."""
        loop = asyncio.get_running_loop()
        end = loop.time() + behaviour.seconds
        interval = max(behaviour.interval, 0.001)
        while True:
            left = end - loop.time()
            if behaviour.then is not None and left <= interval:
                return await conn.pause(left)
            if not await conn.pause(interval):
                return False
            if not await conn.send(_chunk(b": keep-alive\n\n")):
                return False
            self.keepalives += 1
            self._notify()

    # -- plain responses -------------------------------------------------------------------

    async def _send_json(
        self,
        conn: _Connection,
        status: int,
        payload: Any,
        headers: dict[str, str] | None = None,
    ) -> bool:
        body = json.dumps(payload).encode()
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        return await conn.send(_head(status, all_headers, content_length=len(body)) + body)

    async def _send_error(
        self, conn: _Connection, status: int, message: str, type_: str, code: str | None
    ) -> bool:
        return await self._send_json(conn, status, _error_body(message, type_, code))

    async def _send_fail(self, conn: _Connection, fail: Fail) -> bool:
        headers = dict(fail.headers or {})
        if fail.retry_after is not None:
            headers["Retry-After"] = fail.retry_after
        body = _error_body(fail.message, fail.error_type(), fail.code)
        return await self._send_json(conn, fail.status, body, headers)


# --------------------------------------------------------------------------------------------
# Wire helpers


async def _read_request(reader: asyncio.StreamReader) -> RecordedRequest | None:
    """Read one HTTP/1.1 request. ``None`` if the client closed before sending anything."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as err:
        if not err.partial.strip():
            return None
        raise _BadRequest(400, "Incomplete request head.") from err
    except asyncio.LimitOverrunError as err:
        raise _BadRequest(431, "Request head too large.") from err
    if len(head) > MAX_HEADER_BYTES:
        raise _BadRequest(431, "Request head too large.")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _BadRequest(400, f"Malformed request line: {lines[0]!r}")
    method, target, _version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise _BadRequest(400, f"Malformed header line: {line!r}")
        key, value = name.lower(), value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value

    body = await _read_body(reader, headers)
    path, _, query = target.partition("?")
    parsed: Any = None
    if body:
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
    return RecordedRequest(method, path, query, headers, body, parsed)


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return await _read_chunked(reader)
    length_text = headers.get("content-length")
    if length_text is None:
        return b""
    try:
        length = int(length_text)
    except ValueError as err:
        raise _BadRequest(400, "Invalid Content-Length.") from err
    if length < 0 or length > MAX_BODY_BYTES:
        raise _BadRequest(413, "Request body too large.")
    try:
        return await reader.readexactly(length)
    except asyncio.IncompleteReadError as err:
        raise _BadRequest(400, "Request body shorter than Content-Length.") from err


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    try:
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                    pass
                return bytes(body)
            if len(body) + size > MAX_BODY_BYTES:
                raise _BadRequest(413, "Request body too large.")
            body += await reader.readexactly(size)
            if await reader.readexactly(2) != b"\r\n":
                raise _BadRequest(400, "Malformed chunked body.")
    except (ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as err:
        raise _BadRequest(400, "Malformed chunked body.") from err


def _head(
    status: int,
    headers: dict[str, str],
    *,
    content_length: int | None = None,
    chunked: bool = False,
) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
    all_headers = {
        "Date": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime()),
        "Server": "fake-openai",
        "Connection": "close",
        "x-request-id": f"req_fake_{time.monotonic_ns()}",
        **headers,
    }
    if chunked:
        all_headers["Transfer-Encoding"] = "chunked"
    elif content_length is not None:
        all_headers["Content-Length"] = str(content_length)
    lines += [f"{name}: {value}" for name, value in all_headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _chunk(data: bytes) -> bytes:
    """``data`` as one HTTP/1.1 chunk."""
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _sse(payload: Any) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def _error_body(message: str, type_: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


_PieceKind = Literal["reasoning", "content"]
_Piece = tuple[_PieceKind, str]


@dataclass(frozen=True)
class _Output:
    """What a model puts out for one request: its pieces in order, why it stopped, the usage."""

    pieces: list[_Piece]
    finish_reason: str
    usage: dict[str, Any]


def _output(body: dict[str, Any], behaviour: Reply | Reasoning) -> _Output:
    """The output of ``behaviour`` for the request ``body`` (see :class:`Reasoning` for how it
    honours the request's token limit; a :class:`Reply` does not)."""
    if isinstance(behaviour, Reply):
        prompt, completion = behaviour.usage or _default_usage(body, behaviour.tokens)
        pieces: list[_Piece] = [("content", t) for t in behaviour.tokens]
        return _Output(pieces, behaviour.finish_reason, _usage(prompt, completion))
    if behaviour.style == "field":
        thought: list[_Piece] = [("reasoning", t) for t in behaviour.reasoning]
    else:
        thought = [("content", t) for t in ("<think>", *behaviour.reasoning, "</think>")]
    pieces = thought + [("content", t) for t in behaviour.tokens]
    finish_reason = behaviour.finish_reason
    limit = _output_limit(body)
    if limit is not None and limit < len(pieces):
        pieces, finish_reason = pieces[:limit], "length"
    prompt, _ = _default_usage(body, [])
    usage = _usage(prompt, len(pieces), reasoning=min(len(thought), len(pieces)))
    return _Output(pieces, finish_reason, usage)


def _output_limit(body: dict[str, Any]) -> int | None:
    """The request's ``max_completion_tokens`` or ``max_tokens`` (the smaller if both)."""
    limits = [
        value
        for value in (body.get("max_completion_tokens"), body.get("max_tokens"))
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0
    ]
    return min(limits) if limits else None


def _ollama_show(model: str, capabilities: list[str]) -> dict[str, Any]:
    """What Ollama's ``/api/show`` answers for ``model`` (the parts that matter, and enough
    of the rest to look real)."""
    family = model.split(":", 1)[0]
    families = [family, "clip"] if "vision" in capabilities else [family]
    return {
        "modelfile": f"FROM {model}\n",
        "template": "{{ .Prompt }}",
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": family,
            "families": families,
            "parameter_size": "7.6B",
            "quantization_level": "Q4_K_M",
        },
        "model_info": {
            "general.architecture": family,
            "general.parameter_count": 7_615_616_512,
            f"{family}.context_length": 32768,
        },
        "capabilities": list(capabilities),
        "modified_at": "2025-06-01T12:00:00.000000000Z",
    }


def _lmstudio_model(model: str, capabilities: list[str]) -> dict[str, Any]:
    """What LM Studio's ``/api/v0/models/{id}`` answers for ``model``."""
    if "vision" in capabilities:
        kind = "vlm"
    elif "embedding" in capabilities:
        kind = "embeddings"
    else:
        kind = "llm"
    return {
        "id": model,
        "object": "model",
        "type": kind,
        "publisher": "fake",
        "arch": model.split("-", 1)[0],
        "compatibility_type": "gguf",
        "quantization": "Q4_K_M",
        "state": "not-loaded",
        "max_context_length": 32768,
    }


def _model_object(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": "fake"}


def _usage(prompt: int, completion: int, *, reasoning: int | None = None) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if reasoning is not None:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return usage


def _default_usage(body: dict[str, Any], tokens: list[str]) -> tuple[int, int]:
    """(characters of the messages' text // 4, number of tokens)."""
    chars = 0
    messages = body.get("messages")
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    chars += len(part["text"])
    return chars // 4, len(tokens)
