"""POST /api/v1/exposures: what units saw of experiments that SDKs decided in-process."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from verdict.server.db import get_db
from verdict.server.delivery.observability import record_assignments
from verdict.server.exposures import service
from verdict.server.exposures.schemas import ExposureBatch, ExposureResult
from verdict.server.identity.auth import Principal, RequireSdkKey
from verdict.server.identity.models import ApiKeyKind

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["exposures"])


@router.post("/exposures", response_model=ExposureResult, summary="Send a batch of exposures")
def record_exposures(
    principal: Annotated[Principal, Depends(RequireSdkKey(ApiKeyKind.SERVER))],
    batch: ExposureBatch,
    db: Annotated[Session, Depends(get_db)],
) -> ExposureResult:
    """Store each unit's first exposure to an experiment as its sticky assignment (the
    analysis reads it as the unit's exposure) and answer, after the commit, how many
    were recorded, duplicates (already stored with this variant), conflicts (stored
    with another variant, which stays) or rejected (by index). Needs a server API key."""
    assert principal.environment_id is not None  # RequireSdkKey guarantees it
    result = service.record_exposures(db, environment_id=principal.environment_id, batch=batch)
    record_assignments(result.recorded)
    return result
