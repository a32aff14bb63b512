"""Errors as RFC 9457 problem details (application/problem+json).

Every error names what went wrong and, for bad input, which field and why, so a client
can show it next to the field. Domain code raises; only this module knows HTTP.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError
from sqlalchemy.exc import OperationalError as DatabaseOperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from verdict.server.errors import (
    AuthenticationError,
    ConflictError,
    DomainError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    StaleVersionError,
    VersionRequiredError,
)
from verdict.server.identity.throttle import LoginThrottledError

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "PROBLEM_RESPONSES",
    "FieldError",
    "Problem",
    "install_problem_handlers",
    "problem_doc",
]

PROBLEM_MEDIA_TYPE = "application/problem+json"

logger = logging.getLogger(__name__)


class FieldError(BaseModel):
    field: str = Field(
        description="Dotted path of the offending field, e.g. body.variants.0.weight"
    )
    reason: str


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] = Field(default_factory=list)


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=problem.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def _field_path(location: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in location)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        FieldError(field=_field_path(error.get("loc", ())), reason=error.get("msg", "invalid"))
        for error in exc.errors()
    ]
    detail = "; ".join(f"{e.field}: {e.reason}" for e in errors)
    return problem_response(
        Problem(
            title="Invalid request",
            status=422,
            detail=detail,
            instance=request.url.path,
            errors=errors,
        )
    )


def _unreadable_body(exc: StarletteHTTPException) -> str | None:
    """Why FastAPI could not parse a JSON body, when it is the client's doing: FastAPI
    answers both with a bare 400 naming no field."""
    cause = exc.__cause__
    if isinstance(cause, UnicodeDecodeError):
        return f"is not valid UTF-8 (byte {cause.start})"
    if isinstance(cause, RecursionError):
        return "is nested too deeply to parse"
    return None


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    reason = _unreadable_body(exc) if exc.status_code == 400 else None
    if reason is not None:
        return problem_response(
            Problem(
                title="Invalid request",
                status=422,
                detail=f"body: {reason}",
                instance=request.url.path,
                errors=[FieldError(field="body", reason=reason)],
            )
        )
    title = {404: "Not found", 405: "Method not allowed", 413: "Payload too large"}.get(
        exc.status_code, "Error"
    )
    detail = exc.detail if isinstance(exc.detail, str) else None
    return problem_response(
        Problem(title=title, status=exc.status_code, detail=detail, instance=request.url.path),
        headers=dict(exc.headers) if exc.headers else None,
    )


# The only place where domain errors meet HTTP status codes.
_STATUS: tuple[tuple[type[DomainError], int], ...] = (
    (NotFoundError, 404),
    (ConflictError, 409),
    (InvalidInputError, 422),
    (PayloadTooLargeError, 413),
    (StaleVersionError, 412),
    (VersionRequiredError, 428),
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (LoginThrottledError, 429),
)


def status_of(error: DomainError) -> int:
    for error_type, status in _STATUS:
        if isinstance(error, error_type):
            return status
    return 400


def _where_to_read(request: Request) -> str | None:
    """The GET that returns the ETag a refused edit needed: the edited resource itself,
    or for an action (``POST …/archive``, ``POST …/enable``) the resource it acts on;
    None when no such route exists (nothing is suggested rather than a wrong URL)."""
    path = request.url.path
    if request.method == "POST":
        path = path.rsplit("/", 1)[0]
    scope = {"type": "http", "path": path, "method": "GET", "root_path": ""}
    for route in request.app.router.routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return path
    return None


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    status = status_of(exc)
    detail = exc.detail
    if isinstance(exc, VersionRequiredError):
        where = _where_to_read(request)
        if where is not None:
            detail = f"{detail}. Here: GET {where} returns it in its ETag header."
    errors = [FieldError(field=f, reason=r) for f, r in getattr(exc, "errors", [])]
    if not errors and exc.field:
        errors = [FieldError(field=exc.field, reason=detail)]
    headers = {"WWW-Authenticate": 'Bearer realm="verdict"'} if status == 401 else None
    if isinstance(exc, LoginThrottledError):
        headers = {"Retry-After": str(exc.retry_after)}
    return problem_response(
        Problem(
            title=exc.title,
            status=status,
            detail=detail,
            instance=request.url.path,
            errors=errors,
        ),
        headers=headers,
    )


def _database_problem(
    request: Request, exc: Exception, *, title: str, status: int, detail: str
) -> JSONResponse:
    """A problem raised by the database. A refused value (422) carries the first line
    of the database's own message; an unavailable database (503) carries nothing of
    it, since connection errors name the database's host and port: that goes to the
    log, for the operator, not to whoever sent the request."""
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    if status == 503:
        logger.warning(
            "database unavailable for %s %s: %s", request.method, request.url.path, reason
        )
    else:
        detail = f"{detail}: {reason}"
    return problem_response(
        Problem(title=title, status=status, detail=detail, instance=request.url.path),
        headers={"Retry-After": "1"} if status == 503 else None,
    )


async def _data_error(request: Request, exc: Exception) -> JSONResponse:
    # The database refused a value (e.g. a NUL byte in a query parameter, a number out
    # of the column's range): the caller's input, not a server fault. The session is
    # closed by its dependency, so nothing of the request was stored.
    assert isinstance(exc, DataError)
    return _database_problem(
        request,
        exc,
        title="Invalid input",
        status=422,
        detail="the database cannot store or compare a value of this request",
    )


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    # The database could not be reached or gave up (a restart, a failover, too many
    # connections): nothing of the request was stored, and trying again later may work.
    return _database_problem(
        request,
        exc,
        title="Database unavailable",
        status=503,
        detail="the database did not answer this request, retry later",
    )


def problem_doc(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description, "content": {PROBLEM_MEDIA_TYPE: {}}}


# Documented on every API route: what a client must be ready for.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: problem_doc("No or invalid credentials"),
    403: problem_doc("The caller's role lacks the permission this route needs"),
    422: problem_doc("Invalid input; `errors` names each field and the reason"),
}


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(DatabaseOperationalError, _database_unavailable)
    app.add_exception_handler(psycopg.OperationalError, _database_unavailable)
