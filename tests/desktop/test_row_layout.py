"""One layout per row: what the chat view paints is what a click finds.

For each kind of row (messages of ours and of others, an answer being written, a finished
answer and one asked for again, a notice, "joined" and "left" lines, a long wrapped answer, a
right-to-left message, a long message folded under "Show more") the targets the row's layout
reports (its "Copy code" chips, its links, and its "Show more" or "Show less" chip) lie
inside the row and apart from each other, and a click on the centre of each does what it
offers: the code is on the clipboard, the link opened, or the message unfolded or folded.
What the fold hides is no target. A click elsewhere in the row does none of these. Rows
come from the room's own events, shown by the app's real model and view.
(Stop and Regenerate are buttons of the chat page, not of a row: see test_chat_page.py.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from itertools import combinations

import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from core.client import ClientEvent, Queued
from core.protocol import (
    AnswerDelta,
    AnswerFinished,
    AnswerStarted,
    MessagePosted,
    Notice,
    ParticipantInfo,
    ParticipantJoined,
    ParticipantLeft,
    Usage,
)
from desktop.chat_view import ChatView
from desktop.delegate import MessageDelegate, RowLayout
from desktop.models import MessageListModel
from tests.desktop.conftest import UrlRecorder

CODE_AND_LINKS = (
    "Try this:\n\n```python\nprint('hi')\n```\n\n"
    "Docs at https://docs.example/guide and [the site](https://site.example/).\n\n"
    "- a list item\n\n  ```\n  nested = True\n  ```\n"
)
RIGHT_TO_LEFT = (
    "שלום, הנה הקוד:\n\n```bash\necho shalom\n```\n\n"
    "ראו https://he.example/docs וגם [האתר](https://site.example/he) בבקשה."
)
LONG = (
    "\n\n".join(f"Paragraph {i}: " + "words that wrap across the column " * 12 for i in range(30))
    + "\n\n```python\nanswer = 42\n```\n\n"
    + "\n\n".join(f"More {i}: " + "and it goes on " * 20 for i in range(10))
    + "\n\nThe end, with [the notes](https://notes.example/end)."
)
STREAMING = "Here:\n\n```bash\necho streaming\n```\n\nMore at https://stream.example/ and still"
FINISHED = (
    "An answer with `inline code`, a [reference](https://ref.example/a) and\n\n```\nx = 1\n```"
)


@dataclass(frozen=True)
class Row:
    """A kind of row: the events that make it (the row is the last one they add, or the row
    ``row`` when given), the code each of its chips copies, the links it has, what its fold
    chip says ("" for none), and whether it is taller than the view (its targets are
    scrolled into view one by one)."""

    events: tuple[ClientEvent, ...]
    codes: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    row: int = -1
    tall: bool = False
    toggle: str = ""


SAM = ParticipantInfo("p2", "Sam", "guest")
QUESTION = MessagePosted(1, 1000.0, "p2", "Sam", "@assistant help")
ROWS = {
    "own message": Row(
        (MessagePosted(1, 1000.0, "p1", "Ana", CODE_AND_LINKS),),
        codes=("print('hi')", "nested = True"),
        links=("https://docs.example/guide", "https://site.example/"),
    ),
    "own message, still sending": Row(
        (Queued("c1", CODE_AND_LINKS, 1000.0),),
        codes=("print('hi')", "nested = True"),
        links=("https://docs.example/guide", "https://site.example/"),
    ),
    "message of someone else, under one of theirs": Row(
        (
            MessagePosted(1, 1000.0, "p2", "Sam", "first"),
            MessagePosted(2, 1001.0, "p2", "Sam", CODE_AND_LINKS),
        ),
        codes=("print('hi')", "nested = True"),
        links=("https://docs.example/guide", "https://site.example/"),
    ),
    "answer being written": Row(
        (
            QUESTION,
            AnswerStarted(2, 1001.0, "a1", 1, "p2", "Sam", "Robo", "m"),
            AnswerDelta("a1", 0, STREAMING),
        ),
        codes=("echo streaming",),
        links=("https://stream.example/",),
    ),
    "finished answer": Row(
        (
            QUESTION,
            AnswerStarted(2, 1001.0, "a1", 1, "p2", "Sam", "Robo", "m"),
            AnswerFinished(3, 1002.0, "a1", FINISHED, "complete", "m", Usage(10, 20, 30)),
        ),
        codes=("x = 1",),
        links=("https://ref.example/a",),
    ),
    "answer asked for again": Row(
        (
            QUESTION,
            AnswerStarted(2, 1001.0, "a1", 1, "p2", "Sam", "Robo", "m"),
            AnswerFinished(3, 1002.0, "a1", FINISHED, "complete", "m"),
            AnswerStarted(4, 1003.0, "a2", 1, "p1", "Ana", "Robo", "m", regenerates="a1"),
            AnswerFinished(5, 1004.0, "a2", "Better.", "complete", "m"),
        ),
        codes=("x = 1",),
        links=("https://ref.example/a",),
        row=1,
    ),
    "notice": Row(
        (Notice(1, 1000.0, "warning", "rate_limited", "Wait; see https://status.example/"),),
        links=("https://status.example/",),
    ),
    "joined line": Row((ParticipantJoined(1, 1000.0, SAM),)),
    "left line": Row(
        (ParticipantJoined(1, 1000.0, SAM), ParticipantLeft(2, 1001.0, "p2", "Sam", "kicked"))
    ),
    "long wrapped answer": Row(
        (
            QUESTION,
            AnswerStarted(2, 1001.0, "a1", 1, "p2", "Sam", "Robo", "m"),
            AnswerFinished(3, 1002.0, "a1", LONG, "complete", "m"),
        ),
        codes=("answer = 42",),
        links=("https://notes.example/end",),
        tall=True,
        toggle="Show less",  # written while we watched: whole, and can be folded
    ),
    "long message, folded": Row(
        (MessagePosted(1, 1000.0, "p2", "Sam", LONG),),
        toggle="Show more",  # its code and its link are under the fold
    ),
    "right-to-left message": Row(
        (MessagePosted(1, 1000.0, "p2", "Sam", RIGHT_TO_LEFT),),
        codes=("echo shalom",),
        links=("https://he.example/docs", "https://site.example/he"),
    ),
}


def settle(model: MessageListModel) -> None:
    """What a frame does: the model's waiting updates, then layout and painting."""
    model.flush_updates()
    for _ in range(2):
        QApplication.processEvents()


