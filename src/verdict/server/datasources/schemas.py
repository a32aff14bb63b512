"""Request and response shapes of the data sources API (/api/v1/data-sources)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from verdict.server.api.schemas import RequestModel
from verdict.server.db.keys import KEY_MAX_LENGTH, KEY_PATTERN

__all__ = [
    "SCHEMES",
    "URL_PATTERN",
    "DataSourceCheck",
    "DataSourceCreate",
    "DataSourceOut",
    "DataSourceUpdate",
    "InputMapping",
]

Key = Annotated[
    str,
    StringConstraints(min_length=1, max_length=KEY_MAX_LENGTH, pattern=KEY_PATTERN.pattern),
]
ColumnName = Annotated[str, StringConstraints(min_length=1, max_length=255)]

# The engines analysis reads (verdict.analysis.engines.connect), by URL scheme, which a
# driver may follow (postgresql+psycopg://). The service refuses any other URL, naming
# body.url; the pattern says so in the spec.
SCHEMES = ("sqlite", "postgresql", "postgres", "duckdb", "chdb", "spark")
URL_PATTERN = rf"^({'|'.join(SCHEMES)})(\+[a-z0-9_]+)?://"
_URL_DESCRIPTION = "sqlite:///…, postgresql://…, duckdb:///…, chdb:///…, spark://local[2]"

_EXAMPLE: dict[str, Any] = {
    "key": "warehouse",
    "name": "Analytics warehouse",
    "url": "duckdb:////data/analytics.duckdb",
    "exposures": {
        "table": "experiment_viewed",
        "columns": {
            "unit": "user_id",
            "experiment": "experiment_key",
            "variant": "variant_key",
            "timestamp": "viewed_at",
        },
    },
    "events": {
        "query": "SELECT user_id, event, ts, revenue, props FROM tracks",
        "columns": {
            "unit": "user_id",
            "name": "event",
            "timestamp": "ts",
            "value": "revenue",
            "properties": "props",
        },
    },
}


class InputMapping(RequestModel):
    """One input: a table (or view) or a SELECT, and which columns hold what."""

    table: str | None = Field(default=None, min_length=1, max_length=255)
    query: str | None = Field(default=None, min_length=1, max_length=20_000)
    columns: dict[ColumnName, ColumnName] = Field(
        default_factory=dict,
        max_length=20,
        description="Role -> column. Exposures: unit, experiment, variant, timestamp, "
        "context (optional JSON). Events: unit, name, timestamp, value, properties (JSON).",
    )


class DataSourceCreate(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    key: Key
    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)
    url: str = Field(
        min_length=1,
        max_length=2000,
        description=_URL_DESCRIPTION,
        json_schema_extra={"pattern": URL_PATTERN},
    )
    exposures: InputMapping
    events: InputMapping
    archived: bool = False


class DataSourceUpdate(RequestModel):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)
    url: str | None = Field(
        default=None,
        min_length=1,
        max_length=2000,
        description=_URL_DESCRIPTION,
        json_schema_extra={"pattern": URL_PATTERN},
    )
    exposures: InputMapping | None = None
    events: InputMapping | None = None
    archived: bool | None = None


class DataSourceOut(BaseModel):
    id: uuid.UUID
    key: str
    name: str
    description: str | None
    url: str = Field(description="The connection URL with any password masked.")
    exposures: dict[str, object]
    events: dict[str, object]
    archived: bool
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class DataSourceCheck(BaseModel):
    """What a connection test found."""

    ok: bool
    exposures: int = Field(description="Rows the exposure input holds.")
    events: int = Field(description="Rows the event input holds.")
