"""Files in the app: attaching by button, drop and paste, each asked about with the assistant's
box unticked; progress, cancel and save; images shown as thumbnails decoded with limits (a
PNG bomb and a truncated JPEG say why they are not shown, and the window stays responsive);
the host's file limits; Tab reaches the paper clip; file cards readable in the dark theme.

Real windows on real rooms on loopback (:mod:`tests.desktop.flows`); a plain
:class:`core.client.RoomClient` plays a guest who sends what the app would never make."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import stat
import struct
import threading
import time
import zlib
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from PySide6.QtCore import (
    QBuffer,
    QByteArray,
    QIODevice,
    QMimeData,
    QPoint,
    QPointF,
    QSize,
    Qt,
    QTimer,
    QUrl,
)
from PySide6.QtGui import (
    QColor,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QImage,
    QImageWriter,
)
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QFileDialog
from pytestqt.qtbot import QtBot

from core.ai.desk import AssistantConfig
from core.ai.provider import ProviderSettings
from core.client import FileFetched, FileQueued, RoomClient, UploadFailed
from core.codec import serialize
from core.protocol import (
    AssistantInfo,
    FileId,
    FileShared,
    MessageId,
    ParticipantId,
    ParticipantInfo,
)
from core.room import RoomConfig
from core.transcript import Entry
from desktop import file_preview, theme
from desktop.attachments import (
    ASSISTANT_CHOICE,
    PASTED_IMAGE_NAME,
    AttachmentProblem,
    ShareFileDialog,
    read_attachment,
    size_words,
)
from desktop.chat_page import ChatPage
from desktop.composer import Composer
from desktop.delegate import MessageDelegate
from desktop.file_preview import THUMBNAIL, PreviewError, decode_thumbnail
from desktop.host_dialog import HostDialog
from desktop.main_window import MainWindow
from desktop.models import AUTO_FETCH_IMAGE_BYTES, FileCard, MessageListModel
from desktop.session import RoomSession
from desktop.settings import KeyStore, Preferences
from tests.desktop.conftest import answer_dialog, until
from tests.desktop.flows import hosted, joined, room_url, texts, unfenced
from tests.desktop.hostile_room import RewritingRelay
from tests.desktop.test_theme import text_contrast
from tests.fake_openai import FakeOpenAI, Reply

OPENAI = AssistantInfo("assistant", "OpenAI", "cloud", "gpt-4o", "mention")


# -------------------------------------------------------------------- images to share


def encoded(image: QImage, fmt: str, *, progressive: bool = False) -> bytes:
    array = QByteArray()
    buffer = QBuffer(array)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QImageWriter(buffer, fmt.encode())
    writer.setProgressiveScanWrite(progressive)
    assert writer.write(image), writer.errorString()
    return bytes(array.data())


def picture(width: int = 640, height: int = 480, fmt: str = "png") -> bytes:
    """A real image: red, with a blue square in its top left quarter."""
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor("#c62828"))
    for x in range(width // 4):
        for y in range(height // 4):
            image.setPixelColor(x, y, QColor("#1565c0"))
    return encoded(image, fmt)


def png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A PNG whose header claims ``width`` by ``height`` pixels (3.6 GB decoded at 30,000²),
    in a few hundred bytes: its data is a few rows of zeros, compressed."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\0" * (3 * width + 1) * 4, 9)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def truncated_jpeg() -> bytes:
    whole = picture(640, 480, "jpeg")
    return whole[: len(whole) // 2]


# -------------------------------------------------------------------- decoding with limits


def test_a_real_image_becomes_a_thumbnail_that_fits_and_keeps_its_look(qapp: object) -> None:
    image = decode_thumbnail(picture(640, 480))
    assert image.size() == QSize(320, 240)
    assert image.pixelColor(10, 10).name() == "#1565c0"  # the blue corner, where it was
    assert image.pixelColor(300, 200).name() == "#c62828"
    small = decode_thumbnail(picture(40, 30, "jpeg"))
    assert small.size() == QSize(40, 30)  # never enlarged
    photo = decode_thumbnail(picture(4000, 3000, "jpeg"))  # scaled as it is read
    assert photo.size() == QSize(320, 240)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (png_bomb(), "it is 30,000 by 30,000 pixels, too large to show"),
        (png_bomb(11_000, 11_000), "it is 11,000 by 11,000 pixels, too large to show"),
        (truncated_jpeg(), "the file is incomplete (it ends before the image does)"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "its size cannot be read: the file is damaged"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'><image href='file:///etc/passwd'/></svg>",
         "it is not a PNG, JPEG, GIF, WebP or BMP image"),
        (b"", "it is not a PNG, JPEG, GIF, WebP or BMP image"),
    ],
    ids=["png-bomb", "just-over-the-memory", "truncated-jpeg", "damaged-png", "svg", "empty"],
)  # fmt: skip
def test_an_image_that_cannot_be_shown_says_why_and_nothing_else(
    qapp: object, data: bytes, why: str
) -> None:
    """Refused before decoding (the bomb never gets an allocation: Qt would warn, and a
    warning fails the test), and a JPEG cut short is not shown half grey."""
    with pytest.raises(PreviewError) as refused:
        decode_thumbnail(data)
    assert str(refused.value) == why


def test_a_progressive_jpeg_gets_the_plain_memory_limit(qapp: object) -> None:
    big = QImage(8000, 6000, QImage.Format.Format_RGB32)
    big.fill(QColor("#1565c0"))
    assert decode_thumbnail(encoded(big, "jpeg")).size() == QSize(320, 240)
    with pytest.raises(PreviewError, match="8,000 by 6,000 pixels"):
        decode_thumbnail(encoded(big, "jpeg", progressive=True))


# -------------------------------------------------------------------- reading a file


def test_a_file_is_read_only_within_the_rooms_limit(tmp_path: Path) -> None:
    exact = tmp_path / "exact.bin"
    exact.write_bytes(b"x" * 1000)
    assert read_attachment(exact, 1000) == b"x" * 1000
    over = tmp_path / "over.bin"
    over.write_bytes(b"x" * 1001)
    with pytest.raises(
        AttachmentProblem, match="1,001 bytes: this room takes files up to 1,000 bytes"
    ):
        read_attachment(over, 1000)
    empty = tmp_path / "empty.txt"
    empty.touch()
    with pytest.raises(AttachmentProblem, match="is empty: there is nothing to share"):
        read_attachment(empty, 1000)
    with pytest.raises(AttachmentProblem, match="does not accept files"):
        read_attachment(exact, 0)
    with pytest.raises(AttachmentProblem, match="could not be read"):
        read_attachment(tmp_path / "gone.txt", 1000)


def test_an_endless_device_is_refused_without_reading_it() -> None:
    """/dev/zero has no size and no end: it is not a file to share (reading it would never
    stop), and it is refused at once."""
    with pytest.raises(AttachmentProblem, match="is not a file that can be shared"):
        read_attachment(Path("/dev/zero"), 10 * 1000 * 1000)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this system")
def test_a_named_pipe_is_refused_at_once_without_waiting_for_a_writer(tmp_path: Path) -> None:
    """Opening a named pipe the usual way waits until something writes to it: the file
    would never come, and the share with it. It is refused at once instead."""
    fifo = tmp_path / "notes.txt"
    os.mkfifo(fifo)
    with ThreadPoolExecutor(1) as pool:
        reading = pool.submit(read_attachment, fifo, 1000)
        try:
            problem = reading.exception(timeout=10)
        except TimeoutError:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # let the reader go
            pytest.fail("reading a named pipe waited for a writer")
    assert isinstance(problem, AttachmentProblem)
    assert "is not a file that can be shared" in str(problem)


def test_sizes_read_in_the_units_the_host_sets_limits_in() -> None:
    assert [size_words(n) for n in (1, 999, 79_000, 10_000_000, 250_000_000)] == [
        "1 byte", "999 bytes", "79 KB", "10 MB", "250 MB",
    ]  # fmt: skip


# -------------------------------------------------------------------- the question


def test_the_question_starts_unticked_says_where_it_goes_and_cancel_is_the_default(
    qtbot: QtBot,
) -> None:
    dialog = ShareFileDialog("notes.md", b"# Plan\n\nBuy bread.\n", OPENAI)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.assistant_box is not None
    assert dialog.assistant_box.text() == ASSISTANT_CHOICE
    assert not dialog.assistant_box.isChecked() and not dialog.assistant_allowed()
    assert unfenced(dialog.assistant_note.text()) == (
        "Ticked, its contents go to OpenAI (gpt-4o) with the conversation when someone asks "
        "the assistant."
    )
    assert "notes.md" in dialog.heading.text()
    assert unfenced(dialog.details.text()) == "19 bytes · text"
    assert dialog.cancel_button.isDefault() and not dialog.share_button.isDefault()
    assert dialog.buttons.buttonRole(dialog.share_button) == (
        QDialogButtonBox.ButtonRole.AcceptRole
    )
    dialog.assistant_box.setChecked(True)
    assert dialog.assistant_allowed()


def test_without_an_assistant_there_is_no_box_and_the_question_says_so(qtbot: QtBot) -> None:
    dialog = ShareFileDialog("plan.pdf", b"%PDF-1.7\n...", None)
    qtbot.addWidget(dialog)
    assert dialog.assistant_box is None and not dialog.assistant_allowed()
    assert dialog.assistant_note.text() == (
        "This room has no assistant: the file goes only to the people here."
    )


def test_a_program_gets_no_box_and_a_warning_whatever_its_name(qtbot: QtBot) -> None:
    dialog = ShareFileDialog("invoice.pdf", b"MZ\x90\x00" + b"\0" * 60, OPENAI)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.assistant_box is None
    assert "cannot read this type of file" in dialog.assistant_note.text()
    assert dialog.program_note.isVisible()
    assert dialog.details.text() == "64 bytes · program or script"


async def test_an_image_is_previewed_in_the_question(qtbot: QtBot) -> None:
    dialog = ShareFileDialog("pasted image.png", picture(640, 480), OPENAI)
    qtbot.addWidget(dialog)
    dialog.show()
    await until(lambda: not dialog.preview.pixmap().isNull(), what="the preview")
    assert dialog.preview.pixmap().size() == QSize(160, 120)
    bomb = ShareFileDialog("bomb.png", png_bomb(), OPENAI)
    qtbot.addWidget(bomb)
    bomb.show()
    await until(bomb.preview.isVisible, what="why there is no preview")
    assert bomb.preview.text() == (
        "This image cannot be shown: it is 30,000 by 30,000 pixels, too large to show."
    )


# -------------------------------------------------------------------- pasting


def test_pasting_an_image_or_files_does_not_put_text_in_the_box(
    qtbot: QtBot, tmp_path: Path
) -> None:
    composer = Composer()
    qtbot.addWidget(composer)
    images: list[QImage] = []
    files: list[list[Path]] = []
    composer.image_pasted.connect(images.append)
    composer.files_pasted.connect(files.append)

    pasted = QMimeData()
    pasted.setImageData(QImage.fromData(picture(64, 48)))  # a screenshot on the clipboard
    composer.insertFromMimeData(pasted)
    assert len(images) == 1 and images[0].size() == QSize(64, 48)

    document = tmp_path / "plan.txt"
    document.write_text("plan")
    copied = QMimeData()  # a file copied in a file manager: its address and its path
    copied.setUrls([QUrl.fromLocalFile(str(document))])
    copied.setText(str(document))
    assert composer.canInsertFromMimeData(copied)
    composer.insertFromMimeData(copied)
    assert files == [[document]]

    both = QMimeData()  # text that comes with a picture of itself (a spreadsheet's cells)
    both.setText("A1 B1")
    both.setImageData(QImage.fromData(picture(64, 48)))
    composer.insertFromMimeData(both)
    assert composer.toPlainText() == "A1 B1" and len(images) == 1
    assert composer.toPlainText() == "A1 B1"


# -------------------------------------------------------------------- the host's limits


def test_the_host_sets_the_largest_file_and_the_memory_for_files(
    qtbot: QtBot, prefs: Preferences, keys: KeyStore
) -> None:
    dialog = HostDialog(prefs, keys)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.max_file.value() == 10 and dialog.file_memory.value() == 200
    assert dialog.file_limits() == (10_000_000, 200_000_000)
    dialog.max_file.setValue(0)
    assert dialog.max_file.text() == "No files" and not dialog.file_memory.isEnabled()
    assert dialog.file_limits()[0] == 0
    dialog.max_file.setValue(50)
    dialog.file_memory.setValue(20)  # below the largest file: it cannot go there
    assert dialog.file_limits() == (50_000_000, 50_000_000)


# -------------------------------------------------------------------- in a room


@pytest.fixture
async def fake() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as server:
        yield server


async def ai_window(prefs: Preferences, keys: KeyStore, cleanup: list[Any], fake: FakeOpenAI,
                    max_file_bytes: int | None = None) -> MainWindow:  # fmt: skip
    """A window hosting a room whose assistant is OpenAI's gpt-4o (the fake server)."""
    settings = ProviderSettings.from_preset(
        "openai", model="gpt-4o", base_url=fake.base_url, api_key="sk-test"
    )
    config = RoomConfig(name="Files", assistant=AssistantConfig(
        model="gpt-4o", provider="OpenAI", provider_kind="cloud"),
        max_file_bytes=max_file_bytes)  # fmt: skip
    window = MainWindow(prefs=prefs, keys=keys, discover=False)
    cleanup.append(window)
    host = await window._open(config, settings)
    assert host is not None
    client = RoomClient(host.local_url(), "Ana", host_key=host.host_key)
    window._enter(RoomSession(client, await client.connect(), host=host))
    window.show()
    return window


