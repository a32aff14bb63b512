"""The statistics stage: per-variant sufficient statistics in, results and a verdict out.

What comes back from the database (:class:`~verdict.analysis.statistics.Computation`)
is a few sums per (metric, variant, breakdown value, exposure day). This module turns
them into what an experimenter reads, with :mod:`verdict.stats` doing every formula:

* one :class:`MetricResult` per (metric, variant, breakdown value): the variant's own
  figures (units, conversions, mean or rate or ratio or quantile, variance, interval)
  and, for a treatment, the comparison with control (:func:`compare`): absolute and
  relative lift with intervals, the p-value (frequentist, sequential) or the chance to
  win and expected loss (Bayesian), and the power to detect the metric's expected
  effect at the units so far;
* a second row with ``cuped=True`` where the metric has a pre-exposure covariate
  (CUPED); the verdict reads the adjusted row when there is one;
* breakdown rows whose p-values are Benjamini-Hochberg adjusted across the values of
  one attribute (a breakdown is exploration: false discoveries, not family-wise error);
* the sample-ratio check of exposures against the phase's weights;
* the decision (:func:`verdict.stats.decide`) over primary metrics and guardrails;
* the daily cumulative series (:mod:`verdict.analysis.series`).

A bandit (a spec with allocation periods) is analysed from each arm's per-period sums,
inverse-propensity weighted (:mod:`verdict.analysis.weighted`): weighted means and
comparisons, no CUPED rows, the per-period sample-ratio check, and a note on every row.

A comparison the data cannot support yet (too few units, no variance, a control
without denominator) becomes a row whose ``note`` says why, never an exception: one
metric's lack of data must not hide the others.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from scipy import special

from verdict.analysis.comparisons import compare, comparison_figures, finite, own_figures
from verdict.analysis.definitions import Aggregation, AnalysisSpec, MetricSpec
from verdict.analysis.series import daily_series
from verdict.analysis.statistics import Computation, VariantStatistics
from verdict.analysis.weighted import (
    PeriodSums,
    period_check,
    period_srm,
    pooled,
    weighted_comparison,
    weighted_figures,
    weighted_note,
)
from verdict.stats import (
    Comparison,
    GuardrailOutcome,
    PrimaryOutcome,
    benjamini_hochberg,
    beta_binomial_test,
    decide,
    non_inferiority,
    normal_effect_test,
    sample_ratio_check,
)
from verdict.stats.inputs import FloatArray

__all__ = ["DEFAULT_EXPECTED_EFFECT", "MetricPlan", "MetricResult", "Outcome", "evaluate"]

# The relative effect the power column is computed for when a metric names none.
DEFAULT_EXPECTED_EFFECT = 0.10
NOT_ENOUGH_DATA = "not enough data"


@dataclass(frozen=True)
class MetricPlan:
    """How one metric takes part in the decision (from the experiment's metric links)."""

    role: str = "secondary"  # primary, secondary, guardrail
    non_inferiority_margin: float | None = None
    expected_effect: float | None = None


@dataclass(frozen=True)
class MetricResult:
    """One (metric, variant, breakdown value) row, raw or CUPED-adjusted."""

    metric: str
    variant: str  # the variant id as the data source stores it
    cuped: bool
    method: str
    sample_size: int
    conversions: int | None = None
    mean: float | None = None
    variance: float | None = None
    ci_lower: float | None = None
    ci_upper: float | None = None
    absolute_lift: float | None = None
    absolute_ci_lower: float | None = None
    absolute_ci_upper: float | None = None
    relative_lift: float | None = None
    lift_ci_lower: float | None = None
    lift_ci_upper: float | None = None
    p_value: float | None = None
    chance_to_win: float | None = None
    expected_loss: float | None = None
    statistical_power: float | None = None
    variance_reduction: float | None = None
    dimension: str | None = None
    dimension_value: str | None = None
    total: float | None = None  # the sum of per-unit values (seed 000's total value)
    note: str | None = None


@dataclass(frozen=True)
class Outcome:
    results: tuple[MetricResult, ...]
    srm: dict[str, Any]
    decision: dict[str, Any] | None
    timeseries: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _power(comparison: Comparison[float], expected_effect: float, alpha: float) -> float | None:
    """Power of the two-sided test at this standard error for the expected relative
    effect (normal approximation, both tails)."""
    se, base = comparison.absolute.std_error, abs(comparison.control_mean)
    if not (math.isfinite(se) and se > 0 and math.isfinite(base) and base > 0):
        return None
    delta = abs(expected_effect) * base
    z = float(special.ndtri(1 - alpha / 2))
    return finite(special.ndtr(delta / se - z) + special.ndtr(-delta / se - z))


@dataclass
class _Collector:
    spec: AnalysisSpec
    method: str
    alpha: float
    plans: Mapping[str, MetricPlan]
    # The comparison the verdict reads, per (metric, variant id): CUPED where present.
    verdict_inputs: dict[tuple[str, str], Comparison[FloatArray]] = field(default_factory=dict)

    def metric_rows(
        self,
        metric: MetricSpec,
        rows: Mapping[str, VariantStatistics],
        *,
        dimension: str | None = None,
        value: str | None = None,
        sums: Mapping[str, PeriodSums] | None = None,
    ) -> list[MetricResult]:
        """The rows of one metric; ``sums`` (a bandit's per-period sums, ``rows`` then
        pooled over the periods) weights every figure but a percentile's."""
        control_spec = self.spec.control
        assert control_spec is not None
        control = rows.get(control_spec.id)
        weighted = sums if metric.effective_aggregation is not Aggregation.PERCENTILE else None
        out: list[MetricResult] = []
        for variant in self.spec.variants:
            row = rows.get(variant.id)
            figures = (
                own_figures(metric, row, self.alpha)
                if weighted is None
                else weighted_figures(metric, row, weighted.get(variant.id), self.alpha)
            )
            base: dict[str, Any] = {
                "metric": metric.key,
                "variant": variant.id,
                "method": self.method,
                "dimension": dimension,
                "dimension_value": value,
                **figures,
            }
            if variant.is_control:
                out.append(MetricResult(cuped=False, **base))
                continue
            # CUPED's pooled slope would mix periods of different weights: not for bandits.
            for cuped in (False,) if sums is not None else (False, True):
                result = self._treatment_row(
                    metric, control, row, base, cuped=cuped, weighted=weighted
                )
                if result is not None:
                    out.append(result)
        return out

    def _treatment_row(
        self,
        metric: MetricSpec,
        control: VariantStatistics | None,
        treatment: VariantStatistics | None,
        base: dict[str, Any],
        *,
        cuped: bool,
        weighted: Mapping[str, PeriodSums] | None = None,
    ) -> MetricResult | None:
        if control is None or treatment is None:
            return None if cuped else MetricResult(cuped=False, **{**base, "note": NOT_ENOUGH_DATA})
        comparison: Comparison[FloatArray] | None
        try:
            if weighted is not None:
                comparison = weighted_comparison(
                    weighted[control.variant].estimate(metric),
                    weighted[treatment.variant].estimate(metric),
                    alpha=self.alpha,
                    method=self.method,
                )
            else:
                comparison = compare(
                    metric, control, treatment, alpha=self.alpha, method=self.method, cuped=cuped
                )
        except ValueError as error:
            if cuped:
                return None
            return MetricResult(cuped=False, **{**base, "note": f"{NOT_ENOUGH_DATA}: {error}"})
        if comparison is None:
            return None
        one = comparison.item()
        figures: dict[str, Any] = comparison_figures(one)
        if self.method == "bayesian":
            figures.update(
                self._bayesian(
                    metric, control, treatment, comparison, cuped or weighted is not None
                )
            )
            figures["p_value"] = None
        plan = self.plans.get(metric.key, MetricPlan())
        expected = plan.expected_effect or DEFAULT_EXPECTED_EFFECT
        figures["statistical_power"] = _power(one, expected, self.alpha)
        if one.variance_reduction is not None:
            figures["variance_reduction"] = finite(one.variance_reduction)
        status = one.data_status()
        note = base.get("note") or (None if status.value == "ok" else status.reason)
        if base["dimension"] is None and (
            cuped or (metric.key, base["variant"]) not in self.verdict_inputs
        ):
            self.verdict_inputs[(metric.key, base["variant"])] = comparison
        return MetricResult(cuped=cuped, **{**base, **figures, "note": note})

    def _bayesian(
        self,
        metric: MetricSpec,
        control: VariantStatistics,
        treatment: VariantStatistics,
        comparison: Comparison[FloatArray],
        adjusted: bool,
    ) -> dict[str, float | None]:
        """Chance to win and expected loss: the beta-binomial posterior of raw
        conversions, else (CUPED, weighted, other metrics) the normal model of the
        comparison's effect."""
        higher = not metric.lower_is_better
        if metric.kind.value == "conversion" and not adjusted:
            result = beta_binomial_test(
                control.to_proportion_summary(),
                treatment.to_proportion_summary(),
                alpha=self.alpha,
                higher_is_better=higher,
            )
        else:
            result = normal_effect_test(comparison, higher_is_better=higher, alpha=self.alpha)
        one = result.item()
        return {
            "chance_to_win": finite(one.chance_to_win),
            "expected_loss": finite(one.risk_treatment),
        }


def _adjust_breakdown(rows: list[MetricResult]) -> list[MetricResult]:
    """Benjamini-Hochberg across the values of one attribute, per (metric, variant, cuped)."""
    families: dict[tuple[str, str, bool], list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        if row.p_value is not None:
            families[(row.metric, row.variant, row.cuped)].append(i)
    adjusted = list(rows)
    for members in families.values():
        if len(members) < 2:
            continue
        ps = benjamini_hochberg([rows[i].p_value or 0.0 for i in members])
        note = f"p-value adjusted (Benjamini-Hochberg over {len(members)} values)"
        for i, p in zip(members, ps, strict=True):
            adjusted[i] = replace(rows[i], p_value=float(p), note=rows[i].note or note)
    return adjusted


def _srm(spec: AnalysisSpec, computation: Computation) -> dict[str, Any]:
    units = [computation.exposures.get(v.id, 0) for v in spec.variants]
    keys = [v.key for v in spec.variants]
    if sum(units) == 0:
        return {
            "p_value": None,
            "mismatch": False,
            "observed": dict(zip(keys, units, strict=True)),
            "note": "no exposures yet",
        }
    check = sample_ratio_check(units, [v.weight for v in spec.variants])
    return {
        "p_value": check.p_value,
        "mismatch": check.mismatch,
        "threshold": check.threshold,
        "observed": dict(zip(keys, units, strict=True)),
        "expected": dict(zip(keys, check.expected, strict=True)),
    }


def _decision(
    spec: AnalysisSpec,
    collector: _Collector,
    computation: Computation,
    required_units: int | None,
) -> dict[str, Any]:
    control = spec.control
    assert control is not None
    primary: list[PrimaryOutcome] = []
    guardrails: list[GuardrailOutcome] = []
    missing: list[str] = []
    for metric in spec.metrics:
        plan = collector.plans.get(metric.key, MetricPlan())
        if plan.role not in ("primary", "guardrail"):
            continue
        for variant in spec.variants:
            if variant.is_control:
                continue
            comparison = collector.verdict_inputs.get((metric.key, variant.id))
            if comparison is None:
                missing.append(f"'{metric.key}' for {variant.key}")
                continue
            higher = not metric.lower_is_better
            if plan.role == "primary":
                primary.append(PrimaryOutcome(metric.key, variant.key, comparison.item(), higher))
            elif plan.non_inferiority_margin is not None:
                check = non_inferiority(
                    comparison, margin=plan.non_inferiority_margin, higher_is_better=higher
                )
                guardrails.append(GuardrailOutcome(metric.key, variant.key, check.item()))
    units = {v.key: float(computation.exposures.get(v.id, 0)) for v in spec.variants}
    if not primary:
        reasons = ["No primary metric can be judged yet: keep running."]
        reasons += [f"No data to compare yet on {m}." for m in missing]
        return {"verdict": "keep_running", "variant": None, "reasons": reasons}
    srm = None
    if spec.is_bandit:
        srm = period_check(spec, computation)
    elif sum(units.values()) > 0:
        srm = sample_ratio_check(list(units.values()), [v.weight for v in spec.variants])
    decision = decide(
        primary=primary,
        guardrails=guardrails,
        units=units,
        control=control.key,
        srm=srm,
        required_units=float(required_units) if required_units else None,
    ).to_dict()
    decision["reasons"] = [
        *decision["reasons"],
        *(f"No data to compare yet on {m}." for m in missing),
    ]
    return decision


# Per variant id, its rows: one, or a bandit's one per allocation period.
_Arms = dict[str, list[VariantStatistics]]


def _metric_rows(
    collector: _Collector,
    metric: MetricSpec,
    arms: _Arms,
    *,
    dimension: str | None = None,
    value: str | None = None,
) -> list[MetricResult]:
    spec = collector.spec
    if not spec.is_bandit:
        rows = {variant: found[-1] for variant, found in arms.items()}
        return collector.metric_rows(metric, rows, dimension=dimension, value=value)
    pooled_rows = {variant: pooled(found) for variant, found in arms.items()}
    sums = {variant: PeriodSums(spec, variant).add(found) for variant, found in arms.items()}
    return collector.metric_rows(metric, pooled_rows, dimension=dimension, value=value, sums=sums)


def evaluate(
    spec: AnalysisSpec,
    computation: Computation,
    *,
    method: str = "frequentist",
    confidence_level: float = 0.95,
    plans: Mapping[str, MetricPlan] | None = None,
    required_units: int | None = None,
) -> Outcome:
    """Results, SRM check, decision and daily series of one computation."""
    if method not in ("frequentist", "bayesian", "sequential"):
        raise ValueError(f"method: must be frequentist, bayesian or sequential, got {method!r}")
    if not 0 < confidence_level < 1:
        raise ValueError(f"confidence_level: must be between 0 and 1, got {confidence_level!r}")
    if spec.control is None:
        raise ValueError("spec.variants: an analysis needs a control variant")
    alpha = 1 - confidence_level
    collector = _Collector(spec=spec, method=method, alpha=alpha, plans=plans or {})
    overall: dict[str, _Arms] = defaultdict(lambda: defaultdict(list))
    broken: dict[tuple[str, str, str], _Arms] = defaultdict(lambda: defaultdict(list))
    for row in computation.statistics:
        if row.day is not None:
            continue
        if row.dimension is None:
            overall[row.metric][row.variant].append(row)
        elif row.breakdown is not None:
            broken[(row.dimension, row.breakdown, row.metric)][row.variant].append(row)
    results: list[MetricResult] = []
    for metric in spec.metrics:
        results.extend(_metric_rows(collector, metric, overall.get(metric.key, {})))
    for dimension in spec.breakdowns:
        rows: list[MetricResult] = []
        values = sorted({value for (d, value, _) in broken if d == dimension})
        for metric in spec.metrics:
            for value in values:
                rows.extend(
                    _metric_rows(
                        collector,
                        metric,
                        broken.get((dimension, value, metric.key), {}),
                        dimension=dimension,
                        value=value,
                    )
                )
        results.extend(_adjust_breakdown(rows))
    if spec.is_bandit:
        notes = {metric.key: weighted_note(spec, metric) for metric in spec.metrics}
        results = [
            replace(r, note=notes[r.metric] if r.note is None else f"{r.note}; {notes[r.metric]}")
            for r in results
        ]
    return Outcome(
        results=tuple(results),
        srm=period_srm(spec, computation) if spec.is_bandit else _srm(spec, computation),
        decision=_decision(spec, collector, computation, required_units),
        timeseries=daily_series(spec, computation, method=method, alpha=alpha)
        if spec.daily
        else {},
    )
