"""The host's usage ledger: what each answer and the session cost, and how fast they came."""

from __future__ import annotations

import json

import pytest

import resources
from core.ai.desk import AnswerOutcome, AnswerTiming
from core.ai.usage_ledger import (
    KEEP_ANSWERS,
    LOCAL_NO_CHARGE,
    UNKNOWN_COST,
    ModelPrice,
    PriceTable,
    UsageLedger,
    cost_words,
    load_prices,
    rate_words,
    seconds_words,
    status_words,
    tokens_words,
)
from core.protocol import Usage

PRICES = PriceTable(
    "2025-08-07",
    "test",
    {"gpt-4o-mini": ModelPrice(0.15, 0.60), "gpt-4o-2024-05-13": ModelPrice(5.0, 15.0)},
)


def answer(
    prompt: int = 1000,
    completion: int = 200,
    *,
    first: float | None = 0.5,
    finished: float = 4.5,
    status: str = "complete",
    estimated: bool = False,
    cut_off: bool = False,
) -> AnswerOutcome:
    usage = Usage(prompt, completion, prompt + completion, estimated=estimated)
    return AnswerOutcome(
        status, "secret answer text", usage, None, AnswerTiming(first, finished), cut_off
    )


def test_an_answer_is_recorded_with_its_tokens_timing_rate_and_cost() -> None:
    ledger = UsageLedger("gpt-4o-mini", "cloud", prices=PRICES, clock=lambda: 1234.0)
    ledger.record_answer(answer(1000, 200, first=0.5, finished=4.5), asked_by="Sam")
    [record] = ledger.answers()
    assert record.asked_by == "Sam"
    assert record.ended_at == 1234.0
    assert (record.status, record.cut_off, record.estimated) == ("complete", False, False)
    assert (record.prompt_tokens, record.completion_tokens) == (1000, 200)
    assert record.first_text == 0.5
    assert record.tokens_per_second == pytest.approx(50.0)  # 200 tokens in 4 s of streaming
    assert record.cost == pytest.approx((1000 * 0.15 + 200 * 0.60) / 1_000_000)
    assert ledger.cost_words(record.cost) == "$0.0003"
    assert ledger.charging == "priced"
    assert ledger.pricing_words() == (
        "estimated at OpenAI's prices of 2025-08-07 for gpt-4o-mini: "
        "$0.15 per million tokens in, $0.60 out"
    )
    assert (
        "$0.075 per"
        in UsageLedger(
            "m", "cloud", prices=PriceTable("2025-01-01", "t", {"m": ModelPrice(0.075, 10)})
        ).pricing_words()
    )


def test_nothing_of_the_text_is_kept() -> None:
    ledger = UsageLedger("gpt-4o-mini", "cloud", prices=PRICES)
    ledger.record_answer(answer(), asked_by="Sam")
    assert "secret" not in repr(ledger.answers()) + repr(ledger.totals()) + repr(vars(ledger))


def test_session_totals_add_up_answers_and_decisions() -> None:
    ledger = UsageLedger("gpt-4o-mini", "cloud", prices=PRICES)
    ledger.record_answer(answer(1000, 200, first=0.5, finished=4.5), asked_by="Sam")
    ledger.record_answer(answer(3000, 100, first=1.5, finished=3.5), asked_by="Ana")
    ledger.record_decision(Usage(300, 2, 302))
    totals = ledger.totals()
    assert (totals.answers, totals.answers_with_text, totals.decisions) == (2, 2, 1)
    assert (totals.prompt_tokens, totals.completion_tokens) == (4300, 302)
    assert totals.total_tokens == 4602
    assert totals.mean_first_text == pytest.approx(1.0)
    assert totals.tokens_per_second == pytest.approx(300 / 6)  # streaming tokens / seconds
    assert totals.cost == pytest.approx((4300 * 0.15 + 302 * 0.60) / 1_000_000)
    assert not totals.tokens_estimated and totals.uncounted == 0
    assert [r.asked_by for r in ledger.answers()] == ["Sam", "Ana"]  # oldest first


def test_a_rate_needs_text_timing_and_a_long_enough_stream() -> None:
    ledger = UsageLedger("gpt-4o-mini", "cloud", prices=PRICES)
    ledger.record_answer(answer(first=2.0, finished=2.0))  # came whole: no rate
    ledger.record_answer(answer(first=2.0, finished=2.1))  # too short to mean anything
    ledger.record_answer(answer(0, 0, first=None, finished=3.0, status="stopped"))  # no text
    ledger.record_answer(AnswerOutcome("complete", "", Usage(10, 5, 15)))  # not timed
    assert [r.tokens_per_second for r in ledger.answers()] == [None] * 4
    assert [r.first_text for r in ledger.answers()] == [2.0, 2.0, None, None]
    totals = ledger.totals()
    assert totals.tokens_per_second is None
    assert totals.mean_first_text == pytest.approx(2.0)  # over the answers that had text
    assert totals.answers_with_text == 2


def test_dated_model_ids_take_their_base_price_unless_listed_themselves() -> None:
    dated = UsageLedger("gpt-4o-mini-2024-07-18", "cloud", prices=PRICES)
    assert dated.price == ModelPrice(0.15, 0.60)
    own = UsageLedger("GPT-4o-2024-05-13", "cloud", prices=PRICES)
    assert own.price == ModelPrice(5.0, 15.0)
    # Names that only begin like a listed model are other models.
    assert UsageLedger("gpt-4o-mini-search-preview", "cloud", prices=PRICES).price is None
    assert UsageLedger("gpt-4o", "cloud", prices=PRICES).price is None  # not in this table


