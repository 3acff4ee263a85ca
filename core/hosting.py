"""Hosting a room: the server, the assistant's provider and the LAN announcement, together.

Used by the headless host and by the desktop app alike, so both open, announce, keep current
and close a room the same way. The host's own window joins through an ordinary
:class:`core.client.RoomClient` with :attr:`RoomHost.host_key`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from core.address import room_link
from core.ai.provider import ChatProvider
from core.discovery import Advertisement, Discovery, RoomAdvert, resolve_interfaces
from core.netinfo import lan_addresses
from core.protocol import DEFAULT_PORT, PROTOCOL_VERSION, RoomInfo
from core.room import Room, RoomConfig
from core.server import RoomServer

__all__ = ["RoomHost"]


class RoomHost:
    """One hosted room. :meth:`start` it; :meth:`close` it (which also withdraws it).

    ``bind=None`` listens on every interface. ``advertise`` announces the room over mDNS on
    ``interfaces`` (addresses or interface names; all but loopback when None), through
    ``discovery`` when given (so the app's own room list knows the room as its own).
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
    ) -> None:
        self.config = config
        self._interfaces = resolve_interfaces(interfaces) if interfaces else None
        self._bind = bind
        self._advertise = advertise
        self.server = RoomServer(
            Room(config), host=bind, port=port, provider=provider, on_info_changed=self._changed
        )
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
    def advertised(self) -> bool:
        return self._advertisement is not None

    async def start(self) -> None:
        """Listen, then announce. Raises ``OSError`` when the port cannot be bound."""
        await self.server.start()
        if not self._advertise:
            return
        discovery = self._shared_discovery
        if discovery is None:
            discovery = self._discovery = Discovery(self._interfaces)
            await discovery.start()
        self._advertisement = await discovery.advertise(self.server.room.info(), self.port)

    def local_url(self) -> str:
        """Where this machine's own window joins: loopback, unless bound elsewhere."""
        host = self._bind if self._bind not in (None, "", "0.0.0.0", "::") else "127.0.0.1"
        return self.server.url(host or "127.0.0.1")

    def addresses(self) -> list[str]:
        """Addresses others can use to reach the room."""
        if self._bind not in (None, "", "0.0.0.0", "::"):
            return [str(self._bind)]
        return self._interfaces or lan_addresses() or ["127.0.0.1"]

    def links(self) -> list[str]:
        """A shareable ``gptgroup://`` link for each address."""
        password = self.config.password is not None
        name, port = self.config.name, self.port
        return [
            room_link(a, port, name, password_required=password, protocol=PROTOCOL_VERSION)
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
            self._advertisement.update(RoomAdvert.for_room(room_id, info, self.port))
