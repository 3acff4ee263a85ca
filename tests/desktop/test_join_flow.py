"""Joining as a person does it: a wrong password is said in the same dialog; the notice says
the connection is not encrypted and what newcomers read, and comes back whenever where
messages go may have changed (another run of the room, another AI, another mode); a room the
host restarted is joined only when asked, after the notice; a name already in the room is
never changed silently."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from core.ai.desk import AssistantConfig
from core.client import Ended, RoomClient
from core.discovery import BrowserEvent, DiscoveredRoom
from core.hosting import RoomHost
from core.room import RoomConfig
from desktop.join_dialogs import DisclosureDialog, JoinDialog
from desktop.main_window import MainWindow
from desktop.settings import KeyStore, Preferences
from tests.desktop.conftest import until
from tests.desktop.flows import unfenced
from tests.desktop.hostile_checks import HOSTILE, hostile_text, rich_text_risks

W = TypeVar("W", bound=QWidget)
OLLAMA = AssistantConfig(model="llama3.2", provider="Ollama", provider_kind="local")


async def open_room(config: RoomConfig, cleanup: list[Any], port: int = 0) -> RoomHost:
    """A room on loopback, not announced, closed after the test."""
    host = RoomHost(config, bind="127.0.0.1", port=port, advertise=False)
    cleanup.insert(0, host)  # closed after the windows
    await host.start()
    return host


def crash(host: RoomHost) -> None:
    """The host's computer stops answering: no goodbye, connections simply gone."""
    server = host.server._server
    assert server is not None
    server.close()
    for ws in list(server.connections):
        ws.transport.abort()


class Dialogs:
    """Answers dialogs for the whole test, however many open and in whatever order: each
    kind has an act, run on every dialog of that kind that becomes the active modal one.
    Stopped at the end of the test, so that nothing answers the next test's dialogs."""

    def __init__(self) -> None:
        self.acts: dict[type[QWidget], Callable[[Any], None]] = {}
        self.notices: list[str] = []
        self.boxes: list[str] = []
        self.on(DisclosureDialog, self._read_notice)
        self.on(QMessageBox, self._read_box)
        self._timer = QTimer()
        self._timer.setInterval(20)
        self._timer.timeout.connect(self._check)
        self._timer.start()

    def on(self, kind: type[W], act: Callable[[W], None]) -> None:
        self.acts[kind] = act

    def stop(self) -> None:
        self._timer.stop()

    def _check(self) -> None:
        widget = QApplication.activeModalWidget()
        for kind, act in self.acts.items():
            if isinstance(widget, kind) and widget.isVisible():
                act(widget)
                return

    def _read_notice(self, dialog: DisclosureDialog) -> None:
        labels = dialog.findChildren(QLabel)
        self.notices.append(unfenced(" ".join(label.text() for label in labels)))
        dialog.accept()

    def _read_box(self, box: QMessageBox) -> None:
        self.boxes.append(unfenced(box.text()))
        box.accept()


@pytest.fixture
def dialogs() -> Iterator[Dialogs]:
    watcher = Dialogs()
    yield watcher
    watcher.stop()


def guest_window(prefs: Preferences, keys: KeyStore, cleanup: list[Any]) -> MainWindow:
    window = MainWindow(prefs=prefs, keys=keys, discover=False)
    cleanup.append(window)
    window.show()
    return window


def give_name(name: str, password: str | None = None) -> Callable[[JoinDialog], None]:
    def act(dialog: JoinDialog) -> None:
        dialog.name.setText(name)
        if password is not None:
            dialog.password.setText(password)
        dialog.accept()

    return act


async def host_client(host: RoomHost, cleanup: list[Any]) -> RoomClient:
    """The host's own place in its room (as "Ana")."""
    client = RoomClient(host.local_url(), "Ana", host_key=host.host_key)
    await client.connect()
    cleanup.append(AsyncCloser(client.leave))
    return client


class AsyncCloser:
    def __init__(self, close: Callable[[], Any]) -> None:
        self.close = close


async def test_a_wrong_password_is_said_in_the_same_dialog(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], dialogs: Dialogs
) -> None:
    host = await open_room(RoomConfig(name="Locked box", password="right horse"), cleanup)
    window = guest_window(prefs, keys, cleanup)
    opened: list[JoinDialog] = []
    seen: dict[str, Any] = {}

    def answer(dialog: JoinDialog) -> None:
        opened.append(dialog)
        if len(opened) == 1:
            give_name("Sam", "wrong horse")(dialog)
            return
        seen.update(problem=dialog.problem.text(), name=dialog.name.text(),
                    focus=dialog.focusWidget(),
                    selected=dialog.password.selectedText())  # fmt: skip
        dialog.password.setText("right horse")
        dialog.accept()

    dialogs.on(JoinDialog, answer)
    await window.join_url(host.local_url())
    assert window.chat is not None  # in, at the second try
    assert len(opened) == 2 and opened[0] is opened[1]  # the same dialog, typing kept
    assert seen["problem"] == "Wrong room password."
    assert seen["name"] == "Sam"
    assert seen["focus"] is opened[0].password and seen["selected"] == "wrong horse"
    assert dialogs.boxes == []  # no message box on the way
    assert len(dialogs.notices) == 1


