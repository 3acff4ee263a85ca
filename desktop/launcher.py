"""The ``gptgroup`` command: the desktop app, and the terminal tools under one name.

``gptgroup host ...`` runs a room without a screen (as ``gptgroup-host``), ``gptgroup chat ...``
joins one from a terminal (as ``gptgroup-chat``); anything else goes to the app
(:func:`desktop.app.main`: ``--self-test``, ``--theme``, ``-v``, Qt's own options). The
installed app has this one executable, so the dispatch must not load Qt before it knows
the app is wanted: a server without Qt's system libraries can still run ``gptgroup host``.
One more first word is for the app itself, not for people, and stays out of ``--help``:
``gptgroup extract-text ...`` is the worker process that reads a shared PDF for a room host
(:func:`core.ai.file_text.worker_main`), which the frozen app starts as itself.

Before the app's module (and with it Qt's GUI libraries) is loaded, the launcher checks that
Qt can open a window here (:mod:`desktop.display_check`): where it cannot, Qt would abort the
process with a core dump, so the launcher prints one line saying what is missing and exits
with :data:`CANNOT_SHOW_WINDOW`. ``python -m desktop`` starts here too.
"""

from __future__ import annotations

import importlib
import os
import sys

from core.ai.file_text import WORKER_WORD, worker_main  # (no Qt, and little else)

__all__ = ["CANNOT_SHOW_WINDOW", "TOOLS", "main"]

CANNOT_SHOW_WINDOW = 3
"""Exit status when this machine cannot show the window (no screen, a missing library)."""

NO_WINDOW_OPTIONS = frozenset({"--self-test", "--help", "-h", "--version"})
"""The app's options that open no window on the screen (the self-test draws offscreen)."""

TOOLS = ("host", "chat")
"""The first words that start a terminal tool instead of the app."""

BEFORE_QT = (
    "core.hosting", "core.client", "core.discovery", "core.transcript_export",
    "keyring", "markdown_it", "pygments.lexers.c_cpp", "pygments.styles",
)  # fmt: skip
"""Modules of the app's that need no Qt, imported before Qt's are: once PySide6 is loaded,
it reads the source of every module imported after it (looking for its ``__feature__``
switches), which would cost the app's start-up about a tenth of a second for these alone.
Only a matter of speed: a module missing here is imported later, as usual."""


def main(argv: list[str] | None = None) -> int:
    """Run what ``argv`` (the arguments after the program's name) asks for; its exit status."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == [WORKER_WORD]:
        return worker_main(args[1:])
    if args[:1] == ["host"]:
        from cli.host import main as host  # noqa: PLC0415  (no Qt on this path)

        return host(args[1:])
    if args[:1] == ["chat"]:
        from cli.chat import main as chat  # noqa: PLC0415  (no Qt on this path)

        return chat(args[1:])
    for module in BEFORE_QT:
        importlib.import_module(module)
    if not NO_WINDOW_OPTIONS.intersection(args):
        from desktop.display_check import display_problem  # noqa: PLC0415  (loads QtCore)

        if (problem := display_problem(args, os.environ)) is not None:
            print(problem, file=sys.stderr)
            return CANNOT_SHOW_WINDOW
    from desktop.app import main as app  # noqa: PLC0415  (Qt only when the app is wanted)

    return app()


if __name__ == "__main__":
    sys.exit(main())
