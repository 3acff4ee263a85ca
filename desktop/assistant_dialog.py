"""The host's live assistant settings: when it answers, its instructions, budget and quota.

When it answers decides where the room's messages go, so the dialog says so for the mode
chosen, in the words the room's header uses (:func:`where_messages_go`).
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QPlainTextEdit,
    QSpinBox,
    QWidget,
)

from core.protocol import MAX_PERSONA_CHARS, AssistantInfo, AssistantReport, ConfigureAssistant
from desktop.labels import PlainLabel
from desktop.network_text import FIELD_CHARS, fenced

__all__ = [
    "MODE_LABELS",
    "AssistantSettingsDialog",
    "limit_spin",
    "quota_window_spin",
    "where_messages_go",
]

MODE_LABELS = {
    "mention": "When mentioned (@assistant)",
    "always": "On every message",
    "auto": "Automatically, when it can help",
}

EVERY_MESSAGE_MODES = frozenset({"always", "auto"})
"""Modes in which every message goes to the AI provider (in "auto" so that it can decide)."""


def where_messages_go(assistant: AssistantInfo | None, mode: str | None = None) -> str:
    """Where the room's messages go, in one sentence, with the assistant answering in
    ``mode`` (its current mode unless given). Provider and model come from the room: fenced."""
    if assistant is None:
        return "Messages stay in the room: it has no assistant."
    place = (
        "a local server on the host's network" if assistant.provider_kind == "local"
        else "in the cloud"
    )  # fmt: skip
    provider = fenced(assistant.provider, FIELD_CHARS)
    model = fenced(assistant.model, FIELD_CHARS)
    where = f"{provider} / {model} ({place})"
    mode = mode or assistant.mode
    if mode == "always":
        return f"Every message goes to {where}."
    if mode == "auto":
        return f"Every message goes to {where}, so that the assistant can decide when to answer."
    return (
        f"Messages go to {where} only when someone asks @{fenced(assistant.name)}, with the "
        "recent conversation."
    )


def persona_problem(persona: str) -> str | None:
    """What is wrong with the assistant's instructions for the room (too long), or None."""
    if len(persona) <= MAX_PERSONA_CHARS:
        return None
    return (
        f"Instructions can be at most {MAX_PERSONA_CHARS:,} characters; these are {len(persona):,}."
    )


def limit_spin(value: int | None, maximum: int, suffix: str) -> QSpinBox:
    """A spin box where 0 shows as "No limit"."""
    spin = QSpinBox()
    spin.setRange(0, maximum)
    spin.setSpecialValueText("No limit")
    spin.setSuffix(suffix)
    spin.setValue(value or 0)
    return spin


def quota_window_spin(minutes: int) -> QSpinBox:
    """The per-guest quota's window in whole minutes, from one minute to a day."""
    spin = QSpinBox()
    spin.setRange(1, 24 * 60)
    spin.setSuffix(" minutes")
    spin.setValue(minutes)
    return spin


class AssistantSettingsDialog(QDialog):
    """Edits every assistant setting at once; :meth:`settings` gives them back.

    With ``assistant`` (the room's assistant as everyone sees it), a line under the mode says
    where messages will go with the mode chosen.
    """

    def __init__(
        self, report: AssistantReport, parent: QWidget | None = None, *,
        assistant: AssistantInfo | None = None,
    ) -> None:  # fmt: skip
        super().__init__(parent)
        self.setWindowTitle("Assistant settings")
        self._assistant = assistant
        self.mode = QComboBox()
        self.mode.setAccessibleName("When the assistant answers")
        for key, label in MODE_LABELS.items():
            self.mode.addItem(label, key)
        self.mode.setCurrentIndex(max(0, self.mode.findData(report.mode)))
        self.where = PlainLabel(name="hint", wrap=True)
        self.persona = QPlainTextEdit(report.persona)
        self.persona.setPlaceholderText("Instructions for the assistant (optional)")
        self.persona.setTabChangesFocus(True)
        self.budget = limit_spin(report.token_budget, 100_000_000, " tokens")
        self.budget.setSingleStep(10_000)
        self.quota = limit_spin(report.answer_quota, 1000, " answers")
        self.quota_window = quota_window_spin(max(1, round(report.quota_window / 60)))
        form = QFormLayout(self)
        form.addRow("Answers", self.mode)
        form.addRow("", self.where)
        form.addRow("Instructions", self.persona)
        form.addRow("Room token budget", self.budget)
        form.addRow("Per-guest quota", self.quota)
        form.addRow("Quota window", self.quota_window)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Save settings")
        self.problem = PlainLabel(name="problem", wrap=True)
        self.problem.hide()
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.problem)
        form.addRow(self.buttons)
        self.mode.currentIndexChanged.connect(self._show_where)
        self._show_where()

    def _show_where(self) -> None:
        if self._assistant is None:
            self.where.hide()
            return
        mode = self.mode.currentData()
        said = where_messages_go(self._assistant, mode)
        if mode != self._assistant.mode:
            said += " Everyone in the room is told when you save."
        self.where.setText(said)

    def _accept(self) -> None:
        """Save, unless the room would refuse the settings: then say why, keeping them."""
        problem = persona_problem(self.persona.toPlainText().strip())
        if problem is not None:
            self.problem.setText(problem)
            self.problem.show()
            self.persona.setFocus()
            return
        self.accept()

    def settings(self) -> ConfigureAssistant:
        """The settings as the form holds them, as the message that sets them in the room
        (every field a new value; 0 in a limit's box is no limit)."""
        return ConfigureAssistant(
            mode=str(self.mode.currentData()),
            persona=self.persona.toPlainText().strip(),
            token_budget=self.budget.value() or None,
            answer_quota=self.quota.value() or None,
            quota_window=self.quota_window.value() * 60.0,
        )
