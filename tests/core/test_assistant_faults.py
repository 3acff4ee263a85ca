"""What the room does when the AI provider misbehaves in the ways real servers do: a stream
that breaks off before its first word, an error event before any text, a model cut off at its
length limit (and asked to go on), a provider that stalls or takes too long.

Every case runs a real room on loopback, real clients and the real openai SDK against
:class:`tests.fake_openai.FakeOpenAI`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from core.ai.context import CONTINUE_PROMPT
from core.protocol import (
    AnswerDelta,
    AnswerFinished,
    AnswerStarted,
    AssistantStateChanged,
    ErrorCode,
    ErrorMessage,
    Notice,
)
from tests.conftest import RoomFactory, hand_join
from tests.core.test_assistant import (  # noqa: F401 (the fixture)
    AiRoom,
    fake,
    finished,
    humans_still_chat,
    make_ai_room,
)
from tests.fake_openai import Cut, FakeOpenAI, Hang, Raw, Reply, StreamError


async def answers(inbox: Any, count: int, timeout: float = 10.0) -> list[AnswerFinished]:
    await inbox.wait_for(
        lambda _e: sum(isinstance(x, AnswerFinished) for x in inbox.events) >= count, timeout
    )
    return [e for e in inbox.events if isinstance(e, AnswerFinished)]


@pytest.fixture
async def ai(make_room: RoomFactory, fake: FakeOpenAI) -> AiRoom:  # noqa: F811
    return await make_ai_room(make_room, fake)


@pytest.mark.parametrize("how", ["reset", "close", "end"])
async def test_a_stream_cut_before_its_first_word_is_asked_again(ai: AiRoom, how: str) -> None:
    host, sam, bob = await ai.people()
    ai.fake.script(Cut(["never", " sent"], after=0, how=how), Reply(["Second", " try."]))  # type: ignore[arg-type]
    await sam[0].send("@assistant go")
    final = await finished(host[1])
    assert (final.status, final.text) == ("complete", "Second try.")
    notice = await bob[1].wait_type(Notice, code="assistant_retrying")
    assert "broke off before the answer began" in notice.text
    assert "mid-answer" not in notice.text
    assert len(ai.fake.chat_requests) == 2


async def test_an_error_event_before_any_text_is_asked_again(ai: AiRoom) -> None:
    host, sam, _ = await ai.people()
    ai.fake.script(StreamError([], "The server had an error"), Reply(["Fine", " now."]))
    await sam[0].send("@assistant go")
    final = await finished(host[1])
    assert (final.status, final.text) == ("complete", "Fine now.")
    notice = await host[1].wait_type(Notice, code="assistant_retrying")
    assert "internal error" in notice.text and "Trying again" in notice.text


async def test_breaking_off_every_time_fails_with_what_happened(ai: AiRoom) -> None:
    host, sam, bob = await ai.people()
    ai.fake.script(*[Cut(["x"], after=0)] * 3)
    await sam[0].send("@assistant go")
    final = await finished(host[1])
    assert final.status == "failed"
    assert final.error == "The connection to the AI provider broke off before the answer began."
    assert len(ai.fake.chat_requests) == 3  # bounded
    await humans_still_chat(bob, sam)


async def test_an_answer_cut_at_the_length_limit_is_marked_and_can_go_on(ai: AiRoom) -> None:
    _, sam, bob = await ai.people()
    ai.fake.script(
        Reply(["The three steps are: one,", " two"], finish_reason="length"),
        Reply([", and three."]),
    )
    await sam[0].send("@assistant steps?")
    cut = await finished(bob[1])
    assert (cut.status, cut.cut_off) == ("complete", True)
    # Only the asker or the host may ask for the rest.
    await bob[0].continue_answer(cut.answer)
    refused = await bob[1].wait_type(ErrorMessage, code=ErrorCode.NOT_ALLOWED)
    assert "continue" in refused.message
    await sam[0].continue_answer(cut.answer)
    started = await bob[1].wait_type(AnswerStarted, continues=cut.answer)
    [_, rest] = await answers(bob[1], 2)
    assert (rest.answer, rest.text, rest.cut_off) == (started.answer, ", and three.", False)
    # The model was shown its cut reply and asked to go on from there.
    messages = ai.fake.chat_requests[-1].json["messages"]
    assert messages[-2] == {"role": "assistant", "content": "The three steps are: one, two"}
    assert messages[-1] == {"role": "user", "content": CONTINUE_PROMPT}
    assert messages[-3]["content"] == "Sam: @assistant steps?"
    # A complete answer that was not cut off has nothing more to give.
    await sam[0].continue_answer(rest.answer)
    nothing = await sam[1].wait_type(ErrorMessage, code=ErrorCode.NOT_CUT_OFF)
    assert "not cut off" in nothing.message
    await humans_still_chat(bob, sam)


async def test_a_continuation_that_is_cut_again_goes_on_from_both(ai: AiRoom) -> None:
    host, sam, _ = await ai.people()
    ai.fake.script(
        Reply(["A"], finish_reason="length"),
        Reply(["B"], finish_reason="length"),
        Reply(["C."]),
    )
    await sam[0].send("@assistant letters")
    [first] = await answers(sam[1], 1)
    await sam[0].continue_answer(first.answer)
    [_, second] = await answers(sam[1], 2)
    assert second.cut_off
    await host[0].continue_answer(second.answer)  # the host may too
    [*_, third] = await answers(sam[1], 3)
    assert third.text == "C."
    assert ai.fake.chat_requests[-1].json["messages"][-2]["content"] == "AB"


async def test_a_provider_that_stalls_is_given_up(make_room: RoomFactory, fake: FakeOpenAI) -> None:  # noqa: F811
    ai = await make_ai_room(make_room, fake, provider_options={"stall_limit": 0.4})
    host, sam, bob = await ai.people()
    fake.script(Reply(["Before", " the stall", " never"], delay=3.0))
    await sam[0].send("@assistant go")
    final = await finished(host[1])
    assert (final.status, final.text) == ("interrupted", "Before")
    assert (
        final.error
        == "The AI provider sent nothing for 1 second, so the assistant stopped waiting."
    )
    await fake.wait_disconnect()  # the upstream request is closed
    fake.script(Hang())
    await sam[0].send("@assistant again")
    [_, silent] = await answers(host[1], 2)
    assert silent.status == "failed" and "sent nothing" in (silent.error or "")
    await humans_still_chat(bob, sam)


async def test_an_answer_past_its_deadline_keeps_what_it_wrote(
    make_room: RoomFactory,
    fake: FakeOpenAI,  # noqa: F811
) -> None:
    ai = await make_ai_room(make_room, fake, provider_options={"answer_deadline": 1.0})
    host, sam, _ = await ai.people()
    fake.script(Reply([f"w{i} " for i in range(40)], delay=0.1))  # 4 s in all
    await sam[0].send("@assistant go")
    final = await finished(host[1])
    assert final.status == "interrupted"
    assert final.text.startswith("w0 w1 ") and len(final.text) < len("w0 ") * 40
    assert final.error == "The answer took longer than the 1 second the host allows for one."


async def test_closing_the_room_cuts_the_answer_upstream_first(
    make_room: RoomFactory,
    fake: FakeOpenAI,  # noqa: F811
) -> None:
    """The provider stops writing (and billing) the moment the room closes, not after every
    connection has been closed, which a reader that does not answer holds up for seconds."""
    ai = await make_ai_room(make_room, fake)
    host, sam, _ = await ai.people()
    silent = await ai.room.raw()
    await hand_join(silent, "Silent")
    silent.transport.pause_reading()  # it will not answer the closing handshake
    fake.script(Reply([f"w{i} " for i in range(100)], delay=0.1))
    await sam[0].send("@assistant go")
    await host[1].wait_type(AnswerDelta)
    closing = asyncio.create_task(ai.room.server.close())
    await fake.wait_disconnect(timeout=0.5)
    assert not closing.done()  # still waiting for the silent reader; the provider did not
    stopped = await finished(host[1])
    assert stopped.status == "stopped" and stopped.text.startswith("w0 ")
    await closing
    silent.transport.abort()


def chunk(delta: object, finish: object = None, **extra: object) -> dict[str, object]:
    """One chat.completion.chunk, of any shape the test wants."""
    return {
        "id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra,
    }  # fmt: skip


@pytest.mark.parametrize(
    "bad",
    [
        chunk({"content": 123}),
        chunk({"content": ["a"]}),
        chunk(None),
        {"choices": "nope"},
        "{not json",
    ],
)
async def test_a_chunk_of_the_wrong_shape_is_a_broken_stream_not_a_stuck_room(
    ai: AiRoom, bad: object
) -> None:
    host, sam, bob = await ai.people()
    ai.fake.script(Raw((bad,)), Reply(["Fine."]))
    await sam[0].send("@assistant go")
    final = await finished(host[1])
    assert (final.status, final.text) == ("complete", "Fine.")  # asked again, as for a 5xx
    # After some text, the same breaks the answer off, keeping that text, never asking again.
    ai.fake.script(Raw((chunk({"content": "Before "}), bad)))
    await sam[0].send("@assistant again")
    [_, second] = await answers(host[1], 2)
    assert (second.status, second.text) == ("interrupted", "Before ")
    assert len(ai.fake.chat_requests) == 3
    await humans_still_chat(bob, sam)


async def test_negative_usage_is_not_believed(ai: AiRoom) -> None:
    host, sam, _ = await ai.people()
    usage = {"prompt_tokens": -500, "completion_tokens": -7, "total_tokens": -507}
    ai.fake.script(Raw((chunk({"content": "Hi"}), chunk({}, "stop"), chunk({}, usage=usage))))
    await sam[0].send("@assistant go")
    final = await finished(host[1])
    assert final.text == "Hi" and final.usage is not None
    assert final.usage.estimated and final.usage.total_tokens > 0


async def test_a_whole_answer_of_a_looser_shape_is_still_read(ai: AiRoom) -> None:
    host, sam, _ = await ai.people()
    loose = {"choices": [{"message": {"role": "assistant", "content": "All of it."}}]}
    ai.fake.script(Raw(json_reply=loose))
    await sam[0].send("@assistant go")
    final = await finished(host[1])
    assert (final.status, final.text) == ("complete", "All of it.")
    assert len(ai.fake.chat_requests) == 1


async def test_closing_a_room_with_a_queue_starts_nothing_more(ai: AiRoom) -> None:
    host, sam, bob = await ai.people()
    ai.fake.script(Reply([f"w{i} " for i in range(100)], delay=0.1))
    await sam[0].send("@assistant first")
    await host[1].wait_type(AnswerDelta)
    await bob[0].send("@assistant second")
    await host[0].send("@assistant third")
    await host[1].wait_for(
        lambda e: isinstance(e, AssistantStateChanged) and len(e.state.waiting) == 2
    )
    await ai.room.server.close()
    started = [e for e in host[1].events if isinstance(e, AnswerStarted)]
    ended = [e for e in host[1].events if isinstance(e, AnswerFinished)]
    assert len(started) == 1 and [e.status for e in ended] == ["stopped"]
    assert len(ai.fake.chat_requests) == 1


async def test_a_cut_answer_is_continued_once_and_a_continuation_regenerates_as_one(
    ai: AiRoom,
) -> None:
    _, sam, _ = await ai.people()
    ai.fake.script(Reply(["One, two,"], finish_reason="length"), Reply([" three."], delay=0.3))
    await sam[0].send("@assistant count")
    [cut] = await answers(sam[1], 1)
    await sam[0].continue_answer(cut.answer)
    await sam[1].wait_type(AnswerStarted, continues=cut.answer)
    await sam[0].continue_answer(cut.answer)  # a second one while the first is under way
    again = await sam[1].wait_type(ErrorMessage, code=ErrorCode.NOT_CUT_OFF)
    assert "already being continued" in again.message
    [_, rest] = await answers(sam[1], 2)
    ai.fake.script(Reply([" three!"]))
    await sam[0].regenerate(rest.answer)
    regenerated = await sam[1].wait_type(AnswerStarted, regenerates=rest.answer)
    assert regenerated.continues == cut.answer
    [*_, last] = await answers(sam[1], 3)
    assert last.text == " three!"
    assert ai.fake.chat_requests[-1].json["messages"][-2]["content"] == "One, two,"
