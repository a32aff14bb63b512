"""A bandit's results, checked against numpy over the units themselves and scipy: each
arm's figures weighted by the inverse of each period's weights (``np.average`` with
weights ``1 / p``, the variance of the estimate ``sum w**2 (y - mean)**2 / (sum w)**2``);
the comparison with control Welch's test of the two arms' weighted estimates
(``scipy.stats.ttest_ind_from_stats`` fed the same means, standard errors and units,
the Welch-Satterthwaite degrees of freedom and ``scipy.stats.t.ppf``), the lift's
interval ``exp(log(m_t / m_c) +- q sqrt(v_t / m_t**2 + v_c / m_c**2)) - 1`` written
out."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from scipy import stats

from verdict.analysis import (
    Aggregation,
    AnalysisSpec,
    Computation,
    MetricKind,
    MetricSpec,
    Period,
    VariantSpec,
    VariantStatistics,
)
from verdict.analysis.outcomes import MetricPlan, MetricResult, evaluate
from verdict.analysis.weighted import weighted_note

START = datetime(2026, 1, 1, tzinfo=UTC)
WEIGHTS = ((0.5, 0.5), (0.2, 0.8), (0.1, 0.9))
ARMS = ("c", "t")
UNITS_PER_PERIOD = 500
NOTE = "inverse-propensity weighted over 3 allocation periods"
METRICS = (
    MetricSpec("revenue", MetricKind.REVENUE, "buy"),
    MetricSpec("converted", MetricKind.CONVERSION, "buy"),
    MetricSpec(
        "per_visit",
        MetricKind.RATIO,
        "buy",
        denominator=MetricSpec("visits", MetricKind.COUNT, "visit", aggregation=Aggregation.COUNT),
    ),
    MetricSpec(
        "p50", MetricKind.DURATION, "load", aggregation=Aggregation.PERCENTILE, percentile=0.5
    ),
)


def bandit_spec(
    weights: tuple[tuple[float, float], ...] = WEIGHTS, **changes: object
) -> AnalysisSpec:
    fields: dict[str, object] = {
        "experiment_id": "bandit",
        "variants": (VariantSpec("c", "control", 0.1, True), VariantSpec("t", "t", 0.9, False)),
        "metrics": METRICS,
        "start": START,
        "end": START + timedelta(days=3),
        "periods": tuple(Period(START + timedelta(days=k), w) for k, w in enumerate(weights)),
    }
    fields.update(changes)
    return AnalysisSpec(**fields)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Units:
    """Per-unit values, a unit per row: arm, period, the propensity, the metrics."""

    arm: np.ndarray
    period: np.ndarray
    p: np.ndarray
    revenue: np.ndarray
    converted: np.ndarray
    visits: np.ndarray
    load: np.ndarray


def draw(seed: int = 11) -> Units:
    """Values that rise from period to period; t is 10 % better within each period."""
    rng = np.random.default_rng(seed)
    period = np.repeat(np.arange(3), UNITS_PER_PERIOD)
    arm = np.array([rng.choice(2, p=WEIGHTS[k]) for k in period])
    lift = np.where(arm == 1, 1.1, 1.0)
    converted = (rng.random(period.size) < (0.1 + 0.15 * period) * lift).astype(float)
    revenue = converted * rng.gamma(2.0, 10.0 + 10.0 * period)
    return Units(
        arm=arm,
        period=period,
        p=np.array([WEIGHTS[k][a] for k, a in zip(period, arm, strict=True)]),
        revenue=revenue,
        converted=converted,
        visits=1.0 + rng.poisson(2.0 + period),
        load=rng.gamma(2.0, 100.0, size=period.size),
    )


def _row(metric: str, arm: int, period: int, units: Units, mask: np.ndarray) -> VariantStatistics:
    y = {"revenue": units.revenue, "converted": units.converted, "per_visit": units.revenue}
    v = (units.load if metric == "p50" else y[metric])[mask]
    extra: dict[str, float] = {}
    if metric == "per_visit":
        d = units.visits[mask]
        extra = {
            "denominator_sum": d.sum(),
            "denominator_sum_squares": (d * d).sum(),
            "cross": (v * d).sum(),
        }
    if metric in ("revenue", "converted"):  # a covariate CUPED could have used
        extra = {"covariate_sum": 1.0 * mask.sum(), "covariate_sum_squares": 1.0 * mask.sum()}
        extra["covariate_cross"] = float(v.sum())
    if metric == "p50":
        pooled = units.load[units.arm == arm]
        extra = {
            "percentile": 0.5,
            "quantile": float(np.quantile(pooled, 0.5, method="inverted_cdf")),
            "quantile_lower": float(np.quantile(pooled, 0.45, method="inverted_cdf")),
            "quantile_upper": float(np.quantile(pooled, 0.55, method="inverted_cdf")),
            "quantile_confidence": 0.95,
        }
    return VariantStatistics(
        metric=metric,
        variant=ARMS[arm],
        dimension=None,
        breakdown=None,
        day=None,
        exposed=int(mask.sum()),
        units=int(mask.sum()),
        sum=float(v.sum()),
        sum_squares=float((v * v).sum()),
        conversions=int((v > 0).sum()),
        period=period,
        **extra,
    )


def computation(units: Units) -> Computation:
    """Overall rows per (metric, arm, period) and day rows (period k is day k)."""
    rows: list[VariantStatistics] = []
    for metric in METRICS:
        for arm in (0, 1):
            for k in range(3):
                row = _row(metric.key, arm, k, units, (units.arm == arm) & (units.period == k))
                rows += [row, replace(row, day=date(2026, 1, 1) + timedelta(days=k))]
    by_period = {
        k: {ARMS[a]: int(((units.arm == a) & (units.period == k)).sum()) for a in (0, 1)}
        for k in range(3)
    }
    return Computation(
        exposures={ARMS[a]: int((units.arm == a).sum()) for a in (0, 1)},
        statistics=tuple(rows),
        multiple_exposures=0,
        unknown_variants=0,
        scanned_from=None,
        scanned_to=START + timedelta(days=3),
        full=True,
        state=None,
        exposures_by_day={},
        exposures_by_period=by_period,
    )


def hajek(
    units: Units, arm: int, y: np.ndarray, d: np.ndarray | None = None
) -> tuple[float, float]:
    """Weighted mean (ratio) and the variance of that estimate, over the arm's units."""
    keep = units.arm == arm
    w, y = 1.0 / units.p[keep], y[keep]
    if d is None:
        mu = float(np.average(y, weights=w))
        return mu, float(np.sum(w**2 * (y - mu) ** 2) / np.sum(w) ** 2)
    d = d[keep]
    r = float(np.sum(w * y) / np.sum(w * d))
    return r, float(np.sum(w**2 * (y - r * d) ** 2) / np.sum(w * d) ** 2)


