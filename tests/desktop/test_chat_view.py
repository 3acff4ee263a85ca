"""The chat view as a reader sees it: it follows the newest message at any length, leaves a
reader who scrolled up where they are (with a "N new messages" button), lands a join at the
latest message, copies code from each code block, and keeps lines readable in a wide window.

Rows come from the room's own events, as a client delivers them; the last tests run a real
room on loopback with an assistant answering through a fake OpenAI server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtGui import QContextMenuEvent, QFontMetrics, QGuiApplication, QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMenu

from core.ai.desk import AssistantConfig
from core.ai.provider import ChatProvider, ProviderSettings
from core.client import Queued, RoomClient
from core.protocol import (
    AnswerDelta,
    AnswerStarted,
    MessageId,
    MessagePosted,
    ParticipantInfo,
    ParticipantJoined,
    Usage,
)
from core.transcript import Entry
from desktop.chat_view import ChatView
from desktop.delegate import COLUMN_CHARS, MessageDelegate, footer_text
from desktop.models import MessageListModel
from desktop.session import RoomSession
from tests.conftest import RoomFactory
from tests.desktop.conftest import until
from tests.desktop.hostile_checks import HOSTILE, hostile_text, rich_text_risks
from tests.fake_openai import FakeOpenAI, Reply

TEXTS = [
    "Sounds good to me!",
    "Could we meet at **noon** instead? The `north` entrance is easier.",
    "Here is the list:\n- bread\n- cheese\n- something to drink",
    "@assistant what is a good vegetarian option near the station?",
]
TWO_BLOCKS = "First:\n\n```python\nprint('one')\n```\n\nThen:\n\n```bash\necho two\n```\n\nDone."


def posted(seq: int, text: str = "", author: str = "p2", name: str = "Sam",
           client_id: str | None = None) -> MessagePosted:  # fmt: skip
    return MessagePosted(seq, 1_000_000.0 + seq, author, name, text or TEXTS[seq % 4], client_id)


def fill(model: MessageListModel, first: int, last: int) -> None:
    for seq in range(first, last + 1):
        model.apply(posted(seq, author=f"p{2 + seq % 3}", name=f"Person {seq % 3}"))
        if seq % 200 == 0:
            QApplication.processEvents()
    settle(model)


def settle(model: MessageListModel) -> None:
    """What a frame does: the model's waiting updates, then layout and painting."""
    model.flush_updates()
    for _ in range(2):
        QApplication.processEvents()


def newest_in_view(model: MessageListModel, view: ChatView) -> bool:
    """Whether the last row's bottom is at the bottom of the view, in view."""
    rect = view.visualRect(model.index(model.rowCount() - 1))
    bottom = view.viewport().rect().bottom()
    return rect.isValid() and bottom - ChatView.SLACK <= rect.bottom() <= bottom + 1


