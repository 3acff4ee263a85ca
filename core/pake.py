"""Room codes checked by SPAKE2, bound to the room's certificate, confirmed both ways; no I/O.

A room with a code lets a guest in only once both sides have shown that they hold the same
code, and showing it gives nothing away. An eavesdropper learns nothing to test a guess
against. Someone who takes part (a guest guessing, a spoofed room, a relay in the middle) learns
whether *one* guessed code was right per exchange, and nothing more; so guessing is online
only, and the room's rate limits bound it. Each side also proves it holds the code, so a guest
knows the room is the one whose code it was given.

The exchange (the guest is SPAKE2's side A, the room side B)::

    room  -> guest   nonce                               in the room's greeting (new_nonce())
    guest -> room    guest_message                       GuestExchange.start()
    room  -> guest   room_message, room_confirmation     RoomExchange.respond()
    guest -> room    guest_confirmation                  GuestExchange.finish() checks the room's
    (room)                                               RoomExchange.finish() checks the guest's

Construction, complete enough to write a compatible implementation from:

* ``code``: :func:`normalise_room_code` of what was typed, as UTF-8: the SPAKE2 password.
* SPAKE2 over Ed25519 exactly as python-spake2 0.9 defines it, which the Rust ``spake2``
  crate's ``Ed25519Group`` follows (M and N from the seeds ``b"M"`` and ``b"N"``, the password
  scalar from HKDF-SHA256 with info ``b"SPAKE2 pw"``; the key is
  ``SHA256(SHA256(pw) || SHA256(idA) || SHA256(idB) || X || Y || K)``). A message is one
  side byte (``b"A"`` from the guest, ``b"B"`` from the room) and a 32-byte canonical point.
* Identities: ``idA = GUEST_IDENTITY``, ``idB = ROOM_IDENTITY_PREFIX || fingerprint``, where
  ``fingerprint`` is the SHA-256 of the room certificate's DER, 32 bytes.
* Transcript ``TT = lp(SUITE) || lp(idA) || lp(idB) || lp(fingerprint) || lp(nonce) ||
  lp(guest_message) || lp(room_message)``, with ``lp(x)`` = ``len(x)`` as 8 bytes little
  endian, then ``x`` (as RFC 9382 does); messages as sent, side byte included.
* Keys: HKDF-SHA256 with the SPAKE2 key as input keying material, ``salt = TT``, length 32, and
  ``info`` one of :data:`LABEL_GUEST_CONFIRMATION`, :data:`LABEL_ROOM_CONFIRMATION`,
  :data:`LABEL_SESSION`.
* Confirmations: ``HMAC-SHA256(room confirmation key, lp(b"room") || TT)`` and
  ``HMAC-SHA256(guest confirmation key, lp(b"guest") || TT)``; compared in constant time.
* On the wire (JSON text): every value as unpadded base64url (RFC 4648 section 5), parsed
  strictly by the ``decode_*`` helpers.

Why the fingerprint is in the identity *and* in the transcript: the room's certificate is what
the room is to a guest, which is what SPAKE2's identities are for; through ``idB`` it enters
the SPAKE2 key itself, so a guest that reached a relay (and bound the relay's certificate) and
the real room derive unrelated keys and neither can check the other's confirmation. The nonce
belongs to one connection rather than to a party, so it joins through the transcript, which
salts every derived key and is what each confirmation signs; the fingerprint is repeated there
so that each MAC covers, in one place, everything its sender believes it agreed to.

Why a recorded exchange gives no offline test: each message is ``x*G + w*M`` (or ``N``) for a
fresh secret ``x``, which hides the code's scalar ``w`` perfectly; checking a candidate code
against the recorded confirmations needs the shared point ``x*y*G``, which is a Diffie-Hellman
problem for every candidate alike. Only a party who chose its own secret, and so sent a message
for one candidate code, can check that one candidate: one guess per exchange, online.

The exception tree::

    PakeError                    the peer's input cannot complete the exchange
    ├── BadPakeMessage           malformed: length, side byte, base64url, not a group element
    └── WrongCode                a confirmation did not verify: another code, or a relay
    InvalidRoomCode (ValueError) what someone typed is no usable room code
    ExchangeStateError (RuntimeError)
                                 a method called twice or out of order: a bug in the caller

Every exchange object is single use: once a method has failed, or the exchange has finished,
the next call raises :class:`ExchangeStateError`. A failed exchange means a closed connection.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# spake2 0.9 ships no type hints (no py.typed); the _Spake2 and _Group protocols below type
# the little of it this module uses.
from spake2 import SPAKE2_A, SPAKE2_B, SPAKEError  # type: ignore[import-untyped]
from spake2.ed25519_basic import NotOnCurve  # type: ignore[import-untyped]
from spake2.parameters.ed25519 import ParamsEd25519  # type: ignore[import-untyped]

__all__ = [
    "CONFIRMATION_BYTES",
    "FINGERPRINT_BYTES",
    "GUEST_IDENTITY",
    "LABEL_GUEST_CONFIRMATION",
    "LABEL_ROOM_CONFIRMATION",
    "LABEL_SESSION",
    "MAX_NONCE_BYTES",
    "MAX_ROOM_CODE_CHARS",
    "MAX_ROOM_CODE_INPUT_CHARS",
    "MESSAGE_BYTES",
    "METHOD",
    "MIN_NONCE_BYTES",
    "NONCE_BYTES",
    "ROOM_CODE_DIGITS",
    "ROOM_IDENTITY_PREFIX",
    "SESSION_KEY_BYTES",
    "SUITE",
    "BadPakeMessage",
    "Entropy",
    "ExchangeStateError",
    "GuestConfirmed",
    "GuestExchange",
    "InvalidRoomCode",
    "PakeError",
    "RoomExchange",
    "RoomReply",
    "WrongCode",
    "decode_b64url",
    "decode_confirmation",
    "decode_message",
    "decode_nonce",
    "encode_b64url",
    "generate_room_code",
    "new_nonce",
    "normalise_room_code",
    "room_code_bytes",
]

METHOD = "spake2-ed25519-v1"
"""The name of this exchange, for the list of authentication methods a room offers."""

SUITE = b"gptgroup room code v1"
GUEST_IDENTITY = SUITE + b" guest"
ROOM_IDENTITY_PREFIX = SUITE + b" room "
LABEL_GUEST_CONFIRMATION = SUITE + b" guest confirmation"
LABEL_ROOM_CONFIRMATION = SUITE + b" room confirmation"
LABEL_SESSION = SUITE + b" session"
_ROLE_GUEST = b"guest"
_ROLE_ROOM = b"room"
_SIDE_GUEST = b"A"
_SIDE_ROOM = b"B"

FINGERPRINT_BYTES = 32
MESSAGE_BYTES = 33  # the side byte, then a 32-byte Ed25519 point
CONFIRMATION_BYTES = 32
SESSION_KEY_BYTES = 32
NONCE_BYTES = 32  # what new_nonce() makes
MIN_NONCE_BYTES = 16
MAX_NONCE_BYTES = 64

ROOM_CODE_DIGITS = 8
MAX_ROOM_CODE_INPUT_CHARS = 256  # typed text longer than this is refused before normalising
MAX_ROOM_CODE_CHARS = 64  # after normalising

Entropy = Callable[[int], bytes]
"""Where randomness comes from, called like :func:`os.urandom`; fixed only in tests."""


# --------------------------------------------------------------------------- errors


class PakeError(Exception):
    """The peer's input cannot complete the exchange; the connection should be closed."""


