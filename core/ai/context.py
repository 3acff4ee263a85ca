"""What the assistant sees: a group-aware framing and the recent conversation, trimmed to fit.

Pure functions on plain values. The room hands over an :class:`AnswerJob` (a snapshot taken
when the answer starts); :func:`build_prompt` turns it into Chat Completions messages that
fit ``budget`` tokens, always keeping the framing and the message being answered and dropping
the oldest turns first. Nothing of the host's settings but the persona goes in: never the key,
the provider's address or anything else.

Files. A job holds the files shared before the request whose senders let the assistant read
them (:attr:`AnswerJob.files_in_context`; a job cannot hold any other). Each goes as a user
message of content parts at the place in the conversation where it was shared (see
:mod:`core.ai.file_parts` for which go and in what form). Files are fitted before the
conversation: they may take up to :data:`FILES_SHARE` of what the framing and the request
leave, images at :data:`~core.ai.file_parts.IMAGE_TOKENS` each (the newest first), texts
sharing the rest fairly and cut to fit with a note ``[... cut: N characters left out]``; a
file kept is kept however old it is, and the conversation gets what the files leave. Files
that do not go, or go cut, come back as :class:`~core.ai.file_parts.FileNotice` values for
the room to show.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Literal, TypedDict

from core.ai.file_parts import (
    FILE_NOT_SENT,
    FILE_SHORTENED,
    IMAGE_TOKENS,
    ContentPart,
    FileNotice,
    extraction_cut_notice,
    file_parts,
    files_to_send,
    readable_text,
    unsent_notices,
)
from core.ai.file_text import cut_note
from core.ai.tokens import MESSAGE_OVERHEAD, TokenCounter
from core.protocol import AnswerFinished, AnswerId, FileId, FileShared, MessagePosted, RoomEvent
from core.shared_files import SharedFile

__all__ = [
    "FILES_SHARE",
    "AnswerJob",
    "ChatMessage",
    "Prompt",
    "TranscriptEntry",
    "build_messages",
    "build_prompt",
    "deliberation_messages",
    "job_for",
    "message_tokens",
    "read_decision",
]

FILES_SHARE = 0.75
"""The most of the budget left after the framing and the request that files may take."""
MIN_FILE_TEXT_TOKENS = 64
"""A text file that would get fewer tokens of its text than this is not sent at all."""


class ChatMessage(TypedDict):
    """One Chat Completions message: plain text, or content parts where files go."""

    role: Literal["system", "user", "assistant"]
    content: str | list[ContentPart]


@dataclass(frozen=True)
class TranscriptEntry:
    """One turn of the conversation: a person's message, or an earlier answer."""

    seq: int
    author: str  # display name; the assistant's own turns have role "assistant"
    text: str  # for a file, its name
    role: Literal["user", "assistant"] = "user"
    file: FileId | None = None
    """The file this turn shared (one of the job's ``files_in_context``)."""


@dataclass(frozen=True)
class AnswerJob:
    """Everything the relay needs to write one answer.

    ``files_in_context`` holds only files whose senders let the assistant read them: a job
    given any other raises ``ValueError``, so no file without consent can reach a prompt.
    """

    answer_id: AnswerId
    request: TranscriptEntry
    transcript: tuple[TranscriptEntry, ...]  # earlier turns, oldest first, request excluded
    participants: tuple[str, ...]
    assistant_name: str
    room_name: str
    persona: str = ""
    files_in_context: tuple[SharedFile, ...] = ()
    continues: str = ""
    """A continuation: what the answers before it wrote, cut off at the model's length limit
    (the model is asked to go on from there)."""
    quoted: TranscriptEntry | None = None
    """What the request replies to, as it is now: it goes with the request, however old."""

    def __post_init__(self) -> None:
        if any(not f.assistant for f in self.files_in_context):
            raise ValueError("a file its sender did not let the assistant read")


