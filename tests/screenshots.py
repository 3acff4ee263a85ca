"""Render the app's main screens offscreen into docs/screenshots/ (``make screenshots``), in
the light theme there and in the dark theme in docs/screenshots/dark/.

Everything shown is real: a room hosted on loopback (not announced), real clients, and the
fake OpenAI server of the tests streaming an answer through the real SDK. Only the lobby's
list is filled by hand, since discovery must not run on this machine's network. Preferences
are read from a temporary file, never the person's own, and the theme chosen for a run is
not remembered.

``--hostile`` renders instead how the app shows a hostile room (names that are markup,
10,000 characters long or carry direction overrides, a deceptive link), through the
rewriting relay of the desktop tests; ``--conversation`` renders only the conversation with
replies, an edit, a deletion and reactions; ``--finding`` renders only the ways of finding a
room (rooms found by broadcast and by search, the search running and what it found, a join
code with a typo, the host's join code, the network check); ``--out DIR`` writes somewhere
else than the docs; ``--theme light`` or ``--theme dark`` renders one theme only.

The network check and the search are shown in states set by hand (a search's progress, a
diagnosis made up here): run for real, they would send on this machine's network.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import qasync
from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPoint, QSettings, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from core.address import room_link
from core.ai.desk import AssistantConfig
from core.ai.provider import ChatProvider, ProviderSettings
from core.client import RoomClient
from core.discovery import BrowserEvent, DiscoveredRoom
from core.hosting import RoomHost
from core.join_code import TEST_VECTOR
from core.network_doctor import Diagnosis, NetworkInterface
from core.protocol import PROTOCOL_VERSION, AssistantInfo, RoomInfo
from core.room import RoomConfig
from core.room_tls import verification_code
from desktop import theme
from desktop.about import AboutDialog
from desktop.app import make_application
from desktop.attachments import ShareFileDialog
from desktop.host_dialog import HostDialog
from desktop.join_dialogs import AddressDialog, DisclosureDialog, JoinDialog
from desktop.labels import message_box
from desktop.link_dialog import RoomLinkDialog
from desktop.links import follow_link
from desktop.main_window import MainWindow
from desktop.network_check_dialog import NetworkCheckDialog
from desktop.room_search import SearchOutcome
from desktop.session import RoomSession
from desktop.settings import KeyStore, Preferences
from desktop.usage_dialog import UsageDialog
from desktop.verification import VerificationDialog
from tests.desktop.hostile_room import MARKER, RewritingRelay
from tests.fake_openai import FakeOpenAI, Reply

OUT = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
THEME_FOLDERS = {"light": ".", "dark": "dark"}
"""Where each theme's screenshots go, under the output folder."""

ANSWER = """Here is a tiny helper that splits the bill evenly:

```python
def split(total: float, people: int) -> float:
    \"\"\"Each person's share, rounded to cents.\"\"\"
    return round(total / people, 2)

print(split(96.40, 4))  # 24.1
```

| Who | Paid |
|---|---|
| Ana | 40.00 |
| Sam | 56.40 |

So **Ana owes Sam 8.20** and everyone is square."""


HOSTILE_NAME = "<img src=/dev/zero> " + "VeryLongName" * 900  # 10,000 characters and more
ROOM_CODE = "4721 9035"  # the chat's room code: fixed, so that the screenshots stay the same


