"""The participant's side of a room: connect, send, receive events, survive network blips.

Usage::

    client = RoomClient("ws://192.0.2.10:47321/", "Sam")
    welcome = await client.connect()          # raises JoinRefused / RoomUnreachable
    await client.send("hello everyone")
    async for event in client.events():       # ends after an Ended event
        ...
    await client.leave()

After a dropped connection the client reconnects with jittered exponential backoff and
resumes from the last sequence number it delivered: every missed event arrives exactly once
and in order. Messages sent meanwhile wait in an outbox and are sent on resume; their client
ids make the room ignore a second copy. A closed room, a kick, a ban or a refused join ends
the retries and is reported as an :class:`Ended` event.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from core.codec import parse_server_frame, serialize
from core.outbox import Outbox, Outgoing
from core.protocol import (
    ABILITIES,
    AUTH_PASSWORD,
    PROTOCOL_VERSION,
    TERMINAL_CLOSE_CODES,
    Ack,
    AnswerDelta,
    AnswerFinished,
    AnswerStarted,
    AssistantReport,
    AssistantState,
    AssistantStateChanged,
    AuthProof,
    BanInfo,
    BanList,
    ClientMessage,
    CloseCode,
    CloseRoom,
    ConfigureAssistant,
    ErrorCode,
    ErrorMessage,
    Hello,
    Kick,
    Leave,
    Lock,
    MessagePosted,
    Notice,
    ParticipantInfo,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantStatusChanged,
    ProtocolError,
    Regenerate,
    ResumeRequest,
    RoomClosed,
    RoomEvent,
    RoomInfo,
    RoomPreview,
    RoomUpdated,
    SendMessage,
    ServerHello,
    ServerMessage,
    SetMaxParticipants,
    SetTyping,
    StopAnswer,
    TypingChanged,
    Unban,
    Welcome,
    password_proof,
)

__all__ = [
    "ClientEvent",
    "Ended",
    "JoinRefused",
    "MessageTooLarge",
    "NotConnected",
    "ReconnectPolicy",
    "Reconnecting",
    "Resumed",
    "RoomClient",
    "RoomRestarted",
    "RoomUnreachable",
    "SendFailed",
    "probe_room",
]

log = logging.getLogger("gptgroup.client")

REPLAY_WAIT = 2.0  # seconds unconfirmed messages wait, at most, for the replay to be read

EndReason = Literal[
    "left",
    "closed_by_host",
    "host_shutdown",
    "kicked",
    "banned",
    "refused",
    "unreachable",
    "replaced",
    "restarted",
]


class RoomRestarted(Exception):
    """On reconnecting, another run of the room answered (the host restarted it)."""

    def __init__(self, preview: RoomPreview) -> None:
        super().__init__("the host restarted the room")
        self.preview = preview


class JoinRefused(Exception):
    """The room answered but would not let us in (wrong password, full, locked, banned...)."""

    def __init__(self, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after


class RoomUnreachable(ConnectionError):
    """Nothing that speaks the room protocol answered at that address."""


class NotConnected(RuntimeError):
    """The action needs a live connection (the client is reconnecting, or has ended)."""


class MessageTooLarge(ValueError):
    """The message would not fit in one frame under the room's limits."""


@dataclass(frozen=True)
class Reconnecting:
    """The connection dropped; attempt ``attempt`` to resume starts in ``delay`` seconds."""

    attempt: int
    delay: float
    reason: str


@dataclass(frozen=True)
class Resumed:
    """Back in the room. ``resumed`` is false when the room had forgotten us and we rejoined
    as a new participant; ``history_complete`` is false when some missed events were gone."""

    resumed: bool
    history_complete: bool
    you: ParticipantInfo


@dataclass(frozen=True)
class SendFailed:
    """The room refused the message with client id ``id``; it will not be posted."""

    id: str
    code: str
    message: str
    retry_after: float | None = None


