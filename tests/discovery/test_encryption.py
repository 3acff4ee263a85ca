"""Encrypted rooms on a pretend LAN, against the attackers docs/security.md names: someone who
records the LAN, an impostor room of the same name, a relay in the middle (moving bytes, or
terminating TLS), a guesser and a replayer. Real hosts and terminal clients run as processes
in network namespaces; the attackers are tests/discovery/impostor.py, also on the LAN.

mDNS (UDP 5353) is plain text by design: it carries the room's name, the host's name and the
certificate's fingerprint for everyone to see. The searches of the capture leave it out (and
one checks that the capture does see it, so that "not found" means something).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cli.chat import HOST_KEY_ENV, ROOM_CODE_ENV
from core.beacon import BEACON_PORT
from core.pake import normalise_room_code
from core.participant import WRONG_CODE_TEXT
from tests.capture import Capture, Frame, tcp_streams, tls_records
from tests.cli_processes import Process
from tests.discovery.recording_chat import RECORD_ENV
from tests.discovery.test_lan import Watcher, watcher_in
from tests.netns import PretendLan, require_netns

IMPOSTOR = Path(__file__).with_name("impostor.py")
RECORDING_CHAT = Path(__file__).with_name("recording_chat.py")
MDNS_PORT = 5353
ROOM_CODE = "Quartz Lantern 58"  # typed by the host; people type it in any case and spacing
WRONG_CODE = "Quartz Lantern 59"
HANDSHAKE, CHANGE_CIPHER_SPEC, APPLICATION_DATA = 22, 20, 23
IMPERSONATION_WORDS = "may be impersonating the room"  # what CertificateMismatch tells people


@pytest.fixture
def lan() -> Iterator[PretendLan]:
    require_netns()
    with PretendLan(4) as pretend:
        yield pretend


@dataclass(frozen=True)
class RealRoom:
    """A headless host on host 1, and what it printed for people to join."""

    host: Process
    port: int
    code: str  # the verification code people compare
    link: str  # the IPv4 room link, naming the certificate
    host_key: str

    def url(self, lan: PretendLan) -> str:
        return f"wss://{lan.ipv4(1)}:{self.port}/"

    def link_to(self, address: str, port: int) -> str:
        """The real room's link, with the address swapped for another (as a spoofed name
        server, a forged ARP reply or a tampered copy of the link would)."""
        return re.sub(r"gptgroup://[^/]+/", f"gptgroup://{address}:{port}/", self.link)


async def real_room(lan: PretendLan, procs: list[Process], name: str, *args: str) -> RealRoom:
    host = await Process.start(
        "gptgroup-host", "--port", "0", "--provider", "none", "--name", name, *args,
        netns=lan.ns(1),
    )  # fmt: skip
    procs.append(host)
    port = int((await host.expect(r"is open on port (\d+)")).group(1))
    code = (await host.expect(r"^Verification code: ([\d ]+)$")).group(1)
    link = (await host.expect(rf"(gptgroup://{re.escape(lan.ipv4(1))}:\S+)")).group(1)
    key = (await host.expect(rf"{HOST_KEY_ENV}=(\S+) ")).group(1)
    await host.expect("Announced on the local network")
    return RealRoom(host, port, code, link, key)


async def chat_in(
    lan: PretendLan, i: int, procs: list[Process], target: str, name: str,
    *, code: str | None = None, record: Path | None = None, env: dict[str, str] | None = None,
) -> Process:  # fmt: skip
    """``gptgroup-chat`` on host ``i`` joining ``target`` as ``name``; with ``record``, the
    same client writing down what it sends and the session tokens it gets (recording_chat.py).
    """
    more = dict(env or {})
    if code is not None:
        more[ROOM_CODE_ENV] = code
    args = [target, "--name", name]
    if record is None:
        proc = await Process.start("gptgroup-chat", *args, env=more, netns=lan.ns(i))
    else:
        more[RECORD_ENV] = str(record)
        proc = await Process.start("python", str(RECORDING_CHAT), *args, env=more, netns=lan.ns(i))
    procs.append(proc)
    return proc


async def attacker_in(
    lan: PretendLan, i: int, procs: list[Process], *args: str
) -> tuple[Process, dict[str, Any]]:
    """tests/discovery/impostor.py on host ``i``, once ready; and what it said then."""
    proc = await Process.start("python", str(IMPOSTOR), *args, netns=lan.ns(i))
    procs.append(proc)
    ready = json.loads((await proc.expect(r'^\{"event": "ready"', timeout=15)).string)
    return proc, ready


def events(proc: Process, kind: str) -> list[dict[str, Any]]:
    """The attacker's events of ``kind`` printed so far."""
    return [
        event
        for line in proc.lines
        if line.startswith("{") and (event := json.loads(line))["event"] == kind
    ]


