"""Every SQL figure on every engine equals a row-by-row computation over the same rows."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest

from tests.integration.analysis_engines.conftest import EngineCase
from tests.integration.analysis_engines.dataset import (
    CONTROL,
    END,
    EXPERIMENT,
    START,
    TREATMENT,
    Dataset,
)
from tests.integration.analysis_engines.reference import Expected, expected
from verdict.analysis import (
    VERDICT_MAPPING,
    Aggregation,
    AnalysisSpec,
    Computation,
    DataSourceError,
    DataSourceMapping,
    EventSource,
    ExposureSource,
    MetricKind,
    MetricSpec,
    VariantSpec,
    compute,
    cumulative_daily,
    discard,
)
from verdict.analysis.dialects import FLAVOURS, render, table_name
from verdict.analysis.sql_variants import STAT_FIELDS

EPOCH_DAY = date(1970, 1, 1)

METRICS = (
    MetricSpec("purchased", MetricKind.CONVERSION, "purchase", window_hours=72),
    MetricSpec("revenue", MetricKind.REVENUE, "purchase", capping="percentile", cap_value=0.9),
    MetricSpec(
        "order_total",
        MetricKind.REVENUE,
        "purchase",
        value_path="order.total",
        capping="absolute",
        cap_value=150.0,
    ),
    MetricSpec(
        "pageviews",
        MetricKind.COUNT,
        "pageview",
        aggregation=Aggregation.COUNT,
        delay_hours=1,
        window_hours=24,
    ),
    MetricSpec("latency", MetricKind.DURATION, "latency", aggregation=Aggregation.MEAN),
    MetricSpec(
        "latency_p90",
        MetricKind.DURATION,
        "latency",
        aggregation=Aggregation.PERCENTILE,
        percentile=0.9,
    ),
    MetricSpec("slowest", MetricKind.CUSTOM, "latency", aggregation=Aggregation.MAX),
    MetricSpec(
        "revenue_per_pageview",
        MetricKind.RATIO,
        "purchase",
        capping="absolute",
        cap_value=200.0,
        denominator=MetricSpec(
            "pageview_count", MetricKind.COUNT, "pageview", aggregation=Aggregation.COUNT
        ),
    ),
)


def make_spec(end: datetime = END, **changes: object) -> AnalysisSpec:
    fields: dict[str, object] = {
        "experiment_id": EXPERIMENT,
        "variants": (
            VariantSpec(CONTROL, "control", 0.5, True),
            VariantSpec(TREATMENT, "treatment", 0.5, False),
        ),
        "metrics": METRICS,
        "start": START,
        "end": end,
        "cuped_days": 14.0,
        "breakdowns": ("country",),
    }
    fields.update(changes)
    return AnalysisSpec(**fields)  # type: ignore[arg-type]


def _key(row: object) -> tuple[str, str, str | None, str | None, int | None]:
    day = getattr(row, "day", None)
    return (
        row.metric,  # type: ignore[attr-defined]
        row.variant,  # type: ignore[attr-defined]
        row.dimension,  # type: ignore[attr-defined]
        row.breakdown,  # type: ignore[attr-defined]
        None if day is None else (day - EPOCH_DAY).days,
    )


def assert_matches(result: Computation, reference: Expected) -> None:
    assert result.exposures == reference.exposures
    assert result.multiple_exposures == reference.multiple
    assert result.unknown_variants == reference.unknown
    assert result.caps == pytest.approx(reference.caps, rel=1e-12)
    rows = {_key(row): row for row in result.statistics}
    assert set(rows) == set(reference.groups)
    optional = (*STAT_FIELDS[4:], "quantile", "quantile_lower", "quantile_upper")
    for key, figures in reference.groups.items():
        row = rows[key]
        for name, value in figures.items():
            assert getattr(row, name) == pytest.approx(value, rel=1e-9, abs=1e-6), (key, name)
        for name in optional:
            if name not in figures:
                assert getattr(row, name) is None, (key, name)


# Full computations of make_spec() per engine, shared by tests (Spark queries are slow).
_FULL: dict[str, Computation] = {}


def full_result(case: EngineCase) -> Computation:
    if case.name not in _FULL:
        _FULL[case.name] = compute(case.engine, case.mapping, make_spec(), keep_state=False)
    return _FULL[case.name]


def test_every_metric_matches_a_row_by_row_computation(
    engine_case: EngineCase, dataset: Dataset
) -> None:
    spec = make_spec()
    result = full_result(engine_case)
    reference = expected(dataset, spec)
    assert_matches(result, reference)
    assert result.full
    assert result.state is None
    # The data exercise every rule: exclusions happened and breakdowns/percentiles exist.
    assert reference.multiple > 0
    assert reference.unknown > 0
    assert {row.breakdown for row in result.statistics} >= {"US", "DE", "FR", "AA", "__missing__"}
    overall_p90 = [r for r in result.overall() if r.metric == "latency_p90"]
    assert all(r.quantile is not None for r in overall_p90)


def test_incremental_refresh_equals_a_full_rebuild(
    engine_case: EngineCase, dataset: Dataset
) -> None:
    engine, mapping = engine_case.engine, engine_case.mapping
    middle = START + timedelta(days=3, hours=7)
    first = compute(engine, mapping, make_spec(end=middle))
    assert first.state is not None
    assert first.full
    assert_matches(first, expected(dataset, make_spec(end=middle)))

    spec = make_spec()
    refreshed = compute(engine, mapping, spec, state=first.state)
    assert not refreshed.full
    assert refreshed.scanned_from == middle - timedelta(days=14)
    assert refreshed.state is not None
    assert not engine.table_exists(first.state.table)
    rebuilt = full_result(engine_case)
    assert rebuilt.full
    assert_matches(refreshed, expected(dataset, spec))
    assert len(refreshed.statistics) == len(rebuilt.statistics)
    for ours, theirs in zip(refreshed.statistics, rebuilt.statistics, strict=True):
        assert _key(ours) == _key(theirs)
        for name in (*STAT_FIELDS, "quantile", "quantile_lower", "quantile_upper"):
            mine, full = getattr(ours, name), getattr(theirs, name)
            assert (mine is None) == (full is None), (_key(ours), name)
            if full is not None:
                assert mine == pytest.approx(full, rel=1e-12), (_key(ours), name)
    discard(engine, refreshed.state)
    assert not engine.table_exists(refreshed.state.table)


def test_a_refresh_of_metrics_without_delay_or_window_equals_the_reference(
    engine_case: EngineCase, dataset: Dataset
) -> None:
    """Every event from the exposure on counts: a refresh groups kept units' new events
    without their exposure times (see verdict.analysis.sql_units._open_ended)."""
    open_ended = tuple(replace(m, delay_hours=0.0, window_hours=None) for m in METRICS)
    engine, mapping = engine_case.engine, engine_case.mapping
    middle = START + timedelta(days=3, hours=7)
    first = compute(engine, mapping, make_spec(end=middle, metrics=open_ended))
    assert first.state is not None
    spec = make_spec(metrics=open_ended)
    refreshed = compute(engine, mapping, spec, state=first.state)
    assert not refreshed.full
    assert_matches(refreshed, expected(dataset, spec))
    assert refreshed.state is not None
    discard(engine, refreshed.state)


def test_without_the_daily_series_every_figure_still_matches(
    engine_case: EngineCase, dataset: Dataset
) -> None:
    """Overall rows come from the day rows when the series is on, from SQL when it is off."""
    spec = make_spec(daily=False)
    result = compute(engine_case.engine, engine_case.mapping, spec, keep_state=False)
    assert all(row.day is None for row in result.statistics)
    assert result.exposures_by_day == {}
    assert_matches(result, expected(dataset, spec))


# The engines whose dialect selects order statistics by rank (SQLite and Spark use a
# window instead), read through Verdict's own column names.
RANKED_ENGINES = (pytest.param("postgresql", marks=pytest.mark.postgres), "duckdb", "clickhouse")


@pytest.mark.parametrize("engine_name", RANKED_ENGINES)
def test_order_statistics_by_rank_equal_a_sort(
    engine_name: str, request: pytest.FixtureRequest, dataset: Dataset
) -> None:
    """The rank-selecting aggregate of each engine that has one (caps and quantiles)."""
    engine_case: EngineCase = request.getfixturevalue(f"{engine_name}_case")
    flavour = FLAVOURS[engine_case.engine.dialect]
    assert flavour.select_ranks is not None
    assert engine_case.mapping == VERDICT_MAPPING
    values = sorted(e.value for e in dataset.events if e.name == "latency" and e.value is not None)
    n = len(values)
    ranks = sorted({1, 2, n // 3, n // 2, (9 * n) // 10, n - 1, n})
    texts = ", ".join(f"'{number}'" for number in (n, *ranks))
    canonical = (
        "SELECT VERDICT_RANKS(CAST(value AS DOUBLE), "
        f"event_type = 'latency' AND NOT value IS NULL, {texts}) FROM __vsrc_events__ AS s"
    )
    sources = {"events": table_name("events", flavour.dialect)}
    ((picked,),) = engine_case.engine.fetch(render(canonical, flavour, sources))
    assert [float(value) for value in picked] == [values[rank - 1] for rank in ranks]


def test_daily_rows_add_up_to_the_overall_figures(duckdb_case: EngineCase) -> None:
    """Engine-independent (each engine's daily rows are checked above); DuckDB is quick."""
    spec = make_spec(metrics=METRICS[:2], breakdowns=(), cuped_days=None)
    result = compute(duckdb_case.engine, duckdb_case.mapping, spec, keep_state=False)
    running = cumulative_daily(result.daily())
    last = {}
    for row in running:
        last[(row.metric, row.variant)] = row
    for overall in result.overall():
        final = last[(overall.metric, overall.variant)]
        assert final.units == overall.units
        assert final.sum == pytest.approx(overall.sum, rel=1e-12)
        assert final.covariate_sum is None
    per_day = {}
    for day, counts in result.exposures_by_day.items():
        per_day[day] = counts
    assert sum(c[CONTROL] for c in per_day.values()) == result.exposures[CONTROL]


def test_unreadable_tables_and_columns_are_named(engine_case: EngineCase) -> None:
    spec = make_spec(metrics=METRICS[:2], breakdowns=())
    mapping = engine_case.mapping
    missing_table = DataSourceMapping(
        exposures=mapping.exposures,
        events=EventSource(table="no_such_events_table"),
    )
    with pytest.raises(DataSourceError) as raised:
        compute(engine_case.engine, missing_table, spec)
    assert raised.value.field == "data_source.events.table"

    events = mapping.events
    bad_column = DataSourceMapping(
        exposures=mapping.exposures,
        events=EventSource(
            table=events.table,
            query=events.query,
            unit_column=events.unit_column,
            name_column=events.name_column,
            timestamp_column=events.timestamp_column,
            value_column="no_such_column",
            properties_column=events.properties_column,
        ),
    )
    with pytest.raises(DataSourceError) as raised:
        compute(engine_case.engine, bad_column, spec)
    assert raised.value.field == "data_source.events.value_column"

    exposures = mapping.exposures
    bad_exposure = DataSourceMapping(
        exposures=ExposureSource(
            table=exposures.table,
            query=exposures.query,
            unit_column=exposures.unit_column,
            experiment_column="no_such_experiment",
            variant_column=exposures.variant_column,
            timestamp_column=exposures.timestamp_column,
            context_column=exposures.context_column,
        ),
        events=events,
    )
    with pytest.raises(DataSourceError) as raised:
        compute(engine_case.engine, bad_exposure, spec)
    assert raised.value.field == "data_source.exposures.experiment_column"
