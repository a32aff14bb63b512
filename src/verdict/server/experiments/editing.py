"""Editing an experiment (PATCH): what may change in which status, and how.

- draft: everything.
- running, paused: descriptions, analysis settings (metrics, sample size, confidence),
  and the live allocation (variants, weights, coverage, targeting, segments, end).
  Variants cannot be removed, their keys and the control cannot change, and the result
  must still satisfy the start rules. A change of weights or coverage ends the open
  phase and opens the next.
- completed: descriptions and analysis settings only.
- archived: nothing.

Bucketing identity (key, type, environment, layer and range, hash attribute and seed,
planned start) is fixed once an experiment has started: changing it would move units
between variants. A field sent with its stored value is not a change.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from verdict.server.api.versioning import check_version
from verdict.server.audit.service import record
from verdict.server.db import utcnow
from verdict.server.db.conflicts import conflict_on_integrity_error
from verdict.server.errors import ConflictError
from verdict.server.experiments import references
from verdict.server.experiments.models import (
    Experiment,
    ExperimentMetric,
    ExperimentSegment,
    ExperimentStatus,
    MetricRole,
    SegmentMatch,
)
from verdict.server.experiments.phases import allocation, allocation_changed, open_phase
from verdict.server.experiments.rules import (
    FieldProblems,
    bucket_problems,
    forced_problems,
    raise_if_any,
    schedule_problems,
    start_rule_failures,
    targeting_problems,
    variant_problems,
)
from verdict.server.experiments.schemas import ExperimentUpdate
from verdict.server.experiments.service import (
    RESOURCE_TYPE,
    flush_edit,
    get_experiment,
    touch,
)
from verdict.server.experiments.variant_plans import (
    VariantPlan,
    apply_variants,
    live_variant_problems,
    plan_variants,
    variant_values,
)
from verdict.server.experiments.views import experiment_snapshot
from verdict.server.identity.auth import Principal

__all__ = ["FrozenFieldsError", "update_experiment"]

_BANDIT = ("bandit_update_minutes", "bandit_floor", "bandit_burn_in", "bandit_top_two")
_DESCRIPTIVE = frozenset({"name", "description", "hypothesis", "tags", "owner", "target"})
_ANALYSIS = frozenset(
    {
        "metrics",
        "minimum_sample_size",
        "confidence_level",
        "data_source",
        "analysis_method",
        "cuped_days",
        "breakdowns",
        *_BANDIT,
    }
)
_LIVE = frozenset(
    {
        "variants",
        "coverage",
        "targeting",
        "forced_variants",
        "include_segments",
        "exclude_segments",
        "end_at",
    }
)
_BUCKETING = frozenset(
    {
        "key",
        "type",
        "environment",
        "layer",
        "bucket_start",
        "bucket_end",
        "hash_attribute",
        "hash_seed",
        "start_at",
    }
)
_S = ExperimentStatus
_EDITABLE: dict[ExperimentStatus, frozenset[str]] = {
    _S.DRAFT: _DESCRIPTIVE | _ANALYSIS | _LIVE | _BUCKETING,
    _S.RUNNING: _DESCRIPTIVE | _ANALYSIS | _LIVE,
    _S.PAUSED: _DESCRIPTIVE | _ANALYSIS | _LIVE,
    _S.COMPLETED: _DESCRIPTIVE | _ANALYSIS,
    _S.ARCHIVED: frozenset(),
}
_NOT_NULL = frozenset(
    {
        "key",
        "name",
        "type",
        "targeting",
        "forced_variants",
        "include_segments",
        "exclude_segments",
        "coverage",
        "bucket_start",
        "bucket_end",
        "hash_attribute",
        "confidence_level",
        "tags",
        "variants",
        "metrics",
        "analysis_method",
        "breakdowns",
        "bandit_update_minutes",
        "bandit_floor",
        "bandit_burn_in",
    }
)
# Plain columns copied from the request as they are.
_COLUMNS = (
    "key",
    "name",
    "description",
    "hypothesis",
    "type",
    "target",
    "targeting",
    "forced_variants",
    "coverage",
    "layer",
    "bucket_start",
    "bucket_end",
    "hash_attribute",
    "hash_seed",
    "minimum_sample_size",
    "confidence_level",
    "analysis_method",
    "cuped_days",
    *_BANDIT,
    "tags",
    "start_at",
    "end_at",
)


class FrozenFieldsError(ConflictError):
    """Fields the experiment's status does not let change (409), each named."""

    def __init__(self, problems: FieldProblems) -> None:
        detail = "; ".join(f"{field}: {reason}" for field, reason in problems)
        super().__init__(detail, field=problems[0][0])
        self.errors = problems


