"""Texts and images shipped with GPT Group (the privacy policy, licences, the icon).

Files are found through :func:`importlib.resources.files`, so the same call works from a
source checkout, from an installed wheel (``pyproject.toml`` lists the data files as
package data of ``resources``) and from a PyInstaller-frozen app. A frozen app must collect
the files as data of the ``resources`` package, for example with
``pyinstaller --collect-data resources`` or, in a spec file,
``datas=collect_data_files("resources")`` (from ``PyInstaller.utils.hooks``); PyInstaller's
importer then serves them to :mod:`importlib.resources` from the unpacked bundle.

Prefer :func:`read_text` and :func:`read_bytes`: they work for any importer. :func:`path`
gives the file itself, which is a real file on disk in the three layouts above.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable

__all__ = ["path", "read_bytes", "read_text"]


def path(name: str) -> Traversable:
    """The resource called ``name`` (a plain file name such as ``"icon.svg"``).

    The result is a :class:`pathlib.Path` in a checkout, a wheel installed on disk and a
    PyInstaller bundle, and a path-like :class:`~importlib.resources.abc.Traversable` under
    other importers. Raises :class:`ValueError` for anything but a plain file name.
    """
    if not name or name in {".", ".."} or "/" in name or "\\" in name:
        raise ValueError(f"not a resource name: {name!r}")
    return files(__name__).joinpath(name)


def read_text(name: str) -> str:
    """The UTF-8 text of the resource ``name``. Raises :class:`FileNotFoundError` if absent."""
    return path(name).read_text(encoding="utf-8")


def read_bytes(name: str) -> bytes:
    """The bytes of the resource ``name``. Raises :class:`FileNotFoundError` if absent."""
    return path(name).read_bytes()
