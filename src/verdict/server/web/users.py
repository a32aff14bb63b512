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

The roles pages are in :mod:`verdict.server.web.roles`; the helpers both use are in
:mod:`verdict.server.web.forms`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from verdict.server.api.pagination import PageRequest
from verdict.server.errors import DomainError
from verdict.server.identity import service
from verdict.server.identity.auth import Principal
from verdict.server.identity.grants import EVERY_PERMISSION, granted_by_roles, held_by
from verdict.server.identity.models import Role, User
from verdict.server.identity.schemas import UserCreate, UserUpdate
from verdict.server.problems import status_of
from verdict.server.web.forms import (
    GENERAL,
    PAGE_SIZE,
    FieldErrors,
    field_errors,
    if_match,
    page_urls,
    parse_id,
    refusable,
    require,
    submit,
)
from verdict.server.web.params import Db
from verdict.server.web.session import PageUser, check_csrf
from verdict.server.web.templating import render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

_ALL_ROLES = PageRequest(limit=200, cursor=None, sort="name")


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


_ANY = (DomainError,)  # every refusal of the identity service is shown on the page


def _describe(error: ValidationError | DomainError) -> FieldErrors:
    return field_errors(error, _USER_FIELDS)


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
    require(principal, "user", "read")
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
            **page_urls("/users", {"q": q}, cursor=cursor, next_cursor=next_cursor),
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
    require(principal, "user", "create")
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
    require(principal, "user", "create")
    chosen = (roles or [])[:200]
    form = {
        "username": username,
        "email": email,
        "full_name": full_name,
        "roles": chosen,
        "is_superuser": bool(is_superuser),
    }
    body = {
        "username": username,
        "email": email,
        "password": password,
        "full_name": full_name.strip() or None,
        "roles": chosen,
        "is_superuser": bool(is_superuser),
    }
    errors: FieldErrors = {}
    if password != password_again:
        errors["password_again"] = "the two passwords differ"

    def created(data: UserCreate) -> Response:
        user = service.create_user(db, actor=principal, data=data)
        return RedirectResponse(f"/users/{user.id}?done=created", status_code=303)

    def again(errors: FieldErrors, status_code: int) -> Response:
        return _user_form(request, db, principal, form=form, errors=errors, status_code=status_code)

    return submit(
        db, UserCreate.model_validate, body, created, again, _describe, errors=errors, refusals=_ANY
    )


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
    require(principal, "user", "read")
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
    require(principal, "user", "update")
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
    errors: FieldErrors = {}
    if password != password_again:
        errors["password_again"] = "the two passwords differ"

    def saved(data: UserUpdate) -> Response:
        service.update_user(
            db, actor=principal, user_id=user.id, data=data, if_match=if_match(version)
        )
        return RedirectResponse(f"/users/{user.id}?done=saved", status_code=303)

    def again(errors: FieldErrors, status_code: int) -> Response:
        current = service.get_user(db, user_id=user.id)
        return _user_page(
            request, db, principal, current, form=form, errors=errors, status_code=status_code
        )

    return submit(
        db,
        UserUpdate.model_validate,
        changes,
        saved,
        again,
        _describe,
        errors=errors,
        refusals=_ANY,
    )


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
    require(principal, "user", "update")
    user = service.get_user(db, user_id=parse_id(user_id, "user"))
    done = "reactivated" if active == "true" else "deactivated"

    def switched() -> Response:
        service.update_user(
            db,
            actor=principal,
            user_id=user.id,
            data=UserUpdate(is_active=active == "true"),
            if_match=if_match(version),
        )
        return RedirectResponse(f"/users/{user.id}?done={done}", status_code=303)

    def refused(error: DomainError) -> Response:
        current = service.get_user(db, user_id=user.id)
        return _user_page(
            request,
            db,
            principal,
            current,
            errors={GENERAL: error.detail},
            status_code=status_of(error),
        )

    return refusable(db, switched, refused, _ANY)
