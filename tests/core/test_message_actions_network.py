"""Replies, edits, deletions and reactions through real rooms on loopback with real clients:
everyone's transcript agrees, a client cut off meanwhile catches up exactly once, and a raw
client written without the feature reads plain text."""

from __future__ import annotations

import asyncio
import json

from core.client import Resumed
from core.protocol import (
    PROTOCOL_VERSION,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    ReactionChanged,
)
from core.transcript import Transcript
from tests.blip_proxy import BlipProxy
from tests.conftest import Inbox, RoomHarness


def transcript_of(inbox: Inbox) -> Transcript:
    """The transcript a front end builds from what ``inbox``'s client delivered."""
    transcript = Transcript()
    client = inbox.client
    transcript.set_participants(client.participants, client.you.id)
    for event in inbox.events:
        transcript.apply(event)
    return transcript


def shown(transcript: Transcript) -> list[tuple[int | None, str, bool, str, dict[str, int]]]:
    """What a person sees of each message: number, text, deleted, quote, reaction counts."""
    return [
        (e.seq, e.text, e.deleted, e.reply_to.text if e.reply_to else "",
         {k: len(v) for k, v in e.reactions.items()})
        for e in transcript.entries
        if e.kind == "message"
    ]  # fmt: skip


async def test_three_people_reply_edit_react_and_delete_and_all_see_the_same(
    room: RoomHarness, proxy: BlipProxy
) -> None:
    host, host_inbox = await room.join("Hana", host=True)
    sam, sam_inbox = await room.join("Sam")
    bob, bob_inbox = await room.join("Bob", url=proxy.url)
    await sam.send("Lunch at noon?")
    question = await bob_inbox.wait_type(MessagePosted, text="Lunch at noon?")
    await bob.send("Works for me", reply_to=question.seq)
    reply = await sam_inbox.wait_type(MessagePosted, text="Works for me")
    assert reply.reply_to is not None and reply.reply_to.text == "Lunch at noon?"
    await host.react(question.seq, "👍")
    await sam_inbox.wait_type(ReactionChanged, emoji="👍")

    # Bob is cut off; meanwhile Sam edits, Hana reacts and deletes Bob's reply.
    proxy.refusing = True
    proxy.cut()
    await sam.edit_message(question.seq, "Lunch at 12:30?")
    await host_inbox.wait_type(MessageEdited)
    await host.react(question.seq, "🍕")
    await host.delete_message(reply.seq)
    await sam_inbox.wait_type(MessageDeleted)
    proxy.refusing = False
    await bob_inbox.wait_type(Resumed, timeout=10)
    await host.send("sync")
    for inbox in (host_inbox, sam_inbox, bob_inbox):
        await inbox.wait_type(MessagePosted, text="sync")

    views = [shown(transcript_of(i)) for i in (host_inbox, sam_inbox, bob_inbox)]
    assert views[0] == views[1] == views[2]
    rows = {seq: rest for seq, *rest in views[0]}
    assert rows[question.seq] == ["Lunch at 12:30?", False, "", {"👍": 1, "🍕": 1}]
    assert rows[reply.seq] == ["", True, "", {}]  # no text, no quote, no reactions
    edits = [e for e in bob_inbox.events if isinstance(e, MessageEdited)]
    deletes = [e for e in bob_inbox.events if isinstance(e, MessageDeleted)]
    assert len(edits) == 1 and len(deletes) == 1  # replayed exactly once
    bob_view = transcript_of(bob_inbox).at_seq(question.seq)
    assert bob_view is not None and bob_view.previous == "Lunch at noon?"

    # A late joiner reads the room as it is now, and never the deleted words.
    _, late_inbox = await room.join("Late")
    await late_inbox.wait_type(MessagePosted, text="sync")
    assert "Works for me" not in repr(late_inbox.events)
    assert shown(transcript_of(late_inbox)) == views[0]


async def test_a_client_without_the_feature_reads_plain_text(room: RoomHarness) -> None:
    sam, sam_inbox = await room.join("Sam")
    ws = await room.raw()
    await ws.recv()  # server_hello
    await ws.send(json.dumps({"type": "hello", "protocol": PROTOCOL_VERSION, "name": "Old"}))
    await sam.send("hello")
    posted = await sam_inbox.wait_type(MessagePosted, text="hello")
    await sam.react(posted.seq, "👋")
    await sam.edit_message(posted.seq, "hello all")
    frames: list[dict[str, object]] = []

    async def read_until_notice_count(count: int) -> None:
        while sum(1 for f in frames if f.get("type") == "notice") < count:
            frames.append(json.loads(await ws.recv()))

    await asyncio.wait_for(read_until_notice_count(2), 5)
    notices = [f["text"] for f in frames if f.get("type") == "notice"]
    assert notices == ["Sam reacted 👋", "Sam edited a message: hello all"]
    assert not any(f.get("type") in ("reaction", "message_edited") for f in frames)
    await ws.close()
