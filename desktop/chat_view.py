"""The chat's transcript view: it follows new messages, and leaves a reader who scrolled up
where they are.

:class:`ChatView` is a ``QListView`` of a :class:`desktop.models.MessageListModel`, drawn by
:class:`desktop.delegate.MessageDelegate`. Its contract:

* At the bottom, it *follows*: a new message, your own included, and a streaming answer's
  growth keep the newest line in view, at any length of conversation.
* Scrolled up, it stays exactly where the reader is, and a floating "N new messages" button
  (reachable with Tab) counts what arrived below; it, Ctrl+End,
  :meth:`ChatView.jump_to_latest`, or scrolling back to the bottom follows again. Sending a
  message jumps to the latest.
* Joining (a model reset, or the history arriving row by row) lands at the latest message.
* Right-click (or the menu key) offers "Copy text", and "Copy code" for the code block under
  the pointer (every code block, from the keyboard), and "Copy link address" on a link. On a
  shared file it offers the file's actions ("Save…", "Cancel", "Try again") and "Copy file
  name"; Enter on a file's row does its first action. Each is :attr:`ChatView.file_action`,
  as a click on the card's button is.
* Given :attr:`ChatView.offers_for` (the chat page's, :mod:`desktop.message_rights`), the
  menu of a message, an answer or a file starts with what the person may do to it: Reply,
  Ask about this, React ▸ (a few emoji, and "Other emoji…"), Go to the original, Edit,
  Delete…; each choice is :attr:`ChatView.message_action` (the row's key, the action, and
  the emoji for a reaction), as are a click on a reply's quote (``original``), on a reaction
  chip (``react``) and the emoji chosen from the "+" chip's menu. :meth:`ChatView.flash`
  scrolls to a row and highlights it for a moment (the original of a reply).
* Rows are selected with the mouse (Shift and Ctrl add to it) or the arrows (Shift+arrows
  for several); Ctrl+C copies the selected message's text, or, for several, one line each:
  "Name (14:05): text" (:meth:`ChatView.selected_text`); the menu offers the same.
* A long message is folded ("Show more", see :mod:`desktop.delegate`); the chip, Enter or
  Space on the row, or the menu unfolds it and folds it again, keeping its top where it was.
  :meth:`ChatView.reveal` unfolds a row and scrolls to it (for find in the chat).
* Each row says how long ago it was written; one timer, aligned to the clock's
  :data:`desktop.relative_time.TICK_SECONDS`, repaints the rows in view whose words changed
  (:meth:`ChatView.refresh_times`).
* Alt+Up and Alt+Down select the previous and the next message (not the "joined" lines) and
  scroll to it (:meth:`ChatView.move_to_message`; the chat page has them from the message box
  too).
* Screen readers: each row's accessible text says who wrote what (``AccessibleTextRole``), its
  description when and in what state (``AccessibleDescriptionRole``). Messages, files and the
  room's notices that arrive, and answers once finished (never each word of one being
  written), are announced (:meth:`ChatView.announce`: Qt's announcement event, polite);
  neither what we wrote ourselves nor the history replayed on joining
  (:meth:`ChatView.quiet_until`).

Qt's list view lays every row out again on each change, asking the delegate for each row's
height; in batches (``Batched``) it jumped back to the first batch's end on every message.
Here it lays out in one pass, from heights the delegate caches, and it sees only a window of
the transcript (:class:`TranscriptWindow`): the latest :data:`ChatView.WINDOW` rows while the
reader follows, growing a page at a time when the reader scrolls up to its first row. A
long conversation then costs no more than a short one. The view takes the transcript's own
indexes too (``visualRect``, ``scrollTo``), so callers need not know about the window.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QAbstractListModel,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QRect,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QAccessible,
    QAccessibleAnnouncementEvent,
    QAction,
    QContextMenuEvent,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
    QResizeEvent,
)
from PySide6.QtWidgets import QAbstractItemView, QFrame, QListView, QMenu, QPushButton, QWidget

from core.transcript import Entry
from desktop.delegate import DELETED_WORDS, MessageDelegate, footer_text
from desktop.message_rights import Offer
from desktop.models import FILE_ACTIONS, FileCard, MessageListModel, Roles
from desktop.network_text import fenced, one_line, shorten
from desktop.reactions import QUICK_REACTIONS, Reaction, spoken_reactions
from desktop.relative_time import clock_stamp, exact_stamp, relative_stamp, until_next_tick

__all__ = ["ChatView", "TranscriptWindow", "arrival_words", "spoken_details", "spoken_row"]

Index = QModelIndex | QPersistentModelIndex

_COUNTED = ("message", "answer", "notice")  # rows that count as new messages
_STOPS = ("message", "answer", "notice", "file")  # rows Alt+Up and Alt+Down move between
_FINISHED = ("complete", "stopped", "failed")  # an answer's states worth announcing
ANNOUNCED_CHARS = 300
"""Characters of a message or an answer read out when it arrives (the row has it all)."""
FLASH_MS = 1500
"""How long a row the reader was taken to stays highlighted."""


class TranscriptWindow(QAbstractListModel):
    """The rows of a :class:`MessageListModel` from :attr:`first` on, as a model of their
    own: what the chat view lays out. It passes the transcript's changes on (rows before
    :attr:`first` only move the window), and :meth:`move_start` grows or shrinks it at the
    top."""

    def __init__(self, source: MessageListModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.source = source
        self.first = 0
        self._moving = ""  # how a move of the transcript's rows is passed on
        self._removing = False  # rows of the window are being removed
        self._connect_signals()

    def _connect_signals(self) -> None:
        s = self.source
        s.rowsAboutToBeInserted.connect(self.on_rows_about_to_be_inserted)
        s.rowsInserted.connect(self.on_rows_inserted)
        s.rowsAboutToBeRemoved.connect(self.on_rows_about_to_be_removed)
        s.rowsRemoved.connect(self.on_rows_removed)
        s.rowsAboutToBeMoved.connect(self.on_rows_about_to_be_moved)
        s.rowsMoved.connect(self.on_rows_moved)
        s.dataChanged.connect(self.on_data_changed)
        s.modelAboutToBeReset.connect(self.beginResetModel)
        s.modelReset.connect(self.on_model_reset)
        s.layoutAboutToBeChanged.connect(self.beginResetModel)
        s.layoutChanged.connect(self.on_model_reset)

    # ----------------------------------------------------------------- the model

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's API)
        return 0 if parent.isValid() else max(0, self.source.rowCount() - self.first)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        source = self.source.index(index.row() + self.first)
        if role in (Qt.ItemDataRole.AccessibleTextRole, Qt.ItemDataRole.AccessibleDescriptionRole):
            entry = self.source.data(source, Roles.ENTRY)
            if isinstance(entry, Entry):
                if role == Qt.ItemDataRole.AccessibleTextRole:
                    return spoken_row(entry, self.source.data(source))
                return spoken_details(entry, self.source.data(source, Roles.REACTIONS) or ())
        return self.source.data(source, role)

    def entry(self, row: int) -> Entry:
        """The entry of window row ``row`` (a negative row is before the window)."""
        return self.source.entry(row + self.first)

    def is_expanded(self, key: str) -> bool:
        """See :meth:`MessageListModel.is_expanded`."""
        return self.source.is_expanded(key)

    def to_source(self, index: Index) -> QModelIndex:
        return self.source.index(index.row() + self.first) if index.isValid() else QModelIndex()

    def from_source(self, index: Index) -> QModelIndex:
        if not index.isValid() or index.row() < self.first:
            return QModelIndex()
        return self.index(index.row() - self.first)

    def move_start(self, first: int) -> None:
        """Start the window at source row ``first``: earlier rows leave it, later ones join."""
        first = max(0, min(first, self.source.rowCount()))
        if first > self.first:
            self.beginRemoveRows(QModelIndex(), 0, first - self.first - 1)
            self.first = first
            self.endRemoveRows()
        elif first < self.first:
            self.beginInsertRows(QModelIndex(), 0, self.first - first - 1)
            self.first = first
            self.endInsertRows()

    # ----------------------------------------------------------------- passing changes on

    def on_rows_about_to_be_inserted(self, _parent: QModelIndex, start: int, end: int) -> None:
        if start >= self.first:
            self.beginInsertRows(QModelIndex(), start - self.first, end - self.first)

    def on_rows_inserted(self, _parent: QModelIndex, start: int, end: int) -> None:
        if start >= self.first:
            self.endInsertRows()
        else:  # before the window: its rows are the same, one place further
            self.first += end - start + 1

    def on_rows_about_to_be_removed(self, _parent: QModelIndex, start: int, end: int) -> None:
        self._removing = end >= self.first
        if self._removing:
            low = max(start, self.first)
            self.beginRemoveRows(QModelIndex(), low - self.first, end - self.first)

    def on_rows_removed(self, _parent: QModelIndex, start: int, end: int) -> None:
        if self._removing:
            self.endRemoveRows()
        if end < self.first:
            self.first -= end - start + 1
        elif start < self.first:
            self.first = start

    def on_rows_about_to_be_moved(
        self, _parent: QModelIndex, start: int, end: int, _dest_parent: QModelIndex, dest: int
    ) -> None:
        if start >= self.first and dest >= self.first:  # within the window
            self._moving = "move"
            self.beginMoveRows(QModelIndex(), start - self.first, end - self.first,
                               QModelIndex(), dest - self.first)  # fmt: skip
        elif start < self.first and dest < self.first:  # before it: nothing to say
            self._moving = "none"
        else:  # across its start: a message of ours confirmed after more than a window of
            self._moving = "reset"  # others' arrived while it waited; rare: start again
            self.beginResetModel()

    def on_rows_moved(self, *_: object) -> None:
        moving, self._moving = self._moving, ""
        if moving == "move":
            self.endMoveRows()
        elif moving == "reset":
            self.endResetModel()

    def on_data_changed(self, top_left: QModelIndex, bottom_right: QModelIndex,
                        roles: Sequence[int] = ()) -> None:  # fmt: skip
        if bottom_right.row() < self.first:
            return
        top = self.index(max(0, top_left.row() - self.first))
        self.dataChanged.emit(top, self.index(bottom_right.row() - self.first), list(roles))

    def on_model_reset(self) -> None:
        self.first = 0
        self.endResetModel()


class ChatView(QListView):
    """See the module docstring. Emits :attr:`unseen_changed` with the number of messages
    that arrived below a reader who scrolled up (0 once they are seen),
    :attr:`file_action` (the row's entry key and the action) for a shared file's row,
    :attr:`message_action` (the row's key, the action of an :class:`Offer`, and an emoji
    for ``react``) for what is done to a message, and :attr:`announced` with each text
    given to screen readers (:meth:`announce`). ``clock`` gives the time now (seconds since
    the epoch) for the rows' "2 min ago"."""

    unseen_changed = Signal(int)
    file_action = Signal(str, str)
    message_action = Signal(str, str, str)
    announced = Signal(str)

    SLACK = 4
    """Pixels from the bottom that still count as at the bottom (rounding, a stray pixel)."""
    WINDOW = 150
    """Rows laid out while following; earlier ones join when the reader scrolls up."""
    MORE = 100
    """Earlier rows that join at a time when the reader scrolls up to the first one."""

    def __init__(
        self, parent: QWidget | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        super().__init__(parent)
        self.window_model: TranscriptWindow | None = None  # before anything can call back
        self.setObjectName("messages")
        self.clock = clock
        self.setItemDelegate(MessageDelegate(self, clock))
        self.setVerticalScrollMode(QListView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setLayoutMode(QListView.LayoutMode.SinglePass)
        self.setResizeMode(QListView.ResizeMode.Adjust)  # rows wrap again at a new width
        self.setUniformItemSizes(False)
        self.setSelectionMode(QListView.SelectionMode.ExtendedSelection)
        self.setWordWrap(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.DefaultContextMenu)
        self._following = True
        self._pinning = 0  # the view moves itself (maybe while moving): not the reader
        self._growing = False  # the window grows at the top: not new messages
        self._unseen = 0
        self._announced_source: MessageListModel | None = None  # whose rows are announced
        self._quiet: tuple[int, int] | None = None  # (epoch, seq): history up to there
        self._streaming: set[str] = set()  # keys of answers seen being written
        self.offers_for: Callable[[Entry], Sequence[Offer]] | None = None  # see the module
        self._flash = QTimer(self)
        self._flash.setSingleShot(True)
        self._flash.setInterval(FLASH_MS)
        self.setAccessibleName("Messages")
        self.setAccessibleDescription(
            "The conversation. Alt+Up and Alt+Down move between messages; Ctrl+C copies the "
            "selected ones; the menu key offers more."
        )
        self.jump_button = QPushButton(self)
        self.jump_button.setObjectName("jumpToLatest")
        self.jump_button.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.jump_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.jump_button.setToolTip("Show the latest message (Ctrl+End)")
        self.jump_button.hide()
        QWidget.setTabOrder(self, self.jump_button)
        self._jump_action = QAction("Show the latest message", self)
        self._jump_action.setShortcut(QKeySequence("Ctrl+End"))
        self._jump_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.addAction(self._jump_action)
        self.times_timer = QTimer(self)  # one for every row: see refresh_times
        self.times_timer.setSingleShot(True)  # set again for each tick, aligned to the clock
        self.times_timer.setTimerType(Qt.TimerType.CoarseTimer)
        self._times_at = clock()  # the time the rows' stamps were last brought up to date
        self._connect_signals()
        self.times_timer.start(math.ceil(until_next_tick(self._times_at) * 1000))

    def _connect_signals(self) -> None:
        bar = self.verticalScrollBar()
        bar.rangeChanged.connect(self.on_range_changed)
        bar.valueChanged.connect(self.on_scrolled)
        self.jump_button.clicked.connect(self.jump_to_latest)
        self._jump_action.triggered.connect(self.jump_to_latest)
        delegate = self.itemDelegate()
        assert isinstance(delegate, MessageDelegate)
        delegate.file_action.connect(self.file_action)
        delegate.fold_toggled.connect(self.on_fold_toggled)
        delegate.quote_clicked.connect(self.on_quote_clicked)
        delegate.reaction_clicked.connect(self.on_reaction_clicked)
        self._flash.timeout.connect(self.on_flash_ended)
        self.times_timer.timeout.connect(self.refresh_times)

    # ----------------------------------------------------------------- public

    @property
    def following(self) -> bool:
        """Whether the view keeps the latest message in view."""
        return self._following

    @property
    def unseen(self) -> int:
        """Messages that arrived below since the reader scrolled up."""
        return self._unseen

    @property
    def first_shown(self) -> int:
        """The transcript row the view's window starts at (earlier rows join it when the
        reader scrolls up to its top)."""
        return self.window_model.first if self.window_model is not None else 0

    def jump_to_latest(self) -> None:
        """Show the latest message and follow again."""
        self._following = True
        self._set_unseen(0)
        self._shrink_window()
        self._pin()

    def selected_text(self) -> str:
        """What Ctrl+C copies: the text of the selected row (of the current one when none
        is), or for several, one "Name (14:05): text" line each, in the order of the
        transcript. "" when there is nothing to copy."""
        indexes = sorted(self.selectedIndexes(), key=lambda index: index.row())
        if not indexes and self.currentIndex().isValid():
            indexes = [self.currentIndex()]
        entries = [e for e in (i.data(Roles.ENTRY) for i in indexes) if isinstance(e, Entry)]
        if len(entries) == 1:
            return _copied_text(entries[0])
        now = self.clock()
        return "\n".join(_copied_line(entry, now) for entry in entries)

    def copy_selection(self) -> bool:
        """Put :meth:`selected_text` on the clipboard; False when there is nothing."""
        text = self.selected_text()
        if text:
            QGuiApplication.clipboard().setText(text)
        return bool(text)

    def set_expanded(self, index: Index, expanded: bool = True) -> bool:
        """Show the long message at ``index`` (of the window or of the transcript) whole, or
        folded again, keeping its top where it is in the view (at the top of the view when
        it was above it), so that the reader does not lose their place. False when ``index``
        is no row of the transcript."""
        model = self.source_model()
        entry = index.data(Roles.ENTRY) if index.isValid() else None
        if not isinstance(model, MessageListModel) or not isinstance(entry, Entry):
            return False
        shown = QPersistentModelIndex(self._shown(index))
        before = super().visualRect(shown).top() if shown.isValid() else 0
        bar = self.verticalScrollBar()
        self._following = False  # for now: not pinned to the bottom while the row changes
        self._pinning += 1
        try:
            model.set_expanded(entry.key, expanded)
            self.executeDelayedItemsLayout()
            if shown.isValid() and before >= 0:
                bar.setValue(bar.value() + super().visualRect(shown).top() - before)
            elif shown.isValid():
                super().scrollTo(shown, QAbstractItemView.ScrollHint.PositionAtTop)
        finally:
            self._pinning -= 1
        self.on_scrolled(bar.value())  # following again if the bottom is in view
        return True

    def reveal(self, index: Index) -> bool:
        """Unfold the row at ``index`` (of the window or of the transcript) if it is long,
        and scroll it into view: its top, when it is taller than the view. For find in the
        chat, whose match may be in what the fold hides. False when there is no such row."""
        if not self.set_expanded(index, True):
            return False
        hint = QAbstractItemView.ScrollHint
        self.scrollTo(index, hint.EnsureVisible)  # into the window, if it was before it
        if self.visualRect(index).height() > self.viewport().height():
            self.scrollTo(index, hint.PositionAtTop)
        return True

    @property
    def flashed_key(self) -> str:
        """The key of the row highlighted now ("" for none)."""
        delegate = self.itemDelegate()
        return delegate.flashed if isinstance(delegate, MessageDelegate) else ""

    def flash(self, index: Index) -> bool:
        """Scroll to the row at ``index`` (of the window or of the transcript), select it and
        highlight it for :data:`FLASH_MS`: where a reply's original is. False when there is
        no such row."""
        entry = index.data(Roles.ENTRY) if index.isValid() else None
        delegate = self.itemDelegate()
        if not isinstance(entry, Entry) or not isinstance(delegate, MessageDelegate):
            return False
        self.on_flash_ended()  # another row may be lit
        hint = QAbstractItemView.ScrollHint
        self.scrollTo(index, hint.EnsureVisible)  # into the window, if it was before it
        shown = self.select(index)
        tall = self.visualRect(index).height() > self.viewport().height()
        self.scrollTo(index, hint.PositionAtTop if tall else hint.PositionAtCenter)
        self.on_scrolled(self.verticalScrollBar().value())  # following only at the bottom
        delegate.flashed = entry.key
        self.viewport().update(self.visualRect(shown))
        self._flash.start()
        return True

    def on_flash_ended(self) -> None:
        delegate = self.itemDelegate()
        if isinstance(delegate, MessageDelegate) and delegate.flashed:
            delegate.flashed = ""
            self.viewport().update()

    def on_quote_clicked(self, key: str) -> None:
        self.message_action.emit(key, "original", "")

    def on_reaction_clicked(self, key: str, emoji: str) -> None:
        """A reaction chip toggles ours; the "+" chip offers the reactions' menu under it."""
        if emoji:
            self.message_action.emit(key, "react", emoji)
            return
        model = self.source_model()
        row = model.transcript.index_of(key) if isinstance(model, MessageListModel) else None
        if not isinstance(model, MessageListModel) or row is None:
            return
        index = model.index(row)
        delegate = self.itemDelegate()
        assert isinstance(delegate, MessageDelegate)
        layout = delegate.layout_of(self, self._shown(index))
        if layout is None or not layout.add_reaction.isValid():
            return
        menu = self.reaction_menu(model.entry(row), index.data(Roles.REACTIONS) or ())
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.popup(self.viewport().mapToGlobal(layout.add_reaction.bottomLeft()))

    def select(self, index: Index) -> QModelIndex:
        """Make the row at ``index`` (of the window or of the transcript; in the window) the
        current one and the only one selected. Its index in the window."""
        shown = self.window_index(index)
        self.selectionModel().setCurrentIndex(
            shown, self.selectionModel().SelectionFlag.ClearAndSelect
        )
        return shown

    def window_index(self, index: Index) -> QModelIndex:
        """``index`` of the transcript as an index of the window the view shows (invalid
        for a row before it); an index of the window as it is."""
        shown = self._shown(index)
        if isinstance(shown, QModelIndex):
            return shown
        model = self.model()
        return model.index(shown.row(), 0) if shown.isValid() and model else QModelIndex()

    def toggle_fold(self, index: Index) -> bool:
        """Unfold the long message at ``index``, or fold it again, as its chip does; False
        when it is not long enough to fold."""
        delegate = self.itemDelegate()
        assert isinstance(delegate, MessageDelegate)
        layout = delegate.layout_of(self, self._shown(index)) if index.isValid() else None
        if layout is None or not layout.toggle_words:
            return False
        return self.set_expanded(index, layout.folded)

    def on_fold_toggled(self, key: str, expanded: bool) -> None:
        model = self.source_model()
        if isinstance(model, MessageListModel):
            row = model.transcript.index_of(key)
            if row is not None:
                self.set_expanded(model.index(row), expanded)

    def refresh_times(self) -> int:
        """Bring the rows' "2 min ago" up to date: repaint the rows in view whose words
        changed since the last time (no other row, and no layout; none while the view is
        hidden, as it paints them afresh when shown), and set the timer for the next tick.
        The number of rows repainted."""
        now = self.clock()
        before, self._times_at = self._times_at, now
        changed = 0
        for index in self._rows_in_view() if self.isVisible() else []:
            entry = index.data(Roles.ENTRY)
            if isinstance(entry, Entry) and (
                relative_stamp(entry.ts, before) != relative_stamp(entry.ts, now)
            ):  # fmt: skip
                self.viewport().update(super().visualRect(index))
                changed += 1
        self.times_timer.start(math.ceil(until_next_tick(now) * 1000))
        return changed

    def _rows_in_view(self) -> list[QModelIndex]:
        """The rows the viewport shows (a part of, at least), top to bottom."""
        viewport = self.viewport().rect()
        index = self.indexAt(QPoint(viewport.center().x(), 0))
        rows = []
        while index.isValid() and super().visualRect(index).top() <= viewport.bottom():
            rows.append(index)
            index = index.siblingAtRow(index.row() + 1)
        return rows

    def setModel(self, model: QAbstractItemModel | None) -> None:
        """Show ``model``; a :class:`MessageListModel` through a :class:`TranscriptWindow`."""
        old = super().model()
        if old is not None:
            old.rowsInserted.disconnect(self.on_rows_inserted)
            old.modelReset.disconnect(self.on_model_reset)
        if self.window_model is not None:
            self.window_model.deleteLater()
            self.window_model = None
        if self._announced_source is not None:
            self._announced_source.rowsInserted.disconnect(self.on_source_rows_inserted)
            self._announced_source.dataChanged.disconnect(self.on_source_data_changed)
            self._announced_source = None
        self._streaming.clear()
        if isinstance(model, MessageListModel):
            self.window_model = TranscriptWindow(model, self)
            self._announced_source = model
            model.rowsInserted.connect(self.on_source_rows_inserted)
            model.dataChanged.connect(self.on_source_data_changed)
            model = self.window_model
        super().setModel(model)
        if model is not None:
            model.rowsInserted.connect(self.on_rows_inserted)
            model.modelReset.connect(self.on_model_reset)
        self.on_model_reset()

    def source_model(self) -> QAbstractItemModel | None:
        """The model given to :meth:`setModel` (``model()`` is its window)."""
        return self.window_model.source if self.window_model is not None else self.model()

    def visualRect(self, index: Index) -> QRect:
        """Where ``index`` (of the window or of the transcript) is drawn; empty when the
        transcript row is before the window."""
        return super().visualRect(self._shown(index))

    def scrollTo(
        self, index: Index,
        hint: QAbstractItemView.ScrollHint = QAbstractItemView.ScrollHint.EnsureVisible,
    ) -> None:  # fmt: skip
        """Scroll ``index`` (of the window or of the transcript) into view, growing the
        window to hold it."""
        window = self.window_model
        source = window is not None and index.isValid() and index.model() is window.source
        if source and window is not None and index.row() < window.first:
            self._following = False
            self._grow_window(index.row())
        super().scrollTo(self._shown(index), hint)

    def _shown(self, index: Index) -> Index:
        window = self.window_model
        if window is not None and index.isValid() and index.model() is window.source:
            return window.from_source(index)
        return index

    # ----------------------------------------------------------------- following

    def on_rows_inserted(self, _parent: QModelIndex, first: int, last: int) -> None:
        if self._growing:
            return
        model = self.model()
        entries = [model.index(row, 0).data(Roles.ENTRY) for row in range(first, last + 1)]
        if any(isinstance(e, Entry) and e.mine and e.pending for e in entries):
            self.jump_to_latest()  # you sent it: you want to see it
            return
        if self._following:
            self._shrink_window()
            return
        new = sum(1 for e in entries if isinstance(e, Entry) and e.kind in _COUNTED and not e.mine)
        if new:
            self._set_unseen(self._unseen + new)

    def on_model_reset(self) -> None:
        """A new transcript (or a new model): land at its latest message."""
        self.jump_to_latest()

    def on_range_changed(self, _minimum: int, _maximum: int) -> None:
        if self._following:
            self._pin()

    def on_scrolled(self, value: int) -> None:
        if self._pinning:
            return
        bar = self.verticalScrollBar()
        if value >= bar.maximum() - self.SLACK:
            self._following = True
            self._set_unseen(0)
        else:
            self._following = False
            if value <= 0 and self.first_shown > 0:
                QTimer.singleShot(0, self, self._show_earlier)

    def _pin(self) -> None:
        """Scroll to the bottom, as the view (not the reader) moving. Scrolling can lay the
        rows out again, which can move the bottom: hence the loop."""
        bar = self.verticalScrollBar()
        self._pinning += 1
        try:
            for _ in range(3):
                bar.setValue(bar.maximum())
                if bar.value() == bar.maximum():
                    break
        finally:
            self._pinning -= 1

    def _set_unseen(self, count: int) -> None:
        if count == self._unseen:
            return
        self._unseen = count
        if count:
            self.jump_button.setText(
                "1 new message ↓" if count == 1 else f"{count:,} new messages ↓"
            )
            self._place_jump_button()
            self.jump_button.show()
            self.jump_button.raise_()
        else:
            if self.jump_button.hasFocus():
                self.setFocus(Qt.FocusReason.OtherFocusReason)  # not lost with the button
            self.jump_button.hide()
        self.unseen_changed.emit(count)

    def _place_jump_button(self) -> None:
        viewport = self.viewport().geometry()
        size = self.jump_button.sizeHint()
        self.jump_button.resize(size)
        self.jump_button.move(
            viewport.left() + (viewport.width() - size.width()) // 2,
            viewport.bottom() - size.height() - 12,
        )

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._place_jump_button()

    def dataChanged(self, top_left: Index, bottom_right: Index, roles: Sequence[int] = ()) -> None:
        """A row changed: when it keeps its height (a streaming answer that did not start a
        new line) it is only painted again; Qt's list view would lay every row out again."""
        if top_left == bottom_right and self._keeps_height(top_left):
            self.viewport().update(self.visualRect(top_left))
            return
        # Named, not super(): PySide's super() here does not lay the rows out again.
        QListView.dataChanged(self, top_left, bottom_right, list(roles))

    def _keeps_height(self, index: Index) -> bool:
        """Whether the row's height now is the height it was laid out with (its visual rect
        has the height it has now, and the place of the next row that of the last layout)."""
        if not index.isValid():
            return False
        rect = self.visualRect(index)
        after = index.sibling(index.row() + 1, 0)
        if after.isValid():
            laid_out = self.visualRect(after).top() - rect.top()
        else:
            laid_out = self.contentsSize().height() - (rect.top() + self.verticalOffset())
        return rect.isValid() and laid_out == rect.height()

    # ----------------------------------------------------------------- the window of rows

    def _shrink_window(self) -> None:
        """While following, keep the latest :data:`WINDOW` rows in the window (dropping
        :data:`MORE` or more at a time, so that a busy room changes it now and then)."""
        window = self.window_model
        if window is None:
            return
        start = window.source.rowCount() - self.WINDOW
        if start - window.first >= self.MORE:
            window.move_start(start)

    def _grow_window(self, first: int) -> None:
        """Let transcript rows from ``first`` on into the window, keeping what the reader
        sees where it is."""
        window = self.window_model
        if window is None or first >= window.first:
            return
        anchor = QPersistentModelIndex(self.indexAt(QPoint(self.viewport().width() // 2, 0)))
        before = super().visualRect(anchor).top() if anchor.isValid() else 0
        self._growing = True
        try:
            window.move_start(first)
        finally:
            self._growing = False
        self.executeDelayedItemsLayout()
        if anchor.isValid():
            bar = self.verticalScrollBar()
            self._pinning += 1
            try:
                bar.setValue(bar.value() + super().visualRect(anchor).top() - before)
            finally:
                self._pinning -= 1

    def _show_earlier(self) -> None:
        """The reader scrolled up to the window's first row: :data:`MORE` earlier rows."""
        if not self._following and self.verticalScrollBar().value() <= 0:
            self._grow_window(self.first_shown - self.MORE)

    # ----------------------------------------------------------------- moving by message

    def move_to_message(self, step: int) -> bool:
        """Alt+Up (``step`` -1) and Alt+Down (+1): select the previous or next message from
        the current row (from the latest, going up, when there is none), and scroll to it.
        When the view does not have the keyboard focus (the message box has), the row is
        read out, as the focus would have read it. False when there is no such row."""
        model = self.source_model()
        if not isinstance(model, MessageListModel):
            return False
        current = self.currentIndex()
        if current.isValid() and self.window_model is not None:
            row = self.window_model.to_source(current).row() + step
        elif step < 0:
            row = model.rowCount() - 1
        else:
            return False
        while 0 <= row < model.rowCount() and model.entry(row).kind not in _STOPS:
            row += step
        if not 0 <= row < model.rowCount():
            return False
        index = model.index(row)
        hint = QAbstractItemView.ScrollHint
        self.scrollTo(index, hint.EnsureVisible)  # into the window first, if before it
        shown = self.select(index)
        if self.visualRect(index).height() > self.viewport().height():
            self.scrollTo(index, hint.PositionAtTop)  # its start, not its middle
        else:
            self.scrollTo(index, hint.EnsureVisible)
        if not self.hasFocus():
            self.announce(str(shown.data(Qt.ItemDataRole.AccessibleTextRole) or ""))
        return True

    # ----------------------------------------------------------------- screen readers

    def announce(self, text: str) -> None:
        """Have a screen reader say ``text``, after what it is saying (Qt's announcement
        event; nothing is sent while no assistive technology listens). :attr:`announced`
        is emitted either way."""
        if not text:
            return
        self.announced.emit(text)
        if QAccessible.isActive():
            event = QAccessibleAnnouncementEvent(self, text)
            event.setPoliteness(QAccessible.AnnouncementPoliteness.Polite)
            QAccessible.updateAccessibility(event)

    def quiet_until(self, epoch: int, seq: int) -> None:
        """The rows of the room up to event ``seq`` of ``epoch`` (the transcript's) are
        history, replayed on joining: they are not announced. Until this is called, every
        row that arrives is."""
        self._quiet = (epoch, seq)

    def _is_history(self, entry: Entry) -> bool:
        return self._quiet is not None and entry.seq is not None and (
            entry.order[:2] <= self._quiet
        )  # fmt: skip

    def on_source_rows_inserted(self, _parent: QModelIndex, first: int, last: int) -> None:
        model = self._announced_source
        if model is None:
            return
        for row in range(first, last + 1):
            entry = model.entry(row)
            if entry.kind == "answer":
                self._answer_changed(entry, inserted=True)
            elif entry.kind in _STOPS and not (
                entry.mine or entry.pending or self._is_history(entry)
            ):
                self.announce(arrival_words(entry))

    def on_source_data_changed(self, top_left: QModelIndex, bottom_right: QModelIndex,
                               _roles: Sequence[int] = ()) -> None:  # fmt: skip
        model = self._announced_source
        if model is None:
            return
        for row in range(max(0, top_left.row()), min(bottom_right.row() + 1, model.rowCount())):
            entry = model.entry(row)
            if entry.kind == "answer":
                self._answer_changed(entry, inserted=False)

    def _answer_changed(self, entry: Entry, *, inserted: bool) -> None:
        """An answer is announced once, when it finishes: seen being written and then no
        longer, or arriving finished after the history. (A finished answer changes later
        too: regenerated, continued, a file of it fetched; that is not news.)"""
        if entry.status == "streaming":
            self._streaming.add(entry.key)
            return
        finishing = entry.key in self._streaming or (inserted and not self._is_history(entry))
        self._streaming.discard(entry.key)
        if finishing and entry.status in _FINISHED:
            self.announce(arrival_words(entry))

    # ----------------------------------------------------------------- the menu

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        keyboard = event.reason() == QContextMenuEvent.Reason.Keyboard
        if keyboard:
            self.open_menu_of_current()
            return
        pos = event.pos()  # the scroll area passes the viewport's event on as it is
        menu = self.message_menu(pos)
        if menu is not None:
            menu.popup(self.viewport().mapToGlobal(pos))

    def open_menu_of_current(self) -> bool:
        """The menu key (or Shift+F10): the current row's menu, every code block offered (there
        is no pointer to say which). False when there is no current row or nothing to offer."""
        index = self.currentIndex()
        if not index.isValid():
            return False
        pos = super().visualRect(index).center()
        menu = self.message_menu(pos, every_code_block=True)
        if menu is None:
            return False
        menu.popup(self.viewport().mapToGlobal(pos))
        first = next((a for a in menu.actions() if a.isEnabled() and not a.isSeparator()), None)
        if first is not None:
            menu.setActiveAction(first)  # Enter does it, as in a native menu opened by key
        return True

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Ctrl+C copies the selected rows (:meth:`selected_text`); the menu key and Shift+F10
        open the current row's menu (its first item active); Alt+Up and Alt+Down move
        between messages; Enter on a shared file's row does its first action ("Save…",
        "Cancel"); Enter or Space on a long message unfolds it or folds it again."""
        if event.matches(QKeySequence.StandardKey.Copy) and self.copy_selection():
            return
        menu_key = event.key() == Qt.Key.Key_Menu and not event.modifiers()
        shift_f10 = event.key() == Qt.Key.Key_F10 and (
            event.modifiers() == Qt.KeyboardModifier.ShiftModifier
        )  # fmt: skip
        if (menu_key or shift_f10) and self.open_menu_of_current():
            return  # said here, not left to the platform: Shift+F10 is not one everywhere
        if event.modifiers() == Qt.KeyboardModifier.AltModifier and event.key() in (
            Qt.Key.Key_Up, Qt.Key.Key_Down,
        ):  # fmt: skip
            self.move_to_message(-1 if event.key() == Qt.Key.Key_Up else 1)
            return
        keys = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space)
        if event.key() in keys and not event.modifiers():
            index = self.currentIndex()
            entry = index.data(Roles.ENTRY) if index.isValid() else None
            card = index.data(Roles.FILE_CARD) if index.isValid() else None
            enter = event.key() != Qt.Key.Key_Space
            if enter and isinstance(entry, Entry) and isinstance(card, FileCard) and card.actions:
                self.file_action.emit(entry.key, card.actions[0])
                return
            if self.toggle_fold(index):
                return
        super().keyPressEvent(event)

    def _file_menu(self, entry: Entry, card: FileCard, reactions: Sequence[Reaction]) -> QMenu:
        menu = QMenu(self)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        key = entry.key
        for action in card.actions:
            menu.addAction(FILE_ACTIONS[action], partial(self.file_action.emit, key, action))
        name = entry.file_name
        menu.addAction("Copy file name", lambda: QGuiApplication.clipboard().setText(name))
        offered = self.offers_for(entry) if self.offers_for is not None else ()
        if offered:
            menu.addSeparator()
            self._add_offers(menu, entry, offered, reactions)
        return menu

    def reaction_menu(self, entry: Entry, reactions: Sequence[Reaction] = ()) -> QMenu:
        """React ▸: the quick reactions (ours ticked: choosing one takes it back), then
        "Other emoji…". Each is :attr:`message_action`."""
        menu = QMenu("React", self)
        mine = {r.emoji for r in reactions if r.mine}
        key = entry.key
        for emoji in QUICK_REACTIONS:
            action = menu.addAction(emoji, partial(self.message_action.emit, key, "react", emoji))
            action.setCheckable(True)
            action.setChecked(emoji in mine)
        menu.addSeparator()
        menu.addAction("Other emoji…", partial(self.message_action.emit, key, "other_emoji", ""))
        return menu

    def _add_offers(self, menu: QMenu, entry: Entry, offered: Sequence[Offer],
                    reactions: Sequence[Reaction]) -> None:  # fmt: skip
        """What the person may do to ``entry``, in ``menu``: those they may not now are
        there, disabled, saying why in their tooltip."""
        menu.setToolTipsVisible(True)
        key = entry.key
        for offer in offered:
            if offer.action == "react":
                sub = self.reaction_menu(entry, reactions)
                sub.setParent(menu, sub.windowFlags())  # goes with the menu
                action = menu.addMenu(sub)
            else:
                action = menu.addAction(
                    offer.words, partial(self.message_action.emit, key, offer.action, "")
                )
            action.setEnabled(offer.enabled)
            action.setToolTip(offer.why or offer.words)
            action.setStatusTip(offer.why)

    def message_menu(self, pos: QPoint, *, every_code_block: bool = False) -> QMenu | None:
        """The menu for the message at ``pos`` (viewport coordinates): what may be done to it
        (:attr:`offers_for`), "Copy text", and "Copy code" for the code block there (for each
        of them with ``every_code_block``), "Copy link address" on a link. None where there
        is no message, or nothing to do with it (a deleted one)."""
        index = self.indexAt(pos)
        entry = index.data(Roles.ENTRY) if index.isValid() else None
        card = index.data(Roles.FILE_CARD) if index.isValid() else None
        reactions = index.data(Roles.REACTIONS) if index.isValid() else None
        reactions = reactions or ()
        if isinstance(entry, Entry) and isinstance(card, FileCard):
            return self._file_menu(entry, card, reactions)
        if not isinstance(entry, Entry) or entry.kind == "event":
            return None
        offered = self.offers_for(entry) if self.offers_for is not None else ()
        if not entry.text and not offered:
            return None
        menu = QMenu(self)
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        if offered:
            self._add_offers(menu, entry, offered, reactions)
            menu.addSeparator()
        if entry.text:
            self._add_copying(menu, index, entry, pos, every_code_block=every_code_block)
        return menu

    def _add_copying(self, menu: QMenu, index: QModelIndex, entry: Entry, pos: QPoint, *,
                     every_code_block: bool) -> None:  # fmt: skip
        """The copy actions of ``message_menu``, and "Show more" or "Show less"."""
        delegate = self.itemDelegate()
        assert isinstance(delegate, MessageDelegate)
        selected = self.selectionModel().selectedIndexes()
        if len(selected) > 1 and index in selected:
            lines = self.selected_text()
            menu.addAction(f"Copy {len(selected)} selected messages",
                           lambda: QGuiApplication.clipboard().setText(lines))  # fmt: skip
        text = entry.text
        menu.addAction("Copy text", lambda: QGuiApplication.clipboard().setText(text))
        numbers = [n for n, _rect in delegate.copy_chips(self, index)]
        under = delegate.code_at(self, index, pos)
        if every_code_block and len(numbers) > 1:
            for n in numbers:
                menu.addAction(
                    f"Copy code block {n + 1}", partial(delegate.copy_code, self, index, n)
                )
        elif under is not None or (every_code_block and numbers):
            number = under if under is not None else numbers[0]
            menu.addAction("Copy code", lambda: delegate.copy_code(self, index, number))
        link = delegate.link_under(self, index, pos)
        if link is not None:
            href = link[1]
            menu.addAction("Copy link address", lambda: QGuiApplication.clipboard().setText(href))
        layout = delegate.layout_of(self, index)
        if layout is not None and layout.toggle_words:
            key, unfold = entry.key, layout.folded
            menu.addAction(layout.toggle_words, lambda: self.on_fold_toggled(key, unfold))

    def event(self, event: QEvent) -> bool:
        # Keep the floating button where it belongs when the style or font changes.
        if event.type() in (QEvent.Type.StyleChange, QEvent.Type.FontChange):
            QTimer.singleShot(0, self, self._place_jump_button)
        return super().event(event)


def _copied_text(entry: Entry) -> str:
    """What copying one row gives: its text (a file's name, an empty answer's error)."""
    if entry.kind == "file":
        return entry.file_name
    return entry.text or entry.error or ""


def _copied_line(entry: Entry, now: float) -> str:
    """One row among several copied: "Name (14:05): text"; a notice is the room's, and a
    "joined" line says when after itself."""
    stamp = clock_stamp(entry.ts, now)
    if entry.kind == "event":
        return f"{entry.text} ({stamp})"
    text = f"shared {entry.file_name}" if entry.kind == "file" else _copied_text(entry)
    name = "Room" if entry.kind == "notice" else entry.author
    return f"{name} ({stamp}): {text}"


def spoken_row(entry: Entry, display: object = None) -> str:
    """A row as a screen reader reads it: who, to whom it replies, then what ("Sam, reply to
    Bob: see you at 3"; "Sam: message deleted"). ``display`` is the row's display text (a
    shared file's says it all)."""
    if entry.kind == "file" and isinstance(display, str) and display:
        return display
    if entry.kind == "event":
        return entry.text
    text = entry.text or entry.error or ""
    if entry.kind == "notice":
        return f"The room: {text}"
    if entry.deleted:
        return f"{fenced(entry.author)}: {DELETED_WORDS.lower()}"
    quote = entry.reply_to
    if quote is not None:
        return f"{fenced(entry.author)}, reply to {fenced(quote.author_name)}: {text}"
    return f"{fenced(entry.author)}: {text}"


def spoken_details(entry: Entry, reactions: Sequence[Reaction] = ()) -> str:
    """What a screen reader reads after a row: when (exactly), whether it was edited or
    deleted, its state ("writing…", the model, for whom), and its reactions."""
    said = [exact_stamp(entry.ts)]
    if entry.deleted:
        said.append("Deleted")
    elif entry.edited_at is not None:
        said.append("Edited")
    footer = footer_text(entry)
    if footer:
        said.append(footer)
    if reactions and not entry.deleted:
        said.append(spoken_reactions(tuple(reactions)))
    return ". ".join(said)


def arrival_words(entry: Entry) -> str:
    """What is announced when ``entry`` arrives (an answer: once it has finished): who, and
    the start of what (:data:`ANNOUNCED_CHARS`), on one line."""
    text = shorten(one_line(entry.text).strip(), ANNOUNCED_CHARS)
    who = fenced(entry.author)
    match entry.kind:
        case "answer" if entry.status == "failed":
            error = shorten(one_line(entry.error or ""), ANNOUNCED_CHARS)
            return f"{who} could not answer{': ' + error if error else '.'}"
        case "answer" if entry.status == "stopped":
            return f"{who}'s answer was stopped: {text}" if text else f"{who}'s answer was stopped."
        case "answer":
            return f"{who} answered {fenced(entry.asked_by)}: {text}" if entry.asked_by else (
                f"{who} answered: {text}"
            )  # fmt: skip
        case "file":
            return f"{who} shared {entry.file_name}"
        case "notice":
            return f"The room: {text}"
    return f"{who}: {text}"
