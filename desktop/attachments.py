"""Sharing a file: reading it with limits, and asking the person before it goes.

Whatever way a file comes in (the paper-clip button, a drop on the chat, Ctrl+V of an image),
it is read here (:func:`read_attachment`, never more than the room's limit and one byte) and
shown in a :class:`ShareFileDialog` before anything is sent: its name, size and type (from its
contents: :func:`core.filetypes.detect`), what it looks like for an image, and a box "Let the
assistant read this file", **unticked** every time, saying where its contents go when ticked.
A file that cannot be shared (empty, larger than the room takes, files off, unreadable) is
refused with :class:`AttachmentProblem`, whose text says so, before the dialog: nothing is
sent.

The dialog's default button is Cancel. A pasted image arrives in the middle of typing, and a
drop can be a slip of the mouse: the Enter that was meant for a message must not share a
screenshot with everyone. Share is one click, or Alt+S, away.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QMimeData, Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from core.filetypes import FileKind, FileType, detect, safe_file_name
from core.local_files import NotARegularFile, open_regular
from core.protocol import AssistantInfo
from core.wording import file_type_words, size_words, sizes_apart
from desktop.file_preview import PreviewError, thumbnail
from desktop.labels import PlainLabel, fit_to_width, heading
from desktop.network_text import FIELD_CHARS, fenced

__all__ = [
    "ASSISTANT_CHOICE",
    "FILES_OFF",
    "PASTED_IMAGE_NAME",
    "AttachmentProblem",
    "ShareFileDialog",
    "assistant_note",
    "check_size",
    "dropped_paths",
    "png_bytes",
    "read_attachment",
    "size_words",
    "type_words",
]

ASSISTANT_CHOICE = "Let the assistant read this file"
PASTED_IMAGE_NAME = "pasted image.png"
MAX_DROPPED = 10
"""Files taken from one drop or paste; each gets its own question."""
PREVIEW_SIDE = 160
FILES_OFF = "The host does not accept files in this room."

_ASSISTANT_READS: frozenset[str] = frozenset({"image", "text", "pdf"})


class AttachmentProblem(Exception):
    """A file that cannot be shared; ``str()`` says why, in a sentence for people."""


def type_words(kind: str, mime: str) -> str:
    """What a file is (see :func:`core.wording.file_type_words`, which shows only plain
    media types: nothing to fence)."""
    return file_type_words(kind, mime)


def check_size(name: str, size: int, max_bytes: int) -> None:
    """Raise :class:`AttachmentProblem` when a file of ``size`` bytes cannot be shared in a
    room taking files up to ``max_bytes`` (0: none)."""
    if max_bytes <= 0:
        raise AttachmentProblem(FILES_OFF)
    if size == 0:
        raise AttachmentProblem(f"“{fenced(name)}” is empty: there is nothing to share.")
    if size > max_bytes:
        shown, limit = sizes_apart(size, max_bytes)
        raise AttachmentProblem(
            f"“{fenced(name)}” is {shown}: this room takes files up to {limit}."
        )


def read_attachment(path: Path, max_bytes: int) -> bytes:
    """The contents of the file at ``path``, read only when its size is within
    ``max_bytes``, and never more than ``max_bytes + 1`` bytes of it (a file that grows while
    it is read is refused too). Anything but a regular file (a named pipe, a device, a
    folder) is refused at once, without waiting for it. Raises :class:`AttachmentProblem`.
    Blocking: run it in a thread."""
    name = path.name
    if max_bytes <= 0:
        raise AttachmentProblem(FILES_OFF)
    try:
        with open_regular(path) as file:
            check_size(name, os.fstat(file.fileno()).st_size, max_bytes)
            data = file.read(max_bytes + 1)
    except NotARegularFile:
        raise AttachmentProblem(f"“{fenced(name)}” is not a file that can be shared.") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise AttachmentProblem(f"“{fenced(name)}” could not be read: {reason}.") from None
    check_size(name, len(data), max_bytes)
    return data


def png_bytes(image: QImage) -> bytes:
    """``image`` (from the clipboard) as the bytes of a PNG file."""
    array = QByteArray()
    buffer = QBuffer(array)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    # PySide6's stub types the format as bytes, but at run time only a str is accepted.
    if not image.save(buffer, "PNG"):  # type: ignore[call-overload]
        raise AttachmentProblem("The pasted image could not be turned into a PNG file.")
    return bytes(array.data())


def dropped_paths(mime: QMimeData | None) -> list[Path]:
    """The local files in a drop or a paste (at most :data:`MAX_DROPPED`); folders and
    addresses of other machines are left out."""
    if mime is None or not mime.hasUrls():
        return []
    paths = []
    for url in mime.urls():
        if url.isLocalFile() and url.toLocalFile():
            path = Path(url.toLocalFile())
            if not path.is_dir():
                paths.append(path)
    return paths[:MAX_DROPPED]


def assistant_note(assistant: AssistantInfo | None, kind: FileKind) -> str:
    """What the dialog says under "Let the assistant read this file": where the file's
    contents go when it is ticked, or why there is no such choice."""
    if assistant is None:
        return "This room has no assistant: the file goes only to the people here."
    if kind not in _ASSISTANT_READS:
        return "The assistant cannot read this type of file: it goes only to the people here."
    provider = fenced(assistant.provider, FIELD_CHARS)
    model = fenced(assistant.model, FIELD_CHARS)
    when = (
        "each time the assistant answers" if assistant.mode in ("always", "auto")
        else "when someone asks the assistant"
    )  # fmt: skip
    return f"Ticked, its contents go to {provider} ({model}) with the conversation {when}."


class ShareFileDialog(QDialog):
    """Asks before a file is shared: see the module's docstring. Accepted means "share";
    :meth:`assistant_allowed` says whether the assistant may read it."""

    def __init__(
        self, name: str, data: bytes, assistant: AssistantInfo | None,
        parent: QWidget | None = None,
    ) -> None:  # fmt: skip
        super().__init__(parent)
        self.name = safe_file_name(name)
        self.data = data
        self.file_type: FileType = detect(data, name)
        self._preview_task: asyncio.Task[None] | None = None
        self.setWindowTitle("Share a file")
        self.heading = heading(f"Share “{self.name}” with everyone in the room?")
        self.details = PlainLabel(
            f"{size_words(len(data))} · {type_words(self.file_type.kind, self.file_type.mime)}",
            name="hint", wrap=True,
        )  # fmt: skip
        self.preview = QLabel()
        self.preview.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.preview.setTextFormat(Qt.TextFormat.PlainText)
        self.preview.hide()
        everyone = PlainLabel(
            "Everyone in the room can download it while the room is open.", wrap=True
        )
        reads = assistant is not None and self.file_type.kind in _ASSISTANT_READS
        self.assistant_box: QCheckBox | None = None
        if reads:
            self.assistant_box = QCheckBox(ASSISTANT_CHOICE)
            self.assistant_box.setChecked(False)  # every time: see the module's docstring
        self.assistant_note = PlainLabel(
            assistant_note(assistant, self.file_type.kind), name="hint", wrap=True
        )
        self.program_note = PlainLabel(
            "This is a program or a script. Others can only save it, never open it from the "
            "chat.", name="advice", wrap=True,
        )  # fmt: skip
        self.program_note.setVisible(self.file_type.kind == "program")
        self.buttons = QDialogButtonBox()
        self.share_button = self.buttons.addButton("&Share", QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.share_button.setAutoDefault(False)
        self.cancel_button.setDefault(True)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        for widget in (self.heading, self.details, self.preview, everyone, self.program_note):
            layout.addWidget(widget)
        if self.assistant_box is not None:
            layout.addWidget(self.assistant_box)
        layout.addWidget(self.assistant_note)
        layout.addStretch(1)
        layout.addWidget(self.buttons)
        self.cancel_button.setFocus()
        fit_to_width(self, 460)
        if self.file_type.kind == "image":
            self._preview_task = asyncio.ensure_future(self._show_preview())
        self.finished.connect(self._stop_preview)

    def assistant_allowed(self) -> bool:
        """Whether the person ticked "Let the assistant read this file"."""
        return self.assistant_box is not None and self.assistant_box.isChecked()

    async def _show_preview(self) -> None:
        """What the image looks like (decoded with the chat's limits, off the GUI thread):
        a pasted screenshot may hold more than the person remembers."""
        try:
            image = await thumbnail(self.data)
        except PreviewError as exc:
            self.preview.setText(f"This image cannot be shown: {exc}.")
        else:
            pixmap = QPixmap.fromImage(image)
            side = PREVIEW_SIDE
            if pixmap.width() > side or pixmap.height() > side:
                pixmap = pixmap.scaled(side, side, Qt.AspectRatioMode.KeepAspectRatio,
                                       Qt.TransformationMode.SmoothTransformation)  # fmt: skip
            self.preview.setPixmap(pixmap)
            self.preview.setAccessibleName("Preview of the image")
        self.preview.show()
        fit_to_width(self, self.width())

    def _stop_preview(self) -> None:
        if self._preview_task is not None:
            self._preview_task.cancel()
