"""Mapping GrowthBook exports to Verdict flags (no database): what maps, and what is
listed as not mapped, rule by rule."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.growthbook_exports import growthbook_payload, growthbook_rest_export
from verdict.engine import FlagType
from verdict.server.flags.imports.growthbook import plan_growthbook
from verdict.server.flags.imports.plan import MAX_FLAGS, ImportPlan, PlannedFlag
from verdict.server.flags.imports.reading import SourceError


def _flag(plan: ImportPlan, key: str) -> PlannedFlag:
    return next(flag for flag in plan.flags if flag.key == key)


def _rules(flag: PlannedFlag, environment: str | None = None) -> list[dict[str, Any]]:
    return [planned.rule for planned in flag.states[environment].rules]


def _payload(features: dict[str, Any], **extra: Any) -> ImportPlan:
    return plan_growthbook({"features": features, **extra}, "payload.json")


def test_sdk_payload_types_come_from_the_values() -> None:
    plan = plan_growthbook(growthbook_payload(), "payload.json")
    types = {flag.key: flag.value_type for flag in plan.flags}
    assert types["new-checkout"] is FlagType.BOOLEAN
    assert types["button-color"] is FlagType.STRING
    assert types["max-cart-items"] is FlagType.NUMBER
    assert types["welcome-banner"] is FlagType.JSON
    assert plan.environments == [None]


def test_force_rules_keep_their_conditions_and_ids() -> None:
    flag = _flag(plan_growthbook(growthbook_payload(), "p.json"), "button-color")
    assert _rules(flag)[1] == {
        "id": "fr_mobile",
        "type": "force",
        "value": "green",
        "condition": {
            "$or": [{"device": "ios"}, {"device": "android", "app_version": {"$vgte": "5.2.0"}}]
        },
    }


def test_coverage_becomes_a_rollout_and_the_different_units_are_listed() -> None:
    flag = _flag(plan_growthbook(growthbook_payload(), "p.json"), "new-checkout")
    ramp = next(rule for rule in _rules(flag) if rule.get("id") == "fr_ramp")
    assert ramp == {
        "id": "fr_ramp",
        "type": "rollout",
        "value": True,
        "condition": {"plan": "pro"},
        "percentage": 30.0,
    }
    assert any("30 % rollout reaches a different 30 %" in note for note in flag.notes)


def test_a_gate_becomes_a_prerequisite() -> None:
    flag = _flag(plan_growthbook(growthbook_payload(), "p.json"), "new-checkout")
    assert flag.prerequisites == [{"flag": "checkout-v2-backend", "value": True}]


def test_prerequisites_are_written_before_the_flags_that_need_them() -> None:
    keys = [flag.key for flag in plan_growthbook(growthbook_payload(), "p.json").flags]
    assert keys.index("checkout-v2-backend") < keys.index("new-checkout")


def test_experiment_rules_are_listed_not_mapped() -> None:
    flag = _flag(plan_growthbook(growthbook_payload(), "p.json"), "new-checkout")
    assert all("variations" not in rule for rule in _rules(flag))
    assert any(
        "rule 5 (exp_copy) not mapped: experiment 'checkout-copy-test'" in note
        for note in flag.notes
    )


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        (
            {"force": True, "coverage": 0.5, "hashAttribute": "company"},
            "hashes attribute 'company'",
        ),
        ({"force": True, "range": [0.2, 0.6]}, "the slice [0.2, 0.6)"),
        ({"force": True, "filters": [{"seed": "ns", "ranges": [[0, 0.5]]}]}, "namespace"),
        (
            {"force": True, "parentConditions": [{"id": "other", "condition": {"value": True}}]},
            "a rule prerequisite",
        ),
        ({"force": True, "condition": {"email": {"$regex": "(a)\\1"}}}, "its condition"),
        ({"force": True, "condition": {"x": {"$unknownOp": 1}}}, "unknown operator"),
    ],
)
def test_rules_verdict_cannot_express_are_listed_with_the_reason(
    rule: dict[str, Any], reason: str
) -> None:
    plan = _payload({"f": {"defaultValue": False, "rules": [rule, {"force": True}]}})
    flag = _flag(plan, "f")
    assert _rules(flag) == [{"type": "force", "value": True}]
    assert any(note.startswith("rule 1 not mapped") and reason in note for note in flag.notes)


def test_contextual_bandits_are_experiments_too() -> None:
    rule = {"key": "cb", "contextualVariations": ["a", "b"], "contextualBanditRef": "cb1"}
    flag = _flag(_payload({"f": {"defaultValue": "a", "rules": [rule]}}), "f")
    assert _rules(flag) == []
    assert any("experiment 'cb' (2 variations)" in note for note in flag.notes)


def test_unknown_members_of_a_force_rule_are_listed_as_ignored() -> None:
    rule = {"force": True, "tracks": [], "hashVersion": 2, "futureSwitch": {"on": 1}}
    flag = _flag(_payload({"f": {"defaultValue": False, "rules": [rule]}}), "f")
    assert _rules(flag) == [{"type": "force", "value": True}]
    assert flag.notes == ["rule 1: futureSwitch ignored (not understood)"]


def test_a_range_from_zero_is_a_rollout() -> None:
    flag = _flag(_payload({"f": {"defaultValue": False, "rules": [
        {"force": True, "range": [0, 0.25], "seed": "s1"}]}}), "f")  # fmt: skip
    assert _rules(flag) == [{"type": "rollout", "value": True, "percentage": 25.0, "seed": "s1"}]


def test_coverage_is_rounded_to_verdicts_steps_and_says_so() -> None:
    flag = _flag(_payload({"f": {"defaultValue": False, "rules": [
        {"force": True, "coverage": 0.123456}]}}), "f")  # fmt: skip
    assert _rules(flag)[0]["percentage"] == 12.35
    assert any("(from 12.3456 %)" in note for note in flag.notes)


def test_zero_coverage_is_left_out_because_it_reaches_nobody() -> None:
    flag = _flag(_payload({"f": {"defaultValue": False, "rules": [
        {"force": True, "coverage": 0}]}}), "f")  # fmt: skip
    assert _rules(flag) == []
    assert any("reaches nobody" in note for note in flag.notes)


def test_saved_groups_become_segments() -> None:
    plan = plan_growthbook(growthbook_payload(), "p.json")
    segments = {segment.key: segment.conditions for segment in plan.segments}
    assert segments["grp_beta"] == {"id": {"$in": ["u-beta-1", "u-beta-2"]}}
    assert segments["grp_vip"] == {"lifetime_value": {"$gte": 1000}}
    europe = _rules(_flag(plan, "button-color"))[2]["condition"]
    assert europe == {"$notInSegment": "grp_internal", "country": {"$in": ["FR", "DE"]}}


def test_a_group_used_with_two_attributes_becomes_two_segments() -> None:
    plan = _payload(
        {"f": {"defaultValue": False, "rules": [
            {"condition": {"id": {"$inGroup": "g"}}, "force": True},
            {"condition": {"deviceId": {"$inGroup": "g"}}, "force": True},
        ]}},
        savedGroups={"g": ["a", "b"]},
    )  # fmt: skip
    assert {segment.key: segment.conditions for segment in plan.segments} == {
        "g.id": {"id": {"$in": ["a", "b"]}},
        "g.deviceId": {"deviceId": {"$in": ["a", "b"]}},
    }


def test_a_group_beside_other_operators_is_written_out_as_a_list() -> None:
    plan = _payload(
        {"f": {"defaultValue": False, "rules": [
            {"condition": {"id": {"$notInGroup": "g", "$ne": "x"}}, "force": True}]}},
        savedGroups={"g": ["a"]},
    )  # fmt: skip
    assert _rules(_flag(plan, "f"))[0]["condition"] == {"id": {"$nin": ["a"], "$ne": "x"}}
    assert plan.segments == []


def test_two_group_references_at_one_level_are_joined_with_and() -> None:
    plan = _payload(
        {"f": {"defaultValue": False, "rules": [{"condition": {
            "$savedGroup": {"id": "c"}, "id": {"$inGroup": "l"}}, "force": True}]}},
        savedGroups={"l": ["a"], "c": {"type": "condition", "condition": {"x": 1}}},
    )  # fmt: skip
    condition = _rules(_flag(plan, "f"))[0]["condition"]
    assert condition == {"$and": [{"$inSegment": "c"}, {"$inSegment": "l"}]}


def test_a_missing_saved_group_leaves_its_rule_out() -> None:
    plan = _payload({"f": {"defaultValue": False, "rules": [
        {"condition": {"id": {"$inGroup": "nowhere"}}, "force": True}]}})  # fmt: skip
    flag = _flag(plan, "f")
    assert _rules(flag) == []
    assert any("saved group 'nowhere' is not in the file" in note for note in flag.notes)


def test_flags_verdict_cannot_type_or_name_are_not_imported() -> None:
    plan = _payload(
        {
            "mixed": {"defaultValue": 1, "rules": [{"force": "one"}]},
            "array": {"defaultValue": [1, 2]},
            "9lives": {"defaultValue": True},
            "ok": {"defaultValue": True},
        }
    )
    reasons = {skipped.key: skipped.reason for skipped in plan.skipped}
    assert "no single type (number, string)" in reasons["mixed"]
    assert "arrays" in reasons["array"]
    assert "not a valid Verdict key" in reasons["9lives"]
    assert [flag.key for flag in plan.flags] == ["ok"]


def test_a_gate_with_a_condition_other_than_one_value_is_listed() -> None:
    plan = _payload(
        {
            "parent": {"defaultValue": "a"},
            "child": {"defaultValue": False, "rules": [
                {"parentConditions": [{"id": "parent", "gate": True,
                                       "condition": {"value": {"$in": ["a", "b"]}}}]},
                {"force": True},
            ]},
        }
    )  # fmt: skip
    child = _flag(plan, "child")
    assert child.prerequisites == []
    assert any("a Verdict prerequisite is one exact value" in note for note in child.notes)


def test_a_prerequisite_cycle_is_broken_with_a_note() -> None:
    def gated(parent: str) -> dict[str, Any]:
        return {"defaultValue": True, "rules": [{"parentConditions": [
            {"id": parent, "gate": True, "condition": {"value": True}}]}]}  # fmt: skip

    plan = _payload({"a": gated("b"), "b": gated("a")})
    notes = [note for flag in plan.flags for note in flag.notes]
    assert any("closes a cycle" in note for note in notes)
    assert sum(len(flag.prerequisites) for flag in plan.flags) == 1


def test_rest_export_maps_every_environment_from_its_definition() -> None:
    plan = plan_growthbook(growthbook_rest_export(), "features.json")
    assert plan.environments == ["production", "staging", "dev"]
    flag = _flag(plan, "dark-mode")
    assert flag.description == "Dark theme for the web app"
    assert flag.tags == ["ui", "theme"]
    assert _rules(flag, "production") == [
        {
            "id": "fr_beta",
            "type": "force",
            "value": True,
            "condition": {"$inSegment": "grp_testers"},
        },
        {"id": "fr_half", "type": "rollout", "value": True, "percentage": 50.0},
    ]
    assert flag.states["staging"].enabled
    assert not flag.states["dev"].enabled
    assert any(note.startswith("dev: off in GrowthBook") for note in flag.notes)
    segment = plan.segments[0]
    assert (segment.key, segment.name) == ("grp_testers", "Beta testers")


def test_rest_export_reads_values_as_growthbook_does() -> None:
    plan = plan_growthbook(growthbook_rest_export(), "features.json")
    numbers = _flag(plan, "search-results")
    assert (numbers.value_type, numbers.default) == (FlagType.NUMBER, 10)
    assert [skipped.key for skipped in plan.skipped] == ["old-header"]


def test_a_rule_value_of_another_type_is_listed() -> None:
    document = growthbook_rest_export()
    production = document["features"][1]["environments"]["production"]
    production["definition"] = json.dumps({"defaultValue": 10, "rules": [{"force": "many"}]})
    flag = _flag(plan_growthbook(document, "f.json"), "search-results")
    assert _rules(flag, "production") == []
    assert any("rule 1 not mapped: value 'many' is not a number" in note for note in flag.notes)


def test_rest_export_notes_a_default_an_environment_serves_differently() -> None:
    document = growthbook_rest_export()
    production = document["features"][1]["environments"]["production"]
    production["definition"] = json.dumps({"defaultValue": 12})
    flag = _flag(plan_growthbook(document, "f.json"), "search-results")
    assert any("GrowthBook serves the default 12 here" in note for note in flag.notes)


def test_prerequisites_that_differ_between_environments_are_listed() -> None:
    document = growthbook_rest_export()
    gate = {
        "parentConditions": [{"id": "search-results", "gate": True, "condition": {"value": 10}}]
    }
    staging = document["features"][0]["environments"]["staging"]
    staging["definition"] = json.dumps({"defaultValue": False, "rules": [gate]})
    flag = _flag(plan_growthbook(document, "f.json"), "dark-mode")
    assert flag.prerequisites == []
    assert any("prerequisites not mapped: they differ" in note for note in flag.notes)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "expected a JSON object"),
        ({"encryptedFeatures": "abc"}, "encryptedFeatures: the payload is encrypted"),
        ({"features": 3}, "features: expected an object"),
        ({"features": {"f": {"rules": "no"}}}, "features.f.rules: Input should be a valid list"),
        ({"features": {"f": {"rules": [{"coverage": "x"}]}}}, "features.f.rules.0.coverage"),
        ({"features": [{"id": "f"}]}, "features.0.valueType: Field required"),
        (
            {"features": [{"id": "f", "valueType": "boolean", "defaultValue": "true",
                           "environments": {"prod": {"enabled": True, "definition": "{"}}}]},
            "features.0.environments.prod.definition: is not valid JSON",
        ),
        ({"features": {"f": {}}, "savedGroups": {"g": 5}}, "savedGroups.g: expected"),
    ],
)  # fmt: skip
def test_bad_documents_name_the_field(document: Any, message: str) -> None:
    with pytest.raises(SourceError, match=r"^bad\.json: ") as raised:
        plan_growthbook(document, "bad.json")
    assert message in str(raised.value)


def test_too_many_features_are_refused_before_reading_them() -> None:
    features = {f"f{index}": {"defaultValue": True} for index in range(MAX_FLAGS + 1)}
    with pytest.raises(SourceError, match=f"at most {MAX_FLAGS} per import"):
        plan_growthbook({"features": features}, "big.json")
