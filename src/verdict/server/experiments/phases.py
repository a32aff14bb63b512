"""Allocation phases: periods in which coverage and weights stay constant.

Starting an experiment opens phase 1. Changing the weights or the coverage of a running
or paused experiment ends the open phase and opens the next one, so analysis can tell
which allocation a unit was enrolled under. Completing ends the open phase. Pausing and
resuming do not: the allocation does not change.
"""

from __future__ import annotations

import datetime as dt
import uuid

from verdict.server.experiments.models import Experiment, ExperimentPhase

__all__ = ["allocation", "allocation_changed", "close_phase", "open_phase", "open_phase_of"]

# Weights are compared with a tolerance far below what bucketing can resolve (1e-4).
_SAME = 1e-12


def allocation(experiment: Experiment) -> tuple[float, dict[str, float]]:
    """Coverage and ``{variant key: weight}`` as the experiment stands now."""
    return experiment.coverage, {v.key: v.weight for v in experiment.variants}


def allocation_changed(
    before: tuple[float, dict[str, float]], after: tuple[float, dict[str, float]]
) -> list[str]:
    """What changed between two allocations: ``coverage``, ``weights``, both or neither."""
    changed = []
    if abs(before[0] - after[0]) > _SAME:
        changed.append("coverage")
    old, new = before[1], after[1]
    if old.keys() != new.keys() or any(abs(old[k] - new[k]) > _SAME for k in old):
        changed.append("weights")
    return changed


def open_phase_of(experiment: Experiment) -> ExperimentPhase | None:
    for phase in reversed(experiment.phases):
        if phase.ended_at is None:
            return phase
    return None


def close_phase(experiment: Experiment, *, now: dt.datetime) -> None:
    phase = open_phase_of(experiment)
    if phase is not None:
        phase.ended_at = now


def open_phase(
    experiment: Experiment, *, now: dt.datetime, reason: str, actor_user_id: uuid.UUID | None
) -> ExperimentPhase:
    close_phase(experiment, now=now)
    coverage, weights = allocation(experiment)
    number = max((p.number for p in experiment.phases), default=0) + 1
    phase = ExperimentPhase(
        number=number,
        started_at=now,
        coverage=coverage,
        weights=weights,
        reason=reason,
        created_by_id=actor_user_id,
    )
    experiment.phases.append(phase)
    return phase
