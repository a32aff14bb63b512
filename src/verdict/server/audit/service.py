"""Recording and reading the audit log.

``record`` adds the entry to the caller's session, so it commits or rolls back with the
change it describes: there is never a change without its entry, nor an entry without
its change.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from verdict.server.api.pagination import PageRequest, Sortable, paginate
from verdict.server.audit.models import AuditLogEntry
from verdict.server.errors import NotFoundError
from verdict.server.identity.auth import Principal

__all__ = ["AUDIT_SORTS", "filter_choices", "get_entry", "list_entries", "record"]


def record(
    session: Session,
    *,
    actor: Principal,
    action: str,
    resource_type: str,
    resource_id: uuid.UUID | str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    environment_id: uuid.UUID | None = None,
) -> AuditLogEntry:
    entry = AuditLogEntry(
        actor=actor.name,
        actor_user_id=actor.user_id,
        actor_api_key_id=actor.api_key_id,
        action=action,
        resource_type=resource_type,
        resource_id=str(resource_id),
        environment_id=environment_id,
        before=before,
        after=after,
    )
    session.add(entry)
    return entry


# Also the sorts of a flag's and an experiment's history, which are audit entries too.
AUDIT_SORTS: Sortable = {"at": AuditLogEntry.at}


def list_entries(
    session: Session,
    *,
    page: PageRequest,
    resource_type: str | None = None,
    resource_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> tuple[Sequence[AuditLogEntry], str | None]:
    query = select(AuditLogEntry)
    if resource_type is not None:
        query = query.where(AuditLogEntry.resource_type == resource_type)
    if resource_id is not None:
        query = query.where(AuditLogEntry.resource_id == resource_id)
    if actor is not None:
        query = query.where(AuditLogEntry.actor == actor)
    if action is not None:
        query = query.where(AuditLogEntry.action == action)
    if since is not None:
        query = query.where(AuditLogEntry.at >= since)
    if until is not None:
        query = query.where(AuditLogEntry.at < until)
    return paginate(
        session,
        query,
        page,
        sortable=AUDIT_SORTS,
        id_column=AuditLogEntry.id,
    )


def get_entry(session: Session, *, entry_id: uuid.UUID) -> AuditLogEntry:
    entry = session.get(AuditLogEntry, entry_id)
    if entry is None:
        raise NotFoundError(f"no audit log entry with id {entry_id}")
    return entry


def filter_choices(session: Session) -> tuple[list[str], list[str]]:
    """The resource types and the actions the log holds (for filters), each sorted."""
    types = session.scalars(select(AuditLogEntry.resource_type).distinct()).all()
    actions = session.scalars(select(AuditLogEntry.action).distinct()).all()
    return sorted(types), sorted(actions)
