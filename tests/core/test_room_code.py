"""The room's side of the room-code exchange (protocol 2), on plain values with a fake clock:
what it answers, what it refuses, and how it counts guesses. The guest's side is in
``test_participant.py``; the exchange itself in ``test_pake.py``."""

from __future__ import annotations

import pytest

from core.admission import AdmissionRules
from core.pake import GuestExchange, InvalidRoomCode, decode_nonce, encode_b64url
from core.protocol import (
    AUTH_SPAKE2,
    PROTOCOL_VERSION,
    AuthReply,
    CloseCode,
    ServerHello,
    Welcome,
)
from core.room import Room, RoomConfig
from tests.core.room_harness import Harness, Peer, welcome_of

CODE = "1234 5678"
ROOM_FINGERPRINT = bytes(range(32))
RELAY_FINGERPRINT = bytes([0xEE]) * 32


def joined(peer: Peer) -> bool:
    return bool(peer.of(Welcome)) and peer.closed is None


def refused_with(peer: Peer, code: str, close: CloseCode) -> bool:
    return peer.last_error().code == code and peer.closed is not None and peer.closed.code == close


def start(h: Harness, peer: Peer, code: str = CODE) -> None:
    """Send an ``auth_start`` for ``code`` on ``peer`` and say nothing more."""
    guest = GuestExchange(code, bytes(32), decode_nonce(peer.nonce))
    h.send(peer, type="auth_start", method=AUTH_SPAKE2, message=encode_b64url(guest.start()))


def test_a_room_with_a_code_offers_the_exchange_and_a_fresh_nonce_each_time() -> None:
    h = Harness(password=CODE)
    first, second = h.connect(), h.connect()
    greeting = first.of(ServerHello)[0]
    assert greeting.protocol == PROTOCOL_VERSION == 2
    assert greeting.room.password_required and greeting.auth.methods == (AUTH_SPAKE2,)
    assert len(decode_nonce(first.nonce)) == 32 and first.nonce != second.nonce
    assert Harness().connect().of(ServerHello)[0].auth.methods == ("none",)


def test_the_right_code_joins_however_it_is_typed() -> None:
    h = Harness(password=CODE, fingerprint=ROOM_FINGERPRINT)
    for typed in ("1234 5678", "12345678", "１２３４-５６７８"):
        peer = h.join("Sam", password=typed, fingerprint=ROOM_FINGERPRINT)
        assert joined(peer), typed
        assert [type(m) for m in peer.inbox][:3] == [ServerHello, AuthReply, Welcome]


def test_a_wrong_confirmation_is_refused_and_the_room_learns_no_name() -> None:
    h = Harness(password=CODE)
    hana = h.join("Hana", address="127.0.0.1", host_key="HOSTKEY", password=CODE)
    eve = h.join("Eve", password="1111 2222")  # says hello anyway, as a guesser may
    assert refused_with(eve, "auth_failed", CloseCode.AUTH_FAILED)
    assert [p.name for p in h.room.participants] == ["Hana"]
    assert not any("Eve" in str(m) for m in hana.inbox)
    # The right code, but a confirmation changed on the way.
    sam = h.connect()
    confirmation = h.exchange(sam, CODE)
    assert confirmation is not None
    tampered = ("B" if confirmation[0] == "A" else "A") + confirmation[1:]
    h.send(
        sam,
        type="hello",
        protocol=PROTOCOL_VERSION,
        name="Sam",
        auth={"method": AUTH_SPAKE2, "confirmation": tampered},
    )
    assert refused_with(sam, "auth_failed", CloseCode.AUTH_FAILED)


@pytest.mark.parametrize(
    "auth",
    [None, {"method": "none"}, {"method": "password-hmac-sha256", "confirmation": "AAAA"}],
)
def test_a_hello_without_the_confirmation_is_refused(auth: dict[str, str] | None) -> None:
    h = Harness(password=CODE)
    peer = h.connect()
    start(h, peer)
    assert peer.of(AuthReply)
    hello = {"auth": auth} if auth is not None else {}
    h.send(peer, type="hello", protocol=PROTOCOL_VERSION, name="Sam", **hello)
    assert refused_with(peer, "auth_failed", CloseCode.AUTH_FAILED)


def test_a_relay_in_the_middle_cannot_complete_a_join_even_with_the_right_code() -> None:
    """The guest bound the relay's certificate, the room its own: the guest cannot verify the
    room's confirmation (so an honest guest stops), and nothing it could send verifies."""
    h = Harness(password=CODE, fingerprint=ROOM_FINGERPRINT)
    peer = h.join("Sam", password=CODE, fingerprint=RELAY_FINGERPRINT)
    assert refused_with(peer, "auth_failed", CloseCode.AUTH_FAILED)
    assert h.room.participants == ()
    assert joined(h.join("Sam", password=CODE, fingerprint=ROOM_FINGERPRINT))


