"""The app with the keyboard only, and with a screen reader.

A person hosts a room, another joins it from a second window, they write, stop an answer
and leave, with key presses alone (QTest key events sent to whatever has the focus, never
a click or a call that stands in for one); on every page and dialog on the way, every
control the keyboard can reach has a name a screen reader says. Then each shortcut of the
room (F1 lists them) does what the list says, Esc never taking the place of a menu's, the
names offered's or the find bar's, and the transcript announces what arrives, once.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAccessible, QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QMenu,
    QMessageBox,
    QWidget,
)

from core.protocol import (
    AnswerDelta,
    AnswerFinished,
    AnswerId,
    AnswerStarted,
    MessagePosted,
    ParticipantId,
)
from core.transcript import Entry
from desktop import text_size
from desktop.chat_page import ChatPage
from desktop.chat_view import ChatView
from desktop.find_bar import FindBar, matching_rows
from desktop.host_dialog import HostDialog
from desktop.join_dialogs import AddressDialog, DisclosureDialog, JoinDialog
from desktop.main_window import MainWindow
from desktop.models import MessageListModel
from desktop.relative_time import exact_stamp
from desktop.settings import KeyStore, Preferences
from desktop.shortcuts_dialog import ShortcutsDialog
from desktop.shortcuts_dialog import keys as shown_keys
from tests.desktop.conftest import until
from tests.desktop.flows import hosted, joined, loopback_link, room_url, texts, unfenced
from tests.desktop.test_app import ai_window
from tests.desktop.test_row_features import LONG, START
from tests.fake_openai import FakeOpenAI, Reply

Key = Qt.Key
Mod = Qt.KeyboardModifier
NO_MOD = Mod.NoModifier
W = TypeVar("W", bound=QWidget)


@pytest.fixture
async def fake() -> Any:
    async with FakeOpenAI() as server:
        yield server


@pytest.fixture(autouse=True)
def usual_text_size() -> Iterator[None]:
    """The text size is the application's: back to the usual one after each test."""
    yield
    controller = text_size.controller()
    if controller is not None:
        controller.use_preferences(None)
        controller.set_size(text_size.DEFAULT_SIZE, remember=False)


# ----------------------------------------------------------------- keys and names


def focused() -> QWidget:
    widget = QApplication.focusWidget()
    assert widget is not None, "nothing has the keyboard focus"
    return widget


def press(key: Key, modifiers: Mod = NO_MOD, times: int = 1) -> None:
    """Press ``key`` as a person would: to the menu or list of choices open, if any (they
    take every key while they are up), else where the keyboard focus is."""
    for _ in range(times):
        QTest.keyClick(QApplication.activePopupWidget() or focused(), key, modifiers)


def type_text(text: str) -> None:
    QTest.keyClicks(focused(), text)


def replace_text(text: str) -> None:
    """Select what the focused field holds and type ``text`` over it."""
    press(Key.Key_A, Mod.ControlModifier)
    type_text(text)


def tab_to(wanted: Callable[[QWidget], bool], what: str, limit: int = 60) -> QWidget:
    """Press Tab until the focus is on a widget ``wanted`` accepts."""
    for _ in range(limit):
        if wanted(focused()):
            return focused()
        press(Key.Key_Tab)
    raise AssertionError(f"Tab never reached {what}; last on {focused()!r}")


def tab_to_widget(widget: QWidget, what: str) -> None:
    tab_to(lambda w: w is widget, what)


def later(action: Callable[[], None]) -> None:
    """Do ``action`` from the event loop: a key that opens a dialog with ``exec()`` waits
    there until the dialog closes, and must not wait in the test."""
    QTimer.singleShot(0, action)


