"""The About dialog: name, version and icon, the privacy policy and third-party licences.

Every text is Markdown rendered with raw HTML switched off, in browsers that load no
resources (no files, no images) and hand only web and mail links to the system.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QByteArray, QSize, Qt, QUrl
from PySide6.QtGui import (
    QDesktopServices,
    QIcon,
    QPainter,
    QPixmap,
    QTextBlockFormat,
    QTextCursor,
    QTextDocument,
    QTextLength,
    QTextTable,
)
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

import resources
from core import APP_NAME, __version__

__all__ = ["AboutDialog", "SafeMarkdownBrowser", "app_icon"]

ICON_SIZES = (16, 24, 32, 48, 64, 128, 256)
HEADER_ICON_SIZE = 64
SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
MARKDOWN_FEATURES = (
    QTextDocument.MarkdownFeature.MarkdownDialectGitHub
    | QTextDocument.MarkdownFeature.MarkdownNoHTML
)

DESCRIPTION = "Chat with an AI together, as a group, on your local network."

ABOUT_TEXT = f"""\
**{APP_NAME}** lets people in one place chat with an AI together. One person hosts a room on
the local network; everyone else joins with just a display name. There are no accounts and no
logins.

### Nothing is kept after the room closes

Chats live only in memory, on the host's computer and in each participant's app. The app
never writes them to disk by itself: only a shared file you save, or a transcript when you
click "Save transcript…", each to a file you choose. When the room closes, the conversation
and its files are gone for everyone (though anyone in it can copy text, save a file, save a
transcript or take a screenshot). The developers of
{APP_NAME} receive nothing: there is no telemetry and there are no servers of ours.

### Where your messages go

Everyone in a room sees what you write. Messages that ask the assistant (or every message, if
the host set it to answer on its own) go from the host's computer, with the recent
conversation, to the AI provider the host chose: a cloud service such as OpenAI, or a server
on the local network. Before you join, the app shows which one a room uses. A file you share
goes there only if you tick "Let the assistant read this file". Never share sensitive
information in a group chat.

The connection between the apps in a room is **encrypted**, with a certificate made for that
room alone: others on the network cannot read the messages as they travel, and the app refuses
a room that is not the one the list or the link named. If you join by typing an address,
compare the room's verification code with the host's first. The host's computer still sees
everything in its room.

### Who sees what, and when

People who join a room later can read its recent conversation, unless the host chose
otherwise when opening it ("New people see earlier messages"); the room's header says which.
The host also chooses whether the room is announced on the local network, where anyone can see
its name, the host's name and the number of people in it, or only shared by its address.

### Contact

Questions about privacy: [privacy@gptgroup.app](mailto:privacy@gptgroup.app). You can also
raise questions and report problems in the project's issue tracker.

{APP_NAME} is free software under the MIT licence.
"""


def app_icon() -> QIcon:
    """The app's icon, drawn from ``resources/icon.svg`` at every usual size.

    The SVG is read as bytes, so this works however the resources are packaged.
    """
    renderer = QSvgRenderer(QByteArray(resources.read_bytes("icon.svg")))
    icon = QIcon()
    for size in ICON_SIZES:
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        icon.addPixmap(pixmap)
    return icon


def _space_out(document: QTextDocument) -> None:
    """Give a rendered document room to breathe: air above headings, taller lines, full-width
    tables. Qt's Markdown reader sets none of these."""
    cursor = QTextCursor(document)
    block = document.begin()
    while block.isValid():
        layout = QTextBlockFormat()
        if block.blockFormat().headingLevel() > 0:
            layout.setTopMargin(0 if block.blockNumber() == 0 else 14)
            layout.setBottomMargin(6)
        else:
            layout.setLineHeight(115, QTextBlockFormat.LineHeightTypes.ProportionalHeight.value)
        cursor.setPosition(block.position())
        cursor.mergeBlockFormat(layout)
        block = block.next()
    for frame in document.rootFrame().childFrames():
        if isinstance(frame, QTextTable):
            table = frame.format()
            table.setWidth(QTextLength(QTextLength.Type.PercentageLength, 100))
            table.setCellPadding(4)
            frame.setFormat(table)