def test_a_room_made_without_a_fingerprint_binds_all_zeros() -> None:
    h = Harness(password=CODE)
    assert not joined(h.join("Sam", password=CODE, fingerprint=ROOM_FINGERPRINT))
    assert joined(h.join("Sam", password=CODE))


def test_hello_first_in_a_room_with_a_code_is_refused_as_out_of_order() -> None:
    h = Harness(password=CODE)
    peer = h.join("Sam")
    assert refused_with(peer, "handshake_required", CloseCode.PROTOCOL_ERROR)
    assert "auth_start" in peer.last_error().message


def test_auth_start_in_a_room_without_a_code_is_refused_as_out_of_order() -> None:
    h = Harness()
    peer = h.connect()
    start(h, peer)
    assert refused_with(peer, "handshake_required", CloseCode.PROTOCOL_ERROR)
    assert not peer.of(AuthReply)


def test_a_second_auth_start_is_refused_as_out_of_order() -> None:
    h = Harness(password=CODE)
    peer = h.connect()
    start(h, peer)
    start(h, peer)
    assert len(peer.of(AuthReply)) == 1
    assert refused_with(peer, "handshake_required", CloseCode.PROTOCOL_ERROR)


def test_auth_start_after_joining_is_a_bad_message_and_nothing_more() -> None:
    h = Harness(password=CODE)
    sam = h.join("Sam", password=CODE)
    start(h, sam)
    assert sam.last_error().code == "bad_message" and sam.closed is None


# ----------------------------------------------------------------- malformed exchanges


@pytest.mark.parametrize(
    "message",
    [
        "not base64url!",  # the codec: not the alphabet
        "QbY1j4ep5v8l5q1UiRnIWdqnjsiMmLkZBNpiQJiN1tJG=",  # padding
        "A" * 300,  # the codec: too long
    ],
)
def test_an_auth_start_the_codec_refuses_is_a_bad_message_and_no_guess(message: str) -> None:
    h = Harness(password=CODE, admission=AdmissionRules(failed_auth_limit=1))
    peer = h.connect()
    h.send(peer, type="auth_start", method=AUTH_SPAKE2, message=message)
    assert refused_with(peer, "bad_message", CloseCode.PROTOCOL_ERROR)
    assert not peer.of(AuthReply)
    failed = h.join("Eve", password="1111 2222")  # the address's one guess is still there
    assert failed.of(AuthReply) and failed.last_error().code == "auth_failed"


@pytest.mark.parametrize(
    "message",
    [
        "QbY1j4ep",  # the exchange: too short
        # a point from the room's side (B): a reflection
        "QiirrgzjpfQ2BCKkNec2OLy6MQId4sBjC3kch8fMXvK2",
        encode_b64url(b"A" + bytes([2]) + bytes(31)),  # not a point of the group
    ],
)
def test_an_auth_start_the_exchange_refuses_is_a_bad_message_and_a_guess(message: str) -> None:
    """Finding out that a message is no valid point can cost the room as much as answering
    it (the subgroup check): such messages count as guesses, so they cannot be sent
    without limit."""
    h = Harness(password=CODE, admission=AdmissionRules(failed_auth_limit=1))
    peer = h.connect()
    h.send(peer, type="auth_start", method=AUTH_SPAKE2, message=message)
    assert refused_with(peer, "bad_message", CloseCode.PROTOCOL_ERROR)
    assert not peer.of(AuthReply)
    blocked = h.join("Eve", password="1111 2222")  # the address's one guess is spent
    assert refused_with(blocked, "too_many_attempts", CloseCode.TOO_MANY_ATTEMPTS)
    assert joined(h.join("Sam", address="10.0.0.7", password=CODE))  # others unaffected


def test_an_unknown_method_is_a_bad_message() -> None:
    h = Harness(password=CODE)
    peer = h.connect()
    h.send(peer, type="auth_start", method="password-hmac-sha256", message="QbY1j4ep")
    assert refused_with(peer, "bad_message", CloseCode.PROTOCOL_ERROR)
    assert AUTH_SPAKE2 in peer.last_error().message


@pytest.mark.parametrize("confirmation", ["AAAA", "A" * 44, "a.b", 7])
def test_a_malformed_confirmation_is_a_bad_message(confirmation: object) -> None:
    h = Harness(password=CODE)
    peer = h.connect()
    start(h, peer)
    h.send(
        peer,
        type="hello",
        protocol=PROTOCOL_VERSION,
        name="Sam",
        auth={"method": AUTH_SPAKE2, "confirmation": confirmation},
    )
    assert refused_with(peer, "bad_message", CloseCode.PROTOCOL_ERROR)


