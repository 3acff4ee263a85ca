"""The assistant's desk in the room: when it answers, in what order, and within what limits.

Plain bookkeeping with no I/O and no clock of its own (times are passed in), used by
:class:`core.room.Room`: mention detection, the answer queue (one answer at a time, the rest
wait in order), who may stop or regenerate an answer, the room's token budget, each guest's
answer quota, and session usage.

Only answers that produced text count against a guest's quota: a question is counted when
it is queued (so nobody can fill the queue), and given back when its answer ends without
any text (a provider failure, or stopped before the first word).
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict, deque
from dataclasses import dataclass, field, replace

from core.protocol import (
    ANSWER_MODES,
    AnswerId,
    AnswerTicket,
    AssistantInfo,
    AssistantState,
    ErrorCode,
    MessagePosted,
    ParticipantId,
    Usage,
)

__all__ = [
    "MIN_ANSWER_TOKENS",
    "AnswerOutcome",
    "AnswerTiming",
    "AssistantConfig",
    "AssistantDesk",
    "Refusal",
    "Ticket",
    "duration_in_words",
]

FINISHED_MEMORY = 200  # answers remembered for regenerate
# What a continuation keeps of the answers it continues: far more than one request can send of
# them (the end matters), and a bound on what a long chain of continuations holds.
CONTINUED_CHARS = 100_000
# Below this many tokens of the room's budget, an answer could say next to nothing (the
# question itself costs tokens too): the budget counts as spent.
MIN_ANSWER_TOKENS = 32


@dataclass(frozen=True)
class AssistantConfig:
    """The assistant as the host set it up. Holds no secret: the key stays with the provider."""

    model: str
    provider: str = "OpenAI"
    provider_kind: str = "cloud"
    name: str = "assistant"
    mode: str = "mention"
    persona: str = ""
    token_budget: int | None = None
    answer_quota: int | None = None
    quota_window: float = 600.0

    def __post_init__(self) -> None:
        if self.mode not in ANSWER_MODES:
            raise ValueError(f"answer mode must be one of {', '.join(ANSWER_MODES)}")


@dataclass(frozen=True)
class AnswerTiming:
    """When an answer's text came, in seconds from the start of the request that wrote it
    (the last one, when the relay had to ask again)."""

    first_text: float | None  # None: no text came
    finished: float


@dataclass(frozen=True)
class AnswerOutcome:
    """How an answer ended, as the relay reports it. ``cut_off``: the model stopped at its
    length limit (the answer is complete as far as it goes, but not finished)."""

    status: str  # "complete", "stopped", "interrupted" or "failed"
    text: str
    usage: Usage | None = None
    error: str | None = None
    timing: AnswerTiming | None = None
    cut_off: bool = False


@dataclass(frozen=True)
class Refusal:
    code: ErrorCode
    text: str
    retry_after: float | None = None


@dataclass
class Ticket:
    """One requested answer, queued or being written."""

    answer_id: AnswerId
    request: MessagePosted
    asked_by: ParticipantId
    asked_by_name: str
    regenerates: AnswerId | None = None
    text: str = ""
    stopped_by: ParticipantId | None = None
    asked_at: float = 0.0  # when it was queued, as counted against the asker's quota
    continues: AnswerId | None = None  # the cut-off answer this one goes on with
    before: str = ""  # a continuation: the end of what the answers it continues wrote
    cut_off: bool = False  # finished at the model's length limit
    continued: bool = False  # cut off, and a continuation of it is queued or has text

    def public(self) -> AnswerTicket:
        return AnswerTicket(self.answer_id, self.asked_by, self.asked_by_name)


@dataclass
class AssistantDesk:
    """See the module docstring. ``config`` may be replaced live with :meth:`configure`."""

    config: AssistantConfig
    current: Ticket | None = None
    queue: deque[Ticket] = field(default_factory=deque)
    session_usage: Usage = field(default_factory=Usage)
    answers: int = 0
    _finished: OrderedDict[str, Ticket] = field(default_factory=OrderedDict)
    _asked_at: dict[str, deque[float]] = field(default_factory=dict)
    _next_id: int = 0

    # ----------------------------------------------------------------- what everyone sees

    def info(self) -> AssistantInfo:
        c = self.config
        return AssistantInfo(c.name, c.provider, c.provider_kind, c.model, c.mode)

    def state(self) -> AssistantState:
        answering = self.current.public() if self.current else None
        return AssistantState(answering, tuple(t.public() for t in self.queue))

    def configure(self, **changes: object) -> None:
        """Replace settings; raises ``ValueError`` for an unknown mode."""
        self.config = replace(self.config, **changes)  # type: ignore[arg-type]

    # ----------------------------------------------------------------- when to answer

    def mentions(self, text: str) -> bool:
        """Whether ``text`` addresses the assistant as ``@name`` (any case, whole word)."""
        names = {self.config.name, "assistant"}
        pattern = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
        return re.search(rf"(?<!\w)@(?:{pattern})(?!\w)", text, re.IGNORECASE) is not None

    def wants_answer(self, text: str) -> bool:
        """Whether a message calls for an answer without asking the model first."""
        return self.config.mode == "always" or self.mentions(text)

    def refusal(self, asker: str, is_host: bool, now: float) -> Refusal | None:
        """Why ``asker`` may not have an answer now (budget spent, quota used), or None."""
        if self.budget_spent():
            return Refusal(
                ErrorCode.BUDGET_EXHAUSTED,
                "The assistant has used this room's token budget; the host can raise it.",
            )
        quota = self.config.answer_quota
        if quota is None or is_host:
            return None
        window = self.config.quota_window
        asked = self._asked_at.setdefault(asker, deque())
        while asked and asked[0] <= now - window:
            asked.popleft()
        if len(asked) >= quota:
            wait = asked[0] + window - now
            answers = "1 answer" if quota == 1 else f"{quota} answers"
            return Refusal(
                ErrorCode.QUOTA_EXCEEDED,
                f"You have had {answers} in the last {_window_in_words(window)}; "
                f"try again in {duration_in_words(wait)}.",
                retry_after=round(wait, 1),
            )
        return None

    # ----------------------------------------------------------------- the queue

    def enqueue(
        self, request: MessagePosted, asker: ParticipantId, asker_name: str, now: float,
        regenerates: AnswerId | None = None, continues: AnswerId | None = None,
        before: str = "",
    ) -> Ticket:  # fmt: skip
        """Queue an answer to ``request``. A continuation names the cut-off answer it goes on
        with (``continues``; it answers the same request) and carries what the answers before
        it wrote (``before``: only its last :data:`CONTINUED_CHARS` are kept, which is more
        than a request can send); that answer counts as continued while this one may still
        write something."""
        self._next_id += 1
        ticket = Ticket(
            AnswerId(f"a{self._next_id}"), request, asker, asker_name, regenerates, asked_at=now
        )
        if continues is not None:
            ticket.continues = continues
            ticket.before = before[-CONTINUED_CHARS:]
            self._set_continued(continues, True)
        self.queue.append(ticket)
        self._asked_at.setdefault(asker, deque()).append(now)
        return ticket

    def start_next(self) -> Ticket | None:
        """Make the next queued ticket current, if nothing is being answered."""
        if self.current is not None or not self.queue:
            return None
        self.current = self.queue.popleft()
        return self.current

    def append(self, answer_id: AnswerId, text: str) -> int | None:
        """Add streamed text to the current answer; returns the offset it starts at."""
        if self.current is None or self.current.answer_id != answer_id:
            return None
        offset = len(self.current.text)
        self.current.text += text
        return offset

    def finish(
        self,
        answer_id: AnswerId,
        usage: Usage | None,
        text: str | None = None,
        *,
        cut_off: bool = False,
    ) -> Ticket | None:
        """End the current answer; count its usage; remember it for regenerate (and, when
        the model ``cut_off`` it, for continuing). An answer without text (``text``, its
        final text, or else what streamed) is given back to its asker's quota."""
        ticket = self.current
        if ticket is None or ticket.answer_id != answer_id:
            return None
        self.current = None
        if text is not None:
            ticket.text = text
        ticket.cut_off = cut_off
        self.answers += 1
        self.add_usage(usage)
        if not (ticket.text if text is None else text):
            self._uncount(ticket)
            if ticket.continues is not None:  # it added nothing: the cut answer may go on
                self._set_continued(ticket.continues, False)
        self._finished[answer_id] = ticket
        while len(self._finished) > FINISHED_MEMORY:
            self._finished.popitem(last=False)
        return ticket

    def add_usage(self, usage: Usage | None) -> None:
        """Count tokens spent (answers, and auto mode's decisions) against the session."""
        if usage is None:
            return
        total = self.session_usage
        self.session_usage = Usage(
            total.prompt_tokens + usage.prompt_tokens,
            total.completion_tokens + usage.completion_tokens,
            total.total_tokens + usage.total_tokens,
            total.estimated or usage.estimated,
        )

    def finished(self, answer_id: AnswerId) -> Ticket | None:
        """A finished answer still remembered, by id."""
        return self._finished.get(answer_id)

    def find(self, answer_id: AnswerId) -> Ticket | None:
        """A current, queued or finished answer by id."""
        if self.current is not None and self.current.answer_id == answer_id:
            return self.current
        for ticket in self.queue:
            if ticket.answer_id == answer_id:
                return ticket
        return self._finished.get(answer_id)

    def drop_queued(self, answer_id: AnswerId) -> Ticket | None:
        """Take a waiting ticket out of the queue (it never ran: its quota is given back)."""
        for ticket in self.queue:
            if ticket.answer_id == answer_id:
                self.queue.remove(ticket)
                self._uncount(ticket)
                if ticket.continues is not None:
                    self._set_continued(ticket.continues, False)
                return ticket
        return None

    def _tickets(self) -> list[Ticket]:
        """Every ticket held: finished, being written, waiting."""
        held = [*self._finished.values(), *self.queue]
        return held if self.current is None else [*held, self.current]

    def forget_request(self, seq: int, deleted: MessagePosted) -> bool:
        """Message ``seq`` was deleted: every ticket asked by it holds ``deleted`` (its text
        gone) instead, and those still waiting leave the queue; requests that quoted it keep
        no quote of it. Returns whether any ticket left the queue."""
        dropped = [t for t in self.queue if t.request.seq == seq]
        for ticket in dropped:
            self.drop_queued(ticket.answer_id)
        for held in self._tickets():
            if held.request.seq == seq:
                held.request = deleted
            quote = held.request.reply_to
            if quote is not None and quote.message == seq:
                gone = replace(quote, text="", deleted=True)
                held.request = replace(held.request, reply_to=gone)
        return bool(dropped)

    def forget_answer_text(self, answer_id: AnswerId) -> bool:
        """Answer ``answer_id`` was deleted: forget its text (it can no longer be continued)
        and every copy of it in the continuations that went on from it, however far down
        the chain; a continuation still waiting leaves the queue, having nothing left to go
        on from. Returns whether any ticket left the queue."""
        gone = {answer_id}
        grew = True
        while grew:  # continuations of continuations: a chain A -> B -> C carries A in C
            more = {t.answer_id for t in self._tickets() if t.continues in gone}
            grew = not more <= gone
            gone |= more
        dropped = [t for t in self.queue if t.answer_id in gone]
        for ticket in dropped:
            self.drop_queued(ticket.answer_id)
        for held in self._tickets():
            if held.answer_id == answer_id:
                held.text, held.cut_off = "", False
            elif held.answer_id in gone:
                held.before = ""
        return bool(dropped)

    def _set_continued(self, answer_id: AnswerId, continued: bool) -> None:
        cut = self._finished.get(answer_id)
        if cut is not None:
            cut.continued = continued

    def _uncount(self, ticket: Ticket) -> None:
        """Give ``ticket``'s question back to its asker's quota."""
        asked = self._asked_at.get(ticket.asked_by)
        if asked is not None and ticket.asked_at in asked:
            asked.remove(ticket.asked_at)

    def is_waiting(self, asker: str) -> bool:
        """Whether ``asker`` already has an answer waiting in the queue (one at a time each)."""
        return any(t.asked_by == asker for t in self.queue)

    def tokens_left(self) -> int | None:
        """What is left of the room's token budget (0 at most), or None without a budget.
        An answer's request must ask for no more than this, less what its prompt costs."""
        budget = self.config.token_budget
        if budget is None:
            return None
        return max(0, budget - self.session_usage.total_tokens)

    def budget_spent(self) -> bool:
        """Whether too little of the budget is left for an answer (``MIN_ANSWER_TOKENS``)."""
        return _spent(self.config.token_budget, self.session_usage.total_tokens)

    def budget_just_spent(self, before: int) -> bool:
        """Whether the last answer took session usage from ``before`` (not spent) to spent."""
        budget = self.config.token_budget
        return not _spent(budget, before) and _spent(budget, self.session_usage.total_tokens)


def _spent(budget: int | None, used: int) -> bool:
    return budget is not None and budget - used < MIN_ANSWER_TOKENS


_UNITS = ((3600, "hour"), (60, "minute"), (1, "second"))


def duration_in_words(seconds: float) -> str:
    """``seconds`` as people say it: "1 second", "45 seconds", "1 minute 30 seconds",
    "10 minutes", "2 hours 5 minutes". Rounded up to the second (a short wait is never longer
    than said); beyond ten minutes, to the nearest minute; beyond a day, "more than a day"."""
    left = max(1, math.ceil(seconds - 1e-9))
    if left > 86_400:
        return "more than a day"
    if left > 600:
        left = 60 * round(left / 60)
    parts = []
    for size, unit in _UNITS:
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count} {unit}" if count == 1 else f"{count} {unit}s")
    return " ".join(parts[:2])


def _window_in_words(seconds: float) -> str:
    """A window as in "the last minute", "the last 15 seconds", "the last 10 minutes"."""
    words = duration_in_words(seconds)
    return words.removeprefix("1 ") if words.count(" ") == 1 else words
