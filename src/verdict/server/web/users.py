"""The users pages: who may sign in, with which roles (``/users``).

A list (searchable, paged), a form to create a user (the API's rules: a plain ASCII
username, an e-mail address, a password of 8 to 1,024 characters) and a page per user
to edit their e-mail, name, password and roles, and to deactivate or reactivate them.

What the signed-in user may not do is not offered: the edit form only when they hold
``user:update`` and every permission the user holds (else the service refuses, as it
would through the API); only the roles whose permissions they hold; the superuser flag
only to someone holding every permission; no deactivating oneself. Every post checks
its CSRF token first and goes through :mod:`verdict.server.identity.service`, which
checks again, so a forged post is refused as the API would refuse it.

The roles pages are in :mod:`verdict.server.web.roles`; the helpers both use are here.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from verdict.server.api.pagination import PageRequest
from verdict.server.api.versioning import etag
from verdict.server.db import get_db
from verdict.server.errors import DomainError, NotFoundError, PermissionDeniedError
from verdict.server.identity import service
from verdict.server.identity.auth import Principal
from verdict.server.identity.grants import EVERY_PERMISSION, granted_by_roles, held_by
from verdict.server.identity.models import Role, User
from verdict.server.identity.schemas import UserCreate, UserUpdate
from verdict.server.problems import status_of
from verdict.server.web.session import PageUser, check_csrf
from verdict.server.web.templating import render

__all__ = ["field_errors", "need", "parse_id", "router"]

router = APIRouter(include_in_schema=False)
Db = Annotated[Session, Depends(get_db)]

PAGE_SIZE = 50
GENERAL = "_form"  # the key of an error that names no field of the form
_ALL_ROLES = PageRequest(limit=200, cursor=None, sort="name")
_FRIENDLY = {
    ("email", "string_pattern_mismatch"): "an e-mail address such as ada@example.com",
}


# -- shared by the people pages ---------------------------------------------------------


def need(principal: Principal, resource: str, action: str) -> None:
    """Refuse (403) a page or post the signed-in user's roles do not allow."""
    if not principal.can(resource, action):
        raise PermissionDeniedError(
            f"{principal.name} lacks the permission {resource}:{action} this page needs"
        )


def parse_id(value: str, what: str) -> uuid.UUID:
    """A path's id; text that is no id is a page that does not exist (404)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFoundError(f"no {what} with id {value[:64]!r}") from None


def field_errors(error: ValidationError | DomainError, fields: set[str]) -> dict[str, str]:
    """Each error next to the form field it names, the rest under ``GENERAL``.

    A schema names a field by its location (``roles``, ``permissions.2``), a service as
    the API does (``body.email``); both become the form field's name."""
    found: dict[str, str] = {}

    def add(location: str, reason: str) -> None:
        name = location.removeprefix("body.").split(".")[0]
        key = name if name in fields else GENERAL
        if key == GENERAL and name and name not in ("path", "header", "query"):
            reason = f"{name}: {reason}"
        found[key] = f"{found[key]}; {reason}" if key in found else reason

    if isinstance(error, ValidationError):
        for item in error.errors():
            name = str(item["loc"][0]) if item["loc"] else ""
            reason = _FRIENDLY.get((name, item["type"]), item["msg"])
            add(".".join(str(part) for part in item["loc"]), reason.removeprefix("Value error, "))
        return found
    problems = getattr(error, "errors", None) or [(error.field or "", error.detail)]
    for location, reason in problems:
        add(location or "", reason)
    return found


def page_links(request: Request, cursor: str | None, **query: str | None) -> str | None:
    """The URL of the next page: the same filters, the next cursor."""
    if cursor is None:
        return None
    kept = {name: value for name, value in query.items() if value}
    return f"{request.url.path}?{urlencode({**kept, 'cursor': cursor})}"


# -- users ------------------------------------------------------------------------------

_USER_FIELDS = {
    "username",
    "email",
    "full_name",
    "password",
    "password_again",
    "roles",
    "is_superuser",
    "is_active",
}


def _load_roles(db: Session, users: Sequence[User]) -> None:
    """Load the roles of a page of users in one query rather than one per row."""
    if users:
        db.scalars(
            select(User).where(User.id.in_([u.id for u in users])).options(selectinload(User.roles))
        ).all()


def _all_roles(db: Session) -> list[Role]:
    roles, _ = service.list_roles(db, page=_ALL_ROLES)
    return list(roles)


def _grantable(principal: Principal, roles: list[Role]) -> list[Role]:
    """The roles the signed-in user may hand out: those whose permissions they hold."""
    return [role for role in roles if granted_by_roles([role]) <= principal.permissions]


def _may_manage(principal: Principal, user: User) -> bool:
    return principal.can("user", "update") and held_by(user) <= principal.permissions


