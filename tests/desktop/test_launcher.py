"""The ``gptgroup`` command: the app, and the terminal tools under the same name."""

from __future__ import annotations

import subprocess
import sys

import pytest

from core import __version__


def launch(*args: str) -> subprocess.CompletedProcess[str]:
    """``gptgroup ARGS`` (through desktop.launcher, as the installed command runs it); its
    stdout ends with whether Qt was loaded, so the terminal tools can be seen not to load it."""
    code = (
        "import sys\n"
        "from desktop.launcher import main\n"
        f"sys.argv = ['gptgroup', *{list(args)!r}]\n"
        "try:\n"
        "    status = main()\n"
        "except SystemExit as exc:\n"
        "    status = exc.code\n"
        "print('qt loaded:', 'PySide6' in sys.modules)\n"
        "sys.exit(status)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(
    ("tool", "usage"), [("host", "usage: gptgroup-host"), ("chat", "usage: gptgroup-chat")]
)
def test_the_terminal_tools_run_under_the_apps_name_without_loading_qt(
    tool: str, usage: str
) -> None:
    result = launch(tool, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(usage)
    assert result.stdout.splitlines()[-1] == "qt loaded: False"


def test_a_wrong_option_of_a_tool_is_that_tools_complaint() -> None:
    result = launch("host", "--port", "seventy")
    assert result.returncode == 2
    assert "gptgroup-host: error: argument --port" in result.stderr


def test_anything_else_goes_to_the_app() -> None:
    result = launch("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"gptgroup {__version__}"
    assert result.stdout.splitlines()[-1] == "qt loaded: True"


def test_the_apps_help_names_the_tools_and_the_self_test() -> None:
    result = launch("--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "'gptgroup host' runs a room without a screen" in text
    assert "--self-test" in text
    assert "--startup-probe" in text
