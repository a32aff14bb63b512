"""Login throttling: failed logins counted per account and per client address, and a
bound on how many passwords are hashed at once.

Counting uses the ``limits`` package's moving window over its in-memory storage. Only
failures count, so people who type their password right are never slowed; once either
counter is spent, further attempts for that account or from that address are answered
429 with ``Retry-After`` before any password is hashed. A successful login clears its
account's counter (not its address's).

The counters live in each server process: with N processes an attacker gets up to N
times the limits below, still a few hundred guesses an hour instead of the ~4 a second
an unthrottled server allows. Restarting a process forgets its counters.

Argon2id needs 64 MiB and tens of milliseconds of CPU per hash, so a flood of logins
could hold gigabytes and starve every other request. At most ``concurrent_hashes``
logins hash at a time; a few more may wait their turn (``max_waiting``, for at most
``wait`` seconds), and the rest are answered 429 at once, holding no memory and no
worker thread.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from verdict.server.errors import DomainError

__all__ = [
    "PER_ACCOUNT",
    "PER_ADDRESS",
    "LoginThrottle",
    "LoginThrottledError",
]

# Failed logins allowed, per account name and per client address.
PER_ACCOUNT = "10/minute;50/hour"
PER_ADDRESS = "60/minute;600/hour"


class LoginThrottledError(DomainError):
    """Too many failed logins, or too many logins at once: retry after ``retry_after``
    seconds."""

    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = max(1, retry_after)


class LoginThrottle:
    """One process's login counters and password-hashing gate (thread-safe)."""

    def __init__(
        self,
        *,
        per_account: str = PER_ACCOUNT,
        per_address: str = PER_ADDRESS,
        concurrent_hashes: int = 2,
        max_waiting: int = 8,
        wait: float = 5.0,
    ) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._per_account: list[RateLimitItem] = parse_many(per_account)
        self._per_address: list[RateLimitItem] = parse_many(per_address)
        self._hashing = threading.BoundedSemaphore(concurrent_hashes)
        self._max_waiting = max_waiting
        self._wait = wait
        self._waiting = 0
        self._lock = threading.Lock()

    def _counters(self, username: str, address: str) -> list[tuple[RateLimitItem, str, str]]:
        return [(item, "account", username) for item in self._per_account] + [
            (item, "address", address) for item in self._per_address
        ]

    def check(self, *, username: str, address: str) -> None:
        """Refuse before any hashing when the account or the address is spent."""
        for item, scope, identifier in self._counters(username, address):
            if not self._limiter.test(item, scope, identifier):
                stats = self._limiter.get_window_stats(item, scope, identifier)
                raise LoginThrottledError(
                    f"too many failed logins for this {scope} "
                    f"(at most {item.amount} per {item.get_expiry()} s); try again later",
                    retry_after=math.ceil(stats.reset_time - time.time()),
                )

    def failed(self, *, username: str, address: str) -> None:
        for item, scope, identifier in self._counters(username, address):
            self._limiter.hit(item, scope, identifier)

    def succeeded(self, *, username: str) -> None:
        for item in self._per_account:
            self._limiter.clear(item, "account", username)

    @contextmanager
    def hashing(self) -> Iterator[None]:
        """Hold one of the few password-hashing slots, or refuse with 429."""
        with self._lock:
            if self._waiting >= self._max_waiting:
                raise LoginThrottledError("too many logins at once; try again", retry_after=1)
            self._waiting += 1
        try:
            acquired = self._hashing.acquire(timeout=self._wait)
        finally:
            with self._lock:
                self._waiting -= 1
        if not acquired:
            raise LoginThrottledError("too many logins at once; try again", retry_after=1)
        try:
            yield
        finally:
            self._hashing.release()
