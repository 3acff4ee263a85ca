"""The people panel: who is in the room, what the host may do to them, and whether we know.

Everyone sees each person's role, "reconnecting…", and a warning when a connection from
another address took over that person's place (:attr:`ParticipantInfo.moved`: someone may
have stolen their session token). The host can remove or ban people from a context menu;
both ask first, with buttons that say what they do. Once we are out of the room the list is
emptied and says so, since we no longer know who is there.

Names come from the room and may be hostile: they are fenced in display texts, escaped in
tooltips (:mod:`desktop.network_text`), and the title is a plain-text label.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtWidgets import (
    QApplication,
    QListView,
    QMenu,
    QSizePolicy,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from core.protocol import ParticipantId, ParticipantInfo
from desktop.confirm import ask, button_text
from desktop.labels import PlainLabel
from desktop.models import Roles
from desktop.network_text import fenced, tooltip

__all__ = ["MOVED_TAG", "PeopleModel", "PeoplePanel", "person_line"]

Index = QModelIndex | QPersistentModelIndex

MOVED_TAG = "new address"
"""Tag of a person whose place was taken over from another address (with a warning sign)."""

_MOVED_FOR_HOST = (
    "Continued from another address: someone may have copied their connection. "
    "If this is not them, remove them."
)
_MOVED_FOR_GUEST = (
    "Continued from another address: someone may have copied their connection. "
    "If this is not them, tell the host."
)


def person_line(info: ParticipantInfo, me: str) -> str:
    """One row of the list: the fenced name, then what to know about them."""
    tags = []
    if info.role == "host":
        tags.append("host")
    if info.role == "assistant":
        tags.append("AI assistant")
    if info.id and info.id == me:
        tags.append("you")
    if info.status == "reconnecting":
        tags.append("reconnecting…")
    if info.moved:
        tags.append(MOVED_TAG)
    return fenced(info.name) + (f"  ·  {', '.join(tags)}" if tags else "")


class PeopleModel(QAbstractListModel):
    """Everyone in the room, host first, then by name; the assistant last, when there is one.

    :data:`Roles.PARTICIPANT` gives each row's :class:`ParticipantInfo` (the assistant's has
    role ``"assistant"`` and no id).
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._people: list[ParticipantInfo] = []
        self._assistant: str | None = None
        self._me = ""
        self._host = False  # whether the tooltips speak to the host

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's API)
        if parent.isValid():
            return 0
        return len(self._people) + (1 if self._assistant is not None else 0)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < self.rowCount():
            return None
        if index.row() < len(self._people):
            info = self._people[index.row()]
        else:
            info = ParticipantInfo(ParticipantId(""), self._assistant or "assistant", "assistant")
        if role == Roles.PARTICIPANT:
            return info
        if role == Qt.ItemDataRole.DisplayRole:
            return person_line(info, self._me)
        if role == Qt.ItemDataRole.ToolTipRole:
            if not info.moved:
                return tooltip(info.name)
            # Our own words after the escaped name: they hold no markup of their own.
            why = _MOVED_FOR_HOST if self._host else _MOVED_FOR_GUEST
            return f"{tooltip(info.name)}<p>{why}</p>"
        if role == Qt.ItemDataRole.DecorationRole and info.moved:
            return QApplication.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        return None

    def set_people(
        self, people: dict[str, ParticipantInfo], assistant: str | None, me: str, *,
        host: bool = False,
    ) -> None:  # fmt: skip
        ordered = sorted(people.values(), key=lambda p: (p.role != "host", p.name.casefold()))
        wanted = (ordered, assistant, me, host)
        if wanted == (self._people, self._assistant, self._me, self._host):
            return
        self.beginResetModel()  # a handful of rows: a reset is simplest and cheap
        self._people, self._assistant, self._me, self._host = wanted
        self.endResetModel()

    def clear(self) -> None:
        self.set_people({}, None, "")


class PeoplePanel(QWidget):
    """The list of people with its title. The host's Remove and Ban ask first; only an
    answered question emits :attr:`removal_confirmed` (participant id, whether to ban)."""

    removal_confirmed = Signal(str, bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("peoplePanel")
        self.title = PlainLabel(name="panelTitle", wrap=True)
        self.model = PeopleModel(self)
        self.view = QListView()
        self.view.setObjectName("people")
        self.view.setModel(self.model)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        # A long name is cut in the middle to the panel's width, so that "host" or
        # "reconnecting…" after it still shows (the whole name is in the tooltip).
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        size = self.view.fontMetrics().height()
        self.view.setIconSize(QSize(size, size))  # the warning sign keeps rows one line high
        self.view.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Expanding)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.view, 1)
        self._me = ""
        self._may_remove = False
        self.view.customContextMenuRequested.connect(self.on_menu_requested)

    def show_people(
        self, people: dict[str, ParticipantInfo], assistant: str | None, me: str, *,
        host: bool, connected: bool = True,
    ) -> None:  # fmt: skip
        """Show who is here. ``host``: we host the room (and may remove people);
        ``connected`` false: the list is as it was when the connection dropped."""
        self.model.set_people(people, assistant, me, host=host)
        self._me = me
        self._may_remove = host and connected
        count = f"People here · {len(people)}"
        self.title.setText(count if connected else f"{count} · not connected")

    def show_not_connected(self) -> None:
        """We are out of the room: who is there is no longer known, so nobody is listed."""
        self.model.clear()
        self._may_remove = False
        self.title.setText("People · not connected")

    def on_menu_requested(self, pos: QPoint) -> None:
        """The host's menu for the person at ``pos`` (in the list's viewport)."""
        index = self.view.indexAt(pos)
        person = index.data(Roles.PARTICIPANT) if index.isValid() else None
        if not isinstance(person, ParticipantInfo) or not self._may_remove:
            return
        if person.role == "assistant" or person.id == self._me:
            return
        menu = QMenu(self)
        name = fenced(person.name)
        menu.addAction(button_text(f"Remove {name}"), lambda: self.confirm_removal(person))
        menu.addAction(
            button_text(f"Remove and ban {name}"), lambda: self.confirm_removal(person, ban=True)
        )
        menu.exec(self.view.viewport().mapToGlobal(pos))

    def confirm_removal(self, person: ParticipantInfo, *, ban: bool = False) -> None:
        """Ask, then (if confirmed) emit :attr:`removal_confirmed`."""
        name = fenced(person.name)
        if ban:
            title, verb = f"Ban {name}?", f"Ban {name}"
            text = (
                f"{name} is removed from the room, and nobody from their address can join it "
                "again until you lift the ban (Host controls → Banned people…)."
            )
        else:
            title, verb = f"Remove {name}?", f"Remove {name}"
            text = f"{name} is removed from the room. They can join again unless you lock it."
        ask(self, title=title, text=text, verb=verb,
            on_confirmed=lambda: self.removal_confirmed.emit(person.id, ban))  # fmt: skip