def job_for(
    answer_id: AnswerId,
    request: MessagePosted,
    history: Iterable[RoomEvent],
    *,
    participants: tuple[str, ...],
    assistant_name: str,
    room_name: str,
    persona: str,
    files: Sequence[SharedFile] = (),
    quoted: TranscriptEntry | None = None,
) -> AnswerJob:
    """A snapshot of what the assistant needs to answer ``request``: the messages and earlier
    answers in ``history`` (oldest first) that came before it, and who is present.

    Of ``files`` (those the room holds), the job takes the ones whose ``file_shared`` event is
    in ``history`` before the request and whose senders let the assistant read them (the
    event and the file both say so). Files without that consent leave no trace in the job,
    not even their names. Deleted messages are left out (their text is gone from history
    already); ``quoted``, what the request replies to, goes with the request."""
    readable = {f.id: f for f in files if f.assistant}
    transcript: list[TranscriptEntry] = []
    in_context: list[SharedFile] = []
    for event in history:
        if event.seq >= request.seq:
            break
        if isinstance(event, MessagePosted) and not event.deleted:
            transcript.append(TranscriptEntry(event.seq, event.author_name, event.text))
        elif isinstance(event, AnswerFinished) and event.text:
            transcript.append(
                TranscriptEntry(event.seq, assistant_name, event.text, role="assistant")
            )
        elif isinstance(event, FileShared) and event.assistant:
            file = readable.get(event.file)
            # A file the room no longer holds has nothing left to send.
            if file is not None and file.seq == event.seq:
                in_context.append(file)
                transcript.append(
                    TranscriptEntry(event.seq, event.author_name, file.name, file=file.id)
                )
    return AnswerJob(
        answer_id=answer_id,
        request=TranscriptEntry(request.seq, request.author_name, request.text),
        transcript=tuple(transcript),
        participants=participants,
        assistant_name=assistant_name,
        room_name=room_name,
        persona=persona,
        files_in_context=tuple(in_context),
        quoted=quoted,
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


def _as_message(entry: TranscriptEntry) -> ChatMessage:
    if entry.role == "assistant":
        return {"role": "assistant", "content": entry.text}
    if entry.file is not None:  # a file whose contents do not go (see build_prompt)
        return {
            "role": "user",
            "content": f"{entry.author}: [shared the file {entry.text}; its contents are not "
            "shown to you]",
        }
    return {"role": "user", "content": f"{entry.author}: {entry.text}"}


MAX_QUOTED_CHARS = 4000
"""The most of a quoted message that goes with a reply (a message's own limit)."""


def _request_message(job: AnswerJob) -> ChatMessage:
    """The message being answered; a reply carries what it replies to, so the model reads
    both however far back the quoted message is."""
    quoted = job.quoted
    if quoted is None or not quoted.text:
        return _as_message(job.request)
    text = quoted.text
    if len(text) > MAX_QUOTED_CHARS:
        text = text[:MAX_QUOTED_CHARS] + cut_note(f"{len(text) - MAX_QUOTED_CHARS:,} characters")
    who = "your earlier reply" if quoted.role == "assistant" else f"{quoted.author}'s message"
    content = f'{job.request.author} (replying to {who}: "{text}"): {job.request.text}'
    return {"role": "user", "content": content}


def message_tokens(counter: TokenCounter, message: ChatMessage) -> int:
    """What ``message`` costs against the context budget (images at ``IMAGE_TOKENS``)."""
    content = message["content"]
    if isinstance(content, str):
        return MESSAGE_OVERHEAD + counter.text(content)
    total = MESSAGE_OVERHEAD
    for part in content:
        total += counter.text(part["text"]) if part["type"] == "text" else IMAGE_TOKENS
    return total


@dataclass(frozen=True)
class Prompt:
    """The messages of one request, what they cost by our count (``tokens``), which files'
    contents they carry (``files``, in the order they were shared), and the notices about
    files that did not go or went cut."""

    messages: list[ChatMessage]
    tokens: int
    files: tuple[FileId, ...] = ()
    notices: tuple[FileNotice, ...] = ()
    has_images: bool = False


def build_prompt(
    job: AnswerJob,
    counter: TokenCounter,
    budget: int,
    *,
    model: str = "",
    refused: Collection[FileId] = (),
    images: bool | None = None,
) -> Prompt:
    """Chat messages for ``job`` within ``budget`` tokens (framing and request always kept),
    with the files of ``job.files_in_context`` that ``model`` can use (see the module
    docstring) but those of ``refused`` (the provider refused them before); ``images``:
    whether the model takes images, where its provider said (None: judged by its name).
    Pure, but it counts the tokens of every file's text: call it off the event loop when
    files are large."""
    system: ChatMessage = {"role": "system", "content": _framing(job)}
    request = _request_message(job)
    tail = _continuation(job, counter, budget // 2)
    used = sum(message_tokens(counter, m) for m in (system, request, *tail))
    left = max(0, budget - used)
    files, notices, files_used = _fit_files(
        job, counter, int(left * FILES_SHARE), model, refused, images
    )
    left -= files_used
    used += files_used
    kept: list[ChatMessage] = []
    conversation_fits = True
    for entry in reversed(job.transcript):
        if entry.file is not None and entry.file in files:
            kept.append(files[entry.file])  # paid for already
            continue
        if not conversation_fits:
            continue
        message = _as_message(entry)
        cost = message_tokens(counter, message)
        if cost > left:
            conversation_fits = False  # the oldest turns go; the files stay
            continue
        kept.append(message)
        left -= cost
        used += cost
    kept.reverse()
    sent = tuple(f.id for f in job.files_in_context if f.id in files)
    has_images = any(f.kind == "image" for f in job.files_in_context if f.id in files)
    return Prompt([system, *kept, request, *tail], used, sent, tuple(notices), has_images)


CONTINUE_PROMPT = (
    "Your reply above was cut off at the length limit. Continue it exactly where it stopped, "
    "without repeating anything and without any preamble."
)


def _continuation(job: AnswerJob, counter: TokenCounter, room: int) -> list[ChatMessage]:
    """For a continuation, the reply so far (its end, when all of it would take more than
    ``room`` tokens) and the request to go on; else nothing."""
    if not job.continues:
        return []
    text = job.continues
    while len(text) > 1 and counter.text(text) > room:
        text = text[len(text) // 4 :]  # the end matters: that is where it goes on from
    return [
        {"role": "assistant", "content": text},
        {"role": "user", "content": CONTINUE_PROMPT},
    ]


def _fit_files(
    job: AnswerJob,
    counter: TokenCounter,
    room: int,
    model: str,
    refused: Collection[FileId],
    images: bool | None,
) -> tuple[dict[FileId, ChatMessage], list[FileNotice], int]:
    """The file messages that fit in ``room`` tokens by file id, the notices, and the tokens
    they take."""
    sendable = files_to_send(job.files_in_context, model, refused=refused, images=images)
    notices = unsent_notices(job.files_in_context, model, refused=refused, images=images)
    chosen: dict[FileId, ChatMessage] = {}
    used = 0
    for file in reversed([f for f in sendable if f.kind == "image"]):  # the newest first
        message: ChatMessage = {"role": "user", "content": file_parts(file)}
        cost = message_tokens(counter, message)
        if used + cost > room:
            notices.append(_crowded_out(file))
            continue
        chosen[file.id] = message
        used += cost
    # Texts share what is left fairly: the smallest take what they need, and the rest split
    # what remains equally, each cut to its share.
    texts = [(f, readable_text(f) or "") for f in sendable if f.kind != "image"]
    full = {f.id: _text_message(f, text) for f, text in texts}
    costs = {f.id: message_tokens(counter, full[f.id]) for f, _ in texts}
    texts.sort(key=lambda pair: costs[pair[0].id])
    for index, (file, text) in enumerate(texts):
        share = (room - used) // (len(texts) - index)
        if costs[file.id] <= share:
            chosen[file.id] = full[file.id]
            used += costs[file.id]
            cut = extraction_cut_notice(file)
            if cut is not None:
                notices.append(cut)
            continue
        fitted = _cut_to_fit(file, text, counter, share)
        if fitted is None:
            notices.append(_crowded_out(file))
            continue
        message, kept_chars = fitted
        chosen[file.id] = message
        used += message_tokens(counter, message)
        notices.append(
            FileNotice(
                file.id,
                FILE_SHORTENED,
                f'"{file.name}" was too long for the assistant: it read the first '
                f"{kept_chars:,} of {len(text):,} characters.",
            )
        )
    return chosen, notices, used


def _text_message(file: SharedFile, text: str) -> ChatMessage:
    return {"role": "user", "content": file_parts(file, text)}


def _cut_to_fit(
    file: SharedFile, text: str, counter: TokenCounter, room: int
) -> tuple[ChatMessage, int] | None:
    """``file``'s message with its text cut to fit ``room`` tokens, and how many characters
    it kept; None when too little of it would fit to be worth sending."""

    def cut(chars: int) -> ChatMessage:
        left_out = len(text) - chars
        return _text_message(file, text[:chars] + cut_note(f"{left_out:,} characters"))

    bare = message_tokens(counter, cut(0))
    if room - bare < MIN_FILE_TEXT_TOKENS:
        return None
    # Start from the proportion of the text that should fit and shrink until it does:
    # counting is exact, the guess is not.
    whole = max(1, counter.text(text))
    chars = min(len(text), len(text) * (room - bare) // whole)
    while chars > 0:
        message = cut(chars)
        if message_tokens(counter, message) <= room:
            return message, chars
        chars = chars * 9 // 10
    return None


def _crowded_out(file: SharedFile) -> FileNotice:
    return FileNotice(
        file.id,
        FILE_NOT_SENT,
        f'"{file.name}" was not sent to the assistant: it does not fit in what the model '
        "can read at once, beside the other files and the question.",
    )


def build_messages(
    job: AnswerJob, counter: TokenCounter, budget: int, *, model: str = ""
) -> list[ChatMessage]:
    """The messages of :func:`build_prompt` alone."""
    return build_prompt(job, counter, budget, model=model).messages


def _text_of(message: ChatMessage) -> str:
    content = message["content"]
    if isinstance(content, str):
        return content
    return "\n".join(p["text"] for p in content if p["type"] == "text")


_THINKING = re.compile(r"<think(?:ing)?>.*?(?:</think(?:ing)?>|\Z)", re.DOTALL | re.IGNORECASE)
_DECISION = re.compile(r"\b(YES|NO)\b", re.IGNORECASE)


def read_decision(reply: str) -> bool | None:
    """The yes/no in a model's reply to :func:`deliberation_messages`: True, False, or None
    when it gave neither (a reasoning model may spend its tokens thinking and say nothing).

    Reasoning written into the text (``<think>...</think>``, as some local models do, or an
    unfinished ``<think>`` that ran out of tokens) is left out; of what remains, the last
    YES or NO counts (a model may explain first, then decide)."""
    answer = _THINKING.sub(" ", reply)
    found = _DECISION.findall(answer)
    if not found:
        return None
    return bool(found[-1].upper() == "YES")


def deliberation_messages(
    job: AnswerJob, counter: TokenCounter, budget: int = 2000
) -> list[ChatMessage]:
    """A short yes/no request: should the assistant speak up after the latest message?

    It carries no file's contents, only the names of files shared with the assistant."""
    recent = build_messages(replace(job, files_in_context=()), counter, budget)[1:]
    conversation = "\n".join(_text_of(m) if m["role"] == "user" else f"{job.assistant_name}: "
                             f"{_text_of(m)}" for m in recent)  # fmt: skip
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
