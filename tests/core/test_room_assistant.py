"""The assistant's rules in the room, on plain values: when it answers, the queue, stop and
regenerate, budgets and quotas, and what it is shown."""

from __future__ import annotations

from typing import Any

import pytest

from core.ai.desk import AnswerOutcome, AssistantConfig
from core.protocol import (
    AnswerDelta,
    AnswerFinished,
    AnswerStarted,
    AssistantReport,
    AssistantStateChanged,
    ErrorMessage,
    Limits,
    Notice,
    RoomUpdated,
    Usage,
)
from core.room import CancelAnswer, Deliberate, StartAnswer
from tests.core.room_harness import Harness, Peer, welcome_of


def assistant_room(limits: Limits | None = None, **config: Any) -> Harness:
    settings = {"model": "gpt-test", "provider": "OpenAI", "provider_kind": "cloud", **config}
    room = {"limits": limits} if limits is not None else {}
    return Harness(assistant=AssistantConfig(**settings), **room)


def say(h: Harness, peer: Peer, text: str) -> None:
    h.send(peer, type="send", id=f"c{len(peer.inbox)}-{text[:8]}", text=text)


def starts(h: Harness) -> list[StartAnswer]:
    return [a for a in h.assistant_actions if isinstance(a, StartAnswer)]


def finish(h: Harness, answer_id: str, text: str = "Sure.", status: str = "complete",
           usage: Usage | None = None) -> None:  # fmt: skip
    h.apply(h.room.answer_finished(answer_id, AnswerOutcome(status, text, usage)))


def answer(h: Harness, answer_id: str, text: str = "Sure.") -> None:
    """Stream ``text`` and finish with it, as the relay does."""
    h.apply(h.room.answer_delta(answer_id, text))
    finish(h, answer_id, text)


def test_room_info_discloses_where_messages_go() -> None:
    h = assistant_room(provider="Ollama", provider_kind="local", model="llama3.2")
    sam = h.join("Sam")
    info = welcome_of(sam).room.assistant
    assert info is not None
    assert (info.provider, info.provider_kind, info.model, info.mode) == (
        "Ollama", "local", "llama3.2", "mention",
    )  # fmt: skip


def test_mention_mode_answers_only_when_mentioned() -> None:
    h = assistant_room()
    sam = h.join("Sam")
    say(h, sam, "just chatting with people")
    say(h, sam, "email me at sam@assistantcorp.com")  # not a mention: part of a word
    assert starts(h) == []
    say(h, sam, "@Assistant what is 2+2?")
    [start] = starts(h)
    assert start.job.request.text == "@Assistant what is 2+2?"
    assert start.job.request.author == "Sam"
    started = sam.of(AnswerStarted)[-1]
    assert started.asked_by_name == "Sam" and started.assistant_name == "assistant"


def test_custom_name_is_mentionable_and_reserved() -> None:
    h = assistant_room(name="Robo")
    sam = h.join("Sam")
    say(h, sam, "hey @robo, hello")
    assert len(starts(h)) == 1
    impostor = welcome_of(h.join("Robo")).you
    assert impostor.name == "Robo (2)"
    assert welcome_of(h.join("assistant")).you.name == "assistant (2)"


def test_always_mode_answers_every_message() -> None:
    h = assistant_room(mode="always")
    sam = h.join("Sam")
    say(h, sam, "one")
    finish(h, starts(h)[0].job.answer_id)
    say(h, sam, "two")
    assert [s.job.request.text for s in starts(h)] == ["one", "two"]


def test_one_answer_at_a_time_others_wait_in_order() -> None:
    h = assistant_room()
    host = h.host()
    sam = h.join("Sam")
    bob = h.join("Bob")
    say(h, sam, "@assistant first")
    say(h, bob, "@assistant second")
    say(h, host, "@assistant third")
    assert len(starts(h)) == 1
    state = bob.of(AssistantStateChanged)[-1].state
    assert state.answering is not None and state.answering.asked_by_name == "Sam"
    assert [t.asked_by_name for t in state.waiting] == ["Bob", "Hana"]
    finish(h, starts(h)[0].job.answer_id)
    assert [s.job.request.text for s in starts(h)] == ["@assistant first", "@assistant second"]
    assert len(bob.of(AssistantStateChanged)[-1].state.waiting) == 1


