"""Thompson-sampling weights against scipy's integrals, closed forms and brute force.

References: ``P(arm i is best)`` is ``∫ f_i(x) Π_{j≠i} F_j(x) dx`` (scipy's
``integrate.quad`` over scipy's densities), for two beta arms also Evan Miller's
closed form (2015, "Formulas for Bayesian A/B testing") and for two normal arms
``Φ(Δ / sd)``; top-two weights against a simulation of the top-two procedure itself;
the floor against the water-filling solution ``max(floor, c w)`` found by ``brentq``.
Monte Carlo answers are compared within five standard errors, with seeded generators.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt
import pytest
from scipy import integrate, optimize, special, stats

from verdict.stats.bandits import (
    apply_floor,
    beta_posterior_draws,
    burn_in_done,
    normal_posterior_draws,
    probability_best,
    thompson_weights,
    top_two_weights,
)

DRAWS = 200_000
SIGMAS = 5.0


class Distribution(Protocol):
    """A frozen scipy distribution (what the integrals need of it)."""

    def pdf(self, x: float) -> float: ...
    def cdf(self, x: float) -> float: ...
    def sf(self, x: float) -> float: ...
    def ppf(self, q: float) -> float: ...
    def isf(self, q: float) -> float: ...


def _best_by_integration(
    arms: Sequence[Distribution], *, higher_is_better: bool = True
) -> np.ndarray:
    """P(arm i is the largest) (or the smallest) by numerical integration of the densities."""
    answers = []
    for i, arm in enumerate(arms):
        others = [a for j, a in enumerate(arms) if j != i]

        def integrand(
            x: float, arm: Distribution = arm, others: list[Distribution] = others
        ) -> float:
            beaten = [o.cdf(x) if higher_is_better else o.sf(x) for o in others]
            return float(arm.pdf(x) * np.prod(beaten))

        # Integrate where arm i has its mass (a sharp posterior defeats a blind [0, 1]).
        lower, upper = arm.ppf(1e-13), arm.isf(1e-13)
        value, _ = integrate.quad(integrand, lower, upper, epsabs=1e-12, epsrel=1e-10, limit=200)
        answers.append(value)
    return np.array(answers)


def _miller_b_beats_a(alpha_a: int, beta_a: int, alpha_b: int, beta_b: int) -> float:
    """Evan Miller's closed form of P(p_B > p_A) for beta posteriors (integer alpha_b)."""
    i = np.arange(alpha_b)
    terms = (
        special.betaln(alpha_a + i, beta_a + beta_b)
        - np.log(beta_b + i)
        - special.betaln(1 + i, beta_b)
        - special.betaln(alpha_a, beta_a)
    )
    return float(np.exp(terms).sum())


def _assert_within_monte_carlo(estimate: np.ndarray, reference: np.ndarray, draws: int) -> None:
    reference = np.asarray(reference, dtype=float)
    se = np.sqrt(np.maximum(reference * (1 - reference), 1e-6) / draws)
    np.testing.assert_array_less(np.abs(estimate - reference), SIGMAS * se + 1e-12)


def _beta_arms(conversions: npt.ArrayLike, units: npt.ArrayLike) -> list[Distribution]:
    pairs = zip(np.asarray(conversions), np.asarray(units), strict=True)
    return [stats.beta(1 + c, 1 + n - c) for c, n in pairs]


# --- posterior draws -----------------------------------------------------------------


def test_beta_draws_follow_each_arms_posterior_with_the_given_prior() -> None:
    rng = np.random.default_rng(1)
    conversions, units = [3, 40], [10, 100]
    draws = beta_posterior_draws(conversions, units, rng=rng, draws=20_000, prior_alpha=0.5)
    assert draws.shape == (20_000, 2)
    for arm, (c, n) in enumerate(zip(conversions, units, strict=True)):
        reference = stats.beta(0.5 + c, 1 + n - c)
        assert stats.kstest(draws[:, arm], reference.cdf).pvalue > 1e-3


def test_normal_draws_follow_the_flat_prior_posterior_of_each_mean() -> None:
    rng = np.random.default_rng(2)
    units, means, variances = [50, 400], [3.0, 3.2], [4.0, 9.0]
    draws = normal_posterior_draws(units, means, variances, rng=rng, draws=20_000)
    assert draws.shape == (20_000, 2)
    for arm in range(2):
        reference = stats.norm(means[arm], np.sqrt(variances[arm] / units[arm]))
        assert stats.kstest(draws[:, arm], reference.cdf).pvalue > 1e-3