@dataclass(frozen=True)
class Ended:
    """The client is out of the room for good and will not retry.

    ``reason`` ``"restarted"``: the host restarted the room as a new one (another
    ``instance``) while we were away; we did not join it. ``new_room`` says what it is, so
    the user can decide whether to join it (where messages go may have changed).
    """

    reason: EndReason
    message: str
    close_code: int | None = None
    new_room: RoomPreview | None = None


ClientEvent = (
    RoomEvent
    | TypingChanged
    | ErrorMessage
    | AnswerDelta
    | AssistantStateChanged
    | AssistantReport
    | BanList
    | Reconnecting
    | Resumed
    | SendFailed
    | Ended
)


@dataclass(frozen=True)
class ReconnectPolicy:
    """Backoff between reconnect attempts: doubling from ``initial_delay`` up to
    ``max_delay``, each delay jittered to between half and all of it; after
    ``give_up_after`` seconds without success the client ends with reason ``unreachable``."""

    initial_delay: float = 0.25
    max_delay: float = 5.0
    give_up_after: float = 120.0

    def delay(self, attempt: int) -> float:
        cap = min(self.max_delay, self.initial_delay * 2.0 ** (attempt - 1))
        return float(cap / 2 + random.uniform(0, cap / 2))


_END_FOR_CLOSE: dict[int, EndReason] = {
    CloseCode.NORMAL: "left",
    CloseCode.ROOM_CLOSED: "closed_by_host",
    CloseCode.KICKED: "kicked",
    CloseCode.BANNED: "banned",
    CloseCode.SESSION_REPLACED: "replaced",
}


async def probe_room(url: str, *, wait: float = 5.0) -> RoomPreview:
    """What a room says about itself before joining (name, password needed, assistant).

    Opens a connection, reads the greeting and closes without joining: nobody in the room
    sees it. Raises :class:`RoomUnreachable` or :class:`JoinRefused`.
    """
    try:
        ws = await connect(url, proxy=None, compression=None, open_timeout=wait)
    except (OSError, InvalidHandshake, TimeoutError, InvalidURI) as exc:
        raise RoomUnreachable(f"cannot reach a room at {url}: {exc}") from exc
    try:
        greeting = parse_server_frame(await asyncio.wait_for(ws.recv(), wait))
    except (TimeoutError, ConnectionClosed) as exc:
        raise RoomUnreachable(f"the room at {url} did not answer") from exc
    except ProtocolError as exc:
        raise JoinRefused(exc.code, f"the server sent something unreadable: {exc}") from exc
    finally:
        await ws.close()
    if isinstance(greeting, ErrorMessage):
        raise JoinRefused(greeting.code, greeting.message, greeting.retry_after)
    if not isinstance(greeting, ServerHello):
        raise JoinRefused(ErrorCode.BAD_MESSAGE, "the server did not greet us properly")
    return greeting.room


