"""Analysis speed per engine: a full computation, then an incremental refresh.

Generates (vectorised numpy, seeded) ``--units`` exposed units over 14 days and
``--events`` events (purchases with values, page views, latencies) over the 14 days
before and after, as Parquet, stored in time order as an append-only event table is
(PostgreSQL gets a BRIN index on the event time, ClickHouse orders its MergeTree by it
and types its columns as a ClickHouse user would, without Nullable but for the value,
DuckDB keeps zone maps per row group); then, per engine, loads them (not timed), runs
:func:`verdict.analysis.compute` with five metrics -- conversion, revenue with
percentile capping (P99), page-view count, revenue per page view (ratio) and P90
latency -- plus CUPED over 14 days and the daily series, and prints seconds, events per
second and the peak memory (``resource.getrusage``) of the process; ``--repeat`` (5) full
runs, each keeping its per-unit table. It then appends one more day (a tenth of the
events, and that day's new units) and times the incremental refresh from each kept
table, so every refresh starts from the same state.

Each engine runs in its own child process, so the memory figure is that engine's
(DuckDB and chdb run inside the process; PostgreSQL's memory is the server's and is not
counted). The data generator's own memory is not part of any figure.

Usage: .venv/bin/python benchmarks/analysis_bench.py [--units 1000000]
       [--events 10000000] [--engines duckdb,clickhouse,postgresql]
       [--pg-url postgresql://postgres@127.0.0.1:5432/test] [--workdir DIR] [--repeat 5]
Small run: --units 100000 --events 1000000. A ``--workdir`` that already holds data of
the same size is reused. DuckDB at 50M events: --events 50000000 --engines duckdb.
Columns: the median, slowest and first (cold: the engine's caches and compiled code are
empty) of the full runs in seconds, events per second at the median, the median and
slowest refresh, the ratio of the two medians, and the process's peak resident memory
after loading and after all computations (MB); then the floors (see ``_floors``): the
seconds of the least work any exact full analysis does on that engine (the events of
the window matched to their units and grouped by unit, nothing else), the least a
refresh does (the new day's events grouped by unit, and one read of every unit's value
for the P90), and that refresh floor as a fraction of the measured full time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

START = datetime(2026, 5, 1, tzinfo=UTC)
# (admin URL, database) of throwaway PostgreSQL databases to drop at the end.
_CLEANUP: list[tuple[str, str]] = []
DAYS = 14
SECOND = 1_000_000  # microseconds


def generate(units: int, events: int, folder: Path, seed: int = 1) -> None:
    """Parquet files: the 14 days (base) and one more day (extra) of exposures and events."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    start_us = int(START.timestamp()) * SECOND
    day_us = 86_400 * SECOND
    extra_units = units // DAYS

    def exposures(first: int, count: int, low: int, high: int) -> pa.Table:
        # Stored in time order, as an append-only exposure log is.
        ts = np.sort(rng.integers(low, high, size=count))
        variant = np.where(rng.random(count) < 0.5, "control", "treatment")
        return pa.table(
            {
                "experiment_id": pa.array(np.full(count, "bench")).dictionary_encode(),
                "variant_id": pa.array(variant).dictionary_encode(),
                "unit_id": np.arange(first, first + count, dtype=np.int64),
                "assigned_at": pa.array(ts, pa.timestamp("us", tz="UTC")),
            }
        )

    def event_rows(count: int, unit_high: int, low: int, high: int) -> pa.Table:
        kind = rng.choice(3, size=count, p=[0.15, 0.6, 0.25])
        names = np.array(["purchase", "pageview", "latency"])[kind]
        value = np.where(
            kind == 0,
            np.round(rng.lognormal(3.0, 1.0, count), 2),
            np.where(kind == 2, np.round(rng.gamma(2.0, 150.0, count), 1), np.nan),
        )
        return pa.table(
            {
                "unit_id": rng.integers(0, unit_high, size=count, dtype=np.int64),
                "event_type": pa.array(names).dictionary_encode(),
                # Time order, as real event tables are appended: an engine can skip old
                # blocks (zone maps, BRIN) when a refresh reads only new events.
                "client_timestamp": pa.array(
                    np.sort(rng.integers(low, high, size=count)), pa.timestamp("us", tz="UTC")
                ),
                "value": pa.array(value, pa.float64(), from_pandas=True),
            }
        )

    end_us = start_us + DAYS * day_us
    pq.write_table(exposures(0, units, start_us, end_us), folder / "exposures.parquet")
    pq.write_table(
        event_rows(events, units, start_us - DAYS * day_us, end_us), folder / "events.parquet"
    )
    pq.write_table(
        exposures(units, extra_units, end_us, end_us + day_us), folder / "exposures_extra.parquet"
    )
    pq.write_table(
        event_rows(events // 10, units + extra_units, end_us, end_us + day_us),
        folder / "events_extra.parquet",
    )


def spec(end: datetime) -> Any:
    from verdict.analysis import (
        Aggregation,
        AnalysisSpec,
        MetricKind,
        MetricSpec,
        VariantSpec,
    )

    revenue = MetricSpec(
        "revenue", MetricKind.REVENUE, "purchase", capping="percentile", cap_value=0.99
    )
    pageviews = MetricSpec("pageviews", MetricKind.COUNT, "pageview", aggregation=Aggregation.COUNT)
    return AnalysisSpec(
        experiment_id="bench",
        variants=(
            VariantSpec("control", "control", 0.5, True),
            VariantSpec("treatment", "treatment", 0.5, False),
        ),
        metrics=(
            MetricSpec("purchased", MetricKind.CONVERSION, "purchase"),
            revenue,
            pageviews,
            MetricSpec("revenue_per_pageview", MetricKind.RATIO, "purchase", denominator=pageviews),
            MetricSpec(
                "latency_p90",
                MetricKind.DURATION,
                "latency",
                aggregation=Aggregation.PERCENTILE,
                percentile=0.9,
            ),
        ),
        start=START,
        end=end,
        cuped_days=14.0,
    )


def _mapping() -> Any:
    from verdict.analysis import DataSourceMapping, EventSource, ExposureSource

    return DataSourceMapping(
        exposures=ExposureSource(context_column=None),
        events=EventSource(properties_column=None),
    )


def _load(engine_name: str, folder: Path, pg_url: str | None) -> Any:
    files = {name: folder / f"{name}.parquet" for name in ("exposures", "events")}
    if engine_name == "duckdb":
        from verdict.analysis import connect

        engine = connect("duckdb:///:memory:")
        engine.execute(f"CREATE TABLE assignments AS SELECT * FROM '{files['exposures']}'")
        engine.execute(f"CREATE TABLE events AS SELECT * FROM '{files['events']}'")
        return engine
    if engine_name == "clickhouse":
        from verdict.analysis import connect

        shutil.rmtree(folder / "chdb", ignore_errors=True)  # a previous run's tables
        engine = connect(f"chdb:///{folder / 'chdb'}")
        # Typed as a ClickHouse user types them (plain columns; only the value may be
        # missing) and sorted by time, as an events table of ClickHouse is: the primary
        # index lets a refresh skip the granules before its scan window.
        for table, path, columns, order in (
            (
                "assignments",
                files["exposures"],
                "experiment_id LowCardinality(String), variant_id LowCardinality(String), "
                "unit_id Int64, assigned_at DateTime64(6, 'UTC')",
                "assigned_at",
            ),
            (
                "events",
                files["events"],
                "unit_id Int64, event_type LowCardinality(String), "
                "client_timestamp DateTime64(6, 'UTC'), value Nullable(Float64)",
                "client_timestamp",
            ),
        ):
            engine.execute(
                f"CREATE TABLE {table} ({columns}) ENGINE = MergeTree ORDER BY {order} "
                f"AS SELECT * FROM file('{path}', Parquet)"
            )
            # A table in its steady state: the parts written by the load are merged now,
            # not by background merges that would compete with the timed run.
            engine.execute(f"OPTIMIZE TABLE {table} FINAL")
        return engine
    if engine_name == "postgresql":
        return _load_postgres(folder, pg_url or "postgresql://postgres@127.0.0.1:5432/test")
    raise SystemExit(f"unknown engine {engine_name!r}")


def _copy_parquet(connection: Any, table: str, path: Path, columns: list[str]) -> None:
    """CSV text through COPY, in batches: PostgreSQL's fastest bulk path without files."""
    import io

    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    for batch in pq.read_table(path).to_batches(max_chunksize=500_000):
        text = batch.cast(pa.schema([(field.name, pa.string()) for field in batch.schema]))
        buffer = io.BytesIO()
        pacsv.write_csv(text, buffer, write_options=pacsv.WriteOptions(include_header=False))
        copy_sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)"
        with connection.cursor() as cursor, cursor.copy(copy_sql) as copy:
            copy.write(buffer.getvalue())


