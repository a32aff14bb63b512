"""Analysis runs: request, lock, compute, store — or fail and keep what was there.

A run is recorded first (``queued``, committed, so a poller sees it), then the
experiment is locked so two analyses of it never overlap (the run is ``running`` from
then on): a PostgreSQL advisory lock
held on its own connection for the whole run, or elsewhere a lock row (a conditional
UPDATE of ``analysis_states``, with an expiry so a crashed process cannot hold it
forever). The computation reads the data source (Verdict's own database by default),
:mod:`verdict.analysis.outcomes` turns its sums into results, and one transaction
stores the result rows, refreshes the variants' counters and marks the run
``succeeded``. Any failure marks the run ``failed`` with its error (and the field it
concerns), counts the failure and schedules a retry with exponential backoff; earlier
results are untouched, since readers only see the rows of the latest succeeded run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, func, select, text, update
from sqlalchemy.orm import Session, object_session, selectinload, sessionmaker

from verdict.analysis import (
    AnalysisDefinitionError,
    AnalysisEngine,
    Computation,
    DataSourceError,
    IncrementalState,
    compute,
    connect,
    from_sqlalchemy,
)
from verdict.analysis.outcomes import MetricResult, Outcome, evaluate
from verdict.server.analysis.models import (
    AnalysisMethod,
    AnalysisRun,
    AnalysisRunStatus,
    AnalysisState,
    ExperimentResult,
)
from verdict.server.analysis.specs import AnalysisInputs, analysis_inputs
from verdict.server.assignments.models import Assignment
from verdict.server.db.base import utcnow
from verdict.server.errors import ConflictError, DomainError, InvalidInputError, NotFoundError
from verdict.server.events.models import Event
from verdict.server.experiments.models import (
    Experiment,
    ExperimentMetric,
    ExperimentStatus,
    MetricRole,
)
from verdict.server.identity.auth import Principal

__all__ = [
    "AnalysisBusyError",
    "execute_run",
    "find_experiment",
    "inputs_marker",
    "record_failure",
    "start_run",
]

logger = logging.getLogger(__name__)
LOCK_SECONDS = 3600.0  # a lock row older than this belongs to a process that died
BACKOFF_BASE_SECONDS = 60.0
BACKOFF_MAX_SECONDS = 6 * 3600.0
Progress = Callable[[float, str], None]


class AnalysisBusyError(ConflictError):
    """Another analysis of the same experiment is running."""


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


def find_experiment(session: Session, key: str) -> Experiment:
    experiment = session.scalars(
        select(Experiment)
        .where(Experiment.key == key)
        .options(
            selectinload(Experiment.variants),
            selectinload(Experiment.phases),
            selectinload(Experiment.metric_links).selectinload(ExperimentMetric.metric),
        )
    ).first()
    if experiment is None:
        raise NotFoundError(f"no experiment with key {key!r}", field="path.key")
    return experiment


def _state(session: Session, experiment_id: uuid.UUID) -> AnalysisState:
    state = session.get(AnalysisState, experiment_id)
    if state is None:
        state = AnalysisState(experiment_id=experiment_id, failures=0)
        session.add(state)
        session.flush()
    return state


def start_run(
    session: Session,
    *,
    experiment: Experiment,
    full: bool,
    trigger: str,
    actor: Principal | None,
) -> AnalysisRun:
    """Record a run of ``experiment`` (committed, status ``queued``)."""
    run = AnalysisRun(
        experiment_id=experiment.id,
        status=AnalysisRunStatus.QUEUED,
        full=full,
        trigger=trigger,
        requested_by_id=actor.user_id if actor else None,
        progress=0.0,
        stage="queued",
        method=experiment.analysis_method,
    )
    session.add(run)
    _state(session, experiment.id)
    session.commit()
    return run


@contextmanager
def _experiment_lock(engine: Engine, experiment_id: uuid.UUID) -> Iterator[None]:
    """Hold the experiment's analysis lock, or raise :class:`AnalysisBusyError`."""
    if engine.dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(b"analysis:" + experiment_id.bytes).digest()[:8], "big")
        key -= 1 << 63 if key >= 1 << 63 else 0
        connection: Connection = engine.connect()
        try:
            got = connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
            connection.commit()
            if not got:
                raise AnalysisBusyError(
                    "an analysis of this experiment is already running", field="path.key"
                )
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                connection.commit()
        finally:
            connection.close()
        return
    me = f"{_holder()}:{uuid.uuid4().hex[:8]}"
    now = utcnow()
    with engine.begin() as connection:
        taken = connection.execute(
            update(AnalysisState)
            .where(
                AnalysisState.experiment_id == experiment_id,
                (AnalysisState.locked_until.is_(None)) | (AnalysisState.locked_until < now),
            )
            .values(locked_by=me, locked_until=now + dt.timedelta(seconds=LOCK_SECONDS))
        ).rowcount
    if taken != 1:
        raise AnalysisBusyError(
            "an analysis of this experiment is already running", field="path.key"
        )
    try:
        yield
    finally:
        with engine.begin() as connection:
            connection.execute(
                update(AnalysisState)
                .where(AnalysisState.experiment_id == experiment_id, AnalysisState.locked_by == me)
                .values(locked_by=None, locked_until=None)
            )


