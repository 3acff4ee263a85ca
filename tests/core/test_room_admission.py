"""What an attacker on the LAN tried, on plain values: guessing, ban evasion, join floods,
resume floods and stolen session tokens. Each test fails on the room as it was before."""

from __future__ import annotations

import pytest

# spake2 0.9 ships no type hints (no py.typed).
from spake2 import ed25519_basic  # type: ignore[import-untyped]

from core.admission import AdmissionRules, address_key, network_key
from core.pake import encode_b64url
from core.protocol import (
    AUTH_SPAKE2,
    BanList,
    CloseCode,
    ErrorMessage,
    MessagePosted,
    ParticipantLeft,
    ParticipantStatusChanged,
    TypingChanged,
    Welcome,
)
from core.room import RoomConfig
from tests.core.room_harness import Harness, Peer, welcome_of


def joined(peer: Peer) -> bool:
    return bool(peer.of(Welcome)) and peer.closed is None


@pytest.mark.parametrize(
    ("address", "exact", "network"),
    [
        ("10.0.0.5", "10.0.0.5", None),
        ("::ffff:10.0.0.5", "10.0.0.5", None),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:1:2:3", "2001:db8:1:2:ffff:1:2:3", "2001:db8:1:2::/64"),
        ("fe80::1%eth0", "fe80::1", "fe80::/10"),  # a machine adds link-local ones at will
        ("fe80::99", "fe80::99", "fe80::/10"),
        ("not an address", "not an address", None),
    ],
)
def test_addresses_count_alone_and_ipv6_also_by_network(
    address: str, exact: str, network: str | None
) -> None:
    assert address_key(address) == exact
    assert network_key(address) == network


# ----------------------------------------------------------------- room-code guessing


def test_guesses_from_many_addresses_of_one_64_count_together() -> None:
    rules = AdmissionRules(room_failed_auth_burst=1000)  # this test is about the /64 alone
    h = Harness(password="pw", admission=rules)
    for i in range(rules.failed_auth_limit):  # a /64 guesses as much as one address
        h.join("Eve", address=f"2001:db8::{i + 1:x}", password="nope")
    blocked = h.join("Eve", address="2001:db8::ffff", password="pw")
    assert blocked.last_error().code == "too_many_attempts"
    assert blocked.last_error().retry_after is not None
    assert joined(h.join("Sam", address="2001:db8:0:1::5", password="pw"))  # the next /64


def test_guesses_from_many_link_local_addresses_count_together() -> None:
    rules = AdmissionRules(room_failed_auth_burst=1000)
    h = Harness(password="pw", admission=rules)
    for i in range(rules.failed_auth_limit):
        h.join("Eve", address=f"fe80::{i + 1:x}", password="nope")
    assert h.join("Eve", address="fe80::ffff", password="pw").last_error().code == (
        "too_many_attempts"
    )


def test_no_arrangement_of_addresses_buys_more_than_a_few_dozen_guesses_a_minute() -> None:
    h = Harness(password="right")
    checked = 0
    for i in range(300):  # 300 different /64s, one guess each, all within one minute
        peer = h.join("Eve", address=f"2001:db8:{i:x}::1", password=f"guess{i}")
        h.clock.now += 0.2
        if peer.last_error().code == "auth_failed":
            checked += 1
    assert checked <= 45, f"{checked} guesses were checked in one minute"
    # The host's own machine is never locked out by a LAN attacker.
    assert joined(h.join("Hana", address="127.0.0.1", host_key="HOSTKEY", password="right"))


def test_one_64_cannot_spend_the_room_wide_budget_and_lock_new_guests_out() -> None:
    """Before, a /64 was allowed 8 x 5 guesses a minute: more than the room-wide 24, so one
    machine rotating its IPv6 addresses kept every new guest out for as long as it liked."""
    h = Harness(password="right")
    answered = 0
    for minute in range(10):
        for i in range(40):  # a guess a second, a fresh address of one /64 for each
            eve = h.join("Eve", address=f"2001:db8::{minute:x}:{i + 1:x}", password="nope")
            answered += eve.last_error().code == "auth_failed"
            h.drop(eve)
            h.clock.now += 1.0
        sam = h.join(f"Sam{minute}", address=f"192.168.1.{60 + minute}", password="right")
        assert joined(sam), f"minute {minute}: {sam.last_error().message}"
    # 400 seconds: at most 7 windows of a minute, each with one address's allowance.
    assert answered <= 7 * h.room.config.admission.failed_auth_limit


