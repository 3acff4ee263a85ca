"""The room page when things end or change: closed rooms, lost hosts, restarted rooms, a
certificate that changed, taken over sessions, a new answer mode, short-lived confirmations,
leaving, and small windows.

Real windows on real rooms on loopback; a proxy stands in for the network when a host must
vanish or come back as another room.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton

from core.ai.desk import AssistantConfig
from core.ai.provider import ProviderSettings
from core.client import ReconnectPolicy, RoomClient
from core.hosting import RoomHost
from core.protocol import AssistantInfo, RoomPreview
from core.room import RoomConfig
from core.room_tls import fingerprint_text
from core.transcript import Entry
from core.wording import ENDED_WORDS
from desktop import confirm
from desktop.assistant_dialog import AssistantSettingsDialog
from desktop.chat_page import CHECK_ROOM_ACTION, VERIFICATION_TIP, ChatPage, new_room_text
from desktop.confirm import Banner
from desktop.delegate import footer_text
from desktop.join_dialogs import CHECKED_WORDS, DisclosureDialog, JoinDialog
from desktop.main_window import MainWindow
from desktop.session import RoomSession
from desktop.settings import KeyStore, Preferences
from desktop.verification import spoken
from tests.blip_proxy import BlipProxy
from tests.desktop.conftest import answer_dialog, until
from tests.desktop.flows import hosted, joined, room_url, texts, unfenced
from tests.desktop.hostile_checks import (
    HOSTILE,
    hostile_text,
    left_to_right,
    rich_text_risks,
    shows,
)
from tests.fake_openai import FakeOpenAI, Reply

QUICK_GIVE_UP = ReconnectPolicy(initial_delay=0.05, max_delay=0.2, give_up_after=1.5)


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


def ai_room(fake: FakeOpenAI, name: str = "AI room") -> tuple[RoomConfig, ProviderSettings]:
    settings = ProviderSettings.from_preset(
        "compatible", model="llama3.2", base_url=fake.base_url, api_key="k"
    )
    assistant = AssistantConfig(model="llama3.2", provider="OpenAI", provider_kind="cloud")
    return RoomConfig(name=name, assistant=assistant), settings


async def window_in(url: str, name: str, prefs: Preferences, keys: KeyStore, cleanup: list[Any],
                    *, host: RoomHost | None = None,
                    policy: ReconnectPolicy | None = None) -> MainWindow:  # fmt: skip
    """A window in the room at ``url`` (as after the join flow), with ``policy`` for
    reconnecting; with ``host``, as the host of that room."""
    window = MainWindow(prefs=prefs, keys=keys, discover=False)
    cleanup.append(window)
    key = host.host_key if host is not None else None
    client = RoomClient(url, name, host_key=key, policy=policy)
    window._enter(RoomSession(client, await client.connect(), host=host))
    window.show()
    return window


async def proxy_to(port: int, cleanup: list[Any]) -> BlipProxy:
    """A started proxy to the room on ``port`` (closed after the test), which a test can cut
    or point at another room."""
    proxy = BlipProxy(port)
    await proxy.start()
    cleanup.append(proxy)
    return proxy


def answers(page: ChatPage) -> list[Entry]:
    return [e for e in page.model.transcript.entries if e.kind == "answer"]


def modal_box() -> QMessageBox | None:
    widget = QApplication.activeModalWidget()
    return widget if isinstance(widget, QMessageBox) else None


def button(box: QMessageBox, text: str) -> QPushButton:
    found = [b for b in box.buttons() if b.text().replace("&&", "&") == text]
    assert found, f"no {text!r} in {[b.text() for b in box.buttons()]}"
    assert isinstance(found[0], QPushButton)
    return found[0]


# -- the room ends ----------------------------------------------------------------------


async def test_typing_when_the_room_ends_does_not_leave_it(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    """The host closed the room while a guest was typing: focus used to jump to "Back to
    rooms", so the next Space left the room and the transcript with it."""
    host = await hosted(prefs, keys, cleanup)
    guest = await joined(room_url(host), "Sam", prefs, keys, cleanup)
    page = guest.chat
    assert page is not None and host.session is not None
    host.chat.send("we are about to close")  # type: ignore[union-attr]
    await until(lambda: "we are about to close" in texts(page))
    guest.activateWindow()
    page.composer.setFocus()
    await until(lambda: QApplication.focusWidget() is page.composer, what="the composer's focus")
    QTest.keyClicks(page.composer, "half a thought")

    host.session.close_room()
    await until(lambda: "closed the room" in page.banner.text(), what="the guest told")
    assert QApplication.focusWidget() is page.composer  # the focus stayed where it was
    QTest.keyClicks(QApplication.focusWidget(), " and more")
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Space)
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
    assert guest.chat is page and guest.pages.currentWidget() is page  # still here
    assert page.composer.isReadOnly() and page.composer.toPlainText() == "half a thought"
    assert page.composer_note.isVisible() and "nothing you type" in page.composer_note.text()
    assert "stays here" in page.banner.text() and "we are about to close" in texts(page)
    assert page.leave_button.text() == "Back to rooms" and not page.send_button.isEnabled()

    page.leave_button.click()  # a deliberate click goes back, without asking again
    await until(lambda: guest.pages.currentWidget() is guest.lobby, what="back in the lobby")


