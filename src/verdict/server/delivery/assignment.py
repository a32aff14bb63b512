"""Experiment assignment for SDK keys: which variant a unit sees, kept sticky.

The engine decides from the environment's compiled snapshot; the database only keeps
what must outlive the configuration: each unit's first variant per experiment. Per
request that is one read (the unit's stored assignments for the experiments asked
about) and, for first decisions only, one idempotent insert. A stored variant wins
over bucketing, so a unit keeps its variant after the weights or coverage change.

What the snapshot does not carry (experiment and variant ids, variant payloads and
URLs) is read once per compiled snapshot into a catalogue, not per request.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from verdict.engine import EvaluationContext, ExperimentReason, ExperimentResult
from verdict.server.assignments.models import AssignmentReason
from verdict.server.db import utcnow
from verdict.server.delivery.schemas import AssignRequest
from verdict.server.delivery.snapshots import EnvironmentSnapshot
from verdict.server.delivery.sticky import (
    NewAssignment,
    StoredAssignment,
    StoredAssignments,
    record_assignments,
)
from verdict.server.experiments.models import Experiment, ExperimentType, Variant

__all__ = ["assign"]


@dataclass(frozen=True, slots=True)
class _Variant:
    id: uuid.UUID
    payload: dict[str, Any]
    url: str | None


@dataclass(frozen=True, slots=True)
class _Experiment:
    id: uuid.UUID
    type: ExperimentType
    variants: dict[str, _Variant]


_catalogues: dict[str, tuple[EnvironmentSnapshot, dict[str, _Experiment]]] = {}
_catalogues_lock = threading.Lock()


def _catalogue(session: Session, environment: EnvironmentSnapshot) -> dict[str, _Experiment]:
    """Ids, types and variant payloads of the snapshot's experiments, read once per
    snapshot (a rebuilt snapshot, e.g. after an edit, is a new object)."""
    held = _catalogues.get(environment.environment_key)
    if held is not None and held[0] is environment:
        return held[1]
    keys = list(environment.snapshot.experiments)
    catalogue: dict[str, _Experiment] = {}
    if keys:
        rows = session.execute(
            select(
                Experiment.key,
                Experiment.id,
                Experiment.type,
                Variant.key,
                Variant.id,
                Variant.configuration,
                Variant.response_template,
                Variant.system_prompt,
                Variant.config_overrides,
                Variant.url,
            )
            .join(Variant, Variant.experiment_id == Experiment.id)
            .where(Experiment.key.in_(keys))
        )
        for key, experiment_id, kind, variant_key, variant_id, *payload, url in rows:
            entry = catalogue.setdefault(key, _Experiment(experiment_id, kind, {}))
            configuration, template, prompt, overrides = payload
            entry.variants[variant_key] = _Variant(
                variant_id,
                {
                    "configuration": configuration,
                    "response_template": template,
                    "system_prompt": prompt,
                    "config_overrides": overrides,
                },
                url,
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


def assign(
    session: Session, *, environment: EnvironmentSnapshot, request: AssignRequest
) -> dict[str, Any]:
    """The ``AssignResponse`` document; first decisions are stored and committed."""
    snapshot = environment.snapshot
    asked = request.experiments is not None
    keys = list(dict.fromkeys(request.experiments or ())) if asked else list(snapshot.experiments)
    catalogue = _catalogue(session, environment)
    ids = {catalogue[key].id: key for key in keys if key in catalogue}
    stored = StoredAssignments.load(session, unit_id=request.unit_id, experiments=ids)
    context = EvaluationContext(request.unit_id, request.attributes)
    decisions = {key: snapshot.decide(key, context, sticky=stored) for key in keys}

    new: list[NewAssignment] = []
    for key, decision in decisions.items():
        experiment = catalogue.get(key)
        if (
            experiment is None
            or decision.variant is None
            or decision.reason not in (ExperimentReason.BUCKETED, ExperimentReason.FORCED)
            or decision.variant not in experiment.variants
            or key in stored.stored  # forced over a stored row: report, do not store again
        ):
            continue
        new.append(
            NewAssignment(
                experiment.id,
                experiment.variants[decision.variant].id,
                decision.bucket,
                _stored_reason(decision, experiment),
            )
        )
    existing = record_assignments(
        session,
        unit_id=request.unit_id,
        rows=new,
        experiments=ids,
        device_id=request.device_id,
        session_id=request.session_id,
        context=request.attributes,
        now=utcnow(),
    )
    for key, row in existing.items():
        stored.stored[key] = row
        decision = decisions[key]
        # A concurrent first call stored its variant before us: report that one. A
        # forced variant is honoured whatever is stored.
        if decision.reason is ExperimentReason.BUCKETED:
            decisions[key] = ExperimentResult(key, True, row.variant, None, ExperimentReason.STICKY)

    assignments = [
        _answer(key, decision, catalogue.get(key), stored.stored.get(key))
        for key, decision in decisions.items()
        if asked or decision.in_experiment
    ]
    return {"unit_id": request.unit_id, "assignments": assignments}
