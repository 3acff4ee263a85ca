"""``gptgroup-host``: host a room from a terminal, with no screen and no Qt.

Prints how to join (addresses, room links, and the room's verification code, which people who
join by address compare with what their app shows), announces the room on the local network,
then serves until Ctrl+C (or SIGTERM) or until the host closes the room from a client. Closing
withdraws the announcement and tells every participant before the connections close.

While it serves, lines typed at the terminal are the host's commands (:data:`HELP`): ``/usage``
shows what the assistant has cost so far and how fast it answered. Only a terminal is read
(a host started from a script or a service reads nothing), and a host put in the background
of its shell is not stopped by the terminal for reading it.

Every mistake in the options (a room name, an interface, an address or port that cannot be
used) is one line on stderr and exit status 2, never a traceback. Log lines (``-v``) are
redacted (:mod:`core.log_redaction`), so no key or URL credential reaches the terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import os
import signal
import sys
import time
from collections.abc import Callable

from cli.assistant_args import (
    AssistantSetup,
    SetupError,
    add_assistant_arguments,
    assistant_from_args,
)
from cli.terminal_text import terminal_safe
from core import __version__
from core.address import host_port
from core.ai.provider import OPENAI_KEY_ENV, PROVIDER_KEY_ENV, ProviderError
from core.ai.usage_ledger import (
    UsageLedger,
    rate_words,
    seconds_words,
    status_words,
    tokens_words,
)
from core.discovery import resolve_interfaces
from core.hosting import AnnounceError, HostingError, RoomHost
from core.join_code import can_have_join_code, make_join_code
from core.log_redaction import install_log_redaction
from core.pake import generate_room_code
from core.protocol import DEFAULT_PORT, Limits
from core.room import RoomConfig

ROOM_CODE_ENV = "GPTGROUP_ROOM_CODE"
OLD_PASSWORD_ENV = "GPTGROUP_ROOM_PASSWORD"  # read too, for scripts written before room codes
NEW_CODE = "new"
HOST_KEY_ENV = "GPTGROUP_HOST_KEY"  # read by gptgroup-chat, so the key stays out of `ps`
MAX_PORT = 65535
MB = 1000 * 1000  # the unit of the file limits (as the room's messages say sizes)
MAX_FILE_MB = 100
MAX_FILE_BUDGET_MB = 4000
USAGE_ROWS = 20  # answers /usage lists, the latest ones
NAME_COLUMN = 16  # characters of the asker's name in /usage
MAX_COMMAND_BYTES = 4096  # a longer line is not a command: it is dropped
BACKGROUND_RETRY = 1.0  # seconds between tries to read the terminal from the background
HELP = """Commands:
  /usage   what the assistant has cost so far, and its latest answers
  /help    this list
