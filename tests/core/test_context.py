"""What the assistant is shown: framing, attribution, and trimming to the token budget."""

from __future__ import annotations

import pytest

from core.ai.context import AnswerJob, TranscriptEntry, build_messages, job_for
from core.ai.tokens import TokenCounter, context_window_for, load_cl100k_ranks
from core.protocol import AnswerFinished, MessagePosted, Notice
from resources import read_bytes


def job(turns: int, persona: str = "") -> AnswerJob:
    transcript = tuple(
        TranscriptEntry(i, "Sam" if i % 2 else "Bob", f"message number {i} " + "blah " * 20)
        for i in range(1, turns + 1)
    )
    return AnswerJob(
        answer_id="a1",
        request=TranscriptEntry(turns + 1, "Ana", "@assistant what now?"),
        transcript=transcript,
        participants=("Ana", "Bob", "Sam"),
        assistant_name="assistant",
        room_name="Book club",
        persona=persona,
    )


def test_everything_fits_when_the_budget_allows() -> None:
    counter = TokenCounter("gpt-4o-mini", "cloud")
    messages = build_messages(job(5, persona="Be kind."), counter, 100_000)
    assert [m["role"] for m in messages] == [
        "system",
        "user",
        "user",
        "user",
        "user",
        "user",
        "user",
    ]
    assert messages[1]["content"].startswith("Sam: message number 1")
    assert messages[-1]["content"] == "Ana: @assistant what now?"
    system = messages[0]["content"]
    assert '"Book club"' in system and "Ana, Bob, Sam" in system and "from Ana" in system
    assert "Be kind." in system


def test_the_oldest_turns_go_first_and_the_budget_holds() -> None:
    counter = TokenCounter("llama3.2", "local")
    full = build_messages(job(40), counter, 1_000_000)
    budget = sum(counter.message(m) for m in full) // 3
    trimmed = build_messages(job(40), counter, budget)
    assert sum(counter.message(m) for m in trimmed) <= budget
    assert trimmed[0] == full[0] and trimmed[-1] == full[-1]  # framing and request stay
    assert trimmed[1:-1] == full[-len(trimmed) + 1 : -1]  # a suffix: the newest turns
    assert 2 < len(trimmed) < len(full)


def test_the_request_is_kept_even_over_budget() -> None:
    counter = TokenCounter("llama3.2", "local")
    messages = build_messages(job(3), counter, 10)
    assert [m["role"] for m in messages] == ["system", "user"]


def test_assistant_turns_are_its_own() -> None:
    answer = TranscriptEntry(2, "assistant", "Earlier reply", role="assistant")
    j = AnswerJob("a2", TranscriptEntry(3, "Sam", "and?"), (answer,), ("Sam",), "assistant", "R")
    messages = build_messages(j, TokenCounter("m", "local"), 10_000)
    assert messages[1] == {"role": "assistant", "content": "Earlier reply"}


def test_token_counts() -> None:
    openai = TokenCounter("gpt-4o-mini", "cloud")
    assert openai.exact and openai.text("Hello there, how are you doing today?") == 9
    local = TokenCounter("llama3.2", "local")
    assert not local.exact
    text = "Hello there, how are you doing today?"
    assert local.text(text) >= openai.text(text)  # the estimate errs on the safe side
    assert local.text("日本語のテキスト") >= 8  # about one token per CJK character


def test_context_windows() -> None:
    assert context_window_for("gpt-4o-mini", "cloud") == 128_000
    assert context_window_for("gpt-4.1-nano", "cloud") == 1_000_000
    assert context_window_for("llama3.2", "local") == 8_192
    assert context_window_for("llama3.2", "local", override=32_768) == 32_768


def test_the_shipped_token_table_is_checked() -> None:
    data = read_bytes("cl100k_base.tiktoken")
    assert len(load_cl100k_ranks(data)) == 100_256
    with pytest.raises(ValueError, match="published hash"):
        load_cl100k_ranks(data.replace(b"IQ== 0", b"IQ== 1", 1))


def test_a_job_holds_what_came_before_the_request_and_the_earlier_answers() -> None:
    history = [
        MessagePosted(1, 0.0, "p1", "Hana", "hi"),
        Notice(2, 0.0, "info", "x", "not a turn"),
        AnswerFinished(3, 0.0, "a1", "Hello!", "complete", "m"),
        MessagePosted(4, 0.0, "p2", "Sam", "@assistant what now?"),
        MessagePosted(5, 0.0, "p1", "Hana", "after the question"),
    ]
    job = job_for(
        "a2", history[3], history, participants=("Hana", "Sam"), assistant_name="assistant",
        room_name="Room", persona="Be brief.",
    )  # fmt: skip
    assert [(t.author, t.text, t.role) for t in job.transcript] == [
        ("Hana", "hi", "user"),
        ("assistant", "Hello!", "assistant"),
    ]
    assert job.request.text == "@assistant what now?" and job.persona == "Be brief."