def test_all_of_loopback_guesses_as_one_address() -> None:
    """A local process may connect from any of 127.0.0.0/8 (and ::1): before, each address
    was allowed its own guesses and all were spared the room-wide budget, so such a process
    could guess without limit."""
    h = Harness(password="right")
    limit = h.room.config.admission.failed_auth_limit
    answered = 0
    for i in range(600):  # 600 guesses in one minute from 120 loopback addresses, and ::1
        address = "::1" if i % 7 == 0 else f"127.0.{i // 250}.{2 + i % 250}"
        eve = h.join("Eve", address=address, password=f"{i:08d}")
        answered += eve.last_error().code == "auth_failed"
        h.drop(eve)
        h.clock.now += 0.1
    assert answered == limit
    # Loopback has spent only its own allowance: the LAN's guests are not held back...
    assert joined(h.join("Sam", address="10.0.0.7", password="right"))
    # ...and the host's app is let in again once the window has passed.
    h.clock.now += h.room.config.admission.failed_auth_window
    assert joined(h.join("Hana", address="127.0.0.1", host_key="HOSTKEY", password="right"))


def test_a_message_that_is_no_point_counts_as_a_guess() -> None:
    """Checking that a message is a point of the right group costs the room about as much
    as answering it (about a millisecond): before, such messages were free to send."""
    h = Harness(password="right")
    limit = h.room.config.admission.failed_auth_limit
    mixed_order = _mixed_order_point()
    codes = []
    for message in [mixed_order, "AAAA"] * limit:  # no point; too short
        eve = h.connect("10.0.0.66")
        h.send(eve, type="auth_start", method=AUTH_SPAKE2, message=message)
        codes.append(eve.last_error().code)
        h.drop(eve)
    assert codes[:limit] == ["bad_message"] * limit
    assert set(codes[limit:]) == {"too_many_attempts"}
    assert joined(h.join("Sam", address="10.0.0.7", password="right"))


def _mixed_order_point() -> str:
    """An ``auth_start`` message that is a curve point but not of the prime-order group: the
    base point plus a point of order 2, which only the costly subgroup check finds out."""
    order_two = ed25519_basic.ElementOfUnknownGroup(
        ed25519_basic.xform_affine_to_extended((0, ed25519_basic.Q - 1))
    )
    mixed = ed25519_basic.Base.add(order_two)
    point = ed25519_basic.ElementOfUnknownGroup(mixed.XYTZ).to_bytes()
    return encode_b64url(b"A" + point)


def test_the_room_lets_guests_in_again_once_the_guessing_stops() -> None:
    h = Harness(password="right")
    for i in range(60):
        h.join("Eve", address=f"10.9.{i}.1", password="wrong")
    h.clock.now += 120
    assert joined(h.join("Sam", address="10.0.0.7", password="right"))


# ----------------------------------------------------------------- bans


def test_a_ban_covers_the_whole_ipv6_64_and_every_address_the_person_used() -> None:
    h = Harness()
    host = h.host()
    eve = h.join("Eve", address="10.0.0.66")
    session = welcome_of(eve).session
    h.drop(eve)
    again = h.join("Eve", address="2001:db8::66", resume={"session": session, "last_seq": 0})
    assert welcome_of(again).resumed
    h.send(host, type="kick", participant=welcome_of(eve).you.id, ban=True)
    assert again.closed is not None and again.closed.code == CloseCode.BANNED
    for address in ("10.0.0.66", "2001:db8::1234", "2001:db8::66"):
        assert h.join("Eve", address=address).last_error().code == "banned", address
    assert joined(h.join("Sam", address="2001:db8:0:1::5"))  # the next /64 is someone else


# ----------------------------------------------------------------- join floods


def test_rejoining_as_new_participants_is_limited_per_address() -> None:
    h = Harness()
    h.host()
    refused = []
    for i in range(40):
        peer = h.join(f"Eve{i}", address="10.0.0.66")
        if not joined(peer):
            refused.append(peer.last_error().code)
        h.send(peer, type="leave")
        h.drop(peer)  # the socket closes after a leave or a refusal
    assert len(refused) >= 25
    assert set(refused) == {"too_many_attempts"}
    assert joined(h.join("Sam", address="10.0.0.7"))


def test_one_address_holds_a_bounded_number_of_places() -> None:
    h = Harness(admission=AdmissionRules(max_participants_per_address=3))
    peers = [h.join(f"Eve{i}", address="10.0.0.66") for i in range(3)]
    for peer in peers:
        h.drop(peer)  # reconnecting participants still hold their places
    extra = h.join("Eve3", address="10.0.0.66")
    assert extra.last_error().code == "too_many_connections"
    assert joined(h.join("Sam", address="10.0.0.7"))


