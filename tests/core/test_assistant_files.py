"""Files for the assistant, only with their senders' consent: reading PDFs and texts, choosing
what goes to which model, and end to end through a room with several real clients, the real
openai SDK and the fake OpenAI server, asserting the exact content parts it received."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import struct
import time
import zlib
from collections.abc import AsyncIterator, Callable

import pypdf
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.ai.desk import AssistantConfig
from core.ai.file_parts import (
    MAX_IMAGE_URL_BYTES,
    files_to_send,
    image_url_bytes,
    takes_images,
    unsent_notices,
)
from core.ai.file_text import MAX_PDF_PAGES, FileTextError, extract_text, was_cut
from core.ai.provider import ChatProvider, ProviderSettings
from core.ai.relay import RetryPolicy
from core.client import RoomClient
from core.filetypes import FileKind
from core.protocol import (
    AnswerFinished,
    AnswerStarted,
    FileId,
    FileShared,
    MessageId,
    Notice,
    ParticipantId,
)
from core.shared_files import SharedFile
from tests.conftest import Inbox, RoomFactory, RoomHarness
from tests.fake_openai import Fail, FakeOpenAI, Reply

# --------------------------------------------------------------------------- test files


def make_pdf(pages: list[str]) -> bytes:
    """A small valid PDF whose pages show ``pages`` in Helvetica (an empty string: a page
    with no text at all), written by hand: pypdf can copy and encrypt PDFs, not draw text."""
    count = len(pages)
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(count))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {count} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for index, text in enumerate(pages):
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = f"BT /F1 12 Tf 72 720 Td ({escaped}) Tj ET".encode() if text else b""
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> "
            + f"/Contents {5 + 2 * index} 0 R >>".encode()
        )
        objects.append(f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n".encode() + body + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return out.getvalue()


def encrypted(pdf: bytes, user_password: str) -> bytes:
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(pdf)))
    writer.encrypt(user_password, owner_password="owner-secret", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_png(width: int = 2, height: int = 2) -> bytes:
    """A valid RGB PNG of ``width`` x ``height`` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + bytes([200, 30, 30]) * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def shared(
    file_id: str, name: str, data: bytes, *, kind: FileKind, mime: str, seq: int = 1,
    assistant: bool = True, text: str | None = None, problem: str | None = None,
) -> SharedFile:  # fmt: skip
    return SharedFile(
        id=FileId(file_id), seq=seq, ts=0.0, author=ParticipantId("p2"), author_name="Sam",
        client_id=MessageId(f"c-{file_id}"), name=name, mime=mime, kind=kind,
        assistant=assistant, sha256=hashlib.sha256(data).hexdigest(), data=data, text=text,
        text_problem=problem,
    )  # fmt: skip


# --------------------------------------------------------------------------- reading texts


def test_a_text_file_is_read_as_utf8_with_a_bom_and_broken_bytes_replaced() -> None:
    data = "\ufeffCafé menu\n".encode() + b"bad \xff byte"
    assert extract_text(data, "text", max_chars=1000) == "Café menu\nbad \ufffd byte"


def test_a_long_text_is_cut_with_a_note_saying_how_much() -> None:
    text = extract_text(b"x" * 5000, "text", max_chars=1000)
    assert text == "x" * 1000 + "\n\n[... cut: 4,000 characters left out]"
    assert was_cut(text) and not was_cut("x" * 1000)


def test_a_pdf_is_read_page_by_page() -> None:
    pdf = make_pdf(["Hotel (harbour view)", "", "Ferry at 9:40"])
    assert extract_text(pdf, "pdf", max_chars=10_000) == "Hotel (harbour view)\n\nFerry at 9:40"


def test_a_long_pdf_is_cut_at_max_chars_and_later_pages_are_not_read() -> None:
    pdf = make_pdf([f"page {n} " + "words " * 20 for n in range(1, 11)])
    text = extract_text(pdf, "pdf", max_chars=300)
    body, note = text.split("\n\n[... cut: ")
    assert len(body) == 300 and body.startswith("page 1 words")
    assert note == "the rest of page 3 and pages 4 to 10 left out]"


def test_pages_past_the_page_limit_are_left_out() -> None:
    pdf = make_pdf([f"p{n}" for n in range(1, MAX_PDF_PAGES + 6)])
    text = extract_text(pdf, "pdf", max_chars=1_000_000)
    assert text.startswith("p1\n\np2\n\n")
    assert text.endswith(
        f"p{MAX_PDF_PAGES}\n\n[... cut: pages {MAX_PDF_PAGES + 1} to {MAX_PDF_PAGES + 5} left out]"
    )


