"""The app's window: the lobby, then the room; joining and hosting flows in between."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QMainWindow, QMessageBox, QStackedWidget, QWidget

from core import APP_NAME
from core.address import RoomAddress
from core.ai.provider import ChatProvider
from core.client import JoinRefused, RoomClient, RoomUnreachable, probe_room
from core.discovery import DiscoveredRoom, Discovery, RoomBrowser
from core.hosting import RoomHost
from core.protocol import DEFAULT_PORT, PROTOCOL_VERSION, RoomInfo, RoomPreview
from desktop.about import AboutDialog
from desktop.chat_page import ChatPage
from desktop.host_dialog import HostDialog
from desktop.join_dialogs import AddressDialog, DisclosureDialog, JoinDialog, sentence
from desktop.lobby import LobbyPage
from desktop.modal import run_dialog, warn
from desktop.models import RoomListModel
from desktop.network_text import TEXT_CHARS, fenced, one_line, shorten
from desktop.session import RoomSession
from desktop.settings import KeyStore, Preferences

__all__ = ["MainWindow"]

log = logging.getLogger("gptgroup.desktop")

REFUSALS = {
    "auth_failed": "Wrong room password.",
    "room_full": "The room is full.",
    "room_locked": "The host has locked the room to new people.",
    "banned": "You cannot join this room: the host banned this computer.",
    "room_closed": "This room has closed.",
    "too_many_attempts": "Too many wrong passwords. Wait a minute, then try again.",
}


class MainWindow(QMainWindow):
    """Shows the lobby until the person joins or hosts a room, then the room.

    :attr:`closed` is emitted once the person has closed the window (and confirmed, when
    that closes a room they host); the app then shuts down.
    """

    closed = Signal()

    def __init__(
        self,
        *,
        prefs: Preferences | None = None,
        keys: KeyStore | None = None,
        discover: bool = True,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(APP_NAME)
        self.prefs = prefs or Preferences()
        self.keys = keys or KeyStore()
        self.rooms = RoomListModel(self)
        self.lobby = LobbyPage(self.rooms)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.lobby)
        self.setCentralWidget(self.pages)
        self.chat: ChatPage | None = None
        self.session: RoomSession | None = None
        self.discovery: Discovery | None = None
        self.browser: RoomBrowser | None = None
        self._discover = discover
        self._seen_notice: set[str] = set()  # rooms whose notice was shown this session
        self._tasks: set[asyncio.Task[Any]] = set()
        self._busy = False
        self.resize(980, 680)
        self._connect_signals()

    def _connect_signals(self) -> None:
        self.lobby.join_requested.connect(lambda room: self._run(self.join_discovered(room)))
        self.lobby.join_by_address_requested.connect(self._ask_address)
        self.lobby.host_requested.connect(lambda: self._run(self.host_room()))
        self.lobby.about_requested.connect(self.show_about)

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Start looking for rooms (the window works without, by address)."""
        if not self._discover:
            self.lobby.set_discovery_problem("Looking for rooms is switched off.")
            return
        try:
            self.discovery = Discovery()
            await self.discovery.start()
            self.browser = await self.discovery.browse()
            self.browser.subscribe(self.rooms.apply)
        except OSError as exc:
            log.warning("room discovery unavailable: %s", exc)
            self.discovery = None
            self.lobby.set_discovery_problem(
                "Cannot look for rooms on this network right now; join by address or link."
            )

    async def shutdown(self) -> None:
        """Leave (or close, when hosting) the room and stop discovery."""
        if self.session is not None:
            await self.session.leave()
            self.session = None
        if self.browser is not None:
            await self.browser.close()
        if self.discovery is not None:
            await self.discovery.close()
        for task in list(self._tasks):
            task.cancel()

    def closeEvent(self, event: QCloseEvent) -> None:
        session = self.session
        if session is not None and session.host is not None and session.client.ended is None:
            answer = QMessageBox.question(
                self, "Close the room?",
                "You host this room. Quitting closes it for everyone, and the conversation is "
                "gone for good.",
            )  # fmt: skip
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        event.accept()
        self.closed.emit()

    def show_about(self, privacy: bool = False) -> None:
        dialog = AboutDialog(self)
        if privacy:
            dialog.show_privacy_tab()
        dialog.exec()

    def _run(self, coroutine: Coroutine[Any, Any, None]) -> None:
        if self._busy:
            coroutine.close()
            return
        task = asyncio.ensure_future(self._guarded(coroutine))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(self, coroutine: Coroutine[Any, Any, None]) -> None:
        self._busy = True
        self.lobby.setEnabled(False)
        try:
            await coroutine
        except Exception as exc:
            log.exception("action failed")
            await self._problem(f"Something went wrong: {exc}")
        finally:
            self._busy = False
            self.lobby.setEnabled(True)

    async def _problem(self, text: str) -> None:
        await warn(self, APP_NAME, text)

    # ----------------------------------------------------------------- joining

    def _ask_address(self) -> None:
        dialog = AddressDialog(self)
        if dialog.exec():
            self._run(self.join_address(dialog.room_address()))

    async def join_discovered(self, room: DiscoveredRoom) -> None:
        await self.join_url(room.url())

    async def join_address(self, address: RoomAddress) -> None:
        if address.protocol is not None and address.protocol != PROTOCOL_VERSION:
            await self._problem(
                f"This link is for a different version of {APP_NAME} (protocol "
                f"{address.protocol}). Update the app that is older."
            )
            return
        await self.join_url(address.url)

    async def join_url(self, url: str) -> None:
        """The whole join flow: look, ask name and password, show the notice, join."""
        try:
            preview = await probe_room(url)
        except (RoomUnreachable, JoinRefused) as exc:
            await self._problem(self._refusal_text(exc))
            return
        password_required = preview.password_required
        while True:
            dialog = JoinDialog(
                preview.name, self.prefs.get("display_name"),
                password_required=password_required, parent=self,
            )  # fmt: skip
            if not await run_dialog(dialog):
                return
            name = dialog.display_name()
            self.prefs.set("display_name", name)
            if not await self._notice_accepted(url, preview):
                return
            client = RoomClient(url, name, password=dialog.room_password())
            try:
                welcome = await client.connect()
            except JoinRefused as exc:
                await self._problem(self._refusal_text(exc))
                if exc.code == "auth_failed":
                    password_required = True
                    continue
                return
            except RoomUnreachable as exc:
                await self._problem(self._refusal_text(exc))
                return
            self._enter(RoomSession(client, welcome))
            return

    async def _notice_accepted(self, url: str, preview: RoomPreview) -> bool:
        key = f"{url} {preview.name}"
        if key in self._seen_notice:
            return True
        room = RoomInfo(preview.name, None, 0, None, False, preview.password_required,
                        assistant=preview.assistant)  # fmt: skip
        dialog = DisclosureDialog(room, self)
        dialog.privacy_requested.connect(lambda: self.show_about(privacy=True))
        if not await run_dialog(dialog):
            return False
        self._seen_notice.add(key)
        return True

    @staticmethod
    def _refusal_text(exc: Exception) -> str:
        if isinstance(exc, RoomUnreachable):
            return (
                "The room could not be reached. The host may have closed it, or the network "
                "does not let you through."
            )
        if isinstance(exc, JoinRefused):
            return REFUSALS.get(exc.code) or sentence(shorten(one_line(exc.message), TEXT_CHARS))
        return str(exc)

    # ----------------------------------------------------------------- hosting

    async def host_room(self) -> None:
        dialog = HostDialog(self.prefs, self.keys, self)
        if not await run_dialog(dialog):
            return
        plan = dialog.plan()
        host = await self._open(plan.config, plan.provider)
        if host is None:
            return
        client = RoomClient(
            host.local_url(), plan.your_name, password=plan.config.password, host_key=host.host_key
        )
        try:
            welcome = await client.connect()
        except (JoinRefused, RoomUnreachable) as exc:
            await host.close()
            await self._problem(f"The room opened but you could not join it: {exc}")
            return
        except BaseException:
            await host.close()
            raise
        self._seen_notice.add(f"{host.local_url()} {plan.config.name}")
        self._enter(RoomSession(client, welcome, host=host))

    async def _open(self, config: Any, provider_settings: Any) -> RoomHost | None:
        for port in (DEFAULT_PORT, 0):  # the usual port, or any free one if it is taken
            provider = ChatProvider(provider_settings) if provider_settings else None
            host = RoomHost(
                config, provider=provider, port=port, advertise=self.discovery is not None,
                discovery=self.discovery,
            )  # fmt: skip
            try:
                await host.start()
            except OSError as exc:
                await host.close()
                if port == 0:
                    await self._problem(f"Could not open the room: {exc.strerror or exc}")
                continue
            except BaseException:  # never leave a room listening and announced behind us
                await host.close()
                raise
            return host
        return None

    # ----------------------------------------------------------------- the room page

    def _enter(self, session: RoomSession) -> None:
        self.session = session
        self.chat = ChatPage(session)
        self.chat.left.connect(lambda: self._run(self.leave_room()))
        self.pages.addWidget(self.chat)
        self.pages.setCurrentWidget(self.chat)
        self.setWindowTitle(f"{fenced(session.welcome.room.name)} — {APP_NAME}")
        session.start()
        self.chat.composer.setFocus()

    async def leave_room(self) -> None:
        session, chat = self.session, self.chat
        self.session = self.chat = None
        if session is not None:
            await session.leave()
        if chat is not None:
            self.pages.removeWidget(chat)
            chat.deleteLater()
        self.pages.setCurrentWidget(self.lobby)
        self.setWindowTitle(APP_NAME)
