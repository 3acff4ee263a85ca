"""The room's rules on plain values: no sockets, a fake clock, microseconds per test."""

from __future__ import annotations

import json

import pytest

from core.admission import AdmissionRules
from core.ai.desk import AssistantConfig
from core.protocol import (
    PROTOCOL_VERSION,
    AuthReply,
    CloseCode,
    ErrorMessage,
    Limits,
    MessagePosted,
    Notice,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantStatusChanged,
    RoomClosed,
    RoomUpdated,
    ServerHello,
    TypingChanged,
    Welcome,
)
from tests.core.room_harness import Harness, welcome_of


def test_join_assigns_identity_and_tells_everyone() -> None:
    h = Harness()
    host = h.host()
    sam = h.join("Sam")
    w = welcome_of(sam)
    assert w.you.name == "Sam" and w.you.role == "guest"
    assert {p.name for p in w.participants} == {"Hana", "Sam"}
    assert w.room.host_name == "Hana"
    joined = host.of(ParticipantJoined)[-1]
    assert joined.participant.name == "Sam"
    assert joined.seq == h.room.last_seq


def test_same_name_twice_gets_told_apart() -> None:
    h = Harness()
    first = welcome_of(h.join("Sam")).you
    second = welcome_of(h.join("sam")).you
    third = welcome_of(h.join("SAM ")).you
    assert first.name == "Sam"
    assert second.name == "sam (2)"
    assert third.name == "SAM (3)"
    assert len({first.id, second.id, third.id}) == 3


def test_invalid_name_is_refused_with_a_reason() -> None:
    h = Harness()
    peer = h.join("bad\u200bname")
    assert peer.last_error().code == "invalid_name"
    assert peer.closed is not None and peer.closed.code == CloseCode.INVALID_NAME


def test_messages_are_attributed_by_the_server_not_the_client() -> None:
    h = Harness()
    host = h.host()
    sam = h.join("Sam")
    h.send(sam, type="send", id="c1", text="hi", author="p1", author_name="Hana")
    posted = host.of(MessagePosted)[-1]
    assert posted.author == welcome_of(sam).you.id
    assert posted.author_name == "Sam"


def test_every_event_gets_the_next_sequence_number() -> None:
    h = Harness()
    host = h.host()
    sam = h.join("Sam")
    for i in range(5):
        h.send(sam if i % 2 else host, type="send", id=f"c{i}", text=str(i))
    seqs = [getattr(m, "seq", None) for m in host.inbox if hasattr(m, "seq")]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert seqs[-1] == h.room.last_seq


def test_history_on_join_is_bounded() -> None:
    h = Harness(history_capacity=30, history_on_join=20)
    host = h.host()
    for i in range(40):
        h.send(host, type="send", id=f"c{i}", text=f"m{i}")
    late = h.join("Late")
    texts = [m.text for m in late.of(MessagePosted)]
    replay = late.inbox[2:]  # after the server's greeting and the welcome
    assert len(replay) == 20 and isinstance(replay[-1], ParticipantJoined)
    assert texts[-1] == "m39" and host.closed is None
    assert welcome_of(late).replay_from == replay[0].seq  # type: ignore[union-attr]


def test_duplicate_client_ids_post_once() -> None:
    h = Harness()
    host = h.host()
    sam = h.join("Sam")
    h.send(sam, type="send", id="same", text="once")
    h.send(sam, type="send", id="same", text="once")
    assert [m.text for m in host.of(MessagePosted)] == ["once"]
    assert sam.inbox[-1].TYPE == "ack"


def test_rate_limit_refuses_with_retry_after_then_recovers() -> None:
    h = Harness(limits=Limits(message_burst=3, messages_per_minute=60))
    sam = h.join("Sam")
    for i in range(4):
        h.send(sam, type="send", id=f"c{i}", text="x")
    error = sam.last_error()
    assert error.code == "rate_limited" and error.ref == "c3"
    assert error.retry_after is not None and 0 < error.retry_after <= 1.0
    h.clock.now += 1.0
    h.send(sam, type="send", id="c4", text="again")
    assert sam.of(MessagePosted)[-1].text == "again"


