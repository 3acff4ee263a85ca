"""The transcript a participant sees: room events folded into display entries. No I/O, no Qt.

A :class:`Transcript` takes the events a :class:`core.client.RoomClient` delivers and keeps an
ordered list of :class:`Entry` values: chat messages (including this participant's own, shown
as pending until the room confirms them), the assistant's answers (growing while streamed),
notices, and small "joined / left" lines. Each call returns the :class:`Change` list a view
needs (rows inserted or updated), so a Qt model can forward them as row signals and a
terminal or a test can ignore them.

It lives in memory only, like everything else about a chat.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.client import ClientEvent
from core.protocol import (
    AnswerDelta,
    AnswerFinished,
    AnswerStarted,
    MessagePosted,
    Notice,
    ParticipantInfo,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantStatusChanged,
    RoomClosed,
    Usage,
)

__all__ = ["LEFT_WORDS", "Change", "Entry", "Transcript"]

LEFT_WORDS = {
    "left": "left",
    "kicked": "was removed by the host",
    "banned": "was banned by the host",
    "timed_out": "lost connection",
}
"""How a departure reads, by ``participant_left`` reason (unknown reasons read as "left")."""


@dataclass
class Entry:
    """One row of the transcript. ``version`` goes up whenever the entry changes."""

    key: str
    kind: str  # "message", "answer", "notice" or "event"
    text: str
    ts: float
    author: str = ""
    author_id: str = ""
    role: str = ""  # "host", "guest" or "assistant"
    mine: bool = False
    pending: bool = False
    status: str = ""  # answers: "streaming", "complete", "stopped", "interrupted", "failed"
    error: str | None = None
    level: str = ""  # notices: "info", "warning" or "error"
    model: str = ""
    asked_by: str = ""
    asked_by_id: str = ""
    answer_id: str = ""
    usage: Usage | None = None
    version: int = 0


@dataclass(frozen=True)
class Change:
    kind: str  # "insert" or "update"
    index: int


@dataclass
class Transcript:
    """See the module docstring. ``me`` is this participant's id (it can change on rejoin)."""

    me: str = ""
    epoch: int = 0  # goes up when the host restarted the room: its numbers start again
    entries: list[Entry] = field(default_factory=list)
    _index: dict[str, int] = field(default_factory=dict)
    _roles: dict[str, str] = field(default_factory=dict)
    _mine: set[str] = field(default_factory=set)

    def set_participants(self, participants: dict[str, ParticipantInfo], me: str) -> None:
        """Learn who is who (from a welcome); ``me`` joins the ids counted as this person's."""
        self.me = me
        self._mine.add(me)
        self._roles.update({p.id: p.role for p in participants.values()})

    def new_room(self) -> None:
        """The host restarted the room: what follows is numbered afresh, so it must not be
        mistaken for what is already shown."""
        self.epoch += 1

    def entry(self, key: str) -> Entry | None:
        index = self._index.get(key)
        return self.entries[index] if index is not None else None

    def add_pending(self, client_id: str, text: str, author: str, ts: float) -> list[Change]:
        """Show a message of ours at once, marked pending until the room posts it."""
        entry = Entry(
            key=f"p:{client_id}", kind="message", text=text, ts=ts, author=author,
            author_id=self.me, role=self._roles.get(self.me, "guest"), mine=True, pending=True,
        )  # fmt: skip
        return [self._insert(entry)]

    def drop_pending(self, client_id: str) -> list[Change]:
        """A pending message the room refused: mark it, keeping the text for the sender."""
        entry = self.entry(f"p:{client_id}")
        if entry is None:
            return []
        entry.pending = False
        entry.status = "failed"
        return [self._touch(entry)]

    def apply(self, event: ClientEvent) -> list[Change]:
        """Fold one event in; returns what changed."""
        match event:
            case MessagePosted():
                return self._message(event)
            case ParticipantJoined(participant=p):
                self._roles[p.id] = p.role
                suffix = " (host)" if p.role == "host" else ""
                return self._line(self._k("e", event.seq), f"{p.name} joined{suffix}", event.ts)
            case ParticipantLeft(name=name, reason=reason):
                return self._line(
                    self._k("e", event.seq),
                    f"{name} {LEFT_WORDS.get(reason, 'left')}",
                    event.ts,
                )
            case ParticipantStatusChanged():
                return []  # shown live in the participants panel, not in the transcript
            case AnswerStarted():
                entry = Entry(
                    key=self._k("a", event.answer), kind="answer", text="", ts=event.ts,
                    author=event.assistant_name, role="assistant", status="streaming",
                    model=event.model, asked_by=event.asked_by_name, asked_by_id=event.asked_by,
                    answer_id=event.answer,
                )  # fmt: skip
                return [self._insert(entry)]
            case AnswerDelta(answer=answer, offset=offset, text=text):
                growing = self.entry(self._k("a", answer))
                if growing is None:
                    return []
                growing.text = growing.text[:offset] + text
                return [self._touch(growing)]
            case AnswerFinished():
                return [self._answer_finished(event)]
            case Notice(text=text, level=level):
                entry = Entry(key=self._k("n", event.seq), kind="notice", text=text, ts=event.ts,
                              level=level)  # fmt: skip
                return [self._insert(entry)]
            case RoomClosed(reason=reason):
                text = "The host closed the room." if reason == "closed_by_host" else (
                    "The host shut down the room."
                )  # fmt: skip
                return self._line(self._k("e", event.seq), text, event.ts)
        return []

    def _answer_finished(self, event: AnswerFinished) -> Change:
        found = self.entry(self._k("a", event.answer))
        if found is None:  # its start fell out of the history we were sent
            entry = Entry(key=self._k("a", event.answer), kind="answer", text="", ts=event.ts,
                          author="assistant", role="assistant", answer_id=event.answer)  # fmt: skip
            change = self._insert(entry)
        else:
            entry = found
            change = Change("update", self._index[entry.key])
        entry.text, entry.status, entry.error = event.text, event.status, event.error
        entry.model, entry.usage = event.model, event.usage
        entry.version += 1
        return change

    def _message(self, event: MessagePosted) -> list[Change]:
        mine = event.author in self._mine
        pending = self.entry(f"p:{event.client_id}") if mine and event.client_id else None
        if pending is not None:  # our own message, confirmed: it keeps its place
            index = self._index.pop(pending.key)
            pending.key = self._k("m", event.seq)
            self._index[pending.key] = index
            pending.pending, pending.ts, pending.text = False, event.ts, event.text
            pending.version += 1
            return [Change("update", index)]
        if self._k("m", event.seq) in self._index:
            return []
        entry = Entry(
            key=self._k("m", event.seq), kind="message", text=event.text, ts=event.ts,
            author=event.author_name, author_id=event.author,
            role=self._roles.get(event.author, "guest"), mine=mine,
        )  # fmt: skip
        return [self._insert(entry)]

    def _line(self, key: str, text: str, ts: float) -> list[Change]:
        if key in self._index:
            return []
        return [self._insert(Entry(key=key, kind="event", text=text, ts=ts))]

    def _k(self, kind: str, ident: object) -> str:
        """A row key: the kind, what identifies it in the room, and the room's epoch."""
        return f"{self.epoch}{kind}:{ident}"

    def _insert(self, entry: Entry) -> Change:
        self._index[entry.key] = len(self.entries)
        self.entries.append(entry)
        return Change("insert", len(self.entries) - 1)

    def _touch(self, entry: Entry) -> Change:
        entry.version += 1
        return Change("update", self._index[entry.key])
