"""One metric, control against treatment: which test, and the variant's own figures.

The test follows the metric: conversions use the pooled two-proportion z-test, ratio
metrics the delta method, percentile metrics the order-statistic quantile test
(:mod:`verdict.stats.quantiles`), every other metric Welch's t-test; CUPED rows use
the covariate-adjusted test (the ratio form for ratio metrics). A sequential analysis
turns any of them into confidence sequences with always-valid p-values.
"""

from __future__ import annotations

import math
from typing import Any

from scipy import special

from verdict.analysis.definitions import Aggregation, MetricKind, MetricSpec
from verdict.analysis.statistics import VariantStatistics
from verdict.stats import (
    Comparison,
    cuped_t_test,
    make_sequential,
    ratio_cuped_t_test,
    ratio_delta_test,
    two_proportion_z_test,
    welch_t_test,
)
from verdict.stats.frequentist import ratio_estimate
from verdict.stats.inputs import FloatArray
from verdict.stats.quantiles import quantile_test

__all__ = ["compare", "comparison_figures", "finite", "own_figures"]


def finite(value: Any) -> float | None:
    """A float, or None where it is NaN or infinite (JSON and SQL have neither)."""
    number = float(value)
    return number if math.isfinite(number) else None


def comparison_figures(comparison: Comparison[float]) -> dict[str, float | None]:
    """The lift columns of a comparison; a relative interval that does not hold its
    point estimate (an unbounded Fieller set) is left out rather than stored wrong."""
    relative = finite(comparison.relative.estimate)
    lower, upper = finite(comparison.relative.lower), finite(comparison.relative.upper)
    if relative is None or (lower is not None and lower > relative):
        lower = None
    if relative is None or (upper is not None and upper < relative):
        upper = None
    return {
        "absolute_lift": finite(comparison.absolute.estimate),
        "absolute_ci_lower": finite(comparison.absolute.lower),
        "absolute_ci_upper": finite(comparison.absolute.upper),
        "relative_lift": relative,
        "lift_ci_lower": lower,
        "lift_ci_upper": upper,
        "p_value": finite(comparison.absolute.p_value),
    }


def _is_percentile(metric: MetricSpec) -> bool:
    return metric.effective_aggregation is Aggregation.PERCENTILE


def compare(
    metric: MetricSpec,
    control: VariantStatistics,
    treatment: VariantStatistics,
    *,
    alpha: float,
    method: str,
    cuped: bool,
) -> Comparison[FloatArray] | None:
    """The comparison of ``treatment`` with ``control`` on ``metric``; None when the
    metric has no such comparison (CUPED without a covariate, a day's percentile)."""
    comparison: Comparison[FloatArray]
    if cuped:
        if not (control.has_covariate and treatment.has_covariate):
            return None
        if metric.kind is MetricKind.RATIO:
            comparison = ratio_cuped_t_test(
                control.to_ratio_cuped_summary(), treatment.to_ratio_cuped_summary(), alpha=alpha
            )
        else:
            comparison = cuped_t_test(
                control.to_cuped_summary(), treatment.to_cuped_summary(), alpha=alpha
            )
    elif metric.kind is MetricKind.CONVERSION:
        comparison = two_proportion_z_test(
            control.to_proportion_summary(), treatment.to_proportion_summary(), alpha=alpha
        )
    elif metric.kind is MetricKind.RATIO:
        comparison = ratio_delta_test(
            control.to_ratio_summary(), treatment.to_ratio_summary(), alpha=alpha
        )
    elif _is_percentile(metric):
        if control.quantile is None or treatment.quantile is None:
            return None
        comparison = quantile_test(
            control.to_quantile_summary(), treatment.to_quantile_summary(), alpha=alpha
        )
    else:
        comparison = welch_t_test(
            control.to_mean_summary(), treatment.to_mean_summary(), alpha=alpha
        )
    if method == "sequential":
        comparison = make_sequential(comparison)
    return comparison


def own_figures(metric: MetricSpec, row: VariantStatistics | None, alpha: float) -> dict[str, Any]:
    """The variant's own figures: units, conversions, total, mean (rate, ratio or
    quantile), the per-unit variance and the interval of the mean."""
    if row is None:
        return {"sample_size": 0, "conversions": 0, "total": None}
    figures: dict[str, Any] = {
        "sample_size": row.units,
        "conversions": min(row.conversions, row.units),
        "total": finite(row.sum),
    }
    n = row.units
    if n == 0:
        return figures
    if _is_percentile(metric):
        if row.quantile is None:
            return figures
        middle = float(row.quantile)
        low = row.quantile_lower if row.quantile_lower is not None else middle
        high = row.quantile_upper if row.quantile_upper is not None else middle
        return {
            **figures,
            "mean": middle,
            "ci_lower": min(low, middle),
            "ci_upper": max(high, middle),
        }
    if metric.kind is MetricKind.RATIO:
        if not row.denominator_sum:
            return {**figures, "note": "no denominator yet"}
        ratio, unit_variance = ratio_estimate(row.to_ratio_summary())
        mean, variance = float(ratio), float(unit_variance)
    else:
        summary = row.to_mean_summary()
        mean = float(summary.mean)
        variance = float(summary.variance) if n > 1 else math.nan
    z = float(special.ndtri(1 - alpha / 2))
    half = z * math.sqrt(variance / n) if math.isfinite(variance) else math.nan
    return {
        **figures,
        "mean": finite(mean),
        "variance": finite(variance),
        "ci_lower": finite(mean - half),
        "ci_upper": finite(mean + half),
    }
