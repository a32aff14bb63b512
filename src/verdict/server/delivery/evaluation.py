"""Flag evaluation for SDK keys: which compiled snapshot answers, and how results look.

Every answer comes from the environment's cached, compiled ``Snapshot``: nothing is
compiled and nothing is read from the database per request, except (once per process
and environment) the environment's key, which names its snapshot in the cache.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from verdict.engine import EvaluationContext, FlagResult, Snapshot
from verdict.server.delivery.snapshots import EnvironmentSnapshot, SnapshotCache
from verdict.server.environments.models import Environment
from verdict.server.errors import NotFoundError

__all__ = ["environment_snapshot", "evaluate_flags", "flag_results"]

# Environment keys are permanent, so an id resolves to the same key for the life of the
# process; ids are random UUIDs, so one map can serve every app in the process.
_keys: dict[uuid.UUID, str] = {}
_keys_lock = threading.Lock()


def environment_snapshot(
    session: Session, *, snapshots: SnapshotCache, environment_id: uuid.UUID
) -> EnvironmentSnapshot:
    """The compiled configuration of the environment an SDK key acts for."""
    key = _keys.get(environment_id)
    if key is None:
        key = session.scalar(select(Environment.key).where(Environment.id == environment_id))
        if key is None:
            raise NotFoundError("the API key's environment no longer exists")
        with _keys_lock:
            _keys[environment_id] = key
    return snapshots.get(key)


def flag_results(
    snapshot: Snapshot, context: EvaluationContext, flags: Iterable[str] | None
) -> dict[str, FlagResult]:
    """Results by flag key: the named flags (unknown ones as FLAG_NOT_FOUND), or all."""
    if flags is None:
        return snapshot.evaluate_all(context)
    return {key: snapshot.evaluate(key, context) for key in dict.fromkeys(flags)}


def _as_json(result: FlagResult) -> dict[str, Any]:
    return {
        "value": result.value,
        "variant": result.variant,
        "reason": result.reason.value,
        "error_code": None if result.error_code is None else result.error_code.value,
        "error_message": result.error_message,
        "rule": result.rule,
        "experiment": result.experiment,
    }


def evaluate_flags(
    *,
    environment: EnvironmentSnapshot,
    targeting_key: str | None,
    attributes: dict[str, Any],
    flags: list[str] | None,
) -> dict[str, Any]:
    """The ``EvaluateResponse`` document, built as plain data: this is the hottest path
    and validating the response model again would cost more than evaluating."""
    results = flag_results(
        environment.snapshot, EvaluationContext(targeting_key, attributes), flags
    )
    return {
        "environment": environment.environment_key,
        "flags": {key: _as_json(result) for key, result in results.items()},
    }