def spoken_name(widget: QWidget) -> str:
    """What a screen reader says a control is: its accessible name (set, or the visible
    text Qt takes for it), or else the text of the label Qt says labels it."""
    face = QAccessible.queryAccessibleInterface(widget)
    assert face is not None
    name = face.text(QAccessible.Text.Name).strip()
    if name:
        return name
    for other, relation in face.relations():
        if relation & QAccessible.RelationFlag.Label:
            label = other.text(QAccessible.Text.Name).strip()
            if label:
                return label
    return ""


def reachable(window: QWidget) -> list[QWidget]:
    """The controls of ``window`` the keyboard can reach now: visible, enabled, taking the
    focus by Tab (a widget that hands its focus to another counts as that one, and the text
    field inside a spin box as the spin box)."""
    found = []
    for widget in [window, *window.findChildren(QWidget)]:
        if not (widget.isVisible() and widget.isEnabled() and widget.window() is window):
            continue
        if not widget.focusPolicy() & Qt.FocusPolicy.TabFocus or widget.focusProxy():
            continue
        if isinstance(widget.parentWidget(), QAbstractSpinBox):
            continue
        found.append(widget)
    return found


def check_names(window: QWidget, where: str) -> list[QWidget]:
    """Every control the keyboard reaches in ``window`` has a name; they are returned."""
    controls = reachable(window)
    assert controls, f"nothing to reach in {where}"
    nameless = [f"{type(w).__name__} {w.objectName()!r}" for w in controls if not spoken_name(w)]
    assert nameless == [], f"controls without a name in {where}: {nameless}"
    return controls


async def activated(window: QWidget) -> None:
    """Make ``window`` the active one, as the window system does when a dialog over it
    closes, or when the person switches to it."""
    window.activateWindow()
    await until(lambda: QApplication.activeWindow() is window, what="the window active")


def modal() -> QWidget | None:
    return QApplication.activeModalWidget()


def has_focus_in(widget: QWidget) -> bool:
    found = QApplication.focusWidget()
    return found is not None and (found is widget or widget.isAncestorOf(found))


async def dialog_open(kind: type[W]) -> W:
    """The dialog of ``kind`` once it is open with the keyboard in it."""
    await until(lambda: isinstance(modal(), kind), what=f"a {kind.__name__}")
    dialog = modal()
    assert isinstance(dialog, kind)
    await until(lambda: has_focus_in(dialog), what=f"the focus in the {kind.__name__}")
    return dialog


def answers(page: ChatPage) -> list[Entry]:
    return [e for e in page.model.transcript.entries if e.kind == "answer"]


# ----------------------------------------------------------------- the walk


