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

Rendering is tuned for chat: single newlines are kept as line breaks, runs of spaces are
kept, a one-line ``1. ...`` is not turned into a list, and a lone ``*`` inside a word
(``2*3*4``) is not emphasis. Code fences are highlighted with Pygments using inline styles,
the lexer picked only by the fence's language name, never guessed from the content.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.rules_inline.state_inline import Delimiter, StateInline
from markdown_it.token import Token
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.style import StyleMeta
from pygments.styles import get_style_by_name
from pygments.token import _TokenType
from pygments.util import ClassNotFound

from desktop.network_text import close_bidi

__all__ = ["DARK_STYLE", "LIGHT_STYLE", "code_blocks", "render"]

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
_MAX_HIGHLIGHT = 20_000  # longer code is shown plain: bounded time in any lexer
_SPACE_RUN = re.compile(r" {2,}")
# One-line messages that CommonMark would turn into a list ("1. Done", "2024. What a year")
# or a quote (">_<", ">.>"): a backslash before the marker keeps them as typed.
_ONE_LINE_LITERAL = re.compile(r"^( {0,3}(?:\d{1,9}(?=[.)](?:[ \t]|$))|(?=>(?![ \t]))))")
_CELL_ALIGN = {f"text-align:{a}": a for a in ("left", "center", "right")}


def _escape(text: str) -> str:
    """Text from the message, safe in HTML text and in double-quoted attributes."""
    return text.translate(_ESCAPES)


def _text(text: str) -> str:
    """Escaped text whose runs of spaces survive (Qt collapses them otherwise)."""
    escaped = _escape(text)
    if "  " in escaped:
        escaped = _SPACE_RUN.sub(lambda m: "&nbsp;" * (len(m.group()) - 1) + " ", escaped)
    return escaped


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


def _make_parser() -> MarkdownIt:
    md = _ChatMarkdown("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.disable(["html_block", "html_inline", "entity"])
    md.inline.ruler.at("emphasis", _emphasis)
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


def _highlight(code: str, info: str, style_name: str) -> str:
    """The code as HTML: escaped text in inline-styled spans, newlines kept."""
    lexer = _lexer(info) if len(code) <= _MAX_HIGHLIGHT else None
    if lexer is None:
        return _escape(code)
    # Runs of tokens sharing a style are merged, and a span never crosses a newline.
    pieces: list[tuple[str, str]] = []
    for ttype, value in lexer.get_tokens(code):
        css = "" if value.isspace() else _token_css(style_name, ttype)
        for i, part in enumerate(value.split("\n")):
            if i:
                pieces.append(("", "\n"))
            if not part:
                continue
            if pieces and pieces[-1][0] == css and pieces[-1][1] != "\n":
                pieces[-1] = (css, pieces[-1][1] + part)
            else:
                pieces.append((css, part))
    return "".join(
        f'<span style="{css}">{_escape(part)}</span>' if css else _escape(part)
        for css, part in pieces
    )


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
                start = token.attrGet("start")
                attr = f' start="{int(start)}"' if start is not None else ""
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
        body = _highlight(code, token.info, self.theme.style) if token.info else _escape(code)
        # A one-cell table gives the background padding; pre-wrap keeps long lines inside.
        self.out.append(
            '<table width="100%" border="0" cellspacing="0" cellpadding="6" '
            f'bgcolor="{self.theme.code_bg}" style="margin-top:6px;margin-bottom:6px">'
            f'<tr><td><pre style="{_MONO};white-space:pre-wrap;color:{self.theme.code_fg}">'
            f"{body}</pre></td></tr></table>"
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


def render(text: str, *, dark: bool = False) -> str:
    """The message as HTML for ``QTextDocument.setHtml``; see the module docstring."""
    return _Renderer(_DARK if dark else _LIGHT).blocks(_parse(text))


def code_blocks(text: str) -> list[str]:
    """The contents of the message's fenced and indented code blocks, in order.

    Each is the code as written, without the newline that ends its last line.
    """
    return [
        token.content.removesuffix("\n")
        for token in _parse(text)
        if token.type in ("fence", "code_block")
    ]
