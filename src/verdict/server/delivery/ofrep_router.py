"""OFREP routes: /ofrep/v1/evaluate/flags/{key} and the bulk /ofrep/v1/evaluate/flags.

The body is read raw (not declared as a model) so that a malformed one gets OFREP's
400 answer; the OpenAPI spec still documents it through ``openapi_extra``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Request, Response
from fastapi.responses import JSONResponse

from verdict.server.delivery.evaluation_router import SdkEnvironment
from verdict.server.delivery.ofrep import OfrepAnswer, evaluate_bulk, evaluate_flag
from verdict.server.delivery.schemas import (
    OfrepBulkFailure,
    OfrepBulkResponse,
    OfrepFailure,
    OfrepRequest,
    OfrepSuccess,
)

__all__ = ["router"]

router = APIRouter(prefix="/ofrep/v1", tags=["ofrep"])

_BODY: dict[str, Any] = {
    "requestBody": {
        "required": False,
        "content": {"application/json": {"schema": OfrepRequest.model_json_schema()}},
    }
}


def _respond(answer: OfrepAnswer) -> Response:
    if answer.body is None:
        return Response(status_code=answer.status, headers=answer.headers)
    return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers)


@router.post(
    "/evaluate/flags/{key}",
    response_model=OfrepSuccess,
    responses={
        400: {"model": OfrepFailure, "description": "Bad context, or the flag cannot evaluate"},
        404: {"model": OfrepFailure, "description": "FLAG_NOT_FOUND"},
    },
    openapi_extra=_BODY,
    summary="OFREP: evaluate one flag",
)
async def evaluate_one(
    environment: SdkEnvironment,
    request: Request,
    key: Annotated[str, Path(min_length=1, max_length=100)],
) -> Response:
    return _respond(evaluate_flag(environment=environment, flag_key=key, raw=await request.body()))


@router.post(
    "/evaluate/flags",
    response_model=OfrepBulkResponse,
    responses={
        304: {"description": "Not modified: If-None-Match names the current ETag"},
        400: {"model": OfrepBulkFailure, "description": "Bad body or context"},
    },
    openapi_extra=_BODY,
    summary="OFREP: evaluate every flag (ETag / If-None-Match)",
)
async def evaluate_all(
    environment: SdkEnvironment,
    request: Request,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    return _respond(
        evaluate_bulk(
            environment=environment, raw=await request.body(), if_none_match=if_none_match
        )
    )
