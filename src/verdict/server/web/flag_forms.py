"""What the flag pages' forms hold: text as typed, turned into the API's request values,
and the API's errors turned back into messages next to the field they name.

A form field holds text. A flag value is read as JSON (``true``, ``12``, ``{"a": 1}``),
except for string flags, where what was typed is the value itself (a JSON string, quotes
and all, is read as JSON). Variants are one per line, ``key = value``. An expiry typed
in a ``datetime-local`` input is read as UTC.

Errors come from three places, all named by their request field: the Pydantic schema
(``("rules", 1, "condition")``), the services (``body.rules.1.condition.country.$in``)
and the parsing here. Each becomes a path as a user reads it, ``rules[1].condition.
country.$in``, filed under the form field it begins with.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Sequence
from typing import Any

from pydantic import ValidationError

from verdict.server.errors import DomainError, InvalidInputError
from verdict.server.flags.models import FlagValueType

__all__ = [
    "GENERAL",
    "FormErrors",
    "UnreadableFieldError",
    "add_domain_error",
    "add_validation_error",
    "parse_expiry",
    "parse_json",
    "parse_value",
    "parse_variants",
    "readable_path",
    "shown_value",
]

GENERAL = "_form"  # errors that name no field of the form
_LOCATIONS = ("body", "query", "path", "header")

FormErrors = dict[str, list[str]]


class UnreadableFieldError(ValueError):
    """A field's text that cannot be read; ``str()`` is the reason."""


def readable_path(location: Sequence[str | int]) -> str:
    """``("rules", 1, "condition")`` as a user reads it: ``rules[1].condition``."""
    text = ""
    for part in location:
        if isinstance(part, int) or (isinstance(part, str) and part.isdigit()):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


def _file(
    errors: FormErrors,
    location: Sequence[str | int],
    reason: str,
    fields: Collection[str],
    aliases: dict[str, str] | None = None,
) -> None:
    parts = list(location)
    if parts and parts[0] in _LOCATIONS:
        parts = parts[1:]
    head = str(parts[0]) if parts else ""
    field = (aliases or {}).get(head, head)
    if field not in fields:
        where = readable_path(parts)
        errors.setdefault(GENERAL, []).append(f"{where}: {reason}" if where else reason)
        return
    message = reason if len(parts) <= 1 else f"{readable_path(parts)}: {reason}"
    errors.setdefault(field, []).append(message)


def add_validation_error(
    errors: FormErrors,
    exc: ValidationError,
    fields: Collection[str],
    aliases: dict[str, str] | None = None,
) -> None:
    """File each of a schema's errors under the form field its location begins with."""
    for error in exc.errors():
        reason = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        _file(errors, tuple(error.get("loc", ())), reason, fields, aliases)


def add_domain_error(
    errors: FormErrors,
    exc: DomainError,
    fields: Collection[str],
    aliases: dict[str, str] | None = None,
) -> None:
    """File a service's refusal: each ``(field, reason)`` of an invalid input, or the
    error's single field (a duplicate key, a cycle), or the form as a whole."""
    pairs: list[tuple[str | None, str]]
    if isinstance(exc, InvalidInputError) and exc.errors:
        pairs = list(exc.errors)
    else:
        pairs = [(exc.field, exc.detail)]
    for field, reason in pairs:
        _file(errors, field.split(".") if field else (), reason, fields, aliases)


def parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnreadableFieldError(
            f"not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
        ) from None
    except RecursionError:
        raise UnreadableFieldError("not valid JSON: nested too deeply") from None


def parse_value(text: str, value_type: FlagValueType) -> Any:
    """A value of a flag of ``value_type`` as typed in a form."""
    text = text.strip()
    if value_type is FlagValueType.STRING:
        try:
            parsed = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            return text
        return parsed if isinstance(parsed, str) else text
    if not text:
        raise UnreadableFieldError("enter a value")
    return parse_json(text)


def parse_variants(text: str, value_type: FlagValueType) -> list[dict[str, Any]]:
    """Variants typed one per line as ``key = value``; blank lines are skipped."""
    variants: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, equals, value = line.partition("=")
        if not equals:
            raise UnreadableFieldError(f"line {number}: write key = value")
        try:
            variants.append({"key": key.strip(), "value": parse_value(value, value_type)})
        except UnreadableFieldError as problem:
            raise UnreadableFieldError(f"line {number}: {problem}") from None
    return variants


def parse_expiry(text: str) -> dt.datetime | None:
    """A ``datetime-local`` value (or ISO 8601 with an offset), read as UTC."""
    text = text.strip()
    if not text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise UnreadableFieldError("enter a date and time, such as 2030-01-31T18:00") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def shown_value(value: Any, value_type: FlagValueType | str | None = None) -> str:
    """A value as a form shows it (the inverse of :func:`parse_value`)."""
    if isinstance(value, str) and value_type in (FlagValueType.STRING, "string"):
        try:
            json.loads(value)
        except (json.JSONDecodeError, RecursionError):
            return value
    return json.dumps(value, ensure_ascii=False)
