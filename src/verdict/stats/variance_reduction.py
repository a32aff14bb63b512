"""CUPED: variance reduction with a pre-experiment covariate, for means and ratios.

Method: Deng, Xu, Kohavi & Walker (2013), "Improving the sensitivity of online
controlled experiments by utilizing pre-experiment data" (WSDM). Each arm's mean is
replaced by ``y - theta (x - x_pooled)`` where ``x`` is the unit's pre-period value of
the same (or a correlated) metric. With one ``theta`` shared by both arms the
difference stays unbiased (randomisation makes the pre-period means equal in
expectation) and its variance shrinks by the factor ``1 - rho**2``, ``rho`` being
the correlation of metric and covariate.

* ``theta = Cov(Y, X) / Var(X)`` computed on the pooled units of the arms compared
  (the sums of both arms added together, as in GrowthBook), or passed explicitly, e.g.
  :func:`cuped_theta` over every arm of a multi-arm experiment.
* Adjusted unit variance ``s_y**2 + theta**2 s_x**2 - 2 theta s_xy``; Welch df.
* Relative lift = adjusted difference / |adjusted control mean|, with Fieller's
  interval on the adjusted means and variances (:mod:`verdict.stats.relative`).
  GrowthBook divides by the unadjusted control mean instead; its delta-method
  interval then ignores the correlation of the two, and Fieller's interval needs the
  ratio of two estimates whose variances are known, so Verdict uses the adjusted one
  (both estimate the same control mean; the adjusted one more precisely).
* Ratio metrics (Deng et al. 2018, section on ratio CUPED): the ratio ``R = Y/D`` and
  the pre-period ratio ``R_x = X/W`` are linearised with the delta method, gradients
  ``g = (1/d, -y/d**2)`` and ``h = (1/w, -x/w**2)``; ``theta = Cov(gY, hX) / Var(hX)``
  from the pooled sums; the adjusted ratio is ``R - theta (R_x - R_x pooled)``.

If the covariate has no variance, ``theta`` is 0 and the test is the plain one.
"""

from __future__ import annotations

import functools
import operator

import numpy as np
import numpy.typing as npt

from verdict.stats.effects import Comparison, compare_estimates
from verdict.stats.frequentist import check_arms, ratio_estimate, welch_degrees_of_freedom
from verdict.stats.inputs import (
    FloatArray,
    as_float_array,
    check_alpha,
    check_alternative,
    check_at_least,
)
from verdict.stats.summaries import CupedSummary, RatioCupedSummary

__all__ = [
    "cuped_t_test",
    "cuped_theta",
    "ratio_cuped_t_test",
    "ratio_cuped_theta",
]


def cuped_theta(*summaries: CupedSummary) -> FloatArray:
    """``Cov(Y, X) / Var(X)`` over the pooled units of ``summaries`` (0 if Var(X) = 0)."""
    if not summaries:
        raise ValueError("summaries: need at least one summary to pool")
    pooled: CupedSummary = functools.reduce(operator.add, summaries)
    check_at_least("summaries n", pooled.n, 2, "pooled units for a covariance")
    var_x = pooled.covariate.variance
    with np.errstate(divide="ignore", invalid="ignore"):
        theta = pooled.covariance / var_x
    return np.asarray(np.where(var_x > 0, theta, 0.0))


def _theta(name: str, theta: npt.ArrayLike | None, default: FloatArray) -> FloatArray:
    return default if theta is None else as_float_array(name, theta)


def cuped_t_test(
    control: CupedSummary,
    treatment: CupedSummary,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    theta: npt.ArrayLike | None = None,
) -> Comparison[FloatArray]:
    """Welch's t-test on CUPED-adjusted means; ``variance_reduction`` reports the gain."""
    alpha = check_alpha(alpha)
    side = check_alternative(alternative)
    check_arms(control, treatment)
    check_at_least("control.n", control.n, 2, "units for a variance")
    check_at_least("treatment.n", treatment.n, 2, "units for a variance")
    th = _theta("theta", theta, cuped_theta(control, treatment))
    x_pooled = (control.covariate.sum + treatment.covariate.sum) / (control.n + treatment.n)

    def adjusted(arm: CupedSummary) -> tuple[FloatArray, FloatArray, FloatArray]:
        unit_var = arm.metric.variance + th**2 * arm.covariate.variance - 2 * th * arm.covariance
        mean = arm.metric.mean - th * (arm.covariate.mean - x_pooled)
        return (
            np.asarray(mean),
            np.asarray(np.maximum(unit_var, 0.0) / arm.n),
            np.asarray(arm.metric.variance / arm.n),
        )

    m_c, v_c, raw_c = adjusted(control)
    m_t, v_t, raw_t = adjusted(treatment)
    return compare_estimates(
        method="cuped",
        control_mean=m_c,
        control_variance=v_c,
        treatment_mean=m_t,
        treatment_variance=v_t,
        control_units=control.n,
        treatment_units=treatment.n,
        df=welch_degrees_of_freedom(v_c, control.n, v_t, treatment.n),
        alpha=alpha,
        alternative=side,
        variance_reduction=_reduction(v_c + v_t, raw_c + raw_t),
    )


