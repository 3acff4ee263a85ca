"""The people panel: a place taken over from another address is marked for everyone; Remove
and Ban ask first, in verbs; bans can be listed and lifted; once out of the room, nobody is
listed as if present. Names are hostile text in the last tests, and stay plain.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMenu, QMessageBox, QPushButton

from core.client import JoinRefused, RoomClient
from core.protocol import BanInfo, ParticipantInfo
from desktop.ban_dialog import BansDialog
from desktop.chat_page import ChatPage
from desktop.models import Roles
from desktop.people import MOVED_TAG, PeoplePanel
from desktop.settings import KeyStore, Preferences
from tests.desktop.conftest import until
from tests.desktop.flows import hosted, joined, room_url, unfenced
from tests.desktop.hostile_checks import (
    HOSTILE,
    hostile_text,
    rich_text_risks,
    shows,
    tooltip_shows,
)

ToolTip = Qt.ItemDataRole.ToolTipRole


def row_of(page: ChatPage, name: str) -> int:
    for row in range(page.people.rowCount()):
        info = page.people.index(row).data(Roles.PARTICIPANT)
        if isinstance(info, ParticipantInfo) and info.name == name:
            return row
    raise AssertionError(f"{name} is not listed")


def modal_box() -> QMessageBox | None:
    widget = QApplication.activeModalWidget()
    return widget if isinstance(widget, QMessageBox) else None


def button(box: QMessageBox, text: str) -> QPushButton:
    found = [b for b in box.buttons() if unfenced(b.text()).replace("&&", "&") == text]
    assert found, f"no {text!r} in {[b.text() for b in box.buttons()]}"
    assert isinstance(found[0], QPushButton)
    return found[0]


async def choose_in_menu(page: ChatPage, name: str, item: str) -> None:
    """Right-click ``name`` in the people list and choose ``item``, as the host would."""
    point = page.people_view.visualRect(page.people.index(row_of(page, name))).center()
    QTimer.singleShot(0, lambda: page._person_menu(point))
    await until(lambda: isinstance(QApplication.activePopupWidget(), QMenu), what="the menu")
    menu = QApplication.activePopupWidget()
    assert isinstance(menu, QMenu)
    action = next(a for a in menu.actions() if unfenced(a.text()).replace("&&", "&") == item)
    menu.close()
    action.trigger()


async def test_a_place_taken_from_another_address_is_marked_for_everyone(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    host = await hosted(prefs, keys, cleanup)
    sam = await joined(room_url(host), "Sam", prefs, keys, cleanup)
    ben = await joined(room_url(host), "Ben", prefs, keys, cleanup)
    assert host.chat is not None and ben.chat is not None and sam.session is not None
    await until(lambda: ben.chat.people.rowCount() == 3)
    # Someone on another address resumes Sam's session with a copy of the token.
    thief = RoomClient(room_url(host), "Sam", local_address="127.0.0.2")
    thief._session = sam.session.client._session
    await thief.connect()
    cleanup.append(SimpleNamespace(close=thief.leave))

    for page, advice in ((host.chat, "remove them"), (ben.chat, "tell the host")):
        await until(lambda page=page: MOVED_TAG in page.people.index(row_of(page, "Sam")).data(),
                    what="the mark")  # fmt: skip
        index = page.people.index(row_of(page, "Sam"))
        tip, loads = tooltip_shows(index.data(ToolTip))
        assert loads == [] and "Sam" in tip and "another address" in tip and advice in tip
        assert index.data(Qt.ItemDataRole.DecorationRole) is not None  # a warning sign
        ana = page.people.index(row_of(page, "Ana")).data()
        assert MOVED_TAG not in ana


async def test_remove_and_ban_ask_first_and_bans_can_be_lifted(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    host = await hosted(prefs, keys, cleanup)
    sam = await joined(room_url(host), "Sam", prefs, keys, cleanup)
    page = host.chat
    assert page is not None and sam.chat is not None
    await until(lambda: page.people.rowCount() == 2)

    await choose_in_menu(page, "Sam", "Remove Sam")
    await until(modal_box, what="the question")
    box = modal_box()
    assert box is not None and "Sam" in box.text()
    assert sorted(unfenced(b.text()) for b in box.buttons()) == ["Cancel", "Remove Sam"]
    assert box.defaultButton() is button(box, "Cancel")
    button(box, "Cancel").click()
    await until(lambda: modal_box() is None)
    assert page.people.rowCount() == 2 and sam.chat.leave_button.text() == "Leave"

    await choose_in_menu(page, "Sam", "Remove and ban Sam")
    await until(modal_box, what="the ban question")
    box = modal_box()
    assert box is not None and "Banned people" in box.text()
    assert sorted(unfenced(b.text()) for b in box.buttons()) == ["Ban Sam", "Cancel"]
    button(box, "Ban Sam").click()
    await until(lambda: "banned you" in sam.chat.banner.text(), what="Sam is banned")
    await until(lambda: page.people.rowCount() == 1)
    with pytest.raises(JoinRefused):
        await RoomClient(room_url(host), "Sam again").connect()

    page.bans_action.trigger()
    await until(lambda: isinstance(QApplication.activeModalWidget(), BansDialog))
    dialog = QApplication.activeModalWidget()
    assert isinstance(dialog, BansDialog)
    await until(lambda: dialog.list.count() == 1, what="the ban listed")
    assert unfenced(dialog.list.item(0).text()).startswith("Sam  ·  banned at ")
    assert unfenced(dialog.lift_button.text()) == "Lift the ban on Sam"
    dialog.lift_button.click()
    await until(lambda: dialog.stack.currentWidget() is dialog.empty, what="the ban lifted")
    assert "Nobody is banned" in dialog.empty.text()
    dialog.reject()
    again = RoomClient(room_url(host), "Sam")
    await again.connect()  # welcome back
    await until(lambda: page.people.rowCount() == 2, what="Sam back in")
    await again.leave()
    await until(lambda: page.people.rowCount() == 1, what="Sam gone again")


async def test_once_out_of_the_room_nobody_is_listed_as_here(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    host = await hosted(prefs, keys, cleanup)
    sam = await joined(room_url(host), "Sam", prefs, keys, cleanup)
    page = sam.chat
    assert page is not None and host.session is not None
    await until(lambda: page.people.rowCount() == 2)
    host.session.kick(sam.session.you.id)  # type: ignore[union-attr]
    await until(lambda: "removed you" in page.banner.text())
    # The room's error frame says it first; the session ends with the close that follows.
    await until(lambda: page.people.rowCount() == 0, what="the list to empty")
    assert page.people_panel.title.text() == "People · not connected"
    await until(lambda: host.chat is not None and host.chat.people.rowCount() == 1)


# -- hostile names ----------------------------------------------------------------------


@pytest.fixture(params=list(HOSTILE))
def hostile(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return hostile_text(request.param, tmp_path)


def test_a_hostile_name_in_the_list_and_its_warning_stays_plain(qapp: Any, hostile: str) -> None:
    panel = PeoplePanel()
    people = {"p1": ParticipantInfo("p1", hostile, "guest", moved=True)}
    panel.show_people(people, None, "me", host=True)
    panel.resize(240, 300)
    panel.show()
    index = panel.model.index(0)
    assert shows(index.data(), hostile) and MOVED_TAG in index.data()
    tip, loads = tooltip_shows(index.data(ToolTip))
    assert loads == [] and shows(tip, hostile) and "remove them" in tip
    assert rich_text_risks(panel, hostile) == []
    panel.close()


async def test_hostile_names_in_questions_and_bans_stay_plain(
    hostile: str, cleanup: list[Any]
) -> None:
    panel = PeoplePanel()
    panel.show()
    panel.confirm_removal(ParticipantInfo("p1", hostile, "guest"), ban=True)
    await until(modal_box, what="the question")
    box = modal_box()
    assert box is not None
    assert rich_text_risks(box, hostile) == [] and shows(box.text(), hostile)
    assert all(len(b.text()) <= 120 for b in box.buttons())
    assert box.sizeHint().width() <= 1000
    button(box, "Cancel").click()

    dialog = BansDialog((BanInfo("b1", hostile, 1_700_000_000.0),), panel)
    dialog.show()
    assert shows(dialog.list.item(0).text(), hostile)
    tip, loads = tooltip_shows(dialog.list.item(0).toolTip())
    assert loads == [] and shows(tip, hostile)
    assert shows(dialog.lift_button.text().replace("&&", "&"), hostile)
    assert rich_text_risks(dialog, hostile) == []
    assert dialog.sizeHint().width() <= 1000
    dialog.close()
    panel.close()
