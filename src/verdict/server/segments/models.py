"""The segment table: a named condition that flags and experiments reference by key."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from verdict.server.db.base import Base, TimestampMixin, VersionedMixin, new_id
from verdict.server.db.keys import key_constraints

__all__ = ["Segment"]


class Segment(TimestampMixin, VersionedMixin, Base):
    __tablename__ = "segments"
    __table_args__ = (
        *key_constraints(),
        CheckConstraint(
            "size_estimate IS NULL OR size_estimate >= 0", name="size_estimate_not_negative"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    # A targeting condition in the engine's language (docs/targeting.md).
    conditions: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    size_estimate: Mapped[int | None] = mapped_column(Integer)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
