"""Replies, edits, deletions and reactions in the terminal client.

Every message, answer and file line starts with the number the room gave it (its ``seq``,
see :mod:`core.message_actions`): ``[58] [12:00] Sam: hi``. The number is the same for
everyone in the room, so people can say "see 58", and it is what the four commands here
take: ``/reply N TEXT``, ``/edit N TEXT``, ``/delete N`` and ``/react N EMOJI``.

:class:`MessageCommands` reads those commands and says what is wrong with a typed one in a
line; what the room refuses comes back as an ``error`` and is printed by :mod:`cli.chat`
in the room's words (:func:`refusal_words` has words of its own for a room that gave none).
The functions below write the lines of the events these commands cause. Every piece of text
from the room goes through :mod:`cli.terminal_text` here.
"""

from __future__ import annotations

from collections.abc import Callable

from cli.terminal_text import indented_body, one_line_start, terminal_safe
from core.client import ClientEvent, MessageTooLarge, NotConnected, RoomClient
from core.message_actions import DELETED_TEXT
from core.protocol import (
    ErrorCode,
    ErrorMessage,
    MessageDeleted,
    MessageEdited,
    Quote,
    ReactionChanged,
)
from core.text_rules import TextRejected, clean_reaction

__all__ = [
    "MESSAGE_COMMANDS",
    "MESSAGE_HELP",
    "MessageCommands",
    "deleted_line",
    "edited_line",
    "message_number",
    "number_tag",
    "quote_words",
    "reaction_line",
    "refusal_words",
]

MESSAGE_COMMANDS = frozenset({"reply", "edit", "delete", "react"})
MESSAGE_HELP = """\
  /reply N TEXT        reply to message N (the number in [brackets] at the start of a
                       message, an answer or a file)
  /edit N TEXT         change the text of your message N
  /delete N            take back your message N (the host: any message or answer)
  /react N EMOJI       react to message N; the same again takes it back, as does
                       /react N -EMOJI"""

ASKED_REMEMBERED = 64  # commands whose refusal can still be named
QUOTE_CHARS = 40  # how much of a quoted text, or of the text before an edit, a line shows
DELETED = DELETED_TEXT  # the words the room itself gives clients that lack the feature
_LARGEST_NUMBER = 10**15  # beyond any room's seq; and a JSON reader takes it exactly

# Words for the room's refusals of these commands, for a room that sent no words of its own.
_REFUSALS: dict[str, str] = {
    ErrorCode.UNKNOWN_MESSAGE: "there is no such message (it may be too old, or deleted)",
    ErrorCode.EDIT_WINDOW_CLOSED: "it is too late to edit that message",
    ErrorCode.NOT_ALLOWED: "you are not allowed to do that",
    ErrorCode.TOO_MANY_REACTIONS: "that message cannot take more reactions",
    ErrorCode.INVALID_VALUE: "the room did not accept that",
}


def number_tag(seq: int | None) -> str:
    """``"[58] "``, the start of a line about message ``seq`` ("" when it has none yet)."""
    return f"[{seq}] " if seq is not None else ""


def message_number(word: str) -> int | None:
    """The message number a person typed (``58``, or ``[58]`` as it is printed), or None."""
    digits = word.removeprefix("[").removesuffix("]")
    if not (digits.isascii() and digits.isdigit()):
        return None
    number = int(digits)
    return number if 0 < number < _LARGEST_NUMBER else None


def quote_words(quote: Quote) -> str:
    """What a reply shows of what it answers: ``↪ [58] Sam "Lunch at…"``."""
    start = f"↪ [{quote.message}]"
    if quote.deleted:
        return f"{start} {DELETED}"
    who = terminal_safe(quote.author_name)
    said = one_line_start(quote.text, QUOTE_CHARS)
    if quote.kind == "file":
        return f'{start} {who}\'s file "{said}"'
    return f'{start} {who} "{said}"'


def edited_line(event: MessageEdited) -> str:
    """``[58] Sam edited: new text (was: old text)``. After the message was deleted, history
    keeps neither text: the line then says only that it was edited."""
    head = f"[{event.message}] {terminal_safe(event.author_name)} edited"
    if not event.text:
        return f"{head} (the message was deleted since)"
    was = f" (was: {one_line_start(event.previous, QUOTE_CHARS)})" if event.previous else ""
    return f"{head}: {indented_body(event.text, len(head) + 2)}{was}"


def deleted_line(event: MessageDeleted) -> str:
    """``[58] deleted by Hana``."""
    return f"[{event.message}] deleted by {terminal_safe(event.by_name)}"


