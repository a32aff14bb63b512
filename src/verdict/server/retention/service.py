"""Which assignments have outlived their retention period, and deleting them.

Seed 004 keeps assignments 180 days after their experiment ended; an experiment has
ended when it has a ``completed_at``, whatever its status now (completed or archived).
Running, paused and draft experiments never lose assignments. Deletion goes in chunks
of ``chunk_size`` rows, each its own transaction, so a run over millions of rows holds
no long lock, keeps the write-ahead log small, and can stop between chunks.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from typing import cast

from sqlalchemy import CursorResult, Table, delete, func, select
from sqlalchemy.orm import Session

from verdict.server.assignments.models import Assignment
from verdict.server.db.base import utcnow
from verdict.server.experiments.models import Experiment

__all__ = ["ExpiredExperiment", "RetentionReport", "expired_experiments", "run_retention"]

_ASSIGNMENTS = cast(Table, Assignment.__table__)


@dataclass(frozen=True)
class ExpiredExperiment:
    key: str
    completed_at: dt.datetime
    assignments: int


@dataclass(frozen=True)
class RetentionReport:
    cutoff: dt.datetime
    dry_run: bool
    experiments: list[ExpiredExperiment]
    deleted: int
    finished: bool  # False: stopped between chunks before everything was deleted

    @property
    def expired(self) -> int:
        return sum(experiment.assignments for experiment in self.experiments)


def expired_experiments(session: Session, *, cutoff: dt.datetime) -> list[ExpiredExperiment]:
    """Experiments completed before ``cutoff`` that still hold assignments."""
    rows = session.execute(
        select(Experiment.key, Experiment.completed_at, func.count(Assignment.id))
        .join(Assignment, Assignment.experiment_id == Experiment.id)
        .where(Experiment.completed_at < cutoff)
        .group_by(Experiment.id, Experiment.key, Experiment.completed_at)
        .order_by(Experiment.completed_at, Experiment.key)
    )
    return [
        ExpiredExperiment(key=key, completed_at=completed_at, assignments=count)
        for key, completed_at, count in rows
        if completed_at is not None
    ]


def run_retention(
    session: Session,
    *,
    days: int,
    chunk_size: int,
    dry_run: bool = False,
    now: dt.datetime | None = None,
    stop: threading.Event | None = None,
) -> RetentionReport:
    """Delete the assignments of experiments completed more than ``days`` days ago
    (with ``dry_run``, only count them). Commits after every chunk."""
    cutoff = (now or utcnow()) - dt.timedelta(days=days)
    experiments = expired_experiments(session, cutoff=cutoff)
    session.rollback()  # end the read transaction before the long delete loop
    deleted = 0
    finished = True
    if not dry_run and experiments:
        expired_ids = select(Experiment.id).where(Experiment.completed_at < cutoff)
        while True:
            if stop is not None and stop.is_set():
                finished = False
                break
            chunk = (
                select(_ASSIGNMENTS.c.id)
                .where(_ASSIGNMENTS.c.experiment_id.in_(expired_ids.scalar_subquery()))
                .limit(chunk_size)
            )
            result = cast(
                CursorResult[tuple[()]],
                session.execute(delete(_ASSIGNMENTS).where(_ASSIGNMENTS.c.id.in_(chunk))),
            )
            session.commit()
            deleted += result.rowcount
            if result.rowcount < chunk_size:
                break
    return RetentionReport(
        cutoff=cutoff, dry_run=dry_run, experiments=experiments, deleted=deleted, finished=finished
    )
