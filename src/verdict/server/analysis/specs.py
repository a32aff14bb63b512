"""From stored definitions to what the analysis reads: the spec and the data source.

An experiment's metric links become :class:`verdict.analysis.MetricSpec` values (the
denominator of a ratio included), its variants and the phase analysed become the
:class:`verdict.analysis.AnalysisSpec`, and its data source (or Verdict's own
database) becomes an engine plus a table mapping. Identifiers follow the source: in
Verdict's own database experiments and variants are named by id (stored as the
dialect stores a UUID); in a warehouse by key, as teams log them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from verdict.analysis.definitions import (
    Aggregation,
    AnalysisSpec,
    MetricKind,
    MetricSpec,
    Period,
    VariantSpec,
)
from verdict.analysis.mapping import VERDICT_MAPPING, DataSourceMapping
from verdict.analysis.outcomes import MetricPlan
from verdict.server.analysis.models import Metric
from verdict.server.datasources.service import source_mapping
from verdict.server.errors import InvalidInputError
from verdict.server.experiments.models import (
    Experiment,
    ExperimentPhase,
    ExperimentStatus,
    ExperimentType,
)

__all__ = ["AnalysisInputs", "analysis_inputs", "metric_spec"]


@dataclass(frozen=True)
class AnalysisInputs:
    spec: AnalysisSpec
    plans: dict[str, MetricPlan]
    phase: ExperimentPhase | None
    # None: Verdict's own database (the caller's engine); else the data source's URL.
    source_url: str | None
    mapping: DataSourceMapping


def metric_spec(metric: Metric) -> MetricSpec:
    denominator = metric_spec(metric.denominator) if metric.denominator is not None else None
    return MetricSpec(
        key=metric.key,
        kind=MetricKind(metric.type.value),
        event_name=metric.event_name,
        aggregation=Aggregation(metric.aggregation.value),
        percentile=metric.percentile,
        value_path=metric.value_path.removeprefix("$.") if metric.value_path else None,
        capping=metric.capping.value,
        cap_value=metric.cap_value,
        window_hours=metric.conversion_window_hours,
        delay_hours=metric.conversion_delay_hours,
        denominator=denominator,
        lower_is_better=metric.lower_is_better,
    )


def _identifier(value: uuid.UUID, dialect: str) -> str:
    # SQLAlchemy's portable Uuid type stores 32 hex digits on SQLite, a uuid elsewhere.
    return value.hex if dialect == "sqlite" else str(value)


def _phase(experiment: Experiment, number: int | None) -> ExperimentPhase | None:
    if number is None:
        return experiment.phases[-1] if experiment.phases else None
    for phase in experiment.phases:
        if phase.number == number:
            return phase
    raise InvalidInputError(
        f"experiment {experiment.key!r} has no phase {number}", field="query.phase"
    )


def _periods(experiment: Experiment) -> tuple[Period, ...]:
    """The bandit's phases as analysis periods: when each began and its weights."""
    return tuple(
        Period(
            start=phase.started_at,
            weights=tuple(float(phase.weights.get(v.key, v.weight)) for v in experiment.variants),
        )
        for phase in experiment.phases
    )


def analysis_inputs(
    session: Session,
    experiment: Experiment,
    *,
    own_engine: Engine,
    now: dt.datetime,
    phase_number: int | None = None,
) -> AnalysisInputs:
    """The spec, metric plans and data source of one analysis of ``experiment``."""
    if experiment.status is ExperimentStatus.DRAFT or experiment.started_at is None:
        raise InvalidInputError(
            f"experiment {experiment.key!r} has not started: there is nothing to analyse",
            field="path.key",
        )
    if not experiment.metric_links:
        raise InvalidInputError(
            f"experiment {experiment.key!r} has no metrics: link at least one to analyse it",
            field="body.metrics",
        )
    if not any(v.is_control for v in experiment.variants):
        raise InvalidInputError(
            f"experiment {experiment.key!r} has no control variant", field="body.variants"
        )
    phase = _phase(experiment, phase_number)
    start = phase.started_at if phase is not None else experiment.started_at
    # A bandit is analysed over all its phases at once, each unit weighted by the
    # inverse of its phase's weight for its variant (docs/bandits.md).
    bandit = experiment.type is ExperimentType.BANDIT and phase_number is None
    if bandit and experiment.phases:
        start = experiment.phases[0].started_at
    end_candidates = [now]
    if phase is not None and phase.ended_at is not None and not bandit:
        end_candidates.append(phase.ended_at)
    if experiment.completed_at is not None:
        end_candidates.append(experiment.completed_at)
    end = min(end_candidates)
    if end <= start:
        end = start + dt.timedelta(microseconds=1)
    source = experiment.data_source
    if source is None:
        dialect = own_engine.dialect.name
        experiment_id = _identifier(experiment.id, dialect)
        variant_ids = {v.id: _identifier(v.id, dialect) for v in experiment.variants}
        mapping = VERDICT_MAPPING
        url = None
    else:
        experiment_id = experiment.key
        variant_ids = {v.id: v.key for v in experiment.variants}
        mapping = source_mapping(source)
        url = source.url
    weights = phase.weights if phase is not None else {}
    spec = AnalysisSpec(
        experiment_id=experiment_id,
        variants=tuple(
            VariantSpec(
                id=variant_ids[v.id],
                key=v.key,
                weight=float(weights.get(v.key, v.weight)),
                is_control=v.is_control,
            )
            for v in experiment.variants
        ),
        metrics=tuple(metric_spec(link.metric) for link in experiment.metric_links),
        start=start,
        end=end,
        cuped_days=experiment.cuped_days,
        breakdowns=tuple(experiment.breakdowns or ()),
        periods=_periods(experiment) if bandit else (),
    )
    plans = {
        link.metric.key: MetricPlan(
            role=link.role.value,
            non_inferiority_margin=link.non_inferiority_margin,
            expected_effect=link.metric.expected_effect,
        )
        for link in experiment.metric_links
    }
    return AnalysisInputs(spec=spec, plans=plans, phase=phase, source_url=url, mapping=mapping)
