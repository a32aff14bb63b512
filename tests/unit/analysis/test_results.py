"""Result rows: cumulative daily sums, conversions to stats summaries, the kept state."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import numpy as np
import pytest

from verdict.analysis import IncrementalState, VariantStatistics, cumulative_daily
from verdict.stats import cuped_t_test, ratio_cuped_t_test

ROW = VariantStatistics(
    metric="m",
    variant="a",
    dimension=None,
    breakdown=None,
    day=date(2026, 1, 1),
    exposed=10,
    units=10,
    sum=5.0,
    sum_squares=7.0,
    conversions=4,
)


def test_cumulative_daily_rows_are_running_sums_in_date_order() -> None:
    second = replace(
        ROW, day=date(2026, 1, 2), exposed=3, units=3, sum=1.0, sum_squares=1.0, conversions=1
    )
    other = replace(ROW, variant="b")
    running = cumulative_daily((second, ROW, other))
    by_key = {(r.variant, r.day): r for r in running}
    assert by_key[("a", date(2026, 1, 1))].units == 10
    final = by_key[("a", date(2026, 1, 2))]
    assert (final.units, final.exposed, final.sum, final.conversions) == (13, 13, 6.0, 5)
    assert by_key[("b", date(2026, 1, 1))] == other
    with pytest.raises(ValueError, match="daily"):
        cumulative_daily((replace(ROW, day=None),))


def test_rows_convert_to_the_summaries_the_statistics_take() -> None:
    rng = np.random.default_rng(3)

    def arm(variant: str, shift: float) -> VariantStatistics:
        pre = rng.gamma(2.0, 1.0, 200)
        den = rng.poisson(3.0, 200) + 1.0
        value = pre + rng.normal(shift, 0.5, 200)
        pre_den = rng.poisson(3.0, 200) + 1.0
        return replace(
            ROW,
            variant=variant,
            day=None,
            units=200,
            sum=float(value.sum()),
            sum_squares=float((value * value).sum()),
            denominator_sum=float(den.sum()),
            denominator_sum_squares=float((den * den).sum()),
            cross=float((value * den).sum()),
            covariate_sum=float(pre.sum()),
            covariate_sum_squares=float((pre * pre).sum()),
            covariate_cross=float((value * pre).sum()),
            covariate_denominator_sum=float(pre_den.sum()),
            covariate_denominator_sum_squares=float((pre_den * pre_den).sum()),
            covariate_denominator_cross=float((pre * pre_den).sum()),
            numerator_covariate_denominator=float((value * pre_den).sum()),
            denominator_covariate_numerator=float((den * pre).sum()),
            denominator_covariate_denominator=float((den * pre_den).sum()),
        )

    control, treatment = arm("a", 0.0), arm("b", 0.3)
    cuped = cuped_t_test(control.to_cuped_summary(), treatment.to_cuped_summary()).item()
    assert cuped.absolute.estimate == pytest.approx(0.3, abs=0.15)
    ratio = ratio_cuped_t_test(
        control.to_ratio_cuped_summary(), treatment.to_ratio_cuped_summary()
    ).item()
    assert np.isfinite(ratio.absolute.estimate)
    with pytest.raises(ValueError, match="ratio"):
        ROW.to_ratio_summary()
    with pytest.raises(ValueError, match="quantile"):
        ROW.to_quantile_summary()


def test_the_state_round_trips_through_json_and_rejects_foreign_tables() -> None:
    state = IncrementalState(
        "verdict_unit_aggregates_0123456789abcdef_01234567",
        "f" * 64,
        datetime(2026, 1, 1, tzinfo=UTC),
        exposure_rows=1_234,
    )
    assert IncrementalState.from_dict(state.to_dict()) == state
    # A state written before exposure rows were counted reads back without a count
    # (the next run then rebuilds).
    older = {key: value for key, value in state.to_dict().items() if key != "exposure_rows"}
    assert IncrementalState.from_dict(older).exposure_rows is None
    with pytest.raises(ValueError, match="exposure_rows"):
        IncrementalState.from_dict({**state.to_dict(), "exposure_rows": "12"})
    with pytest.raises(ValueError, match="table"):
        IncrementalState.from_dict({**state.to_dict(), "table": "users; DROP TABLE x"})
    with pytest.raises(ValueError, match="timezone"):
        IncrementalState.from_dict({**state.to_dict(), "through": "2026-01-01T00:00:00"})
