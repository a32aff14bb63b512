"""The simulation grid: every error rate Verdict promises, measured and bounded.

Issue 11's grid, vectorised with fixed seeds (each rate's runs, counts and seed are in
the assertion message). Conversions are drawn as binomial counts; revenue per unit is
drawn unit by unit (30 % of units buy, lognormal basket, so the per-unit distribution
is skewed and zero-inflated) and reduced to sums. The figures are quoted in
``docs/statistics.md``; print them with
``.venv/bin/pytest tests/unit/stats/test_calibration.py -q -s``.

Bounds: A/A false-positive rates in [4 %, 6 %], 95 % interval coverage in
[93.5 %, 96.5 %], guardrail false breaches at the margin at most 5 % plus three
simulation standard errors, chance to win above 0.95 / below 0.05 each within three
simulation standard errors of 5 %, simulated power within 2 points of plan.
Conversions are gridded where each arm expects at least 5 conversions (the documented
small-count rule, :data:`verdict.stats.status.SMALL_COUNT`): below that no test of two
proportions can hold a 4 % floor (at 1 % and 100 per arm the control has no
conversion in 37 % of runs).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.unit.stats.samples import normal_sums
from verdict.stats import (
    MeanSummary,
    ProportionSummary,
    beta_binomial_test,
    holm,
    make_sequential,
    non_inferiority,
    normal_effect_test,
    sample_size_means,
    sample_size_proportions,
    two_proportion_z_test,
    welch_t_test,
)

ALPHA = 0.05
CONVERSION_RUNS = 20_000
REVENUE_RUNS = {100: 20_000, 200: 20_000, 1_000: 10_000}
CONVERSION_GRID = [
    (rate, n) for rate in (0.01, 0.05, 0.2, 0.5) for n in (100, 200, 500, 1_000) if rate * n >= 5
]
REVENUE_SIZES = (100, 200, 1_000)


def _se(rate: float, runs: int) -> float:
    return math.sqrt(rate * (1 - rate) / runs)


def _report(name: str, value: float, runs: int, seed: int, **cell: object) -> str:
    where = ", ".join(f"{k}={v}" for k, v in cell.items())
    line = f"{name}: {value:.4f} ({runs} runs, seed {seed}; {where})"
    print(line)
    return line


def _conversions(rate: float, n: int, runs: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).binomial(n, rate, runs).astype(float)


def _revenue(n: int, lift: float, runs: int, seed: int) -> MeanSummary:
    """Per-unit revenue: 30 % buy, basket lognormal(0, 1) x 10 x (1 + lift); summed."""
    rng = np.random.default_rng(seed)
    sums, squares = np.empty(runs), np.empty(runs)
    chunk = max(1, 2_000_000 // n)
    for start in range(0, runs, chunk):
        size = min(chunk, runs - start)
        buys = rng.random((size, n)) < 0.3
        values = np.where(buys, rng.lognormal(0.0, 1.0, (size, n)) * 10.0 * (1 + lift), 0.0)
        sums[start : start + size] = values.sum(1)
        squares[start : start + size] = (values**2).sum(1)
    return MeanSummary(np.full(runs, float(n)), sums, squares)


@pytest.mark.parametrize(("rate", "n"), CONVERSION_GRID)
def test_relative_lift_of_conversions_holds_its_level_and_coverage(rate: float, n: int) -> None:
    seed = int(rate * 100_000) + n
    runs = CONVERSION_RUNS
    control = ProportionSummary(n, _conversions(rate, n, runs, seed))
    same = ProportionSummary(n, _conversions(rate, n, runs, seed + 1))
    lifted = ProportionSummary(n, _conversions(rate * 1.2, n, runs, seed + 2))
    aa = two_proportion_z_test(control, same).relative
    false_positive = float(np.mean(aa.p_value < ALPHA))
    ab = two_proportion_z_test(control, lifted).relative
    # Runs with no control conversion have no relative lift (status no_baseline);
    # coverage is over the runs that report an interval.
    reported = np.isfinite(ab.estimate)
    covered = float(np.mean(((ab.lower <= 0.2) & (ab.upper >= 0.2))[reported]))
    message = _report(
        "conversions, relative A/A false positives", false_positive, runs, seed, rate=rate, n=n
    )
    assert 0.04 <= false_positive <= 0.06, message
    message = _report(
        "conversions, relative 95% coverage at +20%",
        covered,
        int(reported.sum()),
        seed + 2,
        rate=rate,
        n=n,
    )
    assert 0.935 <= covered <= 0.965, message


@pytest.mark.parametrize("n", REVENUE_SIZES)
def test_relative_lift_of_skewed_revenue_holds_its_level_and_coverage(n: int) -> None:
    seed, runs = 100 + n, REVENUE_RUNS[n]
    control = _revenue(n, 0.0, runs, seed)
    aa = welch_t_test(control, _revenue(n, 0.0, runs, seed + 1)).relative
    false_positive = float(np.mean(aa.p_value < ALPHA))
    ab = welch_t_test(control, _revenue(n, 0.1, runs, seed + 2)).relative
    covered = float(np.mean((ab.lower <= 0.1) & (ab.upper >= 0.1)))
    above, below = float(np.mean(ab.lower > 0.1)), float(np.mean(ab.upper < 0.1))
    message = _report("revenue, relative A/A false positives", false_positive, runs, seed, n=n)
    assert 0.04 <= false_positive <= 0.06, message
    message = (
        _report("revenue, relative 95% coverage at +10%", covered, runs, seed + 2, n=n)
        + f" (misses above {above:.4f}, below {below:.4f})"
    )
    assert 0.935 <= covered <= 0.965, message


@pytest.mark.parametrize(("rate", "n"), [(0.05, 1_000), (0.2, 200), (0.5, 100)])
@pytest.mark.parametrize("better", [0.0, 0.02])
def test_relative_guardrail_on_conversions_rarely_breaches_at_the_margin(
    rate: float, n: int, better: float
) -> None:
    margin, runs = 0.05, CONVERSION_RUNS
    seed = int(rate * 100_000) + n + int(better * 100) + 7
    treated_rate = rate * (1 - margin + better)
    control = ProportionSummary(n, _conversions(rate, n, runs, seed))
    treated = ProportionSummary(n, _conversions(treated_rate, n, runs, seed + 1))
    check = non_inferiority(two_proportion_z_test(control, treated), margin=margin)
    breaches = float(np.mean(check.harm_p_value < ALPHA))
    message = _report(
        "conversion guardrail false breaches",
        breaches,
        runs,
        seed,
        rate=rate,
        n=n,
        margin=margin,
        better_than_margin=better,
    )
    assert breaches <= ALPHA + 3 * _se(ALPHA, runs), message


@pytest.mark.parametrize("n", REVENUE_SIZES)
@pytest.mark.parametrize("better", [0.0, 0.02])
def test_relative_guardrail_on_revenue_rarely_breaches_at_the_margin(n: int, better: float) -> None:
    margin, runs = 0.05, REVENUE_RUNS[n]
    seed = 300 + n + int(better * 100)
    control = _revenue(n, 0.0, runs, seed)
    treated = _revenue(n, -margin + better, runs, seed + 1)
    check = non_inferiority(welch_t_test(control, treated), margin=margin)
    breaches = float(np.mean(check.harm_p_value < ALPHA))
    message = _report(
        "revenue guardrail false breaches", breaches, runs, seed, n=n, better_than_margin=better
    )
    assert breaches <= ALPHA + 3 * _se(ALPHA, runs), message


def test_lower_is_better_guardrail_rarely_breaches_at_the_margin() -> None:
    margin, n, seed = 0.05, 200, 77
    runs = REVENUE_RUNS[n]
    control = _revenue(n, 0.0, runs, seed)
    treated = _revenue(n, margin, runs, seed + 1)  # 5 % more refunds: exactly the margin
    check = non_inferiority(welch_t_test(control, treated), margin=margin, higher_is_better=False)
    breaches = float(np.mean(check.harm_p_value < ALPHA))
    message = _report("lower-is-better guardrail false breaches", breaches, runs, seed, n=n)
    assert breaches <= ALPHA + 3 * _se(ALPHA, runs), message


def _symmetric(name: str, chance: np.ndarray, runs: int, seed: int, **cell: object) -> None:
    high, low = float(np.mean(chance > 0.95)), float(np.mean(chance < 0.05))
    bound = 3 * _se(0.05, runs)
    message = _report(f"{name}: share above 0.95", high, runs, seed, **cell)
    message += "; " + _report(f"{name}: share below 0.05", low, runs, seed, **cell)
    assert abs(high - 0.05) <= bound, message
    assert abs(low - 0.05) <= bound, message


@pytest.mark.parametrize("n", REVENUE_SIZES)
def test_default_chance_to_win_on_revenue_is_symmetric_and_calibrated_in_aa_tests(n: int) -> None:
    seed, runs = 500 + n, REVENUE_RUNS[n]
    comparison = welch_t_test(_revenue(n, 0.0, runs, seed), _revenue(n, 0.0, runs, seed + 1))
    chance = normal_effect_test(comparison).chance_to_win
    _symmetric("revenue chance to win (normal, relative)", chance, runs, seed, n=n)


@pytest.mark.parametrize(("rate", "n"), [(0.01, 500), (0.05, 200), (0.2, 100), (0.5, 200)])
def test_chance_to_win_on_conversions_is_symmetric_and_calibrated_in_aa_tests(
    rate: float, n: int
) -> None:
    seed, runs = 700 + n + int(rate * 100), 2 * CONVERSION_RUNS
    control = ProportionSummary(n, _conversions(rate, n, runs, seed))
    treated = ProportionSummary(n, _conversions(rate, n, runs, seed + 1))
    normal = normal_effect_test(two_proportion_z_test(control, treated)).chance_to_win
    _symmetric("conversion chance to win (normal, relative)", normal, runs, seed, rate=rate, n=n)
    exact = beta_binomial_test(control, treated).chance_to_win
    if rate * n >= 10:
        _symmetric("conversion chance to win (beta-binomial)", exact, runs, seed, rate=rate, n=n)
    else:
        # Five expected conversions: the flat Beta(1, 1) prior's pseudo-counts make the
        # exact posterior conservative (about 4.2 % each side) but never lopsided.
        high, low = float(np.mean(exact > 0.95)), float(np.mean(exact < 0.05))
        message = _report("beta-binomial above 0.95", high, runs, seed, rate=rate, n=n)
        message += "; " + _report("below 0.05", low, runs, seed, rate=rate, n=n)
        assert abs(high - low) <= 3 * math.sqrt(2 * 0.05 / runs), message
        assert max(high, low) <= 0.05 + 3 * _se(0.05, runs), message


def _holm_power(variants: int, n: float, effect: float, runs: int, seed: int) -> float:
    """Share of runs where variant 1 (the only one with the effect) wins under Holm."""
    rng = np.random.default_rng(seed)
    control = MeanSummary(n, *normal_sums(rng, n, 0.0, 1.0, (runs,)))
    p_values, estimates = [], []
    for arm in range(1, variants):
        treated = MeanSummary(n, *normal_sums(rng, n, effect if arm == 1 else 0.0, 1.0, (runs,)))
        result = welch_t_test(control, treated).absolute
        p_values.append(result.p_value)
        estimates.append(result.estimate)
    adjusted = holm(np.stack(p_values, axis=1), axis=1)
    return float(np.mean((adjusted[:, 0] < ALPHA) & (estimates[0] > 0)))


@pytest.mark.parametrize("variants", [2, 3, 4])
def test_planned_power_is_achieved_under_holm_across_variants(variants: int) -> None:
    runs, seed, effect, planned = 20_000, 900 + variants, 0.1, 0.8
    n = float(sample_size_means(mde=effect, std=1.0, power=planned, comparisons=variants - 1))
    achieved = _holm_power(variants, n, effect, runs, seed)
    message = _report(
        "power under Holm", achieved, runs, seed, variants=variants, n=n, planned=planned
    )
    assert abs(achieved - planned) <= 0.02, message


def test_planned_power_of_conversions_is_achieved_under_holm() -> None:
    runs, seed, variants, planned = 20_000, 950, 3, 0.8
    n = float(
        sample_size_proportions(baseline=0.1, mde=0.02, power=planned, comparisons=variants - 1)
    )
    rng = np.random.default_rng(seed)
    control = ProportionSummary(n, rng.binomial(int(n), 0.1, runs))
    winner = ProportionSummary(n, rng.binomial(int(n), 0.12, runs))
    null = ProportionSummary(n, rng.binomial(int(n), 0.1, runs))
    p = np.stack(
        [
            two_proportion_z_test(control, winner).absolute.p_value,
            two_proportion_z_test(control, null).absolute.p_value,
        ],
        axis=1,
    )
    achieved = float(np.mean(holm(p, axis=1)[:, 0] < ALPHA))
    message = _report("conversion power under Holm", achieved, runs, seed, n=n, planned=planned)
    assert abs(achieved - planned) <= 0.02, message


def test_planned_power_of_the_sequential_test_is_achieved_at_the_planned_size() -> None:
    runs, seed, effect, planned = 20_000, 990, 0.1, 0.8
    n = float(sample_size_means(mde=effect, std=1.0, power=planned, sequential=True))
    rng = np.random.default_rng(seed)
    control = MeanSummary(n, *normal_sums(rng, n, 0.0, 1.0, (runs,)))
    treated = MeanSummary(n, *normal_sums(rng, n, effect, 1.0, (runs,)))
    sequential = make_sequential(welch_t_test(control, treated))
    achieved = float(np.mean(sequential.absolute.p_value < ALPHA))
    message = _report("sequential power at the planned size", achieved, runs, seed, n=n)
    assert abs(achieved - planned) <= 0.02, message