def _load_postgres(folder: Path, admin_url: str) -> Any:
    import psycopg

    from verdict.analysis import connect

    name = f"verdict_bench_{os.getpid()}"
    admin = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')
    url = admin.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            "CREATE TABLE assignments (experiment_id text, variant_id text, unit_id bigint, "
            "assigned_at timestamptz)"
        )
        connection.execute(
            "CREATE TABLE events (unit_id bigint, event_type text, "
            "client_timestamp timestamptz, value double precision)"
        )
        connection.execute("SET TIME ZONE 'UTC'")
        _copy_parquet(
            connection,
            "assignments",
            folder / "exposures.parquet",
            ["experiment_id", "variant_id", "unit_id", "assigned_at"],
        )
        _copy_parquet(
            connection,
            "events",
            folder / "events.parquet",
            ["unit_id", "event_type", "client_timestamp", "value"],
        )
        # Events arrive in time order, so a BRIN index (a few pages) lets a refresh read
        # only the blocks of its scan window, as Verdict's own events table does with its
        # B-tree on (event_type, client_timestamp).
        connection.execute("CREATE INDEX events_time ON events USING brin (client_timestamp)")
        connection.execute("VACUUM ANALYZE")
    _CLEANUP.append((admin, name))
    return connect(url)


def _append(engine_name: str, engine: Any, folder: Path) -> None:
    extra = {name: folder / f"{name}_extra.parquet" for name in ("exposures", "events")}
    if engine_name == "duckdb":
        engine.execute(f"INSERT INTO assignments SELECT * FROM '{extra['exposures']}'")
        engine.execute(f"INSERT INTO events SELECT * FROM '{extra['events']}'")
    elif engine_name == "clickhouse":
        engine.execute(
            f"INSERT INTO assignments SELECT * FROM file('{extra['exposures']}', Parquet)"
        )
        engine.execute(f"INSERT INTO events SELECT * FROM file('{extra['events']}', Parquet)")
    else:
        raw = engine._engine.raw_connection()  # the benchmark's own loader, not the API
        try:
            _copy_parquet(
                raw.driver_connection,
                "assignments",
                extra["exposures"],
                ["experiment_id", "variant_id", "unit_id", "assigned_at"],
            )
            _copy_parquet(
                raw.driver_connection,
                "events",
                extra["events"],
                ["unit_id", "event_type", "client_timestamp", "value"],
            )
            raw.commit()
        finally:
            raw.close()


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _moment_sql(engine_name: str, moment: datetime) -> str:
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    if engine_name == "clickhouse":
        return f"toDateTime64('{text}', 6, 'UTC')"
    return f"TIMESTAMPTZ '{text}+00'"


