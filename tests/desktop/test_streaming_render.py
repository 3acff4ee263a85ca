"""A streaming answer is rendered incrementally, and the result is always what a full render
of the same text gives: block by block, a code block line by line, with the lexer started
again only where more text cannot change what it did before.

These are correctness tests; what a delta costs is measured by ``bench/streaming.py``.
"""

from __future__ import annotations

import random
import re
from typing import Any

import pytest
from PySide6.QtWidgets import QApplication

from core.protocol import AnswerDelta, AnswerStarted
from desktop.chat_view import ChatView
from desktop.delegate import MessageDelegate
from desktop.markdown import (
    CODE_CHUNK_LINES,
    StreamingMarkdown,
    _lexer_named,
    _regex_tokens,
    _resumable,
    segments,
)
from desktop.models import MessageListModel
from tests.desktop.test_markdown import FORBIDDEN, HOSTILE

PYTHON = '''Here is a small module that does it.

```python
"""Greeting helpers.

A module docstring that spans
several lines.
"""

import re
from dataclasses import dataclass


@dataclass
class Greeter:
    name: str  # who is greeted

    def greet(self, other: str) -> str:
        """Say hello.

        Long docstring
        over lines.
        """
        text = f"Hello {other}, I am {self.name}!"
        pattern = re.compile(r"\\b(\\w+)\\b")
        return pattern.sub(lambda m: m.group(1).title(), text)

    def shout(self) -> str:
        return """multi
line
string""" + 'single'


def main() -> None:
    for i in range(10):
        print(Greeter("Ann").greet(str(i)))  # count
```

Then run it:

1. Save it as `greet.py`.
2. Run `python greet.py`.

```bash
python greet.py | head -n 3
cat <<EOF
heredoc line
EOF
```

See https://docs.python.org/3/ for more, or [the tutorial](https://docs.python.org/3/tutorial/).
'''

JAVASCRIPT = """A JavaScript version:

```js
/*
 * A block comment
 * over many
 * lines,
 * more than four.
 */
const re = /ab+c/g;
function greet(name) {
  // one line comment
  const text = `Hello ${name},
template literal over lines`;
  return text.replace(re, "x");
}
/* short */ let x = 1 / 2 / 3;
```

And some CSS:

~~~css
body { color: red; } /* comment
over lines */
a:hover { color: #fff; }
~~~
"""

C = """In C:

```c
#include <stdio.h>
/* a comment
   on two lines */
int main(void) {
    size_t n = 3;
    printf("%zu\\n", n);
    return 0;
}
```
"""

MD = """# A title

Some *emphasis*, **strong**, `code`, and a ~~strike~~.
Second line of the paragraph with https://example.org/path_(x).

Setext heading
--------------

> A quote
> over two lines
>
> > nested

- item one
- item two
  - nested item

    indented code in the list

3. three
4. four

| a | b |
|---|--:|
| 1 | 2 |

---

    indented code block
    second line

````markdown
```python
inside
```
````

Final words \u202eevil\u202c and \u2067isolate\u2069 and עברית and العربية.
"""

REF = """Look at [the docs][d] and [x].

Some more text here.

[d]: https://example.org/docs
"""

OPEN = """Never closed:

```python
def f():
    return 1
"""

CRLF = "Lines from Windows:\r\n\r\n```python\r\nx = 1\r\ny = 2\r\n```\r\n"
LISTED = "Steps:\n\n1. Install:\n\n   ```bash\n   pip install greet\n   ```\n2. Run it.\n"
ANSWERS = {"python": PYTHON, "javascript": JAVASCRIPT, "c": C, "markdown": MD,
           "reference": REF, "open-fence": OPEN, "crlf": CRLF, "listed": LISTED}  # fmt: skip


def stream(text: str, seed: int, most: int) -> list[str]:
    """The texts a stream of ``text`` shows, in deltas of 1 to ``most`` characters."""
    rng, end, shown = random.Random(seed), 0, []
    while end < len(text):
        end = min(len(text), end + rng.randint(1, most))
        shown.append(text[:end])
    return shown


@pytest.mark.parametrize("name", list(ANSWERS))
@pytest.mark.parametrize(("seed", "most"), [(1, 3), (2, 12), (3, 40)])
def test_every_delta_renders_as_a_full_render_would(name: str, seed: int, most: int) -> None:
    dark = seed % 2 == 0
    renderer = StreamingMarkdown(dark=dark)
    for shown in stream(ANSWERS[name], seed, most):
        assert renderer.update(shown) == segments(shown, dark=dark), repr(shown[-60:])


