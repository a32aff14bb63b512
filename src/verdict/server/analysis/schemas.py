"""Request and response shapes of the metric definitions API (/api/v1/metrics)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from verdict.server.analysis.models import MetricAggregation, MetricCapping, MetricType
from verdict.server.api.schemas import RequestModel
from verdict.server.db.keys import KEY_MAX_LENGTH, KEY_PATTERN

__all__ = ["MetricCreate", "MetricOut", "MetricUpdate"]

Key = Annotated[
    str,
    StringConstraints(min_length=1, max_length=KEY_MAX_LENGTH, pattern=KEY_PATTERN.pattern),
]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Username = Annotated[str, StringConstraints(min_length=1, max_length=150)]
# Names of letters, digits and _ joined by dots, optionally after ``$.``: each part ends
# up in the JSON path expression of every analysis engine, where these are safe.
VALUE_PATH_PATTERN = r"^(\$\.)?[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$"


class MetricCreate(RequestModel):
    model_config = ConfigDict(allow_inf_nan=False)

    key: Key
    name: str = Field(min_length=1, max_length=255)
    description: str | None = None
    event_name: str = Field(min_length=1, max_length=255, description="Event type counted.")
    type: MetricType
    aggregation: MetricAggregation = MetricAggregation.SUM
    percentile: float | None = Field(
        default=None, gt=0, lt=1, description="Percentile aggregation only: 0-1, e.g. 0.9."
    )
    value_path: str | None = Field(
        default=None,
        max_length=255,
        pattern=VALUE_PATH_PATTERN,
        description="Dotted path to the value in the event's properties (`order.total` or "
        "`$.order.total`); null: the event's `value`.",
    )
    calculation: str | None = Field(default=None, description="How the figure is calculated.")
    denominator: Key | None = Field(
        default=None, description="Ratio metrics only: key of the denominator metric."
    )
    lower_is_better: bool = False
    minimum_sample_size: int | None = Field(default=None, ge=0)
    expected_effect: float | None = None
    unit: str | None = Field(default=None, max_length=50)
    capping: MetricCapping = MetricCapping.NONE
    cap_value: float | None = Field(
        default=None,
        gt=0,
        description="With capping: the absolute cap, or the quantile (0-1) for percentile.",
    )
    conversion_window_hours: float | None = Field(default=None, gt=0)
    conversion_delay_hours: float = Field(default=0.0, ge=0)
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    owner: Username | None = Field(default=None, description="Username; default: the caller.")
    archived: bool = False


class MetricUpdate(RequestModel):
    """Only the fields sent change; the key is permanent."""

    model_config = ConfigDict(allow_inf_nan=False)

    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = None
    event_name: str | None = Field(default=None, min_length=1, max_length=255)
    type: MetricType | None = None
    aggregation: MetricAggregation | None = None
    percentile: float | None = Field(default=None, gt=0, lt=1)
    value_path: str | None = Field(default=None, max_length=255, pattern=VALUE_PATH_PATTERN)
    calculation: str | None = None
    denominator: Key | None = None
    lower_is_better: bool | None = None
    minimum_sample_size: int | None = Field(default=None, ge=0)
    expected_effect: float | None = None
    unit: str | None = Field(default=None, max_length=50)
    capping: MetricCapping | None = None
    cap_value: float | None = Field(default=None, gt=0)
    conversion_window_hours: float | None = Field(default=None, gt=0)
    conversion_delay_hours: float | None = Field(default=None, ge=0)
    tags: list[Tag] | None = Field(default=None, max_length=50)
    owner: Username | None = None
    archived: bool | None = None


class MetricOut(BaseModel):
    id: uuid.UUID
    key: str
    name: str
    description: str | None
    event_name: str
    type: MetricType
    aggregation: MetricAggregation
    percentile: float | None
    value_path: str | None
    calculation: str | None
    denominator: str | None
    lower_is_better: bool
    minimum_sample_size: int | None
    expected_effect: float | None
    unit: str | None
    capping: MetricCapping
    cap_value: float | None
    conversion_window_hours: float | None
    conversion_delay_hours: float
    tags: list[str]
    owner: str | None
    archived: bool
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
