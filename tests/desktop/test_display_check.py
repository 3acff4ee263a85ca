"""Without a screen, or without a library Qt's platform plugin needs, the app says so in one
line and exits with CANNOT_SHOW_WINDOW, where Qt would abort with a core dump.

The processes are real (``python -m desktop``) and so is the dynamic loader: the missing
library is made by renaming one of the X11 plugin's needed libraries in a copy of the plugin.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PySide6.QtCore import QLibraryInfo

from desktop.display_check import (
    MAX_LINE,
    display_problem,
    load_failure_line,
    package_for,
    platform_choice,
)
from desktop.launcher import CANNOT_SHOW_WINDOW

REPO = Path(__file__).resolve().parents[2]
QT_PLUGINS = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath))
QT_LIBRARIES = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.LibrariesPath))
XCB_PLUGIN = QT_PLUGINS / "platforms" / "libqxcb.so"
CURSOR = b"libxcb-cursor.so.0"
SCREEN_VARIABLES = ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "QT_QPA_PLATFORM_PLUGIN_PATH")

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux") or not XCB_PLUGIN.is_file(),
    reason="Qt's X11 platform plugin exists on Linux only",
)


def run_app(environ: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """``python -m desktop`` in ``environ``; a window it opens by mistake would not close, so
    the timeout ends the test rather than the suite."""
    return subprocess.run(
        [sys.executable, "-m", "desktop"],
        env=dict(environ),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def screenless_environ() -> dict[str, str]:
    """This process's environment (PATH, the test home…) without any screen or Qt platform."""
    environ = {k: v for k, v in os.environ.items() if k not in SCREEN_VARIABLES}
    environ.pop("XDG_SESSION_TYPE", None)
    return environ


def xcb_plugin_copy(tmp_path: Path, *, cursor_library: bytes = CURSOR) -> Path:
    """A copy of Qt's X11 plugin that needs ``cursor_library`` instead of libxcb-cursor.so.0,
    laid out as in Qt's own folder (``plugins/platforms/`` beside ``lib/``) so that it finds Qt's
    libraries as the original does; the folder of the copy (for QT_QPA_PLATFORM_PLUGIN_PATH)."""
    assert len(cursor_library) == len(CURSOR)  # the string table keeps its layout
    original = XCB_PLUGIN.read_bytes()
    assert original.count(CURSOR) == 1  # the DT_NEEDED entry, and nothing else
    platforms = tmp_path / "Qt" / "plugins" / "platforms"
    platforms.mkdir(parents=True)
    (tmp_path / "Qt" / "lib").symlink_to(QT_LIBRARIES, target_is_directory=True)
    (platforms / XCB_PLUGIN.name).write_bytes(original.replace(CURSOR, cursor_library))
    return platforms


def broken_copy(tmp_path: Path) -> str:
    """The folder of a copy of Qt's X11 plugin that needs a library no system has."""
    return str(xcb_plugin_copy(tmp_path, cursor_library=b"libxcb-cursor.so.9"))


def assert_one_line(problem: str | None) -> str:
    assert problem is not None
    assert problem.splitlines() == [problem]
    assert len(problem) <= MAX_LINE
    assert "`gptgroup host`" in problem
    return problem


# --- the app, as people start it ---------------------------------------------------------------


@linux_only
def test_without_a_screen_the_app_says_so_in_one_line_instead_of_aborting() -> None:
    result = run_app(screenless_environ())
    assert result.returncode == CANNOT_SHOW_WINDOW, result.stderr  # not -6 (Qt's abort)
    assert "core dumped" not in result.stderr
    assert "Reinstalling the application" not in result.stderr
    line = assert_one_line(result.stderr.strip())
    assert "no screen" in line
    assert "DISPLAY" in line and "WAYLAND_DISPLAY" in line


@linux_only
def test_a_missing_library_is_named_with_its_package(tmp_path: Path) -> None:
    environ = screenless_environ() | {
        "QT_QPA_PLATFORM_PLUGIN_PATH": broken_copy(tmp_path),
        "QT_QPA_PLATFORM": "xcb",
        "DISPLAY": ":99",  # no X server: the check is made before Qt would connect
    }  # fmt: skip
    result = run_app(environ)
    assert result.returncode == CANNOT_SHOW_WINDOW, result.stderr
    assert "Reinstalling the application" not in result.stderr
    line = assert_one_line(result.stderr.strip())
    assert "libxcb-cursor.so.9" in line
    assert "sudo apt install libxcb-cursor0" in line
    assert "make system-deps" in line  # run from the source checkout


# --- the check in this process ------------------------------------------------------------------


