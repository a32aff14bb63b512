"""Database layer: declarative base, portable column types, engines and sessions."""

from verdict.server.db.base import Base, TimestampMixin, VersionedMixin, new_id, utcnow
from verdict.server.db.session import (
    create_db_engine,
    create_session_factory,
    get_db,
    session_scope,
)
from verdict.server.db.types import JSONDocument, UTCDateTime, db_enum

__all__ = [
    "Base",
    "JSONDocument",
    "TimestampMixin",
    "UTCDateTime",
    "VersionedMixin",
    "create_db_engine",
    "create_session_factory",
    "db_enum",
    "get_db",
    "new_id",
    "session_scope",
    "utcnow",
]
