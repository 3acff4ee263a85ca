"""The host dialog: names keep to the room's own rules, said where they are typed and gone
once fixed; a keyboard reaches every field and "Open the room"; the room's new options
(announce it, what newcomers see) reach the room; a key is never sent in clear text to
another machine without the host's consent."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialogButtonBox
from pytestqt.qtbot import QtBot

from core.protocol import MAX_ROOM_NAME_CHARS
from desktop.host_dialog import HostDialog
from desktop.main_window import MainWindow
from desktop.settings import KeyStore, Preferences
from tests.desktop.conftest import answer_dialog

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
