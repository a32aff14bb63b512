"""Bandit weight updates: analyse, draw from the posteriors, move the weights, keep history.

One update of a running BANDIT experiment (:func:`run_update`), in order:

1. an incremental analysis run (trigger ``bandit``), so the update and the results a
   person reads come from the same figures; a failing or busy analysis ends the
   update with status ``failed`` / ``skipped`` and the weights as they were;
2. the primary metric's overall figures per arm from that run: units and conversions
   for a conversion metric (beta-binomial posterior), units, mean and variance for any
   other (normal posterior) -- :mod:`verdict.stats.bandits`;
3. burn-in: until every arm has ``bandit_burn_in`` units the weights stay (status
   ``burn_in``);
4. Thompson sampling (top-two when ``bandit_top_two`` is set) and the floor give the new
   weights, rounded to the engine's resolution (1/10,000, see ``docs/bucketing.md``)
   without dropping an arm below the floor;
5. the weights are written to the variants, the open phase is closed and a new one
   opened (reason ``bandit update``), the change is audited and committed with the
   update row: the commit publishes the configuration change, so servers and SDKs pick
   the weights up through the configuration stream. Units already assigned keep their
   variant (sticky assignments, see ``docs/bandits.md``).

The posterior draws use a generator seeded from the experiment id and the phase
number, so an update can be reproduced from its stored inputs.

:func:`due_bandits` lists the running bandits whose last update is older than their
``bandit_update_minutes``; the worker runs them on its cadence. Several workers may
find one bandit due at once: their analyses never overlap (the analysis lock), and an
update whose analysis began before another update applied new weights keeps them
(status ``skipped``), so one due bandit moves its weights once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from verdict.analysis.definitions import MAX_PERIODS
from verdict.server.analysis.models import ExperimentResult, MetricType
from verdict.server.analysis.runs import (
    AnalysisBusyError,
    execute_run,
    find_experiment,
    start_run,
)
from verdict.server.api.pagination import PageRequest, Sortable, paginate
from verdict.server.audit.service import record
from verdict.server.bandits.models import BanditUpdate, BanditUpdateStatus
from verdict.server.bandits.schemas import BanditOut, BanditUpdateOut
from verdict.server.db.base import utcnow
from verdict.server.errors import ConflictError, DomainError, InvalidInputError
from verdict.server.experiments.models import (
    Experiment,
    ExperimentMetric,
    ExperimentStatus,
    ExperimentType,
    MetricRole,
)
from verdict.server.experiments.phases import open_phase
from verdict.server.experiments.rules import bandit_problems
from verdict.server.experiments.service import RESOURCE_TYPE, flush_edit, touch
from verdict.server.experiments.views import experiment_snapshot, phase_out
from verdict.server.identity.service import SYSTEM
from verdict.stats.bandits import (
    beta_posterior_draws,
    burn_in_done,
    normal_posterior_draws,
    thompson_weights,
)

__all__ = [
    "BANDIT_ACTOR",
    "BANDIT_UPDATE_SORTS",
    "RESOLUTION",
    "bandit_out",
    "due_bandits",
    "list_updates",
    "round_weights",
    "run_update",
    "update_out",
]

# Who the audit log says moved the weights.
BANDIT_ACTOR = dataclasses.replace(SYSTEM, name="bandit")
BANDIT_UPDATE_SORTS: Sortable = {"created_at": BanditUpdate.created_at}
# Weights are stored in steps of 1/RESOLUTION: what bucketing resolves.
RESOLUTION = 10_000


def round_weights(weights: Sequence[float], floor: float) -> list[float]:
    """``weights`` in whole steps of 1/10,000 that sum to exactly 1, none below ``floor``
    (rounded up to a step), by largest remainders."""
    least = math.ceil(floor * RESOLUTION - 1e-9)
    scaled = [w * RESOLUTION for w in weights]
    steps = [max(least, math.floor(s)) for s in scaled]
    left = RESOLUTION - sum(steps)
    order = sorted(range(len(steps)), key=lambda i: scaled[i] - math.floor(scaled[i]), reverse=True)
    index = 0
    while left > 0:
        steps[order[index % len(steps)]] += 1
        left -= 1
        index += 1
    while left < 0:
        # Raising arms to the floor overshot: take it from the largest arms.
        largest = max(range(len(steps)), key=lambda i: steps[i])
        steps[largest] -= 1
        left += 1
    return [s / RESOLUTION for s in steps]


def _primary(experiment: Experiment) -> ExperimentMetric | None:
    return next((link for link in experiment.metric_links if link.role is MetricRole.PRIMARY), None)


def _check_bandit(experiment: Experiment) -> None:
    if experiment.type is not ExperimentType.BANDIT:
        raise InvalidInputError(
            f"experiment {experiment.key!r} is a {experiment.type.value} experiment, "
            "not a bandit: its weights only change when you edit them",
            field="path.key",
        )
    if experiment.status is not ExperimentStatus.RUNNING:
        raise ConflictError(
            f"experiment {experiment.key!r} is {experiment.status.value}: a bandit only "
            "updates its weights while it runs",
            field="status",
        )


def _current_weights(experiment: Experiment) -> dict[str, float]:
    return {v.key: v.weight for v in experiment.variants}


def _overall_rows(
    session: Session, run_id: uuid.UUID, metric_id: uuid.UUID
) -> dict[uuid.UUID, ExperimentResult]:
    rows = session.scalars(
        select(ExperimentResult).where(
            ExperimentResult.run_id == run_id,
            ExperimentResult.metric_id == metric_id,
            ExperimentResult.dimension.is_(None),
            ExperimentResult.cuped.is_(False),
        )
    ).all()
    return {row.variant_id: row for row in rows}


@dataclasses.dataclass
class _Outcome:
    status: BanditUpdateStatus
    reason: str
    weights: dict[str, float] | None = None  # new weights (applied only)
    probabilities: dict[str, float] = dataclasses.field(default_factory=dict)
    arms: dict[str, Any] = dataclasses.field(default_factory=dict)


def _arms(
    experiment: Experiment, rows: dict[uuid.UUID, ExperimentResult], conversion: bool
) -> dict[str, dict[str, Any]]:
    arms: dict[str, dict[str, Any]] = {}
    for variant in experiment.variants:
        row = rows.get(variant.id)
        figures: dict[str, Any] = {"units": row.sample_size if row else 0}
        if conversion:
            figures["conversions"] = (row.conversions or 0) if row else 0
        else:
            figures["mean"] = row.mean_value if row else None
            figures["variance"] = row.variance if row else None
        arms[variant.key] = figures
    return arms


def _seed(experiment: Experiment) -> int:
    number = max((p.number for p in experiment.phases), default=0)
    return (experiment.id.int ^ number) % 2**63


def _compute(experiment: Experiment, link: ExperimentMetric, arms: dict[str, Any]) -> _Outcome:
    """New weights from the arms' figures, or why there are none (a pure step)."""
    keys = [v.key for v in experiment.variants]
    units = np.array([arms[k]["units"] for k in keys], dtype=np.float64)
    burn_in = experiment.bandit_burn_in
    if not bool(burn_in_done(units, burn_in)):
        short = [f"{k} has {int(n)}" for k, n in zip(keys, units, strict=True) if n < burn_in]
        return _Outcome(
            BanditUpdateStatus.BURN_IN,
            f"burn-in: every variant needs {burn_in} units before the weights move; "
            + ", ".join(short),
            arms=arms,
        )
    metric = link.metric
    rng = np.random.default_rng(_seed(experiment))
    if metric.type is MetricType.CONVERSION:
        conversions = np.array([arms[k]["conversions"] for k in keys], dtype=np.float64)
        draws = beta_posterior_draws(conversions, units, rng=rng)
        model = "beta-binomial"
    else:
        missing = [k for k in keys if arms[k]["mean"] is None or arms[k]["variance"] is None]
        if missing or np.any(units < 2):
            return _Outcome(
                BanditUpdateStatus.SKIPPED,
                f"no mean and variance of {metric.key!r} yet for {', '.join(missing or keys)}",
                arms=arms,
            )
        means = np.array([arms[k]["mean"] for k in keys], dtype=np.float64)
        variances = np.array([arms[k]["variance"] for k in keys], dtype=np.float64)
        draws = normal_posterior_draws(units, means, variances, rng=rng)
        model = "normal"
    weights, best = thompson_weights(
        draws,
        floor=experiment.bandit_floor,
        top_two=experiment.bandit_top_two,
        higher_is_better=not metric.lower_is_better,
    )
    rounded = round_weights([float(w) for w in weights], experiment.bandit_floor)
    sampling = (
        "Thompson sampling"
        if experiment.bandit_top_two is None
        else f"top-two Thompson sampling (beta {experiment.bandit_top_two:g})"
    )
    return _Outcome(
        BanditUpdateStatus.APPLIED,
        f"{sampling} on {metric.key!r} ({model} posterior), floor {experiment.bandit_floor:g}",
        weights=dict(zip(keys, rounded, strict=True)),
        probabilities={k: float(p) for k, p in zip(keys, best, strict=True)},
        arms=arms,
    )