async def test_host_join_send_stop_and_leave_with_the_keyboard_alone(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], fake: FakeOpenAI
) -> None:
    fake.script(Reply([f"word{i} " for i in range(300)], delay=0.05))
    # The host's window, on the rooms list.
    host = MainWindow(prefs=prefs, keys=keys, discover=False)
    cleanup.append(host)
    host.show()
    await activated(host)
    check_names(host, "the rooms list")
    tab_to_widget(host.lobby.host_button, "Host a room…")
    press(Key.Key_Space)

    # The host dialog: a room with the fake assistant, a room code as made.
    dialog = await dialog_open(HostDialog)
    check_names(dialog, "the host dialog")
    tab_to_widget(dialog.room_name, "the room's name")
    replace_text("Keys room")
    tab_to_widget(dialog.your_name, "your name")
    replace_text("Ana")
    tab_to_widget(dialog.provider, "the provider")
    while dialog.provider.currentData() != "compatible":
        press(Key.Key_Down)
    check_names(dialog, "the host dialog, with an assistant")
    tab_to_widget(dialog.base_url, "the server's address")
    replace_text(fake.base_url)
    tab_to(lambda w: dialog.model.isAncestorOf(w) or w is dialog.model, "the model")
    replace_text("llama3.2")
    open_button = dialog.buttons.button(dialog.buttons.StandardButton.Ok)
    tab_to_widget(open_button, "Open the room")
    press(Key.Key_Space)
    await until(lambda: host.chat is not None, what="the room open")
    page = host.chat
    assert page is not None and host.session is not None
    await activated(host)  # the offscreen platform gives no window back its activation
    assert focused() is page.composer
    check_names(host, "the host's room")
    code = host.session.room_code  # read out to the guest
    assert code

    # The guest's window joins by the room's link, typed.
    guest = MainWindow(prefs=prefs, keys=keys, discover=False)
    cleanup.append(guest)
    guest.show()
    await activated(guest)
    tab_to_widget(guest.lobby.address_button, "Join by address or link…")
    later(lambda: press(Key.Key_Space))  # the address dialog runs its own loop
    address = await dialog_open(AddressDialog)
    check_names(address, "the address dialog")
    type_text(loopback_link(host))
    press(Key.Key_Return)
    join = await dialog_open(JoinDialog)
    check_names(join, "the join dialog")
    assert focused() is join.name or join.isAncestorOf(focused())
    tab_to_widget(join.name, "your name")
    replace_text("Sam")
    tab_to_widget(join.code, "the room code")
    type_text(code)
    press(Key.Key_Return)
    notice = await dialog_open(DisclosureDialog)
    check_names(notice, "the notice before joining")
    assert focused() is notice.join_button  # the link vouched for the room
    press(Key.Key_Space)
    await until(lambda: guest.chat is not None, what="the guest in the room")
    sam = guest.chat
    assert sam is not None
    await activated(guest)
    assert focused() is sam.composer
    check_names(guest, "the guest's room")
    visited = {id(focused())}
    for _ in range(30):
        press(Key.Key_Tab)
        visited.add(id(focused()))
    for control in (sam.composer, sam.attach_button, sam.view,
                    sam.people_view, sam.leave_button, sam.save_button):  # fmt: skip
        assert id(control) in visited, f"Tab never reaches {control!r}"

    # Sam writes, asks the assistant, and stops the answer with Esc.
    press(Key.Key_L, Mod.ControlModifier)
    assert focused() is sam.composer
    type_text("hello from the keyboard")
    press(Key.Key_Return)
    await until(lambda: "hello from the keyboard" in texts(page), what="the host to read it")
    type_text("@assistant tell me a long story")
    press(Key.Key_Escape)  # the names offered after "@" go first
    press(Key.Key_Return)
    await until(lambda: bool(answers(sam)) and len(answers(sam)[0].text.split()) >= 3,
                what="the answer to start")  # fmt: skip
    await until(sam.stop_button.isVisible)
    press(Key.Key_Escape)
    await until(lambda: answers(sam)[0].status == "stopped", what="the answer stopped")
    assert len(answers(sam)[0].text.split()) < 300
    await activated(guest)  # offscreen, the names' popup stays the active window once shut

    # The find bar and the list of shortcuts, by keys, with names on all they show.
    press(Key.Key_F, Mod.ControlModifier)
    assert focused() is sam.find_bar.field
    check_names(guest, "the room with the find bar")
    type_text("KEYBOARD")
    assert sam.find_bar.count.text() == "1 of 1"
    press(Key.Key_Escape)
    assert focused() is sam.composer and not sam.find_bar.isVisible()
    press(Key.Key_F1)
    shortcuts = await dialog_open(ShortcutsDialog)
    check_names(shortcuts, "the list of shortcuts")
    press(Key.Key_Escape)
    await until(lambda: not shortcuts.isVisible())
    await activated(guest)
    assert focused() is sam.composer

    # Sam leaves, then the host closes the room, both through their question.
    tab_to_widget(sam.leave_button, "Leave")
    press(Key.Key_Space)
    box = await dialog_open(QMessageBox)
    check_names(box, "the question before leaving")
    assert focused().text() == "Stay"  # type: ignore[attr-defined]
    tab_to(lambda w: getattr(w, "text", lambda: "")() == "Leave and discard", "Leave")
    press(Key.Key_Space)
    await until(lambda: guest.chat is None, what="the guest back on the rooms list")
    await activated(guest)
    assert guest.lobby.isAncestorOf(focused())
    check_names(guest, "the rooms list, after leaving")
    await activated(host)
    tab_to_widget(page.leave_button, "Leave")
    press(Key.Key_Space)
    box = await dialog_open(QMessageBox)
    check_names(box, "the question before closing the room")
    tab_to(lambda w: getattr(w, "text", lambda: "")() == "Close the room and leave", "Close")
    press(Key.Key_Space)
    await until(lambda: host.chat is None, what="the host back on the rooms list")