def test_the_same_seed_gives_the_same_draws() -> None:
    first = beta_posterior_draws([5, 7], [100, 100], rng=np.random.default_rng(9), draws=50)
    second = beta_posterior_draws([5, 7], [100, 100], rng=np.random.default_rng(9), draws=50)
    np.testing.assert_array_equal(first, second)


# --- probability of being best -------------------------------------------------------


@pytest.mark.parametrize(
    ("conversions", "units"),
    [([48, 60], [1_000, 1_000]), ([3, 5], [10, 12]), ([0, 2], [20, 25])],
)
def test_two_beta_arms_match_the_closed_form_and_the_integral(
    conversions: list[int], units: list[int]
) -> None:
    rng = np.random.default_rng(11)
    draws = beta_posterior_draws(conversions, units, rng=rng, draws=DRAWS)
    best = probability_best(draws)
    (c_a, c_b), (n_a, n_b) = conversions, units
    closed = _miller_b_beats_a(1 + c_a, 1 + n_a - c_a, 1 + c_b, 1 + n_b - c_b)
    integral = _best_by_integration(_beta_arms(conversions, units))
    assert integral[1] == pytest.approx(closed, abs=1e-8)
    _assert_within_monte_carlo(best, np.array([1 - closed, closed]), DRAWS)


@pytest.mark.parametrize(
    ("conversions", "units"),
    [
        ([48, 55, 60], [1_000, 1_000, 1_000]),
        ([3, 5, 1], [10, 12, 4]),
        ([50, 26, 49], [1_000, 500, 980]),
    ],
)
def test_three_beta_arms_match_numerical_integration(
    conversions: list[int], units: list[int]
) -> None:
    rng = np.random.default_rng(12)
    best = probability_best(beta_posterior_draws(conversions, units, rng=rng, draws=DRAWS))
    reference = _best_by_integration(_beta_arms(conversions, units))
    assert reference.sum() == pytest.approx(1.0, abs=1e-8)
    _assert_within_monte_carlo(best, reference, DRAWS)
    assert best.sum() == pytest.approx(1.0)


def test_two_normal_arms_match_the_normal_cdf_of_the_standardised_difference() -> None:
    rng = np.random.default_rng(13)
    units, means, variances = [400, 300], [10.0, 10.3], [16.0, 25.0]
    best = probability_best(normal_posterior_draws(units, means, variances, rng=rng, draws=DRAWS))
    sd = np.sqrt(variances[0] / units[0] + variances[1] / units[1])
    b_wins = stats.norm.cdf((means[1] - means[0]) / sd)
    _assert_within_monte_carlo(best, np.array([1 - b_wins, b_wins]), DRAWS)


def test_three_normal_arms_match_numerical_integration() -> None:
    rng = np.random.default_rng(14)
    units, means, variances = [400, 300, 350], [10.0, 10.3, 10.2], [16.0, 25.0, 9.0]
    best = probability_best(normal_posterior_draws(units, means, variances, rng=rng, draws=DRAWS))
    arms = [stats.norm(m, np.sqrt(v / n)) for n, m, v in zip(units, means, variances, strict=True)]
    _assert_within_monte_carlo(best, _best_by_integration(arms), DRAWS)


@pytest.mark.parametrize(
    "make_arms",
    [
        pytest.param(
            lambda rng: (
                beta_posterior_draws([48, 55, 60], [1_000] * 3, rng=rng, draws=DRAWS),
                _beta_arms([48, 55, 60], [1_000] * 3),
            ),
            id="beta",
        ),
        pytest.param(
            lambda rng: (
                normal_posterior_draws(
                    [400, 300, 350], [10.0, 9.7, 9.8], [16, 25, 9], rng=rng, draws=DRAWS
                ),
                [
                    stats.norm(10.0, 0.2),
                    stats.norm(9.7, np.sqrt(25 / 300)),
                    stats.norm(9.8, np.sqrt(9 / 350)),
                ],
            ),
            id="normal",
        ),
    ],
)
def test_lower_is_better_gives_the_probability_of_being_smallest(
    make_arms: Callable[[np.random.Generator], tuple[np.ndarray, list[Distribution]]],
) -> None:
    draws, arms = make_arms(np.random.default_rng(15))
    best = probability_best(draws, higher_is_better=False)
    _assert_within_monte_carlo(best, _best_by_integration(arms, higher_is_better=False), DRAWS)


