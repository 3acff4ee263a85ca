"""Chat message Markdown to HTML for a Qt ``QTextDocument``.

Safety contract of :func:`render`, whatever the input:

* Raw HTML is never passed through: markdown-it runs with ``html`` off and every character
  taken from the input is escaped (``& < > " ' = (`` included), so tags, attributes and CSS
  written in a message show up as visible text, never as markup.
* Every tag and attribute in the output comes from this module. It never writes ``<img``,
  ``src=``, ``background=`` or ``url(``, and no input can make them appear, so setting the
  result on a document makes Qt load no resource at all. ``![alt](url)`` shows its alt text.
* Only absolute ``http://`` and ``https://`` links keep an ``href``; any other target
  (``javascript:``, ``file:``, ``data:``, ``mailto:``, ``qrc:``, relative, ...) shows its
  link text as plain text.
* HTML entities are shown as typed (``&lt;`` stays ``&lt;``), as in other chat apps.
* Direction controls end with their line: the lines of a paragraph share one bidi paragraph
  in Qt, so each line is followed by whatever closes the embeddings, overrides and isolates
  it left open, and a right-to-left override cannot reorder the next line. Blocks (and each
  row's own document) start afresh anyway.

* Direction controls end with their line (see above), and the embeddings and overrides
  (U+202A to U+202E) are not applied at all: each shows as a faint marker such as ``⟨RLO⟩``,
  so ``I owe you \u202e00.001$`` reads as typed, never as "$100.00". Isolates, which cannot
  reach past their line, and right-to-left scripts work as usual.

Rendering is tuned for chat: single newlines are kept as line breaks, runs of spaces are
kept, a one-line ``1. ...`` is not turned into a list, a lone ``*`` inside a word (``2*3*4``)
is not emphasis, and a bare ``https://...`` or ``http://...`` in the text is a link. Code
fences are highlighted with Pygments using inline styles, the lexer picked only by the
fence's language name, never guessed from the content.

:func:`render` gives a message as one HTML document. :func:`segments` gives it as the chat
view draws it: one :class:`Segment` per top-level block, and the lines of a top-level code
block in chunks of :data:`CODE_CHUNK_LINES`, each laid out on its own. A streaming answer
grows at its end, so :class:`StreamingMarkdown` keeps the segments that can no longer change
and renders only the last block again on each update (in a code block, only its last lines):
what it returns always equals :func:`segments` of the same text, at a cost that does not grow
with the answer.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import regex  # type: ignore[import-untyped]  # (it and Pygments ship no type information)
from markdown_it import MarkdownIt
from markdown_it.rules_inline.state_inline import Delimiter, StateInline
from markdown_it.token import Token
from pygments.lexer import Lexer, RegexLexer  # type: ignore[import-untyped]
from pygments.lexers import get_lexer_by_name  # type: ignore[import-untyped]
from pygments.lexers.c_cpp import CFamilyLexer  # type: ignore[import-untyped]
from pygments.style import StyleMeta  # type: ignore[import-untyped]
from pygments.styles import get_style_by_name  # type: ignore[import-untyped]
from pygments.token import Error, Keyword, Name, Whitespace, _TokenType  # type: ignore[import-untyped]
from pygments.util import ClassNotFound  # type: ignore[import-untyped]

from desktop.network_text import close_bidi

__all__ = [
    "CODE_CHUNK_LINES",
    "DARK_STYLE",
    "LIGHT_STYLE",
    "Segment",
    "StreamingMarkdown",
    "code_background",
    "code_blocks",
    "render",
    "segments",
]

# Pygments styles for code fences, on the code background of each theme below.
LIGHT_STYLE = "default"
DARK_STYLE = "github-dark"


@dataclass(frozen=True, slots=True)
class _Theme:
    style: str  # Pygments style for code fences
    code_bg: str
    code_fg: str
    inline_code_bg: str
    quote_fg: str
    rule: str  # quote bar, table borders, horizontal rules
    link: str


_LIGHT = _Theme(
    style=LIGHT_STYLE,
    code_bg="#f3f3f3",
    code_fg="#1f2328",
    inline_code_bg="#ebebeb",
    quote_fg="#57606a",
    rule="#d0d7de",
    link="#0969da",
)
_DARK = _Theme(
    style=DARK_STYLE,
    code_bg="#161b22",
    code_fg="#e6edf3",
    inline_code_bg="#343942",
    quote_fg="#9da7b3",
    rule="#4a525c",
    link="#58a6ff",
)

# Qt resolves the first installed family; "monospace" is its own generic fallback.
_MONO = "font-family:'Cascadia Mono','Consolas','Menlo','DejaVu Sans Mono','monospace'"
# h1 and h2 at Qt's default sizes (xx-large, x-large) dwarf a chat bubble.
_HEADING_SIZE = {"h1": "x-large", "h2": "large", "h3": "medium", "h4": "medium"}

_ESCAPES = str.maketrans(
    {
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        '"': "&quot;",
        "'": "&#39;",
        "=": "&#61;",
        "(": "&#40;",
    }
)
_MAX_QUOTE_BARS = 3
# Code is highlighted up to the line this many characters in; after it, it is shown plain:
# bounded time in any lexer.
_MAX_HIGHLIGHT = 20_000
CODE_CHUNK_LINES = 24
"""Lines of a top-level code block laid out together: a streaming code block lays out again
only its last chunk."""
_SPACE_RUN = re.compile(r" {2,}")
# One-line messages that CommonMark would turn into a list ("1. Done", "2024. What a year")
# or a quote (">_<", ">.>"): a backslash before the marker keeps them as typed.
_ONE_LINE_LITERAL = re.compile(r"^( {0,3}(?:\d{1,9}(?=[.)](?:[ \t]|$))|(?=>(?![ \t]))))")
_CELL_ALIGN = {f"text-align:{a}": a for a in ("left", "center", "right")}


def _escape(text: str) -> str:
    """Text from the message, safe in HTML text and in double-quoted attributes."""
    return text.translate(_ESCAPES)


_EMBEDDINGS = re.compile("[\u202a-\u202e]")
_EMBEDDING_NAMES = {"\u202a": "LRE", "\u202b": "RLE", "\u202c": "PDF", "\u202d": "LRO",
                    "\u202e": "RLO"}  # fmt: skip
# Faint on either theme: mid grey, on a translucent grey.
_MARKER_CSS = f"{_MONO};font-size:small;color:#8c8c8c;background-color:rgba(140,140,140,0.16)"


def _markers(escaped: str) -> str:
    """Escaped text with each embedding or override control (U+202A to U+202E) replaced by a
    visible marker, so that it shows what was typed instead of reordering it."""
    if not _EMBEDDINGS.search(escaped):
        return escaped
    return _EMBEDDINGS.sub(
        lambda m: f'<span style="{_MARKER_CSS}">⟨{_EMBEDDING_NAMES[m.group()]}⟩</span>', escaped
    )


def _text(text: str) -> str:
    """Escaped text whose runs of spaces survive (Qt collapses them otherwise), with
    direction embeddings and overrides shown as markers."""
    escaped = _escape(text)
    if "  " in escaped:
        escaped = _SPACE_RUN.sub(lambda m: "&nbsp;" * (len(m.group()) - 1) + " ", escaped)
    return _markers(escaped)


def _code_text(text: str) -> str:
    """Escaped code, its direction embeddings and overrides shown as markers."""
    return _markers(_escape(text))


def _emphasis(state: StateInline, silent: bool) -> bool:
    """markdown-it's emphasis rule, except that a lone ``*`` inside a word is literal."""
    marker = state.src[state.pos]
    if silent or marker not in "_*":
        return False
    scanned = state.scanDelims(state.pos, marker == "*")
    can_open, can_close = scanned.can_open, scanned.can_close
    if marker == "*" and can_open and can_close:
        end = state.pos + scanned.length
        before = state.src[state.pos - 1] if state.pos > 0 else " "
        after = state.src[end] if end < state.posMax else " "
        # Inside a word, a lone * (2*3*4, a*b) or any * next to a digit (2**8) is literal;
        # **bold**er still works.
        inside_word = before.isalnum() and after.isalnum()
        if inside_word and (scanned.length == 1 or before.isdigit() or after.isdigit()):
            can_open = can_close = False
    for _ in range(scanned.length):
        token = state.push("text", "", 0)
        token.content = marker
        state.delimiters.append(
            Delimiter(
                marker=ord(marker),
                length=scanned.length,
                token=len(state.tokens) - 1,
                end=-1,
                open=can_open,
                close=can_close,
            )
        )
    state.pos += scanned.length
    return True