async def next_event(proc: Process, kind: str, timeout: float = 10.0) -> dict[str, Any]:
    return dict(json.loads((await proc.expect(rf'^\{{"event": "{kind}"', timeout)).string))


async def lobby(watcher: Watcher, name: str, count: int) -> list[dict[str, Any]]:
    """The rooms called ``name`` the watcher lists: once ``count`` are, and nothing more
    comes for another 2 s."""
    rooms: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 15
    while len(rooms) < count:
        added = await watcher.next("added", timeout=max(0.1, deadline - time.monotonic()))
        if added["room"]["name"] == name:
            rooms[added["room"]["key"]] = added["room"]
    later = [e["room"] for e in await watcher.unread(2) if e["room"]["name"] == name]
    assert [room for room in later if room["key"] not in rooms] == []
    return list(rooms.values())


async def next_event_where(proc: Process, kind: str, **match: Any) -> dict[str, Any]:
    """The attacker's first event of ``kind`` whose fields equal ``match``, once printed."""
    while True:
        event = next(
            (e for e in events(proc, kind) if all(e.get(k) == v for k, v in match.items())),
            None,
        )
        if event is not None:
            return event
        await next_event(proc, kind)


async def shown_code(chat: Process) -> str:
    """The verification code a client that joined by address shows its user after joining."""
    return (await chat.expect(r"Verification code: ([\d ]+)\.")).group(1)


def recorded(path: Path, key: str) -> list[str]:
    """What recording_chat.py wrote down under ``key`` (``sent`` or ``session``), in order."""
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    return [entry[key] for entry in entries if key in entry]


async def say(speaker: Process, text: str, *listeners: Process) -> None:
    """``speaker`` types ``text``; returns once every listener has shown it."""
    await speaker.type(text)
    for listener in listeners:
        await listener.expect(re.escape(text))


async def leave(*chats: Process) -> None:
    for chat in chats:
        chat.end_input()
    for chat in chats:
        assert await chat.wait() == 0, chat.lines


async def cut_connections(lan: PretendLan, i: int, port: int) -> None:
    """Abort host ``i``'s TCP connections to host 1's ``port`` (as a dropped Wi-Fi would):
    the kernel resets them, and the client must reconnect and resume."""
    proc = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", lan.ns(i), "ss", "-K", "dst", lan.ipv4(1), "dport", "=", f":{port}",
        stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert await proc.wait() == 0


def code_forms(code: str) -> list[str]:
    """A room code as the host typed it and in every form it could travel in: lower and
    upper case, without spaces (its normal form, which SPAKE2 takes), with dashes."""
    forms = {code, code.lower(), code.upper(), normalise_room_code(code)}
    forms |= {form.replace(" ", "-") for form in forms} | {form.replace(" ", "") for form in forms}
    return sorted(forms)


def found_in(secret: str, haystacks: list[bytes]) -> bool:
    """Whether ``secret`` (as UTF-8, in any letter case) is in any of ``haystacks``."""
    needle = secret.encode().lower()
    return any(needle in haystack.lower() for haystack in haystacks)


def is_announcement(frame: Frame) -> bool:
    """A room's announcement: mDNS, or the broadcast beacon (plain text by design, as the
    privacy policy says)."""
    return frame.is_udp and (frame.involves_port(MDNS_PORT) or frame.involves_port(BEACON_PORT))


# ------------------------------------------------------------------------- an eavesdropper


