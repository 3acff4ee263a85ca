"""Replies, edits, deletions and reactions: the room's rules for acting on a message. No I/O.

A message is named by its ``seq``: a person's message by its ``message`` event, an answer of
the assistant by its ``answer_started`` event, a shared file by its ``file_shared`` event.
:class:`MessageActions` works on the room's history (the same deque the room appends to) and
keeps it true to what the room says now:

* an **edit** replaces the message's event in history with its new text (``edited`` set), so
  that people who join later, and the assistant's later answers, read the message as it is
  now; the ``message_edited`` event carries the text before it, for "previous version";
* a **deletion** leaves no text of the message anywhere in history: its event keeps only who
  and when (``deleted``), the edit events of it lose both texts, and replies quoting it lose
  the quote's text (after an edit, their quotes show the new text: a quote shows the
  message as it is now). Late joiners never receive it and the assistant never reads it again;
* **reactions** are bounded per message (:attr:`Limits.max_reaction_kinds` different emoji,
  :attr:`Limits.max_reactions_each` per person), and kept only for messages still in history,
  so a flood of them costs the host a bounded amount of memory; every reaction event also
  counts against its sender's message rate (the room checks that).

Clients without the ability ``message-actions`` get :func:`for_old_client`'s plain-text form
of each new event instead (a ``notice`` with the same ``seq``), as ``docs/protocol.md`` says.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

from core.protocol import (
    AnswerFinished,
    AnswerId,
    AnswerStarted,
    ErrorCode,
    FileShared,
    Limits,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    Notice,
    ParticipantId,
    Quote,
    ReactionChanged,
    RoomEvent,
    ServerMessage,
    quote_start,
)
from core.text_rules import TextRejected, clean_message_text, clean_reaction

__all__ = [
    "ABILITY",
    "ActionRefused",
    "Actor",
    "MessageActions",
    "as_seen_from",
    "for_old_client",
    "names_a_message",
    "needs_old_client_form",
]

ABILITY = "message-actions"
"""The ability a client lists in ``hello`` to receive the events of this module as they are."""

DELETED_TEXT = "(message deleted)"
"""What a client without the ability reads in place of a deleted message's text."""


