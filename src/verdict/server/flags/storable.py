"""Request values both databases can store and the engine can compile.

PostgreSQL refuses NUL characters in text and JSON; neither database can encode a lone
UTF-16 surrogate (which ``json.loads`` lets through from ``"\\ud800"``); NaN and the
infinities are not JSON; an integer beyond the double range cannot be compared with a
float; and a condition nested a thousand levels deep would exhaust the evaluator's
recursion. Each is refused here as a 422 naming the field, instead of failing later.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints

from verdict.server.db.keys import KEY_MAX_LENGTH, KEY_PATTERN

__all__ = [
    "MAX_JSON_DEPTH",
    "Condition",
    "Description",
    "EnvironmentKey",
    "JsonValue",
    "Key",
    "Name",
    "Note",
    "ShortText",
    "Tag",
    "Text",
    "UnitId",
    "Username",
    "VariantKey",
    "json_problem",
    "text_problem",
]

MAX_JSON_DEPTH = 32
_LARGEST = sys.float_info.max


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or ``None``."""
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (a lone surrogate)"
    return None


def json_problem(value: Any, depth: int = 0) -> str | None:
    """Why ``value`` is not a storable JSON value, or ``None``."""
    if depth > MAX_JSON_DEPTH:
        return f"nests deeper than {MAX_JSON_DEPTH} levels"
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return None if -_LARGEST <= value <= _LARGEST else "is a number too large for JSON"
    if isinstance(value, float):
        return None if abs(value) <= _LARGEST else "is not a finite number"  # NaN fails too
    if isinstance(value, str):
        return text_problem(value)
    if isinstance(value, list):
        for item in value:
            problem = json_problem(item, depth + 1)
            if problem is not None:
                return problem
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            problem = text_problem(key) if isinstance(key, str) else "has a non-string key"
            if problem is None:
                problem = json_problem(item, depth + 1)
            if problem is not None:
                return problem
        return None
    return f"{type(value).__name__} is not a JSON value"


def _text(value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


def _json(value: Any) -> Any:
    problem = json_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


Text = Annotated[str, AfterValidator(_text)]
Key = Annotated[
    str,
    StringConstraints(min_length=1, max_length=KEY_MAX_LENGTH, pattern=KEY_PATTERN.pattern),
]
EnvironmentKey = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=KEY_PATTERN.pattern)
]
Name = Annotated[str, StringConstraints(min_length=1, max_length=255), AfterValidator(_text)]
Description = Annotated[str, StringConstraints(max_length=10_000), AfterValidator(_text)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=100), AfterValidator(_text)]
Note = Annotated[str, StringConstraints(max_length=1000), AfterValidator(_text)]
VariantKey = Annotated[str, StringConstraints(min_length=1, max_length=100), AfterValidator(_text)]
# Tags are filtered by exact match inside the JSON array, so they stay short and plain.
Tag = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/ -]*$"),
]
Username = Annotated[
    str, StringConstraints(min_length=1, max_length=150, pattern=r"^[A-Za-z0-9_.@+-]+$")
]
UnitId = Annotated[str, StringConstraints(min_length=1, max_length=255), AfterValidator(_text)]
JsonValue = Annotated[Any, AfterValidator(_json)]
Condition = Annotated[
    dict[str, Any],
    AfterValidator(_json),
    Field(description="A targeting condition (docs/targeting.md §1)."),
]