def layout(view: ChatView, model: MessageListModel, row: int) -> RowLayout:
    delegate = view.itemDelegate()
    assert isinstance(delegate, MessageDelegate)
    found = delegate.layout_of(view, model.index(row))
    assert found is not None
    return found


def targets(found: RowLayout) -> list[tuple[str, QRect]]:
    """What a click can act on in the row: ("code:<number>", rect) for each chip,
    ("link:<target>", rect) for each link, and ("toggle", rect) for "Show more" or less."""
    toggle = [("toggle", found.toggle)] if found.toggle_words else []
    return (
        [(f"code:{n}", rect) for n, rect in found.chips]
        + [(f"link:{href}", rect) for _text, href, rect in found.links()]
        + toggle
    )


def target_rect(view: ChatView, model: MessageListModel, row: int, n: int) -> QRect:
    """Where the row's target ``n`` is now."""
    return targets(layout(view, model, row))[n][1]


def scrolled_to(view: ChatView, where: Callable[[], QRect]) -> QRect:
    """Scroll until the rect ``where()`` gives is in the viewport; that rect."""
    bar = view.verticalScrollBar()
    for _ in range(5):
        rect = where()
        viewport = view.viewport().rect()
        if viewport.contains(rect):
            return rect
        bar.setValue(bar.value() + rect.center().y() - viewport.center().y())
        QApplication.processEvents()
    raise AssertionError(f"{where()} never came into view")


def click(view: ChatView, at: QPoint) -> None:
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, at)  # fmt: skip


