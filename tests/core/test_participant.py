"""The participant's rules on plain values: frames and a fake clock in, actions out. No network.

Most tests feed a :class:`Participant` frames made by hand, to say exactly what a room sent;
a few join it to a real :class:`core.room.Room` (also free of I/O) through the codec, so resume
is checked against the room's own replay.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.admission import AdmissionRules
from core.codec import parse_client_frame, serialize
from core.pake import (
    RoomExchange,
    decode_confirmation,
    decode_message,
    encode_b64url,
)
from core.participant import (
    REPLAY_WAIT,
    Acknowledged,
    AttemptFailed,
    CertificateChanged,
    ClientEvent,
    Deliver,
    End,
    Ended,
    Joined,
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
)
from core.protocol import (
    ABILITIES,
    AUTH_NONE,
    AUTH_SPAKE2,
    PROTOCOL_VERSION,
    TERMINAL_CLOSE_CODES,
    Ack,
    AuthOffer,
    AuthReply,
    AuthStart,
    ClientMessage,
    CloseCode,
    ErrorMessage,
    Hello,
    Leave,
    Limits,
    MessagePosted,
    ParticipantInfo,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantStatusChanged,
    ResumeRequest,
    RoomClosed,
    RoomInfo,
    RoomPreview,
    RoomUpdated,
    SendMessage,
    ServerHello,
    ServerMessage,
    TypingChanged,
    Welcome,
    key_proof,
)
from core.wording import ENDED_WORDS
from tests.core.room_harness import Harness, Peer, welcome_of

INSTANCE = "run-1"
RELAXED = Limits(message_burst=1000, messages_per_minute=60_000)
HANA = ParticipantInfo("p1", "Hana", "host")
CODE = "1234 5678"
FINGERPRINT = bytes(range(32))  # of the certificate the room's connections present
NONCE_1 = bytes([1]) * 32
NONCE_2 = bytes([2]) * 32


def greeting(
    instance: str = INSTANCE,
    *,
    password_required: bool = False,
    protocol: int = PROTOCOL_VERSION,
    nonce: bytes = NONCE_1,
    methods: tuple[str, ...] | None = None,
) -> ServerHello:
    """A room's greeting, offering the methods a room of this version offers unless told."""
    room = RoomPreview("Room", password_required, instance=instance)
    if methods is None:
        methods = (AUTH_SPAKE2,) if password_required else (AUTH_NONE,)
    return ServerHello(protocol, ABILITIES, room, AuthOffer(methods, encode_b64url(nonce)))


def reply_to(
    start: ClientMessage,
    code: str = CODE,
    *,
    nonce: bytes = NONCE_1,
    fingerprint: bytes = FINGERPRINT,
) -> tuple[AuthReply, RoomExchange]:
    """What a room with ``code`` and the certificate ``fingerprint`` answers ``start``, and
    its side of the exchange (to check the guest's confirmation with)."""
    assert isinstance(start, AuthStart) and start.method == AUTH_SPAKE2
    room = RoomExchange(code, fingerprint, nonce)
    reply = room.respond(decode_message(start.message))
    answer = AuthReply(encode_b64url(reply.message), encode_b64url(reply.confirmation))
    return answer, room


def welcome(
    you: str = "p2",
    *,
    session: str = "session-1",
    resumed: bool = False,
    last_seq: int = 0,
    instance: str = INSTANCE,
    limits: Limits = RELAXED,
) -> Welcome:
    me = ParticipantInfo(you, "Sam", "guest")
    room = RoomInfo("Room", "Hana", 2, None, False, False, limits)
    return Welcome(
        you=me,
        session=session,
        resumed=resumed,
        room=room,
        participants=(HANA, me),
        last_seq=last_seq,
        replay_from=None,
        instance=instance,
    )


def said(
    seq: int, text: str = "hi", author: str = "p1", client_id: str | None = None
) -> MessagePosted:
    return MessagePosted(seq, 0.0, author, "Hana" if author == "p1" else "Sam", text, client_id)


class Driver:
    """One participant fed by hand, on a fake clock, with every action it returns recorded."""

    def __init__(self, *, jitter: Iterator[float] | None = None, **options: Any) -> None:
        """``jitter``: the draws for successive reconnect delays (by default always 1.0,
        the whole of each delay's cap)."""
        self.now = 1000.0
        draws = jitter or itertools.repeat(1.0)
        self.p = Participant("Sam", jitter=lambda: next(draws), **options)
        self.actions: list[ParticipantAction] = []

    def carry(self, actions: list[ParticipantAction]) -> list[ParticipantAction]:
        self.actions += actions
        return actions

    def frame(self, message: ServerMessage) -> list[ParticipantAction]:
        return self.carry(self.p.receive(serialize(message), self.now))

    def join(
        self, hello: ServerHello | None = None, reply: Welcome | None = None
    ) -> list[ParticipantAction]:
        """Open a connection, read the greeting and the welcome; the welcome's actions."""
        self.carry(self.p.opened())
        self.frame(hello or greeting())
        return self.frame(reply or welcome())

    def lose(self, code: int | None = 1006, reason: str = "") -> list[ParticipantAction]:
        return self.carry(self.p.connection_lost(code, reason, self.now))

    def fail(self, why: str = "nothing answered") -> list[ParticipantAction]:
        return self.carry(self.p.connection_failed(why, self.now))

    def post(self, text: str, message_id: str | None = None) -> list[ParticipantAction]:
        return self.carry(self.p.post(message_id or f"id-{text}", text, self.now))

    def advance(self, seconds: float) -> list[ParticipantAction]:
        self.now += seconds
        return self.carry(self.p.tick(self.now))

    def events(self) -> list[ClientEvent]:
        return events_in(self.actions)

    def sent(self) -> list[ClientMessage]:
        return sent_in(self.actions)


