"""The experiments pages: the list, the detail page with its results and charts, and
the analysis-progress partial.

``GET /experiments`` lists experiments (filters: status, type; search in key, name and
description; cursor pages) with each one's owner, start, progress toward its minimum
sample size and the decision of its latest analysis. ``GET /experiments/{key}`` shows
the experiment (hypothesis, variants and their payloads, allocation, phases, status
history) and its latest results: per metric and variant the figures, lifts with
intervals, p-value or chance to win, badges, the sample-ratio banner, power, days left,
and the forest and cumulative-lift charts. ``GET /experiments/{key}/run-status`` is the
partial the page polls while an analysis runs.

Everything is read through the services the API uses (the experiments service and the
analysis results reader); the create and edit forms and the lifecycle and refresh
posts are served by :mod:`verdict.server.web.experiment_forms`. ``/experiments/new``
is that module's page, never an experiment key: this router refuses to read it as one.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session, load_only
from starlette.convertors import Convertor, register_url_convertor

from verdict.server.analysis import results as results_reader
from verdict.server.analysis.models import AnalysisRun, AnalysisRunStatus
from verdict.server.analysis.result_schemas import ResultsOut, SeriesPoint
from verdict.server.api.pagination import PageRequest
from verdict.server.audit.models import AuditLogEntry
from verdict.server.errors import InvalidInputError, NotFoundError
from verdict.server.experiments import service
from verdict.server.experiments.lifecycle import allowed_actions
from verdict.server.experiments.models import ExperimentStatus, ExperimentType
from verdict.server.web.bandit_panel import bandit_panel
from verdict.server.web.experiment_results import (
    days_left,
    decision_badge,
    metric_sections,
    sample_progress,
)
from verdict.server.web.forms import page_urls, require
from verdict.server.web.params import Db
from verdict.server.web.session import PageUser
from verdict.server.web.templating import render

__all__ = ["PAGE_SIZE", "router"]

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25
HISTORY_SHOWN = 20


class _ExperimentKey(Convertor[str]):
    """A path segment naming an experiment: anything but ``new``, the create form's
    page, so that page is found whichever router is registered first."""

    regex = r"(?!new$)[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("experiment_key", _ExperimentKey())


def _pretty(value: Any) -> str:
    """JSON for people: indented, characters as written (the template escapes it)."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def _choice(value: str | None, kind: type[Any], field: str, errors: dict[str, str]) -> Any:
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        errors[field] = f"must be one of {allowed}"
        return None


def _latest_runs(db: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, AnalysisRun]:
    """Each experiment's newest succeeded run (its exposures and decision only)."""
    if not ids:
        return {}
    newest = (
        select(AnalysisRun.experiment_id, func.max(AnalysisRun.finished_at).label("finished"))
        .where(
            AnalysisRun.experiment_id.in_(ids),
            AnalysisRun.status == AnalysisRunStatus.SUCCEEDED,
        )
        .group_by(AnalysisRun.experiment_id)
        .subquery()
    )
    runs = db.scalars(
        select(AnalysisRun)
        .join(
            newest,
            (AnalysisRun.experiment_id == newest.c.experiment_id)
            & (AnalysisRun.finished_at == newest.c.finished),
        )
        .where(AnalysisRun.status == AnalysisRunStatus.SUCCEEDED)
        .options(
            load_only(
                AnalysisRun.experiment_id,
                AnalysisRun.summary,
                AnalysisRun.decision,
                AnalysisRun.finished_at,
            )
        )
    ).all()
    return {run.experiment_id: run for run in runs}


