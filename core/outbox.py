"""The participant's outbox: messages typed and files shared, not yet confirmed by the room.
No I/O.

Messages go out in the order they were typed, paced a little below the room's announced rate
so an honest client never trips the room's limit (a pasted block of lines is sent steadily
rather than refused). A message stays in the outbox until the room confirms it (its event, or
an ``ack`` for a repeat) or refuses it; after a reconnect every unconfirmed message is queued
again, and the room's deduplication by client id makes that safe.

Files being shared (:class:`Uploads`) wait here too, with their bytes held once (the caller's
``bytes``, sliced as chunks are made). At most :data:`UPLOADS_AT_ONCE` are offered at a time
(the room refuses a third), their offers take turns with messages in the room's message rate,
and their chunks go out in order, one upload after the other, with two brakes:

* **the window**: at most :data:`CHUNK_WINDOW` chunk frames handed to the connection and not
  yet written by it (the adapter says when each is), so a slow link holds a few chunks, not
  the file, and a chat message typed meanwhile waits behind those few at most;
* **the pace**: chunks at 3/4 of what the room's frame-rate limit allows for them (a chunk
  costs :data:`CHUNK_FRAME_COST` of a frame there), so a large file never gets the connection
  closed for flooding and leaves room for everything else the client sends.

It is one part of :class:`core.participant.Participant`, which says when a message is
confirmed, refused or deferred and when the connection allows sending; times are passed in.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Literal

from core.protocol import FileId, Limits, MessageId
from core.ratelimit import TokenBucket

__all__ = [
    "CHUNK_FRAME_COST",
    "CHUNK_WINDOW",
    "UPLOADS_AT_ONCE",
    "Outbox",
    "Outgoing",
    "Upload",
    "Uploads",
]

_PACE_MARGIN = 0.9  # send at 90% of the room's rate, so clock drift never trips its limit
_ROUNDING_MARGIN = 1e-6  # seconds added to a wait for a token


@dataclass(frozen=True)
class Outgoing:
    """One message the user typed: its client id (which the room deduplicates by), its text,
    when it was typed (wall clock, for display only) and the ``seq`` of the message it
    replies to, if any."""

    id: MessageId
    text: str
    ts: float = 0.0
    reply_to: int | None = None


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
        wait = self.take_turn(now)
        if wait:
            return None, wait
        message_id = self._unsent.popleft()
        self._written.add(message_id)
        return self._items[message_id], 0.0

    def take_turn(self, now: float) -> float:
        """Spend one turn of the room's message rate (a file offer counts as a message):
        0.0 when taken, else the seconds until one is due (nothing is spent then)."""
        if now < self._not_before:
            return self._not_before - now
        if self._bucket is not None and not self._bucket.take(now):
            # A hair past the token's due time, so that asking again then finds it there
            # (exactly then, rounding can leave the bucket a whisker short).
            return max(0.001, self._bucket.retry_after(now) + _ROUNDING_MARGIN)
        return 0.0


# --------------------------------------------------------------------------- files

UPLOADS_AT_ONCE = 2  # the room refuses a third upload under way (too_many_transfers)
CHUNK_WINDOW = 4  # chunk frames handed to the connection and not yet written, at most
CHUNK_FRAME_COST = 0.25  # what a file_chunk costs in the room's frame-rate limit
_ROOM_FRAMES_PER_SECOND = 20.0  # the room's frame-rate limit per connection (docs: Limits)
_CHUNK_SHARE = 0.75  # of that limit, what chunks may take: the rest is for everything else
_CHUNKS_PER_SECOND = _ROOM_FRAMES_PER_SECOND / CHUNK_FRAME_COST * _CHUNK_SHARE  # 60
_CHUNK_BURST = 40.0  # 10 frames' worth of the room's burst of 60

UploadState = Literal["waiting", "offered", "sending"]
"""``waiting``: to be offered on the live connection; ``offered``: the offer went, no answer
yet; ``sending``: accepted, its chunks go from :attr:`Upload.offset` on."""


@dataclass(eq=False)
class Upload:
    """One file being shared: its client id, the bytes (held once, never copied whole), and
    where its transfer stands on the live connection."""

    id: MessageId
    name: str
    data: bytes
    sha256: str
    assistant: bool
    ts: float = 0.0  # when it was shared (wall clock, for display only)
    state: UploadState = "waiting"
    file: FileId | None = None  # the room's id for it, once accepted
    offset: int = 0  # the next byte to hand out on this connection
    chunk_bytes: int = 1
    in_flight: int = 0  # chunk frames handed out and not yet written
    written: int = 0  # bytes the connection has written (the room may have them)
    accepted_at: int = -1  # the offset of the last file_accepted acted on, this connection
    offered: bool = False  # offered at least once: the room may hold part of it
    not_before: float = -math.inf  # a rate-limited offer waits until then
    shown: int = 0  # progress last reported (bytes), and when
    shown_at: float = -math.inf

    @property
    def size(self) -> int:
        return len(self.data)


class Uploads:
    """Files being shared, in the order they were shared, and the pace of their chunks."""

    def __init__(self) -> None:
        self._items: OrderedDict[str, Upload] = OrderedDict()
        self._bucket: TokenBucket | None = None

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, upload_id: object) -> bool:
        return upload_id in self._items

    @property
    def items(self) -> list[Upload]:
        return list(self._items.values())

    def add(self, upload: Upload) -> None:
        self._items[upload.id] = upload

    def get(self, upload_id: str) -> Upload | None:
        return self._items.get(upload_id)

    def pop(self, upload_id: str) -> Upload | None:
        """Forget an upload (shared, refused or cancelled); None when it was not here."""
        return self._items.pop(upload_id, None)

    def defer(self, upload_id: str, until: float) -> None:
        """The room said too fast: offer this one again, first, at ``until``."""
        upload = self._items.get(upload_id)
        if upload is not None:
            upload.state, upload.not_before = "waiting", until

    def by_file(self, file: str) -> Upload | None:
        """The upload the room calls ``file``, if any."""
        return next((u for u in self._items.values() if u.file == file), None)

    def requeue_all(self) -> None:
        """A new connection: every upload is to be offered again (the room answers with the
        offset it reached); nothing is in flight on it yet."""
        for upload in self._items.values():
            upload.state, upload.in_flight, upload.accepted_at = "waiting", 0, -1
            upload.written = min(upload.written, upload.offset)

    def to_offer(self, now: float) -> tuple[Upload | None, float]:
        """The upload to offer now, if any may be (fewer than :data:`UPLOADS_AT_ONCE` under
        way, in order), or (None, seconds until a deferred one may; inf for none)."""
        under_way = sum(1 for u in self._items.values() if u.state != "waiting")
        if under_way >= UPLOADS_AT_ONCE:
            return None, math.inf
        for upload in self._items.values():
            if upload.state == "waiting":
                if now < upload.not_before:
                    return None, upload.not_before - now
                return upload, 0.0
        return None, math.inf

    def next_chunk(self, now: float) -> tuple[Upload | None, float]:
        """The upload whose next chunk may go now, or (None, seconds until one may; inf when
        none waits for time: nothing to send, or the window is full). The caller hands out
        the chunk at :attr:`Upload.offset` and moves the offset on."""
        if sum(u.in_flight for u in self._items.values()) >= CHUNK_WINDOW:
            return None, math.inf  # the connection's writes free the window, not time
        upload = next(
            (u for u in self._items.values() if u.state == "sending" and u.offset < u.size),
            None,
        )
        if upload is None:
            return None, math.inf
        if self._bucket is None:
            self._bucket = TokenBucket(_CHUNK_BURST, _CHUNKS_PER_SECOND, now)
        if not self._bucket.take(now):
            return None, max(0.001, self._bucket.retry_after(now) + _ROUNDING_MARGIN)
        return upload, 0.0
