"""Draws one transcript row: a chat message, an answer, a notice, or a "joined" line.

A message body is Markdown rendered by :mod:`desktop.markdown` into segments (one per
top-level block, and a long code block in chunks of lines), each laid out in its own
``QTextDocument`` and stacked. Documents are cached by their HTML and width, bodies and row
heights by the row's version and width, so scrolling 10,000 messages lays out only what is
new, and a streaming answer (rendered by a :class:`desktop.markdown.StreamingMarkdown`) lays
out only its last block again: what a delta costs does not grow with the answer. Only the
parts of a long body that are in view are painted.

Rows sit in a text column of about :data:`COLUMN_CHARS` characters, centred in a wide view,
and never wider than the view. Consecutive messages from one author within five minutes
share a header. Each code block carries a "Copy code" chip (its top strip, with the
language, for a code block of its own; its corner for one inside a list or a quote), which
says "Copied" for a moment after a click. Hovering a link shows where it goes; clicking an
http(s) link opens the system browser, after a question when its text names another address
(:mod:`desktop.links`).

Names, models, languages and errors come from the network: each is drawn as plain text, cut
to fit, and direction-isolated (:func:`desktop.network_text.fenced`) so that it cannot
reorder the time or the words beside it.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QObject,
    QPoint,
    QPointF,
    QRect,
    QRectF,
    QSize,
    Qt,
    QTimer,
)
from PySide6.QtGui import (
    QAbstractTextDocumentLayout,
    QColor,
    QFont,
    QFontMetrics,
    QGuiApplication,
    QHelpEvent,
    QMouseEvent,
    QPainter,
    QPalette,
    QTextDocument,
    QTextFrame,
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

from core.transcript import Entry
from core.wording import LEFT_WORDS
from desktop.labels import elided
from desktop.links import follow_link, link_at, shown_target
from desktop.markdown import (
    Segment,
    StreamingMarkdown,
    code_background,
    code_blocks,
    segments,
)
from desktop.models import Roles
from desktop.network_text import FIELD_CHARS, TEXT_CHARS, fenced, tooltip
from desktop.theme import colours_for

__all__ = ["COLUMN_CHARS", "MessageDelegate", "column", "event_line", "footer_text"]

PAD = 10  # around a message bubble
GAP = 4  # between the rows of one message
SEGMENT_GAP = 8  # between the blocks of a message
CODE_PAD = 8  # inside a code block's background
GROUP_SECONDS = 300
COLUMN_CHARS = 80
"""The text column is about this many average characters wide, at most."""
COPIED_MS = 1500
DOCUMENTS = 2000  # cached layouts of segments
BODIES = 600  # cached bodies (rows' stacks of segments) and rendered texts
HEIGHTS = 20_000  # cached row heights: what a layout pass asks for
STREAMS = 8  # answers rendered incrementally at once

# How core.transcript words a "joined" or "left" line after the name: the name is isolated
# on its own, so that it cannot reorder these words.
_EVENT_ENDINGS = tuple(
    sorted({" joined (host)", " joined", *(f" {words}" for words in LEFT_WORDS.values())},
           key=len, reverse=True)
)  # fmt: skip

_STATUS = {
    "streaming": "writing…",
    "stopped": "stopped",
    "interrupted": "cut off",
    "failed": "no answer",
}
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


def _palette(widget: QWidget | None) -> _Palette:
    c = colours_for(widget)
    return _Palette(
        *(QColor(value) for value in (
            c.text, c.text_muted, c.message_mine, c.message_answer, c.message_other,
            c.message_accent, c.message_host_badge, c.message_warning, c.message_error,
            c.badge_text,
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
    whether it was asked for again."""
    if entry.kind == "message":
        if entry.pending:
            return "sending…"
        return "not sent" if entry.status == "failed" else ""
    if entry.kind != "answer":
        return ""
    parts = []
    if entry.status in _STATUS:
        parts.append(_STATUS[entry.status])
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
    if entry.replaced_by:
        parts.append("regenerated below")
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


