"""Limits on sockets, applied the moment a TCP connection is accepted.

The room limits connections per address too, but only once a WebSocket upgrade has finished;
thousands of half-open upgrades (or TLS handshakes) from one machine would exhaust the host's
file descriptors, its memory or its CPU long before that. :class:`AcceptGate` counts, for
every accepted socket, per address key and in total:

* how often the address connects (a token bucket: every accept spends one, refused or not);
* the sockets it holds open;
* the sockets still on their way in: not yet past their TLS handshake, or not yet sorted
  from plain text by their first byte. Each such socket holds a TLS read buffer and
  OpenSSL's state for its handshake, so fewer of them may wait at once than may stay open.

:mod:`core.tls_listener` asks it about each socket as it is accepted, and cuts one over any
limit at once, before reading anything from it.

Loopback is counted apart from everything else: every process on the host's machine may
connect from any address of 127.0.0.0/8, so each loopback address keeps its own per-address
limits (tests and benchmarks connect many clients from 127.0.0.N), and all of loopback
together has limits of its own: ``loopback_total`` open sockets, ``network_factor`` times an
address's accepts, and its own allowance of sockets on their way in. Loopback is never
counted in the total for elsewhere, nor elsewhere in loopback's, so that a flood from the
LAN never keeps the host's own app out of its room.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from collections.abc import Callable

from core.admission import LOOPBACK, address_keys, is_loopback, limit_for
from core.ratelimit import KeyedBuckets

__all__ = [
    "ACCEPTS_PER_SECOND",
    "ACCEPT_BURST",
    "LOOPBACK_TOTAL",
    "MAX_SETTLING",
    "AcceptGate",
    "raise_open_files_limit",
]

log = logging.getLogger("gptgroup.server")

ACCEPT_BURST = 60  # connections an address may open at once...
ACCEPTS_PER_SECOND = 10.0  # ...and then steadily (an IPv6 network, and loopback, 8 times)
LOOPBACK_TOTAL = 1024  # sockets open from all of loopback together
MAX_SETTLING = 256  # sockets on their way in at once: from elsewhere, and from loopback
_PRUNE_EVERY = 10.0  # seconds between forgetting addresses whose buckets are full again


class AcceptGate:
    """Counts accepts and sockets per address, per IPv6 network (``network_factor`` times as
    many; see :mod:`core.admission`), for all of loopback, and in total; :meth:`admit` says
    whether one more socket may stay open, :meth:`settled` that one is past its handshake,
    :meth:`release` that one closed.

    ``per_address`` open sockets per address; ``total`` open sockets from elsewhere than
    loopback; ``loopback_total`` from loopback (at most ``total``: None is
    :data:`LOOPBACK_TOTAL` or ``total``, whichever is smaller, since ``total`` is what the
    host can spare); ``accept_burst`` and ``accepts_per_second`` accepts per address;
    ``max_settling`` sockets on their way in at once, from elsewhere and from loopback each.
    ``clock`` is monotonic seconds.
    """

    def __init__(
        self,
        per_address: int,
        total: int,
        network_factor: int = 8,
        *,
        loopback_total: int | None = None,
        accept_burst: int = ACCEPT_BURST,
        accepts_per_second: float = ACCEPTS_PER_SECOND,
        max_settling: int = MAX_SETTLING,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_address = per_address
        self.total = total
        self.network_factor = network_factor
        if loopback_total is None:
            loopback_total = min(LOOPBACK_TOTAL, total)
        self.loopback_total = loopback_total
        self.max_settling = max_settling
        self._clock = clock
        per_minute = accepts_per_second * 60.0
        self._accepts = KeyedBuckets(accept_burst, per_minute)
        self._group_accepts = KeyedBuckets(  # IPv6 networks, and loopback as a whole
            accept_burst * network_factor, per_minute * network_factor
        )
        self._next_prune = clock() + _PRUNE_EVERY
        self._open: Counter[str] = Counter()
        self._total = 0
        self._settling = {False: 0, True: 0}  # by whether from loopback
        self._refused = 0

    @property
    def open_sockets(self) -> int:
        """Sockets open from elsewhere than loopback."""
        return self._total

    def settling(self, *, loopback: bool = False) -> int:
        """Sockets on their way in (admitted, not yet :meth:`settled`), from loopback or not."""
        return self._settling[loopback]

    def admit(self, address: str) -> bool:
        """Whether a socket just accepted from ``address`` may stay open: if so, it is counted
        as open and on its way in, until :meth:`settled` and :meth:`release`."""
        local = is_loopback(address)
        keys = _keys(address, local)
        now = self._clock()
        if now >= self._next_prune:
            self._accepts.prune(now)
            self._group_accepts.prune(now)
            self._next_prune = now + _PRUNE_EVERY
        over = (
            not self._accepted(keys, now)
            or any(self._open[key] >= self._limit(key) for key in keys)
            or (not local and self._total >= self.total)
            or self._settling[local] >= self.max_settling
        )
        if over:
            self._refused += 1
            if self._refused in (1, 10, 100) or self._refused % 1000 == 0:
                log.warning("refused %d connections over the socket limits", self._refused)
            return False
        self._open.update(keys)
        self._total += 0 if local else 1
        self._settling[local] += 1
        return True

    def settled(self, address: str) -> None:
        """A socket :meth:`admit` let in is past its TLS handshake (or failed it, or turned
        out to be plain text, or closed first). Once per admitted socket."""
        self._settling[is_loopback(address)] -= 1

    def release(self, address: str) -> None:
        """A socket :meth:`admit` let in has closed. Once per admitted socket."""
        local = is_loopback(address)
        keys = _keys(address, local)
        self._open.subtract(keys)
        for key in keys:
            if self._open[key] <= 0:
                del self._open[key]
        self._total -= 0 if local else 1

    def _accepted(self, keys: tuple[str, ...], now: float) -> bool:
        """Spend an accept under every key: whether each had one left."""
        exact, *groups = keys
        if self._accepts.take(exact, now) is not None:
            return False
        return all(self._group_accepts.take(key, now) is None for key in groups)

    def _limit(self, key: str) -> int:
        if key == LOOPBACK:
            return self.loopback_total
        return limit_for(key, self.per_address, self.network_factor)


def _keys(address: str, local: bool) -> tuple[str, ...]:
    """What a socket from ``address`` is counted under: its exact address first, then its
    IPv6 network, or all of loopback."""
    return (*address_keys(address), LOOPBACK) if local else address_keys(address)


def raise_open_files_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit, where allowed, and
    return the soft limit now in force."""
    if sys.platform == "win32":
        return 8192  # no such limit to raise: Windows sockets are not file descriptors
    import resource  # noqa: PLC0415 (Unix only)

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    unlimited = hard == resource.RLIM_INFINITY
    # An unlimited hard limit is not always settable (macOS caps it at OPEN_MAX, 10240).
    for target in (65536, 10240, 4096) if unlimited else (hard,):
        if target <= soft:
            break
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            continue
        return target
    if soft < 1024:
        log.info("the open-files limit stays at %d", soft)
    return soft
