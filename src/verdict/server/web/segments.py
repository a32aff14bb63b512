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

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import Field

from verdict.server.api.pagination import PageRequest
from verdict.server.db.keys import KEY_MAX_LENGTH
from verdict.server.segments import service
from verdict.server.segments.schemas import SegmentCreate, SegmentOut, SegmentUpdate
from verdict.server.web.forms import (
    PAGE_SIZE,
    FieldErrors,
    PageForm,
    json_object,
    optional,
    page_urls,
    require,
)
from verdict.server.web.keyed_pages import KeyedPages
from verdict.server.web.params import Db
from verdict.server.web.session import PageUser
from verdict.server.web.templating import render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_FIELDS = ("key", "name", "description", "conditions", "is_active", "size_estimate", "owner")


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
    return render(
        request,
        "segments/list.html",
        {
            "segments": segments,
            "filters": filters,
            **page_urls("/segments", filters, cursor=cursor, next_cursor=next_cursor),
            "deleted": deleted,
        },
    )


PAGES = KeyedPages(
    resource="segment",
    path="/segments",
    templates="segments",
    key_length=KEY_MAX_LENGTH,
    form=SegmentForm,
    create_schema=SegmentCreate,
    update_schema=SegmentUpdate,
    get=service.get_segment,
    create=service.create_segment,
    update=service.update_segment,
    delete=service.delete_segment,
    values=_values,
    typed=_typed,
    body=_body,
    blank=lambda user: {"conditions": "{}", "is_active": True, "owner": user.name},
    fields=_FIELDS,
)
PAGES.install(router)
