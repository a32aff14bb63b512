"""Guardrail metrics: non-inferiority against a tolerated margin, one-sided, level held.

A guardrail (latency, errors, unsubscribes) must not get worse by more than a margin
``m > 0``. Let ``e`` be the effect measured in the metric's good direction (the
effect itself when higher is better, its negative when lower is better). Then

* non-inferiority is shown when H0: ``e <= -m`` is rejected by a one-sided test at
  alpha (Schuirmann 1987; FDA 2016 guidance on non-inferiority trials; Schultzberg,
  Ankargren & Franberg 2023, "Risk-aware product decisions in A/B tests with multiple
  metrics");
* the guardrail is breached when the opposite one-sided test rejects H0: ``e >= -m``:
  the treatment is significantly worse than the margin allows.

Absolute margins (``relative=False``, metric units) test ``(e_hat + m) / se`` with the
comparison's degrees of freedom. Relative margins (``relative=True``, the default;
``m = 0.02`` tolerates a 2 % degradation) are *not* tested on the delta-method lift
(whose standard error, taken at the observed means, breaches 9-15 % of the time at the
margin). The relative lift is ``L = (m_t - m_c) / |m_c|`` (so "better" never inverts
under a negative control mean), and the boundary ``L = -m`` in the good direction is
``m_t = k m_c`` with ``k = 1 - g m sign(m_c)`` (``g = +1`` when higher is better, -1
when lower is better): a linear contrast of the arm means, tested as

* means, ratios, CUPED -- Fieller's contrast ``g (m_t - k m_c) / sqrt(v_t + k**2 v_c)``,
  Welch-Satterthwaite df ``(v_t + k**2 v_c)**2 / (v_t**2/(n_t - 1) + k**4 v_c**2/(n_c - 1))``;
* proportions -- the Farrington-Manning score test of the ratio ``p_t / p_c = k``
  (Farrington & Manning 1990, Statistics in Medicine 9; statsmodels
  ``test_proportions_2indep(compare="ratio", method="score", correction=False)``),
  whose variance is taken at the restricted maximum-likelihood rates.

The reported lower bound is the matching one-sided Fieller (score) bound of the lift.
A relative margin cannot be judged when the control mean is 0 or not distinguishable
from 0 at the test's level (``no_baseline``, ``baseline_uncertain``); neither kind can be
judged without variance or estimates (see :mod:`verdict.stats.status`): then both
p-values are NaN, nothing is shown and nothing breached. For a sequential comparison
both p-values are always valid: the mixture p-value of :mod:`verdict.stats.sequential`
on the same statistic (two-sided, hence conservative for each one-sided question), and
the lower bound comes from the confidence sequence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from verdict.stats.effects import (
    Comparison,
    critical_values,
    is_proportion_test,
    p_value,
    relative_bounds,
)
from verdict.stats.inputs import FloatArray, Index, pick
from verdict.stats.relative import score_ratio_statistic
from verdict.stats.sequential import (
    DEFAULT_TUNING_UNITS,
    confidence_sequence_multiplier,
    sequential_p_value,
)
from verdict.stats.status import DataStatus, StatusArray, status_of

__all__ = ["NonInferiority", "non_inferiority"]

V = TypeVar("V")


@dataclass(frozen=True)
class NonInferiority(Generic[V]):
    """Non-inferiority of a guardrail, on the metric's good-direction scale."""

    margin: float
    relative: bool
    higher_is_better: bool
    alpha: float
    effect: V
    lower_bound: V
    p_value: V
    harm_p_value: V
    status: StatusArray

    def at(self: NonInferiority[FloatArray], index: Index = ()) -> NonInferiority[float]:
        """One element of a batch, as floats."""
        return NonInferiority(
            margin=self.margin,
            relative=self.relative,
            higher_is_better=self.higher_is_better,
            alpha=self.alpha,
            effect=pick(self.effect, index),
            lower_bound=pick(self.lower_bound, index),
            p_value=pick(self.p_value, index),
            harm_p_value=pick(self.harm_p_value, index),
            status=np.asarray(self.status[index], dtype="<U20"),
        )

    def item(self: NonInferiority[FloatArray]) -> NonInferiority[float]:
        """The only element of a scalar batch, as floats."""
        if np.size(self.effect) != 1:
            raise ValueError(f"item: the batch holds {np.size(self.effect)} results")
        return self.at((0,) * np.ndim(self.effect))

    def shown(self: NonInferiority[float]) -> bool:
        """Non-inferiority demonstrated (H0 ``e <= -margin`` rejected)."""
        return self.p_value < self.alpha

    def breached(self: NonInferiority[float]) -> bool:
        """Significantly worse than the margin allows."""
        return self.harm_p_value < self.alpha

    def judgeable(self: NonInferiority[float]) -> bool:
        """Whether the data can say anything about this guardrail yet."""
        return math.isfinite(self.p_value)

    def data_status(self) -> DataStatus:
        """Why a single guardrail check can (not) be judged."""
        return status_of(self.status)

    def to_dict(self: NonInferiority[float]) -> dict[str, Any]:
        """JSON-friendly: NaN and infinities become ``None``."""

        def clean(value: float) -> float | None:
            return value if math.isfinite(value) else None

        return {
            "margin": self.margin,
            "relative": self.relative,
            "higher_is_better": self.higher_is_better,
            "alpha": self.alpha,
            "effect": clean(self.effect),
            "lower_bound": clean(self.lower_bound),
            "p_value": clean(self.p_value),
            "harm_p_value": clean(self.harm_p_value),
            "shown": self.shown(),
            "breached": self.breached(),
            "status": self.data_status().value,
        }


