"""Save transcript…: through the real save dialog, from a real room on loopback; the file
(owner only, whole or not at all), the offer before the host closes the room or a guest
leaves, and failures said in words. The web page's messages go through the chat's renderer
and stay inert."""

from __future__ import annotations

import asyncio
import errno
import os
import stat
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QFileDialog, QLineEdit, QMessageBox, QPushButton

from core.transcript_export import ONLY_COPY
from desktop.main_window import MainWindow
from desktop.settings import KeyStore, Preferences
from desktop.transcript_save import (
    default_name,
    message_html,
    why_not_written,
    write_privately,
)
from tests.core.test_transcript_export import (
    RENDERED,
    SKELETON,
    Inspector,
    assert_encodable_and_balanced,
)
from tests.desktop.conftest import answer_dialog, until
from tests.desktop.flows import hosted, joined, room_url, texts


def save_as(path: Path) -> Callable[[QFileDialog], None]:
    """Answers the save dialog as a person would: types ``path`` and clicks Save."""

    def act(dialog: QFileDialog) -> None:
        assert dialog.acceptMode() == QFileDialog.AcceptMode.AcceptSave
        assert dialog.nameFilters() == ["Markdown (*.md)", "Web page (*.html)"]
        dialog.setOption(QFileDialog.Option.DontConfirmOverwrite)  # a test may replace a file
        name = dialog.findChild(QLineEdit, "fileNameEdit")
        assert isinstance(name, QLineEdit)
        assert name.text().endswith(".md")  # the room's name and the date, as Markdown
        name.setText(str(path))
        dialog.accept()

    return act


def modal_box() -> QMessageBox | None:
    widget = QApplication.activeModalWidget()
    return widget if isinstance(widget, QMessageBox) else None


def button(box: QMessageBox, text: str) -> QPushButton:
    found = [b for b in box.buttons() if b.text().replace("&&", "&") == text]
    assert found, f"no {text!r} in {[b.text() for b in box.buttons()]}"
    assert isinstance(found[0], QPushButton)
    return found[0]


def box_text(box: QMessageBox) -> str:
    return box.text().replace("\u200b", "")  # long runs (paths) are made breakable


def leftovers(folder: Path) -> list[str]:
    """Temporary files a save left behind."""
    return [p.name for p in folder.iterdir() if p.name.endswith(".part")]


async def chatting(prefs: Preferences, keys: KeyStore, cleanup: list[Any]
                   ) -> tuple[MainWindow, MainWindow]:  # fmt: skip
    """A host (Ana) and a guest (Sam) who have each written something."""
    host = await hosted(prefs, keys, cleanup, name="Team lunch")
    guest = await joined(room_url(host), "Sam", prefs, keys, cleanup)
    assert host.chat is not None and guest.chat is not None
    host.chat.send("Lunch was great! Who pays?")
    guest.chat.send("I do <script>alert(1)</script> [docs](https://example.org/docs)")
    for page in (host.chat, guest.chat):
        await until(lambda p=page: len(texts(p)) == 2, what="both messages")  # type: ignore[misc]
    return host, guest


def click_later(page_button: QPushButton) -> None:
    """Click outside the test's own task: the save dialog runs its own event loop, as it does
    when a person clicks."""
    QTimer.singleShot(0, page_button.click)


# -- saving ------------------------------------------------------------------------------


async def test_saving_writes_markdown_readable_by_its_owner_only(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], tmp_path: Path
) -> None:
    host, _guest = await chatting(prefs, keys, cleanup)
    page = host.chat
    assert page is not None
    target = tmp_path / "lunch.md"
    answer_dialog(QFileDialog, save_as(target))
    click_later(page.save_button)
    await until(target.exists, what="the transcript written")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    text = target.read_text(encoding="utf-8")
    assert text.splitlines()[0] == ONLY_COPY
    assert "# Team lunch" in text
    assert "- People: \u2068Ana\u2069 (host), \u2068Sam\u2069" in text
    assert "Lunch was great! Who pays?" in text and "<script>alert(1)</script>" in text
    assert "- Saved by: \u2068Ana\u2069" in text
    await until(lambda: "Transcript saved to" in page.banner.text())
    assert str(target) in page.banner.text().replace("\u200b", "")
    assert leftovers(tmp_path) == []


