"""The lobby's "Search this network": a scan of this computer's own subnets, on request only.

:class:`RoomSearch` runs :func:`core.network_scan.scan_network` (never by itself: only when
someone asks), reports its progress, and hands what answered to whoever listens to
:attr:`RoomSearch.found` (the main window gives it to the room browser, which lists each room
once, however it was found). :class:`SearchStrip` is the line under the room list that shows
it as a scan, with a percentage and Cancel, then says what came of it.

A room found this way announced nothing: its certificate was learnt from the room itself, so
it is joined as a typed address is, its verification code compared with the host's first.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QProgressBar, QPushButton, QWidget

from core.network_scan import ScannedRoom, scan_addresses, scan_network
from core.protocol import DEFAULT_PORT
from desktop.labels import PlainLabel

__all__ = ["RoomSearch", "SearchOutcome", "SearchStrip", "outcome_text", "progress_text"]

log = logging.getLogger("gptgroup.desktop")

WHY_LINK = "Why can't I see the room?"
CODE_DIALOG = "Join by address, link or code…"


@dataclass(frozen=True)
class SearchOutcome:
    """How a search ended: the addresses tried at ``port``, the rooms that answered (none
    when it was stopped or failed), and whether it was stopped or failed."""

    total: int
    port: int
    rooms: tuple[ScannedRoom, ...] = ()
    stopped: bool = False
    failed: bool = False


def progress_text(done: int, total: int) -> str:
    """The running search, as the strip says it: "Searching 254 addresses on this network…
    37%"."""
    percent = 100 * done // total if total else 100
    addresses = "1 address" if total == 1 else f"{total} addresses"
    return f"Searching {addresses} on this network… {percent}%"


def outcome_text(outcome: SearchOutcome) -> str:
    """What the strip says once a search is over; for nothing found, where to turn next."""
    if outcome.stopped:
        return "Search stopped: nothing it found so far is listed."
    if outcome.failed:
        return f"The search could not be made. Use {CODE_DIALOG} or “{WHY_LINK}”."
    if outcome.total == 0:
        return (
            "There is nothing to search: this computer is not connected to a local network. "
            f"“{WHY_LINK}” says more."
        )
    found = len(outcome.rooms)
    if found:
        rooms = "1 room answered" if found == 1 else f"{found} rooms answered"
        return (
            f"Search done: {rooms}. A room only the search found is marked “found by search”: "
            "compare its verification code with the host's before joining."
        )
    addresses = "the 1 address" if outcome.total == 1 else f"any of the {outcome.total} addresses"
    return (
        f"No room answered at {addresses} on this network (port {outcome.port}). Ask the host "
        f"for the room's join code and type it in {CODE_DIALOG}, or see “{WHY_LINK}”."
    )


class RoomSearch(QObject):
    """One search of this network at a time: :meth:`start` it, :meth:`cancel` it.

    :attr:`progressed` (addresses done, addresses in all) comes after each address;
    :attr:`found` (a list of :class:`ScannedRoom`) when a search that finished found
    any room; :attr:`finished` (a :class:`SearchOutcome`) always, once, at the end, however
    it ended (stopped included, and at once for a search with nothing to try). Never starts
    by itself.
    """

    started = Signal(int)  # addresses to try
    progressed = Signal(int, int)
    found = Signal(object)  # list[ScannedRoom]
    finished = Signal(object)  # SearchOutcome

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._task: asyncio.Task[None] | None = None
        self._total = 0
        self._port = DEFAULT_PORT

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self, *, port: int = DEFAULT_PORT, addresses: list[str] | None = None) -> None:
        """Search ``addresses`` (this computer's subnets when None) at ``port``; nothing
        when a search is running already. Needs the running event loop."""
        if self._task is not None:
            return
        targets = list(addresses) if addresses is not None else scan_addresses()
        self._total, self._port = len(targets), port
        if not targets:
            self.started.emit(0)
            self.finished.emit(SearchOutcome(0, port))
            return
        self._task = asyncio.ensure_future(self._run(targets, port))
        self.started.emit(len(targets))  # running already, for whoever asks

    def cancel(self) -> None:
        """Stop the search running, if any: every connection it opened is closed, and
        :attr:`finished` says it was stopped."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        self.finished.emit(SearchOutcome(self._total, self._port, stopped=True))

    async def _run(self, targets: list[str], port: int) -> None:
        task = asyncio.current_task()
        try:
            rooms = await scan_network(port, addresses=targets, progress=self._progress)
        except Exception:  # scan_network raises for no network trouble: a bug, said plainly
            log.exception("searching the network failed")
            outcome = SearchOutcome(len(targets), port, failed=True)
        else:
            outcome = SearchOutcome(len(targets), port, tuple(rooms))
        if self._task is not task:  # cancelled meanwhile: finished was said already
            return
        self._task = None
        if outcome.rooms:
            self.found.emit(list(outcome.rooms))
        self.finished.emit(outcome)

    def _progress(self, done: int, total: int) -> None:
        if self._task is not None:
            self.progressed.emit(done, total)


class SearchStrip(QWidget):
    """The lobby's line for a search: while it runs, what it does, how far it got, and
    Cancel (:attr:`cancel_button`); after, one sentence on what came of it. Hidden until the
    first search. When Cancel had the focus as the search ended, :attr:`focus_after` gets
    it (the keyboard is not left nowhere)."""

    def __init__(self, search: RoomSearch, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("searchStrip")
        self.search = search
        self.focus_after: QWidget | None = None
        self.label = PlainLabel(name="hint", wrap=True)  # our own words only
        self.bar = QProgressBar()
        self.bar.setTextVisible(False)
        self.bar.setFixedWidth(140)
        self.bar.setAccessibleName("Search progress")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("Cancel the search")
        self.cancel_button.setAutoDefault(False)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.bar, 0, Qt.AlignmentFlag.AlignVCenter)
        layout.addWidget(self.cancel_button, 0, Qt.AlignmentFlag.AlignVCenter)
        self.cancel_button.clicked.connect(search.cancel)
        search.started.connect(self.on_started)
        search.progressed.connect(self.on_progressed)
        search.finished.connect(self.on_finished)
        self.hide()

    @property
    def text(self) -> str:
        return self.label.text().replace("\u200b", "")  # without PlainLabel's break chances

    def on_started(self, total: int) -> None:
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(0)
        self.label.setText(progress_text(0, total))
        self.bar.show()
        self.cancel_button.show()
        self.show()

    def on_progressed(self, done: int, total: int) -> None:
        self.bar.setValue(done)
        self.label.setText(progress_text(done, total))

    def on_finished(self, outcome: SearchOutcome) -> None:
        had_focus = self.cancel_button.hasFocus()
        self.bar.hide()
        self.cancel_button.hide()
        self.label.setText(outcome_text(outcome))
        self.show()
        if had_focus and self.focus_after is not None:
            # After the lobby's own handler of the same signal has enabled it again: Qt
            # ignores the focus given to a disabled widget.
            target = self.focus_after
            QTimer.singleShot(0, target, lambda: target.setFocus(Qt.FocusReason.OtherFocusReason))
