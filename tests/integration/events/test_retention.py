"""Retention deletes the assignments of experiments completed long ago, and only those;
``verdict worker`` runs it on a schedule and stops cleanly on SIGTERM."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time

from fastapi import FastAPI
from sqlalchemy import func, select
from typer.testing import CliRunner

from tests.integration.conftest import unique
from verdict.cli import app
from verdict.server.models import Assignment, Experiment, ExperimentStatus, Variant

runner = CliRunner()


def experiment_with_assignments(
    api_app: FastAPI, *, completed_days_ago: float | None, units: int = 3
) -> str:
    """An experiment (completed that many days ago, or still running) with assignments."""
    now = dt.datetime.now(dt.UTC)
    key = unique("retained")
    with api_app.state.session_factory() as session:
        experiment = Experiment(
            key=key,
            name=key,
            status=ExperimentStatus.RUNNING,
            started_at=now - dt.timedelta(days=10_000),
            variants=[Variant(key="a", is_control=True), Variant(key="b")],
        )
        if completed_days_ago is not None:
            experiment.status = ExperimentStatus.COMPLETED
            experiment.completed_at = now - dt.timedelta(days=completed_days_ago)
        session.add(experiment)
        session.flush()
        session.add_all(
            Assignment(
                experiment_id=experiment.id,
                variant_id=experiment.variants[i % 2].id,
                unit_id=f"unit-{i}",
            )
            for i in range(units)
        )
        session.commit()
    return key


def assignments_of(api_app: FastAPI, key: str) -> int:
    with api_app.state.session_factory() as session:
        count = session.scalar(
            select(func.count())
            .select_from(Assignment)
            .join(Experiment, Experiment.id == Assignment.experiment_id)
            .where(Experiment.key == key)
        )
    return int(count or 0)


def test_retention_deletes_only_assignments_of_experiments_completed_long_ago(
    api_app: FastAPI, migrated_url: str
) -> None:
    old = experiment_with_assignments(api_app, completed_days_ago=400, units=7)
    recent = experiment_with_assignments(api_app, completed_days_ago=10)
    running = experiment_with_assignments(api_app, completed_days_ago=None)
    result = runner.invoke(
        app,
        ["retention", "run", "--days", "30", "--database-url", migrated_url],
        env={"VERDICT_RETENTION_CHUNK_SIZE": "2"},  # several chunks
    )
    assert result.exit_code == 0, result.output
    assert f"experiment {old} " in result.output
    assert recent not in result.output
    assert running not in result.output
    assert "deleted" in result.output
    assert assignments_of(api_app, old) == 0
    assert assignments_of(api_app, recent) == 3
    assert assignments_of(api_app, running) == 3
    with api_app.state.session_factory() as session:  # the experiment itself is kept
        assert session.scalar(select(Experiment.id).where(Experiment.key == old)) is not None


def test_the_default_period_is_180_days(api_app: FastAPI, migrated_url: str) -> None:
    kept = experiment_with_assignments(api_app, completed_days_ago=170)
    gone = experiment_with_assignments(api_app, completed_days_ago=190)
    result = runner.invoke(app, ["retention", "run", "--database-url", migrated_url])
    assert result.exit_code == 0, result.output
    assert (assignments_of(api_app, kept), assignments_of(api_app, gone)) == (3, 0)


def test_a_dry_run_counts_and_deletes_nothing(api_app: FastAPI, migrated_url: str) -> None:
    old = experiment_with_assignments(api_app, completed_days_ago=5000, units=4)
    result = runner.invoke(
        app, ["retention", "run", "--days", "4000", "--dry-run", "--database-url", migrated_url]
    )
    assert result.exit_code == 0, result.output
    assert f"experiment {old} " in result.output
    assert "4 assignments" in result.output
    assert "would delete" in result.output
    assert assignments_of(api_app, old) == 4


def test_the_worker_runs_retention_and_stops_on_sigterm(
    api_app: FastAPI, migrated_url: str
) -> None:
    old = experiment_with_assignments(api_app, completed_days_ago=400)
    recent = experiment_with_assignments(api_app, completed_days_ago=1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERDICT_")}
    env |= {"VERDICT_DATABASE_URL": migrated_url, "VERDICT_RETENTION_DAYS": "300"}
    process = subprocess.Popen(
        [sys.executable, "-m", "verdict", "worker", "--interval", "0.05"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while assignments_of(api_app, old) and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=15)
    assert process.returncode == 0, output
    assert "retention: deleted" in output
    assert output.rstrip().endswith("worker stopped")
    assert assignments_of(api_app, old) == 0
    assert assignments_of(api_app, recent) == 3