def _store(
    session: Session,
    experiment: Experiment,
    outcome: _Outcome,
    *,
    trigger: str,
    metric_key: str | None,
    run_id: uuid.UUID | None,
    now: dt.datetime,
) -> BanditUpdateOut:
    phase_id = None
    if outcome.status is BanditUpdateStatus.APPLIED and outcome.weights is not None:
        before = experiment_snapshot(experiment)
        for variant in experiment.variants:
            variant.weight = outcome.weights[variant.key]
        phase = open_phase(experiment, now=now, reason="bandit update", actor_user_id=None)
        touch(experiment, BANDIT_ACTOR)
        flush_edit(session, experiment)
        phase_id = phase.id
        record(
            session,
            actor=BANDIT_ACTOR,
            action="bandit_update",
            resource_type=RESOURCE_TYPE,
            resource_id=experiment.id,
            before=before,
            after=experiment_snapshot(experiment),
            environment_id=experiment.environment_id,
        )
    update = BanditUpdate(
        experiment_id=experiment.id,
        created_at=now,
        status=outcome.status,
        trigger=trigger,
        reason=outcome.reason,
        metric_key=metric_key,
        phase_id=phase_id,
        analysis_run_id=run_id,
        weights=outcome.weights or _current_weights(experiment),
        probabilities=outcome.probabilities,
        arms=outcome.arms,
    )
    session.add(update)
    session.commit()
    return update_out(update)


