"""The exposure API's shapes: one exposure as an SDK reports it, and a batch's outcome."""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, Field

from verdict.server.api.schemas import RequestModel

__all__ = ["MAX_EXPOSURES", "ExposureBatch", "ExposureError", "ExposureIn", "ExposureResult"]

MAX_EXPOSURES = 1_000


class ExposureIn(RequestModel):
    """A unit saw an experiment's variant, as decided by the SDK's own engine."""

    unit_id: str = Field(min_length=1, max_length=255)
    experiment: str = Field(min_length=1, max_length=100, description="Experiment key.")
    variant: str = Field(min_length=1, max_length=100, description="Variant key.")
    timestamp: AwareDatetime | None = Field(
        default=None,
        description="When the unit was exposed, by the client's clock (ISO 8601 with a "
        "zone); default: when the server received it. Stored as the assignment time "
        "(a time ahead of the server's clock is stored as the server's time); at most "
        "one day in the future.",
    )
    attributes: dict[str, Any] | None = Field(
        default=None, description="The evaluation context, stored as the assignment's context."
    )


class ExposureBatch(RequestModel):
    """The request body of POST /api/v1/exposures."""

    exposures: list[ExposureIn] = Field(min_length=1, max_length=MAX_EXPOSURES)


class ExposureError(BaseModel):
    index: int = Field(description="Position of the refused exposure in the batch, from 0.")
    field: str = Field(description="Dotted path, e.g. body.exposures.3.variant")
    reason: str


class ExposureResult(BaseModel):
    """What became of each exposure; sent only after the batch was committed."""

    recorded: int = Field(description="Exposures stored by this request as new assignments.")
    duplicates: int = Field(
        description="Exposures whose unit already had this variant of the experiment "
        "(a resent batch, or a repeat within the batch): nothing stored again."
    )
    conflicts: int = Field(
        description="Exposures naming another variant than the unit's stored assignment: "
        "the first stays (it is sticky), the later one is not stored."
    )
    rejected: int = Field(description="Exposures refused; each has an entry in `errors`.")
    errors: list[ExposureError] = Field(default_factory=list)
