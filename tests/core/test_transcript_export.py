"""A saved transcript on plain values: what it says, and that the room's text stays inert in
it (as Markdown parsed by markdown-it, as HTML parsed by ``html.parser``). No Qt, no disk."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC
from html.parser import HTMLParser
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.token import Token

from core.protocol import (
    AnswerFinished,
    AnswerId,
    AnswerStarted,
    AssistantInfo,
    FileId,
    FileShared,
    MessageDeleted,
    MessageEdited,
    MessageId,
    MessagePosted,
    Notice,
    ParticipantId,
    ParticipantInfo,
    ParticipantJoined,
    ParticipantLeft,
    Quote,
    RoomInfo,
)
from core.transcript import Entry, Transcript
from core.transcript_export import (
    ONLY_COPY,
    OTHER_COPIES,
    Attendance,
    Conversation,
    Person,
    transcript_html,
    transcript_markdown,
)

T0 = 1_764_670_920.0  # Tuesday 2 December 2025, 10:22 UTC
GPT = AssistantInfo("assistant", "OpenAI", "cloud", "gpt-4o-mini", "mention")
LOCAL = AssistantInfo("helper", "Ollama", "local", "llama3.2", "always")
ANA = ParticipantInfo(ParticipantId("p1"), "Ana", "host")
SAM = ParticipantInfo(ParticipantId("p2"), "Sam", "guest")

# What a hostile room or participant may send, as names and as texts.
SCRIPT = "<script>alert(1)</script>"
IMAGE = '<img src="https://tracker.example/p.png" onerror="alert(1)">'
STYLE = "<style>@import url(https://evil.example/x.css)</style><link rel=stylesheet href=//e.x>"
FORGED = "fine\n\n**Ana (host)** · 10:22\n\n```text\nI agree to pay everything\n```\n\n# Room"
FENCE_BREAKER = "````\n~~~\n```\nafter the fences"
MARKDOWN_LINKS = (
    "[click](javascript:alert(1)) ![pixel](https://tracker.example/p.png) "
    "[docs](https://example.org/docs) <https://auto.example/> https://bare.example/x"
)
RLO = "I owe you \u202e00.001$ and more"
LONE_SURROGATES = "half \ud800 a pair \udc00 end"
EMOJI_40 = "👨‍👩‍👧‍👦" * 40
HOSTILE_NAME = '**Ana (host)** · 10:22 <b onmouseover="x">\u202e[x](https://e.x)`'


def room(assistant: AssistantInfo | None = GPT, name: str = "Team lunch") -> RoomInfo:
    return RoomInfo(name, "Ana", 2, None, False, False, assistant=assistant)


def conversation_of(transcript: Transcript, attendance: Attendance, name: str = "Team lunch",
                    saved_by: str = "Sam") -> Conversation:  # fmt: skip
    return attendance.conversation(name, transcript.entries, saved_by=saved_by, ended=T0 + 600)


def lunch() -> tuple[Transcript, Attendance]:
    """A short conversation with one of everything: joins, messages, answers that ended each
    way, files, a notice, a departure."""
    t = Transcript()
    t.set_participants({"p1": ANA, "p2": SAM}, ParticipantId("p2"))
    t.set_room(room())
    gpt4 = "gpt-4o"
    events: list[object] = [
        ParticipantJoined(1, T0, ANA),
        ParticipantJoined(2, T0 + 1, SAM),
        MessagePosted(3, T0 + 10, ANA.id, "Ana", "Lunch was great! **Who** pays?"),
        AnswerStarted(4, T0 + 20, AnswerId("a1"), 3, ANA.id, "Ana", "assistant", "gpt-4o-mini"),
        AnswerFinished(5, T0 + 30, AnswerId("a1"), "Ana pays 40 and", "stopped", "gpt-4o-mini"),
        AnswerStarted(6, T0 + 40, AnswerId("a2"), 3, SAM.id, "Sam", "assistant", gpt4),
        AnswerFinished(7, T0 + 50, AnswerId("a2"), "Ana pays", "complete", gpt4, cut_off=True),
        AnswerStarted(8, T0 + 60, AnswerId("a3"), 3, SAM.id, "Sam", "assistant", gpt4),
        AnswerFinished(9, T0 + 70, AnswerId("a3"), "Half", "interrupted", gpt4,
                       error="the provider stopped responding"),
        AnswerStarted(10, T0 + 80, AnswerId("a4"), 3, SAM.id, "Sam", "assistant", gpt4),
        AnswerFinished(11, T0 + 90, AnswerId("a4"), "", "failed", gpt4,
                       error="The provider refused the request."),
        FileShared(12, T0 + 100, FileId("f1"), SAM.id, "Sam", "receipt.pdf", 1_234_567, "0" * 64,
                   "application/pdf", "pdf", True, MessageId("c1")),
        Notice(13, T0 + 110, "warning", "mode", "The assistant now answers every message."),
        ParticipantLeft(14, T0 + 120, SAM.id, "Sam", "left"),
    ]  # fmt: skip
    for event in events:
        t.apply(event)  # type: ignore[arg-type]  # each is a ClientEvent
    attendance = Attendance()
    attendance.saw([ANA, SAM], room())
    return t, attendance


# -- what it says ------------------------------------------------------------------------


def test_both_formats_open_with_the_only_copy_line() -> None:
    t, attendance = lunch()
    conversation = conversation_of(t, attendance)
    markdown = transcript_markdown(t.entries, conversation, zone=UTC)
    assert markdown.splitlines()[0] == ONLY_COPY
    assert "only copy" in ONLY_COPY and "keeps none" in ONLY_COPY
    page = Inspector.of(transcript_html(t.entries, conversation, zone=UTC))
    assert page.texts[0] == "Team lunch · transcript"  # the <title>
    assert page.body_texts[0] == ONLY_COPY  # the first thing the page shows


def test_the_header_names_the_room_time_people_provider_and_models() -> None:
    t, attendance = lunch()
    markdown = plain(transcript_markdown(t.entries, conversation_of(t, attendance), zone=UTC))
    assert "# Team lunch" in markdown
    assert "- When: Tuesday 2 December 2025, 10:22 to 10:32 (UTC+00:00)" in markdown
    assert "- People: Ana (host), Sam" in markdown
    assert "- Assistant: assistant through OpenAI, in the cloud, model gpt-4o-mini" in markdown
    assert "models that answered: gpt-4o-mini, gpt-4o" in markdown
    assert "- Saved by: Sam" in markdown
    assert "their contents are not in this transcript" in markdown


def test_rows_carry_authors_times_models_and_how_answers_ended() -> None:
    t, attendance = lunch()
    markdown = plain(transcript_markdown(t.entries, conversation_of(t, attendance), zone=UTC))
    lines = markdown.splitlines()
    assert "## Tuesday 2 December 2025" in lines
    assert "*Sam joined · 10:22*" in lines
    assert "**Ana (host)** · 10:22" in lines
    assert "**assistant (AI assistant, gpt-4o-mini)** · 10:22 · stopped · for Ana" in lines
    assert (
        "**assistant (AI assistant, gpt-4o)** · 10:22 · cut off at the length limit · for Sam"
    ) in lines
    assert (
        "**assistant (AI assistant, gpt-4o)** · 10:23 · cut off · the provider stopped responding"
        " · for Sam"
    ) in lines
    assert (
        "**assistant (AI assistant, gpt-4o)** · 10:23 · no answer · The provider refused the "
        "request. · for Sam"
    ) in lines
    assert "**Room warning** · 10:23 · The assistant now answers every message." in lines
    assert "*Sam left · 10:24*" in lines
    # The message is there as written, Markdown and all.
    assert "```text\nLunch was great! **Who** pays?\n```" in markdown


def test_replies_edits_and_deletions_are_saved_as_people_saw_them() -> None:
    t, attendance = lunch()
    quote = Quote(3, "message", ANA.id, "Ana", "Lunch was great! **Who** pays?")
    t.apply(MessagePosted(15, T0 + 130, SAM.id, "Sam", "Me, gladly", reply_to=quote))
    t.apply(MessagePosted(16, T0 + 140, SAM.id, "Sam", "my PIN is 4711"))
    t.apply(MessageEdited(17, T0 + 150, 15, SAM.id, "Sam", "Me, happily", "Me, gladly"))
    t.apply(MessageDeleted(18, T0 + 160, 16, ANA.id, "Ana"))
    markdown = plain(transcript_markdown(t.entries, conversation_of(t, attendance), zone=UTC))
    lines = markdown.splitlines()
    assert "**Sam** · 10:24 · in reply to Ana: “Lunch was great! **Who** pays?” · edited" in lines
    assert "```text\nMe, happily\n```" in markdown
    assert "**Sam** · 10:24 · message deleted" in lines
    assert "4711" not in markdown and "gladly" not in markdown


def test_files_are_listed_by_name_size_and_where_they_went_never_by_content() -> None:
    t, attendance = lunch()
    t.apply(AnswerStarted(15, T0 + 130, AnswerId("a5"), 3, SAM.id, "Sam", "assistant",
                          "gpt-4o", files=(FileId("f1"),)))  # fmt: skip
    conversation = conversation_of(t, attendance)
    markdown = plain(transcript_markdown(t.entries, conversation, zone=UTC))
    assert (
        "**Sam** · 10:23 · shared PDF document receipt.pdf (1.2 MB) · sent to the assistant "
        "(OpenAI / gpt-4o)"
    ) in markdown.splitlines()
    file_row = next(e for e in t.entries if e.kind == "file")
    assert file_row.text == "receipt.pdf"  # a row holds no contents: nothing else to leak
    page = Inspector.of(transcript_html(t.entries, conversation, zone=UTC))
    assert any("receipt.pdf (1.2 MB)" in text for text in page.plain_body)


def test_people_are_everyone_seen_once_each_with_the_host_marked() -> None:
    attendance = Attendance()
    attendance.saw([ANA], room())
    attendance.saw([ANA, SAM], room())
    attendance.saw([ANA, ParticipantInfo(ParticipantId("p9"), "Sam", "guest")], room())  # rejoined
    # Someone whose messages came with the history, before this app joined:
    early = Entry(key="m", kind="message", text="hi", ts=T0, author="Lee", role="guest")
    conversation = attendance.conversation("R", [early], saved_by="Sam", ended=T0 + 5)
    assert conversation.people == (Person("Ana", True), Person("Sam"), Person("Lee"))
    assert (conversation.started, conversation.ended) == (T0, T0 + 5)


def test_every_assistant_the_room_had_is_named() -> None:
    attendance = Attendance()
    attendance.saw([ANA], room(GPT))
    attendance.saw([ANA], room(GPT))
    attendance.saw([ANA], room(LOCAL))
    conversation = attendance.conversation("R", [], saved_by="Ana", ended=T0)
    assert conversation.assistants == (GPT, LOCAL)
    markdown = plain(transcript_markdown([], conversation, zone=UTC))
    assert (
        "- Assistant: assistant through OpenAI, in the cloud, model gpt-4o-mini; later helper "
        "through Ollama, on the local network, model llama3.2; it did not answer in this "
        "transcript"
    ) in markdown
    alone = Attendance().conversation("R", [], saved_by="Ana", ended=T0)
    assert "- Assistant: none in this room" in plain(transcript_markdown([], alone, zone=UTC))


def test_a_time_no_clock_can_show_does_not_break_the_file() -> None:
    rows = [
        Entry(key=str(i), kind="message", text="x", ts=ts, author="Sam")
        for i, ts in enumerate([float("nan"), float("inf"), 1e300, -5.0, 0.0])
    ]
    conversation = Conversation(room="R", started=float("nan"), ended=1e300)
    markdown = transcript_markdown(rows, conversation, zone=UTC)
    assert markdown.count("· time unknown") == 5 and "- When: unknown" in markdown
    assert Inspector.of(transcript_html(rows, conversation, zone=UTC)).problems == []


# -- hostile text stays inert --------------------------------------------------------------

HOSTILE_TEXTS = [SCRIPT, IMAGE, STYLE, FORGED, FENCE_BREAKER, MARKDOWN_LINKS, RLO,
                 LONE_SURROGATES, EMOJI_40, "&lt;b&gt; &amp; &#x202e;"]  # fmt: skip
HOSTILE_NAMES = [SCRIPT, HOSTILE_NAME, EMOJI_40, "Sam\ud800", "\u2069\u2069Mallory\u2067"]


def hostile() -> tuple[list[Entry], Conversation]:
    """Rows and facts in which every piece of room text is hostile."""
    rows: list[Entry] = []
    for i, (name, text) in enumerate(zip(HOSTILE_NAMES * 2, HOSTILE_TEXTS, strict=False)):
        role = "host" if i == 0 else "guest"
        rows.append(Entry(key=f"m{i}", kind="message", text=text, ts=T0 + i, author=name,
                          role=role))  # fmt: skip
    rows += [
        Entry(key="a", kind="answer", text=SCRIPT + FORGED, ts=T0 + 20, author=HOSTILE_NAME,
              role="assistant", status="failed", model=IMAGE, error=FORGED, asked_by=SCRIPT),
        Entry(key="f", kind="file", text="x", ts=T0 + 21, author=SCRIPT, file_name=IMAGE,
              size=5, file_kind="image", mime='image/png"><script>', sent_to=STYLE),
        Entry(key="n", kind="notice", text=FORGED + SCRIPT, ts=T0 + 22, level="error"),
        Entry(key="e", kind="event", text=f"{HOSTILE_NAME} joined", ts=T0 + 23),
    ]  # fmt: skip
    evil = AssistantInfo(SCRIPT, IMAGE, "cloud", STYLE + RLO, "mention")
    attendance = Attendance()
    attendance.saw([ParticipantInfo(ParticipantId(f"p{i}"), n, "guest")
                    for i, n in enumerate(HOSTILE_NAMES)], room(evil))  # fmt: skip
    conversation = attendance.conversation(FORGED + SCRIPT, rows, saved_by=HOSTILE_NAME,
                                           ended=T0 + 30)  # fmt: skip
    return rows, conversation


def test_hostile_html_loads_nothing_runs_nothing_and_shows_the_text() -> None:
    rows, conversation = hostile()
    page = transcript_html(rows, conversation, zone=UTC)
    found = Inspector.of(page)
    assert found.problems == []
    assert found.elements <= SKELETON  # only the page's own elements
    assert "<script" not in page.lower() and "<img" not in page.lower() and "<a " not in page
    shown = "\n".join(found.plain_body)
    for text in (SCRIPT, IMAGE, "**Ana (host)** · 10:22", "I agree to pay everything", EMOJI_40):
        assert text in shown  # visible as written, never as markup
    assert "&lt;b&gt; &amp; &#x202e;" in shown  # entities as typed
    assert_encodable_and_balanced(page)


def test_hostile_markdown_cannot_forge_a_header_or_hold_html() -> None:
    rows, conversation = hostile()
    markdown = transcript_markdown(rows, conversation, zone=UTC)
    tokens = list(walk(PARSER.parse(markdown)))
    kinds = {token.type for token in tokens}
    assert not kinds & {"html_block", "html_inline", "image", "link_open"}
    fences = [t for t in tokens if t.type == "fence"]
    with_text = [e for e in rows if e.kind in ("message", "answer") and e.text]
    assert len(fences) == len(with_text)  # one each: none ended early, none forged
    for fence, entry in zip(fences, with_text, strict=True):
        assert fence.info == "text"
        assert fence.content == as_kept(entry.text) + "\n"  # all of it, as written
    # Each row's header is one paragraph of our own making: bold name, then our words.
    headers = [
        inline for inline, prev in zip(tokens[1:], tokens, strict=False)
        if prev.type == "paragraph_open" and inline.type == "inline"
        and [c.type for c in inline.children or [] if c.content or c.nesting][:1] == ["strong_open"]
    ]  # fmt: skip
    assert len(headers) == len(rows) - 1  # all but the "joined" line, which is in italics
    # The forged header's words are in its message's fence and, escaped, in the notice and
    # the answer's error: never where a header starts.
    assert not [h for h in headers if h.content.startswith("**Ana (host)**")]
    assert (
        tokens[0].type == "paragraph_open" and tokens[1].content == f"{ONLY_COPY}\n{OTHER_COPIES}"
    )
    assert_encodable_and_balanced(markdown)


def test_direction_controls_show_as_markers_and_stay_on_their_line() -> None:
    rows = [Entry(key="m", kind="message", text=RLO + "\nnext line \u2067open", ts=T0,
                  author="\u202eevil", role="guest")]  # fmt: skip
    conversation = Conversation(room="R\u202b", people=(Person("\u2066x"),), started=T0, ended=T0)
    for text in (transcript_markdown(rows, conversation, zone=UTC),
                 transcript_html(rows, conversation, zone=UTC)):  # fmt: skip
        assert "\u202e" not in text and "\u202b" not in text
        assert "I owe you ⟨RLO⟩00.001$" in text and "⟨RLO⟩evil" in text
        assert_encodable_and_balanced(text)


def test_lone_surrogates_become_replacement_characters() -> None:
    rows, conversation = hostile()
    for text in (transcript_markdown(rows, conversation), transcript_html(rows, conversation)):
        text.encode("utf-8")  # strict: would raise on a lone surrogate
        assert "half \ufffd a pair \ufffd end" in text and "Sam\ufffd" in text


# -- helpers -----------------------------------------------------------------------------

PARSER = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
SKELETON = frozenset(
    {"html", "head", "meta", "title", "style", "body", "main", "article", "p", "span", "h1",
     "h2", "dl", "dt", "dd", "div", "time"}
)  # fmt: skip
"""The elements the page is made of, without a renderer for messages."""
RENDERED = frozenset(
    {"br", "h3", "h4", "h5", "h6", "ul", "ol", "li", "table", "tr", "td", "th", "pre", "em",
     "strong", "s", "a", "hr"}
)  # fmt: skip
"""What the chat's renderer adds (see ``desktop/markdown.py``)."""
LOADS = frozenset(
    {"src", "srcset", "href", "background", "poster", "data", "action", "formaction", "ping",
     "lowsrc", "dynsrc", "codebase", "manifest", "xlink:href", "srcdoc", "longdesc", "cite"}
)  # fmt: skip
_ISOLATE_OPENERS = "\u2066\u2067\u2068"