def test_leading_batch_axes_give_each_elements_own_answer() -> None:
    rng = np.random.default_rng(16)
    conversions = np.array([[[48, 55, 60], [3, 5, 1]], [[10, 10, 10], [0, 9, 4]]])
    units = np.array([[[1_000] * 3, [10, 12, 4]], [[100, 100, 100], [20, 30, 25]]])
    draws = beta_posterior_draws(conversions, units, rng=rng, draws=100_000)
    assert draws.shape == (2, 2, 100_000, 3)
    best = probability_best(draws)
    assert best.shape == (2, 2, 3)
    for index in np.ndindex(2, 2):
        reference = _best_by_integration(_beta_arms(conversions[index], units[index]))
        _assert_within_monte_carlo(best[index], reference, 100_000)


def test_normal_draws_take_leading_batch_axes() -> None:
    rng = np.random.default_rng(17)
    units = np.array([[400, 300], [50, 60]])
    means = np.array([[10.0, 10.3], [1.0, 0.9]])
    variances = np.array([[16.0, 25.0], [1.0, 0.5]])
    best = probability_best(normal_posterior_draws(units, means, variances, rng=rng, draws=DRAWS))
    assert best.shape == (2, 2)
    for row in range(2):
        sd = np.sqrt((variances[row] / units[row]).sum())
        b_wins = stats.norm.cdf((means[row, 1] - means[row, 0]) / sd)
        _assert_within_monte_carlo(best[row], np.array([1 - b_wins, b_wins]), DRAWS)


def test_tied_draws_are_split_evenly_between_the_tied_arms() -> None:
    samples = np.array([[1.0, 2.0, 0.0], [3.0, 3.0, 1.0], [0.0, 0.0, 0.0], [5.0, 1.0, 1.0]])
    # Enumerated: arm 1; arms 0 and 1 half each; all three a third each; arm 0.
    expected = np.array([0.5 + 1 / 3 + 1, 1 + 0.5 + 1 / 3, 1 / 3]) / 4
    np.testing.assert_allclose(probability_best(samples), expected, rtol=1e-15)
    # Lowest: arm 2; arm 2; all three; arms 1 and 2 half each.
    lowest = np.array([1 / 3, 1 / 3 + 0.5, 1 + 1 + 1 / 3 + 0.5]) / 4
    np.testing.assert_allclose(probability_best(samples, higher_is_better=False), lowest)


# --- top-two sampling ----------------------------------------------------------------


def _simulate_top_two(
    p: np.ndarray, beta: float, rng: np.random.Generator, trials: int
) -> np.ndarray:
    """Shares of arms played by the top-two procedure, run ``trials`` times."""
    k = p.size
    leader = rng.choice(k, size=trials, p=p)
    played = leader.copy()
    pending = np.flatnonzero(rng.random(trials) >= beta)  # these play a challenger
    while pending.size:
        candidate = rng.choice(k, size=pending.size, p=p)
        played[pending] = candidate
        pending = pending[candidate == leader[pending]]  # same as the leader: draw again
    return np.asarray(np.bincount(played, minlength=k) / trials, dtype=np.float64)


@pytest.mark.parametrize(
    ("p", "beta"),
    [
        ([0.6, 0.3, 0.1], 0.5),
        ([0.05, 0.15, 0.8], 0.5),
        ([0.25, 0.25, 0.25, 0.25], 0.3),
        ([0.9, 0.09, 0.01], 0.75),
        ([0.5, 0.5, 0.0], 0.5),
        ([0.97, 0.02, 0.01], 0.2),
    ],
)
def test_top_two_weights_match_a_simulation_of_the_top_two_procedure(
    p: list[float], beta: float
) -> None:
    trials = 400_000
    simulated = _simulate_top_two(np.array(p), beta, np.random.default_rng(21), trials)
    weights = top_two_weights(p, beta=beta)
    assert weights.sum() == pytest.approx(1.0, abs=1e-12)
    _assert_within_monte_carlo(weights, simulated, trials)


def test_top_two_weights_take_leading_batch_axes() -> None:
    p = np.array([[0.6, 0.3, 0.1], [0.05, 0.15, 0.8]])
    weights = top_two_weights(p, beta=0.5)
    for row in range(2):
        simulated = _simulate_top_two(p[row], 0.5, np.random.default_rng(22 + row), 400_000)
        _assert_within_monte_carlo(weights[row], simulated, 400_000)


