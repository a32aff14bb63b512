"""SQL of the per-variant stage: from the per-unit table to sufficient statistics.

Small queries read the per-unit table (never the events):

* :func:`caps_sql` -- the percentile caps: the ``cap_value`` quantile of the non-zero
  per-unit values of the whole experiment (all variants), by the inverted-CDF rule
  (numpy's ``method="inverted_cdf"``: the value of rank ``ceil(n q)``, at least 1);
* :func:`statistics_sql` -- per variant (per exposure day, per breakdown value, and
  overall unless the day rows add up to it): units, and for every metric ``n``,
  ``sum``, ``sum_squares``, conversions, the ratio's denominator sums and
  cross-product, and the CUPED covariate sums and cross-products, all of per-unit
  values after capping;
* for a bandit (a spec with allocation periods), every grouping of
  :func:`statistics_sql` is also by the unit's exposure period (``vs_period``, the last
  column): the index ``i`` of the period ``[start_i, start_i+1)`` holding the unit's
  ``exposed_us`` (0 before the first start), the placeholder ``VERDICT_PERIOD``, which
  :func:`~verdict.analysis.dialects.render` turns into a tree of CASEs, so a unit costs
  ``log2(periods)`` comparisons however many periods there are;
* :func:`quantiles_sql` -- for a percentile metric, per variant (and breakdown value):
  ``n``, the sample quantile (rank ``ceil(n p)``), and the order statistics at ranks
  ``ceil(n p -+ z sqrt(n p (1 - p)))`` that bound its interval
  (:mod:`verdict.stats.quantiles`). Ranks come from ``ROW_NUMBER()`` over a window, a
  form every engine runs the same way.

Engines with an aggregate that selects a value by its rank (DuckDB, ClickHouse,
PostgreSQL) skip the window's sort of every value: the pipeline counts the values
first (:func:`cap_counts_sql`; the statistics rows hold each group's ``n``), computes
the same ranks in Python (:func:`cap_rank`, :func:`quantile_ranks`) and selects them
(:func:`selected_caps_sql`, :func:`selected_quantiles_sql`).

Every float literal is cast to DOUBLE: on PostgreSQL and Spark a bare ``0.9`` is an
exact decimal, and ``n * 0.9`` would then round differently from numpy's float.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from verdict.analysis.definitions import Aggregation
from verdict.analysis.dialects import sql_string
from verdict.analysis.plan import Measure, MetricPlan, Plan
from verdict.analysis.statistics import STAT_FIELDS

__all__ = ["STAT_FIELDS", "caps_sql", "quantiles_sql", "statistics_sql"]

OVERALL = "overall"
DAY = "day"
PERIOD = "vs_period"


def double(value: float) -> str:
    """A float literal that every engine reads as an IEEE double."""
    return f"CAST({value!r} AS DOUBLE)"


def raw_value(measure: Measure) -> str:
    """The per-unit value of a measure from its accumulators (NULL = no value)."""
    c = measure.column
    aggregation = measure.aggregation
    if aggregation is Aggregation.SUM:
        return c("_sum")
    if aggregation is Aggregation.COUNT:
        return c("_cnt")
    if aggregation is Aggregation.UNIQUE:
        return f"CASE WHEN {c('_cnt')} > 0 THEN 1 ELSE 0 END"
    if aggregation in (Aggregation.MEAN, Aggregation.PERCENTILE):
        return f"CASE WHEN {c('_vcnt')} > 0 THEN {c('_sum')} / {c('_vcnt')} END"
    return c("_max") if aggregation is Aggregation.MAX else c("_min")


def covariate_value(measure: Measure) -> str:
    """The pre-exposure value of an additive measure."""
    if measure.aggregation is Aggregation.SUM:
        return measure.column("_pre_sum")
    if measure.aggregation is Aggregation.COUNT:
        return measure.column("_pre_cnt")
    return f"CASE WHEN {measure.column('_pre_cnt')} > 0 THEN 1 ELSE 0 END"


def _capped(expression: str, measure: Measure, caps: Mapping[str, float]) -> str:
    if measure.capping == "absolute" and measure.cap_value is not None:
        cap: float | None = measure.cap_value
    else:
        cap = caps.get(measure.prefix) if measure.capping == "percentile" else None
    if cap is None:
        return expression
    return f"CASE WHEN ({expression}) > {double(cap)} THEN {double(cap)} ELSE ({expression}) END"


def caps_sql(plan: Plan, table: str) -> str | None:
    """One row per percentile-capped measure: (prefix, cap); None if no measure needs one."""
    parts: list[str] = []
    for measure in plan.measures:
        if measure.capping != "percentile" or measure.cap_value is None:
            continue
        q = double(measure.cap_value)
        parts.append(
            f"""SELECT {sql_string(measure.prefix)} AS vc_measure,
              MIN(CASE WHEN vc_rn >= CEIL(vc_n * {q}) THEN vc_v END) AS vc_cap
            FROM (
              SELECT vc_v, ROW_NUMBER() OVER (ORDER BY vc_v) AS vc_rn, COUNT(*) OVER () AS vc_n
              FROM (
                SELECT {raw_value(measure)} AS vc_v FROM {table} WHERE variant_index IS NOT NULL
              ) AS r
              WHERE vc_v IS NOT NULL AND vc_v <> 0
            ) AS w"""
        )
    return "\nUNION ALL\n".join(parts) if parts else None


def _value_columns(metric: MetricPlan, caps: Mapping[str, float]) -> list[str]:
    i = metric.index
    measure, denominator = metric.measure, metric.denominator
    ratio = denominator is not None
    value = raw_value(measure)
    columns = [f"{_capped(f'COALESCE({value}, 0)' if ratio else value, measure, caps)} AS v{i}"]
    if denominator is not None:
        columns.append(f"{_capped(f'COALESCE({raw_value(denominator)}, 0)', denominator, caps)}")
        columns[-1] += f" AS d{i}"
    if metric.cuped:
        columns.append(f"{_capped(covariate_value(measure), measure, caps)} AS c{i}")
        if denominator is not None:
            columns.append(f"{_capped(covariate_value(denominator), denominator, caps)} AS cd{i}")
    return columns


def _sums(metric: MetricPlan) -> list[str]:
    i = metric.index
    v, d, c, cd = f"v{i}", f"d{i}", f"c{i}", f"cd{i}"
    ratio = metric.denominator is not None
    null = "CAST(NULL AS DOUBLE)"

    def total(expression: str, present: bool) -> str:
        return f"SUM({expression})" if present else null

    return [
        f"COUNT({v})",
        f"SUM({v})",
        f"SUM({v} * {v})",
        f"SUM(CASE WHEN {v} > 0 THEN 1 ELSE 0 END)",
        total(d, ratio),
        total(f"{d} * {d}", ratio),
        total(f"{v} * {d}", ratio),
        total(c, metric.cuped),
        total(f"{c} * {c}", metric.cuped),
        total(f"{v} * {c}", metric.cuped),
        total(cd, ratio and metric.cuped),
        total(f"{cd} * {cd}", ratio and metric.cuped),
        total(f"{c} * {cd}", ratio and metric.cuped),
        total(f"{v} * {cd}", ratio and metric.cuped),
        total(f"{d} * {c}", ratio and metric.cuped),
        total(f"{d} * {cd}", ratio and metric.cuped),
    ]


def _groupings(plan: Plan) -> list[tuple[str, str, str]]:
    """(label, key expression as text, GROUP BY extra) for each grouping."""
    groupings = [(OVERALL, "''", "")]
    for i in range(len(plan.spec.breakdowns)):
        groupings.append((f"b{i}", f"breakdown_{i}", f", breakdown_{i}"))
    if plan.spec.daily:
        groupings.append((DAY, "CAST(exposure_day AS TEXT)", ", exposure_day"))
    return groupings


def _values_cte(plan: Plan, table: str, caps: Mapping[str, float], *, period: bool = False) -> str:
    columns = ["variant_index", "exposure_day"]
    columns += [f"breakdown_{i}" for i in range(len(plan.spec.breakdowns))]
    if period:
        starts = " ".join(str(start) for start in plan.period_starts_us)
        columns.append(f"VERDICT_PERIOD(exposed_us, {sql_string(starts)}) AS {PERIOD}")
    for metric in plan.metrics:
        columns += _value_columns(metric, caps)
    return f"vs_values AS (SELECT {', '.join(columns)} FROM {table})"


def statistics_sql(
    plan: Plan, table: str, caps: Mapping[str, float], *, grouping_sets: bool = False
) -> str:
    """Rows ``(group, key, variant, exposed, <STAT_FIELDS of metric 0>, ...)``.

    With the daily series on, there are no ``overall`` rows: every figure is a count or
    a sum, so the caller adds the day rows up (one grouping fewer to compute, and on
    PostgreSQL a plain GROUP BY, which its parallel workers run, when there are no
    breakdowns). With ``grouping_sets`` (every engine but SQLite) all groupings are one
    aggregation over one read of the table; otherwise one GROUP BY per grouping, in a
    UNION ALL.

    A bandit's rows are per exposure period too: every grouping also groups by
    ``vs_period``, returned as the last column.
    """
    sums = "".join(", " + expression for metric in plan.metrics for expression in _sums(metric))
    bandit = bool(plan.period_starts_us)
    # The period is in every grouping (never a grouping set of its own), last.
    period = f", {PERIOD}" if bandit else ""
    sums += period
    groupings = _groupings(plan)
    if plan.spec.daily:
        groupings = [grouping for grouping in groupings if grouping[0] != OVERALL]
    values = f"WITH {_values_cte(plan, table, caps, period=bandit)}\n"
    if not grouping_sets or len(groupings) == 1:
        selects = [
            f"SELECT {sql_string(label)} AS vs_group, {key} AS vs_key, variant_index, "
            f"COUNT(*) AS vs_exposed{sums} FROM vs_values "
            f"GROUP BY variant_index{group_by}{period}"
            for label, key, group_by in groupings
        ]
        return values + "\nUNION ALL\n".join(selects)
    # Each grouping but the overall one adds one column; GROUPING(column) = 0 says which
    # set a row belongs to.
    extra = [(label, key, group_by[2:]) for label, key, group_by in groupings if group_by]
    label = "CASE " + " ".join(
        f"WHEN GROUPING({column}) = 0 THEN {sql_string(name)}" for name, _, column in extra
    )
    label += f" ELSE {sql_string(OVERALL)} END"
    key = "CASE " + " ".join(
        f"WHEN GROUPING({column}) = 0 THEN {expression}" for _, expression, column in extra
    )
    key += " ELSE '' END"
    sets = [f"(variant_index, {column}{period})" for _, _, column in extra]
    if len(extra) < len(groupings):
        sets.insert(0, f"(variant_index{period})")
    return (
        values + f"SELECT {label} AS vs_group, {key} AS vs_key, variant_index, "
        f"COUNT(*) AS vs_exposed{sums} FROM vs_values GROUP BY GROUPING SETS ({', '.join(sets)})"
    )


def quantile_z(plan: Plan) -> float:
    """The normal quantile of the spec's quantile confidence (two-sided)."""
    from scipy.stats import norm  # local: only percentile metrics need it

    return float(norm.ppf(0.5 + plan.spec.quantile_confidence / 2))


