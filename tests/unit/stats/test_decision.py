"""The verdict: SRM and guardrails invalidate, fixed tests wait, winners ship."""

from __future__ import annotations

import json

from verdict.stats import (
    GuardrailOutcome,
    MeanSummary,
    PrimaryOutcome,
    ProportionSummary,
    RatioSummary,
    Verdict,
    decide,
    make_sequential,
    non_inferiority,
    ratio_delta_test,
    sample_ratio_check,
    two_proportion_z_test,
    welch_t_test,
)

UNITS = {"control": 10_000.0, "B": 10_000.0}


def _primary(conversions: int, variant: str = "B", metric: str = "conversion") -> PrimaryOutcome:
    comparison = two_proportion_z_test(
        ProportionSummary(10_000, 1_000), ProportionSummary(10_000, conversions)
    )
    return PrimaryOutcome(metric, variant, comparison.item())


def _guardrail(shift: float, margin: float = 0.02, variant: str = "B") -> GuardrailOutcome:
    n, mean, sd = 10_000, 200.0, 50.0
    control = MeanSummary(n, n * mean, (n - 1) * sd**2 + n * mean**2)
    treated = MeanSummary(n, n * (mean + shift), (n - 1) * sd**2 + n * (mean + shift) ** 2)
    check = non_inferiority(welch_t_test(control, treated), margin=margin)
    return GuardrailOutcome("revenue per user", variant, check.item())


def test_sample_ratio_mismatch_makes_the_experiment_invalid() -> None:
    decision = decide(
        primary=[_primary(1_200)],
        units=UNITS,
        control="control",
        srm=sample_ratio_check([10_400, 9_600], [0.5, 0.5]),
    )
    assert decision.verdict is Verdict.INVALID
    assert "Sample ratio mismatch" in decision.reasons[0]


def test_guardrail_breach_makes_the_experiment_invalid() -> None:
    decision = decide(
        primary=[_primary(1_200)],
        units=UNITS,
        control="control",
        guardrails=[_guardrail(-20.0)],
    )
    assert decision.verdict is Verdict.INVALID
    assert "breaches guardrail" in decision.reasons[0]


def test_a_significant_winner_with_safe_guardrails_ships() -> None:
    decision = decide(
        primary=[_primary(1_200)],
        units=UNITS,
        control="control",
        guardrails=[_guardrail(0.0)],
        srm=sample_ratio_check([10_000, 10_000], [0.5, 0.5]),
        required_units=8_000,
    )
    assert decision.verdict is Verdict.SHIP
    assert decision.variant == "B"
    assert any("beats control" in reason for reason in decision.reasons)
    json.dumps(decision.to_dict())


def test_a_fixed_horizon_winner_waits_for_the_planned_sample() -> None:
    decision = decide(
        primary=[_primary(1_200)],
        units=UNITS,
        control="control",
        required_units=20_000,
        days_left=5,
    )
    assert decision.verdict is Verdict.KEEP_RUNNING
    assert "5 days left" in decision.reasons[-1]


def test_a_sequential_winner_ships_before_the_planned_sample() -> None:
    comparison = make_sequential(
        two_proportion_z_test(ProportionSummary(10_000, 1_000), ProportionSummary(10_000, 1_300))
    )
    decision = decide(
        primary=[PrimaryOutcome("conversion", "B", comparison.item())],
        units=UNITS,
        control="control",
        required_units=20_000,
    )
    assert decision.verdict is Verdict.SHIP


def test_no_difference_at_the_planned_sample() -> None:
    decision = decide(
        primary=[_primary(1_010)], units=UNITS, control="control", required_units=10_000
    )
    assert decision.verdict is Verdict.NO_DIFFERENCE


def test_every_variant_losing_ships_control() -> None:
    decision = decide(
        primary=[_primary(800), _primary(820, variant="C")],
        units={**UNITS, "C": 10_000.0},
        control="control",
    )
    assert decision.verdict is Verdict.SHIP
    assert decision.variant == "control"


def test_an_unproven_guardrail_keeps_the_experiment_running() -> None:
    decision = decide(
        primary=[_primary(1_200)],
        units=UNITS,
        control="control",
        guardrails=[_guardrail(-1.5, margin=0.01)],
    )
    assert decision.verdict is Verdict.KEEP_RUNNING
    assert any("not yet shown non-inferiority" in reason for reason in decision.reasons)


