"""The audit log pages: who changed what, when (``/audit``), and one change in detail.

The list reads :func:`verdict.server.audit.service.list_entries` (newest first, paged
by cursor) with the API's filters: resource type, actor, action, and a resource id
(the link from a user's or role's page). An entry's page shows its state before and
after as a field-by-field table; the comparison is made here (:func:`compare`), never in
the template: nested objects are followed key by key (``settings.rollout``), lists and
other values are compared whole and shown as pretty-printed JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from verdict.server.api.pagination import PageRequest
from verdict.server.audit import service
from verdict.server.audit.models import AuditLogEntry
from verdict.server.web.forms import PAGE_SIZE, page_urls, parse_id, require
from verdict.server.web.params import Db
from verdict.server.web.session import PageUser
from verdict.server.web.templating import render

__all__ = ["Change", "compare", "router"]

router = APIRouter(include_in_schema=False)

_ABSENT = object()
# The dashboard pages of resources whose ids the audit log keeps.
_PAGES = {"user": ("/users/", ("user", "read")), "role": ("/roles/", ("role", "read"))}
_NAME_KEYS = ("key", "name", "username")


@dataclass(frozen=True, slots=True)
class Change:
    """One field of an entry: its value before and after (JSON text, None if absent)."""

    field: str
    before: str | None
    after: str | None
    kind: str  # "added", "removed", "changed" or "same"


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping) and value:
        for key, inner in value.items():
            yield from _flatten(inner, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, value


def _json(value: Any) -> str | None:
    if value is _ABSENT:
        return None
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def compare(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> list[Change]:
    """Every field of ``before`` and ``after``, by name, each marked as added, removed,
    changed or the same. Nested objects are followed to their leaves."""
    old = dict(_flatten(before or {}))
    new = dict(_flatten(after or {}))
    old.pop("", None)  # an empty state flattens to one nameless leaf
    new.pop("", None)
    # By name: PostgreSQL's JSONB keeps no key order, so the stored order is no guide.
    fields = sorted(old.keys() | new.keys())
    changes = []
    for field in fields:
        was, now = old.get(field, _ABSENT), new.get(field, _ABSENT)
        if was is _ABSENT:
            kind = "added"
        elif now is _ABSENT:
            kind = "removed"
        else:
            kind = "same" if _json(was) == _json(now) else "changed"
        changes.append(Change(field=field, before=_json(was), after=_json(now), kind=kind))
    return changes


def _name(entry: AuditLogEntry) -> str | None:
    """A readable name of the entry's resource, from its stored state."""
    for state in (entry.after, entry.before):
        if isinstance(state, Mapping):
            for key in _NAME_KEYS:
                if isinstance(state.get(key), str):
                    return str(state[key])
    return None


def _changed_fields(entry: AuditLogEntry) -> list[str]:
    if entry.before is None or entry.after is None:
        return []
    return [c.field for c in compare(entry.before, entry.after) if c.kind != "same"]


@router.get("/audit")
def list_entries(
    request: Request,
    principal: PageUser,
    db: Db,
    resource_type: Annotated[str, Query(max_length=64)] = "",
    actor: Annotated[str, Query(max_length=255)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    resource_id: Annotated[str, Query(max_length=64)] = "",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    require(principal, "audit_log", "read")
    filters = {
        "resource_type": resource_type.strip(),
        "actor": actor.strip(),
        "action": action.strip(),
        "resource_id": resource_id.strip(),
    }
    entries, next_cursor = service.list_entries(
        db,
        page=PageRequest(limit=PAGE_SIZE, cursor=cursor, sort="-at"),
        resource_type=filters["resource_type"] or None,
        resource_id=filters["resource_id"] or None,
        actor=filters["actor"] or None,
        action=filters["action"] or None,
    )
    types, actions = service.filter_choices(db)
    return render(
        request,
        "audit/list.html",
        {
            "rows": [(entry, _name(entry), _changed_fields(entry)) for entry in entries],
            "filters": filters,
            "filtered": any(filters.values()),
            "types": types,
            "actions": actions,
            **page_urls("/audit", filters, cursor=cursor, next_cursor=next_cursor),
        },
    )


@router.get("/audit/{entry_id}")
def show_entry(request: Request, entry_id: str, principal: PageUser, db: Db) -> HTMLResponse:
    require(principal, "audit_log", "read")
    entry = service.get_entry(db, entry_id=parse_id(entry_id, "audit log entry"))
    page = _PAGES.get(entry.resource_type)
    resource_url = None
    if page is not None and principal.can(*page[1]) and entry.action != "delete":
        resource_url = page[0] + entry.resource_id
    changes = compare(entry.before, entry.after)
    # What changed first, then what stayed; each group by field name.
    changes.sort(key=lambda change: change.kind == "same")
    return render(
        request,
        "audit/entry.html",
        {
            "entry": entry,
            "name": _name(entry),
            "changes": changes,
            "changed": sum(change.kind != "same" for change in changes),
            "resource_url": resource_url,
            "actor_url": (
                f"/users/{entry.actor_user_id}"
                if entry.actor_user_id and principal.can("user", "read")
                else None
            ),
        },
    )
