"""Replies, edits, deletions, reactions and "Ask about this" in a room's page.

:class:`MessageActionsUi` does what the message menu, a reply's quote and the reaction chips
ask for (:attr:`desktop.chat_view.ChatView.message_action`), and offers in that menu what
the room would allow (:mod:`desktop.message_rights`):

* **Reply** and **Ask about this** put the message box in reply mode
  (:meth:`desktop.composer.Composer.start_reply`), "Ask about this" with the assistant's
  mention first; what is sent then is posted as a reply (:meth:`MessageActionsUi.post`).
* **Edit** (or Up in an empty message box, for our latest message) loads the message into
  the box in edit mode; sending saves it (:meth:`MessageActionsUi.save_edit`).
* **Delete…** asks first, plainly, then asks the room.
* **React** toggles our reaction (the quick set, a chip, or "Other emoji…", a small dialog).
* **Go to the original** (or a click on the quote) scrolls to the message replied to and
  highlights it, or says it is too old to be shown here.

:class:`ContextBar` is the line above the message box while it writes a reply or an edit:
"Replying to Sam: start of the text" or "Editing your message", and a button that cancels
(Esc does too).

The room has the last word: what it refuses comes back as an ``error`` the page shows in its
banner, as any refused action. Network text (names, quotes, emoji) is shown as plain text,
fenced off from our words.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QRect, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QFrame, QHBoxLayout, QToolButton, QWidget

from core.client import ClientEvent, Ended, Queued, Resumed
from core.protocol import ErrorMessage, MessageDeleted, MessageEdited, MessageId, MessagePosted
from core.transcript import Entry
from desktop.chat_view import ChatView
from desktop.composer import Composer
from desktop.confirm import ask
from desktop.labels import ElidedLabel
from desktop.message_rights import ABILITY, NOT_CONNECTED, Offer, Rights, last_editable, offers
from desktop.models import MessageListModel
from desktop.network_text import fenced, one_line, shorten
from desktop.reactions import EmojiDialog
from desktop.session import RoomSession
from desktop.theme import colours_for

__all__ = ["BAR_QUOTE_CHARS", "TOO_OLD", "ContextBar", "MessageActionsUi", "reply_words"]

log = logging.getLogger("gptgroup.desktop.message_actions")

EARLIER_RUN = "That message is from before the host opened the room again: it can only be read now."
QUEUED_REMEMBERED = 64  # our messages whose posting tells the room's clock
PROMPT_SECONDS = 5.0  # a message posted within this of being typed tells the clock

BAR_QUOTE_CHARS = 120
"""Characters of the message replied to that the bar above the message box shows."""
TOO_OLD = "The original message is too old to show here: this window no longer holds it."


def reply_words(entry: Entry) -> str:
    """What the bar says while replying to ``entry``: "Replying to Sam: start of its text"."""
    text = entry.file_name if entry.kind == "file" else entry.text
    start = fenced(shorten(one_line(text).strip(), BAR_QUOTE_CHARS), BAR_QUOTE_CHARS)
    return f"Replying to {fenced(entry.author)}: {start}"


class ContextBar(QFrame):
    """The line above ``composer`` while it writes a reply or an edit (hidden otherwise):
    what it is writing, and a button that cancels it and gives the box the focus back."""

    def __init__(self, composer: Composer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("composeContext")
        self.composer = composer
        self.label = ElidedLabel(name="composeContextText")
        self.cancel_button = QToolButton()
        self.cancel_button.setObjectName("cancelContext")
        self.cancel_button.setText("\N{MULTIPLICATION SIGN}")  # a close button's cross
        self.cancel_button.setAutoRaise(True)
        self.cancel_button.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        self.cancel_button.setCursor(Qt.CursorShape.PointingHandCursor)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 2, 4, 2)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.cancel_button)
        self.cancel_button.clicked.connect(self.on_cancel_clicked)
        composer.context_changed.connect(self.on_context_changed)
        self.on_context_changed()

    def on_context_changed(self) -> None:
        context = self.composer.context
        self.setVisible(context is not None)
        if context is None:
            return
        self.label.setText(context.words)
        self.label.setAccessibleName(context.words)
        self.cancel_button.setAccessibleName(context.name)
        self.cancel_button.setToolTip(f"{context.name} (Esc)")

    def on_cancel_clicked(self) -> None:
        self.composer.cancel_context()
        self.composer.setFocus(Qt.FocusReason.OtherFocusReason)

    def paintEvent(self, event: QPaintEvent) -> None:
        """The panel's colour with an accent bar at the left, as a reply's quote has (in the
        theme shown now: it is read at each paint)."""
        colours = colours_for(self)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(colours.panel))
        painter.drawRoundedRect(self.rect(), 6, 6)
        painter.setBrush(QColor(colours.message_accent))
        painter.drawRoundedRect(QRect(0, 0, 4, self.height()), 2, 2)
        painter.end()
        super().paintEvent(event)


class MessageActionsUi(QObject):
    """See the module docstring. ``page`` is the room's page (dialogs open over it);
    ``show_problem`` shows a refusal, ``show_info`` a passing note, as the page does."""

    def __init__(
        self, session: RoomSession, model: MessageListModel, view: ChatView, composer: Composer,
        page: QWidget, show_problem: Callable[[str], None], show_info: Callable[[str], None],
    ) -> None:  # fmt: skip
        super().__init__(page)
        self.session = session
        self.model = model
        self.view = view
        self.composer = composer
        self.page = page
        self._show_problem = show_problem
        self._show_info = show_info
        self.emoji_dialog: EmojiDialog | None = None  # the one open now
        # Edits sent and not yet confirmed: message seq -> (the room's run, the new text).
        self._unconfirmed: dict[int, tuple[int, str]] = {}
        # The room's clock less ours, as our own messages show it (the edit window is the
        # room's: a computer whose clock is off must not offer edits the room refuses).
        self._clock_offset = 0.0
        self._queued_at: dict[str, float] = {}  # our messages typed, by id: when (our clock)
        view.offers_for = self.offers_for
        self._connect_signals()

    def _connect_signals(self) -> None:
        self.view.message_action.connect(self.on_message_action)
        self.composer.edit_last_requested.connect(self.edit_last)

    # ----------------------------------------------------------------- what may be done

    def rights(self) -> Rights:
        """What the room lets us do now."""
        session = self.session
        assistant = session.room.assistant
        return Rights(
            me=session.you.id, host=session.is_host,
            connected=session.connected and session.ended is None,
            supported=ABILITY in session.room_abilities,
            edit_window=session.room.limits.edit_window,
            assistant=assistant.name if assistant is not None else "",
            now=time.time() + self._clock_offset,
            epoch=self.model.transcript.epoch,
        )  # fmt: skip

    def offers_for(self, entry: Entry) -> list[Offer]:
        """What ``entry``'s menu offers (the chat view asks each time it opens one)."""
        return offers(entry, self.rights())

    def _allowed(self, entry: Entry, action: str) -> bool:
        """Whether ``action`` is offered and enabled for ``entry`` now; if offered but not
        enabled, says why (and so for a message of an earlier run of the room, whose chips
        are still drawn)."""
        offer = next((o for o in self.offers_for(entry) if o.action == action), None)
        if offer is not None and not offer.enabled:
            self._show_problem(offer.why)
        elif offer is None and entry.order[0] != self.model.transcript.epoch:
            self._show_info(EARLIER_RUN)
        return offer is not None and offer.enabled

    # ----------------------------------------------------------------- doing it

    def on_message_action(self, key: str, action: str, emoji: str) -> None:
        entry = self.model.transcript.entry(key)
        if entry is None or entry.seq is None:
            return
        if action == "original":
            self.go_to_original(entry)
        elif action in ("react", "other_emoji"):
            if not self._allowed(entry, "react"):
                return
            if emoji:
                self.toggle_reaction(entry, emoji)
            else:
                self.ask_for_emoji(entry)
        elif action in ("reply", "ask") and self._allowed(entry, action):
            self.start_reply(entry, ask=action == "ask")
        elif action == "edit" and self._allowed(entry, "edit"):
            self.start_edit(entry)
        elif action == "delete" and self._allowed(entry, "delete"):
            self.confirm_delete(entry)

    def start_reply(self, entry: Entry, *, ask: bool = False) -> None:
        """Reply to ``entry`` from the message box; asking the assistant about it, with its
        mention first."""
        assert entry.seq is not None
        assistant = self.session.room.assistant
        mention = f"@{assistant.name} " if ask and assistant is not None else ""
        self.composer.start_reply(entry.seq, reply_words(entry), mention=mention)
        self.composer.setFocus(Qt.FocusReason.OtherFocusReason)

    def start_edit(self, entry: Entry) -> None:
        assert entry.seq is not None
        self.composer.start_edit(entry.seq, entry.text)
        self.composer.setFocus(Qt.FocusReason.OtherFocusReason)

    def edit_last(self) -> None:
        """Up in an empty message box: edit our latest message, if the room still lets us
        (else say why, when we have one)."""
        rights = self.rights()
        if not rights.supported:
            return
        entry, why = last_editable(self.model.transcript.entries, rights)
        if entry is None:
            if why:
                self._show_info(why)
        elif not rights.connected:
            self._show_problem(NOT_CONNECTED)
        else:
            self.start_edit(entry)

    def post(self, text: str, reply_to: int) -> MessageId | None:
        """Post ``text`` as a reply to message ``reply_to``; its client id, or None when it
        cannot be sent (said)."""
        return self.session.send(text, reply_to=reply_to)

    def save_edit(self, seq: int, text: str) -> None:
        """Send ``text`` as the new text of our message ``seq`` (nothing when it is the same),
        and leave edit mode. Until the room confirms it, the text is kept: if the room refuses
        (the window closed meanwhile, too fast, ...), it comes back to the box to try again."""
        entry = self.model.transcript.at_seq(seq)
        if entry is None or entry.deleted:
            self._show_problem("That message was deleted: there is nothing to edit.")
        elif text != entry.text:
            if not self.session.connected:  # kept in the box, to save once back in touch
                self._show_problem(f"{NOT_CONNECTED} Your edit is kept: save it again then.")
                return
            self._unconfirmed[seq] = (self.model.transcript.epoch, text)
            self.session.edit_message(seq, text)
        self.composer.finish_context()

    def on_event(self, event: ClientEvent) -> None:
        """Follow the room's answers to our edits: confirmed by its ``message_edited``, or
        refused by an ``error`` naming the message (then the text comes back to the box)."""
        match event:
            case Queued(id=message_id):
                self._queued_at[message_id] = time.time()
                while len(self._queued_at) > QUEUED_REMEMBERED:
                    del self._queued_at[next(iter(self._queued_at))]
            case MessagePosted(client_id=str(client_id)) if client_id in self._queued_at:
                now = time.time()
                if now - self._queued_at.pop(client_id) < PROMPT_SECONDS:  # posted at once
                    self._clock_offset = event.ts - now
            case MessageEdited(message=seq, author=author) if author == self.session.you.id:
                self._unconfirmed.pop(seq, None)
            case MessageDeleted(message=seq):
                self._unconfirmed.pop(seq, None)
                context = self.composer.context
                if context is not None and context.kind == "edit" and context.seq == seq:
                    self.composer.drop_edit()
                    self._show_problem(
                        "The message you were editing was deleted: your text stays in the box, "
                        "as a new message."
                    )
            case ErrorMessage(ref=str(ref)) if ref.isdigit() and int(ref) in self._unconfirmed:
                self._give_back(int(ref), *self._unconfirmed.pop(int(ref)))
            case Resumed():  # an edit sent as the connection dropped may never have arrived
                for seq, (epoch, text) in list(self._unconfirmed.items()):
                    entry = self.model.transcript.at_seq(seq)
                    if entry is None or entry.text != text:
                        self._give_back(seq, epoch, text)
                self._unconfirmed.clear()
            case Ended():
                self._unconfirmed.clear()

    def _give_back(self, seq: int, epoch: int, text: str) -> None:
        """An edit of ours the room refused (or may not have received): back in the box to
        try again, unless the box is busy with something else (then its text is said)."""
        entry = self.model.transcript.at_seq(seq)
        if epoch != self.model.transcript.epoch or entry is None or entry.deleted:
            return
        if self.composer.context is None and not self.composer.toPlainText().strip():
            self.composer.start_edit(seq, text)
            self.composer.setFocus(Qt.FocusReason.OtherFocusReason)
        else:
            self._show_problem(f"Your edit was not saved; it read: {shorten(text, 120)}")

    def confirm_delete(self, entry: Entry) -> None:
        """Ask, then delete ``entry`` for everyone (if it is still the same message then)."""
        seq, epoch = entry.seq, self.model.transcript.epoch
        assert seq is not None
        theirs = entry.author_id != self.session.you.id and entry.kind == "message"
        what = (
            "this answer" if entry.kind == "answer"
            else f"{fenced(entry.author)}'s message" if theirs else "your message"
        )  # fmt: skip

        def delete() -> None:
            transcript = self.model.transcript
            if transcript.epoch == epoch and transcript.at_seq(seq) is entry and not entry.deleted:
                self.session.delete_message(seq)

        ask(
            self.page, title="Delete the message?",
            text=f"Delete {what} for everyone? It will say “Message deleted” instead, and its "
                 "text cannot be brought back.",
            verb="Delete", on_confirmed=delete,
        )  # fmt: skip

    def toggle_reaction(self, entry: Entry, emoji: str) -> None:
        """Add our reaction ``emoji`` to ``entry``, or take it back if it is there."""
        assert entry.seq is not None
        me = self.session.you.id
        mine = any(pid == me for pid, _name in entry.reactions.get(emoji, ()))
        self.session.react(entry.seq, emoji, active=not mine)

    def ask_for_emoji(self, entry: Entry) -> None:
        """React ▸ Other emoji…: a small dialog for one emoji; the room says if it is not."""
        seq, epoch = entry.seq, self.model.transcript.epoch
        assert seq is not None
        if self.emoji_dialog is not None:
            self.emoji_dialog.reject()
        dialog = self.emoji_dialog = EmojiDialog(self.page)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def chosen() -> None:
            emoji = dialog.emoji()
            if emoji and self.model.transcript.epoch == epoch:
                self.session.react(seq, emoji, active=True)

        def closed() -> None:
            if self.emoji_dialog is dialog:
                self.emoji_dialog = None

        dialog.accepted.connect(chosen)
        dialog.finished.connect(closed)
        dialog.open()

    def go_to_original(self, entry: Entry) -> None:
        """Scroll to what ``entry`` replies to and highlight it; or say it is too old."""
        quote = entry.reply_to
        if quote is None:
            return
        original = self.model.transcript.at_seq(quote.message)
        row = self.model.transcript.index_of(original.key) if original is not None else None
        if row is None:
            self._show_info(TOO_OLD)
            return
        self.view.flash(self.model.index(row))
