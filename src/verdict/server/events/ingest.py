"""How a validated batch reaches the database, in a constant number of statements.

Keys are resolved with one query per kind (experiments with their variants, flags);
the assignments the batch can link to or convert are found with one more (see
``look_up_assignments``). The rows go in with one ``INSERT … ON CONFLICT
(client_event_id) DO NOTHING RETURNING client_event_id``, so a retried event is skipped
by the database itself and what comes back is exactly the events this request stored;
conversions are one UPDATE (on SQLite executed with a parameter set per assignment).
Nothing here commits: the service commits the whole batch at once, so a batch is
stored entirely or not at all.

On PostgreSQL the insert sends one array per column and lets ``unnest`` turn them back
into rows: 16 parameters instead of 17,000 for a full batch. A multi-row VALUES of that
size cost more to bind on the client (psycopg rewrote and split a 17,000-placeholder
query string on every call) and to parse and plan on the server than the insert
itself. SQLite, embedded and in-process, keeps the multi-row VALUES.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import cast

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    String,
    Table,
    and_,
    bindparam,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from verdict.server.analysis.models import Metric, MetricType
from verdict.server.assignments.models import Assignment
from verdict.server.db.base import new_id
from verdict.server.db.types import UTCDateTime
from verdict.server.events.models import Event
from verdict.server.events.schemas import EventIn
from verdict.server.experiments.models import Experiment, ExperimentMetric, Variant
from verdict.server.flags.models import FeatureFlag

__all__ = [
    "AssignmentLookup",
    "EventColumns",
    "ExperimentRef",
    "KnownKeys",
    "Stored",
    "insert_events",
    "look_up_assignments",
    "record_conversions",
    "resolve_keys",
]

_EVENTS = cast(Table, Event.__table__)
_ASSIGNMENTS = cast(Table, Assignment.__table__)
_IN_CHUNK = 1000  # values per IN list (SQLite)

# The per-event columns of ``events`` with the PostgreSQL type of their array
# parameter; ``id`` comes from gen_random_uuid() (a version 4 UUID, as ``new_id``), and
# ``environment_id`` and ``received_at``, the same for a whole batch, are single values.
# JSON documents travel as text and are cast, so one encoder (json.dumps, as the ORM's
# JSON type uses) decides their form on both databases.
_PG_ARRAYS: tuple[tuple[str, str], ...] = (
    ("client_event_id", "text"),
    ("event_type", "text"),
    ("unit_id", "text"),
    ("session_id", "text"),
    ("device_id", "text"),
    ("experiment_id", "uuid"),
    ("variant_id", "uuid"),
    ("feature_flag_id", "uuid"),
    ("assignment_id", "uuid"),
    ("value", "float8"),
    ("properties", "jsonb"),
    ("source", "text"),
    ("context", "jsonb"),
    ("client_timestamp", "timestamptz"),
)
_NAMES = ", ".join(name for name, _ in _PG_ARRAYS)
# %b: psycopg sends the arrays in binary, several times cheaper to build than their
# text form (no quoting of each element).
_PG_INSERT = (
    f"INSERT INTO events (id, environment_id, received_at, {_NAMES}) "
    "SELECT gen_random_uuid(), %b::uuid, %b::timestamptz, batch.* "
    f"FROM unnest({', '.join(f'%b::{kind}[]' for _, kind in _PG_ARRAYS)}) AS batch({_NAMES}) "
    "ON CONFLICT (client_event_id) DO NOTHING RETURNING client_event_id"
)

_PG_LOCK_ASSIGNMENTS = (
    "SELECT id FROM assignments WHERE id = ANY(%b::uuid[]) ORDER BY id FOR NO KEY UPDATE"
)
_PG_CONVERT = (
    "UPDATE assignments SET has_converted = true, converted_at = batch.converted_at "
    "FROM unnest(%b::uuid[], %b::timestamptz[]) AS batch(id, converted_at) "
    "WHERE assignments.id = batch.id "
    "AND (assignments.converted_at IS NULL OR assignments.converted_at > batch.converted_at)"
)


@dataclass
class EventColumns:
    """A batch's rows, one list per column of ``events`` (``id``, ``environment_id``
    and ``received_at`` aside).

    Columns rather than one dict per row: every value kept here is a string, a number,
    a timestamp, None or an id shared with the lookups, none of them tracked by
    Python's cycle collector, whereas a thousand row dicts (and the models they came
    from) kept alive through a request set off its full collections every few batches,
    which cost more than the rest of the request. JSON documents are kept encoded.
    """

    client_event_id: list[str | None] = field(default_factory=list)
    event_type: list[str] = field(default_factory=list)
    unit_id: list[str | None] = field(default_factory=list)
    session_id: list[str | None] = field(default_factory=list)
    device_id: list[str | None] = field(default_factory=list)
    experiment_id: list[uuid.UUID | None] = field(default_factory=list)
    variant_id: list[uuid.UUID | None] = field(default_factory=list)
    feature_flag_id: list[uuid.UUID | None] = field(default_factory=list)
    assignment_id: list[uuid.UUID | None] = field(default_factory=list)
    value: list[float | None] = field(default_factory=list)
    properties: list[str] = field(default_factory=list)
    source: list[str | None] = field(default_factory=list)
    context: list[str | None] = field(default_factory=list)
    client_timestamp: list[dt.datetime] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.event_type)

    def add(self, event: EventIn, ids: dict[str, uuid.UUID | None], now: dt.datetime) -> None:
        """Append a valid event, with the ids its keys resolved to; ``assignment_id`` is
        filled for the whole batch once assignments are looked up."""
        self.client_event_id.append(event.client_event_id)
        self.event_type.append(event.type)
        self.unit_id.append(event.unit_id)
        self.session_id.append(event.session_id)
        self.device_id.append(event.device_id)
        self.experiment_id.append(ids["experiment_id"])
        self.variant_id.append(ids["variant_id"])
        self.feature_flag_id.append(ids["feature_flag_id"])
        self.value.append(event.value)
        self.properties.append(json.dumps(event.properties) if event.properties else "{}")
        self.source.append(event.source)
        self.context.append(None if event.context is None else json.dumps(event.context))
        self.client_timestamp.append(event.timestamp or now)


@dataclass(frozen=True)
class Stored:
    """What an insert stored: how many rows, and the client event ids among them (a
    row without one is always stored: nothing can conflict with it)."""

    count: int
    client_event_ids: set[str]

    def holds(self, client_event_id: str | None) -> bool:
        return client_event_id is None or client_event_id in self.client_event_ids


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


@dataclass(frozen=True)
class AssignmentLookup:
    """The assignments a batch touches, found before its events are inserted.

    ``linked`` maps ``(experiment id, unit id)`` to the assignment's id (what an event
    naming that experiment is linked to); ``converted_by`` maps ``(unit id, event
    type)`` to the assignments such an event converts, with ``converted_at`` as read.
    """

    linked: dict[tuple[uuid.UUID, str], uuid.UUID]
    converted_by: dict[tuple[str, str], list[tuple[uuid.UUID, dt.datetime | None]]]

    def assignment_id(
        self, experiment_id: uuid.UUID | None, unit_id: str | None
    ) -> uuid.UUID | None:
        if experiment_id is None or unit_id is None:
            return None
        return self.linked.get((experiment_id, unit_id))


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


def look_up_assignments(
    session: Session,
    *,
    environment_id: uuid.UUID,
    events: Iterable[tuple[str, str | None, uuid.UUID | None]],
) -> AssignmentLookup:
    """Find, with one query, the assignments that events ``(type, unit id, experiment
    id)`` link to (their own experiment) or may convert.

    An event converts its unit in every experiment (of this environment, or of all
    environments) linked to a conversion metric whose event name is the event's type.
    The query starts from the batch's unit ids (an index) and joins the conversion links
    in the database, rather than sending experiment ids back and forth or trying every
    experiment x unit pair: a metric shared by 1,000 experiments must not turn a
    1,000-event batch into a million probes. It may answer a few assignments no event
    of the batch needs (another unit's event type); the caller's lookups skip them.
    """
    units: set[str] = set()
    types: set[str] = set()
    experiments: set[uuid.UUID] = set()
    for event_type, unit_id, experiment_id in events:
        if unit_id is None:
            continue  # assignments are keyed by unit id
        units.add(unit_id)
        types.add(event_type)
        if experiment_id is not None:
            experiments.add(experiment_id)
    linked: dict[tuple[uuid.UUID, str], uuid.UUID] = {}
    converted_by: dict[tuple[str, str], list[tuple[uuid.UUID, dt.datetime | None]]] = {}
    if not units:
        return AssignmentLookup(linked=linked, converted_by=converted_by)
    postgres = session.get_bind().dialect.name == "postgresql"
    links = (
        select(ExperimentMetric.experiment_id, Metric.event_name)
        .join(Metric, Metric.id == ExperimentMetric.metric_id)
        .join(Experiment, Experiment.id == ExperimentMetric.experiment_id)
        .where(
            Metric.type == MetricType.CONVERSION,
            Metric.event_name.in_(sorted(types)),
            or_(Experiment.environment_id.is_(None), Experiment.environment_id == environment_id),
        )
        .subquery()
    )
    columns = (
        _ASSIGNMENTS.c.id,
        _ASSIGNMENTS.c.experiment_id,
        _ASSIGNMENTS.c.unit_id,
        _ASSIGNMENTS.c.converted_at,
        links.c.event_name,
    )
    wanted: ColumnElement[bool] = links.c.experiment_id.is_not(None)
    if experiments:
        wanted = or_(wanted, _ASSIGNMENTS.c.experiment_id.in_(sorted(experiments, key=str)))
    ordered = sorted(units)
    if postgres:
        # The units travel as one array joined as a table: the statement text stays the
        # same whatever the batch (compiled and prepared once), and the plan probes the
        # unit-id index once per unit even when PostgreSQL switches the prepared
        # statement to a generic plan, which knows nothing of the array's size (with
        # ``unit_id = ANY(array)`` such a plan could read the whole table).
        batch_units = (
            func.unnest(bindparam("units", ordered, type_=ARRAY(String())))
            .table_valued("unit_id")
            .render_derived(name="batch_units")
        )
        source = batch_units.join(
            _ASSIGNMENTS, _ASSIGNMENTS.c.unit_id == batch_units.c.unit_id
        ).outerjoin(links, links.c.experiment_id == _ASSIGNMENTS.c.experiment_id)
        statements = [select(*columns).select_from(source).where(wanted)]
    else:
        source = _ASSIGNMENTS.outerjoin(
            links, links.c.experiment_id == _ASSIGNMENTS.c.experiment_id
        )
        statements = [
            select(*columns)
            .select_from(source)
            .where(_ASSIGNMENTS.c.unit_id.in_(ordered[start : start + _IN_CHUNK]), wanted)
            for start in range(0, len(ordered), _IN_CHUNK)
        ]
    connection = session.connection()  # Core rows: no ORM result machinery needed
    for statement in statements:
        for assignment_id, experiment_id, unit_id, converted_at, event_name in connection.execute(
            statement
        ):
            if experiment_id in experiments:
                linked[(experiment_id, unit_id)] = assignment_id
            if event_name is not None:
                converted_by.setdefault((unit_id, event_name), []).append(
                    (assignment_id, converted_at)
                )
    return AssignmentLookup(linked=linked, converted_by=converted_by)


def insert_events(
    session: Session,
    *,
    environment_id: uuid.UUID,
    received_at: dt.datetime,
    columns: EventColumns,
) -> Stored:
    """Insert the rows of ``columns`` in one statement; say which were actually stored
    (a client event id already stored is skipped by the database)."""
    if not len(columns):
        return Stored(count=0, client_event_ids=set())
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        parameters = (
            environment_id,
            received_at,
            *(getattr(columns, name) for name, _ in _PG_ARRAYS),
        )
        result = connection.exec_driver_sql(_PG_INSERT, parameters).scalars().all()
        return Stored(
            count=len(result), client_event_ids={cid for cid in result if cid is not None}
        )
    rows = [
        {
            "id": new_id(),
            "environment_id": environment_id,
            "received_at": received_at,
            **{name: getattr(columns, name)[i] for name, _ in _PG_ARRAYS},
        }
        for i in range(len(columns))
    ]
    for row in rows:
        row["properties"] = json.loads(row["properties"])
        if row["context"] is not None:
            row["context"] = json.loads(row["context"])
    statement = (
        sqlite.insert(_EVENTS)
        .on_conflict_do_nothing(index_elements=["client_event_id"])
        .returning(_EVENTS.c.client_event_id)
    )
    # Executed with a list of rows, SQLAlchemy's "insertmanyvalues" sends them as
    # multi-row VALUES statements from a statement compiled once and cached.
    result = connection.execute(statement, rows).scalars().all()
    return Stored(count=len(result), client_event_ids={cid for cid in result if cid is not None})


def record_conversions(
    session: Session,
    *,
    lookup: AssignmentLookup,
    events: Iterable[tuple[str, str, dt.datetime]],
) -> None:
    """Mark assignments converted for stored events ``(event type, unit id, time)``.

    An event converts a unit in every experiment (of this environment, or of all
    environments) linked to a conversion metric whose event name is the event's type,
    if the unit has an assignment there. ``converted_at`` keeps the earliest time, so
    replaying events, or receiving them out of order, changes nothing twice.
    """
    if not lookup.converted_by:
        return
    first_by_assignment: dict[uuid.UUID, dt.datetime] = {}
    for event_type, unit_id, moment in events:
        for assignment_id, converted_at in lookup.converted_by.get((unit_id, event_type), ()):
            if converted_at is not None and converted_at <= moment:
                continue
            earliest = first_by_assignment.get(assignment_id)
            if earliest is None or moment < earliest:
                first_by_assignment[assignment_id] = moment
    if not first_by_assignment:
        return
    # The condition repeats the check, so a concurrent or replayed batch changes nothing
    # twice; rows are locked in id order (a UUID's text sorts as its bytes) so two
    # batches lock shared rows in the same order and cannot deadlock.
    ordered = sorted(first_by_assignment.items(), key=lambda item: str(item[0]))
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # Two statements whatever the count: lock in order, then one UPDATE joined to
        # the arrays (whose own row order PostgreSQL does not promise).
        ids = [assignment_id for assignment_id, _ in ordered]
        connection.exec_driver_sql(_PG_LOCK_ASSIGNMENTS, (ids,))
        connection.exec_driver_sql(_PG_CONVERT, (ids, [moment for _, moment in ordered]))
        return
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
    connection.execute(
        statement,
        [{"b_id": assignment_id, "b_converted_at": moment} for assignment_id, moment in ordered],
    )
