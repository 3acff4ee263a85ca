"""docs/protocol.md is what others implement from: its tables must say what the code does.

Parses the document's tables (error codes, close codes, the ``hello`` fields, the limits) and
checks each against the code, both ways, so neither can change without the other.
"""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from pathlib import Path
from typing import Any

import pytest

from core.admission import AdmissionRules
from core.codec import parse_client_frame, parse_server_frame, serialize
from core.pake import NONCE_BYTES, decode_nonce
from core.participant import Participant, SendFrame
from core.protocol import (
    AUTH_SPAKE2,
    MAX_AUTH_VALUE_CHARS,
    MAX_ID_CHARS,
    PROTOCOL_VERSION,
    TERMINAL_CLOSE_CODES,
    ClientMessage,
    CloseCode,
    ErrorCode,
    Hello,
    Limits,
    ProtocolError,
    ServerMessage,
)
from core.room import _CLOSE_FOR, RoomConfig

DOC = (Path(__file__).parent.parent / "docs" / "protocol.md").read_text(encoding="utf-8")


def table_after(heading: str) -> list[list[str]]:
    """The rows (cells stripped, header and rule skipped) of the first table under
    ``heading``."""
    start = DOC.index(heading)
    rows: list[list[str]] = []
    for line in DOC[start:].splitlines()[1:]:
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif rows:
            break
    return rows[2:]


def code_of(cell: str) -> str:
    match = re.match(r"`([^`]+)`", cell)
    assert match, f"no code in {cell!r}"
    return match.group(1)


def test_every_error_code_is_documented_with_its_close_code() -> None:
    rows = table_after("## Errors")
    documented = {code_of(row[0]): row[1] for row in rows}
    assert set(documented) == {c.value for c in ErrorCode}
    for code in ErrorCode:
        close = documented[code.value]
        if close.startswith("none") and "before joining" not in close:
            assert code not in _CLOSE_FOR, f"{code.value} closes the connection"
            continue
        expected = _CLOSE_FOR.get(code, CloseCode.PROTOCOL_ERROR)  # what Room._refuse uses
        assert str(int(expected)) in close, f"{code.value}: document says {close!r}"


def test_every_close_code_is_documented_with_what_a_client_should_do() -> None:
    rows = table_after("### WebSocket close codes")
    documented: dict[int, str] = {}
    for row in rows:
        for number in re.findall(r"\d{4}", row[0]):
            documented[int(number)] = row[2]
    assert {int(c) for c in CloseCode} <= set(documented)
    for code in TERMINAL_CLOSE_CODES:
        assert documented[int(code)].startswith("stop"), f"{int(code)} is terminal in the code"
    for code, advice in documented.items():
        if code not in TERMINAL_CLOSE_CODES:
            assert not advice.startswith("stop"), f"{code}: the client reconnects after it"


