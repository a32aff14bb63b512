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

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import Field

from verdict.server.analysis import metrics
from verdict.server.analysis.models import MetricAggregation, MetricCapping, MetricType
from verdict.server.analysis.schemas import MetricCreate, MetricOut, MetricUpdate
from verdict.server.api.pagination import PageRequest
from verdict.server.db.keys import KEY_MAX_LENGTH
from verdict.server.identity.auth import Principal
from verdict.server.web.forms import (
    PAGE_SIZE,
    FieldErrors,
    PageForm,
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


def _body(form: MetricForm, errors: FieldErrors) -> dict[str, Any]:
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
    return render(
        request,
        "metric_definitions/list.html",
        {
            "metrics": found,
            "filters": filters,
            "choices": _CHOICES,
            "deleted": deleted,
            **page_urls("/metric-definitions", filters, cursor=cursor, next_cursor=next_cursor),
        },
    )


def _blank(user: Principal) -> dict[str, Any]:
    return {
        "type": MetricType.CONVERSION.value,
        "aggregation": MetricAggregation.SUM.value,
        "capping": MetricCapping.NONE.value,
        "direction": "higher",
        "conversion_delay_hours": "0",
        "owner": user.name,
    }


PAGES = KeyedPages(
    resource="metric",
    path="/metric-definitions",
    templates="metric_definitions",
    key_length=KEY_MAX_LENGTH,
    form=MetricForm,
    create_schema=MetricCreate,
    update_schema=MetricUpdate,
    get=metrics.get_metric,
    create=metrics.create_metric,
    update=metrics.update_metric,
    delete=metrics.delete_metric,
    values=_values,
    typed=_typed,
    body=_body,
    blank=_blank,
    fields=_FIELDS,
    aliases=_ALIASES,
    context={"choices": _CHOICES},
)
PAGES.install(router)