@pytest.mark.parametrize("kind", list(ROWS))
def test_each_target_is_in_its_row_apart_and_does_what_it_offers(
    chat: tuple[MessageListModel, ChatView], browser: UrlRecorder, kind: str
) -> None:
    model, view = chat
    spec = ROWS[kind]
    for event in spec.events:
        model.apply(event)
    settle(model)
    row = spec.row if spec.row >= 0 else model.rowCount() - 1
    index = model.index(row)
    found = layout(view, model, row)
    rect = view.visualRect(index)
    assert found.height == rect.height()  # measured as it is laid out
    assert (rect.height() > view.viewport().height()) is spec.tall
    assert rect.contains(found.frame)
    names = [name for name, _ in targets(found)]
    assert names == [f"code:{n}" for n in range(len(spec.codes))] + [
        f"link:{href}" for href in spec.links
    ] + (["toggle"] if spec.toggle else [])  # fmt: skip
    assert found.toggle_words == spec.toggle
    for (a, first), (b, second) in combinations(targets(found), 2):
        assert not first.intersects(second), f"{a} overlaps {b}"
    for name, target in targets(found):
        assert not target.isEmpty() and rect.contains(target), f"{name} is outside its row"

    clipboard = QGuiApplication.clipboard()
    for n, name in enumerate(names):
        clipboard.setText("before")
        opened = len(browser.opened)
        target = scrolled_to(view, partial(target_rect, view, model, row, n))
        before = view.viewport().grab(target).toImage()
        click(view, target.center())
        if name == "toggle":  # the last target: the row changes its height
            settle(model)
            after = layout(view, model, row)
            assert {found.toggle_words, after.toggle_words} == {"Show more", "Show less"}
            assert after.folded is (spec.toggle == "Show less")
            assert clipboard.text() == "before" and len(browser.opened) == opened
        elif name.startswith("code:"):
            assert clipboard.text() == spec.codes[int(name[5:])]
            assert len(browser.opened) == opened
            settle(model)
            assert view.viewport().grab(target).toImage() != before  # "Copied", there
        else:
            assert browser.opened[opened:] == [name[5:]]
            assert clipboard.text() == "before"

    # Elsewhere in the row (the frame's corner, outside the body), a click does nothing.
    clipboard.setText("before")
    opened = len(browser.opened)
    corner = scrolled_to(view, lambda: QRect(layout(view, model, row).frame.topLeft(), QPoint()))
    click(view, corner.topLeft() + QPoint(2, 2))
    assert clipboard.text() == "before" and len(browser.opened) == opened


def test_the_menu_finds_what_the_layout_reports(
    chat: tuple[MessageListModel, ChatView],
) -> None:
    """The right-click menu tests the same layout: on a chip's code block it offers that
    block; on a link, its address."""
    model, view = chat
    model.apply(MessagePosted(1, 1000.0, "p2", "Sam", CODE_AND_LINKS))
    settle(model)
    found = layout(view, model, 0)
    (_n, second) = found.chips[1]
    menu = view.message_menu(second.center())
    assert menu is not None
    [copy] = [a for a in menu.actions() if a.text() == "Copy code"]
    copy.trigger()
    assert QGuiApplication.clipboard().text() == "nested = True"
    menu.close()
    [(_text, href, rect), _other] = found.links()
    menu = view.message_menu(rect.center())
    assert menu is not None
    [address] = [a for a in menu.actions() if a.text() == "Copy link address"]
    address.trigger()
    assert QGuiApplication.clipboard().text() == href == "https://docs.example/guide"
    menu.close()


def test_a_grouped_message_has_no_header_and_is_shorter(
    chat: tuple[MessageListModel, ChatView],
) -> None:
    model, view = chat
    model.apply(MessagePosted(1, 1000.0, "p2", "Sam", "one line"))
    model.apply(MessagePosted(2, 1001.0, "p2", "Sam", "one line"))
    settle(model)
    first, second = layout(view, model, 0), layout(view, model, 1)
    assert first.header is not None and second.header is None
    assert second.height < first.height
    assert view.visualRect(model.index(1)).height() == second.height
