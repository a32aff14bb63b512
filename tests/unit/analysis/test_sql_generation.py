"""The canonical SQL renders into each engine's dialect with that engine's fragments."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import sqlglot

from verdict.analysis import (
    Aggregation,
    AnalysisSpec,
    MetricKind,
    MetricSpec,
    VariantSpec,
)
from verdict.analysis.dialects import FLAVOURS, render, table_name
from verdict.analysis.mapping import VERDICT_MAPPING
from verdict.analysis.plan import build_plan
from verdict.analysis.sql_units import (
    Previous,
    exposure_check_sql,
    unit_table_sql,
    units_sql,
)
from verdict.analysis.sql_variants import (
    cap_rank,
    quantile_ranks,
    quantiles_sql,
    statistics_sql,
)

START = datetime(2026, 1, 1, tzinfo=UTC)
SPEC = AnalysisSpec(
    experiment_id="exp'1",
    variants=(VariantSpec("a", "control", 0.5, True), VariantSpec("b", "t", 0.5, False)),
    metrics=(
        MetricSpec("rev", MetricKind.REVENUE, "buy", value_path="order.total"),
        MetricSpec(
            "p90", MetricKind.DURATION, "load", aggregation=Aggregation.PERCENTILE, percentile=0.9
        ),
    ),
    start=START,
    end=START + timedelta(days=7),
    breakdowns=("country",),
)
# Epoch, JSON and (except SQLite, whose text timestamps have no safe raw comparison)
# the coarse raw-timestamp filter that lets an engine skip old events.
FRAGMENTS = {
    "sqlite": ("julianday(", "json_extract(", "AND 1 = 1"),
    "postgres": ("date_part('epoch', ", "#>>", '"client_timestamp" >= to_timestamp('),
    "duckdb": ("epoch_us(", "json_extract_string(", '"client_timestamp" >= to_timestamp('),
    "clickhouse": (
        "toUnixTimestamp64Micro(",
        "JSONExtractRaw(",
        '"client_timestamp" >= toDateTime64(',
    ),
    "spark": ("unix_micros(", "get_json_object(", "`client_timestamp` >= timestamp_micros("),
}


@pytest.mark.parametrize("dialect", sorted(FLAVOURS))
def test_each_dialect_gets_its_own_time_and_json_fragments(dialect: str) -> None:
    plan = build_plan(SPEC, VERDICT_MAPPING)
    sources = {"exposures": table_name("assignments", dialect), "events": "events"}
    text = render(unit_table_sql(plan, None), FLAVOURS[dialect], sources)
    for fragment in FRAGMENTS[dialect]:
        assert fragment in text
    for placeholder in ("VERDICT_", "__vfrag", "__vsrc_"):
        assert placeholder not in text
    # The experiment id's quote is escaped, not a way out of the literal.
    assert "exp'1" not in text.replace("exp''1", "").replace("exp\\'1", "")


@pytest.mark.parametrize("dialect", sorted(FLAVOURS))
def test_every_generated_statement_parses_in_its_dialect(dialect: str) -> None:
    plan = build_plan(SPEC, VERDICT_MAPPING)
    sources = {
        "exposures": table_name("analytics.assignments", dialect),
        "events": table_name("events", dialect),
    }
    previous = Previous("verdict_unit_aggregates_x", 1_767_225_600_000_000)
    windowed = replace(SPEC.metrics[0], delay_hours=1.0)
    delayed = build_plan(replace(SPEC, metrics=(windowed, SPEC.metrics[1])), VERDICT_MAPPING)
    for canonical in (
        unit_table_sql(plan, None),
        unit_table_sql(plan, previous),
        unit_table_sql(plan, previous, bounded=True),
        unit_table_sql(delayed, previous),
        unit_table_sql(delayed, previous, staged_units="verdict_unit_aggregates_x_units"),
        statistics_sql(plan, "t", {"m0": 12.5}),
        quantiles_sql(plan, plan.metrics[1], "t", {}),
        exposure_check_sql(plan, 1_767_225_600_000_000),
        units_sql(plan),
        units_sql(plan, previous),
        unit_table_sql(plan, None, staged_units="verdict_unit_aggregates_x_units"),
        unit_table_sql(plan, previous, staged_units="verdict_unit_aggregates_x_units"),
    ):
        assert sqlglot.parse_one(render(canonical, FLAVOURS[dialect], sources), read=dialect)


def test_an_incremental_build_reads_only_new_events_and_new_units_covariates() -> None:
    windowed = replace(SPEC.metrics[0], window_hours=48.0)
    plan = build_plan(replace(SPEC, metrics=(windowed, SPEC.metrics[1])), VERDICT_MAPPING)
    through = 1_767_484_800_000_000
    text = unit_table_sql(plan, Previous("kept", through))
    cuped = 14 * 86_400_000_000
    day = 86_400_000_000
    # Events after ``through`` for every unit, joined with its exposure (the window
    # ends relative to it) ...
    assert f"WHERE ve_ts > {through}\n" in text
    assert "FROM ve_after AS a JOIN vu_units AS u" in text
    # ... and the covariate window before it only for units exposed since (the stored
    # timestamp filtered a day wider, the epoch exactly at ``through``).
    assert f"'{through - cuped - day}', '{through + day}'" in text
    assert f"WHERE ve_ts <= {through}\n" in text
    assert "FROM ve_before AS b JOIN vn_units AS n" in text
    # Exposure rows only from ``through`` on: the kept table holds the units before it.
    assert f"WHERE vx_ts >= {through} AND vx_ts <" in text
    assert f"vx_ts >= {plan.start_us}" not in text
    assert "FROM kept AS o LEFT JOIN vx_units AS m" in text
    assert "vd_kept" not in text


def test_a_refresh_without_delays_or_windows_groups_kept_units_events_without_a_join() -> None:
    plan = build_plan(SPEC, VERDICT_MAPPING)
    through = 1_767_484_800_000_000
    text = unit_table_sql(plan, Previous("kept", through), bounded=True)
    cuped = 14 * 86_400_000_000
    day = 86_400_000_000
    # Kept units: the events after ``through``, up to ``end``, grouped by unit alone ...
    assert f"WHERE ve_ts > {through} AND ve_ts <= {plan.end_us}\n" in text
    assert "FROM ve_after AS e\n      GROUP BY e.ve_unit" in text
    assert "LEFT JOIN vd_kept AS d ON d.vd_unit = o.unit_id" in text
    assert "vu_units" not in text
    # ... with their covariates carried over as they are (none in the kept delta);
    assert "CAST(COALESCE(o.m0_pre_sum, 0) AS DOUBLE) AS m0_pre_sum" in text
    assert "_pre_" not in text.split("vd_kept AS (")[1].split("GROUP BY")[0]
    # new units get every event of their windows, covariate included, from one scan
    # (from ``cuped_days`` before ``through``) joined with them alone.
    assert "FROM ve_window AS w JOIN vn_units AS n ON w.ve_unit = n.vx_unit" in text
    assert f"'{through - cuped - day}', '{plan.end_us + day}'" in text
    without_cuped = build_plan(replace(SPEC, cuped_days=None), VERDICT_MAPPING)
    text = unit_table_sql(without_cuped, Previous("kept", through), bounded=True)
    assert "_pre_" not in text
    assert f"'{through - day}', '{plan.end_us + day}'" in text


def test_the_exposure_check_counts_rows_before_through_and_unknown_variants() -> None:
    plan = build_plan(SPEC, VERDICT_MAPPING)
    through = 1_767_484_800_000_000
    text = exposure_check_sql(plan, through)
    assert f"COUNT(CASE WHEN vx_ts < {through} THEN 1 END)" in text
    assert "COUNT(DISTINCT CASE WHEN vx_variant IS NULL THEN vx_unit END)" in text
    # One filtered scan of the rows: no grouping of the exposed units.
    assert "GROUP BY" not in text
    assert "COUNT(*) AS vk_before" in exposure_check_sql(plan, None)


def test_ranks_select_the_same_order_statistics_as_the_window_form() -> None:
    """The ranks computed in Python equal the ones the window query computes in SQL, and
    DuckDB's selection picks exactly those ranks (ClickHouse and PostgreSQL are checked
    on their engines in tests/integration/analysis_engines)."""
    duckdb = pytest.importorskip("duckdb")
    import numpy as np

    rng = np.random.default_rng(7)
    connection = duckdb.connect()
    select = FLAVOURS["duckdb"].select_ranks
    assert select is not None
    for n in (1, 2, 3, 9, 10, 11, 99, 100, 101, 1000, 4321):
        values = rng.permutation(n).astype(float) + 1.0  # ranks are the values
        connection.execute("CREATE OR REPLACE TABLE t AS SELECT unnest(?::DOUBLE[]) AS v", [values])
        for p in (0.01, 0.1, 0.5, 0.9, 0.95, 0.99):
            z = 1.959963984540054
            centre = f"{n} * CAST({p!r} AS DOUBLE)"
            spread = f"CAST({z!r} AS DOUBLE) * SQRT({centre} * CAST({1.0 - p!r} AS DOUBLE))"
            expected = connection.execute(
                f"SELECT CEIL({centre}), CEIL({centre} - {spread}), CEIL({centre} + {spread})"
            ).fetchone()
            clamp = tuple(min(max(1, int(k)), n) for k in expected)
            assert quantile_ranks(n, p, z) == clamp, (n, p)
            assert cap_rank(n, p) == clamp[0]
            (picked,) = connection.execute(
                f"SELECT {select('v', 'v > 0', n, clamp)} FROM t"
            ).fetchone()
            assert [int(x) for x in picked] == list(clamp), (n, p)


def test_table_names_are_quoted_part_by_part() -> None:
    assert table_name("analytics.events", "spark") == "`analytics`.`events`"
    assert table_name("db.schema.events", "postgres") == '"db"."schema"."events"'


def test_accumulators_repeated_by_a_ratio_are_computed_once() -> None:
    views = MetricSpec("views", MetricKind.COUNT, "view", aggregation=Aggregation.COUNT)
    spec = AnalysisSpec(
        experiment_id="e",
        variants=SPEC.variants,
        metrics=(
            MetricSpec("bought", MetricKind.CONVERSION, "buy"),
            MetricSpec("rev", MetricKind.REVENUE, "buy", capping="absolute", cap_value=100.0),
            views,
            MetricSpec("rev_per_view", MetricKind.RATIO, "buy", denominator=views),
            # A different window is a different accumulator.
            MetricSpec("rev_1h", MetricKind.REVENUE, "buy", window_hours=1.0),
        ),
        start=START,
        end=START + timedelta(days=7),
    )
    plan = build_plan(spec, VERDICT_MAPPING)
    ratio = plan.metrics[3]
    assert ratio.measure.column("_sum") == "m1_sum"
    assert ratio.measure.column("_pre_sum") == "m1_pre_sum"
    assert ratio.denominator is not None
    assert ratio.denominator.column("_cnt") == "m2_cnt"
    assert plan.metrics[4].measure.column("_sum") == "m4_sum"
    # ... but the CUPED window is the same for every metric.
    assert plan.metrics[4].measure.column("_pre_sum") == "m1_pre_sum"
    kept = [f"{measure.prefix}{suffix}" for measure, suffix in plan.columns]
    assert kept == [
        "m0_cnt", "m0_pre_cnt", "m1_sum", "m1_pre_sum", "m2_cnt", "m2_pre_cnt",
        "m4_sum",
    ]  # fmt: skip
    text = unit_table_sql(plan, None)
    assert "AS m3_sum" not in text
    assert "AS m3d_cnt" not in text
