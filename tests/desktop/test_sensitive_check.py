"""The question before something sensitive is sent: the real box answered with the keys a
person presses, and the composer's path in a real room, where "Edit" must leave no trace that
the room could see.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton, QWidget
from pytestqt.qtbot import QtBot

from core.sensitive import find_sensitive
from desktop.main_window import MainWindow
from desktop.sensitive_check import (
    EDIT,
    SEND_ANYWAY,
    TITLE,
    ask_before_sending,
    question_text,
    sensitive_question,
)
from desktop.settings import KeyStore, Preferences
from tests.desktop.conftest import answer_dialog, until
from tests.desktop.flows import hosted, joined, room_url, texts, unfenced

CARD = "4111 1111 1111 1111"


def button(box: QMessageBox, text: str) -> QPushButton:
    found = [b for b in box.buttons() if b.text() == text]
    assert len(found) == 1 and isinstance(found[0], QPushButton), [b.text() for b in box.buttons()]
    return found[0]


def question_box() -> QMessageBox | None:
    widget = QApplication.activeModalWidget()
    return widget if isinstance(widget, QMessageBox) and widget.windowTitle() == TITLE else None


# ----------------------------------------------------------------------------- the question


def test_the_question_names_what_it_saw_and_who_will_see_it() -> None:
    card = find_sensitive(f"card {CARD}")
    assert question_text(card, assistant=True) == (
        "This looks like a card number. Everyone here and the AI provider will see it. Send anyway?"
    )
    assert question_text(card, assistant=False) == (
        "This looks like a card number. Everyone here will see it. Send anyway?"
    )
    several = find_sensitive(f"{CARD} {CARD} password: hunter2 IBAN NL91 ABNA 0417 1643 00")
    assert question_text(several, assistant=False) == (
        "This looks like a card number, a password and an IBAN. Everyone here will see it. "
        "Send anyway?"
    )


def test_the_question_is_plain_text_with_edit_as_default_and_names_for_screen_readers(
    qtbot: QtBot,
) -> None:
    parent = QWidget()
    qtbot.addWidget(parent)
    box, send = sensitive_question(parent, find_sensitive("password: Hunter2!"), assistant=False)
    assert box.textFormat() == Qt.TextFormat.PlainText
    assert box.text() == "This looks like a password. Everyone here will see it. Send anyway?"
    edit = button(box, EDIT)
    assert send is button(box, SEND_ANYWAY)
    assert box.defaultButton() is edit and box.escapeButton() is edit
    assert box.accessibleName() == TITLE and box.accessibleDescription() == box.text()
    assert edit.accessibleName() == "Edit the message" and edit.accessibleDescription()
    assert send.accessibleName() == SEND_ANYWAY and send.accessibleDescription()
    assert "Hunter2" not in box.text() + box.informativeText() + box.detailedText()


@pytest.mark.parametrize(
    ("answer", "sends"),
    [
        (lambda box: QTest.keyClick(box, Qt.Key.Key_Return), False),  # a stray Enter
        (lambda box: QTest.keyClick(box, Qt.Key.Key_Enter), False),
        (lambda box: QTest.keyClick(box, Qt.Key.Key_Escape), False),
        (lambda box: QTest.mouseClick(button(box, EDIT), Qt.MouseButton.LeftButton), False),
        (lambda box: QTest.mouseClick(button(box, SEND_ANYWAY), Qt.MouseButton.LeftButton), True),
    ],
    ids=["Enter", "keypad Enter", "Escape", "Edit", "Send anyway"],
)
async def test_only_send_anyway_sends(qtbot: QtBot, answer: Any, sends: bool) -> None:
    parent = QWidget()
    qtbot.addWidget(parent)
    parent.show()
    answer_dialog(QMessageBox, answer)
    assert await ask_before_sending(parent, find_sensitive(CARD), assistant=True) is sends
    assert question_box() is None


async def test_the_question_goes_when_its_task_is_cancelled(qtbot: QtBot) -> None:
    parent = QWidget()
    qtbot.addWidget(parent)
    parent.show()
    asking = asyncio.ensure_future(
        ask_before_sending(parent, find_sensitive(CARD), assistant=False)
    )
    await until(lambda: question_box() is not None, what="the question")
    box = question_box()
    assert box is not None
    closed: list[int] = []
    box.finished.connect(closed.append)
    asking.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asking
    assert closed and question_box() is None


# ----------------------------------------------------------------------------- in a room


def frames_in(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Every frame the host's room received, as its trace shows them (type and size only)."""
    return [
        r.getMessage() for r in caplog.records
        if r.name == "gptgroup.server" and r.getMessage().startswith("< ")
    ]  # fmt: skip


