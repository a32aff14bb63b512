"""Who a decision is for, as the SDK takes it: the engine's evaluation context.

The SDK accepts what the server's ``POST /api/v1/evaluate`` accepts: a targeting key
(the unit id, a string of at most 255 characters, or none) and an attribute object.
Callers pass an :class:`~verdict.engine.EvaluationContext` (the fastest: used as is),
a bare unit id string, ``None`` (no unit, no attributes), or a mapping shaped like the
evaluate body, ``{"targeting_key": ..., "attributes": {...}}`` (a ``dict`` of exactly
those two keys, with a string key and ``dict`` attributes, is read by the client's fast
path without conversion: the cheapest context to build per call). Anything else is not
a context, and reading a flag with it answers the caller's default with reason ERROR.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from verdict.engine import EvaluationContext

__all__ = [
    "MAX_EVENT_NAME_LENGTH",
    "MAX_TARGETING_KEY_LENGTH",
    "Context",
    "as_context",
    "event_problem",
]

MAX_TARGETING_KEY_LENGTH = 255  # the server's bound on targeting_key
MAX_EVENT_NAME_LENGTH = 255

Context = EvaluationContext | str | Mapping[str, Any] | None

EMPTY = EvaluationContext(None)
NO_ATTRIBUTES: Mapping[str, Any] = MappingProxyType({})


class ContextError(ValueError):
    """A context the SDK cannot decide for; the message names the field and why."""


def _targeting_key(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ContextError(f"targeting_key: must be a string or null, not {type(value).__name__}")
    if len(value) > MAX_TARGETING_KEY_LENGTH:
        raise ContextError(f"targeting_key: longer than {MAX_TARGETING_KEY_LENGTH} characters")
    return value


def as_context(context: Any, *, trusted: bool = True) -> EvaluationContext:
    """The engine context for ``context`` (raises :class:`ContextError` for garbage).

    A :class:`EvaluationContext` is taken as is when ``trusted`` (the read path: the
    engine's own faults are caught there); otherwise its fields are checked too.
    """
    if trusted and context.__class__ is EvaluationContext:
        checked: EvaluationContext = context
        return checked
    if context is None:
        return EMPTY
    if isinstance(context, str):
        return EvaluationContext(_targeting_key(context))
    if isinstance(context, EvaluationContext):  # a subclass
        return EvaluationContext(_targeting_key(context[0]), _attributes(context[1]))
    if isinstance(context, Mapping):
        unknown = set(context) - {"targeting_key", "attributes"}
        if unknown:
            raise ContextError(
                f"context: unknown field {sorted(map(str, unknown))[0]!r} "
                "(expected targeting_key and attributes)"
            )
        return EvaluationContext(
            _targeting_key(context.get("targeting_key")), _attributes(context.get("attributes"))
        )
    raise ContextError(
        "context: expected an EvaluationContext, a unit id string, a mapping with "
        f"targeting_key and attributes, or None, not {type(context).__name__}"
    )


def _attributes(value: Any) -> Mapping[str, Any]:
    if value is None:
        return NO_ATTRIBUTES
    if not isinstance(value, Mapping):
        raise ContextError(f"attributes: must be an object, not {type(value).__name__}")
    return value


def event_problem(event: Any, unit: str | None, value: Any, properties: Any) -> str | None:
    """Why an event cannot be tracked (naming the field), or None when it can."""
    if not isinstance(event, str) or not 0 < len(event) <= MAX_EVENT_NAME_LENGTH:
        return f"event: must be a non-empty string of at most {MAX_EVENT_NAME_LENGTH} characters"
    if unit is None:
        return "targeting_key: an event needs the unit id"
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
    ):
        return "value: must be a finite number or None"
    if properties is not None and not isinstance(properties, Mapping):
        return "properties: must be an object or None"
    return None
