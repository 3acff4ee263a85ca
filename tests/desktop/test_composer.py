"""The composer never loses what was typed: a message over the limit stays (with a counter
that says by how much) and cannot be sent; a message leaves the box only once the room's
client has taken it; the ``@`` completion list stays off the word being typed, and Tab takes
the name offered."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QLineEdit, QVBoxLayout, QWidget
from pytestqt.qtbot import QtBot

from core.protocol import Limits
from desktop.composer import Composer
from desktop.settings import KeyStore, Preferences
from tests.desktop.conftest import until
from tests.desktop.flows import hosted, joined, room_url, texts

LIMIT = Limits().max_text_chars  # 4,000


def composer_in_window(qtbot: QtBot) -> tuple[QWidget, Composer]:
    window = QWidget()
    composer = Composer()
    layout = QVBoxLayout(window)
    layout.addStretch(1)
    layout.addWidget(composer)
    layout.addWidget(QLineEdit())  # somewhere for Tab to go
    window.resize(500, 300)
    qtbot.addWidget(window)
    window.show()
    window.activateWindow()
    qtbot.waitExposed(window)
    composer.setFocus()
    qtbot.waitUntil(composer.hasFocus)
    return window, composer


def test_a_message_over_the_limit_stays_and_says_why(qtbot: QtBot) -> None:
    _window, composer = composer_in_window(qtbot)
    sent: list[str] = []
    sendable: list[bool] = []
    composer.submitted.connect(sent.append)
    composer.sendable_changed.connect(sendable.append)
    long = "x" * (LIMIT + 212)
    composer.setPlainText(long)
    QTest.keyClick(composer, Qt.Key.Key_Return)
    assert sent == [] and composer.toPlainText() == long  # nothing sent, nothing erased
    assert composer.counter.isVisible()
    assert "4,212 / 4,000" in composer.counter.text()
    assert "212 characters too many" in composer.counter.text()
    assert "212 characters too many" in composer.send_blocker()
    assert sendable == [False]
    assert composer.extraSelections()  # what does not fit is marked

    composer.setPlainText("x" * LIMIT)  # shortened to fit: it can go
    assert sendable == [False, True]
    assert composer.counter.isVisible() and "too many" not in composer.counter.text()
    QTest.keyClick(composer, Qt.Key.Key_Return)
    assert sent == ["x" * LIMIT]


def test_the_counter_appears_only_near_the_limit(qtbot: QtBot) -> None:
    _window, composer = composer_in_window(qtbot)
    height = composer.height()
    composer.setPlainText("y" * (LIMIT // 2))
    assert not composer.counter.isVisible()
    composer.setPlainText("y" * (LIMIT - 100))
    assert composer.counter.isVisible() and composer.counter.text() == "3,900 / 4,000"
    assert composer.height() > height  # the counter has its own strip, over no text
    composer.set_max_chars(10_000)  # a room with a larger limit
    assert not composer.counter.isVisible()


def test_the_text_stays_until_the_room_takes_it_and_undo_brings_it_back(
    qtbot: QtBot,
) -> None:
    _window, composer = composer_in_window(qtbot)
    sent: list[str] = []
    composer.submitted.connect(sent.append)
    QTest.keyClicks(composer, "hello there")
    QTest.keyClick(composer, Qt.Key.Key_Return)
    assert sent == ["hello there"]
    assert composer.toPlainText() == "hello there"  # not taken yet: still here
    composer.message_queued("something else")
    assert composer.toPlainText() == "hello there"
    composer.message_queued("hello there")
    assert composer.toPlainText() == ""
    QTest.keySequence(composer, QKeySequence.StandardKey.Undo)
    assert composer.toPlainText() == "hello there"


def test_a_refused_message_comes_back(qtbot: QtBot) -> None:
    _window, composer = composer_in_window(qtbot)
    composer.restore_unsent("first")
    assert composer.toPlainText() == "first"
    composer.setPlainText("typed since")
    composer.restore_unsent("refused")
    assert composer.toPlainText() == "refused\ntyped since"


def test_completion_stays_off_the_word_and_tab_takes_it(qtbot: QtBot) -> None:
    _window, composer = composer_in_window(qtbot)
    composer.set_names(["Ana", "Sam", "assistant"])
    QTest.keyClicks(composer, "hi @S")
    popup = composer._completer.popup()
    qtbot.waitUntil(popup.isVisible)
    line = composer.cursorRect()
    word = QRect(composer.viewport().mapToGlobal(line.topLeft()), line.size())
    word.setLeft(word.left() - composer.fontMetrics().horizontalAdvance("@S"))
    assert not popup.geometry().intersects(word)
    QTest.keyClick(popup, Qt.Key.Key_Tab)
    assert composer.toPlainText() == "hi @Sam "
    assert composer.hasFocus()  # Tab took the name; it did not move on
    assert not popup.isVisible()
    QTest.keyClick(composer, Qt.Key.Key_Tab)
    assert not composer.hasFocus()  # and without a list, Tab moves on as usual


async def test_in_a_room_nothing_typed_is_lost(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    host = await hosted(prefs, keys, cleanup)
    guest = await joined(room_url(host), "Sam", prefs, keys, cleanup)
    assert host.chat is not None and guest.chat is not None
    composer = guest.chat.composer
    long = "z" * (LIMIT + 1)
    composer.setPlainText(long)
    QTest.keyClick(composer, Qt.Key.Key_Return)
    guest.chat.send_button.click()
    assert composer.toPlainText() == long
    assert not guest.chat.send_button.isEnabled()

    composer.setPlainText("short enough")
    assert guest.chat.send_button.isEnabled()
    QTest.keyClick(composer, Qt.Key.Key_Return)
    await until(lambda: "short enough" in texts(host.chat), what="the host to see it")
    assert composer.toPlainText() == ""  # taken by the room's client, then cleared
