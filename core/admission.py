"""Who may come in, and how often: the room's per-address rules, with no I/O and no clock.

The room asks an :class:`Admission` before it answers a room-code exchange, checks a host key,
lets someone join or resume, and tells it about guesses (each exchange answered, each wrong
host key, each exchange it could not answer because the guest's message was no valid point)
and bans. Limits apply at two levels:

* the exact address (:func:`address_key`): what one machine normally has;
* for IPv6, its network (:func:`network_key`): the /64 a machine picks addresses from at will,
  and for link-local addresses all of them together (a machine can add as many as it likes).
  For joins, resumes and connections the network's limits are ``network_factor`` times
  larger, since one /64 is often a whole LAN. For guesses a network gets what one address
  gets: a factor would let one /64 take the whole room-wide budget of guesses (8 x 5 > 24)
  and lock every new guest out.

An IPv4 address is its own network: one machine needs a deliberate effort to hold a second one.
Loopback is the exception: every process of the host's machine may use any address of
127.0.0.0/8 (and ``::1``), so for guesses all of loopback is one key (:data:`LOOPBACK`), with
what one address gets (:func:`guess_keys`). Loopback stays exempt from the room-wide budget,
so that an attack from the LAN cannot lock the host's own app out of its room.

Every table here is bounded by what the rules let in: entries that have nothing left to
remember are pruned on :meth:`Admission.prune`.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from core.protocol import BanId
from core.ratelimit import KeyedBuckets, TokenBucket

__all__ = [
    "Admission",
    "AdmissionRules",
    "Ban",
    "Guess",
    "TwoLevelBuckets",
    "address_key",
    "address_keys",
    "guess_keys",
    "is_loopback",
    "limit_for",
    "network_key",
]

LINK_LOCAL_NETWORK = "fe80::/10"
LOOPBACK = "loopback"  # the one key every loopback address's guesses are counted under


@dataclass(frozen=True)
class AdmissionRules:
    """The numbers behind :class:`Admission`, per exact address. Rates are per minute, bursts
    are counts; an IPv6 network gets ``network_factor`` times each, except for guesses
    (``failed_auth_limit``), where a network, and all of loopback, gets what one address gets."""

    # Room-code guesses or wrong host keys per address (per /64, per loopback) per window.
    failed_auth_limit: int = 5
    failed_auth_window: float = 60.0
    room_failed_auth_burst: int = 20  # guesses from anywhere, before the room slows
    room_failed_auth_per_minute: float = 24.0
    join_burst: int = 10  # new participants per address
    joins_per_minute: float = 10.0
    resume_burst: int = 10  # resumes per address
    resumes_per_minute: float = 30.0
    session_resume_burst: int = 10  # resumes per session
    session_resumes_per_minute: float = 20.0
    max_participants_per_address: int = 8  # online or reconnecting
    max_connections_per_address: int = 32
    network_factor: int = 8


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def address_key(address: str) -> str:
    """The exact address, normalised: IPv4-mapped IPv6 as IPv4, IPv6 without its scope.
    Anything that is not an IP address is returned unchanged."""
    ip = _ip(address)
    return str(ip) if ip is not None else address


def network_key(address: str) -> str | None:
    """The IPv6 network ``address`` belongs to (its /64; all link-local addresses count as
    one), or None for IPv4 and anything else."""
    ip = _ip(address)
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.is_link_local:
        return LINK_LOCAL_NETWORK
    return str(ipaddress.IPv6Network((ip, 64), strict=False))


def address_keys(address: str) -> tuple[str, ...]:
    """The keys ``address`` is counted under: its exact address, and its network if any."""
    network = network_key(address)
    exact = address_key(address)
    return (exact,) if network is None else (exact, network)


def limit_for(key: str, per_address: int, network_factor: int) -> int:
    """The limit that applies to an :func:`address_keys` key: ``per_address`` for an exact
    address, ``network_factor`` times that for an IPv6 network."""
    return per_address * network_factor if "/" in key else per_address  # "2001:db8::/64"


def is_loopback(address: str) -> bool:
    """Whether ``address`` is this machine's own loopback (where the host's app connects):
    any of 127.0.0.0/8, ``::1``, or ``::ffff:127.x.y.z``."""
    ip = _ip(address)
    return ip is not None and ip.is_loopback


def guess_keys(address: str) -> tuple[str, ...]:
    """The keys a guess from ``address`` is counted under, each allowed the per-address
    limit: :data:`LOOPBACK` alone for any loopback address (one local process can use
    every address of 127.0.0.0/8), else :func:`address_keys`."""
    return (LOOPBACK,) if is_loopback(address) else address_keys(address)


@dataclass(frozen=True)
class Ban:
    """A ban: the address keys it covers (exact addresses and IPv6 networks), and whom it
    was for."""

    id: BanId
    name: str
    ts: float
    keys: frozenset[str]


@dataclass(frozen=True)
class Guess:
    """One attempt at a secret as :meth:`Admission.guessed` counted it: what to give back if
    it turns out to have been no guess (:meth:`Admission.refund`)."""

    keys: tuple[str, ...]  # the address keys it was counted under
    at: float  # when
    room_wide: bool  # whether it took a token from the room-wide budget


class _RefundableBucket(TokenBucket):
    """A token bucket that can take a token back: a guess that proved to be none."""

    def give_back(self, now: float, cost: float = 1.0) -> None:
        self._refill(now)
        self._tokens = min(self.capacity, self._tokens + cost)


class TwoLevelBuckets:
    """Token buckets per exact address and, ``factor`` times larger, per IPv6 network."""

    def __init__(self, capacity: float, per_minute: float, factor: int) -> None:
        self._exact = KeyedBuckets(capacity, per_minute)
        self._network = KeyedBuckets(capacity * factor, per_minute * factor)

    def take(self, address: str, now: float) -> float | None:
        """Spend one for ``address`` at both levels: None if allowed, else seconds to wait."""
        wait = self._exact.take(address_key(address), now)
        network = network_key(address)
        if wait is None and network is not None:
            wait = self._network.take(network, now)
        return wait

    def prune(self, now: float) -> None:
        self._exact.prune(now)
        self._network.prune(now)

    def __len__(self) -> int:
        return len(self._exact) + len(self._network)


class Admission:
    """Guessing (room codes, host keys), joins, resumes and bans, per address, per network and
    room-wide."""

    def __init__(self, rules: AdmissionRules, now: float) -> None:
        self.rules = rules
        self._failures: dict[str, deque[float]] = {}
        self._room_failures = _RefundableBucket(
            rules.room_failed_auth_burst, rules.room_failed_auth_per_minute / 60.0, now
        )
        factor = rules.network_factor
        self._joins = TwoLevelBuckets(rules.join_burst, rules.joins_per_minute, factor)
        self._resumes = TwoLevelBuckets(rules.resume_burst, rules.resumes_per_minute, factor)
        self._bans: dict[str, Ban] = {}
        self._ban_ids = itertools.count(1)

    def limit_for(self, key: str, per_address: int) -> int:
        """The limit that applies to ``key`` (see :func:`limit_for`)."""
        return limit_for(key, per_address, self.rules.network_factor)

    # ----------------------------------------------------------------- guessing

    def auth_wait(self, address: str, now: float, *, room_wide: bool = True) -> float | None:
        """None if ``address`` may make a guess now (be answered a room-code exchange, have a
        host key checked), else the seconds to wait. Asked before anything is checked or
        answered, so that nothing is learnt while waiting, right or wrong.

        Limits: ``failed_auth_limit`` guesses per window under each of :func:`guess_keys`
        (the address, its IPv6 network, or all of loopback, each allowed the same), and,
        unless ``room_wide`` is false, a room-wide budget of guesses from anywhere, so that
        no number of addresses buys more than a few dozen guesses a minute. The host's own
        machine (loopback) is exempt from the room-wide budget, so an attack from the LAN
        cannot lock the host out of its room there.
        """
        window = self.rules.failed_auth_window
        for key in guess_keys(address):
            failures = self._failures.get(key)
            if not failures:
                continue
            while failures and failures[0] <= now - window:
                failures.popleft()
            if len(failures) >= self.rules.failed_auth_limit:
                return failures[0] + window - now
        if room_wide and not is_loopback(address) and self._room_failures.retry_after(now) > 0:
            return self._room_failures.retry_after(now)
        return None

    def guessed(self, address: str, now: float) -> Guess:
        """Count a guess from ``address``: a room-code exchange the room answered (whether or
        not it turns out right), or a wrong host key. The room-wide budget is spent too,
        except from loopback. Returns what :meth:`refund` needs."""
        keys = guess_keys(address)
        for key in keys:
            self._failures.setdefault(key, deque()).append(now)
        # What an empty budget could not give (a guess it did not hold up) is not given back.
        room_wide = not is_loopback(address) and self._room_failures.take(now)
        return Guess(keys=keys, at=now, room_wide=room_wide)

    def auth_failed(self, address: str, now: float) -> None:
        """A guess from ``address`` that stays counted: a wrong host key, or a room-code
        exchange that could not be answered (its message was no valid point; checking that
        costs the room as much as answering)."""
        self.guessed(address, now)

    def refund(self, guess: Guess, now: float) -> None:
        """``guess`` proved to be no guess (its sender showed it holds the code): take it back
        from every limit it was counted against. Only once per guess."""
        for key in guess.keys:
            failures = self._failures.get(key)
            if failures and guess.at in failures:  # else it has left the window already
                failures.remove(guess.at)
        if guess.room_wide:
            self._room_failures.give_back(now)

    # ----------------------------------------------------------------- joins and resumes

    def join_wait(self, address: str, now: float) -> float | None:
        """Spend a join for ``address``: None if it may join now, else the seconds to wait."""
        return self._joins.take(address, now)

    def resume_wait(self, address: str, now: float) -> float | None:
        """Spend a resume for ``address``: None if it may resume now, else seconds to wait."""
        return self._resumes.take(address, now)

    # ----------------------------------------------------------------- bans

    def ban(self, addresses: Iterable[str], name: str, ts: float) -> Ban:
        """Ban every address in ``addresses`` and, for IPv6, its network, until :meth:`unban`
        or the room closes; ``name`` and ``ts`` (wall clock) are what the host is shown."""
        keys = frozenset(key for a in addresses for key in address_keys(a))
        ban = Ban(BanId(f"b{next(self._ban_ids)}"), name, ts, keys)
        self._bans[ban.id] = ban
        return ban

    def unban(self, ban_id: str) -> bool:
        """Lift ban ``ban_id``; False if there is no such ban."""
        return self._bans.pop(ban_id, None) is not None

    def banned(self, address: str) -> bool:
        keys = address_keys(address)
        return any(key in ban.keys for ban in self._bans.values() for key in keys)

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
