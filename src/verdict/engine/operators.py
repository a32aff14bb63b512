"""What each condition operator decides about one attribute value, compiled to closures.

A *value condition* is what sits under an attribute key in a condition: a literal
(implicit equality) or an operator object such as ``{"$gte": 18, "$lt": 65}``. It is
validated and turned into a predicate over the attribute value once; evaluation then
calls the predicate.

Every operator decides as GrowthBook's Python SDK (``growthbook.core.evalCondition``)
does, for every operand it answers for (see :mod:`verdict.engine.jsonvalues` for
equality and ordering): ``{"$gt": true}`` never matches, ``{"$in": "US"}`` never
matches, ``{"$exists": 0}`` means ``false``, ``{"$type": "undefined"}`` never matches.
Such operands are almost always mistakes, so when the compiler *refuses mistakes* (the
management API's mode, when a condition is saved) each one raises
:class:`ConditionError` with the JSON path and the reason instead; configuration that
was stored anyway still evaluates exactly as GrowthBook would. What GrowthBook cannot
evaluate either (an unknown operator, ``$elemMatch`` without an object), what is not
JSON (NaN) and regular expressions RE2 cannot run with Python's meaning raise in both
modes.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from verdict.engine.errors import ConditionError, child_path, index_path
from verdict.engine.jsonvalues import (
    MembershipSet,
    deep_equal,
    invalid_json_reason,
    is_number,
    json_type,
    utf16_compare,
)
from verdict.engine.regex_guard import compile_guarded_regex, regex_problem
from verdict.engine.semver import padded_version_string

__all__ = [
    "DOCUMENT_KEYS",
    "ConditionCompiler",
    "ValuePredicate",
    "all_of",
    "always",
    "compile_value_condition",
    "is_operator_object",
    "never",
    "tests_each_element",
]

ValuePredicate = Callable[[Any], bool]

DOCUMENT_KEYS = frozenset({"$and", "$or", "$nor", "$savedGroup", "$inSegment", "$notInSegment"})
"""Keys that make an ``$elemMatch`` operand a condition on each element's fields."""

TYPE_NAMES = ("null", "boolean", "number", "string", "array", "object")
"""The ``$type`` names an attribute value can have (``"unknown"``: not a JSON value)."""


class ConditionCompiler(Protocol):
    """What operators need from the condition compiler."""

    @property
    def refuse_mistakes(self) -> bool:
        """Raise for operands GrowthBook answers but that are almost always mistakes."""
        ...

    def nested_document(self, condition: Any, path: str) -> ValuePredicate:
        """Compile a whole condition (``$elemMatch`` over each element's fields)."""
        ...


_ORDER = {"$lt": operator.lt, "$lte": operator.le, "$gt": operator.gt, "$gte": operator.ge}
_VERSION = {
    "$veq": operator.eq,
    "$vne": operator.ne,
    "$vlt": operator.lt,
    "$vlte": operator.le,
    "$vgt": operator.gt,
    "$vgte": operator.ge,
}
_SAVED_GROUPS = (
    "GrowthBook saved groups do not exist in Verdict, so GrowthBook's rule for a group "
    "it was not given applies ({rule}); use $inSegment with a segment, or $in with the values"
)


def always(_value: Any) -> bool:
    return True


def never(_value: Any) -> bool:
    return False


def is_operator_object(value: Any) -> bool:
    """An object whose keys all start with ``$`` (the empty object counts, and matches all)."""
    return isinstance(value, dict) and all(
        isinstance(key, str) and key.startswith("$") for key in value
    )


def tests_each_element(operand: Any) -> bool:
    """Whether an ``$elemMatch`` operand tests each element itself (``{"$gt": 90}``)
    rather than each element's fields (``{"status": "paid"}``, ``{"$or": [...]}``)."""
    return is_operator_object(operand) and not any(key in DOCUMENT_KEYS for key in operand)


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


def _mistake(compiler: ConditionCompiler, path: str, reason: str) -> None:
    if compiler.refuse_mistakes:
        raise ConditionError(path, reason)


def _require_json(operand: Any, path: str) -> None:
    problem = invalid_json_reason(operand)
    if problem is not None:
        raise ConditionError(path, problem)


def _a(kind: str) -> str:
    return {"array": "an array", "object": "an object", "null": "null"}.get(kind, f"a {kind}")


