"""How the chat view keeps up as a room's transcript grows to 10,000 messages.

Run on demand, offscreen (``make bench`` runs it with the discovery benchmark):

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m bench.chat_view
    QT_QPA_PLATFORM=offscreen .venv/bin/python -m bench.chat_view --smoke --json out.json

It appends messages to the app's real model and view (``MessageListModel`` shown by
``ChatView`` with ``MessageDelegate``, which follows the newest message) and, as the baseline
measured in the same run, to a single ``QTextBrowser`` (the obvious way to build a chat log,
known to slow down as it grows).
For each it reports the median time to append one message and repaint, early (the first 500)
and late (around message 10,000), and the ratio of the two; and it reports how much longer a
streamed answer takes to update at 10,000 rows than at 500.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication, QTextBrowser

from bench.report import Row, write_json
from core.protocol import AnswerDelta, AnswerStarted, MessagePosted
from desktop.app import make_application
from desktop.chat_view import ChatView
from desktop.models import MessageListModel

TOTAL = 10_000
SMOKE_TOTAL = 600  # --smoke: seconds, not a minute
SAMPLE = 200  # appends timed at the start and at the end (at most a tenth of the total)
SMALL = 500  # rows of the small transcript a streamed answer is compared in
TEXTS = [
    "Sounds good to me!",
    "Could we meet at **noon** instead? The `north` entrance is easier.",
    "Here is the list:\n- bread\n- cheese\n- something to drink",
    "@assistant what is a good vegetarian option near the station?",
]


def timed(step: object) -> float:
    start = time.perf_counter()
    step()  # type: ignore[operator]
    QApplication.processEvents()
    return time.perf_counter() - start


def ours(
    app: QApplication, total: int
) -> tuple[list[float], list[float], list[float], list[float]]:
    sample = min(SAMPLE, total // 10)
    model = MessageListModel()
    view = ChatView()
    view.setModel(model)
    view.resize(700, 600)
    view.show()
    early, late = [], []
    for seq in range(1, total + 1):
        event = MessagePosted(seq, 1_000_000 + seq, f"p{seq % 5}", f"Person {seq % 5}",
                              TEXTS[seq % len(TEXTS)])  # fmt: skip

        def step(event: MessagePosted = event) -> None:
            model.apply(event)  # the view follows it by itself

        if seq <= sample:
            early.append(timed(step))
        elif seq > total - sample:
            late.append(timed(step))
        else:
            step()
            if seq % 500 == 0:
                app.processEvents()
    assert view.following and view.first_shown > 0  # at the bottom, laying out a window
    stream_late = stream(model, view, total + 1)
    small = MessageListModel()
    view.setModel(small)
    for seq in range(1, SMALL + 1):
        small.apply(MessagePosted(seq, seq, "p1", "P", TEXTS[seq % len(TEXTS)]))
    stream_early = stream(small, view, SMALL + 1)
    return early, late, stream_early, stream_late


def stream(model: MessageListModel, view: ChatView, seq: int) -> list[float]:
    """Times for each of 100 deltas of a streamed answer at the end of ``model``."""
    model.apply(AnswerStarted(seq, 0.0, "bench", seq - 1, "p1", "P", "assistant", "m"))
    offset, times = 0, []
    for i in range(100):
        piece = f"word{i} "

        def step(piece: str = piece, offset: int = offset) -> None:
            model.apply(AnswerDelta("bench", offset, piece))
            model.flush_updates()  # the frame it is shown in

        times.append(timed(step))
        offset += len(piece)
    return times


def baseline(total: int) -> tuple[list[float], list[float]]:
    sample = min(SAMPLE, total // 10)
    log = QTextBrowser()
    log.resize(700, 600)
    log.show()
    early, late = [], []
    for seq in range(1, total + 1):
        text = f"Person {seq % 5}: {TEXTS[seq % len(TEXTS)]}"
        if seq <= sample:
            early.append(timed(lambda text=text: log.append(text)))
        elif seq > total - sample:
            late.append(timed(lambda text=text: log.append(text)))
        else:
            log.append(text)
    return early, late


def ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help=f"{SMOKE_TOTAL} messages")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the results there too")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    total = SMOKE_TOTAL if args.smoke else TOTAL
    app = make_application(sys.argv[:1])
    base_early, base_late = baseline(total)
    our_early, our_late, stream_early, stream_late = ours(app, total)
    print(f"append at the start: ours {ms(our_early):.2f} ms, QTextBrowser {ms(base_early):.2f} ms")
    print(f"append at {total:,}: ours {ms(our_late):.2f} ms, QTextBrowser {ms(base_late):.2f} ms")
    print(f"growth from start to {total:,}: ours x{ms(our_late) / ms(our_early):.2f}, "
          f"QTextBrowser x{ms(base_late) / ms(base_early):.2f}")  # fmt: skip
    print(
        f"at {total:,} messages, ours appends in {ms(our_late) / ms(base_late):.2f}x the time "
        "of the QTextBrowser baseline"
    )
    print(
        f"streamed answer update: x{ms(stream_late) / ms(stream_early):.2f} the time at "
        f"{total:,} rows as at {SMALL} ({ms(stream_late):.2f} ms vs {ms(stream_early):.2f} ms)"
    )
    if args.json is not None:
        rows = [
            Row("chat view", f"append a message at {total:,}", ms(our_late), ms(base_late),
                "ms", "QTextBrowser"),
            Row("chat view", f"streamed answer update at {total:,} rows", ms(stream_late),
                ms(stream_early), "ms", f"the same at {SMALL} rows"),
        ]  # fmt: skip
        write_json(args.json, rows, messages=total)
    return 0


if __name__ == "__main__":
    sys.exit(main())