async def test_a_capture_of_a_whole_chat_finds_no_word_name_token_code_or_key(
    lan: PretendLan, processes: list[Process], tmp_path: Path
) -> None:
    lines = [
        "periwinkle xylophone at noon",
        "my IBAN is DE00 VICTIM 4471",
        "meet behind the quokka statue",
    ]
    host_name, guest_name = "Hanadi Okonkwo", "Zebulon Marchetti"
    hana_record, zeb_record = tmp_path / "hana.jsonl", tmp_path / "zeb.jsonl"
    capture = Capture(lan.switch, [lan.port(i) for i in (1, 2, 3)], tmp_path / "lan.pcap")
    async with capture:
        room = await real_room(lan, processes, "Harbour talk", "--room-code", ROOM_CODE)
        # The host joins from another machine, so that its host key's proof crosses the LAN
        # (from its own machine, over loopback, it never would).
        hana = await chat_in(
            lan, 2, processes, room.link, host_name, code=ROOM_CODE.lower(), record=hana_record,
            env={HOST_KEY_ENV: room.host_key},
        )  # fmt: skip
        await hana.expect("You joined 'Harbour talk'")
        zeb = await chat_in(
            lan, 3, processes, room.link, guest_name, code="quartz-lantern-58", record=zeb_record
        )
        await zeb.expect("You joined 'Harbour talk'")
        await say(hana, lines[0], zeb)
        await say(zeb, lines[1], hana)
        await cut_connections(lan, 3, room.port)  # the guest drops off, and resumes
        await zeb.expect(r"^\* reconnected(?! as)", timeout=15)  # its own place, resumed
        await say(zeb, lines[2], hana)
        await leave(hana, zeb)
        room.host.interrupt()
        await room.host.expect("Room closed")
    frames = await capture.stop()

    # The capture saw the LAN: the room's announcement (plain text by design) is in it.
    announced = [frame for frame in frames if is_announcement(frame)]
    assert any(b"Harbour talk" in f.payload for f in announced if f.involves_port(MDNS_PORT))
    assert any(b"Harbour talk" in f.payload for f in announced if f.involves_port(BEACON_PORT))
    searched = [frame for frame in frames if not is_announcement(frame)]
    streams = {key: data for key, data in tcp_streams(searched).items() if room.port in key}
    to_room = [key for key in streams if key[3] == room.port]
    assert {key[0] for key in to_room} == {lan.ipv4(2), lan.ipv4(3)}
    assert len([key for key in to_room if key[0] == lan.ipv4(3)]) >= 2  # before and after

    tokens = {"host": recorded(hana_record, "session"), "guest": recorded(zeb_record, "session")}
    assert len(tokens["guest"]) >= 2  # a new token with every welcome, the resume's included
    kept_secret: dict[str, list[str]] = {
        "a chat line or word": lines + [w for line in lines for w in line.split() if len(w) > 5],
        "a display name": [host_name, guest_name, *host_name.split(), *guest_name.split()],
        "the room code": code_forms(ROOM_CODE),
        "a session token": tokens["host"] + tokens["guest"],
        "the host key": [room.host_key],
    }
    haystacks = [frame.data for frame in searched] + list(streams.values())
    for what, values in kept_secret.items():
        assert values
        leaked = [value for value in values if found_in(value, haystacks)]
        assert not leaked, f"{what} crossed the LAN in the clear: {leaked}"

    # Every byte to and from the room is a TLS record: after the first (the hello of each
    # side, in the clear as in any TLS), only encrypted ones. TLS 1.3: even the room's
    # certificate travels encrypted.
    for key, data in streams.items():
        records = tls_records(data)
        assert records[0].content_type == HANDSHAKE, key
        assert {r.content_type for r in records[1:]} <= {CHANGE_CIPHER_SPEC, APPLICATION_DATA}
        assert sum(r.content_type == APPLICATION_DATA for r in records) >= 3, key


# ------------------------------------------------------------------------- an impostor room


