"""Joining as a person does it: the room code the host dialog made lets a guest in however it
is typed, and a wrong one is said in the same dialog; a link or the list pins the room's
certificate, and a room with another one is refused as a possible impostor, before it hears
a thing; a typed address shows the room's verification code, the one the host sees, before
joining, and Enter (however often) does not join it; a listed room with namesakes is a warning
too; the notice says what the encryption protects and what newcomers read (never what another
certificate's room said), and comes back whenever where messages go may have changed (another
run of the room, another AI, another mode); a room the host restarted is joined only when
asked, after the notice; a name already in the room is never changed silently; the dialogs
that held a room code or an address are deleted once their flow is over. The address dialog
takes a join code too: a typo is said as it is typed, and nothing is joined (joining by code,
which needs a private address, is in test_finding_rooms.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialog, QLabel, QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from core.address import parse_room_address
from core.ai.desk import AssistantConfig
from core.client import Ended, RoomClient
from core.discovery import BrowserEvent, DiscoveredRoom
from core.hosting import RoomHost
from core.join_code import TEST_VECTOR, parse_join_code
from core.protocol import PROTOCOL_VERSION, RoomInfo
from core.room import RoomConfig
from core.room_tls import RoomCertificate
from core.wording import JOIN_REFUSALS
from desktop.join_dialogs import (
    CHECKED_WORDS,
    AddressDialog,
    Checked,
    DisclosureDialog,
    JoinDialog,
    looks_like_join_code,
    namesakes_words,
)
from desktop.main_window import IMPOSTOR_TITLE, MainWindow
from desktop.settings import KeyStore, Preferences
from desktop.verification import COMPARE_WITH_HOST, VerificationDialog
from tests.desktop.conftest import answer_dialog, until
from tests.desktop.flows import hosted, loopback_link, unfenced
from tests.desktop.hostile_checks import HOSTILE, hostile_text, rich_text_risks

W = TypeVar("W", bound=QWidget)
OLLAMA = AssistantConfig(model="llama3.2", provider="Ollama", provider_kind="local")


async def open_room(
    config: RoomConfig, cleanup: list[Any], port: int = 0,
    certificate: RoomCertificate | None = None,
) -> RoomHost:  # fmt: skip
    """A room on loopback, not announced, closed after the test (with ``certificate``, as
    a host that keeps its room's certificate when it restarts it)."""
    host = RoomHost(config, bind="127.0.0.1", port=port, advertise=False,
                    certificate=certificate)  # fmt: skip
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
        self.codes: list[tuple[str, str]] = []  # each notice's code, and what it says of it
        self.boxes: list[str] = []
        self.box_titles: list[str] = []
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
        self.read_notice(dialog)
        dialog.accept()

    def read_notice(self, dialog: DisclosureDialog) -> None:
        labels = dialog.findChildren(QLabel)
        self.notices.append(unfenced(" ".join(label.text() for label in labels)))
        if dialog.code is not None and dialog.code_words is not None:
            self.codes.append((dialog.code.text(), dialog.code_words.text()))

    def _read_box(self, box: QMessageBox) -> None:
        self.boxes.append(unfenced(box.text()))
        self.box_titles.append(box.windowTitle())
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


def give_name(name: str, code: str | None = None) -> Callable[[JoinDialog], None]:
    def act(dialog: JoinDialog) -> None:
        dialog.name.setText(name)
        if code is not None:
            dialog.code.setText(code)
        dialog.accept()

    return act


def no_join_dialog() -> bool:
    """Whether no name dialog is open (dialogs of earlier tests may linger hidden until Qt
    deletes them: only a shown one counts)."""
    return not [
        w for w in QApplication.topLevelWidgets() if isinstance(w, JoinDialog) and w.isVisible()
    ]


async def host_client(host: RoomHost, cleanup: list[Any]) -> RoomClient:
    """The host's own place in its room (as "Ana")."""
    client = RoomClient(host.local_url(), "Ana", host_key=host.host_key)
    await client.connect()
    cleanup.append(AsyncCloser(client.leave))
    return client


class AsyncCloser:
    def __init__(self, close: Callable[[], Any]) -> None:
        self.close = close


async def test_the_generated_room_code_lets_in_a_guest_however_it_is_typed(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], dialogs: Dialogs
) -> None:
    host_window = await hosted(prefs, keys, cleanup, "Locked box", room_code=True)
    host_session = host_window.session
    assert host_session is not None and host_session.room_code is not None
    code = host_session.room_code  # as the dialog made it: "1234 5678"
    assert len(code) == 9 and code[4] == " " and code.replace(" ", "").isdigit()
    wrong = "0000 0000" if code != "0000 0000" else "1111 1111"
    window = guest_window(prefs, keys, cleanup)
    opened: list[JoinDialog] = []
    seen: dict[str, Any] = {}

    def answer(dialog: JoinDialog) -> None:
        opened.append(dialog)
        if len(opened) == 1:
            seen["label"] = dialog.form.labelForField(dialog.code).text()
            give_name("Sam", wrong)(dialog)
            return
        seen.update(problem=dialog.problem.text(), name=dialog.name.text(),
                    focus=dialog.focusWidget(), selected=dialog.code.selectedText(),
                    kept=dialog.code.text())  # fmt: skip
        dialog.code.setText(f" {code.replace(' ', '-')} ")  # "1234-5678", spaces around
        dialog.accept()

    dialogs.on(JoinDialog, answer)
    await window.join_address(parse_room_address(loopback_link(host_window)))
    assert window.chat is not None  # in, at the second try
    assert seen["label"] == "Room code"
    assert len(opened) == 2 and opened[0] is opened[1]  # the same dialog, typing kept
    assert seen["problem"] == JOIN_REFUSALS["auth_failed"]
    assert seen["problem"] == "Wrong room code, or this is not the room you think."
    assert seen["name"] == "Sam" and seen["kept"] == wrong
    assert seen["focus"] is opened[0].code and seen["selected"] == wrong
    assert dialogs.boxes == []  # no message box on the way
    assert len(dialogs.notices) == 1

    # The host finds the room code under Host controls, with the verification code.
    host_page = host_window.chat
    assert host_page is not None
    host_page.verification_action.trigger()
    await until(lambda: isinstance(QApplication.activeModalWidget(), VerificationDialog))
    shown = QApplication.activeModalWidget()
    assert isinstance(shown, VerificationDialog) and shown.room_code is not None
    assert shown.code.text() == host_session.verification_code
    # The dialog the host may turn to the room: the room code shows only when asked.
    assert not shown.room_code.isVisible() and shown.show_room_code is not None
    shown.show_room_code.click()
    assert shown.room_code.isVisible() and shown.room_code.text() == code
    gone: list[bool] = []
    shown.destroyed.connect(lambda: gone.append(True))
    shown.reject()
    await until(lambda: gone, what="the dialog with the room code to be deleted")


