"""OFREP routes: /ofrep/v1/evaluate/flags/{key} and the bulk /ofrep/v1/evaluate/flags.

The body is read raw (not declared as a model) so that a malformed one gets OFREP's
400 answer; the OpenAPI spec still documents it. OpenFeature providers send the API
key as ``Authorization: Bearer`` or ``X-API-Key``; both are accepted.

The key is the whole rest of the decoded path (``{key:path}``), so every key a client
can send, an empty one, one with ``/`` (sent as ``%2F``) or with control characters,
reaches the handler and gets OFREP's 404 FLAG_NOT_FOUND rather than the router's 404.

``GET /ofrep/v1/configuration`` is a Verdict extension, kept for providers written
before the protocol removed it (May 2025; the .NET provider's client can ask): the
polling capabilities and the supported types, named as the protocol last named them.
"""

from __future__ import annotations

import hashlib

from fastapi import APIRouter, Request, Response

from verdict.server.api.hot import json_bytes, json_response, sdk_route
from verdict.server.api.versioning import etag_matches
from verdict.server.delivery.evaluation import sdk_snapshot
from verdict.server.delivery.evaluation_router import SDK_KEYS
from verdict.server.delivery.observability import record_decisions
from verdict.server.delivery.ofrep import OfrepAnswer, evaluate_bulk, evaluate_flag
from verdict.server.delivery.schemas import (
    OfrepBulkFailure,
    OfrepBulkResponse,
    OfrepConfiguration,
    OfrepFailure,
    OfrepRequest,
    OfrepSuccess,
)
from verdict.server.identity.auth import Principal

__all__ = ["router"]

router = APIRouter(prefix="/ofrep/v1", tags=["ofrep"])

# Parameters the handlers read themselves, declared for the spec.
_KEY_PARAMETER = {
    "name": "key",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "The flag key; a key no flag has (whatever its form) is FLAG_NOT_FOUND",
}
_IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "The ETag of the answer the client holds",
}


def _respond(answer: OfrepAnswer) -> Response:
    if answer.body is None:
        return Response(status_code=answer.status, headers=answer.headers)
    return json_response(answer.body, status_code=answer.status, headers=answer.headers)


@sdk_route(
    router,
    "/evaluate/flags/{key:path}",
    kinds=SDK_KEYS,
    body=OfrepRequest,
    body_required=False,
    response_model=OfrepSuccess,
    responses={
        400: {"model": OfrepFailure, "description": "Bad context, or the flag cannot evaluate"},
        404: {"model": OfrepFailure, "description": "FLAG_NOT_FOUND: no flag has this key"},
    },
    summary="OFREP: evaluate one flag",
    openapi_extra={"parameters": [_KEY_PARAMETER]},
)
async def evaluate_one(request: Request, principal: Principal) -> Response:
    key: str = request.path_params["key"]
    environment = await sdk_snapshot(request, principal)
    answer = evaluate_flag(environment=environment, flag_key=key, raw=await request.body())
    record_decisions("flag")
    return _respond(answer)


@sdk_route(
    router,
    "/evaluate/flags",
    kinds=SDK_KEYS,
    body=OfrepRequest,
    body_required=False,
    response_model=OfrepBulkResponse,
    responses={
        304: {"description": "Not modified: If-None-Match names the current ETag"},
        400: {"model": OfrepBulkFailure, "description": "Bad body or context"},
    },
    summary="OFREP: evaluate every flag (ETag / If-None-Match)",
    openapi_extra={"parameters": [_IF_NONE_MATCH]},
)
async def evaluate_all(request: Request, principal: Principal) -> Response:
    environment = await sdk_snapshot(request, principal)
    answer = evaluate_bulk(
        environment=environment,
        raw=await request.body(),
        if_none_match=request.headers.get("if-none-match"),
    )
    if answer.body is not None and "flags" in answer.body:
        record_decisions("flag", len(answer.body["flags"]))
    return _respond(answer)


# Polling the bulk endpoint more often than this buys nothing: an unchanged answer is a
# 304, and configuration changes reach the snapshot within milliseconds anyway.
MIN_POLLING_INTERVAL_MS = 1_000
# The protocol's last definition of the configuration (before its removal) named the
# types ``int, float, string, boolean, object``.
SUPPORTED_TYPES = ("boolean", "string", "int", "float", "object")
_CONFIGURATION = json_bytes(
    {
        "name": "Verdict",
        "capabilities": {
            "cacheInvalidation": {
                "polling": {"enabled": True, "minPollingIntervalMs": MIN_POLLING_INTERVAL_MS}
            },
            "flagEvaluation": {"supportedTypes": list(SUPPORTED_TYPES)},
        },
    }
)
_CONFIGURATION_ETAG = '"' + hashlib.sha256(_CONFIGURATION).hexdigest()[:32] + '"'


@sdk_route(
    router,
    "/configuration",
    kinds=SDK_KEYS,
    body=None,
    methods=("GET",),
    response_model=OfrepConfiguration,
    responses={304: {"description": "Not modified: If-None-Match names the current ETag"}},
    summary="OFREP (Verdict extension): provider configuration for older providers",
    description="Removed from the protocol in May 2025 and kept for providers that still "
    "ask for it: the polling capabilities and the supported types (`int`, as the protocol "
    "last named them).",
    openapi_extra={"parameters": [_IF_NONE_MATCH]},
)
async def configuration(request: Request, principal: Principal) -> Response:
    headers = {"ETag": _CONFIGURATION_ETAG}
    if etag_matches(request.headers.get("if-none-match"), _CONFIGURATION_ETAG):
        return Response(status_code=304, headers=headers)
    return Response(_CONFIGURATION, media_type="application/json", headers=headers)
