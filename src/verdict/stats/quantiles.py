"""Percentile metrics (P50, P90 latency per variant): a quantile per arm and their difference.

Method (the construction of GrowthBook's gbstats quantile tests): a
distribution-free order-statistic interval per arm (Conover, *Practical Nonparametric
Statistics*, 3rd ed., 1999, section 3.2) turned into a standard error (Price & Bonett,
"Estimating the variance of the sample median", J. Stat. Comput. Simul. 68, 2001):

* the sample p-quantile is the order statistic of rank ``k = ceil(n p)`` (numpy's
  ``method="inverted_cdf"``);
* the number of values below the true quantile is Binomial(n, p), so the order
  statistics of ranks ``l, u = ceil(n p -+ z sqrt(n p (1 - p)))`` (clipped to [1, n])
  bracket the true quantile with probability close to the confidence ``1 - a``
  (``z`` = the normal ``1 - a/2`` quantile). The database returns ``n``, ``X_(k)``,
  ``X_(l)`` and ``X_(u)`` (:class:`QuantileSummary`), never the values;
* the standard error of an arm's quantile is ``(X_(u) - X_(l)) / (2 z)`` -- the
  interval's half-width in standard-normal units;
* two independent arms: the difference ``q_t - q_c`` has standard error
  ``sqrt(se_t**2 + se_c**2)``; the test is a z-test (infinite degrees of freedom), and
  the relative lift ``q_t / q_c - 1`` takes its variance from the delta method
  (:func:`verdict.stats.effects.compare_estimates`).

The normal approximation of the ranks needs ``n p (1 - p)`` of about 10 or more (e.g.
P99 needs ~1,000 units per arm); below that the bracket covers less than its level
(P99 with 100 units: about 55 %). The tests check the ranks' coverage against the
exact binomial probability (``scipy.stats.binom``) and the test's coverage by
simulation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats as scipy_stats

from verdict.stats.effects import Comparison, compare_estimates
from verdict.stats.inputs import (
    FloatArray,
    as_float_array,
    check_alpha,
    check_alternative,
    check_at_least,
    check_probability,
)

__all__ = [
    "QuantileSummary",
    "order_statistic_ranks",
    "quantile_summary",
    "quantile_test",
    "z_value",
]


def z_value(confidence: float) -> float:
    """The two-sided standard-normal critical value of a confidence level."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence: must be strictly between 0 and 1, got {confidence!r}")
    return float(scipy_stats.norm.ppf(0.5 + confidence / 2.0))


def order_statistic_ranks(
    n: int, probability: float, confidence: float = 0.95
) -> tuple[int, int, int]:
    """1-based ranks (quantile, lower, upper) of the order statistics for ``n`` values.

    The arithmetic is the SQL's, operation for operation, so both pick the same ranks.
    """
    if n < 1:
        raise ValueError(f"n: must be at least 1, got {n!r}")
    if not 0.0 < probability < 1.0:
        raise ValueError(f"probability: must be strictly between 0 and 1, got {probability!r}")
    z = z_value(confidence)
    spread = z * math.sqrt(n * probability * (1.0 - probability))
    centre = n * probability
    rank = max(1, math.ceil(centre))
    lower = min(n, max(1, math.ceil(centre - spread)))
    upper = min(n, max(1, math.ceil(centre + spread)))
    return rank, lower, upper


@dataclass(frozen=True, init=False, eq=False)
class QuantileSummary:
    """Per arm: units, the sample quantile and the order statistics bracketing it.

    Like the other summaries, fields are float64 arrays (0-d for one arm, equal shapes
    for a batch); ``confidence`` is the level the bracketing ranks were chosen for.
    """

    n: FloatArray
    probability: FloatArray
    quantile: FloatArray
    lower: FloatArray
    upper: FloatArray
    confidence: float

    def __init__(
        self,
        n: npt.ArrayLike,
        probability: npt.ArrayLike,
        quantile: npt.ArrayLike,
        lower: npt.ArrayLike,
        upper: npt.ArrayLike,
        confidence: float = 0.95,
    ) -> None:
        arrays = [
            as_float_array(name, value)
            for name, value in (
                ("n", n),
                ("probability", probability),
                ("quantile", quantile),
                ("lower", lower),
                ("upper", upper),
            )
        ]
        try:
            n_, probability_, quantile_, lower_, upper_ = (
                np.array(a) for a in np.broadcast_arrays(*arrays)
            )
        except ValueError as error:
            raise ValueError("quantile summary fields: shapes do not broadcast") from error
        check_at_least("n", n_, 1, "units for a quantile")
        check_probability("probability", probability_)
        if np.any((lower_ > quantile_) | (quantile_ > upper_)):
            raise ValueError("lower: lower <= quantile <= upper must hold")
        z_value(confidence)
        object.__setattr__(self, "n", n_)
        object.__setattr__(self, "probability", probability_)
        object.__setattr__(self, "quantile", quantile_)
        object.__setattr__(self, "lower", lower_)
        object.__setattr__(self, "upper", upper_)
        object.__setattr__(self, "confidence", float(confidence))

    @property
    def std_error(self) -> FloatArray:
        """Standard error of the sample quantile: the bracket's width over ``2 z``."""
        return np.asarray((self.upper - self.lower) / (2.0 * z_value(self.confidence)))

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the batch (``()`` for a single arm)."""
        return tuple(np.shape(self.n))


def quantile_summary(
    values: npt.ArrayLike, probability: float, confidence: float = 0.95
) -> QuantileSummary:
    """The summary of per-unit values held in memory (notebooks, tests)."""
    array = np.sort(np.asarray(values, dtype=np.float64).ravel())
    if not np.all(np.isfinite(array)):
        raise ValueError("values: must be finite numbers")
    rank, lower, upper = order_statistic_ranks(int(array.size), probability, confidence)
    return QuantileSummary(
        n=array.size,
        probability=probability,
        quantile=array[rank - 1],
        lower=array[lower - 1],
        upper=array[upper - 1],
        confidence=confidence,
    )


def quantile_test(
    control: QuantileSummary,
    treatment: QuantileSummary,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
) -> Comparison[FloatArray]:
    """Difference of two arms' quantiles (z-test) and the relative lift (delta method)."""
    alpha = check_alpha(alpha)
    side = check_alternative(alternative)
    try:
        ours, theirs = np.broadcast_arrays(control.probability, treatment.probability)
        same = np.array_equal(ours, theirs)
    except ValueError as error:
        raise ValueError("treatment: batch shapes of the arms do not match") from error
    if not same:
        raise ValueError("treatment.probability: the arms hold different quantiles")
    return compare_estimates(
        method="quantile",
        control_mean=control.quantile,
        control_variance=control.std_error**2,
        treatment_mean=treatment.quantile,
        treatment_variance=treatment.std_error**2,
        control_units=control.n,
        treatment_units=treatment.n,
        df=np.full(np.broadcast_shapes(control.shape, treatment.shape), np.inf),
        alpha=alpha,
        alternative=side,
    )
