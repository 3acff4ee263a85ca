"""``gptgroup-host``: host a room from a terminal, with no screen and no Qt.

Prints how to join (addresses, room links, and the room's verification code, which people who
join by address compare with what their app shows), announces the room on the local network,
then serves until Ctrl+C (or SIGTERM) or until the host closes the room from a client. Closing
withdraws the announcement and tells every participant before the connections close.

Every mistake in the options (a room name, an interface, an address or port that cannot be
used) is one line on stderr and exit status 2, never a traceback. Log lines (``-v``) are
redacted (:mod:`core.log_redaction`), so no key or URL credential reaches the terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from cli.assistant_args import (
    AssistantSetup,
    SetupError,
    add_assistant_arguments,
    assistant_from_args,
)
from core import __version__
from core.address import host_port
from core.ai.provider import OPENAI_KEY_ENV, PROVIDER_KEY_ENV, ProviderError
from core.discovery import resolve_interfaces
from core.hosting import AnnounceError, HostingError, RoomHost
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


def join_instructions(host: RoomHost) -> str:
    """What to print so people (and the host) know how to join."""
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
    print(join_instructions(host))
    _print_assistant(assistant)
    print(_files_line(host.config))
    if host.advertised:
        print("Announced on the local network, so others see it in their room list.")
    else:
        print("Not announced on the local network (--no-advertise): share the address.")
    print(flush=True)
    await _wait_for_the_end(host, stop)
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
