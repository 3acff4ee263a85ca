"""The room as a state machine: connection events in, actions out. No sockets, no clocks.

A transport adapter (``core.server.RoomServer``) gives each WebSocket connection a
:data:`ConnId` and reports what happens to it:

* :meth:`Room.connect` when a connection opens,
* :meth:`Room.receive` for each frame it sends,
* :meth:`Room.connection_lost` when it drops, :meth:`Room.drop_slow` when it falls behind,
* :meth:`Room.tick` now and then, so timers (reconnect grace, handshake timeout, abandoned
  uploads) run out,
* :meth:`Room.close` when the host closes the room.

Each returns a list of actions to carry out in order: :class:`Deliver` a message to some
connections, or :class:`Disconnect` one; the assistant's (:class:`StartAnswer`,
:class:`CancelAnswer`, :class:`Deliberate`) and the files' (:class:`StreamFile` and
:class:`StopStream` for downloads, :class:`ExtractText` for what the assistant may read of a
file, reported back with :meth:`Room.file_text_ready`). Because every event passes through
this one object and gets the next sequence number here, every participant sees the same order.

The adapter also tells the room, when it is made, the fingerprint of the certificate its
connections present: in a room with a room code, every connection proves the code with the
exchange of :mod:`core.pake` (``auth_start``, ``auth_reply``, then ``hello`` with the guest's
confirmation), bound to that certificate and to the connection's nonce.

All chat content lives in this object's memory (the bounded ``history``, and the files in its
:class:`core.file_store.FileStore`); nothing is written anywhere, and dropping the room drops
it.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import heapq
import hmac
import itertools
import secrets
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal, NewType

from core.admission import (
    Admission,
    AdmissionRules,
    Guess,
    TwoLevelBuckets,
    address_key,
    address_keys,
    network_key,
)
from core.ai.context import AnswerJob, TranscriptEntry, job_for
from core.ai.desk import AnswerOutcome, AssistantConfig, AssistantDesk, Refusal, Ticket
from core.ai.file_parts import files_to_send
from core.answer_rights import may_control_answer
from core.codec import parse_client_frame
from core.file_store import FileCorrupt, FileStore, FileStoreError, Upload, WrongOffset
from core.filetypes import detect, safe_file_name
from core.message_actions import (
    ABILITY as MESSAGE_ACTIONS,
)
from core.message_actions import (
    ActionRefused,
    Actor,
    MessageActions,
    as_seen_from,
    for_old_client,
    names_a_message,
    needs_old_client_form,
)
from core.pake import (
    FINGERPRINT_BYTES,
    BadPakeMessage,
    RoomExchange,
    WrongCode,
    decode_confirmation,
    decode_message,
    encode_b64url,
    new_nonce,
    normalise_room_code,
)
from core.protocol import (
    ABILITIES,
    AUTH_NONE,
    AUTH_SPAKE2,
    PROTOCOL_VERSION,
    Ack,
    AnswerDelta,
    AnswerFinished,
    AnswerId,
    AnswerStarted,
    AssistantReport,
    AssistantStateChanged,
    AuthOffer,
    AuthReply,
    AuthStart,
    BanInfo,
    BanList,
    ClientMessage,
    CloseCode,
    CloseRoom,
    ConfigureAssistant,
    ContinueAnswer,
    DeleteMessage,
    EditMessage,
    ErrorCode,
    ErrorMessage,
    FileAccepted,
    FileCancel,
    FileChunk,
    FileGet,
    FileId,
    FileOffer,
    FileShared,
    FileStop,
    Hello,
    Kick,
    Leave,
    Limits,
    Lock,
    MessagePosted,
    Notice,
    ParticipantId,
    ParticipantInfo,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantStatusChanged,
    ProtocolError,
    React,
    ReactionChanged,
    Regenerate,
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
    Usage,
    Welcome,
    close_reason,
    key_proof,
)
from core.ratelimit import TokenBucket
from core.shared_files import SharedFile
from core.text_rules import (
    TextRejected,
    clean_message_text,
    name_key,
    normalize_display_name,
    normalize_room_name,
    strip_controls,
)

__all__ = [
    "CHUNK_FRAME_COST",
    "CancelAnswer",
    "ConnId",
    "Deliberate",
    "Deliver",
    "Disconnect",
    "ExtractText",
    "Room",
    "RoomAction",
    "RoomConfig",
    "StartAnswer",
    "StopStream",
    "StreamFile",
]

ConnId = NewType("ConnId", int)


@dataclass(frozen=True)
class Deliver:
    """Send ``message`` to each of ``conns``, in this order relative to other actions.

    ``catch_up`` marks the welcome and the history replayed after it: their size is bounded by
    the room's history, so an adapter should not count them as a reader falling behind.
    """

    conns: tuple[ConnId, ...]
    message: ServerMessage
    catch_up: bool = False


@dataclass(frozen=True)
class Disconnect:
    """Close ``conn`` with ``code`` once what was delivered to it before has been sent."""

    conn: ConnId
    code: CloseCode
    reason: str


@dataclass(frozen=True)
class StartAnswer:
    """Have the assistant write ``job``; report back with :meth:`Room.answer_delta` and
    :meth:`Room.answer_finished`."""

    job: AnswerJob
    tokens_left: int | None = None
    """What the room's token budget has left (None: no budget): the answer asks for no more."""


@dataclass(frozen=True)
class CancelAnswer:
    """Stop writing answer ``answer_id`` (closing the upstream request), then report it
    finished with status ``stopped`` and the text written so far."""

    answer_id: AnswerId


@dataclass(frozen=True)
class Deliberate:
    """Auto mode: ask the model whether to answer ``job``'s request; report with
    :meth:`Room.deliberated`."""

    job: AnswerJob


@dataclass(frozen=True)
class StreamFile:
    """Send ``file`` to ``conn`` from byte ``offset`` on, as ``file_data`` frames of at most
    ``chunk_bytes`` (the last one ``done``), written only while the connection has little
    else waiting. Replaces a stream of the same file to ``conn``; ends with the connection."""

    conn: ConnId
    file: SharedFile
    offset: int
    chunk_bytes: int


@dataclass(frozen=True)
class StopStream:
    """Stop sending ``file`` to ``conn`` (nothing to do if it is not being sent)."""

    conn: ConnId
    file: FileId


@dataclass(frozen=True)
class ExtractText:
    """Find the text the assistant may read in ``file`` (a ``pdf`` or ``text`` file its sender
    shared with the assistant), off the event loop; report with :meth:`Room.file_text_ready`."""

    file: FileId


RoomAction = (
    Deliver
    | Disconnect
    | StartAnswer
    | CancelAnswer
    | Deliberate
    | StreamFile
    | StopStream
    | ExtractText
)

CHUNK_FRAME_COST = 0.25
"""What a ``file_chunk`` frame costs in the frame-rate limit (any other frame costs 1)."""


@dataclass(frozen=True)
class RoomConfig:
    """How a room is set up by its host. ``host_key`` is the secret that grants the host role;
    ``password`` is the room code, if the room has one (as typed: it is compared in its
    normal form, :func:`core.pake.normalise_room_code`).

    ``max_file_bytes`` (0: no files), ``file_budget_bytes`` and ``edit_window``, when given,
    replace those of ``limits``, which is what the room announces and keeps to."""

    name: str
    host_key: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)
    password: str | None = field(default=None, repr=False)
    max_participants: int | None = None
    limits: Limits = field(default_factory=Limits)
    history_capacity: int = 1000
    history_on_join: int = 500
    share_history: bool = True  # whether people who join later receive the recent history
    resume_grace: float = 60.0
    away_notice_delay: float = 5.0  # a participant back within this is never shown as away
    handshake_timeout: float = 10.0
    frame_burst: int = 60
    frames_per_second: float = 20.0
    bad_frame_cost: float = 6.0
    dedup_memory: int = 256
    admission: AdmissionRules = field(default_factory=AdmissionRules)
    assistant: AssistantConfig | None = None
    max_file_bytes: int | None = None
    file_budget_bytes: int | None = None
    edit_window: float | None = None  # seconds a message may be edited (0: never)

    def __post_init__(self) -> None:
        """Normalise the room name, check the room code and put the file limits into
        ``limits``; raises ``ValueError`` saying why a name (``TextRejected``), a code
        (:class:`core.pake.InvalidRoomCode`) or a file limit is refused, so that every room's
        name fits its announcement whole and every code can be typed."""
        object.__setattr__(self, "name", normalize_room_name(self.name))
        if self.password is not None:
            normalise_room_code(self.password)
        limits = self.limits
        if self.max_file_bytes is not None:
            limits = dataclasses.replace(limits, max_file_bytes=self.max_file_bytes)
        if self.file_budget_bytes is not None:
            limits = dataclasses.replace(limits, file_budget_bytes=self.file_budget_bytes)
        if self.edit_window is not None:
            limits = dataclasses.replace(limits, edit_window=self.edit_window)
        object.__setattr__(self, "limits", limits)
        if self.limits.max_file_bytes < 0:
            raise ValueError("the largest file cannot be less than 0 bytes (0: no files)")
        if self.limits.file_budget_bytes < 0:
            raise ValueError("the memory for files cannot be less than 0 bytes")
        if not 0 <= self.limits.edit_window <= MAX_EDIT_WINDOW:
            raise ValueError("messages can be editable for 0 to 24 hours")


