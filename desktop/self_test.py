"""``gptgroup --self-test``: an installation checks itself, with no screen and no network.

On loopback only, it does what people do: starts a stand-in assistant (:mod:`core.ai.stand_in`),
hosts a room with a room code as the app does (never announced), joins it as a guest over TLS
pinning its certificate, chats, asks the assistant, then opens the window offscreen. So a frozen
bundle proves that what it needs is there and works: ssl, cryptography, spake2, websockets, the
openai SDK and its HTTP stack, tiktoken's table, qasync, Qt offscreen, SVG, the resources.

Each step prints ``  ok   <what it did> (<seconds> s)`` or ``  FAIL <step>: <why>``; a failure
or a step over its timeout stops the run, and whatever was opened is closed all the same. The
last line and the exit status (0, else 1) give the verdict. Qt's application is made before the
steps (they run on a qasync loop, as in the app, which needs it); the headless steps use only
``core``. Nothing is written but a temporary folder, deleted at the end, where Qt's settings and
the XDG folders point meanwhile; the keyring is never used.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import tempfile
import time
import traceback
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import qasync  # type: ignore[import-untyped]  # (no type information shipped)
from PySide6.QtCore import QMessageLogContext, QSettings, QtMsgType, qInstallMessageHandler
from PySide6.QtWidgets import QApplication

from core import APP_NAME, __version__
from core.ai.desk import AssistantConfig
from core.ai.provider import ChatProvider, ProviderSettings
from core.ai.stand_in import StandInAssistant
from core.ai.tokens import TokenCounter
from core.client import ClientEvent, RoomClient, SendFailed
from core.hosting import RoomHost
from core.pake import generate_room_code
from core.protocol import AnswerDelta, AnswerFinished, AnswerStarted, FileShared, MessagePosted
from core.room import RoomConfig
from core.shared_files import SharedFile
from desktop.about import AboutDialog
from desktop.app import make_application
from desktop.main_window import MainWindow
from desktop.settings import KeyStore, Preferences

__all__ = ["STEPS", "STEP_TIMEOUT", "Rig", "Step", "run_self_test", "run_steps"]

STEP_TIMEOUT = 20.0


@dataclass
class Rig:
    """What the steps open and share; :meth:`close` closes whatever of it is open."""

    scratch: Path  # the run's temporary folder
    stand_in: StandInAssistant | None = None
    host: RoomHost | None = None
    room_code: str = field(default_factory=generate_room_code, repr=False)
    guest: RoomClient | None = None
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def close(self) -> list[str]:
        """Close what was opened, last first, each within :data:`STEP_TIMEOUT` whatever
        happened to the others; what could not be closed, one line each."""
        problems: list[str] = []
        while self.closers:
            closer = self.closers.pop()
            try:
                async with asyncio.timeout(STEP_TIMEOUT):
                    await closer()
            except Exception as exc:
                problems.append(one_line(exc))
        return problems


@dataclass(frozen=True)
class Step:
    """A step: its name (said when it fails) and what it does (which returns what to say when
    it worked, and raises when it did not)."""

    name: str
    run: Callable[[Rig], Awaitable[str]]
    timeout: float = STEP_TIMEOUT


def one_line(exc: BaseException) -> str:
    """What ``exc`` says, on one line of at most 200 characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"


# --------------------------------------------------------------------------- the steps


async def start_stand_in(rig: Rig) -> str:
    stand_in = rig.stand_in = StandInAssistant()
    rig.closers.append(stand_in.close)
    await stand_in.start()
    provider = ChatProvider(_provider_settings(stand_in))
    try:
        report = await provider.check()  # the models list, through the openai SDK
    finally:
        await provider.aclose()
    if not report.ok or report.models != (stand_in.model,):
        raise RuntimeError(report.message)
    return f"Started the stand-in assistant on 127.0.0.1:{stand_in.port}; the SDK lists its model"


async def host_room(rig: Rig) -> str:
    assert rig.stand_in is not None
    settings = _provider_settings(rig.stand_in)
    assistant = AssistantConfig(
        model=settings.model, provider=settings.label, provider_kind=settings.kind
    )
    config = RoomConfig(name="Self-test room", password=rig.room_code, assistant=assistant)
    host = rig.host = RoomHost(
        config, provider=ChatProvider(settings), bind="127.0.0.1", port=0, advertise=False
    )
    rig.closers.append(host.close)
    await host.start()
    return f"Hosted an encrypted room on {host.local_address()}"


async def join_as_guest(rig: Rig) -> str:
    assert rig.host is not None
    guest = rig.guest = RoomClient(
        rig.host.local_url(), "Self-test guest",
        fingerprint=rig.host.fingerprint, password=rig.room_code,
    )  # fmt: skip
    rig.closers.append(guest.leave)
    if (await guest.connect()).room.assistant is None:
        raise RuntimeError("the room has no assistant")
    return f"Joined it over TLS with its room code, certificate {guest.verification_code}"