def plain(text: str) -> str:
    """``text`` without the direction isolates around names and Markdown's backslashes."""
    return re.sub(r"\\(.)", r"\1", text.replace("\u2068", "").replace("\u2069", ""))


def as_kept(text: str) -> str:
    """A message's text as a transcript keeps it: lone surrogates replaced, embeddings and
    overrides as markers (the texts here open no isolates)."""
    text = re.sub("[\ud800-\udfff]", "\ufffd", text)
    return text.replace("\u202e", "⟨RLO⟩")


def walk(tokens: Iterable[Token]) -> Iterable[Token]:
    for token in tokens:
        yield token
        yield from walk(token.children or [])


def assert_encodable_and_balanced(text: str) -> None:
    """``text`` encodes as UTF-8, holds no embedding or override, and every line closes the
    isolates it opens and closes none it did not."""
    text.encode("utf-8")
    assert not re.search("[\u202a-\u202e]", text)
    for line in text.splitlines():
        depth = 0
        for ch in line:
            if ch in _ISOLATE_OPENERS:
                depth += 1
            elif ch == "\u2069":
                depth -= 1
                assert depth >= 0, repr(line)
        assert depth == 0, repr(line)


class Inspector(HTMLParser):
    """What a page holds: its elements, any way it could load or run something (as
    :attr:`problems`), and its text."""

    def __init__(self, allowed: Sequence[str] | frozenset[str] = SKELETON | RENDERED) -> None:
        super().__init__(convert_charrefs=True)
        self.allowed = frozenset(allowed)
        self.problems: list[str] = []
        self.elements: set[str] = set()
        self.texts: list[str] = []  # every piece of text, the title's included
        self.body_texts: list[str] = []
        self.plain_body: list[str] = []  # the body's text, isolates removed
        self.csp: list[str] = []
        self._open: list[str] = []

    @classmethod
    def of(cls, page: str, allowed: frozenset[str] = SKELETON | RENDERED) -> Inspector:
        inspector = cls(allowed)
        inspector.feed(page)
        inspector.close()
        if inspector.csp != ["default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
                             "form-action 'none'"]:  # fmt: skip
            inspector.problems.append(f"content security policy: {inspector.csp}")
        return inspector

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.add(tag)
        if tag not in self.allowed:
            self.problems.append(f"element <{tag}>")
        values = dict(attrs)
        for name, value in attrs:
            low = (value or "").lower()
            if name.startswith("on"):
                self.problems.append(f"handler {name} on <{tag}>")
            if name in LOADS and not (tag == "a" and name == "href"):
                self.problems.append(f"{name} on <{tag}>")
            if any(bad in low for bad in ("url(", "javascript:", "expression(", "@import")):
                self.problems.append(f"{name}={value!r} on <{tag}>")
        if tag == "a":
            href = values.get("href") or ""
            if urlsplit(href).scheme not in ("http", "https") or not urlsplit(href).netloc:
                self.problems.append(f"link to {href!r}")
            if set((values.get("rel") or "").split()) < {"noopener", "noreferrer"}:
                self.problems.append(f"link without noopener noreferrer: {values}")
        if tag == "meta":
            equiv = (values.get("http-equiv") or "").lower()
            if equiv == "content-security-policy":
                self.csp.append(values.get("content") or "")
            elif equiv:
                self.problems.append(f"meta http-equiv={equiv}")
        if tag not in ("meta", "br", "hr"):
            self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._open:
            while self._open.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if "style" in self._open:
            if any(bad in data.lower() for bad in ("url(", "@import", "expression(")):
                self.problems.append("a style sheet that loads something")
            return
        if not data.strip():
            return
        self.texts.append(data.strip())
        if "body" in self._open:
            self.body_texts.append(data.strip())
            self.plain_body.append(plain_html(data))


def plain_html(text: str) -> str:
    return text.replace("\u2068", "").replace("\u2069", "")