class MessageDelegate(QStyledItemDelegate):
    """See the module docstring."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._docs: OrderedDict[tuple[str, int, str], QTextDocument] = OrderedDict()
        # Keyed by row without its version, holding the version they are for: a streaming
        # answer's thousand versions replace each other instead of pushing the rest out.
        self._bodies: OrderedDict[tuple[str, int, bool, str], tuple[int, _Body]] = OrderedDict()
        self._segments: OrderedDict[tuple[str, bool], tuple[int, list[Segment]]] = OrderedDict()
        self._streams: OrderedDict[tuple[str, bool], StreamingMarkdown] = OrderedDict()
        self._heights: OrderedDict[tuple[object, ...], tuple[int, int]] = OrderedDict()
        self._copied: tuple[str, int] | None = None  # (row key, code block) just copied
        self._copied_at = 0.0
        self._looks_for: tuple[int, QFont] | None = None  # (palette key, font) of _looks
        self._looks = (False, "")

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
                for rect in _code_tables(doc, background):
                    box = rect.toAlignedRect().translated(0, y)
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
    def _entry(index: QModelIndex, row: int) -> object:
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

    @classmethod
    def _grouped(cls, index: QModelIndex, entry: Entry) -> bool:
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

    @staticmethod
    def _body_width(option: QStyleOptionViewItem) -> int:
        return max(120, column(option.rect, option.font).width() - 4 * PAD)

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        entry = self._entry(index, index.row())
        if not isinstance(entry, Entry):
            return super().sizeHint(option, index)
        width = option.rect.width()
        if width <= 0:  # asked before the view has a width: no layout yet
            return QSize(0, QFontMetrics(option.font).height())
        grouped = self._grouped(index, entry)
        dark, font = self._look(option)
        key = (entry.key, width, dark, font, grouped)
        cached = self._heights.get(key)
        if cached is not None and cached[0] == entry.version:
            return QSize(width, cached[1])
        line = QFontMetrics(option.font).height()
        height = self._height(entry, option, grouped, dark, line)
        self._heights[key] = (entry.version, height)
        _trim(self._heights, HEIGHTS)
        return QSize(width, height)

    def _height(self, entry: Entry, option: QStyleOptionViewItem, grouped: bool, dark: bool,
                line: int) -> int:  # fmt: skip
        if entry.kind == "event":
            return line + 2 * GAP
        if entry.kind == "notice":
            body = self._body(entry, self._body_width(option) - PAD, dark, option.font)
            return body.height + 2 * PAD
        height = GAP
        if not grouped:
            height += line + GAP + PAD // 2
        body = self._body(entry, self._body_width(option), dark, option.font)
        height += max(line, body.height) + 2 * GAP
        if footer_text(entry):
            height += line
        return height + GAP

    def _body_origin(self, entry: Entry, option: QStyleOptionViewItem, grouped: bool) -> QPoint:
        """Where the body's top left corner is drawn (view coordinates)."""
        y = option.rect.top() + GAP + GAP
        if not grouped:
            y += PAD // 2 + QFontMetrics(option.font).height() + GAP
        return QPoint(column(option.rect, option.font).left() + 2 * PAD, y)

    # ----------------------------------------------------------------- painting

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        entry = index.data(Roles.ENTRY)
        if not isinstance(entry, Entry):
            super().paint(painter, option, index)
            return
        colours = _palette(option.widget)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if entry.kind == "event":
            self._paint_event(painter, option, entry, colours)
        elif entry.kind == "notice":
            self._paint_notice(painter, option, entry, colours)
        else:
            self._paint_message(painter, option, index, entry, colours)
        painter.restore()

    def _paint_event(self, painter: QPainter, option: QStyleOptionViewItem, entry: Entry,
                     colours: _Palette) -> None:  # fmt: skip
        small = _small(option.font)
        rect = column(option.rect, option.font)
        painter.setFont(small)
        painter.setPen(colours.muted)
        stamp = time.strftime("%H:%M", time.localtime(entry.ts))
        line = f"{event_line(entry)}  ·  {stamp}"
        line = elided(line, QFontMetrics(small), rect.width() - 2 * PAD)
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, line)

    def _paint_message(self, painter: QPainter, option: QStyleOptionViewItem,
                       index: QModelIndex, entry: Entry, colours: _Palette) -> None:  # fmt: skip
        rect = column(option.rect, option.font)
        metrics = QFontMetrics(option.font)
        grouped = self._grouped(index, entry)
        bubble = QRect(rect.left() + PAD, rect.top() + GAP, rect.width() - 2 * PAD,
                       rect.height() - 2 * GAP)  # fmt: skip
        fill = colours.answer if entry.kind == "answer" else (
            colours.mine if entry.mine else colours.other
        )  # fmt: skip
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(fill)
        painter.drawRoundedRect(bubble, 8, 8)
        if option.state & QStyle.StateFlag.State_Selected:
            painter.setPen(colours.accent)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(bubble.adjusted(0, 0, -1, -1), 8, 8)
        x = bubble.left() + PAD
        if not grouped:
            self._paint_header(painter, option, entry, colours, x, bubble.top() + GAP + PAD // 2)
        origin = self._body_origin(entry, option, grouped)
        body = self._body(entry, self._body_width(option), self._dark(option), option.font)
        if not entry.text and entry.status == "streaming":
            painter.setPen(colours.muted)
            painter.drawText(QPointF(origin.x(), origin.y() + metrics.ascent()), "…")
        self._paint_body(painter, option, entry, body, origin, colours.text, colours)
        y = origin.y() + max(metrics.height(), body.height) + GAP
        footer = footer_text(entry)
        if footer:
            failed = entry.status in ("failed", "interrupted") or footer == "not sent"
            painter.setPen(colours.error if failed else colours.muted)
            small = _small(option.font)
            painter.setFont(small)
            width = self._body_width(option)
            footer = elided(footer, QFontMetrics(small), width)
            painter.drawText(QRect(x, y, width, metrics.height()), 0, footer)
            painter.setFont(option.font)

    def _paint_body(
        self, painter: QPainter, option: QStyleOptionViewItem, entry: Entry, body: _Body,
        origin: QPoint, text: QColor, colours: _Palette,
    ) -> None:  # fmt: skip
        """The body's code backgrounds, its segments that are in view, and its chips."""
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
            chip = self._chip_rect(box, origin, option.font)
            copied = self._copied == (entry.key, box.number) and (
                time.monotonic() - self._copied_at < COPIED_MS / 1000
            )
            painter.setPen(colours.accent)
            painter.setBrush(background)
            painter.drawRoundedRect(chip, 5, 5)
            words = "Copied" if copied else "Copy code"
            painter.drawText(chip, Qt.AlignmentFlag.AlignCenter, words)
        painter.setFont(option.font)

    @staticmethod
    def _chip_rect(box: _CodeBox, origin: QPoint, font: QFont) -> QRect:
        """Where a code block's "Copy code" chip is: at the right of its strip, or in the
        top right corner of a code block inside a list or a quote."""
        metrics = QFontMetrics(_small(font))
        width = max(metrics.horizontalAdvance(w) for w in ("Copy code", "Copied")) + 2 * PAD
        height = metrics.height() + GAP
        rect = box.rect.translated(origin)
        top = rect.top() + (GAP if box.strip else 2)
        return QRect(rect.right() - width - (CODE_PAD if box.strip else 2), top, width, height)

    def _paint_header(
        self, painter: QPainter, option: QStyleOptionViewItem, entry: Entry, colours: _Palette,
        x: int, y: int,
    ) -> None:  # fmt: skip
        metrics = QFontMetrics(option.font)
        bold = QFont(option.font)
        bold.setBold(True)
        badge = {"host": "HOST", "assistant": "AI"}.get(entry.role)
        small = _small(option.font, 1.5)
        small.setBold(True)
        stamp = time.strftime("%H:%M", time.localtime(entry.ts))
        # The name gets what the badge and the time leave of the bubble's width.
        badge_width = QFontMetrics(small).horizontalAdvance(badge) + 10 + PAD if badge else 0
        room = self._body_width(option) - badge_width - QFontMetrics(small).horizontalAdvance(
            stamp
        ) - PAD  # fmt: skip
        name = fenced(entry.author) + (" (you)" if entry.mine else "")
        name = elided(name, QFontMetrics(bold), room)
        painter.setFont(bold)
        painter.setPen(colours.text)
        painter.drawText(x, y + metrics.ascent(), name)
        cursor = x + QFontMetrics(bold).horizontalAdvance(name) + PAD
        painter.setFont(small)
        if badge:
            width = QFontMetrics(small).horizontalAdvance(badge) + 10
            box = QRect(cursor, y + 1, width, metrics.height() - 2)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(colours.host if badge == "HOST" else colours.accent)
            painter.drawRoundedRect(box, 4, 4)
            painter.setPen(colours.badge_text)
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, badge)
            cursor += width + PAD
        small.setBold(False)
        painter.setFont(small)
        painter.setPen(colours.muted)
        painter.drawText(cursor, y + metrics.ascent(), stamp)
        painter.setFont(option.font)

    def _paint_notice(self, painter: QPainter, option: QStyleOptionViewItem, entry: Entry,
                      colours: _Palette) -> None:  # fmt: skip
        rect = column(option.rect, option.font).adjusted(PAD, GAP, -PAD, -GAP)
        colour = colours.error if entry.level == "error" else (
            colours.warn if entry.level == "warning" else colours.accent
        )  # fmt: skip
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(colour)
        painter.drawRoundedRect(QRect(rect.left(), rect.top(), 4, rect.height()), 2, 2)
        body = self._body(entry, self._body_width(option) - PAD, self._dark(option), option.font)
        origin = QPoint(rect.left() + PAD + 4, rect.top() + PAD - GAP)
        self._paint_body(painter, option, entry, body, origin, colours.muted, colours)

    # ----------------------------------------------------------------- hit tests

    def _option(self, view: QAbstractItemView, index: QModelIndex) -> QStyleOptionViewItem:
        option = QStyleOptionViewItem()
        option.rect = view.visualRect(index)
        option.font = view.font()
        option.palette = view.palette()
        option.widget = view
        return option

    def _placed_body(
        self, entry: Entry, option: QStyleOptionViewItem, index: QModelIndex
    ) -> tuple[_Body, QPoint] | None:
        """A message's or an answer's body and where it is drawn, else None."""
        if entry.kind not in ("message", "answer"):
            return None
        body = self._body(entry, self._body_width(option), self._dark(option), option.font)
        return body, self._body_origin(entry, option, self._grouped(index, entry))

    def code_at(self, view: QAbstractItemView, index: QModelIndex, pos: QPoint) -> int | None:
        """The number of the code block under ``pos`` (view coordinates) in the row, if any."""
        entry = index.data(Roles.ENTRY)
        placed = self._placed_body(entry, self._option(view, index), index) if isinstance(
            entry, Entry
        ) else None  # fmt: skip
        if placed is None:
            return None
        body, origin = placed
        for box in body.boxes:
            if box.rect.translated(origin).contains(pos):
                return box.number
        return None

    def copy_chips(self, view: QAbstractItemView, index: QModelIndex) -> list[tuple[int, QRect]]:
        """Each "Copy code" chip in the row: its code block's number and where it is (view
        coordinates)."""
        entry = index.data(Roles.ENTRY)
        option = self._option(view, index)
        placed = self._placed_body(entry, option, index) if isinstance(entry, Entry) else None
        if placed is None:
            return []
        body, origin = placed
        return [(box.number, self._chip_rect(box, origin, option.font)) for box in body.boxes]

    def copy_code(self, view: QAbstractItemView, index: QModelIndex, number: int) -> bool:
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
        self, event: QEvent, model: object, option: QStyleOptionViewItem, index: QModelIndex
    ) -> bool:
        if event.type() != QEvent.Type.MouseButtonRelease or not isinstance(event, QMouseEvent):
            return False
        if event.button() != Qt.MouseButton.LeftButton:
            return False  # right-click is for the menu, middle-click for nothing
        entry = index.data(Roles.ENTRY)
        placed = self._placed_body(entry, option, index) if isinstance(entry, Entry) else None
        if placed is None:
            return False
        assert isinstance(entry, Entry)
        pos = event.position().toPoint()
        body, origin = placed
        view = option.widget if isinstance(option.widget, QAbstractItemView) else None
        for box in body.boxes:
            if view is not None and self._chip_rect(box, origin, option.font).contains(pos):
                return self.copy_code(view, index, box.number)
        link = self._link_at(body, origin, pos)
        if link is not None:
            follow_link(option.widget or self._view(), *link)
            return True
        return False

    def link_under(self, view: QAbstractItemView, index: QModelIndex,
                   pos: QPoint) -> tuple[str, str] | None:  # fmt: skip
        """The link under ``pos`` (view coordinates) in the row: its text and its target."""
        entry = index.data(Roles.ENTRY)
        option = self._option(view, index)
        placed = self._placed_body(entry, option, index) if isinstance(entry, Entry) else None
        return self._link_at(*placed, pos) if placed is not None else None

    def helpEvent(
        self, event: QHelpEvent, view: QAbstractItemView, option: QStyleOptionViewItem,
        index: QModelIndex,
    ) -> bool:  # fmt: skip
        """Hovering a link shows where it really goes."""
        entry = index.data(Roles.ENTRY)
        if event.type() == QEvent.Type.ToolTip and isinstance(entry, Entry):
            placed = self._placed_body(entry, option, index)
            link = self._link_at(*placed, event.pos()) if placed is not None else None
            if link is not None:
                QToolTip.showText(event.globalPos(), tooltip(shown_target(link[1])), view)
                return True
        return super().helpEvent(event, view, option, index)

    def link_rects(
        self, view: QAbstractItemView, index: QModelIndex
    ) -> list[tuple[str, str, QRect]]:
        """Each link in a message row: its visible text, its target, and where its first
        line is drawn (view coordinates), in reading order."""
        entry = index.data(Roles.ENTRY)
        option = self._option(view, index)
        placed = self._placed_body(entry, option, index) if isinstance(entry, Entry) else None
        if placed is None:
            return []
        body, origin = placed
        found: list[tuple[str, str, QRect]] = []
        for part in body.parts:
            left, top = origin.x() + part.x, origin.y() + part.y
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
                    x0 = line.cursorToX(start)[0]
                    x1 = line.cursorToX(
                        min(start + fragment.length(), line.textStart() + line.textLength())
                    )[0]
                    rect = QRectF(min(x0, x1), line.y(), abs(x1 - x0), line.height())
                    rect.translate(left + box.left(), top + box.top())
                    link = link_at(doc, rect.center() - QPointF(left, top))
                    if link is not None and (not found or found[-1][:2] != link):
                        found.append((*link, rect.toRect()))
                block = block.next()
        return found

    def _view(self) -> QWidget:
        parent = self.parent()
        assert isinstance(parent, QWidget)
        return parent

    @staticmethod
    def _link_at(body: _Body, origin: QPoint, pos: QPoint) -> tuple[str, str] | None:
        """The link under ``pos`` (view coordinates): its visible text and its target."""
        for part in body.parts:
            point = QPointF(pos.x() - origin.x() - part.x, pos.y() - origin.y() - part.y)
            if QRectF(QPointF(0, 0), part.doc.size()).contains(point):
                return link_at(part.doc, point)
        return None


def _trim(cache: OrderedDict, size: int) -> None:  # type: ignore[type-arg]
    """Forget the oldest entries of an insertion-ordered cache beyond ``size``."""
    while len(cache) > size:
        cache.popitem(last=False)
