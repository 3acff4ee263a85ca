"""What makes the chat feel finished: times that say "2 min ago" and keep saying the truth,
the exact time on hover, Ctrl+C on the selected messages, and long messages folded under
"Show more" (by mouse and keyboard), at the cost of the rows in view only.

Rows come from the room's own events, shown by the app's real model and view; the view's
clock is a fake one that the tests move on (no sleeps).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtGui import QGuiApplication, QHelpEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QToolTip

import desktop.delegate
from core.protocol import (
    AnswerDelta,
    AnswerFinished,
    AnswerStarted,
    MessagePosted,
    ParticipantId,
    ParticipantInfo,
    ParticipantJoined,
)
from desktop.chat_view import ChatView
from desktop.delegate import MessageDelegate, RowLayout
from desktop.models import MessageListModel, Roles
from desktop.relative_time import (
    TICK_SECONDS,
    clock_stamp,
    exact_stamp,
    relative_stamp,
    until_next_tick,
)

START = 1_750_000_000.0  # a weekday afternoon, in any time zone
LONG = (
    "\n\n".join(f"Paragraph {i}: " + "words that wrap across the column " * 8 for i in range(40))
    + "\n\nThe end, with [the notes](https://notes.example/end).\n\n```python\nanswer = 42\n```"
)


class Clock:
    """The time now, as the tests say."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def chat(qtbot: Any, clock: Clock) -> tuple[MessageListModel, ChatView]:
    """A transcript shown in a chat view on the fake clock, 700 by 500, as Ana (``p1``)."""
    model = MessageListModel()
    me = ParticipantId("p1")
    model.transcript.set_participants({me: ParticipantInfo(me, "Ana", "host")}, me)
    view = ChatView(clock=clock)
    qtbot.addWidget(view)
    view.setModel(model)
    view.resize(700, 500)
    view.show()
    return model, view


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def settle(model: MessageListModel) -> None:
    model.flush_updates()
    for _ in range(2):
        QApplication.processEvents()


def layout(view: ChatView, model: MessageListModel, row: int) -> RowLayout:
    delegate = view.itemDelegate()
    assert isinstance(delegate, MessageDelegate)
    found = delegate.layout_of(view, model.index(row))
    assert found is not None
    return found


def click(view: ChatView, at: QPoint) -> None:
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, at)  # fmt: skip


def hover(view: ChatView, at: QPoint) -> str:
    """What hovering ``at`` (viewport coordinates) shows as a tooltip."""
    QToolTip.hideText()
    event = QHelpEvent(QEvent.Type.ToolTip, at, view.viewport().mapToGlobal(at))
    QApplication.sendEvent(view.viewport(), event)
    return QToolTip.text()


# -- relative times --------------------------------------------------------------------------


def test_the_words_for_a_time_go_from_now_to_the_date(utc: None) -> None:
    noon = 1_750_075_200.0  # 2025-06-16 12:00 UTC, a Monday
    assert relative_stamp(noon + 5, noon) == "now"  # a clock a little ahead of ours
    assert relative_stamp(noon - 59, noon) == "now"
    assert relative_stamp(noon - 60, noon) == "1 min ago"
    assert relative_stamp(noon - 59 * 60, noon) == "59 min ago"
    assert relative_stamp(noon - 3600, noon) == "1 h ago"
    assert relative_stamp(noon - 3 * 3600 - 60, noon) == "08:59"
    assert relative_stamp(noon - 15 * 3600, noon) == "yesterday, 21:00"
    assert relative_stamp(noon - 3 * 86_400, noon) == "13 Jun, 12:00"
    assert relative_stamp(noon - 200 * 86_400, noon) == "28 Nov 2024"
    assert exact_stamp(noon - 1) == "Monday 16 June 2025, 11:59:59"
    assert clock_stamp(noon - 60, noon) == "11:59"
    assert clock_stamp(noon - 86_400, noon) == "15 Jun, 12:00"
    assert until_next_tick(noon + 10) == TICK_SECONDS - 10


