"""The participant's side of a room: connect, send, receive events, survive network blips.

Usage::

    client = RoomClient("wss://192.0.2.10:47321/", "Sam", fingerprint=pin)
    welcome = await client.connect()  # raises JoinRefused / RoomUnreachable / CertificateMismatch
    await client.send("hello everyone")
    async for event in client.events():       # ends after an Ended event
        ...
    await client.leave()

After a dropped connection the client reconnects with jittered exponential backoff and
resumes from the last sequence number it delivered: every missed event arrives exactly once
and in order. Messages sent meanwhile wait in an outbox and are sent on resume; their client
ids make the room ignore a second copy. A closed room, a kick, a ban or a refused join ends
the retries and is reported as an :class:`Ended` event.

Files: :meth:`RoomClient.share_file` shares one (its progress and outcome arrive as events:
:class:`FileQueued`, :class:`UploadProgress`, then the room's ``file_shared`` event, an
:class:`Acknowledged` or an :class:`UploadFailed`); :meth:`RoomClient.fetch_file` fetches one
that a ``file_shared`` event named (:class:`DownloadProgress`, then :class:`FileFetched` or
:class:`FetchFailed`), and :meth:`RoomClient.download` does that and waits. Both go on from
where they were after a reconnect. A chunk of a file is handed to the connection only as fast
as it writes them, so a file in flight never queues more than a few chunks ahead of a message.

Every connection is TLS, and the room is known by its certificate's fingerprint (see
:mod:`core.room_tls`). A client told the fingerprint (by a room link or a discovery record)
checks it right after the TLS handshake, before it sends the room anything, and a room with
another certificate is refused with :class:`CertificateMismatch`. A client told nothing (a
typed address) takes the certificate of its first connection; people then compare
:attr:`RoomClient.verification_code` with the host's. Either way every reconnect must find
that same certificate, or the client ends (``certificate_changed``) and never resumes.

This module is the asyncio adapter: it owns the websocket, the tasks and the timers. The rules
(the handshake, resume and de-duplication, the mirror of the room, confirmations and pacing,
whether and when to reconnect) are :class:`core.participant.Participant`'s; the adapter tells
it what happens and carries out the actions it returns. The events and errors are defined
there and exported from here unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, ClassVar

from websockets.asyncio.client import ClientConnection, connect
from websockets.datastructures import HeadersLike
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.http11 import USER_AGENT
from websockets.uri import parse_uri

from core.join_code import JoinCode
from core.participant import (
    Acknowledged,
    AttemptFailed,
    CertificateChanged,
    ChunkTag,
    ClientEvent,
    Deliver,
    DownloadProgress,
    End,
    Ended,
    FetchFailed,
    FileFetched,
    FileQueued,
    FileRefused,
    Joined,
    JoinError,
    JoinRefused,
    MessageTooLarge,
    NotConnected,
    Participant,
    ParticipantAction,
    Queued,
    Reconnecting,
    ReconnectPolicy,
    Resumed,
    RoomRestarted,
    RoomUnreachable,
    ScheduleReconnect,
    SendFailed,
    SendFrame,
    UnknownFile,
    UploadFailed,
    UploadProgress,
    read_greeting,
)
from core.protocol import (
    AnswerId,
    AssistantState,
    BanId,
    BanInfo,
    ClientMessage,
    CloseRoom,
    ConfigureAssistant,
    ContinueAnswer,
    DeleteMessage,
    EditMessage,
    ErrorCode,
    FileId,
    FileShared,
    Kick,
    Lock,
    MessageId,
    ParticipantId,
    ParticipantInfo,
    React,
    Regenerate,
    RoomInfo,
    RoomPreview,
    SetMaxParticipants,
    StopAnswer,
    Unban,
    Welcome,
)
from core.room_tls import (
    FINGERPRINT_BYTES,
    CertificateMismatch,
    RoomIdentityError,
    check_pin,
    client_context,
    peer_fingerprint,
    verification_code,
)

__all__ = [
    "Acknowledged",
    "CertificateChanged",
    "CertificateMismatch",
    "ClientEvent",
    "DownloadFailed",
    "DownloadProgress",
    "Ended",
    "FetchFailed",
    "FileFetched",
    "FileQueued",
    "FileRefused",
    "JoinCodeMismatch",
    "JoinRefused",
    "MessageTooLarge",
    "NotConnected",
    "Queued",
    "ReconnectPolicy",
    "Reconnecting",
    "Resumed",
    "RoomClient",
    "RoomProbe",
    "RoomRestarted",
    "RoomUnreachable",
    "SendFailed",
    "UnknownFile",
    "UploadFailed",
    "UploadProgress",
    "probe_join_code",
    "probe_room",
]

log = logging.getLogger("gptgroup.client")

MAX_FRAME_BYTES = 4 * 1024 * 1024  # the largest frame we accept from a room
LEAVE_WAIT = 3.0  # seconds we wait, at most, for the room to close after we say we leave
OLDER_ROOM_TEXT = "this room runs an older GPT Group without encryption; ask the host to update"


class DownloadFailed(Exception):
    """:meth:`RoomClient.download` got no file: ``failure`` is the :class:`FetchFailed` that
    ended the fetch (its ``code`` and ``message`` say why)."""

    def __init__(self, failure: FetchFailed) -> None:
        super().__init__(failure.message)
        self.failure = failure
        self.file = failure.file
        self.code = failure.code
        self.message = failure.message


def _now() -> float:
    """The machine's clock: monotonic seconds, the same clock the event loop's timers use."""
    return time.monotonic()


@dataclass(frozen=True)
class RoomProbe:
    """What a room says about itself before joining, and which certificate it presented.

    Join it with ``RoomClient(url, name, fingerprint=probe.fingerprint)``, so that the room
    joined is the one whose :attr:`verification_code` people compared.
    """

    preview: RoomPreview
    fingerprint: bytes

    @property
    def verification_code(self) -> str:
        """The code for people to compare with the host's before joining."""
        return verification_code(self.fingerprint)


