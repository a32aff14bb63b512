"""When an incremental refresh merges, when it rebuilds, and what a failed run leaves.

These rules are engine-independent (the same SQL runs everywhere, and
test_engines.py checks incremental == full on each engine); DuckDB in memory gives each
test its own mutable copy of the data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.integration.analysis_engines.conftest import require
from tests.integration.analysis_engines.dataset import (
    CONTROL,
    EXPERIMENT,
    START,
    Dataset,
    Event,
    Exposure,
    epoch,
)
from tests.integration.analysis_engines.reference import expected
from tests.integration.analysis_engines.test_engines import METRICS, assert_matches, make_spec
from verdict.analysis import (
    VERDICT_MAPPING,
    DataSourceError,
    DuckDbEngine,
    MetricKind,
    MetricSpec,
    compute,
)
from verdict.analysis.incremental import TABLE_PREFIX

MIDDLE = START + timedelta(days=3, hours=7)


@pytest.fixture
def engine(parquet_files: dict[str, Path]) -> Iterator[DuckDbEngine]:
    duckdb = require("duckdb")
    connection = duckdb.connect(":memory:")
    for name, path in (("assignments", "exposures"), ("events", "events")):
        connection.execute(
            f"CREATE TABLE {name} AS SELECT * FROM read_parquet('{parquet_files[path]}')"
        )
    yield DuckDbEngine(connection)
    connection.close()


def aggregate_tables(engine: DuckDbEngine) -> set[str]:
    rows = engine.fetch(
        f"SELECT table_name FROM information_schema.tables WHERE table_name LIKE '{TABLE_PREFIX}%'"
    )
    return {str(row[0]) for row in rows}


def test_a_changed_metric_definition_rebuilds_and_drops_the_old_table(
    engine: DuckDbEngine, dataset: Dataset
) -> None:
    first = compute(engine, VERDICT_MAPPING, make_spec(end=MIDDLE))
    changed = (
        *METRICS[:-1],
        MetricSpec("purchased_fast", MetricKind.CONVERSION, "purchase", window_hours=12),
    )
    spec = make_spec(metrics=changed)
    second = compute(engine, VERDICT_MAPPING, spec, state=first.state)
    assert second.full
    assert second.state is not None
    assert first.state is not None
    assert second.state.fingerprint != first.state.fingerprint
    assert aggregate_tables(engine) == {second.state.table}
    assert_matches(second, expected(dataset, spec))


def test_a_late_exposure_before_through_forces_a_full_rebuild(
    engine: DuckDbEngine, dataset: Dataset
) -> None:
    first = compute(engine, VERDICT_MAPPING, make_spec(end=MIDDLE))
    late = Exposure(EXPERIMENT, CONTROL, "n000", epoch(START) + 3600, {"country": "US"})
    engine.execute(
        "INSERT INTO assignments VALUES "
        f"('{EXPERIMENT}', '{CONTROL}', 'n000', TIMESTAMPTZ '{START + timedelta(hours=1)}', "
        '\'{"country": "US"}\')'
    )
    spec = make_spec()
    second = compute(engine, VERDICT_MAPPING, spec, state=first.state)
    assert second.full
    with_late = replace(dataset, exposures=(*dataset.exposures, late))
    assert_matches(second, expected(with_late, spec))


def test_a_late_event_before_through_needs_a_full_refresh(
    engine: DuckDbEngine, dataset: Dataset
) -> None:
    """The documented limit: an incremental run never reads events at or before through."""
    first = compute(engine, VERDICT_MAPPING, make_spec(end=MIDDLE))
    event = Event("u0000", "purchase", epoch(START) + 7200, 99.0, {})
    engine.execute(
        "INSERT INTO events VALUES ('u0000', 'purchase', "
        f"TIMESTAMPTZ '{START + timedelta(hours=2)}', 99.0, '{{}}')"
    )
    spec = make_spec()
    with_late = replace(dataset, events=(*dataset.events, event))
    incremental = compute(engine, VERDICT_MAPPING, spec, state=first.state)
    assert not incremental.full
    with pytest.raises(AssertionError):
        assert_matches(incremental, expected(with_late, spec))
    rebuilt = compute(engine, VERDICT_MAPPING, spec, state=incremental.state, full=True)
    assert rebuilt.full
    assert_matches(rebuilt, expected(with_late, spec))


def test_an_end_before_through_rebuilds(engine: DuckDbEngine, dataset: Dataset) -> None:
    first = compute(engine, VERDICT_MAPPING, make_spec())
    earlier = make_spec(end=MIDDLE)
    second = compute(engine, VERDICT_MAPPING, earlier, state=first.state)
    assert second.full
    assert_matches(second, expected(dataset, earlier))


class _FailingStatistics:
    """Delegates to DuckDB but fails the per-variant statistics query."""

    def __init__(self, inner: DuckDbEngine) -> None:
        self._inner = inner
        self.dialect = inner.dialect

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        if "vs_values" in sql:
            raise DataSourceError("data_source", "simulated failure")
        return self._inner.fetch(sql)

    def execute(self, sql: str) -> None:
        self._inner.execute(sql)

    def table_exists(self, name: str) -> bool:
        return self._inner.table_exists(name)

    def close(self) -> None:
        self._inner.close()


def test_a_failed_run_leaves_the_previous_state_intact(engine: DuckDbEngine) -> None:
    first = compute(engine, VERDICT_MAPPING, make_spec(end=MIDDLE))
    assert first.state is not None
    with pytest.raises(DataSourceError):
        compute(_FailingStatistics(engine), VERDICT_MAPPING, make_spec(), state=first.state)
    assert aggregate_tables(engine) == {first.state.table}
    again = compute(engine, VERDICT_MAPPING, make_spec(), state=first.state)
    assert not again.full


def test_a_one_off_analysis_leaves_no_table(engine: DuckDbEngine) -> None:
    result = compute(engine, VERDICT_MAPPING, make_spec(), keep_state=False)
    assert result.state is None
    assert aggregate_tables(engine) == set()