def test_new_participants_from_one_address_share_one_message_budget() -> None:
    h = Harness(limits=RoomConfig(name="x").limits)  # the real default limits
    limits = h.room.config.limits
    posted = 0
    for i in range(6):
        peer = h.join(f"Eve{i}", address="10.0.0.66")
        for j in range(limits.message_burst):
            h.send(peer, type="send", id=f"{i}-{j}", text="spam")
            if not peer.of(ErrorMessage) or peer.last_error().ref != f"{i}-{j}":
                posted += 1
    assert posted <= 2 * limits.message_burst


# ----------------------------------------------------------------- resume floods


def test_quick_drop_and_resume_cycles_spend_no_history() -> None:
    h = Harness()
    host = h.host()
    sam = h.join("Sam", address="10.0.0.5")
    h.send(host, type="send", id="m1", text="remember me")
    session = welcome_of(sam).session
    last = welcome_of(sam).last_seq
    before = h.room.last_seq
    peer = sam
    for _ in range(5):
        h.drop(peer)
        h.clock.now += 1
        peer = h.join("Sam", address="10.0.0.5", resume={"session": session, "last_seq": last})
        session = welcome_of(peer).session
    assert h.room.last_seq == before
    assert not host.of(ParticipantStatusChanged)


def test_resumes_are_rate_limited_per_session() -> None:
    h = Harness()
    sam = h.join("Sam", address="10.0.0.5")
    session = welcome_of(sam).session
    codes = []
    for _ in range(20):
        h.drop(sam)
        sam = h.join("Sam", address="10.0.0.5", resume={"session": session, "last_seq": 0})
        if joined(sam):
            session = welcome_of(sam).session
        else:
            codes.append(sam.last_error().code)
    assert codes and set(codes) == {"flooding"}
    assert sam.closed is None or sam.closed.code == CloseCode.FLOODING


def test_an_away_participant_is_announced_after_a_moment() -> None:
    h = Harness()
    host = h.host()
    sam = h.join("Sam")
    h.drop(sam)
    h.tick(1)
    assert not host.of(ParticipantStatusChanged)
    assert [p.status for p in h.room.participants if p.name == "Sam"] == ["online"]
    h.tick(5)
    assert host.of(ParticipantStatusChanged)[-1].status == "reconnecting"
    again = h.join("Sam", resume={"session": welcome_of(sam).session, "last_seq": 0})
    assert welcome_of(again).resumed
    assert host.of(ParticipantStatusChanged)[-1].status == "online"


# ----------------------------------------------------------------- stolen session tokens


def test_a_sniffed_host_session_cannot_be_resumed_without_the_host_key() -> None:
    h = Harness()
    host = h.host()
    sam = h.join("Sam", address="10.0.0.5")
    stolen = welcome_of(host).session
    attacker = h.join("Hana", address="10.0.0.66", resume={"session": stolen, "last_seq": 0})
    assert attacker.closed is not None and attacker.closed.code == CloseCode.AUTH_FAILED
    assert not any(isinstance(m, Welcome) for m in attacker.inbox)
    assert host.closed is None
    h.send(host, type="kick", participant=welcome_of(sam).you.id)
    assert host.of(ParticipantLeft)[-1].reason == "kicked"  # the host still holds the room


def test_session_tokens_are_single_use() -> None:
    h = Harness()
    sam = h.join("Sam", address="10.0.0.5")
    first = welcome_of(sam).session
    h.drop(sam)
    again = h.join("Sam", address="10.0.0.5", resume={"session": first, "last_seq": 0})
    second = welcome_of(again).session
    assert second != first
    h.send(again, type="typing", active=True)  # the new token is in use
    h.drop(again)
    replayed = h.join("Sam", address="10.0.0.66", resume={"session": first, "last_seq": 0})
    assert not replayed.of(Welcome)
    told = replayed.last_error()
    assert told.code == "session_replaced" and "10.0.0.5" in told.message


