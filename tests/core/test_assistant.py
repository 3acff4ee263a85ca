"""The assistant end to end: a room with several real clients, the real openai SDK, and a fake
OpenAI server on loopback that streams, fails, hangs and cuts off on cue."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from core.ai.context import AnswerJob, TranscriptEntry, build_prompt
from core.ai.desk import AnswerOutcome, AssistantConfig
from core.ai.provider import ChatProvider, ProviderSettings
from core.ai.relay import AiRelay, RetryPolicy
from core.ai.tokens import TokenCounter
from core.client import RoomClient
from core.codec import serialize
from core.protocol import (
    AnswerDelta,
    AnswerFinished,
    AnswerId,
    AnswerStarted,
    AssistantStateChanged,
    ErrorMessage,
    FileId,
    MessagePosted,
    Notice,
    RoomUpdated,
    Usage,
)
from tests.conftest import Inbox, RoomFactory, RoomHarness, hand_join
from tests.fake_openai import Cut, Fail, FakeOpenAI, Hang, RecordedRequest, Reply, StreamError

API_KEY = "sk-test-SECRETKEY-0123456789-abcd"  # recognisable, so a leak is easy to find
FAST_RETRY = {"retry": RetryPolicy(max_attempts=3, base_delay=0.05)}


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


@dataclass
class AiRoom:
    room: RoomHarness
    fake: FakeOpenAI

    async def people(self) -> tuple[tuple[RoomClient, Inbox], ...]:
        """The host Hana and two guests, Sam and Bob, all joined."""
        host = await self.room.join("Hana", host=True)
        sam = await self.room.join("Sam")
        bob = await self.room.join("Bob")
        return host, sam, bob


async def make_ai_room(
    make_room: RoomFactory,
    fake: FakeOpenAI,
    *,
    base_url: str | None = None,
    timeout: float = 5.0,
    provider_options: dict[str, Any] | None = None,
    **assistant: Any,
) -> AiRoom:
    settings = ProviderSettings.from_preset(
        "compatible", model="gpt-4o-mini", base_url=base_url or fake.base_url,
        api_key=API_KEY, request_timeout=timeout, connect_timeout=1.0, **(provider_options or {}),
    )  # fmt: skip
    config = AssistantConfig(
        model=settings.model, provider=settings.label, provider_kind=settings.kind, **assistant
    )
    room = await make_room(
        name="Trip planning", assistant=config, provider=ChatProvider(settings),
        relay_options=FAST_RETRY,
    )  # fmt: skip
    return AiRoom(room, fake)


@pytest.fixture
async def ai(make_room: RoomFactory, fake: FakeOpenAI) -> AiRoom:
    return await make_ai_room(make_room, fake)


async def finished(inbox: Inbox, timeout: float = 10.0, **fields: Any) -> AnswerFinished:
    return await inbox.wait_type(AnswerFinished, timeout=timeout, **fields)


async def humans_still_chat(a: tuple[RoomClient, Inbox], b: tuple[RoomClient, Inbox]) -> None:
    text = f"still chatting {id(a)}"
    await a[0].send(text)
    await b[1].wait_type(MessagePosted, text=text)


# --------------------------------------------------------------------------- streaming


async def test_answer_streams_to_everyone_and_lands_in_history(ai: AiRoom) -> None:
    ai.fake.script(Reply(["The", " harbour", " inn", " is", " lovely", "."], delay=0.06))
    host, sam, bob = await ai.people()
    await sam[0].send("@assistant where should we stay?")
    for _, inbox in (host, sam, bob):
        final = await finished(inbox)
        assert (final.text, final.status, final.model) == (
            "The harbour inn is lovely.", "complete", "gpt-4o-mini",
        )  # fmt: skip
        assert final.usage is not None and final.usage.total_tokens > 0
        deltas = [e for e in inbox.events if isinstance(e, AnswerDelta)]
        assert len(deltas) >= 3  # it grew in several steps, not all at once
        grown = ""
        for d in deltas:
            grown = grown[: d.offset] + d.text
        assert grown == final.text
    started = next(e for e in bob[1].events if isinstance(e, AnswerStarted))
    assert started.asked_by_name == "Sam"
    _, late = await ai.room.join("Late")
    late_final = await finished(late)
    assert late_final.text == "The harbour inn is lovely."


async def test_each_piece_of_text_goes_out_at_once(ai: AiRoom) -> None:
    host, sam, _ = await ai.people()
    ai.fake.script(Reply([f"w{i} " for i in range(60)]))  # a burst: nothing lost or repeated
    await sam[0].send("@assistant burst")
    final = await finished(host[1])
    burst_deltas = [e for e in host[1].events if isinstance(e, AnswerDelta)]
    grown = ""
    for d in burst_deltas:
        grown = grown[: d.offset] + d.text
    assert grown == final.text == "".join(f"w{i} " for i in range(60))
    assert 1 <= len(burst_deltas) <= 60
    # Tokens half a second apart: each is on everyone's screen before the next is
    # even sent (nothing waits out a window).
    ai.fake.script(Reply(["slow", " and", " steady"], delay=0.5))
    await sam[0].send("@assistant slowly")
    await host[1].wait_type(AnswerDelta, text="slow")
    arrived = time.monotonic()
    await host[1].wait_type(AnswerDelta, text=" and")
    assert time.monotonic() - arrived > 0.25  # " and" was not yet sent when "slow" arrived
    await finished(host[1], text="slow and steady")
    slow_deltas = [e for e in host[1].events if isinstance(e, AnswerDelta)][len(burst_deltas) :]
    assert [d.text for d in slow_deltas] == ["slow", " and", " steady"]


async def test_the_assistant_sees_a_group_aware_framing(
    make_room: RoomFactory, fake: FakeOpenAI
) -> None:
    ai = await make_ai_room(make_room, fake, persona="Answer like a pirate.")
    _, sam, bob = await ai.people()
    await sam[0].send("we are going to the coast")
    await bob[1].wait_type(MessagePosted, text="we are going to the coast")
    await bob[0].send("@assistant any tips?")
    await finished(sam[1])
    [request] = fake.chat_requests
    body = request.json
    assert body is not None and body["model"] == "gpt-4o-mini" and body["stream"] is True
    system, *turns = body["messages"]
    assert system["role"] == "system"
    assert '"Trip planning"' in system["content"]
    assert "Hana" in system["content"] and "Sam" in system["content"]
    assert "Answer like a pirate." in system["content"]
    assert [t["content"] for t in turns] == [
        "Sam: we are going to the coast",
        "Bob: @assistant any tips?",
    ]
    assert API_KEY not in str(body)
    assert request.headers["authorization"] == f"Bearer {API_KEY}"


async def test_queue_is_visible_and_answers_come_in_order(ai: AiRoom) -> None:
    host, sam, bob = await ai.people()
    ai.fake.script(Reply(["first"], delay=0.3), Reply(["second"]))
    await sam[0].send("@assistant one")
    await host[1].wait_type(AnswerStarted)
    await bob[0].send("@assistant two")
    state = await host[1].wait_for(
        lambda e: isinstance(e, AssistantStateChanged) and len(e.state.waiting) == 1
    )
    assert isinstance(state, AssistantStateChanged) and state.state.answering is not None
    assert state.state.answering.asked_by_name == "Sam"
    assert state.state.waiting[0].asked_by_name == "Bob"
    await finished(host[1], text="second")
    texts = [e.text for e in host[1].events if isinstance(e, AnswerFinished)]
    assert texts == ["first", "second"]


# --------------------------------------------------------------------------- stop, regenerate


async def test_stop_cancels_the_upstream_request_and_keeps_the_partial(ai: AiRoom) -> None:
    host, sam, bob = await ai.people()
    ai.fake.script(Reply([f"word{i} " for i in range(50)], delay=0.1))
    await sam[0].send("@assistant tell me a long story")
    started = await bob[1].wait_type(AnswerStarted)
    await bob[1].wait_type(AnswerDelta)
    await bob[0].stop_answer(started.answer)  # not Bob's question: refused
    refused = await bob[1].wait_type(ErrorMessage)
    assert refused.code == "not_allowed"
    await sam[0].stop_answer(started.answer)
    await ai.fake.wait_disconnect(timeout=2)  # the HTTP stream to the provider was closed
    final = await finished(host[1])
    assert final.status == "stopped" and final.stopped_by == sam[0].you.id
    assert final.text.startswith("word0 ") and len(final.text.split()) < 50
    assert len(ai.fake.chat_requests) == 1
    await humans_still_chat(bob, sam)


async def test_host_can_stop_anyones_answer(ai: AiRoom) -> None:
    host, sam, _ = await ai.people()
    ai.fake.script(Reply(["x"] * 100, delay=0.1))
    await sam[0].send("@assistant go on and on")
    started = await host[1].wait_type(AnswerStarted)
    await host[0].stop_answer(started.answer)
    final = await finished(sam[1])
    assert final.status == "stopped" and final.stopped_by == host[0].you.id


async def test_regenerate_asks_again_for_the_same_message(ai: AiRoom) -> None:
    host, sam, _ = await ai.people()
    ai.fake.script(Reply(["Paris."]), Reply(["Paris, France."]))
    await sam[0].send("@assistant capital of France?")
    first = await finished(host[1])
    await sam[0].regenerate(first.answer)
    second = await finished(host[1], text="Paris, France.")
    restarted = [e for e in host[1].events if isinstance(e, AnswerStarted)][-1]
    assert restarted.regenerates == first.answer and second.answer != first.answer
    asked = [r.json["messages"][-1]["content"] for r in ai.fake.chat_requests if r.json]
    assert asked == ["Sam: @assistant capital of France?"] * 2


# --------------------------------------------------------------------------- failures


async def test_bad_key_fails_clearly_and_the_room_carries_on(ai: AiRoom) -> None:
    _, sam, bob = await ai.people()
    ai.fake.script(Fail(401, "invalid_api_key", "Incorrect API key provided: sk-test-...abcd."))
    await sam[0].send("@assistant hello?")
    final = await finished(bob[1])
    assert final.status == "failed" and "API key" in (final.error or "")
    assert "sk-" not in (final.error or "")
    assert len(ai.fake.chat_requests) == 1  # a bad key is not retried
    await humans_still_chat(bob, sam)


async def test_rate_limit_honours_retry_after_then_answers(ai: AiRoom) -> None:
    host, sam, _ = await ai.people()
    ai.fake.script(Fail(429, "rate_limit_exceeded", "Slow down", retry_after="1"), Reply(["Done."]))
    await sam[0].send("@assistant now?")
    notice = await host[1].wait_type(Notice, code="assistant_retrying")
    assert "rate limiting" in notice.text and "Trying again in 1 second." in notice.text
    final = await finished(host[1])
    assert (final.status, final.text) == ("complete", "Done.")
    times = [r for r in ai.fake.chat_requests]
    assert len(times) == 2


async def test_a_wait_over_a_minute_is_honoured_and_told_truly(ai: AiRoom) -> None:
    host, sam, bob = await ai.people()
    ai.fake.script(Fail(429, "rate_limit_exceeded", "Slow down", retry_after="90"), Reply(["x"]))
    await sam[0].send("@assistant now?")
    notice = await bob[1].wait_type(Notice, code="assistant_retrying")
    assert "Trying again in 1 minute 30 seconds." in notice.text
    started = await host[1].wait_type(AnswerStarted)
    await sam[0].stop_answer(started.answer)  # nobody waits 90 s in a test
    assert (await finished(host[1])).status == "stopped"
    assert len(ai.fake.chat_requests) == 1


@pytest.mark.parametrize(
    ("retry_after", "words"),
    [
        ("300", "asks to wait 5 minutes"),
        ("121", "asks to wait 2 minutes 1 second"),
        ("an HTTP date 200 s ahead", "asks to wait 3 minutes"),
    ],
)
async def test_a_wait_beyond_the_maximum_fails_at_once_with_the_real_wait(
    ai: AiRoom, retry_after: str, words: str
) -> None:
    if retry_after.startswith("an HTTP date"):
        retry_after = format_datetime(datetime.now(UTC) + timedelta(seconds=200), usegmt=True)
    host, sam, bob = await ai.people()
    ai.fake.script(Fail(429, "rate_limit_exceeded", "Slow", retry_after=retry_after), Reply(["x"]))
    await sam[0].send("@assistant now?")
    final = await finished(host[1])
    assert final.status == "failed" and "rate limiting" in (final.error or "")
    assert words in (final.error or "")
    assert len(ai.fake.chat_requests) == 1
    assert not [e for e in host[1].events if isinstance(e, Notice)]  # no "trying again"
    await humans_still_chat(bob, sam)


async def test_retries_are_bounded(ai: AiRoom) -> None:
    host, sam, bob = await ai.people()
    ai.fake.script(*[Fail(503, None, "overloaded")] * 5)
    await sam[0].send("@assistant are you there?")
    final = await finished(host[1])
    assert final.status == "failed" and "internal error" in (final.error or "")
    assert len(ai.fake.chat_requests) == 3
    retries = [e for e in host[1].events if isinstance(e, Notice)]
    assert len(retries) == 2
    await humans_still_chat(bob, sam)


async def test_exhausted_quota_is_not_retried(ai: AiRoom) -> None:
    host, sam, _ = await ai.people()
    ai.fake.script(Fail(429, "insufficient_quota", "You exceeded your current quota"))
    await sam[0].send("@assistant hi")
    final = await finished(host[1])
    assert final.status == "failed" and "quota" in (final.error or "")
    # The relay answers one question at a time: once the next answer is done, any retry of
    # the first would have been made before it.
    ai.fake.script(Reply(["Next."]))
    await sam[0].send("@assistant and now?")
    assert (await finished(host[1], text="Next.")).status == "complete"
    assert len(ai.fake.chat_requests) == 2


async def test_server_error_then_success(ai: AiRoom) -> None:
    host, sam, _ = await ai.people()
    ai.fake.script(Fail(500, None, "boom"), Reply(["Recovered."]))
    await sam[0].send("@assistant hi")
    final = await finished(host[1])
    assert (final.status, final.text) == ("complete", "Recovered.")


async def test_a_provider_that_never_answers_is_given_up(
    make_room: RoomFactory, fake: FakeOpenAI
) -> None:
    # The stall limit, not the SDK's read timeout (0.5 s here), decides how long a silence
    # may last.
    ai = await make_ai_room(make_room, fake, timeout=0.5, provider_options={"stall_limit": 1.0})
    host, sam, bob = await ai.people()
    fake.script(Hang())
    await sam[0].send("@assistant hello")
    final = await finished(host[1])
    assert final.status == "failed" and "sent nothing for 1 second" in (final.error or "")
    await humans_still_chat(bob, sam)


def _content_chars(request: RecordedRequest) -> int:
    assert request.json is not None
    return sum(len(m["content"]) for m in request.json["messages"])


async def test_context_too_long_is_asked_again_with_half_of_what_was_sent(ai: AiRoom) -> None:
    host, sam, bob = await ai.people()
    for i in range(6):
        last = await bob[0].send(f"background message {i} " + "lorem ipsum " * 20)
    await host[1].wait_type(MessagePosted, client_id=last)  # all of it is history by now
    ai.fake.script(
        Fail(400, "context_length_exceeded", "maximum context length is 8192"), Reply(["Ok."])
    )
    await sam[0].send("@assistant summarise")
    final = await finished(host[1])
    assert (final.status, final.text) == ("complete", "Ok.")
    first, second = ai.fake.chat_requests
    # The planned budget (thousands of tokens) held all of it: half of *that* would have
    # sent the same request again.
    assert _content_chars(second) <= _content_chars(first) * 0.55
    assert second.json is not None and second.json["messages"][-1]["content"].endswith("summarise")


async def test_context_too_long_fails_at_once_when_nothing_can_be_left_out(ai: AiRoom) -> None:
    host, sam, bob = await ai.people()
    ai.fake.script(Fail(400, "context_length_exceeded", "too long"), Reply(["never"]))
    await sam[0].send("@assistant " + "a very long question " * 50)
    final = await finished(host[1])
    error = final.error or ""
    assert final.status == "failed"
    assert "too long" in error and "question alone does not fit" in error
    assert len(ai.fake.chat_requests) == 1  # the same request again would fail the same way
    await humans_still_chat(bob, sam)


@pytest.mark.parametrize("how", ["reset", "close", "end"])
async def test_stream_cut_midway_keeps_the_partial_once(ai: AiRoom, how: str) -> None:
    host, sam, bob = await ai.people()
    ai.fake.script(
        Cut(["Part", "ial", " answer", " never", " finished"], after=3, delay=0.05, how=how)
    )  # type: ignore[arg-type]
    await sam[0].send("@assistant go")
    final = await finished(host[1])
    assert final.status == "interrupted"
    assert final.text == "Partial answer"
    assert "broke off" in (final.error or "")
    assert len(ai.fake.chat_requests) == 1  # never retried: no duplicated text
    await humans_still_chat(bob, sam)


async def test_error_event_inside_the_stream(ai: AiRoom) -> None:
    host, sam, _ = await ai.people()
    ai.fake.script(StreamError(["Half"], "The server had an error"))
    await sam[0].send("@assistant go")
    final = await finished(host[1])
    assert (final.status, final.text) == ("interrupted", "Half")


async def test_provider_not_running(make_room: RoomFactory, fake: FakeOpenAI) -> None:
    ai = await make_ai_room(make_room, fake, base_url="http://127.0.0.1:9/v1")
    host, sam, bob = await ai.people()
    await sam[0].send("@assistant hello")
    final = await finished(host[1])
    assert final.status == "failed" and "could not be reached" in (final.error or "")
    assert "127.0.0.1:9" in (final.error or "")
    await humans_still_chat(bob, sam)


async def test_the_key_never_leaves_the_host(
    make_room: RoomFactory, fake: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    """Every error path, with a recognisable key: it is in no frame and no log record."""
    caplog.set_level(logging.DEBUG)
    ai = await make_ai_room(make_room, fake)
    host, sam, bob = await ai.people()
    behaviours = [
        Fail(401, "invalid_api_key", f"Incorrect API key provided: {API_KEY[:8]}...{API_KEY[-4:]}"),
        Fail(403, None, f"key {API_KEY} is not allowed"),
        Fail(429, "insufficient_quota", f"quota for {API_KEY}"),
        Fail(400, "bad_param", f"echo {API_KEY}"),
        StreamError(["x"], f"error for {API_KEY}"),
        Cut(["a", "b"], after=1),
    ]
    for i, behaviour in enumerate(behaviours):
        fake.script(behaviour)
        await sam[0].send(f"@assistant try {i}")
        await host[1].wait_for(
            lambda _e, n=i + 1: sum(isinstance(x, AnswerFinished) for x in host[1].events) == n
        )
    fake.script(*[Fail(500, None, f"{API_KEY} exploded")] * 3)
    await sam[0].send("@assistant last")
    await host[1].wait_for(
        lambda e: sum(isinstance(x, AnswerFinished) for x in host[1].events) == len(behaviours) + 1
    )
    frames = [
        serialize(e) for _, inbox in (host, sam, bob) for e in inbox.events if hasattr(e, "TYPE")
    ]  # type: ignore[arg-type]
    assert len(frames) > 20
    secret_parts = (API_KEY, API_KEY[-12:], "SECRETKEY")
    assert not [f for f in frames for part in secret_parts if part in f]
    records = [r.getMessage() for r in caplog.records]
    assert not [r for r in records for part in secret_parts if part in r]
    assert "SECRETKEY" not in repr(ai.room.server._provider)


# --------------------------------------------------------------------------- modes and limits


async def test_host_switches_mode_live(ai: AiRoom) -> None:
    host, sam, bob = await ai.people()
    await sam[0].send("no mention here")
    await host[1].wait_type(MessagePosted, text="no mention here")
    await host[0].configure_assistant(mode="always")
    update = await bob[1].wait_type(RoomUpdated)
    assert update.room.assistant is not None and update.room.assistant.mode == "always"
    ai.fake.script(Reply(["I answer everything now."]))
    await bob[0].send("still no mention")
    final = await finished(sam[1])
    assert final.text == "I answer everything now."
    assert len(ai.fake.chat_requests) == 1


async def test_auto_mode_decides_before_answering(make_room: RoomFactory, fake: FakeOpenAI) -> None:
    ai = await make_ai_room(make_room, fake, mode="auto")
    host, sam, bob = await ai.people()
    fake.script(Reply(["NO"]))
    await sam[0].send("hi Bob, how was your weekend?")
    await fake.wait_requests(1)
    fake.script(Reply(["YES"]), Reply(["Lima", " is", " the", " capital."]))
    question = await bob[0].send("does anyone know the capital of Peru?")
    final = await finished(host[1])
    assert final.text == "Lima is the capital."
    started = [e for e in host[1].events if isinstance(e, AnswerStarted)]
    asked = [e for e in host[1].events if isinstance(e, MessagePosted) and e.client_id == question]
    assert [e.request_seq for e in started] == [asked[0].seq]  # Sam's small talk got none
    decision, answer = fake.chat_requests[1:]
    assert decision.json is not None and decision.json.get("stream") in (None, False)
    assert "YES or NO" in decision.json["messages"][0]["content"]
    assert answer.json is not None and answer.json["stream"] is True


async def test_token_budget_and_answer_quota(make_room: RoomFactory, fake: FakeOpenAI) -> None:
    # A budget that leaves each request room for its prompt and a reply (a request never asks
    # for more than the budget has left, and not at all for fewer than 32 tokens).
    ai = await make_ai_room(make_room, fake, token_budget=1500, answer_quota=1)
    host, sam, bob = await ai.people()
    fake.script(Reply(["ok"], usage=(40, 10)))
    await sam[0].send("@assistant first")
    await finished(host[1])
    await sam[0].send("@assistant second")
    quota = await sam[1].wait_type(ErrorMessage, code="quota_exceeded")
    assert quota.retry_after is not None and quota.retry_after > 0
    fake.script(Reply(["big"], usage=(1400, 100)))
    await bob[0].send("@assistant bob's turn")
    await finished(host[1], text="big")
    budget = await bob[1].wait_type(Notice, code="budget_exhausted")
    assert "1500" in budget.text.replace(",", "")
    await host[0].send("@assistant host too?")
    assert (await host[1].wait_type(ErrorMessage, code="budget_exhausted")).message
    assert len(fake.chat_requests) == 2


async def test_a_failed_answer_does_not_use_up_the_quota(
    make_room: RoomFactory, fake: FakeOpenAI
) -> None:
    ai = await make_ai_room(make_room, fake, answer_quota=1)
    host, sam, _ = await ai.people()
    fake.script(Fail(401, "invalid_api_key", "Incorrect API key provided"))
    await sam[0].send("@assistant first")
    assert (await finished(host[1])).status == "failed"
    fake.script(Reply(["Answered."]))
    await sam[0].send("@assistant once more")  # the failure gave Sam nothing: not counted
    assert (await finished(host[1], text="Answered.")).status == "complete"
    await sam[0].send("@assistant and again")
    quota = await sam[1].wait_type(ErrorMessage, code="quota_exceeded")
    assert "1 answer in the last 10 minutes" in quota.message
    assert len(fake.chat_requests) == 2


class RecordingSink:
    """A :class:`RelaySink` that keeps what the relay reports."""

    def __init__(self) -> None:
        self.outcomes: dict[str, AnswerOutcome] = {}
        self.finished = asyncio.Event()

    def answer_delta(self, answer_id: AnswerId, text: str) -> None:
        pass

    def answer_finished(self, answer_id: AnswerId, outcome: AnswerOutcome) -> None:
        self.outcomes[answer_id] = outcome
        self.finished.set()

    def deliberated(self, request_seq: int, answer: bool, usage: Usage | None) -> None:
        pass

    def notice(self, level: str, code: str, text: str) -> None:
        pass

    def images_refused(self, files: tuple[FileId, ...]) -> None:
        pass


def budget_job() -> AnswerJob:
    request = TranscriptEntry(2, "Sam", "@assistant tell me everything about the sea")
    return AnswerJob(
        AnswerId("a1"), request, (TranscriptEntry(1, "Bob", "hello"),), ("Sam", "Bob"),
        "assistant", "Trip planning",
    )  # fmt: skip


async def relay_with_budget(fake: FakeOpenAI, tokens_left: int) -> tuple[AnswerOutcome, int]:
    """Run one answer with ``tokens_left`` of the budget; its outcome and what the prompt
    cost by the relay's own count."""
    settings = ProviderSettings.from_preset(
        "compatible", model="gpt-4o-mini", base_url=fake.base_url, api_key=API_KEY
    )
    sink = RecordingSink()
    relay = AiRelay(ChatProvider(settings), sink)
    prompt = build_prompt(budget_job(), TokenCounter(settings.model, settings.kind), 10_000)
    try:
        relay.start(budget_job(), tokens_left=tokens_left)
        async with asyncio.timeout(5):
            await sink.finished.wait()
    finally:
        await relay.aclose()
    return sink.outcomes["a1"], prompt.tokens