class BadPakeMessage(PakeError):
    """A value from the peer is malformed: wrong length or side, bad base64url, not a point of
    the group (or a low-order one), or a point sent back to the side that made it."""


class WrongCode(PakeError):
    """A key confirmation did not verify: the two sides used different codes, or different
    certificates (someone in the middle), or the messages were changed or replayed. Which of
    these it was cannot be told apart, by design."""


class InvalidRoomCode(ValueError):
    """What someone typed is no usable room code (empty, too long, or unusable characters)."""


class ExchangeStateError(RuntimeError):
    """A method of an exchange was called twice or out of order. A bug in the caller, never
    something the peer can cause."""


# --------------------------------------------------------------------------- room codes


def generate_room_code(
    digits: int = ROOM_CODE_DIGITS, *, randbelow: Callable[[int], int] = secrets.randbelow
) -> str:
    """A new random room code that is easy to read aloud: 8 digits as ``"1234 5678"``, or
    6 as ``"123 456"``.

    8 digits hold 26.6 bits. SPAKE2 allows no offline guessing, so an attacker tests one code
    per exchange with the room, and the room's limits on failed attempts (24 a minute from
    anywhere, after a burst of 20) cap that at about 1,440 an hour: 0.012 % chance over an
    8-hour day. 6 digits (19.9 bits) give 1.2 % over the same day, which is enough only for
    rooms that live an hour or two.
    """
    group = {6: 3, 8: 4}.get(digits)
    if group is None:
        raise ValueError("a room code has 6 or 8 digits")
    text = f"{randbelow(10**digits):0{digits}d}"
    return " ".join(text[i : i + group] for i in range(0, digits, group))


