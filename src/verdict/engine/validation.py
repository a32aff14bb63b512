"""Reading JSON-shaped configuration: required fields, ranges, flag value types.

Each reader returns the typed value or raises :class:`ConfigError` naming the JSON
path of the field and what was expected. Unknown fields are ignored so the server can
add descriptive fields (names, owners, timestamps) without breaking older SDKs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from verdict.engine.errors import ConfigError, child_path
from verdict.engine.jsonvalues import invalid_json_reason, is_number
from verdict.engine.types import FlagType

__all__ = [
    "MISSING",
    "field",
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


def value_type_problem(value: Any, flag_type: FlagType) -> str | None:
    """Why ``value`` cannot be a value of a ``flag_type`` flag, or ``None``."""
    if flag_type is FlagType.BOOLEAN:
        ok = isinstance(value, bool)
    elif flag_type is FlagType.STRING:
        ok = isinstance(value, str)
    elif flag_type is FlagType.NUMBER:
        ok = is_number(value) and math.isfinite(value)
    else:
        problem = invalid_json_reason(value)
        return None if problem is None else f"is not a JSON value: {problem}"
    return None if ok else f"{value!r} is not a {flag_type.value} value"
