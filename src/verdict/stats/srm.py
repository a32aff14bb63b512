"""Sample-ratio mismatch: does the traffic split match the configured weights?

Method: Pearson's chi-square goodness-of-fit test of the observed units per variant
against ``total * weight`` (Fabijan et al. 2019, "Diagnosing sample ratio mismatch in
online controlled experiments", KDD): ``X2 = sum((o - e)**2 / e)`` with ``k - 1``
degrees of freedom, p-value ``P(chi2_{k-1} >= X2)`` (``scipy.special.chdtrc``). A
mismatch means the assignment or the logging is broken and every other result of
the experiment is suspect, so the alarm threshold is strict: p < 0.001 by default
(as GrowthBook and Statsig use), which keeps false alarms to 1 in 1,000 checks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import special

from verdict.stats.inputs import FloatArray, as_float_array, check_alpha, check_non_negative

__all__ = [
    "DEFAULT_SRM_THRESHOLD",
    "SampleRatioCheck",
    "sample_ratio_check",
    "sample_ratio_p_values",
]

DEFAULT_SRM_THRESHOLD = 0.001
"""p-value below which a sample-ratio mismatch is declared."""

_WEIGHT_SUM_TOLERANCE = 1e-6


@dataclass(frozen=True)
class SampleRatioCheck:
    """The chi-square test of one experiment's split (JSON-friendly)."""

    observed: tuple[float, ...]
    expected: tuple[float, ...]
    statistic: float
    degrees_of_freedom: int
    p_value: float
    threshold: float

    @property
    def mismatch(self) -> bool:
        """Whether the split is significantly off (p below the threshold)."""
        return self.p_value < self.threshold

    def to_dict(self) -> dict[str, object]:
        """Plain values for an API response."""
        return {
            "observed": list(self.observed),
            "expected": list(self.expected),
            "statistic": self.statistic,
            "degrees_of_freedom": self.degrees_of_freedom,
            "p_value": self.p_value,
            "threshold": self.threshold,
            "mismatch": self.mismatch,
        }


def _weights(weights: npt.ArrayLike, k: int) -> FloatArray:
    w = as_float_array("weights", weights)
    if w.ndim != 1 or w.size != k:
        raise ValueError(f"weights: need one weight per variant ({k}), got shape {w.shape}")
    if k < 2:
        raise ValueError("weights: need at least two variants")
    if np.any(w <= 0):
        raise ValueError("weights: every weight must be positive")
    if abs(float(w.sum()) - 1.0) > _WEIGHT_SUM_TOLERANCE:
        raise ValueError(f"weights: must sum to 1, got {float(w.sum())!r}")
    return w


def _statistic(units: FloatArray, weights: FloatArray) -> tuple[FloatArray, FloatArray]:
    total = units.sum(axis=-1, keepdims=True)
    expected = total * weights
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(expected > 0, (units - expected) ** 2 / expected, 0.0)
    return np.asarray(terms.sum(axis=-1)), np.asarray(expected)


def sample_ratio_p_values(units: npt.ArrayLike, weights: npt.ArrayLike) -> FloatArray:
    """p-values for a batch: ``units`` has the variants on its last axis.

    An experiment without units has p-value 1 (no evidence of a mismatch).
    """
    observed = as_float_array("units", units)
    check_non_negative("units", observed)
    if observed.ndim == 0:
        raise ValueError("units: need one count per variant")
    w = _weights(weights, observed.shape[-1])
    statistic, _ = _statistic(observed, w)
    return np.asarray(special.chdtrc(w.size - 1, statistic))


def sample_ratio_check(
    units: npt.ArrayLike, weights: npt.ArrayLike, *, threshold: float = DEFAULT_SRM_THRESHOLD
) -> SampleRatioCheck:
    """Chi-square test of one experiment's units per variant against its weights."""
    threshold = check_alpha(threshold, "threshold")
    observed = as_float_array("units", units)
    if observed.ndim != 1:
        raise ValueError(f"units: need a flat list of counts, got shape {observed.shape}")
    check_non_negative("units", observed)
    w = _weights(weights, observed.size)
    statistic, expected = _statistic(observed, w)
    return SampleRatioCheck(
        observed=tuple(float(v) for v in observed),
        expected=tuple(float(v) for v in expected),
        statistic=float(statistic),
        degrees_of_freedom=w.size - 1,
        p_value=float(special.chdtrc(w.size - 1, statistic)),
        threshold=threshold,
    )
