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
right side, which must be the smaller one), and every measure is a filtered aggregate
of the same grouped join (``SUM(value) FILTER (WHERE <window>)``); accumulators that two
measures share are computed once (:mod:`verdict.analysis.plan`). The result is
left-joined back to all exposed units, so units without events are present with empty
accumulators. Units exposed to several variants are kept too, with a NULL
``variant_index`` and no events, so that a refresh knows them; every per-variant
query leaves them out (the statistics count them).

Incremental builds (:func:`unit_table_sql` with ``previous``) merge the kept table with
what happened after ``through``. Exposure rows are read only from ``through`` on (the
pipeline first counts the rows before ``through`` with :func:`exposure_check_sql` and
rebuilds if a late row appeared): their units are new, or kept units that stay as they
are or, seen in another variant, turn excluded. Kept units gain only events with
``ts > through``; units first exposed at or after ``through`` are new and get every
event of their windows, including their pre-exposure covariate. The events are read
in two parts: those after ``through``, joined with every unit, and those from
``cuped_days`` before ``through`` up to it, joined only with the new units, so the
weeks a covariate reaches back are dropped at the join instead of being grouped.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from verdict.analysis.dialects import sql_string
from verdict.analysis.plan import MICROS_PER_DAY, Measure, Plan

__all__ = [
    "Previous",
    "exposure_check_sql",
    "scan_start_us",
    "unit_table_sql",
    "units_sql",
]

MISSING = "__missing__"
# The accumulators of the CUPED covariate (before the exposure).
PRE_SUFFIXES = ("_pre_sum", "_pre_cnt")


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


def variant_index(plan: Plan, expression: str) -> str:
    """The position of a variant id in the spec (NULL for an id the spec does not have).

    The per-unit table keeps this small integer instead of the id: grouping and
    comparing integers is cheaper than text on every engine.
    """
    branches = " ".join(
        f"WHEN {sql_string(variant.id)} THEN {index}"
        for index, variant in enumerate(plan.spec.variants)
    )
    return f"CASE {expression} {branches} END"


def _exposure_ctes(plan: Plan, since_us: int | None = None, *, rows_only: bool = False) -> str:
    """``vx_rows`` (exposure rows of the window), ``vx_units`` (one row per unit).

    ``vx_units.vx_variant`` is the unit's variant index, or NULL for a unit whose rows
    name more than one variant (rule 2: kept in the per-unit table, so that a refresh
    knows it, but left out of every figure). ``since_us`` reads only rows from then on
    (a refresh: the rows the kept table has not seen).
    """
    source = plan.mapping.exposures
    spec = plan.spec
    context = (
        f", s.{ident(source.context_column)} AS vx_ctx"
        if spec.breakdowns and source.context_column
        else ""
    )
    low = plan.start_us if since_us is None else since_us
    variant = f"CAST(s.{ident(source.variant_column)} AS TEXT)"
    rows = f"""
    vx_rows AS (
      SELECT vx_unit, vx_variant, vx_ts{", vx_ctx" if context else ""} FROM (
        SELECT s.{ident(source.unit_column)} AS vx_unit,
               {variant_index(plan, variant)} AS vx_variant,
               VERDICT_EPOCH_US(s.{ident(source.timestamp_column)}) AS vx_ts{context}
        FROM __vsrc_exposures__ AS s
        WHERE s.{ident(source.experiment_column)} = {sql_string(spec.experiment_id)}
          AND VERDICT_TS_RANGE(s.{ident(source.timestamp_column)},
                               '{low - MICROS_PER_DAY}', '{plan.end_us + MICROS_PER_DAY}')
      ) AS r
      WHERE vx_ts >= {low} AND vx_ts < {plan.end_us}
    )"""
    if rows_only:
        return rows
    rows += """,
    vx_known AS (SELECT * FROM vx_rows WHERE vx_variant IS NOT NULL),
    vx_first AS (
      SELECT vx_unit AS vf_unit, MIN(vx_variant) AS vf_variant,
             MAX(vx_variant) AS vf_variant_max, MIN(vx_ts) AS vf_ts
      FROM vx_known GROUP BY vx_unit
    )"""
    one_variant = "CASE WHEN vf_variant = vf_variant_max THEN vf_variant END"
    if not spec.breakdowns:
        units = f"""
    vx_units AS (
      SELECT vf_unit AS vx_unit, {one_variant} AS vx_variant, vf_ts AS vx_ts,
             vf_ts DIV {MICROS_PER_DAY} AS vx_day
      FROM vx_first
    )"""
    else:
        attributes = ",\n".join(
            f"MIN(COALESCE(VERDICT_JSON_TEXT(k.vx_ctx, {sql_string(name)}), "
            f"{sql_string(MISSING)})) AS vb_{i}"
            for i, name in enumerate(spec.breakdowns)
        )
        units = f"""
    vx_units AS (
      SELECT f.vf_unit AS vx_unit, {one_variant.replace("vf_", "f.vf_")} AS vx_variant,
             f.vf_ts AS vx_ts, f.vf_ts DIV {MICROS_PER_DAY} AS vx_day, {attributes}
      FROM vx_first AS f JOIN vx_known AS k ON k.vx_unit = f.vf_unit AND k.vx_ts = f.vf_ts
      GROUP BY f.vf_unit, f.vf_variant, f.vf_variant_max, f.vf_ts
    )"""
    return rows + "," + units