async def test_a_guest_saves_a_web_page_with_ctrl_s_that_loads_nothing(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], tmp_path: Path
) -> None:
    _host, guest = await chatting(prefs, keys, cleanup)
    page = guest.chat
    assert page is not None
    assert page.save_button.isVisible() and not page.host_menu_button.isVisible()
    guest.activateWindow()
    page.composer.setFocus()
    await until(lambda: QApplication.focusWidget() is page.composer, what="the composer's focus")
    target = tmp_path / "lunch.html"
    answer_dialog(QFileDialog, save_as(target))
    QTimer.singleShot(0, lambda: QTest.keyClick(page.composer, Qt.Key.Key_S,
                                                Qt.KeyboardModifier.ControlModifier))  # fmt: skip
    await until(target.exists, what="the page written")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert page.composer.toPlainText() == ""  # the shortcut typed nothing
    html = target.read_text(encoding="utf-8")
    found = Inspector.of(html)
    assert found.problems == [] and found.elements <= SKELETON | RENDERED
    assert found.body_texts[0] == ONLY_COPY
    shown = " ".join(found.plain_body)
    assert "<script>alert(1)</script>" in shown  # as text
    assert "(https://example.org/docs)" in shown  # where the link goes, in view
    assert '<a href="https://example.org/docs" rel="noopener noreferrer" target="_blank">' in html


async def test_saving_over_a_file_replaces_it_whole_and_owner_only(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], tmp_path: Path
) -> None:
    host, _guest = await chatting(prefs, keys, cleanup)
    page = host.chat
    assert page is not None
    target = tmp_path / "old.md"
    target.write_text("an older file")
    target.chmod(0o644)
    answer_dialog(QFileDialog, save_as(target))
    click_later(page.save_button)
    await until(lambda: target.read_text(encoding="utf-8").startswith(ONLY_COPY))
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert leftovers(tmp_path) == []


async def test_a_full_disk_is_said_in_words_and_leaves_nothing_behind(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    host, _guest = await chatting(prefs, keys, cleanup)
    page = host.chat
    assert page is not None

    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    target = tmp_path / "lunch.md"
    answer_dialog(QFileDialog, save_as(target))
    click_later(page.save_button)
    await until(modal_box, what="the warning")
    box = modal_box()
    assert box is not None
    assert box_text(box) == f"The transcript was not saved to {target}. The disk is full."
    box.button(QMessageBox.StandardButton.Ok).click()
    await until(lambda: modal_box() is None)
    assert os.listdir(tmp_path) == ["prefs.ini"]  # no file, whole or half, nor a temporary one
    assert "saved" not in page.banner.text()


def test_failures_read_as_words() -> None:
    assert why_not_written(PermissionError(errno.EACCES, "x")) == (
        "You do not have permission to write there."
    )
    assert why_not_written(OSError(errno.EROFS, "x")) == "That place is read-only."
    assert why_not_written(OSError(errno.ENOENT, "x")) == "That folder does not exist any more."
    assert why_not_written(OSError(errno.EIO, "Input/output error")) == (
        "The system said: Input/output error."
    )


def test_a_failed_write_removes_its_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(_src: object, _dst: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "replace", refused)
    with pytest.raises(PermissionError):
        write_privately(tmp_path / "t.md", "text")
    assert list(tmp_path.iterdir()) == []


def test_the_offered_name_is_the_room_made_safe_and_the_date() -> None:
    when = datetime(2026, 12, 2, 11, 0)
    assert default_name("Team lunch", when) == "Team lunch 2026-12-02.md"
    assert default_name('../a/b: <c>|"d"\u202e', when) == "-a-b cd 2026-12-02.md"
    assert default_name("CON", when) == "_CON 2026-12-02.md"


# -- the offer before the conversation is lost -----------------------------------------


async def test_the_close_room_offer_saves_and_then_closes(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], tmp_path: Path
) -> None:
    host, _guest = await chatting(prefs, keys, cleanup)
    page = host.chat
    assert page is not None
    page.close_action.trigger()
    await until(modal_box, what="the question")
    box = modal_box()
    assert box is not None
    assert "nothing is kept" in box_text(box) and "unless you save a transcript" in box_text(box)
    assert sorted(b.text() for b in box.buttons()) == [
        "Close the room", "Keep it open", "Save transcript…"
    ]  # fmt: skip
    assert box.defaultButton() is button(box, "Keep it open")
    target = tmp_path / "before closing.md"
    answer_dialog(QFileDialog, save_as(target))
    button(box, "Save transcript…").click()
    await until(lambda: modal_box() not in (None, box), what="the question again")
    again = modal_box()
    assert again is not None and target.exists()
    assert f"but for the transcript you saved to {target}" in box_text(again)
    assert page.leave_button.text() == "Leave"  # saving closed nothing
    button(again, "Close the room").click()
    await until(lambda: "You closed the room" in page.banner.text())
    assert "Lunch was great!" in target.read_text(encoding="utf-8")