Press Ctrl+C to close the room."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gptgroup-host",
        description="Host a GPT Group room on this network from a terminal.",
    )
    parser.add_argument("--name", default="GPT Group room", help="the room's name")
    parser.add_argument(
        "--bind",
        default=None,
        metavar="ADDRESS",
        help="listen on this address only (default: every interface)",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port (0: any free)")
    parser.add_argument(
        "--room-code", "--password", dest="room_code", metavar="CODE",
        default=os.environ.get(ROOM_CODE_ENV) or os.environ.get(OLD_PASSWORD_ENV),
        help=(
            f"a code people need to join; '{NEW_CODE}' makes a random one (or set "
            f"{ROOM_CODE_ENV}, which keeps it out of the process list)"
        ),
    )  # fmt: skip
    parser.add_argument("--max-participants", type=int, default=None, metavar="N")
    parser.add_argument(
        "--max-file-mb", type=int, default=Limits().max_file_bytes // MB, metavar="N",
        help="the largest file people may share, in MB (0: no files; default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--file-budget-mb", type=int, default=Limits().file_budget_bytes // MB, metavar="N",
        help=(
            "memory for all the room's files together, in MB (default: %(default)s); files "
            "stay in memory until the room closes"
        ),
    )  # fmt: skip
    parser.add_argument(
        "--edit-minutes", type=float, default=Limits().edit_window / 60, metavar="N",
        help=(
            "how long after sending people may edit a message, in minutes (0: never; "
            "default: %(default)g)"
        ),
    )  # fmt: skip
    parser.add_argument(
        "--private-history", dest="share_history", action="store_false",
        help="people who join later do not see the conversation before they came",
    )  # fmt: skip
    parser.add_argument(
        "--no-advertise", dest="advertise", action="store_false",
        help="do not announce the room on the local network (join by address or link only)",
    )  # fmt: skip
    parser.add_argument(
        "--interface", action="append", metavar="ADDRESS_OR_NAME",
        help="announce only on this interface (eth0) or address; repeat for more",
    )  # fmt: skip
    parser.add_argument(
        "-v", "--verbose", action="count", default=0,
        help="log connections; twice (-vv) also every frame, by type and size",
    )  # fmt: skip
    parser.add_argument(
        "--trace-content", action="store_true",
        help="with -vv: log what frames say too (chat content: for debugging only)",
    )  # fmt: skip
    add_assistant_arguments(parser)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def join_codes(host: RoomHost) -> list[tuple[str, str]]:
    """``(address, join code)`` for each of the room's private IPv4 addresses. Slow on
    purpose (scrypt, tens of milliseconds each): call it off the event loop."""
    return [
        (address, make_join_code(address, host.port, host.fingerprint))
        for address in host.addresses()
        if can_have_join_code(address)
    ]


def join_instructions(host: RoomHost, codes: list[tuple[str, str]] | None = None) -> str:
    """What to print so people (and the host) know how to join; ``codes`` as
    :func:`join_codes` gives them (made here when not given)."""
    port = host.port
    lines = [
        f"Room {host.config.name!r} is open on port {port}.",
        f"Verification code: {host.verification_code}",
        *([f"Room code: {host.config.password}"] if host.config.password else []),
        "  (people who join by address see it too: they compare it with yours)",
        "Join with:",
    ]
    for address in host.addresses():
        lines.append(f"  gptgroup-chat {host_port(address, port)} --name YOUR_NAME")
    lines.append("or share the room link (it names the room's certificate: nothing to compare):")
    lines += [f"  {link}" for link in host.links()]
    if codes is None:
        codes = join_codes(host)
    if codes:
        lines.append("or give people a join code (gptgroup-chat --code CODE --name YOUR_NAME):")
        lines += [f"  {code}   (on {address})" for address, code in codes]
    lines.append("Host controls (keep the key to yourself), on this machine:")
    lines.append(
        f"  {HOST_KEY_ENV}={host.host_key} gptgroup-chat {host.local_address()} --name YOUR_NAME"
    )
    lines.append("Press Ctrl+C to close the room.")
    return "\n".join(lines)


def room_code(given: str | None) -> str | None:
    """The room code from the option: none, a new random one for ``new``, or as given."""
    if not given:
        return None
    return generate_room_code() if given.strip().casefold() == NEW_CODE else given


async def serve(args: argparse.Namespace) -> int:
    assistant = None
    try:
        assistant = await assistant_from_args(args)
        host = RoomHost(
            RoomConfig(
                name=args.name,
                password=room_code(args.room_code),
                max_participants=args.max_participants,
                share_history=args.share_history,
                assistant=assistant.config if assistant else None,
                max_file_bytes=args.max_file_mb * MB,
                file_budget_bytes=args.file_budget_mb * MB,
                edit_window=args.edit_minutes * 60,
            ),
            provider=assistant.provider if assistant else None,
            bind=args.bind,
            port=args.port,
            trace_content=args.trace_content,
            advertise=args.advertise,
            interfaces=args.interface,
        )
    except (SetupError, ValueError) as exc:
        if assistant is not None:
            await assistant.provider.aclose()
        return _refuse(str(exc))
    if args.list_models:
        return await _print_models(assistant)
    try:
        await host.start()
    except HostingError as exc:
        await host.close()
        hint = (
            " (--no-advertise opens the room unannounced)" if isinstance(exc, AnnounceError) else ""
        )
        return _refuse(f"{exc}{hint}")
    stop = _stop_on_signals()  # before "Press Ctrl+C" is printed, so that Ctrl+C is ours
    print(join_instructions(host, await asyncio.to_thread(join_codes, host)))
    _print_assistant(assistant)
    print(_files_line(host.config))
    if host.advertised:
        print("Announced on the local network, so others see it in their room list.")
    else:
        print("Not announced on the local network (--no-advertise): share the address.")
    stop_reading = _read_commands(HostCommands(host).handle)
    if stop_reading is not None:
        print("Type /help for the host's commands (/usage: what the assistant cost).")
    print(flush=True)
    try:
        await _wait_for_the_end(host, stop)
    finally:
        if stop_reading is not None:
            stop_reading()
    await host.close("host_shutdown")
    print("Room closed.", flush=True)
    return 0


def _refuse(problem: str) -> int:
    """Say what is wrong in one line on stderr; the exit status for unusable options."""
    print(f"gptgroup-host: {' '.join(problem.split())}", file=sys.stderr)
    return 2


def _check_options(args: argparse.Namespace) -> str | None:
    """What is wrong with the options that can be checked before anything starts, or None."""
    if args.max_participants is not None and args.max_participants < 1:
        return "--max-participants must be at least 1"
    if not 0 <= args.port <= MAX_PORT:
        return f"--port must be between 0 and {MAX_PORT}"
    if not 0 <= args.max_file_mb <= MAX_FILE_MB:
        return f"--max-file-mb must be between 0 (no files) and {MAX_FILE_MB}"
    if not 1 <= args.file_budget_mb <= MAX_FILE_BUDGET_MB:
        return f"--file-budget-mb must be between 1 and {MAX_FILE_BUDGET_MB}"
    if args.file_budget_mb <= args.max_file_mb:
        return "--file-budget-mb must be more than --max-file-mb, or no file that large fits"
    try:
        RoomConfig(name=args.name)  # the room's own rules for its name
    except ValueError as exc:
        return f"--name: {exc}"
    if args.interface:
        try:
            resolve_interfaces(args.interface)
        except ValueError as exc:
            return f"--interface: {exc}"
    return None


def _files_line(config: RoomConfig) -> str:
    limits = config.limits
    if limits.max_file_bytes <= 0:
        return "No files in this room (see --max-file-mb)."
    return (
        f"Files: up to {limits.max_file_bytes / MB:g} MB each, "
        f"{limits.file_budget_bytes / MB:g} MB in all, kept in memory until the room closes."
    )


def _print_assistant(assistant: AssistantSetup | None) -> None:
    if assistant is None:
        print("No assistant in this room (see --provider).")
        return
    c = assistant.config
    where = f"{c.model} via {c.provider} ({c.provider_kind})"
    print(f"Assistant: @{c.name}, {where}, answers on {c.mode}.")
    print(assistant.status)


def _stop_on_signals() -> asyncio.Event:
    """An event that Ctrl+C (SIGINT) and SIGTERM set from now on."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _wait_for_the_end(server: RoomHost, stop: asyncio.Event) -> None:
    """Until ``stop`` is set, or until the host closes the room from a client."""
    closed_by_host = asyncio.create_task(server.wait_room_closed())
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({closed_by_host, stopped}, return_when=asyncio.FIRST_COMPLETED)
    if not closed_by_host.done():
        print("Closing the room...", flush=True)
    closed_by_host.cancel()
    stopped.cancel()


class HostCommands:
    """The commands typed at the host's terminal; each answer goes to ``out`` as lines."""

    def __init__(self, host: RoomHost, out: Callable[[str], None] | None = None) -> None:
        self._host = host
        self._out = out or _print_now

    def handle(self, line: str) -> None:
        command = line.strip()
        if not command:
            return
        match command.split()[0].lower():
            case "/usage":
                ledger = self._host.server.assistant_ledger
                if ledger is None:
                    self._out("No assistant in this room: nothing to count.")
                else:
                    self._out(usage_report(ledger))
            case "/help" | "/?":
                self._out(HELP)
            case _:
                shown = terminal_safe(command[:40])
                self._out(f"Unknown command {shown!r}. Type /help for the commands.")


def usage_report(ledger: UsageLedger, *, rows: int = USAGE_ROWS) -> str:
    """``/usage``: the session's totals, then the latest ``rows`` answers as a table (plain
    text; names from the network are made safe to print). ``~`` marks counts the relay made
    itself because the provider gave none."""
    totals = ledger.totals()
    est = totals.tokens_estimated
    priced = ledger.charging == "priced"  # else no cost column: the totals say why
    lines = [
        f"Assistant usage this session ({terminal_safe(ledger.model)}):",
        f"  {totals.answers} answers ({totals.answers_with_text} with text), "
        f"{totals.decisions} auto mode decisions",
        f"  tokens: {tokens_words(totals.prompt_tokens, estimated=est)} in, "
        f"{tokens_words(totals.completion_tokens, estimated=est)} out"
        + (f" ({totals.uncounted} not reported by the provider)" if totals.uncounted else ""),
        f"  time to first token: {seconds_words(totals.mean_first_text)} on average; "
        f"speed: {rate_words(totals.tokens_per_second, estimated=est)}",
        "  cost: "
        + (
            f"{ledger.cost_words(totals.cost, estimated=est)}, {ledger.pricing_words()}"
            if priced
            else ledger.pricing_words()
        ),
    ]
    if est:
        lines.append("  (~: counted here, the provider did not say)")
    records = ledger.answers()[-rows:] if rows > 0 else ()
    if not records:
        lines.append("No answers yet.")
        return "\n".join(lines)
    lines.append(f"Latest answers (up to {rows}, newest last):")
    table = [["ended", "asked by", "status", "in", "out", "first", "tokens/s", "cost"]]
    for r in records:
        table.append([
            time.strftime("%H:%M:%S", time.localtime(r.ended_at)),
            _column_text(r.asked_by, NAME_COLUMN),
            status_words(r),
            tokens_words(r.prompt_tokens, estimated=r.estimated),
            tokens_words(r.completion_tokens, estimated=r.estimated),
            seconds_words(r.first_text),
            rate_words(r.tokens_per_second, estimated=r.estimated, unit=False),
            ledger.cost_words(r.cost, estimated=r.estimated),
        ])  # fmt: skip
    if not priced:
        table = [row[:-1] for row in table]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    numbers = {3, 4, 5, 6, 7}  # right-aligned
    for row in table:
        cells = [
            cell.rjust(width) if i in numbers else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  " + "  ".join(cells).rstrip())
    return "\n".join(lines)


def _column_text(text: str, width: int) -> str:
    """``text`` safe to print on one line, cut to ``width`` characters (``…`` when cut)."""
    safe = terminal_safe(" ".join(text.split())) or "—"
    return safe if len(safe) <= width else safe[: width - 1] + "…"


def _print_now(text: str) -> None:
    print(text, flush=True)


def _read_commands(handle: Callable[[str], None]) -> Callable[[], None] | None:
    """Pass each line typed at the terminal on standard input to ``handle``, from the running
    loop, until the returned function is called or the input ends. None (and nothing read)
    when standard input is not a terminal.

    A process that reads its terminal from the background is stopped by the terminal
    (SIGTTIN): with the room still open, nobody could join it. So SIGTTIN is ignored while
    commands are read, which makes such a read fail instead (EIO), and reading pauses for a
    moment before trying again."""
    try:
        fd = sys.stdin.fileno() if sys.stdin is not None else -1
    except (OSError, ValueError):  # replaced or closed standard input
        return None
    if fd < 0 or not os.isatty(fd):
        return None
    loop = asyncio.get_running_loop()
    previous = signal.signal(signal.SIGTTIN, signal.SIG_IGN)
    pending = bytearray()
    retry: asyncio.TimerHandle | None = None
    overlong = False  # dropping the rest of a line too long to be a command
    done = False

    def stop() -> None:
        nonlocal done
        if done:
            return
        done = True
        loop.remove_reader(fd)
        if retry is not None:
            retry.cancel()
        # None: the handler was not set from Python; the default is what it was.
        signal.signal(signal.SIGTTIN, signal.SIG_DFL if previous is None else previous)

    def resume() -> None:
        nonlocal retry
        retry = None
        if not done:
            loop.add_reader(fd, readable)

    def readable() -> None:
        nonlocal retry, overlong
        try:
            data = os.read(fd, MAX_COMMAND_BYTES)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno != errno.EIO or not _in_background(fd):
                stop()  # the terminal is gone (hung up): no more commands
                return
            loop.remove_reader(fd)  # until we are brought back to the foreground
            retry = loop.call_later(BACKGROUND_RETRY, resume)
            return
        if not data:  # end of input (Ctrl+D): no more commands, the room carries on
            stop()
            return
        pending.extend(data)
        while (end := pending.find(b"\n")) >= 0:
            line = bytes(pending[:end])
            del pending[: end + 1]
            if overlong:
                overlong = False  # the end of a line too long to be a command
            elif len(line) <= MAX_COMMAND_BYTES:
                handle(line.decode("utf-8", errors="replace"))
        if len(pending) > MAX_COMMAND_BYTES:
            pending.clear()
            overlong = True

    loop.add_reader(fd, readable)
    return stop


def _in_background(fd: int) -> bool:
    """Whether ``fd`` is our controlling terminal and another process group has it."""
    try:
        return os.tcgetpgrp(fd) != os.getpgrp()
    except OSError:  # not our controlling terminal, or it hung up
        return False


async def _print_models(assistant: AssistantSetup | None) -> int:
    if assistant is None:
        print("gptgroup-host: --list-models needs a --provider", file=sys.stderr)
        return 2
    try:
        for model in await assistant.provider.list_models():
            print(model)
    except ProviderError as exc:
        print(f"gptgroup-host: {exc}", file=sys.stderr)
        return 1
    finally:
        await assistant.provider.aclose()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if (problem := _check_options(args)) is not None:
        return _refuse(problem)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s: %(message)s",
    )
    if args.verbose > 1:  # our own frame trace; the libraries' debug output would drown it
        logging.getLogger("gptgroup").setLevel(logging.DEBUG)
    # Keys found later (the provider's, the host key) register themselves as they are made.
    install_log_redaction([os.environ.get(PROVIDER_KEY_ENV), os.environ.get(OPENAI_KEY_ENV)])
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
