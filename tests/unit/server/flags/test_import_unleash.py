"""Mapping Unleash exports to Verdict flags (no database): strategies, constraints,
segments, variants and dependencies, and what is listed as not mapped."""

from __future__ import annotations

import json
from typing import Any

import pytest
from yggdrasil_engine.engine import UnleashEngine

from tests.unleash_exports import unleash_client_features, unleash_export, unleash_state_export
from verdict.engine import FlagType, evaluate_condition
from verdict.server.flags.imports.plan import ImportPlan, PlannedFlag
from verdict.server.flags.imports.reading import SourceError
from verdict.server.flags.imports.unleash import plan_unleash
from verdict.server.flags.imports.unleash_constraints import (
    SEMVER_PATTERN,
    constraint_condition,
    escaped,
)
from verdict.server.flags.imports.unleash_source import Constraint


def _flag(plan: ImportPlan, key: str) -> PlannedFlag:
    return next(flag for flag in plan.flags if flag.key == key)


def _rules(flag: PlannedFlag, environment: str | None = None) -> list[dict[str, Any]]:
    return [planned.rule for planned in flag.states[environment].rules]


def _client(*features: dict[str, Any], segments: list[Any] | None = None) -> ImportPlan:
    document = {"version": 2, "features": list(features), "segments": segments or []}
    return plan_unleash(document, "client.json")


def _toggle(*strategies: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"name": "t", "enabled": True, "strategies": list(strategies), **fields}


def _constraint(**fields: Any) -> Constraint:
    return Constraint.model_validate(fields)


def test_toggles_become_boolean_flags_with_one_rule_per_strategy() -> None:
    flag = _flag(plan_unleash(unleash_client_features(), "c.json"), "new-navigation")
    assert (flag.value_type, flag.default) == (FlagType.BOOLEAN, False)
    assert _rules(flag) == [
        {
            "type": "force",
            "value": True,
            "condition": {
                "country": {"$in": ["NO", "SE"]},
                "email": {"$regexi": "(?:@example\\.com|@example\\.org)$"},
            },
        },
        {"type": "force", "value": True, "condition": {"userId": {"$in": ["user-7", "user-9"]}}},
        {
            "type": "rollout",
            "percentage": 40.0,
            "value": True,
            "condition": {"appVersion": {"$vgt": "2.3.0", "$regex": SEMVER_PATTERN}},
            "seed": "nav",
        },
    ]
    assert any("40 % rollout reaches a different 40 % of users" in note for note in flag.notes)


def test_an_enabled_toggle_without_strategies_is_on_for_everyone() -> None:
    flag = _flag(plan_unleash(unleash_client_features(), "c.json"), "everyone-on")
    assert _rules(flag) == [{"type": "force", "value": True}]


def test_a_disabled_toggle_keeps_its_rules_and_is_off() -> None:
    state = _flag(plan_unleash(unleash_client_features(), "c.json"), "kill-switch-search").states
    assert not state[None].enabled
    assert [rule.rule for rule in state[None].rules] == [{"type": "force", "value": True}]


@pytest.mark.parametrize(
    ("rollout", "expected"),
    [
        ("100", [{"type": "force", "value": True}]),
        ("0", []),
        ("12.5", [{"type": "rollout", "percentage": 12.5, "value": True, "seed": "g"}]),
    ],
)
def test_rollout_edges(rollout: str, expected: list[dict[str, Any]]) -> None:
    strategy = {"name": "flexibleRollout", "parameters": {"rollout": rollout, "groupId": "g"}}
    assert _rules(_flag(_client(_toggle(strategy)), "t")) == expected


def test_gradual_rollout_user_id_is_a_rollout_on_the_targeting_key() -> None:
    strategy = {"name": "gradualRolloutUserId", "parameters": {"percentage": 30, "groupId": "x"}}
    assert _rules(_flag(_client(_toggle(strategy)), "t")) == [
        {"type": "rollout", "percentage": 30.0, "value": True, "seed": "x"}
    ]


