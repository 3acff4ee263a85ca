"""Host controls → Assistant usage…: the session's totals and a table of the answers, which
follows the room's answers while it is open; askers' names are network text."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex, Qt

from core.ai.desk import AnswerOutcome, AnswerTiming, AssistantConfig
from core.ai.provider import ChatProvider, ProviderSettings
from core.ai.usage_ledger import ModelPrice, PriceTable, UsageLedger
from core.client import RoomClient
from core.hosting import RoomHost
from core.protocol import Usage
from core.room import RoomConfig
from desktop import theme
from desktop.main_window import MainWindow
from desktop.session import RoomSession
from desktop.settings import KeyStore, Preferences
from desktop.usage_dialog import ASKED_BY, COLUMNS, COST, UsageDialog
from tests.desktop.conftest import until
from tests.desktop.flows import hosted, unfenced
from tests.desktop.hostile_checks import HOSTILE, hostile_text, rich_text_risks, shows
from tests.fake_openai import FakeOpenAI, Reply

PRICES = PriceTable("2025-08-07", "test", {"gpt-4o-mini": ModelPrice(0.15, 0.60)})
TIMING = AnswerTiming(0.5, 4.5)


def cells(dialog: UsageDialog, row: int) -> list[str]:
    model = dialog.table_model
    return [str(model.data(model.index(row, c))) for c in range(model.columnCount())]


def filled_ledger(asker: str) -> UsageLedger:
    ledger = UsageLedger("gpt-4o-mini", "cloud", prices=PRICES)
    ledger.record_answer(
        AnswerOutcome("complete", "x", Usage(1000, 200, 1200), None, TIMING), asked_by="Sam"
    )
    ledger.record_answer(
        AnswerOutcome("complete", "x", Usage(50, 400, 450, estimated=True), None, TIMING, True),
        asked_by=asker,
    )
    ledger.record_answer(AnswerOutcome("failed", "", None, "No key."), asked_by="")
    ledger.record_decision(Usage(300, 2, 302))
    return ledger


def test_the_dialog_shows_the_totals_and_every_answer_newest_first(qtbot: Any) -> None:
    dialog = UsageDialog(filled_ledger("Ana"))
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.answers_value.text() == "3 (2 with text) · 1 auto mode decision"
    assert dialog.tokens_value.text() == "~1,350 in · ~602 out · 1 not reported by the provider"
    assert dialog.first_token_value.text() == "0.50 s on average"
    assert dialog.speed_value.text() == "~75.0 tokens/s"
    assert dialog.cost_value.text() == "~$0.0006 (estimate)"
    assert dialog.model_line.text().startswith(
        "Estimated at OpenAI's prices of 2025-08-07 for gpt-4o-mini: $0.15 per million tokens "
        "in, $0.60 out."
    )
    assert dialog.estimate_note.isVisible()
    assert dialog.stack.currentWidget() is dialog.table
    assert not dialog.table.isColumnHidden(COST)
    assert dialog.table_model.rowCount() == 3
    assert cells(dialog, 0)[1:] == ["—", "no answer", "—", "—", "—", "—", "—"]
    assert cells(dialog, 1)[1:] == [
        "\u2068Ana\u2069", "length limit", "~50", "~400", "0.50 s", "~100.0", "~$0.0002"
    ]  # fmt: skip
    assert cells(dialog, 2)[1:] == ["\u2068Sam\u2069", "complete", "1,000", "200", "0.50 s",
                                    "50.0", "$0.0003"]  # fmt: skip
    headers = [dialog.table_model.headerData(c, Qt.Orientation.Horizontal) for c in range(8)]
    assert headers == list(COLUMNS)


def test_the_table_model_is_a_well_behaved_model(qtbot: Any, qtmodeltester: Any) -> None:
    dialog = UsageDialog(filled_ledger("Ana"))
    qtbot.addWidget(dialog)
    qtmodeltester.check(dialog.table_model)


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_names_are_shown_as_plain_bounded_isolated_text(
    qtbot: Any, kind: str, tmp_path: Path
) -> None:
    hostile = hostile_text(kind, tmp_path)
    dialog = UsageDialog(filled_ledger(hostile))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    model = dialog.table_model
    name = str(model.data(model.index(1, ASKED_BY)))
    assert shows(name, hostile)
    assert name.startswith("\u2068") and name.endswith("\u2069")  # cannot reorder the row
    assert len(name) < 60 and "\n" not in name
    tip = str(model.data(model.index(1, ASKED_BY), Qt.ItemDataRole.ToolTipRole))
    assert "<img" not in tip and "<b>" not in tip and "<a " not in tip  # escaped
    assert rich_text_risks(dialog, hostile) == []
    # The row is one line high: a long name is cut, not wrapped.
    assert dialog.table.rowHeight(1) == dialog.table.rowHeight(2)


def test_a_local_model_costs_nothing_and_no_cost_column_is_shown(qtbot: Any) -> None:
    ledger = UsageLedger("llama3.2", "local", prices=PRICES)
    dialog = UsageDialog(ledger)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.cost_value.text() == "Local, no charge"
    assert dialog.table.isColumnHidden(COST)
    assert dialog.stack.currentWidget() is dialog.empty  # no answers yet
    assert not dialog.estimate_note.isVisible()
    unknown = UsageDialog(UsageLedger("mystery-model", "cloud", prices=PRICES))
    qtbot.addWidget(unknown)
    assert unknown.cost_value.text() == "Cost unknown: mystery-model is not in the price table"
    assert unknown.table.isColumnHidden(COST)


def test_the_dialog_follows_new_answers_while_open(qtbot: Any) -> None:
    ledger = UsageLedger("gpt-4o-mini", "cloud", prices=PRICES)
    dialog = UsageDialog(ledger)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.table_model.rowCount() == 0
    ledger.record_answer(
        AnswerOutcome("complete", "x", Usage(10, 5, 15), None, TIMING), asked_by="Sam"
    )
    qtbot.waitUntil(lambda: dialog.table_model.rowCount() == 1)
    assert dialog.stack.currentWidget() is dialog.table
    assert dialog.answers_value.text() == "1 (1 with text)"


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI(models=("llama3.2",)) as server:
        yield server


async def test_the_host_opens_it_from_host_controls_and_sees_the_answers(
    fake: FakeOpenAI, prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    fake.default = Reply(["Hello", " there", "!"], usage=(321, 3))
    settings = ProviderSettings.from_preset(
        "compatible", model="llama3.2", base_url=fake.base_url, api_key="k"
    )
    assistant = AssistantConfig(model="llama3.2", provider="OpenAI", provider_kind="local")
    host = RoomHost(
        RoomConfig(name="Usage room", assistant=assistant), provider=ChatProvider(settings),
        bind="127.0.0.1", port=0, advertise=False,
    )  # fmt: skip
    await host.start()
    cleanup.append(host)
    window = MainWindow(prefs=prefs, keys=keys, discover=False)
    cleanup.append(window)
    client = RoomClient(host.local_url(), "Ana", host_key=host.host_key)
    window._enter(RoomSession(client, await client.connect(), host=host))
    window.show()
    page = window.chat
    assert page is not None
    assert page.usage_action.isVisible()
    page.send("@assistant hello")
    ledger = host.server.assistant_ledger
    assert ledger is not None
    await until(lambda: ledger.totals().answers == 1, what="the answer")
    page.usage_action.trigger()
    dialog = page.findChild(UsageDialog)
    assert dialog is not None and dialog.isVisible()
    await until(lambda: dialog.table_model.rowCount() == 1, what="the row")
    row = cells(dialog, 0)
    assert row[2:5] == ["complete", "321", "3"]
    assert dialog.cost_value.text() == "Local, no charge"  # the fake server is on loopback
    page.usage_action.trigger()  # again: the same dialog, raised
    assert page.findChildren(UsageDialog) == [dialog]
    # Once more with a new answer while it is open.
    page.send("@assistant again")
    await until(lambda: dialog.table_model.rowCount() == 2, what="the second row")
    assert unfenced(dialog.answers_value.text()).startswith("2 (2 with text)")


async def test_a_room_without_an_assistant_has_no_usage_entry(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    window = await hosted(prefs, keys, cleanup)
    page = window.chat
    assert page is not None
    assert not page.usage_action.isVisible()
    page.on_usage_triggered()  # harmless, whatever calls it
    assert page.findChild(UsageDialog) is None


@pytest.mark.parametrize("choice", ["light", "dark"])
def test_the_dialog_renders_in_both_themes(
    qtbot: Any, qapp: Any, choice: str, tmp_path: Path
) -> None:
    controller = theme.install(qapp, choice=choice)
    try:
        dialog = UsageDialog(filled_ledger("\u202e00.001$ Eve"))
        qtbot.addWidget(dialog)
        dialog.show()
        qtbot.waitExposed(dialog)
        image = dialog.grab()
        assert image.save(str(tmp_path / f"usage-{choice}.png"))
        assert image.width() >= 600
        index = dialog.table_model.index(0, 0, QModelIndex())
        assert dialog.table.visualRect(index).height() > 0
    finally:
        controller.set_choice("system", remember=False)
