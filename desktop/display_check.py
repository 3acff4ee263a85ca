"""Whether Qt can open a window on this machine, asked before Qt is: one line saying why not.

Qt, asked for a window it cannot make (no screen in an SSH session or a container, a system
library its platform plugin needs missing), aborts the whole process with a core dump and its
own advice ("Reinstalling the application may fix this problem"). :func:`display_problem`
predicts that failure before any ``QGuiApplication`` exists and returns one line for a person
instead; :func:`desktop.launcher.main` prints it and exits with ``CANNOT_SHOW_WINDOW``.

The contract of :func:`display_problem`:

- ``None`` means "nothing we know of stops Qt": on Windows and macOS always (Qt brings all it
  needs there), and on Linux whenever the first platform plugin Qt would try that has a screen
  loads, when a plugin we do not judge comes first (``offscreen``, ``minimal``, ``vnc``,
  ``eglfs``…: they need no ``DISPLAY``, or fail in ways we cannot predict), when a plugin
  file is absent (Qt's own message names the plugins it has), or when one fails to load for
  another reason than a missing library (a wrong build is not the user's to fix).
- Otherwise a single line (no newline, at most :data:`MAX_LINE` characters) that says what is
  missing, and what to do about it, always naming ``gptgroup host`` (a room needs no screen).

It follows Qt 6's own choice on Linux (``QGuiApplicationPrivate::createPlatformIntegration``):
``-platform NAME`` in ``argv`` (also ``--platform``; Qt does not read ``-platform=NAME``, so
neither do we), else ``QT_QPA_PLATFORM``, else Wayland first when ``WAYLAND_DISPLAY`` is set
or ``XDG_SESSION_TYPE`` is ``wayland``, then X11 (``xcb``). Each is a ``;``-separated list
(``name:options`` allowed) that Qt tries in order until one works. X11 has a screen when
``DISPLAY`` (or Qt's ``-display`` option) is set, Wayland when ``WAYLAND_DISPLAY`` is; a
Wayland compositor reachable only through its default socket (``wayland-0``, no variable) is
taken as no screen. Whether a plugin's system libraries are present is asked of the dynamic
loader itself: the plugin file is loaded with ``dlopen`` (as Qt will load it moments later),
and the loader's error names the first library it could not find. The plugin is looked for
in ``-platformpluginpath``, else ``QT_QPA_PLATFORM_PLUGIN_PATH``, then in Qt's own plugins
folder. Apart from that load, the answer depends on the arguments only (and
``sys.platform``, ``sys.frozen``); it takes a few milliseconds.
"""

from __future__ import annotations

import ctypes
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final, NamedTuple

__all__ = [
    "MAX_LINE",
    "PACKAGES",
    "PlatformChoice",
    "display_problem",
    "load_failure_line",
    "package_for",
    "platform_choice",
]

MAX_LINE: Final = 400
"""The longest line :func:`display_problem` returns."""

HOST_HINT: Final = "run `gptgroup host` to host a room without a screen"

PACKAGES: Final[Mapping[str, str]] = {
    # X11 (xcb) plugin and the libraries it links
    "libxcb-cursor": "libxcb-cursor0",
    "libxkbcommon-x11": "libxkbcommon-x11-0",
    "libxcb-icccm": "libxcb-icccm4",
    "libxcb-keysyms": "libxcb-keysyms1",
    "libxcb-image": "libxcb-image0",
    "libxcb-randr": "libxcb-randr0",
    "libxcb-render-util": "libxcb-render-util0",
    "libxcb-render": "libxcb-render0",
    "libxcb-shape": "libxcb-shape0",
    "libxcb-shm": "libxcb-shm0",
    "libxcb-sync": "libxcb-sync1",
    "libxcb-util": "libxcb-util1",
    "libxcb-xfixes": "libxcb-xfixes0",
    "libxcb-xkb": "libxcb-xkb1",
    "libxcb-glx": "libxcb-glx0",
    "libxcb-xinput": "libxcb-xinput0",
    "libxcb": "libxcb1",
    "libx11-xcb": "libx11-xcb1",
    "libx11": "libx11-6",
    "libsm": "libsm6",
    "libice": "libice6",
    # Wayland plugin
    "libwayland-client": "libwayland-client0",
    "libwayland-cursor": "libwayland-cursor0",
    "libwayland-egl": "libwayland-egl1",
    # what every plugin (offscreen included) and Qt's GUI library need
    "libegl": "libegl1",
    "libgl": "libgl1",
    "libglx": "libglx0",
    "libopengl": "libopengl0",
    "libfontconfig": "libfontconfig1",
    "libfreetype": "libfreetype6",
    "libxkbcommon": "libxkbcommon0",
    "libglib-2.0": "libglib2.0-0",
    "libgobject-2.0": "libglib2.0-0",
    "libgthread-2.0": "libglib2.0-0",
    "libdbus-1": "libdbus-1-3",
}
"""Debian/Ubuntu package of each shared library Qt's Linux platform plugins need, by the
library's name before ``.so`` in lower case (``libxcb-cursor.so.0`` → ``libxcb-cursor``), so
that another version of the same library maps to the same package."""

