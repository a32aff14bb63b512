"""Operating characteristics by simulation: error rates, coverage, peeking.

Sufficient statistics are drawn from their exact sampling distributions (binomial
counts; normal sums via Cochran's theorem), vectorised, with fixed seeds. The figures
these tests measure are quoted in docs/statistics.md; print them with
``.venv/bin/pytest tests/unit/stats/test_simulation.py -q -s``.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.unit.stats.samples import normal_sums
from verdict.stats import (
    MeanSummary,
    ProportionSummary,
    RatioSummary,
    make_sequential,
    ratio_delta_test,
    two_proportion_z_test,
    welch_t_test,
)

SIMULATIONS = 4_000
ALPHA = 0.05


def test_z_test_false_positive_rate_in_aa_tests_is_alpha() -> None:
    rng = np.random.default_rng(2024)
    n = 5_000
    control = ProportionSummary(n, rng.binomial(n, 0.1, SIMULATIONS))
    treatment = ProportionSummary(n, rng.binomial(n, 0.1, SIMULATIONS))
    rate = np.mean(two_proportion_z_test(control, treatment).absolute.p_value < ALPHA)
    print(f"\nz-test A/A false-positive rate ({SIMULATIONS} tests): {rate:.4f}")
    assert 0.04 <= rate <= 0.06, rate


def test_welch_false_positive_rate_holds_with_unequal_variances_and_sizes() -> None:
    # Student's pooled t would reject about 0.5% here (the large arm has the large sd).
    rng = np.random.default_rng(7)
    c_sum, c_sq = normal_sums(rng, 30, 5.0, 1.0, (SIMULATIONS,))
    t_sum, t_sq = normal_sums(rng, 90, 5.0, 3.0, (SIMULATIONS,))
    result = welch_t_test(MeanSummary(30, c_sum, c_sq), MeanSummary(90, t_sum, t_sq))
    rate = np.mean(result.absolute.p_value < ALPHA)
    print(f"\nWelch A/A false-positive rate, n 30 vs 90, sd 1 vs 3: {rate:.4f}")
    assert 0.04 <= rate <= 0.06, rate


def test_difference_and_lift_intervals_cover_the_truth_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(99)
    c_sum, c_sq = normal_sums(rng, 400, 10.0, 4.0, (SIMULATIONS,))
    t_sum, t_sq = normal_sums(rng, 600, 11.0, 6.0, (SIMULATIONS,))
    result = welch_t_test(MeanSummary(400, c_sum, c_sq), MeanSummary(600, t_sum, t_sq))
    absolute = np.mean((result.absolute.lower <= 1.0) & (result.absolute.upper >= 1.0))
    relative = np.mean((result.relative.lower <= 0.1) & (result.relative.upper >= 0.1))
    print(f"\nWelch coverage: difference {absolute:.4f}, relative lift {relative:.4f}")
    assert 0.935 <= absolute <= 0.965, absolute
    assert 0.935 <= relative <= 0.965, relative


def test_proportion_lift_interval_covers_the_true_lift() -> None:
    rng = np.random.default_rng(5)
    n = 8_000
    control = ProportionSummary(n, rng.binomial(n, 0.05, SIMULATIONS))
    treatment = ProportionSummary(n, rng.binomial(n, 0.06, SIMULATIONS))
    result = two_proportion_z_test(control, treatment)
    coverage = np.mean((result.relative.lower <= 0.2) & (result.relative.upper >= 0.2))
    print(f"\nz-test relative-lift coverage (5% -> 6%): {coverage:.4f}")
    assert 0.935 <= coverage <= 0.965, coverage


def test_ratio_interval_covers_the_true_ratio_difference() -> None:
    rng = np.random.default_rng(17)
    sims, units = 2_000, 400
    arms = []
    for value in (20.0, 22.0):
        orders = rng.poisson(1.5, (sims, units)).astype(float)
        revenue = rng.gamma(2.0, value / 2.0, (sims, units)) * orders
        arms.append(
            RatioSummary(
                MeanSummary(units, revenue.sum(1), (revenue**2).sum(1)),
                MeanSummary(units, orders.sum(1), (orders**2).sum(1)),
                (revenue * orders).sum(1),
            )
        )
    result = ratio_delta_test(arms[0], arms[1])
    coverage = np.mean((result.absolute.lower <= 2.0) & (result.absolute.upper >= 2.0))
    print(f"\nratio (delta method) coverage, {sims} simulations: {coverage:.4f}")
    assert 0.93 <= coverage <= 0.97, coverage


def _aa_looks(seed: int, looks: int = 10, per_look: int = 200) -> tuple[MeanSummary, MeanSummary]:
    """Cumulative summaries of A/A tests looked at ``looks`` times: shape (sims, looks)."""
    rng = np.random.default_rng(seed)
    arms = []
    for _ in range(2):
        sums, squares = normal_sums(rng, per_look, 0.0, 1.0, (SIMULATIONS, looks))
        n = per_look * np.arange(1, looks + 1) * np.ones((SIMULATIONS, 1))
        arms.append(MeanSummary(n, np.cumsum(sums, 1), np.cumsum(squares, 1)))
    return arms[0], arms[1]


def test_peeking_ten_times_inflates_fixed_horizon_errors_but_not_sequential_ones() -> None:
    control, treatment = _aa_looks(seed=31)
    fixed = welch_t_test(control, treatment)
    sequential = make_sequential(fixed, tuning_units=2 * 200 * 10)
    naive_rate = np.mean(np.any(fixed.absolute.p_value < ALPHA, axis=1))
    sequential_rate = np.mean(np.any(sequential.absolute.p_value < ALPHA, axis=1))
    covered = np.all((sequential.absolute.lower <= 0) & (sequential.absolute.upper >= 0), axis=1)
    print(
        f"\n10 looks, A/A: naive fixed-horizon {naive_rate:.4f}, sequential "
        f"{sequential_rate:.4f}, confidence sequence covers 0 at every look {np.mean(covered):.4f}"
    )
    assert naive_rate > 0.15, naive_rate
    assert sequential_rate <= 0.05, sequential_rate
    assert np.mean(covered) >= 0.95


@pytest.mark.parametrize("tuning_units", [500.0, 5_000.0, 100_000.0])
def test_sequential_z_test_stays_valid_whatever_the_tuning(tuning_units: float) -> None:
    rng = np.random.default_rng(int(tuning_units))
    looks, per_look = 10, 1_000
    counts = [np.cumsum(rng.binomial(per_look, 0.1, (SIMULATIONS, looks)), 1) for _ in range(2)]
    n = per_look * np.arange(1, looks + 1) * np.ones((SIMULATIONS, 1))
    fixed = two_proportion_z_test(ProportionSummary(n, counts[0]), ProportionSummary(n, counts[1]))
    sequential = make_sequential(fixed, tuning_units=tuning_units)
    rate = np.mean(np.any(sequential.relative.p_value < ALPHA, axis=1))
    print(f"\nsequential z-test, 10 looks, tuning {tuning_units:g}: {rate:.4f}")
    assert rate <= 0.05, rate


def test_sequential_test_still_finds_a_real_effect() -> None:
    rng = np.random.default_rng(8)
    looks, per_look = 10, 500
    control = normal_sums(rng, per_look, 0.0, 1.0, (SIMULATIONS, looks))
    treatment = normal_sums(rng, per_look, 0.07, 1.0, (SIMULATIONS, looks))
    n = per_look * np.arange(1, looks + 1) * np.ones((SIMULATIONS, 1))
    fixed = welch_t_test(
        MeanSummary(n, np.cumsum(control[0], 1), np.cumsum(control[1], 1)),
        MeanSummary(n, np.cumsum(treatment[0], 1), np.cumsum(treatment[1], 1)),
    )
    sequential = make_sequential(fixed, tuning_units=2 * looks * per_look)
    power = np.mean(np.any(sequential.absolute.p_value < ALPHA, axis=1))
    final_look = np.mean(fixed.absolute.p_value[:, -1] < ALPHA)
    print(
        f"\neffect 0.07 sd, 10 looks of 500 per arm: sequential power {power:.4f}, "
        f"fixed-horizon power at the last look {final_look:.4f}"
    )
    assert power > 0.6, power
