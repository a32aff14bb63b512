"""Metric definitions and experiment results.

A metric is defined once (event name, type, aggregation, capping, window) and linked to
any number of experiments with a role; a result row is one (experiment, variant, metric,
method) outcome of an analysis run, with the figures the statistics engine produced.
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
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from verdict.server.db.base import Base, TimestampMixin, VersionedMixin, new_id, utcnow
from verdict.server.db.keys import key_constraints
from verdict.server.db.types import db_enum

if TYPE_CHECKING:
    from verdict.server.experiments.models import Experiment, ExperimentPhase, Variant

__all__ = [
    "AnalysisMethod",
    "AnalysisRun",
    "AnalysisRunStatus",
    "AnalysisState",
    "ExperimentResult",
    "Metric",
    "MetricAggregation",
    "MetricCapping",
    "MetricType",
]


class MetricType(enum.StrEnum):
    CONVERSION = "conversion"  # did the unit do it at least once (seed 004 "Rate")
    REVENUE = "revenue"
    COUNT = "count"
    DURATION = "duration"
    RATIO = "ratio"  # numerator metric / denominator metric, per unit sums
    CUSTOM = "custom"


class MetricAggregation(enum.StrEnum):
    SUM = "sum"
    MEAN = "mean"  # seed 001/004 "average"
    COUNT = "count"
    UNIQUE = "unique"  # 1 if the unit has any event
    MAX = "max"
    MIN = "min"
    PERCENTILE = "percentile"


class MetricCapping(enum.StrEnum):
    NONE = "none"
    ABSOLUTE = "absolute"  # per-unit values above cap_value are set to cap_value
    PERCENTILE = "percentile"  # cap at the cap_value quantile (0-1) of per-unit values


class AnalysisMethod(enum.StrEnum):
    FREQUENTIST = "frequentist"
    BAYESIAN = "bayesian"
    SEQUENTIAL = "sequential"


class AnalysisRunStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Metric(TimestampMixin, VersionedMixin, Base):
    __tablename__ = "metrics"
    __table_args__ = (
        *key_constraints(),
        CheckConstraint(
            "type <> 'ratio' OR denominator_metric_id IS NOT NULL", name="ratio_has_denominator"
        ),
        CheckConstraint(
            "denominator_metric_id IS NULL OR denominator_metric_id <> id",
            name="denominator_not_self",
        ),
        CheckConstraint(
            "aggregation <> 'percentile' OR (percentile > 0 AND percentile < 1)",
            name="percentile_fraction",
        ),
        CheckConstraint(
            "capping = 'none' OR (cap_value IS NOT NULL AND cap_value > 0)",
            name="cap_value_for_capping",
        ),
        CheckConstraint("capping <> 'percentile' OR cap_value < 1", name="percentile_cap_fraction"),
        CheckConstraint(
            "conversion_window_hours IS NULL OR conversion_window_hours > 0",
            name="conversion_window_positive",
        ),
        CheckConstraint("conversion_delay_hours >= 0", name="conversion_delay_not_negative"),
        CheckConstraint(
            "minimum_sample_size IS NULL OR minimum_sample_size >= 0",
            name="minimum_sample_size_not_negative",
        ),
        Index("ix_metrics_event_name", "event_name"),
        Index("ix_metrics_denominator_metric_id", "denominator_metric_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    event_name: Mapped[str] = mapped_column(String(255))
    type: Mapped[MetricType] = mapped_column(db_enum(MetricType, "metric_type"))
    aggregation: Mapped[MetricAggregation] = mapped_column(
        db_enum(MetricAggregation, "metric_aggregation"),
        default=MetricAggregation.SUM,
        server_default=MetricAggregation.SUM.value,
    )
    percentile: Mapped[float | None] = mapped_column(Float)
    # JSON path into the event to read the value (default: the event's ``value``).
    value_path: Mapped[str | None] = mapped_column(String(255))
    # Free-text definition of how the figure is calculated (seed 004 ``calculation``).
    calculation: Mapped[str | None] = mapped_column(Text)
    denominator_metric_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("metrics.id", ondelete="RESTRICT")
    )
    lower_is_better: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    minimum_sample_size: Mapped[int | None] = mapped_column(Integer)
    expected_effect: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str | None] = mapped_column(String(50))
    capping: Mapped[MetricCapping] = mapped_column(
        db_enum(MetricCapping, "metric_capping"),
        default=MetricCapping.NONE,
        server_default=MetricCapping.NONE.value,
    )
    cap_value: Mapped[float | None] = mapped_column(Float)
    conversion_window_hours: Mapped[float | None] = mapped_column(Float)
    conversion_delay_hours: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    tags: Mapped[list[Any]] = mapped_column(default=list, server_default="[]")
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    archived: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")

    denominator: Mapped[Metric | None] = relationship(remote_side=[id])


class ExperimentResult(Base):
    __tablename__ = "experiment_results"
    __table_args__ = (
        CheckConstraint(
            "p_value IS NULL OR (p_value >= 0 AND p_value <= 1)", name="p_value_fraction"
        ),
        CheckConstraint("sample_size >= 0", name="sample_size_not_negative"),
        CheckConstraint(
            "conversions IS NULL OR (conversions >= 0 AND conversions <= sample_size)",
            name="conversions_within_sample",
        ),
        CheckConstraint("variance IS NULL OR variance >= 0", name="variance_not_negative"),
        CheckConstraint(
            "ci_lower IS NULL OR ci_upper IS NULL OR mean_value IS NULL OR "
            "(ci_lower <= mean_value AND mean_value <= ci_upper)",
            name="interval_contains_mean",
        ),
        CheckConstraint(
            "lift_ci_lower IS NULL OR lift_ci_upper IS NULL OR relative_lift IS NULL OR "
            "(lift_ci_lower <= relative_lift AND relative_lift <= lift_ci_upper)",
            name="interval_contains_lift",
        ),
        CheckConstraint(
            "chance_to_win IS NULL OR (chance_to_win >= 0 AND chance_to_win <= 1)",
            name="chance_to_win_fraction",
        ),
        CheckConstraint(
            "statistical_power IS NULL OR (statistical_power >= 0 AND statistical_power <= 1)",
            name="power_fraction",
        ),
        CheckConstraint("expected_loss IS NULL OR expected_loss >= 0", name="loss_not_negative"),
        CheckConstraint(
            "confidence_level > 0 AND confidence_level < 1", name="confidence_level_fraction"
        ),
        CheckConstraint(
            "data_window_start IS NULL OR data_window_end IS NULL "
            "OR data_window_end >= data_window_start",
            name="window_ordered",
        ),
        Index(
            "ix_experiment_results_experiment_id_metric_id_computed_at",
            "experiment_id",
            "metric_id",
            "computed_at",
        ),
        ForeignKeyConstraint(
            ["experiment_id", "variant_id"],
            ["variants.experiment_id", "variants.id"],
            ondelete="CASCADE",
        ),
        Index("ix_experiment_results_variant_id", "variant_id"),
        Index("ix_experiment_results_phase_id", "phase_id"),
        Index("ix_experiment_results_run_id", "run_id"),
        CheckConstraint(
            "(dimension IS NULL) = (dimension_value IS NULL)", name="dimension_with_value"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    experiment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE")
    )
    variant_id: Mapped[uuid.UUID] = mapped_column()
    metric_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("metrics.id", ondelete="CASCADE"))
    phase_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("experiment_phases.id", ondelete="SET NULL")
    )
    method: Mapped[AnalysisMethod] = mapped_column(db_enum(AnalysisMethod, "analysis_method"))
    cuped: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    sample_size: Mapped[int] = mapped_column(Integer)
    conversions: Mapped[int | None] = mapped_column(Integer)
    mean_value: Mapped[float | None] = mapped_column(Float)
    variance: Mapped[float | None] = mapped_column(Float)
    ci_lower: Mapped[float | None] = mapped_column(Float)
    ci_upper: Mapped[float | None] = mapped_column(Float)
    absolute_lift: Mapped[float | None] = mapped_column(Float)
    relative_lift: Mapped[float | None] = mapped_column(Float)
    lift_ci_lower: Mapped[float | None] = mapped_column(Float)
    lift_ci_upper: Mapped[float | None] = mapped_column(Float)
    p_value: Mapped[float | None] = mapped_column(Float)
    chance_to_win: Mapped[float | None] = mapped_column(Float)
    expected_loss: Mapped[float | None] = mapped_column(Float)
    statistical_power: Mapped[float | None] = mapped_column(Float)
    confidence_level: Mapped[float] = mapped_column(Float, default=0.95, server_default="0.95")
    computed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    data_window_start: Mapped[dt.datetime | None]
    data_window_end: Mapped[dt.datetime | None]
    # The analysis run that produced the row (null for rows written by hand or imported).
    run_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("analysis_runs.id", ondelete="CASCADE")
    )
    # A breakdown: the assignment-context attribute and its value; null for the overall row.
    dimension: Mapped[str | None] = mapped_column(String(100))
    dimension_value: Mapped[str | None] = mapped_column(String(255))
    absolute_ci_lower: Mapped[float | None] = mapped_column(Float)
    absolute_ci_upper: Mapped[float | None] = mapped_column(Float)
    # CUPED rows: the share of variance the covariate removed.
    variance_reduction: Mapped[float | None] = mapped_column(Float)
    # Why a figure is missing ("not enough data", "no control units", ...).
    note: Mapped[str | None] = mapped_column(Text)

    experiment: Mapped[Experiment] = relationship()
    variant: Mapped[Variant] = relationship(viewonly=True)
    metric: Mapped[Metric] = relationship()
    phase: Mapped[ExperimentPhase | None] = relationship()


class AnalysisRun(Base):
    """One analysis of one experiment: its status, window, checks, verdict and series.

    A failed run keeps its error and leaves the previous run's results in place; the
    results of a run are only visible once it has succeeded.
    """

    __tablename__ = "analysis_runs"
    __table_args__ = (
        Index("ix_analysis_runs_experiment_id_created_at", "experiment_id", "created_at"),
        CheckConstraint(
            "finished_at IS NULL OR started_at IS NULL OR finished_at >= started_at",
            name="finished_after_started",
        ),
        CheckConstraint("progress >= 0 AND progress <= 1", name="progress_fraction"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    experiment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE")
    )
    phase_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("experiment_phases.id", ondelete="SET NULL")
    )
    status: Mapped[AnalysisRunStatus] = mapped_column(
        db_enum(AnalysisRunStatus, "analysis_run_status")
    )
    full: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    trigger: Mapped[str] = mapped_column(String(20))  # api, cli, worker
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    progress: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    stage: Mapped[str | None] = mapped_column(String(100))
    error: Mapped[str | None] = mapped_column(Text)
    error_field: Mapped[str | None] = mapped_column(String(255))
    data_window_start: Mapped[dt.datetime | None]
    data_window_end: Mapped[dt.datetime | None]
    # The event window this run scanned: all of it on a full run, the new part otherwise.
    scanned_from: Mapped[dt.datetime | None]
    scanned_to: Mapped[dt.datetime | None]
    method: Mapped[AnalysisMethod | None] = mapped_column(
        db_enum(AnalysisMethod, "analysis_method")
    )
    # {"exposures": {variant: n}, "multiple_exposures": n, ...}
    summary: Mapped[dict[str, Any] | None] = mapped_column()
    srm: Mapped[dict[str, Any] | None] = mapped_column()
    decision: Mapped[dict[str, Any] | None] = mapped_column()
    # {metric key: [{"day", "variant", "units", "mean", "lift", ...}, ...]}
    timeseries: Mapped[dict[str, Any] | None] = mapped_column()

    experiment: Mapped[Experiment] = relationship()


class AnalysisState(Base):
    """Per experiment: the incremental state, the inputs last analysed, retries and lock.

    The lock columns are the portable lock (a conditional UPDATE of this row), used on
    SQLite; PostgreSQL takes an advisory lock instead and leaves them empty.
    """

    __tablename__ = "analysis_states"

    experiment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    incremental: Mapped[dict[str, Any] | None] = mapped_column()
    inputs_marker: Mapped[str | None] = mapped_column(String(255))
    last_run_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("analysis_runs.id", ondelete="SET NULL")
    )
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[dt.datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    locked_by: Mapped[str | None] = mapped_column(String(100))
    locked_until: Mapped[dt.datetime | None]
