"""The experiment's verdict: ship a variant, no detectable difference, keep running, invalid.

A result that cannot be judged (NaN p-value -- a ratio whose control has no
denominator yet, zero estimated variance, a relative margin against a control mean of
0; see :mod:`verdict.stats.status`) is listed in ``cannot_judge`` with its reason and
never breaches, wins or loses; the decision is made on the rest. It still counts in the
Holm family (as p = 1), so the correction -- and the power plan of
:mod:`verdict.stats.power` -- does not depend on which data arrived. An unjudged
guardrail has not shown non-inferiority. If no primary result can be judged: keep
running. Conversions with small counts add a warning.

Rules, in order (each adds a short sentence to ``reasons``):

1. Invalid if the sample-ratio check alarms (p below its threshold, 0.001 by
   default): a broken split makes every other number untrustworthy.
2. Invalid if any variant breaches a guardrail (significantly worse than its
   non-inferiority margin, :mod:`verdict.stats.guardrails`).
3. Primary metrics: p-values of every (primary metric, variant) pair are
   Holm-adjusted (family-wise error at alpha). A variant *wins* if it is
   significantly better than control on at least one primary metric and
   significantly worse on none; it *loses* if significantly worse on one.
4. A fixed-horizon result may only be acted on once every variant has the planned
   units (peeking inflates false positives); a sequential one (always-valid
   p-values) at any look. Before that: keep running (with the days left when known).
5. A winner ships only if every guardrail of that variant has shown
   non-inferiority; otherwise keep running. Among several winners the largest
   relative lift on the first primary metric ships.
6. If every variant loses: ship control. Otherwise, at the planned sample size
   (or, for a sequential test, never -- it runs until significant or stopped):
   no detectable difference.

The result is a plain frozen dataclass with string fields, ready for JSON.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from verdict.stats.corrections import holm
from verdict.stats.effects import Comparison
from verdict.stats.guardrails import NonInferiority
from verdict.stats.srm import SampleRatioCheck
from verdict.stats.status import DataStatus

__all__ = [
    "CannotJudge",
    "Decision",
    "GuardrailOutcome",
    "GuardrailStatus",
    "PrimaryOutcome",
    "Verdict",
    "decide",
    "guardrail_status",
]


class Verdict(StrEnum):
    """What to do with the experiment."""

    SHIP = "ship"
    NO_DIFFERENCE = "no_difference"
    KEEP_RUNNING = "keep_running"
    INVALID = "invalid"


@dataclass(frozen=True)
class PrimaryOutcome:
    """One variant against control on one primary metric."""

    metric: str
    variant: str
    comparison: Comparison[float]
    higher_is_better: bool = True


@dataclass(frozen=True)
class GuardrailOutcome:
    """One variant's non-inferiority check on one guardrail metric."""

    metric: str
    variant: str
    check: NonInferiority[float]


