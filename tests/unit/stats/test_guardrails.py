"""Non-inferiority of guardrails against shifted one-sided Welch tests in scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from tests.unit.stats.samples import mean_summary
from verdict.stats import make_sequential, non_inferiority, welch_t_test


def _arms(shift: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(100.0, 20.0, 800), rng.normal(100.0 + shift, 20.0, 900)


def test_absolute_margin_is_a_one_sided_welch_test_of_the_shifted_treatment() -> None:
    control, treatment = _arms(-1.0)
    margin = 3.0
    check = non_inferiority(
        welch_t_test(mean_summary(control), mean_summary(treatment)), margin=margin, relative=False
    ).item()
    shown = stats.ttest_ind(treatment + margin, control, equal_var=False, alternative="greater")
    harm = stats.ttest_ind(treatment + margin, control, equal_var=False, alternative="less")
    assert check.p_value == pytest.approx(shown.pvalue, rel=1e-10)
    assert check.harm_p_value == pytest.approx(harm.pvalue, rel=1e-10)
    assert check.shown() == bool(shown.pvalue < 0.05)


def test_lower_is_better_tests_the_opposite_direction() -> None:
    control, treatment = _arms(+1.0, seed=1)  # latency went up by about 1
    margin = 3.0
    check = non_inferiority(
        welch_t_test(mean_summary(control), mean_summary(treatment)),
        margin=margin,
        relative=False,
        higher_is_better=False,
    ).item()
    shown = stats.ttest_ind(treatment - margin, control, equal_var=False, alternative="less")
    assert check.p_value == pytest.approx(shown.pvalue, rel=1e-10)
    assert check.effect == pytest.approx(-(treatment.mean() - control.mean()))


def test_relative_margin_is_a_welch_test_of_treatment_against_the_scaled_control() -> None:
    # H0: m_t <= (1 - margin) m_c is the Welch test of treatment against 0.98 x control.
    control, treatment = _arms(-0.5, seed=2)
    comparison = welch_t_test(mean_summary(control), mean_summary(treatment))
    check = non_inferiority(comparison, margin=0.02).item()
    shown = stats.ttest_ind(treatment, 0.98 * control, equal_var=False, alternative="greater")
    harm = stats.ttest_ind(treatment, 0.98 * control, equal_var=False, alternative="less")
    assert check.p_value == pytest.approx(shown.pvalue, rel=1e-10)
    assert check.harm_p_value == pytest.approx(harm.pvalue, rel=1e-10)
    assert check.effect == pytest.approx(treatment.mean() / control.mean() - 1)
    assert check.to_dict()["shown"] is check.shown()


def test_a_large_degradation_is_a_breach() -> None:
    control, treatment = _arms(-10.0, seed=3)
    check = non_inferiority(
        welch_t_test(mean_summary(control), mean_summary(treatment)), margin=0.02
    ).item()
    assert check.breached()
    assert not check.shown()


def test_sequential_guardrails_are_more_conservative_than_fixed_ones() -> None:
    control, treatment = _arms(0.0, seed=4)
    comparison = welch_t_test(mean_summary(control), mean_summary(treatment))
    fixed = non_inferiority(comparison, margin=0.05).item()
    sequential = non_inferiority(make_sequential(comparison), margin=0.05).item()
    assert sequential.p_value >= fixed.p_value
    assert sequential.lower_bound <= fixed.lower_bound


def test_negative_margin_is_refused() -> None:
    control, treatment = _arms(0.0)
    comparison = welch_t_test(mean_summary(control), mean_summary(treatment))
    with pytest.raises(ValueError, match="margin: must be a non-negative finite number"):
        non_inferiority(comparison, margin=-0.1)
