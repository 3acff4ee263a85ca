"""The GPT Group wire protocol: every message as a typed value, its limits and codes; no I/O.

Each WebSocket text frame is one JSON object with a ``type``, and each type is a frozen
dataclass here. A field's limits live beside it, in its metadata (``max_len``, ``min_len``,
``min``/``max``, ``choices``; ``limit_error``: the code a value outside them gets, and
``error``: the code any bad value gets), so that
:mod:`core.codec`, which turns frames into these values and back, refuses bad input at the
boundary with a :class:`ProtocolError` (carrying an :class:`ErrorCode`) and nothing else. The
room applies the rules that need its state (names, rates, roles).

Compatibility rules (see ``docs/protocol.md``):

* unknown keys in a known message are ignored;
* fields that name a kind of thing (roles, reasons, statuses) are plain strings in what the
  room sends, so a newer room's new values do not make an older client drop the frame;
* an unknown ``type`` is a :class:`ProtocolError` with ``ErrorCode.UNKNOWN_TYPE``; the room
  answers it with an ``error`` frame and carries on;
* features are negotiated by the ``abilities`` lists of ``server_hello`` and ``hello``.

The exception tree::

    ProtocolError            a frame that cannot be accepted; .code says why
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import ClassVar, NewType, Union

from core.pake import METHOD as _SPAKE2_METHOD

__all__ = [
    "ABILITIES",
    "ANSWER_MODES",
    "AUTH_NONE",
    "AUTH_SPAKE2",
    "DEFAULT_PORT",
    "MAX_AUTH_VALUE_CHARS",
    "MAX_CHUNK_CHARS",
    "MAX_CLOSE_REASON_BYTES",
    "MAX_FILE_NAME_CHARS",
    "MAX_ID_CHARS",
    "MAX_NAME_INPUT_CHARS",
    "MAX_NUMBER_CHARS",
    "MAX_PARTICIPANTS_LIMIT",
    "MAX_PERSONA_CHARS",
    "MAX_QUOTE_CHARS",
    "MAX_REACTION_CHARS",
    "MAX_ROOM_NAME_CHARS",
    "PROTOCOL_VERSION",
    "SERVICE_TYPE",
    "TERMINAL_CLOSE_CODES",
    "Ack",
    "AnswerDelta",
    "AnswerFinished",
    "AnswerId",
    "AnswerStarted",
    "AnswerTicket",
    "AssistantInfo",
    "AssistantReport",
    "AssistantState",
    "AssistantStateChanged",
    "AuthOffer",
    "AuthProof",
    "AuthReply",
    "AuthStart",
    "BanId",
    "BanInfo",
    "BanList",
    "ClientMessage",
    "CloseCode",
    "CloseRoom",
    "ConfigureAssistant",
    "ContinueAnswer",
    "DeleteMessage",
    "EditMessage",
    "ErrorCode",
    "ErrorMessage",
    "FileAccepted",
    "FileCancel",
    "FileChunk",
    "FileData",
    "FileGet",
    "FileId",
    "FileOffer",
    "FileShared",
    "FileStop",
    "Hello",
    "Kick",
    "Leave",
    "Limits",
    "Lock",
    "MessageDeleted",
    "MessageEdited",
    "MessageId",
    "MessagePosted",
    "Notice",
    "ParticipantId",
    "ParticipantInfo",
    "ParticipantJoined",
    "ParticipantLeft",
    "ParticipantStatusChanged",
    "ProtocolError",
    "Quote",
    "React",
    "ReactionChanged",
    "Regenerate",
    "ResumeRequest",
    "RoomClosed",
    "RoomEvent",
    "RoomInfo",
    "RoomPreview",
    "RoomUpdated",
    "SendMessage",
    "ServerHello",
    "ServerMessage",
    "SetMaxParticipants",
    "SetTyping",
    "StopAnswer",
    "TypingChanged",
    "Unban",
    "Usage",
    "Welcome",
    "close_reason",
    "key_proof",
    "quote_start",
]

PROTOCOL_VERSION = 2
"""The protocol version this code speaks. Both sides must speak the same version.

