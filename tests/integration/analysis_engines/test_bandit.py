"""A bandit on every engine: per-period sums, and the weighted results they give.

The bandit of :mod:`dataset` favours arm B more and more while conversion rises from
period to period, and B is worse than control in every period: pooled, B looks much
better; weighted (each arm's figure weighted by the inverse of each period's weights),
it is rightly worse.
"""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest
from scipy import stats

from tests.integration.analysis_engines.bandit_reference import (
    hajek,
    period_sums,
    unit_frame,
    welch_reference,
)
from tests.integration.analysis_engines.conftest import EngineCase
from tests.integration.analysis_engines.dataset import (
    BANDIT,
    BANDIT_ARMS,
    BANDIT_B_EFFECT,
    BANDIT_STARTS,
    BANDIT_WEIGHTS,
    END,
    START,
    Dataset,
)
from verdict.analysis import (
    VERDICT_MAPPING,
    Aggregation,
    AnalysisSpec,
    Computation,
    MetricKind,
    MetricSpec,
    Period,
    VariantSpec,
    VariantStatistics,
    compute,
    discard,
)
from verdict.analysis.outcomes import MetricResult, evaluate
from verdict.analysis.sql_variants import STAT_FIELDS

EPOCH_DAY = 719_163  # date(1970, 1, 1).toordinal()
METRICS = (
    MetricSpec("signed_up", MetricKind.CONVERSION, "signup"),
    MetricSpec("signup_value", MetricKind.REVENUE, "signup"),
    MetricSpec(
        "value_per_visit",
        MetricKind.RATIO,
        "signup",
        denominator=MetricSpec("visits", MetricKind.COUNT, "visit", aggregation=Aggregation.COUNT),
    ),
)
PERIODS = tuple(
    Period(start, weights) for start, weights in zip(BANDIT_STARTS, BANDIT_WEIGHTS, strict=True)
)


def bandit_spec(**changes: object) -> AnalysisSpec:
    fields: dict[str, object] = {
        "experiment_id": BANDIT,
        "variants": tuple(
            VariantSpec(arm, key, weight, key == "control")
            for arm, key, weight in zip(
                BANDIT_ARMS, ("control", "b", "c"), BANDIT_WEIGHTS[-1], strict=True
            )
        ),
        "metrics": METRICS,
        "start": START,
        "end": END,
        "breakdowns": ("country",),
        "periods": PERIODS,
    }
    fields.update(changes)
    return AnalysisSpec(**fields)  # type: ignore[arg-type]


_RESULTS: dict[tuple[str, bool], Computation] = {}


def bandit_result(case: EngineCase, *, daily: bool = True) -> Computation:
    """One computation per engine and form (Spark queries are slow), shared by tests."""
    if (case.name, daily) not in _RESULTS:
        spec = bandit_spec(daily=daily)
        _RESULTS[(case.name, daily)] = compute(case.engine, case.mapping, spec, keep_state=False)
    return _RESULTS[(case.name, daily)]


def _check_rows(
    result: Computation,
    expected: dict[tuple[str, str, object, int], dict[str, float]],
    dimension: str | None,
    days: bool,
) -> None:
    rows: dict[tuple[str, str, object, int], VariantStatistics] = {}
    for row in result.statistics:
        if row.dimension != dimension or (row.day is not None) != days:
            continue
        day = None if row.day is None else row.day.toordinal() - EPOCH_DAY
        group = row.breakdown if dimension else day
        assert row.period is not None
        rows[(row.metric, row.variant, group, row.period)] = row
    assert set(rows) == set(expected)
    for key, figures in expected.items():
        for name, value in figures.items():
            assert getattr(rows[key], name) == pytest.approx(value, rel=1e-9, abs=1e-9), (key, name)


@pytest.mark.parametrize("daily", [True, False], ids=["from-days", "overall-sets"])
def test_per_period_sums_equal_a_pandas_computation(
    engine_case: EngineCase, dataset: Dataset, daily: bool
) -> None:
    spec = bandit_spec(daily=daily)
    result = bandit_result(engine_case, daily=daily)
    frame = unit_frame(dataset, spec)
    assert sorted(frame["period"].unique()) == [0, 1, 2, 3]
    _check_rows(result, period_sums(frame, spec, None), None, days=False)
    _check_rows(result, period_sums(frame, spec, "country"), "country", days=False)
    if daily:
        _check_rows(result, period_sums(frame, spec, "day"), None, days=True)
    counts = frame.groupby(["period", "variant"]).size()
    assert result.exposures_by_period == {
        period: {arm: int(counts.get((period, arm), 0)) for arm in BANDIT_ARMS}
        for period in range(4)
    }
    assert result.exposures == {arm: int((frame["variant"] == arm).sum()) for arm in BANDIT_ARMS}


def _row(outcome_rows: tuple[MetricResult, ...], metric: str, variant: str) -> MetricResult:
    (row,) = [
        r
        for r in outcome_rows
        if r.metric == metric and r.variant == variant and r.dimension is None
    ]
    return row


