"""The power calculator page (``/power``): how many units an experiment needs, and how
many days that takes.

The form is the API's :class:`~verdict.server.power.schemas.PowerQuery` field for field,
and the answer comes from the same use case as ``POST /api/v1/power``
(:func:`verdict.server.power.service.calculate`): give an effect to get the sample
size, a sample size to get the detectable effect, or both to get the power. It is a
question, not a change, so the form is sent with GET: nothing is stored, and the URL
of an answer can be shared. Errors (the schema's and the service's) are shown next to
the field they name.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from verdict.server.errors import InvalidInputError
from verdict.server.power import service
from verdict.server.power.schemas import PowerQuery, PowerResult
from verdict.server.web.forms import field_errors, require
from verdict.server.web.session import PageUser
from verdict.server.web.templating import render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

_NUMBERS = (
    "baseline",
    "std",
    "mde",
    "sample_size_per_variant",
    "alpha",
    "power",
    "variants",
    "metrics",
    "tuning_units",
    "daily_units",
)
_FIELDS = {*_NUMBERS, "metric", "relative", "alternative", "sequential"}
Number = Annotated[str, Query(max_length=40)]


def _query(form: dict[str, Any]) -> dict[str, Any]:
    """The API's request body from the form: empty numbers are left out (the schema's
    defaults, or its "required")."""
    body: dict[str, Any] = {
        "metric": form["metric"],
        "relative": form["relative"],
        "alternative": form["alternative"],
        "sequential": form["sequential"],
    }
    for name in _NUMBERS:
        text = str(form[name]).strip()
        if text:
            body[name] = text
    return body


def _calculate(form: dict[str, Any]) -> tuple[PowerResult | None, dict[str, str]]:
    try:
        query = PowerQuery.model_validate(_query(form))
    except ValidationError as error:
        return None, field_errors(error, _FIELDS)
    try:
        return service.calculate(query), {}
    except InvalidInputError as error:
        return None, field_errors(error, _FIELDS)


@router.get("/power")
def calculator(
    request: Request,
    principal: PageUser,
    run: Annotated[str, Query(max_length=5)] = "",
    metric: Annotated[str, Query(max_length=20)] = "proportion",
    baseline: Number = "",
    std: Number = "",
    mde: Number = "",
    relative: Annotated[str, Query(max_length=5)] = "",
    sample_size_per_variant: Number = "",
    alpha: Number = "0.05",
    power: Number = "0.8",
    variants: Number = "2",
    metrics: Number = "1",
    alternative: Annotated[str, Query(max_length=20)] = "two-sided",
    sequential: Annotated[str, Query(max_length=5)] = "",
    tuning_units: Number = "5000",
    daily_units: Number = "",
) -> HTMLResponse:
    require(principal, "experiment", "read")
    form: dict[str, Any] = {
        "metric": metric,
        "baseline": baseline,
        "std": std,
        "mde": mde,
        "relative": bool(relative),
        "sample_size_per_variant": sample_size_per_variant,
        "alpha": alpha,
        "power": power,
        "variants": variants,
        "metrics": metrics,
        "alternative": alternative,
        "sequential": bool(sequential),
        "tuning_units": tuning_units,
        "daily_units": daily_units,
    }
    result, errors = _calculate(form) if run else (None, {})
    return render(
        request,
        "power/calculator.html",
        {"form": form, "errors": errors, "result": result, "asked": bool(run)},
        status_code=422 if errors else 200,
    )
