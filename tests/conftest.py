"""Shared fixtures: real rooms on loopback, real clients, and helpers to watch what they see."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import keyring
import pytest
from hypothesis import settings
from keyring.backend import KeyringBackend
from websockets.asyncio.client import ClientConnection, connect

from core.admission import AdmissionRules
from core.client import ClientEvent, ReconnectPolicy, RoomClient
from core.codec import parse_server_frame
from core.protocol import (
    PROTOCOL_VERSION,
    Limits,
    MessagePosted,
)
from core.room import Room, RoomConfig
from core.room_tls import client_context
from core.server import RoomServer
from tests.blip_proxy import BlipProxy

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# No test may read or write the user's own files: settings, keyring files, caches all go to a
# home made for this run (set before anything creates a QSettings or a keyring).
_TEST_HOME = Path(tempfile.mkdtemp(prefix="gptgroup-test-home-"))
for _variable, _folder in (
    ("XDG_CONFIG_HOME", ".config"),
    ("XDG_DATA_HOME", ".local/share"),
    ("XDG_CACHE_HOME", ".cache"),
    ("XDG_STATE_HOME", ".local/state"),
):
    os.environ[_variable] = str(_TEST_HOME / _folder)


class MemoryKeyring(KeyringBackend):
    """A keyring that lives in this process only: no test touches the system's keyring."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.passwords.pop((service, username), None)


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[MemoryKeyring]:
    """Every test gets an empty in-memory keyring."""
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


# Property-based tests: a quick pass in `make test`, at least 100,000 inputs in `make fuzz`.
settings.register_profile("default", max_examples=150, deadline=None)
settings.register_profile("fuzz", max_examples=30_000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

E = TypeVar("E")

FAST_RECONNECT = ReconnectPolicy(initial_delay=0.05, max_delay=0.3, give_up_after=10.0)
# Generous limits so tests that are not about rate limiting are not slowed by them.
RELAXED = Limits(message_burst=1000, messages_per_minute=60_000)
# Every test client connects from 127.0.0.1: one address may seat and rejoin many people here.
RELAXED_ADMISSION = AdmissionRules(
    max_participants_per_address=500, join_burst=1000, resume_burst=1000,
    session_resume_burst=1000,
)  # fmt: skip


class Inbox:
    """Collects every event a client delivers, so a test can wait for the one it expects."""

    def __init__(self, client: RoomClient) -> None:
        self.client = client
        self.events: list[ClientEvent] = []
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._collect())

    async def _collect(self) -> None:
        async for event in self.client.events():
            self.events.append(event)
            self._changed.set()

    async def wait_for(
        self, predicate: Callable[[ClientEvent], bool], timeout: float = 5.0
    ) -> ClientEvent:
        """The first event (already seen or still to come) that satisfies ``predicate``."""

        async def scan() -> ClientEvent:
            seen = 0
            while True:
                for event in self.events[seen:]:
                    if predicate(event):
                        return event
                seen = len(self.events)
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(scan(), timeout)

    async def wait_type(self, kind: type[E], timeout: float = 5.0, **fields: Any) -> E:
        """The first event of type ``kind`` whose attributes equal ``fields``."""

        def match(event: ClientEvent) -> bool:
            return isinstance(event, kind) and all(
                getattr(event, k) == v for k, v in fields.items()
            )

        return await self.wait_for(match, timeout)  # type: ignore[return-value]

    def texts(self) -> list[str]:
        """The text of every chat message seen, in order."""
        return [e.text for e in self.events if isinstance(e, MessagePosted)]

    async def wait_texts(self, count: int, timeout: float = 5.0) -> list[str]:
        await self.wait_for(lambda _e: len(self.texts()) >= count, timeout)
        return self.texts()

    async def wait_stream_end(self, timeout: float = 5.0) -> None:
        """Until the client's event stream has ended (after its ``Ended``): from then on,
        nothing more can arrive, so a test can assert what never happened without sleeping."""
        await asyncio.wait_for(asyncio.shield(self._task), timeout)

    def close(self) -> None:
        self._task.cancel()