def welch_reference(
    figures: list[tuple[float, float]], sizes: tuple[int, int]
) -> tuple[float, tuple[float, float], tuple[float, float]]:
    """Welch's p-value of treatment minus control from each arm's (mean, variance of the
    mean) and units, the difference's interval with the Welch-Satterthwaite degrees of
    freedom, and the lift's on the log scale at the same t quantile."""
    (mc, vc), (mt, vt) = figures
    nc, nt = sizes
    welch = stats.ttest_ind_from_stats(
        mt, math.sqrt(vt * nt), nt, mc, math.sqrt(vc * nc), nc, equal_var=False
    )
    df = (vc + vt) ** 2 / (vc**2 / (nc - 1) + vt**2 / (nt - 1))
    q = stats.t.ppf(0.975, df)
    half = q * math.sqrt(vc + vt)
    spread = q * math.sqrt(vt / mt**2 + vc / mc**2)
    return (
        float(welch.pvalue),
        (mt - mc - half, mt - mc + half),
        (math.exp(math.log(mt / mc) - spread) - 1, math.exp(math.log(mt / mc) + spread) - 1),
    )


def find(results: tuple[MetricResult, ...], metric: str, variant: str) -> MetricResult:
    (row,) = [r for r in results if r.metric == metric and r.variant == variant]
    return row


UNITS = draw()
COMPUTATION = computation(UNITS)


