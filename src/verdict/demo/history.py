"""Put the demo's experiments into the past: when they started and when bandits updated.

The API stamps a start, a phase and a bandit update with the server's clock, which is
right for real use. The demo replays two weeks of traffic in a minute, with exposures
and events carrying their simulated times (both APIs accept a client timestamp), so
the start of each running experiment, and each phase a bandit update opened, are moved
to the simulated moment they stand for. Without it the analysis window (which begins
at the start, or at the first phase of a bandit) would exclude the replayed history.
Nothing else is changed: the weights, variants and results all come from the API and
the analysis.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from verdict.server.bandits.models import BanditUpdate
from verdict.server.experiments.models import Experiment

__all__ = ["backdate_bandit_update", "backdate_starts"]


def _experiment(session: Session, key: str) -> Experiment:
    experiment = session.scalars(
        select(Experiment).where(Experiment.key == key).options(selectinload(Experiment.phases))
    ).one()
    return experiment


def backdate_starts(session: Session, keys: Iterable[str], started_at: dt.datetime) -> None:
    """Running experiments ``keys`` (each in its first phase) started at ``started_at``."""
    for key in keys:
        experiment = _experiment(session, key)
        experiment.started_at = started_at
        for phase in experiment.phases:
            phase.started_at = started_at
    session.commit()


def backdate_bandit_update(session: Session, key: str, at: dt.datetime) -> None:
    """The bandit ``key``'s newest update happened at ``at``: its row, and the phase it
    opened (if it applied new weights) with the end of the phase before."""
    experiment = _experiment(session, key)
    update = session.scalars(
        select(BanditUpdate)
        .where(BanditUpdate.experiment_id == experiment.id)
        .order_by(BanditUpdate.created_at.desc())
        .limit(1)
    ).first()
    if update is None:
        return
    update.created_at = at
    if update.phase_id is not None:
        phases = sorted(experiment.phases, key=lambda p: p.number)
        for before, after in itertools.pairwise(phases):
            if after.id == update.phase_id:
                before.ended_at = at
                after.started_at = at
    session.commit()
