"""What the assistant cost and how fast it was, per answer and for the session: for the host.

The relay owns one :class:`UsageLedger` per room (``AiRelay.ledger``; the server hands it out
as ``RoomServer.assistant_ledger``) and records every answer that ends, whatever its status,
and every decision auto mode asks the model for. Front ends read :meth:`UsageLedger.answers`
and :meth:`UsageLedger.totals`; the words for costs, rates and times are here too
(:func:`cost_words`, :func:`rate_words`, :func:`seconds_words`), so the terminal host and the
desktop say the same thing.

What is kept, and what is not:

* per answer (the last :data:`KEEP_ANSWERS`): when it ended, the asker's display name, its
  status, its token counts, its time to first text, its tokens per second and its estimated
  cost. Nothing of the question's or the answer's text is kept (chat content lives in the
  room only); the asker's name is text from the network, to be shown safely;
* for the session: the same sums over every answer and decision since the room opened, in
  constant memory.

The numbers:

* **time to first token**: seconds from the start of the request that wrote the answer (the
  last one, when the relay had to ask again) to its first text;
* **tokens per second**: completion tokens / (finished - first text), only when both are
  known and the interval is at least :data:`MIN_RATE_SECONDS` (a whole answer that came in
  one piece has no rate worth showing). A reasoning model's completion tokens include its
  reasoning, written before the first text, so its rate reads high;
* **cost**: tokens times the model's price in ``resources/model_prices.json`` (OpenAI's
  published prices per million tokens, with the date they were read). An estimate: input
  that the provider served from its cache is cheaper than counted here, and a model on
  another cloud server is priced as OpenAI prices it. A local provider costs the host
  nothing ("local, no charge"); a model not in the table has no cost ("cost unknown").
  Dated model ids (``gpt-4o-mini-2024-07-18``) take their base model's price unless the table
  names the dated id itself.

Token counts the provider did not report are the relay's own count (``Usage.estimated``):
records and totals say so, and everything computed from them is an estimate too.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Literal

from core.ai.desk import AnswerOutcome
from core.protocol import Usage
from core.wording import answer_status_words

__all__ = [
    "KEEP_ANSWERS",
    "LOCAL_NO_CHARGE",
    "MIN_RATE_SECONDS",
    "UNKNOWN_COST",
    "AnswerRecord",
    "Charging",
    "ModelPrice",
    "PriceTable",
    "UsageLedger",
    "UsageTotals",
    "cost_words",
    "load_prices",
    "rate_words",
    "seconds_words",
    "status_words",
    "tokens_words",
]

log = logging.getLogger("gptgroup.ai.usage")

KEEP_ANSWERS = 500  # answers kept one by one; the session totals cover every answer
MIN_RATE_SECONDS = 0.25  # shorter streams have no rate worth showing
PRICES_RESOURCE = "model_prices.json"
LOCAL_NO_CHARGE = "local, no charge"
UNKNOWN_COST = "cost unknown"
_PER = 1_000_000  # prices are per million tokens
_DATED = re.compile(r"-\d{4}-\d{2}-\d{2}$")  # gpt-4o-mini-2024-07-18

Charging = Literal["priced", "local", "unknown"]
"""How the host pays for the model: a known price, nothing (a local provider), or unknown."""


@dataclass(frozen=True)
class ModelPrice:
    """US dollars per million tokens."""

    input: float
    output: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input + completion_tokens * self.output) / _PER


@dataclass(frozen=True)
class PriceTable:
    """Model prices as published on ``as_of`` (an ISO date), and where they come from."""

    as_of: str
    source: str
    models: Mapping[str, ModelPrice]

    def price_for(self, model: str) -> ModelPrice | None:
        """The price of ``model``: its own entry, or its base model's for a dated id
        (``gpt-4o-mini-2024-07-18`` is ``gpt-4o-mini``); None for a model not listed."""
        model = model.strip().lower()
        found = self.models.get(model)
        if found is None and _DATED.search(model):
            found = self.models.get(_DATED.sub("", model))
        return found

    @classmethod
    def parse(cls, text: str) -> PriceTable:
        """The table in ``resources/model_prices.json``'s format; raises ``ValueError``."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("the price table is not a JSON object")
        as_of, source, models = data.get("as_of"), data.get("source"), data.get("models")
        if not isinstance(as_of, str) or not isinstance(source, str):
            raise ValueError("the price table needs an 'as_of' date and a 'source'")
        if not isinstance(models, dict):
            raise ValueError("the price table needs 'models'")
        prices = {}
        for name, entry in models.items():
            if not isinstance(entry, dict):
                raise ValueError(f"{name}: not an object")
            numbers = [entry.get("input"), entry.get("output")]
            if not all(
                isinstance(n, int | float) and not isinstance(n, bool) and 0 <= n < math.inf
                for n in numbers
            ):
                raise ValueError(f"{name}: 'input' and 'output' must be prices in dollars")
            prices[name.lower()] = ModelPrice(float(entry["input"]), float(entry["output"]))
        return cls(as_of, source, prices)


