"""Chat content lives in memory only: a whole session writes none of it to disk."""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from pathlib import Path

from tests.cli_processes import Process, start_host

PROJECT = Path(__file__).resolve().parents[2]


def files_containing(marker: bytes, roots: list[Path], since: float) -> list[Path]:
    """Files under ``roots`` changed since ``since`` whose bytes contain ``marker``."""
    found = []
    for root in roots:
        for dirpath, _dirs, names in os.walk(root):
            for name in names:
                path = Path(dirpath) / name
                try:
                    if path.is_symlink() or path.stat().st_mtime < since:
                        continue
                    if marker in path.read_bytes():
                        found.append(path)
                except OSError:
                    continue
    return found


async def test_a_chat_session_leaves_no_content_on_disk(tmp_path: Path) -> None:
    home, work, tmp = tmp_path / "home", tmp_path / "work", tmp_path / "tmp"
    for d in (home, work, tmp):
        d.mkdir()
    env = {
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_STATE_HOME": str(home / ".local/state"),
    }
    secret = f"confidential-{uuid.uuid4().hex}"
    name = f"Person{uuid.uuid4().hex[:6]}"
    started = time.time() - 1
    host, address, key = await start_host("-v", env=env, cwd=str(work))
    try:
        a = await Process.start(
            "gptgroup-chat", address, "--name", name, f"--host-key={key}", env=env, cwd=str(work)
        )
        b = await Process.start("gptgroup-chat", address, "--name", "Other", env=env, cwd=str(work))
        await a.expect("You joined")
        await b.expect("You joined")
        await a.type(f"{secret} from a")
        await b.expect(secret)
        await b.type(f"{secret} from b")
        await a.expect(f"{secret} from b")
        await a.type("/close")
        assert await a.wait() == 0 and await b.wait() == 0 and await host.wait() == 0
    finally:
        await host.kill()
    assert secret in "\n".join(b.lines)  # the marker really went through the room
    roots = [tmp_path, PROJECT, Path(tempfile.gettempdir())]
    assert files_containing(secret.encode(), roots, started) == []
    assert files_containing(name.encode(), roots, started) == []
