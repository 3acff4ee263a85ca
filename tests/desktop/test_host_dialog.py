"""The host dialog: names keep to the room's own rules, said where they are typed and gone
once fixed; a keyboard reaches every field and "Open the room"; the room's new options
(announce it, what newcomers see) reach the room; a room code is offered ready made, can be
made anew or typed, and one that could never be typed is said; a room code is required unless
the host unticks it (its rows, hint included, go with it); a key is never sent in clear text to
another machine without the host's consent; the dialog, which holds the key and the room code,
is deleted once the room is open. The room's codes (the verification dialog, where the room
code shows only when asked, and the join dialog's code) work from the keyboard too."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QWidget
from pytestqt.qtbot import QtBot

from core.protocol import MAX_ROOM_NAME_CHARS
from desktop.host_dialog import HostDialog
from desktop.join_dialogs import JoinDialog
from desktop.main_window import MainWindow
from desktop.settings import KeyStore, Preferences
from desktop.verification import VerificationDialog
from tests.desktop.conftest import answer_dialog, until
from tests.fake_openai import FakeOpenAI, Hang

OTHER_MACHINE = "http://192.0.2.7:8080/v1"  # another machine, no TLS


def open_button(dialog: HostDialog) -> Any:
    return dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)


def shown(qtbot: QtBot, dialog: HostDialog) -> HostDialog:
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.activateWindow()
    qtbot.waitExposed(dialog)
    return dialog


def test_the_room_name_field_keeps_to_the_rooms_rules(
    qtbot: QtBot, prefs: Preferences, keys: KeyStore
) -> None:
    dialog = shown(qtbot, HostDialog(prefs, keys))
    dialog.room_name.clear()
    QTest.keyClicks(dialog.room_name, "x" * (MAX_ROOM_NAME_CHARS + 10))
    assert len(dialog.room_name.text()) == MAX_ROOM_NAME_CHARS
    assert not dialog.room_name_problem.isVisible()

    dialog.room_name.setText("Team\u200blunch")  # an invisible character
    assert dialog.room_name_problem.isVisible() and dialog.room_name_problem.text()
    open_button(dialog).click()
    assert dialog.isVisible() and dialog.problem.text().startswith("Room name")

    dialog.room_name.setText("Team lunch")
    assert not dialog.room_name_problem.isVisible()
    assert dialog.problem.text() == ""  # the error under the form went with its cause


def test_your_name_is_checked_as_typed_and_the_error_clears_when_fixed(
    qtbot: QtBot, prefs: Preferences, keys: KeyStore
) -> None:
    dialog = shown(qtbot, HostDialog(prefs, keys))
    dialog.your_name.setText("Ana (host)")
    assert dialog.your_name_problem.isVisible() and "role" in dialog.your_name_problem.text()
    open_button(dialog).click()
    assert dialog.isVisible() and dialog.problem.text().startswith("Your name")
    QTest.keyClick(dialog.your_name, Qt.Key.Key_Backspace)  # any edit: the old error goes
    assert dialog.problem.text() == ""
    dialog.your_name.setText("Ana")
    assert not dialog.your_name_problem.isVisible()


def test_tab_leaves_the_instructions_and_reaches_open_the_room(
    qtbot: QtBot, prefs: Preferences, keys: KeyStore
) -> None:
    dialog = shown(qtbot, HostDialog(prefs, keys))
    dialog.provider.setCurrentIndex(dialog.provider.findData("ollama"))
    dialog.persona.setFocus()
    qtbot.waitUntil(dialog.persona.hasFocus)
    QTest.keyClicks(dialog.persona, "Be brief.")
    for _ in range(30):
        QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        if QApplication.focusWidget() is open_button(dialog):
            break
    assert QApplication.focusWidget() is open_button(dialog)
    assert dialog.persona.toPlainText() == "Be brief."  # no tab typed into it


def test_without_an_assistant_its_fields_are_gone_not_just_grey(
    qtbot: QtBot, prefs: Preferences, keys: KeyStore
) -> None:
    dialog = shown(qtbot, HostDialog(prefs, keys))
    dialog.provider.setCurrentIndex(dialog.provider.findData("none"))
    for field in (dialog.base_url, dialog.api_key, dialog.model, dialog.persona, dialog.budget):
        assert not field.isVisible() and not field.isEnabled()
    assert dialog.no_assistant_note.isVisible()
    dialog.provider.setCurrentIndex(dialog.provider.findData("openai"))
    for field in (dialog.base_url, dialog.api_key, dialog.model, dialog.persona, dialog.budget):
        assert field.isVisible() and field.isEnabled()
    assert not dialog.no_assistant_note.isVisible()


def test_the_size_limit_says_of_what(qtbot: QtBot, prefs: Preferences, keys: KeyStore) -> None:
    dialog = shown(qtbot, HostDialog(prefs, keys))
    assert dialog.max_people.text() == "No limit"
    dialog.max_people.setValue(12)
    assert dialog.max_people.text() == "at most 12 people"
    dialog.your_name.setText("Ana")
    open_button(dialog).click()
    assert dialog.plan().config.max_participants == 12


def test_how_long_messages_can_be_edited_is_the_hosts_choice(
    qtbot: QtBot, prefs: Preferences, keys: KeyStore
) -> None:
    dialog = shown(qtbot, HostDialog(prefs, keys))
    assert dialog.edit_minutes.text() == "15 minutes"
    dialog.edit_minutes.setValue(0)
    assert dialog.edit_minutes.text() == "Never"
    dialog.your_name.setText("Ana")
    open_button(dialog).click()
    assert dialog.plan().config.limits.edit_window == 0

    dialog = shown(qtbot, HostDialog(prefs, keys))
    dialog.edit_minutes.setValue(60)
    dialog.your_name.setText("Ana")
    open_button(dialog).click()
    assert dialog.plan().config.limits.edit_window == 3600


def test_announcing_and_sharing_history_are_the_hosts_choice(
    qtbot: QtBot, prefs: Preferences, keys: KeyStore
) -> None:
    dialog = shown(qtbot, HostDialog(prefs, keys))
    dialog.provider.setCurrentIndex(dialog.provider.findData("none"))
    dialog.your_name.setText("Ana")
    assert dialog.announce.isChecked() and dialog.share_history.isChecked()
    open_button(dialog).click()
    plan = dialog.plan()
    assert plan.advertise and plan.config.share_history

    dialog = shown(qtbot, HostDialog(prefs, keys))
    dialog.announce.setChecked(False)
    dialog.share_history.setChecked(False)
    open_button(dialog).click()
    plan = dialog.plan()
    assert not plan.advertise and not plan.config.share_history

    dialog = shown(qtbot, HostDialog(prefs, keys, can_announce=False))
    assert not dialog.announce.isChecked() and not dialog.announce.isEnabled()
    assert "address" in dialog.announce_hint.text()


def test_a_key_that_would_go_over_plain_http_is_explained(
    qtbot: QtBot, prefs: Preferences, keys: KeyStore
) -> None:
    dialog = shown(qtbot, HostDialog(prefs, keys))
    dialog.provider.setCurrentIndex(dialog.provider.findData("compatible"))
    dialog.base_url.setText(OTHER_MACHINE)
    dialog.api_key.setText("sk-secret")
    dialog.model.setEditText("")
    dialog.test_button.click()
    assert "http" in dialog.test_result.text()  # a sentence, not an exception in a slot
    assert dialog.test_button.isEnabled()


def test_a_key_goes_over_plain_http_only_with_consent(
    qtbot: QtBot, prefs: Preferences, keys: KeyStore
) -> None:
    dialog = shown(qtbot, HostDialog(prefs, keys))
    dialog.your_name.setText("Ana")
    dialog.provider.setCurrentIndex(dialog.provider.findData("compatible"))
    dialog.base_url.setText("https://192.0.2.7:8443/v1")
    dialog.api_key.setText("sk-secret")
    dialog.model.setEditText("llama3.2")
    assert not dialog.key_over_http.isVisible()  # encrypted: nothing to consent to
    dialog.base_url.setText("http://127.0.0.1:8080/v1")
    assert not dialog.key_over_http.isVisible()  # this computer: never on the network
    dialog.base_url.setText(OTHER_MACHINE)
    assert dialog.key_over_http.isVisible() and not dialog.key_over_http.isChecked()

    open_button(dialog).click()
    assert dialog.isVisible() and "unencrypted" in dialog.problem.text()
    dialog.key_over_http.setChecked(True)
    assert dialog.problem.text() == ""
    assert "can read the key" in dialog.key_over_http_note.text()
    open_button(dialog).click()
    assert not dialog.isVisible()
    settings = dialog.plan().provider
    assert settings is not None and settings.allow_key_over_http


async def test_an_unannounced_room_is_not_announced(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    window = MainWindow(prefs=prefs, keys=keys, discover=False)
    cleanup.append(window)
    window.show()

    def fill(dialog: HostDialog) -> None:
        dialog.your_name.setText("Ana")
        dialog.provider.setCurrentIndex(dialog.provider.findData("none"))
        dialog.share_history.setChecked(False)
        open_button(dialog).click()

    answer_dialog(HostDialog, fill)
    await window.host_room()
    assert window.session is not None and window.session.host is not None
    assert not window.session.host.advertised
    assert not window.session.room.history_shared


async def test_the_dialog_is_gone_once_the_room_is_open_even_while_a_test_runs(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    """The dialog held the room code and the assistant's settings: it is deleted, not kept
    hidden, and a connection test still waiting on the provider stops with it."""
    async with FakeOpenAI() as fake:
        fake.models_behaviour = Hang()
        window = MainWindow(prefs=prefs, keys=keys, discover=False)
        cleanup.append(window)
        window.show()
        gone: list[bool] = []
        opened: list[HostDialog] = []

        def fill(dialog: HostDialog) -> None:
            opened.append(dialog)
            dialog.destroyed.connect(lambda: gone.append(True))
            dialog.your_name.setText("Ana")
            dialog.provider.setCurrentIndex(dialog.provider.findData("compatible"))
            dialog.base_url.setText(fake.base_url)
            dialog.model.setEditText("gpt-4o-mini")
            dialog.test_button.click()  # the provider never answers

        answer_dialog(HostDialog, fill)
        flow = asyncio.ensure_future(window.host_room())
        await fake.wait_requests()
        open_button(opened[0]).click()
        await flow
        assert window.session is not None
        assert window.session.room_code is not None  # required unless unticked
        await until(lambda: gone, what="the host dialog to be deleted")
        await fake.wait_disconnect()  # the test stopped with the dialog
        await window.shutdown()


# -- the room code ----------------------------------------------------------------------


def test_a_room_code_is_offered_ready_made_and_the_host_may_type_their_own(
    qtbot: QtBot, prefs: Preferences, keys: KeyStore
) -> None:
    dialog = shown(qtbot, HostDialog(prefs, keys))
    dialog.your_name.setText("Ana")
    dialog.provider.setCurrentIndex(dialog.provider.findData("none"))
    # Required by default: only a room code keeps out someone in the middle of the network.
    assert dialog.require_code.isChecked() and dialog.require_code.text() == "Require a room code"
    assert dialog.room_code.isVisible() and dialog.new_code_button.isVisible()
    assert dialog.room_code_hint.isVisible()
    dialog.require_code.setChecked(False)
    assert not dialog.room_code.isVisible() and not dialog.room_code_hint.isVisible()
    dialog.require_code.setChecked(True)
    assert dialog.room_code.isVisible() and dialog.room_code_hint.isVisible()
    made = dialog.room_code.text()
    assert re.fullmatch(r"\d{4} \d{4}", made)  # grouped, to read aloud
    dialog.new_code_button.click()
    assert re.fullmatch(r"\d{4} \d{4}", dialog.room_code.text())
    assert dialog.room_code.text() != made  # (one chance in 10^8 of the same again)

    dialog.room_code.setText("x" * 70)
    assert dialog.room_code_problem.isVisible() and "too long" in dialog.room_code_problem.text()
    open_button(dialog).click()
    assert dialog.isVisible() and dialog.problem.text().startswith("Room code:")
    dialog.room_code.setText("")
    open_button(dialog).click()
    assert dialog.isVisible() and "Type a room code" in dialog.problem.text()
    dialog.room_code.setText("Blue fox")
    assert not dialog.room_code_problem.isVisible() and dialog.problem.text() == ""
    open_button(dialog).click()
    assert not dialog.isVisible() and dialog.plan().config.password == "Blue fox"

    # Unticked last time, ticked again: rooms are temporary, and the default is the safe one.
    dialog = shown(qtbot, HostDialog(prefs, keys))
    assert dialog.require_code.isChecked()
    assert re.fullmatch(r"\d{4} \d{4}", dialog.room_code.text())
    dialog.room_code.setText("x" * 70)
    dialog.require_code.setChecked(False)  # no code wanted after all: nothing to fix
    assert not dialog.room_code_problem.isVisible()
    open_button(dialog).click()
    assert dialog.plan().config.password is None


def tab_through(qtbot: QtBot, start: QWidget, stop: QWidget, limit: int = 40) -> list[QWidget]:
    """The widgets Tab gives the focus to, from ``start`` until ``stop`` (included)."""
    start.setFocus()
    qtbot.waitUntil(start.hasFocus)
    seen: list[QWidget] = []
    for _ in range(limit):
        QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        widget = QApplication.focusWidget()
        assert widget is not None, f"the focus left the window after {seen}"
        seen.append(widget)
        if widget is stop:
            break
    return seen


def test_the_room_code_controls_are_reached_by_tab(
    qtbot: QtBot, prefs: Preferences, keys: KeyStore
) -> None:
    dialog = shown(qtbot, HostDialog(prefs, keys))
    dialog.provider.setCurrentIndex(dialog.provider.findData("none"))
    dialog.require_code.setChecked(False)
    reached = tab_through(qtbot, dialog.your_name, open_button(dialog))
    assert dialog.require_code in reached and open_button(dialog) in reached
    assert dialog.room_code not in reached
    dialog.require_code.setFocus()
    qtbot.waitUntil(dialog.require_code.hasFocus)
    QTest.keyClick(dialog.require_code, Qt.Key.Key_Space)  # ticked from the keyboard
    assert dialog.require_code.isChecked()
    reached = tab_through(qtbot, dialog.require_code, open_button(dialog))
    assert reached[:2] == [dialog.room_code, dialog.new_code_button]
    made = dialog.room_code.text()
    dialog.new_code_button.setFocus()
    QTest.keyClick(dialog.new_code_button, Qt.Key.Key_Space)
    assert dialog.room_code.text() != made and dialog.isVisible()  # a new code, not "Open"


def test_the_verification_dialog_is_used_by_keyboard(qtbot: QtBot) -> None:
    dialog = VerificationDialog("8781 6279 4641 5215 7511", "1234 5678")
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.activateWindow()
    qtbot.waitExposed(dialog)
    assert dialog.code.accessibleDescription().startswith("8 7 8 1, 6 2 7 9")
    assert dialog.copy_code.text() == "Copy verification code"
    close = dialog.buttons.button(QDialogButtonBox.StandardButton.Close)
    assert dialog.copy_room_code is not None and dialog.show_room_code is not None
    assert dialog.room_code is not None
    # What the host may show the room: the verification code, not the room code.
    assert not dialog.room_code.isVisible() and not dialog.room_code_shown()
    reached = tab_through(qtbot, close, close)
    assert dialog.code in reached  # selectable from the keyboard
    assert dialog.copy_code in reached and dialog.show_room_code in reached
    assert dialog.copy_room_code not in reached
    dialog.show_room_code.setFocus()
    QTest.keyClick(dialog.show_room_code, Qt.Key.Key_Space)
    assert dialog.room_code.isVisible() and dialog.room_code.text() == "1234 5678"
    assert dialog.show_room_code.text() == "Hide room code"
    reached = tab_through(qtbot, close, close)
    assert dialog.copy_room_code in reached and dialog.room_code in reached
    dialog.copy_room_code.setFocus()
    QTest.keyClick(dialog.copy_room_code, Qt.Key.Key_Space)
    assert QGuiApplication.clipboard().text() == "1234 5678"
    assert dialog.copy_room_code.text() == "Copied" and dialog.isVisible()
    dialog.copy_code.setFocus()
    QTest.keyClick(dialog.copy_code, Qt.Key.Key_Space)
    assert QGuiApplication.clipboard().text() == "8781 6279 4641 5215 7511"
    QTest.keyClick(dialog.copy_code, Qt.Key.Key_Escape)
    assert not dialog.isVisible()


def test_the_join_dialogs_code_is_reached_by_tab(qtbot: QtBot) -> None:
    dialog = JoinDialog("Locked box", "Sam", code_required=True)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.activateWindow()
    qtbot.waitExposed(dialog)
    join = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    reached = tab_through(qtbot, dialog.name, dialog.code)
    assert reached[-1] is dialog.code
    QTest.keyClicks(dialog.code, "1234 5678")
    assert join in tab_through(qtbot, dialog.code, join)


def test_the_host_sets_how_long_an_answer_may_take(
    qtbot: QtBot, prefs: Preferences, keys: KeyStore
) -> None:
    dialog = shown(qtbot, HostDialog(prefs, keys))
    dialog.your_name.setText("Ana")
    dialog.provider.setCurrentIndex(dialog.provider.findData("ollama"))
    dialog.model.setEditText("llama3.2")
    assert dialog.deadline.isVisible() and dialog.deadline.value() == 5  # minutes
    dialog.deadline.setFocus()
    dialog.deadline.selectAll()
    QTest.keyClicks(dialog.deadline, "12")  # typed, as a keyboard user would
    open_button(dialog).click()
    settings = dialog.plan().provider
    assert settings is not None and settings.answer_deadline == 12 * 60
    dialog2 = shown(qtbot, HostDialog(prefs, keys))
    dialog2.provider.setCurrentIndex(dialog2.provider.findData("none"))
    assert not dialog2.deadline.isVisible()
