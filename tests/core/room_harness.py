"""Drives a :class:`core.room.Room` the way the server does, on plain values with a fake clock."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from core.protocol import ErrorMessage, Limits, ServerHello, ServerMessage, Welcome, password_proof
from core.room import ConnId, Deliver, Disconnect, Room, RoomAction, RoomConfig


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

    def __init__(self, **config: Any) -> None:
        config.setdefault("name", "Room")
        config.setdefault("host_key", "HOSTKEY")
        config.setdefault("limits", Limits(message_burst=1000, messages_per_minute=60_000))
        self.clock = FakeClock()
        self.room = Room(RoomConfig(**config), clock=self.clock, wall_clock=self.clock)
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

    def join(self, name: str, address: str = "10.0.0.9", **hello: Any) -> Peer:
        peer = self.connect(address)
        password = hello.pop("password", None)
        if password is not None:
            hello["auth"] = {
                "method": "password-hmac-sha256",
                "proof": password_proof(password, peer.nonce),
            }
        host_key = hello.pop("host_key", None)
        if host_key is not None:
            hello["host_proof"] = password_proof(host_key, peer.nonce)
        self.send(peer, type="hello", protocol=1, name=name, **hello)
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