@pytest.mark.parametrize(
    ("strategy", "reason"),
    [
        ({"name": "flexibleRollout", "parameters": {"rollout": "50", "stickiness": "random"}},
         "sticks to 'random'"),
        ({"name": "gradualRolloutSessionId", "parameters": {"percentage": 50}},
         "'gradualRolloutSessionId' has no Verdict equivalent"),
        ({"name": "my-custom", "parameters": {}}, "'my-custom' has no Verdict equivalent"),
        ({"name": "remoteAddress", "parameters": {"IPs": "10.0.0.0/8"}}, "address ranges"),
        ({"name": "default", "segments": [99]}, "segment 99 is not in the file"),
        ({"name": "default", "constraints": [{"contextName": "currentTime",
                                              "operator": "DATE_BEFORE", "value": "2030-01-01"}]},
         "compare no dates"),
        ({"name": "default", "constraints": [{"contextName": "ip", "operator": "IN_CIDR",
                                              "values": ["10.0.0.0/8"]}]},
         "operator IN_CIDR"),
        ({"name": "default", "constraints": [{"contextName": "a", "operator": "REGEX",
                                              "value": "(x)\\1"}]},
         "its condition"),
        ({"name": "flexibleRollout", "parameters": {"rollout": "lots"}}, "is not a number"),
    ],
)  # fmt: skip
def test_strategies_verdict_cannot_express_are_listed(
    strategy: dict[str, Any], reason: str
) -> None:
    flag = _flag(_client(_toggle(strategy, {"name": "default"})), "t")
    assert _rules(flag) == [{"type": "force", "value": True}]
    assert any(note.startswith("strategy 1") and reason in note for note in flag.notes), flag.notes


def test_application_hostname_needs_the_attribute_and_says_so() -> None:
    strategy = {"name": "applicationHostname", "parameters": {"hostNames": "Web-1, web-2"}}
    flag = _flag(_client(_toggle(strategy)), "t")
    assert _rules(flag)[0]["condition"] == {"hostname": {"$ini": ["web-1", "web-2"]}}
    assert any("attribute hostname" in note for note in flag.notes)


def _unleash_decides(constraint: dict[str, Any], value: Any) -> bool:
    """What Unleash's own engine (yggdrasil) decides for ``field`` = ``value``."""
    engine = UnleashEngine()
    strategy = {"name": "default", "parameters": {}, "constraints": [constraint]}
    feature = {"name": "t", "enabled": True, "strategies": [strategy], "variants": []}
    engine.take_state(json.dumps({"version": 2, "features": [feature]}))
    # Unleash context fields are text: numbers travel as their decimal form.
    properties = {} if value is None else {"field": str(value)}
    return bool(engine.check_enabled("t", {"userId": "u", "properties": properties}).is_enabled)


@pytest.mark.parametrize(
    ("constraint", "values"),
    [
        ({"operator": "IN", "values": ["a", "b"]}, ["b", "c", "B", None]),
        ({"operator": "IN", "values": ["a"], "caseInsensitive": True}, ["a", "A"]),
        ({"operator": "NOT_IN", "values": ["a"]}, [None, "a", "b"]),
        ({"operator": "STR_CONTAINS", "values": ["x.y"]}, ["1x.y2", "1xzy2", None]),
        ({"operator": "STR_STARTS_WITH", "values": ["ab", "c+"]}, ["c+d", "cd", "abc", "xab"]),
        (
            {"operator": "STR_ENDS_WITH", "values": ["Z"], "caseInsensitive": True},
            ["az", "aZ", "za"],
        ),
        ({"operator": "STR_ENDS_WITH", "values": ["Z"]}, ["az", "aZ"]),
        ({"operator": "STR_CONTAINS", "values": []}, ["a", None]),
        ({"operator": "NUM_EQ", "value": "12.0"}, [12, 12.5, 11]),
        ({"operator": "NUM_GT", "value": "12"}, [13, 12, -1]),
        ({"operator": "NUM_GTE", "value": "12"}, [12, 11.9, None]),
        ({"operator": "NUM_LT", "value": "1e2"}, [99, 100]),
        ({"operator": "NUM_LTE", "value": "-1"}, [-1, 0, -3.5]),
        ({"operator": "SEMVER_EQ", "value": "1.2.3"}, ["1.2.3", "1.2.4"]),
        ({"operator": "SEMVER_GT", "value": "1.2.3"}, ["1.10.0", "1.2.3-rc.1", "1.2.3", "2.0.0"]),
        ({"operator": "SEMVER_GT", "value": "1.2.3"}, ["1.3", "v1.3.0", "01.3.0", "x", "1.3.0+b7"]),
        ({"operator": "SEMVER_LT", "value": "2.0.0"}, ["2.0.0-beta.2", "2.0.0", "1.9.9", None]),
        ({"operator": "REGEX", "value": "^u-[0-9]+$"}, ["u-12", "u-x"]),
        ({"operator": "IN", "values": ["a"], "inverted": True}, [None, "a", "b"]),
        ({"operator": "NOT_IN", "values": ["a"], "inverted": True}, [None, "a", "b"]),
        ({"operator": "NUM_GT", "value": "5", "inverted": True}, [6, 5, None]),
        ({"operator": "STR_CONTAINS", "values": ["q"], "inverted": True}, ["aqa", "b", None]),
        ({"operator": "SEMVER_GT", "value": "1.0.0", "inverted": True}, ["1.0.1", "0.9.0", "2"]),
    ],
)
def test_each_operator_decides_as_unleash_does(
    constraint: dict[str, Any], values: list[Any]
) -> None:
    condition = constraint_condition(_constraint(contextName="field", **constraint))
    for value in values:
        attributes = {} if value is None else {"field": value}
        expected = _unleash_decides({"contextName": "field", **constraint}, value)
        assert evaluate_condition(condition, attributes) is expected, (constraint, value)


