"""The ``gptgroup`` command: the app, and the terminal tools under the same name."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from core import __version__
from tests.core.test_assistant_files import make_pdf


def launch(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``gptgroup ARGS`` (through desktop.launcher, as the installed command runs it), given
    ``stdin``; its stdout ends with whether Qt was loaded, so the terminal tools can be seen
    not to load it."""
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
        [sys.executable, "-c", code],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
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


def test_the_hidden_word_makes_a_pdf_worker_without_qt() -> None:
    # What the frozen app runs to read a shared PDF: ``gptgroup extract-text`` (it has no -m).
    pdf = make_pdf(["Ferry at 9:40", "Hotel (harbour view)"]).decode("ascii")
    result = launch("extract-text", "--max-chars", "1000", "--seconds", "10", stdin=pdf)
    assert result.returncode == 0, result.stderr
    answer, qt = result.stdout.splitlines()
    assert json.loads(answer) == {"text": "Ferry at 9:40\n\nHotel (harbour view)"}
    assert qt == "qt loaded: False"


def test_the_hidden_words_worker_answers_junk_with_a_problem() -> None:
    result = launch("extract-text", "--max-chars", "1000", stdin="%PDF-1.4 nothing here")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[0]) == {"problem": "the PDF could not be read"}


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
    assert "extract-text" not in text  # for the app itself, not for people