def normalise_room_code(text: str) -> str:
    """The room code in ``text`` as both sides compare it, so that what people type for the
    same code gives the same result: ``"1234 5678"``, ``"1234-5678"`` and the same in
    full-width digits are all ``"12345678"``, and ``"Blue-Fox"`` is ``"bluefox"``.

    Compatibility forms are unified (NFKC) and case folded; white space, dashes (and the minus
    sign) and invisible format characters are dropped. Idempotent. Raises
    :class:`InvalidRoomCode` for text that leaves nothing, is longer than
    :data:`MAX_ROOM_CODE_INPUT_CHARS` before or :data:`MAX_ROOM_CODE_CHARS` after normalising,
    or holds control, private-use, unassigned or surrogate characters (unassigned ones could
    normalise differently on a newer Unicode version at the other end).
    """
    if len(text) > MAX_ROOM_CODE_INPUT_CHARS:
        raise InvalidRoomCode("that room code is too long")
    code = text
    # Dropping a separator can bring characters together that NFKC then composes, and case
    # folding can undo a composition: repeat until nothing changes (once or twice in practice).
    for _ in range(8):
        folded = _without_separators(_fold(code))
        if folded == code:
            break
        code = folded
    else:
        raise InvalidRoomCode("that room code has characters that cannot be compared")
    if not code:
        raise InvalidRoomCode("a room code cannot be empty")
    if len(code) > MAX_ROOM_CODE_CHARS:
        raise InvalidRoomCode("that room code is too long")
    if any(unicodedata.category(ch).startswith("C") for ch in code):
        raise InvalidRoomCode("that room code has characters that cannot be typed")
    return code


def room_code_bytes(text: str) -> bytes:
    """The SPAKE2 password for the code in ``text``: its normal form in UTF-8."""
    return normalise_room_code(text).encode("utf-8")


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def _without_separators(text: str) -> str:
    return "".join(ch for ch in text if not _is_separator(ch))


def _is_separator(ch: str) -> bool:
    return ch.isspace() or ch == "\u2212" or unicodedata.category(ch) in ("Pd", "Cf")


# --------------------------------------------------------------------------- wire encodings

_B64URL = re.compile(r"[A-Za-z0-9_-]*", re.ASCII)


