"""POST /api/v1/assign: experiment variants for a unit, stored sticky on first decision."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from verdict.server.api.hot import json_response, parse_body, sdk_route
from verdict.server.delivery.assignment import assign
from verdict.server.delivery.assignment_writer import AssignmentWriter
from verdict.server.delivery.evaluation import sdk_snapshot
from verdict.server.delivery.evaluation_router import SDK_KEYS
from verdict.server.delivery.observability import record_assignments, record_decisions
from verdict.server.delivery.schemas import AssignRequest, AssignResponse
from verdict.server.identity.auth import Principal

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["assignment"])


@sdk_route(
    router,
    "/assign",
    kinds=SDK_KEYS,
    body=AssignRequest,
    response_model=AssignResponse,
    summary="Assign a unit to one, several or all running experiments",
)
async def assign_unit(request: Request, principal: Principal) -> Response:
    body = parse_body(AssignRequest, await request.body())
    environment = await sdk_snapshot(request, principal)
    writer: AssignmentWriter = request.app.state.assignment_writer
    outcome = await assign(
        environment=environment,
        request=body,
        writer=writer,
        session_factory=request.app.state.session_factory,
    )
    record_decisions("experiment", outcome.decisions)
    record_assignments(outcome.stored)
    return json_response(outcome.document)
