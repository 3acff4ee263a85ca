"""The lobby: rooms can be told apart by their address and their verification code (named as
such), rooms that share a name but not a certificate are marked on each of them, a record
that names another certificate under a listed room's service name is listed beside it, never
in its place, screen readers get what each row shows, a room not found by mDNS says how it
was found (and one only a search found says to compare its code), a locked room (or one that
names no certificate) says so before anything is asked, Enter joins the selected room, the
search and the network check are a button, a link or a key away (never automatic), a
crashed room's announcement never stays listed as a ghost that opens another room, and
opening a room shows progress without greying out the window."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import pytest
from PySide6.QtCore import QRect, Qt, QTimer
from PySide6.QtGui import QColor, QFontMetrics, QImage, QKeySequence, QPainter, QPalette
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox, QStyleOptionViewItem, QWidget
from pytestqt.qtbot import QtBot

from core.discovery import BrowserEvent, DiscoveredRoom
from core.hosting import RoomHost
from core.protocol import PROTOCOL_VERSION
from core.room import RoomConfig
from core.room_tls import RoomCertificate, verification_code
from desktop import main_window as main_window_module
from desktop.host_dialog import HostDialog
from desktop.join_dialogs import JoinDialog
from desktop.lobby import (
    MAX_CERTIFICATES_PER_NAME,
    SEARCH_KEY,
    LobbyPage,
    RoomDelegate,
    RoomFeed,
    namesake_note,
    room_address,
    room_details,
    room_line,
    room_note,
    verification_text,
)
from desktop.main_window import (
    IMPOSTOR_TITLE,
    LISTED_CERTIFICATE_CHANGED,
    MainWindow,
    confirm_quitting_as_host,
)
from desktop.models import (
    FOUND_BY_SEARCH,
    QUIET_BADGE,
    SEARCHED_NOTE,
    VIA_BROADCAST,
    Roles,
    RoomListModel,
    found_by_badge,
)
from desktop.network_text import fenced
from desktop.settings import KeyStore, Preferences
from desktop.shortcuts_dialog import keys as shown_keys
from desktop.shortcuts_dialog import shortcut_sections
from desktop.verification import spoken
from tests.desktop.conftest import answer_dialog, until
from tests.desktop.hostile_checks import HOSTILE, hostile_text, rich_text_risks, shows


def listed(name: str, **fields: Any) -> DiscoveredRoom:
    values: dict[str, Any] = {
        "key": f"{name}@{fields.get('room_id', 'r1')}", "room_id": "r1", "name": name,
        "host_name": "Ana", "participants": 3, "password_required": False,
        "assistant_kind": "cloud", "provider": "OpenAI", "model": "gpt-4o-mini",
        "protocol": PROTOCOL_VERSION, "app_version": "0.2.0", "addresses": ("192.168.1.20",),
        "port": 47321, "fingerprint": certificate(fields.get("room_id", "r1")),
    }  # fmt: skip
    return DiscoveredRoom(**(values | fields))


def certificate(seed: str) -> bytes:
    """A fingerprint for drawing and comparing (no room has it)."""
    return hashlib.sha256(seed.encode()).digest()


def lobby_window(prefs: Preferences, keys: KeyStore, *rooms: DiscoveredRoom) -> MainWindow:
    """A window showing the lobby with ``rooms`` announced (through the feed, as the
    browser's events are); the caller closes it (``qtbot.addWidget`` or ``cleanup``)."""
    window = MainWindow(prefs=prefs, keys=keys, discover=False)
    for room in rooms:
        window.feed.apply(BrowserEvent("added", room))
    window.resize(900, 600)
    window.show()
    return window


def lobby_page(qtbot: QtBot, *rooms: DiscoveredRoom) -> LobbyPage:
    """The lobby on its own, with ``rooms`` announced."""
    model = RoomListModel()
    page = LobbyPage(model)
    feed = RoomFeed(model.apply)
    for room in rooms:
        feed.apply(BrowserEvent("added", room))
    qtbot.addWidget(page)
    page.resize(900, 600)
    page.show()
    return page


def drawn(window: MainWindow | LobbyPage, room: DiscoveredRoom) -> QImage:
    """``room``'s row as the lobby draws it, at the width of the window's list."""
    model = RoomListModel()
    model.apply(BrowserEvent("added", room))
    view = window.list if isinstance(window, LobbyPage) else window.lobby.list
    option = QStyleOptionViewItem()
    option.initFrom(view)
    option.rect = QRect(0, 0, view.viewport().width(), 80)
    image = QImage(option.rect.size(), QImage.Format.Format_ARGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    RoomDelegate().paint(painter, option, model.index(0))
    painter.end()
    return image


def test_rooms_of_the_same_name_and_host_show_their_addresses(qtbot: QtBot) -> None:
    one = listed("Team lunch", room_id="a1", addresses=("192.168.1.20",))
    two = listed("Team lunch", room_id="b2", addresses=("192.168.1.21",), port=47322)
    window = lobby_page(qtbot, one, two)
    assert window.rooms.rowCount() == 2
    assert room_address(one) == "192.168.1.20:47321"
    assert room_address(two) == "192.168.1.21:47322"
    assert room_address(replace(two, addresses=("fe80::1%eth0",))) == "[fe80::1%eth0]:47322"
    assert room_address(replace(two, reachable="192.168.1.99")) == "192.168.1.99:47322"
    assert drawn(window, one) != drawn(window, two)  # the rows can be told apart


def test_each_room_shows_its_verification_code(qtbot: QtBot) -> None:
    room = listed("Team lunch")
    lobby = lobby_page(qtbot, room)
    code = verification_code(certificate("r1"))
    assert room.verification_code == code
    tip = lobby.rooms.index(0).data(Qt.ItemDataRole.ToolTipRole)
    assert f"Verification code {code}" in tip
    # The same row with another certificate is drawn otherwise: the code is on it.
    assert drawn(lobby, room) != drawn(lobby, replace(room, fingerprint=certificate("other")))


def test_the_code_on_a_row_is_named_a_verification_code(qtbot: QtBot) -> None:
    """Beside the "room code" badge, "code 3690 …" would read as the room code to type."""
    room = listed("Team lunch", password_required=True)
    code = room.verification_code
    assert code is not None
    window = lobby_page(qtbot, room)
    metrics = QFontMetrics(window.list.font())
    assert verification_text(code, metrics, 800) == f"verification code {code}"
    # At the lobby's narrowest the code still shows, in full, after a shorter word.
    window.resize(window.minimumSizeHint().width(), 400)
    qtbot.waitUntil(lambda: window.list.viewport().width() < 600)
    card = window.list.viewport().width() - 12  # the card's margins, as painted
    assert verification_text(code, metrics, card) in (
        f"verification code {code}", f"verification {code}",
    )  # fmt: skip
    assert verification_text(code, metrics, 200) == ""  # never cut: the tooltip has it


def test_screen_readers_get_what_a_row_shows(qtbot: QtBot) -> None:
    one = listed("Team lunch", room_id="a1", password_required=True)
    two = listed("Team lunch", room_id="b2", addresses=("192.168.1.21",))
    alone = listed("Book club", room_id="c3", addresses=("192.168.1.22",), locked=True)
    lobby = lobby_page(qtbot, one, two, alone)
    rooms = lobby.rooms
    row_of = {rooms.room(row).room_id: row for row in range(rooms.rowCount())}
    index = rooms.index(row_of["a1"])
    assert index.data(Qt.ItemDataRole.AccessibleTextRole) == "Team lunch"
    said = index.data(Qt.ItemDataRole.AccessibleDescriptionRole)
    assert one.verification_code is not None
    for painted in ("room code", "cloud AI", room_details(one), room_address(one),
                    f"verification code {spoken(one.verification_code)}",
                    namesake_note(one, 2)):  # fmt: skip
        assert painted in said, painted
    said = rooms.index(row_of["c3"]).data(Qt.ItemDataRole.AccessibleDescriptionRole)
    assert "locked" in said and "rooms called" not in said  # no namesake: no warning


def test_a_rows_card_has_as_much_room_under_its_text_as_above(qtbot: QtBot) -> None:
    room = listed("Team lunch", assistant_kind="none", host_name="Peggy")  # no badges
    lobby = lobby_page(qtbot, room)
    option = QStyleOptionViewItem()
    option.initFrom(lobby.list)
    option.palette.setColor(QPalette.ColorRole.AlternateBase, QColor("#d0d0d0"))
    option.palette.setColor(QPalette.ColorRole.Text, QColor("black"))
    delegate = RoomDelegate()
    option.rect = QRect(0, 0, 700, 10)
    option.rect = QRect(0, 0, 700, delegate.sizeHint(option, lobby.rooms.index(0)).height())
    image = QImage(option.rect.size(), QImage.Format.Format_ARGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    delegate.paint(painter, option, lobby.rooms.index(0))
    painter.end()

    def rows(test: Any) -> list[int]:
        return [y for y in range(image.height())
                if any(test(QColor(image.pixel(x, y))) for x in range(20, 680))]  # fmt: skip

    card = rows(lambda c: c.lightness() < 250)
    ink = rows(lambda c: c.lightness() < 150)
    above, below = ink[0] - card[0], card[-1] - ink[-1]
    assert above >= 6 and below >= 6 and abs(above - below) <= 4, (above, below)


def test_rooms_that_share_a_name_but_not_a_certificate_are_marked(qtbot: QtBot) -> None:
    one = listed("Team lunch", room_id="a1", addresses=("192.168.1.20",))
    two = listed("Team lunch", room_id="b2", addresses=("192.168.1.21",))
    other = listed("Book club", room_id="c3", addresses=("192.168.1.22",))
    lobby = lobby_page(qtbot, one, other)
    rooms = lobby.rooms
    heights = [lobby.list.visualRect(rooms.index(row)).height() for row in range(2)]
    assert [rooms.namesakes(row) for row in range(2)] == [0, 0]

    # Someone announces a room of the same name (with another certificate, as it must).
    feed = RoomFeed(rooms.apply)
    for room in (one, other, two):
        feed.apply(BrowserEvent("added", room))
    marked = {rooms.room(row).room_id: rooms.index(row).data(Roles.NAMESAKES)
              for row in range(rooms.rowCount())}  # fmt: skip
    assert marked == {"a1": 2, "b2": 2, "c3": 0}
    note = namesake_note(one, 2)
    assert note == "2 rooms called “\u2068Team lunch\u2069”: compare the code with the host"
    qtbot.waitUntil(lambda: lobby.list.visualRect(rooms.index(1)).height() > heights[0])
    row_of = {rooms.room(row).room_id: row for row in range(rooms.rowCount())}
    assert lobby.list.visualRect(rooms.index(row_of["c3"])).height() == heights[0]
    assert drawn(lobby, one) != drawn(lobby, two)  # their codes differ
    # A name that only looks the same (a capital I for the l) is marked too.
    look_alike = listed("Team Iunch", room_id="d4", addresses=("10.0.0.9",))
    feed.apply(BrowserEvent("added", look_alike))
    assert [rooms.namesakes(row) for row in range(rooms.rowCount())] == [0, 3, 3, 3]
    # The same room announced twice is one certificate: nothing to compare.
    feed.apply(BrowserEvent("removed", two))
    feed.apply(BrowserEvent("removed", look_alike))
    twin = replace(one, key="Team lunch@twin", addresses=("192.168.1.40",))
    feed.apply(BrowserEvent("added", twin))
    assert rooms.rowCount() == 3
    assert [rooms.namesakes(row) for row in range(3)] == [0, 0, 0]
    qtbot.waitUntil(lambda: lobby.list.visualRect(rooms.index(1)).height() == heights[0])


def test_a_room_that_names_no_certificate_says_why_it_cannot_be_joined(qtbot: QtBot) -> None:
    room = listed("Team lunch", fingerprint=None)
    lobby = lobby_page(qtbot, room)
    assert not room.compatible
    assert "announces no certificate" in room_details(room)
    assert "different app version" not in room_details(room)
    lobby.list.setCurrentIndex(lobby.rooms.index(0))
    assert "cannot check that it is the host's room" in lobby.room_note.text()
    assert not lobby.join_button.isEnabled()
    older = listed("Team lunch", protocol=1)
    assert "needs a different app version (protocol 1)" in room_details(older)
    assert "needs a different version" in room_note(older)


def test_a_locked_room_has_a_badge_and_says_so_before_anything_is_asked(qtbot: QtBot) -> None:
    locked = listed("Book club", locked=True)
    lobby = lobby_page(qtbot, locked)
    assert ("locked", "#8d4e00") in RoomDelegate._badges(locked)
    assert drawn(lobby, locked) != drawn(lobby, replace(locked, locked=False))
    asked: list[DiscoveredRoom] = []
    lobby.join_requested.connect(asked.append)
    lobby.list.setCurrentIndex(lobby.rooms.index(0))
    note = lobby.room_note
    assert note.isVisible() and "locked" in note.text() and "Book club" in note.text()
    assert not lobby.join_button.isEnabled()
    QTest.keyClick(lobby.list, Qt.Key.Key_Return)
    lobby.on_room_double_clicked(lobby.rooms.index(0))
    assert asked == []  # nobody is asked for a name to be refused afterwards
    assert room_note(replace(locked, locked=False)) == ""


async def test_joining_a_locked_room_is_refused_before_the_name(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    window = MainWindow(prefs=prefs, keys=keys, discover=False)
    cleanup.append(window)
    window.show()
    seen: list[str] = []

    def read(box: QMessageBox) -> None:
        seen.append(box.text())
        box.accept()

    answer_dialog(QMessageBox, read)
    await window.join_discovered(listed("Book club", locked=True, addresses=("127.0.0.1",)))
    assert seen and "locked" in seen[0]
    # (Dialogs of earlier tests may linger hidden until Qt deletes them: only a shown one counts.)
    shown = [
        w for w in QApplication.topLevelWidgets() if isinstance(w, JoinDialog) and w.isVisible()
    ]
    assert not shown


def test_enter_on_a_selected_room_joins_it(qtbot: QtBot) -> None:
    other = listed("Book club", room_id="r2", addresses=("192.168.1.30",))
    lobby = lobby_page(qtbot, listed("Team lunch"), other)
    asked: list[DiscoveredRoom] = []
    lobby.join_requested.connect(asked.append)
    lobby.list.setFocus()
    lobby.list.setCurrentIndex(lobby.rooms.index(1))
    QTest.keyClick(lobby.list, Qt.Key.Key_Return)
    assert [room.name for room in asked] == ["Team lunch"]  # sorted: Book club, Team lunch
    QTest.keyClick(lobby.list, Qt.Key.Key_Up)
    QTest.keyClick(lobby.list, Qt.Key.Key_Enter)
    assert [room.name for room in asked] == ["Team lunch", "Book club"]


def test_a_row_says_how_a_room_was_found_when_not_by_mdns(qtbot: QtBot) -> None:
    usual = listed("Team lunch", found_by=("mdns",))
    every_way = replace(usual, found_by=("broadcast", "mdns", "scan"))
    beacon = listed("Book club", room_id="b2", addresses=("192.168.1.30",),
                    found_by=("broadcast",))  # fmt: skip
    searched = listed("Quiz night", room_id="c3", addresses=("192.168.1.31",), host_name=None,
                      participants=None, found_by=("scan",))  # fmt: skip
    # Announced by mDNS, however else it was heard: the usual way, nothing to say.
    assert found_by_badge(usual) == found_by_badge(every_way) == ""
    assert found_by_badge(replace(beacon, found_by=("broadcast", "scan"))) == VIA_BROADCAST
    assert RoomDelegate._badges(beacon)[-1] == (VIA_BROADCAST, QUIET_BADGE)
    assert RoomDelegate._badges(searched)[-1] == (FOUND_BY_SEARCH, QUIET_BADGE)
    lobby = lobby_page(qtbot, usual, beacon, searched)
    assert drawn(lobby, beacon) != drawn(lobby, replace(beacon, found_by=("mdns",)))
    # Nothing announced the searched room: its second line says to compare its code.
    assert room_line(searched).startswith(SEARCHED_NOTE) and room_line(beacon) == room_details(
        beacon
    )
    rooms = lobby.rooms
    row_of = {rooms.room(row).room_id: row for row in range(rooms.rowCount())}
    said = rooms.index(row_of["c3"]).data(Qt.ItemDataRole.AccessibleDescriptionRole)
    assert FOUND_BY_SEARCH in said and SEARCHED_NOTE in said
    tip = rooms.index(row_of["c3"]).data(Qt.ItemDataRole.ToolTipRole)
    assert "Found by searching this network" in tip and "compare its verification code" in tip
    said = rooms.index(row_of["b2"]).data(Qt.ItemDataRole.AccessibleDescriptionRole)
    assert VIA_BROADCAST in said and SEARCHED_NOTE not in said
    said = rooms.index(row_of["r1"]).data(Qt.ItemDataRole.AccessibleDescriptionRole)
    assert VIA_BROADCAST not in said and FOUND_BY_SEARCH not in said


def test_the_search_and_the_check_are_a_click_a_link_or_a_key_away(qtbot: QtBot) -> None:
    lobby = lobby_page(qtbot)  # no room: the empty list's text shows, with its links
    assert lobby.stack.currentIndex() == 0
    assert not lobby.search_strip.isVisible()  # nothing runs by itself
    checks: list[str] = []
    lobby.network_check_requested.connect(lambda: checks.append("check"))
    lobby.why_link.setFocus()
    QTest.keyClick(lobby.why_link, Qt.Key.Key_Return)
    lobby.empty.linkActivated.emit("check")
    assert checks == ["check", "check"]
    assert lobby.why_link.accessibleName() == "Why can't I see the room?"

    lobby.scan_targets = []  # a computer on no network: nothing to try
    lobby.empty.linkActivated.emit("search")
    assert lobby.search_strip.isVisible() and "nothing to search" in lobby.search_strip.text
    assert lobby.search_button.isEnabled()  # over at once
    lobby.search_strip.hide()
    lobby.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is lobby)
    lobby.list.setFocus()
    QTest.keyClick(lobby.list, Qt.Key.Key_F5)
    assert lobby.search_strip.isVisible()
    lobby_keys = dict(shortcut_sections()[1][1])
    assert lobby.search_shortcut.key() == QKeySequence(SEARCH_KEY)
    assert "Search this network" in lobby_keys[shown_keys(SEARCH_KEY)]


# -- the feed between the browser and the list ------------------------------------------------


def feed_events() -> tuple[RoomFeed, list[tuple[str, str]]]:
    events: list[tuple[str, str]] = []
    feed = RoomFeed(lambda e: events.append((e.kind, e.room.room_id)))
    return feed, events


def test_a_new_room_id_under_the_same_key_is_another_room() -> None:
    feed, events = feed_events()
    old = listed("Team lunch", room_id="old")
    feed.apply(BrowserEvent("added", old))
    feed.apply(BrowserEvent("updated", replace(old, participants=4)))
    assert events == [("added", "old"), ("updated", "old")]
    feed.apply(BrowserEvent("updated", replace(old, room_id="new")))
    assert events[2:] == [("removed", "old"), ("added", "new")]  # never one turned into other


def test_another_certificate_under_a_listed_service_name_is_listed_beside_it(
    qtbot: QtBot,
) -> None:
    """Anyone can announce under the service name of a listed room (and copy its room id):
    the browser reports that as an update of the name. The room listed stays, the newcomer
    is listed beside it, and both are marked as namesakes."""
    model = RoomListModel()
    feed = RoomFeed(model.apply)
    real = listed("Team lunch", room_id="a1", key="team lunch@ana")
    feed.apply(BrowserEvent("added", real))
    impostor = replace(real, fingerprint=certificate("mallory"), addresses=("192.168.1.66",))
    feed.apply(BrowserEvent("updated", impostor))

    def shown() -> dict[bytes | None, DiscoveredRoom]:
        return {model.room(row).fingerprint: model.room(row) for row in range(model.rowCount())}

    assert set(shown()) == {real.fingerprint, impostor.fingerprint}
    assert shown()[real.fingerprint] == real  # the same row, untouched
    assert [model.namesakes(row) for row in range(2)] == [2, 2]
    # Each record updates its own room, whichever the browser heard last.
    feed.apply(BrowserEvent("updated", replace(real, participants=5)))
    feed.apply(BrowserEvent("updated", replace(impostor, participants=0)))
    assert {fp: room.participants for fp, room in shown().items()} == {
        real.fingerprint: 5, impostor.fingerprint: 0,
    }  # fmt: skip
    # Joining the newcomer found something else there: it alone is hidden.
    feed.disown(shown()[impostor.fingerprint])
    assert set(shown()) == {real.fingerprint}
    assert model.namesakes(0) == 0
    # Whoever keeps announcing new certificates under the name is kept bounded.
    for n in range(10):
        feed.apply(BrowserEvent("updated", replace(real, fingerprint=certificate(f"m{n}"),
                                                   addresses=(f"10.0.0.{n}",))))  # fmt: skip
    assert model.rowCount() <= MAX_CERTIFICATES_PER_NAME
    assert certificate("m9") in shown()
    # The browser drops the name: every room heard under it goes.
    feed.apply(BrowserEvent("removed", real))
    assert model.rowCount() == 0


def test_a_crashed_rooms_announcement_is_no_ghost_of_the_new_one() -> None:
    feed, events = feed_events()
    crashed = listed("Before", room_id="old", key="before@old")
    feed.apply(BrowserEvent("added", crashed))
    restarted = listed("After", room_id="new", key="after@new")  # the same address and port
    feed.apply(BrowserEvent("added", restarted))
    assert events == [("added", "old"), ("removed", "old"), ("added", "new")]
    feed.apply(BrowserEvent("updated", replace(crashed, participants=0)))
    assert events[3:] == []  # the ghost stays out
    elsewhere = listed("Other", room_id="third", key="other@third", port=47400)
    feed.apply(BrowserEvent("added", elsewhere))
    assert events[3:] == [("added", "third")]  # another port is another room
    feed.apply(BrowserEvent("removed", restarted))
    assert events[4:] == [("removed", "new"), ("added", "old")]  # until its checks fail
    feed.apply(BrowserEvent("removed", crashed))
    assert events[6:] == [("removed", "old")]


def test_a_room_found_to_be_another_is_disowned() -> None:
    feed, events = feed_events()
    newer_ghost = listed("Before", room_id="old", key="before@old")
    real = listed("After", room_id="new", key="after@new")
    feed.apply(BrowserEvent("added", real))
    feed.apply(BrowserEvent("added", newer_ghost))  # seen later: listed in the real one's place
    assert events == [("added", "new"), ("removed", "new"), ("added", "old")]
    feed.disown(newer_ghost)  # joining found "After" there
    assert events[3:] == [("removed", "old"), ("added", "new")]


@pytest.mark.parametrize("certificate_of_record", ["the room's", "another"])
async def test_joining_a_ghost_says_what_is_there_now_and_drops_it(
    certificate_of_record: str, prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    host = RoomHost(RoomConfig(name="After"), bind="127.0.0.1", port=0, advertise=False)
    await host.start()
    cleanup.append(host)
    # A crashed room's record names its own certificate, which nothing presents any more;
    # were it the one that answers (a host that kept it), the names still tell them apart.
    fingerprint = (
        host.fingerprint if certificate_of_record == "the room's"
        else RoomCertificate.generate().fingerprint
    )  # fmt: skip
    ghost = listed("Before", room_id="old", key="before@old", addresses=("127.0.0.1",),
                   port=host.port, fingerprint=fingerprint)  # fmt: skip
    window = MainWindow(prefs=prefs, keys=keys, discover=False)
    cleanup.append(window)
    window.feed.apply(BrowserEvent("added", ghost))
    window.show()
    seen: list[tuple[str, str]] = []

    def read(box: QMessageBox) -> None:
        seen.append((box.windowTitle(), box.text()))
        box.accept()

    answer_dialog(QMessageBox, read)
    await window.join_discovered(ghost)
    assert window.chat is None  # not moved into "After" under the name "Before"
    assert window.rooms.rowCount() == 0
    assert not host.server.room.participants
    title, text = seen[0]
    if certificate_of_record == "another":
        # A host that restarted its room, or an impostor: from here, they look the same.
        assert title == IMPOSTOR_TITLE and text == LISTED_CERTIFICATE_CHANGED
        assert "the host may have restarted it" in text
        assert "someone may be impersonating it" in text
        return
    assert "“\u2068Before\u2069” is not open any more" in text
    assert "with the same certificate (the same host), is now called “\u2068After\u2069”" in text


# -- progress ---------------------------------------------------------------------------------


class SlowHost(RoomHost):
    """A room host whose start waits until the test lets it go (as announcing does)."""

    release: ClassVar[asyncio.Event]
    instances: ClassVar[list[SlowHost]] = []

    async def start(self) -> None:
        SlowHost.instances.append(self)
        await SlowHost.release.wait()
        await super().start()


@pytest.fixture
def slow_host(monkeypatch: pytest.MonkeyPatch) -> type[SlowHost]:
    SlowHost.release = asyncio.Event()
    SlowHost.instances = []
    monkeypatch.setattr(main_window_module, "RoomHost", SlowHost)
    return SlowHost


def fill_host_dialog(dialog: HostDialog) -> None:
    dialog.your_name.setText("Ana")
    dialog.provider.setCurrentIndex(dialog.provider.findData("none"))
    dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()


async def test_opening_a_room_shows_progress_and_keeps_the_lobby_readable(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], slow_host: type[SlowHost]
) -> None:
    window = lobby_window(prefs, keys, listed("Team lunch"))
    cleanup.append(window)
    answer_dialog(HostDialog, fill_host_dialog)
    window.lobby.host_button.click()
    strip = window.busy_strip
    await until(strip.isVisible, what="the progress strip")
    assert strip.label.full_text() == "Opening the room…"
    assert strip.bar.maximum() == 0 and strip.bar.isVisible()  # a busy bar
    assert strip.cancel_button.isVisible() and strip.cancel_button.isEnabled()
    assert window.lobby.isEnabled() and window.lobby.list.isEnabled()  # not greyed out
    assert not window.lobby.host_button.isEnabled()  # but one flow at a time
    slow_host.release.set()
    await until(lambda: window.chat is not None, what="the room")
    assert not strip.isVisible()


async def test_opening_a_room_can_be_cancelled(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], slow_host: type[SlowHost]
) -> None:
    window = lobby_window(prefs, keys)
    cleanup.append(window)
    answer_dialog(HostDialog, fill_host_dialog)
    window.lobby.host_button.click()
    await until(window.busy_strip.isVisible, what="the progress strip")
    window.busy_strip.cancel_button.click()
    await until(lambda: not window.busy, what="the flow to stop")
    assert window.chat is None and not window.busy_strip.isVisible()
    assert window.lobby.host_button.isEnabled()
    assert slow_host.instances and not slow_host.instances[0].server.room.participants


# -- hostile announcements ---------------------------------------------------------------------


@pytest.fixture(params=list(HOSTILE))
def hostile(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return hostile_text(request.param, tmp_path)


async def test_what_the_lobby_says_about_a_hostile_room_is_plain_text(
    hostile: str, prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    locked = listed(hostile, host_name=hostile, locked=True, addresses=("127.0.0.1",), port=9)
    window = lobby_window(prefs, keys, locked)
    cleanup.append(window)
    window.lobby.list.setCurrentIndex(window.rooms.index(0))
    assert shows(window.lobby.room_note.text(), hostile)
    window.busy_strip.show_busy(f"Looking for “{fenced(hostile)}”…")
    window.grab()  # everything laid out and painted
    assert shows(window.busy_strip.label.full_text(), hostile)
    assert rich_text_risks(window, hostile) == []
    assert window.minimumSizeHint().width() <= 1000
    seen: list[Any] = []

    def read(box: QMessageBox) -> None:
        seen.append((rich_text_risks(box, hostile), box.text(), box.sizeHint().width()))
        box.accept()

    answer_dialog(QMessageBox, read)
    window.busy_strip.done()
    await window.join_discovered(locked)
    risks, text, width = seen[0]
    assert risks == [] and shows(text, hostile) and width <= 1000


def test_quitting_as_host_asks_in_verbs(qtbot: QtBot) -> None:
    seen: list[list[str]] = []

    def answer(box: QMessageBox) -> None:
        seen.append([b.text() for b in box.buttons()])
        box.reject()

    answer_dialog(QMessageBox, answer)
    parent = QWidget()
    qtbot.addWidget(parent)
    assert confirm_quitting_as_host(parent) is False  # keeping the room open is the default
    assert seen and "Close the room and quit" in seen[0] and "Keep it open" in seen[0]


def test_quitting_as_host_offers_to_save_first_then_asks_again(qtbot: QtBot) -> None:
    saved: list[str] = []
    clicks = iter(["Save transcript…", "Close the room and quit"])

    def answer(box: QMessageBox) -> None:
        want = next(clicks)
        if want == "Save transcript…":
            # the same question again, once this one has gone
            QTimer.singleShot(100, lambda: answer_dialog(QMessageBox, answer))
        next(b for b in box.buttons() if b.text() == want).click()

    answer_dialog(QMessageBox, answer)
    parent = QWidget()
    qtbot.addWidget(parent)
    assert confirm_quitting_as_host(parent, lambda: saved.append("saved")) is True
    assert saved == ["saved"]  # saved first; then the question came back and was answered
