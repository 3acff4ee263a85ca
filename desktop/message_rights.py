"""What a person may do to a message now: reply, ask the assistant about it, edit, delete,
react, go to what it replies to. Plain functions, no Qt.

The rules are the room's (:mod:`core.message_actions`): anyone replies to and reacts to a
message, an answer or a file; only its author edits a message, within the room's
``edit_window`` of when it was posted; its author deletes a message, and the host deletes
anyone's message or a finished answer; a file is never deleted. Here they decide what the
message menu offers and enables (:func:`offers`), so that an action is offered exactly when
the room would take it; the room still has the last word, and a refusal is shown as any
other (the chat page's banner). Out of touch with the room, actions are offered but not
enabled, with the reason; in a room without the ability ``message-actions`` none is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.protocol import ParticipantId
from core.transcript import Entry

__all__ = [
    "ABILITY",
    "NOT_CONNECTED",
    "Offer",
    "Rights",
    "edit_refusal",
    "last_editable",
    "offers",
    "window_words",
]

ABILITY = "message-actions"
"""The room ability under which it takes replies, edits, deletions and reactions."""

NOT_CONNECTED = "Not connected to the room right now."


@dataclass(frozen=True)
class Rights:
    """Who this person is in the room now, and what the room allows: their id, whether they
    host it, whether we are in touch with it, whether it takes message actions at all, how
    long messages can be edited (seconds, 0: never), the assistant's name ("" without one),
    the time now (seconds since the epoch, the room's clock as far as we know it), and which
    run of the room is the current one (the transcript's ``epoch``): rows of an earlier run
    are only to read, since their numbers mean other messages now."""

    me: ParticipantId
    host: bool
    connected: bool
    supported: bool
    edit_window: float
    assistant: str
    now: float
    epoch: int = 0


@dataclass(frozen=True)
class Offer:
    """One entry of a message's menu: its ``action`` (``reply``, ``ask``, ``react``,
    ``original``, ``edit``, ``delete``), its words, whether it can be chosen now, and why not
    (for its tooltip) when it cannot."""

    action: str
    words: str
    enabled: bool = True
    why: str = ""


def window_words(window: float) -> str:
    """How long messages can be edited, as the room says it: "15 minutes"."""
    minutes = window / 60
    return f"{minutes:g} minute{'' if minutes == 1 else 's'}"


def edit_refusal(entry: Entry, rights: Rights) -> str | None:
    """Why ``entry`` cannot be edited now ("" when it can); None when editing it is not ours
    to offer at all (someone else's, not a message, deleted, not posted yet)."""
    if entry.kind != "message" or entry.deleted or entry.seq is None or entry.pending:
        return None
    if entry.author_id != rights.me:
        return None
    if rights.edit_window <= 0:
        return "This room does not allow editing."
    if rights.now - entry.ts > rights.edit_window:
        return (
            f"Messages can be edited for {window_words(rights.edit_window)} after they are "
            "sent; this one can no longer be."
        )
    return ""


def _deletable(entry: Entry, rights: Rights) -> str | None:
    """Why ``entry`` cannot be deleted now ("" when it can); None when it is not ours to
    delete at all."""
    if entry.deleted or entry.seq is None or entry.pending:
        return None
    if entry.kind == "message":
        return "" if entry.author_id == rights.me or rights.host else None
    if entry.kind == "answer" and rights.host:
        return "" if entry.status != "streaming" else "Stop the answer first: it is being written."
    return None


def offers(entry: Entry, rights: Rights) -> list[Offer]:
    """What ``entry``'s menu offers beside copying, in the order shown."""
    if not rights.supported or entry.deleted or entry.seq is None or entry.pending:
        return []
    if entry.order[0] != rights.epoch:  # a row of an earlier run of the room
        return []
    if entry.kind not in ("message", "answer", "file"):
        return []
    why = "" if rights.connected else NOT_CONNECTED

    def offer(action: str, words: str, refusal: str = "") -> Offer:
        reason = why or refusal
        return Offer(action, words, not reason, reason)

    found = [offer("reply", "Reply")]
    if rights.assistant:
        found.append(offer("ask", "Ask about this"))
    found.append(offer("react", "React"))
    if entry.reply_to is not None:
        found.append(Offer("original", "Go to the original"))  # ours to do, connected or not
    refusal = edit_refusal(entry, rights)
    if refusal is not None:
        found.append(offer("edit", "Edit", refusal))
    refusal = _deletable(entry, rights)
    if refusal is not None:
        found.append(offer("delete", "Delete…", refusal))
    return found


def last_editable(entries: Sequence[Entry], rights: Rights) -> tuple[Entry | None, str]:
    """Up in an empty message box: our latest message, if it can be edited now (and "");
    else None, and why not when we have a message the room would not let us edit ("" when
    we have none)."""
    for entry in reversed(entries):
        if entry.pending:
            continue
        if entry.order[0] != rights.epoch:
            break  # an earlier run of the room: nothing there is ours to edit now
        refusal = edit_refusal(entry, rights)
        if refusal is None:
            continue
        if refusal:
            return None, refusal
        return entry, ""
    return None, ""
