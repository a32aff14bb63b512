"""List filters that need each database's own SQL: membership in a JSON array of tags.

PostgreSQL stores tags as JSONB and answers ``tags @> '["x"]'`` from the column;
SQLite stores JSON text and answers through its ``json_each`` table function.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, exists, func, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import InstrumentedAttribute, Session

__all__ = ["has_tag", "text_pattern"]


def has_tag(session: Session, column: InstrumentedAttribute[Any], tag: str) -> ColumnElement[bool]:
    """``column`` (a JSON array) contains the string ``tag``."""
    if session.get_bind().dialect.name == "postgresql":
        return type_coerce(column, JSONB).contains([tag])
    items = func.json_each(column).table_valued("value")
    return exists(select(1).select_from(items).where(items.c.value == tag))


def text_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, with LIKE's wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
