"""Reading JSON-shaped configuration: required fields, ranges, flag value types.

Each reader returns the typed value or raises :class:`ConfigError` naming the JSON
path of the field and what was expected. Unknown fields are ignored so the server can
add descriptive fields (names, owners, timestamps) without breaking older SDKs.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from verdict.engine.errors import ConfigError, child_path
from verdict.engine.jsonvalues import invalid_json_reason, is_number, json_type
from verdict.engine.types import FlagType

__all__ = [
    "MAX_SAFE_INTEGER",
    "MISSING",
    "field",
    "flag_value",
    "read_bool",
    "read_bucket_range",
    "read_list",
    "read_mapping",
    "read_number",
    "read_str",
    "read_timestamp",
    "value_type_problem",
]

MISSING: Any = object()
"""Sentinel default meaning "this field is required"."""


def field(raw: Mapping[str, Any], key: str, path: str, default: Any = MISSING) -> Any:
    """``raw[key]``, or ``default`` when absent (or null); required when no default."""
    value = raw.get(key)
    if value is None:
        if default is MISSING:
            raise ConfigError.at(child_path(path, key), "is required")
        return default
    return value


def read_mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise ConfigError.at(path, "needs an object")
    return value


def read_list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise ConfigError.at(path, "needs an array")
    return value


def read_str(value: Any, path: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not allow_empty):
        raise ConfigError.at(path, "needs a non-empty string")
    return value


def read_bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError.at(path, "needs true or false")
    return value


def read_number(value: Any, path: str, low: float, high: float) -> float:
    if not is_number(value) or not math.isfinite(value) or not low <= value <= high:
        raise ConfigError.at(path, f"needs a number within [{low:g}, {high:g}]")
    return float(value)


def read_bucket_range(value: Any, path: str) -> tuple[int, int]:
    """A ``[start, end)`` bucket range with ``0 <= start < end <= 10000``."""
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(item, int) and not isinstance(item, bool) for item in value)
        or not 0 <= value[0] < value[1] <= 10_000
    ):
        raise ConfigError.at(path, "needs [start, end) integers with 0 <= start < end <= 10000")
    return value[0], value[1]


def read_timestamp(value: Any, path: str) -> float:
    """An ISO-8601 timestamp with a UTC offset, as POSIX seconds."""
    if not isinstance(value, str):
        raise ConfigError.at(path, "needs an ISO-8601 timestamp string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ConfigError.at(path, f"is not an ISO-8601 timestamp: {exc}") from exc
    if moment.tzinfo is None:
        raise ConfigError.at(path, "needs a UTC offset (for example 2030-01-01T00:00:00Z)")
    return moment.timestamp()


MAX_SAFE_INTEGER = 2**53 - 1
"""The largest integer every SDK reads exactly (JavaScript numbers are doubles)."""

_LARGEST_FLOAT = sys.float_info.max
_ARTICLES = {FlagType.INTEGER: "an"}


def value_type_problem(value: Any, flag_type: FlagType) -> str | None:
    """Why ``value`` cannot be a value of a ``flag_type`` flag, or ``None``."""
    if flag_type is FlagType.BOOLEAN:
        ok = isinstance(value, bool)
    elif flag_type is FlagType.STRING:
        ok = isinstance(value, str)
    elif flag_type is FlagType.NUMBER:
        ok = _is_finite_number(value)
    elif flag_type is FlagType.INTEGER:
        ok = _is_finite_number(value) and (isinstance(value, int) or float(value).is_integer())
        if ok and abs(value) > MAX_SAFE_INTEGER:
            return (
                f"{value!r} is outside the integers every SDK reads exactly "
                f"(-{MAX_SAFE_INTEGER} to {MAX_SAFE_INTEGER})"
            )
    else:
        if not isinstance(value, dict):
            return (
                f"{_json_kind(value)} is not a JSON object: json flags hold objects "
                "(OpenFeature reads them as structures); wrap the value in one, "
                'for example {"items": [...]}'
            )
        problem = invalid_json_reason(value)
        return None if problem is None else f"is not a JSON value: {problem}"
    if ok:
        return None
    article = _ARTICLES.get(flag_type, "a")
    return f"{value!r} is not {article} {flag_type.value} value"


def flag_value(value: Any, flag_type: FlagType) -> Any:
    """``value`` (valid for ``flag_type``) as it is served: a float for ``number``
    flags and an int for ``integer`` flags, whichever way the number was written."""
    if flag_type is FlagType.NUMBER:
        return float(value)
    if flag_type is FlagType.INTEGER:
        return int(value)
    return value


def _is_finite_number(value: Any) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return -_LARGEST_FLOAT <= value <= _LARGEST_FLOAT  # float() would overflow
    return isinstance(value, float) and math.isfinite(value)


def _json_kind(value: Any) -> str:
    kind = json_type(value)
    if kind == "null":
        return "null"
    if kind == "unknown":
        return f"a {type(value).__name__}"
    return f"{'an' if kind in ('array', 'object') else 'a'} {kind}"