def quantiles_sql(plan: Plan, metric: MetricPlan, table: str, caps: Mapping[str, float]) -> str:
    """Rows ``(group, key, variant, n, quantile, lower, upper)`` of a percentile metric."""
    p = metric.metric.percentile or 0.5
    z = quantile_z(plan)
    spread = f"{double(z)} * SQRT(vq_n * {double(p)} * {double(1.0 - p)})"
    v = f"v{metric.index}"
    branches = []
    for label, key, group_by in _groupings(plan):
        if label == DAY:
            continue  # quantiles do not add up over days; daily rows carry the sums only
        partition = f"variant_index{group_by}"
        branches.append(
            f"SELECT {sql_string(label)} AS vq_group, {key} AS vq_key, variant_index, "
            f"{v} AS vq_v, ROW_NUMBER() OVER (PARTITION BY {partition} ORDER BY {v}) AS vq_rn, "
            f"COUNT(*) OVER (PARTITION BY {partition}) AS vq_n "
            f"FROM vs_values WHERE {v} IS NOT NULL AND variant_index IS NOT NULL"
        )
    body = "\nUNION ALL\n".join(branches)
    return f"""WITH {_values_cte(plan, table, caps)}
    SELECT vq_group, vq_key, variant_index, MAX(vq_n) AS vq_units,
      MIN(CASE WHEN vq_rn >= CEIL(vq_n * {double(p)}) THEN vq_v END) AS vq_quantile,
      MIN(CASE WHEN vq_rn >= CEIL(vq_n * {double(p)} - {spread}) THEN vq_v END) AS vq_lower,
      COALESCE(MIN(CASE WHEN vq_rn >= CEIL(vq_n * {double(p)} + {spread}) THEN vq_v END),
               MAX(vq_v)) AS vq_upper
    FROM ({body}) AS q
    GROUP BY vq_group, vq_key, variant_index"""