@router.get("/experiments")
def experiment_list(
    request: Request,
    user: PageUser,
    db: Db,
    status: Annotated[str | None, Query(max_length=20)] = None,
    type: Annotated[str | None, Query(max_length=20)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    require(user, "experiment", "read")
    errors: dict[str, str] = {}
    chosen_status = _choice(status, ExperimentStatus, "status", errors)
    chosen_type = _choice(type, ExperimentType, "type", errors)
    text = (q or "").strip() or None
    found, next_cursor = service.list_experiments(
        db,
        page=PageRequest(limit=PAGE_SIZE, cursor=cursor, sort="-created_at"),
        status=chosen_status,
        type_=chosen_type,
        text=text,
    )
    runs = _latest_runs(db, [e.id for e in found])
    rows = []
    for experiment in found:
        run = runs.get(experiment.id)
        exposures = (run.summary or {}).get("exposures") if run else None
        rows.append(
            {
                "experiment": experiment,
                "progress": sample_progress(experiment, exposures),
                "decision": decision_badge(run.decision if run else None),
            }
        )
    filters = {"status": status or "", "type": type or "", "q": q or ""}
    return render(
        request,
        "experiments/list.html",
        {
            "rows": rows,
            "filters": filters,
            "errors": errors,
            "statuses": list(ExperimentStatus),
            "types": list(ExperimentType),
            "query": {k: v for k, v in filters.items() if v},
            **page_urls("/experiments", filters, cursor=cursor, next_cursor=next_cursor),
        },
        status_code=422 if errors else 200,
    )


def _latest_run(db: Session, key: str) -> AnalysisRun | None:
    found, _ = results_reader.list_runs(
        db, key=key, page=PageRequest(limit=1, cursor=None, sort="-created_at"), status=None
    )
    return found[0] if found else None


def _history(db: Session, key: str) -> Sequence[AuditLogEntry]:
    entries, _ = service.list_history(
        db, key=key, page=PageRequest(limit=HISTORY_SHOWN, cursor=None, sort="-at")
    )
    return entries


def _series(
    db: Session, key: str, found: ResultsOut
) -> tuple[dict[str, list[SeriesPoint]], dict[str, str]]:
    """Each metric's daily series, or why it has none."""
    series: dict[str, list[SeriesPoint]] = {}
    notes: dict[str, str] = {}
    for metric in dict.fromkeys(r.metric for r in found.results):
        try:
            series[metric] = list(results_reader.timeseries(db, key=key, metric=metric).points)
        except InvalidInputError:
            notes[metric] = "No daily series: quantiles do not add up across days."
    return series, notes


@router.get("/experiments/{key:experiment_key}")
def experiment_detail(
    request: Request,
    key: str,
    user: PageUser,
    db: Db,
    dimension: Annotated[str | None, Query(max_length=100)] = None,
    notice: Annotated[str | None, Query(max_length=300)] = None,
) -> HTMLResponse:
    require(user, "experiment", "read")
    experiment = service.get_experiment(db, key=key)
    breakdowns = [str(b) for b in experiment.breakdowns or ()]
    errors: dict[str, str] = {}
    if dimension and dimension not in breakdowns:
        errors["dimension"] = (
            f"is not one of the experiment's breakdowns ({', '.join(breakdowns) or 'none'})"
        )
        dimension = None
    try:
        found: ResultsOut | None = results_reader.latest_results(
            db, key=key, dimension=dimension or None
        )
    except NotFoundError:
        found = None
    sections: list[Any] = []
    progress = left = None
    if found is not None:
        series, notes = _series(db, key, found) if not dimension else ({}, {})
        sections = metric_sections(experiment, found, series, notes)
        exposures = (found.run.summary or {}).get("exposures")
        progress = sample_progress(experiment, exposures)
        left = days_left(
            experiment, exposures, found.run.data_window_start, found.run.data_window_end
        )
    latest = _latest_run(db, key)
    running = latest is not None and latest.status in (
        AnalysisRunStatus.QUEUED,
        AnalysisRunStatus.RUNNING,
    )
    failed = (
        latest
        if latest is not None
        and latest.status is AnalysisRunStatus.FAILED
        and (found is None or latest.created_at > found.run.created_at)
        else None
    )
    winner_options = [v.key for v in experiment.variants]
    bandit = bandit_panel(db, experiment)
    return render(
        request,
        "experiments/detail.html",
        {
            "experiment": experiment,
            "results": found,
            "sections": sections,
            "decision": decision_badge(found.run.decision if found else None),
            "progress": progress,
            "days_left": left,
            "latest_run": latest,
            "running": running,
            "failed_run": failed,
            "history": _history(db, key),
            "actions": [a.value for a in allowed_actions(experiment.status)],
            "winner_options": winner_options,
            "breakdowns": breakdowns,
            "dimension": dimension or "",
            "errors": errors,
            "bandit": bandit,
            "has_charts": bool(bandit and bandit["figure"])
            or any(s.forest or s.series for s in sections),
            "pretty": _pretty,
            "notice": notice,
        },
        status_code=422 if errors else 200,
    )


@router.get("/experiments/{key}/run-status")
def run_status(request: Request, key: str, user: PageUser, db: Db) -> Response:
    """The latest analysis run: progress while it is queued or running (polled), a
    reload once it has finished."""
    require(user, "experiment", "read")
    experiment = service.get_experiment(db, key=key)
    latest = _latest_run(db, key)
    return render(
        request,
        "experiments/run_status.html",
        {"experiment": experiment, "run": latest},
    )
