"""The message box: Enter sends, Shift+Enter adds a line, ``@`` completes names."""

from __future__ import annotations

import time

from PySide6.QtCore import QStringListModel, Qt, Signal
from PySide6.QtGui import QKeyEvent, QTextCursor
from PySide6.QtWidgets import QCompleter, QPlainTextEdit, QSizePolicy, QWidget

__all__ = ["Composer"]

TYPING_REPEAT = 3.0  # seconds between "still typing" notes; others expire it after 6


class Composer(QPlainTextEdit):
    """A multi-line text box that emits :attr:`submitted` with its text on Enter."""

    submitted = Signal(str)
    typing_changed = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText("Write a message…  (Enter sends, Shift+Enter for a new line)")
        self.setTabChangesFocus(True)
        self._names = QStringListModel(self)
        self._completer = QCompleter(self._names, self)
        self._completer.setWidget(self)
        self._completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self._completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        self._completer.activated.connect(self._insert_completion)
        self._typing = False
        self._said_at = 0.0
        self.textChanged.connect(self._on_text_changed)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setFixedHeight(self.fontMetrics().lineSpacing() * 3 + 20)

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

    def keyPressEvent(self, event: QKeyEvent) -> None:
        popup = self._completer.popup()
        if popup.isVisible() and event.key() in (
            Qt.Key.Key_Enter, Qt.Key.Key_Return, Qt.Key.Key_Tab, Qt.Key.Key_Escape,
        ):  # fmt: skip
            event.ignore()  # the completer takes these
            return
        enter = event.key() in (Qt.Key.Key_Enter, Qt.Key.Key_Return)
        if enter and not event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self.submit()
            return
        super().keyPressEvent(event)
        word = self._word_before_cursor()
        if word:
            self._completer.setCompletionPrefix(word[1:])
            rect = self.cursorRect()
            rect.setWidth(220)
            self._completer.complete(rect)
        else:
            popup.hide()

    def submit(self) -> None:
        text = self.toPlainText()
        if not text.strip():
            return
        self.clear()
        self.submitted.emit(text)

    def _on_text_changed(self) -> None:
        """Say "typing" when it starts and then every few seconds, and "stopped" when cleared."""
        typing = bool(self.toPlainText().strip())
        now = time.monotonic()
        if typing != self._typing or (typing and now - self._said_at > TYPING_REPEAT):
            self._typing = typing
            self._said_at = now
            self.typing_changed.emit(typing)