@dataclass
class _Participant:
    id: ParticipantId
    name: str
    role: Literal["host", "guest"]
    session: str
    address: str
    messages: TokenBucket
    resumes: TokenBucket
    conn: ConnId | None = None
    reconnect_deadline: float | None = None
    away_since: float | None = None  # connection lost, not yet announced as reconnecting
    away_announced: bool = False
    moved: bool = False
    joined_seq: int = 0  # the seq of its participant_joined
    token_fresh: bool = False  # its session token was sent and no frame came back since
    retired_tokens: deque[str] = field(default_factory=deque)
    typing_active: bool = False
    typing_sent_at: float = float("-inf")
    sent_ids: OrderedDict[str, int] = field(default_factory=OrderedDict)
    seen_from: set[str] = field(default_factory=set)  # every address it connected from
    files: bool = False  # its client announced the "files" ability (on its latest hello)
    actions: bool = False  # ... and "message-actions": else it gets their plain-text form

    def info(self) -> ParticipantInfo:
        status = "reconnecting" if self.away_announced else "online"
        return ParticipantInfo(
            id=self.id, name=self.name, role=self.role, status=status, moved=self.moved
        )


@dataclass
class _Connection:
    address: str
    nonce: bytes
    opened: float
    frames: TokenBucket
    participant: _Participant | None = None
    closing: bool = False
    # In a room with a room code: the exchange once auth_start was answered, and the guess
    # that answer was counted as, until the guest's confirmation shows it was none.
    exchange: RoomExchange | None = None
    guess: Guess | None = None

    @functools.cached_property
    def nonce_text(self) -> str:
        """The nonce as the greeting carries it (and as a host proof covers it)."""
        return encode_b64url(self.nonce)

    @functools.cached_property
    def keys(self) -> tuple[str, ...]:
        """What this connection is counted under (see :func:`core.admission.address_keys`)."""
        return address_keys(self.address)


