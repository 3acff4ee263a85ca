"""List models for the views: the transcript, the people in the room, the rooms on the LAN.

Each declares its roles once; inserts use ``beginInsertRows`` and edits emit ``dataChanged``
for the one row that changed (a streaming answer updates one row, not the view, at most once
per frame).

Display texts hold network text (names, room names) fenced off from our words
(:func:`desktop.network_text.fenced`); tooltips, which Qt reads as rich text when they look
like markup, are escaped (:func:`desktop.network_text.tooltip`).

What the lobby paints of a room is said here in words too (:func:`room_details`,
:func:`namesake_note`, :func:`room_badges`), so that the list's delegate draws and screen
readers read (``AccessibleTextRole``, ``AccessibleDescriptionRole``) the same things.

A shared file's row is drawn from a :class:`FileCard` (:func:`file_card`), made of its
transcript entry and what this app knows of it besides (:class:`desktop.file_preview.FileView`:
a download, a thumbnail, a save); its display text says the same in words, for screen readers.

Which long messages the reader unfolded ("Show more") is the transcript model's to keep
(:meth:`MessageListModel.set_expanded`, :data:`Roles.EXPANDED`); the view decides which rows
are long enough to fold.

A row's reactions, with ours marked (the transcript knows who we are), are
:data:`Roles.REACTIONS` (:func:`desktop.reactions.reactions_of`).
"""

from __future__ import annotations

import enum
import html
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QByteArray,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
)
from PySide6.QtGui import QImage

from core.address import host_port
from core.client import ClientEvent
from core.discovery import BrowserEvent, DiscoveredRoom
from core.protocol import PROTOCOL_VERSION, FileId
from core.text_rules import name_key
from core.transcript import Change, Entry, Transcript
from desktop.attachments import size_words, type_words
from desktop.file_preview import FileView
from desktop.network_text import FIELD_CHARS, TEXT_CHARS, fenced, one_line, tooltip
from desktop.reactions import reactions_of
from desktop.relative_time import exact_stamp
from desktop.verification import spoken

__all__ = [
    "FILE_ACTIONS",
    "FOUND_BY_SEARCH",
    "LOCKED_BADGE",
    "NO_CERTIFICATE",
    "QUIET_BADGE",
    "SEARCHED_NOTE",
    "VIA_BROADCAST",
    "FileCard",
    "MessageListModel",
    "Roles",
    "RoomListModel",
    "file_card",
    "found_by_badge",
    "found_only_by_search",
    "namesake_note",
    "room_address",
    "room_badges",
    "room_description",
    "room_details",
]

Index = QModelIndex | QPersistentModelIndex


AUTO_FETCH_IMAGE_BYTES = 20 * 1000 * 1000
"""Images of at most this size are fetched and shown as they arrive; larger ones on request."""


def hidden_note(size: int) -> str:
    """Why an image is not shown (yet): too large to load unasked, or many images shown."""
    if size > AUTO_FETCH_IMAGE_BYTES:
        return f"Large image ({size_words(size)}): loaded only when you ask."
    return "Hidden to keep memory free: many images are shown."


class Roles(enum.IntEnum):
    ENTRY = Qt.ItemDataRole.UserRole + 1  # the transcript Entry
    PARTICIPANT = Qt.ItemDataRole.UserRole + 2  # a ParticipantInfo
    ROOM = Qt.ItemDataRole.UserRole + 3  # a DiscoveredRoom
    NAMESAKES = Qt.ItemDataRole.UserRole + 4  # int: see RoomListModel.namesakes
    FILE_CARD = Qt.ItemDataRole.UserRole + 5  # a FileCard, for a shared file's row
    EXPANDED = Qt.ItemDataRole.UserRole + 6  # bool: a long message is shown whole
    REACTIONS = Qt.ItemDataRole.UserRole + 7  # tuple of desktop.reactions.Reaction