def test_an_arm_certain_to_be_best_keeps_all_the_traffic() -> None:
    np.testing.assert_array_equal(top_two_weights([0.0, 1.0, 0.0], beta=0.5), [0.0, 1.0, 0.0])
    batch = top_two_weights([[1.0, 0.0], [0.5, 0.5]], beta=0.25)
    np.testing.assert_array_equal(batch[0], [1.0, 0.0])
    np.testing.assert_allclose(batch[1], [0.5, 0.5])


def test_top_two_with_beta_one_is_plain_thompson_sampling() -> None:
    p = np.array([[0.6, 0.3, 0.1], [0.05, 0.15, 0.8]])
    np.testing.assert_allclose(top_two_weights(p, beta=1.0), p, rtol=1e-15)


# --- the floor -----------------------------------------------------------------------


def _water_filling(w: np.ndarray, floor: float) -> np.ndarray:
    """max(floor, c w) summing to 1, c found by root finding."""
    if floor * w.size >= 1 - 1e-15:
        return np.full(w.size, 1 / w.size)

    def excess(c: float) -> float:
        return float(np.maximum(floor, c * w).sum() - 1)

    c = optimize.brentq(excess, 0.0, 1 / w.max(), xtol=1e-15, rtol=1e-15)
    return np.asarray(np.maximum(floor, c * w), dtype=np.float64)


def _random_weights(rng: np.random.Generator, rows: int, arms: int) -> np.ndarray:
    # Concentrated Dirichlet draws: many arms far below any floor, some exact zeros.
    w = rng.dirichlet(np.full(arms, 0.3), size=rows)
    w[rng.random((rows, arms)) < 0.1] = 0.0
    w[w.sum(axis=1) == 0, 0] = 1.0
    return np.asarray(w / w.sum(axis=1, keepdims=True), dtype=np.float64)


@pytest.mark.parametrize(
    ("arms", "floor"), [(2, 0.05), (3, 0.01), (3, 0.2), (5, 0.1), (8, 0.125), (4, 0.0)]
)
def test_floor_matches_the_water_filling_solution(arms: int, floor: float) -> None:
    w = _random_weights(np.random.default_rng(arms), 200, arms)
    floored = apply_floor(w, floor)
    assert floored.shape == w.shape
    for row in range(w.shape[0]):
        np.testing.assert_allclose(
            floored[row], _water_filling(w[row], floor), rtol=1e-9, atol=1e-12
        )


@pytest.mark.parametrize(("arms", "floor"), [(3, 0.01), (3, 0.3), (6, 0.1), (10, 0.1)])
def test_floored_weights_are_at_least_the_floor_and_sum_to_one(arms: int, floor: float) -> None:
    w = _random_weights(np.random.default_rng(100 + arms), 500, arms)
    floored = apply_floor(w, floor)
    assert np.all(floored >= floor - 1e-15)
    np.testing.assert_allclose(floored.sum(axis=-1), 1.0, rtol=0, atol=1e-12)


def test_arms_above_the_floor_keep_their_proportions() -> None:
    w = _random_weights(np.random.default_rng(7), 500, 4)
    floor = 0.1
    floored = apply_floor(w, floor)
    for row in range(w.shape[0]):
        above = floored[row] > floor * (1 + 1e-12)
        if above.sum() >= 2:
            ratios = floored[row, above] / w[row, above]
            np.testing.assert_allclose(ratios, ratios[0], rtol=1e-12)
        # An arm that was above the floor never ends below an arm that was below it.
        assert np.all(floored[row, w[row] >= floor] >= floor - 1e-15)


def test_applying_the_floor_twice_changes_nothing() -> None:
    w = _random_weights(np.random.default_rng(8), 300, 5)
    once = apply_floor(w, 0.05)
    np.testing.assert_allclose(apply_floor(once, 0.05), once, rtol=1e-14, atol=1e-16)


def test_a_floor_of_one_over_k_gives_equal_weights_and_zero_changes_nothing() -> None:
    w = np.array([[0.9, 0.1, 0.0], [0.2, 0.3, 0.5]])
    np.testing.assert_allclose(apply_floor(w, 1 / 3), np.full((2, 3), 1 / 3))
    np.testing.assert_array_equal(apply_floor(w, 0.0), w)


def test_floor_above_one_over_k_is_refused_naming_floor() -> None:
    with pytest.raises(ValueError, match=r"^floor: .*1/3"):
        apply_floor([0.5, 0.3, 0.2], 0.34)
    with pytest.raises(ValueError, match=r"^floor: "):
        apply_floor([0.5, 0.5], -0.01)


