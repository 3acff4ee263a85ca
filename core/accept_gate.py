"""Limits on open sockets, applied the moment a TCP connection is accepted.

The room limits connections per address too, but only once a WebSocket upgrade has finished;
thousands of half-open upgrades (or TLS handshakes) from one machine would exhaust the host's
file descriptors long before that. :class:`AcceptGate` counts every accepted socket per
address key and in total; :mod:`core.tls_listener` asks it about each socket as it is
accepted and cuts one over either limit at once, before reading anything from it.
"""

from __future__ import annotations

import logging
import sys
from collections import Counter

from core.admission import address_keys, is_loopback, limit_for

__all__ = ["AcceptGate", "raise_open_files_limit"]

log = logging.getLogger("gptgroup.server")


class AcceptGate:
    """Counts open sockets per address, per IPv6 network (``network_factor`` times as many;
    see :mod:`core.admission`) and in total; :meth:`admit` says whether one more may stay
    open. The host's own machine (loopback) is not counted in the total, so that a flood
    from the LAN never keeps the host's own app out of its room."""

    def __init__(self, per_address: int, total: int, network_factor: int = 8) -> None:
        self.per_address = per_address
        self.total = total
        self.network_factor = network_factor
        self._open: Counter[str] = Counter()
        self._total = 0
        self._refused = 0

    @property
    def open_sockets(self) -> int:
        """Sockets open from elsewhere than loopback."""
        return self._total

    def admit(self, address: str) -> bool:
        keys = address_keys(address)
        over = any(
            self._open[key] >= limit_for(key, self.per_address, self.network_factor) for key in keys
        )
        local = is_loopback(address)
        if over or (not local and self._total >= self.total):
            self._refused += 1
            if self._refused in (1, 10, 100) or self._refused % 1000 == 0:
                log.warning("refused %d connections over the socket limits", self._refused)
            return False
        self._open.update(keys)
        self._total += 0 if local else 1
        return True

    def release(self, address: str) -> None:
        keys = address_keys(address)
        self._open.subtract(keys)
        for key in keys:
            if self._open[key] <= 0:
                del self._open[key]
        self._total -= 0 if is_loopback(address) else 1


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
