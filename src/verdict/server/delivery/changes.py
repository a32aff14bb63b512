"""Which committed changes invalidate compiled configuration, and how other processes hear.

One mechanism covers every code path: SQLAlchemy session events on the app's session
factory. ``after_flush`` records the configuration rows a session touched (flags, flag
states, overrides, prerequisites, segments, experiments and their variants, phases and
segment links, environments) in ``session.info``; ``before_commit`` resolves them to
environment keys and, on PostgreSQL, publishes each with ``pg_notify`` inside the
committing transaction, so the notification is delivered exactly when (and only if) the
change commits; ``after_commit`` invalidates this process's :class:`SnapshotCache`.

A row that belongs to one environment (a flag state, an override, an experiment
scoped to an environment) invalidates that environment; anything shared (a flag
definition, a segment, an environment row, an experiment in every environment)
invalidates all of them (payload ``*``). A change to an API key (created, revoked,
deleted; not its last-used time) travels the same way with payload ``!keys`` and
clears every process's API key cache (:mod:`verdict.server.identity.keycache`), which
``*`` clears too (an environment, and with it its keys, may have been deleted); each
clear also has every open configuration stream re-check its key, so the stream of a
revoked key ends (:mod:`verdict.server.delivery.stream`).

On PostgreSQL each server process also runs a :class:`ChangeListener`: a thread with its
own connection that LISTENs on :data:`CHANNEL`, invalidates the local cache for each
notification and reconnects after a failure (invalidating everything then, since a
notification may have been missed while it was away). On SQLite there is one process,
so the local invalidation is all there is.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import uuid
from collections.abc import Iterable
from types import FrameType
from typing import Any

import psycopg
from fastapi import FastAPI
from sqlalchemy import Engine, event, inspect, select, text
from sqlalchemy.orm import Session, UOWTransaction, sessionmaker

from verdict.server.delivery.snapshots import SnapshotCache
from verdict.server.delivery.stream import StreamHub
from verdict.server.environments.models import Environment
from verdict.server.experiments.models import (
    Experiment,
    ExperimentPhase,
    ExperimentSegment,
    Variant,
)
from verdict.server.flags.models import (
    FeatureFlag,
    FeatureFlagEnvironment,
    FeatureFlagOverride,
    FeatureFlagPrerequisite,
)
from verdict.server.identity.auth import key_cache
from verdict.server.identity.keycache import ApiKeyCache
from verdict.server.identity.models import ApiKey
from verdict.server.segments.models import Segment

__all__ = [
    "ALL",
    "CHANNEL",
    "KEYS",
    "ChangeDelivery",
    "ChangeListener",
    "ChangeTracker",
    "invalidate",
]

logger = logging.getLogger(__name__)

CHANNEL = "verdict_config"
ALL = "*"  # payload: every environment
KEYS = "!keys"  # payload: API keys changed (no environment key starts with "!")
_TOUCHED = "verdict.config.touched"  # session.info: environment ids, or ALL
# Rows that belong to one environment, by the attribute naming it.
_SCOPED: tuple[type[Any], ...] = (FeatureFlagEnvironment, FeatureFlagOverride, Experiment)
# Rows every environment's document is built from.
_SHARED: tuple[type[Any], ...] = (
    Environment,
    FeatureFlag,
    FeatureFlagPrerequisite,
    Segment,
    Variant,
    ExperimentPhase,
    ExperimentSegment,
)
_RECONNECT_DELAY = 1.0


def _key_changed(row: ApiKey, new_or_deleted: bool) -> bool:
    if new_or_deleted:
        return True
    state = inspect(row)
    return any(
        attribute.history.has_changes()
        for attribute in state.attrs
        if attribute.key != "last_used_at"
    )


def _touched(session: Session) -> set[uuid.UUID | str]:
    touched: set[uuid.UUID | str] = session.info.setdefault(_TOUCHED, set())
    return touched


class ChangeTracker:
    """Session hooks on one session factory, feeding one cache (see the module docstring)."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        cache: SnapshotCache,
        api_keys: ApiKeyCache | None = None,
    ) -> None:
        self._factory = factory
        self._cache = cache
        self._api_keys = api_keys
        self._hooks = (
            ("after_flush", self._after_flush),
            ("before_commit", self._before_commit),
            ("after_commit", self._after_commit),
            ("after_rollback", self._after_rollback),
        )

    def install(self) -> None:
        for name, hook in self._hooks:
            if not event.contains(self._factory, name, hook):
                event.listen(self._factory, name, hook)

    def remove(self) -> None:
        for name, hook in self._hooks:
            if event.contains(self._factory, name, hook):
                event.remove(self._factory, name, hook)

    def _after_flush(self, session: Session, _context: UOWTransaction) -> None:
        touched = _touched(session)
        for row in (*session.new, *session.dirty, *session.deleted):
            if isinstance(row, ApiKey):
                if _key_changed(row, row not in session.dirty):
                    touched.add(KEYS)
            elif isinstance(row, _SHARED):
                touched.add(ALL)
            elif isinstance(row, _SCOPED):
                # A dirty row may have moved between environments: both must hear.
                environment_id = row.environment_id
                touched.add(ALL if environment_id is None else environment_id)
                if isinstance(row, Experiment):
                    moved_from = inspect(row).attrs.environment_id.history.deleted or ()
                    touched.update(ALL if old is None else old for old in moved_from)
        if not touched:
            del session.info[_TOUCHED]

    def _before_commit(self, session: Session) -> None:
        # The commit flushes after this hook; flush first so its changes are counted.
        session.flush()
        touched = session.info.get(_TOUCHED)
        if not touched:
            return
        keys = _environment_keys(session, touched)
        session.info[_TOUCHED] = keys
        if session.get_bind().dialect.name == "postgresql":
            for key in sorted(keys):
                session.execute(
                    text("SELECT pg_notify(:channel, :key)"), {"channel": CHANNEL, "key": key}
                )

    def _after_commit(self, session: Session) -> None:
        keys = session.info.pop(_TOUCHED, None)
        if keys:
            invalidate(self._cache, keys, self._api_keys)

    def _after_rollback(self, session: Session) -> None:
        session.info.pop(_TOUCHED, None)


