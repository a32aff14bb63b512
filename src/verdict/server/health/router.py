"""GET /healthz: 200 when the database is reachable and migrated, 503 otherwise."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from verdict.server.health.schemas import Health
from verdict.server.health.service import check_health

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    response_model=Health,
    summary="Database reachability and migration revision",
    responses={503: {"model": Health, "description": "Database unreachable or not migrated"}},
)
def healthz(request: Request, response: Response) -> Health:
    health = check_health(engine=request.app.state.engine)
    if health.status != "ok":
        response.status_code = 503
    return health
