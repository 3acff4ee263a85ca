"""Replies, edits, deletions and reactions in the room, on plain values (see
``core/message_actions.py``): who may do what, what history keeps, what old clients read,
what the assistant is shown, and the bounds on reactions."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.ai.context import build_messages
from core.ai.desk import AnswerOutcome, AssistantConfig
from core.ai.tokens import TokenCounter
from core.message_actions import ABILITY, DELETED_TEXT
from core.protocol import (
    AnswerFinished,
    AnswerStarted,
    AssistantStateChanged,
    ErrorMessage,
    Limits,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    Notice,
    ReactionChanged,
)
from core.room import Deliberate
from core.text_rules import TextRejected, clean_reaction
from tests.core.room_harness import Harness, Peer, welcome_of
from tests.core.test_room_assistant import answer, assistant_room, starts

NEW: dict[str, Any] = {"abilities": [ABILITY]}


def post(h: Harness, peer: Peer, text: str, **extra: Any) -> MessagePosted:
    h.send(peer, type="send", id=f"m{len(peer.inbox)}", text=text, **extra)
    posted: MessagePosted = peer.of(MessagePosted)[-1]
    assert posted.text == text
    return posted


def texts_in_history(h: Harness) -> str:
    """Every text the room holds in its history, as one string."""
    return repr(h.room.history)


def test_reply_carries_a_quote_of_what_it_answers() -> None:
    h = Harness()
    sam, bob = h.join("Sam", **NEW), h.join("Bob", **NEW)
    first = post(h, sam, "Shall we order pizza? " + "x" * 300)
    reply = post(h, bob, "Yes please", reply_to=first.seq)
    assert reply.reply_to is not None
    assert reply.reply_to.message == first.seq
    assert (reply.reply_to.kind, reply.reply_to.author_name) == ("message", "Sam")
    assert reply.reply_to.text.startswith("Shall we order pizza?")
    assert len(reply.reply_to.text) <= 200 and reply.reply_to.text.endswith("…")
    assert sam.of(MessagePosted)[-1] == reply  # everyone sees the same quote


def test_reply_to_nothing_known_is_refused_and_names_the_send() -> None:
    h = Harness()
    sam = h.join("Sam", **NEW)
    h.send(sam, type="send", id="r1", text="hm", reply_to=999)
    error = sam.last_error()
    assert (error.code, error.ref) == ("unknown_message", "r1")
    h.send(sam, type="send", id="r2", text="hm", reply_to=10**40)
    assert sam.last_error().code == "bad_message"  # a number too long for the wire


def test_edit_within_the_window_changes_the_message_for_everyone_and_late_joiners() -> None:
    h = Harness()
    sam, bob = h.join("Sam", **NEW), h.join("Bob", **NEW)
    posted = post(h, sam, "See you at 5")
    h.clock.now += 60
    h.send(sam, type="edit", message=posted.seq, text="See you at 6")
    edited = bob.of(MessageEdited)[-1]
    assert (edited.message, edited.text, edited.previous) == (
        posted.seq,
        "See you at 6",
        "See you at 5",
    )
    late = h.join("Late", **NEW)
    replayed = {m.seq: m for m in late.of(MessagePosted)}
    assert replayed[posted.seq].text == "See you at 6"
    assert replayed[posted.seq].edited == h.clock.now
    assert late.of(MessageEdited)[-1].previous == "See you at 5"  # the hover still works


def test_edit_rules_own_message_window_and_unchanged_text() -> None:
    h = Harness(limits=Limits(message_burst=1000, messages_per_minute=60_000, edit_window=120))
    host, sam = h.host(), h.join("Sam", **NEW)
    posted = post(h, sam, "typo hre")
    h.send(host, type="edit", message=posted.seq, text="not yours")
    assert host.last_error().code == "not_allowed"  # not even the host edits others
    h.send(sam, type="edit", message=posted.seq, text="typo hre")
    assert sam.last_error().code == "invalid_value"
    h.send(sam, type="edit", message=posted.seq, text="   ")
    assert sam.last_error().code == "empty_text"
    h.clock.now += 121
    h.send(sam, type="edit", message=posted.seq, text="typo here")
    error = sam.last_error()
    assert error.code == "edit_window_closed" and "2 minutes" in error.message
    assert not sam.of(MessageEdited)


def test_delete_leaves_no_text_in_history_for_anyone_later() -> None:
    h = Harness()
    host, sam, bob = h.host(), h.join("Sam", **NEW), h.join("Bob", **NEW)
    secret = post(h, sam, "my password is hunter2")
    h.send(sam, type="edit", message=secret.seq, text="my password is hunter3")
    quoting = post(h, bob, "wait what", reply_to=secret.seq)
    assert quoting.reply_to is not None and "hunter2" not in quoting.reply_to.text
    h.send(bob, type="delete", message=secret.seq)
    assert bob.last_error().code == "not_allowed"
    h.send(sam, type="delete", message=secret.seq)
    deleted = bob.of(MessageDeleted)[-1]
    assert (deleted.message, deleted.by_name) == (secret.seq, "Sam")
    assert "hunter" not in texts_in_history(h)
    late = h.join("Late", **NEW)
    assert "hunter" not in repr(late.inbox)
    replayed = {m.seq: m for m in late.of(MessagePosted)}
    assert replayed[secret.seq].deleted and replayed[secret.seq].text == ""
    quote = replayed[quoting.seq].reply_to
    assert quote is not None and quote.deleted and quote.text == ""
    # Gone is gone: no edit, reply or reaction to it.
    h.send(sam, type="edit", message=secret.seq, text="again")
    assert sam.last_error().code == "unknown_message"
    h.send(bob, type="react", message=secret.seq, emoji="👍")
    assert bob.last_error().code == "unknown_message"
    # The host may delete anyone's message.
    other = post(h, bob, "off topic")
    h.send(host, type="delete", message=other.seq)
    assert sam.of(MessageDeleted)[-1].by_name == "Hana"


def test_a_client_away_gets_the_edit_and_the_delete_exactly_once_on_resume() -> None:
    h = Harness()
    sam, bob = h.join("Sam", **NEW), h.join("Bob", **NEW)
    posted = post(h, sam, "first")
    session, last = welcome_of(bob).session, bob.of(MessagePosted)[-1].seq
    h.drop(bob)
    h.send(sam, type="edit", message=posted.seq, text="second")
    h.send(sam, type="react", message=posted.seq, emoji="🎉")
    h.send(sam, type="delete", message=posted.seq)
    back = h.join("Bob", resume={"session": session, "last_seq": last}, **NEW)
    kinds = [type(m).__name__ for m in back.inbox if hasattr(m, "seq") and m.seq > last]
    assert kinds.count("MessageEdited") == 1 and kinds.count("MessageDeleted") == 1
    assert kinds.count("ReactionChanged") == 1
    assert "first" not in repr(back.inbox) and "second" not in repr(back.inbox)


def test_reactions_count_and_toggle_and_repeats_change_nothing() -> None:
    h = Harness()
    sam, bob = h.join("Sam", **NEW), h.join("Bob", **NEW)
    posted = post(h, sam, "lunch?")
    for who in (sam, bob):
        h.send(who, type="react", message=posted.seq, emoji="👍")
    h.send(bob, type="react", message=posted.seq, emoji="👍")  # a repeat: no event
    events = sam.of(ReactionChanged)
    assert [(e.name, e.emoji, e.active) for e in events] == [
        ("Sam", "👍", True),
        ("Bob", "👍", True),
    ]
    h.send(bob, type="react", message=posted.seq, emoji="👍", active=False)
    assert sam.of(ReactionChanged)[-1].active is False
    h.send(bob, type="react", message=posted.seq, emoji="thumbs up")
    assert bob.last_error().code == "invalid_value"


def test_a_reaction_flood_is_bounded_per_message_and_by_the_message_rate() -> None:
    h = Harness(
        limits=Limits(message_burst=1000, messages_per_minute=60_000, max_reaction_kinds=5,
                      max_reactions_each=3)
    )  # fmt: skip
    sam = h.join("Sam", **NEW)
    people = [h.join(f"P{i}", address=f"10.0.1.{i}", **NEW) for i in range(4)]
    posted = post(h, sam, "react to me")
    emoji = ["😀", "😁", "😂", "🤣", "😃", "😄", "😅"]
    for person in people:
        for e in emoji:
            h.send(person, type="react", message=posted.seq, emoji=e)
    assert len(h.room._actions.reactions(posted.seq)) <= 5
    assert h.room._actions.reactions_held <= 4 * 3
    assert people[0].last_error().code == "too_many_reactions"
    # Reactions count against the message rate like messages.
    slow = Harness(limits=Limits(message_burst=3, messages_per_minute=60))
    bob = slow.join("Bob", **NEW)
    target = post(slow, bob, "hi")
    for e in emoji:
        slow.send(bob, type="react", message=target.seq, emoji=e)
    assert bob.last_error().code == "rate_limited"


def test_reactions_on_messages_that_left_history_are_forgotten() -> None:
    h = Harness(history_capacity=20, history_on_join=10)
    sam = h.join("Sam", **NEW)
    first = post(h, sam, "old")
    h.send(sam, type="react", message=first.seq, emoji="👍")
    for i in range(30):
        post(h, sam, f"filler {i}")
    last = post(h, sam, "new")
    h.send(sam, type="react", message=last.seq, emoji="👍")
    assert h.room._actions.reactions(first.seq) == {}
    h.send(sam, type="react", message=first.seq, emoji="🎉")
    assert sam.last_error().code == "unknown_message"


def test_old_clients_get_plain_text_notices_with_the_same_seq() -> None:
    h = Harness()
    sam, old = h.join("Sam", **NEW), h.join("Old")  # no ability: an older client
    posted = post(h, sam, "hello")
    h.send(sam, type="edit", message=posted.seq, text="hello all")
    h.send(sam, type="react", message=posted.seq, emoji="👋")
    h.send(sam, type="delete", message=posted.seq)
    notices = old.of(Notice)
    assert [n.code for n in notices] == ["message_edited", "reaction", "message_deleted"]
    assert notices[0].text == "Sam edited a message: hello all"
    assert notices[2].text == "Sam deleted a message."
    assert [n.seq for n in notices] == [e.seq for e in sam.inbox if isinstance(
        e, MessageEdited | ReactionChanged | MessageDeleted)]  # fmt: skip
    assert not old.of(MessageEdited) and not old.of(ReactionChanged)
    late_old = h.join("Older")
    replayed = {m.seq: m for m in late_old.of(MessagePosted)}
    assert replayed[posted.seq].text == DELETED_TEXT


def test_without_shared_history_nobody_reaches_back_before_they_joined() -> None:
    h = Harness(share_history=False)
    sam = h.join("Sam", **NEW)
    before = post(h, sam, "before you came")
    bob = h.join("Bob", **NEW)
    h.send(bob, type="send", id="q", text="what was that?", reply_to=before.seq)
    assert bob.last_error().code == "unknown_message"
    assert "before you came" not in repr(bob.inbox)
    h.send(bob, type="react", message=before.seq, emoji="👀")
    assert bob.last_error().code == "unknown_message"


def prompt_text(h: Harness) -> str:
    start = starts(h)[-1]
    messages = build_messages(start.job, TokenCounter("gpt-4o-mini", "cloud"), 100_000)
    return repr(messages)


def test_the_assistant_reads_the_quoted_message_even_when_it_is_old() -> None:
    h = assistant_room()
    sam = h.join("Sam", **NEW)
    old = post(h, sam, "The venue is the red barn on Elm Street.")
    for i in range(5):
        post(h, sam, f"chatter {i}")
    post(h, sam, "@assistant where is it?", reply_to=old.seq)
    start = starts(h)[-1]
    assert start.job.quoted is not None
    assert "red barn on Elm Street" in start.job.quoted.text
    # Even with a budget that leaves out the old turns, the quote goes with the question.
    tight = build_messages(start.job, TokenCounter("gpt-4o-mini", "cloud"), 400)
    assert "red barn" in tight[-1]["content"]
    assert "replying to Sam's message" in str(tight[-1]["content"])


def test_a_follow_up_to_an_answer_quotes_the_answer() -> None:
    h = assistant_room()
    sam = h.join("Sam", **NEW)
    post(h, sam, "@assistant capital of France?")
    answer(h, starts(h)[-1].job.answer_id, "Paris.")
    started = sam.of(AnswerStarted)[-1]
    post(h, sam, "@assistant and its population?", reply_to=started.seq)
    quote = sam.of(MessagePosted)[-1].reply_to
    assert quote is not None and (quote.kind, quote.text) == ("answer", "Paris.")
    assert "replying to your earlier reply" in prompt_text(h)


def test_edits_are_read_by_later_answers_and_regenerate_but_not_by_the_first() -> None:
    h = assistant_room()
    sam = h.join("Sam", **NEW)
    question = post(h, sam, "@assistant what is 2+2?")
    first = starts(h)[-1].job.answer_id
    answer(h, first, "4")
    h.send(sam, type="edit", message=question.seq, text="@assistant what is 3+3?")
    assert len(starts(h)) == 1  # an edit asks nothing by itself
    assert sam.of(AnswerFinished)[-1].text == "4"  # the answer stays as it was
    h.send(sam, type="regenerate", answer=first)
    assert starts(h)[-1].job.request.text == "@assistant what is 3+3?"


def test_deleted_messages_leave_the_assistants_context_and_queue() -> None:
    h = assistant_room()
    host, sam, bob = h.host(), h.join("Sam", **NEW), h.join("Bob", **NEW)
    secret = post(h, sam, "my card number is 4111 1111 1111 1111")
    post(h, sam, "@assistant hello")
    busy = starts(h)[-1].job.answer_id
    waiting = post(h, bob, "@assistant and me? 4111")
    h.send(bob, type="delete", message=waiting.seq)
    state = bob.of(AssistantStateChanged)[-1].state
    assert state.waiting == ()  # the deleted question no longer waits
    h.send(sam, type="delete", message=secret.seq)
    answer(h, busy, "Hi!")
    post(h, sam, "@assistant what did I say?")
    assert "4111" not in prompt_text(h)
    # Regenerating an answer whose question was deleted is refused.
    h.send(host, type="delete", message=sam.of(MessagePosted)[-1].seq)
    later = starts(h)[-1].job.answer_id
    answer(h, later, "Nothing.")
    h.send(sam, type="regenerate", answer=later)
    assert sam.last_error().code == "unknown_message"


def test_the_host_may_delete_a_finished_answer_and_nobody_else() -> None:
    h = assistant_room()
    host, sam = h.host(), h.join("Sam", **NEW)
    post(h, sam, "@assistant tell a joke")
    answer_id = starts(h)[-1].job.answer_id
    started = sam.of(AnswerStarted)[-1]
    h.send(sam, type="delete", message=started.seq)
    assert sam.last_error().code == "not_allowed"
    h.send(host, type="delete", message=started.seq)
    assert host.last_error().code == "invalid_value"  # still being written
    answer(h, answer_id, "An embarrassing joke.")
    h.send(host, type="delete", message=started.seq)
    assert sam.of(MessageDeleted)[-1].message == started.seq
    assert "embarrassing" not in texts_in_history(h)
    post(h, sam, "@assistant another")
    assert "embarrassing" not in prompt_text(h)


@pytest.mark.parametrize("emoji", ["👍", "❤️", "👩🏽‍💻", "🇫🇷", "1️⃣", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "🫠"])
def test_any_single_emoji_is_a_reaction(emoji: str) -> None:
    assert clean_reaction(emoji) == emoji


@pytest.mark.parametrize(
    "text", ["1", "#", "a", "👍👍", "👍 ", "", "\u200d", "🇫", "x\u20e3", "\u202e👍", "👍\ud800"]
)
def test_anything_but_one_emoji_is_not_a_reaction(text: str) -> None:
    with pytest.raises(TextRejected):
        clean_reaction(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=12))
def test_reaction_check_never_raises_anything_else_and_has_one_form(text: str) -> None:
    try:
        cleaned = clean_reaction(text)
    except TextRejected as exc:
        assert exc.code == "invalid_value"
        return
    assert clean_reaction(cleaned) == cleaned
    assert clean_reaction(cleaned.replace("\ufe0f", "")) == cleaned


@pytest.mark.parametrize(
    ("typed", "kept"),
    [("👍\ufe0f", "👍"), ("❤", "❤\ufe0f"), ("1\u20e3", "1\ufe0f\u20e3"), ("©", "©\ufe0f")],
)
def test_a_reaction_is_kept_in_its_one_written_form(typed: str, kept: str) -> None:
    assert clean_reaction(typed) == kept


@pytest.mark.parametrize(
    "text", ["👍🏽🏽", "🏽", "👍\U000e0041", "👍\U000e0041\U000e007f", "a\u200d👍"]
)
def test_nothing_invisible_rides_along_with_a_reaction(text: str) -> None:
    with pytest.raises(TextRejected):
        clean_reaction(text)


def test_two_spellings_of_one_emoji_are_one_reaction() -> None:
    h = Harness()
    sam, bob = h.join("Sam", **NEW), h.join("Bob", **NEW)
    posted = post(h, sam, "hearts?")
    h.send(sam, type="react", message=posted.seq, emoji="❤")
    h.send(bob, type="react", message=posted.seq, emoji="❤\ufe0f")
    assert h.room._actions.reactions(posted.seq) == {
        "❤\ufe0f": (sam.of(MessagePosted)[-1].author, bob.of(ReactionChanged)[-1].participant)
    }


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["send", "reply", "edit", "delete", "react", "unreact"]),
                  st.integers(0, 2), st.integers(1, 40)),
        max_size=40,
    )
)  # fmt: skip
def test_any_sequence_of_actions_keeps_history_ordered_and_deleted_text_gone(
    steps: list[tuple[str, int, int]],
) -> None:
    """Property: whatever people do, history stays in seq order, a late joiner's replay
    matches history, and no deleted message's words survive anywhere in it."""
    h = Harness()
    people = [h.join(n, address=f"10.0.0.{i + 2}", **NEW) for i, n in enumerate("ABC")]
    for n, (kind, who, target) in enumerate(steps):
        peer = people[who]
        match kind:
            case "send" | "reply":
                extra = {"reply_to": target} if kind == "reply" else {}
                h.send(peer, type="send", id=f"id{n}", text=f"say w{n}", **extra)
            case "edit":
                h.send(peer, type="edit", message=target, text=f"edit w{n}")
            case "delete":
                h.send(peer, type="delete", message=target)
            case "react" | "unreact":
                h.send(peer, type="react", message=target, emoji="👍", active=kind == "react")
    history = h.room.history
    seqs = [e.seq for e in history]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    gone = {e.message for e in history if isinstance(e, MessageDeleted)}
    for event in history:
        if isinstance(event, MessagePosted):
            assert event.deleted == (event.seq in gone)
            if event.deleted:
                assert event.text == "" and event.edited is None
            if event.reply_to is not None and event.reply_to.message in gone:
                assert event.reply_to.text == "" and event.reply_to.deleted
        if isinstance(event, MessageEdited) and event.message in gone:
            assert event.text == event.previous == ""
    late = h.join("Late", address="10.0.0.9", **NEW)
    replayed = [m for m in late.inbox if hasattr(m, "seq")]
    assert replayed == list(h.room.history)[-len(replayed) :]
    assert not late.of(ErrorMessage)


