"""The relay: writes the assistant's answers with the provider and streams them into the room.

The room decides *what* to answer (:class:`core.room.StartAnswer`, ``CancelAnswer``,
``Deliberate`` actions); the relay does the talking to the provider and reports back through
a :class:`RelaySink` (the room server):

* text arrives as coalesced deltas, at most ``flush_interval`` (40 ms) after the provider
  sent it, so frame counts stay sane without visible lag;
* rate limits (429) and server errors (5xx) are retried a bounded number of times before any
  text has streamed, honouring ``Retry-After`` up to ``RetryPolicy.max_wait`` (120 s), and
  the room is told about each wait in words; a provider that asks for a longer wait fails
  the answer at once, saying how long it asked for;
* a context that is too long is asked again with half of what was sent (by our count of
  its tokens), up to three times while it still shrinks; when nothing more can be left out
  (the question and the framing alone), the answer fails at once and says so;
* with a room token budget, a request asks for no more reply tokens than the budget has
  left after its prompt; when that is under ``MIN_ANSWER_TOKENS``, the provider is not
  asked at all and the answer fails, saying the budget is spent;
* a stream that breaks after text has arrived is finished as ``interrupted`` with the text
  kept, never retried (a retry would repeat what everyone already read);
* cancelling an answer closes the HTTP stream and finishes it as ``stopped``;
* files shared with the assistant go with the conversation (:mod:`core.ai.context`); a file
  that cannot go, or goes cut, is told to the room once as a ``notice`` (``file_not_sent``,
  ``file_shortened``); images the provider refuses are left out and the request is made once
  more without them, and those images are not sent again.

Every error reaches the room as the provider module's own wording, never the provider's text.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol

from core.ai.context import (
    AnswerJob,
    Prompt,
    build_prompt,
    deliberation_messages,
)
from core.ai.desk import MIN_ANSWER_TOKENS, AnswerOutcome, duration_in_words
from core.ai.file_parts import FILE_NOT_SENT, FileNotice
from core.ai.provider import ChatProvider, ProviderError, ProviderProblem
from core.ai.tokens import TokenCounter, context_window_for
from core.protocol import AnswerId, FileId, Usage

__all__ = ["MAX_RETRY_WAIT", "AiRelay", "RelaySink", "RetryPolicy"]

log = logging.getLogger("gptgroup.ai.relay")

PROMPT_MARGIN = 64  # tokens kept free on top of the reply, for counting differences
DECISION_TOKENS = 16  # room for "YES"/"NO" (reasoning models need some slack)
NOTICES_REMEMBERED = 1000  # (file, code) pairs already told to the room
# The longest Retry-After honoured: the queue waits behind it, so a longer wait fails at once.
MAX_RETRY_WAIT = 120.0
CONTEXT_TRIMS = 3  # "context too long": ask again at most this often, halving each time


class RelaySink(Protocol):
    """Where the relay reports; the room server implements it."""

    def answer_delta(self, answer_id: AnswerId, text: str) -> None: ...

    def answer_finished(self, answer_id: AnswerId, outcome: AnswerOutcome) -> None: ...

    def deliberated(self, request_seq: int, answer: bool, usage: Usage | None) -> None: ...

    def notice(self, level: str, code: str, text: str) -> None: ...

    def images_refused(self, files: tuple[FileId, ...]) -> None:
        """The provider refused these images: they will not be sent again (so the room stops
        listing them in ``answer_started.files``)."""


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries for rate limits and server errors, before any text has streamed.

    Without a ``Retry-After``, waits grow from ``base_delay`` to ``max_delay``; the
    provider's own wait is honoured as it is up to ``max_wait``, and beyond that the relay
    does not wait at all (see :meth:`delay`)."""

    max_attempts: int = 3
    base_delay: float = 1.0
    max_delay: float = 20.0
    max_wait: float = MAX_RETRY_WAIT

    def delay(self, attempt: int, retry_after: float | None) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``; None when the provider asks for
        longer than ``max_wait`` (then it is not worth holding the queue for)."""
        if retry_after is not None:
            return retry_after if retry_after <= self.max_wait else None
        return float(min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


class _Coalescer:
    """Gathers streamed text and hands it on at most ``interval`` seconds after it arrived."""

    def __init__(self, sink: RelaySink, answer_id: AnswerId, interval: float) -> None:
        self._sink = sink
        self._answer_id = answer_id
        self._interval = interval
        self._pending: list[str] = []
        self._timer: asyncio.TimerHandle | None = None

    def add(self, text: str) -> None:
        self._pending.append(text)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._interval, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pending:
            text = "".join(self._pending)
            self._pending.clear()
            self._sink.answer_delta(self._answer_id, text)


class AiRelay:
    """Runs one answer at a time for a room (the room keeps the queue). See module docstring."""

    def __init__(
        self,
        provider: ChatProvider,
        sink: RelaySink,
        *,
        flush_interval: float = 0.04,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.provider = provider
        self._sink = sink
        self._flush_interval = flush_interval
        self._retry = retry or RetryPolicy()
        settings = provider.settings
        self._counter = TokenCounter(settings.model, settings.kind)
        window = context_window_for(settings.model, settings.kind, settings.context_tokens)
        self._prompt_budget = max(256, window - settings.max_output_tokens - PROMPT_MARGIN)
        self._answers: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Images the provider refused: not sent again (each would fail the request again).
        self._refused: set[FileId] = set()
        # Every answer sends the whole context again; a file's notice is told only once.
        self._told: OrderedDict[tuple[FileId, str], None] = OrderedDict()

    def start(self, job: AnswerJob, *, tokens_left: int | None = None) -> None:
        """Begin writing ``job``'s answer in the background. ``tokens_left``: what is left
        of the room's token budget (None: no budget); the request and its reply stay within
        it, or the provider is not asked."""
        task = asyncio.create_task(self._answer(job, tokens_left), name=f"answer {job.answer_id}")
        self._answers[job.answer_id] = task
        self._track(task)
        task.add_done_callback(lambda t: self._cancelled_before_start(job, t))

    def _cancelled_before_start(self, job: AnswerJob, task: asyncio.Task[None]) -> None:
        """A task cancelled before it ran never reaches its own handlers: report it here,
        or the room would wait for this answer for ever."""
        if task.cancelled():
            self._answers.pop(job.answer_id, None)
            self._sink.answer_finished(job.answer_id, AnswerOutcome("stopped", ""))

    def cancel(self, answer_id: AnswerId) -> None:
        """Stop an answer; it is reported finished as ``stopped`` with its text so far."""
        task = self._answers.get(answer_id)
        if task is not None:
            task.cancel()

    def deliberate(self, job: AnswerJob) -> None:
        """Ask the model whether the assistant should answer ``job.request`` (auto mode)."""
        self._track(asyncio.create_task(self._deliberate(job), name="deliberate"))

    async def aclose(self) -> None:
        """Cancel everything in flight and release the provider's connections."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        await self.provider.aclose()

    def _track(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ----------------------------------------------------------------- answering

    async def _answer(self, job: AnswerJob, tokens_left: int | None) -> None:
        coalescer = _Coalescer(self._sink, job.answer_id, self._flush_interval)
        parts: list[str] = []
        prompt_tokens = 0
        usage: Usage | None = None
        try:
            budget = self._prompt_budget
            attempt = 0
            trims = 0
            too_long: ProviderError | None = None  # the provider's last "context too long"
            while True:
                attempt += 1
                prompt = await self._prompt(job, budget)
                if too_long is not None and prompt.tokens >= prompt_tokens:
                    # Only the framing and the question are left: asking again would fail
                    # the same way.
                    self._fail(job, f"{too_long} Even the question alone does not fit.")
                    return
                too_long = None
                self._tell(prompt.notices)
                prompt_tokens = prompt.tokens
                reply_tokens = self._reply_tokens(prompt_tokens, tokens_left)
                if reply_tokens is None:
                    self._fail(job, _BUDGET_TOO_SMALL)
                    return
                try:
                    stream = self.provider.stream(prompt.messages, max_tokens=reply_tokens)
                    async for chunk in stream:
                        if chunk.text:
                            parts.append(chunk.text)
                            coalescer.add(chunk.text)
                        if chunk.usage is not None:
                            usage = chunk.usage
                    break
                except ProviderError as error:
                    if parts:  # some text is out: keep it, never retry (it would repeat)
                        coalescer.flush()
                        self._finish(job, "interrupted", parts, prompt_tokens, usage, str(error))
                        return
                    if error.problem is ProviderProblem.IMAGES_REFUSED and prompt.has_images:
                        self._refuse_images(job, prompt)
                        continue
                    if error.problem is ProviderProblem.CONTEXT_TOO_LONG:
                        if trims == CONTEXT_TRIMS:
                            self._fail(job, f"{error} Even its most recent part does not fit.")
                            return
                        trims += 1
                        too_long = error
                        budget = prompt_tokens // 2  # of what was sent, not of the plan
                        log.info("context too long; asking again within %d tokens", budget)
                        continue
                    if error.problem in _RETRIED:
                        delay = self._retry.delay(attempt, error.retry_after)
                        if delay is None:  # longer than is worth holding the queue for
                            self._fail(job, _asks_to_wait(error))
                            return
                        if attempt < self._retry.max_attempts:
                            self._sink.notice(
                                "info", "assistant_retrying",
                                f"{error} Trying again in {_seconds(delay)}.",
                            )  # fmt: skip
                            await asyncio.sleep(delay)
                            continue
                    self._fail(job, str(error))
                    return
            coalescer.flush()
            self._finish(job, "complete", parts, prompt_tokens, usage, None)
        except asyncio.CancelledError:
            coalescer.flush()
            self._finish(job, "stopped", parts, prompt_tokens, usage, None)
        except Exception:  # a bug must not leave the room waiting for ever
            log.exception("answer %s failed unexpectedly", job.answer_id)
            coalescer.flush()
            words = "The assistant ran into an error."
            self._finish(job, "failed", parts, prompt_tokens, usage, words)
        finally:
            self._answers.pop(job.answer_id, None)

    def _reply_tokens(self, prompt_tokens: int, tokens_left: int | None) -> int | None:
        """The reply's token limit: the configured one, cut to what the room's budget has
        left after the prompt; None when that leaves under ``MIN_ANSWER_TOKENS``."""
        limit = self.provider.settings.max_output_tokens
        if tokens_left is None:
            return limit
        room = tokens_left - prompt_tokens
        if room < MIN_ANSWER_TOKENS:
            log.info("budget left (%d) too small for a %d-token prompt", tokens_left, prompt_tokens)
            return None
        return min(limit, room)

    async def _prompt(self, job: AnswerJob, budget: int) -> Prompt:
        """The request's messages; built in a worker thread when files go with it, since
        counting the tokens of long texts takes a while."""
        model = self.provider.model
        if not job.files_in_context:
            return build_prompt(job, self._counter, budget, model=model)
        refused = frozenset(self._refused)
        return await asyncio.to_thread(
            build_prompt, job, self._counter, budget, model=model, refused=refused
        )

    def _refuse_images(self, job: AnswerJob, prompt: Prompt) -> None:
        """Leave out the images the provider just refused, from now on."""
        images = [f.id for f in job.files_in_context if f.kind == "image" and f.id in prompt.files]
        log.info("the provider refused %d image(s); asking again without them", len(images))
        self._refused.update(images)
        self._sink.images_refused(tuple(images))

    def _tell(self, notices: tuple[FileNotice, ...]) -> None:
        """Tell the room about files that did not go or went cut, once per file and kind."""
        for notice in notices:
            key = (notice.file, notice.code)
            if key in self._told:
                continue
            self._told[key] = None
            while len(self._told) > NOTICES_REMEMBERED:
                self._told.popitem(last=False)
            level = "warning" if notice.code == FILE_NOT_SENT else "info"
            self._sink.notice(level, notice.code, notice.text)

    def _fail(self, job: AnswerJob, error: str) -> None:
        self._sink.answer_finished(job.answer_id, AnswerOutcome("failed", "", None, error))

    def _finish(
        self,
        job: AnswerJob,
        status: str,
        parts: list[str],
        prompt_tokens: int,
        usage: Usage | None,
        error: str | None,
    ) -> None:
        """``prompt_tokens``: what the request cost by our count, for when the provider does
        not say."""
        text = "".join(parts)
        if usage is None and (text or status == "complete"):
            completion = self._counter.text(text)
            usage = Usage(prompt_tokens, completion, prompt_tokens + completion, estimated=True)
        self._sink.answer_finished(job.answer_id, AnswerOutcome(status, text, usage, error))

    async def _deliberate(self, job: AnswerJob) -> None:
        """Always reports a decision (no, when anything goes wrong), or auto mode would wait
        for this one for ever; only a cancellation (the room closing) reports nothing."""
        answer = False
        usage: Usage | None = None
        try:
            messages = deliberation_messages(job, self._counter)
            reply, usage = await self.provider.complete(messages, max_tokens=DECISION_TOKENS)
            answer = reply.strip().upper().startswith("YES")
        except asyncio.CancelledError:
            raise
        except ProviderError as error:
            log.info("auto mode could not decide (%s); staying quiet", error.problem.value)
        except Exception:
            log.exception("auto mode's decision request failed unexpectedly; staying quiet")
        self._sink.deliberated(job.request.seq, answer, usage)


_RETRIED = (ProviderProblem.RATE_LIMITED, ProviderProblem.SERVER)
# What each retried problem is, to say beside the wait the provider asked for.
_WAITING_FOR = {
    ProviderProblem.RATE_LIMITED: "The AI provider is rate limiting this room",
    ProviderProblem.SERVER: "The AI provider is unavailable",
}
_BUDGET_TOO_SMALL = (
    "Too little is left of this room's token budget for the assistant to answer this; "
    "the host can raise it."
)


def _asks_to_wait(error: ProviderError) -> str:
    """The failure for a wait longer than the relay holds the queue for, in words."""
    assert error.retry_after is not None
    what = _WAITING_FOR.get(error.problem, "The AI provider is busy")
    return f"{what} and asks to wait {duration_in_words(error.retry_after)}; ask again then."


def _seconds(delay: float) -> str:
    return duration_in_words(delay) if delay >= 1 else "a moment"