def save(out: Path, widget: QWidget, name: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    widget.grab().save(str(out / f"{name}.png"))
    print(f"saved {out / name}.png")


def sample_room(name: str, **fields: object) -> DiscoveredRoom:
    values: dict[str, object] = {
        "key": name, "room_id": name.encode().hex()[:12], "name": name, "host_name": "Ana",
        "participants": 3, "password_required": False, "assistant_kind": "cloud",
        "provider": "OpenAI", "model": "gpt-4o-mini", "protocol": PROTOCOL_VERSION,
        "app_version": "0.2.0", "addresses": ("192.168.1.20",), "port": 47321,
        "fingerprint": hashlib.sha256(name.encode()).digest(),
    }  # fmt: skip
    return DiscoveredRoom(**(values | fields))  # type: ignore[arg-type]


async def until(condition: object, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.05)


def private_preferences(folder: Path) -> Preferences:
    """Preferences in ``folder``: screenshots never read or write the person's own."""
    return Preferences(QSettings(str(folder / "prefs.ini"), QSettings.Format.IniFormat))


async def shoot(app: QApplication, out: Path, prefs: Preferences) -> None:
    lobby = MainWindow(prefs=prefs, keys=KeyStore(), discover=False)
    lobby.resize(900, 600)
    lobby.show()
    await asyncio.sleep(0.2)
    save(out, lobby, "lobby-empty")
    # Each room at its own address, as the list shows them (one room answers at one address
    # and port: RoomFeed lists only the newest claiming it).
    for listed in (
        sample_room("Team lunch"),
        # Someone else announces a room of the same name: both are marked.
        sample_room("Team lunch", key="Team lunch 2", room_id="b2", participants=0,
                    addresses=("192.168.1.57",), fingerprint=hashlib.sha256(b"2").digest()),
        sample_room("Book club", host_name="Ben", participants=5, assistant_kind="local",
                    provider="Ollama", model="llama3.2", password_required=True,
                    addresses=("192.168.1.31",)),
        sample_room("Physics study group", host_name="Chen", participants=2, assistant_kind="none",
                    addresses=("192.168.1.42",), port=47322),
        sample_room("Night owls", host_name="Dee", participants=1, protocol=1, fingerprint=None,
                    addresses=("192.168.1.66",)),
    ):  # fmt: skip
        lobby.feed.apply(BrowserEvent("added", listed))
    lobby.lobby.list.setCurrentIndex(lobby.rooms.index(0))
    lobby.lobby.list.setFocus()  # the focus outline, as after Tab
    await asyncio.sleep(0.2)
    save(out, lobby, "lobby")

    join = JoinDialog("Book club", "Ana", code_required=True, parent=lobby)
    join.show()
    join.code.setFocus()
    await asyncio.sleep(0.2)
    save(out, join, "join-dialog")
    join.close()

    warning = message_box(
        QMessageBox.Icon.Warning, "Cannot join", "The room is full.", parent=lobby
    )
    warning.show()
    await asyncio.sleep(0.2)
    save(out, warning, "warning")
    warning.close()

    room = RoomInfo("Team lunch", "Ana", 3, None, False, True, assistant=AssistantInfo(
        "assistant", "OpenAI", "cloud", "gpt-4o-mini", "mention"))  # fmt: skip
    # Joined by a typed address: the code to compare with the host's comes first.
    notice = DisclosureDialog(room, lobby, verification_code=verification_code(bytes(range(32))))
    notice.show()
    await asyncio.sleep(0.2)
    save(out, notice, "join-notice")
    notice.close()

    host_dialog = HostDialog(prefs, KeyStore(), lobby)
    host_dialog.room_name.setText("Team lunch")
    host_dialog.your_name.setText("Ana")
    host_dialog.provider.setCurrentIndex(host_dialog.provider.findData("openai"))
    host_dialog.require_code.setChecked(True)
    host_dialog.room_code.setText(ROOM_CODE)
    host_dialog.show()
    await asyncio.sleep(0.2)
    save(out, host_dialog, "host-dialog")
    host_dialog.close()

    async with FakeOpenAI() as fake:
        words = [w + " " for w in ANSWER.split(" ")]
        fake.script(Reply(words, delay=0.005))
        settings = ProviderSettings.from_preset(
            "openai", model="gpt-4o-mini", base_url=fake.base_url, api_key="sk-demo"
        )
        # The room says OpenAI in the cloud, as a real host's would.
        config = RoomConfig(
            name="Team lunch",
            password=ROOM_CODE,
            assistant=AssistantConfig(
                model="gpt-4o-mini", provider="OpenAI", provider_kind="cloud"
            ),
        )
        host = RoomHost(config, provider=ChatProvider(settings), bind="127.0.0.1", port=0,
                        advertise=False)  # fmt: skip
        await host.start()
        ana = RoomClient(host.local_url(), "Ana", host_key=host.host_key, password=ROOM_CODE,
                         fingerprint=host.fingerprint)  # fmt: skip
        welcome = await ana.connect()
        window = MainWindow(prefs=prefs, keys=KeyStore(), discover=False)
        window.resize(980, 700)
        window._enter(RoomSession(ana, welcome, host=host))
        window.show()
        sam = RoomClient(host.local_url(), "Sam", password=ROOM_CODE)
        await sam.connect()
        ben = RoomClient(host.local_url(), "Ben", password=ROOM_CODE)
        await ben.connect()
        await sam.send("Lunch was great! How do we split the bill? It was 96.40 in total.")
        await asyncio.sleep(0.3)
        await ben.send("Ana paid 40 and Sam paid 56.40, I think")
        await asyncio.sleep(0.3)
        assert window.chat is not None
        window.chat.send("@assistant can you work out who owes whom? Show the code too.")
        chat = window.chat

        def answered() -> bool:
            return any(e.kind == "answer" and e.status == "complete"
                       for e in chat.model.transcript.entries)  # fmt: skip

        await until(answered)
        await asyncio.sleep(0.5)
        chat.view.scrollToBottom()
        await asyncio.sleep(0.2)
        save(out, window, "chat")

        # Host controls → Verification code…: what the host reads out, and the room code.
        chat.show_verification_code()
        await asyncio.sleep(0.2)
        shown = QApplication.activeModalWidget()
        assert isinstance(shown, VerificationDialog)
        save(out, shown, "verification-code")
        shown.close()

        await shoot_files(out, window, fake, sam, ben)
        await shoot_cut_off_and_usage(out, window, fake)

        # Dee's window, when the host closes the room: the conversation stays, under a banner.
        dee = RoomClient(host.local_url(), "Dee", password=ROOM_CODE)
        guest_window = MainWindow(prefs=prefs, keys=KeyStore(), discover=False)
        guest_window.resize(980, 700)
        guest_window._enter(RoomSession(dee, await dee.connect()))
        guest_window.show()
        await sam.leave()
        await ben.leave()
        await window.shutdown()
        window.close()
        await until(lambda: dee.ended is not None)
        await asyncio.sleep(0.3)
        save(out, guest_window, "chat-ended")
        await guest_window.shutdown()
        guest_window.close()

    about = AboutDialog()
    about.show()
    await asyncio.sleep(0.2)
    save(out, about, "about")
    about.show_privacy_tab()
    await asyncio.sleep(0.1)
    save(out, about, "about-privacy")
    lobby.close()


async def shoot_finding(app: QApplication, out: Path, prefs: Preferences) -> None:
    """The ways of finding a room where announcements do not arrive (``finding``)."""
    lobby = MainWindow(prefs=prefs, keys=KeyStore(), discover=False)
    lobby.resize(900, 600)
    lobby.show()
    await asyncio.sleep(0.2)
    save(out, lobby, "lobby-empty")  # its links: search, and why the room is not seen
    for listed in (
        sample_room("Team lunch", found_by=("mdns",)),
        sample_room("Book club", host_name="Ben", participants=5, assistant_kind="local",
                    provider="Ollama", model="llama3.2", addresses=("192.168.1.31",),
                    found_by=("broadcast",)),
        # A search found it: nothing announced it, so no host name nor count either.
        sample_room("Physics study group", host_name=None, participants=None,
                    assistant_kind="none", addresses=("192.168.1.42",), found_by=("scan",)),
    ):  # fmt: skip
        lobby.feed.apply(BrowserEvent("added", listed))
    page = lobby.lobby
    # The search, as it runs (its progress set by hand: a real one would scan this network).
    page.search_strip.on_started(254)
    page.search_strip.on_progressed(94, 254)
    page.search_button.setEnabled(False)
    page.search_button.setText("Searching…")
    page.list.setCurrentIndex(lobby.rooms.index(1))  # the one the search found
    page.list.setFocus()
    await asyncio.sleep(0.2)
    save(out, lobby, "lobby-searching")
    page.search_strip.on_finished(SearchOutcome(254, 47321, rooms=()))  # the words only
    page.search_button.setEnabled(True)
    page.search_button.setText("Search this network")
    await asyncio.sleep(0.2)
    save(out, lobby, "lobby-search-found-nothing")

    address = AddressDialog(lobby)
    address.show()
    code = TEST_VECTOR[3]  # 192.168.1.20's
    typo = code[:-1] + ("Y" if code[-1] != "Y" else "Z")  # one character off: refused
    address.address.setText(typo)
    await asyncio.sleep(0.2)
    save(out, address, "join-code-typo")
    address.address.setText(code)
    await asyncio.sleep(0.1)
    save(out, address, "join-code")
    address.close()

    link = room_link("192.168.1.20", 47321, "Team lunch", password_required=False,
                     protocol=PROTOCOL_VERSION, fingerprint=bytes(range(32)))  # fmt: skip
    links = RoomLinkDialog([link], lobby)
    links.show()
    await until(lambda: bool(links.join_code))
    await asyncio.sleep(0.2)
    save(out, links, "room-link-join-code")
    links.close()

    check = NetworkCheckDialog(None, lobby)
    check.show()
    check.show_running()
    await asyncio.sleep(0.2)
    save(out, check, "network-check-running")
    # Guest Wi-Fi that keeps devices apart: this machine hears itself, nobody else.
    check.show_diagnosis(Diagnosis(
        interfaces=(
            NetworkInterface("lo", ("127.0.0.1",), True, True, False),
            NetworkInterface("wlan0", ("192.168.1.23", "fe80::1%3"), True, False, False),
            NetworkInterface("wg0", ("10.8.0.2",), True, False, True),
        ),
        port=47321, listened=3.0, own_mdns=True, own_broadcast=True,
        others_by_mdns=(), others_by_broadcast=(),
    ))  # fmt: skip
    await asyncio.sleep(0.2)
    save(out, check, "network-check")
    check.close()
    lobby.close()


def lunch_photo() -> bytes:
    """A picture for the chat: a plate on a table, drawn here (no file is read)."""
    image = QImage(960, 640, QImage.Format.Format_RGB32)
    image.fill(QColor("#d9b38c"))
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor("#f5f1ea"))
    painter.drawEllipse(QPoint(480, 330), 250, 250)
    painter.setBrush(QColor("#ffffff"))
    painter.drawEllipse(QPoint(480, 330), 190, 190)
    for colour, x, y, r in (("#e85d3f", 420, 290, 70), ("#6aa84f", 540, 300, 60),
                            ("#f1c232", 470, 400, 55)):  # fmt: skip
        painter.setBrush(QColor(colour))
        painter.drawEllipse(QPoint(x, y), r, r)
    painter.end()
    array = QByteArray()
    buffer = QBuffer(array)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "JPEG")  # type: ignore[call-overload]  # the stub wants bytes; str works
    return bytes(array.data())