async def test_an_impostor_of_the_same_name_is_refused_by_the_link_and_shows_another_code(
    lan: PretendLan, processes: list[Process]
) -> None:
    watcher = await watcher_in(lan, 3, processes)
    room = await real_room(lan, processes, "Team lunch")
    real_fingerprint = re.search(r"&fp=([a-z2-7]{52})", room.link)
    assert real_fingerprint is not None
    impostor, ready = await attacker_in(
        lan, 4, processes, "room", "Team lunch", "--copy-fingerprint", real_fingerprint.group(1)
    )
    assert ready["code"] != room.code

    # The lobby: both rooms called "Team lunch", each with its own code; the impostor's
    # record that names the real room's certificate is never listed.
    listed = await lobby(watcher, "Team lunch", count=2)
    assert sorted((lan.ipv4(1) in r["addresses"], r["verification_code"]) for r in listed) == [
        (False, ready["code"]),
        (True, room.code),
    ]

    # The real room's link, pointed at the impostor: refused right after the TLS handshake,
    # in words; the impostor got no byte after it (no upgrade, no name).
    spoofed = room.link_to(lan.ipv4(4), ready["port"])
    fooled = await chat_in(lan, 2, processes, spoofed, "Priya Castellanos")
    fooled.end_input()  # were it let in, it would leave at once
    assert await fooled.wait() == 1, fooled.lines
    assert IMPERSONATION_WORDS in " ".join(fooled.lines)
    closed = await next_event_where(impostor, "closed", peer=lan.ipv4(2))
    assert closed["bytes"] == 0
    assert "Priya" not in "\n".join(impostor.lines)

    # Joining the impostor by its bare address works (it is a room), and shows its code,
    # which is not the one the real host reads out.
    curious = await chat_in(lan, 2, processes, f"{lan.ipv4(4)}:{ready['port']}", "Priya")
    await curious.expect("You joined 'Team lunch'")
    assert await shown_code(curious) == ready["code"] != room.code
    await leave(curious)


# ------------------------------------------------------------------------- a relay in the middle


async def test_a_relay_that_moves_bytes_reaches_the_real_room_and_reads_nothing(
    lan: PretendLan, processes: list[Process], tmp_path: Path
) -> None:
    room = await real_room(lan, processes, "Relay room", "--room-code", ROOM_CODE)
    copy = tmp_path / "relayed.bin"
    relay, ready = await attacker_in(
        lan, 4, processes, "relay", lan.ipv4(1), str(room.port), str(copy)
    )
    via_relay = room.link_to(lan.ipv4(4), ready["port"])
    samira = await chat_in(lan, 2, processes, via_relay, "Samira Vasquez", code=ROOM_CODE)
    await samira.expect("You joined 'Relay room'")  # the link's pin holds: it is the room
    leo = await chat_in(lan, 3, processes, room.link, "Leopold Brandvold", code=ROOM_CODE)
    await leo.expect("You joined 'Relay room'")
    await say(samira, "the gazebo password is marmalade", leo)
    await say(leo, "understood, bringing the theodolite", samira)
    await leave(samira, leo)

    relayed = copy.read_bytes()
    assert (await next_event(relay, "connection"))["peer"] == lan.ipv4(2)
    assert len(relayed) > 2000
    for secret in [
        "gazebo", "marmalade", "theodolite", "Samira", "Vasquez", "Leopold", "Brandvold",
        *code_forms(ROOM_CODE),
    ]:  # fmt: skip
        assert not found_in(secret, [relayed]), secret


async def test_an_attacker_who_terminates_tls_cannot_complete_a_join_to_a_room_with_a_code(
    lan: PretendLan, processes: list[Process]
) -> None:
    room = await real_room(lan, processes, "Coded room", "--room-code", ROOM_CODE)
    mitm, ready = await attacker_in(lan, 4, processes, "mitm", room.url(lan), "--try-join")
    # A guest who knows the code but was given the attacker's address (bare, no certificate)
    guest = await chat_in(
        lan, 2, processes, f"{lan.ipv4(4)}:{ready['port']}", "Ottoline Grimsby", code=ROOM_CODE
    )
    guest.end_input()  # were it let in, it would leave at once
    assert await guest.wait() == 1, guest.lines
    assert WRONG_CODE_TEXT in " ".join(guest.lines)
    assert "You joined" not in " ".join(guest.lines)
    # The guest checked the room's confirmation, found it bound to another certificate, and
    # said nothing more: no hello, so the attacker learnt no name.
    attempt = await next_event(mitm, "own_attempt")
    from_guest = [
        json.loads(e["text"])["type"] for e in events(mitm, "frame") if e["from"] == "guest"
    ]
    assert from_guest == ["auth_start"]
    assert "Ottoline" not in "\n".join(mitm.lines)
    # Nor could the attacker finish the join itself on its connection to the real room.
    answer = json.loads(attempt["answer"])
    assert (answer["type"], answer.get("code"), attempt["close"]) == ("error", "auth_failed", 4004)


