"""POST /api/v1/events: batches of tracked events from server SDKs.

The body is read here, under a byte limit, before any of it is parsed: a Content-Length
above the limit is refused without reading, and a body that grows past it while
streaming is refused as soon as it does. A gzip body (``Content-Encoding: gzip``) is
held to the same limit twice: compressed as it arrives, and decompressed, where the
decompressor is never asked for more than the limit, so a small body that inflates to
gigabytes costs at most one mebibyte before it is refused.
"""

from __future__ import annotations

import zlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from verdict.server.db import get_db
from verdict.server.delivery.observability import record_events_ingested
from verdict.server.errors import InvalidInputError, PayloadTooLargeError
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


_GZIP = ("gzip", "x-gzip")  # x-gzip: the old name, still sent by some clients


def _too_large(size: str, *, decompressed: bool = False) -> PayloadTooLargeError:
    state = " once decompressed" if decompressed else ""
    return PayloadTooLargeError(
        f"a batch body holds at most {MAX_BATCH_BYTES} bytes{state}, this one {size}: split it",
        field="body",
    )


def _gunzip(data: bytes) -> bytes:
    """Decompress a gzip body (one or more members) into at most ``MAX_BATCH_BYTES``."""
    output = bytearray()
    while data:
        decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip framing
        try:
            output += decompressor.decompress(data, MAX_BATCH_BYTES + 1 - len(output))
        except zlib.error as exc:
            raise InvalidInputError(f"the body is not valid gzip: {exc}", field="body") from exc
        if len(output) > MAX_BATCH_BYTES:
            raise _too_large("more", decompressed=True)
        if not decompressor.eof:
            raise InvalidInputError("the body is not valid gzip: it is truncated", field="body")
        data = decompressor.unused_data  # RFC 1952 allows concatenated members
    return bytes(output)


async def batch_body(request: Request) -> bytes:
    """The body, decompressed if it was sent with gzip, at most ``MAX_BATCH_BYTES`` long."""
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", *_GZIP):
        raise InvalidInputError(
            f"Content-Encoding {encoding!r} is not supported: send gzip or no encoding",
            field="header.Content-Encoding",
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BATCH_BYTES:
        raise _too_large(declared)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BATCH_BYTES:
            raise _too_large("more")
    return _gunzip(bytes(body)) if encoding in _GZIP else bytes(body)


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
            "description": f"More than {MAX_BATCH_EVENTS} events or {MAX_BATCH_BYTES} bytes "
            "(sent or decompressed)",
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
    the reason for each rejected event by index. Needs a server API key. The body may
    be sent with `Content-Encoding: gzip`; the byte limit holds once decompressed."""
    assert principal.environment_id is not None  # RequireSdkKey guarantees it
    result = service.ingest_events(db, environment_id=principal.environment_id, body=body)
    record_events_ingested(result.accepted)
    return result
