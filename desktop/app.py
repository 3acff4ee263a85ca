"""Starting and stopping the desktop app: Qt on a qasync event loop.

``main()`` runs until the window closes, then leaves the room (closing it for everyone when we
host it), withdraws the LAN announcement, and only then stops the event loop and exits.
"""

from __future__ import annotations

import asyncio
import logging
import sys

import qasync
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from core import APP_NAME, __version__
from desktop.main_window import MainWindow
from resources import path, read_text

__all__ = ["main", "run_app"]


def make_application(argv: list[str]) -> QApplication:
    app = QApplication.instance() or QApplication(argv)
    assert isinstance(app, QApplication)
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setOrganizationName(APP_NAME)
    app.setWindowIcon(QIcon(str(path("icon.svg"))))
    style = read_text("style.qss")
    if app.styleSheet() != style:  # setting it again would polish every widget again
        app.setStyleSheet(style)
    return app


async def run_app(app: QApplication, *, discover: bool = True) -> None:
    """Show the main window and wait until the app is quit, then clean up."""
    loop = asyncio.get_running_loop()
    # qasync does not install asyncio's async-generator hooks; without them, leaving a stream
    # early prints "Exception ignored ... AsyncLibraryNotFoundError".
    previous_hooks = sys.get_asyncgen_hooks()
    sys.set_asyncgen_hooks(
        firstiter=loop._asyncgen_firstiter_hook,  # type: ignore[attr-defined]
        finalizer=loop._asyncgen_finalizer_hook,  # type: ignore[attr-defined]
    )
    try:
        await _run_window(app, discover)
    finally:
        sys.set_asyncgen_hooks(*previous_hooks)


async def _run_window(app: QApplication, discover: bool) -> None:
    # Qt would stop the event loop the moment the last window closes, before the room could
    # be closed for the guests: so closing the window ends this coroutine instead, and the
    # loop stops only after the clean-up.
    app.setQuitOnLastWindowClosed(False)
    closing = asyncio.Event()
    window = MainWindow(discover=discover)
    window.closed.connect(closing.set)
    window.show()
    await window.start()
    await closing.wait()
    await window.shutdown()


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    app = make_application(sys.argv)
    qasync.run(run_app(app))
    return 0


if __name__ == "__main__":
    sys.exit(main())
