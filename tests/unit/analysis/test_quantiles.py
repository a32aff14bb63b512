"""Quantile summaries and the quantile difference test, against independent references.

References: the exact binomial distribution of the number of values below the true
quantile (``scipy.stats.binom``) for the ranks' coverage, ``numpy.quantile`` with the
inverted-CDF rule for the estimate, and seeded simulations for the intervals.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from verdict.stats.quantiles import (
    QuantileSummary,
    order_statistic_ranks,
    quantile_summary,
    quantile_test,
)

CASES = [(n, p) for n in (100, 500, 2000, 10_000) for p in (0.1, 0.5, 0.9)] + [
    (2000, 0.99),
    (10_000, 0.99),
]


@pytest.mark.parametrize(("n", "p"), CASES)
def test_ranks_bracket_the_quantile_with_the_exact_binomial_coverage(n: int, p: float) -> None:
    """[X_(l), X_(u)] covers the p-quantile iff l <= Binomial(n, p) <= u - 1."""
    _, lower, upper = order_statistic_ranks(n, p, 0.95)
    coverage = stats.binom.cdf(upper - 1, n, p) - stats.binom.cdf(lower - 1, n, p)
    assert 0.93 <= coverage <= 0.97
    # Within one rank of the exact equal-tailed binomial interval.
    exact_lower = stats.binom.ppf(0.025, n, p)
    exact_upper = stats.binom.ppf(0.975, n, p) + 1
    assert abs(lower - exact_lower) <= 1
    assert abs(upper - exact_upper) <= 1


@pytest.mark.parametrize("n", [1, 2, 7, 10, 333])
@pytest.mark.parametrize("p", [0.05, 0.5, 0.7, 0.9])
def test_the_estimate_is_numpys_inverted_cdf_quantile(n: int, p: float) -> None:
    values = np.random.default_rng(n).gamma(2.0, 3.0, size=n)
    summary = quantile_summary(values, p)
    assert float(summary.quantile) == np.quantile(values, p, method="inverted_cdf")
    assert float(summary.lower) <= float(summary.quantile) <= float(summary.upper)


def test_the_order_statistic_interval_covers_the_true_quantile_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(7)
    reps, n, p = 4000, 400, 0.9
    truth = -math.log(1 - p)  # exponential(1)
    samples = np.sort(rng.exponential(1.0, size=(reps, n)), axis=1)
    _, lower, upper = order_statistic_ranks(n, p)
    covered = (samples[:, lower - 1] <= truth) & (truth < samples[:, upper - 1])
    exact = stats.binom.cdf(upper - 1, n, p) - stats.binom.cdf(lower - 1, n, p)
    # Simulation agrees with the exact coverage within 4 Monte Carlo standard errors.
    assert abs(covered.mean() - exact) < 4 * math.sqrt(exact * (1 - exact) / reps)


def _arms(rng: np.random.Generator, scale: float, reps: int, n: int, p: float) -> QuantileSummary:
    samples = np.sort(rng.exponential(scale, size=(reps, n)), axis=1)
    rank, lower, upper = order_statistic_ranks(n, p)
    return QuantileSummary(
        n=np.full(reps, n),
        probability=np.full(reps, p),
        quantile=samples[:, rank - 1],
        lower=samples[:, lower - 1],
        upper=samples[:, upper - 1],
    )


def test_the_difference_interval_covers_the_true_difference() -> None:
    rng = np.random.default_rng(11)
    reps, n, p = 3000, 1000, 0.9
    control, treatment = _arms(rng, 1.0, reps, n, p), _arms(rng, 1.2, reps, n, p)
    result = quantile_test(control, treatment)
    truth = 0.2 * -math.log(1 - p)
    covered = (result.absolute.lower <= truth) & (truth <= result.absolute.upper)
    assert 0.92 <= covered.mean() <= 0.975
    assert result.absolute.estimate.shape == (reps,)


def test_under_no_effect_the_test_rejects_about_alpha_of_the_time() -> None:
    rng = np.random.default_rng(13)
    reps, n, p = 3000, 1000, 0.5
    result = quantile_test(_arms(rng, 1.0, reps, n, p), _arms(rng, 1.0, reps, n, p))
    rejections = (result.absolute.p_value < 0.05).mean()
    assert 0.025 <= rejections <= 0.08


def test_the_test_is_a_z_test_on_the_order_statistic_standard_errors() -> None:
    control = QuantileSummary(n=500, probability=0.9, quantile=10.0, lower=9.0, upper=11.5)
    treatment = QuantileSummary(n=520, probability=0.9, quantile=12.0, lower=10.5, upper=13.0)
    z = stats.norm.ppf(0.975)
    se = math.hypot(2.5 / (2 * z), 2.5 / (2 * z))
    result = quantile_test(control, treatment).item()
    assert result.absolute.estimate == pytest.approx(2.0)
    assert result.absolute.std_error == pytest.approx(se)
    assert result.absolute.p_value == pytest.approx(2 * stats.norm.sf(2.0 / se))
    assert result.absolute.lower == pytest.approx(2.0 - z * se)
    assert result.relative.estimate == pytest.approx(0.2)
    assert result.method == "quantile"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"n": 0}, "n"),
        ({"probability": 1.0}, "probability"),
        ({"lower": 11.0}, "lower"),
        ({"quantile": float("nan")}, "quantile"),
    ],
)
def test_an_inconsistent_summary_is_refused(fields: dict[str, float], message: str) -> None:
    values = {"n": 10, "probability": 0.5, "quantile": 10.0, "lower": 9.0, "upper": 12.0}
    values.update(fields)
    with pytest.raises(ValueError, match=message):
        QuantileSummary(**values)


def test_arms_of_different_quantiles_are_refused() -> None:
    p50 = QuantileSummary(n=10, probability=0.5, quantile=1.0, lower=0.5, upper=2.0)
    p90 = QuantileSummary(n=10, probability=0.9, quantile=3.0, lower=2.0, upper=4.0)
    with pytest.raises(ValueError, match="probability"):
        quantile_test(p50, p90)
