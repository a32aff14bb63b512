"""The shared condition cases in tests/fixtures/conditions.json.

Expectations in the file were written by hand from GrowthBook's documented condition
semantics (and from the disagreements the differential test found); here they are
checked against Verdict's engine and against GrowthBook's Python SDK itself (every
case not marked ``verdict_only``), so the file stays a trustworthy reference for other
SDKs. ``invalid`` conditions are refused when saved; those marked ``saving_only`` are
answered by GrowthBook, so the engine must still compile them when they were stored.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from growthbook.core import evalCondition

from verdict.engine import ConditionError, compile_condition, evaluate_condition

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "conditions.json"
DOCUMENT = json.loads(FIXTURE.read_text(encoding="utf-8"))
CASES: list[dict[str, Any]] = DOCUMENT["cases"]
INVALID: list[dict[str, Any]] = DOCUMENT["invalid"]
OPERATORS = [
    "$eq", "$ne", "$lt", "$lte", "$gt", "$gte", "$in", "$nin", "$ini", "$nini", "$regex",
    "$regexi", "$notRegex", "$notRegexi", "$exists", "$type", "$size", "$all", "$alli",
    "$elemMatch", "$not", "$veq", "$vne", "$vgt", "$vgte", "$vlt", "$vlte", "$inGroup",
    "$notInGroup", "$savedGroup", "$and", "$or", "$nor", "$inSegment", "$notInSegment",
]  # fmt: skip


def _names(case: dict[str, Any]) -> str:
    return str(case["name"])


def test_the_fixture_covers_every_operator_with_both_outcomes() -> None:
    text_by_outcome = {
        outcome: json.dumps([c["condition"] for c in CASES if c["expected"] is outcome])
        for outcome in (True, False)
    }
    for operator in OPERATORS:
        assert f'"{operator}"' in text_by_outcome[True], operator
        assert f'"{operator}"' in text_by_outcome[False], operator


def test_case_names_are_unique() -> None:
    names = [c["name"] for c in CASES + INVALID]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("case", CASES, ids=_names)
def test_engine_decides_every_fixture_case_as_expected(case: dict[str, Any]) -> None:
    result = evaluate_condition(case["condition"], case["attributes"], case.get("segments"))
    assert result is case["expected"]


@pytest.mark.parametrize("case", [c for c in CASES if not c.get("verdict_only")], ids=_names)
def test_growthbook_sdk_agrees_with_every_shared_fixture_case(case: dict[str, Any]) -> None:
    assert evalCondition(case["attributes"], case["condition"]) is case["expected"]


@pytest.mark.parametrize("case", INVALID, ids=_names)
def test_invalid_conditions_are_refused_when_saved_with_the_path_of_the_bad_part(
    case: dict[str, Any],
) -> None:
    with pytest.raises(ConditionError) as raised:
        compile_condition(case["condition"], case.get("segments"), refuse_mistakes=True)
    assert raised.value.path == case["path"]
    assert case["reason_contains"] in raised.value.reason


@pytest.mark.parametrize("case", INVALID, ids=_names)
def test_only_conditions_growthbook_cannot_answer_are_refused_when_evaluated(
    case: dict[str, Any],
) -> None:
    if case.get("saving_only"):
        compiled = compile_condition(case["condition"], case.get("segments"))
        for attributes in ({}, {"x": 1}, {"x": ["a"]}):
            assert compiled(attributes) is evalCondition(attributes, case["condition"])
    else:
        with pytest.raises(ConditionError) as raised:
            compile_condition(case["condition"], case.get("segments"))
        assert raised.value.path == case["path"]
