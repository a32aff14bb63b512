"""CUPED for means and ratios: against raw-data computations and the 1 - rho**2 law."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from tests.unit.stats.samples import cuped_summary, mean_summary, ratio_summary
from verdict.stats import (
    CupedSummary,
    MeanSummary,
    RatioCupedSummary,
    cuped_t_test,
    cuped_theta,
    ratio_cuped_t_test,
    welch_t_test,
)


def _correlated(
    rng: np.random.Generator, n: int, rho: float, shift: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    covariate = rng.normal(10.0, 3.0, n)
    noise = rng.normal(0.0, 3.0, n)
    metric = 10.0 + shift + rho * (covariate - 10.0) + np.sqrt(1 - rho**2) * noise
    return metric, covariate


def test_theta_is_the_pooled_regression_slope() -> None:
    rng = np.random.default_rng(1)
    (y_c, x_c), (y_t, x_t) = _correlated(rng, 500, 0.6), _correlated(rng, 600, 0.6, 0.5)
    y, x = np.concatenate([y_c, y_t]), np.concatenate([x_c, x_t])
    theta = cuped_theta(cuped_summary(y_c, x_c), cuped_summary(y_t, x_t))
    assert float(theta) == pytest.approx(np.cov(y, x)[0, 1] / np.var(x, ddof=1))


def test_cuped_is_welch_on_the_adjusted_values() -> None:
    rng = np.random.default_rng(2)
    (y_c, x_c), (y_t, x_t) = _correlated(rng, 800, 0.7), _correlated(rng, 900, 0.7, 0.3)
    ours = cuped_t_test(cuped_summary(y_c, x_c), cuped_summary(y_t, x_t)).item()
    y, x = np.concatenate([y_c, y_t]), np.concatenate([x_c, x_t])
    theta = np.cov(y, x)[0, 1] / np.var(x, ddof=1)
    ref = stats.ttest_ind(y_t - theta * x_t, y_c - theta * x_c, equal_var=False)
    assert ours.absolute.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert ours.degrees_of_freedom == pytest.approx(ref.df, rel=1e-9)
    # Relative lift: adjusted difference over the adjusted control mean.
    x_pooled = x.mean()
    adjusted_c = (y_c - theta * (x_c - x_pooled)).mean()
    adjusted_t = (y_t - theta * (x_t - x_pooled)).mean()
    assert ours.relative.estimate == pytest.approx(adjusted_t / adjusted_c - 1)


def test_variance_reduction_is_one_minus_rho_squared() -> None:
    # Deng et al. (2013): Var(adjusted) = Var(Y) (1 - rho**2).
    rng = np.random.default_rng(3)
    for rho in (0.3, 0.7, 0.9):
        control, treatment = _correlated(rng, 50_000, rho), _correlated(rng, 50_000, rho)
        result = cuped_t_test(cuped_summary(*control), cuped_summary(*treatment)).item()
        assert result.variance_reduction == pytest.approx(rho**2, abs=0.01)


def test_theta_zero_gives_back_the_plain_welch_test() -> None:
    rng = np.random.default_rng(4)
    (y_c, x_c), (y_t, x_t) = _correlated(rng, 300, 0.5), _correlated(rng, 300, 0.5)
    cuped = cuped_t_test(cuped_summary(y_c, x_c), cuped_summary(y_t, x_t), theta=0.0).item()
    plain = welch_t_test(mean_summary(y_c), mean_summary(y_t)).item()
    assert cuped.absolute.p_value == pytest.approx(plain.absolute.p_value)
    assert cuped.variance_reduction == pytest.approx(0.0)


def test_cuped_keeps_the_false_positive_rate_and_narrows_the_interval() -> None:
    rng = np.random.default_rng(5)
    sims, n, rho = 2_000, 200, 0.8
    covariate = rng.normal(0.0, 1.0, (2, sims, n))
    metric = rho * covariate + np.sqrt(1 - rho**2) * rng.normal(0.0, 1.0, (2, sims, n))

    def summary(arm: int) -> CupedSummary:
        y, x = metric[arm], covariate[arm]
        return CupedSummary(
            MeanSummary(n, y.sum(1), (y**2).sum(1)),
            MeanSummary(n, x.sum(1), (x**2).sum(1)),
            (y * x).sum(1),
        )

    result = cuped_t_test(summary(0), summary(1))
    rate = np.mean(result.absolute.p_value < 0.05)
    print(f"\nCUPED A/A false-positive rate, rho 0.8, {sims} tests: {rate:.4f}")
    assert 0.04 <= rate <= 0.06, rate
    assert np.median(result.variance_reduction) == pytest.approx(rho**2, abs=0.05)


def _ratio_cuped(y: np.ndarray, d: np.ndarray, x: np.ndarray, w: np.ndarray) -> RatioCupedSummary:
    return RatioCupedSummary(
        ratio_summary(y, d),
        ratio_summary(x, w),
        numerator_covariate_numerator=float(np.sum(y * x)),
        numerator_covariate_denominator=float(np.sum(y * w)),
        denominator_covariate_numerator=float(np.sum(d * x)),
        denominator_covariate_denominator=float(np.sum(d * w)),
    )


def _ratio_arm(rng: np.random.Generator, n: int, value: float) -> tuple[np.ndarray, ...]:
    activity = rng.gamma(2.0, 1.0, n)
    pre_orders = rng.poisson(activity * 2).astype(float)
    pre_revenue = pre_orders * rng.gamma(4.0, 5.0, n)
    orders = rng.poisson(activity * 2).astype(float)
    revenue = orders * rng.gamma(4.0, value / 4.0, n) + 0.3 * pre_revenue
    return revenue, orders, pre_revenue, pre_orders


def test_ratio_cuped_equals_welch_on_linearised_adjusted_values() -> None:
    rng = np.random.default_rng(6)
    control, treatment = _ratio_arm(rng, 1_500, 20.0), _ratio_arm(rng, 1_600, 21.0)
    ours = ratio_cuped_t_test(_ratio_cuped(*control), _ratio_cuped(*treatment)).item()

    def influence(y: np.ndarray, d: np.ndarray) -> np.ndarray:
        return (y - y.sum() / d.sum() * d) / d.mean()

    pooled = [np.concatenate([c, t]) for c, t in zip(control, treatment, strict=True)]
    l_y, l_x = influence(pooled[0], pooled[1]), influence(pooled[2], pooled[3])
    theta = np.cov(l_y, l_x)[0, 1] / np.var(l_x, ddof=1)
    adjusted = [
        y.sum() / d.sum() + influence(y, d) - theta * (x.sum() / w.sum() + influence(x, w))
        for y, d, x, w in (control, treatment)
    ]
    ref = stats.ttest_ind(adjusted[1], adjusted[0], equal_var=False)
    assert ours.absolute.estimate == pytest.approx(adjusted[1].mean() - adjusted[0].mean())
    assert ours.absolute.p_value == pytest.approx(ref.pvalue, rel=1e-8)
    assert 0.05 < (ours.variance_reduction or 0.0) < 1.0


def test_cuped_needs_two_units_per_arm() -> None:
    tiny = cuped_summary(np.array([1.0]), np.array([2.0]))
    other = cuped_summary(np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.5, 3.0]))
    with pytest.raises(ValueError, match=r"control\.n: must be at least 2"):
        cuped_t_test(tiny, other)