class RoomHarness:
    """A room served on loopback plus the clients a test made; all closed afterwards."""

    def __init__(self, server: RoomServer) -> None:
        self.server = server
        self.clients: list[RoomClient] = []
        self.inboxes: list[Inbox] = []

    @property
    def room(self) -> Room:
        return self.server.room

    @property
    def url(self) -> str:
        return self.server.url()

    async def join(
        self, name: str, *, host: bool = False, url: str | None = None, **kwargs: Any
    ) -> tuple[RoomClient, Inbox]:
        """Connect a real :class:`RoomClient` and start collecting its events."""
        kwargs.setdefault("policy", FAST_RECONNECT)
        if host:
            kwargs["host_key"] = self.room.config.host_key
        client = RoomClient(url or self.url, name, **kwargs)
        await client.connect()
        inbox = Inbox(client)
        self.clients.append(client)
        self.inboxes.append(inbox)
        return client, inbox

    async def raw(self, **kwargs: Any) -> ClientConnection:
        """A bare WebSocket to the room (over TLS, checking no certificate), for speaking the
        protocol by hand (or badly)."""
        kwargs.setdefault("ssl", client_context())
        return await connect(self.url, proxy=None, compression=None, **kwargs)

    async def aclose(self) -> None:
        for client in self.clients:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.leave(), 5)
        for inbox in self.inboxes:
            inbox.close()
        await self.server.close()


RoomFactory = Callable[..., Awaitable[RoomHarness]]


@pytest.fixture
async def make_room() -> AsyncIterator[RoomFactory]:
    """Start rooms on loopback: ``await make_room(password=..., limits=...)``."""
    harnesses: list[RoomHarness] = []

    async def factory(
        *,
        tick_interval: float = 0.05,
        max_pending_bytes: int = 1024 * 1024,
        open_timeout: float = 5.0,
        provider: Any = None,
        relay_options: dict[str, Any] | None = None,
        **config: Any,
    ) -> RoomHarness:
        config.setdefault("name", "Test room")
        config.setdefault("limits", RELAXED)
        config.setdefault("admission", RELAXED_ADMISSION)
        config.setdefault("away_notice_delay", 0.1)
        server = RoomServer(
            RoomConfig(**config),
            host="127.0.0.1",
            port=0,
            tick_interval=tick_interval,
            max_pending_bytes=max_pending_bytes,
            open_timeout=open_timeout,
            provider=provider,
            relay_options=relay_options,
        )
        await server.start()
        harness = RoomHarness(server)
        harnesses.append(harness)
        return harness

    yield factory
    for harness in harnesses:
        await harness.aclose()


@pytest.fixture
async def room(make_room: RoomFactory) -> RoomHarness:
    """A room with default settings and relaxed rate limits."""
    return await make_room()


@pytest.fixture
async def proxy(room: RoomHarness) -> AsyncIterator[BlipProxy]:
    """A proxy in front of :func:`room` that a test can cut, or make refuse, to play a
    network blip (see :class:`tests.blip_proxy.BlipProxy`)."""
    proxy = BlipProxy(room.server.port)
    await proxy.start()
    yield proxy
    await proxy.close()


async def hand_join(ws: ClientConnection, name: str, **hello: Any) -> dict[str, Any]:
    """Do the handshake by hand on a raw socket; returns the welcome as a plain dict."""
    greeting = json.loads(await ws.recv())
    assert greeting["type"] == "server_hello"
    hello = {"type": "hello", "protocol": PROTOCOL_VERSION, "name": name, **hello}
    await ws.send(json.dumps(hello))
    reply: dict[str, Any] = json.loads(await ws.recv())
    return reply


async def recv_until(ws: ClientConnection, type_name: str, timeout: float = 5.0) -> Any:
    """Read frames from a raw socket until one of ``type_name`` arrives; returns it parsed."""

    async def read() -> Any:
        while True:
            message = parse_server_frame(await ws.recv())
            if getattr(message, "TYPE", None) == type_name:
                return message

    return await asyncio.wait_for(read(), timeout)


def limits(**changes: Any) -> Limits:
    """Relaxed limits with some values changed."""
    return replace(RELAXED, **changes)


# tests/package checks the installed .deb: `make package-test` builds and installs it and
# names it in this variable. Elsewhere there is nothing installed to check.
collect_ignore = [] if os.environ.get("GPTGROUP_INSTALLED_DEB") else ["package"]
