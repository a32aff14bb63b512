"""What the experiment page shows of the stored results: one section per metric, the
badges of each row, the sample-size progress and the days left.

Everything is read from what the analysis run stored (its result rows, exposures,
sample-ratio check, decision and daily series); nothing here is a statistical
computation. Two page-level summaries are derived from stored counts: the progress
toward the experiment's minimum sample size (the smallest variant's exposures against
it, as the decision reads it) and the days left at the current pace
(:func:`verdict.stats.days_remaining`).

Guardrail judgements are those of the run's decision: its ``guardrails`` list says, per
metric and variant, whether the guardrail is breached, shown safe, pending or cannot be
judged yet (with the reason from ``cannot_judge``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from verdict.server.analysis.result_schemas import MetricResultOut, ResultsOut, SeriesPoint
from verdict.server.experiments.models import Experiment, ExperimentStatus, MetricRole
from verdict.server.web.experiment_charts import forest_figure, lift_series_figure
from verdict.stats import days_remaining

__all__ = [
    "Badge",
    "MetricSection",
    "ResultRow",
    "SampleProgress",
    "days_left",
    "decision_badge",
    "metric_sections",
    "sample_progress",
]


@dataclass(frozen=True)
class Badge:
    label: str
    tone: str = ""  # "", good, bad, warn (the stylesheet's badge classes)
    title: str | None = None


@dataclass(frozen=True)
class ResultRow:
    result: MetricResultOut
    significance: Badge | None
    guardrail: Badge | None


@dataclass
class MetricSection:
    key: str
    name: str
    kind: str  # the metric type: conversion figures are rates
    role: str
    lower_is_better: bool
    margin: float | None
    rows: list[ResultRow]
    cuped: bool = False  # the rows are CUPED-adjusted
    unadjusted: list[ResultRow] = field(default_factory=list)
    forest: dict[str, Any] | None = None
    series: dict[str, Any] | None = None
    series_note: str | None = None


@dataclass(frozen=True)
class SampleProgress:
    smallest: int  # exposures of the smallest variant
    required: int | None  # the experiment's minimum sample size per variant
    total: int

    @property
    def fraction(self) -> float | None:
        if not self.required:
            return None
        return min(1.0, self.smallest / self.required)


_VERDICTS = {
    "ship": ("Ship", "good"),
    "no_difference": ("No difference", ""),
    "keep_running": ("Keep running", "warn"),
    "invalid": ("Invalid", "bad"),
}


def decision_badge(decision: Mapping[str, Any] | None) -> Badge | None:
    """The run's verdict as a badge ("Ship green", "Keep running", ...)."""
    if not decision or decision.get("verdict") not in _VERDICTS:
        return None
    label, tone = _VERDICTS[str(decision["verdict"])]
    if decision.get("verdict") == "ship" and decision.get("variant"):
        label = f"Ship {decision['variant']}"
    return Badge(label, tone)


def _significance(row: MetricResultOut, lower_is_better: bool, bayesian: bool) -> Badge | None:
    if row.is_control:
        return None
    if row.significant is None:
        return Badge("No verdict", "", row.note or "not enough data")
    if not row.significant:
        return Badge("Not significant")
    if bayesian:
        better = (row.chance_to_win or 0.0) > 0.5
    else:
        better = ((row.absolute_lift or 0.0) > 0) != lower_is_better
    return Badge("Better", "good") if better else Badge("Worse", "bad")


_GUARDRAIL_BADGES = {
    "breached": ("Guardrail breached", "bad", "significantly worse than its tolerated harm"),
    "shown": ("Guardrail safe", "good", "shown within its tolerated harm"),
    "pending": ("Guardrail not yet safe", "warn", "neither breached nor shown safe yet"),
    "cannot_judge": ("Guardrail not judged", "warn", "the data cannot judge it yet"),
}


def _guardrail_judgements(decision: Mapping[str, Any] | None) -> dict[tuple[str, str], Badge]:
    """(metric, variant) -> the decision's word on that guardrail."""
    found: dict[tuple[str, str], Badge] = {}
    if not decision:
        return found
    why = {
        (str(item.get("metric")), str(item.get("variant"))): str(item.get("reason") or "")
        for item in decision.get("cannot_judge") or ()
        if isinstance(item, Mapping) and item.get("kind") == "guardrail"
    }
    for item in decision.get("guardrails") or ():
        if not isinstance(item, Mapping) or item.get("status") not in _GUARDRAIL_BADGES:
            continue
        key = (str(item.get("metric")), str(item.get("variant")))
        label, tone, detail = _GUARDRAIL_BADGES[str(item["status"])]
        found[key] = Badge(label, tone, why.get(key) or detail)
    return found