def test_a_code_that_could_never_be_right_is_said_as_it_is_typed(qtbot: QtBot) -> None:
    dialog = JoinDialog("Locked box", "Sam", code_required=True)
    qtbot.addWidget(dialog)
    dialog.show()
    join = dialog.buttons.button(dialog.buttons.StandardButton.Ok)
    assert not join.isEnabled()  # no code yet
    dialog.code.setText("1234 5678")
    assert join.isEnabled() and not dialog.code_note.isVisible()
    dialog.code.setText("x" * 70)
    assert not join.isEnabled()
    assert dialog.code_note.isVisible() and "too long" in dialog.code_note.text()
    dialog.code.setText("- -")  # only separators: nothing left to compare
    assert not join.isEnabled() and "empty" in dialog.code_note.text()
    dialog.code.setText("1234-5678")
    assert join.isEnabled() and not dialog.code_note.isVisible()
    assert dialog.room_code() == "1234-5678"


async def test_a_typed_address_shows_the_code_the_host_sees_and_pins_it(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], dialogs: Dialogs
) -> None:
    host_window = await hosted(prefs, keys, cleanup, "Team lunch")
    assert host_window.session is not None and host_window.session.host is not None
    host = host_window.session.host
    window = guest_window(prefs, keys, cleanup)
    dialogs.on(JoinDialog, give_name("Sam"))
    await window.join_address(parse_room_address(f"127.0.0.1:{host.port}"))
    assert window.chat is not None and window.session is not None
    [(code, words)] = dialogs.codes
    assert words == COMPARE_WITH_HOST  # compare it, or do not join
    assert "Host controls → Verification code" in words and "do not join" in words

    host_page = host_window.chat
    assert host_page is not None
    host_page.verification_action.trigger()
    await until(lambda: isinstance(QApplication.activeModalWidget(), VerificationDialog))
    shown = QApplication.activeModalWidget()
    assert isinstance(shown, VerificationDialog)
    assert shown.code.text() == code  # what the host reads out is what the guest saw
    assert shown.room_code is None  # a room without one
    shown.reject()
    assert window.session.fingerprint == host.fingerprint  # every reconnect must find it
    assert window.chat.verification_line.text() == f"Verification code {code}"
    assert window.chat.verification_line.isVisible()
    assert not host_page.verification_line.isVisible()  # the host has it in Host controls


