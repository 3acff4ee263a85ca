"""Find in the chat: a bar over the transcript (Ctrl+F) that finds text in what was written.

The search is case-insensitive, in messages, answers, the room's notices and the names of
shared files (not the "joined" lines), over the whole conversation this window holds, and
follows it as it grows. Typing finds the first match from the rows in view down (else from
the top); Enter or F3 goes to the next, Shift+Enter or Shift+F3 to the previous, wrapping
round; "3 of 12" says where. The current match's row is selected and scrolled to, unfolded
if it is a long message folded away (:meth:`desktop.chat_view.ChatView.reveal`), and read out
to a screen reader when moved to by key. Esc (or Close) closes the bar: :attr:`FindBar.closed`,
on which the page gives the message box the focus back. The row found stays selected.

Nothing typed here leaves this window, and it is not remembered once the page is gone.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLineEdit, QPushButton, QWidget

from core.transcript import Entry
from desktop.chat_view import ChatView
from desktop.labels import PlainLabel
from desktop.models import MessageListModel

__all__ = ["SEARCHED", "FindBar", "count_words", "matching_rows"]

SEARCHED = ("message", "answer", "notice", "file")
"""The kinds of rows find looks in."""
REFRESH_MS = 200
"""How soon after the transcript changed the matches are counted again (a streaming answer
changes it many times a second)."""


def searched_text(entry: Entry) -> str:
    """What find looks in for ``entry``: its text, or a shared file's name."""
    return entry.file_name if entry.kind == "file" else entry.text


def matching_rows(entries: Sequence[Entry], text: str) -> list[int]:
    """The rows of ``entries`` whose text holds ``text``, whatever the case, in order; none
    for an empty ``text``."""
    wanted = text.casefold()
    if not wanted.strip():
        return []
    return [
        row
        for row, entry in enumerate(entries)
        if entry.kind in SEARCHED and wanted in searched_text(entry).casefold()
    ]


def count_words(current: int, total: int) -> str:
    """ "3 of 12" (``current`` counted from 0), "No matches", or "" before any search."""
    if total == 0:
        return "No matches"
    return f"{current + 1} of {total}" if current >= 0 else f"{total} matches"