async def test_the_notice_says_it_is_not_encrypted_and_what_newcomers_read(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], dialogs: Dialogs
) -> None:
    config = RoomConfig(name="Quiet", share_history=False, assistant=OLLAMA)
    host = await open_room(config, cleanup)
    window = guest_window(prefs, keys, cleanup)
    dialogs.on(JoinDialog, give_name("Sam"))
    await window.join_url(host.local_url())
    assert window.chat is not None and len(dialogs.notices) == 1
    said = dialogs.notices[0]
    assert "not encrypted" in said and "anyone on this network can read" in said
    assert "The host decides whether people who join later can read" in said  # not known yet
    assert "saves no transcript" in said and "unless someone saves" not in said
    await window.leave_room()

    # Where messages go changes while the room runs: the notice comes back, and now knows
    # (from the last visit) that newcomers see no earlier messages.
    owner = await host_client(host, cleanup)
    await owner.configure_assistant(mode="always")
    room = host.server.room
    await until(lambda: getattr(room.info().assistant, "mode", "") == "always")
    await window.join_url(host.local_url())
    assert window.chat is not None and len(dialogs.notices) == 2
    assert "see only what is written after they join" in dialogs.notices[1]
    assert "Every message goes to" in dialogs.notices[1]


async def test_the_notice_comes_back_when_the_room_returns_with_another_ai(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], dialogs: Dialogs
) -> None:
    host = await open_room(RoomConfig(name="Team"), cleanup)
    url, port = host.local_url(), host.port
    window = guest_window(prefs, keys, cleanup)
    dialogs.on(JoinDialog, give_name("Sam"))
    for _ in range(2):  # the same room twice: the notice once
        await window.join_url(url)
        assert window.chat is not None
        await window.leave_room()
    assert len(dialogs.notices) == 1

    await host.close()
    await open_room(RoomConfig(name="Team", assistant=OLLAMA), cleanup, port=port)
    await window.join_url(url)  # the same name at the same address, with another AI
    assert window.chat is not None
    assert len(dialogs.notices) == 2 and "Ollama" in dialogs.notices[1]


async def test_a_restarted_room_is_joined_only_when_asked_after_the_notice(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], dialogs: Dialogs
) -> None:
    before = await open_room(RoomConfig(name="Before"), cleanup)
    window = guest_window(prefs, keys, cleanup)
    names: list[str] = []
    dialogs.on(JoinDialog, lambda d: (names.append(d.name.text()), give_name("Sam")(d)))
    await window.join_url(before.local_url())
    old_page, old_session = window.chat, window.session
    assert old_page is not None and old_session is not None

    crash(before)
    after = await open_room(RoomConfig(name="After", assistant=OLLAMA), cleanup,
                            port=before.port)  # fmt: skip
    await until(lambda: old_session.ended is not None, what="the old room to end")
    ended = old_session.ended
    assert isinstance(ended, Ended) and ended.reason == "restarted"
    assert window.chat is old_page  # nothing moved behind the user's back
    assert not after.server.room.participants
    assert len(dialogs.notices) == 1

    assert ended.new_room is not None
    gone: list[bool] = []
    old_page.destroyed.connect(lambda: gone.append(True))
    old_page.join_new_room_requested.emit(ended.new_room)  # "Join the new room"
    await until(lambda: window.session is not old_session, what="the new room")
    await until(lambda: gone, what="the old page to go")
    assert names[-1] == "Sam"  # the name used before, offered again
    assert len(dialogs.notices) == 2 and "Ollama" in dialogs.notices[1]  # shown again first
    assert window.chat is not None and window.pages.currentWidget() is window.chat
    assert window.pages.count() == 2  # the lobby and the new room
    assert window.session is not None
    assert [p.name for p in window.session.participants.values()] == ["Sam"]
    assert "After" in window.windowTitle()


async def test_a_name_already_in_the_room_is_never_changed_silently(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], dialogs: Dialogs
) -> None:
    host = await open_room(RoomConfig(name="Team"), cleanup)
    await host_client(host, cleanup)  # the host is "Ana"
    prefs.set("display_name", "Ana")
    window = guest_window(prefs, keys, cleanup)
    listed = DiscoveredRoom(
        key="team@x", room_id="x", name="Team", host_name="Ana", participants=1,
        password_required=False, assistant_kind="none", provider=None, model=None, protocol=1,
        app_version="0.1.0", addresses=("127.0.0.1",), port=host.port,
    )  # fmt: skip
    window.feed.apply(BrowserEvent("added", listed))
    notes: list[str] = []

    def read_name_note(dialog: JoinDialog) -> None:
        notes.append(dialog.name_note.text() if dialog.name_note.isVisible() else "")
        dialog.accept()  # joins as "Ana" all the same

    dialogs.on(JoinDialog, read_name_note)
    await window.join_discovered(listed)
    assert notes and "already in this room" in unfenced(notes[0])
    assert window.session is not None and window.session.you.name == "Ana (2)"
    assert dialogs.boxes and "others see you as “Ana (2)”" in dialogs.boxes[0]


@pytest.fixture(params=list(HOSTILE))
def hostile(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return hostile_text(request.param, tmp_path)


def test_the_join_dialog_shows_a_hostile_host_name_plainly(qtbot: QtBot, hostile: str) -> None:
    dialog = JoinDialog(hostile, hostile, password_required=True, taken_names=[hostile])
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.show_refusal(f"{hostile} says no", about_password=True)
    assert rich_text_risks(dialog, hostile) == []
    assert dialog.sizeHint().width() <= 600
    dialog.name.setText("<b>x</b>")  # a valid name that looks like markup
    dialog_taking = JoinDialog("Room", "<b>x</b>", password_required=False,
                               taken_names=["<b>x</b>"])  # fmt: skip
    qtbot.addWidget(dialog_taking)
    assert "<b>x</b>" in unfenced(dialog_taking.name_note.text())
    assert rich_text_risks(dialog_taking, "<b>x</b>") == []
