"""The About dialog, the privacy policy and the licences it shows, and the app icon."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import re
from pathlib import Path

import pytest
from PySide6.QtCore import QUrl
from PySide6.QtGui import QImage, QTextDocument
from PySide6.QtWidgets import QDialogButtonBox
from pytestqt.qtbot import QtBot

import resources
from core import APP_NAME, __version__
from desktop.about import AboutDialog, SafeMarkdownBrowser, app_icon

SECTION_HEADINGS = [
    "1. Introduction",
    "2. Information We Do Not Collect",
    "3. Information We Handle and Transmit",
    "4. How We Use Your Information",
    "5. Sharing of Information with Third Parties",
    "6. User Control and Data Management",
    "7. Data Security",
    "8. Special Note on Sharing Sensitive Information",
    "9. Changes to This Privacy Policy",
    "10. Contact Us",
]

# The commitments of the policy GPT Group grew from, by key phrase (whitespace-normalised,
# case-insensitive).
SEED_COMMITMENTS = [
    "no accounts and no logins",
    "we do not collect personally identifiable information",
    "we do not sell your data",
    "we may disclose information if required by law",
    "opt out",
    '"data controls"',
    '"improve the model for everyone"',
    '"temporary chat"',
    "no persistent history",
    "you should never enter any private, confidential, or sensitive information",
    "personal financial details, health information, or private credentials",
    "you are in a shared, collaborative space",
    "can be seen by all other participants",
    "assume that anything you type could become public",
    "no method of transmission",
    "100% secure",
    "we may update this policy",
    '"last updated" date',
]


def flat(text: str) -> str:
    """``text`` lower-cased with every run of whitespace made one space."""
    return re.sub(r"\s+", " ", text).strip().lower()


def headings(document: QTextDocument) -> list[str]:
    """The text of every heading block in ``document``, in order."""
    found = []
    block = document.begin()
    while block.isValid():
        if block.blockFormat().headingLevel() > 0:
            found.append(block.text())
        block = block.next()
    return found


def has_images(document: QTextDocument) -> bool:
    """Whether ``document`` contains an image (an object character or an <img> in its HTML)."""
    return "\ufffc" in document.toRawText() or "<img" in document.toHtml().lower()


@pytest.fixture
def opened() -> list[QUrl]:
    """URLs the dialog asked the system to open (instead of really opening them)."""
    return []


@pytest.fixture
def dialog(qtbot: QtBot, opened: list[QUrl]) -> AboutDialog:
    about = AboutDialog(open_url=opened.append)
    qtbot.addWidget(about)
    return about


def test_the_policy_keeps_every_commitment_of_the_seed_policy() -> None:
    policy = flat(resources.read_text("privacy_policy.md"))
    missing = [phrase for phrase in SEED_COMMITMENTS if phrase not in policy]
    assert not missing
    assert "privacy@gptgroup.app" in policy
    assert "issue tracker" in policy
    assert "not encrypted" not in policy  # it is now, and says what that does not change:
    assert "the host's app sees everything in its room" in policy
    assert "compare the room's verification code with the code the host sees" in policy


def test_the_policy_is_short_enough_to_be_read() -> None:
    assert len(resources.read_text("privacy_policy.md").split()) <= 1450


def test_resources_are_found_by_plain_file_name() -> None:
    assert resources.path("icon.svg").is_file()
    assert resources.read_bytes("icon.svg").lstrip().startswith(b"<?xml")
    with pytest.raises(ValueError):
        resources.read_text("../pyproject.toml")
    with pytest.raises(FileNotFoundError):
        resources.read_text("missing.md")


def test_the_dialog_shows_the_name_and_version(dialog: AboutDialog) -> None:
    assert dialog.name_label.text() == APP_NAME
    assert __version__ in dialog.version_label.text()
    assert APP_NAME in dialog.windowTitle()
    assert dialog.name_label.font().bold()
    assert dialog.name_label.font().pointSizeF() > dialog.description_label.font().pointSizeF()


def test_the_privacy_tab_shows_the_whole_policy(dialog: AboutDialog) -> None:
    document = dialog.privacy_view.document()
    text = flat(document.toPlainText())
    assert "last updated: 2 december 2026" in text
    assert [h for h in headings(document) if h[0].isdigit()] == SECTION_HEADINGS
    assert "nothing is kept" in text
    assert "when the room closes" in text
    assert "never enter any private, confidential, or sensitive information" in text
    assert dialog.privacy_view.isReadOnly()


def test_the_about_tab_promises_nothing_is_kept(dialog: AboutDialog) -> None:
    text = flat(dialog.about_view.document().toPlainText())
    assert "nothing is kept after the room closes" in text
    assert "privacy@gptgroup.app" in text
    assert "issue tracker" in text


# What the app cannot do yet must not be promised: each phrase here once claimed it could.
UNTRUE_PROMISES = [
    "chooses to save",
    "save a transcript, copy text",
    "names and files",
    "turn off announcements",
    "turn announcements off",
]


def test_no_text_promises_what_the_app_cannot_do(dialog: AboutDialog) -> None:
    for view in (dialog.about_view, dialog.privacy_view):
        text = flat(view.document().toPlainText())
        assert [phrase for phrase in UNTRUE_PROMISES if phrase in text] == []
        assert '"save transcript…"' in text  # it saves one when asked, and only then
    policy = flat(dialog.privacy_view.document().toPlainText())
    # Files reach the provider only by their senders' choice, in the app's own words.
    assert 'only when the person who shares one ticks "let the assistant read this file"' in policy
    assert '"sent to" that provider' in policy


def test_the_texts_say_what_is_true_now(dialog: AboutDialog) -> None:
    about = flat(dialog.about_view.document().toPlainText())
    assert "is encrypted" in about and "not encrypted" not in about
    assert "compare the room's verification code with the host's" in about
    assert "the host's computer still sees everything in its room" in about
    assert '"new people see earlier messages"' in about
    assert "whether the room is announced" in about
    policy = flat(dialog.privacy_view.document().toPlainText())
    assert "choose not to announce a room when opening it" in policy
    assert "people who join later receive its recent conversation" in policy
    assert "whether newcomers see earlier messages" in policy


def test_the_licences_tab_names_the_lgpl_and_pyside6(dialog: AboutDialog) -> None:
    text = dialog.licences_view.document().toPlainText()
    assert "LGPL" in text
    assert "PySide6" in text
    assert "https://code.qt.io/cgit/pyside/pyside-setup.git/" in text
    assert "https://download.qt.io/official_releases/qt/" in text


def test_documents_show_no_images(dialog: AboutDialog) -> None:
    for view in (dialog.about_view, dialog.privacy_view, dialog.licences_view):
        assert not has_images(view.document())


def test_raw_html_is_shown_as_text_not_interpreted(qtbot: QtBot) -> None:
    hostile = (
        "# Title\n\n"
        '<img src="file:///etc/hosts">\n\n'
        'Some <b>bold</b> and <a href="javascript:alert(1)">a link</a>.\n\n'
        "<script>alert(1)</script>\n"
    )
    view = SafeMarkdownBrowser(hostile)
    qtbot.addWidget(view)
    document = view.document()
    assert not has_images(document)
    assert "<b>bold</b>" in document.toPlainText()
    html = document.toHtml()
    assert 'href="javascript' not in html
    assert "<script" not in html


def test_only_web_and_mail_links_leave_the_app(dialog: AboutDialog, opened: list[QUrl]) -> None:
    view = dialog.privacy_view
    assert not view.openLinks()
    assert not view.openExternalLinks()
    for url in ("https://example.org/", "http://example.org/", "mailto:privacy@gptgroup.app"):
        view.anchorClicked.emit(QUrl(url))
    for url in ("javascript:alert(1)", "file:///etc/hosts", "gptgroup://10.0.0.1:47321/"):
        view.anchorClicked.emit(QUrl(url))
    assert [u.toString() for u in opened] == [
        "https://example.org/",
        "http://example.org/",
        "mailto:privacy@gptgroup.app",
    ]
    assert "Privacy Policy" in view.document().toPlainText()  # nothing navigated away


def test_show_privacy_tab_selects_the_policy(dialog: AboutDialog) -> None:
    dialog.tabs.setCurrentWidget(dialog.licences_view)
    dialog.show_privacy_tab()
    assert dialog.tabs.currentWidget() is dialog.privacy_view
    assert dialog.tabs.tabText(dialog.tabs.currentIndex()) == "Privacy"


def test_the_icon_loads_at_64_px(dialog: AboutDialog) -> None:
    pixmap = app_icon().pixmap(64, 64)
    assert not pixmap.isNull()
    assert pixmap.width() == 64
    image = pixmap.toImage()
    assert image.pixelColor(32, 32).alpha() == 255  # drawn, not blank
    assert image.pixelColor(0, 0).alpha() == 0  # rounded corners
    shown = dialog.icon_label.pixmap()
    assert not shown.isNull()
    assert shown.deviceIndependentSize().toSize().width() == 64
    assert not dialog.windowIcon().isNull()


def test_close_closes(qtbot: QtBot, dialog: AboutDialog) -> None:
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Close).click()
    assert not dialog.isVisible()


def test_every_text_opens_at_its_beginning(qtbot: QtBot, dialog: AboutDialog) -> None:
    dialog.show()
    qtbot.waitExposed(dialog)
    for view in (dialog.about_view, dialog.privacy_view, dialog.licences_view):
        dialog.tabs.setCurrentWidget(view)
        assert view.verticalScrollBar().value() == 0


def test_every_tab_renders(qtbot: QtBot, dialog: AboutDialog, tmp_path: Path) -> None:
    dialog.show()
    qtbot.waitExposed(dialog)
    for index in range(dialog.tabs.count()):
        dialog.tabs.setCurrentIndex(index)
        shot = tmp_path / f"about_{dialog.tabs.tabText(index).lower()}.png"
        assert dialog.grab().save(str(shot))
        image = QImage(str(shot))
        assert image.width() >= 600
        assert image.height() >= 500
        colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, 300, 7)}
        assert len(colours) > 10  # text and icon were drawn, not an empty window
