""" "Why can't I see the room?": the network check of :mod:`core.network_doctor`, in a dialog.

The lobby opens it when asked (nothing runs by itself). :meth:`NetworkCheckDialog.start`
runs :func:`core.network_doctor.diagnose` (a few seconds: it listens for announcements),
with a busy line and Cancel meanwhile; then it shows this computer's network connections,
what was found (one line each, with an icon and a word for its level: fine, note, warning,
problem) and what to try, and offers **Check again**. Closing the dialog stops a check that
is running. Everything shown is the check's own words and this computer's interface names
and addresses; nothing leaves the local network.
"""

from __future__ import annotations

import asyncio
import logging

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from core.address import InvalidAddress, parse_room_address
from core.join_code import JoinCodeError, parse_join_code
from core.network_doctor import (
    LISTEN_SECONDS,
    Diagnosis,
    Finding,
    HostedRoomInfo,
    Status,
    diagnose,
)
from desktop.join_dialogs import looks_like_join_code
from desktop.labels import FOCUS_OUTLINE, PlainLabel, heading, make_tab_stop, outdented

__all__ = ["LEVEL_WORDS", "NetworkCheckDialog", "connections_text"]

log = logging.getLogger("gptgroup.desktop")

TITLE = "Why can't I see the room?"
LEVEL_WORDS: dict[Status, str] = {
    "ok": "Fine",
    "note": "Note",
    "warning": "Warning",
    "problem": "Problem",
}
"""Each level as a screen reader says it before the finding (and the icon's tooltip)."""
_ICONS: dict[Status, QStyle.StandardPixmap] = {
    "ok": QStyle.StandardPixmap.SP_DialogApplyButton,
    "note": QStyle.StandardPixmap.SP_MessageBoxInformation,
    "warning": QStyle.StandardPixmap.SP_MessageBoxWarning,
    "problem": QStyle.StandardPixmap.SP_MessageBoxCritical,
}
ALL_FINE = (
    "Everything looks fine. If a room still does not show up, ask its host to run this check too."
)


def connections_text(diagnosis: Diagnosis) -> str:
    """This computer's network connections as one line: each interface that is up with an
    address others can use (link-local IPv6 addresses left out, as nobody types them), VPNs
    said as such; "none" when there is none."""
    shown = []
    for interface in diagnosis.interfaces:
        addresses = [a for a in interface.addresses if "%" not in a]
        if interface.loopback or interface.up is False or not addresses:
            continue
        kind = ", a VPN" if interface.vpn else ""
        shown.append(f"{interface.name} ({', '.join(addresses)}{kind})")
    return "Network connections: " + ("; ".join(shown) if shown else "none")


