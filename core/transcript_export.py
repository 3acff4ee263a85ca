"""A transcript as a file for people: Markdown or a self-contained HTML page. No I/O, no Qt.

The app keeps no chat content (docs/architecture.md, invariant 2). When someone asks for a
transcript, this module turns what their window shows (the :class:`core.transcript.Entry`
rows) and what the app saw of the room (:class:`Attendance`) into text; the caller writes it
where the person chose. Nothing here touches a disk.

Both formats open with :data:`ONLY_COPY`, then say which room, when, who was there (the host
marked), and which provider and models answered. Then every row: messages with their author
and time; the assistant's answers with their model and how they ended (stopped, cut off, cut
off at the length limit); files by name, size and type, never their contents; the room's
notices; who joined and left.

Everything from the room is hostile, and so is everything in these files. Whatever the text:

* No character from the room can become structure. In Markdown, a message stands in a code
  fence longer than any run of backticks in it, so it cannot end the fence, forge the next
  message's header or hold live HTML; names and other one-line text are backslash-escaped.
  In HTML every character from the room is escaped, and a message is either escaped text
  kept as written (``white-space: pre-wrap``), or what the caller's ``render_text`` makes of
  it (the desktop app passes its chat renderer, whose contract is the same).
* The HTML page loads nothing: a Content-Security-Policy of ``default-src 'none'`` (inline
  styles only), no scripts, no images, no remote styles or fonts, no referrer; links are
  followed only when clicked.
* Direction controls cannot reorder our words or the next line: embeddings and overrides
  (U+202A to U+202E) show as markers such as ``⟨RLO⟩``, as in the app; isolates are closed at
  the end of their line; a name is isolated from the words around it.
* Lone surrogates and control characters become U+FFFD, so the text always encodes as UTF-8.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo

from core.protocol import AssistantInfo, ParticipantInfo, Quote, RoomInfo
from core.transcript import Entry
from core.wording import ANSWER_STATUS_WORDS, file_type_words, size_words

__all__ = [
    "ONLY_COPY",
    "OTHER_COPIES",
    "Attendance",
    "Conversation",
    "Person",
    "transcript_html",
    "transcript_markdown",
]

APP = "GPT Group"
ONLY_COPY = (
    f"This file is the only copy of this conversation that {APP} made: the app keeps none, "
    "on this computer or on the host's, and saved this one only because you asked."
)
"""The first line of every transcript (the first thing shown, in HTML)."""
OTHER_COPIES = (
    "Others who were in the room may have saved or copied it too, and the AI provider received "
    "what was sent to it."
)
"""The line after :data:`ONLY_COPY`: what this file cannot promise."""
FILES_NOTE = "Files are listed by name and size; their contents are not in this transcript."

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
)

RenderText = Callable[[str], str]
"""Turns a message's text (already free of lone surrogates and control characters) into
HTML to place in the page as is. It must escape every character of the text, and write no
element or attribute that loads anything (no ``<img>``, ``src``, ``url(``, ``<link>``,
``<script>``, event handlers) and no link that is not ``http(s)``."""


@dataclass(frozen=True)
class Person:
    """Someone who was in the room."""

    name: str
    host: bool = False


@dataclass(frozen=True)
class Conversation:
    """What a transcript says about the conversation besides its rows.

    ``started`` and ``ended`` are Unix times; ``saved_by`` is the name of whoever saves it.
    ``assistants`` holds each assistant the room had while the app was in it, in order.
    """

    room: str
    people: tuple[Person, ...] = ()
    assistants: tuple[AssistantInfo, ...] = ()
    started: float = 0.0
    ended: float = 0.0
    saved_by: str = ""


@dataclass
class Attendance:
    """Who was seen in the room while this app was in it, and the assistants it had.

    Fed with the room as it stands, as often as it changes (:meth:`saw`); a person keeps the
    first place they were seen in, by name, since someone who rejoins comes back with a new
    id. Lives in memory, like the conversation it describes.
    """

    _people: dict[str, Person] = field(default_factory=dict)
    _assistants: list[AssistantInfo] = field(default_factory=list)

    def saw(self, participants: Iterable[ParticipantInfo], room: RoomInfo) -> None:
        """Note everyone in ``participants`` and ``room``'s assistant (if any)."""
        for person in participants:
            self._note(person.name, host=person.role == "host")
        assistant = room.assistant
        if assistant is not None and (not self._assistants or self._assistants[-1] != assistant):
            if assistant in self._assistants:  # back to one seen before: it moves to the end
                self._assistants.remove(assistant)
            self._assistants.append(assistant)

    def _note(self, name: str, *, host: bool) -> None:
        known = self._people.get(name)
        if known is None:
            self._people[name] = Person(name, host)
        elif host and not known.host:
            self._people[name] = Person(name, True)

    def conversation(
        self, room: str, entries: Sequence[Entry], *, saved_by: str, ended: float
    ) -> Conversation:
        """The :class:`Conversation` of ``entries``: everyone seen, plus whoever wrote or
        shared something in them (the history may go back to before this app joined), from
        the first row's time (or ``ended``) to ``ended``."""
        for entry in entries:
            if entry.kind in ("message", "file") and entry.author:
                self._note(entry.author, host=entry.role == "host")
        times = [e.ts for e in entries if math.isfinite(e.ts) and 0 < e.ts <= ended]
        return Conversation(
            room=room, people=tuple(self._people.values()),
            assistants=tuple(self._assistants), started=min([*times, ended]), ended=ended,
            saved_by=saved_by,
        )  # fmt: skip


# -- text from the room, made inert --------------------------------------------------

_SURROGATES_AND_CONTROLS = re.compile("[\ud800-\udfff\x00-\x08\x0b-\x1f\x7f-\x9f]")
_EMBEDDINGS = re.compile("[\u202a-\u202e]")
_EMBEDDING_NAMES = {"\u202a": "LRE", "\u202b": "RLE", "\u202c": "PDF", "\u202d": "LRO",
                    "\u202e": "RLO"}  # fmt: skip
_ISOLATE_OPENERS = frozenset("\u2066\u2067\u2068")  # LRI, RLI, FSI
FSI = "\u2068"
PDI = "\u2069"
_LINE_BREAKS = re.compile("[\n\t\u2028\u2029]+")
_SPACES = re.compile(r"\s+")


def _chars(text: str) -> str:
    """``text`` with lone surrogates and control characters (but tab and line feed) as
    U+FFFD, and its line breaks as line feeds: safe to encode and to render."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _SURROGATES_AND_CONTROLS.sub("\ufffd", text)


def _closed(line: str) -> str:
    """``line`` with every isolate it opens closed at its end, and any that it closes
    without having opened dropped (it would end an isolate around the line)."""
    depth = 0
    kept = []
    for ch in line:
        if ch in _ISOLATE_OPENERS:
            depth += 1
        elif ch == PDI:
            if not depth:
                continue
            depth -= 1
        kept.append(ch)
    return "".join(kept) + PDI * depth


def _shown(text: str) -> str:
    """``text`` as it may appear in a file: :func:`_chars`, embeddings and overrides as
    markers, every line's isolates closed at its end."""
    text = _EMBEDDINGS.sub(lambda m: f"⟨{_EMBEDDING_NAMES[m.group()]}⟩", _chars(text))
    return "\n".join(_closed(line) for line in text.split("\n"))


def _one_line(text: str) -> str:
    """``text`` (from the room) on one line, its runs of white space as one space."""
    return _SPACES.sub(" ", _LINE_BREAKS.sub(" ", _shown(text))).strip()


def _name(text: str) -> str:
    """A name (or other piece of room text) set among our words: one line, isolated."""
    return FSI + _one_line(text) + PDI


# -- rows ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    """One entry, ready for either format. ``heading`` and ``notes`` are plain text in
    which names are isolated; ``body`` is the message as written (only :func:`_chars`)."""

    kind: str
    heading: str
    when: datetime | None
    notes: tuple[str, ...] = ()
    body: str | None = None
    role: str = ""


def _when(ts: float, zone: tzinfo | None) -> datetime | None:
    """``ts`` as a local (or ``zone``) time; None for a time no clock can show."""
    if not math.isfinite(ts) or ts <= 0:
        return None
    try:
        return datetime.fromtimestamp(ts, zone).astimezone(zone)
    except (OverflowError, OSError, ValueError):
        return None


_MESSAGE_STATES = {"failed": "not sent", "unconfirmed": "may not have been sent"}
_FILE_STATES = {"failed": "not shared", "cancelled": "cancelled"}


def _answer_notes(entry: Entry) -> list[str]:
    notes = []
    if entry.status == "streaming":
        notes.append("still being written when this was saved")
    elif entry.status in ANSWER_STATUS_WORDS:
        notes.append(ANSWER_STATUS_WORDS[entry.status])
    if entry.error:
        notes.append(_name(entry.error))
    if entry.cut_off and entry.status == "complete":
        notes.append("cut off at the length limit")
    if entry.regenerates:
        notes.append(f"answer asked for again by {_name(entry.asked_by)}")
    elif entry.asked_by:
        notes.append(f"for {_name(entry.asked_by)}")
    if entry.continues:
        notes.append("goes on with the answer above")
    if entry.replaced_by:
        notes.append("regenerated below")
    if entry.continued_by:
        notes.append("continued below")
    return notes


def _reply_words(quote: Quote) -> str:
    """What a reply answers, as a note: "in reply to Sam: “Lunch at noon?”"."""
    if quote.deleted:
        return f"in reply to a deleted message of {_name(quote.author_name)}"
    if not quote.text:
        return f"in reply to {_name(quote.author_name)}"
    return f"in reply to {_name(quote.author_name)}: “{_name(quote.text)}”"


def _row(entry: Entry, zone: tzinfo | None) -> _Row:
    when = _when(entry.ts, zone)
    if entry.kind == "message":
        state = "not sent yet" if entry.pending else _MESSAGE_STATES.get(entry.status, "")
        role = "host" if entry.role == "host" else ""
        heading = _name(entry.author or "someone") + (" (host)" if role else "")
        notes = [state] if state else []
        if entry.deleted:
            return _Row("message", heading, when, ("message deleted",), None, role)
        if entry.reply_to is not None:
            notes.append(_reply_words(entry.reply_to))
        if entry.edited_at is not None:
            notes.append("edited")
        return _Row("message", heading, when, tuple(notes), _chars(entry.text), role)
    if entry.kind == "answer":
        model = f", {_name(entry.model)}" if entry.model else ""
        heading = f"{_name(entry.author or 'assistant')} (AI assistant{model})"
        if entry.deleted:
            return _Row("answer", heading, when, ("deleted by the host",))
        return _Row("answer", heading, when, tuple(_answer_notes(entry)), _chars(entry.text))
    if entry.kind == "file":
        what = file_type_words(entry.file_kind, entry.mime) if entry.file_kind else "file"
        notes = [f"shared {what} {_name(entry.file_name)} ({size_words(entry.size)})"]
        if entry.pending:
            notes.append("still being sent when this was saved")
        elif entry.status in _FILE_STATES:
            notes.append(_FILE_STATES[entry.status])
        if entry.sent_to:
            notes.append(f"sent to the assistant ({_name(entry.sent_to)})")
        elif entry.assistant:
            notes.append("the assistant may read it")
        heading = _name(entry.author or "someone") + (" (host)" if entry.role == "host" else "")
        return _Row("file", heading, when, tuple(notes))
    if entry.kind == "notice":
        heading = {"warning": "Room warning", "error": "Room error"}.get(entry.level, "Room notice")
        return _Row("notice", heading, when, (_name(entry.text),))
    return _Row("event", _name(entry.text), when)


def _rows(entries: Iterable[Entry], zone: tzinfo | None) -> list[_Row]:
    return [_row(entry, zone) for entry in entries]


# -- what both formats say first -------------------------------------------------------


_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")  # fmt: skip


def _day(when: datetime) -> str:
    """ "Tuesday 2 December 2026", in English whatever the locale (``%A`` would follow the
    locale Qt sets, in the middle of English sentences)."""
    return f"{_WEEKDAYS[when.weekday()]} {when.day} {_MONTHS[when.month - 1]} {when.year}"


def _offset(when: datetime) -> str:
    delta = when.utcoffset() or timedelta(0)
    minutes = round(delta.total_seconds() / 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _span(conversation: Conversation, zone: tzinfo | None) -> str:
    start, end = _when(conversation.started, zone), _when(conversation.ended, zone)
    if start is None or end is None:
        return "unknown"
    if start.date() == end.date():
        return f"{_day(start)}, {start:%H:%M} to {end:%H:%M} ({_offset(end)})"
    return f"{_day(start)} {start:%H:%M} to {_day(end)} {end:%H:%M} ({_offset(end)})"


def _people(conversation: Conversation) -> str:
    if not conversation.people:
        return "nobody else was seen"
    return ", ".join(_name(p.name) + (" (host)" if p.host else "") for p in conversation.people)


def _assistant(conversation: Conversation, entries: Sequence[Entry]) -> str:
    """Which assistant, provider and models: those the room announced and those that
    answered (an answer names its own model)."""
    if not conversation.assistants:
        return "none in this room"
    seen = []
    for a in conversation.assistants:
        where = {"cloud": "in the cloud", "local": "on the local network"}.get(a.provider_kind)
        provider = _name(a.provider) + (f", {where}" if where else "")
        seen.append(f"{_name(a.name)} through {provider}, model {_name(a.model)}")
    said = "; later ".join(seen)
    answered = list(dict.fromkeys(e.model for e in entries if e.kind == "answer" and e.model))
    if answered:
        said += "; models that answered: " + ", ".join(_name(m) for m in answered)
    elif not any(e.kind == "answer" for e in entries):
        said += "; it did not answer in this transcript"
    return said


def _facts(conversation: Conversation, entries: Sequence[Entry], zone: tzinfo | None,
           ) -> list[tuple[str, str]]:  # fmt: skip
    facts = [
        ("When", _span(conversation, zone)),
        ("People", _people(conversation)),
        ("Assistant", _assistant(conversation, entries)),
    ]
    if conversation.saved_by:
        facts.append(("Saved by", _name(conversation.saved_by)))
    return facts


def _title(conversation: Conversation) -> str:
    return _one_line(conversation.room) or "Untitled room"


# -- Markdown --------------------------------------------------------------------------

# What Markdown (CommonMark, GitHub's, and common extensions: math, superscripts, attribute
# lists) could read as syntax in the middle of a line: emphasis, code, links and images (all
# need a bracket), HTML and entities, tables, strikethrough. A backslash before any ASCII
# punctuation makes it literal in CommonMark. Nothing we write puts room text at the start of
# a line, where more characters are syntax.
_MARKDOWN_SYNTAX = re.compile(r"([\\`*_{}\[\]<>#&|~$^])")
_BACKTICK_RUN = re.compile(r"`+")


def _md(text: str) -> str:
    """One line of our words and the room's, with nothing in it read as Markdown."""
    return _MARKDOWN_SYNTAX.sub(r"\\\1", text)


def _md_time(when: datetime | None) -> str:
    return f"{when:%H:%M}" if when is not None else "time unknown"


def _fence(text: str) -> str:
    """``text`` in a code fence no line of it can close: longer than its longest run of
    backticks. Shown as written, with direction controls made visible (:func:`_shown`)."""
    body = _shown(text)
    longest = max((len(run) for run in _BACKTICK_RUN.findall(body)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{body}\n{fence}"


def transcript_markdown(
    entries: Sequence[Entry], conversation: Conversation, *, zone: tzinfo | None = None
) -> str:
    """The transcript as Markdown (see the module docstring). ``zone`` is for tests: times
    are local otherwise."""
    out = [ONLY_COPY, OTHER_COPIES, "", f"# {_md(_title(conversation))}", ""]
    out += [f"- {name}: {_md(value)}" for name, value in _facts(conversation, entries, zone)]
    out += [f"- {_md(FILES_NOTE)}", "", "---"]
    day = ""
    for row in _rows(entries, zone):
        if row.when is not None and _day(row.when) != day:
            day = _day(row.when)
            out += ["", f"## {day}"]
        notes = "".join(f" · {_md(note)}" for note in row.notes)
        time = _md_time(row.when)
        if row.kind == "event":
            out += ["", f"*{_md(row.heading)} · {time}*"]
        elif row.kind == "notice":
            out += ["", f"**{_md(row.heading)}** · {time}{notes}"]
        else:
            out += ["", f"**{_md(row.heading)}** · {time}{notes}"]
            if row.body:
                out += ["", _fence(row.body)]
    return "\n".join(out) + "\n"


# -- HTML ------------------------------------------------------------------------------

_STYLE = """\
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;line-height:1.45;color:#1f2328;
background:#fff;max-width:48rem;margin:2rem auto;padding:0 1rem}
.only-copy{font-weight:600;border:1px solid #d0d7de;border-radius:6px;padding:.6rem .8rem;
background:#fff8c5}
.other-copies{color:#57606a}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}
dl.facts dt{font-weight:600}dl.facts dd{margin:0}
h2.day{font-size:1rem;color:#57606a;border-bottom:1px solid #d0d7de;margin-top:2rem}
article{margin:.8rem 0;padding:.5rem .8rem;border-radius:8px;background:#f6f8fa}
article.host{background:#ddf4ff}article.answer{background:#e6f6ef}
article.notice{background:#fff8c5}
p.event{color:#57606a;font-size:.9rem;text-align:center;margin:.4rem 0}
.meta{color:#57606a;font-size:.9rem}.who{font-weight:600;color:#1f2328}
.text{white-space:pre-wrap;overflow-wrap:anywhere;margin:.3rem 0 0}
.href{color:#57606a;font-size:.85rem;overflow-wrap:anywhere}
pre{white-space:pre-wrap;overflow-wrap:anywhere}
"""


def _h(text: str) -> str:
    return html.escape(text, quote=True)


def _plain(text: str) -> str:
    """The default :data:`RenderText`: the message as written, escaped (its line breaks and
    spaces kept by the page's style)."""
    return f'<p class="text">{_h(_shown(text))}</p>'


def _time(when: datetime | None) -> str:
    if when is None:
        return '<span class="time">time unknown</span>'
    return f'<time datetime="{when.isoformat(timespec="seconds")}">{when:%H:%M}</time>'


def transcript_html(
    entries: Sequence[Entry], conversation: Conversation, *,
    render_text: RenderText | None = None, zone: tzinfo | None = None,
) -> str:  # fmt: skip
    """The transcript as one HTML page that loads nothing (see the module docstring).

    Messages and answers are escaped text as written, or ``render_text``'s HTML of them
    (see :data:`RenderText`). ``zone`` is for tests: times are local otherwise.
    """
    render = render_text or _plain
    title = _title(conversation)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">',
        '<meta name="referrer" content="no-referrer">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_h(title)} · transcript</title>",
        f"<style>\n{_STYLE}</style>",
        "</head>",
        "<body>",
        f'<p class="only-copy">{_h(ONLY_COPY)}</p>',
        f'<p class="other-copies">{_h(OTHER_COPIES)}</p>',
        f'<h1 dir="auto">{_h(title)}</h1>',
        '<dl class="facts">',
    ]
    for name, value in _facts(conversation, entries, zone):
        out.append(f"<dt>{_h(name)}</dt><dd>{_h(value)}</dd>")
    out += [f"<dt>Files</dt><dd>{_h(FILES_NOTE)}</dd>", "</dl>", "<main>"]
    day = ""
    for row in _rows(entries, zone):
        if row.when is not None and _day(row.when) != day:
            day = _day(row.when)
            out.append(f'<h2 class="day">{_h(day)}</h2>')
        notes = "".join(f" · {_h(note)}" for note in row.notes)
        if row.kind == "event":
            out.append(f'<p class="event">{_h(row.heading)} · {_time(row.when)}</p>')
            continue
        classes = " ".join(c for c in (row.kind, row.role) if c)
        out.append(
            f'<article class="{classes}"><p class="meta"><span class="who">{_h(row.heading)}'
            f"</span> · {_time(row.when)}{notes}</p>"
        )
        if row.body:
            out.append(f'<div class="body" dir="auto">{render(row.body)}</div>')
        out.append("</article>")
    out += ["</main>", "</body>", "</html>"]
    return "\n".join(out) + "\n"
