"""A bandit's results: each arm inverse-propensity weighted over its allocation periods.

A bandit changes its weights from one allocation period to the next, and a unit belongs
to the period of its first exposure. Pooling an arm's units would weight each period by
the share of traffic the bandit happened to give the arm then, which biases the arm's
mean towards the periods it was favoured in (Simpson's paradox). So the database returns
each arm's sums per period (:mod:`verdict.analysis.sql_variants`), and here:

1. each arm's mean (ratio) is the Hajek estimate over its periods, every unit weighted
   by ``1 / p``, ``p`` the arm's weight in the unit's period, with the linearised
   variance (:func:`verdict.stats.adaptive.ipw_mean`, :func:`~verdict.stats.adaptive.
   ipw_ratio`; the module docstring there gives the method and references);
2. an arm's estimate and its standard error go into Welch's test against control
   (:func:`~verdict.stats.adaptive.weighted_welch_test`), the relative lift's interval
   on the log scale (a starved arm's estimate is skewed; the module docstring there
   says why), made a confidence sequence for a sequential analysis, the normal model of
   that effect for a Bayesian one, for every metric kind: the pooled two-proportion
   test or beta-binomial posterior would count the units unweighted;
3. the sample-ratio check tests each period's units against that period's weights
   (:func:`~verdict.stats.adaptive.period_sample_ratio_check`).

What is not weighted: percentile metrics (a quantile of weighted units needs every
unit's value, not sums; they are pooled, and the result's note says so), and CUPED (the
pooled regression slope across periods of different weights would reintroduce the
bias the weights remove; a bandit's results carry no CUPED rows). The counts shown (units,
conversions, total) are the raw ones.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from scipy import special

from verdict.analysis.comparisons import finite
from verdict.analysis.definitions import Aggregation, AnalysisSpec, MetricKind, MetricSpec
from verdict.analysis.statistics import ADDITIVE_FIELDS, Computation, VariantStatistics
from verdict.stats import Comparison, SampleRatioCheck, make_sequential
from verdict.stats.adaptive import (
    AdaptiveEstimate,
    ipw_mean,
    ipw_ratio,
    period_sample_ratio_check,
    weighted_welch_test,
)
from verdict.stats.inputs import FloatArray

__all__ = [
    "PeriodSums",
    "period_srm",
    "pooled",
    "weighted_comparison",
    "weighted_figures",
    "weighted_note",
]

# The per-period sums an estimate reads, in PeriodSums' row order.
_SUMS = ("units", "sum", "sum_squares", "denominator_sum", "denominator_sum_squares", "cross")


def weighted_note(spec: AnalysisSpec, metric: MetricSpec) -> str:
    """The note every bandit result row carries: how its figures were obtained."""
    count = len(spec.periods)
    periods = f"{count} allocation period{'' if count == 1 else 's'}"
    if metric.effective_aggregation is Aggregation.PERCENTILE:
        return f"pooled over {periods}: the quantile is not weighted"
    return f"inverse-propensity weighted over {periods}"


def pooled(rows: Sequence[VariantStatistics]) -> VariantStatistics:
    """One arm's period rows added up: the raw counts (a percentile metric's rows all
    carry the arm's pooled quantile already)."""
    totals: dict[str, Any] = {}
    for name in ADDITIVE_FIELDS:
        values = [getattr(row, name) for row in rows]
        totals[name] = None if any(value is None for value in values) else sum(values)
    return replace(rows[0], period=None, **totals)