class Room:
    """One chat room: participants, roles, history and rules. See the module docstring."""

    def __init__(
        self,
        config: RoomConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        fingerprint: bytes = bytes(FINGERPRINT_BYTES),
    ) -> None:
        """``fingerprint``: the SHA-256 of the certificate the room's connections present,
        which the room-code exchange binds to (the default, all zeros, is for a room without
        TLS, in tests). Raises ``ValueError`` for one that is not 32 bytes."""
        if len(fingerprint) != FINGERPRINT_BYTES:
            raise ValueError("a certificate fingerprint is the 32 bytes of a SHA-256")
        self.config = config
        self._fingerprint = bytes(fingerprint)
        self._code = None if config.password is None else normalise_room_code(config.password)
        self._clock = clock
        self._wall_clock = wall_clock
        self._conns: dict[ConnId, _Connection] = {}
        self._conn_counts: Counter[str] = Counter()  # open connections per address key
        self._participants: dict[str, _Participant] = {}
        self._sessions: dict[str, _Participant] = {}
        # Used session tokens, for as long as their owner could still come back with one.
        self._retired: dict[str, _Participant] = {}
        self._ids = itertools.count(1)
        self._seq = 0
        self._history: deque[RoomEvent] = deque(maxlen=config.history_capacity)
        # Reactions are kept apart, as many again: a flood of them must not push the
        # conversation out of history. Replays merge the two by seq.
        self._reaction_log: deque[RoomEvent] = deque(maxlen=config.history_capacity)
        self._reactions_lost_upto = 0  # the newest reaction event the log no longer holds
        self._admission = Admission(config.admission, clock())
        self._next_prune = 0.0
        # Messages per address key, on top of each participant's own limit: rejoining as a
        # new participant must not buy a fresh burst.
        self._address_messages = TwoLevelBuckets(
            2 * config.limits.message_burst,
            2 * config.limits.messages_per_minute,
            config.admission.network_factor,
        )
        self._locked = False
        self._max_participants = config.max_participants
        self._host_name: str | None = None
        self._closed = False
        self.instance = secrets.token_hex(8)  # tells clients a restarted room from this one
        self._desk = AssistantDesk(config.assistant) if config.assistant is not None else None
        self._deliberating: int | None = None  # the message seq being decided on, in auto mode
        # Images the provider refused: the relay sends them no more, so answers do not list them.
        self._refused_images: set[FileId] = set()
        # Whether the model takes images, as its provider said (None: judged by its name).
        self._model_images: bool | None = None
        self._assistant_closing = False
        self._deliberate_again = False
        limits = config.limits
        self._files = FileStore(limits.max_file_bytes, limits.file_budget_bytes)
        self._actions = MessageActions(self._history, limits, answer_text=self._streaming_text)
        # A room that takes no files does not offer the ability at all.
        self._abilities = tuple(a for a in ABILITIES if a != "files" or limits.max_file_bytes > 0)

    # ----------------------------------------------------------------- public state

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def last_seq(self) -> int:
        return self._seq

    @property
    def participants(self) -> tuple[ParticipantInfo, ...]:
        return tuple(p.info() for p in self._participants.values())

    @property
    def history(self) -> tuple[RoomEvent, ...]:
        return tuple(self._held())

    def _held(self) -> list[RoomEvent]:
        """Every event held for replays, in seq order: history and the reaction log."""
        return list(heapq.merge(self._history, self._reaction_log, key=lambda e: e.seq))

    def shared_files(self) -> tuple[SharedFile, ...]:
        """Every file the room holds, in the order they were shared (by ``seq``)."""
        return self._files.files

    def file(self, file: FileId) -> SharedFile | None:
        """The file ``file``, if the room holds it."""
        return self._files.get(file)

    @property
    def file_bytes_used(self) -> int:
        """What the files held and arriving count against ``file_budget_bytes``."""
        return self._files.used_bytes

    def info(self) -> RoomInfo:
        return RoomInfo(
            name=self.config.name,
            host_name=self._host_name,
            participant_count=len(self._participants),
            max_participants=self._max_participants,
            locked=self._locked,
            password_required=self._code is not None,
            limits=self.config.limits,
            assistant=self._desk.info() if self._desk is not None else None,
            history_shared=self.config.share_history,
        )

    # ----------------------------------------------------------------- connection events

    def connect(self, conn: ConnId, address: str) -> list[RoomAction]:
        """A connection opened from ``address``: greet it, or refuse it when the room is
        closed or ``address`` holds too many connections. A banned address is greeted too:
        bans are checked at ``hello``, once the host key (which lifts them) is known."""
        now = self._clock()
        record = _Connection(
            address=address,
            nonce=new_nonce(),
            opened=now,
            frames=TokenBucket(self.config.frame_burst, self.config.frames_per_second, now),
        )
        self._conns[conn] = record
        self._conn_counts.update(record.keys)
        if self._closed:
            return self._refuse(conn, ErrorCode.ROOM_CLOSED, "this room has been closed")
        per_address = self.config.admission.max_connections_per_address
        if any(
            self._conn_counts[key] > self._admission.limit_for(key, per_address)
            for key in record.keys
        ):
            return self._refuse(
                conn, ErrorCode.TOO_MANY_CONNECTIONS, "too many connections from your address"
            )
        methods = (AUTH_SPAKE2,) if self._code is not None else (AUTH_NONE,)
        hello = ServerHello(
            protocol=PROTOCOL_VERSION,
            abilities=self._abilities,
            room=RoomPreview(
                name=self.config.name,
                password_required=self._code is not None,
                assistant=self._desk.info() if self._desk is not None else None,
                instance=self.instance,
            ),
            auth=AuthOffer(methods=methods, nonce=record.nonce_text),
        )
        return [Deliver((conn,), hello)]

    def receive(self, conn: ConnId, frame: str | bytes) -> list[RoomAction]:
        """A frame arrived on ``conn``. Bad frames get an error reply; floods a disconnect."""
        record = self._conns.get(conn)
        if record is None or record.closing:
            return []
        now = self._clock()
        # Every frame costs 1, but a file chunk only CHUNK_FRAME_COST: that much is taken
        # before the frame is read (so junk costs before it costs work), the rest after.
        if not record.frames.take(now, CHUNK_FRAME_COST):
            return self._refuse(conn, ErrorCode.FLOODING, "too many frames; slow down")
        try:
            message = parse_client_frame(frame)
        except ProtocolError as exc:
            if record.participant is None:
                if exc.code == ErrorCode.UNKNOWN_TYPE:  # whatever it is, not what is due
                    return self._refuse(
                        conn, ErrorCode.HANDSHAKE_REQUIRED, f"{self._due(record)}: {exc}"
                    )
                return self._refuse(conn, exc.code, exc.message)
            if not record.frames.take(now, 1 - CHUNK_FRAME_COST + self.config.bad_frame_cost):
                return self._refuse(conn, ErrorCode.FLOODING, "too many bad frames")
            return [self._error(conn, exc.code, exc.message, ref=exc.ref)]
        if not isinstance(message, FileChunk) and not record.frames.take(now, 1 - CHUNK_FRAME_COST):
            return self._refuse(conn, ErrorCode.FLOODING, "too many frames; slow down")
        if record.participant is not None:
            record.participant.token_fresh = False
        if record.participant is None:
            return self._handshake(conn, record, message, now)
        return self._dispatch(conn, record.participant, message, now)

    def connection_lost(self, conn: ConnId) -> list[RoomAction]:
        """``conn`` is gone. Its participant, if any, waits ``resume_grace`` to come back."""
        record = self._conns.pop(conn, None)
        if record is None:
            return []
        self._conn_counts.subtract(record.keys)
        for key in record.keys:
            if self._conn_counts[key] <= 0:
                del self._conn_counts[key]
        if record.participant is None:
            return []
        participant = record.participant
        if participant.conn != conn or self._closed:
            return []
        participant.conn = None
        now = self._clock()
        participant.reconnect_deadline = now + self.config.resume_grace
        # Announced by tick() only if it is still away after a moment: a quick drop and
        # resume spends no history (a flood of them must not push everyone's history out).
        participant.away_since = now
        return self._stop_typing(participant)

    def drop_slow(self, conn: ConnId) -> list[RoomAction]:
        """The adapter could not keep up sending to ``conn``: cut it off; it may resume."""
        record = self._conns.get(conn)
        if record is None:
            return []
        record.closing = True
        actions: list[RoomAction] = [
            Disconnect(conn, CloseCode.TOO_SLOW, "too far behind; reconnect to catch up")
        ]
        return actions + self.connection_lost(conn)

    def tick(self) -> list[RoomAction]:
        """Let timers run out: reconnect grace periods, handshake timeouts, uploads that got
        no chunk for too long."""
        now = self._clock()
        actions: list[RoomAction] = []
        self._files.expire(now)
        for conn, record in list(self._conns.items()):
            waited = now - record.opened
            if (
                record.participant is None
                and not record.closing
                and waited > self.config.handshake_timeout
            ):
                actions += self._refuse(
                    conn, ErrorCode.HANDSHAKE_TIMEOUT, "no 'hello' in time", record=record
                )
        for participant in list(self._participants.values()):
            deadline = participant.reconnect_deadline
            if participant.conn is None and deadline is not None and deadline <= now:
                actions += self._remove(participant, "timed_out")
            elif (
                participant.away_since is not None
                and now - participant.away_since >= self.config.away_notice_delay
            ):
                actions += self._broadcast(self._status_event(participant, "reconnecting"))
        if now >= self._next_prune:  # rebuilding the tables every tick would be wasted work
            self._next_prune = now + 10.0
            self._admission.prune(now)
            self._address_messages.prune(now)
        return actions

    def close(
        self, reason: Literal["closed_by_host", "host_shutdown"] = "closed_by_host"
    ) -> list[RoomAction]:
        """Close the room: everyone is told why, then every connection is closed."""
        if self._closed:
            return []
        actions: list[RoomAction] = []
        if self._desk is not None and self._desk.current is not None:
            actions.append(CancelAnswer(self._desk.current.answer_id))
        actions += self._broadcast(
            RoomClosed(seq=self._next_seq(), ts=self._wall_clock(), reason=reason)
        )
        self._closed = True
        text = "the host closed the room" if reason == "closed_by_host" else "the host shut down"
        for conn, record in self._conns.items():
            if not record.closing:
                record.closing = True
                actions.append(Disconnect(conn, CloseCode.ROOM_CLOSED, text))
        self._participants.clear()
        self._sessions.clear()
        self._history.clear()
        self._reaction_log.clear()
        self._actions.forget()
        self._files.clear()
        return actions

    # ----------------------------------------------------------------- handshake

    def _due(self, record: _Connection) -> str:
        """The handshake frame ``record`` must send next, in words."""
        if self._code is None:
            return "the first frame must be 'hello'"
        if record.exchange is None:
            return "this room has a room code: the first frame must be 'auth_start'"
        return "the frame after 'auth_start' must be 'hello'"

    def _handshake(
        self, conn: ConnId, record: _Connection, message: ClientMessage, now: float
    ) -> list[RoomAction]:
        """A frame before the connection joined: ``auth_start`` first in a room with a room
        code (once), then ``hello``; anything else ends the connection."""
        if self._code is not None and record.exchange is None:
            if isinstance(message, AuthStart):
                return self._auth_start(conn, record, message, now)
        elif isinstance(message, Hello):
            return self._hello(conn, record, message, now)
        return self._refuse(conn, ErrorCode.HANDSHAKE_REQUIRED, self._due(record))

    def _auth_start(
        self, conn: ConnId, record: _Connection, start: AuthStart, now: float
    ) -> list[RoomAction]:
        """Answer the guest's half of the room-code exchange, if its address may guess now.

        The answer lets its receiver check one code offline (against the room's
        confirmation), so it is counted as a guess when it is given, whether or not a
        ``hello`` follows; a confirmation that verifies takes it back (:meth:`_hello`). A
        message the room cannot answer (malformed, or no valid point) counts as a guess too.
        """
        assert self._code is not None
        if start.method != AUTH_SPAKE2:
            return self._refuse(
                conn, ErrorCode.BAD_MESSAGE,
                f"auth_start: this room checks room codes with {AUTH_SPAKE2} only",
            )  # fmt: skip
        # The room-wide budget holds back guessing from many addresses. The host and
        # participants coming back cannot say who they are before the exchange, so the
        # addresses where someone in the room is (online or away) are spared it; per
        # address, everyone is counted (a right code is refunded).
        room_wide = not self._someone_at(record.address)
        wait = self._admission.auth_wait(record.address, now, room_wide=room_wide)
        if wait is not None:
            return self._too_many_attempts(conn, wait, "room-code guesses")
        exchange = RoomExchange(self._code, self._fingerprint, record.nonce)
        try:
            reply = exchange.respond(decode_message(start.message))
        except BadPakeMessage as exc:
            # Finding out that a message is no valid point can cost the room as much as
            # answering one (the subgroup check), so it counts as a guess: else a flood of
            # them would be work without limit.
            self._admission.auth_failed(record.address, now)
            return self._refuse(conn, ErrorCode.BAD_MESSAGE, f"auth_start.message: {exc}")
        record.exchange = exchange
        record.guess = self._admission.guessed(record.address, now)
        answer = AuthReply(
            message=encode_b64url(reply.message), confirmation=encode_b64url(reply.confirmation)
        )
        return [Deliver((conn,), answer)]

    def _someone_at(self, address: str) -> bool:
        """Whether a participant of the room (online or away) was last at ``address``."""
        key = address_key(address)
        return any(address_key(p.address) == key for p in self._participants.values())

    def _code_refusal(
        self, conn: ConnId, record: _Connection, hello: Hello, now: float
    ) -> list[RoomAction]:
        """In a room with a room code, refuse ``hello`` unless it carries the guest's key
        confirmation of this connection's exchange; a right one takes the guess back."""
        exchange = record.exchange
        assert exchange is not None  # _handshake lets hello through only after auth_start
        if hello.auth is None or hello.auth.method != AUTH_SPAKE2:
            return self._refuse(conn, ErrorCode.AUTH_FAILED, "this room needs its room code")
        try:
            exchange.finish(decode_confirmation(hello.auth.confirmation))
        except BadPakeMessage as exc:
            return self._refuse(conn, ErrorCode.BAD_MESSAGE, f"hello.auth.confirmation: {exc}")
        except WrongCode:
            return self._refuse(conn, ErrorCode.AUTH_FAILED, "wrong room code")
        if record.guess is not None:
            self._admission.refund(record.guess, now)
            record.guess = None
        return []

    def _hello(
        self, conn: ConnId, record: _Connection, hello: Hello, now: float
    ) -> list[RoomAction]:
        if hello.protocol != PROTOCOL_VERSION:
            return self._refuse(
                conn,
                ErrorCode.INCOMPATIBLE_VERSION,
                f"this room speaks protocol {PROTOCOL_VERSION}, not {hello.protocol}",
            )
        if self._code is not None:
            refusal = self._code_refusal(conn, record, hello, now)
            if refusal:
                return refusal
        address = record.address
        # Only then the host key (which nobody can guess: its limit is per address only). A
        # wrong host key counts as a guess.
        is_host = False
        if hello.host_proof is not None:
            wait = self._admission.auth_wait(address, now, room_wide=False)
            if wait is not None:
                return self._too_many_attempts(conn, wait, "wrong host keys")
            expected = key_proof(self.config.host_key, record.nonce_text)
            if not hmac.compare_digest(hello.host_proof.encode(), expected.encode()):
                self._admission.auth_failed(address, now)
                return self._refuse(conn, ErrorCode.AUTH_FAILED, "wrong host key")
            is_host = True
        resuming = self._session_for(conn, hello, record) if hello.resume is not None else None
        if isinstance(resuming, list):  # a token that was taken over: say so, and by whom
            return resuming
        if not is_host and self._admission.banned(address):
            return self._refuse(conn, ErrorCode.BANNED, "you have been banned from this room")
        if resuming is not None and hello.resume is not None:
            if resuming.role == "host" and not is_host:
                # A session token can be read off the LAN; the host role needs the key.
                self._admission.auth_failed(address, now)
                return self._refuse(
                    conn, ErrorCode.AUTH_FAILED, "resuming as the host needs the host key"
                )
            refusal = self._resume_refusal(conn, resuming, address, now)
            if refusal:
                return refusal
            resuming.files = "files" in hello.abilities  # the client may have changed
            resuming.actions = MESSAGE_ACTIONS in hello.abilities
            return self._resume(conn, record, resuming, hello.resume.last_seq)
        return self._join(conn, record, hello, is_host, now)

    def _session_for(
        self, conn: ConnId, hello: Hello, record: _Connection
    ) -> _Participant | list[RoomAction] | None:
        """The participant ``hello`` resumes, None for a token the room does not know, or the
        refusal for a token that was already used.

        A used token is accepted once more only when its new token has not been used yet and
        the request comes from the same address: the ``welcome`` that carried the new token
        was lost with the connection. Anyone else holding an old token is told that the
        place was taken over, and from where (the real owner learns it this way too).
        """
        assert hello.resume is not None
        token = hello.resume.session
        participant = self._sessions.get(token)
        if participant is not None:
            return participant
        retired = self._retired.get(token)
        if retired is None or retired.id not in self._participants:
            return None
        if retired.token_fresh and address_key(record.address) == address_key(retired.address):
            return retired
        text = (
            "your place in this room was taken over by a connection"
            f" from {retired.address}; if that was not you, tell the host"
        )
        return self._refuse(conn, ErrorCode.SESSION_REPLACED, text)

    def _too_many_attempts(self, conn: ConnId, wait: float, what: str) -> list[RoomAction]:
        return self._refuse(
            conn, ErrorCode.TOO_MANY_ATTEMPTS,
            f"too many {what} lately; try again in {_seconds(wait)}", retry_after=wait,
        )  # fmt: skip

    def _resume_refusal(
        self, conn: ConnId, participant: _Participant, address: str, now: float
    ) -> list[RoomAction]:
        """Refuse a resume that comes too often from the address or for the session (the
        address is asked first, so a refusal there spends nothing of the session's)."""
        wait = self._admission.resume_wait(address, now)
        if wait is None and not participant.resumes.take(now):
            wait = participant.resumes.retry_after(now)
        if wait is None:
            return []
        return self._refuse(
            conn, ErrorCode.FLOODING,
            f"resuming too often; try again in {_seconds(wait)}", retry_after=wait,
        )  # fmt: skip

    def _join(
        self, conn: ConnId, record: _Connection, hello: Hello, is_host: bool, now: float
    ) -> list[RoomAction]:
        if not is_host:
            if self._locked:
                return self._refuse(conn, ErrorCode.ROOM_LOCKED, "the room is locked")
            limit = self._max_participants
            if limit is not None and len(self._participants) >= limit:
                return self._refuse(conn, ErrorCode.ROOM_FULL, "the room is full")
            refusal = self._address_refusal(conn, record.address, now)
            if refusal:
                return refusal
        try:
            name = normalize_display_name(hello.name, self.config.limits.max_name_chars)
        except TextRejected as exc:
            return self._refuse(conn, exc.code, str(exc))
        limits = self.config.limits
        rules = self.config.admission
        participant = _Participant(
            id=ParticipantId(f"p{next(self._ids)}"),
            name=self._unique_name(name),
            role="host" if is_host else "guest",
            session=secrets.token_urlsafe(24),
            address=record.address,
            messages=TokenBucket(limits.message_burst, limits.messages_per_minute / 60.0, now),
            resumes=TokenBucket(
                rules.session_resume_burst, rules.session_resumes_per_minute / 60.0, now
            ),
            conn=conn,
            seen_from={_ban_key(record.address)},
            files="files" in hello.abilities,
            actions=MESSAGE_ACTIONS in hello.abilities,
        )
        if is_host and self._host_name is None:
            self._host_name = participant.name
        self._participants[participant.id] = participant
        self._sessions[participant.session] = participant
        record.participant = participant
        joined = ParticipantJoined(
            seq=self._next_seq(), ts=self._wall_clock(), participant=participant.info()
        )
        participant.joined_seq = joined.seq
        self._history.append(joined)
        others = self._online_conns(exclude=conn)
        start = list(self._history)[-self.config.history_on_join :][0].seq
        history = [e for e in self._held() if e.seq >= start]
        if not self.config.share_history:
            history = [joined]
        return [
            *self._welcome(conn, participant, resumed=False, replay=history, complete=True),
            Deliver(others, joined),
        ]

    def _address_refusal(self, conn: ConnId, address: str, now: float) -> list[RoomAction]:
        """Refuse a new participant from ``address`` if that address joins too often or
        already holds too many places (online or reconnecting)."""
        rules = self.config.admission
        for key in address_keys(address):
            held = sum(1 for p in self._participants.values() if key in address_keys(p.address))
            if held >= self._admission.limit_for(key, rules.max_participants_per_address):
                return self._refuse(
                    conn, ErrorCode.TOO_MANY_CONNECTIONS,
                    "too many people are in this room from your address",
                )  # fmt: skip
        wait = self._admission.join_wait(address, now)
        if wait is not None:
            return self._refuse(
                conn, ErrorCode.TOO_MANY_ATTEMPTS,
                f"too many joins from your address; try again in {_seconds(wait)}",
                retry_after=wait,
            )  # fmt: skip
        return []

    def _resume(
        self, conn: ConnId, record: _Connection, participant: _Participant, last_seq: int
    ) -> list[RoomAction]:
        actions: list[RoomAction] = []
        old = participant.conn
        if old is not None and old in self._conns:
            # The old connection has not noticed it is dead yet, or someone else holds the
            # session token: either way the new one takes over, and the old one is told.
            self._conns[old].closing = True
            self._conns[old].participant = None
            text = (
                "your place in this room was taken over by a new connection"
                f" from {record.address}; if that was not you, tell the host"
            )
            actions += [
                self._error(old, ErrorCode.SESSION_REPLACED, text),
                Disconnect(old, CloseCode.SESSION_REPLACED, "session continued elsewhere"),
            ]
        # From another address, online or away: shown to everyone, so that the host can act
        # on a session someone took with a token read off the network.
        moved = address_key(record.address) != address_key(participant.address)
        participant.moved = participant.moved or moved
        participant.address = record.address
        participant.conn = conn
        participant.reconnect_deadline = None
        participant.away_since = None
        if len(participant.seen_from) < _MAX_ADDRESSES_REMEMBERED:
            participant.seen_from.add(_ban_key(record.address))
        # Single use: whoever read the old token off the wire can no longer resume with it.
        # It is remembered for a while, to tell its holder that the place was taken over.
        self._retire(participant)
        participant.session = secrets.token_urlsafe(24)
        self._sessions[participant.session] = participant
        record.participant = participant
        # Without shared history, nobody reads what came before they joined: not by resuming
        # from an earlier point either.
        floor = last_seq if self.config.share_history else max(last_seq, participant.joined_seq)
        oldest_held = self._history[0].seq if self._history else self._seq + 1
        replay = [e for e in self._held() if e.seq > floor]
        complete = floor >= oldest_held - 1 and floor >= self._reactions_lost_upto
        if participant.away_announced or moved:
            back = self._status_event(participant, "online")
            self._history.append(back)
            replay.append(back)
            actions += [Deliver(self._online_conns(exclude=conn), back)]
        return actions + self._welcome(
            conn, participant, resumed=True, replay=replay, complete=complete
        )

    def _welcome(
        self,
        conn: ConnId,
        participant: _Participant,
        *,
        resumed: bool,
        replay: list[RoomEvent],
        complete: bool,
    ) -> list[RoomAction]:
        welcome = Welcome(
            you=participant.info(),
            session=participant.session,
            resumed=resumed,
            room=self.info(),
            participants=self.participants,
            last_seq=self._seq,
            replay_from=replay[0].seq if replay else None,
            history_complete=complete,
            abilities=self._abilities,
            assistant_state=self._desk.state() if self._desk is not None else None,
            instance=self.instance,
        )
        actions: list[RoomAction] = [
            Deliver((conn,), welcome, catch_up=True),
            *(
                Deliver((conn,), form, catch_up=True)
                for form in (self._form_for(participant, event) for event in replay)
                if form is not None
            ),
        ]  # fmt: skip
        participant.token_fresh = True  # until this connection sends something
        current = self._desk.current if self._desk is not None else None
        if current is not None and current.text and self._may_see(participant, current.answer_id):
            # An answer is streaming: catch up on it.
            delta = AnswerDelta(answer=current.answer_id, offset=0, text=current.text)
            actions.append(Deliver((conn,), delta, catch_up=True))
        if participant.role == "host":
            actions += self._report_to_hosts(only=conn) + self._bans_to_hosts(only=conn)
        return actions

    def _retire(self, participant: _Participant) -> None:
        """Stop accepting ``participant``'s current token, but remember the last few."""
        token = participant.session
        self._sessions.pop(token, None)
        self._retired[token] = participant
        participant.retired_tokens.append(token)
        while len(participant.retired_tokens) > _RETIRED_TOKENS_KEPT:
            self._retired.pop(participant.retired_tokens.popleft(), None)

    def _may_see(self, participant: _Participant, answer_id: AnswerId) -> bool:
        """Whether ``participant`` may see answer ``answer_id`` streaming: always when history
        is shared, else only an answer that started after they joined."""
        if self.config.share_history:
            return True
        return any(
            isinstance(e, AnswerStarted)
            and e.answer == answer_id
            and e.seq > participant.joined_seq
            for e in self._history
        )

    def _unique_name(self, name: str) -> str:
        taken = {name_key(p.name) for p in self._participants.values()}
        if self._desk is not None:  # nobody may pass for the assistant
            taken |= {name_key(self._desk.config.name), name_key("assistant")}
        if name_key(name) not in taken:
            return name
        for n in itertools.count(2):
            candidate = f"{name} ({n})"
            if name_key(candidate) not in taken:
                return candidate
        raise AssertionError("unreachable")

    # ----------------------------------------------------------------- joined participants

    def _dispatch(
        self, conn: ConnId, participant: _Participant, message: ClientMessage, now: float
    ) -> list[RoomAction]:
        match message:
            case SendMessage():
                return self._send(conn, participant, message, now)
            case SetTyping(active=active):
                return self._typing(participant, active, now)
            case Leave():
                self._conns[conn].closing = True
                return [
                    *self._remove(participant, "left"),
                    Disconnect(conn, CloseCode.NORMAL, "left"),
                ]
            case Hello() | AuthStart():
                return [self._error(conn, ErrorCode.BAD_MESSAGE, "already joined")]
            case StopAnswer(answer=answer_id):
                return self._rate_limited(conn, participant, now) or self._stop_answer(
                    conn, participant, answer_id
                )
            case Regenerate(answer=answer_id):
                return self._rate_limited(conn, participant, now) or self._regenerate(
                    conn, participant, answer_id, now
                )
            case ContinueAnswer(answer=answer_id):
                return self._rate_limited(conn, participant, now) or self._continue(
                    conn, participant, answer_id, now
                )
            case FileOffer() | FileChunk() | FileCancel() | FileGet() | FileStop():
                return self._file_message(conn, participant, message, now)
            case EditMessage() | DeleteMessage() | React():
                return self._rate_limited(conn, participant, now) or self._act(
                    conn, participant, message
                )
        if participant.role != "host":
            return [self._error(conn, ErrorCode.NOT_ALLOWED, "only the host can do that")]
        match message:
            case Kick():
                return self._kick(conn, participant, message)
            case Unban(ban=ban_id):
                if not self._admission.unban(ban_id):
                    return [self._error(conn, ErrorCode.INVALID_VALUE, "no such ban")]
                return self._bans_to_hosts()
            case Lock(locked=locked):
                self._locked = locked
                return self._room_updated()
            case SetMaxParticipants(max=limit):  # its range is checked by the codec
                self._max_participants = limit
                return self._room_updated()
            case CloseRoom():
                return self.close("closed_by_host")
            case ConfigureAssistant():
                return self._configure_assistant(conn, message)
        raise AssertionError(f"unhandled message {message!r}")  # pragma: no cover

    def _send(
        self, conn: ConnId, participant: _Participant, message: SendMessage, now: float
    ) -> list[RoomAction]:
        earlier = participant.sent_ids.get(message.id)
        if earlier is not None:
            return [Deliver((conn,), Ack(id=message.id, seq=earlier))]
        try:
            text = clean_message_text(message.text, self.config.limits.max_text_chars)
        except TextRejected as exc:
            return [self._error(conn, exc.code, str(exc), ref=message.id)]
        limited = self._rate_limited(conn, participant, now, ref=message.id)
        if limited:
            return limited
        quote = None
        if message.reply_to is not None:
            try:
                quote = self._actions.quote(self._actor(participant), message.reply_to)
            except ActionRefused as exc:
                return [self._error(conn, exc.code, str(exc), ref=message.id)]
        posted = MessagePosted(
            seq=self._next_seq(),
            ts=self._wall_clock(),
            author=participant.id,
            author_name=participant.name,
            text=text,
            client_id=message.id,
            reply_to=quote,
        )
        participant.sent_ids[message.id] = posted.seq
        while len(participant.sent_ids) > self.config.dedup_memory:
            participant.sent_ids.popitem(last=False)
        actions = self._stop_typing(participant)
        # A posted message ends the typing; starting the next one may show at once (posts
        # are rate limited themselves, so this cannot multiply notices).
        participant.typing_sent_at = float("-inf")
        actions += self._broadcast(posted)
        return actions + self._assistant_after(conn, participant, posted, now)

    # ----------------------------------------------------------------- message actions

    def _actor(self, participant: _Participant) -> Actor:
        sees_after = 0 if self.config.share_history else participant.joined_seq
        return Actor(participant.id, participant.name, participant.role == "host", sees_after)

    def _act(
        self, conn: ConnId, participant: _Participant, message: EditMessage | DeleteMessage | React
    ) -> list[RoomAction]:
        """Edit, delete or react (see :mod:`core.message_actions`); each changes the room's
        state, so each is an event with a ``seq``."""
        actor = self._actor(participant)
        now = self._wall_clock()
        try:
            match message:
                case EditMessage(message=seq, text=text):
                    edited = self._actions.edit(actor, seq, text, now=now, event_seq=self._seq + 1)
                    self._next_seq()
                    return self._broadcast(edited)
                case DeleteMessage(message=seq):
                    deleted, target = self._actions.delete(
                        actor, seq, now=now, event_seq=self._seq + 1
                    )
                    self._next_seq()
                    return self._broadcast(deleted) + self._forget_asked(target)
                case React(message=seq, emoji=emoji, active=active):
                    reaction = self._actions.react(
                        actor, seq, emoji, active, now=now, event_seq=self._seq + 1
                    )
                    if reaction is None:
                        return []
                    self._next_seq()
                    return self._broadcast(reaction)
        except ActionRefused as exc:  # ``ref``: the message acted on, so a client knows which
            return [self._error(conn, exc.code, str(exc), ref=str(message.message))]
        raise AssertionError(f"unhandled message {message!r}")  # pragma: no cover

    def _forget_asked(self, target: MessagePosted | AnswerStarted) -> list[RoomAction]:
        """After a deletion: the assistant forgets the deleted question (a waiting answer to
        it is dropped; one being written goes on, since its request has gone already) or the
        deleted answer's text."""
        desk = self._desk
        if desk is None:
            return []
        if isinstance(target, AnswerStarted):
            dropped = desk.forget_answer_text(target.answer)
        else:
            dropped = desk.forget_request(target.seq, self._actions.current(target.seq) or target)
        return self._state_changed() if dropped else []

    def _streaming_text(self, answer_id: AnswerId) -> str:
        current = self._desk.current if self._desk is not None else None
        return current.text if current is not None and current.answer_id == answer_id else ""

    # ----------------------------------------------------------------- files

    def _file_message(
        self,
        conn: ConnId,
        participant: _Participant,
        message: FileOffer | FileChunk | FileCancel | FileGet | FileStop,
        now: float,
    ) -> list[RoomAction]:
        """One of the five file messages (see docs/protocol.md, "Files")."""
        ref = message.id if isinstance(message, FileOffer | FileCancel) else message.file
        if self.config.limits.max_file_bytes <= 0:
            return [self._error(conn, ErrorCode.FILES_OFF, "this room takes no files", ref=ref)]
        if not participant.files:
            text = "announce the 'files' ability in your hello to share files"
            return [self._error(conn, ErrorCode.FILES_OFF, text, ref=ref)]
        match message:
            case FileOffer():
                return self._file_offer(conn, participant, message, now)
            case FileChunk():
                return self._file_chunk(conn, participant, message, now)
            case FileCancel(id=client_id):
                self._files.cancel(participant.id, client_id)
                return []
            case FileGet(file=file, offset=offset):
                shared = self._visible_file(participant, file)
                if shared is None:
                    return [self._error(conn, ErrorCode.UNKNOWN_FILE, "no such file", ref=file)]
                if offset > shared.size:
                    text = f"the file has {shared.size:,} bytes; offset {offset:,} is past its end"
                    return [self._error(conn, ErrorCode.INVALID_VALUE, text, ref=file)]
                chunk = self.config.limits.file_chunk_bytes
                return [StreamFile(conn, shared, offset, chunk)]
            case FileStop(file=file):
                if self._visible_file(participant, file) is None:
                    return [self._error(conn, ErrorCode.UNKNOWN_FILE, "no such file", ref=file)]
                return [StopStream(conn, file)]

    def _file_offer(
        self, conn: ConnId, participant: _Participant, offer: FileOffer, now: float
    ) -> list[RoomAction]:
        """Accept an upload, continue one (a repeated offer after a reconnect), or confirm
        one already shared with an ``ack``, as for a repeated ``send``."""
        shared = self._files.shared_by(participant.id, offer.id)
        if shared is not None:
            return [Deliver((conn,), Ack(id=offer.id, seq=shared.seq))]
        earlier = self._files.upload_of(participant.id, offer.id)
        if earlier is None or not earlier.same_file(offer.size, offer.sha256.lower()):
            # A new offer counts as a message: a flood of small files is a flood of messages.
            limited = self._rate_limited(conn, participant, now, ref=offer.id)
            if limited:
                return limited
        try:
            upload = self._files.offer(
                participant.id, offer.id, name=offer.name, size=offer.size,
                sha256=offer.sha256, assistant=offer.assistant, now=now,
            )  # fmt: skip
        except FileStoreError as exc:
            return [self._error(conn, exc.code, str(exc), ref=offer.id)]
        return [Deliver((conn,), self._accepted(upload))]

    def _file_chunk(
        self, conn: ConnId, participant: _Participant, chunk: FileChunk, now: float
    ) -> list[RoomAction]:
        data = _decode_chunk(chunk.data)
        limit = self.config.limits.file_chunk_bytes
        if data is None or len(data) > limit:
            why = "not base64url" if data is None else f"more than {limit:,} bytes"
            text = f"file_chunk.data is {why}"
            return [self._error(conn, ErrorCode.BAD_MESSAGE, text, ref=chunk.file)]
        try:
            upload = self._files.chunk(participant.id, chunk.file, chunk.offset, data, now)
        except WrongOffset as exc:
            return [Deliver((conn,), self._accepted(exc.upload))]
        except FileCorrupt as exc:
            return [self._error(conn, exc.code, str(exc), ref=exc.client_id)]
        except FileStoreError as exc:
            return [self._error(conn, exc.code, str(exc), ref=chunk.file)]
        if not upload.complete:
            return []
        return self._share(participant, upload)

    def _accepted(self, upload: Upload) -> FileAccepted:
        return FileAccepted(
            id=upload.client_id, file=upload.file, offset=upload.offset,
            chunk_bytes=self.config.limits.file_chunk_bytes,
        )  # fmt: skip

    def _share(self, participant: _Participant, upload: Upload) -> list[RoomAction]:
        """All of ``upload`` arrived and matched its SHA-256: tell everyone."""
        data = bytes(upload.received)
        # The name everyone sees decides what a click may do, so the type is judged by it:
        # "x.bat\u200b" must not pass as text and then be shown as "x.bat".
        name = safe_file_name(upload.name)
        found = detect(data, name)
        event = FileShared(
            seq=self._next_seq(), ts=self._wall_clock(), file=upload.file,
            author=participant.id, author_name=participant.name, name=name, size=upload.size,
            sha256=upload.sha256, mime=found.mime, kind=found.kind, assistant=upload.assistant,
            client_id=upload.client_id,
        )  # fmt: skip
        held = SharedFile(
            id=upload.file, seq=event.seq, ts=event.ts, author=participant.id,
            author_name=participant.name, client_id=upload.client_id, name=name,
            mime=found.mime, kind=found.kind, assistant=upload.assistant,
            sha256=upload.sha256, data=data,
        )  # fmt: skip
        self._files.hold(held)
        actions = self._broadcast(event)
        # Text is read only for an assistant to read it (reading a PDF costs the host time).
        if upload.assistant and self._desk is not None and found.kind in ("pdf", "text"):
            actions.append(ExtractText(upload.file))
        return actions

    def _visible_file(self, participant: _Participant, file: FileId) -> SharedFile | None:
        """File ``file``, if ``participant`` may fetch it: any file held, but in a room that
        does not share history only those shared since it joined."""
        shared = self._files.get(file)
        if shared is None:
            return None
        if not self.config.share_history and shared.seq <= participant.joined_seq:
            return None
        return shared

    def file_text_ready(self, file: FileId, text: str | None, problem: str | None) -> None:
        """What the assistant may read of ``file`` (see :class:`ExtractText`), or why nothing
        (``problem``, in words for everyone)."""
        if not self._closed:
            self._files.set_text(file, text, problem)

    def _rate_limited(
        self, conn: ConnId, participant: _Participant, now: float, ref: str | None = None
    ) -> list[RoomAction]:
        """An error if ``participant`` is over the message rate (which also covers stop and
        regenerate, since each can cost an answer), or its address is over twice that, else
        nothing."""
        wait: float | None = None
        if not participant.messages.take(now):
            wait = participant.messages.retry_after(now)
        elif participant.role != "host":  # the host's own machine may seat several people
            wait = self._address_messages.take(participant.address, now)
        if wait is None:
            return []
        text = f"you are sending too fast; try again in {wait:.1f} s"
        return [
            self._error(conn, ErrorCode.RATE_LIMITED, text, ref=ref, retry_after=round(wait, 2))
        ]

    def _typing(self, participant: _Participant, active: bool, now: float) -> list[RoomAction]:
        if not active:
            return self._stop_typing(participant)
        # At most one "typing" per interval, whatever came in between (alternating true and
        # false must not get around it).
        if now - participant.typing_sent_at < self.config.limits.typing_interval:
            return []
        participant.typing_active = True
        participant.typing_sent_at = now
        frame = TypingChanged(participant=participant.id, active=True)
        return [Deliver(self._online_conns(exclude=participant.conn), frame)]

    def _stop_typing(self, participant: _Participant) -> list[RoomAction]:
        if not participant.typing_active:
            return []
        participant.typing_active = False
        frame = TypingChanged(participant=participant.id, active=False)
        return [Deliver(self._online_conns(exclude=participant.conn), frame)]

    def _kick(self, conn: ConnId, host: _Participant, message: Kick) -> list[RoomAction]:
        target = self._participants.get(message.participant)
        if target is None:
            return [self._error(conn, ErrorCode.UNKNOWN_PARTICIPANT, "no such participant")]
        if target is host:
            return [self._error(conn, ErrorCode.INVALID_VALUE, "you cannot kick yourself")]
        if not message.ban:
            return self._throw_out(target, "kicked")
        self._admission.ban(target.seen_from, target.name, self._wall_clock())
        # The same machine's other places go with it: a ban is for a person, not a name. (An
        # IPv6 network is often a whole LAN: only its exact address counts as the machine.)
        same_machine = [
            p for p in self._participants.values()
            if p.role != "host" and (
                address_key(p.address) == address_key(target.address)
                or (network_key(p.address) is None and address_key(p.address) in target.seen_from)
            )
        ]  # fmt: skip
        actions: list[RoomAction] = []
        for participant in same_machine:
            actions += self._throw_out(participant, "banned")
        return actions + self._bans_to_hosts()

    def _throw_out(
        self, target: _Participant, reason: Literal["kicked", "banned"]
    ) -> list[RoomAction]:
        """Tell ``target`` it was removed, close its connection and take it out of the room."""
        actions: list[RoomAction] = []
        target_conn = target.conn
        if target_conn is not None:
            self._conns[target_conn].closing = True
            banned = reason == "banned"
            code, close = (
                (ErrorCode.BANNED, CloseCode.BANNED)
                if banned
                else (ErrorCode.KICKED, CloseCode.KICKED)
            )
            text = "the host banned you from this room" if banned else "the host removed you"
            actions += [self._error(target_conn, code, text), Disconnect(target_conn, close, text)]
        return actions + self._remove(target, reason)

    def _bans_to_hosts(self, only: ConnId | None = None) -> list[RoomAction]:
        """The ban list, to one host connection or to every host online."""
        hosts = (only,) if only is not None else tuple(
            p.conn for p in self._participants.values() if p.role == "host" and p.conn is not None
        )  # fmt: skip
        bans = tuple(BanInfo(b.id, b.name, b.ts) for b in self._admission.bans)
        return [Deliver(hosts, BanList(bans))] if hosts else []

    def _status_event(
        self, participant: _Participant, status: Literal["online", "reconnecting"]
    ) -> ParticipantStatusChanged:
        participant.away_since = None
        participant.away_announced = status == "reconnecting"
        return ParticipantStatusChanged(
            seq=self._next_seq(), ts=self._wall_clock(), participant=participant.id,
            status=status, moved=participant.moved,
        )  # fmt: skip

    def _room_updated(self) -> list[RoomAction]:
        return self._broadcast(
            RoomUpdated(seq=self._next_seq(), ts=self._wall_clock(), room=self.info())
        )

    def _remove(
        self,
        participant: _Participant,
        reason: Literal["left", "kicked", "banned", "timed_out"],
    ) -> list[RoomAction]:
        if self._participants.pop(participant.id, None) is None:
            return []
        self._sessions.pop(participant.session, None)
        for token in participant.retired_tokens:
            self._retired.pop(token, None)
        self._files.drop_owner(participant.id)  # its uploads can no longer be finished
        actions = self._stop_typing(participant)
        if participant.conn is not None and participant.conn in self._conns:
            self._conns[participant.conn].participant = None
        participant.conn = None
        left = ParticipantLeft(
            seq=self._next_seq(),
            ts=self._wall_clock(),
            participant=participant.id,
            name=participant.name,
            reason=reason,
        )
        return actions + self._broadcast(left)

    # ----------------------------------------------------------------- the assistant

    def answer_delta(self, answer_id: AnswerId, text: str) -> list[RoomAction]:
        """More text of the answer being written, as the provider sent it."""
        text = strip_controls(text)  # the model's output must not drive anyone's terminal
        if self._desk is None or self._closed or not text:
            return []
        offset = self._desk.append(answer_id, text)
        if offset is None:
            return []
        return [Deliver(self._online_conns(), AnswerDelta(answer_id, offset, text))]

    def answer_finished(self, answer_id: AnswerId, outcome: AnswerOutcome) -> list[RoomAction]:
        """The relay is done with ``answer_id``: post the final answer, start the next one."""
        desk = self._desk
        if desk is None or self._closed:
            return []
        spent_before = desk.session_usage.total_tokens
        text = strip_controls(outcome.text)
        cut_off = outcome.cut_off and outcome.status == "complete" and bool(text)
        ticket = desk.finish(answer_id, outcome.usage, text, cut_off=cut_off)
        if ticket is None:
            return []
        finished = AnswerFinished(
            seq=self._next_seq(), ts=self._wall_clock(), answer=answer_id, text=text,
            status=outcome.status, model=desk.config.model, usage=outcome.usage,
            stopped_by=ticket.stopped_by, error=outcome.error, cut_off=cut_off,
        )  # fmt: skip
        actions = self._broadcast(finished)
        if desk.budget_just_spent(spent_before):
            actions += self.notice(
                "warning", ErrorCode.BUDGET_EXHAUSTED.value,
                f"The assistant has used this room's token budget "
                f"({desk.config.token_budget:,} tokens); the host can raise it.",
            )  # fmt: skip
        next_answer = self._start_next_answer() or self._state_changed()
        return actions + next_answer + self._report_to_hosts()

    def deliberated(
        self, request_seq: int, answer: bool, usage: Usage | None = None
    ) -> list[RoomAction]:
        """Auto mode's decision on message ``request_seq``: answer it or not."""
        if self._desk is None or self._closed or self._deliberating != request_seq:
            return []
        self._deliberating = None
        self._desk.add_usage(usage)
        actions: list[RoomAction] = []
        posted = self._message(request_seq)
        author = self._participants.get(posted.author) if posted is not None else None
        if answer and posted is not None and author is not None:
            refusal = self._desk.refusal(author.id, author.role == "host", self._clock())
            if refusal is None:  # when auto mode decides, a spent quota just means silence
                self._desk.enqueue(posted, author.id, author.name, self._clock())
                actions += self._start_next_answer() or self._state_changed()
        if self._deliberate_again:
            self._deliberate_again = False
            latest = self._latest_message()
            if latest is not None and latest.seq > request_seq:
                actions += self._deliberate(latest)
        return actions

    def assistant_closing(self) -> None:
        """The room is about to close: nothing more is asked of the assistant (the queue is
        dropped; no answer or decision starts). The answer being written may still finish,
        and is shown to everyone as it ends."""
        self._assistant_closing = True
        if self._desk is not None:
            self._desk.queue.clear()

    def model_takes_images(self, images: bool | None) -> None:
        """What the provider said of the model: whether it takes images (None: it did not
        say, and the model's name decides). Later answers list their files by it."""
        self._model_images = images

    def images_refused(self, files: tuple[FileId, ...]) -> None:
        """The provider refused these images (the relay will not send them again): later
        answers do not list them as sent."""
        self._refused_images.update(files)

    def notice(self, level: str, code: str, text: str) -> list[RoomAction]:
        """Tell everyone something (for example, that the provider asked us to wait)."""
        if self._closed:
            return []
        event = Notice(
            seq=self._next_seq(), ts=self._wall_clock(), level=level, code=code, text=text
        )
        return self._broadcast(event)

    def _assistant_after(
        self, conn: ConnId, participant: _Participant, posted: MessagePosted, now: float
    ) -> list[RoomAction]:
        desk = self._desk
        if desk is None:
            return []
        if desk.wants_answer(posted.text):
            explicit = desk.mentions(posted.text)
            return self._request_answer(conn, participant, posted, now, explicit=explicit)
        if desk.config.mode == "auto":
            if self._deliberating is not None:
                self._deliberate_again = True
                return []
            return self._deliberate(posted)
        return []

    def _request_answer(
        self, conn: ConnId, participant: _Participant, request: MessagePosted, now: float,
        regenerates: AnswerId | None = None, explicit: bool = True,
        continues: AnswerId | None = None, before: str = "",
    ) -> list[RoomAction]:  # fmt: skip
        """Queue an answer for ``participant``; ``explicit`` requests (a mention, regenerate)
        are told why not, while ``always`` mode just lets the extra message be context."""
        assert self._desk is not None
        refusal = self._desk.refusal(participant.id, participant.role == "host", now)
        if refusal is None and self._desk.is_waiting(participant.id):
            refusal = Refusal(
                ErrorCode.ALREADY_WAITING,
                "Your earlier question is still waiting for the assistant.",
            )
        if refusal is not None:
            if not explicit:
                return []
            return [self._error(conn, refusal.code, refusal.text, retry_after=refusal.retry_after)]
        self._desk.enqueue(
            request, participant.id, participant.name, now, regenerates,
            continues=continues, before=before,
        )  # fmt: skip
        return self._start_next_answer() or self._state_changed()

    def _start_next_answer(self) -> list[RoomAction]:
        """If the assistant is free and someone is waiting, start on the next answer."""
        assert self._desk is not None
        if self._assistant_closing:
            self._desk.queue.clear()
            return []
        if self._desk.queue and self._desk.budget_spent():
            self._desk.queue.clear()  # everyone waiting was told when the budget ran out
            return self._state_changed()
        ticket = self._desk.start_next()
        if ticket is None:
            return []
        # The question as it is now: edited since, the answer reads the new text.
        request = self._actions.current(ticket.request.seq) or ticket.request
        job = replace(self._job(ticket.answer_id, request), continues=ticket.before)
        model = self._desk.config.model
        sent = files_to_send(
            job.files_in_context, model, refused=self._refused_images, images=self._model_images
        )
        started = AnswerStarted(
            seq=self._next_seq(), ts=self._wall_clock(), answer=ticket.answer_id,
            request_seq=ticket.request.seq, asked_by=ticket.asked_by,
            asked_by_name=ticket.asked_by_name, assistant_name=self._desk.config.name,
            model=model, regenerates=ticket.regenerates, continues=ticket.continues,
            files=tuple(f.id for f in sent),
        )  # fmt: skip
        start = StartAnswer(job, tokens_left=self._desk.tokens_left())
        return [*self._broadcast(started), *self._state_changed(), start]

    def _deliberate(self, posted: MessagePosted) -> list[RoomAction]:
        if self._assistant_closing:
            return []
        self._deliberating = posted.seq
        return [Deliberate(self._job(AnswerId(""), posted))]

    def _job(self, answer_id: AnswerId, request: MessagePosted) -> AnswerJob:
        assert self._desk is not None
        quoted = None
        if request.reply_to is not None:
            quote = request.reply_to
            role: Literal["user", "assistant"] = "assistant" if quote.kind == "answer" else "user"
            text = self._actions.quoted_text(quote)
            quoted = TranscriptEntry(quote.message, quote.author_name, text, role=role)
        return job_for(
            answer_id, request, self._history,
            participants=tuple(p.name for p in self._participants.values()),
            assistant_name=self._desk.config.name, room_name=self.config.name,
            persona=self._desk.config.persona, files=self.shared_files(), quoted=quoted,
        )  # fmt: skip

    def _stop_answer(
        self, conn: ConnId, participant: _Participant, answer_id: AnswerId
    ) -> list[RoomAction]:
        ticket = self._controlled(conn, participant, answer_id, "stop")
        if not isinstance(ticket, Ticket):
            return [ticket]
        assert self._desk is not None
        if self._desk.drop_queued(answer_id) is not None:
            return self._state_changed()
        if self._desk.current is ticket and ticket.stopped_by is None:
            ticket.stopped_by = participant.id
            return [CancelAnswer(answer_id)]
        return []  # already finished or already stopping: nothing to do

    def _controlled(
        self, conn: ConnId, participant: _Participant, answer_id: AnswerId, verb: str
    ) -> Ticket | RoomAction:
        """The answer ``participant`` may ``verb`` (its asker or the host), or the error."""
        ticket = self._desk.find(answer_id) if self._desk is not None else None
        if ticket is None:
            return self._error(conn, ErrorCode.UNKNOWN_ANSWER, "no such answer")
        if not may_control_answer(
            host=participant.role == "host", me=participant.id, asked_by=ticket.asked_by
        ):
            words = f"only the asker or the host can {verb} it"
            return self._error(conn, ErrorCode.NOT_ALLOWED, words)
        return ticket

    def _regenerate(
        self, conn: ConnId, participant: _Participant, answer_id: AnswerId, now: float
    ) -> list[RoomAction]:
        ticket = self._controlled(conn, participant, answer_id, "regenerate")
        if not isinstance(ticket, Ticket):
            return [ticket]
        if ticket.request.deleted:
            return [self._question_deleted(conn)]
        # A continuation is regenerated as a continuation of the same cut answer.
        return self._request_answer(
            conn, participant, ticket.request, now, regenerates=answer_id,
            continues=ticket.continues, before=ticket.before,
        )  # fmt: skip

    def _continue(
        self, conn: ConnId, participant: _Participant, answer_id: AnswerId, now: float
    ) -> list[RoomAction]:
        """Queue the rest of an answer the model cut off: a new answer to the same request,
        which the assistant writes as the continuation of everything written so far."""
        ticket = self._controlled(conn, participant, answer_id, "continue")
        if not isinstance(ticket, Ticket):
            return [ticket]
        if ticket.request.deleted:
            return [self._question_deleted(conn)]
        assert self._desk is not None
        if self._desk.finished(answer_id) is not ticket or not ticket.cut_off:
            words = "that answer was not cut off at the length limit: there is nothing to add"
            return [self._error(conn, ErrorCode.NOT_CUT_OFF, words)]
        if ticket.continued:
            words = "that answer is already being continued"
            return [self._error(conn, ErrorCode.NOT_CUT_OFF, words)]
        return self._request_answer(
            conn, participant, ticket.request, now,
            continues=answer_id, before=ticket.before + ticket.text,
        )  # fmt: skip

    def _question_deleted(self, conn: ConnId) -> Deliver:
        words = "the question was deleted: the assistant cannot answer it again"
        return self._error(conn, ErrorCode.UNKNOWN_MESSAGE, words)

    def _configure_assistant(self, conn: ConnId, message: ConfigureAssistant) -> list[RoomAction]:
        if self._desk is None:
            return [self._error(conn, ErrorCode.NO_ASSISTANT, "this room has no assistant")]
        mode_before = self._desk.config.mode
        try:
            self._desk.configure(
                mode=message.mode, persona=message.persona, token_budget=message.token_budget,
                answer_quota=message.answer_quota, quota_window=message.quota_window,
            )  # fmt: skip
        except ValueError as exc:
            return [self._error(conn, ErrorCode.INVALID_VALUE, str(exc))]
        actions = self._room_updated()
        if self._desk.config.mode != mode_before:  # where messages go changed: say so to all
            actions += self.notice("warning", "assistant_mode", self._mode_words())
        return actions + self._report_to_hosts()

    def _mode_words(self) -> str:
        """What the assistant's mode means for where everyone's messages go, in words."""
        assert self._desk is not None
        info = self._desk.info()
        where = f"{info.provider} ({'in the cloud' if info.provider_kind == 'cloud' else 'local'})"
        if info.mode == "always":
            return (
                f"The host set the assistant to answer every message: every message now "
                f"goes to {where}."
            )
        if info.mode == "auto":
            return (
                f"The host let the assistant decide when to join in: every message now goes "
                f"to {where}, so that it can decide."
            )
        return (
            f"The assistant now answers only when someone writes @{info.name}; messages go to "
            f"{where} only as context for those answers."
        )

    def _state_changed(self) -> list[RoomAction]:
        assert self._desk is not None
        return [Deliver(self._online_conns(), AssistantStateChanged(self._desk.state()))]

    def _report_to_hosts(self, only: ConnId | None = None) -> list[RoomAction]:
        desk = self._desk
        if desk is None:
            return []
        hosts = (only,) if only is not None else tuple(
            p.conn for p in self._participants.values() if p.role == "host" and p.conn is not None
        )  # fmt: skip
        c = desk.config
        report = AssistantReport(
            mode=c.mode, persona=c.persona, token_budget=c.token_budget,
            answer_quota=c.answer_quota, quota_window=c.quota_window,
            session_usage=desk.session_usage, answers=desk.answers,
        )  # fmt: skip
        return [Deliver(hosts, report)] if hosts else []

    def _message(self, seq: int) -> MessagePosted | None:
        """Message ``seq`` as it is now, unless it was deleted (or history no longer has it)."""
        posted = self._actions.current(seq)
        return posted if posted is not None and not posted.deleted else None

    def _latest_message(self) -> MessagePosted | None:
        for event in reversed(self._history):
            if isinstance(event, MessagePosted) and not event.deleted:
                return event
        return None

    # ----------------------------------------------------------------- helpers

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _online_conns(self, exclude: ConnId | None = None) -> tuple[ConnId, ...]:
        return tuple(
            p.conn for p in self._participants.values() if p.conn is not None and p.conn != exclude
        )

    def _broadcast(self, event: RoomEvent) -> list[RoomAction]:
        """Keep ``event`` for replays and send it to everyone online, each in the form they
        may see (see :meth:`_form_for`)."""
        if isinstance(event, ReactionChanged):
            if len(self._reaction_log) == self._reaction_log.maxlen:
                self._reactions_lost_upto = self._reaction_log[0].seq
            self._reaction_log.append(event)
        else:
            self._history.append(event)
        shared = self.config.share_history or not names_a_message(event)
        if shared and not needs_old_client_form(event):
            return [Deliver(self._online_conns(), event)]
        groups: dict[ServerMessage, list[ConnId]] = {}
        for participant in self._participants.values():
            form = self._form_for(participant, event)
            if participant.conn is not None and form is not None:
                groups.setdefault(form, []).append(participant.conn)
        return [Deliver(tuple(conns), form) for form, conns in groups.items()]

    def _form_for(self, participant: _Participant, event: RoomEvent) -> ServerMessage | None:
        """``event`` as ``participant`` may see it: in a room that does not share history,
        nothing of a message from before they joined (see
        :func:`core.message_actions.as_seen_from`); without the ability
        ``message-actions``, in its plain-text form."""
        sees_after = 0 if self.config.share_history else participant.joined_seq
        seen = as_seen_from(event, sees_after)
        if seen is None or participant.actions:
            return seen
        return for_old_client(seen)

    @staticmethod
    def _error(
        conn: ConnId,
        code: ErrorCode,
        text: str,
        *,
        ref: str | None = None,
        retry_after: float | None = None,
    ) -> Deliver:
        return Deliver(
            (conn,), ErrorMessage(code=code.value, message=text, ref=ref, retry_after=retry_after)
        )

    def _refuse(
        self,
        conn: ConnId,
        code: ErrorCode,
        text: str,
        *,
        record: _Connection | None = None,
        retry_after: float | None = None,
    ) -> list[RoomAction]:
        """Tell ``conn`` why, then close it with the matching close code."""
        record = record or self._conns.get(conn)
        if record is not None:
            record.closing = True
        wait = round(retry_after, 2) if retry_after is not None else None
        return [
            self._error(conn, code, text, retry_after=wait),
            Disconnect(conn, _CLOSE_FOR.get(code, CloseCode.PROTOCOL_ERROR), close_reason(text)),
        ]