class JoinCodeMismatch(CertificateMismatch):
    """The room at a join code's address presented a certificate the code does not name."""

    def __init__(self, code: JoinCode, actual: bytes) -> None:
        RoomIdentityError.__init__(
            self,
            f"The room at {code.address} is not the one the join code {code.text} names: its "
            "security certificate is different. Check the code with the host (the room may "
            "have been opened again, with a new code); someone on the network may also be "
            "impersonating the room.",
        )
        self.expected = b""
        self.actual = actual


async def probe_join_code(code: JoinCode, *, wait: float = 5.0) -> RoomProbe:
    """What the room a join code names says about itself, as :func:`probe_room`: the
    certificate is checked against the code right after the TLS handshake, before anything
    is sent (else :class:`JoinCodeMismatch`). Join it with ``RoomClient(code.url, name,
    fingerprint=probe.fingerprint)``, which pins the whole certificate from then on."""
    ws = await _open(code.url, code, open_timeout=wait)
    return await _read_preview(ws, code.url, wait)


async def probe_room(url: str, *, fingerprint: bytes | None = None, wait: float = 5.0) -> RoomProbe:
    """What a room says about itself before joining (name, room code needed, assistant),
    and its certificate's fingerprint.

    Opens a connection, reads the greeting and closes without joining: nobody in the room
    sees it. With ``fingerprint``, a room that presents another certificate is sent nothing
    and refused. Raises :class:`CertificateMismatch`, :class:`RoomUnreachable` or
    :class:`JoinRefused` (the room refused on sight, or it is of an older version).
    """
    ws = await _open(url, fingerprint, open_timeout=wait)
    return await _read_preview(ws, url, wait)


async def _read_preview(ws: _RoomConnection, url: str, wait: float) -> RoomProbe:
    """Read the room's greeting on ``ws`` and close it."""
    try:
        frame = await asyncio.wait_for(ws.recv(), wait)
    except (TimeoutError, ConnectionClosed) as exc:
        raise RoomUnreachable(f"the room at {url} did not answer") from exc
    finally:
        await ws.close()
    return RoomProbe(read_greeting(frame).room, ws.fingerprint)


