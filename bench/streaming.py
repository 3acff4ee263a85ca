"""What one delta of a long streaming code answer costs the chat view, from its start to its
end.

Run on demand, offscreen (``make bench`` runs it with the other benchmarks):

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m bench.streaming
    QT_QPA_PLATFORM=offscreen .venv/bin/python -m bench.streaming --smoke --json out.json

A 20,000-character answer, mostly Python code, streams into the app's own model and view
(``MessageListModel`` shown by ``ChatView`` with ``MessageDelegate``, 700 by 600 pixels, under
200 earlier messages) at 100 tokens a second, in steps of about four tokens (the room sends
each token as it comes; the model shows what came during a frame at most once a frame, and a
reader behind on its connection gets deltas merged: four tokens a step is the heavier case).
One step is what that costs the app: the model taking the delta, its update for the frame,
and the view laying out and painting it.

The baseline, measured in the same run, is what the app did before for each delta: render
the whole answer's Markdown and highlighting again and lay it out in a new ``QTextDocument``.
For each, the report gives the median and the 99th percentile of a step over the first and
the last tenth of the answer, their ratio (how the cost grows with the answer), and the
ratio of ours to the baseline at the end. The target is that ours does not grow (a ratio
near 1) and stays under a 60 Hz frame (16 ms) at the 99th percentile at the end; the
milliseconds depend on the machine, the ratios much less.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QApplication

from bench.report import Row, write_json
from core.protocol import AnswerDelta, AnswerStarted, MessagePosted
from desktop.app import make_application
from desktop.chat_view import ChatView
from desktop.markdown import render
from desktop.models import MessageListModel

ANSWER_CHARS = 20_000
SMOKE_CHARS = 2_000  # --smoke: a second or two
DELTA_CHARS = 16  # about 4 tokens of about 4 characters
EARLIER = 200
FRAME_MS = 1000 / 60
TARGET_P99_MS = 16.0  # at the end of the answer: within a 60 Hz frame


def code_answer(size: int) -> str:
    """A code answer as an assistant writes one: a sentence, a long Python module (classes,
    docstrings, comments, strings), a shell block, a closing sentence."""
    parts = ["Here is the whole module, with a test at the end.\n\n```python\n"]
    n = 0
    while sum(map(len, parts)) < size - 400:
        n += 1
        parts.append(
            f"class Worker{n}:\n"
            f'    """Does step {n} of the job.\n\n'
            f"    It reads its input, checks it and writes the result.\n"
            f'    """\n\n'
            f"    limit = {n * 10}  # at most this many items\n\n"
            f"    def run(self, items: list[str]) -> dict[str, int]:\n"
            f"        counts: dict[str, int] = {{}}\n"
            f"        for item in items[: self.limit]:\n"
            f'            key = item.strip().lower() or "<empty>"\n'
            f"            counts[key] = counts.get(key, 0) + {n}\n"
            f"        return counts\n\n\n"
        )
    parts.append('if __name__ == "__main__":\n    print(Worker1().run(["a", "b"]))\n```\n\n')
    parts.append("Run it with:\n\n```bash\npython workers.py\n```\n\nThat is all.")
    return "".join(parts)[: size + 200]


def pieces(text: str) -> list[tuple[int, str]]:
    return [(i, text[i : i + DELTA_CHARS]) for i in range(0, len(text), DELTA_CHARS)]


def timed(step: Callable[[], object]) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def ours(app: QApplication, text: str) -> list[float]:
    """The time of each step of the answer streaming into the app's model and view."""
    model = MessageListModel()
    view = ChatView()
    view.setModel(model)
    view.resize(700, 600)
    view.show()
    for seq in range(1, EARLIER + 1):
        model.apply(MessagePosted(seq, 1_000_000.0 + seq, f"p{seq % 5}", f"Person {seq % 5}",
                                  f"Message {seq}: could we meet at **noon**?"))  # fmt: skip
    app.processEvents()
    model.apply(AnswerStarted(EARLIER + 1, 0.0, "bench", EARLIER, "p1", "Person 1", "assistant",
                              "model"))  # fmt: skip
    app.processEvents()
    times = []
    for offset, piece in pieces(text):

        def step(offset: int = offset, piece: str = piece) -> None:
            model.apply(AnswerDelta("bench", offset, piece))
            model.flush_updates()  # the frame the delta is shown in
            app.processEvents()  # laid out and painted

        times.append(timed(step))
    assert view.following, "the view stopped following the answer"
    view.close()
    return times


def baseline(text: str) -> list[float]:
    """The time of each step when each delta renders and lays out the whole answer again."""
    times = []
    for offset, piece in pieces(text):
        shown = text[: offset + len(piece)]

        def step(shown: str = shown) -> None:
            doc = QTextDocument()
            doc.setDocumentMargin(0)
            doc.setHtml(render(shown))
            doc.setTextWidth(640)
            doc.size()  # laid out

        times.append(timed(step))
    return times


def ms(values: list[float], q: float) -> float:
    if q == 0.5:
        return statistics.median(values) * 1000
    return statistics.quantiles(values, n=100)[int(q * 100) - 1] * 1000


def tenths(values: list[float]) -> tuple[list[float], list[float]]:
    tenth = max(1, len(values) // 10)
    return values[:tenth], values[-tenth:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help=f"a {SMOKE_CHARS:,}-character answer")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the results there too")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    size = SMOKE_CHARS if args.smoke else ANSWER_CHARS
    app = make_application(sys.argv[:1])
    text = code_answer(size)
    base_start, base_end = tenths(baseline(text))
    our_start, our_end = tenths(ours(app, text))
    steps = len(pieces(text))
    print(f"a {len(text):,}-character answer in {steps:,} deltas of {DELTA_CHARS} characters")
    for name, start, end in (("ours", our_start, our_end), ("baseline", base_start, base_end)):
        print(f"{name:>8}: start p50 {ms(start, 0.5):6.2f} ms, p99 {ms(start, 0.99):6.2f} ms; "
              f"end p50 {ms(end, 0.5):6.2f} ms, p99 {ms(end, 0.99):6.2f} ms; "
              f"end/start p50 x{ms(end, 0.5) / ms(start, 0.5):.2f}")  # fmt: skip
    print(f"at the end, ours takes {ms(our_end, 0.5) / ms(base_end, 0.5):.2f}x the baseline's "
          f"time (p50), {ms(our_end, 0.99) / ms(base_end, 0.99):.2f}x (p99)")  # fmt: skip
    print(f"at the end, our p99 is {ms(our_end, 0.99) / FRAME_MS:.2f} of a 60 Hz frame "
          f"({ms(our_end, 0.99):.2f} ms of {FRAME_MS:.1f} ms)")  # fmt: skip
    if args.json is not None:
        held = size >= ANSWER_CHARS
        rows = [
            Row("chat view", f"a delta at the end of a {size:,}-char answer, p99",
                ms(our_end, 0.99), ms(base_end, 0.99), "ms", "re-rendering the answer",
                f"<= {TARGET_P99_MS:.0f} ms", ms(our_end, 0.99) <= TARGET_P99_MS if held else None),
        ]  # fmt: skip
        write_json(args.json, rows, answer_chars=len(text), deltas=steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
