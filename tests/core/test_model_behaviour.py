"""Models that behave unlike a plain chat model, in a real room: a reasoning model in auto
mode, a model whose provider says what it takes, a provider that keeps a stream open with
keep-alives and sends nothing else, a server that ignores ``stream: true``.

A real room on loopback, real clients, the real openai SDK, and
:class:`tests.fake_openai.FakeOpenAI` behaving as those servers do.
"""

from __future__ import annotations

import pytest

from core.ai.relay import DECISION_TOKENS, REASONING_DECISION_TOKENS
from core.protocol import AnswerFinished, AnswerStarted, FileShared, Notice
from tests.conftest import RoomFactory
from tests.core.test_assistant import (  # noqa: F401 (the fixture)
    fake,
    finished,
    humans_still_chat,
    make_ai_room,
)
from tests.core.test_assistant_files import ai_room, eventually, make_png, share
from tests.fake_openai import FakeOpenAI, IgnoresStream, KeepAlive, Reasoning, Reply


def limit_of(request_json: dict[str, object]) -> object:
    return request_json.get("max_tokens") or request_json.get("max_completion_tokens")


# --------------------------------------------------------------------------- reasoning


@pytest.mark.parametrize("style", ["field", "think"])
async def test_auto_mode_decides_with_a_model_that_thinks_first(
    make_room: RoomFactory,
    fake: FakeOpenAI,  # noqa: F811
    style: str,
) -> None:
    ai = await make_ai_room(make_room, fake, mode="auto")
    host, sam, bob = await ai.people()
    thinking = ["Let", " me", " think", " about", " whether", " they", " need", " help"] * 4
    decide = Reasoning(thinking, ["YES"], style=style)  # type: ignore[arg-type]
    # The first request leaves room for a word, which the thinking uses up; asked again with
    # room to think, the model decides.
    fake.script(decide, decide, Reply(["Lima", "."]))
    await sam[0].send("does anyone know the capital of Peru?")
    assert (await finished(host[1])).text == "Lima."
    first, second, _ = fake.chat_requests
    assert limit_of(first.json) == DECISION_TOKENS
    assert limit_of(second.json) == REASONING_DECISION_TOKENS
    # From now on it is asked with room to think at once.
    fake.script(Reasoning(thinking, ["NO"], style=style))  # type: ignore[arg-type]
    await bob[0].send("lunch at noon?")
    await fake.wait_until(lambda: len(fake.chat_requests) == 4)
    assert limit_of(fake.chat_requests[3].json) == REASONING_DECISION_TOKENS
    await humans_still_chat(bob, sam)
    assert len([e for e in host[1].events if isinstance(e, AnswerStarted)]) == 1


async def test_a_model_that_never_decides_leaves_auto_mode_quiet_and_says_so(
    make_room: RoomFactory,
    fake: FakeOpenAI,  # noqa: F811
) -> None:
    ai = await make_ai_room(make_room, fake, mode="auto")
    host, sam, bob = await ai.people()
    endless = Reasoning(["hmm"] * 2000, ["YES"])  # thinks past any budget
    fake.script(endless, endless)
    await sam[0].send("what do you all think?")
    notice = await bob[1].wait_type(Notice, code="auto_undecided")
    assert "only answers when it is mentioned" in notice.text
    assert not any(isinstance(e, AnswerStarted) for e in host[1].events)
    fake.script(Reply(["Here."]))
    await sam[0].send("@assistant are you there?")  # a mention still works
    assert (await finished(host[1])).text == "Here."


async def test_a_model_the_provider_says_reasons_is_given_room_at_once(
    make_room: RoomFactory,
    fake: FakeOpenAI,  # noqa: F811
) -> None:
    fake.capabilities = {"qwen3": ["completion", "thinking"]}
    room = await ai_room(make_room, fake, "qwen3")
    await eventually(lambda: room.server.assistant_capabilities.source == "provider")  # type: ignore[union-attr]
    caps = room.server.assistant_capabilities
    assert caps is not None and caps.reasoning is True


# --------------------------------------------------------------------------- images


