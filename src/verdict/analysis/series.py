"""The daily cumulative series a chart draws: lift over time with its band.

The database returns per-exposure-day sums (the units first exposed that day, with
their events up to the analysis end); sufficient statistics add, so the point for a day
is the running sum of the days up to it (:func:`~verdict.analysis.statistics.
cumulative_daily`), compared exactly as the overall result is. The last point of a
series therefore equals the overall result. Percentile metrics have no series: a
quantile cannot be assembled from per-day quantiles.

A bandit's point for a day is the inverse-propensity weighted estimate
(:mod:`verdict.analysis.weighted`) over the per-period sums of the units exposed by that
day, compared as the overall result is; its last point equals the overall result too.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from verdict.analysis.comparisons import compare, comparison_figures
from verdict.analysis.definitions import Aggregation, AnalysisSpec, MetricSpec
from verdict.analysis.statistics import Computation, VariantStatistics, cumulative_daily
from verdict.analysis.weighted import PeriodSums, weighted_comparison

__all__ = ["daily_series"]


def _mean(row: VariantStatistics) -> float | None:
    if row.is_ratio:
        return row.sum / row.denominator_sum if row.denominator_sum else None
    return row.sum / row.units if row.units else None


def daily_series(
    spec: AnalysisSpec, computation: Computation, *, method: str, alpha: float
) -> dict[str, list[dict[str, Any]]]:
    """Per metric key: one point per (exposure day, variant), days in order."""
    cumulative: dict[tuple[str, str], dict[Any, VariantStatistics]] = defaultdict(dict)
    for row in cumulative_daily(computation.daily()):
        cumulative[(row.metric, row.variant)][row.day] = row
    days = sorted({row.day for row in computation.daily() if row.day is not None})
    control = spec.control
    if not days or control is None:
        return {}
    series: dict[str, list[dict[str, Any]]] = {}
    for metric in spec.metrics:
        if metric.effective_aggregation is Aggregation.PERCENTILE:
            continue
        if spec.is_bandit:
            series[metric.key] = _weighted_points(spec, computation, metric, method, alpha)
            continue
        points: list[dict[str, Any]] = []
        for variant in spec.variants:
            latest: VariantStatistics | None = None
            base: VariantStatistics | None = None
            for day in days:
                latest = cumulative[(metric.key, variant.id)].get(day, latest)
                base = cumulative[(metric.key, control.id)].get(day, base)
                point: dict[str, Any] = {
                    "day": day.isoformat(),
                    "variant": variant.key,
                    "units": latest.units if latest else 0,
                    "mean": _mean(latest) if latest else None,
                }
                if not variant.is_control and latest is not None and base is not None:
                    try:
                        comparison = compare(
                            metric, base, latest, alpha=alpha, method=method, cuped=False
                        )
                    except ValueError:
                        comparison = None  # too few units on the first days
                    if comparison is not None:
                        point.update(comparison_figures(comparison.item()))
                points.append(point)
        series[metric.key] = points
    return series


def _weighted_points(
    spec: AnalysisSpec, computation: Computation, metric: MetricSpec, method: str, alpha: float
) -> list[dict[str, Any]]:
    """A bandit's series of one metric: per day, each arm's weighted estimate over the
    per-period sums of the units exposed up to that day (running sums, one array per
    arm, so a day costs one pass over the periods whatever their number)."""
    control = spec.control
    assert control is not None
    by_day: dict[Any, dict[str, list[VariantStatistics]]] = defaultdict(lambda: defaultdict(list))
    for row in computation.daily():
        if row.metric == metric.key:
            by_day[row.day][row.variant].append(row)
    running = {v.id: PeriodSums(spec, v.id) for v in spec.variants}
    units = {v.id: 0 for v in spec.variants}
    points: list[dict[str, Any]] = []
    for day in sorted(by_day):
        for variant_id, rows in by_day[day].items():
            running[variant_id].add(rows)
            units[variant_id] += sum(row.units for row in rows)
        estimates = {}
        for variant_id, sums in running.items():
            try:
                estimates[variant_id] = sums.estimate(metric)
            except ValueError:
                continue  # no units (no denominator) yet
        for variant in spec.variants:
            estimate = estimates.get(variant.id)
            point: dict[str, Any] = {
                "day": day.isoformat(),
                "variant": variant.key,
                "units": units[variant.id],
                "mean": None if estimate is None else estimate.mean,
            }
            base = estimates.get(control.id)
            if not variant.is_control and estimate is not None and base is not None:
                try:
                    comparison = weighted_comparison(base, estimate, alpha=alpha, method=method)
                except ValueError:
                    pass  # too few units on the first days
                else:
                    point.update(comparison_figures(comparison.item()))
            points.append(point)
    return points
