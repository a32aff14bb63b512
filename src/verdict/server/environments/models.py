"""The environment table: flags and keys are configured per environment."""

from __future__ import annotations

import uuid

from sqlalchemy import CheckConstraint, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from verdict.server.db.base import Base, TimestampMixin, VersionedMixin, new_id
from verdict.server.db.keys import key_constraints

__all__ = ["DEFAULT_ENVIRONMENTS", "Environment"]

# Created by the first migration, in this order.
DEFAULT_ENVIRONMENTS = (
    ("development", "Development"),
    ("staging", "Staging"),
    ("production", "Production"),
)


class Environment(TimestampMixin, VersionedMixin, Base):
    __tablename__ = "environments"
    __table_args__ = (
        *key_constraints(),
        CheckConstraint("sort_order >= 0", name="sort_order_not_negative"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(150))
    description: Mapped[str | None] = mapped_column(Text)
    sort_order: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
