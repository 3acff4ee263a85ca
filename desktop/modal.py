"""Dialogs that coroutines can wait for without blocking the event loop.

``QDialog.exec()`` runs a nested event loop. Called from inside an asyncio task (on qasync),
that nested loop would try to run other tasks while this one is still "running", which
asyncio refuses (``Cannot enter into task``). So coroutines open dialogs with ``open()`` and
await their ``finished`` signal instead.
"""

from __future__ import annotations

import asyncio

from PySide6.QtWidgets import QDialog, QMessageBox, QWidget

from desktop.labels import message_box
from desktop.network_text import shorten

__all__ = ["WARNING_CHARS", "inform", "run_dialog", "warn"]

WARNING_CHARS = 600


async def run_dialog(dialog: QDialog) -> bool:
    """Show ``dialog`` (window-modal) and wait until it closes; True if it was accepted."""
    done: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def finished(result: int) -> None:
        if not done.done():
            done.set_result(result)

    dialog.finished.connect(finished)
    dialog.open()
    try:
        return await done == QDialog.DialogCode.Accepted
    finally:
        dialog.finished.disconnect(finished)


async def warn(parent: QWidget, title: str, text: str) -> None:
    """A warning with an OK button, awaited. ``text`` (which may quote the network) is shown
    as plain text and cut to :data:`WARNING_CHARS`."""
    await _tell(QMessageBox.Icon.Warning, parent, title, text)


async def inform(parent: QWidget, title: str, text: str) -> None:
    """Something worth knowing, not a problem: as :func:`warn`, with the information icon."""
    await _tell(QMessageBox.Icon.Information, parent, title, text)


async def _tell(icon: QMessageBox.Icon, parent: QWidget, title: str, text: str) -> None:
    box = message_box(icon, title, shorten(text, WARNING_CHARS), parent=parent)
    await run_dialog(box)
    box.deleteLater()
