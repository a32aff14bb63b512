"""Response shapes of analysis runs and results (/api/v1/experiments/{key}/analyses, /results)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from verdict.server.analysis.models import AnalysisMethod, AnalysisRunStatus

__all__ = [
    "AnalysisRunOut",
    "MetricResultOut",
    "ResultsOut",
    "SeriesPoint",
    "TimeseriesOut",
]


_ROW_EXAMPLE: dict[str, Any] = {
    "metric": "checkout",
    "variant": "green",
    "is_control": False,
    "cuped": False,
    "dimension": None,
    "dimension_value": None,
    "sample_size": 1012,
    "conversions": 173,
    "mean": 0.171,
    "variance": 0.1417,
    "ci_lower": 0.148,
    "ci_upper": 0.194,
    "absolute_lift": 0.032,
    "absolute_ci_lower": 0.0,
    "absolute_ci_upper": 0.064,
    "relative_lift": 0.23,
    "lift_ci_lower": 0.0,
    "lift_ci_upper": 0.5,
    "p_value": 0.049,
    "chance_to_win": None,
    "expected_loss": None,
    "statistical_power": 0.31,
    "variance_reduction": None,
    "significant": True,
    "note": None,
}


class MetricResultOut(BaseModel):
    """One metric for one variant (and, in a breakdown, one attribute value)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_ROW_EXAMPLE]})

    metric: str
    variant: str
    is_control: bool
    cuped: bool = Field(description="Figures adjusted by CUPED with the pre-exposure covariate.")
    dimension: str | None = Field(description="Breakdown attribute; null for the overall row.")
    dimension_value: str | None
    sample_size: int
    conversions: int | None
    mean: float | None = Field(description="The variant's figure: mean, rate, ratio or quantile.")
    variance: float | None
    ci_lower: float | None
    ci_upper: float | None
    absolute_lift: float | None
    absolute_ci_lower: float | None
    absolute_ci_upper: float | None
    relative_lift: float | None
    lift_ci_lower: float | None = Field(description="Interval of the relative lift.")
    lift_ci_upper: float | None
    p_value: float | None
    chance_to_win: float | None
    expected_loss: float | None
    statistical_power: float | None
    variance_reduction: float | None
    significant: bool | None = Field(
        description="The interval of the lift excludes 0 (frequentist, sequential) or the "
        "chance to win is beyond the confidence level (Bayesian)."
    )
    note: str | None


class AnalysisRunOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": "5d0c1a52-8c1e-4a34-93c9-0b0c9b3c2f10",
                "experiment": "checkout-button",
                "status": "succeeded",
                "full": False,
                "trigger": "api",
                "progress": 1.0,
                "stage": "stored",
                "method": "frequentist",
                "data_window_start": "2026-11-01T00:00:00Z",
                "data_window_end": "2026-11-25T09:00:00Z",
                "summary": {"exposures": {"control": 1012, "green": 988}},
                "srm": {"p_value": 0.59, "mismatch": False},
                "decision": {"verdict": "keep_running", "variant": None, "reasons": []},
            }
        }
    )

    id: uuid.UUID
    experiment: str
    status: AnalysisRunStatus
    full: bool
    trigger: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    progress: float
    stage: str | None
    error: str | None
    error_field: str | None
    method: AnalysisMethod | None
    phase: int | None
    data_window_start: dt.datetime | None
    data_window_end: dt.datetime | None
    scanned_from: dt.datetime | None
    scanned_to: dt.datetime | None
    summary: dict[str, Any] | None
    srm: dict[str, Any] | None
    decision: dict[str, Any] | None


class ResultsOut(BaseModel):
    """The results of one succeeded analysis run."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "experiment": "checkout-button",
                    "computed_at": "2026-11-25T09:00:03Z",
                    "confidence_level": 0.95,
                    "results": [_ROW_EXAMPLE],
                }
            ]
        }
    )

    experiment: str
    run: AnalysisRunOut
    computed_at: dt.datetime
    confidence_level: float
    results: list[MetricResultOut]


class SeriesPoint(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "day": "2026-11-20",
                    "variant": "green",
                    "units": 512,
                    "mean": 0.17,
                    "relative_lift": 0.21,
                    "lift_ci_lower": -0.05,
                    "lift_ci_upper": 0.52,
                    "p_value": 0.12,
                }
            ]
        }
    )

    day: dt.date
    variant: str
    units: int
    mean: float | None
    absolute_lift: float | None = None
    absolute_ci_lower: float | None = None
    absolute_ci_upper: float | None = None
    relative_lift: float | None = None
    lift_ci_lower: float | None = None
    lift_ci_upper: float | None = None
    p_value: float | None = None


class TimeseriesOut(BaseModel):
    """Cumulative figures by exposure day: the point for a day covers every unit first
    exposed up to and including that day, with its events up to the analysis end."""

    experiment: str
    metric: str
    run: uuid.UUID
    points: list[SeriesPoint]
