"""Metric definition pages: the list, a new metric, one metric (read, edit, archive,
delete).

They live under ``/metric-definitions`` because ``/metrics`` is the Prometheus
endpoint. Pages call :mod:`verdict.server.analysis.metrics`, as the API does, so a
ratio without a denominator, percentile aggregation without a percentile or capping
without a cap value is refused with the reason next to its field. A metric an
experiment uses, or another metric divides by, is not deleted (archive it instead).
The create form lives at ``/metric-definitions/-/new``: a key starts with a letter,
so that path is never a metric's.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import Field, ValidationError
from sqlalchemy.orm import Session

from verdict.server.analysis import metrics
from verdict.server.analysis.models import MetricAggregation, MetricCapping, MetricType
from verdict.server.analysis.schemas import MetricCreate, MetricOut, MetricUpdate
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
from verdict.server.web.admin_forms import (
    PAGE_SIZE,
    FieldErrors,
    PageForm,
    domain_errors,
    if_match,
    optional,
    require,
    validation_errors,
)
from verdict.server.web.session import PageUser, check_csrf
from verdict.server.web.templating import render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
Db = Annotated[Session, Depends(get_db)]
MetricKey = Annotated[str, Path(min_length=1, max_length=KEY_MAX_LENGTH)]
_REFUSALS = (InvalidInputError, ConflictError, StaleVersionError, VersionRequiredError)
# Form fields; the form says "direction" where the schema says lower_is_better.
_FIELDS = (
    "key",
    "name",
    "description",
    "event_name",
    "type",
    "aggregation",
    "percentile",
    "value_path",
    "calculation",
    "denominator",
    "direction",
    "minimum_sample_size",
    "expected_effect",
    "unit",
    "capping",
    "cap_value",
    "conversion_window_hours",
    "conversion_delay_hours",
    "tags",
    "owner",
    "archived",
)
_ALIASES = {"lower_is_better": "direction"}
_TEXT = ("description", "value_path", "calculation", "denominator", "unit")
_NUMBERS = (
    "percentile",
    "minimum_sample_size",
    "expected_effect",
    "cap_value",
    "conversion_window_hours",
    "conversion_delay_hours",
)
_CHOICES = {
    "types": [(t.value, t.value.capitalize()) for t in MetricType],
    "aggregations": [(a.value, a.value.capitalize()) for a in MetricAggregation],
    "cappings": [(c.value, c.value.capitalize()) for c in MetricCapping],
    "directions": [("higher", "Higher is better"), ("lower", "Lower is better")],
}


class MetricForm(PageForm):
    key: str = Field(default="", max_length=200)
    name: str = Field(default="", max_length=1000)
    description: str = Field(default="", max_length=20_000)
    event_name: str = Field(default="", max_length=1000)
    type: str = Field(default="", max_length=50)
    aggregation: str = Field(default="", max_length=50)
    percentile: str = Field(default="", max_length=50)
    value_path: str = Field(default="", max_length=1000)
    calculation: str = Field(default="", max_length=20_000)
    denominator: str = Field(default="", max_length=200)
    direction: str = Field(default="higher", max_length=10)
    minimum_sample_size: str = Field(default="", max_length=50)
    expected_effect: str = Field(default="", max_length=50)
    unit: str = Field(default="", max_length=200)
    capping: str = Field(default="", max_length=50)
    cap_value: str = Field(default="", max_length=50)
    conversion_window_hours: str = Field(default="", max_length=50)
    conversion_delay_hours: str = Field(default="", max_length=50)
    tags: str = Field(default="", max_length=5000)
    owner: str = Field(default="", max_length=300)
    archived: str | None = Field(default=None, max_length=10)
    version: str = Field(default="", max_length=20)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _values(metric: MetricOut) -> dict[str, Any]:
    values: dict[str, Any] = {
        name: _text(getattr(metric, name))
        for name in ("key", "name", "event_name", *_TEXT, *_NUMBERS, "owner")
    }
    values.update(
        type=metric.type.value,
        aggregation=metric.aggregation.value,
        capping=metric.capping.value,
        direction="lower" if metric.lower_is_better else "higher",
        tags=", ".join(metric.tags),
        archived=metric.archived,
        version=str(metric.version),
    )
    return values


def _typed(form: MetricForm) -> dict[str, Any]:
    values = form.model_dump(exclude={"csrf_token"})
    values["archived"] = form.archived is not None
    return values


def _body(form: MetricForm) -> dict[str, Any]:
    """The request body the form stands for (what the API would receive)."""
    body: dict[str, Any] = {name: optional(getattr(form, name)) for name in (*_TEXT, *_NUMBERS)}
    body.update(
        name=form.name.strip(),
        event_name=form.event_name.strip(),
        type=form.type,
        aggregation=form.aggregation,
        capping=form.capping,
        lower_is_better={"lower": True, "higher": False}.get(form.direction, form.direction),
        tags=[tag.strip() for tag in form.tags.split(",") if tag.strip()],
        owner=optional(form.owner),
        archived=form.archived is not None,
    )
    if body["conversion_delay_hours"] is None:
        body["conversion_delay_hours"] = 0.0
    return body


@router.get("/metric-definitions")
def metric_list(
    request: Request,
    user: PageUser,
    db: Db,
    q: Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")] = None,
    type: Annotated[str, Query(max_length=20)] = "",
    archived: Annotated[str, Query(pattern="^(|yes)$")] = "",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    deleted: Annotated[str | None, Query(max_length=KEY_MAX_LENGTH)] = None,
) -> HTMLResponse:
    require(user, "metric", "read")
    text = (q or "").strip() or None
    chosen = MetricType(type) if type in set(MetricType) else None
    found, next_cursor = metrics.list_metrics(
        db,
        page=PageRequest(limit=PAGE_SIZE, cursor=cursor, sort="key"),
        type_=chosen,
        text=text,
        archived=archived == "yes",
    )
    filters = {"q": text or "", "type": chosen.value if chosen else "", "archived": archived}
    kept = {name: value for name, value in filters.items() if value}
    return render(
        request,
        "metric_definitions/list.html",
        {
            "metrics": found,
            "filters": filters,
            "choices": _CHOICES,
            "deleted": deleted,
            "next_url": f"/metric-definitions?{urlencode({**kept, 'cursor': next_cursor})}"
            if next_cursor
            else None,
            "first_url": f"/metric-definitions?{urlencode(kept)}" if cursor else None,
        },
    )


def _new_page(
    request: Request, *, values: dict[str, Any], errors: FieldErrors, status_code: int = 200
) -> HTMLResponse:
    return render(
        request,
        "metric_definitions/new.html",
        {"values": values, "errors": errors, "choices": _CHOICES},
        status_code=status_code,
    )


@router.get("/metric-definitions/-/new")
def new_metric_form(request: Request, user: PageUser) -> HTMLResponse:
    require(user, "metric", "create")
    values = {
        "type": MetricType.CONVERSION.value,
        "aggregation": MetricAggregation.SUM.value,
        "capping": MetricCapping.NONE.value,
        "direction": "higher",
        "conversion_delay_hours": "0",
        "owner": user.name,
    }
    return _new_page(request, values=values, errors={})


@router.post("/metric-definitions/-/new")
def create_metric(
    request: Request, user: PageUser, db: Db, form: Annotated[MetricForm, Form()]
) -> Response:
    check_csrf(request, form.csrf_token)
    require(user, "metric", "create")
    try:
        data = MetricCreate.model_validate({"key": form.key.strip(), **_body(form)})
    except ValidationError as error:
        errors = validation_errors(error, _FIELDS, _ALIASES)
        return _new_page(request, values=_typed(form), errors=errors, status_code=422)
    try:
        metric = metrics.create_metric(db, actor=user, data=data)
    except _REFUSALS as refusal:
        db.rollback()
        errors = domain_errors(refusal, _FIELDS, _ALIASES)
        return _new_page(
            request, values=_typed(form), errors=errors, status_code=status_of(refusal)
        )
    return RedirectResponse(f"/metric-definitions/{metric.key}?saved=created", status_code=303)


def _detail(
    request: Request,
    metric: MetricOut,
    *,
    values: dict[str, Any] | None = None,
    errors: FieldErrors | None = None,
    saved: str | None = None,
    delete_error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "metric_definitions/detail.html",
        {
            "metric": metric,
            "values": values if values is not None else _values(metric),
            "errors": errors or {},
            "choices": _CHOICES,
            "saved": saved,
            "delete_error": delete_error,
        },
        status_code=status_code,
    )


@router.get("/metric-definitions/{key}")
def metric_detail(
    request: Request,
    user: PageUser,
    db: Db,
    key: MetricKey,
    saved: Annotated[str | None, Query(max_length=20)] = None,
) -> HTMLResponse:
    require(user, "metric", "read")
    return _detail(request, metrics.get_metric(db, key=key), saved=saved)


@router.post("/metric-definitions/{key}")
def update_metric(
    request: Request,
    user: PageUser,
    db: Db,
    key: MetricKey,
    form: Annotated[MetricForm, Form()],
) -> Response:
    check_csrf(request, form.csrf_token)
    require(user, "metric", "update")
    metric = metrics.get_metric(db, key=key)
    values = {**_typed(form), "key": metric.key}
    try:
        data = MetricUpdate.model_validate(_body(form))
    except ValidationError as error:
        errors = validation_errors(error, _FIELDS, _ALIASES)
        return _detail(request, metric, values=values, errors=errors, status_code=422)
    try:
        metrics.update_metric(db, actor=user, key=key, data=data, if_match=if_match(form.version))
    except _REFUSALS as refusal:
        db.rollback()
        errors = domain_errors(refusal, _FIELDS, _ALIASES)
        return _detail(
            request,
            metrics.get_metric(db, key=key),
            values=values,
            errors=errors,
            status_code=status_of(refusal),
        )
    return RedirectResponse(f"/metric-definitions/{key}?saved=updated", status_code=303)


@router.post("/metric-definitions/{key}/delete")
def delete_metric(
    request: Request,
    user: PageUser,
    db: Db,
    key: MetricKey,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    version: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    check_csrf(request, csrf_token)
    require(user, "metric", "delete")
    metrics.get_metric(db, key=key)
    try:
        metrics.delete_metric(db, actor=user, key=key, if_match=if_match(version))
    except (ConflictError, StaleVersionError, VersionRequiredError) as refusal:
        db.rollback()
        return _detail(
            request,
            metrics.get_metric(db, key=key),
            delete_error=refusal.detail,
            status_code=status_of(refusal),
        )
    return RedirectResponse("/metric-definitions?deleted=" + key, status_code=303)
