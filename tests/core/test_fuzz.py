"""Property-based tests of the frame parser and the room state machine (hypothesis).

``make test`` runs a fast subset; ``make fuzz`` runs the same properties over at least
100,000 inputs (the ``fuzz`` profile, see ``tests/conftest.py``).

Properties:
* the parser turns any frame into a message or a :class:`ProtocolError`, never anything else;
* any string field of any message holding a lone surrogate is refused at the parser, and any
  message the room or a provider could produce serialises to valid UTF-8;
* any sequence of frames from any number of connections leaves the room's invariants intact:
  no exception, every connection sees strictly increasing ``seq``s with nothing twice, nobody
  speaks as someone else, every close reason fits a close frame.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.codec import parse_client_frame, parse_server_frame, serialize
from core.protocol import (
    MAX_CLOSE_REASON_BYTES,
    ClientMessage,
    ErrorCode,
    MessagePosted,
    ProtocolError,
    RoomEvent,
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
    {f.name for cls in CLIENT_TYPES for f in dataclasses.fields(cls)} | {"type", "auth", "proof"}
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


def _string_fields(cls: type[Any]) -> list[str]:
    hints = typing.get_type_hints(cls)
    return [f.name for f in dataclasses.fields(cls) if hints[f.name] in (str, str | None)]


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
    for name in _string_fields(cls):
        value = data.draw(st.sampled_from(HOSTILE_TEXT))
        message = dataclasses.replace(message, **{name: value})
    frame = serialize(message)
    frame.encode("utf-8")
    parse_server_frame(frame)


# ----------------------------------------------------------------- the room as a whole

ADDRESSES = ["10.0.0.5", "10.0.0.6", "2001:db8::1", "2001:db8::2", "127.0.0.1"]


def _client_frame(draw: Any, sessions: list[str], ids: list[str]) -> str:
    """A frame a client might send: mostly well-formed, sometimes hostile."""
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return _dumps(draw(frames_like_clients))
    if choice == 1:
        resume = {"session": draw(st.sampled_from([*sessions, "nope"])), "last_seq": 0}
        return _dumps({"type": "hello", "protocol": 1, "name": draw(texts), "resume": resume})
    if choice == 2:
        return _dumps({"type": "hello", "protocol": 1, "name": draw(texts)})
    if choice == 3:
        return _dumps({"type": "hello", "protocol": 1, "name": "Host", "host_proof": "bad"})
    if choice == 4:
        target = draw(st.sampled_from([*ids, "p999"]))
        return _dumps({"type": "kick", "participant": target, "ban": draw(st.booleans())})
    if choice == 5:
        return _dumps({"type": draw(st.sampled_from(["leave", "close_room"]))})
    if choice == 6:
        return _dumps({"type": "typing", "active": draw(st.booleans())})
    return _dumps(
        {"type": "send", "id": draw(st.text(min_size=1, max_size=8)), "text": draw(texts)}
    )


class _Observer:
    """Everything each connection was sent, checked as it arrives."""

    def __init__(self) -> None:
        self.last_seq: dict[ConnId, int] = {}
        self.identity: dict[ConnId, str] = {}
        self.closed: set[ConnId] = set()

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
        if isinstance(message, Welcome):
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
    room = Room(RoomConfig(name="Fuzz", host_key="HOSTKEY"), clock=clock, wall_clock=clock)
    seen = _Observer()
    conns: list[ConnId] = []
    sessions: list[str] = []
    for _ in range(data.draw(st.integers(1, 40), label="steps")):
        kind = data.draw(st.sampled_from(["connect", "frame", "frame", "frame", "lost", "tick"]))
        if kind == "connect":
            conns.append(ConnId(len(conns) + 1))
            seen.apply(room.connect(conns[-1], data.draw(st.sampled_from(ADDRESSES))))
        elif kind == "tick":
            clock.now += data.draw(st.floats(0, 70))
            seen.apply(room.tick())
        elif conns:
            conn = conns[data.draw(st.integers(0, len(conns) - 1))]
            if kind == "lost":
                seen.apply(room.connection_lost(conn))
                continue
            ids = [p.id for p in room.participants]
            frame = _client_frame(data.draw, sessions, ids)
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
    ids = [p.id for p in room.participants]
    assert len(ids) == len(set(ids))
    if not room.closed:
        assert [e.seq for e in room.history] == sorted({e.seq for e in room.history})
