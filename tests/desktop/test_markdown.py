"""desktop.markdown: Markdown becomes Qt rich text, code is highlighted, hostile input is inert."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import itertools
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import (
    QColor,
    QImage,
    QPainter,
    QTextBlock,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextFormat,
    QTextListFormat,
    QTextTable,
)

from desktop.markdown import code_blocks, render

PYTHON_CODE = (
    "def greet(name: str) -> str:\n"
    '    """Say hi."""\n'
    "\n"
    "\n"
    "    # <b>not bold</b> & x == (y)\n"
    "\treturn f'hi {name}'  \n"
    "print(greet('you'))"
)
FORBIDDEN = ("<img", "src=", "background=", "url(")


class RecordingDocument(QTextDocument):
    """A document that records every resource Qt asks it for (images, backgrounds...)."""

    def __init__(self) -> None:
        super().__init__()
        self.requested: list[str] = []

    def loadResource(self, kind: int, name: QUrl) -> Any:  # noqa: N802 (Qt's name)
        self.requested.append(name.toString())
        return super().loadResource(kind, name)


def document(html: str) -> RecordingDocument:
    """``html`` set on a document that has then been laid out and painted."""
    doc = RecordingDocument()
    doc.setTextWidth(400)
    doc.setHtml(html)
    size = doc.size()
    image = QImage(int(size.width()) + 1, int(size.height()) + 1, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    doc.drawContents(painter)
    painter.end()
    return doc


def md(text: str, *, dark: bool = False) -> RecordingDocument:
    return document(render(text, dark=dark))


def blocks(doc: QTextDocument) -> Iterator[QTextBlock]:
    block = doc.begin()
    while block.isValid():
        yield block
        block = block.next()


def block_with(doc: QTextDocument, text: str) -> QTextBlock:
    return next(b for b in blocks(doc) if text in b.text())


def char_format(doc: QTextDocument, text: str) -> QTextCharFormat:
    """The character format in the middle of the first occurrence of ``text``."""
    start = doc.toPlainText().index(text)
    cursor = QTextCursor(doc)
    cursor.setPosition(start + len(text) // 2 + 1)
    return cursor.charFormat()


def anchors(doc: QTextDocument) -> list[tuple[str, str]]:
    """(text, href) of every link fragment in the document."""
    found = []
    for block in blocks(doc):
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            if fragment.charFormat().isAnchor():
                found.append((fragment.text(), fragment.charFormat().anchorHref()))
            it += 1
    return found


def has_images(doc: QTextDocument) -> bool:
    for block in blocks(doc):
        it = block.begin()
        while not it.atEnd():
            if it.fragment().charFormat().isImageFormat():
                return True
            it += 1
    return False


# -- Markdown structure ----------------------------------------------------------------


def test_headings_are_heading_blocks_in_a_larger_font(qapp: Any) -> None:
    doc = md("# Title\n\n## Section\n\nbody text")
    title, section, body = (block_with(doc, t) for t in ("Title", "Section", "body text"))
    assert title.blockFormat().headingLevel() == 1
    assert section.blockFormat().headingLevel() == 2
    assert body.blockFormat().headingLevel() == 0
    title_height = title.layout().lineAt(0).height()
    section_height = section.layout().lineAt(0).height()
    assert title_height > section_height > body.layout().lineAt(0).height()
    assert char_format(doc, "Title").fontWeight() >= 600


def test_lists_nest_and_number(qapp: Any) -> None:
    doc = md("- apple\n- pear\n  - williams\n  - conference\n\nthen\n\n3. three\n4. four")
    apple, williams, three = (block_with(doc, t) for t in ("apple", "williams", "three"))
    assert apple.textList() is not None
    assert apple.textList().format().style() == QTextListFormat.Style.ListDisc
    assert block_with(doc, "pear").textList() == apple.textList()
    assert williams.textList() is not None
    assert williams.textList() != apple.textList()
    assert williams.textList().format().indent() > apple.textList().format().indent()
    assert three.textList().format().style() == QTextListFormat.Style.ListDecimal
    assert three.textList().itemText(three) == "3."
    assert block_with(doc, "then").textList() is None
    assert doc.toPlainText().split("\n") == [
        "apple",
        "pear",
        "williams",
        "conference",
        "then",
        "three",
        "four",
    ]


def test_a_nested_list_has_no_gap_above_it(qapp: Any) -> None:
    doc = md("- one\n- two\n  - nested")
    assert block_with(doc, "two").blockFormat().bottomMargin() == 0
    assert block_with(doc, "nested").blockFormat().topMargin() == 0


def test_tables_become_text_tables(qapp: Any) -> None:
    doc = md("| Name | Score |\n|:-----|------:|\n| Ann  | 10 |\n| Bob  | 7 |\n")
    cursor = QTextCursor(block_with(doc, "Ann"))
    table = cursor.currentTable()
    assert isinstance(table, QTextTable)
    assert (table.rows(), table.columns()) == (3, 2)
    cells = [
        [table.cellAt(r, c).firstCursorPosition().block().text() for c in range(2)]
        for r in range(3)
    ]
    assert cells == [["Name", "Score"], ["Ann", "10"], ["Bob", "7"]]
    assert char_format(doc, "Name").fontWeight() >= 600  # header cells are bold
    assert table.format().border() > 0
    score = table.cellAt(1, 1).firstCursorPosition().block()
    assert score.blockFormat().alignment() & Qt.AlignmentFlag.AlignRight
    ann = table.cellAt(1, 0).firstCursorPosition().block()
    assert not ann.blockFormat().alignment() & Qt.AlignmentFlag.AlignRight


def test_block_quotes_are_set_off_and_muted(qapp: Any) -> None:
    doc = md("before\n\n> quoted words\n> > nested reply\n\nafter")
    layout = doc.documentLayout()
    before, quoted, nested, after = (
        layout.blockBoundingRect(block_with(doc, t)).x()
        for t in ("before", "quoted words", "nested reply", "after")
    )
    assert before == after < quoted < nested
    muted = char_format(doc, "quoted words").foreground().color()
    assert muted.isValid()
    assert muted != char_format(doc, "before").foreground().color()
    lines = [line for line in doc.toPlainText().split("\n") if line]
    assert lines == ["before", "quoted words", "nested reply", "after"]


def test_inline_formatting(qapp: Any) -> None:
    doc = md("plain *soft* **loud** ~~gone~~ `x = 1` end")
    assert doc.toPlainText() == "plain soft loud gone x = 1 end"
    assert char_format(doc, "soft").fontItalic()
    assert char_format(doc, "loud").fontWeight() >= 600
    assert char_format(doc, "gone").fontStrikeOut()
    code = char_format(doc, "x = 1")
    assert "monospace" in code.fontFamilies()
    assert code.background().color().isValid()
    assert code.background().color() != QColor(0, 0, 0, 0)
    assert not char_format(doc, "plain").fontItalic()


def test_http_links_stay_links(qapp: Any) -> None:
    doc = md("see [the docs](https://example.com/a?b=c&d=(e)) or <http://example.org/x>")
    assert anchors(doc) == [
        ("the docs", "https://example.com/a?b=c&d=(e)"),
        ("http://example.org/x", "http://example.org/x"),
    ]
    assert doc.toPlainText() == "see the docs or http://example.org/x"


# -- code ------------------------------------------------------------------------------


def test_python_fence_is_highlighted_and_verbatim(qapp: Any) -> None:
    text = f"Try this:\n\n```python\n{PYTHON_CODE}\n```\n\nThen run it."
    html = render(text)
    assert re.search(r'<span style="color:#[0-9A-Fa-f]{6}', html)
    doc = document(html)
    plain = doc.toPlainText()
    assert PYTHON_CODE in plain
    assert plain.startswith("Try this:\n")
    assert plain.endswith("\nThen run it.")
    keyword = char_format(doc, "def")
    assert keyword.foreground().color() != char_format(doc, "greet").foreground().color()
    assert "monospace" in keyword.fontFamilies()
    # The comment's markup is code, not formatting.
    assert not char_format(doc, "not bold").fontWeight() > char_format(doc, "def").fontWeight()
    assert "<b>" not in html


def test_dark_code_uses_other_colours(qapp: Any) -> None:
    text = f"```python\n{PYTHON_CODE}\n```"
    light, dark = render(text), render(text, dark=True)
    assert light != dark
    assert PYTHON_CODE in md(text, dark=True).toPlainText()


@pytest.mark.parametrize("info", ["", "nosuchlanguage", "text"])
def test_code_without_a_known_language_is_not_guessed(qapp: Any, info: str) -> None:
    text = f"```{info}\n{PYTHON_CODE}\n```"
    html = render(text)
    assert "<span" not in html
    assert PYTHON_CODE in md(text).toPlainText()


def test_indented_code_block(qapp: Any) -> None:
    doc = md("look:\n\n    if a  and b:\n        pass\n\nok")
    plain = doc.toPlainText()
    assert "\nif a  and b:\n    pass\n" in plain
    assert plain.startswith("look:\n")
    assert plain.endswith("\nok")
    assert "monospace" in char_format(doc, "pass").fontFamilies()


def test_code_blocks_lists_every_block_in_order() -> None:
    text = (
        "intro `inline` is not a block\n\n"
        "```python\nprint(1)\n```\n\n"
        "text\n\n"
        "    indented\n      more\n\n"
        "~~~\n<raw> & stuff\n\n~~~\n\n"
        "- item\n\n  ```sh\n  ls -l\n  ```\n"
    )
    assert code_blocks(text) == ["print(1)", "indented\n  more", "<raw> & stuff\n", "ls -l"]
    assert code_blocks("no code here") == []
    assert code_blocks("") == []


# -- chat text as typed ----------------------------------------------------------------


def test_pure_text_keeps_its_lines_and_spaces(qapp: Any) -> None:
    text = "hi all\nsecond line\nthird   line with  gaps"
    doc = md(text)
    assert doc.toPlainText() == text
    assert doc.blockCount() == 1  # one paragraph, broken into lines


@pytest.mark.parametrize(
    "text",
    [
        "2*3*4 = 24",
        "5*x*y and 2**8 and 3**2",
        "snake_case_names and more_snake_case",
        "1. Done with the first part",
        "2024. What a year",
        "#general is the channel",
        ">_< oops",
        ">>> print(1)",
        "C:\\Users\\me\\file_name.txt",
        "a <3 b > c",
    ],
)
def test_chatty_text_stays_literal(qapp: Any, text: str) -> None:
    html = render(text)
    for tag in ("<em", "<strong", "<ol", "<ul", "<h1", "<table", "<pre"):
        assert tag not in html
    doc = md(text)
    assert doc.toPlainText() == text
    block = doc.begin()
    assert block.textList() is None
    assert block.blockFormat().headingLevel() == 0


def test_markdown_emphasis_still_works_between_words() -> None:
    assert "<em>" in render("this is *really* nice")
    assert "<strong>" in render("**bold**er")


def test_entities_show_as_typed(qapp: Any) -> None:
    assert md("x &lt; y &amp; z &#60;b&#62;").toPlainText() == "x &lt; y &amp; z &#60;b&#62;"


def test_empty_message() -> None:
    assert render("") == ""


# -- hostile input ---------------------------------------------------------------------

HOSTILE = [
    '<img src="file:///etc/passwd">',
    "<script>alert(1)</script>",
    "[click](javascript:alert(1))",
    "[x](file:///etc/passwd)",
    "![pic](http://example.com/a.png)",
    '<a href="javascript:x">y</a>',
    "<style>body { background: url(http://example.com/x.png) }</style>",
    '[a](http://example.com/"><img src=x>)',
    "&lt;img src=x&gt;",
    "[x](JaVaScRiPt:alert(1))",
    "[x](jav&#x61;script:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD4=)",
    "[x](qrc:/icons/app.png)",
    "[x](/etc/passwd)",
    "[x](mailto:a@example.com)",
    "<javascript:alert(1)>",
    "<a@example.com>",
    "[x][evil]\n\n[evil]: javascript:alert(1)",
    "[![pic](http://example.com/a.png)](https://example.com)",
    '<table background="x.png"><tr><td>cell</td></tr></table>',
    '<p style="background-image:url(x.png)">x</p>',
    "| a |\n|---|\n| <img src=x> |",
    "```<img src=x>\ncode <img src=y>\n```",
    '```python\nx = "<img src=y>"  # url(z) background="w"\n```',
    "`<img src=x>`",
    "# <img src=x>",
    "> <iframe src=x>",
]


@pytest.mark.parametrize("text", HOSTILE)
@pytest.mark.parametrize("dark", [False, True])
def test_hostile_input_is_inert(qapp: Any, text: str, dark: bool) -> None:
    html = render(text, dark=dark)
    lowered = html.lower()
    for needle in FORBIDDEN:
        assert needle not in lowered
    for href in re.findall(r'href="([^"]*)"', html):
        assert href.startswith(("http://", "https://"))
    doc = document(html)
    assert doc.requested == []
    assert not has_images(doc)
    for _text, href in anchors(doc):
        assert href.startswith(("http://", "https://"))
        assert '"' not in href
        assert ">" not in href


@pytest.mark.parametrize(
    "text",
    [
        '<img src="file:///etc/passwd">',
        "<script>alert(1)</script>",
        '<a href="javascript:x">y</a>',
        "<style>body { background: url(x.png) }</style>",
        "&lt;img src=x&gt;",
    ],
)
def test_raw_html_is_visible_text(qapp: Any, text: str) -> None:
    doc = md(text)
    assert doc.toPlainText() == text
    assert anchors(doc) == []


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("[click](javascript:alert(1))", "click"),
        ("[x](file:///etc/passwd)", "x"),
        ("[x](mailto:a@example.com)", "x"),
        ("[x](qrc:/icons/app.png)", "x"),
        ("[x](/relative/path)", "x"),
        ("<javascript:alert(1)>", "javascript:alert(1)"),
        ("![pic](http://example.com/a.png)", "pic"),
        ("![pic *with* `code`](http://example.com/a.png)", "pic with code"),
    ],
)
def test_refused_links_and_images_keep_their_text(qapp: Any, text: str, shown: str) -> None:
    doc = md(text)
    assert doc.toPlainText() == shown
    assert anchors(doc) == []
    assert not has_images(doc)


def test_quotes_and_brackets_in_a_link_url_stay_inside_the_href(qapp: Any) -> None:
    doc = md('[a](http://example.com/"><b>bold</b>)')
    assert doc.toPlainText() == "a"
    [(text, href)] = anchors(doc)
    assert text == "a"
    assert href.startswith("http://example.com/")
    assert "%22%3E%3Cb%3E" in href


def test_the_resource_check_would_notice_an_image(qapp: Any) -> None:
    # Guard for test_hostile_input_is_inert: markup that loads something is caught.
    assert document('<img src="x.png">').requested
    assert document('<p style="background-image:url(y.png)">x</p>').requested


def test_a_long_message_renders_quickly() -> None:
    prose = "Here is *some* text with `inline code` and a [link](https://example.com).\n" * 25
    code = "for i in range(10):\n    print(i, 'x' * i)  # count\n" * 40
    text = f"{prose}\n```python\n{code}```\n"
    assert 3500 <= len(text) <= 4500
    render(text)  # warm up: the lexer and the style are looked up once
    best = min(_timed(render, text) for _ in range(5))
    assert best < 0.05


def test_deeply_nested_quotes_lay_out_quickly(qapp: Any) -> None:
    # A quote bar is a table, and Qt's layout time doubles per level of nested tables.
    # (markdown-it itself stops nesting at 20 levels.)
    text = "> " * 18 + "deep\n" + "> " * 18 + "```\ncode\n```"
    start = time.perf_counter()
    doc = md(text)
    assert time.perf_counter() - start < 0.5
    assert [line for line in doc.toPlainText().split("\n") if line] == ["deep", "code"]


def _timed(func: Any, *args: Any) -> float:
    start = time.perf_counter()
    func(*args)
    return time.perf_counter() - start


def test_heading_level_of_setext_and_hr(qapp: Any) -> None:
    doc = md("Title\n=====\n\n---\n\nafter")
    assert block_with(doc, "Title").blockFormat().headingLevel() == 1
    rules = [
        b
        for b in blocks(doc)
        if b.blockFormat().hasProperty(QTextFormat.Property.BlockTrailingHorizontalRulerWidth)
    ]
    assert len(rules) == 1


# -- bare addresses --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "links"),
    [
        ("see https://example.org/docs.", [("https://example.org/docs", "https://example.org/docs")]),
        ("(at http://example.org/a_(b))", [("http://example.org/a_(b)", "http://example.org/a_(b)")]),
        ("HTTPS://Example.org/x?a=1&b=2, then", [("HTTPS://Example.org/x?a=1&b=2",
                                                  "HTTPS://Example.org/x?a=1&b=2")]),
        ("two: https://a.example https://b.example", [("https://a.example", "https://a.example"),
                                                      ("https://b.example", "https://b.example")]),
        ("ftp://example.org and javascript://x and file:///etc", []),
        ("nothttps://example.org", []),
        ("https:// and https://", []),
        ("`https://in.code.example`", []),
        ("[text https://inner.example](https://outer.example)", [
            ("text https://inner.example", "https://outer.example"),
        ]),
    ],
)  # fmt: skip
def test_bare_web_addresses_are_links(qapp: Any, text: str, links: list[tuple[str, str]]) -> None:
    assert anchors(md(text)) == links


def test_a_bare_address_stops_at_a_direction_control(qapp: Any) -> None:
    doc = md("pay at https://example.org/\u202epay.exe now")
    assert anchors(doc) == [("https://example.org/", "https://example.org/")]


# -- direction controls in a message -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "marker", "typed"),
    [
        ("I owe you \u202e00.001$", "⟨RLO⟩", "00.001$"),
        ("x \u202dabc\u202c y", "⟨LRO⟩", "abc"),
        ("a \u202bright to left\u202c b", "⟨RLE⟩", "right to left"),
        ("code: `\u202eevil`", "⟨RLO⟩", "evil"),
        ("```\nif (admin) {\u202e } \u2066 if (x) {\n```", "⟨RLO⟩", " } "),
    ],
)
def test_embeddings_and_overrides_show_as_markers_not_applied(
    qapp: Any, text: str, marker: str, typed: str
) -> None:
    """An override used to reorder the rest of its own line: "I owe you $100.00"."""
    doc = md(text)
    plain = doc.toPlainText()
    assert marker in plain
    assert not re.search("[\u202a-\u202e]", plain)  # nothing is left to apply
    assert line_reads_in_order(doc, typed)


@pytest.mark.parametrize("text", ["שלום עולם", "مرحبا بالعالم"])
def test_right_to_left_scripts_still_read_right_to_left(qapp: Any, text: str) -> None:
    doc = md(f"{text}\nnext line")
    start = doc.toPlainText().index(text)
    cursor = QTextCursor(doc)
    cursor.setPosition(start)
    block = cursor.block()
    doc.documentLayout().blockBoundingRect(block)
    line = block.layout().lineForTextPosition(0)
    first, last = (line.cursorToX(i)[0] for i in (1, len(text) - 1))
    assert first > last  # the first letter is drawn right of the last
    assert "⟨" not in doc.toPlainText()


def line_reads_in_order(doc: QTextDocument, text: str) -> bool:
    """Whether ``text`` (on one line of ``doc``) is laid out left to right, as typed."""
    start = doc.toPlainText().index(text)
    cursor = QTextCursor(doc)
    xs = []
    for position in range(start, start + len(text) + 1):
        cursor.setPosition(position)
        block = cursor.block()
        doc.documentLayout().blockBoundingRect(block)
        offset = position - block.position()
        xs.append(block.layout().lineForTextPosition(offset).cursorToX(offset)[0])
    return all(a < b for a, b in itertools.pairwise(xs))


def test_code_keeps_an_empty_first_and_last_line(qapp: Any) -> None:
    doc = md("```\n\nmiddle\n\n```")
    table = QTextCursor(block_with(doc, "middle")).currentTable()
    assert isinstance(table, QTextTable)
    cell = table.cellAt(0, 0)
    cursor = cell.firstCursorPosition()
    cursor.setPosition(cell.lastCursorPosition().position(), QTextCursor.MoveMode.KeepAnchor)
    assert cursor.selection().toPlainText() == "\nmiddle\n"