@router.get("/users")
def list_users(
    request: Request,
    principal: PageUser,
    db: Db,
    q: Annotated[str, Query(max_length=100)] = "",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    need(principal, "user", "read")
    users, next_cursor = service.list_users(
        db,
        page=PageRequest(limit=PAGE_SIZE, cursor=cursor, sort="username"),
        text=q.strip() or None,
    )
    _load_roles(db, users)
    return render(
        request,
        "users/list.html",
        {
            "users": users,
            "q": q,
            "first_page": cursor is None,
            "next_url": page_links(request, next_cursor, q=q),
        },
    )


def _user_form(
    request: Request,
    db: Session,
    principal: Principal,
    *,
    form: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "users/new.html",
        {
            "form": form or {"roles": []},
            "errors": errors or {},
            "roles": _grantable(principal, _all_roles(db)),
            "offer_superuser": principal.permissions >= EVERY_PERMISSION,
        },
        status_code=status_code,
    )


@router.get("/users/new")
def new_user(request: Request, principal: PageUser, db: Db) -> HTMLResponse:
    need(principal, "user", "create")
    return _user_form(request, db, principal)


@router.post("/users/new")
def create_user(
    request: Request,
    principal: PageUser,
    db: Db,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    username: Annotated[str, Form(max_length=150)] = "",
    email: Annotated[str, Form(max_length=320)] = "",
    full_name: Annotated[str, Form(max_length=255)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    password_again: Annotated[str, Form(max_length=1024)] = "",
    roles: Annotated[list[str] | None, Form()] = None,
    is_superuser: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    check_csrf(request, csrf_token)
    need(principal, "user", "create")
    chosen = (roles or [])[:200]
    form = {
        "username": username,
        "email": email,
        "full_name": full_name,
        "roles": chosen,
        "is_superuser": bool(is_superuser),
    }
    errors: dict[str, str] = {}
    data: UserCreate | None = None
    try:
        data = UserCreate.model_validate(
            {
                "username": username,
                "email": email,
                "password": password,
                "full_name": full_name.strip() or None,
                "roles": chosen,
                "is_superuser": bool(is_superuser),
            }
        )
    except ValidationError as error:
        errors = field_errors(error, _USER_FIELDS)
    if password != password_again:
        errors["password_again"] = "the two passwords differ"
    if data is None or errors:
        return _user_form(request, db, principal, form=form, errors=errors, status_code=422)
    try:
        user = service.create_user(db, actor=principal, data=data)
    except DomainError as error:
        db.rollback()
        errors = field_errors(error, _USER_FIELDS)
        return _user_form(
            request, db, principal, form=form, errors=errors, status_code=status_of(error)
        )
    return RedirectResponse(f"/users/{user.id}?done=created", status_code=303)


def _user_page(
    request: Request,
    db: Session,
    principal: Principal,
    user: User,
    *,
    form: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
    status_code: int = 200,
    done: str | None = None,
) -> HTMLResponse:
    manageable = _may_manage(principal, user)
    current = {
        "email": user.email,
        "full_name": user.full_name or "",
        "roles": sorted(role.name for role in user.roles),
        "is_superuser": user.is_superuser,
    }
    return render(
        request,
        "users/detail.html",
        {
            "person": user,
            "form": form or current,
            "errors": errors or {},
            "editable": manageable,
            "may_toggle": manageable and principal.owner_id != user.id,
            "roles": _grantable(principal, _all_roles(db)) if manageable else [],
            "offer_superuser": principal.permissions >= EVERY_PERMISSION,
            "version": user.version,
            "done": done,
        },
        status_code=status_code,
    )


@router.get("/users/{user_id}")
def show_user(
    request: Request,
    user_id: str,
    principal: PageUser,
    db: Db,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    need(principal, "user", "read")
    user = service.get_user(db, user_id=parse_id(user_id, "user"))
    return _user_page(request, db, principal, user, done=done)


@router.post("/users/{user_id}")
def edit_user(
    request: Request,
    user_id: str,
    principal: PageUser,
    db: Db,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    version: Annotated[int, Form(ge=0)] = 0,
    email: Annotated[str, Form(max_length=320)] = "",
    full_name: Annotated[str, Form(max_length=255)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    password_again: Annotated[str, Form(max_length=1024)] = "",
    roles: Annotated[list[str] | None, Form()] = None,
    is_superuser: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    check_csrf(request, csrf_token)
    need(principal, "user", "update")
    user = service.get_user(db, user_id=parse_id(user_id, "user"))
    chosen = (roles or [])[:200]
    changes: dict[str, Any] = {
        "email": email,
        "full_name": full_name.strip() or None,
        "roles": chosen,
    }
    if principal.permissions >= EVERY_PERMISSION:  # the only ones offered the flag
        changes["is_superuser"] = bool(is_superuser)
    if password or password_again:
        changes["password"] = password
    form = {**changes, "full_name": full_name, "is_superuser": bool(is_superuser)}
    errors: dict[str, str] = {}
    data: UserUpdate | None = None
    try:
        data = UserUpdate.model_validate(changes)
    except ValidationError as error:
        errors = field_errors(error, _USER_FIELDS)
    if password != password_again:
        errors["password_again"] = "the two passwords differ"
    if data is None or errors:
        return _user_page(request, db, principal, user, form=form, errors=errors, status_code=422)
    try:
        service.update_user(db, actor=principal, user_id=user.id, data=data, if_match=etag(version))
    except DomainError as error:
        db.rollback()
        return _user_page(
            request,
            db,
            principal,
            service.get_user(db, user_id=user.id),
            form=form,
            errors=field_errors(error, _USER_FIELDS),
            status_code=status_of(error),
        )
    return RedirectResponse(f"/users/{user.id}?done=saved", status_code=303)


@router.post("/users/{user_id}/active")
def set_user_active(
    request: Request,
    user_id: str,
    principal: PageUser,
    db: Db,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    version: Annotated[int, Form(ge=0)] = 0,
    active: Annotated[str, Form(pattern="^(true|false)$")] = "false",
) -> Response:
    check_csrf(request, csrf_token)
    need(principal, "user", "update")
    user = service.get_user(db, user_id=parse_id(user_id, "user"))
    try:
        service.update_user(
            db,
            actor=principal,
            user_id=user.id,
            data=UserUpdate(is_active=active == "true"),
            if_match=etag(version),
        )
    except DomainError as error:
        db.rollback()
        return _user_page(
            request,
            db,
            principal,
            service.get_user(db, user_id=user.id),
            errors={GENERAL: error.detail},
            status_code=status_of(error),
        )
    done = "reactivated" if active == "true" else "deactivated"
    return RedirectResponse(f"/users/{user.id}?done={done}", status_code=303)
