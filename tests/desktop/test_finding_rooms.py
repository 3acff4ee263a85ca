"""Finding a room where announcements do not arrive, in the app, with real rooms and sockets.

"Search this network" lists a room nothing announced (once, however often it is found, and
once with its announcement), marked "found by search", and joining it shows its verification
code first; Cancel stops it and closes its connections; a search that finds nothing says so
and where to turn. A join code joins the room it names, pinned to its certificate, a code
for another certificate is refused unheard, and the host's Room link dialog shows the code.
"Why can't I see the room?" runs the network check, shows what it found and what to try,
and stops on Cancel.

Searches go to loopback only (the lobby's ``scan_targets``). What sends on a network (mDNS,
the network check's probes) runs only in the private namespace of ``tests/isolated.sh``; a
join code needs a private IPv4 address, which the tests add to that namespace's loopback
interface for the length of a test (as root).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from core.hosting import RoomHost
from core.join_code import InvalidJoinCode, make_join_code, parse_join_code
from core.network_doctor import HostedRoomInfo
from core.room import RoomConfig
from core.room_tls import RoomCertificate
from desktop.join_dialogs import CHECKED_WORDS, AddressDialog, DisclosureDialog, JoinDialog
from desktop.link_dialog import RoomLinkDialog
from desktop.main_window import IMPOSTOR_TITLE, MainWindow
from desktop.models import FOUND_BY_SEARCH, found_by_badge, room_badges
from desktop.network_check_dialog import NetworkCheckDialog
from desktop.settings import KeyStore, Preferences
from desktop.verification import COMPARE_WITH_HOST
from tests.desktop.conftest import until
from tests.desktop.flows import hosted
from tests.desktop.test_join_flow import (
    Dialogs,
    give_name,
    guest_window,
    no_join_dialog,
    open_room,
)
from tests.desktop.test_keyboard_only import check_names
from tests.netns import NETNS_REASON, netns_available

PRIVATE_ADDRESS = "10.99.0.1"  # on the test namespace's loopback: a code can hold it


def require_test_namespace() -> None:
    """Skip the calling test unless it runs as root in the private network namespace of
    ``tests/isolated.sh``; fail instead where CI requires namespaces
    (``GPTGROUP_REQUIRE_NETNS=1``), as :func:`tests.netns.require_netns` does."""
    if os.environ.get("GPTGROUP_TEST_NETNS") and netns_available():
        return
    reason = f"needs the private network namespace of tests/isolated.sh ({NETNS_REASON})"
    if os.environ.get("GPTGROUP_REQUIRE_NETNS") == "1":
        pytest.fail(f"GPTGROUP_REQUIRE_NETNS=1 but this test {reason}")
    pytest.skip(reason)


@pytest.fixture
def dialogs() -> Iterator[Dialogs]:
    watcher = Dialogs()
    yield watcher
    watcher.stop()


@pytest.fixture
def private_address() -> Iterator[str]:
    """:data:`PRIVATE_ADDRESS` on the test namespace's ``lo`` for the test's length, so that
    a room hosted on every interface has an address a join code can hold."""
    require_test_namespace()
    where = [f"{PRIVATE_ADDRESS}/32", "dev", "lo"]
    subprocess.run(["ip", "addr", "add", *where], check=True, capture_output=True)
    try:
        yield PRIVATE_ADDRESS
    finally:
        subprocess.run(["ip", "addr", "del", *where], check=False, capture_output=True)


@pytest.fixture
async def lobby(prefs: Preferences, keys: KeyStore, cleanup: list[Any]) -> MainWindow:
    """A window looking for rooms (mDNS and beacons, in the test namespace only)."""
    require_test_namespace()
    window = MainWindow(prefs=prefs, keys=keys)
    cleanup.append(window)
    window.show()
    await window.start()
    assert window.browser is not None
    return window


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- Search this network ----------------------------------------------------------------------


async def test_a_search_lists_a_room_nothing_announced_once_and_its_code_comes_first(
    lobby: MainWindow, cleanup: list[Any], dialogs: Dialogs
) -> None:
    room = await open_room(RoomConfig(name="Quiet corner"), cleanup)  # not announced
    page = lobby.lobby
    page.scan_targets, page.scan_port = ["127.0.0.1"], room.port
    progress: list[tuple[int, int]] = []
    page.search.progressed.connect(lambda done, total: progress.append((done, total)))
    assert lobby.rooms.rowCount() == 0
    page.search_button.click()
    strip = page.search_strip
    assert strip.isVisible() and strip.text == "Searching 1 address on this network… 0%"
    assert strip.cancel_button.isVisible() and not page.search_button.isEnabled()
    await until(lambda: lobby.rooms.rowCount() == 1, what="the room the search found")
    await until(lambda: not page.search.running, what="the search over")
    found = lobby.rooms.room(0)
    assert found.name == "Quiet corner" and found.found_by == ("scan",)
    assert found.fingerprint == room.fingerprint
    assert (FOUND_BY_SEARCH, "") in room_badges(found)
    assert progress == [(1, 1)]
    assert "1 room answered" in strip.text and not strip.cancel_button.isVisible()
    assert page.search_button.isEnabled()

    page.search_button.click()  # found again: still one room
    await until(lambda: not page.search.running, what="the second search over")
    assert lobby.rooms.rowCount() == 1

    # Nothing vouches for its certificate: the code comes first, as for a typed address.
    cautious: list[bool] = []

    def read(notice: DisclosureDialog) -> None:
        cautious.append(notice.cautious)
        dialogs.read_notice(notice)
        notice.accept()

    dialogs.on(JoinDialog, give_name("Sam"))
    dialogs.on(DisclosureDialog, read)
    page.list.setCurrentIndex(lobby.rooms.index(0))
    page.join_button.click()
    await until(lambda: lobby.chat is not None, what="Sam in the room")
    [(code, words)] = dialogs.codes
    assert code == room.verification_code and words == COMPARE_WITH_HOST
    assert cautious == [True]  # Enter does not join: Cancel is the default
    assert lobby.session is not None and lobby.session.fingerprint == room.fingerprint


async def test_a_room_announced_and_found_by_search_is_one_row(
    lobby: MainWindow, cleanup: list[Any]
) -> None:
    assert lobby.discovery is not None
    room = RoomHost(RoomConfig(name="Team lunch"), bind="127.0.0.1", port=0,
                    discovery=lobby.discovery)  # fmt: skip
    cleanup.insert(0, room)
    await room.start()
    # (mDNS registers a name first: slower than the rest, on a busy machine more so)
    await until(lambda: lobby.rooms.rowCount() == 1, timeout=20, what="the announced room")
    assert "mdns" in lobby.rooms.room(0).found_by
    page = lobby.lobby
    page.scan_targets, page.scan_port = ["127.0.0.1"], room.port
    page.search_button.click()

    def merged() -> bool:
        rooms = lobby.rooms
        return rooms.rowCount() >= 1 and "scan" in rooms.room(0).found_by

    await until(merged, timeout=20, what="the search's room merged with the announced one")
    assert lobby.rooms.rowCount() == 1
    assert found_by_badge(lobby.rooms.room(0)) == ""  # announced: the usual way, no badge


async def test_cancel_stops_the_search_and_closes_its_connections(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    accepted, closed = asyncio.Event(), asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        await reader.read()  # says nothing, until the search hangs up
        closed.set()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    cleanup.append(server)
    window = guest_window(prefs, keys, cleanup)
    page = window.lobby
    page.scan_targets = ["127.0.0.1"]
    page.scan_port = server.sockets[0].getsockname()[1]
    page.search_button.click()
    await until(accepted.is_set, what="the search's connection")
    task = page.search._task
    assert task is not None and page.search.running
    window.activateWindow()
    page.search_strip.cancel_button.setFocus()
    await until(page.search_strip.cancel_button.hasFocus, what="the focus on Cancel")
    QTest.keyClick(page.search_strip.cancel_button, Qt.Key.Key_Space)  # the keyboard's Cancel
    assert not page.search.running and page.search_button.isEnabled()
    # The focus goes back to the button that started it (not on to "Host a room…").
    await until(page.search_button.hasFocus, what="the focus back on Search this network")
    assert page.search_strip.text.startswith("Search stopped")
    assert not page.search_strip.cancel_button.isVisible()
    await asyncio.wait([task])
    assert task.cancelled()
    await until(closed.is_set, what="the connection closed")
    assert window.rooms.rowCount() == 0


async def test_a_search_that_finds_nothing_says_so_and_where_to_turn(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    window = guest_window(prefs, keys, cleanup)
    page = window.lobby
    page.scan_targets, page.scan_port = ["127.0.0.1"], free_port()
    page.search_button.click()
    await until(lambda: not page.search.running, what="the search over")
    said = page.search_strip.text
    assert said.startswith("No room answered at the 1 address on this network")
    assert "join code" in said and "Why can't I see the room?" in said
    assert window.rooms.rowCount() == 0


# -- join codes ---------------------------------------------------------------------------------


async def test_a_join_code_joins_the_room_it_names_and_the_host_shows_it(
    private_address: str, prefs: Preferences, keys: KeyStore, cleanup: list[Any],
    dialogs: Dialogs,
) -> None:  # fmt: skip
    host_window = await hosted(prefs, keys, cleanup, "Team lunch")
    assert host_window.session is not None and host_window.session.host is not None
    host = host_window.session.host
    assert private_address in host.addresses()
    expected = make_join_code(private_address, host.port, host.fingerprint)

    # Host controls → Room link…: the code, as the host reads it out.
    page = host_window.chat
    assert page is not None
    page.link_action.trigger()
    await until(lambda: page.findChild(RoomLinkDialog) is not None, what="the link dialog")
    shown = page.findChild(RoomLinkDialog)
    assert shown is not None
    await until(lambda: shown.join_code != "", what="the join code")
    assert shown.join_code == expected
    assert shown.join_code_label is not None and shown.join_code_label in check_names(
        shown, "the room link dialog"
    )
    shown.close()

    # Typed with a typo: said at once, and the dialog cannot go on (nothing is joined).
    typed = AddressDialog()
    cleanup.append(typed)
    changed = "7" if expected[5] != "7" else "8"
    typo = expected[:5] + changed + expected[6:]
    typed.address.setText(typo)
    assert typed.problem.text() == "This code has a typo: check it with the host."
    assert not typed.buttons.button(typed.buttons.StandardButton.Ok).isEnabled()
    with pytest.raises(InvalidJoinCode):
        parse_join_code(typo)

    # Typed right (as people type it): the room it names, pinned to its certificate.
    typed.address.setText(expected.lower().replace("-", " "))
    code = typed.join_code()
    assert code is not None and code.address == private_address
    guest = guest_window(prefs, keys, cleanup)
    dialogs.on(JoinDialog, give_name("Sam"))
    await guest.join_code(code)
    assert guest.chat is not None and guest.session is not None
    assert guest.session.fingerprint == host.fingerprint
    [(verification, words)] = dialogs.codes
    assert verification == host_window.session.verification_code
    assert words == CHECKED_WORDS["code"] and "only in part" in words
    names = sorted(p.name for p in host.server.room.participants)
    assert names == ["Ana", "Sam"]


async def test_a_code_for_another_certificate_is_refused_unheard(
    private_address: str, prefs: Preferences, keys: KeyStore, cleanup: list[Any],
    dialogs: Dialogs,
) -> None:  # fmt: skip
    host_window = await hosted(prefs, keys, cleanup, "Team lunch")
    assert host_window.session is not None and host_window.session.host is not None
    host = host_window.session.host
    other = RoomCertificate.generate().fingerprint  # someone else's room at that address
    code = parse_join_code(make_join_code(private_address, host.port, other))
    guest = guest_window(prefs, keys, cleanup)
    dialogs.on(JoinDialog, give_name("Sam"))
    await guest.join_code(code)
    assert guest.chat is None and no_join_dialog() and dialogs.notices == []
    assert dialogs.box_titles == [IMPOSTOR_TITLE]
    assert "is not the one the join code" in dialogs.boxes[0]
    assert [p.name for p in host.server.room.participants] == ["Ana"]


# -- Why can't I see the room? ------------------------------------------------------------------


async def test_the_network_check_says_what_it_finds_and_stops_on_cancel(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    require_test_namespace()  # the check sends mDNS and broadcasts where there is a network
    window = guest_window(prefs, keys, cleanup)
    window.lobby.why_link.linkActivated.emit("check")
    await until(lambda: window.findChild(NetworkCheckDialog) is not None, what="the check")
    dialog = window.findChild(NetworkCheckDialog)
    assert dialog is not None and dialog.isVisible() and dialog.hosting is None
    assert dialog.running and dialog.cancel_button.isVisible() and dialog.bar.isVisible()
    assert "Checking this computer's network" in dialog.status.text()
    assert not dialog.again_button.isEnabled()

    dialog.cancel_button.click()
    assert not dialog.running and "stopped" in dialog.status.text()
    assert not dialog.cancel_button.isVisible() and dialog.again_button.isEnabled()
    assert dialog.diagnosis is None

    dialog.listen_seconds = 0.3  # nothing to hear here: no need to wait long
    dialog.again_button.click()
    assert dialog.running
    await until(lambda: dialog.diagnosis is not None, timeout=20, what="the check's result")
    said = [label.accessibleName() for label in dialog.finding_labels]
    assert "Problem: This machine is not connected to any network." in said
    assert dialog.connections.text() == "Network connections: none"
    assert "Connect this machine to the same Wi-Fi" in dialog.advice.text()
    assert dialog.results.isVisible() and not dialog.bar.isVisible()
    assert dialog.finding_labels[0].hasFocus()  # read first, Tab to the next
    named = check_names(dialog, "the network check")
    assert dialog.finding_labels[0] in named and dialog.again_button in named
    dialog.close()


async def test_the_host_s_check_tries_its_rooms_port(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    require_test_namespace()
    host_window = await hosted(prefs, keys, cleanup, "Team lunch")
    assert host_window.session is not None and host_window.session.host is not None
    host = host_window.session.host
    assert host_window.chat is not None
    host_window.chat.network_check_action.trigger()  # Host controls → Why can't people see…
    await until(lambda: host_window.findChild(NetworkCheckDialog) is not None, what="the check")
    dialog = host_window.findChild(NetworkCheckDialog)
    assert dialog is not None
    assert dialog.hosting == HostedRoomInfo(host.port, tuple(host.addresses()))
    assert not dialog.address.isVisible()  # the host checks its own room
    assert dialog.running
    dialog.close()  # closing stops it
    assert not dialog.running


async def test_a_guest_s_check_tries_the_room_address_it_was_given(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    require_test_namespace()
    host_window = await hosted(prefs, keys, cleanup, "Team lunch")
    assert host_window.session is not None and host_window.session.host is not None
    port = host_window.session.host.port
    window = guest_window(prefs, keys, cleanup)
    dialog = window.show_network_check()
    dialog.cancel()
    assert dialog.address.isVisible()
    dialog.listen_seconds = 0.3
    dialog.address.setText("192.168.1.20:99999")  # no such port
    dialog.again_button.click()
    await until(lambda: not dialog.running, what="the refusal")
    assert dialog.status.text().startswith("That is not a room's address:")
    assert dialog.diagnosis is None
    dialog.address.setText(f"127.0.0.1:{port}")
    dialog.activateWindow()
    dialog.address.setFocus()
    await until(dialog.address.hasFocus, what="the focus in the address")
    QTest.keyClick(dialog.address, Qt.Key.Key_Return)  # runs the check, keeps the dialog
    assert dialog.isVisible() and dialog.running
    await until(lambda: dialog.diagnosis is not None, timeout=20, what="the check's result")
    said = [label.accessibleName() for label in dialog.finding_labels]
    assert f"Fine: The room's address answers from this machine (127.0.0.1, port {port})." in said
    dialog.close()
