"""Sticky assignments over the assignments table: read once, written once per unit.

A request reads every stored assignment of its unit for the experiments in question
with one query, and hands them to the engine as its ``StickyAssignments``. New
decisions are written with one ``INSERT … ON CONFLICT (experiment_id, unit_id) DO
NOTHING``: when concurrent first calls race, exactly one row wins, and the losers
re-read it, so every caller reports the one stored variant.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from verdict.server.assignments.models import Assignment, AssignmentReason
from verdict.server.db import new_id
from verdict.server.experiments.models import Variant

__all__ = ["NewAssignment", "StoredAssignment", "StoredAssignments", "record_assignments"]


@dataclass(frozen=True, slots=True)
class StoredAssignment:
    variant: str
    bucket: int | None
    reason: AssignmentReason


@dataclass(frozen=True, slots=True)
class NewAssignment:
    experiment_id: uuid.UUID
    variant_id: uuid.UUID
    bucket: int | None
    reason: AssignmentReason


class StoredAssignments:
    """One unit's stored variants by experiment key (the engine's ``StickyAssignments``)."""

    def __init__(self, unit_id: str, stored: dict[str, StoredAssignment]) -> None:
        self.unit_id = unit_id
        self.stored = stored

    @classmethod
    def load(
        cls, session: Session, *, unit_id: str, experiments: dict[uuid.UUID, str]
    ) -> StoredAssignments:
        """Read the unit's assignments to ``experiments`` (id → key) in one query."""
        if not experiments:
            return cls(unit_id, {})
        return cls(unit_id, _read(session, unit_id, experiments))

    def get_variant(self, experiment_key: str, unit_id: str) -> str | None:
        if unit_id != self.unit_id:
            return None
        stored = self.stored.get(experiment_key)
        return None if stored is None else stored.variant


def _read(
    session: Session, unit_id: str, experiments: dict[uuid.UUID, str]
) -> dict[str, StoredAssignment]:
    rows = session.execute(
        select(Assignment.experiment_id, Variant.key, Assignment.bucket, Assignment.reason)
        .join(Variant, Variant.id == Assignment.variant_id)
        .where(Assignment.unit_id == unit_id, Assignment.experiment_id.in_(list(experiments)))
    )
    return {
        experiments[experiment_id]: StoredAssignment(variant, bucket, reason)
        for experiment_id, variant, bucket, reason in rows
    }


def record_assignments(
    session: Session,
    *,
    unit_id: str,
    rows: Collection[NewAssignment],
    experiments: dict[uuid.UUID, str],
    device_id: str | None,
    session_id: str | None,
    context: dict[str, Any],
    now: dt.datetime,
) -> dict[str, StoredAssignment]:
    """Store first decisions and commit; return, by experiment key, the rows that were
    already there (another call stored them first), which the caller must report."""
    if not rows:
        return {}
    values = [
        {
            "id": new_id(),
            "experiment_id": row.experiment_id,
            "variant_id": row.variant_id,
            "unit_id": unit_id,
            "device_id": device_id,
            "session_id": session_id,
            "context": context,
            "bucket": row.bucket,
            "reason": row.reason,
            "sticky": True,
            "assigned_at": now,
            "has_converted": False,
        }
        # One order for every writer, so two requests never wait on each other's rows
        # in opposite orders (a deadlock on PostgreSQL).
        for row in sorted(rows, key=lambda row: row.experiment_id)
    ]
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(Assignment)
        .values(values)
        .on_conflict_do_nothing(index_elements=["experiment_id", "unit_id"])
        .returning(Assignment.experiment_id)
    )
    inserted = set(session.scalars(statement))
    lost = {row.experiment_id: experiments[row.experiment_id] for row in rows}
    for experiment_id in inserted:
        lost.pop(experiment_id, None)
    existing = _read(session, unit_id, lost) if lost else {}
    session.commit()
    return existing