def _current(experiment: Experiment, name: str) -> Any:
    if name == "environment":
        return experiment.environment.key if experiment.environment else None
    if name == "data_source":
        return experiment.data_source.key if experiment.data_source else None
    if name == "breakdowns":
        return list(experiment.breakdowns or [])
    if name == "owner":
        return experiment.owner.username if experiment.owner else None
    if name in ("include_segments", "exclude_segments"):
        match = SegmentMatch(name.removesuffix("_segments"))
        return sorted(link.segment.key for link in experiment.segment_links if link.match is match)
    if name == "metrics":
        return [
            (link.metric.key, link.role, link.non_inferiority_margin)
            for link in experiment.metric_links
        ]
    return getattr(experiment, name)


def _proposed(data: ExperimentUpdate, name: str) -> Any:
    value = getattr(data, name)
    if name in ("include_segments", "exclude_segments"):
        return sorted(set(value))
    if name == "metrics":
        return [(m.metric, m.role, m.non_inferiority_margin) for m in value]
    return value


def _frozen_field_conflicts(
    experiment: Experiment, data: ExperimentUpdate, plans: list[VariantPlan] | None
) -> FieldProblems:
    editable = _EDITABLE[experiment.status]
    status = experiment.status.value
    problems: FieldProblems = []
    for name in sorted(data.model_fields_set - editable - {"phase_reason"}):
        if name == "variants":
            assert plans is not None
            same = len(plans) == len(experiment.variants) and all(
                plan.stored is stored and plan.values == variant_values(stored)
                for plan, stored in zip(plans, experiment.variants, strict=True)
            )
        else:
            same = _proposed(data, name) == _current(experiment, name)
        if not same:
            problems.append((f"body.{name}", f"cannot be changed while the experiment is {status}"))
    return problems


def _effective_forced(experiment: Experiment, data: ExperimentUpdate) -> dict[str, str]:
    if data.forced_variants is not None:
        return data.forced_variants
    return dict(experiment.forced_variants)


def _reconcile_segments(experiment: Experiment, wanted: list[ExperimentSegment]) -> None:
    by_segment = {link.segment_id: link for link in experiment.segment_links}
    result = []
    for link in wanted:
        existing = by_segment.get(link.segment.id)
        if existing is not None:
            existing.match = link.match
            result.append(existing)
        else:
            result.append(link)
    experiment.segment_links = result