def scan_start_us(plan: Plan, previous: Previous | None) -> int:
    """The earliest event time a build reads (inclusive)."""
    base = plan.start_us if previous is None else previous.through_us
    if plan.cuped_us is not None and any(m.cuped for m in plan.metrics):
        return base - plan.cuped_us
    return base


def _events_cte(
    plan: Plan, name: str, low_us: int, high_us: int, *, after: bool, exact: str = ""
) -> str:
    """Events of the plan's names with ``low < ts <= high`` (``after``) or ``low <= ts <=
    high``; the raw timestamp is first filtered a day wider, a test on the stored column
    that lets an engine skip blocks (zone maps, BRIN, a MergeTree's primary index).

    ``exact`` names the bounds also tested exactly (``"low"``, ``"high"``, both or
    neither); the others are left to the aggregates, which bound every event by the
    exposure and ``end`` themselves. A planner estimates a filter on the stored column
    from its statistics, but not one on a computed epoch: PostgreSQL's estimate of a
    range on it (a few thousand of ten million rows) made it run the join and the
    aggregation without its parallel workers, and hash the events instead of the units."""
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
    tests = []
    if "low" in exact:
        tests.append(f"ve_ts {'>' if after else '>='} {low_us}")
    if "high" in exact:
        tests.append(f"ve_ts <= {high_us}")
    exact_filter = f"\n      WHERE {' AND '.join(tests)}" if tests else ""
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
      ) AS r{exact_filter}
    )"""


def _value(measure: Measure) -> str:
    return "e.ve_value" if measure.value_index is None else f"e.ve_p{measure.value_index}"


def _aggregate(
    plan: Plan, measure: Measure, suffix: str, previous: Previous | None, *, bounded: bool
) -> str:
    # The exposure time is ``x.vx_ts`` in a full build and ``e.vx_ts`` in a refresh, whose
    # joined rows carry it (see unit_table_sql). ``bounded``: the events read are known
    # to be at or before ``end`` (see _events_cte), so the test is not repeated here.
    x = "x" if previous is None else "e"
    name = f"e.ve_name = {sql_string(measure.event_name)}"
    start = f"{x}.vx_ts" + (f" + {measure.delay_us}" if measure.delay_us else "")
    post = f"{name} AND e.ve_ts >= {start}"
    if not bounded:
        post += f" AND e.ve_ts <= {plan.end_us}"
    if measure.window_us is not None:
        post += f" AND e.ve_ts <= {start} + {measure.window_us}"
    pre = f"{name} AND e.ve_ts >= {x}.vx_ts - {plan.cuped_us} AND e.ve_ts < {x}.vx_ts"
    if previous is not None:
        # Kept units gain only events after ``through`` (the other scan holds new units'
        # events alone); a kept unit's covariate is already in the kept table.
        pre += f" AND e.vx_ts >= {previous.through_us}"
    return _filtered(measure, suffix, post, pre)


def _filtered(measure: Measure, suffix: str, post: str, pre: str) -> str:
    """The accumulator ``suffix`` of ``measure`` over the rows where ``post`` (``pre``
    for the covariate) holds."""
    value = _value(measure)
    p = measure.prefix
    # FILTER rather than CASE: PostgreSQL skips the aggregate's transition for rows the
    # filter drops, ClickHouse runs it as its -If combinators. Sums and counts read a
    # value that is never NULL (a sum's accumulator is 0 without values anyway), which
    # spares ClickHouse its nullable aggregate states.
    expressions = {
        "_sum": f"SUM(COALESCE({value}, 0)) FILTER (WHERE {post}) AS {p}_sum",
        "_vcnt": f"COUNT(*) FILTER (WHERE {post} AND {value} IS NOT NULL) AS {p}_vcnt",
        "_cnt": f"COUNT(*) FILTER (WHERE {post}) AS {p}_cnt",
        "_max": f"MAX({value}) FILTER (WHERE {post}) AS {p}_max",
        "_min": f"MIN({value}) FILTER (WHERE {post}) AS {p}_min",
        "_pre_sum": f"SUM(COALESCE({value}, 0)) FILTER (WHERE {pre}) AS {p}_pre_sum",
        "_pre_cnt": f"COUNT(*) FILTER (WHERE {pre}) AS {p}_pre_cnt",
    }
    return expressions[suffix]


def _open_ended(plan: Plan) -> bool:
    """Whether every measure counts each event from the exposure to ``end`` (no delay,
    no window). A kept unit was exposed before ``through``, so it then counts every
    event it has after ``through``: a refresh groups those by unit without joining
    them to the units' exposure times."""
    return all(m.delay_us == 0 and m.window_us is None for m in plan.measures)


