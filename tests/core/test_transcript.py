"""The transcript on plain values: what a participant sees, row by row, with no Qt."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from core.client import Acknowledged, Ended, Queued, Resumed, SendFailed
from core.protocol import (
    AnswerDelta,
    AnswerFinished,
    AnswerStarted,
    MessagePosted,
    Notice,
    ParticipantInfo,
    ParticipantJoined,
    ParticipantLeft,
    RoomClosed,
)
from core.transcript import Change, Transcript


def msg(
    seq: int, author: str = "p2", text: str = "hi", client_id: str | None = None
) -> MessagePosted:
    return MessagePosted(
        seq, float(seq), author, "Sam" if author == "p2" else "Ana", text, client_id
    )


def test_rows_for_people_coming_and_going() -> None:
    t = Transcript()
    assert t.apply(ParticipantJoined(1, 1.0, ParticipantInfo("p1", "Ana", "host"))) == [
        Change("insert", 0)
    ]
    t.apply(ParticipantLeft(2, 2.0, "p3", "Bob", "kicked"))
    t.apply(ParticipantLeft(3, 3.0, "p4", "Cy", "something_new"))
    t.apply(RoomClosed(4, 4.0, "closed_by_host"))
    assert [e.text for e in t.entries] == [
        "Ana joined (host)",
        "Bob was removed by the host",
        "Cy left",
        "The host closed the room.",
    ]


def test_a_replayed_event_is_shown_once() -> None:
    t = Transcript()
    t.apply(msg(5))
    assert t.apply(msg(5)) == []
    assert len(t.entries) == 1


def test_roles_come_from_joins_and_mine_from_my_ids() -> None:
    t = Transcript()
    t.set_participants({"p1": ParticipantInfo("p1", "Ana", "host")}, me="p2")
    t.apply(msg(1, author="p1"))
    t.apply(msg(2, author="p2"))
    host, mine = t.entries
    assert (host.role, host.mine) == ("host", False)
    assert (mine.role, mine.mine) == ("guest", True)


def test_an_answer_grows_then_is_final() -> None:
    t = Transcript()
    t.apply(AnswerStarted(1, 1.0, "a1", 0, "p2", "Sam", "Robo", "m"))
    t.apply(AnswerDelta("a1", 0, "Hel"))
    t.apply(AnswerDelta("a1", 3, "lo"))
    t.apply(AnswerDelta("a1", 3, "lo"))  # a repeat changes nothing
    [entry] = t.entries
    assert (entry.text, entry.status, entry.author, entry.asked_by) == (
        "Hello", "streaming", "Robo", "Sam",
    )  # fmt: skip
    t.apply(AnswerFinished(2, 2.0, "a1", "Hello!", "stopped", "m", stopped_by="p2"))
    assert (entry.text, entry.status, entry.answer_id) == ("Hello!", "stopped", "a1")


def test_a_finished_answer_without_its_start_still_shows() -> None:
    t = Transcript()
    t.apply(AnswerFinished(9, 9.0, "a7", "Late answer", "complete", "m"))
    assert [(e.kind, e.text) for e in t.entries] == [("answer", "Late answer")]


def test_notices_and_pending_messages() -> None:
    t = Transcript()
    t.set_participants({}, me="p2")
    t.apply(Queued("c1", "on its way", 1.0))
    t.apply(Notice(1, 1.0, "warning", "budget_exhausted", "Budget spent"))
    t.apply(msg(2, text="on its way", client_id="c1"))
    notice, message = t.entries  # the room's order: the notice was posted first
    assert (message.text, message.pending, message.key.endswith("m:2")) == (
        "on its way",
        False,
        True,
    )
    assert (notice.kind, notice.level) == ("notice", "warning")
    t.apply(Queued("c2", "refused", 3.0))
    t.apply(SendFailed("c2", "rate_limited", "too fast"))
    assert t.entries[-1].status == "failed" and not t.entries[-1].pending


def test_a_restarted_room_starts_a_new_epoch() -> None:
    t = Transcript()
    t.apply(msg(1, text="old"))
    t.new_room()
    assert t.apply(msg(1, text="new")) == [Change("insert", 1)]


# -- one order on every screen ---------------------------------------------------------------


def test_a_message_sent_through_a_hiccup_takes_its_place_in_the_rooms_order() -> None:
    """Typed while the connection was down, our message was posted after what others said
    meanwhile: on our screen too it comes after them, not where it was typed."""
    t = Transcript()
    t.set_participants({}, me="p1")
    t.apply(msg(1, text="before the hiccup"))
    t.apply(Queued("c1", "typed while offline", 2.0))
    assert t.apply(msg(2, text="said meanwhile")) == [Change("insert", 1)]  # above ours
    t.apply(msg(3, text="also meanwhile"))
    assert [e.text for e in t.entries][-1] == "typed while offline"  # still waiting, last
    changes = t.apply(msg(4, author="p1", text="typed while offline", client_id="c1"))
    assert changes == [Change("update", 3)]
    assert [(e.seq, e.text, e.pending) for e in t.entries] == [
        (1, "before the hiccup", False),
        (2, "said meanwhile", False),
        (3, "also meanwhile", False),
        (4, "typed while offline", False),
    ]


def test_a_confirmation_moves_our_message_above_ones_still_waiting() -> None:
    t = Transcript()
    t.set_participants({}, me="p1")
    t.apply(Queued("c1", "first", 1.0))
    t.apply(Queued("c2", "second", 1.0))
    # The room posted the second one first (the first was held back and sent again).
    assert t.apply(msg(7, author="p1", text="second", client_id="c2")) == [
        Change("move", 1, 0),
        Change("update", 0),
    ]
    assert [(e.text, e.pending) for e in t.entries] == [("second", False), ("first", True)]
    assert t.entry("0m:7") is t.entries[0] and t.index_of("p:c1") == 1


def test_a_refused_message_stays_where_it_failed() -> None:
    t = Transcript()
    t.set_participants({}, me="p1")
    t.apply(msg(1, text="hello"))
    t.apply(Queued("c1", "too fast", 2.0))
    t.apply(SendFailed("c1", "rate_limited", "too fast"))
    t.apply(msg(2, text="later"))
    assert [(e.text, e.status) for e in t.entries] == [
        ("hello", ""), ("too fast", "failed"), ("later", ""),
    ]  # fmt: skip


def test_a_restarted_rooms_messages_follow_the_old_ones() -> None:
    t = Transcript()
    t.apply(msg(50, text="old room"))
    t.new_room()
    t.apply(msg(3, text="new room"))
    assert [e.text for e in t.entries] == ["old room", "new room"]


@given(st.lists(st.sampled_from(["theirs", "type", "confirm", "refuse"]), max_size=40))
def test_confirmed_rows_are_always_in_seq_order(steps: list[str]) -> None:
    """Whatever interleaving of our messages (typed, posted, refused) and others' messages:
    every posted message stands in seq order, and what still waits stands last."""
    t = Transcript()
    t.set_participants({}, me="p1")
    seq, typed, waiting = 0, 0, []
    for step in steps:
        if step == "theirs":
            seq += 1
            t.apply(msg(seq))
        elif step == "type":
            typed += 1
            waiting.append(f"c{typed}")
            t.apply(Queued(f"c{typed}", f"mine {typed}", 0.0))
        elif waiting:
            client_id = waiting.pop(len(waiting) // 2)  # not always the oldest
            if step == "confirm":
                seq += 1
                t.apply(msg(seq, author="p1", client_id=client_id))
            else:
                t.apply(SendFailed(client_id, "rate_limited", "too fast"))
    seqs = [e.seq for e in t.entries if e.seq is not None]
    assert seqs == sorted(seqs) == list(range(1, seq + 1))
    pending = [i for i, e in enumerate(t.entries) if e.pending]
    assert pending == list(range(len(t.entries) - len(pending), len(t.entries)))
    assert all(t.index_of(e.key) == i for i, e in enumerate(t.entries))


# -- answers -------------------------------------------------------------------------------


def test_a_regenerated_answer_says_so_and_the_first_knows_it() -> None:
    t = Transcript()
    t.apply(AnswerStarted(1, 1.0, "a1", 0, "p2", "Sam", "Robo", "m"))
    t.apply(AnswerFinished(2, 2.0, "a1", "First try.", "complete", "m"))
    changes = t.apply(AnswerStarted(3, 3.0, "a2", 0, "p1", "Ana", "Robo", "m", regenerates="a1"))
    assert changes == [Change("insert", 1), Change("update", 0)]
    first, again = t.entries
    assert (again.regenerates, again.question_by, again.asked_by) == ("a1", "Sam", "Ana")
    assert first.replaced_by == "a2"


def test_answers_still_streaming_can_be_marked_cut_off() -> None:
    t = Transcript()
    t.apply(AnswerStarted(1, 1.0, "a1", 0, "p2", "Sam", "Robo", "m"))
    t.apply(AnswerDelta("a1", 0, "Half an ans"))
    assert t.interrupt_streaming("the room ended") == [Change("update", 0)]
    [entry] = t.entries
    assert (entry.status, entry.error, entry.text) == ("interrupted", "the room ended",
                                                       "Half an ans")  # fmt: skip
    assert t.interrupt_streaming("again") == []


def test_an_acknowledged_message_is_sent_even_when_its_event_never_came() -> None:
    """The room says it posted a repeat, as event 4, whose event we missed: the row must
    stop saying "sending…", keep its words, and stand at its place in the room's order."""
    t = Transcript()
    t.set_participants({"p1": ParticipantInfo("p1", "Ana", "guest")}, "p1")
    t.apply(Queued("c1", "posted while we were away", 1.0))
    t.apply(Queued("c2", "still waiting", 1.5))
    t.apply(msg(3, text="before it"))
    t.apply(msg(5, text="said meanwhile"))
    t.apply(Acknowledged("c1", 4))
    assert [(e.text, e.pending, e.status, e.seq) for e in t.entries] == [
        ("before it", False, "", 3),
        ("posted while we were away", False, "", 4),
        ("said meanwhile", False, "", 5),
        ("still waiting", True, "", None),
    ]


