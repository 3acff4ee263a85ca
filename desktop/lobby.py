"""The first screen: rooms found on the network, and the ways in (join, by address, host)."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListView,
    QPushButton,
    QStackedWidget,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from core.discovery import DiscoveredRoom
from desktop.labels import PlainLabel, elided
from desktop.models import Roles, RoomListModel
from desktop.network_text import FIELD_CHARS, TEXT_CHARS, fenced, one_line

__all__ = ["LobbyPage", "RoomDelegate", "room_details"]

EMPTY_TEXT = """<h3>No rooms found yet</h3>
<p>Rooms hosted on this network appear here by themselves. That needs:</p>
<ul>
<li>the same network (the same Wi-Fi or office LAN) as the host;</li>
<li>a network that allows multicast (guest Wi-Fi and some offices block it);</li>
<li>a firewall that lets GPT Group through on the host's computer.</li>
</ul>
<p>If the list stays empty, ask the host for the room's address or link and use
<b>Join by address or link…</b>. Or host a room yourself.</p>"""


def room_details(room: DiscoveredRoom) -> str:
    """A room's second line: host, people, the assistant, and whether this app can join."""
    details = []
    if room.host_name:
        details.append(f"hosted by {fenced(room.host_name)}")
    if room.participants is not None:
        details.append("1 person" if room.participants == 1 else f"{room.participants} people")
    if room.assistant_kind in ("cloud", "local"):
        model = fenced(room.model, FIELD_CHARS) if room.model else "?"
        provider = fenced(room.provider, FIELD_CHARS) if room.provider else "?"
        details.append(f"assistant: {model} via {provider}")
    elif room.assistant_kind == "none":
        details.append("no assistant")
    if not room.compatible:
        details.append(f"needs a different app version (protocol {room.protocol or '?'})")
    return " · ".join(details)


class RoomDelegate(QStyledItemDelegate):
    """A room as two lines: its name and badges, then host, people and the assistant.

    Every field comes from an announcement on the LAN: each is drawn as plain text, cut to
    fit, and direction-isolated from the words around it.
    """

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        line = QFontMetrics(option.font).height()
        return QSize(option.rect.width(), 2 * line + 22)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        room = index.data(Roles.ROOM)
        if not isinstance(room, DiscoveredRoom):
            super().paint(painter, option, index)
            return
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = option.palette
        rect = option.rect.adjusted(6, 3, -6, -3)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(palette.color(QPalette.ColorRole.Highlight) if selected else
                         palette.color(QPalette.ColorRole.AlternateBase))  # fmt: skip
        painter.drawRoundedRect(rect, 8, 8)
        text = palette.color(
            QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        )
        muted = QColor(text)
        muted.setAlpha(170)
        metrics = QFontMetrics(option.font)
        x, y = rect.left() + 12, rect.top() + 8
        bold = QFont(option.font)
        bold.setBold(True)
        bold.setPointSizeF(option.font.pointSizeF() + 1)
        painter.setFont(bold)
        painter.setPen(text)
        name = elided(one_line(room.name[:TEXT_CHARS]), QFontMetrics(bold), rect.width() // 2)
        painter.drawText(x, y + QFontMetrics(bold).ascent(), name)
        x += QFontMetrics(bold).horizontalAdvance(name) + 10
        for badge, colour in self._badges(room):
            width = metrics.horizontalAdvance(badge) + 12
            box = QRect(x, y + 1, width, metrics.height())
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(colour))
            painter.drawRoundedRect(box, 5, 5)
            painter.setPen(QColor("white"))
            painter.setFont(option.font)
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, badge)
            x += width + 6
        painter.setFont(option.font)
        painter.setPen(muted)
        line = elided(room_details(room), metrics, rect.width() - 24)
        painter.drawText(rect.left() + 12, y + metrics.height() + 6 + metrics.ascent(), line)
        painter.restore()

    @staticmethod
    def _badges(room: DiscoveredRoom) -> list[tuple[str, str]]:
        badges = []
        if room.password_required:
            badges.append(("password", "#6b7580"))
        if room.assistant_kind == "cloud":
            badges.append(("cloud AI", "#3867d6"))
        elif room.assistant_kind == "local":
            badges.append(("local AI", "#11818c"))
        if room.own:
            badges.append(("yours", "#a86a00"))
        if not room.compatible:
            badges.append(("incompatible", "#c62828"))
        return badges


