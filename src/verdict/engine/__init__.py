"""Evaluation engine: bucketing, targeting conditions, flag and experiment decisions.

Pure code over plain data: no I/O, no server, database or web imports (standard
library, mmh3 and RE2 only), shared by the server and the SDK so every decision is the
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
from verdict.engine.limits import (
    MAX_CONDITION_DEPTH,
    MAX_CONDITION_NODES,
    MAX_EXPANDED_NODES,
    MAX_PREREQUISITE_DEPTH,
    MAX_RULES_PER_FLAG,
    MAX_SEGMENT_REFERENCES,
)
from verdict.engine.regex_guard import MAX_INPUT_LENGTH, MAX_PATTERN_LENGTH, MAX_REGEX_MEMORY
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
    "MAX_CONDITION_DEPTH",
    "MAX_CONDITION_NODES",
    "MAX_EXPANDED_NODES",
    "MAX_INPUT_LENGTH",
    "MAX_PATTERN_LENGTH",
    "MAX_PREREQUISITE_DEPTH",
    "MAX_REGEX_MEMORY",
    "MAX_RULES_PER_FLAG",
    "MAX_SEGMENT_REFERENCES",
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