def test_a_message_whose_fate_is_unknown_when_the_room_ends_says_so() -> None:
    t = Transcript()
    t.set_participants({"p1": ParticipantInfo("p1", "Ana", "guest")}, "p1")
    t.apply(Queued("c1", "maybe arrived", 1.0))
    t.apply(Ended("unreachable", "gone", unconfirmed=(Queued("c1", "maybe arrived", 1.0),)))
    (entry,) = t.entries
    assert (entry.pending, entry.status) == (False, "unconfirmed")


def test_our_own_messages_under_a_new_identity_are_ours() -> None:
    """Rejoined as a new participant, a replayed message under the new id (or the old one)
    is still ours: it settles our pending row instead of showing twice."""
    t = Transcript()
    t.set_participants({"p1": ParticipantInfo("p1", "Ana", "guest")}, "p1")
    t.apply(Queued("c1", "hello again", 1.0))
    t.apply(Resumed(False, True, ParticipantInfo("p9", "Ana", "guest")))
    t.apply(msg(7, author="p9", text="hello again", client_id="c1"))
    (entry,) = t.entries
    assert (entry.mine, entry.pending, entry.seq) == (True, False, 7)


def test_messages_unsent_when_the_room_ends_are_marked_not_sent() -> None:
    t = Transcript()
    t.set_participants({"p1": ParticipantInfo("p1", "Ana", "guest")}, "p1")
    t.apply(Queued("c1", "never went out", 1.0))
    t.apply(Ended("closed_by_host", "closed", unsent=(Queued("c1", "never went out", 1.0),)))
    (entry,) = t.entries
    assert (entry.text, entry.pending, entry.status, entry.author) == (
        "never went out", False, "failed", "Ana",
    )  # fmt: skip
