"""connect(url): one adapter per scheme; a bad or unreachable source names data_source.url."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.analysis_engines.conftest import EngineCase, require
from verdict.analysis import DataSourceError, DataSourceMapping, EventSource, connect


@pytest.mark.parametrize(
    "url",
    [
        "mysql://root@localhost/db",
        "not a url",
        "postgresql://nobody@127.0.0.1:1/nothing",
        "duckdb://relative-without-slash",
        "duckdb:///no/such/directory/data.duckdb",
        "spark://",
    ],
)
def test_a_bad_or_unreachable_url_names_the_url_field(url: str) -> None:
    if url.startswith("duckdb"):
        require("duckdb")
    with pytest.raises(DataSourceError) as raised:
        connect(url)
    assert raised.value.field == "data_source.url"


def test_sqlite_and_duckdb_files_open_from_a_url(tmp_path: Path) -> None:
    require("duckdb")
    for url in (f"sqlite:///{tmp_path / 'a.db'}", f"duckdb:///{tmp_path / 'a.duckdb'}"):
        engine = connect(url)
        engine.execute("CREATE TABLE probe (x INTEGER)")
        assert engine.table_exists("probe")
        assert not engine.table_exists("absent")
        assert engine.fetch("SELECT COUNT(*) FROM probe") == [(0,)]
        engine.close()
    memory = connect("duckdb:///:memory:")
    assert memory.dialect == "duckdb"
    memory.close()


def test_postgres_scheme_is_accepted(postgresql_case: EngineCase) -> None:
    assert postgresql_case.engine.dialect == "postgres"
    assert postgresql_case.engine.table_exists("events")


def test_chdb_keeps_one_session_per_process(clickhouse_case: EngineCase, tmp_path: Path) -> None:
    assert clickhouse_case.url is not None
    again = connect(clickhouse_case.url)
    assert again.table_exists("events")
    with pytest.raises(DataSourceError) as raised:
        connect(f"chdb:///{tmp_path / 'other'}")
    assert raised.value.field == "data_source.url"


def test_spark_url_reuses_the_running_session_without_stopping_it(
    spark_case: EngineCase, spark_session: Any
) -> None:
    engine = connect("spark://local[2]")
    assert engine.dialect == "spark"
    engine.close()  # not ours: the running session must survive
    assert spark_session.sql("SELECT 1").collect()[0][0] == 1


def test_a_table_and_a_query_together_are_refused() -> None:
    with pytest.raises(DataSourceError) as raised:
        DataSourceMapping(events=EventSource(table="events", query="SELECT 1"))
    assert raised.value.field == "data_source.events.table"