BILL = b"who,paid\nAna,40.00\nSam,56.40\n"


async def shoot_files(out: Path, window: MainWindow, fake: FakeOpenAI, sam: RoomClient,
                      ben: RoomClient) -> None:  # fmt: skip
    """Files in the chat: a photo, a table the assistant may read (and was sent), a script;
    and the question asked before sharing."""
    chat = window.chat
    assert chat is not None
    sam.share_file("lunch.jpg", lunch_photo())
    await sam.wait_sent()
    ben.share_file("bill.csv", BILL, assistant=True)
    await ben.wait_sent()
    ben.share_file("split-the-bill.sh", b"#!/bin/sh\necho 'split it'\n")
    await ben.wait_sent()

    def thumbnail_shown() -> bool:
        return any(chat.model.card(e).thumbnail is not None
                   for e in chat.model.transcript.entries if e.kind == "file")  # fmt: skip

    await until(thumbnail_shown)
    fake.script(Reply(["Going by bill.csv, ", "Ana owes Sam 8.20."], delay=0.01))
    chat.send("@assistant does bill.csv agree?")

    def answered_twice() -> bool:
        return sum(e.kind == "answer" and e.status == "complete"
                   for e in chat.model.transcript.entries) == 2  # fmt: skip

    await until(answered_twice)
    await asyncio.sleep(0.5)
    chat.view.scrollToBottom()
    await asyncio.sleep(0.2)
    save(out, window, "chat-files")

    dialog = ShareFileDialog("bill.csv", BILL, chat.session.room.assistant, window)
    dialog.show()
    await asyncio.sleep(0.2)
    save(out, dialog, "share-file")
    dialog.close()
    photo = ShareFileDialog("pasted image.png", lunch_photo(), chat.session.room.assistant,
                            window)  # fmt: skip
    photo.show()
    await until(photo.preview.isVisible)
    await asyncio.sleep(0.2)
    save(out, photo, "share-image")
    photo.close()


