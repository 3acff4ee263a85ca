"""The app's flows as a person goes through them, for tests: host a room, join one."""

from __future__ import annotations

from typing import Any

from core.address import room_link
from core.protocol import PROTOCOL_VERSION
from desktop.chat_page import ChatPage
from desktop.host_dialog import HostDialog
from desktop.join_dialogs import DisclosureDialog, JoinDialog
from desktop.main_window import MainWindow
from desktop.settings import KeyStore, Preferences
from tests.desktop.conftest import answer_dialog


def texts(page: ChatPage) -> list[str]:
    return [e.text for e in page.model.transcript.entries if e.kind == "message"]


def unfenced(text: str) -> str:
    """``text`` without the direction isolates the app puts around network text."""
    return text.replace("\u2068", "").replace("\u2069", "")


async def hosted(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], name: str = "Flow room", *,
    room_code: bool = False,
) -> MainWindow:  # fmt: skip
    """A window that hosts a room through the host dialog, as a person would; with
    ``room_code``, requiring the code the dialog made (``window.session.room_code``)."""
    window = MainWindow(prefs=prefs, keys=keys, discover=False)
    cleanup.append(window)
    window.show()

    def fill(dialog: HostDialog) -> None:
        dialog.room_name.setText(name)
        dialog.your_name.setText("Ana")
        dialog.require_code.setChecked(room_code)
        dialog.provider.setCurrentIndex(dialog.provider.findData("none"))
        dialog.buttons.button(dialog.buttons.StandardButton.Ok).click()

    answer_dialog(HostDialog, fill)
    await window.host_room()
    assert window.chat is not None
    return window


async def joined(url: str, name: str, prefs: Preferences, keys: KeyStore,
                 cleanup: list[Any]) -> MainWindow:  # fmt: skip
    """A second window that joins ``url``, answering the name dialog and the notice."""
    window = MainWindow(prefs=prefs, keys=keys, discover=False)
    cleanup.append(window)
    window.show()

    def give_name(dialog: JoinDialog) -> None:
        dialog.name.setText(name)
        dialog.accept()

    answer_dialog(JoinDialog, give_name)
    answer_dialog(DisclosureDialog, lambda d: d.accept())
    await window.join_url(url)
    assert window.chat is not None
    return window


def room_url(window: MainWindow) -> str:
    assert window.session is not None and window.session.host is not None
    return window.session.host.local_url()


def loopback_link(window: MainWindow, *, fingerprint: bytes | None = None) -> str:
    """The link of the room ``window`` hosts, at its loopback address, carrying its
    certificate's fingerprint (or ``fingerprint``, to name another)."""
    assert window.session is not None and window.session.host is not None
    host = window.session.host
    code = host.config.password is not None
    return room_link(
        "127.0.0.1", host.port, host.config.name, password_required=code,
        protocol=PROTOCOL_VERSION, fingerprint=fingerprint or host.fingerprint,
    )  # fmt: skip
