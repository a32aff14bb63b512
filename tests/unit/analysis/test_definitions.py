"""Analysis definitions: each invalid field is named; the fingerprint ignores only ``end``."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from verdict.analysis import (
    Aggregation,
    AnalysisDefinitionError,
    AnalysisSpec,
    MetricKind,
    MetricSpec,
    VariantSpec,
)
from verdict.analysis.errors import DataSourceError
from verdict.analysis.mapping import VERDICT_MAPPING, DataSourceMapping, EventSource
from verdict.analysis.plan import build_plan

START = datetime(2026, 1, 1, tzinfo=UTC)
VARIANTS = (VariantSpec("a", "control", 0.5, True), VariantSpec("b", "treatment", 0.5, False))
REVENUE = MetricSpec("revenue", MetricKind.REVENUE, "purchase")


def spec(**changes: Any) -> AnalysisSpec:
    fields: dict[str, Any] = {
        "experiment_id": "exp",
        "variants": VARIANTS,
        "metrics": (REVENUE,),
        "start": START,
        "end": START + timedelta(days=7),
    }
    fields.update(changes)
    return AnalysisSpec(**fields)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"experiment_id": ""}, "experiment_id"),
        ({"variants": VARIANTS[:1]}, "variants"),
        ({"variants": (VARIANTS[0], replace(VARIANTS[1], id="a"))}, "variants[1].id"),
        ({"variants": (VARIANTS[0], replace(VARIANTS[1], is_control=True))}, "variants"),
        ({"start": datetime(2026, 1, 1)}, "start"),
        ({"end": START}, "end"),
        ({"cuped_days": 0.0}, "cuped_days"),
        ({"quantile_confidence": 1.0}, "quantile_confidence"),
        ({"breakdowns": ("country", "country")}, "breakdowns"),
        ({"breakdowns": ("bad name",)}, "breakdowns[0]"),
        ({"metrics": (REVENUE, REVENUE)}, "metrics[1].key"),
        ({"metrics": (replace(REVENUE, event_name=""),)}, "metrics[0].event_name"),
        ({"metrics": (replace(REVENUE, value_path="order.$total"),)}, "metrics[0].value_path"),
        (
            {"metrics": (replace(REVENUE, aggregation=Aggregation.PERCENTILE),)},
            "metrics[0].percentile",
        ),
        ({"metrics": (replace(REVENUE, percentile=0.5),)}, "metrics[0].percentile"),
        ({"metrics": (replace(REVENUE, capping="absolute"),)}, "metrics[0].cap_value"),
        (
            {"metrics": (replace(REVENUE, capping="percentile", cap_value=1.5),)},
            "metrics[0].cap_value",
        ),
        ({"metrics": (replace(REVENUE, cap_value=3.0),)}, "metrics[0].cap_value"),
        ({"metrics": (replace(REVENUE, window_hours=0.0),)}, "metrics[0].window_hours"),
        ({"metrics": (replace(REVENUE, delay_hours=-1.0),)}, "metrics[0].delay_hours"),
        ({"metrics": (replace(REVENUE, kind=MetricKind.RATIO),)}, "metrics[0].denominator"),
        ({"metrics": (replace(REVENUE, denominator=REVENUE),)}, "metrics[0].denominator"),
        (
            {
                "metrics": (
                    REVENUE,
                    MetricSpec(
                        "r",
                        MetricKind.RATIO,
                        "purchase",
                        denominator=replace(REVENUE, event_name=""),
                    ),
                )
            },
            "metrics[1].denominator.event_name",
        ),
    ],
)
def test_an_invalid_definition_names_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(AnalysisDefinitionError) as raised:
        spec(**changes)
    assert raised.value.field == field


def test_the_fingerprint_ignores_the_end_and_the_weights_and_nothing_else() -> None:
    """The per-unit table depends on neither the end nor the weights (a bandit's periods
    included), so neither forces a rebuild."""
    base = spec()
    assert base.fingerprint() == spec(end=START + timedelta(days=30)).fingerprint()
    assert (
        base.fingerprint()
        == spec(variants=(VARIANTS[0], replace(VARIANTS[1], weight=0.4))).fingerprint()
    )
    for changed in (
        spec(metrics=(replace(REVENUE, capping="absolute", cap_value=10.0),)),
        spec(start=START + timedelta(hours=1)),
        spec(cuped_days=None),
        spec(breakdowns=("country",)),
        spec(variants=(VARIANTS[0], replace(VARIANTS[1], key="renamed"))),
    ):
        assert changed.fingerprint() != base.fingerprint()


def test_times_are_normalised_to_utc() -> None:
    offset = datetime(2026, 1, 1, 2, tzinfo=UTC).astimezone(timezone(timedelta(hours=2)))
    assert spec(start=offset).start == datetime(2026, 1, 1, 2, tzinfo=UTC)


def test_enum_values_are_the_servers_metric_values() -> None:
    from verdict.server.analysis.models import MetricAggregation, MetricType

    assert {k.value for k in MetricKind} == {t.value for t in MetricType}
    assert {a.value for a in Aggregation} == {a.value for a in MetricAggregation}


def test_a_conversion_is_unique_per_unit_and_never_capped() -> None:
    conversion = MetricSpec("c", MetricKind.CONVERSION, "signup", capping="absolute", cap_value=0.5)
    plan = build_plan(spec(metrics=(conversion,)), VERDICT_MAPPING)
    measure = plan.metrics[0].measure
    assert measure.aggregation is Aggregation.UNIQUE
    assert measure.capping == "none"
    assert plan.metrics[0].cuped


def test_cuped_applies_only_to_additive_aggregations() -> None:
    metrics = (
        MetricSpec("m", MetricKind.DURATION, "load", aggregation=Aggregation.MEAN),
        MetricSpec("s", MetricKind.REVENUE, "buy"),
        MetricSpec(
            "r",
            MetricKind.RATIO,
            "buy",
            denominator=MetricSpec("d", MetricKind.DURATION, "load", aggregation=Aggregation.MAX),
        ),
    )
    plan = build_plan(spec(metrics=metrics), VERDICT_MAPPING)
    assert [m.cuped for m in plan.metrics] == [False, True, False]
    off = build_plan(spec(metrics=metrics, cuped_days=None), VERDICT_MAPPING)
    assert not any(m.cuped for m in off.metrics)


def test_a_metric_reading_a_column_the_mapping_lacks_is_refused() -> None:
    no_values = DataSourceMapping(events=EventSource(value_column=None))
    with pytest.raises(DataSourceError) as raised:
        build_plan(spec(), no_values)
    assert raised.value.field == "data_source.events.value_column"
    counted = MetricSpec("n", MetricKind.COUNT, "view", aggregation=Aggregation.COUNT)
    assert build_plan(spec(metrics=(counted,)), no_values).metrics[0].measure.uses_value is False
    no_properties = DataSourceMapping(events=EventSource(properties_column=None))
    with pytest.raises(DataSourceError) as raised:
        build_plan(spec(metrics=(replace(REVENUE, value_path="order.total"),)), no_properties)
    assert raised.value.field == "data_source.events.properties_column"
