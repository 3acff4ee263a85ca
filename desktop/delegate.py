"""Draws one transcript row: a chat message, an answer, a notice, or a "joined" line.

A message body is Markdown rendered by :mod:`desktop.markdown` into segments (one per
top-level block, and a long code block in chunks of lines), each laid out in its own
``QTextDocument`` and stacked. Documents are cached by their HTML and width, bodies, row
layouts and row heights by the row's version and width, so scrolling 10,000 messages lays out
only what is new, and a streaming answer (rendered by a
:class:`desktop.markdown.StreamingMarkdown`) lays out only its last block again: what a delta
costs does not grow with the answer. Only the parts of a long body that are in view are
painted.

Where each part of a row goes (its bubble, header, body, footer, chips and links) is worked
out once, as a :class:`RowLayout`, by :func:`row_layout`; the row's height, its painting,
clicks, tooltips and the view's menu all read that one layout, so what is drawn is what a
click finds.

Rows sit in a text column of about :data:`COLUMN_CHARS` characters, centred in a wide view,
and never wider than the view. Consecutive messages from one author within five minutes
share a header. A row says when it was written as
:func:`desktop.relative_time.relative_stamp` words it at the time of the delegate's
``clock`` ("2 min ago"; the view repaints the rows whose words changed), and hovering those
words shows the exact time. Each code block carries a "Copy code" chip (its top strip, with
the language, for a code block of its own; its corner for one inside a list or a quote),
which says "Copied" for a moment after a click. Hovering a link shows where it goes;
clicking an http(s) link opens the system browser, after a question when its text names
another address (:mod:`desktop.links`). A notice's chips and links work as a message's do.

A long message or answer (over :data:`LONG_LINES` lines as laid out, or :data:`LONG_CHARS`
characters) is folded to its first :data:`FOLDED_LINES` lines, cut between two lines, with a
"Show more" chip under it; unfolded, a "Show less" chip folds it again. Whether a row is
unfolded is its model's :data:`desktop.models.Roles.EXPANDED`; a click on the chip asks for
the other (:attr:`MessageDelegate.fold_toggled`). An answer still being written is never
folded. What the fold hides cannot be clicked: its links and chips are not in the layout.

A shared file's row is a bubble with its author and time, and a card (:class:`FileCard`):
the image's thumbnail, a tag for its kind, its name, size and type, lines about it (progress,
why it is not shown, "Sent to OpenAI / gpt-4o"), a progress bar while it moves, and buttons
("Save…", "Cancel", "Try again"). A click on a button is :attr:`MessageDelegate.file_action`;
the view offers the same actions from the keyboard.

A reply shows what it answers above its text: a compact, muted quote of the name and the
start of the text ("message deleted" once that is gone); a click on it is
:attr:`MessageDelegate.quote_clicked`. An edited message says "(edited)" after its time (in
its footer when it shares the header of the one before), and hovering it shows the text
before the edit. A deleted message or answer says "Message deleted", in italics, and nothing
else. Reactions sit under a message, an answer or a file as chips, "👍 3", ours
highlighted, with a "+" chip after them; hovering one says who reacted, a click on one is
:attr:`MessageDelegate.reaction_clicked` (the "+" chip's with no emoji). A row the reader
was taken to (the original of a reply) is highlighted for a moment (:attr:`flashed`).

Names, models, languages, errors, quotes and emoji come from the network: each is drawn as
plain text, cut to fit, and direction-isolated (:func:`desktop.network_text.fenced`) so that
it cannot reorder the time or the words beside it.
"""

from __future__ import annotations

import html
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from PySide6.QtCore import (
    QAbstractItemModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QPointF,
    QRect,
    QRectF,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QAbstractTextDocumentLayout,
    QColor,
    QFont,
    QFontMetrics,
    QGuiApplication,
    QHelpEvent,
    QImage,
    QLinearGradient,
    QMouseEvent,
    QPainter,
    QPalette,
    QTextDocument,
    QTextFrame,
    QTextLine,
    QTextOption,
    QTextTable,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolTip,
    QWidget,
)

from core.protocol import MAX_REACTION_CHARS, Quote
from core.transcript import Entry
from core.wording import ANSWER_STATUS_WORDS, LEFT_WORDS
from desktop.labels import elided
from desktop.links import follow_link, link_at, shown_target
from desktop.markdown import (
    Segment,
    StreamingMarkdown,
    code_background,
    code_blocks,
    segments,
)
from desktop.models import FILE_ACTIONS, FileCard, Roles
from desktop.network_text import FIELD_CHARS, TEXT_CHARS, fenced, one_line, shorten, tooltip
from desktop.reactions import Reaction, reacted_words
from desktop.relative_time import exact_stamp, relative_stamp
from desktop.theme import colours_of

__all__ = [
    "COLUMN_CHARS",
    "FOLDED_LINES",
    "LONG_CHARS",
    "LONG_LINES",
    "CardLayout",
    "MessageDelegate",
    "RowLayout",
    "column",
    "event_line",
    "file_row_layout",
    "footer_text",
    "row_layout",
    "text_width",
]

Index = QModelIndex | QPersistentModelIndex
K = TypeVar("K")
V = TypeVar("V")
_RowKey = tuple[str, int, bool, str, bool, bool]
"""What a row's layout depends on besides its version and the time: its key, the view's
width, whether the view is dark, the font's key, whether it continues the previous message,
and whether it is shown whole however long it is."""

PAD = 10  # around a message bubble
GAP = 4  # between the rows of one message
SEGMENT_GAP = 8  # between the blocks of a message
CODE_PAD = 8  # inside a code block's background
GROUP_SECONDS = 300
COLUMN_CHARS = 80
"""The text column is about this many average characters wide, at most."""
COPIED_MS = 1500
DOCUMENTS = 2000  # cached layouts of segments
BODIES = 600  # cached bodies (rows' stacks of segments), rendered texts and row layouts
HEIGHTS = 20_000  # cached row heights: what a layout pass asks for
STREAMS = 8  # answers rendered incrementally at once
TAG_WIDTH = 44  # a file's kind tag ("PDF")
BAR_HEIGHT = 6  # a transfer's progress bar
BAR_WIDTH = 320
LONG_LINES = 25
"""A message's body taller than this many lines of text is folded..."""
LONG_CHARS = 2000
"""... and so is one of more characters than this (when folding hides anything)."""
FOLDED_LINES = 12
"""About how many lines of a folded message are shown (it is cut between two lines)."""
FOLD_WORDS = ("Show more", "Show less")
EDITED_WORDS = "(edited)"
DELETED_WORDS = "Message deleted"
QUOTE_BAR = 3  # the accent bar at a quote's left
QUOTE_CHARS = 200  # of a quote's text drawn (it is one line, cut to fit)
ADD_REACTION = "+"

# How core.transcript words a "joined" or "left" line after the name: the name is isolated
# on its own, so that it cannot reorder these words.
_EVENT_ENDINGS = tuple(
    sorted({" joined (host)", " joined", *(f" {words}" for words in LEFT_WORDS.values())},
           key=len, reverse=True)
)  # fmt: skip

_CHARS_PER_TOKEN = (1, 8)  # a plausible estimate has one token per 1 to 8 characters


@dataclass(frozen=True)
class _Palette:
    text: QColor
    muted: QColor
    mine: QColor
    answer: QColor
    other: QColor
    accent: QColor
    host: QColor
    warn: QColor
    error: QColor
    badge_text: QColor
    ai_badge: QColor


def _palette(palette: QPalette) -> _Palette:
    c = colours_of(palette)
    return _Palette(
        *(QColor(value) for value in (
            c.text, c.text_muted, c.message_mine, c.message_answer, c.message_other,
            c.message_accent, c.message_host_badge, c.message_warning, c.message_error,
            c.badge_text, c.message_ai_badge,
        ))
    )  # fmt: skip


def event_line(entry: Entry) -> str:
    """A "joined" or "left" line's text, its name fenced off from the words after it."""
    for ending in _EVENT_ENDINGS:
        if entry.text.endswith(ending):
            return fenced(entry.text.removesuffix(ending)) + ending
    return fenced(entry.text, TEXT_CHARS)


