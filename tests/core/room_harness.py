"""Drives a :class:`core.room.Room` the way the server does, on plain values with a fake clock.

:meth:`Harness.join` plays a client that does what it is told, as an attacker's would: given a
wrong room code it still says hello (with a confirmation that cannot verify), so that the
room's own refusal can be checked. The real guest's rules are :class:`core.participant
.Participant`'s, tested in ``test_participant.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from core.pake import (
    CONFIRMATION_BYTES,
    GuestExchange,
    WrongCode,
    decode_confirmation,
    decode_message,
    decode_nonce,
    encode_b64url,
    normalise_room_code,
)
from core.protocol import (
    AUTH_SPAKE2,
    PROTOCOL_VERSION,
    AuthReply,
    ErrorMessage,
    Limits,
    ServerHello,
    ServerMessage,
    Welcome,
    key_proof,
)
from core.room import ConnId, Deliver, Disconnect, Room, RoomAction, RoomConfig

ZERO_FINGERPRINT = bytes(32)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Peer:
    conn: ConnId
    inbox: list[ServerMessage] = field(default_factory=list)
    closed: Disconnect | None = None
    nonce: str = ""

    def of(self, kind: type[Any]) -> list[Any]:
        return [m for m in self.inbox if isinstance(m, kind)]

    def last_error(self) -> ErrorMessage:
        return self.of(ErrorMessage)[-1]  # type: ignore[no-any-return]


class Harness:
    """Drives a Room the way the server does, recording what each connection would get."""

    def __init__(self, *, fingerprint: bytes = ZERO_FINGERPRINT, **config: Any) -> None:
        """A room made from ``config`` (``password``: its room code), whose certificate has
        ``fingerprint``."""
        config.setdefault("name", "Room")
        config.setdefault("host_key", "HOSTKEY")
        config.setdefault("limits", Limits(message_burst=1000, messages_per_minute=60_000))
        self.clock = FakeClock()
        self.room = Room(
            RoomConfig(**config), clock=self.clock, wall_clock=self.clock, fingerprint=fingerprint
        )
        password = config.get("password")
        self._code = None if password is None else normalise_room_code(password)
        self._guesses: dict[str, bytes] = {}  # a wrong code's auth_start message, made once
        self.peers: dict[ConnId, Peer] = {}
        self.assistant_actions: list[RoomAction] = []  # StartAnswer, CancelAnswer, Deliberate
        self._next = 0

    def apply(self, actions: list[RoomAction]) -> None:
        for action in actions:
            if isinstance(action, Deliver):
                for conn in action.conns:
                    self.peers[conn].inbox.append(action.message)
            elif isinstance(action, Disconnect):
                self.peers[action.conn].closed = action
            else:
                self.assistant_actions.append(action)

    def connect(self, address: str = "10.0.0.9") -> Peer:
        self._next += 1
        peer = Peer(ConnId(self._next))
        self.peers[peer.conn] = peer
        self.apply(self.room.connect(peer.conn, address))
        hello = peer.of(ServerHello)
        if hello:
            peer.nonce = hello[0].auth.nonce
        return peer

    def send(self, peer: Peer, **frame: Any) -> None:
        self.apply(self.room.receive(peer.conn, json.dumps(frame)))

    def exchange(self, peer: Peer, code: str, fingerprint: bytes = ZERO_FINGERPRINT) -> str | None:
        """Send ``auth_start`` for ``code``, bound to ``fingerprint`` (the certificate this
        guest saw), and read the room's reply: the guest's confirmation to say hello with, or
        None if the room refused. For a wrong code (a reply that does not verify) a made-up
        confirmation: a guesser need not stop where an honest guest does."""
        if normalise_room_code(code) != self._code:
            # Known to fail: a guesser may send one message for a code to every connection
            # (it carries no nonce), and the room cannot tell. Saves the guest's half.
            message = self._guesses.get(code)
            if message is None:
                message = GuestExchange(code, fingerprint, bytes(16)).start()
                self._guesses[code] = message
            self.send(peer, type="auth_start", method=AUTH_SPAKE2, message=encode_b64url(message))
            return None if peer.closed is not None else encode_b64url(bytes(CONFIRMATION_BYTES))
        guest = GuestExchange(code, fingerprint, decode_nonce(peer.nonce))
        self.send(peer, type="auth_start", method=AUTH_SPAKE2, message=encode_b64url(guest.start()))
        replies = peer.of(AuthReply)
        if peer.closed is not None or not replies:
            return None
        reply: AuthReply = replies[-1]
        try:
            confirmed = guest.finish(
                decode_message(reply.message), decode_confirmation(reply.confirmation)
            )
        except WrongCode:  # the same code, another certificate: someone in the middle
            return encode_b64url(bytes(CONFIRMATION_BYTES))
        return encode_b64url(confirmed.confirmation)

    def join(
        self,
        name: str,
        address: str = "10.0.0.9",
        *,
        fingerprint: bytes = ZERO_FINGERPRINT,
        **hello: Any,
    ) -> Peer:
        """Connect from ``address`` and say hello as ``name``. ``password``: run the room-code
        exchange with this code first; ``host_key``: prove it; anything else goes into the
        ``hello`` frame as it is."""
        peer = self.connect(address)
        code = hello.pop("password", None)
        if code is not None:
            confirmation = self.exchange(peer, code, fingerprint)
            if confirmation is None:
                return peer
            hello["auth"] = {"method": AUTH_SPAKE2, "confirmation": confirmation}
        host_key = hello.pop("host_key", None)
        if host_key is not None:
            hello["host_proof"] = key_proof(host_key, peer.nonce)
        self.send(peer, type="hello", protocol=PROTOCOL_VERSION, name=name, **hello)
        return peer

    def host(self, name: str = "Hana") -> Peer:
        return self.join(name, address="127.0.0.1", host_key="HOSTKEY")

    def drop(self, peer: Peer) -> None:
        self.apply(self.room.connection_lost(peer.conn))

    def tick(self, seconds: float) -> None:
        self.clock.now += seconds
        self.apply(self.room.tick())


def welcome_of(peer: Peer) -> Welcome:
    return peer.of(Welcome)[-1]  # type: ignore[no-any-return]
