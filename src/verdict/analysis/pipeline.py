"""The analysis pipeline: spec + data source -> per-variant sufficient statistics.

:func:`compute` runs, in order:

1. checks that the mapped tables (or queries) and columns can be read, naming the
   field at fault (``data_source.events.value_column``) if not;
2. counts the exposure rows of the window (and those before the previous run's end)
   and the units with unknown variants, in one filtered scan;
3. builds the per-unit table in the engine (:mod:`verdict.analysis.sql_units`) -- a
   full build, or an incremental merge into the kept table of the previous run
   (:mod:`verdict.analysis.incremental` says when which);
4. reads the percentile caps, the per-variant sums and the quantiles from that table
   (:mod:`verdict.analysis.sql_variants`);
5. replaces the previous kept table with the new one, and returns a
   :class:`~verdict.analysis.statistics.Computation` with the state to pass next time.

Only small result rows cross into Python (a few per variant, metric and group), never
exposure or event rows. A failure at any step drops what this run created and leaves
the previous state (and so the previous results) intact.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlglot import exp

from verdict.analysis.definitions import AnalysisSpec
from verdict.analysis.dialects import FLAVOURS, Flavour, render, table_name
from verdict.analysis.engines import AnalysisEngine
from verdict.analysis.errors import AnalysisError, DataSourceError
from verdict.analysis.incremental import IncrementalState, new_table_name, state_fingerprint
from verdict.analysis.mapping import DataSourceMapping, EventSource, ExposureSource
from verdict.analysis.plan import MetricPlan, Plan, build_plan, epoch_micros
from verdict.analysis.sql_units import (
    Previous,
    exposure_check_sql,
    scan_start_us,
    unit_table_sql,
    units_sql,
)
from verdict.analysis.sql_variants import (
    DAY,
    MAX_SELECTED_GROUPS,
    OVERALL,
    STAT_FIELDS,
    cap_counts_sql,
    caps_sql,
    quantiles_sql,
    selected_caps_sql,
    selected_quantiles_sql,
    statistics_sql,
)
from verdict.analysis.statistics import Computation, VariantStatistics

__all__ = ["compute", "discard"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_OPTIONAL_FIELDS = STAT_FIELDS[4:]


class _Run:
    """One compute() call: the engine, its flavour, the rendered sources."""

    def __init__(self, engine: AnalysisEngine, mapping: DataSourceMapping) -> None:
        flavour = FLAVOURS.get(engine.dialect)
        if flavour is None:
            raise DataSourceError("data_source.url", f"no SQL flavour for {engine.dialect!r}")
        self.engine = engine
        self.flavour: Flavour = flavour
        self.sources = {
            "exposures": self._source_sql(mapping.exposures),
            "events": self._source_sql(mapping.events),
        }

    def _source_sql(self, source: ExposureSource | EventSource) -> str:
        if source.table is not None:
            return table_name(source.table, self.flavour.dialect)
        return f"({source.query})"

    def sql(self, canonical: str) -> str:
        return render(canonical, self.flavour, self.sources)

    def fetch(self, canonical: str) -> list[tuple[Any, ...]]:
        return self.engine.fetch(self.sql(canonical))

    def drop(self, table: str) -> None:
        if self.engine.table_exists(table):
            self.engine.execute(f"DROP TABLE {table}")

    def probe(self, name: str, source: ExposureSource | EventSource) -> None:
        """Raise DataSourceError naming the table, query or column that cannot be read."""
        prefix = f"data_source.{name}"
        where = f"{self.sources[name]} AS vp_src WHERE 1 = 0"
        try:
            self.engine.fetch(f"SELECT * FROM {where}")
        except DataSourceError as error:
            kind = "table" if source.table is not None else "query"
            raise DataSourceError(f"{prefix}.{kind}", error.message) from error

        def column(name: str) -> str:
            return exp.column(name, table="vp_src", quoted=True).sql(dialect=self.flavour.dialect)

        try:
            self.engine.fetch(
                f"SELECT {', '.join(map(column, source.columns.values()))} FROM {where}"
            )
        except DataSourceError:
            for key, value in source.columns.items():
                try:
                    self.engine.fetch(f"SELECT {column(value)} FROM {where}")
                except DataSourceError as error:
                    raise DataSourceError(f"{prefix}.{key}", error.message) from error
            raise


def _moment(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _number(value: Any) -> float:
    return 0.0 if value is None else float(value)


def _count(value: Any) -> int:
    return 0 if value is None else round(float(value))


def _group(spec: AnalysisSpec, label: str, key: Any) -> tuple[str | None, str | None, date | None]:
    if label == OVERALL:
        return None, None, None
    if label == DAY:
        return None, None, date(1970, 1, 1) + timedelta(days=round(float(key)))
    return spec.breakdowns[int(label[1:])], str(key), None


def _metric_statistics(
    metric: MetricPlan,
    variant: str,
    group: tuple[str | None, str | None, date | None],
    exposed: int,
    values: Sequence[Any],
    period: int | None = None,
) -> VariantStatistics:
    ratio = metric.denominator is not None
    present = {
        "denominator_sum": ratio,
        "denominator_sum_squares": ratio,
        "cross": ratio,
        "covariate_sum": metric.cuped,
        "covariate_sum_squares": metric.cuped,
        "covariate_cross": metric.cuped,
    }
    optional = {
        name: _number(value) if present.get(name, ratio and metric.cuped) else None
        for name, value in zip(_OPTIONAL_FIELDS, values[4:], strict=True)
    }
    dimension, breakdown, day = group
    return VariantStatistics(
        metric=metric.metric.key,
        variant=variant,
        dimension=dimension,
        breakdown=breakdown,
        day=day,
        exposed=exposed,
        units=_count(values[0]),
        sum=_number(values[1]),
        sum_squares=_number(values[2]),
        conversions=_count(values[3]),
        period=period,
        **optional,
    )


def _variant(spec: AnalysisSpec, index: Any) -> str | None:
    """The variant id of a per-unit table's ``variant_index`` (None: excluded units)."""
    return None if index is None else spec.variants[round(float(index))].id


