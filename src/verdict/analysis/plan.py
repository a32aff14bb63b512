"""From an analysis spec to the measures the SQL computes per unit.

A *measure* is one per-unit quantity read from the events: a metric, or a ratio's
denominator. Each has a column prefix (``m3`` for ``metrics[3]``, ``m3d`` for its
denominator) and keeps, per unit, only the accumulators its aggregation needs, all of
which merge across disjoint event windows (sums and counts add; maxima and minima take
the larger / smaller), which is what makes the incremental refresh exact:

=====================  ==========================  =================================
aggregation            accumulators                per-unit value
=====================  ==========================  =================================
SUM                    ``_sum``                    sum of values (0 without events)
COUNT                  ``_cnt``                    number of events
UNIQUE (conversion)    ``_cnt``                    1 if any event else 0
MEAN, PERCENTILE       ``_sum``, ``_vcnt``         mean of values (NULL: excluded)
MAX / MIN              ``_max`` / ``_min``         max / min (NULL: excluded)
=====================  ==========================  =================================

CUPED adds ``_pre_sum`` or ``_pre_cnt`` over ``[exposure - cuped_days, exposure)`` for the
additive aggregations (SUM, COUNT, UNIQUE) and for ratios whose two parts are additive.

Identical accumulators are computed and kept once: a ratio's numerator and denominator
usually repeat other metrics (revenue per page view next to revenue and page views), and
a conversion and a count of the same event share ``_cnt``. Two accumulators are the same
when they read the same events (name, and for value accumulators the same value) over
the same window (delay and window; the CUPED window is common to all). Capping is not
part of the key: it applies to the per-unit value, after the accumulators.
:meth:`Measure.column` names the column a measure reads.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from verdict.analysis.definitions import (
    ADDITIVE,
    Aggregation,
    AnalysisSpec,
    MetricKind,
    MetricSpec,
)
from verdict.analysis.errors import DataSourceError
from verdict.analysis.mapping import DataSourceMapping

__all__ = ["Measure", "MetricPlan", "Plan", "build_plan", "epoch_micros"]

MICROS_PER_HOUR = 3_600_000_000
MICROS_PER_DAY = 86_400_000_000


def epoch_micros(moment_seconds: float) -> int:
    """Seconds since the epoch (float) as whole microseconds."""
    return round(moment_seconds * 1_000_000)


@dataclass(frozen=True)
class Measure:
    """One per-unit quantity: which events, which value, which window, which accumulators."""

    prefix: str
    event_name: str
    aggregation: Aggregation
    value_index: int | None  # index into Plan.value_paths; None = the value column
    delay_us: int
    window_us: int | None
    capping: str
    cap_value: float | None
    cuped: bool
    field: str  # the spec field the measure comes from, for error messages
    # suffix -> kept column, for accumulators shared with an earlier measure
    shared: tuple[tuple[str, str], ...] = ()

    def column(self, suffix: str) -> str:
        """The per-unit table column holding this measure's accumulator ``suffix``."""
        return dict(self.shared).get(suffix, f"{self.prefix}{suffix}")

    def accumulator_key(self, suffix: str) -> tuple[object, ...]:
        """What makes two accumulators equal (see the module docstring)."""
        if suffix == "_pre_cnt":
            return (suffix, self.event_name)
        if suffix == "_pre_sum":
            return (suffix, self.event_name, self.value_index)
        window = (self.event_name, self.delay_us, self.window_us)
        if suffix == "_cnt":
            return (suffix, *window)
        return (suffix, *window, self.value_index)

    @property
    def accumulators(self) -> tuple[str, ...]:
        """Column suffixes kept per unit."""
        by_aggregation = {
            Aggregation.SUM: ("_sum",),
            Aggregation.COUNT: ("_cnt",),
            Aggregation.UNIQUE: ("_cnt",),
            Aggregation.MEAN: ("_sum", "_vcnt"),
            Aggregation.PERCENTILE: ("_sum", "_vcnt"),
            Aggregation.MAX: ("_max",),
            Aggregation.MIN: ("_min",),
        }
        suffixes = by_aggregation[self.aggregation]
        if self.cuped:
            suffixes += ("_pre_sum",) if self.aggregation is Aggregation.SUM else ("_pre_cnt",)
        return suffixes

    @property
    def uses_value(self) -> bool:
        """Whether the measure reads the event value (COUNT and UNIQUE do not)."""
        return self.aggregation not in (Aggregation.COUNT, Aggregation.UNIQUE)


@dataclass(frozen=True)
class MetricPlan:
    """A metric of the spec with its measure, its denominator's, and what to compute."""

    metric: MetricSpec
    index: int
    measure: Measure
    denominator: Measure | None
    cuped: bool

    @property
    def is_percentile(self) -> bool:
        return self.measure.aggregation is Aggregation.PERCENTILE


