"""Joining: the room address or link, your name and the password, and the notice about where
messages go that everyone sees before entering a room for the first time in a session.

The room's name and its assistant's provider and model come from the room (or its
announcement) and may be hostile: they are shown as plain text, bounded and
direction-isolated (:mod:`desktop.labels`, :mod:`desktop.network_text`).
"""

from __future__ import annotations

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
from core.protocol import RoomInfo
from core.text_rules import TextRejected, normalize_display_name
from desktop.labels import PlainLabel, heading
from desktop.network_text import FIELD_CHARS, fenced

__all__ = ["AddressDialog", "DisclosureDialog", "JoinDialog", "disclosure", "sentence"]


def disclosure(room: RoomInfo) -> str:
    """Where messages go, in one sentence: for the room header and the join notice."""
    assistant = room.assistant
    if assistant is None:
        return "Everything you write is visible to everyone here. This room has no assistant."
    where = "a local server on the host's network" if assistant.provider_kind == "local" else (
        "the cloud"
    )  # fmt: skip
    provider, model = fenced(assistant.provider, FIELD_CHARS), fenced(assistant.model, FIELD_CHARS)
    return (
        f"Everything you write is visible to everyone here and sent by the host to "
        f"{provider} / {model} ({where})."
    )


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
    """Your display name (remembered, not an account) and the room password when needed."""

    def __init__(
        self, room_name: str, name: str, *, password_required: bool, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Join {fenced(room_name)}")
        self.name = QLineEdit(name, placeholderText="How others will see you")
        self.name.setMaxLength(64)
        self.password = QLineEdit(echoMode=QLineEdit.EchoMode.Password)
        self.problem = PlainLabel(name="problem", wrap=True)
        form = QFormLayout()
        form.addRow("Your name", self.name)
        if password_required:
            form.addRow("Room password", self.password)
        self.buttons = _buttons("Join")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.title = heading(fenced(room_name))
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        self.name.textChanged.connect(self._check)
        self._check(name)
        _fit(self, 400)

    def _check(self, text: str) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        try:
            normalize_display_name(text)
        except TextRejected as exc:
            ok.setEnabled(False)
            self.problem.setText(str(exc).capitalize() + "." if text.strip() else "")
            return
        ok.setEnabled(True)
        self.problem.setText("")

    def display_name(self) -> str:
        return normalize_display_name(self.name.text())

    def room_password(self) -> str | None:
        return self.password.text() or None


class DisclosureDialog(QDialog):
    """Shown before entering a room for the first time in a session."""

    privacy_requested = Signal()

    def __init__(self, room: RoomInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Before you join {fenced(room.name)}")
        self.heading = heading(f"Before you join “{fenced(room.name)}”", scale=1.2)
        self.where = PlainLabel(disclosure(room), name="disclosureText", wrap=True)
        advice = PlainLabel(
            "Never share private, confidential or sensitive information here: financial "
            "details, health information or passwords. This is a shared space; assume that "
            "anything you type could become public.",
            name="advice", wrap=True,
        )  # fmt: skip
        kept = PlainLabel(
            "Nothing is kept after the room closes, on the host's computer or on yours, unless "
            "someone saves a copy.",
            wrap=True,
        )
        # Our own rich text, with no network text in it: the link to the privacy policy.
        link = QLabel('<a href="privacy">Read the privacy policy</a>')
        link.linkActivated.connect(lambda _href: self.privacy_requested.emit())
        buttons = _buttons("Join the room")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.setSpacing(12)
        for widget in (self.heading, self.where, advice, kept, link):
            layout.addWidget(widget)
        layout.addSpacing(6)
        layout.addWidget(buttons)
        _fit(self, 500)


def _fit(dialog: QDialog, width: int) -> None:
    """Give a dialog of wrapped text a fixed width and the height its text needs there."""
    dialog.setFixedWidth(width)
    layout = dialog.layout()
    if layout is not None:
        layout.activate()
        dialog.setMinimumHeight(layout.heightForWidth(width) if layout.hasHeightForWidth()
                                else layout.sizeHint().height())  # fmt: skip
    dialog.adjustSize()