async def test_a_link_pins_the_room_and_another_certificate_is_refused_unheard(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], dialogs: Dialogs
) -> None:
    host_window = await hosted(prefs, keys, cleanup, "Team lunch")
    assert host_window.session is not None and host_window.session.host is not None
    room = host_window.session.host.server.room
    window = guest_window(prefs, keys, cleanup)
    dialogs.on(JoinDialog, give_name("Sam"))

    # A link that names another certificate: what answers is not the room it names.
    impostor = RoomCertificate.generate().fingerprint
    await window.join_address(parse_room_address(loopback_link(host_window, fingerprint=impostor)))
    assert window.chat is None and no_join_dialog() and dialogs.notices == []
    assert dialogs.box_titles == [IMPOSTOR_TITLE]
    assert "impersonating the room" in dialogs.boxes[0] and "Do not join" in dialogs.boxes[0]
    assert [p.name for p in room.participants] == ["Ana"]  # nobody else came

    # The link the host shares: joined, and the notice says what was checked.
    await window.join_address(parse_room_address(loopback_link(host_window)))
    assert window.chat is not None and window.session is not None
    [(code, words)] = dialogs.codes
    assert code == host_window.session.verification_code
    assert "this is the room the link names" in words
    assert window.session.fingerprint == host_window.session.fingerprint
    assert sorted(p.name for p in room.participants) == ["Ana", "Sam"]
    assert len(dialogs.boxes) == 1


async def test_a_listed_room_with_another_certificate_is_refused_unheard(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], dialogs: Dialogs
) -> None:
    host = await open_room(RoomConfig(name="Team"), cleanup)
    window = guest_window(prefs, keys, cleanup)
    listed = DiscoveredRoom(
        key="team@x", room_id="x", name="Team", host_name="Ana", participants=0,
        password_required=False, assistant_kind="none", provider=None, model=None,
        protocol=PROTOCOL_VERSION, app_version="0.2.0", addresses=("127.0.0.1",),
        port=host.port, fingerprint=RoomCertificate.generate().fingerprint,
    )  # fmt: skip
    window.feed.apply(BrowserEvent("added", listed))
    await window.join_discovered(listed)
    assert window.chat is None and no_join_dialog() and dialogs.box_titles == [IMPOSTOR_TITLE]
    assert not host.server.room.participants


async def test_the_notice_says_what_encryption_protects_and_what_newcomers_read(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], dialogs: Dialogs
) -> None:
    config = RoomConfig(name="Quiet", share_history=False, assistant=OLLAMA)
    host = await open_room(config, cleanup)
    window = guest_window(prefs, keys, cleanup)
    dialogs.on(JoinDialog, give_name("Sam"))
    await window.join_url(host.local_url())
    assert window.chat is not None and len(dialogs.notices) == 1
    said = dialogs.notices[0]
    assert "not encrypted" not in said
    assert "The connection to the room is encrypted" in said
    assert "host's computer still sees everything in the room" in said
    assert "AI provider sees what is sent to it" in said
    assert host.verification_code in said and COMPARE_WITH_HOST in said
    assert "The host decides whether people who join later can read" in said  # not known yet
    assert "saves a transcript only when someone asks it to" in said
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
    # Restarted with the same certificate: the same room to the app, as another run.
    after = await open_room(RoomConfig(name="After", assistant=OLLAMA), cleanup,
                            port=before.port, certificate=before.server.certificate)  # fmt: skip
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
    assert "the same certificate as the room you were in" in dialogs.codes[1][1]
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
        password_required=False, assistant_kind="none", provider=None, model=None,
        protocol=PROTOCOL_VERSION, app_version="0.2.0", addresses=("127.0.0.1",),
        port=host.port, fingerprint=host.fingerprint,
    )  # fmt: skip
    window.feed.apply(BrowserEvent("added", listed))
    notes: list[str] = []

    def read_name_note(dialog: JoinDialog) -> None:
        notes.append(dialog.name_note.text() if dialog.name_note.isVisible() else "")
        dialog.accept()  # joins as "Ana" all the same

    dialogs.on(JoinDialog, read_name_note)
    await window.join_discovered(listed)
    assert notes and "already in this room" in unfenced(notes[0])
    assert "this is the room the list announced" in dialogs.codes[0][1]
    assert window.session is not None and window.session.you.name == "Ana (2)"
    assert dialogs.boxes and "others see you as “Ana (2)”" in dialogs.boxes[0]


