"""The preferences file: readable by its owner only, and no room names in it."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings

from desktop.host_dialog import HostDialog
from desktop.settings import KeyStore, Preferences
from tests.desktop.conftest import until
from tests.desktop.flows import hosted


def settings_at(path: Path) -> Preferences:
    """Preferences in ``path``, a temporary file: never the user's own."""
    return Preferences(QSettings(str(path), QSettings.Format.IniFormat))


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_hosting_writes_a_private_file_without_the_room_name(
    tmp_path: Path, keys: KeyStore, cleanup: list[Any]
) -> None:
    path = tmp_path / "prefs.ini"
    old_umask = os.umask(0o022)  # the usual: new files readable by everyone
    try:
        prefs = settings_at(path)
        window = await hosted(prefs, keys, cleanup, name="Secret surprise party")
    finally:
        os.umask(old_umask)
    assert window.chat is not None
    content = path.read_text(encoding="utf-8")
    assert "Ana" in content  # the display name is a preference
    assert "Secret surprise party" not in content and "room_name" not in content
    assert mode(path) == 0o600


def test_a_file_from_an_older_version_is_made_private_and_forgets_the_room(
    tmp_path: Path,
) -> None:
    path = tmp_path / "prefs.ini"
    path.write_text("[General]\ndisplay_name=Ana\nroom_name=Secret surprise party\n")
    path.chmod(0o644)
    prefs = settings_at(path)
    assert prefs.get("display_name") == "Ana"
    assert "Secret surprise party" not in path.read_text(encoding="utf-8")
    assert mode(path) == 0o600
    prefs.set("display_name", "Ana B")
    assert mode(path) == 0o600 and "Ana B" in path.read_text(encoding="utf-8")


def test_the_host_dialog_does_not_offer_the_last_room_name(
    qapp: Any, prefs: Preferences, keys: KeyStore
) -> None:
    prefs.set("room_name", "Secret surprise party")  # as an older version left it
    dialog = HostDialog(prefs, keys)
    assert dialog.room_name.text() != "Secret surprise party"


async def test_the_window_and_splitter_are_kept_but_never_the_room_or_what_was_said(
    tmp_path: Path, keys: KeyStore, cleanup: list[Any]
) -> None:
    path = tmp_path / "prefs.ini"
    prefs = settings_at(path)
    window = await hosted(prefs, keys, cleanup, name="Secret surprise party")
    assert window.chat is not None
    window.chat.send("The cake is hidden in the garage")
    await until(lambda: window.chat is not None and window.chat.model.rowCount() >= 2)
    splitter = window.chat.splitter
    total = sum(splitter.sizes())
    splitter.setSizes([total - 300, 300])
    splitter.splitterMoved.emit(total - 300, 1)  # as a drag reports it
    await until(lambda: "splitter" in path.read_text(encoding="utf-8"))
    await window.leave_room()
    window.close()
    content = path.read_text(encoding="utf-8")
    assert "geometry" in content and f'chat="{total - 300},300"' in content
    assert "Secret surprise party" not in content and "garage" not in content
    assert mode(path) == 0o600

    again = await hosted(prefs, keys, cleanup, name="Another room")
    assert again.chat is not None
    chat = again.chat
    # The panel's width, restored from the file once the page is on the screen.
    await until(lambda: chat.splitter.sizes()[1] == 300)
