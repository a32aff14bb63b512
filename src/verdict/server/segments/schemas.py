"""Request and response shapes of the segments API."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from verdict.server.flags.storable import Condition, Description, Key, Name, Username

__all__ = ["SegmentCreate", "SegmentOut", "SegmentUpdate"]

_MAX_SIZE = 2**31 - 1


class SegmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: Key = Field(description="Identifier used by `segment` and `$inSegment`.")
    name: Name
    description: Description | None = None
    conditions: Condition = Field(
        default_factory=dict, description="A targeting condition; {} matches everyone."
    )
    is_active: bool = Field(default=True, description="An inactive segment matches nobody.")
    size_estimate: int | None = Field(default=None, ge=0, le=_MAX_SIZE)
    owner: Username | None = Field(default=None, description="Username of the owner.")


class SegmentUpdate(BaseModel):
    """Fields to change; the key is permanent (rules and experiments name it)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: Description | None = None
    conditions: Condition | None = None
    is_active: bool | None = None
    size_estimate: int | None = Field(default=None, ge=0, le=_MAX_SIZE)
    owner: Username | None = None


class SegmentOut(BaseModel):
    id: uuid.UUID
    key: str
    name: str
    description: str | None
    conditions: dict[str, Any]
    is_active: bool
    size_estimate: int | None
    owner: str | None
    created_by: str | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