def test_a_taken_over_session_is_told_and_marked_for_everyone() -> None:
    h = Harness()
    host = h.host()
    sam = h.join("Sam", address="10.0.0.5")
    w = welcome_of(sam)
    thief = h.join("Sam", address="10.0.0.66", resume={"session": w.session, "last_seq": 0})
    assert welcome_of(thief).resumed
    assert sam.closed is not None and sam.closed.code == CloseCode.SESSION_REPLACED
    told = sam.last_error()
    assert told.code == "session_replaced" and "10.0.0.66" in told.message
    status = host.of(ParticipantStatusChanged)[-1]
    assert status.participant == w.you.id and status.moved
    assert [p.moved for p in h.room.participants if p.id == w.you.id] == [True]


def test_a_session_continued_from_the_same_address_is_not_marked() -> None:
    h = Harness()
    host = h.host()
    sam = h.join("Sam", address="10.0.0.5")
    w = welcome_of(sam)
    again = h.join("Sam", address="10.0.0.5", resume={"session": w.session, "last_seq": 0})
    assert welcome_of(again).resumed and not welcome_of(again).you.moved
    assert not host.of(ParticipantStatusChanged)


# ----------------------------------------------------------------- hostile strings


@pytest.mark.parametrize(
    "frame",
    [
        '{"type":"send","id":"\\udc00","text":"hi"}',
        '{"type":"send","id":"ok","text":"\\ud800"}',
        '{"type":"configure_assistant","mode":"mention","persona":"\\udfff"}',
    ],
)
def test_a_lone_surrogate_is_refused_and_the_room_carries_on(frame: str) -> None:
    h = Harness()
    host = h.host()
    sam = h.join("Sam")
    before = h.room.last_seq
    h.apply(h.room.receive(sam.conn, frame))
    assert sam.last_error().code == "bad_message"
    assert h.room.last_seq == before  # no event was numbered and lost
    h.send(sam, type="send", id="after", text="still here")
    assert host.of(MessagePosted)[-1].text == "still here"
    assert joined(h.join("Bob"))


def test_a_surrogate_in_the_host_proof_is_refused_before_joining() -> None:
    h = Harness()
    peer = h.connect("127.0.0.1")
    h.apply(
        h.room.receive(
            peer.conn, '{"type":"hello","protocol":2,"name":"Hana","host_proof":"\\udc00"}'
        )
    )
    assert peer.last_error().code == "bad_message"
    assert joined(h.host())


@pytest.mark.parametrize("name", ["x" * 41, "a\u202eb", "   ", "tab\tname\x07"])
def test_a_room_name_outside_the_rules_is_refused_when_the_room_is_made(name: str) -> None:
    with pytest.raises(ValueError, match="room name"):
        RoomConfig(name=name)


def test_a_room_name_is_normalised_once_for_everyone() -> None:
    assert RoomConfig(name="  Team   lunch ").name == "Team lunch"


def test_the_room_forgets_addresses_that_no_longer_limit_anyone() -> None:
    h = Harness(password="pw")
    for i in range(300):  # slowly enough that every guess is checked and remembered
        h.join("Eve", address=f"2001:db8:{i:x}::1", password="nope")
        h.clock.now += 3
    assert h.room._admission.tracked_keys() >= 250
    h.tick(600)
    assert h.room._admission.tracked_keys() == 0


def test_the_host_sees_the_bans_and_can_lift_one() -> None:
    h = Harness()
    host = h.host()
    eve = h.join("Eve", address="10.0.0.66")
    h.send(host, type="kick", participant=welcome_of(eve).you.id, ban=True)
    bans = host.of(BanList)[-1].bans
    assert [b.name for b in bans] == ["Eve"]
    assert h.join("Eve", address="10.0.0.66").last_error().code == "banned"
    sam = h.join("Sam", address="10.0.0.5")
    h.send(sam, type="unban", ban=bans[0].id)
    assert sam.last_error().code == "not_allowed"  # only the host
    h.send(host, type="unban", ban=bans[0].id)
    assert host.of(BanList)[-1].bans == ()
    assert joined(h.join("Eve", address="10.0.0.66"))
    assert not sam.of(BanList)  # guests never see who is banned


# ----------------------------------------------------------------- found in review


def test_private_history_cannot_be_read_by_resuming_from_the_start() -> None:
    h = Harness(share_history=False)
    host = h.host()
    h.send(host, type="send", id="m1", text="before Sam came")
    sam = h.join("Sam", address="10.0.0.5")
    h.drop(sam)
    again = h.join(
        "Sam", address="10.0.0.5", resume={"session": welcome_of(sam).session, "last_seq": 0}
    )
    assert welcome_of(again).resumed
    assert "before Sam came" not in [m.text for m in again.of(MessagePosted)]


