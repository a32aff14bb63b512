"""Condition compilation: specialised closures, regex guards, segments, error paths,
and agreement with GrowthBook's SDK on generated conditions."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from verdict.engine import ConditionError, compile_condition, evaluate_condition
from verdict.engine.conditions import SegmentTable, get_path
from verdict.engine.regex_guard import MAX_INPUT_LENGTH, MAX_PATTERN_LENGTH, regex_problem

# ---------------------------------------------------------------- strategies
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=3),
    st.sampled_from([0.0, 1.0, 1.5, -2.5]),
    st.text(alphabet="abAB😀\uffff", max_size=3),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["x", "y", "0"]), inner, max_size=2),
    ),
    max_leaves=6,
)
orderables = st.one_of(st.integers(-3, 3), st.text(alphabet="abAB😀", max_size=3))
versions = st.sampled_from(["1.2.3", "v1.2.3", "1.10.0", "1.0.0-rc.1", "1.0.0-rc.10", "2", "1.2"])
version_attributes = st.one_of(versions, st.integers(0, 3), st.none())


def _value_conditions() -> st.SearchStrategy[Any]:
    leaf = st.one_of(
        scalars,
        st.builds(lambda v: {"$eq": v}, scalars),
        st.builds(lambda v: {"$ne": v}, scalars),
        st.builds(
            lambda op, v: {op: v}, st.sampled_from(["$lt", "$lte", "$gt", "$gte"]), orderables
        ),
        st.builds(lambda vs: {"$in": vs}, st.lists(scalars, max_size=4)),
        st.builds(lambda vs: {"$nin": vs}, st.lists(scalars, max_size=4)),
        st.builds(lambda b: {"$exists": b}, st.booleans()),
        st.builds(
            lambda t: {"$type": t},
            st.sampled_from(["null", "boolean", "number", "string", "array", "object"]),
        ),
        st.builds(lambda n: {"$size": n}, st.integers(0, 3)),
        st.builds(lambda vs: {"$all": vs}, st.lists(scalars, max_size=2)),
        st.builds(
            lambda op, v: {op: v},
            st.sampled_from(["$veq", "$vne", "$vgt", "$vgte", "$vlt", "$vlte"]),
            versions,
        ),
        st.builds(lambda p: {"$regex": p}, st.sampled_from(["^a", "b$", "A", ".", "😀"])),
        st.builds(lambda v: {"$elemMatch": {"$gt": v}}, orderables),
    )
    return st.recursive(leaf, lambda inner: st.builds(lambda c: {"$not": c}, inner), max_leaves=3)


value_conditions = _value_conditions()
attribute_keys = st.sampled_from(["a", "b", "obj.x", "list.0", "list.length"])


def _documents() -> st.SearchStrategy[Any]:
    fields = st.dictionaries(attribute_keys, value_conditions, max_size=3)
    return st.recursive(
        fields,
        lambda inner: st.one_of(
            st.builds(lambda cs: {"$or": cs}, st.lists(inner, max_size=3)),
            st.builds(lambda cs: {"$and": cs}, st.lists(inner, max_size=3)),
            st.builds(lambda cs: {"$nor": cs}, st.lists(inner, max_size=3)),
            st.builds(lambda c: {"$not": c}, inner),
        ),
        max_leaves=4,
    )


attribute_documents = st.fixed_dictionaries(
    {},
    optional={
        "a": st.one_of(json_values, version_attributes),
        "b": json_values,
        "obj": st.one_of(json_values, st.fixed_dictionaries({"x": json_values})),
        "list": st.lists(json_values, max_size=3),
    },
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(condition=_documents(), attributes=attribute_documents)
def test_generated_conditions_decide_like_growthbooks_sdk(
    condition: dict[str, Any], attributes: dict[str, Any]
) -> None:
    growthbook_core = pytest.importorskip("growthbook.core")
    expected = growthbook_core.evalCondition(attributes, condition)
    assert evaluate_condition(condition, attributes) is expected


@settings(max_examples=300)
@given(
    condition=st.one_of(
        st.text(alphabet="ab", max_size=2),
        st.booleans(),
        st.builds(lambda v: {"$eq": v}, st.text(alphabet="ab", max_size=2)),
        st.builds(lambda v: {"$ne": v}, st.text(alphabet="ab", max_size=2)),
        st.builds(lambda vs: {"$in": vs}, st.lists(st.text(alphabet="ab", max_size=2))),
        st.builds(lambda vs: {"$nin": vs}, st.lists(st.text(alphabet="ab", max_size=2))),
    ),
    value=json_values,
)
def test_specialised_top_level_closures_agree_with_the_generic_path(
    condition: Any, value: Any
) -> None:
    fast = compile_condition({"x": condition})
    generic = compile_condition({"wrap.x": condition})
    assert fast({"x": value}) is generic({"wrap": {"x": value}})
    assert fast({}) is generic({"wrap": {}})


def test_compile_returns_a_reusable_closure() -> None:
    is_pro_in_north_america = compile_condition({"country": {"$in": ["US", "CA"]}, "plan": "pro"})
    assert is_pro_in_north_america({"country": "CA", "plan": "pro"}) is True
    assert is_pro_in_north_america({"country": ["GB", "US"], "plan": "pro"}) is True
    assert is_pro_in_north_america({"country": {"US": 1}, "plan": "pro"}) is False
    assert is_pro_in_north_america({"country": "GB", "plan": "pro"}) is False


def test_compiled_conditions_accept_any_mapping_of_attributes() -> None:
    from types import MappingProxyType

    condition = compile_condition({"plan": "pro", "org.size": {"$gt": 10}})
    assert condition(MappingProxyType({"plan": "pro", "org": MappingProxyType({"size": 11})}))


def test_get_path_reads_objects_arrays_and_lengths() -> None:
    document = {"user": {"tags": ["a", "b"], "address": {"city": "Oslo"}}}
    assert get_path(document, "user.address.city") == "Oslo"
    assert get_path(document, "user.tags.1") == "b"
    assert get_path(document, "user.tags.length") == 2
    assert get_path(document, "user.tags.2") is None
    assert get_path(document, "user.missing.city") is None


# ---------------------------------------------------------------- regexes
@pytest.mark.parametrize(
    "pattern", ["(a+)+", "(a*)*b", "(?:a{2,})+", "((ab)+c)*", "(x+y?)+", "(\\d+\\.)+\\d"]
)
def test_nested_quantifiers_are_refused_when_saved_and_run_in_linear_time_if_stored(
    pattern: str,
) -> None:
    assert regex_problem(pattern) is not None
    with pytest.raises(ConditionError, match="nested quantifier"):
        compile_condition({"x": {"$regex": pattern}}, refuse_mistakes=True)
    stored = compile_condition({"x": {"$regex": pattern}})
    for text in ("", "aab", "x" * 40 + "!", "12.34.5"):
        assert stored({"x": text}) is (re.search(pattern, text) is not None)


@pytest.mark.parametrize(
    "pattern",
    ["(a|b)+", "^[a-z]+@acme\\.com$", "(ab)?c+", "\\(a+\\)+", "[(a+)]+", "(a{1})+", "x{2}"],
)
def test_safe_patterns_are_accepted(pattern: str) -> None:
    assert regex_problem(pattern) is None
    compile_condition({"x": {"$regex": pattern}})


def test_patterns_longer_than_the_limit_are_rejected() -> None:
    with pytest.raises(ConditionError, match="longer than") as raised:
        compile_condition({"x": {"$regex": "a" * (MAX_PATTERN_LENGTH + 1)}})
    assert raised.value.path == "$.x.$regex"


def test_input_longer_than_the_limit_never_matches() -> None:
    condition = compile_condition({"ua": {"$regex": "bot"}})
    assert condition({"ua": "x" * (MAX_INPUT_LENGTH - 3) + "bot"}) is True
    assert condition({"ua": "x" * MAX_INPUT_LENGTH + "bot"}) is False


def test_a_regex_is_compiled_once_when_the_condition_compiles(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import re2  # type: ignore[import-untyped]

    re2.purge()  # the binding caches compiled patterns: start from nothing
    calls = []
    real_compile = re2.compile
    monkeypatch.setattr(re2, "compile", lambda *a, **k: calls.append(a) or real_compile(*a, **k))
    condition = compile_condition({"email": {"$regex": "@acme\\.com$"}})
    compiled_calls = len(calls)
    for _ in range(5):
        condition({"email": "a@acme.com"})
    assert compiled_calls >= 1
    assert len(calls) == compiled_calls


# ---------------------------------------------------------------- segments and errors
def test_segments_compile_once_and_are_shared() -> None:
    table = SegmentTable({"beta": {"beta": True}})
    first = compile_condition({"$inSegment": "beta"}, table)
    second = compile_condition({"$inSegment": "beta", "plan": "pro"}, table)
    assert first({"beta": True})
    assert not first({})
    assert second({"beta": True, "plan": "pro"})


def test_segment_cycles_are_rejected_with_the_cycle_spelled_out() -> None:
    segments = {
        "a": {"$inSegment": "b"},
        "b": {"$or": [{"$inSegment": "c"}]},
        "c": {"$inSegment": "a"},
    }
    with pytest.raises(ConditionError, match=r"segment cycle: a -> b -> c -> a"):
        compile_condition({"$inSegment": "a"}, segments)


def test_condition_errors_report_paths_below_the_given_root() -> None:
    with pytest.raises(ConditionError) as raised:
        compile_condition(
            {"$or": [{"plan": "pro"}, {"age": {"$gte": "x", "$in": 3}}]},
            path="$.flags.checkout.rules[0].condition",
            refuse_mistakes=True,
        )
    assert raised.value.path == "$.flags.checkout.rules[0].condition.$or[1].age.$in"
    reason = "$in needs an array"
    assert str(raised.value) == f"{raised.value.path}: {reason}"


def test_keys_with_unusual_characters_are_quoted_in_paths() -> None:
    with pytest.raises(ConditionError) as raised:
        compile_condition({"first name": {"$in": 1}}, refuse_mistakes=True)
    assert raised.value.path == '$["first name"].$in'


def test_non_finite_numbers_are_not_valid_condition_values() -> None:
    with pytest.raises(ConditionError, match="finite"):
        compile_condition({"x": {"$in": [float("nan")]}})


def test_evaluation_errors_on_non_json_attributes_fail_the_condition() -> None:
    class Unorderable:
        def __eq__(self, other: object) -> bool:
            raise TypeError("cannot compare")

        __hash__ = object.__hash__

    assert evaluate_condition({"x": "a"}, {"x": Unorderable()}) is False