# ----------------------------------------------------------------- Esc


async def test_esc_stops_an_answer_as_stop_would_and_never_in_a_menu_names_or_find(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], fake: FakeOpenAI
) -> None:
    fake.script(*[Reply([f"word{i} " for i in range(400)], delay=0.05) for _ in range(2)])
    host = await ai_window(prefs, keys, cleanup, fake)
    guest = await joined(room_url(host), "Sam", prefs, keys, cleanup)
    page, sam = host.chat, guest.chat
    assert page is not None and sam is not None
    page.send("@assistant a long story for Ana")
    await until(lambda: bool(answers(sam)) and answers(sam)[0].text, what="Ana's answer")

    def streaming() -> bool:
        return answers(page)[0].status == "streaming"

    # Sam may not stop Ana's answer: Esc does nothing, as there is no Stop for him.
    await activated(guest)
    press(Key.Key_L, Mod.ControlModifier)
    assert not sam.stop_button.isVisible()
    press(Key.Key_Escape)
    await activated(host)
    press(Key.Key_L, Mod.ControlModifier)
    # Esc in the host's menu closes the menu.
    tab_to_widget(page.host_menu_button, "Host controls")
    later(lambda: press(Key.Key_Space))  # the menu runs its own loop
    await until(lambda: isinstance(QApplication.activePopupWidget(), QMenu), what="the menu")
    press(Key.Key_Escape)
    await until(lambda: QApplication.activePopupWidget() is None, what="the menu shut")
    # Esc in the find bar closes the bar; Esc with names offered closes the names.
    await activated(host)
    press(Key.Key_F, Mod.ControlModifier)
    press(Key.Key_Escape)
    assert not page.find_bar.isVisible() and focused() is page.composer
    type_text("@Sa")
    assert page.composer.completion_popup_visible()
    press(Key.Key_Escape)
    assert not page.composer.completion_popup_visible()
    assert streaming() and len(answers(page)[0].text.split()) < 400
    press(Key.Key_A, Mod.ControlModifier)
    press(Key.Key_Delete)
    await activated(host)
    # Now Esc stops it, from the message box as from the transcript.
    press(Key.Key_Escape)
    await until(lambda: answers(page)[0].status == "stopped", what="Ana's answer stopped")

    # The host may stop anyone's answer.
    sam.send("@assistant and one for Sam")
    await until(lambda: len(answers(page)) == 2 and answers(page)[1].status == "streaming")
    await until(page.stop_button.isVisible)
    page.view.setFocus()
    press(Key.Key_Escape)
    await until(lambda: answers(page)[1].status == "stopped", what="Sam's answer stopped")


# ----------------------------------------------------------------- find


def test_find_matches_whatever_the_case_in_text_answers_and_file_names() -> None:
    rows = [
        Entry(key="m1", kind="message", text="Die Straße ist gesperrt", ts=0),
        Entry(key="e1", kind="event", text="strasse joined", ts=0),
        Entry(key="f1", kind="file", text="", ts=0, file_name="STRASSE-map.png"),
        Entry(key="a1", kind="answer", text="Take the other strasse", ts=0),
        Entry(key="n1", kind="notice", text="Nothing here", ts=0),
    ]
    assert matching_rows(rows, "STRASSE") == [0, 2, 3]  # not the "joined" line
    assert matching_rows(rows, "  ") == [] and matching_rows(rows, "tram") == []