# -- what Enter does on the notice ------------------------------------------------------------

NOTICE_ROOM = RoomInfo("Team lunch", "Ana", 3, None, False, False)
CODE = "8781 6279 4641 5215 7511"


def shown_notice(qtbot: QtBot, **options: Any) -> DisclosureDialog:
    dialog = DisclosureDialog(NOTICE_ROOM, verification_code=CODE, **options)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.activateWindow()
    qtbot.waitExposed(dialog)
    return dialog


@pytest.mark.parametrize(
    "options", [{}, {"checked": "changed"}, {"checked": "list", "namesakes": 2}],
    ids=["typed address", "certificate changed", "namesakes"],
)  # fmt: skip
def test_enter_on_a_notice_whose_code_nobody_vouches_for_does_not_join(
    qtbot: QtBot, options: dict[str, Any]
) -> None:
    dialog = shown_notice(qtbot, **options)
    assert dialog.code_words is not None and dialog.code_words.objectName() == "advice"
    qtbot.waitUntil(dialog.cancel_button.hasFocus)
    assert dialog.cancel_button.isDefault() and not dialog.join_button.isDefault()
    with qtbot.waitSignal(dialog.finished) as finished:
        QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
    assert finished.args == [QDialog.DialogCode.Rejected.value]

    # "Join the room" is one Tab (or Shift+Tab) away, and Enter there joins.
    dialog = shown_notice(qtbot, **options)
    qtbot.waitUntil(dialog.cancel_button.hasFocus)
    QTest.keyClick(dialog.cancel_button, Qt.Key.Key_Tab)
    if not dialog.join_button.hasFocus():
        dialog.cancel_button.setFocus()
        QTest.keyClick(dialog.cancel_button, Qt.Key.Key_Backtab)
    assert dialog.join_button.hasFocus()
    with qtbot.waitSignal(dialog.finished) as finished:
        QTest.keyClick(dialog.join_button, Qt.Key.Key_Return)
    assert finished.args == [QDialog.DialogCode.Accepted.value]


@pytest.mark.parametrize("checked", ["link", "list", "same_room"])
def test_enter_joins_where_the_certificate_was_checked(qtbot: QtBot, checked: Checked) -> None:
    dialog = shown_notice(qtbot, checked=checked)
    assert dialog.code_words is not None and dialog.code_words.objectName() == "hint"
    assert dialog.code_words.text() == CHECKED_WORDS[checked]
    assert dialog.join_button.isDefault()
    qtbot.waitUntil(lambda: dialog.isAncestorOf(QApplication.focusWidget()))
    focus = QApplication.focusWidget()
    with qtbot.waitSignal(dialog.finished) as finished:
        QTest.keyClick(focus, Qt.Key.Key_Return)
    assert finished.args == [QDialog.DialogCode.Accepted.value]


@pytest.mark.parametrize("checked", [None, "link"])
def test_the_notice_is_read_and_followed_by_keyboard(qtbot: QtBot, checked: Checked | None) -> None:
    """Tab reaches the code (selectable) and the privacy link; Enter on the link opens the
    policy, never the room (nor cancels it)."""
    dialog = shown_notice(qtbot, checked=checked)
    assert dialog.code is not None
    flags = dialog.code.textInteractionFlags()
    assert flags & Qt.TextInteractionFlag.TextSelectableByKeyboard
    asked: list[bool] = []
    dialog.privacy_requested.connect(lambda: asked.append(True))
    qtbot.waitUntil(lambda: dialog.isAncestorOf(QApplication.focusWidget()))
    reached = []
    for _ in range(12):
        QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        reached.append(QApplication.focusWidget())
        if reached[-1] is dialog.privacy_link:
            break
    assert dialog.code in reached and reached[-1] is dialog.privacy_link
    # The room kept round them for the focus outline does not move their text.
    for label in (dialog.code, dialog.privacy_link):
        left = label.geometry().left() + label.contentsMargins().left()
        assert left == dialog.heading.geometry().left(), label
    QTest.keyClick(dialog.privacy_link, Qt.Key.Key_Return)
    assert asked == [True] and dialog.isVisible() and dialog.result() == 0