FILE_ACTIONS = {"save": "Save…", "cancel": "Cancel", "retry": "Try again", "show": "Show image"}
"""What a file row's buttons do, and what they say."""
PROGRAM_NOTE = "Program or script: it is never opened from here, only saved."
_TAGS = {"image": "IMG", "text": "TXT", "pdf": "PDF", "program": "EXE"}
RETRYABLE = frozenset({"too_many_transfers", "rate_limited", "file_corrupt"})
"""Why an upload failed when trying again later may work (the room was busy, or the bytes
were damaged on the way); the rest would fail again."""


@dataclass(frozen=True)
class FileCard:
    """What a shared file's row shows, beside its author and time.

    ``name`` is the file's safe name (plain text, fenced), ``details`` its size and type,
    ``tag`` a short word for its kind ("PDF"). ``notes`` are lines under it, each with its
    look: ``"problem"``, ``"warning"``, ``"note"`` or ``"badge"`` (sent to the assistant).
    ``progress`` is how much of a transfer is done (0 to 1) while one is under way; ``actions``
    are its buttons (keys of :data:`FILE_ACTIONS`), the first one what Enter does.
    """

    name: str
    details: str
    tag: str
    notes: tuple[tuple[str, str], ...] = ()
    progress: float | None = None
    actions: tuple[str, ...] = ()
    thumbnail: QImage | None = field(default=None, compare=False)

    def words(self, author: str) -> str:
        """All of it as one text, for screen readers and "Copy text"."""
        said = [f"{author} shared {self.name}, {self.details}"]
        said += [text for _look, text in self.notes]
        if self.progress is not None:
            said.append(f"{round(self.progress * 100)}% done")
        if self.actions:
            said.append("Actions: " + ", ".join(FILE_ACTIONS[a] for a in self.actions))
        return ". ".join(said) + "."


def file_card(entry: Entry, view: FileView | None, *, retry_kept: bool = False) -> FileCard:
    """The card of a file row: ``entry`` from the transcript, ``view`` what this app knows
    of the file besides (None: nothing yet). ``retry_kept``: this app still holds the bytes
    of a failed upload of ours, so it can offer to try again."""
    view = view or FileView()
    kind = entry.file_kind if entry.file_kind in _TAGS else "other"
    details = size_words(entry.size)
    if entry.file_kind:  # known once the room has looked at its contents
        details += f" · {type_words(kind, entry.mime)}"
    notes: list[tuple[str, str]] = []
    actions: list[str] = []
    progress: float | None = None
    if entry.pending:  # our upload, under way
        progress = entry.sent / entry.size if entry.size else 0.0
        notes.append(("note", f"Sending… {round(progress * 100)}%"))
        actions.append("cancel")
    elif entry.status in ("failed", "cancelled"):
        why = fenced(entry.error or "the room did not take it", TEXT_CHARS)
        notes.append(("problem", f"Not shared: {why}"))
        if retry_kept and entry.error_code in RETRYABLE:
            actions.append("retry")
    elif entry.file:
        if view.hidden:
            actions.append("show")
            notes.append(("note", hidden_note(entry.size)))
        actions.append("save")
        if view.received is not None:
            progress = view.received / entry.size if entry.size else 0.0
            verb = "Saving" if view.saving else "Loading"
            notes.append(("note", f"{verb}… {round(progress * 100)}%"))
    if kind == "program":
        notes.append(("warning", PROGRAM_NOTE))
    if view.problem:
        notes.append(("problem", view.problem))
    if view.saved:
        notes.append(("note", view.saved))
    if entry.sent_to:
        notes.append(("badge", f"Sent to {fenced(entry.sent_to, 2 * FIELD_CHARS)}"))
    elif entry.assistant and not entry.pending and entry.status == "":
        notes.append(("note", "Its sender lets the assistant read it."))
    return FileCard(
        name=fenced(entry.file_name, TEXT_CHARS), details=details, tag=_TAGS.get(kind, "FILE"),
        notes=tuple(notes), progress=progress, actions=tuple(actions), thumbnail=view.thumbnail,
    )  # fmt: skip