class NetworkCheckDialog(QDialog):
    """The network check: :meth:`start` it once shown; **Check again** runs it anew.

    ``hosting`` is the room this app hosts, if any, whose port the check tries from this
    computer's network addresses. ``listen_seconds`` is how long the check listens for other
    machines' announcements (by default a beacon interval and a margin, so that a room heard
    only by broadcast is heard). :attr:`diagnosis` is the last result (None until one is in).
    """

    def __init__(
        self, hosting: HostedRoomInfo | None = None, parent: QWidget | None = None, *,
        listen_seconds: float = LISTEN_SECONDS,
    ) -> None:  # fmt: skip
        super().__init__(parent)
        self.setObjectName("networkCheck")
        self.setWindowTitle(TITLE)
        self.hosting = hosting
        self.listen_seconds = listen_seconds
        self.diagnosis: Diagnosis | None = None
        self.finding_labels: list[PlainLabel] = []  # as shown, in order
        self._finding_widgets: list[QWidget] = []
        self._task: asyncio.Task[None] | None = None

        self.title = heading(TITLE, scale=1.2)
        intro = PlainLabel(
            "This checks what keeps rooms from showing up on this computer: its network "
            "connections, whether announcements get through, and what to try. It takes a few "
            "seconds, and nothing leaves your local network.",
            name="hint", wrap=True,
        )  # fmt: skip
        # A room's address a guest was given: tried from here, the one check that sees a
        # firewall on the host (the host's own connections to itself pass it).
        self.address = QLineEdit()
        self.address.setPlaceholderText("192.168.1.20:47321, a room link or a join code")
        self.address.setAccessibleName("The room's address, link or join code (optional)")
        self.address.setClearButtonEnabled(True)
        address_hint = PlainLabel(
            "Optional: with the address, link or join code the host gave you, the check also "
            "tries to reach the room from this computer (it finds a firewall on the host's).",
            name="hint", wrap=True,
        )  # fmt: skip
        address_row = QHBoxLayout()
        address_row.addWidget(QLabel("Room's address:"))
        address_row.addWidget(self.address, 1)
        self.status = PlainLabel(wrap=True)
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)  # busy: the check listens for a while, with no steps to count
        self.bar.setTextVisible(False)
        self.bar.setFixedWidth(120)
        self.bar.setAccessibleName("Checking")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("Cancel the check")
        self.cancel_button.setAutoDefault(False)
        status_row = QHBoxLayout()
        status_row.addWidget(self.status, 1)
        status_row.addWidget(self.bar, 0, Qt.AlignmentFlag.AlignVCenter)
        status_row.addWidget(self.cancel_button, 0, Qt.AlignmentFlag.AlignVCenter)

        # The results, in a scrolling column: many findings at a large text size still fit.
        self.connections = PlainLabel(name="hint", wrap=True)
        self.found_title = heading("What was found")
        self.findings = QVBoxLayout()
        self.findings.setSpacing(6)
        self.advice_title = heading("What to try")
        self.advice = PlainLabel(name="advice", wrap=True)
        make_tab_stop(self.advice)
        self.results = QWidget()
        results = QVBoxLayout(self.results)
        # Room round the findings for their focus outlines (outdented keeps the text in line).
        margin = FOCUS_OUTLINE + 1
        results.setContentsMargins(margin, margin, margin, margin)
        results.setSpacing(8)
        results.addWidget(self.connections)
        results.addWidget(self.found_title)
        results.addLayout(self.findings)
        results.addSpacing(4)
        results.addWidget(self.advice_title)
        results.addLayout(outdented(self.advice))
        results.addStretch(1)
        scroll = QScrollArea()
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # Tab goes to the findings themselves (the area scrolls to the one with the focus).
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        scroll.setWidget(self.results)
        self.results.hide()  # (set as the scroll area's widget, it was shown)
        # The theme's window colour behind the results, not the view's base colour.
        scroll.viewport().setAutoFillBackground(False)
        self.results.setAutoFillBackground(False)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.again_button = self.buttons.addButton(
            "Check again", QDialogButtonBox.ButtonRole.ActionRole
        )
        self.again_button.setAutoDefault(False)
        self.close_button = self.buttons.button(QDialogButtonBox.StandardButton.Close)
        # No default button: Enter in the address field runs the check (its returnPressed)
        # and must not also close the dialog; Esc closes it.
        self.close_button.setAutoDefault(False)
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(self.title)
        layout.addWidget(intro)
        if hosting is None:  # a host checks its own room; a guest may name one
            layout.addLayout(address_row)
            layout.addWidget(address_hint)
        else:
            self.address.hide()
            address_hint.hide()
        layout.addLayout(status_row)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.buttons)

        self.buttons.rejected.connect(self.reject)
        self.again_button.clicked.connect(self.start)
        self.address.returnPressed.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.finished.connect(lambda _result: self.cancel())  # closed: nothing more to show
        self._show_idle("")
        self.resize(620, 560)

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        """Run the check (again), unless it is running. Needs the running event loop."""
        if self._task is not None:
            return
        self._task = asyncio.ensure_future(self._run())
        self.show_running()

    def show_running(self) -> None:
        """The busy line: what runs, the busy bar, and Cancel (with the focus)."""
        self.status.setText("Checking this computer's network… (a few seconds)")
        self.status.show()
        self.bar.show()
        self.cancel_button.show()
        self.again_button.setEnabled(False)
        self.cancel_button.setFocus()

    def cancel(self) -> None:
        """Stop the check running, if any; what an earlier check found stays shown."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        self._show_idle("Check stopped. “Check again” starts it anew.")

    def room_target(self) -> tuple[str, int] | None:
        """The host and port of the room address typed (None when none); raises
        ``ValueError`` with words for people when it is no address, link or join code."""
        text = self.address.text().strip()
        if not text or self.hosting is not None:
            return None
        try:
            if looks_like_join_code(text):
                code = parse_join_code(text)
                return code.address, code.port
            where = parse_room_address(text)
        except (JoinCodeError, InvalidAddress) as exc:
            raise ValueError(str(exc)) from None
        return where.host, where.port

    async def _run(self) -> None:
        task = asyncio.current_task()
        try:
            target = self.room_target()
        except ValueError as exc:
            if self._task is task:
                self._task = None
                self._show_idle(f"That is not a room's address: {exc}")
                self.address.setFocus()
            return
        try:
            if target is None:
                checking = diagnose(hosting=self.hosting, listen_seconds=self.listen_seconds)
            else:
                checking = diagnose(
                    listen_seconds=self.listen_seconds, room_address=target[0], port=target[1]
                )
            diagnosis = await checking
        except Exception as exc:  # diagnose raises for no network trouble: a bug, said plainly
            log.exception("the network check failed")
            if self._task is task:
                self._task = None
                self._show_idle(f"The check could not be made: {exc}")
            return
        if self._task is not task:  # cancelled meanwhile
            return
        self._task = None
        self.show_diagnosis(diagnosis)
        # The first finding has the focus: a screen reader reads it, Tab the next.
        (self.finding_labels[0] if self.finding_labels else self.close_button).setFocus()

    def _show_idle(self, text: str) -> None:
        self.status.setText(text)
        self.status.setVisible(bool(text))
        self.bar.hide()
        had_focus = self.cancel_button.hasFocus()
        self.cancel_button.hide()
        self.again_button.setEnabled(True)
        if had_focus:
            self.again_button.setFocus()

    def show_diagnosis(self, diagnosis: Diagnosis) -> None:
        """Show ``diagnosis`` as the check's result (what a finished check does)."""
        self.diagnosis = diagnosis
        self._show(diagnosis)
        self._show_idle("")

    def _show(self, diagnosis: Diagnosis) -> None:
        for widget in self._finding_widgets:
            widget.hide()
            widget.deleteLater()
        while (item := self.findings.takeAt(0)) is not None:
            row = item.layout()
            if row is not None:
                row.deleteLater()
        self._finding_widgets = []
        self.finding_labels = []
        self.connections.setText(connections_text(diagnosis))
        for finding in diagnosis.findings:
            self.findings.addLayout(self._finding_row(finding))
        tips = diagnosis.advice
        if tips:
            self.advice_title.setText("What to try")
            self.advice.setText("\n".join(f"•  {tip}" for tip in tips))
        else:
            self.advice_title.setText("All clear")
            self.advice.setText(ALL_FINE)
        self.results.show()

    def _finding_row(self, finding: Finding) -> QHBoxLayout:
        """One finding: its level's icon, then its sentence (a Tab stop, named with its
        level for screen readers)."""
        layout = QHBoxLayout()
        layout.setSpacing(8)
        icon = QLabel()
        side = self.fontMetrics().height()
        icon.setPixmap(self.style().standardIcon(_ICONS[finding.status]).pixmap(side, side))
        icon.setToolTip(LEVEL_WORDS[finding.status])
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        icon.setContentsMargins(0, FOCUS_OUTLINE + 1, 0, 0)  # level with the text's first line
        text = PlainLabel(finding.text, name="finding", wrap=True)
        text.setProperty("level", finding.status)
        make_tab_stop(text)  # Tab reads the findings one by one
        self.finding_labels.append(text)
        text.setAccessibleName(f"{LEVEL_WORDS[finding.status]}: {finding.text}")
        layout.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(outdented(text), 1)
        self._finding_widgets += [icon, text]
        return layout