async def send_message(rig: Rig) -> str:
    assert rig.guest is not None
    sent = await rig.guest.send(f"Hello from the self-test {secrets.token_hex(4)}")
    posted = await _next(rig.guest, lambda e: isinstance(e, MessagePosted) and e.client_id == sent)
    assert isinstance(posted, MessagePosted)
    return f"Sent a message and received it back as event {posted.seq}"


def tiny_pdf(text: str) -> bytes:
    """A one-page PDF showing ``text`` (ASCII letters and digits), written by hand."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Length {len(stream)} >>\nstream\n".encode() + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\n".encode()
    return bytes(out + f"startxref\n{xref}\n%%EOF\n".encode())


def _text_known(held: SharedFile | None) -> bool:
    return held is None or bool(held.text or held.text_problem)


async def share_file(rig: Rig) -> str:
    """A PDF for the assistant: its type found from its contents, sent in chunks, fetched
    back whole, and its text read by the host (pypdf)."""
    assert rig.guest is not None and rig.host is not None
    word = f"selftest{secrets.token_hex(4)}"
    data = tiny_pdf(word)
    sent = rig.guest.share_file("self-test.pdf", data, assistant=True)
    shared = await _next(rig.guest, lambda e: isinstance(e, FileShared) and e.client_id == sent)
    assert isinstance(shared, FileShared)
    if shared.kind != "pdf":
        raise RuntimeError(f"the PDF was taken for {shared.kind} ({shared.mime})")
    if await rig.guest.download(shared.file) != data:
        raise RuntimeError("the file fetched back differs from the one shared")
    room = rig.host.server.room
    # The host reads it off the event loop, in its own threads, and tells nobody: look.
    async with asyncio.timeout(15):
        while not _text_known(held := room.file(shared.file)):  # noqa: ASYNC110  (no event says so)
            await asyncio.sleep(0.05)
    if held is None or word not in (held.text or ""):
        raise RuntimeError(f"the host could not read the PDF: {held and held.text_problem}")
    return f"Shared a PDF ({len(data)} bytes), fetched it back and read its text"


async def ask_assistant(rig: Rig) -> str:
    assert rig.guest is not None and rig.guest.room.assistant is not None
    word = f"check{secrets.token_hex(4)}"  # in the answer only if the prompt went through
    sent = await rig.guest.send(f"@{rig.guest.room.assistant.name} please repeat {word}")
    request: int | None = None
    answer: str | None = None
    deltas: list[str] = []

    def follow(event: ClientEvent) -> bool:  # True once the answer is finished
        nonlocal request, answer
        if isinstance(event, MessagePosted) and event.client_id == sent:
            request = event.seq
        elif isinstance(event, AnswerStarted) and event.request_seq == request:
            answer = event.answer
        elif isinstance(event, AnswerDelta) and event.answer == answer:
            deltas.append(event.text)
        return isinstance(event, AnswerFinished) and event.answer == answer

    done = await _next(rig.guest, follow)
    assert isinstance(done, AnswerFinished)
    if done.status != "complete" or word not in done.text:
        raise RuntimeError(f"the answer came back {done.status}: {done.error or done.text}")
    if len(deltas) < 2 or done.usage is None:
        raise RuntimeError(f"the answer came in {len(deltas)} part(s), with usage {done.usage}")
    counter = TokenCounter("gpt-4o", "cloud")  # the shipped table, or an estimate without it
    if not counter.exact or counter.text("hello world") != 2:
        raise RuntimeError("tiktoken's cl100k_base table did not load (see the warning above)")
    return f"Asked the assistant: the answer streamed in {len(deltas)} parts; tiktoken works"


async def open_window(rig: Rig) -> str:
    settings = QSettings(str(rig.scratch / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(prefs=Preferences(settings), keys=KeyStore(), discover=False)

    async def close_window() -> None:
        window.close()
        await window.shutdown()
        window.deleteLater()

    rig.closers.append(close_window)
    window.show()
    await window.start()
    if not window.lobby.isVisible() or window.grab().isNull():
        raise RuntimeError("the window's lobby was not drawn")
    about = AboutDialog(window)
    try:
        about.show()
        if not about.privacy_view.toPlainText().strip():
            raise RuntimeError("the privacy policy is empty")
    finally:
        about.close()
        about.deleteLater()
    if QApplication.windowIcon().pixmap(32, 32).isNull():  # the SVG file, through Qt's plugin
        raise RuntimeError("the app's icon (SVG) cannot be drawn")
    await close_window()
    rig.closers.remove(close_window)
    return "Opened the window offscreen, drew it, opened and closed the About dialog"


async def close_everything(rig: Rig) -> str:
    problems = await rig.close()
    if problems:
        raise RuntimeError("; ".join(problems))
    me = asyncio.current_task()
    left = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
    if left:
        await asyncio.wait(left, timeout=5)
        if still := [t.get_name() for t in left if not t.done()]:
            raise RuntimeError(f"tasks still running: {', '.join(still)}")
    return "Left, closed the room and stopped the stand-in; nothing left running"


STEPS: Sequence[Step] = (
    Step("Start the stand-in assistant", start_stand_in),
    Step("Host a room", host_room),
    Step("Join as a guest", join_as_guest),
    Step("Send a message", send_message),
    Step("Share a file", share_file),
    Step("Ask the assistant", ask_assistant),
    Step("Open the window", open_window),
    Step("Close everything", close_everything),
)


def _provider_settings(stand_in: StandInAssistant) -> ProviderSettings:
    """An OpenAI-compatible provider at the stand-in, with a dummy key (never from the
    environment: the self-test must not send the user's own key anywhere)."""
    return ProviderSettings.from_preset(
        "compatible", base_url=stand_in.base_url, model=stand_in.model,
        api_key="self-test-key", env_key=False,
    )  # fmt: skip


async def _next(client: RoomClient, wanted: Callable[[ClientEvent], bool]) -> ClientEvent:
    """The next event of ``client`` that is ``wanted`` (those before it are passed over)."""
    events = client.events()
    try:
        async for event in events:
            if isinstance(event, SendFailed):
                raise RuntimeError(f"the room refused a message: {event.message}")
            if wanted(event):
                return event
    finally:
        if isinstance(events, AsyncGenerator):  # it is one: close it now, not when collected
            await events.aclose()
    raise RuntimeError("the room ended the connection")


# --------------------------------------------------------------------------- the runner


async def run_steps(steps: Sequence[Step], rig: Rig, *, out: TextIO, verbose: bool = False) -> int:
    """Run ``steps`` in order until one fails, then close what the rig holds; print a line
    per step and the verdict to ``out``; the exit status (0 when every step worked)."""
    failed: tuple[str, str] | None = None
    try:
        for step in steps:
            started = time.monotonic()
            deadline = asyncio.timeout(step.timeout)
            try:
                async with deadline:
                    said = await step.run(rig)
            except Exception as exc:
                expired = isinstance(exc, TimeoutError) and deadline.expired()
                reason = f"no result within {step.timeout:g} s" if expired else one_line(exc)
                failed = (step.name, reason)
                print(f"  FAIL {step.name}: {reason}", file=out, flush=True)
                if verbose:
                    traceback.print_exception(exc, file=out)
                break
            print(f"  ok   {said} ({time.monotonic() - started:.1f} s)", file=out, flush=True)
    finally:
        problems = await rig.close()  # after a failure (or an interruption): nothing left open
        if problems and verbose:
            print(f"  (while closing: {'; '.join(problems)})", file=out, flush=True)
    if failed is not None:
        print(f"Self-test failed at {failed[0]}: {failed[1]}", file=out, flush=True)
        return 1
    print(
        f"Self-test passed: {APP_NAME} {__version__} works on this machine.", file=out, flush=True
    )
    return 0


def run_self_test(verbose: bool = False, out: TextIO | None = None) -> int:
    """Check this installation (see the module docstring); the exit status."""
    out = out or sys.stdout
    with tempfile.TemporaryDirectory(prefix="gptgroup-self-test-") as scratch:
        _keep_files_in(Path(scratch))
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before Qt starts: no screen needed
        _bypass_proxies_for_loopback()
        qInstallMessageHandler(_qt_message)
        app = make_application([sys.argv[0] if sys.argv else "gptgroup"])
        app.setQuitOnLastWindowClosed(False)  # the window step closes its window itself
        status: int = qasync.run(run_steps(STEPS, Rig(Path(scratch)), out=out, verbose=verbose))
        return status


def _qt_message(kind: QtMsgType, context: QMessageLogContext, text: str) -> None:
    """Qt's messages, to stderr as Qt would print them, but for the offscreen platform's notes
    on what it cannot do without a window manager: they say nothing about this machine."""
    if not text.startswith("This plugin does not support "):
        print(f"{context.category}: {text}" if context.category else text, file=sys.stderr)


def _bypass_proxies_for_loopback() -> None:
    """The stand-in is on this machine: an HTTP proxy set for the user's session must not
    carry the test's prompt elsewhere (or fail the test where the proxy is unreachable)."""
    for variable in ("NO_PROXY", "no_proxy"):
        kept = [entry for entry in os.environ.get(variable, "").split(",") if entry.strip()]
        os.environ[variable] = ",".join([*kept, "127.0.0.1", "localhost"])


def _keep_files_in(scratch: Path) -> None:
    """Point Qt's settings and the XDG folders (caches, data, config) of this process at
    ``scratch``: the user's own files are neither read nor written."""
    for variable, folder in (
        ("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"),
        ("XDG_CACHE_HOME", "cache"), ("XDG_STATE_HOME", "state"),
    ):  # fmt: skip
        os.environ[variable] = str(scratch / folder)
    for form in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
            QSettings.setPath(form, scope, str(scratch / "settings"))
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
