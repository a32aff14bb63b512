"""The relative lift's interval on the log scale (``log_lift_bounds``, used for
inverse-propensity weighted arms).

References: ``exp(log(t / c) +- q sqrt(v_t / t**2 + v_c / c**2)) - 1`` written out
element by element with the ``math`` module; where a mean is not positive, Fieller's
set from the roots of its quadratic ``(c**2 - q**2 v_c) rho**2 - 2 t c rho + t**2 -
q**2 v_t`` (``np.roots``), the lift ``sign(c) (rho - 1)``, unbounded when ``c**2 <=
q**2 v_c``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from verdict.stats.relative import log_lift_bounds


def _log_interval(t: float, v_t: float, c: float, v_c: float, q: float) -> tuple[float, float]:
    centre = math.log(t / c)
    spread = q * math.sqrt(v_t / t**2 + v_c / c**2)
    return math.exp(centre - spread) - 1, math.exp(centre + spread) - 1


def _fieller(t: float, v_t: float, c: float, v_c: float, q: float) -> tuple[float, float]:
    a = c**2 - q**2 * v_c
    if a <= 0:
        return -math.inf, math.inf
    low, high = np.sort(np.roots([a, -2 * t * c, t**2 - q**2 * v_t]).real)
    if c < 0:
        return float(1 - high), float(1 - low)
    return float(low - 1), float(high - 1)


def test_positive_means_give_the_log_scale_interval_element_by_element() -> None:
    rng = np.random.default_rng(1)
    t, c = rng.uniform(0.01, 5.0, size=50), rng.uniform(0.01, 5.0, size=50)
    v_t, v_c = (rng.uniform(0.01, 0.5, size=50) * m**2 for m in (t, c))
    q = stats.norm.ppf(0.975)
    lower, upper = log_lift_bounds(t, v_t, c, v_c, q)
    for i in range(t.size):
        expected = _log_interval(t[i], v_t[i], c[i], v_c[i], q)
        assert (lower[i], upper[i]) == pytest.approx(expected, rel=1e-12)


def test_the_critical_value_can_differ_per_element() -> None:
    t, v_t, c, v_c = np.full(3, 1.2), np.full(3, 0.01), np.full(3, 1.0), np.full(3, 0.02)
    q = np.array([1.0, 1.96, 3.5])
    lower, upper = log_lift_bounds(t, v_t, c, v_c, q)
    for i in range(3):
        assert (lower[i], upper[i]) == pytest.approx(
            _log_interval(1.2, 0.01, 1.0, 0.02, float(q[i])), rel=1e-12
        )
    assert np.all(np.diff(lower) < 0)
    assert np.all(np.diff(upper) > 0)


def test_the_interval_is_symmetric_on_the_log_scale_around_the_ratio() -> None:
    """``(1 + L_lower)(1 + L_upper) = (t / c)**2``, and swapping the arms gives the
    reciprocal interval; the upper end lies further from the lift than the lower."""
    t, v_t, c, v_c, q = 0.06, 0.003**2, 0.05, 0.008**2, 1.96
    lower, upper = log_lift_bounds(np.array(t), np.array(v_t), np.array(c), np.array(v_c), q)
    assert (1 + float(lower)) * (1 + float(upper)) == pytest.approx((t / c) ** 2, rel=1e-12)
    swapped_lower, swapped_upper = log_lift_bounds(
        np.array(c), np.array(v_c), np.array(t), np.array(v_t), q
    )
    assert 1 + float(swapped_lower) == pytest.approx(1 / (1 + float(upper)), rel=1e-12)
    assert 1 + float(swapped_upper) == pytest.approx(1 / (1 + float(lower)), rel=1e-12)
    assert float(upper) - (t / c - 1) > (t / c - 1) - float(lower)


def test_a_mean_that_is_not_positive_falls_back_to_fiellers_set_element_by_element() -> None:
    """One call, mixed elements: both positive (the log interval), a negative or zero
    treatment, a negative control, both negative (Fieller's set), a zero control and
    a negative control mean indistinguishable from zero (Fieller's set unbounded)."""
    t = np.array([1.5, -0.5, 0.0, 1.5, -1.5, 1.0, 1.0])
    c = np.array([2.0, 2.0, 2.0, -2.0, -2.0, 0.0, -0.1])
    v_t = np.full(7, 0.09)
    v_c = np.full(7, 0.04)
    q = 1.96
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lower, upper = log_lift_bounds(t, v_t, c, v_c, q)
    assert (lower[0], upper[0]) == pytest.approx(_log_interval(1.5, 0.09, 2.0, 0.04, q))
    for i in range(1, 7):
        expected = _fieller(t[i], v_t[i], c[i], v_c[i], q)
        assert (lower[i], upper[i]) == pytest.approx(expected, rel=1e-12), i
    assert (lower[5], upper[5]) == (-math.inf, math.inf)
    assert (lower[6], upper[6]) == (-math.inf, math.inf)
    assert np.all(np.isfinite(lower[:5]))


def test_a_positive_control_mean_near_zero_keeps_a_bounded_log_interval() -> None:
    """Both means positive, the control's within its own standard error of zero:
    Fieller's set would be unbounded; the log interval stays the log interval."""
    t, v_t, c, v_c, q = 1.0, 0.09, 0.1, 0.04, 1.96
    assert _fieller(t, v_t, c, v_c, q) == (-math.inf, math.inf)
    lower, upper = log_lift_bounds(np.array(t), np.array(v_t), np.array(c), np.array(v_c), q)
    assert (float(lower), float(upper)) == pytest.approx(_log_interval(t, v_t, c, v_c, q))
    assert math.isfinite(float(upper))
