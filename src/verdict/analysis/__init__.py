"""Analysis: metric definitions -> SQL in the data's own engine -> per-variant statistics.

No FastAPI, no Verdict ORM: the package runs in the server's worker, in the CLI, or in
a notebook against a warehouse. :func:`compute` is the entry point; SQL is generated
once from the definitions and rendered for SQLite, PostgreSQL, DuckDB, ClickHouse
(chdb) and Spark SQL by sqlglot (:mod:`verdict.analysis.dialects` says why sqlglot).
"""

from verdict.analysis.definitions import (
    Aggregation,
    AnalysisSpec,
    MetricKind,
    MetricSpec,
    Period,
    VariantSpec,
)
from verdict.analysis.engines import (
    AnalysisEngine,
    ChdbEngine,
    DuckDbEngine,
    SparkEngine,
    SqlAlchemyEngine,
    connect,
    from_sqlalchemy,
)
from verdict.analysis.errors import AnalysisDefinitionError, AnalysisError, DataSourceError
from verdict.analysis.incremental import IncrementalState
from verdict.analysis.mapping import (
    VERDICT_MAPPING,
    DataSourceMapping,
    EventSource,
    ExposureSource,
)
from verdict.analysis.pipeline import compute, discard
from verdict.analysis.statistics import Computation, VariantStatistics, cumulative_daily

__all__ = [
    "VERDICT_MAPPING",
    "Aggregation",
    "AnalysisDefinitionError",
    "AnalysisEngine",
    "AnalysisError",
    "AnalysisSpec",
    "ChdbEngine",
    "Computation",
    "DataSourceError",
    "DataSourceMapping",
    "DuckDbEngine",
    "EventSource",
    "ExposureSource",
    "IncrementalState",
    "MetricKind",
    "MetricSpec",
    "Period",
    "SparkEngine",
    "SqlAlchemyEngine",
    "VariantSpec",
    "VariantStatistics",
    "compute",
    "connect",
    "cumulative_daily",
    "discard",
    "from_sqlalchemy",
]
