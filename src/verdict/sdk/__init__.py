"""Python SDK: in-process evaluation against a configuration snapshot.

:class:`Client` downloads the environment's configuration document from a Verdict
server (or takes it from a bootstrap document), keeps it current over server-sent
events with ETag polling as fallback, and decides flags and experiments locally with
the shared engine. See docs/sdk.md.
"""

from verdict.engine import ErrorCode, EvaluationContext, ExperimentReason, Reason
from verdict.sdk.async_client import AsyncClient
from verdict.sdk.client import Client, Listener
from verdict.sdk.context import Context
from verdict.sdk.sticky import MemoryStickyStore, RedisStickyStore, StickyStore
from verdict.sdk.types import (
    ClientEvent,
    ClientStatus,
    EvaluationDetails,
    Exposure,
    MemoryRecorder,
    Recorder,
    TrackedEvent,
    VariantDetails,
)

__all__ = [
    "AsyncClient",
    "Client",
    "ClientEvent",
    "ClientStatus",
    "Context",
    "ErrorCode",
    "EvaluationContext",
    "EvaluationDetails",
    "ExperimentReason",
    "Exposure",
    "Listener",
    "MemoryRecorder",
    "MemoryStickyStore",
    "Reason",
    "Recorder",
    "RedisStickyStore",
    "StickyStore",
    "TrackedEvent",
    "VariantDetails",
]
