"""Lifecycle actions: start, pause, resume, complete, archive.

The state machine in :mod:`.lifecycle` decides whether an action is allowed; this module
applies it. Starting checks seed 004's rules (all failures reported together), stamps
``started_at`` and opens phase 1; completing names the winner, stamps ``completed_at``
and ends the open phase. Each action is audited under its own name.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from verdict.server.api.versioning import check_version
from verdict.server.audit.service import record
from verdict.server.db import utcnow
from verdict.server.errors import InvalidInputError
from verdict.server.experiments.lifecycle import Action, next_status
from verdict.server.experiments.models import Experiment
from verdict.server.experiments.phases import close_phase, open_phase
from verdict.server.experiments.references import segment_conditions
from verdict.server.experiments.rules import raise_if_any, start_rule_failures
from verdict.server.experiments.service import RESOURCE_TYPE, flush_edit, get_experiment, touch
from verdict.server.experiments.views import experiment_snapshot
from verdict.server.identity.auth import Principal

__all__ = ["perform"]


def perform(
    session: Session,
    *,
    actor: Principal,
    key: str,
    action: Action,
    if_match: str | None,
    winner: str | None = None,
) -> Experiment:
    experiment = get_experiment(session, key=key)
    check_version(if_match, experiment.version)
    target = next_status(experiment.status, action)
    before = experiment_snapshot(experiment)
    now = utcnow()
    if action is Action.START:
        failures = start_rule_failures(experiment, segments=segment_conditions(session), now=now)
        raise_if_any(failures, f"experiment {key!r} cannot start")
        experiment.started_at = now
        open_phase(experiment, now=now, reason="start", actor_user_id=actor.user_id)
    elif action is Action.COMPLETE:
        if winner is not None:
            chosen = next((v for v in experiment.variants if v.key == winner), None)
            if chosen is None:
                keys = ", ".join(v.key for v in experiment.variants)
                raise InvalidInputError(
                    f"experiment {key!r} has no variant {winner!r}; its variants are: {keys}",
                    field="body.winner",
                )
            experiment.winner_variant_id = chosen.id
        experiment.completed_at = now
        close_phase(experiment, now=now)
    experiment.status = target
    touch(experiment, actor)
    flush_edit(session, experiment)
    record(
        session,
        actor=actor,
        action=action.value,
        resource_type=RESOURCE_TYPE,
        resource_id=experiment.id,
        before=before,
        after=experiment_snapshot(experiment),
        environment_id=experiment.environment_id,
    )
    session.commit()
    return experiment
