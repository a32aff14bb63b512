"""POST /api/v1/power: sample size, detectable effect or achieved power."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from verdict.server.identity.auth import Principal, Require
from verdict.server.power import service
from verdict.server.power.schemas import PowerQuery, PowerResult

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["power"])


@router.post("/power", response_model=PowerResult, summary="Power calculator")
def calculate_power(
    body: PowerQuery, _: Annotated[Principal, Depends(Require("experiment", "read"))]
) -> PowerResult:
    """Give `mde` for the sample size, `sample_size_per_variant` for the minimum
    detectable effect, or both for the achieved power."""
    return service.calculate(body)
