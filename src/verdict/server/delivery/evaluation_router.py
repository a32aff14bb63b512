"""POST /api/v1/evaluate: flag values for a server or client key's environment."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from verdict.server.db import get_db
from verdict.server.delivery.evaluation import environment_snapshot, evaluate_flags
from verdict.server.delivery.schemas import EvaluateRequest, EvaluateResponse
from verdict.server.delivery.snapshots import EnvironmentSnapshot
from verdict.server.identity.auth import Principal, RequireSdkKey
from verdict.server.identity.models import ApiKeyKind

__all__ = ["SdkEnvironment", "SdkKey", "router"]

SdkKey = Annotated[Principal, Depends(RequireSdkKey(ApiKeyKind.SERVER, ApiKeyKind.CLIENT))]


def sdk_environment(
    request: Request, principal: SdkKey, db: Annotated[Session, Depends(get_db)]
) -> EnvironmentSnapshot:
    """Dependency: the compiled configuration of the calling key's environment."""
    assert principal.environment_id is not None  # RequireSdkKey admits only such keys
    return environment_snapshot(
        db, snapshots=request.app.state.snapshots, environment_id=principal.environment_id
    )


SdkEnvironment = Annotated[EnvironmentSnapshot, Depends(sdk_environment)]

router = APIRouter(prefix="/api/v1", tags=["evaluation"])


@router.post(
    "/evaluate",
    response_model=EvaluateResponse,
    summary="Evaluate one, several or all flags for a unit",
)
def evaluate(environment: SdkEnvironment, body: EvaluateRequest) -> JSONResponse:
    return JSONResponse(
        evaluate_flags(
            environment=environment,
            targeting_key=body.targeting_key,
            attributes=body.attributes,
            flags=body.flags,
        )
    )