class _ChatMarkdown(MarkdownIt):
    def validateLink(self, url: str) -> bool:
        # Parse every link and image, so that a refused one still shows its text:
        # _safe_href decides what stays a link when rendering.
        return True


# What a bare address's scheme follows in the text so far (not part of a longer word).
_BARE_SCHEME = re.compile(r"(?:^|[^\w.+-])(https?)$", re.IGNORECASE)
# What ends a bare address: space, markup brackets, quotes, controls and direction controls.
_BARE_END = re.compile(
    r'[\s<>"`\x00-\x1f\x7f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]'
)
_BARE_TRAILING = ".,;:!?'*_~"  # sentence punctuation after an address is not part of it
_BARE_CLOSERS = {")": "(", "]": "["}


def _bare_address(text: str) -> str:
    """``text`` (an address and what follows it) without trailing punctuation and unmatched
    closing brackets: "(see https://example.org/a_(b))." keeps "https://example.org/a_(b)"."""
    while text:
        last = text[-1]
        if last in _BARE_TRAILING or (
            last in _BARE_CLOSERS and text.count(_BARE_CLOSERS[last]) < text.count(last)
        ):
            text = text[:-1]
        else:
            break
    return text


def _bare_link(state: StateInline, silent: bool) -> bool:
    """A bare ``http://`` or ``https://`` address in the text becomes a link (markdown-it's
    own linkify needs another package). Found at its ``://``, like markdown-it's."""
    pos = state.pos
    if state.linkLevel > 0 or not state.src.startswith("://", pos):
        return False
    match = _BARE_SCHEME.search(state.pending)
    if match is None:
        return False
    scheme = match.group(1)
    end = _BARE_END.search(state.src, pos, state.posMax)
    url = _bare_address(state.src[pos - len(scheme) : end.start() if end else state.posMax])
    if _safe_href(url) is None:
        return False
    if not silent:
        state.pending = state.pending[: -len(scheme)]
        token = state.push("link_open", "a", 1)
        token.attrs = {"href": state.md.normalizeLink(url)}
        token.markup, token.info = "linkify", "auto"
        token = state.push("text", "", 0)
        token.content = url
        token = state.push("link_close", "a", -1)
        token.markup, token.info = "linkify", "auto"
    state.pos += len(url) - len(scheme)
    return True