def _overall_rows(rows: list[tuple[Any, ...]], *, periods: bool) -> list[tuple[Any, ...]]:
    """The overall row of each variant (a bandit's: of each variant and period), the sum
    of its day rows (every figure adds)."""
    totals: dict[tuple[Any, tuple[int, ...]], list[float | None]] = {}
    for row in rows:
        if str(row[0]) != DAY:
            continue
        key = None if row[2] is None else round(float(row[2]))
        values = row[3:-1] if periods else row[3:]
        period = (_count(row[-1]),) if periods else ()
        total = totals.setdefault((key, period), [None] * len(values))
        for index, value in enumerate(values):
            if value is not None:
                total[index] = (total[index] or 0.0) + float(value)
    return [(OVERALL, "", variant, *total, *period) for (variant, period), total in totals.items()]


@dataclass
class _Exposures:
    """Exposed units per variant, per exposure day, per bandit period; excluded units."""

    by_variant: dict[str, int]
    by_day: dict[date, dict[str, int]] = field(default_factory=dict)
    by_period: dict[int, dict[str, int]] = field(default_factory=dict)
    multiple: int = 0


def _statistics(
    plan: Plan,
    rows: list[tuple[Any, ...]],
    quantiles: dict[tuple[str, str, str, str], tuple[Any, ...]],
) -> tuple[list[VariantStatistics], _Exposures]:
    """The statistics rows, and the exposures per variant, day and period."""
    spec = plan.spec
    bandit = bool(plan.period_starts_us)
    width = len(STAT_FIELDS)
    found: dict[tuple[str, str, str, int | None], tuple[Any, ...]] = {}
    exposures = _Exposures({v.id: 0 for v in spec.variants})
    for row in rows:
        period = _count(row[-1]) if bandit else None
        values = row[:-1] if bandit else row
        variant = _variant(spec, values[2])
        if variant is None:
            # Units exposed to several variants: counted, never analysed.
            if str(values[0]) == OVERALL:
                exposures.multiple += _count(values[3])
            continue
        found[(str(values[0]), "" if values[1] is None else str(values[1]), variant, period)] = (
            values
        )
    # Every variant has an overall row (a bandit's: in some period), even without units.
    present = {variant for (label, _, variant, _) in found if label == OVERALL}
    for spec_variant in spec.variants:
        if spec_variant.id not in present:
            empty = (OVERALL, "", spec_variant.id, 0, *([0] * width * len(plan.metrics)))
            found[(OVERALL, "", spec_variant.id, 0 if bandit else None)] = empty
    result: list[VariantStatistics] = []
    for (label, key, variant, period), row in sorted(found.items()):
        group = _group(spec, label, key)
        exposed = _count(row[3])
        if label == OVERALL:
            exposures.by_variant[variant] += exposed
            if period is not None:
                per_period = exposures.by_period.setdefault(
                    period, {v.id: 0 for v in spec.variants}
                )
                per_period[variant] += exposed
        elif label == DAY and group[2] is not None:
            by_day = exposures.by_day.setdefault(group[2], {v.id: 0 for v in spec.variants})
            by_day[variant] += exposed
        for metric in plan.metrics:
            offset = 4 + metric.index * width
            stats = _metric_statistics(
                metric, variant, group, exposed, row[offset : offset + width], period
            )
            if metric.is_percentile and label != DAY:
                # A bandit's period rows all carry the variant's pooled quantile.
                stats = _with_quantile(
                    plan, metric, stats, quantiles.get((metric.measure.prefix, label, key, variant))
                )
            result.append(stats)
    return result, exposures


