"""Exposures reported by SDKs become the units' sticky assignments.

An SDK that decides experiments in-process reports what each unit saw; the analysis
reads a unit's exposure from the ``assignments`` table (see docs/analysis.md), so an
exposure is stored exactly as ``POST /api/v1/assign`` stores a first decision:

- The first exposure of a unit to an experiment wins, like a sticky assignment: it is
  inserted with ``ON CONFLICT (experiment_id, unit_id) DO NOTHING``, so two processes
  (or a resent batch) never store a second row, and a resent exposure is a duplicate.
  Within one batch the earliest exposure of a pair wins.
- An exposure naming another variant than the stored one is a conflict: the stored
  assignment stays (the analysis keeps one exposure per unit and experiment) and the
  conflict is counted in the answer, so the SDK (and its operator) can see that its
  decisions and the stored ones disagree (e.g. weights changed without a sticky store).
- The assignment time is the client's exposure time (never later than the server's
  clock), so events the unit sent right after it fall inside the analysis window
  even when the exposure reached the server late (a retry, a server restart).
- Unknown experiments (or of another environment) and variants are refused one by one
  and reported by index; the valid exposures of the batch are stored.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, select, tuple_
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from verdict.server.assignments.models import Assignment, AssignmentReason
from verdict.server.db.base import new_id, utcnow
from verdict.server.events.ingest import resolve_keys
from verdict.server.exposures.schemas import (
    ExposureBatch,
    ExposureError,
    ExposureIn,
    ExposureResult,
)

__all__ = ["MAX_CLOCK_SKEW", "record_exposures"]

MAX_CLOCK_SKEW = dt.timedelta(days=1)
_ASSIGNMENTS = cast(Table, Assignment.__table__)
_CHUNK = 500  # pairs per lookup

Pair = tuple[uuid.UUID, str]


@dataclass(frozen=True, slots=True)
class _Resolved:
    index: int
    exposure: ExposureIn
    experiment_id: uuid.UUID
    variant_id: uuid.UUID
    at: dt.datetime


def _resolve(
    session: Session, environment_id: uuid.UUID, batch: ExposureBatch, now: dt.datetime
) -> tuple[list[_Resolved], list[ExposureError]]:
    known = resolve_keys(
        session, experiment_keys=(e.experiment for e in batch.exposures), flag_keys=()
    ).experiments
    resolved: list[_Resolved] = []
    errors: list[ExposureError] = []
    for index, exposure in enumerate(batch.exposures):
        prefix = f"body.exposures.{index}"
        ref = known.get(exposure.experiment)
        if ref is None or ref.environment_id not in (None, environment_id):
            errors.append(
                ExposureError(
                    index=index,
                    field=f"{prefix}.experiment",
                    reason=f"no experiment {exposure.experiment!r} in this environment",
                )
            )
            continue
        variant_id = ref.variants.get(exposure.variant)
        if variant_id is None:
            errors.append(
                ExposureError(
                    index=index,
                    field=f"{prefix}.variant",
                    reason=f"experiment {exposure.experiment!r} has no variant "
                    f"{exposure.variant!r}",
                )
            )
            continue
        at = now if exposure.timestamp is None else exposure.timestamp.astimezone(dt.UTC)
        if at > now + MAX_CLOCK_SKEW:
            errors.append(
                ExposureError(
                    index=index,
                    field=f"{prefix}.timestamp",
                    reason="more than one day ahead of the server's clock",
                )
            )
            continue
        resolved.append(_Resolved(index, exposure, ref.id, variant_id, min(at, now)))
    return resolved, errors


def _stored_variants(session: Session, pairs: list[Pair]) -> dict[Pair, uuid.UUID]:
    a = _ASSIGNMENTS.c
    found: dict[Pair, uuid.UUID] = {}
    for start in range(0, len(pairs), _CHUNK):
        chunk = pairs[start : start + _CHUNK]
        rows = session.execute(
            select(a.experiment_id, a.unit_id, a.variant_id).where(
                tuple_(a.experiment_id, a.unit_id).in_(chunk)
            )
        )
        for experiment_id, unit_id, variant_id in rows:
            found[(experiment_id, unit_id)] = variant_id
    return found


def _insert(session: Session, rows: list[dict[str, Any]]) -> set[Pair]:
    """Insert where no row is stored; answer the pairs this statement stored."""
    if not rows:
        return set()
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(_ASSIGNMENTS)
        .on_conflict_do_nothing(index_elements=["experiment_id", "unit_id"])
        .returning(_ASSIGNMENTS.c.experiment_id, _ASSIGNMENTS.c.unit_id)
    )
    return {(e, u) for e, u in session.execute(statement, rows)}


def record_exposures(
    session: Session, *, environment_id: uuid.UUID, batch: ExposureBatch
) -> ExposureResult:
    """Store each unit's first exposure per experiment as its assignment; commit; count."""
    now = utcnow()
    resolved, errors = _resolve(session, environment_id, batch, now)
    # The earliest exposure of each pair is the one to store (rows sorted so that two
    # writers lock rows in the same order).
    first: dict[Pair, _Resolved] = {}
    for item in sorted(resolved, key=lambda r: (r.at, r.index)):
        first.setdefault((item.experiment_id, item.exposure.unit_id), item)
    pairs = sorted(first, key=lambda pair: (str(pair[0]), pair[1]))
    before = _stored_variants(session, pairs)
    rows = [
        {
            "id": new_id(),
            "experiment_id": pair[0],
            "variant_id": first[pair].variant_id,
            "unit_id": pair[1],
            "context": first[pair].exposure.attributes,
            "bucket": None,
            "reason": AssignmentReason.BUCKETED,
            "sticky": True,
            "assigned_at": first[pair].at,
            "has_converted": False,
        }
        for pair in pairs
        if pair not in before
    ]
    inserted = _insert(session, rows)
    stored = {pair: first[pair].variant_id for pair in inserted}
    stored.update(before)
    lost = [pair for pair in pairs if pair not in stored]
    if lost:  # another process stored these between our read and our insert
        stored.update(_stored_variants(session, lost))
    session.commit()
    recorded = duplicates = conflicts = 0
    for item in resolved:
        pair = (item.experiment_id, item.exposure.unit_id)
        if stored.get(pair) != item.variant_id:
            conflicts += 1
        elif pair in inserted and first[pair] is item:
            recorded += 1
        else:
            duplicates += 1
    return ExposureResult(
        recorded=recorded,
        duplicates=duplicates,
        conflicts=conflicts,
        rejected=len(errors),
        errors=errors,
    )
