"""The worker's analysis pass: refresh every running experiment whose inputs changed.

For each running experiment, in turn: skip it while it backs off after a failure
(``analysis_states.next_attempt_at``), skip it when nothing it reads has changed since
its last successful run (the inputs marker, see :func:`runs.inputs_marker`), skip it
when another process is analysing it (the lock), otherwise run an incremental
analysis. A failure is recorded on its run and scheduled for retry with backoff; it
never stops the pass, so one broken experiment cannot starve the others.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine, MetaData, Table, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from verdict.analysis.incremental import TABLE_PREFIX
from verdict.server.analysis.models import AnalysisRun, AnalysisRunStatus, AnalysisState
from verdict.server.analysis.runs import (
    AnalysisBusyError,
    execute_run,
    find_experiment,
    inputs_marker,
    start_run,
)
from verdict.server.analysis.specs import analysis_inputs
from verdict.server.db.base import utcnow
from verdict.server.errors import DomainError
from verdict.server.experiments.models import Experiment, ExperimentStatus

__all__ = ["RefreshReport", "drop_orphaned_tables", "refresh_running"]


@dataclass
class RefreshReport:
    analysed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    backing_off: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"analysed {key}" for key in self.analysed]
        out += [f"failed {key}: {reason}" for key, reason in self.failed.items()]
        if self.unchanged:
            out.append(f"unchanged, skipped: {', '.join(self.unchanged)}")
        if self.backing_off:
            out.append(f"waiting to retry: {', '.join(self.backing_off)}")
        if self.busy:
            out.append(f"being analysed elsewhere: {', '.join(self.busy)}")
        return out


def _due(session: Session, experiment: Experiment, own_engine: Engine, now: dt.datetime) -> str:
    """'due', 'unchanged' or 'backing_off' for one experiment."""
    state = session.get(AnalysisState, experiment.id)
    if state is not None and state.next_attempt_at is not None and state.next_attempt_at > now:
        return "backing_off"
    if state is None or state.last_run_id is None or state.inputs_marker is None:
        return "due"
    try:
        inputs = analysis_inputs(session, experiment, own_engine=own_engine, now=now)
    except DomainError:
        return "due"  # the run will record why it cannot analyse
    marker = inputs_marker(session, experiment, inputs.spec.fingerprint())
    return "unchanged" if marker == state.inputs_marker else "due"


def refresh_running(
    session_factory: sessionmaker[Session],
    own_engine: Engine,
    *,
    stop: threading.Event | None = None,
    now: Callable[[], dt.datetime] = utcnow,
) -> RefreshReport:
    """One pass over the running experiments (see the module docstring)."""
    report = RefreshReport()
    with session_factory() as session:
        keys = session.scalars(
            select(Experiment.key)
            .where(Experiment.status == ExperimentStatus.RUNNING)
            .order_by(Experiment.key)
        ).all()
    for key in keys:
        if stop is not None and stop.is_set():
            break
        with session_factory() as session:
            try:
                experiment = find_experiment(session, key)
            except DomainError:
                continue  # deleted meanwhile
            verdict = _due(session, experiment, own_engine, now())
            if verdict != "due":
                getattr(report, verdict).append(key)
                continue
            run = start_run(
                session, experiment=experiment, full=False, trigger="worker", actor=None
            )
        try:
            execute_run(session_factory, own_engine, run.id)
            report.analysed.append(key)
        except AnalysisBusyError:
            report.busy.append(key)
        except DomainError as error:
            report.failed[key] = error.detail
        except Exception as error:  # recorded on the run by execute_run; keep going
            report.failed[key] = f"{type(error).__name__}: {error}"
    return report


def drop_orphaned_tables(session_factory: sessionmaker[Session], own_engine: Engine) -> list[str]:
    """Drop the kept per-unit tables in Verdict's own database that no experiment's
    state names any more (its experiment was deleted, or a crash left one behind).

    Tables are listed first, then nothing may be running: a run that starts afterwards
    creates its tables after the listing, so a table being built is never dropped.
    """
    kept = [n for n in inspect(own_engine).get_table_names() if n.startswith(TABLE_PREFIX)]
    if not kept:
        return []
    with session_factory() as session:
        busy = session.scalar(
            select(AnalysisRun.id)
            .where(AnalysisRun.status.in_([AnalysisRunStatus.RUNNING]))
            .limit(1)
        )
        if busy is not None:
            return []
        named = {
            str(state.get("table"))
            for state in session.scalars(
                select(AnalysisState.incremental).where(AnalysisState.incremental.is_not(None))
            )
            if isinstance(state, dict)
        }
    dropped = sorted(set(kept) - named)
    for table in dropped:
        Table(table, MetaData()).drop(own_engine, checkfirst=True)
    return dropped
