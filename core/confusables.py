"""Look-alike folding for names: Unicode TR39 confusable skeletons, merged with case folding.

Two names that a reader could take for each other should get the same key. Unicode Technical
Standard #39 defines the *skeleton* of a string for that (``Hana`` spelt with the Cyrillic
``a``, U+0430, has the skeleton of ``Hana``), and the room has always treated names that
differ only in letter case as the same name. :func:`look_alike_key` combines the two.

They cannot simply be applied one after the other: the skeleton is case sensitive (``I``
looks like ``l``, ``i`` does not), and some capitals look like a different Latin letter than
their small letter (Greek capital nu looks like ``N``, small nu like ``v``), so closing over
both relations would make ``N`` and ``v`` one letter. The key is built instead from classes
of characters (:func:`_build_table`):

1. the look-alikes among ASCII characters themselves (``I``, ``l``, ``1`` and ``|``; ``0``
   and ``O``; ``m`` and ``rn``) are always joined;
2. every character is joined with its case folding, so the key is as coarse as the old
   case-insensitive comparison: names equal after case folding always clash;
3. every other character is joined with its TR39 prototype, unless that would join two
   classes that already hold different ASCII characters, or a letter with a combining mark.
   Those few (Greek small nu as ``v``, upsilon as ``u``, long s as ``f``, and similar) keep
   only their case folding. Where two prototypes conflict, the one that is a single ASCII
   character wins, then the capital's (Greek capital eta is ``H``).

Because of steps 1 and 2 together, ``i`` joins ``I`` and ``l``: ``Ali`` and ``All`` clash. The
prototypes come from ``resources/confusable_prototypes.txt`` (see its header for the Unicode
version and how it was generated); the table is built on first use.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass, field

__all__ = ["DATA_UNICODE_VERSION", "look_alike_key", "prototypes", "skeleton"]

DATA_UNICODE_VERSION = "16.0.0"  # of resources/confusable_prototypes.txt (checked by a test)
_RESOURCE = "confusable_prototypes.txt"
_MAX_RESOLVE_DEPTH = 8  # prototypes are a few characters deep at most; a guard, not a limit


def _nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


@functools.cache
def prototypes() -> dict[str, str]:
    """TR39's prototype for every NFD-stable character that has one (from the resource file)."""
    from resources import read_text  # noqa: PLC0415 (the resources package, read on first use)

    table: dict[str, str] = {}
    for line in read_text(_RESOURCE).splitlines():
        if not line or line.startswith("#"):
            continue
        source, *target = line.split()
        table[chr(int(source, 16))] = "".join(chr(int(cp, 16)) for cp in target)
    return table


def skeleton(text: str) -> str:
    """TR39's skeleton of ``text`` (NFD, each character replaced by its prototype, NFD again).

    Default-ignorable characters are not removed here; :func:`core.text_rules.name_key` does
    that before it folds a name.
    """
    table = prototypes()
    return _nfd("".join(table.get(ch, ch) for ch in _nfd(text)))


def look_alike_key(text: str) -> str:
    """A key equal for strings that look alike or differ only in case (see the module doc).

    Works per character on the NFD form; characters the table does not know are case folded.
    Callers normalise with NFKC first (:func:`core.text_rules.name_key` does).
    """
    table = _table()
    out: list[str] = []
    for ch in _nfd(text):
        key = table.get(ch)
        if key is None:
            folded = ch.casefold()
            key = ch if folded == ch else "".join(table.get(c, c) for c in _nfd(folded))
        out.append(key)
    return _nfd("".join(out))


@dataclass
class _Class:
    """One class of characters that share a key while the table is built."""

    members: set[str] = field(default_factory=set)
    composite: str | None = None  # a multi-character string the class equals ("m" == "rn")
    has_ascii: bool = False
    has_letter: bool = False
    has_mark: bool = False