class MessageListModel(QAbstractListModel):
    """The transcript of one room, one row per :class:`core.transcript.Entry`, in the room's
    order (a confirmed message of ours moves to its place: ``rowsMoved``).

    A streaming answer changes many times a second; its ``dataChanged`` is sent at most once
    per frame (:data:`FRAME_MS`), so that views lay out and paint it once per frame however
    fast the text arrives: the first change after a quiet frame at once (a word that comes
    alone is not held back), later ones at the end of the frame, with what the row holds by
    then. Any other change to a row is sent at once (with that row's waiting update first),
    and :meth:`flush_updates` sends what waits now.

    A shared file's row also shows what this app knows of the file (:meth:`file_view`,
    changed with :meth:`update_file`), and :data:`Roles.FILE_CARD` gives its card.

    A long message is shown folded unless it is *expanded* (:meth:`is_expanded`,
    :meth:`set_expanded`, :data:`Roles.EXPANDED`): by the reader ("Show more"), by whoever
    must show a part of it (find in the chat), or because it is an answer that was written
    while this app watched, which stays whole when it ends (folding it then would take away
    what the reader was reading).
    """

    FRAME_MS = 16

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.transcript = Transcript()
        # The rows as announced to views: the transcript changes first and the model then
        # announces, and between begin and end views must still see the rows as they were.
        self._shown: list[Entry] = []
        self._waiting: dict[str, None] = {}  # keys of streaming rows changed since a frame
        self._frame = QTimer(self)
        self._frame.setSingleShot(True)
        self._frame.setInterval(self.FRAME_MS)
        self._frame.timeout.connect(self._frame_ended)
        self._files: dict[tuple[int, FileId], FileView] = {}  # by (epoch, file)
        self._file_rows: dict[tuple[int, FileId], str] = {}  # the row key of each file
        self.retry_kept: set[str] = set()  # our failed uploads' ids whose bytes are kept
        self._expanded: set[str] = set()  # keys of rows shown whole however long they are

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's API)
        return 0 if parent.isValid() else len(self._shown)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._shown):
            return None
        entry = self._shown[index.row()]
        if role == Roles.ENTRY:
            return entry
        if entry.kind == "file" and role in (Roles.FILE_CARD, Qt.ItemDataRole.DisplayRole):
            card = self.card(entry)
            return card if role == Roles.FILE_CARD else card.words(entry.author)
        if role == Qt.ItemDataRole.DisplayRole:
            return entry.text
        if role == Roles.EXPANDED:
            return entry.key in self._expanded
        if role == Roles.REACTIONS:
            return reactions_of(entry, self.transcript.me)
        if role == Qt.ItemDataRole.ToolTipRole:
            # Who, and exactly when (the row itself says "2 min ago"): the time is ours.
            return tooltip(entry.author) + f"<p>{html.escape(exact_stamp(entry.ts))}</p>"
        return None

    def roleNames(self) -> dict[int, QByteArray]:
        return {
            Roles.ENTRY: QByteArray(b"entry"),
            Qt.ItemDataRole.DisplayRole: QByteArray(b"display"),
        }

    def entry(self, row: int) -> Entry:
        return self._shown[row]

    def is_expanded(self, key: str) -> bool:
        """Whether the row with ``key`` is shown whole however long it is."""
        return key in self._expanded

    def set_expanded(self, key: str, expanded: bool = True) -> bool:
        """Show the row with ``key`` whole (``expanded``) or folded if it is long; its
        ``dataChanged`` names :data:`Roles.EXPANDED`. False when there is no such row."""
        row = self.transcript.index_of(key)
        if row is None:
            return False
        if expanded != (key in self._expanded):
            if expanded:
                self._expanded.add(key)
            else:
                self._expanded.discard(key)
            index = self.index(row)
            self.dataChanged.emit(index, index, [Roles.EXPANDED])
        return True

    def card(self, entry: Entry) -> FileCard:
        """The card of a file row (see :func:`file_card`)."""
        view = self._files.get((self.transcript.epoch, entry.file)) if entry.file else None
        kept = bool(entry.upload_id) and entry.upload_id in self.retry_kept
        return file_card(entry, view, retry_kept=kept)

    def file_view(self, file: FileId) -> FileView:
        """What this app knows of ``file`` in the room as it is now (empty at first)."""
        return self._files.get((self.transcript.epoch, file)) or FileView()

    def update_file(self, file: FileId, **changes: Any) -> None:
        """Change what this app knows of ``file`` (fields of :class:`FileView`), and redraw
        its row."""
        key = (self.transcript.epoch, file)
        view = self._files.setdefault(key, FileView())
        for name, value in changes.items():
            setattr(view, name, value)
        self.touch_file(file)

    def touch_file(self, file: FileId) -> None:
        """Redraw ``file``'s row (its card changed)."""
        row_key = self._file_rows.get((self.transcript.epoch, file))
        row = self.transcript.index_of(row_key) if row_key is not None else None
        if row is None:
            return
        self._shown[row].version += 1  # views cache rows by version
        self._changed(row)

    def touch_upload(self, upload: str) -> None:
        """Redraw the row of our upload ``upload`` (whether it can be tried again changed)."""
        for row, entry in enumerate(self._shown):
            if entry.kind == "file" and entry.upload_id == upload:
                entry.version += 1
                self._changed(row)

    def apply(self, event: ClientEvent) -> None:
        self._show(self.transcript.apply(event))

    def interrupt_streaming(self, error: str) -> None:
        """Mark answers still being written as cut off (see
        :meth:`core.transcript.Transcript.interrupt_streaming`)."""
        self._show(self.transcript.interrupt_streaming(error))

    def flush_updates(self) -> None:
        """Send the streaming rows' waiting ``dataChanged`` now."""
        self._frame.stop()
        waiting, self._waiting = self._waiting, {}
        for key in waiting:
            row = self.transcript.index_of(key)
            if row is not None:
                self._changed(row)

    def _frame_ended(self) -> None:
        """Send what changed during the frame; another frame follows only if anything did."""
        if self._waiting:
            self.flush_updates()
            self._frame.start()

    def _show(self, changes: list[Change]) -> None:
        for change in changes:
            if change.kind != "move":
                entry = self.transcript.entries[change.index]
                self._remember_file(entry)
                if entry.kind == "answer" and entry.status == "streaming":
                    self._expanded.add(entry.key)  # written while we watch: stays whole
            if change.kind == "insert":
                self.beginInsertRows(QModelIndex(), change.index, change.index)
                self._shown.insert(change.index, self.transcript.entries[change.index])
                self.endInsertRows()
            elif change.kind == "move":
                # Qt names the destination as a row of the list before the move.
                to = change.to + 1 if change.to > change.index else change.to
                self.beginMoveRows(QModelIndex(), change.index, change.index, QModelIndex(), to)
                self._shown.insert(change.to, self._shown.pop(change.index))
                self.endMoveRows()
            else:
                entry = self._shown[change.index]
                if entry.kind == "answer" and entry.status == "streaming":
                    if self._frame.isActive():
                        self._waiting[entry.key] = None  # sent when this frame ends
                    else:
                        self._changed(change.index)
                        self._frame.start()
                else:
                    self._waiting.pop(entry.key, None)  # this update carries it
                    self._changed(change.index)

    def _remember_file(self, entry: Entry) -> None:
        if entry.kind == "file" and entry.file:
            self._file_rows[(self.transcript.epoch, entry.file)] = entry.key

    def _changed(self, row: int) -> None:
        index = self.index(row)
        self.dataChanged.emit(index, index, [Roles.ENTRY, Qt.ItemDataRole.DisplayRole])