@pytest.mark.parametrize("metric", ["revenue", "converted", "per_visit"])
def test_each_arm_is_its_hajek_estimate_and_the_comparison_welchs_test_of_them(
    metric: str,
) -> None:
    outcome = evaluate(bandit_spec(), COMPUTATION)
    y = UNITS.converted if metric == "converted" else UNITS.revenue
    d = UNITS.visits if metric == "per_visit" else None
    z = stats.norm.ppf(0.975)
    for arm, (mean, variance) in enumerate(hajek(UNITS, arm, y, d) for arm in (0, 1)):
        row = find(outcome.results, metric, ARMS[arm])
        n = int((UNITS.arm == arm).sum())
        assert row.mean == pytest.approx(mean, rel=1e-12)
        assert row.ci_lower == pytest.approx(mean - z * math.sqrt(variance), rel=1e-9)
        assert row.ci_upper == pytest.approx(mean + z * math.sqrt(variance), rel=1e-9)
        assert row.variance == pytest.approx(variance * n, rel=1e-9)
        assert row.sample_size == n  # raw counts
        assert row.conversions == int(((y > 0) & (UNITS.arm == arm)).sum())
        assert row.total == pytest.approx(y[UNITS.arm == arm].sum(), rel=1e-12)
        assert row.note == NOTE
    figures = [hajek(UNITS, arm, y, d) for arm in (0, 1)]
    (mc, _), (mt, _) = figures
    sizes = (int((UNITS.arm == 0).sum()), int((UNITS.arm == 1).sum()))
    p_value, absolute, relative = welch_reference(figures, sizes)
    row = find(outcome.results, metric, "t")
    assert row.absolute_lift == pytest.approx(mt - mc, rel=1e-9)
    assert row.relative_lift == pytest.approx((mt - mc) / mc, rel=1e-9)
    assert row.p_value == pytest.approx(p_value, rel=1e-6)
    assert (row.absolute_ci_lower, row.absolute_ci_upper) == pytest.approx(absolute, rel=1e-9)
    assert (row.lift_ci_lower, row.lift_ci_upper) == pytest.approx(relative, rel=1e-9)


def test_pooling_would_be_biased_the_weights_remove_it() -> None:
    """t is favoured in the later, better periods: its pooled mean runs far ahead."""
    outcome = evaluate(bandit_spec(), COMPUTATION)
    pooled = [UNITS.converted[UNITS.arm == a].mean() for a in (0, 1)]
    weighted = find(outcome.results, "converted", "t").relative_lift
    assert weighted is not None
    assert pooled[1] / pooled[0] - 1 > weighted + 0.2


def test_a_bandit_has_no_cuped_rows_and_every_row_says_how_it_was_weighted() -> None:
    outcome = evaluate(bandit_spec(), COMPUTATION)
    assert len(outcome.results) == len(METRICS) * 2
    assert not any(row.cuped for row in outcome.results)
    for row in outcome.results:
        expected = NOTE
        if row.metric == "p50":
            expected = "pooled over 3 allocation periods: the quantile is not weighted"
        assert row.note == expected


def test_the_note_of_a_single_period_says_period() -> None:
    spec = bandit_spec(weights=WEIGHTS[:1])
    weighted, percentile = METRICS[0], METRICS[-1]
    assert weighted_note(spec, weighted) == "inverse-propensity weighted over 1 allocation period"
    assert weighted_note(spec, percentile) == (
        "pooled over 1 allocation period: the quantile is not weighted"
    )


def test_percentile_metrics_are_the_pooled_quantile() -> None:
    outcome = evaluate(bandit_spec(), COMPUTATION)
    row = find(outcome.results, "p50", "t")
    load = UNITS.load[UNITS.arm == 1]
    assert row.mean == np.quantile(load, 0.5, method="inverted_cdf")
    assert row.sample_size == load.size


