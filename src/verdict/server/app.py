"""The ASGI application: built by ``create_app(settings)``, never at import."""

from __future__ import annotations

import gc
import inspect
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp

from verdict import __version__
from verdict.server.analysis.results_router import router as analysis_router
from verdict.server.analysis.router import router as metrics_router
from verdict.server.api.auth_first import AuthenticateFirst
from verdict.server.api.headers import SdkCors, SecurityHeaders
from verdict.server.api.hot import HotPathDispatch
from verdict.server.api.limits import BodyTooLargeError, PathSet, RequestLimits, body_too_large
from verdict.server.api.openapi import complete_spec
from verdict.server.audit.router import router as audit_router
from verdict.server.bandits.router import router as bandits_router
from verdict.server.config import Settings
from verdict.server.datasources.router import router as data_sources_router
from verdict.server.db import create_db_engine, create_session_factory
from verdict.server.delivery.assignment import warm_catalogues
from verdict.server.delivery.assignment_router import router as assignment_router
from verdict.server.delivery.assignment_writer import AssignmentWriter
from verdict.server.delivery.changes import ChangeDelivery
from verdict.server.delivery.config_router import router as sdk_config_router
from verdict.server.delivery.evaluation_router import router as evaluation_router
from verdict.server.delivery.observability import MetricsMiddleware
from verdict.server.delivery.observability import router as prometheus_router
from verdict.server.delivery.ofrep_router import router as ofrep_router
from verdict.server.delivery.snapshots import SnapshotCache
from verdict.server.environments.router import router as environments_router
from verdict.server.events.router import router as events_router
from verdict.server.experiments.router import router as experiments_router
from verdict.server.exposures.router import router as exposures_router
from verdict.server.flags.router import router as flags_router
from verdict.server.health.router import router as health_router
from verdict.server.identity.keycache import ApiKeyCache
from verdict.server.identity.router import router as identity_router
from verdict.server.power.router import router as power_router
from verdict.server.problems import PROBLEM_RESPONSES, install_problem_handlers
from verdict.server.segments.router import router as segments_router
from verdict.server.web import install_dashboard

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

# The routes SDKs call with an environment's API key: first in routing order, their own
# body limit, CORS when configured, no 409 in the spec.
_SDK_ROUTERS = (
    evaluation_router,
    ofrep_router,
    assignment_router,
    events_router,
    exposures_router,
    sdk_config_router,
)
# The management API (and Prometheus), after the SDK routes and health.
_MANAGEMENT_ROUTERS = (
    identity_router,
    audit_router,
    power_router,
    metrics_router,
    experiments_router,
    analysis_router,
    bandits_router,
    data_sources_router,
    environments_router,
    segments_router,
    flags_router,
    prometheus_router,
)


def _telemetry(settings: Settings) -> dict[str, Any]:
    """FastAPI's own OpenTelemetry support (newer releases) checks for configured
    providers on every request; unless asked for, it is switched off."""
    if settings.opentelemetry or "telemetry" not in inspect.signature(FastAPI).parameters:
        return {}
    return {"telemetry": {"tracing": False, "metrics": False, "logs": False}}


def _warm_up(app: FastAPI) -> None:
    """Compile every environment's configuration before serving, so the first requests
    after a start do not all wait for (and compete with) the builds. A database that
    is not reachable yet is not fatal: the first requests build instead."""
    try:
        built = app.state.snapshots.warm()
        warm_catalogues(app.state.session_factory, built)
    except Exception as exc:
        logger.warning("could not compile configuration at start: %s", exc)


def _secure_every_response(app: FastAPI) -> None:
    """Security headers on every response, the server-error middleware's 500 included:
    they wrap the whole stack Starlette builds, not just the user middleware."""
    build = app.build_middleware_stack

    def build_secured() -> ASGIApp:
        return SecurityHeaders(build())

    app.build_middleware_stack = build_secured  # type: ignore[method-assign]


def _complete_spec(app: FastAPI, *, sdk_paths: frozenset[str]) -> None:
    """The generated spec, with the statuses and headers shared plumbing adds
    (:mod:`verdict.server.api.openapi`)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete_spec(generate(), sdk_paths=sdk_paths)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: Settings) -> FastAPI:
    engine = create_db_engine(settings)
    writer = AssignmentWriter(engine)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        delivery = ChangeDelivery(_app)
        delivery.start()
        await run_in_threadpool(_warm_up, _app)
        # What is loaded now (modules, the app, the compiled snapshots) lives about as
        # long as the process: after one collection, keep it out of the cyclic
        # collector's full passes, which would otherwise pause every request for the
        # whole heap (160 ms on the 2-core benchmark machine). A snapshot rebuilt later
        # is collected normally (about 9 ms for 1,000 experiments); the one it replaces
        # has no reference cycles, so reference counting frees it, frozen or not.
        gc.collect()
        gc.freeze()
        yield
        delivery.stop()
        await writer.close()
        engine.dispose()

    app = FastAPI(
        title="Verdict",
        version=__version__,
        summary="Self-hosted experimentation: A/B tests, feature flags, events and statistics.",
        lifespan=lifespan,
        # /docs and /redoc are served by the dashboard, on assets from installed packages.
        docs_url=None,
        redoc_url=None,
        **_telemetry(settings),
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = create_session_factory(engine)
    app.state.snapshots = SnapshotCache(app.state.session_factory)
    app.state.api_keys = ApiKeyCache()
    app.state.assignment_writer = writer
    install_problem_handlers(app)
    app.add_exception_handler(BodyTooLargeError, body_too_large)
    sdk_paths = PathSet(route for router in _SDK_ROUTERS for route in router.routes)
    # Middleware added first runs innermost. The hot paths are served inside the
    # request limits, which run inside the metrics middleware, which times them all.
    app.add_middleware(HotPathDispatch, handlers=app.exception_handlers)
    app.add_middleware(
        RequestLimits,
        limit=settings.max_body_bytes,
        sdk_limit=settings.sdk_max_body_bytes,
        sdk_paths=sdk_paths,
        # Events read their body themselves, under their own limit (gzip included).
        exempt=frozenset(
            route.path for route in events_router.routes if isinstance(route, APIRoute)
        ),
        # Routes that read a body authenticate before it is read (the principal is kept
        # for the route's dependency), in the order the router tries them.
        authenticate_first=AuthenticateFirst(
            routes=[
                route
                for router in (*_SDK_ROUTERS, health_router, *_MANAGEMENT_ROUTERS)
                for route in router.routes
            ],
            handlers=app.exception_handlers,
        ),
    )
    app.add_middleware(MetricsMiddleware)
    if settings.cors_allow_origins:
        app.add_middleware(SdkCors, origins=settings.cors_allow_origins, sdk_paths=sdk_paths)
    _secure_every_response(app)
    _complete_spec(
        app,
        sdk_paths=frozenset(
            route.path_format  # as the spec spells it: {key}, not {key:path}
            for router in _SDK_ROUTERS
            for route in router.routes
            if isinstance(route, APIRoute)
        ),
    )
    # Routes are matched in order: the SDK hot paths come first, so each of their
    # requests is routed after a few comparisons instead of after the whole API.
    for router in _SDK_ROUTERS:
        app.include_router(router, responses=PROBLEM_RESPONSES)
    app.include_router(health_router)
    for router in _MANAGEMENT_ROUTERS:
        app.include_router(router, responses=PROBLEM_RESPONSES)
    install_dashboard(app)
    return app
