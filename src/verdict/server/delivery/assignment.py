"""Experiment assignment for SDK keys: which variant a unit sees, kept sticky.

The engine decides from the environment's compiled snapshot; the database only keeps
what must outlive the configuration: each unit's first variant per experiment. A
request decides every experiment it asks about, hands the storable decisions to the
process's :class:`~verdict.server.delivery.assignment_writer.AssignmentWriter` and
awaits the outcome: for each experiment, either the row stored earlier (which wins over
bucketing, so a unit keeps its variant after the weights or coverage change; the
experiment is decided again with that row as the engine's sticky assignment) or the
news that its own decision is now stored.

What the snapshot does not carry (experiment and variant ids, experiment types) is read
once per compiled snapshot into a catalogue, not per request; variant payloads and URLs
come from the snapshot's document, as SDKs see them.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from verdict.engine import EvaluationContext, ExperimentReason, ExperimentResult
from verdict.server.assignments.models import AssignmentReason
from verdict.server.delivery.assignment_writer import AssignmentWriter
from verdict.server.delivery.schemas import AssignRequest
from verdict.server.delivery.snapshots import EnvironmentSnapshot
from verdict.server.delivery.sticky import (
    NewAssignment,
    PendingAssignments,
    StoredAssignment,
    StoredAssignments,
)
from verdict.server.experiments.models import Experiment, ExperimentType, Variant
from verdict.server.singleflight import SingleFlight

__all__ = ["AssignOutcome", "assign", "warm_catalogues"]


@dataclass(frozen=True, slots=True)
class _Variant:
    id: uuid.UUID
    payload: dict[str, Any] | None
    url: str | None


@dataclass(frozen=True, slots=True)
class _Experiment:
    id: uuid.UUID
    type: ExperimentType
    variants: dict[str, _Variant]


_catalogues: dict[str, tuple[EnvironmentSnapshot, dict[str, _Experiment]]] = {}
_catalogues_lock = threading.Lock()
# Requests that find no catalogue for a new snapshot together wait for one read.
_catalogue_loads = SingleFlight()


def _held_catalogue(environment: EnvironmentSnapshot) -> dict[str, _Experiment] | None:
    held = _catalogues.get(environment.environment_key)
    if held is not None and held[0] is environment:
        return held[1]
    return None


def _load_catalogue(
    factory: Callable[[], Session], environment: EnvironmentSnapshot
) -> dict[str, _Experiment]:
    with factory() as session:
        return _catalogue(session, environment)


def warm_catalogues(
    factory: Callable[[], Session], environments: list[EnvironmentSnapshot]
) -> None:
    """Read the catalogues of freshly built snapshots ahead of the first assignment."""
    for environment in environments:
        _load_catalogue(factory, environment)


def _catalogue(session: Session, environment: EnvironmentSnapshot) -> dict[str, _Experiment]:
    """Ids, types and variant payloads of the snapshot's experiments, read once per
    snapshot (a rebuilt snapshot, e.g. after an edit, is a new object)."""
    held = _held_catalogue(environment)
    if held is not None:
        return held
    keys = list(environment.snapshot.experiments)
    catalogue: dict[str, _Experiment] = {}
    if keys:
        delivered = {
            key: {variant["key"]: variant for variant in spec["variants"]}
            for key, spec in environment.document["experiments"].items()
            if key in environment.snapshot.experiments
        }
        rows = session.execute(
            select(Experiment.key, Experiment.id, Experiment.type, Variant.key, Variant.id)
            .join(Variant, Variant.experiment_id == Experiment.id)
            .where(Experiment.key.in_(keys))
        )
        for key, experiment_id, kind, variant_key, variant_id in rows:
            entry = catalogue.setdefault(key, _Experiment(experiment_id, kind, {}))
            spec = delivered.get(key, {}).get(variant_key)
            if spec is not None:  # a variant added since the snapshot was built waits for it
                entry.variants[variant_key] = _Variant(
                    variant_id, spec.get("payload"), spec.get("url")
                )
    with _catalogues_lock:
        _catalogues[environment.environment_key] = (environment, catalogue)
    return catalogue


def _stored_reason(decision: ExperimentResult, experiment: _Experiment) -> AssignmentReason:
    if decision.reason is ExperimentReason.FORCED:
        return AssignmentReason.FORCED
    if experiment.type is ExperimentType.BANDIT:
        return AssignmentReason.BANDIT
    return AssignmentReason.BUCKETED


def _answer(
    key: str,
    decision: ExperimentResult,
    experiment: _Experiment | None,
    stored: StoredAssignment | None,
) -> dict[str, Any]:
    variant = None
    if decision.variant is not None and experiment is not None:
        variant = experiment.variants.get(decision.variant)
    bucket = decision.bucket
    if decision.reason is ExperimentReason.STICKY and stored is not None:
        bucket = stored.bucket
    return {
        "experiment": key,
        "variant": decision.variant,
        "in_experiment": decision.in_experiment,
        "reason": decision.reason.value,
        "payload": None if variant is None else variant.payload,
        "url": None if variant is None else variant.url,
        "bucket": bucket,
    }


@dataclass(frozen=True, slots=True)
class AssignOutcome:
    document: dict[str, Any]  # the AssignResponse
    decisions: int  # experiments decided
    stored: int  # assignments this request stored


def _storable(
    key: str, decision: ExperimentResult, experiment: _Experiment | None
) -> NewAssignment | None:
    if (
        experiment is None
        or decision.variant is None
        or decision.reason not in (ExperimentReason.BUCKETED, ExperimentReason.FORCED)
        or decision.variant not in experiment.variants
    ):
        return None
    return NewAssignment(
        experiment.id,
        experiment.variants[decision.variant].id,
        decision.variant,
        decision.bucket,
        _stored_reason(decision, experiment),
    )


async def assign(
    *,
    environment: EnvironmentSnapshot,
    request: AssignRequest,
    writer: AssignmentWriter,
    session_factory: Callable[[], Session],
) -> AssignOutcome:
    """Decide, store first decisions (through the writer) and build the answer."""
    snapshot = environment.snapshot
    asked = request.experiments is not None
    keys = list(dict.fromkeys(request.experiments or ())) if asked else list(snapshot.experiments)
    catalogue = _held_catalogue(environment)
    if catalogue is None:
        catalogue = await _catalogue_loads.run(
            id(environment), _load_catalogue, session_factory, environment
        )
    context = EvaluationContext(request.unit_id, request.attributes)
    decisions = {key: snapshot.decide(key, context) for key in keys}
    ids = {catalogue[key].id: key for key in keys if key in catalogue}
    stored: dict[str, StoredAssignment] = {}
    inserted = 0
    if ids:
        proposals = [
            row
            for key, decision in decisions.items()
            if (row := _storable(key, decision, catalogue.get(key))) is not None
        ]
        outcome = await writer.store(
            PendingAssignments(
                unit_id=request.unit_id,
                experiments=ids,
                proposals=proposals,
                device_id=request.device_id,
                session_id=request.session_id,
                context=request.attributes,
            )
        )
        stored, inserted = outcome.stored, outcome.inserted
        if stored:
            # A stored row wins over this request's bucketing (forced variants are
            # still honoured): decide those experiments again with it as sticky.
            sticky = StoredAssignments(request.unit_id, stored)
            for key in stored:
                decisions[key] = snapshot.decide(key, context, sticky=sticky)

    assignments = [
        _answer(key, decision, catalogue.get(key), stored.get(key))
        for key, decision in decisions.items()
        if asked or decision.in_experiment
    ]
    return AssignOutcome(
        {"unit_id": request.unit_id, "assignments": assignments}, len(decisions), inserted
    )