def test_string_operators_escape_the_values() -> None:
    assert (
        escaped("a.b*c(d)[e]{f}|g^h$i?j+k\\l")
        == "a\\.b\\*c\\(d\\)\\[e\\]\\{f\\}\\|g\\^h\\$i\\?j\\+k\\\\l"
    )


def test_segments_with_constraints_become_segments() -> None:
    plan = plan_unleash(unleash_client_features(), "c.json")
    assert [(segment.key, segment.conditions) for segment in plan.segments] == [
        ("Paying-Europeans", {"region": {"$in": ["eu-west", "eu-north"]}})
    ]
    rule = _rules(_flag(plan, "premium-export"))[0]
    assert rule["condition"]["$inSegment"] == "Paying-Europeans"


def test_a_segment_the_export_only_names_must_exist_in_verdict() -> None:
    plan = plan_unleash(unleash_export(), "export.json")
    assert plan.segments == []
    planned = _flag(plan, "fast-checkout").states["production"].rules[0]
    assert planned.rule == {
        "type": "force",
        "value": True,
        "condition": {"$inSegment": "shop-beta"},
    }
    assert planned.segments == frozenset({"shop-beta"})


def test_string_payload_variants_make_a_string_flag_with_split_and_overrides() -> None:
    flag = _flag(plan_unleash(unleash_client_features(), "c.json"), "checkout-theme")
    assert (flag.value_type, flag.default) == (FlagType.STRING, "")
    assert flag.variants == [
        {"key": "light", "value": "#ffffff"},
        {"key": "dark", "value": "#000000"},
    ]
    assert _rules(flag) == [
        {"type": "force", "variant": "light", "condition": {"userId": {"$in": ["user-3"]}}},
        {
            "type": "split",
            "weights": [{"variant": "light", "weight": 0.5}, {"variant": "dark", "weight": 0.5}],
        },
    ]


def test_json_payload_variants_make_a_json_flag() -> None:
    flag = _flag(plan_unleash(unleash_state_export(), "s.json"), "promo-popup")
    assert flag.value_type is FlagType.JSON
    assert flag.default == {}
    assert flag.variants[1] == {"key": "free-shipping", "value": {"discount": 0, "shipping": 0}}
    split = _rules(flag, "production")[0]
    assert split["weights"] == [
        {"variant": "ten-percent", "weight": 0.7},
        {"variant": "free-shipping", "weight": 0.3},
    ]


def test_variants_without_payloads_are_served_by_name() -> None:
    variants = [{"name": "a", "weight": 1}, {"name": "b", "weight": 3}]
    rollout = {"name": "flexibleRollout", "parameters": {"rollout": "50", "groupId": "g"}}
    flag = _flag(_client(_toggle(rollout, variants=variants)), "t")
    assert (flag.value_type, flag.default) == (FlagType.STRING, "disabled")
    assert flag.variants == [{"key": "a", "value": "a"}, {"key": "b", "value": "b"}]
    assert _rules(flag) == [
        {
            "type": "split",
            "weights": [{"variant": "a", "weight": 0.25}, {"variant": "b", "weight": 0.75}],
            "coverage": 0.5,
            "seed": "g",
        }
    ]


