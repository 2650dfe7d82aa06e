"""A small in-process token bucket, per user (and per client address for logins).

Each key owns a bucket of ``burst`` tokens that refills at ``per_minute / 60`` tokens a
second; a request takes one token, and an empty bucket answers 429 with ``Retry-After``.
The buckets live in the worker's memory: with N uvicorn workers a user gets up to N times
the budget, and a restart forgets them. That is enough to stop a runaway script or a
scraper on a county intranet; a shared limit would need Redis or the reverse proxy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from service.errors import TooManyRequests

#: Used until ``settings.service.rate_limit_per_minute`` exists (0 turns the limit off).
DEFAULT_PER_MINUTE = 300
#: Used until ``settings.service.rate_limit_burst`` exists.
DEFAULT_BURST = 60
# Past this many keys, idle full buckets are dropped so memory stays bounded.
_MAX_KEYS = 10_000


class TokenBucketLimiter:
    """Token buckets by key.

    Parameters
    ----------
    per_minute
        Sustained requests a minute per key; 0 or less disables limiting.
    burst
        Bucket size: requests allowed at once after a pause.
    clock
        Monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        per_minute: float = DEFAULT_PER_MINUTE,
        burst: int = DEFAULT_BURST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = max(1, burst)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last time)
        # Sync endpoints and dependencies run in a thread pool.
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def hit(self, key: str) -> None:
        """Take one token for ``key``; raise :class:`TooManyRequests` when there is none."""
        if not self.enabled:
            return
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                raise TooManyRequests(
                    "Too many requests; slow down.", retry_after=(1.0 - tokens) / self.rate
                )
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > _MAX_KEYS:
                self._prune(now)

    def _prune(self, now: float) -> None:
        full_after = self.burst / self.rate
        for key, (_, last) in list(self._buckets.items()):
            if now - last >= full_after:
                del self._buckets[key]
