"""Joining: the room address or link, your name and the password, and the notice about where
messages go that everyone sees before entering a room.

The room's name and its assistant's provider and model come from the room (or its
announcement) and may be hostile: they are shown as plain text, bounded and
direction-isolated (:mod:`desktop.labels`, :mod:`desktop.network_text`).
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from core.address import InvalidAddress, RoomAddress, parse_room_address
from core.protocol import RoomInfo, RoomPreview
from core.text_rules import TextRejected, name_key, normalize_display_name
from desktop.assistant_dialog import where_messages_go
from desktop.labels import PlainLabel, heading
from desktop.network_text import TEXT_CHARS, fenced, shorten

__all__ = [
    "AddressDialog",
    "DisclosureDialog",
    "JoinDialog",
    "history_note",
    "sentence",
]

EVERYONE_SEES = "Everything you write is visible to everyone here."
NOT_ENCRYPTED = (
    "The connection to the room is not encrypted: anyone on this network can read the "
    "messages and names as they travel."
)
ADVICE = (
    "Never share private, confidential or sensitive information here: financial details, "
    "health information or passwords. This is a shared space; assume that anything you type "
    "could become public."
)
NOTHING_KEPT = (
    "Nothing is kept after the room closes, on the host's computer or on yours: the app saves "
    "no transcript. Anyone here can still copy text or take a screenshot."
)


def history_note(history_shared: bool | None) -> str:
    """Whether people who join later can read what was written before: None when unknown
    (a room says so only once one is in it)."""
    if history_shared is None:
        return (
            "The host decides whether people who join later can read the recent conversation; "
            "assume they can."
        )
    if history_shared:
        return "People who join later can read the recent conversation, including what you write."
    return "People who join later see only what is written after they join."


def sentence(text: str) -> str:
    """``text`` as a sentence for people: a capital first letter and a full stop."""
    text = text.strip()
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _buttons(ok_text: str) -> QDialogButtonBox:
    box = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
    )
    box.button(QDialogButtonBox.StandardButton.Ok).setText(ok_text)
    return box


class AddressDialog(QDialog):
    """Asks for ``host:port`` or a ``gptgroup://`` link, checking it as it is typed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Join by address or link")
        self.address = QLineEdit(placeholderText="192.168.1.20:47321  or  gptgroup://…")
        self.problem = PlainLabel(name="problem", wrap=True)
        hint = PlainLabel(
            "Ask the host for the room's address or link. This works even where the network "
            "blocks the room list (guest Wi-Fi, many offices).",
            name="hint", wrap=True,
        )  # fmt: skip
        self.buttons = _buttons("Continue")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(hint)
        layout.addWidget(self.address)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        self.address.textChanged.connect(self._check)
        self._check("")
        _fit(self, 480)

    def _check(self, text: str) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        try:
            parse_room_address(text)
        except InvalidAddress as exc:
            ok.setEnabled(False)
            message = str(exc)
            self.problem.setText(message[:1].upper() + message[1:] if text.strip() else "")
            return
        ok.setEnabled(True)
        self.problem.setText("")

    def room_address(self) -> RoomAddress:
        return parse_room_address(self.address.text())