def test_typing_is_throttled_and_cleared_by_a_message() -> None:
    h = Harness(limits=Limits(typing_interval=2.0))
    host = h.host()
    sam = h.join("Sam")
    for _ in range(10):
        h.send(sam, type="typing", active=True)
    assert len(host.of(TypingChanged)) == 1
    h.clock.now += 2.5
    h.send(sam, type="typing", active=True)
    assert len(host.of(TypingChanged)) == 2
    h.send(sam, type="send", id="c1", text="done")
    assert host.of(TypingChanged)[-1].active is False
    assert not sam.of(TypingChanged)  # nobody is told about their own typing


def test_reconnect_grace_then_timeout() -> None:
    h = Harness(resume_grace=30)
    host = h.host()
    sam = h.join("Sam")
    h.drop(sam)
    h.tick(5)  # away long enough to be announced
    assert host.of(ParticipantStatusChanged)[-1].status == "reconnecting"
    h.tick(24)
    assert not host.of(ParticipantLeft)
    h.tick(2)
    left = host.of(ParticipantLeft)[-1]
    assert left.name == "Sam" and left.reason == "timed_out"


def test_resume_replays_missed_events_and_keeps_identity() -> None:
    h = Harness()
    host = h.host()
    sam = h.join("Sam")
    w = welcome_of(sam)
    last = sam.inbox[-1].seq  # type: ignore[union-attr]
    h.drop(sam)
    h.tick(6)
    h.send(host, type="send", id="c1", text="while you were away")
    again = h.join("Sam", resume={"session": w.session, "last_seq": last})
    w2 = welcome_of(again)
    assert w2.resumed and w2.you.id == w.you.id and w2.history_complete
    replayed = [m for m in again.inbox[1:] if isinstance(m, MessagePosted)]
    assert [m.text for m in replayed] == ["while you were away"]
    assert host.of(ParticipantStatusChanged)[-1].status == "online"


def test_resume_too_far_back_reports_incomplete_history() -> None:
    h = Harness(history_capacity=10)
    host = h.host()
    sam = h.join("Sam")
    session = welcome_of(sam).session
    h.drop(sam)
    for i in range(20):
        h.send(host, type="send", id=f"c{i}", text=str(i))
    again = h.join("Sam", resume={"session": session, "last_seq": 2})
    assert welcome_of(again).history_complete is False


def test_a_second_connection_with_the_session_replaces_the_first() -> None:
    h = Harness()
    sam = h.join("Sam")
    session = welcome_of(sam).session
    twin = h.join("Sam", resume={"session": session, "last_seq": 0})
    assert sam.closed is not None and sam.closed.code == CloseCode.SESSION_REPLACED
    assert welcome_of(twin).resumed


def test_the_room_code_is_checked_before_anything_is_revealed() -> None:
    h = Harness(password="hunter2")
    host = h.host("Hana")
    # Without the room code the host key alone is not enough either: the exchange comes first.
    assert host.last_error().code == "handshake_required" and not host.of(Welcome)
    hana = h.join("Hana", address="127.0.0.1", host_key="HOSTKEY", password="hunter2")
    h.send(hana, type="send", id="c1", text="secret plans")
    wrong = h.join("Eve", password="guess")
    assert wrong.closed is not None and wrong.closed.code == CloseCode.AUTH_FAILED
    assert all(isinstance(m, ServerHello | AuthReply | ErrorMessage) for m in wrong.inbox)
    hello = wrong.of(ServerHello)[0]
    assert hello.room.password_required and "Hana" not in json.dumps(hello.__dict__, default=str)
    assert "secret plans" not in str(wrong.inbox)
    right = h.join("Sam", password="hunter2")
    assert welcome_of(right).you.name == "Sam"
    assert "secret plans" in [m.text for m in right.of(MessagePosted)]


