"""Request limits enforced before any route runs: body size, and NUL in query strings.

Body size is held while the body is read, never after: a request that declares a
``Content-Length`` above its route's limit is refused (413) before a byte of it is
read, and a body sent without one (chunked) is counted as it arrives and refused as
soon as the count passes the limit. Either way at most the limit is ever held, however
large the body, and nothing is parsed before the limit holds.

Authentication comes first. FastAPI reads a declared body model before it solves the
route's dependencies, authentication among them, so for the management routes the
check here runs the route's authentication itself (``authenticate_first``,
:mod:`verdict.server.api.auth_first`) before the size check and before the route: an
unauthenticated or unauthorized caller gets its 401 or 403 without a byte of its body
read. The SDK routes authenticate before they read, so they are not looked at.

The SDK routes (evaluation, OFREP, assignment) have their own limit, so a deployment
can keep them tighter than management routes. ``POST /api/v1/events`` keeps its own
reading (see :mod:`verdict.server.events.router`): one mebibyte compressed and again
once decompressed, with messages that say how to split a batch.

A NUL character in a query parameter can be neither stored nor compared by
PostgreSQL; the check here refuses it with the parameter's name, for every route,
before a database is asked. A query string only holds one percent-encoded, so the test
costs one substring search.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from verdict.server.problems import FieldError, Problem, problem_response

__all__ = [
    "BodyTooLargeError",
    "PathSet",
    "RequestLimits",
    "body_too_large",
    "too_large_response",
]


class BodyTooLargeError(HTTPException):
    """Raised from ``receive`` when a streamed body passes its limit; an
    ``HTTPException`` so that FastAPI's body reader lets it through unchanged."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            status_code=413,
            detail=f"a request body to this route holds at most {limit} bytes, this one more",
        )
        self.limit = limit


class PathSet:
    """Which request paths belong to a group of routes, answered with one dictionary
    look-up and one ``startswith``: exact paths for static routes, the static part
    before the first parameter for the others."""

    def __init__(self, routes: Iterable[BaseRoute]) -> None:
        exact: set[str] = set()
        prefixes: set[str] = set()
        for route in routes:
            if not isinstance(route, Route):
                continue
            static, brace, _ = route.path.partition("{")
            (prefixes if brace else exact).add(static)
        self.exact = frozenset(exact)
        self.prefixes = tuple(sorted(prefixes))

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and (path in self.exact or path.startswith(self.prefixes))


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _nul_parameter(query_string: bytes) -> str | None:
    """The name of the first query parameter holding a NUL character, or None."""
    if b"%00" not in query_string:
        return None
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return name.replace("\x00", "\\0")
    return None


class RequestLimits:
    """ASGI middleware: the body limit of each request's route, and NUL-free query
    parameters. ``sdk_paths`` take ``sdk_limit``, ``exempt`` paths read their body
    under their own limit, every other path takes ``limit``, after
    ``authenticate_first`` (a response refusing the request, or None) has let it in."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: int,
        sdk_limit: int,
        sdk_paths: PathSet,
        exempt: frozenset[str] = frozenset(),
        authenticate_first: Callable[[Scope], Awaitable[Response | None]] | None = None,
    ) -> None:
        self.app = app
        self._limit = limit
        self._sdk_limit = sdk_limit
        self._sdk_paths = sdk_paths
        self._exempt = exempt
        self._authenticate_first = authenticate_first

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        parameter = _nul_parameter(scope["query_string"])
        if parameter is not None:
            field = f"query.{parameter}"
            reason = "contains a NUL character, which cannot be stored or searched for"
            problem = Problem(
                title="Invalid request",
                status=422,
                detail=f"{field}: {reason}",
                instance=path,
                errors=[FieldError(field=field, reason=reason)],
            )
            await problem_response(problem)(scope, receive, send)
            return
        if path in self._exempt:
            await self.app(scope, receive, send)
            return
        if path in self._sdk_paths:
            limit = self._sdk_limit
        else:
            limit = self._limit
            if self._authenticate_first is not None:
                refusal = await self._authenticate_first(scope)
                if refusal is not None:
                    await refusal(scope, receive, send)
                    return
        declared = _declared_length(scope)
        if declared is not None:
            if declared > limit:
                # Refused before reading: the server closes the connection after the
                # answer, so the rest of the body is never buffered.
                error = BodyTooLargeError(limit)
                await too_large_response(error, path)(scope, receive, send)
                return
            # The server ends the body at the declared length (HTTP framing), so there
            # is nothing to count: the hot paths' usual case costs no wrapper.
            await self.app(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError(limit)
            return message

        await self.app(scope, limited, send)


def too_large_response(error: BodyTooLargeError, path: str) -> JSONResponse:
    """The problem document of a body over its limit."""
    reason = str(error.detail)
    return problem_response(
        Problem(
            title="Payload too large",
            status=413,
            detail=reason,
            instance=path,
            errors=[FieldError(field="body", reason=reason)],
        ),
        headers={"Connection": "close"},
    )


async def body_too_large(request: Request, exc: Exception) -> JSONResponse:
    """Exception handler: a streamed body passed its limit while a route read it."""
    assert isinstance(exc, BodyTooLargeError)
    return too_large_response(exc, request.url.path)
