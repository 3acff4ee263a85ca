"""The Debian/Ubuntu package, made from the PyInstaller bundle: ``python -m installers.build_deb``.

What the package installs:

- ``/opt/gptgroup/``: the bundle as PyInstaller made it (``dist/gptgroup``);
- ``/usr/bin/gptgroup`` (the app; ``gptgroup host`` and ``gptgroup chat`` are the terminal
  tools) and ``/usr/bin/gptgroup-host``, ``/usr/bin/gptgroup-chat``, the names the tools
  print in their instructions;
- ``/usr/share/applications/gptgroup.desktop`` and the icon in the hicolor theme, so the
  app is in the application menu (the desktop and icon caches are refreshed by the
  system's own dpkg triggers);
- ``/usr/share/doc/gptgroup/copyright``.

Its ``Depends`` are worked out by ``dpkg-shlibdeps`` (from dpkg-dev) from every program and
library in the bundle: the system libraries the bundle leaves out (see ``build.spec``), Qt's
X11 and Wayland libraries among them, at the versions the build machine's packages ask for,
except where :data:`NO_VERSION_FLOOR` says otherwise. The package installs nothing outside
those paths and has no maintainer scripts, so removing it removes all it installed (what the
app keeps for a user, their preferences in ``~/.config/GPT Group`` and a key in their
keyring, stays theirs).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from core import APP_NAME, __version__
from installers.icons import THEME_SIZES, write_icons
from resources import read_text

__all__ = [
    "DESKTOP_ENTRY",
    "NO_VERSION_FLOOR",
    "PACKAGE",
    "build_deb",
    "main",
    "shared_library_depends",
]

PACKAGE = "gptgroup"
INSTALL_DIR = Path("opt") / PACKAGE
MAINTAINER = "GPT Group developers <gptgroup@users.invalid>"

DESKTOP_ENTRY = f"""\
[Desktop Entry]
Type=Application
Name={APP_NAME}
GenericName=AI group chat
Comment=Chat with an AI together, with the people on your network
Exec=gptgroup
Icon={PACKAGE}
Terminal=false
Categories=Network;Chat;InstantMessaging;
Keywords=AI;assistant;chat;group;LAN;ChatGPT;
StartupNotify=true
"""

DESCRIPTION = f"""\
Description: AI group chat for people in one place
 {APP_NAME} lets a group of people on one local network talk with an AI together.
 One person hosts a room; everyone else sees it in a list and joins with just a
 display name: no accounts, no logins. The assistant (OpenAI or any
 OpenAI-compatible server such as Ollama, LM Studio or vLLM) answers inside the
 group, streamed to everyone at once. Chats are temporary: nothing is kept
 after the room closes.
