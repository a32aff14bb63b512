"""Sticky assignments for SDK-only deployments: where a unit's first variant is kept.

The engine consults a sticky lookup after targeting and before layers, coverage and
weights (:mod:`verdict.engine.experiments`, step 5), so a unit that has a stored
variant keeps it when the weights change; a stored variant the experiment no longer
has is ignored and the unit is bucketed again. The server keeps these rows in its
assignments table for ``/assign``; an SDK deciding in process keeps them in a
:class:`StickyStore`:

- :class:`MemoryStickyStore`: one process, bounded (least recently used units are
  forgotten first), thread-safe;
- :class:`RedisStickyStore`: shared by every process of a deployment, one Redis hash
  per unit (``<prefix><unit id>``, field = experiment key, value = variant key), read
  with one ``HMGET`` for every experiment a read may reach, written with ``HSET`` (and
  ``EXPIRE`` when a TTL is set) in one pipeline.

What is saved (the client decides, see :func:`should_save`): a ``bucketed`` decision,
which replaces a stored variant the experiment no longer has, and a ``forced`` one
when nothing is stored yet (as ``/assign`` stores a forced first decision). Stores
raise freely; the client catches every failure, logs it once and buckets normally.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from verdict.engine import ExperimentReason

if TYPE_CHECKING:
    import redis

__all__ = [
    "MemoryStickyStore",
    "RedisStickyStore",
    "StickyLookup",
    "StickyPlan",
    "StickyStore",
    "should_save",
    "sticky_plan",
]

_MAX_KEY = 255  # unit ids are at most 255 characters (the server's bound)
_MAX_PREFIX = 200
_MAX_TTL = 10 * 366 * 86_400


class StickyStore(Protocol):
    """Where the variants units were given are kept, by unit and experiment key."""

    def get_assignments(self, unit_id: str, experiment_keys: Collection[str]) -> dict[str, str]:
        """The stored variant of ``unit_id`` for each of ``experiment_keys`` that has one."""
        ...

    def save_assignment(self, unit_id: str, experiment_key: str, variant: str) -> None:
        """Store (or replace) the variant of ``unit_id`` in ``experiment_key``."""
        ...


def _check_key(name: str, value: Any) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= _MAX_KEY:
        raise ValueError(f"{name}: must be a non-empty string of at most {_MAX_KEY} characters")
    return value


class MemoryStickyStore:
    """Sticky assignments in this process's memory (see module doc).

    At most ``max_units`` units are kept; past that the least recently used unit is
    forgotten (and would be bucketed again, by the same hash, into the variant the
    current weights give it).
    """

    def __init__(self, max_units: int = 100_000) -> None:
        if isinstance(max_units, bool) or not isinstance(max_units, int):
            raise ValueError(f"max_units: must be an integer, got {max_units!r}")
        if not 1 <= max_units <= 100_000_000:
            raise ValueError(f"max_units: must be between 1 and 100000000, got {max_units}")
        self._max_units = max_units
        self._units: OrderedDict[str, dict[str, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get_assignments(self, unit_id: str, experiment_keys: Collection[str]) -> dict[str, str]:
        with self._lock:
            stored = self._units.get(unit_id)
            if stored is None:
                return {}
            self._units.move_to_end(unit_id)
            return {key: stored[key] for key in experiment_keys if key in stored}

    def save_assignment(self, unit_id: str, experiment_key: str, variant: str) -> None:
        _check_key("unit_id", unit_id)
        with self._lock:
            stored = self._units.get(unit_id)
            if stored is None:
                stored = self._units[unit_id] = {}
                if len(self._units) > self._max_units:
                    self._units.popitem(last=False)
            else:
                self._units.move_to_end(unit_id)
            stored[experiment_key] = variant

    def __len__(self) -> int:
        """How many units have stored assignments."""
        with self._lock:
            return len(self._units)


class RedisStickyStore:
    """Sticky assignments in Redis, shared by every process (see module doc).

    Pass a ``redis.Redis`` client (``decode_responses`` either way), or ``url`` to let
    the store make one with ``socket_timeout`` (seconds; a read waits at most this
    long on a Redis that does not answer). ``prefix`` starts every key; ``ttl``
    (seconds) makes a unit's hash expire that long after its last saved decision.
    Needs the ``redis`` package (``pip install 'verdict[redis]'``).
    """

    def __init__(
        self,
        client: redis.Redis | None = None,
        *,
        url: str | None = None,
        prefix: str = "verdict:sticky:",
        ttl: int | None = None,
        socket_timeout: float = 0.5,
    ) -> None:
        if not isinstance(prefix, str) or len(prefix) > _MAX_PREFIX:
            raise ValueError(f"prefix: must be a string of at most {_MAX_PREFIX} characters")
        if ttl is not None and (
            isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= _MAX_TTL
        ):
            raise ValueError(f"ttl: must be None or whole seconds between 1 and {_MAX_TTL}")
        if isinstance(socket_timeout, bool) or not isinstance(socket_timeout, int | float):
            raise ValueError("socket_timeout: must be a number of seconds")
        if not 0.001 <= socket_timeout <= 60:
            raise ValueError("socket_timeout: must be between 0.001 and 60 seconds")
        if (client is None) == (url is None):
            raise ValueError("client: pass either a redis.Redis client or url, not both")
        if client is None:
            assert url is not None
            if not url.startswith(("redis://", "rediss://", "unix://")):
                raise ValueError("url: must be a redis://, rediss:// or unix:// URL")
            try:
                import redis as redis_module
            except ImportError as exc:  # the optional extra is not installed
                raise ValueError(
                    "client: the redis package is needed (pip install 'verdict[redis]')"
                ) from exc
            client = redis_module.Redis.from_url(
                url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout
            )
        self._redis = client
        self._prefix = prefix
        self._ttl = ttl

    def key(self, unit_id: str) -> str:
        """The Redis key of the hash holding ``unit_id``'s assignments."""
        return self._prefix + unit_id

    def get_assignments(self, unit_id: str, experiment_keys: Collection[str]) -> dict[str, str]:
        keys = list(experiment_keys)
        if not keys:
            return {}
        values: list[Any] = self._redis.hmget(self.key(unit_id), keys)
        found: dict[str, str] = {}
        for key, value in zip(keys, values, strict=True):
            if isinstance(value, bytes):
                found[key] = value.decode("utf-8")
            elif isinstance(value, str):
                found[key] = value
        return found

    def save_assignment(self, unit_id: str, experiment_key: str, variant: str) -> None:
        _check_key("unit_id", unit_id)
        name = self.key(unit_id)
        pipeline = self._redis.pipeline(transaction=False)
        pipeline.hset(name, experiment_key, variant)
        if self._ttl is not None:
            pipeline.expire(name, self._ttl)
        pipeline.execute()

    def close(self) -> None:
        """Close the client's connections."""
        self._redis.close()