def test_an_encrypted_pdf_is_refused_unless_anyone_may_open_it() -> None:
    pdf = make_pdf(["Confidential plan"])
    with pytest.raises(FileTextError, match=r"^the PDF is encrypted$"):
        extract_text(encrypted(pdf, "open-sesame"), "pdf", max_chars=1000)
    # Encrypted with an empty user password: only printing or copying is restricted.
    assert extract_text(encrypted(pdf, ""), "pdf", max_chars=1000) == "Confidential plan"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(make_pdf(["Hello"])[:200], id="truncated"),
        pytest.param(b"%PDF-1.7\n" + bytes(range(256)) * 8, id="junk"),
        pytest.param(b"%PDF-", id="only-a-signature"),
        pytest.param(
            make_pdf(["Hello"]).replace(b"/Kids [4 0 R]", b"/Kids [2 0 R]"), id="page-tree-loop"
        ),
    ],
)
def test_a_malformed_pdf_is_a_clear_error(data: bytes) -> None:
    started = time.monotonic()
    with pytest.raises(FileTextError) as caught:
        extract_text(data, "pdf", max_chars=1000)
    assert str(caught.value) in (
        "the PDF could not be read",
        "the PDF has no text (only scans or images)",
    )
    assert time.monotonic() - started < 5


def test_a_pdf_that_lies_about_its_page_count_is_read_for_what_it_has() -> None:
    pdf = make_pdf(["Hello"]).replace(b"/Count 1", b"/Count 99999999")
    assert extract_text(pdf, "pdf", max_chars=1000) == "Hello"


def test_a_pdf_without_a_text_layer_says_so() -> None:
    with pytest.raises(FileTextError, match=r"^the PDF has no text \(only scans or images\)$"):
        extract_text(make_pdf(["", ""]), "pdf", max_chars=1000)


def test_kinds_without_text_are_refused() -> None:
    for kind in ("image", "program", "other"):
        with pytest.raises(FileTextError, match="has no text"):
            extract_text(make_png(), kind, max_chars=1000)


_VALID_PDF = make_pdf(["Alpha beta", "Gamma delta"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.integers(0, len(_VALID_PDF) - 1), st.binary(min_size=0, max_size=8)),
        min_size=1,
        max_size=6,
    )
)
def test_a_damaged_pdf_gives_text_or_a_file_text_error_and_nothing_else(
    edits: list[tuple[int, bytes]],
) -> None:
    data = bytearray(_VALID_PDF)
    for offset, replacement in edits:
        data[offset : offset + len(replacement)] = replacement
    try:
        text = extract_text(bytes(data), "pdf", max_chars=1000)
    except FileTextError as error:
        assert str(error)
    else:
        assert len(text) <= 1000 + 100


# --------------------------------------------------------------------------- what goes where


@pytest.mark.parametrize(
    ("model", "takes"),
    [
        ("gpt-4o", True),
        ("gpt-4o-mini", True),
        ("gpt-4.1-nano", True),
        ("gpt-5-mini", True),
        ("o3", True),
        ("o4-mini", True),
        ("chatgpt-4o-latest", True),
        ("llava:13b", True),
        ("llama3.2-vision:11b", True),
        ("qwen2.5vl:7b", True),
        ("gemma3:4b", True),
        ("minicpm-v", True),
        ("openrouter/google/gemini-2.0-flash", True),
        ("o1-mini", False),
        ("o3-mini", False),
        ("gpt-4o-audio-preview", False),
        ("gpt-4o-mini-search-preview", False),
        ("gpt-3.5-turbo", False),
        ("gpt-4", False),
        ("llama3.2", False),
        ("gemma3:1b", False),
        ("mistral", False),
    ],
)
def test_which_models_take_images(model: str, takes: bool) -> None:
    assert takes_images(model) is takes


