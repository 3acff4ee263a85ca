"""The message box: Enter sends, Shift+Enter adds a line (or, as the person chooses in Settings,
Ctrl+Enter sends and Enter adds a line), ``@`` completes names; and the paper-clip button beside
it (:class:`AttachButton`).

Nothing typed is lost. The text stays in the box when it is submitted, and goes only when the
room's client has taken the message (:meth:`Composer.message_queued`, as one step that Ctrl+Z
undoes); a message the room refuses comes back (:meth:`Composer.restore_unsent`). Near the
room's length limit a counter appears in the box; over it, the part that does not fit is
marked, the counter says by how much, and the message cannot be submitted.

Pasting (or dropping on the box) an image or files does not put text in the box: an image
(with no text beside it on the clipboard) is :attr:`Composer.image_pasted`, local files are
:attr:`Composer.files_pasted`; the chat page asks before sharing either
(:mod:`desktop.attachments`).

The box writes a new message, a reply to one (:meth:`Composer.start_reply`), or a new text
for one of ours (:meth:`Composer.start_edit`): :attr:`Composer.context` says which, and the
bar above the box says so (:mod:`desktop.message_actions_ui`). Esc leaves a reply or an edit
(:meth:`Composer.cancel_context`); leaving an edit, saved or not, brings back what was typed
before it. Up in an empty box asks to edit our last message (:attr:`Composer.edit_last_requested`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from PySide6.QtCore import (
    QEvent,
    QMimeData,
    QPointF,
    QRect,
    QRectF,
    QSize,
    QStringListModel,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QIcon,
    QImage,
    QKeyEvent,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
    QPixmap,
    QResizeEvent,
    QTextCharFormat,
    QTextCursor,
)
from PySide6.QtWidgets import (
    QCompleter,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QTextEdit,
    QWidget,
)

from core.protocol import Limits
from desktop.attachments import dropped_paths
from desktop.labels import PlainLabel
from desktop.settings import Preferences, SendKey

__all__ = [
    "ATTACH_NAME",
    "COUNTER_FROM",
    "PLACEHOLDERS",
    "AttachButton",
    "ComposeContext",
    "Composer",
]

ATTACH_NAME = "Attach a file…"

TYPING_REPEAT = 3.0  # seconds between "still typing" notes; others expire it after 6
COUNTER_FROM = 0.9  # the counter appears at this share of the limit
POPUP_WIDTH = 220
OVER_LIMIT_BACKGROUND = QColor(198, 40, 40, 60)  # a translucent red: readable on any theme
PLACEHOLDERS: dict[SendKey, str] = {
    "enter": "Write a message…  (Enter sends, Shift+Enter for a new line)",
    "ctrl_enter": "Write a message…  (Ctrl+Enter sends, Enter for a new line)",
}
"""What the empty box says, by which key sends (:data:`desktop.settings.SEND_KEYS`)."""


@dataclass(frozen=True)
class ComposeContext:
    """What the box is writing besides a new message: a ``reply`` to message ``seq``, or an
    ``edit`` of our message ``seq``; ``words`` is what the bar above the box says (network
    text in it already fenced), ``name`` what its cancel button is called."""

    kind: Literal["reply", "edit"]
    seq: int
    words: str
    name: str


class Composer(QPlainTextEdit):
    """A multi-line text box for one message.

    * :attr:`submitted` (the text) when the person sends it (the send key, see
      :meth:`set_send_key`, or :meth:`submit`); the text stays in the box until
      :meth:`message_queued` says the room's client took it.
    * :attr:`sendable_changed` (bool) when whether it can be sent changes: some text, within
      :meth:`set_max_chars`, and the box not read-only. :meth:`send_blocker` says why not.
    * :attr:`typing_changed` (bool) when typing starts, every few seconds while it goes on,
      and when the box is emptied.
    * :attr:`context_changed` when it starts or stops writing a reply or an edit
      (:attr:`context`), and :attr:`edit_last_requested` on Up in an empty box.
    """

    submitted = Signal(str)
    typing_changed = Signal(bool)
    sendable_changed = Signal(bool)
    image_pasted = Signal(QImage)
    """An image pasted or dropped (with no text beside it): to share, after asking."""
    files_pasted = Signal(list)
    """Local files (a list of :class:`pathlib.Path`) pasted or dropped: to share, after asking."""
    context_changed = Signal()
    edit_last_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._send_key: SendKey = "enter"
        self._prefs: Preferences | None = None
        self.setPlaceholderText(PLACEHOLDERS["enter"])
        self.setTabChangesFocus(True)
        self._max_chars = Limits().max_text_chars
        self._names = QStringListModel(self)
        self._completer = QCompleter(self._names, self)
        self._completer.setWidget(self)
        self._completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self._completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self._completer.activated.connect(self._insert_completion)
        popup = self._completer.popup()
        assert popup is not None  # the completer makes its list when first asked for it
        self._popup = popup
        self.counter = PlainLabel(name="hint", parent=self)
        self.counter.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.counter.hide()
        self._typing = False
        self._said_at = 0.0
        self._sendable: bool | None = None  # unknown until the text first changes
        self._context: ComposeContext | None = None
        self._draft: tuple[str, int] | None = None  # what an edit replaced: text, cursor
        self._base_height = self.fontMetrics().lineSpacing() * 3 + 20
        self.textChanged.connect(self._on_text_changed)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(self._base_height)

    # ----------------------------------------------------------------- the limit

    def set_max_chars(self, limit: int) -> None:
        """The room's limit on one message (``room.limits.max_text_chars``)."""
        self._max_chars = max(1, limit)
        self._check_length()

    def send_blocker(self) -> str:
        """Why the text cannot be sent now, in a sentence; empty when it can."""
        if self.isReadOnly():
            return "You are no longer in the room."
        length = len(self.toPlainText())
        if length > self._max_chars:
            over = length - self._max_chars
            return (
                f"{over:,} {'character' if over == 1 else 'characters'} too many: messages are "
                f"at most {self._max_chars:,} characters. Shorten it to send it."
            )
        if not self.toPlainText().strip():
            return "Write a message first."
        return ""

    def _check_length(self) -> None:
        """Show the counter near the limit, mark what does not fit, say whether it can go."""
        length = len(self.toPlainText())
        over = length > self._max_chars
        near = length >= self._max_chars * COUNTER_FROM
        if near:
            shown = f"{length:,} / {self._max_chars:,}"
            self.counter.setText(f"{shown} · {self.send_blocker()}" if over else shown)
            self.counter.setObjectName("problem" if over else "hint")
            self.counter.style().unpolish(self.counter)
            self.counter.style().polish(self.counter)
        if near != self.counter.isVisible():
            self.counter.setVisible(near)
            strip = self._counter_height() if near else 0
            self.setViewportMargins(0, 0, 0, strip)
            self.setFixedHeight(self._base_height + strip)
            self._place_counter()
        self._mark_overflow(over)
        sendable = not self.send_blocker()
        if sendable != self._sendable:
            self._sendable = sendable
            self.sendable_changed.emit(sendable)

    def _mark_overflow(self, over: bool) -> None:
        """Give what is past the limit a red background: what would not be sent."""
        marks = []
        if over:
            mark = QTextEdit.ExtraSelection()
            mark.cursor = QTextCursor(self.document())
            mark.cursor.setPosition(_cursor_position(self.toPlainText(), self._max_chars))
            mark.cursor.movePosition(QTextCursor.MoveOperation.End, QTextCursor.MoveMode.KeepAnchor)
            mark.format = QTextCharFormat()
            mark.format.setBackground(OVER_LIMIT_BACKGROUND)
            marks.append(mark)
        self.setExtraSelections(marks)

    def _counter_height(self) -> int:
        return self.counter.fontMetrics().height() + 4

    def _place_counter(self) -> None:
        viewport = self.viewport().geometry()
        height = self._counter_height()
        self.counter.setGeometry(
            QRect(viewport.left() + 4, viewport.bottom() + 1, viewport.width() - 8, height)
        )

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._place_counter()

    # ----------------------------------------------------------------- sending

    @property
    def send_key(self) -> SendKey:
        return self._send_key

    def set_send_key(self, key: SendKey) -> None:
        """``"enter"``: Enter sends, Shift+Enter adds a line (Ctrl+Enter sends too).
        ``"ctrl_enter"``: Ctrl+Enter sends, Enter and Shift+Enter add a line. The
        placeholder says which."""
        self._send_key = key
        self.setPlaceholderText(PLACEHOLDERS[key])

    def follow_preferences(self, prefs: Preferences) -> None:
        """Take the send key from ``prefs``, now and whenever it changes there."""
        if self._prefs is not None:
            self._prefs.changed.disconnect(self.on_preference_changed)
        self._prefs = prefs
        prefs.changed.connect(self.on_preference_changed)
        self.set_send_key(prefs.send_key())

    def on_preference_changed(self, key: str) -> None:
        if key == "send_key" and self._prefs is not None:
            self.set_send_key(self._prefs.send_key())

    def _sends(self, event: QKeyEvent) -> bool:
        """Whether ``event`` is the key that sends, in the chosen mode."""
        if event.key() not in (Qt.Key.Key_Enter, Qt.Key.Key_Return):
            return False
        modifiers = event.modifiers()
        if self._send_key == "ctrl_enter":
            return bool(modifiers & Qt.KeyboardModifier.ControlModifier)
        return not modifiers & Qt.KeyboardModifier.ShiftModifier

    def submit(self) -> None:
        """Send the text: emits :attr:`submitted` when it can go; the text stays."""
        text = self.toPlainText()
        if self.send_blocker():
            return
        self.submitted.emit(text)

    def message_queued(self, text: str) -> None:
        """The room's client took ``text``: empty the box, if it still holds just that, as
        one step that Ctrl+Z undoes."""
        if self.toPlainText() != text:
            return
        cursor = QTextCursor(self.document())
        cursor.select(QTextCursor.SelectionType.Document)
        cursor.removeSelectedText()
        self.setTextCursor(cursor)

    def restore_unsent(self, text: str) -> None:
        """Put back a message the room refused, before anything typed since."""
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.Start)
        cursor.insertText(text if self.document().isEmpty() else f"{text}\n")
        self.moveCursor(QTextCursor.MoveOperation.End)

    # ----------------------------------------------------------------- replies and edits

    @property
    def context(self) -> ComposeContext | None:
        """The reply or edit being written; None for a new message."""
        return self._context

    def start_reply(self, seq: int, words: str, *, name: str = "Cancel the reply",
                    mention: str = "") -> None:  # fmt: skip
        """Write a reply to message ``seq`` (leaving an edit first), with ``mention``
        ("@assistant") at the start of the text unless it is there already."""
        if self._context is not None and self._context.kind == "edit":
            self.cancel_context()
        if mention and not self.toPlainText().startswith(mention):
            cursor = QTextCursor(self.document())
            cursor.insertText(mention)
            self.moveCursor(QTextCursor.MoveOperation.End)
        self._set_context(ComposeContext("reply", seq, words, name))

    def start_edit(self, seq: int, text: str, *, words: str = "Editing your message") -> None:
        """Write a new text for our message ``seq``, starting from ``text``; what the box held
        comes back when the edit is saved or cancelled."""
        if self._context is None or self._context.kind != "edit":
            self._draft = (self.toPlainText(), self.textCursor().position())
        self.setPlainText(text)
        self.moveCursor(QTextCursor.MoveOperation.End)
        self._set_context(ComposeContext("edit", seq, words, "Cancel editing"))

    def cancel_context(self) -> None:
        """Leave the reply or edit (Esc, or the bar's close button): an edit gives back what
        was typed before it; a reply keeps its text, as a new message."""
        self.finish_context()

    def drop_edit(self) -> None:
        """The message being edited is gone: a new message again, keeping the text typed
        (what the box held before the edit is let go)."""
        if self._context is not None and self._context.kind == "edit":
            self._context, self._draft = None, None
            self.context_changed.emit()

    def finish_context(self) -> None:
        """The reply was sent or the edit saved (or either cancelled): a new message again,
        and after an edit what was typed before it."""
        context, self._context = self._context, None
        if context is None:
            return
        if context.kind == "edit":
            text, position = self._draft or ("", 0)
            self._draft = None
            self.setPlainText(text)
            cursor = self.textCursor()
            cursor.setPosition(min(position, len(self.toPlainText())))
            self.setTextCursor(cursor)
        self.context_changed.emit()

    def _set_context(self, context: ComposeContext) -> None:
        self._context = context
        self.context_changed.emit()

    # ----------------------------------------------------------------- pasting files

    def canInsertFromMimeData(self, source: QMimeData) -> bool:
        return bool(dropped_paths(source)) or super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source: QMimeData) -> None:
        """Text goes in the box; files and an image (without text) go to the chat page, which
        asks before sharing them. A file copied in a file manager comes with its path as
        text too: the file is what was meant."""
        if self.isReadOnly():
            return
        paths = dropped_paths(source)
        if paths:
            self.files_pasted.emit(paths)
            return
        if source.hasImage() and not source.hasText():
            image = source.imageData()
            if isinstance(image, QImage) and not image.isNull():
                self.image_pasted.emit(image)
            return
        super().insertFromMimeData(source)

    # ----------------------------------------------------------------- names

    def set_names(self, names: list[str]) -> None:
        """Who ``@`` can complete: participants and the assistant."""
        self._names.setStringList(sorted(set(names), key=str.casefold))

    def _word_before_cursor(self) -> str:
        cursor = self.textCursor()
        text = self.toPlainText()[: cursor.position()]
        at = text.rfind("@")
        if at < 0 or any(ch.isspace() for ch in text[at + 1 :]):
            return ""
        if at > 0 and not text[at - 1].isspace():
            return ""  # an e-mail address, not a mention
        return text[at:]

    def _insert_completion(self, name: str) -> None:
        word = self._word_before_cursor()
        cursor = self.textCursor()
        cursor.movePosition(
            QTextCursor.MoveOperation.Left, QTextCursor.MoveMode.KeepAnchor, len(word)
        )
        cursor.insertText(f"@{name} ")
        self.setTextCursor(cursor)

    def completion_popup_visible(self) -> bool:
        return self._popup.isVisible()

    def _show_completions(self, word: str) -> None:
        """List the names that start with ``word`` (after the ``@``), just under or over the
        line being typed, never on it; the first is highlighted, so Tab or Enter takes it."""
        self._completer.setCompletionPrefix(word[1:])
        if self._completer.completionCount() == 0:
            self._popup.hide()
            return
        # cursorRect() is in the viewport's coordinates; the completer places its popup in
        # the composer's, which start at the frame, before the padding.
        line = self.cursorRect().translated(self.viewport().pos()).adjusted(0, -3, 0, 3)
        line.setLeft(max(0, line.left() - self.fontMetrics().horizontalAdvance(word)))
        line.setWidth(POPUP_WIDTH)
        self._completer.complete(line)
        self._popup.setCurrentIndex(self._completer.completionModel().index(0, 0))

    def focusNextPrevChild(self, next: bool) -> bool:
        """Tab moves focus on, except while names are offered: then it takes the name."""
        if self.completion_popup_visible():
            return False
        return super().focusNextPrevChild(next)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if self._popup.isVisible() and event.key() in (
            Qt.Key.Key_Enter, Qt.Key.Key_Return, Qt.Key.Key_Tab, Qt.Key.Key_Escape,
        ):  # fmt: skip
            event.ignore()  # the completer takes these
            return
        if self._sends(event):
            self.submit()
            return
        if event.key() == Qt.Key.Key_Escape and not event.modifiers() and self._context:
            self.cancel_context()  # before the page's Esc, which stops an answer
            return
        if (
            event.key() == Qt.Key.Key_Up and not event.modifiers()
            and self.document().isEmpty() and self._context is None and not self.isReadOnly()
        ):  # fmt: skip
            self.edit_last_requested.emit()
            return
        super().keyPressEvent(event)
        word = self._word_before_cursor()
        if word:
            self._show_completions(word)
        else:
            self._popup.hide()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:  # the text size changed: still three lines
            self._base_height = self.fontMetrics().lineSpacing() * 3 + 20
            strip = 0 if self.counter.isHidden() else self._counter_height()
            self.setFixedHeight(self._base_height + strip)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._place_counter()

    def _on_text_changed(self) -> None:
        """Say "typing" when it starts and then every few seconds, and "stopped" when cleared;
        keep the counter and whether it can be sent current."""
        self._check_length()
        typing = bool(self.toPlainText().strip())
        now = time.monotonic()
        if typing != self._typing or (typing and now - self._said_at > TYPING_REPEAT):
            self._typing = typing
            self._said_at = now
            self.typing_changed.emit(typing)


