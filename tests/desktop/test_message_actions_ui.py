"""Replies, edits, deletions, reactions and "Ask about this" in the app, as people use them:
two windows in a real room on loopback (a host and a guest), the message menu, clicks on a
quote and on reaction chips, the keys (Up, Esc, the menu key), the question before deleting,
tooltips and what a screen reader is told; and the fake assistant reading what a question
quotes."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from PySide6.QtCore import QEvent, QModelIndex, QPoint, Qt
from PySide6.QtGui import QHelpEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMenu, QMessageBox, QToolTip

from core.client import Queued, RoomClient
from core.protocol import (
    MessageEdited,
    MessageId,
    MessagePosted,
    ParticipantId,
    Quote,
    ReactionChanged,
)
from core.room import RoomConfig
from core.transcript import Entry
from desktop.chat_page import ChatPage
from desktop.chat_view import ChatView
from desktop.delegate import MessageDelegate, RowLayout
from desktop.main_window import MainWindow
from desktop.message_actions_ui import EARLIER_RUN, TOO_OLD
from desktop.models import MessageListModel
from desktop.reactions import EmojiDialog
from desktop.session import RoomSession
from desktop.settings import KeyStore, Preferences
from desktop.shortcuts_dialog import keys as shown_keys
from desktop.shortcuts_dialog import shortcut_sections
from tests.desktop.conftest import until
from tests.desktop.flows import hosted, joined, room_url, unfenced
from tests.desktop.hostile_checks import hostile_text, left_to_right, shows, tooltip_shows
from tests.desktop.test_app import ai_window
from tests.desktop.test_keyboard_only import activated, focused, press, tab_to_widget
from tests.fake_openai import FakeOpenAI, Reply

Key = Qt.Key


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


# ----------------------------------------------------------------- helpers


def page_of(window: MainWindow) -> ChatPage:
    assert window.chat is not None
    return window.chat


def message(page: ChatPage, text: str) -> Entry:
    """The posted message (or answer) whose text is ``text``."""
    found = [e for e in page.model.transcript.entries if e.text == text and e.seq is not None]
    assert found, f"no {text!r} in {[e.text for e in page.model.transcript.entries]}"
    return found[-1]


def was_edited(page: ChatPage, text: str) -> bool:
    """Whether a message now reads ``text`` after an edit."""
    return any(e.text == text and e.edited_at for e in page.model.transcript.entries)


async def posted(page: ChatPage, text: str) -> Entry:
    await until(
        lambda: any(e.text == text and e.seq for e in page.model.transcript.entries),
        what=f"{text!r} posted",
    )
    return message(page, text)


def source_index(page: ChatPage, entry: Entry) -> QModelIndex:
    row = page.model.transcript.index_of(entry.key)
    assert row is not None
    return page.model.index(row)


def layout_of(page: ChatPage, entry: Entry) -> RowLayout:
    """The row of ``entry`` as the view shows it now (view coordinates), scrolled into view."""
    index = source_index(page, entry)
    page.view.scrollTo(index)
    delegate = page.view.itemDelegate()
    assert isinstance(delegate, MessageDelegate)
    layout = delegate.layout_of(page.view, page.view.window_index(index))
    assert layout is not None
    return layout


def menu_for(page: ChatPage, entry: Entry) -> QMenu:
    index = source_index(page, entry)
    page.view.scrollTo(index)
    menu = page.view.message_menu(page.view.visualRect(index).center())
    assert menu is not None
    return menu


def choose(menu: QMenu, *path: str) -> None:
    """Trigger the menu's item ``path`` (through submenus), as a click would."""
    for n, words in enumerate(path):
        found = {a.text(): a for a in menu.actions()}
        assert words in found, f"no {words!r} in {list(found)}"
        action = found[words]
        assert action.isEnabled(), f"{words!r} is disabled: {action.toolTip()}"
        if n < len(path) - 1:
            sub = action.menu()
            assert isinstance(sub, QMenu)
            menu = sub
        else:
            action.trigger()


