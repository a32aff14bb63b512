"""Feature flag tables.

A flag is defined once (key, type, default, variants) and has one state per environment
(kill switch, ordered rules, rollout percentage): the same flag is usually on in
development long before production. Prerequisites and per-unit overrides complete it.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from verdict.server.db.base import Base, TimestampMixin, VersionedMixin, new_id, utcnow
from verdict.server.db.keys import key_constraints
from verdict.server.db.types import db_enum

if TYPE_CHECKING:
    from verdict.server.environments.models import Environment
    from verdict.server.experiments.models import Experiment
    from verdict.server.identity.models import User

__all__ = [
    "FeatureFlag",
    "FeatureFlagEnvironment",
    "FeatureFlagOverride",
    "FeatureFlagPrerequisite",
    "FlagValueType",
]


class FlagValueType(enum.StrEnum):
    """The engine's flag types (``verdict.engine.FlagType``), stored by value."""

    BOOLEAN = "boolean"
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    JSON = "json"


class FeatureFlag(TimestampMixin, VersionedMixin, Base):
    __tablename__ = "feature_flags"
    __table_args__ = (
        *key_constraints(),
        Index("ix_feature_flags_owner_id", "owner_id"),
        Index("ix_feature_flags_experiment_id", "experiment_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    value_type: Mapped[FlagValueType] = mapped_column(
        db_enum(FlagValueType, "flag_value_type"),
        default=FlagValueType.BOOLEAN,
        server_default=FlagValueType.BOOLEAN.value,
    )
    default_value: Mapped[Any] = mapped_column()
    # Named values a rule can serve or split between: [{"key", "value", "weight"?}].
    variants: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    tags: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    experiment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("experiments.id", ondelete="SET NULL")
    )
    archived: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    updated_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )

    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])
    experiment: Mapped[Experiment | None] = relationship()
    environments: Mapped[list[FeatureFlagEnvironment]] = relationship(
        back_populates="flag", cascade="all, delete-orphan"
    )
    prerequisites: Mapped[list[FeatureFlagPrerequisite]] = relationship(
        back_populates="flag",
        cascade="all, delete-orphan",
        foreign_keys="FeatureFlagPrerequisite.flag_id",
    )
    overrides: Mapped[list[FeatureFlagOverride]] = relationship(
        back_populates="flag", cascade="all, delete-orphan"
    )


class FeatureFlagEnvironment(VersionedMixin, Base):
    """A flag's state in one environment."""

    __tablename__ = "feature_flag_environments"
    __table_args__ = (
        UniqueConstraint("flag_id", "environment_id"),
        CheckConstraint(
            "rollout_percentage IS NULL OR (rollout_percentage >= 0 AND rollout_percentage <= 100)",
            name="rollout_percentage_range",
        ),
        Index("ix_feature_flag_environments_environment_id", "environment_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    flag_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("feature_flags.id", ondelete="CASCADE"))
    environment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("environments.id", ondelete="CASCADE")
    )
    # The kill switch: off serves the default to everyone.
    enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # Ordered rules, first match wins: force / rollout / split, each with a condition.
    rules: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    # A flag-wide gradual rollout applied after the rules (seed 001/004).
    rollout_percentage: Mapped[float | None] = mapped_column(Float)
    updated_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    flag: Mapped[FeatureFlag] = relationship(back_populates="environments")
    environment: Mapped[Environment] = relationship()


class FeatureFlagPrerequisite(Base):
    """``flag`` is evaluated only when ``prerequisite`` evaluates to ``required_value``."""

    __tablename__ = "feature_flag_prerequisites"
    __table_args__ = (
        CheckConstraint("flag_id <> prerequisite_flag_id", name="not_self"),
        Index("ix_feature_flag_prerequisites_prerequisite_flag_id", "prerequisite_flag_id"),
    )

    flag_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("feature_flags.id", ondelete="CASCADE"), primary_key=True
    )
    # RESTRICT: a flag others depend on cannot disappear under them (seed 004).
    prerequisite_flag_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("feature_flags.id", ondelete="RESTRICT"), primary_key=True
    )
    required_value: Mapped[Any] = mapped_column()

    flag: Mapped[FeatureFlag] = relationship(back_populates="prerequisites", foreign_keys=[flag_id])
    prerequisite: Mapped[FeatureFlag] = relationship(foreign_keys=[prerequisite_flag_id])


class FeatureFlagOverride(VersionedMixin, Base):
    """A value forced for one unit in one environment, optionally until a time."""

    __tablename__ = "feature_flag_overrides"
    __table_args__ = (
        UniqueConstraint("flag_id", "environment_id", "unit_id"),
        CheckConstraint("length(unit_id) > 0", name="unit_id_not_empty"),
        CheckConstraint(
            "expires_at IS NULL OR expires_at > created_at", name="expires_after_created"
        ),
        Index("ix_feature_flag_overrides_environment_id", "environment_id"),
        Index("ix_feature_flag_overrides_expires_at", "expires_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    flag_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("feature_flags.id", ondelete="CASCADE"))
    environment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("environments.id", ondelete="CASCADE")
    )
    unit_id: Mapped[str] = mapped_column(String(255))
    value: Mapped[Any] = mapped_column()
    reason: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[dt.datetime | None]
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    flag: Mapped[FeatureFlag] = relationship(back_populates="overrides")
    environment: Mapped[Environment] = relationship()