def footer_text(entry: Entry) -> str:
    """The small line under a message or an answer: its state, model, usage, who asked, and
    whether it was asked for again (nothing under one that was deleted)."""
    if entry.deleted:
        return ""
    if entry.kind == "message":
        if entry.pending:
            return "sending…"
        return {"failed": "not sent", "unconfirmed": "may not have been sent"}.get(entry.status, "")
    if entry.kind != "answer":
        return ""
    parts = []
    if entry.status in ANSWER_STATUS_WORDS:
        parts.append(ANSWER_STATUS_WORDS[entry.status])
    if entry.error and entry.text:  # without text, the error is the body
        parts.append(fenced(entry.error, TEXT_CHARS))
    if entry.status != "streaming":
        detail = fenced(entry.model, FIELD_CHARS) if entry.model else ""
        usage = _usage_words(entry)
        parts.append(f"{detail} · {usage}" if detail and usage else detail or usage)
    if entry.regenerates:
        parts.append(f"regenerated answer to {fenced(entry.question_by or entry.asked_by)}")
        if entry.question_by and entry.question_by != entry.asked_by:
            parts.append(f"asked again by {fenced(entry.asked_by)}")
    elif entry.asked_by:
        parts.append(f"for {fenced(entry.asked_by)}")
    if entry.continues:
        parts.append("continued from the answer above")
    if entry.replaced_by:
        parts.append("regenerated below")
    if entry.cut_off and entry.status == "complete":
        parts.append("continued below" if entry.continued_by else "cut off at the length limit")
    return " · ".join(p for p in parts if p)


def _usage_words(entry: Entry) -> str:
    """What an answer used: the provider's count; else, when it is plausible for the text
    shown, our estimate of the answer's own length (an estimate with the conversation sent
    along, "≈480 tokens" under three sentences, reads as a mistake)."""
    usage = entry.usage
    if usage is None:
        return ""
    if not usage.estimated:
        return f"{usage.total_tokens:,} tokens"
    written, chars = usage.completion_tokens, len(entry.text)
    fewest, most = chars // _CHARS_PER_TOKEN[1], chars // _CHARS_PER_TOKEN[0]
    if written < 1 or not fewest <= written <= most:
        return ""
    return f"≈{written:,} tokens written"


