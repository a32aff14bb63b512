"""Fixed-horizon frequentist tests: Welch's t, the two-proportion z-test, ratio metrics.

* Means -- Welch's unequal-variance t-test (Welch 1947, "The generalization of
  'Student's' problem when several different population variances are involved",
  Biometrika 34): each arm's estimate is its sample mean with variance ``s**2 / n``;
  the degrees of freedom are Welch-Satterthwaite's
  ``(v_c + v_t)**2 / (v_c**2 / (n_c - 1) + v_t**2 / (n_t - 1))``.
* Proportions -- the two-proportion z-test. The test statistic uses the pooled
  proportion under H0, ``p = (x_c + x_t) / (n_c + n_t)``,
  ``se0 = sqrt(p (1 - p) (1/n_c + 1/n_t))`` (as statsmodels' ``proportions_ztest``);
  the interval uses the unpooled ``sqrt(p_c (1 - p_c)/n_c + p_t (1 - p_t)/n_t)``
  (the Wald interval). ``pooled=False`` tests with the unpooled error too.
* Ratio metrics (numerator and denominator per randomisation unit, e.g. revenue per
  order) -- the delta method (Deng, Knoblich & Lu 2018): with per-unit means
  ``y, d`` and sample (co)variances, ``Var(R) = (s_y**2/d**2 - 2 y s_yd/d**3 +
  y**2 s_d**2/d**4) / n``, and Welch-Satterthwaite degrees of freedom.

The relative lift, its Fieller (or, for proportions, Koopman score) interval and the
data status ("not enough data") are computed in :mod:`verdict.stats.effects`.
All functions accept scalar or batch summaries and return ``Comparison[FloatArray]``;
``.item()`` or ``.at(i)`` gives floats.
"""

from __future__ import annotations

import numpy as np

from verdict.stats.effects import Comparison, compare_estimates
from verdict.stats.inputs import (
    FloatArray,
    check_alpha,
    check_alternative,
    check_at_least,
    check_same_batch,
)
from verdict.stats.summaries import (
    CupedSummary,
    MeanSummary,
    ProportionSummary,
    RatioCupedSummary,
    RatioSummary,
)

__all__ = [
    "check_arms",
    "ratio_delta_test",
    "ratio_estimate",
    "two_proportion_z_test",
    "welch_degrees_of_freedom",
    "welch_t_test",
]


def welch_degrees_of_freedom(
    control_variance: FloatArray,
    control_units: FloatArray,
    treatment_variance: FloatArray,
    treatment_units: FloatArray,
) -> FloatArray:
    """Welch-Satterthwaite df from each arm's estimate variance (``s**2 / n``) and units."""
    with np.errstate(divide="ignore", invalid="ignore"):
        numerator = (control_variance + treatment_variance) ** 2
        denominator = control_variance**2 / (control_units - 1) + treatment_variance**2 / (
            treatment_units - 1
        )
        return np.asarray(numerator / denominator)


def _check_units(name: str, n: FloatArray, minimum: float, why: str) -> None:
    check_at_least(f"{name}.n", n, minimum, why)


def check_arms(
    control: MeanSummary | RatioSummary | CupedSummary | RatioCupedSummary,
    treatment: MeanSummary | RatioSummary | CupedSummary | RatioCupedSummary,
) -> None:
    """Raise, naming both shapes, unless the arms' batch shapes broadcast."""
    check_same_batch({"control": control.shape, "treatment": treatment.shape})


def welch_t_test(
    control: MeanSummary,
    treatment: MeanSummary,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
) -> Comparison[FloatArray]:
    """Welch's t-test of treatment minus control, with the relative lift."""
    alpha = check_alpha(alpha)
    side = check_alternative(alternative)
    check_arms(control, treatment)
    _check_units("control", control.n, 2, "units for a variance")
    _check_units("treatment", treatment.n, 2, "units for a variance")
    v_c = control.variance / control.n
    v_t = treatment.variance / treatment.n
    return compare_estimates(
        method="welch",
        control_mean=control.mean,
        control_variance=v_c,
        treatment_mean=treatment.mean,
        treatment_variance=v_t,
        control_units=control.n,
        treatment_units=treatment.n,
        df=welch_degrees_of_freedom(v_c, control.n, v_t, treatment.n),
        alpha=alpha,
        alternative=side,
    )


def two_proportion_z_test(
    control: ProportionSummary,
    treatment: ProportionSummary,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    pooled: bool = True,
) -> Comparison[FloatArray]:
    """Two-proportion z-test (pooled standard error under H0) with Wald intervals.

    The relative lift's interval is Koopman's score interval, which agrees with the
    pooled test; fewer than 5 expected conversions in an arm set ``small_counts``.
    """
    alpha = check_alpha(alpha)
    side = check_alternative(alternative)
    check_arms(control, treatment)
    _check_units("control", control.n, 1, "unit for a proportion")
    _check_units("treatment", treatment.n, 1, "unit for a proportion")
    p_c, p_t = control.mean, treatment.mean
    v_c = p_c * (1 - p_c) / control.n
    v_t = p_t * (1 - p_t) / treatment.n
    null_std_error = None
    if pooled:
        p = (control.sum + treatment.sum) / (control.n + treatment.n)
        null_std_error = np.asarray(np.sqrt(p * (1 - p) * (1 / control.n + 1 / treatment.n)))
    return compare_estimates(
        method="z",
        control_mean=p_c,
        control_variance=np.asarray(v_c),
        treatment_mean=p_t,
        treatment_variance=np.asarray(v_t),
        control_units=control.n,
        treatment_units=treatment.n,
        df=np.full_like(p_c, np.inf),
        alpha=alpha,
        alternative=side,
        null_std_error=null_std_error,
    )


def ratio_estimate(summary: RatioSummary) -> tuple[FloatArray, FloatArray]:
    """The ratio ``sum(num) / sum(den)`` and its per-unit delta-method variance.

    The estimate's variance is the unit variance divided by ``n``. Where the
    denominator mean is 0 the ratio and its variance are NaN.
    """
    y, d = summary.numerator.mean, summary.denominator.mean
    with np.errstate(divide="ignore", invalid="ignore"):
        safe_d = np.where(d == 0, np.nan, d)
        ratio = y / safe_d
        unit_variance = (
            summary.numerator.variance / safe_d**2
            - 2 * y * summary.covariance / safe_d**3
            + y**2 * summary.denominator.variance / safe_d**4
        )
    return np.asarray(ratio), np.asarray(np.maximum(unit_variance, 0.0))


def ratio_delta_test(
    control: RatioSummary,
    treatment: RatioSummary,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
) -> Comparison[FloatArray]:
    """Ratio metric (e.g. revenue per order) by the delta method, Welch df."""
    alpha = check_alpha(alpha)
    side = check_alternative(alternative)
    check_arms(control, treatment)
    _check_units("control", control.n, 2, "units for a variance")
    _check_units("treatment", treatment.n, 2, "units for a variance")
    r_c, u_c = ratio_estimate(control)
    r_t, u_t = ratio_estimate(treatment)
    v_c, v_t = u_c / control.n, u_t / treatment.n
    return compare_estimates(
        method="ratio-delta",
        control_mean=r_c,
        control_variance=v_c,
        treatment_mean=r_t,
        treatment_variance=v_t,
        control_units=control.n,
        treatment_units=treatment.n,
        df=welch_degrees_of_freedom(v_c, control.n, v_t, treatment.n),
        alpha=alpha,
        alternative=side,
    )