# ------------------------------------------------------------- found in review


def test_without_shared_history_edits_replies_and_reactions_of_earlier_messages_stay_hidden() -> (
    None
):
    h = Harness(share_history=False)
    sam = h.join("Sam", **NEW)
    before = post(h, sam, "what we said before you came")
    bob = h.join("Bob", **NEW)
    session = welcome_of(bob).session
    h.send(sam, type="edit", message=before.seq, text="still before you came")
    h.send(sam, type="react", message=before.seq, emoji="👀")
    post(h, sam, "as I said", reply_to=before.seq)
    h.drop(bob)
    h.send(sam, type="edit", message=before.seq, text="even more before you came")
    back = h.join("Bob", resume={"session": session, "last_seq": 0}, **NEW)
    for peer in (bob, back):
        assert "before you came" not in repr(peer.inbox)
        assert not peer.of(MessageEdited) and not peer.of(ReactionChanged)
    reply = bob.of(MessagePosted)[-1]
    assert reply.text == "as I said" and reply.reply_to is not None
    assert (reply.reply_to.author_name, reply.reply_to.text) == ("Sam", "")
    assert "before you came" in sam.of(MessageEdited)[-1].previous  # Sam saw it all along


def test_a_flood_of_reactions_does_not_push_the_conversation_out_of_history() -> None:
    h = Harness(history_capacity=20, history_on_join=20)
    sam = h.join("Sam", **NEW)
    words = [post(h, sam, f"message {i}") for i in range(5)]
    for _ in range(40):
        for active in (True, False):
            h.send(sam, type="react", message=words[0].seq, emoji="👍", active=active)
    late = h.join("Late", **NEW)
    assert [m.text for m in late.of(MessagePosted)] == [f"message {i}" for i in range(5)]
    reactions = late.of(ReactionChanged)
    assert 0 < len(reactions) <= 20  # the reaction log is bounded too
    # A resume from before reactions were dropped says the history is incomplete.
    session = welcome_of(sam).session
    h.drop(sam)
    back = h.join("Sam", resume={"session": session, "last_seq": words[-1].seq}, **NEW)
    assert welcome_of(back).history_complete is False