class _RoomConnection(ClientConnection):
    """A connection to a room that reads the room's certificate right after the TLS
    handshake and checks it against :attr:`pin` before the WebSocket upgrade: a room that
    fails the pin is sent nothing at all. :attr:`fingerprint` is the certificate's."""

    pin: ClassVar[bytes | JoinCode | None] = None
    fingerprint: bytes = bytes(FINGERPRINT_BYTES)

    async def handshake(
        self,
        additional_headers: HeadersLike | None = None,
        user_agent_header: str | None = USER_AGENT,
    ) -> None:
        self.fingerprint = peer_fingerprint(self.transport.get_extra_info("ssl_object"))
        if isinstance(self.pin, JoinCode):
            # scrypt (tens of milliseconds): off the event loop.
            if not await asyncio.to_thread(self.pin.matches, self.fingerprint):
                raise JoinCodeMismatch(self.pin, self.fingerprint)
        else:
            check_pin(self.fingerprint, self.pin)
        await super().handshake(additional_headers, user_agent_header)


def _pinned(expected: bytes | JoinCode | None) -> type[_RoomConnection]:
    """The connection class for one attempt, checking ``expected`` (a fingerprint or a join
    code's tag; None: nothing)."""

    class PinnedConnection(_RoomConnection):
        pin = expected

    return PinnedConnection


async def _open(
    url: str, pin: bytes | JoinCode | None, *, open_timeout: float, **options: Any
) -> _RoomConnection:
    """Open a WebSocket to the room at ``url`` over TLS, checking ``pin`` before the upgrade.

    ``options`` go to websockets' ``connect``. Raises :class:`CertificateMismatch`,
    :class:`JoinRefused` (``incompatible_version``: a room of a version from before rooms
    were encrypted) or :class:`RoomUnreachable`, its message in plain words.

    Only an unpinned attempt (``pin`` None) asks whether a room from before encryption is
    there: anyone on the path can break a TLS handshake and answer in plain text, and a
    client that knows which certificate to expect (from a link, a discovery record, or an
    earlier connection) must not be told by them that its room is of an older version.
    """
    try:
        ws = await connect(
            url,
            proxy=None,
            compression=None,
            open_timeout=open_timeout,
            ssl=client_context(),
            create_connection=_pinned(pin),
            **options,
        )
    except CertificateMismatch:
        raise
    except ConnectionRefusedError as exc:
        raise RoomUnreachable(f"cannot reach a room at {url}: {exc}") from exc
    except (ssl.SSLError, ConnectionError) as exc:
        # The other end would not speak TLS: an older room closes (or answers in plain text)
        # on seeing the TLS hello. Asking its /health in plain text tells it from the rest,
        # but only where we know of no certificate (see the docstring).
        if pin is None and await _answers_in_the_clear(url, open_timeout):
            raise JoinRefused(ErrorCode.INCOMPATIBLE_VERSION, OLDER_ROOM_TEXT) from exc
        raise RoomUnreachable(
            f"cannot set up an encrypted connection with {url}: it may not be a GPT Group "
            "room, or something on the network is in the way"
        ) from exc
    except (OSError, InvalidHandshake, TimeoutError, InvalidURI, RoomIdentityError) as exc:
        raise RoomUnreachable(f"cannot reach a room at {url}: {exc}") from exc
    assert isinstance(ws, _RoomConnection)
    return ws


async def _answers_in_the_clear(url: str, wait: float) -> bool:
    """Whether something at ``url``'s address answers ``GET /health`` in plain HTTP with 200,
    as rooms did before they were encrypted. (A room of today answers 426.) The request
    carries nothing but its path."""
    try:
        where = parse_uri(url)
        async with asyncio.timeout(wait):
            reader, writer = await asyncio.open_connection(where.host, where.port)
            try:
                writer.write(b"GET /health HTTP/1.1\r\nHost: room\r\nConnection: close\r\n\r\n")
                status = await reader.readline()
            finally:
                writer.transport.abort()
    except (OSError, TimeoutError, InvalidURI, ValueError):
        return False
    return status.split(b" ")[1:2] == [b"200"]


