"""``gptgroup-chat``: a line-based terminal client for a room.

Each line typed is sent as a message; lines starting with ``/`` are commands (``/help``).
End of input leaves the room (once what was typed, shared and asked to be saved is done), so
it also works in scripts: ``echo hi | gptgroup-chat ...``. Exit status: 0 after leaving or
when the room closed, 1 when refused, kicked, banned or the room could not be reached.

Files: ``/send PATH`` shares one (``/send --ai PATH`` lets the assistant read it, which sends
it to the AI provider); each file shared in the room is printed with a number, and
``/save N PATH`` fetches file N and writes it to PATH (a new file, readable by its owner
alone; ``/save!`` replaces one). Nothing received is ever opened or run.

Messages: every message, answer and file line starts with the number the room gave it, the
same for everyone (``[58] [12:00] Sam: hi``); ``/reply N``, ``/edit N``, ``/delete N`` and
``/react N`` name a message by it (see :mod:`cli.message_commands`).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import io
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from cli.message_commands import (
    DELETED,
    MESSAGE_COMMANDS,
    MESSAGE_HELP,
    MessageCommands,
    deleted_line,
    edited_line,
    number_tag,
    quote_words,
    reaction_line,
    refusal_words,
)
from cli.rooms import find_room, list_rooms, scan_rooms
from cli.terminal_text import (
    TerminalSafeFormatter,
    indented_body,
    safe_traceback,
    terminal_json,
    terminal_safe,
)
from core import __version__
from core.address import InvalidAddress, parse_room_address
from core.answer_rights import stoppable_answer
from core.client import (
    Acknowledged,
    CertificateMismatch,
    ClientEvent,
    DownloadFailed,
    DownloadProgress,
    Ended,
    FileQueued,
    FileRefused,
    JoinRefused,
    MessageTooLarge,
    NotConnected,
    Reconnecting,
    Resumed,
    RoomClient,
    RoomUnreachable,
    SendFailed,
    UnknownFile,
    UploadFailed,
    UploadProgress,
    probe_join_code,
)
from core.discovery import InterfaceError
from core.filetypes import safe_file_name
from core.join_code import JoinCodeError, parse_join_code
from core.local_files import open_regular, write_private
from core.log_redaction import install_log_redaction
from core.network_doctor import diagnose
from core.protocol import (
    AnswerDelta,
    AnswerFinished,
    AnswerId,
    AnswerStarted,
    AssistantReport,
    AssistantStateChanged,
    ErrorMessage,
    FileId,
    FileShared,
    MessageDeleted,
    MessageEdited,
    MessagePosted,
    Notice,
    ParticipantInfo,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantStatusChanged,
    ReactionChanged,
    RoomClosed,
    RoomUpdated,
    TypingChanged,
)
from core.wording import (
    answer_status_words,
    file_type_words,
    left_words,
    room_closed_words,
    size_words,
)

ROOM_CODE_ENV = "GPTGROUP_ROOM_CODE"
OLD_PASSWORD_ENV = "GPTGROUP_ROOM_PASSWORD"  # read too, for scripts written before room codes
HOST_KEY_ENV = "GPTGROUP_HOST_KEY"
HELP = f"""Commands:
  /who                 list who is here
{MESSAGE_HELP}
  /kick NAME           (host) remove someone
  /ban NAME            (host) remove someone; their addresses may not come back
  /bans                (host) list the bans in force
  /unban N             (host) lift ban number N of /bans
  /lock, /unlock       (host) refuse or allow new joins
  /max N|none          (host) limit how many may be in the room
  /close               (host) close the room for everyone
  /stop                stop the assistant's answer (yours, or any if you are the host),
                       or withdraw your question while it waits
  /regen               ask the assistant again (for your last question)
  /continue            ask for the rest of an answer cut off at the length limit
  /mode MODE           (host) when the assistant answers: mention, always or auto
  /usage               (host) tokens the assistant has used
  /send PATH           share a file with the room
  /send --ai PATH      share a file the assistant may read: it is sent to the AI provider
  /cancel              stop sharing the files still being sent
  /files               list the files shared here, by number
  /save N PATH         save file N to PATH (a folder, or a new file's name)
  /save! N PATH        the same, replacing a file already at PATH
  /quit                leave the room
Anything else is sent as a message."""

_END_EXIT = {"left": 0, "closed_by_host": 0, "host_shutdown": 0}
ASSISTANT = "\x00assistant"  # the id ``names`` maps to the assistant's display name


def _one_line(text: str) -> str:
    """A name, notice or error from the room, shown inert on one line."""
    return terminal_safe(text)


def _said(head: str, text: str) -> str:
    """``head`` (already made safe) then a message body shown inert, its further lines lined
    up under its first."""
    return head + indented_body(text, len(head))


def file_line(event: FileShared, number: int | None) -> str:
    """``[58] [file 3] Sam shared plan.pdf (79 KB, PDF) — for the assistant: no``: the
    room's number of the file's event (for /reply), then its number for /save."""
    label = f"file {number}" if number is not None else "file"
    what = f"{size_words(event.size)}, {_one_line(file_type_words(event.kind, event.mime))}"
    return (
        f"[{event.seq}] [{label}] {_one_line(event.author_name)} shared {_one_line(event.name)}"
        f" ({what}) — for the assistant: {'yes' if event.assistant else 'no'}"
    )


def describe(
    event: ClientEvent,
    names: Callable[[str], str],
    file_number: Callable[[str], int | None] = lambda _file: None,
    answer_number: Callable[[str], int | None] = lambda _answer: None,
) -> str | None:
    """The line to print for ``event`` (None for events not worth a line).

    ``names`` maps a participant id to a display name, ``file_number`` a file id to the
    number it is shown under, ``answer_number`` an answer id to the room's number of its
    ``answer_started`` (a line starts without a number it does not know). Every piece of
    text that came from the room is made safe for the terminal here (see
    :mod:`cli.terminal_text`).
    """

    def name(participant_id: str) -> str:
        return _one_line(names(participant_id))

    match event:
        case MessagePosted(seq=seq, deleted=True):
            return f"[{seq}] {DELETED}"  # as history has it now: who wrote it is not said
        case MessagePosted(seq=seq, ts=ts, author_name=author, text=text, reply_to=quote):
            stamp = time.strftime("%H:%M", time.localtime(ts))
            head = f"[{seq}] [{stamp}] {_one_line(author)}"
            head += f" {quote_words(quote)}: " if quote is not None else ": "
            return _said(head, text) + (" (edited)" if event.edited is not None else "")
        case MessageEdited():
            return edited_line(event)
        case MessageDeleted():
            return deleted_line(event)
        case ReactionChanged():
            return reaction_line(event)
        case ParticipantJoined(participant=p):
            return f"* {_one_line(p.name)} joined" + (" (host)" if p.role == "host" else "")
        case ParticipantLeft(name=left, reason=reason):
            return f"* {_one_line(left)} {left_words(reason)}"
        case ParticipantStatusChanged(participant=pid, status="reconnecting"):
            return f"* {name(pid)} is reconnecting..."
        case ParticipantStatusChanged(participant=pid, status="online"):
            return f"* {name(pid)} is back"
        case RoomUpdated(room=room):
            lock = "locked" if room.locked else "open to new people"
            cap = f", at most {room.max_participants}" if room.max_participants else ""
            return f"* The room is {lock}{cap}"
        case RoomClosed(reason=reason):
            return f"* {room_closed_words(reason)}"
        case AnswerStarted():
            return None  # the assistant_state that comes with it says who is being answered
        case AnswerFinished(answer=answer, deleted=True):
            return f"{number_tag(answer_number(answer))}{DELETED}"
        case AnswerFinished(ts=ts, text=text, status=status, error=error, cut_off=cut_off):
            stamp = time.strftime("%H:%M", time.localtime(ts))
            tag = number_tag(answer_number(event.answer))
            lines = []
            assistant = name(ASSISTANT)
            if text:
                lines.append(_said(f"{tag}[{stamp}] {assistant}: ", text))
            elif status == "complete":  # the model said nothing: say so rather than nothing
                lines.append(f"{tag}[{stamp}] {assistant}: (no answer)")
            if status != "complete":
                said = _one_line(answer_status_words(status))
                why = f"({said}{': ' + _one_line(error) if error else ''})"
                lines.append(f"  {why}" if lines or not tag else f"{tag}{why}")
            elif cut_off:
                lines.append("  (cut off at the length limit: /continue asks for the rest)")
            return "\n".join(lines) or None
        case Notice(text=text, level=level):
            return f"{'!' if level != 'info' else '*'} {_one_line(text)}"
        case AssistantStateChanged(state=state):
            if state.answering is None:
                return None
            waiting = f" ({len(state.waiting)} waiting)" if state.waiting else ""
            asker = _one_line(state.answering.asked_by_name)
            return f"* {name(ASSISTANT)} is answering {asker}{waiting}"
        case AssistantReport(session_usage=usage, answers=answers, token_budget=budget):
            of = f" of a {budget:,} budget" if budget else ""
            return f"* assistant: {answers} answers, {usage.total_tokens:,} tokens{of}"
        case FileShared(file=file):
            return file_line(event, file_number(file))
        case FileQueued(name=file_name, size=size):
            return f"* sharing {_one_line(file_name)} ({size_words(size)})..."
        case UploadFailed(message=message):
            return f"! a file was not shared: {_one_line(message)}"
        case TypingChanged() | AnswerDelta():
            return None
        case ErrorMessage(code=code, message=message):
            return f"! {refusal_words(code, message)}"
        case SendFailed(code=code, message=message):
            return f"! not sent: {refusal_words(code, message)}"
        case Reconnecting(attempt=attempt, delay=delay):
            return f"! connection lost; reconnecting (attempt {attempt}, in {delay:.1f} s)"
        case Resumed(resumed=True, history_complete=complete):
            return "* reconnected" + ("" if complete else " (some older messages were missed)")
        case Resumed(you=you):
            return f"* reconnected as a new participant, {_one_line(you.name)}"
        case Ended(message=message, unsent=unsent, unconfirmed=unconfirmed):
            lines = [f"* {_one_line(message)}"]
            lines += [f"! not sent: {_one_line(q.text)}" for q in unsent]
            lines += [f"! may not have been sent: {_one_line(q.text)}" for q in unconfirmed]
            return "\n".join(lines)
    return None


def _read_at_most(path: Path, limit: int) -> bytes:
    """Up to ``limit`` bytes of the regular file at ``path`` (``~`` expanded; a pipe or a
    device is refused: reading one could wait for ever or never end). Raises ``OSError``.
    Blocking: run it in a thread."""
    with open_regular(path.expanduser()) as source:
        return source.read(limit)


class TerminalChat:
    """Runs one terminal session: prints events, turns typed lines into actions."""

    def __init__(self, client: RoomClient, out: Callable[[str], None]) -> None:
        self.client = client
        self.out = out
        self.last_answer: AnswerId | None = None
        self.my_last_answer: AnswerId | None = None
        self.cut_off: set[AnswerId] = set()  # of those two, the ones the model cut off
        self.report: AssistantReport | None = None
        self.files: list[FileId] = []  # file N is files[N - 1], in the order shown
        self._numbers: dict[str, int] = {}
        self._uploads: dict[str, str] = {}  # our files being sent: upload id -> name
        self._quarters: dict[str, int] = {}  # transfer -> the last quarter printed
        self._saves: dict[str, asyncio.Task[None]] = {}  # file -> its save under way
        self._answer_seqs: dict[str, int] = {}  # answer -> its answer_started seq, its number
        self.actions = MessageCommands(client, out)

    def file_number(self, file: str) -> int | None:
        return self._numbers.get(file)

    def answer_number(self, answer: str) -> int | None:
        return self._answer_seqs.get(answer)

    def name_of(self, participant_id: str) -> str:
        if participant_id == ASSISTANT:
            assistant = self.client.room.assistant
            return assistant.name if assistant else "assistant"
        p = self.client.participants.get(participant_id)
        return p.name if p else participant_id

    def find(self, name: str) -> ParticipantInfo | None:
        wanted = name.strip().casefold()
        for p in self.client.participants.values():
            if p.name.casefold() == wanted or p.id == name.strip():
                return p
        return None

    async def print_events(self) -> int:
        async for event in self.client.events():
            self._remember(event)
            self.actions.remember(event)
            line = self.actions.refusal_line(event) or describe(
                event, self.name_of, self.file_number, self.answer_number
            )
            if line is not None:
                self.out(line)
            for extra in self._transfer_lines(event):
                self.out(extra)
            if isinstance(event, Ended):
                return _END_EXIT.get(event.reason, 1)
        return 0

    def _remember(self, event: ClientEvent) -> None:
        """Keep what /regen needs (the latest answer, and my latest), and number files and
        answers."""
        you = self.client.you.id
        match event:
            case AnswerStarted(answer=answer, asked_by=asker):
                self._answer_seqs[answer] = event.seq
                if asker == you:
                    self.my_last_answer = answer
            case AnswerFinished(answer=answer, cut_off=cut_off):
                self.last_answer = answer
                self.cut_off = {a for a in (answer, self.my_last_answer) if a in self.cut_off}
                if cut_off:
                    self.cut_off.add(answer)
            case AssistantReport():
                self.report = event
            case FileShared(file=file) if file not in self._numbers:
                self.files.append(file)
                self._numbers[file] = len(self.files)
            case FileQueued(id=upload_id, name=name):
                self._uploads[upload_id] = name

    def _transfer_lines(self, event: ClientEvent) -> list[str]:
        """What a transfer's event adds: progress every quarter, where a file went."""
        match event:
            case UploadProgress(id=upload_id, sent=sent, size=size) if upload_id in self._uploads:
                quarter = self._quarter(upload_id, sent, size)
                name = _one_line(self._uploads[upload_id])
                return [f"* {name}: {quarter * 25}% sent"] if quarter else []
            case DownloadProgress(file=file, received=received, size=size):
                quarter = self._quarter(file, received, size)
                number = self._numbers.get(file)
                return [f"* file {number}: {quarter * 25}% received"] if quarter else []
            case FileShared(client_id=upload_id) | Acknowledged(id=upload_id):
                self._uploads.pop(upload_id, None)
                self._quarters.pop(upload_id, None)
            case UploadFailed(id=upload_id):
                self._uploads.pop(upload_id, None)
                self._quarters.pop(upload_id, None)
            case AnswerStarted(files=files) if files:
                numbers = ", ".join(f"file {self._numbers.get(f, '?')}" for f in files)
                assistant = self.client.room.assistant
                where = f"{assistant.provider} / {event.model}" if assistant else event.model
                return [f"* {numbers} sent to {_one_line(where)} with this question"]
        return []

    def _quarter(self, transfer: str, done: int, size: int) -> int:
        """The quarter (1 to 3) a transfer just reached, else 0 (the end is said otherwise)."""
        quarter = min(3, done * 4 // size) if size else 0
        if quarter <= self._quarters.get(transfer, 0):
            return 0
        self._quarters[transfer] = quarter
        return quarter

    async def handle_line(self, line: str) -> bool:
        """Act on one typed line; returns False when the user asked to quit."""
        line = line.rstrip("\n")
        if not line.strip():
            return True
        if not line.startswith("/"):
            try:
                await self.client.send(line)
            except (MessageTooLarge, NotConnected) as exc:
                self.out(f"! not sent: {exc}")
            return True
        command, _, arg = line[1:].partition(" ")
        try:
            return await self._command(command.lower(), arg.strip())
        except NotConnected as exc:
            self.out(f"! {exc}")
            return True

    async def _command(self, command: str, arg: str) -> bool:
        client = self.client
        if command in ("quit", "exit", "leave"):
            return False
        if command == "who":
            for p in client.participants.values():
                tags = [
                    t
                    for t in (
                        p.role == "host" and "host",
                        p.id == client.you.id and "you",
                        p.status != "online" and p.status,
                        p.moved and "taken over from another address",
                    )
                    if t
                ]
                shown = _one_line(p.name) + (f" ({_one_line(', '.join(tags))})" if tags else "")
                self.out(f"  {shown}")
        elif command in ("kick", "ban"):
            target = self.find(arg)
            if target is None:
                self.out(f"! nobody called {arg!r} is here")
            else:
                await client.kick(target.id, ban=command == "ban")
        elif command == "bans":
            for number, ban in enumerate(client.bans, 1):
                self.out(f"  {number}. {_one_line(ban.name)}")
            if not client.bans:
                self.out("  nobody is banned")
        elif command == "unban":
            bans = client.bans
            if not arg.isdigit() or not 1 <= int(arg) <= len(bans):
                self.out("! usage: /unban N, with N from /bans")
            else:
                await client.unban(bans[int(arg) - 1].id)
        elif command in ("lock", "unlock"):
            await client.lock(command == "lock")
        elif command == "max":
            if arg.lower() == "none":
                await client.set_max_participants(None)
            elif arg.isdigit():
                await client.set_max_participants(int(arg))
            else:
                self.out("! usage: /max N or /max none")
        elif command == "close":
            await client.close_room()
        elif command == "stop":
            you = client.you
            answer = stoppable_answer(client.assistant_state, you.id, host=you.role == "host")
            if answer is None:
                self.out("! there is no answer of yours to stop")
            else:
                await client.stop_answer(answer)
        elif command == "regen":
            answer = self.my_last_answer if client.you.role != "host" else self.last_answer
            if answer is None:
                self.out("! there is no answer to regenerate yet")
            else:
                await client.regenerate(answer)
        elif command == "continue":
            answer = self.my_last_answer if client.you.role != "host" else self.last_answer
            if answer is None or answer not in self.cut_off:
                self.out("! the last answer was not cut off: there is nothing to continue")
            else:
                await client.continue_answer(answer)
        elif command == "mode":
            await self._set_mode(arg)
        elif command == "usage":
            line = describe(self.report, self.name_of) if self.report else None
            self.out(line or "! only the host sees the assistant's usage")
        elif command == "send":
            await self._send_file(arg)
        elif command == "cancel":
            sending = client.uploads
            for upload in sending:
                client.cancel_upload(upload.id)
            if not sending:
                self.out("! no file of yours is being sent")
        elif command == "files":
            self._list_files()
        elif command in ("save", "save!"):
            self._save(arg, replace=command == "save!")
        elif command in MESSAGE_COMMANDS:
            await self.actions.run(command, arg)
        else:
            self.out(HELP)
        return True

    async def _send_file(self, arg: str) -> None:
        """``/send [--ai] PATH``: read the file (no more than the room takes) and share it."""
        assistant = arg == "--ai" or arg.startswith("--ai ")
        where = arg.removeprefix("--ai").strip() if assistant else arg
        if not where:
            self.out("! usage: /send PATH, or /send --ai PATH to let the assistant read it")
            return
        room = self.client.room
        if assistant and room.assistant is None:
            self.out("! this room has no assistant to read it; /send PATH shares it")
            return
        path = Path(where)
        shown = _one_line(where)
        limit = max(0, room.limits.max_file_bytes)
        try:
            data = await asyncio.to_thread(_read_at_most, path, limit + 1)
        except OSError as exc:
            self.out(f"! cannot read {shown}: {exc.strerror or exc}")
            return
        if limit and len(data) > limit:  # read one byte more than it takes, to know
            self.out(f"! {shown} not shared: this room takes files of at most {size_words(limit)}")
            return
        try:
            self.client.share_file(path.name, data, assistant=assistant)
        except (FileRefused, NotConnected) as exc:
            self.out(f"! {shown} not shared: {exc}")
            return
        if assistant and room.assistant is not None:
            provider = f"{room.assistant.provider} / {room.assistant.model}"
            self.out(
                f"* You let the assistant read {_one_line(safe_file_name(path.name))}: when it"
                f" answers, the file is sent to {_one_line(provider)}."
            )

    def _list_files(self) -> None:
        known = self.client.files
        for number, file in enumerate(self.files, 1):
            shared = known.get(file)
            if shared is not None:
                self.out("  " + file_line(shared, number))
        if not self.files:
            self.out("  no files shared yet")

    def _save(self, arg: str, *, replace: bool) -> None:
        """``/save N PATH``: fetch file N and write it to PATH (in the background)."""
        number, _, target = arg.partition(" ")
        target = target.strip()
        if not number.isdigit() or not target:
            self.out("! usage: /save N PATH, with N from the [file N] lines")
            return
        n = int(number)
        file = self.files[n - 1] if 1 <= n <= len(self.files) else None
        shared = self.client.files.get(file) if file is not None else None
        if file is None or shared is None:
            self.out(f"! there is no file {n}")
            return
        path = Path(target).expanduser()
        if path.is_dir():
            path = path / safe_file_name(shared.name)
        if not replace and os.path.lexists(path):
            self.out(f"! {_one_line(str(path))} exists; /save! {n} PATH replaces it")
            return
        if file in self._saves:
            self.out(f"! file {n} is being saved already")
            return
        self._quarters.pop(file, None)
        self._saves[file] = asyncio.create_task(self._fetch_and_write(n, file, path, replace))

    async def _fetch_and_write(self, n: int, file: FileId, path: Path, replace: bool) -> None:
        shown = _one_line(str(path))
        try:
            data = await self.client.download(file)
            await asyncio.to_thread(write_private, path, data, replace=replace)
        except DownloadFailed as exc:
            self.out(f"! file {n} not saved: {_one_line(exc.message)}")
        except (UnknownFile, NotConnected) as exc:
            self.out(f"! file {n} not saved: {_one_line(str(exc))}")
        except FileExistsError:
            self.out(f"! file {n} not saved: {shown} exists now; /save! {n} PATH replaces it")
        except OSError as exc:
            self.out(f"! file {n} not saved: cannot write {shown}: {exc.strerror or exc}")
        else:
            self.out(f"* saved file {n} to {shown} ({size_words(len(data))})")
        finally:
            self._saves.pop(file, None)

    async def finish(self) -> None:
        """Wait for the saves under way (each ends, one way or the other)."""
        saves = list(self._saves.values())
        if saves:
            await asyncio.wait(saves)

    async def _set_mode(self, mode: str) -> None:
        report = self.report
        if report is None:
            self.out("! only the host can change the assistant")
            return
        await self.client.configure_assistant(
            mode=mode.strip().lower(), persona=report.persona, token_budget=report.token_budget,
            answer_quota=report.answer_quota, quota_window=report.quota_window,
        )  # fmt: skip


def _stdin_lines(loop: asyncio.AbstractEventLoop) -> asyncio.Queue[str | None]:
    """Lines from standard input, read on a daemon thread so exiting never waits for it."""
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(queue.put_nowait, line)
        loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=read, name="stdin", daemon=True).start()
    return queue


async def _target(args: argparse.Namespace) -> tuple[str, bytes | None] | None:
    """The URL to join, from an address, a link, a join code or a room name, with the
    fingerprint of the room's certificate when a link, a join code or the room's announcement
    named it (None for a typed address); prints why not, if not."""
    if args.code is not None:
        if args.address is not None:
            _complain("give a join code or an address, not both")
            return None
        return await _code_target(args.code)
    if args.room is not None:
        found = await find_room(args.room, args.browse_time, args.interface)
        if isinstance(found, str):
            _complain(found)
            return None
        return found.url(), found.fingerprint
    if args.address is None:
        _complain("give a room address or link, --room NAME, or --list")
        return None
    try:
        address = parse_room_address(args.address)
    except InvalidAddress as exc:
        _complain(str(exc))
        return None
    return address.url, address.fingerprint


async def _code_target(text: str) -> tuple[str, bytes] | None:
    """The room a join code names, with the certificate it presented (checked against the
    code before anything was sent to it); prints why not, if not."""
    try:
        code = parse_join_code(text)
        probe = await probe_join_code(code)
    except (JoinCodeError, JoinRefused, RoomUnreachable, CertificateMismatch) as exc:
        _complain(str(exc))
        return None
    return code.url, probe.fingerprint


async def _doctor(address: str | None, as_json: bool) -> int:
    """Check this machine's network for what keeps rooms from being seen, and say it; with
    a room's ``address`` (``HOST:PORT`` or a link), also whether it answers from here."""
    target = None
    if address is not None:
        try:
            target = parse_room_address(address)
        except InvalidAddress as exc:
            _complain(str(exc))
            return 2
    print("Checking the network (a few seconds)...", file=sys.stderr, flush=True)
    if target is None:
        diagnosis = await diagnose()
    else:
        diagnosis = await diagnose(port=target.port, room_address=target.host)
    if as_json:
        found = dataclasses.asdict(diagnosis)
        found["findings"] = [dataclasses.asdict(f) for f in diagnosis.findings]
        found["advice"] = diagnosis.advice
        print(terminal_json(found))
    else:
        print(terminal_safe(diagnosis.as_text(), keep_lines=True))
    return 0


def verification_line(code: str) -> str:
    """The line asking people who joined by address to compare the room's code."""
    return (
        f"* Verification code: {code}. Compare it with the host's: if it differs, this is "
        "not the room you think; say nothing and /quit."
    )


def _complain(message: str) -> None:
    """Print ``message`` (which may quote the network, and may end in a list of rooms on
    further lines) as the tool's complaint, made safe for the terminal."""
    print(f"gptgroup-chat: {terminal_safe(message, keep_lines=True)}", file=sys.stderr)


async def run(args: argparse.Namespace) -> int:
    try:
        if args.doctor:
            return await _doctor(args.address, args.json)
        if args.scan:
            return await scan_rooms(_printer(), as_json=args.json)
        if args.list:
            return await list_rooms(
                args.browse_time, args.interface, _printer(), watch=args.watch,
                as_json=args.json, check_interval=args.check_interval,
            )  # fmt: skip
        if args.name is None and args.code is not None:  # said before the code's checks
            _complain("--name is needed to join")
            return 2
        target = await _target(args)
    except InterfaceError as exc:
        _complain(str(exc))
        return 2
    if target is None:
        return 2
    if args.name is None:
        _complain("--name is needed to join")
        return 2
    url, fingerprint = target
    client = RoomClient(
        url,
        args.name,
        fingerprint=fingerprint,
        password=args.room_code,
        host_key=args.host_key,
        client_name=f"gptgroup-chat/{__version__}",
    )
    try:
        welcome = await client.connect()
    except (JoinRefused, RoomUnreachable, CertificateMismatch) as exc:
        _complain(str(exc))
        return 1
    out = _printer()
    room, you = _one_line(welcome.room.name), _one_line(welcome.you.name)
    out(f"* You joined '{room}' as {you}. Type /help for commands.")
    if fingerprint is None or args.room is not None or args.code is not None:
        # A typed address, a name anyone can announce, or a code that names a few bits of
        # the certificate: only people can tell for certain that it is the room.
        out(verification_line(client.verification_code or "?"))
    chat = TerminalChat(client, out)
    printer = asyncio.create_task(chat.print_events())
    lines = _stdin_lines(asyncio.get_running_loop())
    while not printer.done():
        getter = asyncio.create_task(lines.get())
        await asyncio.wait({getter, printer}, return_when=asyncio.FIRST_COMPLETED)
        if not getter.done():
            getter.cancel()
            break
        line = getter.result()
        if line is None or not await chat.handle_line(line):
            await chat.finish()  # files asked for are saved before we leave,
            await client.wait_sent()  # and everything typed or shared goes out
            await client.leave()
            break
    return await printer


def _printer() -> Callable[[str], None]:
    """Print a line to standard output. Callers make each piece of room text safe as they
    build the line; this checks the whole line again, so a new line that forgets cannot
    drive the terminal (it keeps newlines: some lines are several)."""

    def out(line: str) -> None:
        print(terminal_safe(line, keep_lines=True), flush=True)

    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gptgroup-chat", description="Chat in a GPT Group room from a terminal."
    )
    parser.add_argument(
        "address", nargs="?", help="the room's address (HOST:PORT) or link (gptgroup://...)"
    )
    parser.add_argument("--name", help="your display name")
    parser.add_argument(
        "--room-code", "--password", dest="room_code", metavar="CODE",
        default=os.environ.get(ROOM_CODE_ENV) or os.environ.get(OLD_PASSWORD_ENV),
        help=f"the room's code (or set {ROOM_CODE_ENV}, which keeps it out of the process list)",
    )  # fmt: skip
    parser.add_argument(
        "--host-key",
        default=os.environ.get(HOST_KEY_ENV),
        help=(
            f"the host key gptgroup-host printed (or set {HOST_KEY_ENV}, which keeps it out of"
            " the process list)"
        ),
    )
    found = parser.add_argument_group("finding rooms on the local network")
    found.add_argument("--list", action="store_true", help="list the rooms on this network")
    found.add_argument("--watch", action="store_true", help="with --list: print every change")
    found.add_argument(
        "--json",
        action="store_true",
        help="with --list, --scan or --doctor: JSON, one object a line",
    )
    found.add_argument("--room", metavar="NAME", help="join the room with this name")
    found.add_argument(
        "--code", metavar="CODE",
        help="join the room with this join code (the host shows it, e.g. G12G-P7HD-H0T)",
    )  # fmt: skip
    found.add_argument(
        "--scan", action="store_true",
        help="search this machine's own subnets for rooms (where announcements do not arrive)",
    )  # fmt: skip
    found.add_argument(
        "--doctor", action="store_true",
        help=(
            "check why rooms may not be seen on this network (nothing leaves the LAN); with a "
            "room's address, also whether it answers from here"
        ),
    )  # fmt: skip
    found.add_argument(
        "--browse-time", type=float, default=3.0, metavar="SECONDS",
        help="how long to look for rooms (default 3)",
    )  # fmt: skip
    found.add_argument(
        "--check-interval", type=float, default=5.0, metavar="SECONDS",
        help="with --watch: how often to check that listed rooms still answer (default 5)",
    )  # fmt: skip
    found.add_argument(
        "--interface", action="append", metavar="ADDRESS_OR_NAME",
        help="look only on this interface or address; repeat for more",
    )  # fmt: skip
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def _make_output_safe() -> None:
    """Log records and tracebacks can quote the network: print them only once made safe, and
    never crash on a character the terminal's encoding lacks."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TerminalSafeFormatter("%(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _make_output_safe()
    install_log_redaction([args.host_key])
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        return 0
    except Exception as exc:  # a bug must not print what the room sent as it is
        print(safe_traceback(exc), file=sys.stderr, end="")
        return 1


if __name__ == "__main__":
    sys.exit(main())
