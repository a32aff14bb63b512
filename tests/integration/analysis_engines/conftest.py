"""The same generated exposures and events, loaded once into each of the five engines.

One engine per session: a SQLite file, a throwaway PostgreSQL database (the shared
``database_factory``), DuckDB in memory (tables, and Parquet read through mapping
queries), one chdb session, and ONE local SparkSession (2 shuffle partitions, no UI).
An engine whose driver is missing is skipped, except under ``CI=true``, where a
skipped engine would hide a regression, so it fails.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import DatabaseFactory
from tests.integration.analysis_engines.dataset import (
    Dataset,
    context_json,
    generate,
    properties_json,
)
from verdict.analysis import (
    VERDICT_MAPPING,
    AnalysisEngine,
    DataSourceMapping,
    DuckDbEngine,
    EventSource,
    ExposureSource,
    SparkEngine,
    SqlAlchemyEngine,
    connect,
)

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
ENGINES = (
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.postgres),
    "duckdb",
    "duckdb-parquet",
    "clickhouse",
    "spark",
)


def require(module: str) -> Any:
    """Import an engine's driver; fail under CI, skip elsewhere, when it is missing."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        if IN_CI:
            pytest.fail(f"{module} is required under CI=true: {error}")
        pytest.skip(f"{module} not installed: {error}")


@dataclass(frozen=True)
class EngineCase:
    name: str
    engine: AnalysisEngine
    mapping: DataSourceMapping
    url: str | None = None


@pytest.fixture(scope="session")
def dataset() -> Dataset:
    return generate()


