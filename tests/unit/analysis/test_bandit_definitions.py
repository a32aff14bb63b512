"""A bandit's allocation periods: each invalid field is named; periods never force a rebuild."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from verdict.analysis import (
    AnalysisDefinitionError,
    AnalysisSpec,
    MetricKind,
    MetricSpec,
    Period,
    VariantSpec,
)

START = datetime(2026, 1, 1, tzinfo=UTC)
VARIANTS = (
    VariantSpec("a", "control", 0.5, True),
    VariantSpec("b", "b", 0.3, False),
    VariantSpec("c", "c", 0.2, False),
)
EVEN = (0.4, 0.3, 0.3)


def spec(periods: Any, **changes: Any) -> AnalysisSpec:
    fields: dict[str, Any] = {
        "experiment_id": "exp",
        "variants": VARIANTS,
        "metrics": (MetricSpec("revenue", MetricKind.REVENUE, "purchase"),),
        "start": START,
        "end": START + timedelta(days=7),
        "periods": periods,
    }
    fields.update(changes)
    return AnalysisSpec(**fields)


def hours(n: float) -> datetime:
    return START + timedelta(hours=n)


@pytest.mark.parametrize(
    ("periods", "field"),
    [
        ((Period(hours(1), EVEN),), "periods[0].start"),  # after the spec's start
        ((Period(datetime(2026, 1, 1), EVEN),), "periods[0].start"),  # naive
        ((Period(START, EVEN), Period(START, EVEN)), "periods[1].start"),  # not increasing
        (
            (Period(START, EVEN), Period(hours(5), EVEN), Period(hours(2), EVEN)),
            "periods[2].start",
        ),
        ((Period(START, (0.5, 0.5)),), "periods[0].weights"),  # one weight per variant
        ((Period(START, EVEN), Period(hours(1), (0.5, 0.5, 0.0))), "periods[1].weights"),
        ((Period(START, (0.6, 0.6, -0.2)),), "periods[0].weights"),
        ((Period(START, (0.4, 0.3, 0.31)),), "periods[0].weights"),  # sums to 1.01
        ((Period(START, (0.4, 0.3, float("nan"))),), "periods[0].weights"),
        (tuple(Period(hours(i / 100) - timedelta(days=1), EVEN) for i in range(10_001)), "periods"),
    ],
)
def test_an_invalid_period_names_the_field(periods: tuple[Period, ...], field: str) -> None:
    with pytest.raises(AnalysisDefinitionError) as raised:
        spec(periods)
    assert raised.value.field == field


def test_valid_periods_are_kept_in_utc_and_make_a_bandit() -> None:
    paris = timezone(timedelta(hours=1))
    periods = (
        Period(START - timedelta(days=2), [0.6, 0.2, 0.2]),  # type: ignore[arg-type]
        Period(hours(30).astimezone(paris), (1 / 3, 1 / 3, 1 / 3)),  # sums to 1 within 1e-6
    )
    bandit = spec(periods)
    assert bandit.is_bandit
    assert not spec(()).is_bandit
    assert bandit.periods[1].start == hours(30)
    assert bandit.periods[1].start.tzinfo is UTC
    assert bandit.periods[0].weights == (0.6, 0.2, 0.2)
    ten_thousand = tuple(Period(hours(i / 100) - timedelta(days=1), EVEN) for i in range(10_000))
    assert len(spec(ten_thousand).periods) == 10_000


def test_a_new_period_or_new_weights_keep_the_fingerprint() -> None:
    """The per-unit table does not depend on the periods: a new one must not rebuild it."""
    one = spec((Period(START, EVEN),))
    two = spec((Period(START, EVEN), Period(hours(12), (0.2, 0.6, 0.2))))
    assert one.fingerprint() == two.fingerprint() == spec(()).fingerprint()
