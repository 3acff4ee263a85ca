"""The Settings dialog: what it keeps on OK and puts back on Cancel, the names the join and
host dialogs offer, the send key, the text size, saved presets and where their keys go (the
keyring, this session only, or a file only its owner can read, and only by choice), and the
window's geometry."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backends import fail
from PySide6.QtCore import QRect, QSettings, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QDialogButtonBox,
    QRadioButton,
    QWidget,
)
from pytestqt.qtbot import QtBot

from desktop import text_size, theme
from desktop.composer import PLACEHOLDERS, Composer
from desktop.host_dialog import HostDialog
from desktop.main_window import MainWindow
from desktop.settings import (
    KEYRING_SERVICE,
    KeyStore,
    Preferences,
    SavedPreset,
    clamped,
    restore_window_geometry,
)
from desktop.settings_dialog import (
    FILE_NOTE,
    KEYRING_NOTE,
    SESSION_ONLY_NOTE,
    SettingsDialog,
)
from tests.conftest import MemoryKeyring
from tests.desktop.conftest import answer_dialog

WORK_URL = "https://llm.example.org/v1"


@pytest.fixture
def look(qapp: Any) -> Iterator[tuple[theme.ThemeController, text_size.TextSizeController]]:
    """The application's theme and text size controllers, light and at 100%; both put back
    afterwards, and remembering nothing."""
    controller = theme.install(qapp)
    controller.use_preferences(None)
    controller.set_choice("light", remember=False)
    sizes = text_size.install(qapp)
    sizes.use_preferences(None)
    sizes.set_size(100, remember=False)
    yield controller, sizes
    controller.set_choice("system", remember=False)
    sizes.use_preferences(None)
    sizes.set_size(100, remember=False)


@pytest.fixture
def no_keyring() -> Iterator[None]:
    """A system without any keyring backend (keyring's own "fail" backend)."""
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())  # type: ignore[no-untyped-call]  # keyring: no hints
    yield
    keyring.set_keyring(previous)


def prefs_at(path: Path) -> Preferences:
    return Preferences(QSettings(str(path), QSettings.Format.IniFormat))


def shown(controller: theme.ThemeController) -> str:
    return controller.scheme


def ok(dialog: SettingsDialog) -> None:
    dialog.buttons.button(QDialogButtonBox.StandardButton.Ok).click()


def cancel(dialog: SettingsDialog) -> None:
    dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel).click()


def opened(qtbot: QtBot, prefs: Preferences, keys: KeyStore) -> SettingsDialog:
    dialog = SettingsDialog(prefs, keys)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def add_preset(dialog: SettingsDialog, name: str, url: str, model: str, key: str) -> None:
    dialog.tabs.setCurrentIndex(2)
    dialog.add_button.click()
    dialog.preset_name.clear()
    QTest.keyClicks(dialog.preset_name, name)
    dialog.preset_provider.setCurrentIndex(dialog.preset_provider.findData("compatible"))
    QTest.keyClicks(dialog.preset_url, url)
    QTest.keyClicks(dialog.preset_model, model)
    QTest.keyClicks(dialog.preset_key, key)


# ---------------------------------------------------------------------------- OK and Cancel


def test_ok_keeps_every_choice_in_the_private_file(
    qtbot: QtBot, tmp_path: Path, look: Any, memory_keyring: MemoryKeyring
) -> None:
    path = tmp_path / "prefs.ini"
    prefs = prefs_at(path)
    dialog = opened(qtbot, prefs, KeyStore(tmp_path / "keys.json"))
    dialog.display_name.setText("Ana")
    dialog.separate_hosting.setChecked(True)
    dialog.hosting_name.setText("Ana at the desk")
    dialog.ctrl_enter_sends.setChecked(True)
    dialog.check_sensitive.setChecked(False)
    dialog.notifications.setChecked(False)
    dialog.theme_choice.setCurrentIndex(dialog.theme_choice.findData("dark"))
    dialog.text_size.setCurrentIndex(dialog.text_size.findData(130))
    add_preset(dialog, "Work", WORK_URL, "big-model", "sk-work-key-123456")
    ok(dialog)

    assert not dialog.problem.text(), dialog.problem.text()
    again = prefs_at(path)  # as the next run reads it
    assert again.display_name() == "Ana" and again.hosting_name() == "Ana at the desk"
    assert again.send_key() == "ctrl_enter"
    assert again.check_sensitive() is False and again.notifications() is False
    assert again.theme() == "dark" and again.text_size() == 130
    assert again.presets() == [SavedPreset("Work", "compatible", WORK_URL, "big-model")]
    assert memory_keyring.passwords[(KEYRING_SERVICE, WORK_URL)] == "sk-work-key-123456"
    content = path.read_text(encoding="utf-8")
    assert "sk-work-key" not in content  # the key is in the keyring only
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not (tmp_path / "keys.json").exists()


