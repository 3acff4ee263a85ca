"""Links in messages: hovering shows where a link goes; a link whose text names another address
asks first, showing the real target as plain text; a plain link opens on one click as before."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import QEvent, QRect, Qt
from PySide6.QtGui import QHelpEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox, QToolTip

from desktop.chat_page import ChatPage
from desktop.delegate import MessageDelegate
from desktop.links import deceptive
from desktop.settings import KeyStore, Preferences
from tests.desktop.conftest import UrlRecorder, until
from tests.desktop.flows import hosted, joined, room_url, texts
from tests.desktop.hostile_checks import tooltip_shows

MESSAGE = (
    "Pay here: [paypal.com](https://evil.example/login), or see "
    "[https://ok.example/](https://ok.example/) and [the docs](https://docs.example/guide)"
)


@pytest.mark.parametrize(
    ("text", "href", "asks"),
    [
        ("https://ok.example/", "https://ok.example/", False),
        ("ok.example", "https://ok.example/page", False),
        ("www.ok.example/page", "https://ok.example/other", False),
        ("the docs", "https://docs.example/", False),
        ("see the docs at https://docs.example", "https://docs.example/guide", False),
        ("README.md", "https://code.example/README.md", True),  # .md is also a country
        ("paypal.com", "https://evil.example/", True),
        ("https://paypal.com/login", "https://evil.example/login", True),
        ("support@paypal.com", "https://evil.example/", True),
        ("log in at www.paypal.com now", "https://evil.example/", True),
        ("p\u0430ypal.com", "https://paypal.com/", True),  # a Cyrillic "a"
        ("10.0.0.1", "https://10.0.0.2/", True),
        ("moc.lapyap\u202e", "https://evil.example/", True),  # direction controls hide it
        ("paypal.com", "https://paypal.com@evil.example/", True),  # a user name hides the host
        ("https://B\u00fccher.example/", "https://xn--bcher-kva.example/", False),
    ],
)
def test_which_links_ask_first(text: str, href: str, asks: bool) -> None:
    assert deceptive(text, href) is asks


def link_rects(page: ChatPage, text: str) -> dict[str, QRect]:
    """Where each link of the message ``text`` is drawn in the page's view, by link text."""
    view = page.view
    row = next(r for r in range(page.model.rowCount()) if page.model.entry(r).text == text)
    index = page.model.index(row)
    view.scrollTo(index)
    delegate = view.itemDelegate()
    assert isinstance(delegate, MessageDelegate)
    return {link_text: rect for link_text, _href, rect in delegate.link_rects(view, index)}


def click(page: ChatPage, rect: QRect) -> None:
    QTest.mouseClick(page.view.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, rect.center())  # fmt: skip


def question() -> QMessageBox | None:
    widget = QApplication.activeModalWidget()
    return widget if isinstance(widget, QMessageBox) and widget.isVisible() else None


async def test_a_deceptive_link_asks_and_a_plain_one_opens(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], browser: UrlRecorder
) -> None:
    host = await hosted(prefs, keys, cleanup)
    guest = await joined(room_url(host), "Mallory", prefs, keys, cleanup)
    page = host.chat
    assert page is not None and guest.chat is not None
    guest.chat.send(MESSAGE)
    await until(lambda: MESSAGE in texts(page), what="the message")
    await until(lambda: len(link_rects(page, MESSAGE)) == 3, what="the message laid out")
    links = link_rects(page, MESSAGE)

    click(page, links["the docs"])
    click(page, links["https://ok.example/"])
    assert browser.opened == ["https://docs.example/guide", "https://ok.example/"]
    assert question() is None

    click(page, links["paypal.com"])
    await until(question, what="the question")
    box = question()
    assert box is not None and box.textFormat() == Qt.TextFormat.PlainText
    assert "https://evil.example/login" in box.text() and "paypal.com" in box.text()
    box.button(QMessageBox.StandardButton.Cancel).click()
    await until(lambda: question() is None)
    assert browser.opened == ["https://docs.example/guide", "https://ok.example/"]

    click(page, links["paypal.com"])
    await until(question, what="the question again")
    box = question()
    assert box is not None
    opener = next(b for b in box.buttons() if b.text() == "Open link")
    opener.click()
    await until(lambda: len(browser.opened) == 3, what="the link to open")
    assert browser.opened[-1] == "https://evil.example/login"


async def test_hovering_a_link_shows_its_real_target(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    host = await hosted(prefs, keys, cleanup)
    page = host.chat
    assert page is not None
    page.send(MESSAGE)
    await until(lambda: page.model.rowCount() > 0, what="the message shown")
    entry = page.model.entry(page.model.rowCount() - 1)
    await until(lambda: not entry.pending, what="the message posted")
    await until(lambda: len(link_rects(page, MESSAGE)) == 3, what="the message laid out")
    viewport = page.view.viewport()
    for text, target in (("paypal.com", "https://evil.example/login"),
                         ("the docs", "https://docs.example/guide")):  # fmt: skip
        where = link_rects(page, MESSAGE)[text].center()
        QApplication.sendEvent(
            viewport, QHelpEvent(QEvent.Type.ToolTip, where, viewport.mapToGlobal(where))
        )
        await until(QToolTip.isVisible, what="the tooltip")
        shown, loads = tooltip_shows(QToolTip.text())
        assert shown == target and loads == []
        QToolTip.hideText()