def _timed_fetch(engine: Any, sql: str) -> float:
    started = time.perf_counter()
    engine.fetch(sql)
    return time.perf_counter() - started


def _floors(engine_name: str, engine: Any, end: datetime, kept: str | None) -> dict[str, float]:
    """The least work an exact analysis does, timed on the same engine and data.

    ``floor_full``: every event of the scan window (CUPED included) matched to its
    unit's exposure and grouped by unit, with no window test and no aggregate at all.
    ``floor_refresh``: what no exact refresh can skip -- the new day's events grouped by
    unit into the per-unit sums the metrics need (without even a join to the exposures;
    variances need per-unit totals), written to a table, plus one read of every unit's
    value for the P90 per variant (the quantile and the P99 cap depend on every unit's
    current value).
    """
    from verdict.analysis.dialects import FLAVOURS

    low = _moment_sql(engine_name, START - timedelta(days=DAYS))
    high = _moment_sql(engine_name, end)
    joined = (
        "SELECT COUNT(*) FROM (SELECT a.unit_id FROM events AS e JOIN assignments AS a "
        f"ON e.unit_id = a.unit_id WHERE e.client_timestamp >= {low} "
        f"AND e.client_timestamp <= {high} GROUP BY a.unit_id) AS g"
    )
    floors = {"floor_full": min(_timed_fetch(engine, joined) for _ in range(2))}
    if kept is None:
        return floors
    new_day = (
        "SELECT unit_id, COUNT(*) FILTER (WHERE event_type = 'purchase') AS purchases, "
        "SUM(value) FILTER (WHERE event_type = 'purchase') AS revenue, "
        "COUNT(*) FILTER (WHERE event_type = 'pageview') AS pageviews, "
        "SUM(value) FILTER (WHERE event_type = 'latency') AS latency, "
        "COUNT(value) FILTER (WHERE event_type = 'latency') AS latencies "
        f"FROM events WHERE client_timestamp > {high} GROUP BY unit_id"
    )
    quantile = {
        "duckdb": "quantile_disc(m4_sum / m4_vcnt, 0.9)",
        "clickhouse": "quantileExact(0.9)(m4_sum / m4_vcnt)",
        "postgresql": "percentile_disc(0.9) WITHIN GROUP (ORDER BY m4_sum / m4_vcnt)",
    }[engine_name]
    per_unit = (
        f"SELECT variant_index, {quantile} FROM {kept} WHERE m4_vcnt > 0 GROUP BY variant_index"
    )
    create = FLAVOURS[engine.dialect].create_table_as
    timings = []
    for _ in range(2):
        started = time.perf_counter()
        engine.execute(create("verdict_bench_floor", new_day))
        engine.fetch(per_unit)
        timings.append(time.perf_counter() - started)
        engine.execute("DROP TABLE verdict_bench_floor")
    floors["floor_refresh"] = min(timings)
    return floors


