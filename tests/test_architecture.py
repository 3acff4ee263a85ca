"""The layering the design promises: core/ runs without Qt and is only the library."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "core"
QT_MODULES = ("PySide6", "shiboken6", "qasync")
FRONT_ENDS = ("cli", "desktop")


def _imports_of_core() -> list[tuple[str, str]]:
    found = []
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found += [(path.name, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.append((path.name, node.module))
    return found


def test_no_core_module_imports_qt() -> None:
    offenders = [f"{f}: {n}" for f, n in _imports_of_core() if n.split(".")[0] in QT_MODULES]
    assert offenders == []


def test_core_never_imports_a_front_end() -> None:
    offenders = [f"{f}: {n}" for f, n in _imports_of_core() if n.split(".")[0] in FRONT_ENDS]
    assert offenders == []


def test_importing_all_of_core_loads_no_qt() -> None:
    modules = sorted(
        ".".join(p.relative_to(CORE.parent).with_suffix("").parts).removesuffix(".__init__")
        for p in CORE.rglob("*.py")
    )
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=CORE.parent,
    )
    assert out.stdout.strip() == "[]", out.stdout
    assert len(modules) > 10  # the walk found the package


DESKTOP = CORE.parent / "desktop"


def test_widgets_talk_to_the_room_only_through_the_session() -> None:
    """``desktop/session.py`` is the one bridge to the room's client: a widget that reached
    past it (``session.client.…``) would read state the session does not vouch for."""
    offenders = []
    for path in DESKTOP.glob("*.py"):
        if path.name == "session.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr == "client":
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []
