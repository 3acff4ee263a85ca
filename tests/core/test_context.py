"""What the assistant is shown: framing, attribution, and trimming to the token budget."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.ai.context import (
    AnswerJob,
    TranscriptEntry,
    build_messages,
    build_prompt,
    deliberation_messages,
    job_for,
    message_tokens,
    read_decision,
)
from core.ai.tokens import TokenCounter, context_window_for, load_cl100k_ranks
from core.filetypes import FileKind
from core.protocol import (
    AnswerFinished,
    AnswerId,
    FileId,
    FileShared,
    MessageId,
    MessagePosted,
    Notice,
    ParticipantId,
    RoomEvent,
)
from core.shared_files import SharedFile
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


# --------------------------------------------------------------------------- files


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(40))


def shared(
    file_id: str, seq: int, name: str, data: bytes, *, kind: FileKind, mime: str,
    assistant: bool = True, author: str = "Sam", text: str | None = None,
) -> SharedFile:  # fmt: skip
    return SharedFile(
        id=FileId(file_id), seq=seq, ts=0.0, author=ParticipantId("p2"), author_name=author,
        client_id=MessageId(f"c-{file_id}"), name=name, mime=mime, kind=kind,
        assistant=assistant, sha256=hashlib.sha256(data).hexdigest(), data=data, text=text,
    )  # fmt: skip


def shared_event(file: SharedFile) -> FileShared:
    return FileShared(
        seq=file.seq, ts=0.0, file=file.id, author=file.author, author_name=file.author_name,
        name=file.name, size=file.size, sha256=file.sha256, mime=file.mime, kind=file.kind,
        assistant=file.assistant, client_id=file.client_id,
    )  # fmt: skip


def files_job(
    files: list[SharedFile], history_before: list[RoomEvent], request_text: str = "@assistant?"
) -> AnswerJob:
    events: list[RoomEvent] = [*history_before]
    for file in files:
        events.append(shared_event(file))
    events.sort(key=lambda e: e.seq)
    last = max(e.seq for e in events)
    request = MessagePosted(last + 1, 0.0, ParticipantId("p1"), "Ana", request_text)
    return job_for(
        AnswerId("a1"), request, [*events, request], participants=("Ana", "Sam"),
        assistant_name="assistant", room_name="Room", persona="", files=files,
    )  # fmt: skip


def test_a_job_takes_only_files_shared_with_the_assistant_before_the_request() -> None:
    notes = shared("f1", 2, "notes.md", b"# Notes\nbuy milk", kind="text", mime="text/markdown")
    secret = shared(
        "f2", 3, "salaries.csv", b"name,salary\nBob,100", kind="text", mime="text/csv",
        assistant=False,
    )  # fmt: skip
    later = shared("f3", 9, "later.txt", b"after", kind="text", mime="text/plain")
    history: list[RoomEvent] = [MessagePosted(1, 0.0, ParticipantId("p2"), "Sam", "hello")]
    job = files_job([notes, secret], history)
    assert [f.id for f in job.files_in_context] == ["f1"]
    assert [(t.seq, t.file) for t in job.transcript] == [(1, None), (2, "f1")]
    # A file shared after the question is not part of it.
    request = MessagePosted(5, 0.0, ParticipantId("p1"), "Ana", "@assistant?")
    events = [*history, shared_event(notes), request, shared_event(later)]
    job_later = job_for(
        AnswerId("a1"), request, events, participants=(), assistant_name="assistant",
        room_name="Room", persona="", files=[notes, later],
    )  # fmt: skip
    assert [f.id for f in job_later.files_in_context] == ["f1"]
    # Nothing of the file without consent reaches the messages: neither contents nor name.
    prompt = build_prompt(job, TokenCounter("gpt-4o", "cloud"), 100_000, model="gpt-4o")
    raw = json.dumps(prompt.messages)
    assert "salaries" not in raw and "Bob,100" not in raw
    assert "buy milk" in raw and prompt.files == ("f1",)


def test_a_file_without_consent_cannot_enter_a_job_at_all() -> None:
    secret = shared("f2", 3, "s.txt", b"secret", kind="text", mime="text/plain", assistant=False)
    with pytest.raises(ValueError, match="did not let the assistant read"):
        AnswerJob(
            AnswerId("a1"), TranscriptEntry(4, "Ana", "?"), (), (), "assistant", "Room",
            files_in_context=(secret,),
        )  # fmt: skip
    # Even if the room's event claimed consent, the file's own flag decides.
    history: list[RoomEvent] = [replace(shared_event(secret), assistant=True)]
    job = job_for(
        AnswerId("a1"), MessagePosted(9, 0.0, ParticipantId("p1"), "Ana", "?"), history,
        participants=(), assistant_name="assistant", room_name="R", persona="", files=[secret],
    )  # fmt: skip
    assert job.files_in_context == () and job.transcript == ()


def test_files_go_as_content_parts_where_they_were_shared() -> None:
    image = shared("f1", 2, "map.png", PNG, kind="image", mime="image/png")
    notes = shared("f2", 4, "notes.md", b"# Plan\nday one", kind="text", mime="text/markdown")
    history: list[RoomEvent] = [
        MessagePosted(1, 0.0, ParticipantId("p2"), "Sam", "look at this"),
        MessagePosted(3, 0.0, ParticipantId("p2"), "Sam", "and my notes"),
    ]
    job = files_job([image, notes], history, "@assistant what do you think?")
    prompt = build_prompt(job, TokenCounter("gpt-4o", "cloud"), 100_000, model="gpt-4o")
    assert prompt.messages[1:] == [
        {"role": "user", "content": "Sam: look at this"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Image map.png (shared by Sam):"},
                {
                    "type": "image_url",
                    "image_url": {"url": "data:image/png;base64," + base64.b64encode(PNG).decode()},
                },
            ],
        },
        {"role": "user", "content": "Sam: and my notes"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "File notes.md (shared by Sam):\n# Plan\nday one"}
            ],
        },
        {"role": "user", "content": "Ana: @assistant what do you think?"},
    ]  # fmt: skip
    assert prompt.files == ("f1", "f2") and prompt.has_images and prompt.notices == ()


def test_a_model_without_vision_gets_no_image_and_the_room_is_told() -> None:
    image = shared("f1", 2, "map.png", PNG, kind="image", mime="image/png")
    prompt = build_prompt(
        files_job([image], []), TokenCounter("llama3", "local"), 8_000, model="llama3:8b"
    )
    assert prompt.files == () and not prompt.has_images
    assert "base64" not in json.dumps(prompt.messages)
    assert prompt.messages[1] == {
        "role": "user",
        "content": "Sam: [shared the file map.png; its contents are not shown to you]",
    }
    [notice] = prompt.notices
    assert notice.code == "file_not_sent" and notice.file == "f1"
    assert notice.text == (
        '"map.png" was not sent to the assistant: the model llama3:8b is not known to take images.'
    )


def test_a_long_text_is_cut_to_fit_and_the_old_file_stays_while_old_turns_go() -> None:
    counter = TokenCounter("llama3.2", "local")
    body = "".join(f"line {i}: the quick brown fox jumps over the lazy dog\n" for i in range(3000))
    long_file = shared("f1", 1, "log.txt", body.encode(), kind="text", mime="text/plain")
    history: list[RoomEvent] = [
        MessagePosted(seq, 0.0, ParticipantId("p2"), "Sam", f"chatter {seq} " + "blah " * 30)
        for seq in range(2, 60)
    ]
    job = files_job([long_file], history)
    budget = 6_000
    prompt = build_prompt(job, counter, budget, model="llama3.2")
    assert prompt.tokens == sum(message_tokens(counter, m) for m in prompt.messages) <= budget
    assert prompt.files == ("f1",)
    file_message = prompt.messages[1]  # the oldest thing kept: the file, before the chatter
    assert isinstance(file_message["content"], list)
    text = file_message["content"][0]["text"]
    heading = "File log.txt (shared by Sam):\n"
    assert isinstance(text, str) and text.startswith(heading)
    shown, note = text.removeprefix(heading).split("\n\n[... cut: ")
    kept = len(shown)
    assert body.startswith(shown) and 1_000 < kept < len(body)
    assert note == f"{len(body) - kept:,} characters left out]"
    # Some recent chatter is kept, the oldest is not.
    contents = [m["content"] for m in prompt.messages[2:-1]]
    assert contents and all(isinstance(c, str) for c in contents)
    assert "chatter 59" in str(contents[-1]) and "chatter 2 " not in str(contents)
    [notice] = prompt.notices
    assert notice.code == "file_shortened"
    assert notice.text == (
        f'"log.txt" was too long for the assistant: it read the first {kept:,} of '
        f"{len(body):,} characters."
    )


def test_texts_share_the_room_fairly() -> None:
    counter = TokenCounter("llama3.2", "local")
    small = shared("f1", 1, "small.txt", b"short note", kind="text", mime="text/plain")
    big_a = shared("f2", 2, "a.txt", b"alpha " * 20_000, kind="text", mime="text/plain")
    big_b = shared("f3", 3, "b.txt", b"bravo " * 20_000, kind="text", mime="text/plain")
    prompt = build_prompt(files_job([small, big_a, big_b], []), counter, 8_000, model="x")
    assert prompt.files == ("f1", "f2", "f3")
    costs = {
        m_id: message_tokens(counter, m)
        for m_id, m in zip(prompt.files, prompt.messages[1:4], strict=True)
    }
    assert costs["f1"] < 20 and abs(costs["f2"] - costs["f3"]) < 20 and costs["f2"] > 2_500
    assert sum(message_tokens(counter, m) for m in prompt.messages) <= 8_000
    assert [n.file for n in prompt.notices] == ["f2", "f3"]


def test_deliberation_carries_no_file_contents() -> None:
    notes = shared("f1", 2, "notes.md", b"# Notes\nbuy milk", kind="text", mime="text/markdown")
    messages = deliberation_messages(files_job([notes], []), TokenCounter("m", "local"))
    raw = json.dumps(messages)
    assert "buy milk" not in raw and "notes.md" in raw and "image_url" not in raw


@pytest.mark.parametrize(
    ("reply", "decision"),
    [
        ("YES", True),
        ("no.", False),
        ("Yes, they are asking for help.", True),
        ("The people are chatting. NO", False),
        ("<think>Should it? Yes, maybe... no.</think>\nYES", True),
        ("<thinking>they said yes</thinking> No", False),
        ("<think>They asked whether it is yes or", None),  # ran out of tokens thinking
        ("", None),
        ("Maybe.", None),
        ("yesterday nobody", None),  # words that merely start with yes or no
    ],
)
def test_a_decision_is_read_past_the_models_reasoning(reply: str, decision: bool | None) -> None:
    assert read_decision(reply) is decision


@given(
    thought=st.text(alphabet=st.characters(blacklist_characters="<>"), max_size=200),
    answer=st.sampled_from(["YES", "NO", "yes", "No"]),
)
def test_whatever_a_model_thinks_its_last_word_decides(thought: str, answer: str) -> None:
    assert read_decision(f"<think>{thought}</think>\n{answer}") is (answer.upper() == "YES")
