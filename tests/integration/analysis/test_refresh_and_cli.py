"""The worker's analysis pass, the experiment lock, and ``verdict analyze``."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select, update
from typer.testing import CliRunner

from tests.integration.analysis.test_analysis_api import (
    EVENT_COLUMNS,
    EXPOSURE_COLUMNS,
    analyse,
    make_metric,
    start,
)
from tests.integration.conftest import unique
from tests.integration.delivery.test_evaluate_api import sdk_key
from verdict.cli import app as cli
from verdict.server.analysis.refresh import drop_orphaned_tables, refresh_running
from verdict.server.analysis.runs import _experiment_lock
from verdict.server.config import get_settings
from verdict.server.db import migrate
from verdict.server.models import AnalysisRun, AnalysisState, DataSource, Experiment
from verdict.server.worker import run_worker

Headers = dict[str, str]
runner = CliRunner()


def running_experiment(client: TestClient, admin: Headers, units: int = 40) -> str:
    metric = make_metric(client, admin, event_name=unique("buy"), type="conversion")
    key = unique("refresh")
    start(
        client,
        admin,
        {
            "key": key,
            "name": key,
            "environment": "production",
            "variants": [
                {"key": "control", "is_control": True, "weight": 0.5},
                {"key": "treatment", "weight": 0.5},
            ],
            "metrics": [{"metric": metric, "role": "primary"}],
        },
    )
    client.app.state.snapshots.invalidate(None)  # type: ignore[attr-defined]
    headers = sdk_key(client, admin, "server")
    for i in range(units):
        response = client.post(
            "/api/v1/assign", json={"unit_id": f"{key}-{i}", "experiments": [key]}, headers=headers
        )
        assert response.status_code == 200, response.text
    return key


def runs_of(api_app: FastAPI, key: str) -> list[AnalysisRun]:
    with api_app.state.session_factory() as session:
        return list(
            session.scalars(
                select(AnalysisRun)
                .join(Experiment, Experiment.id == AnalysisRun.experiment_id)
                .where(Experiment.key == key)
                .order_by(AnalysisRun.created_at)
            )
        )


def test_the_worker_pass_skips_unchanged_inputs_and_refreshes_changed_ones(
    client: TestClient, admin: Headers, api_app: FastAPI
) -> None:
    key = running_experiment(client, admin)
    factory, engine = api_app.state.session_factory, api_app.state.engine
    first = refresh_running(factory, engine)
    assert key in first.analysed
    second = refresh_running(factory, engine)
    assert key in second.unchanged
    headers = sdk_key(client, admin, "server")
    client.post(
        "/api/v1/assign", json={"unit_id": f"{key}-new", "experiments": [key]}, headers=headers
    )
    third = refresh_running(factory, engine)
    assert key in third.analysed
    assert [r.trigger for r in runs_of(api_app, key)] == ["worker", "worker"]


def test_a_failing_experiment_backs_off_without_stopping_the_others(
    client: TestClient, admin: Headers, api_app: FastAPI
) -> None:
    healthy = running_experiment(client, admin, units=10)
    broken = running_experiment(client, admin, units=10)
    with api_app.state.session_factory() as session:
        source = DataSource(
            key=unique("down"),
            name="down",
            url="postgresql://nobody@127.0.0.1:1/none",
            exposures={"table": "x", "columns": EXPOSURE_COLUMNS},
            events={"table": "y", "columns": EVENT_COLUMNS},
        )
        session.add(source)
        session.flush()
        session.execute(
            update(Experiment).where(Experiment.key == broken).values(data_source_id=source.id)
        )
        session.commit()
    factory, engine = api_app.state.session_factory, api_app.state.engine
    report = refresh_running(factory, engine)
    assert healthy in report.analysed
    assert broken in report.failed
    assert "data_source" in (runs_of(api_app, broken)[-1].error_field or "")
    with factory() as session:
        experiment_id = session.scalar(select(Experiment.id).where(Experiment.key == broken))
        state = session.get(AnalysisState, experiment_id)
        assert state is not None
        assert state.failures == 1
        assert state.next_attempt_at is not None
    again = refresh_running(factory, engine)
    assert broken in again.backing_off
    with factory() as session:
        session.execute(update(Experiment).where(Experiment.key == broken).values(status="paused"))
        session.commit()


def test_two_analyses_of_one_experiment_never_run_at_once(
    client: TestClient, admin: Headers, api_app: FastAPI
) -> None:
    key = running_experiment(client, admin, units=10)
    with api_app.state.session_factory() as session:
        experiment_id = session.scalar(select(Experiment.id).where(Experiment.key == key))
        session.add(AnalysisState(experiment_id=experiment_id, failures=0))
        session.commit()
    assert experiment_id is not None
    with _experiment_lock(api_app.state.engine, experiment_id):
        busy = analyse(client, admin, key)
        assert busy.status_code == 409, busy.text
        assert "already running" in busy.json()["detail"]
        report = refresh_running(api_app.state.session_factory, api_app.state.engine)
        assert key in report.busy
    assert analyse(client, admin, key).status_code == 200


def test_the_worker_runs_the_analysis_pass_on_its_interval(
    client: TestClient, admin: Headers, api_app: FastAPI, migrated_url: str
) -> None:
    key = running_experiment(client, admin, units=10)
    stop = threading.Event()
    said: list[str] = []

    def say(line: str) -> None:
        said.append(line)
        if any(key in entry for entry in said if entry.startswith("analysis:")):
            stop.set()

    settings = get_settings(database_url=migrated_url, analysis_interval=0.05)
    timer = threading.Timer(60, stop.set)  # never hang the suite
    timer.start()
    try:
        run_worker(
            settings=settings,
            session_factory=api_app.state.session_factory,
            stop=stop,
            say=say,
            engine=api_app.state.engine,
        )
    finally:
        timer.cancel()
    assert any(line == f"analysis: analysed {key}" for line in said), said


def test_verdict_analyze_prints_the_results_table(
    client: TestClient, admin: Headers, migrated_url: str
) -> None:
    key = running_experiment(client, admin, units=20)
    result = runner.invoke(cli, ["analyze", key, "--database-url", migrated_url])
    assert result.exit_code == 0, result.output
    assert "results at" in result.output
    assert "control" in result.output
    assert "sample ratio check" in result.output
    assert "decision:" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["analyze", "no-such-experiment"], "no experiment with key 'no-such-experiment'"),
        (["analyze", "x", "--phase", "0"], "--phase"),
    ],
)
def test_verdict_analyze_explains_bad_input_and_exits_non_zero(
    migrated_url: str, args: list[str], message: str
) -> None:
    result = runner.invoke(cli, [*args, "--database-url", migrated_url])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_a_full_rebuild_is_recorded_as_such(
    client: TestClient, admin: Headers, api_app: FastAPI
) -> None:
    key = running_experiment(client, admin, units=10)
    first: Any = analyse(client, admin, key).json()
    assert first["full"] is True  # nothing to refresh from yet
    second = analyse(client, admin, key).json()
    assert second["full"] is False
    kept = aggregate_tables(api_app)
    third = analyse(client, admin, key, full="true").json()
    assert third["full"] is True
    assert uuid.UUID(third["id"]) == runs_of(api_app, key)[-1].id
    # The rebuild replaced the kept per-unit table instead of leaving the old one behind.
    assert len(aggregate_tables(api_app)) == len(kept)
    with api_app.state.session_factory() as session:
        experiment_id = session.scalar(select(Experiment.id).where(Experiment.key == key))
        state = session.get(AnalysisState, experiment_id)
        assert state is not None
        assert state.incremental is not None
    assert state.incremental["table"] in aggregate_tables(api_app)


def aggregate_tables(api_app: FastAPI) -> set[str]:
    names = inspect(api_app.state.engine).get_table_names()
    return {name for name in names if name.startswith("verdict_unit_aggregates_")}


def test_a_kept_table_no_experiment_names_is_dropped_by_the_worker(
    client: TestClient, admin: Headers, api_app: FastAPI
) -> None:
    key = running_experiment(client, admin, units=5)
    assert analyse(client, admin, key).status_code == 200
    with api_app.state.session_factory() as session:
        experiment = session.scalars(select(Experiment).where(Experiment.key == key)).one()
        state = session.get(AnalysisState, experiment.id)
        assert state is not None
        assert state.incremental is not None
        table = state.incremental["table"]
        session.execute(
            update(Experiment).where(Experiment.id == experiment.id).values(status="archived")
        )
        session.delete(state)  # as when the experiment is deleted
        session.commit()
    assert table in aggregate_tables(api_app)
    dropped = drop_orphaned_tables(api_app.state.session_factory, api_app.state.engine)
    assert table in dropped
    assert table not in aggregate_tables(api_app)
    named = drop_orphaned_tables(api_app.state.session_factory, api_app.state.engine)
    assert named == []


def test_kept_tables_do_not_count_as_schema_drift(
    client: TestClient, admin: Headers, api_app: FastAPI
) -> None:
    key = running_experiment(client, admin, units=5)
    assert analyse(client, admin, key).status_code == 200
    assert aggregate_tables(api_app)
    migrate.check(api_app.state.engine)  # raises SchemaDriftError on any difference