def test_the_defaults_are_enter_notifications_and_the_sensitive_check(
    qtbot: QtBot, prefs: Preferences, keys: KeyStore, look: Any
) -> None:
    dialog = opened(qtbot, prefs, keys)
    assert dialog.enter_sends.isChecked()
    assert dialog.check_sensitive.isChecked() and dialog.notifications.isChecked()
    assert not dialog.separate_hosting.isChecked() and not dialog.hosting_name.isVisible()
    assert dialog.text_size.currentData() == 100


def test_cancel_puts_back_the_live_theme_and_text_size_and_keeps_nothing(
    qtbot: QtBot, tmp_path: Path, look: tuple[theme.ThemeController, Any]
) -> None:
    controller, _sizes = look
    path = tmp_path / "prefs.ini"
    prefs = prefs_at(path)
    prefs.set_display_name("Ana")
    before = path.read_text(encoding="utf-8")
    points = QApplication.font().pointSizeF()
    dialog = opened(qtbot, prefs, KeyStore(tmp_path / "keys.json"))
    dialog.theme_choice.setCurrentIndex(dialog.theme_choice.findData("dark"))
    assert shown(controller) == "dark"  # shown at once, as a preview
    dialog.text_size.setCurrentIndex(dialog.text_size.findData(150))
    assert QApplication.font().pointSizeF() == pytest.approx(points * 1.5)
    dialog.display_name.setText("Someone else")
    dialog.ctrl_enter_sends.setChecked(True)
    cancel(dialog)
    assert shown(controller) == "light" and controller.choice == "light"
    assert QApplication.font().pointSizeF() == pytest.approx(points)
    assert path.read_text(encoding="utf-8") == before


def test_a_name_the_room_would_refuse_is_said_and_nothing_is_kept(
    qtbot: QtBot, prefs: Preferences, keys: KeyStore, look: Any
) -> None:
    dialog = opened(qtbot, prefs, keys)
    dialog.display_name.setText("x" * 200)
    assert dialog.display_name_problem.isVisible()
    ok(dialog)
    assert dialog.isVisible() and dialog.problem.isVisible()
    assert prefs.display_name() == ""


def test_every_control_has_a_name_and_is_reached_with_tab(
    qtbot: QtBot, prefs: Preferences, keys: KeyStore, look: Any
) -> None:
    prefs.set_presets([SavedPreset("Work", "openai", "", "gpt-4o-mini")])
    dialog = opened(qtbot, prefs, keys)
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow)
    for index in range(dialog.tabs.count()):
        dialog.tabs.setCurrentIndex(index)
        focusable = [
            w for w in dialog.findChildren(QWidget)
            if w.isVisible() and w.focusPolicy() & Qt.FocusPolicy.TabFocus
            and w.focusProxy() is None  # the tab widget's focus goes to its tab bar
        ]  # fmt: skip
        for widget in focusable:
            named = widget.accessibleName() or (
                isinstance(widget, QAbstractButton) and widget.text()
            )
            assert named, f"{type(widget).__name__} on tab {index} has no accessible name"
        reached = set()
        tab_bar = dialog.tabs.tabBar()
        tab_bar.setFocus()
        qtbot.waitUntil(tab_bar.hasFocus)
        for _ in range(len(focusable) + 2):
            QTest.keyClick(QApplication.focusWidget() or dialog, Qt.Key.Key_Tab)
            reached.add(QApplication.focusWidget())
        # Radio buttons in a group take one Tab stop (arrows move between them).
        missing = [w for w in focusable if w not in reached and not _unchecked_radio(w)]
        assert not missing, f"not reached on tab {index}: {missing}"


