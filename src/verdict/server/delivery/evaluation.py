"""Flag evaluation for SDK keys: which compiled snapshot answers, and how results look.

Every answer comes from the environment's cached, compiled ``Snapshot``: nothing is
compiled and nothing is read from the database per request. :func:`sdk_snapshot` takes
the held snapshot without any I/O; only when there is none (first request, or after a
change invalidated it) is it built, on the thread pool, never on the event loop.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import Request

from verdict.engine import EvaluationContext, FlagResult, Reason, Snapshot
from verdict.server.delivery.snapshots import EnvironmentSnapshot, SnapshotCache
from verdict.server.identity.auth import Principal
from verdict.server.singleflight import SingleFlight

__all__ = ["evaluate_flags", "flag_results", "sdk_snapshot"]

# Requests that find no snapshot together wait for one build, not one thread each.
_builds = SingleFlight()


async def sdk_snapshot(request: Request, principal: Principal) -> EnvironmentSnapshot:
    """The compiled configuration of the environment the calling SDK key acts for."""
    assert principal.environment_id is not None  # sdk_principal admits only such keys
    cache: SnapshotCache = request.app.state.snapshots
    held = cache.peek_by_id(principal.environment_id)
    if held is not None:
        return held
    return await _builds.run(
        (id(cache), principal.environment_id), cache.get_by_id, principal.environment_id
    )


def flag_results(
    snapshot: Snapshot, context: EvaluationContext, flags: Iterable[str] | None
) -> dict[str, FlagResult]:
    """Results by flag key: the named flags (unknown ones as FLAG_NOT_FOUND), or all."""
    if flags is None:
        return snapshot.evaluate_all(context)
    return {key: snapshot.evaluate(key, context) for key in dict.fromkeys(flags)}


# Enum members' ``.value`` is a descriptor call; a bulk answer reads one per flag.
_REASONS = {reason: reason.value for reason in Reason}


def _as_json(result: FlagResult) -> dict[str, Any]:
    return {
        "value": result.value,
        "variant": result.variant,
        "reason": _REASONS[result.reason],
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