async def shoot_cut_off_and_usage(out: Path, window: MainWindow, fake: FakeOpenAI) -> None:
    """An answer the model cut at its length limit (with Continue), then Host controls →
    Assistant usage…"""
    chat = window.chat
    assert chat is not None
    cut = "Here is the full plan for the trip: first, book the train for Friday; second, "
    fake.script(Reply([w + " " for w in cut.split(" ")], delay=0.005, finish_reason="length"))
    chat.send("@assistant write the full plan for the trip")

    def cut_off() -> bool:
        return any(e.kind == "answer" and e.cut_off for e in chat.model.transcript.entries)

    await until(cut_off)
    await until(chat.continue_button.isVisible)
    await asyncio.sleep(0.3)
    chat.view.scrollToBottom()
    await asyncio.sleep(0.2)
    save(out, window, "chat-cut-off")
    chat.on_usage_triggered()
    await asyncio.sleep(0.3)
    dialog = chat.findChild(UsageDialog)
    assert dialog is not None
    save(out, dialog, "assistant-usage")
    dialog.close()


async def shoot_conversation(app: QApplication, out: Path, prefs: Preferences) -> None:
    """A conversation with a reply, an edited message, a deleted one and reactions, and the
    message box writing a reply (``conversation``)."""
    host = RoomHost(RoomConfig(name="Weekend trip"), bind="127.0.0.1", port=0, advertise=False)
    await host.start()
    ana = RoomClient(host.local_url(), "Ana", host_key=host.host_key)
    window = MainWindow(prefs=prefs, keys=KeyStore(), discover=False)
    window.resize(980, 700)
    window._enter(RoomSession(ana, await ana.connect(), host=host))
    window.show()
    sam = RoomClient(host.local_url(), "Sam")
    await sam.connect()
    ben = RoomClient(host.local_url(), "Ben")
    await ben.connect()
    chat = window.chat
    assert chat is not None

    def seq_of(text: str) -> int:
        found = [e.seq for e in chat.model.transcript.entries if e.text == text and e.seq]
        assert found, text
        return found[-1] or 0

    async def said(client: RoomClient, text: str, reply_to: int | None = None) -> int:
        await client.send(text, reply_to=reply_to)
        await until(lambda: any(e.text == text and e.seq for e in chat.model.transcript.entries))
        return seq_of(text)

    leave = await said(sam, "Shall we leave on Saturday at 9? The train takes two hours.")
    later = await said(ben, "9 is early for a Saturday… how about 10?", reply_to=leave)
    ana_id = chat.session.you.id
    chat.send("Works for me")
    await until(
        lambda: any(e.text == "Works for me" and e.seq for e in chat.model.transcript.entries)
    )
    mine = seq_of("Works for me")
    await ana.edit_message(mine, "Works for me, 10 it is. I'll book the tickets tonight.")
    snacks = await said(ben, "I'll bring snacks for everyone")
    await ben.delete_message(snacks)
    await said(sam, "Great, see you at the station!", reply_to=mine)
    for client, seq, emoji in ((sam, later, "👍"), (ana, later, "👍"), (ben, mine, "🎉"),
                               (sam, mine, "🙏"), (ben, leave, "👀")):  # fmt: skip
        await client.react(seq, emoji)
    await until(lambda: sum(len(w) for e in chat.model.transcript.entries
                            for w in e.reactions.values()) == 5)  # fmt: skip
    assert ana_id
    original = chat.model.transcript.at_seq(later)
    assert original is not None
    chat.message_actions.start_reply(original)
    chat.composer.setPlainText("I'll be there at 9:45")
    await asyncio.sleep(0.4)
    chat.view.scrollToBottom()
    await asyncio.sleep(0.2)
    save(out, window, "chat-conversation")
    await sam.leave()
    await ben.leave()
    await window.shutdown()
    window.close()


