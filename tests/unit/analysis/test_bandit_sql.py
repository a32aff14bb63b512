"""A bandit's statistics SQL: every grouping also by the unit's allocation period."""

from __future__ import annotations

import bisect
import re
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import sqlglot

from verdict.analysis import (
    Aggregation,
    AnalysisSpec,
    MetricKind,
    MetricSpec,
    Period,
    VariantSpec,
)
from verdict.analysis.dialects import FLAVOURS, period_case, render
from verdict.analysis.mapping import VERDICT_MAPPING
from verdict.analysis.plan import build_plan
from verdict.analysis.sql_variants import quantiles_sql, statistics_sql

START = datetime(2026, 1, 1, tzinfo=UTC)
PERIODS = (
    Period(START - timedelta(hours=6), (0.5, 0.5)),
    Period(START + timedelta(days=1), (0.3, 0.7)),
    Period(START + timedelta(days=2, hours=12), (0.2, 0.8)),
)
SPEC = AnalysisSpec(
    experiment_id="exp",
    variants=(VariantSpec("a", "control", 0.5, True), VariantSpec("b", "t", 0.5, False)),
    metrics=(
        MetricSpec("rev", MetricKind.REVENUE, "buy"),
        MetricSpec(
            "p90", MetricKind.DURATION, "load", aggregation=Aggregation.PERCENTILE, percentile=0.9
        ),
    ),
    start=START,
    end=START + timedelta(days=7),
    breakdowns=("country",),
    periods=PERIODS,
)
STARTS_US = [round(p.start.timestamp() * 1_000_000) for p in PERIODS]


def _group_bys(sql: str) -> list[str]:
    return re.findall(r"GROUP BY (.*)", sql)


@pytest.mark.parametrize("daily", [True, False])
def test_every_grouping_of_the_union_form_is_also_by_period(daily: bool) -> None:
    plan = build_plan(replace(SPEC, daily=daily), VERDICT_MAPPING)
    sql = statistics_sql(plan, "t", {}, grouping_sets=False)
    expected = ["variant_index, breakdown_0, vs_period"]
    expected += (
        ["variant_index, exposure_day, vs_period"] if daily else ["variant_index, vs_period"]
    )
    assert sorted(_group_bys(sql)) == sorted(expected)
    assert sql.count(", vs_period FROM vs_values") == len(expected)  # the last column
    assert f"VERDICT_PERIOD(exposed_us, '{' '.join(map(str, STARTS_US))}') AS vs_period" in sql


@pytest.mark.parametrize("daily", [True, False])
def test_every_grouping_set_is_also_by_period(daily: bool) -> None:
    plan = build_plan(replace(SPEC, daily=daily), VERDICT_MAPPING)
    sql = statistics_sql(plan, "t", {}, grouping_sets=True)
    sets = "(variant_index, breakdown_0, vs_period)"
    sets += ", (variant_index, exposure_day, vs_period)" if daily else ""
    if not daily:
        sets = "(variant_index, vs_period), " + sets
    assert _group_bys(sql) == [f"GROUPING SETS ({sets})"]
    # The period is never a grouping of its own: the labels test only the other columns.
    assert "GROUPING(vs_period)" not in sql


def test_without_periods_the_sql_has_no_period() -> None:
    plan = build_plan(replace(SPEC, periods=()), VERDICT_MAPPING)
    for grouping_sets in (True, False):
        sql = statistics_sql(plan, "t", {}, grouping_sets=grouping_sets)
        assert "vs_period" not in sql
        assert "VERDICT_PERIOD" not in sql


def test_quantiles_are_pooled_over_the_periods() -> None:
    plan = build_plan(SPEC, VERDICT_MAPPING)
    sql = quantiles_sql(plan, plan.metrics[1], "t", {})
    assert "vs_period" not in sql
    assert "VERDICT_PERIOD" not in sql


@pytest.mark.parametrize("dialect", sorted(FLAVOURS))
def test_the_period_statement_renders_and_parses_in_every_dialect(dialect: str) -> None:
    plan = build_plan(SPEC, VERDICT_MAPPING)
    for grouping_sets in (True, False):
        text = render(
            statistics_sql(plan, "t", {}, grouping_sets=grouping_sets), FLAVOURS[dialect], {}
        )
        assert "VERDICT_" not in text
        assert f"CASE WHEN exposed_us < {STARTS_US[1]} THEN 0 ELSE" in text
        assert sqlglot.parse_one(text, read=dialect)


def _periods_in_sqlite(starts: list[int], times: list[int]) -> list[int]:
    with sqlite3.connect(":memory:") as connection:
        connection.execute("CREATE TABLE t (exposed_us INTEGER)")
        connection.executemany("INSERT INTO t VALUES (?)", [(t,) for t in times])
        query = f"SELECT {period_case('exposed_us', starts)} FROM t ORDER BY rowid"
        return [row[0] for row in connection.execute(query)]


@pytest.mark.parametrize("count", [1, 2, 3, 7, 64, 1000])
def test_a_unit_belongs_to_the_last_period_started_at_or_before_its_exposure(count: int) -> None:
    rng = np.random.default_rng(count)
    starts = sorted({int(v) for v in rng.integers(0, 10**12, size=count)})
    first = starts[0]
    times = [first - 1, *starts, *(s - 1 for s in starts), *(s + 1 for s in starts)]
    times += [int(v) for v in rng.integers(first - 10**6, starts[-1] + 10**6, size=200)]
    expected = [max(0, bisect.bisect_right(starts, t) - 1) for t in times]
    assert _periods_in_sqlite(starts, times) == expected


def test_the_period_lookup_is_a_balanced_tree() -> None:
    """10,000 periods: 14 levels of CASE, not a list of 10,000 branches to walk."""
    text = period_case("x", list(range(10_000)))
    depth = deepest = 0
    for token in re.findall(r"CASE|END", text):
        depth += 1 if token == "CASE" else -1
        deepest = max(deepest, depth)
    assert deepest == 14
    assert text.count("CASE") == 9_999
