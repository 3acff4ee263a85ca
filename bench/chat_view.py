"""How the chat view keeps up as a room's transcript grows to 10,000 messages.

Run on demand, offscreen (``make bench`` runs it with the discovery benchmark):

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m bench.chat_view

It appends messages to the app's real model and view (``MessageListModel`` shown by
``ChatView`` with ``MessageDelegate``, which follows the newest message) and, as the baseline
measured in the same run, to a single ``QTextBrowser`` (the obvious way to build a chat log,
known to slow down as it grows).
For each it reports the median time to append one message and repaint, early (the first 500)
and late (around message 10,000), and the ratio of the two; and it reports how much longer a
streamed answer takes to update at 10,000 rows than at 500.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtWidgets import QApplication, QTextBrowser

from core.protocol import AnswerDelta, AnswerStarted, MessagePosted
from desktop.app import make_application
from desktop.chat_view import ChatView
from desktop.models import MessageListModel

TOTAL = 10_000
SAMPLE = 200
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


def ours(app: QApplication) -> tuple[list[float], list[float], list[float], list[float]]:
    model = MessageListModel()
    view = ChatView()
    view.setModel(model)
    view.resize(700, 600)
    view.show()
    early, late = [], []
    for seq in range(1, TOTAL + 1):
        event = MessagePosted(seq, 1_000_000 + seq, f"p{seq % 5}", f"Person {seq % 5}",
                              TEXTS[seq % len(TEXTS)])  # fmt: skip

        def step(event: MessagePosted = event) -> None:
            model.apply(event)  # the view follows it by itself

        if seq <= SAMPLE:
            early.append(timed(step))
        elif seq > TOTAL - SAMPLE:
            late.append(timed(step))
        else:
            step()
            if seq % 500 == 0:
                app.processEvents()
    assert view.following and view.first_shown > 0  # at the bottom, laying out a window
    stream_late = stream(model, view, TOTAL + 1)
    small = MessageListModel()
    view.setModel(small)
    for seq in range(1, 501):
        small.apply(MessagePosted(seq, seq, "p1", "P", TEXTS[seq % len(TEXTS)]))
    stream_early = stream(small, view, 501)
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


def baseline() -> tuple[list[float], list[float]]:
    log = QTextBrowser()
    log.resize(700, 600)
    log.show()
    early, late = [], []
    for seq in range(1, TOTAL + 1):
        text = f"Person {seq % 5}: {TEXTS[seq % len(TEXTS)]}"
        if seq <= SAMPLE:
            early.append(timed(lambda text=text: log.append(text)))
        elif seq > TOTAL - SAMPLE:
            late.append(timed(lambda text=text: log.append(text)))
        else:
            log.append(text)
    return early, late


def ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def main() -> int:
    app = make_application(sys.argv)
    base_early, base_late = baseline()
    our_early, our_late, stream_early, stream_late = ours(app)
    print(f"append at the start: ours {ms(our_early):.2f} ms, QTextBrowser {ms(base_early):.2f} ms")
    print(f"append at {TOTAL:,}: ours {ms(our_late):.2f} ms, QTextBrowser {ms(base_late):.2f} ms")
    print(f"growth from start to {TOTAL:,}: ours x{ms(our_late) / ms(our_early):.2f}, "
          f"QTextBrowser x{ms(base_late) / ms(base_early):.2f}")  # fmt: skip
    print(
        f"at {TOTAL:,} messages, ours appends in {ms(our_late) / ms(base_late):.2f}x the time "
        "of the QTextBrowser baseline"
    )
    print(
        f"streamed answer update: x{ms(stream_late) / ms(stream_early):.2f} the time at "
        f"{TOTAL:,} rows as at 500 ({ms(stream_late):.2f} ms vs {ms(stream_early):.2f} ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