def test_the_find_bar_goes_round_the_matches_and_unfolds_a_long_one(
    chat: tuple[MessageListModel, ChatView], qtbot: Any
) -> None:
    model, view = chat
    model.apply(MessagePosted(1, START, ParticipantId("p2"), "Sam", "The Budget is tight"))
    model.apply(MessagePosted(2, START, ParticipantId("p3"), "Kim", LONG + "\n\nbudget notes"))
    for seq in range(3, 40):
        model.apply(MessagePosted(seq, START, ParticipantId("p3"), "Kim", f"message {seq}"))
    model.apply(AnswerStarted(40, START, AnswerId("a1"), 39, ParticipantId("p2"), "Sam",
                              "Robo", "m"))  # fmt: skip
    model.apply(AnswerFinished(41, START, AnswerId("a1"), "Your budget: 12", "complete", "m"))
    model.flush_updates()
    bar = FindBar(view)
    qtbot.addWidget(bar)
    closed: list[bool] = []
    bar.closed.connect(lambda: closed.append(True))
    bar.open()
    QTest.keyClicks(bar.field, "BUDGET")
    matches = matching_rows(model.transcript.entries, "budget")
    assert bar.matches == len(matches) == 3
    long_key = model.entry(1).key
    assert not model.is_expanded(long_key)
    seen = []
    for _ in range(3):
        QTest.keyClick(bar.field, Key.Key_Return)
        row = bar.current_row
        assert row is not None and "budget" in searched(model, row).casefold()
        assert view.selectionModel().isSelected(view.window_index(model.index(row)))
        assert view.viewport().rect().intersects(view.visualRect(model.index(row)))
        seen.append(row)
        assert bar.count.text() == f"{matches.index(row) + 1} of 3"
    assert sorted(seen) == matches  # each once, round the end
    assert model.is_expanded(long_key)  # found in what the fold hid
    QTest.keyClick(bar.field, Key.Key_Return, Mod.ShiftModifier)
    assert bar.current_row == seen[1]
    QTest.keyClicks(bar.field, " notes")
    assert (bar.count.text(), bar.current_row) == ("1 of 1", 1)
    QTest.keyClicks(bar.field, "zzz")
    assert bar.count.text() == "No matches" and bar.field.accessibleDescription() == "No matches"
    QTest.keyClick(bar.field, Key.Key_Escape)
    assert closed == [True] and not bar.isVisible()


def searched(model: MessageListModel, row: int) -> str:
    entry = model.entry(row)
    return entry.file_name if entry.kind == "file" else entry.text


