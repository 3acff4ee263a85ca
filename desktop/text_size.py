"""How large the app's text is: a few steps around the system's own size.

The application font is the system's, scaled by the chosen step (:data:`TEXT_SIZES`, in per
cent). Every widget that has no font of its own follows it, the chat's messages included: the
message delegate draws with its view's font and keys every cached layout by the font, and a
view lays its rows out again when its font changes. Fonts the style sheet fixes in points (the
lobby's title, the room's name) and fonts a widget was given, made from another at
construction (a verification code's), keep their size.

:class:`TextSizeController` (one per application, made by :func:`install`) holds the step and
remembers it in the preferences; :func:`bigger`, :func:`smaller` and :func:`reset` (for
Ctrl+Plus, Ctrl+Minus and Ctrl+0) and :func:`apply_text_size` act on it.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QApplication

from desktop.settings import Preferences
from desktop.theme import no_collection

__all__ = [
    "DEFAULT_SIZE",
    "TEXT_SIZES",
    "TextSizeController",
    "apply_text_size",
    "bigger",
    "controller",
    "install",
    "label",
    "reset",
    "smaller",
]

log = logging.getLogger("gptgroup.desktop.text_size")

TEXT_SIZES = (85, 100, 115, 130, 150, 175, 200)
"""The steps, in per cent of the system's text size."""
DEFAULT_SIZE = 100

_CONTROLLER_NAME = "gptgroupTextSize"


def label(percent: int) -> str:
    """How the Settings dialog names a step."""
    return f"{percent}% (the system's size)" if percent == DEFAULT_SIZE else f"{percent}%"


def nearest(percent: int) -> int:
    """The step closest to ``percent`` (a value read back from a file may be anything)."""
    return min(TEXT_SIZES, key=lambda step: (abs(step - percent), step))


class TextSizeController(QObject):
    """Scales the application font from the one the system gave the app.

    :attr:`size_changed` is emitted with the new step (per cent) after the application has
    its new font: whatever caches sizes measured with the old one can listen to it.
    """

    size_changed = Signal(int)

    def __init__(self, app: QApplication, prefs: Preferences | None = None) -> None:
        super().__init__(app)
        self.setObjectName(_CONTROLLER_NAME)
        self._app = app
        self._prefs = prefs
        self._base = QFont(app.font())  # the system's: every step is measured from it
        self._size = DEFAULT_SIZE

    @property
    def size(self) -> int:
        """The step shown now, in per cent."""
        return self._size

    def use_preferences(self, prefs: Preferences | None) -> None:
        """Remember later changes in ``prefs`` (None: remember nothing)."""
        self._prefs = prefs

    def set_size(self, percent: int, *, remember: bool = True) -> int:
        """Show text at the step nearest ``percent``; with ``remember``, keep it in the
        preferences too. Returns the step now shown."""
        step = nearest(percent)
        if remember and self._prefs is not None:
            self._prefs.set_text_size(step)
        if step != self._size:
            self._size = step
            # Both walk every widget (see theme.no_collection).
            with no_collection():
                self._app.setFont(self._scaled(step))
                # Under a style sheet, widgets already made keep the font they were polished
                # with: setting the sheet again polishes them anew, with the new font.
                sheet = self._app.styleSheet()
                if sheet:
                    self._app.setStyleSheet(sheet)
            log.debug("text size: %d%%", step)
            self.size_changed.emit(step)
        return step

    def bigger(self) -> int:
        """One step up (none past the largest); returns the step now shown."""
        index = TEXT_SIZES.index(self._size)
        return self.set_size(TEXT_SIZES[min(index + 1, len(TEXT_SIZES) - 1)])

    def smaller(self) -> int:
        """One step down (none past the smallest); returns the step now shown."""
        index = TEXT_SIZES.index(self._size)
        return self.set_size(TEXT_SIZES[max(index - 1, 0)])

    def reset(self) -> int:
        """Back to the system's size; returns it."""
        return self.set_size(DEFAULT_SIZE)

    def _scaled(self, percent: int) -> QFont:
        font = QFont(self._base)
        if self._base.pointSizeF() > 0:
            font.setPointSizeF(self._base.pointSizeF() * percent / 100)
        elif self._base.pixelSize() > 0:  # a system font given in pixels
            font.setPixelSize(max(1, round(self._base.pixelSize() * percent / 100)))
        return font


def controller(app: QApplication | None = None) -> TextSizeController | None:
    """The controller :func:`install` made for the application, if any."""
    found = app or QApplication.instance()
    if not isinstance(found, QApplication):
        return None
    return found.findChild(
        TextSizeController, _CONTROLLER_NAME, Qt.FindChildOption.FindDirectChildrenOnly
    )


def install(app: QApplication, prefs: Preferences | None = None) -> TextSizeController:
    """The application's text size controller, made on the first call (which takes the
    font the app has then as the system's); with ``prefs``, the step kept there is shown
    and later changes are kept there."""
    made = controller(app) or TextSizeController(app)
    if prefs is not None:
        made.use_preferences(prefs)
        made.set_size(prefs.text_size(), remember=False)
    return made


def apply_text_size(app: QApplication, percent: int) -> int:
    """Show the application's text at the step nearest ``percent`` and remember it (in the
    preferences the controller was installed with). Returns the step now shown."""
    return install(app).set_size(percent)


def bigger(app: QApplication | None = None) -> int:
    """Ctrl+Plus: one step larger, remembered. Returns the step now shown."""
    return _installed(app).bigger()


def smaller(app: QApplication | None = None) -> int:
    """Ctrl+Minus: one step smaller, remembered. Returns the step now shown."""
    return _installed(app).smaller()


def reset(app: QApplication | None = None) -> int:
    """Ctrl+0: the system's size, remembered. Returns it."""
    return _installed(app).reset()


def _installed(app: QApplication | None) -> TextSizeController:
    found = app or QApplication.instance()
    if not isinstance(found, QApplication):
        raise RuntimeError("no application")
    return install(found)