async def test_a_lost_host_is_given_up_on_and_its_answer_is_cut_off(
    fake: FakeOpenAI, prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    """After a host crash the guest retried with a live "writing…" answer and a Stop button
    that could do nothing; now Stop goes while disconnected, the app gives up when the policy
    says, says so, and the answer is marked cut off."""
    fake.script(Reply([f"word{i} " for i in range(400)], delay=0.05))
    host = MainWindow(prefs=prefs, keys=keys, discover=False)
    cleanup.append(host)
    room = await host._open(*ai_room(fake))
    assert room is not None
    cleanup.append(room)
    proxy = await proxy_to(room.port, cleanup)
    guest = await window_in(proxy.url, "Sam", prefs, keys, cleanup, policy=QUICK_GIVE_UP)
    page = guest.chat
    assert page is not None
    page.send("@assistant tell me a long story")
    await until(lambda: answers(page) and len(answers(page)[0].text) > 20, what="streaming")
    await until(page.stop_button.isVisible, what="Stop for the one who asked")

    proxy.refusing = True
    proxy.cut()
    await until(lambda: "Reconnecting" in page.banner.text(), what="the reconnect banner")
    assert "stops trying after" in page.banner.text()
    assert not page.stop_button.isVisible()  # nothing can be stopped from here now
    await until(lambda: page.leave_button.text() == "Back to rooms", what="giving up")
    assert "could not be reached" in page.banner.text()
    assert "stopped trying" in page.banner.text()
    answer = answers(page)[0]
    assert answer.status == "interrupted" and answer.text.startswith("word0")
    assert "cut off" in footer_text(answer) and "writing" not in footer_text(answer)
    assert not page.stop_button.isVisible() and not page.regenerate_button.isVisible()
    assert page.people.rowCount() == 0 and "not connected" in page.people_panel.title.text()


async def test_a_restarted_room_ends_this_one_and_offers_the_new_one(
    fake: FakeOpenAI, prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    old = RoomHost(RoomConfig(name="Old room"), bind="127.0.0.1", port=0, advertise=False)
    await old.start()
    cleanup.append(old)
    config, _settings = ai_room(fake, "Brand new room")
    # The host kept the room's certificate: the same room to the app, as another run.
    new = RoomHost(config, provider=None, bind="127.0.0.1", port=0, advertise=False,
                   certificate=old.server.certificate)  # fmt: skip
    await new.start()
    cleanup.append(new)
    proxy = await proxy_to(old.port, cleanup)
    guest = await window_in(proxy.url, "Sam", prefs, keys, cleanup)
    page = guest.chat
    assert page is not None
    page.send("said in the old room")
    await until(lambda: "said in the old room" in texts(page))
    offered: list[RoomPreview] = []
    page.join_new_room_requested.disconnect()  # not the window's join flow: only the offer
    page.join_new_room_requested.connect(offered.append)

    proxy.target_port = new.port  # the host crashed and opened another room on its port
    proxy.cut()
    await until(lambda: page.leave_button.text() == "Back to rooms", what="the old room ended")
    said = unfenced(page.banner.text())
    assert "The host restarted the room; this conversation has ended" in said
    assert "“Brand new room”" in said and "Every message goes to OpenAI" not in said
    assert "only when someone asks @assistant" in said  # where its messages go
    assert page.banner_bar.action_button.isVisible()
    assert page.banner_bar.action_button.text() == "Join the new room"
    assert "said in the old room" in texts(page) and page.composer.isReadOnly()
    page.banner_bar.action_button.click()
    assert [p.name for p in offered] == ["Brand new room"]
    assert offered[0].assistant is not None and offered[0].assistant.provider == "OpenAI"


async def test_a_changed_certificate_ends_the_room_and_offers_only_a_fresh_look(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    """The room at the address the guest was in comes back with another certificate (the
    host restarted it as a new room, or someone took its place): never a silent rejoin. The
    banner says so; its one action looks at the room afresh, its new code shown first."""
    old = RoomHost(RoomConfig(name="Team lunch"), bind="127.0.0.1", port=0, advertise=False)
    await old.start()
    cleanup.append(old)
    new = RoomHost(RoomConfig(name="Team lunch"), bind="127.0.0.1", port=0, advertise=False)
    await new.start()
    cleanup.append(new)
    proxy = await proxy_to(old.port, cleanup)
    guest = await window_in(proxy.url, "Sam", prefs, keys, cleanup)
    page, session = guest.chat, guest.session
    assert page is not None and session is not None
    line = page.verification_line
    assert line.text() == f"Verification code {old.verification_code}"
    # What to do if it differs is not for mouse users only, nor is the code.
    assert VERIFICATION_TIP in line.accessibleDescription()
    assert spoken(old.verification_code) in line.accessibleDescription()
    assert line.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByKeyboard
    assert line.focusPolicy() & Qt.FocusPolicy.TabFocus
    page.send("said in the old room")
    await until(lambda: "said in the old room" in texts(page))

    proxy.target_port = new.port
    proxy.cut()
    await until(lambda: page.leave_button.text() == "Back to rooms", what="the room ended")
    assert session.ended is not None and session.ended.reason == "certificate_changed"
    said = page.banner.text()
    assert ENDED_WORDS["certificate_changed"] in said and "You were not rejoined" in said
    assert page.banner_bar.action_button.text() == CHECK_ROOM_ACTION
    assert not new.server.room.participants  # nothing done by itself
    assert "said in the old room" in texts(page) and page.composer.isReadOnly()

    codes: list[tuple[str, str]] = []
    looks: list[tuple[str, bool]] = []

    def read_notice(dialog: DisclosureDialog) -> None:
        assert dialog.code is not None and dialog.code_words is not None
        codes.append((dialog.code.text(), dialog.code_words.text()))
        looks.append((dialog.code_words.objectName(), dialog.cancel_button.isDefault()))
        dialog.accept()

    names: list[str] = []
    answer_dialog(JoinDialog, lambda d: (names.append(d.name.text()), d.accept()))
    answer_dialog(DisclosureDialog, read_notice)
    page.banner_bar.action_button.click()
    await until(lambda: guest.session is not session, what="the room at that address joined")
    assert names == ["Sam"]
    assert codes and codes[0][0] == new.verification_code != old.verification_code
    # Not the words of a typed address: a warning that this is another certificate.
    assert codes[0][1] == CHECKED_WORDS["changed"]
    assert codes[0][1].startswith("This is not the certificate of the room you were in.")
    assert "someone may be impersonating it" in codes[0][1]
    assert looks == [("advice", True)]  # warning style, and Enter does not join
    assert guest.session is not None and guest.session.fingerprint == new.fingerprint
    assert [p.name for p in new.server.room.participants] == ["Sam"]


async def test_a_taken_over_session_says_from_where(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    host = await hosted(prefs, keys, cleanup)
    guest = await joined(room_url(host), "Sam", prefs, keys, cleanup)
    assert guest.session is not None and guest.chat is not None
    # Someone on another address resumes Sam's session with a copy of the token.
    thief = RoomClient(room_url(host), "Sam", local_address="127.0.0.2")
    thief._session = guest.session.client._session
    await thief.connect()
    cleanup.append(SimpleNamespace(close=thief.leave))
    page = guest.chat
    await until(lambda: page.leave_button.text() == "Back to rooms", what="Sam's window ends")
    said = unfenced(page.banner.text())
    assert "taken over by a new connection from 127.0.0.2" in said, said
    assert "tell the host" in said and "another window" not in said


# -- where messages go ------------------------------------------------------------------


async def test_a_new_answer_mode_is_announced_and_the_header_says_where_messages_go(
    fake: FakeOpenAI, prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    host = MainWindow(prefs=prefs, keys=keys, discover=False)
    cleanup.append(host)
    config, settings = ai_room(fake)
    room = await host._open(config, settings)
    assert room is not None
    host._enter(RoomSession(*(await _joined_as_host(room)), host=room))
    host.show()
    guest = await joined(room.local_url(), "Sam", prefs, keys, cleanup)
    page, host_page = guest.chat, host.chat
    assert page is not None and host_page is not None
    assert "only when someone asks @assistant" in unfenced(page.subtitle.text())
    assert not page.subtitle.font().bold()

    await until(lambda: host_page._report is not None, what="the host's assistant report")
    host_page.assistant_action.trigger()
    await until(lambda: isinstance(QApplication.activeModalWidget(), AssistantSettingsDialog))
    dialog = QApplication.activeModalWidget()
    assert isinstance(dialog, AssistantSettingsDialog)
    dialog.mode.setCurrentIndex(dialog.mode.findData("always"))
    assert "Every message goes to OpenAI" in unfenced(dialog.where.text())
    assert "Everyone in the room is told" in dialog.where.text()
    save = dialog.buttons.button(dialog.buttons.StandardButton.Ok)
    assert save.text() == "Save settings"
    save.click()

    await until(lambda: "Every message goes to" in page.subtitle.text(), what="the header")
    assert "Every message goes to OpenAI / llama3.2 (in the cloud)." in unfenced(
        page.subtitle.text()
    )
    assert page.subtitle.font().bold()  # it stands out while every message leaves
    await until(page.banner.isVisible, what="the announcement")  # a frame after the header's
    assert page.banner.property("level") == "warning"
    assert "The host changed when the assistant answers" in page.banner.text()
    assert page.banner_bar.dismiss_button.isVisible()  # it stays until read
    notices = [e for e in page.model.transcript.entries if e.kind == "notice"]
    assert notices and notices[-1].level == "warning" and "every message" in notices[-1].text
    await until(lambda: "Everyone in the room was told" in host_page.banner.text())
    assert "Every message goes to" in host_page.subtitle.text()
    assert host_page.banner.property("level") == "info"  # a confirmation: it goes by itself

    late = await joined(room.local_url(), "Lea", prefs, keys, cleanup)
    assert late.chat is not None and "Every message goes to" in late.chat.subtitle.text()
    assert not late.chat.banner.isVisible()  # history is not news
    await late.leave_room()
    await until(lambda: any(e.text == "Lea left" for e in host_page.model.transcript.entries))


async def _joined_as_host(room: RoomHost) -> tuple[RoomClient, Any]:
    client = RoomClient(room.local_url(), "Ana", host_key=room.host_key)
    return client, await client.connect()


# -- confirmations and warnings ---------------------------------------------------------


async def test_a_copied_link_is_confirmed_briefly_and_warnings_stay(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(confirm, "TRANSIENT_SECONDS", 0.3, raising=False)
    host = await hosted(prefs, keys, cleanup)
    page = host.chat
    assert page is not None and host.session is not None and host.session.host is not None
    page.copy_link_action.trigger()
    assert page.banner.isVisible() and "Room link copied" in page.banner.text()
    assert QGuiApplication.clipboard().text() == host.session.host.links()[0]
    fingerprint = fingerprint_text(host.session.host.fingerprint)
    assert QGuiApplication.clipboard().text().endswith(f"&fp={fingerprint}")  # pinned
    await until(lambda: not page.banner.isVisible(), timeout=3, what="the confirmation to go")

    page.session.action_failed.emit("That did not work: the room said no.")
    assert page.banner.isVisible() and page.banner.property("level") == "warning"
    await asyncio.sleep(0.6)  # twice as long as a confirmation stays
    assert page.banner.isVisible()
    page.banner_bar.dismiss_button.click()
    assert not page.banner.isVisible()


async def test_leaving_asks_a_guest_first_with_verbs(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    host = await hosted(prefs, keys, cleanup)
    guest = await joined(room_url(host), "Sam", prefs, keys, cleanup)
    page = guest.chat
    assert page is not None
    page.leave_button.click()
    await until(modal_box, what="the question")
    box = modal_box()
    assert box is not None and "no copy of the conversation" in box.text()
    assert sorted(b.text() for b in box.buttons()) == [
        "Leave and discard", "Save transcript…", "Stay"
    ]  # fmt: skip
    button(box, "Stay").click()
    await until(lambda: modal_box() is None)
    assert guest.chat is page

    page.leave_button.click()
    await until(modal_box, what="the question again")
    box = modal_box()
    assert box is not None
    button(box, "Leave and discard").click()
    await until(lambda: guest.pages.currentWidget() is guest.lobby, what="back in the lobby")


async def test_closing_the_room_asks_the_host_with_verbs(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    host = await hosted(prefs, keys, cleanup)
    page = host.chat
    assert page is not None
    page.close_action.trigger()
    await until(modal_box, what="the question")
    box = modal_box()
    assert box is not None
    assert sorted(b.text() for b in box.buttons()) == [
        "Close the room", "Keep it open", "Save transcript…"
    ]  # fmt: skip
    assert box.defaultButton() is button(box, "Keep it open")  # Enter does not close it
    button(box, "Keep it open").click()
    await asyncio.sleep(0.2)
    assert page.leave_button.text() == "Leave"
    page.close_action.trigger()
    await until(modal_box)
    box = modal_box()
    assert box is not None
    button(box, "Close the room").click()
    await until(lambda: "You closed the room" in page.banner.text())


# -- small windows ----------------------------------------------------------------------


async def test_a_narrow_window_folds_the_people_panel_away(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    host = await hosted(prefs, keys, cleanup)
    page = host.chat
    assert page is not None
    host.resize(560, 500)
    await until(lambda: page.width() <= 560)
    await until(lambda: page.splitter.sizes()[1] == 0, what="the panel folded")
    assert page.side_panel.visibleRegion().isEmpty()
    assert page.view.width() >= page.width() - 40  # the messages get the width
    assert not page.view.horizontalScrollBar().isVisible()
    assert page.minimumSizeHint().width() <= 420  # it never asks for more than that

    host.resize(1000, 600)
    await until(lambda: page.splitter.sizes()[1] > 100, what="the panel back")
    assert page.people.rowCount() == 1


# -- hostile text -----------------------------------------------------------------------


@pytest.fixture(params=list(HOSTILE))
def hostile(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return hostile_text(request.param, tmp_path)


def test_a_hostile_new_room_is_offered_in_plain_words(qapp: Any, hostile: str) -> None:
    """The room the host restarted names itself and its AI: shown plain, bounded, and
    unable to reorder the words around it."""
    assistant = AssistantInfo(hostile, hostile, "cloud", hostile, "always")
    preview = RoomPreview(name=hostile, password_required=True, assistant=assistant)  # a code
    banner = Banner()
    banner.resize(900, 200)
    banner.show_message(new_room_text(preview), "error", action=("Join the new room", print))
    banner.show()
    shown = banner.label.text()
    assert shows(shown, hostile) and "It needs a room code." in shown
    assert left_to_right(shown, "It needs a room code.")
    assert rich_text_risks(banner, hostile) == []
    assert banner.action_button.text() == "Join the new room"
    assert banner.sizeHint().width() <= 1000
    banner.close()


async def test_a_locked_room_says_so_inside(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    host = await hosted(prefs, keys, cleanup)
    guest = await joined(room_url(host), "Sam", prefs, keys, cleanup)
    assert host.session is not None and guest.chat is not None
    assert "locked" not in guest.chat.history_line.text()
    host.session.lock(True)
    await until(lambda: "locked" in guest.chat.history_line.text(), what="the lock shown")
    host.session.lock(False)
    await until(lambda: "locked" not in guest.chat.history_line.text(), what="the lock gone")
