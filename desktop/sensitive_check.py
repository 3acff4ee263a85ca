"""The question before a message that looks sensitive leaves the composer: "This looks like a
card number. Everyone here and the AI provider will see it. Send anyway?"

What is looked for, and how, is :mod:`core.sensitive`; this is only the asking. The check
runs on this machine and nothing about it leaves it: the room learns of a message only if the
person sends it, and cannot tell that a question was asked.

"Edit" is the default button and what Escape does, so a stray Enter (the key that sent the
message a moment ago) goes back to the message; "Send anyway" must be chosen. The box is
window-modal and opened with ``open()``, never ``exec()`` (see :mod:`desktop.modal`): the
answer is awaited. Its text is plain text; it names kinds of data, never the data.
"""

from __future__ import annotations

from collections.abc import Sequence

import shiboken6
from PySide6.QtWidgets import QMessageBox, QPushButton, QWidget

from core.sensitive import Finding, described
from desktop.labels import message_box
from desktop.modal import run_dialog

__all__ = [
    "EDIT",
    "SEND_ANYWAY",
    "TITLE",
    "ask_before_sending",
    "question_text",
    "sensitive_question",
]

TITLE = "Send this?"
EDIT = "Edit"
SEND_ANYWAY = "Send anyway"


def question_text(findings: Sequence[Finding], *, assistant: bool) -> str:
    """The question, naming each kind found once: "This looks like a card number and a
    password. Everyone here will see it. Send anyway?" (and the AI provider, with
    ``assistant``: messages in a room with an assistant can reach its provider, if only as
    the recent conversation that goes with a question)."""
    who = "Everyone here and the AI provider" if assistant else "Everyone here"
    return f"This looks like {described(findings)}. {who} will see it. Send anyway?"


def sensitive_question(
    parent: QWidget, findings: Sequence[Finding], *, assistant: bool
) -> tuple[QMessageBox, QPushButton]:
    """The question as a box (not yet open), and its "Send anyway" button."""
    text = question_text(findings, assistant=assistant)
    box = message_box(QMessageBox.Icon.Warning, TITLE, text, QMessageBox.StandardButton.NoButton,
                      parent)  # fmt: skip
    box.setObjectName("sensitiveQuestion")
    box.setAccessibleName(TITLE)
    box.setAccessibleDescription(text)
    send = box.addButton(SEND_ANYWAY, QMessageBox.ButtonRole.AcceptRole)
    edit = box.addButton(EDIT, QMessageBox.ButtonRole.RejectRole)
    send.setAccessibleName(SEND_ANYWAY)
    send.setAccessibleDescription("Send the message as it is")
    edit.setAccessibleName("Edit the message")
    edit.setAccessibleDescription("Go back to the message; nothing is sent")
    box.setDefaultButton(edit)
    box.setEscapeButton(edit)
    return box, send


async def ask_before_sending(
    parent: QWidget, findings: Sequence[Finding], *, assistant: bool
) -> bool:
    """Ask whether to send a message in which ``findings`` were found; True only when the
    person chose "Send anyway". ``assistant``: whether the room has an assistant, whose
    provider would see the message too.

    Awaits the answer without blocking the event loop. If the waiting task is cancelled (the
    room ended), the question closes with it, as "Edit".
    """
    box, send = sensitive_question(parent, findings, assistant=assistant)
    try:
        await run_dialog(box)
        return box.clickedButton() is send
    finally:
        if shiboken6.isValid(box):  # not when its parent went first (the page closed)
            if box.isVisible():
                box.reject()
            box.deleteLater()
