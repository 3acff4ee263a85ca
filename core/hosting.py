"""Hosting a room: the server, the assistant's provider and the LAN announcement, together.

Used by the headless host and by the desktop app alike, so both open, announce, keep current
and close a room the same way. The host's own window joins through an ordinary
:class:`core.client.RoomClient` with :attr:`RoomHost.host_key` (at :meth:`RoomHost.local_url`,
pinning :attr:`RoomHost.fingerprint`). Each room has its own certificate; the host shows
:attr:`RoomHost.verification_code` for people who join by address to compare.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Sequence
from typing import Literal

from core.address import host_port, room_link
from core.ai.provider import ChatProvider
from core.discovery import Advertisement, Discovery, RoomAdvert, resolve_interfaces
from core.log_redaction import register_secret
from core.netinfo import joinable_addresses, lan_addresses
from core.protocol import DEFAULT_PORT, PROTOCOL_VERSION, RoomInfo
from core.room import RoomConfig
from core.room_tls import RoomCertificate
from core.server import RoomServer

__all__ = ["AnnounceError", "HostingError", "ListenError", "RoomHost"]

_EVERY_INTERFACE = (None, "", "0.0.0.0", "::")


class HostingError(OSError):
    """The room could not be opened. ``str()`` (and ``strerror``) is one sentence saying why;
    ``errno`` is the system's error number, when there is one."""

    def __init__(self, message: str, error_number: int | None = None) -> None:
        super().__init__(error_number, message)

    def __str__(self) -> str:
        return str(self.strerror)


class ListenError(HostingError):
    """The room's address and port could not be listened on."""


class AnnounceError(HostingError):
    """The room could not be announced on the local network."""


