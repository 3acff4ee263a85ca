"""The first screen: rooms found on the network, and the ways in (join, by address, host).

What the list shows comes through :class:`RoomFeed`, which stands between the browser and the
list: a room is identified by its room id and its certificate, and only one room can answer at
one address and port, so the announcement of a room whose host crashed (it lingers in the
network's caches for a long time, and the new room on the same port answers its checks) never
stays listed as a ghost that opens another room. A record that names another certificate under
a service name already listed never replaces that room silently: both are listed.

Each room shows its verification code, which the host sees too. Anyone can announce a room
under any name: rooms that share a name but not a certificate are marked on each of them, so
that people compare the code with the host before choosing one.

A room is listed once however it was found (its mDNS announcement, its broadcast beacon, a
search of the network); one not found by mDNS says how ("via broadcast", "found by search"),
and one that only a search found says to compare its code with the host's: nothing announced
it. **Search this network** runs only when asked (:mod:`desktop.room_search`), and **Why can't
I see the room?** opens the network check (:mod:`desktop.network_check_dialog`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, replace

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QKeyEvent,
    QKeySequence,
    QPainter,
    QPalette,
    QShortcut,
)
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

from core.discovery import BrowserEvent, DiscoveredRoom
from core.protocol import DEFAULT_PORT, PROTOCOL_VERSION
from desktop import theme
from desktop.join_dialogs import LinkLabel
from desktop.labels import PlainLabel, elided
from desktop.models import (
    QUIET_BADGE,
    SEARCHED_NOTE,
    Roles,
    RoomListModel,
    found_only_by_search,
    namesake_note,
    room_address,
    room_badges,
    room_details,
)
from desktop.network_text import TEXT_CHARS, fenced, one_line
from desktop.room_search import RoomSearch, SearchStrip

__all__ = [
    "SEARCH_KEY",
    "WHY_CANT_I_SEE",
    "LobbyPage",
    "RoomDelegate",
    "RoomFeed",
    "namesake_note",
    "room_address",
    "room_details",
    "room_line",
    "room_note",
    "verification_text",
]

SEARCH_KEY = "F5"
WHY_CANT_I_SEE = "Why can't I see the room?"
EMPTY_TEXT = """<h3>No rooms found yet</h3>
<p>Rooms hosted on this network appear here by themselves. That needs:</p>
<ul>
<li>the same network (the same Wi-Fi or office LAN) as the host;</li>
<li>a network that lets announcements through (guest Wi-Fi and some offices block them);</li>
<li>a firewall that lets GPT Group through on the host's computer.</li>
</ul>
<p>If the list stays empty, <a href="search">search this network</a>, or ask the host for the
room's join code, link or address and use <b>Join by address, link or code…</b>. Or host a
room yourself.</p>
<p><a href="check">Why can't I see the room?</a> checks this computer's network and says
what to try.</p>"""
"""Our own rich text, with no network text in it; its links: "search" and "check"."""


def room_note(room: DiscoveredRoom | None) -> str:
    """Why the selected room cannot be joined from here, or an empty string."""
    if room is None:
        return ""
    name = fenced(room.name)
    if room.protocol != PROTOCOL_VERSION:
        return (
            f"“{name}” needs a different version of GPT Group (protocol "
            f"{room.protocol or '?'}). Update the app that is older."
        )
    if room.fingerprint is None:
        return (
            f"“{name}” does not say which certificate it has, so the app cannot check that it "
            "is the host's room. Ask the host for the room link."
        )
    if room.locked:
        return (
            f"“{name}” is locked: its host is not letting anyone new in right now. Ask the host "
            "to unlock it, then try again."
        )
    return ""


def verification_text(code: str, metrics: QFontMetrics, width: int) -> str:
    """How a room card ``width`` pixels wide names its verification code: "verification code
    …" in half of it, else "verification …" in three fifths (the code matters more than the
    details beside it), else nothing (the tooltip and screen readers still have it). Never
    "code" alone, which reads as the room code of the badge above it."""
    for shown, share in ((f"verification code {code}", 1 / 2), (f"verification {code}", 3 / 5)):
        if metrics.horizontalAdvance(shown) <= width * share:
            return shown
    return ""


class RoomDelegate(QStyledItemDelegate):
    """A room as two lines: its name, badges and address, then host, people and assistant,
    with its verification code at the end; a third line, on a room listed with others of
    its name but another certificate, says so (:func:`namesake_note`).

    Every field comes from an announcement on the LAN: each is drawn as plain text, cut to
    fit, and direction-isolated from the words around it.
    """

    LINE_GAP = 6
    MARGIN = 3  # between the card and the row's edges, above and below
    PADDING = 8  # inside the card, above the first line and below the last

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        line = QFontMetrics(option.font).height()
        lines = 3 if self._namesakes(index) else 2
        height = lines * line + (lines - 1) * self.LINE_GAP + 2 * (self.MARGIN + self.PADDING)
        return QSize(option.rect.width(), height)

    @staticmethod
    def _namesakes(index: QModelIndex | QPersistentModelIndex) -> int:
        count = index.data(Roles.NAMESAKES)
        return count if isinstance(count, int) and count > 1 else 0

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        room = index.data(Roles.ROOM)
        if not isinstance(room, DiscoveredRoom):
            super().paint(painter, option, index)
            return
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        palette = option.palette
        rect = option.rect.adjusted(6, self.MARGIN, -6, -self.MARGIN)
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
        x, y = rect.left() + 12, rect.top() + self.PADDING
        right = rect.right() - 12
        # The address, right-aligned on the first line: it is what tells rooms apart.
        address = fenced(room_address(room))
        address_width = metrics.horizontalAdvance(address)
        painter.setFont(option.font)
        painter.setPen(muted)
        painter.drawText(right - address_width, y + 1 + metrics.ascent(), address)
        right -= address_width + 12
        bold = QFont(option.font)
        bold.setBold(True)
        bold.setPointSizeF(option.font.pointSizeF() + 1)
        painter.setFont(bold)
        painter.setPen(text)
        name_width = min(rect.width() // 2, right - x)
        name = elided(one_line(room.name[:TEXT_CHARS]), QFontMetrics(bold), name_width)
        painter.drawText(x, y + QFontMetrics(bold).ascent(), name)
        x += QFontMetrics(bold).horizontalAdvance(name) + 10
        for badge, colour in self._badges(room):
            width = metrics.horizontalAdvance(badge) + 12
            if x + width > right:
                break  # never over the address
            box = QRect(x, y + 1, width, metrics.height())
            if colour == QUIET_BADGE:  # how it was found: muted words on a faint tint
                tint = QColor(muted)
                tint.setAlpha(40)
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(tint)
                painter.drawRoundedRect(box, 5, 5)
                painter.setPen(muted)
            else:
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(QColor(colour))
                painter.drawRoundedRect(box, 5, 5)
                painter.setPen(QColor("white"))
            painter.setFont(option.font)
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, badge)
            x += width + 6
        painter.setFont(option.font)
        painter.setPen(muted)
        second = y + metrics.height() + self.LINE_GAP + metrics.ascent()
        right = rect.right() - 12
        code = room.verification_code
        shown = verification_text(code, metrics, rect.width()) if code else ""
        if shown:  # right-aligned, as the address above it: it tells rooms apart for sure
            code_width = metrics.horizontalAdvance(shown)
            painter.drawText(right - code_width, second, shown)
            right -= code_width + 16
        line = elided(room_line(room), metrics, right - (rect.left() + 12))
        painter.drawText(rect.left() + 12, second, line)
        count = self._namesakes(index)
        if count:
            painter.setPen(text)
            note = elided(f"⚠ {namesake_note(room, count)}", metrics, rect.width() - 24)
            third = second + metrics.height() + self.LINE_GAP
            painter.drawText(rect.left() + 12, third, note)
        painter.restore()

    @staticmethod
    def _badges(room: DiscoveredRoom) -> list[tuple[str, str]]:
        return room_badges(room)


def room_line(room: DiscoveredRoom) -> str:
    """A room card's second line: :func:`room_details`, after a word to compare the code
    for a room that only a search found (nothing announced it)."""
    details = room_details(room)
    if not found_only_by_search(room):
        return details
    return f"{SEARCHED_NOTE} · {details}" if details else SEARCHED_NOTE


Identity = tuple[str, bytes | None]

MAX_CERTIFICATES_PER_NAME = 4
"""Rooms (certificates) listed at once under one service name; beyond, the one heard of
least recently goes. Anyone can announce under any name, so this stays bounded."""


def identity(room: DiscoveredRoom) -> Identity:
    """What makes a listed room the room it is: its room id and its certificate."""
    return room.room_id, room.fingerprint


def list_key(service: str, fingerprint: bytes | None) -> str:
    """The list's key for the room under the service name ``service`` with the certificate
    ``fingerprint``, when another certificate was listed under that name first."""
    return f"{service}\0{fingerprint.hex() if fingerprint is not None else 'none'}"


@dataclass
class _Seen:
    room: DiscoveredRoom  # as listed: its key is the list's
    order: int  # when this room (this room id and certificate) was first seen: later is newer
    heard: int  # when its record was last heard of


class RoomFeed:
    """Turns the browser's events into the list's, so that the list holds real rooms only.

    * A room is its room id and its certificate: when the announcement under a key names
      another room id with the same certificate (its host restarted it), the old room leaves
      the list and the new one arrives (never an "update" of one into the other, which would
      keep a selection or a join pointing at a different room).
    * A record under a service name already listed that names *another certificate* never
      replaces the room listed: both are listed (under their own keys in the list: the
      service name for the first, :func:`list_key` for the others), so that a room announced
      under another's name is seen, with the namesake marking when their names match. Each
      is updated by the records that name its certificate, and all of them leave when the
      browser drops the service name. At most :data:`MAX_CERTIFICATES_PER_NAME` at once.
    * Only one room can answer at one address and port. When two announced rooms share
      one, the one first seen later is shown: a host that crashed and opened a new room on
      the same port left the old announcement behind, and the new room answers its checks.
    * :meth:`disown` hides a room found not to be what its announcement says (the main window
      checks before joining) until the browser drops or renews it.

    ``sink`` receives :class:`BrowserEvent` values for the list (``RoomListModel.apply``),
    whose rooms carry the list's keys.
    """

    def __init__(self, sink: Callable[[BrowserEvent], None]) -> None:
        self._sink = sink
        self._seen: dict[str, _Seen] = {}  # by list key
        self._names: dict[str, dict[bytes | None, str]] = {}  # service: certificate: list key
        self._shown: dict[str, DiscoveredRoom] = {}
        self._disowned: dict[str, Identity] = {}  # list key: the room found not to be there
        self._order = itertools.count()

    def apply(self, event: BrowserEvent) -> None:
        room = event.room
        if event.kind == "removed":
            for key in self._names.pop(room.key, {}).values():
                self._seen.pop(key, None)
                self._disowned.pop(key, None)
        else:
            self._heard(room)
        self._publish()

    def _heard(self, room: DiscoveredRoom) -> None:
        """Take in a record under ``room.key`` (a service name): the room with its
        certificate under that name, listed beside any other certificate's."""
        certificates = self._names.setdefault(room.key, {})
        key = certificates.get(room.fingerprint)
        if key is None:
            key = room.key if not certificates else list_key(room.key, room.fingerprint)
            certificates[room.fingerprint] = key
        room = replace(room, key=key)
        now = next(self._order)
        seen = self._seen.get(key)
        if seen is None or identity(seen.room) != identity(room):
            self._seen[key] = _Seen(room, now, now)
            self._disowned.pop(key, None)
        else:
            seen.room, seen.heard = room, now
        while len(certificates) > MAX_CERTIFICATES_PER_NAME:
            oldest = min(certificates, key=lambda fp: self._seen[certificates[fp]].heard)
            gone = certificates.pop(oldest)
            del self._seen[gone]
            self._disowned.pop(gone, None)

    def disown(self, room: DiscoveredRoom) -> None:
        """Hide ``room`` (as listed): something else answers where it was announced."""
        if room.key in self._seen:
            self._disowned[room.key] = identity(room)
            self._publish()

    def _wanted(self) -> dict[str, DiscoveredRoom]:
        """The rooms to list: per address and port, the newest room claiming it."""
        claimed: set[tuple[str, int]] = set()
        wanted: dict[str, DiscoveredRoom] = {}
        for key, seen in sorted(self._seen.items(), key=lambda item: -item[1].order):
            room = seen.room
            if self._disowned.get(key) == identity(room):
                continue
            endpoints = {(address, room.port) for address in room.addresses}
            if endpoints & claimed:
                continue
            claimed |= endpoints
            wanted[key] = room
        return wanted

    def _publish(self) -> None:
        wanted = self._wanted()
        for key, room in list(self._shown.items()):
            if key not in wanted or identity(wanted[key]) != identity(room):
                del self._shown[key]
                self._sink(BrowserEvent("removed", room))
        for key, room in wanted.items():
            shown = self._shown.get(key)
            if shown == room:
                continue
            self._shown[key] = room
            self._sink(BrowserEvent("added" if shown is None else "updated", room))


