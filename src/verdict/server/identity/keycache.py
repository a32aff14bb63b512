"""API keys remembered in process, so the SDK hot paths authenticate without the database.

SDK traffic presents the same few keys thousands of times a second; looking each one up
(and hashing it, and checking revocation and expiry) in the database would cost more
than the evaluation it guards. A process therefore remembers, by the SHA-256 of the
secret (never the secret itself), the :class:`Principal` a key resolved to, for at most
``ttl`` seconds.

What keeps the cache honest:
- Any committed change to an ``api_keys`` row (created, revoked, deleted, renamed; not
  a last-used time) clears it, in this process at commit and in every other process
  through the same PostgreSQL notification that carries configuration changes
  (:mod:`verdict.server.delivery.changes`). A revoked key is refused from the next
  request on, here, and within milliseconds elsewhere.
- A person's keys die with them: deactivating or deleting the owner through the API
  revokes the owner's keys (``keys.retire_keys``), a row change like any other, so
  every cache forgets them at once. (An owner row deleted behind the API's back is
  caught at the next database lookup, within ``ttl``.)
- Entries expire after ``ttl`` seconds even if a notification was lost; the next
  request then authenticates against the database again, which is also when the key's
  ``last_used_at`` is brought up to date (its resolution is a minute anyway).
- An entry is never used past the key's own ``expires_at``.
- Only successful authentications are remembered: an unknown key always reaches the
  database, so a key created a moment ago works at once.

Listeners (:meth:`ApiKeyCache.add_listener`) hear every clear: open configuration
streams use it to re-check their key at once (:mod:`verdict.server.delivery.stream`).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # auth.py imports this module
    from verdict.server.identity.auth import Principal

__all__ = ["ApiKeyCache"]


@dataclass(frozen=True, slots=True)
class _Entry:
    principal: Principal
    expires_at: dt.datetime | None  # the key's own expiry
    stored_at: float  # time.monotonic()
    generation: int


class ApiKeyCache:
    """Thread-safe map from a key's digest to the principal it authenticated as."""

    def __init__(self, *, ttl: float = 60.0, max_entries: int = 10_000) -> None:
        self._ttl = ttl
        self._max_entries = max_entries
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        # Bumped by clear(): an authentication that began before a clear must not store
        # what it read, since the change that cleared may have revoked that very key.
        self._generation = 0
        self._listeners: list[Callable[[], None]] = []

    @property
    def generation(self) -> int:
        return self._generation

    def get(self, digest: str, now: dt.datetime) -> Principal | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if (
            entry.generation != self._generation
            or time.monotonic() - entry.stored_at >= self._ttl
            or (entry.expires_at is not None and entry.expires_at <= now)
        ):
            with self._lock:
                if self._entries.get(digest) is entry:
                    del self._entries[digest]
            return None
        return entry.principal

    def put(
        self,
        digest: str,
        principal: Principal,
        *,
        expires_at: dt.datetime | None,
        generation: int,
    ) -> None:
        """Remember ``principal`` if nothing was cleared since ``generation`` was read."""
        with self._lock:
            if generation != self._generation:
                return
            if len(self._entries) >= self._max_entries:
                self._entries.clear()  # a flood of distinct keys: start over
            self._entries[digest] = _Entry(principal, expires_at, time.monotonic(), generation)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()
        for listener in list(self._listeners):
            listener()

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Called (on the clearing thread) after each clear: a key may have been revoked."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def __len__(self) -> int:
        return len(self._entries)