def test_an_edit_window_of_zero_refuses_even_at_once() -> None:
    h = Harness(limits=Limits(message_burst=1000, messages_per_minute=60_000, edit_window=0))
    sam = h.join("Sam", **NEW)
    posted = post(h, sam, "no take backs")
    h.send(sam, type="edit", message=posted.seq, text="take back")  # the same instant
    assert sam.last_error().code == "edit_window_closed"


def test_a_refused_action_names_the_message_it_is_about() -> None:
    h = Harness()
    sam, bob = h.join("Sam", **NEW), h.join("Bob", **NEW)
    posted = post(h, sam, "mine")
    h.send(bob, type="edit", message=posted.seq, text="yours")
    assert bob.last_error().ref == str(posted.seq)


def cut_answer(h: Harness, answer_id: str, text: str) -> None:
    h.apply(h.room.answer_delta(answer_id, text))
    h.apply(h.room.answer_finished(answer_id, AnswerOutcome("complete", text, cut_off=True)))


def test_a_deleted_answer_leaves_every_continuation_that_carried_it() -> None:
    h = assistant_room()
    host, sam = h.host(), h.join("Sam", **NEW)
    post(h, sam, "@assistant write a long story")
    first = starts(h)[-1].job.answer_id
    cut_answer(h, first, "SECRET-A once upon a time")
    h.send(sam, type="continue_answer", answer=first)
    second = starts(h)[-1]
    assert "SECRET-A" in second.job.continues
    cut_answer(h, second.job.answer_id, " and then")
    h.send(sam, type="continue_answer", answer=second.job.answer_id)
    third = starts(h)[-1].job.answer_id  # being written: its prompt went already
    started = {e.answer: e.seq for e in sam.of(AnswerStarted)}
    h.send(host, type="delete", message=started[first])
    cut_answer(h, third, " the end")
    h.send(sam, type="continue_answer", answer=third)
    assert "SECRET-A" not in starts(h)[-1].job.continues
    h.send(sam, type="continue_answer", answer=first)
    assert sam.last_error().code in ("unknown_answer", "not_cut_off", "unknown_message")


