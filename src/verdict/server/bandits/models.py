"""Bandit updates: every attempt to move a bandit's weights, applied or not, and why.

An applied update opened a phase (``experiment_phases``) holding the new weights, so
the phases are the history of the weights; an update row adds what the weights were
computed from (the units and conversions or means per arm, the probability that each
arm is the best) and, for an update that did not apply, the reason (burn-in, no data,
a failing analysis), with the weights left as they were.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from verdict.server.db.base import Base, new_id, utcnow
from verdict.server.db.types import db_enum

if TYPE_CHECKING:
    from verdict.server.experiments.models import Experiment, ExperimentPhase

__all__ = ["BanditUpdate", "BanditUpdateStatus"]


class BanditUpdateStatus(enum.StrEnum):
    APPLIED = "applied"  # new weights, a new phase
    BURN_IN = "burn_in"  # an arm has fewer units than the burn-in asks: weights kept
    SKIPPED = "skipped"  # nothing to compute from (no results, no primary metric): kept
    FAILED = "failed"  # the analysis behind the update failed: weights kept


class BanditUpdate(Base):
    __tablename__ = "bandit_updates"
    __table_args__ = (
        Index("ix_bandit_updates_experiment_id_created_at", "experiment_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    experiment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    status: Mapped[BanditUpdateStatus] = mapped_column(
        db_enum(BanditUpdateStatus, "bandit_update_status")
    )
    trigger: Mapped[str] = mapped_column(String(20))  # worker, api, dashboard, cli
    # Why the weights were kept, or how the applied ones were computed.
    reason: Mapped[str] = mapped_column(Text)
    metric_key: Mapped[str | None] = mapped_column(String(100))
    # The phase the update opened (applied updates only).
    phase_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("experiment_phases.id", ondelete="SET NULL")
    )
    analysis_run_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("analysis_runs.id", ondelete="SET NULL")
    )
    # {variant key: weight} in force after the update (the kept ones when not applied).
    weights: Mapped[dict[str, Any]] = mapped_column()
    # {variant key: P(best)}, and {variant key: {"units", "conversions"|"mean", ...}}.
    probabilities: Mapped[dict[str, Any]] = mapped_column(default=dict)
    arms: Mapped[dict[str, Any]] = mapped_column(default=dict)

    experiment: Mapped[Experiment] = relationship()
    phase: Mapped[ExperimentPhase | None] = relationship()
