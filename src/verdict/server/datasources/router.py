"""Data source routes: /api/v1/data-sources."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.orm import Session

from verdict.server.api.pagination import Page, PageRequest, page_request
from verdict.server.api.versioning import IfMatch, set_etag
from verdict.server.datasources import service
from verdict.server.datasources.schemas import DataSourceCreate, DataSourceOut, DataSourceUpdate
from verdict.server.db import get_db
from verdict.server.identity.auth import Principal, Require
from verdict.server.problems import problem_doc

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/data-sources", tags=["data sources"])
Db = Annotated[Session, Depends(get_db)]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: problem_doc("No data source with this key")}
_EDIT: dict[int | str, dict[str, Any]] = {
    **_NOT_FOUND,
    409: problem_doc("The key is taken, or the source is in use"),
    412: problem_doc("If-Match names a version that is no longer current"),
    428: problem_doc("If-Match is missing"),
}


@router.get("", response_model=Page[DataSourceOut], summary="List data sources")
def list_data_sources(
    _: Annotated[Principal, Depends(Require("data_source", "read"))],
    db: Db,
    page: Annotated[PageRequest, Depends(page_request("key", service.DATA_SOURCE_SORTS))],
    archived: Annotated[
        bool, Query(description="true: only archived sources; false (default): the others")
    ] = False,
) -> Page[DataSourceOut]:
    found, cursor = service.list_data_sources(db, page=page, archived=archived)
    return Page[DataSourceOut](items=found, next_cursor=cursor)


@router.post(
    "",
    response_model=DataSourceOut,
    status_code=201,
    summary="Add a data source (a warehouse and its exposure and event tables)",
    responses={409: problem_doc("A data source with this key exists")},
)
def create_data_source(
    body: DataSourceCreate,
    principal: Annotated[Principal, Depends(Require("data_source", "create"))],
    db: Db,
    response: Response,
) -> DataSourceOut:
    source = service.create_data_source(db, actor=principal, data=body)
    set_etag(response, source.version)
    return source


@router.get(
    "/{key}", response_model=DataSourceOut, summary="Get a data source", responses=_NOT_FOUND
)
def get_data_source(
    key: str,
    _: Annotated[Principal, Depends(Require("data_source", "read"))],
    db: Db,
    response: Response,
) -> DataSourceOut:
    source = service.get_data_source(db, key=key)
    set_etag(response, source.version)
    return source


@router.patch("/{key}", response_model=DataSourceOut, summary="Edit a data source", responses=_EDIT)
def update_data_source(
    key: str,
    body: DataSourceUpdate,
    principal: Annotated[Principal, Depends(Require("data_source", "update"))],
    db: Db,
    response: Response,
    if_match: IfMatch = None,
) -> DataSourceOut:
    source = service.update_data_source(db, actor=principal, key=key, data=body, if_match=if_match)
    set_etag(response, source.version)
    return source


@router.delete(
    "/{key}",
    status_code=204,
    summary="Delete a data source no experiment uses",
    responses=_EDIT,
)
def delete_data_source(
    key: str,
    principal: Annotated[Principal, Depends(Require("data_source", "delete"))],
    db: Db,
    if_match: IfMatch = None,
) -> Response:
    service.delete_data_source(db, actor=principal, key=key, if_match=if_match)
    return Response(status_code=204)