@pytest.fixture(scope="session")
def parquet_files(dataset: Dataset, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("analysis_parquet")
    stamp = pa.timestamp("us", tz="UTC")
    exposures = pa.table(
        {
            "experiment_id": [e.experiment_id for e in dataset.exposures],
            "variant_id": [e.variant_id for e in dataset.exposures],
            "unit_id": [e.unit_id for e in dataset.exposures],
            "assigned_at": pa.array([dataset.moment(e.ts) for e in dataset.exposures], stamp),
            "context": pa.array([context_json(e) for e in dataset.exposures], pa.string()),
        }
    )
    events = pa.table(
        {
            "unit_id": [e.unit_id for e in dataset.events],
            "event_type": [e.name for e in dataset.events],
            "client_timestamp": pa.array([dataset.moment(e.ts) for e in dataset.events], stamp),
            "value": pa.array([e.value for e in dataset.events], pa.float64()),
            "properties": [properties_json(e) for e in dataset.events],
        }
    )
    paths = {"exposures": folder / "exposures.parquet", "events": folder / "events.parquet"}
    pq.write_table(exposures, paths["exposures"])
    pq.write_table(events, paths["events"])
    return paths


def _load_sqlalchemy(url: str, dataset: Dataset, postgres: bool) -> None:
    stamp = "TIMESTAMPTZ" if postgres else "TEXT"
    uid = "UUID" if postgres else "TEXT"
    document = "JSONB" if postgres else "TEXT"
    real = "DOUBLE PRECISION" if postgres else "REAL"
    engine = create_engine(url)
    fmt = "%Y-%m-%d %H:%M:%S.%f"

    def moment(ts: int) -> Any:
        return dataset.moment(ts) if postgres else dataset.moment(ts).strftime(fmt)

    with engine.begin() as connection:
        connection.execute(
            text(
                f"CREATE TABLE assignments (experiment_id {uid}, variant_id {uid}, "
                f"unit_id TEXT, assigned_at {stamp}, context {document})"
            )
        )
        connection.execute(
            text(
                f"CREATE TABLE events (unit_id TEXT, event_type TEXT, client_timestamp {stamp}, "
                f"value {real}, properties {document})"
            )
        )
        cast = "CAST(:context AS JSONB)" if postgres else ":context"
        connection.execute(
            text(f"INSERT INTO assignments VALUES (:e, :v, :u, :t, {cast})"),
            [
                {
                    "e": x.experiment_id,
                    "v": x.variant_id,
                    "u": x.unit_id,
                    "t": moment(x.ts),
                    "context": context_json(x),
                }
                for x in dataset.exposures
            ],
        )
        cast = "CAST(:p AS JSONB)" if postgres else ":p"
        connection.execute(
            text(f"INSERT INTO events VALUES (:u, :n, :t, :v, {cast})"),
            [
                {
                    "u": e.unit_id,
                    "n": e.name,
                    "t": moment(e.ts),
                    "v": e.value,
                    "p": properties_json(e),
                }
                for e in dataset.events
            ],
        )
    engine.dispose()


@pytest.fixture(scope="session")
def sqlite_case(database_factory: DatabaseFactory, dataset: Dataset) -> Iterator[EngineCase]:
    url = database_factory.new_url("sqlite")
    _load_sqlalchemy(url, dataset, postgres=False)
    engine = connect(url)
    yield EngineCase("sqlite", engine, VERDICT_MAPPING)
    engine.close()


@pytest.fixture(scope="session")
def postgresql_case(database_factory: DatabaseFactory, dataset: Dataset) -> Iterator[EngineCase]:
    url = database_factory.new_url("postgresql")
    _load_sqlalchemy(url, dataset, postgres=True)
    engine = connect(url)
    assert isinstance(engine, SqlAlchemyEngine)
    yield EngineCase("postgresql", engine, VERDICT_MAPPING)
    engine.close()


@pytest.fixture(scope="session")
def duckdb_connection(parquet_files: dict[str, Path]) -> Iterator[Any]:
    duckdb = require("duckdb")
    connection = duckdb.connect(":memory:")
    for name, path in (("assignments", "exposures"), ("events", "events")):
        connection.execute(
            f"CREATE TABLE {name} AS SELECT * FROM read_parquet('{parquet_files[path]}')"
        )
    yield connection
    connection.close()


@pytest.fixture(scope="session")
def duckdb_case(duckdb_connection: Any) -> EngineCase:
    return EngineCase("duckdb", DuckDbEngine(duckdb_connection), VERDICT_MAPPING)


@pytest.fixture(scope="session")
def duckdb_parquet_case(duckdb_connection: Any, parquet_files: dict[str, Path]) -> EngineCase:
    """A warehouse-style mapping: Parquet files read through queries, other column names."""
    mapping = DataSourceMapping(
        exposures=ExposureSource(
            table=None,
            query=(
                "SELECT experiment_id AS exp, variant_id AS arm, unit_id AS user_id, "
                f"assigned_at AS seen_at, context AS ctx "
                f"FROM read_parquet('{parquet_files['exposures']}')"
            ),
            unit_column="user_id",
            experiment_column="exp",
            variant_column="arm",
            timestamp_column="seen_at",
            context_column="ctx",
        ),
        events=EventSource(
            table=None,
            query=(
                "SELECT unit_id AS anonymous_id, event_type AS event, "
                "client_timestamp AS sent_at, value AS revenue, properties AS props "
                f"FROM read_parquet('{parquet_files['events']}')"
            ),
            unit_column="anonymous_id",
            name_column="event",
            timestamp_column="sent_at",
            value_column="revenue",
            properties_column="props",
        ),
    )
    return EngineCase("duckdb-parquet", DuckDbEngine(duckdb_connection), mapping)


@pytest.fixture(scope="session")
def clickhouse_case(
    parquet_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> EngineCase:
    require("chdb")
    url = f"chdb:///{tmp_path_factory.mktemp('chdb')}"
    engine = connect(url)
    for name, path in (("assignments", "exposures"), ("events", "events")):
        engine.execute(
            f"CREATE TABLE {name} ENGINE = MergeTree ORDER BY tuple() "
            f"AS SELECT * FROM file('{parquet_files[path]}', Parquet)"
        )
    return EngineCase("clickhouse", engine, VERDICT_MAPPING, url)


@pytest.fixture(scope="session")
def spark_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The one SparkSession of the test run (JVM start-up is the slow part)."""
    sql = require("pyspark.sql")
    warehouse = tmp_path_factory.mktemp("spark_warehouse")
    session = (
        sql.SparkSession.builder.master("local[2]")
        .appName("verdict-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", str(warehouse))
        .config("spark.driver.bindAddress", "127.0.0.1")
        # Tiny queries: the quick C1 JIT halves the run time (cold and warm alike).
        .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def spark_case(spark_session: Any, parquet_files: dict[str, Path]) -> EngineCase:
    spark_session.read.parquet(str(parquet_files["exposures"])).createOrReplaceTempView(
        "assignments"
    )
    spark_session.read.parquet(str(parquet_files["events"])).createOrReplaceTempView("events")
    return EngineCase("spark", SparkEngine(spark_session), VERDICT_MAPPING)


@pytest.fixture(params=ENGINES)
def engine_case(request: pytest.FixtureRequest) -> EngineCase:
    fixture = f"{str(request.param).replace('-', '_')}_case"
    case: EngineCase = request.getfixturevalue(fixture)
    return case