def test_the_srm_check_tests_each_period_against_its_own_weights() -> None:
    outcome = evaluate(bandit_spec(), COMPUTATION, plans={"converted": MetricPlan("primary")})
    statistic = 0.0
    for k in range(3):
        observed = [((UNITS.arm == a) & (UNITS.period == k)).sum() for a in (0, 1)]
        statistic += stats.chisquare(observed, np.multiply(WEIGHTS[k], sum(observed)))[0]
    assert outcome.srm["p_value"] == pytest.approx(stats.chi2.sf(statistic, 3), rel=1e-9)
    assert outcome.srm["method"] == "per-period"
    assert outcome.srm["periods"] == 3
    assert not outcome.srm["mismatch"]
    assert outcome.decision is not None
    assert outcome.decision["verdict"] != "invalid"
    # Declared weights the traffic did not follow: the pooled split would hide it (the
    # totals match), the per-period check does not, and the decision reads the same check.
    wrong = ((0.3, 0.7), (0.2, 0.8), (0.3, 0.7))
    swapped = evaluate(bandit_spec(wrong), COMPUTATION, plans={"converted": MetricPlan("primary")})
    assert swapped.srm["mismatch"]
    assert swapped.decision is not None
    assert swapped.decision["verdict"] == "invalid"


def test_bayesian_chance_to_win_is_the_normal_model_of_the_weighted_effect() -> None:
    outcome = evaluate(bandit_spec(), COMPUTATION, method="bayesian")
    (mc, vc), (mt, vt) = (hajek(UNITS, arm, UNITS.converted) for arm in (0, 1))
    row = find(outcome.results, "converted", "t")
    assert row.p_value is None
    assert row.chance_to_win == pytest.approx(stats.norm.cdf((mt - mc) / math.sqrt(vc + vt)))


def test_a_sequential_bandit_keeps_the_estimate_and_widens_the_interval_on_the_log_scale() -> None:
    """The lift's sequence is the log-scale interval of the two Hajek estimates at the
    multiplier of the difference's sequence (its half-width over ``sqrt(v_c + v_t)``)."""
    fixed = find(evaluate(bandit_spec(), COMPUTATION).results, "revenue", "t")
    sequential = find(
        evaluate(bandit_spec(), COMPUTATION, method="sequential").results, "revenue", "t"
    )
    assert sequential.absolute_lift == pytest.approx(fixed.absolute_lift, rel=1e-12)
    lower = (sequential.absolute_ci_lower, fixed.absolute_ci_lower)
    p_values = (sequential.p_value, fixed.p_value)
    assert None not in lower
    assert None not in p_values
    assert lower[0] < lower[1]  # type: ignore[operator]
    assert p_values[0] >= p_values[1]  # type: ignore[operator]
    (mc, vc), (mt, vt) = (hajek(UNITS, arm, UNITS.revenue) for arm in (0, 1))
    assert sequential.absolute_ci_upper is not None
    multiplier = (sequential.absolute_ci_upper - (mt - mc)) / math.sqrt(vc + vt)
    spread = multiplier * math.sqrt(vt / mt**2 + vc / mc**2)
    assert sequential.lift_ci_lower == pytest.approx(math.exp(math.log(mt / mc) - spread) - 1)
    assert sequential.lift_ci_upper == pytest.approx(math.exp(math.log(mt / mc) + spread) - 1)


def test_the_daily_series_is_weighted_and_ends_on_the_overall_result() -> None:
    outcome = evaluate(bandit_spec(), COMPUTATION)
    points = [p for p in outcome.timeseries["converted"] if p["variant"] == "t"]
    assert [p["day"] for p in points] == ["2026-01-01", "2026-01-02", "2026-01-03"]
    first = UNITS.period == 0
    day_one = Units(*(getattr(UNITS, name)[first] for name in Units.__dataclass_fields__))
    assert points[0]["mean"] == pytest.approx(hajek(day_one, 1, day_one.converted)[0])
    overall = find(outcome.results, "converted", "t")
    assert points[-1]["mean"] == pytest.approx(overall.mean, rel=1e-12)
    assert points[-1]["absolute_lift"] == pytest.approx(overall.absolute_lift, rel=1e-12)
    assert points[-1]["units"] == overall.sample_size
    assert "p50" not in outcome.timeseries


def test_rows_without_their_period_are_refused() -> None:
    stripped = replace(
        COMPUTATION, statistics=tuple(replace(r, period=None) for r in COMPUTATION.statistics)
    )
    with pytest.raises(ValueError, match="period"):
        evaluate(bandit_spec(), stripped)
