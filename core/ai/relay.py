"""The relay: writes the assistant's answers with the provider and streams them into the room.

The room decides *what* to answer (:class:`core.room.StartAnswer`, ``CancelAnswer``,
``Deliberate`` actions); the relay does the talking to the provider and reports back through
a :class:`RelaySink` (the room server):

* each piece of text is passed on the moment the provider sends it (merging pieces for a
  reader that is behind is the server's business, per connection);
* rate limits (429), server errors (5xx, or an error event in the stream) and a connection
  that broke off are retried a bounded number of times before any text has streamed,
  honouring ``Retry-After`` up to ``RetryPolicy.max_wait`` (120 s), and the room is told
  about each wait in words; a provider that asks for a longer wait (or one past the
  answer's deadline) fails the answer at once, saying how long it asked for;
* an answer is given up when the provider sends nothing for ``stall_limit`` seconds (SSE
  keep-alive comments do not count) or when it has taken ``answer_deadline`` seconds in
  all (both :class:`~core.ai.provider.ProviderSettings`); text written by then is kept;
* an answer the model ended at its length limit (``finish_reason: length``) is complete but
  marked ``cut_off``;
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
Every answer's tokens and timing, and every decision's tokens, go to :attr:`AiRelay.ledger`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from core.ai.capabilities import ModelCapabilities, detect_capabilities, from_name
from core.ai.context import (
    AnswerJob,
    Prompt,
    build_prompt,
    deliberation_messages,
    read_decision,
)
from core.ai.desk import MIN_ANSWER_TOKENS, AnswerOutcome, AnswerTiming, duration_in_words
from core.ai.file_parts import FILE_NOT_SENT, FileNotice
from core.ai.provider import ChatProvider, ProviderError, ProviderProblem, ProviderSettings
from core.ai.tokens import TokenCounter, context_window_for
from core.ai.usage_ledger import UsageLedger
from core.protocol import AnswerId, FileId, Usage

if TYPE_CHECKING:  # the SDK is imported when a provider is made (see core.ai.provider)
    from openai.types.shared import ReasoningEffort

__all__ = ["MAX_RETRY_WAIT", "AiRelay", "RelaySink", "RetryPolicy"]

log = logging.getLogger("gptgroup.ai.relay")

PROMPT_MARGIN = 64  # tokens kept free on top of the reply, for counting differences
DECISION_TOKENS = 16  # room for "YES"/"NO"
# A reasoning model counts its reasoning in its reply's tokens: it needs room to think first.
REASONING_DECISION_TOKENS = 1024
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


class _GaveUp(Exception):
    """The relay stopped waiting for the provider (stall limit or deadline); ``str()`` says
    so in words for everyone."""


@dataclass
class _Answer:
    """One answer being written: what has come so far, and when."""

    job: AnswerJob
    loop: asyncio.AbstractEventLoop
    parts: list[str] = field(default_factory=list)
    prompt_tokens: int = 0  # what the request cost by our count, for when the provider won't say
    usage: Usage | None = None
    cut_off: bool = False  # the model stopped at its length limit
    started: float | None = None  # when the request that is writing it was made
    first_text: float | None = None

    def timing(self) -> AnswerTiming | None:
        if self.started is None:
            return None
        first = None if self.first_text is None else self.first_text - self.started
        return AnswerTiming(first, self.loop.time() - self.started)


class AiRelay:
    """Runs one answer at a time for a room (the room keeps the queue). See module docstring."""

    def __init__(
        self,
        provider: ChatProvider,
        sink: RelaySink,
        *,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.provider = provider
        self._sink = sink
        self._retry = retry or RetryPolicy()
        settings = provider.settings
        self.ledger = UsageLedger(settings.model, settings.kind)
        # What the model can do: guessed from its name until :meth:`learn_capabilities`.
        self.capabilities = from_name(settings.model)
        self._counter = TokenCounter(settings.model, settings.kind)
        window = context_window_for(settings.model, settings.kind, settings.context_tokens)
        self._prompt_budget = max(256, window - settings.max_output_tokens - PROMPT_MARGIN)
        self._closed = False
        # Whether the model reasons before it replies (auto mode's decisions need room for it).
        self._reasons = False
        self._told_undecided = False
        self._answers: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        # Images the provider refused: not sent again (each would fail the request again).
        self._refused: set[FileId] = set()
        # Every answer sends the whole context again; a file's notice is told only once.
        self._told: OrderedDict[tuple[FileId, str], None] = OrderedDict()

    async def learn_capabilities(self) -> ModelCapabilities:
        """Ask the provider what the model can do (see :mod:`core.ai.capabilities`), and
        use it from now on: images go only to a model that takes them, and auto mode's
        decisions leave a reasoning model room to think. Never raises."""
        self.capabilities = await detect_capabilities(self.provider.settings)
        log.info(
            "the model takes images: %s, reasons: %s (%s)", self.capabilities.images,
            self.capabilities.reasoning, self.capabilities.source,
        )  # fmt: skip
        self._reasons = self._reasons or bool(self.capabilities.reasoning)
        return self.capabilities

    def start(self, job: AnswerJob, *, tokens_left: int | None = None) -> None:
        """Begin writing ``job``'s answer in the background. ``tokens_left``: what is left
        of the room's token budget (None: no budget); the request and its reply stay within
        it, or the provider is not asked."""
        if self._closed:  # the room is closing: the provider is gone (reported later, not
            # from inside the room's own call)
            loop = asyncio.get_running_loop()
            loop.call_soon(self._sink.answer_finished, job.answer_id, AnswerOutcome("stopped", ""))
            return
        task = asyncio.create_task(self._answer(job, tokens_left), name=f"answer {job.answer_id}")
        self._answers[job.answer_id] = task
        self._track(task)
        task.add_done_callback(lambda t: self._cancelled_before_start(job, t))

    def _cancelled_before_start(self, job: AnswerJob, task: asyncio.Task[None]) -> None:
        """A task cancelled before it ran never reaches its own handlers: report it here,
        or the room would wait for this answer for ever."""
        if task.cancelled():
            self._answers.pop(job.answer_id, None)
            outcome = AnswerOutcome("stopped", "")
            self.ledger.record_answer(outcome, asked_by=job.request.author)
            self._sink.answer_finished(job.answer_id, outcome)

    def cancel(self, answer_id: AnswerId) -> None:
        """Stop an answer; it is reported finished as ``stopped`` with its text so far."""
        task = self._answers.get(answer_id)
        if task is not None:
            task.cancel()

    def deliberate(self, job: AnswerJob) -> None:
        """Ask the model whether the assistant should answer ``job.request`` (auto mode)."""
        if self._closed:
            asyncio.get_running_loop().call_soon(
                self._sink.deliberated, job.request.seq, False, None
            )
            return
        self._track(asyncio.create_task(self._deliberate(job), name="deliberate"))

    async def aclose(self) -> None:
        """Cancel everything in flight and release the provider's connections. Anything
        asked of the relay afterwards ends at once as ``stopped`` (an answer) or ``no``."""
        self._closed = True
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
        answer = _Answer(job, asyncio.get_running_loop())
        settings = self.provider.settings
        deadline = answer.loop.time() + settings.answer_deadline
        try:
            budget = self._prompt_budget
            attempt = 0
            trims = 0
            too_long: ProviderError | None = None  # the provider's last "context too long"
            while True:
                attempt += 1
                prompt = await self._prompt(job, budget)
                if too_long is not None and prompt.tokens >= answer.prompt_tokens:
                    # Only the framing and the question are left: asking again would fail
                    # the same way.
                    self._fail(answer, f"{too_long} Even the question alone does not fit.")
                    return
                too_long = None
                self._tell(prompt.notices)
                answer.prompt_tokens = prompt.tokens
                reply_tokens = self._reply_tokens(prompt.tokens, tokens_left)
                if reply_tokens is None:
                    self._fail(answer, _BUDGET_TOO_SMALL)
                    return
                try:
                    await self._stream(answer, prompt, reply_tokens, deadline)
                    break
                except _GaveUp as gave_up:
                    status = "interrupted" if answer.parts else "failed"
                    self._finish(answer, status, str(gave_up))
                    return
                except ProviderError as error:
                    if answer.parts:  # some text is out: keep it, never retry (it would repeat)
                        self._finish(answer, "interrupted", str(error))
                        return
                    if error.problem is ProviderProblem.IMAGES_REFUSED and prompt.has_images:
                        self._refuse_images(job, prompt)
                        continue
                    if error.problem is ProviderProblem.CONTEXT_TOO_LONG:
                        if trims == CONTEXT_TRIMS:
                            self._fail(answer, f"{error} Even its most recent part does not fit.")
                            return
                        trims += 1
                        too_long = error
                        budget = prompt.tokens // 2  # of what was sent, not of the plan
                        log.info("context too long; asking again within %d tokens", budget)
                        continue
                    if error.problem in _RETRIED:
                        delay = self._retry.delay(attempt, error.retry_after)
                        if delay is None or answer.loop.time() + delay > deadline:
                            # longer than is worth holding the queue for
                            self._fail(answer, _asks_to_wait(error))
                            return
                        if attempt < self._retry.max_attempts:
                            self._sink.notice(
                                "info", "assistant_retrying",
                                f"{error} Trying again in {_seconds(delay)}.",
                            )  # fmt: skip
                            await asyncio.sleep(delay)
                            continue
                    self._fail(answer, str(error))
                    return
            self._finish(answer, "complete", None)
        except asyncio.CancelledError:
            self._finish(answer, "stopped", None)
        except Exception:  # a bug must not leave the room waiting for ever
            log.exception("answer %s failed unexpectedly", job.answer_id)
            words = "The assistant ran into an error."
            try:
                self._finish(answer, "failed", words)
            except Exception:  # not even what it wrote can be reported: report that it ended
                log.exception("answer %s could not be reported", job.answer_id)
                self._sink.answer_finished(job.answer_id, AnswerOutcome("failed", "", None, words))
        finally:
            self._answers.pop(job.answer_id, None)

    async def _stream(
        self, answer: _Answer, prompt: Prompt, reply_tokens: int, deadline: float
    ) -> None:
        """Ask once and pass the text on as it comes, each piece at once.

        Raises :class:`ProviderError`, or :class:`_GaveUp` when the provider sent nothing
        (keep-alives do not count) for the stall limit, or the answer's deadline passed."""
        settings = self.provider.settings
        loop = answer.loop
        answer.started = loop.time()
        stream = self.provider.stream(prompt.messages, max_tokens=reply_tokens)
        try:
            while True:
                stall = min(settings.stall_limit, deadline - loop.time())
                try:
                    async with asyncio.timeout(max(0.0, stall)):
                        chunk = await anext(stream)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    raise _GaveUp(_gave_up_words(settings, loop.time() >= deadline)) from None
                if chunk.text:
                    if answer.first_text is None:
                        answer.first_text = loop.time()
                    answer.parts.append(chunk.text)
                    self._sink.answer_delta(answer.job.answer_id, chunk.text)
                if chunk.usage is not None:
                    answer.usage = chunk.usage
                if chunk.finish_reason is not None:
                    answer.cut_off = chunk.finish_reason == "length"
        finally:
            await stream.aclose()

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
        images = self.capabilities.known_images
        return await asyncio.to_thread(
            build_prompt, job, self._counter, budget, model=model, refused=refused, images=images
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

    def _fail(self, answer: _Answer, error: str) -> None:
        """End an answer that wrote nothing (no usage is counted for it)."""
        self._report(answer, AnswerOutcome("failed", "", None, error, answer.timing()))

    def _finish(self, answer: _Answer, status: str, error: str | None) -> None:
        """End an answer with what it wrote. Without the provider's usage, it is estimated
        from the prompt's count and the text."""
        text = "".join(answer.parts)
        usage = answer.usage
        if usage is None and (text or status == "complete"):
            completion = self._counter.text(text)
            prompt = answer.prompt_tokens
            usage = Usage(prompt, completion, prompt + completion, estimated=True)
        cut_off = answer.cut_off and status == "complete"
        self._report(answer, AnswerOutcome(status, text, usage, error, answer.timing(), cut_off))

    def _report(self, answer: _Answer, outcome: AnswerOutcome) -> None:
        self.ledger.record_answer(outcome, asked_by=answer.job.request.author)
        self._sink.answer_finished(answer.job.answer_id, outcome)

    async def _deliberate(self, job: AnswerJob) -> None:
        """Always reports a decision (no, when anything goes wrong), or auto mode would wait
        for this one for ever; only a cancellation (the room closing) reports nothing.

        The model is asked for a one-word reply in :data:`DECISION_TOKENS`. A reasoning
        model may spend those on thinking and reply nothing: then (or when the model is
        known to reason) it is asked with :data:`REASONING_DECISION_TOKENS` and a low
        reasoning effort, and from then on always so. A model that still gives no yes or no
        is taken as no, and the room is told once that auto mode cannot get decisions."""
        decision: bool | None = None
        spent: list[Usage] = []
        try:
            messages = deliberation_messages(job, self._counter)
            if not self._reasons:
                reply = await self.provider.complete(messages, max_tokens=DECISION_TOKENS)
                spent += [reply.usage] if reply.usage else []
                decision = read_decision(reply.text)
                if decision is None and (reply.finish_reason == "length" or not reply.text):
                    log.info("the decision ran out of tokens: asking as a reasoning model")
                    self._reasons = True
            if decision is None and self._reasons:
                # A reasoning effort only where the model is known to take one (OpenAI refuses
                # it for other models).
                effort: ReasoningEffort = "low" if self.capabilities.reasoning else None
                reply = await self.provider.complete(
                    messages, max_tokens=REASONING_DECISION_TOKENS, reasoning_effort=effort
                )
                spent += [reply.usage] if reply.usage else []
                decision = read_decision(reply.text)
            if decision is None:
                self._undecided()
        except asyncio.CancelledError:
            raise
        except ProviderError as error:
            log.info("auto mode could not decide (%s); staying quiet", error.problem.value)
        except Exception:
            log.exception("auto mode's decision request failed unexpectedly; staying quiet")
        usage = _sum(spent)
        self.ledger.record_decision(usage)
        self._sink.deliberated(job.request.seq, bool(decision), usage)

    def _undecided(self) -> None:
        log.info("auto mode got neither yes nor no from the model; staying quiet")
        if not self._told_undecided:
            self._told_undecided = True
            self._sink.notice(
                "warning", "auto_undecided",
                "The model does not answer auto mode's yes-or-no question, so the assistant "
                "only answers when it is mentioned.",
            )  # fmt: skip


_RETRIED = (ProviderProblem.RATE_LIMITED, ProviderProblem.SERVER, ProviderProblem.DROPPED)
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
    """The failure for a wait the relay will not hold the queue for (longer than its
    maximum, or past the answer's deadline), in words."""
    if error.retry_after is None:
        return str(error)
    what = _WAITING_FOR.get(error.problem, "The AI provider is busy")
    return f"{what} and asks to wait {duration_in_words(error.retry_after)}; ask again then."


def _gave_up_words(settings: ProviderSettings, deadline_passed: bool) -> str:
    if deadline_passed:
        limit = duration_in_words(settings.answer_deadline)
        return f"The answer took longer than the {limit} the host allows for one."
    return (
        f"The AI provider sent nothing for {duration_in_words(settings.stall_limit)}, "
        "so the assistant stopped waiting."
    )


def _sum(usages: list[Usage]) -> Usage | None:
    """The usage of several requests together (None for none)."""
    if not usages:
        return None
    return Usage(
        sum(u.prompt_tokens for u in usages),
        sum(u.completion_tokens for u in usages),
        sum(u.total_tokens for u in usages),
        any(u.estimated for u in usages),
    )


def _seconds(delay: float) -> str:
    return duration_in_words(delay) if delay >= 1 else "a moment"