def literal_equality(expected: Any, path: str) -> ValuePredicate:
    """Implicit equality: same JSON type and equal (arrays and objects compared deeply)."""
    _require_json(expected, path)
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
    condition: Any, path: str, compiler: ConditionCompiler
) -> ValuePredicate:
    """Compile a literal or an operator object into a predicate over one value."""
    if is_operator_object(condition):
        return all_of(
            [
                _compile_operator(name, operand, child_path(path, name), compiler)
                for name, operand in condition.items()
            ]
        )
    if isinstance(condition, dict) and any(
        isinstance(key, str) and key.startswith("$") for key in condition
    ):
        _mistake(
            compiler,
            path,
            "mixes operators ($...) with plain keys in one object (GrowthBook then "
            "compares the attribute with the whole object literally)",
        )
    return literal_equality(condition, path)


def _compile_operator(
    name: str, operand: Any, path: str, compiler: ConditionCompiler
) -> ValuePredicate:
    if name in ("$eq", "$ne"):
        return _equality(name, operand, path, compiler)
    if name in _ORDER:
        return _ordering(name, operand, path, compiler)
    if name in _VERSION:
        return _version(name, operand, path, compiler)
    if name in ("$in", "$nin", "$ini", "$nini"):
        return _membership(name, operand, path, compiler)
    if name in ("$regex", "$regexi", "$notRegex", "$notRegexi"):
        return _regex(name, operand, path, compiler)
    if name == "$exists":
        return _exists(operand, path, compiler)
    if name == "$type":
        return _type(operand, path, compiler)
    if name == "$size":
        return _size(operand, path, compiler)
    if name in ("$all", "$alli"):
        return _all_elements(name, operand, path, compiler)
    if name == "$elemMatch":
        return _elem_match(operand, path, compiler)
    if name == "$not":
        return _negate(compile_value_condition(operand, path, compiler))
    if name in ("$inGroup", "$notInGroup"):
        return _saved_group(name, operand, path, compiler)
    if name in ("$and", "$or", "$nor", "$savedGroup"):
        # GrowthBook knows these, but on a condition rather than on a value.
        _require_json(operand, path)
        _mistake(compiler, path, f"{name} combines conditions: under an attribute it never matches")
        return never
    if name in ("$inSegment", "$notInSegment"):
        raise ConditionError(path, f"{name} combines conditions; it cannot test a value")
    raise ConditionError(path, f"unknown operator {name}")


def _equality(name: str, operand: Any, path: str, compiler: ConditionCompiler) -> ValuePredicate:
    _require_json(operand, path)
    if isinstance(operand, list | dict):
        # Strict equality (JavaScript `===`): arrays and objects are never equal.
        _mistake(
            compiler,
            path,
            f"{name} with {_a(json_type(operand))} compares by reference, so it "
            f"{'never' if name == '$eq' else 'always'} matches; for deep equality write the "
            'value itself (or {"$not": value})',
        )
        equal: ValuePredicate = never
    else:
        equal = literal_equality(operand, path)
    return equal if name == "$eq" else _negate(equal)


def _ordering(name: str, operand: Any, path: str, compiler: ConditionCompiler) -> ValuePredicate:
    _require_json(operand, path)
    compare = _ORDER[name]
    if is_number(operand):
        return lambda value: is_number(value) and compare(value, operand)
    if isinstance(operand, str):
        return lambda value: isinstance(value, str) and compare(utf16_compare(value, operand), 0)
    # GrowthBook answers false; a person almost certainly meant something else.
    _mistake(compiler, path, "needs a number or a string (only those are ordered)")
    return never


def _version(name: str, operand: Any, path: str, compiler: ConditionCompiler) -> ValuePredicate:
    _require_json(operand, path)
    mismatch_result = name == "$vne"
    if is_number(operand):
        same_kind: Callable[[Any], bool] = is_number
    elif isinstance(operand, str):
        same_kind = _is_str
    else:
        _mistake(compiler, path, "needs a version string (or a number)")
        return always if mismatch_result else never
    expected = padded_version_string(operand)
    compare = _VERSION[name]

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