async def typed_in_a_room(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], text: str
) -> tuple[MainWindow, MainWindow]:
    """A host and a guest, Sam, who has typed ``text`` (the host has seen Sam typing)."""
    host = await hosted(prefs, keys, cleanup)
    guest = await joined(room_url(host), "Sam", prefs, keys, cleanup)
    assert host.chat is not None and guest.chat is not None
    page = guest.chat
    page.prefs = guest.prefs  # as MainWindow should (see test_the_window_hands_its_preferences…)
    guest.activateWindow()
    page.composer.setFocus()
    await until(lambda: QApplication.focusWidget() is page.composer, what="the composer's focus")
    QTest.keyClicks(page.composer, text)
    host_page = host.chat
    await until(lambda: "Sam is typing" in unfenced(host_page.typing_line.text()), what="typing")
    return host, guest


async def test_edit_keeps_the_message_as_it_was_and_the_room_sees_nothing(
    caplog: pytest.LogCaptureFixture, prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    caplog.set_level(logging.DEBUG, logger="gptgroup.server")
    typed = f"my card is {CARD}, expires 12/27"
    host, guest = await typed_in_a_room(prefs, keys, cleanup, typed)
    assert host.chat is not None and guest.chat is not None
    host_page, page, composer = host.chat, guest.chat, guest.chat.composer
    cursor = composer.textCursor()
    cursor.setPosition(len("my card"))  # somewhere in the middle, not at the end
    composer.setTextCursor(cursor)
    before = frames_in(caplog)

    QTest.keyClick(composer, Qt.Key.Key_Return)
    await until(lambda: question_box() is not None, what="the question")
    box = question_box()
    assert box is not None
    assert box.text() == "This looks like a card number. Everyone here will see it. Send anyway?"
    QTest.keyClick(box, Qt.Key.Key_Return)  # Enter again, as if to send: Edit
    # The window's focus goes back to the message (the offscreen platform leaves no window
    # active once the box has gone, so the application's focus widget is no test here).
    await until(lambda: guest.focusWidget() is composer, what="back in the composer")

    assert question_box() is None
    assert composer.toPlainText() == typed
    assert composer.textCursor().position() == len("my card")
    assert not composer.textCursor().hasSelection()
    assert frames_in(caplog) == before  # no frame at all while it was asked and answered
    assert texts(page) == []

    # The room gets only what comes next; a later message arrives, and it alone.
    composer.selectAll()
    QTest.keyClicks(composer, "never mind, see you at noon")
    QTest.keyClick(composer, Qt.Key.Key_Return)
    await until(lambda: texts(host_page) == ["never mind, see you at noon"], what="the message")
    assert CARD not in " ".join(texts(host_page) + texts(page))


async def test_send_anyway_sends_the_message(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    typed = f"here: {CARD}"
    host, guest = await typed_in_a_room(prefs, keys, cleanup, typed)
    assert host.chat is not None and guest.chat is not None
    host_page, composer = host.chat, guest.chat.composer
    guest.chat.send_button.click()
    await until(lambda: question_box() is not None, what="the question")
    box = question_box()
    assert box is not None
    QTest.mouseClick(button(box, SEND_ANYWAY), Qt.MouseButton.LeftButton)
    await until(lambda: texts(host_page) == [typed], what="the message at the host")
    await until(lambda: composer.toPlainText() == "", what="the composer emptied")


async def test_with_the_check_off_there_is_no_question(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    prefs.set_check_sensitive(False)
    typed = f"the company card is {CARD}"
    host, guest = await typed_in_a_room(prefs, keys, cleanup, typed)
    assert host.chat is not None and guest.chat is not None
    host_page = host.chat
    QTest.keyClick(guest.chat.composer, Qt.Key.Key_Return)
    assert QApplication.activeModalWidget() is None
    await until(lambda: texts(host_page) == [typed], what="the message at the host")
    assert QApplication.activeModalWidget() is None


async def test_the_room_ending_while_asking_closes_the_question_and_sends_nothing(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    typed = f"card {CARD}"
    host, guest = await typed_in_a_room(prefs, keys, cleanup, typed)
    assert host.session is not None and guest.chat is not None
    QTest.keyClick(guest.chat.composer, Qt.Key.Key_Return)
    await until(lambda: question_box() is not None, what="the question")
    host.session.close_room()
    await until(lambda: question_box() is None, what="the question closed")
    assert guest.chat.composer.toPlainText() == typed


async def test_the_window_hands_its_preferences_to_the_room_page(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    host = await hosted(prefs, keys, cleanup)
    assert host.chat is not None and host.chat.prefs is host.prefs