def inputs_marker(session: Session, experiment: Experiment, fingerprint: str) -> str | None:
    """What the last analysis read, so the worker can skip an unchanged experiment.

    For Verdict's own database: the experiment's assignment count and newest
    assignment, and the newest event received (any event may belong to a metric).
    A warehouse cannot be asked cheaply, so it has no marker (always refreshed).
    """
    if experiment.data_source_id is not None:
        return None
    assignments, newest = session.execute(
        select(func.count(), func.max(Assignment.assigned_at)).where(
            Assignment.experiment_id == experiment.id
        )
    ).one()
    events = session.execute(select(func.max(Event.received_at))).scalar()
    parts = [fingerprint[:16], str(assignments), str(newest), str(events)]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def _engine_for(inputs: AnalysisInputs, own_engine: Engine) -> AnalysisEngine:
    """Verdict's own database through the server's engine (never disposed by the
    analysis), or a new connection to the experiment's data source."""
    if inputs.source_url is None:
        return from_sqlalchemy(own_engine)
    return connect(inputs.source_url)


def _as_domain_error(error: Exception) -> DomainError | None:
    if isinstance(error, DomainError):
        return error
    if isinstance(error, AnalysisDefinitionError | DataSourceError):
        return InvalidInputError(str(error.message), field=error.field)
    return None


def record_failure(
    session_factory: sessionmaker[Session], run_id: uuid.UUID, error: Exception
) -> DomainError | None:
    """Mark the run failed, count the failure and schedule the retry."""
    domain = _as_domain_error(error)
    message = domain.detail if domain else f"{type(error).__name__}: {error}"
    with session_factory() as session:
        run = session.get(AnalysisRun, run_id)
        if run is None:
            return domain
        run.status = AnalysisRunStatus.FAILED
        run.finished_at = utcnow()
        run.error = message[:4000]
        run.error_field = domain.field if domain else None
        if isinstance(error, AnalysisBusyError):
            session.commit()  # not the experiment's fault: no backoff
            return domain
        state = _state(session, run.experiment_id)
        state.failures = (state.failures or 0) + 1
        delay = min(BACKOFF_BASE_SECONDS * 2 ** (state.failures - 1), BACKOFF_MAX_SECONDS)
        state.next_attempt_at = utcnow() + dt.timedelta(seconds=delay)
        state.last_error = message[:4000]
        session.commit()
    return domain


def _mark_running(session_factory: sessionmaker[Session], run_id: uuid.UUID) -> None:
    with session_factory() as session:
        session.execute(
            update(AnalysisRun)
            .where(AnalysisRun.id == run_id)
            .values(status=AnalysisRunStatus.RUNNING, started_at=utcnow(), stage="started")
        )
        session.commit()


def _progress(session_factory: sessionmaker[Session], run_id: uuid.UUID) -> Progress:
    def report(fraction: float, stage: str) -> None:
        with session_factory() as session:
            session.execute(
                update(AnalysisRun)
                .where(AnalysisRun.id == run_id)
                .values(progress=max(0.0, min(1.0, fraction)), stage=stage[:100])
            )
            session.commit()

    return report


