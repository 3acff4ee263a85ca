"""The room host's network side: a thin websockets adapter around :class:`core.room.Room`.

Every connection is reported to the room, and the room's actions are carried out in order;
the assistant's actions go to an :class:`~core.ai.relay.AiRelay` when a provider is given, and
the relay reports back through this server (it is the relay's sink).
Each live event is serialised once and written straight into the transport of every
connection that keeps up, as ``websockets.broadcast()`` does; a connection that is behind
gets its own bounded outbox and writer task instead (:mod:`core.connection_writer`), so a
participant that stops reading never slows the others: once more than ``max_pending_bytes``
of live events wait for it, the room cuts it off (close code 4008) and it may resume.

Files go out the same way, below everything else: a download (``file_get``) is a
:class:`_Downloads` entry of that connection, and its writer asks for the next ``file_data``
frame only when it has nothing else to write, so a chat frame waits behind one chunk at most,
and a download costs the host one chunk of memory, not a copy of the file. The text the
assistant may read of a PDF is extracted in a child process (:func:`extract_text_isolated`),
never on the event loop: at most :data:`EXTRACT_PROCESSES` at once, each killed after
:data:`EXTRACT_TIMEOUT` seconds. A file waiting for its turn has not begun its time, so a good
PDF shared after hostile ones is still read.

Every connection is TLS with the room's own certificate (:mod:`core.room_tls`), which the
room's code exchange is bound to. A connection that does not start TLS comes from software
older than that: it gets only what tells its user to update (see :mod:`core.tls_listener`
and ``docs/protocol.md``, "TLS and the room's certificate"), and the room never hears of it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import logging
import re
import secrets
import socket
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, Literal

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from core.accept_gate import AcceptGate, raise_open_files_limit
from core.address import wss_url
from core.ai.capabilities import ModelCapabilities
from core.ai.desk import AnswerOutcome
from core.ai.file_text import FileTextError, extract_text_isolated
from core.ai.provider import ChatProvider
from core.ai.relay import AiRelay
from core.ai.usage_ledger import UsageLedger
from core.codec import serialize
from core.connection_writer import CLOSE_GRACE, ConnectionWriter, OutputBudget
from core.protocol import (
    PROTOCOL_VERSION,
    AnswerDelta,
    AnswerId,
    CloseCode,
    ErrorCode,
    FileData,
    FileId,
    RoomInfo,
    Usage,
    close_reason,
)
from core.room import (
    CancelAnswer,
    ConnId,
    Deliberate,
    Deliver,
    Disconnect,
    ExtractText,
    Room,
    RoomAction,
    RoomConfig,
    StartAnswer,
    StopStream,
    StreamFile,
)
from core.room_tls import RoomCertificate, verification_code
from core.shared_files import SharedFile
from core.tls_listener import Entrance, RoomConnection

__all__ = ["RoomServer"]

log = logging.getLogger("gptgroup.server")

_FRAME_TYPE = re.compile(r'"type"\s*:\s*"([^"\\]*)"')

EXTRACT_TIMEOUT = 20.0  # seconds the text of one PDF may take, from when its reading begins
EXTRACT_MAX_CHARS = 200_000  # the most text kept of one file for the assistant
EXTRACT_PROCESSES = 2  # PDFs read at once: each takes a process and up to a CPU core

# What a connection without TLS is told, in words its user can act on.
UPDATE_TEXT = (
    f"This room is encrypted (GPT Group protocol {PROTOCOL_VERSION}) and this app connects "
    "without encryption: update GPT Group to join it."
)


class RoomServer:
    """Serves one room over WebSocket and TLS until :meth:`close` is called.

    The server makes the :class:`Room` for ``config``, with the fingerprint of
    ``certificate`` (a fresh :meth:`RoomCertificate.generate` when None, which is how every
    room should start: a certificate lives and dies with its room). Read the room from
    :attr:`room`, and what clients pin and people compare from :attr:`fingerprint` and
    :attr:`verification_code`.

    ``host=None`` listens on every interface. ``port=0`` picks a free port; read it from
    :attr:`port` after :meth:`start`. ``GET /health`` answers ``ok`` (over TLS; in plain
    text it gets 426). ``on_info_changed`` hears every change of the public room info
    (participant count, lock, assistant), for keeping a LAN advertisement current. At DEBUG
    level every frame in (``<``) and out (``>``) is logged by type and size; with
    ``trace_content`` its text too. ``clock`` is the room's monotonic clock (for its timers).
    """

    def __init__(
        self,
        config: RoomConfig,
        *,
        certificate: RoomCertificate | None = None,
        host: str | None = "127.0.0.1",
        port: int = 0,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        max_pending_bytes: int = 1024 * 1024,
        max_total_pending_bytes: int = 64 * 1024 * 1024,
        open_timeout: float = 5.0,
        tick_interval: float = 0.5,
        provider: ChatProvider | None = None,
        relay_options: dict[str, Any] | None = None,
        on_info_changed: Callable[[RoomInfo], None] | None = None,
        trace_content: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.certificate = certificate or RoomCertificate.generate(config.name)
        self.room = Room(config, clock=clock, fingerprint=self.certificate.fingerprint)
        self._host = host
        self._port = port
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._max_pending = max_pending_bytes
        self._budget = OutputBudget(max_total_pending_bytes)
        self._open_timeout = open_timeout
        self._tick_interval = tick_interval
        self._conn_ids = itertools.count(1)
        self._outboxes: dict[ConnId, ConnectionWriter] = {}
        self._entrance: Entrance | None = None
        self._server: Server | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._room_closed = asyncio.Event()
        self._bound_port: int | None = None
        self._provider = provider
        self._relay_options = relay_options or {}
        self._relay: AiRelay | None = None
        self._learning: asyncio.Task[None] | None = None
        self._on_info_changed = on_info_changed
        self._trace_content = trace_content
        self._last_info = self.room.info()
        self._downloads: dict[ConnId, _Downloads] = {}
        self._extractions: set[asyncio.Task[None]] = set()
        self._extraction_slots = asyncio.Semaphore(EXTRACT_PROCESSES)

    @property
    def fingerprint(self) -> bytes:
        """The SHA-256 of the room's certificate, which clients pin (32 bytes)."""
        return self.certificate.fingerprint

    @property
    def assistant_ledger(self) -> UsageLedger | None:
        """What the assistant cost and how fast it was (None before :meth:`start` and in a
        room without an assistant): for the host's eyes only."""
        return self._relay.ledger if self._relay is not None else None

    @property
    def assistant_capabilities(self) -> ModelCapabilities | None:
        """What the model can do, as far as is known (guessed from its name until the
        provider has said; None in a room without an assistant)."""
        return self._relay.capabilities if self._relay is not None else None

    @property
    def verification_code(self) -> str:
        """The code people compare with what their app shows (see :mod:`core.room_tls`)."""
        return verification_code(self.certificate.fingerprint)

    async def start(self) -> None:
        """Start listening. Raises ``OSError`` if the address cannot be bound."""
        if self._provider is not None:
            self._relay = AiRelay(self._provider, self, **self._relay_options)
            # In the background: the room opens at once, judging by the model's name until
            # the provider has said what the model can do.
            self._learning = asyncio.create_task(self._learn_capabilities(self._relay))
        files = raise_open_files_limit()
        rules = self.room.config.admission
        # Leave half the descriptors (and never fewer than 128) for everything else the host
        # does: discovery, the AI provider, the host's own app over loopback.
        total = max(2 * rules.max_connections_per_address, min(4096, files // 2))
        gate = AcceptGate(
            2 * rules.max_connections_per_address, total, network_factor=rules.network_factor
        )
        self._entrance = Entrance(
            gate,
            self.certificate.server_context(),
            open_timeout=self._open_timeout,
            close_timeout=CLOSE_GRACE,
        )
        where: dict[str, Any] = {"host": self._host, "port": self._port}
        if self._host in (None, "", "::"):
            # One dual-stack socket: a single port for IPv4 and IPv6, even when port is 0.
            where = {"sock": _all_interfaces_socket(self._port)}
        self._server = await serve(
            self._handle,
            **where,
            max_size=self.room.config.limits.max_frame_bytes,
            compression=None,
            ping_interval=self._ping_interval,
            ping_timeout=self._ping_timeout,
            close_timeout=CLOSE_GRACE,
            open_timeout=self._open_timeout,
            create_connection=self._entrance.connection_class(),
            process_request=self._process_request,
            server_header="gptgroup",
        )
        self._ticker = asyncio.create_task(self._tick_forever())
        self._bound_port = None
        _ = self.port  # remembered: after closing, the sockets are gone
        log.info("room %r listening on port %d", self.room.config.name, self.port)

    @property
    def port(self) -> int:
        """The TCP port the server listens (or listened) on."""
        if self._server is None:
            raise RuntimeError("the server has not been started")
        if self._bound_port is None:
            self._bound_port = int(next(iter(self._server.sockets)).getsockname()[1])
        return self._bound_port

    def url(self, host: str = "127.0.0.1") -> str:
        """The ``wss://`` address to reach this room at ``host``."""
        return wss_url(host, self.port)

    async def wait_room_closed(self) -> None:
        """Return once the room has been closed (by the host's ``close_room`` or :meth:`close`)."""
        await self._room_closed.wait()

    async def close(
        self, reason: Literal["closed_by_host", "host_shutdown"] = "host_shutdown"
    ) -> None:
        """Close the room: stop the assistant (closing its request to the provider at once,
        not after every connection has been closed), tell everyone, close each connection,
        stop listening."""
        if self._learning is not None:
            self._learning.cancel()
        if self._relay is not None:
            self.room.assistant_closing()  # no answer waiting in the queue starts now
            await self._relay.aclose()  # an answer being written ends as stopped, for all to see
        self._apply(self.room.close(reason))
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self._server is not None:
            self._server.close(close_connections=False)
            if self._entrance is not None:  # sockets still in TLS, or silent: nobody to tell
                self._entrance.abort_arriving()
            if self._handlers:
                await asyncio.wait(self._handlers, timeout=CLOSE_GRACE + 2.0)
            for outbox in list(self._outboxes.values()):  # readers that never took their close
                outbox.abort()
            if self._handlers:  # aborted sockets end their handlers at once
                await asyncio.wait(self._handlers, timeout=CLOSE_GRACE + 1.0)
            await self._server.wait_closed()
        for task in list(self._extractions):
            task.cancel()  # kills its worker process, if it has one
        if self._extractions:
            await asyncio.wait(self._extractions)
        if self._relay is None and self._provider is not None:  # never started: still ours
            await self._provider.aclose()

    async def _learn_capabilities(self, relay: AiRelay) -> None:
        capabilities = await relay.learn_capabilities()
        self.room.model_takes_images(capabilities.known_images)

    async def __aenter__(self) -> RoomServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ----------------------------------------------------------------- internals

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        encrypted = _encrypted(connection)
        if request.path == "/health":
            if not encrypted:
                return connection.respond(HTTPStatus.UPGRADE_REQUIRED, UPDATE_TEXT + "\n")
            return connection.respond(HTTPStatus.OK, "ok\n")
        if "Origin" in request.headers:
            # Browsers always send Origin and our clients never do: a web page the user
            # happens to open must not join a room on their LAN and read it.
            return connection.respond(
                HTTPStatus.FORBIDDEN, "GPT Group rooms cannot be joined from a web page.\n"
            )
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        if not _encrypted(ws):
            try:
                await self._refuse_in_the_clear(ws)
            finally:
                self._handlers.discard(task)
            return
        conn = ConnId(next(self._conn_ids))
        downloads = self._downloads[conn] = _Downloads()
        outbox = ConnectionWriter(
            ws, self._max_pending, self._budget, on_stalled=lambda: self._stalled(conn),
            filler=downloads.next_frame,
        )  # fmt: skip
        self._outboxes[conn] = outbox
        try:
            self._apply(self.room.connect(conn, _address_of(ws)))
            async for frame in ws:
                if log.isEnabledFor(logging.DEBUG):
                    log.debug("< %d %s", conn, self._traced(frame))
                self._apply(self.room.receive(conn, frame))
        except ConnectionClosed:
            pass
        finally:
            try:
                self._apply(self.room.connection_lost(conn))
            finally:  # whatever the room ran into, the socket and its writer are let go
                try:
                    await outbox.finish()
                finally:
                    self._outboxes.pop(conn, None)
                    self._downloads.pop(conn, None)
                    self._handlers.discard(task)

    async def _refuse_in_the_clear(self, ws: ServerConnection) -> None:
        """Tell software from before encryption to update, and nothing else: a greeting any
        version can read (version 1 needs each of its keys), with our protocol number and the
        room's name only, then ``incompatible_version`` and close 4007. The room never hears
        of the connection."""
        greeting = {
            "type": "server_hello",
            "protocol": PROTOCOL_VERSION,
            "abilities": [],
            "room": {"name": self.room.config.name, "password_required": False},
            # A nonce as every version's greeting carries one; nothing is ever bound to it.
            "auth": {"methods": [], "nonce": secrets.token_urlsafe(32)},
        }
        error = {
            "type": "error",
            "code": ErrorCode.INCOMPATIBLE_VERSION,
            "message": UPDATE_TEXT,
        }
        try:
            async with asyncio.timeout(CLOSE_GRACE + 1.0):
                await ws.send(json.dumps(greeting, ensure_ascii=False))
                await ws.send(json.dumps(error))
                await ws.close(CloseCode.INCOMPATIBLE_VERSION, close_reason(UPDATE_TEXT))
        except (ConnectionClosed, TimeoutError):
            ws.transport.abort()

    def _stalled(self, conn: ConnId) -> None:
        log.info("connection %d stopped reading; dropping it", conn)
        self._apply(self.room.drop_slow(conn))

    def _apply(self, actions: list[RoomAction]) -> None:
        """Carry out the room's actions in order; a laggard's own drop adds more to carry out."""
        work = deque(actions)
        while work:
            action = work.popleft()
            if isinstance(action, Deliver):
                work.extend(self._deliver(action))
            elif isinstance(action, Disconnect):
                outbox = self._outboxes.get(action.conn)
                if outbox is not None:
                    flush = action.code != CloseCode.TOO_SLOW
                    outbox.close(action.code, action.reason, flush=flush)
                downloads = self._downloads.get(action.conn)
                if downloads is not None:
                    downloads.clear()
            elif isinstance(action, StreamFile):
                self._stream(action)
            elif isinstance(action, StopStream):
                if (downloads := self._downloads.get(action.conn)) is not None:
                    downloads.stop(action.file)
            elif isinstance(action, ExtractText):
                self._start_extraction(action.file)
            elif self._relay is None:  # an assistant action, but no provider to carry it out
                work.extend(self._without_provider(action))
            elif isinstance(action, StartAnswer):
                self._relay.start(action.job, tokens_left=action.tokens_left)
            elif isinstance(action, CancelAnswer):
                self._relay.cancel(action.answer_id)
            elif isinstance(action, Deliberate):
                self._relay.deliberate(action.job)
        if self.room.closed:
            self._room_closed.set()
        elif self._on_info_changed is not None:
            info = self.room.info()
            if info != self._last_info:
                self._last_info = info
                try:
                    self._on_info_changed(info)
                except Exception:  # a listener's bug must not break the room
                    log.exception("room info listener failed")

    def _deliver(self, action: Deliver) -> list[RoomAction]:
        """Queue one message for its connections; returns what dropping laggards causes."""
        if action.catch_up:  # serialised by each writer when it gets there
            for conn in action.conns:
                outbox = self._outboxes.get(conn)
                if outbox is not None:
                    outbox.put_catch_up(action.message)
            return []
        # Serialised and encoded once for everyone, and written straight to each connection
        # that keeps up, as websockets.broadcast() does; a writer that is behind queues it,
        # and may merge a delta into the one it still holds (see ConnectionWriter).
        frame = serialize(action.message).encode()
        delta = action.message if isinstance(action.message, AnswerDelta) else None
        if log.isEnabledFor(logging.DEBUG):
            conns = ",".join(map(str, action.conns)) or "-"
            log.debug("> %s %s", conns, self._traced(frame.decode()))
        outboxes = self._outboxes
        laggards = [
            conn
            for conn in action.conns
            if (outbox := outboxes.get(conn)) is not None and not outbox.put(frame, delta=delta)
        ]
        if self._budget.exceeded:  # the host as a whole holds too much: cut the worst reader
            open_ones = [c for c, w in self._outboxes.items() if not w.closing]
            if open_ones:
                laggards.append(max(open_ones, key=lambda c: self._outboxes[c].pending_bytes))
        more: list[RoomAction] = []
        for conn in dict.fromkeys(laggards):
            log.info("connection %d fell behind; dropping it", conn)
            more += self.room.drop_slow(conn)
        return more

    def _stream(self, action: StreamFile) -> None:
        downloads = self._downloads.get(action.conn)
        outbox = self._outboxes.get(action.conn)
        if downloads is None or outbox is None or outbox.closing:
            return
        downloads.start(action.file, action.offset, action.chunk_bytes)
        outbox.wake()

    def _start_extraction(self, file: FileId) -> None:
        task = asyncio.create_task(self._extract(file))
        self._extractions.add(task)
        task.add_done_callback(self._extractions.discard)

    async def _extract(self, file: FileId) -> None:
        """Find the text the assistant may read of ``file`` (a PDF in a child process, when
        one of the :data:`EXTRACT_PROCESSES` is free), and tell the room what it is, or why
        there is none."""
        shared = self.room.file(file)
        if shared is None:
            return
        # A text file is only decoded; a PDF waits for a free process, and its time begins
        # only once it has one (queued behind hostile PDFs, a good one still gets its time).
        turn = self._extraction_slots if shared.kind == "pdf" else contextlib.nullcontext()
        text: str | None = None
        problem: str | None = None
        async with turn:
            if self.room.file(file) is None:  # removed while it waited: nobody needs it
                return
            try:
                text = await extract_text_isolated(
                    shared.data, shared.kind, max_chars=EXTRACT_MAX_CHARS, timeout=EXTRACT_TIMEOUT
                )
            except FileTextError as exc:
                problem = str(exc)
            except Exception:  # a bug in a reader must not take the room down
                log.exception("extracting the text of a file failed")
                problem = "its text could not be read"
        self.room.file_text_ready(file, text, problem)

    def _traced(self, frame: str | bytes) -> str:
        """A frame for the debug log: its type and size, and its text only when asked for
        (``trace_content``), since chat content must not end up in logs by default."""
        if self._trace_content:
            return repr(frame[:2000])
        kind = _FRAME_TYPE.search(frame) if isinstance(frame, str) else None
        return f"{kind.group(1)[:40] if kind else '?'} ({len(frame)} bytes)"

    def _without_provider(self, action: RoomAction) -> list[RoomAction]:
        if isinstance(action, StartAnswer):
            outcome = AnswerOutcome("failed", "", None, "The host has not set up an AI provider.")
            return self.room.answer_finished(action.job.answer_id, outcome)
        if isinstance(action, Deliberate):
            return self.room.deliberated(action.job.request.seq, False)
        return []

    # ----------------------------------------------------------------- RelaySink

    def answer_delta(self, answer_id: AnswerId, text: str) -> None:
        self._apply(self.room.answer_delta(answer_id, text))

    def answer_finished(self, answer_id: AnswerId, outcome: AnswerOutcome) -> None:
        self._apply(self.room.answer_finished(answer_id, outcome))

    def deliberated(self, request_seq: int, answer: bool, usage: Usage | None) -> None:
        self._apply(self.room.deliberated(request_seq, answer, usage))

    def notice(self, level: str, code: str, text: str) -> None:
        self._apply(self.room.notice(level, code, text))

    def images_refused(self, files: tuple[FileId, ...]) -> None:
        self.room.images_refused(files)

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self._tick_interval)
            try:
                self._apply(self.room.tick())
            except Exception:  # timers must keep running whatever one tick ran into
                log.exception("room timer failed")


class _Downloads:
    """The files being sent to one connection: each gets a ``file_data`` frame in turn, made
    when the connection's writer asks for it (see :class:`ConnectionWriter`'s ``filler``)."""

    def __init__(self) -> None:
        # file -> (the file, the next offset to send, bytes per frame)
        self._streams: OrderedDict[FileId, tuple[SharedFile, int, int]] = OrderedDict()

    def start(self, file: SharedFile, offset: int, chunk_bytes: int) -> None:
        """Send ``file`` from ``offset`` on (again from there, if it was being sent)."""
        self._streams.pop(file.id, None)
        self._streams[file.id] = (file, offset, chunk_bytes)

    def stop(self, file: FileId) -> None:
        self._streams.pop(file, None)

    def clear(self) -> None:
        self._streams.clear()

    def next_frame(self) -> str | None:
        """The next ``file_data`` frame (files take turns), or None when nothing is left."""
        if not self._streams:
            return None
        file_id, (file, offset, chunk_bytes) = self._streams.popitem(last=False)
        end = min(offset + chunk_bytes, file.size)
        done = end >= file.size
        if not done:
            self._streams[file_id] = (file, end, chunk_bytes)
        data = base64.urlsafe_b64encode(file.data[offset:end]).rstrip(b"=").decode("ascii")
        return serialize(FileData(file=file_id, offset=offset, data=data, done=done))


def _all_interfaces_socket(port: int) -> socket.socket:
    """A listening socket on every interface: dual-stack IPv6 where possible, else IPv4."""
    if socket.has_dualstack_ipv6():
        return socket.create_server(("::", port), family=socket.AF_INET6, dualstack_ipv6=True)
    return socket.create_server(("0.0.0.0", port))


def _encrypted(connection: ServerConnection) -> bool:
    """Whether ``connection`` came in over TLS (see :mod:`core.tls_listener`)."""
    return isinstance(connection, RoomConnection) and connection.encrypted


def _address_of(ws: ServerConnection) -> str:
    """The peer's IP address, with IPv4-mapped IPv6 addresses shown as plain IPv4."""
    peer = ws.remote_address
    address = str(peer[0]) if peer else "unknown"
    return address.removeprefix("::ffff:")
