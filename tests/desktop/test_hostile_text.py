"""Hostile text from the network is shown as plain text everywhere, loads nothing, stays in its
place, and cannot reorder the words around it.

The app talks to a real room on loopback through a relay that puts the hostile string wherever
the room says ``Zed9`` (tests/desktop/hostile_room.py): in the room's name, a guest's name,
the assistant's name, provider and model, in errors and refusals, as a hostile host or an old
client would. A name like ``<img src=/dev/zero>`` used to make every app in the room read
``/dev/zero`` as an image until it ran out of memory.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QTextCursor, QTextDocument
from PySide6.QtWidgets import QApplication, QMenu, QMessageBox

from core.ai.desk import AssistantConfig
from core.ai.provider import ProviderSettings
from core.client import RoomClient
from core.discovery import BrowserEvent, DiscoveredRoom
from core.protocol import PROTOCOL_VERSION, AssistantReport, Usage
from core.room import RoomConfig
from core.transcript import Entry
from desktop.about import AboutDialog
from desktop.assistant_dialog import AssistantSettingsDialog
from desktop.chat_page import ChatPage
from desktop.delegate import event_line, footer_text
from desktop.host_dialog import HostDialog
from desktop.join_dialogs import DisclosureDialog, JoinDialog
from desktop.lobby import room_details
from desktop.main_window import MainWindow
from desktop.markdown import render
from desktop.models import Roles
from desktop.session import RoomSession
from desktop.settings import KeyStore, Preferences
from tests.desktop.conftest import answer_dialog, until
from tests.desktop.hostile_checks import (
    HOSTILE,
    hostile_text,
    left_to_right,
    rich_text_risks,
    shows,
    tooltip_shows,
    visible,
)
from tests.desktop.hostile_room import MARKER, RewritingRelay
from tests.fake_openai import FakeOpenAI, Reply

ToolTip = Qt.ItemDataRole.ToolTipRole


@pytest.fixture(params=list(HOSTILE))
def hostile(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return hostile_text(request.param, tmp_path)


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


@dataclass
class HostileRoom:
    window: MainWindow  # hosts the room and sees it through the relay
    page: ChatPage
    relay: RewritingRelay
    guest: RoomClient  # "Zed9 guest", straight into the room


@pytest.fixture
async def room(hostile: str, fake: FakeOpenAI, prefs: Preferences, keys: KeyStore,
               cleanup: list[Any]) -> HostileRoom:  # fmt: skip
    """A room with an assistant, hosted by a window that sees everything through the relay,
    and a guest who has typed, asked the assistant and had an answer."""
    fake.script(Reply(["Fine, ", "thanks."]))
    settings = ProviderSettings.from_preset(
        "compatible", model=MARKER, base_url=fake.base_url, api_key="k"
    )
    assistant = AssistantConfig(model=MARKER, provider=f"{MARKER} cloud", provider_kind="cloud",
                                name=MARKER)  # fmt: skip
    window = MainWindow(prefs=prefs, keys=keys, discover=False)
    window.resize(980, 680)
    host = await window._open(RoomConfig(name=f"{MARKER} room", assistant=assistant), settings)
    assert host is not None
    relay = RewritingRelay(host.port, {MARKER: hostile})
    await relay.start()
    cleanup.append(relay)
    cleanup.append(window)  # closed first: it leaves through the relay
    client = RoomClient(relay.url, "Ana", host_key=host.host_key)
    window._enter(RoomSession(client, await client.connect(), host=host))
    window.show()
    guest = RoomClient(host.local_url(), f"{MARKER} guest")
    await guest.connect()
    cleanup.append(SimpleNamespace(close=guest.leave))
    page = window.chat
    assert page is not None
    await guest.set_typing(True)
    await until(page.typing_line.full_text, what="the typing line")
    await guest.send(f"@{MARKER} how are you?")
    await until(lambda: any(e.kind == "answer" and e.status == "complete"
                            for e in page.model.transcript.entries), what="the answer")  # fmt: skip
    await guest.set_typing(True)  # the message cleared it
    await until(page.typing_line.full_text, what="the typing line again")
    return HostileRoom(window, page, relay, guest)


def entries(page: ChatPage, kind: str) -> list[Entry]:
    return [e for e in page.model.transcript.entries if e.kind == kind]


async def test_the_room_shows_hostile_text_as_plain_text(room: HostileRoom, hostile: str) -> None:
    page, window = room.page, room.window
    await room.relay.inject({"type": "error", "code": "not_allowed", "message": f"{MARKER} no"})
    await until(page.banner.isVisible, what="the banner")

    for label, what in (
        (page.title, "room name"), (page.subtitle, "provider and model"),
        (page.typing_line, "typing line"), (page.assistant_line, "assistant line"),
        (page.banner, "error banner"),
    ):  # fmt: skip
        assert shows(label.text(), hostile), f"{what}: {label.text()[:120]!r}"
    assert "typing" in visible(page.typing_line.full_text())
    assert shows(window.windowTitle(), hostile) and len(window.windowTitle()) <= 120

    people = [page.people.index(row) for row in range(page.people.rowCount())]
    assert sum(shows(index.data(), hostile) for index in people) == 2  # the guest, the assistant
    messages = [page.model.index(row) for row in range(page.model.rowCount())]
    for index in people + messages:
        _shown, loads = tooltip_shows(index.data(ToolTip))
        assert loads == []
    assert any(shows(tooltip_shows(i.data(ToolTip))[0], hostile) for i in people)
    assert any(shows(tooltip_shows(i.data(ToolTip))[0], hostile) for i in messages)
    assert shows(footer_text(entries(page, "answer")[0]), hostile)  # the model, who asked
    joined = next(e for e in entries(page, "event") if e.text.endswith(" guest joined"))
    assert shows(event_line(joined), hostile)

    assert rich_text_risks(window, hostile) == []
    assert window.width() <= 1000 and window.minimumSizeHint().width() <= 1000


async def test_the_host_menu_names_people_plainly(room: HostileRoom, hostile: str) -> None:
    page = room.page
    row = next(r for r in range(page.people.rowCount())
               if shows(page.people.index(r).data(), hostile) and
               page.people.index(r).data(Roles.PARTICIPANT).role == "guest")  # fmt: skip
    point = page.people_view.visualRect(page.people.index(row)).center()
    QTimer.singleShot(0, lambda: page._person_menu(point))
    await until(lambda: isinstance(QApplication.activePopupWidget(), QMenu), what="the menu")
    menu = QApplication.activePopupWidget()
    assert isinstance(menu, QMenu)
    items = [action.text() for action in menu.actions()]
    menu.close()
    assert len(items) == 2 and all(shows(item.replace("&&", "&"), hostile) for item in items)
    assert all(len(item) <= 120 for item in items)
    assert menu.sizeHint().width() <= 1000


async def test_joining_shows_hostile_text_as_plain_text(
    room: HostileRoom, hostile: str, prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    guest = MainWindow(prefs=prefs, keys=keys, discover=False)
    cleanup.append(guest)
    guest.show()
    seen: dict[str, Any] = {}

    def read_join(dialog: JoinDialog) -> None:
        seen["join"] = (rich_text_risks(dialog, hostile), dialog.title.text(),
                        dialog.windowTitle(), dialog.sizeHint().width())  # fmt: skip
        dialog.name.setText("Sam")
        dialog.accept()

    def read_notice(dialog: DisclosureDialog) -> None:
        seen["notice"] = (rich_text_risks(dialog, hostile), dialog.heading.text(),
                          dialog.where.text(), dialog.sizeHint().width())  # fmt: skip
        dialog.accept()

    answer_dialog(JoinDialog, read_join)
    answer_dialog(DisclosureDialog, read_notice)
    await guest.join_url(room.relay.url)
    risks, title, window_title, width = seen["join"]
    assert risks == [] and width <= 600
    assert shows(title, hostile) and shows(window_title, hostile)
    risks, heading, where, width = seen["notice"]
    assert risks == [] and width <= 600
    assert shows(heading, hostile) and shows(where, hostile)
    assert guest.chat is not None and rich_text_risks(guest, hostile) == []
    assert guest.minimumSizeHint().width() <= 1000

    await guest.leave_room()
    room.relay.refusal = ("no_entry", f"{MARKER} does not want you here")
    boxes: list[tuple[Any, ...]] = []

    def read_box(box: QMessageBox) -> None:
        boxes.append((rich_text_risks(box, hostile), box.text(), box.sizeHint().width()))
        box.accept()

    answer_dialog(JoinDialog, lambda d: (d.name.setText("Sam"), d.accept()))
    answer_dialog(QMessageBox, read_box)
    await guest.join_url(room.relay.url)
    risks, text, width = boxes[0]
    assert risks == [] and shows(text, hostile) and width <= 1000


def hostile_room_entry(hostile: str) -> DiscoveredRoom:
    return DiscoveredRoom(
        key="k1", room_id="r1", name=f"{hostile} room", host_name=hostile, participants=3,
        password_required=False, assistant_kind="cloud", provider=hostile, model=hostile,
        protocol=PROTOCOL_VERSION, app_version="0.2.0", addresses=("127.0.0.1",), port=47321,
        fingerprint=bytes(range(32)),
    )  # fmt: skip


async def test_the_lobby_lists_a_hostile_room_plainly(
    hostile: str, prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    window = MainWindow(prefs=prefs, keys=keys, discover=False)
    cleanup.append(window)
    window.resize(900, 600)
    room = hostile_room_entry(hostile)
    window.rooms.apply(BrowserEvent("added", room))
    window.show()
    window.lobby.list.setCurrentIndex(window.rooms.index(0))
    window.grab()  # the rows are painted
    index = window.rooms.index(0)
    shown, loads = tooltip_shows(index.data(ToolTip))
    assert loads == [] and shows(shown, hostile)
    assert shows(room_details(room), hostile)
    assert rich_text_risks(window, hostile) == []
    assert window.width() <= 1000 and window.minimumSizeHint().width() <= 1000


async def test_the_host_dialog_lists_hostile_models_plainly(
    hostile: str, prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    async with FakeOpenAI(models=(hostile, "gpt-ok")) as fake:
        dialog = HostDialog(prefs, keys)
        dialog.provider.setCurrentIndex(dialog.provider.findData("compatible"))
        dialog.base_url.setText(fake.base_url)
        dialog.api_key.setText("k")
        dialog.show()
        dialog.test_button.click()
        await until(dialog.test_button.isEnabled, what="the test to finish")
    items = [dialog.model.itemText(i) for i in range(dialog.model.count())]
    assert "gpt-ok" in items
    listed = hostile in items
    assert listed == (len(hostile) <= 200 and hostile.isprintable())
    assert rich_text_risks(dialog, hostile) == []
    assert dialog.sizeHint().width() <= 800


async def test_the_assistant_and_about_dialogs_stay_plain(hostile: str, cleanup: list[Any]) -> None:
    report = AssistantReport("mention", hostile, None, None, 600.0, Usage(), 0)
    dialog = AssistantSettingsDialog(report)
    about = AboutDialog()
    for shown in (dialog, about):
        shown.show()
        assert rich_text_risks(shown, hostile) == []
    assert dialog.persona.toPlainText() == hostile
    assert dialog.sizeHint().width() <= 1000


# -- direction --------------------------------------------------------------------------


@pytest.mark.parametrize("hostile", ["bidi-override"], indirect=True)
async def test_an_override_cannot_reorder_what_is_around_it(room: HostileRoom) -> None:
    """A right-to-left override in a name reversed the words after it ("is typing…", the
    time); now each name is isolated, and our words read as written."""
    page, window = room.page, room.window
    assert left_to_right(page.typing_line.text(), "is typing")
    assistant_row = page.people.index(page.people.rowCount() - 1).data()
    assert left_to_right(assistant_row, "AI assistant")
    assert left_to_right(page.assistant_line.text(), "to ask")
    assert left_to_right(window.windowTitle(), "GPT Group")
    joined = next(e for e in entries(page, "event") if e.text.endswith(" guest joined"))
    stamp = time.strftime("%H:%M", time.localtime(joined.ts))
    assert left_to_right(f"{event_line(joined)}  ·  {stamp}", f"joined  ·  {stamp}")
    assert left_to_right(footer_text(entries(page, "answer")[0]), "tokens · for")
    assert left_to_right(room_details(hostile_room_entry(HOSTILE["bidi-override"])), "people")


def line_reads_in_order(doc: QTextDocument, text: str) -> bool:
    """Whether ``text`` (on one line of ``doc``) is laid out left to right, as written."""
    start = doc.toPlainText().index(text)
    cursor = QTextCursor(doc)
    xs = []
    for position in range(start, start + len(text) + 1):
        cursor.setPosition(position)
        block = cursor.block()
        doc.documentLayout().blockBoundingRect(block)  # lays the block out
        offset = position - block.position()
        xs.append(block.layout().lineForTextPosition(offset).cursorToX(offset)[0])
    return all(a < b for a, b in itertools.pairwise(xs))


@pytest.mark.parametrize("first", ["I owe you \u202e00.001$", "a \u2067b", "c \u202b\u2066d"])
def test_an_override_in_a_message_ends_with_its_line(qapp: Any, first: str) -> None:
    """The lines of a paragraph are one bidi paragraph in Qt: an override left open on one
    line used to reverse the next one."""
    doc = QTextDocument()
    doc.setHtml(render(f"{first}\nthe next line at 12:30"))
    doc.setTextWidth(600)
    assert "the next line at 12:30" in visible(doc.toPlainText())
    assert line_reads_in_order(doc, "the next line at 12:30")
