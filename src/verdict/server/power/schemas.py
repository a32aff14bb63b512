"""Request and response of the power calculator."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from verdict.server.api.schemas import RequestModel

__all__ = ["PowerQuery", "PowerResult"]

# Bounds that keep every intermediate figure finite in double precision.
_LIMIT = 1e12


class PowerQuery(RequestModel):
    """Give an effect to get the sample size, a sample size to get the detectable
    effect, or both to get the achieved power."""

    metric: Literal["proportion", "mean"] = Field(
        description="proportion: a conversion rate; mean: a continuous metric."
    )
    baseline: float = Field(
        allow_inf_nan=False,
        ge=-_LIMIT,
        le=_LIMIT,
        description="Control's conversion rate (proportion, 0-1) or mean (mean).",
    )
    std: float | None = Field(
        default=None,
        allow_inf_nan=False,
        gt=0,
        le=_LIMIT,
        description="Standard deviation per unit (mean metrics).",
    )
    mde: float | None = Field(
        default=None,
        allow_inf_nan=False,
        ge=-_LIMIT,
        le=_LIMIT,
        description="Effect to detect: absolute, or relative if `relative`.",
    )
    relative: bool = Field(default=False, description="Read `mde` as a relative lift (0.05 = +5%).")
    sample_size_per_variant: int | None = Field(default=None, ge=2, le=10**12)
    alpha: float = Field(
        default=0.05,
        allow_inf_nan=False,
        gt=0,
        lt=1,
        description="Family-wise significance level, as the analysis applies it.",
    )
    power: float = Field(default=0.8, allow_inf_nan=False, gt=0, lt=1)
    variants: int = Field(default=2, ge=2, le=100, description="Variants, control included.")
    metrics: int = Field(
        default=1,
        ge=1,
        le=100,
        description="Primary metrics. The analysis Holm-adjusts across (variants - 1) x "
        "metrics comparisons, so the plan tests each at alpha / that number.",
    )
    alternative: Literal["two-sided", "greater", "less"] = Field(
        default="two-sided", description="Sidedness of the test the analysis will run."
    )
    sequential: bool = Field(
        default=False,
        description="Plan for the always-valid sequential test (two-sided only).",
    )
    tuning_units: float = Field(
        default=5_000.0,
        allow_inf_nan=False,
        gt=0,
        le=_LIMIT,
        description="Sequential tuning: total units at which the confidence sequence is "
        "tightest (as the analysis).",
    )
    daily_units: float | None = Field(
        default=None,
        allow_inf_nan=False,
        gt=0,
        le=_LIMIT,
        description="Units entering the experiment per day, all variants.",
    )


class PowerResult(BaseModel):
    sample_size_per_variant: int | None = Field(
        description="Units each variant needs (control and every treatment)."
    )
    total_sample_size: int | None
    mde_absolute: float | None = Field(description="Detectable change in metric units.")
    mde_relative: float | None = Field(description="Detectable change relative to baseline.")
    power: float | None = Field(description="Probability of detecting the effect.")
    days: float | None = Field(description="Days to reach the sample size at daily_units.")
    comparisons: int = Field(
        description="Comparisons in the Holm family: (variants - 1) x metrics."
    )
    level: float = Field(description="Per-comparison significance level planned for.")
    method: str
    note: str | None = Field(
        default=None, description="Why a figure is missing (e.g. an unreachable effect)."
    )