async def test_the_provider_decides_whether_a_model_takes_images(
    make_room: RoomFactory,
    fake: FakeOpenAI,  # noqa: F811
) -> None:
    # A name nothing knows, which Ollama says takes images: the photo goes.
    fake.capabilities = {"family-photo-reader": ["completion", "vision"]}
    room = await ai_room(make_room, fake, "family-photo-reader")
    await eventually(lambda: room.server.assistant_capabilities.source == "provider")  # type: ignore[union-attr]
    host = await room.join("Hana", host=True)
    sam = await room.join("Sam")
    photo = await share(room, sam, [host[1]], "beach.png", make_png(), assistant=True)
    fake.script(Reply(["Sand and sea."]))
    await sam[0].send("@assistant what is in the photo?")
    await host[1].wait_type(AnswerFinished, timeout=10.0)
    started = next(e for e in host[1].events if isinstance(e, AnswerStarted))
    assert started.files == (photo.file,)
    content = fake.chat_requests[-1].json["messages"][1]["content"]
    assert any(part["type"] == "image_url" for part in content)


async def test_a_vision_name_the_provider_says_takes_no_images_gets_a_notice(
    make_room: RoomFactory,
    fake: FakeOpenAI,  # noqa: F811
) -> None:
    fake.capabilities = {"llava": ["completion"]}  # a name that usually means vision
    room = await ai_room(make_room, fake, "llava")
    await eventually(lambda: room.server.assistant_capabilities.source == "provider")  # type: ignore[union-attr]
    host = await room.join("Hana", host=True)
    sam = await room.join("Sam")
    await share(room, sam, [host[1]], "beach.png", make_png(), assistant=True)
    fake.script(Reply(["No picture here."]))
    await sam[0].send("@assistant what is in the photo?")
    notice = await host[1].wait_type(Notice, code="file_not_sent")
    assert notice.text.endswith("the model llava does not take images.")
    started = next(e for e in host[1].events if isinstance(e, AnswerStarted))
    assert started.files == ()
    assert not any(isinstance(e, FileShared) and e.file == "" for e in host[1].events)


# --------------------------------------------------------------------------- streams


async def test_keep_alives_alone_do_not_keep_an_answer_waiting(
    make_room: RoomFactory,
    fake: FakeOpenAI,  # noqa: F811
) -> None:
    ai = await make_ai_room(
        make_room, fake, timeout=0.5, provider_options={"stall_limit": 1.5}
    )  # the SDK's read timeout (0.5 s) is reset by every keep-alive; the stall limit is not
    host, sam, bob = await ai.people()
    fake.script(KeepAlive(60, interval=0.1))
    await sam[0].send("@assistant hello?")
    final = await finished(host[1])
    assert final.status == "failed"
    assert (
        final.error
        == "The AI provider sent nothing for 2 seconds, so the assistant stopped waiting."
    )
    assert fake.keepalives >= 10
    await fake.wait_disconnect()
    await humans_still_chat(bob, sam)


async def test_keep_alives_before_the_answer_are_fine(
    make_room: RoomFactory,
    fake: FakeOpenAI,  # noqa: F811
) -> None:
    ai = await make_ai_room(make_room, fake, provider_options={"stall_limit": 1.0})
    host, sam, _ = await ai.people()
    fake.script(KeepAlive(0.5, then=Reply(["Worth", " the", " wait."]), interval=0.1))
    await sam[0].send("@assistant hello?")
    final = await finished(host[1])
    assert (final.status, final.text) == ("complete", "Worth the wait.")


async def test_a_server_that_ignores_streaming_still_answers(
    make_room: RoomFactory,
    fake: FakeOpenAI,  # noqa: F811
) -> None:
    ai = await make_ai_room(make_room, fake)
    host, sam, bob = await ai.people()
    fake.script(IgnoresStream(Reply(["All", " at", " once."], usage=(30, 3))))
    await sam[0].send("@assistant hello?")
    final = await finished(bob[1])
    assert (final.status, final.text) == ("complete", "All at once.")
    assert final.usage is not None and final.usage.completion_tokens == 3
    assert not any(isinstance(e, Notice) and e.code == "assistant_retrying" for e in host[1].events)
    assert len(fake.chat_requests) == 1
