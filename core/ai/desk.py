"""The assistant's desk in the room: when it answers, in what order, and within what limits.

Plain bookkeeping with no I/O and no clock of its own (times are passed in), used by
:class:`core.room.Room`: mention detection, the answer queue (one answer at a time, the rest
wait in order), who may stop or regenerate an answer, the room's token budget, each guest's
answer quota, and session usage.
"""

from __future__ import annotations

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

__all__ = ["AnswerOutcome", "AssistantConfig", "AssistantDesk", "Refusal", "Ticket"]

FINISHED_MEMORY = 200  # answers remembered for regenerate


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
class AnswerOutcome:
    """How an answer ended, as the relay reports it."""

    status: str  # "complete", "stopped", "interrupted" or "failed"
    text: str
    usage: Usage | None = None
    error: str | None = None


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
            minutes = max(1, round(window / 60))
            return Refusal(
                ErrorCode.QUOTA_EXCEEDED,
                f"You have had {quota} answers in the last {minutes} minutes; "
                f"try again in {_duration(wait)}.",
                retry_after=round(wait, 1),
            )
        return None

    # ----------------------------------------------------------------- the queue

    def enqueue(
        self, request: MessagePosted, asker: ParticipantId, asker_name: str, now: float,
        regenerates: AnswerId | None = None,
    ) -> Ticket:  # fmt: skip
        self._next_id += 1
        ticket = Ticket(AnswerId(f"a{self._next_id}"), request, asker, asker_name, regenerates)
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

    def finish(self, answer_id: AnswerId, usage: Usage | None) -> Ticket | None:
        """End the current answer; count its usage; remember it for regenerate."""
        ticket = self.current
        if ticket is None or ticket.answer_id != answer_id:
            return None
        self.current = None
        self.answers += 1
        self.add_usage(usage)
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

    def find(self, answer_id: AnswerId) -> Ticket | None:
        """A current, queued or finished answer by id."""
        if self.current is not None and self.current.answer_id == answer_id:
            return self.current
        for ticket in self.queue:
            if ticket.answer_id == answer_id:
                return ticket
        return self._finished.get(answer_id)

    def drop_queued(self, answer_id: AnswerId) -> Ticket | None:
        for ticket in self.queue:
            if ticket.answer_id == answer_id:
                self.queue.remove(ticket)
                return ticket
        return None

    def is_waiting(self, asker: str) -> bool:
        """Whether ``asker`` already has an answer waiting in the queue (one at a time each)."""
        return any(t.asked_by == asker for t in self.queue)

    def budget_spent(self) -> bool:
        budget = self.config.token_budget
        return budget is not None and self.session_usage.total_tokens >= budget

    def budget_just_spent(self, before: int) -> bool:
        """Whether the last answer took session usage from under the budget to over it."""
        budget = self.config.token_budget
        return budget is not None and before < budget <= self.session_usage.total_tokens


def _duration(seconds: float) -> str:
    seconds = max(1, round(seconds))
    if seconds < 90:
        return f"{seconds} s"
    return f"{round(seconds / 60)} min"