def test_strategy_variants_win_over_the_toggles() -> None:
    strategy = {
        "name": "default",
        "variants": [{"name": "s", "weight": 1000, "stickiness": "default",
                      "payload": {"type": "string", "value": "S"}}],
    }  # fmt: skip
    toggle_variants = [
        {"name": "t", "weight": 1000, "payload": {"type": "string", "value": "T"},
         "overrides": [{"contextName": "userId", "values": ["u"]}]}
    ]  # fmt: skip
    flag = _flag(_client(_toggle(strategy, {"name": "default"}, variants=toggle_variants)), "t")
    rules = _rules(flag)
    assert rules[0] == {"type": "split", "weights": [{"variant": "s", "weight": 1.0}]}
    assert rules[1]["variant"] == "t"  # the toggle's override, for the second strategy
    assert rules[2] == {"type": "split", "weights": [{"variant": "t", "weight": 1.0}]}


def test_dependencies_become_prerequisites() -> None:
    plan = plan_unleash(unleash_client_features(), "c.json")
    assert _flag(plan, "new-navigation-tooltip").prerequisites == [
        {"flag": "new-navigation", "value": True}
    ]
    keys = [flag.key for flag in plan.flags]
    assert keys.index("new-navigation") < keys.index("new-navigation-tooltip")


def test_a_dependency_on_a_variant_maps_to_its_value() -> None:
    parent = _toggle(
        {"name": "default"},
        variants=[{"name": "x", "weight": 1, "payload": {"type": "string", "value": "X"}}],
    )
    child = {**_toggle({"name": "default"}), "name": "child",
             "dependencies": [{"feature": "t", "variants": ["x"]}]}  # fmt: skip
    other = {**_toggle({"name": "default"}), "name": "other",
             "dependencies": [{"feature": "t", "enabled": True}]}  # fmt: skip
    plan = _client(parent, child, other)
    assert _flag(plan, "child").prerequisites == [{"flag": "t", "value": "X"}]
    assert _flag(plan, "other").prerequisites == []
    assert any("not one value" in note for note in _flag(plan, "other").notes)


def test_state_export_maps_every_environment() -> None:
    plan = plan_unleash(unleash_state_export(), "state.json")
    assert plan.environments == ["development", "production"]
    flag = _flag(plan, "search-v2")
    assert _rules(flag, "production") == [
        {"type": "force", "value": True, "condition": {"$inSegment": "beta"}},
        {"type": "rollout", "percentage": 25.0, "value": True, "seed": "search-v2"},
    ]
    assert _rules(flag, "development") == [{"type": "force", "value": True}]
    assert flag.tags == ["simple:search"]
    assert any("impressionData not mapped" in note for note in flag.notes)


def test_disabled_strategies_are_left_out_as_unleash_leaves_them_out() -> None:
    plan = plan_unleash(unleash_export(), "export.json")
    assert plan.environments == ["production"]
    assert len(_rules(_flag(plan, "fast-checkout"), "production")) == 2


def test_state_export_version_2_calls_the_global_environment_default() -> None:
    document = {
        "version": 2,
        "features": [{"name": "f", "variants": []}],
        "featureStrategies": [
            {"id": "1", "featureName": "f", "environment": ":global:", "strategyName": "default"}
        ],
        "featureEnvironments": [{"featureName": "f", "environment": ":global:", "enabled": True}],
    }
    plan = plan_unleash(document, "old.json")
    assert plan.environments == ["default"]
    assert _rules(_flag(plan, "f"), "default") == [{"type": "force", "value": True}]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"features": {}}, "features: expected a JSON object with a features array"),
        ({"features": []}, "expected an Unleash export"),
        ({"features": [{"strategies": []}]}, "features.0.name: Field required"),
        (
            {"features": [{"name": "f"}], "featureStrategies": [], "featureEnvironments": [
                {"featureName": "f", "environment": "a"},
                {"featureName": "f", "environment": "b"}]},
            "an Unleash export holds one",
        ),
        (
            {"version": 4, "features": [{"name": "f"}], "featureStrategies": [
                {"featureName": "f", "constraints": [{"operator": "IN"}]}]},
            "featureStrategies.0.constraints.0.contextName: Field required",
        ),
    ],
)  # fmt: skip
def test_bad_documents_name_the_field(document: Any, message: str) -> None:
    with pytest.raises(SourceError, match=r"^bad\.json: ") as raised:
        plan_unleash(document, "bad.json")
    assert message in str(raised.value)
