"""Host controls → Room link, join code and QR code…: the room's link as text, and as a QR
code for a phone or another machine's camera (segno makes the code; nothing leaves this
computer), and the room's join code.

The link is what **Join by address, link or code…** takes on the other machine: the address,
the port, the room's name and the certificate's fingerprint, never the room code (which
people are told by voice). A host with several addresses (Wi-Fi and cable, IPv4 and IPv6)
gets one link per address; the first is shown as a code, and every one can be copied.

The join code (:mod:`core.join_code`) is the short form of the first link whose address is a
private IPv4 one (only those fit in a code): a dozen characters to read out or type, which
that dialog takes too. Making it runs scrypt (about 40 ms), off the event loop; a room with
no such address says why it has no code.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging

import segno
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.address import InvalidAddress, parse_room_address
from core.join_code import JoinCodeError, can_have_join_code, make_join_code
from desktop.labels import PlainLabel, fit_to_width, heading, outdented
from desktop.verification import CopyButton, code_label

__all__ = ["JOIN_CODE_USE", "RoomLinkDialog", "join_code_source", "qr_pixmap", "spelled"]

log = logging.getLogger("gptgroup.desktop")

JOIN_CODE_USE = "Type it in Join by address, link or code… on the other computer."
NO_NETWORK = (
    "No join code: this computer is not connected to a local network. Connect it to the "
    "network the others use, and open the room again."
)
NO_PRIVATE_ADDRESS = (
    "No join code: a join code holds a private network address (such as 192.168.1.20), and "
    "this room has none. Share the link instead."
)
Source = tuple[str, int, bytes]
"""Where a join code leads: an address, a port, a certificate's fingerprint."""

QUIET_ZONE = 4  # modules of white around the code, as the standard asks for
CODE_PIXELS = 240  # the code's side on screen, in device-independent pixels
DIALOG_WIDTH = 440


def qr_pixmap(text: str, side: int, ratio: float = 1.0) -> QPixmap:
    """``text`` as a QR code ``side`` pixels square (for a screen of ``ratio`` device pixels
    per pixel): black on white whatever the theme, since cameras read that best."""
    code = segno.make(text, error="m", micro=False)
    width, height = (int(n) for n in code.symbol_size(border=QUIET_ZONE))  # whole modules
    image = QImage(width, height, QImage.Format.Format_Mono)
    image.setColor(0, QColor("white").rgb())
    image.setColor(1, QColor("black").rgb())
    image.fill(0)
    for y, row in enumerate(code.matrix_iter(border=QUIET_ZONE)):
        for x, dark in enumerate(row):
            if dark:
                image.setPixel(x, y, 1)
    pixels = round(side * ratio)
    scaled = image.scaled(pixels, pixels, Qt.AspectRatioMode.KeepAspectRatio,
                          Qt.TransformationMode.FastTransformation)  # fmt: skip
    pixmap = QPixmap.fromImage(scaled)
    pixmap.setDevicePixelRatio(ratio)
    return pixmap


def join_code_source(links: list[str]) -> Source | None:
    """The address, port and fingerprint of the first of ``links`` that can have a join code
    (a private IPv4 address, with the fingerprint), or None."""
    for link in links:
        try:
            address = parse_room_address(link)
        except InvalidAddress:
            continue
        if address.fingerprint is not None and can_have_join_code(address.host):
            return address.host, address.port, address.fingerprint
    return None


def spelled(code: str) -> str:
    """A join code as a screen reader should say it: character by character, a pause
    between groups ("G 1 2 G, P 7 H D, H 0 X")."""
    return ", ".join(" ".join(group) for group in code.split("-"))


def _loopback_only(links: list[str]) -> bool:
    """Whether every one of ``links`` is at a loopback address (no network to reach)."""
    hosts = []
    for link in links:
        try:
            hosts.append(ipaddress.ip_address(parse_room_address(link).host))
        except (InvalidAddress, ValueError):
            return False
    return all(host.is_loopback for host in hosts)


