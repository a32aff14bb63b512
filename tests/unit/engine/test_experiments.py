"""Experiment decisions: decision order, sticky and forced variants, bandit weights,
coverage, mutual-exclusion layers and holdouts."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from verdict.engine import (
    ConfigError,
    EvaluationContext,
    ExperimentReason,
    Snapshot,
    compile_config,
)

from .bucketing_reference import murmur3_x86_32

THREE_WAY = [
    {"key": "A", "weight": 0.34},
    {"key": "B", "weight": 0.33},
    {"key": "C", "weight": 0.33},
]


class DictStore:
    """An in-memory sticky-assignment store."""

    def __init__(self, stored: dict[tuple[str, str], str] | None = None) -> None:
        self.stored = stored or {}

    def get_variant(self, experiment_key: str, unit_id: str) -> str | None:
        return self.stored.get((experiment_key, unit_id))


def _experiment(**spec: Any) -> dict[str, Any]:
    return {"status": "running", "variants": THREE_WAY, **spec}


def _snapshot(experiments: dict[str, Any], **rest: Any) -> Snapshot:
    return compile_config({"experiments": experiments, **rest})


def _ctx(unit: str | None = "user-1", **attributes: Any) -> EvaluationContext:
    return EvaluationContext(unit, attributes)


def _layer_bucket(seed: str, unit: str) -> int:
    return murmur3_x86_32(f"{seed}:layer:{unit}".encode()) % 10_000


# ---------------------------------------------------------------- decision order
def test_forced_variants_apply_even_before_the_experiment_runs() -> None:
    snapshot = _snapshot({"e": _experiment(status="draft", forced={"qa-1": "C"})})
    forced = snapshot.decide("e", _ctx("qa-1"))
    assert (forced.in_experiment, forced.variant, forced.reason) == (
        True,
        "C",
        ExperimentReason.FORCED,
    )
    other = snapshot.decide("e", _ctx("user-1"))
    assert (other.in_experiment, other.reason) == (False, ExperimentReason.NOT_RUNNING)


def test_units_without_a_targeting_key_are_not_bucketed() -> None:
    result = _snapshot({"e": _experiment()}).decide("e", _ctx(None))
    assert (result.in_experiment, result.reason) == (False, ExperimentReason.TARGETING_KEY_MISSING)


def test_units_outside_the_targeting_condition_are_not_targeted() -> None:
    snapshot = _snapshot(
        {"e": _experiment(condition={"country": "US"}, segment="adults")},
        segments={"adults": {"age": {"$gte": 18}}},
    )
    assert snapshot.decide("e", _ctx(country="GB", age=30)).reason is ExperimentReason.NOT_TARGETED
    assert snapshot.decide("e", _ctx(country="US", age=12)).reason is ExperimentReason.NOT_TARGETED
    assert snapshot.decide("e", _ctx(country="US", age=30)).reason is ExperimentReason.BUCKETED


def test_targeting_still_applies_to_units_with_a_sticky_variant() -> None:
    snapshot = _snapshot({"e": _experiment(condition={"country": "US"})})
    store = DictStore({("e", "user-1"): "B"})
    assert (
        snapshot.decide("e", _ctx(country="GB"), sticky=store).reason
        is ExperimentReason.NOT_TARGETED
    )
    sticky = snapshot.decide("e", _ctx(country="US"), sticky=store)
    assert (sticky.variant, sticky.reason, sticky.bucket) == ("B", ExperimentReason.STICKY, None)


def test_bucketed_units_get_the_variant_of_their_independently_computed_bucket() -> None:
    snapshot = _snapshot({"e": _experiment(seed="exp-seed")})
    for i in range(300):
        unit = f"u{i}"
        expected_bucket = murmur3_x86_32(f"exp-seed:{unit}".encode()) % 10_000
        expected = "A" if expected_bucket < 3400 else "B" if expected_bucket < 6700 else "C"
        result = snapshot.decide("e", _ctx(unit))
        assert (result.variant, result.bucket, result.reason) == (
            expected,
            expected_bucket,
            ExperimentReason.BUCKETED,
        )


def test_unknown_experiments_are_reported_not_found() -> None:
    assert _snapshot({}).decide("nope", _ctx()).reason is ExperimentReason.NOT_FOUND


def test_compiled_experiments_cannot_be_modified() -> None:
    experiment = _snapshot({"e": _experiment()}).experiments["e"]
    assert experiment is not None
    with pytest.raises(AttributeError, match="immutable"):
        experiment.running = False


def test_lenient_compilation_marks_broken_experiments() -> None:
    snapshot = compile_config(
        {"experiments": {"bad": _experiment(coverage=2), "good": _experiment()}}, strict=False
    )
    assert snapshot.decide("bad", _ctx()).reason is ExperimentReason.CONFIG_ERROR
    assert snapshot.decide("good", _ctx()).in_experiment
    assert [issue.path for issue in snapshot.problems] == ["$.experiments.bad.coverage"]


# ---------------------------------------------------------------- sticky and bandits
def test_a_unit_keeps_its_first_variant_after_the_weights_change() -> None:
    before = _snapshot({"e": _experiment()})
    after = _snapshot(
        {
            "e": _experiment(
                variants=[
                    {"key": k, "weight": w} for k, w in zip("ABC", [0.8, 0.1, 0.1], strict=True)
                ]
            )
        }
    )
    store = DictStore()
    moved_without_store = 0
    for i in range(2_000):
        unit = f"u{i}"
        first = before.decide("e", _ctx(unit), sticky=store)
        assert first.reason is ExperimentReason.BUCKETED
        store.stored[("e", unit)] = first.variant  # type: ignore[assignment]
        assert after.decide("e", _ctx(unit), sticky=store).variant == first.variant
        moved_without_store += after.decide("e", _ctx(unit)).variant != first.variant
    assert moved_without_store > 500


def test_a_stored_variant_the_experiment_no_longer_has_is_ignored() -> None:
    store = DictStore({("e", "user-1"): "Z"})
    assert _snapshot({"e": _experiment()}).decide("e", _ctx(), sticky=store).reason is (
        ExperimentReason.BUCKETED
    )


def test_experiments_can_opt_out_of_sticky_assignment() -> None:
    store = DictStore({("e", "user-1"): "A"})
    result = _snapshot({"e": _experiment(sticky=False)}).decide("e", _ctx(), sticky=store)
    assert result.reason is ExperimentReason.BUCKETED


def test_bandit_weights_supplied_with_the_decision_replace_the_configured_ones() -> None:
    snapshot = _snapshot({"e": _experiment()})
    variants = {snapshot.decide("e", _ctx(f"u{i}"), weights=[0, 0, 1]).variant for i in range(200)}
    assert variants == {"C"}
    shares = [
        snapshot.decide("e", _ctx(f"u{i}"), weights=[0.7, 0.2, 0.1]).variant for i in range(20_000)
    ]
    assert abs(shares.count("A") / 20_000 - 0.7) < 4 * math.sqrt(0.21 / 20_000)


@pytest.mark.parametrize("weights", [[0.5, 0.5], [0.5, 0.5, 0.5], [1.2, -0.1, -0.1]])
def test_invalid_bandit_weights_raise(weights: list[float]) -> None:
    with pytest.raises(ValueError, match="weight"):
        _snapshot({"e": _experiment()}).decide("e", _ctx(), weights=weights)


# ---------------------------------------------------------------- coverage
def test_coverage_admits_its_share_of_units() -> None:
    snapshot = _snapshot({"e": _experiment(coverage=0.2)})
    reasons = [snapshot.decide("e", _ctx(f"u{i}")).reason for i in range(20_000)]
    share = reasons.count(ExperimentReason.BUCKETED) / 20_000
    assert abs(share - 0.2) < 4 * math.sqrt(0.16 / 20_000)
    assert set(reasons) == {ExperimentReason.BUCKETED, ExperimentReason.NOT_IN_COVERAGE}


@settings(max_examples=60)
@given(
    low=st.integers(0, 10_000).map(lambda n: n / 10_000),
    high=st.integers(0, 10_000).map(lambda n: n / 10_000),
    units=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=30),
)
def test_changing_coverage_keeps_every_still_included_unit_in_its_variant(
    low: float, high: float, units: list[str]
) -> None:
    low, high = sorted((low, high))
    narrow = _snapshot({"e": _experiment(coverage=low)})
    wide = _snapshot({"e": _experiment(coverage=high)})
    for unit in units:
        before = narrow.decide("e", _ctx(unit))
        after = wide.decide("e", _ctx(unit))
        if before.in_experiment:
            assert after.in_experiment
            assert after.variant == before.variant


def test_two_experiments_assign_variants_independently() -> None:
    snapshot = _snapshot({"first": _experiment(), "second": _experiment()})
    table = np.zeros((3, 3), dtype=int)
    index = {"A": 0, "B": 1, "C": 2}
    for i in range(100_000):
        context = _ctx(f"user-{i}")
        first = snapshot.decide("first", context).variant
        second = snapshot.decide("second", context).variant
        table[index[first], index[second]] += 1  # type: ignore[index]
    assert stats.chi2_contingency(table).pvalue > 0.001


# ---------------------------------------------------------------- layers and holdouts
def test_holdout_units_are_kept_out_of_every_experiment_of_the_layer() -> None:
    snapshot = _snapshot(
        {
            "one": _experiment(layer="checkout", layer_range=[0, 5000]),
            "two": _experiment(layer="checkout", layer_range=[5000, 10000]),
        },
        layers={"checkout": {"seed": "checkout-layer", "holdout": [9000, 10000]}},
    )
    for i in range(3_000):
        unit = f"u{i}"
        layer_bucket = _layer_bucket("checkout-layer", unit)
        reasons = {snapshot.decide(key, _ctx(unit)).reason for key in ("one", "two")}
        if layer_bucket >= 9000:
            assert reasons == {ExperimentReason.HOLDOUT}
        else:
            assert ExperimentReason.HOLDOUT not in reasons


@settings(max_examples=40)
@given(
    cuts=st.lists(st.integers(1, 9_999), min_size=1, max_size=4, unique=True),
    units=st.lists(st.text(min_size=1, max_size=10), min_size=1, max_size=40),
)
def test_a_unit_is_in_at_most_one_experiment_of_a_layer(cuts: list[int], units: list[str]) -> None:
    edges = [0, *sorted(cuts), 10_000]
    experiments = {
        f"e{i}": _experiment(layer="L", layer_range=[start, end])
        for i, (start, end) in enumerate(itertools.pairwise(edges))
    }
    snapshot = _snapshot(experiments, layers={"L": {}})
    for unit in units:
        memberships = [key for key in experiments if snapshot.decide(key, _ctx(unit)).in_experiment]
        assert len(memberships) == 1
        owner = memberships[0]
        start, end = experiments[owner]["layer_range"]
        assert start <= _layer_bucket("L", unit) < end


def test_layer_ranges_that_overlap_are_rejected_naming_both_experiments() -> None:
    with pytest.raises(ConfigError) as raised:
        _snapshot(
            {
                "one": _experiment(layer="L", layer_range=[0, 6000]),
                "two": _experiment(layer="L", layer_range=[5000, 10000]),
            },
            layers={"L": {}},
        )
    (issue,) = raised.value.issues
    assert issue.path == "$.experiments.two.layer_range"
    assert "'one'" in issue.reason
    assert "'L'" in issue.reason


@pytest.mark.parametrize(
    ("experiment", "path", "reason"),
    [
        (_experiment(layer="nope", layer_range=[0, 10]), "$.experiments.e.layer", "unknown layer"),
        (_experiment(layer="L"), "$.experiments.e.layer_range", "is required"),
        (_experiment(layer="L", layer_range=[10, 5]), "$.experiments.e.layer_range", "start < end"),
        (_experiment(forced={"qa": "Z"}), "$.experiments.e.forced.qa", "unknown variant"),
        (_experiment(variants=[{"key": "A", "weight": 0.5}]), "$.experiments.e.variants", "sum"),
        (_experiment(variants=[{"key": "A", "weight": 0.5}, {"key": "A", "weight": 0.5}]),
         "$.experiments.e.variants[1].key", "duplicate"),
        (_experiment(condition={"x": {"$regex": "(a)\\1"}}), "$.experiments.e.condition.x.$regex",
         "backreferences"),
        (_experiment(segment="nope"), "$.experiments.e.segment", "unknown segment"),
    ],
)  # fmt: skip
def test_invalid_experiments_are_rejected_with_the_path_of_the_bad_field(
    experiment: dict[str, Any], path: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        _snapshot({"e": experiment}, layers={"L": {}})
    assert [issue.path for issue in raised.value.issues] == [path]
    assert reason in raised.value.issues[0].reason


# ---------------------------------------------------------------- flags served by experiments
def test_a_flag_experiment_rule_serves_the_units_experiment_variant() -> None:
    snapshot = compile_config(
        {
            "experiments": {"e": _experiment(coverage=0.5)},
            "flags": {
                "f": {
                    "type": "string",
                    "default": "control",
                    "variants": [{"key": k, "value": f"value-{k}"} for k in "ABC"],
                    "rules": [{"id": "exp", "type": "experiment", "experiment": "e"}],
                }
            },
        }
    )
    for i in range(500):
        context = _ctx(f"u{i}")
        decision = snapshot.decide("e", context)
        result = snapshot.evaluate("f", context)
        if decision.in_experiment:
            assert (result.value, result.variant, result.experiment, result.rule) == (
                f"value-{decision.variant}",
                decision.variant,
                "e",
                "exp",
            )
        else:
            assert (result.value, result.experiment) == ("control", None)


def test_a_flag_cannot_serve_an_experiment_with_variants_it_lacks() -> None:
    with pytest.raises(ConfigError, match="serves variant 'C'"):
        compile_config(
            {
                "experiments": {"e": _experiment()},
                "flags": {
                    "f": {
                        "type": "string",
                        "default": "A",
                        "variants": [{"key": k, "value": k} for k in "AB"],
                        "rules": [{"type": "experiment", "experiment": "e"}],
                    }
                },
            }
        )


# ---------------------------------------------------------------- hash attribute
def test_a_hash_attribute_places_every_unit_with_its_value_in_one_variant() -> None:
    snapshot = _snapshot({"e": _experiment(seed="by-company", hash_attribute="company_id")})
    for company in ("acme", "globex", 4711):
        expected = murmur3_x86_32(f"by-company:{company}".encode()) % 10_000
        results = {snapshot.decide("e", _ctx(f"user-{i}", company_id=company)) for i in range(20)}
        assert {(r.bucket, r.reason) for r in results} == {(expected, ExperimentReason.BUCKETED)}
        assert len({r.variant for r in results}) == 1


def test_a_unit_without_a_usable_hash_attribute_value_is_not_bucketed() -> None:
    snapshot = _snapshot({"e": _experiment(hash_attribute="company_id")})
    for attributes in ({}, {"company_id": ""}, {"company_id": True}, {"company_id": 1.5}):
        result = snapshot.decide("e", _ctx("user-1", **attributes))
        assert result.reason is ExperimentReason.TARGETING_KEY_MISSING
    # The attribute alone suffices: no unit id is needed to hash.
    assert snapshot.decide("e", _ctx(None, company_id="acme")).in_experiment


def test_the_default_hash_attribute_is_the_unit_id() -> None:
    by_default = _snapshot({"e": _experiment(seed="s")})
    named = _snapshot({"e": _experiment(seed="s", hash_attribute="id")})
    for i in range(50):
        context = _ctx(f"u{i}", id="something-else")
        assert by_default.decide("e", context) == named.decide("e", context)


def test_forced_and_sticky_variants_stay_keyed_by_the_unit_id() -> None:
    snapshot = _snapshot({"e": _experiment(hash_attribute="company_id", forced={"qa-1": "C"})})
    forced = snapshot.decide("e", _ctx("qa-1", company_id="acme"))
    assert (forced.variant, forced.reason) == ("C", ExperimentReason.FORCED)
    store = DictStore({("e", "user-9"): "B"})
    sticky = snapshot.decide("e", _ctx("user-9", company_id="acme"), sticky=store)
    assert (sticky.variant, sticky.reason) == ("B", ExperimentReason.STICKY)
