"""Experiment tables: the experiment, its variants, allocation phases and links.

Weights are fractions in [0, 1] (seed 000's ``traffic_weight``); the API speaks in
percent where users expect it. Coverage is the fraction of eligible units enrolled.
A layer owns 10,000 buckets; an experiment in a layer owns ``[bucket_start, bucket_end)``.
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
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from verdict.server.analysis.models import AnalysisMethod
from verdict.server.db.base import Base, TimestampMixin, VersionedMixin, new_id, utcnow
from verdict.server.db.keys import key_constraints
from verdict.server.db.types import db_enum

if TYPE_CHECKING:
    from verdict.server.analysis.models import Metric
    from verdict.server.datasources.models import DataSource
    from verdict.server.environments.models import Environment
    from verdict.server.identity.models import User
    from verdict.server.segments.models import Segment

__all__ = [
    "BUCKET_COUNT",
    "Experiment",
    "ExperimentMetric",
    "ExperimentPhase",
    "ExperimentSegment",
    "ExperimentStatus",
    "ExperimentType",
    "MetricRole",
    "SegmentMatch",
    "Variant",
]

BUCKET_COUNT = 10_000


class ExperimentType(enum.StrEnum):
    A_B = "a_b"
    MULTIVARIATE = "multivariate"
    SPLIT_URL = "split_url"
    BANDIT = "bandit"
    FEATURE = "feature"


class ExperimentStatus(enum.StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    ARCHIVED = "archived"


class MetricRole(enum.StrEnum):
    PRIMARY = "primary"
    SECONDARY = "secondary"
    GUARDRAIL = "guardrail"


class SegmentMatch(enum.StrEnum):
    INCLUDE = "include"
    EXCLUDE = "exclude"


class Experiment(TimestampMixin, VersionedMixin, Base):
    __tablename__ = "experiments"
    __table_args__ = (
        *key_constraints(),
        CheckConstraint("coverage >= 0 AND coverage <= 1", name="coverage_fraction"),
        CheckConstraint(
            f"bucket_start >= 0 AND bucket_end <= {BUCKET_COUNT} AND bucket_start < bucket_end",
            name="bucket_range",
        ),
        CheckConstraint(
            "minimum_sample_size IS NULL OR minimum_sample_size >= 0",
            name="minimum_sample_size_not_negative",
        ),
        CheckConstraint(
            "end_at IS NULL OR start_at IS NULL OR end_at > start_at", name="end_after_start"
        ),
        CheckConstraint(
            "completed_at IS NULL OR started_at IS NULL OR completed_at >= started_at",
            name="completed_after_started",
        ),
        CheckConstraint(
            "statistical_significance IS NULL OR "
            "(statistical_significance >= 0 AND statistical_significance <= 1)",
            name="significance_fraction",
        ),
        CheckConstraint(
            "confidence_level > 0 AND confidence_level < 1", name="confidence_level_fraction"
        ),
        Index("ix_experiments_status", "status"),
        Index("ix_experiments_target", "target"),
        Index("ix_experiments_created_at", "created_at"),
        Index("ix_experiments_owner_id", "owner_id"),
        Index("ix_experiments_layer", "layer"),
        Index("ix_experiments_environment_id", "environment_id"),
        Index("ix_experiments_data_source_id", "data_source_id"),
        CheckConstraint("cuped_days IS NULL OR cuped_days > 0", name="cuped_days_positive"),
        CheckConstraint(
            "bandit_update_minutes >= 1 AND bandit_update_minutes <= 10080",
            name="bandit_update_minutes_range",
        ),
        CheckConstraint("bandit_floor > 0 AND bandit_floor <= 0.5", name="bandit_floor_range"),
        CheckConstraint("bandit_burn_in >= 0", name="bandit_burn_in_not_negative"),
        CheckConstraint(
            "bandit_top_two IS NULL OR (bandit_top_two > 0 AND bandit_top_two <= 1)",
            name="bandit_top_two_fraction",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    hypothesis: Mapped[str | None] = mapped_column(Text)
    type: Mapped[ExperimentType] = mapped_column(
        db_enum(ExperimentType, "experiment_type"),
        default=ExperimentType.A_B,
        server_default=ExperimentType.A_B.value,
    )
    status: Mapped[ExperimentStatus] = mapped_column(
        db_enum(ExperimentStatus, "experiment_status"),
        default=ExperimentStatus.DRAFT,
        server_default=ExperimentStatus.DRAFT.value,
    )
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # What the experiment acts on, e.g. the bot whose responses it varies (seed 000).
    target: Mapped[str | None] = mapped_column(String(255))
    # Null: the experiment runs in every environment.
    environment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("environments.id", ondelete="CASCADE")
    )
    targeting: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    # QA forcing: {unit id: variant key}, honoured whatever the status or allocation.
    forced_variants: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    hash_attribute: Mapped[str] = mapped_column(String(100), default="id", server_default="id")
    hash_seed: Mapped[str | None] = mapped_column(String(100))
    coverage: Mapped[float] = mapped_column(Float, default=1.0, server_default="1")
    layer: Mapped[str | None] = mapped_column(String(100))
    bucket_start: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    bucket_end: Mapped[int] = mapped_column(
        Integer, default=BUCKET_COUNT, server_default=str(BUCKET_COUNT)
    )
    minimum_sample_size: Mapped[int | None] = mapped_column(Integer)
    confidence_level: Mapped[float] = mapped_column(Float, default=0.95, server_default="0.95")
    tags: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    start_at: Mapped[dt.datetime | None]  # planned
    end_at: Mapped[dt.datetime | None]  # planned
    started_at: Mapped[dt.datetime | None]  # actual
    completed_at: Mapped[dt.datetime | None]  # actual
    winner_variant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("variants.id", ondelete="SET NULL", use_alter=True)
    )
    statistical_significance: Mapped[float | None] = mapped_column(Float)
    # Analysis settings: where the data is read (null: Verdict's own database), the
    # method, the CUPED pre-exposure window in days (null: no CUPED) and the
    # assignment-context attributes results are broken down by.
    data_source_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("data_sources.id", ondelete="RESTRICT")
    )
    analysis_method: Mapped[AnalysisMethod] = mapped_column(
        db_enum(AnalysisMethod, "analysis_method"),
        default=AnalysisMethod.FREQUENTIST,
        server_default=AnalysisMethod.FREQUENTIST.value,
    )
    cuped_days: Mapped[float | None] = mapped_column(Float)
    breakdowns: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    # Bandit settings (type BANDIT only, see docs/bandits.md): minutes between weight
    # updates, the least weight an arm keeps, the units every arm needs before the
    # first update, and top-two sampling's beta (null: plain Thompson sampling).
    bandit_update_minutes: Mapped[int] = mapped_column(Integer, default=60, server_default="60")
    bandit_floor: Mapped[float] = mapped_column(Float, default=0.01, server_default="0.01")
    bandit_burn_in: Mapped[int] = mapped_column(Integer, default=100, server_default="100")
    bandit_top_two: Mapped[float | None] = mapped_column(Float)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    updated_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )

    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])
    environment: Mapped[Environment | None] = relationship()
    data_source: Mapped[DataSource | None] = relationship()
    variants: Mapped[list[Variant]] = relationship(
        back_populates="experiment",
        cascade="all, delete-orphan",
        order_by="Variant.position",
        foreign_keys="Variant.experiment_id",
    )
    winner_variant: Mapped[Variant | None] = relationship(
        foreign_keys=[winner_variant_id], post_update=True
    )
    phases: Mapped[list[ExperimentPhase]] = relationship(
        back_populates="experiment", cascade="all, delete-orphan", order_by="ExperimentPhase.number"
    )
    metric_links: Mapped[list[ExperimentMetric]] = relationship(
        back_populates="experiment",
        cascade="all, delete-orphan",
        order_by="ExperimentMetric.position",
    )
    segment_links: Mapped[list[ExperimentSegment]] = relationship(
        back_populates="experiment", cascade="all, delete-orphan"
    )


class Variant(TimestampMixin, Base):
    __tablename__ = "variants"
    __table_args__ = (
        UniqueConstraint("experiment_id", "key"),
        # Lets assignments and results reference (experiment, variant) together, so a
        # variant of another experiment is refused by the database (seed 004's rule).
        UniqueConstraint("experiment_id", "id"),
        CheckConstraint("weight >= 0 AND weight <= 1", name="weight_fraction"),
        CheckConstraint("impressions >= 0", name="impressions_not_negative"),
        CheckConstraint(
            "conversions >= 0 AND conversions <= impressions", name="conversions_within_impressions"
        ),
        CheckConstraint(
            "conversion_rate >= 0 AND conversion_rate <= 1", name="conversion_rate_fraction"
        ),
        CheckConstraint(
            "confidence_interval_lower IS NULL OR confidence_interval_upper IS NULL "
            "OR confidence_interval_lower <= confidence_interval_upper",
            name="interval_ordered",
        ),
        # At most one control per experiment.
        Index(
            "ux_variants_one_control",
            "experiment_id",
            unique=True,
            postgresql_where=text("is_control"),
            sqlite_where=text("is_control"),
        ),
        Index("ix_variants_key", "key"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    experiment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE")
    )
    key: Mapped[str] = mapped_column(String(100))
    label: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    is_control: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    weight: Mapped[float] = mapped_column(Float, default=0.5, server_default="0.5")
    position: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    configuration: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    url: Mapped[str | None] = mapped_column(Text)  # split-URL target
    response_template: Mapped[str | None] = mapped_column(Text)
    system_prompt: Mapped[str | None] = mapped_column(Text)
    config_overrides: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    # Cached counters and interval refreshed by analysis (seed 000); the truth is in
    # assignments and events.
    impressions: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    conversions: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    conversion_rate: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    total_value: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    confidence_interval_lower: Mapped[float | None] = mapped_column(Float)
    confidence_interval_upper: Mapped[float | None] = mapped_column(Float)

    experiment: Mapped[Experiment] = relationship(
        back_populates="variants", foreign_keys=[experiment_id]
    )


class ExperimentPhase(Base):
    """One period of constant allocation; a change of coverage or weights opens the next."""

    __tablename__ = "experiment_phases"
    __table_args__ = (
        UniqueConstraint("experiment_id", "number"),
        CheckConstraint("number >= 1", name="number_positive"),
        CheckConstraint("coverage >= 0 AND coverage <= 1", name="coverage_fraction"),
        CheckConstraint("ended_at IS NULL OR ended_at >= started_at", name="ended_after_started"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    experiment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE")
    )
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[dt.datetime | None]
    coverage: Mapped[float] = mapped_column(Float)
    # {variant key: weight} in force during the phase.
    weights: Mapped[dict[str, Any]] = mapped_column()
    reason: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )

    experiment: Mapped[Experiment] = relationship(back_populates="phases")


class ExperimentMetric(Base):
    """Which metric an experiment is judged on, and in what role."""

    __tablename__ = "experiment_metrics"
    __table_args__ = (
        Index(
            "ux_experiment_metrics_one_primary",
            "experiment_id",
            unique=True,
            postgresql_where=text("role = 'primary'"),
            sqlite_where=text("role = 'primary'"),
        ),
        Index("ix_experiment_metrics_metric_id", "metric_id"),
        CheckConstraint(
            "non_inferiority_margin IS NULL OR non_inferiority_margin >= 0",
            name="margin_not_negative",
        ),
    )

    experiment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    metric_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("metrics.id", ondelete="RESTRICT"), primary_key=True
    )
    role: Mapped[MetricRole] = mapped_column(db_enum(MetricRole, "metric_role"))
    position: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Guardrails: the largest relative harm tolerated before the guardrail is breached.
    non_inferiority_margin: Mapped[float | None] = mapped_column(Float)

    experiment: Mapped[Experiment] = relationship(back_populates="metric_links")
    metric: Mapped[Metric] = relationship()


class ExperimentSegment(Base):
    """Segments an experiment includes or excludes (seed 004's include/exclude lists)."""

    __tablename__ = "experiment_segments"
    __table_args__ = (Index("ix_experiment_segments_segment_id", "segment_id"),)

    experiment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    segment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("segments.id", ondelete="RESTRICT"), primary_key=True
    )
    match: Mapped[SegmentMatch] = mapped_column(db_enum(SegmentMatch, "segment_match"))

    experiment: Mapped[Experiment] = relationship(back_populates="segment_links")
    segment: Mapped[Segment] = relationship()
