"""Starting and stopping the desktop app: Qt on a qasync event loop.

``main()`` runs until the window closes, then leaves the room (closing it for everyone when we
host it), withdraws the LAN announcement, and only then stops the event loop and exits. Its
log lines pass through :mod:`core.log_redaction` first, so none carries a credential.

Logging, as ``gptgroup-host`` does it: warnings only by default; ``-v`` adds what our own
loggers (``gptgroup.*``) say at INFO (connections, the room listening, the announcement);
``-vv`` adds their DEBUG lines, among them the trace of every frame of a room we host, by
type and size only, never what it says. Libraries stay at warnings.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from dataclasses import dataclass

import qasync  # type: ignore[import-untyped]  # (no type information shipped)
from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QWidget

from core import APP_NAME, __version__
from core.log_redaction import install_log_redaction
from desktop import theme
from desktop.main_window import MainWindow
from desktop.settings import THEME_CHOICES, Preferences
from resources import path

__all__ = [
    "AppOptions",
    "log_level",
    "main",
    "make_application",
    "parse_arguments",
    "run_app",
    "set_up_logging",
]

OUR_LOGGER = "gptgroup"
"""The parent of every logger of ours (``gptgroup.server``, ``gptgroup.desktop``…)."""


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
    # The installed desktop entry (gptgroup.desktop): Wayland shells find the icon by it.
    app.setDesktopFileName("gptgroup")
    app.setWindowIcon(QIcon(str(path("icon.svg"))))
    theme.install(app, choice=theme_choice, prefs=prefs)
    return app


async def run_app(app: QApplication, *, discover: bool = True, probe: bool = False) -> None:
    """Show the main window and wait until the app is quit, then clean up. With ``probe``,
    quit as soon as the lobby is on the screen, having printed :data:`LOBBY_SHOWN`."""
    loop = asyncio.get_running_loop()
    # qasync does not install asyncio's async-generator hooks; without them, leaving a stream
    # early prints "Exception ignored ... AsyncLibraryNotFoundError".
    previous_hooks = sys.get_asyncgen_hooks()
    sys.set_asyncgen_hooks(
        firstiter=loop._asyncgen_firstiter_hook,  # type: ignore[attr-defined]
        finalizer=loop._asyncgen_finalizer_hook,  # type: ignore[attr-defined]
    )
    try:
        await _run_window(app, discover, probe)
    finally:
        sys.set_asyncgen_hooks(*previous_hooks)


LOBBY_SHOWN = "lobby shown"
"""What ``--startup-probe`` prints once the lobby is on the screen."""


async def _run_window(app: QApplication, discover: bool, probe: bool) -> None:
    # Qt would stop the event loop the moment the last window closes, before the room could
    # be closed for the guests: so closing the window ends this coroutine instead, and the
    # loop stops only after the clean-up.
    app.setQuitOnLastWindowClosed(False)
    closing = asyncio.Event()
    window = MainWindow(discover=discover)
    window.closed.connect(closing.set)
    painted = asyncio.Event()
    if probe:
        _FirstPaint(window, painted)  # before show(): the first paint may come at once
    window.show()
    await window.start()
    if probe:
        async with asyncio.timeout(10):
            await painted.wait()
        print(LOBBY_SHOWN, flush=True)
        window.close()
    await closing.wait()
    await window.shutdown()


class _FirstPaint(QObject):
    """Sets ``painted`` when the widget it watches (its parent) is first painted."""

    def __init__(self, widget: QWidget, painted: asyncio.Event) -> None:
        super().__init__(widget)
        self._painted = painted
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            self._painted.set()
        return False


def log_level(verbose: int) -> int:
    """The level of our loggers for ``verbose`` (how many ``-v`` were given): without any,
    unset, so that they log as the root logger does (warnings)."""
    if verbose >= 2:
        return logging.DEBUG
    return logging.INFO if verbose == 1 else logging.NOTSET


def set_up_logging(verbose: int = 0) -> None:
    """Log to stderr: warnings, and with ``verbose`` our own loggers' lines at
    :func:`log_level`; every line redacted (URL credentials, keys, the host key)."""
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(name)s: %(message)s" if verbose else "%(name)s: %(message)s",
    )
    # Our loggers only: the libraries' (qasync, websockets) debug output would drown ours.
    logging.getLogger(OUR_LOGGER).setLevel(log_level(verbose))
    install_log_redaction()


@dataclass(frozen=True)
class AppOptions:
    """What the command line asked for."""

    theme: str | None = None  # one of THEME_CHOICES, for this run only
    verbose: int = 0  # how many -v: see log_level()
    self_test: bool = False  # check this installation headless instead of opening the app
    startup_probe: bool = False  # quit once the lobby is shown (start-up benchmarks)


def parse_arguments(argv: list[str]) -> AppOptions:
    """Our options; Qt's own (``-platform``, ``-style``…) are left for Qt. A wrong value
    of ours prints the usage and raises ``SystemExit``, as argparse does."""
    parser = argparse.ArgumentParser(
        prog="gptgroup",
        description=f"{APP_NAME}, the desktop app.",
        epilog="The terminal tools: 'gptgroup host' runs a room without a screen and "
        "'gptgroup chat' joins one from a terminal (each with --help).",
    )
    parser.add_argument(
        "--theme", choices=THEME_CHOICES,
        help="use this theme for this run only (the Appearance menu's choice is kept)",
    )  # fmt: skip
    parser.add_argument(
        "-v", "--verbose", action="count", default=0,
        help="log what the app and its rooms do; twice (-vv) also every frame of a room you "
        "host, by type and size (never what it says)",
    )  # fmt: skip
    parser.add_argument(
        "--self-test", action="store_true",
        help="check this installation without a screen: host a room on this machine, join it "
        "over its encrypted connection, chat, ask a stand-in assistant, open the window "
        "offscreen; prints each step and exits 0 only when all worked",
    )  # fmt: skip
    parser.add_argument(
        "--startup-probe", action="store_true",
        help=f"open the lobby, print '{LOBBY_SHOWN}' once it is on the screen, and quit "
        "(for start-up benchmarks)",
    )  # fmt: skip
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    # Qt's own options are single-dash words (``-platform``, ``-visual``): argparse would take
    # ``-visual`` for -v with a stray value, so among words that start "-v" only -v, -vv… are ours.
    ours = [arg for arg in argv if not (arg.startswith("-v") and arg.strip("-v"))]
    known, _qt_options = parser.parse_known_args(ours)
    theme: str | None = known.theme
    verbose: int = known.verbose
    self_test: bool = known.self_test
    startup_probe: bool = known.startup_probe
    return AppOptions(
        theme=theme, verbose=verbose, self_test=self_test, startup_probe=startup_probe
    )


def main() -> int:
    """The app, or with ``--self-test`` the installation's self-test. Started through
    :mod:`desktop.launcher`, which has checked that Qt can make a window here."""
    options = parse_arguments(sys.argv[1:])
    set_up_logging(options.verbose)
    if options.self_test:
        from desktop.self_test import run_self_test  # noqa: PLC0415  (only for this path)

        return run_self_test(verbose=options.verbose > 0)
    app = make_application(sys.argv, prefs=Preferences(), theme_choice=options.theme)
    qasync.run(run_app(app, probe=options.startup_probe))
    return 0


if __name__ == "__main__":
    sys.exit(main())
