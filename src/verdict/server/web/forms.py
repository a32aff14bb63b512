"""What every dashboard page with a form shares: who may use a page, how a path's id,
a form's version and its text are read, how the schema's and the services' refusals
become messages next to the fields they name, the links between pages of a list, and
the steps of a post (validate, call one service, redirect; or show the form again).

A form posts text. Empty optional fields become ``None``; the rest goes to the API's
own Pydantic schema as typed, so the page refuses exactly what the API refuses, with
the same reasons. A service's :class:`InvalidInputError` names fields as the API does
(``body.conditions.$and.0``); the page shows the reason next to ``conditions`` and
keeps the rest of the path in the message. A refusal naming no field of the form (a
stale version, say) is shown above the form.

The people pages (users, roles, the power calculator) file their messages with
:func:`field_errors`, which keeps only the field's name and puts what names no field
under :data:`GENERAL`; the flag and experiment forms, whose fields hold lists of rules
and rows, map their errors in :mod:`~verdict.server.web.flag_forms` and
:mod:`~verdict.server.web.experiment_form_data`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi.responses import Response
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.orm import Session

from verdict.server.api.versioning import etag
from verdict.server.errors import (
    ConflictError,
    DomainError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    StaleVersionError,
    VersionRequiredError,
)
from verdict.server.identity.auth import Principal
from verdict.server.problems import status_of

__all__ = [
    "DELETE_REFUSALS",
    "FORM_LEVEL",
    "GENERAL",
    "PAGE_SIZE",
    "REFUSALS",
    "FieldErrors",
    "PageForm",
    "domain_errors",
    "field_errors",
    "form_errors",
    "if_match",
    "json_object",
    "next_page",
    "optional",
    "page_urls",
    "parse_id",
    "refusable",
    "require",
    "submit",
    "validation_errors",
]

PAGE_SIZE = 50
# The key of the message shown above a form rather than next to one field.
FORM_LEVEL = ""
# The same key on the people pages, whose templates name it so.
GENERAL = "_form"
# What a create or an edit may be refused for, and a delete.
REFUSALS = (InvalidInputError, ConflictError, StaleVersionError, VersionRequiredError)
DELETE_REFUSALS = (ConflictError, StaleVersionError, VersionRequiredError)

FieldErrors = dict[str, str]
T = TypeVar("T")
Describe = Callable[[ValidationError | DomainError], FieldErrors]


class PageForm(BaseModel):
    """Every form of these pages carries the session's CSRF token."""

    csrf_token: str = Field(default="", max_length=200)


# -- who, which, which version ----------------------------------------------------------


def require(user: Principal, resource: str, action: str) -> None:
    """Refuse (403) what the user's roles do not allow, as the API would."""
    if not user.can(resource, action):
        raise PermissionDeniedError(f"{user.name} lacks the permission {resource}:{action}")


def parse_id(value: str, what: str) -> uuid.UUID:
    """A path's id; text that is no id is a page that does not exist (404)."""
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFoundError(f"no {what} with id {value[:64]!r}") from None


def if_match(version: str | int) -> str | None:
    """The ``If-Match`` an edit form stands for: the version it was read at, which it
    carries in a hidden field (none: the service refuses the edit, as the API does)."""
    if isinstance(version, int):
        return etag(version)
    return etag(int(version)) if version.isdigit() else None


# -- text as typed ----------------------------------------------------------------------


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


# -- pages of a list --------------------------------------------------------------------


def _url(path: str, query: Mapping[str, str | None]) -> str:
    kept = {name: value for name, value in query.items() if value}
    return f"{path}?{urlencode(kept)}" if kept else path


def next_page(path: str, cursor: str | None, **query: str | None) -> str | None:
    """The URL of the next page: the same filters, the next cursor."""
    return None if cursor is None else _url(path, {**query, "cursor": cursor})


def page_urls(
    path: str, filters: Mapping[str, str | None], *, cursor: str | None, next_cursor: str | None
) -> dict[str, str | None]:
    """``next_url`` and ``first_url`` of a list page (the first only past page one)."""
    return {
        "next_url": next_page(path, next_cursor, **filters),
        "first_url": _url(path, filters) if cursor else None,
    }


# -- refusals, by form field ------------------------------------------------------------


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


def _pairs(error: DomainError) -> Iterable[tuple[str, str]]:
    """A service's refusal as (API field path, reason) pairs."""
    return getattr(error, "errors", None) or [(error.field or "", error.detail)]


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
    errors: FieldErrors = {}
    for path, reason in _pairs(error):
        head, dot, rest = path.removeprefix("body.").partition(".")
        if aliases and head in aliases:
            path = aliases[head] + dot + rest
        field, rest = _place(path, fields)
        _add(errors, field, _located(field, rest, reason) if field else reason)
    return errors


def form_errors(
    error: ValidationError | DomainError,
    fields: Collection[str],
    aliases: Mapping[str, str] | None = None,
) -> FieldErrors:
    """A schema's or a service's refusal, by form field."""
    if isinstance(error, ValidationError):
        return validation_errors(error, fields, aliases)
    return domain_errors(error, fields, aliases)


_FRIENDLY = {
    ("email", "string_pattern_mismatch"): "an e-mail address such as ada@example.com",
}


def field_errors(error: ValidationError | DomainError, fields: Collection[str]) -> FieldErrors:
    """The people pages' messages: each next to the form field it names, the rest under
    :data:`GENERAL`, prefixed with the name they give.

    A schema names a field by its location (``roles``, ``permissions.2``), a service as
    the API does (``body.email``); both become the form field's name."""
    found: FieldErrors = {}

    def add(location: str, reason: str) -> None:
        name = location.removeprefix("body.").split(".")[0]
        key = name if name in fields else GENERAL
        if key == GENERAL and name and name not in ("path", "header", "query"):
            reason = f"{name}: {reason}"
        _add(found, key, reason)

    if isinstance(error, ValidationError):
        for item in error.errors():
            name = str(item["loc"][0]) if item["loc"] else ""
            reason = _FRIENDLY.get((name, item["type"]), item["msg"])
            add(".".join(str(part) for part in item["loc"]), reason.removeprefix("Value error, "))
        return found
    for location, reason in _pairs(error):
        add(location or "", reason)
    return found


# -- the steps of a post ----------------------------------------------------------------


def refusable(
    db: Session,
    act: Callable[[], Response],
    refused: Callable[[DomainError], Response],
    refusals: tuple[type[DomainError], ...] = REFUSALS,
) -> Response:
    """``act()`` (one service call, answered with a redirect); when the service refuses,
    the transaction is rolled back and ``refused(error)`` answers instead."""
    try:
        return act()
    except refusals as refusal:
        db.rollback()
        return refused(refusal)


def submit(
    db: Session,
    validate: Callable[[dict[str, Any]], T],
    body: dict[str, Any],
    act: Callable[[T], Response],
    again: Callable[[FieldErrors, int], Response],
    describe: Describe,
    *,
    errors: FieldErrors | None = None,
    refusals: tuple[type[DomainError], ...] = REFUSALS,
) -> Response:
    """A create or edit post: the body validated by the API's schema, then ``act`` with
    the result; what the schema, the page's own reading (``errors``) or the service
    refuses comes back as ``again(errors by field, status code)``."""
    found = dict(errors or {})
    try:
        data = validate(body)
    except ValidationError as error:
        return again({**describe(error), **found}, 422)
    if found:
        return again(found, 422)
    return refusable(
        db,
        lambda: act(data),
        lambda refusal: again(describe(refusal), status_of(refusal)),
        refusals,
    )
