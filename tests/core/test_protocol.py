"""Every frame parses and serialises; bad frames become typed errors, never crashes."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from core.codec import parse_client_frame, parse_server_frame, serialize
from core.protocol import (
    AUTH_SPAKE2,
    PROTOCOL_VERSION,
    AuthOffer,
    AuthProof,
    AuthReply,
    AuthStart,
    DeleteMessage,
    EditMessage,
    ErrorCode,
    ErrorMessage,
    Hello,
    Kick,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    ParticipantInfo,
    ParticipantLeft,
    ProtocolError,
    Quote,
    React,
    ReactionChanged,
    ResumeRequest,
    RoomInfo,
    RoomPreview,
    SendMessage,
    ServerHello,
    SetMaxParticipants,
    Welcome,
    key_proof,
)

CLIENT_EXAMPLES = [
    Hello(
        protocol=PROTOCOL_VERSION,
        name="Sam",
        abilities=("resume",),
        auth=AuthProof(AUTH_SPAKE2, "0WFFpDXbW8bfTBLxqjeXkgL9dtkyfjgVOYYS3iKnWyg"),
        resume=ResumeRequest("tok", 41),
        host_proof=None,
        client="test",
    ),
    AuthStart(AUTH_SPAKE2, "QbY1j4ep5v8l5q1UiRnIWdqnjsiMmLkZBNpiQJiN1tJG"),
    SendMessage(id="c1", text="hello 👋\nsecond line"),
    Kick(participant="p2", ban=True),
    SetMaxParticipants(max=None),
    SetMaxParticipants(max=12),
    SendMessage(id="c2", text="me too", reply_to=3),
    EditMessage(message=3, text="fixed"),
    DeleteMessage(message=3),
    React(message=3, emoji="👍", active=False),
]

SERVER_EXAMPLES = [
    ServerHello(
        PROTOCOL_VERSION,
        ("resume",),
        RoomPreview("Room", True),
        AuthOffer((AUTH_SPAKE2,), "QEFCQ0RFRkdISUpLTE1OTw"),
    ),
    AuthReply(
        "QiirrgzjpfQ2BCKkNec2OLy6MQId4sBjC3kch8fMXvK2",
        "f8YdvoehYKmvDDI2DL_xyVmDTE4g_CoR85HAZm1UMfo",
    ),
    Welcome(
        you=ParticipantInfo("p1", "Sam", "host"),
        session="s",
        resumed=False,
        room=RoomInfo("Room", "Sam", 1, None, False, False),
        participants=(ParticipantInfo("p1", "Sam", "host"),),
        last_seq=1,
        replay_from=1,
    ),
    MessagePosted(seq=3, ts=1.5, author="p1", author_name="Sam", text="hi", client_id="c1"),
    ParticipantLeft(seq=4, ts=2.0, participant="p2", name="Bob", reason="kicked"),
    MessagePosted(
        seq=5,
        ts=2.5,
        author="p2",
        author_name="Bob",
        text="yes",
        client_id="c9",
        reply_to=Quote(3, "message", "p1", "Sam", "hi"),
        edited=3.0,
    ),
    MessageEdited(
        seq=6, ts=3.0, message=5, author="p2", author_name="Bob", text="yes!", previous="yes"
    ),
    MessageDeleted(seq=7, ts=3.5, message=5, by="p1", by_name="Sam"),
    ReactionChanged(
        seq=8, ts=4.0, message=3, participant="p2", name="Bob", emoji="🎉", active=True
    ),
    ErrorMessage(code="rate_limited", message="slow down", ref="c1", retry_after=0.5),
]


@pytest.mark.parametrize("message", CLIENT_EXAMPLES, ids=lambda m: type(m).__name__)
def test_client_messages_round_trip(message: object) -> None:
    assert parse_client_frame(serialize(message)) == message  # type: ignore[arg-type]


@pytest.mark.parametrize("message", SERVER_EXAMPLES, ids=lambda m: type(m).__name__)
def test_server_messages_round_trip(message: object) -> None:
    assert parse_server_frame(serialize(message)) == message  # type: ignore[arg-type]


def test_frames_carry_their_type_and_keep_unicode_readable() -> None:
    frame = serialize(SendMessage(id="c1", text="héllo"))
    assert json.loads(frame) == {"type": "send", "id": "c1", "text": "héllo", "reply_to": None}
    assert "héllo" in frame


def test_unknown_fields_are_ignored() -> None:
    frame = json.dumps({"type": "send", "id": "c1", "text": "hi", "future_field": [1, 2]})
    assert parse_client_frame(frame) == SendMessage(id="c1", text="hi")


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", ErrorCode.BAD_FRAME),
        ("[1, 2]", ErrorCode.BAD_FRAME),
        ('{"type": "send", "id": "c", "text": NaN}', ErrorCode.BAD_FRAME),
        (b'{"type": "send"}', ErrorCode.BAD_FRAME),
        ("{}", ErrorCode.BAD_MESSAGE),
        ('{"type": 5}', ErrorCode.BAD_MESSAGE),
        ('{"type": "teleport"}', ErrorCode.UNKNOWN_TYPE),
        ('{"type": "send", "id": "c1"}', ErrorCode.BAD_MESSAGE),
        ('{"type": "send", "id": "c1", "text": 42}', ErrorCode.BAD_MESSAGE),
        ('{"type": "send", "id": "", "text": "x"}', ErrorCode.BAD_MESSAGE),
        ('{"type": "send", "id": "' + "x" * 65 + '", "text": "x"}', ErrorCode.BAD_MESSAGE),
        ('{"type": "typing", "active": "yes"}', ErrorCode.BAD_MESSAGE),
        ('{"type": "typing", "active": 1}', ErrorCode.BAD_MESSAGE),
        ('{"type": "set_max_participants", "max": true}', ErrorCode.BAD_MESSAGE),
        ('{"type": "set_max_participants", "max": 1e400}', ErrorCode.BAD_MESSAGE),
        ('{"type": "hello", "protocol": 1, "name": "x", "auth": "pw"}', ErrorCode.BAD_MESSAGE),
        ('{"type": "hello", "protocol": 1, "name": "x", "abilities": [1]}', ErrorCode.BAD_MESSAGE),
        ('{"type": "auth_start", "method": "spake2-ed25519-v1"}', ErrorCode.BAD_MESSAGE),
        ('{"type": "auth_start", "method": "m", "message": "QbY1+j4e"}', ErrorCode.BAD_MESSAGE),
        ('{"type": "auth_start", "method": "m", "message": "QbY1j4e="}', ErrorCode.BAD_MESSAGE),
        (
            '{"type": "auth_start", "method": "m", "message": "' + "A" * 257 + '"}',
            ErrorCode.BAD_MESSAGE,
        ),
        ('{"type": "auth_start", "method": "m", "message": 33}', ErrorCode.BAD_MESSAGE),
        (
            '{"type": "hello", "protocol": 2, "name": "x",'
            ' "auth": {"method": "m", "confirmation": "a b"}}',
            ErrorCode.BAD_MESSAGE,
        ),
        ("[" * 100_000 + "]" * 100_000, ErrorCode.BAD_FRAME),
    ],
)
def test_bad_frames_raise_typed_errors(frame: str | bytes, code: ErrorCode) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_client_frame(frame)
    assert caught.value.code == code
    assert str(caught.value)  # readable to a person


def test_server_only_types_are_unknown_to_the_server() -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_client_frame(serialize(SERVER_EXAMPLES[2]))
    assert caught.value.code == ErrorCode.UNKNOWN_TYPE


def test_bad_send_error_names_the_message_it_is_about() -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_client_frame('{"type": "send", "id": "c9", "text": ["x"]}')
    assert caught.value.ref == "c9"


def test_the_host_key_proof_depends_on_key_and_nonce() -> None:
    proof = key_proof("secret", "nonce-1")
    assert proof == key_proof("secret", "nonce-1")
    assert proof != key_proof("secret", "nonce-2")
    assert proof != key_proof("Secret", "nonce-1")
    assert "secret" not in proof
    # As docs/protocol.md defines it: over the nonce's text as sent, keyed with the key's text.
    nonce = "QEFCQ0RFRkdISUpLTE1OTw"
    expected = hmac.new(b"HOSTKEY", nonce.encode("ascii"), hashlib.sha256).hexdigest()
    assert key_proof("HOSTKEY", nonce) == expected


def test_newer_values_in_kind_fields_still_parse() -> None:
    frame = json.dumps(
        {
            "type": "participant_left",
            "seq": 9,
            "ts": 1.0,
            "participant": "p2",
            "name": "Bob",
            "reason": "vanished_in_a_future_version",
        }
    )
    parsed = parse_server_frame(frame)
    assert isinstance(parsed, ParticipantLeft) and parsed.reason == "vanished_in_a_future_version"


@pytest.mark.parametrize(
    "frame",
    [
        '{"type":"set_max_participants","max":0}',
        '{"type":"set_max_participants","max":501}',
        '{"type":"configure_assistant","mode":"sometimes"}',
        '{"type":"configure_assistant","mode":"always","token_budget":0}',
        '{"type":"configure_assistant","mode":"always","answer_quota":-1}',
        '{"type":"configure_assistant","mode":"always","quota_window":0}',
    ],
)
def test_values_out_of_range_are_invalid_values_at_the_boundary(frame: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_client_frame(frame)
    assert caught.value.code == ErrorCode.INVALID_VALUE
