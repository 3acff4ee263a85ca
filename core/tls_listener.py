"""The way into a room's port: the socket limits at accept, then TLS, or a refusal in the clear.

Every accepted socket passes the :class:`~core.accept_gate.AcceptGate` before anything is
read from it, and is counted there as on its way in until its TLS handshake is over (or it
turned out to be plain text, or closed). Its first byte then says what it is
(:data:`TLS_HANDSHAKE_RECORD` opens every TLS connection: a record of type *handshake*):

* TLS: the handshake runs with the room's certificate; once it is done, websockets sees an
  encrypted transport, and the room is served over it.
* anything else: older software speaking plain HTTP. websockets gets the socket as it is, and
  :mod:`core.server` answers it only with what tells its user to update
  (:attr:`RoomConnection.encrypted` is False).

A socket whose WebSocket upgrade has not completed ``open_timeout`` seconds after it was
accepted is cut, however far it got (silent, stuck in TLS, or slow to upgrade), and
:meth:`Entrance.abort_arriving` cuts every such socket when the room closes. websockets'
own handler task starts only once TLS is up (or the socket turned out to be plain), and
from then on everything (the upgrade, frames, flow control, the slow-reader limits) works
as over a plain socket.

Python's ssl starts TLS only on a transport that has read nothing (``loop.start_tls``), but
the byte that tells TLS from plain text has been read by then. :func:`start_server_tls`
therefore hands asyncio's own TLS protocol the bytes already read; it is the one place that
knows how (see its docstring). It works on selector and proactor (Windows) loops alike:
it only swaps the transport's protocol, which both support mid-stream.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import logging
import ssl
from typing import Any, ClassVar

from websockets.asyncio.server import ServerConnection
from websockets.protocol import State

from core.accept_gate import AcceptGate

__all__ = ["TLS_HANDSHAKE_RECORD", "Entrance", "RoomConnection", "start_server_tls"]

log = logging.getLogger("gptgroup.server")

TLS_HANDSHAKE_RECORD = 0x16  # the first byte of every TLS connection (RFC 8446, 5.1)
# What asyncio's TLS protocol reads at once, per connection: one whole TLS record (16 KiB of
# data, 256 bytes of expansion and a 5-byte header, RFC 8446 5.2), so OpenSSL always has a
# record to work on. Its default (256 KiB, allocated and zeroed when a connection starts TLS)
# would let a flood of stalled handshakes cost a gigabyte.
TLS_READ_BUFFER = 17 * 1024


class _RoomTls(asyncio.sslproto.SSLProtocol):
    max_size = TLS_READ_BUFFER


def start_server_tls(
    transport: asyncio.Transport,
    app_protocol: asyncio.BaseProtocol,
    context: ssl.SSLContext,
    first_bytes: bytes,
    *,
    waiter: asyncio.Future[Any],
    handshake_timeout: float,
    shutdown_timeout: float,
) -> None:
    """Run the server side of a TLS handshake on ``transport``, which has already read
    ``first_bytes`` of it; then hand ``app_protocol`` the encrypted transport.

    Once the handshake is done, ``app_protocol.connection_made`` gets the TLS transport (and
    later its ``connection_lost``), then ``waiter`` gets its result. When the handshake fails
    or the socket closes first, ``app_protocol`` hears nothing at all: ``waiter`` is done
    (with an exception, or a result) without ``connection_made`` having been called, and the
    socket is closed.

    Why a private class: there is no public way to start TLS on a transport that has read
    bytes. ``loop.start_tls`` would drop them, and the client's hello with them. So this
    builds what ``start_tls`` and ``create_server(ssl=...)`` build themselves, asyncio's
    :class:`asyncio.sslproto.SSLProtocol` (a buffered protocol since Python 3.11), makes it
    the transport's protocol and feeds it ``first_bytes`` through the public buffered
    protocol calls (``get_buffer`` / ``buffer_updated``). Its constructor is the one thing
    used that asyncio does not document; ``tests/core/test_tls_listener.py`` fails loudly
    if it changes.
    """
    loop = asyncio.get_running_loop()
    # typeshed has ssl_handshake_timeout as an int; asyncio takes any positive number.
    tls = _RoomTls(
        loop,
        app_protocol,
        context,
        waiter,
        server_side=True,
        ssl_handshake_timeout=handshake_timeout,  # type: ignore[arg-type]
        ssl_shutdown_timeout=shutdown_timeout,
    )
    transport.set_protocol(tls)
    tls.connection_made(transport)
    view = memoryview(first_bytes)
    while view and not transport.is_closing():
        buffer = tls.get_buffer(len(view))
        size = min(len(buffer), len(view))
        buffer[:size] = view[:size]
        tls.buffer_updated(size)
        view = view[size:]


class Entrance:
    """What every connection to one room's port shares: the socket limits, the TLS context,
    the upgrade deadline, and the sockets still on their way in.

    Pass :meth:`connection_class` to websockets' ``serve(create_connection=...)``.
    """

    def __init__(
        self,
        gate: AcceptGate,
        context: ssl.SSLContext,
        *,
        open_timeout: float,
        close_timeout: float,
    ) -> None:
        self.gate = gate
        self.context = context
        self.open_timeout = open_timeout
        self.close_timeout = close_timeout
        # Sockets accepted less than open_timeout ago and still open (upgraded or not).
        self._arriving: set[RoomConnection] = set()

    def connection_class(self) -> type[RoomConnection]:
        entrance = self

        class EntranceConnection(RoomConnection):
            _entrance = entrance

        return EntranceConnection

    def abort_arriving(self) -> None:
        """Cut every socket that has not completed its WebSocket upgrade (the room closes)."""
        for connection in list(self._arriving):
            connection.abort_if_arriving()


class RoomConnection(ServerConnection):
    """A websockets server connection that passes the gate at accept, then sorts TLS from
    plain text by its first byte (see the module docstring). Made by
    :meth:`Entrance.connection_class`."""

    _entrance: ClassVar[Entrance]
    _socket: asyncio.Transport | None = None  # the accepted TCP transport
    _admitted: str | None = None  # the address the gate counts, until released
    _settling = False  # the gate counts it as on its way in (TLS handshake, or no byte yet)
    _deadline: asyncio.TimerHandle | None = None
    _opened = False  # websockets' connection_made ran (TLS up, or plain)
    encrypted = False  # whether it came in over TLS (known once websockets has it)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._socket is None:
            assert isinstance(transport, asyncio.Transport)
            self._accepted(transport)
        else:  # the TLS transport once the handshake is done, or the socket when plain
            self._opened = True
            self.encrypted = transport.get_extra_info("ssl_object") is not None
            super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._release()
        if self._opened:  # else websockets never saw this socket: nothing of it to end
            super().connection_lost(exc)

    def abort_if_arriving(self) -> None:
        """Cut the socket if its WebSocket upgrade has not completed."""
        self._entrance._arriving.discard(self)
        if self.protocol.state is State.CONNECTING and self._socket is not None:
            self._socket.abort()

    # ----------------------------------------------------------------- internals

    def _accepted(self, transport: asyncio.Transport) -> None:
        entrance = self._entrance
        self._socket = transport
        peer: Any = transport.get_extra_info("peername")
        address = str(peer[0]).removeprefix("::ffff:") if peer else "unknown"
        if not entrance.gate.admit(address):
            transport.abort()  # before anything is read: costs the attacker, not us
            return
        self._admitted = address
        self._settling = True
        entrance._arriving.add(self)
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(entrance.open_timeout, self.abort_if_arriving)
        transport.set_protocol(_FirstBytes(self))

    def _first_bytes(self, data: bytes) -> None:
        """The socket's first bytes: TLS, or plain text that websockets answers as it is."""
        transport = self._socket
        assert transport is not None
        if data[0] == TLS_HANDSHAKE_RECORD:
            waiter = asyncio.get_running_loop().create_future()
            waiter.add_done_callback(self._tls_settled)
            entrance = self._entrance
            start_server_tls(
                transport,
                self,
                entrance.context,
                data,
                waiter=waiter,
                handshake_timeout=entrance.open_timeout,
                shutdown_timeout=entrance.close_timeout,
            )
        else:
            self._settle()  # websockets reads the plain request with its own limits
            transport.set_protocol(self)
            self.connection_made(transport)
            self.data_received(data)

    def _tls_settled(self, waiter: asyncio.Future[Any]) -> None:
        if not waiter.cancelled() and waiter.exception() is not None:
            log.debug("a TLS handshake failed: %s", waiter.exception())
        self._settle()
        if not self._opened:  # failed, or the socket closed first: we were never told
            self._release()

    def _release(self) -> None:
        """The socket is gone, or will never reach websockets: give back its place."""
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._entrance._arriving.discard(self)
        self._settle()
        if self._admitted is not None:
            self._entrance.gate.release(self._admitted)
            self._admitted = None

    def _settle(self) -> None:
        """The socket is no longer on its way in (handshake over, plain, or gone)."""
        if self._settling and self._admitted is not None:
            self._settling = False
            self._entrance.gate.settled(self._admitted)


class _FirstBytes(asyncio.Protocol):
    """A freshly accepted socket's protocol until its first bytes arrive."""

    def __init__(self, connection: RoomConnection) -> None:
        self._connection = connection

    def data_received(self, data: bytes) -> None:
        self._connection._first_bytes(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._connection._release()  # it closed (or was cut) before saying anything