async def test_a_request_never_asks_for_more_than_the_budget_has_left(fake: FakeOpenAI) -> None:
    fake.script(Reply(["Waves."]))
    outcome, prompt_tokens = await relay_with_budget(fake, tokens_left=300)
    assert outcome.status == "complete"
    [request] = fake.chat_requests
    assert request.json is not None
    assert request.json["max_tokens"] == 300 - prompt_tokens  # not the usual 1024


async def test_too_little_budget_left_asks_the_provider_nothing(fake: FakeOpenAI) -> None:
    outcome, prompt_tokens = await relay_with_budget(fake, tokens_left=40)
    assert prompt_tokens > 10  # so 40 leaves less than a short answer needs
    assert outcome.status == "failed" and "token budget" in (outcome.error or "")
    assert fake.chat_requests == []


async def test_room_without_assistant_stays_quiet(room: RoomHarness) -> None:
    sam, inbox = await room.join("Sam")
    assert sam.room.assistant is None and sam.assistant_state is None
    await sam.send("@assistant hello?")
    await inbox.wait_type(MessagePosted)
    await sam.send("sync point")  # anything the first message caused arrives before this
    await inbox.wait_type(MessagePosted, text="sync point")
    assert not any(isinstance(e, AnswerStarted | ErrorMessage) for e in inbox.events)


