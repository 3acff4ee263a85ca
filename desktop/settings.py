"""What the app remembers between runs: preferences only, never chat content or room names.

Display names, the assistant choices and saved presets, the theme, the text size, how a
message is sent, notifications, and the window's geometry and splitter sizes go in
``QSettings``, in a file only its owner may read (mode 0600: a display name and a server address
are nobody else's business). Room names and chat content are not kept, and a room name an older
version kept is removed when the file is opened.

API keys go in the OS keyring. Where there is no keyring (no desktop session), a key is kept for
this session only, and the dialogs say so, unless the person explicitly chose to keep keys in a
file only they can read (:meth:`KeyStore.keep_in_file`: mode 0600, in the app's settings folder;
undoing the choice deletes the file). Nothing else of ours writes a key to a file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import keyring
from keyring.backends import fail, null
from keyring.errors import KeyringError, PasswordDeleteError
from PySide6.QtCore import (
    QEvent,
    QObject,
    QRect,
    QSettings,
    QStandardPaths,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QSplitter, QWidget

from core import APP_NAME
from core.ai.provider import PRESETS
from core.log_redaction import register_secret

__all__ = [
    "FILE_MODE",
    "FORGOTTEN_KEYS",
    "SEND_KEYS",
    "THEME_CHOICES",
    "KeyStore",
    "Preferences",
    "SavedPreset",
    "SendKey",
    "clamped",
    "default_key_file",
    "remember_splitter",
    "restore_window_geometry",
    "save_window_geometry",
]

log = logging.getLogger("gptgroup.desktop.settings")

KEYRING_SERVICE = "GPT Group"
FILE_MODE = 0o600
FORGOTTEN_KEYS = ("room_name",)
"""Keys older versions wrote that are no longer kept; removed whenever the file is opened."""
THEME_KEY = "theme"
THEME_CHOICES = ("system", "light", "dark")
"""Follow the desktop's colour scheme, or force the light or the dark theme."""
SendKey = Literal["enter", "ctrl_enter"]
SEND_KEYS: tuple[SendKey, ...] = ("enter", "ctrl_enter")
"""Enter sends (Shift+Enter: a new line), or Ctrl+Enter sends (Enter: a new line)."""
MAX_PRESETS = 50
MAX_PRESET_FIELD_CHARS = 500  # a name, an address or a model: read back from a file


@dataclass(frozen=True, slots=True)
class SavedPreset:
    """A provider the person saved by name: ``provider`` is a key of
    :data:`core.ai.provider.PRESETS` other than ``"none"``; its API key is in the
    :class:`KeyStore`, under ``base_url`` (as the host dialog keeps keys)."""

    name: str
    provider: str
    base_url: str
    model: str

    def where(self) -> str:
        """Where its key is kept: the server's address (the provider's own by default)."""
        return self.base_url or PRESETS[self.provider].base_url


