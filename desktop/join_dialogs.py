"""Joining: the room address, link or join code, your name and the room code, and the notice
that everyone sees before entering a room: the room's verification code, where messages go,
what the encryption protects and what it does not.

The room's name and its assistant's provider and model come from the room (or its
announcement) and may be hostile: they are shown as plain text, bounded and
direction-isolated (:mod:`desktop.labels`, :mod:`desktop.network_text`).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from typing import Literal

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent, QPaintEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from core.address import InvalidAddress, RoomAddress, host_port, parse_room_address
from core.join_code import JoinCode, JoinCodeError, parse_join_code
from core.pake import InvalidRoomCode, normalise_room_code
from core.protocol import RoomInfo, RoomPreview
from core.text_rules import TextRejected, name_key, normalize_display_name
from desktop.assistant_dialog import where_messages_go
from desktop.labels import (
    PlainLabel,
    fit_to_width,
    heading,
    make_tab_stop,
    outdented,
    paint_focus_outline,
)
from desktop.network_text import TEXT_CHARS, fenced, shorten
from desktop.verification import COMPARE_WITH_HOST, WHERE_THE_HOST_SEES_IT, code_font, code_label

__all__ = [
    "CHECKED_WORDS",
    "AddressDialog",
    "Checked",
    "DisclosureDialog",
    "JoinDialog",
    "LinkLabel",
    "history_note",
    "looks_like_join_code",
    "namesakes_words",
    "room_code_problem",
    "sentence",
]

Checked = Literal["list", "link", "code", "same_room", "changed"]
"""What the room's certificate was checked against before joining: the announcement in the
room list, the room link's ``fp``, the join code's tag, or the certificate of the room the
person was in before (the host restarted it). ``"changed"``: it was checked against that one
and is *not* it (the room the person was in came back with another certificate; a warning).
Nothing (None) for a typed address, or a room only a search found: people compare the
code."""

CHECKED_WORDS: dict[Checked, str] = {
    "list": (
        "Checked: this is the room the list announced. Another room could use the same name; "
        f"if in doubt, compare the code with the host's ({WHERE_THE_HOST_SEES_IT})."
    ),
    "link": (
        "Checked: this is the room the link names. The host sees the same code in "
        f"{WHERE_THE_HOST_SEES_IT}."
    ),
    "code": (
        "Checked: this room's certificate fits the join code. A code names the certificate "
        "only in part: if in doubt, compare this code with the host's "
        f"({WHERE_THE_HOST_SEES_IT})."
    ),
    "same_room": "Checked: it has the same certificate as the room you were in.",
    "changed": (
        "This is not the certificate of the room you were in. The host may have restarted the "
        "room — or someone may be impersonating it. Compare the code with the host's before "
        "joining; if the room came from a link, ask the host for a new link."
    ),
}

UNCHECKED: frozenset[Checked | None] = frozenset({None, "changed"})
"""What leaves the code unconfirmed: the notice warns, and Enter does not join."""


def namesakes_words(name: str, count: int) -> str:
    """What the notice says of a listed room that ``count`` rooms (this one included) with
    different certificates announce under its name: a warning, whatever the list checked."""
    return (
        f"{count} rooms on this network are called “{fenced(name)}” with different "
        "certificates: compare the code with the host's before joining."
    )


EVERYONE_SEES = "Everything you write is visible to everyone here."
ENCRYPTED = (
    "The connection to the room is encrypted: others on this network cannot read what is "
    "written. The host's computer still sees everything in the room, and the AI provider "
    "sees what is sent to it."
)
ADVICE = (
    "Never share private, confidential or sensitive information here: financial details, "
    "health information or passwords. This is a shared space; assume that anything you type "
    "could become public. A shared file reaches the AI only if its sender allows it."
)
NOTHING_KEPT = (
    "Nothing is kept after the room closes, on the host's computer or on yours: the app saves "
    "a transcript only when someone asks it to. Anyone here can also copy text or take a "
    "screenshot."
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


_CODE_SHAPE = re.compile(r"[0-9A-Za-z][0-9A-Za-z\- ]*")


def looks_like_join_code(text: str) -> bool:
    """Whether ``text`` is meant as a join code rather than an address: letters and digits
    (hyphens and spaces between them), with at least one digit, and nothing an address or a
    link has (a dot, a colon, a slash). A computer's bare name with a digit in it reads as a
    code too: with its port (``pc1:47321``) it is an address."""
    text = text.strip()
    return bool(_CODE_SHAPE.fullmatch(text)) and any(c.isdigit() for c in text)


class AddressDialog(QDialog):
    """Asks for ``host:port``, a ``gptgroup://`` link or a join code, checking it as it is
    typed: what cannot be one says why under the field, and Continue stays off (a code with a
    typo is never taken for a computer's name). A valid code says where it leads."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Join by address, link or code")
        self.label = QLabel("Address, room link or join code")
        self.address = QLineEdit(
            placeholderText="G12G-P7HD-H0T  or  192.168.1.20:47321  or  gptgroup://…"
        )
        self.address.setAccessibleName("Address, room link or join code")
        self.label.setBuddy(self.address)
        self.problem = PlainLabel(name="problem", wrap=True)
        self.where = PlainLabel(name="hint", wrap=True)
        hint = PlainLabel(
            "Ask the host for the room's join code, link or address (a computer's address or "
            "name with the port). This works even where the network blocks the room list "
            "(guest Wi-Fi, many offices). With the link or the code, the app checks that it "
            "reaches the host's room; with an address alone, you compare a code with the host "
            "before joining.",
            name="hint", wrap=True,
        )  # fmt: skip
        self.buttons = _buttons("Continue")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(hint)
        layout.addSpacing(4)
        layout.addWidget(self.label)
        layout.addWidget(self.address)
        layout.addWidget(self.problem)
        layout.addWidget(self.where)
        layout.addWidget(self.buttons)
        self.address.textChanged.connect(self._check)
        self._check("")
        fit_to_width(self, 480)

    def _check(self, text: str) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        where = ""
        try:
            if looks_like_join_code(text):
                code = parse_join_code(text)
                where = f"A join code: the room at {host_port(code.address, code.port)}."
            else:
                parse_room_address(text)
        except (InvalidAddress, JoinCodeError) as exc:
            ok.setEnabled(False)
            self._say(sentence(str(exc)) if text.strip() else "", "")
            return
        ok.setEnabled(True)
        self._say("", where)

    def _say(self, problem: str, where: str) -> None:
        """One line under the field (its room kept while empty): the problem, or where a
        valid code leads."""
        self.problem.setText(problem)
        self.where.setText(where)
        self.where.setVisible(bool(where))
        self.problem.setVisible(not where)

    def join_code(self) -> JoinCode | None:
        """The join code typed, or None when what was typed is an address or a link."""
        text = self.address.text()
        return parse_join_code(text) if looks_like_join_code(text) else None

    def room_address(self) -> RoomAddress:
        """The address or link typed (when :meth:`join_code` is None)."""
        return parse_room_address(self.address.text())


class JoinDialog(QDialog):
    """Your display name (remembered, not an account) and the room code when needed.

    ``taken_names`` are names known to be in the room already (the host's, from its
    announcement): typing one of them says that the room will add a number to yours. A room
    code that could never be right (empty of anything but spaces and dashes, too long, or with
    characters that cannot be typed) is said under its field as it is typed. When a join is
    refused for the code, :meth:`show_refusal` says so in this dialog, with the code selected
    for typing again; nothing typed is cleared.
    """

    def __init__(
        self, room_name: str, name: str, *, code_required: bool,
        parent: QWidget | None = None, taken_names: Iterable[str] = (),
    ) -> None:  # fmt: skip
        super().__init__(parent)
        self.setWindowTitle(f"Join {fenced(room_name)}")
        self._taken = {name_key(n): n for n in taken_names if n}
        self.name = QLineEdit(name, placeholderText="How others will see you")
        self.name.setMaxLength(64)
        # Shown as typed: a room code is read aloud or passed on, and a typo is easier to
        # see than to guess. Spaces and dashes are welcome (they are not part of the code).
        self.code = QLineEdit(placeholderText="The code the host gave you")
        self.code.setFont(code_font(self.code.font(), bold=False))
        self.code.setAccessibleName("Room code")
        self.name_note = PlainLabel(name="hint", wrap=True)
        self.code_note = PlainLabel(name="problem", wrap=True)
        self.problem = PlainLabel(name="problem", wrap=True)
        self.form = QFormLayout()
        self.form.addRow("Your name", self.name)
        self.form.addRow("", self.name_note)
        self.form.addRow("Room code", self.code)
        self.form.addRow("", self.code_note)
        self.form.setRowVisible(self.code, code_required)
        self.form.setRowVisible(self.code_note, False)
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
        self.code.textChanged.connect(self._check_code)
        self._check(name)
        fit_to_width(self, 400)

    def _check(self, text: str) -> None:
        self.problem.setText("")
        try:
            name = normalize_display_name(text)
        except TextRejected as exc:
            self._note_name("")
            self.problem.setText(str(exc).capitalize() + "." if text.strip() else "")
            self._update_ok()
            return
        taken = self._taken.get(name_key(name))
        self._note_name(
            f"Someone called “{fenced(taken)}” is already in this room: choose another name, "
            f"or others will see yours with a number added, such as “{fenced(name)} (2)”."
            if taken is not None
            else ""
        )
        self._update_ok()

    def _check_code(self, text: str) -> None:
        problem = room_code_problem(text)
        self.code_note.setText(problem)
        self.form.setRowVisible(self.code_note, bool(problem))
        self._check(self.name.text())  # a refusal said was about the code as it was

    def _update_ok(self) -> None:
        """Join is offered once the name is usable and, where a code is asked for, one that
        could be right has been typed."""
        try:
            normalize_display_name(self.name.text())
        except TextRejected:
            name_ok = False
        else:
            name_ok = True
        text = self.code.text()
        code_ok = not self.code_shown() or (bool(text.strip()) and not room_code_problem(text))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(name_ok and code_ok)

    def _note_name(self, text: str) -> None:
        self.name_note.setText(text)
        self.form.setRowVisible(self.name_note, bool(text))

    def show_refusal(self, text: str, *, about_code: bool) -> None:
        """Say why the last try failed, in the dialog; for the room code, show its field with
        what was typed selected, ready to be typed over. ``text`` may quote the room: it is
        cut to a few lines."""
        if about_code:
            self.form.setRowVisible(self.code, True)
            self._update_ok()
            self.code.setFocus()
            self.code.selectAll()
        self.problem.setText(shorten(text, TEXT_CHARS))
        fit_to_width(self, self.width())

    def code_shown(self) -> bool:
        return self.form.isRowVisible(self.code)

    def display_name(self) -> str:
        return normalize_display_name(self.name.text())

    def room_code(self) -> str | None:
        """The room code as typed (the room compares it in its normal form), or None."""
        if not self.code_shown():
            return None
        return self.code.text().strip() or None


def room_code_problem(text: str) -> str:
    """Why ``text`` can never be a room code, as a sentence; empty when it can be, or when
    nothing was typed."""
    if not text.strip():
        return ""
    try:
        normalise_room_code(text)
    except InvalidRoomCode as exc:
        return sentence(str(exc))
    return ""


class LinkLabel(QLabel):
    """One link of ours (rich text with no network text in it), reached by Tab and followed
    with Enter or Space as well as clicked: :attr:`linkActivated` with ``href``.

    (Qt reaches the label by Tab but needs a second Tab to pick the link inside it; Enter
    before that went on to the dialog's default button, and could join a room.)"""

    def __init__(self, text: str, href: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._href = href
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setText(f'<a href="{html.escape(href)}">{html.escape(text)}</a>')
        self.setTextInteractionFlags(
            Qt.TextInteractionFlag.LinksAccessibleByKeyboard
            | Qt.TextInteractionFlag.LinksAccessibleByMouse
        )
        make_tab_stop(self)
        self.setAccessibleName(text)

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        paint_focus_outline(self)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        keys = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space)
        if event.key() in keys and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            event.accept()
            self.linkActivated.emit(self._href)
            return
        super().keyPressEvent(event)


class DisclosureDialog(QDialog):
    """Shown before entering a room: the room's verification code, where messages go, what
    the encryption protects and what it does not, what people who join later can read, and
    that nothing is kept.

    ``verification_code`` is the code of the certificate the room presented; ``checked``
    what that certificate was checked against (see :data:`Checked`). ``namesakes`` is how
    many rooms with different certificates the list shows under this room's name (this one
    included; 0 or 1: none other). Unchecked (a typed address, or a certificate that
    changed) or with namesakes, the dialog warns that the code must be compared with the
    host's before joining, and Cancel is the default button and has the focus: Enter, however
    often pressed, does not join a room whose code nobody looked at ("Join the room" is one
    Tab or click away). ``history_shared`` is whether newcomers receive the recent
    conversation, when known (from an earlier visit to the same room); None says the host
    decides.
    """

    privacy_requested = Signal()

    def __init__(
        self, room: RoomInfo | RoomPreview, parent: QWidget | None = None, *,
        history_shared: bool | None = None, verification_code: str | None = None,
        checked: Checked | None = None, namesakes: int = 0,
    ) -> None:  # fmt: skip
        super().__init__(parent)
        self.setWindowTitle(f"Before you join {fenced(room.name)}")
        self.heading = heading(f"Before you join “{fenced(room.name)}”", scale=1.2)
        self.code: PlainLabel | None = None
        self.code_words: PlainLabel | None = None
        # Nothing vouches for the code: it is what keeps an impostor out.
        self.cautious = checked in UNCHECKED or namesakes > 1
        code_widgets: list[QWidget] = []
        if verification_code is not None:
            self.code = code_label(verification_code, what="Verification code")
            if namesakes > 1:
                words = namesakes_words(room.name, namesakes)
            else:
                words = COMPARE_WITH_HOST if checked is None else CHECKED_WORDS[checked]
            self.code_words = PlainLabel(
                words, name="advice" if self.cautious else "hint", wrap=True
            )
            code_widgets = [heading("Verification code"), self.code, self.code_words]
        self.where = PlainLabel(f"{EVERYONE_SEES} {where_messages_go(room.assistant)}",
                                name="disclosureText", wrap=True)  # fmt: skip
        self.encryption = PlainLabel(ENCRYPTED, name="disclosureText", wrap=True)
        self.history = PlainLabel(history_note(history_shared), name="disclosureText", wrap=True)
        advice = PlainLabel(ADVICE, name="advice", wrap=True)
        kept = PlainLabel(NOTHING_KEPT, wrap=True)
        self.privacy_link = link = LinkLabel("Read the privacy policy", "privacy")
        link.linkActivated.connect(lambda _href: self.privacy_requested.emit())
        self.buttons = buttons = _buttons("Join the room")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.join_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.cancel_button = buttons.button(QDialogButtonBox.StandardButton.Cancel)
        layout = QVBoxLayout(self)
        layout.setSpacing(12)
        layout.addWidget(self.heading)
        if code_widgets:
            code_box = QVBoxLayout()
            code_box.setSpacing(4)
            for widget in code_widgets:
                if widget is self.code:
                    code_box.addLayout(outdented(self.code))
                else:
                    code_box.addWidget(widget)
            layout.addLayout(code_box)
        for widget in (self.where, self.encryption, self.history, advice, kept):
            layout.addWidget(widget)
        layout.addLayout(outdented(link))
        layout.addSpacing(6)
        layout.addStretch(1)  # any height to spare goes here, not between paragraphs
        layout.addWidget(buttons)
        # The focus (set once the buttons are in the dialog) is given when it is shown: on
        # the default button, not on the code, which Tab reaches.
        if self.cautious:
            self.cancel_button.setDefault(True)
            self.cancel_button.setFocus()
        else:
            self.join_button.setFocus()
        fit_to_width(self, 520)
