"""Authentication before the body: who is calling is settled before a byte of it is read.

FastAPI reads a route's declared body model before it solves the route's dependencies,
authentication among them, so on its own an anonymous client could make the server
read (up to the body limit) before getting its 401. :class:`AuthenticateFirst` closes
that gap for every route that declares a body and requires a principal
(:class:`~verdict.server.identity.auth.PrincipalRequirement`: ``Require``,
``Authenticated``): the request limits call it (:mod:`verdict.server.api.limits`)
before the body limit and before the route, and it

- finds the route the router will pick (the first full match, in routing order);
- authenticates the request's credentials with the same function the dependency uses
  (:func:`~verdict.server.identity.auth.authenticate`, on a worker thread: it reads the
  database), and checks the route's permission;
- refuses with the app's own problem document (401 with ``WWW-Authenticate``, 403, or
  503 when the database is unavailable) without reading the body; when a body was
  announced the answer says ``Connection: close``, so it is not drained either;
- otherwise leaves the principal in the request's state
  (:data:`~verdict.server.identity.auth.PRINCIPAL_STATE`), where the route's dependency
  takes it: a request is authenticated once.

Routes without a body keep authenticating in their dependency (nothing is read before
it), the public routes (login, health) have no requirement to meet, and the SDK routes
are not looked at: they authenticate before they read their body, through the
in-process key cache (:func:`~verdict.server.identity.auth.sdk_principal`).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from verdict.server.identity.auth import (
    PRINCIPAL_STATE,
    PrincipalRequirement,
    authenticate_request,
)

__all__ = ["AuthenticateFirst"]


def _requirements(dependant: Dependant) -> tuple[PrincipalRequirement, ...]:
    """The principal requirements anywhere in a route's dependency tree."""
    found: list[PrincipalRequirement] = []
    pending = list(dependant.dependencies)
    while pending:
        dependency = pending.pop()
        if isinstance(dependency.call, PrincipalRequirement):
            found.append(dependency.call)
        pending.extend(dependency.dependencies)
    return tuple(found)


def _announces_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
            return True
    return False


class AuthenticateFirst:
    """Called with a request's scope before its body is read: a response refusing the
    request, or None to let it go on (see the module docstring). ``routes`` are the
    app's routes in routing order; ``handlers`` the app's ``exception_handlers``."""

    def __init__(self, *, routes: Iterable[BaseRoute], handlers: Mapping[Any, Any]) -> None:
        self._source = routes
        self._handlers = handlers
        self._routes: list[tuple[BaseRoute, tuple[PrincipalRequirement, ...]]] | None = None
        self._methods: frozenset[str] = frozenset()

    def _table(self) -> list[tuple[BaseRoute, tuple[PrincipalRequirement, ...]]]:
        # Built at the first request: by then every route is registered.
        routes: list[tuple[BaseRoute, tuple[PrincipalRequirement, ...]]] = []
        methods: set[str] = set()
        for route in self._source:
            requirements: tuple[PrincipalRequirement, ...] = ()
            if isinstance(route, APIRoute) and route.body_field is not None:
                requirements = _requirements(route.dependant)
                if requirements:
                    methods.update(route.methods or ())
            routes.append((route, requirements))
        self._methods = frozenset(methods)
        self._routes = routes
        return routes

    def _route_requirements(self, scope: Scope) -> tuple[PrincipalRequirement, ...]:
        routes = self._routes if self._routes is not None else self._table()
        if scope["method"] not in self._methods:
            return ()
        for route, requirements in routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return requirements
        return ()

    async def __call__(self, scope: Scope) -> Response | None:
        requirements = self._route_requirements(scope)
        if not requirements:
            return None
        request = Request(scope)
        try:
            principal = await run_in_threadpool(authenticate_request, request)
            for requirement in requirements:
                requirement.authorize(principal)
        except Exception as exc:
            response = await self._refusal(request, exc)
            if _announces_body(scope):
                response.headers["Connection"] = "close"
            return response
        scope.setdefault("state", {})[PRINCIPAL_STATE] = principal
        return None

    async def _refusal(self, request: Request, exc: Exception) -> Response:
        """The app's own answer to ``exc`` (as its exception handlers would give it)."""
        for kind in type(exc).__mro__:
            handler = self._handlers.get(kind)
            if handler is not None:
                response = handler(request, exc)
                if inspect.isawaitable(response):
                    response = await response
                assert isinstance(response, Response)
                return response
        raise exc