def _caps(run: _Run, plan: Plan, table: str) -> dict[str, float]:
    """The percentile caps, by measure prefix."""
    caps: dict[str, float] = {}
    if run.flavour.select_ranks is not None:
        counts_query = cap_counts_sql(plan, table)
        if counts_query is None:
            return caps
        (counts_row,) = run.fetch(counts_query)
        measures = [
            m for m in plan.measures if m.capping == "percentile" and m.cap_value is not None
        ]
        counts = {m.prefix: _count(n) for m, n in zip(measures, counts_row, strict=True)}
        query = selected_caps_sql(plan, table, counts)
        if query is None:
            return caps
        selected = [m for m in measures if counts[m.prefix] > 0]
        (row,) = run.fetch(query)
        for measure, cap in zip(selected, row, strict=True):
            if cap is not None and cap[0] is not None:
                caps[measure.prefix] = float(cap[0])
        return caps
    caps_query = caps_sql(plan, table)
    if caps_query is not None:
        for prefix, cap in run.fetch(caps_query):
            if cap is not None:
                caps[str(prefix)] = float(cap)
    return caps


def _quantiles(
    run: _Run, plan: Plan, table: str, caps: dict[str, float], rows: list[tuple[Any, ...]]
) -> dict[tuple[str, str, str, str], tuple[Any, ...]]:
    """(prefix, group, key, variant) -> (quantile, lower, upper) of percentile metrics."""
    quantiles: dict[tuple[str, str, str, str], tuple[Any, ...]] = {}
    width = len(STAT_FIELDS)
    for metric in plan.metrics:
        if not metric.is_percentile:
            continue
        prefix = metric.measure.prefix
        if run.flavour.select_ranks is not None:
            # The statistics rows hold each group's count of values (``n``); a bandit's
            # groups add up over their periods (its quantiles are pooled).
            counts: dict[tuple[str, str, int], int] = {}
            for row in rows:
                label, variant = str(row[0]), row[2]
                if label != DAY and variant is not None:
                    key = "" if row[1] is None else str(row[1])
                    group = (label, key, round(float(variant)))
                    counts[group] = counts.get(group, 0) + _count(row[4 + metric.index * width])
            groups = [(*group, n) for group, n in counts.items() if n > 0]
            if len(groups) <= MAX_SELECTED_GROUPS:
                if groups:
                    query = selected_quantiles_sql(plan, metric, table, caps, groups)
                    (selected,) = run.fetch(query)
                    for (label, key, variant, _n), values in zip(groups, selected, strict=True):
                        spec_variant = plan.spec.variants[variant].id
                        quantiles[(prefix, label, key, spec_variant)] = tuple(values)
                continue
        for row in run.fetch(quantiles_sql(plan, metric, table, caps)):
            variant_id = _variant(plan.spec, row[2])
            if variant_id is not None:
                key = "" if row[1] is None else str(row[1])
                quantiles[(prefix, str(row[0]), key, variant_id)] = tuple(row[4:7])
    return quantiles


