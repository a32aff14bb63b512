"""From two arm estimates to an effect: difference, relative lift, intervals, p-values.

Every frequentist comparison in Verdict (Welch, two-proportion z, ratio, CUPED) ends
here: it reduces each arm to an estimate ``m`` and the variance ``v`` of that estimate,
and this module turns them into

* the absolute difference ``d = m_t - m_c`` with standard error ``sqrt(v_t + v_c)``;
  p-values and (1 - alpha) intervals from Student's t with the given degrees of
  freedom (Welch-Satterthwaite for means, infinity -- the normal -- for proportions);
* the relative lift ``L = d / |m_c|`` (the sign of "better" never inverts under a
  negative control mean). Its interval is Fieller's (means, ratios, CUPED) or
  Koopman's score interval (proportions), :mod:`verdict.stats.relative`; its test is
  the absolute test (``L = 0`` exactly when ``d = 0``), so the relative p-value *is*
  the absolute one and the interval excludes 0 exactly when that test rejects. The
  reported ``std_error`` of the lift is the delta-method one at the observed means
  (Deng, Knoblich & Lu 2018, KDD; gbstats' convention), descriptive only: intervals
  and tests built on it miss on one side (the measured figures are in
  ``docs/statistics.md``);
* a :class:`~verdict.stats.status.DataStatus` per element: zero estimated variance,
  undefined estimates, a zero control mean and small conversion counts are flagged,
  and where nothing can be judged the p-values and intervals are NaN, never 0.

Results are generic frozen dataclasses: ``Comparison[FloatArray]`` for a batch and
``Comparison[float]`` for one comparison (``batch.at(i)`` or ``batch.item()``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
from scipy import special

from verdict.stats.inputs import Alternative, FloatArray, Index, pick
from verdict.stats.relative import fieller_lift_bounds, log_lift_bounds, score_lift_bounds
from verdict.stats.status import (
    SMALL_COUNT,
    DataStatus,
    StatusArray,
    status_array,
    status_of,
)

__all__ = [
    "Comparison",
    "Effect",
    "compare_estimates",
    "critical_values",
    "data_status",
    "is_proportion_test",
    "p_value",
    "quantile",
    "relative_bounds",
]

V = TypeVar("V")


@dataclass(frozen=True)
class Effect(Generic[V]):
    """An estimated effect with its standard error, (1 - alpha) interval and p-value.

    For a one-sided alternative the interval is one-sided (one bound infinite).
    """

    estimate: V
    std_error: V
    lower: V
    upper: V
    p_value: V

    def at(self: Effect[FloatArray], index: Index = ()) -> Effect[float]:
        """The effect of one element of a batch, as floats."""
        return Effect(
            estimate=pick(self.estimate, index),
            std_error=pick(self.std_error, index),
            lower=pick(self.lower, index),
            upper=pick(self.upper, index),
            p_value=pick(self.p_value, index),
        )

    def to_dict(self: Effect[float]) -> dict[str, float | None]:
        """JSON-friendly: NaN and infinities become ``None``."""
        return {
            "estimate": _json(self.estimate),
            "std_error": _json(self.std_error),
            "lower": _json(self.lower),
            "upper": _json(self.upper),
            "p_value": _json(self.p_value),
        }


@dataclass(frozen=True)
class Comparison(Generic[V]):
    """Treatment against control on one metric: absolute and relative effects.

    ``method`` names the test ("welch", "z", "ratio-delta", "cuped", "ratio-cuped"),
    prefixed by "sequential " once :func:`verdict.stats.sequential.make_sequential`
    has turned the intervals into confidence sequences. ``control_variance`` and
    ``treatment_variance`` are the variances of the arm estimates (already divided
    by n). ``status`` holds a :class:`~verdict.stats.status.DataStatus` value per
    element (:meth:`data_status` for one comparison). ``variance_reduction`` is the
    share of the difference's variance that CUPED removed (``None`` otherwise).
    """

    method: str
    alternative: Alternative
    alpha: float
    control_mean: V
    treatment_mean: V
    control_units: V
    treatment_units: V
    degrees_of_freedom: V
    absolute: Effect[V]
    relative: Effect[V]
    control_variance: V
    treatment_variance: V
    status: StatusArray
    variance_reduction: V | None = None

    def at(self: Comparison[FloatArray], index: Index = ()) -> Comparison[float]:
        """The comparison of one element of a batch, as floats."""
        reduction = self.variance_reduction
        return Comparison(
            method=self.method,
            alternative=self.alternative,
            alpha=self.alpha,
            control_mean=pick(self.control_mean, index),
            treatment_mean=pick(self.treatment_mean, index),
            control_units=pick(self.control_units, index),
            treatment_units=pick(self.treatment_units, index),
            degrees_of_freedom=pick(self.degrees_of_freedom, index),
            absolute=self.absolute.at(index),
            relative=self.relative.at(index),
            control_variance=pick(self.control_variance, index),
            treatment_variance=pick(self.treatment_variance, index),
            status=np.asarray(self.status[index], dtype="<U20"),
            variance_reduction=None if reduction is None else pick(reduction, index),
        )

    def item(self: Comparison[FloatArray]) -> Comparison[float]:
        """The only comparison of a scalar (0-d or one-element) batch, as floats."""
        if np.size(self.control_mean) != 1:
            raise ValueError(f"item: the batch holds {np.size(self.control_mean)} comparisons")
        return self.at((0,) * np.ndim(self.control_mean))

    def data_status(self) -> DataStatus:
        """The :class:`DataStatus` of a single comparison (raises for a larger batch)."""
        return status_of(self.status)

    def judgeable(self) -> bool:
        """Whether a single comparison has a p-value to judge by."""
        return self.data_status().judgeable

    def to_dict(self: Comparison[float]) -> dict[str, Any]:
        """JSON-friendly: NaN and infinities become ``None``."""
        reduction = self.variance_reduction
        status = self.data_status()
        return {
            "method": self.method,
            "alternative": self.alternative,
            "alpha": self.alpha,
            "control_mean": _json(self.control_mean),
            "treatment_mean": _json(self.treatment_mean),
            "control_units": _json(self.control_units),
            "treatment_units": _json(self.treatment_units),
            "degrees_of_freedom": _json(self.degrees_of_freedom),
            "absolute": self.absolute.to_dict(),
            "relative": self.relative.to_dict(),
            "status": status.value,
            "status_reason": None if status is DataStatus.OK else status.reason,
            "variance_reduction": None if reduction is None else _json(reduction),
        }


def quantile(probability: float | FloatArray, df: FloatArray) -> FloatArray:
    """Student-t quantile with ``df`` degrees of freedom (the normal where df is infinite)."""
    return np.asarray(special.stdtrit(df, probability))


def p_value(statistic: FloatArray, df: FloatArray, alternative: Alternative) -> FloatArray:
    """p-value of a t (or, with infinite df, z) statistic for the alternative."""
    if alternative == "two-sided":
        return np.asarray(np.minimum(2.0 * special.stdtr(df, -np.abs(statistic)), 1.0))
    if alternative == "greater":
        return np.asarray(special.stdtr(df, -statistic))
    return np.asarray(special.stdtr(df, statistic))


def _statistic(estimate: FloatArray, std_error: FloatArray) -> FloatArray:
    """estimate / std_error, with 0/0 -> 0 (no evidence) and x/0 -> +-inf."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = estimate / std_error
    return np.asarray(np.where((std_error == 0) & (estimate == 0), 0.0, ratio))