def events_in(actions: list[ParticipantAction]) -> list[ClientEvent]:
    """What reaches the app's event stream, in order (an End's Ended last)."""
    out: list[ClientEvent] = []
    for action in actions:
        if isinstance(action, Deliver):
            out.append(action.event)
        elif isinstance(action, End):
            out.append(action.ended)
    return out


def sent_in(actions: list[ParticipantAction]) -> list[ClientMessage]:
    return [parse_client_frame(a.text) for a in actions if isinstance(a, SendFrame)]


def texts_sent(actions: list[ParticipantAction]) -> list[str]:
    return [m.text for m in sent_in(actions) if isinstance(m, SendMessage)]


def seqs(events: list[ClientEvent]) -> list[int]:
    return [e.seq for e in events if isinstance(e, MessagePosted)]


def kinds(actions: list[ParticipantAction], kind: type[Any]) -> list[Any]:
    return [a for a in actions if isinstance(a, kind)]


# -- the handshake ------------------------------------------------------------------------


def test_hello_carries_the_host_proof_and_after_a_welcome_the_session_to_resume() -> None:
    d = Driver(host_key="HOSTKEY", client_name="tester")
    d.carry(d.p.opened())
    (hello,) = sent_in(d.frame(greeting(nonce=NONCE_1)))
    assert isinstance(hello, Hello)
    assert (hello.protocol, hello.name, hello.client) == (PROTOCOL_VERSION, "Sam", "tester")
    assert hello.auth is None  # a room without a room code
    assert hello.host_proof == key_proof("HOSTKEY", encode_b64url(NONCE_1))
    assert hello.resume is None  # nothing to resume yet

    actions = d.frame(welcome(session="s-1"))
    assert kinds(actions, Joined) == [Joined(welcome(session="s-1"))]
    assert d.p.connected and d.p.you is not None and d.p.you.id == "p2"
    assert set(d.p.participants) == {"p1", "p2"} and d.p.instance == INSTANCE
    for seq in (1, 2, 3):
        d.frame(said(seq))
    d.lose()
    d.carry(d.p.opened())
    (again,) = sent_in(d.frame(greeting(nonce=NONCE_2)))
    assert isinstance(again, Hello)
    assert again.resume == ResumeRequest(session="s-1", last_seq=3)
    assert again.host_proof == key_proof("HOSTKEY", encode_b64url(NONCE_2))  # one per nonce


def test_in_a_room_with_a_code_the_exchange_comes_before_anything_else() -> None:
    d = Driver(password="1234-5678", host_key="HOSTKEY")  # typed another way: the same code
    d.carry(d.p.opened(FINGERPRINT))
    (start,) = sent_in(d.frame(greeting(password_required=True)))
    assert isinstance(start, AuthStart) and start.method == AUTH_SPAKE2
    reply, room = reply_to(start)
    (hello,) = sent_in(d.frame(reply))
    assert isinstance(hello, Hello) and hello.name == "Sam"
    assert hello.auth is not None and hello.auth.method == AUTH_SPAKE2
    room.finish(decode_confirmation(hello.auth.confirmation))  # the room is convinced too
    assert hello.host_proof == key_proof("HOSTKEY", encode_b64url(NONCE_1))
    assert "1234" not in start.message + hello.auth.confirmation + str(hello)
    assert kinds(d.frame(welcome()), Joined)


def test_a_wrong_code_is_found_out_from_the_reply_and_no_hello_is_sent() -> None:
    d = Driver(password="1111 2222")
    d.carry(d.p.opened(FINGERPRINT))
    (start,) = sent_in(d.frame(greeting(password_required=True)))
    reply, _ = reply_to(start, CODE)
    actions = d.frame(reply)
    assert sent_in(actions) == []  # our name and session stay unsaid
    (failed,) = actions
    assert isinstance(failed, AttemptFailed) and isinstance(failed.error, JoinRefused)
    assert failed.error.code == "auth_failed"
    assert failed.error.message == "wrong room code, or this is not the room you think"
    assert [type(m) for m in d.sent()] == [AuthStart]
    assert d.p.ended is None and not d.p.connected  # a first attempt: the caller reports it


def test_a_relay_with_its_own_certificate_fails_even_with_the_right_code() -> None:
    """The guest binds the certificate its connection presented (the relay's); the room
    binds its own. Neither can check the other, so no hello goes through the relay."""
    d = Driver(password=CODE)
    d.carry(d.p.opened(bytes([0xEE]) * 32))  # the relay's certificate
    (start,) = sent_in(d.frame(greeting(password_required=True)))
    reply, _ = reply_to(start, CODE, fingerprint=FINGERPRINT)  # relayed from the real room
    (failed,) = d.frame(reply)
    assert isinstance(failed, AttemptFailed) and isinstance(failed.error, JoinRefused)
    assert failed.error.code == "auth_failed" and [type(m) for m in d.sent()] == [AuthStart]


