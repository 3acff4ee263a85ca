"""Host controls → Room link and QR code…: the room's link as text, and as a QR code for a
phone or another machine's camera (segno makes the code; nothing leaves this computer).

The link is what **Join by address or link…** takes on the other machine: the address, the
port, the room's name and the certificate's fingerprint, never the room code (which people
are told by voice). A host with several addresses (Wi-Fi and cable, IPv4 and IPv6) gets one
link per address; the first is shown as a code, and every one can be copied.
"""

from __future__ import annotations

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

from desktop.labels import PlainLabel

__all__ = ["RoomLinkDialog", "qr_pixmap"]

QUIET_ZONE = 4  # modules of white around the code, as the standard asks for
CODE_PIXELS = 240  # the code's side on screen, in device-independent pixels


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


class RoomLinkDialog(QDialog):
    """The room's links (``links``, the first shown as a QR code), each to copy."""

    def __init__(self, links: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Room link")
        self._links = links
        self.code = QLabel()
        self.code.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.code.setAccessibleName("QR code of the room link")
        self.code.setMinimumSize(QSize(CODE_PIXELS, CODE_PIXELS))
        self.explain = PlainLabel(
            "On another computer or a phone, scan the code or type the link in GPT Group's "
            "Join by address or link…. The room code is not in it: tell it to people yourself.",
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
        row = QHBoxLayout()
        row.addWidget(self.link, 1)
        row.addWidget(self.copy_button)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.code, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addWidget(self.explain)
        layout.addWidget(self.addresses)
        layout.addLayout(row)
        layout.addWidget(buttons)
        self.addresses.currentIndexChanged.connect(self._show)
        self.copy_button.clicked.connect(self.on_copy_clicked)
        buttons.rejected.connect(self.reject)
        self.resize(420, 0)
        self._show(0)

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
