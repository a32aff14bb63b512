"""Summaries: sums add, moments match numpy, bad sums are refused."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.stats.samples import cuped_summary, mean_summary, ratio_summary
from verdict.stats import (
    CupedSummary,
    MeanSummary,
    ProportionSummary,
    RatioCupedSummary,
    RatioSummary,
)

finite = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(finite, min_size=2, max_size=30), st.lists(finite, min_size=2, max_size=30))
def test_adding_summaries_equals_summarising_the_union(a: list[float], b: list[float]) -> None:
    combined = mean_summary(np.array(a)) + mean_summary(np.array(b))
    union = np.array(a + b)
    assert combined.n == union.size
    assert combined.mean == pytest.approx(union.mean(), abs=1e-9)
    assert combined.variance == pytest.approx(np.var(union, ddof=1), rel=1e-6, abs=1e-6)


def test_proportions_add_to_a_proportion() -> None:
    total = ProportionSummary(100, 10) + ProportionSummary(50, 5)
    assert isinstance(total, ProportionSummary)
    assert (float(total.n), float(total.conversions)) == (150.0, 15.0)


def test_ratio_and_cuped_summaries_add_fieldwise() -> None:
    rng = np.random.default_rng(1)
    y, d, x = rng.normal(size=(3, 40))
    joined = ratio_summary(y[:25], d[:25]) + ratio_summary(y[25:], d[25:])
    whole = ratio_summary(y, d)
    assert float(joined.sum_products) == pytest.approx(float(whole.sum_products))
    assert float(joined.covariance) == pytest.approx(np.cov(y, d)[0, 1])
    cuped = cuped_summary(y[:10], x[:10]) + cuped_summary(y[10:], x[10:])
    assert float(cuped.covariance) == pytest.approx(np.cov(y, x)[0, 1])


def test_array_fields_hold_a_batch_and_broadcast_scalars() -> None:
    batch = MeanSummary([10, 20], [5.0, 8.0], 30.0)
    assert batch.shape == (2,)
    np.testing.assert_allclose(batch.mean, [0.5, 0.4])
    assert MeanSummary(3, 3.0, 5.0).shape == ()


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: MeanSummary(-1, 0.0, 0.0), "n: must not be negative"),
        (lambda: MeanSummary(10, 1.0, -2.0), "sum_squares: must not be negative"),
        (lambda: MeanSummary(10, 100.0, 5.0), "sum: sum\\*\\*2 exceeds"),
        (lambda: MeanSummary(10, float("nan"), 5.0), "sum: must be finite"),
        (lambda: ProportionSummary(10, 11), "conversions: must not exceed"),
        (lambda: ProportionSummary(10, -1), "conversions: must not be negative"),
        (lambda: MeanSummary([1, 2], [1.0, 1.0, 1.0], 1.0), "shapes do not broadcast"),
    ],
)
def test_inconsistent_sums_raise_naming_the_field(
    build: Callable[[], object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_parts_of_a_ratio_must_count_the_same_units() -> None:
    with pytest.raises(ValueError, match=r"denominator\.n: must count the same units"):
        RatioSummary(MeanSummary(10, 1.0, 1.0), MeanSummary(11, 1.0, 1.0), 0.5)
    with pytest.raises(ValueError, match=r"covariate\.n"):
        CupedSummary(MeanSummary(10, 1.0, 1.0), MeanSummary(9, 1.0, 1.0), 0.5)
    ratio = RatioSummary(MeanSummary(10, 1.0, 1.0), MeanSummary(10, 1.0, 1.0), 0.5)
    other = RatioSummary(MeanSummary(12, 1.0, 1.0), MeanSummary(12, 1.0, 1.0), 0.5)
    with pytest.raises(ValueError, match=r"covariate\.n"):
        RatioCupedSummary(
            ratio,
            other,
            numerator_covariate_numerator=0,
            numerator_covariate_denominator=0,
            denominator_covariate_numerator=0,
            denominator_covariate_denominator=0,
        )


def test_variance_is_undefined_below_two_units() -> None:
    assert np.isnan(MeanSummary(1, 3.0, 9.0).variance)
