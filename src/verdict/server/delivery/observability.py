"""Prometheus metrics: what the hot paths count, and the ``/metrics`` route that shows it.

- ``verdict_http_request_duration_seconds`` (histogram): per route template (never the
  raw path, so ids do not explode the label set), method and status. Server-sent event
  streams are left out: their duration is the length of a connection, not a latency.
- ``verdict_decisions_total{kind}``, ``verdict_assignments_total`` and
  ``verdict_events_ingested_total``: counters the evaluation and event routes feed
  through :func:`record_decisions`, :func:`record_assignments` and
  :func:`record_events_ingested`.
- ``verdict_config_snapshot_age_seconds{environment}`` (gauge) and
  ``verdict_config_streams`` (gauge): read from the app's snapshot cache and stream hub
  at scrape time.

``GET /metrics`` needs no credentials (scrapers rarely carry any) and is left out of the
OpenAPI spec; it shows counts and timings, never configuration or user data. Bind the
server to a private interface, or filter ``/metrics`` at the proxy, where that matters.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from verdict.server.delivery.snapshots import SnapshotCache
from verdict.server.delivery.stream import StreamHub

__all__ = [
    "MetricsMiddleware",
    "record_assignments",
    "record_decisions",
    "record_events_ingested",
    "router",
]

# Process-wide, like the process they describe: every app of the process adds to them.
REQUEST_DURATION = Histogram(
    "verdict_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template, method and status.",
    ["route", "method", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
DECISIONS = Counter(
    "verdict_decisions", "Decisions served to SDKs, by kind (flag, experiment).", ["kind"]
)
ASSIGNMENTS = Counter("verdict_assignments", "Assignments recorded.")
EVENTS_INGESTED = Counter("verdict_events_ingested", "Events accepted and committed.")


# Labelled children, looked up once rather than per request.
_DECISIONS_BY_KIND = {kind: DECISIONS.labels(kind=kind) for kind in ("flag", "experiment")}
_DURATIONS: dict[tuple[str, str, str], Any] = {}


def record_decisions(kind: str, n: int = 1) -> None:
    """Count ``n`` decisions of ``kind`` ("flag" or "experiment")."""
    counter = _DECISIONS_BY_KIND.get(kind)
    (counter or DECISIONS.labels(kind=kind)).inc(n)


def record_assignments(n: int = 1) -> None:
    ASSIGNMENTS.inc(n)


def record_events_ingested(n: int) -> None:
    EVENTS_INGESTED.inc(n)


class MetricsMiddleware:
    """Times every HTTP request; the route template is known only after routing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering
        streaming = False

        async def timed_send(message: Message) -> None:
            nonlocal status, streaming
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = dict(message.get("headers", []))
                streaming = headers.get(b"content-type", b"").startswith(b"text/event-stream")
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            if not streaming:
                route = scope.get("route")
                # path_format: the template as the spec writes it ({key}, not {key:path}).
                template = getattr(route, "path_format", None) or "unmatched"
                labels = (template, scope["method"], str(status))
                child = _DURATIONS.get(labels)
                if child is None:
                    child = _DURATIONS.setdefault(
                        labels,
                        REQUEST_DURATION.labels(route=template, method=labels[1], status=labels[2]),
                    )
                child.observe(time.perf_counter() - started)


class _DeliveryCollector(Collector):
    def __init__(self, cache: SnapshotCache, hub: StreamHub | None) -> None:
        self._cache = cache
        self._hub = hub

    def collect(self) -> Iterable[GaugeMetricFamily]:
        age = GaugeMetricFamily(
            "verdict_config_snapshot_age_seconds",
            "Seconds since the environment's compiled configuration was built.",
            labels=["environment"],
        )
        for snapshot in sorted(self._cache.cached(), key=lambda s: s.environment_key):
            age.add_metric([snapshot.environment_key], snapshot.age())
        yield age
        streams = GaugeMetricFamily(
            "verdict_config_streams", "Open server-sent event streams in this process."
        )
        streams.add_metric([], self._hub.open_streams if self._hub is not None else 0)
        yield streams


router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus text exposition: the process's metrics, then this app's delivery gauges."""
    app_registry = CollectorRegistry(auto_describe=True)
    app_registry.register(
        _DeliveryCollector(request.app.state.snapshots, getattr(request.app.state, "streams", None))
    )
    body = generate_latest(REGISTRY) + generate_latest(app_registry)
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)
