"""Segment routes: /api/v1/segments."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from sqlalchemy.orm import Session

from verdict.server.api.pagination import Page, PageRequest, page_request
from verdict.server.api.versioning import IfMatch, set_etag
from verdict.server.db import get_db
from verdict.server.db.keys import KEY_MAX_LENGTH, KEY_PATTERN
from verdict.server.identity.auth import Principal, Require
from verdict.server.segments import service
from verdict.server.segments.schemas import SegmentCreate, SegmentOut, SegmentUpdate

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/segments", tags=["segments"])
Db = Annotated[Session, Depends(get_db)]
SegmentKey = Annotated[
    str,
    Path(min_length=1, max_length=KEY_MAX_LENGTH, pattern=KEY_PATTERN.pattern, description="Key."),
]
_PLAIN = r"^[^\x00]*$"


@router.get("", response_model=Page[SegmentOut], summary="List segments")
def list_segments(
    _: Annotated[Principal, Depends(Require("segment", "read"))],
    db: Db,
    page: Annotated[PageRequest, Depends(page_request("key", service.SEGMENT_SORTS))],
    q: Annotated[
        str | None, Query(max_length=200, pattern=_PLAIN, description="Text in key, name")
    ] = None,
    owner: Annotated[
        str | None, Query(max_length=150, pattern=_PLAIN, description="Username")
    ] = None,
    is_active: bool | None = None,
) -> Page[SegmentOut]:
    items, cursor = service.list_segments(db, page=page, text=q, owner=owner, is_active=is_active)
    return Page[SegmentOut](items=items, next_cursor=cursor)


@router.post("", response_model=SegmentOut, status_code=201, summary="Create a segment")
def create_segment(
    principal: Annotated[Principal, Depends(Require("segment", "create"))],
    body: SegmentCreate,
    db: Db,
    response: Response,
) -> SegmentOut:
    segment = service.create_segment(db, actor=principal, data=body)
    set_etag(response, segment.version)
    return segment


@router.get("/{key}", response_model=SegmentOut, summary="Get a segment")
def get_segment(
    _: Annotated[Principal, Depends(Require("segment", "read"))],
    key: SegmentKey,
    db: Db,
    response: Response,
) -> SegmentOut:
    segment = service.get_segment(db, key=key)
    set_etag(response, segment.version)
    return segment


@router.patch("/{key}", response_model=SegmentOut, summary="Edit a segment")
def update_segment(
    principal: Annotated[Principal, Depends(Require("segment", "update"))],
    key: SegmentKey,
    body: SegmentUpdate,
    db: Db,
    response: Response,
    if_match: IfMatch = None,
) -> SegmentOut:
    segment = service.update_segment(db, actor=principal, key=key, data=body, if_match=if_match)
    set_etag(response, segment.version)
    return segment


@router.delete(
    "/{key}",
    status_code=204,
    summary="Delete a segment (refused while flags or experiments use it)",
)
def delete_segment(
    principal: Annotated[Principal, Depends(Require("segment", "delete"))],
    key: SegmentKey,
    db: Db,
    if_match: IfMatch = None,
) -> Response:
    service.delete_segment(db, actor=principal, key=key, if_match=if_match)
    return Response(status_code=204)