# ------------------------------------------------------------ the client's side
@dataclass(frozen=True, slots=True)
class StickyPlan:
    """Which experiments a read may need from the store, for one configuration."""

    experiments: frozenset[str]  # the sticky experiments (``"sticky"`` not false)
    flags: Mapping[str, frozenset[str]]  # per flag: those its evaluation may decide


def sticky_plan(document: Mapping[str, Any]) -> StickyPlan:
    """The :class:`StickyPlan` of a configuration document: for each flag, the sticky
    experiments of its experiment rules and, transitively, of its prerequisites' rules.
    Read leniently: the engine reports malformed parts; they reach no experiment here."""
    raw_experiments = document.get("experiments")
    experiments = raw_experiments if isinstance(raw_experiments, Mapping) else {}
    sticky = frozenset(
        key
        for key, spec in experiments.items()
        if isinstance(spec, Mapping) and spec.get("sticky", True) is not False
    )
    raw_flags = document.get("flags")
    flags = raw_flags if isinstance(raw_flags, Mapping) else {}
    direct: dict[str, set[str]] = {}
    parents: dict[str, list[str]] = {}
    for key, spec in flags.items():
        if not isinstance(spec, Mapping):
            continue
        rules = spec.get("rules")
        direct[key] = {
            rule["experiment"]
            for rule in (rules if isinstance(rules, list) else [])
            if isinstance(rule, Mapping) and rule.get("experiment") in sticky
        }
        prerequisites = spec.get("prerequisites")
        parents[key] = [
            item["flag"]
            for item in (prerequisites if isinstance(prerequisites, list) else [])
            if isinstance(item, Mapping) and isinstance(item.get("flag"), str)
        ]
    reach: dict[str, frozenset[str]] = {}
    for start in direct:
        found: set[str] = set()
        seen = {start}
        pending = [start]
        while pending:  # an explicit walk: cycles and long chains are harmless
            key = pending.pop()
            found |= direct.get(key, set())
            for parent in parents.get(key, []):
                if parent not in seen:
                    seen.add(parent)
                    pending.append(parent)
        reach[start] = frozenset(found)
    return StickyPlan(sticky, reach)


def should_save(reason: ExperimentReason, stored: str | None) -> bool:
    """Whether a decision is saved: bucketing always (it replaces a stored variant the
    experiment no longer has), a forced variant only as a unit's first assignment."""
    if reason is ExperimentReason.BUCKETED:
        return True
    return reason is ExperimentReason.FORCED and stored is None


class StickyLookup:
    """One read's view of a store, as the engine's ``StickyAssignments``: the unit's
    stored variants for ``experiment_keys`` are fetched once, on the engine's first
    question (a read that never reaches an experiment costs the store nothing). A
    failing store answers "nothing stored" and reports the error to ``on_error``."""

    __slots__ = ("_experiment_keys", "_found", "_on_error", "_store", "unit_id")

    def __init__(
        self,
        store: StickyStore,
        unit_id: str,
        experiment_keys: Collection[str],
        on_error: Callable[[Exception], None],
    ) -> None:
        self._store = store
        self.unit_id = unit_id
        self._experiment_keys = experiment_keys
        self._on_error = on_error
        self._found: dict[str, str] | None = None

    @property
    def found(self) -> dict[str, str]:
        """The stored variants (fetched now if not yet)."""
        if self._found is None:
            try:
                self._found = dict(self._store.get_assignments(self.unit_id, self._experiment_keys))
            except Exception as exc:
                self._found = {}
                self._on_error(exc)
        return self._found

    def get_variant(self, experiment_key: str, unit_id: str) -> str | None:
        if unit_id != self.unit_id or experiment_key not in self._experiment_keys:
            return None
        return self.found.get(experiment_key)