def _unchanged(experiment: Experiment, outcome: _Outcome) -> bool:
    if outcome.weights is None:
        return False
    current = _current_weights(experiment)
    return all(abs(current[k] - w) < 0.5 / RESOLUTION for k, w in outcome.weights.items())


def run_update(
    session_factory: sessionmaker[Session],
    own_engine: Engine,
    *,
    key: str,
    trigger: str,
    now: Callable[[], dt.datetime] = utcnow,
) -> BanditUpdateOut:
    """One weight update of the running bandit ``key`` (see the module docstring).

    Raises for what the caller must fix (not a bandit, not running); every other way
    an update can end is recorded on the returned row.
    """
    began = now()
    with session_factory() as session:
        experiment = find_experiment(session, key)
        _check_bandit(experiment)
        link = _primary(experiment)
        problems = bandit_problems(experiment)
        if link is None or problems:
            reason = (
                "no primary metric to learn from"
                if link is None
                else "; ".join(f"{field}: {why}" for field, why in problems)
            )
            outcome = _Outcome(BanditUpdateStatus.SKIPPED, reason)
            return _store(
                session,
                experiment,
                outcome,
                trigger=trigger,
                metric_key=None,
                run_id=None,
                now=now(),
            )
        metric_key, metric_id = link.metric.key, link.metric.id
        run = start_run(session, experiment=experiment, full=False, trigger="bandit", actor=None)
        run_id = run.id
    failure: _Outcome | None = None
    try:
        execute_run(session_factory, own_engine, run_id)
    except AnalysisBusyError:
        failure = _Outcome(
            BanditUpdateStatus.SKIPPED,
            "the experiment was being analysed elsewhere; the next update tries again",
        )
    except DomainError as error:
        failure = _Outcome(BanditUpdateStatus.FAILED, f"the analysis failed: {error.detail}")
    except Exception as error:  # recorded on the run too; the weights must stay
        failure = _Outcome(
            BanditUpdateStatus.FAILED, f"the analysis failed: {type(error).__name__}: {error}"
        )
    with session_factory() as session:
        experiment = find_experiment(session, key)
        if failure is None:
            link = _primary(experiment)
            if link is None or link.metric.key != metric_key:
                failure = _Outcome(
                    BanditUpdateStatus.SKIPPED, "the primary metric changed during the update"
                )
            elif experiment.status is not ExperimentStatus.RUNNING:
                failure = _Outcome(
                    BanditUpdateStatus.SKIPPED,
                    f"the experiment is {experiment.status.value} now; weights kept",
                )
            elif _applied_since(session, experiment, began):
                # Another worker (or a manual update) moved the weights while this
                # update's analysis ran: its figures predate that phase.
                failure = _Outcome(
                    BanditUpdateStatus.SKIPPED,
                    "another update was applied while this one ran; weights kept",
                )
            else:
                rows = _overall_rows(session, run_id, metric_id)
                arms = _arms(experiment, rows, link.metric.type is MetricType.CONVERSION)
                outcome = _compute(experiment, link, arms)
                if outcome.weights is not None and len(experiment.phases) >= MAX_PERIODS:
                    outcome = dataclasses.replace(
                        outcome,
                        status=BanditUpdateStatus.SKIPPED,
                        reason=f"the experiment has {len(experiment.phases):,} phases, the "
                        "most an analysis weighs: the weights stay as they are",
                        weights=None,
                    )
                if _unchanged(experiment, outcome):
                    outcome = dataclasses.replace(
                        outcome,
                        status=BanditUpdateStatus.SKIPPED,
                        reason="the new weights equal the current ones",
                        weights=None,
                    )
                try:
                    return _store(
                        session,
                        experiment,
                        outcome,
                        trigger=trigger,
                        metric_key=metric_key,
                        run_id=run_id,
                        now=now(),
                    )
                except ConflictError as error:
                    session.rollback()
                    experiment = find_experiment(session, key)
                    failure = _Outcome(
                        BanditUpdateStatus.FAILED,
                        f"{error.detail}; the next update tries again",
                        arms=arms,
                    )
        return _store(
            session,
            experiment,
            failure,
            trigger=trigger,
            metric_key=metric_key,
            run_id=run_id,
            now=now(),
        )