def tooltip_at(page: ChatPage, pos: QPoint) -> str:
    """What hovering ``pos`` of the transcript shows (as plain text)."""
    viewport = page.view.viewport()
    QToolTip.hideText()
    event = QHelpEvent(QEvent.Type.ToolTip, pos, viewport.mapToGlobal(pos))
    QApplication.sendEvent(viewport, event)
    shown = QToolTip.text()
    return unfenced(shown.replace("&amp;", "&").replace("<p>", "").replace("</p>", " ")).strip()


def counts(entry: Entry) -> dict[str, int]:
    return {emoji: len(who) for emoji, who in entry.reactions.items()}


def spoken(page: ChatPage, entry: Entry, role: Qt.ItemDataRole) -> str:
    window = page.view.window_index(source_index(page, entry))
    return unfenced(str(window.data(role)))


def modal_box() -> QMessageBox | None:
    widget = QApplication.activeModalWidget()
    return widget if isinstance(widget, QMessageBox) else None


def click_button(box: QMessageBox, text: str) -> None:
    found = [b for b in box.buttons() if b.text() == text]
    assert found, f"no {text!r} in {[b.text() for b in box.buttons()]}"
    found[0].click()


async def room_window(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], config: RoomConfig | None = None,
    *, url: str = "", name: str = "Ana",
) -> ChatPage:  # fmt: skip
    """A window hosting a room of ``config`` as Ana, or with ``url``, one in that room."""
    window = MainWindow(prefs=prefs, keys=keys, discover=False)
    cleanup.append(window)
    host = None
    if config is not None:
        host = await window._open(config, None)
        assert host is not None
        url = host.local_url()
    client = RoomClient(url, name, host_key=host.host_key if host is not None else None)
    window._enter(RoomSession(client, await client.connect(), host=host))
    window.show()
    return page_of(window)