def critical_values(alpha: float, df: FloatArray, alternative: Alternative) -> FloatArray:
    """The t (or z) critical value: quantile ``1 - alpha/2`` two-sided, else ``1 - alpha``."""
    level = 1.0 - alpha / 2.0 if alternative == "two-sided" else 1.0 - alpha
    return quantile(level, df)


def is_proportion_test(method: str) -> bool:
    """Whether a comparison's method is the two-proportion z-test (plain or sequential)."""
    return method.split(" ")[-1] == "z"


def relative_bounds(
    *,
    method: str,
    control_mean: FloatArray,
    control_variance: FloatArray,
    treatment_mean: FloatArray,
    treatment_variance: FloatArray,
    control_units: FloatArray,
    treatment_units: FloatArray,
    critical: FloatArray,
    alternative: Alternative,
) -> tuple[FloatArray, FloatArray]:
    """The lift interval at ``critical``: Koopman's score for proportions, the log scale
    for inverse-propensity weighted arms (method ``ipw``), else Fieller's."""
    if method.split(" ")[-1] == "ipw":
        lower, upper = log_lift_bounds(
            treatment_mean, treatment_variance, control_mean, control_variance, critical
        )
    elif is_proportion_test(method):
        lower, upper = score_lift_bounds(
            treatment_mean * treatment_units,
            treatment_units,
            control_mean * control_units,
            control_units,
            critical,
        )
    else:
        lower, upper = fieller_lift_bounds(
            treatment_mean, treatment_variance, control_mean, control_variance, critical
        )
    if alternative == "greater":
        upper = np.full_like(upper, np.inf)
    elif alternative == "less":
        lower = np.full_like(lower, -np.inf)
    return lower, upper


def data_status(
    *,
    method: str,
    control_mean: FloatArray,
    control_variance: FloatArray,
    treatment_mean: FloatArray,
    treatment_variance: FloatArray,
    control_units: FloatArray,
    treatment_units: FloatArray,
) -> StatusArray:
    """Per-element :class:`DataStatus` of a comparison (see :mod:`verdict.stats.status`)."""
    shape = np.broadcast_shapes(
        np.shape(control_mean),
        np.shape(treatment_mean),
        np.shape(control_variance),
        np.shape(treatment_variance),
    )
    undefined = ~(
        np.isfinite(control_mean)
        & np.isfinite(treatment_mean)
        & np.isfinite(control_variance)
        & np.isfinite(treatment_variance)
    )
    no_variance = (control_variance + treatment_variance) == 0
    no_baseline = control_mean == 0
    conditions = [
        (undefined, DataStatus.UNDEFINED),
        (no_variance, DataStatus.NO_VARIANCE),
    ]
    if is_proportion_test(method):
        total = control_units + treatment_units
        with np.errstate(divide="ignore", invalid="ignore"):
            pooled = (control_mean * control_units + treatment_mean * treatment_units) / total
        rarer = np.minimum(pooled, 1.0 - pooled)
        smallest_cell = rarer * np.minimum(control_units, treatment_units)
        conditions.append((np.asarray(smallest_cell < SMALL_COUNT), DataStatus.SMALL_COUNTS))
    conditions.append((no_baseline, DataStatus.NO_BASELINE))
    return status_array(shape, conditions)


