"""Estimates when the allocation changed during the experiment (bandits): weighting by
the inverse of the assignment probability.

A bandit moves traffic between periods, and units of different periods differ (the
weekend's visitors convert differently from Monday's). Pooling every unit of an arm
then mixes periods in proportions the bandit chose, so the pooled mean is biased
towards the periods the arm was favoured in (Simpson's paradox); a plain two-sample
test on pooled data is not honest under changing weights.

Method: each unit enrolled in period ``k`` was assigned arm ``a`` with the known
probability ``p[k, a]`` (the period's weights, as the bandit published them). The Hajek
estimator of the arm's mean weights every unit by ``1 / p[k, a]`` (Horvitz and
Thompson 1952, "A generalization of sampling without replacement from a finite
universe", JASA; Hajek 1971), so every period counts in proportion to its share of
all units whatever the arm's weight in it:

    mean_a = sum_k S[k, a] / p[k, a]  /  sum_k n[k, a] / p[k, a]

with ``n``, ``S`` and ``Q`` the units, sum and sum of squares of the arm in period
``k``. Its variance is the linearised (sandwich) estimator of the ratio (Särndal,
Swensson and Wretman 1992, "Model Assisted Survey Sampling", section 5.7):

    var_a = sum_k (Q - 2 mean_a S + mean_a**2 n)[k, a] / p[k, a]**2  /  (sum_k n[k, a] / p[k, a])**2

which needs only the per-period sufficient statistics. A ratio metric (numerator
``X`` over denominator ``Y`` per unit) uses the same weights for both sums and the
delta method for the variance: ``R_a = sum X/p / sum Y/p`` and ``var = sum (XX - 2 R XY
+ R**2 YY)/p**2 / (sum Y/p)**2``.

The floor of :mod:`verdict.stats.bandits` keeps every ``p[k, a]`` away from zero, which
keeps the weights bounded; with batched updates and a floor the estimator is close to
normal (Hadad et al. 2021, "Confidence intervals for policy evaluation in adaptive
experiments", PNAS, treat the per-unit case without a floor, where it need not be).
``benchmarks/bandit_sim.py`` measures the coverage of the resulting intervals.

An :class:`AdaptiveEstimate` becomes a :class:`~verdict.stats.summaries.MeanSummary`
with the same mean and the same standard error (:meth:`AdaptiveEstimate.to_mean_summary`:
``n`` units and a per-unit variance of ``var * n``), which any comparison of
:mod:`verdict.stats.frequentist` or :mod:`verdict.stats.bayesian` accepts; Verdict's
own comparison of a bandit's arms is :func:`weighted_welch_test`.

Comparing two arms (:func:`weighted_welch_test`): Welch's test on the two arms'
estimates and standard errors. The relative lift's interval is taken on the log scale,
``exp(log(m_t / m_c) +- q sqrt(v_t / m_t**2 + v_c / m_c**2)) - 1`` (Katz, Baptista,
Azen and Pike 1978, "Obtaining confidence intervals for the risk ratio in cohort
studies", Biometrics), not Fieller's: a bandit starves its worst arms, often the
control, whose estimate then rests on a few late units that each weigh 1/floor; its
estimated variance is small exactly when the estimate happens to be low, and a Wald or
Fieller interval of the lift over it misses above the truth too often (92.8 % for a
nominal 95 % with ``benchmarks/bandit_sim.py --runs 2000 --seed 11 --draws 2000``). On
the log scale the variance grows as the estimate falls, and the interval covers 93.9 %
in the same runs (94.5 % with ``--runs 1000 --seed 7``). With a mean
that is not positive the log is undefined and Fieller's interval is used.

Sample-ratio mismatch under changing weights (:func:`period_sample_ratio_check`): each
period's units are checked against that period's weights, and the chi-square
statistics of the periods add up (independent periods), with ``sum_k (arms - 1)``
degrees of freedom.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import special

from verdict.stats.effects import Comparison, compare_estimates
from verdict.stats.frequentist import welch_degrees_of_freedom
from verdict.stats.inputs import (
    FloatArray,
    as_float_array,
    check_alpha,
    check_alternative,
    check_non_negative,
    check_whole,
)
from verdict.stats.srm import DEFAULT_SRM_THRESHOLD, SampleRatioCheck
from verdict.stats.summaries import MeanSummary

__all__ = [
    "WEIGHTED_METHOD",
    "AdaptiveEstimate",
    "ipw_mean",
    "ipw_ratio",
    "period_sample_ratio_check",
    "weighted_welch_test",
]

# The method name of a weighted comparison ("sequential ipw" once made sequential): its
# relative interval is taken on the log scale (effects.relative_bounds).
WEIGHTED_METHOD = "ipw"


@dataclass(frozen=True)
class AdaptiveEstimate:
    """One arm's weighted estimate: its units, mean and the variance of that mean."""

    units: float
    mean: float
    variance_of_mean: float

    def to_mean_summary(self) -> MeanSummary:
        """A summary with this mean and this standard error (see the module docstring)."""
        n = self.units
        if n < 2:
            raise ValueError("units: an estimate needs at least two units")
        per_unit = self.variance_of_mean * n
        return MeanSummary(
            n=n, sum=n * self.mean, sum_squares=(n - 1) * per_unit + n * self.mean**2
        )


def _periods(name: str, value: npt.ArrayLike, periods: int | None) -> FloatArray:
    array = as_float_array(name, value)
    if array.ndim != 1:
        raise ValueError(f"{name}: need one value per period, got shape {array.shape}")
    if periods is not None and array.size != periods:
        raise ValueError(f"{name}: need {periods} values (one per period), got {array.size}")
    return array