def test_weighted_results_equal_a_row_level_computation(
    engine_case: EngineCase, dataset: Dataset
) -> None:
    """Each arm's figures: the Hajek estimate over its units; each comparison with
    control: Welch's test of the two arms' Hajek estimates, the lift on the log scale."""
    spec = bandit_spec()
    outcome = evaluate(spec, bandit_result(engine_case))
    frame = unit_frame(dataset, spec)
    z = stats.norm.ppf(0.975)
    control = BANDIT_ARMS[0]
    assert not any(r.cuped for r in outcome.results)
    for metric in METRICS:
        ratio = metric.kind is MetricKind.RATIO
        for arm in BANDIT_ARMS:
            units = frame[frame["variant"] == arm]
            mean, var = hajek(units, metric.key, ratio)
            row = _row(outcome.results, metric.key, arm)
            assert row.sample_size == len(units)
            assert row.mean == pytest.approx(mean, rel=1e-9)
            assert row.ci_lower == pytest.approx(mean - z * math.sqrt(var), rel=1e-9)
            assert row.ci_upper == pytest.approx(mean + z * math.sqrt(var), rel=1e-9)
            assert row.note == "inverse-propensity weighted over 4 allocation periods"
            if arm == control:
                continue
            c_units = frame[frame["variant"] == control]
            m_c, v_c = hajek(c_units, metric.key, ratio)
            p_value, absolute, relative = welch_reference(
                (m_c, v_c, len(c_units)), (mean, var, len(units))
            )
            assert row.absolute_lift == pytest.approx(mean - m_c, rel=1e-9)
            assert row.relative_lift == pytest.approx(mean / m_c - 1, rel=1e-9)
            assert (row.absolute_ci_lower, row.absolute_ci_upper) == pytest.approx(
                absolute, rel=1e-9
            )
            assert (row.lift_ci_lower, row.lift_ci_upper) == pytest.approx(relative, rel=1e-9)
            assert row.p_value == pytest.approx(p_value, rel=1e-6)
    assert outcome.srm["method"] == "per-period"
    assert outcome.srm["periods"] == 4
    # Each period's units against its own weights: the chi-square statistics add up.
    counts = frame.groupby(["period", "variant"]).size().unstack(fill_value=0)[list(BANDIT_ARMS)]
    statistic = sum(
        stats.chisquare(counts.loc[k], np.array(BANDIT_WEIGHTS[k]) * counts.loc[k].sum())[0]
        for k in range(4)
    )
    assert outcome.srm["p_value"] == pytest.approx(stats.chi2.sf(statistic, 8), rel=1e-9)
    assert not outcome.srm["mismatch"]


def test_the_pooled_lift_is_biased_where_the_weighted_one_covers_the_truth(
    duckdb_case: EngineCase, dataset: Dataset
) -> None:
    """Engine-independent (the figures are checked on every engine above). B's
    difference is the same in every period, so it is also the difference of the means
    over all units, which the weighted (Hajek) estimates target; pooling does not."""
    outcome = evaluate(bandit_spec(), bandit_result(duckdb_case))
    frame = unit_frame(dataset, bandit_spec())
    control, arm_b, _ = BANDIT_ARMS
    pooled_b = frame.loc[frame["variant"] == arm_b, "signed_up"].to_numpy(float)
    pooled_c = frame.loc[frame["variant"] == control, "signed_up"].to_numpy(float)
    naive = stats.ttest_ind(pooled_b, pooled_c, equal_var=False)
    naive_ci = naive.confidence_interval(0.95)
    assert pooled_b.mean() - pooled_c.mean() > 0.08  # pooled: B looks much better
    assert not naive_ci.low <= BANDIT_B_EFFECT <= naive_ci.high
    weighted = _row(outcome.results, "signed_up", arm_b)
    assert weighted.absolute_lift is not None
    assert weighted.absolute_lift < 0
    assert weighted.note is not None
    assert weighted.note == "inverse-propensity weighted over 4 allocation periods"
    assert weighted.absolute_ci_lower is not None
    assert weighted.absolute_ci_upper is not None
    assert weighted.absolute_ci_lower <= BANDIT_B_EFFECT <= weighted.absolute_ci_upper
    # The series ends on the overall result.
    last = [p for p in outcome.timeseries["signed_up"] if p["variant"] == "b"][-1]
    assert last["absolute_lift"] == pytest.approx(weighted.absolute_lift, rel=1e-12)


def _same_results(ours: tuple[MetricResult, ...], theirs: tuple[MetricResult, ...]) -> None:
    assert len(ours) == len(theirs)
    for mine, other in zip(ours, theirs, strict=True):
        for name, value in vars(other).items():
            if isinstance(value, float):
                assert getattr(mine, name) == pytest.approx(value, rel=1e-9, abs=1e-12), name
            else:
                assert getattr(mine, name) == value, name


def test_a_new_period_keeps_the_fingerprint_and_a_refresh_equals_a_full_run(
    duckdb_case: EngineCase,
) -> None:
    """Engine-independent (every engine's refresh is checked in test_engines.py)."""
    engine = duckdb_case.engine
    middle = START + timedelta(days=3, hours=7)  # periods 0-2 have started
    early = bandit_spec(end=middle, periods=PERIODS[:3])
    spec = bandit_spec()
    assert early.fingerprint() == bandit_spec(end=middle).fingerprint() == spec.fingerprint()
    first = compute(engine, VERDICT_MAPPING, early)
    refreshed = compute(engine, VERDICT_MAPPING, spec, state=first.state)
    assert not refreshed.full
    full = compute(engine, VERDICT_MAPPING, spec, keep_state=False)
    assert full.full
    assert refreshed.exposures_by_period == full.exposures_by_period
    assert len(refreshed.statistics) == len(full.statistics)
    for ours, theirs in zip(refreshed.statistics, full.statistics, strict=True):
        assert (ours.metric, ours.variant, ours.period, ours.day, ours.breakdown) == (
            theirs.metric,
            theirs.variant,
            theirs.period,
            theirs.day,
            theirs.breakdown,
        )
        for name in STAT_FIELDS:
            mine, other = getattr(ours, name), getattr(theirs, name)
            assert (mine is None) == (other is None)
            if other is not None:
                assert mine == pytest.approx(other, rel=1e-12)
    _same_results(evaluate(spec, refreshed).results, evaluate(spec, full).results)
    assert refreshed.state is not None
    discard(engine, refreshed.state)
