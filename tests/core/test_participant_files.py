"""The participant's side of files on plain values: frames and a fake clock in, actions out.

A small stand-in plays the room's side of a transfer (it accepts, collects chunks in order,
serves ``file_data``), so each test says exactly what the room did; the network tests in
``test_client_files.py`` run the same rules against the real room.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.outbox import CHUNK_WINDOW, UPLOADS_AT_ONCE
from core.participant import (
    MAX_FETCH_BYTES,
    MAX_FETCH_CHUNK_BYTES,
    Acknowledged,
    ChunkTag,
    DownloadProgress,
    End,
    Ended,
    FetchFailed,
    FileFetched,
    FileQueued,
    FileRefused,
    NotConnected,
    ParticipantAction,
    SendFrame,
    UnknownFile,
    UploadFailed,
    UploadProgress,
)
from core.protocol import (
    ABILITIES,
    Ack,
    AnswerId,
    AnswerStarted,
    AssistantInfo,
    ErrorMessage,
    FileAccepted,
    FileCancel,
    FileChunk,
    FileData,
    FileGet,
    FileId,
    FileOffer,
    FileShared,
    FileStop,
    MessageId,
    ParticipantId,
    ParticipantInfo,
    RoomInfo,
    SendMessage,
    ServerHello,
)
from core.transcript import Change, Transcript
from core.wording import size_words
from tests.core.test_participant import (
    RELAXED,
    Driver,
    events_in,
    greeting,
    said,
    sent_in,
    welcome,
)

CHUNK = 32 * 1024
ASSISTANT = AssistantInfo("Robo", "OpenAI", "cloud", "gpt-4o", "mention")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def shared(
    seq: int,
    data: bytes,
    *,
    file: str = "f1",
    author: str = "p1",
    client_id: str = "c-1",
    name: str = "plan.pdf",
) -> FileShared:
    return FileShared(
        seq, 0.0, FileId(file), ParticipantId(author), "Hana" if author == "p1" else "Sam",
        name, len(data), sha(data), "application/pdf", "pdf", False, MessageId(client_id),
    )  # fmt: skip


class FileDriver(Driver):
    """A :class:`Driver` that also shares, cancels and fetches, and writes chunk frames as a
    connection would (on request: a slow connection writes nothing until told)."""

    def share(
        self, data: bytes, upload_id: str = "c-1", name: str = "plan.pdf", assistant: bool = False
    ) -> list[ParticipantAction]:
        return self.carry(
            self.p.share(MessageId(upload_id), name, data, self.now, assistant=assistant)
        )

    def unwritten(self) -> list[ChunkTag]:
        """The chunks handed out and not yet reported written, oldest first."""
        written = {id(t) for t in self._written}
        return [
            a.chunk
            for a in self.actions
            if isinstance(a, SendFrame) and a.chunk is not None and id(a.chunk) not in written
        ]

    def write(self, count: int | None = None) -> list[ParticipantAction]:
        """The connection writes the oldest ``count`` chunk frames (all, by default)."""
        out: list[ParticipantAction] = []
        for tag in self.unwritten()[:count]:
            self._written.append(tag)
            out += self.carry(self.p.chunk_written(tag, self.now))
        return out

    @property
    def _written(self) -> list[ChunkTag]:
        if not hasattr(self, "_written_tags"):
            self._written_tags: list[ChunkTag] = []
        return self._written_tags

    def chunks(self) -> list[FileChunk]:
        return [m for m in self.sent() if isinstance(m, FileChunk)]

    def upload_everything(self, file: str = "f1", limit: int = 10_000) -> bytes:
        """Write chunks as fast as they come, time passing, and return the bytes that went."""
        for _ in range(limit):
            if not self.unwritten():
                self.advance(0.1)
                if not self.unwritten():
                    break
            self.write()
        return b"".join(unb64(c.data) for c in self.chunks() if c.file == file)

    def resume(self, last_seq: int = 0) -> None:
        self.lose()
        self.carry(self.p.opened())
        self.frame(greeting())
        self.frame(welcome(resumed=True, last_seq=last_seq))


def joined(**limits: int) -> FileDriver:
    d = FileDriver()
    d.join(reply=welcome(limits=replace(RELAXED, **limits)))
    return d


def accept(d: FileDriver, offset: int = 0, upload_id: str = "c-1", file: str = "f1") -> None:
    d.frame(FileAccepted(MessageId(upload_id), FileId(file), offset, CHUNK))


# -- sharing ------------------------------------------------------------------------------------


def test_a_shared_file_is_queued_then_offered_with_its_size_and_sha256() -> None:
    d = joined()
    data = b"%PDF-1.7\n" + bytes(1000)
    actions = d.share(data, name="../../etc/plan\u202e.pdf", assistant=True)
    (queued,) = events_in(actions)
    assert queued == FileQueued(MessageId("c-1"), "plan.pdf", len(data), True, 0.0)
    (offer,) = sent_in(actions)
    assert offer == FileOffer(MessageId("c-1"), "plan.pdf", len(data), sha(data), True)
    assert [u.id for u in d.p.uploads] == ["c-1"]


@pytest.mark.parametrize(
    ("data", "limits", "abilities", "code", "words"),
    [
        (b"", {}, ABILITIES, "file_empty", "the file is empty"),
        (bytes(2001), {"max_file_bytes": 2000}, ABILITIES, "file_too_large", "at most 2,000 bytes"),
        (b"x", {"max_file_bytes": 0}, ABILITIES, "files_off", "does not take files"),
        (b"x", {}, ("resume", "typing"), "files_off", "does not take files"),
    ],
)
def test_a_file_the_room_would_refuse_is_refused_at_once(
    data: bytes, limits: dict[str, int], abilities: tuple[str, ...], code: str, words: str
) -> None:
    d = FileDriver()
    hello = greeting()
    d.join(
        hello=ServerHello(hello.protocol, abilities, hello.room, hello.auth),
        reply=welcome(limits=replace(RELAXED, **limits)),
    )
    with pytest.raises(FileRefused) as refused:
        d.share(data)
    assert refused.value.code == code and words in refused.value.message
    assert d.p.uploads == [] and not [m for m in d.sent() if isinstance(m, FileOffer)]


def test_sharing_before_joining_or_after_the_end_is_not_possible() -> None:
    d = FileDriver()
    with pytest.raises(NotConnected):
        d.share(b"x")
    d.join()
    d.carry(d.p.left())
    with pytest.raises(NotConnected):
        d.share(b"x")


def test_chunks_go_from_the_accepted_offset_a_few_at_a_time_as_the_connection_writes() -> None:
    d = joined()
    data = bytes(range(256)) * 1000  # 256,000 bytes: 8 chunks
    d.share(data)
    assert d.chunks() == []  # nothing before the room accepts
    accept(d, offset=0)
    assert [c.offset for c in d.chunks()] == [i * CHUNK for i in range(CHUNK_WINDOW)]
    d.advance(10.0)
    assert len(d.chunks()) == CHUNK_WINDOW  # time alone frees nothing: the writes do
    d.write(1)
    assert len(d.chunks()) == CHUNK_WINDOW + 1
    assert d.upload_everything() == data
    assert [c.offset for c in d.chunks()] == [i * CHUNK for i in range(8)]


def test_an_upload_resumed_from_an_offset_sends_only_the_rest() -> None:
    d = joined()
    data = bytes(100_000)
    d.share(data)
    accept(d, offset=70_000)
    assert d.upload_everything() == data[70_000:]
    assert d.chunks()[0].offset == 70_000


def test_progress_is_reported_every_few_percent_and_at_the_end() -> None:
    d = joined()
    data = bytes(3_000_000)
    d.share(data)
    accept(d)
    d.upload_everything()
    progress = [e for e in d.events() if isinstance(e, UploadProgress)]
    sent = [p.sent for p in progress]
    assert sent == sorted(sent) and sent[-1] == len(data)
    assert 10 <= len(progress) <= 40  # not one per chunk (92 chunks)


def test_chunks_are_paced_below_the_rooms_frame_rate() -> None:
    """A chunk costs a quarter of a frame at the room (20 frames a second, bursts of 60): a
    connection that writes at once still never gets more than that allows."""
    d = joined()
    d.share(bytes(8_000_000))
    accept(d)
    start = d.now
    for _ in range(400):
        d.write()
        d.advance(0.01)
    elapsed = d.now - start
    assert len(d.chunks()) <= (60 + 20 * elapsed) * 4


def test_the_room_posting_the_file_settles_it() -> None:
    d = joined()
    data = b"hello"
    d.share(data)
    accept(d)
    d.upload_everything()
    d.frame(shared(2, data, author="p2", client_id="c-1"))
    assert d.p.uploads == []
    assert FileId("f1") in d.p.files
    # Once settled, late frames about it settle nothing again.
    assert events_in(d.frame(Ack(MessageId("c-1"), 2))) == []
    late = events_in(d.frame(ErrorMessage("file_corrupt", "x", ref="c-1")))
    assert not [e for e in late if isinstance(e, UploadFailed)]


def test_an_ack_for_a_repeated_offer_settles_it() -> None:
    d = joined()
    d.share(b"hello")
    assert events_in(d.frame(Ack(MessageId("c-1"), 9))) == [Acknowledged(MessageId("c-1"), 9)]
    assert d.p.uploads == []


@pytest.mark.parametrize(
    ("ref", "code"),
    [("c-1", "storage_full"), ("c-1", "file_corrupt"), ("f1", "unknown_file")],
)
def test_a_refusal_fails_the_upload_with_the_rooms_words(ref: str, code: str) -> None:
    d = joined()
    d.share(b"hello")
    accept(d)
    refusal = ErrorMessage(code, "the room's own words", ref=ref)
    assert events_in(d.frame(refusal)) == [
        UploadFailed(MessageId("c-1"), code, "the room's own words")
    ]
    assert d.p.uploads == []


def test_a_rate_limited_offer_goes_again_when_told() -> None:
    d = joined()
    d.share(b"hello")
    d.frame(ErrorMessage("rate_limited", "slow down", ref="c-1", retry_after=3.0))
    assert d.p.uploads != [] and not events_in(d.advance(2.0))
    assert [m for m in sent_in(d.advance(1.5)) if isinstance(m, FileOffer)]


def test_at_most_two_uploads_are_under_way_and_the_next_starts_when_one_settles() -> None:
    d = joined()
    for n in range(4):
        d.share(b"file %d" % n, upload_id=f"c-{n}")
    offered = [m.id for m in d.sent() if isinstance(m, FileOffer)]
    assert offered == ["c-0", "c-1"][:UPLOADS_AT_ONCE]
    d.frame(ErrorMessage("storage_full", "full", ref="c-0"))
    offered = [m.id for m in d.sent() if isinstance(m, FileOffer)]
    assert offered == ["c-0", "c-1", "c-2"]


def test_messages_typed_during_an_upload_are_not_stuck_behind_the_file() -> None:
    d = joined()
    d.share(bytes(5_000_000))
    accept(d)
    d.post("hi")  # the connection has a full window of chunks unwritten
    frames = sent_in(d.actions)
    position = next(i for i, m in enumerate(frames) if isinstance(m, SendMessage))
    assert sum(isinstance(m, FileChunk) for m in frames[:position]) <= CHUNK_WINDOW


def test_after_a_reconnect_the_offer_goes_again_and_sending_goes_on_from_the_rooms_offset() -> None:
    d = joined()
    data = bytes(range(200)) * 1000
    d.share(data)
    accept(d)
    d.write(2)
    d.resume()
    reoffer = [m for m in d.sent() if isinstance(m, FileOffer)]
    assert len(reoffer) == 2 and reoffer[0] == reoffer[1]  # the same offer, the same id
    assert d.write() == []  # chunks of the old connection no longer count
    before = len(d.chunks())
    accept(d, offset=CHUNK)  # the room had only the first chunk
    rest = d.chunks()[before:]
    assert rest[0].offset == CHUNK
    d.upload_everything()
    got = b"".join(unb64(c.data) for c in d.chunks()[before:])
    assert data[:CHUNK] + got == data


def test_the_offer_waits_for_the_replay_that_may_already_share_it() -> None:
    d = joined()
    data = b"hello"
    d.share(data)
    d.lose()
    d.carry(d.p.opened())
    d.frame(greeting())
    d.frame(welcome(resumed=True, last_seq=4))
    assert len([m for m in d.sent() if isinstance(m, FileOffer)]) == 1  # not yet again
    d.frame(shared(4, data, author="p2", client_id="c-1"))  # in the replay: shared already
    d.advance(5.0)
    assert len([m for m in d.sent() if isinstance(m, FileOffer)]) == 1
    assert d.p.uploads == []


def test_cancelling_tells_the_room_and_fails_the_upload_once() -> None:
    d = joined()
    d.share(bytes(500_000))
    accept(d)
    actions = d.carry(d.p.cancel_upload("c-1", d.now))
    assert FileCancel(MessageId("c-1")) in sent_in(actions)
    assert events_in(actions) == [UploadFailed(MessageId("c-1"), "cancelled", "you cancelled it")]
    assert d.carry(d.p.cancel_upload("c-1", d.now)) == []
    chunks = len(d.chunks())
    d.write()  # the chunks already handed out are written: no more follow them
    d.advance(1.0)
    assert len(d.chunks()) == chunks
    # The room's answer to chunks that were on their way is no news.
    assert events_in(d.frame(ErrorMessage("unknown_file", "no such file", ref="f1"))) == []


def test_an_upload_cancelled_while_away_is_cancelled_at_the_room_on_return() -> None:
    d = joined()
    d.share(b"hello")
    d.lose()
    d.carry(d.p.cancel_upload("c-1", d.now))
    d.carry(d.p.opened())
    d.frame(greeting())
    actions = d.frame(welcome(resumed=True))
    assert sent_in(actions) == [FileCancel(MessageId("c-1"))]


def test_the_end_fails_every_upload_and_fetch_under_way_before_it_ends() -> None:
    d = joined()
    d.frame(shared(2, b"abc"))
    d.share(b"hello")
    d.carry(d.p.fetch("f1", d.now))
    actions = d.carry(d.p.left())
    assert isinstance(actions[-1], End)
    failed = events_in(actions)[:-1]
    assert [type(e) for e in failed] == [UploadFailed, FetchFailed]
    assert all(e.code == "room_ended" for e in failed if isinstance(e, UploadFailed | FetchFailed))


# -- fetching -----------------------------------------------------------------------------------


def serve(
    d: FileDriver, data: bytes, *, start: int = 0, file: str = "f1", size: int = CHUNK
) -> None:
    """The room sends ``data[start:]`` as ``file_data`` frames, the last one ``done``."""
    offsets = list(range(start, len(data), size)) or [start]
    for offset in offsets:
        done = offset + size >= len(data)
        d.frame(FileData(FileId(file), offset, b64(data[offset : offset + size]), done))


def test_fetching_asks_from_zero_and_delivers_the_checked_bytes_once() -> None:
    d = joined()
    data = bytes(range(256)) * 800
    d.frame(shared(2, data))
    actions = d.carry(d.p.fetch("f1", d.now))
    assert sent_in(actions) == [FileGet(FileId("f1"), 0)]
    assert d.carry(d.p.fetch("f1", d.now)) == []  # already under way
    serve(d, data)
    fetched = [e for e in d.events() if isinstance(e, FileFetched)]
    assert fetched == [FileFetched(FileId("f1"), data)]
    progress = [e for e in d.events() if isinstance(e, DownloadProgress)]
    assert progress[-1] == DownloadProgress(FileId("f1"), len(data), len(data))
    assert d.p.fetching == ()


def test_a_file_nobody_shared_cannot_be_fetched() -> None:
    d = joined()
    with pytest.raises(UnknownFile):
        d.p.fetch("f9", d.now)


def test_a_gap_is_asked_for_again_once_and_the_file_still_arrives_whole() -> None:
    d = joined()
    data = bytes(range(256)) * 400  # 102,400 bytes: 4 frames
    d.frame(shared(2, data))
    d.carry(d.p.fetch("f1", d.now))
    d.frame(FileData(FileId("f1"), 0, b64(data[:CHUNK])))
    lost = CHUNK  # the frame at CHUNK never came
    again = sent_in(d.frame(FileData(FileId("f1"), 2 * CHUNK, b64(data[2 * CHUNK : 3 * CHUNK]))))
    assert again == [FileGet(FileId("f1"), lost)]
    # The rest of the old stream still arrives: no more requests for the same gap.
    assert sent_in(d.frame(FileData(FileId("f1"), 3 * CHUNK, b64(data[3 * CHUNK :]), True))) == []
    serve(d, data, start=lost)
    assert [e for e in d.events() if isinstance(e, FileFetched)] == [
        FileFetched(FileId("f1"), data)
    ]


def test_more_bytes_than_announced_fail_the_fetch_and_stop_it() -> None:
    d = joined()
    data = b"small file"
    d.frame(shared(2, data))
    d.carry(d.p.fetch("f1", d.now))
    actions = d.frame(FileData(FileId("f1"), 0, b64(data + b"and then some")))
    assert sent_in(actions) == [FileStop(FileId("f1"))]
    (failed,) = events_in(actions)
    assert isinstance(failed, FetchFailed) and failed.code == "file_corrupt"
    assert d.frame(FileData(FileId("f1"), 0, b64(data), True)) == []  # nothing more


@pytest.mark.parametrize(
    ("sent", "words"),
    [(b"the fake bytes", "does not match"), (b"short", "incomplete"), (None, "cannot be read")],
)
def test_damaged_bytes_fail_the_fetch(sent: bytes | None, words: str) -> None:
    d = joined()
    d.frame(shared(2, b"the real bytes"))
    d.carry(d.p.fetch("f1", d.now))
    text = "a=b" if sent is None else b64(sent)
    events = events_in(d.frame(FileData(FileId("f1"), 0, text, True)))
    (failed,) = [e for e in events if not isinstance(e, DownloadProgress)]
    assert isinstance(failed, FetchFailed) and failed.code == "file_corrupt"
    assert words in failed.message


def test_a_fetch_goes_on_after_a_reconnect_from_the_bytes_it_had() -> None:
    d = joined()
    data = bytes(range(256)) * 400
    d.frame(shared(2, data))
    d.carry(d.p.fetch("f1", d.now))
    d.frame(FileData(FileId("f1"), 0, b64(data[:CHUNK])))
    d.resume(last_seq=2)
    assert d.sent()[-1] == FileGet(FileId("f1"), CHUNK)
    serve(d, data, start=CHUNK)
    assert [e for e in d.events() if isinstance(e, FileFetched)] == [
        FileFetched(FileId("f1"), data)
    ]


def test_stopping_a_fetch_tells_the_room_and_ignores_what_was_on_its_way() -> None:
    d = joined()
    data = bytes(100_000)
    d.frame(shared(2, data))
    d.carry(d.p.fetch("f1", d.now))
    actions = d.carry(d.p.stop_fetch("f1", d.now))
    assert sent_in(actions) == [FileStop(FileId("f1"))]
    assert events_in(actions) == [
        FetchFailed(FileId("f1"), "cancelled", "you stopped the download")
    ]
    assert d.frame(FileData(FileId("f1"), 0, b64(data[:CHUNK]))) == []
    assert d.carry(d.p.stop_fetch("f1", d.now)) == []


def test_a_fetch_the_room_refuses_fails_with_its_words() -> None:
    d = joined()
    d.frame(shared(2, b"abc"))
    d.carry(d.p.fetch("f1", d.now))
    (failed,) = events_in(d.frame(ErrorMessage("unknown_file", "no such file", ref="f1")))
    assert failed == FetchFailed(FileId("f1"), "unknown_file", "no such file")


def claimed(size: int, file: str = "f1") -> FileShared:
    """A ``file_shared`` event of a hostile room: any size it likes, a SHA-256 of nothing."""
    return FileShared(
        2, 0.0, FileId(file), ParticipantId("p1"), "Hana", "huge.png", size, "0" * 64,
        "image/png", "image", False, MessageId("c-9"),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("room_limit", "size", "words"),
    [
        (10_000_000, 2**40, "more than the room's limit of 10 MB"),
        (10_000_000, 10_000_001, "more than the room's limit of 10,000,000 bytes"),
        (2**50, 2**40, "more than the 100 MB we fetch"),
        (2**50, MAX_FETCH_BYTES + 1, "more than the 100,000,000 bytes we fetch"),
        (0, 1, "more than the room's limit of 0 bytes"),
    ],
)
def test_a_file_announced_larger_than_we_fetch_is_never_asked_for(
    room_limit: int, size: int, words: str
) -> None:
    d = joined(max_file_bytes=room_limit)
    d.frame(claimed(size))
    actions = d.carry(d.p.fetch("f1", d.now))
    assert sent_in(actions) == []  # no file_get: not one byte of it comes
    (failed,) = events_in(actions)
    assert isinstance(failed, FetchFailed) and failed.code == "file_too_large"
    assert words in failed.message
    assert d.p.fetching == ()
    # Whatever the room sends for it anyway is not taken.
    assert d.frame(FileData(FileId("f1"), 0, b64(bytes(CHUNK)))) == []


@pytest.mark.parametrize("room_limit", [MAX_FETCH_BYTES, 2**50])
def test_a_file_as_large_as_we_fetch_is_fetched(room_limit: int) -> None:
    d = joined(max_file_bytes=room_limit)
    d.frame(claimed(MAX_FETCH_BYTES))
    assert sent_in(d.carry(d.p.fetch("f1", d.now))) == [FileGet(FileId("f1"), 0)]


@pytest.mark.parametrize(
    ("room_chunk", "sent", "taken"),
    [
        (CHUNK, CHUNK, True),
        (CHUNK, CHUNK + 1, False),
        (CHUNK, 4 * 1024 * 1024, False),  # the largest frame a client takes, all of it data
        (2**30, MAX_FETCH_CHUNK_BYTES, True),
        (2**30, MAX_FETCH_CHUNK_BYTES + 1, False),  # the room announced more: our cap holds
    ],
)
def test_a_piece_larger_than_announced_fails_the_fetch_and_stops_it(
    room_chunk: int, sent: int, taken: bool
) -> None:
    d = joined(file_chunk_bytes=room_chunk, max_file_bytes=MAX_FETCH_BYTES)
    d.frame(claimed(MAX_FETCH_BYTES))  # a size that lets any piece fit in it
    d.carry(d.p.fetch("f1", d.now))
    actions = d.frame(FileData(FileId("f1"), 0, b64(bytes(sent))))
    if taken:
        assert sent_in(actions) == [] and d.p.fetching == (FileId("f1"),)
        assert events_in(actions) == [DownloadProgress(FileId("f1"), sent, MAX_FETCH_BYTES)]
        return
    assert sent_in(actions) == [FileStop(FileId("f1"))]
    (failed,) = events_in(actions)
    assert isinstance(failed, FetchFailed) and failed.code == "file_corrupt"
    assert "in one piece" in failed.message
    assert d.p.fetching == ()
    assert d.frame(FileData(FileId("f1"), 0, b64(bytes(CHUNK)))) == []  # nothing more taken


def test_sizes_read_as_people_read_them() -> None:
    assert [size_words(n) for n in (0, 1, 900, 81_234, 10_000_000, 1024 * 1024)] == [
        "0 bytes", "1 byte", "900 bytes", "81 KB", "10 MB", "1 MB",
    ]  # fmt: skip


# -- every upload is settled exactly once ------------------------------------------------------

STEP = st.tuples(
    st.sampled_from(
        ["share", "accept", "write", "shared", "ack", "refuse", "cancel", "lose", "tick", "post"]
    ),
    st.integers(0, 3),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(STEP, max_size=40))
def test_every_file_shared_is_settled_exactly_once(steps: list[tuple[str, int]]) -> None:
    """The app learns of an upload once (``FileQueued``), then of exactly one outcome: the
    room's ``file_shared`` event, an ``ack``, or an ``UploadFailed`` (refused, cancelled,
    or the end), whatever the room says in whatever order. Ids come from a small pool, so
    the room's frames name them often; a ``file_shared`` may still come after a cancel that
    lost the race (everyone sees it), but no other outcome does."""
    d = joined()
    seq = 1
    used: set[str] = set()
    for step, n in steps:
        upload_id = f"c-{n}"
        match step:
            case "share" if upload_id not in used:  # a client never reuses an id
                used.add(upload_id)
                d.share(b"file %d" % n, upload_id=upload_id)
            case "accept":
                d.frame(FileAccepted(MessageId(upload_id), FileId(f"f{n}"), n, 3))
            case "write":
                d.write()
            case "shared":
                seq += 1
                d.frame(shared(seq, b"x", file=f"f{n}", author="p2", client_id=upload_id))
            case "ack":
                d.frame(Ack(MessageId(upload_id), seq))
            case "refuse":
                d.frame(ErrorMessage("storage_full", "full", ref=upload_id))
            case "cancel":
                d.carry(d.p.cancel_upload(upload_id, d.now))
            case "lose":
                d.resume(last_seq=seq)
            case "tick":
                d.advance(1.0)
            case "post":
                d.post(f"m{n}", message_id=f"m-{n}-{len(d.actions)}")
    d.carry(d.p.left())
    waiting: set[str] = set()
    settled: set[str] = set()
    for e in d.events():
        match e:
            case FileQueued(id=cid):
                assert cid not in waiting and cid not in settled
                waiting.add(cid)
            case FileShared(author="p2", client_id=cid):
                if cid in waiting:
                    waiting.remove(cid)
                    settled.add(cid)
            case Acknowledged(id=cid) if cid.startswith("c-"):
                waiting.remove(cid)  # KeyError: an outcome for an upload already settled
                settled.add(cid)
            case UploadFailed(id=cid):
                waiting.remove(cid)
                settled.add(cid)
            case Ended():
                assert not waiting  # every upload under way failed before the end
    assert not waiting and settled == used


# -- the transcript ------------------------------------------------------------------------------


def test_our_file_shows_at_once_with_its_progress_then_moves_to_its_place_when_shared() -> None:
    t = Transcript()
    sam = ParticipantInfo(ParticipantId("p2"), "Sam", "guest")
    t.set_participants({"p2": sam}, me=sam.id)
    t.apply(FileQueued(MessageId("c-1"), "plan.pdf", 81_234, True, 5.0))
    t.apply(said(1, "before it"))
    (first, pending) = (t.entries[0], t.entries[1])
    assert first.kind == "message" and pending.kind == "file"
    assert (pending.pending, pending.file_name, pending.size, pending.assistant) == (
        True, "plan.pdf", 81_234, True,
    )  # fmt: skip
    assert (pending.author, pending.upload_id, pending.file) == ("Sam", "c-1", "")
    t.apply(UploadProgress(MessageId("c-1"), 40_000, 81_234))
    assert pending.sent == 40_000
    t.apply(said(3, "after it"))
    t.apply(replace(shared(2, bytes(81_234), author="p2", client_id="c-1"), assistant=True))
    assert [e.kind for e in t.entries] == ["message", "file", "message"]  # seq 1, 2, 3
    entry = t.entries[1]
    assert entry is pending and not entry.pending and entry.status == ""
    assert (entry.file, entry.mime, entry.file_kind, entry.seq) == (
        "f1", "application/pdf", "pdf", 2,
    )  # fmt: skip


def test_someone_elses_file_and_where_the_assistant_was_sent_it() -> None:
    t = Transcript()
    t.set_room(RoomInfo("Room", "Hana", 2, None, False, False, assistant=ASSISTANT))
    t.apply(replace(shared(4, b"hello", name="notes.txt"), assistant=True, kind="text"))
    (entry,) = t.entries
    assert (entry.kind, entry.author, entry.mine, entry.file_name, entry.sent_to) == (
        "file", "Hana", False, "notes.txt", "",
    )  # fmt: skip
    started = AnswerStarted(5, 5.0, AnswerId("a1"), 4, ParticipantId("p1"), "Hana", "Robo",
                            "gpt-4o", files=(FileId("f1"),))  # fmt: skip
    changes = t.apply(started)
    assert entry.sent_to == "OpenAI / gpt-4o"
    assert Change("update", 0) in changes  # the file's row is redrawn


def test_a_failed_or_cancelled_upload_keeps_its_row_with_the_reason() -> None:
    t = Transcript()
    t.apply(FileQueued(MessageId("c-1"), "a.png", 10, False, 1.0))
    t.apply(FileQueued(MessageId("c-2"), "b.png", 10, False, 1.0))
    t.apply(UploadFailed(MessageId("c-1"), "storage_full", "the room is full of files"))
    t.apply(UploadFailed(MessageId("c-2"), "cancelled", "you cancelled it"))
    a, b = t.entries
    assert (a.pending, a.status, a.error, a.error_code) == (
        False, "failed", "the room is full of files", "storage_full",
    )  # fmt: skip
    assert (b.status, b.error_code) == ("cancelled", "cancelled")
    assert t.apply(UploadProgress(MessageId("c-1"), 5, 10)) == []  # settled: nothing moves


# -- whatever the room sends, a fetch ends once, with the right bytes or a failure ------------

TRUE_BYTES = bytes(range(256)) * 4 + b"tail"  # 1,028 bytes
DATA_STEP = st.one_of(
    st.tuples(
        st.just("data"),
        st.integers(0, len(TRUE_BYTES) + 10),
        st.integers(0, 400),
        st.booleans(),
        st.booleans(),  # damaged: the bytes are not the file's
    ),
    st.tuples(st.just("lose"), st.just(0), st.just(0), st.just(False), st.just(False)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(DATA_STEP, max_size=30))
def test_a_fetch_ends_once_with_the_files_bytes_or_a_failure(
    steps: list[tuple[str, int, int, bool, bool]],
) -> None:
    """Frames at any offset, of any length, damaged or not, marked done or not, with
    reconnects in between: the app gets at most one outcome, a ``FileFetched`` only with the
    file's own bytes; and a room that then answers the last request faithfully finishes a
    fetch that has not failed."""
    d = joined()
    d.frame(shared(2, TRUE_BYTES))
    d.carry(d.p.fetch("f1", d.now))
    for step, offset, length, done, damaged in steps:
        if step == "lose":
            d.resume(last_seq=2)
            continue
        payload = TRUE_BYTES[offset : offset + length]
        if damaged:
            payload = bytes(b ^ 0xFF for b in payload) + b"!"
        d.frame(FileData(FileId("f1"), offset, b64(payload), done))
    for _ in range(5):  # the room, doing it right: it answers the latest request
        asks = [m for m in d.sent() if isinstance(m, FileGet)]
        serve(d, TRUE_BYTES, start=asks[-1].offset, size=100)
        if len([m for m in d.sent() if isinstance(m, FileGet)]) == len(asks):
            break
    outcomes = [e for e in d.events() if isinstance(e, FileFetched | FetchFailed)]
    assert len(outcomes) == 1
    if isinstance(outcomes[0], FileFetched):
        assert outcomes[0].data == TRUE_BYTES
    assert d.p.fetching == ()
