"""Draws one transcript row: a chat message, an answer, a notice, or a "joined" line.

Message bodies are Markdown rendered by :mod:`desktop.markdown` into a ``QTextDocument``,
cached per row version and width, so scrolling 10,000 messages lays out only what is visible
and a streaming answer re-lays out only its own row. Consecutive messages from one author
within five minutes share a header. Hovering a link shows where it goes; clicking an http(s)
link opens the system browser, after a question when its text names another address
(:mod:`desktop.links`); each code block gets a "Copy code" chip.

Names, models and errors come from the network: each is drawn as plain text, cut to fit, and
direction-isolated (:func:`desktop.network_text.fenced`) so that it cannot reorder the time
or the words beside it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QModelIndex, QObject, QPointF, QRect, QRectF, QSize, Qt
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
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolTip,
    QWidget,
)

from core.transcript import LEFT_WORDS, Entry
from desktop.labels import elided
from desktop.links import follow_link, link_at, shown_target
from desktop.markdown import code_blocks, render
from desktop.models import Roles
from desktop.network_text import FIELD_CHARS, TEXT_CHARS, fenced, tooltip

__all__ = ["MessageDelegate", "event_line", "footer_text"]

PAD = 10  # around a message bubble
GAP = 4  # between the rows of one message
GROUP_SECONDS = 300
CACHE_SIZE = 600

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


def _palette(widget: QWidget | None) -> _Palette:
    base = widget.palette() if widget is not None else QGuiApplication.palette()
    dark = base.color(QPalette.ColorRole.Window).lightness() < 128
    if dark:
        return _Palette(
            QColor("#e6e8eb"), QColor("#9aa3ad"), QColor("#1f3a4d"), QColor("#223a35"),
            QColor("#2a2d31"), QColor("#4fb3bf"), QColor("#d8a657"), QColor("#d8a657"),
            QColor("#ea6962"),
        )  # fmt: skip
    return _Palette(
        QColor("#1d2329"), QColor("#6b7580"), QColor("#e3f1fb"), QColor("#e6f5f1"),
        QColor("#f3f4f6"), QColor("#11818c"), QColor("#a86a00"), QColor("#9a6700"),
        QColor("#c62828"),
    )  # fmt: skip


def event_line(entry: Entry) -> str:
    """A "joined" or "left" line's text, its name fenced off from the words after it."""
    for ending in _EVENT_ENDINGS:
        if entry.text.endswith(ending):
            return fenced(entry.text.removesuffix(ending)) + ending
    return fenced(entry.text, TEXT_CHARS)


def footer_text(entry: Entry) -> str:
    """The small line under a message or an answer: its state, model, usage, who asked."""
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
        if entry.usage is not None:
            approx = "≈" if entry.usage.estimated else ""
            detail += f" · {approx}{entry.usage.total_tokens:,} tokens"
        parts.append(detail)
    if entry.asked_by:
        parts.append(f"for {fenced(entry.asked_by)}")
    return " · ".join(p for p in parts if p)