def _blank(array: FloatArray, mask: FloatArray | np.ndarray[Any, Any]) -> FloatArray:
    return np.asarray(np.where(mask, np.nan, array))


def compare_estimates(
    *,
    method: str,
    control_mean: FloatArray,
    control_variance: FloatArray,
    treatment_mean: FloatArray,
    treatment_variance: FloatArray,
    control_units: FloatArray,
    treatment_units: FloatArray,
    df: FloatArray,
    alpha: float,
    alternative: Alternative,
    null_std_error: FloatArray | None = None,
    variance_reduction: FloatArray | None = None,
) -> Comparison[FloatArray]:
    """Absolute and relative effects from each arm's estimate and its variance.

    ``*_variance`` is the variance of the arm's estimate (already divided by n).
    ``null_std_error`` replaces the standard error in the absolute test statistic
    (the pooled standard error of the two-proportion z-test); the interval always
    uses the unpooled one. A ``method`` of "z" makes the relative interval Koopman's
    score interval on the counts ``mean * units``; "ipw" (weighted bandit arms) the log
    scale (:func:`~verdict.stats.relative.log_lift_bounds`); any other, Fieller's.
    """
    arrays = np.broadcast_arrays(
        np.asarray(control_mean, dtype=np.float64),
        np.asarray(control_variance, dtype=np.float64),
        np.asarray(treatment_mean, dtype=np.float64),
        np.asarray(treatment_variance, dtype=np.float64),
        np.asarray(control_units, dtype=np.float64),
        np.asarray(treatment_units, dtype=np.float64),
        np.asarray(df, dtype=np.float64),
    )
    m_c, v_c, m_t, v_t, n_c, n_t, df = (np.array(a) for a in arrays)
    df = np.asarray(np.where(np.isnan(df), np.inf, df))
    status = data_status(
        method=method,
        control_mean=m_c,
        control_variance=v_c,
        treatment_mean=m_t,
        treatment_variance=v_t,
        control_units=n_c,
        treatment_units=n_t,
    )
    blind = np.isin(status, (DataStatus.UNDEFINED.value, DataStatus.NO_VARIANCE.value))
    no_lift = blind | (m_c == 0)

    difference = np.asarray(m_t - m_c)
    std_error = np.asarray(np.sqrt(v_c + v_t))
    critical = critical_values(alpha, df, alternative)
    if alternative == "two-sided":
        lower, upper = difference - critical * std_error, difference + critical * std_error
    elif alternative == "greater":
        lower, upper = difference - critical * std_error, np.full_like(difference, np.inf)
    else:
        lower, upper = np.full_like(difference, -np.inf), difference + critical * std_error
    null_se = std_error if null_std_error is None else np.asarray(null_std_error)
    p = p_value(_statistic(difference, null_se), df, alternative)
    absolute = Effect(
        estimate=difference,
        std_error=std_error,
        lower=_blank(np.asarray(lower), blind),
        upper=_blank(np.asarray(upper), blind),
        p_value=_blank(p, blind),
    )

    with np.errstate(divide="ignore", invalid="ignore"):
        base = np.where(m_c == 0, np.nan, np.abs(m_c))
        lift = np.asarray(difference / base)
        lift_std_error = np.sqrt(v_t / base**2 + v_c * m_t**2 / base**4)
        rel_lower, rel_upper = relative_bounds(
            method=method,
            control_mean=m_c,
            control_variance=v_c,
            treatment_mean=m_t,
            treatment_variance=v_t,
            control_units=n_c,
            treatment_units=n_t,
            critical=critical,
            alternative=alternative,
        )
    relative = Effect(
        estimate=_blank(lift, no_lift),
        std_error=_blank(np.asarray(lift_std_error), no_lift),
        lower=_blank(np.asarray(np.minimum(rel_lower, lift)), no_lift),
        upper=_blank(np.asarray(np.maximum(rel_upper, lift)), no_lift),
        # L = 0 exactly when d = 0: the test stands even where L has no value.
        p_value=_blank(p, blind),
    )
    return Comparison(
        method=method,
        alternative=alternative,
        alpha=alpha,
        control_mean=m_c,
        treatment_mean=m_t,
        control_units=n_c,
        treatment_units=n_t,
        degrees_of_freedom=df,
        absolute=absolute,
        relative=relative,
        control_variance=v_c,
        treatment_variance=v_t,
        status=status,
        variance_reduction=variance_reduction,
    )


def _json(value: float) -> float | None:
    return value if math.isfinite(value) else None
