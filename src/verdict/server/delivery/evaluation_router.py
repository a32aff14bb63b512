"""POST /api/v1/evaluate: flag values for a server or client key's environment."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from verdict.server.api.hot import json_response, parse_body, sdk_route
from verdict.server.delivery.evaluation import evaluate_flags, sdk_snapshot
from verdict.server.delivery.observability import record_decisions
from verdict.server.delivery.schemas import EvaluateRequest, EvaluateResponse
from verdict.server.identity.auth import Principal
from verdict.server.identity.models import ApiKeyKind

__all__ = ["SDK_KEYS", "router"]

# Server keys (back ends) and client keys (browsers, apps) may both evaluate.
SDK_KEYS = (ApiKeyKind.SERVER, ApiKeyKind.CLIENT)

router = APIRouter(prefix="/api/v1", tags=["evaluation"])


@sdk_route(
    router,
    "/evaluate",
    kinds=SDK_KEYS,
    body=EvaluateRequest,
    response_model=EvaluateResponse,
    summary="Evaluate one, several or all flags for a unit",
)
async def evaluate(request: Request, principal: Principal) -> Response:
    body = parse_body(EvaluateRequest, await request.body())
    environment = await sdk_snapshot(request, principal)
    document = evaluate_flags(
        environment=environment,
        targeting_key=body.targeting_key,
        attributes=body.attributes,
        flags=body.flags,
    )
    record_decisions("flag", len(document["flags"]))
    return json_response(document)