def test_holm_adjustment_can_remove_a_marginal_win() -> None:
    # Each p is about 0.03 alone; Holm over two comparisons lifts both above 0.05.
    marginal = [_primary(1_088), _primary(1_088, metric="signup")]
    assert all(0.02 < o.comparison.absolute.p_value < 0.05 for o in marginal)
    decision = decide(primary=marginal, units=UNITS, control="control")
    assert decision.verdict is Verdict.NO_DIFFERENCE
    assert "Holm-adjusted" in decision.reasons[0]


def _ratio_without_control_denominator() -> PrimaryOutcome:
    empty = RatioSummary(MeanSummary(40, 0.0, 0.0), MeanSummary(40, 0.0, 0.0), 0.0)
    some = RatioSummary(MeanSummary(40, 80.0, 400.0), MeanSummary(40, 20.0, 30.0), 90.0)
    return PrimaryOutcome("revenue per order", "B", ratio_delta_test(empty, some).item())


def test_a_metric_that_cannot_be_judged_is_reported_and_the_others_still_decide() -> None:
    decision = decide(
        primary=[_primary(1_200), _ratio_without_control_denominator()],
        units=UNITS,
        control="control",
        required_units=10_000,
    )
    assert decision.verdict is Verdict.SHIP
    assert decision.variant == "B"
    [unjudged] = decision.cannot_judge
    assert (unjudged.metric, unjudged.variant, unjudged.kind) == (
        "revenue per order",
        "B",
        "primary metric",
    )
    assert "no denominator" in unjudged.reason
    assert any("Cannot judge primary metric 'revenue per order'" in r for r in decision.reasons)
    assert json.loads(json.dumps(decision.to_dict()))["cannot_judge"][0]["metric"] == (
        "revenue per order"
    )


def test_an_unjudgeable_metric_still_counts_in_the_holm_family() -> None:
    # p = 0.03 alone would win; Holm over the two planned comparisons says no.
    decision = decide(
        primary=[_primary(1_088), _ratio_without_control_denominator()],
        units=UNITS,
        control="control",
        required_units=10_000,
    )
    assert decision.verdict is Verdict.NO_DIFFERENCE


def test_nothing_judgeable_keeps_running() -> None:
    decision = decide(
        primary=[_ratio_without_control_denominator()], units=UNITS, control="control"
    )
    assert decision.verdict is Verdict.KEEP_RUNNING
    assert "not enough data" in decision.reasons[0]


def test_a_guardrail_after_two_units_neither_breaches_nor_passes() -> None:
    # 1/1 against 0/1: zero estimated variance, which used to read as p = 0.
    tiny = two_proportion_z_test(ProportionSummary(1, 1), ProportionSummary(1, 0))
    guardrail = GuardrailOutcome("checkout", "B", non_inferiority(tiny, margin=0.02).item())
    decision = decide(
        primary=[_primary(1_200)],
        units=UNITS,
        control="control",
        guardrails=[guardrail],
        required_units=10_000,
    )
    assert decision.verdict is Verdict.KEEP_RUNNING
    assert decision.cannot_judge[0].kind == "guardrail"
    assert any("not enough data to judge it" in r for r in decision.reasons)
    assert decision.to_dict()["guardrails"] == [
        {"metric": "checkout", "variant": "B", "status": "cannot_judge"}
    ]


def test_small_counts_are_repeated_as_a_warning() -> None:
    few = two_proportion_z_test(ProportionSummary(1_000, 0), ProportionSummary(1_000, 5))
    decision = decide(
        primary=[PrimaryOutcome("purchase", "B", few.item())],
        units=UNITS,
        control="control",
    )
    assert any(r.startswith("Warning on 'purchase'") for r in decision.reasons)


def test_the_decision_says_where_each_guardrail_stands() -> None:
    decision = decide(
        primary=[_primary(1_000, variant=v) for v in ("B", "C", "D")],
        units={"control": 10_000.0, "B": 10_000.0, "C": 10_000.0, "D": 10_000.0},
        control="control",
        guardrails=[
            _guardrail(-20.0, variant="B"),  # far worse than the 2 % margin allows
            _guardrail(0.0, variant="C"),  # equal, with the sample to show it
            _guardrail(-1.5, margin=0.01, variant="D"),  # neither yet
        ],
    )
    statuses = {g["variant"]: g["status"] for g in decision.to_dict()["guardrails"]}
    assert statuses == {"B": "breached", "C": "shown", "D": "pending"}