async def test_enter_twice_does_not_join_a_typed_address(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], dialogs: Dialogs
) -> None:
    """A name typed and Enter, then Enter again on the notice: that second Enter must not
    join a room whose code nobody compared."""
    host = await open_room(RoomConfig(name="Team"), cleanup)
    window = guest_window(prefs, keys, cleanup)

    def enter_name(dialog: JoinDialog) -> None:
        dialog.name.setText("Sam")
        QTest.keyClick(dialog.name, Qt.Key.Key_Return)

    results: list[int] = []

    def press_enter(dialog: DisclosureDialog) -> None:
        dialogs.read_notice(dialog)
        dialog.finished.connect(results.append)
        target = dialog.focusWidget()
        assert target is not None
        QTest.keyClick(target, Qt.Key.Key_Return)

    dialogs.on(JoinDialog, enter_name)
    dialogs.on(DisclosureDialog, press_enter)
    await window.join_address(parse_room_address(f"127.0.0.1:{host.port}"))
    assert results == [QDialog.DialogCode.Rejected.value]
    assert len(dialogs.notices) == 1 and window.chat is None
    assert not host.server.room.participants


async def test_a_listed_room_with_namesakes_is_a_warning_on_the_notice(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], dialogs: Dialogs
) -> None:
    host = await open_room(RoomConfig(name="Team"), cleanup)
    window = guest_window(prefs, keys, cleanup)
    fields: dict[str, Any] = {
        "room_id": "x", "name": "Team", "host_name": "Ana", "participants": 0,
        "password_required": False, "assistant_kind": "none", "provider": None, "model": None,
        "protocol": PROTOCOL_VERSION, "app_version": "0.2.0",
    }  # fmt: skip
    real = DiscoveredRoom(key="team@x", addresses=("127.0.0.1",), port=host.port,
                          fingerprint=host.fingerprint, **fields)  # fmt: skip
    elsewhere = RoomCertificate.generate().fingerprint
    other = DiscoveredRoom(key="team@y", addresses=("192.0.2.9",), port=47321,
                           fingerprint=elsewhere, **fields)  # fmt: skip
    for room in (real, other):
        window.feed.apply(BrowserEvent("added", room))
    seen: list[tuple[str, bool]] = []
    opened: list[QObject] = []
    gone: list[QObject] = []

    def watch(dialog: QObject) -> None:
        if dialog not in opened:
            opened.append(dialog)
            dialog.destroyed.connect(lambda: gone.append(dialog))

    def read(dialog: DisclosureDialog) -> None:
        watch(dialog)
        assert dialog.code_words is not None
        seen.append((dialog.code_words.objectName(), dialog.cancel_button.isDefault()))
        dialogs.read_notice(dialog)
        dialog.join_button.click()  # compared: joined on purpose

    dialogs.on(JoinDialog, lambda d: (watch(d), give_name("Sam")(d)))
    dialogs.on(DisclosureDialog, read)
    await window.join_discovered(window.rooms.room(0))
    assert window.chat is not None
    assert dialogs.codes[0][1] == namesakes_words("Team", 2)
    assert "2 rooms on this network are called “Team” with different certificates" in unfenced(
        dialogs.codes[0][1]
    )
    assert seen == [("advice", True)]
    # Neither the name and room code dialog nor the notice outlives the join.
    assert len(opened) == 2
    await until(lambda: len(gone) == 2, what="the join dialogs to be deleted")


async def test_what_newcomers_read_is_never_told_from_another_certificates_room(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], dialogs: Dialogs
) -> None:
    quiet = await open_room(RoomConfig(name="Quiet", share_history=False), cleanup)
    window = guest_window(prefs, keys, cleanup)
    dialogs.on(JoinDialog, give_name("Sam"))
    await window.join_url(quiet.local_url())
    await window.leave_room()
    # Another room copies the first one's instance (anyone can), not its certificate.
    copy = await open_room(RoomConfig(name="Quiet", share_history=True), cleanup)
    copy.server.room.instance = quiet.server.room.instance
    await window.join_url(copy.local_url())
    assert len(dialogs.notices) == 2
    assert "The host decides whether people who join later can read" in dialogs.notices[1]
    assert "see only what is written after they join" not in dialogs.notices[1]
    await window.leave_room()
    # The first room again: what was learnt of it still holds.
    await window.join_url(quiet.local_url())
    assert window.chat is not None and len(dialogs.notices) == 2  # seen already


