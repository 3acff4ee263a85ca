"""The participant's side of a room as a state machine: frames and time in, actions out.

No sockets, no clocks, and randomness only from the sources given to the constructor. A
transport adapter (:class:`core.client.RoomClient`) owns the connection, the tasks and the
timers, and reports to one :class:`Participant`:

* :meth:`~Participant.opened` when a connection to the room is open, before any frame, with
  the fingerprint of the certificate that connection presented,
* :meth:`~Participant.receive` for each frame the room sends on it,
* :meth:`~Participant.connection_failed` when an attempt ends before a welcome (nothing
  answered, it timed out, it closed during the handshake),
* :meth:`~Participant.connection_lost` when the live connection drops,
* :meth:`~Participant.certificate_changed` when a reconnect met another certificate than the
  one the session began with,
* :meth:`~Participant.tick` at :attr:`~Participant.next_wakeup`, so paced messages go out,
* :meth:`~Participant.chunk_written` when the connection has written a frame that carried a
  file's chunk, so that the next chunks go,
* :meth:`~Participant.post`, :meth:`~Participant.share`, :meth:`~Participant.cancel_upload`,
  :meth:`~Participant.fetch`, :meth:`~Participant.stop_fetch`, :meth:`~Participant.leave`
  and :meth:`~Participant.left` for what the user does; :meth:`~Participant.abandon` when
  the adapter itself cannot go on.

Each returns the actions to carry out, in order: :class:`SendFrame`, :class:`Deliver`,
:class:`Joined`, :class:`AttemptFailed`, :class:`ScheduleReconnect`, :class:`End`. Time comes
in as ``now`` (seconds on any monotonic clock) and the reconnect jitter from the source given
to the constructor, so a test can replay any story exactly.

The rules kept here:

* **Handshake.** A room that speaks another protocol version, asks for a room code we do not
  have, or checks it in a way we do not know, is refused before we say anything. In a room
  with a room code, every connection runs the exchange of :mod:`core.pake` first, bound to
  the certificate *that connection* presented: ``auth_start``, then the room's
  ``auth_reply``, whose confirmation must verify before we say hello (else the code is wrong
  or the room is not the one we think, and our name and session stay unsaid). The hello
  carries our confirmation, the host proof and, after the first welcome, the session and
  last ``seq`` to resume from.
* **Resume and de-duplication.** An event whose ``seq`` is not above the last one delivered
  was delivered before a reconnect and is dropped: each event reaches the app once, in order.
* **The instance.** When a reconnect finds another run of the room (the host restarted it),
  no hello is sent: the client ends with reason ``restarted`` and the new room's preview.
  Another certificate on a reconnect ends it too (``certificate_changed``), before any frame.
* **The mirror.** Participants, room info, the assistant's state and the bans follow the
  room's events.
* **Confirmations.** A message stays in the outbox until the room posts it (a ``message``
  event with its client id, under any identity we have had), acknowledges a repeat (``ack``)
  or refuses it (an ``error`` whose ``ref`` is its id, reported as :class:`SendFailed`).
  Messages go out in order at 90% of the room's rate (:mod:`core.outbox`). After a welcome,
  nothing is (re)sent until the replay it announced has been read, or :data:`REPLAY_WAIT`
  has passed: the replay may confirm messages the room posted under an earlier identity.
* **Files shared** (:mod:`core.outbox` paces them). A file is checked against the room's
  limits when shared (:class:`FileRefused`), announced to the app (:class:`FileQueued`),
  offered when its turn comes, and its chunks go from the offset the room's
  ``file_accepted`` names, a few at a time (the window of :mod:`core.outbox`), with
  :class:`UploadProgress` now and then. Exactly one outcome follows: the ``file_shared``
  event with its client id (under any identity we have had), an :class:`Acknowledged`, or
  an :class:`UploadFailed` (refused, corrupt, cancelled, or ``room_ended`` when the client
  ends first). After a reconnect the offer goes again, once the replay is read, and the
  room answers with the offset it reached.
* **Files fetched.** A file can be fetched once a ``file_shared`` event named it (we know its
  size and SHA-256 from it). What a room says is not trusted to bound what we hold: a file
  announced larger than the room's own ``max_file_bytes``, or than :data:`MAX_FETCH_BYTES`
  whatever the room allows, is not fetched (``file_too_large``, nothing sent). Its bytes are
  taken only in order: a frame that does not start where the bytes so far end asks the room
  again from there (once per gap); a frame carrying more than the room's
  ``file_chunk_bytes`` (at most :data:`MAX_FETCH_CHUNK_BYTES`), more bytes than the file
  has, or a mismatched SHA-256 at the end, fail it (``file_corrupt``). The result is one
  :class:`FileFetched` or :class:`FetchFailed`; after a reconnect the fetch goes on from the
  bytes already had.
* **Reconnecting.** A close with a terminal code ends the client; any other loss is retried
  with jittered exponential backoff (:class:`ReconnectPolicy`) until ``give_up_after``
  seconds, waiting at least as long as a ``flooding`` refusal's ``retry_after`` asks (capped
  at 60 s). A refusal on reconnecting (banned, closed, ...) ends the client.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import logging
import math
import os
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from core.codec import parse_server_frame, serialize
from core.filetypes import safe_file_name
from core.outbox import Outbox, Outgoing, Upload, Uploads
from core.pake import (
    FINGERPRINT_BYTES,
    BadPakeMessage,
    Entropy,
    GuestExchange,
    InvalidRoomCode,
    WrongCode,
    decode_confirmation,
    decode_message,
    decode_nonce,
    encode_b64url,
)
from core.protocol import (
    ABILITIES,
    AUTH_NONE,
    AUTH_SPAKE2,
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
    AuthReply,
    AuthStart,
    BanInfo,
    BanList,
    ClientMessage,
    CloseCode,
    ErrorCode,
    ErrorMessage,
    FileAccepted,
    FileCancel,
    FileChunk,
    FileData,
    FileGet,
    FileId,
    FileOffer,
    FileShared,
    FileStop,
    Hello,
    Leave,
    Limits,
    MessageId,
    MessagePosted,
    Notice,
    ParticipantInfo,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantStatusChanged,
    ProtocolError,
    ResumeRequest,
    RoomClosed,
    RoomEvent,
    RoomInfo,
    RoomPreview,
    RoomUpdated,
    SendMessage,
    ServerHello,
    SetTyping,
    TypingChanged,
    Welcome,
    key_proof,
)
from core.wording import ENDED_WORDS, size_words, sizes_apart

__all__ = [
    "MAX_FETCH_BYTES",
    "MAX_FETCH_CHUNK_BYTES",
    "REPLAY_WAIT",
    "Acknowledged",
    "AttemptFailed",
    "CertificateChanged",
    "ChunkTag",
    "ClientEvent",
    "Deliver",
    "DownloadProgress",
    "End",
    "EndReason",
    "Ended",
    "FetchFailed",
    "FileFetched",
    "FileQueued",
    "FileRefused",
    "JoinError",
    "JoinRefused",
    "Joined",
    "MessageTooLarge",
    "NotConnected",
    "Participant",
    "ParticipantAction",
    "Queued",
    "ReconnectPolicy",
    "Reconnecting",
    "Resumed",
    "RoomRestarted",
    "RoomUnreachable",
    "ScheduleReconnect",
    "SendFailed",
    "SendFrame",
    "UnknownFile",
    "UploadFailed",
    "UploadProgress",
    "read_greeting",
]

log = logging.getLogger("gptgroup.client")

REPLAY_WAIT = 2.0  # seconds unconfirmed messages wait, at most, for the replay to be read
FLOODING_WAIT_DEFAULT = 5.0  # a flooding refusal without retry_after: wait this long
FLOODING_WAIT_CAP = 60.0  # never wait longer than this because a room said so
PROGRESS_STEP = 0.05  # progress is reported when a transfer moved on by this share of it,
PROGRESS_INTERVAL = 0.25  # or by anything after this many seconds
_MAX_CHUNK_BYTES = Limits().file_chunk_bytes  # what one chunk frame may carry, whatever asked
MAX_FETCH_BYTES = 100 * 1000 * 1000
"""The largest file fetched, whatever a room announces (a host can set at most 100 MB): a
hostile room cannot make us hold more for one file."""
MAX_FETCH_CHUNK_BYTES = 64 * 1024
"""The most one ``file_data`` frame may carry, whatever a room announces."""
_FORGOTTEN_FILES = 256  # files of ours recently let go, whose late errors are not news
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*", re.ASCII)

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
    "certificate_changed",
]

# --------------------------------------------------------------------------- errors


class RoomRestarted(Exception):
    """On reconnecting, another run of the room answered (the host restarted it)."""

    def __init__(self, preview: RoomPreview) -> None:
        super().__init__("the host restarted the room")
        self.preview = preview


class JoinRefused(Exception):
    """The room answered but would not let us in (wrong room code, full, locked, banned...),
    or we would not join it (another protocol version; a room that could not prove it holds
    the room code, with ``code`` ``auth_failed``)."""

    def __init__(self, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after


class CertificateChanged(Exception):
    """On reconnecting, the room presented another certificate than the one the session
    began with: the host restarted it as a new room, or someone is impersonating it."""

    def __init__(self) -> None:
        super().__init__(CERTIFICATE_CHANGED_TEXT)


class RoomUnreachable(ConnectionError):
    """Nothing that speaks the room protocol answered at that address."""


class NotConnected(RuntimeError):
    """The action needs a live connection (the client is reconnecting, or has ended)."""


class MessageTooLarge(ValueError):
    """The message would not fit in one frame under the room's limits."""


