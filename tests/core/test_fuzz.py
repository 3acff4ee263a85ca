"""Property-based tests of the frame parser and the room state machine (hypothesis).

``make test`` runs a fast subset; ``make fuzz`` runs the same properties over at least
100,000 inputs (the ``fuzz`` profile, see ``tests/conftest.py``).

Properties:
* the parser turns any frame into a message or a :class:`ProtocolError`, never anything else;
* any string field of any message holding a lone surrogate is refused at the parser, and any
  message the room or a provider could produce serialises to valid UTF-8;
* any sequence of frames from any number of connections, to a room with or without a room
  code, leaves the room's invariants intact: no exception, every connection sees strictly
  increasing ``seq``s with nothing twice, nobody speaks as someone else, nobody joins a room
  with a code without an exchange for the right one, every close reason fits a close frame.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Iterator, Sequence
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.codec import parse_client_frame, parse_server_frame, serialize
from core.pake import (
    GuestExchange,
    PakeError,
    decode_confirmation,
    decode_message,
    decode_nonce,
    encode_b64url,
)
from core.protocol import (
    AUTH_SPAKE2,
    MAX_CLOSE_REASON_BYTES,
    PROTOCOL_VERSION,
    AuthReply,
    ClientMessage,
    ErrorCode,
    MessagePosted,
    ProtocolError,
    RoomEvent,
    ServerHello,
    ServerMessage,
    Welcome,
)
from core.room import ConnId, Deliver, Disconnect, Room, RoomConfig
from tests.core.room_harness import FakeClock

HOSTILE_TEXT = [
    "\udc00",
    "a\ud800b",
    "😀" * 40,
    "\u202eevil",
    "<img src=/dev/zero>",
    "\x1b]52;c;SGVsbG8=\x07",
    "x" * 5000,
    "",
    "\n\u0085\u2028",
]

CLIENT_TYPES: list[type[Any]] = list(typing.get_args(ClientMessage))
SERVER_TYPES: list[type[Any]] = list(typing.get_args(ServerMessage))
ROOM_EVENTS = typing.get_args(RoomEvent)
FIELD_NAMES = sorted(
    {f.name for cls in CLIENT_TYPES for f in dataclasses.fields(cls)}
    | {"type", "auth", "confirmation"}
)

texts = st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=40))
numbers = st.one_of(
    st.integers(min_value=-(2**60), max_value=2**60),
    st.floats(allow_nan=False, allow_infinity=False),
    st.just(10**4000),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, texts),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(FIELD_NAMES), texts), inner, max_size=5),
    ),
    max_leaves=12,
)
frames_like_clients = st.builds(
    lambda kind, body: {**body, "type": kind},
    st.one_of(st.sampled_from([c.TYPE for c in CLIENT_TYPES]), texts),
    st.dictionaries(st.sampled_from(FIELD_NAMES), json_values, max_size=6),
)


def _dumps(value: Any) -> str:
    # ensure_ascii keeps lone surrogates encodable as JSON escapes; the parser must refuse them.
    return json.dumps(value, ensure_ascii=True)


@given(st.one_of(frames_like_clients.map(_dumps), json_values.map(_dumps), st.text(), st.binary()))
def test_the_parser_returns_a_message_or_a_typed_error(frame: str | bytes) -> None:
    try:
        message = parse_client_frame(frame)
    except ProtocolError as exc:
        assert isinstance(exc.code, ErrorCode)
        assert len(str(exc)) < 400  # no unbounded echo of what the client sent
        return
    assert serialize(message).encode()  # whatever was accepted can be sent on


def _string_fields(cls: type[Any], *, outside_text: bool = False) -> list[str]:
    """``cls``'s text fields; with ``outside_text``, only those that can carry text from
    elsewhere (not the base64url values of the room-code exchange, which the room encodes
    itself and the codec holds to their alphabet)."""
    hints = typing.get_type_hints(cls)
    return [
        f.name
        for f in dataclasses.fields(cls)
        if hints[f.name] in (str, str | None) and not (outside_text and f.metadata.get("base64url"))
    ]


def _minimal(cls: type[Any]) -> dict[str, Any]:
    """A valid frame of ``cls``'s type, filled with plain values."""
    hints = typing.get_type_hints(cls)
    plain = {int: 1, float: 1.0, bool: True, str: "x", str | None: "x", int | None: 1}
    body: dict[str, Any] = {"type": cls.TYPE}
    for f in dataclasses.fields(cls):
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            body[f.name] = plain.get(hints[f.name], "x")
    if cls.TYPE == "configure_assistant":
        body["mode"] = "mention"
    return body