class PeriodSums:
    """One arm's sums per allocation period (zeros where it has no units), and its
    weights: the arm's weight in each period."""

    def __init__(self, spec: AnalysisSpec, variant: str) -> None:
        index = next(i for i, v in enumerate(spec.variants) if v.id == variant)
        self.propensity: FloatArray = np.array([p.weights[index] for p in spec.periods])
        self.sums: FloatArray = np.zeros((len(_SUMS), len(spec.periods)))

    def add(self, rows: Iterable[VariantStatistics]) -> PeriodSums:
        for row in rows:
            if row.period is None:
                raise ValueError(
                    f"{row.metric}: a bandit's rows need their period (computed without the "
                    "spec's periods?)"
                )
            self.sums[:, row.period] += [float(getattr(row, name) or 0.0) for name in _SUMS]
        return self

    def estimate(self, metric: MetricSpec) -> AdaptiveEstimate:
        """The Hajek estimate of the arm's mean (ratio); ValueError without units."""
        units, total, squares, denominator, denominator_squares, cross = self.sums
        if metric.kind is MetricKind.RATIO:
            return ipw_ratio(
                units, total, squares, denominator, denominator_squares, cross, self.propensity
            )
        return ipw_mean(units, total, squares, self.propensity)


def weighted_comparison(
    control: AdaptiveEstimate, treatment: AdaptiveEstimate, *, alpha: float, method: str
) -> Comparison[FloatArray]:
    """Treatment against control on the weighted estimates: Welch's test, the relative
    lift's interval on the log scale (:func:`verdict.stats.adaptive.weighted_welch_test`);
    ValueError with fewer than two units."""
    comparison = weighted_welch_test(control, treatment, alpha=alpha)
    return make_sequential(comparison) if method == "sequential" else comparison


def weighted_figures(
    metric: MetricSpec, row: VariantStatistics | None, sums: PeriodSums | None, alpha: float
) -> dict[str, Any]:
    """The arm's own figures: raw units, conversions and total; the weighted mean, the
    per-unit variance that gives its standard error, and the interval mean +- z se."""
    if row is None or sums is None:
        return {"sample_size": 0, "conversions": 0, "total": None}
    figures: dict[str, Any] = {
        "sample_size": row.units,
        "conversions": min(row.conversions, row.units),
        "total": finite(row.sum),
    }
    if row.units == 0:
        return figures
    if metric.kind is MetricKind.RATIO and not row.denominator_sum:
        return {**figures, "note": "no denominator yet"}
    try:
        estimate = sums.estimate(metric)
    except ValueError:
        return figures
    if estimate.units < 2:  # no variance from one unit (as unweighted figures)
        return {**figures, "mean": finite(estimate.mean)}
    half = float(special.ndtri(1 - alpha / 2)) * math.sqrt(estimate.variance_of_mean)
    return {
        **figures,
        "mean": finite(estimate.mean),
        "variance": finite(estimate.variance_of_mean * estimate.units),
        "ci_lower": finite(estimate.mean - half),
        "ci_upper": finite(estimate.mean + half),
    }


def period_check(spec: AnalysisSpec, computation: Computation) -> SampleRatioCheck | None:
    """Each period's units against its weights (None before any exposure)."""
    units = np.zeros((len(spec.periods), len(spec.variants)))
    for period, counts in computation.exposures_by_period.items():
        units[period] = [counts.get(v.id, 0) for v in spec.variants]
    if units.sum() == 0:
        return None
    weights = np.array([period.weights for period in spec.periods])
    return period_sample_ratio_check(units, weights)


def period_srm(spec: AnalysisSpec, computation: Computation) -> dict[str, Any]:
    """The SRM entry of a bandit's outcome: the per-period check, totals per variant."""
    keys = [v.key for v in spec.variants]
    observed = [computation.exposures.get(v.id, 0) for v in spec.variants]
    check = period_check(spec, computation)
    base: dict[str, Any] = {"method": "per-period", "periods": len(spec.periods)}
    if check is None:
        return {
            **base,
            "p_value": None,
            "mismatch": False,
            "observed": dict(zip(keys, observed, strict=True)),
            "note": "no exposures yet",
        }
    return {
        **base,
        "p_value": check.p_value,
        "mismatch": check.mismatch,
        "threshold": check.threshold,
        "observed": dict(zip(keys, observed, strict=True)),
        "expected": dict(zip(keys, check.expected, strict=True)),
    }
