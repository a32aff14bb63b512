"""How a validated batch reaches the database, in a constant number of statements.

Keys are resolved with one query per kind (experiments with their variants, flags);
the rows go in with one multi-row ``INSERT … ON CONFLICT (client_event_id) DO NOTHING
RETURNING id``, so a retried event is skipped by the database itself and the ids that
come back are exactly the events this request stored; conversions are one UPDATE
executed with a parameter set per (experiment, unit). Nothing here commits: the
service commits the whole batch at once, so a batch is stored entirely or not at all.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, or_, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from verdict.server.analysis.models import Metric, MetricType
from verdict.server.assignments.models import Assignment
from verdict.server.db.types import UTCDateTime
from verdict.server.events.models import Event
from verdict.server.experiments.models import Experiment, ExperimentMetric, Variant
from verdict.server.flags.models import FeatureFlag

__all__ = [
    "ExperimentRef",
    "KnownKeys",
    "insert_events",
    "record_conversions",
    "resolve_keys",
]

_EVENTS = cast(Table, Event.__table__)
_ASSIGNMENTS = cast(Table, Assignment.__table__)
_IN_CHUNK = 1000  # values per IN list


@dataclass(frozen=True)
class ExperimentRef:
    id: uuid.UUID
    environment_id: uuid.UUID | None  # None: the experiment runs in every environment
    variants: dict[str, uuid.UUID] = field(default_factory=dict)


@dataclass(frozen=True)
class KnownKeys:
    """The experiments and flags a batch names, by key (absent: no such key)."""

    experiments: dict[str, ExperimentRef]
    flags: dict[str, uuid.UUID]


def resolve_keys(
    session: Session, *, experiment_keys: Iterable[str], flag_keys: Iterable[str]
) -> KnownKeys:
    wanted_experiments = sorted(set(experiment_keys))
    wanted_flags = sorted(set(flag_keys))
    experiments: dict[str, ExperimentRef] = {}
    if wanted_experiments:
        columns = (Experiment.key, Experiment.id, Experiment.environment_id)
        rows = session.execute(
            select(*columns, Variant.key, Variant.id)
            .outerjoin(Variant, Variant.experiment_id == Experiment.id)
            .where(Experiment.key.in_(wanted_experiments))
        )
        for key, experiment_id, environment_id, variant_key, variant_id in rows:
            ref = experiments.setdefault(key, ExperimentRef(experiment_id, environment_id))
            if variant_key is not None:
                ref.variants[variant_key] = variant_id
    flags: dict[str, uuid.UUID] = {}
    if wanted_flags:
        flags = {
            key: flag_id
            for key, flag_id in session.execute(
                select(FeatureFlag.key, FeatureFlag.id).where(FeatureFlag.key.in_(wanted_flags))
            )
        }
    return KnownKeys(experiments=experiments, flags=flags)


def insert_events(session: Session, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
    """Insert ``rows`` (each with every column of ``events``, ``id`` included) in one
    multi-row statement; answer the ids of the rows actually stored (retries are skipped)."""
    if not rows:
        return set()
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(_EVENTS)
        .on_conflict_do_nothing(index_elements=["client_event_id"])
        .returning(_EVENTS.c.id)
    )
    # Executed with a list of rows, SQLAlchemy's "insertmanyvalues" sends them as
    # multi-row VALUES statements of up to 1,000 rows (so one for a full batch) from a
    # statement compiled once and cached, instead of compiling 1,000 rows of binds.
    return set(session.connection().execute(statement, rows).scalars())


def record_conversions(
    session: Session,
    *,
    environment_id: uuid.UUID,
    events: Iterable[tuple[str, str, dt.datetime]],
) -> None:
    """Mark assignments converted for events ``(event type, unit id, time)``.

    An event converts a unit in every experiment (of this environment, or of all
    environments) linked to a conversion metric whose event name is the event's type,
    if the unit has an assignment there. ``converted_at`` keeps the earliest time, so
    replaying events, or receiving them out of order, changes nothing twice.
    """
    by_type: dict[str, dict[str, dt.datetime]] = {}
    for event_type, unit_id, moment in events:
        first = by_type.setdefault(event_type, {})
        if unit_id not in first or moment < first[unit_id]:
            first[unit_id] = moment
    if not by_type:
        return
    links = session.execute(
        select(Metric.event_name, ExperimentMetric.experiment_id)
        .join(ExperimentMetric, ExperimentMetric.metric_id == Metric.id)
        .join(Experiment, Experiment.id == ExperimentMetric.experiment_id)
        .where(
            Metric.type == MetricType.CONVERSION,
            Metric.event_name.in_(sorted(by_type)),
            or_(Experiment.environment_id.is_(None), Experiment.environment_id == environment_id),
        )
    )
    experiments_by_event: dict[str, set[uuid.UUID]] = {}
    for event_name, experiment_id in links:
        experiments_by_event.setdefault(event_name, set()).add(experiment_id)
    if not experiments_by_event:
        return
    # Find the assignments that exist (through the unit-id index) rather than trying
    # every experiment x unit pair: a metric shared by 1,000 experiments must not turn a
    # 1,000-event batch into a million updates.
    units = sorted({unit for name in experiments_by_event for unit in by_type[name]})
    experiments = sorted({e for ids in experiments_by_event.values() for e in ids}, key=str)
    first_by_assignment: dict[uuid.UUID, dt.datetime] = {}
    for start in range(0, len(units), _IN_CHUNK):
        found = session.execute(
            select(
                _ASSIGNMENTS.c.id,
                _ASSIGNMENTS.c.experiment_id,
                _ASSIGNMENTS.c.unit_id,
                _ASSIGNMENTS.c.converted_at,
            ).where(
                _ASSIGNMENTS.c.unit_id.in_(units[start : start + _IN_CHUNK]),
                _ASSIGNMENTS.c.experiment_id.in_(experiments),
            )
        )
        for assignment_id, experiment_id, unit_id, converted_at in found:
            moments = [
                by_type[name][unit_id]
                for name, ids in experiments_by_event.items()
                if experiment_id in ids and unit_id in by_type[name]
            ]
            moment = min(moments)
            if converted_at is None or moment < converted_at:
                first_by_assignment[assignment_id] = moment
    if not first_by_assignment:
        return
    # The condition repeats the check, so a concurrent or replayed batch changes nothing
    # twice; rows are visited in id order so two batches lock shared rows in the same
    # order and cannot deadlock.
    moment_param = bindparam("b_converted_at", type_=UTCDateTime())
    statement = (
        update(_ASSIGNMENTS)
        .where(
            and_(
                _ASSIGNMENTS.c.id == bindparam("b_id"),
                or_(
                    _ASSIGNMENTS.c.converted_at.is_(None),
                    _ASSIGNMENTS.c.converted_at > moment_param,
                ),
            )
        )
        .values(has_converted=true(), converted_at=moment_param)
    )
    session.connection().execute(
        statement,
        [
            {"b_id": assignment_id, "b_converted_at": moment}
            for assignment_id, moment in sorted(
                first_by_assignment.items(), key=lambda i: str(i[0])
            )
        ],
    )
