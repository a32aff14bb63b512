"""The event API's shapes: one tracked event as a client sends it, and a batch's outcome.

Events are validated one by one (see ``service.ingest_events``), so ``EventIn`` is the
unit of validation; ``EventBatch`` only documents the envelope in the OpenAPI spec.
"""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import AwareDatetime, BaseModel, Field, model_validator

from verdict.server.api.schemas import RequestModel

__all__ = [
    "MAX_BATCH_BYTES",
    "MAX_BATCH_EVENTS",
    "EventBatch",
    "EventError",
    "EventIn",
    "IngestResult",
]

MAX_BATCH_EVENTS = 1_000
MAX_BATCH_BYTES = 1_048_576  # 1 MiB

# Who did it: a unit (user) id, a device or a session; assignments are keyed by unit_id.
Subject = Annotated[str | None, Field(min_length=1, max_length=255)]
Key = Annotated[str | None, Field(min_length=1, max_length=100)]


class EventIn(RequestModel):
    """One tracked action or measurement."""

    client_event_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="Idempotency key chosen by the client (e.g. a UUID): an event whose id "
        "is already stored is counted as a duplicate and not stored again.",
    )
    type: str = Field(
        min_length=1, max_length=255, description="Event type, e.g. `purchase`; metrics read it."
    )
    unit_id: Subject = None
    device_id: Subject = None
    session_id: Subject = None
    experiment: Key = Field(default=None, description="Experiment key.")
    variant: Key = Field(default=None, description="Variant key; needs `experiment`.")
    flag: Key = Field(default=None, description="Feature flag key.")
    value: float | None = Field(default=None, allow_inf_nan=False)
    properties: dict[str, Any] = Field(default_factory=dict)
    context: dict[str, Any] | None = None
    source: str | None = Field(default=None, min_length=1, max_length=100)
    timestamp: AwareDatetime | None = Field(
        default=None,
        description="When it happened, by the client's clock (ISO 8601 with a zone); "
        "default: when the server received it. At most one day in the future.",
    )

    @model_validator(mode="after")
    def _has_subject_and_experiment(self) -> Self:
        if self.unit_id is None and self.device_id is None and self.session_id is None:
            raise ValueError("an event needs at least one of unit_id, device_id, session_id")
        if self.variant is not None and self.experiment is None:
            raise ValueError("variant needs experiment: a variant key is unique per experiment")
        return self


class EventBatch(RequestModel):
    """The request body of POST /api/v1/events (documentation of the envelope)."""

    events: list[EventIn] = Field(max_length=MAX_BATCH_EVENTS)


class EventError(BaseModel):
    index: int = Field(description="Position of the refused event in the batch, from 0.")
    field: str = Field(description="Dotted path, e.g. body.events.3.timestamp")
    reason: str


class IngestResult(BaseModel):
    """What became of each event of a batch; sent only after the batch was committed."""

    accepted: int = Field(description="Events stored by this request.")
    duplicates: int = Field(
        description="Events not stored again: their client_event_id was already stored "
        "(or repeated within the batch)."
    )
    rejected: int = Field(description="Events refused; each has an entry in `errors`.")
    errors: list[EventError] = Field(default_factory=list)
