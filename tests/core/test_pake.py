"""The room code exchange (core/pake.py): SPAKE2 bound to the room's certificate and the
connection's nonce, with key confirmation both ways.

The test vector pins the exact bytes of one exchange with fixed randomness; the same values
are rebuilt here from the documented construction alone (python-spake2, HKDF, HMAC), so the
module and its description cannot drift apart.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import example, given
from hypothesis import strategies as st

# spake2 0.9 ships no type hints (no py.typed).
from spake2 import SPAKE2_A, SPAKE2_B  # type: ignore[import-untyped]

from core.pake import (
    CONFIRMATION_BYTES,
    MAX_ROOM_CODE_CHARS,
    MESSAGE_BYTES,
    BadPakeMessage,
    ExchangeStateError,
    GuestConfirmed,
    GuestExchange,
    InvalidRoomCode,
    PakeError,
    RoomExchange,
    RoomReply,
    WrongCode,
    decode_b64url,
    decode_confirmation,
    decode_message,
    decode_nonce,
    encode_b64url,
    generate_room_code,
    new_nonce,
    normalise_room_code,
)

FINGERPRINT = hashlib.sha256(b"the real room's certificate").digest()
RELAY_FINGERPRINT = hashlib.sha256(b"the relay's own certificate").digest()


def fixed(byte: int) -> Callable[[int], bytes]:
    """Entropy that always returns ``byte``, repeated: for exact, repeatable exchanges."""
    return lambda n: bytes([byte]) * n


def run(
    guest_code: str = "1234 5678",
    room_code: str = "1234 5678",
    *,
    guest_fingerprint: bytes = FINGERPRINT,
    room_fingerprint: bytes = FINGERPRINT,
    nonce: bytes | None = None,
) -> tuple[GuestExchange, RoomExchange, bytes, RoomReply]:
    """A guest and a room that have exchanged their SPAKE2 messages (the guest has not
    checked the room's confirmation yet)."""
    nonce = new_nonce() if nonce is None else nonce
    guest = GuestExchange(guest_code, guest_fingerprint, nonce)
    room = RoomExchange(room_code, room_fingerprint, nonce)
    guest_message = guest.start()
    return guest, room, guest_message, room.respond(guest_message)


# --------------------------------------------------------------------------- the reference


def _lp(data: bytes) -> bytes:
    return len(data).to_bytes(8, "little") + data


def reference_exchange(
    guest_code: bytes,
    room_code: bytes,
    guest_fingerprint: bytes,
    room_fingerprint: bytes,
    nonce: bytes,
    guest_entropy: Callable[[int], bytes],
    room_entropy: Callable[[int], bytes],
) -> dict[str, bytes]:
    """Both sides of the exchange as the module's docstring describes it, written from that
    description with python-spake2, HKDF and HMAC and none of core/pake.py. Each side
    computes both confirmations from its own view, without checking anything."""
    suite = b"gptgroup room code v1"
    id_guest = suite + b" guest"
    out: dict[str, bytes] = {}
    guest = SPAKE2_A(
        guest_code, idA=id_guest, idB=suite + b" room " + guest_fingerprint, entropy_f=guest_entropy
    )
    room = SPAKE2_B(
        room_code, idA=id_guest, idB=suite + b" room " + room_fingerprint, entropy_f=room_entropy
    )
    out["guest_message"] = guest.start()
    out["room_message"] = room.start()
    keys = {
        "guest": (guest.finish(out["room_message"]), guest_fingerprint),
        "room": (room.finish(out["guest_message"]), room_fingerprint),
    }
    for side, (spake_key, fingerprint) in keys.items():
        out[f"{side}_spake_key"] = spake_key
        transcript = b"".join(
            _lp(part)
            for part in (
                suite,
                id_guest,
                suite + b" room " + fingerprint,
                fingerprint,
                nonce,
                out["guest_message"],
                out["room_message"],
            )
        )
        for label in ("guest", "room", "session"):
            info = suite + (
                b" session" if label == "session" else f" {label} confirmation".encode()
            )
            key = HKDF(algorithm=hashes.SHA256(), length=32, salt=transcript, info=info).derive(
                spake_key
            )
            if label == "session":
                out[f"{side}_view_session_key"] = key
            else:
                mac = hmac.new(key, _lp(label.encode()) + transcript, hashlib.sha256).digest()
                out[f"{side}_view_{label}_confirmation"] = mac
    return out


# --------------------------------------------------------------------------- the test vector

VECTOR_CODE = "1234 5678"  # normalised: "12345678"
VECTOR_FINGERPRINT = bytes(range(32))  # 000102...1f
VECTOR_NONCE = bytes(range(0x40, 0x50))  # 404142...4f
VECTOR_GUEST_ENTROPY = 0x11  # every byte of the guest's randomness (SPAKE2 asks for 64)
VECTOR_ROOM_ENTROPY = 0x22
VECTOR = {
    "guest_message": "41b6358f87a9e6ff25e6ad548919c859daa78ec88c98b91904da6240988dd6d246",
    "room_message": "4228abae0ce3a5f4360422a435e73638bcba31021de2c0630b791c87c7cc5ef2b6",
    "room_confirmation": "7fc61dbe87a160a9af0c32360cbff1c959834c4e20fc2a11f391c0666d5431fa",
    "guest_confirmation": "d16145a435db5bc6df4c12f1aa37979202fd76d9327e3815398612de22a75b28",
    "session_key": "9aee10edb78667a5db1333a7586cbadd7c793308897935cb143d5173c6227831",
}
VECTOR_WIRE = {
    "guest_message": "QbY1j4ep5v8l5q1UiRnIWdqnjsiMmLkZBNpiQJiN1tJG",
    "room_message": "QiirrgzjpfQ2BCKkNec2OLy6MQId4sBjC3kch8fMXvK2",
    "room_confirmation": "f8YdvoehYKmvDDI2DL_xyVmDTE4g_CoR85HAZm1UMfo",
    "guest_confirmation": "0WFFpDXbW8bfTBLxqjeXkgL9dtkyfjgVOYYS3iKnWyg",
}


def test_the_test_vector_gives_exactly_the_pinned_bytes() -> None:
    guest = GuestExchange(
        VECTOR_CODE, VECTOR_FINGERPRINT, VECTOR_NONCE, entropy=fixed(VECTOR_GUEST_ENTROPY)
    )
    room = RoomExchange(
        VECTOR_CODE, VECTOR_FINGERPRINT, VECTOR_NONCE, entropy=fixed(VECTOR_ROOM_ENTROPY)
    )
    guest_message = guest.start()
    reply = room.respond(guest_message)
    confirmed = guest.finish(reply.message, reply.confirmation)
    session_key = room.finish(confirmed.confirmation)
    got = {
        "guest_message": guest_message,
        "room_message": reply.message,
        "room_confirmation": reply.confirmation,
        "guest_confirmation": confirmed.confirmation,
        "session_key": session_key,
    }
    assert {name: value.hex() for name, value in got.items()} == VECTOR
    assert {name: encode_b64url(got[name]) for name in VECTOR_WIRE} == VECTOR_WIRE
    assert confirmed.session_key == session_key


def test_the_documented_construction_rebuilds_the_test_vector() -> None:
    ref = reference_exchange(
        b"12345678",
        b"12345678",
        VECTOR_FINGERPRINT,
        VECTOR_FINGERPRINT,
        VECTOR_NONCE,
        fixed(VECTOR_GUEST_ENTROPY),
        fixed(VECTOR_ROOM_ENTROPY),
    )
    assert ref["guest_spake_key"] == ref["room_spake_key"]
    assert ref["guest_message"].hex() == VECTOR["guest_message"]
    assert ref["room_message"].hex() == VECTOR["room_message"]
    for view in ("guest_view", "room_view"):
        assert ref[f"{view}_room_confirmation"].hex() == VECTOR["room_confirmation"]
        assert ref[f"{view}_guest_confirmation"].hex() == VECTOR["guest_confirmation"]
        assert ref[f"{view}_session_key"].hex() == VECTOR["session_key"]


# --------------------------------------------------------------------------- outcomes


def test_the_right_code_typed_two_ways_confirms_both_sides_and_one_session_key() -> None:
    guest, room, _, reply = run("1234 5678", "１２３４－５６７８")
    confirmed = guest.finish(reply.message, reply.confirmation)
    session_key = room.finish(confirmed.confirmation)
    assert session_key == confirmed.session_key
    assert len(session_key) == 32


def test_each_exchange_agrees_on_a_different_session_key() -> None:
    keys = set()
    for _ in range(2):
        guest, room, _, reply = run()
        keys.add(room.finish(guest.finish(reply.message, reply.confirmation).confirmation))
    assert len(keys) == 2


def test_a_guest_with_the_wrong_code_refuses_the_room_and_sends_nothing() -> None:
    guest, _, _, reply = run(guest_code="1234 5679")
    with pytest.raises(WrongCode):
        guest.finish(reply.message, reply.confirmation)
    with pytest.raises(ExchangeStateError):  # no second chance to get a confirmation out
        guest.finish(reply.message, reply.confirmation)


def test_a_room_refuses_a_guest_that_skips_the_check_with_the_wrong_code() -> None:
    """A guesser does not stop at the room's confirmation: it sends one made with its guess."""
    nonce = new_nonce()
    room = RoomExchange("1234 5678", FINGERPRINT, nonce, entropy=fixed(0x22))
    guesser = reference_exchange(
        b"12345679", b"12345678", FINGERPRINT, FINGERPRINT, nonce, fixed(0x11), fixed(0x22)
    )
    reply = room.respond(guesser["guest_message"])
    assert reply.message == guesser["room_message"]
    assert reply.confirmation != guesser["guest_view_room_confirmation"]
    with pytest.raises(WrongCode):
        room.finish(guesser["guest_view_guest_confirmation"])
    with pytest.raises(ExchangeStateError):  # and no key afterwards
        room.finish(guesser["guest_view_guest_confirmation"])


def test_a_room_refuses_a_made_up_confirmation() -> None:
    _, room, _, _ = run()
    with pytest.raises(WrongCode):
        room.finish(secrets.token_bytes(CONFIRMATION_BYTES))


def test_a_relay_with_its_own_certificate_cannot_complete_a_join_even_with_the_right_code() -> None:
    """The guest reached a relay (and binds the relay's certificate); the relay forwards every
    byte to the real room unchanged. Both ends use the right code, and both refuse."""
    guest, _, _, reply = run(guest_fingerprint=RELAY_FINGERPRINT, room_fingerprint=FINGERPRINT)
    with pytest.raises(WrongCode):
        guest.finish(reply.message, reply.confirmation)

    # Had the guest confirmed anyway, the room would refuse it too.
    nonce = new_nonce()
    room = RoomExchange("1234 5678", FINGERPRINT, nonce, entropy=fixed(0x22))
    relayed = reference_exchange(
        b"12345678", b"12345678", RELAY_FINGERPRINT, FINGERPRINT, nonce, fixed(0x11), fixed(0x22)
    )
    assert relayed["guest_spake_key"] != relayed["room_spake_key"]
    room.respond(relayed["guest_message"])
    with pytest.raises(WrongCode):
        room.finish(relayed["guest_view_guest_confirmation"])


def test_a_guest_that_saw_another_connections_nonce_is_refused() -> None:
    guest = GuestExchange("1234 5678", FINGERPRINT, new_nonce())
    room = RoomExchange("1234 5678", FINGERPRINT, new_nonce())
    reply = room.respond(guest.start())
    with pytest.raises(WrongCode):
        guest.finish(reply.message, reply.confirmation)


def test_a_recorded_guest_exchange_replayed_to_a_new_connection_is_refused() -> None:
    guest, room, guest_message, reply = run()
    guest_confirmation = guest.finish(reply.message, reply.confirmation).confirmation
    room.finish(guest_confirmation)

    replayed_to = RoomExchange("1234 5678", FINGERPRINT, new_nonce())
    replayed_to.respond(guest_message)  # the message alone proves nothing yet
    with pytest.raises(WrongCode):
        replayed_to.finish(guest_confirmation)


def test_a_recorded_guest_exchange_fails_even_with_the_same_nonce() -> None:
    """SPAKE2's fresh randomness on the room's side already makes each exchange new."""
    nonce = new_nonce()
    guest, room, guest_message, reply = run(nonce=nonce)
    guest_confirmation = guest.finish(reply.message, reply.confirmation).confirmation
    room.finish(guest_confirmation)
    replayed_to = RoomExchange("1234 5678", FINGERPRINT, nonce)
    replayed_to.respond(guest_message)
    with pytest.raises(WrongCode):
        replayed_to.finish(guest_confirmation)


def test_a_recorded_room_reply_replayed_to_a_new_guest_is_refused() -> None:
    nonce = new_nonce()
    _, _, _, old_reply = run(nonce=nonce)
    guest = GuestExchange("1234 5678", FINGERPRINT, nonce)
    guest.start()
    with pytest.raises(WrongCode):
        guest.finish(old_reply.message, old_reply.confirmation)


def test_a_guest_refuses_its_own_message_sent_back_as_the_rooms() -> None:
    guest = GuestExchange("1234 5678", FINGERPRINT, new_nonce())
    message = guest.start()
    with pytest.raises(BadPakeMessage):
        guest.finish(b"B" + message[1:], secrets.token_bytes(CONFIRMATION_BYTES))


# --------------------------------------------------------------------------- no offline test


def test_right_and_wrong_code_exchanges_look_alike_on_the_wire() -> None:
    """SPAKE2 gives a recorded exchange nothing to test a candidate code against (why: the
    docstring of core/pake.py); what a test can show is that nothing on the wire differs in
    shape: every value has the same length, and the room accepts a wrong code's message like
    a right one's until the confirmation."""
    nonce = new_nonce()
    lengths = []
    for guest_code in ("1234 5678", "8765 4321"):
        _, _, guest_message, reply = run(guest_code, "1234 5678", nonce=nonce)
        lengths.append(
            [
                len(encode_b64url(value))
                for value in (nonce, guest_message, reply.message, reply.confirmation)
            ]
        )
    assert lengths[0] == lengths[1]


def test_the_code_itself_appears_nowhere_in_an_exchange() -> None:
    guest, room, guest_message, reply = run("1234 5678", "1234 5678")
    confirmation = guest.finish(reply.message, reply.confirmation).confirmation
    room.finish(confirmation)
    wire = b"".join((guest_message, reply.message, reply.confirmation, confirmation))
    wire_text = "".join(encode_b64url(v) for v in (guest_message, reply.message, confirmation))
    assert b"12345678" not in wire
    assert "12345678" not in wire_text


# --------------------------------------------------------------------------- hostile input

# Ed25519 points of small order (the identity and the 2-, 4- and 8-torsion points), and
# encodings that are not canonical: none may stand for a SPAKE2 message.
LOW_ORDER_POINTS = [
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
]
NON_CANONICAL = [
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p + 1
    "0100000000000000000000000000000000000000000000000000000000000080",  # x = 0, sign 1
]


@pytest.mark.parametrize("point", LOW_ORDER_POINTS + NON_CANONICAL)
def test_low_order_and_non_canonical_points_are_refused_on_both_sides(point: str) -> None:
    room = RoomExchange("1234 5678", FINGERPRINT, new_nonce())
    with pytest.raises(BadPakeMessage):
        room.respond(b"A" + bytes.fromhex(point))
    guest = GuestExchange("1234 5678", FINGERPRINT, new_nonce())
    guest.start()
    with pytest.raises(BadPakeMessage):
        guest.finish(b"B" + bytes.fromhex(point), bytes(CONFIRMATION_BYTES))


def test_truncated_extended_and_wrong_side_messages_are_refused() -> None:
    valid = GuestExchange("1234 5678", FINGERPRINT, new_nonce()).start()
    for bad in (b"", valid[:1], valid[:-1], valid + b"\x00", b"B" + valid[1:], b"S" + valid[1:]):
        with pytest.raises(BadPakeMessage):
            RoomExchange("1234 5678", FINGERPRINT, new_nonce()).respond(bad)


def test_confirmations_of_the_wrong_size_are_refused() -> None:
    guest, room, _, reply = run()
    with pytest.raises(BadPakeMessage):
        guest.finish(reply.message, reply.confirmation[:-1])
    with pytest.raises(BadPakeMessage):
        room.finish(b"")


VALID_GUEST_MESSAGE = int(VECTOR["guest_message"], 16)

messages = st.one_of(
    st.binary(max_size=MESSAGE_BYTES + 4),
    st.binary(min_size=32, max_size=32).map(lambda point: b"A" + point),
    st.binary(min_size=32, max_size=32).map(lambda point: b"B" + point),
    st.integers(0, MESSAGE_BYTES * 8 - 1).map(  # a valid message with one bit flipped
        lambda bit: (VALID_GUEST_MESSAGE ^ (1 << bit)).to_bytes(MESSAGE_BYTES, "big")
    ),
)


@given(messages)
@example(b"")
def test_a_room_turns_any_guest_message_into_a_reply_or_bad_pake_message(
    message: bytes,
) -> None:
    room = RoomExchange("1234 5678", FINGERPRINT, new_nonce())
    try:
        reply = room.respond(message)
    except BadPakeMessage:
        return
    assert len(reply.message) == MESSAGE_BYTES
    assert len(reply.confirmation) == CONFIRMATION_BYTES
    with pytest.raises(WrongCode):  # whoever sent it does not know the room's key
        room.finish(bytes(CONFIRMATION_BYTES))


@given(messages, st.binary(max_size=CONFIRMATION_BYTES + 4))
def test_a_guest_refuses_any_made_up_reply_with_a_typed_error(
    message: bytes, confirmation: bytes
) -> None:
    guest = GuestExchange("1234 5678", FINGERPRINT, new_nonce())
    guest.start()
    with pytest.raises(PakeError):
        guest.finish(message, confirmation)


@given(st.binary(max_size=CONFIRMATION_BYTES + 4))
def test_a_room_refuses_any_made_up_confirmation_with_a_typed_error(confirmation: bytes) -> None:
    _, room, _, _ = run()
    with pytest.raises(PakeError):
        room.finish(confirmation)


b64_texts = st.one_of(
    st.text(max_size=100),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/ \n"),
    st.binary(max_size=70).map(encode_b64url),
)


@given(b64_texts)
@example("QbY1j4ep5v8l5q1UiRnIWdqnjsiMmLkZBNpiQJiN1tJH")  # low bits set: not canonical
@example("QbY1j4ep5v8l5q1UiRnIWdqnjsiMmLkZBNpiQJiN1tJG=")
@example("QbY1j4ep5v8l5q1UiRnIWdqnjsiMmLkZBNpiQJiN1tJG\n")
@example("QbY1j4ep5v8l5q1UiRnIWdqnjsiMmLkZBNpiQJiN1tJ")
@example("ＱbY1j4ep5v8l5q1UiRnIWdqnjsiMmLkZBNpiQJiN1tJG")
def test_wire_text_decodes_strictly_or_is_bad_pake_message(text: str) -> None:
    for decode, sizes in (
        (decode_message, {33}),
        (decode_confirmation, {32}),
        (decode_nonce, set(range(16, 65))),
    ):
        try:
            data = decode(text)
        except BadPakeMessage:
            continue
        assert len(data) in sizes
        assert encode_b64url(data) == text  # one text per value


@given(st.binary(max_size=64))
def test_any_bytes_survive_the_wire_encoding(data: bytes) -> None:
    text = encode_b64url(data)
    assert "=" not in text
    assert decode_b64url(text, min_bytes=0, max_bytes=64) == data


def test_the_test_vector_wire_text_decodes() -> None:
    assert decode_message(VECTOR_WIRE["guest_message"]).hex() == VECTOR["guest_message"]
    assert (
        decode_confirmation(VECTOR_WIRE["room_confirmation"]).hex() == (VECTOR["room_confirmation"])
    )
    with pytest.raises(BadPakeMessage):
        decode_message(VECTOR_WIRE["room_confirmation"])  # 32 bytes where 33 belong


def test_the_protocol_1_greeting_nonce_is_a_valid_nonce() -> None:
    assert len(decode_nonce(secrets.token_urlsafe(18))) == 18


def test_nonces_of_the_wrong_size_are_refused() -> None:
    for size in (0, 15, 65):
        with pytest.raises(BadPakeMessage):
            GuestExchange("1234 5678", FINGERPRINT, bytes(size))
        with pytest.raises(BadPakeMessage):
            RoomExchange("1234 5678", FINGERPRINT, bytes(size))
    assert new_nonce() != new_nonce()
    assert len(new_nonce()) == 32


def test_a_fingerprint_must_be_a_sha256() -> None:
    for fingerprint in (b"", FINGERPRINT[:-1], FINGERPRINT + b"\x00"):
        with pytest.raises(ValueError):
            GuestExchange("1234 5678", fingerprint, new_nonce())
        with pytest.raises(ValueError):
            RoomExchange("1234 5678", fingerprint, new_nonce())


# --------------------------------------------------------------------------- single use


def test_a_guest_exchange_is_single_use() -> None:
    guest = GuestExchange("1234 5678", FINGERPRINT, new_nonce())
    with pytest.raises(ExchangeStateError):
        guest.finish(bytes(MESSAGE_BYTES), bytes(CONFIRMATION_BYTES))
    guest.start()
    with pytest.raises(ExchangeStateError):
        guest.start()


def test_a_guest_exchange_is_over_after_a_malformed_reply() -> None:
    guest, _, _, reply = run()
    with pytest.raises(BadPakeMessage):
        guest.finish(b"", reply.confirmation)
    with pytest.raises(ExchangeStateError):  # the good reply comes too late
        guest.finish(reply.message, reply.confirmation)


def test_a_room_exchange_is_single_use() -> None:
    guest, room, guest_message, reply = run()
    with pytest.raises(ExchangeStateError):
        room.respond(guest_message)
    room.finish(guest.finish(reply.message, reply.confirmation).confirmation)
    with pytest.raises(ExchangeStateError):
        room.finish(bytes(CONFIRMATION_BYTES))

    fresh = RoomExchange("1234 5678", FINGERPRINT, new_nonce())
    with pytest.raises(ExchangeStateError):
        fresh.finish(bytes(CONFIRMATION_BYTES))
    with pytest.raises(BadPakeMessage):
        fresh.respond(b"")
    with pytest.raises(ExchangeStateError):  # a failed respond() ends the exchange
        fresh.respond(guest_message)


def test_the_session_key_is_not_in_the_guests_result_repr() -> None:
    guest, _, _, reply = run()
    confirmed = guest.finish(reply.message, reply.confirmation)
    assert isinstance(confirmed, GuestConfirmed)
    assert confirmed.session_key.hex() not in repr(confirmed)
    assert repr(confirmed.session_key) not in repr(confirmed)


# --------------------------------------------------------------------------- room codes


def test_a_generated_code_is_eight_digits_in_two_groups() -> None:
    code = generate_room_code()
    assert len(code) == 9
    assert code[4] == " "
    assert code.replace(" ", "").isdigit()
    assert generate_room_code(randbelow=lambda _: 42) == "0000 0042"  # leading zeros kept
    assert generate_room_code(6, randbelow=lambda n: n - 1) == "999 999"
    with pytest.raises(ValueError):
        generate_room_code(5)


def test_generated_codes_differ() -> None:
    assert len({generate_room_code() for _ in range(20)}) > 15


@pytest.mark.parametrize(
    "typed",
    [
        "1234 5678",
        "1234-5678",
        "12345678",
        "  1234  5678\n",
        "１２３４－５６７８",
        "１２３４　５６７８",  # full-width space
        "1234\u20135678",  # en dash
        "1234\u22125678",  # minus sign
        "1234\u00ad5678",  # soft hyphen
        "1234\u200b5678",  # zero width space
        "12-34-56-78",
    ],
)
def test_what_people_type_for_one_code_normalises_to_the_same(typed: str) -> None:
    assert normalise_room_code(typed) == "12345678"


def test_a_code_of_words_ignores_case_and_separators() -> None:
    assert normalise_room_code("Blue-Fox Tree") == normalise_room_code("blue fox TREE")
    assert normalise_room_code("Straße") == normalise_room_code("STRASSE")
    assert normalise_room_code("1234 5678") != normalise_room_code("1234 5679")


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "   ",
        " - \u2013 ",
        "\u200b",
        "1" * (MAX_ROOM_CODE_CHARS + 1),
        "1" * 300,
        "12\x0034",  # a control character
        "12\ud80034",  # a lone surrogate
        "12\ue00034",  # private use
        "12\u037834",  # unassigned
    ],
)
def test_text_that_is_no_usable_code_is_refused(typed: str) -> None:
    with pytest.raises(InvalidRoomCode):
        normalise_room_code(typed)
    with pytest.raises(InvalidRoomCode):
        GuestExchange(typed, FINGERPRINT, new_nonce())


@given(st.text(max_size=80))
@example("e\u200d\u0301")
@example("e\u00a8")
@example("\u1fb3\u0345")
def test_normalising_is_idempotent_and_only_ever_refuses_with_invalid_room_code(
    text: str,
) -> None:
    try:
        code = normalise_room_code(text)
    except InvalidRoomCode:
        return
    assert normalise_room_code(code) == code
    assert code
    assert not any(ch.isspace() or ch in "-\u2212" for ch in code)
    code.encode("utf-8")
