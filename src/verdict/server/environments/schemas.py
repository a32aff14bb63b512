"""Request and response shapes of the environments API."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field

from verdict.server.flags.storable import Description, EnvironmentKey, Name

__all__ = ["EnvironmentCreate", "EnvironmentOut", "EnvironmentUpdate"]

_MAX_SORT_ORDER = 2**31 - 1


class EnvironmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: EnvironmentKey = Field(description="Identifier used in URLs and by SDK keys.")
    name: Name
    description: Description | None = None
    sort_order: int | None = Field(
        default=None,
        ge=0,
        le=_MAX_SORT_ORDER,
        description="Display position; by default after the last environment.",
    )


class EnvironmentUpdate(BaseModel):
    """Fields to change; the key is permanent (API keys and SDKs name it)."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: Description | None = None
    sort_order: int | None = Field(default=None, ge=0, le=_MAX_SORT_ORDER)


class EnvironmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    key: str
    name: str
    description: str | None
    sort_order: int
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
