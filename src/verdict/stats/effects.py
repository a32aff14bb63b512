"""From two arm estimates to an effect: difference, relative lift, intervals, p-values.

Every frequentist comparison in Verdict (Welch, two-proportion z, ratio, CUPED) ends
here: it reduces each arm to an estimate ``m`` and the variance ``v`` of that estimate,
and this module turns them into

* the absolute difference ``d = m_t - m_c`` with standard error ``sqrt(v_t + v_c)``;
* the relative lift ``L = d / b_c`` where ``b_c`` is the control's baseline mean (the
  control estimate itself, or its unadjusted mean under CUPED), with the delta-method
  variance ``Var(L) = v_t / b_c**2 + v_c * b_t**2 / b_c**4`` that includes the control
  mean's uncertainty (Deng, Knoblich & Lu 2018, "Applying the delta method in metric
  analytics", KDD; the same convention as GrowthBook's gbstats). Without CUPED,
  ``L = m_t / m_c - 1`` exactly;
* p-values and (1 - alpha) intervals from Student's t with the given degrees of
  freedom (Welch-Satterthwaite for means, infinity -- the normal -- for proportions).

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

__all__ = ["Comparison", "Effect", "compare_estimates", "p_value", "quantile"]

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
    has turned the intervals into confidence sequences. ``variance_reduction`` is
    the share of the difference's variance that CUPED removed (``None`` otherwise).
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
            variance_reduction=None if reduction is None else pick(reduction, index),
        )

    def item(self: Comparison[FloatArray]) -> Comparison[float]:
        """The only comparison of a scalar (0-d or one-element) batch, as floats."""
        if np.size(self.control_mean) != 1:
            raise ValueError(f"item: the batch holds {np.size(self.control_mean)} comparisons")
        return self.at((0,) * np.ndim(self.control_mean))

    def to_dict(self: Comparison[float]) -> dict[str, Any]:
        """JSON-friendly: NaN and infinities become ``None``."""
        reduction = self.variance_reduction
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


def _effect(
    estimate: FloatArray,
    std_error: FloatArray,
    null_std_error: FloatArray,
    df: FloatArray,
    alpha: float,
    alternative: Alternative,
) -> Effect[FloatArray]:
    if alternative == "two-sided":
        half_width = quantile(1.0 - alpha / 2.0, df) * std_error
        lower, upper = estimate - half_width, estimate + half_width
    elif alternative == "greater":
        lower = estimate - quantile(1.0 - alpha, df) * std_error
        upper = np.full_like(estimate, np.inf)
    else:
        lower = np.full_like(estimate, -np.inf)
        upper = estimate + quantile(1.0 - alpha, df) * std_error
    return Effect(
        estimate=estimate,
        std_error=std_error,
        lower=np.asarray(lower),
        upper=np.asarray(upper),
        p_value=p_value(_statistic(estimate, null_std_error), df, alternative),
    )


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
    control_baseline: FloatArray | None = None,
    treatment_baseline: FloatArray | None = None,
    variance_reduction: FloatArray | None = None,
) -> Comparison[FloatArray]:
    """Absolute and relative effects from each arm's estimate and its variance.

    ``*_variance`` is the variance of the arm's estimate (already divided by n).
    ``null_std_error`` replaces the standard error in the absolute test statistic
    (the pooled standard error of the two-proportion z-test); the interval always
    uses the unpooled one. ``*_baseline`` are the means the relative lift is taken
    against (default: the estimates themselves).
    """
    base_c = control_mean if control_baseline is None else control_baseline
    base_t = treatment_mean if treatment_baseline is None else treatment_baseline
    difference = np.asarray(treatment_mean - control_mean)
    std_error = np.asarray(np.sqrt(control_variance + treatment_variance))
    df = np.asarray(np.where(np.isnan(df), np.inf, df))
    with np.errstate(divide="ignore", invalid="ignore"):
        zero_base = base_c == 0
        safe_base = np.where(zero_base, np.nan, base_c)
        lift = np.asarray(difference / safe_base)
        lift_variance = (
            treatment_variance / safe_base**2 + control_variance * base_t**2 / safe_base**4
        )
    lift_std_error = np.asarray(np.sqrt(lift_variance))
    absolute = _effect(
        difference,
        std_error,
        std_error if null_std_error is None else null_std_error,
        df,
        alpha,
        alternative,
    )
    relative = _effect(lift, lift_std_error, lift_std_error, df, alpha, alternative)
    return Comparison(
        method=method,
        alternative=alternative,
        alpha=alpha,
        control_mean=np.asarray(control_mean),
        treatment_mean=np.asarray(treatment_mean),
        control_units=np.asarray(control_units),
        treatment_units=np.asarray(treatment_units),
        degrees_of_freedom=df,
        absolute=absolute,
        relative=relative,
        variance_reduction=variance_reduction,
    )


def _json(value: float) -> float | None:
    return value if math.isfinite(value) else None
