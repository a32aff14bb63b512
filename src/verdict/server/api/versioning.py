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

__all__ = ["IfMatch", "check_version", "etag", "etag_matches", "set_etag", "stale_edit"]

IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="The ETag of the version being edited; required for edits.",
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
            "send If-Match with the ETag you read; edits without a version are refused",
            field="header.If-Match",
        )
    if etag_matches(if_match, etag(current)):
        return
    raise StaleVersionError(
        f"If-Match {if_match} is stale: the resource is now at version {etag(current)}; "
        "read it again and reapply your change",
        field="header.If-Match",
    )


@contextmanager
def stale_edit(session: Session, message: str) -> Iterator[None]:
    """Around the flush of an edit: when a concurrent edit got there first (the ORM's
    version check finds no row), roll back and answer 412 with ``message``."""
    try:
        yield
    except StaleDataError as exc:
        session.rollback()
        raise StaleVersionError(message, field="header.If-Match") from exc