class Preferences(QObject):
    """Small, non-secret preferences, in a file readable by its owner only.

    Every :meth:`set` is written at once, with a umask that gives a new file mode 0600, and
    the file is then set to 0600 whatever it was (Qt keeps an existing file's mode when it
    rewrites it). Stores that are not files (the Windows registry) are left to the system.

    :attr:`changed` is emitted with the key after each :meth:`set`, so that what follows a
    preference (the composer's send key) follows it live.
    """

    changed = Signal(str)

    def __init__(self, settings: QSettings | None = None) -> None:
        super().__init__()
        self._settings = settings or QSettings("GPT Group", "GPT Group")
        forgotten = [key for key in FORGOTTEN_KEYS if self._settings.contains(key)]
        for key in forgotten:
            self._settings.remove(key)
        if forgotten or os.path.isfile(self._settings.fileName()):
            self._write()

    def get(self, key: str, default: str = "") -> str:
        value = self._settings.value(key, default)
        return value if isinstance(value, str) else default

    def set(self, key: str, value: str) -> None:
        self._settings.setValue(key, value)
        self._write()
        self.changed.emit(key)

    def _flag(self, key: str, default: bool) -> bool:
        value = self.get(key, "true" if default else "false")
        return value == "true" if value in ("true", "false") else default

    def _set_flag(self, key: str, on: bool) -> None:
        self.set(key, "true" if on else "false")

    def display_name(self) -> str:
        """The name the join and host dialogs offer (the last one used, or set in Settings)."""
        return self.get("display_name")

    def set_display_name(self, name: str) -> None:
        self.set("display_name", name)

    def separate_hosting_name(self) -> str:
        """The name to host under, when it differs from :meth:`display_name`; empty: the same."""
        return self.get("hosting_name")

    def hosting_name(self) -> str:
        """The name the host dialog offers: the separate one if set, else the display name."""
        return self.separate_hosting_name() or self.display_name()

    def set_hosting_name(self, name: str) -> None:
        """Host under ``name``; an empty one: the same as :meth:`display_name`."""
        self.set("hosting_name", name)

    def send_key(self) -> SendKey:
        """``"enter"`` (the default) or ``"ctrl_enter"``: see :data:`SEND_KEYS`."""
        value = self.get("send_key", "enter")
        return "ctrl_enter" if value == "ctrl_enter" else "enter"

    def set_send_key(self, key: SendKey) -> None:
        if key not in SEND_KEYS:
            raise ValueError(f"not a send key: {key!r}")
        self.set("send_key", key)

    def notifications(self) -> bool:
        """Whether to notify (while the window is in the background) when the person is
        mentioned or an answer they asked for is ready. On unless switched off."""
        return self._flag("notifications", True)

    def set_notifications(self, on: bool) -> None:
        self._set_flag("notifications", on)

    def text_size(self) -> int:
        """A step of :data:`desktop.text_size.TEXT_SIZES`, as a percentage (100 unless set)."""
        try:
            return int(self.get("text_size", "100"))
        except ValueError:
            return 100

    def set_text_size(self, percent: int) -> None:
        self.set("text_size", str(percent))

    def presets(self) -> list[SavedPreset]:
        """The saved provider presets, in the order saved; entries that do not make sense
        (a file edited by hand, an older version) are left out."""
        try:
            raw = json.loads(self.get("presets", "[]"))
        except ValueError:
            return []
        found: list[SavedPreset] = []
        for item in raw if isinstance(raw, list) else []:
            if not isinstance(item, dict):
                continue
            fields = [item.get(name) for name in ("name", "provider", "base_url", "model")]
            if not all(isinstance(f, str) and len(f) <= MAX_PRESET_FIELD_CHARS for f in fields):
                continue
            name, provider, base_url, model = (str(f) for f in fields)
            if name.strip() and provider in PRESETS and provider != "none":
                found.append(SavedPreset(name, provider, base_url, model))
        return found[:MAX_PRESETS]

    def set_presets(self, presets: list[SavedPreset]) -> None:
        """Keep ``presets`` (names, addresses, models: never their keys)."""
        self.set("presets", json.dumps([
            {"name": p.name, "provider": p.provider, "base_url": p.base_url, "model": p.model}
            for p in presets[:MAX_PRESETS]
        ]))  # fmt: skip

    def theme(self) -> str:
        """One of :data:`THEME_CHOICES`: ``"system"`` unless another was chosen (or the file
        holds something else)."""
        value = self.get(THEME_KEY, "system")
        return value if value in THEME_CHOICES else "system"

    def set_theme(self, choice: str) -> None:
        """Remember ``choice``; raises ``ValueError`` for anything but :data:`THEME_CHOICES`."""
        if choice not in THEME_CHOICES:
            raise ValueError(f"not a theme choice: {choice!r}")
        self.set(THEME_KEY, choice)

    def _write(self) -> None:
        with _private_files():
            self._settings.sync()
        path = self._settings.fileName()
        if os.path.isfile(path):
            try:
                os.chmod(path, FILE_MODE)
            except OSError as exc:
                log.warning("could not make the settings file private: %s", exc.strerror)

    def check_sensitive(self) -> bool:
        """Whether a message is checked for sensitive data before it is sent (on unless
        switched off in Settings)."""
        return self._flag("check_sensitive", True)

    def set_check_sensitive(self, on: bool) -> None:
        self._set_flag("check_sensitive", on)


@contextlib.contextmanager
def _private_files() -> Iterator[None]:
    """Files created meanwhile get no permissions for group or others.

    The umask is the process's, so this is kept to the one synchronous write.
    """
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


