"""The assignment table: one row per (experiment, unit), written once, kept sticky.

This is the largest table (seed 004: 10M+ rows an hour, ~200 B each, kept 180 days
after the experiment ends), so it carries only what analysis and stickiness need.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    SmallInteger,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from verdict.server.db.base import Base, new_id, utcnow
from verdict.server.db.types import db_enum

if TYPE_CHECKING:
    from verdict.server.experiments.models import Experiment, Variant

__all__ = ["Assignment", "AssignmentReason"]


class AssignmentReason(enum.StrEnum):
    BUCKETED = "bucketed"  # deterministic hash of the unit id
    FORCED = "forced"  # a QA override by unit id
    BANDIT = "bandit"  # bucketed with bandit-supplied weights
    MANUAL = "manual"  # written by an operator or imported


class Assignment(Base):
    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("experiment_id", "unit_id"),
        ForeignKeyConstraint(
            ["experiment_id", "variant_id"],
            ["variants.experiment_id", "variants.id"],
            ondelete="CASCADE",
        ),
        CheckConstraint("bucket IS NULL OR (bucket >= 0 AND bucket < 10000)", name="bucket_range"),
        CheckConstraint(
            "has_converted OR converted_at IS NULL", name="converted_at_needs_conversion"
        ),
        CheckConstraint("length(unit_id) > 0", name="unit_id_not_empty"),
        # "Every assignment of this unit" is an equality lookup: a hash index stores a
        # 4-byte hash instead of the key, a third of the B-tree's size on PostgreSQL.
        Index("ix_assignments_unit_id", "unit_id", postgresql_using="hash"),
        # Only converted rows are indexed: the partial index stays small.
        Index(
            "ix_assignments_converted",
            "experiment_id",
            "variant_id",
            postgresql_where=text("has_converted"),
            sqlite_where=text("has_converted"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    experiment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE")
    )
    variant_id: Mapped[uuid.UUID] = mapped_column()
    unit_id: Mapped[str] = mapped_column(String(255))
    device_id: Mapped[str | None] = mapped_column(String(255))
    session_id: Mapped[str | None] = mapped_column(String(255))
    context: Mapped[dict[str, Any] | None] = mapped_column()
    bucket: Mapped[int | None] = mapped_column(SmallInteger)
    reason: Mapped[AssignmentReason] = mapped_column(
        db_enum(AssignmentReason, "assignment_reason"),
        default=AssignmentReason.BUCKETED,
        server_default=AssignmentReason.BUCKETED.value,
    )
    sticky: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    assigned_at: Mapped[dt.datetime] = mapped_column(
        default=utcnow, server_default=text("CURRENT_TIMESTAMP")
    )
    has_converted: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    converted_at: Mapped[dt.datetime | None]

    experiment: Mapped[Experiment] = relationship()
    variant: Mapped[Variant] = relationship(viewonly=True)
