"""Guardrail metrics: non-inferiority against a tolerated margin.

A guardrail (latency, errors, unsubscribes) must not get worse by more than a margin
``m > 0``. Let ``e`` be the effect measured in the metric's good direction (the
effect itself when higher is better, its negative when lower is better). Then

* non-inferiority is shown when H0: ``e <= -m`` is rejected by the one-sided test
  ``p = P(T >= (e_hat + m) / se)``, equivalently when the one-sided (1 - alpha)
  lower bound of ``e`` is above ``-m`` (Schuirmann 1987; FDA 2016 guidance on
  non-inferiority trials; Schultzberg, Ankargren & Franberg 2023, "Risk-aware
  product decisions in A/B tests with multiple metrics");
* the guardrail is breached when the opposite one-sided test rejects H0: ``e >= -m``,
  ``p_harm = P(T <= (e_hat + m) / se)`` below alpha: the treatment is significantly
  worse than the margin allows.

``relative=True`` (the default) puts the margin on the relative lift (``m = 0.02``
tolerates a 2% degradation); ``relative=False`` on the absolute difference, in the
metric's units. ``T`` is Student's t with the comparison's degrees of freedom. For a
sequential comparison both p-values are always valid: the mixture p-value of
:mod:`verdict.stats.sequential` against the null ``e = -m`` (two-sided, hence
conservative for each one-sided question), and the lower bound comes from the
confidence sequence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

from verdict.stats.effects import Comparison, p_value, quantile
from verdict.stats.inputs import FloatArray, Index, pick
from verdict.stats.sequential import (
    DEFAULT_TUNING_UNITS,
    confidence_sequence_half_width,
    sequential_p_value,
)

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
        }


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
    if not (isinstance(margin, int | float) and math.isfinite(margin) and margin >= 0):
        raise ValueError(f"margin: must be a non-negative number, got {margin!r}")
    source = comparison.relative if relative else comparison.absolute
    sign = 1.0 if higher_is_better else -1.0
    effect = np.asarray(sign * source.estimate)
    se = source.std_error
    df = comparison.degrees_of_freedom
    alpha = comparison.alpha
    shifted = effect + margin
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = np.asarray(np.where((se == 0) & (shifted == 0), 0.0, shifted / se))
    if comparison.method.startswith("sequential"):
        tuning = DEFAULT_TUNING_UNITS if tuning_units is None else tuning_units
        total = np.asarray(comparison.control_units + comparison.treatment_units)
        always_valid = sequential_p_value(
            effect, se, total, alpha=alpha, tuning_units=tuning, null=-float(margin)
        )
        p_shown = np.asarray(np.where(shifted > 0, always_valid, 1.0))
        p_harm = np.asarray(np.where(shifted < 0, always_valid, 1.0))
        half = confidence_sequence_half_width(se, total, alpha=alpha, tuning_units=tuning)
        lower = np.asarray(effect - half)
    else:
        p_shown = p_value(statistic, df, "greater")
        p_harm = p_value(statistic, df, "less")
        lower = np.asarray(effect - quantile(1.0 - alpha, df) * se)
    return NonInferiority(
        margin=float(margin),
        relative=relative,
        higher_is_better=higher_is_better,
        alpha=alpha,
        effect=effect,
        lower_bound=lower,
        p_value=p_shown,
        harm_p_value=p_harm,
    )
