"""Sufficient statistics of one variant's metric: the only input the statistics take.

SQL reduces the rows of a variant to a handful of sums, and every method in
:mod:`verdict.stats` works from those sums alone:

* :class:`MeanSummary` -- units ``n``, ``sum`` and ``sum_squares`` of a per-unit value;
* :class:`ProportionSummary` -- units and conversions (a mean of 0/1 values);
* :class:`RatioSummary` -- a numerator and a denominator per unit (revenue per order,
  clicks per session) and the cross-product ``sum(numerator * denominator)``;
* :class:`CupedSummary` -- a metric, its pre-period covariate and their cross-product;
* :class:`RatioCupedSummary` -- a ratio metric and the same ratio over the pre-period,
  with the four cross-products between numerators and denominators.

Summaries are frozen and add: ``day_1 + day_2`` or ``shard_a + shard_b`` is the summary
of the union of the units (units must not overlap). Every field is a float64 array:
a scalar summary holds 0-d arrays, a batch summary holds equal-shape arrays, one
element per comparison, so one call analyses thousands of metrics at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from verdict.stats.inputs import FloatArray, as_float_array, check_non_negative, check_whole

__all__ = [
    "CupedSummary",
    "MeanSummary",
    "ProportionSummary",
    "RatioCupedSummary",
    "RatioSummary",
]

# Rounding in a database's float sums can leave sum**2 a hair above n * sum_squares.
_CAUCHY_SCHWARZ_SLACK = 1e-9


def _same_shape(
    *arrays: FloatArray, names: tuple[str, ...] = ("n", "sum", "sum_squares")
) -> list[FloatArray]:
    try:
        return [np.array(a) for a in np.broadcast_arrays(*arrays)]
    except ValueError as error:
        shapes = ", ".join(f"{name} {np.shape(a)}" for name, a in zip(names, arrays, strict=False))
        raise ValueError(
            f"{', '.join(names)}: shapes do not broadcast together ({shapes})"
        ) from error


def _check_same_units(name: str, n: FloatArray, other: FloatArray) -> None:
    if np.shape(n) != np.shape(other) or not np.array_equal(n, other):
        raise ValueError(f"{name}: must count the same units as the metric it belongs to")


@dataclass(frozen=True, init=False, eq=False)
class MeanSummary:
    """Units, sum and sum of squares of a per-unit value (scalars or equal-shape arrays)."""

    n: FloatArray
    sum: FloatArray
    sum_squares: FloatArray

    def __init__(self, n: npt.ArrayLike, sum: npt.ArrayLike, sum_squares: npt.ArrayLike) -> None:
        n_, sum_, squares = _same_shape(
            as_float_array("n", n),
            as_float_array("sum", sum),
            as_float_array("sum_squares", sum_squares),
        )
        check_non_negative("n", n_)
        check_whole("n", n_, "units are counted")
        check_non_negative("sum_squares", squares)
        if np.any(sum_ * sum_ > n_ * squares * (1 + _CAUCHY_SCHWARZ_SLACK) + 1e-12):
            raise ValueError("sum: sum**2 exceeds n * sum_squares, so the sums are inconsistent")
        object.__setattr__(self, "n", n_)
        object.__setattr__(self, "sum", sum_)
        object.__setattr__(self, "sum_squares", squares)

    def __add__(self, other: MeanSummary) -> MeanSummary:
        return MeanSummary(
            self.n + other.n, self.sum + other.sum, self.sum_squares + other.sum_squares
        )

    @property
    def mean(self) -> FloatArray:
        """Sample mean (NaN without units)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.asarray(self.sum / self.n)

    @property
    def variance(self) -> FloatArray:
        """Unbiased sample variance ``(sum_squares - sum**2 / n) / (n - 1)`` (NaN if n < 2)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            centred = self.sum_squares - self.sum * self.sum / self.n
            return np.asarray(
                np.where(self.n >= 2, np.maximum(centred, 0.0) / (self.n - 1), np.nan)
            )

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the batch (``()`` for a single summary)."""
        return tuple(np.shape(self.n))


@dataclass(frozen=True, init=False, eq=False)
class ProportionSummary(MeanSummary):
    """Units and conversions of a 0/1 metric; a :class:`MeanSummary` with sum_squares = sum."""

    def __init__(self, n: npt.ArrayLike, conversions: npt.ArrayLike) -> None:
        units, converted = as_float_array("n", n), as_float_array("conversions", conversions)
        check_non_negative("n", units)
        check_whole("n", units, "units are counted")
        check_non_negative("conversions", converted)
        check_whole("conversions", converted, "converted units are counted")
        units, converted = _same_shape(units, converted, names=("n", "conversions"))
        if np.any(converted > units):
            bad = converted > units
            raise ValueError(
                f"conversions: must not exceed the units n, got {converted[bad][0]:g} "
                f"conversions of {units[bad][0]:g} units"
            )
        super().__init__(units, converted, converted)

    @property
    def conversions(self) -> FloatArray:
        """Units that converted."""
        return self.sum

    def __add__(self, other: MeanSummary) -> MeanSummary:
        if isinstance(other, ProportionSummary):
            return ProportionSummary(self.n + other.n, self.sum + other.sum)
        return super().__add__(other)