def test_only_files_the_model_can_use_go_and_the_others_are_named_in_notices() -> None:
    png = make_png()
    files = [
        shared("f1", "photo.png", png, kind="image", mime="image/png", seq=1),
        shared("f2", "scan.bmp", b"BM" + bytes(60), kind="image", mime="image/bmp", seq=2),
        shared("f3", "notes.txt", b"hello", kind="text", mime="text/plain", seq=3),
        shared("f4", "plan.pdf", b"%PDF-", kind="pdf", mime="application/pdf", seq=4),
        shared("f5", "locked.pdf", b"%PDF-", kind="pdf", mime="application/pdf", seq=5,
               problem="the PDF is encrypted"),
        shared("f6", "read.pdf", b"%PDF-", kind="pdf", mime="application/pdf", seq=6,
               text="the text"),
        shared("f7", "tool.sh", b"#!/bin/sh\n", kind="program", mime="text/x-script", seq=7),
        shared("f8", "song.mp3", b"ID3", kind="other", mime="audio/mpeg", seq=8),
        shared("f9", "private.txt", b"secret", kind="text", mime="text/plain", seq=9,
               assistant=False),
    ]  # fmt: skip
    assert [f.id for f in files_to_send(files, "gpt-4o")] == ["f1", "f3", "f6"]
    assert [(n.file, n.code, n.text) for n in unsent_notices(files, "gpt-4o")] == [
        ("f2", "file_not_sent", '"scan.bmp" was not sent to the assistant: the AI provider does '
         "not take BMP images (only PNG, JPEG, GIF and WebP)."),
        ("f4", "file_not_sent",
         '"plan.pdf" was not sent to the assistant: its text was still being read.'),
        ("f5", "file_not_sent", '"locked.pdf" was not sent to the assistant: the assistant could '
         "not read it (the PDF is encrypted)."),
        ("f7", "file_not_sent",
         '"tool.sh" was not sent to the assistant: the assistant does not read programs or '
         "scripts."),
        ("f8", "file_not_sent", '"song.mp3" was not sent to the assistant: the assistant cannot '
         "read this type of file (audio/mpeg)."),
    ]  # fmt: skip
    assert [f.id for f in files_to_send(files, "llama3.2")] == ["f3", "f6"]
    assert [f.id for f in files_to_send(files, "gpt-4o", refused={FileId("f1")})] == ["f3", "f6"]


def test_images_too_large_for_the_provider_stay_behind() -> None:
    # 15 MB of image takes a data URL of 20 MB: over what providers take for one image.
    big = b"\x89PNG\r\n\x1a\n" + bytes(15_000_000)
    files = [shared("f1", "huge.png", big, kind="image", mime="image/png")]
    assert files_to_send(files, "gpt-4o") == ()
    [notice] = unsent_notices(files, "gpt-4o")
    assert notice.text == (
        '"huge.png" was not sent to the assistant: the image is larger than the AI provider '
        "accepts."
    )
    # Several images within the limit each, but over what one request carries: the newest go.
    part = b"\x89PNG\r\n\x1a\n" + bytes(9_000_000)  # a data URL of 12 MB
    assert image_url_bytes(shared("f0", "0.png", part, kind="image", mime="image/png")) < (
        MAX_IMAGE_URL_BYTES
    )
    several = [
        shared(f"f{n}", f"{n}.png", part, kind="image", mime="image/png", seq=n)
        for n in range(1, 6)
    ]
    assert [f.id for f in files_to_send(several, "gpt-4o")] == ["f2", "f3", "f4", "f5"]
    assert [n.file for n in unsent_notices(several, "gpt-4o")] == ["f1"]


# --------------------------------------------------------------------------- end to end

API_KEY = "sk-test-SECRETKEY-0123456789-abcd"
SECRET = "SECRET-PAYROLL-7f3a9c"  # in a file shared without consent: must never reach the AI


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


async def ai_room(make_room: RoomFactory, fake: FakeOpenAI, model: str) -> RoomHarness:
    settings_ = ProviderSettings.from_preset(
        "compatible", model=model, base_url=fake.base_url, api_key=API_KEY,
        request_timeout=10.0, connect_timeout=1.0,
    )  # fmt: skip
    config = AssistantConfig(model=model, provider=settings_.label, provider_kind=settings_.kind)
    return await make_room(
        name="Trip planning", assistant=config, provider=ChatProvider(settings_),
        relay_options={"retry": RetryPolicy(max_attempts=3, base_delay=0.05)},
    )  # fmt: skip


