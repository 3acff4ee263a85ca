"""Confirmations both ways: questions answered with verbs before something is done
(:func:`ask`), and the banner that says what happened (:class:`Banner`).

A question's buttons say what they do ("Remove Sam") and how to back out ("Cancel").
With Yes and No, people read the question again to learn what Yes does; a button named for
its action can be clicked on its own. The way back is the default button and Escape, so a
stray Enter never does the thing that cannot be undone.

The box is window-modal and opened with ``open()``, never ``exec()`` (see
:mod:`desktop.modal`): the answer arrives through a callback. Its text is plain text
(:func:`desktop.labels.message_box`), since questions name people from the room; callers fence
those names (:func:`desktop.network_text.fenced`).

The banner sits above a room's transcript: a confirmation ("Room link copied") goes away by
itself, a warning stays until what it warns about is resolved or the person dismisses it, and
the end of the room stays. Its buttons never take the keyboard focus by themselves.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QFrame, QHBoxLayout, QMessageBox, QPushButton, QWidget

from desktop.labels import PlainLabel, message_box
from desktop.network_text import shorten

__all__ = ["BANNER_CHARS", "TRANSIENT_SECONDS", "Banner", "ask", "button_text"]

BANNER_CHARS = 600
TRANSIENT_SECONDS = 4.0
"""How long a confirmation ("Room link copied") stays; warnings stay until resolved."""


def button_text(text: str) -> str:
    """``text`` for a button, menu item or other widget where "&" marks a shortcut key: each
    "&" doubled, so that a name holding one shows it instead of underlining the next letter."""
    return text.replace("&", "&&")


def ask(
    parent: QWidget, *, title: str, text: str, verb: str, on_confirmed: Callable[[], None],
    back: str = "Cancel", icon: QMessageBox.Icon = QMessageBox.Icon.Question,
    offer: tuple[str, Callable[[], None]] | None = None,
) -> QMessageBox:  # fmt: skip
    """Ask ``text``; ``on_confirmed`` runs only if the person clicks ``verb``.

    ``offer`` adds a button for something to do first (such as "Save transcript…"): it
    closes the box and runs its callback, which may ask again. The way back stays the
    default.

    Returns the box (already open, window-modal). It stays a hidden child of ``parent`` once
    answered and goes with it: deleting it from its own ``finished`` signal crashes PySide
    when the parent is then destroyed before the deferred delete runs.
    """
    box = message_box(icon, title, text, QMessageBox.StandardButton.NoButton, parent)
    box.setObjectName("confirmation")
    first = (
        box.addButton(button_text(offer[0]), QMessageBox.ButtonRole.ActionRole) if offer else None
    )
    yes = box.addButton(button_text(verb), QMessageBox.ButtonRole.AcceptRole)
    no = box.addButton(button_text(back), QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(no)
    box.setEscapeButton(no)

    def answered(_result: int) -> None:
        if box.clickedButton() is yes:
            on_confirmed()
        elif offer is not None and first is not None and box.clickedButton() is first:
            offer[1]()

    box.finished.connect(answered)
    box.open()
    return box


class Banner(QFrame):
    """News above the transcript, one at a time.

    * ``info``: a confirmation ("Room link copied"): gone after :data:`TRANSIENT_SECONDS`;
    * ``warning``: stays until what it warns about is resolved (another message replaces
      it) or, with ``dismissable``, until the person dismisses it;
    * ``error``: the room has ended for us: it stays.

    An ``action`` adds one button, such as "Join the new room". :attr:`label` holds the text
    (plain text: it may quote the room). :attr:`key` names what is shown, so that a later
    update can tell whether its own message is still up.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("bannerBar")
        self.label = PlainLabel(name="banner", wrap=True)
        self.action_button = QPushButton()
        self.action_button.setObjectName("bannerAction")
        self.dismiss_button = QPushButton("Dismiss")
        self.dismiss_button.setObjectName("bannerDismiss")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.action_button, 0, Qt.AlignmentFlag.AlignVCenter)
        layout.addWidget(self.dismiss_button, 0, Qt.AlignmentFlag.AlignVCenter)
        # The buttons never take the keyboard focus by themselves (a banner appears while
        # people type), but they can be tabbed to.
        for button in (self.action_button, self.dismiss_button):
            button.setAutoDefault(False)
            button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        self.key = ""
        self._action: Callable[[], None] | None = None
        self._timer = QTimer(self, singleShot=True)
        self._timer.timeout.connect(self.clear)
        self.action_button.clicked.connect(self.on_action_clicked)
        self.dismiss_button.clicked.connect(self.clear)
        self.clear()

    def show_message(
        self, text: str, level: str, *, key: str = "", dismissable: bool = False,
        action: tuple[str, Callable[[], None]] | None = None,
    ) -> None:  # fmt: skip
        """Show ``text`` at ``level`` (``info`` goes away by itself), replacing what was up."""
        self.key = key
        self.label.setProperty("level", level)
        self.label.style().unpolish(self.label)
        self.label.style().polish(self.label)
        self.label.setText(shorten(text, BANNER_CHARS))
        self._action = action[1] if action else None
        self.action_button.setText(action[0] if action else "")
        self.action_button.setVisible(action is not None)
        self.dismiss_button.setVisible(dismissable)
        self._timer.stop()
        if level == "info":
            self._timer.start(round(TRANSIENT_SECONDS * 1000))
        self.show()

    def clear(self) -> None:
        self._timer.stop()
        self.key = ""
        self._action = None
        self.hide()

    def on_action_clicked(self) -> None:
        if self._action is not None:
            self._action()
