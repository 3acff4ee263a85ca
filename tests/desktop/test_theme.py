"""The light and the dark theme: every colour pair meets WCAG AA (computed from the themes'
definitions), every screen is readable in both (rendered offscreen, text sampled against what
is behind it), the theme follows the desktop's colour scheme live and a forced one stays, the
focused control always shows a clear outline, and the app's log lines carry no credentials.

A dark desktop theme used to leave the app's light backgrounds under the desktop's white text:
buttons, dialog labels, the join notice, the room title, the people list and warnings were
white on near-white. The tests below play such a desktop by giving the application the palette
a dark GTK theme gives it and reporting the dark scheme as Qt does.
"""

from __future__ import annotations

import collections
import hashlib
import logging
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QRect, QSettings, Qt
from PySide6.QtGui import QColor, QImage, QPalette
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QScrollArea,
    QTabBar,
    QWidget,
)

from core.discovery import BrowserEvent, DiscoveredRoom
from core.log_redaction import REDACTED
from core.protocol import PROTOCOL_VERSION, AssistantInfo, RoomInfo
from core.room_tls import verification_code
from desktop import theme
from desktop.about import AboutDialog
from desktop.app import make_application, parse_arguments, set_up_logging
from desktop.host_dialog import HostDialog
from desktop.join_dialogs import DisclosureDialog, JoinDialog
from desktop.labels import message_box
from desktop.main_window import MainWindow
from desktop.settings import FILE_MODE, KeyStore, Preferences
from desktop.verification import VerificationDialog
from resources import read_text
from tests.desktop.conftest import until
from tests.desktop.flows import hosted, joined, room_url

SCHEMES = ("light", "dark")
READABLE = 3.0
"""The least contrast between a text's strongest pixel and its background on screen. WCAG's
4.5 is checked on the colours themselves; antialiased glyphs of small text never reach their
full colour everywhere, but even they pass 3. White on near-white is about 1.1."""

# The palette a dark GTK theme (Adwaita:dark) gives a Qt app.
DARK_DESKTOP = {
    "Window": "#242424", "WindowText": "#ffffff", "Base": "#1e1e1e", "AlternateBase": "#2a2a2a",
    "Text": "#ffffff", "Button": "#303030", "ButtonText": "#ffffff", "Highlight": "#3584e4",
    "HighlightedText": "#ffffff", "PlaceholderText": "#9a9a9a", "ToolTipBase": "#383838",
    "ToolTipText": "#ffffff",
}  # fmt: skip


# ----------------------------------------------------------------------- WCAG, computed here


