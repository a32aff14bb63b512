"""Unleash strategy constraints as Verdict conditions.

Unleash compares a context field (``userId``, ``sessionId``, ``remoteAddress``,
``appName``, ``environment``, ``currentTime`` or one of ``properties``) with the
constraint's values; Verdict reads the same names from the attribute document, so a
migrated application passes its Unleash context as attributes, with ``properties``
at the top level. Each operator maps to the condition that decides the same way:

=========================================  ==========================================
Unleash                                    Verdict
=========================================  ==========================================
``IN`` / ``NOT_IN``                        ``$in`` / ``$nin`` (a missing field is
                                           not in any list, in both)
``STR_CONTAINS`` / ``STR_STARTS_WITH`` /   ``$regex`` (``$regexi`` with
``STR_ENDS_WITH``                          ``caseInsensitive``) over the escaped
                                           values: ``(?:a|b)``, ``^(?:a|b)``,
                                           ``(?:a|b)$``
``NUM_EQ`` ``NUM_GT`` ``NUM_GTE``          ``$eq`` ``$gt`` ``$gte`` ``$lt`` ``$lte``
``NUM_LT`` ``NUM_LTE``                     on the number (the attribute must be a
                                           JSON number; Unleash parses text)
``SEMVER_EQ`` ``SEMVER_GT`` ``SEMVER_LT``  ``$veq`` ``$vgt`` ``$vlt``, and a ``$regex``
                                           that the value is a semantic version
                                           (Unleash: anything else never matches)
``REGEX``                                  ``$regex`` / ``$regexi`` (RE2 syntax)
``inverted``                               ``$not`` around the operator
``DATE_AFTER`` / ``DATE_BEFORE``, CIDR     not mapped: Verdict conditions compare no
and any other operator                     dates or address ranges
=========================================  ==========================================
"""

from __future__ import annotations

import math
from typing import Any

from verdict.server.flags.imports.plan import UnmappableError

__all__ = ["SEMVER_PATTERN", "constraint_condition", "escaped"]

_REGEX_SPECIAL = frozenset("\\.^$|?*+()[]{}")
_NUMBER_OPERATORS = {
    "NUM_EQ": "$eq",
    "NUM_GT": "$gt",
    "NUM_GTE": "$gte",
    "NUM_LT": "$lt",
    "NUM_LTE": "$lte",
}
_SEMVER_OPERATORS = {"SEMVER_EQ": "$veq", "SEMVER_GT": "$vgt", "SEMVER_LT": "$vlt"}
# A version Unleash's semver parser accepts (x.y.z without leading zeros, optional
# pre-release and build); looser only in what pre-release parts may look like.
SEMVER_PATTERN = (
    r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$"
)
_STRING_PATTERNS = {
    "STR_CONTAINS": "(?:{})",
    "STR_STARTS_WITH": "^(?:{})",
    "STR_ENDS_WITH": "(?:{})$",
}


def escaped(text: str) -> str:
    """``text`` as a literal in an RE2 pattern."""
    return "".join("\\" + char if char in _REGEX_SPECIAL else char for char in text)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return format(value, "g") if isinstance(value, float) else str(value)
    raise UnmappableError(f"value {value!r} is not text")


def _values(constraint: Any) -> list[str]:
    if constraint.values:
        return [_text(value) for value in constraint.values]
    if constraint.value is not None:
        return [_text(constraint.value)]
    return []


def _single(constraint: Any) -> str:
    if constraint.value is not None:
        return _text(constraint.value)
    if constraint.values and len(constraint.values) == 1:
        return _text(constraint.values[0])
    raise UnmappableError(f"{constraint.operator} needs one value")


def _operator(constraint: Any) -> dict[str, Any]:
    operator = constraint.operator
    if operator in ("IN", "NOT_IN"):
        return {"$in" if operator == "IN" else "$nin": _values(constraint)}
    if operator in _STRING_PATTERNS:
        values = _values(constraint)
        if not values:
            return {"$in": []}  # Unleash: no value to compare, never true
        pattern = _STRING_PATTERNS[operator].format("|".join(escaped(v) for v in values))
        return {"$regexi" if constraint.case_insensitive else "$regex": pattern}
    if operator in _NUMBER_OPERATORS:
        text = _single(constraint)
        try:
            number = float(text)
        except ValueError:
            raise UnmappableError(f"{operator} value {text!r} is not a number") from None
        if not math.isfinite(number):
            raise UnmappableError(f"{operator} value {text!r} is not a finite number")
        return {_NUMBER_OPERATORS[operator]: int(number) if number.is_integer() else number}
    if operator in _SEMVER_OPERATORS:
        return {_SEMVER_OPERATORS[operator]: _single(constraint), "$regex": SEMVER_PATTERN}
    if operator == "REGEX":
        return {"$regexi" if constraint.case_insensitive else "$regex": _single(constraint)}
    if operator in ("DATE_AFTER", "DATE_BEFORE"):
        raise UnmappableError(f"{operator}: Verdict conditions compare no dates")
    raise UnmappableError(f"operator {operator}: Verdict has no equivalent")


def constraint_condition(constraint: Any) -> dict[str, Any]:
    """The condition deciding as ``constraint`` does (raises :class:`UnmappableError`)."""
    field = constraint.context_name
    if not field or field.startswith("$") or "." in field:
        # Verdict reads a dotted name as a path into nested attributes.
        raise UnmappableError(f"context field {field!r} cannot be an attribute name")
    test = _operator(constraint)
    return {field: {"$not": test} if constraint.inverted else test}
