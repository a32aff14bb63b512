"""The forms of a flag's page that change the flag itself: its definition (name,
description, default value, variants, tags, owner), archiving and restoring it, and
deleting it.

Each handler checks the form's CSRF token, then the user's permission
(``feature_flag:update``, or ``feature_flag:delete`` to delete), and calls the service
the API calls with the version the form was rendered from as ``If-Match``. The
definition form is read with the create form's text formats (values as JSON, or as
typed for string flags; variants one per line as ``key = value``; tags separated by
commas). A refusal re-renders the flag's page: errors next to the fields they name
(422), a notice when the flag changed meanwhile (412), or the reason an archive,
restore or delete is refused (409); nothing is half-written.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from verdict.server.api.versioning import etag
from verdict.server.errors import (
    ConflictError,
    DomainError,
    InvalidInputError,
    StaleVersionError,
)
from verdict.server.flags import service
from verdict.server.flags.schemas import FlagUpdate
from verdict.server.problems import status_of
from verdict.server.web.flag_forms import (
    GENERAL,
    FormErrors,
    UnreadableFieldError,
    add_domain_error,
    add_validation_error,
    parse_value,
    parse_variants,
)
from verdict.server.web.flags import detail_page, stale_answer
from verdict.server.web.forms import require
from verdict.server.web.params import Db, EnvironmentField, FlagKey, Token, Version
from verdict.server.web.session import PageUser, check_csrf

__all__ = ["router"]

router = APIRouter(prefix="/flags", include_in_schema=False)

_DEFINITION_FIELDS = ("name", "description", "default_value", "variants", "tags", "owner")


def _back(key: str, environment: str, saved: str, anchor: str) -> RedirectResponse:
    query = {"environment": environment, "saved": saved} if environment else {"saved": saved}
    return RedirectResponse(f"/flags/{key}?{urlencode(query)}#{anchor}", status_code=303)


@router.post("/{key}/definition")
def save_definition(
    request: Request,
    user: PageUser,
    db: Db,
    key: FlagKey,
    csrf_token: Token = "",
    name: Annotated[str, Form(max_length=255)] = "",
    description: Annotated[str, Form(max_length=10_000)] = "",
    default_value: Annotated[str, Form(max_length=100_000)] = "",
    variants: Annotated[str, Form(max_length=200_000)] = "",
    tags: Annotated[str, Form(max_length=2000)] = "",
    owner: Annotated[str, Form(max_length=255)] = "",
    version: Version = 0,
    environment: EnvironmentField = "",
) -> Response:
    """Replace the flag's name, description, default value, variants, tags and owner
    (its key and value type are permanent here)."""
    check_csrf(request, csrf_token)
    require(user, "feature_flag", "update")
    typed = {
        "name": name,
        "description": description,
        "default_value": default_value,
        "variants": variants,
        "tags": tags,
        "owner": owner,
    }
    flag = service.get_flag(db, key=key)
    errors: FormErrors = {}
    data: dict[str, Any] = {
        "name": name.strip(),
        "description": description.strip() or None,
        "tags": [tag.strip() for tag in tags.split(",") if tag.strip()],
        "owner": owner.strip() or None,
    }
    try:
        data["default_value"] = parse_value(default_value, flag.value_type)
    except UnreadableFieldError as problem:
        errors["default_value"] = [str(problem)]
    try:
        data["variants"] = parse_variants(variants, flag.value_type)
    except UnreadableFieldError as problem:
        errors["variants"] = [str(problem)]
    body = None
    try:
        body = FlagUpdate.model_validate(data)
    except ValidationError as exc:
        add_validation_error(errors, exc, _DEFINITION_FIELDS)
    if not errors and body is not None:
        try:
            service.update_flag(db, actor=user, key=key, data=body, if_match=etag(version))
        except StaleVersionError as exc:
            return stale_answer(
                request,
                db,
                exc,
                key=key,
                environment=environment or None,
                form="definition",
                typed=typed,
            )
        except (InvalidInputError, ConflictError) as exc:
            add_domain_error(errors, exc, _DEFINITION_FIELDS)
        else:
            return _back(key, environment, "definition", "definition")
    return detail_page(
        request,
        db,
        key=key,
        environment=environment or None,
        typed={"definition": typed},
        errors={"definition": errors},
        status_code=422,
    )


def _lifecycle_refused(
    request: Request, db: Session, key: str, environment: str, exc: DomainError
) -> HTMLResponse:
    """The flag's page with why archiving, restoring or deleting was refused."""
    if isinstance(exc, StaleVersionError):
        return stale_answer(
            request, db, exc, key=key, environment=environment or None, form="lifecycle", typed={}
        )
    return detail_page(
        request,
        db,
        key=key,
        environment=environment or None,
        errors={"lifecycle": {GENERAL: [exc.detail]}},
        status_code=status_of(exc),
    )


def _set_archived(
    request: Request,
    db: Session,
    user: PageUser,
    *,
    key: str,
    archived: bool,
    version: int,
    environment: str,
) -> Response:
    try:
        service.archive_flag(db, actor=user, key=key, archived=archived, if_match=etag(version))
    except (StaleVersionError, ConflictError) as exc:
        return _lifecycle_refused(request, db, key, environment, exc)
    return _back(key, environment, "archived" if archived else "restored", "lifecycle")


@router.post("/{key}/archive")
def archive(
    request: Request,
    user: PageUser,
    db: Db,
    key: FlagKey,
    csrf_token: Token = "",
    version: Version = 0,
    environment: EnvironmentField = "",
) -> Response:
    """Retire the flag: every environment's configuration leaves it out (SDKs get the
    code's fallback), and it can be restored."""
    check_csrf(request, csrf_token)
    require(user, "feature_flag", "update")
    return _set_archived(
        request, db, user, key=key, archived=True, version=version, environment=environment
    )


@router.post("/{key}/restore")
def restore(
    request: Request,
    user: PageUser,
    db: Db,
    key: FlagKey,
    csrf_token: Token = "",
    version: Version = 0,
    environment: EnvironmentField = "",
) -> Response:
    check_csrf(request, csrf_token)
    require(user, "feature_flag", "update")
    return _set_archived(
        request, db, user, key=key, archived=False, version=version, environment=environment
    )


@router.post("/{key}/delete")
def delete(
    request: Request,
    user: PageUser,
    db: Db,
    key: FlagKey,
    csrf_token: Token = "",
    version: Version = 0,
    environment: EnvironmentField = "",
) -> Response:
    """Delete the flag, its states and overrides (refused while another flag requires it)."""
    check_csrf(request, csrf_token)
    require(user, "feature_flag", "delete")
    try:
        service.delete_flag(db, actor=user, key=key, if_match=etag(version))
    except (StaleVersionError, ConflictError) as exc:
        return _lifecycle_refused(request, db, key, environment, exc)
    return RedirectResponse("/flags", status_code=303)