@given(st.sampled_from(CLIENT_TYPES), st.data())
def test_every_client_string_field_refuses_lone_surrogates(cls: type[Any], data: Any) -> None:
    fields = _string_fields(cls)
    if not fields:
        return
    name = data.draw(st.sampled_from(fields))
    frame = _minimal(cls)
    frame[name] = data.draw(st.sampled_from(["\udc00", "ok\ud800", "\udfff\udfff"]))
    try:
        parse_client_frame(_dumps(frame))
    except ProtocolError as exc:
        assert exc.code != ErrorCode.BAD_FRAME
    else:
        raise AssertionError(f"{cls.TYPE}.{name} accepted a lone surrogate")


@given(st.sampled_from(SERVER_TYPES), st.data())
def test_every_server_message_serialises_to_valid_utf8(cls: type[Any], data: Any) -> None:
    """What the room sends may carry text from anywhere (a provider's JSON can hold lone
    surrogates): serialising it must never fail, or one event would be lost for everyone."""
    try:
        message = parse_server_frame(_dumps(_minimal(cls)))
    except ProtocolError:
        return  # nested required objects: covered by the room property below
    for name in _string_fields(cls, outside_text=True):
        value = data.draw(st.sampled_from(HOSTILE_TEXT))
        message = dataclasses.replace(message, **{name: value})
    frame = serialize(message)
    frame.encode("utf-8")
    parse_server_frame(frame)


# ----------------------------------------------------------------- the room as a whole

ADDRESSES = ["10.0.0.5", "10.0.0.6", "2001:db8::1", "2001:db8::2", "127.0.0.1"]
CODE = "1234 5678"
# A point of the group, but the room's side (b"B"): well-formed text, refused by the exchange.
REFLECTED = encode_b64url(b"B" + bytes(GuestExchange(CODE, bytes(32), bytes(16)).start()[1:]))


class _Guests:
    """The guest's half of the room-code exchange on each connection, so that a fuzzed
    client can also do it right (and join a room with a code) or with a wrong code."""

    def __init__(self) -> None:
        self.nonces: dict[ConnId, bytes] = {}  # from each connection's greeting
        self.replies: dict[ConnId, AuthReply] = {}
        self.with_the_code: set[ConnId] = set()  # sent an auth_start for the right code
        self._exchanges: dict[ConnId, GuestExchange] = {}
        self._confirmations: dict[ConnId, str] = {}

    def start(self, conn: ConnId, code: str) -> str:
        """An ``auth_start`` message for ``code`` on ``conn``."""
        guest = GuestExchange(code, bytes(32), self.nonces.get(conn, bytes(16)))
        self._exchanges[conn] = guest
        self._confirmations.pop(conn, None)
        if code == CODE:
            self.with_the_code.add(conn)
        return encode_b64url(guest.start())

    def confirmation(self, conn: ConnId) -> str:
        """The guest's confirmation on ``conn``: the right one after a reply to the right
        code, else one that cannot verify."""
        if conn not in self._confirmations:
            text = encode_b64url(bytes(32))
            guest, reply = self._exchanges.get(conn), self.replies.get(conn)
            if guest is not None and reply is not None:
                try:
                    confirmed = guest.finish(
                        decode_message(reply.message), decode_confirmation(reply.confirmation)
                    )
                    text = encode_b64url(confirmed.confirmation)
                except PakeError:
                    pass
            self._confirmations[conn] = text
        return self._confirmations[conn]


