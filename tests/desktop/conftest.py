"""Desktop tests: real widgets (pytest-qt, offscreen) on a qasync loop, against real rooms."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
import qasync
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication, QDialog, QWidget

from desktop.app import make_application
from desktop.settings import KeyStore, Preferences

W = TypeVar("W", bound=QWidget)


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Any]:
    """Async tests here run on a qasync loop, so Qt and asyncio share one event loop.

    As in the app (see ``desktop.app.run_app``), closing the last window does not stop the
    loop: a test closes its windows and dialogs as it goes.
    """

    def loop() -> qasync.QEventLoop:
        app = make_application([])
        app.setQuitOnLastWindowClosed(False)
        return qasync.QEventLoop(app)

    return {"qasync": loop}


@pytest.fixture
def prefs(tmp_path: Any) -> Preferences:
    """Preferences in a temporary file, never the user's own."""
    return Preferences(QSettings(str(tmp_path / "prefs.ini"), QSettings.Format.IniFormat))


@pytest.fixture
def keys() -> KeyStore:
    return KeyStore()


async def until(condition: Callable[[], object], timeout: float = 10.0, what: str = "") -> None:
    """Let the loop run until ``condition()`` is true."""
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what or condition}") from None


def answer_dialog(kind: type[W], act: Callable[[W], None], timeout: float = 10.0) -> None:
    """When a modal dialog of ``kind`` opens, run ``act`` on it (which should close it)."""
    deadline = [timeout / 0.02]

    def check() -> None:
        widget = QApplication.activeModalWidget()
        if isinstance(widget, kind):
            act(widget)
            return
        deadline[0] -= 1
        if deadline[0] > 0:
            QTimer.singleShot(20, check)

    QTimer.singleShot(20, check)


@pytest.fixture
async def cleanup() -> AsyncIterator[list[Any]]:
    """Things with an async ``shutdown()`` or ``close()`` to run after the test."""
    items: list[Any] = []
    yield items
    # A failed test may leave a modal dialog open, and the coroutine that opened it waits in
    # the dialog's own event loop: close them so everything can finish.
    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, QDialog) and widget.isVisible():
            widget.reject()
    await asyncio.sleep(0.05)
    for item in reversed(items):
        closer = getattr(item, "shutdown", None) or item.close
        result = closer()
        if asyncio.iscoroutine(result):
            await result
