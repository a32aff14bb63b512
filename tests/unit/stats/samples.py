"""Sufficient statistics of raw samples, computed the obvious way for the tests."""

from __future__ import annotations

import numpy as np

from verdict.stats import CupedSummary, MeanSummary, ProportionSummary, RatioSummary


def mean_summary(values: np.ndarray) -> MeanSummary:
    values = np.asarray(values, dtype=float)
    return MeanSummary(values.size, values.sum(), (values**2).sum())


def proportion_summary(values: np.ndarray) -> ProportionSummary:
    values = np.asarray(values)
    return ProportionSummary(values.size, values.sum())


def ratio_summary(numerator: np.ndarray, denominator: np.ndarray) -> RatioSummary:
    return RatioSummary(
        mean_summary(numerator), mean_summary(denominator), float(np.sum(numerator * denominator))
    )


def cuped_summary(metric: np.ndarray, covariate: np.ndarray) -> CupedSummary:
    return CupedSummary(
        mean_summary(metric), mean_summary(covariate), float(np.sum(metric * covariate))
    )


def normal_sums(
    rng: np.random.Generator, n: int | np.ndarray, mean: float, sd: float, size: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Exact sampling distribution of (sum, sum of squares) of n normal draws.

    The sample mean is N(mean, sd**2 / n) and, independently, (n - 1) s**2 / sd**2 is
    chi-square with n - 1 degrees of freedom (Cochran's theorem).
    """
    n = np.broadcast_to(np.asarray(n, dtype=float), size)
    sample_mean = rng.normal(mean, sd / np.sqrt(n))
    centred = sd**2 * rng.chisquare(n - 1)
    total = n * sample_mean
    return total, centred + total**2 / n