def execute_run(
    session_factory: sessionmaker[Session],
    own_engine: Engine,
    run_id: uuid.UUID,
    *,
    phase_number: int | None = None,
    progress: Progress | None = None,
) -> AnalysisRun:
    """Compute and store the run; on failure record it and raise the domain error."""
    report = progress or _progress(session_factory, run_id)
    try:
        with session_factory() as session:
            run = session.get(AnalysisRun, run_id)
            if run is None:
                raise NotFoundError(f"no analysis run {run_id}", field="path.run")
            experiment_id = run.experiment_id
        with _experiment_lock(own_engine, experiment_id):
            _mark_running(session_factory, run_id)
            return _compute_and_store(
                session_factory, own_engine, run_id, phase_number=phase_number, report=report
            )
    except Exception as error:
        domain = record_failure(session_factory, run_id, error)
        if domain is not None:
            raise domain from error
        logger.exception("analysis run %s failed", run_id)
        raise


def _compute_and_store(
    session_factory: sessionmaker[Session],
    own_engine: Engine,
    run_id: uuid.UUID,
    *,
    phase_number: int | None,
    report: Progress,
) -> AnalysisRun:
    report(0.05, "reading definitions")
    with session_factory() as session:
        run = session.get(AnalysisRun, run_id)
        assert run is not None
        experiment = find_experiment(session, _key_of(session, run.experiment_id))
        inputs = analysis_inputs(
            session, experiment, own_engine=own_engine, now=utcnow(), phase_number=phase_number
        )
        state = _state(session, experiment.id)
        # Passed on a full rebuild too: the rebuild then drops the table it replaces.
        incremental = _incremental_state(state)
        session.commit()
    report(0.15, "querying the data source")
    engine = _engine_for(inputs, own_engine)
    try:
        computation = compute(engine, inputs.mapping, inputs.spec, state=incremental, full=run.full)
    finally:
        engine.close()  # closes only what the adapter opened
    report(0.8, "computing statistics")
    with session_factory() as session:
        experiment = find_experiment(session, _key_of(session, run.experiment_id))
        outcome = evaluate(
            inputs.spec,
            computation,
            method=experiment.analysis_method.value,
            confidence_level=experiment.confidence_level,
            plans=inputs.plans,
            required_units=experiment.minimum_sample_size,
        )
        marker = inputs_marker(session, experiment, inputs.spec.fingerprint())
        stored = _store(session, run_id, experiment, inputs, computation, outcome, marker)
        session.commit()
    report(1.0, "stored")
    return stored


def _incremental_state(state: AnalysisState) -> IncrementalState | None:
    if not state.incremental:
        return None
    try:
        return IncrementalState.from_dict(state.incremental)
    except (KeyError, ValueError):
        logger.warning("ignoring an unreadable incremental state: %r", state.incremental)
        return None  # a full rebuild follows


def _key_of(session: Session, experiment_id: uuid.UUID) -> str:
    key = session.scalar(select(Experiment.key).where(Experiment.id == experiment_id))
    if key is None:
        raise NotFoundError("the experiment of this run was deleted", field="path.key")
    return key


