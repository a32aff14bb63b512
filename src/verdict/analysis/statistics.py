"""What an analysis returns: per-variant sufficient statistics, never rows.

A :class:`VariantStatistics` is one metric for one variant, overall or within one
breakdown value or one exposure day. Its sums are of per-unit values after capping, so
they feed :mod:`verdict.stats` directly (``to_mean_summary()``, ``to_ratio_summary()``,
...). Daily rows are per exposure day (the UTC date of the unit's first exposure);
because sufficient statistics add, :func:`cumulative_daily` turns them into the
cumulative series a chart shows. Quantiles do not add, so daily rows of percentile
metrics carry the sums of per-unit values but no quantile.

A bandit's rows (a spec with allocation periods) are per exposure period as well
(``period``, the index into ``spec.periods``): the analysis weights each period by the
inverse of the variant's weight in it, so the periods' sums are kept apart. A percentile
metric's period rows each carry the variant's quantile over all periods (pooled).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from typing import Any

from verdict.analysis.incremental import IncrementalState
from verdict.stats.quantiles import QuantileSummary
from verdict.stats.summaries import (
    CupedSummary,
    MeanSummary,
    ProportionSummary,
    RatioCupedSummary,
    RatioSummary,
)

__all__ = ["STAT_FIELDS", "Computation", "VariantStatistics", "cumulative_daily"]

# The sums the database returns per metric, in order (None where a metric has no such
# part); with a group's exposed units, they are the fields that add across groups.
STAT_FIELDS = (
    "units",
    "sum",
    "sum_squares",
    "conversions",
    "denominator_sum",
    "denominator_sum_squares",
    "cross",
    "covariate_sum",
    "covariate_sum_squares",
    "covariate_cross",
    "covariate_denominator_sum",
    "covariate_denominator_sum_squares",
    "covariate_denominator_cross",
    "numerator_covariate_denominator",
    "denominator_covariate_numerator",
    "denominator_covariate_denominator",
)
ADDITIVE_FIELDS = ("exposed", *STAT_FIELDS)


@dataclass(frozen=True)
class VariantStatistics:
    """Sufficient statistics of one metric in one variant (and breakdown value or day).

    ``dimension`` names the breakdown attribute and ``breakdown`` its value (both None
    overall); ``day`` is set on daily rows. ``exposed`` counts the group's exposed units,
    ``units`` those the metric counts (fewer for mean, max, min and percentile metrics,
    which leave out units without a value). Ratio metrics fill the denominator fields;
    CUPED fills the covariate fields (for ratios, the covariate is the same ratio over
    the pre-exposure window, and the four cross-products of
    :class:`~verdict.stats.summaries.RatioCupedSummary` are ``covariate_cross``
    (numerator x pre-numerator) and the three ``*_covariate_*`` fields).

    ``period`` is set on a bandit's rows: the sums are of the units first exposed in that
    allocation period (the quantile fields, though, are the variant's over all periods).
    """

    metric: str
    variant: str
    dimension: str | None
    breakdown: str | None
    day: date | None
    exposed: int
    units: int
    sum: float
    sum_squares: float
    conversions: int
    denominator_sum: float | None = None
    denominator_sum_squares: float | None = None
    cross: float | None = None
    covariate_sum: float | None = None
    covariate_sum_squares: float | None = None
    covariate_cross: float | None = None
    covariate_denominator_sum: float | None = None
    covariate_denominator_sum_squares: float | None = None
    covariate_denominator_cross: float | None = None
    numerator_covariate_denominator: float | None = None
    denominator_covariate_numerator: float | None = None
    denominator_covariate_denominator: float | None = None
    percentile: float | None = None
    quantile: float | None = None
    quantile_lower: float | None = None
    quantile_upper: float | None = None
    quantile_confidence: float | None = None
    period: int | None = None

    @property
    def is_ratio(self) -> bool:
        return self.denominator_sum is not None

    @property
    def has_covariate(self) -> bool:
        return self.covariate_sum is not None

    def to_mean_summary(self) -> MeanSummary:
        return MeanSummary(self.units, self.sum, self.sum_squares)

    def to_proportion_summary(self) -> ProportionSummary:
        return ProportionSummary(self.units, self.conversions)

    def _need(self, name: str, what: str) -> float:
        value = getattr(self, name)
        if value is None:
            raise ValueError(f"{self.metric}: {what} ({name} is not set)")
        return float(value)

    def to_ratio_summary(self) -> RatioSummary:
        def need(name: str) -> float:
            return self._need(name, "not a ratio metric")

        return RatioSummary(
            self.to_mean_summary(),
            MeanSummary(self.units, need("denominator_sum"), need("denominator_sum_squares")),
            need("cross"),
        )

    def _covariate(self) -> MeanSummary:
        def need(name: str) -> float:
            return self._need(name, "no CUPED covariate")

        return MeanSummary(self.units, need("covariate_sum"), need("covariate_sum_squares"))

    def to_cuped_summary(self) -> CupedSummary:
        return CupedSummary(
            self.to_mean_summary(),
            self._covariate(),
            self._need("covariate_cross", "no CUPED covariate"),
        )

    def to_ratio_cuped_summary(self) -> RatioCupedSummary:
        def need(name: str) -> float:
            return self._need(name, "no ratio CUPED covariate")

        covariate = RatioSummary(
            self._covariate(),
            MeanSummary(
                self.units,
                need("covariate_denominator_sum"),
                need("covariate_denominator_sum_squares"),
            ),
            need("covariate_denominator_cross"),
        )
        return RatioCupedSummary(
            self.to_ratio_summary(),
            covariate,
            numerator_covariate_numerator=need("covariate_cross"),
            numerator_covariate_denominator=need("numerator_covariate_denominator"),
            denominator_covariate_numerator=need("denominator_covariate_numerator"),
            denominator_covariate_denominator=need("denominator_covariate_denominator"),
        )

    def to_quantile_summary(self) -> QuantileSummary:
        if (
            self.percentile is None
            or self.quantile is None
            or self.quantile_lower is None
            or self.quantile_upper is None
            or self.quantile_confidence is None
        ):
            raise ValueError(f"{self.metric}: no quantile (not a percentile metric, or a day)")
        return QuantileSummary(
            n=self.units,
            probability=self.percentile,
            quantile=self.quantile,
            lower=self.quantile_lower,
            upper=self.quantile_upper,
            confidence=self.quantile_confidence,
        )


@dataclass(frozen=True)
class Computation:
    """The result of :func:`verdict.analysis.pipeline.compute`.

    ``exposures`` counts exposed units per variant id (multi-variant units excluded);
    ``exposures_by_day`` the same per exposure day (SRM input), and, for a bandit,
    ``exposures_by_period`` per allocation period (period index -> variant id -> units,
    periods without units left out). ``scanned_from`` and
    ``scanned_to`` bound the event times this run read (an incremental run reads only
    the new part); ``caps`` the percentile caps applied, by metric key (a ratio's
    denominator cap under ``"<key>.denominator"``).
    """

    exposures: dict[str, int]
    statistics: tuple[VariantStatistics, ...]
    multiple_exposures: int
    unknown_variants: int
    scanned_from: datetime | None
    scanned_to: datetime
    full: bool
    state: IncrementalState | None
    exposures_by_day: dict[date, dict[str, int]] = field(default_factory=dict)
    caps: dict[str, float] = field(default_factory=dict)
    exposures_by_period: dict[int, dict[str, int]] = field(default_factory=dict)

    def overall(self) -> tuple[VariantStatistics, ...]:
        """The rows of the whole population (no breakdown, no day); a bandit's are one
        per (metric, variant, period)."""
        return tuple(s for s in self.statistics if s.dimension is None and s.day is None)

    def daily(self) -> tuple[VariantStatistics, ...]:
        """The per-exposure-day rows."""
        return tuple(s for s in self.statistics if s.day is not None)


def cumulative_daily(daily: tuple[VariantStatistics, ...]) -> tuple[VariantStatistics, ...]:
    """Per (metric, variant, and a bandit's period), running sums over exposure days in
    date order."""
    series: dict[tuple[str, str, int | None], list[VariantStatistics]] = defaultdict(list)
    for row in daily:
        if row.day is None:
            raise ValueError("cumulative_daily: rows must be daily rows")
        series[(row.metric, row.variant, row.period)].append(row)
    names = [f.name for f in fields(VariantStatistics) if f.name in ADDITIVE_FIELDS]
    result: list[VariantStatistics] = []
    for rows in series.values():
        running: VariantStatistics | None = None
        for row in sorted(rows, key=lambda r: r.day or date.min):
            if running is None:
                running = row
            else:
                totals: dict[str, Any] = {}
                for name in names:
                    before, now = getattr(running, name), getattr(row, name)
                    totals[name] = None if before is None or now is None else before + now
                running = replace(row, **totals)
            result.append(running)
    return tuple(result)