class JoinDialog(QDialog):
    """Your display name (remembered, not an account) and the room password when needed.

    ``taken_names`` are names known to be in the room already (the host's, from its
    announcement): typing one of them says that the room will add a number to yours. When a
    join is refused for the password, :meth:`show_refusal` says so in this dialog, with the
    password selected for typing again; nothing typed is cleared.
    """

    def __init__(
        self, room_name: str, name: str, *, password_required: bool,
        parent: QWidget | None = None, taken_names: Iterable[str] = (),
    ) -> None:  # fmt: skip
        super().__init__(parent)
        self.setWindowTitle(f"Join {fenced(room_name)}")
        self._taken = {name_key(n): n for n in taken_names if n}
        self.name = QLineEdit(name, placeholderText="How others will see you")
        self.name.setMaxLength(64)
        self.password = QLineEdit(echoMode=QLineEdit.EchoMode.Password)
        self.name_note = PlainLabel(name="hint", wrap=True)
        self.problem = PlainLabel(name="problem", wrap=True)
        self.form = QFormLayout()
        self.form.addRow("Your name", self.name)
        self.form.addRow("", self.name_note)
        self.form.addRow("Room password", self.password)
        self.form.setRowVisible(self.password, password_required)
        self.buttons = _buttons("Join")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.title = heading(fenced(room_name))
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addLayout(self.form)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        self.name.textChanged.connect(self._check)
        self.password.textChanged.connect(lambda _text: self.problem.setText(""))
        self._check(name)
        _fit(self, 400)

    def _check(self, text: str) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.problem.setText("")
        try:
            name = normalize_display_name(text)
        except TextRejected as exc:
            ok.setEnabled(False)
            self._note_name("")
            self.problem.setText(str(exc).capitalize() + "." if text.strip() else "")
            return
        ok.setEnabled(True)
        taken = self._taken.get(name_key(name))
        self._note_name(
            f"Someone called “{fenced(taken)}” is already in this room: choose another name, "
            f"or others will see yours with a number added, such as “{fenced(name)} (2)”."
            if taken is not None
            else ""
        )

    def _note_name(self, text: str) -> None:
        self.name_note.setText(text)
        self.form.setRowVisible(self.name_note, bool(text))

    def show_refusal(self, text: str, *, about_password: bool) -> None:
        """Say why the last try failed, in the dialog; for the password, show its field with
        what was typed selected, ready to be typed over. ``text`` may quote the room: it is
        cut to a few lines."""
        self.problem.setText(shorten(text, TEXT_CHARS))
        if about_password:
            self.form.setRowVisible(self.password, True)
            self.password.setFocus()
            self.password.selectAll()
        _fit(self, self.width())

    def password_shown(self) -> bool:
        return self.form.isRowVisible(self.password)

    def display_name(self) -> str:
        return normalize_display_name(self.name.text())

    def room_password(self) -> str | None:
        if not self.password_shown():
            return None
        return self.password.text() or None


class DisclosureDialog(QDialog):
    """Shown before entering a room: where messages go, that the connection is not encrypted,
    what people who join later can read, and that nothing is kept.

    ``history_shared`` is whether newcomers receive the recent conversation, when known (from
    an earlier visit to the same room); None says the host decides.
    """

    privacy_requested = Signal()

    def __init__(
        self, room: RoomInfo | RoomPreview, parent: QWidget | None = None, *,
        history_shared: bool | None = None,
    ) -> None:  # fmt: skip
        super().__init__(parent)
        self.setWindowTitle(f"Before you join {fenced(room.name)}")
        self.heading = heading(f"Before you join “{fenced(room.name)}”", scale=1.2)
        self.where = PlainLabel(f"{EVERYONE_SEES} {where_messages_go(room.assistant)}",
                                name="disclosureText", wrap=True)  # fmt: skip
        self.encryption = PlainLabel(NOT_ENCRYPTED, name="disclosureText", wrap=True)
        self.history = PlainLabel(history_note(history_shared), name="disclosureText", wrap=True)
        advice = PlainLabel(ADVICE, name="advice", wrap=True)
        kept = PlainLabel(NOTHING_KEPT, wrap=True)
        # Our own rich text, with no network text in it: the link to the privacy policy.
        link = QLabel('<a href="privacy">Read the privacy policy</a>')
        link.linkActivated.connect(lambda _href: self.privacy_requested.emit())
        buttons = _buttons("Join the room")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.setSpacing(12)
        for widget in (self.heading, self.where, self.encryption, self.history, advice, kept,
                       link):  # fmt: skip
            layout.addWidget(widget)
        layout.addSpacing(6)
        layout.addStretch(1)  # any height to spare goes here, not between paragraphs
        layout.addWidget(buttons)
        _fit(self, 520)


def _fit(dialog: QDialog, width: int) -> None:
    """Give a dialog of wrapped text a fixed width and the height its text needs there.

    (``adjustSize`` would take the layout's size hint, worked out for text wrapped at its
    narrowest: far too tall at the width given.)"""
    dialog.setFixedWidth(width)
    dialog.ensurePolished()  # the style sheet's paddings count
    layout = dialog.layout()
    if layout is None:
        dialog.adjustSize()
        return
    layout.activate()
    height = (layout.heightForWidth(width) if layout.hasHeightForWidth()
              else layout.sizeHint().height())  # fmt: skip
    dialog.setMinimumHeight(height)
    dialog.resize(width, height)
