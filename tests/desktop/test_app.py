"""The app as people use it: real windows hosting and joining real rooms on loopback."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QTextDocument
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QLabel

from core.ai.desk import AssistantConfig
from core.ai.provider import ProviderSettings
from core.client import JoinRefused, RoomClient, RoomUnreachable, probe_room
from core.discovery import Discovery
from core.hosting import RoomHost
from core.room import RoomConfig
from core.transcript import Entry
from desktop.delegate import footer_text
from desktop.join_dialogs import DisclosureDialog, JoinDialog
from desktop.main_window import MainWindow
from desktop.markdown import render
from desktop.session import RoomSession
from desktop.settings import KeyStore, Preferences
from tests.blip_proxy import BlipProxy
from tests.desktop.conftest import answer_dialog, until
from tests.desktop.flows import hosted, joined, room_url, texts, unfenced
from tests.fake_openai import FakeOpenAI, Reply


async def test_hosting_opens_the_room_and_shows_it(prefs: Preferences, keys: KeyStore,
                                                   cleanup: list[Any]) -> None:  # fmt: skip
    window = await hosted(prefs, keys, cleanup)
    page = window.chat
    assert page is not None and window.pages.currentWidget() is page
    assert page.title.text() == "Flow room"
    assert "no assistant" in page.subtitle.text()
    assert page.host_menu_button.isVisible()
    await until(lambda: page.people.rowCount() == 1)
    assert unfenced(page.people.index(0).data()) == "Ana  ·  host, you"
    assert prefs.get("display_name") == "Ana"  # remembered as a preference


async def test_joining_shows_where_messages_go_first(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    host = await hosted(prefs, keys, cleanup)
    guest = MainWindow(prefs=prefs, keys=keys, discover=False)
    cleanup.append(guest)
    seen: list[str] = []

    def read_and_decline(dialog: DisclosureDialog) -> None:
        seen.append(" ".join(label.text() for label in dialog.findChildren(QLabel)))
        dialog.reject()

    answer_dialog(JoinDialog, lambda d: (d.name.setText("Sam"), d.accept()))
    answer_dialog(DisclosureDialog, read_and_decline)
    await guest.join_url(room_url(host))
    assert guest.chat is None  # declined: not in the room
    notice = seen[0]
    assert "visible to everyone" in notice and "sensitive information" in notice
    assert "privacy policy" in notice.lower()
    assert host.session is not None and len(host.session.participants) == 1

    guest2 = await joined(room_url(host), "Sam", prefs, keys, cleanup)
    assert guest2.chat is not None and "visible to everyone here" in guest2.chat.subtitle.text()
    await until(lambda: any(e.text == "Sam joined" for e in host.chat.model.transcript.entries))


async def test_two_windows_talk(prefs: Preferences, keys: KeyStore, cleanup: list[Any]) -> None:
    host = await hosted(prefs, keys, cleanup)
    guest = await joined(room_url(host), "Sam", prefs, keys, cleanup)
    assert host.chat is not None and guest.chat is not None
    QTest.keyClicks(guest.chat.composer, "hello from Sam")
    QTest.keyClick(guest.chat.composer, Qt.Key.Key_Return)
    await until(lambda: "hello from Sam" in texts(host.chat), what="the host sees it")
    host.chat.send("hi Sam\nsecond line")
    await until(lambda: "hi Sam\nsecond line" in texts(guest.chat))
    mine = [e for e in guest.chat.model.transcript.entries if e.mine]
    assert [e.text for e in mine] == ["hello from Sam"] and not mine[0].pending


async def ai_window(prefs: Preferences, keys: KeyStore, cleanup: list[Any],
                    fake: FakeOpenAI) -> MainWindow:  # fmt: skip
    """A window hosting a room whose assistant is the fake server (as after the host dialog)."""
    settings = ProviderSettings.from_preset(
        "compatible", model="llama3.2", base_url=fake.base_url, api_key="k"
    )
    config = RoomConfig(name="AI room", assistant=AssistantConfig(
        model="llama3.2", provider=settings.label, provider_kind=settings.kind))  # fmt: skip
    window = MainWindow(prefs=prefs, keys=keys, discover=False)
    cleanup.append(window)
    host = await window._open(config, settings)
    assert host is not None
    client = RoomClient(host.local_url(), "Ana", host_key=host.host_key)
    window._enter(RoomSession(client, await client.connect(), host=host))
    window.show()
    return window


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


async def test_a_streamed_answer_grows_and_can_be_stopped(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], fake: FakeOpenAI
) -> None:
    fake.script(Reply([f"word{i} " for i in range(80)], delay=0.05))
    window = await ai_window(prefs, keys, cleanup, fake)
    page = window.chat
    assert page is not None
    assert "llama3.2" in page.subtitle.text() and "local server" in page.subtitle.text()
    page.send("@assistant tell me a long story")

    def answer() -> Any:
        return next((e for e in page.model.transcript.entries if e.kind == "answer"), None)

    await until(lambda: answer() is not None and len(answer().text.split()) >= 3)
    grown = len(answer().text)
    await until(lambda: len(answer().text) > grown, what="the answer to keep growing")
    assert answer().status == "streaming"
    assert page.stop_button.isVisible() and "answering Ana" in unfenced(page.assistant_line.text())
    page.stop_button.click()
    await until(lambda: answer().status == "stopped")
    await fake.wait_disconnect(timeout=3)
    assert 0 < len(answer().text.split()) < 80
    await until(page.regenerate_button.isVisible)
    assert not page.stop_button.isVisible()


async def test_an_answer_cut_at_the_length_limit_says_so_and_continues(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], fake: FakeOpenAI
) -> None:
    fake.script(Reply(["The plan has three", " steps"], finish_reason="length"), Reply([": go."]))
    window = await ai_window(prefs, keys, cleanup, fake)
    page = window.chat
    assert page is not None
    page.send("@assistant the plan?")

    def answers() -> list[Any]:
        return [e for e in page.model.transcript.entries if e.kind == "answer"]

    await until(lambda: answers() and answers()[0].status == "complete")
    [cut] = answers()
    assert "cut off at the length limit" in footer_text(cut)
    await until(page.continue_button.isVisible)
    page.continue_button.setFocus()
    QTest.keyClick(page.continue_button, Qt.Key.Key_Space)  # by keyboard, as anyone may
    await until(lambda: len(answers()) == 2 and answers()[1].status == "complete")
    rest = answers()[1]
    assert rest.text == ": go." and "continued from the answer above" in footer_text(rest)
    assert "continued below" in footer_text(answers()[0])
    assert not page.continue_button.isVisible()
    assert page.regenerate_button.isVisible()


async def test_kicked_and_closed_rooms_keep_the_transcript(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    host = await hosted(prefs, keys, cleanup)
    sam = await joined(room_url(host), "Sam", prefs, keys, cleanup)
    ben = await joined(room_url(host), "Ben", prefs, keys, cleanup)
    assert host.session and host.chat and sam.chat and ben.chat
    host.chat.send("before anything happens")
    await until(lambda: "before anything happens" in texts(sam.chat))
    sam_id = sam.session.you.id  # type: ignore[union-attr]
    host.session.kick(sam_id)
    # The room's error frame says it first; the end of the session (read-only) comes with the
    # close that follows it.
    await until(sam.chat.composer.isReadOnly, what="the session to end")
    assert sam.chat.banner.isVisible() and "removed you" in sam.chat.banner.text()
    # Read-only, not disabled: the keyboard focus stays where it was (a Space typed next
    # must not land on "Back to rooms"), but nothing more can be sent.
    assert not sam.chat.send_button.isEnabled()
    assert "before anything happens" in texts(sam.chat)
    assert sam.chat.leave_button.text() == "Back to rooms"
    url = room_url(host)
    host.session.close_room()
    await until(lambda: "closed the room" in ben.chat.banner.text(), what="ben told")
    await until(lambda: "You closed the room" in host.chat.banner.text())

    async def still_listening() -> bool:
        try:
            await probe_room(url, wait=1)
        except (RoomUnreachable, JoinRefused) as exc:
            return not isinstance(exc, RoomUnreachable)
        return True

    for _ in range(50):  # closing from the menu also stops the server
        if not await still_listening():
            break
        await asyncio.sleep(0.1)
    assert not await still_listening()
    assert "before anything happens" in texts(ben.chat) and not ben.chat.send_button.isEnabled()
    await ben.leave_room()
    assert ben.pages.currentWidget() is ben.lobby


async def test_reconnect_banner_and_pending_messages(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    host = await hosted(prefs, keys, cleanup)
    assert host.session is not None and host.session.host is not None
    proxy = BlipProxy(host.session.host.port)
    await proxy.start()
    cleanup.append(proxy)
    guest = await joined(proxy.url, "Sam", prefs, keys, cleanup)
    page = guest.chat
    assert page is not None and host.chat is not None
    proxy.refusing = True
    proxy.cut()
    await until(lambda: page.banner.isVisible() and "Reconnecting" in page.banner.text())
    page.send("written while offline")

    def pending() -> list[Entry]:
        return [e for e in page.model.transcript.entries if e.text == "written while offline"]

    await until(lambda: bool(pending()), what="the message shown while offline")
    assert pending()[0].pending and page.composer.toPlainText() == ""
    proxy.refusing = False
    await until(lambda: "written while offline" in texts(host.chat), what="delivery on resume")
    await until(lambda: not pending()[0].pending)
    await until(lambda: not page.banner.isVisible(), what="the banner to clear")


async def test_hostile_markdown_shows_as_text(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    host = await hosted(prefs, keys, cleanup)
    guest = await joined(room_url(host), "Mallory", prefs, keys, cleanup)
    assert guest.chat is not None and host.chat is not None
    hostile = (
        '<img src="file:///etc/passwd"> [click](javascript:alert(1)) <b>bold?</b>'
        " [fine](https://example.org)"
    )
    guest.chat.send(hostile)
    await until(lambda: hostile in texts(host.chat))
    loads: list[Any] = []

    class Recording(QTextDocument):
        def loadResource(self, kind: int, name: Any) -> Any:  # noqa: N802
            loads.append(name)
            return super().loadResource(kind, name)

    doc = Recording()
    doc.setHtml(render(hostile))
    assert "<img" in doc.toPlainText() and "<b>bold?</b>" in doc.toPlainText()
    assert "click" in doc.toPlainText()  # the words stay; the javascript: link does not
    assert link_targets(doc) == ["https://example.org"]
    assert loads == []


def link_targets(doc: QTextDocument) -> list[str]:
    """Every link target in ``doc``, in order."""
    targets = []
    block = doc.begin()
    while block.isValid():
        fragments = block.begin()
        while not fragments.atEnd():
            fragment = fragments.fragment()
            if fragment.isValid() and fragment.charFormat().isAnchor():
                targets.append(fragment.charFormat().anchorHref())
            fragments += 1
        block = block.next()
    return targets


async def test_quitting_as_host_closes_the_room_for_guests(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    host = await hosted(prefs, keys, cleanup)
    guest = await joined(room_url(host), "Sam", prefs, keys, cleanup)
    await host.shutdown()
    assert guest.chat is not None
    await until(lambda: "closed the room" in guest.chat.banner.text())


@pytest.fixture
async def isolated_discovery() -> AsyncIterator[Discovery]:
    if not os.environ.get("GPTGROUP_TEST_NETNS"):
        if os.environ.get("GPTGROUP_REQUIRE_NETNS") == "1":
            pytest.fail("GPTGROUP_REQUIRE_NETNS=1 but the suite is not in a private namespace")
        pytest.skip("discovery runs only in the private network namespace make test provides")
    discovery = Discovery()
    await discovery.start()
    yield discovery
    await discovery.close()


async def test_the_lobby_lists_a_room_and_its_count(
    isolated_discovery: Discovery, prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    room = RoomHost(RoomConfig(name="Lobby test"), bind="127.0.0.1", port=0,
                    discovery=isolated_discovery)  # fmt: skip
    await room.start()
    cleanup.append(room)
    lobby = MainWindow(prefs=prefs, keys=keys)
    cleanup.append(lobby)
    lobby.show()
    await lobby.start()
    await until(lambda: lobby.rooms.rowCount() == 1, what="the room in the list")
    assert lobby.lobby.stack.currentWidget() is lobby.lobby.list
    assert lobby.rooms.room(0).name == "Lobby test" and lobby.rooms.room(0).participants == 0
    guest = await joined(room.local_url(), "Sam", prefs, keys, cleanup)
    assert guest.chat is not None
    await until(lambda: lobby.rooms.room(0).participants == 1, what="the count to update")


async def test_closing_the_window_closes_the_room_then_the_app(
    prefs: Preferences, keys: KeyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole life of the app: closing the window as host tells the guests and returns."""
    from core.client import Ended, RoomClient  # noqa: PLC0415
    from desktop import main_window  # noqa: PLC0415
    from desktop.app import make_application, run_app  # noqa: PLC0415
    from desktop.session import RoomSession  # noqa: PLC0415

    monkeypatch.setattr(main_window, "confirm_quitting_as_host", lambda _parent, _save: True)
    monkeypatch.setattr(main_window, "Preferences", lambda: prefs)
    app = make_application([])
    before = set(app.topLevelWidgets())
    running = asyncio.ensure_future(run_app(app, discover=False))

    def new_window() -> MainWindow | None:
        fresh = [w for w in app.topLevelWidgets() if isinstance(w, MainWindow) and w not in before]
        return fresh[0] if fresh else None

    try:
        await until(new_window)
        window = new_window()
        assert window is not None
        host = await window._open(RoomConfig(name="Last orders"), None)
        assert host is not None
        ana = RoomClient(host.local_url(), "Ana", host_key=host.host_key)
        window._enter(RoomSession(ana, await ana.connect(), host=host))
        guest = RoomClient(host.local_url(), "Sam")
        await guest.connect()
        ended: list[Ended] = []

        async def watch() -> None:
            async for event in guest.events():
                if isinstance(event, Ended):
                    ended.append(event)

        watcher = asyncio.ensure_future(watch())
        QTimer.singleShot(0, window.close)  # the window's close button
        await asyncio.wait_for(running, 10)  # run_app returns: no hang, no stopped loop
        await until(lambda: ended, what="the guest to be told")
        assert ended[0].reason == "closed_by_host"
        watcher.cancel()
    finally:
        app.setQuitOnLastWindowClosed(True)
        if not running.done():
            running.cancel()


async def test_a_waiting_question_can_be_withdrawn(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], fake: FakeOpenAI
) -> None:
    fake.script(Reply(["long "] * 100, delay=0.05))
    host = await ai_window(prefs, keys, cleanup, fake)
    guest = await joined(room_url(host), "Sam", prefs, keys, cleanup)
    assert host.chat is not None and guest.chat is not None
    host.chat.send("@assistant keep busy")
    client = guest.session.client  # type: ignore[union-attr]
    await until(lambda: client.assistant_state is not None
                and client.assistant_state.answering is not None)  # fmt: skip
    guest.chat.send("@assistant my turn next?")
    page = guest.chat
    await until(page.stop_button.isVisible)
    assert page.stop_button.text() == "Withdraw my question"
    page.stop_button.click()
    await until(lambda: not page.session.client.assistant_state.waiting)
    assert not page.stop_button.isVisible()
