"""Always-valid p-values and confidence sequences against their published formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize

from verdict.stats import MeanSummary, make_sequential, welch_t_test
from verdict.stats.sequential import mixture_rho_squared, sequential_p_value


def _johari_msprt(difference: float, sigma2: float, n: float, tau2: float) -> float:
    """Johari, Pekelis & Walsh (2017), eq. (11): two-sample normal-mixture likelihood ratio.

    ``n`` units per arm, known per-unit variance ``sigma2``, mixing N(0, tau2).
    """
    return math.sqrt(2 * sigma2 / (2 * sigma2 + n * tau2)) * math.exp(
        n**2 * tau2 * difference**2 / (4 * sigma2 * (2 * sigma2 + n * tau2))
    )


def test_p_value_is_the_inverse_of_joharis_msprt_statistic() -> None:
    n, sigma2, difference, alpha, tuning = 2_000.0, 4.0, 0.15, 0.05, 5_000.0
    std_error = math.sqrt(2 * sigma2 / n)
    rho2 = mixture_rho_squared(alpha, tuning)
    # Our mixture over the effect of one unit of the pooled influence: tau2 = rho2 * s**2.
    tau2 = rho2 * (2 * n) * std_error**2
    expected = min(1.0, 1.0 / _johari_msprt(difference, sigma2, n, tau2))
    ours = sequential_p_value(
        np.asarray(difference), np.asarray(std_error), np.asarray(2 * n), alpha=alpha
    )
    assert float(ours) == pytest.approx(expected, rel=1e-10)


def test_rho_follows_waudby_smiths_tuning_formula() -> None:
    # Waudby-Smith et al. (2023), appendix: rho minimising the width at t* units.
    alpha, t_star = 0.05, 5_000.0
    rho = math.sqrt((-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / t_star)
    assert mixture_rho_squared(alpha, t_star) == pytest.approx(rho**2)


def test_confidence_sequence_bounds_are_where_the_mixture_reaches_one_over_alpha() -> None:
    control, treatment = MeanSummary(3_000, 300.0, 9_000.0), MeanSummary(3_100, 420.0, 9_500.0)
    result = make_sequential(welch_t_test(control, treatment)).item().absolute

    def log_p_minus_log_alpha(null: float) -> float:
        p = sequential_p_value(
            np.asarray(result.estimate),
            np.asarray(result.std_error),
            np.asarray(6_100.0),
            null=null,
        )
        return math.log(float(p)) - math.log(0.05)

    width = 20 * result.std_error
    lower = optimize.brentq(log_p_minus_log_alpha, result.estimate - width, result.estimate)
    upper = optimize.brentq(log_p_minus_log_alpha, result.estimate, result.estimate + width)
    assert result.lower == pytest.approx(lower, rel=1e-8)
    assert result.upper == pytest.approx(upper, rel=1e-8)


@settings(max_examples=80, deadline=None)
@given(
    st.floats(min_value=-1.0, max_value=1.0),
    st.floats(min_value=1e-3, max_value=1.0),
    st.floats(min_value=100, max_value=1e6),
)
def test_zero_is_outside_the_sequence_exactly_when_p_is_below_alpha(
    estimate: float, std_error: float, units: float
) -> None:
    from verdict.stats import confidence_sequence_half_width

    p = float(sequential_p_value(np.asarray(estimate), np.asarray(std_error), np.asarray(units)))
    half = float(confidence_sequence_half_width(np.asarray(std_error), np.asarray(units)))
    if abs(abs(estimate) - half) > 1e-9 * max(1.0, half):
        assert (p < 0.05) == (abs(estimate) > half)


def test_sequential_intervals_are_wider_than_fixed_ones() -> None:
    fixed = welch_t_test(MeanSummary(5_000, 500.0, 12_000.0), MeanSummary(5_000, 560.0, 12_500.0))
    sequential = make_sequential(fixed).item()
    assert sequential.method == "sequential welch"
    assert sequential.absolute.upper - sequential.absolute.lower > (
        fixed.item().absolute.upper - fixed.item().absolute.lower
    )
    assert sequential.absolute.p_value >= fixed.item().absolute.p_value


def test_only_two_sided_fixed_comparisons_become_sequential() -> None:
    one_sided = welch_t_test(
        MeanSummary(50, 5.0, 12.0), MeanSummary(50, 6.0, 12.5), alternative="greater"
    )
    with pytest.raises(ValueError, match="alternative: sequential tests are two-sided"):
        make_sequential(one_sided)
    two_sided = make_sequential(
        welch_t_test(MeanSummary(50, 5.0, 12.0), MeanSummary(50, 6.0, 12.5))
    )
    with pytest.raises(ValueError, match="already sequential"):
        make_sequential(two_sided)
    with pytest.raises(ValueError, match="tuning_units"):
        mixture_rho_squared(0.05, 0.0)