def test_repeated_wrong_room_codes_are_slowed_down() -> None:
    h = Harness(password="pw", admission=AdmissionRules(failed_auth_limit=3))
    for _ in range(3):
        h.join("Eve", address="10.0.0.66", password="nope")
    blocked = h.join("Eve", address="10.0.0.66", password="pw")
    assert blocked.last_error().code == "too_many_attempts"
    assert welcome_of(h.join("Sam", address="10.0.0.7", password="pw"))  # others unaffected
    h.clock.now += 61
    assert welcome_of(h.join("Eve", address="10.0.0.66", password="pw"))


def test_wrong_host_key_is_refused() -> None:
    h = Harness()
    peer = h.join("Mallory", host_key="guess")
    assert peer.closed is not None and peer.closed.code == CloseCode.AUTH_FAILED


def test_guests_cannot_use_host_controls() -> None:
    h = Harness()
    host = h.host()
    sam = h.join("Sam")
    host_id = welcome_of(host).you.id
    for frame in (
        {"type": "kick", "participant": host_id},
        {"type": "lock", "locked": True},
        {"type": "set_max_participants", "max": 1},
        {"type": "close_room"},
    ):
        h.send(sam, **frame)
        assert sam.last_error().code == "not_allowed"
    assert host.closed is None and not h.room.closed


def test_kick_and_ban() -> None:
    h = Harness()
    host = h.host()
    sam = h.join("Sam", address="10.0.0.5")
    bob = h.join("Bob", address="10.0.0.6")
    h.send(host, type="kick", participant=welcome_of(sam).you.id)
    assert sam.closed is not None and sam.closed.code == CloseCode.KICKED
    assert host.of(ParticipantLeft)[-1].reason == "kicked"
    assert welcome_of(h.join("Sam", address="10.0.0.5"))  # a kick is not a ban
    h.send(host, type="kick", participant=welcome_of(bob).you.id, ban=True)
    assert bob.closed is not None and bob.closed.code == CloseCode.BANNED
    again = h.join("Bob again", address="10.0.0.6")
    assert again.last_error().code == "banned"
    assert welcome_of(h.host("Hana"))  # the host's own key still gets in


def test_lock_and_max_participants() -> None:
    h = Harness()
    host = h.host()
    h.send(host, type="lock", locked=True)
    assert host.of(RoomUpdated)[-1].room.locked
    assert h.join("Sam").closed.code == CloseCode.ROOM_LOCKED  # type: ignore[union-attr]
    h.send(host, type="lock", locked=False)
    h.send(host, type="set_max_participants", max=2)
    assert welcome_of(h.join("Sam"))
    full = h.join("Bob")
    assert full.closed is not None and full.closed.code == CloseCode.ROOM_FULL
    h.send(host, type="set_max_participants", max=0)
    assert host.last_error().code == "invalid_value"


def test_close_room_tells_everyone_then_disconnects() -> None:
    h = Harness()
    host = h.host()
    sam = h.join("Sam")
    h.send(host, type="close_room")
    assert sam.of(RoomClosed)[-1].reason == "closed_by_host"
    assert sam.closed is not None and sam.closed.code == CloseCode.ROOM_CLOSED
    assert h.room.history == () and h.room.participants == ()  # chat content dropped
    late = h.connect()
    assert late.closed is not None and late.closed.code == CloseCode.ROOM_CLOSED


def test_first_frame_must_be_hello() -> None:
    h = Harness()
    peer = h.connect()
    h.send(peer, type="send", id="c1", text="hi")
    assert peer.last_error().code == "handshake_required"
    assert peer.closed is not None


def test_incompatible_version_is_refused_clearly() -> None:
    h = Harness()
    peer = h.connect()
    h.send(peer, type="hello", protocol=99, name="Future")
    assert peer.last_error().code == "incompatible_version"
    assert peer.closed is not None and peer.closed.code == CloseCode.INCOMPATIBLE_VERSION


