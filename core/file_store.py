"""The files a room holds and the uploads it is receiving, within its memory budget. No I/O.

:class:`FileStore` is the part of :class:`core.room.Room` that counts bytes: the room decides
who may do what and turns the outcomes into frames; this decides whether an upload fits and
keeps its bytes until the room can share it (:meth:`FileStore.hold`) or drops them.

What it holds, and the rules on it:

* **the budget**: the sizes of the files held plus the *declared* sizes of the uploads under
  way (so an upload that was accepted can always finish), plus :data:`FILE_OVERHEAD_BYTES`
  for each of them (what a file costs to keep whatever its size, so a flood of one-byte files
  cannot grow the host without limit), never exceed ``budget_bytes``
  (:class:`StorageFull`); text extracted from a file for the assistant counts too;
* **uploads at once**: at most ``uploads_per_participant`` per participant
  (:class:`TooManyTransfers`);
* **abandoned uploads**: one that got no chunk for ``idle_timeout`` seconds goes
  (:meth:`FileStore.expire`), and so do a participant's when it leaves the room for good
  (:meth:`FileStore.drop_owner`);
* every way an upload ends (shared, corrupt, cancelled, idle, owner gone) releases its bytes
  and its share of the budget at once.

Files, once held, stay until the room closes (:meth:`FileStore.clear`). File ids are ``f1``,
``f2``, ... in the order offers were accepted, never reused.

Errors (each an :class:`FileStoreError` with the protocol's ``code``)::

    FileStoreError
     ├── BadOffer, FileEmpty, FileTooLarge, StorageFull,
     │   TooManyTransfers                                         (an offer refused)
     ├── UnknownFile                                              (no such upload or file)
     ├── BadChunk                                                 (a chunk that cannot fit)
     └── FileCorrupt                                              (SHA-256 mismatch: dropped)

and :class:`WrongOffset`, which is no error: a chunk from elsewhere than the upload reached,
ignored; the sender continues from :attr:`WrongOffset.expected`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import itertools
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from core.protocol import ErrorCode, FileId, MessageId, ParticipantId
from core.shared_files import SharedFile
from core.wording import size_words

if TYPE_CHECKING:
    from hashlib import _Hash

__all__ = [
    "FILE_OVERHEAD_BYTES",
    "IDLE_UPLOAD_SECONDS",
    "UPLOADS_PER_PARTICIPANT",
    "BadChunk",
    "BadOffer",
    "FileCorrupt",
    "FileEmpty",
    "FileStore",
    "FileStoreError",
    "FileTooLarge",
    "StorageFull",
    "TooManyTransfers",
    "UnknownFile",
    "Upload",
    "WrongOffset",
]

FILE_OVERHEAD_BYTES = 1024
"""What each file (held or arriving) counts against the budget on top of its bytes."""
UPLOADS_PER_PARTICIPANT = 2
IDLE_UPLOAD_SECONDS = 120.0

_SHA256_HEX = re.compile("[0-9a-fA-F]{64}", re.ASCII)


class FileStoreError(Exception):
    """A file operation refused; ``code`` is the protocol's error code, ``str()`` says why."""

    code: ClassVar[ErrorCode] = ErrorCode.BAD_MESSAGE


class BadOffer(FileStoreError):
    """An offer whose SHA-256 is not 64 hexadecimal digits."""

    code = ErrorCode.INVALID_VALUE


class FileEmpty(FileStoreError):
    code = ErrorCode.FILE_EMPTY


class FileTooLarge(FileStoreError):
    code = ErrorCode.FILE_TOO_LARGE


class StorageFull(FileStoreError):
    code = ErrorCode.STORAGE_FULL


class TooManyTransfers(FileStoreError):
    code = ErrorCode.TOO_MANY_TRANSFERS


class UnknownFile(FileStoreError):
    code = ErrorCode.UNKNOWN_FILE


class BadChunk(FileStoreError):
    """An empty chunk, or one that would go past the offered size; the upload is kept."""

    code = ErrorCode.BAD_MESSAGE


class FileCorrupt(FileStoreError):
    """All the bytes arrived and their SHA-256 is not the offered one; the upload is gone.
    ``client_id`` is the offer's id."""

    code = ErrorCode.FILE_CORRUPT

    def __init__(self, message: str, client_id: MessageId) -> None:
        super().__init__(message)
        self.client_id = client_id


class WrongOffset(Exception):
    """A chunk for ``upload`` at another offset than :attr:`expected`: it was ignored."""

    def __init__(self, upload: Upload) -> None:
        super().__init__(f"expected the chunk at offset {upload.offset}")
        self.upload = upload

    @property
    def expected(self) -> int:
        return self.upload.offset