class _Classes:
    """Union-find over characters (and multi-character strings, kept as a class's composite)."""

    def __init__(self) -> None:
        self._parent: dict[str, str] = {}
        self._classes: dict[str, _Class] = {}

    def _node(self, ch: str) -> str:
        if ch not in self._parent:
            self._parent[ch] = ch
            category = unicodedata.category(ch)
            cased = ch.casefold() != ch  # U+0345, a mark, folds to the letter iota
            self._classes[ch] = _Class(
                members={ch},
                has_ascii=ch.isascii(),
                has_letter=category.startswith("L") or cased,
                has_mark=category.startswith("M") and not cased,
            )
        return ch

    def find(self, ch: str) -> str:
        root = self._node(ch)
        while self._parent[root] != root:
            root = self._parent[root]
        while self._parent[ch] != root:  # path compression
            self._parent[ch], ch = root, self._parent[ch]
        return root

    def join(self, ch: str, other: str, *, guarded: bool) -> bool:
        """Put ``ch`` in one class with ``other`` (a character or a longer string).

        Guarded joins refuse to merge two classes that both hold ASCII characters, or a class
        of letters with one of combining marks; unguarded joins always merge (a class keeps
        one composite: the ASCII one, else the shorter, else the smaller). Returns whether the
        two are now in one class.
        """
        if len(other) != 1:
            return self._join_composite(ch, _nfd(other.casefold()), guarded=guarded)
        a, b = self.find(ch), self.find(other)
        if a == b:
            return True
        first, second = self._classes[a], self._classes[b]
        if guarded and _would_confuse(first, second):
            return False
        self._parent[b] = a
        del self._classes[b]
        first.members |= second.members
        first.has_ascii |= second.has_ascii
        first.has_letter |= second.has_letter
        first.has_mark |= second.has_mark
        first.composite = _preferred(first.composite, second.composite)
        return True

    def _join_composite(self, ch: str, composite: str, *, guarded: bool) -> bool:
        cls = self._classes[self.find(ch)]
        if cls.composite == composite:
            return True
        if guarded and (cls.composite is not None or cls.has_ascii):
            return False
        cls.composite = _preferred(cls.composite, composite)
        cls.has_ascii |= composite.isascii()
        return True

    def classes(self) -> list[_Class]:
        return list(self._classes.values())


def _would_confuse(first: _Class, second: _Class) -> bool:
    """Whether merging the two classes would make distinct ASCII text (or a letter and a
    combining mark) one thing: "N" and "v" through Greek nu, or "b" and "ss" through beta."""
    if first.composite is not None and first.composite == second.composite:
        return False  # they are equal already
    return (
        (first.has_ascii and second.has_ascii)
        or (first.has_letter and second.has_mark)
        or (first.has_mark and second.has_letter)
        or (first.composite is not None and second.composite is not None)
    )


def _preferred(a: str | None, b: str | None) -> str | None:
    candidates = [c for c in (a, b) if c is not None]
    return min(candidates, key=lambda c: (not c.isascii(), len(c), c), default=None)


def _representative(members: set[str]) -> str:
    """The member that names a class: ASCII first, then already case folded, then smallest."""
    return min(members, key=lambda m: (not m.isascii(), m.casefold() != m, ord(m)))


@functools.cache
def _table() -> dict[str, str]:
    return _build_table(prototypes())


def _build_table(protos: dict[str, str]) -> dict[str, str]:
    """Map every character of a class with more than one member to the class's key."""
    classes = _Classes()
    nodes: set[str] = set(protos)
    for target in protos.values():
        nodes.update(target)
    for ch in list(nodes):  # the case partners of every character the prototypes mention
        for variant in (ch.lower(), ch.upper(), ch.casefold(), ch.title()):
            nodes.update(c for c in (variant, _nfd(variant)) if len(c) == 1)
    nodes = {ch for ch in nodes if _nfd(ch) == ch}

    for ch, target in protos.items():  # 1. look-alikes within ASCII
        if ch.isascii():
            classes.join(ch, target, guarded=False)
    for ch in sorted(nodes):  # 2. case folding, never refused
        folded = _nfd(ch.casefold())
        if folded != ch:
            classes.join(ch, folded, guarded=False)
    # 3. every other look-alike, where it joins no two ASCII classes: single ASCII prototypes
    # first, capitals before small letters, then by code point (a deterministic order).
    others = [ch for ch in protos if not ch.isascii()]
    others.sort(key=lambda ch: (not _is_ascii_char(protos[ch]), _is_caseless(ch), ord(ch)))
    for ch in others:
        classes.join(ch, protos[ch], guarded=True)

    keys: dict[str, str] = {}
    for cls in classes.classes():
        if len(cls.members) > 1 or cls.composite is not None:
            key = cls.composite if cls.composite is not None else _representative(cls.members)
            for member in cls.members:
                keys[member] = key
    return {ch: _resolve(key, keys, 0) for ch, key in keys.items()}


def _is_ascii_char(text: str) -> bool:
    return len(text) == 1 and text.isascii()


def _is_caseless(ch: str) -> bool:
    return _nfd(ch.casefold()) == ch


def _resolve(key: str, keys: dict[str, str], depth: int) -> str:
    """``key`` with each character replaced by its own class's key (composites nest)."""
    if len(key) == 1 or depth >= _MAX_RESOLVE_DEPTH:
        return key
    return "".join(_resolve(keys.get(ch, ch), keys, depth + 1) for ch in key)
