"""Beta-binomial and normal Bayesian comparisons against direct numerical integration."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from verdict.stats import (
    BetaPrior,
    Comparison,
    MeanSummary,
    NormalPrior,
    ProportionSummary,
    beta_binomial_test,
    normal_effect_test,
    probability_greater,
    welch_t_test,
)
from verdict.stats.beta_probability import MILLER_MAX_TERMS
from verdict.stats.inputs import FloatArray


def _quad_probability(a1: float, b1: float, a2: float, b2: float) -> float:
    """P(X2 > X1) = integral of f2(x) F1(x) dx, by scipy's adaptive quadrature."""
    lo, hi = stats.beta.ppf([1e-16, 1 - 1e-16], a2, b2)
    points = [p for p in (a1 / (a1 + b1), a2 / (a2 + b2)) if lo < p < hi]
    value, _ = integrate.quad(
        lambda x: stats.beta.pdf(x, a2, b2) * stats.beta.cdf(x, a1, b1),
        lo,
        hi,
        points=points or None,
        limit=500,
        epsabs=1e-14,
        epsrel=1e-12,
    )
    return value


CASES = [
    (1, 1, 1, 1),  # flat priors, no data: 1/2
    (3, 10, 5, 8),  # closed form, small
    (21, 80, 30, 71),
    (501, 9_500, 561, 9_440),  # closed form, hundreds of terms
    (1_201, 98_800, 1_301, 98_700),  # quadrature: every parameter above the term limit
    (100_001, 900_000, 100_501, 899_500),  # a million units per arm
    (2.5, 7.5, 4.5, 3.5),  # non-integer priors, quadrature
    (0.5, 10.5, 3.5, 8.5),  # Jeffreys prior, no conversions: adaptive quadrature
    (7, 1_000_000, 2_000, 300_000),  # very different arms
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_chance_to_beat_matches_numerical_integration_of_the_beta_densities(
    case: tuple[float, float, float, float],
) -> None:
    ours = float(probability_greater(*(np.asarray(float(v)) for v in case)))
    assert ours == pytest.approx(_quad_probability(*case), abs=1e-9)


def test_the_routes_cover_closed_form_quadrature_and_adaptive_cases() -> None:
    assert min(CASES[3]) <= MILLER_MAX_TERMS < min(CASES[4])


def test_probabilities_of_both_orders_add_to_one_in_a_batch() -> None:
    rng = np.random.default_rng(4)
    a1, b1, a2, b2 = rng.integers(1, 3_000, (4, 200)).astype(float)
    forward = probability_greater(a1, b1, a2, b2)
    backward = probability_greater(a2, b2, a1, b1)
    np.testing.assert_allclose(forward + backward, 1.0, atol=1e-10)


def test_beta_binomial_posteriors_and_chance_to_win_follow_the_prior() -> None:
    prior = BetaPrior(2.0, 8.0)
    result = beta_binomial_test(
        ProportionSummary(1_000, 100), ProportionSummary(1_000, 125), prior=prior
    ).item()
    assert result.control is not None
    assert result.treatment is not None
    assert result.control.mean == pytest.approx(stats.beta.mean(102, 908))
    assert result.treatment.lower == pytest.approx(stats.beta.ppf(0.025, 127, 883))
    assert result.treatment.upper == pytest.approx(stats.beta.ppf(0.975, 127, 883))
    assert result.chance_to_win == pytest.approx(_quad_probability(102, 908, 127, 883), abs=1e-9)


def test_expected_losses_match_double_integration() -> None:
    a_c, b_c, a_t, b_t = 41.0, 361.0, 52.0, 350.0
    result = beta_binomial_test(ProportionSummary(400, 40), ProportionSummary(400, 51)).item()

    def loss(a_win: float, b_win: float, a_other: float, b_other: float) -> float:
        # E[max(W - O, 0)] = integral over o of f_O(o) * integral over w > o of (w - o) f_W(w).
        def inner(o: float) -> float:
            value, _ = integrate.quad(
                lambda w: (w - o) * stats.beta.pdf(w, a_win, b_win), o, 1.0, limit=200
            )
            return value * stats.beta.pdf(o, a_other, b_other)

        value, _ = integrate.quad(inner, 0.0, 0.4, limit=200, points=[0.1, 0.13])
        return value

    assert result.risk_treatment == pytest.approx(loss(a_c, b_c, a_t, b_t), abs=1e-8)
    assert result.risk_control == pytest.approx(loss(a_t, b_t, a_c, b_c), abs=1e-8)


def test_lower_is_better_flips_the_chance_and_swaps_the_risks() -> None:
    up = beta_binomial_test(ProportionSummary(500, 60), ProportionSummary(500, 45)).item()
    down = beta_binomial_test(
        ProportionSummary(500, 60), ProportionSummary(500, 45), higher_is_better=False
    ).item()
    assert down.chance_to_win == pytest.approx(1 - up.chance_to_win)
    assert (down.risk_control, down.risk_treatment) == (up.risk_treatment, up.risk_control)


def test_huge_counts_stay_finite_and_agree_with_the_normal_approximation() -> None:
    result = beta_binomial_test(
        ProportionSummary(50_000_000, 5_000_000), ProportionSummary(50_000_000, 5_002_000)
    ).item()
    se = np.sqrt(2 * 0.1 * 0.9 / 50_000_000)
    assert result.chance_to_win == pytest.approx(stats.norm.cdf(2_000 / 50_000_000 / se), abs=1e-4)
    assert np.isfinite(result.risk_control)


def _comparison() -> Comparison[FloatArray]:
    return welch_t_test(
        MeanSummary(2_000, 20_400.0, 260_000.0), MeanSummary(2_100, 22_000.0, 280_000.0)
    )


def test_flat_normal_model_gives_normal_chance_interval_and_truncated_normal_risks() -> None:
    comparison = _comparison()
    result = normal_effect_test(comparison).item()
    lift, difference = comparison.item().relative, comparison.item().absolute
    mu, sd = lift.estimate, lift.std_error
    # "The lift is positive" is "the difference is positive": its chance comes from the
    # (symmetric) normal posterior of the difference.
    assert result.chance_to_win == pytest.approx(
        stats.norm.sf(0, difference.estimate, difference.std_error)
    )
    assert result.effect.lower == pytest.approx(stats.norm.ppf(0.025, mu, sd))
    # E[max(D, 0)] = P(D > 0) E[D | D > 0], with scipy's truncated normal.
    above = stats.truncnorm((0 - mu) / sd, np.inf, loc=mu, scale=sd).mean()
    below = stats.truncnorm(-np.inf, (0 - mu) / sd, loc=mu, scale=sd).mean()
    assert result.risk_control == pytest.approx(stats.norm.sf(0, mu, sd) * above, rel=1e-9)
    assert result.risk_treatment == pytest.approx(-stats.norm.cdf(0, mu, sd) * below, rel=1e-9)


def test_proper_normal_prior_matches_numerical_posterior() -> None:
    comparison = _comparison()
    prior = NormalPrior(mean=0.0, variance=0.02**2)
    result = normal_effect_test(comparison, prior=prior, scale="relative").item()
    lift = comparison.item().relative

    def unnormalised(x: float) -> float:
        return stats.norm.pdf(x, lift.estimate, lift.std_error) * stats.norm.pdf(x, 0.0, 0.02)

    mass, _ = integrate.quad(unnormalised, -1, 1, points=[0.0, lift.estimate])
    mean, _ = integrate.quad(lambda x: x * unnormalised(x), -1, 1, points=[0.0, lift.estimate])
    assert result.effect.mean == pytest.approx(mean / mass, rel=1e-7)
    # The chance to win: the same prior read on the difference (lift x |control mean|).
    diff, base = comparison.item().absolute, abs(comparison.item().control_mean)

    def on_difference(d: float) -> float:
        return stats.norm.pdf(d, diff.estimate, diff.std_error) * stats.norm.pdf(
            d, 0.0, 0.02 * base
        )

    span = 20 * diff.std_error
    total, _ = integrate.quad(on_difference, -span, span, points=[0.0, diff.estimate])
    above, _ = integrate.quad(on_difference, 0, span, points=[diff.estimate])
    assert result.chance_to_win == pytest.approx(above / total, rel=1e-7)
    assert abs(result.effect.mean) < abs(lift.estimate)  # shrunk towards the prior mean


def test_invalid_priors_raise() -> None:
    with pytest.raises(ValueError, match=r"prior\.alpha: must be a positive number"):
        BetaPrior(0.0, 1.0)
    with pytest.raises(ValueError, match=r"prior\.variance: must be positive"):
        NormalPrior(0.0, -1.0)
    with pytest.raises(ValueError, match="scale"):
        normal_effect_test(_comparison(), scale="log")  # type: ignore[arg-type]


def test_beta_parameters_must_be_positive() -> None:
    with pytest.raises(ValueError, match="b2: beta parameters must be positive"):
        probability_greater(np.asarray(1.0), np.asarray(1.0), np.asarray(1.0), np.asarray(0.0))
