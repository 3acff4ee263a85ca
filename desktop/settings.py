"""What the app remembers between runs: preferences only, never chat content.

Display name, the last room name and the assistant choices go in ``QSettings``. The API key
goes in the OS keyring; where there is no keyring (no desktop session), it is kept for this
session only and the host dialog says so: it is never written to a file of ours.
"""

from __future__ import annotations

import logging

import keyring
from keyring.errors import KeyringError
from PySide6.QtCore import QSettings

__all__ = ["KeyStore", "Preferences"]

log = logging.getLogger("gptgroup.desktop.settings")

KEYRING_SERVICE = "GPT Group"


class Preferences:
    """Small, non-secret preferences."""

    def __init__(self, settings: QSettings | None = None) -> None:
        self._settings = settings or QSettings("GPT Group", "GPT Group")

    def get(self, key: str, default: str = "") -> str:
        value = self._settings.value(key, default)
        return value if isinstance(value, str) else default

    def set(self, key: str, value: str) -> None:
        self._settings.setValue(key, value)


class KeyStore:
    """API keys by provider address, in the OS keyring, or in memory when there is none."""

    def __init__(self) -> None:
        self._session_only: dict[str, str] = {}
        self.available = True

    def get(self, where: str) -> str | None:
        if where in self._session_only:
            return self._session_only[where]
        try:
            return keyring.get_password(KEYRING_SERVICE, where)
        except KeyringError as exc:
            log.info("no keyring: %s", type(exc).__name__)
            self.available = False
            return None

    def set(self, where: str, key: str) -> bool:
        """Store ``key``; returns False when it could be kept for this session only."""
        try:
            keyring.set_password(KEYRING_SERVICE, where, key)
        except KeyringError as exc:
            log.info("no keyring, keeping the key for this session: %s", type(exc).__name__)
            self.available = False
            self._session_only[where] = key
            return False
        return True