async def test_a_host_leaving_is_told_nothing_is_kept_and_offered_to_save(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    host, _guest = await chatting(prefs, keys, cleanup)
    page = host.chat
    assert page is not None
    page.leave_button.click()
    await until(modal_box, what="the question")
    box = modal_box()
    assert box is not None and "nothing is kept" in box_text(box)
    assert sorted(b.text() for b in box.buttons()) == [
        "Close the room and leave", "Save transcript…", "Stay"
    ]  # fmt: skip
    button(box, "Stay").click()
    await until(lambda: modal_box() is None)


async def test_a_guest_who_cancels_the_save_is_asked_again_and_can_leave(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], tmp_path: Path
) -> None:
    _host, guest = await chatting(prefs, keys, cleanup)
    page = guest.chat
    assert page is not None
    page.leave_button.click()
    await until(modal_box, what="the question")
    box = modal_box()
    assert box is not None and "no copy of the conversation" in box_text(box)
    assert sorted(b.text() for b in box.buttons()) == ["Leave and discard", "Save transcript…",
                                                       "Stay"]  # fmt: skip
    answer_dialog(QFileDialog, lambda dialog: dialog.reject())
    button(box, "Save transcript…").click()
    await until(lambda: modal_box() not in (None, box), what="the question again")
    again = modal_box()
    assert again is not None and box_text(again) == box_text(box)  # nothing was saved
    assert os.listdir(tmp_path) == ["prefs.ini"]
    button(again, "Leave and discard").click()
    await until(lambda: guest.pages.currentWidget() is guest.lobby, what="back in the lobby")


async def test_the_transcript_can_be_saved_after_the_room_ended(
    prefs: Preferences, keys: KeyStore, cleanup: list[Any], tmp_path: Path
) -> None:
    host, guest = await chatting(prefs, keys, cleanup)
    page = guest.chat
    assert page is not None and host.session is not None
    host.session.close_room()
    await until(lambda: "closed the room" in page.banner.text(), what="the guest told")
    ended = page.banner.text()
    assert page.save_button.isEnabled()
    target = tmp_path / "after.md"
    answer_dialog(QFileDialog, save_as(target))
    click_later(page.save_button)
    await until(target.exists)
    text = target.read_text(encoding="utf-8")
    assert "The host closed the room." in text and "I do <script>" in text
    await asyncio.sleep(0)
    assert page.banner.text() == ended  # the end stays said


# -- the chat's renderer in the web page -------------------------------------------------


def test_messages_render_as_in_the_chat_and_stay_inert() -> None:
    hostile = (
        "**bold** <script>alert(1)</script> <img src=x onerror=alert(1)>\n"
        "[docs](https://example.org/docs) https://bare.example/x "
        "[bad](javascript:alert(1)) ![pixel](https://tracker.example/p.png)\n"
        "```python\nprint('<b>')\n```\n"
        "I owe you \u202e00.001$ \u2067open"
    )
    html = message_html(hostile)
    found = Inspector.of(f"{_PAGE_HEAD}<body><div>{html}</div></body></html>")
    assert found.problems == [] and found.elements <= SKELETON | RENDERED
    assert "<strong>bold</strong>" in html
    assert '<a href="https://example.org/docs" rel="noopener noreferrer" target="_blank">' in html
    assert '<span class="href">(https://example.org/docs)</span>' in html
    # A bare address is its own text: shown once.
    assert html.count("https://bare.example/x") == 2  # the href and the text
    assert "javascript" not in html.split("bad")[0] and 'href="javascript' not in html
    assert "⟨RLO⟩" in html and "\u202e" not in html
    assert_encodable_and_balanced(html)


_PAGE_HEAD = (
    '<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="'
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'\">"
    "</head>"
)
