"""Data sources: create, read, list, edit, delete, test the connection.

The mapping of each input is validated when it is saved (a table or a query, known
column roles) and the URL's scheme must name an engine Verdict can read; whether the
engine answers is checked by ``check_data_source`` (and by every analysis, which
reports an unreachable source as a 4xx naming ``data_source.url``). The stored URL
is never shown whole: its password is masked in every answer and in the audit log.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session

from verdict.analysis.errors import AnalysisError
from verdict.analysis.mapping import DataSourceMapping, EventSource, ExposureSource
from verdict.server.api.pagination import PageRequest, Sortable, paginate
from verdict.server.api.versioning import check_version, stale_edit
from verdict.server.audit.service import record
from verdict.server.datasources.models import DataSource
from verdict.server.datasources.schemas import (
    SCHEMES,
    URL_PATTERN,
    DataSourceCreate,
    DataSourceOut,
    DataSourceUpdate,
    InputMapping,
)
from verdict.server.db import utcnow
from verdict.server.db.conflicts import conflict_on_integrity_error
from verdict.server.errors import ConflictError, InvalidInputError, NotFoundError
from verdict.server.experiments.models import Experiment
from verdict.server.identity.auth import Principal

__all__ = [
    "DATA_SOURCE_SORTS",
    "EVENT_ROLES",
    "EXPOSURE_ROLES",
    "create_data_source",
    "delete_data_source",
    "find_data_source",
    "get_data_source",
    "list_data_sources",
    "masked_url",
    "source_mapping",
    "update_data_source",
]

RESOURCE_TYPE = "data_source"
_URL = re.compile(URL_PATTERN)
EXPOSURE_ROLES = ("unit", "experiment", "variant", "timestamp", "context")
EVENT_ROLES = ("unit", "name", "timestamp", "value", "properties")
# Roles a warehouse table may lack: no context (no breakdowns), no value column (values
# come from properties), no properties (no value paths).
OPTIONAL_ROLES = frozenset({"context", "value", "properties"})


def masked_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (unparseable URLs: scheme only)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return url.split(":", 1)[0] + "://…"
    if parsed.password is None:
        return url
    return parsed.render_as_string(hide_password=True)


def _check_url(url: str, field: str) -> list[tuple[str, str]]:
    if not _URL.match(url):
        schemes = ", ".join(f"{scheme}://" for scheme in SCHEMES)
        return [(field, f"the URL must start with one of {schemes} (in lower case)")]
    return []


def _source_kwargs(mapping: dict[str, Any], roles: Sequence[str], field: str) -> dict[str, Any]:
    columns: dict[str, str] = mapping.get("columns", {})
    unknown = sorted(set(columns) - set(roles))
    if unknown:
        raise InvalidInputError(
            f"unknown column role(s) {', '.join(unknown)}; known: {', '.join(roles)}",
            field=f"{field}.columns",
        )
    missing = [role for role in roles if role not in columns and role not in OPTIONAL_ROLES]
    if missing:
        raise InvalidInputError(
            f"name the column that holds each of: {', '.join(missing)}",
            field=f"{field}.columns.{missing[0]}",
        )
    kwargs: dict[str, Any] = {"table": mapping.get("table"), "query": mapping.get("query")}
    for role in roles:
        kwargs[f"{role}_column"] = columns.get(role)
    return kwargs


def _mapping(exposures: dict[str, Any], events: dict[str, Any], prefix: str) -> DataSourceMapping:
    try:
        return DataSourceMapping(
            exposures=ExposureSource(
                **_source_kwargs(exposures, EXPOSURE_ROLES, f"{prefix}.exposures")
            ),
            events=EventSource(**_source_kwargs(events, EVENT_ROLES, f"{prefix}.events")),
        )
    except AnalysisError as error:
        field = error.field.replace("data_source.", f"{prefix}.", 1)
        raise InvalidInputError(error.message, field=field) from error


def source_mapping(source: DataSource) -> DataSourceMapping:
    """The analysis mapping of a stored data source."""
    return _mapping(source.exposures, source.events, "data_source")


def _stored(mapping: InputMapping) -> dict[str, Any]:
    return mapping.model_dump(exclude_none=True)


def _out(source: DataSource) -> DataSourceOut:
    return DataSourceOut(
        id=source.id,
        key=source.key,
        name=source.name,
        description=source.description,
        url=masked_url(source.url),
        exposures=source.exposures,
        events=source.events,
        archived=source.archived,
        version=source.version,
        created_at=source.created_at,
        updated_at=source.updated_at,
    )


def _snapshot(source: DataSource) -> dict[str, Any]:
    return _out(source).model_dump(mode="json", exclude={"version", "created_at", "updated_at"})


def find_data_source(session: Session, key: str) -> DataSource:
    source = session.scalars(select(DataSource).where(DataSource.key == key)).first()
    if source is None:
        raise NotFoundError(f"no data source with key {key!r}", field="path.key")
    return source


def get_data_source(session: Session, *, key: str) -> DataSourceOut:
    return _out(find_data_source(session, key))


DATA_SOURCE_SORTS: Sortable = {"key": DataSource.key, "created_at": DataSource.created_at}


def list_data_sources(
    session: Session, *, page: PageRequest, archived: bool = False
) -> tuple[list[DataSourceOut], str | None]:
    query = select(DataSource).where(DataSource.archived == archived)
    found, cursor = paginate(
        session,
        query,
        page,
        sortable=DATA_SOURCE_SORTS,
        id_column=DataSource.id,
    )
    return [_out(s) for s in found], cursor


def _validate(url: str, exposures: dict[str, Any], events: dict[str, Any]) -> None:
    problems = _check_url(url, "body.url")
    if problems:
        raise InvalidInputError(problems[0][1], field=problems[0][0], errors=problems)
    _mapping(exposures, events, "body")


def create_data_source(
    session: Session, *, actor: Principal, data: DataSourceCreate
) -> DataSourceOut:
    if session.scalars(select(DataSource.id).where(DataSource.key == data.key)).first():
        raise ConflictError(f"a data source with key {data.key!r} exists", field="body.key")
    exposures, events = _stored(data.exposures), _stored(data.events)
    _validate(data.url, exposures, events)
    source = DataSource(
        key=data.key,
        name=data.name,
        description=data.description,
        url=data.url,
        exposures=exposures,
        events=events,
        archived=data.archived,
    )
    session.add(source)
    with conflict_on_integrity_error(
        session, f"a data source with key {data.key!r} exists", field="body.key"
    ):
        session.flush()
    record(
        session,
        actor=actor,
        action="create",
        resource_type=RESOURCE_TYPE,
        resource_id=source.id,
        before=None,
        after=_snapshot(source),
    )
    out = _out(source)
    session.commit()
    return out


def update_data_source(
    session: Session, *, actor: Principal, key: str, data: DataSourceUpdate, if_match: str | None
) -> DataSourceOut:
    source = find_data_source(session, key)
    check_version(if_match, source.version)
    sent = data.model_fields_set
    nulls = [
        (f"body.{name}", "cannot be null")
        for name in sorted(sent & {"name", "url", "exposures", "events", "archived"})
        if getattr(data, name) is None
    ]
    if nulls:
        raise InvalidInputError(nulls[0][1], field=nulls[0][0], errors=nulls)
    url = data.url if data.url is not None else source.url
    exposures = _stored(data.exposures) if data.exposures is not None else source.exposures
    events = _stored(data.events) if data.events is not None else source.events
    _validate(url, exposures, events)
    before = _snapshot(source)
    if data.name is not None:
        source.name = data.name
    if "description" in sent:
        source.description = data.description
    if data.archived is not None:
        source.archived = data.archived
    source.url, source.exposures, source.events = url, exposures, events
    source.updated_at = utcnow()
    with stale_edit(
        session, f"data source {key!r} was changed by someone else meanwhile; read it again"
    ):
        session.flush()
    record(
        session,
        actor=actor,
        action="update",
        resource_type=RESOURCE_TYPE,
        resource_id=source.id,
        before=before,
        after=_snapshot(source),
    )
    out = _out(source)
    session.commit()
    return out


def delete_data_source(
    session: Session, *, actor: Principal, key: str, if_match: str | None
) -> None:
    source = find_data_source(session, key)
    check_version(if_match, source.version)
    users = session.scalars(
        select(Experiment.key)
        .where(Experiment.data_source_id == source.id)
        .order_by(Experiment.key)
    ).all()
    if users:
        raise ConflictError(
            f"data source {key!r} is used by experiment(s) {', '.join(users)}; "
            "point them elsewhere or archive it instead",
            field="path.key",
        )
    record(
        session,
        actor=actor,
        action="delete",
        resource_type=RESOURCE_TYPE,
        resource_id=source.id,
        before=_snapshot(source),
        after=None,
    )
    session.delete(source)
    with conflict_on_integrity_error(session, f"data source {key!r} is in use", field="path.key"):
        session.flush()
    session.commit()