def test_the_hello_field_limits_are_the_parsers() -> None:
    rows = {code_of(row[0]): row[2] for row in table_after("### `hello` (client → room)")}
    fields = {f.name: f for f in dataclasses.fields(Hello)}
    for name in ("name", "client", "host_proof"):
        limit = fields[name].metadata["max_len"]
        assert f"at most {limit} characters" in rows[name], name
    assert f"at most {MAX_AUTH_VALUE_CHARS} characters" in rows["auth"]
    assert "at most 128 characters" in rows["resume"]
    assert f"(1-{MAX_ID_CHARS} characters)" in DOC


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ('{"type":"hello","protocol":"1","name":"Sam"}', "incompatible_version"),
        ('{"type":"hello","protocol":1.5,"name":"Sam"}', "incompatible_version"),
        ('{"type":"hello","protocol":1,"name":"' + "x" * 257 + '"}', "invalid_name"),
        ('{"type":"send","id":"\\udc00","text":"x"}', "bad_message"),
        ('{"type":"send","id":"a","text":"x","n":' + "1" * 25 + "}", "bad_message"),
    ],
)
def test_the_documented_error_for_each_edge_case(frame: str, code: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_client_frame(frame)
    assert caught.value.code == code


def test_the_limits_table_states_the_defaults() -> None:
    text = {row[0]: row[1] for row in table_after("## Limits")}
    limits, rules, config = Limits(), AdmissionRules(), RoomConfig(name="x")
    assert f"{limits.max_text_chars} characters" in text["message text"]
    assert f"bursts of {limits.message_burst}" in text["message rate"]
    assert f"bursts of {2 * limits.message_burst}" in text["message rate per address"]
    assert f"{rules.max_connections_per_address} WebSocket" in text["connections"]
    assert f"{2 * rules.max_connections_per_address} open" in text["sockets"]
    assert f"{rules.max_participants_per_address} participants" in text["places per address"]
    assert f"bursts of {rules.join_burst}" in text["joins per address"]
    assert f"bursts of {rules.session_resume_burst}" in text["resumes"]
    per_address = text[
        "room-code guesses (each `auth_start` answered) and wrong host keys, per address"
    ]
    assert f"{rules.failed_auth_limit} per address per minute" in per_address
    assert rules.failed_auth_window == 60.0
    room_wide = text["room-code guesses and wrong host keys, room-wide"]
    assert f"bursts of {rules.room_failed_auth_burst} from anywhere" in room_wide
    assert f"then {rules.room_failed_auth_per_minute:.0f} per minute" in room_wide
    assert f"{config.history_capacity} events kept" in text["history"]
    assert f"{config.resume_grace:.0f} s" in text["reconnect grace"]
    assert f"{config.away_notice_delay:.0f} s" in text["away notice"]


def test_the_handshake_examples_are_the_test_vector_as_the_participant_runs_it() -> None:
    """The reference client, given the test vector's code, certificate, nonce and secrets,
    sends the document's ``auth_start``, accepts its ``auth_reply`` and answers with its
    ``hello``'s confirmation; and the document names the method the code offers."""
    examples: dict[str, dict[str, Any]] = {}
    for text in _json_examples():  # the handshake's own come first; later ones are others
        example = json.loads(_concrete(text))
        examples.setdefault(example["type"], example)
    nonce = examples["server_hello"]["auth"]["nonce"]
    assert examples["server_hello"]["protocol"] == PROTOCOL_VERSION
    assert examples["server_hello"]["auth"]["methods"] == [AUTH_SPAKE2]
    assert decode_nonce(nonce) == bytes(range(0x40, 0x50))
    assert f"(the reference room sends {NONCE_BYTES})" in DOC
    guest = Participant(
        "Sam", jitter=lambda: 1.0, password="1234 5678", entropy=lambda n: b"\x11" * n
    )
    guest.opened(bytes(range(32)))
    (start,) = guest.receive(json.dumps(examples["server_hello"]), 0.0)
    assert isinstance(start, SendFrame)
    assert json.loads(start.text) == examples["auth_start"]
    (hello,) = guest.receive(json.dumps(examples["auth_reply"]), 0.0)
    assert isinstance(hello, SendFrame)
    assert json.loads(hello.text)["auth"] == examples["hello"]["auth"]
    assert examples["hello"]["protocol"] == PROTOCOL_VERSION


def _json_examples() -> list[str]:
    """Every JSON example in the document: the fenced blocks and the inline table examples."""
    fenced = re.findall(r"```json\n(.*?)```", DOC, flags=re.DOTALL)
    inline = re.findall(r"`(\{\"type\":.*?\})`", DOC)
    return [*fenced, *inline]


def _concrete(example: str) -> str:
    """The document abbreviates with ``...`` and ``"..."``: fill those in with real values."""
    example = example.replace('"5f1c...e9"', '"' + "5f1c" * 16 + '"')
    example = re.sub(r'"([0-9A-Za-z]+)\.\.\."', r'"\1"', example)  # "x1Yb..." -> "x1Yb"
    example = example.replace('"ts":...', '"ts":1764480000.5')
    example = example.replace('"room":{...room info...}', '"room":' + _ROOM_INFO)
    example = example.replace('"session_usage":{...usage...}', '"session_usage":{}')
    example = example.replace(', "..."]', "]")
    return example


_ROOM_INFO = (
    '{"name":"Team lunch","host_name":"Hana","participant_count":3,"max_participants":null,'
    '"locked":true,"password_required":false}'
)


def test_there_are_examples_to_check() -> None:
    types = {json.loads(_concrete(e))["type"] for e in _json_examples()}
    client = {c.TYPE for c in typing.get_args(ClientMessage)} - {"hello"}
    server = {c.TYPE for c in typing.get_args(ServerMessage)}
    assert client <= types | {"hello"} and "hello" in types
    assert server - types == set(), f"message types without an example: {server - types}"


@pytest.mark.parametrize("example", _json_examples(), ids=lambda e: e[:40])
def test_every_json_example_in_the_document_parses_with_the_real_codec(example: str) -> None:
    frame = _concrete(example)
    kind = json.loads(frame)["type"]
    client_types = {c.TYPE for c in typing.get_args(ClientMessage)}
    parse = parse_client_frame if kind in client_types else parse_server_frame
    message = parse(frame)
    assert parse(serialize(message)) == message  # and it round-trips
