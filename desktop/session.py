"""The bridge between a :class:`core.client.RoomClient` and Qt.

A :class:`RoomSession` runs the client's event stream on the qasync loop and re-emits every
event as a Qt signal, so widgets only subscribe. Its actions are plain methods that start a
tracked task (qasync's ``asyncSlot`` keeps no reference to its tasks, so we keep our own);
a failed action is reported through :attr:`RoomSession.action_failed`, never raised into Qt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any

from PySide6.QtCore import QObject, Signal

from core.client import Ended, MessageTooLarge, NotConnected, RoomClient
from core.hosting import RoomHost
from core.protocol import Welcome

__all__ = ["RoomSession"]

log = logging.getLogger("gptgroup.desktop.session")


class RoomSession(QObject):
    """One joined room: its client, the host side when we host it, and its events as signals."""

    event_received = Signal(object)  # every ClientEvent, in room order
    action_failed = Signal(str)  # a sentence for the user
    ended = Signal(object)  # the final Ended event

    def __init__(
        self,
        client: RoomClient,
        welcome: Welcome,
        host: RoomHost | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.client = client
        self.welcome = welcome
        self.host = host  # set when this app hosts the room
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pump: asyncio.Task[None] | None = None

    @property
    def is_host(self) -> bool:
        return self.client.you.role == "host"

    def start(self) -> None:
        """Begin delivering events (the welcome's replay comes first)."""
        self._pump = asyncio.ensure_future(self._deliver())
        if self.host is not None:
            self._run(self._close_host_when_room_closes(self.host))

    async def _close_host_when_room_closes(self, host: RoomHost) -> None:
        """Closing the room from the menu must also stop listening and withdraw the
        announcement, not only end the conversation."""
        await host.wait_room_closed()
        await host.close("closed_by_host")

    async def _deliver(self) -> None:
        async for event in self.client.events():
            self.event_received.emit(event)
            if isinstance(event, Ended):
                self.ended.emit(event)

    # ----------------------------------------------------------------- actions

    def send(self, text: str) -> str | None:
        """Queue a message; returns its client id, or None when it cannot be sent."""
        try:
            return self.client.post(text)
        except (MessageTooLarge, NotConnected) as exc:
            self.action_failed.emit(str(exc))
            return None

    def set_typing(self, active: bool) -> None:
        self._run(self.client.set_typing(active))

    def stop_answer(self, answer_id: str) -> None:
        self._run(self.client.stop_answer(answer_id))

    def regenerate(self, answer_id: str) -> None:
        self._run(self.client.regenerate(answer_id))

    def kick(self, participant_id: str, *, ban: bool = False) -> None:
        self._run(self.client.kick(participant_id, ban=ban))

    def unban(self, ban_id: str) -> None:
        """Host only: lift a ban (an id from ``client.bans``); a ``BanList`` event follows."""
        self._run(self.client.unban(ban_id))

    def lock(self, locked: bool) -> None:
        self._run(self.client.lock(locked))

    def configure_assistant(self, **settings: Any) -> None:
        self._run(self.client.configure_assistant(**settings))

    def close_room(self) -> None:
        self._run(self.client.close_room())

    async def leave(self) -> None:
        """Leave the room; if we host it, close it for everyone and withdraw it."""
        if self.host is not None:
            with contextlib.suppress(NotConnected):
                await self.client.close_room()
            await self.host.close("closed_by_host")
        await self.client.leave()
        if self._pump is not None:
            self._pump.cancel()
        for task in list(self._tasks):
            task.cancel()

    def _run(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if isinstance(error, NotConnected):
            self.action_failed.emit("Not connected to the room right now; try again in a moment.")
        elif error is not None:
            log.error("room action failed", exc_info=error)
            self.action_failed.emit(f"That did not work: {error}")
