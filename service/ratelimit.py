"""Rate limits: an in-process token bucket per user, and the login back-off per address.

:class:`TokenBucketLimiter`: each key owns a bucket of ``burst`` tokens that refills at
``per_minute / 60`` tokens a second; a request takes one token, and an empty bucket
answers 429 with ``Retry-After``. The buckets live in the worker's memory: with N uvicorn
workers a user gets up to N times the budget, and a restart forgets them. That is enough
to stop a runaway script or a scraper on a county intranet.

:class:`LoginThrottle`: failed logins per client address, counted **in the store**
(``login_throttle``, migration ``0013``) so that every worker sees the same count — a
per-process limit let one address spray a hundred accounts in minutes. After
``auth.address_free_failures`` failures in a window the address must wait before each
next attempt, the wait doubling with every failure up to ``auth.address_backoff_max_seconds``
(docs/security.md has the arithmetic). The per-account lock-out (``service.auth``) stays
as it was; the two together bound both a guesser at one account and a sprayer of many.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from service.errors import TooManyRequests
from service.settings import AuthSettings
from store.accounts import block_logins, count_login_failure, login_blocked_until

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

    def allow(self, key: str) -> bool:
        """Take one token for ``key`` if there is one; whether there was."""
        try:
            self.hit(key)
        except TooManyRequests:
            return False
        return True

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


# ----------------------------------------------------------------------------------------
# Logins: back-off per client address, shared by the workers through the store
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoginBackoff:
    """How long an address waits after its n-th failed login of a window.

    The first ``free_failures`` cost nothing (colleagues behind one NAT mistype too); the
    next waits ``base_seconds``, then twice that, and so on, up to ``max_seconds``.
    """

    free_failures: int = 10
    base_seconds: float = 1.0
    max_seconds: float = 900.0
    window_minutes: int = 60

    @classmethod
    def of(cls, auth: AuthSettings) -> LoginBackoff:
        return cls(
            auth.address_free_failures,
            auth.address_backoff_seconds,
            auth.address_backoff_max_seconds,
            auth.address_window_minutes,
        )

    @property
    def window(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.window_minutes)

    def delay(self, failures: int) -> float:
        """Seconds the address must wait after its ``failures``-th failure of the window."""
        extra = failures - self.free_failures
        if extra <= 0:
            return 0.0
        # 2**extra overflows a float long before the cap matters: stop doubling at the cap.
        return min(self.max_seconds, self.base_seconds * 2.0 ** min(extra - 1, 64))


def address_key(client: str | None) -> str:
    """The throttle's key of a client address: an IPv6 address counts by its /64.

    One IPv6 host commonly holds a whole /64 and may pick any address in it per request;
    keyed by the full address, each would get its own free failures.
    """
    if not client:
        return "addr:unknown"
    try:
        ip = ipaddress.ip_address(client)
    except ValueError:
        return f"addr:{client[:64]}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:10.1.2.3 is the IPv4 client 10.1.2.3
            return f"addr:{ip.ipv4_mapped}"
        return f"addr:{ipaddress.ip_network(f'{ip}/64', strict=False)}"
    return f"addr:{ip}"


class LoginThrottle:
    """The login back-off per client address, kept in the store (shared by workers).

    :meth:`check` before a login is looked at: 429 with ``Retry-After`` while the address
    waits (the password is not checked: a blocked address is no password oracle).
    :meth:`failed` after a login failed: counts it and, past the free failures, blocks the
    address for :meth:`LoginBackoff.delay` seconds. A successful login does not reset the
    count: a sprayer holding one valid account could otherwise clear it between guesses.

    Parameters
    ----------
    backoff
        The policy (``LoginBackoff.of(settings.auth)``).
    clock
        Now, UTC-aware (injectable for tests).
    """

    def __init__(
        self,
        backoff: LoginBackoff,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.backoff = backoff
        self.clock = clock

    def check(self, session: Session, client: str | None) -> None:
        """Raise :class:`TooManyRequests` while ``client`` must wait."""
        now = self.clock()
        until = login_blocked_until(session.connection(), address_key(client), now)
        session.commit()  # end the read transaction: the login goes on in its own
        if until is not None:
            raise TooManyRequests(
                "Too many failed logins from this address; retry after Retry-After seconds.",
                retry_after=(until - now).total_seconds(),
            )

    def failed(self, session: Session, client: str | None) -> float:
        """Count a failed login from ``client``; the seconds it must now wait (0 = none)."""
        now = self.clock()
        key = address_key(client)
        conn = session.connection()
        failures = count_login_failure(conn, key, now, self.backoff.window)
        wait = self.backoff.delay(failures)
        if wait > 0:
            block_logins(conn, key, now + dt.timedelta(seconds=wait))
        session.commit()
        return wait
