"""Request and response shapes of the flags API: definitions, per-environment state,
overrides.

Values are JSON and are checked against the flag's type by the engine when the
environment's configuration is compiled. Rules use exactly the engine's rule shape
(docs/targeting.md §4); related resources are named by key and people by username.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from verdict.server.flags.models import FlagValueType
from verdict.server.flags.storable import (
    Condition,
    Description,
    JsonValue,
    Key,
    Name,
    Note,
    ShortText,
    Tag,
    Username,
    VariantKey,
)

__all__ = [
    "RULE_FIELDS",
    "FlagCreate",
    "FlagOut",
    "FlagStateIn",
    "FlagStateOut",
    "FlagStateSummary",
    "FlagUpdate",
    "OverrideIn",
    "OverrideOut",
    "PrerequisiteIn",
    "PrerequisiteOut",
    "RuleIn",
    "VariantIn",
    "VariantOut",
    "WeightIn",
]

Percentage = Annotated[float, Field(ge=0, le=100, multiple_of=0.01)]
Fraction = Annotated[float, Field(ge=0, le=1)]

# Which optional fields each rule type takes (besides id, type, description,
# condition and segment, which every rule may carry).
RULE_FIELDS: dict[str, frozenset[str]] = {
    "force": frozenset({"value", "variant"}),
    "rollout": frozenset({"value", "variant", "percentage", "seed"}),
    "split": frozenset({"weights", "coverage", "seed"}),
    "experiment": frozenset({"experiment"}),
}


class VariantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: VariantKey
    value: JsonValue = Field(description="A value of the flag's type.")


class VariantOut(BaseModel):
    key: str
    value: Any


class PrerequisiteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    flag: Key = Field(description="Key of the flag that must be evaluated first.")
    value: JsonValue = Field(description="The value it must resolve to.")


class PrerequisiteOut(BaseModel):
    flag: str
    value: Any


class FlagCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: Key
    name: Name
    description: Description | None = None
    value_type: FlagValueType = FlagValueType.BOOLEAN
    default_value: JsonValue = Field(
        default=None,
        description="Served when the flag is off or no rule applies; "
        "defaults to false for boolean flags and is required for the other types.",
    )
    variants: list[VariantIn] = Field(default_factory=list, max_length=100)
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    owner: Username | None = Field(default=None, description="Username of the owner.")
    experiment: Key | None = Field(default=None, description="Key of a linked experiment.")
    prerequisites: list[PrerequisiteIn] = Field(default_factory=list, max_length=20)


class FlagUpdate(BaseModel):
    """Fields to change. The key is permanent (SDK calls and hash seeds use it)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: Description | None = None
    value_type: FlagValueType | None = None
    default_value: JsonValue = None
    variants: list[VariantIn] | None = Field(default=None, max_length=100)
    tags: list[Tag] | None = Field(default=None, max_length=20)
    owner: Username | None = None
    experiment: Key | None = None
    prerequisites: list[PrerequisiteIn] | None = Field(default=None, max_length=20)


class FlagStateSummary(BaseModel):
    enabled: bool
    rollout_percentage: float | None
    rules: int = Field(description="Number of rules.")
    version: int


class FlagOut(BaseModel):
    id: uuid.UUID
    key: str
    name: str
    description: str | None
    value_type: FlagValueType
    default_value: Any
    variants: list[VariantOut]
    tags: list[str]
    owner: str | None
    experiment: str | None
    prerequisites: list[PrerequisiteOut] = Field(description="Sorted by flag key.")
    archived: bool
    environments: dict[str, FlagStateSummary] = Field(
        description="The flag's state in each environment where it has been configured."
    )
    created_by: str | None
    updated_by: str | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class WeightIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    variant: VariantKey
    weight: Fraction


class RuleIn(BaseModel):
    """One rule in the engine's shape. Which fields a type takes:

    - ``force``: ``value`` or ``variant``;
    - ``rollout``: ``percentage`` (0-100, 0.01 steps), ``value`` or ``variant``, ``seed``;
    - ``split``: ``weights`` [{variant, weight}] summing to 1, ``coverage`` (0-1), ``seed``;
    - ``experiment``: ``experiment`` (an experiment key).

    Every rule may carry ``id``, ``description``, ``condition`` and ``segment``.
    """

    model_config = ConfigDict(extra="forbid")

    id: ShortText | None = Field(default=None, description="Reported as the result's rule.")
    type: Literal["force", "rollout", "split", "experiment"]
    description: Description | None = None
    condition: Condition | None = None
    segment: Key | None = Field(default=None, description="A segment the unit must be in.")
    value: JsonValue = None
    variant: VariantKey | None = None
    percentage: Percentage | None = None
    seed: ShortText | None = None
    weights: list[WeightIn] | None = Field(default=None, max_length=100)
    coverage: Fraction | None = None
    experiment: Key | None = None


class FlagStateIn(BaseModel):
    """The whole state of a flag in one environment (PUT replaces it)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(description="The kill switch: off serves the default to everyone.")
    rules: list[RuleIn] = Field(max_length=200, description="Ordered; the first that applies wins.")
    rollout_percentage: Percentage | None = Field(
        default=None,
        description="Flag-wide gradual rollout: only this percentage of units (by the "
        "flag key's inclusion hash) reach the rules; null: everyone does.",
    )


class FlagStateOut(BaseModel):
    flag: str
    environment: str
    enabled: bool
    rules: list[dict[str, Any]]
    rollout_percentage: float | None
    version: int = Field(description="0 until the state is first written.")
    updated_at: dt.datetime | None
    updated_by: str | None


class OverrideIn(BaseModel):
    """A value forced for one unit: send ``value`` or ``variant``."""

    model_config = ConfigDict(extra="forbid")

    value: JsonValue = None
    variant: VariantKey | None = None
    reason: Note | None = None
    expires_at: AwareDatetime | None = Field(
        default=None, description="In the future; null: until deleted."
    )


class OverrideOut(BaseModel):
    version: int
    flag: str
    environment: str
    unit_id: str
    value: Any
    variant: str | None = Field(description="The flag variant with this value, if any.")
    reason: str | None
    expires_at: dt.datetime | None
    expired: bool
    created_at: dt.datetime
    created_by: str | None
