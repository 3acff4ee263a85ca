"""A file shared in a room, as the room holds it and as the assistant may read it.

The room (:mod:`core.file_store`) makes one :class:`SharedFile` when all of an upload has
arrived and its SHA-256 matched; the assistant's context (:mod:`core.ai.file_parts`) reads
those whose senders allowed it. ``text`` is filled later, off the event loop, for PDFs
shared with the assistant (their extracted text), and is the decoded text of ``text`` files.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.filetypes import FileKind
from core.protocol import FileId, MessageId, ParticipantId

__all__ = ["SharedFile"]


@dataclass(frozen=True)
class SharedFile:
    """One file the room holds, with the event that shared it (``seq``)."""

    id: FileId
    seq: int
    ts: float
    author: ParticipantId
    author_name: str
    client_id: MessageId
    name: str  # safe to show and save (core.filetypes.safe_file_name)
    mime: str
    kind: FileKind
    assistant: bool  # its sender lets the assistant read it
    sha256: str
    data: bytes
    text: str | None = None
    """What the assistant reads of a ``text`` or ``pdf`` file, once known."""
    text_problem: str | None = None
    """Why no text could be had (an encrypted or broken PDF), in words for everyone."""

    @property
    def size(self) -> int:
        return len(self.data)
