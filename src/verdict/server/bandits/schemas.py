"""API shapes of bandit updates and of a bandit's current state."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, Field

from verdict.server.bandits.models import BanditUpdateStatus
from verdict.server.experiments.schemas import PhaseOut

__all__ = ["BanditOut", "BanditUpdateOut"]


class BanditUpdateOut(BaseModel):
    id: uuid.UUID
    created_at: dt.datetime
    status: BanditUpdateStatus = Field(
        description="applied (new weights, a new phase), burn_in, skipped or failed "
        "(weights kept; `reason` says why)."
    )
    trigger: str = Field(description="worker, api, dashboard or cli.")
    reason: str
    metric: str | None = Field(description="The primary metric the update learned from.")
    phase: int | None = Field(description="Number of the phase an applied update opened.")
    analysis_run_id: uuid.UUID | None
    weights: dict[str, float] = Field(description="{variant key: weight} after the update.")
    probabilities: dict[str, float] = Field(
        description="{variant key: posterior probability of being the best arm}."
    )
    arms: dict[str, Any] = Field(
        description="What the posteriors were drawn from, per variant: units and "
        "conversions, or units, mean and variance."
    )


class BanditOut(BaseModel):
    experiment: str
    status: str
    update_minutes: int
    floor: float
    burn_in: int
    top_two: float | None
    weights: dict[str, float] = Field(description="The weights in force now.")
    next_update_at: dt.datetime | None = Field(
        description="When the worker updates the weights next (null: not running)."
    )
    last_update: BanditUpdateOut | None
    phases: list[PhaseOut] = Field(description="The history of the weights, oldest first.")
