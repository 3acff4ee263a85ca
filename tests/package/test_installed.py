"""The installed Debian package, as a user gets it (run by ``make package-test``).

``make package-test`` builds the package, installs it with apt (which pulls its
dependencies) and runs these tests; the last one removes it and checks that nothing is
left. They run the installed program, never the source tree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from core import __version__

DEB = Path(os.environ.get("GPTGROUP_INSTALLED_DEB", "missing.deb"))
INSTALL_DIR = Path("/opt/gptgroup")
LAUNCHER = Path("/usr/bin/gptgroup")
DESKTOP_ENTRY = Path("/usr/share/applications/gptgroup.desktop")
ICONS = Path("/usr/share/icons/hicolor")
MAX_BUNDLE_BYTES = 150 * 1000 * 1000


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args), capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def user_env(**changes: str | None) -> dict[str, str]:
    """The environment of a user's shell: no Python or Qt settings of the test run."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "QT_", "VIRTUAL_ENV"))
    }
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def test_the_package_depends_on_what_qt_needs_to_draw_a_window() -> None:
    depends = run("dpkg-deb", "--field", str(DEB), "Depends").stdout
    names = {item.split()[0] for item in depends.replace("|", ",").split(",") if item.strip()}
    assert {"libxcb-cursor0", "libxkbcommon-x11-0", "libegl1", "libfontconfig1", "libc6"} <= names
    assert {"libwayland-client0", "libdbus-1-3"} <= names


def test_gptgroup_is_on_the_path_and_reports_the_version() -> None:
    assert shutil.which("gptgroup", path="/usr/bin") == str(LAUNCHER)
    assert LAUNCHER.resolve() == INSTALL_DIR / "gptgroup"
    result = run("gptgroup", "--version", env=user_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["gptgroup", __version__]
    status = run("dpkg-query", "--show", "--showformat=${Version}", "gptgroup").stdout
    assert status == __version__


def test_the_installed_app_passes_its_self_test_without_a_screen() -> None:
    result = run("gptgroup", "--self-test", env=user_env(DISPLAY=None, WAYLAND_DISPLAY=None))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Self-test passed" in result.stdout.splitlines()[-1]
    assert "FAIL" not in result.stdout


def test_the_installed_app_opens_its_window_on_an_x_server() -> None:
    """A real X server (Xvfb) and the system's X11 libraries the package depends on."""
    result = run(
        "xvfb-run", "--auto-servernum", "gptgroup", "--startup-probe",
        env=user_env(QT_QPA_PLATFORM="xcb"), timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "lobby shown" in result.stdout


def test_without_a_screen_the_app_says_so_in_one_line() -> None:
    result = run(
        "gptgroup", env=user_env(DISPLAY=None, WAYLAND_DISPLAY=None, XDG_SESSION_TYPE=None)
    )
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "gptgroup host" in lines[0]


def test_a_missing_system_library_is_named_with_its_package(tmp_path: Path) -> None:
    """The installed app's check of Qt's X11 plugin: a copy of the plugin that needs a library
    no system has (the same name with another version) stands for a missing one."""
    qt = INSTALL_DIR / "_internal" / "PySide6" / "Qt"
    plugins = tmp_path / "Qt" / "plugins" / "platforms"
    plugins.mkdir(parents=True)
    (tmp_path / "Qt" / "lib").symlink_to(qt / "lib")  # the plugin finds Qt at ../../lib
    plugin = (qt / "plugins" / "platforms" / "libqxcb.so").read_bytes()
    assert plugin.count(b"libxcb-cursor.so.0\0") == 1
    (plugins / "libqxcb.so").write_bytes(
        plugin.replace(b"libxcb-cursor.so.0\0", b"libxcb-cursor.so.9\0")
    )
    result = run(
        "gptgroup",
        env=user_env(
            DISPLAY=":99", QT_QPA_PLATFORM="xcb", QT_QPA_PLATFORM_PLUGIN_PATH=str(plugins)
        ),
    )
    assert result.returncode == 3, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "libxcb-cursor" in lines[0] and "libxcb-cursor0" in lines[0]
    assert "apt-get install -f" in lines[0]  # the installed app's remedy, not make's


@pytest.mark.parametrize(
    "command", [["gptgroup", "host"], ["gptgroup", "chat"], ["gptgroup-host"], ["gptgroup-chat"]]
)
def test_the_terminal_tools_start_without_qt(command: list[str]) -> None:
    result = run(*command, "--help", env=user_env(DISPLAY=None))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage:")


def test_the_app_is_in_the_application_menu_with_its_icon() -> None:
    validate = run("desktop-file-validate", str(DESKTOP_ENTRY))
    assert validate.returncode == 0, validate.stdout + validate.stderr
    entry = DESKTOP_ENTRY.read_text()
    assert "Exec=gptgroup\n" in entry
    assert "Icon=gptgroup\n" in entry
    assert (ICONS / "scalable" / "apps" / "gptgroup.svg").is_file()
    assert (ICONS / "256x256" / "apps" / "gptgroup.png").is_file()


def test_the_bundle_stays_lean() -> None:
    size = sum(p.lstat().st_size for p in INSTALL_DIR.rglob("*") if not p.is_dir())
    print(f"installed bundle: {size / 1e6:.1f} MB")
    assert size <= MAX_BUNDLE_BYTES


def test_removing_the_package_leaves_nothing_behind() -> None:
    """Last: removes what the earlier tests checked."""
    installed = run("dpkg-query", "--listfiles", "gptgroup").stdout.split()
    result = run("dpkg", "--remove", "gptgroup")
    assert result.returncode == 0, result.stderr
    left = [
        p
        for p in installed
        if p.startswith(("/opt/gptgroup", "/usr/bin/gptgroup")) and os.path.lexists(p)
    ]
    assert left == []
    assert not INSTALL_DIR.exists()
    assert not DESKTOP_ENTRY.exists()
