"""The transcript and its Qt model: pending messages, streamed answers, 10,000 rows; the list
of rooms on the network, which counts namesakes without working names out again."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex

from core.client import Ended, Queued, SendFailed
from core.discovery import BrowserEvent, DiscoveredRoom
from core.protocol import (
    PROTOCOL_VERSION,
    AnswerDelta,
    AnswerFinished,
    AnswerStarted,
    MessageId,
    MessagePosted,
    ParticipantId,
    ParticipantInfo,
    ParticipantJoined,
    Usage,
)
from core.text_rules import name_key
from desktop import models
from desktop.delegate import footer_text
from desktop.models import MessageListModel, Roles, RoomListModel


def posted(seq: int, author: str = "p2", name: str = "Sam", text: str = "hi",
           client_id: str | None = None) -> MessagePosted:  # fmt: skip
    return MessagePosted(seq, 1000.0 + seq, author, name, text, client_id)


def test_ten_thousand_messages_pass_the_model_tester(qtmodeltester: Any) -> None:
    model = MessageListModel()
    for seq in range(1, 10_001):
        model.apply(posted(seq, text=f"message {seq}"))
    assert model.rowCount() == 10_000
    qtmodeltester.check(model)
    assert model.index(9_999).data() == "message 10000"


def test_own_messages_are_pending_until_the_room_posts_them(qtbot: Any) -> None:
    model = MessageListModel()
    model.transcript.set_participants({"p1": ParticipantInfo("p1", "Ana", "host")}, "p1")
    model.apply(Queued("c1", "on its way", 5.0))
    entry = model.index(0).data(Roles.ENTRY)
    assert entry.pending and entry.mine and entry.role == "host"
    with qtbot.waitSignal(model.dataChanged) as changed:
        model.apply(posted(7, author="p1", name="Ana", text="on its way", client_id="c1"))
    assert changed.args[0].row() == 0 and model.rowCount() == 1
    assert not model.index(0).data(Roles.ENTRY).pending


def test_a_streaming_answer_updates_only_its_own_row_once_a_frame(qtbot: Any) -> None:
    model = MessageListModel()
    model.apply(ParticipantJoined(1, 1.0, ParticipantInfo("p2", "Sam", "guest")))
    model.apply(posted(2, text="@assistant hello"))
    model.apply(AnswerStarted(3, 3.0, "a1", 2, "p2", "Sam", "assistant", "m"))
    rows: list[int] = []
    inserted: list[int] = []
    model.dataChanged.connect(lambda first, _last, _roles: rows.append(first.row()))
    model.rowsInserted.connect(lambda _p, first, _l: inserted.append(first))
    model.apply(AnswerDelta("a1", 0, "Hel"))
    assert rows == [2]  # the first word after a quiet frame is shown at once
    for offset, piece in ((3, "lo"), (5, "!")):
        model.apply(AnswerDelta("a1", offset, piece))
    assert rows == [2]  # the rest of the frame's deltas make one update, at its end
    qtbot.waitUntil(lambda: rows == [2, 2], timeout=1000)
    assert model.index(2).data() == "Hello!"
    qtbot.wait(3 * MessageListModel.FRAME_MS)
    assert rows == [2, 2]  # nothing changed: no more updates
    model.apply(AnswerDelta("a1", 6, " More"))
    assert rows == [2, 2, 2]  # after a quiet frame: at once again
    model.apply(AnswerFinished(4, 4.0, "a1", "Hello! More.", "complete", "m", Usage(5, 2, 7)))
    assert rows == [2, 2, 2, 2] and inserted == []  # the final text at once
    qtbot.wait(3 * MessageListModel.FRAME_MS)
    assert rows == [2, 2, 2, 2]
    answer = model.index(2).data(Roles.ENTRY)
    assert (answer.text, answer.status, answer.usage.total_tokens) == ("Hello! More.",
                                                                       "complete", 7)  # fmt: skip
    assert model.index(0).data(Roles.ENTRY).kind == "event"  # "Sam joined"


def test_a_confirmed_message_moves_to_its_place_under_the_model_tester(
    qtmodeltester: Any,
) -> None:
    model = MessageListModel()
    model.transcript.set_participants({}, "p1")
    for seq in range(1, 6):
        model.apply(posted(seq, text=f"message {seq}"))
    model.apply(Queued("c1", "first", 1.0))
    model.apply(Queued("c2", "second", 1.0))
    qtmodeltester.check(model)
    moves: list[tuple[int, int]] = []
    model.rowsMoved.connect(lambda _p, start, _e, _d, row: moves.append((start, row)))
    model.apply(posted(6, text="said meanwhile"))  # above what waits
    model.apply(posted(7, author="p1", name="Ana", text="second", client_id="c2"))
    model.apply(SendFailed("c1", "rate_limited", "too fast"))
    assert [model.index(r).data() for r in range(model.rowCount())][5:] == [
        "said meanwhile", "second", "first",
    ]  # fmt: skip
    assert moves == [(7, 6)]  # "second" moved above "first"
    assert model.entry(6).key == "0m:7" and model.entry(7).status == "failed"


def test_a_refused_message_stays_visible_as_not_sent() -> None:
    model = MessageListModel()
    model.apply(Queued("c9", "too fast", 1.0))
    model.apply(SendFailed("c9", "rate_limited", "too fast", text="too fast"))
    entry = model.index(0).data(Roles.ENTRY)
    assert not entry.pending and entry.status == "failed" and entry.text == "too fast"
    assert model.rowCount(QModelIndex()) == 1


def test_a_restarted_room_does_not_hide_its_new_messages() -> None:
    model = MessageListModel()
    model.apply(posted(5, text="before the crash"))
    model.transcript.new_room()  # the host restarted the room: numbering starts again
    model.apply(posted(5, text="after the restart"))
    assert [model.index(r).data() for r in range(model.rowCount())] == [
        "before the crash",
        "after the restart",
    ]


# -- the rooms on the network ------------------------------------------------------------


def announced(n: int, **fields: Any) -> DiscoveredRoom:
    values: dict[str, Any] = {
        "key": f"room{n}@x", "room_id": f"r{n}", "name": f"Room {n % 7}", "host_name": "Ana",
        "participants": 1, "password_required": False, "assistant_kind": "none",
        "provider": None, "model": None, "protocol": PROTOCOL_VERSION, "app_version": "0.2.0",
        "addresses": (f"10.0.{n // 250}.{n % 250}",), "port": 47321,
        "fingerprint": hashlib.sha256(f"r{n}".encode()).digest(),
    }  # fmt: skip
    return DiscoveredRoom(**(values | fields))


def test_the_room_list_works_out_a_names_key_once_per_name(
    monkeypatch: pytest.MonkeyPatch, qtmodeltester: Any
) -> None:
    """Namesakes are counted at every event of the browser; a room's name key (a Unicode
    normalisation and a confusables mapping) is worked out when its name is new, not for
    every room at every event."""
    calls: list[str] = []
    monkeypatch.setattr(models, "name_key", lambda name: calls.append(name) or name_key(name))
    model = RoomListModel()
    rooms = [announced(n) for n in range(200)]
    for room in rooms:
        model.apply(BrowserEvent("added", room))
    for room in rooms:  # participants come and go: the names stay
        model.apply(BrowserEvent("updated", replace(room, participants=2)))
    assert len(calls) == 200
    assert model.namesakes(0) > 1  # 7 names for 200 rooms: counted all the same
    model.apply(BrowserEvent("updated", replace(rooms[0], name="Renamed")))
    assert calls[200:] == ["Renamed"]
    model.apply(BrowserEvent("removed", rooms[1]))
    assert len(calls) == 201
    qtmodeltester.check(model)


def test_a_message_whose_fate_is_unknown_says_so_under_it() -> None:
    """The room ended while our message was on its way: it may have been posted. The row
    must not claim it was not sent."""
    model = MessageListModel()
    model.transcript.set_participants({}, ParticipantId("p1"))
    model.apply(Queued(MessageId("c1"), "on its way", 1.0))
    model.apply(
        Ended("unreachable", "gone", unconfirmed=(Queued(MessageId("c1"), "on its way", 1.0),))
    )
    entry = model.index(0).data(Roles.ENTRY)
    assert footer_text(entry) == "may not have been sent"
