"""The keyboard shortcuts: the list F1 shows, and the text-size keys.

:func:`shortcut_sections` is the one list of what the keys do, in words, with the keys as the
system writes them (Ctrl on Linux and Windows, ⌘ on macOS), but "Enter", "Ctrl+Plus" and
"Ctrl+Minus" where Qt says "Return", "Ctrl++" and "Ctrl+-" (:func:`keys`).
:class:`ShortcutsDialog` shows it as a plain table that a screen reader reads row by row
("Ctrl+F: Find in the chat"), not as rich text. The keys are bound where they act (the chat
page, the chat view, the find bar, the main window); a test checks that those listed for a
room are the ones bound there.

:func:`add_text_size_actions` gives a page Ctrl+Plus, Ctrl+Minus and Ctrl+0, bound to
:mod:`desktop.text_size` (and so remembered in the preferences).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop import text_size
from desktop.labels import PlainLabel
from desktop.settings import SendKey

__all__ = [
    "ShortcutsDialog",
    "add_text_size_actions",
    "keys",
    "shortcut_sections",
]

Section = tuple[str, list[tuple[str, str]]]
"""A heading, and its rows: the keys, and what they do."""


_SAID = {"++": "+Plus", "+-": "+Minus"} | (
    {} if sys.platform == "darwin" else {"Return": "Enter"}
)  # fmt: skip
"""Key names as people say them, where Qt's differ ("Ctrl++", "Return" on a PC keyboard)."""


def keys(*sequences: str | QKeySequence.StandardKey) -> str:
    """``sequences`` as the system writes them, joined by " / " ("Ctrl+F", "⌘F"), with the
    names people use: "Enter", "Ctrl+Plus", "Ctrl+Minus"."""
    native = QKeySequence.SequenceFormat.NativeText
    shown = []
    for sequence in sequences:
        text = QKeySequence(sequence).toString(native)
        for qt_name, said in _SAID.items():
            text = text.replace(qt_name, said)
        shown.append(text)
    return " / ".join(shown)


def shortcut_sections(send_key: SendKey = "enter") -> list[Section]:
    """Every shortcut, by where it works; the keys that send a message as ``send_key``
    (the person's preference) has them."""
    send, new_line = ("Ctrl+Return", "Return") if send_key == "ctrl_enter" else (
        "Return", "Shift+Return"
    )  # fmt: skip
    room = [
        (keys(send), "Send the message"),
        (keys(new_line), "A new line in the message"),
        ("@ " + keys("Tab"), "Complete a name (Tab or Enter takes the one highlighted)"),
        (keys("Up"), "In an empty message box: edit your last message"),
        (keys("Esc"), "Cancel the reply or the edit being written"),
        (keys("Esc"), "Otherwise: stop the answer being written (yours, or any if you host)"),
        (keys(QKeySequence.StandardKey.Find), "Find in the chat"),
        (
            f"{keys('Return', 'Shift+Return')}, {keys('F3', 'Shift+F3')}",
            "Next / previous match, in find (Esc closes it)",
        ),
        (keys("Alt+Up", "Alt+Down"), "Previous / next message"),
        (keys("Ctrl+End"), "Show the latest message"),
        (keys("Ctrl+L"), "Go to the message box"),
        (keys(QKeySequence.StandardKey.Copy), "Copy the selected messages"),
        (keys("Return", "Space"), "On a long message: show more, or less"),
        (
            keys("Menu", "Shift+F10"),
            "A message's menu: reply, ask about it, react, edit, delete, go to the original, "
            "copy its text, code or a link",
        ),
        (keys(QKeySequence.StandardKey.Save), "Save transcript…"),
        (keys("Ctrl++", "Ctrl+-", "Ctrl+0"), "Larger / smaller / the usual text size"),
        (keys("F1"), "This list"),
    ]
    lobby = [
        (keys("Return"), "Join the selected room"),
        (keys("F5"), "Search this network for rooms"),  # desktop.lobby.SEARCH_KEY
        (keys("Ctrl+,"), "Settings"),
    ]
    anywhere = [
        (keys("Tab", "Shift+Tab"), "Move to the next / previous control"),
        (keys("Space"), "Press the button, or tick the box, that has the focus"),
        (keys("Esc"), "In a dialog or a menu: close it without doing anything"),
    ]
    return [("In a room", room), ("In the list of rooms", lobby), ("Anywhere", anywhere)]


class ShortcutsDialog(QDialog):
    """Lists :func:`shortcut_sections` (F1 in a room). One table, reached by the keyboard
    first; Esc or Close closes it."""

    def __init__(self, send_key: SendKey = "enter", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("shortcutsDialog")
        self.setWindowTitle("Keyboard shortcuts")
        intro = PlainLabel("What the keys do in GPT Group.", name="hint", wrap=True)
        self.table = QTreeWidget()
        self.table.setObjectName("shortcuts")
        self.table.setColumnCount(2)
        self.table.setHeaderLabels(["Keys", "What they do"])
        self.table.setAccessibleName("Keyboard shortcuts")
        self.table.setRootIsDecorated(False)
        self.table.setItemsExpandable(False)
        self.table.setUniformRowHeights(True)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setWordWrap(True)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._rows: list[QTreeWidgetItem] = []
        for title, rows in shortcut_sections(send_key):
            section = QTreeWidgetItem([title])
            section.setFirstColumnSpanned(True)
            font = section.font(0)
            font.setBold(True)
            section.setFont(0, font)
            section.setFlags(Qt.ItemFlag.ItemIsEnabled)  # a heading: not selected
            self.table.addTopLevelItem(section)
            for shown, what in rows:
                item = QTreeWidgetItem([shown, what])
                item.setData(0, Qt.ItemDataRole.AccessibleTextRole, f"{shown}: {what}")
                section.addChild(item)
                self._rows.append(item)
        self.table.expandAll()
        self.table.resizeColumnToContents(0)
        self.table.setColumnWidth(0, self.table.columnWidth(0) + 16)
        self.table.setCurrentItem(self._rows[0])
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.buttons)
        self.table.setFocus()
        self.resize(660, 500)

    def rows(self) -> list[tuple[str, str]]:
        """Every row shown (keys, what they do), in order, the headings left out."""
        return [(item.text(0), item.text(1)) for item in self._rows]


def add_text_size_actions(
    widget: QWidget, on_changed: Callable[[int], None] | None = None
) -> list[QAction]:
    """Give ``widget`` (and what is in it) Ctrl+Plus (and Ctrl+=, the same key unshifted),
    Ctrl+Minus and Ctrl+0: larger, smaller and the system's text size, remembered. Each
    calls ``on_changed`` with the size now shown (per cent). The actions, in that order."""
    bindings = QKeySequence.keyBindings
    made = []
    for words, shortcuts, change in (
        ("Larger text", [*bindings(QKeySequence.StandardKey.ZoomIn), QKeySequence("Ctrl+=")],
         text_size.bigger),
        ("Smaller text", bindings(QKeySequence.StandardKey.ZoomOut), text_size.smaller),
        ("The usual text size", [QKeySequence("Ctrl+0")], text_size.reset),
    ):  # fmt: skip
        action = QAction(words, widget)
        action.setShortcuts(shortcuts)
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)

        def triggered(_checked: bool = False, change: Callable[[], int] = change) -> None:
            size = change()
            if on_changed is not None:
                on_changed(size)

        action.triggered.connect(triggered)
        widget.addAction(action)
        made.append(action)
    return made
