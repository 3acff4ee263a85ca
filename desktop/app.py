"""Starting and stopping the desktop app: Qt on a qasync event loop.

``main()`` runs until the window closes, then leaves the room (closing it for everyone when we
host it), withdraws the LAN announcement, and only then stops the event loop and exits. Its
log lines pass through :mod:`core.log_redaction` first, so none carries a credential.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

import qasync
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from core import APP_NAME, __version__
from core.log_redaction import install_log_redaction
from desktop import theme
from desktop.main_window import MainWindow
from desktop.settings import THEME_CHOICES, Preferences
from resources import path

__all__ = ["main", "make_application", "run_app", "set_up_logging"]


def make_application(
    argv: list[str], *, prefs: Preferences | None = None, theme_choice: str | None = None
) -> QApplication:
    """The application, made on first call, with its names, icon and theme.

    The theme is ``theme_choice`` if given, else the one kept in ``prefs``, else the system's
    (see :func:`desktop.theme.install`); changes made in the appearance menu go to ``prefs``.
    """
    app = QApplication.instance() or QApplication(argv)
    assert isinstance(app, QApplication)
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setOrganizationName(APP_NAME)
    app.setWindowIcon(QIcon(str(path("icon.svg"))))
    theme.install(app, choice=theme_choice, prefs=prefs)
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


def set_up_logging() -> None:
    """Log warnings to stderr, every line redacted (URL credentials, keys, the host key)."""
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    install_log_redaction()


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    """Our options; Qt's own (``-platform``, ``-style``…) are left for Qt."""
    parser = argparse.ArgumentParser(prog="gptgroup", description=f"{APP_NAME}, the desktop app.")
    parser.add_argument(
        "--theme", choices=THEME_CHOICES,
        help="use this theme for this run only (the Appearance menu's choice is kept)",
    )  # fmt: skip
    known, _qt_options = parser.parse_known_args(argv)
    return known


def main() -> int:
    set_up_logging()
    options = parse_arguments(sys.argv[1:])
    app = make_application(sys.argv, prefs=Preferences(), theme_choice=options.theme)
    qasync.run(run_app(app))
    return 0


if __name__ == "__main__":
    sys.exit(main())
