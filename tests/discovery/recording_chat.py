"""``gptgroup-chat`` that also writes down what a thief on the wire would want from it.

Run inside a test namespace, with the arguments ``gptgroup-chat`` takes::

    GPTGROUP_TEST_RECORD=record.jsonl python recording_chat.py LINK --name Sam

It is the real terminal client; only its :class:`~core.client.RoomClient` also appends one
JSON object a line to the file ``GPTGROUP_TEST_RECORD`` names: ``{"sent": TEXT}`` for every
frame the client sends (its ``auth_start`` and ``hello`` included), and
``{"session": TOKEN}`` for every session token a ``welcome`` gave it. The encryption tests
search a capture of the LAN for these, and replay them as an attacker who somehow got them.
"""

from __future__ import annotations

import json
import os
import sys

from websockets.asyncio.client import ClientConnection

import cli.chat
from core.client import RoomClient
from core.participant import ParticipantAction, SendFrame

RECORD_ENV = "GPTGROUP_TEST_RECORD"
_SESSIONS_RECORDED: set[str] = set()  # one client per process: this one's tokens


def _record(entry: dict[str, str]) -> None:
    with open(os.environ[RECORD_ENV], "a", encoding="utf-8") as record:
        record.write(json.dumps(entry) + "\n")


class RecordingClient(RoomClient):
    """A :class:`RoomClient` that records what it sends and the session tokens it is given.

    It listens in where every action of the participant's machine is carried out (the one
    place that sees each frame before it is written, and each welcome's token once taken in).
    """

    def _carry_out(self, actions: list[ParticipantAction], conn: ClientConnection | None) -> None:
        for action in actions:
            if isinstance(action, SendFrame):
                _record({"sent": action.text})
        super()._carry_out(actions, conn)
        session = self._session
        if session is not None and session not in _SESSIONS_RECORDED:
            _SESSIONS_RECORDED.add(session)
            _record({"session": session})


if __name__ == "__main__":
    # cli.chat makes its one client by this name; its module namespace is where to swap it.
    vars(cli.chat)["RoomClient"] = RecordingClient
    sys.exit(cli.chat.main())
