"""What the app remembers between runs: preferences only, never chat content or room names.

Display name, the assistant choices and the theme go in ``QSettings``, in a file only its owner
may read (mode 0600: a display name and a server address are nobody else's business). Room
names are not kept, and one an older version kept is removed when the file is opened. The API
key goes in the OS keyring; where there is no keyring (no desktop session), it is kept for this
session only and the host dialog says so: it is never written to a file of ours.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

import keyring
from keyring.errors import KeyringError
from PySide6.QtCore import QSettings

from core.log_redaction import register_secret

__all__ = ["FILE_MODE", "FORGOTTEN_KEYS", "THEME_CHOICES", "KeyStore", "Preferences"]

log = logging.getLogger("gptgroup.desktop.settings")

KEYRING_SERVICE = "GPT Group"
FILE_MODE = 0o600
FORGOTTEN_KEYS = ("room_name",)
"""Keys older versions wrote that are no longer kept; removed whenever the file is opened."""
THEME_KEY = "theme"
THEME_CHOICES = ("system", "light", "dark")
"""Follow the desktop's colour scheme, or force the light or the dark theme."""


class Preferences:
    """Small, non-secret preferences, in a file readable by its owner only.

    Every :meth:`set` is written at once, with a umask that gives a new file mode 0600, and
    the file is then set to 0600 whatever it was (Qt keeps an existing file's mode when it
    rewrites it). Stores that are not files (the Windows registry) are left to the system.
    """

    def __init__(self, settings: QSettings | None = None) -> None:
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


class KeyStore:
    """API keys by provider address, in the OS keyring, or in memory when there is none.

    Every key read or stored is registered with :mod:`core.log_redaction`, so no log line
    carries it from then on, whoever writes the line."""

    def __init__(self) -> None:
        self._session_only: dict[str, str] = {}
        self.available = True

    def get(self, where: str) -> str | None:
        if where in self._session_only:
            return self._session_only[where]
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
            log.info("no keyring, keeping the key for this session: %s", type(exc).__name__)
            self.available = False
            self._session_only[where] = key
            return False
        return True