def _client_frame(
    draw: Any, sessions: list[str], ids: Sequence[str], conn: ConnId, guests: _Guests
) -> str:
    """A frame a client might send on ``conn``: mostly well-formed, sometimes hostile."""
    choice = draw(st.integers(0, 11))
    if choice == 0:
        return _dumps(draw(frames_like_clients))
    if choice in (1, 2, 3):
        hello: dict[str, Any] = {"type": "hello", "protocol": PROTOCOL_VERSION}
        if choice == 1:
            resume = {"session": draw(st.sampled_from([*sessions, "nope"])), "last_seq": 0}
            hello.update(name=draw(texts), resume=resume)
        elif choice == 2:
            hello.update(name=draw(texts))
        else:
            hello.update(name="Host", host_proof="bad")
        if draw(st.booleans()):
            hello["auth"] = {"method": AUTH_SPAKE2, "confirmation": guests.confirmation(conn)}
        return _dumps(hello)
    if choice == 10:
        kind = draw(st.sampled_from(["right", "wrong", "reflected", "junk"]))
        if kind == "right":
            message = guests.start(conn, CODE)
        elif kind == "wrong":
            message = guests.start(conn, "8765 4321")
        else:
            message = REFLECTED if kind == "reflected" else draw(texts)
        return _dumps({"type": "auth_start", "method": AUTH_SPAKE2, "message": message})
    if choice == 4:
        target = draw(st.sampled_from([*ids, "p999"]))
        return _dumps({"type": "kick", "participant": target, "ban": draw(st.booleans())})
    if choice == 5:
        return _dumps({"type": draw(st.sampled_from(["leave", "close_room"]))})
    if choice == 6:
        return _dumps({"type": "typing", "active": draw(st.booleans())})
    if choice in (7, 8):  # replies, edits, deletions and reactions, on seqs that may exist
        seq = draw(st.one_of(st.integers(1, 40), numbers))
        kind = draw(st.sampled_from(["reply", "edit", "delete", "react"]))
        if kind == "reply":
            frame = {"type": "send", "id": draw(st.text(min_size=1, max_size=8)),
                     "text": draw(texts), "reply_to": seq}  # fmt: skip
        elif kind == "react":
            emoji = draw(st.one_of(st.sampled_from(["👍", "🎉", "🇫🇷", "1️⃣"]), texts))
            frame = {"type": "react", "message": seq, "emoji": emoji,
                     "active": draw(st.booleans())}  # fmt: skip
        else:
            frame = {"type": kind, "message": seq, "text": draw(texts)}
        return _dumps(frame)
    return _dumps(
        {"type": "send", "id": draw(st.text(min_size=1, max_size=8)), "text": draw(texts)}
    )


def _handshake(
    draw: Any, sessions: list[str], conn: ConnId, guests: _Guests, code: str | None
) -> Iterator[str]:
    """The frames of a join on ``conn``, each made once the room has answered the one before:
    the exchange first in a room with a room code (for the right code, mostly), then a hello
    (resuming, as the host, or new)."""
    if code is not None:
        guess = draw(st.sampled_from([CODE, CODE, CODE, "8765 4321"]))
        start = {"type": "auth_start", "method": AUTH_SPAKE2, "message": guests.start(conn, guess)}
        yield _dumps(start)
    hello: dict[str, Any] = {"type": "hello", "protocol": PROTOCOL_VERSION, "name": draw(texts)}
    if code is not None:
        hello["auth"] = {"method": AUTH_SPAKE2, "confirmation": guests.confirmation(conn)}
    extra = draw(st.sampled_from(["new", "resume", "host"]))
    if extra == "resume":
        hello["resume"] = {"session": draw(st.sampled_from([*sessions, "nope"])), "last_seq": 0}
    elif extra == "host":
        hello["host_proof"] = draw(st.sampled_from(["bad", "x" * 64]))
    yield _dumps(hello)


