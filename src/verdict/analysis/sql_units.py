"""SQL of the per-unit stage: exposed units, their events, one row per unit.

The exposure rules (binding, see ``docs/analysis.md``):

1. exposure rows of the experiment with a timestamp in ``[start, end)`` are read;
   rows whose variant is not one of the spec's are dropped (their units counted);
2. a unit whose remaining rows name more than one variant is excluded and counted;
3. every other unit is exposed at its first row's time, to that row's variant, with
   that row's context for breakdowns (ties: the smallest attribute value);
4. an event counts for a measure iff it has the unit's id and the measure's event name
   and ``exposure + delay <= ts <= min(end, exposure + delay + window)``; the CUPED
   covariate uses ``exposure - cuped_days <= ts < exposure``.

One pass over the events: they are filtered by name and time, joined to the exposed
units on the unit id (events on the left: ClickHouse builds its hash table from the
right side, which must be the smaller one), and every measure is a conditional
aggregate of the same grouped join (``SUM(CASE WHEN <window> THEN value END)``);
accumulators that two measures share are computed once (:mod:`verdict.analysis.plan`).
The result is left-joined back to all exposed units, so units without events are
present with empty accumulators.

Incremental builds (:func:`unit_table_sql` with ``previous``) merge the kept table with
the events after ``through``: old units gain only events with ``ts > through``; units
first exposed at or after ``through`` are new and get every event of their windows,
including their pre-exposure covariate. They read the events in two parts: those after
``through``, joined with every exposed unit, and those from ``cuped_days`` before
``through`` up to it, joined only with the new units, so the weeks a covariate reaches
back are dropped at the join instead of being grouped.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from verdict.analysis.dialects import sql_string
from verdict.analysis.plan import MICROS_PER_DAY, Measure, Plan

__all__ = [
    "Previous",
    "exposure_counts_sql",
    "late_exposures_sql",
    "scan_start_us",
    "unit_table_sql",
]

MISSING = "__missing__"


@dataclass(frozen=True)
class Previous:
    """The kept per-unit table and the ``end`` it was built through (microseconds)."""

    table: str
    through_us: int


def ident(name: str) -> str:
    """A quoted identifier in the canonical dialect."""
    return exp.to_identifier(name, quoted=True).sql()


def _in_list(values: tuple[str, ...] | list[str]) -> str:
    return "(" + ", ".join(sql_string(value) for value in values) + ")"


def _exposure_ctes(plan: Plan) -> str:
    source = plan.mapping.exposures
    spec = plan.spec
    context = (
        f", s.{ident(source.context_column)} AS vx_ctx"
        if spec.breakdowns and source.context_column
        else ""
    )
    variants = _in_list([v.id for v in spec.variants])
    rows = f"""
    vx_rows AS (
      SELECT vx_unit, vx_variant, vx_ts{", vx_ctx" if context else ""} FROM (
        SELECT s.{ident(source.unit_column)} AS vx_unit,
               CAST(s.{ident(source.variant_column)} AS TEXT) AS vx_variant,
               VERDICT_EPOCH_US(s.{ident(source.timestamp_column)}) AS vx_ts{context}
        FROM __vsrc_exposures__ AS s
        WHERE s.{ident(source.experiment_column)} = {sql_string(spec.experiment_id)}
      ) AS r
      WHERE vx_ts >= {plan.start_us} AND vx_ts < {plan.end_us}
    ),
    vx_known AS (SELECT * FROM vx_rows WHERE vx_variant IN {variants}),
    vx_first AS (
      SELECT vx_unit AS vf_unit, MIN(vx_variant) AS vf_variant,
             MAX(vx_variant) AS vf_variant_max, MIN(vx_ts) AS vf_ts
      FROM vx_known GROUP BY vx_unit
    )"""
    if not spec.breakdowns:
        units = f"""
    vx_units AS (
      SELECT vf_unit AS vx_unit, vf_variant AS vx_variant, vf_ts AS vx_ts,
             vf_ts DIV {MICROS_PER_DAY} AS vx_day
      FROM vx_first WHERE vf_variant = vf_variant_max
    )"""
    else:
        attributes = ",\n".join(
            f"MIN(COALESCE(VERDICT_JSON_TEXT(k.vx_ctx, {sql_string(name)}), "
            f"{sql_string(MISSING)})) AS vb_{i}"
            for i, name in enumerate(spec.breakdowns)
        )
        units = f"""
    vx_units AS (
      SELECT f.vf_unit AS vx_unit, f.vf_variant AS vx_variant, f.vf_ts AS vx_ts,
             f.vf_ts DIV {MICROS_PER_DAY} AS vx_day, {attributes}
      FROM vx_first AS f JOIN vx_known AS k ON k.vx_unit = f.vf_unit AND k.vx_ts = f.vf_ts
      WHERE f.vf_variant = f.vf_variant_max
      GROUP BY f.vf_unit, f.vf_variant, f.vf_ts
    )"""
    return rows + "," + units


def scan_start_us(plan: Plan, previous: Previous | None) -> int:
    """The earliest event time a build reads (inclusive)."""
    base = plan.start_us if previous is None else previous.through_us
    if plan.cuped_us is not None and any(m.cuped for m in plan.metrics):
        return base - plan.cuped_us
    return base


def _events_cte(plan: Plan, name: str, low_us: int, high_us: int, *, after: bool) -> str:
    """Events of the plan's names with ``low < ts <= high`` (``after``) or ``low <= ts <=
    high``; the raw timestamp is first filtered a day wider, a test on the stored column
    that lets an engine skip blocks (zone maps, BRIN, a MergeTree's primary index)."""
    source = plan.mapping.events
    value = (
        f"CAST(s.{ident(source.value_column)} AS DOUBLE)"
        if source.value_column
        else "CAST(NULL AS DOUBLE)"
    )
    paths = "".join(
        f",\n               VERDICT_JSON_NUMBER(s.{ident(source.properties_column or '')}, "
        + ", ".join(sql_string(part) for part in path)
        + f") AS ve_p{i}"
        for i, path in enumerate(plan.value_paths)
    )
    path_columns = "".join(f", ve_p{i}" for i in range(len(plan.value_paths)))
    return f"""
    {name} AS (
      SELECT ve_unit, ve_name, ve_ts, ve_value{path_columns} FROM (
        SELECT s.{ident(source.unit_column)} AS ve_unit, s.{ident(source.name_column)} AS ve_name,
               VERDICT_EPOCH_US(s.{ident(source.timestamp_column)}) AS ve_ts,
               {value} AS ve_value{paths}
        FROM __vsrc_events__ AS s
        WHERE s.{ident(source.name_column)} IN {_in_list(plan.event_names)}
          AND VERDICT_TS_RANGE(s.{ident(source.timestamp_column)},
                               '{low_us - MICROS_PER_DAY}', '{high_us + MICROS_PER_DAY}')
      ) AS r
      WHERE ve_ts {">" if after else ">="} {low_us} AND ve_ts <= {high_us}
    )"""


def _value(measure: Measure) -> str:
    return "e.ve_value" if measure.value_index is None else f"e.ve_p{measure.value_index}"


def _aggregate(plan: Plan, measure: Measure, suffix: str, previous: Previous | None) -> str:
    # The exposure time is ``x.vx_ts`` in a full build and ``e.vx_ts`` in a refresh, whose
    # joined rows carry it (see unit_table_sql).
    x = "x" if previous is None else "e"
    name = f"e.ve_name = {sql_string(measure.event_name)}"
    start = f"{x}.vx_ts + {measure.delay_us}"
    post = f"{name} AND e.ve_ts >= {start}"
    if measure.window_us is not None:
        post += f" AND e.ve_ts <= {start} + {measure.window_us}"
    pre = f"{name} AND e.ve_ts >= {x}.vx_ts - {plan.cuped_us} AND e.ve_ts < {x}.vx_ts"
    if previous is not None:
        # Kept units gain only events after ``through`` (the other scan holds new units'
        # events alone); a kept unit's covariate is already in the kept table.
        pre += f" AND e.vx_ts >= {previous.through_us}"
    value = _value(measure)
    p = measure.prefix
    expressions = {
        "_sum": f"SUM(CASE WHEN {post} THEN {value} END) AS {p}_sum",
        "_vcnt": f"COUNT(CASE WHEN {post} THEN {value} END) AS {p}_vcnt",
        "_cnt": f"COUNT(CASE WHEN {post} THEN 1 END) AS {p}_cnt",
        "_max": f"MAX(CASE WHEN {post} THEN {value} END) AS {p}_max",
        "_min": f"MIN(CASE WHEN {post} THEN {value} END) AS {p}_min",
        "_pre_sum": f"SUM(CASE WHEN {pre} THEN {value} END) AS {p}_pre_sum",
        "_pre_cnt": f"COUNT(CASE WHEN {pre} THEN 1 END) AS {p}_pre_cnt",
    }
    return expressions[suffix]


def _merged(column: str, suffix: str, previous: Previous | None) -> str:
    new = f"d.{column}"
    if suffix in ("_max", "_min"):
        if previous is None:
            return f"CAST({new} AS DOUBLE) AS {column}"
        old = f"o.{column}"
        keep_old = f"{old} >= {new}" if suffix == "_max" else f"{old} <= {new}"
        return (
            f"CAST(CASE WHEN {new} IS NULL THEN {old} WHEN {old} IS NULL THEN {new} "
            f"WHEN {keep_old} THEN {old} ELSE {new} END AS DOUBLE) AS {column}"
        )
    kind = "DOUBLE" if suffix in ("_sum", "_pre_sum") else "BIGINT"
    merged = f"COALESCE({new}, 0)"
    if previous is not None:
        merged += f" + COALESCE(o.{column}, 0)"
    return f"CAST({merged} AS {kind}) AS {column}"


def unit_table_sql(plan: Plan, previous: Previous | None) -> str:
    """SELECT of the per-unit table (canonical SQL), merged with ``previous`` if given.

    Columns: ``unit_id, variant_id, exposed_us, exposure_day, breakdown_<i>...`` and the
    accumulators of every measure (``m0_sum``, ``m0d_cnt``, ...), each kept once
    (:attr:`~verdict.analysis.plan.Plan.columns`).
    """
    aggregates: list[str] = []
    merged: list[str] = []
    for measure, suffix in plan.columns:
        aggregates.append(_aggregate(plan, measure, suffix, previous))
        merged.append(_merged(f"{measure.prefix}{suffix}", suffix, previous))
    end = plan.end_us
    if previous is None:
        ctes = (
            _exposure_ctes(plan)
            + ","
            + _events_cte(plan, "ve_events", scan_start_us(plan, None), end, after=False)
        )
        joined = "ve_events AS e JOIN vx_units AS x ON e.ve_unit = x.vx_unit"
        unit = "x.vx_unit"
    else:
        # Two scans: events after ``through`` for every unit, and, for units first
        # exposed since, the earlier events their windows reach (the CUPED covariate,
        # an exposure exactly at ``through``). The second joins only the new units, so
        # the weeks of events it reads are dropped before the aggregation.
        through = previous.through_us
        ctes = (
            _exposure_ctes(plan)
            + ","
            + _events_cte(plan, "ve_after", through, end, after=True)
            + ","
            + _events_cte(plan, "ve_before", scan_start_us(plan, previous), through, after=False)
            + f""",
    vx_new AS (SELECT vx_unit, vx_ts FROM vx_units WHERE vx_ts >= {through})"""
        )
        columns = "ve_name, ve_ts, ve_value" + "".join(
            f", ve_p{i}" for i in range(len(plan.value_paths))
        )
        joined = f"""(
        SELECT {columns}, vx_unit, vx_ts
        FROM ve_after AS a JOIN vx_units AS u ON a.ve_unit = u.vx_unit
        UNION ALL
        SELECT {columns}, vx_unit, vx_ts
        FROM ve_before AS b JOIN vx_new AS n ON b.ve_unit = n.vx_unit
      ) AS e"""
        unit = "e.vx_unit"
    delta = f"""
    vd_delta AS (
      SELECT {unit} AS vd_unit, {", ".join(aggregates) or "COUNT(*) AS vd_events"}
      FROM {joined}
      GROUP BY {unit}
    )"""
    old_join = (
        "" if previous is None else f" LEFT JOIN {previous.table} AS o ON o.unit_id = x.vx_unit"
    )
    breakdowns = "".join(f", x.vb_{i} AS breakdown_{i}" for i in range(len(plan.spec.breakdowns)))
    columns = "".join(f",\n      {column}" for column in merged)
    return f"""WITH {ctes},{delta}
    SELECT x.vx_unit AS unit_id, x.vx_variant AS variant_id, x.vx_ts AS exposed_us,
      x.vx_day AS exposure_day{breakdowns}{columns}
    FROM vx_units AS x LEFT JOIN vd_delta AS d ON d.vd_unit = x.vx_unit{old_join}"""


def late_exposures_sql(plan: Plan, previous: Previous) -> str:
    """Units whose exposure the kept table cannot have seen: late-arriving exposure rows.

    A unit exposed before ``through`` but absent from the kept table, or kept with a
    different exposure time, makes an incremental merge wrong; the caller rebuilds.
    """
    return f"""WITH {_exposure_ctes(plan)}
    SELECT COUNT(*) FROM vx_units AS x LEFT JOIN {previous.table} AS o ON o.unit_id = x.vx_unit
    WHERE (o.unit_id IS NULL AND x.vx_ts < {previous.through_us})
       OR (o.unit_id IS NOT NULL AND o.exposed_us <> x.vx_ts)"""


def exposure_counts_sql(plan: Plan) -> str:
    """Units excluded for exposures to several variants, and units with unknown variants."""
    variants = _in_list([v.id for v in plan.spec.variants])
    return f"""WITH {_exposure_ctes(plan)}
    SELECT 'multiple' AS vk_kind, COUNT(*) AS vk_units FROM vx_first
    WHERE vf_variant <> vf_variant_max
    UNION ALL
    SELECT 'unknown' AS vk_kind, COUNT(DISTINCT vx_unit) AS vk_units FROM vx_rows
    WHERE NOT vx_variant IN {variants}"""
