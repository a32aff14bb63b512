"""Finding JSON documents that mention a key, portably across PostgreSQL and SQLite."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, cast

from verdict.server.api.filters import LIKE_ESCAPE, escape_like

__all__ = ["mentions"]


def mentions(column: Any, key: str) -> Any:
    """A cheap prefilter: the JSON text contains ``"<key>"`` as a string.

    It may match more than wanted (the key as any string value); callers confirm each
    row in Python. It never misses a row that holds the key as a string.
    """
    return cast(column, String).like(f'%"{escape_like(key)}"%', escape=LIKE_ESCAPE)