def encode_b64url(data: bytes) -> str:
    """``data`` as unpadded base64url text (RFC 4648 section 5, without ``=``)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def decode_b64url(text: str, *, min_bytes: int, max_bytes: int) -> bytes:
    """The bytes that ``text`` encodes as :func:`encode_b64url` writes them, between
    ``min_bytes`` and ``max_bytes`` long.

    Strict: only the base64url alphabet, no padding, no white space, and only the one
    canonical text for each value (unused low bits zero). Anything else, of any length, is a
    :class:`BadPakeMessage`; text longer than ``max_bytes`` needs is refused before decoding.
    """
    if len(text) > -(-max_bytes * 4 // 3) or not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise BadPakeMessage("not base64url text of the expected length")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if encode_b64url(data) != text:
        raise BadPakeMessage("not canonical base64url")
    if not min_bytes <= len(data) <= max_bytes:
        raise BadPakeMessage("not base64url text of the expected length")
    return data


def decode_message(text: str) -> bytes:
    """A SPAKE2 message (:data:`MESSAGE_BYTES`) from its wire text. The point itself is
    checked when the exchange receives it."""
    return decode_b64url(text, min_bytes=MESSAGE_BYTES, max_bytes=MESSAGE_BYTES)


def decode_confirmation(text: str) -> bytes:
    """A key confirmation (:data:`CONFIRMATION_BYTES`) from its wire text."""
    return decode_b64url(text, min_bytes=CONFIRMATION_BYTES, max_bytes=CONFIRMATION_BYTES)


def decode_nonce(text: str) -> bytes:
    """The room's connection nonce from its wire text: 16 to 64 bytes. (The protocol-1
    greeting's ``secrets.token_urlsafe(18)`` nonce decodes to 18 bytes.)"""
    return decode_b64url(text, min_bytes=MIN_NONCE_BYTES, max_bytes=MAX_NONCE_BYTES)


def new_nonce(entropy: Entropy = os.urandom) -> bytes:
    """A fresh connection nonce for the room's greeting: one per connection, never reused."""
    return entropy(NONCE_BYTES)


# --------------------------------------------------------------------------- the exchange


class _Spake2(Protocol):
    """The part of python-spake2's SPAKE2_A / SPAKE2_B this module uses."""

    def start(self) -> bytes: ...

    def finish(self, inbound: bytes) -> bytes: ...


class _Element(Protocol):
    def to_bytes(self) -> bytes: ...


class _Group(Protocol):
    def bytes_to_element(self, data: bytes) -> _Element: ...


_GROUP: _Group = ParamsEd25519.group


@dataclass(frozen=True)
class RoomReply:
    """What the room sends back to a guest's message: its own SPAKE2 message and its key
    confirmation, together."""

    message: bytes
    confirmation: bytes


@dataclass(frozen=True)
class GuestConfirmed:
    """The guest's result once the room proved it holds the code: the confirmation to send,
    and the key both sides now share (for the protocol to use later; never sent)."""

    confirmation: bytes
    session_key: bytes = field(repr=False)


@dataclass(frozen=True)
class _Keys:
    guest_confirmation: bytes
    room_confirmation: bytes
    session: bytes


