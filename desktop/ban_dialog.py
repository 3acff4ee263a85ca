"""The host's list of bans, with a way to lift each one (Host controls → Banned people…).

The list follows the room: :meth:`BansDialog.set_bans` is called with every ``BanList`` the
room sends, so a lifted ban disappears once the room has lifted it. Names are the names the
banned people had, so they come from the network: fenced in the list, escaped in tooltips.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from core.protocol import BanInfo
from desktop.confirm import button_text
from desktop.labels import PlainLabel
from desktop.network_text import fenced, tooltip

__all__ = ["BansDialog", "ban_line"]

_BAN_ID = Qt.ItemDataRole.UserRole + 1


def ban_line(ban: BanInfo, now: float | None = None) -> str:
    """A row of the list: who (their name then) and when."""
    now = time.time() if now is None else now
    when = time.localtime(ban.ts)
    same_day = time.strftime("%Y-%m-%d", when) == time.strftime("%Y-%m-%d", time.localtime(now))
    stamp = time.strftime("%H:%M" if same_day else "%d %b, %H:%M", when)
    return f"{fenced(ban.name)}  ·  banned at {stamp}"


class BansDialog(QDialog):
    """Lists the bans in force; "Lift the ban on NAME" emits :attr:`unban_requested` with
    the ban's id (the room's next ``BanList`` then updates the list)."""

    unban_requested = Signal(str)

    def __init__(self, bans: tuple[BanInfo, ...], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("bansDialog")
        self.setWindowTitle("Banned people")
        intro = PlainLabel(
            "People you banned cannot join this room again from the same address. Lift a ban "
            "to let them back in.",
            wrap=True,
        )
        self.list = QListWidget()
        self.list.setAccessibleName("Banned people")
        self.list.setObjectName("bans")
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.empty = PlainLabel("Nobody is banned from this room.", name="emptyState", wrap=True)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.list)
        self.stack.addWidget(self.empty)
        self.lift_button = QPushButton("Lift the ban")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.buttons.addButton(self.lift_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.buttons)
        self.list.currentItemChanged.connect(self.on_current_item_changed)
        self.lift_button.clicked.connect(self.on_lift_clicked)
        self.resize(420, 320)
        self.set_bans(bans)

    def set_bans(self, bans: tuple[BanInfo, ...]) -> None:
        """Show ``bans`` (the room's list, oldest first), keeping the selection if it stays."""
        selected = self._selected_id()
        self.list.clear()
        for ban in bans:
            item = QListWidgetItem(ban_line(ban))
            item.setData(_BAN_ID, ban.id)
            item.setData(Qt.ItemDataRole.UserRole, ban.name)
            item.setToolTip(tooltip(ban.name))
            self.list.addItem(item)
            if ban.id == selected:
                self.list.setCurrentItem(item)
        if self._current_item() is None and self.list.count():
            self.list.setCurrentRow(0)
        self.stack.setCurrentWidget(self.list if bans else self.empty)
        self.on_current_item_changed()

    def _current_item(self) -> QListWidgetItem | None:
        """The selected row's item, None when no row is (PySide6's stub leaves out None)."""
        return self.list.currentItem()

    def _selected_id(self) -> str | None:
        item = self._current_item()
        return str(item.data(_BAN_ID)) if item is not None else None

    def on_current_item_changed(self, *_: object) -> None:
        item = self._current_item()
        self.lift_button.setEnabled(item is not None)
        if item is None:
            self.lift_button.setText("Lift the ban")
        else:
            name = fenced(str(item.data(Qt.ItemDataRole.UserRole)))
            self.lift_button.setText(button_text(f"Lift the ban on {name}"))

    def on_lift_clicked(self) -> None:
        ban_id = self._selected_id()
        if ban_id is not None:
            self.lift_button.setEnabled(False)  # until the room's answer updates the list
            self.unban_requested.emit(ban_id)