class ActionRefused(Exception):
    """An action the room refuses; ``code`` and ``str()`` go into the ``error`` frame."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Actor:
    """Who acts: their id and name, whether they hold the host role, and the oldest ``seq``
    they may name (0 in a room that shares history; else their own ``participant_joined``:
    they never saw what came before, so they may not quote or touch it either)."""

    id: ParticipantId
    name: str
    host: bool
    sees_after: int = 0


_Target = MessagePosted | AnswerStarted | FileShared


class MessageActions:
    """See the module docstring. ``history`` is the room's own deque, oldest first;
    ``answer_text`` gives the text so far of an answer that is still being written."""

    def __init__(
        self,
        history: deque[RoomEvent],
        limits: Limits,
        *,
        answer_text: Callable[[AnswerId], str],
    ) -> None:
        self._history = history
        self._limits = limits
        self._answer_text = answer_text
        # message seq -> emoji -> who reacted, in order; only for messages still in history
        self._reactions: dict[int, dict[str, list[ParticipantId]]] = {}

    # ----------------------------------------------------------------- replies

    def quote(self, actor: Actor, seq: int) -> Quote:
        """The quote a reply to message ``seq`` carries, or :class:`ActionRefused`."""
        target = self._target(actor, seq)
        author: ParticipantId | None
        match target:
            case MessagePosted():
                text, kind, author = target.text, "message", target.author
                name = target.author_name
            case AnswerStarted():
                text, kind, author = self._answer_now(target), "answer", None
                name = target.assistant_name
            case FileShared():
                text, kind, author = target.name, "file", target.author
                name = target.author_name
        return Quote(
            message=seq, kind=kind, author=author, author_name=name, text=quote_start(text)
        )

    def quoted_text(self, quote: Quote) -> str:
        """The whole text of what ``quote`` names as it is now (the quote's own start of it
        when the room no longer holds it; empty when it was deleted): the assistant reads it
        with a reply, however old it is."""
        if quote.deleted:
            return ""
        event = self._find(quote.message)
        match event:
            case MessagePosted(deleted=False):
                return event.text
            case AnswerStarted():
                return self._answer_now(event)
            case FileShared():
                return event.name
            case None:
                return quote.text
        return ""

    # ----------------------------------------------------------------- edits

    def edit(self, actor: Actor, seq: int, text: str, *, now: float, event_seq: int
             ) -> MessageEdited:  # fmt: skip
        """Edit one's own message ``seq`` to ``text`` at wall-clock ``now``; the event to
        broadcast (numbered ``event_seq``), after history was brought up to date."""
        target = self._target(actor, seq)
        if not isinstance(target, MessagePosted):
            raise ActionRefused(ErrorCode.NOT_ALLOWED, "only a person's message can be edited")
        if target.author != actor.id:
            raise ActionRefused(ErrorCode.NOT_ALLOWED, "you can edit only your own messages")
        window = self._limits.edit_window
        if window <= 0 or now - target.ts > window:
            minutes = f"{window / 60:g} minute{'' if window == 60 else 's'}"
            words = "this room does not allow editing" if window <= 0 else (
                f"messages can be edited for {minutes} after they are sent"
            )  # fmt: skip
            raise ActionRefused(ErrorCode.EDIT_WINDOW_CLOSED, words)
        try:
            cleaned = clean_message_text(text, self._limits.max_text_chars)
        except TextRejected as exc:
            raise ActionRefused(exc.code, str(exc)) from None
        if cleaned == target.text:
            raise ActionRefused(ErrorCode.INVALID_VALUE, "the text is unchanged")
        self._replace(replace(target, text=cleaned, edited=now))
        self._requote(seq, quote_start(cleaned))
        return MessageEdited(
            seq=event_seq, ts=now, message=seq, author=actor.id, author_name=actor.name,
            text=cleaned, previous=target.text,
        )  # fmt: skip

    # ----------------------------------------------------------------- deletions

    def delete(self, actor: Actor, seq: int, *, now: float, event_seq: int
               ) -> tuple[MessageDeleted, MessagePosted | AnswerStarted]:  # fmt: skip
        """Delete message ``seq`` (one's own; the host: anyone's, or a finished answer):
        its text leaves history. Returns the event to broadcast and what was deleted, as it
        stood (the room still has to forget it elsewhere: the assistant's queue)."""
        target = self._target(actor, seq)
        if isinstance(target, FileShared):
            words = "a shared file stays until the room closes; it cannot be deleted"
            raise ActionRefused(ErrorCode.NOT_ALLOWED, words)
        if isinstance(target, AnswerStarted):
            if not actor.host:
                raise ActionRefused(ErrorCode.NOT_ALLOWED, "only the host can delete an answer")
            finished = self._finished(target.answer)
            if finished is None:
                words = "the answer is still being written: stop it first"
                raise ActionRefused(ErrorCode.INVALID_VALUE, words)
            self._replace(replace(finished, text="", deleted=True, error=None))
        else:
            if target.author != actor.id and not actor.host:
                words = "you can delete only your own messages"
                raise ActionRefused(ErrorCode.NOT_ALLOWED, words)
            self._replace(replace(target, text="", deleted=True, edited=None, reply_to=None))
            self._forget_edits(seq)
        self._requote(seq, "", deleted=True)
        self._reactions.pop(seq, None)
        event = MessageDeleted(seq=event_seq, ts=now, message=seq, by=actor.id, by_name=actor.name)
        return event, target

    # ----------------------------------------------------------------- reactions

    def react(
        self, actor: Actor, seq: int, emoji: str, active: bool, *, now: float, event_seq: int
    ) -> ReactionChanged | None:
        """Add (``active``) or take back ``actor``'s reaction ``emoji`` on message ``seq``;
        the event to broadcast, or None when nothing changes (a repeat)."""
        try:
            emoji = clean_reaction(emoji)
        except TextRejected as exc:
            raise ActionRefused(exc.code, str(exc)) from None
        self._target(actor, seq)
        self._prune_reactions()
        kinds = self._reactions.get(seq, {})
        who = kinds.get(emoji, [])
        if active == (actor.id in who):
            return None  # a repeat (or taking back what is not there): nothing is kept
        self._reactions[seq] = kinds
        if active:
            if emoji not in kinds and len(kinds) >= self._limits.max_reaction_kinds:
                most = self._limits.max_reaction_kinds
                words = f"a message can have at most {most} different reactions"
                raise ActionRefused(ErrorCode.TOO_MANY_REACTIONS, words)
            mine = sum(1 for people in kinds.values() if actor.id in people)
            if mine >= self._limits.max_reactions_each:
                words = (
                    f"you can react at most {self._limits.max_reactions_each} ways to one message"
                )
                raise ActionRefused(ErrorCode.TOO_MANY_REACTIONS, words)
            kinds.setdefault(emoji, []).append(actor.id)
        else:
            who.remove(actor.id)
            if not who:
                del kinds[emoji]
        if not kinds:
            del self._reactions[seq]
        return ReactionChanged(
            seq=event_seq, ts=now, message=seq, participant=actor.id, name=actor.name,
            emoji=emoji, active=active,
        )  # fmt: skip

    def reactions(self, seq: int) -> dict[str, tuple[ParticipantId, ...]]:
        """Who reacted how to message ``seq``, in the order they did."""
        return {emoji: tuple(who) for emoji, who in self._reactions.get(seq, {}).items()}

    @property
    def reactions_held(self) -> int:
        """How many reactions the room holds in all (for tests of its bounds)."""
        return sum(len(who) for kinds in self._reactions.values() for who in kinds.values())

    def forget(self) -> None:
        """The room closed: drop every reaction (history is cleared by the room)."""
        self._reactions.clear()

    def current(self, seq: int) -> MessagePosted | None:
        """Message ``seq`` as it stands now (edited, or deleted), if history holds it."""
        event = self._find(seq)
        return event if isinstance(event, MessagePosted) else None

    # ----------------------------------------------------------------- history

    def _target(self, actor: Actor, seq: int) -> _Target:
        """The message ``seq`` that ``actor`` may act on, or :class:`ActionRefused`."""
        event = self._find(seq) if seq > actor.sees_after else None
        if isinstance(event, MessagePosted) and event.deleted:
            raise ActionRefused(ErrorCode.UNKNOWN_MESSAGE, "that message was deleted")
        if isinstance(event, AnswerStarted) and self._deleted_answer(event.answer):
            raise ActionRefused(ErrorCode.UNKNOWN_MESSAGE, "that answer was deleted")
        if not isinstance(event, MessagePosted | AnswerStarted | FileShared):
            words = f"the room holds no message {seq} (it may be too old)"
            raise ActionRefused(ErrorCode.UNKNOWN_MESSAGE, words)
        return event

    def _index(self, seq: int) -> int | None:
        index = bisect.bisect_left(self._history, seq, key=lambda e: e.seq)
        if index < len(self._history) and self._history[index].seq == seq:
            return index
        return None

    def _find(self, seq: int) -> RoomEvent | None:
        index = self._index(seq)
        return self._history[index] if index is not None else None

    def _replace(self, event: RoomEvent) -> None:
        index = self._index(event.seq)
        if index is not None:
            self._history[index] = event

    def _finished(self, answer: AnswerId) -> AnswerFinished | None:
        for event in reversed(self._history):
            if isinstance(event, AnswerFinished) and event.answer == answer:
                return event
        return None

    def _deleted_answer(self, answer: AnswerId) -> bool:
        finished = self._finished(answer)
        return finished is not None and finished.deleted

    def _answer_now(self, started: AnswerStarted) -> str:
        finished = self._finished(started.answer)
        return finished.text if finished is not None else self._answer_text(started.answer)

    def _forget_edits(self, seq: int) -> None:
        for index, event in enumerate(self._history):
            if isinstance(event, MessageEdited) and event.message == seq:
                self._history[index] = replace(event, text="", previous="")

    def _requote(self, seq: int, text: str, *, deleted: bool = False) -> None:
        """Replies quote a message as it is now: after an edit, its new start; after a
        deletion, nothing."""
        for index, event in enumerate(self._history):
            if not isinstance(event, MessagePosted) or event.reply_to is None:
                continue
            if event.reply_to.message == seq:
                quote = replace(event.reply_to, text=text, deleted=deleted)
                self._history[index] = replace(event, reply_to=quote)

    def _prune_reactions(self) -> None:
        """Forget the reactions of messages that have left history."""
        oldest = self._history[0].seq if self._history else 0
        for seq in [s for s in self._reactions if s < oldest]:
            del self._reactions[seq]


def names_a_message(event: RoomEvent) -> bool:
    """Whether ``event`` is about an earlier message (an edit, deletion, reaction or reply)."""
    return isinstance(event, MessageEdited | MessageDeleted | ReactionChanged) or (
        isinstance(event, MessagePosted) and event.reply_to is not None
    )


def as_seen_from(event: RoomEvent, sees_after: int) -> RoomEvent | None:
    """``event`` as someone sees it who may see only what came after ``sees_after`` (0:
    everything; else their own ``participant_joined``, in a room that does not share
    history): an edit, deletion or reaction of an earlier message not at all (None), and a
    reply to one with a quote of who, but no text."""
    match event:
        case MessageEdited() | MessageDeleted() | ReactionChanged():
            return None if event.message <= sees_after else event
        case MessagePosted(reply_to=Quote() as quote) if quote.message <= sees_after:
            return replace(event, reply_to=replace(quote, text=""))
    return event


def needs_old_client_form(event: RoomEvent) -> bool:
    """Whether a client without the ability must get ``event`` in another form."""
    match event:
        case MessageEdited() | MessageDeleted() | ReactionChanged():
            return True
        case MessagePosted(deleted=True) | AnswerFinished(deleted=True):
            return True
    return False


def for_old_client(event: RoomEvent) -> ServerMessage:
    """``event`` as a client without the ability ``message-actions`` can show it: the new
    events as a plain ``notice`` with the same ``seq``, a deleted message with the words
    :data:`DELETED_TEXT` as its text. Other events are returned as they are."""
    match event:
        case MessageEdited():
            text = f"{event.author_name} edited a message: {event.text}" if event.text else (
                f"{event.author_name} edited a message."
            )  # fmt: skip
            return _notice(event, "message_edited", text)
        case MessageDeleted():
            return _notice(event, "message_deleted", f"{event.by_name} deleted a message.")
        case ReactionChanged():
            verb = "reacted" if event.active else "took back the reaction"
            return _notice(event, "reaction", f"{event.name} {verb} {event.emoji}")
        case MessagePosted(deleted=True) | AnswerFinished(deleted=True):
            return replace(event, text=DELETED_TEXT)
    return event


def _notice(
    event: MessageEdited | MessageDeleted | ReactionChanged, code: str, text: str
) -> Notice:
    return Notice(seq=event.seq, ts=event.ts, level="info", code=code, text=text)
