"""What the assistant has cost and how fast it answered (Host controls → Assistant usage…).

For the host's eyes only: it reads the room server's :class:`core.ai.usage_ledger.UsageLedger`
in this process, never anything from the network but the askers' names, which are fenced in
the table and escaped in tooltips. The dialog is not modal and follows the ledger while it
is shown (it looks for new records every :data:`REFRESH_MS`).
"""

from __future__ import annotations

import time

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTimer,
)
from PySide6.QtGui import QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHeaderView,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from core.ai.usage_ledger import (
    AnswerRecord,
    UsageLedger,
    rate_words,
    seconds_words,
    status_words,
    tokens_words,
)
from desktop.labels import PlainLabel, heading
from desktop.network_text import fenced, tooltip

__all__ = ["AnswerTableModel", "UsageDialog"]

REFRESH_MS = 500
COLUMNS = ("Ended", "Asked by", "Status", "In", "Out", "First token", "Tokens/s", "Cost")
ASKED_BY, COST = 1, 7
_NUMBERS = frozenset({3, 4, 5, 6, 7})  # right-aligned
_ESTIMATE_NOTE = "~ marks token counts made here: the provider did not report them."

Index = QModelIndex | QPersistentModelIndex


class AnswerTableModel(QAbstractTableModel):
    """The ledger's answers, newest first, one row each; the cells are the words the
    terminal host uses too."""

    def __init__(self, ledger: UsageLedger, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._ledger = ledger
        self._rows: tuple[AnswerRecord, ...] = ()

    def refresh(self) -> None:
        """Take the ledger's answers as they are now."""
        self.beginResetModel()
        self._rows = tuple(reversed(self._ledger.answers()))
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> object:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(COLUMNS):
            if role == Qt.ItemDataRole.DisplayRole:
                return COLUMNS[section]
            if role == Qt.ItemDataRole.TextAlignmentRole:
                return _alignment(section)
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        record = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._cell(record, column)
        if role == Qt.ItemDataRole.ToolTipRole and column == ASKED_BY and record.asked_by:
            return tooltip(record.asked_by)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _alignment(column)
        return None

    def _cell(self, r: AnswerRecord, column: int) -> str:
        est = r.estimated
        match column:
            case 0:
                return time.strftime("%H:%M:%S", time.localtime(r.ended_at))
            case 1:  # network text: one line, bounded, its direction isolated
                return fenced(r.asked_by) if r.asked_by.strip() else "—"
            case 2:
                return status_words(r)
            case 3:
                return tokens_words(r.prompt_tokens, estimated=est)
            case 4:
                return tokens_words(r.completion_tokens, estimated=est)
            case 5:
                return seconds_words(r.first_text)
            case 6:
                return rate_words(r.tokens_per_second, estimated=est, unit=False)
            case 7:
                return self._ledger.cost_words(r.cost, estimated=est)
        return ""


def _alignment(column: int) -> Qt.AlignmentFlag:
    side = Qt.AlignmentFlag.AlignRight if column in _NUMBERS else Qt.AlignmentFlag.AlignLeft
    return side | Qt.AlignmentFlag.AlignVCenter


class UsageDialog(QDialog):
    """The session's totals and a table of the answers (the ledger keeps the last 500).

    Without a price for the model (a local provider, or a model not in the price table) the
    cost column is hidden and the totals say why."""

    def __init__(self, ledger: UsageLedger, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ledger = ledger
        self._seen = -1  # the ledger's change count last shown
        self.setObjectName("usageDialog")
        self.setWindowTitle("Assistant usage")
        title = heading("This session", 1.15)
        self.model_line = PlainLabel(name="hint", wrap=True)
        self.answers_value = PlainLabel()
        self.tokens_value = PlainLabel(wrap=True)
        self.first_token_value = PlainLabel()
        self.speed_value = PlainLabel()
        self.cost_value = PlainLabel(wrap=True)
        summary = QFormLayout()
        summary.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        summary.addRow("Answers:", self.answers_value)
        summary.addRow("Tokens:", self.tokens_value)
        summary.addRow("Time to first token:", self.first_token_value)
        summary.addRow("Speed:", self.speed_value)
        summary.addRow("Cost:", self.cost_value)
        self.table_model = AnswerTableModel(ledger, self)
        self.table = QTableView()
        self.table.setAccessibleName("Answers this session")
        self.table.setObjectName("usageTable")
        self.table.setModel(self.table_model)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setShowGrid(False)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(ASKED_BY, QHeaderView.ResizeMode.Stretch)
        self.table.setColumnHidden(COST, ledger.charging != "priced")
        self.empty = PlainLabel(
            "No answers yet: each one appears here when it ends.", name="emptyState", wrap=True
        )
        self.stack = QStackedWidget()
        self.stack.addWidget(self.table)
        self.stack.addWidget(self.empty)
        self.estimate_note = PlainLabel(_ESTIMATE_NOTE, name="hint", wrap=True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        close = buttons.button(QDialogButtonBox.StandardButton.Close)
        close.setDefault(True)
        close.setFocus()  # not the table, whose first cell would show as picked
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(self.model_line)
        layout.addLayout(summary)
        layout.addSpacing(6)  # the table's heading belongs to the table, not to the totals
        layout.addWidget(heading("Answers, newest first"))
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.estimate_note)
        layout.addWidget(buttons)
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self.resize(760, 480)
        self.refresh()

    def refresh(self) -> None:
        """Show the ledger as it is now, if anything was recorded since the last time."""
        if self.ledger.changes == self._seen:
            return
        self._seen = self.ledger.changes
        ledger, totals = self.ledger, self.ledger.totals()
        est = totals.tokens_estimated
        pricing = ledger.pricing_words()
        priced = ledger.charging == "priced"
        self.model_line.setText(
            f"{pricing[:1].upper()}{pricing[1:]}. Input the provider had cached costs less."
            if priced
            else f"The assistant's model: {fenced(ledger.model)}."
        )
        decisions = totals.decisions
        self.answers_value.setText(
            f"{totals.answers} ({totals.answers_with_text} with text)"
            + (f" · {decisions} auto mode decision{'s' if decisions != 1 else ''}"
               if decisions else "")
        )  # fmt: skip
        unreported = (
            f" · {totals.uncounted} not reported by the provider" if totals.uncounted else ""
        )
        self.tokens_value.setText(
            f"{tokens_words(totals.prompt_tokens, estimated=est)} in · "
            f"{tokens_words(totals.completion_tokens, estimated=est)} out{unreported}"
        )
        self.first_token_value.setText(
            f"{seconds_words(totals.mean_first_text)} on average"
            if totals.mean_first_text is not None
            else "—"
        )
        self.speed_value.setText(rate_words(totals.tokens_per_second, estimated=est))
        self.cost_value.setText(
            f"{ledger.cost_words(totals.cost, estimated=est)} (estimate)"
            if priced
            else pricing[:1].upper() + pricing[1:]
        )
        self.table_model.refresh()
        self.stack.setCurrentWidget(self.table if totals.answers else self.empty)
        self.estimate_note.setVisible(est)

    def showEvent(self, event: QShowEvent) -> None:
        self.refresh()
        self._timer.start()
        super().showEvent(event)

    def hideEvent(self, event: QHideEvent) -> None:
        self._timer.stop()
        super().hideEvent(event)
