"""The room's file store on plain values: budget, uploads at once, abandoned uploads, and a
state machine that tries every order of offers, chunks, cancels, departures and idle time."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

from core.file_store import (
    FILE_OVERHEAD_BYTES,
    BadChunk,
    BadOffer,
    FileCorrupt,
    FileEmpty,
    FileStore,
    FileStoreError,
    FileTooLarge,
    StorageFull,
    TooManyTransfers,
    UnknownFile,
    Upload,
    WrongOffset,
)
from core.protocol import FileId, MessageId, ParticipantId
from core.shared_files import SharedFile

SAM = ParticipantId("p1")
ANA = ParticipantId("p2")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def offer(
    store: FileStore, data: bytes, owner: ParticipantId = SAM, cid: str = "c1", now: float = 0.0
) -> Upload:
    return store.offer(
        owner, MessageId(cid), name="x.txt", size=len(data), sha256=sha(data), assistant=False,
        now=now,
    )  # fmt: skip


def shared_from(upload: Upload, seq: int = 1) -> SharedFile:
    return SharedFile(
        id=upload.file, seq=seq, ts=0.0, author=upload.owner, author_name="Sam",
        client_id=upload.client_id, name=upload.name, mime="text/plain", kind="text",
        assistant=upload.assistant, sha256=upload.sha256, data=bytes(upload.received),
    )  # fmt: skip


def test_a_file_arrives_in_chunks_and_is_held() -> None:
    store = FileStore(100, 1000 + 2 * FILE_OVERHEAD_BYTES)
    upload = offer(store, b"hello world")
    assert (upload.file, upload.offset) == ("f1", 0)
    assert store.used_bytes == 11 + FILE_OVERHEAD_BYTES
    store.chunk(SAM, upload.file, 0, b"hello ", now=1.0)
    with pytest.raises(WrongOffset) as wrong:
        store.chunk(SAM, upload.file, 0, b"hello ", now=1.0)
    assert wrong.value.expected == 6
    done = store.chunk(SAM, upload.file, 6, b"world", now=2.0)
    assert done.complete
    store.hold(shared_from(done))
    assert store.get(FileId("f1")) is not None and store.uploads == ()
    assert store.shared_by(SAM, MessageId("c1")) is not None
    assert store.used_bytes == 11 + FILE_OVERHEAD_BYTES  # the same bytes, now held


def test_offers_refused_with_the_documented_codes() -> None:
    store = FileStore(10, 40 + 3 * FILE_OVERHEAD_BYTES)
    with pytest.raises(FileEmpty):
        offer(store, b"")
    with pytest.raises(FileTooLarge) as large:
        offer(store, b"x" * 11)
    assert "up to 10 bytes" in str(large.value)
    with pytest.raises(BadOffer):
        store.offer(SAM, MessageId("c"), name="x", size=1, sha256="z" * 64, assistant=False, now=0)
    offer(store, b"a" * 10, cid="1")
    offer(store, b"b" * 10, cid="2")
    with pytest.raises(TooManyTransfers):
        offer(store, b"c" * 10, cid="3")
    offer(store, b"d" * 10, owner=ANA, cid="1")
    with pytest.raises(StorageFull) as full:
        offer(store, b"e" * 10, owner=ANA, cid="2")
    assert full.value.code == "storage_full"
    assert len(store.uploads) == 3  # the refusals changed nothing


def test_a_repeated_offer_continues_and_another_file_under_the_id_replaces() -> None:
    store = FileStore(100, 10_000)
    first = offer(store, b"0123456789", now=0.0)
    store.chunk(SAM, first.file, 0, b"01234", now=1.0)
    again = offer(store, b"0123456789", now=50.0)
    assert again is first and again.offset == 5 and again.last_chunk == 1.0  # chunks only
    other = offer(store, b"something else")
    assert other.file != first.file and other.offset == 0
    assert store.uploads == (other,) and first.received == bytearray()


def test_a_lying_sha256_drops_the_upload_and_frees_its_bytes() -> None:
    store = FileStore(100, 10_000)
    upload = store.offer(
        SAM, MessageId("c1"), name="x", size=4, sha256=sha(b"abcd"), assistant=False, now=0
    )
    with pytest.raises(FileCorrupt) as corrupt:
        store.chunk(SAM, upload.file, 0, b"abcX", now=0)
    assert corrupt.value.client_id == "c1" and corrupt.value.code == "file_corrupt"
    assert store.uploads == () and store.used_bytes == 0
    with pytest.raises(UnknownFile):  # nothing left to send chunks to
        store.chunk(SAM, upload.file, 0, b"abcd", now=0)


def test_chunks_that_cannot_fit_and_chunks_for_others_uploads() -> None:
    store = FileStore(100, 10_000)
    upload = offer(store, b"abc")
    with pytest.raises(BadChunk):
        store.chunk(SAM, upload.file, 0, b"abcd", now=0)
    with pytest.raises(BadChunk):
        store.chunk(SAM, upload.file, 0, b"", now=0)
    with pytest.raises(UnknownFile):
        store.chunk(ANA, upload.file, 0, b"abc", now=0)  # Ana cannot write into Sam's upload
    with pytest.raises(UnknownFile):
        store.chunk(SAM, FileId("f99"), 0, b"abc", now=0)
    assert upload.offset == 0


def test_idle_uploads_and_a_departed_owners_uploads_go() -> None:
    store = FileStore(100, 10_000)
    idle = offer(store, b"abcdef", cid="1", now=0.0)
    busy = offer(store, b"abcdef", cid="2", now=0.0)
    anas = offer(store, b"abcdef", owner=ANA, now=0.0)
    store.chunk(SAM, idle.file, 0, b"ab", now=10.0)
    store.chunk(SAM, busy.file, 0, b"ab", now=100.0)
    store.chunk(ANA, anas.file, 0, b"ab", now=100.0)
    assert store.expire(129.9) == ()
    assert store.expire(130.0) == (idle,)
    assert store.drop_owner(ANA) == (anas,)
    assert store.uploads == (busy,)
    assert store.used_bytes == 6 + FILE_OVERHEAD_BYTES
    assert store.cancel(SAM, MessageId("2")) and not store.cancel(SAM, MessageId("2"))
    assert store.used_bytes == 0


def test_extracted_text_counts_and_is_not_kept_past_the_budget() -> None:
    store = FileStore(100, 10 + FILE_OVERHEAD_BYTES + 50)
    upload = offer(store, b"0123456789")
    store.hold(shared_from(store.chunk(SAM, upload.file, 0, b"0123456789", now=0)))
    kept = store.set_text(upload.file, "é" * 20, None)  # 40 bytes of UTF-8
    assert kept is not None and kept.text == "é" * 20
    assert store.used_bytes == 10 + FILE_OVERHEAD_BYTES + 40
    too_much = store.set_text(upload.file, "x" * 51, None)
    assert too_much is not None and too_much.text is None
    assert too_much.text_problem is not None and "no room" in too_much.text_problem
    assert store.used_bytes == 10 + FILE_OVERHEAD_BYTES
    assert store.set_text(FileId("f9"), "x", None) is None


OWNERS = [ParticipantId(f"p{i}") for i in range(3)]
CLIENT_IDS = [MessageId(f"c{i}") for i in range(4)]


class StoreMachine(RuleBasedStateMachine):
    """Any sequence of what participants (honest or not) and time can do to the store."""

    @initialize(
        max_file=st.integers(1, 64),
        budget=st.one_of(
            st.just(0), st.integers(FILE_OVERHEAD_BYTES, 4 * FILE_OVERHEAD_BYTES + 200)
        ),
    )
    def make(self, max_file: int, budget: int) -> None:
        self.store = FileStore(max_file, budget)
        self.now = 0.0
        self.contents: dict[FileId, bytes] = {}  # what each upload's sender means to send
        self.seq = 0

    @rule(
        owner=st.sampled_from(OWNERS),
        cid=st.sampled_from(CLIENT_IDS),
        data=st.binary(min_size=0, max_size=40),
        lie=st.booleans(),
    )
    def offer(self, owner: ParticipantId, cid: MessageId, data: bytes, lie: bool) -> None:
        digest = sha(b"lie" + data) if lie else sha(data)
        used_before = self.store.used_bytes
        if self.store.shared_by(owner, cid) is not None:
            return  # the room answers with the file shared under that id (offer's contract)
        try:
            upload = self.store.offer(
                owner, cid, name="f", size=len(data), sha256=digest, assistant=False,
                now=self.now,
            )  # fmt: skip
        except FileStoreError:
            assert self.store.used_bytes <= used_before  # a refusal never takes more
            return
        self.contents[upload.file] = data

    @rule(pick=st.integers(0, 10), how=st.sampled_from(["next"] * 5 + ["wrong", "long", "empty"]))
    def chunk(self, pick: int, how: str) -> None:
        uploads = self.store.uploads
        if not uploads:
            return
        upload = uploads[pick % len(uploads)]
        data = self.contents[upload.file]
        offset, piece = upload.offset, data[upload.offset : upload.offset + 16]
        if how == "wrong":
            offset += 1
        elif how == "long":
            piece = data[upload.offset :] + b"!"
        elif how == "empty":
            piece = b""
        try:
            done = self.store.chunk(upload.owner, upload.file, offset, piece, self.now)
        except WrongOffset as exc:
            assert exc.expected == upload.offset
            return
        except (BadChunk, FileCorrupt, UnknownFile):
            return
        if done.complete:
            assert bytes(done.received) == data and sha(data) == done.sha256
            self.seq += 1
            self.store.hold(shared_from(done, self.seq))
            event("a file was shared")

    @rule(owner=st.sampled_from(OWNERS), cid=st.sampled_from(CLIENT_IDS))
    def cancel(self, owner: ParticipantId, cid: MessageId) -> None:
        self.store.cancel(owner, cid)

    @rule(owner=st.sampled_from(OWNERS))
    def leave(self, owner: ParticipantId) -> None:
        for upload in self.store.drop_owner(owner):
            assert upload.received == bytearray()
        assert all(u.owner != owner for u in self.store.uploads)

    @rule(seconds=st.sampled_from([1.0, 60.0, 119.0, 121.0]))
    def wait(self, seconds: float) -> None:
        self.now += seconds
        for upload in self.store.expire(self.now):
            assert upload.received == bytearray()
        assert all(self.now - u.last_chunk < 120.0 for u in self.store.uploads)

    @rule(text=st.text(max_size=60))
    def text(self, text: str) -> None:
        if self.store.files:
            self.store.set_text(self.store.files[0].id, text, None)

    @invariant()
    def within_budget_and_nothing_leaks(self) -> None:
        store = self.store
        held = sum(f.size + FILE_OVERHEAD_BYTES + len((f.text or "").encode()) for f in store.files)
        arriving = sum(u.size + FILE_OVERHEAD_BYTES for u in store.uploads)
        assert store.used_bytes == held + arriving <= store.budget_bytes
        for upload in store.uploads:
            assert upload.offset <= upload.size <= store.max_file_bytes
            assert store.upload_of(upload.owner, upload.client_id) is upload
        for owner in OWNERS:
            assert sum(1 for u in store.uploads if u.owner == owner) <= 2
        for f in store.files:
            assert store.shared_by(f.author, f.client_id) == f

    def teardown(self) -> None:
        self.store.clear()
        assert self.store.used_bytes == 0 and not self.store.uploads and not self.store.files


TestStoreMachine = StoreMachine.TestCase