class GuestExchange:
    """The guest's side of one exchange: :meth:`start`, then :meth:`finish`, once each.

    ``fingerprint`` must be the SHA-256 of the certificate *this* TLS connection presented (the
    same as the pinned one when the guest came from a record or a link): that is what makes a
    relay fail. ``nonce`` is the room's, from its greeting. Raises :class:`InvalidRoomCode` for
    a code that is none, :class:`ValueError` for a fingerprint that is not 32 bytes and
    :class:`BadPakeMessage` for a nonce of the wrong size.
    """

    def __init__(
        self, code: str, fingerprint: bytes, nonce: bytes, *, entropy: Entropy = os.urandom
    ) -> None:
        self._password = room_code_bytes(code)
        self._fingerprint = _checked_fingerprint(fingerprint)
        self._nonce = _checked_nonce(nonce)
        self._entropy = entropy
        self._state: Literal["new", "started", "done"] = "new"
        self._spake: _Spake2 | None = None
        self._message = b""

    def start(self) -> bytes:
        """The guest's SPAKE2 message (:data:`MESSAGE_BYTES`) to send to the room."""
        if self._state != "new":
            raise ExchangeStateError("start() may be called only once")
        self._state = "started"
        self._spake = SPAKE2_A(
            self._password,
            idA=GUEST_IDENTITY,
            idB=ROOM_IDENTITY_PREFIX + self._fingerprint,
            entropy_f=self._entropy,
        )
        self._message = bytes(self._spake.start())
        return self._message

    def finish(self, room_message: bytes, room_confirmation: bytes) -> GuestConfirmed:
        """Check the room's reply; if the room proved it holds the code (and the certificate
        this guest sees), the guest's own confirmation to send and the session key.

        Raises :class:`BadPakeMessage` for a malformed reply and :class:`WrongCode` when the
        room's confirmation does not verify; then nothing is to be sent, and the exchange is
        over either way.
        """
        if self._state != "started" or self._spake is None:
            raise ExchangeStateError("finish() needs start() first, and only once")
        spake, self._spake, self._state = self._spake, None, "done"
        self._password = b""
        _check_message(room_message, _SIDE_ROOM)
        _check_confirmation(room_confirmation)
        transcript = _transcript(self._fingerprint, self._nonce, self._message, room_message)
        keys = _derive(_finish(spake, room_message), transcript)
        expected = _confirmation(keys.room_confirmation, _ROLE_ROOM, transcript)
        if not hmac.compare_digest(expected, room_confirmation):
            raise WrongCode("the room could not prove it holds this room code")
        return GuestConfirmed(
            confirmation=_confirmation(keys.guest_confirmation, _ROLE_GUEST, transcript),
            session_key=keys.session,
        )


class RoomExchange:
    """The room's side of one exchange, for one connection: :meth:`respond`, then
    :meth:`finish`, once each.

    ``fingerprint`` is the SHA-256 of the room's own certificate; ``nonce`` the one this
    connection's greeting carried (:func:`new_nonce`). Raises :class:`InvalidRoomCode`,
    :class:`ValueError` and :class:`BadPakeMessage` as :class:`GuestExchange` does.

    Counting attempts: :meth:`respond` already lets the other side test one guessed code (by
    checking the room's confirmation offline), so every call of it is one attempt against the
    room's limits, whether or not a confirmation ever comes back; only a successful
    :meth:`finish` shows it was no guess.
    """

    def __init__(
        self, code: str, fingerprint: bytes, nonce: bytes, *, entropy: Entropy = os.urandom
    ) -> None:
        self._password = room_code_bytes(code)
        self._fingerprint = _checked_fingerprint(fingerprint)
        self._nonce = _checked_nonce(nonce)
        self._entropy = entropy
        self._state: Literal["new", "responded", "done"] = "new"
        self._keys: _Keys | None = None
        self._transcript = b""

    def respond(self, guest_message: bytes) -> RoomReply:
        """The room's SPAKE2 message and key confirmation for ``guest_message``.

        Raises :class:`BadPakeMessage` for a malformed message (then the exchange is over). A
        message made with another code is not malformed: it is refused only when the guest's
        confirmation fails to come, in :meth:`finish`.
        """
        if self._state != "new":
            raise ExchangeStateError("respond() may be called only once")
        self._state = "done"
        password, self._password = self._password, b""
        _check_message(guest_message, _SIDE_GUEST)
        spake: _Spake2 = SPAKE2_B(
            password,
            idA=GUEST_IDENTITY,
            idB=ROOM_IDENTITY_PREFIX + self._fingerprint,
            entropy_f=self._entropy,
        )
        room_message = bytes(spake.start())
        transcript = _transcript(self._fingerprint, self._nonce, guest_message, room_message)
        keys = _derive(_finish(spake, guest_message), transcript)
        self._keys, self._transcript, self._state = keys, transcript, "responded"
        return RoomReply(
            message=room_message,
            confirmation=_confirmation(keys.room_confirmation, _ROLE_ROOM, transcript),
        )

    def finish(self, guest_confirmation: bytes) -> bytes:
        """The session key, if ``guest_confirmation`` proves the guest holds the code (and saw
        this room's certificate and nonce). Raises :class:`BadPakeMessage` for a confirmation
        of the wrong size and :class:`WrongCode` for one that does not verify."""
        if self._state != "responded" or self._keys is None:
            raise ExchangeStateError("finish() needs respond() first, and only once")
        keys, self._keys, self._state = self._keys, None, "done"
        _check_confirmation(guest_confirmation)
        expected = _confirmation(keys.guest_confirmation, _ROLE_GUEST, self._transcript)
        if not hmac.compare_digest(expected, guest_confirmation):
            raise WrongCode("the guest could not prove it holds this room code")
        return keys.session


