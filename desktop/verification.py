"""A room's codes, shown so that people can read them aloud and compare them.

Two codes belong to a room:

* its *verification code* (:func:`core.room_tls.verification_code`), five groups of four
  digits derived from the room certificate's fingerprint. The host sees it in Host controls →
  Verification code…; a guest sees it before joining and in the room's header. Equal codes mean
  the guest reached the host's room; different ones, that something else answered. It is no
  secret: the host may show it to everyone.
* its *room code* (:func:`core.pake.generate_room_code`), which the host gives to the people
  it invites and which lets them in. Only the host's own window knows it, and shows it only
  when asked ("Show room code"): the dialog that shows the verification code is one the host
  may turn towards the room.

Both are our own text (digits computed here, or what the host typed), but they are shown in
plain-text labels all the same, as everything is (:mod:`desktop.labels`).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFont, QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.labels import PlainLabel, fit_to_width, heading, make_tab_stop, outdented

__all__ = [
    "COMPARE_WITH_HOST",
    "WHERE_THE_HOST_SEES_IT",
    "CopyButton",
    "VerificationDialog",
    "code_font",
    "code_label",
    "spoken",
]

WHERE_THE_HOST_SEES_IT = "Host controls → Verification code"
COMPARE_WITH_HOST = (
    f"Compare this code with the one the host sees ({WHERE_THE_HOST_SEES_IT}). If they differ, "
    "do not join."
)
COPIED_MS = 2000  # how long a copy button says "Copied"
SHOW_ROOM_CODE = "Show room code"
HIDE_ROOM_CODE = "Hide room code"


def code_font(base: QFont, scale: float = 1.0, *, bold: bool = True) -> QFont:
    """A fixed-width font ``scale`` times the size of ``base``: digits in columns, and no
    ``1`` that reads as ``l``. Bold for a code to read out; not for a field to type in."""
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    font.setPointSizeF(base.pointSizeF() * scale)
    font.setWeight(QFont.Weight.DemiBold if bold else QFont.Weight.Normal)
    return font


def spoken(code: str) -> str:
    """``code`` as a screen reader should read it: digit by digit, a pause between groups
    (read as is, "8781" is "eight thousand seven hundred and eighty-one")."""
    return ", ".join(" ".join(group) for group in code.split())


def code_label(code: str, *, what: str, scale: float = 1.6) -> PlainLabel:
    """A label showing ``code`` large, in fixed-width digits, selectable with the mouse and
    the keyboard (Tab reaches it: lay it out with :func:`desktop.labels.outdented`). ``what``
    names it for screen readers ("Verification code"), which read it digit by digit (its
    description)."""
    label = PlainLabel(code, name="codeDigits")
    label.setFont(code_font(label.font(), scale))
    label.setTextInteractionFlags(
        Qt.TextInteractionFlag.TextSelectableByMouse
        | Qt.TextInteractionFlag.TextSelectableByKeyboard
    )
    make_tab_stop(label)
    label.setAccessibleName(what)
    label.setAccessibleDescription(spoken(code))
    return label


class CopyButton(QPushButton):
    """A button that copies ``text`` to the clipboard and says "Copied" for a moment."""

    def __init__(self, label: str, text: str, parent: QWidget | None = None) -> None:
        super().__init__(label, parent)
        self._label = label
        self._text = text
        self.setAutoDefault(False)  # Enter in the dialog closes it, it does not copy
        self.clicked.connect(self.on_clicked)

    def on_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self._text)
        self.setText("Copied")
        QTimer.singleShot(COPIED_MS, self, lambda: self.setText(self._label))


class VerificationDialog(QDialog):
    """Host controls → Verification code…: the room's verification code in large digits, for
    the host to read out, show or compare, with Copy verification code.

    The room code, if the room has one, is behind "Show room code" (hidden whenever the
    dialog opens): the host may turn this dialog towards the room to show the verification
    code, and the room code is for the people invited only. Shown, it can be copied too.
    """

    def __init__(
        self, verification_code: str, room_code: str | None = None,
        parent: QWidget | None = None,
    ) -> None:  # fmt: skip
        super().__init__(parent)
        self.setWindowTitle("Verification code")
        self.title = heading("Verification code", scale=1.2)
        self.code = code_label(verification_code, what="Verification code", scale=1.8)
        self.explanation = PlainLabel(
            "Everyone who joins sees this code: before joining, and in the room's header. If "
            "someone sees a different one, they did not reach your room: someone on the "
            "network may be impersonating it. Ask them not to join.",
            name="hint", wrap=True,
        )  # fmt: skip
        self.copy_code = CopyButton("Copy verification code", verification_code)
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(self.title)
        layout.addLayout(_with_button(self.code, self.copy_code))
        layout.addWidget(self.explanation)
        self.copy_code.setFocus()  # (the code's label is first in Tab order) as before
        self.show_room_code: QPushButton | None = None
        self.room_code: PlainLabel | None = None
        self.copy_room_code: CopyButton | None = None
        self._room_code_box: QWidget | None = None
        if room_code is not None:
            self.show_room_code = QPushButton(SHOW_ROOM_CODE)
            self.show_room_code.setCheckable(True)
            self.show_room_code.setAutoDefault(False)  # Enter closes the dialog
            self.room_code = code_label(room_code, what="Room code", scale=1.4)
            self.copy_room_code = CopyButton("Copy room code", room_code)
            box = self._room_code_box = QWidget()
            box_layout = QVBoxLayout(box)
            box_layout.setContentsMargins(0, 6, 0, 0)
            box_layout.setSpacing(10)  # as the dialog's own
            box_layout.addWidget(heading("Room code"))
            box_layout.addLayout(_with_button(self.room_code, self.copy_room_code))
            box_layout.addWidget(PlainLabel(
                "Give it only to the people you invite: anyone who has it can join.",
                name="hint", wrap=True,
            ))  # fmt: skip
            box.hide()
            layout.addSpacing(8)
            layout.addWidget(self.show_room_code, 0, Qt.AlignmentFlag.AlignLeft)
            layout.addWidget(box)
            self.show_room_code.toggled.connect(self.on_show_room_code_toggled)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.buttons.rejected.connect(self.reject)
        layout.addSpacing(6)
        layout.addWidget(self.buttons)
        fit_to_width(self, 460)

    def room_code_shown(self) -> bool:
        return self._room_code_box is not None and not self._room_code_box.isHidden()

    def on_show_room_code_toggled(self, shown: bool) -> None:
        if self._room_code_box is None or self.show_room_code is None:
            return
        self._room_code_box.setVisible(shown)
        self.show_room_code.setText(HIDE_ROOM_CODE if shown else SHOW_ROOM_CODE)
        fit_to_width(self, self.width())


def _with_button(label: PlainLabel, button: QPushButton) -> QVBoxLayout:
    """A code, with its button under it: beside it, a long code would be cut."""
    column = QVBoxLayout()
    column.setSpacing(6)
    column.addLayout(outdented(label))
    column.addWidget(button, 0, Qt.AlignmentFlag.AlignLeft)
    return column
