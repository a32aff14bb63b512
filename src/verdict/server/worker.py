"""The background worker: maintenance and analysis that must not run inside a request.

Three tasks, each on its own cadence, until told to stop (SIGTERM or SIGINT set the stop
event): retention every ``worker_interval`` seconds (a stop during a run ends it
between two delete chunks, so every chunk is either committed or not started), and an
analysis pass every ``analysis_interval`` seconds that refreshes the running
experiments whose inputs changed (:mod:`verdict.server.analysis.refresh`), and a
bandit check every ``bandit_interval`` seconds that updates the weights of each running
bandit due an update (:mod:`verdict.server.bandits.service`). Weight changes are
committed through a session factory with the configuration-change hooks installed, so
on PostgreSQL every server process hears of them at once. A failed run
(the database briefly unreachable) is reported and retried at the next interval
instead of ending the worker.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from verdict.server.analysis.refresh import drop_orphaned_tables, refresh_running
from verdict.server.bandits.service import due_bandits, run_update
from verdict.server.config import Settings
from verdict.server.db.base import utcnow
from verdict.server.delivery.changes import ChangeTracker
from verdict.server.delivery.snapshots import SnapshotCache
from verdict.server.errors import DomainError
from verdict.server.retention.service import RetentionReport, run_retention

__all__ = ["describe_retention", "run_worker", "stop_on_signals"]


def describe_retention(report: RetentionReport) -> list[str]:
    """Lines a person reads: what expired, and what was (or would be) deleted."""
    lines = [
        f"experiment {e.key} (completed {e.completed_at:%Y-%m-%d}): {e.assignments} assignments"
        for e in report.experiments
    ]
    cutoff = f"completed before {report.cutoff:%Y-%m-%d %H:%M} UTC"
    if report.dry_run:
        lines.append(f"dry run: would delete {report.expired} assignments of experiments {cutoff}")
    else:
        lines.append(f"deleted {report.deleted} assignments of experiments {cutoff}")
        if not report.finished:
            lines.append("stopped before the end; the next run deletes the rest")
    return lines


def stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT ask the worker to stop after the current chunk."""

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)


def _reason(exc: SQLAlchemyError) -> str:
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]


def _retention(
    settings: Settings,
    session_factory: sessionmaker[Session],
    stop: threading.Event,
    say: Callable[[str], None],
) -> None:
    try:
        with session_factory() as session:
            report = run_retention(
                session,
                days=settings.retention_days,
                chunk_size=settings.retention_chunk_size,
                stop=stop,
            )
        for line in describe_retention(report):
            say(f"retention: {line}")
    except SQLAlchemyError as exc:
        say(f"retention failed, retrying in {settings.worker_interval:g} s: {_reason(exc)}")


def _analysis(
    settings: Settings,
    session_factory: sessionmaker[Session],
    engine: Engine,
    stop: threading.Event,
    say: Callable[[str], None],
) -> None:
    try:
        report = refresh_running(session_factory, engine, stop=stop)
        for line in report.lines():
            say(f"analysis: {line}")
        for table in drop_orphaned_tables(session_factory, engine):
            say(f"analysis: dropped {table}, which no experiment uses any more")
    except SQLAlchemyError as exc:
        say(f"analysis pass failed, retrying in {settings.analysis_interval:g} s: {_reason(exc)}")


def _bandits(
    settings: Settings,
    session_factory: sessionmaker[Session],
    engine: Engine,
    stop: threading.Event,
    say: Callable[[str], None],
) -> None:
    try:
        with session_factory() as session:
            keys = due_bandits(session, now=utcnow())
        for key in keys:
            if stop.is_set():
                break
            try:
                update = run_update(session_factory, engine, key=key, trigger="worker")
            except DomainError as error:  # stopped or changed type meanwhile
                say(f"bandit {key}: not updated: {error.detail}")
                continue
            if update.phase is not None:
                weights = ", ".join(f"{k} {w:.2%}" for k, w in update.weights.items())
                say(f"bandit {key}: phase {update.phase}, weights {weights}")
            else:
                say(f"bandit {key}: weights kept ({update.status.value}): {update.reason}")
    except SQLAlchemyError as exc:
        say(f"bandit check failed, retrying in {settings.bandit_interval:g} s: {_reason(exc)}")


def run_worker(
    *,
    settings: Settings,
    session_factory: sessionmaker[Session],
    stop: threading.Event,
    say: Callable[[str], None],
    engine: Engine | None = None,
) -> int:
    """Run retention, the analysis pass and the bandit check on their intervals until
    ``stop`` is set; answer how many retention runs were made. Without an ``engine``
    (the database the session factory is bound to) only retention runs."""
    runs = 0
    say(
        f"worker started: retention every {settings.worker_interval:g} s"
        + (
            f", analysis every {settings.analysis_interval:g} s, bandits checked every "
            f"{settings.bandit_interval:g} s"
            if engine is not None
            else ""
        )
    )
    # Weight changes must reach the servers: the hooks publish each commit's changes.
    tracker = ChangeTracker(session_factory, SnapshotCache(session_factory))
    tracker.install()
    clock = time.monotonic
    next_retention = next_analysis = next_bandits = clock()
    try:
        while not stop.is_set():
            if clock() >= next_retention:
                _retention(settings, session_factory, stop, say)
                runs += 1
                next_retention = clock() + settings.worker_interval
            if engine is not None and not stop.is_set() and clock() >= next_bandits:
                _bandits(settings, session_factory, engine, stop, say)
                next_bandits = clock() + settings.bandit_interval
            if engine is not None and not stop.is_set() and clock() >= next_analysis:
                _analysis(settings, session_factory, engine, stop, say)
                next_analysis = clock() + settings.analysis_interval
            due = next_retention
            if engine is not None:
                due = min(due, next_analysis, next_bandits)
            stop.wait(max(0.0, due - clock()))
    finally:
        tracker.remove()
    say("worker stopped")
    return runs
