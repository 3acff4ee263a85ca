"""The host's live assistant settings: when it answers, its instructions, budget and quota."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QPlainTextEdit,
    QSpinBox,
    QWidget,
)

from core.protocol import AssistantReport

__all__ = ["MODE_LABELS", "AssistantSettingsDialog", "limit_spin"]

MODE_LABELS = {
    "mention": "When mentioned (@assistant)",
    "always": "On every message",
    "auto": "Automatically, when it can help",
}


def limit_spin(value: int | None, maximum: int, suffix: str) -> QSpinBox:
    """A spin box where 0 shows as "No limit"."""
    spin = QSpinBox()
    spin.setRange(0, maximum)
    spin.setSpecialValueText("No limit")
    spin.setSuffix(suffix)
    spin.setValue(value or 0)
    return spin


class AssistantSettingsDialog(QDialog):
    """Edits every assistant setting at once; :meth:`settings` gives them back."""

    def __init__(self, report: AssistantReport, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Assistant settings")
        self.mode = QComboBox()
        for key, label in MODE_LABELS.items():
            self.mode.addItem(label, key)
        self.mode.setCurrentIndex(max(0, self.mode.findData(report.mode)))
        self.persona = QPlainTextEdit(report.persona)
        self.persona.setPlaceholderText("Instructions for the assistant (optional)")
        self.budget = limit_spin(report.token_budget, 100_000_000, " tokens")
        self.budget.setSingleStep(10_000)
        self.quota = limit_spin(report.answer_quota, 1000, " answers")
        self.window = QSpinBox(minimum=1, maximum=24 * 60, suffix=" minutes")
        self.window.setValue(max(1, round(report.quota_window / 60)))
        form = QFormLayout(self)
        form.addRow("Answers", self.mode)
        form.addRow("Instructions", self.persona)
        form.addRow("Room token budget", self.budget)
        form.addRow("Per-guest quota", self.quota)
        form.addRow("Quota window", self.window)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def settings(self) -> dict[str, Any]:
        return {
            "mode": self.mode.currentData(),
            "persona": self.persona.toPlainText().strip(),
            "token_budget": self.budget.value() or None,
            "answer_quota": self.quota.value() or None,
            "quota_window": self.window.value() * 60.0,
        }