def child(
    engine_name: str, folder: Path, events: int, pg_url: str | None, repeat: int
) -> dict[str, Any]:
    """``repeat`` full computations (each keeping its per-unit table), one more day of
    data, then a refresh from each kept table: every refresh starts from the same state."""
    import statistics

    from verdict.analysis import compute, discard

    engine = _load(engine_name, folder, pg_url)
    loaded_mb = _peak_mb()
    end = START + timedelta(days=DAYS)
    full_times, states = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        full = compute(engine, _mapping(), spec(end))
        full_times.append(time.perf_counter() - started)
        states.append(full.state)
    full_mb = _peak_mb()
    _append(engine_name, engine, folder)
    refresh_times, refreshed_states, incremental = [], [], True
    for state in states:
        started = time.perf_counter()
        refreshed = compute(engine, _mapping(), spec(end + timedelta(days=1)), state=state)
        refresh_times.append(time.perf_counter() - started)
        incremental = incremental and not refreshed.full
        refreshed_states.append(refreshed.state)
    kept = refreshed_states[-1]
    floors = _floors(engine_name, engine, end, kept.table if kept else None)
    for refreshed_state in refreshed_states:
        if refreshed_state is not None:
            discard(engine, refreshed_state)
    engine.close()
    for admin, name in _CLEANUP:
        import psycopg

        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    full_seconds = statistics.median(full_times)
    return {
        "engine": engine_name,
        "full_seconds": full_seconds,
        "full_max": max(full_times),
        "full_first": full_times[0],
        "events_per_second": events / full_seconds,
        "incremental_seconds": statistics.median(refresh_times),
        "incremental_max": max(refresh_times),
        "incremental_was_incremental": incremental,
        "peak_mb_after_load": loaded_mb,
        "peak_mb_after_compute": max(full_mb, _peak_mb()),
        "exposed": sum(full.exposures.values()),
        **floors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--engines", default="duckdb,clickhouse,postgresql")
    parser.add_argument("--pg-url", default=None)
    parser.add_argument("--workdir", default=None)
    parser.add_argument(
        "--repeat", type=int, default=5, help="full runs (and refreshes) per engine"
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        result = child(args.child, Path(args.workdir), args.events, args.pg_url, args.repeat)
        print(json.dumps(result))
        return

    folder = Path(args.workdir or tempfile.mkdtemp(prefix="verdict-analysis-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    # A --workdir that already holds data of the same size is reused (not timed anyway).
    stamp = folder / "generated.json"
    wanted = json.dumps({"units": args.units, "events": args.events, "layout": 2})
    if not stamp.exists() or stamp.read_text() != wanted:
        generate(args.units, args.events, folder)
        stamp.write_text(wanted)
    print(
        f"generated {args.units:,} units, {args.events:,} events "
        f"(+{args.events // 10:,} next day) in {time.perf_counter() - started:.1f} s: {folder}"
    )
    print(
        f"{'engine':<12}{'full s':>9}{'max':>7}{'first':>7}{'events/s':>13}{'incr. s':>9}"
        f"{'max':>7}{'incr./full':>11}{'peak MB load':>14}{'peak MB run':>13}"
        f"{'floor full s':>14}{'floor incr. s':>15}{'floor ratio':>13}"
    )
    for name in args.engines.split(","):
        command = [sys.executable, __file__, "--child", name, "--workdir", str(folder)]
        command += ["--events", str(args.events), "--repeat", str(args.repeat)]
        if args.pg_url:
            command += ["--pg-url", args.pg_url]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(f"{name:<12} failed: {done.stderr.strip().splitlines()[-1:]}")
            continue
        row = json.loads(done.stdout.strip().splitlines()[-1])
        flag = "" if row["incremental_was_incremental"] else " (rebuilt)"
        print(
            f"{name:<12}{row['full_seconds']:>9.2f}{row['full_max']:>7.2f}"
            f"{row['full_first']:>7.2f}{row['events_per_second']:>13,.0f}"
            f"{row['incremental_seconds']:>9.2f}{row['incremental_max']:>7.2f}"
            f"{row['incremental_seconds'] / row['full_seconds']:>11.2f}"
            f"{row['peak_mb_after_load']:>14.0f}"
            f"{row['peak_mb_after_compute']:>13.0f}{row['floor_full']:>14.2f}"
            f"{row.get('floor_refresh', float('nan')):>15.3f}"
            f"{row.get('floor_refresh', float('nan')) / row['full_seconds']:>13.2f}{flag}"
        )


if __name__ == "__main__":
    main()