@dataclass(frozen=True)
class _Outgoing:
    """A frame to write: on which connection, and the chunk it carries, if any."""

    conn: ClientConnection
    text: str
    chunk: ChunkTag | None = None


class RoomClient:
    """One participant's connection to a room. See the module docstring."""

    def __init__(
        self,
        url: str,
        name: str,
        *,
        fingerprint: bytes | None = None,
        password: str | None = None,
        host_key: str | None = None,
        policy: ReconnectPolicy | None = None,
        open_timeout: float = 10.0,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        local_address: str | None = None,
        client_name: str = "gptgroup",
    ) -> None:
        if fingerprint is not None and len(fingerprint) != FINGERPRINT_BYTES:
            raise ValueError("a certificate fingerprint is the 32 bytes of a SHA-256")
        self.url = url
        self.name = name
        self._pin = fingerprint  # told, or else learned from the first connection
        self._open_timeout = open_timeout
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._local_address = local_address
        self._client_name = client_name
        self._machine = Participant(
            name,
            jitter=random.random,
            password=password,
            host_key=host_key,
            policy=policy,
            client_name=client_name,
        )
        self._ws: ClientConnection | None = None  # the live connection, once welcomed
        # Frames the machine produced, each with the connection it is meant for (and, for a
        # file's chunk, what to report once written), written in order by one task; a frame
        # for a connection that has since dropped goes nowhere.
        self._outgoing: asyncio.Queue[_Outgoing] = asyncio.Queue()
        self._fetch_waiters: dict[str, list[asyncio.Future[bytes]]] = {}
        self._writer: asyncio.Task[None] | None = None
        self._runner: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._reconnect_in: float | None = None  # the machine asked for another attempt
        self._events: asyncio.Queue[ClientEvent] = asyncio.Queue()
        self._ended_event = asyncio.Event()
        self._outbox_empty = asyncio.Event()
        self._outbox_empty.set()

    # ----------------------------------------------------------------- state

    @property
    def you(self) -> ParticipantInfo:
        you = self._machine.you
        if you is None:
            raise NotConnected("not joined yet")
        return you

    @property
    def room(self) -> RoomInfo:
        room = self._machine.room
        if room is None:
            raise NotConnected("not joined yet")
        return room

    @property
    def participants(self) -> dict[str, ParticipantInfo]:
        """Everyone in the room now, by participant id (a copy)."""
        return self._machine.participants

    @property
    def fingerprint(self) -> bytes | None:
        """The room certificate's fingerprint: the one we were told, else the one the first
        connection presented (None before it). Every later connection must present it."""
        return self._pin

    @property
    def verification_code(self) -> str | None:
        """The code for people to compare with the host's (None before the first connection,
        when no fingerprint was given)."""
        return None if self._pin is None else verification_code(self._pin)

    @property
    def instance(self) -> str | None:
        """Which run of the room we are in: it changes when the host restarted the room."""
        return self._machine.instance

    @property
    def assistant_state(self) -> AssistantState | None:
        """What the assistant is doing (None in a room without one)."""
        return self._machine.assistant_state

    @property
    def room_abilities(self) -> tuple[str, ...]:
        """The optional features the room announced (``continue``, ``files``, ...)."""
        return self._machine.room_abilities

    @property
    def connected(self) -> bool:
        return self._machine.connected

    @property
    def ended(self) -> Ended | None:
        return self._machine.ended

    @property
    def pending(self) -> list[Queued]:
        """Messages sent but not yet confirmed by the room, in the order they were typed."""
        return self._machine.pending

    @property
    def uploads(self) -> list[FileQueued]:
        """Files being shared and not yet confirmed by the room, in the order shared."""
        return self._machine.uploads

    @property
    def files(self) -> dict[FileId, FileShared]:
        """Every file shared in the room that an event delivered so far named, by id."""
        return self._machine.files

    @property
    def fetching(self) -> tuple[FileId, ...]:
        """The files being fetched now."""
        return self._machine.fetching

    @property
    def _session(self) -> str | None:
        """The session token to resume with (tests take a session over by setting it)."""
        return self._machine.session

    @_session.setter
    def _session(self, session: str | None) -> None:
        self._machine.session = session

    # ----------------------------------------------------------------- lifecycle

    async def connect(self) -> Welcome:
        """Join the room. Raises :class:`JoinRefused`, :class:`RoomUnreachable`, or
        :class:`CertificateMismatch` when the room is not the one the fingerprint given
        names (it is then sent nothing)."""
        if self._runner is not None:
            raise RuntimeError("connect() was already called")
        self._outgoing = asyncio.Queue()
        self._writer = asyncio.create_task(self._write_loop())
        try:
            outcome = await self._attempt()
        except BaseException:
            await self._stop_writer()
            raise
        if not isinstance(outcome, Welcome):
            await self._stop_writer()
            raise outcome
        self._runner = asyncio.create_task(self._run())
        return outcome

    async def events(self) -> AsyncIterator[ClientEvent]:
        """Every event, in room order, until and including the final :class:`Ended`."""
        while True:
            event = await self._events.get()
            yield event
            if isinstance(event, Ended):
                return

    async def leave(self) -> None:
        """Leave the room for good; returns once the connection is closed."""
        if self._machine.ended is not None:
            return
        ws = self._ws
        goodbye = self._machine.leave()
        if ws is not None:
            if goodbye is not None:
                with contextlib.suppress(ConnectionClosed):
                    await ws.send(goodbye.text)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ws.wait_closed(), LEAVE_WAIT)
            await ws.close()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        self._carry_out(self._machine.left(), None)

    async def wait_sent(self) -> None:
        """Return once every message sent and every file shared so far is confirmed or
        refused by the room (or cancelled), or the client has ended. Wrap it in
        ``asyncio.wait_for`` to bound the wait."""
        ended = asyncio.ensure_future(self._ended_event.wait())
        drained = asyncio.ensure_future(self._outbox_empty.wait())
        try:
            await asyncio.wait({ended, drained}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
            drained.cancel()

    # ----------------------------------------------------------------- actions

    async def send(self, text: str, *, reply_to: int | None = None) -> MessageId:
        """Queue ``text`` to be posted; returns its client id at once (see :meth:`post`)."""
        return self.post(text, reply_to=reply_to)

    def post(self, text: str, *, reply_to: int | None = None) -> MessageId:
        """Queue ``text`` to be posted, as a reply to message ``reply_to`` (its ``seq``: a
        person's message, an answer's ``answer_started`` or a shared file) if given; returns
        its client id. Never waits, so a GUI can call it.

        Messages go out in order, paced to the room's rate limit; while reconnecting they wait
        in the outbox (see :attr:`pending`) and go out on resume. A refusal arrives as a
        :class:`SendFailed` event. Raises :class:`MessageTooLarge` or :class:`NotConnected`."""
        message_id = MessageId(uuid.uuid4().hex)
        actions = self._machine.post(message_id, text, _now(), time.time(), reply_to)
        self._carry_out(actions, self._ws)
        return message_id

    def share_file(self, name: str, data: bytes, *, assistant: bool = False) -> MessageId:
        """Share ``data`` as ``name``; returns its client id at once. Never waits.

        ``assistant``: the sender lets the assistant read it (the default is no: nothing of
        the file reaches the AI provider). ``data`` is held, not copied, until the room has
        it all: do not change it meanwhile. Its progress and outcome arrive as events (see
        the module docstring); it goes on after a reconnect. Raises :class:`FileRefused` at
        once for a file the room would refuse on sight (files off, empty, over the size
        limit), :class:`NotConnected` once ended."""
        upload_id = MessageId(uuid.uuid4().hex)
        actions = self._machine.share(
            upload_id, name, data, _now(), time.time(), assistant=assistant
        )
        self._carry_out(actions, self._ws)
        return upload_id

    def cancel_upload(self, upload_id: MessageId) -> None:
        """Stop sharing a file: an :class:`UploadFailed` (``cancelled``) follows, unless the
        room confirmed it already."""
        self._carry_out(self._machine.cancel_upload(upload_id, _now()), self._ws)

    def fetch_file(self, file: FileId) -> None:
        """Start fetching ``file`` (or let a fetch under way go on): :class:`DownloadProgress`
        events, then :class:`FileFetched` or :class:`FetchFailed`. Never waits. Raises
        :class:`UnknownFile` for a file no delivered event named, :class:`NotConnected` once
        ended."""
        self._carry_out(self._machine.fetch(file, _now()), self._ws)

    def stop_fetch(self, file: FileId) -> None:
        """Stop fetching ``file``; a :class:`FetchFailed` (``cancelled``) follows."""
        self._carry_out(self._machine.stop_fetch(file, _now()), self._ws)

    async def download(self, file: FileId) -> bytes:
        """Fetch ``file`` and return its bytes (checked against its SHA-256). Raises
        :class:`DownloadFailed` when the fetch fails, :class:`UnknownFile` and
        :class:`NotConnected` as :meth:`fetch_file` does. The events of :meth:`fetch_file`
        are delivered too. Cancelling the wait does not stop the fetch."""
        waiter: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        waiters = self._fetch_waiters.setdefault(file, [])
        waiters.append(waiter)
        try:
            self.fetch_file(file)
            return await waiter
        finally:
            if waiter in waiters:
                waiters.remove(waiter)
            if not waiters:
                self._fetch_waiters.pop(file, None)

    async def set_typing(self, active: bool) -> None:
        """Say whether we are typing. Dropped silently while not connected (it is ephemeral)."""
        frame = self._machine.typing(active)
        ws = self._ws
        if frame is not None and ws is not None:
            with contextlib.suppress(ConnectionClosed):
                await ws.send(frame.text)

    @property
    def bans(self) -> tuple[BanInfo, ...]:
        """Host only: the bans in force (empty for guests)."""
        return self._machine.bans

    async def unban(self, ban_id: BanId) -> None:
        """Host only: lift a ban (an id from :attr:`bans`)."""
        await self._send_now(Unban(ban=ban_id))

    async def kick(self, participant_id: ParticipantId, *, ban: bool = False) -> None:
        """Host only: remove a participant; with ``ban`` their address may not rejoin."""
        await self._send_now(Kick(participant=participant_id, ban=ban))

    async def lock(self, locked: bool) -> None:
        """Host only: refuse (or again allow) new joins."""
        await self._send_now(Lock(locked=locked))

    async def set_max_participants(self, limit: int | None) -> None:
        """Host only: cap the room at ``limit`` participants, or lift the cap with None."""
        await self._send_now(SetMaxParticipants(max=limit))

    async def close_room(self) -> None:
        """Host only: close the room for everyone."""
        await self._send_now(CloseRoom())

    async def stop_answer(self, answer_id: AnswerId) -> None:
        """Stop an answer (or take it off the queue): the person who asked, or the host."""
        await self._send_now(StopAnswer(answer=answer_id))

    async def regenerate(self, answer_id: AnswerId) -> None:
        """Ask for a new answer to the same message: the person who asked, or the host."""
        await self._send_now(Regenerate(answer=answer_id))

    async def continue_answer(self, answer_id: AnswerId) -> None:
        """Ask for the rest of an answer the model cut off at its length limit (the room lists
        the ability ``continue``): the person who asked, or the host."""
        await self._send_now(ContinueAnswer(answer=answer_id))

    async def edit_message(self, seq: int, text: str) -> None:
        """Replace the text of our own message ``seq`` (within the room's ``edit_window``).
        The room answers with a ``message_edited`` event, or an ``error``."""
        await self._send_now(EditMessage(message=seq, text=text))

    async def delete_message(self, seq: int) -> None:
        """Take back message ``seq``: our own; the host's: anyone's, or a finished answer
        (by its ``answer_started`` seq). The room answers with ``message_deleted``."""
        await self._send_now(DeleteMessage(message=seq))

    async def react(self, seq: int, emoji: str, *, active: bool = True) -> None:
        """Add (``active``) or take back our reaction ``emoji`` (one emoji) on message
        ``seq``. The room answers with a ``reaction`` event (none for a repeat)."""
        await self._send_now(React(message=seq, emoji=emoji, active=active))

    async def configure_assistant(
        self,
        *,
        mode: str,
        persona: str = "",
        token_budget: int | None = None,
        answer_quota: int | None = None,
        quota_window: float = 600.0,
    ) -> None:
        """Host only: set how the assistant behaves, live (every setting at once)."""
        await self._send_now(
            ConfigureAssistant(mode, persona, token_budget, answer_quota, quota_window)
        )

    async def _send_now(self, message: ClientMessage) -> None:
        """Send a request at once on the live connection, so its caller learns if it could
        not be sent (unlike chat messages, requests are not kept for after a resume)."""
        frame = self._machine.command(message)  # NotConnected without a live connection
        ws = self._ws
        if ws is None:  # always in step with the machine; this tells the type checker
            raise NotConnected("not connected to the room right now")
        try:
            await ws.send(frame.text)
        except ConnectionClosed as exc:
            raise NotConnected("the connection dropped; try again when reconnected") from exc

    # ----------------------------------------------------------------- carrying out actions

    def _carry_out(self, actions: list[ParticipantAction], conn: ClientConnection | None) -> None:
        """Do what the machine said, in order. ``conn`` is the connection the call was about
        (the one a frame came on, or the live one); the machine's frames go to it."""
        for action in actions:
            match action:
                case SendFrame(text=text, chunk=chunk):
                    # The machine only writes with a connection open; without one, what the
                    # frame carried is kept by the machine for the next welcome.
                    if conn is not None:
                        self._outgoing.put_nowait(_Outgoing(conn, text, chunk))
                case Deliver(event=event):
                    if isinstance(event, FileFetched | FetchFailed):
                        self._fetched(event)
                    self._events.put_nowait(event)
                case Joined():
                    self._ws = conn
                case AttemptFailed():
                    pass  # whoever made the attempt closes it and reports the error
                case ScheduleReconnect(delay=delay):
                    self._reconnect_in = delay
                case End(ended=ended):
                    self._finish(ended)
        if self._machine.pending or self._machine.uploads:
            self._outbox_empty.clear()
        else:
            self._outbox_empty.set()
        self._schedule_tick()

    def _fetched(self, outcome: FileFetched | FetchFailed) -> None:
        """Hand a fetch's outcome to whoever waits in :meth:`download`."""
        for waiter in self._fetch_waiters.pop(outcome.file, []):
            if waiter.done():
                continue
            if isinstance(outcome, FileFetched):
                waiter.set_result(outcome.data)
            else:
                waiter.set_exception(DownloadFailed(outcome))

    def _schedule_tick(self) -> None:
        """Keep one timer armed for the machine's next wakeup (a paced message, the end of
        the replay wait), or none when it waits for nothing."""
        at = self._machine.next_wakeup
        if at == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = None, at
        if at is not None:
            delay = max(0.0, at - _now())
            self._timer = asyncio.get_running_loop().call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer, self._timer_at = None, None
        self._carry_out(self._machine.tick(_now()), self._ws)

    def _finish(self, ended: Ended) -> None:
        """The machine ended: no more writing, timing or reconnecting; the stream's last event."""
        self._ws = None
        self._reconnect_in = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer, self._timer_at = None, None
        if self._writer is not None:
            self._writer.cancel()
        self._ended_event.set()
        self._events.put_nowait(ended)

    async def _write_loop(self) -> None:
        """Write the machine's frames in order, each to the connection it was meant for.

        ``send`` returns once the connection has taken the frame into its buffer, waiting
        while that buffer is full: that is when a chunk counts as written, and the machine
        hands out the next ones."""
        while True:
            frame = await self._outgoing.get()
            try:
                await frame.conn.send(frame.text)
            except ConnectionClosed:
                continue  # sent again after the next welcome (a chunk: from the room's offset)
            if frame.chunk is not None:
                self._carry_out(self._machine.chunk_written(frame.chunk, _now()), self._ws)

    async def _stop_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer

    # ----------------------------------------------------------------- connections

    async def _attempt(self) -> Welcome | JoinError | CertificateMismatch:
        """One connection attempt, handshake included, told to the machine as it goes: the
        welcome (the connection is then the live one), or why not (the machine's actions
        have then said what follows: another attempt, the end, or nothing on a first one).

        A first attempt that finds another certificate than we were told returns
        :class:`CertificateMismatch`, for :meth:`connect` to raise; a reconnect that does
        ends the client (``certificate_changed``)."""
        kwargs: dict[str, object] = {}
        if self._local_address is not None:
            kwargs["local_addr"] = (self._local_address, 0)
        first = self._runner is None
        try:
            ws = await _open(
                self.url,
                self._pin,
                open_timeout=self._open_timeout,
                ping_interval=self._ping_interval,
                ping_timeout=self._ping_timeout,
                max_size=MAX_FRAME_BYTES,
                close_timeout=2.0,
                user_agent_header=self._client_name,
                **kwargs,
            )
        except CertificateMismatch as exc:
            if first:
                return exc
            self._carry_out(self._machine.certificate_changed(_now()), None)
            return CertificateChanged()
        except JoinRefused as exc:  # a room from before encryption
            return exc if first else self._attempt_failed(str(exc))
        except RoomUnreachable as exc:
            return self._attempt_failed(str(exc))
        if self._pin is None:
            self._pin = ws.fingerprint  # the session's certificate from now on
        try:
            outcome = await asyncio.wait_for(self._handshake(ws), self._open_timeout)
        except TimeoutError:  # it accepted the connection but never greeted us
            outcome = self._attempt_failed(f"the room at {self.url} did not answer in time")
        except ConnectionClosed as exc:
            outcome = self._attempt_failed(f"the connection closed during the handshake: {exc}")
        except BaseException:
            await ws.close()
            raise
        if not isinstance(outcome, Welcome):
            await ws.close()
        return outcome

    async def _handshake(self, ws: _RoomConnection) -> Welcome | JoinError:
        """Feed the machine the frames of a new connection until it has joined or refused."""
        self._carry_out(self._machine.opened(ws.fingerprint), ws)
        while True:
            actions = self._machine.receive(await ws.recv(), _now())
            self._carry_out(actions, ws)
            for action in actions:
                if isinstance(action, Joined):
                    return action.welcome
                if isinstance(action, AttemptFailed):
                    return action.error

    def _attempt_failed(self, why: str) -> JoinError:
        """The transport gave up on an attempt: tell the machine, return the error it made."""
        actions = self._machine.connection_failed(why, _now())
        self._carry_out(actions, None)
        failed = actions[0]  # the machine always reports an attempt's end first
        assert isinstance(failed, AttemptFailed)
        return failed.error

    async def _run(self) -> None:
        """Run the connection; whatever goes wrong, the event stream ends with :class:`Ended`."""
        try:
            await self._follow()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the connection to the room failed unexpectedly")
            ws = self._ws
            self._carry_out(self._machine.abandon("the connection to the room failed"), None)
            if ws is not None:
                await ws.close()

    async def _follow(self) -> None:
        """Read the live connection; when it drops, reconnect when and while the machine says."""
        while True:
            ws = self._ws
            if ws is not None:
                try:
                    async for frame in ws:
                        self._carry_out(self._machine.receive(frame, _now()), ws)
                except ConnectionClosed:
                    pass
                self._ws = None
                lost = self._machine.connection_lost(ws.close_code, ws.close_reason or "", _now())
                self._carry_out(lost, None)
            elif self._reconnect_in is not None:
                delay, self._reconnect_in = self._reconnect_in, None
                await asyncio.sleep(delay)
                await self._attempt()
            else:
                return  # ended, or leaving: leave() finishes