KEY_FILE_NAME = "api-keys.json"
KEYRING_PROBE = "(is there a keyring?)"
"""An entry nobody stores: reading it tells whether the keyring answers at all."""


def default_key_file() -> Path:
    """Where keys go when the person chose a file for them: the app's settings folder (beside
    the preferences file on Linux: ``~/.config/GPT Group/``)."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericConfigLocation)
    return Path(base) / APP_NAME / KEY_FILE_NAME


class KeyStore:
    """API keys by provider address, in the OS keyring, or in memory when there is none.

    Without a keyring, a key is kept for this session only, unless the person chose
    :meth:`keep_in_file`: then keys go to ``key_file`` (mode 0600), which exists only while
    that choice stands. Every key read or stored is registered with
    :mod:`core.log_redaction`, so no log line carries it from then on, whoever writes the
    line."""

    def __init__(self, key_file: Path | None = None) -> None:
        self._session_only: dict[str, str] = {}
        self.available = True  # false once the keyring has failed us
        self.key_file = key_file if key_file is not None else default_key_file()

    def keyring_available(self) -> bool:
        """Whether the OS keyring can keep keys (asked once it is needed, as a dialog opens)."""
        if not self.available:
            return False
        if isinstance(keyring.get_keyring(), (fail.Keyring, null.Keyring)):
            self.available = False
            return False
        try:
            keyring.get_password(KEYRING_SERVICE, KEYRING_PROBE)
        except KeyringError as exc:
            log.info("no keyring: %s", type(exc).__name__)
            self.available = False
        return self.available

    @property
    def file_enabled(self) -> bool:
        """Whether the person chose to keep keys in :attr:`key_file` (the file exists)."""
        return self.key_file.is_file()

    def get(self, where: str) -> str | None:
        if where in self._session_only:
            return self._session_only[where]
        in_file = self._read_file().get(where)
        if in_file is not None:
            register_secret(in_file)
            return in_file
        try:
            key = keyring.get_password(KEYRING_SERVICE, where)
        except KeyringError as exc:
            log.info("no keyring: %s", type(exc).__name__)
            self.available = False
            return None
        register_secret(key)
        return key

    def set(self, where: str, key: str) -> bool:
        """Store ``key``; returns False when it could be kept for this session only."""
        register_secret(key)
        try:
            keyring.set_password(KEYRING_SERVICE, where, key)
        except KeyringError as exc:
            self.available = False
            if self.file_enabled:
                log.info("no keyring, keeping the key in the chosen file: %s", type(exc).__name__)
                self._write_file(self._read_file() | {where: key})
                self._session_only.pop(where, None)
                return True
            log.info("no keyring, keeping the key for this session: %s", type(exc).__name__)
            self._session_only[where] = key
            return False
        return True

    def delete(self, where: str) -> None:
        """Forget the key for ``where``, wherever it is kept."""
        self._session_only.pop(where, None)
        kept = self._read_file()
        if where in kept:
            del kept[where]
            self._write_file(kept)
        try:
            keyring.delete_password(KEYRING_SERVICE, where)
        except PasswordDeleteError:
            pass  # there was none
        except KeyringError as exc:
            log.info("no keyring: %s", type(exc).__name__)
            self.available = False

    def keep_in_file(self, enabled: bool) -> None:
        """The person's explicit choice, for a system without a keyring: with ``enabled``,
        keys kept for this session (and later ones) go to :attr:`key_file`, readable by its
        owner only. Without, the file is deleted, and its keys stay for this session only."""
        if enabled:
            self._write_file(self._read_file() | self._session_only)
            self._session_only.clear()
            return
        self._session_only = self._read_file() | self._session_only
        with contextlib.suppress(FileNotFoundError):
            self.key_file.unlink()

    def _read_file(self) -> dict[str, str]:
        try:
            raw = json.loads(self.key_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("the key file cannot be read: %s", type(exc).__name__)
            return {}
        if not isinstance(raw, dict):
            return {}
        return {k: v for k, v in raw.items() if isinstance(k, str) and isinstance(v, str)}

    def _write_file(self, keys: dict[str, str]) -> None:
        """Replace the file with ``keys``: written to a new file made with mode 0600 (never
        readable by others, not even for a moment), then moved over the old one."""
        folder = self.key_file.parent
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = folder / f".{self.key_file.name}.new"
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump(keys, file)
        os.replace(temporary, self.key_file)
        os.chmod(self.key_file, FILE_MODE)


# ----------------------------------------------------------------- the window's shape

GEOMETRY_KEY = "window/geometry"
MAXIMIZED_KEY = "window/maximized"
SPLITTER_SAVE_DELAY_MS = 500
"""A drag moves the splitter many times a second: its sizes are written once it rests."""


def clamped(rect: QRect, available: QRect) -> QRect:
    """``rect``, made to fit inside ``available`` (a screen's free area): no larger, and
    moved in where it sticks out."""
    width = min(rect.width(), available.width())
    height = min(rect.height(), available.height())
    x = min(max(rect.x(), available.left()), available.left() + available.width() - width)
    y = min(max(rect.y(), available.top()), available.top() + available.height() - height)
    return QRect(x, y, width, height)


def save_window_geometry(window: QWidget, prefs: Preferences) -> None:
    """Remember where ``window`` is and how large (its size before maximising, if it is)."""
    rect = window.normalGeometry() if window.isMaximized() else window.geometry()
    if rect.isValid():
        prefs.set(GEOMETRY_KEY, f"{rect.x()},{rect.y()},{rect.width()},{rect.height()}")
    prefs._set_flag(MAXIMIZED_KEY, window.isMaximized())


def restore_window_geometry(window: QWidget, prefs: Preferences) -> bool:
    """Put ``window`` (not yet shown) where it was, clamped to the free area of the screen it
    was on (or the primary screen, should that one be gone). False when nothing was kept."""
    try:
        x, y, width, height = (int(part) for part in prefs.get(GEOMETRY_KEY).split(","))
    except ValueError:
        return False
    if width <= 0 or height <= 0:
        return False
    rect = QRect(x, y, width, height)
    screen = QGuiApplication.screenAt(rect.center()) or QGuiApplication.primaryScreen()
    if screen is not None:
        rect = clamped(rect, screen.availableGeometry())
    window.setGeometry(rect)
    if prefs._flag(MAXIMIZED_KEY, False):
        window.setWindowState(window.windowState() | Qt.WindowState.WindowMaximized)
    return True


def remember_splitter(splitter: QSplitter, prefs: Preferences, name: str) -> None:
    """Give ``splitter`` the sizes kept under ``name``, and keep the sizes the person drags it
    to (only theirs: sizes the app sets, folding a panel in a narrow window, are not kept).

    The sizes are given once the splitter is laid out at its real size: every part but the
    first gets its kept size, and the first (the chat) the rest, so a side panel keeps its
    width in a window of another size."""
    _SplitterMemory(splitter, prefs, f"splitter/{name}")


class _SplitterMemory(QObject):
    def __init__(self, splitter: QSplitter, prefs: Preferences, key: str) -> None:
        super().__init__(splitter)
        self._splitter = splitter
        self._prefs = prefs
        self._key = key
        try:
            self._kept = [int(part) for part in prefs.get(key).split(",")]
        except ValueError:
            self._kept = []
        if len(self._kept) == splitter.count() and all(size >= 0 for size in self._kept):
            splitter.installEventFilter(self)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SPLITTER_SAVE_DELAY_MS)
        self._timer.timeout.connect(self._save)
        splitter.splitterMoved.connect(self._timer.start)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._splitter and event.type() == QEvent.Type.Show:
            # Once shown, after the window's layout has given it its real width.
            self._splitter.removeEventFilter(self)
            QTimer.singleShot(0, self, self._restore)
        return False

    def _restore(self) -> None:
        splitter = self._splitter
        if not splitter.sizes()[-1]:
            return  # the app folded the panel away (a narrow window): it knows best
        rest = self._kept[1:]
        first = max(0, sum(splitter.sizes()) - sum(rest))
        splitter.setSizes([first, *rest])

    def _save(self) -> None:
        self._prefs.set(self._key, ",".join(map(str, self._splitter.sizes())))
