"""Reading analysis runs and their results: latest, as of a time, series, CSV.

Only succeeded runs have results; "the latest results" are those of the newest
succeeded run (or the newest one finished at or before ``at``), so a failed or running
analysis never hides or half-replaces the figures a reader sees.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from verdict.server.analysis.models import AnalysisRun, AnalysisRunStatus, ExperimentResult, Metric
from verdict.server.analysis.result_schemas import (
    AnalysisRunOut,
    MetricResultOut,
    ResultsOut,
    SeriesPoint,
    TimeseriesOut,
)
from verdict.server.api.pagination import PageRequest, Sortable, paginate
from verdict.server.errors import InvalidInputError, NotFoundError
from verdict.server.experiments.models import Experiment, ExperimentPhase, Variant

__all__ = [
    "CSV_COLUMNS",
    "RUN_SORTS",
    "get_run",
    "latest_results",
    "list_runs",
    "results_csv",
    "run_out",
    "timeseries",
]


def _experiment(session: Session, key: str) -> Experiment:
    experiment = session.scalars(select(Experiment).where(Experiment.key == key)).first()
    if experiment is None:
        raise NotFoundError(f"no experiment with key {key!r}", field="path.key")
    return experiment


def run_out(session: Session, run: AnalysisRun) -> AnalysisRunOut:
    key = session.scalar(select(Experiment.key).where(Experiment.id == run.experiment_id))
    phase = (
        session.scalar(select(ExperimentPhase.number).where(ExperimentPhase.id == run.phase_id))
        if run.phase_id
        else None
    )
    return AnalysisRunOut(
        id=run.id,
        experiment=key or "",
        status=run.status,
        full=run.full,
        trigger=run.trigger,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        progress=run.progress,
        stage=run.stage,
        error=run.error,
        error_field=run.error_field,
        method=run.method,
        phase=phase,
        data_window_start=run.data_window_start,
        data_window_end=run.data_window_end,
        scanned_from=run.scanned_from,
        scanned_to=run.scanned_to,
        summary=run.summary,
        srm=run.srm,
        decision=run.decision,
    )


def get_run(session: Session, *, key: str, run_id: uuid.UUID) -> AnalysisRun:
    experiment = _experiment(session, key)
    run = session.get(AnalysisRun, run_id)
    if run is None or run.experiment_id != experiment.id:
        raise NotFoundError(f"experiment {key!r} has no analysis run {run_id}", field="path.run_id")
    return run


RUN_SORTS: Sortable = {"created_at": AnalysisRun.created_at}


def list_runs(
    session: Session, *, key: str, page: PageRequest, status: AnalysisRunStatus | None
) -> tuple[Sequence[AnalysisRun], str | None]:
    experiment = _experiment(session, key)
    query = select(AnalysisRun).where(AnalysisRun.experiment_id == experiment.id)
    if status is not None:
        query = query.where(AnalysisRun.status == status)
    return paginate(
        session,
        query,
        page,
        sortable=RUN_SORTS,
        id_column=AnalysisRun.id,
    )


def _latest_run(session: Session, experiment: Experiment, at: dt.datetime | None) -> AnalysisRun:
    query = select(AnalysisRun).where(
        AnalysisRun.experiment_id == experiment.id,
        AnalysisRun.status == AnalysisRunStatus.SUCCEEDED,
    )
    if at is not None:
        query = query.where(AnalysisRun.finished_at <= at)
    run = session.scalars(query.order_by(AnalysisRun.finished_at.desc()).limit(1)).first()
    if run is None:
        when = f" at or before {at.isoformat()}" if at is not None else ""
        raise NotFoundError(
            f"experiment {experiment.key!r} has no results{when}: run an analysis first "
            f"(POST /api/v1/experiments/{experiment.key}/analyses)",
            field="path.key",
        )
    return run


def _significant(result: ExperimentResult, method: str | None) -> bool | None:
    if method == "bayesian":
        if result.chance_to_win is None:
            return None
        return not (result.confidence_level > result.chance_to_win > 1 - result.confidence_level)
    if result.absolute_ci_lower is None or result.absolute_ci_upper is None:
        return None
    return result.absolute_ci_lower > 0 or result.absolute_ci_upper < 0


def _result_out(
    result: ExperimentResult, variant: Variant, metric_key: str, method: str | None
) -> MetricResultOut:
    return MetricResultOut(
        metric=metric_key,
        variant=variant.key,
        is_control=variant.is_control,
        cuped=result.cuped,
        dimension=result.dimension,
        dimension_value=result.dimension_value,
        sample_size=result.sample_size,
        conversions=result.conversions,
        mean=result.mean_value,
        variance=result.variance,
        ci_lower=result.ci_lower,
        ci_upper=result.ci_upper,
        absolute_lift=result.absolute_lift,
        absolute_ci_lower=result.absolute_ci_lower,
        absolute_ci_upper=result.absolute_ci_upper,
        relative_lift=result.relative_lift,
        lift_ci_lower=result.lift_ci_lower,
        lift_ci_upper=result.lift_ci_upper,
        p_value=result.p_value,
        chance_to_win=result.chance_to_win,
        expected_loss=result.expected_loss,
        statistical_power=result.statistical_power,
        variance_reduction=result.variance_reduction,
        significant=None if variant.is_control else _significant(result, method),
        note=result.note,
    )


def latest_results(
    session: Session,
    *,
    key: str,
    at: dt.datetime | None = None,
    metric: str | None = None,
    dimension: str | None = None,
) -> ResultsOut:
    """The results of the newest succeeded run (as of ``at``), overall rows unless a
    breakdown ``dimension`` is asked for."""
    experiment = _experiment(session, key)
    run = _latest_run(session, experiment, at)
    query = (
        select(ExperimentResult, Variant, Metric.key)
        .join(Variant, Variant.id == ExperimentResult.variant_id)
        .join(Metric, Metric.id == ExperimentResult.metric_id)
        .where(ExperimentResult.run_id == run.id)
    )
    if dimension is None:
        query = query.where(ExperimentResult.dimension.is_(None))
    else:
        query = query.where(ExperimentResult.dimension == dimension)
    if metric is not None:
        query = query.where(Metric.key == metric)
    rows = list(session.execute(query).all())
    order = {link.metric_id: link.position for link in experiment.metric_links}
    rows.sort(
        key=lambda r: (
            order.get(r[0].metric_id, 0),
            r[2],
            r[0].dimension_value or "",
            r[1].position,
            r[0].cuped,
        )
    )
    method = run.method.value if run.method else None
    return ResultsOut(
        experiment=experiment.key,
        run=run_out(session, run),
        computed_at=run.finished_at or run.created_at,
        confidence_level=experiment.confidence_level,
        results=[_result_out(result, variant, m, method) for result, variant, m in rows],
    )


def timeseries(
    session: Session, *, key: str, metric: str | None, at: dt.datetime | None = None
) -> TimeseriesOut:
    experiment = _experiment(session, key)
    run = _latest_run(session, experiment, at)
    series = run.timeseries or {}
    keys = [link.metric.key for link in experiment.metric_links]
    chosen = metric if metric is not None else next((k for k in keys if k in series), None)
    if chosen is None or chosen not in series:
        available = ", ".join(sorted(series)) or "none"
        raise InvalidInputError(
            f"no daily series for metric {metric!r} (available: {available}); "
            "percentile metrics have none, since quantiles do not add across days",
            field="query.metric",
        )
    return TimeseriesOut(
        experiment=experiment.key,
        metric=chosen,
        run=run.id,
        points=[SeriesPoint.model_validate(point) for point in series[chosen]],
    )


CSV_COLUMNS = (
    "metric",
    "variant",
    "is_control",
    "cuped",
    "dimension",
    "dimension_value",
    "sample_size",
    "conversions",
    "mean",
    "variance",
    "ci_lower",
    "ci_upper",
    "absolute_lift",
    "absolute_ci_lower",
    "absolute_ci_upper",
    "relative_lift",
    "lift_ci_lower",
    "lift_ci_upper",
    "p_value",
    "chance_to_win",
    "expected_loss",
    "statistical_power",
    "variance_reduction",
    "significant",
    "note",
)


def results_csv(session: Session, *, key: str, at: dt.datetime | None = None) -> str:
    """Every row of the latest results, breakdowns included, as CSV text."""
    overall = latest_results(session, key=key, at=at)
    experiment = _experiment(session, key)
    rows = list(overall.results)
    for dimension in experiment.breakdowns or ():
        rows.extend(latest_results(session, key=key, at=at, dimension=dimension).results)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        values = row.model_dump(include=set(CSV_COLUMNS))
        writer.writerow({k: "" if v is None else v for k, v in values.items()})
    return buffer.getvalue()
