"""The app's light and dark themes, and which of them is shown.

Each theme is one set of named colours (:class:`Colours`): the application palette
(:func:`palette`) and the style sheet (``resources/style.qss``, a template that names colours
as ``$text``, ``$window``, … and holds no colour of its own; see :func:`stylesheet`) are both
made from it, so nothing a widget draws is left to the system's palette. A dark desktop theme
can then no longer put its white text on our light backgrounds.

:data:`REQUIRED_CONTRASTS` lists every foreground the app draws on every background it draws
it on, with the WCAG AA minimum it must meet (4.5:1 for text, 3:1 for large text, focus
outlines and the boundaries of controls); ``tests/desktop/test_theme.py`` checks both themes
against it.

:class:`ThemeController` (one per application, made by :func:`install`) applies the theme the
person chose: ``"system"`` follows the desktop's colour scheme, live, through
``QStyleHints.colorSchemeChanged``; ``"light"`` and ``"dark"`` force one. The choice is kept in
the preferences (:meth:`desktop.settings.Preferences.theme`). :func:`appearance_menu` is the
menu that changes it.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from string import Template
from typing import Literal

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QLabel, QMenu, QWidget

from desktop.settings import THEME_CHOICES, Preferences
from resources import path, read_text

__all__ = [
    "CHOICE_LABELS",
    "DARK",
    "LIGHT",
    "REQUIRED_CONTRASTS",
    "AppearanceMenu",
    "Colours",
    "Contrast",
    "ThemeController",
    "appearance_menu",
    "colours_for",
    "colours_of",
    "controller",
    "install",
    "is_dark",
    "palette",
    "stylesheet",
]

log = logging.getLogger("gptgroup.desktop.theme")

Scheme = Literal["light", "dark"]

CHOICE_LABELS = {"system": "Follow the system", "light": "Light", "dark": "Dark"}
"""What the appearance menu calls each of :data:`desktop.settings.THEME_CHOICES`."""

STYLE = "Fusion"
"""The Qt style under the style sheet. Fusion draws every control from the palette on every
system; a native style (Windows 11, macOS) draws some controls in the system's colours, which
a forced theme must not show."""


@dataclass(frozen=True, slots=True)
class Colours:
    """One theme: every colour the app draws, by what it is for (``#rrggbb``)."""

    # Surfaces, from the back to the front.
    window: str  # windows and dialogs
    surface: str  # inputs, lists and buttons
    panel: str  # the people panel
    card: str  # a room in the lobby's list (the palette's AlternateBase)
    subtle: str  # the empty lobby's box, pressed and disabled buttons
    hover: str  # a button under the pointer
    divider: str  # frames that only group things (lists, group boxes, tabs): decoration

    # Text.
    text: str
    text_secondary: str  # panel titles, what the room discloses
    text_muted: str  # hints, usage, typing, placeholders
    text_disabled: str  # controls that cannot be used now (WCAG exempts them; kept legible)
    title: str  # the app's name in the lobby: large text
    link: str
    problem: str  # an error said under a field, on the window

    # Controls.
    control_border: str  # the edge that shows where an input or a button is
    arrow: str  # drop-down and spin-box arrows: the same in both themes (one image each)
    # A ticked check box is filled with accent_fill and ticked in on_accent (one image).
    focus: str  # the outline of the focused control
    accent_fill: str  # the primary button
    accent_fill_hover: str
    on_accent: str  # text on the primary button
    focus_on_accent: str  # the outline of the focused primary button
    selection: str  # selected rows and selected text
    on_selection: str

    # Messages to the person.
    info_bg: str
    info_text: str
    warning_bg: str
    warning_text: str
    error_bg: str
    error_text: str
    tooltip_bg: str
    tooltip_text: str

    # The chat's messages (drawn by the message delegate).
    message_mine: str
    message_answer: str
    message_other: str
    message_accent: str  # chips such as "Copy code", an information notice's mark
    message_ai_badge: str
    message_host_badge: str
    message_warning: str  # a warning notice's mark
    message_error: str  # "not sent", a failed answer, an error notice's mark
    badge_text: str  # on the host and AI badges


LIGHT = Colours(
    window="#fbfbfc",
    surface="#ffffff",
    panel="#f5f6f8",
    card="#f2f4f6",
    subtle="#eef0f3",
    hover="#eef3f6",
    divider="#dfe2e6",
    text="#1d2329",
    text_secondary="#454d55",
    text_muted="#5c6670",
    text_disabled="#7d868f",
    title="#0f7984",
    link="#0b5cc4",
    problem="#b3261e",
    control_border="#868f98",
    arrow="#7f8891",
    focus="#1a5fb4",
    accent_fill="#0f7984",
    accent_fill_hover="#0c6670",
    on_accent="#ffffff",
    focus_on_accent="#1d2329",
    selection="#1f4f8a",
    on_selection="#ffffff",
    info_bg="#e3f1fb",
    info_text="#1d2329",
    warning_bg="#fff4d6",
    warning_text="#5c4400",
    error_bg="#fde7e7",
    error_text="#8a1c1c",
    tooltip_bg="#2b3137",
    tooltip_text="#f5f6f8",
    message_mine="#e3f1fb",
    message_answer="#e6f5f1",
    message_other="#f0f2f4",
    message_accent="#0d737e",
    message_ai_badge="#0f7984",
    message_host_badge="#8a5700",
    message_warning="#9a6700",
    message_error="#b3261e",
    badge_text="#ffffff",
)

DARK = Colours(
    window="#1b1e22",
    surface="#23272c",
    panel="#202428",
    card="#2c3137",
    subtle="#2a2f35",
    hover="#2f353b",
    divider="#363c42",
    text="#e6e8eb",
    text_secondary="#c3c9cf",
    text_muted="#9ea7b0",
    text_disabled="#7c858e",
    title="#4fb3bf",
    link="#6cb6ff",
    problem="#ff8a80",
    control_border="#7c858e",
    arrow="#7f8891",
    focus="#78aeed",
    accent_fill="#147e89",
    accent_fill_hover="#0f6b75",
    on_accent="#ffffff",
    focus_on_accent="#ffffff",
    selection="#1f4f8a",
    on_selection="#ffffff",
    info_bg="#1f3a4d",
    info_text="#e6e8eb",
    warning_bg="#3d3214",
    warning_text="#f2d38a",
    error_bg="#4a1f1f",
    error_text="#ffb4ab",
    tooltip_bg="#30363d",
    tooltip_text="#e6e8eb",
    message_mine="#1f3a4d",
    message_answer="#223a35",
    message_other="#2a2d31",
    message_accent="#4fb3bf",
    message_ai_badge="#137a85",
    message_host_badge="#8a5700",
    message_warning="#d8a657",
    message_error="#ff8a80",
    badge_text="#ffffff",
)

THEMES: dict[Scheme, Colours] = {"light": LIGHT, "dark": DARK}

TEXT = 4.5
"""WCAG AA for text (1.4.3)."""
LARGE_TEXT = 3.0
"""WCAG AA for large text: 18 pt, or 14 pt bold (1.4.3)."""
NON_TEXT = 3.0
"""WCAG AA for focus outlines and the boundaries of controls (1.4.11)."""


@dataclass(frozen=True, slots=True)
class Contrast:
    """``foreground`` is drawn on ``background`` (names of :class:`Colours` fields)."""

    foreground: str
    background: str
    minimum: float
    where: str


def _text_on(backgrounds: tuple[str, ...], foregrounds: tuple[str, ...], where: str,
             minimum: float = TEXT) -> tuple[Contrast, ...]:  # fmt: skip
    return tuple(Contrast(fg, bg, minimum, where) for fg in foregrounds for bg in backgrounds)


REQUIRED_CONTRASTS: tuple[Contrast, ...] = (
    # Labels on windows, dialogs and the people panel; text in inputs, lists and buttons.
    *_text_on(
        ("window", "surface", "panel"),
        ("text", "text_secondary", "text_muted"),
        "labels, inputs, lists, buttons and placeholders",
    ),
    *_text_on(("window", "panel"), ("link", "problem"), "links and errors under a field"),
    Contrast("text_secondary", "subtle", TEXT, "the empty lobby's box"),
    *_text_on(("card",), ("text", "text_muted"), "a room in the lobby's list"),
    Contrast("text", "hover", TEXT, "a button under the pointer"),
    Contrast("text", "subtle", TEXT, "a pressed button"),
    Contrast("title", "window", LARGE_TEXT, "the app's name in the lobby (22 pt)"),
    Contrast("on_accent", "accent_fill", TEXT, "the primary button"),
    Contrast("on_accent", "accent_fill_hover", TEXT, "the primary button under the pointer"),
    *_text_on(("window", "surface"), ("accent_fill",), "a ticked check box", NON_TEXT),
    Contrast("on_selection", "selection", TEXT, "selected rows and text"),
    Contrast("info_text", "info_bg", TEXT, "an information banner"),
    Contrast("warning_text", "warning_bg", TEXT, "a warning banner, the join notice's advice"),
    Contrast("error_text", "error_bg", TEXT, "an error banner"),
    Contrast("tooltip_text", "tooltip_bg", TEXT, "tooltips"),
    # Disabled controls: WCAG asks nothing of them, but a greyed button should still be read.
    *_text_on(("window", "surface", "subtle"), ("text_disabled",), "disabled controls", NON_TEXT),
    # Where a control is, and which one has the keyboard.
    *_text_on(
        ("window", "surface", "panel"), ("control_border",), "the edges of controls", NON_TEXT
    ),
    *_text_on(
        ("surface", "hover", "subtle"), ("arrow",), "drop-down and spin-box arrows", NON_TEXT
    ),
    *_text_on(("window", "surface", "panel", "subtle"), ("focus",), "focus outlines", NON_TEXT),
    Contrast("focus_on_accent", "accent_fill", NON_TEXT, "the focused primary button's outline"),
    Contrast("focus_on_accent", "window", NON_TEXT, "the focused primary button's outline"),
    # Messages in the chat.
    *_text_on(
        ("message_mine", "message_answer", "message_other"),
        ("text", "text_muted", "message_error", "message_accent", "link"),
        "messages: text, times and footers, errors, chips, links",
    ),
    Contrast("badge_text", "message_host_badge", TEXT, "the HOST badge"),
    Contrast("badge_text", "message_ai_badge", TEXT, "the AI badge"),
    *_text_on(
        ("surface",),
        ("message_accent", "message_warning", "message_error"),
        "a notice's mark",
        NON_TEXT,
    ),
)


def is_dark(palette: QPalette) -> bool:
    """Whether a palette puts light text on a dark window (as a dark desktop theme does)."""
    window = palette.color(QPalette.ColorRole.Window)
    text = palette.color(QPalette.ColorRole.WindowText)
    return window.lightness() < text.lightness()


def palette(colours: Colours) -> QPalette:
    """The application palette of a theme: every role, in every colour group."""
    roles = QPalette.ColorRole
    result = QPalette()
    for role, name in (
        (roles.Window, colours.window),
        (roles.WindowText, colours.text),
        (roles.Base, colours.surface),
        (roles.AlternateBase, colours.card),
        (roles.Text, colours.text),
        (roles.Button, colours.surface),
        (roles.ButtonText, colours.text),
        (roles.BrightText, colours.problem),
        (roles.PlaceholderText, colours.text_muted),
        (roles.Highlight, colours.selection),
        (roles.HighlightedText, colours.on_selection),
        (roles.Link, colours.link),
        (roles.LinkVisited, colours.link),
        (roles.ToolTipBase, colours.tooltip_bg),
        (roles.ToolTipText, colours.tooltip_text),
        (roles.Accent, colours.accent_fill),
        # What Fusion draws bevels, frames and scroll bars with.
        (roles.Light, colours.surface),
        (roles.Midlight, colours.divider),
        (roles.Mid, colours.control_border),
        (roles.Dark, colours.control_border),
        (roles.Shadow, colours.text),
    ):
        result.setColor(role, QColor(name))  # every group: active, inactive, disabled
    disabled = QPalette.ColorGroup.Disabled
    for role in (roles.WindowText, roles.Text, roles.ButtonText, roles.PlaceholderText):
        result.setColor(disabled, role, QColor(colours.text_disabled))
    result.setColor(disabled, roles.Base, QColor(colours.subtle))
    result.setColor(disabled, roles.Button, QColor(colours.subtle))
    return result


@functools.cache
def _template() -> Template:
    return Template(read_text("style.qss"))


IMAGES = {
    "arrow_down_image": ("arrow-down.svg", "arrow"),
    "arrow_up_image": ("arrow-up.svg", "arrow"),
    "check_image": ("check.svg", "on_accent"),
}
"""Images the style sheet names, by the name it uses: the file, and the :class:`Colours` field
it is drawn in (the same in both themes, since one file serves both)."""


def stylesheet(colours: Colours) -> str:
    """``resources/style.qss`` with the theme's colours (and the images' paths) in place of
    their names.

    Raises ``KeyError`` for a name that is not a field of :class:`Colours` or in :data:`IMAGES`.
    """
    images = {name: Path(str(path(file))).as_posix() for name, (file, _) in IMAGES.items()}
    return _template().substitute(asdict(colours) | images)


def colours_for(widget: QWidget | None = None) -> Colours:
    """The theme that ``widget`` (or the application) is drawn in, from its palette."""
    return colours_of(widget.palette() if widget is not None else QGuiApplication.palette())


def colours_of(palette: QPalette) -> Colours:
    """The theme a palette belongs to."""
    return DARK if is_dark(palette) else LIGHT


class ThemeController(QObject):
    """Applies the chosen theme to the application and keeps it current.

    With the choice ``"system"``, the theme follows the desktop's colour scheme, and switches
    when it changes. Where the desktop reports no scheme (``Qt.ColorScheme.Unknown``), the
    palette the system gave the app at start decides: light text on a dark window means dark.

    :attr:`scheme_changed` is emitted with ``"light"`` or ``"dark"`` after the application has
    the new palette and style sheet; :attr:`choice_changed` with the new choice.
    """

    scheme_changed = Signal(str)
    choice_changed = Signal(str)

    def __init__(self, app: QApplication, choice: str = "system",
                 prefs: Preferences | None = None) -> None:  # fmt: skip
        super().__init__(app)
        self._app = app
        self._prefs = prefs
        # Read before our palette replaces it: the desktop's own, for when it reports no scheme.
        self._system_palette_dark = is_dark(app.palette())
        self._system = self._scheme_from(app.styleHints().colorScheme())
        self._choice = choice if choice in THEME_CHOICES else "system"
        self._scheme: Scheme | None = None
        app.setStyle(STYLE)
        self._connect_signals()
        self._request_scheme()
        self._apply()

    def _connect_signals(self) -> None:
        self._app.styleHints().colorSchemeChanged.connect(self.on_system_scheme_changed)

    @property
    def choice(self) -> str:
        """``"system"``, ``"light"`` or ``"dark"``."""
        return self._choice

    @property
    def scheme(self) -> Scheme:
        """The theme shown now."""
        return self._wanted()

    @property
    def colours(self) -> Colours:
        return THEMES[self._wanted()]

    def use_preferences(self, prefs: Preferences | None) -> None:
        """Remember later choices in ``prefs`` (None: remember nothing)."""
        self._prefs = prefs

    def set_choice(self, choice: str, *, remember: bool = True) -> None:
        """Show ``choice``'s theme now; with ``remember``, keep it in the preferences too.

        Raises ``ValueError`` for anything but :data:`desktop.settings.THEME_CHOICES`."""
        if choice not in THEME_CHOICES:
            raise ValueError(f"not a theme choice: {choice!r}")
        if remember and self._prefs is not None:
            self._prefs.set_theme(choice)
        if choice == self._choice:
            return
        self._choice = choice
        self._request_scheme()
        self._apply()
        self.choice_changed.emit(choice)

    def on_system_scheme_changed(self, scheme: Qt.ColorScheme) -> None:
        self._system = self._scheme_from(scheme)
        self._apply()

    def _scheme_from(self, reported: Qt.ColorScheme) -> Scheme:
        if reported == Qt.ColorScheme.Dark:
            return "dark"
        if reported == Qt.ColorScheme.Light:
            return "light"
        return "dark" if self._system_palette_dark else "light"

    def _wanted(self) -> Scheme:
        if self._choice == "light":
            return "light"
        if self._choice == "dark":
            return "dark"
        return self._system

    def _request_scheme(self) -> None:
        """Tell the platform which scheme we show, so what Qt does not draw (a window's title
        bar on Windows and macOS) matches a forced theme; Unknown gives it back to the system.

        A platform that honours the request reports the scheme it was asked for meanwhile, so
        after giving it back the scheme is read again. One that reports none keeps what it
        last said."""
        hints = self._app.styleHints()
        wanted = {"light": Qt.ColorScheme.Light, "dark": Qt.ColorScheme.Dark}
        hints.setColorScheme(wanted.get(self._choice, Qt.ColorScheme.Unknown))
        reported = hints.colorScheme()
        if self._choice == "system" and reported != Qt.ColorScheme.Unknown:
            self._system = self._scheme_from(reported)

    def _apply(self) -> None:
        scheme = self._wanted()
        if scheme == self._scheme:
            return
        colours = THEMES[scheme]
        with no_collection():
            self._app.setPalette(palette(colours))
            style = stylesheet(colours)
            if self._app.styleSheet() != style:  # setting it again would polish every widget
                self._app.setStyleSheet(style)
            if self._scheme is not None:
                _refresh_links()
        self._scheme = scheme
        log.debug("theme: %s (choice %s)", scheme, self._choice)
        self.scheme_changed.emit(scheme)


@contextlib.contextmanager
def no_collection() -> Iterator[None]:
    """Hold off Python's cycle collector while Qt walks every widget: a window it collected
    then (one nothing refers to any more) would be deleted under the walk, and Qt would call
    a widget that is gone."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _refresh_links() -> None:
    """Give the links in rich-text labels the new link colour.

    A label colours its links when its text is set and keeps that colour through palette
    changes: the light theme's blue would stay on the dark window. Setting the text again
    recolours them (the label ignores the same text, hence the empty one first). Only our own
    rich text is concerned: network text is plain text (``desktop.labels``), without links."""
    for widget in QApplication.allWidgets():
        if not isinstance(widget, QLabel) or widget.textFormat() == Qt.TextFormat.PlainText:
            continue
        text = widget.text()
        if "<a " in text:
            widget.setText("")
            widget.setText(text)


def install(app: QApplication, *, choice: str | None = None,
            prefs: Preferences | None = None) -> ThemeController:  # fmt: skip
    """The application's theme controller, made on the first call, and the theme to show.

    The theme is ``choice`` if given (for this run: not remembered), else the one kept in
    ``prefs``, else, on the first call, ``"system"``. Choices made later (in the appearance
    menu) are remembered in ``prefs`` when given."""
    kept = prefs.theme() if prefs is not None else None
    existing = controller(app)
    if existing is None:
        made = ThemeController(app, choice or kept or "system", prefs)
        made.setObjectName(_CONTROLLER_NAME)
        return made
    if prefs is not None:
        existing.use_preferences(prefs)
    if choice or kept:
        existing.set_choice(choice or kept or "system", remember=False)
    return existing


_CONTROLLER_NAME = "gptgroupTheme"


def controller(app: QApplication | None = None) -> ThemeController | None:
    """The controller :func:`install` made for the application, if any."""
    app = app or QApplication.instance()  # type: ignore[assignment]
    if app is None:
        return None
    return app.findChild(
        ThemeController, _CONTROLLER_NAME, Qt.FindChildOption.FindDirectChildrenOnly
    )


class AppearanceMenu(QMenu):
    """The "Appearance" menu: Follow the system, Light, Dark. The current choice is checked;
    choosing one switches at once and is remembered. Disabled without a theme controller."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Appearance", parent)
        self._theme = controller()
        self._group = QActionGroup(self)
        self._actions: dict[str, QAction] = {}
        for choice in THEME_CHOICES:
            action = QAction(CHOICE_LABELS[choice], self, checkable=True)
            action.setData(choice)
            self._group.addAction(action)
            self.addAction(action)
            self._actions[choice] = action
        if self._theme is None:
            self.setEnabled(False)
            return
        self._actions[self._theme.choice].setChecked(True)
        self._connect_signals()

    def _connect_signals(self) -> None:
        assert self._theme is not None
        self._group.triggered.connect(self.on_action_triggered)
        self._theme.choice_changed.connect(self.on_choice_changed)

    def on_action_triggered(self, action: QAction) -> None:
        if self._theme is not None:
            self._theme.set_choice(action.data())

    def on_choice_changed(self, choice: str) -> None:
        self._actions[choice].setChecked(True)


def appearance_menu(parent: QWidget | None = None) -> AppearanceMenu:
    """The "Appearance" menu, for a button or a menu bar (see :class:`AppearanceMenu`)."""
    return AppearanceMenu(parent)