async def shoot_hostile(app: QApplication, out: Path, prefs: Preferences) -> None:
    """A hostile room, as its host and a guest see it."""
    lobby = MainWindow(prefs=prefs, keys=KeyStore(), discover=False)
    lobby.resize(900, 600)
    for n, room in enumerate((
        sample_room("Team lunch"),
        sample_room(HOSTILE_NAME, host_name=HOSTILE_NAME, model=HOSTILE_NAME),
        sample_room("<b>x</b> <a href='file:///etc/passwd'>x</a>", host_name="<style>"),
        sample_room("\u202e00.001$ owed", host_name="\u202eAna", participants=2),
    )):  # fmt: skip
        lobby.feed.apply(BrowserEvent("added", replace(room, addresses=(f"192.168.1.{20 + n}",))))
    lobby.show()
    lobby.lobby.list.setCurrentIndex(lobby.rooms.index(0))
    await asyncio.sleep(0.2)
    save(out, lobby, "hostile-lobby")

    notice = DisclosureDialog(RoomInfo(HOSTILE_NAME, "Ana", 3, None, False, False,
                                       assistant=AssistantInfo(HOSTILE_NAME, HOSTILE_NAME,
                                       "cloud", HOSTILE_NAME, "mention")), lobby)  # fmt: skip
    notice.show()
    await asyncio.sleep(0.2)
    save(out, notice, "hostile-join-notice")
    notice.close()

    async with FakeOpenAI() as fake:
        fake.script(Reply(["Nothing ", "to ", "add."], delay=0.01))
        settings = ProviderSettings.from_preset(
            "compatible", model=MARKER, base_url=fake.base_url, api_key="k"
        )
        assistant = AssistantConfig(
            model=MARKER,
            provider=f"{MARKER} cloud",
            provider_kind="cloud",
            name=MARKER,
            mode="always",
        )
        config = RoomConfig(name=f"{MARKER} room", assistant=assistant)
        host = RoomHost(config, provider=ChatProvider(settings), bind="127.0.0.1", port=0,
                        advertise=False)  # fmt: skip
        await host.start()
        relay = RewritingRelay(host.port, {MARKER: HOSTILE_NAME, "Sam7": "\u202eSam"})
        await relay.start()
        ana = RoomClient(relay.url, "Ana", host_key=host.host_key)
        window = MainWindow(prefs=prefs, keys=KeyStore(), discover=False)
        window.resize(980, 700)
        window._enter(RoomSession(ana, await ana.connect(), host=host))
        window.show()
        guest = RoomClient(host.local_url(), f"{MARKER} guest")
        await guest.connect()
        other = RoomClient(host.local_url(), "Sam7")  # shown with a right-to-left override
        await other.connect()
        await guest.send(
            "Pay me back here: [paypal.com](https://evil.example/login)\n"
            "I owe you \u202e00.001$\nand this line reads as written"
        )
        chat = window.chat
        assert chat is not None

        def answered() -> bool:
            return any(e.kind == "answer" and e.status == "complete"
                       for e in chat.model.transcript.entries)  # fmt: skip

        await until(answered)
        await guest.set_typing(True)
        await other.set_typing(True)
        await until(lambda: "typing" in chat.typing_line.full_text())
        await asyncio.sleep(0.3)
        chat.view.scrollToBottom()
        await asyncio.sleep(0.2)
        save(out, window, "hostile-chat")

        question = follow_link(window, "paypal.com", "https://evil.example/login")
        assert question is not None
        await asyncio.sleep(0.2)
        save(out, question, "hostile-link-question")
        question.reject()

        await window.shutdown()
        await guest.leave()
        await other.leave()
        await relay.close()
        window.close()

    dialog = HostDialog(prefs, KeyStore(), lobby)
    dialog.room_name.setText("Team\u200blunch")
    dialog.show()
    await asyncio.sleep(0.2)
    save(out, dialog, "host-dialog-room-name")
    dialog.close()
    lobby.close()


