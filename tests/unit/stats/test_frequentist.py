"""Welch, two-proportion z and delta-method ratio tests against scipy and statsmodels."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from scipy import optimize, stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from tests.unit.stats.samples import mean_summary, ratio_summary
from verdict.stats import (
    MeanSummary,
    ProportionSummary,
    ratio_delta_test,
    two_proportion_z_test,
    welch_t_test,
)


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_welch_matches_scipy_ttest_ind_on_the_raw_samples(alternative: str) -> None:
    rng = np.random.default_rng(11)
    control = rng.lognormal(0.0, 1.0, 300)
    treatment = rng.lognormal(0.15, 1.3, 450)
    ours = welch_t_test(
        mean_summary(control), mean_summary(treatment), alternative=alternative, alpha=0.1
    ).item()
    ref = stats.ttest_ind(treatment, control, equal_var=False, alternative=alternative)
    interval = ref.confidence_interval(confidence_level=0.9)
    assert ours.absolute.p_value == pytest.approx(ref.pvalue, rel=1e-10)
    assert ours.degrees_of_freedom == pytest.approx(ref.df, rel=1e-10)
    assert ours.absolute.lower == pytest.approx(interval.low, rel=1e-10)
    assert ours.absolute.upper == pytest.approx(interval.high, rel=1e-10)
    assert ours.absolute.estimate == pytest.approx(treatment.mean() - control.mean())


def test_welch_batch_equals_one_call_per_element() -> None:
    rng = np.random.default_rng(3)
    samples = [(rng.normal(0, 1, 50), rng.normal(0.2, 2, 70)) for _ in range(4)]
    control = MeanSummary(
        [a.size for a, _ in samples],
        [a.sum() for a, _ in samples],
        [(a**2).sum() for a, _ in samples],
    )
    treatment = MeanSummary(
        [b.size for _, b in samples],
        [b.sum() for _, b in samples],
        [(b**2).sum() for _, b in samples],
    )
    batch = welch_t_test(control, treatment)
    for i, (a, b) in enumerate(samples):
        assert batch.at(i).absolute.p_value == pytest.approx(
            stats.ttest_ind(b, a, equal_var=False).pvalue, rel=1e-10
        )


def test_relative_lift_is_treatment_over_control_minus_one_with_delta_method_error() -> None:
    control, treatment = MeanSummary(400, 4_000.0, 90_000.0), MeanSummary(500, 5_500.0, 130_000.0)
    result = welch_t_test(control, treatment).item()
    m_c, m_t = 10.0, 11.0
    v_c = (90_000.0 - 4_000.0**2 / 400) / 399 / 400
    v_t = (130_000.0 - 5_500.0**2 / 500) / 499 / 500
    # Independent delta method: numerical gradient of g(m_c, m_t) = m_t / m_c - 1.
    h = 1e-6
    grad_c = ((m_t / (m_c + h) - 1) - (m_t / (m_c - h) - 1)) / (2 * h)
    grad_t = (((m_t + h) / m_c - 1) - ((m_t - h) / m_c - 1)) / (2 * h)
    assert result.relative.estimate == pytest.approx(m_t / m_c - 1)
    assert result.relative.std_error == pytest.approx(
        np.sqrt(grad_c**2 * v_c + grad_t**2 * v_t), rel=1e-6
    )
    assert result.relative.p_value == result.absolute.p_value


def test_relative_interval_is_fiellers_set_of_ratios_the_contrast_test_accepts() -> None:
    rng = np.random.default_rng(4)
    control, treatment = rng.lognormal(2.0, 1.0, 150), rng.lognormal(2.1, 1.0, 170)
    result = welch_t_test(mean_summary(control), mean_summary(treatment)).item()
    q = stats.t.ppf(0.975, result.degrees_of_freedom)

    def contrast(ratio: float) -> float:
        # scipy's Welch statistic of treatment against ratio x control is
        # (m_t - ratio m_c) / sqrt(v_t + ratio**2 v_c): Fieller's pivot.
        return float(stats.ttest_ind(treatment, ratio * control, equal_var=False).statistic)

    estimate = treatment.mean() / control.mean()
    lower = optimize.brentq(lambda r: contrast(r) - q, 1e-3, estimate, xtol=1e-14)
    upper = optimize.brentq(lambda r: contrast(r) + q, estimate, 100.0, xtol=1e-14)
    assert result.relative.lower == pytest.approx(lower - 1, abs=1e-10)
    assert result.relative.upper == pytest.approx(upper - 1, abs=1e-10)
    assert result.relative.lower <= result.relative.estimate <= result.relative.upper


@pytest.mark.parametrize(
    ("alternative", "statsmodels_alternative"),
    [("two-sided", "two-sided"), ("greater", "larger"), ("less", "smaller")],
)
def test_z_test_matches_statsmodels_proportions_ztest(
    alternative: str, statsmodels_alternative: str
) -> None:
    ours = two_proportion_z_test(
        ProportionSummary(2_000, 180), ProportionSummary(2_100, 231), alternative=alternative
    ).item()
    _, p = proportions_ztest([231, 180], [2_100, 2_000], alternative=statsmodels_alternative)
    assert ours.absolute.p_value == pytest.approx(p, rel=1e-10)


def test_z_test_interval_is_the_wald_interval_of_statsmodels() -> None:
    ours = two_proportion_z_test(ProportionSummary(2_000, 180), ProportionSummary(2_100, 231))
    low, high = confint_proportions_2indep(231, 2_100, 180, 2_000, method="wald", compare="diff")
    assert ours.item().absolute.lower == pytest.approx(low, rel=1e-10)
    assert ours.item().absolute.upper == pytest.approx(high, rel=1e-10)


def test_unpooled_z_test_uses_the_wald_error_for_the_p_value() -> None:
    ours = two_proportion_z_test(
        ProportionSummary(2_000, 180), ProportionSummary(2_100, 231), pooled=False
    ).item()
    p_c, p_t = 180 / 2_000, 231 / 2_100
    se = np.sqrt(p_c * (1 - p_c) / 2_000 + p_t * (1 - p_t) / 2_100)
    assert ours.absolute.p_value == pytest.approx(2 * stats.norm.sf(abs(p_t - p_c) / se))


def test_ratio_delta_method_equals_the_linearised_per_unit_values() -> None:
    rng = np.random.default_rng(5)
    arms = []
    for shift in (0.0, 0.3):
        orders = rng.poisson(2.0, 800).astype(float)
        revenue = orders * rng.gamma(2.0, 10.0 + shift * 10, 800)
        arms.append((revenue, orders))
    ours = ratio_delta_test(ratio_summary(*arms[0]), ratio_summary(*arms[1])).item()
    # Independent route: the influence values (y - R d) / mean(d) per unit, then Welch.
    linear = []
    for revenue, orders in arms:
        ratio = revenue.sum() / orders.sum()
        linear.append(ratio + (revenue - ratio * orders) / orders.mean())
    ref = stats.ttest_ind(linear[1], linear[0], equal_var=False)
    assert ours.absolute.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert ours.absolute.estimate == pytest.approx(
        arms[1][0].sum() / arms[1][1].sum() - arms[0][0].sum() / arms[0][1].sum()
    )


def test_results_are_json_friendly() -> None:
    result = two_proportion_z_test(
        ProportionSummary(100, 10), ProportionSummary(100, 12), alternative="greater"
    ).item()
    data = result.to_dict()
    assert data["absolute"]["upper"] is None  # a one-sided interval has an infinite bound
    assert isinstance(data["relative"]["p_value"], float)


def test_zero_control_mean_leaves_the_relative_lift_undefined() -> None:
    result = welch_t_test(MeanSummary(10, 0.0, 0.0), MeanSummary(10, 2.0, 4.0)).item()
    assert np.isnan(result.relative.estimate)
    assert result.to_dict()["relative"]["estimate"] is None
    assert result.absolute.p_value < 1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: welch_t_test(MeanSummary(1, 1.0, 1.0), MeanSummary(5, 5.0, 6.0)), "control.n"),
        (
            lambda: welch_t_test(MeanSummary(5, 5.0, 6.0), MeanSummary(5, 5.0, 6.0), alpha=1.5),
            "alpha: must be strictly between 0 and 1",
        ),
        (
            lambda: welch_t_test(
                MeanSummary(5, 5.0, 6.0), MeanSummary(5, 5.0, 6.0), alternative="bigger"
            ),
            "alternative",
        ),
        (
            lambda: two_proportion_z_test(ProportionSummary(0, 0), ProportionSummary(5, 1)),
            "control.n",
        ),
    ],
)
def test_bad_arguments_raise_value_errors_naming_them(
    call: Callable[[], object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        call()