class RoomClient:
    """One participant's connection to a room. See the module docstring."""

    def __init__(
        self,
        url: str,
        name: str,
        *,
        password: str | None = None,
        host_key: str | None = None,
        policy: ReconnectPolicy | None = None,
        open_timeout: float = 10.0,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 20.0,
        local_address: str | None = None,
        client_name: str = "gptgroup",
    ) -> None:
        self.url = url
        self.name = name
        self._password = password
        self._host_key = host_key
        self._policy = policy or ReconnectPolicy()
        self._open_timeout = open_timeout
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._local_address = local_address
        self._client_name = client_name
        self._ws: ClientConnection | None = None
        self._session: str | None = None
        self._instance: str | None = None
        self._my_ids: set[str] = set()
        self._last_seq = 0
        self._you: ParticipantInfo | None = None
        self._room: RoomInfo | None = None
        self._participants: dict[str, ParticipantInfo] = {}
        self._assistant_state: AssistantState | None = None
        self._outbox = Outbox(time.monotonic())
        self._outbox_empty = asyncio.Event()
        self._outbox_empty.set()
        self._sender_wake = asyncio.Event()
        self._sender: asyncio.Task[None] | None = None
        self._events: asyncio.Queue[ClientEvent] = asyncio.Queue()
        self._runner: asyncio.Task[None] | None = None
        self._ended: Ended | None = None
        self._ended_event = asyncio.Event()
        self._closed_reason: EndReason | None = None
        self._leaving = False
        self._bans: tuple[BanInfo, ...] = ()
        self._replay_until = 0  # the last seq of the replay after the latest welcome
        self._replay_deadline = 0.0

    # ----------------------------------------------------------------- state

    @property
    def you(self) -> ParticipantInfo:
        if self._you is None:
            raise NotConnected("not joined yet")
        return self._you

    @property
    def room(self) -> RoomInfo:
        if self._room is None:
            raise NotConnected("not joined yet")
        return self._room

    @property
    def participants(self) -> dict[str, ParticipantInfo]:
        """Everyone in the room now, by participant id (a copy)."""
        return dict(self._participants)

    @property
    def instance(self) -> str | None:
        """Which run of the room we are in: it changes when the host restarted the room."""
        return self._instance

    @property
    def assistant_state(self) -> AssistantState | None:
        """What the assistant is doing (None in a room without one)."""
        return self._assistant_state

    @property
    def connected(self) -> bool:
        return self._ws is not None and self._ended is None

    @property
    def ended(self) -> Ended | None:
        return self._ended

    @property
    def pending(self) -> list[tuple[str, str]]:
        """Messages sent but not yet confirmed by the room, as (client id, text), in order."""
        return [(o.id, o.text) for o in self._outbox.items]

    # ----------------------------------------------------------------- lifecycle

    async def connect(self) -> Welcome:
        """Join the room. Raises :class:`JoinRefused` or :class:`RoomUnreachable`."""
        if self._runner is not None:
            raise RuntimeError("connect() was already called")
        welcome = await self._open()
        self._runner = asyncio.create_task(self._run())
        self._sender = asyncio.create_task(self._send_loop())
        return welcome

    async def events(self) -> AsyncIterator[ClientEvent]:
        """Every event, in room order, until and including the final :class:`Ended`."""
        while True:
            event = await self._events.get()
            yield event
            if isinstance(event, Ended):
                return

    async def leave(self) -> None:
        """Leave the room for good; returns once the connection is closed."""
        if self._ended is not None:
            return
        self._leaving = True
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(ConnectionClosed):
                await ws.send(serialize(Leave()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ws.wait_closed(), 3.0)
            await ws.close()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        self._end(Ended("left", "you left the room", CloseCode.NORMAL))

    async def wait_sent(self) -> None:
        """Return once every message sent so far is confirmed or refused by the room, or the
        client has ended. Wrap it in ``asyncio.wait_for`` to bound the wait."""
        ended = asyncio.ensure_future(self._ended_event.wait())
        drained = asyncio.ensure_future(self._outbox_empty.wait())
        try:
            await asyncio.wait({ended, drained}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
            drained.cancel()

    # ----------------------------------------------------------------- actions

    async def send(self, text: str) -> str:
        """Queue ``text`` to be posted; returns its client id at once (see :meth:`post`)."""
        return self.post(text)

    def post(self, text: str) -> str:
        """Queue ``text`` to be posted; returns its client id. Never waits, so a GUI can call it.

        Messages go out in order, paced to the room's rate limit; while reconnecting they wait
        in the outbox (see :attr:`pending`) and go out on resume. A refusal arrives as a
        :class:`SendFailed` event. Raises :class:`MessageTooLarge` or :class:`NotConnected`."""
        if self._ended is not None:
            raise NotConnected(f"no longer in the room: {self._ended.message}")
        message_id = uuid.uuid4().hex
        frame = serialize(SendMessage(id=message_id, text=text))
        if self._room is not None:
            limits = self._room.limits
            if len(text) > limits.max_text_chars:
                raise MessageTooLarge(f"messages are at most {limits.max_text_chars} characters")
            if len(frame.encode()) > limits.max_frame_bytes:
                raise MessageTooLarge("message is too large to send")
        self._outbox.add(Outgoing(message_id, text))
        self._outbox_empty.clear()
        self._sender_wake.set()
        return message_id

    async def set_typing(self, active: bool) -> None:
        """Say whether we are typing. Dropped silently while not connected (it is ephemeral)."""
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(ConnectionClosed):
                await ws.send(serialize(SetTyping(active=active)))

    @property
    def bans(self) -> tuple[BanInfo, ...]:
        """Host only: the bans in force (empty for guests)."""
        return self._bans

    async def unban(self, ban_id: str) -> None:
        """Host only: lift a ban (an id from :attr:`bans`)."""
        await self._send_now(Unban(ban=ban_id))

    async def kick(self, participant_id: str, *, ban: bool = False) -> None:
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

    async def stop_answer(self, answer_id: str) -> None:
        """Stop an answer (or take it off the queue): the person who asked, or the host."""
        await self._send_now(StopAnswer(answer=answer_id))

    async def regenerate(self, answer_id: str) -> None:
        """Ask for a new answer to the same message: the person who asked, or the host."""
        await self._send_now(Regenerate(answer=answer_id))

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
        ws = self._ws
        if ws is None or self._ended is not None:
            raise NotConnected("not connected to the room right now")
        try:
            await ws.send(serialize(message))
        except ConnectionClosed as exc:
            raise NotConnected("the connection dropped; try again when reconnected") from exc

    # ----------------------------------------------------------------- connection

    async def _open(self) -> Welcome:
        """Connect and do the handshake; on success the connection is current."""
        kwargs: dict[str, object] = {}
        if self._local_address is not None:
            kwargs["local_addr"] = (self._local_address, 0)
        try:
            ws = await connect(
                self.url,
                proxy=None,
                compression=None,
                open_timeout=self._open_timeout,
                ping_interval=self._ping_interval,
                ping_timeout=self._ping_timeout,
                max_size=4 * 1024 * 1024,
                close_timeout=2.0,
                user_agent_header=self._client_name,
                **kwargs,  # type: ignore[arg-type]
            )
        except (OSError, InvalidHandshake, TimeoutError, InvalidURI) as exc:
            raise RoomUnreachable(f"cannot reach a room at {self.url}: {exc}") from exc
        try:
            welcome = await asyncio.wait_for(self._handshake(ws), self._open_timeout)
        except TimeoutError as exc:  # it accepted the connection but never greeted us
            await ws.close()
            raise RoomUnreachable(f"the room at {self.url} did not answer in time") from exc
        except BaseException:
            await ws.close()
            raise
        self._ws = ws
        return welcome

    async def _handshake(self, ws: ClientConnection) -> Welcome:
        try:
            greeting = parse_server_frame(await ws.recv())
            if isinstance(greeting, ErrorMessage):  # refused on sight: closed room, banned...
                raise JoinRefused(greeting.code, greeting.message, greeting.retry_after)
            if not isinstance(greeting, ServerHello):
                raise JoinRefused(ErrorCode.BAD_MESSAGE, "the server did not greet us properly")
            if greeting.protocol != PROTOCOL_VERSION:
                raise JoinRefused(
                    ErrorCode.INCOMPATIBLE_VERSION,
                    f"the room speaks protocol {greeting.protocol}; this app speaks "
                    f"{PROTOCOL_VERSION}. Update the app that is older.",
                )
            restarted = greeting.room.instance and greeting.room.instance != self._instance
            if self._instance is not None and restarted:
                raise RoomRestarted(greeting.room)  # before hello: we never join it
            if greeting.room.password_required and self._password is None:
                raise JoinRefused(ErrorCode.AUTH_FAILED, "this room needs a password")
            auth = None
            if self._password is not None and AUTH_PASSWORD in greeting.auth.methods:
                auth = AuthProof(AUTH_PASSWORD, password_proof(self._password, greeting.auth.nonce))
            resume = None
            if self._session is not None:
                resume = ResumeRequest(session=self._session, last_seq=self._last_seq)
            host_proof = None
            if self._host_key is not None:
                host_proof = password_proof(self._host_key, greeting.auth.nonce)
            hello = Hello(
                protocol=PROTOCOL_VERSION,
                name=self.name,
                abilities=ABILITIES,
                auth=auth,
                resume=resume,
                host_proof=host_proof,
                client=self._client_name,
            )
            await ws.send(serialize(hello))
            reply = parse_server_frame(await ws.recv())
        except ProtocolError as exc:
            raise JoinRefused(exc.code, f"the server sent something unreadable: {exc}") from exc
        except ConnectionClosed as exc:
            raise RoomUnreachable(f"the connection closed during the handshake: {exc}") from exc
        if isinstance(reply, ErrorMessage):
            raise JoinRefused(reply.code, reply.message, reply.retry_after)
        if not isinstance(reply, Welcome):
            raise JoinRefused(ErrorCode.BAD_MESSAGE, "the server did not welcome us properly")
        if self._instance is not None and reply.instance != self._instance:
            self._last_seq = 0  # the host restarted the room: its numbering starts again
        self._instance = reply.instance
        self._replay_until = reply.last_seq
        self._replay_deadline = time.monotonic() + REPLAY_WAIT
        self._session = reply.session
        self._you = reply.you
        self._my_ids.add(reply.you.id)
        self._room = reply.room
        self._outbox.pace_for(reply.room.limits, time.monotonic())
        self._participants = {p.id: p for p in reply.participants}
        self._assistant_state = reply.assistant_state
        return reply

    async def _run(self) -> None:
        """Run the connection; whatever goes wrong, the event stream ends with :class:`Ended`."""
        try:
            await self._read_and_reconnect()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the connection to the room failed unexpectedly")
            self._end(Ended("unreachable", "the connection to the room failed"))

    async def _read_and_reconnect(self) -> None:
        """Read frames until the room ends for us, reconnecting in between as needed."""
        while True:
            ws = self._ws
            assert ws is not None
            try:
                async for frame in ws:
                    self._on_frame(frame)
            except ConnectionClosed:
                pass
            self._ws = None
            code = ws.close_code
            if self._leaving:
                return
            if code is not None and code in TERMINAL_CLOSE_CODES:
                reason = _END_FOR_CLOSE.get(code, "refused")
                if code == CloseCode.ROOM_CLOSED and self._closed_reason is not None:
                    reason = self._closed_reason
                self._end(Ended(reason, ws.close_reason or "the room closed the connection", code))
                return
            if not await self._reconnect(f"connection lost ({code or 'no close code'})"):
                return

    async def _reconnect(self, why: str) -> bool:
        started = time.monotonic()
        attempt = 0
        asked_to_wait = 0.0  # the room's own retry_after, when it said "not so often"
        while True:
            attempt += 1
            delay = max(self._policy.delay(attempt), asked_to_wait)
            if time.monotonic() - started + delay > self._policy.give_up_after:
                self._end(Ended("unreachable", "the room could not be reached again"))
                return False
            self._events.put_nowait(Reconnecting(attempt, delay, why))
            await asyncio.sleep(delay)
            was = self._you
            try:
                welcome = await self._open()
            except RoomUnreachable as exc:
                why = str(exc)
                continue
            except RoomRestarted as exc:
                text = "The host restarted the room: it is a new room now, and you are not in it."
                self._end(Ended("restarted", text, new_room=exc.preview))
                return False
            except JoinRefused as exc:
                if exc.code == ErrorCode.FLOODING:  # resuming too often: wait as told, go on
                    why, asked_to_wait = exc.message, min(exc.retry_after or 5.0, 60.0)
                    continue
                reason: EndReason = "banned" if exc.code == ErrorCode.BANNED else "refused"
                if exc.code == ErrorCode.ROOM_CLOSED:
                    reason = "closed_by_host"
                self._end(Ended(reason, exc.message))
                return False
            if not welcome.resumed and was is not None:
                log.info("the room forgot our session; rejoined as %s", welcome.you.name)
            self._events.put_nowait(Resumed(welcome.resumed, welcome.history_complete, welcome.you))
            self._outbox.requeue_all()  # the room drops any it already has
            self._sender_wake.set()
            return True

    async def _send_loop(self) -> None:
        """Write queued messages to the current connection, in order and at the room's pace."""
        while True:
            item, wait = (None, float("inf"))
            now = time.monotonic()
            # Nothing is (re)sent before the replay after a welcome has been read (or a moment
            # has passed): it may confirm messages the room already posted under an identity
            # we had before, which would otherwise be posted twice.
            replaying = self._last_seq < self._replay_until and now < self._replay_deadline
            if replaying:
                wait = self._replay_deadline - now
            elif self._ws is not None:
                item, wait = self._outbox.next_ready(now)
            if item is None:
                self._sender_wake.clear()
                timeout = None if wait == float("inf") else wait
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._sender_wake.wait(), timeout)
                continue
            ws = self._ws
            if ws is None:
                self._outbox.requeue_all()
                continue
            with contextlib.suppress(ConnectionClosed):  # requeued on resume
                await ws.send(serialize(SendMessage(id=item.id, text=item.text)))

    def _on_frame(self, frame: str | bytes) -> None:
        try:
            message = parse_server_frame(frame)
        except ProtocolError as exc:
            log.warning("ignoring a frame from the room: %s", exc)
            return
        self._on_message(message)

    def _on_message(self, message: ServerMessage) -> None:
        match message:
            case Ack(id=message_id):
                self._confirm(message_id)
                return
            case ErrorMessage(ref=ref, code=ErrorCode.RATE_LIMITED) if ref is not None:
                # Paced sends should not get here; if they do, wait as told and try again.
                self._outbox.defer(ref, message.retry_after or 1.0, time.monotonic())
                self._sender_wake.set()
                return
            case ErrorMessage(ref=ref) if ref is not None and self._confirm(ref):
                self._events.put_nowait(
                    SendFailed(ref, message.code, message.message, message.retry_after)
                )
                return
            case AssistantStateChanged(state=state):
                self._assistant_state = state
                self._events.put_nowait(message)
                return
            case BanList(bans=bans):
                self._bans = bans
                self._events.put_nowait(message)
                return
            case ErrorMessage() | TypingChanged() | AnswerDelta() | AssistantReport():
                self._events.put_nowait(message)
                return
            case ServerHello() | Welcome():
                log.warning("ignoring an unexpected %s frame", message.TYPE)
                return
        if message.seq <= self._last_seq:
            return  # already delivered before a reconnect
        self._last_seq = message.seq
        self._track(message)
        self._events.put_nowait(message)
        if message.seq == self._replay_until:
            self._sender_wake.set()  # caught up: unconfirmed messages may go again

    def _track(self, event: RoomEvent) -> None:
        """Keep the participant list, room info and outbox in step with the room."""
        match event:
            case MessagePosted(author=author, client_id=client_id):
                # Any identity we have had: a message sent before the room forgot our session
                # comes back under our old id, and must still count as delivered.
                if author in self._my_ids and client_id is not None:
                    self._confirm(client_id)
            case ParticipantJoined(participant=p):
                self._participants[p.id] = p
            case ParticipantLeft(participant=pid):
                self._participants.pop(pid, None)
            case ParticipantStatusChanged(participant=pid, status=status, moved=moved):
                if pid in self._participants:
                    old = self._participants[pid]
                    self._participants[pid] = dataclasses.replace(
                        old, status=status, moved=old.moved or moved
                    )
            case RoomUpdated(room=room):
                self._room = room
                self._outbox.pace_for(room.limits, time.monotonic())
            case AnswerStarted() | AnswerFinished() | Notice():
                pass
            case RoomClosed(reason=reason):
                self._closed_reason = (
                    "host_shutdown" if reason == "host_shutdown" else "closed_by_host"
                )

    def _confirm(self, message_id: str) -> bool:
        found = self._outbox.confirm(message_id)
        if not self._outbox:
            self._outbox_empty.set()
        return found

    def _end(self, ended: Ended) -> None:
        if self._ended is not None:
            return
        self._ended = ended
        self._ended_event.set()
        if self._sender is not None:
            self._sender.cancel()
        self._ws = None
        self._events.put_nowait(ended)
