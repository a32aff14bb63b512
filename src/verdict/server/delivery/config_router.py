"""SDK configuration delivery: the compiled document with its ETag, and the change stream.

``GET /api/v1/sdk/config`` serves the bytes the snapshot cache already holds (never
compiled per request) with a strong ETag; a matching ``If-None-Match`` gets ``304`` and
no body, so a poller that is up to date costs one hash comparison.
``GET /api/v1/sdk/stream`` is the server-sent event stream of ETag changes
(:mod:`verdict.server.delivery.stream`). Both take a server key: the document holds
every rule and override, which client keys (shipped to browsers) must not see. A stream
re-checks its key as the SDK routes do (:func:`sdk_principal`) and ends once the key
stops authenticating: revoked, deleted, expired, or its owner deactivated.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response

from verdict.server.api.versioning import etag_matches
from verdict.server.delivery.evaluation import sdk_snapshot
from verdict.server.delivery.snapshots import SnapshotCache
from verdict.server.delivery.stream import EventStream, StreamHub
from verdict.server.errors import AuthenticationError, NotFoundError, PermissionDeniedError
from verdict.server.identity.auth import Principal, RequireSdkKey, sdk_principal
from verdict.server.identity.models import ApiKeyKind

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/sdk", tags=["sdk"])
_SERVER_KEYS = frozenset({ApiKeyKind.SERVER})
ServerKey = Annotated[Principal, Depends(RequireSdkKey(*_SERVER_KEYS))]

_CONFIG_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The environment's configuration document (docs/targeting.md §4).",
        "headers": {
            "ETag": {"description": "Strong tag of the document", "schema": {"type": "string"}}
        },
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
    304: {"description": "The document still has the ETag sent in If-None-Match."},
}
_STREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-sent events: `config` events carrying the current ETag.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


@router.get(
    "/config",
    summary="The configuration document of the key's environment (ETag, 304)",
    response_class=Response,
    responses=_CONFIG_RESPONSES,
)
async def get_config(
    request: Request,
    principal: ServerKey,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    snapshot = await sdk_snapshot(request, principal)
    headers = {"ETag": snapshot.etag, "Cache-Control": "no-cache"}
    if etag_matches(if_none_match, snapshot.etag):
        return Response(status_code=304, headers=headers)
    return Response(content=snapshot.body, media_type="application/json", headers=headers)


def _still_authorized(request: Request) -> Callable[[], Awaitable[bool]]:
    """Whether the key that opened ``request`` would still be let in."""

    async def check() -> bool:
        try:
            await sdk_principal(request, _SERVER_KEYS)
        except (AuthenticationError, PermissionDeniedError):
            return False
        return True

    return check


@router.get(
    "/stream",
    summary="Server-sent events: the environment's configuration changed",
    response_class=Response,
    responses=_STREAM_RESPONSES,
)
def stream_config(request: Request, principal: ServerKey) -> Response:
    cache: SnapshotCache = request.app.state.snapshots
    hub: StreamHub | None = getattr(request.app.state, "streams", None)
    if hub is None:
        # Streams are started with the server's lifespan; an app that never ran it
        # has nobody to wake them.
        raise NotFoundError("configuration streaming is not running in this server")
    assert principal.environment_id is not None
    snapshot = cache.get_by_id(principal.environment_id)
    return EventStream(
        hub=hub,
        cache=cache,
        environment_key=snapshot.environment_key,
        authorized=_still_authorized(request),
    )