def _cursor_position(text: str, chars: int) -> int:
    """The document position after the first ``chars`` characters of ``text``: Qt counts
    UTF-16 code units, so a character outside the BMP (an emoji) counts twice."""
    return len(text[:chars].encode("utf-16-le")) // 2


class AttachButton(QPushButton):
    """The paper-clip button beside the message box: "Attach a file…" (its accessible name
    and tooltip), reached with Tab, and styled as every button is (the focus outline
    included). Its icon is drawn in the theme's text colour, again when the theme changes."""

    ICON = 18

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("attach")
        self.setAccessibleName(ATTACH_NAME)
        self.setToolTip(ATTACH_NAME)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAutoDefault(False)  # Enter in the message box sends the message
        self.setIconSize(QSize(self.ICON, self.ICON))
        self._paint_icon()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.StyleChange,
                            QEvent.Type.EnabledChange):  # fmt: skip
            self._paint_icon()

    def event(self, event: QEvent) -> bool:
        # Moved to a screen of another scale: draw the icon again for its pixels.
        if event.type() == QEvent.Type.DevicePixelRatioChange:
            self._paint_icon()
        return super().event(event)

    def _paint_icon(self) -> None:
        role = QPalette.ColorRole.ButtonText
        group = QPalette.ColorGroup.Active if self.isEnabled() else QPalette.ColorGroup.Disabled
        ratio = max(1.0, self.devicePixelRatioF())
        pixmap = QPixmap(round(self.ICON * ratio), round(self.ICON * ratio))
        pixmap.setDevicePixelRatio(ratio)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(self.palette().color(group, role), 1.6)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        painter.setPen(pen)
        painter.translate(self.ICON / 2, self.ICON / 2)
        painter.rotate(45)
        painter.scale(self.ICON / 26, self.ICON / 26)
        painter.translate(-6, -12)  # the clip is 12 wide and 24 tall, drawn from its corner
        painter.drawPath(_paper_clip())
        painter.end()
        self.setIcon(QIcon(pixmap))


def _paper_clip() -> QPainterPath:
    """A paper clip, upright, in a 12 by 24 box: one wire bent into three nested U's."""
    path = QPainterPath(QPointF(8, 8))
    path.lineTo(8, 17)
    path.arcTo(QRectF(4, 15, 4, 4), 0, -180)
    path.lineTo(4, 6)
    path.arcTo(QRectF(4, 2, 8, 8), 180, -180)
    path.lineTo(12, 18)
    path.arcTo(QRectF(0, 12, 12, 12), 0, -180)
    path.lineTo(0, 9)
    return path
