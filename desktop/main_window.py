"""The app's window: the lobby, then the room; joining and hosting flows in between.

One flow (join or host) runs at a time. While it waits on the network, a strip at the bottom
of the window says what it is doing, with a busy bar and a Cancel button; the lobby stays
readable, only its ways in are switched off.

Rooms are joined from the list, by a typed address or link, or by a join code. Where nothing
vouches for the room's certificate (a typed address, a room only a search of the network
found), the notice before joining shows its verification code to compare with the host's
first; a link, an announcement or a join code names the certificate, and a room that
presents another one is sent nothing. A search of the network (the lobby's, on request) is
no flow: it runs beside them, and what it finds is listed as the browser's rooms are.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Iterable, Iterator
from dataclasses import replace
from typing import Any

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from core import APP_NAME
from core.address import RoomAddress
from core.ai.provider import ChatProvider, ProviderSettings
from core.client import (
    CertificateMismatch,
    JoinRefused,
    RoomClient,
    RoomProbe,
    RoomUnreachable,
    probe_join_code,
    probe_room,
)
from core.discovery import BrowserEvent, DiscoveredRoom, Discovery, RoomBrowser
from core.hosting import RoomHost
from core.join_code import JoinCode
from core.network_doctor import HostedRoomInfo
from core.network_scan import ScannedRoom
from core.protocol import DEFAULT_PORT, PROTOCOL_VERSION, AssistantInfo, RoomPreview, Welcome
from core.room import RoomConfig
from core.wording import JOIN_REFUSALS
from desktop import text_size, theme
from desktop.about import AboutDialog
from desktop.chat_page import ChatPage
from desktop.host_dialog import HostDialog
from desktop.join_dialogs import AddressDialog, Checked, DisclosureDialog, JoinDialog, sentence
from desktop.labels import ElidedLabel
from desktop.lobby import LobbyPage, RoomFeed, room_address, room_note
from desktop.modal import inform, run_dialog, warn
from desktop.models import RoomListModel, found_only_by_search
from desktop.network_check_dialog import NetworkCheckDialog
from desktop.network_text import TEXT_CHARS, fenced, one_line, shorten
from desktop.notifications import Notifier
from desktop.session import RoomSession
from desktop.settings import (
    KeyStore,
    Preferences,
    remember_splitter,
    restore_window_geometry,
    save_window_geometry,
)
from desktop.settings_dialog import open_settings
from desktop.shortcuts_dialog import ShortcutsDialog, add_text_size_actions

__all__ = ["BusyStrip", "MainWindow"]

log = logging.getLogger("gptgroup.desktop")

ROOM_CODE_REFUSALS = frozenset({"auth_failed", "too_many_attempts"})
"""Refusals about the room code: said in the join dialog, with the code ready to retype."""
IMPOSTOR_TITLE = "Not the room you were told about"
LISTED_CERTIFICATE_CHANGED = (
    "The room at this address now has another certificate: the host may have restarted it, "
    "or someone may be impersonating it. Nothing was sent to it. If the host restarted it, it "
    "is listed again with its new verification code: compare that code with the host's before "
    "joining."
)
"""Said when a room from the list presents another certificate than its announcement names:
the two cases cannot be told apart from here, so both are said."""


class BusyStrip(QWidget):
    """A line at the bottom of the window: what the app is waiting for, a busy bar, Cancel.

    :attr:`cancel_requested` is emitted when the person clicks Cancel.
    """

    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("busyStrip")
        self.label = ElidedLabel(name="busyText")  # may name a room: network text
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)  # busy: no percentage to show
        self.bar.setTextVisible(False)
        self.bar.setFixedWidth(140)
        self.bar.setAccessibleName("Working")
        self.cancel_button = QPushButton("Cancel")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 4, 12, 8)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.hide()

    def show_busy(self, text: str, *, cancellable: bool = True) -> None:
        self.label.setText(text)
        self.cancel_button.setVisible(cancellable)
        self.show()

    def done(self) -> None:
        self.hide()
        self.label.setText("")


def notice_key(room: str, assistant: AssistantInfo | None, fingerprint: bytes | None) -> str:
    """What a join notice was about: this run of a room (its instance, or its address for a
    room that does not say), the certificate it presented, and where its messages go. A room
    that comes back as another run, with another certificate (whose code was never shown),
    or with another AI or answer mode, is shown the notice again. (An impostor can copy a
    room's instance and assistant, never its certificate.)"""
    certificate = fingerprint.hex() if fingerprint is not None else "unknown"
    if assistant is None:
        return f"{room}\0{certificate}\0none"
    return "\0".join((room, certificate, assistant.provider_kind, assistant.provider,
                      assistant.model, assistant.mode))  # fmt: skip


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
        self.feed = RoomFeed(self.rooms.apply)
        self.lobby = LobbyPage(self.rooms)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.lobby)
        self.busy_strip = BusyStrip()
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.busy_strip)
        self.setCentralWidget(central)
        self.chat: ChatPage | None = None
        self.session: RoomSession | None = None
        self.notifier: Notifier | None = None  # of the room on screen
        self.discovery: Discovery | None = None
        self.browser: RoomBrowser | None = None
        self._discover = discover
        self._seen_notice: set[str] = set()  # notice_key()s shown this session
        # Whether newcomers read back, learnt on joining: by room instance and certificate, so
        # that a room with another certificate (which can copy the instance) inherits nothing.
        self._history_shared: dict[tuple[str, bytes | None], bool] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._flow: asyncio.Task[Any] | None = None  # the join or host flow running, if any
        self.resize(980, 680)
        restore_window_geometry(self, self.prefs)  # where it was, within the screen now
        app = QApplication.instance()
        if isinstance(app, QApplication):
            text_size.install(app, self.prefs)
        # In the lobby; the chat page has its own way in.
        self.settings_shortcut = QShortcut(QKeySequence("Ctrl+,"), self.lobby)
        self.settings_shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        # The lobby's own copies of the room's keys (window-wide ones would clash with the
        # room's, and then neither would fire).
        add_text_size_actions(self.lobby)
        self.help_shortcut = QShortcut(
            QKeySequence(QKeySequence.StandardKey.HelpContents), self.lobby
        )
        self.help_shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self._connect_signals()

    def _connect_signals(self) -> None:
        self.lobby.join_requested.connect(self.on_join_requested)
        self.lobby.join_by_address_requested.connect(self.on_join_by_address_requested)
        self.lobby.host_requested.connect(self.on_host_requested)
        self.lobby.about_requested.connect(self.show_about)
        self.lobby.settings_requested.connect(self.show_settings)
        self.lobby.network_check_requested.connect(self.show_network_check)
        self.lobby.search.found.connect(self.on_rooms_searched)
        self.settings_shortcut.activated.connect(self.show_settings)
        self.help_shortcut.activated.connect(self.show_shortcuts)
        self.busy_strip.cancel_requested.connect(self.on_cancel_requested)

    def _connect_chat(self, chat: ChatPage) -> None:
        chat.left.connect(self.on_chat_left)
        chat.join_new_room_requested.connect(self.on_join_new_room_requested)
        chat.check_room_requested.connect(self.on_check_room_requested)
        chat.network_check_requested.connect(self.show_network_check)

    # ----------------------------------------------------------------- slots

    def on_join_requested(self, room: DiscoveredRoom) -> None:
        self._run(self.join_discovered(room))

    def on_join_by_address_requested(self) -> None:
        dialog = AddressDialog(self)
        try:
            if dialog.exec():
                code = dialog.join_code()
                if code is not None:
                    self._run(self.join_code(code))
                else:
                    self._run(self.join_address(dialog.room_address()))
        finally:
            dialog.deleteLater()  # what was typed (a link) does not stay in a live widget

    def on_rooms_searched(self, rooms: list[ScannedRoom]) -> None:
        """Rooms a search of the network found: listed with the rest, once each, the browser
        checking each before listing it and keeping it current. Without a browser (looking
        for rooms is off, or could not start), each is listed as it answered the search, and
        stays listed until the window closes."""
        if self.browser is not None:
            self.browser.add_scanned(rooms)
            return
        for scanned in rooms:
            room = replace(scanned.discovered(), reachable=scanned.address)
            self.feed.apply(BrowserEvent("added", room))

    def on_host_requested(self) -> None:
        self._run(self.host_room())

    def on_chat_left(self) -> None:
        self._run(self.leave_room())

    def on_join_new_room_requested(self, preview: RoomPreview) -> None:
        self._run(self.join_new_room(preview))

    def on_check_room_requested(self) -> None:
        self._run(self.check_room_again())

    def on_cancel_requested(self) -> None:
        if self._flow is not None:
            self._flow.cancel()

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
            self.browser.subscribe(self.feed.apply)
            if self.browser.beacon_problem:  # mDNS works alone: say why broadcasts do not
                self.lobby.set_discovery_problem(
                    f"Rooms announced by broadcast cannot be heard here "
                    f"({self.browser.beacon_problem}); those announced by mDNS are listed."
                )
        except OSError as exc:
            log.warning("room discovery unavailable: %s", exc)
            self.discovery = None
            self.lobby.set_discovery_problem(
                "Cannot look for rooms on this network right now; join by address or link."
            )

    async def shutdown(self) -> None:
        """Leave (or close, when hosting) the room and stop discovery (and a search)."""
        self.lobby.search.cancel()
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
        hosting = session is not None and session.host is not None and session.ended is None
        save = self.chat.save_transcript if self.chat is not None else None
        if hosting and not confirm_quitting_as_host(self, save):
            event.ignore()
            return
        event.accept()
        save_window_geometry(self, self.prefs)
        self.closed.emit()

    def show_shortcuts(self) -> None:
        """F1 in the lobby: the list of keys (as the room's F1 shows it), window-modal
        without a nested event loop."""
        dialog = ShortcutsDialog(self.prefs.send_key(), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def show_network_check(self) -> NetworkCheckDialog:
        """ "Why can't I see the room?": the network check, started as it opens (window-modal,
        without a nested event loop), with the room this window hosts, if any, for its port
        to be checked. Closing it stops the check."""
        dialog = NetworkCheckDialog(self._hosted_room(), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        dialog.start()
        return dialog

    def _hosted_room(self) -> HostedRoomInfo | None:
        session = self.session
        if session is None or session.host is None or session.ended is not None:
            return None
        host = session.host
        return HostedRoomInfo(host.port, tuple(host.addresses()))

    def show_settings(self) -> None:
        open_settings(self, self.prefs, self.keys, theme.controller())

    def show_about(self, privacy: bool = False) -> None:
        dialog = AboutDialog(self)
        if privacy:
            dialog.show_privacy_tab()
        dialog.exec()

    @property
    def busy(self) -> bool:
        """Whether a join or host flow is running."""
        return self._flow is not None

    def _run(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run a flow, unless one is running already (a second click does nothing)."""
        if self._flow is not None:
            coroutine.close()
            return
        task = asyncio.ensure_future(self._guarded(coroutine))
        self._flow = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(self, coroutine: Coroutine[Any, Any, None]) -> None:
        self.lobby.set_actions_enabled(False)
        try:
            await coroutine
        except asyncio.CancelledError:
            log.info("cancelled by the user")
        except Exception as exc:
            log.exception("action failed")
            await self._problem(f"Something went wrong: {exc}")
        finally:
            self._flow = None
            self.busy_strip.done()
            self.lobby.set_actions_enabled(True)

    @contextlib.contextmanager
    def _waiting(self, text: str, *, cancellable: bool = True) -> Iterator[None]:
        """Show ``text`` with the busy bar (and Cancel) while the block waits on the network."""
        self.busy_strip.show_busy(text, cancellable=cancellable)
        try:
            yield
        finally:
            self.busy_strip.done()

    async def _problem(self, text: str) -> None:
        self.busy_strip.done()  # whatever was awaited is over
        await warn(self, APP_NAME, text)

    # ----------------------------------------------------------------- joining

    async def join_discovered(self, room: DiscoveredRoom) -> None:
        """Join a room from the list, after checking that it is still the room listed: the
        certificate its announcement names (before anything is sent), then its name."""
        note = room_note(room)
        if note:  # locked, or not joinable by this app: said before anything is asked
            await self._problem(note)
            return
        url = room.url()
        probe = await self._look(url, room.name, fingerprint=room.fingerprint, listed=room)
        if probe is None:
            return
        preview = probe.preview
        if not room.name_cut and preview.name != room.name:
            # The probe was pinned: what answers has the certificate the list names, under
            # another name. Its host restarted the room under another name (keeping the
            # certificate), or the announcement is stale or was not the host's. Never join
            # it in the listed name's place.
            self.feed.disown(room)
            await self._problem(
                f"“{fenced(room.name)}” is not open any more: the room at {room_address(room)}, "
                f"with the same certificate (the same host), is now called "
                f"“{fenced(preview.name)}”. Choose it in the list to join it."
            )
            return
        # A room only a search found names the certificate it presented itself: nothing
        # vouches for it, so its code is compared as a typed address's is.
        vouched = room.fingerprint is not None and not found_only_by_search(room)
        checked: Checked | None = "list" if vouched else None
        await self._join(
            url, probe, checked=checked, taken_names=[room.host_name or ""],
            namesakes=self.rooms.namesakes_of(room),
        )  # fmt: skip

    async def join_address(self, address: RoomAddress) -> None:
        """Join from what was typed or pasted: a link's ``fp`` is pinned; a bare address
        shows the room's verification code, to compare with the host's, before joining."""
        if address.protocol is not None and address.protocol != PROTOCOL_VERSION:
            await self._problem(
                f"This link is for a different version of {APP_NAME} (protocol "
                f"{address.protocol}). Update the app that is older."
            )
            return
        await self.join_url(address.url, fingerprint=address.fingerprint)

    async def join_url(
        self, url: str, *, fingerprint: bytes | None = None, name: str | None = None
    ) -> None:
        """The whole join flow: look, ask name and room code, show the notice, join.

        With ``fingerprint`` (from a link), a room with another certificate is refused
        before anything is sent to it. Without, the notice shows the verification code of
        the certificate the room presented, and the join holds the room to that one."""
        probe = await self._look(url, fingerprint=fingerprint)
        if probe is not None:
            checked: Checked | None = "link" if fingerprint is not None else None
            await self._join(url, probe, checked=checked, name=name)

    async def join_code(self, code: JoinCode) -> None:
        """Join the room a join code names: the room at its address is accepted only if its
        certificate fits the code (checked before anything is sent to it; else the
        impostor's warning), and the join holds it to that certificate. The notice shows the
        verification code: a code names only part of the certificate."""
        try:
            with self._waiting(f"Looking for the room of join code {code.text}…"):
                probe = await probe_join_code(code)
        except CertificateMismatch as exc:  # JoinCodeMismatch: another certificate answered
            await self._impostor(code.url, str(exc))
            return
        except (RoomUnreachable, JoinRefused) as exc:
            await self._problem(self._refusal_text(exc))
            return
        await self._join(code.url, probe, checked="code")

    async def join_new_room(self, preview: RoomPreview) -> None:
        """Join the room the host restarted in place of the one on screen (which has ended;
        it kept its certificate, which is pinned): the notice is shown again, since where
        messages go may have changed."""
        session = self.session
        if session is None:
            return
        url = session.url
        probe = await self._look(url, preview.name, fingerprint=session.fingerprint)
        if probe is not None:
            await self._join(url, probe, checked="same_room", name=session.name)

    async def check_room_again(self) -> None:
        """After the room's certificate changed (the room on screen has ended): look at the
        room at that address afresh. Nothing of the old room is trusted: the notice shows the
        new verification code with a warning that it is not the certificate of the room the
        person was in (``"changed"``), to compare with the host's before joining. Should the
        old certificate answer again, the notice says it is the same room."""
        session = self.session
        if session is None:
            return
        url = session.url
        probe = await self._look(url)
        if probe is not None:
            same = session.fingerprint is not None and probe.fingerprint == session.fingerprint
            checked: Checked = "same_room" if same else "changed"
            await self._join(url, probe, checked=checked, name=session.name)

    async def _look(
        self, url: str, name: str | None = None, *, fingerprint: bytes | None = None,
        listed: DiscoveredRoom | None = None,
    ) -> RoomProbe | None:  # fmt: skip
        """What the room at ``url`` says about itself, and the certificate it presented
        (which must be ``fingerprint`` when given); None (after saying why) if nothing can
        be learnt, or another certificate answered.

        ``listed`` is the room as the list shows it. Where another certificate answers, its
        host closed it and another room took the port, or someone is in between: either way
        the announcement cannot be joined, it is hidden until the browser renews it, and
        both cases are said (:data:`LISTED_CERTIFICATE_CHANGED`)."""
        what = f"Looking for “{fenced(name)}”…" if name else "Looking for the room…"
        try:
            with self._waiting(what):
                return await probe_room(url, fingerprint=fingerprint)
        except CertificateMismatch as exc:
            if listed is not None:
                self.feed.disown(listed)
                await self._impostor(url, LISTED_CERTIFICATE_CHANGED)
            else:
                await self._impostor(url, str(exc))
            return None
        except (RoomUnreachable, JoinRefused) as exc:
            await self._problem(self._refusal_text(exc))
            return None

    async def _impostor(self, url: str, text: str) -> None:
        """The room at ``url`` presented another certificate than the one expected: it was
        sent nothing. Say so plainly (``text``); nothing more is tried."""
        log.warning("the room at %s presented an unexpected certificate; not joined", url)
        self.busy_strip.done()
        await warn(self, IMPOSTOR_TITLE, text)

    async def _join(
        self, url: str, probe: RoomProbe, *, checked: Checked | None,
        taken_names: Iterable[str] = (), name: str | None = None, namesakes: int = 0,
    ) -> None:  # fmt: skip
        """Ask for a name (and room code), show the notice, join the room whose certificate
        the probe saw; a wrong code is said in the same dialog, which opens again with
        everything typed still there. ``namesakes`` is how many rooms the list shows under
        this room's name with different certificates (see :class:`DisclosureDialog`).

        The dialog, which may hold a room code, is deleted once the flow is over, however it
        ends."""
        preview = probe.preview
        dialog = JoinDialog(
            preview.name, name or self.prefs.get("display_name"),
            code_required=preview.password_required, parent=self, taken_names=taken_names,
        )  # fmt: skip
        try:
            await self._join_with(url, probe, dialog, checked=checked, namesakes=namesakes)
        finally:
            dialog.deleteLater()

    async def _join_with(
        self, url: str, probe: RoomProbe, dialog: JoinDialog, *, checked: Checked | None,
        namesakes: int,
    ) -> None:  # fmt: skip
        preview = probe.preview
        while True:
            if not await run_dialog(dialog):
                return
            name = dialog.display_name()
            self.prefs.set("display_name", name)
            if not await self._notice_accepted(url, probe, checked, namesakes):
                return
            client = RoomClient(
                url, name, password=dialog.room_code(), fingerprint=probe.fingerprint
            )
            try:
                with self._waiting(f"Joining “{fenced(preview.name)}”…"):
                    welcome = await client.connect()
            except CertificateMismatch as exc:  # another room answered since the probe
                await self._impostor(url, str(exc))
                return
            except JoinRefused as exc:
                if exc.code in ROOM_CODE_REFUSALS:
                    dialog.show_refusal(self._refusal_text(exc), about_code=True)
                    continue
                await self._problem(self._refusal_text(exc))
                return
            except RoomUnreachable as exc:
                await self._problem(self._refusal_text(exc))
                return
            self._enter(RoomSession(client, welcome))
            await self._tell_if_renamed(name, welcome)
            return

    async def _notice_accepted(
        self, url: str, probe: RoomProbe, checked: Checked | None, namesakes: int = 0
    ) -> bool:
        preview = probe.preview
        key = notice_key(preview.instance or url, preview.assistant, probe.fingerprint)
        if key in self._seen_notice:
            return True
        history_shared = self._history_shared.get((preview.instance, probe.fingerprint))
        dialog = DisclosureDialog(
            preview, self, history_shared=history_shared,
            verification_code=probe.verification_code, checked=checked, namesakes=namesakes,
        )  # fmt: skip
        dialog.privacy_requested.connect(lambda: self.show_about(privacy=True))
        try:
            if not await run_dialog(dialog):
                return False
        finally:
            dialog.deleteLater()
        self._seen_notice.add(key)
        return True

    def _remember(self, welcome: Welcome, url: str, fingerprint: bytes | None) -> None:
        """What joining taught about the room: its notice is seen, and what newcomers read."""
        key = notice_key(welcome.instance or url, welcome.room.assistant, fingerprint)
        self._seen_notice.add(key)
        self._history_shared[(welcome.instance, fingerprint)] = welcome.room.history_shared

    async def _tell_if_renamed(self, asked: str, welcome: Welcome) -> None:
        """The room adds a number to a name already in use (by someone else, or by you in
        another window): never let that pass silently."""
        given = welcome.you.name
        if given != asked:
            await inform(
                self, "Your name in this room",
                f"Someone in this room is already called “{fenced(asked)}”, so others see you "
                f"as “{fenced(given)}”. To change it, leave and join again with another name.",
            )  # fmt: skip

    @staticmethod
    def _refusal_text(exc: Exception) -> str:
        if isinstance(exc, CertificateMismatch):
            return str(exc)  # our own words: someone may be impersonating the room
        if isinstance(exc, RoomUnreachable):
            return (
                "The room could not be reached. The host may have closed it, or the network "
                "does not let you through."
            )
        if isinstance(exc, JoinRefused):
            return JOIN_REFUSALS.get(exc.code) or sentence(
                shorten(one_line(exc.message), TEXT_CHARS)
            )
        return str(exc)

    # ----------------------------------------------------------------- hosting

    async def host_room(self) -> None:
        dialog = HostDialog(self.prefs, self.keys, self, can_announce=self.discovery is not None)
        try:
            if not await run_dialog(dialog):
                return
            plan = dialog.plan()
        finally:
            dialog.deleteLater()  # it held the room code and the API key in its fields
        with self._waiting("Opening the room…"):
            host = await self._open(plan.config, plan.provider, advertise=plan.advertise)
            if host is None:
                return
            client = RoomClient(
                host.local_url(), plan.your_name, password=plan.config.password,
                host_key=host.host_key, fingerprint=host.fingerprint,
            )  # fmt: skip
            try:
                welcome = await client.connect()
            except (JoinRefused, RoomUnreachable, CertificateMismatch) as exc:
                await host.close()
                await self._problem(f"The room opened but you could not join it: {exc}")
                return
            except BaseException:
                await host.close()
                raise
        self._enter(RoomSession(client, welcome, host=host))

    async def _open(
        self, config: RoomConfig, provider_settings: ProviderSettings | None, *,
        advertise: bool = True,
    ) -> RoomHost | None:  # fmt: skip
        """Open the room on the usual port, or any free one if it is taken; announce it when
        asked to and the app is looking for rooms (the announcement shares that)."""
        for port in (DEFAULT_PORT, 0):
            provider = ChatProvider(provider_settings) if provider_settings else None
            host = RoomHost(
                config, provider=provider, port=port,
                advertise=advertise and self.discovery is not None, discovery=self.discovery,
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
        """Show ``session``'s room, in place of any room on screen (one that has ended)."""
        old_session, old_chat = self.session, self.chat
        if old_session is not None and old_session.ended is None:
            raise RuntimeError("already in a room")
        self.session = session
        self.chat = ChatPage(session)
        self.chat.prefs = self.prefs
        self._connect_chat(self.chat)
        self.chat.composer.follow_preferences(self.prefs)
        remember_splitter(self.chat.splitter, self.prefs, "chat")
        self.pages.addWidget(self.chat)
        self.pages.setCurrentWidget(self.chat)
        if old_chat is not None:
            self.pages.removeWidget(old_chat)
            old_chat.deleteLater()
        if old_session is not None:
            self._keep(old_session.leave())  # it has ended: this only lets its tasks go
        self._remember(session.welcome, session.url, session.fingerprint)
        if self.notifier is not None:
            self.notifier.detach()
        self.notifier = Notifier(
            self, self.prefs, me=session.you.id, my_name=session.you.name,
            room_name=session.welcome.room.name,
        )  # fmt: skip
        session.event_received.connect(self.notifier.on_event)
        self.chat.mute_button.toggled.connect(self._mute_room)
        session.start()
        self.chat.composer.setFocus()

    def _keep(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run ``coroutine`` in the background, cancelled at shutdown."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def leave_room(self) -> None:
        session, chat = self.session, self.chat
        self.session = self.chat = None
        if session is not None:
            leaving = "Closing the room…" if session.host else "Leaving the room…"
            with self._waiting(leaving, cancellable=False):  # half left is not an option
                await session.leave()
        if chat is not None:
            self.pages.removeWidget(chat)
            chat.deleteLater()
        self.pages.setCurrentWidget(self.lobby)
        if self.notifier is not None:
            self.notifier.detach()
            self.notifier = None
        self.setWindowTitle(APP_NAME)

    def _mute_room(self, muted: bool) -> None:
        if self.notifier is not None:
            self.notifier.muted = muted

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        activated = event.type() == QEvent.Type.ActivationChange and self.isActiveWindow()
        if activated and self.notifier is not None:
            self.notifier.window_activated()


def confirm_quitting_as_host(parent: QWidget, save: Callable[[], object] | None = None) -> bool:
    """Ask the host, in verbs, whether quitting should close the room for everyone, offering
    to ``save`` the transcript first (after saving, or not, the question comes back: saving
    never quits by itself).

    Modal on purpose: a close event must be answered before it returns."""
    while True:
        box = QMessageBox(parent)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Close the room?")
        box.setTextFormat(Qt.TextFormat.PlainText)
        box.setText(
            "You host this room. Quitting closes it for everyone, and the conversation is "
            "gone for good: nothing is kept unless you save a transcript now."
        )
        close = box.addButton("Close the room and quit", QMessageBox.ButtonRole.AcceptRole)
        stay = box.addButton("Keep it open", QMessageBox.ButtonRole.RejectRole)
        offer = box.addButton("Save transcript…", QMessageBox.ButtonRole.ActionRole)
        offer.setVisible(save is not None)
        box.setDefaultButton(stay)
        box.exec()
        clicked = box.clickedButton()
        box.deleteLater()
        if clicked is offer and save is not None:
            save()
            continue
        return clicked is close
