"""List filters shared by every resource: text search and membership in a JSON tag array.

Text search is a case-insensitive LIKE over the resource's descriptive columns with
LIKE's wildcards taken literally (a search for ``a_b`` does not match ``axb``). Tag
membership needs each database's own SQL: PostgreSQL answers ``tags @> '["x"]'`` from
the JSONB column, SQLite through its ``json_each`` table function.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, exists, func, or_, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import InstrumentedAttribute, Session

__all__ = ["LIKE_ESCAPE", "escape_like", "has_tag", "matches_text"]

LIKE_ESCAPE = "\\"


def escape_like(text: str) -> str:
    """``text`` with LIKE's wildcards (and the escape character) taken literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def matches_text(text: str, *columns: InstrumentedAttribute[Any]) -> ColumnElement[bool]:
    """Any of ``columns`` contains ``text``, ignoring case."""
    pattern = f"%{escape_like(text)}%"
    return or_(*(column.ilike(pattern, escape=LIKE_ESCAPE) for column in columns))


def has_tag(session: Session, column: InstrumentedAttribute[Any], tag: str) -> ColumnElement[bool]:
    """``column`` (a JSON array) contains the string ``tag``."""
    if session.get_bind().dialect.name == "postgresql":
        return type_coerce(column, JSONB).contains([tag])
    items = func.json_each(column).table_valued("value")
    return exists(select(1).select_from(items).where(items.c.value == tag))