class RoomHost:
    """One hosted room. :meth:`start` it; :meth:`close` it (which also withdraws it).

    ``bind=None`` listens on every interface. ``advertise`` announces the room over mDNS and
    by its broadcast beacon (see :mod:`core.beacon`) on ``interfaces`` (addresses or
    interface names; all but loopback when None), through
    ``discovery`` when given (so the app's own room list knows the room as its own).
    ``certificate`` is the room's TLS identity; a fresh one when None (as it should be).
    """

    def __init__(
        self,
        config: RoomConfig,
        *,
        provider: ChatProvider | None = None,
        bind: str | None = None,
        port: int = DEFAULT_PORT,
        advertise: bool = True,
        interfaces: Sequence[str] | None = None,
        discovery: Discovery | None = None,
        trace_content: bool = False,
        certificate: RoomCertificate | None = None,
    ) -> None:
        self.config = config
        register_secret(config.host_key)
        # Raises ValueError with a one-line message for a choice that is not this machine's.
        self._interfaces = resolve_interfaces(interfaces) if interfaces else None
        self._bind = bind
        self._port = port
        self._advertise = advertise
        self.server = RoomServer(
            config, certificate=certificate, host=bind, port=port, provider=provider,
            on_info_changed=self._changed, trace_content=trace_content,
        )  # fmt: skip
        self._shared_discovery = discovery  # the app's own, which also browses: not ours to close
        self._discovery: Discovery | None = None
        self._advertisement: Advertisement | None = None

    @property
    def host_key(self) -> str:
        return self.config.host_key

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def fingerprint(self) -> bytes:
        """The room certificate's fingerprint (32 bytes): what links, records and the host's
        own client pin."""
        return self.server.fingerprint

    @property
    def verification_code(self) -> str:
        """The code to show the host, for people who join by address to compare."""
        return self.server.verification_code

    @property
    def advertised(self) -> bool:
        return self._advertisement is not None

    async def start(self) -> None:
        """Listen, then announce. Raises :class:`ListenError` when the address and port cannot
        be listened on and :class:`AnnounceError` when the room cannot be announced (both
        ``OSError``s saying why in one sentence); :meth:`close` the host after either."""
        try:
            await self.server.start()
        except OSError as exc:
            raise ListenError(_why_not_listening(exc, self._bind, self._port), exc.errno) from exc
        if not self._advertise:
            return
        try:
            discovery = self._shared_discovery
            if discovery is None:
                discovery = self._discovery = Discovery(self._interfaces)
                await discovery.start()
            # The room's instance as its room id: the greeting tells it anyone who looks,
            # so a scan of the network lists the room as one with its announcements.
            self._advertisement = await discovery.advertise(
                self.server.room.info(), self.port, self.fingerprint,
                room_id=self.server.room.instance,
            )  # fmt: skip
        except OSError as exc:
            where = ", ".join(self._interfaces) if self._interfaces else "the local network"
            raise AnnounceError(
                f"cannot announce the room on {where}: {(exc.strerror or str(exc)).lower()}",
                exc.errno,
            ) from exc

    def local_address(self) -> str:
        """``host:port`` where this machine itself joins: loopback, unless bound elsewhere."""
        host = "127.0.0.1" if self._bind in _EVERY_INTERFACE else str(self._bind)
        return host_port(host, self.port)

    def local_url(self) -> str:
        """Where this machine's own window joins (``wss://``): loopback, unless bound
        elsewhere. Join it pinning :attr:`fingerprint`."""
        return f"wss://{self.local_address()}/"

    def addresses(self) -> list[str]:
        """Addresses others can use to reach the room (an IPv6 link-local one with its
        scope, as in ``fe80::1%eth0``, or not at all)."""
        if self._bind not in _EVERY_INTERFACE:
            return joinable_addresses([str(self._bind)])
        return joinable_addresses(self._interfaces or lan_addresses()) or ["127.0.0.1"]

    def links(self) -> list[str]:
        """A shareable ``gptgroup://`` link for each address, carrying the fingerprint."""
        password = self.config.password is not None
        name, port = self.config.name, self.port
        return [
            room_link(
                a,
                port,
                name,
                password_required=password,
                protocol=PROTOCOL_VERSION,
                fingerprint=self.fingerprint,
            )
            for a in self.addresses()
        ]

    async def wait_room_closed(self) -> None:
        await self.server.wait_room_closed()

    async def close(
        self, reason: Literal["closed_by_host", "host_shutdown"] = "host_shutdown"
    ) -> None:
        """Withdraw the announcement, tell everyone, close every connection."""
        if self._advertisement is not None:
            await self._advertisement.close()
            self._advertisement = None
        if self._discovery is not None:
            await self._discovery.close()
            self._discovery = None
        await self.server.close(reason)

    def _changed(self, info: RoomInfo) -> None:
        if self._advertisement is not None:
            room_id = self._advertisement.advert.room_id
            self._advertisement.update(
                RoomAdvert.for_room(room_id, info, self.port, self.fingerprint)
            )


def _why_not_listening(exc: OSError, bind: str | None, port: int) -> str:
    """One sentence on why listening on ``bind`` (every interface when None) and ``port``
    failed, telling apart a port in use from an address that is not this machine's."""
    where = "every interface" if bind in _EVERY_INTERFACE else str(bind)
    if isinstance(exc, socket.gaierror):
        return f"cannot listen on {where}: it is not an address, nor a name this machine knows"
    if exc.errno == errno.EADDRINUSE:
        return f"cannot listen on port {port}: it is already in use (by another room or program)"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {where}: it is not an address of this machine"
    if exc.errno == errno.EINVAL and _is_unscoped_link_local(bind):
        return (
            f"cannot listen on {where}: a link-local address needs its interface, as in {bind}%eth0"
        )
    if exc.errno == errno.EACCES:
        return f"cannot listen on port {port}: permission denied"
    reason = (exc.strerror or str(exc)).lower()
    return f"cannot listen on {where}, port {port}: {reason}"


def _is_unscoped_link_local(text: str | None) -> bool:
    try:
        address = ipaddress.ip_address(text or "")
    except ValueError:
        return False
    return address.is_link_local and getattr(address, "scope_id", None) is None