@dataclass(eq=False)
class Upload:
    """A file arriving: what its sender offered, and the bytes received so far."""

    file: FileId
    owner: ParticipantId
    client_id: MessageId
    name: str  # as offered: the room makes it safe when it shares the file
    size: int
    sha256: str
    assistant: bool
    last_chunk: float  # when it last showed life (the offer, then each chunk)
    received: bytearray = field(default_factory=bytearray, repr=False)
    digest: _Hash = field(default_factory=hashlib.sha256, repr=False)  # of what arrived

    @property
    def offset(self) -> int:
        """How many bytes have arrived: where the next chunk starts."""
        return len(self.received)

    @property
    def complete(self) -> bool:
        return len(self.received) == self.size

    def same_file(self, size: int, sha256: str) -> bool:
        return self.size == size and self.sha256 == sha256


class FileStore:
    """Uploads under way and files held, within ``budget_bytes``. See the module docstring.

    ``max_file_bytes`` is the largest file accepted (the room refuses every offer itself when
    it is 0). Times (``now``) are the room's monotonic clock, passed in.
    """

    def __init__(
        self,
        max_file_bytes: int,
        budget_bytes: int,
        *,
        uploads_per_participant: int = UPLOADS_PER_PARTICIPANT,
        idle_timeout: float = IDLE_UPLOAD_SECONDS,
    ) -> None:
        self.max_file_bytes = max_file_bytes
        self.budget_bytes = budget_bytes
        self._uploads_per_participant = uploads_per_participant
        self._idle_timeout = idle_timeout
        self._ids = itertools.count(1)
        self._uploads: dict[FileId, Upload] = {}
        self._uploads_by_client: dict[tuple[ParticipantId, MessageId], Upload] = {}
        self._held: OrderedDict[FileId, SharedFile] = OrderedDict()
        self._held_by_client: dict[tuple[ParticipantId, MessageId], SharedFile] = {}
        self._held_bytes = 0  # files held, their overhead and their extracted text
        self._reserved_bytes = 0  # declared sizes of the uploads under way, and their overhead

    # ----------------------------------------------------------------- reading

    @property
    def used_bytes(self) -> int:
        """What counts against the budget now."""
        return self._held_bytes + self._reserved_bytes

    @property
    def files(self) -> tuple[SharedFile, ...]:
        """Every file held, in the order they were shared (by ``seq``)."""
        return tuple(self._held.values())

    @property
    def uploads(self) -> tuple[Upload, ...]:
        """Every upload under way, oldest first."""
        return tuple(self._uploads.values())

    def get(self, file: FileId) -> SharedFile | None:
        """The held file ``file``, if there is one."""
        return self._held.get(file)

    def shared_by(self, owner: ParticipantId, client_id: MessageId) -> SharedFile | None:
        """The file ``owner`` shared under its id ``client_id``, if it did."""
        return self._held_by_client.get((owner, client_id))

    def upload_of(self, owner: ParticipantId, client_id: MessageId) -> Upload | None:
        """``owner``'s upload under way under its id ``client_id``, if there is one."""
        return self._uploads_by_client.get((owner, client_id))

    # ----------------------------------------------------------------- uploads

    def offer(
        self,
        owner: ParticipantId,
        client_id: MessageId,
        *,
        name: str,
        size: int,
        sha256: str,
        assistant: bool,
        now: float,
    ) -> Upload:
        """Accept an offer, or continue the upload ``owner`` started under ``client_id``
        (the same size and SHA-256: its :attr:`Upload.offset` says where to go on from).

        An offer under an id already in use for another file (another size or SHA-256)
        replaces that upload. Raises :class:`BadOffer`, :class:`FileEmpty`, :class:`FileTooLarge`,
        :class:`StorageFull` or :class:`TooManyTransfers`, and then changes nothing (but that
        a replaced upload is gone). Check :meth:`shared_by` first: this does not know of
        files already shared.
        """
        if not _SHA256_HEX.fullmatch(sha256):
            raise BadOffer("'sha256' must be the file's SHA-256 in 64 hexadecimal digits")
        sha256 = sha256.lower()
        earlier = self._uploads_by_client.get((owner, client_id))
        if earlier is not None:
            if earlier.same_file(size, sha256):
                # Consent can be taken back on a resume, never given after the fact; and only
                # a chunk counts as activity (a repeated offer must not keep an upload alive).
                earlier.assistant = earlier.assistant and assistant
                return earlier
            self._drop(earlier)
        if size <= 0:
            raise FileEmpty("the file is empty")
        if size > self.max_file_bytes:
            raise FileTooLarge(
                f"the file is {size_words(size)}; this room takes files up to "
                f"{size_words(self.max_file_bytes)}"
            )
        if self.used_bytes + size + FILE_OVERHEAD_BYTES > self.budget_bytes:
            free = max(0, self.budget_bytes - self.used_bytes - FILE_OVERHEAD_BYTES)
            raise StorageFull(
                f"the room's memory for files is full ({size_words(free)} left of "
                f"{size_words(self.budget_bytes)}); files leave only when the room closes"
            )
        under_way = sum(1 for u in self._uploads.values() if u.owner == owner)
        if under_way >= self._uploads_per_participant:
            raise TooManyTransfers(
                f"you are already sending {under_way} files; wait for one to finish"
            )
        upload = Upload(
            file=FileId(f"f{next(self._ids)}"), owner=owner, client_id=client_id, name=name,
            size=size, sha256=sha256, assistant=assistant, last_chunk=now,
        )  # fmt: skip
        self._uploads[upload.file] = upload
        self._uploads_by_client[(owner, client_id)] = upload
        self._reserved_bytes += size + FILE_OVERHEAD_BYTES
        return upload

    def chunk(
        self, owner: ParticipantId, file: FileId, offset: int, data: bytes, now: float
    ) -> Upload:
        """Add ``data`` at ``offset`` to ``owner``'s upload ``file``; returns the upload, which
        is :attr:`~Upload.complete` (and its SHA-256 checked) once all of it arrived: then
        :meth:`hold` it.

        Raises :class:`UnknownFile` (no such upload of ``owner``'s), :class:`WrongOffset`
        (ignored), :class:`BadChunk` (empty, or past the offered size: ignored) or
        :class:`FileCorrupt` (the last chunk arrived and the SHA-256 differs: dropped).
        """
        upload = self._uploads.get(file)
        if upload is None or upload.owner != owner or upload.complete:
            raise UnknownFile(f"no upload {file} of yours is under way")
        if offset != upload.offset:
            raise WrongOffset(upload)
        if not data:
            raise BadChunk("an empty chunk")
        if offset + len(data) > upload.size:
            raise BadChunk(
                f"the chunk goes past the end of the file ({upload.size:,} bytes offered)"
            )
        upload.received += data
        upload.digest.update(data)
        upload.last_chunk = now
        if upload.offset == upload.size:  # (not .complete: mypy holds it False from above)
            actual = upload.digest.hexdigest()
            if not hmac.compare_digest(actual, upload.sha256):
                self._drop(upload)
                raise FileCorrupt(
                    "the file that arrived is not the one offered (its SHA-256 differs); "
                    "it was dropped",
                    upload.client_id,
                )
        return upload

    def hold(self, shared: SharedFile) -> None:
        """Keep ``shared``, made from the complete upload ``shared.id`` (which goes)."""
        upload = self._uploads.get(shared.id)
        if upload is None or not upload.complete:
            raise ValueError(f"no complete upload {shared.id} to hold")
        self._drop(upload)
        self._held[shared.id] = shared
        self._held_by_client[(shared.author, shared.client_id)] = shared
        self._held_bytes += shared.size + FILE_OVERHEAD_BYTES

    def cancel(self, owner: ParticipantId, client_id: MessageId) -> bool:
        """Drop ``owner``'s upload under ``client_id``; whether there was one."""
        upload = self._uploads_by_client.get((owner, client_id))
        if upload is None:
            return False
        self._drop(upload)
        return True

    def drop_owner(self, owner: ParticipantId) -> tuple[Upload, ...]:
        """Drop every upload of ``owner`` (who left for good); returns them."""
        gone = tuple(u for u in self._uploads.values() if u.owner == owner)
        for upload in gone:
            self._drop(upload)
        return gone

    def expire(self, now: float) -> tuple[Upload, ...]:
        """Drop every upload that showed no life for ``idle_timeout`` seconds; returns them."""
        gone = tuple(u for u in self._uploads.values() if now - u.last_chunk >= self._idle_timeout)
        for upload in gone:
            self._drop(upload)
        return gone

    # ----------------------------------------------------------------- files held

    def set_text(self, file: FileId, text: str | None, problem: str | None) -> SharedFile | None:
        """Record what the assistant reads of ``file`` (or why it cannot); returns the file
        as now held, or None when the store no longer holds it. Text that would take the
        store past its budget is not kept: the problem then says so."""
        held = self._held.get(file)
        if held is None:
            return None
        self._held_bytes -= _text_bytes(held.text)
        if text is not None and self.used_bytes + _text_bytes(text) > self.budget_bytes:
            text, problem = None, "the room's memory for files has no room for its text"
        updated = dataclasses.replace(held, text=text, text_problem=problem)
        self._held_bytes += _text_bytes(text)
        self._held[file] = updated
        self._held_by_client[(updated.author, updated.client_id)] = updated
        return updated

    def clear(self) -> None:
        """Forget everything (the room closed)."""
        for upload in list(self._uploads.values()):
            self._drop(upload)
        self._held.clear()
        self._held_by_client.clear()
        self._held_bytes = 0

    # ----------------------------------------------------------------- internals

    def _drop(self, upload: Upload) -> None:
        if self._uploads.pop(upload.file, None) is None:
            return
        self._uploads_by_client.pop((upload.owner, upload.client_id), None)
        self._reserved_bytes -= upload.size + FILE_OVERHEAD_BYTES
        upload.received = bytearray()  # whoever still holds the record holds no bytes


def _text_bytes(text: str | None) -> int:
    return 0 if text is None else len(text.encode("utf-8", errors="replace"))