def page_of(window: MainWindow) -> ChatPage:
    assert window.chat is not None
    return window.chat


def files(window: MainWindow) -> list[Entry]:
    return [e for e in page_of(window).model.transcript.entries if e.kind == "file"]


def shared(window: MainWindow, name: str) -> Entry | None:
    """The row of the file shared as ``name`` (once the room has it), if any."""
    return next((e for e in files(window) if e.file_name == name and e.file), None)


def card_of(window: MainWindow, name: str) -> FileCard:
    entry = shared(window, name) or next(e for e in files(window) if e.file_name == name)
    return page_of(window).model.card(entry)


def thumbnail_of(window: MainWindow, name: str) -> QImage | None:
    """The thumbnail shown for the file shared as ``name`` (None: none, or no such file)."""
    entry = shared(window, name)
    return page_of(window).model.card(entry).thumbnail if entry is not None else None


def notes(window: MainWindow, name: str) -> list[str]:
    """The lines under the file shared as ``name`` (none while there is no such file)."""
    entry = shared(window, name) or next((e for e in files(window) if e.file_name == name), None)
    if entry is None:
        return []
    return [unfenced(text) for _look, text in page_of(window).model.card(entry).notes]


@dataclass
class Question:
    """What a "Share a file" question showed."""

    box: bool  # it had the box "Let the assistant read this file"
    note: str
    cancel_is_default: bool