class FileRefused(ValueError):
    """The file cannot be shared here, known before anything is sent: ``code`` is the room's
    own (``files_off``, ``file_empty``, ``file_too_large``) and ``message`` says why in words
    for the person sharing it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class UnknownFile(LookupError):
    """No ``file_shared`` event we delivered names this file: there is nothing to fetch."""

    def __init__(self, file: str) -> None:
        super().__init__(f"no file {file!r} has been shared in this room")
        self.file = file


JoinError = JoinRefused | RoomUnreachable | RoomRestarted | CertificateChanged
"""Why one connection attempt did not end in a welcome."""

# --------------------------------------------------------------------------- client events


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
class Queued:
    """A message of ours is in the outbox, not yet confirmed by the room. Exactly one of
    these follows it: a ``message`` event with ``client_id`` ``id`` (posted), an
    :class:`Acknowledged` (posted, its event not seen), a :class:`SendFailed` (refused), or
    the :class:`Ended` that lists it among ``unsent`` (never left) or ``unconfirmed`` (sent,
    fate unknown). The client is the one owner of an unconfirmed message; a front end shows
    these events and keeps no list of its own.

    ``ts`` is the wall-clock time it was typed, for display only."""

    id: MessageId
    text: str
    ts: float
    reply_to: int | None = None  # the seq of the message it replies to


@dataclass(frozen=True)
class Acknowledged:
    """The room says it posted message ``id`` already, as event ``seq`` (an ``ack`` for a
    repeat), but that event did not reach us (it was in history we missed). It is sent."""

    id: MessageId
    seq: int


@dataclass(frozen=True)
class SendFailed:
    """The room refused the message with client id ``id``; it will not be posted. ``text``
    is what it said, so that it can be given back to the person to fix and send again."""

    id: MessageId
    code: str
    message: str
    retry_after: float | None = None
    text: str = ""


@dataclass(frozen=True)
class Ended:
    """The client is out of the room for good and will not retry.

    ``reason`` ``"restarted"``: the host restarted the room as a new one (another
    ``instance``) while we were away; we did not join it. ``new_room`` says what it is, so
    the user can decide whether to join it (where messages go may have changed).
    ``"certificate_changed"``: a reconnect met another certificate than the one the session
    began with (a restarted room, or an impersonator); we did not rejoin.
    """

    reason: EndReason
    message: str
    close_code: int | None = None
    new_room: RoomPreview | None = None
    unsent: tuple[Queued, ...] = ()
    """Our messages that never left: they will never be sent."""
    unconfirmed: tuple[Queued, ...] = ()
    """Our messages that were sent but never confirmed: the room may or may not have posted
    them (the connection dropped before its answer came)."""


@dataclass(frozen=True)
class FileQueued:
    """A file of ours is being shared (client id ``id``), not yet confirmed by the room.
    :class:`UploadProgress` events may follow, then exactly one outcome: a ``file_shared``
    event with ``client_id`` ``id`` (shared), an :class:`Acknowledged` (shared, its event
    not seen), or an :class:`UploadFailed` (refused, damaged on the way, cancelled, or the
    client ended first). ``name`` is the name it is offered under (made safe); ``ts`` is when
    it was shared (wall clock, for display only)."""

    id: MessageId
    name: str
    size: int
    assistant: bool
    ts: float


@dataclass(frozen=True)
class UploadProgress:
    """``sent`` of ``size`` bytes of upload ``id`` have left (reported every few percent;
    it can go back after a reconnect, to what the room had)."""

    id: MessageId
    sent: int
    size: int


@dataclass(frozen=True)
class UploadFailed:
    """Upload ``id`` will not be shared. ``code``: the room's refusal (``file_too_large``,
    ``storage_full``, ``file_corrupt``...), ``cancelled`` (the user cancelled it) or
    ``room_ended`` (the client ended first); ``message`` says why in words."""

    id: MessageId
    code: str
    message: str


@dataclass(frozen=True)
class DownloadProgress:
    """``received`` of ``size`` bytes of ``file`` are here (reported every few percent)."""

    file: FileId
    received: int
    size: int


@dataclass(frozen=True)
class FileFetched:
    """All of ``file`` arrived and matches its SHA-256: ``data`` is its bytes. The client
    keeps no copy: whoever asked for it holds them now."""

    file: FileId
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class FetchFailed:
    """Fetching ``file`` stopped without it: ``code`` ``file_too_large`` (announced larger
    than we fetch: never asked for), ``file_corrupt`` (the bytes did not match, or came in
    pieces larger than announced), ``unknown_file`` (the room has no such file for us),
    ``cancelled`` (the user stopped it) or ``room_ended`` (the client ended first);
    ``message`` says why in words."""

    file: FileId
    code: str
    message: str


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
    | Queued
    | Acknowledged
    | SendFailed
    | Ended
    | FileQueued
    | UploadProgress
    | UploadFailed
    | DownloadProgress
    | FileFetched
    | FetchFailed
)

# --------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class ChunkTag:
    """Which chunk a :class:`SendFrame` carries: upload ``upload``'s bytes up to ``end``, on
    the ``link``-th connection. The adapter hands it back to
    :meth:`Participant.chunk_written` once the connection has taken the frame."""

    upload: MessageId
    end: int
    link: int


@dataclass(frozen=True)
class SendFrame:
    """Write ``text`` to the connection whose frame, or whose welcome, led to it (for
    :meth:`Participant.post` and :meth:`Participant.tick`: the live connection). A frame
    that cannot be written because that connection dropped is simply dropped: whatever it
    carried that matters is sent again after the next welcome.

    A frame with a ``chunk`` carries a file's bytes: once the connection has written it,
    report it with :meth:`Participant.chunk_written`; only a few such frames are handed out
    before that. One that could not be written needs no report: its connection is gone, and
    the next one starts afresh from the room's offset."""

    text: str
    chunk: ChunkTag | None = None


