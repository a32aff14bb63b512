"""Lean routes for the SDK hot paths: one coroutine per request, nothing else.

FastAPI's per-request machinery (solving a dependency graph, running sync dependencies
on the thread pool, validating and re-encoding the response model) costs several times
what a flag evaluation does. The routes SDKs call thousands of times a second are
therefore :class:`HotRoute`\\ s, registered with :func:`sdk_route`:

- FastAPI still documents them from what the route declares (the API-key security
  schemes through the same ``RequireSdkKey`` the other SDK routes use, the request body
  schema, the response model), so the OpenAPI spec stays complete;
- but per request Starlette calls the handler directly, which authenticates with
  :func:`~verdict.server.identity.auth.sdk_principal` (the in-process key cache),
  parses the body with one Pydantic ``model_validate_json`` call, and answers with
  bytes encoded by orjson. Nothing blocks the event loop: the rare database work
  (an unknown key, a snapshot to rebuild) goes to the thread pool.

Errors are the API's usual problem documents: a body that fails validation raises
``RequestValidationError`` with ``body.…`` field paths, exactly as a declared body
model would, and domain errors reach the app's exception handlers unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import orjson
from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

from verdict.server.identity.auth import Principal, RequireSdkKey, sdk_principal
from verdict.server.identity.models import ApiKeyKind

__all__ = ["HotRoute", "json_bytes", "json_response", "parse_body", "sdk_route"]

M = TypeVar("M", bound=BaseModel)
Handler = Callable[[Request, Principal], Awaitable[Response]]


class HotRoute(APIRoute):
    """An ``APIRoute`` documented like any other but served by its endpoint alone: the
    endpoint is ``async def (request) -> Response`` and does its own authentication."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint: Callable[[Request], Coroutine[Any, Any, Response]] = self.endpoint
        return endpoint


def sdk_route(
    router: APIRouter,
    path: str,
    *,
    kinds: tuple[ApiKeyKind, ...],
    body: type[BaseModel] | dict[str, Any] | None,
    body_required: bool = True,
    methods: tuple[str, ...] = ("POST",),
    **documentation: Any,
) -> Callable[[Handler], Handler]:
    """Register ``handler(request, principal)`` at ``path`` for API keys of ``kinds``.

    ``body`` is the request body's model (or its JSON schema) for the spec; the handler
    parses the body itself (see :func:`parse_body`). ``documentation`` goes to
    ``add_api_route`` (summary, response_model, responses, …).
    """
    allowed = frozenset(kinds)

    def register(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            principal = await sdk_principal(request, allowed)
            return await handler(request, principal)

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        extra = dict(documentation.pop("openapi_extra", None) or {})
        if body is not None:
            schema = body if isinstance(body, dict) else body.model_json_schema()
            extra["requestBody"] = {
                "required": body_required,
                "content": {"application/json": {"schema": schema}},
            }
        router.add_api_route(
            path,
            endpoint,
            methods=list(methods),
            route_class_override=HotRoute,
            # Documentation only (HotRoute does not solve dependencies): the security
            # schemes of the spec; the endpoint authenticates with the same kinds.
            dependencies=[Depends(RequireSdkKey(*kinds))],
            openapi_extra=extra or None,
            **documentation,
        )
        return handler

    return register


def parse_body(model: type[M], raw: bytes) -> M:
    """Validate a JSON body against ``model``; errors name ``body.<field>``."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = [
            {**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)
        ]
        raise RequestValidationError(errors) from None


def json_bytes(content: Any) -> bytes:
    """Compact JSON; orjson, unless a value is beyond it (an integer wider than 64 bits)."""
    try:
        return orjson.dumps(content)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(
    content: Any, *, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        json_bytes(content),
        status_code=status_code,
        headers=headers,
        media_type="application/json",
    )
