"""Where the exposures and events live: a table or a SELECT, and which columns hold what.

A data source is Verdict's own database (:data:`VERDICT_MAPPING`, the default) or a
warehouse: a connection URL (:func:`verdict.analysis.engines.connect`) plus this mapping
of its exposure and event tables, so a team analyses the events it already has (a
Segment, Snowplow or GA4-export style table) without copying them.

Each source is either ``table`` (a name, optionally ``schema.table``) or ``query`` (a
SELECT in the engine's own dialect, used as a subquery: ``SELECT * FROM
read_parquet('events/*.parquet')`` on DuckDB, a view over a GA4 export, ...). Timestamp
columns must be of the engine's timestamp type (text in ISO form on SQLite); JSON
columns hold JSON objects (a JSON or JSONB column, or JSON text).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

from verdict.analysis.errors import DataSourceError

__all__ = ["VERDICT_MAPPING", "DataSourceMapping", "EventSource", "ExposureSource"]


@dataclass(frozen=True)
class ExposureSource:
    """One row per exposure (assignment) of a unit to a variant."""

    table: str | None = "assignments"
    query: str | None = None
    unit_column: str = "unit_id"
    experiment_column: str = "experiment_id"
    variant_column: str = "variant_id"
    timestamp_column: str = "assigned_at"
    context_column: str | None = "context"

    @property
    def columns(self) -> dict[str, str]:
        """Mapped column names by their field name (only those that are set)."""
        names = {
            "unit_column": self.unit_column,
            "experiment_column": self.experiment_column,
            "variant_column": self.variant_column,
            "timestamp_column": self.timestamp_column,
            "context_column": self.context_column,
        }
        return {key: value for key, value in names.items() if value is not None}


@dataclass(frozen=True)
class EventSource:
    """One row per tracked event: unit, event name, time, value and JSON properties."""

    table: str | None = "events"
    query: str | None = None
    unit_column: str = "unit_id"
    name_column: str = "event_type"
    timestamp_column: str = "client_timestamp"
    value_column: str | None = "value"
    properties_column: str | None = "properties"

    @property
    def columns(self) -> dict[str, str]:
        """Mapped column names by their field name (only those that are set)."""
        names = {
            "unit_column": self.unit_column,
            "name_column": self.name_column,
            "timestamp_column": self.timestamp_column,
            "value_column": self.value_column,
            "properties_column": self.properties_column,
        }
        return {key: value for key, value in names.items() if value is not None}


@dataclass(frozen=True)
class DataSourceMapping:
    """The exposure and event sources of one data source."""

    exposures: ExposureSource = field(default_factory=ExposureSource)
    events: EventSource = field(default_factory=EventSource)

    def __post_init__(self) -> None:
        for name, source in (("exposures", self.exposures), ("events", self.events)):
            prefix = f"data_source.{name}"
            if (source.table is None) == (source.query is None):
                raise DataSourceError(f"{prefix}.table", "give either a table or a query")
            if source.table is not None and not all(source.table.split(".")):
                raise DataSourceError(f"{prefix}.table", f"not a table name: {source.table!r}")
            if source.query is not None and not source.query.strip():
                raise DataSourceError(f"{prefix}.query", "must not be empty")
            for key, column in source.columns.items():
                if not column:
                    raise DataSourceError(f"{prefix}.{key}", "must not be empty")

    def fingerprint(self) -> str:
        """SHA-256 of the mapping (hex): a changed mapping forces a full rebuild."""
        text = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


# Verdict's own database: the ``assignments`` and ``events`` tables of the server.
VERDICT_MAPPING = DataSourceMapping()