class LobbyPage(QWidget):
    """Signals say what the person chose; the main window does the joining and hosting.

    Enter on a selected room joins it, as a double click does. A room that cannot be joined
    (locked, or for another app version) says why under the list when selected, and Join
    stays off for it. :meth:`set_actions_enabled` switches the ways in off while the window
    is busy joining or hosting, leaving the list itself readable.

    **Search this network** (and :data:`SEARCH_KEY`) runs :attr:`search` over
    :attr:`scan_targets` (None: this computer's own subnets) at :attr:`scan_port`, shown in
    :attr:`search_strip`; whoever listens to ``search.found`` lists what answered. It never
    starts by itself, and it goes on while the window joins or hosts. **Why can't I see the
    room?** (beside it, and in the empty list's text) emits :attr:`network_check_requested`.
    """

    join_requested = Signal(object)  # a DiscoveredRoom
    join_by_address_requested = Signal()
    host_requested = Signal()
    about_requested = Signal()
    settings_requested = Signal()
    network_check_requested = Signal()

    def __init__(self, rooms: RoomListModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rooms = rooms
        self._actions_enabled = True
        self.scan_targets: list[str] | None = None
        self.scan_port = DEFAULT_PORT
        title = PlainLabel("GPT Group", name="appTitle")
        subtitle = PlainLabel(
            "Chat with an AI together, as a group, in one place.", name="hint", wrap=True
        )  # wraps in a narrow window rather than widen it
        self.about_button = QPushButton("About")
        self.about_button.setFlat(True)
        self.settings_button = QPushButton("Settings")
        self.settings_button.setFlat(True)
        self.settings_button.setToolTip("Settings (Ctrl+,)")
        top = QHBoxLayout()
        heading = QVBoxLayout()
        heading.addWidget(title)
        heading.addWidget(subtitle)
        top.addLayout(heading, 1)
        self.appearance_button = QPushButton("Appearance")
        self.appearance_button.setFlat(True)
        self.appearance_button.setMenu(theme.appearance_menu(self.appearance_button))
        top.addWidget(self.appearance_button, 0, Qt.AlignmentFlag.AlignTop)
        top.addWidget(self.settings_button, 0, Qt.AlignmentFlag.AlignTop)
        top.addWidget(self.about_button, 0, Qt.AlignmentFlag.AlignTop)

        self.list = QListView()
        self.list.setObjectName("rooms")
        self.list.setAccessibleName("Rooms on this network")
        self.list.setAccessibleDescription("Enter joins the room selected")
        self.list.setModel(rooms)
        self.delegate = RoomDelegate(self.list)
        self.list.setItemDelegate(self.delegate)
        self.list.setSpacing(2)
        self.list.setFrameShape(QListView.Shape.NoFrame)
        self.list.installEventFilter(self)
        # Our own rich text, with no network text in it (see desktop.labels).
        self.empty = QLabel()
        self.empty.setObjectName("emptyState")
        self.empty.setTextFormat(Qt.TextFormat.RichText)
        self.empty.setWordWrap(True)
        self.empty.setText(EMPTY_TEXT)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignTop)
        # Its links are for the mouse: the keyboard has the same two as buttons above it.
        self.empty.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse)
        empty_page = QWidget()
        empty_layout = QVBoxLayout(empty_page)
        empty_layout.setContentsMargins(0, 0, 0, 0)
        empty_layout.addWidget(self.empty)
        empty_layout.addStretch(1)
        self.stack = QStackedWidget()
        self.stack.addWidget(empty_page)
        self.stack.addWidget(self.list)
        self.room_note = PlainLabel(name="problem", wrap=True)
        self.room_note.hide()
        self.discovery_note = PlainLabel(name="hint", wrap=True)
        self.search = RoomSearch(self)
        self.search_strip = SearchStrip(self.search)
        self.search_button = QPushButton("Search this network")
        self.search_button.setToolTip(
            f"Look for rooms at every address of this network ({SEARCH_KEY}): for when a "
            "room does not show up by itself"
        )
        # As wide as its usual words while it says "Searching…": nothing beside it moves.
        self.search_button.setMinimumWidth(self.search_button.sizeHint().width())
        self.search_strip.focus_after = self.search_button
        self.search_shortcut = QShortcut(QKeySequence(SEARCH_KEY), self)
        self.search_shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.why_link = LinkLabel(WHY_CANT_I_SEE, "check")

        self.join_button = QPushButton("Join")
        self.join_button.setObjectName("primary")
        self.address_button = QPushButton("Join by address, link or code…")
        self.host_button = QPushButton("Host a room…")
        buttons = QHBoxLayout()
        buttons.addWidget(self.host_button)
        buttons.addStretch(1)
        buttons.addWidget(self.address_button)
        buttons.addWidget(self.join_button)

        section = PlainLabel("Rooms on this network", name="panelTitle")
        header = QHBoxLayout()
        header.addWidget(section, 1)
        header.addWidget(self.why_link, 0, Qt.AlignmentFlag.AlignVCenter)
        header.addSpacing(8)
        header.addWidget(self.search_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addSpacing(8)
        layout.addLayout(header)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.search_strip)
        layout.addWidget(self.room_note)
        layout.addWidget(self.discovery_note)
        layout.addLayout(buttons)
        self._connect_signals()
        self._update_buttons()

    def _connect_signals(self) -> None:
        self.about_button.clicked.connect(self.about_requested)
        self.settings_button.clicked.connect(self.settings_requested)
        self.address_button.clicked.connect(self.join_by_address_requested)
        self.host_button.clicked.connect(self.host_requested)
        self.join_button.clicked.connect(self.on_join_clicked)
        self.search_button.clicked.connect(self.on_search_clicked)
        self.search_shortcut.activated.connect(self.on_search_clicked)
        self.why_link.linkActivated.connect(self.on_link_activated)
        self.empty.linkActivated.connect(self.on_link_activated)
        self.search.started.connect(self._update_search_button)
        self.search.finished.connect(self._update_search_button)
        self.list.doubleClicked.connect(self.on_room_double_clicked)
        self.list.selectionModel().selectionChanged.connect(self._update_buttons)
        rooms = self.rooms
        for signal in (rooms.rowsInserted, rooms.rowsRemoved, rooms.modelReset, rooms.dataChanged):
            signal.connect(self._update_buttons)
        rooms.dataChanged.connect(self.on_rooms_changed)

    def on_rooms_changed(
        self, top_left: QModelIndex, _bottom_right: QModelIndex, roles: list[int]
    ) -> None:
        """A room's namesakes decide its height: the list lays it out again (a list view
        takes a changed height only from its delegate)."""
        if Roles.NAMESAKES in roles:
            self.delegate.sizeHintChanged.emit(top_left)

    def on_search_clicked(self) -> None:
        """Search this network, unless a search is running already."""
        self.search.start(port=self.scan_port, addresses=self.scan_targets)

    def on_link_activated(self, href: str) -> None:
        if href == "search":
            self.on_search_clicked()
        elif href == "check":
            self.network_check_requested.emit()

    def _update_search_button(self, *_: object) -> None:
        running = self.search.running
        self.search_button.setEnabled(not running)
        self.search_button.setText("Searching…" if running else "Search this network")

    def set_discovery_problem(self, text: str) -> None:
        self.discovery_note.setText(text)

    def set_actions_enabled(self, enabled: bool) -> None:
        """Allow joining and hosting (off while the window is already doing one)."""
        self._actions_enabled = enabled
        self.address_button.setEnabled(enabled)
        self.host_button.setEnabled(enabled)
        self._update_buttons()

    def selected_room(self) -> DiscoveredRoom | None:
        indexes = self.list.selectionModel().selectedIndexes()
        room = indexes[0].data(Roles.ROOM) if indexes else None
        return room if isinstance(room, DiscoveredRoom) else None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Enter on the room list joins the selected room."""
        # Qt may call this while the page is being built or torn down.
        if watched is getattr(self, "list", None) and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not event.modifiers():
                self.on_join_clicked()
                return True
        return super().eventFilter(watched, event)

    def _update_buttons(self, *_: object) -> None:
        self.stack.setCurrentIndex(1 if self.rooms.rowCount() else 0)
        room = self.selected_room()
        note = room_note(room)
        self.room_note.setText(note)
        self.room_note.setVisible(bool(note))
        self.join_button.setEnabled(self._actions_enabled and room is not None and not note)

    def on_join_clicked(self) -> None:
        room = self.selected_room()
        if room is not None and self.join_button.isEnabled():
            self.join_requested.emit(room)

    def on_room_double_clicked(self, index: QModelIndex) -> None:
        room = index.data(Roles.ROOM)
        if isinstance(room, DiscoveredRoom) and self._actions_enabled and not room_note(room):
            self.join_requested.emit(room)