class SafeMarkdownBrowser(QTextBrowser):
    """A read-only Markdown view that interprets no HTML and loads no resources.

    Clicking a link never navigates inside the view: ``http``, ``https`` and ``mailto`` links
    go to ``open_url`` (the system's browser or mail app by default); others are ignored.
    """

    def __init__(
        self,
        markdown: str = "",
        parent: QWidget | None = None,
        *,
        open_url: Callable[[QUrl], object] = QDesktopServices.openUrl,
    ) -> None:
        super().__init__(parent)
        self._open_url = open_url
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.document().setDocumentMargin(16)
        self.anchorClicked.connect(self.follow_link)
        if markdown:
            self.set_markdown(markdown)

    def set_markdown(self, text: str) -> None:
        """Show ``text`` as GitHub-flavoured Markdown, with raw HTML shown as plain text."""
        document = self.document()
        document.setMarkdown(text, MARKDOWN_FEATURES)
        _space_out(document)
        self.moveCursor(QTextCursor.MoveOperation.Start)  # else it opens scrolled to the end

    def follow_link(self, url: QUrl) -> bool:
        """Hand ``url`` to ``open_url`` if it is a web or mail link; True if it was."""
        if url.scheme().lower() not in SAFE_SCHEMES:
            return False
        self._open_url(url)
        return True

    def loadResource(self, type: int, name: QUrl | str) -> Any:
        """Load nothing: no images, style sheets or files referenced by a document."""
        return None


class AboutDialog(QDialog):
    """About GPT Group: the app's name and version, then tabs for About, Privacy, Licences."""

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        open_url: Callable[[QUrl], object] = QDesktopServices.openUrl,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"About {APP_NAME}")
        self.icon = app_icon()
        self.setWindowIcon(self.icon)
        self.resize(640, 560)

        self.about_view = SafeMarkdownBrowser(ABOUT_TEXT, open_url=open_url)
        self.privacy_view = SafeMarkdownBrowser(
            resources.read_text("privacy_policy.md"), open_url=open_url
        )
        self.licences_view = SafeMarkdownBrowser(
            resources.read_text("third_party_licenses.md"), open_url=open_url
        )
        self.tabs = QTabWidget()
        self.tabs.addTab(self.about_view, "About")
        self.tabs.addTab(self.privacy_view, "Privacy")
        self.tabs.addTab(self.licences_view, "Licences")
        for view, name in ((self.about_view, "About GPT Group"),
                           (self.privacy_view, "Privacy policy"),
                           (self.licences_view, "Licences")):  # fmt: skip
            view.setAccessibleName(name)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 20, 20, 16)
        layout.setSpacing(16)
        layout.addLayout(self._header())
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.buttons)

    def _header(self) -> QHBoxLayout:
        size = QSize(HEADER_ICON_SIZE, HEADER_ICON_SIZE)
        self.icon_label = QLabel()
        self.icon_label.setPixmap(self.icon.pixmap(size, self.devicePixelRatioF()))
        self.icon_label.setFixedSize(size)
        self.icon_label.setAccessibleName(f"{APP_NAME} icon")

        self.name_label = QLabel(APP_NAME)
        name_font = self.name_label.font()
        name_font.setPointSizeF(name_font.pointSizeF() * 1.7)
        name_font.setBold(True)
        self.name_label.setFont(name_font)

        # Muted by the theme's style sheet, which keeps it readable in light and dark alike.
        self.version_label = QLabel(f"Version {__version__}")
        self.version_label.setObjectName("hint")
        self.version_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.description_label = QLabel(DESCRIPTION)
        self.description_label.setWordWrap(True)

        text = QVBoxLayout()
        text.setSpacing(2)
        text.addStretch(1)
        text.addWidget(self.name_label)
        text.addWidget(self.version_label)
        text.addSpacing(4)
        text.addWidget(self.description_label)
        text.addStretch(1)

        header = QHBoxLayout()
        header.setSpacing(16)
        header.addWidget(self.icon_label, 0, Qt.AlignmentFlag.AlignTop)
        header.addLayout(text, 1)
        return header

    def show_privacy_tab(self) -> None:
        """Switch to the privacy policy, scrolled to its beginning (the join notice links here)."""
        self.tabs.setCurrentWidget(self.privacy_view)
        self.privacy_view.verticalScrollBar().setValue(0)