def test_code_longer_than_what_is_highlighted_streams_the_same() -> None:
    line = "value = compute(value, 'text')  # a comment that makes the line long enough\n"
    text = "```python\n" + line * 330 + "```\n\nDone."  # past the 20,000 highlighted
    renderer = StreamingMarkdown()
    for shown in stream(text, 4, 900):
        assert renderer.update(shown) == segments(shown)
    assert "<span" in segments(text)[0].html and "<span" not in segments(text)[-2].html


def test_a_changed_text_starts_again() -> None:
    renderer = StreamingMarkdown()
    renderer.update(PYTHON[:600])
    edited = "Something else entirely.\n\n" + PYTHON[:300]
    assert renderer.update(edited) == segments(edited)


def test_what_can_no_longer_change_is_kept_not_rendered_again() -> None:
    code = "".join(f"def f{i}(x):\n    return x * {i}  # times {i}\n\n" for i in range(60))
    text = "Intro.\n\n```python\n" + code
    renderer = StreamingMarkdown()
    before = renderer.update(text)
    after = renderer.update(text + "# one more line\n")
    assert len(before) > 5  # the intro and the code's chunks
    kept = [a is b for a, b in zip(before, after, strict=False)]
    assert all(kept[:-2]) and kept.count(False) <= 2  # only the last chunk or two are new
    assert before[1].first and not before[1].last and after[-1].last
    assert all(s.code == 0 and s.language == "python" for s in after[1:])


@pytest.mark.parametrize("text", HOSTILE)
def test_segments_are_as_inert_as_a_render(text: str) -> None:
    for dark in (False, True):
        html = "".join(s.html for s in segments(text + "\n\n" + text, dark=dark)).lower()
        assert not any(needle in html for needle in FORBIDDEN)
        hrefs = re.findall(r'href="([^"]*)"', html)
        assert all(h.startswith(("http://", "https://")) for h in hrefs)


def test_code_chunks_keep_their_empty_lines() -> None:
    code = "\n".join(["first"] + [""] * (CODE_CHUNK_LINES - 1) + ["", "after the gap", ""])
    found = segments(f"```\n{code}\n```")
    assert [s.first for s in found] == [True, False] and [s.last for s in found] == [False, True]
    # Qt drops a line break just after <pre> and just before </pre>: each chunk carries one
    # more, so that its empty first and last lines stay.
    assert found[1].html.split(">", 1)[1].startswith("\n\nafter the gap\n\n</pre>")


def test_a_delta_lays_out_only_the_end_of_a_long_answer(qtbot: Any) -> None:
    model = MessageListModel()
    view = ChatView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.resize(700, 600)
    view.show()
    delegate = view.itemDelegate()
    assert isinstance(delegate, MessageDelegate)
    laid_out: list[str] = []
    document = delegate._document

    def counted(html: str, width: int, font: Any) -> Any:
        if (html, width, font.key()) not in delegate._docs:
            laid_out.append(html)
        return document(html, width, font)

    delegate._document = counted  # type: ignore[method-assign]
    model.apply(AnswerStarted(1, 1.0, "a1", 0, "p2", "Sam", "Robo", "m"))
    text = PYTHON * 4  # a long answer: many blocks, many chunks of code
    for offset in range(0, len(text), 16):
        laid_out.clear()
        model.apply(AnswerDelta("a1", offset, text[offset : offset + 16]))
        model.flush_updates()
        QApplication.processEvents()
        assert len(laid_out) <= 3, f"at {offset}: {len(laid_out)} segments laid out again"
    segments_now = delegate._body_segments(model.entry(0), dark=False)
    assert len(segments_now) > 20


@pytest.mark.parametrize(
    ("language", "code"),
    [
        ("python", PYTHON.split("```python\n")[1].split("```", maxsplit=1)[0]),
        ("javascript", JAVASCRIPT.split("```js\n")[1].split("```", maxsplit=1)[0]),
        ("c", C.split("```c\n")[1].split("```", maxsplit=1)[0]),
        ("cpp", "#include <vector>\nstd::vector<int> v; // c++\nsize_t n = v.size();\n"),
        ("bash", 'for f in *.txt; do\n  echo "$f" | wc -l  # count\ndone\n'),
        ("html", '<p class="x">Hello <b>you</b></p>\n<!-- a\ncomment -->\n'),
        ("go", "func main() {\n\tfmt.Println(`raw\nstring`)\n}\n"),
    ],
)
def test_the_lexer_started_again_gives_pygments_own_tokens(language: str, code: str) -> None:
    """The resumable lexing loop must lex as Pygments does (the whole text at once)."""
    lexer = _lexer_named(language)
    assert lexer is not None and _resumable(lexer)
    ours = [(t, v) for _p, t, v in _regex_tokens(lexer, code, 0, ("root",), [])]
    assert ours == [(t, v) for _p, t, v in lexer.get_tokens_unprocessed(code)]
