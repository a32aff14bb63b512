"""Flag value types: integers stay integers, numbers are floats, json flags hold objects.

Whatever way a number was written in the configuration (``10`` or ``10.0``), a
``number`` flag serves a Python float and an ``integer`` flag a Python int, so an
OpenFeature caller resolving a float or an integer gets one. The references are
Python's own types and the JSON text the standard library writes for them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from verdict.engine import ConfigError, EvaluationContext, Reason, compile_config
from verdict.engine.validation import MAX_SAFE_INTEGER

WRITTEN_AS_INTEGERS = {"default": 10, "variants": [{"key": "low", "value": 2}]}
WRITTEN_AS_FLOATS = {"default": 10.0, "variants": [{"key": "low", "value": 2.0}]}


def _flag(flag_type: str, written: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "type": flag_type,
        **written,
        "rules": [
            {"id": "named", "type": "force", "condition": {"plan": "free"}, "variant": "low"},
            {"id": "raw", "type": "force", "condition": {"plan": "pro"}, "value": 7},
        ],
        "overrides": {"qa": {"value": 3.0}},
        **spec,
    }


def _served(flag: dict[str, Any]) -> list[Any]:
    snapshot = compile_config({"flags": {"f": flag}})
    contexts = [
        EvaluationContext("u", {}),
        EvaluationContext("u", {"plan": "free"}),
        EvaluationContext("u", {"plan": "pro"}),
        EvaluationContext("qa", {}),
    ]
    results = [snapshot.evaluate("f", context) for context in contexts]
    assert all(result.reason is not Reason.ERROR for result in results)
    return [result.value for result in results]


@pytest.mark.parametrize("written", [WRITTEN_AS_INTEGERS, WRITTEN_AS_FLOATS])
def test_number_flags_serve_floats_however_the_numbers_were_written(
    written: dict[str, Any],
) -> None:
    values = _served(_flag("number", written))
    assert [type(value) for value in values] == [float] * 4
    assert json.dumps(values) == "[10.0, 2.0, 7.0, 3.0]"


@pytest.mark.parametrize("written", [WRITTEN_AS_INTEGERS, WRITTEN_AS_FLOATS])
def test_integer_flags_serve_integers_however_the_numbers_were_written(
    written: dict[str, Any],
) -> None:
    values = _served(_flag("integer", written))
    assert [type(value) for value in values] == [int] * 4
    assert json.dumps(values) == "[10, 2, 7, 3]"


def test_a_served_number_still_names_the_variant_written_the_other_way() -> None:
    flag = {"type": "number", "default": 2, "variants": [{"key": "two", "value": 2.0}]}
    result = compile_config({"flags": {"f": flag}}).evaluate("f", EvaluationContext("u", {}))
    assert (result.value, result.variant) == (2.0, "two")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (2.5, "2.5 is not an integer value"),
        (True, "True is not an integer value"),
        ("3", "'3' is not an integer value"),
        (MAX_SAFE_INTEGER + 1, "outside the integers every SDK reads exactly"),
        (-(2**53), "outside the integers every SDK reads exactly"),
        (10**400, "is not an integer value"),
    ],
)
def test_integer_flags_refuse_what_is_not_a_whole_number_every_sdk_can_read(
    value: Any, reason: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        compile_config({"flags": {"f": {"type": "integer", "default": value}}})
    [issue] = raised.value.issues
    assert issue.path == "$.flags.f.default"
    assert reason in issue.reason


def test_the_largest_safe_integer_is_an_integer_value() -> None:
    flag = {"type": "integer", "default": -MAX_SAFE_INTEGER, "variants": []}
    snapshot = compile_config({"flags": {"f": flag}})
    assert snapshot.value("f", "u", {}) == -(2**53 - 1)


def test_a_number_too_large_for_a_float_is_refused_not_crashed_on() -> None:
    with pytest.raises(ConfigError) as raised:
        compile_config({"flags": {"f": {"type": "number", "default": 10**400}}})
    assert "is not a number value" in raised.value.issues[0].reason


NOT_OBJECTS = [[1, 2], "text", 3, True, None]


@pytest.mark.parametrize("value", NOT_OBJECTS)
@pytest.mark.parametrize(
    ("where", "path"),
    [
        ({"default": "VALUE"}, "$.flags.f.default"),
        ({"variants": [{"key": "v", "value": "VALUE"}]}, "$.flags.f.variants[0].value"),
        ({"rules": [{"type": "force", "value": "VALUE"}]}, "$.flags.f.rules[0].value"),
        ({"overrides": {"u": {"value": "VALUE"}}}, "$.flags.f.overrides.u.value"),
    ],
)
def test_json_flags_refuse_values_that_are_not_objects_wherever_they_are_written(
    value: Any, where: dict[str, Any], path: str
) -> None:
    flag: dict[str, Any] = {"type": "json", "default": {"fine": True}}
    for name, spec in where.items():
        flag[name] = _replace(spec, value)
    with pytest.raises(ConfigError) as raised:
        compile_config({"flags": {"f": flag}})
    [issue] = raised.value.issues
    assert issue.path == path
    assert "is not a JSON object: json flags hold objects" in issue.reason


def test_a_prerequisite_on_a_json_flag_expects_an_object() -> None:
    flags = {
        "doc": {"type": "json", "default": {"a": 1}},
        "f": {
            "type": "boolean",
            "default": False,
            "prerequisites": [{"flag": "doc", "value": [1]}],
        },
    }
    with pytest.raises(ConfigError) as raised:
        compile_config({"flags": flags})
    assert [issue.path for issue in raised.value.issues] == ["$.flags.f.prerequisites[0].value"]
    flags["f"]["prerequisites"] = [{"flag": "doc", "value": {"a": 1}}]
    assert compile_config({"flags": flags}).value("f", "u", {}) is False


def _replace(spec: Any, value: Any) -> Any:
    if spec == "VALUE":
        return value
    if isinstance(spec, dict):
        return {key: _replace(item, value) for key, item in spec.items()}
    if isinstance(spec, list):
        return [_replace(item, value) for item in spec]
    return spec