def test_handshake_timeout() -> None:
    h = Harness(handshake_timeout=5)
    peer = h.connect()
    h.tick(6)
    assert peer.closed is not None and peer.closed.code == CloseCode.HANDSHAKE_TIMEOUT


@pytest.mark.parametrize(
    "frame",
    ["{", "[]", '{"type":"warp"}', '{"type":"send","id":"x","text":5}', '{"type":"send"}'],
)
def test_bad_frames_after_join_get_an_error_and_the_room_carries_on(frame: str) -> None:
    h = Harness()
    host = h.host()
    sam = h.join("Sam")
    h.apply(h.room.receive(sam.conn, frame))
    assert sam.inbox[-1].TYPE == "error" and sam.closed is None
    h.send(sam, type="send", id="ok", text="still here")
    assert host.of(MessagePosted)[-1].text == "still here"


def test_a_flood_of_frames_disconnects_only_the_flooder() -> None:
    h = Harness(frame_burst=20, frames_per_second=10)
    host = h.host()
    sam = h.join("Sam")
    for _ in range(50):
        h.apply(h.room.receive(sam.conn, "garbage"))
    assert sam.closed is not None and sam.closed.code == CloseCode.FLOODING
    h.send(host, type="send", id="c1", text="room still works")
    assert host.of(MessagePosted)[-1].text == "room still works"


def test_drop_slow_disconnects_without_removing_the_participant() -> None:
    h = Harness()
    host = h.host()
    sam = h.join("Sam")
    h.apply(h.room.drop_slow(sam.conn))
    assert sam.closed is not None and sam.closed.code == CloseCode.TOO_SLOW
    h.tick(5)
    assert host.of(ParticipantStatusChanged)[-1].status == "reconnecting"
    assert any(p.name == "Sam" for p in h.room.participants)


def test_the_host_key_itself_never_crosses_the_wire() -> None:
    h = Harness()
    peer = h.connect("127.0.0.1")
    h.send(peer, type="hello", protocol=PROTOCOL_VERSION, name="Hana", host_proof="HOSTKEY")
    assert peer.closed is not None and peer.closed.code == CloseCode.AUTH_FAILED
    host = h.host()
    assert welcome_of(host).you.role == "host"


def test_too_many_connections_from_one_address() -> None:
    h = Harness(admission=AdmissionRules(max_connections_per_address=3))
    peers = [h.connect("10.0.0.66") for _ in range(4)]
    assert [p.closed is not None for p in peers] == [False, False, False, True]
    assert peers[-1].last_error().code == "too_many_connections"
    assert welcome_of(h.join("Sam", address="10.0.0.7"))  # other addresses unaffected


def test_a_restarted_room_has_a_new_instance() -> None:
    assert welcome_of(Harness().join("Sam")).instance != welcome_of(Harness().join("Sam")).instance


def test_without_shared_history_newcomers_see_only_what_follows() -> None:
    h = Harness(share_history=False)
    host = h.host()
    h.send(host, type="send", id="m1", text="before Sam came")
    sam = h.join("Sam")
    assert not welcome_of(sam).room.history_shared
    assert not sam.of(MessagePosted)
    h.send(host, type="send", id="m2", text="after Sam came")
    assert [m.text for m in sam.of(MessagePosted)] == ["after Sam came"]


def test_a_change_of_where_messages_go_is_announced_to_everyone() -> None:
    h = Harness(assistant=AssistantConfig(name="assistant", model="m", provider="OpenAI"))
    host = h.host()
    sam = h.join("Sam")
    h.send(host, type="configure_assistant", mode="always")
    notice = sam.of(Notice)[-1]
    assert notice.code == "assistant_mode" and "every message now goes to OpenAI" in notice.text
    h.send(host, type="configure_assistant", mode="always", persona="Be brief.")
    assert len(sam.of(Notice)) == 1  # nothing changed about where messages go
