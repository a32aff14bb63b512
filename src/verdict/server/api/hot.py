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

:class:`HotPathDispatch` goes one step further: it hands a request for a hot route to
that route directly, inside the app's own exception handlers, before the general router
walks the whole API (routing there costs more than answering a flag evaluation). Its
path patterns match any character, newlines included, so a ``{key:path}`` parameter
receives whatever a client sent (the OFREP routes answer every odd key themselves).

What is bypassed is routing only: the request limits (body size, NUL in the query;
:mod:`verdict.server.api.limits`), the security headers and CORS
(:mod:`verdict.server.api.headers`) are middleware outside this one, so hot routes get
them like every other route, for about two microseconds a request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any, TypeVar

import orjson
from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.convertors import Convertor
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from verdict.server.identity.auth import Principal, RequireSdkKey, sdk_principal
from verdict.server.identity.models import ApiKeyKind

__all__ = [
    "HOT_ROUTES",
    "HotPathDispatch",
    "HotRoute",
    "json_bytes",
    "json_response",
    "parse_body",
    "sdk_route",
]

M = TypeVar("M", bound=BaseModel)
Handler = Callable[[Request, Principal], Awaitable[Response]]


class HotRoute(APIRoute):
    """An ``APIRoute`` documented like any other but served by its endpoint alone: the
    endpoint is ``async def (request) -> Response`` and does its own authentication."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint: Callable[[Request], Coroutine[Any, Any, Response]] = self.endpoint
        return endpoint


# Every HotRoute registered, with its full path; the app includes their routers as
# they are (no extra prefix), so HotPathDispatch can serve them by these paths.
HOT_ROUTES: list[HotRoute] = []


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
        route = router.routes[-1]
        assert isinstance(route, HotRoute)
        HOT_ROUTES.append(route)
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


class HotPathDispatch:
    """ASGI middleware: a request for a hot route (by method and path, path parameters
    included) goes straight to it, wrapped in the app's exception handlers; everything
    else continues to the router. ``handlers`` is the app's ``exception_handlers``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        handlers: Mapping[Any, Any],
        routes: list[HotRoute] | None = None,
    ) -> None:
        self.app = app
        self._handlers = handlers
        self._routes = HOT_ROUTES if routes is None else routes
        self._static: dict[tuple[str, str], tuple[HotRoute, ASGIApp]] | None = None
        self._patterns: list[tuple[str, re.Pattern[str], dict[str, Convertor[Any]], Any]] = []

    def _table(self) -> dict[tuple[str, str], tuple[HotRoute, ASGIApp]]:
        # Built at the first request: by then every route and handler is registered.
        static: dict[tuple[str, str], tuple[HotRoute, ASGIApp]] = {}
        for route in self._routes:
            served = ExceptionMiddleware(route.app, handlers=dict(self._handlers))
            for method in route.methods or ():
                if route.param_convertors:
                    # Across newlines too: a ``{name:path}`` parameter (``.*``) takes the
                    # whole rest of the decoded path, a %0A in it included.
                    regex = re.compile(route.path_regex.pattern, re.DOTALL)
                    self._patterns.append((method, regex, route.param_convertors, (route, served)))
                else:
                    static[(method, route.path)] = (route, served)
        self._static = static
        return static

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            static = self._static if self._static is not None else self._table()
            path: str = scope["path"]
            root = scope.get("root_path", "")
            if root and path.startswith(root):
                path = path[len(root) :]
            method: str = scope["method"]
            found = static.get((method, path))
            params: dict[str, Any] = {}
            if found is None:
                for pattern_method, regex, convertors, target in self._patterns:
                    match = regex.match(path) if pattern_method == method else None
                    if match is not None:
                        found = target
                        params = {
                            name: convertors[name].convert(value)
                            for name, value in match.groupdict().items()
                        }
                        break
            if found is not None:
                route, served = found
                scope["route"] = route
                scope["endpoint"] = route.endpoint
                scope["path_params"] = params
                await served(scope, receive, send)
                return
        await self.app(scope, receive, send)
