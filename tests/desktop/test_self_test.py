"""``gptgroup --self-test``: the whole run as a process without a screen, and its runner failing."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core import APP_NAME, __version__
from desktop.self_test import STEPS, Rig, Step, run_steps

ROOT = Path(__file__).resolve().parents[2]
PASSED = f"Self-test passed: {APP_NAME} {__version__} works on this machine."


def test_the_self_test_passes_without_a_screen_and_writes_nothing(tmp_path: Path) -> None:
    home, temp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    temp.mkdir()
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")
        and not name.startswith("XDG_")
    }
    env.update(HOME=str(home), TMPDIR=str(temp), PYTHONUNBUFFERED="1")
    run = subprocess.run(
        [sys.executable, "-m", "desktop", "--self-test"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=100, check=False,
    )  # fmt: skip
    lines = run.stdout.splitlines()
    assert run.returncode == 0, run.stdout + run.stderr
    assert len(lines) == len(STEPS) + 1
    assert all(line.startswith("  ok   ") for line in lines[:-1]), run.stdout
    assert lines[-1] == PASSED
    assert any(line.startswith("  ok   Hosted an encrypted room on 127.0.0.1:") for line in lines)
    assert "Traceback" not in run.stderr
    # No settings, caches or keyring files in the home, and the scratch folder is gone.
    assert list(home.rglob("*")) == []
    assert list(temp.iterdir()) == []


async def _refused(port: int) -> bool:
    try:
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return True
    writer.close()
    await writer.wait_closed()
    return False


async def test_a_failing_step_is_named_stops_the_run_and_everything_is_closed(
    tmp_path: Path,
) -> None:
    later: list[str] = []
    ports: list[int] = []

    async def break_down(rig: Rig) -> str:
        assert rig.host is not None and rig.stand_in is not None
        ports.extend((rig.host.port, rig.stand_in.port))
        raise RuntimeError("the disk\nis on fire")

    async def afterwards(rig: Rig) -> str:
        later.append("ran")
        return "ran"

    steps = [*STEPS[:3], Step("Break on purpose", break_down), Step("Run later", afterwards)]
    rig = Rig(tmp_path)
    out = io.StringIO()
    status = await run_steps(steps, rig, out=out)
    lines = out.getvalue().splitlines()

    assert status == 1
    assert [line[:7] for line in lines[:3]] == ["  ok   "] * 3
    assert lines[3:] == [
        "  FAIL Break on purpose: the disk is on fire",
        "Self-test failed at Break on purpose: the disk is on fire",
    ]
    assert later == []
    assert "Traceback" not in out.getvalue()  # only with verbose
    assert rig.guest is not None and rig.guest.ended is not None  # the guest left
    assert await _refused(ports[0]), "the room is still open"
    assert await _refused(ports[1]), "the stand-in still answers"


async def test_a_step_over_its_timeout_fails_and_verbose_shows_the_traceback(
    tmp_path: Path,
) -> None:
    ports: list[int] = []

    async def hang(rig: Rig) -> str:
        assert rig.stand_in is not None
        ports.append(rig.stand_in.port)
        await asyncio.Event().wait()
        return "never"

    rig = Rig(tmp_path)
    out = io.StringIO()
    steps = [STEPS[0], Step("Hang on purpose", hang, timeout=0.3), STEPS[1]]
    status = await run_steps(steps, rig, out=out, verbose=True)

    text = out.getvalue()
    assert status == 1
    assert "  FAIL Hang on purpose: no result within 0.3 s" in text
    assert "Traceback" in text
    assert text.splitlines()[-1] == "Self-test failed at Hang on purpose: no result within 0.3 s"
    assert rig.host is None  # hosting never started
    assert await _refused(ports[0]), "the stand-in still answers"


@pytest.mark.parametrize("verbose", [False, True])
async def test_every_step_passing_is_said_once(tmp_path: Path, verbose: bool) -> None:
    async def fine(rig: Rig) -> str:
        return "Did a fine thing"

    out = io.StringIO()
    status = await run_steps([Step("Fine", fine)], Rig(tmp_path), out=out, verbose=verbose)
    lines = out.getvalue().splitlines()
    assert status == 0
    assert lines[0].startswith("  ok   Did a fine thing (") and lines[0].endswith(" s)")
    assert lines[1:] == [PASSED]
