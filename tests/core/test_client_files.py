"""Files through a real room on loopback, between real clients: share, fetch, resume, cancel,
refusals. The machine-level rules are in ``test_participant_files.py``."""

from __future__ import annotations

import asyncio
import os

import pytest

from core.client import (
    DownloadFailed,
    DownloadProgress,
    FetchFailed,
    FileFetched,
    FileQueued,
    FileRefused,
    Reconnecting,
    Resumed,
    UnknownFile,
    UploadFailed,
    UploadProgress,
)
from core.protocol import FileId, FileShared, MessagePosted
from tests.blip_proxy import BlipProxy
from tests.conftest import Inbox, RoomFactory, RoomHarness


def pdf(size: int) -> bytes:
    """A PDF's first bytes, then random ones: ``size`` bytes in all."""
    head = b"%PDF-1.7\n"
    return head + os.urandom(size - len(head))


async def shared_event(inbox: Inbox, upload_id: str, timeout: float = 20.0) -> FileShared:
    return await inbox.wait_type(FileShared, timeout, client_id=upload_id)


async def test_a_file_shared_by_one_is_fetched_by_two_others(room: RoomHarness) -> None:
    host, host_inbox = await room.join("Hana", host=True)
    sam, sam_inbox = await room.join("Sam")
    ana, ana_inbox = await room.join("Ana")
    data = pdf(300_000)
    upload_id = sam.share_file("../plan\u202e.pdf", data)
    queued = await sam_inbox.wait_type(FileQueued, id=upload_id)
    assert (queued.name, queued.size, queued.assistant) == ("plan.pdf", len(data), False)

    event = await shared_event(sam_inbox, upload_id)
    assert (event.name, event.size, event.kind, event.mime) == (
        "plan.pdf", len(data), "pdf", "application/pdf",
    )  # fmt: skip
    assert (event.author_name, event.assistant) == ("Sam", False)
    assert sam.uploads == []
    progress = [e.sent for e in sam_inbox.events if isinstance(e, UploadProgress)]
    assert progress and progress == sorted(progress) and progress[-1] == len(data)

    await host_inbox.wait_type(FileShared, file=event.file)
    await ana_inbox.wait_type(FileShared, file=event.file)
    got = await asyncio.gather(host.download(event.file), ana.download(event.file))
    assert list(got) == [data, data]
    fetched = await ana_inbox.wait_type(FileFetched, file=event.file)
    assert fetched.data == data
    assert ana.fetching == ()


async def test_a_late_joiner_sees_the_file_in_history_and_can_fetch_it(room: RoomHarness) -> None:
    host, host_inbox = await room.join("Hana", host=True)
    data = b"notes, in plain text\n" * 100
    upload_id = host.share_file("notes.txt", data, assistant=True)
    event = await shared_event(host_inbox, upload_id)
    assert (event.kind, event.assistant) == ("text", True)

    late, late_inbox = await room.join("Late")
    await late_inbox.wait_type(FileShared, file=event.file)
    assert event.file in late.files
    assert await late.download(event.file) == data


async def test_an_upload_cut_off_goes_on_from_where_the_room_got_to(
    room: RoomHarness, proxy: BlipProxy
) -> None:
    host, host_inbox = await room.join("Hana", host=True)
    sam, sam_inbox = await room.join("Sam", url=proxy.url)
    data = pdf(5_000_000)
    upload_id = sam.share_file("big.pdf", data)
    await sam_inbox.wait_for(
        lambda e: isinstance(e, UploadProgress) and e.sent >= 0.4 * len(data), timeout=20
    )
    proxy.refusing = True
    proxy.cut()
    await sam_inbox.wait_type(Reconnecting)
    proxy.refusing = False
    await sam_inbox.wait_type(Resumed, timeout=10)

    event = await shared_event(host_inbox, upload_id, timeout=30)
    await shared_event(sam_inbox, upload_id)
    assert await host.download(event.file) == data
    after = sam_inbox.events[sam_inbox.events.index(next(
        e for e in sam_inbox.events if isinstance(e, Resumed)
    )):]  # fmt: skip
    resumed_at = next(e.sent for e in after if isinstance(e, UploadProgress))
    assert resumed_at >= 0.2 * len(data)  # not from the start again
    shared = [e for e in host_inbox.events if isinstance(e, FileShared)]
    assert len(shared) == 1  # shared once


