"""Request and response shapes of the experiments API.

Weights and coverage are fractions in [0, 1]. Related resources are named by key
(environment, segments, metrics, variants) and people by username, never by id, so a
request can be written by hand and read back unchanged.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from verdict.server.analysis.models import AnalysisMethod
from verdict.server.api.schemas import RequestModel
from verdict.server.db.keys import KEY_MAX_LENGTH, KEY_PATTERN
from verdict.server.experiments.models import (
    BUCKET_COUNT,
    ExperimentStatus,
    ExperimentType,
    MetricRole,
)

__all__ = [
    "CompleteIn",
    "ExperimentCreate",
    "ExperimentOut",
    "ExperimentUpdate",
    "Key",
    "MetricLinkIn",
    "MetricLinkOut",
    "PhaseOut",
    "Tag",
    "Username",
    "VariantIn",
    "VariantOut",
]

Key = Annotated[
    str,
    StringConstraints(min_length=1, max_length=KEY_MAX_LENGTH, pattern=KEY_PATTERN.pattern),
]
VariantKey = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Username = Annotated[str, StringConstraints(min_length=1, max_length=150)]
UnitId = Annotated[str, StringConstraints(min_length=1, max_length=255)]
FORCED_MAX = 1000
Fraction = Annotated[float, Field(ge=0, le=1)]
Attribute = Annotated[str, StringConstraints(min_length=1, max_length=100)]
BREAKDOWNS_MAX = 5


def _to_utc(moment: dt.datetime) -> dt.datetime:
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError as exc:  # 9999-12-31T23:00-05:00 is past datetime.max in UTC
        raise ValueError("is out of the range of representable times") from exc


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]


class VariantIn(RequestModel):
    """A variant as sent. In an edit, fields left out keep their stored values."""

    model_config = ConfigDict(allow_inf_nan=False)

    id: uuid.UUID | None = Field(
        default=None,
        description="Edits only: names the stored variant, so its key can be changed "
        "(drafts only). Without it a variant is matched by key.",
    )
    key: VariantKey
    label: str | None = Field(default=None, max_length=255)
    description: str | None = None
    is_control: bool = False
    weight: Fraction | None = Field(
        default=None,
        description="Share of enrolled units, 0-1. Variants without a weight share what "
        "the others leave equally.",
    )
    configuration: dict[str, Any] = Field(default_factory=dict)
    url: str | None = Field(default=None, description="Split-URL target.")
    response_template: str | None = None
    system_prompt: str | None = None
    config_overrides: dict[str, Any] = Field(default_factory=dict)


class MetricLinkIn(RequestModel):
    model_config = ConfigDict(allow_inf_nan=False)

    metric: Key = Field(description="Metric key.")
    role: MetricRole = MetricRole.SECONDARY
    non_inferiority_margin: float | None = Field(
        default=None, ge=0, description="Guardrails: largest relative harm tolerated."
    )


BANDIT_UPDATE_MINUTES_MAX = 10_080  # a week
BANDIT_BURN_IN_MAX = 1_000_000
_BANDIT_UPDATE = "Bandits: minutes between weight updates (docs/bandits.md)."
_BANDIT_FLOOR = "Bandits: the least weight every arm keeps (at most 1 / number of variants)."
_BANDIT_BURN = "Bandits: units every arm needs before the first update moves the weights."
_BANDIT_TOP_TWO = (
    "Bandits: top-two sampling's beta, the share of traffic that follows the leader; "
    "null: plain Thompson sampling."
)


class _ExperimentFields(RequestModel):
    model_config = ConfigDict(allow_inf_nan=False)

    name: str = Field(min_length=1, max_length=255)
    description: str | None = None
    hypothesis: str | None = None
    type: ExperimentType = ExperimentType.A_B
    target: str | None = Field(default=None, max_length=255)
    environment: Key | None = Field(
        default=None, description="Environment key; null: every environment."
    )
    targeting: dict[str, Any] = Field(
        default_factory=dict, description="A targeting condition (docs/targeting.md)."
    )
    forced_variants: dict[UnitId, VariantKey] = Field(
        default_factory=dict,
        max_length=FORCED_MAX,
        description="QA forcing: {unit id: variant key}; those units always see that "
        "variant, whatever the status, targeting or allocation.",
    )
    include_segments: list[Key] = Field(default_factory=list, description="Segment keys.")
    exclude_segments: list[Key] = Field(default_factory=list, description="Segment keys.")
    coverage: Fraction = Field(default=1.0, description="Fraction of eligible units enrolled.")
    layer: str | None = Field(default=None, min_length=1, max_length=100)
    bucket_start: int = Field(default=0, ge=0, le=BUCKET_COUNT)
    bucket_end: int = Field(default=BUCKET_COUNT, ge=0, le=BUCKET_COUNT)
    hash_attribute: str = Field(default="id", min_length=1, max_length=100)
    hash_seed: str | None = Field(default=None, min_length=1, max_length=100)
    minimum_sample_size: int | None = Field(default=None, ge=0)
    confidence_level: float = Field(default=0.95, gt=0, lt=1)
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    owner: Username | None = Field(default=None, description="Username; default: the caller.")
    start_at: UtcDatetime | None = Field(default=None, description="Planned start.")
    end_at: UtcDatetime | None = Field(default=None, description="Planned end.")
    variants: list[VariantIn] = Field(default_factory=list)
    metrics: list[MetricLinkIn] = Field(default_factory=list)
    data_source: Key | None = Field(
        default=None,
        description="Data source key to read exposures and events from; null: Verdict's "
        "own database.",
    )
    analysis_method: AnalysisMethod = Field(
        default=AnalysisMethod.FREQUENTIST,
        description="frequentist (fixed horizon), sequential (always valid) or bayesian.",
    )
    cuped_days: float | None = Field(
        default=14.0,
        gt=0,
        le=365,
        description="CUPED: days before each unit's exposure used as its covariate; null: off.",
    )
    breakdowns: list[Attribute] = Field(
        default_factory=list,
        max_length=BREAKDOWNS_MAX,
        description="Assignment-context attributes to break results down by.",
    )
    bandit_update_minutes: int = Field(
        default=60, ge=1, le=BANDIT_UPDATE_MINUTES_MAX, description=_BANDIT_UPDATE
    )
    bandit_floor: float = Field(default=0.01, gt=0, le=0.5, description=_BANDIT_FLOOR)
    bandit_burn_in: int = Field(default=100, ge=0, le=BANDIT_BURN_IN_MAX, description=_BANDIT_BURN)
    bandit_top_two: float | None = Field(default=None, gt=0, le=1, description=_BANDIT_TOP_TWO)


class ExperimentCreate(_ExperimentFields):
    key: Key


class ExperimentUpdate(RequestModel):
    """Only the fields sent change. ``variants``, ``metrics`` and the segment lists replace
    the stored lists; a stored variant is matched by ``id`` or else by ``key``."""

    model_config = ConfigDict(allow_inf_nan=False)

    key: Key | None = None
    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = None
    hypothesis: str | None = None
    type: ExperimentType | None = None
    target: str | None = Field(default=None, max_length=255)
    environment: Key | None = None
    targeting: dict[str, Any] | None = None
    forced_variants: dict[UnitId, VariantKey] | None = Field(default=None, max_length=FORCED_MAX)
    include_segments: list[Key] | None = None
    exclude_segments: list[Key] | None = None
    coverage: Fraction | None = None
    layer: str | None = Field(default=None, min_length=1, max_length=100)
    bucket_start: int | None = Field(default=None, ge=0, le=BUCKET_COUNT)
    bucket_end: int | None = Field(default=None, ge=0, le=BUCKET_COUNT)
    hash_attribute: str | None = Field(default=None, min_length=1, max_length=100)
    hash_seed: str | None = Field(default=None, min_length=1, max_length=100)
    minimum_sample_size: int | None = Field(default=None, ge=0)
    confidence_level: float | None = Field(default=None, gt=0, lt=1)
    tags: list[Tag] | None = Field(default=None, max_length=50)
    owner: Username | None = None
    start_at: UtcDatetime | None = None
    end_at: UtcDatetime | None = None
    variants: list[VariantIn] | None = None
    metrics: list[MetricLinkIn] | None = None
    data_source: Key | None = None
    analysis_method: AnalysisMethod | None = None
    cuped_days: float | None = Field(default=None, gt=0, le=365)
    breakdowns: list[Attribute] | None = Field(default=None, max_length=BREAKDOWNS_MAX)
    bandit_update_minutes: int | None = Field(
        default=None, ge=1, le=BANDIT_UPDATE_MINUTES_MAX, description=_BANDIT_UPDATE
    )
    bandit_floor: float | None = Field(default=None, gt=0, le=0.5, description=_BANDIT_FLOOR)
    bandit_burn_in: int | None = Field(
        default=None, ge=0, le=BANDIT_BURN_IN_MAX, description=_BANDIT_BURN
    )
    bandit_top_two: float | None = Field(default=None, gt=0, le=1, description=_BANDIT_TOP_TWO)
    phase_reason: str | None = Field(
        default=None,
        max_length=1000,
        description="Why weights or coverage change; kept on the new phase.",
    )


class CompleteIn(RequestModel):
    model_config = ConfigDict(allow_inf_nan=False)

    winner: VariantKey | None = Field(
        default=None, description="Key of the winning variant; null: no winner."
    )


class VariantOut(BaseModel):
    id: uuid.UUID
    key: str
    label: str | None
    description: str | None
    is_control: bool
    weight: float
    configuration: dict[str, Any]
    url: str | None
    response_template: str | None
    system_prompt: str | None
    config_overrides: dict[str, Any]


class MetricLinkOut(BaseModel):
    metric: str
    name: str
    type: str
    role: MetricRole
    non_inferiority_margin: float | None


class PhaseOut(BaseModel):
    number: int
    started_at: dt.datetime
    ended_at: dt.datetime | None
    coverage: float
    weights: dict[str, float]
    reason: str | None


class ExperimentOut(BaseModel):
    id: uuid.UUID
    key: str
    name: str
    description: str | None
    hypothesis: str | None
    type: ExperimentType
    status: ExperimentStatus
    allowed_actions: list[str] = Field(description="Lifecycle actions the status allows now.")
    target: str | None
    environment: str | None
    targeting: dict[str, Any]
    forced_variants: dict[str, str]
    include_segments: list[str]
    exclude_segments: list[str]
    coverage: float
    layer: str | None
    bucket_start: int
    bucket_end: int
    hash_attribute: str
    hash_seed: str | None
    minimum_sample_size: int | None
    confidence_level: float
    tags: list[str]
    owner: str | None
    start_at: dt.datetime | None
    end_at: dt.datetime | None
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    winner: str | None = Field(description="Key of the winning variant, once completed.")
    variants: list[VariantOut]
    metrics: list[MetricLinkOut]
    phases: list[PhaseOut]
    data_source: str | None = Field(description="Data source key; null: Verdict's database.")
    analysis_method: AnalysisMethod
    cuped_days: float | None
    breakdowns: list[str]
    bandit_update_minutes: int
    bandit_floor: float
    bandit_burn_in: int
    bandit_top_two: float | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