async def test_stopping_before_the_answer_got_going_never_jams_the_queue(ai: AiRoom) -> None:
    host, sam, _ = await ai.people()
    ws = await ai.room.raw()
    await hand_join(ws, "Quick")
    # Both frames arrive in one read: the answer is stopped before its task ever ran.
    await ws.send(json.dumps({"type": "send", "id": "q1", "text": "@assistant hi"}))
    await ws.send(json.dumps({"type": "stop_answer", "answer": "a1"}))
    first = await finished(host[1])
    assert first.answer == "a1" and first.status == "stopped"
    ai.fake.script(Reply(["Still here."]))
    await sam[0].send("@assistant are you stuck?")
    assert (await finished(host[1], text="Still here.")).status == "complete"
    await ws.close()


async def test_an_odd_decision_reply_does_not_silence_auto_mode(
    make_room: RoomFactory, fake: FakeOpenAI
) -> None:
    ai = await make_ai_room(make_room, fake, mode="auto")
    host, sam, _ = await ai.people()
    fake.script(Fail(500, None, "decider broke"), Reply(["YES"]), Reply(["Answered."]))
    await sam[0].send("first message")
    await fake.wait_requests(1)
    # Sent while the failed decision may still be on its way back: either way the room
    # decides again on the latest message, which the scripted YES answers.
    await sam[0].send("is anyone able to help with this?")
    assert (await finished(host[1])).text == "Answered."


async def test_model_output_cannot_drive_terminals(ai: AiRoom) -> None:
    host, sam, _ = await ai.people()
    ai.fake.script(Reply(["ok\x1b]0;pwned\x07", "\x1b[2J fine"]))
    await sam[0].send("@assistant hi")
    final = await finished(host[1])
    assert final.text == "ok]0;pwned[2J fine"
