"""The app icon in the formats the installers need, drawn from ``resources/icon.svg``.

One drawing, so every platform shows the same icon: PNGs for the Linux icon theme and for
macOS (PyInstaller turns the 512-pixel one into the app's ``.icns``, with Pillow), and a
Windows ``.ico``, written by Qt's own image plugins. (Qt's ``.icns`` writer makes files that
Qt's own reader calls corrupt, so it is not used.)
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QImageWriter, QPainter
from PySide6.QtSvg import QSvgRenderer

from resources import read_bytes

__all__ = ["THEME_SIZES", "render", "write_icons"]

THEME_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
"""Sizes (pixels) installed into the Linux icon theme beside the scalable SVG."""


def render(size: int) -> QImage:
    """The icon drawn at ``size`` by ``size`` pixels on a transparent background."""
    renderer = QSvgRenderer(read_bytes("icon.svg"))
    if not renderer.isValid():
        raise ValueError("resources/icon.svg is not a drawable SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    return image


def _save(image: QImage, path: Path, image_format: str) -> Path:
    writer = QImageWriter(str(path), image_format.encode())
    if not writer.write(image):
        raise OSError(f"cannot write {path}: {writer.errorString()}")
    return path


def write_icons(folder: Path) -> dict[str, Path]:
    """Write the icons into ``folder`` (made if needed). Returns their paths by kind:
    ``"png"`` (256 px), ``"ico"``, ``"svg"`` and ``"png-N"`` for every size in
    :data:`THEME_SIZES`. Raises :class:`OSError` when a file cannot be written."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        f"png-{size}": _save(render(size), folder / f"gptgroup-{size}.png", "png")
        for size in THEME_SIZES
    }
    paths["png"] = paths["png-256"]
    paths["ico"] = _save(render(256), folder / "gptgroup.ico", "ico")
    svg = folder / "gptgroup.svg"
    svg.write_bytes(read_bytes("icon.svg"))
    paths["svg"] = svg
    return paths
