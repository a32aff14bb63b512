"""The experiment lifecycle as a state machine: which action moves which status where.

::

    draft ──start──▶ running ──pause──▶ paused
      │               ▲  │               │
      │               └──┼────resume─────┘
      │                  │               │
      │               complete        complete
      │                  ▼               │
      │              completed ◀─────────┘
      │                  │
      └────archive──▶ archived ◀──archive─┘ (from completed)

Every other (status, action) pair is refused, naming the status and what it allows.
The status ``running`` is what seeds 000 and 001 called ``active``.
"""

from __future__ import annotations

import enum

from verdict.server.errors import IllegalTransitionError
from verdict.server.experiments.models import ExperimentStatus

__all__ = ["TRANSITIONS", "Action", "allowed_actions", "next_status"]


class Action(enum.StrEnum):
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    COMPLETE = "complete"
    ARCHIVE = "archive"


_S = ExperimentStatus
TRANSITIONS: dict[tuple[ExperimentStatus, Action], ExperimentStatus] = {
    (_S.DRAFT, Action.START): _S.RUNNING,
    (_S.RUNNING, Action.PAUSE): _S.PAUSED,
    (_S.PAUSED, Action.RESUME): _S.RUNNING,
    (_S.RUNNING, Action.COMPLETE): _S.COMPLETED,
    (_S.PAUSED, Action.COMPLETE): _S.COMPLETED,
    (_S.COMPLETED, Action.ARCHIVE): _S.ARCHIVED,
    (_S.DRAFT, Action.ARCHIVE): _S.ARCHIVED,
}


def allowed_actions(status: ExperimentStatus) -> list[Action]:
    """The actions ``status`` allows, in the order of :class:`Action`."""
    return [action for action in Action if (status, action) in TRANSITIONS]


def next_status(status: ExperimentStatus, action: Action) -> ExperimentStatus:
    """The status ``action`` leads to from ``status``; IllegalTransitionError if none."""
    target = TRANSITIONS.get((status, action))
    if target is None:
        allowed = [a.value for a in allowed_actions(status)]
        allows = (
            f"the allowed actions are: {', '.join(allowed)}" if allowed else "no action is allowed"
        )
        raise IllegalTransitionError(
            f"cannot {action.value} an experiment that is {status.value}; "
            f"from {status.value} {allows}",
            field="status",
        )
    return target
