"""What each condition operator decides about one attribute value, compiled to closures.

A *value condition* is what sits under an attribute key in a condition: a literal
(implicit equality) or an operator object such as ``{"$gte": 18, "$lt": 65}``. It is
validated and turned into a predicate over the attribute value once; evaluation then
calls the predicate. Semantics are GrowthBook's (see :mod:`verdict.engine.jsonvalues`
for equality and ordering); every invalid operand raises :class:`ConditionError`
with the JSON path of the bad part.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

from verdict.engine.errors import ConditionError, child_path, index_path
from verdict.engine.jsonvalues import (
    JSON_TYPES,
    MembershipSet,
    deep_equal,
    invalid_json_reason,
    is_number,
    json_type,
    utf16_compare,
)
from verdict.engine.regex_guard import compile_guarded_regex
from verdict.engine.semver import padded_version_string

__all__ = [
    "CONDITION_LEVEL_KEYS",
    "DocumentCompiler",
    "ValuePredicate",
    "all_of",
    "always",
    "compile_value_condition",
    "is_operator_object",
    "never",
]

ValuePredicate = Callable[[Any], bool]
DocumentCompiler = Callable[[Any, str], ValuePredicate]
"""Compiles a whole condition (for ``$elemMatch`` over objects) at a JSON path."""

CONDITION_LEVEL_KEYS = frozenset({"$and", "$or", "$nor", "$inSegment", "$notInSegment"})
"""Keys that combine conditions rather than test a value (``$not`` is both)."""

_UNSUPPORTED = {
    "$inGroup": "GrowthBook saved groups are not supported; use $inSegment",
    "$notInGroup": "GrowthBook saved groups are not supported; use $notInSegment",
    "$savedGroup": "GrowthBook saved groups are not supported; use $inSegment",
}

_ORDER = {"$lt": operator.lt, "$lte": operator.le, "$gt": operator.gt, "$gte": operator.ge}
_VERSION = {
    "$veq": operator.eq,
    "$vne": operator.ne,
    "$vlt": operator.lt,
    "$vlte": operator.le,
    "$vgt": operator.gt,
    "$vgte": operator.ge,
}


def always(_value: Any) -> bool:
    return True


def never(_value: Any) -> bool:
    return False


def is_operator_object(value: Any) -> bool:
    """An object whose keys all start with ``$`` (the empty object counts, and matches all)."""
    return isinstance(value, dict) and all(
        isinstance(key, str) and key.startswith("$") for key in value
    )


def all_of(predicates: Sequence[ValuePredicate]) -> ValuePredicate:
    """A predicate true when every one of ``predicates`` is (short-circuit, in order)."""
    if not predicates:
        return always
    if len(predicates) == 1:
        return predicates[0]
    if len(predicates) == 2:
        first, second = predicates
        return lambda value: first(value) and second(value)
    chain = tuple(predicates)

    def every(value: Any) -> bool:
        # An explicit loop: all() over a generator costs a frame per call.
        for predicate in chain:  # noqa: SIM110
            if not predicate(value):
                return False
        return True

    return every


def _negate(predicate: ValuePredicate) -> ValuePredicate:
    return lambda value: not predicate(value)


def literal_equality(expected: Any, path: str) -> ValuePredicate:
    """Implicit equality: same JSON type and equal (arrays and objects compared deeply)."""
    problem = invalid_json_reason(expected)
    if problem is not None:
        raise ConditionError(path, problem)
    if expected is None:
        return lambda value: value is None
    if isinstance(expected, bool):
        return lambda value: value is expected
    if isinstance(expected, str):
        return lambda value: value == expected
    if isinstance(expected, int | float):
        return lambda value: value == expected and is_number(value)
    return lambda value: deep_equal(expected, value)


def compile_value_condition(
    condition: Any, path: str, compile_document: DocumentCompiler
) -> ValuePredicate:
    """Compile a literal or an operator object into a predicate over one value."""
    if is_operator_object(condition):
        return all_of(
            [
                _compile_operator(name, operand, child_path(path, name), compile_document)
                for name, operand in condition.items()
            ]
        )
    if isinstance(condition, dict) and any(
        isinstance(key, str) and key.startswith("$") for key in condition
    ):
        raise ConditionError(path, "mixes operators ($...) with plain keys in one object")
    return literal_equality(condition, path)


def _compile_operator(
    name: str, operand: Any, path: str, compile_document: DocumentCompiler
) -> ValuePredicate:
    if name in ("$eq", "$ne"):
        return _equality(name, operand, path)
    if name in _ORDER:
        return _ordering(_ORDER[name], operand, path)
    if name in _VERSION:
        return _version(name, operand, path)
    if name in ("$in", "$nin", "$ini", "$nini"):
        return _membership(name, operand, path)
    if name in ("$regex", "$regexi", "$notRegex", "$notRegexi"):
        return _regex(name, operand, path)
    if name == "$exists":
        if not isinstance(operand, bool):
            raise ConditionError(path, "$exists needs true or false")
        return (lambda value: value is not None) if operand else (lambda value: value is None)
    if name == "$type":
        if operand not in JSON_TYPES:
            raise ConditionError(path, f"$type needs one of {sorted(JSON_TYPES)}")
        return lambda value: json_type(value) == operand
    if name == "$size":
        size_matches = compile_value_condition(operand, path, compile_document)
        return lambda value: isinstance(value, list) and size_matches(len(value))
    if name in ("$all", "$alli"):
        return _all_elements(name, operand, path, compile_document)
    if name == "$elemMatch":
        return _elem_match(operand, path, compile_document)
    if name == "$not":
        return _negate(compile_value_condition(operand, path, compile_document))
    if name in _UNSUPPORTED:
        raise ConditionError(path, _UNSUPPORTED[name])
    if name in CONDITION_LEVEL_KEYS:
        raise ConditionError(path, f"{name} combines conditions; it cannot test a value")
    raise ConditionError(path, f"unknown operator {name}")


def _equality(name: str, operand: Any, path: str) -> ValuePredicate:
    problem = invalid_json_reason(operand)
    if problem is not None:
        raise ConditionError(path, problem)
    # Strict equality: arrays and objects are never equal (JavaScript `===`).
    equal = never if isinstance(operand, list | dict) else literal_equality(operand, path)
    return equal if name == "$eq" else _negate(equal)


def _ordering(compare: Callable[[Any, Any], bool], operand: Any, path: str) -> ValuePredicate:
    if is_number(operand):
        if operand != operand or operand in (float("inf"), float("-inf")):
            raise ConditionError(path, "needs a finite number")
        return lambda value: is_number(value) and compare(value, operand)
    if isinstance(operand, str):
        return lambda value: isinstance(value, str) and compare(utf16_compare(value, operand), 0)
    raise ConditionError(path, "needs a number or a string (only those are ordered)")


def _version(name: str, operand: Any, path: str) -> ValuePredicate:
    if is_number(operand):
        same_kind: Callable[[Any], bool] = is_number
    elif isinstance(operand, str):
        same_kind = _is_str
    else:
        raise ConditionError(path, "needs a version string (or a number)")
    expected = padded_version_string(operand)
    compare = _VERSION[name]
    mismatch_result = name == "$vne"

    def version_matches(value: Any) -> bool:
        if not same_kind(value):
            return mismatch_result
        return bool(compare(padded_version_string(value), expected))

    return version_matches


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _casefold(value: Any) -> Any:
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, list):
        return [item.lower() if isinstance(item, str) else item for item in value]
    return value


def _membership(name: str, operand: Any, path: str) -> ValuePredicate:
    if not isinstance(operand, list):
        raise ConditionError(path, f"{name} needs an array")
    problem = invalid_json_reason(operand)
    if problem is not None:
        raise ConditionError(path, problem)
    insensitive = name in ("$ini", "$nini")
    members = MembershipSet(_casefold(operand) if insensitive else operand)
    matches = members.matches
    if insensitive:
        return (
            (lambda value: matches(_casefold(value)))
            if name == "$ini"
            else (lambda value: not matches(_casefold(value)))
        )
    return matches if name == "$in" else _negate(matches)


def _regex(name: str, operand: Any, path: str) -> ValuePredicate:
    if not isinstance(operand, str):
        raise ConditionError(path, f"{name} needs a pattern string")
    try:
        search = compile_guarded_regex(operand, ignore_case=name.endswith("i"))
    except ValueError as exc:
        raise ConditionError(path, str(exc)) from exc

    def found(value: Any) -> bool:
        return isinstance(value, str) and search(value)

    return found if name.startswith("$regex") else _negate(found)


def _equals_ignoring_case(expected: str) -> ValuePredicate:
    lowered = expected.lower()
    return lambda value: isinstance(value, str) and value.lower() == lowered


def _all_elements(
    name: str, operand: Any, path: str, compile_document: DocumentCompiler
) -> ValuePredicate:
    if not isinstance(operand, list):
        raise ConditionError(path, f"{name} needs an array")
    required: list[ValuePredicate] = []
    for index, item in enumerate(operand):
        item_path = index_path(path, index)
        if name == "$alli" and isinstance(item, str):
            required.append(_equals_ignoring_case(item))
        else:
            required.append(compile_value_condition(item, item_path, compile_document))
    wanted = tuple(required)

    def contains_all(value: Any) -> bool:
        if not isinstance(value, list):
            return False
        return all(any(predicate(item) for item in value) for predicate in wanted)

    return contains_all


def _elem_match(operand: Any, path: str, compile_document: DocumentCompiler) -> ValuePredicate:
    if not isinstance(operand, dict):
        raise ConditionError(path, "$elemMatch needs an object")
    # Operators test each element itself; anything else tests each element's fields.
    on_value = is_operator_object(operand) and not any(
        key in CONDITION_LEVEL_KEYS for key in operand
    )
    item_matches = (
        compile_value_condition(operand, path, compile_document)
        if on_value
        else compile_document(operand, path)
    )

    def some_element(value: Any) -> bool:
        if not isinstance(value, list):
            return False
        return any(item is not None and item_matches(item) for item in value)

    return some_element
