"""Environment pages: the list in display order, a new environment, one environment
(read, edit, delete).

Pages call :mod:`verdict.server.environments.service`, as the API does. An environment
that flags, overrides, API keys or experiments still use is not deleted; the page shows
what blocks it. The create form lives at ``/environments/-/new``: a key starts with a
letter, so that path is never an environment's.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import Field, ValidationError
from sqlalchemy.orm import Session

from verdict.server.api.pagination import PageRequest
from verdict.server.db import get_db
from verdict.server.environments import service
from verdict.server.environments.models import Environment
from verdict.server.environments.schemas import EnvironmentCreate, EnvironmentUpdate
from verdict.server.errors import (
    ConflictError,
    InvalidInputError,
    StaleVersionError,
    VersionRequiredError,
)
from verdict.server.problems import status_of
from verdict.server.web.admin_forms import (
    PAGE_SIZE,
    FieldErrors,
    PageForm,
    domain_errors,
    if_match,
    optional,
    require,
    validation_errors,
)
from verdict.server.web.session import PageUser, check_csrf
from verdict.server.web.templating import render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
Db = Annotated[Session, Depends(get_db)]
EnvironmentKey = Annotated[str, Path(min_length=1, max_length=64)]
_FIELDS = ("key", "name", "description", "sort_order")
_REFUSALS = (InvalidInputError, ConflictError, StaleVersionError, VersionRequiredError)


class EnvironmentForm(PageForm):
    key: str = Field(default="", max_length=200)
    name: str = Field(default="", max_length=1000)
    description: str = Field(default="", max_length=20_000)
    sort_order: str = Field(default="", max_length=50)
    version: str = Field(default="", max_length=20)


def _values(environment: Environment) -> dict[str, Any]:
    return {
        "key": environment.key,
        "name": environment.name,
        "description": environment.description or "",
        "sort_order": str(environment.sort_order),
        "version": str(environment.version),
    }


def _typed(form: EnvironmentForm) -> dict[str, Any]:
    return form.model_dump(exclude={"csrf_token"})


def _body(form: EnvironmentForm) -> dict[str, Any]:
    return {
        "name": form.name.strip(),
        "description": optional(form.description),
        "sort_order": optional(form.sort_order),
    }


@router.get("/environments")
def environment_list(
    request: Request,
    user: PageUser,
    db: Db,
    q: Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    deleted: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    require(user, "environment", "read")
    text = (q or "").strip() or None
    found, next_cursor = service.list_environments(
        db, page=PageRequest(limit=PAGE_SIZE, cursor=cursor, sort="sort_order"), text=text
    )
    kept = {"q": text} if text else {}
    return render(
        request,
        "environments/list.html",
        {
            "environments": found,
            "q": text or "",
            "deleted": deleted,
            "next_url": f"/environments?{urlencode({**kept, 'cursor': next_cursor})}"
            if next_cursor
            else None,
            "first_url": f"/environments?{urlencode(kept)}" if cursor else None,
        },
    )


def _new_page(
    request: Request, *, values: dict[str, Any], errors: FieldErrors, status_code: int = 200
) -> HTMLResponse:
    return render(
        request,
        "environments/new.html",
        {"values": values, "errors": errors},
        status_code=status_code,
    )


@router.get("/environments/-/new")
def new_environment_form(request: Request, user: PageUser) -> HTMLResponse:
    require(user, "environment", "create")
    return _new_page(request, values={}, errors={})


@router.post("/environments/-/new")
def create_environment(
    request: Request, user: PageUser, db: Db, form: Annotated[EnvironmentForm, Form()]
) -> Response:
    check_csrf(request, form.csrf_token)
    require(user, "environment", "create")
    try:
        data = EnvironmentCreate.model_validate({"key": form.key.strip(), **_body(form)})
    except ValidationError as error:
        errors = validation_errors(error, _FIELDS)
        return _new_page(request, values=_typed(form), errors=errors, status_code=422)
    try:
        environment = service.create_environment(db, actor=user, data=data)
    except _REFUSALS as refusal:
        db.rollback()
        errors = domain_errors(refusal, _FIELDS)
        return _new_page(
            request, values=_typed(form), errors=errors, status_code=status_of(refusal)
        )
    return RedirectResponse(f"/environments/{environment.key}?saved=created", status_code=303)


def _detail(
    request: Request,
    environment: Environment,
    *,
    values: dict[str, Any] | None = None,
    errors: FieldErrors | None = None,
    saved: str | None = None,
    delete_error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "environments/detail.html",
        {
            "environment": environment,
            "values": values if values is not None else _values(environment),
            "errors": errors or {},
            "saved": saved,
            "delete_error": delete_error,
        },
        status_code=status_code,
    )


@router.get("/environments/{key}")
def environment_detail(
    request: Request,
    user: PageUser,
    db: Db,
    key: EnvironmentKey,
    saved: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    require(user, "environment", "read")
    return _detail(request, service.get_environment(db, key=key), saved=saved)


@router.post("/environments/{key}")
def update_environment(
    request: Request,
    user: PageUser,
    db: Db,
    key: EnvironmentKey,
    form: Annotated[EnvironmentForm, Form()],
) -> Response:
    check_csrf(request, form.csrf_token)
    require(user, "environment", "update")
    environment = service.get_environment(db, key=key)
    values = {**_typed(form), "key": environment.key}
    try:
        data = EnvironmentUpdate.model_validate(_body(form))
    except ValidationError as error:
        errors = validation_errors(error, _FIELDS)
        return _detail(request, environment, values=values, errors=errors, status_code=422)
    try:
        service.update_environment(
            db, actor=user, key=key, data=data, if_match=if_match(form.version)
        )
    except _REFUSALS as refusal:
        db.rollback()
        environment = service.get_environment(db, key=key)
        errors = domain_errors(refusal, _FIELDS)
        return _detail(
            request, environment, values=values, errors=errors, status_code=status_of(refusal)
        )
    return RedirectResponse(f"/environments/{key}?saved=updated", status_code=303)


@router.post("/environments/{key}/delete")
def delete_environment(
    request: Request,
    user: PageUser,
    db: Db,
    key: EnvironmentKey,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    version: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    check_csrf(request, csrf_token)
    require(user, "environment", "delete")
    service.get_environment(db, key=key)
    try:
        service.delete_environment(db, actor=user, key=key, if_match=if_match(version))
    except (ConflictError, StaleVersionError, VersionRequiredError) as refusal:
        db.rollback()
        return _detail(
            request,
            service.get_environment(db, key=key),
            delete_error=refusal.detail,
            status_code=status_of(refusal),
        )
    return RedirectResponse("/environments?deleted=" + key, status_code=303)
