"""Issue 12, finding 8: a condition's size, depth and segment references are bounded,
and so are a flag's rules; each refusal names where and says which limit."""

from __future__ import annotations

from typing import Any

import pytest

from verdict.engine import ConditionError, ConfigError, compile_condition, compile_config
from verdict.engine.limits import (
    MAX_CONDITION_DEPTH,
    MAX_CONDITION_NODES,
    MAX_EXPANDED_NODES,
    MAX_RULES_PER_FLAG,
    MAX_SEGMENT_REFERENCES,
    measure_condition,
)


def _or_of(terms: int) -> dict[str, Any]:
    return {"$or": [{"a": index} for index in range(terms)]}


def _nested_not(levels: int) -> dict[str, Any]:
    condition: dict[str, Any] = {"a": 1}
    for _ in range(levels - 1):
        condition = {"$not": condition}
    return condition


def test_an_or_of_100000_terms_is_refused_at_the_root_of_the_condition() -> None:
    with pytest.raises(ConditionError) as raised:
        compile_condition(_or_of(100_000), path="$.flags.f.rules[0].condition")
    assert raised.value.path == "$.flags.f.rules[0].condition"
    assert f"more than {MAX_CONDITION_NODES} nodes" in raised.value.reason


def test_a_condition_of_exactly_the_node_limit_is_accepted_and_one_more_is_not() -> None:
    # The $or key is one node, each member {"a": i} one more.
    assert measure_condition(_or_of(MAX_CONDITION_NODES - 1), "$").nodes == MAX_CONDITION_NODES
    compile_condition(_or_of(MAX_CONDITION_NODES - 1))
    with pytest.raises(ConditionError, match="nodes"):
        compile_condition(_or_of(MAX_CONDITION_NODES))


def test_values_of_an_in_list_are_one_node_not_one_each() -> None:
    condition = {"user_id": {"$in": [f"user-{n}" for n in range(20_000)]}}
    assert measure_condition(condition, "$").nodes == 2
    assert compile_condition(condition)({"user_id": "user-19999"})


def test_operators_nested_under_not_all_and_elem_match_are_counted() -> None:
    condition = {
        "tags": {"$all": [{"$regex": "^a"}, "b"], "$elemMatch": {"$gt": 1, "$lt": 9}},
        "age": {"$not": {"$gte": 18}},
    }
    # tags, $all, 2 items, $regex, $elemMatch, $gt, $lt, age, $not, $gte
    assert measure_condition(condition, "$").nodes == 11


def test_nesting_deeper_than_the_limit_is_refused_at_the_level_that_exceeds_it() -> None:
    compile_condition(_nested_not(MAX_CONDITION_DEPTH))
    with pytest.raises(ConditionError) as raised:
        compile_condition(_nested_not(MAX_CONDITION_DEPTH + 1))
    assert raised.value.path == "$" + ".$not" * MAX_CONDITION_DEPTH
    assert f"deeper than {MAX_CONDITION_DEPTH} levels" in raised.value.reason


def test_a_thousand_nested_operators_are_refused_without_exhausting_the_stack() -> None:
    value: dict[str, Any] = {"$eq": 1}
    for _ in range(1_000):
        value = {"$not": value}
    with pytest.raises(ConditionError, match="deeper than"):
        compile_condition({"x": value})


def test_each_logical_level_and_operator_object_counts_one_level_of_depth() -> None:
    assert measure_condition({"x": 1}, "$").depth == 1
    assert measure_condition({"x": {"$gt": 1}}, "$").depth == 2
    assert measure_condition({"$or": [{"$and": [{"x": {"$in": [1]}}]}]}, "$").depth == 4


def test_more_distinct_segments_than_the_limit_are_refused() -> None:
    segments = {f"s{n}": {"n": n} for n in range(MAX_SEGMENT_REFERENCES + 1)}
    allowed = {"$or": [{"$inSegment": f"s{n}"} for n in range(MAX_SEGMENT_REFERENCES)]}
    compile_condition(allowed, segments)
    too_many = {"$or": [{"$inSegment": key} for key in segments]}
    with pytest.raises(ConditionError) as raised:
        compile_condition(too_many, segments)
    assert raised.value.path == "$"
    assert f"references {MAX_SEGMENT_REFERENCES + 1} segments" in raised.value.reason


def test_segments_that_each_include_the_next_twice_cannot_double_the_work_per_link() -> None:
    # Without the expanded limit, 30 links would be 2**30 evaluations of the last one.
    segments: dict[str, Any] = {"s30": {"plan": "pro"}}
    for n in range(29, -1, -1):
        segments[f"s{n}"] = {
            "$and": [{"$notInSegment": f"s{n + 1}"}, {"$notInSegment": f"s{n + 1}"}]
        }
    with pytest.raises(ConfigError) as raised:
        compile_condition({"$inSegment": "s0"}, segments)
    assert f"at most {MAX_EXPANDED_NODES} are allowed" in str(raised.value)


def test_a_segment_used_by_many_conditions_counts_once_for_each() -> None:
    segments = {"big": _or_of(MAX_CONDITION_NODES - 1)}
    for _ in range(3):
        compile_condition({"$inSegment": "big", "plan": "pro"}, segments)


def _flag_with_rules(count: int) -> dict[str, Any]:
    rule = {"type": "force", "condition": {"plan": "pro"}, "value": True}
    return {
        "flags": {"f": {"type": "boolean", "default": False, "rules": [rule] * count}},
    }


def test_a_flag_may_have_the_rule_limit_but_not_one_rule_more() -> None:
    compile_config(_flag_with_rules(MAX_RULES_PER_FLAG))
    with pytest.raises(ConfigError) as raised:
        compile_config(_flag_with_rules(MAX_RULES_PER_FLAG + 1))
    [issue] = raised.value.issues
    assert issue.path == "$.flags.f.rules"
    assert f"at most {MAX_RULES_PER_FLAG} are allowed" in issue.reason


def test_a_segment_over_the_node_limit_is_reported_at_its_own_path() -> None:
    with pytest.raises(ConfigError) as raised:
        compile_config({"segments": {"huge": _or_of(5_000)}})
    [issue] = raised.value.issues
    assert issue.path == "$.segments.huge"
    assert "nodes" in issue.reason
