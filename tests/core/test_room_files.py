"""The room's side of sharing files, on plain values (docs/protocol.md, "Files"): offers,
chunks, resync and resume, the event, fetching, limits and hostile input."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from core.ai.desk import AnswerOutcome, AssistantConfig
from core.file_store import FILE_OVERHEAD_BYTES
from core.protocol import (
    Ack,
    AnswerStarted,
    ErrorMessage,
    FileAccepted,
    FileId,
    FileShared,
    Limits,
    MessageId,
    ServerHello,
)
from core.room import ExtractText, RoomConfig, StartAnswer, StopStream, StreamFile
from tests.core.room_harness import Harness, Peer, welcome_of

CHUNK = Limits().file_chunk_bytes
PDF = b"%PDF-1.4\n" + b"0" * 100
ELF = b"\x7fELF" + bytes(200)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def files_room(**config: Any) -> Harness:
    return Harness(**config)


def join(h: Harness, name: str, **hello: Any) -> Peer:
    return h.join(name, abilities=["files"], **hello)


def offer(
    h: Harness, peer: Peer, data: bytes, cid: str = "c1", name: str = "notes.txt", **extra: Any
) -> None:
    sha = hashlib.sha256(data).hexdigest()
    h.send(peer, type="file_offer", id=cid, name=name, size=len(data), sha256=sha, **extra)


def accepted(peer: Peer) -> FileAccepted:
    return peer.of(FileAccepted)[-1]  # type: ignore[no-any-return]


def send_chunks(h: Harness, peer: Peer, file: str, data: bytes, start: int = 0) -> None:
    for offset in range(start, len(data), CHUNK):
        h.send(peer, type="file_chunk", file=file, offset=offset, data=b64(data[offset:][:CHUNK]))


def share(h: Harness, peer: Peer, data: bytes, cid: str = "c1", **extra: Any) -> FileShared:
    offer(h, peer, data, cid, **extra)
    send_chunks(h, peer, accepted(peer).file, data)
    return peer.of(FileShared)[-1]  # type: ignore[no-any-return]


def file_actions(h: Harness, kind: type[Any]) -> list[Any]:
    return [a for a in h.assistant_actions if isinstance(a, kind)]


def test_a_file_is_shared_with_everyone_and_fetched_from_anywhere() -> None:
    h = files_room()
    sam, ana = join(h, "Sam"), join(h, "Ana")
    data = b"line\n" * 20_000  # 100 kB: four chunks
    offer(h, sam, data, name="minutes.md")
    ok = accepted(sam)
    assert (ok.id, ok.offset, ok.chunk_bytes) == ("c1", 0, CHUNK)
    send_chunks(h, sam, ok.file, data)
    event = ana.of(FileShared)[-1]
    assert event == sam.of(FileShared)[-1]
    assert (event.file, event.author, event.author_name, event.name) == (
        ok.file, welcome_of(sam).you.id, "Sam", "minutes.md",
    )  # fmt: skip
    assert (event.size, event.kind, event.mime, event.client_id) == (
        len(data), "text", "text/markdown", "c1",
    )  # fmt: skip
    assert event.sha256 == hashlib.sha256(data).hexdigest() and not event.assistant
    [held] = h.room.shared_files()
    assert held.data == data and held.seq == event.seq
    h.send(ana, type="file_get", file=ok.file, offset=CHUNK)
    [stream] = file_actions(h, StreamFile)
    assert (stream.conn, stream.file.data, stream.offset) == (ana.conn, data, CHUNK)
    h.send(ana, type="file_stop", file=ok.file)
    assert file_actions(h, StopStream) == [StopStream(ana.conn, ok.file)]
    assert h.room.file_bytes_used == len(data) + FILE_OVERHEAD_BYTES


def test_the_limits_are_announced_and_a_room_without_files_says_so() -> None:
    h = files_room(max_file_bytes=5_000_000, file_budget_bytes=50_000_000)
    limits = welcome_of(join(h, "Sam")).room.limits
    assert (limits.max_file_bytes, limits.file_budget_bytes) == (5_000_000, 50_000_000)
    assert "files" in welcome_of(h.join("Ana")).abilities
    off = files_room(max_file_bytes=0)
    peer = off.connect()
    assert "files" not in peer.of(ServerHello)[0].abilities
    sam = join(off, "Sam")
    offer(off, sam, b"hello")
    assert (sam.last_error().code, sam.last_error().ref) == ("files_off", "c1")
    with pytest.raises(ValueError, match="less than 0"):
        RoomConfig(name="x", max_file_bytes=-1)


def test_a_client_without_the_files_ability_is_told_files_off() -> None:
    h = files_room()
    old = h.join("Old")  # no abilities in its hello
    offer(h, old, b"hello")
    assert old.last_error().code == "files_off"
    sam = join(h, "Sam")
    event = share(h, sam, b"hello")
    h.send(old, type="file_get", file=event.file)
    assert old.last_error().code == "files_off" and file_actions(h, StreamFile) == []


def test_a_chunk_at_the_wrong_offset_is_answered_with_where_to_go_on() -> None:
    h = files_room()
    sam = join(h, "Sam")
    data = bytes(range(256)) * 300
    offer(h, sam, data)
    file = accepted(sam).file
    h.send(sam, type="file_chunk", file=file, offset=0, data=b64(data[:CHUNK]))
    h.send(sam, type="file_chunk", file=file, offset=2 * CHUNK, data=b64(data[2 * CHUNK :][:CHUNK]))
    assert accepted(sam).offset == CHUNK  # out of order: ignored, resynced
    h.send(sam, type="file_chunk", file=file, offset=0, data=b64(data[:CHUNK]))
    assert accepted(sam).offset == CHUNK  # a repeat: ignored too
    send_chunks(h, sam, file, data, start=CHUNK)
    assert sam.of(FileShared)[-1].size == len(data)
    assert h.room.shared_files()[0].data == data


def test_an_upload_resumes_after_a_reconnect_and_a_finished_one_is_acked() -> None:
    h = files_room()
    sam = join(h, "Sam")
    data = bytes(range(256)) * 400
    offer(h, sam, data)
    file = accepted(sam).file
    send_chunks(h, sam, file, data[: 2 * CHUNK])
    h.drop(sam)
    back = join(h, "Sam", resume={"session": welcome_of(sam).session, "last_seq": 0})
    assert welcome_of(back).resumed
    offer(h, back, data)
    again = accepted(back)
    assert (again.file, again.offset) == (file, 2 * CHUNK)
    send_chunks(h, back, file, data, start=2 * CHUNK)
    shared = back.of(FileShared)[-1]
    offer(h, back, data)  # its confirmation was lost: the same offer once more
    assert back.of(Ack)[-1] == Ack(id=MessageId("c1"), seq=shared.seq)
    assert len(h.room.shared_files()) == 1


def test_a_late_joiner_sees_the_file_in_history_unless_history_is_private() -> None:
    h = files_room()
    sam = join(h, "Sam")
    event = share(h, sam, b"hello")
    late = join(h, "Late")
    assert event in late.inbox
    h.send(late, type="file_get", file=event.file)
    assert file_actions(h, StreamFile)[-1].conn == late.conn
    private = files_room(share_history=False)
    sam = join(private, "Sam")
    before = share(private, sam, b"before")
    late = join(private, "Late")
    assert before not in late.inbox
    private.send(late, type="file_get", file=before.file)
    assert (late.last_error().code, late.last_error().ref) == ("unknown_file", before.file)
    after = share(private, sam, b"after", cid="c2")
    private.send(late, type="file_get", file=after.file)
    assert file_actions(private, StreamFile)[-1].file.data == b"after"


def test_a_lying_sha256_is_file_corrupt_and_frees_the_room() -> None:
    h = files_room()
    sam, ana = join(h, "Sam"), join(h, "Ana")
    sha = hashlib.sha256(b"the real thing").hexdigest()
    h.send(sam, type="file_offer", id="c1", name="x.txt", size=14, sha256=sha)
    h.send(sam, type="file_chunk", file=accepted(sam).file, offset=0, data=b64(b"something else"))
    error = sam.last_error()
    assert (error.code, error.ref) == ("file_corrupt", "c1")
    assert ana.of(FileShared) == [] and h.room.file_bytes_used == 0


def test_hostile_offers_and_chunks_get_typed_errors() -> None:
    h = files_room(max_file_bytes=1000)
    sam, ana = join(h, "Sam"), join(h, "Ana")
    offer(h, sam, b"")
    assert (sam.last_error().code, sam.last_error().ref) == ("file_empty", "c1")
    offer(h, sam, b"x" * 1001, cid="c2")
    assert sam.last_error().code == "file_too_large"
    h.send(sam, type="file_offer", id="c3", name="x", size=5, sha256="g" * 64)
    assert sam.last_error().code == "invalid_value"
    h.send(sam, type="file_chunk", file="f77", offset=0, data=b64(b"hi"))
    assert (sam.last_error().code, sam.last_error().ref) == ("unknown_file", "f77")
    offer(h, sam, b"hello", cid="c4")
    file = accepted(sam).file
    h.send(ana, type="file_chunk", file=file, offset=0, data=b64(b"HELLO"))  # not Ana's upload
    assert ana.last_error().code == "unknown_file"
    h.send(sam, type="file_chunk", file=file, offset=0, data="abcde")  # no bytes encode to it
    assert (sam.last_error().code, sam.last_error().ref) == ("bad_message", file)
    h.send(sam, type="file_chunk", file=file, offset=0, data="ab+/")  # not the url alphabet
    assert sam.last_error().code == "bad_message"
    h.send(sam, type="file_chunk", file=file, offset=0, data=b64(b"hello, and more"))
    assert sam.last_error().code == "bad_message"  # past the offered size
    h.send(sam, type="file_chunk", file=file, offset=0, data=b64(b"hello"))
    assert ana.of(FileShared)[-1].size == 5  # after all that, the upload was still fine
    h.send(sam, type="file_get", file=file, offset=6)
    assert sam.last_error().code == "invalid_value"
    h.send(sam, type="file_stop", file="f99")
    assert sam.last_error().code == "unknown_file"


def test_too_many_uploads_at_once_and_a_full_room() -> None:
    h = files_room(file_budget_bytes=3 * (100 + FILE_OVERHEAD_BYTES))
    sam, ana, bo = join(h, "Sam"), join(h, "Ana"), join(h, "Bo")
    offer(h, sam, b"a" * 100, cid="1")
    offer(h, sam, b"b" * 100, cid="2")
    offer(h, sam, b"c" * 100, cid="3")
    assert (sam.last_error().code, sam.last_error().ref) == ("too_many_transfers", "3")
    offer(h, ana, b"d" * 100, cid="1")
    offer(h, bo, b"e" * 100, cid="1")
    assert bo.last_error().code == "storage_full"
    h.send(sam, type="file_cancel", id="1")  # a cancelled upload gives its room back
    offer(h, bo, b"e" * 100, cid="1")
    assert accepted(bo).id == "1"
    h.send(ana, type="send", id="m1", text="chat goes on")
    assert bo.inbox[-1].text == "chat goes on"  # type: ignore[union-attr]


def test_abandoned_uploads_and_a_departed_senders_uploads_are_freed() -> None:
    h = files_room()
    sam, ana = join(h, "Sam"), join(h, "Ana")
    offer(h, sam, b"0123456789")
    file = accepted(sam).file
    h.send(sam, type="file_chunk", file=file, offset=0, data=b64(b"01234"))
    h.tick(119.0)
    assert h.room.file_bytes_used > 0
    h.tick(1.0)
    assert h.room.file_bytes_used == 0
    h.send(sam, type="file_chunk", file=file, offset=5, data=b64(b"56789"))
    assert sam.last_error().code == "unknown_file"
    offer(h, ana, b"0123456789")
    h.send(ana, type="leave")
    assert h.room.file_bytes_used == 0


def test_a_flood_of_small_files_is_rate_limited_like_messages() -> None:
    h = files_room(limits=Limits(message_burst=4, messages_per_minute=60))
    sam = join(h, "Sam")
    for n in range(4):
        share(h, sam, f"file {n}".encode(), cid=f"c{n}")
    offer(h, sam, b"one more", cid="c9")
    error = sam.last_error()
    assert (error.code, error.ref) == ("rate_limited", "c9") and error.retry_after
    assert len(h.room.shared_files()) == 4


def test_a_chunk_costs_a_quarter_of_a_frame() -> None:
    h = files_room(frame_burst=60, frames_per_second=0.001)
    sam = join(h, "Sam")  # the hello took one
    offer(h, sam, bytes(10 * 1024 * 1024 // 1000))  # and the offer one
    file = accepted(sam).file
    for _ in range(4 * 58):  # what is left of the burst, in chunks (all at the wrong offset)
        h.send(sam, type="file_chunk", file=file, offset=1, data=b64(b"x"))
    assert sam.closed is None
    h.send(sam, type="send", id="m", text="one frame too many")
    assert sam.last_error().code == "flooding"
    assert sam.closed is not None


def test_the_type_comes_from_the_contents_and_the_name_is_made_safe() -> None:
    h = files_room()
    sam = join(h, "Sam")
    program = share(h, sam, ELF, cid="c1", name="invoice.pdf")
    assert (program.kind, program.name) == ("program", "invoice.pdf")
    bidi = share(h, sam, b"text", cid="c2", name="../../evil\u202egnp.exe\x07.txt")
    assert bidi.name == "evilgnp.exe.txt"
    assert all(ord(c) >= 32 and c not in "\u202e/\\" for c in bidi.name)


def test_a_name_that_hides_its_extension_is_judged_by_the_name_everyone_sees() -> None:
    h = files_room()
    sam = join(h, "Sam")
    script = b"@echo off\r\nstart calc\r\n"
    for index, name in enumerate(["invoice.bat\u200b", "invoice.bat ", "invoice.bat.",
                                  "invoice.ba\u00adt", "invoice.bat\ufeff"]):  # fmt: skip
        event = share(h, sam, script, cid=f"c{index}", name=name)
        assert (event.name, event.kind) == ("invoice.bat", "program"), name


def test_consent_can_be_taken_back_on_a_resume_but_not_given_later() -> None:
    h = files_room()
    sam = join(h, "Sam")
    data = bytes(CHUNK * 2)
    offer(h, sam, data, cid="c1", assistant=True)
    file = accepted(sam).file
    h.send(sam, type="file_chunk", file=file, offset=0, data=b64(data[:CHUNK]))
    offer(h, sam, data, cid="c1", assistant=False)  # the sender changed their mind
    send_chunks(h, sam, file, data, start=CHUNK)
    assert not sam.of(FileShared)[-1].assistant
    offer(h, sam, b"0123456789", cid="c2", assistant=False)
    offer(h, sam, b"0123456789", cid="c2", assistant=True)  # too late to say yes
    send_chunks(h, sam, accepted(sam).file, b"0123456789")
    assert not sam.of(FileShared)[-1].assistant


def test_repeating_an_offer_does_not_keep_an_upload_alive() -> None:
    h = files_room()
    sam = join(h, "Sam")
    offer(h, sam, b"0123456789")
    h.tick(60.0)
    offer(h, sam, b"0123456789")  # no chunk: no sign of an upload going on
    h.tick(60.0)
    assert h.room.file_bytes_used == 0


def test_the_text_of_pdfs_and_texts_for_the_assistant_is_asked_for_and_kept() -> None:
    bare = files_room()  # no assistant: nobody to read it for, nothing to read
    share(bare, join(bare, "Sam"), PDF, cid="c1", name="a.pdf", assistant=True)
    assert file_actions(bare, ExtractText) == []
    config = AssistantConfig(model="gpt-4o", provider="OpenAI", provider_kind="cloud")
    h = Harness(assistant=config)
    sam = join(h, "Sam")
    pdf = share(h, sam, PDF, cid="c1", name="a.pdf", assistant=True)
    share(h, sam, b"plain", cid="c2", name="b.txt")  # not for the assistant: nothing to do
    share(h, sam, ELF, cid="c3", name="c", assistant=True)  # no text to read
    assert file_actions(h, ExtractText) == [ExtractText(pdf.file)]
    h.room.file_text_ready(pdf.file, "Hello from the PDF", None)
    held = h.room.file(pdf.file)
    assert held is not None and held.text == "Hello from the PDF" and held.text_problem is None
    h.room.file_text_ready(FileId("f99"), "nothing", None)  # a file the room does not hold


def test_answer_started_names_the_files_sent_with_the_request() -> None:
    config = AssistantConfig(model="gpt-4o", provider="OpenAI", provider_kind="cloud")
    h = Harness(assistant=config)
    sam = join(h, "Sam")
    image = share(h, sam, b"\x89PNG\r\n\x1a\n" + bytes(64), cid="c1", assistant=True)
    share(h, sam, b"secret", cid="c2")  # without the sender's consent
    h.send(sam, type="send", id="m1", text="@assistant what is in the picture?")
    started = sam.of(AnswerStarted)[-1]
    assert started.files == (image.file,)
    [start] = [a for a in h.assistant_actions if isinstance(a, StartAnswer)]
    assert [f.id for f in start.job.files_in_context] == [image.file]
    h.apply(h.room.answer_finished(started.answer, AnswerOutcome("complete", "A cat.", None)))


def test_closing_the_room_drops_every_file() -> None:
    h = files_room()
    sam = join(h, "Sam")
    share(h, sam, b"hello")
    offer(h, sam, b"half of it", cid="c2")
    h.apply(h.room.close())
    assert h.room.shared_files() == () and h.room.file_bytes_used == 0


def test_errors_are_error_frames() -> None:
    h = files_room()
    sam = join(h, "Sam")
    h.send(sam, type="file_get", file="f1")
    assert isinstance(sam.inbox[-1], ErrorMessage)