def _unchecked_radio(widget: QWidget) -> bool:
    return isinstance(widget, QRadioButton) and not widget.isChecked()


# ---------------------------------------------------------------------------- names


def test_the_host_dialog_offers_the_hosting_name_and_the_join_dialog_the_display_name(
    qtbot: QtBot, prefs: Preferences, keys: KeyStore
) -> None:
    prefs.set_display_name("Ana")
    host = HostDialog(prefs, keys)
    qtbot.addWidget(host)
    assert host.your_name.text() == "Ana"  # "same as above" by default
    prefs.set_hosting_name("Ana at the desk")
    host = HostDialog(prefs, keys)
    qtbot.addWidget(host)
    assert host.your_name.text() == "Ana at the desk"
    host.room_name.setText("Lunch")
    host.your_name.setText("Ana hosting")
    host.provider.setCurrentIndex(host.provider.findData("none"))
    host.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    # Hosting under another name keeps that one, not the default name for joining.
    assert prefs.hosting_name() == "Ana hosting" and prefs.display_name() == "Ana"


# ---------------------------------------------------------------------------- the send key


def composer_shown(qtbot: QtBot) -> Composer:
    composer = Composer()
    qtbot.addWidget(composer)
    composer.show()
    qtbot.waitExposed(composer)
    composer.setFocus()
    return composer