@dataclass(frozen=True)
class Plan:
    """Everything the SQL generators need, derived once from the spec and the mapping."""

    spec: AnalysisSpec
    mapping: DataSourceMapping
    metrics: tuple[MetricPlan, ...]
    value_paths: tuple[tuple[str, ...], ...]
    start_us: int
    end_us: int
    cuped_us: int | None
    # A bandit's allocation period starts (epoch microseconds); empty: fixed weights.
    period_starts_us: tuple[int, ...] = ()

    @property
    def columns(self) -> tuple[tuple[Measure, str], ...]:
        """Each kept accumulator once: (the first measure that has it, its suffix)."""
        found: list[tuple[Measure, str]] = []
        for measure in self.measures:
            for suffix in measure.accumulators:
                if measure.column(suffix) == f"{measure.prefix}{suffix}":
                    found.append((measure, suffix))
        return tuple(found)

    @property
    def measures(self) -> tuple[Measure, ...]:
        found: list[Measure] = []
        for metric in self.metrics:
            found.append(metric.measure)
            if metric.denominator is not None:
                found.append(metric.denominator)
        return tuple(found)

    @property
    def event_names(self) -> tuple[str, ...]:
        return tuple(sorted({m.event_name for m in self.measures}))


def _hours(hours: float) -> int:
    return round(hours * MICROS_PER_HOUR)


def _measure(
    metric: MetricSpec, prefix: str, field: str, paths: list[tuple[str, ...]], cuped: bool
) -> Measure:
    segments = metric.path_segments
    value_index: int | None = None
    if segments:
        if segments not in paths:
            paths.append(segments)
        value_index = paths.index(segments)
    return Measure(
        prefix=prefix,
        event_name=metric.event_name,
        aggregation=metric.effective_aggregation,
        value_index=value_index,
        delay_us=_hours(metric.delay_hours),
        window_us=None if metric.window_hours is None else _hours(metric.window_hours),
        # A 0/1 value is never capped.
        capping="none" if metric.kind is MetricKind.CONVERSION else metric.capping,
        cap_value=metric.cap_value,
        cuped=cuped,
        field=field,
    )


def _share_accumulators(plans: list[MetricPlan]) -> list[MetricPlan]:
    """Point each accumulator that repeats an earlier one at the earlier one's column."""
    owners: dict[tuple[object, ...], str] = {}

    def share(measure: Measure) -> Measure:
        shared: list[tuple[str, str]] = []
        for suffix in measure.accumulators:
            key = measure.accumulator_key(suffix)
            if key in owners:
                shared.append((suffix, owners[key]))
            else:
                owners[key] = f"{measure.prefix}{suffix}"
        return replace(measure, shared=tuple(shared))

    result: list[MetricPlan] = []
    for metric in plans:
        measure = share(metric.measure)
        denominator = None if metric.denominator is None else share(metric.denominator)
        result.append(replace(metric, measure=measure, denominator=denominator))
    return result


def build_plan(spec: AnalysisSpec, mapping: DataSourceMapping) -> Plan:
    """The measures of every metric; raises DataSourceError if the mapping lacks a column."""
    paths: list[tuple[str, ...]] = []
    plans: list[MetricPlan] = []
    cuped_on = spec.cuped_days is not None
    for index, metric in enumerate(spec.metrics):
        field = f"metrics[{index}]"
        denominator = metric.denominator if metric.kind is MetricKind.RATIO else None
        parts = [metric] if denominator is None else [metric, denominator]
        cuped = cuped_on and all(part.effective_aggregation in ADDITIVE for part in parts)
        measure = _measure(metric, f"m{index}", field, paths, cuped)
        denominator_measure = (
            None
            if denominator is None
            else _measure(denominator, f"m{index}d", f"{field}.denominator", paths, cuped)
        )
        plans.append(MetricPlan(metric, index, measure, denominator_measure, cuped))
    plans = _share_accumulators(plans)
    plan = Plan(
        spec=spec,
        mapping=mapping,
        metrics=tuple(plans),
        value_paths=tuple(paths),
        start_us=epoch_micros(spec.start.timestamp()),
        end_us=epoch_micros(spec.end.timestamp()),
        cuped_us=None if spec.cuped_days is None else round(spec.cuped_days * 24 * MICROS_PER_HOUR),
        period_starts_us=tuple(epoch_micros(p.start.timestamp()) for p in spec.periods),
    )
    events = mapping.events
    for measure in plan.measures:
        if measure.uses_value and measure.value_index is None and events.value_column is None:
            raise DataSourceError(
                "data_source.events.value_column",
                f"{measure.field} reads the event value, but no value column is mapped",
            )
        if measure.value_index is not None and events.properties_column is None:
            raise DataSourceError(
                "data_source.events.properties_column",
                f"{measure.field} has a value_path, but no properties column is mapped",
            )
    if spec.breakdowns and mapping.exposures.context_column is None:
        raise DataSourceError(
            "data_source.exposures.context_column",
            "breakdowns read the exposure context, but no context column is mapped",
        )
    return plan