def _cross(name: str, value: npt.ArrayLike, shape: tuple[int, ...]) -> FloatArray:
    array = as_float_array(name, value)
    try:
        return np.array(np.broadcast_to(array, shape))
    except ValueError as error:
        raise ValueError(
            f"{name}: shape {array.shape} does not match the metric {shape}"
        ) from error


@dataclass(frozen=True, init=False, eq=False)
class RatioSummary:
    """A ratio metric: per-unit numerator and denominator sums and ``sum(num * den)``.

    The metric is ``numerator.sum / denominator.sum`` (e.g. revenue per order, with the
    user as the randomisation unit); its variance comes from the delta method.
    """

    numerator: MeanSummary
    denominator: MeanSummary
    sum_products: FloatArray

    def __init__(
        self, numerator: MeanSummary, denominator: MeanSummary, sum_products: npt.ArrayLike
    ) -> None:
        _check_same_units("denominator.n", numerator.n, denominator.n)
        object.__setattr__(self, "numerator", numerator)
        object.__setattr__(self, "denominator", denominator)
        object.__setattr__(
            self, "sum_products", _cross("sum_products", sum_products, numerator.shape)
        )

    def __add__(self, other: RatioSummary) -> RatioSummary:
        return RatioSummary(
            self.numerator + other.numerator,
            self.denominator + other.denominator,
            self.sum_products + other.sum_products,
        )

    @property
    def n(self) -> FloatArray:
        """Units (randomisation units, not denominator events)."""
        return self.numerator.n

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the batch."""
        return self.numerator.shape

    @property
    def covariance(self) -> FloatArray:
        """Sample covariance of numerator and denominator across units."""
        return _covariance(self.n, self.numerator.sum, self.denominator.sum, self.sum_products)


@dataclass(frozen=True, init=False, eq=False)
class CupedSummary:
    """A metric, its pre-experiment covariate (same units) and ``sum(metric * covariate)``."""

    metric: MeanSummary
    covariate: MeanSummary
    sum_products: FloatArray

    def __init__(
        self, metric: MeanSummary, covariate: MeanSummary, sum_products: npt.ArrayLike
    ) -> None:
        _check_same_units("covariate.n", metric.n, covariate.n)
        object.__setattr__(self, "metric", metric)
        object.__setattr__(self, "covariate", covariate)
        object.__setattr__(self, "sum_products", _cross("sum_products", sum_products, metric.shape))

    def __add__(self, other: CupedSummary) -> CupedSummary:
        return CupedSummary(
            self.metric + other.metric,
            self.covariate + other.covariate,
            self.sum_products + other.sum_products,
        )

    @property
    def n(self) -> FloatArray:
        """Units."""
        return self.metric.n

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the batch."""
        return self.metric.shape

    @property
    def covariance(self) -> FloatArray:
        """Sample covariance of metric and covariate across units."""
        return _covariance(self.n, self.metric.sum, self.covariate.sum, self.sum_products)


@dataclass(frozen=True, init=False, eq=False)
class RatioCupedSummary:
    """A ratio metric, the same ratio over the pre-period, and their four cross-products.

    ``numerator_covariate_numerator`` is ``sum(num * pre_num)``, and so on: the first
    word names the post-period term, the second the pre-period term.
    """

    metric: RatioSummary
    covariate: RatioSummary
    numerator_covariate_numerator: FloatArray
    numerator_covariate_denominator: FloatArray
    denominator_covariate_numerator: FloatArray
    denominator_covariate_denominator: FloatArray

    def __init__(
        self,
        metric: RatioSummary,
        covariate: RatioSummary,
        *,
        numerator_covariate_numerator: npt.ArrayLike,
        numerator_covariate_denominator: npt.ArrayLike,
        denominator_covariate_numerator: npt.ArrayLike,
        denominator_covariate_denominator: npt.ArrayLike,
    ) -> None:
        _check_same_units("covariate.n", metric.n, covariate.n)
        shape = metric.shape
        object.__setattr__(self, "metric", metric)
        object.__setattr__(self, "covariate", covariate)
        for name, value in (
            ("numerator_covariate_numerator", numerator_covariate_numerator),
            ("numerator_covariate_denominator", numerator_covariate_denominator),
            ("denominator_covariate_numerator", denominator_covariate_numerator),
            ("denominator_covariate_denominator", denominator_covariate_denominator),
        ):
            object.__setattr__(self, name, _cross(name, value, shape))

    def __add__(self, other: RatioCupedSummary) -> RatioCupedSummary:
        return RatioCupedSummary(
            self.metric + other.metric,
            self.covariate + other.covariate,
            numerator_covariate_numerator=self.numerator_covariate_numerator
            + other.numerator_covariate_numerator,
            numerator_covariate_denominator=self.numerator_covariate_denominator
            + other.numerator_covariate_denominator,
            denominator_covariate_numerator=self.denominator_covariate_numerator
            + other.denominator_covariate_numerator,
            denominator_covariate_denominator=self.denominator_covariate_denominator
            + other.denominator_covariate_denominator,
        )

    @property
    def n(self) -> FloatArray:
        """Units."""
        return self.metric.n

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the batch."""
        return self.metric.shape


def _covariance(
    n: FloatArray, sum_x: FloatArray, sum_y: FloatArray, sum_xy: FloatArray
) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        centred = sum_xy - sum_x * sum_y / n
        return np.asarray(np.where(n >= 2, centred / (n - 1), np.nan))
