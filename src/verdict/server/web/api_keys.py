"""API key pages: the list, a new key (its secret shown once), revoking a key.

Pages call :mod:`verdict.server.identity.keys`, as the API does. A new key's secret is
only in the answer to the form that created it: it is not stored (only its hash is),
not put in a URL, and the answer is not cached, so it cannot be shown again; the page
says so. Revoking is for good, and the browser asks first.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import Field, TypeAdapter, ValidationError
from sqlalchemy.orm import Session

from verdict.server.api.pagination import MAX_LIMIT, PageRequest
from verdict.server.db import utcnow
from verdict.server.environments.service import list_environments
from verdict.server.errors import ConflictError, DomainError
from verdict.server.identity import keys
from verdict.server.identity.models import ApiKey, ApiKeyKind
from verdict.server.identity.schemas import ApiKeyCreate
from verdict.server.web.forms import (
    PAGE_SIZE,
    FieldErrors,
    PageForm,
    form_errors,
    optional,
    page_urls,
    require,
    submit,
)
from verdict.server.web.params import Db
from verdict.server.web.session import PageUser, check_csrf
from verdict.server.web.templating import render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_FIELDS = ("name", "kind", "environment", "expires_at")
_CREATE = TypeAdapter(ApiKeyCreate)
_KINDS = [
    (ApiKeyKind.SERVER.value, "Server: SDK configuration and events, one environment"),
    (ApiKeyKind.CLIENT.value, "Client: evaluation only, one environment"),
    (ApiKeyKind.ADMIN.value, "Admin: the management API, every environment"),
]


class KeyForm(PageForm):
    name: str = Field(default="", max_length=1000)
    kind: str = Field(default="", max_length=20)
    environment: str = Field(default="", max_length=200)
    expires_at: str = Field(default="", max_length=50)


def _status(key: ApiKey, now: dt.datetime) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "active"


@router.get("/api-keys")
def key_list(
    request: Request,
    user: PageUser,
    db: Db,
    kind: Annotated[str, Query(max_length=20)] = "",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    revoked: Annotated[str | None, Query(max_length=32)] = None,
) -> HTMLResponse:
    require(user, "api_key", "read")
    chosen = ApiKeyKind(kind) if kind in set(ApiKeyKind) else None
    found, next_cursor = keys.list_keys(
        db, page=PageRequest(limit=PAGE_SIZE, cursor=cursor, sort="-created_at"), kind=chosen
    )
    now = utcnow()
    kind = chosen.value if chosen else ""
    return render(
        request,
        "api_keys/list.html",
        {
            "rows": [(key, _status(key, now)) for key in found],
            "kind": kind,
            "kinds": _KINDS,
            "revoked": revoked,
            **page_urls("/api-keys", {"kind": kind}, cursor=cursor, next_cursor=next_cursor),
        },
    )


def _new_page(
    request: Request,
    db: Session,
    *,
    values: dict[str, Any],
    errors: FieldErrors,
    status_code: int = 200,
) -> HTMLResponse:
    environments, _ = list_environments(
        db, page=PageRequest(limit=MAX_LIMIT, cursor=None, sort="sort_order")
    )
    return render(
        request,
        "api_keys/new.html",
        {
            "values": values,
            "errors": errors,
            "kinds": _KINDS,
            "environments": [("", "None (admin keys)")]
            + [(e.key, f"{e.name} ({e.key})") for e in environments],
        },
        status_code=status_code,
    )


@router.get("/api-keys/new")
def new_key_form(request: Request, user: PageUser, db: Db) -> HTMLResponse:
    require(user, "api_key", "create")
    return _new_page(request, db, values={"kind": ApiKeyKind.SERVER.value}, errors={})


def _expiry(text: str, errors: FieldErrors) -> dt.datetime | None:
    """The form's expiry (a local date and time input, read as UTC)."""
    value = optional(text)
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        errors["expires_at"] = "not a date and time (YYYY-MM-DDTHH:MM, in UTC)"
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


@router.post("/api-keys/new")
def create_key(
    request: Request, user: PageUser, db: Db, form: Annotated[KeyForm, Form()]
) -> Response:
    check_csrf(request, form.csrf_token)
    require(user, "api_key", "create")
    values = form.model_dump(exclude={"csrf_token"})
    errors: FieldErrors = {}
    expires_at = _expiry(form.expires_at, errors)
    body = {
        "name": form.name.strip(),
        "kind": form.kind,
        "environment": optional(form.environment),
        "expires_at": expires_at,
    }
    body = {name: value for name, value in body.items() if value is not None}  # left out

    def created(data: ApiKeyCreate) -> Response:
        key, secret = keys.create_key(
            db,
            actor=user,
            name=data.name,
            kind=data.kind,
            environment=data.environment,
            expires_at=data.expires_at,
        )
        # The one answer that carries the secret: rendered here, never redirected to.
        return render(
            request, "api_keys/created.html", {"key": key, "secret": secret}, status_code=201
        )

    def again(errors: FieldErrors, status_code: int) -> Response:
        return _new_page(request, db, values=values, errors=errors, status_code=status_code)

    def describe(error: ValidationError | DomainError) -> FieldErrors:
        return form_errors(error, _FIELDS)

    return submit(db, _CREATE.validate_python, body, created, again, describe, errors=errors)


@router.post("/api-keys/{key_id}/revoke")
def revoke_key(
    request: Request,
    user: PageUser,
    db: Db,
    key_id: uuid.UUID,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_csrf(request, csrf_token)
    require(user, "api_key", "delete")
    try:
        key = keys.revoke_key(db, actor=user, key_id=key_id)
    except ConflictError:  # revoked meanwhile: the list shows it so
        db.rollback()
        key = keys.get_key(db, key_id=key_id)
    return RedirectResponse(f"/api-keys?{urlencode({'revoked': key.prefix})}", status_code=303)
