"""The room: transcript, people, the assistant's state, the composer, and host controls.

Nearly everything here comes from the room, which may be hostile: labels are plain text
(:mod:`desktop.labels`), one-line ones elided, and names and other network text are fenced
off from our own words (:func:`desktop.network_text.fenced`).

When the room ends for us (closed, removed, unreachable, restarted, taken over, or its
certificate changed), the page stays: the transcript is kept, read-only, until the person goes
back to the rooms on purpose. Nothing moves the keyboard focus then, so the next key typed
cannot leave by accident.

The room's verification code is in a guest's header, to compare with the host's at any time
(what to do if it differs is its tooltip and its accessible description); the host finds it
under Host controls → Verification code…, with the room code behind "Show room code".

Files come in by the paper-clip button, a drop on the page, or a paste in the message box;
each is read with the room's limit and asked about (:mod:`desktop.attachments`) before it is
shared, one question at a time. Shared images of at most :data:`AUTO_FETCH_IMAGE_BYTES` are
fetched as they arrive and shown as thumbnails decoded off the GUI thread
(:mod:`desktop.file_preview`), one decode at a time in a thread of their own; at most
:data:`IMAGES_AT_ONCE` images are being fetched or decoded together, so what a room can make
the page hold for thumbnails stays bounded. Larger images wait on a card that can show them,
as do the oldest thumbnails once more than :data:`MAX_THUMBNAILS` are kept.
"Save…" fetches a file and writes it where the person chose. The bytes of our own uploads are
kept until the room has them, and a few that failed for a reason that may pass, to try again.

A message's menu replies to it, asks the assistant about it, edits, deletes or reacts to it
(:mod:`desktop.message_actions_ui`): a reply or an edit is written in the message box, under
a bar that says which, and what is sent then goes as that reply or that edit.

Keys (F1 lists them all, :mod:`desktop.shortcuts_dialog`): Esc leaves a reply or an edit
being written, wherever the focus is in the page, and otherwise stops the answer being
written, as Stop does (only when nothing in the page took it first: a menu, the names offered
in the message box and the find bar keep their Esc, and a dialog is a window of its own); Up
in an empty message box edits our last message; Ctrl+F opens the find bar
(:mod:`desktop.find_bar`) over the transcript, F3 and Shift+F3 go to the next and previous
match; Alt+Up and Alt+Down move between messages, from the message box too;
Ctrl+L goes back to the message box; Ctrl+Plus, Ctrl+Minus and Ctrl+0 change the text size;
Ctrl+S saves the transcript. Every control has a name a screen reader says, and the transcript
announces what arrives (:mod:`desktop.chat_view`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPoint, QStandardPaths, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QFont,
    QGuiApplication,
    QImage,
    QKeyEvent,
    QKeySequence,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QHBoxLayout,
    QMenu,
    QPushButton,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.ai.usage_ledger import UsageLedger
from core.client import (
    Acknowledged,
    ClientEvent,
    DownloadProgress,
    Ended,
    FetchFailed,
    FileFetched,
    Reconnecting,
    ReconnectPolicy,
    Resumed,
    SendFailed,
    UploadFailed,
)
from core.filetypes import safe_file_name
from core.protocol import (
    AnswerId,
    AssistantReport,
    BanList,
    ErrorCode,
    ErrorMessage,
    FileId,
    FileShared,
    MessageId,
    Notice,
    ParticipantId,
    RoomInfo,
    RoomPreview,
    RoomUpdated,
    TypingChanged,
)
from core.sensitive import Finding, find_sensitive
from core.transcript import Entry
from core.transcript_export import Attendance
from core.wording import ended_words
from desktop.assistant_dialog import (
    EVERY_MESSAGE_MODES,
    AssistantSettingsDialog,
    where_messages_go,
)
from desktop.attachments import (
    PASTED_IMAGE_NAME,
    AttachmentProblem,
    ShareFileDialog,
    check_size,
    dropped_paths,
    png_bytes,
    read_attachment,
)
from desktop.ban_dialog import BansDialog
from desktop.chat_view import ChatView
from desktop.composer import AttachButton, ComposeContext, Composer
from desktop.confirm import Banner, ask
from desktop.file_preview import PreviewError, thumbnail
from desktop.find_bar import FindBar
from desktop.join_dialogs import history_note, sentence
from desktop.labels import ElidedLabel, PlainLabel, make_tab_stop, outdented
from desktop.link_dialog import RoomLinkDialog
from desktop.message_actions_ui import ContextBar, MessageActionsUi
from desktop.modal import run_dialog
from desktop.models import AUTO_FETCH_IMAGE_BYTES, RETRYABLE, MessageListModel, Roles
from desktop.network_text import FIELD_CHARS, TEXT_CHARS, fenced, isolate, one_line, shorten
from desktop.people import PeoplePanel
from desktop.sensitive_check import ask_before_sending
from desktop.session import RoomSession
from desktop.settings import Preferences
from desktop.shortcuts_dialog import ShortcutsDialog, add_text_size_actions
from desktop.transcript_save import save_transcript
from desktop.usage_dialog import UsageDialog
from desktop.verification import WHERE_THE_HOST_SEES_IT, VerificationDialog, spoken

__all__ = ["ChatPage", "header_text", "new_room_text", "verification_line"]

log = logging.getLogger("gptgroup.desktop.chat")


TYPING_EXPIRES = 6.0
TYPING_NAME_CHARS = 24
NARROW_WIDTH = 620
"""Below this page width the people panel folds away, so the messages keep their width."""
GIVE_UP_AFTER = ReconnectPolicy().give_up_after
"""How long the app tries to reconnect before it gives up (the protocol's 120 s)."""
IMAGES_AT_ONCE = 2
"""Images fetched or decoded for their thumbnails at the same time."""
MAX_THUMBNAILS = 100
"""Thumbnails kept (each at most 320 by 240 pixels, 300 KB); older ones can be shown again."""
RETRIES_KEPT = 4
"""Failed uploads of ours whose bytes are kept, to try again."""
FILES_OFF_TIP = "The host does not accept files in this room."
HOST_REMINDER = "You host this room: closing this window closes it for everyone."
SAVE_TIP = (
    "Save this conversation to a file you choose, as Markdown or a web page. The app keeps no "
    "copy of it otherwise."
)

Attachment = Path | tuple[str, bytes]
"""A file to share: a local file to read, or a name and the bytes (a pasted image)."""

_KEPT = "The conversation stays here, read-only, until you go back to the rooms."
_READ_ONLY_NOTE = (
    "You are no longer in the room. You can still read and copy the conversation; nothing "
    "you type here is sent."
)


def duration(seconds: float) -> str:
    """``seconds`` in words for people: "40 s", "2 min", "1 min 37 s"."""
    whole = max(0, round(seconds))
    minutes, rest = divmod(whole, 60)
    if not minutes:
        return f"{rest} s"
    return f"{minutes} min" + (f" {rest} s" if rest else "")


def room_sentence(text: str) -> str:
    """A sentence the room wrote, ready to sit before our own words: one line, bounded, and
    direction-isolated so that it cannot reorder what follows it."""
    return isolate(sentence(shorten(one_line(text), TEXT_CHARS)))


def header_text(room: RoomInfo) -> str:
    """The room header's first line: where messages go now (it can change) and who sees
    them. The line under it says whether people who join later can read back."""
    return f"{where_messages_go(room.assistant)} Everything you write is visible to everyone here."


def new_room_text(preview: RoomPreview) -> str:
    """What the room the host restarted is now: its name, where its messages go."""
    code = " It needs a room code." if preview.password_required else ""
    return f"The new room is “{fenced(preview.name)}”. {where_messages_go(preview.assistant)}{code}"


def verification_line(code: str | None) -> str:
    """The header's line with the room's verification code (empty when there is none)."""
    return f"Verification code {code}" if code else ""


CHECK_ROOM_ACTION = "Check the room at this address…"
VERIFICATION_TIP = (
    f"The host sees the same code in {WHERE_THE_HOST_SEES_IT}. If theirs differs, you are "
    "not in their room: someone on the network may be in between. Leave, and ask the host "
    "for the room link."
)


class ChatPage(QWidget):
    """One room, live. Emits :attr:`left` when the person is done with it,
    :attr:`join_new_room_requested` (with the :class:`RoomPreview`) when they choose to join
    the room the host restarted, and :attr:`check_room_requested` when, the room's
    certificate having changed, they choose to look at the room at that address afresh."""

    left = Signal()
    join_new_room_requested = Signal(object)
    check_room_requested = Signal()
    network_check_requested = Signal()  # the host asks why others may not see the room
    prefs: Preferences | None = None
    """The person's preferences, set by the window that shows the page (None: defaults)."""

    def __init__(self, session: RoomSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.model = MessageListModel(self)
        self._typing: dict[str, float] = {}
        self._report: AssistantReport | None = None
        self._ended: Ended | None = None
        self._instance = self.session.instance
        self._replay_until = session.welcome.last_seq  # notices up to here are history
        self._names: list[str] = []
        self._stoppable: AnswerId | None = None
        self._reconnecting_since: float | None = None
        self._taken_over: str = ""  # the room's words when another connection took our place
        self._side_folded = False  # folded because the page is narrow (not by the person)
        self._bans_dialog: BansDialog | None = None
        self._assistant_dialog: AssistantSettingsDialog | None = None
        self._verification_dialog: VerificationDialog | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._attachments: deque[Attachment] = deque()  # waiting for their question
        self._asking: asyncio.Task[None] | None = None
        self.share_dialog: ShareFileDialog | None = None  # the question open now
        self._uploads: dict[MessageId, tuple[str, bytes, bool]] = {}  # ours, not yet shared
        self._retries: OrderedDict[MessageId, tuple[str, bytes, bool]] = OrderedDict()
        self._images: dict[FileId, FileShared] = {}  # images of the room as it is now
        self._wanted: deque[FileId] = deque()  # images waiting for their thumbnail's fetch
        self._fetching: set[FileId] = set()  # images being fetched for their thumbnails
        self._thumbnails: OrderedDict[FileId, None] = OrderedDict()  # shown, oldest first
        self._decoding = 0  # thumbnails being decoded (or waiting for the decoder)
        self.attendance = Attendance()  # who was here, for a transcript (in memory only)
        self.attendance.saw(session.participants.values(), session.room)
        tasks = self._tasks  # not self: the page is gone when this runs
        self.destroyed.connect(lambda: [task.cancel() for task in list(tasks)])
        self._build()
        self._connect_signals()
        self.model.transcript.set_participants(session.participants, session.you.id)
        self.model.transcript.set_room(session.room)  # whose provider files may be sent to
        self._room_changed(self.session.room)
        self._clock = QTimer(self)
        self._clock.setInterval(1000)
        self._clock.timeout.connect(self.on_clock_tick)
        self._clock.start()

    # ----------------------------------------------------------------- building

    def _build(self) -> None:
        self.setObjectName("chatPage")
        self.title = ElidedLabel(name="roomTitle")
        self.subtitle = PlainLabel(name="whereMessagesGo", wrap=True)
        self.history_line = PlainLabel(name="disclosure", wrap=True)
        # A guest's: the host's own window hosts the room, and finds it in Host controls.
        session = self.session
        self.verification_line = PlainLabel(
            "" if session.host is not None else verification_line(session.verification_code),
            name="hint",
        )
        self.verification_line.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        make_tab_stop(self.verification_line)
        self.verification_line.setToolTip(VERIFICATION_TIP)
        # Not for mouse users only: a screen reader says it with the code (read digit by digit).
        self.verification_line.setAccessibleName("Verification code")
        self.verification_line.setAccessibleDescription(
            f"{spoken(session.verification_code)}. {VERIFICATION_TIP}"
            if session.verification_code
            else VERIFICATION_TIP
        )
        self.verification_line.setVisible(bool(self.verification_line.text()))
        # The host's reminder: their window is the room.
        self.host_reminder = PlainLabel(HOST_REMINDER, name="hint", wrap=True)
        self.host_reminder.setVisible(session.host is not None)
        self.host_menu_button = QToolButton()
        self.host_menu_button.setText("Host controls")
        self.host_menu_button.setObjectName("hostControls")
        self.host_menu_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.host_menu_button.setAccessibleDescription(
            "The room link, its verification code, locking it, the assistant's settings and "
            "usage, bans, and closing the room"
        )
        self.leave_button = QPushButton("Leave")
        self.leave_button.setAutoDefault(False)
        self.leave_button.setAccessibleDescription(
            "Leave the room; you host it, so it closes for everyone"
            if session.host is not None
            else "Leave the room; this window keeps no copy of the conversation"
        )
        # Everyone's, host and guests, and still there once the room has ended.
        self.save_action = QAction("Save transcript…", self)
        self.save_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Save))
        self.save_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.addAction(self.save_action)
        self.save_button = QPushButton("Save transcript…")
        self.save_button.setObjectName("saveTranscript")
        self.save_button.setAutoDefault(False)
        keys = self.save_action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        self.save_button.setToolTip(f"{SAVE_TIP} ({keys})")
        self.save_button.setAccessibleDescription(SAVE_TIP)
        # This room only, for as long as it lasts (room names are not remembered); Settings
        # turns notifications off everywhere.
        self.mute_button = QPushButton("Mute")
        self.mute_button.setObjectName("mute")
        self.mute_button.setCheckable(True)
        self.mute_button.setAutoDefault(False)
        self.mute_button.setAccessibleName("Mute notifications for this room")
        self.mute_button.setToolTip(
            "No notifications from this room while the window is not in front"
        )
        header_text_box = QVBoxLayout()
        header_text_box.addWidget(self.title)
        header_text_box.addWidget(self.subtitle)
        header_text_box.addWidget(self.history_line)
        header_text_box.addLayout(outdented(self.verification_line))
        header_text_box.addWidget(self.host_reminder)
        header_buttons = QHBoxLayout()
        header_buttons.addStretch(1)  # to the right, at their own widths
        header_buttons.addWidget(self.host_menu_button)
        header_buttons.addWidget(self.leave_button)
        # Under the others, not beside them: a narrow window keeps its width for the messages.
        header_actions = QVBoxLayout()
        header_actions.addLayout(header_buttons)
        saving = QHBoxLayout()
        saving.addStretch(1)
        saving.addWidget(self.mute_button)
        saving.addWidget(self.save_button)
        header_actions.addLayout(saving)
        header_actions.addStretch(1)
        header = QHBoxLayout()
        header.addLayout(header_text_box, 1)
        header.addLayout(header_actions)

        self.banner_bar = Banner()
        self.banner = self.banner_bar.label

        self.view = ChatView()  # follows new messages; its own menu copies text and code
        self.view.setModel(self.model)
        self.view.setMinimumWidth(220)
        self.view.quiet_until(self.model.transcript.epoch, self._replay_until)  # the history
        self.find_bar = FindBar(self.view)

        self.people_panel = PeoplePanel()
        self.people = self.people_panel.model
        self.people_view = self.people_panel.view
        self.people_view.setAccessibleName("People in the room")
        self.usage_label = PlainLabel(name="usage", wrap=True)
        side = QVBoxLayout()
        side.addWidget(self.people_panel, 1)
        side.addWidget(self.usage_label)
        self.side_panel = QWidget()
        self.side_panel.setObjectName("sidePanel")
        self.side_panel.setLayout(side)
        self.side_panel.setMinimumWidth(150)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.view)
        self.splitter.addWidget(self.side_panel)
        self.splitter.setCollapsible(0, False)
        self.splitter.setCollapsible(1, True)  # drag it shut, or it folds in a narrow window
        self.splitter.setStretchFactor(0, 4)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([640, 200])

        self.connection_line = PlainLabel(name="assistantState")
        self.connection_line.setAccessibleName("Connection to the room")
        self.assistant_line = ElidedLabel(name="assistantState")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the answer being written (Esc)")
        self.stop_button.setAccessibleDescription(self.stop_button.toolTip())
        self.regenerate_button = QPushButton("Regenerate")
        self.regenerate_button.setAccessibleDescription(
            "Ask the assistant again for the last answer"
        )
        self.continue_button = QPushButton("Continue")
        self.continue_button.setToolTip(
            "The model stopped at its length limit: ask it for the rest of the answer"
        )
        self.typing_line = ElidedLabel(name="typing")
        status = QHBoxLayout()
        status.addWidget(self.connection_line)
        status.addWidget(self.assistant_line, 1)
        status.addWidget(self.typing_line, 1)  # both shrink, to "…" at worst
        status.addWidget(self.stop_button)
        status.addWidget(self.continue_button)
        status.addWidget(self.regenerate_button)

        self.composer_note = PlainLabel(_READ_ONLY_NOTE, name="hint", wrap=True)
        self.composer_note.hide()
        self.composer = Composer()
        self.composer.setAccessibleName("Message")
        self.composer.setAccessibleDescription(
            "Write to everyone in the room; @ and a name mentions them. F1 lists the keyboard "
            "shortcuts."
        )
        self.attach_button = AttachButton()
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("primary")
        self.send_button.setEnabled(False)  # until there is something to send
        self.context_bar = ContextBar(self.composer)  # "Replying to…", "Editing…"
        composer_row = QHBoxLayout()
        composer_row.addWidget(self.composer, 1)
        composer_row.addWidget(self.attach_button, 0, Qt.AlignmentFlag.AlignBottom)
        composer_row.addWidget(self.send_button, 0, Qt.AlignmentFlag.AlignBottom)
        self.setAcceptDrops(True)  # files dropped anywhere on the page

        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.banner_bar)
        layout.addWidget(self.find_bar)
        layout.addWidget(self.splitter, 1)
        layout.addLayout(status)
        layout.addWidget(self.composer_note)
        layout.addWidget(self.context_bar)
        layout.addLayout(composer_row)
        self.send_button.ensurePolished()  # the style sheet's padding counts
        self.attach_button.setFixedHeight(self.send_button.sizeHint().height())  # a pair
        QWidget.setTabOrder(self.composer, self.attach_button)  # once in one window
        QWidget.setTabOrder(self.attach_button, self.send_button)
        self._build_host_menu()
        self._build_shortcuts()
        self.message_actions = MessageActionsUi(
            self.session, self.model, self.view, self.composer, self, self._show_problem,
            lambda text: self.banner_bar.show_message(text, "info"),
        )  # fmt: skip

    def _build_host_menu(self) -> None:
        menu = QMenu(self)
        self.copy_link_action = QAction("Copy room link", self)
        self.link_action = QAction("Room link, join code and QR code…", self)
        self.verification_action = QAction("Verification code…", self)
        self.lock_action = QAction("Lock the room to new people", self, checkable=True)
        self.assistant_action = QAction("Assistant settings…", self)
        self.usage_action = QAction("Assistant usage…", self)
        self.bans_action = QAction("Banned people…", self)
        self.network_check_action = QAction("Why can't people see the room?…", self)
        self.close_action = QAction("Close the room for everyone…", self)
        for action in (self.copy_link_action, self.link_action, self.verification_action,
                       self.lock_action,
                       self.assistant_action, self.usage_action, self.bans_action,
                       self.network_check_action):  # fmt: skip
            menu.addAction(action)
        self.usage_action.setVisible(self._assistant_ledger() is not None)  # this app's room
        menu.addSeparator()
        menu.addAction(self.close_action)
        self.host_menu_button.setMenu(menu)
        self.host_menu_button.setVisible(self.session.is_host)
        self.copy_link_action.setEnabled(self.session.host is not None)
        self.link_action.setEnabled(self.session.host is not None)
        self.verification_action.setEnabled(self.session.host is not None)

    def _build_shortcuts(self) -> None:
        """The page's keys (see the module docstring), for whatever in it has the focus."""

        def action(words: str, *keys: QKeySequence.StandardKey | str) -> QAction:
            made = QAction(words, self)
            shortcuts: list[QKeySequence] = []
            for key in keys:
                shortcuts += (
                    QKeySequence.keyBindings(key)
                    if isinstance(key, QKeySequence.StandardKey)
                    else [QKeySequence(key)]
                )
            made.setShortcuts(shortcuts)
            made.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.addAction(made)
            return made

        keys = QKeySequence.StandardKey
        self.find_action = action("Find in the chat", keys.Find)
        self.find_next_action = action("Next match", keys.FindNext)
        self.find_previous_action = action("Previous match", keys.FindPrevious)
        self.previous_message_action = action("Previous message", "Alt+Up")
        self.next_message_action = action("Next message", "Alt+Down")
        self.composer_action = action("Go to the message box", "Ctrl+L")
        self.shortcuts_action = action("Keyboard shortcuts", keys.HelpContents)
        self.text_size_actions = add_text_size_actions(
            self, lambda size: self.view.announce(f"Text size {size}%")
        )
        self.shortcuts_dialog: ShortcutsDialog | None = None

    def _connect_signals(self) -> None:
        self.session.event_received.connect(self.on_event)
        self.session.action_failed.connect(self.on_action_failed)
        self.composer.submitted.connect(self.send)
        self.composer.typing_changed.connect(self.session.set_typing)
        self.composer.sendable_changed.connect(self.on_sendable_changed)
        self.send_button.clicked.connect(self.composer.submit)
        self.attach_button.clicked.connect(self.on_attach_clicked)
        self.composer.image_pasted.connect(self.on_image_pasted)
        self.composer.files_pasted.connect(self.attach)
        self.view.file_action.connect(self.on_file_action)
        self.session.file_saved.connect(self.on_file_saved)
        self.session.file_not_saved.connect(self.on_file_not_saved)
        self.leave_button.clicked.connect(self.on_leave_clicked)
        self.save_button.clicked.connect(self.save_action.trigger)
        self.mute_button.toggled.connect(self.on_mute_toggled)
        self.save_action.triggered.connect(self.on_save_transcript_triggered)
        self.stop_button.clicked.connect(self.on_stop_clicked)
        self.regenerate_button.clicked.connect(self.on_regenerate_clicked)
        self.continue_button.clicked.connect(self.on_continue_clicked)
        self.people_panel.removal_confirmed.connect(self.on_removal_confirmed)
        self.copy_link_action.triggered.connect(self.on_copy_link_triggered)
        self.link_action.triggered.connect(self.on_link_triggered)
        self.network_check_action.triggered.connect(self.network_check_requested)
        self.verification_action.triggered.connect(self.show_verification_code)
        self.lock_action.toggled.connect(self.session.lock)
        self.assistant_action.triggered.connect(self.on_assistant_settings_triggered)
        self.usage_action.triggered.connect(self.on_usage_triggered)
        self.bans_action.triggered.connect(self.show_bans)
        self.close_action.triggered.connect(self.on_close_room_triggered)
        self.find_action.triggered.connect(self.find_bar.open)
        self.find_next_action.triggered.connect(lambda: self.find_bar.step(1))
        self.find_previous_action.triggered.connect(lambda: self.find_bar.step(-1))
        self.find_bar.closed.connect(self.focus_composer)
        self.previous_message_action.triggered.connect(lambda: self.view.move_to_message(-1))
        self.next_message_action.triggered.connect(lambda: self.view.move_to_message(1))
        self.composer_action.triggered.connect(self.focus_composer)
        self.shortcuts_action.triggered.connect(self.show_shortcuts)

    # ----------------------------------------------------------------- keys

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Esc, when nothing in the page took the key first (see the module docstring):
        leaves the reply or edit being written (the gentler of the two), else stops the
        answer being written, as Stop does."""
        if event.key() == Qt.Key.Key_Escape and not event.modifiers():
            if self.composer.context is not None:
                event.accept()
                self.composer.cancel_context()
                return
            if self._stoppable:
                event.accept()
                self.on_stop_clicked()
                return
        super().keyPressEvent(event)

    def focus_composer(self) -> None:
        """Ctrl+L, and after the find bar closes: the keyboard back in the message box."""
        self.composer.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def show_shortcuts(self) -> None:
        """F1: the keyboard shortcuts, with the send key the person chose (one dialog, made
        anew each time, so that it says the keys as they are now)."""
        if self.shortcuts_dialog is not None:
            self.shortcuts_dialog.deleteLater()
        dialog = self.shortcuts_dialog = ShortcutsDialog(self.composer.send_key, self)
        dialog.open()

    # ----------------------------------------------------------------- events

    def on_event(self, event: ClientEvent) -> None:
        self.model.apply(event)
        self.message_actions.on_event(event)
        match event:
            case TypingChanged(participant=pid, active=active):
                if active:
                    self._typing[pid] = time.monotonic()
                else:
                    self._typing.pop(pid, None)
                self._show_typing()
            case RoomUpdated(room=room):
                self._room_changed(room)
            case Notice(code="assistant_mode") if event.seq > self._replay_until:
                self._assistant_mode_changed()
            case AssistantReport():
                self._report = event
                self._show_usage()
            case BanList(bans=bans):
                if self._bans_dialog is not None:
                    self._bans_dialog.set_bans(bans)
            case FileShared() | Acknowledged() | UploadFailed() | DownloadProgress():
                self._file_event(event)
            case FileFetched() | FetchFailed():
                self._file_event(event)
            case SendFailed(message=message, text=unsent):
                if unsent:
                    self.composer.restore_unsent(unsent)  # back in the box, to fix and resend
                self._show_problem(f"Not sent: {shorten(one_line(message), TEXT_CHARS)}")
            case ErrorMessage(code=ErrorCode.SESSION_REPLACED, message=message):
                self._taken_over = message  # said again, plainly, when the room ends for us
            case ErrorMessage(message=message):
                self._show_problem(sentence(shorten(one_line(message), TEXT_CHARS)))
            case Reconnecting():
                if self._reconnecting_since is None:
                    self._reconnecting_since = time.monotonic()
                self._show_reconnecting()
            case Resumed(resumed=resumed, history_complete=complete):
                self._reconnecting_since = None
                self._resumed(resumed, complete)
            case Ended():
                self._end(event)
        self.attendance.saw(self.session.participants.values(), self.session.room)
        self._refresh_people()
        self._refresh_assistant()

    def _resumed(self, resumed: bool, complete: bool) -> None:
        if self.session.instance != self._instance:  # the host restarted the room
            self._instance = self.session.instance
            self.model.transcript.new_room()
            self._forget_files()
            self.composer.finish_context()  # its numbers are another room's now
            text = "The host restarted the room: you are back in, as a new participant."
        elif not resumed:
            text = "Reconnected, as a new participant: you were away too long."
        elif not complete:
            text = "Reconnected. Some messages from while you were away are no longer available."
        else:
            text = "Reconnected."
        self.model.transcript.set_participants(self.session.participants, self.session.you.id)
        self.model.transcript.set_room(self.session.room)
        self._room_changed(self.session.room)
        self.banner_bar.show_message(text, "info" if complete else "warning", dismissable=True)

    def _show_reconnecting(self) -> None:
        since = self._reconnecting_since
        away = time.monotonic() - since if since is not None else 0.0
        lost = f"Connection lost {duration(away)} ago." if away >= 1 else "Connection lost."
        self.banner_bar.show_message(
            f"{lost} Reconnecting… Messages you write now are sent when it is back; the app "
            f"stops trying after {duration(GIVE_UP_AFTER)}.",
            "warning", key="reconnecting",
        )  # fmt: skip

    def _room_changed(self, room: RoomInfo) -> None:
        self.title.setText(room.name)
        self.subtitle.setText(header_text(room))
        locked = " The host has locked the room: nobody new can join." if room.locked else ""
        self.history_line.setText(history_note(room.history_shared) + locked)
        # Bold while every message leaves for the AI provider: it is the thing to know.
        font = QFont(self.subtitle.font())
        font.setBold(room.assistant is not None and room.assistant.mode in EVERY_MESSAGE_MODES)
        self.subtitle.setFont(font)
        self.composer.set_max_chars(room.limits.max_text_chars)
        self._files_allowed_changed()
        self.lock_action.blockSignals(True)
        self.lock_action.setChecked(room.locked)
        self.lock_action.blockSignals(False)
        self.assistant_action.setEnabled(room.assistant is not None)
        self._refresh_people()
        self._refresh_assistant()

    def _assistant_mode_changed(self) -> None:
        """The host changed when the assistant answers, which is where messages go: say so
        where it cannot be missed (the transcript has the room's own notice too)."""
        where = where_messages_go(self.session.room.assistant)
        if self.session.is_host:
            self.banner_bar.show_message(f"Saved. {where} Everyone in the room was told.", "info")
        else:
            self.banner_bar.show_message(
                f"The host changed when the assistant answers. {where}", "warning",
                dismissable=True,
            )  # fmt: skip

    def _refresh_people(self) -> None:
        if self._ended is not None:
            self.people_panel.show_not_connected()
            return
        assistant = self.session.room.assistant
        self.people_panel.show_people(
            self.session.participants, assistant.name if assistant else None,
            self.session.you.id, host=self.session.is_host, connected=self.session.connected,
        )  # fmt: skip
        names = [p.name for p in self.session.participants.values()]
        if assistant is not None:
            names.append(assistant.name)
        if names != self._names:  # resetting the list would lose the highlighted choice
            self._names = names
            self.composer.set_names(names)

    def _connection_words(self) -> str:
        """The status line's first words: connected, reconnecting or offline (followed by a
        dot when the assistant's line follows)."""
        if self._ended is not None:
            words = "Offline"
        elif self._reconnecting_since is not None or not self.session.connected:
            words = "Reconnecting…"
        else:
            words = "Connected"
        return f"{words} ·" if self.session.room.assistant is not None else words

    def _refresh_assistant(self) -> None:
        self.connection_line.setText(self._connection_words())
        # Out of touch with the room, what it says the assistant is doing may be stale:
        # nothing can be stopped or regenerated until we are back.
        connected = self.session.connected and self._ended is None
        state = self.session.assistant_state if connected else None
        assistant = self.session.room.assistant
        if assistant is None or self._ended is not None:
            self.assistant_line.setText("")
        elif state is not None and state.answering is not None:
            waiting = f" · {len(state.waiting)} waiting" if state.waiting else ""
            self.assistant_line.setText(
                f"{fenced(assistant.name)} is answering "
                f"{fenced(state.answering.asked_by_name)}{waiting}"
            )
        else:
            how = {
                "mention": f"mention @{fenced(assistant.name)} to ask",
                "always": "answers every message",
                "auto": "joins in when it can help",
            }.get(assistant.mode, "")
            model = fenced(assistant.model, FIELD_CHARS)
            self.assistant_line.setText(f"{fenced(assistant.name)} · {model} · {how}")
        answering = state.answering if state is not None else None
        self._stoppable = self.session.stoppable_answer() if connected else None
        self.stop_button.setVisible(self._stoppable is not None)
        mine_waiting = answering is None or self._stoppable != answering.answer
        self.stop_button.setText("Withdraw my question" if mine_waiting else "Stop")
        last = self._last_answer()
        self.regenerate_button.setVisible(
            connected and last is not None and answering is None
            and self.session.may_regenerate(last.asked_by_id)
        )  # fmt: skip
        self.continue_button.setVisible(
            connected and last is not None and answering is None
            and last.cut_off and last.status == "complete" and not last.continued_by
            and self.session.may_continue(last.asked_by_id)
        )  # fmt: skip

    def _last_answer(self) -> Entry | None:
        for entry in reversed(self.model.transcript.entries):
            if entry.kind == "answer" and entry.status not in ("streaming", ""):
                return entry
        return None

    def on_clock_tick(self) -> None:
        self._show_typing()
        if self.banner_bar.key == "reconnecting" and self._ended is None:
            self._show_reconnecting()  # how long it has been, live

    def _show_typing(self) -> None:
        now = time.monotonic()
        self._typing = {p: t for p, t in self._typing.items() if now - t < TYPING_EXPIRES}
        names = [  # short enough for "are typing…" to stay in view
            fenced(self.session.participants[p].name, TYPING_NAME_CHARS)
            for p in self._typing
            if p in self.session.participants and self._ended is None
        ]
        if not names:
            text = ""
        elif len(names) == 1:
            text = f"{names[0]} is typing…"
        elif len(names) <= 3:
            text = f"{', '.join(names[:-1])} and {names[-1]} are typing…"
        else:
            text = f"{', '.join(names[:2])} and {len(names) - 2} others are typing…"
        self.typing_line.setText(text)

    def _show_usage(self) -> None:
        report = self._report
        if report is None:
            return
        budget = f" of {report.token_budget:,}" if report.token_budget else ""
        approx = "about " if report.session_usage.estimated else ""
        answers = "1 answer" if report.answers == 1 else f"{report.answers} answers"
        tokens = report.session_usage.total_tokens
        self.usage_label.setText(
            f"Assistant this session: {answers}, {approx}{tokens:,}{budget} tokens"
        )

    # ----------------------------------------------------------------- the end

    def _end(self, ended: Ended) -> None:
        """The room is over for us: say why, keep the transcript read-only, and leave the
        keyboard focus where it was (a Space typed next must not press "Back to rooms")."""
        focus = QApplication.focusWidget()
        self._ended = ended
        self._interrupt_streaming_answers()
        if ended.reason != "left":
            action = None
            if ended.reason == "restarted" and ended.new_room is not None:
                preview = ended.new_room
                action = ("Join the new room", lambda: self.join_new_room_requested.emit(preview))
            elif ended.reason == "certificate_changed":
                # Never a rejoin: a look at whatever is there now, its code shown first.
                action = (CHECK_ROOM_ACTION, self.check_room_requested.emit)
            self.banner_bar.show_message(self._ended_text(ended), "error", action=action)
        self.composer.finish_context()  # nothing is replied to or edited any more
        self.composer.setReadOnly(True)
        self.composer.setPlaceholderText("Not connected to the room.")
        self.composer_note.show()
        self.send_button.setEnabled(False)
        self._files_allowed_changed()
        self._attachments.clear()
        if self.share_dialog is not None:
            self.share_dialog.reject()  # nothing can be shared any more
        self._retries.clear()
        self.model.retry_kept.clear()
        for task in list(self._tasks):
            task.cancel()
        self.host_menu_button.setEnabled(False)
        self.leave_button.setText("Back to rooms")
        if self._bans_dialog is not None:
            self._bans_dialog.close()
        if self._verification_dialog is not None:
            self._verification_dialog.close()
        if focus is not None and self.isAncestorOf(focus) and not focus.isEnabled():
            self.composer.setFocus()  # what had the focus is disabled: not the leave button

    def _ended_text(self, ended: Ended) -> str:
        said = ended_words(ended.reason) or room_sentence(ended.message)
        if ended.reason == "closed_by_host" and self.session.is_host:
            said = "You closed the room."
        elif ended.reason == "unreachable" and self._reconnecting_since is not None:
            tried = duration(time.monotonic() - self._reconnecting_since)
            said = (
                f"The room could not be reached for {tried}, so the app stopped trying. The "
                "host may have quit, or the network is down."
            )
        elif ended.reason == "replaced" and self._taken_over:
            said = room_sentence(self._taken_over)  # it says from which address
        elif ended.reason == "restarted" and ended.new_room is not None:
            return f"{said} {_KEPT} {new_room_text(ended.new_room)}"
        return f"{said} {_KEPT}"

    def _interrupt_streaming_answers(self) -> None:
        """An answer still being written will never be finished for us: mark it cut off, so
        that it neither says "writing…" nor offers Stop."""
        for row, entry in enumerate(self.model.transcript.entries):
            if entry.kind == "answer" and entry.status == "streaming":
                entry.status = "interrupted"
                entry.error = "the connection to the room ended"
                entry.version += 1  # views cache rows by version
                index = self.model.index(row)
                self.model.dataChanged.emit(index, index, [Roles.ENTRY])

    # ----------------------------------------------------------------- sharing files

    def files_allowed(self) -> bool:
        """Whether files can be shared now: the room takes them and we are in it."""
        return self._ended is None and self.session.room.limits.max_file_bytes > 0

    def _files_allowed_changed(self) -> None:
        allowed = self.files_allowed()
        self.attach_button.setEnabled(allowed)
        tip = "Attach a file…" if allowed or self._ended is not None else FILES_OFF_TIP
        self.attach_button.setToolTip(tip)
        self.attach_button.setAccessibleDescription("" if allowed else tip)

    def on_attach_clicked(self) -> None:
        """The paper-clip button: choose files, then each is asked about."""
        paths, _filter = QFileDialog.getOpenFileNames(self, "Attach a file", _home())
        self.attach([Path(p) for p in paths])

    def on_image_pasted(self, image: QImage) -> None:
        try:
            data = png_bytes(image)
        except AttachmentProblem as exc:
            self._show_problem(str(exc))
            return
        self.attach([(PASTED_IMAGE_NAME, data)])

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self.files_allowed() and dropped_paths(event.mimeData()):
            event.acceptProposedAction()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if self.files_allowed() and dropped_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = dropped_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.attach(paths)

    def attach(self, items: Sequence[Attachment]) -> None:
        """Ask about each of ``items`` in turn (after any still waiting), and share those the
        person agrees to."""
        if not items:
            return
        if not self.files_allowed():
            self._show_problem(FILES_OFF_TIP if self._ended is None else _READ_ONLY_NOTE)
            return
        self._attachments.extend(items)
        if self._asking is None or self._asking.done():
            self._asking = self._start(self._ask_about_attachments())

    async def _ask_about_attachments(self) -> None:
        while self._attachments and self._ended is None:
            item = self._attachments.popleft()
            limit = self.session.room.limits.max_file_bytes
            try:
                if isinstance(item, Path):
                    name = item.name
                    data = await asyncio.to_thread(read_attachment, item, limit)
                else:
                    name, data = item
                    check_size(name, len(data), limit)
            except AttachmentProblem as exc:
                self._show_problem(str(exc))
                continue
            if not self.files_allowed():  # the room ended while the file was read
                return
            dialog = self.share_dialog = ShareFileDialog(
                name, data, self.session.room.assistant, self
            )
            try:
                share = await run_dialog(dialog)
                assistant = dialog.assistant_allowed()
            finally:
                self.share_dialog = None
                dialog.deleteLater()
            if share and self.files_allowed():
                self._share(name, data, assistant)

    def _share(self, name: str, data: bytes, assistant: bool) -> None:
        upload = self.session.share_file(name, data, assistant=assistant)
        if upload is not None:  # kept until the room has it, to try again if that fails
            self._uploads[upload] = (name, data, assistant)

    def _file_event(self, event: ClientEvent) -> None:
        """What the room and the client say about files, beyond the transcript's rows."""
        match event:
            case FileShared(client_id=upload, kind="image") if upload in self._uploads:
                _name, data, _assistant = self._uploads.pop(upload)
                self._images[event.file] = event  # ours: shown from the bytes we sent
                self._decode(event.file, data)
            case FileShared(client_id=upload) if upload in self._uploads:
                del self._uploads[upload]
            case FileShared():
                self._file_shared(event)
            case Acknowledged(id=upload):
                self._uploads.pop(MessageId(upload), None)
            case UploadFailed(id=upload, code=code):
                kept = self._uploads.pop(upload, None)
                if kept is not None and code in RETRYABLE:
                    self._keep_for_retry(upload, kept)
            case DownloadProgress(file=file, received=received):
                self.model.update_file(file, received=received)
            case FileFetched(file=file, data=data):
                self._fetching.discard(file)
                self.model.update_file(file, received=None)
                if file in self._images and self.model.file_view(file).thumbnail is None:
                    self._decode(file, data)
                self._fetch_images()
            case FetchFailed(file=file, code=code, message=message):
                fetching = file in self._fetching
                self._fetching.discard(file)
                self.model.update_file(file, received=None)
                if fetching and code != "cancelled":
                    why = room_sentence(message) if message else "It could not be fetched."
                    self.model.update_file(file, problem=f"This image could not be shown. {why}")
                self._fetch_images()

    def _keep_for_retry(self, upload: MessageId, kept: tuple[str, bytes, bool]) -> None:
        self._retries[upload] = kept
        self.model.retry_kept.add(upload)
        self.model.touch_upload(upload)
        while len(self._retries) > RETRIES_KEPT:  # memory stays bounded: the oldest go
            old, _ = self._retries.popitem(last=False)
            self.model.retry_kept.discard(old)
            self.model.touch_upload(old)

    def _file_shared(self, event: FileShared) -> None:
        """An image is fetched for its thumbnail, whoever shared it (history included), if
        its room says it has at most :data:`AUTO_FETCH_IMAGE_BYTES`; a larger one gets the
        card of a hidden thumbnail, and is fetched only when the person asks."""
        if event.kind == "image":
            self._images[event.file] = event
            if event.size > AUTO_FETCH_IMAGE_BYTES:
                self.model.update_file(event.file, hidden=True)
                return
            self._wanted.append(event.file)
            self._fetch_images()

    def _fetch_images(self) -> None:
        """Fetch the images waiting for their thumbnails: :data:`IMAGES_AT_ONCE` at a time,
        counting those fetched and waiting for their decode, so that fetched bytes never pile
        up behind the decoder."""
        while (
            self._wanted
            and len(self._fetching) + self._decoding < IMAGES_AT_ONCE
            and self._ended is None
        ):
            file = self._wanted.popleft()
            if self.model.file_view(file).thumbnail is not None:
                continue
            if self.session.fetch_file(file):
                self._fetching.add(file)
                self.model.update_file(file, received=0, problem="")

    def _decode(self, file: FileId, data: bytes) -> None:
        """Show ``file``'s thumbnail from ``data`` once decoded; it counts as decoding from
        now on (see :meth:`_fetch_images`)."""
        self._decoding += 1
        self._start(self._show_thumbnail(file, data))

    async def _show_thumbnail(self, file: FileId, data: bytes) -> None:
        """Decode ``data`` in the decoder's thread (after the decodes before it); show the
        thumbnail, or why there is none; then fetch the next image waiting. Started by
        :meth:`_decode` only."""
        try:
            image = await thumbnail(data)
        except PreviewError as exc:
            self.model.update_file(file, problem=f"This image could not be shown: {exc}.")
            image = None
        finally:
            self._decoding -= 1
        self._fetch_images()
        if image is None or file not in self._images:  # not shown, or the room restarted
            return
        self.model.update_file(file, thumbnail=image, problem="")
        self._thumbnails[file] = None
        while len(self._thumbnails) > MAX_THUMBNAILS:
            old, _ = self._thumbnails.popitem(last=False)
            self.model.update_file(old, thumbnail=None, hidden=True)

    def _forget_files(self) -> None:
        """The host restarted the room: its files are other files now."""
        self._images.clear()
        self._wanted.clear()
        self._fetching.clear()
        self._thumbnails.clear()
        self._uploads.clear()
        self._retries.clear()
        self.model.retry_kept.clear()

    def on_file_action(self, key: str, action: str) -> None:
        """A file card's button (or its menu item, or Enter on its row)."""
        entry = self.model.transcript.entry(key)
        if entry is None or entry.kind != "file":
            return
        if action == "cancel" and entry.upload_id:
            self.session.cancel_upload(MessageId(entry.upload_id))
        elif action == "retry":
            kept = self._retries.pop(MessageId(entry.upload_id), None)
            self.model.retry_kept.discard(entry.upload_id)
            self.model.touch_upload(entry.upload_id)
            if kept is not None and self._ended is None:
                self._share(*kept)
        elif action == "show" and entry.file:
            self.model.update_file(entry.file, hidden=False)
            self._wanted.appendleft(entry.file)
            self._fetch_images()
        elif action == "save" and entry.file:
            # After the click has been handled: the save dialog runs its own event loop.
            file, name = entry.file, safe_file_name(entry.file_name)
            QTimer.singleShot(0, self, lambda: self._ask_where_to_save(file, name))

    def _ask_where_to_save(self, file: FileId, name: str) -> None:
        if self._ended is not None:
            self._show_problem("Files can no longer be fetched: you are not in the room.")
            return
        folder = (
            QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DownloadLocation)
            or _home()
        )
        path, _filter = QFileDialog.getSaveFileName(self, "Save file", str(Path(folder) / name))
        if not path:
            return
        self.model.update_file(file, received=0, saving=True, saved="", problem="")
        self.session.save_file(file, Path(path))

    def on_file_saved(self, file: str, path: str) -> None:
        fid = FileId(file)
        self.model.update_file(fid, received=None, saving=False, saved=f"Saved to {path}")
        self.banner_bar.show_message(f"Saved to {path}", "info")

    def on_file_not_saved(self, file: str, why: str) -> None:
        fid = FileId(file)
        self.model.update_file(fid, received=None, saving=False)
        self._show_problem(f"The file was not saved. {why}")

    def _start(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a file task failed", exc_info=task.exception())

    # ----------------------------------------------------------------- problems

    def on_action_failed(self, text: str) -> None:
        self._show_problem(text)

    def _show_problem(self, text: str, level: str = "warning") -> None:
        """Something did not work: a warning that stays until dismissed or replaced. Once
        the room has ended, what says so stays up instead."""
        if self._ended is not None:
            return
        self.banner_bar.show_message(text, level, dismissable=level != "info")

    # ----------------------------------------------------------------- layout

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        # Once the splitter has its new width too (it may be laid out after this event).
        QTimer.singleShot(0, self, self._fit_side_panel)

    def _fit_side_panel(self) -> None:
        """Fold the people panel away in a narrow page (the messages need the width more),
        and open it again once there is room. The person can drag it open or shut."""
        narrow = self.width() < NARROW_WIDTH
        sizes = self.splitter.sizes()
        total = sum(sizes)
        if narrow and sizes[1] > 0:
            self._side_folded = True
            self.splitter.setSizes([total, 0])
        elif not narrow and self._side_folded:
            self._side_folded = False
            side = min(240, total // 4)
            self.splitter.setSizes([total - side, side])

    # ----------------------------------------------------------------- actions

    def send(self, text: str) -> None:
        """Hand ``text`` to the room's client; the composer keeps it until the client took it
        (and gets it back if the room refuses it).

        Text that looks sensitive (:mod:`core.sensitive`) is asked about first, unless the
        preference is off. On "Edit" nothing at all is sent, no frame of any kind, and the
        text stays in the composer as it was, cursor and all: the room cannot tell."""
        if self._ended is not None:
            return
        context = self.composer.context  # a reply, or an edit, as it was when sent
        checked = self.prefs is None or self.prefs.check_sensitive()
        findings = find_sensitive(text) if checked else []
        if findings:
            self._start(self._send_if_confirmed(text, findings, context))
        else:
            self._hand_over(text, context)

    async def _send_if_confirmed(
        self, text: str, findings: list[Finding], context: ComposeContext | None
    ) -> None:
        assistant = self.session.room.assistant is not None
        if not await ask_before_sending(self, findings, assistant=assistant):
            self.composer.setFocus()  # back to editing (the cursor has not moved)
        elif self._ended is None:
            self._hand_over(text, context)

    def _hand_over(self, text: str, context: ComposeContext | None = None) -> None:
        """Give ``text`` to the room: as a new message, a reply, or the new text of the
        message being edited (``context``)."""
        if context is not None and context.kind == "edit":
            if self.composer.context == context:  # still that edit: it is over once sent
                self.message_actions.save_edit(context.seq, text)
            return
        client_id = (
            self.message_actions.post(text, context.seq)
            if context is not None
            else self.session.send(text)
        )
        if client_id is not None:
            self.composer.message_queued(text)  # the client owns it now; its row follows
            if context is not None and self.composer.context == context:
                self.composer.finish_context()  # replied: the next message is a new one

    def on_sendable_changed(self, sendable: bool) -> None:
        self.send_button.setEnabled(sendable and self._ended is None)

    def on_stop_clicked(self) -> None:
        if self._stoppable is not None:
            self.session.stop_answer(self._stoppable)

    def on_regenerate_clicked(self) -> None:
        last = self._last_answer()
        if last is not None:
            self.session.regenerate(last.answer_id)

    def on_continue_clicked(self) -> None:
        last = self._last_answer()
        if last is not None and last.cut_off:
            self.session.continue_answer(last.answer_id)

    def on_leave_clicked(self) -> None:
        """Leaving loses the conversation (no copy is kept), so it is asked first, with
        Save transcript… offered; once the room has ended the banner has said so, and the
        button just goes back."""
        if self._ended is not None:
            self.left.emit()
        elif self.session.host is not None:
            self._ask_before_losing_it(
                title="Close the room?",
                text="You host this room. Leaving closes it for everyone, and nothing is kept: "
                     "the conversation is gone for good",
                verb="Close the room and leave", back="Stay", then=self.left.emit,
            )  # fmt: skip
        else:
            self._ask_before_losing_it(
                title="Leave the room?",
                text="This app keeps no copy of the conversation: once you leave, it is gone "
                     "from this window",
                verb="Leave and discard", back="Stay", then=self.left.emit,
            )  # fmt: skip

    def on_close_room_triggered(self) -> None:
        self._ask_before_losing_it(
            title="Close the room for everyone?",
            text="Everyone is told the host closed the room, and nothing is kept: the "
                 "conversation is gone for good",
            verb="Close the room", back="Keep it open", then=self.session.close_room,
        )  # fmt: skip

    def _ask_before_losing_it(
        self, *, title: str, text: str, verb: str, back: str, then: Callable[[], None],
        saved: Path | None = None,
    ) -> None:  # fmt: skip
        """Ask before the conversation is lost (``text`` says how, its sentence left open),
        offering Save transcript… first. Saved or not, the same question comes back (saying
        where it went), so that saving never closes or leaves by itself; unless the room has
        ended meanwhile."""

        def save_first() -> None:
            path = self.save_transcript() or saved
            if self._ended is None:
                self._ask_before_losing_it(
                    title=title, text=text, verb=verb, back=back, then=then, saved=path
                )

        said = (
            f"{text}, but for the transcript you saved to {saved}."
            if saved is not None
            else f"{text} unless you save a transcript first."
        )
        ask(self, title=title, text=said, verb=verb, back=back, on_confirmed=then,
            offer=("Save transcript…", lambda: QTimer.singleShot(0, self, save_first)))  # fmt: skip

    def on_mute_toggled(self, muted: bool) -> None:
        self.mute_button.setText("Muted" if muted else "Mute")

    def on_save_transcript_triggered(self) -> None:
        self.save_transcript()

    def save_transcript(self) -> Path | None:
        """Save transcript… (its button, Ctrl+S, or the offer before leaving): the
        conversation as this page shows it, to a file the person picks; where it went, or
        None. Modal (see :func:`desktop.transcript_save.save_transcript`)."""
        entries = self.model.transcript.entries
        now = time.time()
        if self._ended is not None:  # it ended with its last row, not now
            now = min(now, max((e.ts for e in entries), default=now))
        conversation = self.attendance.conversation(
            self.session.room.name, entries, saved_by=self.session.you.name, ended=now
        )
        path = save_transcript(self, entries, conversation)
        if path is not None and self._ended is None:  # once ended, the end stays said
            self.banner_bar.show_message(f"Transcript saved to {path}", "info")
        return path

    def on_removal_confirmed(self, participant_id: str, ban: bool) -> None:
        self.session.kick(ParticipantId(participant_id), ban=ban)  # from a ParticipantInfo

    def _person_menu(self, pos: QPoint) -> None:
        """The host's menu for a person (see :class:`desktop.people.PeoplePanel`)."""
        self.people_panel.on_menu_requested(pos)

    def show_bans(self) -> None:
        """Host controls → Banned people…: the bans in force, each of which can be lifted.
        One dialog, kept for the page's life and opened again (the room keeps it current)."""
        if self._bans_dialog is None:
            self._bans_dialog = BansDialog(self.session.bans, self)
            self._bans_dialog.unban_requested.connect(self.session.unban)
        else:
            self._bans_dialog.set_bans(self.session.bans)
        self._bans_dialog.open()

    def show_verification_code(self) -> None:
        """Host controls → Verification code…: the room's code in large digits, with Copy; its
        room code, if any, behind "Show room code". The dialog is deleted once closed: the
        room code does not stay in a live widget."""
        code = self.session.verification_code
        if code is None:
            return
        if self._verification_dialog is not None:
            self._verification_dialog.close()
        dialog = VerificationDialog(code, self.session.room_code, self)
        self._verification_dialog = dialog
        dialog.finished.connect(lambda _result: self._forget_verification_dialog(dialog))
        dialog.open()

    def _forget_verification_dialog(self, dialog: VerificationDialog) -> None:
        if self._verification_dialog is dialog:
            self._verification_dialog = None
        dialog.deleteLater()

    def on_copy_link_triggered(self) -> None:
        host = self.session.host
        if host is not None and host.links():
            QGuiApplication.clipboard().setText(host.links()[0])
            self.banner_bar.show_message(f"Room link copied: {host.links()[0]}", "info")

    def on_link_triggered(self) -> None:
        """Host controls → Room link, join code and QR code…: the links as text and as a code."""
        host = self.session.host
        if host is None or not host.links():
            return
        dialog = RoomLinkDialog(host.links(), self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    def on_assistant_settings_triggered(self) -> None:
        report = self._report
        assistant = self.session.room.assistant
        if report is None or assistant is None:
            return
        if self._assistant_dialog is not None:  # answered long ago: nothing waits on it
            self._assistant_dialog.deleteLater()
        dialog = self._assistant_dialog = AssistantSettingsDialog(report, self, assistant=assistant)
        dialog.accepted.connect(lambda: self.session.configure_assistant(dialog.settings()))
        dialog.open()

    def _assistant_ledger(self) -> UsageLedger | None:
        """The assistant's usage, when this app hosts the room and it has an assistant."""
        return self.session.host.server.assistant_ledger if self.session.host else None

    def on_usage_triggered(self) -> None:
        """Show the assistant's usage (one dialog, not modal: it follows the answers)."""
        ledger = self._assistant_ledger()
        if ledger is None:
            return
        dialog = self.findChild(UsageDialog)
        if dialog is None or dialog.ledger is not ledger:  # none yet, or a restarted room's
            if dialog is not None:
                dialog.deleteLater()
            dialog = UsageDialog(ledger, self)
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()


def _home() -> str:
    return QStandardPaths.writableLocation(QStandardPaths.StandardLocation.HomeLocation)