def _decode_chunk(data: str) -> bytes | None:
    """The bytes of a chunk's unpadded base64url text (its alphabet checked by the codec), or
    None when it is no base64 (a length that no bytes encode to)."""
    try:
        return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        return None


def _seconds(wait: float) -> str:
    """A wait in words: "0.8 s", "12 s"."""
    return f"{wait:.1f} s" if wait < 10 else f"{wait:.0f} s"


def _ban_key(address: str) -> str:
    """What a ban on ``address`` covers: an IPv6 address's network, else the address."""
    return network_key(address) or address_key(address)


MAX_EDIT_WINDOW = 24 * 3600.0  # the longest time the host may let messages be edited
_MAX_ADDRESSES_REMEMBERED = 16  # per participant, for bans; resumes are rate limited anyway
_RETIRED_TOKENS_KEPT = 4  # per participant: to recognise a lost welcome or a taken place

_CLOSE_FOR: dict[ErrorCode, CloseCode] = {
    ErrorCode.ROOM_CLOSED: CloseCode.ROOM_CLOSED,
    ErrorCode.BANNED: CloseCode.BANNED,
    ErrorCode.KICKED: CloseCode.KICKED,
    ErrorCode.AUTH_FAILED: CloseCode.AUTH_FAILED,
    ErrorCode.ROOM_FULL: CloseCode.ROOM_FULL,
    ErrorCode.ROOM_LOCKED: CloseCode.ROOM_LOCKED,
    ErrorCode.INCOMPATIBLE_VERSION: CloseCode.INCOMPATIBLE_VERSION,
    ErrorCode.FLOODING: CloseCode.FLOODING,
    ErrorCode.TOO_SLOW: CloseCode.TOO_SLOW,
    ErrorCode.HANDSHAKE_TIMEOUT: CloseCode.HANDSHAKE_TIMEOUT,
    ErrorCode.TOO_MANY_ATTEMPTS: CloseCode.TOO_MANY_ATTEMPTS,
    ErrorCode.INVALID_NAME: CloseCode.INVALID_NAME,
    ErrorCode.SESSION_REPLACED: CloseCode.SESSION_REPLACED,
    ErrorCode.TOO_MANY_CONNECTIONS: CloseCode.TOO_MANY_CONNECTIONS,
}
