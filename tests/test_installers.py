"""What the installers are made of: the icons drawn for each platform, the menu entry."""

from __future__ import annotations

from configparser import ConfigParser
from pathlib import Path

from PySide6.QtGui import QImage, QImageReader

from installers.build_deb import DESKTOP_ENTRY
from installers.icons import THEME_SIZES, write_icons


def test_every_icon_is_the_drawing_at_its_size(tmp_path: Path) -> None:
    icons = write_icons(tmp_path / "icons")
    for size in THEME_SIZES:
        image = QImage(str(icons[f"png-{size}"]))
        assert (image.width(), image.height()) == (size, size)
        # Drawn, not blank: the corners are transparent, the middle is the icon's blue.
        assert image.pixelColor(0, 0).alpha() == 0
        assert image.pixelColor(size // 2, size - size // 8).alpha() == 255
    reader = QImageReader(str(icons["ico"]))
    assert reader.format() == b"ico"
    assert reader.read().size().width() == 256, reader.errorString()


def test_the_menu_entry_starts_the_app_with_its_icon() -> None:
    entry = ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    entry.read_string(DESKTOP_ENTRY)
    fields = entry["Desktop Entry"]
    assert fields["Type"] == "Application"
    assert fields["Name"] == "GPT Group"
    assert fields["Exec"] == "gptgroup"
    assert fields["Icon"] == "gptgroup"
    assert fields["Terminal"] == "false"
    assert fields["Categories"].endswith(";")