async def two_windows(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> tuple[ChatPage, ChatPage]:
    """Ana hosts a room (through the host dialog), Sam joins it: their pages."""
    host = await hosted(prefs, keys, cleanup)
    guest = await joined(room_url(host), "Sam", prefs, keys, cleanup)
    return page_of(host), page_of(guest)


# ----------------------------------------------------------------- replies


async def test_a_reply_from_the_menu_quotes_and_its_quote_leads_to_the_original(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    ana, sam = await two_windows(prefs, keys, cleanup)
    sam.send("Lunch at noon?")
    original = await posted(ana, "Lunch at noon?")
    choose(menu_for(ana, original), "Reply")
    assert ana.context_bar.isVisible()
    assert unfenced(ana.context_bar.label.full_text()) == "Replying to Sam: Lunch at noon?"
    QTest.keyClicks(ana.composer, "Noon works")
    QTest.keyClick(ana.composer, Key.Key_Return)
    reply = await posted(sam, "Noon works")
    assert reply.reply_to is not None
    assert (reply.reply_to.author_name, reply.reply_to.text) == ("Sam", "Lunch at noon?")
    assert not ana.context_bar.isVisible() and ana.composer.context is None
    assert ana.composer.toPlainText() == ""
    assert spoken(sam, reply, Qt.ItemDataRole.AccessibleTextRole) == "Ana, reply to Sam: Noon works"

    # Many messages later the original is out of view: a click on the quote goes back to it.
    tall = "\n\n".join(f"line {n}" for n in range(8))
    for n in range(6):
        ana.send(f"filler {n}\n\n{tall}")
    await posted(sam, f"filler 5\n\n{tall}")
    sam.view.jump_to_latest()
    reply_row = layout_of(sam, reply)
    assert reply_row.quote.isValid()
    shown = unfenced(" ".join(reply_row.quote_words))
    assert shown == "Sam Lunch at noon?"
    assert "Reply to Sam: Lunch at noon?" in tooltip_at(sam, reply_row.quote.center())
    sam.view.jump_to_latest()
    assert (
        not sam.view.viewport().rect().intersects(sam.view.visualRect(source_index(sam, original)))
    )
    reply_row = layout_of(sam, reply)
    QTest.mouseClick(sam.view.viewport(), Qt.MouseButton.LeftButton, pos=reply_row.quote.center())
    assert sam.view.flashed_key == original.key
    assert sam.view.viewport().rect().intersects(sam.view.visualRect(source_index(sam, original)))
    assert sam.view.currentIndex() == sam.view.window_index(source_index(sam, original))
    await until(lambda: sam.view.flashed_key == "", what="the highlight to go")


async def test_a_quote_of_a_message_this_window_never_held_says_it_is_too_old(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    # Who joins later gets only the last few events: not the message replied to.
    ana = await room_window(prefs, keys, cleanup, RoomConfig(name="Short", history_on_join=3))
    ana.send("the first plan")
    first = await posted(ana, "the first plan")
    for n in range(5):
        ana.send(f"filler {n}")
    await posted(ana, "filler 4")
    host = ana.session.host
    assert host is not None
    sam = await room_window(prefs, keys, cleanup, url=host.local_url(), name="Sam")
    choose(menu_for(ana, first), "Reply")
    ana.send("still the plan")
    reply = await posted(sam, "still the plan")
    assert reply.reply_to is not None and reply.reply_to.text == "the first plan"
    assert sam.model.transcript.at_seq(first.seq or 0) is None
    QTest.mouseClick(sam.view.viewport(), Qt.MouseButton.LeftButton,
                     pos=layout_of(sam, reply).quote.center())  # fmt: skip
    assert sam.banner.text() == TOO_OLD
    assert sam.view.flashed_key == ""


async def test_the_reply_is_made_with_the_keyboard_alone(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    ana, sam = await two_windows(prefs, keys, cleanup)
    ana.send("Who brings the cake?")
    await posted(sam, "Who brings the cake?")
    window = sam.window()
    await activated(window)
    press(Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    press(Key.Key_Up, Qt.KeyboardModifier.AltModifier)  # the latest message, from the box
    tab_to_widget(sam.view, "the transcript")
    press(Key.Key_Menu)
    await until(lambda: isinstance(QApplication.activePopupWidget(), QMenu), what="the menu")
    menu = QApplication.activePopupWidget()
    assert isinstance(menu, QMenu) and menu.activeAction() is not None
    assert menu.activeAction().text() == "Reply"  # its first item, ready for Enter
    press(Key.Key_Return)
    await until(lambda: sam.composer.context is not None, what="reply mode")
    assert focused() is sam.composer
    QTest.keyClicks(focused(), "I do")
    press(Key.Key_Return)
    reply = await posted(ana, "I do")
    assert reply.reply_to is not None and reply.reply_to.text == "Who brings the cake?"


# ----------------------------------------------------------------- edits


async def test_up_edits_the_last_message_esc_cancels_and_enter_saves(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    ana, sam = await two_windows(prefs, keys, cleanup)
    ana.send("Helo all")
    await posted(sam, "Helo all")
    await activated(ana.window())
    ana.composer.setFocus()
    QTest.keyClick(ana.composer, Key.Key_Up)
    context = ana.composer.context
    assert context is not None and context.kind == "edit"
    assert ana.composer.toPlainText() == "Helo all"
    assert ana.context_bar.isVisible() and ana.context_bar.label.full_text() == (
        "Editing your message"
    )
    QTest.keyClick(ana.composer, Key.Key_Escape)  # nothing changes, the box is as it was
    assert ana.composer.context is None and ana.composer.toPlainText() == ""
    assert not ana.context_bar.isVisible()

    QTest.keyClicks(ana.composer, "half-typed")
    QTest.keyClick(ana.composer, Key.Key_Up)  # not empty: Up moves the cursor, no edit
    assert ana.composer.context is None
    ana.composer.clear()
    QTest.keyClick(ana.composer, Key.Key_Up)
    ana.composer.selectAll()
    QTest.keyClicks(ana.composer, "Hello all")
    QTest.keyClick(ana.composer, Key.Key_Return)
    await until(partial(was_edited, sam, "Hello all"), what="the edit")
    assert ana.composer.context is None and ana.composer.toPlainText() == ""
    edited = message(sam, "Hello all")
    assert [e.text for e in sam.model.transcript.entries if e.kind == "message"] == ["Hello all"]
    row = layout_of(sam, edited)
    assert row.edited.isValid()
    tip = tooltip_at(sam, row.edited.center())
    assert tip.startswith("Edited ") and "Before the edit: Helo all" in tip
    details = spoken(sam, edited, Qt.ItemDataRole.AccessibleDescriptionRole)
    assert "Edited" in details


async def test_esc_from_the_transcript_leaves_the_reply(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    ana, sam = await two_windows(prefs, keys, cleanup)
    sam.send("Anyone for coffee?")
    original = await posted(ana, "Anyone for coffee?")
    choose(menu_for(ana, original), "Reply")
    assert ana.composer.context is not None
    await activated(ana.window())
    ana.view.setFocus()
    await until(ana.view.hasFocus, what="the focus in the transcript")
    QTest.keyClick(ana.view, Key.Key_Escape)
    assert ana.composer.context is None and not ana.context_bar.isVisible()


async def test_a_message_of_an_earlier_run_of_the_room_can_only_be_read(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    ana, sam = await two_windows(prefs, keys, cleanup)
    sam.send("From the first run")
    old = await posted(ana, "From the first run")
    ana.model.transcript.new_room()  # what a room opened again in place starts
    assert [a.text() for a in menu_for(ana, old).actions()] == ["Copy text"]
    ana.message_actions.on_message_action(old.key, "react", "👍")  # its chips are drawn
    assert ana.banner.text() == EARLIER_RUN
    assert old.reactions == {}


async def test_an_edit_keeps_what_was_typed_before_it(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    ana, sam = await two_windows(prefs, keys, cleanup)
    ana.send("See you at 3")
    mine = await posted(ana, "See you at 3")
    ana.composer.setPlainText("a thought in progress")
    choose(menu_for(ana, mine), "Edit")
    assert ana.composer.toPlainText() == "See you at 3"
    ana.composer.setPlainText("See you at 4")
    ana.composer.submit()
    await until(partial(was_edited, sam, "See you at 4"), what="the edit")
    assert ana.composer.toPlainText() == "a thought in progress"
    assert ana.composer.context is None


async def test_an_edit_the_room_refuses_comes_back_to_the_box(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    ana = await room_window(prefs, keys, cleanup, RoomConfig(name="Quick edits"))
    host = ana.session.host
    assert host is not None
    ana.send("See you at 3")
    mine = await posted(ana, "See you at 3")
    choose(menu_for(ana, mine), "Edit")
    ana.composer.setPlainText("See you at 4")
    # While the new text was typed, the room's window for edits closed (as after 15 minutes).
    actions = host.server.room._actions
    actions._limits = dataclasses.replace(actions._limits, edit_window=0)
    ana.composer.submit()
    await until(lambda: ana.composer.context is not None, what="the edit back in the box")
    assert ana.composer.toPlainText() == "See you at 4"  # nothing typed is lost
    assert "does not allow editing" in ana.banner.text()
    assert message(ana, "See you at 3").edited_at is None


async def test_an_edit_whose_message_is_deleted_meanwhile_keeps_its_text(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    ana, sam = await two_windows(prefs, keys, cleanup)
    sam.send("Meet at the pier")
    theirs = await posted(ana, "Meet at the pier")
    mine = await posted(sam, "Meet at the pier")
    choose(menu_for(sam, mine), "Edit")
    sam.composer.setPlainText("Meet at the harbour")
    choose(menu_for(ana, theirs), "Delete…")  # the host deletes it while Sam types
    await until(lambda: modal_box() is not None, what="the question")
    box = modal_box()
    assert box is not None
    click_button(box, "Delete")
    await until(lambda: sam.composer.context is None, what="the edit bar closed")
    assert sam.composer.toPlainText() == "Meet at the harbour"  # nothing typed is lost
    assert "was deleted" in sam.banner.text()


async def test_edit_rights_follow_the_rooms_clock_not_this_computers(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    ana, _ = await two_windows(prefs, keys, cleanup)
    actions = ana.message_actions
    assert abs(actions.rights().now - time.time()) < 5
    # The room stamps our message an hour later than this computer's clock says: the room's
    # clock is an hour ahead, and the edit window is counted on it.
    you = ana.session.you
    actions.on_event(Queued(MessageId("c-skew"), "hello", time.time()))
    actions.on_event(MessagePosted(999, time.time() + 3600, you.id, you.name, "hello",
                                   MessageId("c-skew")))  # fmt: skip
    assert abs(actions.rights().now - (time.time() + 3600)) < 5


async def test_edit_is_offered_only_as_the_room_allows(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    ana = await room_window(prefs, keys, cleanup, RoomConfig(name="No edits", edit_window=0))
    host = ana.session.host
    assert host is not None
    sam_client = RoomClient(host.local_url(), "Sam")
    await sam_client.connect()
    cleanup.append(SimpleNamespace(close=sam_client.leave))
    ana.send("typo heer")
    mine = await posted(ana, "typo heer")
    await sam_client.send("from Sam")
    theirs = await posted(ana, "from Sam")
    actions = {a.text(): a for a in menu_for(ana, mine).actions()}
    assert not actions["Edit"].isEnabled()
    assert actions["Edit"].toolTip() == "This room does not allow editing."
    assert actions["Delete…"].isEnabled()
    theirs_menu = [a.text() for a in menu_for(ana, theirs).actions()]
    assert "Edit" not in theirs_menu and "Delete…" in theirs_menu  # the host deletes any
    assert "Ask about this" not in theirs_menu  # no assistant here
    ana.composer.setFocus()
    QTest.keyClick(ana.composer, Key.Key_Up)
    assert ana.composer.context is None
    assert ana.banner.text() == "This room does not allow editing."


# ----------------------------------------------------------------- deletions


async def test_deleting_asks_first_and_leaves_message_deleted_for_everyone(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    ana, sam = await two_windows(prefs, keys, cleanup)
    sam.send("oops, wrong room")
    mine = await posted(sam, "oops, wrong room")
    await posted(ana, "oops, wrong room")
    sam_menu = [a.text() for a in menu_for(sam, mine).actions()]
    assert "Delete…" in sam_menu and "Edit" in sam_menu
    choose(menu_for(sam, mine), "Delete…")
    await until(lambda: modal_box() is not None, what="the question")
    box = modal_box()
    assert box is not None
    assert "Delete your message for everyone?" in box.text()
    assert box.defaultButton().text() == "Cancel"  # a stray Enter deletes nothing
    click_button(box, "Cancel")
    assert not mine.deleted
    choose(menu_for(sam, mine), "Delete…")
    await until(lambda: modal_box() is not None, what="the question again")
    box = modal_box()
    assert box is not None
    click_button(box, "Delete")
    for page in (ana, sam):
        await until(partial(message_gone, page, mine.seq or 0), what="deleted for everyone")
        entry = page.model.transcript.at_seq(mine.seq or 0)
        assert entry is not None and entry.text == ""
        said = spoken(page, entry, Qt.ItemDataRole.AccessibleTextRole)
        assert said == "Sam: message deleted"
        assert (
            page.view.message_menu(page.view.visualRect(source_index(page, entry)).center()) is None
        )
        assert not layout_of(page, entry).reactions and not layout_of(page, entry).quote.isValid()


async def test_the_host_deletes_a_guest_message_and_a_guest_may_not(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    ana, sam = await two_windows(prefs, keys, cleanup)
    ana.send("from the host")
    hosts = await posted(sam, "from the host")
    assert "Delete…" not in [a.text() for a in menu_for(sam, hosts).actions()]
    sam.send("from a guest")
    guests = await posted(ana, "from a guest")
    choose(menu_for(ana, guests), "Delete…")
    await until(lambda: modal_box() is not None, what="the question")
    box = modal_box()
    assert box is not None and "Delete Sam's message for everyone?" in unfenced(box.text())
    click_button(box, "Delete")
    await until(lambda: message_gone(sam, guests.seq or 0), what="deleted for Sam")


def message_gone(page: ChatPage, seq: int) -> bool:
    entry = page.model.transcript.at_seq(seq)
    return entry is not None and entry.deleted


# ----------------------------------------------------------------- reactions


async def test_reactions_from_the_menu_and_the_chips_count_and_say_who(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    ana, sam = await two_windows(prefs, keys, cleanup)
    ana.send("Pizza tonight?")
    pizza = await posted(sam, "Pizza tonight?")
    ana_pizza = message(ana, "Pizza tonight?")
    choose(menu_for(ana, ana_pizza), "React", "👍")
    await until(lambda: counts(pizza) == {"👍": 1}, what="Ana's 👍 at Sam's")
    row = layout_of(sam, pizza)
    [(emoji, _shown, count, chip)] = row.reactions
    assert (emoji, count) == ("👍", "1")
    assert tooltip_at(sam, chip.center()) == "Ana reacted with 👍"
    QTest.mouseClick(sam.view.viewport(), Qt.MouseButton.LeftButton, pos=chip.center())
    await until(lambda: counts(ana_pizza) == {"👍": 2}, what="Sam's 👍 at Ana's")
    row = layout_of(sam, pizza)
    assert tooltip_at(sam, row.reactions[0][3].center()) == "You and Ana reacted with 👍"
    assert "Reactions: 👍 2 (yours)" in spoken(
        sam, pizza, Qt.ItemDataRole.AccessibleDescriptionRole
    )
    react = {a.text(): a for a in menu_for(sam, pizza).actions()}["React"].menu()
    assert isinstance(react, QMenu)
    assert [a.isChecked() for a in react.actions() if a.text() == "👍"] == [True]
    QTest.mouseClick(sam.view.viewport(), Qt.MouseButton.LeftButton,
                     pos=row.reactions[0][3].center())  # fmt: skip
    await until(lambda: counts(ana_pizza) == {"👍": 1}, what="Sam's 👍 taken back")

    # Any other emoji, through the small dialog; the room says what is not one.
    choose(menu_for(sam, pizza), "React", "Other emoji…")
    dialog = sam.message_actions.emoji_dialog
    assert isinstance(dialog, EmojiDialog)
    dialog.field.setText("yes")
    dialog.accept()
    await until(lambda: "one emoji" in sam.banner.text(), what="the room's refusal")
    choose(menu_for(sam, pizza), "React", "Other emoji…")
    dialog = sam.message_actions.emoji_dialog
    assert isinstance(dialog, EmojiDialog)
    dialog.field.setText(" 🍕 ")
    dialog.accept()
    await until(lambda: counts(ana_pizza) == {"👍": 1, "🍕": 1}, what="Sam's 🍕")
    row = layout_of(ana, ana_pizza)
    assert [chip[0] for chip in row.reactions] == ["👍", "🍕"] and row.add_reaction.isValid()


# ----------------------------------------------------------------- the assistant


async def test_ask_about_this_sends_the_quoted_message_to_the_assistant(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], fake: FakeOpenAI
) -> None:
    host = await ai_window(prefs, keys, cleanup, fake)
    guest = await joined(room_url(host), "Sam", prefs, keys, cleanup)
    ana, sam = page_of(host), page_of(guest)
    sam.send("The museum opens at 10 on Sundays.")
    claim = await posted(ana, "The museum opens at 10 on Sundays.")
    fake.script(Reply(["It opens ", "at 11."]))
    choose(menu_for(ana, claim), "Ask about this")
    assert ana.composer.toPlainText() == "@assistant "
    QTest.keyClicks(ana.composer, "is that right?")
    QTest.keyClick(ana.composer, Key.Key_Return)
    await until(lambda: fake.chat_requests, what="the question to reach the assistant")
    question = fake.chat_requests[-1].json["messages"][-1]["content"]
    assert question == (
        'Ana (replying to Sam\'s message: "The museum opens at 10 on Sundays."): '
        "@assistant is that right?"
    )
    for page in (ana, sam):
        await until(partial(answered, page), what="the answer, in both windows")
    asked = message(sam, "@assistant is that right?")
    assert asked.reply_to is not None and asked.reply_to.author_name == "Sam"
    answer = next(e for e in ana.model.transcript.entries if e.kind == "answer")
    menu = [a.text() for a in menu_for(ana, answer).actions()]
    assert "Reply" in menu and "Delete…" in menu  # the host may delete a finished answer


def answered(page: ChatPage) -> bool:
    return any(e.kind == "answer" and e.status == "complete" for e in page.model.transcript.entries)


# ----------------------------------------------------------------- shortcuts


def test_the_shortcuts_list_up_esc_and_the_menu_actions() -> None:
    rows = dict((what, keys) for _title, section in shortcut_sections() for keys, what in section)
    assert rows["In an empty message box: edit your last message"] == shown_keys("Up")
    assert rows["Cancel the reply or the edit being written"] == shown_keys("Esc")
    menu = next(what for what in rows if what.startswith("A message's menu"))
    for words in ("reply", "ask about it", "react", "edit", "delete", "go to the original"):
        assert words in menu


# ----------------------------------------------------------------- hostile text


@pytest.mark.parametrize("kind", ["dev-zero", "bold", "bidi-override", "10000-chars"])
def test_quotes_reactions_and_edits_show_network_text_as_plain_text(
    chat: tuple[MessageListModel, ChatView], kind: str, tmp_path: Path
) -> None:
    """A name, a quoted text, an earlier version and an emoji from a hostile room are
    drawn and tooltipped as plain text: nothing loaded, nothing reordered after them."""
    model, view = chat
    hostile = hostile_text(kind, tmp_path)
    sam = ParticipantId("p2")
    model.apply(MessagePosted(seq=1, ts=time.time(), author=sam, author_name=hostile,
                              text=hostile))  # fmt: skip
    quote = Quote(message=1, kind="message", author=sam, author_name=hostile, text=hostile)
    model.apply(MessagePosted(seq=2, ts=time.time(), author=sam, author_name="Sam",
                              text="a reply", reply_to=quote))  # fmt: skip
    model.apply(MessageEdited(seq=3, ts=time.time(), message=2, author=sam, author_name="Sam",
                              text="a reply, edited", previous=hostile))  # fmt: skip
    model.apply(ReactionChanged(seq=4, ts=time.time(), message=2, participant=sam,
                                name=hostile, emoji=hostile[:32], active=True))  # fmt: skip
    reply = model.transcript.at_seq(2)
    assert reply is not None and reply.text == "a reply, edited"
    delegate = view.itemDelegate()
    assert isinstance(delegate, MessageDelegate)
    index = view.window_index(model.index(model.transcript.index_of(reply.key) or 0))
    view.scrollTo(index)
    layout = delegate.layout_of(view, index)
    assert layout is not None and layout.quote.isValid() and layout.edited.isValid()
    name, text = layout.quote_words
    assert shows(name, hostile) and shows(text, hostile)
    for piece in (name, text):
        assert left_to_right(f"{piece} after", " after")  # nothing it holds reorders what follows
    [(_emoji, shown_emoji, count, chip)] = layout.reactions
    assert count == "1" and left_to_right(f"{shown_emoji} 1", " 1")
    for pos, said in ((layout.quote.center(), "Reply to"), (chip.center(), "reacted with"),
                      (layout.edited.center(), "Before the edit")):  # fmt: skip
        QToolTip.hideText()
        viewport = view.viewport()
        QApplication.sendEvent(viewport, QHelpEvent(QEvent.Type.ToolTip, pos,
                                                    viewport.mapToGlobal(pos)))  # fmt: skip
        plain, loaded = tooltip_shows(QToolTip.text())
        assert said in plain and shows(plain, hostile), (said, plain[:200])
        assert loaded == []
    spoken_text = str(index.data(Qt.ItemDataRole.AccessibleTextRole))
    assert unfenced(spoken_text).startswith("Sam, reply to") and shows(spoken_text, hostile)
