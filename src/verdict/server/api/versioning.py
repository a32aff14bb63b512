"""Optimistic concurrency: a resource's ETag is its version; edits must send If-Match.

A read returns ``ETag: "<version>"``. An edit (PATCH, PUT, DELETE, lifecycle action)
must send ``If-Match`` with that value: a missing header is refused (428) and a stale
one too (412), so two people editing the same flag never silently overwrite each other.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Response

from verdict.server.errors import StaleVersionError, VersionRequiredError

__all__ = ["IfMatch", "check_version", "etag", "set_etag"]

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


def _parse(header: str) -> list[str]:
    return [part.strip().removeprefix("W/") for part in header.split(",") if part.strip()]


def check_version(if_match: str | None, current: int) -> None:
    """Raise unless ``if_match`` names the ``current`` version (or is ``*``)."""
    if if_match is None:
        raise VersionRequiredError(
            "send If-Match with the ETag you read; edits without a version are refused",
            field="header.If-Match",
        )
    tags = _parse(if_match)
    if "*" in tags or etag(current) in tags:
        return
    raise StaleVersionError(
        f"If-Match {if_match} is stale: the resource is now at version {etag(current)}; "
        "read it again and reapply your change",
        field="header.If-Match",
    )
