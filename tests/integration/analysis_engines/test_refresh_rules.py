"""When an incremental refresh merges, when it rebuilds, and what a failed run leaves.

These rules are engine-independent (the same SQL runs everywhere, and
test_engines.py checks incremental == full on each engine); DuckDB in memory gives each
test its own mutable copy of the data.
"""

from __future__ import annotations

import json
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
    GHOST,
    START,
    TREATMENT,
    Dataset,
    Event,
    Exposure,
    epoch,
)
from tests.integration.analysis_engines.reference import expected, exposed_units
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


def test_exposures_after_through_merge_by_the_exposure_rules(
    engine: DuckDbEngine, dataset: Dataset
) -> None:
    """A refresh reads only exposure rows from ``through`` on; they still follow rules 1-3."""
    first = compute(engine, VERDICT_MAPPING, make_spec(end=MIDDLE))
    kept, _, _ = exposed_units(dataset, make_spec(end=MIDDLE))
    switching, staying = kept[0], kept[1]
    other = TREATMENT if switching.variant == CONTROL else CONTROL
    later = epoch(MIDDLE) + 3600
    rows = (
        # A kept unit now also sees the other variant: excluded from then on.
        Exposure(EXPERIMENT, other, switching.unit_id, later, {"country": "FR"}),
        # A kept unit seen again in its own variant: unchanged (its first exposure counts).
        Exposure(EXPERIMENT, staying.variant, staying.unit_id, later, {"country": "AA"}),
        # A new unit shown both variants after ``through``: excluded.
        Exposure(EXPERIMENT, CONTROL, "n100", later, None),
        Exposure(EXPERIMENT, TREATMENT, "n100", later + 60, None),
        # A new unit with a variant the experiment does not have: counted as unknown.
        Exposure(EXPERIMENT, GHOST, "n101", later, None),
        # A new unit exposed exactly at ``through``, with events on both sides of it.
        Exposure(EXPERIMENT, CONTROL, "n102", epoch(MIDDLE), {"country": "DE"}),
    )
    events = (
        Event("n102", "purchase", epoch(MIDDLE) - 3600, 11.0, {}),
        Event("n102", "purchase", epoch(MIDDLE), 13.0, {}),
        Event("n102", "pageview", epoch(MIDDLE) + 7200, None, {}),
        Event(switching.unit_id, "purchase", later + 60, 17.0, {}),
    )
    for row in rows:
        context = "NULL" if row.context is None else f"'{json.dumps(row.context)}'"
        engine.execute(
            f"INSERT INTO assignments VALUES ('{row.experiment_id}', '{row.variant_id}', "
            f"'{row.unit_id}', TIMESTAMPTZ '{dataset.moment(row.ts)}', {context})"
        )
    for event in events:
        value = "NULL" if event.value is None else repr(event.value)
        engine.execute(
            f"INSERT INTO events VALUES ('{event.unit_id}', '{event.name}', "
            f"TIMESTAMPTZ '{dataset.moment(event.ts)}', {value}, '{{}}')"
        )
    spec = make_spec()
    refreshed = compute(engine, VERDICT_MAPPING, spec, state=first.state)
    assert not refreshed.full
    changed = replace(
        dataset, exposures=(*dataset.exposures, *rows), events=(*dataset.events, *events)
    )
    reference = expected(changed, spec)
    assert_matches(refreshed, reference)
    assert reference.multiple == expected(dataset, spec).multiple + 2
    assert reference.unknown == expected(dataset, spec).unknown + 1
    # A second refresh from the merged table still agrees with a full rebuild.
    again = compute(engine, VERDICT_MAPPING, spec, state=refreshed.state)
    assert not again.full
    assert_matches(again, reference)


def test_a_state_without_an_exposure_row_count_rebuilds(
    engine: DuckDbEngine, dataset: Dataset
) -> None:
    first = compute(engine, VERDICT_MAPPING, make_spec(end=MIDDLE))
    assert first.state is not None
    assert first.state.exposure_rows == sum(
        1
        for e in dataset.exposures
        if e.experiment_id == EXPERIMENT and START <= dataset.moment(e.ts) < MIDDLE
    )
    spec = make_spec()
    second = compute(engine, VERDICT_MAPPING, spec, state=replace(first.state, exposure_rows=None))
    assert second.full
    assert_matches(second, expected(dataset, spec))


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