class RoomLinkDialog(QDialog):
    """The room's links (``links``, the first shown as a QR code), each to copy, and its
    join code (worked out once the dialog is made, off the event loop: :attr:`join_code` is
    "" until then, and stays "" for a room that cannot have one)."""

    def __init__(self, links: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Room link")
        self._links = links
        self.join_code = ""
        self.code = QLabel()
        self.code.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.code.setAccessibleName("QR code of the room link")
        self.code.setMinimumSize(QSize(CODE_PIXELS, CODE_PIXELS))
        self.explain = PlainLabel(
            "On another computer or a phone, scan this QR code, or type the link in GPT "
            "Group's Join by address, link or code…. The room code is not in it: tell it to "
            "people yourself.",
            name="hint", wrap=True,
        )  # fmt: skip
        self.addresses = QComboBox()
        self.addresses.setAccessibleName("Which address")
        self.addresses.addItems(links)
        self.addresses.setVisible(len(links) > 1)
        self.link = QLineEdit()
        self.link.setReadOnly(True)
        self.link.setAccessibleName("Room link")
        self.copy_button = QPushButton("Copy link")
        self.copy_button.setAutoDefault(False)  # Enter closes the dialog
        row = QHBoxLayout()
        row.addWidget(self.link, 1)
        row.addWidget(self.copy_button)

        self.code_title = heading("Join code")
        # Until the code is made: then the code itself, large, with Copy under it.
        self.code_note = PlainLabel("Working out the join code…", name="hint", wrap=True)
        self.join_code_label: PlainLabel | None = None
        self.copy_code_button: CopyButton | None = None
        self.code_box = QVBoxLayout()
        self.code_box.setSpacing(6)
        self.code_box.addWidget(self.code_note)
        self.code_use = PlainLabel(JOIN_CODE_USE, name="hint", wrap=True)
        self.code_use.hide()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.code, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.explain)
        layout.addWidget(self.addresses)
        layout.addLayout(row)
        layout.addSpacing(10)
        layout.addWidget(self.code_title)
        layout.addLayout(self.code_box)
        layout.addWidget(self.code_use)
        layout.addSpacing(4)
        layout.addWidget(buttons)
        self.addresses.currentIndexChanged.connect(self._show)
        self.copy_button.clicked.connect(self.on_copy_clicked)
        buttons.rejected.connect(self.reject)
        self._show(0)
        fit_to_width(self, DIALOG_WIDTH)
        self._code_task: asyncio.Task[None] | None = None
        self.finished.connect(lambda _result: self._stop_code())
        self._start_code()

    def _start_code(self) -> None:
        source = join_code_source(self._links)
        if source is None:
            self._no_code(NO_NETWORK if _loopback_only(self._links) else NO_PRIVATE_ADDRESS)
            return
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a script): 40 ms here is no trouble
            self._made(*source)
            return
        self._code_task = asyncio.ensure_future(self._make_code(source))

    async def _make_code(self, source: Source) -> None:
        try:
            code = await asyncio.to_thread(make_join_code, *source)
        except (JoinCodeError, ValueError) as exc:  # checked above: not expected
            log.warning("no join code for the room: %s", exc)
            self._no_code(f"No join code: {exc}.")
            return
        self._show_code(code)

    def _made(self, address: str, port: int, fingerprint: bytes) -> None:
        try:
            code = make_join_code(address, port, fingerprint)
        except (JoinCodeError, ValueError) as exc:
            self._no_code(f"No join code: {exc}.")
            return
        self._show_code(code)

    def _stop_code(self) -> None:
        if self._code_task is not None:
            self._code_task.cancel()
            self._code_task = None

    def _no_code(self, text: str) -> None:
        self._code_task = None
        self.code_note.setText(text)
        fit_to_width(self, DIALOG_WIDTH)

    def _show_code(self, code: str) -> None:
        """Show ``code`` large, in fixed-width characters, selectable (and read out
        character by character), with Copy under it and the one line that says where to
        type it."""
        self._code_task = None
        self.join_code = code
        self.code_note.hide()
        label = self.join_code_label = code_label(code, what="Join code", scale=1.8)
        label.setAccessibleDescription(spelled(code))
        self.copy_code_button = CopyButton("Copy join code", code)
        self.code_box.addLayout(outdented(label))
        self.code_box.addWidget(self.copy_code_button, 0, Qt.AlignmentFlag.AlignLeft)
        for widget in (label, self.copy_code_button, self.code_use):
            widget.show()  # now, not once the loop gets round to it: the height counts them
        fit_to_width(self, DIALOG_WIDTH)

    @property
    def shown_link(self) -> str:
        return self.link.text()

    def on_copy_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self.link.text())
        self.copy_button.setText("Copied")

    def _show(self, index: int) -> None:
        if not 0 <= index < len(self._links):
            return
        link = self._links[index]
        self.link.setText(link)
        self.link.setCursorPosition(0)
        self.copy_button.setText("Copy link")
        self.code.setPixmap(qr_pixmap(link, CODE_PIXELS, self.devicePixelRatioF()))
