"""The flag pages: the list with each environment's kill switch, the create form, and a
flag's page with its rules editor, overrides, prerequisites and the "try it" panel.

Every change goes through the flag services the API uses, with the API's optimistic
concurrency: each form carries the version it was rendered from and is refused (412)
if someone changed that state meanwhile. What a role may not do is not offered, and the
handler refuses it anyway (403). The "try it" panel evaluates through the same code
path as ``POST /api/v1/evaluate``: the environment's compiled snapshot from
``app.state.snapshots`` and :func:`verdict.server.delivery.evaluation.evaluate_flags`.
It answers the whole page to a plain form post, and just the panel to the page's
script (header ``X-Verdict-Partial``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from verdict.server.api.pagination import MAX_LIMIT, PageRequest
from verdict.server.api.versioning import etag
from verdict.server.db.keys import KEY_MAX_LENGTH
from verdict.server.delivery.evaluation import evaluate_flags
from verdict.server.delivery.schemas import EvaluateRequest
from verdict.server.environments import service as environments
from verdict.server.environments.models import Environment
from verdict.server.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    StaleVersionError,
)
from verdict.server.flags import overrides, service, states
from verdict.server.flags.models import FlagValueType
from verdict.server.flags.schemas import FlagCreate
from verdict.server.web.flag_forms import (
    FormErrors,
    UnreadableFieldError,
    add_domain_error,
    add_validation_error,
    parse_json,
    parse_value,
    parse_variants,
    shown_value,
)
from verdict.server.web.forms import PAGE_SIZE, page_urls, require
from verdict.server.web.params import Db, EnvironmentKey, FlagKey, Token
from verdict.server.web.session import PageUser, check_csrf, safe_next
from verdict.server.web.templating import render

__all__ = ["HISTORY_SHOWN", "RULES_MAX", "SAVED", "detail_page", "router", "stale_answer"]

router = APIRouter(prefix="/flags", include_in_schema=False)

RULES_MAX = 200_000  # characters of the rules editor
_CREATE_FIELDS = ("key", "name", "description", "value_type", "default_value", "variants", "tags")
_TRY_FIELDS = ("unit_id", "attributes")
# What a flag's page says after a successful post (its ``saved`` query parameter).
SAVED = {
    "rules": "Rules and rollout saved.",
    "override": "Override saved.",
    "override-removed": "Override removed.",
    "prerequisites": "Prerequisites saved.",
    "switch": "Kill switch changed.",
    "definition": "Definition saved.",
    "archived": "Flag archived: it is left out of every environment's configuration.",
    "restored": "Flag restored.",
}
HISTORY_SHOWN = 20  # audit entries on a flag's page, newest first


def _environments(db: Session) -> list[Environment]:
    listed, _ = environments.list_environments(
        db, page=PageRequest(limit=MAX_LIMIT, cursor=None, sort="sort_order")
    )
    return list(listed)


# -- the list ------------------------------------------------------------------------


@router.get("")
def list_page(
    request: Request,
    user: PageUser,
    db: Db,
    q: Annotated[str, Query(max_length=200)] = "",
    archived: Annotated[bool, Query()] = False,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> HTMLResponse:
    require(user, "feature_flag", "read")
    text = q.strip().replace("\x00", "")
    flags, next_cursor = service.list_flags(
        db,
        page=PageRequest(limit=PAGE_SIZE, cursor=cursor, sort="key"),
        text=text or None,
        archived=archived,
    )
    filters = {k: v for k, v in (("q", text), ("archived", "true" if archived else "")) if v}
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return render(
        request,
        "flags/list.html",
        {
            "flags": flags,
            "environments": _environments(db),
            "q": text,
            "archived": archived,
            "here": here,
            **page_urls("/flags", filters, cursor=cursor, next_cursor=next_cursor),
        },
    )


@router.post("/{key}/environments/{environment}/switch")
def switch(
    request: Request,
    user: PageUser,
    db: Db,
    key: FlagKey,
    environment: EnvironmentKey,
    csrf_token: Token = "",
    enabled: Annotated[str, Form(pattern="^(true|false)$")] = "",
    version: Annotated[int, Form(ge=0)] = 0,
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """The kill switch: turn the flag on or off in one environment."""
    check_csrf(request, csrf_token)
    require(user, "feature_flag", "update")
    try:
        states.set_enabled(
            db,
            actor=user,
            flag_key=key,
            environment_key=environment,
            enabled=enabled == "true",
            if_match=etag(version),
        )
    except StaleVersionError as exc:
        return stale_answer(
            request, db, exc, key=key, environment=environment, form="state", typed={}
        )
    target = (
        safe_next(next)
        if next
        else f"/flags/{key}?{urlencode({'environment': environment, 'saved': 'switch'})}"
    )
    return RedirectResponse(target, status_code=303)


# -- creating a flag -----------------------------------------------------------------


def _create_form(
    request: Request,
    typed: dict[str, str] | None = None,
    errors: FormErrors | None = None,
) -> HTMLResponse:
    return render(
        request,
        "flags/new.html",
        {
            "typed": typed
            or {
                "key": "",
                "name": "",
                "description": "",
                "value_type": "boolean",
                "default_value": "false",
                "variants": "",
                "tags": "",
            },
            "errors": errors or {},
            "value_types": [t.value for t in FlagValueType],
        },
        status_code=422 if errors else 200,
    )


@router.get("/-/new")
def new_page(request: Request, user: PageUser) -> HTMLResponse:
    require(user, "feature_flag", "create")
    return _create_form(request)


@router.post("/-/new")
def create(
    request: Request,
    user: PageUser,
    db: Db,
    csrf_token: Token = "",
    key: Annotated[str, Form(max_length=KEY_MAX_LENGTH)] = "",
    name: Annotated[str, Form(max_length=255)] = "",
    description: Annotated[str, Form(max_length=10_000)] = "",
    value_type: Annotated[str, Form(max_length=20)] = "boolean",
    default_value: Annotated[str, Form(max_length=100_000)] = "",
    variants: Annotated[str, Form(max_length=200_000)] = "",
    tags: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    check_csrf(request, csrf_token)
    require(user, "feature_flag", "create")
    typed = {
        "key": key,
        "name": name,
        "description": description,
        "value_type": value_type,
        "default_value": default_value,
        "variants": variants,
        "tags": tags,
    }
    errors: FormErrors = {}
    data: dict[str, Any] = {"key": key.strip(), "name": name.strip()}
    if description.strip():
        data["description"] = description.strip()
    data["tags"] = [tag.strip() for tag in tags.split(",") if tag.strip()]
    try:
        kind = FlagValueType(value_type)
    except ValueError:
        errors["value_type"] = ["choose one of the types listed"]
        kind = FlagValueType.BOOLEAN
    else:
        data["value_type"] = kind.value
    if default_value.strip() or (kind is FlagValueType.STRING and default_value):
        try:
            data["default_value"] = parse_value(default_value, kind)
        except UnreadableFieldError as problem:
            errors["default_value"] = [str(problem)]
    try:
        data["variants"] = parse_variants(variants, kind)
    except UnreadableFieldError as problem:
        errors["variants"] = [str(problem)]
    try:
        body = FlagCreate.model_validate(data)
    except ValidationError as exc:
        add_validation_error(errors, exc, _CREATE_FIELDS)
    if errors:
        return _create_form(request, typed, errors)
    try:
        flag = service.create_flag(db, actor=user, data=body)
    except (InvalidInputError, ConflictError) as exc:
        add_domain_error(errors, exc, _CREATE_FIELDS)
        return _create_form(request, typed, errors)
    return RedirectResponse(f"/flags/{flag.key}", status_code=303)


# -- a flag's page -------------------------------------------------------------------


def _definition_form(flag: Any) -> dict[str, str]:
    """The "edit definition" form as the flag stands (the create form's text formats)."""
    return {
        "name": flag.name,
        "description": flag.description or "",
        "default_value": shown_value(flag.default_value, flag.value_type),
        "variants": "\n".join(
            f"{v.key} = {shown_value(v.value, flag.value_type)}" for v in flag.variants
        ),
        "tags": ", ".join(flag.tags),
        "owner": flag.owner or "",
    }


def _state_form(rules: list[dict[str, Any]], rollout: float | None) -> dict[str, str]:
    return {
        "rules": json.dumps(rules, indent=2, ensure_ascii=False),
        "rollout_percentage": "" if rollout is None else f"{rollout:g}",
    }


def detail_page(
    request: Request,
    db: Session,
    *,
    key: str,
    environment: str | None,
    typed: dict[str, dict[str, str]] | None = None,
    errors: dict[str, FormErrors] | None = None,
    stale: str | None = None,
    tried: dict[str, Any] | None = None,
    overrides_cursor: str | None = None,
    saved: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """A flag's page for one environment; ``typed`` and ``errors`` (by form) re-show
    a refused form as it was sent."""
    flag = service.get_flag(db, key=key)
    every = _environments(db)
    chosen = next((e for e in every if e.key == environment), None) if environment else None
    if environment and chosen is None:
        raise NotFoundError(f"no environment {environment!r}")
    if chosen is None and every:
        chosen = every[0]
    state = None
    listed: list[Any] = []
    more_overrides = None
    if chosen is not None:
        state = states.get_state(db, flag_key=key, environment_key=chosen.key)
        listed, more_overrides = overrides.list_overrides(
            db,
            flag_key=key,
            environment_key=chosen.key,
            page=PageRequest(limit=PAGE_SIZE, cursor=overrides_cursor, sort="unit_id"),
        )
    history, _ = service.list_history(
        db, key=key, page=PageRequest(limit=HISTORY_SHOWN, cursor=None, sort="-at")
    )
    forms = {
        "definition": _definition_form(flag),
        "lifecycle": {},
        "state": _state_form(state.rules, state.rollout_percentage) if state else {},
        "override": {"unit_id": "", "value": "", "variant": "", "reason": "", "expires_at": ""},
        "prerequisite": {"flag": "", "value": ""},
        "try": {"unit_id": "", "attributes": "{}"},
    }
    for name, values in (typed or {}).items():
        forms[name] = {**forms[name], **values}
    return render(
        request,
        "flags/detail.html",
        {
            "flag": flag,
            "environments": every,
            "environment": chosen,
            "state": state,
            "overrides": listed,
            "more_overrides": (
                f"/flags/{key}?"
                + urlencode({"environment": chosen.key, "overrides_cursor": more_overrides})
                if more_overrides and chosen is not None
                else None
            ),
            "forms": forms,
            "errors": errors or {},
            "stale": stale,
            "saved": SAVED.get(saved or ""),
            "stored_rules": json.dumps(state.rules, indent=2, ensure_ascii=False) if state else "",
            "tried": tried,
            "history": history,
            "history_shown": HISTORY_SHOWN,
            "stored_definition": _definition_form(flag),
            "shown": shown_value,
        },
        status_code=status_code,
    )


@router.get("/{key}")
def flag_page(
    request: Request,
    user: PageUser,
    db: Db,
    key: FlagKey,
    environment: Annotated[str | None, Query(max_length=64)] = None,
    overrides_cursor: Annotated[str | None, Query(max_length=1000)] = None,
    saved: Annotated[str | None, Query(max_length=40)] = None,
) -> HTMLResponse:
    require(user, "feature_flag", "read")
    return detail_page(
        request,
        db,
        key=key,
        environment=environment,
        overrides_cursor=overrides_cursor,
        saved=saved,
    )


@router.post("/{key}/environments/{environment}/try")
def try_it(
    request: Request,
    user: PageUser,
    db: Db,
    key: FlagKey,
    environment: EnvironmentKey,
    csrf_token: Token = "",
    unit_id: Annotated[str, Form(max_length=255)] = "",
    attributes: Annotated[str, Form(max_length=20_000)] = "",
) -> HTMLResponse:
    """Evaluate the flag for a unit and its attributes, as an SDK of the environment
    would be answered by ``POST /api/v1/evaluate``."""
    check_csrf(request, csrf_token)
    require(user, "feature_flag", "read")
    typed = {"unit_id": unit_id, "attributes": attributes}
    errors: FormErrors = {}
    answer: dict[str, Any] | None = None
    try:
        context = parse_json(attributes) if attributes.strip() else {}
    except UnreadableFieldError as problem:
        errors["attributes"] = [str(problem)]
    else:
        try:
            body = EvaluateRequest.model_validate(
                {"targeting_key": unit_id or None, "attributes": context, "flags": [key]}
            )
        except ValidationError as exc:
            add_validation_error(errors, exc, _TRY_FIELDS, aliases={"targeting_key": "unit_id"})
        else:
            snapshot = request.app.state.snapshots.get(environment)
            document = evaluate_flags(
                environment=snapshot,
                targeting_key=body.targeting_key,
                attributes=body.attributes,
                flags=body.flags,
            )
            answer = {
                "result": document["flags"][key],
                "shown": json.dumps(document["flags"][key]["value"], ensure_ascii=False),
                "built_at": snapshot.built_at_wall,
            }
    status = 422 if errors else 200
    if request.headers.get("x-verdict-partial"):
        flag = service.get_flag(db, key=key)
        chosen = states.load_environment(db, environment)
        return render(
            request,
            "flags/_try.html",
            {
                "flag": flag,
                "environment": chosen,
                "form": typed,
                "form_errors": errors,
                "tried": answer,
            },
            status_code=status,
        )
    return detail_page(
        request,
        db,
        key=key,
        environment=environment,
        typed={"try": typed},
        errors={"try": errors},
        tried=answer,
        status_code=status,
    )


def stale_answer(
    request: Request,
    db: Session,
    exc: StaleVersionError,
    *,
    key: str,
    environment: str | None,
    form: str,
    typed: dict[str, str],
) -> HTMLResponse:
    """A form refused because the flag changed meanwhile: what was typed, kept."""
    return detail_page(
        request,
        db,
        key=key,
        environment=environment,
        typed={form: typed},
        stale=exc.detail,
        status_code=412,
    )