def answer_share(*, assistant: bool = False, share: bool = True,
                 seen: list[Question] | None = None) -> None:  # fmt: skip
    """Answer the next "Share a file" question: tick the assistant's box or not, then Share
    or Cancel."""

    def act(dialog: ShareFileDialog) -> None:
        if seen is not None:
            seen.append(Question(dialog.assistant_box is not None,
                                 unfenced(dialog.assistant_note.text()),
                                 dialog.cancel_button.isDefault()))  # fmt: skip
        assert not dialog.assistant_allowed()  # unticked, every time
        if assistant:
            assert dialog.assistant_box is not None
            dialog.assistant_box.setChecked(True)
        (dialog.share_button if share else dialog.cancel_button).click()

    answer_dialog(ShareFileDialog, act)


async def test_a_file_attached_by_button_goes_to_the_assistant_only_when_ticked(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], fake: FakeOpenAI, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    host = await ai_window(prefs, keys, cleanup, fake)
    guest = await joined(room_url(host), "Sam", prefs, keys, cleanup)
    page = page_of(host)
    private, public = tmp_path / "salaries.csv", tmp_path / "menu.md"
    private.write_text("name,salary\nAna,1\n")
    public.write_text("# Menu\n\nSoup, bread.\n")
    chosen = [[str(private)], [str(public)]]
    monkeypatch.setattr(QFileDialog, "getOpenFileNames",
                        staticmethod(lambda *_a, **_k: (chosen.pop(0), "")))  # fmt: skip
    questions: list[Question] = []
    answer_share(seen=questions)  # the box left as it is: unticked
    page.attach_button.click()
    await until(lambda: shared(guest, "salaries.csv") is not None, what="the first file")
    answer_share(assistant=True, seen=questions)
    page.attach_button.click()
    await until(lambda: shared(guest, "menu.md") is not None, what="the second file")

    assert len(questions) == 2
    assert all(q.box and q.cancel_is_default for q in questions)
    assert questions[0].note == (
        "Ticked, its contents go to OpenAI (gpt-4o) with the conversation when someone asks "
        "the assistant."
    )
    first, second = shared(guest, "salaries.csv"), shared(guest, "menu.md")
    assert first is not None and second is not None
    assert not first.assistant and second.assistant  # what the room was told, for everyone
    assert (first.author, first.file_kind, first.size) == ("Ana", "text", 18)
    assert "Its sender lets the assistant read it." in notes(guest, "menu.md")

    fake.script(Reply(["Soup ", "it is."]))
    page_of(guest).send("@assistant what is on the menu?")
    await until(lambda: any("Sent to" in n for n in notes(guest, "menu.md")), what="the badge")
    await fake.wait_requests(1)
    request = json.dumps(fake.chat_requests[-1].json)
    assert "Soup, bread." in request and "salary" not in request  # without consent: never
    assert "Sent to OpenAI / gpt-4o" in notes(guest, "menu.md")
    assert "Sent to OpenAI / gpt-4o" in notes(host, "menu.md")
    assert not any("Sent to" in n for n in notes(guest, "salaries.csv"))


