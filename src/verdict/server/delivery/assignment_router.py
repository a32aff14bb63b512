"""POST /api/v1/assign: experiment variants for a unit, stored sticky on first decision."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from verdict.server.db import get_db
from verdict.server.delivery.assignment import assign
from verdict.server.delivery.evaluation_router import SdkEnvironment
from verdict.server.delivery.schemas import AssignRequest, AssignResponse

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["assignment"])


@router.post(
    "/assign",
    response_model=AssignResponse,
    summary="Assign a unit to one, several or all running experiments",
)
def assign_unit(
    environment: SdkEnvironment,
    db: Annotated[Session, Depends(get_db)],
    body: AssignRequest,
) -> JSONResponse:
    return JSONResponse(assign(db, environment=environment, request=body))