class FindBar(QFrame):
    """The find bar of ``view``'s transcript (see the module docstring); hidden until
    :meth:`open`. Emits :attr:`closed` when the person closes it."""

    closed = Signal()

    def __init__(self, view: ChatView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("findBar")
        self.view = view
        self._keys: list[str] = []  # the entries matching, in transcript order
        self._current = -1  # the match shown, in _keys
        self.field = QLineEdit()
        self.field.setPlaceholderText("Find in the chat")
        self.field.setAccessibleName("Find in the chat")
        self.field.setClearButtonEnabled(True)
        self.field.installEventFilter(self)
        self.count = PlainLabel(name="hint")
        self.count.setMinimumWidth(self.count.fontMetrics().horizontalAdvance("000 of 000  "))
        self.previous_button = QPushButton("Previous")
        self.next_button = QPushButton("Next")
        self.close_button = QPushButton("Close")
        self.close_button.setObjectName("closeFind")
        self.close_button.setAccessibleName("Close find")
        for button, keys, tip in (
            (self.previous_button, QKeySequence.StandardKey.FindPrevious, "Previous match"),
            (self.next_button, QKeySequence.StandardKey.FindNext, "Next match"),
        ):
            button.setAutoDefault(False)
            shown = QKeySequence(keys).toString(QKeySequence.SequenceFormat.NativeText)
            button.setToolTip(f"{tip} ({shown})" if shown else tip)
            button.setAccessibleDescription(button.toolTip())
        self.close_button.setAutoDefault(False)
        self.close_button.setToolTip("Close find (Esc)")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.field, 1)
        layout.addWidget(self.count)
        layout.addWidget(self.previous_button)
        layout.addWidget(self.next_button)
        layout.addWidget(self.close_button)
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(REFRESH_MS)
        self._connect_signals()
        self._show_count()
        self.hide()

    def _connect_signals(self) -> None:
        self.field.textChanged.connect(self.on_text_changed)
        self.previous_button.clicked.connect(lambda: self.step(-1))
        self.next_button.clicked.connect(lambda: self.step(1))
        self.close_button.clicked.connect(self.close_bar)
        self._refresh_timer.timeout.connect(self.refresh)
        model = self._model()
        if model is not None:
            for signal in (model.rowsInserted, model.rowsRemoved, model.rowsMoved,
                           model.modelReset, model.dataChanged):  # fmt: skip
                signal.connect(self._transcript_changed)

    # ----------------------------------------------------------------- public

    @property
    def matches(self) -> int:
        """How many rows match."""
        return len(self._keys)

    @property
    def current_row(self) -> int | None:
        """The transcript row of the match shown, if any."""
        model = self._model()
        if model is None or not 0 <= self._current < len(self._keys):
            return None
        return model.transcript.index_of(self._keys[self._current])

    def open(self) -> None:
        """Show the bar with the keyboard in its field, what it holds selected (Ctrl+F
        again, with the bar open, does the same)."""
        self.show()
        self.field.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.field.selectAll()
        if self.field.text():
            self.refresh()

    def close_bar(self) -> None:
        self.hide()
        self._refresh_timer.stop()
        self.closed.emit()

    def step(self, delta: int) -> bool:
        """Go to the next (``delta`` 1) or previous (-1) match, round the end; the bar opens
        if it was closed. False when nothing matches."""
        if not self.isVisible():
            self.open()
        self.refresh()
        if not self._keys:
            return False
        self._current = (self._current + delta) % len(self._keys) if self._current >= 0 else (
            0 if delta > 0 else len(self._keys) - 1
        )  # fmt: skip
        self._show_count()
        self._show_current(announce=True)
        return True

    def refresh(self) -> None:
        """Count the matches again (the transcript changed), keeping the one shown."""
        shown = self._keys[self._current] if 0 <= self._current < len(self._keys) else None
        self._search(keep=shown)
        self._show_count()

    # ----------------------------------------------------------------- searching

    def on_text_changed(self, text: str) -> None:
        """Find from the match shown if it still matches, else from the rows in view."""
        shown = self._keys[self._current] if 0 <= self._current < len(self._keys) else None
        self._search(keep=shown, text=text)
        if self._keys and self._current < 0:
            self._current = self._first_from(self._anchor_row())
        if self._current >= 0:
            self._show_current(announce=False)
        self._show_count()

    def _search(self, *, keep: str | None, text: str | None = None) -> None:
        model = self._model()
        entries = model.transcript.entries if model is not None else []
        rows = matching_rows(entries, self.field.text() if text is None else text)
        self._keys = [entries[row].key for row in rows]
        self._current = self._keys.index(keep) if keep in self._keys else -1

    def _first_from(self, row: int) -> int:
        """The first match at ``row`` or after it; else the first of all."""
        model = self._model()
        if model is None:
            return -1
        for n, key in enumerate(self._keys):
            at = model.transcript.index_of(key)
            if at is not None and at >= row:
                return n
        return 0

    def _anchor_row(self) -> int:
        """Where a new search starts: the selected row, else the first row in view."""
        window = self.view.window_model
        current = self.view.currentIndex()
        if window is not None and current.isValid():
            return window.to_source(current).row()
        top = self.view.indexAt(QPoint(self.view.viewport().width() // 2, 0))
        if window is not None and top.isValid():
            return window.to_source(top).row()
        return 0

    def _show_current(self, *, announce: bool) -> None:
        model = self._model()
        row = self.current_row
        if model is None or row is None:
            return
        index = model.index(row)
        self.view.reveal(index)
        self.view.select(index)
        if announce:  # a screen reader stays in the field: it hears where it went
            spoken = self.view.window_index(index).data(Qt.ItemDataRole.AccessibleTextRole)
            self.view.announce(f"{count_words(self._current, len(self._keys))}. {spoken or ''}")

    def _show_count(self) -> None:
        words = count_words(self._current, len(self._keys)) if self.field.text().strip() else ""
        self.count.setText(words)
        self.field.setAccessibleDescription(words)

    def _transcript_changed(self, *_: object) -> None:
        if self.isVisible() and self.field.text().strip():
            self._refresh_timer.start()

    def _model(self) -> MessageListModel | None:
        model = self.view.source_model()
        return model if isinstance(model, MessageListModel) else None

    # ----------------------------------------------------------------- keys

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """In the field: Enter finds the next match, Shift+Enter the previous."""
        if watched is self.field and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            modifiers = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and modifiers in (
                Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.ShiftModifier,
            ):  # fmt: skip
                self.step(-1 if modifiers == Qt.KeyboardModifier.ShiftModifier else 1)
                return True
        return super().eventFilter(watched, event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Esc, anywhere in the bar, closes it (and goes no further: it stops no answer)."""
        if event.key() == Qt.Key.Key_Escape and not event.modifiers():
            event.accept()
            self.close_bar()
            return
        super().keyPressEvent(event)