def _reduction(adjusted: FloatArray, raw: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(raw > 0, 1.0 - adjusted / raw, 0.0))


def _linearised(arm: RatioCupedSummary) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per-unit Var(R), Var(R_x) and Cov(R, R_x) of the linearised ratios."""
    n = arm.n
    y, d = arm.metric.numerator.mean, arm.metric.denominator.mean
    x, w = arm.covariate.numerator.mean, arm.covariate.denominator.mean

    def cov(sum_products: FloatArray, sum_a: FloatArray, sum_b: FloatArray) -> FloatArray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray((sum_products - sum_a * sum_b / n) / (n - 1))

    _, var_r = ratio_estimate(arm.metric)
    _, var_rx = ratio_estimate(arm.covariate)
    num, den = arm.metric.numerator.sum, arm.metric.denominator.sum
    pre_num, pre_den = arm.covariate.numerator.sum, arm.covariate.denominator.sum
    with np.errstate(divide="ignore", invalid="ignore"):
        g1, g2 = 1 / d, -y / d**2
        h1, h2 = 1 / w, -x / w**2
        cross = (
            g1 * h1 * cov(arm.numerator_covariate_numerator, num, pre_num)
            + g1 * h2 * cov(arm.numerator_covariate_denominator, num, pre_den)
            + g2 * h1 * cov(arm.denominator_covariate_numerator, den, pre_num)
            + g2 * h2 * cov(arm.denominator_covariate_denominator, den, pre_den)
        )
    return var_r, var_rx, np.asarray(cross)


def ratio_cuped_theta(*summaries: RatioCupedSummary) -> FloatArray:
    """Pooled ``Cov(R, R_x) / Var(R_x)`` of the linearised ratios (0 if Var(R_x) = 0)."""
    if not summaries:
        raise ValueError("summaries: need at least one summary to pool")
    pooled: RatioCupedSummary = functools.reduce(operator.add, summaries)
    check_at_least("summaries n", pooled.n, 2, "pooled units for a covariance")
    _, var_rx, cross = _linearised(pooled)
    with np.errstate(divide="ignore", invalid="ignore"):
        theta = cross / var_rx
    return np.asarray(np.where(var_rx > 0, theta, 0.0))


def ratio_cuped_t_test(
    control: RatioCupedSummary,
    treatment: RatioCupedSummary,
    *,
    alpha: float = 0.05,
    alternative: str = "two-sided",
    theta: npt.ArrayLike | None = None,
) -> Comparison[FloatArray]:
    """Delta-method ratio test on CUPED-adjusted ratios (pre-period ratio as covariate)."""
    alpha = check_alpha(alpha)
    side = check_alternative(alternative)
    check_arms(control, treatment)
    check_at_least("control.n", control.n, 2, "units for a variance")
    check_at_least("treatment.n", treatment.n, 2, "units for a variance")
    th = _theta("theta", theta, ratio_cuped_theta(control, treatment))
    pooled = control.covariate + treatment.covariate
    rx_pooled = pooled.numerator.sum / pooled.denominator.sum

    def adjusted(arm: RatioCupedSummary) -> tuple[FloatArray, FloatArray, FloatArray]:
        ratio, _ = ratio_estimate(arm.metric)
        ratio_x, _ = ratio_estimate(arm.covariate)
        var_r, var_rx, cross = _linearised(arm)
        unit_var = np.maximum(var_r + th**2 * var_rx - 2 * th * cross, 0.0)
        return (
            np.asarray(ratio - th * (ratio_x - rx_pooled)),
            np.asarray(unit_var / arm.n),
            np.asarray(var_r / arm.n),
        )

    m_c, v_c, raw_c = adjusted(control)
    m_t, v_t, raw_t = adjusted(treatment)
    return compare_estimates(
        method="ratio-cuped",
        control_mean=m_c,
        control_variance=v_c,
        treatment_mean=m_t,
        treatment_variance=v_t,
        control_units=control.n,
        treatment_units=treatment.n,
        df=welch_degrees_of_freedom(v_c, control.n, v_t, treatment.n),
        alpha=alpha,
        alternative=side,
        variance_reduction=_reduction(v_c + v_t, raw_c + raw_t),
    )
