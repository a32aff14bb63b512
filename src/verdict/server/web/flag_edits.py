"""The forms of a flag's page that change it: the environment's rules and rollout, its
per-unit overrides, and the flag's prerequisites.

Each handler checks the form's CSRF token, then the user's permission
(``feature_flag:update``), reads the form into the API's request schema and calls the
service the API calls, with the version the form was rendered from as ``If-Match``. A
refusal re-renders the flag's page with what was typed and the errors next to the
fields they name (422), or, when the flag changed meanwhile, with a notice saying so
(412); nothing is half-written. A success goes back to the flag's page (303).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from verdict.server.api.versioning import etag
from verdict.server.db.keys import KEY_MAX_LENGTH
from verdict.server.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    StaleVersionError,
    VersionRequiredError,
)
from verdict.server.flags import overrides, service, states
from verdict.server.flags.schemas import FlagStateIn, FlagUpdate, OverrideIn
from verdict.server.flags.storable import text_problem
from verdict.server.web.flag_forms import (
    FormErrors,
    UnreadableFieldError,
    add_domain_error,
    add_validation_error,
    parse_expiry,
    parse_json,
    parse_value,
)
from verdict.server.web.flags import RULES_MAX, detail_page, stale_answer
from verdict.server.web.forms import require
from verdict.server.web.params import Db, EnvironmentKey, FlagKey, Token, Version
from verdict.server.web.session import PageUser, check_csrf

__all__ = ["router"]

router = APIRouter(prefix="/flags", include_in_schema=False)

_STATE_FIELDS = ("rules", "rollout_percentage")
_OVERRIDE_FIELDS = ("unit_id", "value", "variant", "reason", "expires_at")


def _back(key: str, environment: str | None, saved: str, anchor: str) -> RedirectResponse:
    query = {"environment": environment, "saved": saved} if environment else {"saved": saved}
    return RedirectResponse(f"/flags/{key}?{urlencode(query)}#{anchor}", status_code=303)


def _refused(
    request: Request,
    db: Session,
    key: str,
    environment: str | None,
    form: str,
    typed: dict[str, str],
    errors: FormErrors,
) -> HTMLResponse:
    """The flag's page again, the refused form as typed with its errors (422)."""
    return detail_page(
        request,
        db,
        key=key,
        environment=environment,
        typed={form: typed},
        errors={form: errors},
        status_code=422,
    )


# -- rules and rollout ---------------------------------------------------------------


@router.post("/{key}/environments/{environment}/rules")
def save_rules(
    request: Request,
    user: PageUser,
    db: Db,
    key: FlagKey,
    environment: EnvironmentKey,
    csrf_token: Token = "",
    rules: Annotated[str, Form(max_length=RULES_MAX)] = "",
    rollout_percentage: Annotated[str, Form(max_length=20)] = "",
    version: Version = 0,
) -> Response:
    """Replace the environment's ordered rules and flag-wide rollout (the kill switch
    stays as it is: it has its own button)."""
    check_csrf(request, csrf_token)
    require(user, "feature_flag", "update")
    typed = {"rules": rules, "rollout_percentage": rollout_percentage}
    errors: FormErrors = {}
    data: dict[str, Any] = {}
    try:
        data["rules"] = parse_json(rules) if rules.strip() else []
    except UnreadableFieldError as problem:
        errors["rules"] = [str(problem)]
    if rollout_percentage.strip():
        try:
            data["rollout_percentage"] = float(rollout_percentage)
        except ValueError:
            errors["rollout_percentage"] = ["enter a number from 0 to 100, or nothing"]
    else:
        data["rollout_percentage"] = None
    current = states.get_state(db, flag_key=key, environment_key=environment)
    data["enabled"] = current.enabled
    body = None
    try:
        body = FlagStateIn.model_validate(data)
    except ValidationError as exc:
        add_validation_error(errors, exc, _STATE_FIELDS)
    if errors or body is None:
        return _refused(request, db, key, environment, "state", typed, errors)
    try:
        states.put_state(
            db,
            actor=user,
            flag_key=key,
            environment_key=environment,
            data=body,
            if_match=etag(version),
        )
    except StaleVersionError as exc:
        return stale_answer(
            request, db, exc, key=key, environment=environment, form="state", typed=typed
        )
    except (InvalidInputError, ConflictError) as exc:
        # An engine issue naming no rule field is about the rules as a whole.
        add_domain_error(errors, exc, _STATE_FIELDS, aliases={"": "rules", "enabled": "rules"})
        return _refused(request, db, key, environment, "state", typed, errors)
    return _back(key, environment, "rules", "rules")


# -- overrides -----------------------------------------------------------------------


