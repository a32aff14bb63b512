"""How attribute values compare: JSON types, equality, membership and ordering.

These rules are GrowthBook's (its Python SDK follows JavaScript semantics), so a
condition pasted from GrowthBook decides the same way here:

* Types are JSON types: null, boolean, number, string, array (a ``list``), object
  (a ``dict``); anything else is ``unknown``. ``True`` is never the number 1.
* Strict equality (``$eq``, ``$in``) needs equal types; arrays and objects are never
  strictly equal (JavaScript compares them by reference).
* Literal equality (a plain value in a condition) compares arrays element by element
  and objects key by key in JavaScript property order.
* Only two numbers or two strings are ordered; strings compare by UTF-16 code units.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "JSON_TYPES",
    "MembershipSet",
    "deep_equal",
    "invalid_json_reason",
    "is_number",
    "json_type",
    "strict_equal",
    "utf16_compare",
]

JSON_TYPES = frozenset({"null", "boolean", "number", "string", "array", "object", "unknown"})


def is_number(value: Any) -> bool:
    """A JSON number: an int or float that is not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def json_type(value: Any) -> str:
    """The JSON type name of ``value`` (``$type`` compares against this)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "unknown"


def strict_equal(a: Any, b: Any) -> bool:
    """JavaScript ``===`` between two JSON values: same type, never containers."""
    kind = json_type(a)
    if kind != json_type(b) or kind in ("array", "object"):
        return False
    return bool(a == b)


def _serialised(value: Any) -> Any:
    # JSON serialisation writes NaN and the infinities as null.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _is_index_key(key: Any) -> bool:
    return (
        isinstance(key, str)
        and key.isascii()
        and key.isdigit()
        and (key == "0" or not key.startswith("0"))
        and len(key) <= 10
        and int(key) < 2**32 - 1
    )


def _property_order(obj: Mapping[Any, Any]) -> list[Any]:
    # JavaScript lists integer-like keys first, ascending, then the rest as inserted.
    indices = sorted((key for key in obj if _is_index_key(key)), key=int)
    return indices + [key for key in obj if not _is_index_key(key)]


def deep_equal(a: Any, b: Any) -> bool:
    """Literal equality of two JSON values, compared as their JSON serialisations."""
    kind = json_type(a)
    if kind != json_type(b):
        return False
    if kind == "array":
        return len(a) == len(b) and all(
            deep_equal(_serialised(x), _serialised(y)) for x, y in zip(a, b, strict=True)
        )
    if kind == "object":
        return _property_order(a) == _property_order(b) and all(
            deep_equal(_serialised(a[key]), _serialised(b[key])) for key in a
        )
    return bool(a == b)


def utf16_compare(a: str, b: str) -> int:
    """-1, 0 or 1 comparing two strings by UTF-16 code units, as JavaScript does."""
    if a.isascii() and b.isascii():
        return (a > b) - (a < b)
    units_a = a.encode("utf-16-be", "surrogatepass")
    units_b = b.encode("utf-16-be", "surrogatepass")
    return (units_a > units_b) - (units_a < units_b)


class MembershipSet:
    """A list of candidate values tested with strict equality (``$in``, ``$nin``).

    Candidates are sorted by JSON type into hash sets once, so a test is one set
    lookup. An array attribute matches when any of its elements is a candidate;
    an object attribute, or an array element that is a container, never matches.
    """

    __slots__ = ("_booleans", "_has_null", "_numbers", "_strings")

    def __init__(self, candidates: Iterable[Any]) -> None:
        strings: set[str] = set()
        numbers: set[int | float] = set()
        booleans: set[bool] = set()
        has_null = False
        for candidate in candidates:
            if candidate is None:
                has_null = True
            elif isinstance(candidate, bool):
                booleans.add(candidate)
            elif isinstance(candidate, int | float):
                if not (isinstance(candidate, float) and math.isnan(candidate)):
                    numbers.add(candidate)
            elif isinstance(candidate, str):
                strings.add(candidate)
            # Arrays and objects are never strictly equal to anything.
        self._strings = frozenset(strings)
        self._numbers = frozenset(numbers)
        self._booleans = frozenset(booleans)
        self._has_null = has_null

    @property
    def strings(self) -> frozenset[str]:
        return self._strings

    @property
    def only_strings(self) -> bool:
        """True when every candidate that can ever match is a string."""
        return not (self._numbers or self._booleans or self._has_null)

    def _contains_scalar(self, value: Any) -> bool:
        if isinstance(value, str):
            return value in self._strings
        if value is None:
            return self._has_null
        if isinstance(value, bool):
            return value in self._booleans
        if isinstance(value, int | float):
            return value in self._numbers
        return False

    def matches(self, value: Any) -> bool:
        """GrowthBook's ``isIn``: membership, or intersection for an array value."""
        if isinstance(value, list):
            contains = self._contains_scalar
            return any(contains(item) for item in value)
        return self._contains_scalar(value)


def invalid_json_reason(value: Any, depth: int = 0) -> str | None:
    """Why ``value`` is not a JSON value, or ``None`` when it is."""
    if depth > 64:
        return "nests deeper than 64 levels"
    if value is None or isinstance(value, bool | str):
        return None
    if isinstance(value, int):
        return None  # any size: JSON allows it, and Python compares it exactly
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value!r} is not a finite number"
    if isinstance(value, list):
        return _first_reason(invalid_json_reason(item, depth + 1) for item in value)
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                return f"object key {key!r} is not a string"
        return _first_reason(invalid_json_reason(item, depth + 1) for item in value.values())
    return f"{type(value).__name__} is not a JSON type"


def _first_reason(reasons: Iterable[str | None]) -> str | None:
    for reason in reasons:
        if reason is not None:
            return reason
    return None