def test_a_reply_for_another_nonce_is_refused() -> None:
    d = Driver(password=CODE)
    d.carry(d.p.opened(FINGERPRINT))
    (start,) = sent_in(d.frame(greeting(password_required=True, nonce=NONCE_1)))
    reply, _ = reply_to(start, CODE, nonce=NONCE_2)  # a reply made for another connection
    (failed,) = d.frame(reply)
    assert isinstance(failed, AttemptFailed) and isinstance(failed.error, JoinRefused)
    assert failed.error.code == "auth_failed" and [type(m) for m in d.sent()] == [AuthStart]


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        (AuthReply("QiirrgzjpfQ2BCKkNec2OLy6MQId4sBjC3kch8fMXvK2", "AAAA"), "bad_message"),
        (AuthReply("AAAA", "f8YdvoehYKmvDDI2DL_xyVmDTE4g_CoR85HAZm1UMfo"), "bad_message"),
        (ErrorMessage("too_many_attempts", "slow down", retry_after=12.0), "too_many_attempts"),
        (welcome(), "bad_message"),  # anything but the reply
    ],
)
def test_anything_but_a_good_reply_ends_the_attempt_without_a_hello(
    reply: ServerMessage, code: str
) -> None:
    d = Driver(password=CODE)
    d.carry(d.p.opened(FINGERPRINT))
    d.frame(greeting(password_required=True))
    (failed,) = d.frame(reply)
    assert isinstance(failed, AttemptFailed) and isinstance(failed.error, JoinRefused)
    assert failed.error.code == code
    assert [type(m) for m in d.sent()] == [AuthStart]
    if isinstance(reply, ErrorMessage):
        assert failed.error.retry_after == reply.retry_after


def test_a_code_that_is_no_code_is_refused_before_anything_is_sent() -> None:
    d = Driver(password=" - ")
    d.carry(d.p.opened(FINGERPRINT))
    (failed,) = d.frame(greeting(password_required=True))
    assert isinstance(failed, AttemptFailed) and isinstance(failed.error, JoinRefused)
    assert failed.error.code == "auth_failed" and "room code" in failed.error.message
    assert d.sent() == []


@pytest.mark.parametrize(
    "hello",
    [
        greeting(),  # "no room code needed"
        greeting(methods=(AUTH_NONE, "password-hmac-sha256")),
        greeting(methods=()),
    ],
    ids=["none", "none-or-unknown", "nothing"],
)
def test_with_a_code_a_room_that_needs_none_is_told_nothing(hello: ServerHello) -> None:
    """Anyone on the path can say the room needs no code; only the exchange proves the room
    holds ours. Before, the guest then sent its name, session token and host proof."""
    d = Driver(password=CODE, host_key="HOSTKEY")
    d.carry(d.p.opened(FINGERPRINT))
    (start,) = sent_in(d.frame(greeting(password_required=True)))
    d.frame(reply_to(start)[0])
    assert kinds(d.frame(welcome(session="s-1")), Joined)
    d.lose()  # a reconnect, with a session token to give away
    d.carry(d.p.opened(FINGERPRINT))
    sent_before = len(d.sent())
    actions = d.frame(hello)
    assert sent_in(actions) == [] and len(d.sent()) == sent_before
    (failed, *_) = actions
    assert isinstance(failed, AttemptFailed) and isinstance(failed.error, JoinRefused)
    assert failed.error.code == "auth_failed"
    assert "not be the room you think" in failed.error.message
    assert d.p.ended is not None and d.p.ended.reason == "refused"


def test_with_a_code_a_first_join_to_a_room_that_needs_none_sends_nothing() -> None:
    d = Driver(password=CODE)
    d.carry(d.p.opened(FINGERPRINT))
    (failed,) = d.frame(greeting())
    assert isinstance(failed, AttemptFailed) and isinstance(failed.error, JoinRefused)
    assert failed.error.code == "auth_failed" and d.sent() == []


def test_the_fingerprint_of_a_connection_must_be_a_sha256() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        Driver().p.opened(b"short")


@pytest.mark.parametrize(
    ("frame", "code", "words"),
    [
        (serialize(greeting(password_required=True)), "auth_failed", "needs a room code"),
        (
            serialize(greeting(protocol=PROTOCOL_VERSION - 1, password_required=True)),
            "incompatible_version",
            "this room runs an older GPT Group (protocol 1",
        ),
        (
            serialize(greeting(protocol=PROTOCOL_VERSION + 1)),
            "incompatible_version",
            "update this app",
        ),
        (
            serialize(greeting(password_required=True, methods=("password-hmac-sha256",))),
            "incompatible_version",
            "does not know (password-hmac-sha256)",
        ),
        (serialize(ErrorMessage("banned", "you are banned here")), "banned", "banned"),
        (serialize(welcome()), "bad_message", "greet"),  # not a greeting
        ("{not json", "bad_frame", "unreadable"),
    ],
)
def test_a_room_we_must_not_join_gets_no_hello(frame: str, code: str, words: str) -> None:
    d = Driver()
    d.carry(d.p.opened())
    actions = d.carry(d.p.receive(frame, d.now))
    assert sent_in(actions) == []
    (failed,) = actions  # a first attempt: whoever started it reports the error; no End
    assert isinstance(failed, AttemptFailed) and isinstance(failed.error, JoinRefused)
    assert failed.error.code == code and words in failed.error.message
    assert d.p.ended is None and not d.p.connected


def test_the_words_for_an_older_room_say_who_updates() -> None:
    d = Driver(password=CODE)
    d.carry(d.p.opened())
    v1 = ServerHello(
        1, ABILITIES, RoomPreview("Room", True), AuthOffer(("password-hmac-sha256",), "n" * 24)
    )
    (failed,) = d.frame(v1)
    assert isinstance(failed, AttemptFailed) and isinstance(failed.error, JoinRefused)
    assert failed.error.message.endswith("ask the host to update")