def luminance(colour: str) -> float:
    """WCAG 2.x relative luminance of ``#rrggbb``."""
    value = colour.lstrip("#")
    channels = [int(value[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio, from 1 (the same) to 21 (black on white)."""
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_the_contrast_formula_is_wcags() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#ffffff", "#ffffff") == pytest.approx(1.0)
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)  # the known AA grey
    assert contrast("#777777", "#ffffff") < 4.5


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_colour_pair_meets_wcag_aa(scheme: str) -> None:
    """Text 4.5:1, large text, focus outlines and edges of controls 3:1, in both themes."""
    colours = theme.THEMES[scheme]  # type: ignore[index]
    names = {f.name for f in fields(theme.Colours)}
    failures = []
    for pair in theme.REQUIRED_CONTRASTS:
        assert {pair.foreground, pair.background} <= names, pair
        ratio = contrast(getattr(colours, pair.foreground), getattr(colours, pair.background))
        if ratio < pair.minimum:
            failures.append(
                f"{pair.foreground} on {pair.background} ({pair.where}): "
                f"{ratio:.2f} < {pair.minimum}"
            )
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_the_palette_gives_unstyled_widgets_readable_text(qapp: Any, scheme: str) -> None:
    """What the style sheet leaves to the palette (message boxes, menus, tooltips, the About
    text, text selection) is readable too: every text role on the background it goes with."""
    palette = theme.palette(theme.THEMES[scheme])  # type: ignore[index]
    role = QPalette.ColorRole
    pairs = [
        (role.WindowText, role.Window), (role.Text, role.Base), (role.Text, role.AlternateBase),
        (role.ButtonText, role.Button), (role.HighlightedText, role.Highlight),
        (role.ToolTipText, role.ToolTipBase), (role.PlaceholderText, role.Base),
        (role.Link, role.Base), (role.Link, role.Window),
    ]  # fmt: skip
    for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive):
        for text, background in pairs:
            ratio = contrast(
                palette.color(group, text).name(), palette.color(group, background).name()
            )
            assert ratio >= 4.5, (scheme, group, text, background, ratio)


def test_the_style_sheet_takes_every_colour_from_the_theme() -> None:
    """The template names colours and holds none; both themes fill every name."""
    template = re.sub(r"/\*.*?\*/", "", read_text("style.qss"), flags=re.S)
    declarations = " ".join(re.findall(r"\{([^}]*)\}", template))
    assert not re.findall(r"#[0-9a-fA-F]{3,8}\b|rgba?\(|\b(?:white|black)\b", declarations)
    names = set(re.findall(r"\$(\w+)", template))
    assert names <= {f.name for f in fields(theme.Colours)} | set(theme.IMAGES)
    for colours in (theme.LIGHT, theme.DARK):
        assert "$" not in theme.stylesheet(colours)


def test_the_images_have_the_colour_the_theme_names() -> None:
    """The only colours that live in files, checked against their names (and so, above, for
    contrast): one file serves both themes, so the named colour is the same in both."""
    for file, name in theme.IMAGES.values():
        colours = set(re.findall(r'(?:fill|stroke)="(#[0-9a-fA-F]{6})"', read_text(file)))
        assert colours == {getattr(theme.LIGHT, name)} == {getattr(theme.DARK, name)}, file


# ------------------------------------------------------------------- the desktop, played here


@dataclass
class Desktop:
    """The desktop the app runs on: its palette and the colour scheme it reports."""

    app: QApplication
    controller: theme.ThemeController

    def turn_dark(self) -> None:
        """As a dark GTK theme does: a dark palette for the app, and the dark scheme."""
        dark = QPalette()
        for role, colour in DARK_DESKTOP.items():
            dark.setColor(getattr(QPalette.ColorRole, role), QColor(colour))
        self.app.setPalette(dark)
        self.report(Qt.ColorScheme.Dark)

    def report(self, scheme: Qt.ColorScheme) -> None:
        """The desktop's colour scheme changes (Qt's signal, as the platform sends it)."""
        self.app.styleHints().colorSchemeChanged.emit(scheme)


@pytest.fixture
def desktop() -> Iterator[Desktop]:
    """A light desktop that a test may turn dark; afterwards, the app follows it light again."""
    app = make_application([])
    controller = theme.controller(app)
    assert controller is not None
    yield Desktop(app, controller)
    controller.use_preferences(None)
    controller.set_choice("system", remember=False)
    app.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Unknown)
    app.setPalette(theme.palette(theme.THEMES[controller.scheme]))


def window_colour(widget: QWidget) -> QColor:
    """The colour in the middle of the widget's top margin, as drawn."""
    image = widget.grab().toImage()
    return image.pixelColor(image.width() // 2, 2)


def is_dark(colour: QColor) -> bool:
    return colour.lightness() < 128


# -------------------------------------------------------------------- reading what is drawn


def _histogram(image: QImage, rect: QRect) -> collections.Counter[int]:
    """How many pixels of each colour ``rect`` of ``image`` holds (0xAARRGGBB)."""
    part = image.copy(rect).convertToFormat(QImage.Format.Format_RGB32)
    return collections.Counter(memoryview(part.constBits()).cast("I"))


def _hex(pixel: int) -> str:
    return f"#{pixel & 0xFFFFFF:06x}"


def text_contrast(image: QImage, rect: QRect) -> float:
    """The contrast of the strongest pixel in ``rect`` with the commonest one (the
    background). Text makes it high; text in the background's colour leaves it near 1."""
    counts = _histogram(image, rect)
    background = _hex(counts.most_common(1)[0][0])
    return max(contrast(background, _hex(pixel)) for pixel in counts)


def _shows_text(widget: QWidget) -> bool:
    if isinstance(widget, QLabel):
        return bool(widget.text().strip()) and widget.pixmap().isNull()
    if isinstance(widget, QAbstractButton):
        return bool(widget.text().strip())
    if isinstance(widget, QLineEdit):
        return bool(widget.text() or widget.placeholderText())
    if isinstance(widget, QPlainTextEdit):
        return bool(widget.toPlainText() or widget.placeholderText())
    return isinstance(widget, QComboBox | QAbstractSpinBox) and bool(
        widget.currentText() if isinstance(widget, QComboBox) else widget.text()
    )


def _text_area(widget: QWidget) -> QRect:
    """Where the widget's text is drawn, without its edges (and a drop-down's arrow)."""
    area = widget.visibleRegion().boundingRect()
    if isinstance(widget, QLabel):
        return area
    right = 24 if isinstance(widget, QComboBox | QAbstractSpinBox) else 4
    return area.adjusted(4, 4, -right, -4)


def _rows(view: QAbstractItemView) -> Iterator[tuple[str, QRect]]:
    """Each row that is on screen, in the view's viewport's coordinates."""
    model = view.model()
    shown = view.viewport().rect()
    for row in range(model.rowCount()):
        rect = view.visualRect(model.index(row, 0)).intersected(shown)
        if not rect.isEmpty():
            yield f"row {row}", rect


def bring_into_view(widget: QWidget, window: QWidget) -> None:
    """Scroll every scroll area between ``window`` and ``widget`` to show all of it, with a
    margin. (``ensureWidgetVisible`` shows only a field's text cursor.)"""
    parent = widget.parentWidget()
    while parent is not None and parent is not window:
        if isinstance(parent, QScrollArea) and parent.widget() is not None:
            corner = widget.mapTo(parent.widget(), QPoint(0, 0))
            half_width, half_height = widget.width() // 2, widget.height() // 2
            parent.ensureVisible(corner.x() + half_width, corner.y() + half_height,
                                 half_width + 10, half_height + 10)  # fmt: skip
        parent = parent.parentWidget()


class Screen:
    """What ``window`` shows, grabbed again whenever one of its scroll areas has moved."""

    def __init__(self, window: QWidget) -> None:
        self.window = window
        self._areas = window.findChildren(QScrollArea)
        self._at: tuple[int, ...] | None = None
        self._image = QImage()

    def image(self) -> QImage:
        at = tuple(
            bar.value() for area in self._areas
            for bar in (area.horizontalScrollBar(), area.verticalScrollBar())
        )  # fmt: skip
        if at != self._at:
            self._image = self.window.grab().toImage()
            self._at = at
        return self._image

    def area(self, widget: QWidget, rect: QRect) -> QRect:
        """``rect`` of ``widget``, in the image's pixels."""
        scale = self._image.devicePixelRatio()
        origin = widget.mapTo(self.window, rect.topLeft())
        return QRect(QPoint(int(origin.x() * scale), int(origin.y() * scale)),
                     rect.size() * scale).intersected(self._image.rect())  # fmt: skip


def _places(window: QWidget) -> Iterator[tuple[str, QWidget, QRect | None]]:
    """What shows text in ``window``: each widget (None: its text area, once in view), each
    tab and each row of each list (their rectangles)."""
    for widget in [window, *window.findChildren(QWidget)]:
        if widget.window() is not window:
            continue  # a dialog of this window's: a window of its own
        if not widget.isVisibleTo(window):
            continue
        name = f"{type(widget).__name__} {widget.objectName() or ''}".strip()
        if _shows_text(widget):
            text = getattr(widget, "text", lambda: "")() or ""
            yield f"{name} {str(text)[:30]!r}", widget, None
        if isinstance(widget, QTabBar):
            for tab in range(widget.count()):
                yield f"tab {widget.tabText(tab)!r}", widget, widget.tabRect(tab)
        if isinstance(widget, QAbstractItemView) and widget.model() is not None:
            for row, rect in _rows(widget):
                yield f"{name} {row}", widget.viewport(), rect


def unreadable(window: QWidget) -> list[str]:
    """Everything in ``window`` that shows text that does not stand out from what is behind
    it: labels, buttons, fields, drop-downs, tabs, and each row of each list. What a scroll
    area hides is scrolled into view first."""
    window.activateWindow()
    screen = Screen(window)
    problems = []
    for what, widget, place in list(_places(window)):
        bring_into_view(widget, window)
        image = screen.image()
        if place is None and widget.visibleRegion().boundingRect() != widget.rect():
            continue  # taller than its scroll area: never wholly on screen
        area = screen.area(widget, place or _text_area(widget))
        if area.width() < 4 or area.height() < 4:
            continue
        ratio = text_contrast(image, area)
        if ratio < READABLE:
            problems.append(f"{what}: {ratio:.2f}")
    return problems


def sample_room(name: str, **fields: object) -> DiscoveredRoom:
    values: dict[str, object] = {
        "key": name, "room_id": name.encode().hex()[:12], "name": name, "host_name": "Ana",
        "participants": 3, "password_required": False, "assistant_kind": "cloud",
        "provider": "OpenAI", "model": "gpt-4o-mini", "protocol": PROTOCOL_VERSION,
        "app_version": "0.2.0", "addresses": ("192.168.1.20",), "port": 47321,
        "fingerprint": hashlib.sha256(name.encode()).digest(),
    }  # fmt: skip
    return DiscoveredRoom(**(values | fields))  # type: ignore[arg-type]


def lobby_with_rooms(prefs: Preferences, keys: KeyStore, cleanup: list[Any]) -> MainWindow:
    window = MainWindow(prefs=prefs, keys=keys, discover=False)
    cleanup.append(window)
    window.resize(900, 600)
    for room in (
        sample_room("Team lunch"),
        # Another room of the same name, with its own certificate: both are marked.
        sample_room("Team lunch", key="Team lunch 2", port=47322,
                    fingerprint=hashlib.sha256(b"another").digest()),
        sample_room("Book club", host_name="Ben", assistant_kind="local", password_required=True),
        sample_room("Night owls", host_name="Dee", assistant_kind="none", protocol=1),
    ):  # fmt: skip
        window.rooms.apply(BrowserEvent("added", room))
    window.show()
    window.lobby.list.setCurrentIndex(window.rooms.index(0))
    return window


def dialogs(parent: QWidget, prefs: Preferences, keys: KeyStore) -> list[QWidget]:
    """The dialogs a newcomer meets, and a warning."""
    room = RoomInfo("Team lunch", "Ana", 3, None, False, True, assistant=AssistantInfo(
        "assistant", "OpenAI", "cloud", "gpt-4o-mini", "mention"))  # fmt: skip
    host = HostDialog(prefs, keys, parent)
    host.provider.setCurrentIndex(host.provider.findData("openai"))
    host.room_name.setText("Team lunch")
    about = AboutDialog(parent)
    code = verification_code(bytes(range(32)))
    return [
        host,
        JoinDialog("Book club", "Ana", code_required=True, parent=parent),
        DisclosureDialog(room, parent, verification_code=code),  # unchecked: compare it
        DisclosureDialog(room, parent, verification_code=code, checked="link"),
        VerificationDialog(code, "1234 5678", parent),
        about,
        message_box(QMessageBox.Icon.Warning, "Cannot join", "The room is full.", parent=parent),
    ]


async def every_screen_unreadable(prefs: Preferences, keys: KeyStore,
                                  cleanup: list[Any]) -> list[str]:  # fmt: skip
    """What is unreadable on the lobby, the dialogs, and a room seen by its host and by a
    guest after the host closed it (the error banner)."""
    problems = []
    lobby = lobby_with_rooms(prefs, keys, cleanup)
    await until(lobby.isVisible)
    problems += [f"lobby: {p}" for p in unreadable(lobby)]
    for dialog in dialogs(lobby, prefs, keys):
        dialog.show()
        problems += [f"{type(dialog).__name__}: {p}" for p in unreadable(dialog)]
        dialog.close()
    host = await hosted(prefs, keys, cleanup, name="Team lunch")
    guest = await joined(room_url(host), "Sam", prefs, keys, cleanup)
    assert host.chat is not None and guest.chat is not None
    host.chat.send("Where shall we eat?")
    await until(lambda: guest.chat is not None and guest.chat.model.rowCount() >= 3)
    problems += [f"host's room: {p}" for p in unreadable(host)]
    assert host.session is not None
    await host.session.leave()  # closes the room
    await until(lambda: guest.session is not None and guest.session.ended is not None)
    await until(lambda: guest.chat is not None and guest.chat.banner.isVisible())
    problems += [f"guest's ended room: {p}" for p in unreadable(guest)]
    return problems


# ---------------------------------------------------------------------------- the tests


async def test_on_a_dark_desktop_every_screen_is_readable(
    desktop: Desktop, prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    """The newcomer's dark GTK theme: buttons, dialog labels, the join notice, the room title,
    the people list and warnings all stand out from their backgrounds, which are dark."""
    desktop.turn_dark()
    assert theme.controller() is desktop.controller and desktop.controller.scheme == "dark"
    problems = await every_screen_unreadable(prefs, keys, cleanup)
    assert not problems, "\n".join(problems)
    lobby = next(w for w in cleanup if isinstance(w, MainWindow))
    assert is_dark(window_colour(lobby))


async def test_on_a_light_desktop_every_screen_is_readable(
    desktop: Desktop, prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    desktop.report(Qt.ColorScheme.Light)
    problems = await every_screen_unreadable(prefs, keys, cleanup)
    assert not problems, "\n".join(problems)
    lobby = next(w for w in cleanup if isinstance(w, MainWindow))
    assert not is_dark(window_colour(lobby))


async def test_the_theme_follows_the_desktop_live(
    desktop: Desktop, prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    """Open windows and dialogs switch when the desktop does, and stay readable (links too:
    a label keeps the link colour it had when its text was set)."""
    desktop.report(Qt.ColorScheme.Light)
    lobby = lobby_with_rooms(prefs, keys, cleanup)
    windows = [lobby, *dialogs(lobby, prefs, keys)]
    for window in windows:
        window.show()
    assert not any(is_dark(window_colour(w)) for w in windows)
    switched: list[str] = []
    desktop.controller.scheme_changed.connect(switched.append)

    for scheme in ("dark", "light"):
        desktop.report(Qt.ColorScheme.Dark if scheme == "dark" else Qt.ColorScheme.Light)
        assert switched[-1] == scheme
        assert all(is_dark(window_colour(w)) == (scheme == "dark") for w in windows)
        problems = [f"{type(w).__name__}: {p}" for w in windows for p in unreadable(w)]
        assert not problems, "\n".join(problems)
    assert switched == ["dark", "light"]
    for window in windows[1:]:
        window.close()


def test_a_desktop_that_reports_no_scheme_is_read_from_its_palette(qapp: Any) -> None:
    """Older desktops say nothing of their scheme (Unknown) but give the app their palette:
    light text on a dark window means dark."""
    dark = QPalette()
    for role, colour in DARK_DESKTOP.items():
        dark.setColor(getattr(QPalette.ColorRole, role), QColor(colour))
    assert theme.is_dark(dark)
    assert not theme.is_dark(QPalette(QColor("#efefef")))  # Fusion's own, light
    assert theme.is_dark(theme.palette(theme.DARK))
    assert not theme.is_dark(theme.palette(theme.LIGHT))


async def test_a_chosen_theme_ignores_the_desktop_and_is_remembered(
    desktop: Desktop, tmp_path: Path, keys: KeyStore, cleanup: list[Any]
) -> None:
    """Appearance → Dark on a light desktop: dark now, after the desktop changes, and at the
    next start; kept in the private preferences file."""
    path = tmp_path / "prefs.ini"
    prefs = Preferences(QSettings(str(path), QSettings.Format.IniFormat))
    make_application([], prefs=prefs)
    desktop.report(Qt.ColorScheme.Light)
    lobby = lobby_with_rooms(prefs, keys, cleanup)
    menu = theme.appearance_menu(lobby)
    choices = {action.text(): action for action in menu.actions()}
    assert list(choices) == ["Follow the system", "Light", "Dark"]
    assert choices["Follow the system"].isChecked()

    choices["Dark"].trigger()
    assert desktop.controller.scheme == "dark" and is_dark(window_colour(lobby))
    assert choices["Dark"].isChecked() and not choices["Follow the system"].isChecked()
    desktop.report(Qt.ColorScheme.Light)  # the desktop changes: the choice stands
    desktop.report(Qt.ColorScheme.Dark)
    desktop.report(Qt.ColorScheme.Light)
    assert is_dark(window_colour(lobby))

    assert "theme=dark" in path.read_text(encoding="utf-8")
    assert stat.S_IMODE(path.stat().st_mode) == FILE_MODE
    assert Preferences(QSettings(str(path), QSettings.Format.IniFormat)).theme() == "dark"

    desktop.controller.set_choice("system", remember=False)  # a new start reads the file
    make_application([], prefs=Preferences(QSettings(str(path), QSettings.Format.IniFormat)))
    assert desktop.controller.choice == "dark" and is_dark(window_colour(lobby))

    choices["Follow the system"].trigger()
    assert not is_dark(window_colour(lobby))
    assert Preferences(QSettings(str(path), QSettings.Format.IniFormat)).theme() == "system"


def test_a_theme_given_for_one_run_is_not_remembered(desktop: Desktop, tmp_path: Path) -> None:
    path = tmp_path / "prefs.ini"
    prefs = Preferences(QSettings(str(path), QSettings.Format.IniFormat))
    options = parse_arguments(["--theme", "dark", "-platform", "offscreen"])
    make_application([], prefs=prefs, theme_choice=options.theme)
    assert desktop.controller.scheme == "dark"
    assert prefs.theme() == "system"
    with pytest.raises(ValueError, match="not a theme choice"):
        prefs.set_theme("solarized")
    with pytest.raises(SystemExit):
        parse_arguments(["--theme", "solarized"])


# ----------------------------------------------------------------------------------- focus


def _edge_colours(image: QImage, rect: QRect, width: int) -> set[str]:
    """The colours of the outermost ``width`` pixels at the middle of each side of ``rect``."""
    middle = rect.center()
    points = []
    for inset in range(width):
        points += [
            QPoint(middle.x(), rect.top() + inset), QPoint(middle.x(), rect.bottom() - inset),
            QPoint(rect.left() + inset, middle.y()), QPoint(rect.right() - inset, middle.y()),
        ]  # fmt: skip
    return {image.pixelColor(p).name() for p in points}


async def focus_problems(window: QWidget, scheme: str) -> list[str]:
    """Every control in ``window`` that Tab reaches must show, when it has the focus, a 2 px
    outline in the focus colour all round, where it shows none without the focus."""
    colours = theme.THEMES[scheme]  # type: ignore[index]
    window.activateWindow()
    await until(window.isActiveWindow, what="the window to be active")
    problems = []
    controls = [
        w for w in window.findChildren(QWidget)
        if w.window() is window and w.isVisibleTo(window) and w.isEnabled()
        and w.focusPolicy() & Qt.FocusPolicy.TabFocus and w.focusProxy() is None
    ]  # fmt: skip
    assert controls
    for widget in controls:
        if isinstance(widget.parentWidget(), QComboBox | QAbstractSpinBox):
            continue  # the field inside a drop-down or a spin box: the box shows the focus
        outline = colours.focus_on_accent if widget.objectName() == "primary" else colours.focus

        def edges(widget: QWidget = widget) -> set[str]:
            bring_into_view(widget, window)
            rect = widget.rect()
            if isinstance(widget, QTabBar):  # the current tab, its bottom open to the page
                rect = widget.tabRect(widget.currentIndex()).adjusted(0, 0, 0, -2)
            on_window = QRect(widget.mapTo(window, rect.topLeft()), rect.size())
            found = _edge_colours(window.grab().toImage(), on_window, 2)
            return found - {colours.window} if isinstance(widget, QTabBar) else found

        window.setFocus()
        before = edges()
        widget.setFocus(Qt.FocusReason.TabFocusReason)
        assert widget.hasFocus(), widget
        after = edges()
        name = f"{type(widget).__name__} {widget.objectName()} {getattr(widget, 'text', str)()!r}"
        if after != {outline}:
            problems.append(f"{name}: edges {sorted(after)} with the focus, want {outline}")
        elif outline in before:
            problems.append(f"{name}: the outline is there without the focus too")
    return problems


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_the_focused_control_has_a_clear_outline(
    desktop: Desktop, scheme: str, prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    """Issue 9: "focus outlines are faint". Buttons (the primary one too), fields, drop-downs,
    spin boxes, lists and tabs: 2 px in the focus colour, 3:1 against what is around."""
    desktop.controller.set_choice(scheme, remember=False)
    lobby = lobby_with_rooms(prefs, keys, cleanup)
    problems = await focus_problems(lobby, scheme)
    for dialog in dialogs(lobby, prefs, keys):
        dialog.show()
        problems += [f"{type(dialog).__name__}: {p}" for p in await focus_problems(dialog, scheme)]
        dialog.close()
    host = await hosted(prefs, keys, cleanup, name="Focus room")
    problems += [f"room: {p}" for p in await focus_problems(host, scheme)]
    assert not problems, "\n".join(problems)


# -------------------------------------------------------------------------------- logging


def test_the_apps_log_lines_carry_no_credentials(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Set up as ``main()`` does, no line shows a URL's password or a key the app read."""
    monkeypatch.setattr("keyring.get_password", lambda *_: "sk-from-the-keyring-1234")
    set_up_logging()
    assert KeyStore().get("https://api.example/v1") == "sk-from-the-keyring-1234"
    log = logging.getLogger("gptgroup.desktop")
    with caplog.at_level(logging.WARNING):
        log.warning("provider at http://ana:hunter2@192.168.1.20:8800/v1 said no")
        log.warning("the key sk-from-the-keyring-1234 was refused")
    assert "hunter2" not in caplog.text and "sk-from-the-keyring-1234" not in caplog.text
    assert caplog.text.count(REDACTED) == 2
