"""The room: transcript, people, the assistant's state, the composer, and host controls.

Nearly everything here comes from the room, which may be hostile: labels are plain text
(:mod:`desktop.labels`), one-line ones elided, and names and other network text are fenced
off from our own words (:func:`desktop.network_text.fenced`).
"""

from __future__ import annotations

import time

from PySide6.QtCore import QModelIndex, QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QGuiApplication
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QListView,
    QMenu,
    QMessageBox,
    QPushButton,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.client import ClientEvent, Ended, Reconnecting, Resumed, SendFailed
from core.protocol import (
    AssistantReport,
    ErrorMessage,
    ParticipantInfo,
    RoomInfo,
    RoomUpdated,
    TypingChanged,
)
from core.transcript import Entry
from desktop.assistant_dialog import AssistantSettingsDialog
from desktop.composer import Composer
from desktop.delegate import MessageDelegate
from desktop.join_dialogs import disclosure, sentence
from desktop.labels import ElidedLabel, PlainLabel
from desktop.models import MessageListModel, ParticipantListModel, Roles
from desktop.network_text import FIELD_CHARS, TEXT_CHARS, fenced, one_line, shorten
from desktop.session import RoomSession

__all__ = ["ChatPage"]


TYPING_EXPIRES = 6.0
TYPING_NAME_CHARS = 24
BANNER_CHARS = 600

_ENDED_WORDS = {
    "closed_by_host": "The host closed the room.",
    "host_shutdown": "The host shut down the room.",
    "kicked": "The host removed you from the room.",
    "banned": "The host banned you from this room.",
    "unreachable": "The room cannot be reached any more.",
    "replaced": "You joined this room from another window, so this one was disconnected.",
    "left": "You left the room.",
}


