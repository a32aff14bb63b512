"""Imported conditions meet the management API's save-time rules (no database): an
operand GrowthBook evaluates but that is almost surely a mistake (ordering a boolean,
``$in`` without an array, an unknown ``$type``, ...) leaves its rule, or the saved
group or segment holding it, out, listed under the flag with the engine's reason."""

from __future__ import annotations

from typing import Any

import pytest
from growthbook.core import evalCondition

from verdict.server.flags.imports.growthbook import plan_growthbook
from verdict.server.flags.imports.plan import ImportPlan, PlannedFlag
from verdict.server.flags.imports.unleash import plan_unleash

MISTAKES: list[tuple[dict[str, Any], str, str]] = [
    ({"plan": {"$gt": True}}, "plan.$gt", "needs a number or a string (only those are ordered)"),
    ({"tags": {"$in": "beta"}}, "tags.$in", "$in needs an array"),
    ({"os": {"$type": "undefined"}}, "os.$type", '{"$exists": false}'),
    ({"os": {"$type": "integer"}}, "os.$type", "$type needs one of"),
    ({"v": {"$vgte": None}}, "v.$vgte", "needs a version string"),
    ({"beta": {"$exists": 1}}, "beta.$exists", "$exists needs true or false"),
    ({"$country": "FR"}, "$country", "unknown condition operator $country"),
    ({"ua": {"$regex": "(a+)+"}}, "ua.$regex", "nested quantifier"),
]


def _flag(plan: ImportPlan, key: str) -> PlannedFlag:
    return next(flag for flag in plan.flags if flag.key == key)


def _rules(flag: PlannedFlag) -> list[dict[str, Any]]:
    return [planned.rule for planned in flag.states[None].rules]


@pytest.mark.parametrize(("condition", "field", "reason"), MISTAKES)
def test_growthbook_answers_these_conditions(
    condition: dict[str, Any], field: str, reason: str
) -> None:
    # The premise: GrowthBook's own evaluator takes them without an error, so only the
    # save-time rules keep them out.
    for attributes in ({}, {"plan": "pro", "tags": ["beta"], "os": "ios", "v": "1.2.3"}):
        assert evalCondition(attributes, condition) in (True, False)


@pytest.mark.parametrize(("condition", "field", "reason"), MISTAKES)
def test_a_growthbook_rule_with_a_mistaken_operand_is_listed_not_mapped(
    condition: dict[str, Any], field: str, reason: str
) -> None:
    rules = [{"id": "r1", "condition": condition, "force": True}, {"force": False}]
    plan = plan_growthbook({"features": {"f": {"defaultValue": False, "rules": rules}}}, "p.json")
    flag = _flag(plan, "f")
    assert _rules(flag) == [{"type": "force", "value": False}]
    notes = [note for note in flag.notes if note.startswith("rule 1 (r1) not mapped")]
    assert len(notes) == 1, flag.notes
    assert f"its condition: {field}: " in notes[0]
    assert reason in notes[0]


def test_a_mistake_inside_a_condition_group_leaves_out_the_group_and_its_rule() -> None:
    document = {
        "features": {
            "f": {
                "defaultValue": "a",
                "rules": [
                    {"id": "vip", "condition": {"$savedGroup": {"id": "g"}}, "force": "b"},
                    {"id": "fr", "condition": {"country": "FR"}, "force": "c"},
                ],
            }
        },
        "savedGroups": {"g": {"type": "condition", "condition": {"ltv": {"$gte": False}}}},
    }
    plan = plan_growthbook(document, "p.json")
    flag = _flag(plan, "f")
    assert _rules(flag) == [
        {"id": "fr", "type": "force", "value": "c", "condition": {"country": "FR"}}
    ]
    assert plan.segments == []
    (note,) = [note for note in flag.notes if "not mapped" in note]
    assert note.startswith("rule 1 (vip) not mapped: GrowthBook saved group g: ")
    assert "ltv.$gte: " in note
    assert "only those are ordered" in note


def test_conditions_that_meet_the_rules_still_map() -> None:
    conditions = [
        {"plan": {"$gt": "free"}},
        {"tags": {"$in": ["beta"]}},
        {"os": {"$type": "string"}},
        {"beta": {"$exists": True}},
        {"ua": {"$regex": "^Mozilla/5\\.0"}},
        {"v": {"$vgte": "1.2.0"}},
    ]
    rules = [{"condition": condition, "force": True} for condition in conditions]
    plan = plan_growthbook({"features": {"f": {"defaultValue": False, "rules": rules}}}, "p.json")
    flag = _flag(plan, "f")
    assert [rule["condition"] for rule in _rules(flag)] == conditions
    assert not [note for note in flag.notes if "not mapped" in note]


def test_an_unleash_regex_the_api_refuses_leaves_its_strategy_out() -> None:
    constraint = {"contextName": "ua", "operator": "REGEX", "value": "(a+)+$"}
    toggle = {
        "name": "t",
        "enabled": True,
        "strategies": [{"name": "default", "constraints": [constraint]}, {"name": "default"}],
    }
    flag = _flag(plan_unleash({"version": 2, "features": [toggle]}, "c.json"), "t")
    assert _rules(flag) == [{"type": "force", "value": True}]
    (note,) = [note for note in flag.notes if "not mapped" in note]
    assert note.startswith("strategy 1 (default) not mapped: its condition: ua.$regex: ")
    assert "nested quantifier" in note


def test_an_unleash_segment_the_api_refuses_leaves_out_the_strategies_using_it() -> None:
    segment = {
        "id": 3,
        "name": "slow",
        "constraints": [{"contextName": "ua", "operator": "REGEX", "value": "(x+)*y"}],
    }
    toggle = {
        "name": "t",
        "enabled": True,
        "strategies": [{"name": "default", "segments": [3]}, {"name": "default"}],
    }
    plan = plan_unleash({"version": 2, "features": [toggle], "segments": [segment]}, "c.json")
    flag = _flag(plan, "t")
    assert plan.segments == []
    assert _rules(flag) == [{"type": "force", "value": True}]
    (note,) = [note for note in flag.notes if "not mapped" in note]
    assert "segment 'slow': ua.$regex: " in note
    assert "nested quantifier" in note
