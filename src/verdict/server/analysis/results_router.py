"""Analysis routes: run an analysis, follow it, read results, series and CSV.

``POST /api/v1/experiments/{key}/analyses`` runs now and answers with the finished run
(``wait=true``, the default), or answers 202 at once with the run to poll
(``wait=false``). Results are read from the newest succeeded run.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, Response
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from verdict.server.analysis import results
from verdict.server.analysis.models import AnalysisRunStatus
from verdict.server.analysis.result_schemas import (
    AnalysisRunOut,
    ResultsOut,
    TimeseriesOut,
)
from verdict.server.analysis.runs import execute_run, find_experiment, start_run
from verdict.server.api.pagination import Page, PageRequest, page_request
from verdict.server.db import get_db
from verdict.server.errors import DomainError
from verdict.server.identity.auth import Principal, Require
from verdict.server.problems import problem_doc

__all__ = ["router"]

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/experiments", tags=["analysis"])
Db = Annotated[Session, Depends(get_db)]
Reader = Annotated[Principal, Depends(Require("experiment", "read"))]
At = Annotated[
    dt.datetime | None,
    Query(description="Results as they were at this time (ISO 8601); default: the latest."),
]


_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: problem_doc("No such experiment, run or results")
}


def _run_in_background(
    factory: sessionmaker[Session], engine: Engine, run_id: uuid.UUID, phase: int | None
) -> None:
    try:
        execute_run(factory, engine, run_id, phase_number=phase)
    except DomainError as error:
        logger.info("analysis run %s failed: %s", run_id, error.detail)
    except Exception:
        logger.exception("analysis run %s failed", run_id)


@router.post(
    "/{key}/analyses",
    response_model=AnalysisRunOut,
    summary="Analyse the experiment now",
    responses={
        202: {"model": AnalysisRunOut, "description": "Started (wait=false): poll the run"},
        **_NOT_FOUND,
        409: problem_doc("Another analysis of this experiment is running"),
    },
)
def run_analysis(
    key: str,
    request: Request,
    response: Response,
    background: BackgroundTasks,
    principal: Annotated[Principal, Depends(Require("experiment", "update"))],
    db: Db,
    full: Annotated[
        bool, Query(description="Rebuild from all events instead of refreshing incrementally.")
    ] = False,
    wait: Annotated[
        bool, Query(description="true: answer with the finished run; false: 202 at once.")
    ] = True,
    phase: Annotated[
        int | None, Query(ge=1, description="Phase number to analyse; default: the latest.")
    ] = None,
) -> AnalysisRunOut:
    """Exposures and events become per-variant results: lift, intervals, p-values or
    chance to win, SRM check and the decision. A failure is recorded on the run and
    leaves the previous results in place."""
    experiment = find_experiment(db, key)
    run = start_run(db, experiment=experiment, full=full, trigger="api", actor=principal)
    factory = request.app.state.session_factory
    engine = request.app.state.engine
    location = f"/api/v1/experiments/{key}/analyses/{run.id}"
    if not wait:
        background.add_task(_run_in_background, factory, engine, run.id, phase)
        response.status_code = 202
        response.headers["Location"] = location
        return results.run_out(db, run)
    finished = execute_run(factory, engine, run.id, phase_number=phase)
    response.headers["Location"] = location
    with factory() as session:
        return results.run_out(session, finished)


@router.get(
    "/{key}/analyses",
    response_model=Page[AnalysisRunOut],
    summary="List the experiment's analysis runs",
    responses=_NOT_FOUND,
)
def list_analyses(
    key: str,
    _: Reader,
    db: Db,
    page: Annotated[PageRequest, Depends(page_request("-created_at", results.RUN_SORTS))],
    status: AnalysisRunStatus | None = None,
) -> Page[AnalysisRunOut]:
    found, cursor = results.list_runs(db, key=key, page=page, status=status)
    return Page[AnalysisRunOut](items=[results.run_out(db, r) for r in found], next_cursor=cursor)


@router.get(
    "/{key}/analyses/{run_id}",
    response_model=AnalysisRunOut,
    summary="Get an analysis run (poll it while it runs)",
    responses=_NOT_FOUND,
)
def get_analysis(key: str, run_id: uuid.UUID, _: Reader, db: Db) -> AnalysisRunOut:
    return results.run_out(db, results.get_run(db, key=key, run_id=run_id))


@router.get(
    "/{key}/results",
    response_model=ResultsOut,
    summary="Latest results (or as they were at a time)",
    responses=_NOT_FOUND,
)
def get_results(
    key: str,
    _: Reader,
    db: Db,
    at: At = None,
    metric: Annotated[str | None, Query(description="Only this metric (key).")] = None,
    dimension: Annotated[
        str | None, Query(description="A breakdown attribute: its rows instead of the overall.")
    ] = None,
) -> ResultsOut:
    return results.latest_results(db, key=key, at=at, metric=metric, dimension=dimension)


@router.get(
    "/{key}/results/timeseries",
    response_model=TimeseriesOut,
    summary="Cumulative results by exposure day, for charts",
    responses=_NOT_FOUND,
)
def get_timeseries(
    key: str,
    _: Reader,
    db: Db,
    metric: Annotated[str | None, Query(description="Metric key; default: the first.")] = None,
    at: At = None,
) -> TimeseriesOut:
    return results.timeseries(db, key=key, metric=metric, at=at)


@router.get(
    "/{key}/results.csv",
    summary="Latest results as CSV (breakdowns included)",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {"example": ",".join(results.CSV_COLUMNS) + "\n"}}},
        **_NOT_FOUND,
    },
)
def get_results_csv(key: str, _: Reader, db: Db, at: At = None) -> Response:
    body = results.results_csv(db, key=key, at=at)
    return Response(
        content=body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{key}-results.csv"'},
    )
