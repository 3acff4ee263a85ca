"""Options of the headless host that shape what people may do in its room."""

from __future__ import annotations

from core.client import RoomClient
from core.protocol import ErrorMessage, MessagePosted
from tests.cli_processes import Process, start_host
from tests.conftest import Inbox


async def test_edit_minutes_zero_lets_nobody_edit_and_says_so() -> None:
    host, address, _ = await start_host("--edit-minutes", "0")
    sam = RoomClient(f"wss://{address}/", "Sam")
    try:
        await sam.connect()
        assert sam.room.limits.edit_window == 0
        inbox = Inbox(sam)
        await sam.send("tpyo")
        posted = await inbox.wait_type(MessagePosted, text="tpyo")
        await sam.edit_message(posted.seq, "typo")
        refused = await inbox.wait_type(ErrorMessage)
        assert refused.code == "edit_window_closed"
        assert "does not allow editing" in refused.message
    finally:
        await sam.leave()
        await host.kill()


async def test_a_negative_edit_window_is_refused_before_the_room_opens() -> None:
    host = await Process.start(
        "gptgroup-host", "--bind", "127.0.0.1", "--port", "0", "--no-advertise",
        "--edit-minutes", "-5",
    )  # fmt: skip
    try:
        await host.expect("editable for 0 to 24 hours")
        assert await host.wait() != 0
    finally:
        await host.kill()