def test_the_address_dialog_is_deleted_once_answered(
    qtbot: QtBot, prefs: Preferences, keys: KeyStore
) -> None:
    window = MainWindow(prefs=prefs, keys=keys, discover=False)
    qtbot.addWidget(window)
    window.show()
    gone: list[bool] = []

    def answer(dialog: AddressDialog) -> None:
        dialog.destroyed.connect(lambda: gone.append(True))
        dialog.address.setText("gptgroup://192.0.2.1:1/?room=R")
        dialog.reject()

    answer_dialog(AddressDialog, answer)
    window.on_join_by_address_requested()
    qtbot.waitUntil(lambda: bool(gone))
    assert not window.busy


def test_the_address_dialog_takes_a_join_code_and_says_a_typo_as_it_is_typed(
    qtbot: QtBot,
) -> None:
    dialog = AddressDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.windowTitle() == "Join by address, link or code"
    assert dialog.label.text() == "Address, room link or join code"
    assert dialog.address.accessibleName() == "Address, room link or join code"
    go = dialog.buttons.button(dialog.buttons.StandardButton.Ok)
    code = TEST_VECTOR[3]  # G12G-P7HD-H0T: 192.168.1.20, the usual port
    for typed in (code, code.lower(), code.replace("-", " "), code.replace("0", "O")):
        dialog.address.setText(typed)
        assert go.isEnabled() and dialog.problem.text() == "", typed
        assert dialog.where.isVisible() and "the room at 192.168.1.20:47321" in dialog.where.text()
        assert dialog.join_code() == parse_join_code(code)
    # One character changed: the code's check refuses it, whatever it would have named.
    typo = code[:-2] + ("1" if code[-2] != "1" else "2") + code[-1]
    dialog.address.setText(typo)
    assert not go.isEnabled() and not dialog.where.isVisible()
    assert dialog.problem.text() == "This code has a typo: check it with the host."
    QTest.keyClick(dialog.address, Qt.Key.Key_Return)
    assert dialog.isVisible() and dialog.result() == 0  # Enter joins nothing
    dialog.address.setText(code[:8])  # G12G-P7H: the hyphen is no character of the code
    assert not go.isEnabled() and "has 7: check it" in dialog.problem.text()
    # Addresses and links are still addresses, a name with a digit too once it has its port.
    for typed in ("192.168.1.20:47321", "pc1:47321", "localhost", "gptgroup://192.0.2.1:1/"):
        dialog.address.setText(typed)
        assert go.isEnabled() and dialog.join_code() is None, typed
        assert not looks_like_join_code(typed)
    dialog.reject()


def test_a_code_with_a_typo_leaves_the_window_as_it_was(
    qtbot: QtBot, prefs: Preferences, keys: KeyStore
) -> None:
    window = MainWindow(prefs=prefs, keys=keys, discover=False)
    qtbot.addWidget(window)
    window.show()
    seen: list[str] = []

    def answer(dialog: AddressDialog) -> None:
        dialog.address.setText(TEST_VECTOR[3].replace("P7HD", "P7HE"))
        QTest.keyClick(dialog.address, Qt.Key.Key_Return)  # refused: the dialog stays
        seen.append(dialog.problem.text())
        dialog.reject()

    answer_dialog(AddressDialog, answer)
    window.on_join_by_address_requested()
    assert seen == ["This code has a typo: check it with the host."]
    assert not window.busy and window.session is None and not window.busy_strip.isVisible()


@pytest.fixture(params=list(HOSTILE))
def hostile(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return hostile_text(request.param, tmp_path)


def test_the_join_dialog_shows_a_hostile_host_name_plainly(qtbot: QtBot, hostile: str) -> None:
    dialog = JoinDialog(hostile, hostile, code_required=True, taken_names=[hostile])
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.show_refusal(f"{hostile} says no", about_code=True)
    assert rich_text_risks(dialog, hostile) == []
    assert dialog.sizeHint().width() <= 600
    dialog.name.setText("<b>x</b>")  # a valid name that looks like markup
    dialog_taking = JoinDialog("Room", "<b>x</b>", code_required=False,
                               taken_names=["<b>x</b>"])  # fmt: skip
    qtbot.addWidget(dialog_taking)
    assert "<b>x</b>" in unfenced(dialog_taking.name_note.text())
    assert rich_text_risks(dialog_taking, "<b>x</b>") == []
