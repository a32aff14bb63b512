"""Signs, degenerate data, small counts and bad input: never a misleading number.

References: statsmodels' score tests and intervals for two proportions, scipy's
Fisher exact test and Welch test, and arithmetic done here by hand.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportions_ztest,
)
from statsmodels.stats.proportion import test_proportions_2indep as score_test_2indep

from tests.unit.stats.samples import mean_summary
from verdict.stats import (
    DataStatus,
    MeanSummary,
    ProportionSummary,
    RatioSummary,
    make_sequential,
    non_inferiority,
    normal_effect_test,
    ratio_delta_test,
    two_proportion_z_test,
    welch_t_test,
)


@pytest.mark.parametrize(
    ("control", "treatment"),
    [((1_000, 100), (1_000, 120)), ((300, 9), (280, 20)), ((50, 45), (60, 40))],
)
def test_relative_interval_of_conversions_is_koopmans_score_interval(
    control: tuple[int, int], treatment: tuple[int, int]
) -> None:
    result = two_proportion_z_test(
        ProportionSummary(*control), ProportionSummary(*treatment)
    ).item()
    low, high = confint_proportions_2indep(
        treatment[1],
        treatment[0],
        control[1],
        control[0],
        method="score",
        compare="ratio",
        correction=False,
    )
    assert result.relative.lower == pytest.approx(low - 1, abs=1e-9)
    assert result.relative.upper == pytest.approx(high - 1, abs=1e-9)
    # The test of "no relative change" is the pooled z-test.
    _, p = proportions_ztest([treatment[1], control[1]], [treatment[0], control[0]])
    assert result.relative.p_value == pytest.approx(p, rel=1e-10)
    assert (result.relative.lower > 0 or result.relative.upper < 0) == (p < 0.05)


def test_relative_guardrail_on_conversions_is_the_farrington_manning_score_test() -> None:
    comparison = two_proportion_z_test(ProportionSummary(2_000, 210), ProportionSummary(2_100, 205))
    check = non_inferiority(comparison, margin=0.1).item()
    shown = score_test_2indep(
        205,
        2_100,
        210,
        2_000,
        value=0.9,
        compare="ratio",
        method="score",
        correction=False,
        alternative="larger",
    )
    harm = score_test_2indep(
        205,
        2_100,
        210,
        2_000,
        value=0.9,
        compare="ratio",
        method="score",
        correction=False,
        alternative="smaller",
    )
    assert check.p_value == pytest.approx(shown.pvalue, rel=1e-9)
    assert check.harm_p_value == pytest.approx(harm.pvalue, rel=1e-9)


def test_a_negative_control_mean_never_inverts_better() -> None:
    # Profit per user: control loses 2.0 on average, treatment loses 1.0 -- better.
    rng = np.random.default_rng(3)
    control, treatment = rng.normal(-2.0, 1.0, 500), rng.normal(-1.0, 1.0, 500)
    result = welch_t_test(mean_summary(control), mean_summary(treatment)).item()
    assert result.relative.estimate == pytest.approx(
        (treatment.mean() - control.mean()) / abs(control.mean())
    )
    assert result.relative.estimate > 0
    assert result.relative.lower > 0
    check = non_inferiority(
        welch_t_test(mean_summary(control), mean_summary(treatment)), margin=0.02
    )
    assert not check.item().breached()
    assert check.item().shown()
    # And a worse treatment (loses 3.0) reads negative and breaches.
    worse = rng.normal(-3.0, 1.0, 500)
    bad = non_inferiority(welch_t_test(mean_summary(control), mean_summary(worse)), margin=0.02)
    assert bad.item().effect < 0
    assert bad.item().breached()


def test_a_control_mean_of_zero_leaves_the_lift_undefined_but_the_test_standing() -> None:
    result = welch_t_test(MeanSummary(100, 0.0, 50.0), MeanSummary(100, 30.0, 80.0)).item()
    assert result.data_status() is DataStatus.NO_BASELINE
    assert math.isnan(result.relative.estimate)
    assert math.isnan(result.relative.lower)
    assert result.relative.p_value == result.absolute.p_value
    check = non_inferiority(
        welch_t_test(MeanSummary(100, 0.0, 50.0), MeanSummary(100, 30.0, 80.0)), margin=0.02
    ).item()
    assert not check.judgeable()
    assert not check.breached()
    assert not check.shown()
    assert check.data_status() is DataStatus.NO_BASELINE


def test_a_control_mean_indistinguishable_from_zero_cannot_carry_a_relative_margin() -> None:
    rng = np.random.default_rng(8)
    control, treatment = rng.normal(0.05, 1.0, 200), rng.normal(0.0, 1.0, 200)
    comparison = welch_t_test(mean_summary(control), mean_summary(treatment))
    assert math.isinf(comparison.item().relative.upper)  # Fieller's set is unbounded
    check = non_inferiority(comparison, margin=0.02).item()
    assert check.data_status() is DataStatus.BASELINE_UNCERTAIN
    assert not check.breached()


@pytest.mark.parametrize(
    ("control", "treatment"), [((1, 1), (1, 0)), ((100, 0), (100, 0)), ((50, 50), (60, 60))]
)
def test_zero_estimated_variance_is_not_enough_data_never_p_zero(
    control: tuple[int, int], treatment: tuple[int, int]
) -> None:
    comparison = two_proportion_z_test(ProportionSummary(*control), ProportionSummary(*treatment))
    result = comparison.item()
    assert result.data_status() is DataStatus.NO_VARIANCE
    assert not result.judgeable()
    assert math.isnan(result.absolute.p_value)
    assert math.isnan(result.relative.p_value)
    assert result.to_dict()["status"] == "no_variance"
    guardrail = non_inferiority(comparison, margin=0.02).item()
    assert not guardrail.breached()
    assert not guardrail.judgeable()
    assert math.isnan(normal_effect_test(comparison).item().chance_to_win)
    assert math.isnan(make_sequential(comparison).item().absolute.p_value)


def test_a_constant_metric_is_not_enough_data() -> None:
    result = welch_t_test(MeanSummary(10, 50.0, 250.0), MeanSummary(10, 50.0, 250.0)).item()
    assert result.data_status() is DataStatus.NO_VARIANCE
    assert math.isnan(result.absolute.p_value)


def test_a_ratio_without_denominator_is_undefined() -> None:
    empty = RatioSummary(MeanSummary(5, 0.0, 0.0), MeanSummary(5, 0.0, 0.0), 0.0)
    full = RatioSummary(MeanSummary(5, 10.0, 30.0), MeanSummary(5, 5.0, 7.0), 14.0)
    result = ratio_delta_test(empty, full).item()
    assert result.data_status() is DataStatus.UNDEFINED
    assert math.isnan(result.absolute.p_value)


def test_small_counts_carry_a_warning_where_the_z_test_and_fisher_disagree() -> None:
    # 0/1,000 against 5/1,000: the pooled z-test says p = 0.025, Fisher's exact 0.062.
    result = two_proportion_z_test(ProportionSummary(1_000, 0), ProportionSummary(1_000, 5)).item()
    _, z_p = proportions_ztest([5, 0], [1_000, 1_000])
    fisher = stats.fisher_exact([[5, 995], [0, 1_000]]).pvalue
    assert result.absolute.p_value == pytest.approx(z_p, rel=1e-10)
    assert fisher > 0.05 > result.absolute.p_value
    assert result.data_status() is DataStatus.SMALL_COUNTS
    assert "expected conversions" in result.to_dict()["status_reason"]
    plenty = two_proportion_z_test(ProportionSummary(1_000, 100), ProportionSummary(1_000, 90))
    assert plenty.item().data_status() is DataStatus.OK


def test_small_count_rule_uses_the_smallest_expected_cell_under_the_null() -> None:
    # Pooled rate 4.5 %: expected conversions in the 100-unit arm 4.5 < 5.
    warned = two_proportion_z_test(ProportionSummary(100, 4), ProportionSummary(100, 5))
    assert warned.item().data_status() is DataStatus.SMALL_COUNTS
    # 97 % conversion: the rare outcome is *not* converting.
    high = two_proportion_z_test(ProportionSummary(100, 97), ProportionSummary(100, 97))
    assert high.item().data_status() is DataStatus.SMALL_COUNTS


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: ProportionSummary(-5, 0), r"^n: must not be negative"),
        (lambda: ProportionSummary(10, 2.5), r"^conversions: must be whole numbers"),
        (lambda: ProportionSummary(10.5, 2), r"^n: must be whole numbers"),
        (lambda: ProportionSummary(10, 12), r"^conversions: must not exceed the units n, got 12"),
        (lambda: MeanSummary(float("nan"), 1.0, 1.0), r"^n: must be finite numbers"),
        (lambda: MeanSummary(10, float("inf"), 1.0), r"^sum: must be finite numbers"),
        (lambda: MeanSummary(10, "abc", 1.0), r"^sum: must be numbers"),
        (
            lambda: welch_t_test(
                MeanSummary([10, 10, 10], [1, 2, 3], [5, 5, 5]),
                MeanSummary([10, 10], [1, 2], [5, 5]),
            ),
            r"^treatment: batch shapes of the arms do not match "
            r"\(control \(3,\), treatment \(2,\)\)",
        ),
        (
            lambda: two_proportion_z_test(
                ProportionSummary([10, 10], [1, 2]), ProportionSummary([10, 10, 10], [1, 2, 3])
            ),
            r"^treatment: batch shapes",
        ),
    ],
)
def test_bad_input_names_its_argument_and_the_reason(
    call: Callable[[], object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_an_integral_float_count_from_a_database_is_accepted() -> None:
    assert float(ProportionSummary(1_000.0, 10.000000000001).conversions) == pytest.approx(10)


def test_sequential_relative_interval_agrees_with_the_sequential_test() -> None:
    rng = np.random.default_rng(5)
    control, treatment = rng.normal(10.0, 3.0, 2_000), rng.normal(10.4, 3.0, 2_000)
    fixed = welch_t_test(mean_summary(control), mean_summary(treatment))
    sequential = make_sequential(fixed).item()
    assert sequential.relative.p_value == sequential.absolute.p_value
    excludes_zero = sequential.relative.lower > 0 or sequential.relative.upper < 0
    assert excludes_zero == (sequential.absolute.p_value < 0.05)
    # Wider than the fixed-horizon interval: peeking costs width.
    assert sequential.relative.lower < fixed.item().relative.lower
    assert sequential.relative.lower <= sequential.relative.estimate <= sequential.relative.upper


def test_a_relative_margin_on_a_negative_control_is_welch_against_the_scaled_control() -> None:
    # Control loses 2.0 per user; tolerating 2 % worse means losing up to 2.04: the
    # boundary is treatment = 1.02 x control.
    rng = np.random.default_rng(11)
    control, treatment = rng.normal(-2.0, 1.0, 400), rng.normal(-2.03, 1.0, 450)
    check = non_inferiority(
        welch_t_test(mean_summary(control), mean_summary(treatment)), margin=0.02
    ).item()
    shown = stats.ttest_ind(treatment, 1.02 * control, equal_var=False, alternative="greater")
    assert check.p_value == pytest.approx(shown.pvalue, rel=1e-10)