def test_deltas_carry_offsets_and_late_joiners_catch_up() -> None:
    h = assistant_room()
    sam = h.join("Sam")
    say(h, sam, "@assistant tell me")
    answer = starts(h)[0].job.answer_id
    h.apply(h.room.answer_delta(answer, "Once upon"))
    h.apply(h.room.answer_delta(answer, " a time"))
    assert [(d.offset, d.text) for d in sam.of(AnswerDelta)] == [(0, "Once upon"), (9, " a time")]
    late = h.join("Late")
    [catch_up] = late.of(AnswerDelta)
    assert (catch_up.answer, catch_up.offset, catch_up.text) == (answer, 0, "Once upon a time")
    finish(h, answer, "Once upon a time, the end.")
    final = late.of(AnswerFinished)[-1]
    assert final.text == "Once upon a time, the end." and final.status == "complete"
    later = h.join("Later")  # finished answers are in history for late joiners
    assert later.of(AnswerFinished)[-1].text == "Once upon a time, the end."
    assert later.of(AnswerDelta) == []


def test_stop_by_asker_or_host_only() -> None:
    h = assistant_room()
    host = h.host()
    sam = h.join("Sam")
    bob = h.join("Bob")
    say(h, sam, "@assistant long story please")
    answer = starts(h)[0].job.answer_id
    h.send(bob, type="stop_answer", answer=answer)
    assert bob.last_error().code == "not_allowed"
    h.send(sam, type="stop_answer", answer=answer)
    assert h.assistant_actions[-1] == CancelAnswer(answer)
    h.apply(h.room.answer_delta(answer, "Partial"))
    finish(h, answer, "Partial", status="stopped")
    final = host.of(AnswerFinished)[-1]
    assert (final.status, final.text, final.stopped_by) == (
        "stopped",
        "Partial",
        welcome_of(sam).you.id,
    )
    say(h, bob, "@assistant mine")
    say(h, sam, "@assistant queued")
    queued = h.room._desk.queue[0].answer_id  # type: ignore[union-attr]
    h.send(host, type="stop_answer", answer=queued)  # the host takes it off the queue
    assert h.room._desk.queue == type(h.room._desk.queue)()  # type: ignore[union-attr]
    assert host.of(AssistantStateChanged)[-1].state.waiting == ()


def test_regenerate_by_asker_or_host() -> None:
    h = assistant_room()
    host = h.host()
    sam = h.join("Sam")
    bob = h.join("Bob")
    say(h, sam, "@assistant a joke")
    first = starts(h)[0].job.answer_id
    finish(h, first, "Why did the chicken...")
    h.send(bob, type="regenerate", answer=first)
    assert bob.last_error().code == "not_allowed"
    h.send(sam, type="regenerate", answer=first)
    second = starts(h)[-1]
    assert second.job.request.text == "@assistant a joke"
    assert sam.of(AnswerStarted)[-1].regenerates == first
    assert all(e.text != "Why did the chicken..." for e in second.job.transcript)
    finish(h, second.job.answer_id)
    h.send(host, type="regenerate", answer=first)
    assert len(starts(h)) == 3
    h.send(sam, type="regenerate", answer="a999")
    assert sam.last_error().code == "unknown_answer"


def test_context_is_the_conversation_before_the_request() -> None:
    h = assistant_room(persona="Answer like a pirate.")
    sam = h.join("Sam")
    bob = h.join("Bob")
    say(h, sam, "we are planning a trip")
    say(h, bob, "to the coast")
    say(h, sam, "@assistant where should we stay?")
    job = starts(h)[0].job
    assert [(e.author, e.text) for e in job.transcript] == [
        ("Sam", "we are planning a trip"),
        ("Bob", "to the coast"),
    ]
    assert job.persona == "Answer like a pirate."
    assert set(job.participants) == {"Sam", "Bob"}
    finish(h, job.answer_id, "Arr, the harbour inn.")
    say(h, bob, "@assistant and food?")
    transcript = starts(h)[-1].job.transcript
    assert transcript[-1].role == "assistant" and transcript[-1].text == "Arr, the harbour inn."


def test_auto_mode_asks_the_model_first_and_coalesces() -> None:
    h = assistant_room(mode="auto")
    sam = h.join("Sam")
    say(h, sam, "hi all")
    [first] = [a for a in h.assistant_actions if isinstance(a, Deliberate)]
    say(h, sam, "what is the capital of Peru?")  # while deciding: decided after
    assert len([a for a in h.assistant_actions if isinstance(a, Deliberate)]) == 1
    h.apply(h.room.deliberated(first.job.request.seq, False, Usage(50, 1, 51)))
    second = [a for a in h.assistant_actions if isinstance(a, Deliberate)][-1]
    assert second.job.request.text == "what is the capital of Peru?"
    assert starts(h) == []
    h.apply(h.room.deliberated(second.job.request.seq, True, Usage(50, 1, 51)))
    assert starts(h)[0].job.request.text == "what is the capital of Peru?"
    assert h.room._desk.session_usage.total_tokens == 102  # type: ignore[union-attr]
    say(h, sam, "@assistant direct question")  # a mention needs no decision
    assert len([a for a in h.assistant_actions if isinstance(a, Deliberate)]) == 2