async def test_without_a_room_code_a_terminating_attacker_shows_another_verification_code(
    lan: PretendLan, processes: list[Process]
) -> None:
    room = await real_room(lan, processes, "Open room")
    mitm, ready = await attacker_in(lan, 4, processes, "mitm", room.url(lan))
    guest = await chat_in(lan, 2, processes, f"{lan.ipv4(4)}:{ready['port']}", "Ottoline")
    await guest.expect("You joined 'Open room'")  # through the attacker, into the real room
    # What tells: the code the guest is shown is the attacker's, not the one the host reads.
    assert await shown_code(guest) == ready["code"] != room.code
    await leave(guest)
    # (That is the whole defence here: the attacker read the guest's hello, name and all.)
    await mitm.expect(r'"from": "guest".*Ottoline')


async def test_an_attacker_who_knows_the_code_is_stopped_by_the_pin_and_shown_by_the_code(
    lan: PretendLan, processes: list[Process]
) -> None:
    room = await real_room(lan, processes, "Shared code", "--room-code", ROOM_CODE)
    mitm, ready = await attacker_in(lan, 4, processes, "mitm", room.url(lan), "--code", ROOM_CODE)
    # With the room's link, the certificate is checked before anything is sent.
    linked = await chat_in(
        lan, 2, processes, room.link_to(lan.ipv4(4), ready["port"]), "Ines", code=ROOM_CODE
    )
    linked.end_input()  # were it let in, it would leave at once
    assert await linked.wait() == 1, linked.lines
    assert IMPERSONATION_WORDS in " ".join(linked.lines)
    assert (await next_event_where(mitm, "closed", peer=lan.ipv4(2)))["bytes"] == 0
    assert events(mitm, "frame") == []
    # By bare address, an attacker who holds the code runs one exchange with each side and
    # sits in the middle of the room: only the verification code shows it.
    typed = await chat_in(
        lan, 3, processes, f"{lan.ipv4(4)}:{ready['port']}", "Ines", code=ROOM_CODE
    )
    await typed.expect("You joined 'Shared code'")
    await next_event(mitm, "exchanged")
    assert await shown_code(typed) == ready["code"] != room.code
    await leave(typed)


# ------------------------------------------------------------------------- guesses and replays


async def test_wrong_codes_meet_the_limit_and_a_replayed_handshake_gets_nowhere(
    lan: PretendLan, processes: list[Process], tmp_path: Path
) -> None:
    room = await real_room(lan, processes, "Guarded room", "--room-code", ROOM_CODE)
    hana = await chat_in(
        lan, 2, processes, room.link, "Hana", code=ROOM_CODE, env={HOST_KEY_ENV: room.host_key}
    )
    await hana.expect("You joined")
    zeb_record = tmp_path / "zeb.jsonl"
    zeb = await chat_in(lan, 3, processes, room.link, "Zeb", code=ROOM_CODE, record=zeb_record)
    await zeb.expect("You joined")

    # The guest's own auth_start and hello, replayed on a new connection with the guest's
    # current session token: the room's new nonce and secret make the old confirmation void.
    replayer, _ = await attacker_in(
        lan, 4, processes, "replay", room.url(lan), str(zeb_record),
        f"--session={recorded(zeb_record, 'session')[-1]}",  # a token may start with "-"
    )  # fmt: skip
    replay = await next_event(replayer, "replay")
    assert replay["answers"] == ["auth_reply", "error:auth_failed"]
    assert replay["close"] == 4004

    # Wrong codes from one address: each costs one online guess, until the room says stop.
    guesser, _ = await attacker_in(lan, 4, processes, "guess", room.url(lan), WRONG_CODE, "7")
    assert await guesser.wait() == 0
    outcomes = [e["outcome"] for e in events(guesser, "guess")]
    limited = outcomes.index("too_many_attempts")
    assert 1 <= limited <= 5 and outcomes[:limited] == ["wrong"] * limited
    assert set(outcomes[limited:]) == {"too_many_attempts"}

    # The two real participants never noticed.
    await say(hana, "still here after all that", zeb)
    await say(zeb, "and so am I", hana)
    await leave(hana, zeb)
    for chat in (hana, zeb):
        assert not any("taken over" in line or "reconnect" in line for line in chat.lines)
