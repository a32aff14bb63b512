"""Holm and Benjamini-Hochberg against statsmodels; the SRM check against scipy."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.multitest import multipletests

from verdict.stats import benjamini_hochberg, holm, sample_ratio_check, sample_ratio_p_values

p_lists = st.lists(
    st.one_of(st.floats(min_value=0.0, max_value=1.0), st.sampled_from([0.0, 0.01, 0.05, 1.0])),
    min_size=1,
    max_size=40,
)


@settings(max_examples=40, deadline=None)
@given(p_lists)
def test_holm_matches_statsmodels_multipletests(p: list[float]) -> None:
    expected = multipletests(p, method="holm")[1]
    np.testing.assert_allclose(holm(p), expected, rtol=1e-12, atol=1e-15)


@settings(max_examples=150, deadline=None)
@given(p_lists)
def test_benjamini_hochberg_matches_statsmodels_multipletests(p: list[float]) -> None:
    expected = multipletests(p, method="fdr_bh")[1]
    np.testing.assert_allclose(benjamini_hochberg(p), expected, rtol=1e-12, atol=1e-15)


def test_an_axis_adjusts_each_experiment_separately() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 0.2, (5, 8))
    rows = holm(p, axis=-1)
    for i in range(5):
        np.testing.assert_allclose(rows[i], multipletests(p[i], method="holm")[1])
    columns = benjamini_hochberg(p, axis=0)
    np.testing.assert_allclose(columns[:, 2], multipletests(p[:, 2], method="fdr_bh")[1])


def test_p_values_outside_zero_one_are_refused() -> None:
    with pytest.raises(ValueError, match="p_values: must be between 0 and 1"):
        holm([0.2, 1.5])


def test_srm_matches_scipy_chisquare_with_expected_counts() -> None:
    units, weights = [5_210, 4_650, 10_140], [0.25, 0.25, 0.5]
    ours = sample_ratio_check(units, weights)
    reference = stats.chisquare(units, f_exp=np.array(weights) * sum(units))
    assert ours.statistic == pytest.approx(reference.statistic)
    assert ours.p_value == pytest.approx(reference.pvalue, rel=1e-10)
    assert ours.mismatch == bool(reference.pvalue < 0.001)
    json.dumps(ours.to_dict())


def test_srm_alarms_below_one_in_a_thousand_only() -> None:
    assert sample_ratio_check([10_300, 9_700], [0.5, 0.5]).mismatch  # p ~ 2e-5
    assert not sample_ratio_check([10_100, 9_900], [0.5, 0.5]).mismatch  # p ~ 0.16
    assert sample_ratio_check([10_100, 9_900], [0.5, 0.5], threshold=0.2).mismatch


def test_srm_batch_gives_one_p_value_per_experiment() -> None:
    units = np.array([[500, 520, 480], [1_000, 1_300, 1_000], [0, 0, 0]])
    p = sample_ratio_p_values(units, [1 / 3, 1 / 3, 1 / 3])
    assert p[0] == pytest.approx(stats.chisquare(units[0]).pvalue)
    assert p[1] == pytest.approx(stats.chisquare(units[1]).pvalue)
    assert p[2] == 1.0


def test_srm_false_alarm_rate_is_about_the_threshold() -> None:
    rng = np.random.default_rng(42)
    units = rng.multinomial(20_000, [0.2, 0.3, 0.5], size=20_000)
    rate = np.mean(sample_ratio_p_values(units, [0.2, 0.3, 0.5]) < 0.001)
    assert rate < 0.002, rate


@pytest.mark.parametrize(
    ("units", "weights", "message"),
    [
        ([100, 100], [0.5, 0.6], "weights: must sum to 1"),
        ([100, 100], [1.0], "one weight per variant"),
        ([100, -1], [0.5, 0.5], "units: must not be negative"),
        ([100, 100], [1.0, 0.0], "every weight must be positive"),
    ],
)
def test_bad_srm_inputs_raise(units: list[int], weights: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sample_ratio_check(units, weights)