# ----------------------------------------------------------------- counting guesses


def test_every_answered_auth_start_counts_even_without_a_hello() -> None:
    rules = AdmissionRules(failed_auth_limit=3)
    h = Harness(password=CODE, admission=rules)
    answered = 0
    for _ in range(10):  # the right code, even: the answer alone lets one code be checked
        peer = h.connect("10.0.0.66")
        start(h, peer)
        if peer.of(AuthReply):
            answered += 1
            h.drop(peer)
            continue
        assert refused_with(peer, "too_many_attempts", CloseCode.TOO_MANY_ATTEMPTS)
        assert peer.last_error().retry_after is not None
    assert answered == rules.failed_auth_limit
    assert joined(h.join("Sam", address="10.0.0.7", password=CODE))  # others unaffected
    h.clock.now += rules.failed_auth_window + 1
    assert joined(h.join("Eve", address="10.0.0.66", password=CODE))


def test_a_join_with_the_right_code_takes_its_guess_back() -> None:
    h = Harness(password=CODE, admission=AdmissionRules(failed_auth_limit=3))
    for _ in range(2):
        assert not joined(h.join("Eve", address="10.0.0.66", password="1111 2222"))
    for name in ("Sam", "Sam", "Sam"):  # right codes are no guesses, however many
        assert joined(h.join(name, address="10.0.0.66", password=CODE))
    third = h.join("Eve", address="10.0.0.66", password="1111 2222")
    assert third.of(AuthReply) and third.last_error().code == "auth_failed"
    fourth = h.join("Eve", address="10.0.0.66", password="1111 2222")
    assert refused_with(fourth, "too_many_attempts", CloseCode.TOO_MANY_ATTEMPTS)


def test_auth_starts_from_many_addresses_meet_the_room_wide_limit() -> None:
    h = Harness(password=CODE)
    rules = h.room.config.admission
    answered = 0
    for i in range(100):  # each from its own address, all at once, none saying hello
        peer = h.connect(f"10.9.{i}.1")
        start(h, peer, "1111 2222")
        answered += bool(peer.of(AuthReply))
        h.drop(peer)
    assert answered == rules.room_failed_auth_burst
    # The host's own machine is never held up by it.
    assert joined(h.join("Hana", address="127.0.0.1", host_key="HOSTKEY", password=CODE))


def test_right_codes_spend_nothing_of_the_room_wide_budget() -> None:
    h = Harness(password=CODE)
    burst = h.room.config.admission.room_failed_auth_burst
    for i in range(burst - 1):
        assert not joined(h.join("Eve", address=f"10.9.{i}.1", password="1111 2222"))
    for i in range(5):  # each took the budget's last guess, and gave it back
        assert joined(h.join(f"Guest{i}", address=f"10.8.{i}.1", password=CODE))
    last = h.join("Eve", address="10.7.0.1", password="1111 2222")
    assert last.of(AuthReply) and last.last_error().code == "auth_failed"
    spent = h.join("Eve", address="10.7.0.2", password="1111 2222")
    assert refused_with(spent, "too_many_attempts", CloseCode.TOO_MANY_ATTEMPTS)


def test_the_handshake_timeout_covers_the_whole_exchange() -> None:
    h = Harness(password=CODE)
    peer = h.connect()
    h.tick(5)
    start(h, peer)
    assert peer.of(AuthReply)
    h.tick(h.room.config.handshake_timeout - 4)
    assert refused_with(peer, "handshake_timeout", CloseCode.HANDSHAKE_TIMEOUT)


# ----------------------------------------------------------------- making the room


@pytest.mark.parametrize("code", ["", "   ", " - ", "x" * 65, "code\x00"])
def test_a_room_code_nobody_could_type_is_refused_when_the_room_is_made(code: str) -> None:
    with pytest.raises(InvalidRoomCode, match="room code"):
        RoomConfig(name="Team lunch", password=code)


def test_the_room_keeps_the_code_as_the_host_typed_it() -> None:
    assert RoomConfig(name="Team lunch", password="1234 5678").password == "1234 5678"


def test_a_fingerprint_must_be_a_sha256() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        Room(RoomConfig(name="Team lunch"), fingerprint=b"short")


def test_the_resumed_and_the_new_need_the_exchange_alike() -> None:
    h = Harness(password=CODE)
    sam = h.join("Sam", address="10.0.0.5", password=CODE)
    session = welcome_of(sam).session
    h.drop(sam)
    skipped = h.join("Sam", address="10.0.0.5", resume={"session": session, "last_seq": 0})
    assert refused_with(skipped, "handshake_required", CloseCode.PROTOCOL_ERROR)
    again = h.join(
        "Sam", address="10.0.0.5", password=CODE, resume={"session": session, "last_seq": 0}
    )
    assert welcome_of(again).resumed
