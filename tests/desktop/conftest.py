"""Desktop tests: real widgets (pytest-qt, offscreen) on a qasync loop, against real rooms."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import os
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Iterator
from typing import Any, TypeVar

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
import qasync  # type: ignore[import-untyped]  # (no type information shipped)
from PySide6.QtCore import QEvent, QObject, QSettings, QTimer, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication, QDialog, QWidget

from core.protocol import ParticipantId, ParticipantInfo
from desktop.app import make_application
from desktop.chat_view import ChatView
from desktop.models import MessageListModel
from desktop.settings import KeyStore, Preferences

W = TypeVar("W", bound=QWidget)
T = TypeVar("T")


class DesktopLoop(qasync.QEventLoop):  # type: ignore[misc]  # qasync ships no type information
    """The qasync loop of desktop tests: every asyncio callback runs with it as the running loop,
    and what goes wrong unobserved on it is kept for :func:`pytest_runtest_teardown`.

    qasync runs asyncio callbacks from Qt's timers, so they run wherever Qt processes events,
    also outside ``run_forever``: qasync's ``run_until_complete`` processes events once more
    after it has unset the running loop (pytest-asyncio runs each async fixture and the test
    that way), and pytest-qt processes events around every test phase. A task stepped there
    finds no running loop: websockets' connection handler, finishing the close of a guest who
    has just left, calls ``asyncio.current_task()`` in its last step, dies of "no running event
    loop", and the error surfaces only as "Task exception was never retrieved" at exit. Here
    such a callback runs as it would inside ``run_forever``.
    """

    def __init__(self, app: QApplication) -> None:
        super().__init__(app)
        self.tasks: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
        self.reports: list[dict[str, Any]] = []  # what reached the exception handler

    def call_later(
        self, delay: float, callback: Callable[..., object], *args: object,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:  # fmt: skip
        # qasync's call_soon and call_at come here too, and so do its socket notifiers.
        handle: asyncio.Handle = super().call_later(
            delay, self._as_running, callback, *args, context=context
        )
        return handle

    def _as_running(self, callback: Callable[..., object], *args: object) -> None:
        if asyncio.events._get_running_loop() is not None:
            callback(*args)
            return
        asyncio.events._set_running_loop(self)
        try:
            callback(*args)
        finally:
            asyncio.events._set_running_loop(None)

    def create_task(
        self, coro: Coroutine[Any, Any, T], *, name: str | None = None,
        context: contextvars.Context | None = None,
    ) -> asyncio.Task[T]:  # fmt: skip
        task: asyncio.Task[T] = super().create_task(coro, name=name, context=context)
        self.tasks.add(task)
        return task

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        self.reports.append(context)
        super().call_exception_handler(context)

    def unobserved_failures(self) -> list[str]:
        """What failed with nobody to hear it: tasks that died of an exception no one
        retrieved (now marked retrieved, so asyncio does not log them once more when they are
        collected), and whatever reached the exception handler. Each is forgotten once told."""
        failures = [_described(report) for report in self.reports]
        self.reports.clear()
        for task in list(self.tasks):
            # _log_traceback: asyncio's own mark of an exception nobody has retrieved yet.
            if task.done() and not task.cancelled() and task._log_traceback:
                failures.append(f"- {task!r} died of {task.exception()!r}")
        return failures


# The loops of the test being run: pytest-asyncio makes one per test, and closes it itself.
_loops: list[DesktopLoop] = []


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Any]:
    """Async tests here run on a qasync loop, so Qt and asyncio share one event loop.

    As in the app (see ``desktop.app.run_app``), closing the last window does not stop the
    loop: a test closes its windows and dialogs as it goes.
    """

    def loop() -> DesktopLoop:
        app = make_application([])
        app.setQuitOnLastWindowClosed(False)
        made = DesktopLoop(app)
        _loops.append(made)
        return made

    return {"qasync": loop}


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    """Fail a test whose loop saw a task die unobserved or an error nobody handled: asyncio
    only logs those ("Task exception was never retrieved"), often at exit, after the test has
    passed. Runs after every other teardown, the loop's closing and pytest-qt's included."""
    try:
        yield
    finally:
        failures = [failure for loop in _loops for failure in loop.unobserved_failures()]
        _loops.clear()
    if failures:
        pytest.fail("asyncio failures nobody handled:\n" + "\n".join(failures), pytrace=False)


def _described(report: dict[str, Any]) -> str:
    where = report.get("task") or report.get("future") or report.get("handle") or ""
    return f"- {report.get('message', '?')}: {report.get('exception')!r} in {where!r}"


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
    items.clear()
    # The test's windows go now, at a quiet moment, not whenever Python's cycle collector
    # happens to run: in a later test, in the middle of Qt walking every widget (a theme
    # change), a window the collector deleted left Qt a dangling widget to call.
    gc.collect()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)


class UrlRecorder(QObject):
    """Stands in for the system browser: Qt hands it every http(s) URL the app opens."""

    def __init__(self) -> None:
        super().__init__()
        self.opened: list[str] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.opened.append(url.toString())


@pytest.fixture
def browser(qapp: Any) -> Iterator[UrlRecorder]:
    """Every link the app opens, recorded instead of opened."""
    recorder = UrlRecorder()
    for scheme in ("http", "https"):
        # PySide6's stub asks for bytes, but at run time only a str is accepted.
        QDesktopServices.setUrlHandler(scheme, recorder, "open")  # type: ignore[arg-type]
    yield recorder
    for scheme in ("http", "https"):
        QDesktopServices.unsetUrlHandler(scheme)


@pytest.fixture
def chat(qtbot: Any) -> tuple[MessageListModel, ChatView]:
    """A transcript model shown in a chat view, 700 by 500, as Ana (the host, ``p1``)."""
    model = MessageListModel()
    me = ParticipantId("p1")
    model.transcript.set_participants({me: ParticipantInfo(me, "Ana", "host")}, me)
    view = ChatView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.resize(700, 500)
    view.show()
    return model, view