def test_a_local_provider_costs_nothing_and_an_unknown_model_has_no_cost() -> None:
    local = UsageLedger("gpt-4o-mini", "local", prices=PRICES)  # even with a known name
    local.record_answer(answer())
    assert local.charging == "local"
    assert local.totals().cost is None and local.answers()[0].cost is None
    assert local.cost_words(local.totals().cost) == LOCAL_NO_CHARGE == "local, no charge"
    assert "local, no charge" in local.pricing_words()
    unknown = UsageLedger("llama3.2", "cloud", prices=PRICES)
    unknown.record_answer(answer())
    assert unknown.charging == "unknown"
    assert unknown.cost_words(unknown.answers()[0].cost) == UNKNOWN_COST == "cost unknown"
    assert unknown.totals().prompt_tokens == 1000  # tokens are counted all the same


def test_estimated_counts_are_marked_as_estimates() -> None:
    ledger = UsageLedger("gpt-4o-mini", "cloud", prices=PRICES)
    ledger.record_answer(answer(estimated=True))
    record = ledger.answers()[0]
    assert record.estimated
    assert ledger.totals().tokens_estimated
    assert tokens_words(record.completion_tokens, estimated=True) == "~200"
    assert ledger.cost_words(record.cost, estimated=True).startswith("~$")
    assert rate_words(record.tokens_per_second, estimated=True) == "~50.0 tokens/s"


def test_answers_without_usage_are_counted_but_not_summed() -> None:
    ledger = UsageLedger("gpt-4o-mini", "cloud", prices=PRICES)
    ledger.record_answer(AnswerOutcome("failed", "", None, "No key."), asked_by="Sam")
    ledger.record_decision(None)
    record = ledger.answers()[0]
    assert (record.status, record.prompt_tokens, record.cost) == ("failed", None, None)
    assert tokens_words(record.prompt_tokens) == "—"
    assert ledger.cost_words(record.cost) == "—"
    totals = ledger.totals()
    assert (totals.answers, totals.decisions, totals.uncounted) == (1, 1, 2)
    assert (totals.total_tokens, totals.cost) == (0, 0.0)


def test_memory_is_bounded_but_the_totals_cover_the_whole_session() -> None:
    ledger = UsageLedger("gpt-4o-mini", "cloud", prices=PRICES)
    for n in range(KEEP_ANSWERS + 20):
        ledger.record_answer(answer(10, 1), asked_by=f"p{n}")
    kept = ledger.answers()
    assert len(kept) == KEEP_ANSWERS == 500
    assert kept[0].asked_by == "p20" and kept[-1].asked_by == f"p{KEEP_ANSWERS + 19}"
    assert ledger.totals().answers == KEEP_ANSWERS + 20
    assert ledger.totals().prompt_tokens == 10 * (KEEP_ANSWERS + 20)
    small = UsageLedger("m", "cloud", keep=2, prices=PRICES)
    for _ in range(3):
        small.record_answer(answer())
    assert len(small.answers()) == 2


def test_every_record_is_a_change_a_view_can_notice() -> None:
    ledger = UsageLedger("gpt-4o-mini", "cloud", prices=PRICES)
    before = ledger.changes
    ledger.record_answer(answer())
    ledger.record_decision(Usage(1, 1, 2))
    assert ledger.changes == before + 2


def test_cut_off_answers_say_so() -> None:
    ledger = UsageLedger("gpt-4o-mini", "cloud", prices=PRICES)
    ledger.record_answer(answer(cut_off=True))
    ledger.record_answer(answer(status="interrupted"))
    assert [status_words(r) for r in ledger.answers()] == ["length limit", "cut off"]


def test_words_for_numbers() -> None:
    assert cost_words(0.000042, "priced") == "<$0.0001"
    assert cost_words(0.0123, "priced") == "$0.0123"
    assert cost_words(12345.678, "priced") == "$12,345.68"
    assert cost_words(0.0, "priced") == "$0"
    assert seconds_words(0.4211) == "0.42 s"
    assert seconds_words(3.14) == "3.1 s"
    assert seconds_words(75.2) == "75 s"
    assert seconds_words(None) == rate_words(None) == tokens_words(None) == "—"
    assert tokens_words(1234567) == "1,234,567"


def test_the_shipped_price_table_is_dated_and_prices_the_usual_models() -> None:
    table = load_prices()
    assert table is not None
    assert table.as_of >= "2025-01-01" and "openai.com" in table.source
    for model in ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "o3", "o4-mini", "gpt-5"):
        price = table.price_for(model)
        assert price is not None and 0 < price.input < price.output, model
    assert table.price_for("gpt-4o-mini-2024-07-18") == table.price_for("gpt-4o-mini")
    # A ledger made without a table uses the shipped one.
    assert UsageLedger("gpt-4o-mini", "cloud").prices_as_of == table.as_of
    raw = json.loads(resources.read_text("model_prices.json"))
    assert all(set(entry) == {"input", "output"} for entry in raw["models"].values())


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        '{"as_of": "2025-01-01", "models": {}}',
        '{"as_of": "2025-01-01", "source": "s", "models": {"m": {"input": "1", "output": 2}}}',
        '{"as_of": "2025-01-01", "source": "s", "models": {"m": {"input": -1, "output": 2}}}',
        '{"as_of": "2025-01-01", "source": "s", "models": {"m": {"input": true, "output": 2}}}',
    ],
)
def test_a_malformed_price_table_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        PriceTable.parse(text)
