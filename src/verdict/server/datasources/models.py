"""A data source: a connection URL plus the mapping of its exposure and event tables.

Verdict's own database needs no row here: an experiment without a data source is
analysed from its ``assignments`` and ``events`` tables. A row names an external engine
(a DuckDB file or Parquet set, ClickHouse, Spark, a PostgreSQL warehouse …) and, for
each of the two inputs, a table or a SELECT and which of its columns hold what
(``verdict.analysis.mapping``). The URL may carry a password; the API never shows it.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Boolean, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from verdict.server.db.base import Base, TimestampMixin, VersionedMixin, new_id
from verdict.server.db.keys import key_constraints

__all__ = ["DataSource"]


class DataSource(TimestampMixin, VersionedMixin, Base):
    __tablename__ = "data_sources"
    __table_args__ = (*key_constraints(),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text)
    # {"table" | "query", "columns": {...}} for each input (verdict.analysis.mapping).
    exposures: Mapped[dict[str, Any]] = mapped_column()
    events: Mapped[dict[str, Any]] = mapped_column()
    archived: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