class LobbyPage(QWidget):
    """Signals say what the person chose; the main window does the joining and hosting."""

    join_requested = Signal(object)  # a DiscoveredRoom
    join_by_address_requested = Signal()
    host_requested = Signal()
    about_requested = Signal()

    def __init__(self, rooms: RoomListModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rooms = rooms
        title = QLabel("GPT Group", objectName="appTitle")
        subtitle = QLabel("Chat with an AI together, as a group, in one place.", objectName="hint")
        about = QPushButton("About")
        about.setFlat(True)
        top = QHBoxLayout()
        heading = QVBoxLayout()
        heading.addWidget(title)
        heading.addWidget(subtitle)
        top.addLayout(heading, 1)
        top.addWidget(about, 0, Qt.AlignmentFlag.AlignTop)

        self.list = QListView(objectName="rooms")
        self.list.setModel(rooms)
        self.list.setItemDelegate(RoomDelegate(self.list))
        self.list.setSpacing(2)
        self.list.setFrameShape(QListView.Shape.NoFrame)
        self.empty = QLabel(EMPTY_TEXT, objectName="emptyState", wordWrap=True)
        self.empty.setTextFormat(Qt.TextFormat.RichText)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignTop)
        empty_page = QWidget()
        empty_layout = QVBoxLayout(empty_page)
        empty_layout.setContentsMargins(0, 0, 0, 0)
        empty_layout.addWidget(self.empty)
        empty_layout.addStretch(1)
        self.stack = QStackedWidget()
        self.stack.addWidget(empty_page)
        self.stack.addWidget(self.list)
        self.discovery_note = PlainLabel(name="hint", wrap=True)

        self.join_button = QPushButton("Join", objectName="primary")
        self.address_button = QPushButton("Join by address or link…")
        self.host_button = QPushButton("Host a room…")
        buttons = QHBoxLayout()
        buttons.addWidget(self.host_button)
        buttons.addStretch(1)
        buttons.addWidget(self.address_button)
        buttons.addWidget(self.join_button)

        section = QLabel("Rooms on this network", objectName="panelTitle")
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addSpacing(8)
        layout.addWidget(section)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.discovery_note)
        layout.addLayout(buttons)

        about.clicked.connect(self.about_requested)
        self.address_button.clicked.connect(self.join_by_address_requested)
        self.host_button.clicked.connect(self.host_requested)
        self.join_button.clicked.connect(self._join_selected)
        self.list.doubleClicked.connect(self._join_index)
        self.list.selectionModel().selectionChanged.connect(self._update_buttons)
        for signal in (rooms.rowsInserted, rooms.rowsRemoved, rooms.modelReset, rooms.dataChanged):
            signal.connect(self._update_buttons)
        self._update_buttons()

    def set_discovery_problem(self, text: str) -> None:
        self.discovery_note.setText(text)

    def _selected(self) -> DiscoveredRoom | None:
        indexes = self.list.selectionModel().selectedIndexes()
        room = indexes[0].data(Roles.ROOM) if indexes else None
        return room if isinstance(room, DiscoveredRoom) else None

    def _update_buttons(self, *_: object) -> None:
        self.stack.setCurrentIndex(1 if self.rooms.rowCount() else 0)
        room = self._selected()
        self.join_button.setEnabled(room is not None and room.compatible)

    def _join_selected(self) -> None:
        room = self._selected()
        if room is not None:
            self.join_requested.emit(room)

    def _join_index(self, index: QModelIndex) -> None:
        room = index.data(Roles.ROOM)
        if isinstance(room, DiscoveredRoom) and room.compatible:
            self.join_requested.emit(room)