@linux_only
def test_the_plugin_with_all_its_libraries_gives_no_complaint(tmp_path: Path) -> None:
    environ = {"QT_QPA_PLATFORM_PLUGIN_PATH": str(xcb_plugin_copy(tmp_path, cursor_library=CURSOR)),
               "QT_QPA_PLATFORM": "xcb", "DISPLAY": ":99"}  # fmt: skip
    assert display_problem([], environ) is None


@linux_only
@pytest.mark.parametrize(
    ("frozen", "remedy", "not_said"),
    [
        (False, "sudo make system-deps", "apt-get install -f"),
        (True, "sudo apt-get install -f", "make system-deps"),
    ],
)
def test_the_remedy_fits_the_installation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, frozen: bool, remedy: str, not_said: str
) -> None:
    monkeypatch.setattr(sys, "frozen", frozen, raising=False)
    environ = {"QT_QPA_PLATFORM_PLUGIN_PATH": broken_copy(tmp_path),
               "QT_QPA_PLATFORM": "xcb", "DISPLAY": ":0"}  # fmt: skip
    line = assert_one_line(display_problem([], environ))
    assert "sudo apt install libxcb-cursor0" in line
    assert remedy in line and not_said not in line


@linux_only
def test_a_later_plugin_that_works_is_enough(tmp_path: Path) -> None:
    broken = broken_copy(tmp_path)
    # Wayland has no screen, X11's copy lacks a library, offscreen needs neither.
    environ = {"QT_QPA_PLATFORM": "wayland;xcb;offscreen", "DISPLAY": ":0",
               "QT_QPA_PLATFORM_PLUGIN_PATH": broken}  # fmt: skip
    assert display_problem([], environ) is None
    environ["QT_QPA_PLATFORM"] = "wayland;xcb"
    assert "libxcb-cursor0" in assert_one_line(display_problem([], environ))


@linux_only
def test_a_plugin_broken_otherwise_is_left_to_qt(tmp_path: Path) -> None:
    (tmp_path / XCB_PLUGIN.name).write_bytes(b"no ELF file")  # not a missing library
    environ = {"QT_QPA_PLATFORM": "wayland;xcb", "DISPLAY": ":0",
               "QT_QPA_PLATFORM_PLUGIN_PATH": str(tmp_path)}  # fmt: skip
    assert display_problem([], environ) is None  # nor "no screen": X11 has one


# --- which plugins Qt would try -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        ({}, ("xcb",)),
        ({"DISPLAY": ":0"}, ("xcb",)),
        ({"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}, ("wayland", "xcb")),
        ({"XDG_SESSION_TYPE": "wayland"}, ("wayland", "xcb")),
        ({"XDG_SESSION_TYPE": "x11", "DISPLAY": ":0"}, ("xcb",)),
        ({"QT_QPA_PLATFORM": "wayland;xcb"}, ("wayland", "xcb")),
        ({"QT_QPA_PLATFORM": "XCB:nograb;;offscreen", "WAYLAND_DISPLAY": "w"},
         ("xcb", "offscreen")),
        ({"QT_QPA_PLATFORM": ""}, ("xcb",)),  # empty counts as unset, as in Qt
    ],
)  # fmt: skip
def test_qts_choice_of_platform_from_the_environment(
    environ: dict[str, str], names: tuple[str, ...]
) -> None:
    assert platform_choice([], environ).names == names


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["-platform", "offscreen"], ("offscreen",)),
        (["--platform", "minimal;xcb"], ("minimal", "xcb")),
        (["-platform", "vnc", "-platform", "wayland"], ("wayland",)),  # the last one counts
        (["-platform=offscreen"], ("xcb",)),  # not Qt's syntax: Qt ignores it, so do we
        (["-qwindowtitle", "-platform", "offscreen"], ("xcb",)),  # "-platform" is the title
        (["--theme", "dark", "-platform"], ("xcb",)),  # no value: Qt ignores it
    ],
)
def test_the_platform_option_wins_over_the_environment(
    argv: list[str], names: tuple[str, ...]
) -> None:
    assert platform_choice(argv, {"QT_QPA_PLATFORM": "xcb"}).names == names


@pytest.mark.parametrize(
    "platform", ["offscreen", "minimal", "vnc", "eglfs", "OFFSCREEN:fontconfig"]
)
def test_plugins_that_need_no_screen_need_no_display(platform: str) -> None:
    assert display_problem([], {"QT_QPA_PLATFORM": platform}) is None
    assert display_problem(["-platform", platform], {}) is None


def test_who_asked_for_the_platform_is_named() -> None:
    line = assert_one_line(display_problem([], {"QT_QPA_PLATFORM": "xcb", "WAYLAND_DISPLAY": "w"}))
    assert "QT_QPA_PLATFORM asks for xcb" in line and "DISPLAY is not set" in line
    line = assert_one_line(display_problem(["-platform", "wayland"], {"DISPLAY": ":0"}))
    assert "-platform option asks for wayland" in line and "WAYLAND_DISPLAY is not set" in line
    line = assert_one_line(display_problem([], {"XDG_SESSION_TYPE": "wayland"}))
    assert "neither DISPLAY nor WAYLAND_DISPLAY is set" in line