def _store(
    session: Session,
    run_id: uuid.UUID,
    experiment: Experiment,
    inputs: AnalysisInputs,
    computation: Computation,
    outcome: Outcome,
    marker: str | None,
) -> AnalysisRun:
    run = session.get(AnalysisRun, run_id)
    assert run is not None
    variants = {
        spec.id: stored
        for spec, stored in zip(inputs.spec.variants, experiment.variants, strict=True)
    }
    metrics = {link.metric.key: link.metric for link in experiment.metric_links}
    now = utcnow()
    for row in outcome.results:
        session.add(_result_row(row, run, experiment, variants, metrics, inputs, now))
    _refresh_counters(experiment, inputs, computation, outcome, variants)
    run.status = AnalysisRunStatus.SUCCEEDED
    run.finished_at = now
    run.progress = 1.0
    run.stage = "stored"
    run.phase_id = inputs.phase.id if inputs.phase is not None else None
    run.method = AnalysisMethod(experiment.analysis_method.value)
    run.data_window_start = inputs.spec.start
    run.data_window_end = inputs.spec.end
    run.scanned_from = computation.scanned_from
    run.scanned_to = computation.scanned_to
    run.full = computation.full
    keys = {spec.id: spec.key for spec in inputs.spec.variants}
    run.summary = {
        "exposures": {keys.get(v, v): n for v, n in computation.exposures.items()},
        "multiple_exposures": computation.multiple_exposures,
        "unknown_variants": computation.unknown_variants,
        "incremental": not computation.full,
    }
    run.srm = outcome.srm
    run.decision = outcome.decision
    run.timeseries = outcome.timeseries
    state = _state(session, experiment.id)
    state.incremental = computation.state.to_dict() if computation.state is not None else None
    state.inputs_marker = marker
    state.last_run_id = run.id
    state.failures = 0
    state.next_attempt_at = None
    state.last_error = None
    return run


def _result_row(
    row: MetricResult,
    run: AnalysisRun,
    experiment: Experiment,
    variants: dict[str, Any],
    metrics: dict[str, Any],
    inputs: AnalysisInputs,
    now: dt.datetime,
) -> ExperimentResult:
    return ExperimentResult(
        run_id=run.id,
        experiment_id=experiment.id,
        variant_id=variants[row.variant].id,
        metric_id=metrics[row.metric].id,
        phase_id=inputs.phase.id if inputs.phase is not None else None,
        method=AnalysisMethod(experiment.analysis_method.value),
        cuped=row.cuped,
        sample_size=row.sample_size,
        conversions=row.conversions,
        mean_value=row.mean,
        variance=row.variance,
        ci_lower=row.ci_lower,
        ci_upper=row.ci_upper,
        absolute_lift=row.absolute_lift,
        absolute_ci_lower=row.absolute_ci_lower,
        absolute_ci_upper=row.absolute_ci_upper,
        relative_lift=row.relative_lift,
        lift_ci_lower=row.lift_ci_lower,
        lift_ci_upper=row.lift_ci_upper,
        p_value=row.p_value,
        chance_to_win=row.chance_to_win,
        expected_loss=row.expected_loss,
        statistical_power=row.statistical_power,
        variance_reduction=row.variance_reduction,
        confidence_level=experiment.confidence_level,
        computed_at=now,
        data_window_start=inputs.spec.start,
        data_window_end=inputs.spec.end,
        dimension=row.dimension,
        dimension_value=row.dimension_value,
        note=row.note,
    )


def _refresh_counters(
    experiment: Experiment,
    inputs: AnalysisInputs,
    computation: Computation,
    outcome: Outcome,
    variants: dict[str, Any],
) -> None:
    """Seed 000's cached counters on each variant, from the first primary metric."""
    primary = next(
        (link.metric.key for link in experiment.metric_links if link.role is MetricRole.PRIMARY),
        inputs.spec.metrics[0].key,
    )
    rows = {
        r.variant: r
        for r in outcome.results
        if r.metric == primary and not r.cuped and r.dimension is None
    }
    for spec_id, variant in variants.items():
        impressions = int(computation.exposures.get(spec_id, 0))
        row = rows.get(spec_id)
        conversions = min(int(row.conversions or 0), impressions) if row else 0
        variant.impressions = impressions
        variant.conversions = conversions
        variant.conversion_rate = conversions / impressions if impressions else 0.0
        variant.total_value = float(row.total or 0.0) if row else 0.0
        variant.confidence_interval_lower = row.ci_lower if row else None
        variant.confidence_interval_upper = row.ci_upper if row else None
    if experiment.status is ExperimentStatus.RUNNING:
        # A Core UPDATE: an analysis must not bump the experiment's edit version (ETag).
        best = [r.p_value for r in rows.values() if r.p_value is not None]
        session = object_session(experiment)
        assert session is not None
        session.execute(
            update(Experiment)
            .where(Experiment.id == experiment.id)
            .values(statistical_significance=1 - min(best) if best else None)
            .execution_options(synchronize_session=False)
        )
