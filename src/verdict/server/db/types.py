"""Portable column types: one Python type, the best storage on each database.

- JSON documents are JSONB on PostgreSQL (indexable, compact) and JSON text on SQLite.
- Timestamps are timezone-aware UTC in Python everywhere; SQLite keeps no zone, so the
  zone is attached on read and aware values are normalised to UTC on write.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, DateTime, Enum
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

__all__ = ["JSONDocument", "UTCDateTime", "db_enum"]

JSONDocument = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A ``timestamp with time zone`` that always round-trips as an aware UTC datetime."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[dt.datetime]:
        # TypeDecorator answers ``object``; cursor paging parses timestamps back by it.
        return dt.datetime

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: Verdict stores only timezone-aware timestamps")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
        assert isinstance(moment, dt.datetime)
        if moment.tzinfo is None:
            return moment.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC)


def db_enum(enum_class: type[enum.Enum], name: str) -> Enum:
    """A named enumeration stored by value.

    PostgreSQL gets a real ENUM type (created and dropped by the migrations); SQLite gets
    a VARCHAR with a CHECK constraint, so both refuse a value outside the set.
    """
    return Enum(
        enum_class,
        name=name,
        values_callable=lambda members: [member.value for member in members],
        create_constraint=True,
        validate_strings=True,
        length=max(len(member.value) for member in enum_class),
    )