def reaction_line(event: ReactionChanged) -> str:
    """``* Sam reacted 👍 to [58]``, or ``* Sam took back 👍 from [58]``."""
    who, emoji = terminal_safe(event.name), terminal_safe(event.emoji)
    if event.active:
        return f"* {who} reacted {emoji} to [{event.message}]"
    return f"* {who} took back {emoji} from [{event.message}]"


def refusal_words(code: str, message: str) -> str:
    """What the room said when it refused something, made safe: its own words, or words for
    its ``code`` when it sent none."""
    if message.strip():
        return terminal_safe(message)
    return _REFUSALS.get(code, f"refused ({terminal_safe(code)})")


class MessageCommands:
    """Carries out ``/reply``, ``/edit``, ``/delete`` and ``/react`` for one session.

    A typed command with a bad number or without its text is answered with one line and
    never sent. What the room decides (whose message it is, the edit window, the bounds on
    reactions) is left to the room. Keeps which reactions of ours the room confirmed, so that
    ``/react N EMOJI`` a second time takes the reaction back; feed it every event
    (:meth:`remember`).
    """

    def __init__(self, client: RoomClient, out: Callable[[str], None]) -> None:
        self.client = client
        self.out = out
        self._mine: dict[int, set[str]] = {}  # message seq -> the emoji we reacted with
        self._asked: dict[int, str] = {}  # message seq -> the last command sent about it

    def refusal_line(self, event: ClientEvent) -> str | None:
        """The line for the room's refusal of one of our commands, naming it (``! /edit 58:
        it is too late...``); None for any other event. The room's error names the message
        the command was about in its ``ref``."""
        if not isinstance(event, ErrorMessage) or event.ref is None:
            return None
        seq = message_number(event.ref)
        command = self._asked.pop(seq, None) if seq is not None else None
        if command is None:
            return None
        return f"! /{command} {seq}: {refusal_words(event.code, event.message)}"

    def _sent(self, command: str, seq: int) -> None:
        self._asked[seq] = command
        while len(self._asked) > ASKED_REMEMBERED:
            del self._asked[next(iter(self._asked))]

    def remember(self, event: ClientEvent) -> None:
        match event:
            case ReactionChanged(message=seq, participant=who, emoji=emoji, active=active):
                if who != self.client.you.id:
                    return
                mine = self._mine.setdefault(seq, set())
                if active:
                    mine.add(emoji)
                else:
                    mine.discard(emoji)
                if not mine:
                    del self._mine[seq]
            case MessageDeleted(message=seq):
                self._mine.pop(seq, None)

    async def run(self, command: str, arg: str) -> None:
        """Act on ``/command arg`` (``command`` one of :data:`MESSAGE_COMMANDS`, lower case).
        Raises :class:`NotConnected` when the room cannot be told now."""
        word, _, rest = arg.partition(" ")
        rest = rest.strip()
        if not word:
            self.out(f"! usage: {_usage(command)}")
            return
        seq = message_number(word)
        if seq is None:
            self.out(
                f"! {terminal_safe(word)} is not a message number: use the number in"
                " [brackets] at the start of a message"
            )
            return
        if command == "delete":
            if rest:
                self.out(f"! usage: {_usage(command)}")
            else:
                self._sent(command, seq)
                await self.client.delete_message(seq)
            return
        if not rest:
            needs = {"reply": "the text of your reply", "edit": "the new text",
                     "react": "an emoji"}[command]  # fmt: skip
            self.out(f"! /{command} {seq} needs {needs}: {_usage(command)}")
            return
        if command == "reply":
            try:
                self.client.post(rest, reply_to=seq)
            except (MessageTooLarge, NotConnected) as exc:
                self.out(f"! not sent: {terminal_safe(str(exc))}")
        elif command == "edit":
            most = self.client.room.limits.max_text_chars
            if len(rest) > most:
                self.out(f"! not changed: messages are at most {most} characters")
            else:
                self._sent(command, seq)
                await self.client.edit_message(seq, rest)
        else:
            await self._react(seq, rest)

    async def _react(self, seq: int, typed: str) -> None:
        taking_back = typed.startswith("-") and len(typed) > 1
        emoji = typed[1:] if taking_back else typed
        try:
            emoji = clean_reaction(emoji)
        except TextRejected:
            self.out(f"! {terminal_safe(typed)} is not one emoji: {_usage('react')}")
            return
        active = not taking_back and emoji not in self._mine.get(seq, ())
        self._sent("react", seq)
        await self.client.react(seq, emoji, active=active)


def _usage(command: str) -> str:
    return {
        "reply": "/reply N TEXT",
        "edit": "/edit N TEXT",
        "delete": "/delete N",
        "react": "/react N EMOJI (or /react N -EMOJI to take it back)",
    }[command]