@cache
def load_prices() -> PriceTable | None:
    """The shipped price table, read once; None (and a warning in the log) when it cannot be
    read, which leaves every cost unknown rather than stopping the room."""
    from resources import read_text  # noqa: PLC0415 (the resources package, read on first use)

    try:
        return PriceTable.parse(read_text(PRICES_RESOURCE))
    except (OSError, ValueError) as exc:
        log.warning("cannot read the model price table: %s", exc)
        return None


@dataclass(frozen=True)
class AnswerRecord:
    """One answer, as the host's usage view shows it. Holds no chat content.

    ``asked_by`` is the asker's display name as the room knew it (network text: show it
    safely). Token counts are None when the answer has none (it failed before the provider
    was asked, or the provider said nothing and no text came); ``estimated`` when they are
    the relay's own count. ``cost`` is None unless the model has a price."""

    ended_at: float  # wall clock (time.time())
    asked_by: str
    status: str  # "complete", "stopped", "interrupted" or "failed"
    cut_off: bool
    prompt_tokens: int | None
    completion_tokens: int | None
    estimated: bool
    first_text: float | None  # seconds to the first text; None: no text came (or not timed)
    tokens_per_second: float | None
    cost: float | None


@dataclass(frozen=True)
class UsageTotals:
    """The session so far: every answer and auto mode decision since the room opened.

    ``tokens_estimated``: some of the counts are the relay's own. ``uncounted``: answers and
    decisions whose tokens nobody knows (the provider reported none), so the sums may be
    short. ``mean_first_text`` is over the answers that had text; ``tokens_per_second`` is
    their completion tokens over their streaming time, for the answers that have a rate."""

    answers: int
    answers_with_text: int
    decisions: int
    prompt_tokens: int
    completion_tokens: int
    tokens_estimated: bool
    uncounted: int
    mean_first_text: float | None
    tokens_per_second: float | None
    cost: float | None  # None unless the model has a price

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class UsageLedger:
    """Every answer's tokens and timing, and auto mode's decisions, for one room.

    Bounded memory: the last ``keep`` answers one by one, sums for the rest. ``prices``: the
    price table (the shipped one when None); ``clock`` dates the records. Not thread-safe:
    written and read on the room's event loop (the desktop's is the Qt thread's)."""

    def __init__(
        self,
        model: str,
        provider_kind: str,
        *,
        keep: int = KEEP_ANSWERS,
        prices: PriceTable | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if keep < 1:
            raise ValueError("keep at least one answer")
        self.model = model
        self.provider_kind = provider_kind
        table = prices if prices is not None else load_prices()
        self._price: ModelPrice | None = None
        self.prices_as_of: str | None = None
        """The date of the prices used (None when no price is used)."""
        if provider_kind != "local" and table is not None:
            self._price = table.price_for(model)
            self.prices_as_of = table.as_of if self._price is not None else None
        self._clock = clock
        self._records: deque[AnswerRecord] = deque(maxlen=keep)
        self._answers = 0
        self._with_text = 0
        self._decisions = 0
        self._prompt = 0
        self._completion = 0
        self._estimated = False
        self._uncounted = 0
        self._first_text_sum = 0.0
        self._rate_tokens = 0
        self._rate_seconds = 0.0
        self._cost = 0.0
        self.changes = 0
        """Goes up with every record: a view compares it to know when to redraw."""

    @property
    def charging(self) -> Charging:
        if self.provider_kind == "local":
            return "local"
        return "priced" if self._price is not None else "unknown"

    @property
    def price(self) -> ModelPrice | None:
        """The model's price per million tokens; None for a local or unlisted model."""
        return self._price

    # ----------------------------------------------------------------- recording

    def record_answer(self, outcome: AnswerOutcome, *, asked_by: str = "") -> None:
        """One answer ended (any status). ``asked_by``: the asker's display name."""
        usage = outcome.usage
        timing = outcome.timing
        first_text = timing.first_text if timing is not None else None
        rate = None
        if usage is not None and timing is not None and first_text is not None:
            streaming = timing.finished - first_text
            if streaming >= MIN_RATE_SECONDS and usage.completion_tokens > 0:
                rate = usage.completion_tokens / streaming
                self._rate_tokens += usage.completion_tokens
                self._rate_seconds += streaming
        cost = self._count(usage)
        self._answers += 1
        if first_text is not None:
            self._with_text += 1
            self._first_text_sum += first_text
        self._records.append(
            AnswerRecord(
                ended_at=self._clock(),
                asked_by=asked_by,
                status=outcome.status,
                cut_off=outcome.cut_off,
                prompt_tokens=usage.prompt_tokens if usage is not None else None,
                completion_tokens=usage.completion_tokens if usage is not None else None,
                estimated=usage is not None and usage.estimated,
                first_text=first_text,
                tokens_per_second=rate,
                cost=cost,
            )
        )
        self.changes += 1

    def record_decision(self, usage: Usage | None) -> None:
        """Auto mode asked the model whether to answer (``usage``: what that cost, if the
        provider said)."""
        self._decisions += 1
        self._count(usage)
        self.changes += 1

    def _count(self, usage: Usage | None) -> float | None:
        """Add ``usage`` to the session's sums; its cost (None without a price or usage)."""
        if usage is None:
            self._uncounted += 1
            return None
        self._prompt += usage.prompt_tokens
        self._completion += usage.completion_tokens
        self._estimated = self._estimated or usage.estimated
        if self._price is None:
            return None
        cost = self._price.cost(usage.prompt_tokens, usage.completion_tokens)
        self._cost += cost
        return cost

    # ----------------------------------------------------------------- reading

    def answers(self) -> tuple[AnswerRecord, ...]:
        """The last answers (up to ``keep``), oldest first."""
        return tuple(self._records)

    def totals(self) -> UsageTotals:
        return UsageTotals(
            answers=self._answers,
            answers_with_text=self._with_text,
            decisions=self._decisions,
            prompt_tokens=self._prompt,
            completion_tokens=self._completion,
            tokens_estimated=self._estimated,
            uncounted=self._uncounted,
            mean_first_text=self._first_text_sum / self._with_text if self._with_text else None,
            tokens_per_second=(
                self._rate_tokens / self._rate_seconds if self._rate_seconds > 0 else None
            ),
            cost=self._cost if self._price is not None else None,
        )

    def pricing_words(self) -> str:
        """How costs are reckoned, in a few words: "local, no charge", "cost unknown: ... is
        not in the price table", or the price and its date."""
        match self.charging:
            case "local":
                return LOCAL_NO_CHARGE
            case "unknown":
                return f"{UNKNOWN_COST}: {self.model} is not in the price table"
        assert self._price is not None
        return (
            f"estimated at OpenAI's prices of {self.prices_as_of} for {self.model}: "
            f"{_dollars(self._price.input)} per million tokens in, "
            f"{_dollars(self._price.output)} out"
        )

    def cost_words(self, cost: float | None, *, estimated: bool = False) -> str:
        """A cost as :func:`cost_words` says it, for this ledger's model."""
        return cost_words(cost, self.charging, estimated=estimated)


# --------------------------------------------------------------------- words


def cost_words(cost: float | None, charging: Charging, *, estimated: bool = False) -> str:
    """``$0.0042``, ``$1.25``, "local, no charge" or "cost unknown"; ``~`` in front when the
    tokens it was reckoned from were estimates. A priced answer without token counts has no
    cost either: "—"."""
    if charging == "local":
        return LOCAL_NO_CHARGE
    if charging == "unknown":
        return UNKNOWN_COST
    if cost is None:
        return "—"
    mark = "~" if estimated else ""
    if cost == 0:
        return f"{mark}$0"
    if cost < 0.0001:
        return f"{mark}<$0.0001"
    return f"{mark}${cost:.4f}" if cost < 1 else f"{mark}${cost:,.2f}"


def _dollars(price: float) -> str:
    """A price per million tokens: ``$0.15``, ``$0.60``, ``$10.00``, ``$0.075``."""
    cents = f"{price:,.2f}"
    return f"${cents}" if float(cents.replace(",", "")) == price else f"${price:g}"


def status_words(record: AnswerRecord) -> str:
    """The record's status as the chat marks it ("cut off" for one that broke off, "no
    answer" for a failure); "length limit" for one the model ended at its length limit."""
    if record.cut_off and record.status == "complete":
        return "length limit"
    return answer_status_words(record.status)


def tokens_words(count: int | None, *, estimated: bool = False) -> str:
    """``1,234``, ``~1,234`` for the relay's own count, or "—" when nobody knows."""
    if count is None:
        return "—"
    return f"{'~' if estimated else ''}{count:,}"


def seconds_words(seconds: float | None) -> str:
    """``0.42 s``, ``3.1 s``, ``75 s``; "—" when not known."""
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds:.2f} s"
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"


def rate_words(rate: float | None, *, estimated: bool = False, unit: bool = True) -> str:
    """``42.0 tokens/s`` (``~`` for estimated counts; without the unit for a column that
    names it); "—" when not known."""
    if rate is None:
        return "—"
    return f"{'~' if estimated else ''}{rate:.1f}{' tokens/s' if unit else ''}"
