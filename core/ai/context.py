"""What the assistant sees: a group-aware framing and the recent conversation, trimmed to fit.

Pure functions on plain values. The room hands over an :class:`AnswerJob` (a snapshot taken
when the answer starts); :func:`build_messages` turns it into Chat Completions messages that
fit ``budget`` tokens, always keeping the framing and the message being answered and dropping
the oldest turns first. Nothing of the host's settings but the persona goes in: never the key,
the provider's address or anything else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from core.ai.tokens import TokenCounter
from core.protocol import AnswerFinished, AnswerId, MessagePosted, RoomEvent

__all__ = [
    "AnswerJob",
    "TranscriptEntry",
    "build_messages",
    "deliberation_messages",
    "job_for",
]


@dataclass(frozen=True)
class TranscriptEntry:
    """One turn of the conversation: a person's message, or an earlier answer."""

    seq: int
    author: str  # display name; the assistant's own turns have role "assistant"
    text: str
    role: str = "user"


@dataclass(frozen=True)
class AnswerJob:
    """Everything the relay needs to write one answer."""

    answer_id: AnswerId
    request: TranscriptEntry
    transcript: tuple[TranscriptEntry, ...]  # earlier turns, oldest first, request excluded
    participants: tuple[str, ...]
    assistant_name: str
    room_name: str
    persona: str = ""


def job_for(
    answer_id: AnswerId,
    request: MessagePosted,
    history: Iterable[RoomEvent],
    *,
    participants: tuple[str, ...],
    assistant_name: str,
    room_name: str,
    persona: str,
) -> AnswerJob:
    """A snapshot of what the assistant needs to answer ``request``: the messages and earlier
    answers in ``history`` (oldest first) that came before it, and who is present."""
    transcript: list[TranscriptEntry] = []
    for event in history:
        if event.seq >= request.seq:
            break
        if isinstance(event, MessagePosted):
            transcript.append(TranscriptEntry(event.seq, event.author_name, event.text))
        elif isinstance(event, AnswerFinished) and event.text:
            transcript.append(
                TranscriptEntry(event.seq, assistant_name, event.text, role="assistant")
            )
    return AnswerJob(
        answer_id=answer_id,
        request=TranscriptEntry(request.seq, request.author_name, request.text),
        transcript=tuple(transcript),
        participants=participants,
        assistant_name=assistant_name,
        room_name=room_name,
        persona=persona,
    )


def _framing(job: AnswerJob) -> str:
    present = ", ".join(job.participants) or "nobody else"
    lines = [
        f"You are {job.assistant_name}, an AI assistant taking part in a group chat called "
        f'"{job.room_name}". Several people talk here at once; each of their messages is shown '
        'as "Name: message".',
        f"People in the room now: {present}.",
        f"Reply to the latest message, from {job.request.author}. Address people by name when "
        "it helps, keep the conversation's language, and do not start your reply with your "
        "own name.",
        "Anyone in the room can read your reply. Do not ask for private or sensitive information.",
    ]
    if job.persona.strip():
        lines.append(f"Instructions from the host of this room:\n{job.persona.strip()}")
    return "\n\n".join(lines)


def _as_message(entry: TranscriptEntry) -> dict[str, str]:
    if entry.role == "assistant":
        return {"role": "assistant", "content": entry.text}
    return {"role": "user", "content": f"{entry.author}: {entry.text}"}


def build_messages(job: AnswerJob, counter: TokenCounter, budget: int) -> list[dict[str, str]]:
    """Chat messages for ``job`` within ``budget`` tokens (framing and request always kept)."""
    system = {"role": "system", "content": _framing(job)}
    request = _as_message(job.request)
    used = counter.message(system) + counter.message(request)
    kept: list[dict[str, str]] = []
    for entry in reversed(job.transcript):
        message = _as_message(entry)
        cost = counter.message(message)
        if used + cost > budget:
            break
        kept.append(message)
        used += cost
    kept.reverse()
    return [system, *kept, request]


def deliberation_messages(
    job: AnswerJob, counter: TokenCounter, budget: int = 2000
) -> list[dict[str, str]]:
    """A short yes/no request: should the assistant speak up after the latest message?"""
    recent = build_messages(job, counter, budget)[1:]
    conversation = "\n".join(m["content"] if m["role"] == "user" else f"{job.assistant_name}: "
                             f"{m['content']}" for m in recent)  # fmt: skip
    question = (
        f"You decide whether {job.assistant_name}, the AI assistant in a group chat, should reply "
        "to the latest message. Say YES only if the people are asking the assistant something, "
        "need information or help it can give, or clearly expect it to take part. Say NO for "
        "small talk between the people. Answer with exactly one word: YES or NO."
    )
    return [
        {"role": "system", "content": question},
        {"role": "user", "content": f"Conversation so far:\n{conversation}\n\nShould it reply?"},
    ]
