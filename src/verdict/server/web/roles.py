"""The roles pages: what each role allows (``/roles``).

The list shows every role, built-in and custom, with its permissions by resource; a
role's page shows them as a grid (resource x action). A custom role is created and
edited in the same grid, one labelled checkbox per permission; built-in roles are read
only, as the API has them.

A permission the signed-in user does not hold is not offered: its box is shown
disabled, and when the role already has it a hidden field keeps it, so saving the form
never drops what the user could not have granted. The service refuses anyway, as it
would through the API (``grants.py``): nobody hands out a permission they lack.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from verdict.server.api.pagination import PageRequest
from verdict.server.errors import DomainError
from verdict.server.identity import service
from verdict.server.identity.auth import Principal
from verdict.server.identity.models import Role
from verdict.server.identity.permissions import ACTIONS, RESOURCES, permission_name
from verdict.server.identity.schemas import RoleCreate, RoleUpdate
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

__all__ = ["RESOURCE_LABELS", "grid", "router"]

router = APIRouter(include_in_schema=False)

RESOURCE_LABELS = {
    "experiment": "Experiments",
    "feature_flag": "Feature flags",
    "segment": "Segments",
    "metric": "Metrics",
    "environment": "Environments",
    "user": "Users",
    "role": "Roles",
    "api_key": "API keys",
    "audit_log": "Audit log",
    "data_source": "Data sources",
}
_ROLE_FIELDS = {"name", "description", "permissions"}
_ANY = (DomainError,)  # every refusal of the identity service is shown on the page


def _describe(error: ValidationError | DomainError) -> FieldErrors:
    return field_errors(error, _ROLE_FIELDS)


@dataclass(frozen=True, slots=True)
class Cell:
    """One permission in the grid."""

    resource: str
    action: str
    name: str  # resource:action, the form's value
    checked: bool
    offered: bool  # the signed-in user holds it, so may grant or remove it


@dataclass(frozen=True, slots=True)
class GridRow:
    resource: str
    label: str
    cells: tuple[Cell, ...]


def grid(checked: Iterable[str], held: frozenset[str]) -> list[GridRow]:
    """The permission grid: one row per resource, one cell per action."""
    chosen = set(checked)
    return [
        GridRow(
            resource=resource,
            label=RESOURCE_LABELS.get(resource, resource),
            cells=tuple(
                Cell(
                    resource=resource,
                    action=action,
                    name=permission_name(resource, action),
                    checked=permission_name(resource, action) in chosen,
                    offered=permission_name(resource, action) in held,
                )
                for action in ACTIONS
            ),
        )
        for resource in RESOURCES
    ]


def _names(role: Role) -> list[str]:
    return sorted(permission_name(p.resource, p.action) for p in role.permissions)


def _summary(role: Role) -> list[tuple[str, str]]:
    """(resource label, its actions) for each resource the role reaches."""
    names = set(_names(role))
    rows = []
    for resource in RESOURCES:
        actions = [a for a in ACTIONS if permission_name(resource, a) in names]
        if actions:
            rows.append((RESOURCE_LABELS.get(resource, resource), ", ".join(actions)))
    return rows


@router.get("/roles")
def list_roles(
    request: Request,
    principal: PageUser,
    db: Db,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    require(principal, "role", "read")
    # The few built-in roles head the first page; the custom ones are paged after them.
    built_in: Sequence[Role] = []
    if cursor is None:
        built_in, _ = service.list_roles(
            db, page=PageRequest(limit=PAGE_SIZE, cursor=None, sort="name"), builtin=True
        )
    custom, next_cursor = service.list_roles(
        db, page=PageRequest(limit=PAGE_SIZE, cursor=cursor, sort="name"), builtin=False
    )
    roles = [*built_in, *custom]
    every = len(RESOURCES) * len(ACTIONS)
    return render(
        request,
        "roles/list.html",
        {
            "roles": [(role, _summary(role), len(role.permissions) == every) for role in roles],
            **page_urls("/roles", {}, cursor=cursor, next_cursor=next_cursor),
        },
    )


def _role_form(
    request: Request,
    principal: Principal,
    *,
    form: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    form = form or {"name": "", "description": "", "permissions": []}
    return render(
        request,
        "roles/new.html",
        {
            "form": form,
            "errors": errors or {},
            "grid": grid(form["permissions"], principal.permissions),
        },
        status_code=status_code,
    )


@router.get("/roles/new")
def new_role(request: Request, principal: PageUser) -> HTMLResponse:
    require(principal, "role", "create")
    return _role_form(request, principal)


@router.post("/roles/new")
def create_role(
    request: Request,
    principal: PageUser,
    db: Db,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    name: Annotated[str, Form(max_length=100)] = "",
    description: Annotated[str, Form(max_length=2000)] = "",
    permissions: Annotated[list[str] | None, Form()] = None,
) -> Response:
    check_csrf(request, csrf_token)
    require(principal, "role", "create")
    chosen = sorted(set(permissions or []))[: len(RESOURCES) * len(ACTIONS) + 1]
    form = {"name": name, "description": description, "permissions": chosen}
    body = {"name": name, "description": description.strip() or None, "permissions": chosen}

    def created(data: RoleCreate) -> Response:
        role = service.create_role(db, actor=principal, data=data)
        return RedirectResponse(f"/roles/{role.id}?done=created", status_code=303)

    def again(errors: FieldErrors, status_code: int) -> Response:
        return _role_form(request, principal, form=form, errors=errors, status_code=status_code)

    return submit(db, RoleCreate.model_validate, body, created, again, _describe, refusals=_ANY)


def _role_page(
    request: Request,
    principal: Principal,
    role: Role,
    *,
    form: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None,
    status_code: int = 200,
    done: str | None = None,
) -> HTMLResponse:
    form = form or {"description": role.description or "", "permissions": _names(role)}
    editable = not role.is_builtin and principal.can("role", "update")
    return render(
        request,
        "roles/detail.html",
        {
            "role": role,
            "form": form,
            "errors": errors or {},
            "editable": editable,
            "deletable": not role.is_builtin and principal.can("role", "delete"),
            "grid": grid(form["permissions"], principal.permissions if editable else frozenset()),
            "version": role.version,
            "done": done,
        },
        status_code=status_code,
    )


@router.get("/roles/{role_id}")
def show_role(
    request: Request,
    role_id: str,
    principal: PageUser,
    db: Db,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    require(principal, "role", "read")
    role = service.get_role(db, role_id=parse_id(role_id, "role"))
    return _role_page(request, principal, role, done=done)


@router.post("/roles/{role_id}")
def edit_role(
    request: Request,
    role_id: str,
    principal: PageUser,
    db: Db,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    version: Annotated[int, Form(ge=0)] = 0,
    description: Annotated[str, Form(max_length=2000)] = "",
    permissions: Annotated[list[str] | None, Form()] = None,
) -> Response:
    check_csrf(request, csrf_token)
    require(principal, "role", "update")
    role = service.get_role(db, role_id=parse_id(role_id, "role"))
    chosen = sorted(set(permissions or []))[: len(RESOURCES) * len(ACTIONS) + 1]
    form = {"description": description, "permissions": chosen}
    body = {"description": description.strip() or None, "permissions": chosen}

    def saved(data: RoleUpdate) -> Response:
        service.update_role(
            db, actor=principal, role_id=role.id, data=data, if_match=if_match(version)
        )
        return RedirectResponse(f"/roles/{role.id}?done=saved", status_code=303)

    def again(errors: FieldErrors, status_code: int) -> Response:
        current = service.get_role(db, role_id=role.id)
        return _role_page(
            request, principal, current, form=form, errors=errors, status_code=status_code
        )

    return submit(db, RoleUpdate.model_validate, body, saved, again, _describe, refusals=_ANY)


@router.post("/roles/{role_id}/delete")
def delete_role(
    request: Request,
    role_id: str,
    principal: PageUser,
    db: Db,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    version: Annotated[int, Form(ge=0)] = 0,
) -> Response:
    check_csrf(request, csrf_token)
    require(principal, "role", "delete")
    role = service.get_role(db, role_id=parse_id(role_id, "role"))

    def deleted() -> Response:
        service.delete_role(db, actor=principal, role_id=role.id, if_match=if_match(version))
        return RedirectResponse("/roles", status_code=303)

    def refused(error: DomainError) -> Response:
        current = service.get_role(db, role_id=role.id)
        return _role_page(
            request,
            principal,
            current,
            errors={GENERAL: error.detail},
            status_code=status_of(error),
        )

    return refusable(db, deleted, refused, _ANY)