def _kept_delta(plan: Plan, *, bounded: bool) -> str:
    """``vd_kept``: every unit's accumulators over the events after ``through`` (see
    :func:`_open_ended`), with no covariate (a kept unit's is complete)."""
    aggregates = []
    for measure, suffix in plan.columns:
        if suffix in PRE_SUFFIXES:
            continue
        post = f"e.ve_name = {sql_string(measure.event_name)}"
        if not bounded:
            post += f" AND e.ve_ts <= {plan.end_us}"
        aggregates.append(_filtered(measure, suffix, post, ""))
    return f"""
    vd_kept AS (
      SELECT e.ve_unit AS vd_unit, {", ".join(aggregates) or "COUNT(*) AS vd_events"}
      FROM ve_after AS e
      GROUP BY e.ve_unit
    )"""


def _merged(column: str, suffix: str, *, old: bool, delta: bool = True) -> str:
    """An accumulator of the new table: the delta's, added to (merged with) the kept
    table's when ``old``; the kept table's alone when there is no ``delta`` for it."""
    new = f"d.{column}"
    if not delta:
        kind = "DOUBLE" if suffix == "_pre_sum" else "BIGINT"
        return f"CAST(COALESCE(o.{column}, 0) AS {kind}) AS {column}"
    if suffix in ("_max", "_min"):
        if not old:
            return f"CAST({new} AS DOUBLE) AS {column}"
        kept = f"o.{column}"
        keep_old = f"{kept} >= {new}" if suffix == "_max" else f"{kept} <= {new}"
        return (
            f"CAST(CASE WHEN {new} IS NULL THEN {kept} WHEN {kept} IS NULL THEN {new} "
            f"WHEN {keep_old} THEN {kept} ELSE {new} END AS DOUBLE) AS {column}"
        )
    kind = "DOUBLE" if suffix in ("_sum", "_pre_sum") else "BIGINT"
    merged = f"COALESCE({new}, 0)"
    if old:
        merged += f" + COALESCE(o.{column}, 0)"
    return f"CAST({merged} AS {kind}) AS {column}"


def _merged_columns(plan: Plan, *, old: bool, covariates: bool = True) -> str:
    """The accumulators of the new table; without ``covariates`` in the delta, the
    kept table's covariates are carried over as they are."""
    return "".join(
        ",\n      "
        + _merged(
            f"{measure.prefix}{suffix}",
            suffix,
            old=old,
            delta=covariates or suffix not in PRE_SUFFIXES,
        )
        for measure, suffix in plan.columns
    )


def _delta(plan: Plan, previous: Previous | None, joined: str, unit: str, *, bounded: bool) -> str:
    aggregates = [
        _aggregate(plan, measure, suffix, previous, bounded=bounded)
        for measure, suffix in plan.columns
    ]
    return f"""
    vd_delta AS (
      SELECT {unit} AS vd_unit, {", ".join(aggregates) or "COUNT(*) AS vd_events"}
      FROM {joined}
      GROUP BY {unit}
    )"""