async def test_ctrl_f_finds_in_the_room_f3_goes_on_and_esc_goes_back_to_writing(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    host = await hosted(prefs, keys, cleanup)
    page = host.chat
    assert page is not None
    for text in ("budget one", "nothing to see", "Budget two"):
        page.send(text)
    await until(lambda: len(texts(page)) == 3 and not page.model.transcript.entries[-1].pending)
    await activated(host)
    page.view.setFocus()
    press(Key.Key_F, Mod.ControlModifier)
    assert page.find_bar.isVisible() and focused() is page.find_bar.field
    type_text("budget")
    first = page.find_bar.current_row
    press(Key.Key_F3)
    assert page.find_bar.current_row != first and page.find_bar.count.text().endswith("of 2")
    press(Key.Key_F3, Mod.ShiftModifier)
    assert page.find_bar.current_row == first
    page.send("a third budget")  # the count follows the conversation
    await until(lambda: page.find_bar.count.text().endswith("of 3"), what="3 matches")
    press(Key.Key_Escape)
    assert not page.find_bar.isVisible() and focused() is page.composer
    press(Key.Key_F3)  # opens it again, on the next match
    assert page.find_bar.isVisible() and page.find_bar.count.text().endswith("of 3")


# ----------------------------------------------------------------- moving, text size, F1


async def test_alt_up_and_down_move_between_messages_from_the_message_box(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    host = await hosted(prefs, keys, cleanup)
    page = host.chat
    assert page is not None
    page.send("first")
    await until(lambda: texts(page) == ["first"])
    guest = await joined(room_url(host), "Sam", prefs, keys, cleanup)  # a "joined" line
    assert guest.chat is not None
    guest.chat.send("second")
    await until(lambda: texts(page) == ["first", "second"])
    said: list[str] = []
    page.view.announced.connect(said.append)
    await activated(host)
    press(Key.Key_L, Mod.ControlModifier)

    def selected() -> str:
        rows = page.view.selectionModel().selectedRows()
        return str(rows[0].data(Qt.ItemDataRole.AccessibleTextRole)) if len(rows) == 1 else ""

    press(Key.Key_Up, Mod.AltModifier)
    assert unfenced(selected()) == "Sam: second" and focused() is page.composer
    assert [unfenced(s) for s in said] == ["Sam: second"]  # read out: the focus stayed
    press(Key.Key_Up, Mod.AltModifier)  # past "Sam joined"
    assert unfenced(selected()) == "Ana: first"
    press(Key.Key_Down, Mod.AltModifier, times=2)  # the last stays the last
    assert unfenced(selected()) == "Sam: second"
    page.view.setFocus()
    press(Key.Key_Up, Mod.AltModifier)
    assert unfenced(selected()) == "Ana: first" and len(said) == 3  # the focus reads it
    press(Key.Key_L, Mod.ControlModifier)
    assert focused() is page.composer


async def test_ctrl_plus_minus_and_0_change_the_text_size_and_remember_it(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    host = await hosted(prefs, keys, cleanup)
    page = host.chat
    assert page is not None
    said: list[str] = []
    page.view.announced.connect(said.append)
    usual = QApplication.font().pointSizeF()
    await activated(host)
    press(Key.Key_Plus, Mod.ControlModifier)
    assert prefs.text_size() == 115 and QApplication.font().pointSizeF() > usual
    press(Key.Key_Equal, Mod.ControlModifier)  # the same key, without Shift
    assert prefs.text_size() == 130
    press(Key.Key_Minus, Mod.ControlModifier)
    assert prefs.text_size() == 115
    press(Key.Key_0, Mod.ControlModifier)
    assert prefs.text_size() == 100 and QApplication.font().pointSizeF() == usual
    assert said == ["Text size 115%", "Text size 130%", "Text size 115%", "Text size 100%"]


async def test_f1_lists_the_keys_the_room_answers_to(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    prefs.set_send_key("ctrl_enter")
    host = await hosted(prefs, keys, cleanup)
    page = host.chat
    assert page is not None
    await activated(host)
    press(Key.Key_F1)
    dialog = await dialog_open(ShortcutsDialog)
    assert focused() is dialog.table
    listed = " | ".join(k for k, _what in dialog.rows())
    bound = {
        s.toString(QKeySequence.SequenceFormat.NativeText)
        for action in [*page.actions(), *page.view.actions()]
        for s in action.shortcuts()
    }
    for sequence in ("Ctrl+F", "F3", "Shift+F3", "Alt+Up", "Alt+Down", "Ctrl+L", "F1", "Ctrl+S",
                     "Ctrl++", "Ctrl+-", "Ctrl+0", "Ctrl+End"):  # fmt: skip
        native = QKeySequence(sequence).toString(QKeySequence.SequenceFormat.NativeText)
        assert native in bound, f"{sequence} is not bound in the room"
        assert shown_keys(sequence) in listed, f"{sequence} is not listed"
    rows = dialog.rows()
    assert (shown_keys("Ctrl+Return"), "Send the message") in rows  # as the person chose
    assert (shown_keys("Return"), "A new line in the message") in rows
    if sys.platform != "darwin":  # where Qt writes "Ctrl"
        assert shown_keys("Ctrl++", "Ctrl+Return") == "Ctrl+Plus / Ctrl+Enter"  # as said
    press(Key.Key_Escape)
    await until(lambda: not dialog.isVisible())


# ----------------------------------------------------------------- screen readers


def test_what_arrives_is_announced_once_finished_and_history_is_not(
    chat: tuple[MessageListModel, ChatView],
) -> None:
    model, view = chat
    said: list[str] = []
    view.announced.connect(said.append)
    sam, ana = ParticipantId("p2"), ParticipantId("p1")
    view.quiet_until(model.transcript.epoch, 2)  # what the welcome replays
    model.apply(MessagePosted(1, START, sam, "Sam", "from before you came"))
    model.apply(AnswerStarted(2, START, AnswerId("a0"), 1, sam, "Sam", "Robo", "m"))
    assert said == []
    model.apply(MessagePosted(3, START, sam, "Sam", "hello\nthere"))
    model.apply(MessagePosted(4, START, ana, "Ana", "my own words"))
    model.apply(AnswerStarted(5, START, AnswerId("a1"), 3, sam, "Sam", "Robo", "m"))
    text = ""
    for n in range(20):
        piece = f"word{n} "
        model.apply(AnswerDelta(AnswerId("a1"), len(text), piece))
        text += piece
        model.flush_updates()
    assert [unfenced(s) for s in said] == ["Sam: hello there"]  # not while it is written
    model.apply(AnswerFinished(6, START, AnswerId("a1"), text, "complete", "m"))
    model.apply(AnswerFinished(7, START, AnswerId("a0"), "late", "stopped", "m"))
    model.flush_updates()
    assert [unfenced(s) for s in said[1:]] == [
        f"Robo answered Sam: {text.strip()}",
        "Robo's answer was stopped: late",  # begun before, finished while we are here
    ]
    model.apply(AnswerStarted(8, START, AnswerId("a2"), 3, sam, "Sam", "Robo", "m",
                              regenerates=AnswerId("a1")))  # fmt: skip
    model.flush_updates()  # a1 changed ("regenerated below"): not news; a2 is being written
    assert len(said) == 3
    index = view.model().index(2, 0)
    assert unfenced(index.data(Qt.ItemDataRole.AccessibleTextRole)) == "Sam: hello\nthere"
    assert exact_stamp(START) in index.data(Qt.ItemDataRole.AccessibleDescriptionRole)
    QAccessible.setActive(True)  # as with a screen reader: the event goes to the platform
    try:
        model.apply(MessagePosted(9, START, sam, "Sam", "x" * 1000))
    finally:
        QAccessible.setActive(False)
    assert len(said[-1]) < 400 and said[-1].endswith("…")  # the row has the rest


async def test_the_replayed_history_is_not_announced_in_a_room(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    host = await hosted(prefs, keys, cleanup)
    assert host.chat is not None
    host.chat.send("said before Sam came")
    await until(lambda: texts(host.chat) == ["said before Sam came"])  # type: ignore[arg-type]
    guest = await joined(room_url(host), "Sam", prefs, keys, cleanup)
    sam = guest.chat
    assert sam is not None
    said: list[str] = []
    sam.view.announced.connect(said.append)
    await until(lambda: "said before Sam came" in texts(sam))
    host.chat.send("and after")
    await until(lambda: bool(said), what="an announcement")
    assert [unfenced(s) for s in said] == ["Ana: and after"]


async def test_the_lobby_answers_f1_and_the_text_size_keys_too(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    window = MainWindow(prefs=prefs, keys=keys, discover=False)
    cleanup.append(window)
    window.show()
    await activated(window)
    window.lobby.setFocus()
    before = prefs.text_size()
    press(Key.Key_Plus, Mod.ControlModifier)
    assert prefs.text_size() > before
    press(Key.Key_0, Mod.ControlModifier)
    assert prefs.text_size() == 100
    press(Key.Key_F1)
    dialog = await dialog_open(ShortcutsDialog)
    press(Key.Key_Escape)
    await until(lambda: not dialog.isVisible())