class MessageDelegate(QStyledItemDelegate):
    """See the module docstring."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._docs: OrderedDict[tuple[str, int, int, bool], QTextDocument] = OrderedDict()
        self._htmls: OrderedDict[tuple[str, int, bool], str] = OrderedDict()
        self._blocks: OrderedDict[tuple[str, int], list[str]] = OrderedDict()

    # ----------------------------------------------------------------- layout

    def _dark(self, option: QStyleOptionViewItem) -> bool:
        return option.palette.color(QPalette.ColorRole.Base).lightness() < 128

    def _document(self, entry: Entry, width: int, dark: bool, font: QFont) -> QTextDocument:
        key = (entry.key, entry.version, width, dark)
        doc = self._docs.get(key)
        if doc is not None:
            self._docs.move_to_end(key)
            return doc
        doc = QTextDocument()
        doc.setDefaultFont(font)
        doc.setDocumentMargin(0)
        doc.setHtml(self._html(entry, dark))
        doc.setTextWidth(width)
        self._docs[key] = doc
        while len(self._docs) > CACHE_SIZE:
            self._docs.popitem(last=False)
        return doc

    def _html(self, entry: Entry, dark: bool) -> str:
        """The row's HTML, rendered once per version (widths only lay it out again)."""
        key = (entry.key, entry.version, dark)
        html = self._htmls.get(key)
        if html is None:
            text = entry.text
            if not text and entry.kind == "answer" and entry.error:
                text = entry.error  # a failed answer says why, in full, where text would be
            html = self._htmls[key] = render(text, dark=dark) if text else ""
            while len(self._htmls) > CACHE_SIZE:
                self._htmls.popitem(last=False)
        return html

    @staticmethod
    def _grouped(index: QModelIndex, entry: Entry) -> bool:
        """Whether this message continues the previous row's (same author, same minutes)."""
        if entry.kind != "message" or index.row() == 0:
            return False
        before = index.model().index(index.row() - 1, 0).data(Roles.ENTRY)
        return (
            isinstance(before, Entry)
            and before.kind == "message"
            and before.author_id == entry.author_id
            and entry.ts - before.ts < GROUP_SECONDS
        )

    def _body_width(self, option: QStyleOptionViewItem) -> int:
        return max(120, option.rect.width() - 4 * PAD)

    def _chips(self, entry: Entry) -> list[str]:
        if entry.kind not in ("message", "answer") or (
            "```" not in entry.text and "~~~" not in entry.text and "    " not in entry.text
        ):
            return []
        count = len(self._code_blocks(entry))
        return ["Copy code"] if count == 1 else [f"Copy code {i}" for i in range(1, count + 1)]

    def _code_blocks(self, entry: Entry) -> list[str]:
        key = (entry.key, entry.version)
        blocks = self._blocks.get(key)
        if blocks is None:
            blocks = self._blocks[key] = code_blocks(entry.text)
            while len(self._blocks) > CACHE_SIZE:
                self._blocks.popitem(last=False)
        return blocks

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        entry = index.data(Roles.ENTRY)
        if not isinstance(entry, Entry):
            return super().sizeHint(option, index)
        metrics = QFontMetrics(option.font)
        line = metrics.height()
        if option.rect.width() <= 0:  # asked before the view has a width: no layout yet
            return QSize(0, line)
        if entry.kind == "event":
            return QSize(option.rect.width(), line + 2 * GAP)
        if entry.kind == "notice":
            doc = self._document(
                entry, self._body_width(option) - PAD, self._dark(option), option.font
            )
            return QSize(option.rect.width(), int(doc.size().height()) + 2 * PAD)
        height = GAP
        if not self._grouped(index, entry):
            height += line + GAP + PAD // 2
        doc = self._document(entry, self._body_width(option), self._dark(option), option.font)
        height += max(line, int(doc.size().height())) + 2 * GAP
        if footer_text(entry):
            height += line
        if self._chips(entry):
            height += line + GAP * 2
        return QSize(option.rect.width(), height + GAP)

    # ----------------------------------------------------------------- painting

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        entry = index.data(Roles.ENTRY)
        if not isinstance(entry, Entry):
            super().paint(painter, option, index)
            return
        colours = _palette(option.widget)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = option.rect
        metrics = QFontMetrics(option.font)
        if entry.kind == "event":
            small = QFont(option.font)
            small.setPointSizeF(max(7.0, option.font.pointSizeF() - 1))
            painter.setFont(small)
            painter.setPen(colours.muted)
            stamp = time.strftime("%H:%M", time.localtime(entry.ts))
            line = f"{event_line(entry)}  ·  {stamp}"
            line = elided(line, QFontMetrics(small), rect.width() - 2 * PAD)
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, line)
            painter.restore()
            return
        if entry.kind == "notice":
            self._paint_notice(painter, option, entry, colours)
            painter.restore()
            return
        grouped = self._grouped(index, entry)
        bubble = QRect(
            rect.left() + PAD, rect.top() + GAP, rect.width() - 2 * PAD, rect.height() - 2 * GAP
        )
        fill = (
            colours.answer
            if entry.kind == "answer"
            else colours.mine
            if entry.mine
            else colours.other
        )
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(fill)
        painter.drawRoundedRect(bubble, 8, 8)
        if option.state & QStyle.StateFlag.State_Selected:
            painter.setPen(colours.accent)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(bubble.adjusted(0, 0, -1, -1), 8, 8)
        x = bubble.left() + PAD
        y = bubble.top() + GAP
        if not grouped:
            y += PAD // 2
            y = self._paint_header(painter, option, entry, colours, x, y, metrics)
        doc = self._document(entry, self._body_width(option), self._dark(option), option.font)
        painter.translate(x, y)
        context = QAbstractTextDocumentLayout.PaintContext()
        context.palette.setColor(QPalette.ColorRole.Text, colours.text)
        if not entry.text and entry.status == "streaming":
            painter.setPen(colours.muted)
            painter.drawText(QPointF(0, metrics.ascent()), "…")
        doc.documentLayout().draw(painter, context)
        painter.translate(-x, -y)
        y += max(metrics.height(), int(doc.size().height())) + GAP
        footer = footer_text(entry)
        if footer:
            failed = entry.status in ("failed", "interrupted") or footer == "not sent"
            painter.setPen(colours.error if failed else colours.muted)
            small = QFont(option.font)
            small.setPointSizeF(max(7.0, option.font.pointSizeF() - 1))
            painter.setFont(small)
            width = self._body_width(option)
            footer = elided(footer, QFontMetrics(small), width)
            painter.drawText(QRect(x, y, width, metrics.height()), 0, footer)
            painter.setFont(option.font)
            y += metrics.height()
        for chip, chip_rect in self._chip_rects(entry, option, y):
            painter.setPen(colours.accent)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(chip_rect, 6, 6)
            painter.drawText(chip_rect, Qt.AlignmentFlag.AlignCenter, chip)
        painter.restore()

    def _paint_header(
        self, painter: QPainter, option: QStyleOptionViewItem, entry: Entry, colours: _Palette,
        x: int, y: int, metrics: QFontMetrics,
    ) -> int:  # fmt: skip
        bold = QFont(option.font)
        bold.setBold(True)
        badge = {"host": "HOST", "assistant": "AI"}.get(entry.role)
        small = QFont(option.font)
        small.setPointSizeF(max(7.0, option.font.pointSizeF() - 1.5))
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
            painter.setPen(QColor("white"))
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, badge)
            cursor += width + PAD
        small.setBold(False)
        painter.setFont(small)
        painter.setPen(colours.muted)
        painter.drawText(cursor, y + metrics.ascent(), stamp)
        painter.setFont(option.font)
        return y + metrics.height() + GAP

    def _paint_notice(
        self, painter: QPainter, option: QStyleOptionViewItem, entry: Entry, colours: _Palette
    ) -> None:
        rect = option.rect.adjusted(PAD, GAP, -PAD, -GAP)
        colour = colours.error if entry.level == "error" else (
            colours.warn if entry.level == "warning" else colours.accent
        )  # fmt: skip
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(colour)
        painter.drawRoundedRect(QRect(rect.left(), rect.top(), 4, rect.height()), 2, 2)
        width = self._body_width(option) - PAD
        doc = self._document(entry, width, self._dark(option), option.font)
        painter.translate(rect.left() + PAD + 4, rect.top() + PAD - GAP)
        context = QAbstractTextDocumentLayout.PaintContext()
        context.palette.setColor(QPalette.ColorRole.Text, colours.muted)
        doc.documentLayout().draw(painter, context)

    def _chip_rects(
        self, entry: Entry, option: QStyleOptionViewItem, y: int
    ) -> list[tuple[str, QRect]]:
        metrics = QFontMetrics(option.font)
        x = option.rect.left() + 2 * PAD
        rects = []
        for chip in self._chips(entry):
            width = metrics.horizontalAdvance(chip) + 2 * PAD
            rects.append((chip, QRect(x, y + GAP, width, metrics.height() + GAP)))
            x += width + GAP
        return rects

    # ----------------------------------------------------------------- clicks

    def editorEvent(
        self, event: QEvent, model, option: QStyleOptionViewItem, index: QModelIndex
    ) -> bool:
        if event.type() != QEvent.Type.MouseButtonRelease or not isinstance(event, QMouseEvent):
            return False
        if event.button() != Qt.MouseButton.LeftButton:
            return False  # right-click is for the menu, middle-click for nothing
        entry = index.data(Roles.ENTRY)
        if not isinstance(entry, Entry) or entry.kind not in ("message", "answer"):
            return False
        pos = event.position().toPoint()
        blocks = self._code_blocks(entry) if self._chips(entry) else []
        for n, (_, rect) in enumerate(
            self._chip_rects(entry, option, self._chips_top(entry, option, index))
        ):
            if rect.contains(pos) and n < len(blocks):
                QGuiApplication.clipboard().setText(blocks[n])
                return True
        link = self._link_at(entry, option, index, pos)
        if link is not None:
            text, href = link
            follow_link(option.widget or self._view(), text, href)
            return True
        return False

    def helpEvent(
        self, event: QHelpEvent, view: QAbstractItemView, option: QStyleOptionViewItem,
        index: QModelIndex,
    ) -> bool:  # fmt: skip
        """Hovering a link shows where it really goes."""
        entry = index.data(Roles.ENTRY)
        if event.type() == QEvent.Type.ToolTip and isinstance(entry, Entry) and entry.kind in (
            "message", "answer",
        ):  # fmt: skip
            link = self._link_at(entry, option, index, event.pos())
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
        if not isinstance(entry, Entry) or entry.kind not in ("message", "answer"):
            return []
        option = QStyleOptionViewItem()
        option.rect = view.visualRect(index)
        option.font = view.font()
        option.palette = view.palette()
        option.widget = view
        doc = self._document(entry, self._body_width(option), self._dark(option), option.font)
        left = option.rect.left() + 2 * PAD
        top = self._body_top(entry, option, index)
        found: list[tuple[str, str, QRect]] = []
        block = doc.begin()
        while block.isValid():
            box = doc.documentLayout().blockBoundingRect(block)  # also lays the block out
            layout = block.layout()
            it = block.begin()
            while not it.atEnd():
                fragment = it.fragment()
                it += 1
                fmt = fragment.charFormat()
                if not fmt.isAnchor() or fragment.length() == 0:
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

    def _body_top(self, entry: Entry, option: QStyleOptionViewItem, index: QModelIndex) -> int:
        y = option.rect.top() + GAP + GAP
        if not self._grouped(index, entry):
            y += PAD // 2 + QFontMetrics(option.font).height() + GAP
        return y

    def _chips_top(self, entry: Entry, option: QStyleOptionViewItem, index: QModelIndex) -> int:
        metrics = QFontMetrics(option.font)
        doc = self._document(entry, self._body_width(option), self._dark(option), option.font)
        y = self._body_top(entry, option, index) + max(metrics.height(), int(doc.size().height()))
        y += GAP
        if footer_text(entry):
            y += metrics.height()
        return y

    def _link_at(
        self, entry: Entry, option: QStyleOptionViewItem, index: QModelIndex, pos: object
    ) -> tuple[str, str] | None:
        """The link under ``pos`` (view coordinates): its visible text and its target."""
        doc = self._document(entry, self._body_width(option), self._dark(option), option.font)
        x = option.rect.left() + 2 * PAD
        y = self._body_top(entry, option, index)
        point = QPointF(pos.x() - x, pos.y() - y)  # type: ignore[attr-defined]
        if not QRectF(QPointF(0, 0), doc.size()).contains(point):
            return None
        return link_at(doc, point)
