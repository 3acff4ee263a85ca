"""A token bucket: bursts up to a capacity, then a steady rate. Time is passed in."""

from __future__ import annotations

__all__ = ["KeyedBuckets", "TokenBucket"]


class TokenBucket:
    """Allows ``capacity`` actions at once, refilled at ``rate`` tokens per second.

    The caller passes the current monotonic time to every call, which keeps the bucket
    free of clocks and trivial to test.
    """

    def __init__(self, capacity: float, rate: float, now: float) -> None:
        if capacity <= 0 or rate <= 0:
            raise ValueError("capacity and rate must be positive")
        self.capacity = capacity
        self.rate = rate
        self._tokens = capacity
        self._updated = now

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
        self._updated = now

    def take(self, now: float, cost: float = 1.0) -> bool:
        """Spend ``cost`` tokens if there are enough; return whether the action may go ahead."""
        self._refill(now)
        if self._tokens >= cost:
            self._tokens -= cost
            return True
        return False

    def retry_after(self, now: float, cost: float = 1.0) -> float:
        """Seconds until ``cost`` tokens will be available (0 if they are now)."""
        self._refill(now)
        return max(0.0, (cost - self._tokens) / self.rate)

    def full(self, now: float) -> bool:
        """Whether the bucket is back to its capacity (it then remembers nothing)."""
        self._refill(now)
        return self._tokens >= self.capacity


class KeyedBuckets:
    """One :class:`TokenBucket` per key, made on first use and pruned once full again."""

    def __init__(self, capacity: float, per_minute: float) -> None:
        self._capacity = capacity
        self._rate = per_minute / 60.0
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, key: str, now: float) -> float | None:
        """Spend one token for ``key``: None if allowed, else the seconds to wait."""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self._capacity, self._rate, now)
        if bucket.take(now):
            return None
        return bucket.retry_after(now)

    def prune(self, now: float) -> None:
        self._buckets = {k: b for k, b in self._buckets.items() if not b.full(now)}

    def __len__(self) -> int:
        return len(self._buckets)