def _applied_since(session: Session, experiment: Experiment, moment: dt.datetime) -> bool:
    """Whether an update of ``experiment`` applied new weights at or after ``moment``."""
    found = session.execute(
        select(BanditUpdate.id)
        .where(
            BanditUpdate.experiment_id == experiment.id,
            BanditUpdate.status == BanditUpdateStatus.APPLIED,
            BanditUpdate.created_at >= moment,
        )
        .limit(1)
    ).first()
    return found is not None


def due_bandits(session: Session, *, now: dt.datetime) -> list[str]:
    """Keys of the running bandits whose last update (or start) is at least their
    update interval ago, oldest first."""
    last = (
        select(BanditUpdate.experiment_id, func.max(BanditUpdate.created_at).label("at"))
        .group_by(BanditUpdate.experiment_id)
        .subquery()
    )
    rows = session.execute(
        select(Experiment.key, Experiment.bandit_update_minutes, Experiment.started_at, last.c.at)
        .outerjoin(last, last.c.experiment_id == Experiment.id)
        .where(
            Experiment.type == ExperimentType.BANDIT,
            Experiment.status == ExperimentStatus.RUNNING,
        )
    ).all()
    due: list[tuple[dt.datetime, str]] = []
    for key, minutes, started_at, at in rows:
        since = at or started_at
        if since is None or since + dt.timedelta(minutes=minutes) <= now:
            due.append((since or now, key))
    return [key for _, key in sorted(due)]


def list_updates(
    session: Session, experiment: Experiment, *, page: PageRequest
) -> tuple[Sequence[BanditUpdate], str | None]:
    """A page of one experiment's bandit updates, newest first by default."""
    query = select(BanditUpdate).where(BanditUpdate.experiment_id == experiment.id)
    return paginate(session, query, page, sortable=BANDIT_UPDATE_SORTS, id_column=BanditUpdate.id)


def update_out(update: BanditUpdate) -> BanditUpdateOut:
    return BanditUpdateOut(
        id=update.id,
        created_at=update.created_at,
        status=update.status,
        trigger=update.trigger,
        reason=update.reason,
        metric=update.metric_key,
        phase=update.phase.number if update.phase is not None else None,
        analysis_run_id=update.analysis_run_id,
        weights=update.weights,
        probabilities=update.probabilities,
        arms=update.arms,
    )


def last_update(session: Session, experiment: Experiment) -> BanditUpdate | None:
    return session.scalars(
        select(BanditUpdate)
        .where(BanditUpdate.experiment_id == experiment.id)
        .order_by(BanditUpdate.created_at.desc(), BanditUpdate.id.desc())
        .limit(1)
    ).first()


def bandit_out(session: Session, experiment: Experiment) -> BanditOut:
    """The bandit's settings, weights, last update and weights history."""
    if experiment.type is not ExperimentType.BANDIT:
        raise InvalidInputError(
            f"experiment {experiment.key!r} is a {experiment.type.value} experiment, not a bandit",
            field="path.key",
        )
    last = last_update(session, experiment)
    next_at = None
    if experiment.status is ExperimentStatus.RUNNING:
        since = last.created_at if last is not None else experiment.started_at
        if since is not None:
            next_at = since + dt.timedelta(minutes=experiment.bandit_update_minutes)
    return BanditOut(
        experiment=experiment.key,
        status=experiment.status.value,
        update_minutes=experiment.bandit_update_minutes,
        floor=experiment.bandit_floor,
        burn_in=experiment.bandit_burn_in,
        top_two=experiment.bandit_top_two,
        weights=_current_weights(experiment),
        next_update_at=next_at,
        last_update=update_out(last) if last is not None else None,
        phases=[phase_out(phase) for phase in experiment.phases],
    )