# -- Order statistics by rank, for engines with an exact selection aggregate.
#
# The window form above sorts every unit's value with its row number. DuckDB, ClickHouse
# and PostgreSQL select a value of a given rank with an aggregate
# (:attr:`~verdict.analysis.dialects.Flavour.select_ranks`). The ranks are computed
# here, in Python, by the same IEEE double expressions the window form evaluates in SQL
# (so both forms pick the same values), once the counts ``n`` are known.

MAX_SELECTED_GROUPS = 64


def cap_rank(n: int, q: float) -> int:
    """The rank (1-based) of the ``q`` cap among ``n`` values: ``ceil(n q)``, at least 1."""
    return min(max(1, math.ceil(n * q)), n)


def quantile_ranks(n: int, p: float, z: float) -> tuple[int, int, int]:
    """Ranks of the quantile and of its interval's bounds among ``n`` values."""
    spread = z * math.sqrt(n * p * (1.0 - p))
    centre = n * p
    low, mid, high = (
        min(max(1, math.ceil(value)), n) for value in (centre - spread, centre, centre + spread)
    )
    return mid, low, high


def _select(value: str, ranks: tuple[int, ...], n: int, condition: str) -> str:
    texts = ", ".join(sql_string(str(number)) for number in (n, *ranks))
    return f"VERDICT_RANKS({value}, {condition}, {texts})"


