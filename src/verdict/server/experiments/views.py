"""How an experiment is shown: the API's response shape and the audit log's snapshot.

Both come from one function, so the audit log records exactly the fields a client
reads (less the bookkeeping: version, timestamps, phases, allowed actions).
"""

from __future__ import annotations

from typing import Any

from verdict.server.experiments.lifecycle import allowed_actions
from verdict.server.experiments.models import (
    Experiment,
    ExperimentPhase,
    SegmentMatch,
    Variant,
)
from verdict.server.experiments.schemas import (
    ExperimentOut,
    MetricLinkOut,
    PhaseOut,
    VariantOut,
)

__all__ = ["experiment_out", "experiment_snapshot", "phase_out"]

_NOT_AUDITED = {"version", "created_at", "updated_at", "phases", "allowed_actions"}


def _variant_out(variant: Variant) -> VariantOut:
    return VariantOut(
        id=variant.id,
        key=variant.key,
        label=variant.label,
        description=variant.description,
        is_control=variant.is_control,
        weight=variant.weight,
        configuration=variant.configuration,
        url=variant.url,
        response_template=variant.response_template,
        system_prompt=variant.system_prompt,
        config_overrides=variant.config_overrides,
    )


def phase_out(phase: ExperimentPhase) -> PhaseOut:
    return PhaseOut(
        number=phase.number,
        started_at=phase.started_at,
        ended_at=phase.ended_at,
        coverage=phase.coverage,
        weights=phase.weights,
        reason=phase.reason,
    )


def _segment_keys(experiment: Experiment, match: SegmentMatch) -> list[str]:
    return sorted(link.segment.key for link in experiment.segment_links if link.match is match)


def experiment_out(experiment: Experiment) -> ExperimentOut:
    return ExperimentOut(
        id=experiment.id,
        key=experiment.key,
        name=experiment.name,
        description=experiment.description,
        hypothesis=experiment.hypothesis,
        type=experiment.type,
        status=experiment.status,
        allowed_actions=[action.value for action in allowed_actions(experiment.status)],
        target=experiment.target,
        environment=experiment.environment.key if experiment.environment else None,
        targeting=experiment.targeting,
        forced_variants=experiment.forced_variants,
        include_segments=_segment_keys(experiment, SegmentMatch.INCLUDE),
        exclude_segments=_segment_keys(experiment, SegmentMatch.EXCLUDE),
        coverage=experiment.coverage,
        layer=experiment.layer,
        bucket_start=experiment.bucket_start,
        bucket_end=experiment.bucket_end,
        hash_attribute=experiment.hash_attribute,
        hash_seed=experiment.hash_seed,
        minimum_sample_size=experiment.minimum_sample_size,
        confidence_level=experiment.confidence_level,
        tags=list(experiment.tags),
        owner=experiment.owner.username if experiment.owner else None,
        start_at=experiment.start_at,
        end_at=experiment.end_at,
        started_at=experiment.started_at,
        completed_at=experiment.completed_at,
        winner=next(
            (v.key for v in experiment.variants if v.id == experiment.winner_variant_id), None
        ),
        variants=[_variant_out(v) for v in experiment.variants],
        metrics=[
            MetricLinkOut(
                metric=link.metric.key,
                name=link.metric.name,
                type=link.metric.type.value,
                role=link.role,
                non_inferiority_margin=link.non_inferiority_margin,
            )
            for link in experiment.metric_links
        ],
        phases=[phase_out(p) for p in experiment.phases],
        data_source=experiment.data_source.key if experiment.data_source else None,
        analysis_method=experiment.analysis_method,
        cuped_days=experiment.cuped_days,
        breakdowns=list(experiment.breakdowns or []),
        bandit_update_minutes=experiment.bandit_update_minutes,
        bandit_floor=experiment.bandit_floor,
        bandit_burn_in=experiment.bandit_burn_in,
        bandit_top_two=experiment.bandit_top_two,
        version=experiment.version,
        created_at=experiment.created_at,
        updated_at=experiment.updated_at,
    )


def experiment_snapshot(experiment: Experiment) -> dict[str, Any]:
    """The experiment as JSON for the audit log's before/after."""
    return experiment_out(experiment).model_dump(mode="json", exclude=_NOT_AUDITED)