@linux_only
def test_qts_display_option_is_a_screen_for_x11() -> None:
    assert display_problem(["-display", ":0"], {"QT_QPA_PLATFORM": "xcb"}) is None
    assert display_problem([], {"QT_QPA_PLATFORM": "xcb", "DISPLAY": ""}) is not None


@pytest.mark.parametrize("platform", ["win32", "darwin"])
def test_other_systems_are_left_to_qt(monkeypatch: pytest.MonkeyPatch, platform: str) -> None:
    monkeypatch.setattr(sys, "platform", platform)
    assert display_problem([], {}) is None
    assert display_problem(["-platform", "xcb"], {"QT_QPA_PLATFORM": "xcb"}) is None


# --- what the loader says, in words and packages ------------------------------------------------


@pytest.mark.parametrize(
    ("soname", "package"),
    [
        ("libxcb-cursor.so.0", "libxcb-cursor0"),
        ("libxcb-cursor.so.9", "libxcb-cursor0"),  # another version, the same package
        ("libxcb.so.1", "libxcb1"),
        ("libxcb-render.so.0", "libxcb-render0"),
        ("libxcb-render-util.so.0", "libxcb-render-util0"),
        ("libxkbcommon.so.0", "libxkbcommon0"),
        ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
        ("libX11-xcb.so.1", "libx11-xcb1"),
        ("libEGL.so.1", "libegl1"),
        ("libGL.so.1", "libgl1"),
        ("libglib-2.0.so.0", "libglib2.0-0"),
        ("libdbus-1.so.3", "libdbus-1-3"),
        ("libwayland-cursor.so.0", "libwayland-cursor0"),
        ("/usr/lib/x86_64-linux-gnu/libfontconfig.so.1", "libfontconfig1"),
        ("libsomething-else.so.2", None),
    ],
)
def test_each_library_maps_to_its_package(soname: str, package: str | None) -> None:
    assert package_for(soname) == package


def missing(library: str) -> str:
    return f"{library}: cannot open shared object file: No such file or directory"


def test_an_unknown_library_is_named_with_how_to_find_its_package() -> None:
    line = assert_one_line(load_failure_line("wayland", missing("libodd.so.3"), frozen=False))
    assert "Wayland plugin needs the system library libodd.so.3" in line
    assert "apt-file search libodd.so.3" in line and "sudo apt install" not in line


def test_a_missing_qt_library_asks_for_a_reinstall_not_a_system_package() -> None:
    line = assert_one_line(load_failure_line("xcb", missing("libQt6XcbQpa.so.6"), frozen=True))
    assert "Reinstall GPT Group" in line and "apt" not in line


def test_other_load_errors_are_left_to_qt() -> None:
    error = "/x/libqxcb.so: undefined symbol: _ZN7QWindow4showEv"
    assert load_failure_line("xcb", error, frozen=False) is None


environment_values = st.text(max_size=60) | st.sampled_from(["xcb", "wayland", ":0", "offscreen"])


@given(
    argv=st.lists(st.text(max_size=40) | st.sampled_from(["-platform", "-display", "xcb"])),
    environ=st.dictionaries(
        st.sampled_from([*SCREEN_VARIABLES, "XDG_SESSION_TYPE"]), environment_values
    ),
)
def test_the_answer_is_none_or_one_short_line(argv: list[str], environ: dict[str, str]) -> None:
    problem = display_problem(argv, environ)
    assert problem is None or (problem.splitlines() == [problem] and len(problem) <= MAX_LINE)


@given(st.text(), st.booleans(), st.sampled_from(["xcb", "wayland"]))
def test_any_loader_error_becomes_none_or_one_short_line(
    text: str, frozen: bool, family: str
) -> None:
    for error in (text, missing(text), f"{text}: cannot open shared object file"):
        line = load_failure_line(family, error, frozen=frozen)
        assert line is None or (line.splitlines() == [line] and len(line) <= MAX_LINE)


def test_a_wayland_compositor_found_without_wayland_display_counts_as_a_screen(
    tmp_path: Path,
) -> None:
    """libwayland-client also connects through a socket handed over by the compositor, or to
    the default display in the session's runtime folder: no complaint then."""
    session = {"XDG_SESSION_TYPE": "wayland", "XDG_RUNTIME_DIR": str(tmp_path)}
    assert display_problem([], session) is not None  # no compositor anywhere
    (tmp_path / "wayland-0").touch()
    assert display_problem([], session) is None
    assert display_problem(["-platform", "wayland"], {"WAYLAND_SOCKET": "5"}) is None
