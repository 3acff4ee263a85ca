"""The desktop app's command line: ``-v`` / ``-vv`` say more in the log, as ``gptgroup-host``
does, from our own loggers only; Qt's options are left for Qt; lines stay redacted, and a
hosted room's frame trace never carries what people wrote."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from core.log_redaction import REDACTED
from desktop.app import AppOptions, parse_arguments, set_up_logging
from desktop.settings import KeyStore, Preferences
from tests.desktop.conftest import until
from tests.desktop.flows import hosted


@pytest.fixture(autouse=True)
def our_log_level() -> Iterator[None]:
    """set_up_logging() sets the level of our loggers for the process: put it back."""
    ours = logging.getLogger("gptgroup")
    level = ours.level
    yield
    ours.setLevel(level)


@pytest.mark.parametrize(
    ("argv", "verbose"),
    [
        ([], 0),
        (["-v"], 1),
        (["--verbose"], 1),
        (["-vv"], 2),
        (["-v", "--verbose"], 2),
        (["--theme", "dark", "-vvv"], 3),
    ],
)
def test_each_v_says_more(argv: list[str], verbose: int) -> None:
    assert parse_arguments(argv).verbose == verbose


def test_qts_own_options_are_left_for_qt() -> None:
    argv = ["-platform", "offscreen", "-visual", "TrueColor", "-style", "fusion", "-v"]
    assert parse_arguments(argv) == AppOptions(theme=None, verbose=1)
    with pytest.raises(SystemExit):
        parse_arguments(["--verbose=2"])  # a count, not a value


@pytest.mark.parametrize(
    ("verbose", "info", "debug"), [(0, False, False), (1, True, False), (2, True, True)]
)
def test_verbosity_sets_our_loggers_and_leaves_the_libraries_alone(
    verbose: int, info: bool, debug: bool
) -> None:
    set_up_logging(verbose)
    for name in ("gptgroup.server", "gptgroup.client", "gptgroup.desktop.session"):
        ours = logging.getLogger(name)
        assert ours.isEnabledFor(logging.WARNING)
        assert ours.isEnabledFor(logging.INFO) == info
        assert ours.isEnabledFor(logging.DEBUG) == debug
    for library in ("websockets.server", "qasync", "openai", "zeroconf"):
        assert not logging.getLogger(library).isEnabledFor(logging.INFO)


def test_verbose_lines_are_still_redacted(caplog: pytest.LogCaptureFixture) -> None:
    set_up_logging(2)
    logging.getLogger("gptgroup.ai.provider").debug(
        "calling http://ana:hunter2@192.168.1.20:8800/v1"
    )
    assert "hunter2" not in caplog.text and REDACTED in caplog.text


async def test_a_hosted_rooms_trace_says_which_frames_not_what_they_say(
    caplog: pytest.LogCaptureFixture, prefs: Preferences, keys: KeyStore, cleanup: list[Any]
) -> None:
    set_up_logging(2)
    host = await hosted(prefs, keys, cleanup)
    page = host.chat
    assert page is not None
    page.send("our secret lunch plans")

    def trace() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "gptgroup.server"]

    # The room's echo of the message to us: "> connection type (size)".
    await until(lambda: any(" message (" in line for line in trace()), what="the echo")
    assert any(line.startswith("< ") and " send (" in line for line in trace())
    assert any("listening on port" in line for line in trace())  # an INFO line of the room's
    assert "secret lunch" not in caplog.text
