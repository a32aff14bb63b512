"""Metric definition routes: /api/v1/metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.orm import Session

from verdict.server.analysis import metrics
from verdict.server.analysis.models import MetricType
from verdict.server.analysis.schemas import MetricCreate, MetricOut, MetricUpdate
from verdict.server.api.pagination import Page, PageRequest, page_request
from verdict.server.api.versioning import IfMatch, set_etag
from verdict.server.db import get_db
from verdict.server.identity.auth import Principal, Require

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/metrics", tags=["metrics"])
Db = Annotated[Session, Depends(get_db)]


@router.get("", response_model=Page[MetricOut], summary="List metric definitions")
def list_metrics(
    _: Annotated[Principal, Depends(Require("metric", "read"))],
    db: Db,
    page: Annotated[PageRequest, Depends(page_request("key", metrics.METRIC_SORTS))],
    type: MetricType | None = None,
    tag: Annotated[str | None, Query(description="Metrics carrying this tag")] = None,
    owner: Annotated[str | None, Query(description="Owner's username")] = None,
    q: Annotated[
        str | None, Query(description="Text in key, name, description or event name")
    ] = None,
    archived: Annotated[
        bool, Query(description="true: only archived metrics; false (default): the others")
    ] = False,
) -> Page[MetricOut]:
    found, cursor = metrics.list_metrics(
        db, page=page, type_=type, tag=tag, owner=owner, text=q, archived=archived
    )
    return Page[MetricOut](items=found, next_cursor=cursor)


@router.post("", response_model=MetricOut, status_code=201, summary="Define a metric")
def create_metric(
    body: MetricCreate,
    principal: Annotated[Principal, Depends(Require("metric", "create"))],
    db: Db,
    response: Response,
) -> MetricOut:
    metric = metrics.create_metric(db, actor=principal, data=body)
    set_etag(response, metric.version)
    return metric


@router.get("/{key}", response_model=MetricOut, summary="Get a metric")
def get_metric(
    key: str,
    _: Annotated[Principal, Depends(Require("metric", "read"))],
    db: Db,
    response: Response,
) -> MetricOut:
    metric = metrics.get_metric(db, key=key)
    set_etag(response, metric.version)
    return metric


@router.patch("/{key}", response_model=MetricOut, summary="Edit a metric")
def update_metric(
    key: str,
    body: MetricUpdate,
    principal: Annotated[Principal, Depends(Require("metric", "update"))],
    db: Db,
    response: Response,
    if_match: IfMatch = None,
) -> MetricOut:
    metric = metrics.update_metric(db, actor=principal, key=key, data=body, if_match=if_match)
    set_etag(response, metric.version)
    return metric


@router.delete("/{key}", status_code=204, summary="Delete a metric no experiment uses")
def delete_metric(
    key: str,
    principal: Annotated[Principal, Depends(Require("metric", "delete"))],
    db: Db,
    if_match: IfMatch = None,
) -> Response:
    metrics.delete_metric(db, actor=principal, key=key, if_match=if_match)
    return Response(status_code=204)
