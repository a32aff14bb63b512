"""Evaluation engine: bucketing, targeting conditions, flag and experiment decisions.

Pure code over plain data: no I/O, no server, database or web imports (standard
library and mmh3 only), shared by the server and the SDK so every decision is the
same everywhere. Compile a configuration once with :func:`compile_config`, then ask
the resulting :class:`Snapshot` for flag values and experiment decisions.
"""

from verdict.engine.conditions import (
    CompiledCondition,
    SegmentTable,
    compile_condition,
    evaluate_condition,
)
from verdict.engine.errors import ConditionError, ConfigError, ConfigIssue
from verdict.engine.experiments import CompiledExperiment, Layer
from verdict.engine.flags import CompiledFlag
from verdict.engine.hashing import (
    BUCKETS,
    bucket,
    fraction_threshold,
    inclusion_bucket,
    layer_bucket,
    percentage_threshold,
    variant_index,
    weight_boundaries,
)
from verdict.engine.semver import padded_version_string
from verdict.engine.snapshot import Snapshot, compile_config
from verdict.engine.types import (
    Attributes,
    ErrorCode,
    EvaluationContext,
    ExperimentReason,
    ExperimentResult,
    FlagResult,
    FlagType,
    Reason,
    StickyAssignments,
)

__all__ = [
    "BUCKETS",
    "Attributes",
    "CompiledCondition",
    "CompiledExperiment",
    "CompiledFlag",
    "ConditionError",
    "ConfigError",
    "ConfigIssue",
    "ErrorCode",
    "EvaluationContext",
    "ExperimentReason",
    "ExperimentResult",
    "FlagResult",
    "FlagType",
    "Layer",
    "Reason",
    "SegmentTable",
    "Snapshot",
    "StickyAssignments",
    "bucket",
    "compile_condition",
    "compile_config",
    "evaluate_condition",
    "fraction_threshold",
    "inclusion_bucket",
    "layer_bucket",
    "padded_version_string",
    "percentage_threshold",
    "variant_index",
    "weight_boundaries",
]
