"""Who may come in, and how often: the room's per-address rules, with no I/O and no clock.

The room asks an :class:`Admission` before it checks a password, lets someone join or resume,
or posts a message, and tells it about wrong passwords and bans. It counts by
:func:`address_key`, not by the exact address: one machine can hold a second IPv4 address at
most by a deliberate effort, but it picks IPv6 addresses from its /64 at will, so an IPv6 /64 is
one key. A link-local IPv6 address is its own key, because every machine on a link shares
``fe80::/64``.

Every table here is bounded by what the rules let in: entries that have nothing left to
remember are pruned on :meth:`Admission.prune`.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from core.ratelimit import KeyedBuckets, TokenBucket

__all__ = ["Admission", "AdmissionRules", "Ban", "address_key", "is_loopback"]


@dataclass(frozen=True)
class AdmissionRules:
    """The numbers behind :class:`Admission`. Rates are per minute, bursts are counts."""

    failed_auth_limit: int = 5  # wrong passwords or host keys per address key per window
    failed_auth_window: float = 60.0
    room_failed_auth_burst: int = 20  # wrong passwords from anywhere, before the room slows
    room_failed_auth_per_minute: float = 24.0
    join_burst: int = 10  # new participants per address key
    joins_per_minute: float = 10.0
    resume_burst: int = 10  # resumes per address key
    resumes_per_minute: float = 30.0
    session_resume_burst: int = 5  # resumes per session
    session_resumes_per_minute: float = 12.0
    max_participants_per_address: int = 8  # online or reconnecting, per address key
    max_connections_per_address: int = 32


def address_key(address: str) -> str:
    """The unit the room counts, limits and bans by (see the module docstring).

    IPv4 (and IPv4-mapped IPv6) addresses are themselves; a global or unique-local IPv6
    address becomes its /64; a link-local one stays whole, without its scope. Anything that
    is not an IP address is returned unchanged.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        if not ip.is_link_local:
            return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def is_loopback(address: str) -> bool:
    """Whether ``address`` is this machine's own loopback (where the host's app connects)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return (mapped or ip).is_loopback


@dataclass(frozen=True)
class Ban:
    """A ban: the address keys it covers, and whom it was for."""

    id: str
    name: str
    ts: float
    keys: frozenset[str]


class Admission:
    """Password guessing, joins, resumes and bans, counted per address key and room-wide."""

    def __init__(self, rules: AdmissionRules, now: float) -> None:
        self.rules = rules
        self._failures: dict[str, deque[float]] = {}
        self._room_failures = TokenBucket(
            rules.room_failed_auth_burst, rules.room_failed_auth_per_minute / 60.0, now
        )
        self._joins = KeyedBuckets(rules.join_burst, rules.joins_per_minute)
        self._resumes = KeyedBuckets(rules.resume_burst, rules.resumes_per_minute)
        self._bans: dict[str, Ban] = {}
        self._ban_ids = itertools.count(1)

    # ----------------------------------------------------------------- passwords

    def auth_wait(self, address: str, now: float) -> float | None:
        """None if a password or host key from ``address`` may be checked now, else the
        seconds to wait. Asked before the proof is checked, so a guess made while waiting
        teaches nothing, right or wrong.

        Two limits: ``failed_auth_limit`` failures per address key per window, and a
        room-wide budget of failures from anywhere, so that no number of addresses buys more
        than a few dozen guesses a minute. The host's own machine (loopback) is exempt from the
        room-wide budget, so an attack from the LAN cannot lock the host out of its room.
        """
        failures = self._failures.get(address_key(address))
        if failures:
            window = self.rules.failed_auth_window
            while failures and failures[0] <= now - window:
                failures.popleft()
            if len(failures) >= self.rules.failed_auth_limit:
                return failures[0] + window - now
        if not is_loopback(address) and self._room_failures.retry_after(now) > 0:
            return self._room_failures.retry_after(now)
        return None

    def auth_failed(self, address: str, now: float) -> None:
        """A wrong password or host key came from ``address``."""
        self._failures.setdefault(address_key(address), deque()).append(now)
        if not is_loopback(address):
            self._room_failures.take(now)

    # ----------------------------------------------------------------- joins and resumes

    def join_wait(self, address: str, now: float) -> float | None:
        """Spend a join for ``address``: None if it may join now, else the seconds to wait."""
        return self._joins.take(address_key(address), now)

    def resume_wait(self, address: str, now: float) -> float | None:
        """Spend a resume for ``address``: None if it may resume now, else seconds to wait."""
        return self._resumes.take(address_key(address), now)

    # ----------------------------------------------------------------- bans

    def ban(self, addresses: Iterable[str], name: str, ts: float) -> Ban:
        """Ban every address key of ``addresses`` until :meth:`unban` or the room closes;
        ``name`` and ``ts`` (wall clock) are what the host is shown."""
        ban = Ban(f"b{next(self._ban_ids)}", name, ts, frozenset(map(address_key, addresses)))
        self._bans[ban.id] = ban
        return ban

    def unban(self, ban_id: str) -> bool:
        """Lift ban ``ban_id``; False if there is no such ban."""
        return self._bans.pop(ban_id, None) is not None

    def banned(self, address: str) -> bool:
        key = address_key(address)
        return any(key in ban.keys for ban in self._bans.values())

    @property
    def bans(self) -> tuple[Ban, ...]:
        """Every ban in force, oldest first."""
        return tuple(self._bans.values())

    # ----------------------------------------------------------------- housekeeping

    def prune(self, now: float) -> None:
        """Forget what no longer limits anyone (call now and then, e.g. from the room's tick)."""
        window = self.rules.failed_auth_window
        self._failures = {k: d for k, d in self._failures.items() if d and d[-1] > now - window}
        self._joins.prune(now)
        self._resumes.prune(now)

    def tracked_keys(self) -> int:
        """How many address keys are remembered (for tests of boundedness)."""
        return len(self._failures) + len(self._joins) + len(self._resumes)