def _environment_keys(session: Session, touched: set[uuid.UUID | str]) -> set[str]:
    extra = {KEYS} if KEYS in touched else set()
    if ALL in touched:
        return {ALL} | extra
    ids = [value for value in touched if isinstance(value, uuid.UUID)]
    if not ids:
        return extra
    keys = set(session.scalars(select(Environment.key).where(Environment.id.in_(ids))))
    # An id with no row left: its environment was deleted in this transaction.
    return (keys if len(keys) == len(ids) else {ALL}) | extra


def invalidate(
    cache: SnapshotCache, payloads: Iterable[str], api_keys: ApiKeyCache | None = None
) -> None:
    """Act on notification payloads: environment keys, ``*`` (all) or ``!keys``."""
    payloads = set(payloads)
    if api_keys is not None and (KEYS in payloads or ALL in payloads):
        api_keys.clear()
    payloads.discard(KEYS)
    if ALL in payloads:
        cache.invalidate(None)
        return
    for key in payloads:
        cache.invalidate(key)


class ChangeListener:
    """LISTEN loop of one server process (PostgreSQL only): a daemon thread with its own
    autocommit connection, stopped by :meth:`stop` within about ``poll`` seconds."""

    def __init__(
        self,
        engine: Engine,
        cache: SnapshotCache,
        *,
        api_keys: ApiKeyCache | None = None,
        poll: float = 0.5,
    ) -> None:
        self._conninfo = engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        self._cache = cache
        self._api_keys = api_keys
        self._poll = poll
        self._stopping = threading.Event()
        self._listening = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="verdict-config-listener", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def wait_listening(self, timeout: float) -> bool:
        """True once the connection LISTENs (a change committed after that is heard)."""
        return self._listening.wait(timeout)

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self._poll * 4 + 1)

    def _run(self) -> None:
        first = True
        while not self._stopping.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    if not first:
                        # Changes committed while we were away were never heard.
                        invalidate(self._cache, [ALL], self._api_keys)
                    first = False
                    self._listening.set()
                    while not self._stopping.is_set():
                        for notify in conn.notifies(timeout=self._poll):
                            invalidate(self._cache, [notify.payload], self._api_keys)
            except psycopg.Error as exc:
                self._listening.clear()
                logger.warning("config change listener lost its connection: %s", exc)
                first = False
                self._stopping.wait(_RECONNECT_DELAY)


class ChangeDelivery:
    """What one server process runs for configuration delivery, from its lifespan: the
    session hooks, the stream hub (``app.state.streams``), the PostgreSQL listener, and
    a hook on SIGINT/SIGTERM that ends open streams so a graceful shutdown is not held
    up by connections that would never close by themselves."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._cache: SnapshotCache = app.state.snapshots
        self._api_keys = key_cache(app)
        self._tracker = ChangeTracker(app.state.session_factory, self._cache, self._api_keys)
        self._listener: ChangeListener | None = None
        self._hub: StreamHub | None = None
        self._signals: list[tuple[int, Any]] = []

    @property
    def listener(self) -> ChangeListener | None:
        return self._listener

    def start(self) -> None:
        self._tracker.install()
        hub = StreamHub(asyncio.get_running_loop())
        self._hub = hub
        self._app.state.streams = hub
        self._cache.add_listener(hub.notify)
        # Streams re-check their key whenever keys change (a revocation, anywhere).
        self._api_keys.add_listener(hub.keys_changed)
        engine: Engine = self._app.state.engine
        if engine.dialect.name == "postgresql":
            self._listener = ChangeListener(engine, self._cache, api_keys=self._api_keys)
            self._listener.start()
        self._chain_signals(hub)

    def stop(self) -> None:
        for signum, previous in self._signals:
            signal.signal(signum, previous)
        self._signals.clear()
        if self._hub is not None:
            self._hub.close()
            self._cache.remove_listener(self._hub.notify)
            self._api_keys.remove_listener(self._hub.keys_changed)
        if self._listener is not None:
            self._listener.stop()
        self._tracker.remove()

    def _chain_signals(self, hub: StreamHub) -> None:
        # Only the main thread may set handlers; servers that run the app elsewhere (the
        # test client) end streams at lifespan shutdown instead.
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(signum)
            if not callable(previous):
                continue  # no server handler to chain: leave the default alone

            def handler(number: int, frame: FrameType | None, previous: Any = previous) -> None:
                hub.close()
                previous(number, frame)

            signal.signal(signum, handler)
            self._signals.append((signum, previous))