@router.post("/{key}/environments/{environment}/overrides")
def add_override(
    request: Request,
    user: PageUser,
    db: Db,
    key: FlagKey,
    environment: EnvironmentKey,
    csrf_token: Token = "",
    unit_id: Annotated[str, Form(max_length=255)] = "",
    value: Annotated[str, Form(max_length=100_000)] = "",
    variant: Annotated[str, Form(max_length=100)] = "",
    reason: Annotated[str, Form(max_length=1000)] = "",
    expires_at: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Force a value (or a variant) for one unit; replacing an existing override
    means removing it first, so nobody silently undoes a colleague's."""
    check_csrf(request, csrf_token)
    require(user, "feature_flag", "update")
    typed = {
        "unit_id": unit_id,
        "value": value,
        "variant": variant,
        "reason": reason,
        "expires_at": expires_at,
    }
    flag = service.get_flag(db, key=key)
    errors: FormErrors = {}
    unit = unit_id.strip()
    problem = "enter the unit id" if not unit else text_problem(unit)
    if problem:
        errors["unit_id"] = [problem]
    data: dict[str, Any] = {}
    if variant:
        data["variant"] = variant
        if value.strip():
            errors["value"] = ["leave the value empty when you choose a variant"]
    elif value.strip() or value:
        try:
            data["value"] = parse_value(value, flag.value_type)
        except UnreadableFieldError as exc:
            errors["value"] = [str(exc)]
    if reason.strip():
        data["reason"] = reason.strip()
    try:
        data["expires_at"] = parse_expiry(expires_at)
    except UnreadableFieldError as exc:
        errors["expires_at"] = [str(exc)]
    body = None
    try:
        body = OverrideIn.model_validate(data)
    except ValidationError as exc:
        add_validation_error(errors, exc, _OVERRIDE_FIELDS)
    if errors or body is None:
        return _refused(request, db, key, environment, "override", typed, errors)
    try:
        overrides.put_override(
            db,
            actor=user,
            flag_key=key,
            environment_key=environment,
            unit_id=unit,
            data=body,
            if_match=None,
        )
    except VersionRequiredError:
        errors["unit_id"] = [f"{unit!r} has an override already: remove it first to replace it"]
    except (InvalidInputError, ConflictError) as exc:
        add_domain_error(errors, exc, _OVERRIDE_FIELDS, aliases={"": "value"})
    if errors:
        return _refused(request, db, key, environment, "override", typed, errors)
    return _back(key, environment, "override", "overrides")


@router.post("/{key}/environments/{environment}/overrides/remove")
def remove_override(
    request: Request,
    user: PageUser,
    db: Db,
    key: FlagKey,
    environment: EnvironmentKey,
    csrf_token: Token = "",
    unit_id: Annotated[str, Form(min_length=1, max_length=255)] = "",
    version: Version = 0,
) -> Response:
    check_csrf(request, csrf_token)
    require(user, "feature_flag", "update")
    try:
        overrides.delete_override(
            db,
            actor=user,
            flag_key=key,
            environment_key=environment,
            unit_id=unit_id,
            if_match=etag(version),
        )
    except StaleVersionError as exc:
        return stale_answer(
            request, db, exc, key=key, environment=environment, form="override", typed={}
        )
    return _back(key, environment, "override-removed", "overrides")


# -- prerequisites -------------------------------------------------------------------


def _save_prerequisites(
    request: Request,
    db: Session,
    *,
    user: PageUser,
    key: str,
    environment: str | None,
    items: list[dict[str, Any]],
    version: int,
    typed: dict[str, str],
) -> Response:
    errors: FormErrors = {}
    try:
        body = FlagUpdate.model_validate({"prerequisites": items})
        service.update_flag(db, actor=user, key=key, data=body, if_match=etag(version))
    except ValidationError as exc:
        add_validation_error(errors, exc, ("prerequisites",))
    except StaleVersionError as exc:
        return stale_answer(
            request, db, exc, key=key, environment=environment, form="prerequisite", typed=typed
        )
    except (InvalidInputError, ConflictError) as exc:
        add_domain_error(errors, exc, ("prerequisites",), aliases={"": "prerequisites"})
    if errors:
        return _refused(request, db, key, environment, "prerequisite", typed, errors)
    return _back(key, environment, "prerequisites", "prerequisites")


@router.post("/{key}/prerequisites")
def add_prerequisite(
    request: Request,
    user: PageUser,
    db: Db,
    key: FlagKey,
    csrf_token: Token = "",
    flag: Annotated[str, Form(max_length=KEY_MAX_LENGTH)] = "",
    value: Annotated[str, Form(max_length=100_000)] = "",
    version: Version = 0,
    environment: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Require another flag to resolve to a value first (for every environment); naming
    a flag already required changes the value it must have."""
    check_csrf(request, csrf_token)
    require(user, "feature_flag", "update")
    typed = {"flag": flag, "value": value}
    current = service.get_flag(db, key=key)
    wanted = flag.strip()
    errors: FormErrors = {}
    parent = None
    if not wanted:
        errors["prerequisites"] = ["enter the key of the flag to require"]
    else:
        try:
            parent = service.get_flag(db, key=wanted)
        except NotFoundError:
            errors["prerequisites"] = [f"unknown flag {wanted!r}"]
    if parent is not None:
        try:
            required = parse_value(value, parent.value_type)
        except UnreadableFieldError as problem:
            errors["value"] = [str(problem)]
    if errors:
        return _refused(request, db, key, environment or None, "prerequisite", typed, errors)
    items = [{"flag": p.flag, "value": p.value} for p in current.prerequisites]
    for item in items:
        if item["flag"] == wanted:
            item["value"] = required
            break
    else:
        items.append({"flag": wanted, "value": required})
    return _save_prerequisites(
        request,
        db,
        user=user,
        key=key,
        environment=environment or None,
        items=items,
        version=version,
        typed=typed,
    )


@router.post("/{key}/prerequisites/remove")
def remove_prerequisite(
    request: Request,
    user: PageUser,
    db: Db,
    key: FlagKey,
    csrf_token: Token = "",
    flag: Annotated[str, Form(max_length=KEY_MAX_LENGTH)] = "",
    version: Version = 0,
    environment: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    check_csrf(request, csrf_token)
    require(user, "feature_flag", "update")
    current = service.get_flag(db, key=key)
    items = [{"flag": p.flag, "value": p.value} for p in current.prerequisites if p.flag != flag]
    return _save_prerequisites(
        request,
        db,
        user=user,
        key=key,
        environment=environment or None,
        items=items,
        version=version,
        typed={},
    )
