"""Telling the person about what concerns them while the window is not in front.

:class:`Notifier` watches one room's events. While the window is not the active one:

* every message and answer from someone else counts as unread, shown in the window title
  (``(3) Team lunch — GPT Group``) until the window is active again;
* a message that mentions you (``@Your Name``, as the assistant is mentioned: any case, a
  whole word), and the end of an answer you asked for, raise a system notification (a
  :class:`QSystemTrayIcon` message where the desktop has a tray) and the taskbar's attention
  hint (:meth:`QApplication.alert`).

Nothing is notified while the window is active, nor when notifications are off (globally in
the preferences, or for this room with :attr:`Notifier.muted`, which lasts as long as the
room: room names are not remembered). A notification says who and where, never what was
written: notification centres keep their own history, and chat content must not outlive the
room.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtWidgets import QApplication, QSystemTrayIcon, QWidget

from core.client import ClientEvent
from core.protocol import AnswerFinished, AnswerId, AnswerStarted, MessagePosted, ParticipantId
from desktop.network_text import fenced
from desktop.settings import Preferences

__all__ = ["Notification", "Notifier", "mentions"]

APP_NAME = "GPT Group"


@dataclass(frozen=True)
class Notification:
    """What was shown: a title and one line (both plain text)."""

    title: str
    text: str


def mentions(text: str, name: str) -> bool:
    """Whether ``text`` mentions ``@name`` (any case, as a whole word)."""
    if not name:
        return False
    return re.search(rf"(?<!\w)@{re.escape(name)}(?!\w)", text, re.IGNORECASE) is not None


class Notifier:
    """See the module docstring. :attr:`is_in_front` says whether the window is the active
    one (by default, ``window.isActiveWindow()``); ``show`` shows a notification (by default
    in the system tray, where there is one). :attr:`shown` lists what was notified, newest
    last.

    It refers to its window weakly: the window holds it, and a cycle between them would leave
    the window to Python's cycle collector, whose deleting a whole window tree at a random
    moment crashes Qt.
    """

    def __init__(
        self,
        window: QWidget,
        prefs: Preferences,
        *,
        me: ParticipantId,
        my_name: str,
        room_name: str,
        is_in_front: Callable[[], bool] | None = None,
        show: Callable[[Notification], None] | None = None,
    ) -> None:
        self._window = weakref.ref(window)
        self._prefs = prefs
        self._me = me
        self._my_name = my_name
        self._room = fenced(room_name)
        self.is_in_front = is_in_front or self._window_in_front
        self._show = show or self._show_in_tray
        self._tray: QSystemTrayIcon | None = None
        self._mine: set[AnswerId] = set()  # answers asked for by me, being written
        self.muted = False
        self.unread = 0
        self.shown: list[Notification] = []
        self._update_title()

    def on_event(self, event: ClientEvent) -> None:
        match event:
            case AnswerStarted(answer=answer, asked_by=asker) if asker == self._me:
                self._mine.add(answer)
            case MessagePosted(author=author, author_name=name, text=text) if author != self._me:
                if self._away():
                    self._count()
                    if mentions(text, self._my_name):
                        self._notify(f"{fenced(name)} mentioned you", f"In {self._room}")
            case AnswerFinished(answer=answer, status=status):
                mine = answer in self._mine
                self._mine.discard(answer)
                if self._away():
                    self._count()
                    if mine and status != "stopped":
                        words = (
                            "Your answer is ready"
                            if status == "complete"
                            else ("Your answer ended early")
                        )
                        self._notify(words, f"In {self._room}")

    def window_activated(self) -> None:
        """The window came to the front: everything has been seen."""
        if self.unread:
            self.unread = 0
            self._update_title()
        if self._tray is not None:
            self._tray.hide()

    def detach(self) -> None:
        """The room is over: the title goes back to the app's name."""
        self.unread = 0
        if self._tray is not None:
            self._tray.hide()
        window = self._window()
        if window is not None:
            window.setWindowTitle(APP_NAME)

    # ----------------------------------------------------------------- internals

    def _away(self) -> bool:
        return not self.is_in_front()

    def _count(self) -> None:
        self.unread += 1
        self._update_title()

    def _window_in_front(self) -> bool:
        window = self._window()
        return window is not None and window.isActiveWindow()

    def _update_title(self) -> None:
        window = self._window()
        if window is not None:
            unread = f"({self.unread}) " if self.unread else ""
            window.setWindowTitle(f"{unread}{self._room} — {APP_NAME}")

    def _notify(self, title: str, text: str) -> None:
        if self.muted or not self._prefs.notifications():
            return
        notification = Notification(title, text)
        self.shown.append(notification)
        self._show(notification)
        window = self._window()
        if window is not None:
            QApplication.alert(window, 0)  # the taskbar's attention hint, until seen

    def _show_in_tray(self, notification: Notification) -> None:
        if not QSystemTrayIcon.isSystemTrayAvailable():
            return  # the attention hint and the title are all this desktop offers
        if self._tray is None:
            self._tray = QSystemTrayIcon(QApplication.windowIcon(), self._window())
            self._tray.setToolTip(APP_NAME)
            self._tray.messageClicked.connect(self._bring_to_front)
        self._tray.show()
        self._tray.showMessage(
            notification.title, notification.text, QSystemTrayIcon.MessageIcon.Information
        )

    def _bring_to_front(self) -> None:
        window = self._window()
        if window is not None:
            window.showNormal()
            window.raise_()
            window.activateWindow()