async def test_a_dropped_file_that_is_cancelled_is_never_sent(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], tmp_path: Path
) -> None:
    host = await hosted(prefs, keys, cleanup)
    guest = await joined(room_url(host), "Sam", prefs, keys, cleanup)
    page = page_of(guest)
    dropped = tmp_path / "holiday.txt"
    dropped.write_text("not for everyone")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(dropped))])
    buttons, keys_held = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(QPoint(200, 200), Qt.DropAction.CopyAction, mime, buttons, keys_held)
    drop = QDropEvent(QPointF(200, 200), Qt.DropAction.CopyAction, mime, buttons, keys_held)
    questions: list[Question] = []
    answer_share(share=False, seen=questions)
    # Straight to the page: Qt delivers drop events only during a real drag.
    page.event(enter)
    assert enter.isAccepted()  # the pointer says it can be dropped
    page.event(drop)
    await until(lambda: bool(questions), what="the question")
    assert not questions[0].box  # a room without an assistant
    assert "no assistant" in questions[0].note
    page.send("after the drop")
    await until(lambda: "after the drop" in texts(page_of(host)))
    assert files(host) == [] and files(guest) == []  # nothing was sent, nothing shown


async def test_a_pasted_image_is_shared_and_shown_as_a_thumbnail(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    host = await hosted(prefs, keys, cleanup)
    guest = await joined(room_url(host), "Sam", prefs, keys, cleanup)
    page = page_of(guest)
    QGuiApplication.clipboard().setImage(QImage.fromData(picture(640, 480)))
    answer_share()
    page.composer.setFocus()
    page.composer.paste()  # Ctrl+V
    await until(lambda: thumbnail_of(host, PASTED_IMAGE_NAME) is not None,
                what="the thumbnail")  # fmt: skip
    assert page.composer.toPlainText() == ""
    thumbnail = thumbnail_of(host, PASTED_IMAGE_NAME)
    assert thumbnail is not None and thumbnail.size() == QSize(320, 240)
    assert thumbnail.pixelColor(10, 10).name() == "#1565c0"
    entry = shared(host, PASTED_IMAGE_NAME)
    assert entry is not None and entry.file_kind == "image" and not entry.assistant
    await until(lambda: thumbnail_of(guest, PASTED_IMAGE_NAME) is not None)
    # Drawn: the row is as tall as the thumbnail and the card under it.
    view = page_of(host).view
    row = page_of(host).model.index(page_of(host).model.transcript.index_of(entry.key) or 0)
    await until(lambda: view.visualRect(row).height() > 240, what="the row's new height")

    late = await joined(room_url(host), "Ben", prefs, keys, cleanup)  # from history
    await until(lambda: thumbnail_of(late, PASTED_IMAGE_NAME) is not None,
                what="a late joiner's thumbnail")  # fmt: skip


async def test_an_upload_shows_its_progress_and_can_be_cancelled(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    host = await hosted(prefs, keys, cleanup)
    guest = await joined(room_url(host), "Sam", prefs, keys, cleanup)
    page = page_of(guest)
    progress: list[float] = []

    def record(*_: object) -> None:
        for entry in files(guest):
            card = page.model.card(entry)
            if entry.file_name == "big.bin" and card.progress is not None:
                progress.append(card.progress)

    page.model.dataChanged.connect(record)
    data = os.urandom(8 * 1000 * 1000)
    answer_share()
    page.attach([("big.bin", data)])
    await until(lambda: shared(host, "big.bin") is not None, what="the big file")
    assert any(0 < p < 1 for p in progress), progress  # seen going up
    assert progress == sorted(progress)

    answer_share()
    page.attach([("second.bin", data)])
    await until(lambda: any(e.file_name == "second.bin" for e in files(guest)))
    sending = next(e for e in files(guest) if e.file_name == "second.bin")
    assert sending.pending and card_of(guest, "second.bin").actions == ("cancel",)
    page.view.file_action.emit(sending.key, "cancel")  # as its Cancel button does
    await until(lambda: not sending.pending, what="the cancel")
    assert sending.status == "cancelled"
    assert any(n.startswith("Not shared:") for n in notes(guest, "second.bin"))
    assert card_of(guest, "second.bin").actions == ()  # cancelled on purpose: no retry
    page.send("after the cancel")
    await until(lambda: "after the cancel" in texts(page_of(host)))
    assert [e.file_name for e in files(host)] == ["big.bin"]


async def test_a_bomb_and_a_broken_image_say_why_and_the_window_stays_responsive(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    host = await hosted(prefs, keys, cleanup)
    page = page_of(host)
    guest = RoomClient(room_url(host), "Mallory")
    await guest.connect()
    cleanup.append(SimpleNamespace(close=guest.leave))
    longest = [0.0]
    last = [time.monotonic()]

    def beat() -> None:  # the GUI thread's heartbeat: a frozen window would miss beats
        now = time.monotonic()
        longest[0] = max(longest[0], now - last[0])
        last[0] = now

    heart = QTimer()
    heart.timeout.connect(beat)
    heart.start(10)
    big = QImage(8000, 6000, QImage.Format.Format_RGB32)  # real, and slow to decode
    big.fill(QColor("#2e7d32"))
    guest.share_file("bomb.png", png_bomb())
    guest.share_file("cut.jpg", truncated_jpeg())
    await guest.wait_sent()
    guest.share_file("photo.jpg", encoded(big, "jpeg"))
    await until(lambda: notes(host, "bomb.png") and notes(host, "cut.jpg")
                and thumbnail_of(host, "photo.jpg") is not None,
                what="every image to be decoded or refused")  # fmt: skip
    heart.stop()
    assert notes(host, "bomb.png") == [
        "This image could not be shown: it is 30,000 by 30,000 pixels, too large to show."
    ]
    assert notes(host, "cut.jpg") == [
        "This image could not be shown: the file is incomplete (it ends before the image does)."
    ]
    assert card_of(host, "bomb.png").actions == ("save",)  # it can still be saved
    assert longest[0] < 0.5, f"the window froze for {longest[0]:.2f} s"
    guest.post("still here")
    await until(lambda: "still here" in texts(page))


def claimed_image(seq: int, file: str, name: str, size: int) -> dict[str, Any]:
    """A ``file_shared`` frame of an image that a hostile room says has ``size`` bytes."""
    event = FileShared(
        seq, 0.0, FileId(file), ParticipantId("p9"), "Mallory", name, size, "0" * 64,
        "image/png", "image", False, MessageId(f"c-{file}"),
    )  # fmt: skip
    frame: dict[str, Any] = json.loads(serialize(event))
    return frame


async def test_an_image_said_to_be_huge_is_fetched_only_when_asked_and_then_refused(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    """A room may say any size: an image larger than the app fetches by itself gets the
    "Show image" button instead of a download, and asking for one larger than the room
    takes fails at once, saying why."""
    host = await hosted(prefs, keys, cleanup)
    assert host.session is not None and host.session.host is not None
    relay = RewritingRelay(host.session.host.port, {})
    await relay.start()
    cleanup.append(relay)
    guest = await joined(relay.url, "Sam", prefs, keys, cleanup)  # sees the room through it
    page = page_of(guest)
    # Sequence numbers far past the room's own: each is news to the guest.
    await relay.inject(claimed_image(10_000, "f801", "huge.png", 2**40))
    await relay.inject(claimed_image(10_001, "f802", "big.png", AUTO_FETCH_IMAGE_BYTES + 1))
    await relay.inject(claimed_image(10_002, "f803", "small.png", AUTO_FETCH_IMAGE_BYTES))
    # The small one is fetched as it arrives (the room has no such file: it says so).
    await until(lambda: any("could not be shown" in n for n in notes(guest, "small.png")),
                what="the small image's fetch to fail")  # fmt: skip
    for name, size in (("huge.png", "1,099,512 MB"), ("big.png", "20 MB")):
        assert card_of(guest, name).actions == ("show", "save")
        # Not loading, and no failure: not fetched; and it says why it waits.
        assert notes(guest, name) == [f"Large image ({size}): loaded only when you ask."], name
    assert page.session.client.fetching == ()

    entry = shared(guest, "huge.png")
    assert entry is not None
    page.view.file_action.emit(entry.key, "show")
    await until(lambda: any("could not be shown" in n for n in notes(guest, "huge.png")),
                what="the refusal")  # fmt: skip
    assert notes(guest, "huge.png") == [
        "This image could not be shown. The room says it is 1,099,512 MB, more than the "
        "room's limit of 10 MB."
    ]
    assert page.session.client.fetching == ()


async def test_thumbnails_are_decoded_one_at_a_time_and_saving_does_not_wait_for_them(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Each decode may take 64 MB: the second waits for the first, and a Save… goes on
    meanwhile."""
    host = await hosted(prefs, keys, cleanup)
    page = page_of(host)
    lock, gate = threading.Lock(), threading.Event()
    decodes = {"started": 0, "running": 0, "most": 0}

    def counted(data: bytes, box: QSize = THUMBNAIL) -> QImage:
        with lock:
            decodes["started"] += 1
            decodes["running"] += 1
            decodes["most"] = max(decodes["most"], decodes["running"])
            first = decodes["started"] == 1
        try:
            if first:
                gate.wait(timeout=30)  # held until the test lets it go (bounded: no hang)
            return decode_thumbnail(data, box)
        finally:
            with lock:
                decodes["running"] -= 1

    monkeypatch.setattr(file_preview, "decode_thumbnail", counted)
    cleanup.append(SimpleNamespace(close=gate.set))  # a failed test leaves no decode waiting
    fetched: list[FileFetched] = []
    page.session.event_received.connect(
        lambda e: fetched.append(e) if isinstance(e, FileFetched) else None
    )
    guest = RoomClient(room_url(host), "Mallory")
    await guest.connect()
    cleanup.append(SimpleNamespace(close=guest.leave))
    data = b"%PDF-1.7\n" + os.urandom(300_000)
    guest.share_file("one.png", picture(800, 600))
    guest.share_file("two.png", picture(640, 480))
    guest.share_file("plan.pdf", data)
    await guest.wait_sent()
    await until(lambda: len(fetched) == 2 and decodes["started"] >= 1,
                what="both images fetched, the first being decoded")  # fmt: skip
    # Give a second decode every chance to start beside the first: none may.
    with contextlib.suppress(AssertionError):
        await until(lambda: decodes["started"] > 1, timeout=0.5)
    assert decodes["started"] == 1, "a second decode started while the first ran"

    target = tmp_path / "plan.pdf"
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *_a, **_k: (str(target), "")))  # fmt: skip
    await until(lambda: shared(host, "plan.pdf") is not None, what="the PDF's row")
    entry = shared(host, "plan.pdf")
    assert entry is not None
    page.view.file_action.emit(entry.key, "save")
    await until(target.exists, what="the save, while a thumbnail is being decoded")
    assert target.read_bytes() == data and decodes["started"] == 1

    gate.set()
    await until(lambda: thumbnail_of(host, "one.png") is not None
                and thumbnail_of(host, "two.png") is not None,
                what="both thumbnails")  # fmt: skip
    assert decodes == {"started": 2, "running": 0, "most": 1}


async def test_save_writes_the_exact_bytes_where_the_person_chose(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    host = await hosted(prefs, keys, cleanup)
    guest = await joined(room_url(host), "Sam", prefs, keys, cleanup)
    data = b"%PDF-1.7\n" + os.urandom(300_000)
    answer_share()
    page_of(host).attach([("../../etc/plan.pdf", data)])
    await until(lambda: shared(guest, "plan.pdf") is not None)
    entry = shared(guest, "plan.pdf")
    assert entry is not None and entry.file_kind == "pdf"
    offered: list[str] = []
    folder = tmp_path / "Downloads"
    folder.mkdir()
    target = folder / "chosen.pdf"

    def choose(_parent: object, _title: str, where: str, *_: object) -> tuple[str, str]:
        offered.append(where)
        return str(target), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(choose))
    page = page_of(guest)
    assert card_of(guest, "plan.pdf").actions == ("save",)
    page.view.file_action.emit(entry.key, "save")
    await until(target.exists, what="the saved file")
    assert target.read_bytes() == data
    assert Path(offered[0]).name == "plan.pdf"  # the safe name, never a path from the room
    if os.name == "posix":
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
    await until(lambda: f"Saved to {target}" in notes(guest, "plan.pdf"))
    assert os.listdir(folder) == ["chosen.pdf"]  # nothing left beside it


async def test_keyboard_only_tab_reaches_attach_and_enter_saves_a_file(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], monkeypatch: pytest.MonkeyPatch,
    qtbot: QtBot,
) -> None:  # fmt: skip
    host = await hosted(prefs, keys, cleanup)
    page = page_of(host)
    host.activateWindow()
    page.composer.setFocus()
    await until(page.composer.hasFocus)
    QTest.keyClick(page.composer, Qt.Key.Key_Tab)
    assert page.attach_button.hasFocus()
    assert page.attach_button.accessibleName() == "Attach a file…"
    opened: list[bool] = []

    def choose_nothing(*_: object) -> tuple[list[str], str]:
        opened.append(True)
        return [], ""

    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(choose_nothing))
    QTest.keyClick(page.attach_button, Qt.Key.Key_Space)
    assert opened == [True]

    answer_share()
    page.attach([("notes.txt", b"hello")])
    await until(lambda: shared(host, "notes.txt") is not None)
    entry = shared(host, "notes.txt")
    assert entry is not None
    actions: list[tuple[str, str]] = []
    page.view.file_action.connect(lambda key, action: actions.append((key, action)))
    page.view.setFocus()
    window = page.view.window_model
    assert window is not None
    row = page.model.index(page.model.transcript.index_of(entry.key) or 0)
    page.view.setCurrentIndex(window.from_source(row))
    QTest.keyClick(page.view, Qt.Key.Key_Return)
    assert actions == [(entry.key, "save")]
    menu = page.view.message_menu(page.view.visualRect(page.view.currentIndex()).center())
    assert menu is not None
    # The file's own actions first, then (after a line) what may be done to any message.
    assert [a.text() for a in menu.actions()][:3] == ["Save…", "Copy file name", ""]
    menu.close()


async def test_a_room_without_files_says_so_on_the_paper_clip(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], fake: FakeOpenAI
) -> None:
    window = await ai_window(prefs, keys, cleanup, fake, max_file_bytes=0)
    page = page_of(window)
    assert not page.attach_button.isEnabled()
    assert page.attach_button.toolTip() == "The host does not accept files in this room."
    page.attach([("notes.txt", b"hello")])  # a paste or a drop all the same
    assert page.banner.text() == "The host does not accept files in this room."
    assert QApplication.activeModalWidget() is None


async def test_file_cards_are_readable_in_the_dark_theme(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], qapp: Any, fake: FakeOpenAI
) -> None:
    """Every text of a card (name, size, notes, the "Sent to" badge) stands out from what is
    drawn behind it, measured on the pixels painted."""
    existing = theme.controller(qapp)
    before = existing.choice if existing is not None else "system"
    controller = theme.install(qapp, choice="dark")
    try:
        host = await ai_window(prefs, keys, cleanup, fake)
        guest = RoomClient(room_url(host), "Mallory")
        await guest.connect()
        cleanup.append(SimpleNamespace(close=guest.leave))
        guest.share_file("setup.sh", b"#!/bin/sh\necho hi\n")
        guest.share_file("bomb.png", png_bomb())
        await guest.wait_sent()
        guest.share_file("bill.csv", b"who,paid\nAna,40\n", assistant=True)
        await guest.wait_sent()
        fake.script(Reply(["Fine."]))
        guest.post("@assistant is the bill right?")
        await until(
            lambda: (
                notes(host, "bomb.png")
                and any(n.startswith("Sent to") for n in notes(host, "bill.csv"))
            ),
            what="the badge",
        )
        guest.share_file("later.md", b"# Later\n", assistant=True)  # not sent (yet): a note
        await until(lambda: shared(host, "later.md") is not None)
        page = page_of(host)
        page.view.jump_to_latest()
        await asyncio.sleep(0.1)
        image = page.view.viewport().grab().toImage()
        delegate = page.view.itemDelegate()
        assert isinstance(delegate, MessageDelegate)
        looks = set()
        for entry in files(host):
            index = page.model.index(page.model.transcript.index_of(entry.key) or 0)
            layout = delegate.layout_of(page.view, index)
            assert layout is not None and layout.card is not None
            for look, text, rect in layout.card.texts:
                inside = rect.adjusted(4, 2, -4, -2) if look == "badge" else rect  # no corners
                ratio = text_contrast(image, inside.intersected(image.rect()))
                assert ratio >= 4.5, f"{look} {text!r}: {ratio:.2f}"
                looks.add(look)
        assert looks == {"name", "details", "warning", "problem", "note", "badge"}
    finally:
        controller.set_choice(before, remember=False)  # as the other tests expect it


async def test_a_file_the_room_has_no_memory_for_says_why_and_offers_no_retry(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    window = MainWindow(prefs=prefs, keys=keys, discover=False)
    cleanup.append(window)
    config = RoomConfig(name="Small", max_file_bytes=100_000, file_budget_bytes=150_000)
    host = await window._open(config, None)
    assert host is not None
    client = RoomClient(host.local_url(), "Ana", host_key=host.host_key)
    window._enter(RoomSession(client, await client.connect(), host=host))
    window.show()
    page = page_of(window)
    answer_share()
    page.attach([("first.txt", b"a" * 100_000)])
    await until(lambda: shared(window, "first.txt") is not None)
    answer_share()
    page.attach([("second.txt", b"b" * 100_000)])
    await until(
        lambda: any(n.startswith("Not shared:") for n in notes(window, "second.txt")),
        what=f"the refusal, not {[(e.file_name, e.status, e.pending) for e in files(window)]}",
    )
    assert card_of(window, "second.txt").actions == ()  # files leave only when the room ends
    page.attach([("third.txt", b"c" * 100_001)])  # never asked: too large, said at once
    await until(lambda: "100,001 bytes" in page.banner.text())
    assert unfenced(page.banner.text()) == (
        "“third.txt” is 100,001 bytes: this room takes files up to 100,000 bytes."
    )


def test_a_failed_upload_offers_to_try_again_only_when_it_may_work(qapp: object) -> None:
    model = MessageListModel()
    me = ParticipantId("p1")
    model.transcript.set_participants({me: ParticipantInfo(me, "Ana", "guest")}, me)
    for upload, code in (("u1", "too_many_transfers"), ("u2", "storage_full"),
                         ("u3", "cancelled")):  # fmt: skip
        model.apply(FileQueued(MessageId(upload), f"{upload}.txt", 10, False, 0.0))
        model.apply(UploadFailed(MessageId(upload), code, "the room said no"))
        model.retry_kept.add(upload)
    cards = {e.file_name: model.card(e) for e in model.transcript.entries}
    assert cards["u1.txt"].actions == ("retry",)
    assert cards["u2.txt"].actions == () and cards["u3.txt"].actions == ()
    assert ("problem", "Not shared: \u2068the room said no\u2069") in cards["u2.txt"].notes
    model.retry_kept.discard("u1")  # its bytes let go
    assert model.card(model.transcript.entries[0]).actions == ()