def test_times_change_as_the_clock_advances_and_only_changed_rows_repaint(
    chat: tuple[MessageListModel, ChatView], clock: Clock
) -> None:
    model, view = chat
    model.apply(MessagePosted(1, START - 3600, "p2", "Sam", "an hour ago"))
    model.apply(ParticipantJoined(2, START - 30, ParticipantInfo("p3", "Kim", "guest")))
    model.apply(MessagePosted(3, START - 10, "p2", "Sam", "just now, after Kim joined"))
    settle(model)
    header = layout(view, model, 2).header
    assert header is not None and header.stamp == "now"
    assert layout(view, model, 1).line.endswith("·  now")
    assert view.times_timer.isActive()
    assert view.times_timer.remainingTime() <= TICK_SECONDS * 1000

    before = view.viewport().grab(header.stamp_rect).toImage()
    clock.now += 130
    # The first row still says "1 h ago"; the other two have changed.
    assert view.refresh_times() == 2
    settle(model)
    header = layout(view, model, 2).header
    assert header is not None and header.stamp == "2 min ago"
    assert layout(view, model, 1).line.endswith("·  2 min ago")
    assert view.viewport().grab(header.stamp_rect).toImage() != before  # painted again
    first = layout(view, model, 0).header
    assert first is not None and first.stamp == "1 h ago"
    assert view.refresh_times() == 0  # nothing changed since


def test_hovering_a_time_shows_the_exact_time(chat: tuple[MessageListModel, ChatView]) -> None:
    model, view = chat
    model.apply(MessagePosted(1, START - 125, "p2", "Sam", "hello"))
    model.apply(ParticipantJoined(2, START - 65, ParticipantInfo("p3", "Kim", "guest")))
    settle(model)
    header = layout(view, model, 0).header
    assert header is not None and header.stamp == "2 min ago"
    assert hover(view, header.stamp_rect.center()) == exact_stamp(START - 125)
    assert hover(view, layout(view, model, 1).line_rect.center()) == exact_stamp(START - 65)
    # Anywhere else in a message, its author and the exact time.
    tip = model.index(0).data(Qt.ItemDataRole.ToolTipRole)
    assert "Sam" in tip and exact_stamp(START - 125) in tip


# -- copying ---------------------------------------------------------------------------------