1: the first (a password's HMAC proof, plain WebSocket). 2: TLS with a certificate per room,
and the room code checked by SPAKE2 (``auth_start`` / ``auth_reply``)."""

ABILITIES: tuple[str, ...] = (
    "resume", "typing", "host-controls", "assistant", "files", "continue", "message-actions",
)  # fmt: skip
"""Optional features this implementation supports, announced in the handshake."""

DEFAULT_PORT = 47321
SERVICE_TYPE = "_gptgroup._tcp.local."

AUTH_NONE = "none"
AUTH_SPAKE2 = _SPAKE2_METHOD  # "spake2-ed25519-v1": the room code, see core.pake

MAX_ID_CHARS = 64
MAX_NUMBER_CHARS = 24  # a JSON number longer than this is refused before it is converted
MAX_CLOSE_REASON_BYTES = 123  # RFC 6455: a close frame's reason is at most 123 bytes
MAX_NAME_INPUT_CHARS = 256  # a raw name longer than this is refused before normalising it
MAX_ROOM_NAME_CHARS = 40  # characters; the TXT record carries any valid name in full
MAX_PARTICIPANTS_LIMIT = 500
MAX_PERSONA_CHARS = 8000
MAX_AUTH_VALUE_CHARS = 256  # a base64url value of the room-code exchange (spake2: 43 or 44)
MAX_QUOTE_CHARS = 200  # the start of a message a reply quotes
MAX_REACTION_CHARS = 32  # code points of one reaction: a single emoji, however composed
ANSWER_MODES = ("mention", "always", "auto")


class ErrorCode(enum.StrEnum):
    """Why something was refused. Sent in ``error`` frames; stable across versions."""

    BAD_FRAME = "bad_frame"
    BAD_MESSAGE = "bad_message"
    UNKNOWN_TYPE = "unknown_type"
    HANDSHAKE_REQUIRED = "handshake_required"
    INCOMPATIBLE_VERSION = "incompatible_version"
    INVALID_NAME = "invalid_name"
    AUTH_FAILED = "auth_failed"
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    BANNED = "banned"
    ROOM_FULL = "room_full"
    ROOM_LOCKED = "room_locked"
    ROOM_CLOSED = "room_closed"
    KICKED = "kicked"
    EMPTY_TEXT = "empty_text"
    TEXT_TOO_LONG = "text_too_long"
    RATE_LIMITED = "rate_limited"
    FLOODING = "flooding"
    TOO_SLOW = "too_slow"
    NOT_ALLOWED = "not_allowed"
    UNKNOWN_PARTICIPANT = "unknown_participant"
    INVALID_VALUE = "invalid_value"
    SESSION_REPLACED = "session_replaced"
    HANDSHAKE_TIMEOUT = "handshake_timeout"
    TOO_MANY_CONNECTIONS = "too_many_connections"
    ALREADY_WAITING = "already_waiting"
    NO_ASSISTANT = "no_assistant"
    UNKNOWN_ANSWER = "unknown_answer"
    NOT_CUT_OFF = "not_cut_off"
    BUDGET_EXHAUSTED = "budget_exhausted"
    QUOTA_EXCEEDED = "quota_exceeded"
    FILES_OFF = "files_off"
    FILE_EMPTY = "file_empty"
    FILE_TOO_LARGE = "file_too_large"
    STORAGE_FULL = "storage_full"
    TOO_MANY_TRANSFERS = "too_many_transfers"
    UNKNOWN_FILE = "unknown_file"
    FILE_CORRUPT = "file_corrupt"
    UNKNOWN_MESSAGE = "unknown_message"
    EDIT_WINDOW_CLOSED = "edit_window_closed"
    TOO_MANY_REACTIONS = "too_many_reactions"


class CloseCode(enum.IntEnum):
    """WebSocket close codes the room uses. 4000-4999 are the application's own."""

    NORMAL = 1000
    GOING_AWAY = 1001
    INVALID_DATA = 1007  # a text frame that is not UTF-8: a client bug that would repeat
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    ROOM_CLOSED = 4001
    KICKED = 4002
    BANNED = 4003
    AUTH_FAILED = 4004
    ROOM_FULL = 4005
    ROOM_LOCKED = 4006
    INCOMPATIBLE_VERSION = 4007
    TOO_SLOW = 4008
    FLOODING = 4009
    SESSION_REPLACED = 4010
    HANDSHAKE_TIMEOUT = 4011
    PROTOCOL_ERROR = 4012
    TOO_MANY_ATTEMPTS = 4013
    INVALID_NAME = 4014
    TOO_MANY_CONNECTIONS = 4015


TERMINAL_CLOSE_CODES = frozenset(
    {
        CloseCode.NORMAL,
        CloseCode.INVALID_DATA,
        CloseCode.ROOM_CLOSED,
        CloseCode.KICKED,
        CloseCode.BANNED,
        CloseCode.AUTH_FAILED,
        CloseCode.ROOM_FULL,
        CloseCode.ROOM_LOCKED,
        CloseCode.INCOMPATIBLE_VERSION,
        CloseCode.SESSION_REPLACED,
        CloseCode.PROTOCOL_ERROR,
        CloseCode.TOO_MANY_ATTEMPTS,
        CloseCode.INVALID_NAME,
        CloseCode.TOO_MANY_CONNECTIONS,
    }
)
"""Close codes after which a client must not reconnect on its own."""


class ProtocolError(Exception):
    """A frame that cannot be accepted.

    ``code`` is machine-readable, ``str(error)`` reads well to a person, and ``ref`` names the
    client message id the error is about, when there is one.
    """

    def __init__(self, code: ErrorCode, message: str, *, ref: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref


@dataclass(frozen=True)
class Limits:
    """Limits a room enforces; announced to clients in :class:`RoomInfo`."""

    max_frame_bytes: int = 64 * 1024
    max_text_chars: int = 4000
    max_name_chars: int = 32
    message_burst: int = 8
    messages_per_minute: int = 60
    typing_interval: float = 2.0
    # Files (see docs/protocol.md, "Files"): the largest file the host accepts (0: no files),
    # what all files held by the room may take together, and the most a chunk carries.
    max_file_bytes: int = 10 * 1000 * 1000
    file_budget_bytes: int = 200 * 1000 * 1000
    file_chunk_bytes: int = 32 * 1024
    # Message actions (ability "message-actions"): how long after posting a message its
    # author may edit it, in seconds (0: never), and the bounds on a message's reactions.
    edit_window: float = 15 * 60.0
    max_reaction_kinds: int = 20
    max_reactions_each: int = 10


# --------------------------------------------------------------------------- identifiers

ParticipantId = NewType("ParticipantId", str)
"""A participant's id in one room (``"p7"``), assigned by the room."""
AnswerId = NewType("AnswerId", str)
"""An answer of the assistant, assigned by the room."""
MessageId = NewType("MessageId", str)
"""The client's own id for a message it sends, which makes retries idempotent."""
BanId = NewType("BanId", str)
"""A ban in force, as listed to the host."""
FileId = NewType("FileId", str)
"""A file the room holds (or is receiving), assigned by the room (``"f3"``)."""

# --------------------------------------------------------------------------- shared values


@dataclass(frozen=True)
class ParticipantInfo:
    """One person in the room, as everyone sees them."""

    id: ParticipantId
    name: str
    role: str  # "host" or "guest"; show unknown roles as guests
    status: str = "online"  # "online" or "reconnecting"
    # True once a connection from another address took over this participant's live
    # session: someone may have stolen its session token. Shown so the host can act.
    moved: bool = False


@dataclass(frozen=True)
class AssistantInfo:
    """The room's assistant as everyone sees it: where messages go, and when it answers.

    ``provider_kind`` is ``"cloud"`` (messages leave the LAN) or ``"local"`` (a server the host
    runs nearby); ``mode`` is ``"mention"``, ``"always"`` or ``"auto"``.
    """

    name: str
    provider: str
    provider_kind: str
    model: str
    mode: str


@dataclass(frozen=True)
class Usage:
    """Tokens one answer (or a whole session) used; ``estimated`` when the provider gave none."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    estimated: bool = False


@dataclass(frozen=True)
class AnswerTicket:
    """An answer being written or waiting its turn, and who asked for it."""

    answer: AnswerId
    asked_by: ParticipantId
    asked_by_name: str


@dataclass(frozen=True)
class AssistantState:
    """What the assistant is doing: answering someone, and who is waiting, in order."""

    answering: AnswerTicket | None = None
    waiting: tuple[AnswerTicket, ...] = ()


@dataclass(frozen=True)
class RoomInfo:
    """What anyone in the room may know about it."""

    name: str
    host_name: str | None
    participant_count: int
    max_participants: int | None
    locked: bool
    password_required: bool
    limits: Limits = field(default_factory=Limits)
    assistant: AssistantInfo | None = None
    # Whether people who join later receive the recent conversation (the host decides).
    history_shared: bool = True


@dataclass(frozen=True)
class RoomPreview:
    """What a connecting client may know before it has proved the room code: enough to ask
    for the code and to say where messages go, nothing about people or content.
    (``password_required``: whether the room has a room code; the wire keeps the v1 name.)"""

    name: str
    password_required: bool
    assistant: AssistantInfo | None = None
    # This run of the room, as in Welcome.instance: a reconnecting client that finds another
    # one here must not join by itself, since the host restarted it as a new room.
    instance: str = ""


@dataclass(frozen=True)
class AuthOffer:
    """The authentication methods the room accepts (:data:`AUTH_SPAKE2` in a room with a
    room code, else :data:`AUTH_NONE`), and this connection's nonce: unpadded base64url of 16
    to 64 random bytes, which the room-code exchange and a host proof are bound to."""

    methods: tuple[str, ...]
    nonce: str


# A value of the room-code exchange: unpadded base64url, parsed strictly by core.pake's
# decode_* helpers once the codec has checked that it is short text of the right alphabet.
_AUTH_VALUE = {"max_len": MAX_AUTH_VALUE_CHARS, "base64url": True}


@dataclass(frozen=True)
class AuthProof:
    """In ``hello``: the guest's key confirmation from the room-code exchange."""

    method: str = field(metadata={"max_len": 64})
    confirmation: str = field(default="", metadata=_AUTH_VALUE)


@dataclass(frozen=True)
class ResumeRequest:
    session: str = field(metadata={"max_len": 128})
    last_seq: int = 0


def key_proof(key: str, nonce: str) -> str:
    """The proof of holding the host key ``key`` on the connection whose greeting carried
    ``nonce``: HMAC-SHA256 keyed with the key's text over the nonce's text (both as UTF-8),
    as lowercase hex.

    The key never crosses the wire, and one connection's proof is worth nothing on another.
    It suits only a secret nobody can guess (a host key is 128 random bits by default): a recorded
    proof lets anyone test guesses offline, which is why room codes use SPAKE2 instead.
    """
    return hmac.new(key.encode(), nonce.encode(), hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------- client -> server

# A message named by its seq (reply, edit, delete, react): a number that names no event the
# room holds is "unknown_message", like any other seq the room does not know.
_SEQ = {"min": 1, "limit_error": ErrorCode.UNKNOWN_MESSAGE}


@dataclass(frozen=True)
class Hello:
    """Who the client is, and how it proves it may come in: the first frame a client sends,
    or the second, after :class:`AuthStart`, in a room with a room code."""

    TYPE: ClassVar[str] = "hello"
    # A version we cannot read is still an answer about versions, not a malformed frame.
    protocol: int = field(metadata={"error": ErrorCode.INCOMPATIBLE_VERSION})
    name: str = field(metadata={"max_len": MAX_NAME_INPUT_CHARS, "error": ErrorCode.INVALID_NAME})
    abilities: tuple[str, ...] = ()
    auth: AuthProof | None = None
    resume: ResumeRequest | None = None
    host_proof: str | None = field(default=None, metadata={"max_len": 256})
    client: str | None = field(default=None, metadata={"max_len": 100})


@dataclass(frozen=True)
class AuthStart:
    """In a room with a room code, the first frame a client sends: the guest's SPAKE2
    message (see :mod:`core.pake`). Each one the room answers counts as a guess."""

    TYPE: ClassVar[str] = "auth_start"
    method: str = field(metadata={"max_len": 64})
    message: str = field(metadata=_AUTH_VALUE)


@dataclass(frozen=True)
class SendMessage:
    """Post ``text``; ``id`` is the client's own id for it, which makes retries idempotent."""

    TYPE: ClassVar[str] = "send"
    id: MessageId = field(metadata={"max_len": MAX_ID_CHARS, "min_len": 1})
    text: str
    reply_to: int | None = field(default=None, metadata=_SEQ)  # the seq of what it answers


@dataclass(frozen=True)
class EditMessage:
    """Replace the text of one's own message ``message`` (its ``seq``), within the room's
    ``edit_window``. Ability ``message-actions``."""

    TYPE: ClassVar[str] = "edit"
    message: int = field(metadata=_SEQ)
    text: str


@dataclass(frozen=True)
class DeleteMessage:
    """Take back message ``message`` (its ``seq``): one's own, or (the host) anyone's message
    or any finished answer (by its ``answer_started`` seq). Ability ``message-actions``."""

    TYPE: ClassVar[str] = "delete"
    message: int = field(metadata=_SEQ)


@dataclass(frozen=True)
class React:
    """Add (``active``) or take back a reaction ``emoji`` (one emoji) to message ``message``:
    a person's message, an answer (its ``answer_started`` seq) or a shared file."""

    TYPE: ClassVar[str] = "react"
    message: int = field(metadata=_SEQ)
    emoji: str = field(metadata={"max_len": MAX_REACTION_CHARS, "min_len": 1,
                                 "limit_error": ErrorCode.INVALID_VALUE})  # fmt: skip
    active: bool = True


@dataclass(frozen=True)
class SetTyping:
    TYPE: ClassVar[str] = "typing"
    active: bool


@dataclass(frozen=True)
class Kick:
    """Host only: remove a participant; with ``ban`` their address may not come back."""

    TYPE: ClassVar[str] = "kick"
    participant: ParticipantId = field(metadata={"max_len": MAX_ID_CHARS})
    ban: bool = False


@dataclass(frozen=True)
class Lock:
    TYPE: ClassVar[str] = "lock"
    locked: bool


@dataclass(frozen=True)
class SetMaxParticipants:
    TYPE: ClassVar[str] = "set_max_participants"
    max: int | None = field(
        metadata={"min": 1, "max": MAX_PARTICIPANTS_LIMIT, "limit_error": ErrorCode.INVALID_VALUE}
    )


@dataclass(frozen=True)
class CloseRoom:
    TYPE: ClassVar[str] = "close_room"


@dataclass(frozen=True)
class Leave:
    TYPE: ClassVar[str] = "leave"


@dataclass(frozen=True)
class StopAnswer:
    """Stop an answer being written (or drop it from the queue): its asker or the host."""

    TYPE: ClassVar[str] = "stop_answer"
    answer: AnswerId = field(metadata={"max_len": MAX_ID_CHARS})


@dataclass(frozen=True)
class Regenerate:
    """Ask for a new answer to the same message: the first answer's asker or the host."""

    TYPE: ClassVar[str] = "regenerate"
    answer: AnswerId = field(metadata={"max_len": MAX_ID_CHARS})


@dataclass(frozen=True)
class ContinueAnswer:
    """Ask the assistant to go on with an answer the model cut off at its length limit
    (``cut_off`` in its ``answer_finished``): that answer's asker or the host."""

    TYPE: ClassVar[str] = "continue_answer"
    answer: AnswerId = field(metadata={"max_len": MAX_ID_CHARS})


@dataclass(frozen=True)
class ConfigureAssistant:
    """Host only: change how the assistant behaves, live. Every field is the new value."""

    TYPE: ClassVar[str] = "configure_assistant"
    mode: str = field(metadata={"choices": ANSWER_MODES, "limit_error": ErrorCode.INVALID_VALUE})
    persona: str = field(default="", metadata={"max_len": MAX_PERSONA_CHARS})
    token_budget: int | None = field(
        default=None, metadata={"min": 1, "limit_error": ErrorCode.INVALID_VALUE}
    )
    answer_quota: int | None = field(
        default=None, metadata={"min": 1, "limit_error": ErrorCode.INVALID_VALUE}
    )
    quota_window: float = field(
        default=600.0, metadata={"min_exclusive": 0, "limit_error": ErrorCode.INVALID_VALUE}
    )


@dataclass(frozen=True)
class Unban:
    """Host only: lift ban ``ban`` (an id from ``ban_list``)."""

    TYPE: ClassVar[str] = "unban"
    ban: BanId = field(metadata={"max_len": MAX_ID_CHARS})


MAX_FILE_NAME_CHARS = 255
"""The longest file name a ``file_offer`` may carry (the room shortens what it shows)."""
MAX_CHUNK_CHARS = 44_000
"""The longest base64url text a chunk's ``data`` may be: 32 KiB of bytes, encoded."""
_SHA256_HEX = {"min_len": 64, "max_len": 64, "limit_error": ErrorCode.INVALID_VALUE}
_CHUNK = {"max_len": MAX_CHUNK_CHARS, "base64url": True}


@dataclass(frozen=True)
class FileOffer:
    """Share a file of ``size`` bytes (its SHA-256, lowercase hex) as ``name``; ``id`` is the
    client's own id for it, as in ``send``. ``assistant``: the sender lets the assistant read
    it (default: no). Sent again with the same ``id`` after a reconnect, it resumes."""

    TYPE: ClassVar[str] = "file_offer"
    id: MessageId = field(metadata={"max_len": MAX_ID_CHARS, "min_len": 1})
    name: str = field(metadata={"max_len": MAX_FILE_NAME_CHARS, "min_len": 1})
    size: int = field(metadata={"min": 0})
    sha256: str = field(metadata=_SHA256_HEX)
    assistant: bool = False


@dataclass(frozen=True)
class FileChunk:
    """The bytes of an accepted upload from ``offset`` on (unpadded base64url)."""

    TYPE: ClassVar[str] = "file_chunk"
    file: FileId = field(metadata={"max_len": MAX_ID_CHARS})
    offset: int = field(metadata={"min": 0})
    data: str = field(metadata=_CHUNK)


@dataclass(frozen=True)
class FileCancel:
    """Abandon the upload of the file offered as ``id``; the room forgets what it received."""

    TYPE: ClassVar[str] = "file_cancel"
    id: MessageId = field(metadata={"max_len": MAX_ID_CHARS, "min_len": 1})


@dataclass(frozen=True)
class FileGet:
    """Send me file ``file`` from byte ``offset`` on (``file_data`` frames, until the end)."""

    TYPE: ClassVar[str] = "file_get"
    file: FileId = field(metadata={"max_len": MAX_ID_CHARS})
    offset: int = field(default=0, metadata={"min": 0})


@dataclass(frozen=True)
class FileStop:
    """Stop sending me file ``file`` (a download the user cancelled)."""

    TYPE: ClassVar[str] = "file_stop"
    file: FileId = field(metadata={"max_len": MAX_ID_CHARS})


ClientMessage = Union[  # noqa: UP007 (a runtime value: dispatch tables are built from it)
    Hello,
    AuthStart,
    SendMessage,
    EditMessage,
    DeleteMessage,
    React,
    SetTyping,
    Kick,
    Lock,
    SetMaxParticipants,
    CloseRoom,
    Leave,
    StopAnswer,
    Regenerate,
    ContinueAnswer,
    ConfigureAssistant,
    Unban,
    FileOffer,
    FileChunk,
    FileCancel,
    FileGet,
    FileStop,
]

# --------------------------------------------------------------------------- server -> client


@dataclass(frozen=True)
class ServerHello:
    """The first frame the server sends, before the client has proved anything."""

    TYPE: ClassVar[str] = "server_hello"
    protocol: int
    abilities: tuple[str, ...]
    room: RoomPreview
    auth: AuthOffer


@dataclass(frozen=True)
class AuthReply:
    """The room's answer to ``auth_start``: its SPAKE2 message and its key confirmation, which
    the client checks before it sends anything else."""

    TYPE: ClassVar[str] = "auth_reply"
    message: str = field(metadata=_AUTH_VALUE)
    confirmation: str = field(metadata=_AUTH_VALUE)


@dataclass(frozen=True)
class Welcome:
    """The join (or resume) succeeded.

    Right after it the server sends the events with ``seq`` from ``replay_from`` to
    ``last_seq`` (none when ``replay_from`` is null). ``history_complete`` is false when a
    resuming client asked for events the room no longer holds.
    """

    TYPE: ClassVar[str] = "welcome"
    you: ParticipantInfo
    session: str
    resumed: bool
    room: RoomInfo
    participants: tuple[ParticipantInfo, ...]
    last_seq: int
    replay_from: int | None
    history_complete: bool = True
    abilities: tuple[str, ...] = ()
    assistant_state: AssistantState | None = None
    instance: str = ""  # changes when the host restarts the room: sequence numbers restart


@dataclass(frozen=True)
class Quote:
    """What a reply answers, as the room saw it when the reply was posted: message ``message``
    (a ``seq``) of ``kind`` ``message``, ``answer`` (its ``answer_started`` seq) or ``file``
    (its name as ``text``), by ``author`` (the assistant's name for an answer), and the start
    of its text. ``deleted``: the quoted message was taken back (``text`` is then empty)."""

    message: int
    kind: str
    author: ParticipantId | None
    author_name: str
    text: str
    deleted: bool = False


@dataclass(frozen=True)
class MessagePosted:
    """A posted message. In history (and so in a replay) it stands as it is now: ``text`` is
    the latest edit's (``edited``: when it was last edited), and a deleted message has no
    text left (``deleted``)."""

    TYPE: ClassVar[str] = "message"
    seq: int
    ts: float
    author: ParticipantId
    author_name: str
    text: str
    client_id: MessageId | None = None
    reply_to: Quote | None = None
    edited: float | None = None
    deleted: bool = False


@dataclass(frozen=True)
class MessageEdited:
    """``author`` changed the text of message ``message`` from ``previous`` to ``text``."""

    TYPE: ClassVar[str] = "message_edited"
    seq: int
    ts: float
    message: int
    author: ParticipantId
    author_name: str
    text: str
    previous: str


@dataclass(frozen=True)
class MessageDeleted:
    """Message ``message`` (a person's message or an answer) was taken back by ``by``: show
    "message deleted" instead of it, and forget its text."""

    TYPE: ClassVar[str] = "message_deleted"
    seq: int
    ts: float
    message: int
    by: ParticipantId
    by_name: str


@dataclass(frozen=True)
class ReactionChanged:
    """``participant`` added (``active``) or took back reaction ``emoji`` on ``message``."""

    TYPE: ClassVar[str] = "reaction"
    seq: int
    ts: float
    message: int
    participant: ParticipantId
    name: str
    emoji: str
    active: bool


@dataclass(frozen=True)
class ParticipantJoined:
    TYPE: ClassVar[str] = "participant_joined"
    seq: int
    ts: float
    participant: ParticipantInfo


@dataclass(frozen=True)
class ParticipantLeft:
    TYPE: ClassVar[str] = "participant_left"
    seq: int
    ts: float
    participant: ParticipantId
    name: str
    reason: str  # "left", "kicked", "banned" or "timed_out"; unknown reasons read as "left"


@dataclass(frozen=True)
class ParticipantStatusChanged:
    TYPE: ClassVar[str] = "participant_status"
    seq: int
    ts: float
    participant: ParticipantId
    status: str  # "online" or "reconnecting"
    moved: bool = False  # see ParticipantInfo.moved


@dataclass(frozen=True)
class RoomUpdated:
    TYPE: ClassVar[str] = "room_updated"
    seq: int
    ts: float
    room: RoomInfo


@dataclass(frozen=True)
class RoomClosed:
    TYPE: ClassVar[str] = "room_closed"
    seq: int
    ts: float
    reason: str  # "closed_by_host" or "host_shutdown"


@dataclass(frozen=True)
class TypingChanged:
    """Someone started or stopped typing. Ephemeral: no ``seq``, not kept in history."""

    TYPE: ClassVar[str] = "typing"
    participant: ParticipantId
    active: bool


@dataclass(frozen=True)
class Ack:
    """A ``send`` whose ``id`` the room had already accepted; ``seq`` is the original event."""

    TYPE: ClassVar[str] = "ack"
    id: MessageId
    seq: int


@dataclass(frozen=True)
class ErrorMessage:
    """Something the client did was refused. ``ref`` names the ``send`` it is about."""

    TYPE: ClassVar[str] = "error"
    code: str
    message: str
    ref: str | None = None
    retry_after: float | None = None


@dataclass(frozen=True)
class AnswerStarted:
    """The assistant starts answering message ``request_seq`` for ``asked_by``."""

    TYPE: ClassVar[str] = "answer_started"
    seq: int
    ts: float
    answer: AnswerId
    request_seq: int
    asked_by: ParticipantId
    asked_by_name: str
    assistant_name: str
    model: str
    regenerates: AnswerId | None = None
    # The files whose contents go to the AI provider with this request (their senders chose so).
    files: tuple[FileId, ...] = ()
    continues: AnswerId | None = None  # the cut-off answer this one goes on with


@dataclass(frozen=True)
class AnswerDelta:
    """More of an answer: its text from character ``offset`` on. Ephemeral (no ``seq``).

    Apply as ``text = text[:offset] + delta`` so a repeated delta changes nothing.
    """

    TYPE: ClassVar[str] = "answer_delta"
    answer: AnswerId
    offset: int
    text: str


@dataclass(frozen=True)
class AnswerFinished:
    """The answer is final. ``status``: ``complete``, ``stopped``, ``interrupted`` or
    ``failed``; ``text`` is everything written (possibly partial); ``error`` says what went
    wrong in words fit for everyone. ``cut_off``: the model stopped at its length limit, so
    a complete answer may end mid-sentence (``continue_answer`` asks for the rest)."""

    TYPE: ClassVar[str] = "answer_finished"
    seq: int
    ts: float
    answer: AnswerId
    text: str
    status: str
    model: str
    usage: Usage | None = None
    stopped_by: ParticipantId | None = None
    error: str | None = None
    cut_off: bool = False
    deleted: bool = False  # the host took it back: its text is gone (in history only)


@dataclass(frozen=True)
class Notice:
    """Something everyone should know, from the room itself (``level``: info/warning/error)."""

    TYPE: ClassVar[str] = "notice"
    seq: int
    ts: float
    level: str
    code: str
    text: str


@dataclass(frozen=True)
class AssistantStateChanged:
    TYPE: ClassVar[str] = "assistant_state"
    state: AssistantState


@dataclass(frozen=True)
class AssistantReport:
    """Host only: the assistant's settings and what it has used this session."""

    TYPE: ClassVar[str] = "assistant_report"
    mode: str
    persona: str
    token_budget: int | None
    answer_quota: int | None
    quota_window: float
    session_usage: Usage
    answers: int


@dataclass(frozen=True)
class BanInfo:
    """One ban: whom it was for (their name then) and when, in host wall-clock seconds."""

    id: BanId
    name: str
    ts: float


@dataclass(frozen=True)
class BanList:
    """Host only: every ban in force, oldest first; sent after each change and on joining."""

    TYPE: ClassVar[str] = "ban_list"
    bans: tuple[BanInfo, ...]


@dataclass(frozen=True)
class FileAccepted:
    """To the sender of ``file_offer`` ``id``: send the bytes of ``file`` from ``offset`` on,
    in chunks of at most ``chunk_bytes``. Also the answer to a chunk at the wrong offset."""

    TYPE: ClassVar[str] = "file_accepted"
    id: MessageId
    file: FileId
    offset: int
    chunk_bytes: int


@dataclass(frozen=True)
class FileShared:
    """A file everyone can now fetch (``file_get``). ``name`` is the sender's name for it, made
    safe to show; ``mime`` and ``kind`` (``image``, ``text``, ``pdf``, ``program`` or
    ``other``; show unknown kinds as ``other``) come from its contents, not from its name.
    ``assistant``: its sender lets the assistant read it."""

    TYPE: ClassVar[str] = "file_shared"
    seq: int
    ts: float
    file: FileId
    author: ParticipantId
    author_name: str
    name: str
    size: int
    sha256: str
    mime: str
    kind: str
    assistant: bool
    client_id: MessageId


@dataclass(frozen=True)
class FileData:
    """Bytes of ``file`` from ``offset`` on (unpadded base64url), for a ``file_get``;
    ``done`` on the last one."""

    TYPE: ClassVar[str] = "file_data"
    file: FileId
    offset: int
    data: str
    done: bool = False


RoomEvent = Union[  # noqa: UP007
    MessagePosted,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantStatusChanged,
    RoomUpdated,
    RoomClosed,
    AnswerStarted,
    AnswerFinished,
    Notice,
    FileShared,
    MessageEdited,
    MessageDeleted,
    ReactionChanged,
]
ServerMessage = Union[  # noqa: UP007
    ServerHello,
    AuthReply,
    Welcome,
    MessagePosted,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantStatusChanged,
    RoomUpdated,
    RoomClosed,
    AnswerStarted,
    AnswerFinished,
    Notice,
    TypingChanged,
    Ack,
    ErrorMessage,
    AnswerDelta,
    AssistantStateChanged,
    AssistantReport,
    BanList,
    FileAccepted,
    FileShared,
    FileData,
    MessageEdited,
    MessageDeleted,
    ReactionChanged,
]


def close_reason(text: str) -> str:
    """``text`` cut to fit a WebSocket close frame (123 bytes of UTF-8), on a character
    boundary. A longer reason would make the close frame itself invalid."""
    data = text.encode("utf-8", "replace")
    if len(data) <= MAX_CLOSE_REASON_BYTES:
        return text.encode("utf-8", "replace").decode("utf-8")
    return data[: MAX_CLOSE_REASON_BYTES - 3].decode("utf-8", "ignore") + "..."


def quote_start(text: str) -> str:
    """The start of ``text`` that a reply's quote carries: at most :data:`MAX_QUOTE_CHARS`
    characters, a longer text cut and ending in "…"."""
    if len(text) <= MAX_QUOTE_CHARS:
        return text
    return text[: MAX_QUOTE_CHARS - 1].rstrip() + "…"