def _checked_fingerprint(fingerprint: bytes) -> bytes:
    if len(fingerprint) != FINGERPRINT_BYTES:
        raise ValueError("a certificate fingerprint is the 32 bytes of a SHA-256")
    return bytes(fingerprint)


def _checked_nonce(nonce: bytes) -> bytes:
    if not MIN_NONCE_BYTES <= len(nonce) <= MAX_NONCE_BYTES:
        raise BadPakeMessage("the room's nonce has the wrong size")
    return bytes(nonce)


def _check_message(message: bytes, side: bytes) -> None:
    """Refuse anything but a canonical point of the prime-order group from the other side.

    python-spake2 would accept a longer message (reading only its first 32 bytes) and a
    non-canonical encoding, which a stricter implementation at the other end would refuse:
    the wire has one encoding of each point.
    """
    if len(message) != MESSAGE_BYTES:
        raise BadPakeMessage("a SPAKE2 message has the wrong size")
    if message[:1] != side:
        raise BadPakeMessage("a SPAKE2 message from the wrong side")
    point = message[1:]
    try:
        element = _GROUP.bytes_to_element(point)
    except (ValueError, NotOnCurve):
        raise BadPakeMessage("a SPAKE2 message that is no point of the group") from None
    if element.to_bytes() != point:
        raise BadPakeMessage("a SPAKE2 message in a non-canonical encoding")


def _check_confirmation(confirmation: bytes) -> None:
    if len(confirmation) != CONFIRMATION_BYTES:
        raise BadPakeMessage("a key confirmation has the wrong size")


def _finish(spake: _Spake2, inbound: bytes) -> bytes:
    try:
        return bytes(spake.finish(inbound))
    except (SPAKEError, ValueError, NotOnCurve):
        # After _check_message, only our own point sent back to us gets here (a reflection).
        raise BadPakeMessage("a SPAKE2 message that cannot complete the exchange") from None


def _lp(data: bytes) -> bytes:
    return len(data).to_bytes(8, "little") + data


def _transcript(
    fingerprint: bytes, nonce: bytes, guest_message: bytes, room_message: bytes
) -> bytes:
    return b"".join(
        _lp(part)
        for part in (
            SUITE,
            GUEST_IDENTITY,
            ROOM_IDENTITY_PREFIX + fingerprint,
            fingerprint,
            nonce,
            guest_message,
            room_message,
        )
    )


def _derive(spake_key: bytes, transcript: bytes) -> _Keys:
    def expand(label: bytes) -> bytes:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=transcript, info=label)
        return hkdf.derive(spake_key)

    return _Keys(
        guest_confirmation=expand(LABEL_GUEST_CONFIRMATION),
        room_confirmation=expand(LABEL_ROOM_CONFIRMATION),
        session=expand(LABEL_SESSION),
    )


def _confirmation(key: bytes, role: bytes, transcript: bytes) -> bytes:
    return hmac.new(key, _lp(role) + transcript, hashlib.sha256).digest()