LOCKED_BADGE = ("locked", "#8d4e00")
NO_CERTIFICATE = "announces no certificate"


def room_address(room: DiscoveredRoom) -> str:
    """Where the room answers, as ``host:port``: what tells apart two rooms of the same name
    and host name, and what to type in "Join by address" elsewhere."""
    return host_port(room.reachable or room.addresses[0], room.port)


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
    if room.protocol != PROTOCOL_VERSION:
        details.append(f"needs a different app version (protocol {room.protocol or '?'})")
    elif room.fingerprint is None:
        details.append(NO_CERTIFICATE)
    return " · ".join(details)


def namesake_note(room: DiscoveredRoom, count: int) -> str:
    """What marks a room listed with others of the same name but another certificate."""
    return f"{count} rooms called “{fenced(room.name)}”: compare the code with the host"


QUIET_BADGE = ""
"""The colour of a quiet badge: drawn in the row's muted text colour on a faint tint of it
(how a room was found: worth knowing, not a warning)."""
FOUND_BY_SEARCH = "found by search"
VIA_BROADCAST = "via broadcast"
SEARCHED_NOTE = "not announced: compare its verification code with the host's"


def found_only_by_search(room: DiscoveredRoom) -> bool:
    """Whether nothing announced ``room``: a search of the network found it, and its
    certificate was learnt from the room itself (so people compare its code with the host's,
    as for a typed address)."""
    return room.found_by == ("scan",)


