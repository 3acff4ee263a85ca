"""The participant's outbox: messages typed but not yet confirmed by the room. No I/O.

Messages go out in the order they were typed, paced a little below the room's announced rate
so an honest client never trips the room's limit (a pasted block of lines is sent steadily
rather than refused). A message stays in the outbox until the room confirms it (its event, or
an ``ack`` for a repeat) or refuses it; after a reconnect every unconfirmed message is queued
again, and the room's deduplication by client id makes that safe.

It is one part of :class:`core.participant.Participant`, which says when a message is
confirmed, refused or deferred and when the connection allows sending; times are passed in.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass

from core.protocol import Limits, MessageId
from core.ratelimit import TokenBucket

__all__ = ["Outbox", "Outgoing"]

_PACE_MARGIN = 0.9  # send at 90% of the room's rate, so clock drift never trips its limit
_ROUNDING_MARGIN = 1e-6  # seconds added to a wait for a token


@dataclass(frozen=True)
class Outgoing:
    """One message the user typed: its client id (which the room deduplicates by), its text
    and when it was typed (wall clock, for display only)."""

    id: MessageId
    text: str
    ts: float = 0.0


class Outbox:
    """Unconfirmed messages and the order and pace to (re)send them in."""

    def __init__(self, now: float = float("-inf")) -> None:
        """An empty outbox; nothing is held back before ``now`` (by default, ever)."""
        self._items: OrderedDict[str, Outgoing] = OrderedDict()
        self._unsent: deque[str] = deque()
        self._written: set[str] = set()  # handed out at least once: the room may have it
        self._bucket: TokenBucket | None = None
        self._not_before = now

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, message_id: object) -> bool:
        """Whether the message with client id ``message_id`` is still unconfirmed."""
        return message_id in self._items

    @property
    def items(self) -> list[Outgoing]:
        return list(self._items.values())

    def pace_for(self, limits: Limits, now: float) -> None:
        """Pace sends to fit ``limits`` (call when the room's limits become known)."""
        burst = max(1.0, limits.message_burst - 1.0)
        rate = max(0.01, limits.messages_per_minute / 60.0 * _PACE_MARGIN)
        bucket = self._bucket
        if bucket is None or (bucket.capacity, bucket.rate) != (burst, rate):
            self._bucket = TokenBucket(burst, rate, now)

    def add(self, item: Outgoing) -> None:
        self._items[item.id] = item
        self._unsent.append(item.id)

    def text_of(self, message_id: str) -> str:
        """The text of unconfirmed message ``message_id`` ("" when it is not here)."""
        item = self._items.get(message_id)
        return item.text if item is not None else ""

    def written(self, message_id: str) -> bool:
        """Whether the message was handed out to be sent at least once (so the room may have
        posted it even though no confirmation came back)."""
        return message_id in self._written

    def confirm(self, message_id: str) -> bool:
        """The room posted or refused it: forget it. Returns whether it was here."""
        self._written.discard(message_id)
        if self._items.pop(message_id, None) is None:
            return False
        if message_id in self._unsent:
            self._unsent.remove(message_id)
        return True

    def requeue_all(self) -> None:
        """After a reconnect: every unconfirmed message is to be sent again, in order."""
        self._unsent = deque(self._items)

    def defer(self, message_id: str, retry_after: float, now: float) -> None:
        """The room said too fast: send this one again first, after ``retry_after`` seconds."""
        if message_id in self._items and message_id not in self._unsent:
            self._unsent.appendleft(message_id)
        self._not_before = max(self._not_before, now + retry_after)

    def next_ready(self, now: float) -> tuple[Outgoing | None, float]:
        """The message to send now, or (None, seconds to wait; inf when nothing is queued).

        A message returned counts as sent; :meth:`requeue_all` or :meth:`defer` bring it back.
        """
        if not self._unsent:
            return None, float("inf")
        if now < self._not_before:
            return None, self._not_before - now
        if self._bucket is not None and not self._bucket.take(now):
            # A hair past the token's due time, so that asking again then finds it there
            # (exactly then, rounding can leave the bucket a whisker short).
            return None, max(0.001, self._bucket.retry_after(now) + _ROUNDING_MARGIN)
        message_id = self._unsent.popleft()
        self._written.add(message_id)
        return self._items[message_id], 0.0