def unit_table_sql(
    plan: Plan,
    previous: Previous | None,
    *,
    staged_units: str | None = None,
    bounded: bool = False,
) -> str:
    """SELECT of the per-unit table (canonical SQL), merged with ``previous`` if given.

    Columns: ``unit_id, variant_index, exposed_us, exposure_day, breakdown_<i>...`` and
    the accumulators of every measure (``m0_sum``, ``m0d_cnt``, ...), each kept once
    (:attr:`~verdict.analysis.plan.Plan.columns`). ``variant_index`` is the variant's
    position in the spec, NULL for a unit exposed to several variants.

    ``staged_units`` names a table holding :func:`units_sql`'s rows, read instead of
    grouping the exposures in the statement (see
    :attr:`~verdict.analysis.dialects.Flavour.stage_units`). ``bounded`` filters the
    events by ``end`` exactly where they are read instead of in every aggregate
    (:attr:`~verdict.analysis.dialects.Flavour.exact_event_bounds`).
    """
    if previous is None:
        return _full_sql(plan, staged_units, bounded)
    return _refresh_sql(plan, previous, staged_units, bounded)


def units_sql(plan: Plan, previous: Previous | None = None) -> str:
    """The exposed units of a staged build (``vx_units``); for a refresh, the units of
    the exposure rows since ``through``, with ``vm_kept`` (NULL: not in the kept table)."""
    breakdowns = "".join(f", x.vb_{i}" for i in range(len(plan.spec.breakdowns)))
    select = f"SELECT x.vx_unit, x.vx_variant, x.vx_ts, x.vx_day{breakdowns}"
    if previous is None:
        return f"""WITH {_exposure_ctes(plan)}
    {select} FROM vx_units AS x"""
    return f"""WITH {_exposure_ctes(plan, since_us=previous.through_us)}
    {select}, o.unit_id AS vm_kept
    FROM vx_units AS x LEFT JOIN {previous.table} AS o ON o.unit_id = x.vx_unit"""


def _full_sql(plan: Plan, staged_units: str | None, bounded: bool) -> str:
    events = _events_cte(
        plan,
        "ve_events",
        scan_start_us(plan, None),
        plan.end_us,
        after=False,
        exact="high" if bounded else "",
    )
    units = "vx_units" if staged_units is None else staged_units
    ctes = ("" if staged_units is not None else _exposure_ctes(plan) + ",") + events
    ctes += (
        f",\n    vx_valid AS (SELECT vx_unit, vx_ts FROM {units} WHERE vx_variant IS NOT NULL),"
        + _delta(
            plan,
            None,
            "ve_events AS e JOIN vx_valid AS x ON e.ve_unit = x.vx_unit",
            "e.ve_unit",
            bounded=bounded,
        )
    )
    breakdowns = "".join(f", x.vb_{i} AS breakdown_{i}" for i in range(len(plan.spec.breakdowns)))
    columns = _merged_columns(plan, old=False)
    return f"""WITH {ctes}
    SELECT x.vx_unit AS unit_id, x.vx_variant AS variant_index, x.vx_ts AS exposed_us,
      x.vx_day AS exposure_day{breakdowns}{columns}
    FROM {units} AS x LEFT JOIN vd_delta AS d ON d.vd_unit = x.vx_unit"""