def found_by_badge(room: DiscoveredRoom) -> str:
    """How a room was found, when not by its mDNS announcement (the usual way): "via
    broadcast" (its beacon), "found by search"; else an empty string."""
    if not room.found_by or "mdns" in room.found_by:
        return ""
    return VIA_BROADCAST if "broadcast" in room.found_by else FOUND_BY_SEARCH


def room_badges(room: DiscoveredRoom) -> list[tuple[str, str]]:
    """The badges after a room's name: each its word and its colour (under white text), or
    :data:`QUIET_BADGE` for how the room was found, last (:func:`found_by_badge`)."""
    badges = []
    if room.locked:
        badges.append(LOCKED_BADGE)
    if room.password_required:
        badges.append(("room code", "#6b7580"))
    if room.assistant_kind == "cloud":
        badges.append(("cloud AI", "#3867d6"))
    elif room.assistant_kind == "local":
        badges.append(("local AI", "#11818c"))
    if room.own:
        badges.append(("yours", "#8a5700"))  # 6.1:1 under white text
    if room.protocol != PROTOCOL_VERSION:
        badges.append(("incompatible", "#c62828"))
    elif room.fingerprint is None:
        badges.append(("unverifiable", "#c62828"))
    if found := found_by_badge(room):
        badges.append((found, QUIET_BADGE))
    return badges


def room_description(room: DiscoveredRoom, namesakes: int = 0) -> str:
    """Everything the lobby paints of a room but its name, as one text for screen readers:
    badges (how it was found among them), the word to compare the code of a room only a
    search found, second line, address, verification code (digit by digit), and the namesake
    warning when ``namesakes`` (rooms under its name, this one included) is more than one."""
    parts = [", ".join(word for word, _ in room_badges(room)),
             SEARCHED_NOTE if found_only_by_search(room) else "", room_details(room),
             f"at {room_address(room)}"]  # fmt: skip
    code = room.verification_code
    if code:
        parts.append(f"verification code {spoken(code)}")
    if namesakes > 1:
        parts.append(f"warning: {namesake_note(room, namesakes)}")
    return "; ".join(part for part in parts if part)


