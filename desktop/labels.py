"""Labels and message boxes that never read text as rich text.

A ``QLabel`` or ``QMessageBox`` left at its default text format guesses: text that looks like
markup is rendered as HTML, so a name like ``<img src=/dev/zero>`` makes Qt read
``/dev/zero`` as an image until memory runs out. Every widget that may show text from the
network is made here, with the format fixed to plain text *before* any text is set:

* :class:`PlainLabel` for text that may wrap (long unbroken runs get break opportunities, so
  the label never widens its window);
* :class:`ElidedLabel` for one line: cut with "…" to the width it is given, the whole text
  in its tooltip, and never asking for more than a bounded width;
* :func:`heading` for a bold title that wraps;
* :func:`message_box` for questions and warnings.

A label that the keyboard must reach (a code to select, a link to follow) is made a Tab stop
with :func:`make_tab_stop`; it then shows the focus outline that the style sheet gives
controls (:func:`paint_focus_outline`).

Our own rich text (the lobby's help, the privacy link) uses a plain ``QLabel`` on purpose and
holds no network text; ``tests/desktop/test_hostile_text.py`` walks every page to check that.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPaintEvent, QPen, QResizeEvent
from PySide6.QtWidgets import QDialog, QLabel, QLayout, QLayoutItem, QMessageBox, QWidget

from desktop import theme
from desktop.network_text import TEXT_CHARS, breakable, close_bidi, one_line, tooltip

__all__ = [
    "FOCUS_OUTLINE",
    "ElidedLabel",
    "PlainLabel",
    "elided",
    "fit_to_width",
    "heading",
    "make_tab_stop",
    "message_box",
    "outdented",
    "paint_focus_outline",
]

FOCUS_OUTLINE = 2
"""The width of the focus outline, in pixels, as the style sheet draws it round controls."""

MAX_HINT_WIDTH = 480
"""The most an :class:`ElidedLabel` asks for: a long text is elided, never given more room."""


def elided(text: str, metrics: QFontMetrics, width: int,
           mode: Qt.TextElideMode = Qt.TextElideMode.ElideRight) -> str:  # fmt: skip
    """``text`` cut with "…" to fit ``width`` pixels; any direction control it opened is
    closed again even when the cut removed its closing partner."""
    return close_bidi(metrics.elidedText(text, mode, max(0, width)))


class PlainLabel(QLabel):
    """A label whose text is always plain text. With ``wrap``, it wraps at word boundaries,
    and a run of 30 characters without a space gets a break opportunity (a zero-width space)
    so that one long word cannot widen the window."""

    def __init__(
        self, text: str = "", *, name: str = "", wrap: bool = False,
        parent: QWidget | None = None,
    ) -> None:  # fmt: skip
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        if name:
            self.setObjectName(name)
        self.setWordWrap(wrap)
        self.setText(text)

    def setText(self, text: str) -> None:
        super().setText(breakable(text) if self.wordWrap() else text)

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        paint_focus_outline(self)


def make_tab_stop(label: QLabel) -> None:
    """Let Tab reach ``label`` (Qt gives a label whose text the keyboard selects, or whose
    links it follows, the focus on a click only), with room round its text for the focus
    outline (:func:`outdented` gives it back to the layout). The label's ``paintEvent`` must
    call :func:`paint_focus_outline` (a :class:`PlainLabel`'s does)."""
    label.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    margin = FOCUS_OUTLINE + 1
    label.setContentsMargins(margin, margin, margin, margin)


def outdented(label: QLabel) -> QLayout:
    """``label`` (made a Tab stop by :func:`make_tab_stop`) in a layout that gives back the
    room kept round it for the focus outline, so that its text lines up with what is above
    and below it. Add the layout where the label would have gone."""
    return _Outdent(label, FOCUS_OUTLINE + 1)


class _Outdent(QLayout):
    """One widget, laid out ``by`` pixels larger on every side than the room this layout is
    given (and asking for that much less): its own margins of ``by`` pixels then keep its
    contents where the room is. (Qt takes negative layout margins for "the default".)"""

    def __init__(self, widget: QWidget, by: int) -> None:
        super().__init__()
        self._by = by
        self._item: QLayoutItem | None = None
        self.addWidget(widget)

    def addItem(self, item: QLayoutItem) -> None:
        self._item = item

    def count(self) -> int:
        return 0 if self._item is None else 1

    def itemAt(self, index: int) -> QLayoutItem | None:
        return self._item if index == 0 else None

    def takeAt(self, index: int) -> QLayoutItem | None:
        item = self.itemAt(index)
        if item is not None:
            self._item = None
        return item

    def expandingDirections(self) -> Qt.Orientation:
        return self._item.expandingDirections() if self._item else Qt.Orientation(0)

    def _less(self, size: QSize) -> QSize:
        return QSize(max(0, size.width() - 2 * self._by), max(0, size.height() - 2 * self._by))

    def sizeHint(self) -> QSize:
        return self._less(self._item.sizeHint()) if self._item else QSize()

    def minimumSize(self) -> QSize:
        return self._less(self._item.minimumSize()) if self._item else QSize()

    def hasHeightForWidth(self) -> bool:
        return self._item is not None and self._item.hasHeightForWidth()

    def heightForWidth(self, width: int) -> int:
        if self._item is None:
            return -1
        return self._item.heightForWidth(width + 2 * self._by) - 2 * self._by

    def setGeometry(self, rect: QRect) -> None:
        super().setGeometry(rect)
        if self._item is not None:
            by = self._by
            self._item.setGeometry(rect.adjusted(-by, -by, by, by))


def paint_focus_outline(widget: QWidget) -> None:
    """Draw, over ``widget`` reached by Tab and focused now, the outline the style sheet
    draws round focused controls: :data:`FOCUS_OUTLINE` pixels in the theme's focus colour,
    at its edges. (The style sheet outlines controls, not labels.)"""
    if not widget.hasFocus() or not widget.focusPolicy() & Qt.FocusPolicy.TabFocus:
        return
    painter = QPainter(widget)
    half = FOCUS_OUTLINE // 2
    painter.setPen(QPen(QColor(theme.colours_for(widget).focus), FOCUS_OUTLINE))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawRect(widget.rect().adjusted(half, half, -half, -half))
    painter.end()


class ElidedLabel(QLabel):
    """One line of plain text, elided to the width the layout gives it.

    :meth:`full_text` is the text as set (line breaks made spaces); :meth:`text` what is
    shown. When the text is cut, the tooltip shows all of it (escaped). The label asks for
    the width of its text up to :data:`MAX_HINT_WIDTH` and can shrink to an ellipsis.
    """

    def __init__(
        self, text: str = "", *, name: str = "",
        mode: Qt.TextElideMode = Qt.TextElideMode.ElideRight, parent: QWidget | None = None,
    ) -> None:  # fmt: skip
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        if name:
            self.setObjectName(name)
        self._mode = mode
        self._full = ""
        self.setText(text)

    def full_text(self) -> str:
        return self._full

    def setText(self, text: str) -> None:
        self._full = one_line(text)
        self.updateGeometry()
        self._fit()

    def sizeHint(self) -> QSize:
        extra = self._horizontal_margins()
        wanted = self.fontMetrics().horizontalAdvance(self._full[:TEXT_CHARS]) + extra
        return QSize(min(wanted, MAX_HINT_WIDTH), super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:
        width = self.fontMetrics().horizontalAdvance("…") + self._horizontal_margins()
        return QSize(width, super().minimumSizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._fit()

    def _horizontal_margins(self) -> int:
        margins = self.contentsMargins()
        return margins.left() + margins.right() + 2 * self.margin()

    def _fit(self) -> None:
        width = self.width() - self._horizontal_margins()
        shown = elided(self._full, self.fontMetrics(), width, self._mode)
        if shown != super().text():
            super().setText(shown)
        self.setToolTip(tooltip(self._full) if shown != self._full else "")


def heading(text: str, scale: float = 1.0) -> PlainLabel:
    """A bold, wrapping, plain-text heading (``scale`` times the usual font size)."""
    label = PlainLabel(text, wrap=True)
    font = QFont(label.font())
    font.setBold(True)
    if scale != 1.0:
        font.setPointSizeF(font.pointSizeF() * scale)
    label.setFont(font)
    return label


def message_box(
    icon: QMessageBox.Icon, title: str, text: str,
    buttons: QMessageBox.StandardButton = QMessageBox.StandardButton.Ok,
    parent: QWidget | None = None,
) -> QMessageBox:  # fmt: skip
    """A message box that shows ``text`` as plain text (wrapped, long runs breakable).

    The format is set before the text: a rich-text guess would load images as soon as the
    text is laid out.
    """
    box = QMessageBox(parent)
    box.setIcon(icon)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setWindowTitle(one_line(title))
    box.setText(breakable(text))
    box.setStandardButtons(buttons)
    return box


def fit_to_width(dialog: QDialog, width: int) -> None:
    """Give a dialog of wrapped text a fixed width and the height its text needs there.

    (``adjustSize`` would take the layout's size hint, worked out for text wrapped at its
    narrowest: far too tall at the width given.)"""
    dialog.setFixedWidth(width)
    dialog.ensurePolished()  # the style sheet's paddings count
    layout = dialog.layout()
    if layout is None:
        dialog.adjustSize()
        return
    layout.activate()
    height = (layout.heightForWidth(width) if layout.hasHeightForWidth()
              else layout.sizeHint().height())  # fmt: skip
    dialog.setMinimumHeight(height)
    dialog.resize(width, height)
