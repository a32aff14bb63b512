"""Flag evaluation: order of decisions, reasons, error codes, value types, rollouts."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from verdict.engine import (
    CompiledFlag,
    ConfigError,
    ErrorCode,
    EvaluationContext,
    FlagType,
    Reason,
    SegmentTable,
    Snapshot,
    compile_config,
)
from verdict.engine.flags import MAX_PREREQUISITE_DEPTH, compile_flag

from .bucketing_reference import murmur3_x86_32

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
PRO_NA = {"country": {"$in": ["US", "CA"]}, "plan": "pro"}


def _flag(**spec: Any) -> dict[str, Any]:
    return {"type": "boolean", "default": False, **spec}


def _snapshot(flags: dict[str, Any], **rest: Any) -> Snapshot:
    return compile_config({"flags": flags, **rest})


def _ctx(unit: str | None = "user-1", **attributes: Any) -> EvaluationContext:
    return EvaluationContext(unit, attributes)


def _rollout(percentage: float, seed: str = "rollout-flag") -> Snapshot:
    rule = {"id": "ramp", "type": "rollout", "percentage": percentage, "value": True, "seed": seed}
    return _snapshot({"f": _flag(rules=[rule])})


# ---------------------------------------------------------------- evaluation order
def test_unknown_flag_returns_the_callers_default_with_flag_not_found() -> None:
    result = _snapshot({}).evaluate("nope", _ctx(), default="fallback")
    assert (result.value, result.reason, result.error_code) == (
        "fallback",
        Reason.ERROR,
        ErrorCode.FLAG_NOT_FOUND,
    )
    assert _snapshot({}).value("nope", "u", {}, default=7) == 7


def test_disabled_flag_serves_its_default_even_to_an_overridden_unit() -> None:
    snapshot = _snapshot(
        {"f": _flag(enabled=False, overrides={"user-1": {"value": True}}, rules=[])}
    )
    result = snapshot.evaluate("f", _ctx())
    assert (result.value, result.reason, result.rule) == (False, Reason.DISABLED, None)


def test_unexpired_override_wins_over_prerequisites_and_rules() -> None:
    expiry = (NOW + timedelta(days=1)).isoformat()
    snapshot = _snapshot(
        {
            "gate": _flag(),
            "f": _flag(
                prerequisites=[{"flag": "gate", "value": True}],
                overrides={"user-1": {"value": True, "expires_at": expiry}},
            ),
        }
    )
    result = snapshot.evaluate("f", _ctx(), now=NOW)
    assert (result.value, result.reason, result.rule) == (True, Reason.TARGETING_MATCH, "override")


def test_expired_override_is_ignored() -> None:
    expiry = (NOW - timedelta(seconds=1)).isoformat()
    snapshot = _snapshot({"f": _flag(overrides={"user-1": {"value": True, "expires_at": expiry}})})
    result = snapshot.evaluate("f", _ctx(), now=NOW)
    assert (result.value, result.reason) == (False, Reason.DEFAULT)


def test_override_expiry_uses_the_clock_when_now_is_not_injected() -> None:
    past = "2000-01-01T00:00:00Z"
    future = "2999-01-01T00:00:00+02:00"
    snapshot = _snapshot(
        {
            "f": _flag(
                overrides={
                    "old": {"value": True, "expires_at": past},
                    "new": {"value": True, "expires_at": future},
                    "forever": {"value": True},
                }
            )
        }
    )
    assert snapshot.value("f", "old", {}) is False
    assert snapshot.value("f", "new", {}) is True
    assert snapshot.value("f", "forever", {}) is True


def test_unmet_prerequisite_serves_the_default_naming_the_prerequisite() -> None:
    snapshot = _snapshot(
        {
            "gate": _flag(rules=[{"type": "force", "condition": {"beta": True}, "value": True}]),
            "f": _flag(
                prerequisites=[{"flag": "gate", "value": True}],
                rules=[{"type": "force", "value": True}],
            ),
        }
    )
    blocked = snapshot.evaluate("f", _ctx(beta=False))
    assert (blocked.value, blocked.reason, blocked.rule) == (
        False,
        Reason.DEFAULT,
        "prerequisite:gate",
    )
    allowed = snapshot.evaluate("f", _ctx(beta=True))
    assert (allowed.value, allowed.reason) == (True, Reason.TARGETING_MATCH)


def test_an_erroring_prerequisite_makes_the_flag_error_too() -> None:
    rollout = {"type": "rollout", "percentage": 100, "value": True}
    snapshot = _snapshot(
        {
            "gate": _flag(rules=[rollout]),
            "f": _flag(prerequisites=[{"flag": "gate", "value": True}]),
        }
    )
    result = snapshot.evaluate("f", _ctx(None), default="d")
    assert (result.value, result.error_code, result.rule) == (
        "d",
        ErrorCode.TARGETING_KEY_MISSING,
        "prerequisite:gate",
    )


def test_prerequisite_cycles_are_rejected_with_the_cycle_spelled_out() -> None:
    flags = {
        "a": _flag(prerequisites=[{"flag": "b", "value": True}]),
        "b": _flag(prerequisites=[{"flag": "c", "value": True}]),
        "c": _flag(prerequisites=[{"flag": "a", "value": True}]),
        "d": _flag(prerequisites=[{"flag": "d", "value": False}]),
    }
    with pytest.raises(ConfigError) as raised:
        _snapshot(flags)
    messages = {issue.path: issue.reason for issue in raised.value.issues}
    assert messages["$.flags.a.prerequisites"] == "prerequisite cycle: a -> b -> c -> a"
    assert messages["$.flags.c.prerequisites"] == "prerequisite cycle: a -> b -> c -> a"
    assert messages["$.flags.d.prerequisites"] == "prerequisite cycle: d -> d"


def _chain(links: int) -> dict[str, Any]:
    """f0 requires f1, ... f{links-1} requires f{links}: ``links`` prerequisite links."""
    flags = {
        f"f{i}": _flag(prerequisites=[{"flag": f"f{i + 1}", "value": False}]) for i in range(links)
    }
    flags[f"f{links}"] = _flag()
    return flags


def test_a_prerequisite_chain_as_deep_as_the_limit_evaluates() -> None:
    snapshot = _snapshot(_chain(MAX_PREREQUISITE_DEPTH))
    result = snapshot.evaluate("f0", _ctx())
    assert (result.value, result.reason, result.error_code) == (False, Reason.DEFAULT, None)


def test_a_prerequisite_chain_one_link_deeper_than_the_limit_is_refused() -> None:
    links = MAX_PREREQUISITE_DEPTH + 1
    with pytest.raises(ConfigError) as raised:
        _snapshot(_chain(links))
    [issue] = raised.value.issues
    assert issue.path == "$.flags.f0.prerequisites"
    assert f"prerequisites nest {links} deep (f0 -> f1 -> f2 -> f3 -> … -> f{links})" in (
        issue.reason
    )
    lenient = compile_config({"flags": _chain(links)}, strict=False)
    broken = lenient.evaluate("f0", _ctx(), default="d")
    assert (broken.value, broken.error_code) == ("d", ErrorCode.PARSE_ERROR)
    assert lenient.evaluate("f1", _ctx()).error_code is None


def test_the_longest_of_several_prerequisite_chains_counts() -> None:
    flags = _chain(MAX_PREREQUISITE_DEPTH)
    # a short way and a long way down: the long one decides.
    flags["top"] = _flag(
        prerequisites=[
            {"flag": "f0", "value": False},
            {"flag": f"f{MAX_PREREQUISITE_DEPTH}", "value": False},
        ]
    )
    with pytest.raises(ConfigError) as raised:
        _snapshot(flags)
    assert [issue.path for issue in raised.value.issues] == ["$.flags.top.prerequisites"]


def test_flags_compiled_one_by_one_still_stop_at_the_depth_limit() -> None:
    links = MAX_PREREQUISITE_DEPTH + 2
    specs = _chain(links)
    registry: dict[str, CompiledFlag] = {}
    types = dict.fromkeys(specs, FlagType.BOOLEAN)
    segments = SegmentTable({}, "$.segments")
    for key, spec in specs.items():
        registry[key] = compile_flag(
            key, spec, f"$.flags.{key}", segments=segments, experiments={},
            flag_types=types, registry=registry,
        )  # fmt: skip
    result = Snapshot(registry, {}).evaluate("f0", _ctx(), default="d")
    assert (result.value, result.error_code) == ("d", ErrorCode.GENERAL)


def test_rules_apply_in_order_and_the_first_match_decides() -> None:
    snapshot = _snapshot(
        {
            "f": {
                "type": "string",
                "default": "off",
                "rules": [
                    {
                        "id": "staff",
                        "type": "force",
                        "condition": {"staff": True},
                        "value": "staff",
                    },
                    {"id": "na-pro", "type": "force", "segment": "pro-na", "value": "pro"},
                    {"id": "everyone", "type": "force", "value": "all"},
                    {"id": "unreachable", "type": "force", "value": "never"},
                ],
            }
        },
        segments={"pro-na": PRO_NA},
    )
    staff = snapshot.evaluate("f", _ctx(staff=True, country="US", plan="pro"))
    assert (staff.value, staff.rule, staff.reason) == ("staff", "staff", Reason.TARGETING_MATCH)
    assert snapshot.evaluate("f", _ctx(country="CA", plan="pro")).rule == "na-pro"
    assert snapshot.evaluate("f", _ctx(country="GB")).rule == "everyone"


def test_a_rule_with_both_condition_and_segment_needs_both() -> None:
    rule = {"type": "force", "condition": {"age": {"$gte": 18}}, "segment": "pro-na", "value": True}
    snapshot = _snapshot({"f": _flag(rules=[rule])}, segments={"pro-na": PRO_NA})
    assert snapshot.value("f", "u", {"country": "US", "plan": "pro", "age": 30}) is True
    assert snapshot.value("f", "u", {"country": "US", "plan": "pro", "age": 16}) is False
    assert snapshot.value("f", "u", {"country": "GB", "plan": "pro", "age": 30}) is False


def test_default_is_static_without_rules_and_default_with_them() -> None:
    snapshot = _snapshot(
        {
            "plain": _flag(),
            "targeted": _flag(rules=[{"type": "force", "condition": {"x": 1}, "value": True}]),
        }
    )
    assert snapshot.evaluate("plain", _ctx()).reason is Reason.STATIC
    assert snapshot.evaluate("targeted", _ctx()).reason is Reason.DEFAULT


def test_rollout_includes_the_units_whose_inclusion_hash_is_below_the_threshold() -> None:
    snapshot = _rollout(12.34, seed="ramp-seed")
    for i in range(500):
        unit = f"u{i}"
        independent_bucket = murmur3_x86_32(f"ramp-seed:inclusion:{unit}".encode()) % 10_000
        result = snapshot.evaluate("f", _ctx(unit))
        assert result.value is (independent_bucket < 1234)
        assert result.reason is (Reason.SPLIT if result.value else Reason.DEFAULT)


def test_rollout_reaches_its_percentage_of_targeted_users() -> None:
    rule = {"type": "rollout", "condition": PRO_NA, "percentage": 50, "value": True}
    snapshot = _snapshot({"f": _flag(rules=[rule])})
    eligible = [
        snapshot.value("f", f"u{i}", {"country": "US", "plan": "pro"}) for i in range(20_000)
    ]
    assert abs(sum(eligible) / 20_000 - 0.5) < 4 * math.sqrt(0.25 / 20_000)
    assert not any(
        snapshot.value("f", f"u{i}", {"country": "GB", "plan": "pro"}) for i in range(500)
    )


@settings(max_examples=60)
@given(
    low=st.integers(0, 10_000).map(lambda n: n / 100),
    high=st.integers(0, 10_000).map(lambda n: n / 100),
    units=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=30),
)
def test_raising_rollout_never_removes_a_user_and_lowering_never_adds_one(
    low: float, high: float, units: list[str]
) -> None:
    low, high = sorted((low, high))
    smaller, larger = _rollout(low), _rollout(high)
    for unit in units:
        if smaller.value("f", unit, {}):
            assert larger.value("f", unit, {})


def test_split_serves_variants_in_proportion_to_their_weights() -> None:
    weights = [0.5, 0.3, 0.2]
    snapshot = _snapshot(
        {
            "f": {
                "type": "string",
                "default": "control",
                "variants": [{"key": k, "value": k.lower()} for k in "ABC"],
                "rules": [
                    {
                        "type": "split",
                        "weights": [
                            {"variant": k, "weight": w} for k, w in zip("ABC", weights, strict=True)
                        ],
                    }
                ],
            }
        }
    )
    results = [snapshot.evaluate("f", _ctx(f"u{i}")) for i in range(30_000)]
    assert {(r.value, r.variant, r.reason) for r in results} == {
        ("a", "A", Reason.SPLIT),
        ("b", "B", Reason.SPLIT),
        ("c", "C", Reason.SPLIT),
    }
    observed = [sum(r.variant == k for r in results) for k in "ABC"]
    assert stats.chisquare(observed, [w * 30_000 for w in weights]).pvalue > 0.001


def test_a_split_outside_its_coverage_passes_to_the_next_rule() -> None:
    split = {"type": "split", "coverage": 0.25, "weights": [{"variant": "on", "weight": 1}]}
    snapshot = _snapshot(
        {
            "f": _flag(
                variants=[{"key": "on", "value": True}, {"key": "off", "value": False}],
                rules=[split],
            )
        }
    )
    results = [snapshot.evaluate("f", _ctx(f"u{i}")) for i in range(8_000)]
    covered = sum(r.reason is Reason.SPLIT for r in results) / 8_000
    assert abs(covered - 0.25) < 4 * math.sqrt(0.25 * 0.75 / 8_000)
    assert {r.variant for r in results if r.reason is Reason.DEFAULT} == {"off"}


def test_hashing_rules_without_a_targeting_key_report_it_missing() -> None:
    snapshot = _rollout(50)
    for missing in (None, ""):
        result = snapshot.evaluate("f", _ctx(missing), default="d")
        assert (result.value, result.reason, result.error_code, result.rule) == (
            "d",
            Reason.ERROR,
            ErrorCode.TARGETING_KEY_MISSING,
            "ramp",
        )
        assert snapshot.value("f", missing, {}, default="d") == "d"


def test_force_rules_need_no_targeting_key() -> None:
    snapshot = _snapshot(
        {"f": _flag(rules=[{"type": "force", "condition": {"x": 1}, "value": True}])}
    )
    assert snapshot.evaluate("f", _ctx(None, x=1)).value is True


def test_expected_type_mismatch_returns_the_callers_default() -> None:
    snapshot = _snapshot({"f": _flag()})
    result = snapshot.evaluate("f", _ctx(), default="x", expected_type=FlagType.STRING)
    assert (result.value, result.error_code) == ("x", ErrorCode.TYPE_MISMATCH)
    assert snapshot.evaluate("f", _ctx(), expected_type=FlagType.BOOLEAN).error_code is None


def test_a_value_equal_to_a_declared_variant_reports_that_variant() -> None:
    snapshot = _snapshot(
        {
            "f": _flag(
                variants=[{"key": "on", "value": True}, {"key": "off", "value": False}],
                rules=[{"type": "force", "condition": {"x": 1}, "value": True}],
            )
        }
    )
    assert snapshot.evaluate("f", _ctx(x=1)).variant == "on"
    assert snapshot.evaluate("f", _ctx(x=2)).variant == "off"


def test_outcomes_are_built_once_and_reused() -> None:
    snapshot = _rollout(100)
    assert snapshot.evaluate("f", _ctx("a")) is snapshot.evaluate("f", _ctx("b"))


def test_all_flags_for_one_context_evaluate_in_one_call() -> None:
    snapshot = _snapshot(
        {
            "a": _flag(rules=[{"type": "force", "condition": {"plan": "pro"}, "value": True}]),
            "b": {"type": "number", "default": 3},
            "c": _flag(rules=[{"type": "rollout", "percentage": 100, "value": True}]),
        }
    )
    results = snapshot.evaluate_all(_ctx(None, plan="pro"))
    assert list(results) == ["a", "b", "c"]
    assert results["a"].value is True
    assert results["c"].error_code is ErrorCode.TARGETING_KEY_MISSING
    assert snapshot.values(None, {"plan": "pro"}) == {"a": True, "b": 3, "c": False}


@settings(max_examples=100)
@given(
    unit=st.one_of(st.none(), st.text(max_size=10)),
    country=st.sampled_from(["US", "CA", "GB", None]),
    plan=st.sampled_from(["pro", "free"]),
)
def test_the_value_path_always_agrees_with_the_detail_path(
    unit: str | None, country: str | None, plan: str
) -> None:
    snapshot = _snapshot(
        {
            "f": _flag(
                rules=[
                    {"type": "force", "condition": {"country": "GB"}, "value": True},
                    {"type": "rollout", "condition": PRO_NA, "percentage": 30, "value": True},
                ]
            )
        }
    )
    attributes = {"country": country, "plan": plan}
    detail = snapshot.evaluate("f", EvaluationContext(unit, attributes), default="d")
    assert snapshot.value("f", unit, attributes, default="d") == detail.value


# ---------------------------------------------------------------- configuration checks
@pytest.mark.parametrize(
    ("flag", "path", "reason"),
    [
        ({"type": "bool", "default": True}, "$.flags.f.type", "needs one of"),
        ({"type": "boolean"}, "$.flags.f.default", "is required"),
        ({"type": "boolean", "default": 1}, "$.flags.f.default", "not a boolean"),
        ({"type": "number", "default": True}, "$.flags.f.default", "not a number"),
        ({"type": "number", "default": math.inf}, "$.flags.f.default", "not a number"),
        ({"type": "string", "default": "a", "variants": [{"key": "x", "value": 2}]},
         "$.flags.f.variants[0].value", "not a string"),
        ({"type": "json", "default": {"a": {1, 2}}}, "$.flags.f.default", "not a JSON value"),
        (_flag(rules=[{"type": "force", "value": "yes"}]), "$.flags.f.rules[0].value", "boolean"),
        (_flag(rules=[{"type": "maybe"}]), "$.flags.f.rules[0].type", "needs one of"),
        (_flag(rules=[{"type": "rollout", "percentage": 101, "value": True}]),
         "$.flags.f.rules[0].percentage", "within [0, 100]"),
        (_flag(rules=[{"type": "force", "variant": "nope"}]), "$.flags.f.rules[0].variant",
         "unknown variant"),
        (_flag(rules=[{"type": "split", "weights": []}]), "$.flags.f.variants", "needs variants"),
        (_flag(rules=[{"type": "force", "condition": {"a": {"$gtt": 2}}, "value": True}]),
         "$.flags.f.rules[0].condition.a.$gtt", "unknown operator"),
        (_flag(overrides={"u": {"value": True, "expires_at": "2030-01-01T00:00:00"}}),
         "$.flags.f.overrides.u.expires_at", "UTC offset"),
        (_flag(prerequisites=[{"flag": "missing", "value": True}]),
         "$.flags.f.prerequisites[0].flag", "unknown flag"),
        (_flag(prerequisites=[{"flag": "other", "value": "on"}]),
         "$.flags.f.prerequisites[0].value", "not a boolean"),
    ],
)  # fmt: skip
def test_invalid_flags_are_rejected_with_the_path_of_the_bad_field(
    flag: dict[str, Any], path: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        _snapshot({"f": flag, "other": _flag()})
    assert [issue.path for issue in raised.value.issues] == [path]
    assert reason in raised.value.issues[0].reason


def test_json_flags_hold_objects_of_any_json_values() -> None:
    snapshot = _snapshot({"f": {"type": "json", "default": {"limits": [1, 2], "on": None}}})
    assert snapshot.value("f", "u", {}) == {"limits": [1, 2], "on": None}


def test_strict_compilation_lists_every_broken_flag() -> None:
    with pytest.raises(ConfigError) as raised:
        _snapshot({"a": {"type": "boolean"}, "b": _flag(), "c": {"type": "string", "default": 1}})
    assert [issue.path for issue in raised.value.issues] == [
        "$.flags.a.default",
        "$.flags.c.default",
    ]


def test_lenient_compilation_keeps_serving_the_valid_flags() -> None:
    snapshot = compile_config(
        {"flags": {"broken": {"type": "boolean", "default": "no"}, "fine": _flag(default=True)}},
        strict=False,
    )
    broken = snapshot.evaluate("broken", _ctx(), default="d")
    assert (broken.value, broken.error_code) == ("d", ErrorCode.PARSE_ERROR)
    assert snapshot.value("fine", "u", {}) is True
    assert [issue.path for issue in snapshot.problems] == ["$.flags.broken.default"]
    typed = snapshot.evaluate("broken", _ctx(), expected_type=FlagType.STRING)
    assert typed.error_code is ErrorCode.PARSE_ERROR


def test_snapshots_cannot_be_modified() -> None:
    snapshot = _snapshot({"f": _flag()})
    with pytest.raises(AttributeError, match="immutable"):
        snapshot._flags = {}  # type: ignore[misc]
    with pytest.raises(TypeError):
        snapshot.flags["g"] = snapshot.flags["f"]  # type: ignore[index]