class RoomListModel(QAbstractListModel):
    """The rooms on the LAN, kept current from :class:`core.discovery.RoomBrowser` events,
    sorted by name.

    Anyone can announce a room under any name, so a name says nothing about whose room it
    is; its certificate does. :meth:`namesakes` (role :attr:`Roles.NAMESAKES`) counts the
    rooms listed under a name that reads the same (:func:`core.text_rules.name_key`: case and
    look-alike letters aside) with different certificates, for the list to say so on each of
    them. When that count changes for a row already listed, the row's ``dataChanged`` names
    :attr:`Roles.NAMESAKES` (its height may change with it). A room's name key is worked out
    once per name it announces, not at every event of the browser.

    Screen readers get the room's name (``AccessibleTextRole``) and all the row says besides
    (``AccessibleDescriptionRole``, :func:`room_description`).
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rooms: list[DiscoveredRoom] = []
        self._namesakes: dict[str, int] = {}  # by room key; rooms alone under a name: absent
        self._name_keys: dict[str, tuple[str, str]] = {}  # by room key: its name, name_key()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rooms)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rooms):
            return None
        room = self._rooms[index.row()]
        if role == Roles.ROOM:
            return room
        if role == Roles.NAMESAKES:
            return self._namesakes.get(room.key, 0)
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole):
            return one_line(room.name)
        if role == Qt.ItemDataRole.AccessibleDescriptionRole:
            return room_description(room, self._namesakes.get(room.key, 0))
        if role == Qt.ItemDataRole.ToolTipRole:
            code = room.verification_code
            # Our own paragraphs after the escaped name: digits and our words only.
            found = (
                "<p>Found by searching this network: nothing announced it, so compare its "
                "verification code with the host's before joining.</p>"
                if found_only_by_search(room)
                else ""
            )
            return tooltip(room.name) + (f"<p>Verification code {code}</p>" if code else "") + found
        return None

    def room(self, row: int) -> DiscoveredRoom:
        return self._rooms[row]

    def namesakes(self, row: int) -> int:
        """How many rooms with different certificates are listed under a name that reads as
        this row's (this one included); 0 when there is only this one."""
        return self._namesakes.get(self._rooms[row].key, 0)

    def namesakes_of(self, room: DiscoveredRoom) -> int:
        """As :meth:`namesakes`, for the listed room with ``room``'s key (0 if not listed)."""
        return self._namesakes.get(room.key, 0)

    def apply(self, event: BrowserEvent) -> None:
        self._apply(event)
        self._count_namesakes()

    def _apply(self, event: BrowserEvent) -> None:
        keys = [r.key for r in self._rooms]
        room = event.room
        if event.kind == "removed":
            if room.key in keys:
                row = keys.index(room.key)
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._rooms[row]
                self.endRemoveRows()
                self._name_keys.pop(room.key, None)
            return
        if room.key in keys:
            row = keys.index(room.key)
            self._rooms[row] = room
            index = self.index(row)
            self.dataChanged.emit(index, index)
            return
        row = sum(
            1 for r in self._rooms if (r.name.casefold(), r.key) < (room.name.casefold(), room.key)
        )
        self.beginInsertRows(QModelIndex(), row, row)
        self._rooms.insert(row, room)
        self.endInsertRows()

    def _name_key(self, room: DiscoveredRoom) -> str:
        """``name_key(room.name)``, worked out again only when the room's name changes."""
        cached = self._name_keys.get(room.key)
        if cached is None or cached[0] != room.name:
            cached = self._name_keys[room.key] = (room.name, name_key(room.name))
        return cached[1]

    def _count_namesakes(self) -> None:
        certificates: dict[str, set[object]] = {}
        keys = [self._name_key(room) for room in self._rooms]
        for room, key in zip(self._rooms, keys, strict=True):
            # A room that names no certificate is one of its own.
            identity = room.fingerprint if room.fingerprint is not None else ("none", room.key)
            certificates.setdefault(key, set()).add(identity)
        counts = {}
        for room, key in zip(self._rooms, keys, strict=True):
            count = len(certificates[key])
            if count > 1:
                counts[room.key] = count
        old, self._namesakes = self._namesakes, counts
        for row, room in enumerate(self._rooms):
            if old.get(room.key, 0) != counts.get(room.key, 0):
                index = self.index(row)
                self.dataChanged.emit(index, index, [Roles.NAMESAKES])
