"""Segment pages: the list, a new segment, one segment (read, edit, delete).

Pages call :mod:`verdict.server.segments.service`, as the API does: a segment's
condition is checked by the engine together with every other segment, and the
reasons (with their path inside the condition) are shown next to the conditions field.
A segment in use is not deleted; the page shows who uses it. The create form lives at
``/segments/-/new``: a key starts with a letter, so that path is never a segment's.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import Field, ValidationError
from sqlalchemy.orm import Session

from verdict.server.api.pagination import PageRequest
from verdict.server.db import get_db
from verdict.server.db.keys import KEY_MAX_LENGTH
from verdict.server.errors import (
    ConflictError,
    InvalidInputError,
    StaleVersionError,
    VersionRequiredError,
)
from verdict.server.problems import status_of
from verdict.server.segments import service
from verdict.server.segments.schemas import SegmentCreate, SegmentOut, SegmentUpdate
from verdict.server.web.admin_forms import (
    PAGE_SIZE,
    FieldErrors,
    PageForm,
    domain_errors,
    if_match,
    json_object,
    optional,
    require,
    validation_errors,
)
from verdict.server.web.session import PageUser, check_csrf
from verdict.server.web.templating import render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
Db = Annotated[Session, Depends(get_db)]
SegmentKey = Annotated[str, Path(min_length=1, max_length=KEY_MAX_LENGTH)]
_FIELDS = ("key", "name", "description", "conditions", "is_active", "size_estimate", "owner")
_REFUSALS = (InvalidInputError, ConflictError, StaleVersionError, VersionRequiredError)


class SegmentForm(PageForm):
    key: str = Field(default="", max_length=200)
    name: str = Field(default="", max_length=1000)
    description: str = Field(default="", max_length=20_000)
    conditions: str = Field(default="", max_length=200_000)
    is_active: str | None = Field(default=None, max_length=10)
    size_estimate: str = Field(default="", max_length=50)
    owner: str = Field(default="", max_length=300)
    version: str = Field(default="", max_length=20)


def _values(segment: SegmentOut) -> dict[str, Any]:
    return {
        "key": segment.key,
        "name": segment.name,
        "description": segment.description or "",
        "conditions": json.dumps(segment.conditions, indent=2, ensure_ascii=False),
        "is_active": segment.is_active,
        "size_estimate": "" if segment.size_estimate is None else str(segment.size_estimate),
        "owner": segment.owner or "",
        "version": str(segment.version),
    }


def _typed(form: SegmentForm) -> dict[str, Any]:
    return {
        "key": form.key,
        "name": form.name,
        "description": form.description,
        "conditions": form.conditions,
        "is_active": form.is_active is not None,
        "size_estimate": form.size_estimate,
        "owner": form.owner,
        "version": form.version,
    }


def _body(form: SegmentForm, errors: FieldErrors) -> dict[str, Any]:
    """The request body the form stands for (what the API would receive)."""
    conditions = json_object(form.conditions, "conditions", errors, empty={})
    return {
        "name": form.name.strip(),
        "description": optional(form.description),
        "conditions": conditions if conditions is not None else {},
        "is_active": form.is_active is not None,
        "size_estimate": optional(form.size_estimate),
        "owner": optional(form.owner),
    }


@router.get("/segments")
def segment_list(
    request: Request,
    user: PageUser,
    db: Db,
    q: Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")] = None,
    active: Annotated[str, Query(pattern="^(|yes|no)$")] = "",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    deleted: Annotated[str | None, Query(max_length=KEY_MAX_LENGTH)] = None,
) -> HTMLResponse:
    require(user, "segment", "read")
    text = (q or "").strip() or None
    is_active = {"yes": True, "no": False}.get(active)
    segments, next_cursor = service.list_segments(
        db,
        page=PageRequest(limit=PAGE_SIZE, cursor=cursor, sort="key"),
        text=text,
        is_active=is_active,
    )
    filters = {"q": text or "", "active": active}
    kept = {name: value for name, value in filters.items() if value}
    return render(
        request,
        "segments/list.html",
        {
            "segments": segments,
            "filters": filters,
            "next_url": f"/segments?{urlencode({**kept, 'cursor': next_cursor})}"
            if next_cursor
            else None,
            "first_url": f"/segments?{urlencode(kept)}" if cursor else None,
            "deleted": deleted,
        },
    )


def _new_page(
    request: Request, *, values: dict[str, Any], errors: FieldErrors, status_code: int = 200
) -> HTMLResponse:
    return render(
        request, "segments/new.html", {"values": values, "errors": errors}, status_code=status_code
    )


@router.get("/segments/-/new")
def new_segment_form(request: Request, user: PageUser) -> HTMLResponse:
    require(user, "segment", "create")
    values = {"conditions": "{}", "is_active": True, "owner": user.name}
    return _new_page(request, values=values, errors={})


@router.post("/segments/-/new")
def create_segment(
    request: Request, user: PageUser, db: Db, form: Annotated[SegmentForm, Form()]
) -> Response:
    check_csrf(request, form.csrf_token)
    require(user, "segment", "create")
    errors: FieldErrors = {}
    body = {"key": form.key.strip(), **_body(form, errors)}
    try:
        data = SegmentCreate.model_validate(body)
    except ValidationError as error:
        errors = {**validation_errors(error, _FIELDS), **errors}
        return _new_page(request, values=_typed(form), errors=errors, status_code=422)
    if errors:  # the conditions are not JSON
        return _new_page(request, values=_typed(form), errors=errors, status_code=422)
    try:
        segment = service.create_segment(db, actor=user, data=data)
    except (InvalidInputError, ConflictError) as refusal:
        db.rollback()
        errors = domain_errors(refusal, _FIELDS)
        return _new_page(
            request, values=_typed(form), errors=errors, status_code=status_of(refusal)
        )
    return RedirectResponse(f"/segments/{segment.key}?saved=created", status_code=303)


def _detail(
    request: Request,
    segment: SegmentOut,
    *,
    values: dict[str, Any] | None = None,
    errors: FieldErrors | None = None,
    saved: str | None = None,
    delete_error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "segments/detail.html",
        {
            "segment": segment,
            "values": values if values is not None else _values(segment),
            "errors": errors or {},
            "saved": saved,
            "delete_error": delete_error,
        },
        status_code=status_code,
    )


@router.get("/segments/{key}")
def segment_detail(
    request: Request,
    user: PageUser,
    db: Db,
    key: SegmentKey,
    saved: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    require(user, "segment", "read")
    return _detail(request, service.get_segment(db, key=key), saved=saved)


@router.post("/segments/{key}")
def update_segment(
    request: Request,
    user: PageUser,
    db: Db,
    key: SegmentKey,
    form: Annotated[SegmentForm, Form()],
) -> Response:
    check_csrf(request, form.csrf_token)
    require(user, "segment", "update")
    segment = service.get_segment(db, key=key)
    values = {**_typed(form), "key": segment.key}
    errors: FieldErrors = {}
    body = _body(form, errors)
    try:
        data = SegmentUpdate.model_validate(body)
    except ValidationError as error:
        errors = {**validation_errors(error, _FIELDS), **errors}
        return _detail(request, segment, values=values, errors=errors, status_code=422)
    if errors:  # the conditions are not JSON
        return _detail(request, segment, values=values, errors=errors, status_code=422)
    try:
        service.update_segment(db, actor=user, key=key, data=data, if_match=if_match(form.version))
    except _REFUSALS as refusal:
        db.rollback()
        errors = domain_errors(refusal, _FIELDS)
        return _detail(
            request,
            service.get_segment(db, key=key),
            values=values,
            errors=errors,
            status_code=status_of(refusal),
        )
    return RedirectResponse(f"/segments/{key}?saved=updated", status_code=303)


@router.post("/segments/{key}/delete")
def delete_segment(
    request: Request,
    user: PageUser,
    db: Db,
    key: SegmentKey,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    version: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    check_csrf(request, csrf_token)
    require(user, "segment", "delete")
    service.get_segment(db, key=key)
    try:
        service.delete_segment(db, actor=user, key=key, if_match=if_match(version))
    except (ConflictError, StaleVersionError, VersionRequiredError) as refusal:
        db.rollback()
        return _detail(
            request,
            service.get_segment(db, key=key),
            delete_error=refusal.detail,
            status_code=status_of(refusal),
        )
    return RedirectResponse("/segments?deleted=" + key, status_code=303)