@dataclass(frozen=True)
class CannotJudge:
    """A primary or guardrail result the data cannot judge yet, and why."""

    metric: str
    variant: str
    kind: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        """Plain values for an API response."""
        return {
            "metric": self.metric,
            "variant": self.variant,
            "kind": self.kind,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class GuardrailStatus:
    """Where one variant stands on one guardrail: ``breached`` (significantly worse
    than the margin allows), ``shown`` (non-inferiority demonstrated), ``pending`` (not
    yet either) or ``cannot_judge`` (the data say nothing yet)."""

    metric: str
    variant: str
    status: str

    def to_dict(self) -> dict[str, str]:
        """Plain values for an API response."""
        return {"metric": self.metric, "variant": self.variant, "status": self.status}


def guardrail_status(outcome: GuardrailOutcome) -> GuardrailStatus:
    check = outcome.check
    if not check.judgeable():
        status = "cannot_judge"
    elif check.breached():
        status = "breached"
    elif check.shown():
        status = "shown"
    else:
        status = "pending"
    return GuardrailStatus(outcome.metric, outcome.variant, status)


@dataclass(frozen=True)
class Decision:
    """The verdict, the variant to ship (if any), the reasons in words, what could not
    be judged (``cannot_judge``) and where each variant stands on each guardrail."""

    verdict: Verdict
    variant: str | None
    reasons: tuple[str, ...]
    cannot_judge: tuple[CannotJudge, ...] = ()
    guardrails: tuple[GuardrailStatus, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain values for an API response."""
        return {
            "verdict": self.verdict.value,
            "variant": self.variant,
            "reasons": list(self.reasons),
            "cannot_judge": [c.to_dict() for c in self.cannot_judge],
            "guardrails": [g.to_dict() for g in self.guardrails],
        }


def _p(value: float) -> str:
    if not math.isfinite(value):
        return "p not available"
    return "p < 0.001" if value < 0.001 else f"p = {value:.3f}"


def _percent(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value * 100:+.1f}%"


def _describe(outcome: PrimaryOutcome, adjusted_p: float) -> str:
    rel = outcome.comparison.relative
    level = round((1 - outcome.comparison.alpha) * 100)
    return (
        f"{_percent(rel.estimate)} on '{outcome.metric}' ({level}% CI {_percent(rel.lower)} "
        f"to {_percent(rel.upper)}, {_p(adjusted_p)})"
    )


def _progress(units: Mapping[str, float], required: float, days_left: float | None) -> str:
    smallest = min(units.values())
    text = f"{smallest:,.0f} of {required:,.0f} planned units in the smallest variant"
    if days_left is not None:
        text += "; about " + (
            "no end in sight" if math.isinf(days_left) else f"{days_left:.0f} days left"
        )
    return text + "."


def decide(
    *,
    primary: Sequence[PrimaryOutcome],
    units: Mapping[str, float],
    control: str,
    guardrails: Sequence[GuardrailOutcome] = (),
    srm: SampleRatioCheck | None = None,
    required_units: float | None = None,
    days_left: float | None = None,
) -> Decision:
    """Decide from the primary results, guardrails, SRM check and sample size."""
    if not primary:
        raise ValueError("primary: need at least one primary metric result")
    if control not in units:
        raise ValueError(f"units: has no entry for the control {control!r}")
    unjudged = _cannot_judge(primary, guardrails)
    decision = _decide(
        primary=primary,
        units=units,
        control=control,
        guardrails=guardrails,
        srm=srm,
        required_units=required_units,
        days_left=days_left,
    )
    notes = tuple(
        f"Cannot judge {c.kind} '{c.metric}' for {c.variant}: {c.reason}." for c in unjudged
    ) + _warnings(primary)
    return Decision(
        decision.verdict,
        decision.variant,
        decision.reasons + notes,
        unjudged,
        tuple(guardrail_status(g) for g in guardrails),
    )


def _judgeable_p(comparison: Comparison[float]) -> bool:
    status = comparison.data_status()
    return status.judgeable and math.isfinite(comparison.absolute.p_value)


def _cannot_judge(
    primary: Sequence[PrimaryOutcome], guardrails: Sequence[GuardrailOutcome]
) -> tuple[CannotJudge, ...]:
    found: list[CannotJudge] = []
    for o in primary:
        if not _judgeable_p(o.comparison):
            status = o.comparison.data_status()
            reason = status.reason if status is not DataStatus.OK else "the p-value is not a number"
            found.append(CannotJudge(o.metric, o.variant, "primary metric", reason))
    for g in guardrails:
        if not g.check.judgeable():
            status = g.check.data_status()
            reason = status.reason if status is not DataStatus.OK else "the p-value is not a number"
            found.append(CannotJudge(g.metric, g.variant, "guardrail", reason))
    return tuple(found)


def _warnings(primary: Sequence[PrimaryOutcome]) -> tuple[str, ...]:
    return tuple(
        f"Warning on '{o.metric}' for {o.variant}: {DataStatus.SMALL_COUNTS.reason}."
        for o in primary
        if o.comparison.data_status() is DataStatus.SMALL_COUNTS
    )


def _decide(
    *,
    primary: Sequence[PrimaryOutcome],
    units: Mapping[str, float],
    control: str,
    guardrails: Sequence[GuardrailOutcome],
    srm: SampleRatioCheck | None,
    required_units: float | None,
    days_left: float | None,
) -> Decision:
    if srm is not None and srm.mismatch:
        return Decision(
            Verdict.INVALID,
            None,
            (
                f"Sample ratio mismatch: the split differs from the configured weights "
                f"({_p(srm.p_value)}, alarm below {srm.threshold:g}).",
                "Fix the assignment or the exposure logging; no result can be trusted.",
            ),
        )
    breaches = [g for g in guardrails if g.check.breached()]
    if breaches:
        breach_reasons = tuple(
            f"Variant {g.variant} breaches guardrail '{g.metric}': "
            f"{_percent(g.check.effect) if g.check.relative else f'{g.check.effect:+.4g}'} is "
            f"worse than the tolerated -{g.check.margin:g}"
            f"{'' if not g.check.relative else ' (relative)'} ({_p(g.check.harm_p_value)})."
            for g in breaches
        )
        return Decision(
            Verdict.INVALID, None, (*breach_reasons, "Stop the experiment; do not ship.")
        )

    judged = [_judgeable_p(o.comparison) for o in primary]
    if not any(judged):
        return Decision(
            Verdict.KEEP_RUNNING,
            None,
            ("Keep running: not enough data to judge any primary metric yet.",),
        )
    adjusted = holm(
        [
            o.comparison.absolute.p_value if ok else 1.0
            for o, ok in zip(primary, judged, strict=True)
        ]
    )
    alpha = primary[0].comparison.alpha
    sequential = all(o.comparison.method.startswith("sequential") for o in primary)
    variants = sorted({o.variant for o in primary})
    better: dict[str, list[tuple[PrimaryOutcome, float]]] = {v: [] for v in variants}
    worse: dict[str, list[tuple[PrimaryOutcome, float]]] = {v: [] for v in variants}
    for outcome, p, ok in zip(primary, adjusted, judged, strict=True):
        if not ok:
            continue
        direction = outcome.comparison.absolute.estimate * (1 if outcome.higher_is_better else -1)
        if p < alpha and direction > 0:
            better[outcome.variant].append((outcome, float(p)))
        elif p < alpha and direction < 0:
            worse[outcome.variant].append((outcome, float(p)))

    reached = required_units is None or all(units.get(v, 0.0) >= required_units for v in units)
    if required_units is None and sequential:
        reached = False
    actionable = reached or sequential
    reasons: list[str] = []
    if len(primary) > 1:
        reasons.append(f"p-values are Holm-adjusted across {len(primary)} primary comparisons.")

    winners = [v for v in variants if better[v] and not worse[v]]
    if winners and actionable:
        first_metric = primary[0].metric

        def lift(variant: str) -> float:
            for outcome in primary:
                if outcome.variant == variant and outcome.metric == first_metric:
                    sign = 1 if outcome.higher_is_better else -1
                    return sign * outcome.comparison.relative.estimate
            return -math.inf

        best = max(winners, key=lift)
        for outcome, p in better[best]:
            reasons.append(f"Variant {best} beats {control}: {_describe(outcome, p)}.")
        if len(winners) > 1:
            reasons.append(f"{best} has the largest lift among winners {', '.join(winners)}.")
        pending = [g for g in guardrails if g.variant == best and not g.check.shown()]
        if pending:
            for g in pending:
                evidence = (
                    f"margin {g.check.margin:g}, {_p(g.check.p_value)}"
                    if g.check.judgeable()
                    else "not enough data to judge it"
                )
                reasons.append(
                    f"Guardrail '{g.metric}' has not yet shown non-inferiority for {best} "
                    f"({evidence})."
                )
            reasons.append("Keep running until every guardrail is shown safe.")
            return Decision(Verdict.KEEP_RUNNING, None, tuple(reasons))
        shown = [g.metric for g in guardrails if g.variant == best]
        if shown:
            reasons.append(f"Guardrails shown non-inferior: {', '.join(shown)}.")
        if sequential:
            reasons.append("The sequential test is valid at any look.")
        return Decision(Verdict.SHIP, best, tuple(reasons))

    if not actionable:
        if winners:
            reasons.append(
                f"{', '.join(winners)} looks better, but a fixed-horizon test is read only at "
                "the planned sample size."
            )
        reasons.append(
            "Keep running: "
            + (
                _progress(units, required_units, days_left)
                if required_units is not None
                else "the sequential test has not reached significance."
            )
        )
        return Decision(Verdict.KEEP_RUNNING, None, tuple(reasons))

    if all(worse[v] for v in variants):
        for v in variants:
            outcome, p = worse[v][0]
            reasons.append(f"Variant {v} is worse than {control}: {_describe(outcome, p)}.")
        return Decision(Verdict.SHIP, control, (*reasons, f"Keep {control}."))

    for outcome, p, ok in zip(primary, adjusted, judged, strict=True):
        if ok:
            reasons.append(f"{outcome.variant} vs {control}: {_describe(outcome, float(p))}.")
    reasons.append("No variant differs detectably from control at the planned sample size.")
    return Decision(Verdict.NO_DIFFERENCE, None, tuple(reasons))