def test_token_budget_stops_answers_with_a_clear_message() -> None:
    h = assistant_room(token_budget=100)
    host = h.host()
    sam = h.join("Sam")
    say(h, sam, "@assistant one")
    finish(h, starts(h)[0].job.answer_id, usage=Usage(80, 40, 120))
    notice = host.of(Notice)[-1]
    assert notice.code == "budget_exhausted" and "100" in notice.text
    say(h, sam, "@assistant two")
    assert sam.last_error().code == "budget_exhausted"
    assert len(starts(h)) == 1
    report = host.of(AssistantReport)[-1]
    assert report.session_usage.total_tokens == 120 and report.answers == 1
    assert sam.of(AssistantReport) == []  # usage is for the host's eyes


def test_answer_quota_per_guest_with_retry_after() -> None:
    h = assistant_room(answer_quota=2, quota_window=600)
    host = h.host()
    sam = h.join("Sam")
    for i in range(2):
        say(h, sam, f"@assistant q{i}")
        answer(h, starts(h)[-1].job.answer_id)
    say(h, sam, "@assistant q3")
    error = sam.last_error()
    assert error.code == "quota_exceeded" and "2 answers in the last 10 minutes" in error.message
    assert error.retry_after is not None and 0 < error.retry_after <= 600
    say(h, host, "@assistant the host is not limited")
    assert starts(h)[-1].job.request.author == "Hana"
    finish(h, starts(h)[-1].job.answer_id)
    h.clock.now += 601
    say(h, sam, "@assistant q4")
    assert starts(h)[-1].job.request.text == "@assistant q4"


@pytest.mark.parametrize(
    ("window", "words"),
    [(15, "in the last 15 seconds"), (60, "in the last minute"), (90, "in the last 1 minute 30"),
     (3600, "in the last hour"), (7200, "in the last 2 hours")],
)  # fmt: skip
def test_the_quota_window_is_said_in_words(window: float, words: str) -> None:
    h = assistant_room(answer_quota=1, quota_window=window)
    sam = h.join("Sam")
    say(h, sam, "@assistant q1")
    answer(h, starts(h)[-1].job.answer_id)
    say(h, sam, "@assistant q2")
    error = sam.last_error()
    assert f"You have had 1 answer {words}" in error.message


def test_only_answers_with_text_count_against_the_quota() -> None:
    h = assistant_room(answer_quota=1, quota_window=600)
    host = h.host()
    sam = h.join("Sam")
    say(h, sam, "@assistant q1")
    finish(h, starts(h)[-1].job.answer_id, "", status="failed")  # say, the provider's 401
    say(h, sam, "@assistant q2")
    started = starts(h)[-1].job.answer_id
    h.send(sam, type="stop_answer", answer=started)
    finish(h, started, "", status="stopped")  # stopped before any word
    say(h, host, "@assistant the host asks first")
    say(h, sam, "@assistant q3")  # waits behind the host's question
    queued = h.room._desk.queue[0].answer_id  # type: ignore[union-attr]
    h.send(host, type="stop_answer", answer=queued)  # the host takes it off the queue
    finish(h, starts(h)[-1].job.answer_id)
    say(h, sam, "@assistant q4")
    assert not sam.of(ErrorMessage)  # none of those three gave Sam anything
    answer(h, starts(h)[-1].job.answer_id, "Here you are.")
    say(h, sam, "@assistant q5")
    assert sam.last_error().code == "quota_exceeded"
    assert starts(h)[-1].job.request.text == "@assistant q4"


def test_host_changes_the_mode_live_and_everyone_sees_it() -> None:
    h = assistant_room()
    host = h.host()
    sam = h.join("Sam")
    h.send(sam, type="configure_assistant", mode="always")
    assert sam.last_error().code == "not_allowed"
    h.send(host, type="configure_assistant", mode="always", persona="Be brief.", token_budget=5000)
    update = sam.of(RoomUpdated)[-1]
    assert update.room.assistant is not None and update.room.assistant.mode == "always"
    report = host.of(AssistantReport)[-1]
    assert (report.mode, report.persona, report.token_budget) == ("always", "Be brief.", 5000)
    say(h, sam, "no mention needed now")
    assert starts(h)[-1].job.persona == "Be brief."
    h.send(host, type="configure_assistant", mode="sometimes")
    assert host.last_error().code == "invalid_value"
    h.send(host, type="configure_assistant", mode="mention", token_budget=0)
    assert host.last_error().code == "invalid_value"