def update_experiment(
    session: Session,
    *,
    actor: Principal,
    key: str,
    data: ExperimentUpdate,
    if_match: str | None,
) -> Experiment:
    experiment = get_experiment(session, key=key)
    check_version(if_match, experiment.version)
    status = experiment.status
    sent = data.model_fields_set
    if status is ExperimentStatus.ARCHIVED and sent - {"phase_reason"}:
        raise ConflictError(
            f"experiment {key!r} is archived and can no longer be edited", field="status"
        )
    problems: FieldProblems = [
        (f"body.{name}", "cannot be null")
        for name in sorted(sent & _NOT_NULL)
        if getattr(data, name) is None
    ]
    raise_if_any(problems, "the edit is invalid")

    plans = (
        plan_variants(experiment.variants, data.variants, problems)
        if data.variants is not None
        else None
    )
    conflicts = _frozen_field_conflicts(experiment, data, plans)
    if plans is not None and status in (ExperimentStatus.RUNNING, ExperimentStatus.PAUSED):
        conflicts.extend(live_variant_problems(experiment.variants, plans, status))
    if conflicts:
        raise FrozenFieldsError(conflicts)
    if "key" in sent and data.key != experiment.key:
        taken = session.scalars(select(Experiment.id).where(Experiment.key == data.key)).first()
        if taken is not None:
            raise ConflictError(f"an experiment with key {data.key!r} exists", field="body.key")

    # Resolve and validate everything before changing anything.
    environment = (
        references.resolve_environment(session, data.environment, problems, "body.environment")
        if "environment" in sent
        else experiment.environment
    )
    owner = (
        references.resolve_owner(session, data.owner, problems, "body.owner")
        if "owner" in sent
        else experiment.owner
    )
    data_source = (
        references.resolve_data_source(session, data.data_source, problems, "body.data_source")
        if "data_source" in sent
        else experiment.data_source
    )
    segment_links = None
    if {"include_segments", "exclude_segments"} & sent:
        include = data.include_segments if "include_segments" in sent else None
        exclude = data.exclude_segments if "exclude_segments" in sent else None
        segment_links = references.resolve_segments(
            session,
            include if include is not None else _current(experiment, "include_segments"),
            exclude if exclude is not None else _current(experiment, "exclude_segments"),
            problems,
        )
    metric_links = None
    if data.metrics is not None:
        linked = frozenset(link.metric.key for link in experiment.metric_links)
        metric_links = references.resolve_metric_links(
            session, data.metrics, problems, already_linked=linked
        )
    if plans is not None:
        problems.extend(variant_problems(plans, "body.variants"))
    if plans is not None or data.forced_variants is not None:
        variant_keys = (
            [p.key for p in plans] if plans is not None else [v.key for v in experiment.variants]
        )
        problems.extend(forced_problems(_effective_forced(experiment, data), variant_keys))

    def effective(name: str) -> Any:
        return getattr(data, name) if name in sent else getattr(experiment, name)

    problems.extend(bucket_problems(effective("bucket_start"), effective("bucket_end")))
    problems.extend(schedule_problems(effective("start_at"), effective("end_at")))
    if data.targeting is not None:
        problems.extend(
            targeting_problems(
                data.targeting, references.segment_conditions(session), "body.targeting"
            )
        )
    raise_if_any(problems, "the edit is invalid")

    before = experiment_snapshot(experiment)
    allocation_before = allocation(experiment)
    _clear_the_way(session, experiment, plans, metric_links)
    if plans is not None:
        apply_variants(experiment, plans)
    if metric_links is not None:
        _apply_metric_links(experiment, metric_links)
    if segment_links is not None:
        _reconcile_segments(experiment, segment_links)
    for name in _COLUMNS:
        if name in sent:
            setattr(experiment, name, getattr(data, name))
    if "environment" in sent:
        experiment.environment = environment
    if "owner" in sent:
        experiment.owner = owner
    if "data_source" in sent:
        experiment.data_source = data_source
    if data.breakdowns is not None:
        experiment.breakdowns = list(data.breakdowns)

    if status in (ExperimentStatus.RUNNING, ExperimentStatus.PAUSED):
        failures = start_rule_failures(
            experiment,
            segments=references.segment_conditions(session),
            now=utcnow(),
            end_must_be_future="end_at" in sent,
        )
        raise_if_any(failures, f"experiment {key!r} would no longer be valid to run")
        changed = allocation_changed(allocation_before, allocation(experiment))
        if changed:
            reason = data.phase_reason or f"{' and '.join(changed)} changed"
            open_phase(experiment, now=utcnow(), reason=reason, actor_user_id=actor.user_id)
    touch(experiment, actor)
    with conflict_on_integrity_error(session, "the edit clashes with stored data", field="body"):
        flush_edit(session, experiment)
    record(
        session,
        actor=actor,
        action="update",
        resource_type=RESOURCE_TYPE,
        resource_id=experiment.id,
        before=before,
        after=experiment_snapshot(experiment),
        environment_id=experiment.environment_id,
    )
    session.commit()
    return experiment


def _clear_the_way(
    session: Session,
    experiment: Experiment,
    plans: list[VariantPlan] | None,
    metric_links: list[Any] | None,
) -> None:
    """Remove dropped rows and park unique values first, so the final flush never meets
    a transient duplicate (a swapped variant key, a control or primary moving from one
    row to another): the database checks unique indexes row by row."""
    if plans is None and metric_links is None:
        return
    if plans is not None:
        kept = {p.stored.id for p in plans if p.stored is not None}
        experiment.variants = [v for v in experiment.variants if v.id in kept]
        for variant in experiment.variants:
            variant.key = f"~{variant.id.hex}"
            variant.is_control = False
    if metric_links is not None:
        wanted = {metric.id for metric, _ in metric_links}
        experiment.metric_links = [
            link for link in experiment.metric_links if link.metric_id in wanted
        ]
        for link in experiment.metric_links:
            link.role = MetricRole.SECONDARY
    session.flush()


def _apply_metric_links(experiment: Experiment, metric_links: list[Any]) -> None:
    existing = {link.metric_id: link for link in experiment.metric_links}
    result = []
    for position, (metric, link_in) in enumerate(metric_links):
        link = existing.get(metric.id) or ExperimentMetric(metric=metric)
        link.role = link_in.role
        link.position = position
        link.non_inferiority_margin = link_in.non_inferiority_margin
        result.append(link)
    experiment.metric_links = result