def test_enter_sends_and_shift_enter_makes_a_new_line(qtbot: QtBot) -> None:
    composer = composer_shown(qtbot)
    sent: list[str] = []
    composer.submitted.connect(sent.append)
    QTest.keyClicks(composer, "one")
    QTest.keyClick(composer, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    QTest.keyClicks(composer, "two")
    assert sent == [] and composer.toPlainText() == "one\ntwo"
    QTest.keyClick(composer, Qt.Key.Key_Return)
    assert sent == ["one\ntwo"]
    assert "Enter sends, Shift+Enter for a new line" in composer.placeholderText()


def test_in_the_ctrl_enter_mode_enter_makes_a_new_line(qtbot: QtBot, prefs: Preferences) -> None:
    composer = composer_shown(qtbot)
    composer.follow_preferences(prefs)
    sent: list[str] = []
    composer.submitted.connect(sent.append)
    prefs.set_send_key("ctrl_enter")  # as Settings' OK does: followed live
    assert composer.placeholderText() == PLACEHOLDERS["ctrl_enter"]
    assert "Ctrl+Enter sends, Enter for a new line" in composer.placeholderText()
    QTest.keyClicks(composer, "one")
    QTest.keyClick(composer, Qt.Key.Key_Return)
    QTest.keyClick(composer, Qt.Key.Key_Enter, Qt.KeyboardModifier.KeypadModifier)
    QTest.keyClicks(composer, "two")
    assert sent == [] and composer.toPlainText() == "one\n\ntwo"
    QTest.keyClick(composer, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert sent == ["one\n\ntwo"]
    prefs.set_send_key("enter")
    QTest.keyClick(composer, Qt.Key.Key_Return)
    assert sent == ["one\n\ntwo", "one\n\ntwo"]
    assert composer.placeholderText() == PLACEHOLDERS["enter"]


# ---------------------------------------------------------------------------- text size


def test_the_text_size_scales_the_app_and_the_composer_and_is_remembered(
    qtbot: QtBot, prefs: Preferences, look: tuple[Any, text_size.TextSizeController]
) -> None:
    _theme, sizes = look
    sizes.use_preferences(prefs)
    points = QApplication.font().pointSizeF()
    composer = composer_shown(qtbot)
    height = composer.height()
    assert text_size.bigger() == 115
    assert text_size.bigger() == 130
    assert QApplication.font().pointSizeF() == pytest.approx(points * 1.3)
    assert composer.font().pointSizeF() == pytest.approx(points * 1.3)
    assert composer.height() > height  # still three lines of the larger text
    assert prefs.text_size() == 130
    assert text_size.smaller() == 115 and prefs.text_size() == 115
    assert text_size.reset() == 100
    assert QApplication.font().pointSizeF() == pytest.approx(points)
    for _ in range(12):
        text_size.bigger()
    assert sizes.size == text_size.TEXT_SIZES[-1]  # no further than the largest
    assert text_size.apply_text_size(QApplication.instance(), 97) == 100  # type: ignore[arg-type]


def test_a_new_window_shows_the_text_size_kept(
    qtbot: QtBot, prefs: Preferences, keys: KeyStore, look: Any
) -> None:
    points = QApplication.font().pointSizeF()
    prefs.set_text_size(150)
    window = MainWindow(prefs=prefs, keys=keys, discover=False)
    qtbot.addWidget(window)
    assert QApplication.font().pointSizeF() == pytest.approx(points * 1.5)
    assert window.lobby.list.font().pointSizeF() == pytest.approx(points * 1.5)


# ---------------------------------------------------------------------------- presets and keys


def test_with_a_keyring_the_key_goes_there_and_the_host_dialog_offers_the_preset(
    qtbot: QtBot, tmp_path: Path, prefs: Preferences, look: Any, memory_keyring: MemoryKeyring
) -> None:
    keys = KeyStore(tmp_path / "keys.json")
    dialog = opened(qtbot, prefs, keys)
    assert dialog.key_note.text() == KEYRING_NOTE and not dialog.key_file.isVisible()
    add_preset(dialog, "Work", WORK_URL, "big-model", "sk-work-key-123456")
    ok(dialog)
    prefs.set("model:compatible", "the usual one")

    host = HostDialog(prefs, keys)
    qtbot.addWidget(host)
    index = host.provider.findData("saved:Work")
    assert index >= 0 and host.provider.itemText(index) == "Work (saved)"
    host.provider.setCurrentIndex(index)
    assert host.base_url.text() == WORK_URL
    assert host.model.currentText() == "big-model"
    assert host.api_key.text() == "sk-work-key-123456"
    host.room_name.setText("Lunch")
    host.your_name.setText("Ana")
    host.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    plan = host.plan()
    assert plan.provider is not None and plan.provider.model == "big-model"
    assert plan.provider.base_url == WORK_URL and plan.provider.api_key == "sk-work-key-123456"
    assert prefs.get("model:compatible") == "the usual one"  # the preset changed nothing else
    assert HostDialog(prefs, keys).provider.currentData() == "saved:Work"  # chosen again

    dialog = opened(qtbot, prefs, keys)
    dialog.tabs.setCurrentIndex(2)
    assert dialog.preset_key.text() == "sk-work-key-123456"
    dialog.remove_button.click()
    ok(dialog)
    assert prefs.presets() == []
    assert (KEYRING_SERVICE, WORK_URL) not in memory_keyring.passwords  # forgotten with it


def test_without_a_keyring_the_key_is_kept_for_this_session_only(
    qtbot: QtBot, tmp_path: Path, prefs: Preferences, look: Any, no_keyring: None
) -> None:
    key_file = tmp_path / "config" / "api-keys.json"
    keys = KeyStore(key_file)
    dialog = opened(qtbot, prefs, keys)
    dialog.tabs.setCurrentIndex(2)
    assert dialog.key_note.text() == SESSION_ONLY_NOTE  # said plainly
    assert dialog.key_file.isVisible() and not dialog.key_file.isChecked()
    add_preset(dialog, "Work", WORK_URL, "big-model", "sk-work-key-123456")
    ok(dialog)
    assert keys.get(WORK_URL) == "sk-work-key-123456"  # for this session
    assert not key_file.parent.exists()  # nothing written without the choice
    assert "sk-work-key" not in Path(prefs._settings.fileName()).read_text(encoding="utf-8")
    assert KeyStore(key_file).get(WORK_URL) is None  # the next run does not have it


def test_a_file_only_its_owner_can_read_by_choice_and_undone_by_choice(
    qtbot: QtBot, tmp_path: Path, prefs: Preferences, look: Any, no_keyring: None
) -> None:
    key_file = tmp_path / "config" / "api-keys.json"
    keys = KeyStore(key_file)
    dialog = opened(qtbot, prefs, keys)
    add_preset(dialog, "Work", WORK_URL, "big-model", "sk-work-key-123456")
    dialog.key_file.setChecked(True)
    assert dialog.key_note.text() == FILE_NOTE
    assert not key_file.exists()  # only on OK
    ok(dialog)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert json.loads(key_file.read_text(encoding="utf-8")) == {WORK_URL: "sk-work-key-123456"}
    assert KeyStore(key_file).get(WORK_URL) == "sk-work-key-123456"  # the next run has it
    assert KeyStore(key_file).set("http://other.example/v1", "sk-other-987654")  # kept too
    assert "sk-other-987654" in key_file.read_text(encoding="utf-8")

    dialog = opened(qtbot, prefs, keys)
    assert dialog.key_file.isChecked()
    dialog.key_file.setChecked(False)
    ok(dialog)
    assert not key_file.exists()
    assert keys.get(WORK_URL) == "sk-work-key-123456"  # still there for this session


def test_the_file_is_offered_to_undo_even_where_a_keyring_appeared(
    qtbot: QtBot, tmp_path: Path, prefs: Preferences, look: Any
) -> None:
    key_file = tmp_path / "api-keys.json"
    KeyStore(key_file).keep_in_file(True)
    dialog = opened(qtbot, prefs, KeyStore(key_file))
    dialog.tabs.setCurrentIndex(2)
    assert dialog.key_file.isVisible() and dialog.key_file.isChecked()
    dialog.key_file.setChecked(False)
    ok(dialog)
    assert not key_file.exists()


# ---------------------------------------------------------------------------- the window


def test_the_window_comes_back_where_it_was_within_the_screen(
    qtbot: QtBot, prefs: Preferences, keys: KeyStore, look: Any
) -> None:
    screen = QGuiApplication.primaryScreen()
    assert screen is not None
    free = screen.availableGeometry()
    window = MainWindow(prefs=prefs, keys=keys, discover=False)
    qtbot.addWidget(window)
    window.setGeometry(free.left() + 20, free.top() + 30, 640, 480)
    window.show()
    qtbot.waitExposed(window)
    window.close()  # kept as it closes
    again = MainWindow(prefs=prefs, keys=keys, discover=False)
    qtbot.addWidget(again)
    assert again.geometry() == QRect(free.left() + 20, free.top() + 30, 640, 480)

    prefs.set("window/geometry", f"{free.right() + 500},-400,{free.width() * 3},300")
    far = MainWindow(prefs=prefs, keys=keys, discover=False)
    qtbot.addWidget(far)
    assert free.contains(far.geometry())  # on the screen, no larger than it
    assert far.geometry().height() == 300 and far.geometry().width() == free.width()


def test_clamping_moves_in_what_sticks_out_and_shrinks_what_is_too_large() -> None:
    free = QRect(0, 30, 1000, 700)
    assert clamped(QRect(100, 100, 400, 300), free) == QRect(100, 100, 400, 300)
    assert clamped(QRect(900, 600, 400, 300), free) == QRect(600, 430, 400, 300)
    assert clamped(QRect(-50, 0, 3000, 2000), free) == free


def test_a_damaged_geometry_is_ignored(qtbot: QtBot, prefs: Preferences) -> None:
    widget = QWidget()
    qtbot.addWidget(widget)
    for kept in ("", "1,2,3", "a,b,c,d", "0,0,0,0"):
        prefs.set("window/geometry", kept)
        assert not restore_window_geometry(widget, prefs)


# ---------------------------------------------------------------------------- ways in


def test_the_lobby_opens_settings_by_its_button_and_by_ctrl_comma(
    qtbot: QtBot, prefs: Preferences, keys: KeyStore, look: Any
) -> None:
    window = MainWindow(prefs=prefs, keys=keys, discover=False)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    seen: list[str] = []

    def close(dialog: SettingsDialog) -> None:
        seen.append(dialog.windowTitle())
        dialog.display_name.setText("Ana")
        ok(dialog)

    answer_dialog(SettingsDialog, close)
    window.lobby.settings_button.click()
    assert seen == ["Settings"] and prefs.display_name() == "Ana"
    assert window.lobby.settings_button.accessibleName() or window.lobby.settings_button.text()

    def cancelled(dialog: SettingsDialog) -> None:
        seen.append("by the keyboard")
        cancel(dialog)

    answer_dialog(SettingsDialog, cancelled)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    window.lobby.host_button.setFocus()
    qtbot.waitUntil(window.lobby.host_button.hasFocus)
    QTest.keyClick(window.lobby.host_button, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    assert seen == ["Settings", "by the keyboard"]
