"""A per-key token bucket (e.g. per client address), for in-process rate limits in a worker.

Each worker replica limits on its own: with N replicas behind the dispatcher the effective limit is
up to N times higher. Use a shared store when that matters.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Callable


class RateLimiter:
    """`rate` events per `per` seconds per key, with bursts up to `burst` (default: rate).

    Memory is bounded: at most `max_keys` buckets, least recently used evicted first (an evicted
    key starts again with a full bucket). Thread-safe, so sync handlers in threads can share it.
    """

    def __init__(self, rate: float, per: float = 1.0, burst: float | None = None, *,
                 max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or per <= 0:
            raise ValueError("rate and per must be positive")
        self.refill_per_second = rate / per
        self.capacity = float(burst if burst is not None else rate)
        if self.capacity < 1:
            raise ValueError("burst must allow at least one event")
        self.max_keys = max_keys
        self._clock = clock
        self._buckets: "OrderedDict[str, tuple[float, float]]" = OrderedDict()  # key -> (tokens, at)
        self._lock = threading.Lock()

    def allow(self, key: str, cost: float = 1.0) -> bool:
        """Take `cost` tokens from `key`'s bucket; False (and nothing taken) when too few are left."""
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.pop(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - at) * self.refill_per_second)
            allowed = tokens >= cost
            if allowed:
                tokens -= cost
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            return allowed

    def retry_after(self, key: str, cost: float = 1.0) -> float:
        """Seconds until `key` could spend `cost` again (0 when it can now)."""
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - at) * self.refill_per_second)
        return max(0.0, (cost - tokens) / self.refill_per_second)

    def __len__(self) -> int:
        return len(self._buckets)
