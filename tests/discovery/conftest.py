"""Fixtures shared by the tests that run hosts and clients on a pretend LAN."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.cli_processes import Process


@pytest.fixture
async def processes() -> AsyncIterator[list[Process]]:
    """Processes a test starts; each is killed when the test ends, however it ends."""
    started: list[Process] = []
    yield started
    for proc in started:
        await proc.kill()
