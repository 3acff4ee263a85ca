"""The transcript a participant sees: room events folded into display entries. No I/O, no Qt.

A :class:`Transcript` takes the events a :class:`core.client.RoomClient` delivers and keeps an
ordered list of :class:`Entry` values: chat messages (including this participant's own, shown
as pending until the room confirms them), files shared (ours shown at once, with how much has
been sent, until the room shares them; each marked with where it went when the assistant was
sent it), the assistant's answers (growing while streamed), notices, and small "joined /
left" lines. Each call returns the :class:`Change` list a view
needs (rows inserted, moved or updated), so a Qt model can forward them as row signals and a
terminal or a test can ignore them.

The order is the room's: entries stand in ``seq`` order, the order everyone in the room sees.
A message of ours waits at the end while it is pending; once the room posts it, it moves to
its ``seq``'s place, which after a network hiccup can be above messages that reached us
first. A message the room refused stays where it was when it failed, between the messages
around it then.

It lives in memory only, like everything else about a chat.
"""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass, field
from typing import Literal

from core.client import (
    Acknowledged,
    ClientEvent,
    Ended,
    FileQueued,
    Queued,
    Resumed,
    SendFailed,
    UploadFailed,
    UploadProgress,
)
from core.protocol import (
    AnswerDelta,
    AnswerFinished,
    AnswerId,
    AnswerStarted,
    FileId,
    FileShared,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    Notice,
    ParticipantId,
    ParticipantInfo,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantStatusChanged,
    Quote,
    ReactionChanged,
    RoomClosed,
    RoomInfo,
    RoomUpdated,
    Usage,
    quote_start,
)
from core.wording import left_words, room_closed_words

__all__ = ["Change", "ChangeKind", "Entry", "EntryKind", "Transcript"]

Order = tuple[float, float, int]
"""Where an entry stands: (epoch, seq, tiebreak). Pending messages sort after everything."""

_PENDING = math.inf
_NOBODY = ParticipantId("")
_NO_ANSWER = AnswerId("")
_NO_FILE = FileId("")

EntryKind = Literal["message", "answer", "notice", "event", "file"]
"""A chat message, an answer of the assistant, a notice of the room, a "joined / left" line,
a file shared (or being shared by us)."""

ChangeKind = Literal["insert", "update", "move"]


@dataclass
class Entry:
    """One row of the transcript. ``version`` goes up whenever the entry changes."""

    key: str
    kind: EntryKind
    text: str
    ts: float
    author: str = ""
    author_id: ParticipantId = _NOBODY
    role: str = ""  # "host", "guest" or "assistant"
    mine: bool = False
    pending: bool = False
    status: str = ""  # answers: "streaming", "complete", "stopped", "interrupted", "failed"
    error: str | None = None
    level: str = ""  # notices: "info", "warning" or "error"
    model: str = ""
    asked_by: str = ""
    asked_by_id: ParticipantId = _NOBODY
    answer_id: AnswerId = _NO_ANSWER
    usage: Usage | None = None
    regenerates: AnswerId = _NO_ANSWER  # answers: the answer this one was asked again for
    question_by: str = ""  # a regenerated answer: who asked the question the first time
    replaced_by: AnswerId = _NO_ANSWER  # answers: the id of an answer regenerated from this one
    cut_off: bool = False  # answers: the model stopped at its length limit
    continues: AnswerId = _NO_ANSWER  # answers: the cut-off answer this one goes on with
    continued_by: AnswerId = _NO_ANSWER  # answers: the answer that went on with this one
    seq: int | None = None  # the room's number for it; None while pending or refused
    # Files (kind "file"). ``status`` is "" once shared, "failed" or "cancelled" for an
    # upload of ours that was not; ``pending`` while ours is being sent.
    file: FileId = _NO_FILE  # the room's id for it; "" until shared (or when only acked)
    upload_id: str = ""  # ours: the client id it was shared under
    file_name: str = ""  # safe to show and to save
    size: int = 0  # bytes
    mime: str = ""  # the media type the room detected ("" while ours is being sent)
    file_kind: str = ""  # "image", "text", "pdf", "program", "other" ("" while being sent)
    assistant: bool = False  # its sender lets the assistant read it
    sent: int = 0  # ours, while pending: bytes sent so far
    error_code: str = ""  # a failed upload: the room's code, "cancelled" or "room_ended"
    sent_to: str = ""  # "OpenAI / gpt-4o": where it went with a question to the assistant
    # Message actions: what it replies to; when it was last edited and its text before that;
    # whether it was deleted (its text is then gone); who reacted how, in order.
    reply_to: Quote | None = None
    edited_at: float | None = None
    previous: str = ""
    deleted: bool = False
    reactions: dict[str, list[tuple[ParticipantId, str]]] = field(default_factory=dict)
    order: Order = field(default=(0, 0, 0), repr=False, compare=False)
    version: int = 0


