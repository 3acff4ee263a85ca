"""Hostile strings, and checks of how widgets show them, for the desktop's safety tests."""

from __future__ import annotations

import html
import itertools
from pathlib import Path
from typing import Any

from PySide6 import QtGui
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QColor, QFont, QImage, QTextDocument, QTextLayout
from PySide6.QtWidgets import QAbstractButton, QLabel, QWidget

PROBE_HEIGHT = 1000
"""The probe image is this tall: a label that loaded it would be at least as tall."""

HOSTILE = {
    # A rich-text label reads /dev/zero as an image until memory runs out. Never run this one
    # against code that is not fixed: see the probe instead.
    "dev-zero": "<img src=/dev/zero>",
    # A real image on disk: loading it is harmless, and visible (the label grows to its size).
    "probe-image": '<img src="{probe}">',
    "remote-image": '<img src="http://10.0.0.1/x.png">',
    "file-link": '<a href="file:///etc/passwd">x</a>',
    "bold": "<b>x</b>",
    "style": "<style>",
    "10000-chars": "Long" * 2500,  # as an old client (or a hostile host) might send
    "bidi-override": "\u202e00.001$",  # a right-to-left override, never closed
}


def hostile_text(kind: str, tmp_path: Path) -> str:
    """The hostile string ``kind``, with the probe image written to ``tmp_path`` if needed."""
    text = HOSTILE[kind]
    if "{probe}" in text:
        probe = tmp_path / "probe.png"
        image = QImage(40, PROBE_HEIGHT, QImage.Format.Format_RGB32)
        image.fill(QColor("red"))
        image.save(str(probe))
        text = text.replace("{probe}", str(probe))
    return text


_ADDED = dict.fromkeys(map(ord, "\u2066\u2067\u2068\u2069\u202c\u200b"))


def visible(text: str) -> str:
    """``text`` without what the app adds around network text: direction isolates, the
    closing controls after a piece, and break opportunities (zero-width spaces)."""
    return text.translate(_ADDED)


def shows(shown: str, piece: str) -> bool:
    """Whether ``shown`` holds the network text ``piece`` as the app shows such text: whole,
    or (when long) its start of at least 20 characters cut with "…"."""
    shown, piece = visible(shown), visible(piece)
    if piece in shown:
        return True
    for end in range(len(piece) - 1, min(len(piece), 20) - 1, -1):
        if piece[:end] + "…" in shown:
            return True
    return False


def _marks(hostile: str) -> tuple[str, ...]:
    """What network text under test looks like in a widget's text, raw or escaped."""
    start = hostile[:12]
    return (start, html.escape(start))


def _read_as_rich(text_format: Qt.TextFormat, text: str) -> bool:
    if text_format in (Qt.TextFormat.RichText, Qt.TextFormat.MarkdownText):
        return True
    return text_format == Qt.TextFormat.AutoText and QtGui.Qt.mightBeRichText(text)


class RecordingDocument(QTextDocument):
    """A document that records every resource it is asked to load, and loads none."""

    def __init__(self) -> None:
        super().__init__()
        self.requested: list[str] = []

    def loadResource(self, kind: int, name: QUrl) -> Any:  # noqa: N802 (Qt's name)
        self.requested.append(name.toString())
        return None


def tooltip_shows(tip: str) -> tuple[str, list[str]]:
    """What a tooltip with this text shows, and what it would load (Qt reads a tooltip that
    looks like markup as rich text)."""
    if not _read_as_rich(Qt.TextFormat.AutoText, tip):
        return tip, []
    doc = RecordingDocument()
    doc.setHtml(tip)
    doc.setTextWidth(400)
    doc.size()  # lays it out, which is when images are asked for
    return doc.toPlainText(), doc.requested


def rich_text_risks(root: QWidget, hostile: str) -> list[str]:
    """Every place under ``root`` (itself included) that reads network text as rich text, or
    lets it grow past reason.

    * a label showing network text (raw or escaped) must be plain text;
    * a tooltip must load nothing, and show network markup literally;
    * a label must not have grown to the probe image's height;
    * window titles and button texts stay one bounded line.
    """
    marks = _marks(hostile)
    problems = []
    for widget in [root, *root.findChildren(QWidget)]:
        name = widget.objectName() or type(widget).__name__
        if isinstance(widget, QLabel):
            text = widget.text()
            if _read_as_rich(widget.textFormat(), text) and any(m in text for m in marks):
                problems.append(f"label {name} reads network text as rich text: {text[:80]!r}")
            if widget.sizeHint().height() >= PROBE_HEIGHT:
                problems.append(f"label {name} loaded an image")
        tip = widget.toolTip()
        if tip:
            _shown, loads = tooltip_shows(tip)
            if loads:
                problems.append(f"tooltip of {name} loads {loads}")
            raw = marks[0]
            if "<" in raw and raw in tip and _read_as_rich(Qt.TextFormat.AutoText, tip):
                problems.append(f"tooltip of {name} holds raw network markup: {tip[:80]!r}")
        if widget.isWindow():
            title = widget.windowTitle()
            if len(title) > 120 or "\n" in title:
                problems.append(f"window title of {name} is not one short line: {title[:80]!r}")
        if isinstance(widget, QAbstractButton) and len(widget.text()) > 120:
            problems.append(f"button {name} has a long text: {widget.text()[:80]!r}")
    return problems


def left_to_right(text: str, part: str) -> bool:
    """Whether ``part`` (found in ``text``) is laid out left to right, as written, when
    ``text`` is shown on one line: each character drawn after the one before it."""
    layout = QTextLayout(text, QFont())
    layout.beginLayout()
    line = layout.createLine()
    line.setLineWidth(100_000)
    layout.endLayout()
    start = text.index(part)
    xs = [line.cursorToX(i)[0] for i in range(start, start + len(part) + 1)]
    return all(a < b for a, b in itertools.pairwise(xs))