def _make_parser() -> MarkdownIt:
    md = _ChatMarkdown("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.disable(["html_block", "html_inline", "entity"])
    md.inline.ruler.at("emphasis", _emphasis)
    md.inline.ruler.before("linkify", "bare_link", _bare_link)
    return md


_MD = _make_parser()


def _parse(text: str) -> list[Token]:
    if "\n" not in text.strip():
        text = _ONE_LINE_LITERAL.sub(r"\1\\", text.strip("\n"), count=1)
    return _MD.parse(text)


def _safe_href(href: str) -> str | None:
    """``href`` if it is an absolute http(s) URL, else None."""
    try:
        parts = urlsplit(href)
    except ValueError:
        return None
    if parts.scheme.lower() in ("http", "https") and parts.netloc:
        return href
    return None


# -- code ------------------------------------------------------------------------------


def _lexer(info: str) -> Lexer | None:
    """The lexer named by a fence's info string (``python``, ``{.js} title``), or None."""
    words = info.split(maxsplit=1)
    return _lexer_named(words[0].strip("{}.").lower()) if words else None


@lru_cache(maxsize=64)
def _lexer_named(name: str) -> Lexer | None:
    if not name:
        return None
    try:
        return get_lexer_by_name(name, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


@lru_cache(maxsize=1024)
def _token_css(style_name: str, ttype: _TokenType) -> str:
    spec = _style(style_name).style_for_token(ttype)
    css = []
    if spec["color"]:
        css.append(f"color:#{spec['color']}")
    if spec["bold"]:
        css.append("font-weight:bold")
    if spec["italic"]:
        css.append("font-style:italic")
    if spec["underline"]:
        css.append("text-decoration:underline")
    return ";".join(css)


@lru_cache(maxsize=4)
def _style(name: str) -> StyleMeta:
    return get_style_by_name(name)


LexToken = tuple[int, _TokenType, str]  # where it starts in the text, its type, its text


def _resumable(lexer: Lexer) -> bool:
    """Whether ``lexer`` is a plain :class:`RegexLexer` (or one of the C family, which only
    renames some of its tokens), whose state at any point is its state stack, so that
    :func:`_regex_tokens` can start it again from a line it reached before."""
    lexing = type(lexer).get_tokens_unprocessed
    return lexing in (RegexLexer.get_tokens_unprocessed, CFamilyLexer.get_tokens_unprocessed)


def _c_family_type(lexer: RegexLexer, ttype: _TokenType, value: str) -> _TokenType:
    """A token's type as the C family's lexers give it: some names are types."""
    if ttype is Name and (
        (lexer.stdlibhighlighting and value in lexer.stdlib_types)
        or (lexer.c99highlighting and value in lexer.c99_types)
        or (lexer.c11highlighting and value in lexer.c11_atomic_types)
        or (lexer.platformhighlighting and value in lexer.linux_types)
    ):
        return Keyword.Type
    return ttype


class _Reach:
    """While a growing text is lexed: the first place where the lexer's choice might change
    when more text comes, because a rule it tried there ran into the end of the text (a rule
    for a docstring that ends with ``\"\"\"`` fails until the ``\"\"\"`` is there)."""

    def __init__(self, lexer: RegexLexer, end: int) -> None:
        # (not type(): Pygments is untyped here, and mypy takes type() of an untyped
        # value for something the cache cannot hash)
        self.partials = _partial_rules(lexer.__class__)
        self.end = end  # the length of the text
        self.first = end  # no such place yet


PartialMatch = Callable[..., object]
_NOT_YET: Any = object()  # a rule's partial match not compiled yet


@lru_cache(maxsize=64)
def _partial_rules(lexer_class: type[RegexLexer]) -> dict[str, list[PartialMatch | None]]:
    """For each state of a lexer, a place for each rule's partial match, compiled when first
    needed (:func:`_partial_match`)."""
    return {state: [_NOT_YET] * len(rules) for state, rules in lexer_class._tokens.items()}


def _partial_match(rexmatch: Callable[..., object]) -> PartialMatch | None:
    """The ``regex`` module's match for the pattern of a Pygments rule, looking for partial
    matches (``re`` cannot say whether a failed match reached the end of the text); None
    where ``regex`` cannot compile the pattern."""
    pattern = getattr(rexmatch, "__self__", None)
    if not isinstance(pattern, re.Pattern):
        return None
    try:
        return functools.partial(regex.compile(pattern.pattern, pattern.flags).match,
                                 partial=True)  # fmt: skip
    except regex.error:
        return None


def _regex_tokens(
    lexer: RegexLexer, text: str, pos: int, stack: tuple[str, ...],
    checkpoints: list[tuple[int, tuple[str, ...]]], reach: _Reach | None = None,
) -> Iterator[LexToken]:  # fmt: skip
    """The tokens of ``text`` from ``pos`` on, lexed as ``RegexLexer.get_tokens_unprocessed``
    does, starting in state ``stack``; each line start it reaches is appended to
    ``checkpoints`` with the state it reached it in, and ``reach`` (if given) learns where
    more text could change the lexing.

    Unlike Pygments' own loop, it starts at ``pos`` in the whole text (so that look-behinds and
    ``^`` see what is before), and it tells its state, so that a growing code block can be
    lexed again from its last lines only.
    """
    tokendefs = lexer._tokens  # the lexer's compiled rules
    retype = _c_family_type if isinstance(lexer, CFamilyLexer) else _same_type
    statestack = list(stack)
    statetokens = tokendefs[statestack[-1]]
    seen = pos - 1
    while True:
        if pos > seen and (pos == 0 or text[pos - 1] == "\n"):
            checkpoints.append((pos, tuple(statestack)))
            seen = pos
        for n, (rexmatch, action, new_state) in enumerate(statetokens):
            m = rexmatch(text, pos)
            if m is None:
                if reach is not None and pos < reach.first:
                    partials = reach.partials[statestack[-1]]
                    if partials[n] is _NOT_YET:
                        partials[n] = _partial_match(rexmatch)
                    partial = partials[n]
                    if partial is None or partial(text, pos) is not None:
                        reach.first = pos  # this rule may match once the text is longer
                continue
            if reach is not None and m.end() >= reach.end:
                reach.first = min(reach.first, pos)  # a longer text may make it longer
            if action is not None:
                if type(action) is _TokenType:
                    yield pos, retype(lexer, action, m.group()), m.group()
                else:
                    for found, ttype, value in action(lexer, m):
                        yield found, retype(lexer, ttype, value), value
            pos = m.end()
            if new_state is not None:
                _transition(statestack, new_state)
                statetokens = tokendefs[statestack[-1]]
            break
        else:
            if pos >= len(text):
                return
            if text[pos] == "\n":
                statestack = ["root"]
                statetokens = tokendefs["root"]
                yield pos, Whitespace, "\n"
            else:
                yield pos, Error, text[pos]
            pos += 1


def _same_type(_lexer: RegexLexer, ttype: _TokenType, _value: str) -> _TokenType:
    return ttype


def _transition(statestack: list[str], new_state: object) -> None:
    """Apply a Pygments state transition (as ``RegexLexer`` does) to ``statestack``."""
    if isinstance(new_state, tuple):
        for state in new_state:
            if state == "#pop":
                if len(statestack) > 1:
                    statestack.pop()
            elif state == "#push":
                statestack.append(statestack[-1])
            else:
                statestack.append(state)
    elif isinstance(new_state, int):
        if abs(new_state) >= len(statestack):
            del statestack[1:]
        else:
            del statestack[new_state:]
    elif new_state == "#push":
        statestack.append(statestack[-1])
    else:
        raise ValueError(f"wrong state transition: {new_state!r}")


def _highlight_end(code: str) -> int:
    """How much of ``code`` is highlighted: all of it, or the lines that start within the
    first :data:`_MAX_HIGHLIGHT` characters."""
    if len(code) <= _MAX_HIGHLIGHT:
        return len(code)
    return code.rfind("\n", 0, _MAX_HIGHLIGHT) + 1


class _LineBuilder:
    """Turns tokens into one HTML string per line: escaped text in inline-styled spans, runs
    of a style merged, no span across a line break."""

    def __init__(self, style_name: str) -> None:
        self.style_name = style_name
        self.lines: list[str] = []
        self._pieces: list[tuple[str, str]] = []

    def add(self, ttype: _TokenType, value: str) -> None:
        css = "" if value.isspace() else _token_css(self.style_name, ttype)
        for i, part in enumerate(value.split("\n")):
            if i:
                self._end_line()
            if not part:
                continue
            if self._pieces and self._pieces[-1][0] == css:
                self._pieces[-1] = (css, self._pieces[-1][1] + part)
            else:
                self._pieces.append((css, part))

    def finish(self) -> list[str]:
        """The lines, the last one (after the last line break, maybe empty) included."""
        self._end_line()
        return self.lines

    def _end_line(self) -> None:
        self.lines.append("".join(
            f'<span style="{css}">{_code_text(part)}</span>' if css else _code_text(part)
            for css, part in self._pieces
        ))  # fmt: skip
        self._pieces = []


def _code_lines(code: str, info: str, style_name: str) -> list[str]:
    """The code as HTML, one string per line (``code.split("\\n")``)."""
    lexer = _lexer(info)
    if lexer is None:
        return [_code_text(line) for line in code.split("\n")]
    end = _highlight_end(code)
    builder = _LineBuilder(style_name)
    if _resumable(lexer):
        assert isinstance(lexer, RegexLexer)
        tokens: Iterator[LexToken] = _regex_tokens(lexer, code[:end], 0, ("root",), [])
    else:
        tokens = lexer.get_tokens_unprocessed(code[:end])
    for _pos, ttype, value in tokens:
        builder.add(ttype, value)
    lines = builder.finish()
    if end < len(code):  # the highlighted part ends with a line break: the rest is plain
        lines[-1:] = [_code_text(line) for line in code[end:].split("\n")]
    return lines


def _highlight(code: str, info: str, style_name: str) -> str:
    """The code as HTML: escaped text in inline-styled spans, line breaks kept."""
    return "\n".join(_code_lines(code, info, style_name))


class _GrowingCode:
    """The HTML lines of a code block that grows at its end, as :func:`_code_lines` gives
    them, lexing again only from a few lines before the end each time.

    The lines before the checkpoint are kept: the lexer reached that line start in a known
    state, before any place where a longer text could change what it did (see
    :class:`_Reach`), and :data:`SETTLE_LINES` lines or more before the end. Lexers other
    than plain ``RegexLexer`` ones and the C family's (JSON, YAML, Ruby, PHP, ...) cannot be
    started again in the middle: their code is lexed whole each time.
    """

    SETTLE_LINES = 2

    def __init__(self, info: str, style_name: str) -> None:
        self.info, self.style_name = info, style_name
        self.lexer = _lexer(info)
        self.code = ""
        self.done: list[str] = []  # the HTML of the lines before the checkpoint
        self.pos = 0  # the checkpoint: where those lines end in the code
        self.stack: tuple[str, ...] = ("root",)

    def lines(self, code: str) -> list[str]:
        """All lines of ``code`` (which must start with the code given before)."""
        if self.lexer is None or not _resumable(self.lexer):
            self.code = code
            return _code_lines(code, self.info, self.style_name)
        end = _highlight_end(code)
        if not code.startswith(self.code[: self.pos]) or end < self.pos:
            self.done, self.pos, self.stack = [], 0, ("root",)
        self.code = code
        assert isinstance(self.lexer, RegexLexer)
        checkpoints: list[tuple[int, tuple[str, ...]]] = []
        builder = _LineBuilder(self.style_name)
        text = code[:end]
        # Once the code is longer than what is highlighted, its highlighted part is final.
        reach = _Reach(self.lexer, len(text)) if end == len(code) else None
        for _pos, ttype, value in _regex_tokens(
            self.lexer, text, self.pos, self.stack, checkpoints, reach
        ):
            builder.add(ttype, value)
        fresh = builder.finish()
        lines = self.done + fresh
        if end < len(code):
            lines[-1:] = [_code_text(line) for line in code[end:].split("\n")]
        self._advance(text, checkpoints, fresh, reach.first if reach else len(text))
        return lines

    def final_lines(self, count: int) -> int:
        """How many of the ``count`` lines last returned can no longer change."""
        if self.lexer is None or _highlight_end(self.code) < len(self.code):
            return count - 1  # plain: only the last line can still grow
        return len(self.done) if _resumable(self.lexer) else 0

    def _advance(self, text: str, checkpoints: list[tuple[int, tuple[str, ...]]],
                 fresh: list[str], reach: int) -> None:  # fmt: skip
        """Move the checkpoint to the last line start that more text cannot change."""
        limit = reach
        for _ in range(self.SETTLE_LINES):
            limit = text.rfind("\n", 0, limit)
            if limit < 0:
                return
        best = None
        for pos, stack in checkpoints:
            if self.pos < pos <= limit + 1:
                best = (pos, stack)
        if best is not None:
            pos, stack = best
            self.done.extend(fresh[: text.count("\n", self.pos, pos)])
            self.pos, self.stack = pos, stack


# -- rendering -------------------------------------------------------------------------


class _Renderer:
    def __init__(self, theme: _Theme) -> None:
        self.theme = theme
        self.out: list[str] = []
        self.links: list[bool] = []  # for each open link: was an <a> written?
        self.lists = 0
        self.quotes = 0  # open quotes; only the first _MAX_QUOTE_BARS get a bar (a table)

    def blocks(self, tokens: Sequence[Token]) -> str:
        out, theme = self.out, self.theme
        for token in tokens:
            kind, tag = token.type, token.tag
            if kind == "inline":
                start = len(out)
                self.inline(token.children or [])
                lines = "".join(out[start:]).split("<br>")  # text is escaped: only ours
                del out[start:]
                out.append("<br>".join(close_bidi(line) for line in lines))
            elif kind in ("paragraph_open", "paragraph_close"):
                if not token.hidden:  # hidden: a tight list item's paragraph
                    out.append("<p>" if token.nesting > 0 else "</p>")
            elif kind == "heading_open":
                size = _HEADING_SIZE.get(tag, "medium")
                out.append(f'<{tag} style="font-size:{size}">')
            elif kind == "heading_close":
                out.append(f"</{tag}>")
            elif kind in ("bullet_list_open", "ordered_list_open"):
                # Qt gives a list's bottom margin to the block of its last item, which sits
                # above any list nested in that item: keep it 0 or a gap opens there.
                top = "0" if self.lists else "6px"
                first = token.attrGet("start")
                attr = f' start="{int(first)}"' if first is not None else ""
                out.append(f'<{tag}{attr} style="margin-top:{top};margin-bottom:0">')
                self.lists += 1
            elif kind in ("bullet_list_close", "ordered_list_close"):
                out.append(f"</{tag}>")
                self.lists -= 1
            elif kind == "list_item_open":
                out.append("<li>")
            elif kind == "list_item_close":
                out.append("</li>")
            elif kind == "blockquote_open":
                # <blockquote> is only a wide indent in Qt: draw a bar with a two-cell table.
                # Qt's layout time doubles with each level of nested tables, so deeper quotes
                # just carry on in the innermost bar.
                self.quotes += 1
                if self.quotes <= _MAX_QUOTE_BARS:
                    out.append(
                        '<table border="0" cellspacing="0" cellpadding="0" '
                        'style="margin-top:6px;margin-bottom:6px"><tr>'
                        f'<td width="3" bgcolor="{theme.rule}"></td>'
                        f'<td style="padding-left:8px;color:{theme.quote_fg}">'
                    )
            elif kind == "blockquote_close":
                if self.quotes <= _MAX_QUOTE_BARS:
                    out.append("</td></tr></table>")
                self.quotes -= 1
            elif kind in ("fence", "code_block"):
                self.code(token)
            elif kind == "hr":
                out.append(f'<hr style="background-color:{theme.rule}">')
            elif kind == "table_open":
                # Qt's default border style is outset, which hides light borders.
                out.append(
                    '<table border="1" cellspacing="0" cellpadding="4" '
                    'style="margin-top:6px;margin-bottom:6px;border-collapse:collapse;'
                    f'border-style:solid;border-color:{theme.rule}">'
                )
            elif kind in ("th_open", "td_open"):
                align = _CELL_ALIGN.get(str(token.attrGet("style")))
                out.append(f'<{tag} align="{align}">' if align else f"<{tag}>")
            elif kind in ("table_close", "tr_open", "tr_close", "th_close", "td_close"):
                out.append(f"<{tag}>" if token.nesting > 0 else f"</{tag}>")
            elif kind in ("thead_open", "thead_close", "tbody_open", "tbody_close"):
                pass
            elif token.content:  # nothing else is expected; whatever it is, show it inert
                out.append(f"<p>{_text(token.content)}</p>")
        return "".join(out)

    def code(self, token: Token) -> None:
        code = token.content.removesuffix("\n")
        body = _highlight(code, token.info, self.theme.style)
        # A one-cell table gives the background padding; pre-wrap keeps long lines inside.
        self.out.append(
            '<table width="100%" border="0" cellspacing="0" cellpadding="6" '
            f'bgcolor="{self.theme.code_bg}" style="margin-top:6px;margin-bottom:6px">'
            f'<tr><td><pre style="{_MONO};white-space:pre-wrap;color:{self.theme.code_fg}">'
            f"\n{body}\n</pre></td></tr></table>"  # the line breaks: see _pre
        )

    def inline(self, tokens: Sequence[Token]) -> None:
        out = self.out
        for token in tokens:
            kind = token.type
            if kind == "text":
                out.append(_text(token.content))
            elif kind in ("softbreak", "hardbreak"):
                out.append("<br>")
            elif kind == "code_inline":
                out.append(
                    f'<span style="{_MONO};background-color:{self.theme.inline_code_bg}">'
                    f"{_text(token.content)}</span>"
                )
            elif kind in ("em_open", "strong_open", "s_open"):
                out.append(f"<{token.tag}>")
            elif kind in ("em_close", "strong_close", "s_close"):
                out.append(f"</{token.tag}>")
            elif kind == "link_open":
                href = _safe_href(str(token.attrGet("href") or ""))
                self.links.append(href is not None)
                if href is not None:
                    out.append(f'<a href="{_escape(href)}" style="color:{self.theme.link}">')
            elif kind == "link_close":
                if self.links.pop():
                    out.append("</a>")
            elif kind == "image":
                # Never loaded: the alt text stands in, its markup dropped.
                out.append(_text(_alt_text(token.children or [])))
            elif token.content:
                out.append(_text(token.content))


def _alt_text(tokens: Sequence[Token]) -> str:
    parts: list[str] = []
    for token in tokens:
        if token.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif token.type == "image":
            parts.append(_alt_text(token.children or []))
        else:
            parts.append(token.content)
    return "".join(parts)


def code_background(*, dark: bool = False) -> str:
    """The background colour of code blocks (``#rrggbb``)."""
    return (_DARK if dark else _LIGHT).code_bg


def render(text: str, *, dark: bool = False) -> str:
    """The message as HTML for ``QTextDocument.setHtml``; see the module docstring."""
    return _Renderer(_DARK if dark else _LIGHT).blocks(_parse(text))


# -- segments --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of a message laid out on its own: one top-level block, or a chunk of the lines
    of a top-level code block (``code`` is then the block's number among the message's code
    blocks, as :func:`code_blocks` counts them; -1 otherwise). A code chunk's HTML is its
    lines in a ``<pre>``: the view draws the block's background and padding around its
    chunks, from its ``first`` to its ``last``."""

    html: str
    code: int = -1
    first: bool = True
    last: bool = True
    language: str = ""  # a code block's language, as its fence names it


def _language(info: str) -> str:
    words = info.split(maxsplit=1)
    return words[0].strip("{}.") if words else ""


def segments(text: str, *, dark: bool = False) -> list[Segment]:
    """The message as the chat view draws it; the same safety contract as :func:`render`."""
    theme = _DARK if dark else _LIGHT
    return _Segmenter(theme).blocks(_parse(text), 0)[0]


def _top_blocks(tokens: Sequence[Token]) -> list[tuple[int, int]]:
    """The token ranges ``[start, end)`` of each top-level block, in order."""
    blocks, start, depth = [], 0, 0
    for i, token in enumerate(tokens):
        depth += token.nesting
        if depth == 0:
            blocks.append((start, i + 1))
            start = i + 1
    return blocks


def _is_code(token: Token) -> bool:
    return token.type in ("fence", "code_block")


def _pre(theme: _Theme, lines: Sequence[str]) -> str:
    # Qt, as HTML says, drops a line break right after <pre> and one right before </pre>:
    # one more on each side keeps an empty first or last line.
    body = "\n".join(lines)
    return f'<pre style="{_MONO};white-space:pre-wrap;color:{theme.code_fg}">\n{body}\n</pre>'


class _Segmenter:
    def __init__(self, theme: _Theme) -> None:
        self.theme = theme

    def blocks(
        self, tokens: Sequence[Token], code: int,
        grower: Callable[[Token], _GrowingCode | None] = lambda token: None,
    ) -> tuple[list[Segment], int]:  # fmt: skip
        """Segments for ``tokens`` (whole blocks), whose first code block has number
        ``code``; and the number after their last code block. ``grower`` gives the
        :class:`_GrowingCode` that already has a top-level code block's lines, if any."""
        found: list[Segment] = []
        for start, end in _top_blocks(tokens):
            first = tokens[start]
            if end - start == 1 and _is_code(first):
                found.extend(self.code(first, code, grower(first)))
                code += 1
            else:
                found.append(Segment(_Renderer(self.theme).blocks(tokens[start:end])))
                code += sum(1 for t in tokens[start:end] if _is_code(t))
        return found, code

    def code(self, token: Token, number: int, growing: _GrowingCode | None) -> list[Segment]:
        code = token.content.removesuffix("\n")
        if growing is not None:
            lines = growing.lines(code)
        else:
            lines = _code_lines(code, token.info, self.theme.style)
        return self.chunks(lines, number, _language(token.info))

    def chunks(self, lines: list[str], number: int, language: str) -> list[Segment]:
        size = CODE_CHUNK_LINES
        count = (len(lines) + size - 1) // size
        chunks = (lines[k * size : (k + 1) * size] for k in range(count))
        return [
            Segment(_pre(self.theme, chunk), number, k == 0, k == count - 1, language)
            for k, chunk in enumerate(chunks)
        ]


# A link reference definition ("[name]: https://...") changes links anywhere in the text.
_REFERENCE = re.compile(r"^ {0,3}\[(?:[^\]\\]|\\.)+\]:", re.MULTILINE)
# A line that can close a fence opened with ``marker`` (group 1: its character and length).
_FENCE_CLOSE = re.compile(r"^ {0,3}(`{3,}|~{3,})[ \t]*$", re.MULTILINE)


@dataclass
class _Fence:
    """The top-level code fence at the end of the text, opened at the margin (so that its
    content is simply the text after its first line), and the highlighting of its lines."""

    content: int  # where its content starts in the text
    marker: str  # its opening run of backticks or tildes
    info: str
    number: int  # its number among the message's code blocks
    growing: _GrowingCode
    closed: bool = False

    def closed_in(self, text: str, since: int) -> bool:
        """Whether a line of ``text`` from ``since`` on closes it."""
        for match in _FENCE_CLOSE.finditer(text, max(since, self.content)):
            run = match.group(1)
            if run[0] == self.marker[0] and len(run) >= len(self.marker):
                return True
        return False


@dataclass
class StreamingMarkdown:
    """The segments of a text that grows at its end, equal to ``segments(text, dark=dark)``.

    Blocks followed by another block whose first line is whole are final in CommonMark (when
    no reference definition, which could change a link anywhere, is in the text): they are
    rendered once and kept, and each :meth:`update` parses and renders only the last block
    (and the one before, while the last one's first line grows). A code fence still open
    at the end is not even parsed again: its new lines are checked for a closing fence, and
    only its last lines are highlighted again (:class:`_GrowingCode`). Chunks of its lines
    that can no longer change are the same objects from one update to the next, so a view
    caching their layout by segment lays out only the last chunk again.
    """

    dark: bool = False
    _text: str = ""
    _done: int = 0  # the text before this is final: whole blocks, ending at a line start
    _segments: list[Segment] = field(default_factory=list)  # theirs
    _codes: int = 0  # code blocks in them
    _fence: _Fence | None = None  # the last block, when it is a code fence still open
    _known: _Fence | None = None  # the last fence that was open, until it is final
    _chunks: dict[int, Segment] = field(default_factory=dict)  # the fence's final chunks
    _whole: bool = False  # a reference definition was seen: render the whole text each time

    def update(self, text: str) -> list[Segment]:
        theme = _DARK if self.dark else _LIGHT
        grown = text.startswith(self._text)
        if not grown and not text.startswith(self._text[: self._done]):
            self._restart()
        # Only what was added can hold a new reference definition (from its line's start).
        since = self._text.rfind("\n") + 1 if grown else self._done
        self._text = text
        self._whole = self._whole or bool(_REFERENCE.search(text, since))
        if self._whole or "\n" not in text.strip() or "\r" in text or "\0" in text:
            self._restart()
            return segments(text, dark=self.dark)
        fence = self._fence
        if fence is not None and not fence.closed and grown and not fence.closed_in(text, since):
            return self._segments + self._fence_chunks(theme, fence, text)
        return self._reparse(theme, text)

    def _restart(self) -> None:
        self._done, self._segments, self._codes = 0, [], 0
        self._fence = self._known = None
        self._chunks = {}

    def _reparse(self, theme: _Theme, text: str) -> list[Segment]:
        base, rest = self._done, text[self._done :]
        tokens = _MD.parse(rest)
        ranges = _top_blocks(tokens)
        fence = self._known

        def grower(token: Token) -> _GrowingCode | None:
            """The fence that was open at the end, maybe closed now: its lines are
            highlighted already."""
            if fence is None or token.type != "fence" or token.info != fence.info:
                return None
            assert token.map is not None
            line = base + _line_offset(rest, token.map[0])
            return fence.growing if text.find("\n", line) + 1 == fence.content else None

        segmenter = _Segmenter(theme)
        last = ranges[-1][0] if ranges else 0
        last_line = tokens[last].map if last > 0 else None
        start = base + _line_offset(rest, last_line[0]) if last_line is not None else base
        # The blocks before the last are final once the last block's first line is whole: a
        # "2" after a list can still become "2.", an item of that list.
        if last > 0 and text.find("\n", start) >= 0:
            final, self._codes = segmenter.blocks(tokens[:last], self._codes, grower)
            self._segments.extend(final)
            self._done = start
            tokens = tokens[last:]
            if fence is not None and fence.content <= start:
                self._known = None  # it was among them
        at_end = self._last_fence(theme, text, tokens, grower)
        if at_end is not None:
            self._known = at_end
        self._fence = at_end if at_end is not None and not at_end.closed else None
        if self._fence is not None:
            return self._segments + self._fence_chunks(theme, self._fence, text)
        tail, _ = segmenter.blocks(tokens, self._codes, grower)
        return self._segments + tail

    def _last_fence(
        self, theme: _Theme, text: str, tokens: Sequence[Token],
        grower: Callable[[Token], _GrowingCode | None],
    ) -> _Fence | None:  # fmt: skip
        """The last block (``tokens``) as a :class:`_Fence`, when it is one."""
        if len(tokens) != 1 or tokens[0].type != "fence":
            self._chunks = {}
            return None
        token, start = tokens[0], self._done
        opening = text.find("\n", start)
        if not text.startswith(("```", "~~~"), start) or opening < 0:
            self._chunks = {}
            return None  # indented, or only its opening line so far: parsed every time
        growing = grower(token)
        if growing is None:
            growing = _GrowingCode(token.info, theme.style)
            self._chunks = {}
        fence = _Fence(opening + 1, token.markup, token.info, self._codes, growing)
        fence.closed = fence.closed_in(text, fence.content)
        return fence

    def _fence_chunks(self, theme: _Theme, fence: _Fence, text: str) -> list[Segment]:
        """The open fence's chunks, those that can no longer change kept from before."""
        lines = fence.growing.lines(_fence_content(text, fence.content).removesuffix("\n"))
        settled = fence.growing.final_lines(len(lines))
        size, language = CODE_CHUNK_LINES, _language(fence.info)
        chunks = []
        for k in range((len(lines) + size - 1) // size):
            end = (k + 1) * size
            if end <= settled and end < len(lines):
                if k not in self._chunks:
                    html = _pre(theme, lines[k * size : end])
                    self._chunks[k] = Segment(html, fence.number, k == 0, False, language)
                chunks.append(self._chunks[k])
            else:
                html = _pre(theme, lines[k * size : end])
                last = end >= len(lines)
                chunks.append(Segment(html, fence.number, k == 0, last, language))
        return chunks


def _fence_content(text: str, start: int) -> str:
    """An open fence's content from ``start`` to the end, as markdown-it reads it: a last
    line of only spaces and tabs, not ended by a line break, is no line yet."""
    line_break = text.rfind("\n", start)
    last = line_break + 1 if line_break >= 0 else start
    if last < len(text) and not text[last:].strip(" \t"):
        return text[start:last]
    return text[start:]


def _line_offset(text: str, line: int) -> int:
    """Where line number ``line`` (from 0) starts in ``text``."""
    pos = 0
    for _ in range(line):
        pos = text.index("\n", pos) + 1
    return pos


def code_blocks(text: str) -> list[str]:
    """The contents of the message's fenced and indented code blocks, in order.

    Each is the code as written, without the newline that ends its last line.
    """
    return [
        token.content.removesuffix("\n")
        for token in _parse(text)
        if token.type in ("fence", "code_block")
    ]