def test_ctrl_c_copies_what_the_keyboard_selected(
    chat: tuple[MessageListModel, ChatView], clock: Clock
) -> None:
    model, view = chat
    model.apply(MessagePosted(1, START - 120, "p2", "Sam", "first **line**\nsecond line"))
    model.apply(MessagePosted(2, START - 60, "p1", "Ana", "my answer"))
    model.apply(MessagePosted(3, START - 30, "p2", "Sam", "and a third"))
    settle(model)
    clipboard = QGuiApplication.clipboard()
    view.setFocus()
    QTest.keyClick(view, Qt.Key.Key_Home)  # the first message, selected
    QTest.keyClick(view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert clipboard.text() == "first **line**\nsecond line"  # as it was written

    QTest.keyClick(view, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    QTest.keyClick(view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    first, second = clock_stamp(START - 120, START), clock_stamp(START - 60, START)
    assert clipboard.text() == (
        f"Sam ({first}): first **line**\nsecond line\nAna ({second}): my answer"
    )
    # The menu of a selected row offers the same.
    menu = view.message_menu(view.visualRect(model.index(1)).center())
    assert menu is not None
    [copy] = [a for a in menu.actions() if a.text() == "Copy 2 selected messages"]
    clipboard.setText("before")
    copy.trigger()
    assert clipboard.text().startswith(f"Sam ({first}): first")
    menu.close()


# -- Show more -------------------------------------------------------------------------------


def test_a_long_message_folds_and_unfolds_by_mouse(
    chat: tuple[MessageListModel, ChatView],
) -> None:
    model, view = chat
    model.apply(MessagePosted(1, START, "p2", "Sam", LONG))
    settle(model)
    folded = layout(view, model, 0)
    assert folded.folded and folded.toggle_words == "Show more"
    assert folded.links() == [] and folded.chips == ()  # below the fold: not targets
    assert view.visualRect(model.index(0)).height() < view.viewport().height()
    assert not model.index(0).data(Roles.EXPANDED)

    click(view, folded.toggle.center())
    settle(model)
    whole = layout(view, model, 0)
    assert not whole.folded and whole.toggle_words == "Show less"
    assert [href for _t, href, _r in whole.links()] == ["https://notes.example/end"]
    assert len(whole.chips) == 1
    assert view.visualRect(model.index(0)).height() > 3 * folded.height
    assert model.index(0).data(Roles.EXPANDED)
    # Its top stayed where it was; "Show less" is at its bottom, scrolled to.
    assert view.visualRect(model.index(0)).top() == folded.frame.top() - 4
    bar = view.verticalScrollBar()
    bar.setValue(bar.maximum())
    QApplication.processEvents()
    click(view, layout(view, model, 0).toggle.center())
    settle(model)
    again = layout(view, model, 0)
    assert again.folded and again.height == folded.height
    assert view.viewport().rect().contains(again.toggle)  # the row is in view again


def test_a_long_message_folds_and_unfolds_by_keyboard(
    chat: tuple[MessageListModel, ChatView],
) -> None:
    model, view = chat
    model.apply(MessagePosted(1, START, "p2", "Sam", "short"))
    model.apply(MessagePosted(2, START, "p3", "Kim", LONG))
    settle(model)
    view.setFocus()
    QTest.keyClick(view, Qt.Key.Key_Home)
    QTest.keyClick(view, Qt.Key.Key_End)
    assert view.currentIndex().row() == 1 and layout(view, model, 1).folded
    QTest.keyClick(view, Qt.Key.Key_Return)
    assert not layout(view, model, 1).folded
    QTest.keyClick(view, Qt.Key.Key_Space)
    assert layout(view, model, 1).folded
    QTest.keyClick(view, Qt.Key.Key_Up)  # a short message: Enter does nothing to it
    QTest.keyClick(view, Qt.Key.Key_Return)
    assert layout(view, model, 0).toggle_words == "" and layout(view, model, 1).folded
    menu = view.message_menu(view.visualRect(model.index(1)).center())
    assert menu is not None
    [more] = [a for a in menu.actions() if a.text() == "Show more"]
    more.trigger()
    assert not layout(view, model, 1).folded
    menu.close()


def test_an_answer_is_never_folded_while_it_streams(
    chat: tuple[MessageListModel, ChatView],
) -> None:
    model, view = chat
    model.apply(MessagePosted(1, START, "p1", "Ana", "@assistant tell me everything"))
    model.apply(AnswerStarted(2, START, "a1", 1, "p1", "Ana", "Robo", "m"))
    model.apply(AnswerDelta("a1", 0, LONG))
    settle(model)
    streaming = layout(view, model, 1)
    assert not streaming.folded and streaming.toggle_words == ""
    model.apply(AnswerFinished(3, START, "a1", LONG, "complete", "m"))
    settle(model)
    # Written while we watched: it stays whole, and can be folded now.
    assert layout(view, model, 1).toggle_words == "Show less"


def test_find_can_reveal_a_folded_row(chat: tuple[MessageListModel, ChatView]) -> None:
    model, view = chat
    model.apply(MessagePosted(1, START, "p2", "Sam", LONG))
    for seq in range(2, 40):
        model.apply(MessagePosted(seq, START, "p3", "Kim", f"message {seq}"))
    settle(model)
    assert layout(view, model, 0).folded
    assert not view.viewport().rect().intersects(view.visualRect(model.index(0)))
    assert view.reveal(model.index(0))
    settle(model)
    assert not layout(view, model, 0).folded
    assert view.visualRect(model.index(0)).top() == 0  # taller than the view: its top
    assert not view.following


# -- cost ------------------------------------------------------------------------------------


def test_2000_messages_tick_at_the_cost_of_the_rows_in_view(
    chat: tuple[MessageListModel, ChatView], clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, view = chat
    for seq in range(1, 2001):
        model.apply(MessagePosted(seq, START - 2000 + seq, f"p{2 + seq % 3}", "Someone",
                                  LONG if seq % 50 == 0 else f"message {seq}"))  # fmt: skip
        if seq % 200 == 0:
            QApplication.processEvents()
    settle(model)
    in_view = sum(
        1 for row in range(model.rowCount())
        if view.viewport().rect().intersects(view.visualRect(model.index(row)))
    )  # fmt: skip
    assert 0 < in_view < 40
    laid_out: list[str] = []
    painted: list[int] = []
    real_layout, real_paint = desktop.delegate.row_layout, MessageDelegate._paint_message

    def counting_layout(entry: Any, *args: Any, **kwargs: Any) -> RowLayout:
        laid_out.append(entry.key)
        return real_layout(entry, *args, **kwargs)

    def counting_paint(self: MessageDelegate, *args: Any) -> None:
        painted.append(args[2].seq)  # (painter, option, entry, layout, colours)
        real_paint(self, *args)

    monkeypatch.setattr(desktop.delegate, "row_layout", counting_layout)
    monkeypatch.setattr(MessageDelegate, "_paint_message", counting_paint)
    clock.now += 3600  # every row's words change
    assert view.refresh_times() == in_view
    settle(model)
    assert 0 < len(set(painted)) <= in_view and len(painted) <= 2 * in_view
    assert 0 < len(laid_out) <= in_view
    painted.clear()
    laid_out.clear()
    assert view.refresh_times() == 0  # a tick that changes nothing costs nothing
    settle(model)
    assert painted == [] and laid_out == []