def test_a_refused_hello_and_an_unreachable_first_attempt_only_report() -> None:
    d = Driver()
    d.carry(d.p.opened())
    d.frame(greeting())
    (failed,) = d.frame(ErrorMessage("room_full", "the room is full"))
    assert isinstance(failed, AttemptFailed) and isinstance(failed.error, JoinRefused)
    assert failed.error.code == "room_full"
    (failed,) = d.fail("cannot reach a room at ws://192.0.2.1/: refused")
    assert isinstance(failed, AttemptFailed) and isinstance(failed.error, RoomUnreachable)
    assert d.events() == [] and d.p.ended is None
    assert kinds(d.join(), Joined)  # and it may try again


# -- resume and de-duplication -------------------------------------------------------------


def test_an_event_delivered_before_is_dropped_and_order_kept() -> None:
    d = Driver()
    d.join()
    for seq in (1, 2, 2, 3, 1, 3):
        d.frame(said(seq, f"m{seq}"))
    assert seqs(d.events()) == [1, 2, 3]
    d.lose()
    d.carry(d.p.opened())
    d.frame(greeting())
    d.frame(welcome(resumed=True, last_seq=5))
    for seq in (2, 3, 4, 5, 4):  # a replay that overlaps what we had
        d.frame(said(seq, f"m{seq}"))
    assert seqs(d.events()) == [1, 2, 3, 4, 5]
    assert d.p.last_seq == 5


def test_a_resume_is_announced_before_the_replay() -> None:
    d = Driver()
    d.join()
    d.frame(said(1))
    d.lose()
    assert isinstance(d.events()[-1], Reconnecting)
    d.carry(d.p.opened())
    d.frame(greeting())
    actions = d.frame(welcome(resumed=True, last_seq=2))
    assert isinstance(actions[0], Joined)
    assert events_in(actions) == [Resumed(True, True, welcome().you)]
    d.frame(said(2))
    assert seqs(d.events()) == [1, 2]


def test_non_sequenced_frames_are_delivered_and_unreadable_ones_ignored() -> None:
    d = Driver()
    d.join()
    typing = TypingChanged("p1", True)
    d.frame(typing)
    d.carry(d.p.receive('{"type": "summon_dragon"}', d.now))
    d.frame(greeting())  # out of place: ignored
    assert d.events() == [typing]


# -- the instance --------------------------------------------------------------------------


def test_a_restarted_room_is_not_rejoined() -> None:
    d = Driver()
    d.join()
    d.frame(said(1))
    d.post("queued")
    d.lose()
    d.carry(d.p.opened())
    actions = d.frame(greeting(instance="run-2"))
    assert sent_in(actions) == []  # no hello: we never join the new room by ourselves
    failed, end = actions
    assert isinstance(failed, AttemptFailed) and isinstance(failed.error, RoomRestarted)
    assert isinstance(end, End) and end.ended.reason == "restarted"
    assert end.ended.new_room == greeting(instance="run-2").room
    assert d.p.ended == end.ended and not d.p.connected
    assert kinds(d.actions, ScheduleReconnect)[-1:] == [ScheduleReconnect(0.25)]  # none after
    with pytest.raises(NotConnected):
        d.post("too late")


def test_another_certificate_on_reconnecting_ends_the_client_without_rejoining() -> None:
    d = Driver()
    d.join()
    d.post("queued")
    d.lose()
    assert kinds(d.actions, ScheduleReconnect)
    actions = d.carry(d.p.certificate_changed(d.now))  # the adapter found it, before any frame
    failed, end = actions
    assert isinstance(failed, AttemptFailed) and isinstance(failed.error, CertificateChanged)
    assert isinstance(end, End) and end.ended.reason == "certificate_changed"
    assert end.ended.message == ENDED_WORDS["certificate_changed"]
    assert "impersonating" in end.ended.message and "not rejoined" in end.ended.message
    assert [q.text for q in end.ended.unconfirmed] == ["queued"]  # it went out, then the drop
    assert d.p.ended == end.ended and not d.p.connected
    assert kinds(d.actions, ScheduleReconnect)[-1:] == [ScheduleReconnect(0.25)]  # none after
    assert d.carry(d.p.opened()) == [] and d.frame(greeting()) == []  # nothing more happens
    assert d.p.certificate_changed(d.now) == []


def test_another_run_named_only_in_the_welcome_numbers_from_the_start() -> None:
    d = Driver()
    d.join()
    for seq in (1, 2, 3):
        d.frame(said(seq))
    d.lose()
    d.carry(d.p.opened())
    d.frame(greeting(instance=""))  # a greeting that names no run
    d.frame(welcome(instance="run-2"))
    d.frame(said(1, "new room's first"))
    assert seqs(d.events()) == [1, 2, 3, 1]
    assert d.p.instance == "run-2"


# -- confirmations -------------------------------------------------------------------------


def test_a_message_is_confirmed_by_its_event_an_ack_or_a_refusal() -> None:
    d = Driver()
    d.join()
    for text in ("one", "two", "three", "four"):
        d.post(text)
    assert texts_sent(d.actions) == ["one", "two", "three", "four"]
    assert [q.text for q in d.p.pending] == ["one", "two", "three", "four"]
    d.frame(said(1, "one", author="p2", client_id="id-one"))  # our own event
    d.frame(said(2, "two", author="p1", client_id="id-two"))  # someone else's: not ours
    d.frame(Ack(id="id-two", seq=5))  # a repeat the room had already posted
    assert d.events()[-1] == Acknowledged("id-two", 5)
    d.frame(ErrorMessage("text_too_long", "too long", ref="id-three"))
    assert [q.text for q in d.p.pending] == ["four"]
    assert d.events()[-1] == SendFailed("id-three", "text_too_long", "too long", text="three")
    not_ours = ErrorMessage("not_allowed", "no", ref="someone-elses")
    d.frame(not_ours)
    assert d.events()[-1] == not_ours  # an error about something else is shown as it is