def column(rect: QRect, font: QFont) -> QRect:
    """The part of a row's ``rect`` that rows are drawn in: all of it, or in a wide view a
    readable column of about :data:`COLUMN_CHARS` characters, centred."""
    widest = QFontMetrics(font).averageCharWidth() * COLUMN_CHARS + 4 * PAD + 2 * CODE_PAD
    if rect.width() <= widest:
        return QRect(rect)
    return QRect(rect.left() + (rect.width() - widest) // 2, rect.top(), widest, rect.height())


# ----------------------------------------------------------------- bodies


@dataclass(frozen=True)
class _Part:
    """A laid-out segment and where it sits in its body."""

    doc: QTextDocument
    x: int
    y: int


@dataclass(frozen=True)
class _CodeBox:
    """A code block in a body: its number in the message, where it is, and whether it has
    its own strip at the top (a top-level block) or only a chip in its corner."""

    number: int
    rect: QRect
    language: str = ""
    strip: bool = True


@dataclass(frozen=True)
class _Body:
    parts: tuple[_Part, ...]
    boxes: tuple[_CodeBox, ...]
    height: int


def _small(font: QFont, smaller: float = 1.0) -> QFont:
    small = QFont(font)
    small.setPointSizeF(max(7.0, font.pointSizeF() - smaller))
    return small


def _strip_height(font: QFont) -> int:
    return QFontMetrics(_small(font)).height() + 2 * GAP


def _code_tables(doc: QTextDocument, background: QColor) -> list[QRectF]:
    """Where the code blocks inside lists and quotes are in ``doc``: its tables with the code
    background, in document order."""
    found: list[QRectF] = []
    layout = doc.documentLayout()

    def visit(frame: QTextFrame) -> None:
        for child in frame.childFrames():
            table = isinstance(child, QTextTable)
            if table and child.format().background().color() == background:
                found.append(layout.frameBoundingRect(child))
            visit(child)

    visit(doc.rootFrame())
    return found


# ----------------------------------------------------------------- a row's layout


_NO_BODY = _Body((), (), 0)  # a "joined" or "left" line has none


@dataclass(frozen=True)
class _Header:
    """The first line of a message that does not continue the one before: its author's
    name (cut to fit), a badge for the host or the assistant ("" for none), and the time.
    The points are where the baselines of the name and the time start; ``stamp_rect`` is
    where the time is (hovering it shows the exact time)."""

    name: str
    name_at: QPoint
    badge: str
    badge_rect: QRect
    stamp: str
    stamp_at: QPoint
    stamp_rect: QRect

    def translated(self, offset: QPoint) -> _Header:
        return _Header(
            self.name, self.name_at + offset, self.badge, self.badge_rect.translated(offset),
            self.stamp, self.stamp_at + offset, self.stamp_rect.translated(offset),
        )  # fmt: skip


@dataclass(frozen=True)
class CardLayout:
    """Where a file card's parts are: its thumbnail (``image``, empty when none), its kind's
    tag, its ``texts`` (each with its look, "name", "details", "problem", "warning", "note"
    or "badge", and its rect; wrapped texts wrap in their rects), its progress bar and how
    full it is, and its ``buttons`` (each an action of :data:`FILE_ACTIONS` and its rect)."""

    thumbnail: QImage | None
    image: QRect
    tag: str
    tag_rect: QRect
    texts: tuple[tuple[str, str, QRect], ...]
    bar: QRect
    progress: float
    buttons: tuple[tuple[str, QRect], ...]

    def translated(self, offset: QPoint) -> CardLayout:
        return CardLayout(
            self.thumbnail, self.image.translated(offset),
            self.tag, self.tag_rect.translated(offset),
            tuple((look, text, rect.translated(offset)) for look, text, rect in self.texts),
            self.bar.translated(offset), self.progress,
            tuple((action, rect.translated(offset)) for action, rect in self.buttons),
        )  # fmt: skip


@dataclass(frozen=True)
class RowLayout:
    """Where everything of one row is: what :meth:`MessageDelegate.sizeHint` measures,
    what :meth:`MessageDelegate.paint` draws, and what a click, a hover or the menu is
    tested against, so that the three agree by construction.

    :func:`row_layout` computes it relative to the row's top left corner; :meth:`at` places
    it in a row's rect (view coordinates). ``frame`` is the bubble of a message or an
    answer, the box of a notice, or the column a "joined" or "left" line is centred in.
    ``line`` is the row's small line, already cut to fit ``line_rect``: the whole of a
    "joined" or "left" row, or the footer under a message or an answer ("" for none).
    ``chips`` are the "Copy code" chips, each with the number of its code block in the
    message. The body's links are found in its laid-out documents (:meth:`links`). A file's
    row has its ``card``.

    A long body is folded to its first ``fold`` pixels (-1: not folded, all of it shows);
    ``toggle`` is the "Show more" chip under a folded body, or the "Show less" chip under
    an unfolded long one (empty when the body is not long), and ``toggle_words`` what it
    says. What the fold hides is no target: :meth:`links`, :meth:`link_at`,
    :meth:`code_at` and ``chips`` have only what shows.

    A reply's ``quote`` is the block above its body (``quote_words`` what it says); an
    edited message's ``edited`` is where "(edited)" is; ``reactions`` are the reaction
    chips (each its emoji, the emoji as drawn, its count and its rect) and ``add_reaction``
    the "+" after them.

    Its rects are the layout's own: a caller changes copies, never them.
    """

    height: int
    frame: QRect
    header: _Header | None
    body: _Body
    origin: QPoint  # the body's top left corner
    line: str
    line_rect: QRect
    chips: tuple[tuple[int, QRect], ...]
    card: CardLayout | None = None
    fold: int = -1
    toggle: QRect = field(default_factory=QRect)
    toggle_words: str = ""
    quote: QRect = field(default_factory=QRect)
    quote_words: tuple[str, str] = ("", "")  # the quoted name and text, cut to fit
    reactions: tuple[tuple[str, str, str, QRect], ...] = ()  # emoji, as drawn, count, where
    add_reaction: QRect = field(default_factory=QRect)
    edited: QRect = field(default_factory=QRect)  # where "(edited)" is

    def at(self, rect: QRect) -> RowLayout:
        """This layout in the row at ``rect``. Its frame stretches to the rect's height, as
        a row painted before the view laid it out at its new height expects."""
        offset = rect.topLeft()
        frame = self.frame.translated(offset)
        frame.setBottom(rect.bottom() - (self.height - 1 - self.frame.bottom()))
        header = self.header.translated(offset) if self.header is not None else None
        chips = tuple((number, chip.translated(offset)) for number, chip in self.chips)
        card = self.card.translated(offset) if self.card is not None else None
        reactions = tuple((emoji, shown, count, rect.translated(offset))
                          for emoji, shown, count, rect in self.reactions)  # fmt: skip
        return RowLayout(self.height, frame, header, self.body, self.origin + offset,
                         self.line, self.line_rect.translated(offset), chips, card,
                         self.fold, self.toggle.translated(offset), self.toggle_words,
                         self.quote.translated(offset), self.quote_words, reactions,
                         self.add_reaction.translated(offset),
                         self.edited.translated(offset))  # fmt: skip

    @property
    def folded(self) -> bool:
        """Whether a long body shows only its beginning ("Show more" under it)."""
        return self.fold >= 0

    def shows(self, pos: QPoint) -> bool:
        """Whether ``pos`` is above the fold (anywhere, in a body that is not folded)."""
        return self.fold < 0 or pos.y() < self.origin.y() + self.fold

    def stamp_at(self, pos: QPoint) -> bool:
        """Whether ``pos`` is on the words that say when the row was written."""
        if self.header is not None:
            return self.header.stamp_rect.contains(pos)
        return self.body is _NO_BODY and self.card is None and self.line_rect.contains(pos)

    def quote_at(self, pos: QPoint) -> bool:
        """Whether ``pos`` is on the quote of what the row replies to."""
        return self.quote.contains(pos)

    def edited_at(self, pos: QPoint) -> bool:
        """Whether ``pos`` is on "(edited)"."""
        return self.edited.contains(pos)

    def reaction_at(self, pos: QPoint) -> str | None:
        """The emoji of the reaction chip under ``pos``; "" on the "+" chip; None elsewhere."""
        if self.add_reaction.contains(pos):
            return ""
        return next((chip[0] for chip in self.reactions if chip[3].contains(pos)), None)

    def button_at(self, pos: QPoint) -> str | None:
        """The action of the file card's button under ``pos``, if any."""
        if self.card is None:
            return None
        return next((action for action, rect in self.card.buttons if rect.contains(pos)), None)

    def chip_at(self, pos: QPoint) -> int | None:
        """The number of the code block whose "Copy code" chip is under ``pos``, if any."""
        return next((number for number, chip in self.chips if chip.contains(pos)), None)

    def code_at(self, pos: QPoint) -> int | None:
        """The number of the code block under ``pos``, if any."""
        if not self.shows(pos):
            return None
        for box in self.body.boxes:
            if box.rect.translated(self.origin).contains(pos):
                return box.number
        return None

    def link_at(self, pos: QPoint) -> tuple[str, str] | None:
        """The link under ``pos``: its visible text and its target."""
        if not self.shows(pos):
            return None
        for part in self.body.parts:
            point = QPointF(pos - self.origin) - QPointF(part.x, part.y)
            if QRectF(QPointF(0, 0), part.doc.size()).contains(point):
                return link_at(part.doc, point)
        return None

    def links(self) -> list[tuple[str, str, QRect]]:
        """Each link in the body: its visible text, its target, and where its first line is
        drawn, in reading order."""
        found: list[tuple[str, str, QRect]] = []
        for part in self.body.parts:
            corner = QPointF(self.origin) + QPointF(part.x, part.y)
            doc = part.doc
            block = doc.begin()
            while block.isValid():
                box = doc.documentLayout().blockBoundingRect(block)  # also lays it out
                layout = block.layout()
                it = block.begin()
                while not it.atEnd():
                    fragment = it.fragment()
                    it += 1
                    if not fragment.charFormat().isAnchor() or fragment.length() == 0:
                        continue
                    start = fragment.position() - block.position()
                    line = layout.lineForTextPosition(start)
                    x0 = _cursor_x(line, start)
                    x1 = _cursor_x(
                        line, min(start + fragment.length(), line.textStart() + line.textLength())
                    )
                    rect = QRectF(min(x0, x1), line.y(), abs(x1 - x0), line.height())
                    rect.translate(corner + box.topLeft())
                    link = link_at(doc, rect.center() - corner)
                    shown = self.shows(rect.toRect().bottomLeft())
                    if shown and link is not None and (not found or found[-1][:2] != link):
                        found.append((*link, rect.toRect()))
                block = block.next()
        return found


def _cursor_x(line: QTextLine, position: int) -> float:
    """Where the cursor at ``position`` of ``line`` is drawn (PySide6's stub types
    ``cursorToX`` as returning an object; it returns ``(x, position)``)."""
    found = line.cursorToX(position)
    assert isinstance(found, tuple)
    return float(found[0])


def text_width(kind: str, width: int, font: QFont) -> int:
    """How wide the body of a row of ``kind`` is laid out in a view ``width`` pixels wide."""
    widest = max(120, column(QRect(0, 0, width, 0), font).width() - 4 * PAD)
    return widest - PAD if kind == "notice" else widest


def row_layout(
    entry: Entry, width: int, font: QFont, body: _Body, *, grouped: bool,
    stamp: str | None = None, expanded: bool = False,
) -> RowLayout:  # fmt: skip
    """The layout of ``entry``'s row in a view ``width`` pixels wide, relative to the row's
    top left corner; ``body`` is its body laid out :func:`text_width` wide, and
    ``grouped`` says whether it continues the previous message (no header then). ``stamp``
    says when it was written (by default as :func:`relative_stamp` does now); a long body
    is folded unless ``expanded``."""
    rect = column(QRect(0, 0, width, 0), font)
    line = QFontMetrics(font).height()
    small = QFontMetrics(_small(font))
    if stamp is None:
        stamp = relative_stamp(entry.ts, time.time())
    if entry.kind == "event":
        height = line + 2 * GAP
        frame = QRect(rect.left(), 0, rect.width(), height)
        text = elided(f"{event_line(entry)}  ·  {stamp}", small, rect.width() - 2 * PAD)
        return RowLayout(height, frame, None, _NO_BODY, frame.topLeft(), text, frame, ())
    if entry.kind == "notice":
        height = body.height + 2 * PAD
        frame = QRect(rect.left() + PAD, GAP, rect.width() - 2 * PAD, height - 2 * GAP)
        origin = QPoint(frame.left() + PAD + 4, frame.top() + PAD - GAP)
        return RowLayout(height, frame, None, body, origin, "", QRect(),
                         _chips(body, origin, font))  # fmt: skip
    inner = text_width(entry.kind, width, font)
    x, y = rect.left() + 2 * PAD, GAP + GAP  # inside the bubble, which starts a GAP down
    header = None
    edited = entry.edited_at is not None and not entry.deleted
    edited_width = small.horizontalAdvance(EDITED_WORDS) if edited else 0
    edited_rect = QRect()
    if not grouped:
        header = _header(entry, font, QPoint(x, y + PAD // 2), inner, stamp,
                         edited_width + PAD if edited else 0)  # fmt: skip
        if edited:
            stamp_rect = header.stamp_rect
            edited_rect = QRect(stamp_rect.right() + 1 + PAD // 2, stamp_rect.top(),
                                edited_width, stamp_rect.height())  # fmt: skip
        y += PAD // 2 + line + GAP
    quote_rect, quote_words = QRect(), ("", "")
    if entry.reply_to is not None and not entry.deleted:
        quote_rect, quote_words = _quote(entry.reply_to, QPoint(x, y), inner, font)
        y += quote_rect.height() + GAP
    origin = QPoint(x, y)
    fold = _fold(entry, body, line)
    shown = body.height if fold < 0 or expanded else fold
    y += max(line, shown) + GAP
    toggle, words = QRect(), ""
    if fold >= 0:
        words = FOLD_WORDS[expanded]
        chip_width = max(small.horizontalAdvance(w) for w in FOLD_WORDS) + 2 * PAD
        toggle = QRect(x, y, chip_width, small.height() + GAP)
        y += toggle.height() + GAP
    reactions, add, y = _reaction_chips(entry, QPoint(x, y), inner, font)
    footer = footer_text(entry)
    footer_rect = QRect()
    if footer or (edited and grouped):
        footer_rect = QRect(x, y, inner, line)
        if edited and grouped:  # no header to say it after the time: it starts the footer
            edited_rect = QRect(x, y, edited_width, small.height())
            footer_rect.setLeft(x + edited_width + PAD // 2)
    height = y + (line if footer_rect.isValid() else 0) + GAP
    bubble = QRect(rect.left() + PAD, GAP, rect.width() - 2 * PAD, height - 2 * GAP)
    if expanded:
        fold = -1
    chips = _chips(body, origin, font)
    if fold >= 0:  # a chip the fold hides, or cuts through, is no target
        chips = tuple((n, chip) for n, chip in chips if chip.bottom() < origin.y() + fold)
    footer = elided(footer, small, max(0, footer_rect.width())) if footer else ""
    return RowLayout(height, bubble, header, body, origin, footer,
                     footer_rect, chips, None, fold, toggle, words, quote_rect, quote_words,
                     reactions, add, edited_rect)  # fmt: skip


def _quote(
    quote: Quote, top_left: QPoint, width: int, font: QFont
) -> tuple[QRect, tuple[str, str]]:
    """The quote block of a reply at ``top_left``, at most ``width`` wide: its rect, and the
    name and the start of the text it shows (on one line, cut to fit)."""
    small = _small(font)
    names, texts = QFontMetrics(_bold(small)), QFontMetrics(small)
    inner = max(40, width - QUOTE_BAR - 3 * PAD)
    name = elided(fenced(quote.author_name), names, inner // 2)
    if quote.deleted:
        text = "message deleted"
    else:
        text = shorten(one_line(quote.text).strip(), QUOTE_CHARS)
        text = f"File: {text}" if quote.kind == "file" else text
    text = elided(fenced(text, QUOTE_CHARS), texts, inner - names.horizontalAdvance(name))
    used = QUOTE_BAR + 3 * PAD + names.horizontalAdvance(name) + texts.horizontalAdvance(text)
    rect = QRect(top_left, QSize(min(width, used), texts.height() + 2 * GAP))
    return rect, (name, text)


def _emoji_font(font: QFont) -> QFont:
    """The font a reaction's emoji is drawn in: a little larger than the text."""
    larger = QFont(font)
    larger.setPointSizeF(font.pointSizeF() + 2)
    return larger


def _reaction_chips(
    entry: Entry, top_left: QPoint, width: int, font: QFont
) -> tuple[tuple[tuple[str, str, str, QRect], ...], QRect, int]:
    """The reaction chips of ``entry`` from ``top_left``, wrapping at ``width``: each chip
    (its emoji, the emoji as drawn, its count and its rect), the "+" chip, and where what
    follows them starts (the same ``y`` when there are none)."""
    y = top_left.y()
    if entry.deleted or not any(entry.reactions.values()):
        return (), QRect(), y
    emojis, counts = QFontMetrics(_emoji_font(font)), QFontMetrics(_bold(_small(font)))
    height = emojis.height() + 4
    x = left = top_left.x()
    chips: list[tuple[str, str, str, QRect]] = []
    found = [(emoji, len(who)) for emoji, who in entry.reactions.items() if who]
    for emoji, count in [*found, ("", 0)]:
        if emoji:
            counted = str(count)
            shown = elided(fenced(emoji, MAX_REACTION_CHARS), emojis,
                           width - 3 * PAD - counts.horizontalAdvance(counted))  # fmt: skip
            chip = emojis.horizontalAdvance(shown) + GAP + counts.horizontalAdvance(counted)
        else:
            counted, shown = "", ADD_REACTION
            chip = emojis.horizontalAdvance(shown)
        chip += 2 * PAD
        if x > left and x + chip > left + width:
            x, y = left, y + height + GAP
        chips.append((emoji, shown, counted, QRect(x, y, chip, height)))
        x += chip + GAP
    add = chips.pop()[3]
    return tuple(chips), add, y + height + GAP


def _fold(entry: Entry, body: _Body, line: int) -> int:
    """Where a folded body is cut (its height shown folded), or -1 when it is not long
    enough to fold, or is an answer still being written. The cut is under the last line of
    text that ends within :data:`FOLDED_LINES` lines, so that no line is cut through."""
    if entry.kind not in ("message", "answer") or entry.status == "streaming":
        return -1
    target = FOLDED_LINES * line
    long = body.height > LONG_LINES * line or len(entry.text) > LONG_CHARS
    if not long or body.height <= target + 3 * line:  # folding would hide too little
        return -1
    cut = 0
    for part in body.parts:
        if part.y >= target:
            break
        layout = part.doc.documentLayout()
        block = part.doc.begin()
        while block.isValid():
            top = part.y + layout.blockBoundingRect(block).top()  # also lays it out
            if top >= target:
                break
            lines = block.layout()
            for n in range(lines.lineCount()):
                bottom = math.ceil(top + lines.lineAt(n).rect().bottom())
                if bottom > target:
                    break
                cut = max(cut, bottom)
            block = block.next()
    return cut or target


def file_row_layout(
    entry: Entry, card: FileCard, width: int, font: QFont, stamp: str | None = None
) -> RowLayout:
    """The layout of a shared file's row: a bubble with its header (``stamp`` as in
    :func:`row_layout`), and the card."""
    rect = column(QRect(0, 0, width, 0), font)
    metrics = QFontMetrics(font)
    line = metrics.height()
    small = _small(font)
    smalls = QFontMetrics(small)
    bold = QFont(font)
    bold.setBold(True)
    inner = text_width("message", width, font)
    x, y = rect.left() + 2 * PAD, GAP + GAP
    if stamp is None:
        stamp = relative_stamp(entry.ts, time.time())
    header = _header(entry, font, QPoint(x, y + PAD // 2), inner, stamp)
    y += PAD // 2 + line + GAP
    origin = QPoint(x, y)
    image = QRect()
    if card.thumbnail is not None and not card.thumbnail.isNull():
        shown = card.thumbnail.size().scaled(
            QSize(min(inner, card.thumbnail.width()), card.thumbnail.height()),
            Qt.AspectRatioMode.KeepAspectRatio,
        )
        image = QRect(QPoint(x, y), shown)
        y += shown.height() + GAP
    tag_height = line + smalls.height()
    tag_rect = QRect(x, y, TAG_WIDTH, tag_height)
    text_x = x + TAG_WIDTH + PAD
    text_width_left = max(40, inner - TAG_WIDTH - PAD)
    texts: list[tuple[str, str, QRect]] = [
        ("name", elided(card.name, QFontMetrics(bold), text_width_left),
         QRect(text_x, y, text_width_left, line)),
        ("details", elided(card.details, smalls, text_width_left),
         QRect(text_x, y + line, text_width_left, smalls.height())),
    ]  # fmt: skip
    y += tag_height
    for look, text in card.notes:
        y += GAP
        if look == "badge":
            words = elided(text, QFontMetrics(_bold(small)), inner - 12)
            badge = QRect(x, y, QFontMetrics(_bold(small)).horizontalAdvance(words) + 12,
                          smalls.height() + 4)  # fmt: skip
            texts.append((look, words, badge))
            y += badge.height()
            continue
        wrap = Qt.TextFlag.TextWordWrap | Qt.TextFlag.TextWrapAnywhere
        height = smalls.boundingRect(QRect(0, 0, inner, 100_000), wrap, text).height()
        texts.append((look, text, QRect(x, y, inner, height)))
        y += height
    bar = QRect()
    if card.progress is not None:
        y += GAP
        bar = QRect(x, y, min(inner, BAR_WIDTH), BAR_HEIGHT)
        y += BAR_HEIGHT
    buttons: list[tuple[str, QRect]] = []
    if card.actions:
        y += GAP + 2
        cursor = x
        for action in card.actions:
            label_width = smalls.horizontalAdvance(FILE_ACTIONS[action]) + 2 * PAD
            buttons.append((action, QRect(cursor, y, label_width, smalls.height() + GAP + 2)))
            cursor += label_width + PAD
        y += smalls.height() + GAP + 2
    reactions, add, after = _reaction_chips(entry, QPoint(x, y + GAP), inner, font)
    if reactions:
        y = after
    height = y + PAD + GAP
    bubble = QRect(rect.left() + PAD, GAP, rect.width() - 2 * PAD, height - 2 * GAP)
    progress = max(0.0, min(1.0, card.progress or 0.0))
    layout = CardLayout(
        card.thumbnail, image, card.tag, tag_rect, tuple(texts), bar, progress, tuple(buttons)
    )
    return RowLayout(height, bubble, header, _NO_BODY, origin, "", QRect(), (), layout,
                     reactions=reactions, add_reaction=add)  # fmt: skip


def _bold(font: QFont) -> QFont:
    bold = QFont(font)
    bold.setBold(True)
    return bold


def _header(entry: Entry, font: QFont, top_left: QPoint, width: int, stamp: str,
            after: int = 0) -> _Header:  # fmt: skip
    """The header line at ``top_left``: the name gets what the badge, the time (``stamp``)
    and ``after`` pixels after it leave of ``width``."""
    bold = QFont(font)
    bold.setBold(True)
    names = QFontMetrics(bold)
    small = _small(font, 1.5)
    small.setBold(True)
    smalls = QFontMetrics(small)
    badge = {"host": "HOST", "assistant": "AI"}.get(entry.role, "")
    badge_width = smalls.horizontalAdvance(badge) + 10 if badge else 0
    room = width - (badge_width + PAD if badge else 0) - smalls.horizontalAdvance(stamp) - PAD
    room -= after
    name = elided(fenced(entry.author) + (" (you)" if entry.mine else ""), names, room)
    metrics = QFontMetrics(font)
    x, y = top_left.x(), top_left.y()
    cursor = x + names.horizontalAdvance(name) + PAD
    badge_rect = QRect()
    if badge:
        badge_rect = QRect(cursor, y + 1, badge_width, metrics.height() - 2)
        cursor += badge_width + PAD
    baseline = y + metrics.ascent()
    stamps = QFontMetrics(_small(font, 1.5))  # as it is drawn: not bold
    stamp_rect = QRect(cursor, y, stamps.horizontalAdvance(stamp), metrics.height())
    return _Header(name, QPoint(x, baseline), badge, badge_rect, stamp,
                   QPoint(cursor, baseline), stamp_rect)  # fmt: skip


def _chips(body: _Body, origin: QPoint, font: QFont) -> tuple[tuple[int, QRect], ...]:
    """Each code block's "Copy code" chip: at the right of its strip, or in the top right
    corner of a code block inside a list or a quote."""
    metrics = QFontMetrics(_small(font))
    width = max(metrics.horizontalAdvance(w) for w in ("Copy code", "Copied")) + 2 * PAD
    height = metrics.height() + GAP
    chips = []
    for box in body.boxes:
        rect = box.rect.translated(origin)
        top = rect.top() + (GAP if box.strip else 2)
        left = rect.right() - width - (CODE_PAD if box.strip else 2)
        chips.append((box.number, QRect(left, top, width, height)))
    return tuple(chips)


class MessageDelegate(QStyledItemDelegate):
    """See the module docstring. Emits :attr:`file_action` (the row's entry key and the
    action) when a file card's button is clicked, and :attr:`fold_toggled` (the row's key,
    and whether it should now be shown whole) when its "Show more" or "Show less" chip is,
    :attr:`quote_clicked` (the reply's key) when a reply's quote is, and
    :attr:`reaction_clicked` (the row's key and the chip's emoji, "" for "+") when a
    reaction chip is. ``clock`` gives the time now (seconds since the epoch) that rows say
    how long ago they were written at. The row whose key is :attr:`flashed` is highlighted
    (the view sets it, and repaints the row)."""

    file_action = Signal(str, str)
    fold_toggled = Signal(str, bool)
    quote_clicked = Signal(str)
    reaction_clicked = Signal(str, str)

    def __init__(
        self, parent: QObject | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(parent)
        self.clock = clock
        self._docs: OrderedDict[tuple[str, int, str], QTextDocument] = OrderedDict()
        # Keyed by row without its version, holding the version they are for: a streaming
        # answer's thousand versions replace each other instead of pushing the rest out.
        self._bodies: OrderedDict[tuple[str, int, bool, str], tuple[int, _Body]] = OrderedDict()
        self._segments: OrderedDict[tuple[str, bool], tuple[int, list[Segment]]] = OrderedDict()
        self._streams: OrderedDict[tuple[str, bool], StreamingMarkdown] = OrderedDict()
        # With the version, the words that say when the row was written, which change with
        # the time; the height does not.
        self._layouts: OrderedDict[_RowKey, tuple[int, str, RowLayout]] = OrderedDict()
        self._heights: OrderedDict[_RowKey, tuple[int, int]] = OrderedDict()
        self._copied: tuple[str, int] | None = None  # (row key, code block) just copied
        self._copied_at = 0.0
        self._looks_for: tuple[int, QFont] | None = None  # (palette key, font) of _looks
        self._looks = (False, "")
        self.flashed = ""  # the key of the row highlighted for a moment

    # ----------------------------------------------------------------- rendering

    @staticmethod
    def _dark(option: QStyleOptionViewItem) -> bool:
        return option.palette.color(QPalette.ColorRole.Base).lightness() < 128

    def _look(self, option: QStyleOptionViewItem) -> tuple[bool, str]:
        """Whether the view is dark, and its font's key: what a row's layout depends on
        besides its width (asked for every row of each layout pass: remembered)."""
        palette = option.palette.cacheKey()
        if self._looks_for is None or self._looks_for[0] != palette or (
            self._looks_for[1] != option.font
        ):  # fmt: skip
            self._looks_for = (palette, QFont(option.font))
            self._looks = (self._dark(option), option.font.key())
        return self._looks

    def _body_segments(self, entry: Entry, dark: bool) -> list[Segment]:
        """The row's segments, rendered once per version; a streaming answer's through its
        :class:`StreamingMarkdown`, which renders only what changed since."""
        key = (entry.key, dark)
        cached = self._segments.get(key)
        if cached is not None and cached[0] == entry.version:
            return cached[1]
        text = entry.text
        if not text and entry.kind == "answer" and entry.error:
            text = entry.error  # a failed answer says why, in full, where text would be
        stream = self._streams.get((entry.key, dark))
        if stream is None and entry.kind == "answer" and entry.status == "streaming":
            stream = self._streams[(entry.key, dark)] = StreamingMarkdown(dark=dark)
            _trim(self._streams, STREAMS)
        if stream is not None:
            found = stream.update(text) if text else []
        else:
            found = segments(text, dark=dark) if text else []
        self._segments[key] = (entry.version, found)
        _trim(self._segments, BODIES)
        return found

    def _document(self, html: str, width: int, font: QFont) -> QTextDocument:
        key = (html, width, font.key())
        doc = self._docs.get(key)
        if doc is not None:
            self._docs.move_to_end(key)
            return doc
        doc = QTextDocument()
        doc.setDefaultFont(font)
        doc.setDocumentMargin(0)
        option = QTextOption()
        option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        doc.setDefaultTextOption(option)  # a long word wraps instead of widening the row
        doc.setHtml(html)
        doc.setTextWidth(width)
        self._docs[key] = doc
        _trim(self._docs, DOCUMENTS)
        return doc

    def _body(self, entry: Entry, width: int, dark: bool, font: QFont) -> _Body:
        key = (entry.key, width, dark, font.key())
        cached = self._bodies.get(key)
        if cached is not None and cached[0] == entry.version:
            return cached[1]
        body = self._lay_out(self._body_segments(entry, dark), width, dark, font)
        self._bodies[key] = (entry.version, body)
        _trim(self._bodies, BODIES)
        return body

    def _lay_out(self, found: list[Segment], width: int, dark: bool, font: QFont) -> _Body:
        """Stack the segments: a gap between blocks, none between the chunks of a code
        block, which sit in its background under a strip for its language and chip."""
        parts: list[_Part] = []
        boxes: list[_CodeBox] = []
        code_width = max(40, width - 2 * CODE_PAD)
        background = QColor(code_background(dark=dark))
        y, box_top, next_code = 0, 0, 0
        for n, segment in enumerate(found):
            if segment.code < 0 or segment.first:
                y += SEGMENT_GAP if n else 0
            if segment.code < 0:
                doc = self._document(segment.html, width, font)
                for table in _code_tables(doc, background):
                    box = table.toAlignedRect().translated(0, y)
                    box.setRight(min(box.right(), width - 1))  # its frame can reach past
                    boxes.append(_CodeBox(next_code, box, strip=False))
                    next_code += 1
                parts.append(_Part(doc, 0, y))
                y += math.ceil(doc.size().height())
                continue
            if segment.first:
                box_top = y
                y += _strip_height(font)
            doc = self._document(segment.html, code_width, font)
            parts.append(_Part(doc, CODE_PAD, y))
            y += math.ceil(doc.size().height())
            if segment.last:
                y += CODE_PAD
                rect = QRect(0, box_top, width, y - box_top)
                boxes.append(_CodeBox(segment.code, rect, segment.language))
                next_code = segment.code + 1
        return _Body(tuple(parts), tuple(boxes), y)

    # ----------------------------------------------------------------- layout

    @staticmethod
    def _entry(index: Index, row: int) -> object:
        """The entry of ``row`` in ``index``'s model, None when there is no such row; straight
        from a model with an ``entry`` method (ours: a layout asks for every row). A window
        onto the transcript (with a ``first`` row) has rows before its own row 0."""
        model = index.model()
        entry_of = getattr(model, "entry", None)
        if entry_of is None:
            return model.index(row, 0).data(Roles.ENTRY) if row >= 0 else None
        if not -getattr(model, "first", 0) <= row < model.rowCount():
            return None
        return entry_of(row)

    @staticmethod
    def _expanded(index: Index, entry: Entry) -> bool:
        """Whether the row is shown whole however long it is; straight from a model with an
        ``is_expanded`` method (ours), as for :meth:`_entry`."""
        model = index.model()
        is_expanded = getattr(model, "is_expanded", None)
        if is_expanded is not None:
            return bool(is_expanded(entry.key))
        return bool(index.data(Roles.EXPANDED))

    @classmethod
    def _grouped(cls, index: Index, entry: Entry) -> bool:
        """Whether this message continues the previous row's (same author, same minutes)."""
        if entry.kind != "message":
            return False
        before = cls._entry(index, index.row() - 1)
        return (
            isinstance(before, Entry)
            and before.kind == "message"
            and before.author_id == entry.author_id
            and entry.ts - before.ts < GROUP_SECONDS
        )

    def _row(self, entry: Entry, key: _RowKey, font: QFont,
             card: FileCard | None = None) -> RowLayout:  # fmt: skip
        """The row's layout (relative to its top left corner) for ``key``, computed once per
        version of the row and time it shows; a file's row from its ``card``."""
        stamp = relative_stamp(entry.ts, self.clock())
        cached = self._layouts.get(key)
        if cached is not None and cached[0] == entry.version and cached[1] == stamp:
            self._layouts.move_to_end(key)
            return cached[2]
        _key, width, dark, _font, grouped, expanded = key
        if entry.kind == "file":
            layout = file_row_layout(entry, card or _NO_CARD, width, font, stamp)
            self._layouts[key] = (entry.version, stamp, layout)
            _trim(self._layouts, BODIES)
            return layout
        body = _NO_BODY
        if entry.kind != "event":
            body = self._body(entry, text_width(entry.kind, width, font), dark, font)
        layout = row_layout(entry, width, font, body, grouped=grouped, stamp=stamp,
                            expanded=expanded)  # fmt: skip
        self._layouts[key] = (entry.version, stamp, layout)
        _trim(self._layouts, BODIES)
        return layout

    def _key(self, entry: Entry, option: QStyleOptionViewItem, index: Index) -> _RowKey:
        """What a row's layout depends on besides its version and the time."""
        dark, font = self._look(option)
        grouped = self._grouped(index, entry)
        return (entry.key, option.rect.width(), dark, font, grouped, self._expanded(index, entry))

    def _placed(self, option: QStyleOptionViewItem, index: Index) -> tuple[Entry, RowLayout] | None:
        """The row's entry and its layout at ``option.rect``; None for a row without one."""
        entry = index.data(Roles.ENTRY)
        if not isinstance(entry, Entry):
            return None
        card = index.data(Roles.FILE_CARD) if entry.kind == "file" else None
        return entry, self._row(entry, self._key(entry, option, index), option.font, card).at(
            option.rect
        )  # fmt: skip

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        entry = self._entry(index, index.row())
        if not isinstance(entry, Entry):
            return super().sizeHint(option, index)
        width = option.rect.width()
        if width <= 0:  # asked before the view has a width: no layout yet
            return QSize(0, QFontMetrics(option.font).height())
        # A layout pass asks for every row: the heights are kept for many more rows than
        # the layouts, which hold documents.
        key = self._key(entry, option, index)
        cached = self._heights.get(key)
        if cached is not None and cached[0] == entry.version:
            return QSize(width, cached[1])
        card = index.data(Roles.FILE_CARD) if entry.kind == "file" else None
        height = self._row(entry, key, option.font, card).height
        self._heights[key] = (entry.version, height)
        _trim(self._heights, HEIGHTS)
        return QSize(width, height)

    # ----------------------------------------------------------------- painting

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        placed = self._placed(option, index)
        if placed is None:
            super().paint(painter, option, index)
            return
        entry, layout = placed
        # From the option's palette (the view's), not option.widget: a wrapper made for the
        # widget pointer in every paint call was where a rare crash in the test suite struck.
        colours = _palette(option.palette)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if entry.kind == "event":
            painter.setFont(_small(option.font))
            painter.setPen(colours.muted)
            painter.drawText(layout.line_rect, Qt.AlignmentFlag.AlignCenter, layout.line)
        elif entry.kind == "file":
            self._paint_file(painter, option, entry, layout, colours)
        elif entry.kind == "notice":
            self._paint_notice(painter, option, entry, layout, colours)
        else:
            self._paint_message(painter, option, entry, layout, colours)
        if layout.reactions:
            self._paint_reactions(painter, option, index, layout, colours)
        if entry.key == self.flashed and self.flashed:
            accent = QColor(colours.accent)
            accent.setAlpha(40)  # the text stays readable through it
            painter.setPen(colours.accent)
            painter.setBrush(accent)
            painter.drawRoundedRect(layout.frame.adjusted(0, 0, -1, -1), 8, 8)
        if entry.kind in ("event", "notice") and option.state & QStyle.StateFlag.State_Selected:
            # Rows without a bubble show that they are selected (arrows, Ctrl+C) all the same.
            painter.setPen(colours.accent)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(layout.frame.adjusted(0, 0, -1, -1), 8, 8)
        painter.restore()

    def _paint_message(self, painter: QPainter, option: QStyleOptionViewItem, entry: Entry,
                       layout: RowLayout, colours: _Palette) -> None:  # fmt: skip
        bubble = layout.frame
        fill = colours.answer if entry.kind == "answer" else (
            colours.mine if entry.mine else colours.other
        )  # fmt: skip
        _paint_bubble(painter, bubble, fill, option, colours)
        if layout.header is not None:
            self._paint_header(painter, option.font, layout.header, colours)
        if layout.edited.isValid():
            self._paint_edited(painter, option.font, layout, colours)
        if layout.quote.isValid():
            self._paint_quote(painter, option, layout, colours)
        if entry.deleted:
            italic = QFont(option.font)
            italic.setItalic(True)
            painter.setFont(italic)
            painter.setPen(colours.muted)
            ascent = QFontMetrics(italic).ascent()
            painter.drawText(layout.origin + QPoint(0, ascent), DELETED_WORDS)
            painter.setFont(option.font)
        if not entry.text and entry.status == "streaming":
            painter.setPen(colours.muted)
            ascent = QFontMetrics(option.font).ascent()
            painter.drawText(layout.origin + QPoint(0, ascent), "…")
        if layout.folded:
            painter.save()
            shown = QRect(bubble.left(), layout.origin.y(), bubble.width(), layout.fold)
            painter.setClipRect(shown, Qt.ClipOperation.IntersectClip)
            self._paint_body(painter, option, entry, layout, colours.text, colours)
            painter.restore()
            # The last line shown fades out: there is more.
            line = QFontMetrics(option.font).height()
            fade = QRect(shown.left(), shown.bottom() - line + 1, shown.width(), line)
            gradient = QLinearGradient(QPointF(fade.topLeft()), QPointF(fade.bottomLeft()))
            clear = QColor(fill)
            clear.setAlpha(0)
            gradient.setColorAt(0.0, clear)
            gradient.setColorAt(1.0, fill)
            painter.fillRect(fade, gradient)
        else:
            self._paint_body(painter, option, entry, layout, colours.text, colours)
        if layout.toggle_words:
            painter.setFont(_small(option.font))
            painter.setPen(colours.accent)
            painter.setBrush(QColor(code_background(dark=self._dark(option))))
            painter.drawRoundedRect(layout.toggle, 5, 5)
            painter.drawText(layout.toggle, Qt.AlignmentFlag.AlignCenter, layout.toggle_words)
            painter.setFont(option.font)
        if layout.line:
            failed = entry.status in ("failed", "interrupted")  # "no answer", "not sent"
            painter.setPen(colours.error if failed else colours.muted)
            painter.setFont(_small(option.font))
            painter.drawText(layout.line_rect, 0, layout.line)
            painter.setFont(option.font)

    def _paint_edited(self, painter: QPainter, font: QFont, layout: RowLayout,
                      colours: _Palette) -> None:  # fmt: skip
        """ "(edited)": after the time in the header, or first in the footer."""
        painter.setPen(colours.muted)
        if layout.header is not None:  # on the time's baseline, in its font
            painter.setFont(_small(font, 1.5))
            painter.drawText(QPoint(layout.edited.left(), layout.header.stamp_at.y()), EDITED_WORDS)
        else:
            painter.setFont(_small(font))
            painter.drawText(layout.edited, 0, EDITED_WORDS)
        painter.setFont(font)

    def _paint_quote(self, painter: QPainter, option: QStyleOptionViewItem, layout: RowLayout,
                     colours: _Palette) -> None:  # fmt: skip
        """The quote of what a reply answers: a muted block with an accent bar, the name in
        bold and the start of the text."""
        rect = layout.quote
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(code_background(dark=self._dark(option))))
        painter.drawRoundedRect(rect, 4, 4)
        painter.setBrush(colours.accent)
        painter.drawRoundedRect(QRect(rect.left(), rect.top(), QUOTE_BAR, rect.height()), 1, 1)
        small = _small(option.font)
        bold = _bold(small)
        name, text = layout.quote_words
        x = rect.left() + QUOTE_BAR + PAD
        baseline = rect.top() + GAP + QFontMetrics(small).ascent()
        painter.setFont(bold)
        painter.setPen(colours.text)
        painter.drawText(QPoint(x, baseline), name)
        x += QFontMetrics(bold).horizontalAdvance(name) + PAD
        small.setItalic(text == "message deleted")
        painter.setFont(small)
        painter.setPen(colours.muted)
        painter.drawText(QPoint(x, baseline), text)
        painter.setFont(option.font)

    def _paint_reactions(self, painter: QPainter, option: QStyleOptionViewItem, index: Index,
                         layout: RowLayout, colours: _Palette) -> None:  # fmt: skip
        """The reaction chips (ours in the accent colour) and the "+" chip."""
        found = index.data(Roles.REACTIONS)
        mine = {r.emoji for r in found if isinstance(r, Reaction) and r.mine} if found else set()
        background = QColor(code_background(dark=self._dark(option)))
        tint = QColor(colours.accent)
        tint.setAlpha(48)
        edge = QColor(colours.muted)
        edge.setAlpha(80)  # the code background alone barely shows on a light bubble
        emojis, counts = _emoji_font(option.font), _bold(_small(option.font))
        chips = [*layout.reactions, ("", ADD_REACTION, "", layout.add_reaction)]
        centre = Qt.AlignmentFlag.AlignVCenter
        for emoji, shown, count, rect in chips:
            ours = emoji in mine
            painter.setPen(colours.accent if ours else edge)
            painter.setBrush(tint if ours else background)
            painter.drawRoundedRect(QRectF(rect).adjusted(0.5, 0.5, -0.5, -0.5),
                                    rect.height() / 2, rect.height() / 2)  # fmt: skip
            inside = rect.adjusted(PAD, 0, -PAD, 0)
            painter.setFont(emojis)
            painter.setPen(colours.accent if not emoji else colours.text)
            painter.drawText(inside, centre | Qt.AlignmentFlag.AlignLeft, shown)
            painter.setFont(counts)
            painter.setPen(colours.accent if ours else colours.muted)
            painter.drawText(inside, centre | Qt.AlignmentFlag.AlignRight, count)
        painter.setFont(option.font)

    def _paint_body(
        self, painter: QPainter, option: QStyleOptionViewItem, entry: Entry, layout: RowLayout,
        text: QColor, colours: _Palette,
    ) -> None:  # fmt: skip
        """The body's code backgrounds, its segments that are in view, and its chips."""
        body, origin = layout.body, layout.origin
        dark = self._dark(option)
        background = QColor(code_background(dark=dark))
        small = _small(option.font)
        for box in body.boxes:
            if box.strip:
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(background)
                painter.drawRoundedRect(box.rect.translated(origin), 6, 6)
        clip = QRectF(option.rect)  # only what is in view: a long answer is long
        if isinstance(option.widget, QAbstractItemView):
            clip = clip.intersected(QRectF(option.widget.viewport().rect()))
        if painter.hasClipping():
            clip = clip.intersected(painter.clipBoundingRect())
        context = QAbstractTextDocumentLayout.PaintContext()
        context.palette.setColor(QPalette.ColorRole.Text, text)
        for part in body.parts:
            top = origin.y() + part.y
            if top > clip.bottom() or top + part.doc.size().height() < clip.top():
                continue  # a long answer: only what is in view is drawn
            painter.translate(origin.x() + part.x, top)
            context.clip = clip.translated(-(origin.x() + part.x), -top)
            part.doc.documentLayout().draw(painter, context)
            painter.translate(-(origin.x() + part.x), -top)
        painter.setFont(small)
        for box in body.boxes:
            strip = box.rect.translated(origin)
            if box.strip and box.language:
                painter.setPen(colours.muted)
                label = QRect(strip.left() + CODE_PAD, strip.top(), strip.width() // 2,
                              _strip_height(option.font))  # fmt: skip
                name = elided(fenced(box.language, 24), QFontMetrics(small), label.width())
                painter.drawText(label, Qt.AlignmentFlag.AlignVCenter, name)
        for number, chip in layout.chips:
            copied = self._copied == (entry.key, number) and (
                time.monotonic() - self._copied_at < COPIED_MS / 1000
            )
            painter.setPen(colours.accent)
            painter.setBrush(background)
            painter.drawRoundedRect(chip, 5, 5)
            words = "Copied" if copied else "Copy code"
            painter.drawText(chip, Qt.AlignmentFlag.AlignCenter, words)
        painter.setFont(option.font)

    def _paint_file(self, painter: QPainter, option: QStyleOptionViewItem, entry: Entry,
                    layout: RowLayout, colours: _Palette) -> None:  # fmt: skip
        """A file's bubble, header and card (see :class:`CardLayout`)."""
        card = layout.card
        bubble = layout.frame
        _paint_bubble(
            painter, bubble, colours.mine if entry.mine else colours.other, option, colours
        )
        if layout.header is not None:
            self._paint_header(painter, option.font, layout.header, colours)
        if card is None:
            return
        if card.image.isValid() and card.thumbnail is not None:
            painter.drawImage(card.image, card.thumbnail)
        background = QColor(code_background(dark=self._dark(option)))
        small = _small(option.font)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(background)
        painter.drawRoundedRect(card.tag_rect, 6, 6)
        painter.setFont(_bold(small))
        painter.setPen(colours.muted)
        painter.drawText(card.tag_rect, Qt.AlignmentFlag.AlignCenter, card.tag)
        wrap = Qt.TextFlag.TextWordWrap | Qt.TextFlag.TextWrapAnywhere
        for look, text, rect in card.texts:
            if look == "name":
                painter.setFont(_bold(option.font))
                painter.setPen(colours.text)
                painter.drawText(rect, Qt.AlignmentFlag.AlignVCenter, text)
            elif look == "badge":
                painter.setFont(_bold(small))
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(colours.ai_badge)
                painter.drawRoundedRect(rect, 4, 4)
                painter.setPen(colours.badge_text)
                painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
            else:
                painter.setFont(small)
                pen = {"problem": colours.error, "warning": colours.warn}.get(look, colours.muted)
                painter.setPen(pen)
                painter.drawText(rect, int(wrap), text)
        if card.bar.isValid():
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(background)
            painter.drawRoundedRect(card.bar, 3, 3)
            done = QRect(card.bar)
            done.setWidth(round(card.bar.width() * card.progress))
            if done.width() > 0:
                painter.setBrush(colours.accent)
                painter.drawRoundedRect(done, 3, 3)
        painter.setFont(small)
        for action, rect in card.buttons:
            painter.setPen(colours.accent)
            painter.setBrush(background)
            painter.drawRoundedRect(rect, 5, 5)
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, FILE_ACTIONS[action])
        painter.setFont(option.font)

    @staticmethod
    def _paint_header(painter: QPainter, font: QFont, header: _Header, colours: _Palette) -> None:
        bold = QFont(font)
        bold.setBold(True)
        painter.setFont(bold)
        painter.setPen(colours.text)
        painter.drawText(header.name_at, header.name)
        small = _small(font, 1.5)
        if header.badge:
            small.setBold(True)
            painter.setFont(small)
            painter.setPen(Qt.PenStyle.NoPen)
            # The theme pairs the badges' text with these (message_accent is for text).
            painter.setBrush(colours.host if header.badge == "HOST" else colours.ai_badge)
            painter.drawRoundedRect(header.badge_rect, 4, 4)
            painter.setPen(colours.badge_text)
            painter.drawText(header.badge_rect, Qt.AlignmentFlag.AlignCenter, header.badge)
            small.setBold(False)
        painter.setFont(small)
        painter.setPen(colours.muted)
        painter.drawText(header.stamp_at, header.stamp)
        painter.setFont(font)

    def _paint_notice(self, painter: QPainter, option: QStyleOptionViewItem, entry: Entry,
                      layout: RowLayout, colours: _Palette) -> None:  # fmt: skip
        rect = layout.frame
        colour = colours.error if entry.level == "error" else (
            colours.warn if entry.level == "warning" else colours.accent
        )  # fmt: skip
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(colour)
        painter.drawRoundedRect(QRect(rect.left(), rect.top(), 4, rect.height()), 2, 2)
        self._paint_body(painter, option, entry, layout, colours.muted, colours)

    # ----------------------------------------------------------------- hit tests

    def _option(self, view: QAbstractItemView, index: Index) -> QStyleOptionViewItem:
        option = QStyleOptionViewItem()
        option.rect = view.visualRect(index)
        option.font = view.font()
        option.palette = view.palette()
        option.widget = view
        return option

    def layout_of(self, view: QAbstractItemView, index: Index) -> RowLayout | None:
        """The layout of the row at ``index`` as ``view`` shows it (view coordinates): the
        one it is painted with. None for a row that is not a transcript entry."""
        placed = self._placed(self._option(view, index), index)
        return placed[1] if placed is not None else None

    def code_at(self, view: QAbstractItemView, index: Index, pos: QPoint) -> int | None:
        """The number of the code block under ``pos`` (view coordinates) in the row, if any."""
        layout = self.layout_of(view, index)
        return layout.code_at(pos) if layout is not None else None

    def copy_chips(self, view: QAbstractItemView, index: Index) -> list[tuple[int, QRect]]:
        """Each "Copy code" chip in the row: its code block's number and where it is (view
        coordinates)."""
        layout = self.layout_of(view, index)
        return list(layout.chips) if layout is not None else []

    def copy_code(self, view: QAbstractItemView, index: Index, number: int) -> bool:
        """Put the row's code block ``number`` on the clipboard, and say "Copied" on its chip
        for a moment. False when the row has no such block."""
        entry = index.data(Roles.ENTRY)
        if not isinstance(entry, Entry):
            return False
        blocks = code_blocks(entry.text)
        if not 0 <= number < len(blocks):
            return False
        QGuiApplication.clipboard().setText(blocks[number])
        self._copied, self._copied_at = (entry.key, number), time.monotonic()
        viewport = view.viewport()
        viewport.update(view.visualRect(index))
        QTimer.singleShot(COPIED_MS + 50, viewport, viewport.update)
        return True

    def editorEvent(
        self, event: QEvent, model: QAbstractItemModel, option: QStyleOptionViewItem,
        index: Index,
    ) -> bool:  # fmt: skip
        if event.type() != QEvent.Type.MouseButtonRelease or not isinstance(event, QMouseEvent):
            return False
        if event.button() != Qt.MouseButton.LeftButton:
            return False  # right-click is for the menu, middle-click for nothing
        placed = self._placed(option, index)
        if placed is None:
            return False
        entry, layout = placed
        pos = event.position().toPoint()
        view = option.widget if isinstance(option.widget, QAbstractItemView) else None
        action = layout.button_at(pos)
        if action is not None:
            self.file_action.emit(entry.key, action)
            return True
        if layout.toggle.contains(pos):
            self.fold_toggled.emit(entry.key, layout.folded)
            return True
        emoji = layout.reaction_at(pos)
        if emoji is not None:
            self.reaction_clicked.emit(entry.key, emoji)
            return True
        if layout.quote_at(pos):
            self.quote_clicked.emit(entry.key)
            return True
        number = layout.chip_at(pos)
        if number is not None and view is not None:
            return self.copy_code(view, index, number)
        link = layout.link_at(pos)
        if link is not None:
            follow_link(option.widget or self._view(), *link)
            return True
        return False

    def link_under(self, view: QAbstractItemView, index: Index,
                   pos: QPoint) -> tuple[str, str] | None:  # fmt: skip
        """The link under ``pos`` (view coordinates) in the row: its text and its target."""
        layout = self.layout_of(view, index)
        return layout.link_at(pos) if layout is not None else None

    def helpEvent(
        self, event: QHelpEvent, view: QAbstractItemView, option: QStyleOptionViewItem,
        index: Index,
    ) -> bool:  # fmt: skip
        """Hovering a link shows where it really goes; hovering when a row was written, the
        exact time."""
        if event.type() == QEvent.Type.ToolTip:
            placed = self._placed(option, index)
            link = placed[1].link_at(event.pos()) if placed is not None else None
            if link is not None:
                QToolTip.showText(event.globalPos(), tooltip(shown_target(link[1])), view)
                return True
            if placed is not None and placed[1].stamp_at(event.pos()):
                QToolTip.showText(event.globalPos(), exact_stamp(placed[0].ts), view)
                return True
            said = self._tip(placed, index, event.pos()) if placed is not None else ""
            if said:
                QToolTip.showText(event.globalPos(), said, view)
                return True
        return super().helpEvent(event, view, option, index)

    def _tip(self, placed: tuple[Entry, RowLayout], index: Index, pos: QPoint) -> str:
        """The tooltip of a reaction chip, a reply's quote or "(edited)" under ``pos`` (rich
        text, network text escaped); "" for none."""
        entry, layout = placed
        emoji = layout.reaction_at(pos)
        if emoji == "":
            return tooltip("Add a reaction")
        if emoji is not None:
            found = index.data(Roles.REACTIONS) or ()
            reaction = next((r for r in found if isinstance(r, Reaction) and r.emoji == emoji),
                            None)  # fmt: skip
            return tooltip(reacted_words(reaction)) if reaction is not None else ""
        quote = entry.reply_to
        if layout.quote_at(pos) and quote is not None:
            said = "message deleted" if quote.deleted else one_line(quote.text)
            return tooltip(f"Reply to {fenced(quote.author_name)}: {said}") + (
                "<p>Click to go to the original.</p>"
            )  # fmt: skip
        if layout.edited_at(pos) and entry.edited_at is not None:
            when = html.escape(f"Edited {exact_stamp(entry.edited_at)}.")
            before = tooltip(f"Before the edit: {entry.previous}") if entry.previous else ""
            return f"<p>{when}</p>{before}"
        return ""

    def link_rects(self, view: QAbstractItemView, index: Index) -> list[tuple[str, str, QRect]]:
        """Each link in the row: its visible text, its target, and where its first line is
        drawn (view coordinates), in reading order."""
        layout = self.layout_of(view, index)
        return layout.links() if layout is not None else []

    def _view(self) -> QWidget:
        parent = self.parent()
        assert isinstance(parent, QWidget)
        return parent


_NO_CARD = FileCard(name="", details="", tag="")


def _trim(cache: OrderedDict[K, V], size: int) -> None:
    """Forget the oldest entries of an insertion-ordered cache beyond ``size``."""
    while len(cache) > size:
        cache.popitem(last=False)


def _paint_bubble(
    painter: QPainter, bubble: QRect, fill: QColor, option: QStyleOptionViewItem, colours: _Palette
) -> None:
    """A row's rounded background, outlined in the accent colour when the row is selected."""
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(fill)
    painter.drawRoundedRect(bubble, 8, 8)
    if option.state & QStyle.StateFlag.State_Selected:
        painter.setPen(colours.accent)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(bubble.adjusted(0, 0, -1, -1), 8, 8)
