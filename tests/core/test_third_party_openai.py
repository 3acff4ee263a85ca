"""The assistant against an OpenAI-compatible server the project did not write: LLMock (from
PyPI), started as a separate process on loopback for each test and scripted over its control
API (see :mod:`tests.third_party_mock`). A real room, three real clients, the real
``ChatProvider`` and ``AiRelay``.

LLMock cannot send SSE keep-alive comments, so the stall tried here is a silent one; a
stall of keep-alives only is left to the project's own fake (``tests.fake_openai.KeepAlive``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from core.ai.desk import AssistantConfig
from core.ai.provider import ChatProvider, ProviderSettings
from core.ai.relay import RetryPolicy
from core.client import RoomClient
from core.protocol import AnswerDelta, AnswerFinished, MessagePosted, Notice
from tests.conftest import Inbox, RoomFactory
from tests.third_party_mock import LLMockProcess, fail, reply, stream_fault

API_KEY = "sk-test-THIRDPARTY-0123456789"
MODEL = "gpt-4o-mini"  # one LLMock lists, so the room starts without a warning
FAST_RETRY = {"retry": RetryPolicy(max_attempts=3, base_delay=0.05)}

Person = tuple[RoomClient, Inbox]


@pytest.fixture
async def mock() -> AsyncIterator[LLMockProcess]:
    """LLMock in a process of its own, stopped (killed if need be) however the test ends."""
    server = await LLMockProcess.start()
    try:
        yield server
    finally:
        await server.aclose()


async def people_in_a_room(
    make_room: RoomFactory, mock: LLMockProcess, **provider: Any
) -> tuple[Person, Person, Person]:
    """A room whose assistant talks to ``mock`` (``provider``: more ProviderSettings), and
    its host Hana and guests Sam and Bob, joined."""
    provider.setdefault("request_timeout", 10.0)
    settings = ProviderSettings.from_preset(
        "compatible", model=MODEL, base_url=mock.base_url, api_key=API_KEY,
        connect_timeout=1.0, **provider,
    )  # fmt: skip
    config = AssistantConfig(
        model=settings.model, provider=settings.label, provider_kind=settings.kind
    )
    room = await make_room(
        name="Trip planning", assistant=config, provider=ChatProvider(settings),
        relay_options=FAST_RETRY,
    )  # fmt: skip
    host = await room.join("Hana", host=True)
    sam = await room.join("Sam")
    bob = await room.join("Bob")
    return host, sam, bob


async def finished(inbox: Inbox, timeout: float = 10.0, **fields: Any) -> AnswerFinished:
    return await inbox.wait_type(AnswerFinished, timeout=timeout, **fields)


async def humans_still_chat(a: Person, b: Person) -> None:
    text = f"still chatting {id(a)}"
    await a[0].send(text)
    await b[1].wait_type(MessagePosted, text=text)


def retry_notices(inbox: Inbox) -> list[Notice]:
    return [e for e in inbox.events if isinstance(e, Notice) and e.code == "assistant_retrying"]


# --------------------------------------------------------------------------- answers


async def test_a_streamed_answer_reaches_everyone(
    make_room: RoomFactory, mock: LLMockProcess
) -> None:
    host, sam, bob = await people_in_a_room(make_room, mock)
    await mock.script(reply("The harbour inn is lovely and close to the sea."))
    await sam[0].send("@assistant where should we stay?")
    for _, inbox in (host, sam, bob):
        final = await finished(inbox)
        assert (final.status, final.text, final.model) == (
            "complete", "The harbour inn is lovely and close to the sea.", MODEL,
        )  # fmt: skip
        assert final.error is None
        assert final.usage is not None and final.usage.completion_tokens > 0
        deltas = [e for e in inbox.events if isinstance(e, AnswerDelta)]
        assert len(deltas) >= 3  # it grew in steps on everyone's screen
        grown = ""
        for delta in deltas:
            grown = grown[: delta.offset] + delta.text
        assert grown == final.text
    [request] = await mock.chat_requests()
    assert request["body"]["model"] == MODEL and request["body"]["stream"] is True
    assert request["body"]["messages"][-1]["content"] == "Sam: @assistant where should we stay?"
    assert API_KEY not in str(request["body"])


async def test_an_answer_cut_at_the_length_limit_is_marked_cut_off(
    make_room: RoomFactory, mock: LLMockProcess
) -> None:
    host, sam, bob = await people_in_a_room(make_room, mock)
    await mock.script(reply("The first three days go to", finish_reason="length"))
    await sam[0].send("@assistant plan the whole week")
    for _, inbox in (host, sam, bob):
        final = await finished(inbox)
        assert (final.status, final.text) == ("complete", "The first three days go to")
        assert final.cut_off is True
    await mock.script(reply("Done."))
    await sam[0].send("@assistant and a short one?")
    assert (await finished(host[1], text="Done.")).cut_off is False


# --------------------------------------------------------------------------- rate limits


async def test_a_long_retry_after_fails_at_once_with_the_real_wait(
    make_room: RoomFactory, mock: LLMockProcess
) -> None:
    host, sam, bob = await people_in_a_room(make_room, mock)
    await mock.script(fail(429, retry_after=300, code="rate_limit_exceeded"), reply("Later."))
    await sam[0].send("@assistant now?")
    final = await finished(bob[1])
    assert final.status == "failed"
    assert "rate limiting" in (final.error or "")
    assert "asks to wait 5 minutes" in (final.error or "")
    assert not retry_notices(host[1])  # nobody is told "trying again"
    assert len(await mock.chat_requests()) == 1
    # The queue is not held: the next question is asked at once and answered.
    await humans_still_chat(bob, sam)
    await bob[0].send("@assistant and now?")
    assert (await finished(host[1], text="Later.")).status == "complete"


async def test_a_short_retry_after_is_waited_out_then_answered(
    make_room: RoomFactory, mock: LLMockProcess
) -> None:
    host, sam, _ = await people_in_a_room(make_room, mock)
    await mock.script(fail(429, retry_after=1, code="rate_limit_exceeded"), reply("Done now."))
    await sam[0].send("@assistant now?")
    notice = await host[1].wait_type(Notice, code="assistant_retrying")
    assert "rate limiting" in notice.text and "Trying again in 1 second." in notice.text
    final = await finished(host[1])
    assert (final.status, final.text) == ("complete", "Done now.")
    first, second = await mock.chat_requests()
    assert first["status"] == 429 and second["status"] == 200
    assert second["started_at"] - first["ended_at"] >= 0.95  # the provider's wait, honoured


# --------------------------------------------------------------------------- broken streams


@pytest.mark.parametrize(
    ("kind", "after_chunks"),
    [
        ("disconnect", 0),  # the connection drops right after the headers
        ("disconnect", 1),  # ... after the role chunk, before any text
        ("truncate", 1),  # a clean end with no finish reason and no [DONE]
        ("malformed", 1),  # a chunk that is not JSON
    ],
)
async def test_a_stream_cut_before_the_first_token_is_retried(
    make_room: RoomFactory, mock: LLMockProcess, kind: str, after_chunks: int
) -> None:
    host, sam, bob = await people_in_a_room(make_room, mock)
    await mock.script(
        stream_fault(kind, after_chunks=after_chunks),
        reply("Never shown."),  # the broken request takes this one
        reply("Recovered."),
    )
    await sam[0].send("@assistant hello?")
    notice = await bob[1].wait_type(Notice, code="assistant_retrying")
    assert "broke off before the answer began" in notice.text
    assert "Trying again" in notice.text
    final = await finished(host[1])
    assert (final.status, final.text) == ("complete", "Recovered.")
    assert not any(isinstance(e, AnswerDelta) and "Never" in e.text for e in host[1].events)
    broken, answered = await mock.chat_requests()
    assert broken["fault"] == f"stream:{kind}@{after_chunks}"
    assert answered["fault"] is None


@pytest.mark.parametrize("kind", ["disconnect", "malformed"])
async def test_a_stream_cut_mid_answer_keeps_the_text_and_is_not_retried(
    make_room: RoomFactory, mock: LLMockProcess, kind: str
) -> None:
    host, sam, bob = await people_in_a_room(make_room, mock)
    # Chunk 0 is the role, chunks 1 and 2 the first two words; the cut comes before chunk 3.
    await mock.script(stream_fault(kind, after_chunks=3), reply("Take the coast road north."))
    await sam[0].send("@assistant which way?")
    for _, inbox in (host, sam, bob):
        final = await finished(inbox)
        assert (final.status, final.text) == ("interrupted", "Take the ")
        assert "broke off mid-answer" in (final.error or "")
    assert not retry_notices(host[1])
    assert len(await mock.chat_requests()) == 1  # a retry would repeat what people read
    await humans_still_chat(bob, sam)


# --------------------------------------------------------------------------- stalls


async def test_a_silent_stall_gives_up_after_the_stall_limit(
    make_room: RoomFactory, mock: LLMockProcess
) -> None:
    host, sam, bob = await people_in_a_room(
        make_room, mock, stall_limit=1.0, answer_deadline=30.0, request_timeout=60.0
    )
    await mock.script(
        stream_fault("stall", after_chunks=1, stall_seconds=60), reply("Too late."), reply("Ok.")
    )
    await sam[0].send("@assistant are you there?")
    final = await finished(bob[1])
    assert (final.status, final.text) == ("failed", "")
    assert "sent nothing for 1 second" in (final.error or "")
    [stalled] = await mock.chat_requests()
    # The relay hung up on the stalled stream (LLMock saw the client leave), not at 60 s.
    assert stalled["stall_waited"] is not None and stalled["stall_waited"] < 10
    await humans_still_chat(bob, sam)
    await bob[0].send("@assistant and now?")
    assert (await finished(host[1], text="Ok.")).status == "complete"


async def test_the_answer_deadline_ends_a_slow_answer_and_keeps_its_text(
    make_room: RoomFactory,
) -> None:
    # Every chunk comes 0.3 s after the last: never a stall, but 12 words take 3.6 s.
    mock = await LLMockProcess.start("--stream-chunk-delay-ms", "300")
    try:
        host, sam, _ = await people_in_a_room(make_room, mock, stall_limit=1.5, answer_deadline=2.0)
        await mock.script(reply("one two three four five six seven eight nine ten eleven twelve"))
        await sam[0].send("@assistant count slowly")
        final = await finished(host[1])
        assert final.status == "interrupted"
        assert final.text.startswith("one two") and "twelve" not in final.text
        assert "took longer than the 2 seconds the host allows" in (final.error or "")
        [request] = await mock.chat_requests()
        assert request["completed"] is False  # the stream was closed, not read to its end
    finally:
        await mock.aclose()