@dataclass(frozen=True)
class Deliver:
    """Put ``event`` on the app's event stream (after the events delivered before it)."""

    event: ClientEvent


@dataclass(frozen=True)
class Joined:
    """The handshake succeeded: this connection is now the live one."""

    welcome: Welcome


@dataclass(frozen=True)
class AttemptFailed:
    """This connection attempt is over: close its connection. On the first attempt,
    ``error`` is what joining failed with; on a reconnect the actions after this one say
    what happens next (another :class:`ScheduleReconnect`, or :class:`End`)."""

    error: JoinError


@dataclass(frozen=True)
class ScheduleReconnect:
    """Open a new connection to the room in ``delay`` seconds, and report how it goes."""

    delay: float


@dataclass(frozen=True)
class End:
    """The client is out for good: stop writing and timing, close what is open, and put
    ``ended`` on the event stream as its last event. Nothing follows an ``End``."""

    ended: Ended


ParticipantAction = SendFrame | Deliver | Joined | AttemptFailed | ScheduleReconnect | End

# --------------------------------------------------------------------------- policy


@dataclass(frozen=True)
class ReconnectPolicy:
    """Backoff between reconnect attempts: doubling from ``initial_delay`` up to
    ``max_delay``, each delay jittered to between half and all of it; after
    ``give_up_after`` seconds without success the client ends with reason ``unreachable``."""

    initial_delay: float = 0.25
    max_delay: float = 5.0
    give_up_after: float = 120.0

    def delay(self, attempt: int, jitter: float | None = None) -> float:
        """The wait before attempt ``attempt`` (1 for the first): ``cap * (1 + jitter) / 2``.

        ``jitter`` (0 to 1) says where between half and all of the cap it falls.
        :class:`Participant` always passes one from the source it was given; without one, one
        is drawn at random, as the one-argument form always did.
        """
        cap = min(self.max_delay, self.initial_delay * 2.0 ** (attempt - 1))
        if jitter is None:
            jitter = random.random()
        return float(cap / 2 + cap / 2 * jitter)


_END_FOR_CLOSE: dict[int, EndReason] = {
    CloseCode.NORMAL: "left",
    CloseCode.ROOM_CLOSED: "closed_by_host",
    CloseCode.KICKED: "kicked",
    CloseCode.BANNED: "banned",
    CloseCode.SESSION_REPLACED: "replaced",
}

RESTARTED_TEXT = "The host restarted the room: it is a new room now, and you are not in it."
CERTIFICATE_CHANGED_TEXT = ENDED_WORDS["certificate_changed"]
WRONG_CODE_TEXT = "wrong room code, or this is not the room you think"
NO_EXCHANGE_TEXT = (
    "this room says it needs no room code, but you were given one: it may not be the room you think"
)


def _unreadable(exc: ProtocolError) -> JoinRefused:
    refused = JoinRefused(exc.code, f"the server sent something unreadable: {exc}")
    refused.__cause__ = exc
    return refused


def read_greeting(frame: str | bytes) -> ServerHello:
    """The room's greeting in ``frame``, the first one a connection gets.

    Raises :class:`JoinRefused`: with the room's own code when it refused on sight (closed,
    banned, too many connections...), or when the frame is unreadable or not a greeting.
    """
    try:
        greeting = parse_server_frame(frame)
    except ProtocolError as exc:
        raise _unreadable(exc) from exc
    if isinstance(greeting, ErrorMessage):
        raise JoinRefused(greeting.code, greeting.message, greeting.retry_after)
    if not isinstance(greeting, ServerHello):
        raise JoinRefused(ErrorCode.BAD_MESSAGE, "the server did not greet us properly")
    return greeting


# --------------------------------------------------------------------------- the machine

_Phase = Literal["offline", "greeting", "authenticating", "welcoming", "live"]


@dataclass(eq=False)
class _Download:
    """A file being fetched: what it should be (from its ``file_shared`` event), the bytes
    so far, and where its request stands on the live connection."""

    file: FileId
    size: int
    sha256: str
    data: bytearray = field(default_factory=bytearray)
    link: int = 0  # the connection its file_get went on (0: none yet)
    asked_from: int = -1  # the offset that file_get (or the latest re-request) named
    shown: int = 0  # progress last reported (bytes), and when
    shown_at: float = -math.inf


def _progressed(done: int, shown: int, size: int, shown_at: float, now: float) -> bool:
    """Whether a transfer at ``done`` of ``size`` bytes is worth reporting again: it moved
    on by :data:`PROGRESS_STEP` since ``shown``, or at all after :data:`PROGRESS_INTERVAL`,
    or it reached the end."""
    if done == shown:
        return False
    if done >= size or abs(done - shown) >= size * PROGRESS_STEP:
        return True
    return now - shown_at >= PROGRESS_INTERVAL


def _decode_chunk(text: str) -> bytes:
    """The bytes of a ``data`` field (unpadded base64url). Raises ``ValueError``."""
    if len(text) % 4 == 1 or not _BASE64URL.fullmatch(text):
        raise ValueError("not base64url text")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class _Retry:
    """A reconnect in progress: since when, how many attempts so far, and the least wait
    the room asked for (a ``flooding`` refusal's ``retry_after``)."""

    started: float
    attempt: int = 0
    asked_to_wait: float = 0.0


