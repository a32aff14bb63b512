"""The identifier syntax of keys (flags, experiments, metrics, segments, environments).

A key starts with a letter and continues with letters, digits, ``_``, ``-`` or ``.``:
it appears in URLs, SDK calls and hash seeds, so it must be stable and unambiguous.
The rule is a CHECK constraint on both databases, written in each one's dialect
(a regular expression on PostgreSQL, GLOB patterns on SQLite).
"""

from __future__ import annotations

import re

from sqlalchemy import CheckConstraint

__all__ = ["KEY_MAX_LENGTH", "KEY_PATTERN", "key_constraints"]

KEY_MAX_LENGTH = 100
KEY_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*$")


def key_constraints(column: str = "key") -> tuple[CheckConstraint, ...]:
    """CHECK constraints enforcing :data:`KEY_PATTERN` on ``column``."""
    name = f"{column}_identifier"
    postgres = CheckConstraint(f"{column} ~ '^[A-Za-z][A-Za-z0-9_.-]*$'", name=name).ddl_if(
        dialect="postgresql"
    )
    sqlite = CheckConstraint(
        f"{column} GLOB '[A-Za-z]*' AND {column} NOT GLOB '*[^A-Za-z0-9_.-]*'", name=name
    ).ddl_if(dialect="sqlite")
    return (postgres, sqlite)
