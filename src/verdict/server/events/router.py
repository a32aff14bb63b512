"""POST /api/v1/events: batches of tracked events from server SDKs.

The body is read here, under a byte limit, before any of it is parsed: a Content-Length
above the limit is refused without reading, and a body that grows past it while
streaming is refused as soon as it does.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from verdict.server.db import get_db
from verdict.server.errors import PayloadTooLargeError
from verdict.server.events import service
from verdict.server.events.schemas import (
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    EventBatch,
    IngestResult,
)
from verdict.server.identity.auth import Principal, RequireSdkKey
from verdict.server.identity.models import ApiKeyKind
from verdict.server.problems import PROBLEM_MEDIA_TYPE, Problem

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["events"])


def _too_large(size: str) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"a batch body holds at most {MAX_BATCH_BYTES} bytes, this one {size}: split it",
        field="body",
    )


async def batch_body(request: Request) -> bytes:
    """The raw body, at most ``MAX_BATCH_BYTES`` long."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BATCH_BYTES:
        raise _too_large(declared)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BATCH_BYTES:
            raise _too_large("more")
    return bytes(body)


def _inline_schema() -> dict[str, Any]:
    # The body is parsed by the service, event by event, so FastAPI does not see a body
    # model; the envelope's schema is given to the spec by hand, with EventIn inlined.
    schema = EventBatch.model_json_schema(ref_template="{model}")
    definitions = schema.pop("$defs", {})
    schema["properties"]["events"]["items"] = definitions["EventIn"]
    return schema


@router.post(
    "/events",
    response_model=IngestResult,
    summary="Send a batch of events",
    responses={
        413: {
            "model": Problem,
            "description": f"More than {MAX_BATCH_EVENTS} events or {MAX_BATCH_BYTES} bytes",
            "content": {PROBLEM_MEDIA_TYPE: {}},
        }
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _inline_schema()}},
        }
    },
)
def ingest_events(
    principal: Annotated[Principal, Depends(RequireSdkKey(ApiKeyKind.SERVER))],
    body: Annotated[bytes, Depends(batch_body)],
    db: Annotated[Session, Depends(get_db)],
) -> IngestResult:
    """Store the batch's valid events (each stamped with the key's environment) and
    answer, after the commit, how many were accepted, duplicates or rejected, with
    the reason for each rejected event by index. Needs a server API key."""
    assert principal.environment_id is not None  # RequireSdkKey guarantees it
    return service.ingest_events(db, environment_id=principal.environment_id, body=body)