"""

# Libraries whose Debian 12 packages ask for their own newest version although Qt's wheels,
# built for older systems, need far less: without these lines, the package built on Debian
# 12 would refuse to install on Ubuntu 22.04 (libzstd1 1.4.8, libx11-xcb1 1.7.5).
# Each line is dpkg-shlibdeps' shlibs format: library, soname version, dependency.
NO_VERSION_FLOOR = (
    "libzstd 1 libzstd1",
    "libX11-xcb 1 libx11-xcb1",
)

# The bundle's GTK platform theme loads only where GTK 3 is installed (GNOME and friends
# have it); the app works without it, so it is no reason to install GTK.
OPTIONAL_LIBRARIES = ("libqgtk3.so",)


def _is_elf(path: Path) -> bool:
    if path.is_symlink() or not path.is_file():
        return False
    with path.open("rb") as file:
        return file.read(4) == b"\x7fELF"


def shared_library_depends(bundle: Path) -> str:
    """The ``Depends`` the programs and libraries in ``bundle`` need, from ``dpkg-shlibdeps``
    (libraries inside the bundle are its own and need no package). Raises
    :class:`subprocess.CalledProcessError` (with dpkg-shlibdeps' complaint) when a needed
    library belongs to no installed package."""
    elves = sorted(p for p in bundle.rglob("*") if _is_elf(p) and p.name not in OPTIONAL_LIBRARIES)
    private_dirs = sorted({str(p.parent) for p in elves if ".so" in p.name})
    with tempfile.TemporaryDirectory() as work:
        # dpkg-shlibdeps runs in a source package's tree: give it the smallest one.
        (Path(work) / "debian").mkdir()
        (Path(work) / "debian" / "control").write_text(
            f"Source: {PACKAGE}\n\nPackage: {PACKAGE}\nArchitecture: any\n"
        )
        (Path(work) / "debian" / "shlibs.local").write_text("\n".join(NO_VERSION_FLOOR) + "\n")
        result = subprocess.run(
            [
                "dpkg-shlibdeps",
                "-O",
                "--warnings=0",
                *(f"-l{d}" for d in private_dirs),
                *(str(p) for p in elves),
            ],
            cwd=work,
            capture_output=True,
            text=True,
            check=True,
        )
    for line in result.stdout.splitlines():
        if line.startswith("shlibs:Depends="):
            return line.removeprefix("shlibs:Depends=")
    raise ValueError(f"dpkg-shlibdeps gave no dependencies: {result.stdout!r}")


def _architecture() -> str:
    return subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()


def _installed_size_kib(root: Path) -> int:
    return sum(p.lstat().st_size for p in root.rglob("*") if not p.is_dir()) // 1024 + 1


def _normalise_modes(root: Path) -> None:
    """Directories and programs 0755, everything else 0644, whatever the umask was."""
    for path in root.rglob("*"):
        if path.is_symlink():
            continue
        executable = path.is_dir() or path.stat().st_mode & 0o100 or _is_elf(path)
        path.chmod(0o755 if executable else 0o644)


def _stage(bundle: Path, root: Path) -> None:
    shutil.copytree(bundle, root / INSTALL_DIR, symlinks=True)
    bin_dir = root / "usr" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / PACKAGE).symlink_to(Path("/") / INSTALL_DIR / PACKAGE)
    for tool in ("host", "chat"):
        wrapper = bin_dir / f"{PACKAGE}-{tool}"
        wrapper.write_text(f'#!/bin/sh\nexec /{INSTALL_DIR}/{PACKAGE} {tool} "$@"\n')
        wrapper.chmod(0o755)
    share = root / "usr" / "share"
    (share / "applications").mkdir(parents=True)
    (share / "applications" / f"{PACKAGE}.desktop").write_text(DESKTOP_ENTRY)
    with tempfile.TemporaryDirectory() as drawn:
        icons = write_icons(Path(drawn))
        hicolor = share / "icons" / "hicolor"
        for size in THEME_SIZES:
            folder = hicolor / f"{size}x{size}" / "apps"
            folder.mkdir(parents=True)
            shutil.copyfile(icons[f"png-{size}"], folder / f"{PACKAGE}.png")
        (hicolor / "scalable" / "apps").mkdir(parents=True)
        shutil.copyfile(icons["svg"], hicolor / "scalable" / "apps" / f"{PACKAGE}.svg")
    doc = share / "doc" / PACKAGE
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(
        f"{APP_NAME} is released under the MIT licence.\n\n"
        "It bundles Python, Qt (PySide6) and other libraries under their own licences:\n\n"
        + read_text("third_party_licenses.md")
    )


def build_deb(bundle: Path, out_dir: Path) -> Path:
    """Package the PyInstaller ``bundle`` (``dist/gptgroup``) as ``out_dir/<name>.deb``; its
    path. Raises :class:`FileNotFoundError` without a bundle, and
    :class:`subprocess.CalledProcessError` when a dpkg tool fails."""
    if not (bundle / PACKAGE).is_file():
        raise FileNotFoundError(f"no PyInstaller bundle at {bundle}: run pyinstaller build.spec")
    architecture = _architecture()
    out_dir.mkdir(parents=True, exist_ok=True)
    deb = out_dir / f"{PACKAGE}_{__version__}_{architecture}.deb"
    with tempfile.TemporaryDirectory() as work:
        root = Path(work) / "root"
        _stage(bundle, root)
        _normalise_modes(root)
        control = root / "DEBIAN" / "control"
        control.parent.mkdir(mode=0o755)
        control.write_text(
            f"Package: {PACKAGE}\n"
            f"Version: {__version__}\n"
            f"Architecture: {architecture}\n"
            f"Maintainer: {MAINTAINER}\n"
            f"Installed-Size: {_installed_size_kib(root)}\n"
            f"Depends: {shared_library_depends(root / INSTALL_DIR)}\n"
            "Section: net\n"
            "Priority: optional\n" + DESCRIPTION
        )
        subprocess.run(
            ["dpkg-deb", "--root-owner-group", "-Zxz", "-z6", "--build", str(root), str(deb)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return deb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m installers.build_deb", description="Build the .deb of GPT Group."
    )
    parser.add_argument("--bundle", type=Path, default=Path("dist") / PACKAGE)
    parser.add_argument("--out", type=Path, default=Path("dist"))
    args = parser.parse_args(argv)
    try:
        deb = build_deb(args.bundle, args.out)
    except (OSError, ValueError) as exc:
        print(f"build_deb: {exc}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as exc:
        print(f"build_deb: {exc}\n{exc.stderr or ''}", file=sys.stderr)
        return 1
    print(deb)
    return 0


if __name__ == "__main__":
    sys.exit(main())