def test_closing_the_room_cancels_the_answer() -> None:
    h = assistant_room()
    host = h.host()
    say(h, host, "@assistant go")
    answer = starts(h)[0].job.answer_id
    h.send(host, type="close_room")
    assert CancelAnswer(answer) in h.assistant_actions


def test_a_room_without_assistant_refuses_assistant_actions() -> None:
    h = Harness()
    host = h.host()
    h.send(host, type="configure_assistant", mode="always")
    assert host.last_error().code == "no_assistant"
    h.send(host, type="stop_answer", answer="a1")
    assert host.last_error().code == "unknown_answer"
    say(h, host, "@assistant are you there?")
    assert h.assistant_actions == []


@pytest.mark.parametrize("mode", ["sometimes", ""])
def test_invalid_mode_in_config_is_refused(mode: str) -> None:
    with pytest.raises(ValueError, match="answer mode"):
        AssistantConfig(model="m", mode=mode)


def test_stop_and_regenerate_count_against_the_message_rate() -> None:
    h = assistant_room(limits=Limits(message_burst=8, messages_per_minute=60))
    sam = h.join("Sam")
    say(h, sam, "@assistant q")
    answer = starts(h)[0].job.answer_id
    finish(h, answer)
    for _ in range(20):
        h.send(sam, type="regenerate", answer=answer)
    assert sam.last_error().code in ("rate_limited", "already_waiting")
    assert any(e.code == "rate_limited" for e in sam.of(ErrorMessage))


def test_one_waiting_question_per_person() -> None:
    h = assistant_room()
    host = h.host()
    sam = h.join("Sam")
    say(h, host, "@assistant first, keeps it busy")
    say(h, sam, "@assistant mine")
    say(h, sam, "@assistant mine again")
    assert sam.last_error().code == "already_waiting"
    assert [t.asked_by_name for t in host.of(AssistantStateChanged)[-1].state.waiting] == ["Sam"]


def test_always_mode_lets_extra_messages_be_context_quietly() -> None:
    h = assistant_room(mode="always")
    host = h.host()
    sam = h.join("Sam")
    say(h, host, "busy")
    say(h, sam, "one")
    say(h, sam, "two")  # Sam already waits: no error, no second ticket
    assert not sam.of(ErrorMessage)
    assert len(host.of(AssistantStateChanged)[-1].state.waiting) == 1


def test_queued_answers_stop_when_the_budget_runs_out() -> None:
    h = assistant_room(token_budget=100)
    host = h.host()
    sam = h.join("Sam")
    say(h, host, "@assistant one")
    say(h, sam, "@assistant two")
    finish(h, starts(h)[0].job.answer_id, usage=Usage(90, 20, 110))
    assert len(starts(h)) == 1  # Sam's waiting question is dropped, not answered over budget
    assert host.of(AssistantStateChanged)[-1].state.waiting == ()
    assert host.of(Notice)[-1].code == "budget_exhausted"


def test_a_budget_with_too_little_left_for_an_answer_counts_as_spent() -> None:
    h = assistant_room(token_budget=100)
    host = h.host()
    sam = h.join("Sam")
    say(h, sam, "@assistant one")
    finish(h, starts(h)[0].job.answer_id, usage=Usage(60, 20, 80))  # 20 left: too few
    assert host.of(Notice)[-1].code == "budget_exhausted"
    say(h, sam, "@assistant two")
    assert sam.last_error().code == "budget_exhausted"
    assert len(starts(h)) == 1


def test_the_models_control_characters_are_removed() -> None:
    h = assistant_room()
    sam = h.join("Sam")
    say(h, sam, "@assistant hi")
    answer = starts(h)[0].job.answer_id
    h.apply(h.room.answer_delta(answer, "ok\x1b]0;pwned\x07"))
    h.apply(h.room.answer_delta(answer, "\x1b[2J done\n\tbye"))
    finish(h, answer, "ok\x1b]0;pwned\x07\x1b[2J done\n\tbye")
    deltas = sam.of(AnswerDelta)
    assert [(d.offset, d.text) for d in deltas] == [(0, "ok]0;pwned"), (10, "[2J done\n\tbye")]
    assert sam.of(AnswerFinished)[-1].text == "ok]0;pwned[2J done\n\tbye"