def _with_quantile(
    plan: Plan, metric: MetricPlan, stats: VariantStatistics, row: tuple[Any, ...] | None
) -> VariantStatistics:
    percentile = metric.metric.percentile
    if row is None:
        return replace(
            stats, percentile=percentile, quantile_confidence=plan.spec.quantile_confidence
        )
    return replace(
        stats,
        percentile=percentile,
        quantile=float(row[0]),
        quantile_lower=float(row[1]),
        quantile_upper=float(row[2]),
        quantile_confidence=plan.spec.quantile_confidence,
    )


def discard(engine: AnalysisEngine, state: IncrementalState) -> None:
    """Drop a kept per-unit table (e.g. when an experiment is archived)."""
    if engine.table_exists(state.table):
        engine.execute(f"DROP TABLE {state.table}")


def compute(
    engine: AnalysisEngine,
    mapping: DataSourceMapping,
    spec: AnalysisSpec,
    state: IncrementalState | None = None,
    full: bool = False,
    *,
    keep_state: bool = True,
) -> Computation:
    """Per-variant sufficient statistics of every metric of ``spec``.

    With a ``state`` from the previous run (and the same definitions) only newer events
    are read; ``full=True`` forces a rebuild. ``keep_state=False`` drops the per-unit
    table at the end and returns no state (a one-off analysis in a notebook).
    """
    run = _Run(engine, mapping)
    plan = build_plan(spec, mapping)
    run.probe("exposures", mapping.exposures)
    run.probe("events", mapping.events)
    fingerprint = state_fingerprint(spec.fingerprint(), mapping.fingerprint())

    previous: Previous | None = None
    if (
        state is not None
        and not full
        and state.fingerprint == fingerprint
        and state.exposure_rows is not None
        and spec.end >= state.through
        and engine.table_exists(state.table)
    ):
        previous = Previous(state.table, epoch_micros(state.through.timestamp()))
    # Counted before the build: a row written during it is then missing from the count
    # (the next refresh sees more rows and rebuilds), never from the table alone.
    check = run.fetch(exposure_check_sql(plan, None if previous is None else previous.through_us))
    exposure_rows, rows_before, unknown = (_count(value) for value in check[0])
    if state is not None and previous is not None and rows_before != state.exposure_rows:
        previous = None  # an exposure row arrived late, before ``through``: rebuild

    table = new_table_name(fingerprint)
    staged = f"{table}_units" if run.flavour.stage_units else None
    try:
        if staged is not None:
            try:
                units = run.sql(units_sql(plan, previous))
                engine.execute(run.flavour.create_table_as(staged, units))
                select = unit_table_sql(
                    plan, previous, staged_units=staged, bounded=run.flavour.exact_event_bounds
                )
                engine.execute(run.flavour.create_table_as(table, run.sql(select)))
            finally:
                with contextlib.suppress(AnalysisError):
                    run.drop(staged)
        else:
            select = unit_table_sql(plan, previous, bounded=run.flavour.exact_event_bounds)
            engine.execute(run.flavour.create_table_as(table, run.sql(select)))
        caps = _caps(run, plan, table)
        rows = run.fetch(statistics_sql(plan, table, caps, grouping_sets=run.flavour.grouping_sets))
        if spec.daily:
            rows += _overall_rows(rows, periods=spec.is_bandit)
        quantiles = _quantiles(run, plan, table, caps, rows)
    except BaseException:
        # The original error matters more than a failed clean-up; a table left behind
        # carries the verdict_unit_aggregates_ prefix, so an operator can find it.
        with contextlib.suppress(AnalysisError):
            run.drop(table)
        raise

    if state is not None and state.table != table:
        run.drop(state.table)
    if not keep_state:
        run.drop(table)
    statistics, exposures = _statistics(plan, rows, quantiles)
    cap_names = {}
    for metric in plan.metrics:
        cap_names[metric.measure.prefix] = metric.metric.key
        if metric.denominator is not None:
            cap_names[metric.denominator.prefix] = f"{metric.metric.key}.denominator"
    return Computation(
        exposures=exposures.by_variant,
        statistics=tuple(statistics),
        multiple_exposures=exposures.multiple,
        unknown_variants=unknown,
        scanned_from=_moment(scan_start_us(plan, previous)),
        scanned_to=spec.end,
        full=previous is None,
        state=IncrementalState(table, fingerprint, spec.end, exposure_rows) if keep_state else None,
        exposures_by_day=exposures.by_day,
        caps={cap_names[prefix]: value for prefix, value in caps.items()},
        exposures_by_period=exposures.by_period,
    )
