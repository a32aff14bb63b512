"""Optimistic concurrency: a resource's ETag is its version; edits must send If-Match.

A read returns ``ETag: "<version>"``. An edit (PATCH, PUT, DELETE, lifecycle action)
must send ``If-Match`` with that value: a missing header is refused (428) and a stale
one too (412), so two people editing the same flag never silently overwrite each other.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Header, Response
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from verdict.server.errors import StaleVersionError, VersionRequiredError

__all__ = [
    "OPTIONAL_IF_MATCH",
    "IfMatch",
    "OptionalIfMatch",
    "check_version",
    "check_version_if_sent",
    "etag",
    "etag_matches",
    "set_etag",
    "stale_edit",
]

# Marks the If-Match parameter of an operation where it may be left out (the spec
# completion in :mod:`verdict.server.api.openapi` leaves it optional, without 428).
OPTIONAL_IF_MATCH = "x-verdict-optional-if-match"

IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="The ETag of the version being edited; required for edits.",
    ),
]
OptionalIfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="Optional: with it the change is refused (412) unless the resource "
        "is still at that version; without it the change applies to whatever version "
        "is current.",
        json_schema_extra={OPTIONAL_IF_MATCH: True},
    ),
]


def etag(version: int) -> str:
    return f'"{version}"'


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag(version)


def etag_matches(header: str | None, tag: str) -> bool:
    """Whether an ``If-Match`` / ``If-None-Match`` header names ``tag`` (RFC 9110
    §13.1: a comma-separated list, ``W/`` weak tags compared by value, or ``*``)."""
    if header is None:
        return False
    parts = (part.strip() for part in header.split(","))
    return any(part == "*" or part.removeprefix("W/") == tag for part in parts)


def check_version(if_match: str | None, current: int) -> None:
    """Raise unless ``if_match`` names the ``current`` version (or is ``*``)."""
    if if_match is None:
        raise VersionRequiredError(
            "If-Match is missing: send the ETag a GET of this resource returns (its "
            'version in quotes, e.g. If-Match: "1" for a resource created and never '
            'edited; If-Match: "0" for a flag never configured in an environment); '
            "edits without a version are refused",
            field="header.If-Match",
        )
    if etag_matches(if_match, etag(current)):
        return
    raise StaleVersionError(
        f"If-Match {if_match} is stale: the resource is now at version {etag(current)}; "
        "read it again and reapply your change",
        field="header.If-Match",
    )


def check_version_if_sent(if_match: str | None, current: int) -> None:
    """Like :func:`check_version`, for the changes that may be made blind (a kill
    switch): only an ``If-Match`` that was sent is checked."""
    if if_match is not None:
        check_version(if_match, current)


@contextmanager
def stale_edit(session: Session, message: str) -> Iterator[None]:
    """Around the flush of an edit: when a concurrent edit got there first (the ORM's
    version check finds no row), roll back and answer 412 with ``message``."""
    try:
        yield
    except StaleDataError as exc:
        session.rollback()
        raise StaleVersionError(message, field="header.If-Match") from exc