def cap_counts_sql(plan: Plan, table: str) -> str | None:
    """One row: the number of non-zero values of each percentile-capped measure."""
    counts = [
        f"COUNT(CASE WHEN ({raw_value(m)}) <> 0 THEN 1 END) AS vc_{m.prefix}"
        for m in plan.measures
        if m.capping == "percentile" and m.cap_value is not None
    ]
    if not counts:
        return None
    return f"SELECT {', '.join(counts)} FROM {table} WHERE variant_index IS NOT NULL"


def selected_caps_sql(plan: Plan, table: str, counts: Mapping[str, int]) -> str | None:
    """One row: a one-element list with the cap of each measure that has values
    (``counts``: prefix -> n)."""
    selects = []
    for measure in plan.measures:
        n = counts.get(measure.prefix, 0)
        if measure.capping != "percentile" or measure.cap_value is None or n == 0:
            continue
        value = raw_value(measure)
        rank = cap_rank(n, measure.cap_value)
        selects.append(f"{_select(value, (rank,), n, f'({value}) <> 0')} AS vc_{measure.prefix}")
    if not selects:
        return None
    return f"SELECT {', '.join(selects)} FROM {table} WHERE variant_index IS NOT NULL"


def selected_quantiles_sql(
    plan: Plan,
    metric: MetricPlan,
    table: str,
    caps: Mapping[str, float],
    groups: list[tuple[str, str, int, int]],
) -> str:
    """One row: for each group ``(label, key, variant index, n)``, the list of the
    quantile and its bounds, in that order."""
    p = metric.metric.percentile or 0.5
    z = quantile_z(plan)
    v = f"v{metric.index}"
    selects = []
    for index, (label, key, variant, n) in enumerate(groups):
        condition = f"variant_index = {variant}"
        if label != OVERALL:
            condition += f" AND breakdown_{label[1:]} = {sql_string(key)}"
        selects.append(f"{_select(v, quantile_ranks(n, p, z), n, condition)} AS vq_{index}")
    return f"WITH {_values_cte(plan, table, caps)}\nSELECT {', '.join(selects)} FROM vs_values"
