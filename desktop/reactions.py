"""Reactions to a message, as the chat shows them: the quick set the menu offers, each
emoji's count and who reacted, in words for tooltips and screen readers, and the small
dialog for any other emoji.

Emoji and names come from the room: they are drawn as plain text, fenced off from our words
(:func:`desktop.network_text.fenced`), and the room, not this module, decides what counts as
one emoji (a refusal is shown as any other refused action is).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLineEdit, QVBoxLayout, QWidget

from core.protocol import MAX_REACTION_CHARS, ParticipantId
from core.transcript import Entry
from desktop.labels import PlainLabel
from desktop.network_text import fenced

__all__ = [
    "QUICK_REACTIONS",
    "EmojiDialog",
    "Reaction",
    "reacted_words",
    "reactions_of",
    "spoken_reactions",
]

QUICK_REACTIONS = ("👍", "❤️", "😂", "😮", "😢", "🎉", "🙏", "👀")
"""What React ▸ offers at once; "Other emoji…" takes any other."""
NAMED = 2
"""Names a tooltip lists before "and N others"."""


@dataclass(frozen=True)
class Reaction:
    """One emoji's reactions to a message: how many, whether one is ours, and who else, in
    the order they reacted (names as the room sent them)."""

    emoji: str
    count: int
    mine: bool
    others: tuple[str, ...]


def reactions_of(entry: Entry, me: ParticipantId) -> tuple[Reaction, ...]:
    """``entry``'s reactions in the order they first came, ``me``'s marked; none for a
    deleted message."""
    if entry.deleted:
        return ()
    return tuple(
        Reaction(
            emoji,
            len(who),
            any(pid == me for pid, _name in who),
            tuple(name for pid, name in who if pid != me),
        )
        for emoji, who in entry.reactions.items()
        if who
    )


def reacted_words(reaction: Reaction) -> str:
    """Who reacted, for a chip's tooltip: "Sam, Bob and 3 others reacted with 👍" ("You" for
    ours, first)."""
    names = ["You"] * reaction.mine + [fenced(name) for name in reaction.others]
    shown, rest = names[:NAMED], len(names) - min(NAMED, len(names))
    if rest > 0:
        who = f"{', '.join(shown)} and {rest} other{'' if rest == 1 else 's'}"
    elif len(shown) > 1:
        who = f"{', '.join(shown[:-1])} and {shown[-1]}"
    else:
        who = shown[0] if shown else "Nobody"
    return f"{who} reacted with {fenced(reaction.emoji, MAX_REACTION_CHARS)}"


def spoken_reactions(reactions: tuple[Reaction, ...]) -> str:
    """Reactions as a screen reader says them: "Reactions: 👍 3 (yours), ❤️ 1"; "" for none."""
    if not reactions:
        return ""
    each = [
        f"{fenced(r.emoji, MAX_REACTION_CHARS)} {r.count}{' (yours)' if r.mine else ''}"
        for r in reactions
    ]
    return "Reactions: " + ", ".join(each)


class EmojiDialog(QDialog):
    """React ▸ Other emoji…: one line for one emoji (typed, or from the system's emoji
    picker). The room says whether it is one; nothing is checked here."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("emojiDialog")
        self.setWindowTitle("React with an emoji")
        intro = PlainLabel("Type or paste one emoji.", name="hint", wrap=True)
        self.field = QLineEdit()
        self.field.setObjectName("emoji")
        self.field.setAccessibleName("Emoji")
        self.field.setMaxLength(2 * MAX_REACTION_CHARS)  # Qt counts UTF-16 units
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText("React")
        ok.setEnabled(False)
        self.field.textChanged.connect(lambda text: ok.setEnabled(bool(text.strip())))
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.field)
        layout.addWidget(self.buttons)
        self.field.setFocus()

    def emoji(self) -> str:
        """What was typed, without spaces around it."""
        return self.field.text().strip()
