"""GET /api/v1/audit: who changed what, filtered and paged (newest first)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime
from sqlalchemy.orm import Session

from verdict.server.api.pagination import Page, PageRequest, page_request
from verdict.server.audit import service
from verdict.server.audit.schemas import AuditEntryOut
from verdict.server.db import get_db
from verdict.server.identity.auth import Principal, Require

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


@router.get("", response_model=Page[AuditEntryOut], summary="List audit log entries")
def list_audit_entries(
    _principal: Annotated[Principal, Depends(Require("audit_log", "read"))],
    db: Annotated[Session, Depends(get_db)],
    page: Annotated[PageRequest, Depends(page_request("-at", service.AUDIT_SORTS))],
    resource_type: Annotated[str | None, Query(description="e.g. feature_flag")] = None,
    resource_id: Annotated[str | None, Query()] = None,
    actor: Annotated[str | None, Query(description="user name or api-key:<name>")] = None,
    action: Annotated[str | None, Query(description="e.g. create, update, start")] = None,
    since: Annotated[AwareDatetime | None, Query(description="ISO 8601 with zone")] = None,
    until: Annotated[AwareDatetime | None, Query(description="ISO 8601 with zone")] = None,
) -> Page[AuditEntryOut]:
    entries, cursor = service.list_entries(
        db,
        page=page,
        resource_type=resource_type,
        resource_id=resource_id,
        actor=actor,
        action=action,
        since=since,
        until=until,
    )
    return Page[AuditEntryOut](
        items=[AuditEntryOut.model_validate(e) for e in entries], next_cursor=cursor
    )