def _membership(name: str, operand: Any, path: str, compiler: ConditionCompiler) -> ValuePredicate:
    _require_json(operand, path)
    if not isinstance(operand, list):
        _mistake(compiler, path, f"{name} needs an array")
        return never
    for index, member in enumerate(operand):
        if isinstance(member, list | dict):
            _mistake(
                compiler,
                index_path(path, index),
                f"{_a(json_type(member))} in {name} never matches (compared by reference)",
            )
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


def _saved_group(name: str, operand: Any, path: str, compiler: ConditionCompiler) -> ValuePredicate:
    _require_json(operand, path)
    if not isinstance(operand, str):
        _mistake(compiler, path, f"{name} needs a group id string (otherwise it never matches)")
        return never
    rule = "$inGroup never matches" if name == "$inGroup" else "$notInGroup always matches"
    _mistake(compiler, path, _SAVED_GROUPS.format(rule=rule))
    return never if name == "$inGroup" else always


def _regex(name: str, operand: Any, path: str, compiler: ConditionCompiler) -> ValuePredicate:
    positive = name.startswith("$regex")
    if not isinstance(operand, str):
        _require_json(operand, path)
        _mistake(compiler, path, f"{name} needs a pattern string")
        return never if positive else always
    ignore_case = name.endswith("i")
    if compiler.refuse_mistakes:
        problem = regex_problem(operand, ignore_case=ignore_case)
        if problem is not None:
            raise ConditionError(path, problem)
    try:
        search = compile_guarded_regex(operand, ignore_case=ignore_case)
    except ValueError as exc:
        raise ConditionError(path, str(exc)) from exc

    def found(value: Any) -> bool:
        return isinstance(value, str) and search(value)

    return found if positive else _negate(found)


def _exists(operand: Any, path: str, compiler: ConditionCompiler) -> ValuePredicate:
    _require_json(operand, path)
    if not isinstance(operand, bool):
        _mistake(compiler, path, "$exists needs true or false")
    # GrowthBook tests the operand's truth: 0, "", [] and {} mean false.
    return (lambda value: value is not None) if operand else (lambda value: value is None)


def _type(operand: Any, path: str, compiler: ConditionCompiler) -> ValuePredicate:
    _require_json(operand, path)
    if operand == "undefined":
        _mistake(
            compiler,
            path,
            '$type "undefined" never matches: a missing attribute has type "null", as in '
            'GrowthBook; use {"$exists": false}',
        )
    elif operand != "unknown" and operand not in TYPE_NAMES:
        _mistake(compiler, path, f"$type needs one of {', '.join(TYPE_NAMES)}")
    return lambda value: json_type(value) == operand


def _size(operand: Any, path: str, compiler: ConditionCompiler) -> ValuePredicate:
    size_matches = compile_value_condition(operand, path, compiler)
    if not (is_number(operand) or is_operator_object(operand)):
        _mistake(
            compiler,
            path,
            '$size needs a number or an operator object such as {"$gt": 2} (a length is a number)',
        )
    return lambda value: isinstance(value, list) and size_matches(len(value))


def _equals_ignoring_case(expected: str) -> ValuePredicate:
    lowered = expected.lower()
    return lambda value: isinstance(value, str) and value.lower() == lowered


def _all_elements(
    name: str, operand: Any, path: str, compiler: ConditionCompiler
) -> ValuePredicate:
    if not isinstance(operand, list):
        _require_json(operand, path)
        _mistake(compiler, path, f"{name} needs an array (otherwise it never matches)")
        return never
    required: list[ValuePredicate] = []
    for index, item in enumerate(operand):
        item_path = index_path(path, index)
        if name == "$alli" and isinstance(item, str):
            required.append(_equals_ignoring_case(item))
        else:
            required.append(compile_value_condition(item, item_path, compiler))
    wanted = tuple(required)

    def contains_all(value: Any) -> bool:
        if not isinstance(value, list):
            return False
        return all(any(predicate(item) for item in value) for predicate in wanted)

    return contains_all


def _elem_match(operand: Any, path: str, compiler: ConditionCompiler) -> ValuePredicate:
    if not isinstance(operand, dict):
        raise ConditionError(path, "$elemMatch needs an object")
    item_matches = (
        compile_value_condition(operand, path, compiler)
        if tests_each_element(operand)
        else compiler.nested_document(operand, path)
    )

    def some_element(value: Any) -> bool:
        if not isinstance(value, list):
            return False
        return any(item is not None and item_matches(item) for item in value)

    return some_element