async def shoot_themes(app: QApplication, out: Path, themes: list[str], scene: str) -> None:
    """Every screen of ``scene`` ("all", "hostile" or "conversation") in each theme, the
    light one in ``out`` and the dark one in ``out/dark``."""
    controller = theme.install(app)
    shooter = {
        "hostile": shoot_hostile, "conversation": shoot_conversation, "finding": shoot_finding,
    }.get(scene, shoot)  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        prefs = private_preferences(Path(folder))
        for scheme in themes:
            controller.set_choice(scheme, remember=False)
            where = (out / THEME_FOLDERS[scheme]).resolve()
            await shooter(app, where, prefs)
            if scene == "all":
                await shoot_conversation(app, where, prefs)
                await shoot_finding(app, where, prefs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="where to write the PNG files")
    parser.add_argument("--hostile", action="store_true", help="render a hostile room instead")
    parser.add_argument("--conversation", action="store_true",
                        help="render only the conversation with replies and reactions")  # fmt: skip
    parser.add_argument("--finding", action="store_true",
                        help="render only the ways of finding a room")  # fmt: skip
    parser.add_argument("--theme", choices=list(THEME_FOLDERS), help="render one theme only")
    args = parser.parse_args()
    app = make_application(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)  # a scene closes its windows as it goes
    themes = [args.theme] if args.theme else list(THEME_FOLDERS)
    scene = (
        "hostile" if args.hostile else "conversation" if args.conversation
        else "finding" if args.finding else "all"
    )  # fmt: skip
    qasync.run(shoot_themes(app, args.out, themes, scene))
    return 0


if __name__ == "__main__":
    sys.exit(main())