class ChatPage(QWidget):
    """One room, live. Emits :attr:`left` when the user is done with it."""

    left = Signal()

    def __init__(self, session: RoomSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.client = session.client
        self.model = MessageListModel(self)
        self.people = ParticipantListModel(self)
        self._typing: dict[str, float] = {}
        self._report: AssistantReport | None = None
        self._ended: Ended | None = None
        self._instance = self.client.instance
        self._names: list[str] = []
        self._at_bottom = True
        self._stoppable: str | None = None
        self._banner_text = ""
        self._build()
        self._connect_signals()
        me = self.client.you
        self.model.transcript.set_participants(self.client.participants, me.id)
        self._room_changed(self.client.room)
        self._typing_timer = QTimer(self)
        self._typing_timer.setInterval(1000)
        self._typing_timer.timeout.connect(self._show_typing)
        self._typing_timer.start()

    # ----------------------------------------------------------------- building

    def _build(self) -> None:
        self.setObjectName("chatPage")
        self.title = ElidedLabel(name="roomTitle")
        self.subtitle = PlainLabel(name="disclosure", wrap=True)
        self.host_menu_button = QToolButton(text="Host controls", objectName="hostControls")
        self.host_menu_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.leave_button = QPushButton("Leave")
        header_text = QVBoxLayout()
        header_text.addWidget(self.title)
        header_text.addWidget(self.subtitle)
        header = QHBoxLayout()
        header.addLayout(header_text, 1)
        header.addWidget(self.host_menu_button)
        header.addWidget(self.leave_button)

        self.banner = PlainLabel(name="banner", wrap=True)
        self.banner.hide()

        self.view = QListView(objectName="messages")
        self.view.setModel(self.model)
        self.view.setItemDelegate(MessageDelegate(self.view))
        self.view.setVerticalScrollMode(QListView.ScrollMode.ScrollPerPixel)
        self.view.setLayoutMode(QListView.LayoutMode.Batched)
        self.view.setBatchSize(100)
        self.view.setUniformItemSizes(False)
        self.view.setSelectionMode(QListView.SelectionMode.SingleSelection)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.setWordWrap(True)
        self.view.setFrameShape(QFrame.Shape.NoFrame)

        self.people_view = QListView(objectName="people")
        self.people_view.setModel(self.people)
        self.people_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        # A long name is cut in the middle to the panel's width, so that "host" or
        # "reconnecting…" after it still shows (the whole name is in the tooltip).
        self.people_view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.people_view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.people_view.setResizeMode(QListView.ResizeMode.Adjust)
        self.people_title = PlainLabel(name="panelTitle")
        self.usage_label = PlainLabel(name="usage", wrap=True)
        side = QVBoxLayout()
        side.addWidget(self.people_title)
        side.addWidget(self.people_view, 1)
        side.addWidget(self.usage_label)
        side_widget = QWidget(objectName="sidePanel")
        side_widget.setLayout(side)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.view)
        splitter.addWidget(side_widget)
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([640, 200])

        self.assistant_line = ElidedLabel(name="assistantState")
        self.stop_button = QPushButton("Stop")
        self.regenerate_button = QPushButton("Regenerate")
        self.typing_line = ElidedLabel(name="typing")
        status = QHBoxLayout()
        status.addWidget(self.assistant_line, 1)
        status.addWidget(self.typing_line, 1)  # both shrink, to "…" at worst
        status.addWidget(self.stop_button)
        status.addWidget(self.regenerate_button)

        self.composer = Composer()
        self.send_button = QPushButton("Send", objectName="primary")
        composer_row = QHBoxLayout()
        composer_row.addWidget(self.composer, 1)
        composer_row.addWidget(self.send_button, 0, Qt.AlignmentFlag.AlignBottom)

        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.banner)
        layout.addWidget(splitter, 1)
        layout.addLayout(status)
        layout.addLayout(composer_row)
        self._build_host_menu()

    def _build_host_menu(self) -> None:
        menu = QMenu(self)
        self.copy_link_action = QAction("Copy room link", self)
        self.lock_action = QAction("Lock the room to new people", self, checkable=True)
        self.assistant_action = QAction("Assistant settings…", self)
        self.close_action = QAction("Close the room for everyone…", self)
        for action in (self.copy_link_action, self.lock_action, self.assistant_action):
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(self.close_action)
        self.host_menu_button.setMenu(menu)
        self.host_menu_button.setVisible(self.session.is_host)
        self.copy_link_action.setEnabled(self.session.host is not None)

    def _connect_signals(self) -> None:
        self.session.event_received.connect(self.on_event)
        self.session.action_failed.connect(self._show_problem)
        self.composer.submitted.connect(self.send)
        self.composer.typing_changed.connect(self.session.set_typing)
        self.send_button.clicked.connect(self.composer.submit)
        self.leave_button.clicked.connect(self._leave_clicked)
        self.stop_button.clicked.connect(self._stop_clicked)
        self.regenerate_button.clicked.connect(self._regenerate_clicked)
        self.view.customContextMenuRequested.connect(self._message_menu)
        self.people_view.customContextMenuRequested.connect(self._person_menu)
        self.copy_link_action.triggered.connect(self._copy_link)
        self.lock_action.toggled.connect(self.session.lock)
        self.assistant_action.triggered.connect(self._assistant_settings)
        self.close_action.triggered.connect(self._close_room_clicked)
        self.model.rowsInserted.connect(self._follow)
        self.model.dataChanged.connect(self._follow_growth)
        self.model.rowsAboutToBeInserted.connect(self._note_position)

    # ----------------------------------------------------------------- events

    def on_event(self, event: ClientEvent) -> None:
        self.model.apply(event)
        match event:
            case TypingChanged(participant=pid, active=active):
                if active:
                    self._typing[pid] = time.monotonic()
                else:
                    self._typing.pop(pid, None)
                self._show_typing()
            case RoomUpdated(room=room):
                self._room_changed(room)
            case AssistantReport():
                self._report = event
                self._show_usage()
            case SendFailed(id=client_id, message=message):
                self.model.drop_pending(client_id)
                self._show_problem(f"Not sent: {shorten(one_line(message), TEXT_CHARS)}")
            case ErrorMessage(message=message):
                self._show_problem(sentence(shorten(one_line(message), TEXT_CHARS)))
            case Reconnecting(attempt=attempt):
                self._set_banner(
                    f"Connection lost. Reconnecting (attempt {attempt})… Messages you write now "
                    "are sent when it is back.",
                    "warning",
                )
            case Resumed(resumed=resumed, history_complete=complete):
                self._resumed(resumed, complete)
            case Ended():
                self._end(event)
        self._refresh_people()
        self._refresh_assistant()

    def _resumed(self, resumed: bool, complete: bool) -> None:
        if self.client.instance != self._instance:  # the host restarted the room
            self._instance = self.client.instance
            self.model.transcript.new_room()
            text = "The host restarted the room: you are back in, as a new participant."
        elif not resumed:
            text = "Reconnected, as a new participant: you were away too long."
        elif not complete:
            text = "Reconnected. Some messages from while you were away are no longer available."
        else:
            text = "Reconnected."
        self.model.transcript.set_participants(self.client.participants, self.client.you.id)
        self._room_changed(self.client.room)
        self._show_problem(text, level="info")

    def _room_changed(self, room: RoomInfo) -> None:
        self.title.setText(room.name)
        self.subtitle.setText(disclosure(room))
        self.lock_action.blockSignals(True)
        self.lock_action.setChecked(room.locked)
        self.lock_action.blockSignals(False)
        self.assistant_action.setEnabled(room.assistant is not None)
        self._refresh_people()
        self._refresh_assistant()

    def _refresh_people(self) -> None:
        assistant = self.client.room.assistant
        self.people.set_people(
            self.client.participants, assistant.name if assistant else None, self.client.you.id
        )
        count = len(self.client.participants)
        self.people_title.setText(f"People here · {count}")
        names = [p.name for p in self.client.participants.values()]
        if assistant is not None:
            names.append(assistant.name)
        if names != self._names:  # resetting the list would lose the highlighted choice
            self._names = names
            self.composer.set_names(names)

    def _refresh_assistant(self) -> None:
        state = self.client.assistant_state
        me = self.client.you.id if self._ended is None else ""
        host = self.session.is_host and self._ended is None
        assistant = self.client.room.assistant
        if assistant is None:
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
        self._stoppable = self._stoppable_answer(me, host)
        self.stop_button.setVisible(self._stoppable is not None)
        mine_waiting = answering is None or self._stoppable != answering.answer
        self.stop_button.setText("Withdraw my question" if mine_waiting else "Stop")
        last = self._last_answer()
        self.regenerate_button.setVisible(
            last is not None and answering is None and (host or last.asked_by_id == me)
        )

    def _last_answer(self) -> Entry | None:
        for entry in reversed(self.model.transcript.entries):
            if entry.kind == "answer" and entry.status not in ("streaming", ""):
                return entry
        return None

    def _show_typing(self) -> None:
        now = time.monotonic()
        self._typing = {p: t for p, t in self._typing.items() if now - t < TYPING_EXPIRES}
        names = [  # short enough for "are typing…" to stay in view
            fenced(self.client.participants[p].name, TYPING_NAME_CHARS)
            for p in self._typing
            if p in self.client.participants
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

    def _set_banner(self, text: str, level: str) -> None:
        text = shorten(text, BANNER_CHARS)  # it may quote the room
        self.banner.setProperty("level", level)
        self.banner.style().unpolish(self.banner)
        self.banner.style().polish(self.banner)
        self.banner.setText(text)
        self._banner_text = text
        self.banner.setVisible(bool(text))

    def _end(self, ended: Ended) -> None:
        self._ended = ended
        for client_id, _text in self.client.pending:
            self.model.drop_pending(client_id)  # they will never be sent now
        said = sentence(shorten(one_line(ended.message), TEXT_CHARS))
        text = _ENDED_WORDS.get(ended.reason) or said
        if ended.reason == "closed_by_host" and self.session.is_host:
            text = "You closed the room."
        if ended.reason != "left":
            self._set_banner(f"{text} The conversation stays here until you leave.", "error")
        self.composer.setEnabled(False)
        self.send_button.setEnabled(False)
        self.host_menu_button.setEnabled(False)
        self.leave_button.setText("Back to rooms")

    def _show_problem(self, text: str, level: str = "warning") -> None:
        """A banner that goes away by itself (unless something else replaced it)."""
        text = shorten(text, BANNER_CHARS)
        self._set_banner(text, level)
        QTimer.singleShot(6000, self, lambda: self._hide_banner_if(text))

    def _hide_banner_if(self, text: str) -> None:
        if self._banner_text == text and self._ended is None:
            self.banner.hide()

    def _note_position(self, *_: object) -> None:
        bar = self.view.verticalScrollBar()
        self._at_bottom = bar.value() >= bar.maximum() - 80

    def _follow(self, _parent: QModelIndex, _first: int, _last: int) -> None:
        """Keep the newest message in view, unless the user scrolled up to read."""
        if self._at_bottom:
            QTimer.singleShot(0, self, self.view.scrollToBottom)

    def _follow_growth(self, first: QModelIndex, *_: object) -> None:
        """A streaming answer grows in place: keep its end in view, as for new rows."""
        bar = self.view.verticalScrollBar()  # not laid out again yet: where the reader was
        if first.row() == self.model.rowCount() - 1 and bar.value() >= bar.maximum() - 80:
            QTimer.singleShot(0, self, self.view.scrollToBottom)

    # ----------------------------------------------------------------- actions

    def send(self, text: str) -> None:
        client_id = self.session.send(text)
        if client_id is not None:
            self.model.add_pending(client_id, text, self.client.you.name, time.time())
            self.view.scrollToBottom()

    def _stoppable_answer(self, me: str, host: bool) -> str | None:
        """The answer the Stop button acts on: the one being written, when we may stop it,
        else our own question still waiting in the queue."""
        state = self.client.assistant_state
        if state is None or not me:
            return None
        if state.answering is not None and (host or state.answering.asked_by == me):
            return state.answering.answer
        return next((t.answer for t in state.waiting if t.asked_by == me), None)

    def _stop_clicked(self) -> None:
        if self._stoppable is not None:
            self.session.stop_answer(self._stoppable)

    def _regenerate_clicked(self) -> None:
        last = self._last_answer()
        if last is not None:
            self.session.regenerate(last.answer_id)

    def _leave_clicked(self) -> None:
        if self._ended is None and self.session.host is not None:
            answer = QMessageBox.question(
                self, "Close the room?",
                "You host this room. Leaving closes it for everyone, and the conversation is "
                "gone for good.",
            )  # fmt: skip
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.left.emit()

    def _close_room_clicked(self) -> None:
        answer = QMessageBox.question(
            self, "Close the room?",
            "Everyone is told the host closed the room, and the conversation is gone for good.",
        )  # fmt: skip
        if answer == QMessageBox.StandardButton.Yes:
            self.session.close_room()

    def _copy_link(self) -> None:
        host = self.session.host
        if host is not None and host.links():
            QGuiApplication.clipboard().setText(host.links()[0])
            self._set_banner(f"Room link copied: {host.links()[0]}", "info")

    def _assistant_settings(self) -> None:
        report = self._report
        assistant = self.client.room.assistant
        if report is None or assistant is None:
            return
        dialog = AssistantSettingsDialog(report, self)
        if dialog.exec():
            self.session.configure_assistant(**dialog.settings())

    def _message_menu(self, pos: QPoint) -> None:
        index = self.view.indexAt(pos)
        entry = index.data(Roles.ENTRY) if index.isValid() else None
        if not isinstance(entry, Entry) or not entry.text:
            return
        menu = QMenu(self)
        menu.addAction("Copy text", lambda: QGuiApplication.clipboard().setText(entry.text))
        menu.exec(self.view.viewport().mapToGlobal(pos))

    def _person_menu(self, pos: QPoint) -> None:
        index = self.people_view.indexAt(pos)
        person = index.data(Roles.PARTICIPANT) if index.isValid() else None
        if not isinstance(person, ParticipantInfo) or not self.session.is_host:
            return
        if person.role == "assistant" or person.id == self.client.you.id or self._ended:
            return
        menu = QMenu(self)
        # A menu item's text is plain, but "&" marks a shortcut key: double it to show it.
        name = fenced(person.name).replace("&", "&&")
        menu.addAction(f"Remove {name}", lambda: self.session.kick(person.id))
        menu.addAction(f"Remove and ban {name}", lambda: self.session.kick(person.id, ban=True))
        menu.exec(self.people_view.viewport().mapToGlobal(pos))