def test_rate_limited_is_sent_again_after_retry_after() -> None:
    d = Driver()
    d.join()
    d.post("hasty")
    d.frame(ErrorMessage("rate_limited", "too fast", ref="id-hasty", retry_after=2.0))
    assert d.p.next_wakeup == d.now + 2.0
    assert texts_sent(d.advance(1.9)) == []
    assert texts_sent(d.advance(0.1)) == ["hasty"]
    assert not any(isinstance(e, SendFailed) for e in d.events())


def test_sends_are_paced_below_the_rooms_rate() -> None:
    d = Driver()
    d.join(reply=welcome(limits=Limits(message_burst=4, messages_per_minute=60)))
    for i in range(6):
        d.post(f"line {i}")
    assert texts_sent(d.actions) == ["line 0", "line 1", "line 2"]  # one below the burst
    wait = (d.p.next_wakeup or 0) - d.now
    assert wait == pytest.approx(1 / 0.9)  # 90% of one a second
    assert texts_sent(d.advance(wait)) == ["line 3"]


def test_nothing_is_sent_while_not_connected_and_all_goes_again_on_resume() -> None:
    d = Driver()
    d.join()
    d.post("a")
    d.lose()
    d.post("b")
    assert texts_sent(d.actions) == ["a"]
    d.carry(d.p.opened())
    d.frame(greeting())
    assert texts_sent(d.frame(welcome(resumed=True))) == ["a", "b"]  # the room drops repeats


def test_a_message_posted_under_an_earlier_identity_counts_as_confirmed() -> None:
    d = Driver()
    d.join(reply=welcome(you="p2"))
    d.post("did this arrive?")
    d.lose()
    d.carry(d.p.opened())
    d.frame(greeting())
    d.frame(welcome(you="p7", resumed=False, last_seq=1))  # the room forgot us
    d.frame(said(1, "did this arrive?", author="p2", client_id="id-did this arrive?"))
    assert d.p.pending == []
    assert texts_sent(d.actions) == ["did this arrive?"]  # sent once, never again


def test_message_limits_are_checked_before_queueing() -> None:
    d = Driver()
    d.join(reply=welcome(limits=Limits(max_text_chars=10)))
    with pytest.raises(MessageTooLarge):
        d.post("x" * 11)
    assert d.p.pending == []


# -- the replay wait -----------------------------------------------------------------------


def resumed_with_unconfirmed(room_last_seq: int) -> Driver:
    d = Driver()
    d.join()
    d.frame(said(1))
    d.post("mine")
    d.lose()
    d.carry(d.p.opened())
    d.frame(greeting())
    d.frame(welcome(resumed=True, last_seq=room_last_seq))
    return d


def test_unconfirmed_messages_wait_for_the_replay_before_going_again() -> None:
    d = resumed_with_unconfirmed(room_last_seq=3)
    assert texts_sent(d.actions) == ["mine"]  # only the first time
    assert texts_sent(d.frame(said(2))) == []
    assert texts_sent(d.frame(said(3))) == ["mine"]  # caught up: now it goes again


def test_the_replay_wait_is_bounded() -> None:
    d = resumed_with_unconfirmed(room_last_seq=3)
    assert d.p.next_wakeup == d.now + REPLAY_WAIT
    assert texts_sent(d.advance(REPLAY_WAIT - 0.01)) == []
    assert texts_sent(d.advance(0.01)) == ["mine"]


# -- reconnecting --------------------------------------------------------------------------


def attempts_until_the_end(d: Driver) -> list[float]:
    """Fail every attempt the participant schedules, on time; the delays it asked for."""
    delays = []
    while d.p.ended is None:
        schedule = kinds(d.actions, ScheduleReconnect)[-1]
        delays.append(schedule.delay)
        d.now += schedule.delay
        d.fail()
    return delays


def test_backoff_doubles_to_its_cap_and_gives_up_after_120_seconds() -> None:
    d = Driver()  # the whole cap each time
    d.join()
    d.lose()
    delays = attempts_until_the_end(d)
    assert delays[:6] == [0.25, 0.5, 1.0, 2.0, 4.0, 5.0]
    assert set(delays[5:]) == {5.0}
    assert sum(delays) <= 120.0 < sum(delays) + 5.0  # the next wait would pass 120 s
    reconnecting = [e for e in d.events() if isinstance(e, Reconnecting)]
    assert [r.attempt for r in reconnecting] == list(range(1, len(delays) + 1))
    assert [r.delay for r in reconnecting] == delays
    assert reconnecting[0].reason == "connection lost (1006)"
    assert reconnecting[1].reason == "nothing answered"
    ended = d.events()[-1]
    assert isinstance(ended, Ended) and ended.reason == "unreachable"


def test_jitter_comes_from_the_source_given() -> None:
    d = Driver(jitter=iter([0.0, 0.5, 1.0]))
    d.join()
    d.lose()
    d.now += 0.125
    d.fail()
    d.now += 0.375
    d.fail()
    assert [s.delay for s in kinds(d.actions, ScheduleReconnect)] == [0.125, 0.375, 1.0]
    policy = ReconnectPolicy()
    assert 0.125 <= policy.delay(1) <= 0.25  # the one-argument form draws its own


def test_a_custom_policy_gives_up_sooner() -> None:
    d = Driver(policy=ReconnectPolicy(initial_delay=0.05, max_delay=0.1, give_up_after=0.6))
    d.join()
    d.lose()
    assert sum(attempts_until_the_end(d)) <= 0.6