def top_row(view: ChatView) -> tuple[int, int]:
    """The transcript row at the top of the view and where its top is."""
    index = view.indexAt(QPoint(view.viewport().width() // 2, 0))
    assert index.isValid()
    return view.first_shown + index.row(), view.visualRect(index).top()


def scroll_up(view: ChatView, pixels: int) -> None:
    bar = view.verticalScrollBar()
    bar.setValue(bar.value() - pixels)  # as the wheel or the scroll bar would
    QApplication.processEvents()


# -- following -------------------------------------------------------------------------------


def test_at_the_bottom_every_new_message_stays_in_view_past_2000_rows(
    chat: tuple[MessageListModel, ChatView],
) -> None:
    """It used to jump back to around row 100 on every new message once a room had more
    than 100 rows (Qt laid the rows out again in batches of 100, from the first)."""
    model, view = chat
    fill(model, 1, 2000)
    assert newest_in_view(model, view)
    for seq in range(2001, 2031):
        model.apply(posted(seq))
        settle(model)
        assert newest_in_view(model, view), f"message {seq} is out of view"
    assert view.following and not view.jump_button.isVisible()


def test_a_streaming_answer_is_followed_as_it_grows(
    chat: tuple[MessageListModel, ChatView],
) -> None:
    model, view = chat
    fill(model, 1, 2000)
    model.apply(AnswerStarted(2001, 1.0, "a1", 2000, "p2", "Sam", "Robo", "m"))
    offset = 0
    for i in range(120):  # far taller than the view by the end
        piece = f"Step {i} of the plan goes here. " + ("\n\n" if i % 4 == 3 else "")
        model.apply(AnswerDelta("a1", offset, piece))
        offset += len(piece)
        settle(model)
        assert newest_in_view(model, view), f"delta {i}: the answer's end is out of view"
    assert view.visualRect(model.index(model.rowCount() - 1)).height() > 2 * view.height()


def test_joining_a_busy_room_lands_at_the_latest_message(qtbot: Any) -> None:
    model = MessageListModel()
    fill(model, 1, 2000)  # the history, before the view shows it
    view = ChatView()
    qtbot.addWidget(view)
    view.resize(700, 500)
    view.show()
    view.setModel(model)
    settle(model)
    assert newest_in_view(model, view)
    assert view.first_shown > 0  # only the latest rows are laid out


# -- reading further up ----------------------------------------------------------------------


def test_a_reader_who_scrolled_up_stays_put_and_is_told_what_arrived(
    chat: tuple[MessageListModel, ChatView],
) -> None:
    model, view = chat
    fill(model, 1, 2000)
    scroll_up(view, 1500)
    where = top_row(view)
    assert not view.following and not view.jump_button.isVisible()
    model.apply(ParticipantJoined(2001, 1.0, ParticipantInfo("p9", "Zoe", "guest")))
    for seq in range(2002, 2005):
        model.apply(posted(seq))
    model.apply(AnswerStarted(2005, 1.0, "a1", 2004, "p2", "Sam", "Robo", "m"))
    for i in range(30):
        model.apply(AnswerDelta("a1", i * 20, f"A line that grows {i:02}\n\n"))
        settle(model)
        assert top_row(view) == where  # not a pixel moved
    assert view.jump_button.isVisible()
    assert view.jump_button.text() == "4 new messages ↓"  # three messages and the answer
    QTest.mouseClick(view.jump_button, Qt.MouseButton.LeftButton)
    settle(model)
    assert newest_in_view(model, view) and view.following
    assert not view.jump_button.isVisible() and view.unseen == 0


def test_the_new_messages_button_is_reachable_from_the_keyboard(
    chat: tuple[MessageListModel, ChatView],
) -> None:
    model, view = chat
    fill(model, 1, 300)
    scroll_up(view, 800)
    model.apply(posted(301))
    settle(model)
    view.activateWindow()
    view.setFocus()
    QTest.keyClick(view, Qt.Key.Key_Tab)
    assert view.jump_button.hasFocus()
    QTest.keyClick(view.jump_button, Qt.Key.Key_Space)
    settle(model)
    assert newest_in_view(model, view) and view.hasFocus()  # focus is not lost with it
    scroll_up(view, 800)
    model.apply(posted(302))
    QTest.keyClick(view, Qt.Key.Key_End, Qt.KeyboardModifier.ControlModifier)
    settle(model)
    assert newest_in_view(model, view)


def test_sending_a_message_jumps_to_the_latest(chat: tuple[MessageListModel, ChatView]) -> None:
    model, view = chat
    fill(model, 1, 300)
    scroll_up(view, 2000)
    model.apply(Queued("c1", "my own words", time.time()))
    settle(model)
    assert newest_in_view(model, view) and view.following


def test_scrolling_to_the_top_brings_earlier_messages_without_moving(
    chat: tuple[MessageListModel, ChatView],
) -> None:
    model, view = chat
    fill(model, 1, 1000)
    assert view.first_shown > 0
    for _ in range(20):
        first = view.first_shown
        scroll_up(view, view.verticalScrollBar().value())  # to the top of what is laid out
        row, _y = top_row(view)
        settle(model)
        if first == 0:
            break
        assert view.first_shown < first  # earlier rows came in above...
        assert top_row(view)[0] == row  # ...and the reader still sees the same message
    assert view.first_shown == 0
    view.scrollTo(model.index(500))  # the transcript's own indexes work too
    assert view.visualRect(model.index(500)).intersects(view.viewport().rect())


# -- what a row offers -----------------------------------------------------------------------


def chips(view: ChatView, model: MessageListModel, row: int) -> list[tuple[int, Any]]:
    delegate = view.itemDelegate()
    assert isinstance(delegate, MessageDelegate)
    return delegate.copy_chips(view, model.index(row))


def test_each_code_block_has_its_own_copy_chip_that_says_copied(
    chat: tuple[MessageListModel, ChatView],
) -> None:
    model, view = chat
    model.apply(posted(1, TWO_BLOCKS))
    settle(model)
    found = chips(view, model, 0)
    assert [n for n, _ in found] == [0, 1]
    first, second = (rect for _, rect in found)
    assert second.top() > first.bottom()  # each at its own block, not one per message
    before = view.viewport().grab(second).toImage()
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     second.center())  # fmt: skip
    assert QGuiApplication.clipboard().text() == "echo two"
    settle(model)
    assert view.viewport().grab(second).toImage() != before  # "Copy code" became "Copied"
    assert view.viewport().grab(first).toImage() == before  # the other one still offers it


def test_the_menu_copies_the_message_the_code_block_or_the_link(
    chat: tuple[MessageListModel, ChatView],
) -> None:
    model, view = chat
    model.apply(posted(1, TWO_BLOCKS))
    model.apply(posted(2, "see https://example.org/docs for more"))
    settle(model)
    (_, first), _second = chips(view, model, 0)
    on_code = QPoint(first.left() - 40, first.center().y())  # in the block, by its chip
    menu = view.message_menu(on_code)
    assert menu is not None
    actions = {a.text(): a for a in menu.actions()}
    assert list(actions) == ["Copy text", "Copy code"]
    actions["Copy code"].trigger()
    assert QGuiApplication.clipboard().text() == "print('one')"
    actions["Copy text"].trigger()
    assert QGuiApplication.clipboard().text() == TWO_BLOCKS
    menu.close()
    delegate = view.itemDelegate()
    assert isinstance(delegate, MessageDelegate)
    [(text, href, rect)] = delegate.link_rects(view, model.index(1))
    menu = view.message_menu(rect.center())
    assert menu is not None and [a.text() for a in menu.actions()] == [
        "Copy text", "Copy link address",
    ]  # fmt: skip
    menu.actions()[1].trigger()
    assert QGuiApplication.clipboard().text() == href == text == "https://example.org/docs"
    menu.close()
    # From the keyboard, there is no pointer: every code block is offered.
    view.setCurrentIndex(view.model().index(0, 0))
    at = QPoint(1, 1)
    QApplication.sendEvent(view, QContextMenuEvent(QContextMenuEvent.Reason.Keyboard, at,
                                                   view.mapToGlobal(at)))  # fmt: skip
    popup = QApplication.activePopupWidget()
    assert isinstance(popup, QMenu)
    assert [a.text() for a in popup.actions()] == [
        "Copy text", "Copy code block 1", "Copy code block 2",
    ]  # fmt: skip
    popup.close()


def test_lines_stay_readable_in_a_wide_window_and_fit_a_narrow_one(
    chat: tuple[MessageListModel, ChatView],
) -> None:
    model, view = chat
    model.apply(posted(1, "word " * 400))
    model.apply(posted(2, "x" * 500 + "\n\n```\n" + "y" * 500 + "\n```"))
    view.resize(1800, 600)
    settle(model)
    image = view.viewport().grab().toImage()
    bubble = painted_columns(image, view.visualRect(model.index(0)).center().y())
    most = QFontMetrics(view.font()).averageCharWidth() * (COLUMN_CHARS + 12)
    assert bubble[1] - bubble[0] <= most  # about 80 characters, not 1,800 pixels
    assert abs((bubble[0] + bubble[1]) / 2 - image.width() / 2) < 30  # centred
    view.resize(320, 600)
    settle(model)
    assert view.horizontalScrollBar().maximum() == 0
    assert not view.horizontalScrollBar().isVisible()
    for row in range(2):
        assert view.visualRect(model.index(row)).width() <= view.viewport().width()


def painted_columns(image: QImage, y: int) -> tuple[int, int]:
    """The first and last x on row ``y`` of ``image`` that differ from its left edge."""
    background = image.pixelColor(0, y)
    xs = [x for x in range(image.width()) if image.pixelColor(x, y) != background]
    return min(xs), max(xs)


# -- words under a message -------------------------------------------------------------------


def answer(**fields: Any) -> Entry:
    return Entry(key="0a:a1", kind="answer", ts=1.0, role="assistant", model="m",
                 asked_by="Sam", **fields)  # fmt: skip


def test_an_estimate_is_shown_only_when_it_is_plausible() -> None:
    three = "It rains. Take a coat. That is all."
    # The relay's estimate counts the conversation it sent too: 480 under three sentences.
    stopped = answer(text=three, status="stopped", usage=Usage(466, 14, 480, estimated=True))
    assert "480" not in footer_text(stopped)
    assert "≈14 tokens written" in footer_text(stopped)
    wild = answer(text=three, status="stopped", usage=Usage(0, 900, 900, estimated=True))
    assert "tokens" not in footer_text(wild)
    exact = answer(text=three, status="complete", usage=Usage(466, 14, 480))
    assert "480 tokens · for" in footer_text(exact)


def test_a_regenerated_answer_is_labelled() -> None:
    again = answer(text="Better.", status="complete", regenerates="a0", question_by="Sam",
                   asked_by_id="p1")  # fmt: skip
    assert "regenerated answer to \u2068Sam\u2069" in footer_text(again)
    by_host = answer(text="Better.", status="complete", regenerates="a0", question_by="Sam")
    by_host.asked_by = "Ana"
    assert "asked again by \u2068Ana\u2069" in footer_text(by_host)
    assert "regenerated below" in footer_text(answer(text="First.", replaced_by="a2"))


# -- network text ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [k for k in HOSTILE if k != "dev-zero"])
def test_hostile_text_in_the_view_stays_plain(
    chat: tuple[MessageListModel, ChatView], kind: str, tmp_path: Path
) -> None:
    model, view = chat
    hostile = hostile_text(kind, tmp_path)
    fill(model, 1, 300)
    scroll_up(view, 600)
    model.apply(MessagePosted(301, 1.0, "p7", hostile, f"{hostile}\n\n```{hostile}\nx\n```"))
    settle(model)
    menu = view.message_menu(view.visualRect(model.index(model.rowCount() - 1)).center())
    assert rich_text_risks(view, hostile) == []
    ours = ("Copy text", "Copy code", "Show more")  # a long hostile text is folded
    assert menu is None or all(a.text() in ours for a in menu.actions())
    assert view.jump_button.text() == "1 new message ↓"


# -- a real room -----------------------------------------------------------------------------


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


async def test_a_room_with_an_assistant_is_followed_and_regenerated_answers_say_so(
    qtbot: Any, make_room: RoomFactory, fake: FakeOpenAI, cleanup: list[Any]
) -> None:
    # qtbot first: fixtures are torn down in reverse, and qtbot's teardown runs Qt's events
    # outside the asyncio loop, which must find the room already closed.
    settings = ProviderSettings.from_preset("compatible", model="gpt-4o-mini",
                                            base_url=fake.base_url, api_key="k")  # fmt: skip
    config = AssistantConfig(model=settings.model, provider=settings.label,
                             provider_kind=settings.kind)  # fmt: skip
    room = await make_room(name="Trip", assistant=config, provider=ChatProvider(settings))
    host = RoomClient(room.url, "Ana", host_key=room.room.config.host_key)
    session = RoomSession(host, await host.connect())
    cleanup.append(SimpleNamespace(close=host.leave))
    model = MessageListModel()
    model.transcript.set_participants(host.participants, host.you.id)
    session.event_received.connect(model.apply)
    view = ChatView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.resize(600, 400)
    view.show()
    session.start()
    sam, _ = await room.join("Sam")
    for i in range(60):
        await sam.send(f"message {i} before the question")
    await until(lambda: model.rowCount() >= 61, what="the messages")
    long_answer = [f"Line {i} of a long answer.\n\n" for i in range(80)]
    fake.script(Reply(long_answer, delay=0.005), Reply(["A shorter one."]))
    await sam.send("@assistant plan the trip")
    heights = []
    while not any(e.kind == "answer" and e.status == "complete" for e in entries(model)):
        await asyncio.sleep(0.02)
        if any(e.kind == "answer" for e in entries(model)):
            model.flush_updates()  # the frame the answer's growth is shown in...
            view.executeDelayedItemsLayout()  # ...laid out as a paint would
            heights.append(view.visualRect(model.index(model.rowCount() - 1)).height())
            assert newest_in_view(model, view)
    first = next(e for e in entries(model) if e.kind == "answer")
    await sam.regenerate(first.answer_id)
    await until(lambda: sum(e.kind == "answer" and e.status == "complete"
                            for e in entries(model)) == 2, what="the second answer")  # fmt: skip
    view.executeDelayedItemsLayout()
    again = [e for e in entries(model) if e.kind == "answer"][-1]
    assert "regenerated answer to \u2068Sam\u2069" in footer_text(again)
    assert "regenerated below" in footer_text(first)
    assert newest_in_view(model, view) and max(heights) > view.height()


def entries(model: MessageListModel) -> list[Entry]:
    return [model.entry(row) for row in range(model.rowCount())]


def test_the_view_passes_its_events_on(chat: tuple[MessageListModel, ChatView]) -> None:
    _model, view = chat
    assert view.event(QEvent(QEvent.Type.FontChange)) in (True, False)


def test_a_row_whose_neighbour_above_changed_gets_its_header_room(
    chat: tuple[MessageListModel, ChatView],
) -> None:
    """Two of our messages typed a moment apart share one header. The room posts the first
    with its own clock, minutes earlier: the second now starts a group of its own and needs
    its header, so its row must grow, though only the first row changed."""
    model, view = chat
    model.apply(Queued(MessageId("c1"), "first", 1_000_000.0))
    model.apply(Queued(MessageId("c2"), "second", 1_000_010.0))
    settle(model)
    second = model.index(1)
    grouped = view.visualRect(second).height()
    room_clock = MessagePosted(1, 999_000.0, "p1", "Ana", "first", "c1")  # 17 min behind
    model.apply(room_clock)  # the first row is updated in place; the second is not touched
    settle(model)
    delegate = view.itemDelegate()
    assert isinstance(delegate, MessageDelegate)
    layout = delegate.layout_of(view, second)
    assert layout is not None and layout.height > grouped
    assert view.visualRect(second).height() == layout.height
