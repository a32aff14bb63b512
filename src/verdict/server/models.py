"""Every ORM model, imported once so the metadata is complete (Alembic, tests)."""

from verdict.server.analysis.models import (
    AnalysisMethod,
    AnalysisRun,
    AnalysisRunStatus,
    AnalysisState,
    ExperimentResult,
    Metric,
    MetricAggregation,
    MetricCapping,
    MetricType,
)
from verdict.server.assignments.models import Assignment, AssignmentReason
from verdict.server.audit.models import AuditLogEntry
from verdict.server.bandits.models import BanditUpdate, BanditUpdateStatus
from verdict.server.datasources.models import DataSource
from verdict.server.db.base import Base
from verdict.server.environments.models import DEFAULT_ENVIRONMENTS, Environment
from verdict.server.events.models import Event
from verdict.server.experiments.models import (
    Experiment,
    ExperimentMetric,
    ExperimentPhase,
    ExperimentSegment,
    ExperimentStatus,
    ExperimentType,
    MetricRole,
    SegmentMatch,
    Variant,
)
from verdict.server.flags.models import (
    FeatureFlag,
    FeatureFlagEnvironment,
    FeatureFlagOverride,
    FeatureFlagPrerequisite,
    FlagValueType,
)
from verdict.server.identity.models import (
    AccessToken,
    AccessTokenKind,
    ApiKey,
    ApiKeyKind,
    Permission,
    Role,
    User,
    role_permissions,
    user_roles,
)
from verdict.server.segments.models import Segment

__all__ = [
    "DEFAULT_ENVIRONMENTS",
    "AccessToken",
    "AccessTokenKind",
    "AnalysisMethod",
    "AnalysisRun",
    "AnalysisRunStatus",
    "AnalysisState",
    "ApiKey",
    "ApiKeyKind",
    "Assignment",
    "AssignmentReason",
    "AuditLogEntry",
    "BanditUpdate",
    "BanditUpdateStatus",
    "Base",
    "DataSource",
    "Environment",
    "Event",
    "Experiment",
    "ExperimentMetric",
    "ExperimentPhase",
    "ExperimentResult",
    "ExperimentSegment",
    "ExperimentStatus",
    "ExperimentType",
    "FeatureFlag",
    "FeatureFlagEnvironment",
    "FeatureFlagOverride",
    "FeatureFlagPrerequisite",
    "FlagValueType",
    "Metric",
    "MetricAggregation",
    "MetricCapping",
    "MetricRole",
    "MetricType",
    "Permission",
    "Role",
    "Segment",
    "SegmentMatch",
    "User",
    "Variant",
    "role_permissions",
    "user_roles",
]
