"""Raw sockets against a room's port: the first flight of a TLS client, and whether the
room has closed a socket. For tests that hold sockets the way an attacker would."""

from __future__ import annotations

import contextlib
import socket
import ssl

from core.room_tls import client_context

__all__ = ["closed_by_peer", "tls_hello"]


def tls_hello() -> bytes:
    """The first flight of a TLS client, as a room receives it."""
    tls = client_context().wrap_bio(ssl.MemoryBIO(), outgoing := ssl.MemoryBIO())
    with contextlib.suppress(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def closed_by_peer(s: socket.socket) -> bool:
    """Whether the other end has closed non-blocking socket ``s`` (or reset it)."""
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True