class Participant:
    """One participant's side of one room. See the module docstring.

    ``jitter`` returns a number from 0 to 1 for each reconnect delay (the adapter passes
    ``random.random``; a test passes a constant). ``password`` is the room code, as typed.
    ``entropy`` is where the room-code exchange draws its secrets (:func:`os.urandom`; a test
    may fix it). ``session`` may be set before the first connection to resume a session
    obtained elsewhere.
    """

    def __init__(
        self,
        name: str,
        *,
        jitter: Callable[[], float],
        password: str | None = None,
        host_key: str | None = None,
        policy: ReconnectPolicy | None = None,
        client_name: str = "gptgroup",
        entropy: Entropy = os.urandom,
    ) -> None:
        self.name = name
        self.session: str | None = None
        self._jitter = jitter
        self._entropy = entropy
        self._password = password
        self._host_key = host_key
        self._policy = policy or ReconnectPolicy()
        self._client_name = client_name
        self._phase: _Phase = "offline"
        self._fingerprint = bytes(FINGERPRINT_BYTES)  # of this connection's certificate
        self._exchange: GuestExchange | None = None  # this connection's, until the reply
        self._greeting: ServerHello | None = None  # this connection's, until our hello
        self._retry: _Retry | None = None  # set from a lost connection until the next welcome
        self._leaving = False
        self._ended: Ended | None = None
        self._instance: str | None = None
        self._my_ids: set[str] = set()  # every participant id the room has given us
        self._last_seq = 0
        self._replay_until = 0  # the last seq of the replay after the latest welcome
        self._replay_deadline = 0.0
        self._outbox = Outbox()
        self._uploads = Uploads()
        self._cancels: list[MessageId] = []  # file_cancel frames for the next connection
        self._downloads: dict[str, _Download] = {}
        self._files: dict[str, FileShared] = {}  # every file a delivered event shared
        self._forgotten: dict[str, None] = {}  # files of ours let go lately (insertion order)
        self._abilities: tuple[str, ...] = ()  # the latest greeting's
        self._link = 0  # counts welcomes: which connection a chunk frame was meant for
        self._wakeup: float | None = None
        # The mirror of the room.
        self._you: ParticipantInfo | None = None
        self._room: RoomInfo | None = None
        self._participants: dict[str, ParticipantInfo] = {}
        self._assistant_state: AssistantState | None = None
        self._bans: tuple[BanInfo, ...] = ()
        self._closed_reason: EndReason | None = None

    # ----------------------------------------------------------------- state

    @property
    def you(self) -> ParticipantInfo | None:
        """Who we are in the room (None before the first welcome)."""
        return self._you

    @property
    def room(self) -> RoomInfo | None:
        """The room's info as last announced (None before the first welcome)."""
        return self._room

    @property
    def participants(self) -> dict[str, ParticipantInfo]:
        """Everyone in the room now, by participant id (a copy)."""
        return dict(self._participants)

    @property
    def instance(self) -> str | None:
        """Which run of the room we are in (None before the first welcome)."""
        return self._instance

    @property
    def assistant_state(self) -> AssistantState | None:
        """What the assistant is doing (None in a room without one)."""
        return self._assistant_state

    @property
    def room_abilities(self) -> tuple[str, ...]:
        """The optional features the room announced (empty before its greeting)."""
        return self._abilities

    @property
    def bans(self) -> tuple[BanInfo, ...]:
        """Host only: the bans in force (empty for guests)."""
        return self._bans

    @property
    def last_seq(self) -> int:
        """The ``seq`` of the last room event delivered (0 before any)."""
        return self._last_seq

    @property
    def connected(self) -> bool:
        """Whether there is a live connection (welcomed, not yet lost) and we have not ended."""
        return self._phase == "live" and self._ended is None

    @property
    def ended(self) -> Ended | None:
        return self._ended

    @property
    def pending(self) -> list[Queued]:
        """Messages sent but not yet confirmed by the room, in the order they were typed."""
        return [Queued(o.id, o.text, o.ts) for o in self._outbox.items]

    @property
    def uploads(self) -> list[FileQueued]:
        """Files being shared and not yet confirmed by the room, in the order shared."""
        return [FileQueued(u.id, u.name, u.size, u.assistant, u.ts) for u in self._uploads.items]

    @property
    def files(self) -> dict[FileId, FileShared]:
        """Every file a delivered ``file_shared`` event named, by file id (a copy)."""
        return {FileId(file): shared for file, shared in self._files.items()}

    @property
    def fetching(self) -> tuple[FileId, ...]:
        """The files being fetched now."""
        return tuple(d.file for d in self._downloads.values())

    @property
    def next_wakeup(self) -> float | None:
        """When :meth:`tick` next has something to do (a paced message, the end of the
        replay wait), on the clock of the ``now`` values given; None when nothing waits.
        It may change after any call: read it again after carrying out each one's actions."""
        return self._wakeup

    # ----------------------------------------------------------------- connection

    def opened(self, fingerprint: bytes = bytes(FINGERPRINT_BYTES)) -> list[ParticipantAction]:
        """A connection to the room is open; its first frame is to be the room's greeting.

        ``fingerprint`` is the SHA-256 of the certificate *this* connection presented (all
        zeros without TLS): the room-code exchange is bound to it, so that a relay in the
        middle, which presents its own, cannot complete it. Raises ``ValueError`` for one
        that is not 32 bytes.
        """
        if len(fingerprint) != FINGERPRINT_BYTES:
            raise ValueError("a certificate fingerprint is the 32 bytes of a SHA-256")
        if self._ended is None:
            self._phase = "greeting"
            self._fingerprint = bytes(fingerprint)
            self._exchange = None
            self._greeting = None
        return []

    def receive(self, frame: str | bytes, now: float) -> list[ParticipantAction]:
        """A frame from the room, on the connection being opened or the live one."""
        if self._ended is not None:
            return []
        match self._phase:
            case "greeting":
                return self._on_greeting(frame, now)
            case "authenticating":
                return self._on_auth_reply(frame, now)
            case "welcoming":
                return self._on_welcome(frame, now)
            case "live":
                return self._on_event(frame, now) + self._pump(now)
            case "offline":  # no connection the frame could have come on: nothing to do
                return []

    def connection_failed(self, why: str, now: float) -> list[ParticipantAction]:
        """A connection attempt ended before a welcome: nothing answered, it did not answer
        in time, or it closed during the handshake. ``why`` says which, for people."""
        return self._attempt_failed(RoomUnreachable(why), now)

    def connection_lost(self, code: int | None, reason: str, now: float) -> list[ParticipantAction]:
        """The live connection closed, with the close ``code`` and ``reason`` it carried."""
        self._phase = "offline"
        self._wakeup = None
        if self._ended is not None or self._leaving:
            return []
        if code is not None and code in TERMINAL_CLOSE_CODES:
            end_reason = _END_FOR_CLOSE.get(code, "refused")
            if code == CloseCode.ROOM_CLOSED and self._closed_reason is not None:
                end_reason = self._closed_reason  # the room said why before closing
            return self._end(Ended(end_reason, reason or "the room closed the connection", code))
        self._retry = _Retry(started=now)
        return self._next_attempt(self._retry, f"connection lost ({code or 'no close code'})", now)

    def certificate_changed(self, now: float) -> list[ParticipantAction]:
        """The connection being opened presented another certificate than the one this
        session began with (the adapter compares them, before any frame): not the room we
        were in. Ends the client as ``certificate_changed``, without rejoining; the adapter
        closes that connection. Returns :class:`AttemptFailed`, then :class:`End`."""
        if self._ended is not None:
            return []
        failed = AttemptFailed(CertificateChanged())
        return [failed, *self._end(Ended("certificate_changed", CERTIFICATE_CHANGED_TEXT))]

    def tick(self, now: float) -> list[ParticipantAction]:
        """Time has passed: the paced messages now due."""
        return self._pump(now)

    def chunk_written(self, tag: ChunkTag, now: float) -> list[ParticipantAction]:
        """The connection has written the frame that carried chunk ``tag``. Returns the
        progress to report and the chunks that may go now."""
        upload = self._uploads.get(tag.upload)
        if tag.link != self._link or upload is None or not self.connected:
            return []  # a chunk of a connection that is gone, or of a settled upload
        upload.in_flight = max(0, upload.in_flight - 1)
        if tag.end <= upload.offset:  # not one from before the room asked to go back
            upload.written = max(upload.written, tag.end)
        return self._upload_progress(upload, now) + self._pump(now)

    # ----------------------------------------------------------------- what the user does

    def post(
        self, message_id: MessageId, text: str, now: float, typed_at: float = 0.0,
        reply_to: int | None = None,
    ) -> list[ParticipantAction]:  # fmt: skip
        """Queue ``text`` under client id ``message_id``, as a reply to message ``reply_to``
        (its ``seq``) if given; returns a :class:`Queued` for the app, then what can be sent
        at once. ``typed_at`` is the wall-clock time, for display.

        Raises :class:`NotConnected` once ended, :class:`MessageTooLarge` when it would
        break the room's limits (known after the first welcome)."""
        if self._ended is not None:
            raise NotConnected(f"no longer in the room: {self._ended.message}")
        frame = serialize(SendMessage(id=message_id, text=text, reply_to=reply_to))
        if self._room is not None:
            limits = self._room.limits
            if len(text) > limits.max_text_chars:
                raise MessageTooLarge(f"messages are at most {limits.max_text_chars} characters")
            if len(frame.encode()) > limits.max_frame_bytes:
                raise MessageTooLarge("message is too large to send")
        self._outbox.add(Outgoing(message_id, text, typed_at, reply_to))
        return [Deliver(Queued(message_id, text, typed_at, reply_to)), *self._pump(now)]

    def share(
        self,
        upload_id: MessageId,
        name: str,
        data: bytes,
        now: float,
        shared_at: float = 0.0,
        *,
        assistant: bool = False,
    ) -> list[ParticipantAction]:
        """Share ``data`` as ``name`` (made safe to show and save) under client id
        ``upload_id``; ``assistant``: its sender lets the assistant read it. Returns a
        :class:`FileQueued` for the app, then what can be sent at once. ``data`` is held,
        not copied, until the room confirms the file: do not change it meanwhile.

        Raises :class:`NotConnected` before the first welcome and once ended, and
        :class:`FileRefused` for a file the room would refuse on sight (none taken here, an
        empty one, one over its size limit)."""
        if self._ended is not None:
            raise NotConnected(f"no longer in the room: {self._ended.message}")
        room = self._room
        if room is None:
            raise NotConnected("not in the room yet")
        limit = room.limits.max_file_bytes
        if "files" not in self._abilities or limit <= 0:
            raise FileRefused(ErrorCode.FILES_OFF, "this room does not take files")
        if not data:
            raise FileRefused(ErrorCode.FILE_EMPTY, "the file is empty")
        if len(data) > limit:
            shown, most = sizes_apart(len(data), limit)
            raise FileRefused(
                ErrorCode.FILE_TOO_LARGE,
                f"the file is {shown}; this room takes files of at most {most}",
            )
        upload = Upload(
            upload_id, safe_file_name(name), data, hashlib.sha256(data).hexdigest(),
            assistant, shared_at,
        )  # fmt: skip
        self._uploads.add(upload)
        queued = FileQueued(upload.id, upload.name, upload.size, assistant, shared_at)
        return [Deliver(queued), *self._pump(now)]

    def cancel_upload(self, upload_id: str, now: float) -> list[ParticipantAction]:
        """Stop sharing upload ``upload_id``: an :class:`UploadFailed` (``cancelled``), and
        the room told to drop what it has (now, or on the next connection). Nothing for one
        already settled."""
        upload = self._uploads.pop(upload_id)
        if upload is None:
            return []
        self._forget(upload.file)
        if upload.offered:
            self._cancels.append(upload.id)
        failed = UploadFailed(upload.id, "cancelled", "you cancelled it")
        return [Deliver(failed), *self._pump(now)]

    def fetch(self, file: str, now: float) -> list[ParticipantAction]:
        """Fetch ``file`` (one a delivered ``file_shared`` event named): now, or when
        connected. Nothing more while it is being fetched already. The outcome is one
        :class:`FileFetched` or :class:`FetchFailed`, with :class:`DownloadProgress` before;
        for a file announced larger than we fetch (see the module docstring), that
        :class:`FetchFailed` (``file_too_large``) is all, and nothing is sent.

        Raises :class:`UnknownFile` for a file no event named, :class:`NotConnected` once
        ended."""
        if self._ended is not None:
            raise NotConnected(f"no longer in the room: {self._ended.message}")
        shared = self._files.get(file)
        if shared is None:
            raise UnknownFile(file)
        if file in self._downloads:
            return []
        room_limit = self._room.limits.max_file_bytes if self._room is not None else None
        limit = MAX_FETCH_BYTES if room_limit is None else max(0, min(room_limit, MAX_FETCH_BYTES))
        if shared.size > limit:
            shown, most = sizes_apart(shared.size, limit)
            bound = f"the room's limit of {most}" if limit == room_limit else f"the {most} we fetch"
            why = f"the room says it is {shown}, more than {bound}"
            return [Deliver(FetchFailed(shared.file, ErrorCode.FILE_TOO_LARGE, why))]
        self._downloads[file] = _Download(shared.file, shared.size, shared.sha256)
        return self._pump(now)

    def stop_fetch(self, file: str, now: float) -> list[ParticipantAction]:
        """Stop fetching ``file``: the bytes so far are dropped and a :class:`FetchFailed`
        (``cancelled``) ends it. Nothing when it is not being fetched."""
        download = self._downloads.pop(file, None)
        if download is None:
            return []
        self._forget(download.file)
        actions: list[ParticipantAction] = []
        if self.connected and download.link == self._link:
            actions.append(SendFrame(serialize(FileStop(file=download.file))))
        failed = FetchFailed(download.file, "cancelled", "you stopped the download")
        return [*actions, Deliver(failed)]

    def command(self, message: ClientMessage) -> SendFrame:
        """The frame for a request to send on the live connection at once (host controls,
        stop, regenerate). Raises :class:`NotConnected` when there is none."""
        if not self.connected:
            raise NotConnected("not connected to the room right now")
        return SendFrame(serialize(message))

    def typing(self, active: bool) -> SendFrame | None:
        """The frame saying whether we are typing; None while not connected (it is ephemeral,
        so it is not kept for later)."""
        return SendFrame(serialize(SetTyping(active=active))) if self.connected else None

    def leave(self) -> SendFrame | None:
        """We are leaving: the frame to say so on the live connection (None without one).
        From now on a lost connection is not retried; call :meth:`left` once it is closed."""
        if self._ended is not None:
            return None
        self._leaving = True
        return SendFrame(serialize(Leave())) if self._phase == "live" else None

    def left(self) -> list[ParticipantAction]:
        """We are out (the connection is closed, or there was none): end as ``left``."""
        return self._end(Ended("left", "you left the room", CloseCode.NORMAL))

    def abandon(self, message: str) -> list[ParticipantAction]:
        """The adapter cannot go on (an unexpected failure): end as ``unreachable``."""
        return self._end(Ended("unreachable", message))

    # ----------------------------------------------------------------- the handshake

    def _on_greeting(self, frame: str | bytes, now: float) -> list[ParticipantAction]:
        try:
            greeting = read_greeting(frame)
            self._check_greeting(greeting)
            exchange = self._exchange_for(greeting)
        except (JoinRefused, RoomRestarted) as exc:
            return self._attempt_failed(exc, now)
        self._greeting = greeting
        self._abilities = greeting.abilities
        if exchange is None:
            return self._say_hello(None)
        self._exchange = exchange
        self._phase = "authenticating"
        start = AuthStart(method=AUTH_SPAKE2, message=encode_b64url(exchange.start()))
        return [SendFrame(serialize(start))]

    def _check_greeting(self, greeting: ServerHello) -> None:
        """Raise :class:`JoinRefused` or :class:`RoomRestarted` if we must not join the room
        that sent ``greeting``."""
        if greeting.protocol != PROTOCOL_VERSION:
            if greeting.protocol < PROTOCOL_VERSION:
                text = (
                    f"this room runs an older GPT Group (protocol {greeting.protocol}; this app "
                    f"speaks {PROTOCOL_VERSION}); ask the host to update"
                )
            else:
                text = (
                    f"this room runs a newer GPT Group (protocol {greeting.protocol}; this app "
                    f"speaks {PROTOCOL_VERSION}); update this app to join it"
                )
            raise JoinRefused(ErrorCode.INCOMPATIBLE_VERSION, text)
        restarted = greeting.room.instance and greeting.room.instance != self._instance
        if self._instance is not None and restarted:
            raise RoomRestarted(greeting.room)  # before hello: we never join it

    def _exchange_for(self, greeting: ServerHello) -> GuestExchange | None:
        """The room-code exchange ``greeting`` asks for, or None when it needs none. Raises
        :class:`JoinRefused` when we cannot take part: no code, a method we do not know, an
        unusable code or nonce, or a room that wants no code when we were given one.

        Only the exchange proves that the room holds the code we were given; a room that
        asks for none proves nothing, and could be anyone on the path pretending to be the
        room. So with a code we say nothing (no name, no resume token, no host proof) to a
        room that does not offer the exchange: one that wants no code is not the room we
        were told of; one that wants a code in a way we do not know needs an update."""
        methods = greeting.auth.methods
        wants_none = not greeting.room.password_required
        if self._password is not None and wants_none and AUTH_SPAKE2 not in methods:
            raise JoinRefused(ErrorCode.AUTH_FAILED, NO_EXCHANGE_TEXT)
        if wants_none and AUTH_NONE in methods:
            return None
        if AUTH_SPAKE2 not in methods:
            raise JoinRefused(
                ErrorCode.INCOMPATIBLE_VERSION,
                "the room checks its room code in a way this app does not know "
                f"({', '.join(methods)[:80] or 'none named'}); one of the two needs updating",
            )
        if self._password is None:
            raise JoinRefused(ErrorCode.AUTH_FAILED, "this room needs a room code")
        try:
            nonce = decode_nonce(greeting.auth.nonce)
        except BadPakeMessage:
            raise JoinRefused(ErrorCode.BAD_MESSAGE, "the room sent a malformed nonce") from None
        try:
            return GuestExchange(self._password, self._fingerprint, nonce, entropy=self._entropy)
        except InvalidRoomCode as exc:
            raise JoinRefused(ErrorCode.AUTH_FAILED, str(exc)) from None

    def _on_auth_reply(self, frame: str | bytes, now: float) -> list[ParticipantAction]:
        """The room's answer to our ``auth_start``: if its confirmation verifies, our hello
        with our own; else the attempt fails and nothing more is said on this connection."""
        exchange, self._exchange = self._exchange, None
        assert exchange is not None
        try:
            reply = parse_server_frame(frame)
        except ProtocolError as exc:
            return self._attempt_failed(_unreadable(exc), now)
        if isinstance(reply, ErrorMessage):  # e.g. too many attempts
            return self._attempt_failed(
                JoinRefused(reply.code, reply.message, reply.retry_after), now
            )
        if not isinstance(reply, AuthReply):
            refused = JoinRefused(ErrorCode.BAD_MESSAGE, "the room did not answer the room code")
            return self._attempt_failed(refused, now)
        try:
            confirmed = exchange.finish(
                decode_message(reply.message), decode_confirmation(reply.confirmation)
            )
        except WrongCode:
            return self._attempt_failed(JoinRefused(ErrorCode.AUTH_FAILED, WRONG_CODE_TEXT), now)
        except BadPakeMessage as exc:
            refused = JoinRefused(
                ErrorCode.BAD_MESSAGE, f"the room's auth_reply is malformed: {exc}"
            )
            return self._attempt_failed(refused, now)
        return self._say_hello(AuthProof(AUTH_SPAKE2, encode_b64url(confirmed.confirmation)))

    def _say_hello(self, auth: AuthProof | None) -> list[ParticipantAction]:
        """Our hello on this connection, with ``auth`` (our confirmation) if any."""
        greeting, self._greeting = self._greeting, None
        assert greeting is not None
        resume = None
        if self.session is not None:
            resume = ResumeRequest(session=self.session, last_seq=self._last_seq)
        nonce = greeting.auth.nonce
        host_proof = None if self._host_key is None else key_proof(self._host_key, nonce)
        hello = Hello(
            protocol=PROTOCOL_VERSION,
            name=self.name,
            abilities=ABILITIES,
            auth=auth,
            resume=resume,
            host_proof=host_proof,
            client=self._client_name,
        )
        self._phase = "welcoming"
        return [SendFrame(serialize(hello))]

    def _on_welcome(self, frame: str | bytes, now: float) -> list[ParticipantAction]:
        try:
            reply = parse_server_frame(frame)
        except ProtocolError as exc:
            return self._attempt_failed(_unreadable(exc), now)
        if isinstance(reply, ErrorMessage):
            return self._attempt_failed(
                JoinRefused(reply.code, reply.message, reply.retry_after), now
            )
        if not isinstance(reply, Welcome):
            refused = JoinRefused(ErrorCode.BAD_MESSAGE, "the server did not welcome us properly")
            return self._attempt_failed(refused, now)
        return self._join(reply, now)

    def _join(self, welcome: Welcome, now: float) -> list[ParticipantAction]:
        if self._instance is not None and welcome.instance != self._instance:
            self._last_seq = 0  # another run of the room: its numbering starts again
        self._instance = welcome.instance
        self._replay_until = welcome.last_seq
        self._replay_deadline = now + REPLAY_WAIT
        self.session = welcome.session
        self._you = welcome.you
        self._my_ids.add(welcome.you.id)
        self._room = welcome.room
        self._participants = {p.id: p for p in welcome.participants}
        self._assistant_state = welcome.assistant_state
        self._outbox.pace_for(welcome.room.limits, now)
        # Whatever is unconfirmed goes (again) on this connection, in order; the room drops
        # any it already has by client id.
        self._outbox.requeue_all()
        self._uploads.requeue_all()  # offered again: the room answers with where it got to
        self._link += 1  # chunk frames of earlier connections no longer count
        self._phase = "live"
        actions: list[ParticipantAction] = [Joined(welcome)]
        if self._retry is not None:
            self._retry = None
            if not welcome.resumed:
                log.info("the room forgot our session; rejoined as %s", welcome.you.name)
            actions.append(Deliver(Resumed(welcome.resumed, welcome.history_complete, welcome.you)))
        return actions + self._pump(now)

    def _attempt_failed(self, error: JoinError, now: float) -> list[ParticipantAction]:
        self._phase = "offline"
        self._wakeup = None
        actions: list[ParticipantAction] = [AttemptFailed(error)]
        retry = self._retry
        if self._ended is not None or retry is None:
            return actions  # the first attempt: whoever started it reports the error
        if isinstance(error, RoomRestarted):
            return actions + self._end(Ended("restarted", RESTARTED_TEXT, new_room=error.preview))
        if isinstance(error, JoinRefused) and error.code == ErrorCode.FLOODING:
            # Resuming too often: wait as told, then go on.
            retry.asked_to_wait = min(error.retry_after or FLOODING_WAIT_DEFAULT, FLOODING_WAIT_CAP)
            return actions + self._next_attempt(retry, error.message, now)
        if isinstance(error, JoinRefused):
            reason: EndReason = "banned" if error.code == ErrorCode.BANNED else "refused"
            if error.code == ErrorCode.ROOM_CLOSED:
                reason = "closed_by_host"
            return actions + self._end(Ended(reason, error.message))
        return actions + self._next_attempt(retry, str(error), now)

    def _next_attempt(self, retry: _Retry, why: str, now: float) -> list[ParticipantAction]:
        retry.attempt += 1
        delay = max(self._policy.delay(retry.attempt, self._jitter()), retry.asked_to_wait)
        if now - retry.started + delay > self._policy.give_up_after:
            return self._end(Ended("unreachable", "the room could not be reached again"))
        return [Deliver(Reconnecting(retry.attempt, delay, why)), ScheduleReconnect(delay)]

    def _end(self, ended: Ended) -> list[ParticipantAction]:
        if self._ended is not None:
            return []
        pending = self.pending
        ended = dataclasses.replace(
            ended,
            unsent=tuple(q for q in pending if not self._outbox.written(q.id)),
            unconfirmed=tuple(q for q in pending if self._outbox.written(q.id)),
        )
        self._ended = ended
        self._phase = "offline"
        self._retry = None
        self._wakeup = None
        # Transfers under way end with the client, each with its own outcome, before the end.
        why = f"the room ended first: {ended.message}"
        failures: list[ParticipantAction] = [
            Deliver(UploadFailed(u.id, "room_ended", why)) for u in self._uploads.items
        ]
        failures += [
            Deliver(FetchFailed(d.file, "room_ended", why)) for d in self._downloads.values()
        ]
        self._uploads, self._downloads, self._cancels = Uploads(), {}, []
        return [*failures, End(ended)]

    # ----------------------------------------------------------------- the live connection

    def _on_event(self, frame: str | bytes, now: float) -> list[ParticipantAction]:
        try:
            message = parse_server_frame(frame)
        except ProtocolError as exc:
            log.warning("ignoring a frame from the room: %s", exc)
            return []
        match message:
            case Ack(id=message_id, seq=seq):
                posted = self._outbox.confirm(message_id)
                shared = self._settle_upload(message_id)
                return [Deliver(Acknowledged(message_id, seq))] if posted or shared else []
            case ErrorMessage(ref=str(ref), code=ErrorCode.RATE_LIMITED) if ref in self._uploads:
                # Paced offers should not get here; if they do, offer again when told.
                self._uploads.defer(ref, now + (message.retry_after or 1.0))
                return []
            case ErrorMessage(ref=ref, code=ErrorCode.RATE_LIMITED) if ref is not None:
                # Paced sends should not get here; if they do, wait as told and try again.
                self._outbox.defer(ref, message.retry_after or 1.0, now)
                return []
            case ErrorMessage(ref=ref) if ref is not None and self._transfer_of(ref):
                return self._transfer_refused(message, ref)
            case ErrorMessage(ref=ref) if ref is not None and ref in self._forgotten:
                log.info("a late refusal about file %s, let go already: %s", ref, message.code)
                return []
            case FileAccepted():
                return self._on_accepted(message, now)
            case FileData():
                return self._on_data(message, now)
            case ErrorMessage(ref=ref) if ref is not None and ref in self._outbox:
                text = self._outbox.text_of(ref)
                self._outbox.confirm(ref)
                failed = SendFailed(
                    MessageId(ref), message.code, message.message, message.retry_after, text
                )
                return [Deliver(failed)]
            case AssistantStateChanged(state=state):
                self._assistant_state = state
                return [Deliver(message)]
            case BanList(bans=bans):
                self._bans = bans
                return [Deliver(message)]
            case ErrorMessage() | TypingChanged() | AnswerDelta() | AssistantReport():
                return [Deliver(message)]
            case ServerHello() | AuthReply() | Welcome():
                log.warning("ignoring an unexpected %s frame", message.TYPE)
                return []
        if message.seq <= self._last_seq:
            return []  # delivered already, before a reconnect
        self._last_seq = message.seq
        self._track(message, now)
        return [Deliver(message)]

    def _track(self, event: RoomEvent, now: float) -> None:
        """Keep the mirror and the outbox in step with the room."""
        match event:
            case MessagePosted(author=author, client_id=client_id):
                # Any identity we have had: a message sent before the room forgot our session
                # comes back under our old id, and must still count as delivered.
                if author in self._my_ids and client_id is not None:
                    self._outbox.confirm(client_id)
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
                self._outbox.pace_for(room.limits, now)
            case FileShared(file=file, author=author, client_id=client_id):
                self._files[file] = event
                if author in self._my_ids:  # under any identity we have had, as messages
                    self._settle_upload(client_id)
            case AnswerStarted() | AnswerFinished() | Notice():
                pass
            case RoomClosed(reason=reason):
                self._closed_reason = (
                    "host_shutdown" if reason == "host_shutdown" else "closed_by_host"
                )

    def _pump(self, now: float) -> list[ParticipantAction]:
        """The frames due now on the live connection (messages, file offers, requests for
        files, chunks); sets :attr:`next_wakeup`."""
        self._wakeup = None
        if not self.connected:
            return []
        actions: list[ParticipantAction] = [
            SendFrame(serialize(FileCancel(id=upload_id))) for upload_id in self._cancels
        ]
        self._cancels = []
        if self._last_seq < self._replay_until and now < self._replay_deadline:
            # Nothing is (re)sent before the replay after a welcome has been read (or a moment
            # has passed): it may confirm messages (and files) the room already posted under
            # an identity we had before, which would otherwise be posted twice.
            self._wakeup = self._replay_deadline
            return actions
        while True:
            item, wait = self._outbox.next_ready(now)
            if item is None:
                break
            message = SendMessage(id=item.id, text=item.text, reply_to=item.reply_to)
            actions.append(SendFrame(serialize(message)))
        waits = [wait]
        while True:
            upload, offer_wait = self._uploads.to_offer(now)
            turn = self._outbox.take_turn(now) if upload is not None else offer_wait
            if upload is None or turn:
                waits.append(turn)
                break
            upload.state, upload.offered = "offered", True
            offer = FileOffer(upload.id, upload.name, upload.size, upload.sha256, upload.assistant)
            actions.append(SendFrame(serialize(offer)))
        for download in self._downloads.values():
            if download.link != self._link:
                download.link, download.asked_from = self._link, len(download.data)
                ask = FileGet(file=download.file, offset=len(download.data))
                actions.append(SendFrame(serialize(ask)))
        while True:
            upload, chunk_wait = self._uploads.next_chunk(now)
            if upload is None:
                waits.append(chunk_wait)
                break
            actions.append(self._chunk(upload))
        wait = min(waits)
        if wait != math.inf:
            self._wakeup = now + wait
        return actions

    # ----------------------------------------------------------------- files

    def _chunk(self, upload: Upload) -> SendFrame:
        """The frame for the next chunk of ``upload`` (which has been accepted); moves on."""
        assert upload.file is not None
        start = upload.offset
        end = min(upload.size, start + upload.chunk_bytes)
        data = base64.urlsafe_b64encode(upload.data[start:end]).rstrip(b"=").decode("ascii")
        upload.offset = end
        upload.in_flight += 1
        chunk = FileChunk(file=upload.file, offset=start, data=data)
        return SendFrame(serialize(chunk), ChunkTag(upload.id, end, self._link))

    def _on_accepted(self, accepted: FileAccepted, now: float) -> list[ParticipantAction]:
        """The room takes the bytes of an upload from ``offset`` on: send from there."""
        upload = self._uploads.get(accepted.id)
        if upload is None or upload.state == "waiting":
            return []  # cancelled or settled meanwhile
        offset = min(max(0, accepted.offset), upload.size)
        if upload.state == "sending" and offset == upload.accepted_at and upload.offset > offset:
            # The same answer again: the room saw several chunks it did not expect, all sent
            # before it answered the first; we went back to its offset already.
            return []
        limit = self._room.limits.file_chunk_bytes if self._room is not None else _MAX_CHUNK_BYTES
        upload.chunk_bytes = max(1, min(accepted.chunk_bytes, limit, _MAX_CHUNK_BYTES))
        upload.state, upload.file, upload.accepted_at = "sending", accepted.file, offset
        upload.offset = upload.written = offset
        return self._upload_progress(upload, now)

    def _upload_progress(self, upload: Upload, now: float) -> list[ParticipantAction]:
        if not _progressed(upload.written, upload.shown, upload.size, upload.shown_at, now):
            return []
        upload.shown, upload.shown_at = upload.written, now
        return [Deliver(UploadProgress(upload.id, upload.written, upload.size))]

    def _settle_upload(self, upload_id: str) -> bool:
        """An upload the room shared: forget it. Returns whether it was still unsettled."""
        upload = self._uploads.pop(upload_id)
        if upload is None:
            return False
        self._forget(upload.file)
        return True

    def _transfer_of(self, ref: str) -> bool:
        """Whether an error's ``ref`` names an upload or download of ours under way."""
        return ref in self._uploads or ref in self._downloads or bool(self._uploads.by_file(ref))

    def _transfer_refused(self, error: ErrorMessage, ref: str) -> list[ParticipantAction]:
        """The room refused an upload (its offer, or a chunk of it) or a fetch: it ends."""
        download = self._downloads.get(ref)
        if download is not None:
            return self._fetch_failed(download, error.code, error.message)
        upload = self._uploads.get(ref) or self._uploads.by_file(ref)
        assert upload is not None
        self._uploads.pop(upload.id)
        self._forget(upload.file)
        return [Deliver(UploadFailed(upload.id, error.code, error.message))]

    def _on_data(self, frame: FileData, now: float) -> list[ParticipantAction]:
        """Bytes of a file being fetched, taken only where the bytes so far end."""
        download = self._downloads.get(frame.file)
        if download is None:
            return []  # stopped, failed or finished: what was on its way is not wanted
        have = len(download.data)
        if frame.offset != have:
            if download.asked_from == have:
                return []  # asked from here already; these left the room before that
            download.asked_from = have
            return [SendFrame(serialize(FileGet(file=download.file, offset=have)))]
        room = self._room
        announced = room.limits.file_chunk_bytes if room is not None else MAX_FETCH_CHUNK_BYTES
        limit = min(announced, MAX_FETCH_CHUNK_BYTES)
        # Unpadded base64url of n characters holds n * 3 // 4 bytes: judged before decoding,
        # so an oversized frame costs no second copy.
        if len(frame.data) * 3 // 4 > limit:
            return self._fetch_failed(
                download, ErrorCode.FILE_CORRUPT,
                f"the room sent more than {size_words(limit)} of it in one piece",
            )  # fmt: skip
        try:
            chunk = _decode_chunk(frame.data)
        except (ValueError, binascii.Error):
            return self._fetch_failed(
                download, ErrorCode.FILE_CORRUPT, "the room sent bytes that cannot be read"
            )
        if have + len(chunk) > download.size:
            return self._fetch_failed(
                download, ErrorCode.FILE_CORRUPT,
                f"the room sent more than the file's {size_words(download.size)}",
            )  # fmt: skip
        download.data += chunk
        actions = self._download_progress(download, now)
        if not frame.done:
            return actions
        if len(download.data) < download.size:
            return actions + self._fetch_failed(
                download, ErrorCode.FILE_CORRUPT, "the file arrived incomplete", stop=False
            )
        if hashlib.sha256(download.data).hexdigest() != download.sha256:
            return actions + self._fetch_failed(
                download, ErrorCode.FILE_CORRUPT,
                "the file arrived damaged (its SHA-256 does not match)", stop=False,
            )  # fmt: skip
        del self._downloads[download.file]
        data, download.data = bytes(download.data), bytearray()  # one copy at a time
        return [*actions, Deliver(FileFetched(download.file, data))]

    def _download_progress(self, download: _Download, now: float) -> list[ParticipantAction]:
        have = len(download.data)
        if not _progressed(have, download.shown, download.size, download.shown_at, now):
            return []
        download.shown, download.shown_at = have, now
        return [Deliver(DownloadProgress(download.file, have, download.size))]

    def _fetch_failed(
        self, download: _Download, code: str, message: str, *, stop: bool = True
    ) -> list[ParticipantAction]:
        """``download`` ends without the file; with ``stop`` the room is told to stop."""
        self._downloads.pop(download.file, None)
        self._forget(download.file)
        actions: list[ParticipantAction] = []
        if stop and self.connected:
            actions.append(SendFrame(serialize(FileStop(file=download.file))))
        return [*actions, Deliver(FetchFailed(download.file, code, message))]

    def _forget(self, file: str | None) -> None:
        """Remember, for a while, that ``file`` is let go: late errors about it are no news."""
        if file is None:
            return
        self._forgotten[file] = None
        while len(self._forgotten) > _FORGOTTEN_FILES:
            del self._forgotten[next(iter(self._forgotten))]