@pytest.mark.parametrize(("retry_after", "wait"), [(30.0, 30.0), (None, 5.0), (300.0, 60.0)])
def test_flooding_retry_after_is_honoured(retry_after: float | None, wait: float) -> None:
    d = Driver()
    d.join()
    d.lose()
    d.now += 0.25
    d.carry(d.p.opened())
    actions = d.frame(ErrorMessage("flooding", "slow down", retry_after=retry_after))
    assert isinstance(actions[0], AttemptFailed)
    assert events_in(actions) == [Reconnecting(2, wait, "slow down")]
    assert kinds(actions, ScheduleReconnect) == [ScheduleReconnect(wait)]
    d.now += wait
    actions = d.fail()
    if 0.25 + 2 * wait <= 120.0:  # later attempts keep waiting as told...
        assert kinds(actions, ScheduleReconnect) == [ScheduleReconnect(wait)]
    else:  # ...and the give-up still holds
        assert isinstance(actions[-1], End) and actions[-1].ended.reason == "unreachable"


@pytest.mark.parametrize("code", sorted(TERMINAL_CLOSE_CODES))
def test_terminal_close_codes_end_without_retrying(code: int) -> None:
    d = Driver()
    d.join()
    actions = d.lose(code, "bye")
    (end,) = actions
    assert isinstance(end, End) and end.ended.close_code == code and end.ended.message == "bye"
    expected = {
        CloseCode.NORMAL: "left",
        CloseCode.ROOM_CLOSED: "closed_by_host",
        CloseCode.KICKED: "kicked",
        CloseCode.BANNED: "banned",
        CloseCode.SESSION_REPLACED: "replaced",
    }.get(CloseCode(code), "refused")
    assert end.ended.reason == expected
    assert not kinds(d.actions, ScheduleReconnect)


@pytest.mark.parametrize("code", [None, 1001, 1006, 1011, CloseCode.TOO_SLOW])
def test_other_losses_are_retried(code: int | None) -> None:
    d = Driver()
    d.join()
    actions = d.lose(code)
    assert kinds(actions, ScheduleReconnect) == [ScheduleReconnect(0.25)]
    assert d.p.ended is None


def test_a_shutdown_announced_before_the_close_is_reported_as_such() -> None:
    d = Driver()
    d.join()
    d.frame(RoomClosed(1, 0.0, "host_shutdown"))
    (end,) = d.lose(CloseCode.ROOM_CLOSED, "")
    assert isinstance(end, End)
    assert (end.ended.reason, end.ended.message) == (
        "host_shutdown",
        "the room closed the connection",
    )


@pytest.mark.parametrize(
    ("code", "reason"),
    [("banned", "banned"), ("room_closed", "closed_by_host"), ("room_full", "refused")],
)
def test_a_refusal_on_reconnecting_ends(code: str, reason: str) -> None:
    d = Driver()
    d.join()
    d.lose()
    d.carry(d.p.opened())
    d.frame(greeting())
    actions = d.frame(ErrorMessage(code, "no"))
    assert isinstance(actions[0], AttemptFailed)
    assert isinstance(actions[-1], End) and actions[-1].ended.reason == reason


# -- the mirror and leaving ----------------------------------------------------------------


def test_the_mirror_follows_the_room() -> None:
    d = Driver()
    d.join()
    bob = ParticipantInfo("p3", "Bob", "guest")
    d.frame(ParticipantJoined(1, 0.0, bob))
    d.frame(ParticipantStatusChanged(2, 0.0, "p3", "reconnecting", moved=True))
    assert d.p.participants["p3"] == ParticipantInfo("p3", "Bob", "guest", "reconnecting", True)
    d.frame(ParticipantLeft(3, 0.0, "p3", "Bob", "left"))
    assert set(d.p.participants) == {"p1", "p2"}
    locked = RoomInfo("Room", "Hana", 2, None, True, False, RELAXED)
    d.frame(RoomUpdated(4, 0.0, locked))
    assert d.p.room == locked


def test_leaving_sends_leave_and_a_lost_connection_is_not_retried() -> None:
    d = Driver()
    d.join()
    goodbye = d.p.leave()
    assert goodbye is not None and parse_client_frame(goodbye.text) == Leave()
    assert d.lose(CloseCode.NORMAL) == []
    (end,) = d.carry(d.p.left())
    assert isinstance(end, End) and end.ended.reason == "left"
    assert d.p.left() == []  # ends once
    assert d.p.leave() is None and d.p.typing(True) is None


def test_requests_need_a_live_connection() -> None:
    d = Driver()
    with pytest.raises(NotConnected):
        d.p.command(Leave())
    d.join()
    assert parse_client_frame(d.p.command(Leave()).text) == Leave()
    d.lose()
    with pytest.raises(NotConnected):
        d.p.command(Leave())


# -- against a real room -------------------------------------------------------------------