async def eventually(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Until ``predicate()`` holds (checked every few milliseconds), as qtbot.waitUntil does."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


async def share(
    room: RoomHarness, sender: tuple[RoomClient, Inbox], others: list[Inbox],
    name: str, data: bytes, *, assistant: bool,
) -> FileShared:  # fmt: skip
    """Share a file and wait until everyone has its event and the room has read its text."""
    upload = sender[0].share_file(name, data, assistant=assistant)
    event = await sender[1].wait_type(FileShared, timeout=10.0, client_id=upload)
    for inbox in others:
        await inbox.wait_type(FileShared, timeout=10.0, file=event.file)

    def ready() -> bool:
        held = room.room.file(event.file)
        if held is None or not held.assistant or held.kind not in ("text", "pdf"):
            return True
        return held.text is not None or held.text_problem is not None

    await eventually(ready)
    return event


async def test_the_provider_gets_exactly_the_files_shared_with_it(
    make_room: RoomFactory, fake: FakeOpenAI
) -> None:
    room = await ai_room(make_room, fake, "gpt-4o-mini")
    host = await room.join("Hana", host=True)
    sam = await room.join("Sam")
    bob = await room.join("Bob")
    everyone = [host[1], sam[1], bob[1]]
    png = make_png()
    notes = b"# Packing\n- towel\n- sunscreen\n"
    pdf = make_pdf(["Ferry timetable", "Departs 9:40 daily"])
    secret = f"name,salary\nBob,{SECRET}\n".encode()
    photo = await share(room, sam, everyone, "beach.png", png, assistant=True)
    await sam[0].send("and the list")
    listed = await share(room, sam, everyone, "packing.md", notes, assistant=True)
    hidden = await share(room, bob, everyone, "payroll.csv", secret, assistant=False)
    timetable = await share(room, bob, everyone, "ferry.pdf", pdf, assistant=True)
    script = await share(room, bob, everyone, "setup.sh", b"#!/bin/sh\necho hi\n", assistant=True)
    fake.script(Reply(["Looks", " great"]))
    await host[0].send("@assistant what do you make of these?")

    for inbox in everyone:
        final = await inbox.wait_type(AnswerFinished, timeout=10.0)
        assert final.status == "complete"
    started = next(e for e in bob[1].events if isinstance(e, AnswerStarted))
    assert started.files == (photo.file, listed.file, timetable.file)

    [request] = fake.chat_requests
    assert SECRET.encode() not in request.body and b"payroll" not in request.body
    assert base64.b64encode(secret).decode().encode() not in request.body
    assert request.json is not None
    turns = request.json["messages"][1:]
    png_url = "data:image/png;base64," + base64.b64encode(png).decode()
    assert turns == [
        {"role": "user", "content": [
            {"type": "text", "text": "Image beach.png (shared by Sam):"},
            {"type": "image_url", "image_url": {"url": png_url}},
        ]},
        {"role": "user", "content": "Sam: and the list"},
        {"role": "user", "content": [
            {"type": "text", "text": "File packing.md (shared by Sam):\n" + notes.decode()},
        ]},
        {"role": "user", "content": [
            {"type": "text",
             "text": "File ferry.pdf (shared by Bob):\nFerry timetable\n\nDeparts 9:40 daily"},
        ]},
        {"role": "user",
         "content": "Bob: [shared the file setup.sh; its contents are not shown to you]"},
        {"role": "user", "content": "Hana: @assistant what do you make of these?"},
    ]  # fmt: skip

    for inbox in everyone:
        notice = await inbox.wait_type(Notice, code="file_not_sent")
        assert notice.text == (
            '"setup.sh" was not sent to the assistant: the assistant does not read programs or '
            "scripts."
        )
    assert hidden.file not in started.files and script.file not in started.files

    # A second question sends the files again, but does not repeat the notice.
    fake.script(Reply(["Sure"]))
    await sam[0].send("@assistant and the ferry?")
    await host[1].wait_type(AnswerFinished, text="Sure", timeout=10.0)
    assert len(fake.chat_requests) == 2
    assert SECRET.encode() not in fake.chat_requests[1].body
    assert png_url.encode() in fake.chat_requests[1].body
    notices = [e for e in host[1].events if isinstance(e, Notice) and e.code == "file_not_sent"]
    assert len(notices) == 1


async def test_an_image_for_a_model_without_vision_gets_a_notice(
    make_room: RoomFactory, fake: FakeOpenAI
) -> None:
    room = await ai_room(make_room, fake, "llama3.2")
    host = await room.join("Hana", host=True)
    sam = await room.join("Sam")
    photo = await share(room, sam, [host[1]], "beach.png", make_png(), assistant=True)
    fake.script(Reply(["I cannot see it"]))
    await sam[0].send("@assistant what is in the photo?")
    final = await host[1].wait_type(AnswerFinished, timeout=10.0)
    assert final.status == "complete"
    started = next(e for e in host[1].events if isinstance(e, AnswerStarted))
    assert started.files == ()
    notice = await host[1].wait_type(Notice, code="file_not_sent")
    assert notice.level == "warning"
    assert notice.text == (
        '"beach.png" was not sent to the assistant: the model llama3.2 is not known to take images.'
    )
    [request] = fake.chat_requests
    assert b"image_url" not in request.body and b"base64" not in request.body
    assert request.json is not None
    assert request.json["messages"][1] == {
        "role": "user",
        "content": "Sam: [shared the file beach.png; its contents are not shown to you]",
    }
    assert photo.assistant


async def test_images_the_provider_refuses_are_left_out_once_and_for_all(
    make_room: RoomFactory, fake: FakeOpenAI
) -> None:
    room = await ai_room(make_room, fake, "gpt-4o-mini")
    host = await room.join("Hana", host=True)
    sam = await room.join("Sam")
    photo_id = (await share(room, sam, [host[1]], "beach.png", make_png(), assistant=True)).file
    fake.script(
        Fail(400, None, "Invalid content type. image_url is only supported by certain models."),
        Reply(["Without the picture, then"]),
    )
    await sam[0].send("@assistant what is in the photo?")
    final = await host[1].wait_type(AnswerFinished, timeout=10.0)
    assert (final.status, final.text) == ("complete", "Without the picture, then")
    first, second = fake.chat_requests
    assert b"image_url" in first.body and b"image_url" not in second.body
    notice = await host[1].wait_type(Notice, code="file_not_sent")
    assert notice.text == (
        '"beach.png" was not sent to the assistant: the AI provider refused it (the model '
        "gpt-4o-mini may not take images like it)."
    )
    fake.script(Reply(["Again without it"]))
    await sam[0].send("@assistant and now?")
    await host[1].wait_type(AnswerFinished, text="Again without it", timeout=10.0)
    assert len(fake.chat_requests) == 3 and b"image_url" not in fake.chat_requests[2].body
    # The first answer listed the image (it went, and was refused); the next one does not,
    # so nobody's app marks it "Sent to" for an answer it was never part of.
    started = [e for e in host[1].events if isinstance(e, AnswerStarted)]
    assert [s.files for s in started] == [(photo_id,), ()]


async def test_a_context_error_that_mentions_images_does_not_count_them_refused(
    make_room: RoomFactory, fake: FakeOpenAI
) -> None:
    room = await ai_room(make_room, fake, "gpt-4o-mini")
    host = await room.join("Hana", host=True)
    sam = await room.join("Sam")
    await share(room, sam, [host[1]], "beach.png", make_png(), assistant=True)
    fake.script(
        Fail(400, None, "This model's maximum context length is 8192 tokens. However, your "
             "messages resulted in 9000 tokens (including 765 in the image input)."),
        Reply(["Fine"]),
    )  # fmt: skip
    await sam[0].send("@assistant what is in the photo?")
    final = await host[1].wait_type(AnswerFinished, timeout=10.0)
    assert (final.status, final.text) == ("complete", "Fine")
    # Halving what was sent leaves the image out of the second request (it is most of it), but
    # as too big for the model's context, not as refused: it can go with a later question.
    first, second = fake.chat_requests
    assert b"image_url" in first.body and b"image_url" not in second.body
    notices = [
        e.text for e in host[1].events if isinstance(e, Notice) and e.code == "file_not_sent"
    ]
    assert not any("refused" in text for text in notices)


async def test_a_pdf_the_room_cannot_read_is_named_in_a_notice(
    make_room: RoomFactory, fake: FakeOpenAI
) -> None:
    room = await ai_room(make_room, fake, "gpt-4o-mini")
    host = await room.join("Hana", host=True)
    sam = await room.join("Sam")
    locked = encrypted(make_pdf(["Salaries 2025"]), "open-sesame")
    await share(room, sam, [host[1]], "salaries.pdf", locked, assistant=True)
    fake.script(Reply(["I could not read it"]))
    await sam[0].send("@assistant summarise the PDF")
    await host[1].wait_type(AnswerFinished, timeout=10.0)
    notice = await host[1].wait_type(Notice, code="file_not_sent")
    assert notice.text == (
        '"salaries.pdf" was not sent to the assistant: the assistant could not read it (the '
        "PDF is encrypted)."
    )
    started = next(e for e in host[1].events if isinstance(e, AnswerStarted))
    assert started.files == ()
    [request] = fake.chat_requests
    assert b"Salaries 2025" not in request.body