def test_many_link_local_addresses_of_one_machine_share_its_places() -> None:
    h = Harness()
    h.host()
    rules = h.room.config.admission
    places = rules.max_participants_per_address * rules.network_factor
    peers = [h.join(f"Eve{i}", address=f"fe80::{i + 1:x}") for i in range(places + 5)]
    assert sum(joined(p) for p in peers) <= places


def test_the_host_and_resuming_guests_are_not_held_up_by_others_guessing() -> None:
    h = Harness(password="pw")
    host = h.join("Hana", address="192.168.1.10", host_key="HOSTKEY", password="pw")
    sam = h.join("Sam", address="10.0.0.5", password="pw")
    for i in range(60):  # the room-wide guessing budget is spent
        h.join("Eve", address=f"10.9.{i}.1", password="wrong")
    assert h.join("New", address="10.0.0.8", password="pw").last_error().code == (
        "too_many_attempts"
    )
    h.drop(host)
    h.drop(sam)
    back = h.join("Hana", address="192.168.1.10", host_key="HOSTKEY", password="pw",
                  resume={"session": welcome_of(host).session, "last_seq": 0})  # fmt: skip
    assert welcome_of(back).resumed and welcome_of(back).you.role == "host"
    again = h.join("Sam", address="10.0.0.5", password="pw",
                   resume={"session": welcome_of(sam).session, "last_seq": 0})  # fmt: skip
    assert welcome_of(again).resumed


def test_a_session_taken_while_its_owner_was_away_is_marked_and_the_owner_told() -> None:
    h = Harness()
    host = h.host()
    vic = h.join("Vic", address="10.0.0.5")
    w = welcome_of(vic)
    h.drop(vic)  # asleep
    thief = h.join("Vic", address="10.0.0.66", resume={"session": w.session, "last_seq": 0})
    assert welcome_of(thief).resumed and welcome_of(thief).you.moved
    assert host.of(ParticipantStatusChanged)[-1].moved
    h.send(thief, type="send", id="t1", text="hi from the thief")
    woke = h.join("Vic", address="10.0.0.5", resume={"session": w.session, "last_seq": 0})
    assert not woke.of(Welcome)  # not silently a new "Vic (2)"
    assert woke.last_error().code == "session_replaced" and "10.0.0.66" in woke.last_error().message


def test_a_lost_welcome_does_not_cost_the_participant_its_place() -> None:
    h = Harness()
    h.host()
    sam = h.join("Sam", address="10.0.0.5")
    first = welcome_of(sam).session
    h.drop(sam)
    lost = h.join("Sam", address="10.0.0.5", resume={"session": first, "last_seq": 0})
    assert welcome_of(lost).resumed
    h.drop(lost)  # the connection died before Sam's app read that welcome
    again = h.join("Sam", address="10.0.0.5", resume={"session": first, "last_seq": 0})
    assert welcome_of(again).resumed and welcome_of(again).you.id == welcome_of(sam).you.id
    h.send(again, type="send", id="c1", text="once")
    h.send(again, type="send", id="c1", text="once")
    assert [m.text for m in h.room.history if isinstance(m, MessagePosted)] == ["once"]


def test_a_ban_keeps_every_address_and_the_same_machines_other_places() -> None:
    h = Harness()
    host = h.host()
    eve = h.join("Eve", address="192.168.1.50")
    twin = h.join("Eve's twin", address="192.168.1.50")
    session = welcome_of(eve).session
    for i in range(20):  # many addresses of one /64 fill nothing up
        h.drop(eve)
        h.clock.now += 10
        eve = h.join(
            "Eve", address=f"2001:db8::{i + 1:x}", resume={"session": session, "last_seq": 0}
        )
        session = welcome_of(eve).session
    h.drop(eve)
    h.clock.now += 10
    eve = h.join("Eve", address="192.168.1.51", resume={"session": session, "last_seq": 0})
    h.send(host, type="kick", participant=welcome_of(eve).you.id, ban=True)
    assert twin.closed is not None and twin.closed.code == CloseCode.BANNED
    for address in ("192.168.1.50", "192.168.1.51", "2001:db8::77"):
        assert h.join("Eve", address=address).last_error().code == "banned", address


def test_alternating_typing_notices_are_still_limited() -> None:
    h = Harness()
    host = h.host()
    sam = h.join("Sam")
    for _ in range(20):
        h.send(sam, type="typing", active=True)
        h.send(sam, type="typing", active=False)
        h.clock.now += 0.1
    shown = [m for m in host.of(TypingChanged) if m.active]
    assert len(shown) == 1  # 2 s passed: one notice
