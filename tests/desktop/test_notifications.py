"""Notifications, the unread count and the attention hint, through real rooms and windows.

Whether a window is in front is the desktop's business (offscreen, none ever is), so each
test says it through :attr:`Notifier.is_in_front`; everything else is real: rooms on
loopback, the app's windows, the app's own event handling.
"""

from __future__ import annotations

from typing import Any

from desktop.main_window import MainWindow
from desktop.notifications import Notification, mentions
from desktop.settings import KeyStore, Preferences
from tests.desktop.conftest import until
from tests.desktop.flows import hosted, joined, room_url, texts, unfenced
from tests.desktop.test_app import ai_window
from tests.fake_openai import FakeOpenAI, Reply


def away(window: MainWindow) -> list[Notification]:
    """Put ``window`` behind others; returns the list its notifications are shown in."""
    notifier = window.notifier
    assert notifier is not None
    notifier.is_in_front = lambda: False
    return notifier.shown


async def test_a_mention_while_away_notifies_and_counts_unread(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    host = await hosted(prefs, keys, cleanup)
    sam = await joined(room_url(host), "Sam Lee", prefs, keys, cleanup)
    assert host.chat is not None and sam.chat is not None and sam.notifier is not None
    shown = away(sam)
    host.chat.send("lunch at noon?")
    host.chat.send("@sam lee are you coming?")
    await until(lambda: "@sam lee are you coming?" in texts(sam.chat))
    assert [unfenced(n.title) for n in shown] == ["Ana mentioned you"]  # only the mention
    assert sam.windowTitle().startswith("(2) ")  # both count as unread
    assert "coming" not in shown[0].text  # who and where, never what was written
    sam.notifier.window_activated()
    assert not sam.windowTitle().startswith("(")


async def test_nothing_is_notified_in_front_or_when_turned_off(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    host = await hosted(prefs, keys, cleanup)
    sam = await joined(room_url(host), "Sam", prefs, keys, cleanup)
    assert host.chat is not None and sam.chat is not None and sam.notifier is not None
    sam.notifier.is_in_front = lambda: True
    host.chat.send("@Sam in front")
    await until(lambda: "@Sam in front" in texts(sam.chat))
    assert sam.notifier.shown == [] and sam.notifier.unread == 0
    shown = away(sam)
    sam.chat.mute_button.click()  # this room only
    assert sam.notifier.muted and sam.chat.mute_button.text() == "Muted"
    host.chat.send("@Sam muted room")
    await until(lambda: "@Sam muted room" in texts(sam.chat))
    sam.chat.mute_button.click()
    assert not sam.notifier.muted
    prefs.set_notifications(False)  # everywhere
    host.chat.send("@Sam all off")
    await until(lambda: "@Sam all off" in texts(sam.chat))
    assert shown == [] and sam.notifier.unread == 2  # still counted as unread
    prefs.set_notifications(True)
    host.chat.send("@Sam on again")
    await until(lambda: len(shown) == 1)


async def test_my_answer_being_ready_notifies_me_only(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    async with FakeOpenAI() as fake:
        fake.script(Reply(["Lima", "."], delay=0.05))
        host = await ai_window(prefs, keys, cleanup, fake)
        sam = await joined(room_url(host), "Sam", prefs, keys, cleanup)
        assert host.chat is not None and sam.chat is not None
        host_shown, sam_shown = away(host), away(sam)
        sam.chat.send("@assistant capital of Peru?")
        await until(
            lambda: any(e.kind == "answer" and e.status == "complete"
                        for e in sam.chat.model.transcript.entries)  # type: ignore[union-attr]
        )  # fmt: skip
        assert [n.title for n in sam_shown] == ["Your answer is ready"]
        assert host_shown == []  # Ana did not ask
        assert "Lima" not in sam_shown[0].text


def test_a_mention_is_a_whole_word_in_any_case() -> None:
    assert mentions("hi @Sam!", "Sam") and mentions("@SAM LEE look", "Sam Lee")
    assert not mentions("hi @Samantha", "Sam") and not mentions("mail sam@example.com", "Sam")
    assert not mentions("hi Sam", "Sam") and not mentions("@", "")
