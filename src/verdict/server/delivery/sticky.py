"""Sticky assignments over the assignments table, read and written for many requests at once.

The assignment writer (:mod:`verdict.server.delivery.assignment_writer`) hands this
module the first decisions of every request that arrived while its previous batch was
being written, and one batch is, whatever its size:

- on PostgreSQL, **one statement** in its own transaction: a ``WITH`` that reads the
  stored assignments of every (experiment, unit) pair the batch asked about and, in
  the same statement, ``INSERT … ON CONFLICT (experiment_id, unit_id) DO NOTHING
  RETURNING`` the decisions. Values travel as arrays (``unnest``), so the statement's
  text never changes with the batch size and is parsed and planned once per
  connection. Rows go in (experiment, unit) order, so two processes writing
  overlapping batches lock rows in the same order and never deadlock.
- on SQLite (one process, modest traffic): a ``SELECT``, a multi-row ``INSERT … ON
  CONFLICT DO NOTHING`` and a commit.

A pair that is neither stored before the statement nor inserted by it was stored by
another process in between (the conflict); it is read again. Each request then learns,
per experiment, the row stored before it (which wins over its own decision, so a unit
keeps its variant after the weights change) or that its decision is now the stored
one. Concurrent first calls for one unit thus agree: within a process the first
request of the batch wins, across processes the database's unique key decides and the
losers read the winner.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import psycopg
from sqlalchemy import Connection, Table, select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from verdict.server.assignments.models import Assignment, AssignmentReason
from verdict.server.db import new_id
from verdict.server.experiments.models import Variant

__all__ = [
    "BatchOutcome",
    "NewAssignment",
    "PendingAssignments",
    "StoredAssignment",
    "StoredAssignments",
    "store_batch",
    "store_batch_postgresql",
]

_ASSIGNMENTS = cast(Table, Assignment.__table__)
_VARIANTS = cast(Table, Variant.__table__)
_IN_CHUNK = 1000  # values per IN list

Pair = tuple[uuid.UUID, str]  # (experiment id, unit id)


@dataclass(frozen=True, slots=True)
class StoredAssignment:
    variant: str
    bucket: int | None
    reason: AssignmentReason


@dataclass(frozen=True, slots=True)
class NewAssignment:
    experiment_id: uuid.UUID
    variant_id: uuid.UUID
    variant: str
    bucket: int | None
    reason: AssignmentReason


@dataclass(frozen=True, slots=True)
class PendingAssignments:
    """One request's part of a batch: its unit, every experiment it asked about (id →
    key), and the decisions it would store where nothing is stored yet."""

    unit_id: str
    experiments: dict[uuid.UUID, str]
    proposals: Sequence[NewAssignment]
    device_id: str | None = None
    session_id: str | None = None
    context: dict[str, Any] | None = None


@dataclass(slots=True)
class BatchOutcome:
    """What one request learns: rows stored before its decision (by experiment key),
    which it must report instead, and how many of its decisions it stored."""

    stored: dict[str, StoredAssignment] = field(default_factory=dict)
    inserted: int = 0


class StoredAssignments:
    """One unit's stored variants by experiment key (the engine's ``StickyAssignments``)."""

    def __init__(self, unit_id: str, stored: dict[str, StoredAssignment]) -> None:
        self.unit_id = unit_id
        self.stored = stored

    def get_variant(self, experiment_key: str, unit_id: str) -> str | None:
        if unit_id != self.unit_id:
            return None
        stored = self.stored.get(experiment_key)
        return None if stored is None else stored.variant


_PG_READ_AND_INSERT = """
WITH asked AS (
    SELECT a.experiment_id, a.unit_id, v.key AS variant, a.bucket, a.reason::text AS reason
    FROM unnest(%(asked_experiments)s::uuid[], %(asked_units)s::varchar[])
        AS p(experiment_id, unit_id)
    JOIN assignments a ON a.experiment_id = p.experiment_id AND a.unit_id = p.unit_id
    JOIN variants v ON v.id = a.variant_id
), inserted AS (
    INSERT INTO assignments (id, experiment_id, variant_id, unit_id, device_id, session_id,
                             context, bucket, reason, sticky, assigned_at, has_converted)
    SELECT r.id, r.experiment_id, r.variant_id, r.unit_id, r.device_id, r.session_id,
           r.context::jsonb, r.bucket, r.reason::assignment_reason, true, %(now)s, false
    FROM unnest(%(ids)s::uuid[], %(experiments)s::uuid[], %(variants)s::uuid[],
                %(units)s::varchar[], %(devices)s::varchar[], %(sessions)s::varchar[],
                %(contexts)s::text[], %(buckets)s::smallint[], %(reasons)s::text[])
        AS r(id, experiment_id, variant_id, unit_id, device_id, session_id, context,
             bucket, reason)
    ON CONFLICT (experiment_id, unit_id) DO NOTHING
    RETURNING experiment_id, unit_id
)
SELECT true, experiment_id, unit_id, variant, bucket, reason FROM asked
UNION ALL
SELECT false, experiment_id, unit_id, NULL, NULL, NULL FROM inserted
"""
_PG_READ = """
SELECT true, a.experiment_id, a.unit_id, v.key, a.bucket, a.reason::text
FROM unnest(%(asked_experiments)s::uuid[], %(asked_units)s::varchar[])
    AS p(experiment_id, unit_id)
