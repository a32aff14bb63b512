"""Sample size, power and MDE against statsmodels, Fleiss' formula and simulation."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from scipy import optimize, stats
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from verdict.stats import (
    ProportionSummary,
    days_remaining,
    minimum_detectable_effect_means,
    minimum_detectable_effect_proportions,
    power_means,
    power_proportions,
    sample_size_means,
    sample_size_proportions,
    sequential_critical_z,
    two_proportion_z_test,
)


@pytest.mark.parametrize(
    ("mde", "std", "ratio"), [(0.1, 1.0, 1.0), (2.0, 15.0, 2.0), (0.5, 3.0, 0.5)]
)
def test_sample_size_for_means_matches_statsmodels_normal_ind_power(
    mde: float, std: float, ratio: float
) -> None:
    reference = NormalIndPower().solve_power(
        effect_size=mde / std, alpha=0.05, power=0.8, ratio=ratio
    )
    assert float(sample_size_means(mde=mde, std=std, ratio=ratio)) == math.ceil(reference)


def test_power_of_means_matches_statsmodels_including_the_far_tail() -> None:
    for n in (50, 400, 3_000):
        reference = NormalIndPower().power(effect_size=0.1, nobs1=n, alpha=0.05, ratio=1.5)
        assert float(power_means(n=n, mde=0.3, std=3.0, ratio=1.5)) == pytest.approx(
            reference, rel=1e-10
        )


def test_mde_of_means_has_the_requested_power_in_statsmodels() -> None:
    ours = float(minimum_detectable_effect_means(n=2_500, std=4.0, alpha=0.01, power=0.9))
    # statsmodels counts the far rejection tail too; at this size it adds < 1e-12.
    reference = NormalIndPower().power(effect_size=ours / 4.0, nobs1=2_500, alpha=0.01)
    assert reference == pytest.approx(0.9, abs=1e-9)
    solved = NormalIndPower().solve_power(nobs1=2_500, alpha=0.01, power=0.9)
    assert ours == pytest.approx(solved * 4.0, rel=1e-4)  # statsmodels' root finder is looser


def test_ten_percent_baseline_two_point_lift_needs_3841_per_group() -> None:
    # Fleiss, Levin & Paik (2003), "Statistical Methods for Rates and Proportions",
    # eq. 4.14 without continuity correction, evaluated here independently:
    p1, p2, z_a, z_b = 0.10, 0.12, stats.norm.ppf(0.975), stats.norm.ppf(0.8)
    p_bar = (p1 + p2) / 2
    n = (
        z_a * math.sqrt(2 * p_bar * (1 - p_bar)) + z_b * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    ) ** 2 / (p2 - p1) ** 2
    assert math.ceil(n) == 3_841
    assert float(sample_size_proportions(baseline=0.10, mde=0.02)) == 3_841


def test_other_proportion_conventions_give_the_documented_figures() -> None:
    # statsmodels' arcsine effect size (Cohen's h) and the unpooled normal approximation.
    h = proportion_effectsize(0.12, 0.10)
    assert math.ceil(NormalIndPower().solve_power(h, alpha=0.05, power=0.8)) == 3_835
    unpooled = 0.02 / math.sqrt((0.1 * 0.9 + 0.12 * 0.88) / 2)
    assert math.ceil(NormalIndPower().solve_power(unpooled, alpha=0.05, power=0.8)) == 3_839


def test_the_z_test_has_the_promised_power_at_the_computed_sample_size() -> None:
    rng = np.random.default_rng(12)
    n = int(sample_size_proportions(baseline=0.10, mde=0.02))
    sims = 4_000
    result = two_proportion_z_test(
        ProportionSummary(n, rng.binomial(n, 0.10, sims)),
        ProportionSummary(n, rng.binomial(n, 0.12, sims)),
    )
    power = np.mean(result.absolute.p_value < 0.05)
    print(f"\nsimulated power at n = {n} per group (10% -> 12%): {power:.4f}")
    assert 0.78 <= power <= 0.82, power
    assert float(power_proportions(n=n, baseline=0.10, mde=0.02)) == pytest.approx(0.8, abs=0.001)


@pytest.mark.parametrize(("baseline", "ratio", "increase"), [(0.1, 1.0, True), (0.3, 2.0, False)])
def test_proportion_mde_inverts_the_sample_size(
    baseline: float, ratio: float, increase: bool
) -> None:
    mde = float(
        minimum_detectable_effect_proportions(
            n=5_000, baseline=baseline, ratio=ratio, increase=increase
        )
    )
    assert (mde > 0) is True
    signed = mde if increase else -mde
    needed = sample_size_proportions(baseline=baseline, mde=signed, ratio=ratio)
    assert float(needed) == pytest.approx(5_000, abs=1)


def test_an_impossible_mde_is_nan() -> None:
    assert np.isnan(minimum_detectable_effect_proportions(n=3, baseline=0.5))


@pytest.mark.parametrize("comparisons", [1, 2, 3, 6])
def test_holm_family_is_planned_at_alpha_over_the_number_of_comparisons(
    comparisons: int,
) -> None:
    expected = NormalIndPower().solve_power(effect_size=0.1, alpha=0.05 / comparisons, power=0.8)
    ours = sample_size_means(mde=0.1, std=1.0, comparisons=comparisons)
    assert float(ours) == math.ceil(expected)
    achieved = NormalIndPower().power(effect_size=0.1, nobs1=2_000, alpha=0.05 / comparisons)
    assert float(power_means(n=2_000, mde=0.1, std=1.0, comparisons=comparisons)) == pytest.approx(
        achieved, rel=1e-9
    )


def test_one_sided_plans_match_statsmodels() -> None:
    expected = NormalIndPower().solve_power(
        effect_size=0.1, alpha=0.05, power=0.8, alternative="larger"
    )
    assert float(sample_size_means(mde=0.1, std=1.0, alternative="greater")) == math.ceil(expected)
    assert float(sample_size_means(mde=-0.1, std=1.0, alternative="less")) == math.ceil(expected)
    with pytest.raises(ValueError, match="mde: must be positive for alternative 'greater'"):
        sample_size_means(mde=-0.1, std=1.0, alternative="greater")


def test_sequential_plan_rejects_where_the_mixture_p_value_reaches_the_level() -> None:
    # Johari et al.'s mixture p-value computed here, solved for |z| with brentq.
    alpha, tuning, total, level = 0.05, 5_000.0, 6_000.0, 0.025
    log_term = -2 * math.log(alpha)
    rho2 = (log_term + math.log(log_term + 1)) / tuning

    def log_p(z: float) -> float:
        growth = total * rho2 + 1
        return 0.5 * math.log(growth) - rho2 * total * z**2 / (2 * growth) - math.log(level)

    expected = optimize.brentq(log_p, 0.0, 20.0, xtol=1e-14)
    ours = sequential_critical_z(np.asarray(total), level=level, alpha=alpha, tuning_units=tuning)
    assert float(ours) == pytest.approx(expected, rel=1e-10)
    n = float(sample_size_means(mde=0.1, std=1.0, sequential=True, comparisons=2))
    planned = float(power_means(n=n, mde=0.1, std=1.0, sequential=True, comparisons=2))
    below = float(power_means(n=n - 1, mde=0.1, std=1.0, sequential=True, comparisons=2))
    assert below < 0.8 <= planned


def test_sequential_plans_refuse_one_sided_tests() -> None:
    with pytest.raises(ValueError, match="alternative: sequential tests are two-sided"):
        sample_size_means(mde=0.1, std=1.0, sequential=True, alternative="greater")
    with pytest.raises(ValueError, match="comparisons: must be a whole number"):
        sample_size_means(mde=0.1, std=1.0, comparisons=0)


def test_days_remaining_follows_the_slowest_variant() -> None:
    assert days_remaining(
        required_per_variant=1_000, units_per_variant=[400, 380], days_elapsed=4
    ) == math.ceil((1_000 - 380) / 95)
    assert (
        days_remaining(required_per_variant=100, units_per_variant=[150, 120], days_elapsed=3) == 0
    )
    assert math.isinf(
        days_remaining(required_per_variant=100, units_per_variant=[150, 0], days_elapsed=3)
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: sample_size_means(mde=0.1, std=1.0, alpha=0.0), "alpha"),
        (lambda: sample_size_means(mde=0.1, std=1.0, power=1.0), "power"),
        (lambda: sample_size_means(mde=0.0, std=1.0), "mde: must be non-zero"),
        (lambda: sample_size_means(mde=0.1, std=-1.0), "std: must be positive"),
        (lambda: sample_size_proportions(baseline=1.2, mde=0.01), "baseline"),
        (lambda: sample_size_proportions(baseline=0.95, mde=0.1), "baseline \\+ mde"),
        (lambda: sample_size_means(mde=0.1, std=1.0, ratio=0.0), "ratio"),
        (
            lambda: days_remaining(required_per_variant=10, units_per_variant=[1], days_elapsed=0),
            "days_elapsed",
        ),
    ],
)
def test_bad_power_arguments_raise(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