class Link:
    """A participant connected to a real Room through the codec, on the room's fake clock."""

    def __init__(self, harness: Harness, participant: Participant) -> None:
        self.harness = harness
        self.p = participant
        self.peer: Peer | None = None
        self.deaf = False  # the room's frames are lost on the way
        self.actions: list[ParticipantAction] = []

    @property
    def now(self) -> float:
        return self.harness.clock.now

    def open(self, fingerprint: bytes = bytes(32)) -> None:
        """Connect; ``fingerprint``: the certificate this connection presents to the guest
        (the harness's room binds all zeros)."""
        self.peer = self.harness.connect()
        self.carry(self.p.opened(fingerprint))
        self.flush()

    def carry(self, actions: list[ParticipantAction]) -> None:
        self.actions += actions
        for action in actions:
            if isinstance(action, SendFrame) and self.peer is not None:
                self.harness.apply(self.harness.room.receive(self.peer.conn, action.text))
            elif isinstance(action, AttemptFailed) and self.peer is not None:
                self.harness.drop(self.peer)
                self.peer = None

    def flush(self) -> None:
        """Hand the participant what the room sent it until both are quiet."""
        while self.peer is not None and self.peer.inbox:
            message = self.peer.inbox.pop(0)
            if not self.deaf:
                self.carry(self.p.receive(serialize(message), self.now))
        if self.peer is not None and self.peer.closed is not None:
            closed, self.peer = self.peer.closed, None
            self.carry(self.p.connection_lost(closed.code, closed.reason, self.now))

    def cut(self) -> None:
        assert self.peer is not None
        self.harness.drop(self.peer)
        self.peer = None
        self.carry(self.p.connection_lost(1006, "", self.now))

    def reconnect(self) -> None:
        self.harness.tick(kinds(self.actions, ScheduleReconnect)[-1].delay)
        self.open()

    def post(self, text: str) -> None:
        self.carry(self.p.post(f"id-{text}", text, self.now))
        self.flush()

    def events(self) -> list[ClientEvent]:
        return events_in(self.actions)


def hana_says(harness: Harness, hana: Peer, text: str) -> None:
    harness.send(hana, type="send", id=f"h-{text}", text=text)


def test_resume_against_the_room_loses_and_repeats_nothing() -> None:
    room = Harness()
    hana = room.host()
    sam = Link(room, Participant("Sam", jitter=lambda: 1.0))
    sam.open()
    hana_says(room, hana, "before")
    sam.flush()
    sam.cut()
    for i in range(3):
        hana_says(room, hana, f"missed {i}")
    sam.post("typed while offline")
    assert texts_sent(sam.actions) == []
    sam.reconnect()
    resumed = next(e for e in sam.events() if isinstance(e, Resumed))
    assert resumed.resumed and resumed.history_complete
    hana_says(room, hana, "after")
    sam.flush()
    expected = ["before", "missed 0", "missed 1", "missed 2", "typed while offline", "after"]
    assert [e.text for e in sam.events() if isinstance(e, MessagePosted)] == expected
    assert [m.text for m in hana.of(MessagePosted)] == expected
    assert seqs(sam.events()) == sorted(set(seqs(sam.events())))
    assert sam.p.pending == []


def test_every_connection_to_a_room_with_a_code_runs_the_exchange_and_resume_still_works() -> None:
    # One guess per address per minute: a right code that were not refunded would block the
    # reconnect.
    room = Harness(password=CODE, admission=AdmissionRules(failed_auth_limit=1))
    hana = room.join("Hana", address="127.0.0.1", host_key="HOSTKEY", password=CODE)
    sam = Link(room, Participant("Sam", jitter=lambda: 1.0, password="12345678"))
    sam.open()
    assert sam.p.connected and welcome_of(hana).you.role == "host"
    hana_says(room, hana, "before")
    sam.flush()
    sam.cut()
    hana_says(room, hana, "missed")
    sam.reconnect()
    resumed = next(e for e in sam.events() if isinstance(e, Resumed))
    assert resumed.resumed and resumed.history_complete
    kinds_sent = [type(m).__name__ for m in sent_in(sam.actions)]
    assert kinds_sent == ["AuthStart", "Hello", "AuthStart", "Hello"]
    hellos = [m for m in sent_in(sam.actions) if isinstance(m, Hello)]
    assert hellos[1].resume is not None and hellos[1].auth is not None
    assert hellos[0].auth != hellos[1].auth  # a confirmation for each connection
    assert [e.text for e in sam.events() if isinstance(e, MessagePosted)] == ["before", "missed"]


def test_a_wrong_code_tells_the_room_nothing_about_us() -> None:
    room = Harness(password=CODE)
    hana = room.join("Hana", address="127.0.0.1", host_key="HOSTKEY", password=CODE)
    eve = Link(room, Participant("Evelyn", jitter=lambda: 1.0, password="1111 2222"))
    eve.open()
    (failed,) = kinds(eve.actions, AttemptFailed)
    assert isinstance(failed.error, JoinRefused) and failed.error.code == "auth_failed"
    assert [type(m) for m in sent_in(eve.actions)] == [AuthStart]  # no hello, no name
    assert [p.name for p in room.room.participants] == ["Hana"]
    assert not any("Evelyn" in str(m) for m in hana.inbox)


def test_a_message_whose_echo_was_lost_is_posted_once_even_if_the_room_forgot_us() -> None:
    room = Harness(resume_grace=1.0)
    hana = room.host()
    sam = Link(room, Participant("Sam", jitter=lambda: 1.0))
    sam.open()
    old_id = sam.p.you.id if sam.p.you else ""
    sam.deaf = True  # the room posts it; Sam never hears back
    sam.post("did this arrive?")
    sam.deaf = False
    sam.cut()
    room.tick(5.0)  # past the grace: the room forgets Sam's session
    sam.reconnect()
    resumed = next(e for e in sam.events() if isinstance(e, Resumed))
    assert not resumed.resumed and resumed.you.id != old_id
    assert [m.text for m in hana.of(MessagePosted)] == ["did this arrive?"]
    assert texts_sent(sam.actions) == ["did this arrive?"]  # never sent again
    assert sam.p.pending == []