class _Observer:
    """Everything each connection was sent, checked as it arrives."""

    def __init__(self, guests: _Guests, code_needed: bool) -> None:
        self.last_seq: dict[ConnId, int] = {}
        self.identity: dict[ConnId, str] = {}
        self.closed: set[ConnId] = set()
        self.guests = guests
        self.code_needed = code_needed

    def apply(self, actions: list[Any]) -> None:
        for action in actions:
            if isinstance(action, Disconnect):
                assert len(action.reason.encode()) <= MAX_CLOSE_REASON_BYTES
                self.closed.add(action.conn)
            elif isinstance(action, Deliver):
                serialize(action.message).encode("utf-8")
                for conn in action.conns:
                    self._check(conn, action.message)

    def _check(self, conn: ConnId, message: Any) -> None:
        if isinstance(message, ServerHello):
            self.guests.nonces[conn] = decode_nonce(message.auth.nonce)
        if isinstance(message, AuthReply):
            self.guests.replies[conn] = message
        if isinstance(message, Welcome):
            if self.code_needed:
                assert conn in self.guests.with_the_code, "joined without the room code"
            self.identity[conn] = message.you.id
            self.last_seq[conn] = message.replay_from - 1 if message.replay_from else 0
            return
        if isinstance(message, ROOM_EVENTS):  # an ack's seq names an earlier event instead
            seq = message.seq
            assert seq > self.last_seq.get(conn, 0), "an event was delivered twice or out of order"
            self.last_seq[conn] = seq


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_any_sequence_of_frames_leaves_the_room_intact(data: Any) -> None:
    clock = FakeClock()
    code = data.draw(st.sampled_from([None, CODE]), label="room code")
    config = RoomConfig(name="Fuzz", host_key="HOSTKEY", password=code)
    room = Room(config, clock=clock, wall_clock=clock)
    guests = _Guests()
    seen = _Observer(guests, code_needed=code is not None)
    conns: list[ConnId] = []
    sessions: list[str] = []

    def feed(conn: ConnId, frame: str) -> None:
        before = room.last_seq
        actions = room.receive(conn, frame)
        seen.apply(actions)
        for action in actions:
            message = getattr(action, "message", None)
            if isinstance(message, Welcome):
                sessions.append(message.session)
            # Only the room attributes messages: a post answering this connection's frame
            # carries this connection's identity.
            if isinstance(message, MessagePosted) and message.seq > before:
                assert message.author == seen.identity[conn]

    steps = ["connect", "join", "frame", "frame", "frame", "lost", "tick"]
    for _ in range(data.draw(st.integers(1, 40), label="steps")):
        kind = data.draw(st.sampled_from(steps))
        if kind in ("connect", "join"):
            conns.append(ConnId(len(conns) + 1))
            seen.apply(room.connect(conns[-1], data.draw(st.sampled_from(ADDRESSES))))
            if kind == "join":  # the whole handshake, as a client would do it (or nearly)
                for frame in _handshake(data.draw, sessions, conns[-1], guests, code):
                    feed(conns[-1], frame)
        elif kind == "tick":
            clock.now += data.draw(st.floats(0, 70))
            seen.apply(room.tick())
        elif conns:
            conn = conns[data.draw(st.integers(0, len(conns) - 1))]
            if kind == "lost":
                seen.apply(room.connection_lost(conn))
                continue
            ids = [p.id for p in room.participants]
            feed(conn, _client_frame(data.draw, sessions, ids, conn, guests))
    ids = [p.id for p in room.participants]
    assert len(ids) == len(set(ids))
    if not room.closed:
        assert [e.seq for e in room.history] == sorted({e.seq for e in room.history})
