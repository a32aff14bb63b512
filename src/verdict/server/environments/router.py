"""Environment routes: /api/v1/environments."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from sqlalchemy.orm import Session

from verdict.server.api.pagination import Page, PageRequest, page_request
from verdict.server.api.versioning import IfMatch, set_etag
from verdict.server.db import get_db
from verdict.server.db.keys import KEY_PATTERN
from verdict.server.environments import service
from verdict.server.environments.schemas import (
    EnvironmentCreate,
    EnvironmentOut,
    EnvironmentUpdate,
)
from verdict.server.identity.auth import Principal, Require

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/environments", tags=["environments"])
Db = Annotated[Session, Depends(get_db)]
EnvironmentKeyPath = Annotated[
    str, Path(min_length=1, max_length=64, pattern=KEY_PATTERN.pattern, description="Its key.")
]
SearchText = Annotated[
    str | None, Query(max_length=200, pattern=r"^[^\x00]*$", description="Text in key, name")
]


@router.get("", response_model=Page[EnvironmentOut], summary="List environments")
def list_environments(
    _: Annotated[Principal, Depends(Require("environment", "read"))],
    db: Db,
    page: Annotated[PageRequest, Depends(page_request("sort_order", service.ENVIRONMENT_SORTS))],
    q: SearchText = None,
) -> Page[EnvironmentOut]:
    found, cursor = service.list_environments(db, page=page, text=q)
    return Page[EnvironmentOut](
        items=[EnvironmentOut.model_validate(e) for e in found], next_cursor=cursor
    )


@router.post("", response_model=EnvironmentOut, status_code=201, summary="Create an environment")
def create_environment(
    principal: Annotated[Principal, Depends(Require("environment", "create"))],
    body: EnvironmentCreate,
    db: Db,
    response: Response,
) -> EnvironmentOut:
    environment = service.create_environment(db, actor=principal, data=body)
    set_etag(response, environment.version)
    return EnvironmentOut.model_validate(environment)


@router.get("/{key}", response_model=EnvironmentOut, summary="Get an environment")
def get_environment(
    _: Annotated[Principal, Depends(Require("environment", "read"))],
    key: EnvironmentKeyPath,
    db: Db,
    response: Response,
) -> EnvironmentOut:
    environment = service.get_environment(db, key=key)
    set_etag(response, environment.version)
    return EnvironmentOut.model_validate(environment)


@router.patch("/{key}", response_model=EnvironmentOut, summary="Edit an environment")
def update_environment(
    principal: Annotated[Principal, Depends(Require("environment", "update"))],
    key: EnvironmentKeyPath,
    body: EnvironmentUpdate,
    db: Db,
    response: Response,
    if_match: IfMatch = None,
) -> EnvironmentOut:
    environment = service.update_environment(
        db, actor=principal, key=key, data=body, if_match=if_match
    )
    set_etag(response, environment.version)
    return EnvironmentOut.model_validate(environment)


@router.delete(
    "/{key}",
    status_code=204,
    summary="Delete an environment (refused while flags, overrides, keys or experiments use it)",
)
def delete_environment(
    principal: Annotated[Principal, Depends(Require("environment", "delete"))],
    key: EnvironmentKeyPath,
    db: Db,
    if_match: IfMatch = None,
) -> Response:
    service.delete_environment(db, actor=principal, key=key, if_match=if_match)
    return Response(status_code=204)
