"""The client's outbox: order, pacing, confirmation and requeueing on plain values."""

from __future__ import annotations

from core.outbox import Outbox, Outgoing
from core.protocol import Limits


def drain(box: Outbox, now: float) -> list[str]:
    sent = []
    while True:
        item, _ = box.next_ready(now)
        if item is None:
            return sent
        sent.append(item.text)


def test_messages_leave_in_order_and_stay_until_confirmed() -> None:
    box = Outbox(0.0)
    for i in range(3):
        box.add(Outgoing(f"id{i}", f"m{i}"))
    assert drain(box, 0.0) == ["m0", "m1", "m2"]
    assert len(box) == 3
    assert box.confirm("id1") and not box.confirm("id1")
    assert [o.text for o in box.items] == ["m0", "m2"]


def test_pacing_follows_the_room_limit_with_a_margin() -> None:
    box = Outbox(0.0)
    box.pace_for(Limits(message_burst=4, messages_per_minute=60), 0.0)
    for i in range(10):
        box.add(Outgoing(f"id{i}", f"m{i}"))
    assert drain(box, 0.0) == ["m0", "m1", "m2"]  # one below the burst
    item, wait = box.next_ready(0.0)
    assert item is None and 1.0 < wait < 1.2  # a little slower than one a second
    assert drain(box, 1.2) == ["m3"]


def test_requeue_sends_unconfirmed_again_in_order() -> None:
    box = Outbox(0.0)
    for i in range(3):
        box.add(Outgoing(f"id{i}", f"m{i}"))
    drain(box, 0.0)
    box.confirm("id0")
    box.requeue_all()
    assert drain(box, 0.0) == ["m1", "m2"]


def test_defer_waits_then_resends_first() -> None:
    box = Outbox(0.0)
    box.add(Outgoing("a", "first"))
    box.add(Outgoing("b", "second"))
    assert drain(box, 0.0) == ["first", "second"]
    box.defer("a", 2.0, 0.0)
    item, wait = box.next_ready(1.0)
    assert item is None and wait == 1.0
    assert drain(box, 2.0) == ["first"]


def test_asking_again_after_the_wait_finds_the_message_ready() -> None:
    box = Outbox()
    box.pace_for(Limits(message_burst=4, messages_per_minute=60), 0.0)
    for i in range(20):
        box.add(Outgoing(f"id{i}", f"m{i}"))
    now, sent = 0.0, drain(box, 0.0)
    while len(sent) < 20:  # waiting exactly as told never comes back empty-handed
        item, wait = box.next_ready(now)
        assert item is None
        now += wait
        item, _ = box.next_ready(now)
        assert item is not None
        sent.append(item.text)
    assert sent == [f"m{i}" for i in range(20)]


def test_membership_is_by_client_id_until_confirmed() -> None:
    box = Outbox()
    box.add(Outgoing("a", "first"))
    assert "a" in box and "b" not in box
    box.confirm("a")
    assert "a" not in box