async def test_a_fetch_cut_off_goes_on_from_the_bytes_it_had(
    room: RoomHarness, proxy: BlipProxy
) -> None:
    host, host_inbox = await room.join("Hana", host=True)
    sam, sam_inbox = await room.join("Sam", url=proxy.url)
    data = pdf(6_000_000)
    event = await shared_event(host_inbox, host.share_file("big.pdf", data), timeout=30)
    await sam_inbox.wait_type(FileShared, file=event.file)
    sam.fetch_file(event.file)
    await sam_inbox.wait_for(
        lambda e: isinstance(e, DownloadProgress) and e.received >= 0.3 * len(data), timeout=20
    )
    proxy.refusing = True
    proxy.cut()
    await sam_inbox.wait_type(Reconnecting)
    proxy.refusing = False
    fetched = await sam_inbox.wait_type(FileFetched, timeout=30, file=event.file)
    assert fetched.data == data
    received = [e.received for e in sam_inbox.events if isinstance(e, DownloadProgress)]
    assert received == sorted(received)  # never from the start again
    assert not [e for e in sam_inbox.events if isinstance(e, FetchFailed)]


async def test_a_cancelled_upload_is_never_shared(room: RoomHarness) -> None:
    _host, host_inbox = await room.join("Hana", host=True)
    sam, sam_inbox = await room.join("Sam")
    upload_id = sam.share_file("big.pdf", pdf(8_000_000))
    await sam_inbox.wait_for(lambda e: isinstance(e, UploadProgress) and e.sent > 0, timeout=10)
    sam.cancel_upload(upload_id)
    failed = await sam_inbox.wait_type(UploadFailed, id=upload_id)
    assert failed.code == "cancelled"
    # Two more files after it go through: the cancelled one holds no place at the room.
    ids = [sam.share_file(f"small {n}.txt", b"small %d" % n) for n in range(2)]
    for later in ids:
        await shared_event(host_inbox, later)
    await sam.wait_sent()
    shared = {e.client_id for e in host_inbox.events if isinstance(e, FileShared)}
    assert shared == set(ids)


async def test_files_the_room_would_refuse_are_refused_before_anything_is_sent(
    make_room: RoomFactory,
) -> None:
    small = await make_room(max_file_bytes=1000)
    sam, _ = await small.join("Sam")
    with pytest.raises(FileRefused) as empty:
        sam.share_file("empty.txt", b"")
    assert empty.value.code == "file_empty"
    with pytest.raises(FileRefused) as large:
        sam.share_file("large.bin", bytes(1001))
    assert large.value.code == "file_too_large" and "at most 1,000 bytes" in str(large.value)

    off = await make_room(max_file_bytes=0)
    ana, _ = await off.join("Ana")
    with pytest.raises(FileRefused) as files_off:
        ana.share_file("a.txt", b"a")
    assert files_off.value.code == "files_off"
    assert sam.uploads == [] and ana.uploads == []


async def test_a_full_room_refuses_in_its_own_words(make_room: RoomFactory) -> None:
    room = await make_room(max_file_bytes=60_000, file_budget_bytes=100_000)
    sam, sam_inbox = await room.join("Sam")
    first = sam.share_file("one.bin", os.urandom(60_000))
    await shared_event(sam_inbox, first)
    second = sam.share_file("two.bin", os.urandom(60_000))
    failed = await sam_inbox.wait_type(UploadFailed, id=second)
    assert failed.code == "storage_full" and failed.message  # the room's words
    assert sam.uploads == []


async def test_messages_typed_during_a_large_upload_are_not_held_behind_it(
    room: RoomHarness,
) -> None:
    _host, host_inbox = await room.join("Hana", host=True)
    sam, sam_inbox = await room.join("Sam")
    upload_id = sam.share_file("big.pdf", pdf(8_000_000))
    await sam_inbox.wait_for(lambda e: isinstance(e, UploadProgress) and e.sent > 0, timeout=10)
    sam.post("while it goes")
    said = await host_inbox.wait_type(MessagePosted, text="while it goes")
    event = await shared_event(host_inbox, upload_id, timeout=30)
    assert said.seq < event.seq  # the message did not wait for the file


async def test_download_says_why_it_got_nothing(room: RoomHarness) -> None:
    host, host_inbox = await room.join("Hana", host=True)
    sam, sam_inbox = await room.join("Sam")
    with pytest.raises(UnknownFile):
        await sam.download(FileId("f999"))
    event = await shared_event(host_inbox, host.share_file("big.pdf", pdf(4_000_000)))
    await sam_inbox.wait_type(FileShared, file=event.file)
    waiting = asyncio.create_task(sam.download(event.file))
    await sam_inbox.wait_type(DownloadProgress, file=event.file)
    sam.stop_fetch(event.file)
    with pytest.raises(DownloadFailed) as stopped:
        await waiting
    assert stopped.value.code == "cancelled"
