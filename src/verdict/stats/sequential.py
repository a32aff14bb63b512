"""Sequential testing: always-valid p-values and confidence sequences (peek any time).

Method: the asymptotic confidence sequence of Waudby-Smith, Arnold, Wu, Lindon,
Ramdas & Liang (2023/2024), "Time-uniform central limit theory and asymptotic
confidence sequences" (Annals of Statistics; arXiv:2103.06476, eq. 9 and the
mixture tuning of its appendix), which is the normal-mixture mSPRT of Johari,
Pekelis & Walsh (2017/2022), "Always valid inference: continuous monitoring of A/B
tests" (Operations Research), with the variance estimated from the data. GrowthBook
uses the same construction, so the numbers match gbstats' sequential test.

With ``N`` units in the comparison (both arms), an effect estimate ``e`` with
standard error ``se`` and ``s**2 = N se**2`` (the per-unit variance of the effect's
influence function), the mixture martingale against H0: effect = 0 is

    M_N = exp(rho**2 N**2 e**2 / (2 s**2 (N rho**2 + 1))) / sqrt(N rho**2 + 1)

and by Ville's inequality ``P(sup_N M_N >= 1/alpha) <= alpha``. Hence

* the always-valid p-value ``p_N = min(1, 1 / M_N)``: rejecting at the first look
  with ``p_N <= alpha`` keeps the false-positive rate at or below alpha however
  often one looks (carry the running minimum over looks if you store p-values);
* the (1 - alpha) confidence sequence
  ``e +- s sqrt(2 (N rho**2 + 1) / (N**2 rho**2) log(sqrt(N rho**2 + 1) / alpha))``.

Tuning: ``rho`` is chosen so the sequence is tightest at ``N = tuning_units``,
``rho**2 = (-2 log alpha + log(-2 log alpha + 1)) / tuning_units``. In Johari et
al.'s terms this is a normal mixture over effects with variance ``tau**2 = rho**2
s**2``. Set ``tuning_units`` to the total sample size you expect to reach (the
default, 5,000, is GrowthBook's); a wrong guess costs width, never validity.
Only two-sided tests are offered: the mixture is symmetric.

The half-width is ``c_N se`` with a multiplier ``c_N`` that depends on ``N`` alone
(:func:`confidence_sequence_multiplier`), so the relative lift's sequence is Fieller's
(or, for proportions, Koopman's score) set at the critical value ``c_N``
(:mod:`verdict.stats.relative`), and its p-value is the absolute one: the test of
``L = 0`` is the test of ``d = 0``. The mixture p-value at a single look rejects
exactly when ``|z| >= sqrt((g / (rho**2 N)) (log g - 2 log alpha))``, ``g = N rho**2 + 1``
(:func:`sequential_critical_z`); the power calculator plans with it.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from verdict.stats.effects import Comparison, Effect, relative_bounds
from verdict.stats.inputs import FloatArray, check_alpha
from verdict.stats.status import DataStatus

__all__ = [
    "DEFAULT_TUNING_UNITS",
    "confidence_sequence_half_width",
    "confidence_sequence_multiplier",
    "make_sequential",
    "mixture_rho_squared",
    "sequential_critical_z",
    "sequential_p_value",
]

DEFAULT_TUNING_UNITS = 5_000.0
"""Total units at which the confidence sequence is tightest (GrowthBook's default)."""


def mixture_rho_squared(alpha: float, tuning_units: float) -> float:
    """``rho**2`` making the boundary tightest at ``tuning_units`` total units."""
    alpha = check_alpha(alpha)
    if not tuning_units > 0 or not math.isfinite(tuning_units):
        raise ValueError(f"tuning_units: must be a positive number, got {tuning_units!r}")
    log_term = -2.0 * math.log(alpha)
    return (log_term + math.log(log_term + 1.0)) / tuning_units


def confidence_sequence_half_width(
    std_error: FloatArray,
    total_units: FloatArray,
    *,
    alpha: float = 0.05,
    tuning_units: float = DEFAULT_TUNING_UNITS,
) -> FloatArray:
    """Half-width of the (1 - alpha) asymptotic confidence sequence at ``total_units``."""
    rho2 = mixture_rho_squared(alpha, tuning_units)
    n = total_units
    s = std_error * np.sqrt(n)
    growth = n * rho2 + 1.0
    return np.asarray(s * np.sqrt(2.0 * growth / (n**2 * rho2) * np.log(np.sqrt(growth) / alpha)))


def confidence_sequence_multiplier(
    total_units: FloatArray,
    *,
    alpha: float = 0.05,
    tuning_units: float = DEFAULT_TUNING_UNITS,
) -> FloatArray:
    """``c_N``: the confidence sequence at ``N`` total units is ``estimate +- c_N se``."""
    rho2 = mixture_rho_squared(alpha, tuning_units)
    n = np.asarray(total_units, dtype=np.float64)
    growth = n * rho2 + 1.0
    return np.asarray(np.sqrt(2.0 * growth / (n * rho2) * np.log(np.sqrt(growth) / alpha)))


def sequential_critical_z(
    total_units: FloatArray,
    *,
    level: float,
    alpha: float = 0.05,
    tuning_units: float = DEFAULT_TUNING_UNITS,
) -> FloatArray:
    """``|z|`` at which the always-valid p-value (tuned at ``alpha``) reaches ``level``.

    ``level`` may differ from ``alpha``: Holm compares the p-values of a family with
    ``alpha / m`` and larger.
    """
    rho2 = mixture_rho_squared(alpha, tuning_units)
    n = np.asarray(total_units, dtype=np.float64)
    growth = n * rho2 + 1.0
    return np.asarray(np.sqrt(growth / (rho2 * n) * (np.log(growth) - 2.0 * math.log(level))))


def sequential_p_value(
    estimate: FloatArray,
    std_error: FloatArray,
    total_units: FloatArray,
    *,
    alpha: float = 0.05,
    tuning_units: float = DEFAULT_TUNING_UNITS,
    null: float | FloatArray = 0.0,
) -> FloatArray:
    """Always-valid p-value ``min(1, 1 / M_N)`` of H0: effect = ``null``.

    ``alpha`` enters only through the tuning of ``rho`` (the p-value is valid at
    every level).
    """
    rho2 = mixture_rho_squared(alpha, tuning_units)
    growth = total_units * rho2 + 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        z2 = (estimate - null) ** 2 / std_error**2
        z2 = np.where((std_error == 0) & (estimate == null), 0.0, z2)
    # log(1 / M_N), clipped at 0 so the p-value never exceeds 1 and never overflows.
    log_p = 0.5 * np.log(growth) - rho2 * total_units * z2 / (2.0 * growth)
    return np.asarray(np.exp(np.minimum(log_p, 0.0)))


def make_sequential(
    comparison: Comparison[FloatArray], *, tuning_units: float = DEFAULT_TUNING_UNITS
) -> Comparison[FloatArray]:
    """The same comparison with confidence sequences and always-valid p-values.

    Works for any fixed-horizon comparison (Welch, z, ratio, CUPED): it reuses the
    estimates and standard errors (the unpooled ones for proportions). The relative
    sequence is Fieller's (Koopman's for proportions, the log scale for
    inverse-propensity weighted arms) at the sequence's multiplier.
    """
    if comparison.alternative != "two-sided":
        raise ValueError(
            f"comparison.alternative: sequential tests are two-sided, got "
            f"{comparison.alternative!r}"
        )
    if comparison.method.startswith("sequential"):
        raise ValueError("comparison: is already sequential")
    total = np.asarray(comparison.control_units + comparison.treatment_units)
    alpha = comparison.alpha
    status = comparison.status
    blind = np.isin(status, (DataStatus.UNDEFINED.value, DataStatus.NO_VARIANCE.value))
    no_lift = blind | (comparison.control_mean == 0)
    absolute = comparison.absolute
    multiplier = confidence_sequence_multiplier(total, alpha=alpha, tuning_units=tuning_units)
    half = multiplier * absolute.std_error
    p = sequential_p_value(
        absolute.estimate, absolute.std_error, total, alpha=alpha, tuning_units=tuning_units
    )
    method = f"sequential {comparison.method}"
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_lower, rel_upper = relative_bounds(
            method=method,
            control_mean=comparison.control_mean,
            control_variance=comparison.control_variance,
            treatment_mean=comparison.treatment_mean,
            treatment_variance=comparison.treatment_variance,
            control_units=comparison.control_units,
            treatment_units=comparison.treatment_units,
            critical=multiplier,
            alternative="two-sided",
        )
    lift = comparison.relative.estimate
    return replace(
        comparison,
        method=method,
        absolute=Effect(
            estimate=absolute.estimate,
            std_error=absolute.std_error,
            lower=np.asarray(np.where(blind, np.nan, absolute.estimate - half)),
            upper=np.asarray(np.where(blind, np.nan, absolute.estimate + half)),
            p_value=np.asarray(np.where(blind, np.nan, p)),
        ),
        relative=Effect(
            estimate=lift,
            std_error=comparison.relative.std_error,
            lower=np.asarray(np.where(no_lift, np.nan, np.minimum(rel_lower, lift))),
            upper=np.asarray(np.where(no_lift, np.nan, np.maximum(rel_upper, lift))),
            p_value=np.asarray(np.where(blind, np.nan, p)),
        ),
    )
