"""What the segment, metric definition, environment and API key pages share: who may
use a page, how a form's text becomes a request schema, and how the schema's and the
services' refusals become messages next to the fields they name.

A form posts text. Empty optional fields become ``None``; the rest goes to the API's
own Pydantic schema as typed, so the page refuses exactly what the API refuses, with
the same reasons. A service's :class:`InvalidInputError` names fields as the API does
(``body.conditions.$and.0``); the page shows the reason next to ``conditions`` and
keeps the rest of the path in the message. A refusal naming no field of the form (a
stale version, say) is shown above the form.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from verdict.server.api.versioning import etag
from verdict.server.errors import DomainError, PermissionDeniedError
from verdict.server.identity.auth import Principal

__all__ = [
    "FORM_LEVEL",
    "PAGE_SIZE",
    "FieldErrors",
    "PageForm",
    "domain_errors",
    "if_match",
    "json_object",
    "optional",
    "require",
    "validation_errors",
]

PAGE_SIZE = 50
# The key of the message shown above a form rather than next to one field.
FORM_LEVEL = ""

FieldErrors = dict[str, str]


class PageForm(BaseModel):
    """Every form of these pages carries the session's CSRF token."""

    csrf_token: str = Field(default="", max_length=200)


def require(user: Principal, resource: str, action: str) -> None:
    """Refuse (403) what the user's roles do not allow, as the API would."""
    if not user.can(resource, action):
        raise PermissionDeniedError(f"{user.name} lacks the permission {resource}:{action}")


def if_match(version: str) -> str | None:
    """The ``If-Match`` an edit form stands for: the version it was read at, which it
    carries in a hidden field (none: the service refuses the edit, as the API does)."""
    return etag(int(version)) if version.isdigit() else None


def optional(value: str | None) -> str | None:
    """A text field as the schema wants it: ``None`` when left empty."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def json_object(
    text: str, field: str, errors: FieldErrors, *, empty: Any = None
) -> dict[str, Any] | None:
    """The JSON object typed into ``field``; a reason in ``errors`` if it is not one."""
    if not text.strip():
        return empty if isinstance(empty, dict) else None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        errors[field] = f"not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
        return None
    if not isinstance(value, dict):
        errors[field] = 'must be a JSON object, such as {} or {"country": "DE"}'
        return None
    return value


def _add(errors: FieldErrors, field: str, reason: str) -> None:
    errors[field] = f"{errors[field]}; {reason}" if field in errors else reason


def _place(path: str, fields: Collection[str]) -> tuple[str, str]:
    """The form field a dotted API path belongs to, and the rest of the path."""
    path = path.removeprefix("body.").removeprefix("body")
    head, _, rest = path.partition(".")
    if head in fields:
        return head, rest
    return FORM_LEVEL, path


def _located(field: str, rest: str, reason: str) -> str:
    if field == FORM_LEVEL:
        return f"{rest}: {reason}" if rest else reason
    return f"at {field}.{rest}: {reason}" if rest else reason


def validation_errors(
    error: ValidationError, fields: Collection[str], aliases: Mapping[str, str] | None = None
) -> FieldErrors:
    """A schema's refusal, by form field (``aliases`` maps schema names to form names)."""
    errors: FieldErrors = {}
    for line in error.errors(include_url=False):
        parts = [str(part) for part in line["loc"]]
        if parts and aliases and parts[0] in aliases:
            parts[0] = aliases[parts[0]]
        field, rest = _place(".".join(parts), fields)
        message = str(line["msg"]).removeprefix("Value error, ")
        _add(errors, field, _located(field, rest, message))
    return errors


def domain_errors(
    error: DomainError, fields: Collection[str], aliases: Mapping[str, str] | None = None
) -> FieldErrors:
    """A service's refusal, by form field; what names no field goes above the form."""
    pairs: Iterable[tuple[str, str]] = getattr(error, "errors", None) or [
        (error.field or "", error.detail)
    ]
    errors: FieldErrors = {}
    for path, reason in pairs:
        head, dot, rest = path.removeprefix("body.").partition(".")
        if aliases and head in aliases:
            path = aliases[head] + dot + rest
        field, rest = _place(path, fields)
        _add(errors, field, _located(field, rest, reason) if field else reason)
    return errors