def _guardrail(
    row: MetricResultOut, margin: float | None, judged: Mapping[tuple[str, str], Badge]
) -> Badge:
    if (row.metric, row.variant) in judged:
        return judged[(row.metric, row.variant)]
    if margin is None:
        return Badge("Guardrail", "", "no non-inferiority margin is set, so it is not checked")
    return Badge("Guardrail", "", "the run's decision did not judge this guardrail")


def metric_sections(
    experiment: Experiment,
    results: ResultsOut,
    series: Mapping[str, Sequence[SeriesPoint]],
    series_notes: Mapping[str, str],
) -> list[MetricSection]:
    """One section per metric of the experiment (in its order) that has result rows."""
    bayesian = results.run.method == "bayesian"
    decision = results.run.decision
    judged = _guardrail_judgements(decision)
    control = next((v.key for v in experiment.variants if v.is_control), None)
    rows_of: dict[str, list[MetricResultOut]] = {}
    for row in results.results:
        rows_of.setdefault(row.metric, []).append(row)
    sections = []
    for link in experiment.metric_links:
        metric = link.metric
        rows = rows_of.get(metric.key)
        if not rows:
            continue
        is_guardrail = link.role is MetricRole.GUARDRAIL

        margin = link.non_inferiority_margin

        def view(
            chosen: list[MetricResultOut],
            lower: bool = metric.lower_is_better,
            guardrail: bool = is_guardrail,
            margin: float | None = margin,
        ) -> list[ResultRow]:
            return [
                ResultRow(
                    result=r,
                    significance=_significance(r, lower, bayesian),
                    guardrail=_guardrail(r, margin, judged)
                    if guardrail and not r.is_control
                    else None,
                )
                for r in chosen
            ]

        adjusted = [r for r in rows if r.cuped]
        raw = [r for r in rows if not r.cuped]
        # The decision reads the CUPED-adjusted figures where there are some.
        shown = adjusted or raw
        section = MetricSection(
            key=metric.key,
            name=metric.name,
            kind=metric.type.value,
            role=link.role.value,
            lower_is_better=metric.lower_is_better,
            margin=link.non_inferiority_margin,
            rows=view(shown),
            cuped=bool(adjusted),
            unadjusted=view(raw) if adjusted else [],
        )
        if not any(r.dimension for r in shown):
            section.forest = forest_figure(
                shown,
                confidence_level=results.confidence_level,
                lower_is_better=metric.lower_is_better,
            )
            points = series.get(metric.key)
            if points:
                section.series = lift_series_figure(
                    points, control=control, confidence_level=results.confidence_level
                )
            section.series_note = series_notes.get(metric.key)
        sections.append(section)
    return sections


def sample_progress(
    experiment: Experiment, exposures: Mapping[str, Any] | None
) -> SampleProgress | None:
    """Exposures so far against the minimum sample size (per variant)."""
    if exposures is None:
        return None
    counts = [int(exposures.get(v.key, 0) or 0) for v in experiment.variants]
    if not counts:
        return None
    return SampleProgress(
        smallest=min(counts), required=experiment.minimum_sample_size, total=sum(counts)
    )


def days_left(
    experiment: Experiment,
    exposures: Mapping[str, Any] | None,
    window_start: dt.datetime | None,
    window_end: dt.datetime | None,
) -> str | None:
    """Days until every variant has the minimum sample size at the pace so far, in
    words; None when it cannot be told (no minimum, not running, no data window)."""
    required = experiment.minimum_sample_size
    if (
        not required
        or exposures is None
        or experiment.status not in (ExperimentStatus.RUNNING, ExperimentStatus.PAUSED)
        or window_start is None
        or window_end is None
    ):
        return None
    elapsed = (window_end - window_start).total_seconds() / 86400
    if elapsed <= 0:
        return None
    units = [float(exposures.get(v.key, 0) or 0) for v in experiment.variants]
    left = days_remaining(
        required_per_variant=required, units_per_variant=units, days_elapsed=elapsed
    )
    if left == 0:
        return "Minimum sample size reached"
    if not math.isfinite(left):
        return "No end in sight: a variant gets no units"
    return f"About {left:.0f} day{'' if left == 1 else 's'} at the current pace"