def _refresh_sql(plan: Plan, previous: Previous, staged_units: str | None, bounded: bool) -> str:
    """The kept table merged with what happened since ``through``.

    Exposure rows are read only from ``through`` on (the caller has checked, by counting
    rows, that none arrived late before it): their units are either new (first exposed
    at or after ``through``) or kept units, which keep their exposure and turn excluded
    if a new row names another variant. Events are read in two parts: those after
    ``through``, joined with every unit, and those from ``cuped_days`` before
    ``through`` up to it, joined only with the new units (their covariate, an exposure
    exactly at ``through``), so the weeks a covariate reaches back are dropped at the
    join instead of being grouped. ``staged_units`` names a table holding
    :func:`units_sql`'s rows for this refresh.
    """
    through = previous.through_us
    kept = previous.table
    columns = "ve_name, ve_ts, ve_value" + "".join(
        f", ve_p{i}" for i in range(len(plan.value_paths))
    )
    if staged_units is None:
        units = "vx_units"
        marked = "vm_units"
        new_units = "vn_units"
        unit_ctes = f"""{_exposure_ctes(plan, since_us=through)},
    vm_units AS (
      SELECT x.*, o.unit_id AS vm_kept
      FROM vx_units AS x LEFT JOIN {kept} AS o ON o.unit_id = x.vx_unit
    ),
    vn_units AS (
      SELECT vx_unit, vx_ts FROM vm_units WHERE vm_kept IS NULL AND vx_variant IS NOT NULL
    ),"""
    else:
        # Read as tables, never as a CTE (which PostgreSQL materialises and estimates
        # poorly): the new units are a filter of the staged table, written out twice.
        units = marked = staged_units
        new_units = (
            f"(SELECT vx_unit, vx_ts FROM {staged_units} "
            "WHERE vm_kept IS NULL AND vx_variant IS NOT NULL)"
        )
        unit_ctes = ""
    after = _events_cte(
        plan,
        "ve_after",
        through,
        plan.end_us,
        after=True,
        exact="low high" if bounded else "low",
    )
    if _open_ended(plan):
        # Kept units: their events after ``through``, grouped by unit alone (one join
        # fewer, with a table of every unit). New units: every event of their windows,
        # read in one scan from ``cuped_days`` before ``through`` and joined with them.
        window = _events_cte(
            plan,
            "ve_window",
            scan_start_us(plan, previous),
            plan.end_us,
            after=False,
            exact="high" if bounded else "",
        )
        sources = f"{window},{_kept_delta(plan, bounded=bounded)},"
        joined = f"""
        SELECT {columns}, vx_unit, vx_ts
        FROM ve_window AS w JOIN {new_units} AS n ON w.ve_unit = n.vx_unit"""
        kept_delta = "vd_kept"
    else:
        # Exact where a refresh needs it: kept units' events up to ``through`` are in
        # the kept table, and new units' events after it come from ``ve_after``.
        before = _events_cte(
            plan, "ve_before", scan_start_us(plan, previous), through, after=False, exact="high"
        )
        sources = f"""{before},
    vu_units AS (
      SELECT unit_id AS vx_unit, exposed_us AS vx_ts FROM {kept} WHERE variant_index IS NOT NULL
      UNION ALL
      SELECT vx_unit, vx_ts FROM {new_units} AS vn
    ),"""
        joined = f"""
        SELECT {columns}, vx_unit, vx_ts
        FROM ve_after AS a JOIN vu_units AS u ON a.ve_unit = u.vx_unit
        UNION ALL
        SELECT {columns}, vx_unit, vx_ts
        FROM ve_before AS b JOIN {new_units} AS n ON b.ve_unit = n.vx_unit"""
        kept_delta = "vd_delta"
    ctes = f"{unit_ctes}{after},{sources}" + _delta(
        plan, previous, f"({joined}\n      ) AS e", "e.vx_unit", bounded=bounded
    )
    count = len(plan.spec.breakdowns)
    kept_breakdowns = "".join(f", o.breakdown_{i}" for i in range(count))
    new_breakdowns = "".join(f", m.vb_{i} AS breakdown_{i}" for i in range(count))
    old_columns = _merged_columns(plan, old=True, covariates=kept_delta == "vd_delta")
    new_columns = _merged_columns(plan, old=False)
    # A kept unit stays in its variant unless a new row names another one (or it was
    # already excluded): the comparison is NULL then, and so is the variant.
    return f"""WITH {ctes}
    SELECT o.unit_id AS unit_id,
      CASE WHEN m.vx_unit IS NULL OR o.variant_index = m.vx_variant THEN o.variant_index END
        AS variant_index,
      o.exposed_us AS exposed_us, o.exposure_day AS exposure_day{kept_breakdowns}{old_columns}
    FROM {kept} AS o LEFT JOIN {units} AS m ON m.vx_unit = o.unit_id
      LEFT JOIN {kept_delta} AS d ON d.vd_unit = o.unit_id
    UNION ALL
    SELECT m.vx_unit AS unit_id, m.vx_variant AS variant_index, m.vx_ts AS exposed_us,
      m.vx_day AS exposure_day{new_breakdowns}{new_columns}
    FROM {marked} AS m LEFT JOIN vd_delta AS d ON d.vd_unit = m.vx_unit
    WHERE m.vm_kept IS NULL"""


def exposure_check_sql(plan: Plan, through_us: int | None) -> str:
    """One row: exposure rows of the window, those before ``through_us``, and the units
    with a row naming a variant the spec does not have.

    A build records the row count of its window; a refresh compares the rows before its
    ``through`` with it: a row that arrived late (exposed before ``through``, written
    since) changes the count, and the refresh rebuilds instead of merging. Counting is
    one filtered scan of the exposures, where comparing with the kept units would group
    them all.
    """
    before = "COUNT(*)"
    if through_us is not None:
        before = f"COUNT(CASE WHEN vx_ts < {through_us} THEN 1 END)"
    return f"""WITH {_exposure_ctes(plan, rows_only=True)}
    SELECT COUNT(*) AS vk_rows, {before} AS vk_before,
      COUNT(DISTINCT CASE WHEN vx_variant IS NULL THEN vx_unit END) AS vk_unknown
    FROM vx_rows"""
