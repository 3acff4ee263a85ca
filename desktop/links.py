"""Links in messages: where a link really goes, and a question before a deceptive one opens.

A Markdown link shows one text and opens another address: ``[paypal.com](https://evil.example)``
reads like PayPal. :func:`deceptive` says when a link's visible text names an address other
than its target (or hides its direction with control characters, or the target hides its host
behind a user name); :func:`follow_link` opens ordinary links at once and asks first, in a
dialog that shows the real target as plain text, about deceptive ones. :func:`shown_target`
is the form of the target people are shown (hover and dialog): fully encoded, so a
look-alike host appears as the ``xn--`` name it really is.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from urllib.parse import urlsplit

from PySide6.QtCore import QPointF, Qt, QUrl
from PySide6.QtGui import QDesktopServices, QTextDocument
from PySide6.QtWidgets import QMessageBox, QWidget

from desktop.labels import message_box
from desktop.network_text import bidi_controls, fenced

__all__ = ["deceptive", "follow_link", "link_at", "named_hosts", "shown_target"]

OPEN_SCHEMES = frozenset({"http", "https"})

# A host name: dot-separated labels of letters, digits and hyphens (any script), ending in a
# label of letters; or an IPv4 address. Optionally a user name before it and a port, path,
# query or fragment after it.
_HOST = r"(?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W\d_]{2,}|\d{1,3}(?:\.\d{1,3}){3}"
_BARE_ADDRESS = re.compile(rf"(?:[^\s@/]+@)?(?P<host>{_HOST})\.?(?::\d+)?(?:[/?#]\S*)?")
_WITH_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://\S+")
_WWW = re.compile(rf"www\.(?:{_HOST})\S*", re.IGNORECASE)
_TRIM = "<>()[]{}\"'.,;:!?\u201c\u201d\u2018\u2019\u00ab\u00bb"  # brackets, quotes, stops


def shown_target(href: str) -> str:
    """The target as people are shown it: every component encoded, the host in ASCII."""
    return QUrl(href).toString(QUrl.ComponentFormattingOption.FullyEncoded)


def _host_key(host: str) -> str:
    """A host name in one comparable form: lower case, ASCII (IDNA), no ``www.`` or final dot."""
    host = host.strip().rstrip(".").lower()
    with contextlib.suppress(UnicodeError):  # not a valid international name: compare as is
        host = host.encode("idna").decode("ascii")
    return host.removeprefix("www.")


def named_hosts(text: str) -> list[str]:
    """The hosts that ``text`` names as addresses, in comparable form.

    The whole text counts when it is one address with or without a scheme (``paypal.com``,
    ``https://paypal.com/login``, ``support@paypal.com``); inside a longer text, words that
    start with a scheme or ``www.`` count.
    """
    words = [word.strip(_TRIM) for word in text.split()]
    candidates: list[str] = []
    if len(words) == 1:
        candidates.append(words[0])
    else:
        candidates.extend(w for w in words if _WITH_SCHEME.fullmatch(w) or _WWW.fullmatch(w))
    hosts = []
    for word in candidates:
        if _WITH_SCHEME.fullmatch(word):
            try:
                host = urlsplit(word).hostname
            except ValueError:
                host = None
            if host:
                hosts.append(_host_key(host))
            continue
        match = _BARE_ADDRESS.fullmatch(word)
        if match:
            hosts.append(_host_key(match.group("host")))
    return hosts


def deceptive(text: str, href: str) -> bool:
    """Whether a link showing ``text`` and opening ``href`` deserves a question first.

    It does when the text names a host other than the target's, when the text holds
    direction controls (which can make ``moc.lapyap`` read as ``paypal.com``), or when the
    target has a user name before its host (``https://paypal.com@evil.example``). A link
    whose text is its own target, or is no address at all ("the docs"), does not.
    """
    try:
        parts = urlsplit(href)
        target = _host_key(parts.hostname or "")
        user = parts.username is not None
    except ValueError:
        return True
    if user or bidi_controls(text):
        return True
    return any(host != target for host in named_hosts(text))


def follow_link(
    parent: QWidget, text: str, href: str, *,
    open_url: Callable[[QUrl], object] = QDesktopServices.openUrl,
) -> QMessageBox | None:  # fmt: skip
    """Open an http(s) link shown as ``text``, asking first when it is :func:`deceptive`.

    The question is window-modal and not awaited (a nested event loop would break asyncio):
    the link opens when the person chooses "Open link". Returns that dialog, or None when
    the link opened at once or was not a web link.
    """
    url = QUrl(href)
    if url.scheme().lower() not in OPEN_SCHEMES or not url.isValid():
        return None
    if not deceptive(text, href):
        open_url(url)
        return None
    box = message_box(
        QMessageBox.Icon.Warning,
        "Open this link?",
        f"The link reads “{fenced(text, 200)}”, but it opens a different address:\n\n"
        f"{shown_target(href)}\n\nOpen it only if you trust that address.",
        QMessageBox.StandardButton.Cancel,
        parent,
    )
    opener = box.addButton("Open link", QMessageBox.ButtonRole.AcceptRole)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)

    def finished() -> None:
        if box.clickedButton() is opener:
            open_url(url)
        box.deleteLater()

    box.finished.connect(finished)
    box.setWindowModality(Qt.WindowModality.WindowModal)
    box.open()
    return box


def link_at(doc: QTextDocument, point: QPointF) -> tuple[str, str] | None:
    """The link under ``point`` in a laid-out document: its whole visible text and its target.

    A link's text may be split into several fragments (``[**pay**pal.com](...)``); they are
    joined, as long as they are adjacent and share the target.
    """
    layout = doc.documentLayout()
    href = layout.anchorAt(point)
    if not href:
        return None
    position = layout.hitTest(point, Qt.HitTestAccuracy.FuzzyHit)
    block = doc.findBlock(position)
    runs: list[tuple[int, int, str]] = []  # consecutive fragments of this link, in order
    found = False
    it = block.begin()
    while not it.atEnd():
        fragment = it.fragment()
        it += 1
        start = fragment.position()
        end = start + fragment.length()
        fmt = fragment.charFormat()
        if fmt.isAnchor() and fmt.anchorHref() == href:
            runs.append((start, end, fragment.text()))
            found = found or start <= position <= end
        elif found:
            break
        else:
            runs = []
    if not found:
        return None
    return "".join(text for _, _, text in runs), href