_WAYLAND_NAME = re.compile(r"wayland(-[a-z0-9]+)*")
_MISSING_LIBRARY = re.compile(r"([^\s:]+): cannot open shared object file")
_QT_OWN_LIBRARY = re.compile(r"lib(qt\d|icu|pyside|shiboken)", re.IGNORECASE)

# Qt's own options that take the next argument as their value (so that value is no option),
# as createPlatformIntegration() reads them; -geometry, -title and -icon only while xcb is the
# platform asked for.
_VALUED_OPTIONS: Final = frozenset(
    {"-platformpluginpath", "-platform", "-platformtheme", "-qwindowgeometry",
     "-qwindowtitle", "-qwindowicon"}
)  # fmt: skip
_XCB_VALUED_OPTIONS: Final = frozenset({"-geometry", "-title", "-icon"})


class PlatformChoice(NamedTuple):
    """The platform plugins Qt would try, in its order, and who asked for them."""

    names: tuple[str, ...]  # lower-case plugin keys ("xcb", "wayland", "offscreen"…)
    asked_by: str | None  # "the -platform option", "QT_QPA_PLATFORM", or None: Qt's default
    plugin_dir: str | None  # -platformpluginpath or QT_QPA_PLATFORM_PLUGIN_PATH, if given


def platform_choice(argv: Sequence[str], environ: Mapping[str, str]) -> PlatformChoice:
    """The plugins Qt 6 on Linux tries for ``argv`` (the arguments after the program's name)
    in ``environ``: see the module's docstring for the rules."""
    default = ["xcb"]
    if "WAYLAND_DISPLAY" in environ or environ.get("XDG_SESSION_TYPE") == "wayland":
        default.insert(0, "wayland")
    asked: str = ";".join(default)
    asked_by: str | None = None
    if environ.get("QT_QPA_PLATFORM"):
        asked, asked_by = environ["QT_QPA_PLATFORM"], "QT_QPA_PLATFORM"
    plugin_dir = environ.get("QT_QPA_PLATFORM_PLUGIN_PATH") or None
    index = 0
    while index < len(argv):
        arg = argv[index]
        option = arg[1:] if arg.startswith("--") else arg
        index += 1
        valued = option in _VALUED_OPTIONS or (
            option in _XCB_VALUED_OPTIONS and asked.startswith("xcb")
        )
        if not valued or index >= len(argv):
            continue
        value = argv[index]
        index += 1
        if option == "-platform":
            asked, asked_by = value, "the -platform option"
        elif option == "-platformpluginpath":
            plugin_dir = value or None
    names: list[str] = []
    for entry in asked.split(";"):
        parts = [part for part in entry.split(":") if part]
        if parts:
            names.append(parts[0].lower())
    return PlatformChoice(tuple(names), asked_by, plugin_dir)


def package_for(soname: str) -> str | None:
    """The Debian/Ubuntu package that ships the shared library ``soname``
    (``libxcb-cursor.so.0`` → ``libxcb-cursor0``), or ``None`` if :data:`PACKAGES` lacks it."""
    stem = Path(soname).name.split(".so", 1)[0].lower()
    return PACKAGES.get(stem)


def display_problem(argv: list[str], environ: Mapping[str, str]) -> str | None:
    """Why Qt cannot open a window here, in one line, or ``None`` if nothing we know of stops
    it. ``argv``: the arguments after the program's name. See the module's docstring."""
    if not sys.platform.startswith("linux"):
        return None
    choice = platform_choice(argv, environ)
    screenless: list[str] = []  # candidates without a screen, in Qt's order
    failure: str | None = None  # the first candidate with a screen whose plugin does not load
    unexplained = False  # a plugin failed to load for a reason that is no missing library
    for name in choice.names:
        family = _family(name)
        if family is None:
            return None  # a plugin we do not judge comes first: Qt will try it
        if not _has_screen(family, argv, environ):
            screenless.append(name)
            continue
        plugin = _plugin_file(name, choice.plugin_dir)
        if plugin is None:
            return None  # not ours to diagnose: Qt says which plugins it found
        try:
            # Kept loaded on success: Qt loads the same file (the same handle) right after.
            ctypes.CDLL(str(plugin))
        except OSError as error:
            # In the frozen app PyInstaller's CDLL raises its own error, caused by dlopen's.
            line = load_failure_line(family, str(error.__cause__ or error), frozen=_frozen())
            failure = failure or line
            unexplained = unexplained or line is None
            continue
        return None
    if failure is not None:
        return failure
    if unexplained or not screenless:
        return None  # Qt will say (and no plugin asked for at all is QT_QPA_PLATFORM=";")
    return _no_screen_line(screenless, choice.asked_by)