def test_a_room_that_says_resuming_too_often_is_waited_for_as_it_asks() -> None:
    rules = AdmissionRules(session_resume_burst=1, session_resumes_per_minute=2)
    room = Harness(admission=rules, resume_grace=600.0)
    room.host()
    sam = Link(room, Participant("Sam", jitter=lambda: 1.0))
    sam.open()
    sam.cut()
    sam.reconnect()
    assert isinstance(sam.events()[-1], Resumed)  # the first resume is welcome
    sam.cut()
    sam.reconnect()
    assert isinstance(sam.actions[-1], ScheduleReconnect)  # the second comes too soon
    refused = kinds(sam.actions, AttemptFailed)[-1].error
    assert isinstance(refused, JoinRefused) and refused.code == "flooding"
    assert refused.retry_after is not None and refused.retry_after > ReconnectPolicy().max_delay
    assert kinds(sam.actions, ScheduleReconnect)[-1].delay == refused.retry_after
    sam.reconnect()
    assert sam.p.connected and sam.p.ended is None
    assert [e.resumed for e in sam.events() if isinstance(e, Resumed)] == [True, True]


# -- any story a room can tell -------------------------------------------------------------

sequenced = st.builds(
    lambda kind, seq: said(seq) if kind else ParticipantStatusChanged(seq, 0.0, "p1", "online"),
    st.booleans(),
    st.integers(1, 40),
)
story_steps = st.lists(
    st.one_of(
        sequenced.map(lambda event: ("event", event)),
        st.integers(1, 40).map(lambda seq: ("frame", Ack(id="x", seq=seq))),
        st.booleans().map(lambda active: ("frame", TypingChanged("p1", active))),
        st.text(max_size=12).map(lambda junk: ("junk", junk)),
        st.integers(0, 40).map(lambda last_seq: ("blip", last_seq)),
    ),
    max_size=80,
)


@given(story_steps)
def test_any_story_delivers_each_seq_at_most_once_and_in_order(
    steps: list[tuple[str, Any]],
) -> None:
    d = Driver()
    d.join()
    fed: list[int] = []
    for kind, value in steps:
        if kind == "event":
            fed.append(value.seq)
            d.frame(value)
        elif kind == "frame":
            d.frame(value)
        elif kind == "junk":
            d.carry(d.p.receive(value, d.now))
        else:  # the connection drops and is resumed; the room replays what it likes
            d.lose()
            d.now += 1.0
            d.carry(d.p.opened())
            (hello,) = sent_in(d.frame(greeting()))
            assert isinstance(hello, Hello) and hello.resume is not None
            assert hello.resume.last_seq == d.p.last_seq
            d.frame(welcome(resumed=True, last_seq=value))
    delivered = [
        e.seq for e in d.events() if isinstance(e, MessagePosted | ParticipantStatusChanged)
    ]
    assert delivered == sorted(set(delivered))  # at most once each, in increasing order
    expected, highest = [], 0
    for seq in fed:  # and exactly those above everything delivered before them
        if seq > highest:
            expected.append(seq)
            highest = seq
    assert delivered == expected
    assert d.p.ended is None


@given(
    st.lists(
        st.tuples(st.sampled_from(["post", "event", "ack", "refuse", "lose"]), st.integers(0, 7)),
        max_size=40,
    )
)
def test_every_message_typed_is_settled_exactly_once(steps: list[tuple[str, int]]) -> None:
    """The client is the one owner of an unconfirmed message: the app learns of it once
    (``Queued``) and then of exactly one outcome, the room's event, an ``ack``, a refusal,
    or the end that lists it as never sent or unconfirmed, whatever the room says in
    whatever order. Ids come from one small pool, so the room's frames name them often."""
    d = Driver()
    d.join()
    seq = 1
    posted: set[str] = set()
    for step, n in steps:
        message_id = f"id-{n}"
        match step:
            case "post" if message_id not in posted:  # a client never reuses an id
                posted.add(message_id)
                d.post(f"m{n}", message_id=message_id)
            case "event":
                seq += 1
                d.frame(said(seq, "x", author="p2", client_id=message_id))
            case "ack":
                d.frame(Ack(id=message_id, seq=seq))
            case "refuse":
                d.frame(ErrorMessage("text_too_long", "too long", ref=message_id))
            case "lose":
                d.lose()
                d.carry(d.p.opened())
                d.frame(greeting())
                d.frame(welcome(resumed=True, last_seq=seq))
    d.carry(d.p.left())
    waiting: set[str] = set()  # queued and not yet settled, as the app sees it
    for e in d.events():
        match e:
            case Queued(id=cid):
                assert cid not in waiting
                waiting.add(cid)
            case MessagePosted(author="p2", client_id=str(cid)):
                waiting.discard(cid)  # the room's event (it may repeat after a resume)
            case Acknowledged(id=cid) | SendFailed(id=cid):
                waiting.remove(cid)  # KeyError: an outcome for a message already settled
            case Ended(unsent=unsent, unconfirmed=unconfirmed):
                ids = [q.id for q in (*unsent, *unconfirmed)]
                assert sorted(ids) == sorted(waiting)  # each once, in one list or the other
                waiting.clear()
    assert not waiting


def test_the_end_tells_messages_that_never_left_from_those_whose_fate_is_unknown() -> None:
    """A message written to a connection that then dropped may have been posted: the end
    says so (``unconfirmed``) instead of calling it not sent."""
    d = Driver()
    d.join()
    d.post("went out")  # written, then the connection drops before any answer
    d.lose()
    d.post("typed while away")  # never written
    d.carry(d.p.left())
    ended = d.events()[-1]
    assert isinstance(ended, Ended)
    assert [q.text for q in ended.unconfirmed] == ["went out"]
    assert [q.text for q in ended.unsent] == ["typed while away"]