@dataclass(frozen=True)
class Change:
    """What a view must do: ``insert`` a row at ``index``, ``update`` the row at ``index``,
    or ``move`` the row at ``index`` so that it ends up at ``to``."""

    kind: ChangeKind
    index: int
    to: int = -1


@dataclass
class Transcript:
    """See the module docstring. ``me`` is this participant's id (it can change on rejoin)."""

    me: ParticipantId = _NOBODY
    epoch: int = 0  # goes up when the host restarted the room: its numbers start again
    entries: list[Entry] = field(default_factory=list)
    _index: dict[str, int] = field(default_factory=dict)
    _roles: dict[str, str] = field(default_factory=dict)
    _mine: set[str] = field(default_factory=set)
    _my_name: str = ""
    _provider: str = ""  # the assistant's provider, as the room last announced it
    _tiebreak: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _by_seq: dict[str, str] = field(default_factory=dict)  # seq (this epoch) -> row key

    def set_participants(self, participants: dict[str, ParticipantInfo], me: ParticipantId) -> None:
        """Learn who is who (from a welcome); ``me`` joins the ids counted as this person's."""
        self.me = me
        self._mine.add(me)
        if me in participants:
            self._my_name = participants[me].name
        self._roles.update({p.id: p.role for p in participants.values()})

    def set_room(self, room: RoomInfo) -> None:
        """Learn what the room says of itself (from a welcome; ``room_updated`` events are
        folded in by :meth:`apply`): the assistant's provider, named on files sent to it."""
        self._provider = room.assistant.provider if room.assistant is not None else ""

    def new_room(self) -> None:
        """The host restarted the room: what follows is numbered afresh, so it must not be
        mistaken for what is already shown."""
        self.epoch += 1

    def entry(self, key: str) -> Entry | None:
        index = self._index.get(key)
        return self.entries[index] if index is not None else None

    def index_of(self, key: str) -> int | None:
        """The row of the entry with ``key``, or None."""
        return self._index.get(key)

    def at_seq(self, seq: int) -> Entry | None:
        """The message, answer or file the room numbered ``seq`` (in this run of the room):
        what replies, edits, deletions and reactions name."""
        key = self._by_seq.get(self._k("s", seq))
        return self.entry(key) if key is not None else None

    def quote_of(self, seq: int) -> Quote | None:
        """A quote of message ``seq`` as shown here, for a reply of ours while it waits to be
        posted (the room's own quote replaces it); None for anything not quotable."""
        entry = self.at_seq(seq)
        if entry is None or entry.deleted or entry.kind not in ("message", "answer", "file"):
            return None
        kind = "answer" if entry.kind == "answer" else entry.kind
        author = None if entry.kind == "answer" else entry.author_id
        text = entry.file_name if entry.kind == "file" else entry.text
        return Quote(message=seq, kind=kind, author=author, author_name=entry.author,
                     text=quote_start(text))  # fmt: skip

    def _queued(self, event: Queued) -> list[Change]:
        """Show a message of ours at once, marked pending until the room posts it."""
        if f"p:{event.id}" in self._index:
            return []
        entry = Entry(
            key=f"p:{event.id}", kind="message", text=event.text, ts=event.ts,
            author=self._my_name, author_id=self.me, role=self._roles.get(self.me, "guest"),
            mine=True, pending=True, order=(_PENDING, _PENDING, next(self._tiebreak)),
            reply_to=self.quote_of(event.reply_to) if event.reply_to is not None else None,
        )  # fmt: skip
        return [self._insert(entry)]

    def _settle(self, client_id: str, status: str, *, seq: int | None = None) -> list[Change]:
        """A pending message (or file of ours) the room refused (``status`` "failed", or
        "cancelled" for a file), acknowledged as event ``seq`` without that event reaching us
        (``status`` ""), or whose fate is unknown (``"unconfirmed"``): it stops being
        pending, keeping its text.

        An acknowledged one moves to its ``seq``'s place. The others leave the messages still
        waiting and stay after the room's messages so far: later messages come after them,
        as they did for everyone else."""
        entry = self.entry(f"p:{client_id}")
        if entry is None or not entry.pending:
            return []
        entry.pending = False
        entry.status = status
        index = self._index[entry.key]
        del self.entries[index]
        if seq is not None:
            entry.seq, entry.order = seq, (self.epoch, seq, 0)
            self._by_seq[self._k("s", seq)] = entry.key
        else:
            posted = next(
                (e.order for e in reversed(self.entries) if e.order[0] != _PENDING),
                (self.epoch, 0, 0),
            )
            entry.order = (posted[0], posted[1], next(self._tiebreak))
        to = self._place(entry)
        self._reindex(min(index, to), max(index, to) + 1)
        moved = [Change("move", index, to)] if to != index else []
        return [*moved, self._touch(entry)]

    def interrupt_streaming(self, error: str) -> list[Change]:
        """Answers still being written will never be finished for us (the room ended or
        cannot be reached): mark them cut off, keeping their text, with ``error`` as why."""
        changes = []
        for entry in self.entries:
            if entry.kind == "answer" and entry.status == "streaming":
                entry.status, entry.error = "interrupted", error
                changes.append(self._touch(entry))
        return changes

    def apply(self, event: ClientEvent) -> list[Change]:
        """Fold one event in; returns what changed."""
        match event:
            case MessagePosted():
                return self._message(event)
            case Queued():
                return self._queued(event)
            case Acknowledged(id=client_id, seq=seq):
                return self._settle(client_id, "", seq=seq)
            case Resumed(you=you):  # perhaps as a new participant: that id is ours too
                self._mine.add(you.id)
                self.me, self._my_name = you.id, you.name
                return []
            case SendFailed(id=client_id):
                return self._settle(client_id, "failed")
            case FileQueued():
                return self._file_queued(event)
            case UploadProgress(id=client_id, sent=sent):
                sending = self.entry(f"p:{client_id}")
                if sending is None or not sending.pending:
                    return []
                sending.sent = sent
                return [self._touch(sending)]
            case UploadFailed(id=client_id, code=code, message=message):
                failed = self.entry(f"p:{client_id}")
                if failed is None or not failed.pending:
                    return []
                failed.error, failed.error_code = message, code
                return self._settle(client_id, "cancelled" if code == "cancelled" else "failed")
            case FileShared():
                return self._file_shared(event)
            case RoomUpdated(room=room):
                self.set_room(room)
                return []
            case Ended(unsent=unsent, unconfirmed=unconfirmed):  # nothing more will be known
                return [
                    *(change for q in unsent for change in self._settle(q.id, "failed")),
                    *(c for q in unconfirmed for c in self._settle(q.id, "unconfirmed")),
                ]
            case ParticipantJoined(participant=p):
                self._roles[p.id] = p.role
                suffix = " (host)" if p.role == "host" else ""
                return self._line(
                    self._k("e", event.seq), f"{p.name} joined{suffix}", event.ts, event.seq
                )
            case ParticipantLeft(name=name, reason=reason):
                return self._line(
                    self._k("e", event.seq), f"{name} {left_words(reason)}", event.ts, event.seq
                )
            case ParticipantStatusChanged():
                return []  # shown live in the participants panel, not in the transcript
            case AnswerStarted():
                return self._answer_started(event)
            case AnswerDelta(answer=answer, offset=offset, text=text):
                growing = self.entry(self._k("a", answer))
                if growing is None:
                    return []
                growing.text = growing.text[:offset] + text
                return [self._touch(growing)]
            case AnswerFinished():
                return [self._answer_finished(event)]
            case Notice(text=text, level=level):
                key = self._k("n", event.seq)
                if key in self._index:
                    return []
                entry = Entry(key=key, kind="notice", text=text, ts=event.ts, level=level,
                              seq=event.seq)  # fmt: skip
                return [self._insert(entry)]
            case RoomClosed(reason=reason):
                text = room_closed_words(reason)
                return self._line(self._k("e", event.seq), text, event.ts, event.seq)
            case MessageEdited():
                return self._edited(event)
            case MessageDeleted(message=seq):
                return self._deleted(seq)
            case ReactionChanged():
                return self._reacted(event)
        return []

    # ----------------------------------------------------------------- message actions

    def _edited(self, event: MessageEdited) -> list[Change]:
        entry = self.at_seq(event.message)
        if entry is None or entry.deleted or entry.kind != "message":
            return []
        entry.text, entry.previous, entry.edited_at = event.text, event.previous, event.ts
        return [self._touch(entry), *self._requote(event.message, entry)]

    def _deleted(self, seq: int) -> list[Change]:
        """Message ``seq`` was deleted: its text goes from here too, and from the quotes of
        the replies to it."""
        entry = self.at_seq(seq)
        if entry is None:
            return []
        changes: list[Change] = []
        if not entry.deleted:
            entry.deleted, entry.text, entry.previous = True, "", ""
            entry.reply_to = None
            entry.reactions, entry.error = {}, None
            changes.append(self._touch(entry))
        return changes + self._requote(seq, entry)

    def _requote(self, seq: int, quoted: Entry) -> list[Change]:
        """Bring the quotes of the replies to ``seq`` in step with ``quoted`` as it is now."""
        changes = []
        for entry in self.entries:
            quote = entry.reply_to
            if quote is None or quote.message != seq:
                continue
            text = "" if quoted.deleted else quote_start(quoted.text)
            if (quote.text, quote.deleted) != (text, quoted.deleted):
                entry.reply_to = Quote(quote.message, quote.kind, quote.author,
                                       quote.author_name, text, quoted.deleted)  # fmt: skip
                changes.append(self._touch(entry))
        return changes

    def _reacted(self, event: ReactionChanged) -> list[Change]:
        entry = self.at_seq(event.message)
        if entry is None or entry.deleted:
            return []
        who = entry.reactions.setdefault(event.emoji, [])
        mine = [w for w in who if w[0] == event.participant]
        if event.active and not mine:
            who.append((event.participant, event.name))
        elif not event.active:
            for w in mine:
                who.remove(w)
        if not who:
            del entry.reactions[event.emoji]
        return [self._touch(entry)]

    def _file_queued(self, event: FileQueued) -> list[Change]:
        """Show a file of ours at once, pending (with how much was sent) until shared."""
        if f"p:{event.id}" in self._index:
            return []
        entry = Entry(
            key=f"p:{event.id}", kind="file", text=event.name, ts=event.ts,
            author=self._my_name, author_id=self.me, role=self._roles.get(self.me, "guest"),
            mine=True, pending=True, upload_id=event.id, file_name=event.name,
            size=event.size, assistant=event.assistant,
            order=(_PENDING, _PENDING, next(self._tiebreak)),
        )  # fmt: skip
        return [self._insert(entry)]

    def _file_shared(self, event: FileShared) -> list[Change]:
        key = self._k("f", event.file)
        if key in self._index:
            return []
        mine = event.author in self._mine
        ours = self.entry(f"p:{event.client_id}") if mine else None
        if ours is not None:  # ours, shared (even after a cancel that came too late): to its place
            index = self._index.pop(ours.key)
            del self.entries[index]
            entry = ours
            entry.key, entry.pending, entry.status = key, False, ""
            entry.error, entry.error_code = None, ""
        else:
            index = -1
            entry = Entry(
                key=key, kind="file", text="", ts=event.ts, author=event.author_name,
                author_id=event.author, role=self._roles.get(event.author, "guest"),
                mine=mine, upload_id=event.client_id if mine else "",
            )  # fmt: skip
        entry.seq, entry.order, entry.ts = event.seq, (self.epoch, event.seq, 0), event.ts
        self._by_seq[self._k("s", event.seq)] = entry.key
        entry.file, entry.text, entry.file_name = event.file, event.name, event.name
        entry.size, entry.sent, entry.mime = event.size, event.size, event.mime
        entry.file_kind, entry.assistant = event.kind, event.assistant
        if index < 0:
            return [self._insert(entry)]
        entry.version += 1
        to = self._place(entry)
        self._reindex(min(index, to), max(index, to) + 1)
        moved = [Change("move", index, to)] if to != index else []
        return [*moved, Change("update", to)]

    def _sent_to_assistant(self, event: AnswerStarted) -> list[Change]:
        """Mark the files that went to the AI provider with this request: which, and where."""
        where = f"{self._provider} / {event.model}" if self._provider else event.model
        changes = []
        for file in event.files:
            entry = self.entry(self._k("f", file))
            if entry is not None and entry.sent_to != where:
                entry.sent_to = where
                changes.append(self._touch(entry))
        return changes

    def _answer_started(self, event: AnswerStarted) -> list[Change]:
        key = self._k("a", event.answer)
        if key in self._index:
            return []
        entry = Entry(
            key=key, kind="answer", text="", ts=event.ts, author=event.assistant_name,
            role="assistant", status="streaming", model=event.model,
            asked_by=event.asked_by_name, asked_by_id=event.asked_by, answer_id=event.answer,
            seq=event.seq,
        )  # fmt: skip
        first = self.entry(self._k("a", event.regenerates)) if event.regenerates else None
        if event.regenerates:
            entry.regenerates = event.regenerates
            entry.question_by = (first.question_by or first.asked_by) if first else ""
        cut = self.entry(self._k("a", event.continues)) if event.continues else None
        if event.continues:
            entry.continues = event.continues
        changes = [self._insert(entry)]
        if first is not None:  # after the insert, so that its row number is final
            first.replaced_by = event.answer
            changes.append(self._touch(first))
        if cut is not None:
            cut.continued_by = event.answer
            changes.append(self._touch(cut))
        return changes + self._sent_to_assistant(event)

    def _answer_finished(self, event: AnswerFinished) -> Change:
        found = self.entry(self._k("a", event.answer))
        if found is None:  # its start fell out of the history we were sent
            entry = Entry(key=self._k("a", event.answer), kind="answer", text="", ts=event.ts,
                          author="assistant", role="assistant", answer_id=event.answer,
                          seq=event.seq)  # fmt: skip
            change = self._insert(entry)
        else:
            entry = found
            change = Change("update", self._index[entry.key])
        entry.text, entry.status, entry.error = event.text, event.status, event.error
        entry.model, entry.usage = event.model, event.usage
        entry.cut_off = event.cut_off
        if event.deleted:
            entry.deleted, entry.error = True, None
        entry.version += 1
        return change

    def _message(self, event: MessagePosted) -> list[Change]:
        mine = event.author in self._mine
        key = self._k("m", event.seq)
        pending = self.entry(f"p:{event.client_id}") if mine and event.client_id else None
        if pending is not None and key not in self._index:  # ours, confirmed: to its place
            index = self._index.pop(pending.key)
            del self.entries[index]
            pending.key, pending.seq = key, event.seq
            self._by_seq[self._k("s", event.seq)] = key
            pending.pending, pending.status = False, ""
            pending.ts, pending.text = event.ts, event.text
            pending.reply_to = event.reply_to
            pending.order = (self.epoch, event.seq, 0)
            pending.version += 1
            to = self._place(pending)
            self._reindex(min(index, to), max(index, to) + 1)
            moved = [Change("move", index, to)] if to != index else []
            return [*moved, Change("update", to)]
        if key in self._index:
            return []
        entry = Entry(
            key=key, kind="message", text=event.text, ts=event.ts,
            author=event.author_name, author_id=event.author,
            role=self._roles.get(event.author, "guest"), mine=mine, seq=event.seq,
            reply_to=event.reply_to, edited_at=event.edited, deleted=event.deleted,
        )  # fmt: skip
        return [self._insert(entry)]

    def _line(self, key: str, text: str, ts: float, seq: int) -> list[Change]:
        if key in self._index:
            return []
        return [self._insert(Entry(key=key, kind="event", text=text, ts=ts, seq=seq))]

    def _k(self, kind: str, ident: object) -> str:
        """A row key: the kind, what identifies it in the room, and the room's epoch."""
        return f"{self.epoch}{kind}:{ident}"

    def _insert(self, entry: Entry) -> Change:
        """Insert ``entry`` in the room's order (a pending one at the end)."""
        if entry.seq is not None:
            entry.order = (self.epoch, entry.seq, 0)
            self._by_seq[self._k("s", entry.seq)] = entry.key
        index = self._place(entry)
        self._reindex(index, len(self.entries))
        return Change("insert", index)

    def _place(self, entry: Entry) -> int:
        """Put ``entry`` into ``entries`` at its order's place; its index there."""
        index = bisect.bisect_right(self.entries, entry.order, key=lambda e: e.order)
        self.entries.insert(index, entry)
        return index

    def _reindex(self, start: int, end: int) -> None:
        for i in range(start, end):
            self._index[self.entries[i].key] = i

    def _touch(self, entry: Entry) -> Change:
        entry.version += 1
        return Change("update", self._index[entry.key])
