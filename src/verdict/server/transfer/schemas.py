"""The export document (format ``verdict.export``, version 1): what ``verdict export``
writes and ``verdict import`` reads (docs/cli.md#export-and-import).

Each item is the API's create request for its kind, so the document is validated by the
same rules as the API, plus what a create request cannot say: a flag's state in each
environment and whether it is archived, an experiment's status and winner. Environments,
segments and metrics are carried because flags and experiments name them; users, API
keys, data sources, results and events are not (people and secrets stay where they are).
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from verdict.server.analysis.schemas import MetricCreate
from verdict.server.environments.schemas import EnvironmentCreate
from verdict.server.experiments.models import ExperimentStatus
from verdict.server.experiments.schemas import ExperimentCreate
from verdict.server.flags.schemas import FlagCreate, FlagStateIn
from verdict.server.segments.schemas import SegmentCreate

__all__ = [
    "FORMAT",
    "VERSION",
    "ExperimentItem",
    "FlagItem",
    "TransferDocument",
]

FORMAT = "verdict.export"
VERSION = 1


class FlagItem(FlagCreate):
    """A flag's definition, whether it is archived, and its state per environment."""

    archived: bool = False
    environments: dict[str, FlagStateIn] = Field(
        default_factory=dict, description="Environment key -> the flag's state there."
    )


class ExperimentItem(ExperimentCreate):
    """An experiment's definition and where its lifecycle stands; an import replays the
    lifecycle actions (start, pause, complete, archive) that lead to ``status``."""

    status: ExperimentStatus = ExperimentStatus.DRAFT
    winner: str | None = Field(default=None, description="Key of the winning variant.")


class TransferDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["verdict.export"] = Field(description="Always verdict.export.")
    version: Literal[1] = Field(description="The document version; this is version 1.")
    exported_at: AwareDatetime | None = None
    verdict_version: str | None = Field(default=None, description="The exporting Verdict.")
    environments: list[EnvironmentCreate] = Field(default_factory=list)
    segments: list[SegmentCreate] = Field(default_factory=list)
    metrics: list[MetricCreate] = Field(default_factory=list)
    experiments: list[ExperimentItem] = Field(default_factory=list)
    flags: list[FlagItem] = Field(default_factory=list)