JOIN assignments a ON a.experiment_id = p.experiment_id AND a.unit_id = p.unit_id
JOIN variants v ON v.id = a.variant_id
"""


@dataclass
class _Plan:
    """A batch reduced to what the database must do: the pairs to read, and one row per
    pair to insert (the first request of the batch that proposed it owns it)."""

    asked: list[Pair]
    rows: list[dict[str, Any]]  # in (experiment, unit) order
    owners: dict[Pair, int]
    proposed: dict[Pair, NewAssignment]


def _plan(batch: Sequence[PendingAssignments]) -> _Plan:
    asked = {
        (experiment, pending.unit_id) for pending in batch for experiment in pending.experiments
    }
    values: dict[Pair, dict[str, Any]] = {}
    owners: dict[Pair, int] = {}
    proposed: dict[Pair, NewAssignment] = {}
    for index, pending in enumerate(batch):
        for row in pending.proposals:
            pair = (row.experiment_id, pending.unit_id)
            if pair in values:
                continue  # an earlier request of this batch wins
            owners[pair] = index
            proposed[pair] = row
            values[pair] = {
                "id": new_id(),
                "experiment_id": row.experiment_id,
                "variant_id": row.variant_id,
                "unit_id": pending.unit_id,
                "device_id": pending.device_id,
                "session_id": pending.session_id,
                "context": pending.context,
                "bucket": row.bucket,
                "reason": row.reason,
            }
    order = sorted(values, key=lambda pair: (str(pair[0]), pair[1]))
    return _Plan(
        sorted(asked, key=lambda pair: (str(pair[0]), pair[1])),
        [values[pair] for pair in order],
        owners,
        proposed,
    )


def _outcomes(
    batch: Sequence[PendingAssignments],
    plan: _Plan,
    existing: dict[Pair, StoredAssignment],
    inserted: set[Pair],
) -> list[BatchOutcome]:
    outcomes: list[BatchOutcome] = []
    for index, pending in enumerate(batch):
        outcome = BatchOutcome()
        for experiment_id, key in pending.experiments.items():
            pair = (experiment_id, pending.unit_id)
            stored = existing.get(pair)
            if stored is not None:
                outcome.stored[key] = stored
            elif pair in inserted:
                if plan.owners[pair] == index:
                    outcome.inserted += 1
                else:  # an earlier request of the batch stored its decision first
                    row = plan.proposed[pair]
                    outcome.stored[key] = StoredAssignment(row.variant, row.bucket, row.reason)
        outcomes.append(outcome)
    return outcomes


def _pg_parameters(plan: _Plan, now: dt.datetime) -> dict[str, Any]:
    rows = plan.rows
    return {
        "asked_experiments": [e for e, _ in plan.asked],
        "asked_units": [u for _, u in plan.asked],
        "ids": [row["id"] for row in rows],
        "experiments": [row["experiment_id"] for row in rows],
        "variants": [row["variant_id"] for row in rows],
        "units": [row["unit_id"] for row in rows],
        "devices": [row["device_id"] for row in rows],
        "sessions": [row["session_id"] for row in rows],
        "contexts": [
            None if row["context"] is None else json.dumps(row["context"]) for row in rows
        ],
        "buckets": [row["bucket"] for row in rows],
        "reasons": [row["reason"].value for row in rows],
        "now": now,
    }


def _pg_collect(
    rows: Iterable[tuple[Any, ...]],
    existing: dict[Pair, StoredAssignment],
    inserted: set[Pair],
) -> None:
    for was_stored, experiment_id, unit_id, variant, bucket, reason in rows:
        if was_stored:
            existing[(experiment_id, unit_id)] = StoredAssignment(
                variant, bucket, AssignmentReason(reason)
            )
        else:
            inserted.add((experiment_id, unit_id))


async def store_batch_postgresql(
    connection: psycopg.AsyncConnection[Any],
    batch: Sequence[PendingAssignments],
    now: dt.datetime,
) -> list[BatchOutcome]:
    """One batch on an autocommit psycopg connection: one statement, and a second only
    when another process stored some of the same pairs at the same moment."""
    plan = _plan(batch)
    existing: dict[Pair, StoredAssignment] = {}
    inserted: set[Pair] = set()
    cursor = await connection.execute(_PG_READ_AND_INSERT, _pg_parameters(plan, now))
    _pg_collect(await cursor.fetchall(), existing, inserted)
    lost = [
        pair
        for pair in (_pair(row) for row in plan.rows)
        if pair not in inserted and pair not in existing
    ]
    if lost:
        cursor = await connection.execute(
            _PG_READ,
            {"asked_experiments": [e for e, _ in lost], "asked_units": [u for _, u in lost]},
        )
        _pg_collect(await cursor.fetchall(), existing, inserted)
    return _outcomes(batch, plan, existing, inserted)


def _pair(row: dict[str, Any]) -> Pair:
    return (row["experiment_id"], row["unit_id"])


def _read(
    connection: Connection, units: Iterable[str], experiments: Iterable[uuid.UUID]
) -> dict[Pair, StoredAssignment]:
    unit_list = sorted(set(units))
    experiment_list = sorted(set(experiments), key=str)
    found: dict[Pair, StoredAssignment] = {}
    a, v = _ASSIGNMENTS.c, _VARIANTS.c
    for start in range(0, len(unit_list), _IN_CHUNK):
        rows = connection.execute(
            select(a.experiment_id, a.unit_id, v.key, a.bucket, a.reason)
            .join(_VARIANTS, v.id == a.variant_id)
            .where(
                a.unit_id.in_(unit_list[start : start + _IN_CHUNK]),
                a.experiment_id.in_(experiment_list),
            )
        )
        for experiment_id, unit_id, variant, bucket, reason in rows:
            found[(experiment_id, unit_id)] = StoredAssignment(variant, bucket, reason)
    return found


def store_batch(
    connection: Connection, batch: Sequence[PendingAssignments], now: dt.datetime
) -> list[BatchOutcome]:
    """One batch through SQLAlchemy (SQLite): read, insert, re-read; the caller commits."""
    plan = _plan(batch)
    asked = set(plan.asked)
    found = _read(connection, (u for _, u in asked), (e for e, _ in asked))
    existing = {pair: stored for pair, stored in found.items() if pair in asked}
    rows = [row for row in plan.rows if _pair(row) not in existing]
    inserted: set[Pair] = set()
    if rows:
        statement = (
            sqlite_insert(_ASSIGNMENTS)
            .on_conflict_do_nothing(index_elements=["experiment_id", "unit_id"])
            .returning(_ASSIGNMENTS.c.experiment_id, _ASSIGNMENTS.c.unit_id)
        )
        values = [
            {**row, "sticky": True, "assigned_at": now, "has_converted": False} for row in rows
        ]
        inserted = {(e, u) for e, u in connection.execute(statement, values)}
        lost = [_pair(row) for row in rows if _pair(row) not in inserted]
        if lost:
            reread = _read(connection, (u for _, u in lost), (e for e, _ in lost))
            existing.update({pair: reread[pair] for pair in lost if pair in reread})
    return _outcomes(batch, plan, existing, inserted)
