"""Compiled configuration per environment, built once and shared by every request.

A request never compiles configuration: it asks the cache for the environment's
:class:`EnvironmentSnapshot` (the engine's compiled ``Snapshot``, the JSON document SDKs
download, and its ETag). The cache rebuilds an environment only after it was
invalidated (a change was committed, here or in another process), and then the
requests that arrive wait for the new copy: none is answered from configuration older
than a change committed before it arrived. A copy older than ``max_age`` seconds (the
safety net should a change notification be lost) is rebuilt too, but on a background
thread while requests go on being answered from it, so the refresh never stalls traffic.

"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from verdict.engine import Snapshot, compile_config
from verdict.server.db import utcnow
from verdict.server.environments.models import Environment
from verdict.server.errors import NotFoundError
from verdict.server.flags.config import build_config

__all__ = ["EnvironmentSnapshot", "SnapshotCache"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EnvironmentSnapshot:
    environment_id: uuid.UUID
    environment_key: str
    snapshot: Snapshot
    document: dict[str, Any]
    body: bytes  # the document as served (compact JSON)
    etag: str  # strong ETag of ``body``
    built_at: float  # time.monotonic() when built
    built_at_wall: str  # ISO 8601, for responses and metrics

    def age(self) -> float:
        return time.monotonic() - self.built_at


@dataclass
class _Slot:
    lock: threading.Lock = field(default_factory=threading.Lock)
    # The copy and the generation it was built at, replaced as one tuple: readers take
    # no lock, so two separate fields could pair an old copy with a new generation.
    built: tuple[EnvironmentSnapshot, int] | None = None
    # Bumped by every invalidation; a snapshot is fresh only if it was built at the
    # slot's current generation, so a request never gets a copy older than a change
    # that was committed (and invalidated) before it arrived.
    generation: int = 0
    refreshing: bool = False  # a background rebuild of an aged copy is under way

    def valid(self) -> EnvironmentSnapshot | None:
        """The copy, unless a change invalidated it since it was built."""
        built = self.built
        if built is not None and built[1] == self.generation:
            return built[0]
        return None


def _serialise(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), sort_keys=True, default=str).encode()


class SnapshotCache:
    """Thread-safe, per-environment; concurrent requests for a stale environment wait for
    one rebuild instead of each compiling their own."""

    def __init__(self, session_factory: Callable[[], Session], *, max_age: float = 60.0) -> None:
        self._session_factory = session_factory
        self._max_age = max_age
        self._slots: dict[str, _Slot] = {}
        self._slots_lock = threading.Lock()
        self._listeners: list[Callable[[str | None], None]] = []
        self._keys: dict[uuid.UUID, str] = {}  # environment id -> key, for SDK keys

    def _slot(self, environment_key: str) -> _Slot:
        slot = self._slots.get(environment_key)
        if slot is None:
            with self._slots_lock:
                slot = self._slots.setdefault(environment_key, _Slot())
        return slot

    def get(self, environment_key: str) -> EnvironmentSnapshot:
        slot = self._slot(environment_key)
        valid = self._served(environment_key, slot)
        if valid is not None:
            return valid
        with slot.lock:  # one build; concurrent readers wait for it
            valid = slot.valid()
            if valid is not None:
                return valid
            return self._rebuild(environment_key, slot)

    def _served(self, environment_key: str, slot: _Slot) -> EnvironmentSnapshot | None:
        """The valid copy, if any, refreshing it in the background once it has aged."""
        valid = slot.valid()
        if valid is not None and valid.age() >= self._max_age and not slot.refreshing:
            slot.refreshing = True
            threading.Thread(
                target=self._refresh,
                args=(environment_key, slot),
                name="verdict-snapshot-refresh",
                daemon=True,
            ).start()
        return valid

    def _refresh(self, environment_key: str, slot: _Slot) -> None:
        try:
            with slot.lock:
                valid = slot.valid()
                if valid is not None and valid.age() >= self._max_age:
                    self._rebuild(environment_key, slot)
        except Exception:  # the aged copy keeps serving; the next request tries again
            logger.exception("refreshing the configuration of %s failed", environment_key)
        finally:
            slot.refreshing = False

    def _rebuild(self, environment_key: str, slot: _Slot) -> EnvironmentSnapshot:
        """Build under ``slot.lock``; an invalidation during the build leaves the slot
        stale again, so the next request builds once more."""
        generation = slot.generation
        built = self._build(environment_key)
        slot.built = (built, generation)
        return built

    def peek_by_id(self, environment_id: uuid.UUID) -> EnvironmentSnapshot | None:
        """The environment's snapshot if one is held and fresh, without any I/O (so an
        event loop may call it); None when :meth:`get_by_id` would have to build."""
        key = self._keys.get(environment_id)
        if key is None:
            return None
        slot = self._slots.get(key)
        return None if slot is None else self._served(key, slot)

    def warm(self) -> list[EnvironmentSnapshot]:
        """Build every environment's snapshot now (a server does before its first
        request, so that request does not wait for a build)."""
        with self._session_factory() as session:
            environments = list(session.execute(select(Environment.id, Environment.key)))
        built = []
        for environment_id, key in environments:
            self._keys[environment_id] = key
            built.append(self.get(key))
        return built

    def get_by_id(self, environment_id: uuid.UUID) -> EnvironmentSnapshot:
        """The snapshot of the environment an SDK key belongs to (its id is all the key
        knows); the id-to-key lookup is remembered until everything is invalidated."""
        key = self._keys.get(environment_id)
        if key is None:
            with self._session_factory() as session:
                key = session.scalar(
                    select(Environment.key).where(Environment.id == environment_id)
                )
            if key is None:
                raise NotFoundError(f"no environment with id {environment_id}")
            self._keys[environment_id] = key
        return self.get(key)

    def _build(self, environment_key: str) -> EnvironmentSnapshot:
        with self._session_factory() as session:
            environment = session.scalars(
                select(Environment).where(Environment.key == environment_key)
            ).first()
            if environment is None:
                raise NotFoundError(f"no environment {environment_key!r}")
            document = build_config(session, environment.id)
        # Lenient: one broken flag must not take every other flag down with it.
        snapshot = compile_config(document, strict=False)
        body = _serialise(document)
        return EnvironmentSnapshot(
            environment_id=environment.id,
            environment_key=environment.key,
            snapshot=snapshot,
            document=document,
            body=body,
            etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
            built_at=time.monotonic(),
            built_at_wall=utcnow().isoformat(),
        )

    def invalidate(self, environment_key: str | None = None) -> None:
        """Mark one environment (or all, with None) for rebuild on the next request."""
        if environment_key is None:
            self._keys.clear()  # an environment may have been renamed
        with self._slots_lock:
            slots = (
                list(self._slots.values())
                if environment_key is None
                else [self._slots.setdefault(environment_key, _Slot())]
            )
        with self._slots_lock:  # two invalidations at once must both count
            for slot in slots:
                slot.generation += 1
        for listener in list(self._listeners):
            listener(environment_key)

    def add_listener(self, listener: Callable[[str | None], None]) -> None:
        """Called with the environment key (None: all) after each invalidation."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[str | None], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def cached(self) -> list[EnvironmentSnapshot]:
        """The snapshots currently held (for metrics such as snapshot age)."""
        return [slot.built[0] for slot in list(self._slots.values()) if slot.built is not None]
