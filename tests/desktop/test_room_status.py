"""The small things around a room: the status line, the host's reminder, the room link as
text and as a QR code, and the room's join code (made off the event loop; a room with no
private IPv4 address says why it has none). Real rooms and windows."""

from __future__ import annotations

from typing import Any

import segno
from PySide6.QtGui import QFontInfo, QGuiApplication
from pytestqt.qtbot import QtBot

from core.address import room_link
from core.join_code import TEST_VECTOR
from core.protocol import PROTOCOL_VERSION
from desktop.link_dialog import JOIN_CODE_USE, QUIET_ZONE, RoomLinkDialog, qr_pixmap
from desktop.settings import KeyStore, Preferences
from tests.desktop.conftest import until
from tests.desktop.flows import hosted, joined, room_url, unfenced


async def test_the_status_line_says_connected_then_offline_and_the_host_is_reminded(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    host = await hosted(prefs, keys, cleanup)
    sam = await joined(room_url(host), "Sam", prefs, keys, cleanup)
    assert host.chat is not None and sam.chat is not None
    assert sam.chat.connection_line.text() == "Connected"  # no assistant line follows
    assert host.chat.host_reminder.isVisible() and not sam.chat.host_reminder.isVisible()
    assert "closes it for everyone" in host.chat.host_reminder.text()
    assert host.session is not None
    host.session.close_room()
    await until(lambda: sam.chat.connection_line.text() == "Offline")  # type: ignore[union-attr]


async def test_the_room_link_is_shown_as_text_and_as_a_code_that_says_it(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], qtbot: Any
) -> None:
    host = await hosted(prefs, keys, cleanup)
    assert host.chat is not None and host.session is not None and host.session.host
    links = host.session.host.links()
    host.chat.link_action.trigger()
    await until(lambda: host.chat.findChild(RoomLinkDialog) is not None)  # type: ignore[union-attr]
    dialog = host.chat.findChild(RoomLinkDialog)
    assert dialog is not None and dialog.shown_link == links[0]
    dialog.copy_button.click()
    assert QGuiApplication.clipboard().text() == links[0]
    assert unfenced(dialog.copy_button.text()) == "Copied"
    assert "room code is not in it" in dialog.explain.text()
    dialog.close()


def link_at(host: str, port: int = 47321, fingerprint: bytes = bytes(range(32))) -> str:
    return room_link(host, port, "Team lunch", password_required=False,
                     protocol=PROTOCOL_VERSION, fingerprint=fingerprint)  # fmt: skip


async def test_the_join_code_is_shown_large_to_copy_and_read_out(qtbot: QtBot) -> None:
    address, port, fingerprint, expected = TEST_VECTOR
    # The first address cannot be in a code (IPv6): the code is the IPv4 one's.
    dialog = RoomLinkDialog([link_at("fd00::7", port, fingerprint),
                             link_at(address, port, fingerprint)])  # fmt: skip
    qtbot.addWidget(dialog)
    dialog.show()
    # Not made on the event loop (scrypt): the dialog is up before the code is in.
    assert dialog.join_code == "" and "Working out" in dialog.code_note.text()
    await until(lambda: dialog.join_code == expected, what="the join code")
    label = dialog.join_code_label
    assert label is not None and label.text() == expected and label.isVisible()
    assert not dialog.code_note.isVisible()
    assert QFontInfo(label.font()).fixedPitch()  # no 0 that reads as O
    assert label.font().pointSizeF() > dialog.font().pointSizeF() * 1.5
    assert label.accessibleName() == "Join code"
    # One character at a time, a pause between groups (G12G-P7HD-H0…).
    assert label.accessibleDescription() == f"G 1 2 G, P 7 H D, H 0 {expected[-1]}"
    assert dialog.copy_code_button is not None
    dialog.copy_code_button.click()
    assert QGuiApplication.clipboard().text() == expected
    assert dialog.code_use.isVisible() and dialog.code_use.text() == JOIN_CODE_USE
    assert "Join by address, link or code…" in JOIN_CODE_USE
    dialog.close()


def test_a_room_with_no_private_ipv4_address_says_why_it_has_no_join_code(qtbot: QtBot) -> None:
    for host, why in (("127.0.0.1", "not connected to a local network"),
                      ("203.0.113.7", "holds a private network address")):  # fmt: skip
        dialog = RoomLinkDialog([link_at(host)])
        qtbot.addWidget(dialog)
        dialog.show()
        assert dialog.join_code == "" and dialog.join_code_label is None
        assert why in dialog.code_note.text() and "No join code" in dialog.code_note.text()
        assert dialog.copy_code_button is None and not dialog.code_use.isVisible()
        assert dialog.shown_link == link_at(host)  # the link is shared all the same
        dialog.close()


def test_the_code_is_segnos_matrix_black_on_white_with_its_quiet_zone() -> None:
    text = "gptgroup://192.0.2.7:47321/?room=Team%20lunch&v=2&pw=1&fp=abc"
    pixmap = qr_pixmap(text, 240)
    image = pixmap.toImage()
    matrix = [list(row) for row in segno.make(text, error="m").matrix_iter(border=QUIET_ZONE)]
    modules = len(matrix)
    size = image.width() / modules
    assert image.width() == image.height() and image.width() >= modules * 2
    for y in range(modules):
        for x in range(modules):
            centre = image.pixelColor(int((x + 0.5) * size), int((y + 0.5) * size))
            assert (centre.lightness() < 128) == bool(matrix[y][x]), (x, y)