def _propensity(value: npt.ArrayLike, periods: int) -> FloatArray:
    p = _periods("propensity", value, periods)
    if np.any((p <= 0) | (p > 1)):
        raise ValueError("propensity: every assignment probability must be in (0, 1]")
    return p


def _units(value: npt.ArrayLike) -> FloatArray:
    n = _periods("units", value, None)
    if n.size == 0:
        raise ValueError("units: need at least one period")
    check_non_negative("units", n)
    check_whole("units", n)
    return n


def ipw_mean(
    units: npt.ArrayLike,
    sums: npt.ArrayLike,
    sum_squares: npt.ArrayLike,
    propensity: npt.ArrayLike,
) -> AdaptiveEstimate:
    """The Hajek estimate of one arm's mean from its per-period sums."""
    n = _units(units)
    s = _periods("sums", sums, n.size)
    q = _periods("sum_squares", sum_squares, n.size)
    check_non_negative("sum_squares", q)
    p = _propensity(propensity, n.size)
    weight = n / p
    total = float(weight.sum())
    if total <= 0:
        raise ValueError("units: the arm has no units in any period")
    mean = float((s / p).sum()) / total
    residual = np.maximum(q - 2 * mean * s + mean**2 * n, 0.0)
    variance = float((residual / p**2).sum()) / total**2
    return AdaptiveEstimate(units=float(n.sum()), mean=mean, variance_of_mean=variance)


def ipw_ratio(
    units: npt.ArrayLike,
    numerator_sums: npt.ArrayLike,
    numerator_sum_squares: npt.ArrayLike,
    denominator_sums: npt.ArrayLike,
    denominator_sum_squares: npt.ArrayLike,
    cross: npt.ArrayLike,
    propensity: npt.ArrayLike,
) -> AdaptiveEstimate:
    """The Hajek estimate of one arm's ratio of sums from its per-period sums."""
    n = _units(units)
    x = _periods("numerator_sums", numerator_sums, n.size)
    xx = _periods("numerator_sum_squares", numerator_sum_squares, n.size)
    y = _periods("denominator_sums", denominator_sums, n.size)
    yy = _periods("denominator_sum_squares", denominator_sum_squares, n.size)
    xy = _periods("cross", cross, n.size)
    p = _propensity(propensity, n.size)
    denominator = float((y / p).sum())
    if denominator == 0:
        raise ValueError("denominator_sums: the arm's denominator is zero in every period")
    ratio = float((x / p).sum()) / denominator
    residual = np.maximum(xx - 2 * ratio * xy + ratio**2 * yy, 0.0)
    variance = float((residual / p**2).sum()) / denominator**2
    return AdaptiveEstimate(units=float(n.sum()), mean=ratio, variance_of_mean=variance)


def weighted_welch_test(
    control: AdaptiveEstimate,
    treatment: AdaptiveEstimate,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
) -> Comparison[FloatArray]:
    """Welch's test of two weighted estimates, the relative lift's interval on the log
    scale (see the module docstring); ValueError when an arm has fewer than two units."""
    alpha = check_alpha(alpha)
    side = check_alternative(alternative)
    for name, estimate in (("control", control), ("treatment", treatment)):
        if estimate.units < 2:
            raise ValueError(f"{name}: a comparison needs at least two units")
    m_c, m_t, v_c, v_t, n_c, n_t = (
        np.asarray(value, dtype=np.float64)
        for value in (
            control.mean,
            treatment.mean,
            control.variance_of_mean,
            treatment.variance_of_mean,
            control.units,
            treatment.units,
        )
    )
    return compare_estimates(
        method=WEIGHTED_METHOD,
        control_mean=m_c,
        control_variance=v_c,
        treatment_mean=m_t,
        treatment_variance=v_t,
        control_units=n_c,
        treatment_units=n_t,
        df=welch_degrees_of_freedom(v_c, n_c, v_t, n_t),
        alpha=alpha,
        alternative=side,
    )


def period_sample_ratio_check(
    units: npt.ArrayLike,
    weights: npt.ArrayLike,
    *,
    threshold: float = DEFAULT_SRM_THRESHOLD,
) -> SampleRatioCheck:
    """Chi-square of every period's units against that period's weights, summed.

    ``units`` and ``weights`` have shape ``(periods, arms)``; each weights row sums to
    1. A period without units adds nothing. ``observed`` and ``expected`` of the
    result are totals over the periods.
    """
    threshold = check_alpha(threshold, "threshold")
    observed = as_float_array("units", units)
    w = as_float_array("weights", weights)
    if observed.ndim != 2 or observed.shape[1] < 2:
        raise ValueError(f"units: need shape (periods, arms >= 2), got {observed.shape}")
    if w.shape != observed.shape:
        raise ValueError(f"weights: need the shape of units {observed.shape}, got {w.shape}")
    check_non_negative("units", observed)
    check_whole("units", observed)
    if np.any(w <= 0):
        raise ValueError("weights: every weight must be positive")
    if np.any(np.abs(w.sum(axis=1) - 1) > 1e-6):
        raise ValueError("weights: every period's weights must sum to 1")
    totals = observed.sum(axis=1, keepdims=True)
    expected = totals * w
    active = totals[:, 0] > 0
    terms = np.where(
        expected > 0, (observed - expected) ** 2 / np.where(expected > 0, expected, 1), 0
    )
    statistic = float(terms[active].sum())
    dof = int(active.sum()) * (observed.shape[1] - 1)
    p_value = float(special.chdtrc(dof, statistic)) if dof > 0 else 1.0
    return SampleRatioCheck(
        observed=tuple(float(v) for v in observed.sum(axis=0)),
        expected=tuple(float(v) for v in expected.sum(axis=0)),
        statistic=statistic,
        degrees_of_freedom=dof,
        p_value=p_value,
        threshold=threshold,
    )
