"""The host dialog: the room name keeps to the room's own rules, said where it is typed; a
connection test that cannot be made says why instead of failing silently."""

from __future__ import annotations

from typing import Any

from PySide6.QtTest import QTest

from core.protocol import MAX_ROOM_NAME_CHARS
from desktop.host_dialog import HostDialog
from desktop.settings import KeyStore, Preferences


def test_the_room_name_field_keeps_to_the_rooms_rules(
    qapp: Any, prefs: Preferences, keys: KeyStore
) -> None:
    dialog = HostDialog(prefs, keys)
    dialog.show()
    dialog.room_name.clear()
    QTest.keyClicks(dialog.room_name, "x" * (MAX_ROOM_NAME_CHARS + 10))
    assert len(dialog.room_name.text()) == MAX_ROOM_NAME_CHARS
    assert not dialog.room_name_problem.isVisible()

    dialog.room_name.setText("Team\u200blunch")  # an invisible character
    assert dialog.room_name_problem.isVisible() and dialog.room_name_problem.text()
    dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()
    assert dialog.isVisible() and dialog.problem.text().startswith("Room name")

    dialog.room_name.setText("Team lunch")
    assert not dialog.room_name_problem.isVisible()


def test_a_key_that_would_go_over_plain_http_is_explained(
    qapp: Any, prefs: Preferences, keys: KeyStore
) -> None:
    dialog = HostDialog(prefs, keys)
    dialog.show()
    dialog.provider.setCurrentIndex(dialog.provider.findData("compatible"))
    dialog.base_url.setText("http://192.0.2.7:8080/v1")  # another machine, no TLS
    dialog.api_key.setText("sk-secret")
    dialog.model.setEditText("")
    dialog.test_button.click()
    assert "http" in dialog.test_result.text()  # a sentence, not an exception in a slot
    assert dialog.test_button.isEnabled()