# --- burn-in and the combined update --------------------------------------------------


def test_burn_in_is_done_once_every_arm_has_enough_units() -> None:
    units = np.array([[100, 250, 100], [99, 400, 400], [0, 0, 0]])
    np.testing.assert_array_equal(burn_in_done(units, 100), [True, False, False])
    np.testing.assert_array_equal(burn_in_done(units, 0), [True, True, True])


def test_thompson_weights_are_the_floored_probability_of_being_best() -> None:
    # Winners enumerated: arm 0, arm 0, arm 1, arm 2, so P(best) = (1/2, 1/4, 1/4).
    samples = np.array([[3.0, 1.0, 0.0], [3.0, 1.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.0, 5.0]])
    weights, best = thompson_weights(samples, floor=0.3)
    np.testing.assert_allclose(best, [0.5, 0.25, 0.25])
    np.testing.assert_allclose(weights, _water_filling(np.array([0.5, 0.25, 0.25]), 0.3))
    np.testing.assert_allclose(weights, [0.4, 0.3, 0.3])
    # Lower is better: the same winners when every draw is negated.
    weights_low, best_low = thompson_weights(-samples, floor=0.3, higher_is_better=False)
    np.testing.assert_allclose(best_low, best)
    np.testing.assert_allclose(weights_low, weights)


def test_thompson_weights_with_top_two_floor_the_top_two_weights() -> None:
    samples = np.array([[3.0, 1.0, 0.0], [3.0, 1.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.0, 5.0]])
    weights, best = thompson_weights(samples, floor=0.05, top_two=0.5)
    np.testing.assert_allclose(best, [0.5, 0.25, 0.25])
    simulated = _simulate_top_two(best, 0.5, np.random.default_rng(31), 400_000)
    _assert_within_monte_carlo(weights, _water_filling(simulated, 0.05), 400_000)


# --- input errors name the argument ---------------------------------------------------


def _beta(conversions: object, units: object, **kwargs: object) -> None:
    beta_posterior_draws(conversions, units, rng=np.random.default_rng(0), **kwargs)  # type: ignore[arg-type]


def _normal(units: object, mean: object, variance: object, **kwargs: object) -> None:
    normal_posterior_draws(units, mean, variance, rng=np.random.default_rng(0), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: _beta([5, 12], [10, 10]), "conversions"),
        (lambda: _beta([5, 2], [10, 10, 10]), "conversions, units"),
        (lambda: _beta([5], [10]), "conversions"),
        (lambda: _beta([5, 2], [10, -10]), "units"),
        (lambda: _beta([5, 2.5], [10, 10]), "conversions"),
        (lambda: _beta([5, 2], [10, float("nan")]), "units"),
        (lambda: _beta([5, 2], [10, 10], prior_beta=-1.0), "prior_alpha, prior_beta"),
        (lambda: _beta([5, 2], [10, 10], draws=0), "draws"),
        (lambda: _beta([5, 2], [10, 10], draws=True), "draws"),
        (lambda: _beta([5, 2], [10, 10], draws=10.0), "draws"),
        (lambda: _normal([10, 0], [1.0, 2.0], [1.0, 1.0]), "units"),
        (lambda: _normal([10, 10], [1.0, float("inf")], [1.0, 1.0]), "mean"),
        (lambda: _normal([10, 10], [1.0, 2.0], [1.0, -1.0]), "variance"),
        (lambda: _normal([10, 10], [1.0, 2.0], [1.0, 1.0, 1.0]), "units, mean, variance"),
        (lambda: probability_best([0.1, 0.2, 0.3]), "samples"),
        (lambda: probability_best([[0.1], [0.2]]), "samples"),
        (lambda: top_two_weights([0.5, 0.5], beta=0.0), "beta"),
        (lambda: top_two_weights([0.5, 0.5], beta=1.5), "beta"),
        (lambda: top_two_weights([0.5, 0.6], beta=0.5), "probabilities"),
        (lambda: top_two_weights([1.5, -0.5], beta=0.5), "probabilities"),
        (lambda: apply_floor([0.5, 0.6], 0.1), "weights"),
        (lambda: apply_floor([1.0], 0.1), "weights"),
        (lambda: burn_in_done([10, 10], -1), "burn_in"),
        (lambda: burn_in_done([10], 5), "units"),
    ],
)
def test_input_errors_name_the_argument(call: Callable[[], object], name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name}: "):
        call()