def _welch_contrast_df(comparison: Comparison[FloatArray], k: FloatArray) -> FloatArray:
    """Welch-Satterthwaite df of ``t - k c`` (infinite for z-tests)."""
    v_t, v_c = comparison.treatment_variance, comparison.control_variance
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (v_t + k * k * v_c) ** 2 / (
            v_t**2 / (comparison.treatment_units - 1)
            + k**4 * v_c**2 / (comparison.control_units - 1)
        )
    finite = np.isfinite(comparison.degrees_of_freedom)
    return np.asarray(np.where(finite & np.isfinite(df), df, comparison.degrees_of_freedom))


def non_inferiority(
    comparison: Comparison[FloatArray],
    *,
    margin: float,
    relative: bool = True,
    higher_is_better: bool = True,
    tuning_units: float | None = None,
) -> NonInferiority[FloatArray]:
    """One-sided non-inferiority test of a guardrail at the comparison's alpha.

    ``tuning_units`` is the sequential tuning when the comparison is sequential
    (default :data:`verdict.stats.sequential.DEFAULT_TUNING_UNITS`).
    """
    if (
        not (
            isinstance(margin, int | float)
            and not isinstance(margin, bool)
            and math.isfinite(margin)
        )
        or margin < 0
    ):
        raise ValueError(f"margin: must be a non-negative finite number, got {margin!r}")
    if relative and higher_is_better and margin >= 1:
        raise ValueError(
            f"margin: a relative margin must be below 1 (a 100 % drop) when higher is "
            f"better, got {margin!r}"
        )
    sign = 1.0 if higher_is_better else -1.0
    alpha = comparison.alpha
    sequential = comparison.method.startswith("sequential")
    total = np.asarray(comparison.control_units + comparison.treatment_units)
    tuning = DEFAULT_TUNING_UNITS if tuning_units is None else tuning_units
    status = comparison.status
    blind = np.isin(status, (DataStatus.UNDEFINED.value, DataStatus.NO_VARIANCE.value))
    if sequential:
        df = np.full_like(comparison.degrees_of_freedom, np.inf)
        critical = confidence_sequence_multiplier(total, alpha=alpha, tuning_units=tuning)
    else:
        df = comparison.degrees_of_freedom
        critical = critical_values(alpha, df, "greater")

    if relative:
        # The margin's boundary, L = -margin in the good direction, is m_t = k m_c.
        control_sign = np.where(comparison.control_mean < 0, -1.0, 1.0)
        k = np.asarray(1.0 - sign * float(margin) * control_sign)
        effect = np.asarray(sign * comparison.relative.estimate)
        if is_proportion_test(comparison.method):
            statistic = sign * score_ratio_statistic(
                comparison.treatment_mean * comparison.treatment_units,
                comparison.treatment_units,
                comparison.control_mean * comparison.control_units,
                comparison.control_units,
                k,
            )
            uncertain = np.zeros(np.shape(status), dtype=bool)
        else:
            m_t, m_c = comparison.treatment_mean, comparison.control_mean
            se = np.sqrt(comparison.treatment_variance + k * k * comparison.control_variance)
            with np.errstate(divide="ignore", invalid="ignore"):
                statistic = sign * (m_t - k * m_c) / se
            if not sequential:
                df = _welch_contrast_df(comparison, k)
                critical = critical_values(alpha, df, "greater")
            uncertain = m_c * m_c <= critical**2 * comparison.control_variance
        bounds = relative_bounds(
            method=comparison.method,
            control_mean=comparison.control_mean,
            control_variance=comparison.control_variance,
            treatment_mean=comparison.treatment_mean,
            treatment_variance=comparison.treatment_variance,
            control_units=comparison.control_units,
            treatment_units=comparison.treatment_units,
            critical=critical,
            alternative="greater" if higher_is_better else "less",
        )
        lower = np.asarray(bounds[0] if higher_is_better else -bounds[1])
        no_baseline = comparison.control_mean == 0
        status = np.asarray(
            np.where(
                ~blind & no_baseline,
                DataStatus.NO_BASELINE.value,
                np.where(~blind & uncertain, DataStatus.BASELINE_UNCERTAIN.value, status),
            ),
            dtype="<U20",
        )
        cannot = blind | no_baseline | uncertain
    else:
        effect = np.asarray(sign * comparison.absolute.estimate)
        se = comparison.absolute.std_error
        shifted = effect + margin
        with np.errstate(divide="ignore", invalid="ignore"):
            statistic = np.where((se == 0) & (shifted == 0), 0.0, shifted / se)
        lower = np.asarray(effect - critical * se)
        cannot = blind

    statistic = np.asarray(statistic)
    if sequential:
        always_valid = sequential_p_value(
            statistic, np.ones_like(statistic), total, alpha=alpha, tuning_units=tuning
        )
        p_shown = np.asarray(np.where(statistic > 0, always_valid, 1.0))
        p_harm = np.asarray(np.where(statistic < 0, always_valid, 1.0))
    else:
        p_shown = p_value(statistic, df, "greater")
        p_harm = p_value(statistic, df, "less")
    return NonInferiority(
        margin=float(margin),
        relative=relative,
        higher_is_better=higher_is_better,
        alpha=alpha,
        effect=effect,
        lower_bound=np.asarray(np.where(cannot, np.nan, lower)),
        p_value=np.asarray(np.where(cannot, np.nan, p_shown)),
        harm_p_value=np.asarray(np.where(cannot, np.nan, p_harm)),
        status=np.asarray(status, dtype="<U20"),
    )
