"""The small things around a room: the status line, the host's reminder, the room link as
text and as a QR code. Real rooms and windows."""

from __future__ import annotations

from typing import Any

import segno
from PySide6.QtGui import QGuiApplication

from desktop.link_dialog import QUIET_ZONE, RoomLinkDialog, qr_pixmap
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