def load_failure_line(family: str, error: str, *, frozen: bool) -> str | None:
    """One line for a platform plugin of ``family`` ("xcb" or "wayland") that ``dlopen``
    refused with ``error``; ``None`` unless the error is a missing library (an unresolved
    symbol or a wrong architecture is not ours to explain). ``frozen``: the installed app
    (then ``apt-get install -f`` completes its package) rather than a source checkout."""
    found = _MISSING_LIBRARY.search(error)
    if found is None:
        return None
    library = _printable(Path(found.group(1)).name, 80)
    plugin = _plugin_title(family)
    if _QT_OWN_LIBRARY.match(library):
        remedy = (
            "Reinstall GPT Group"
            if frozen
            else "Reinstall PySide6 (`make clean && make run` rebuilds the environment)"
        )
        text = (
            f"GPT Group cannot open a window: Qt's {plugin} plugin needs Qt's own library "
            f"{library}, which is missing from this installation. {remedy}, or {HOST_HINT}."
        )
        return _one_line(text)
    package = package_for(library)
    if package is None:
        remedy = (
            f"Install the package that provides it (on Debian and Ubuntu, "
            f"`apt-file search {library}` names it)"
        )
    elif frozen:
        remedy = (
            f"Install it with `sudo apt install {package}` (`sudo apt-get install -f` installs "
            f"everything the GPT Group package depends on)"
        )
    else:
        remedy = (
            f"Install it with `sudo apt install {package}` (in a source checkout, "
            f"`sudo make system-deps` installs every library the app needs)"
        )
    text = (
        f"GPT Group cannot open a window: Qt's {plugin} plugin needs the system library "
        f"{library}, which is missing. {remedy}, or {HOST_HINT}."
    )
    return _one_line(text)


def _no_screen_line(names: Sequence[str], asked_by: str | None) -> str:
    if asked_by is None:
        # Qt's default tries Wayland when WAYLAND_DISPLAY or XDG_SESSION_TYPE=wayland says
        # so; either way no display of either kind was found.
        variables = ["DISPLAY", "WAYLAND_DISPLAY"]
    else:
        variables = list(dict.fromkeys(_screen_variable(name) for name in names))
    if len(variables) == 1:
        missing = f"{variables[0]} is not set"
    else:
        missing = f"neither {' nor '.join(variables)} is set"
    if asked_by is None:
        why = f"there is no screen in this session ({missing})"
    else:
        asked = _printable(";".join(names), 60)
        why = f"{asked_by} asks for {asked}, which needs a screen, and {missing}"
    text = (
        f"GPT Group cannot open a window: {why}. Start it from your desktop session, "
        f"or {HOST_HINT}."
    )
    return _one_line(text)


def _family(name: str) -> str | None:
    if name == "xcb":
        return "xcb"
    if _WAYLAND_NAME.fullmatch(name):
        return "wayland"
    return None


def _screen_variable(name: str) -> str:
    return "DISPLAY" if _family(name) == "xcb" else "WAYLAND_DISPLAY"


def _has_screen(family: str, argv: Sequence[str], environ: Mapping[str, str]) -> bool:
    if family == "wayland":
        # As libwayland-client connects: a socket handed over by the compositor, the named
        # display, or the default one (wayland-0) in the session's runtime folder.
        if environ.get("WAYLAND_SOCKET") or environ.get("WAYLAND_DISPLAY"):
            return True
        runtime = environ.get("XDG_RUNTIME_DIR")
        if not runtime:
            return False
        return Path(runtime, "wayland-0").exists()
    # Qt's xcb plugin also takes the X display from its own -display option.
    for index, arg in enumerate(argv[:-1]):
        if arg in ("-display", "--display") and argv[index + 1]:
            return True
    return bool(environ.get("DISPLAY"))


def _plugin_file(name: str, plugin_dir: str | None) -> Path | None:
    """The file of plugin ``name``: in ``plugin_dir`` if there, else in Qt's own folder."""
    files = [f"libq{name}.so"]
    if name.startswith("wayland"):
        # Qt 6.5+ has one Wayland plugin for every wayland* key; older ones had a file each.
        files += ["libqwayland.so", "libqwayland-generic.so"]
    folders = [Path(plugin_dir)] if plugin_dir else []
    folders.append(_qt_platforms_dir())
    for folder in folders:
        for file in files:
            candidate = folder / file
            if candidate.is_file():
                return candidate
    return None


def _qt_platforms_dir() -> Path:
    # QtCore alone is safe to load without a screen; only a QGuiApplication asks for one.
    from PySide6.QtCore import QLibraryInfo  # noqa: PLC0415  (Linux only, after the checks)

    return Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"


def _plugin_title(family: str) -> str:
    return "X11 (xcb)" if family == "xcb" else "Wayland"


def _frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def _printable(text: str, limit: int) -> str:
    """``text`` without control characters, cut to ``limit`` characters: it comes from the
    environment or the loader, and goes on one line of a terminal."""
    clean = "".join(char if char.isprintable() else "?" for char in text)
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def _one_line(text: str) -> str:
    return _printable(" ".join(text.split()), MAX_LINE)
