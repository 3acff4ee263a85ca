"""The transcript on plain values: what a participant sees, row by row, with no Qt."""

from __future__ import annotations

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
    t.add_pending("c1", "on its way", "Sam", 1.0)
    t.apply(Notice(1, 1.0, "warning", "budget_exhausted", "Budget spent"))
    t.apply(msg(2, text="on its way", client_id="c1"))
    message, notice = t.entries
    assert (message.text, message.pending, message.key.endswith("m:2")) == (
        "on its way",
        False,
        True,
    )
    assert (notice.kind, notice.level) == ("notice", "warning")
    t.add_pending("c2", "refused", "Sam", 3.0)
    t.drop_pending("c2")
    assert t.entries[-1].status == "failed" and not t.entries[-1].pending


def test_a_restarted_room_starts_a_new_epoch() -> None:
    t = Transcript()
    t.apply(msg(1, text="old"))
    t.new_room()
    assert t.apply(msg(1, text="new")) == [Change("insert", 1)]