def test_a_waiting_continuation_of_a_deleted_answer_leaves_the_queue() -> None:
    h = assistant_room()
    host, sam, bob = h.host(), h.join("Sam", **NEW), h.join("Bob", **NEW)
    post(h, sam, "@assistant long story please")
    first = starts(h)[-1].job.answer_id
    cut_answer(h, first, "SECRET-B part one")
    post(h, bob, "@assistant busy now?")  # keeps the assistant busy
    h.send(sam, type="continue_answer", answer=first)
    assert len(sam.of(AssistantStateChanged)[-1].state.waiting) == 1
    started = {e.answer: e.seq for e in sam.of(AnswerStarted)}
    h.send(host, type="delete", message=started[first])
    assert sam.of(AssistantStateChanged)[-1].state.waiting == ()
    answer(h, starts(h)[-1].job.answer_id, "Yes.")
    assert all("SECRET-B" not in s.job.continues for s in starts(h)[2:])


def test_auto_mode_does_not_answer_a_question_deleted_while_it_decided() -> None:
    h = assistant_room(mode="auto")
    sam = h.join("Sam", **NEW)
    question = post(h, sam, "what is the capital of Peru?")
    [deciding] = [a for a in h.assistant_actions if isinstance(a, Deliberate)]
    h.send(sam, type="delete", message=question.seq)
    h.apply(h.room.deliberated(deciding.job.request.seq, True))
    assert starts(h) == []


def test_a_quote_of_a_deleted_message_is_gone_from_the_assistants_memory_too() -> None:
    h = Harness(
        assistant=AssistantConfig(model="gpt-test", provider="OpenAI", provider_kind="cloud"),
        history_capacity=12, history_on_join=12,
    )  # fmt: skip
    sam = h.join("Sam", **NEW)
    secret = post(h, sam, "SECRET-C is the door code")
    post(h, sam, "@assistant is that safe?", reply_to=secret.seq)
    first = starts(h)[-1].job.answer_id
    answer(h, first, "No.")
    h.send(sam, type="delete", message=secret.seq)
    for i in range(15):  # the reply leaves history; the assistant still remembers it
        post(h, sam, f"filler {i}")
    h.send(sam, type="regenerate", answer=first)
    assert "SECRET-C" not in prompt_text(h)
