"""The dashboard: server-rendered pages (Jinja2) served by the API's own process.

:func:`install_dashboard` adds to the app: the static files (ours and the vendor files
read from installed packages), ``/docs`` and ``/redoc`` on those local assets, the
login pages, and each section's pages. Pages call the same services as the API, never
the API over HTTP. A page error is an HTML page with the API's status code; a page
that needs a signed-in user sends the browser to ``/login``.
"""

from __future__ import annotations

import contextlib
import inspect
from typing import Any, cast

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from verdict.server.errors import DomainError
from verdict.server.problems import status_of
from verdict.server.web import assets, login
from verdict.server.web.api_keys import router as api_keys_router
from verdict.server.web.audit import router as audit_router
from verdict.server.web.bandit_panel import router as bandit_panel_router
from verdict.server.web.environments import router as environments_router
from verdict.server.web.experiment_forms import router as experiment_forms_router
from verdict.server.web.experiments import router as experiments_router
from verdict.server.web.flag_definition import router as flag_definition_router
from verdict.server.web.flag_edits import router as flag_edits_router
from verdict.server.web.flags import router as flags_router
from verdict.server.web.metrics_pages import router as metrics_pages_router
from verdict.server.web.power import router as power_router
from verdict.server.web.roles import router as roles_router
from verdict.server.web.segments import router as segments_router
from verdict.server.web.session import LoginRequired, page_user
from verdict.server.web.templating import render
from verdict.server.web.users import router as users_router

__all__ = ["SECTIONS", "install_dashboard"]

# Each section's pages; its first path segment names the section in the navigation.
SECTIONS: tuple[APIRouter, ...] = (
    flags_router,
    flag_edits_router,
    flag_definition_router,
    experiment_forms_router,
    bandit_panel_router,
    experiments_router,
    segments_router,
    metrics_pages_router,
    environments_router,
    api_keys_router,
    users_router,
    roles_router,
    audit_router,
    power_router,
)

_NOT_PAGES = ("/api/", "/ofrep/", "/static/", "/docs", "/redoc", "/openapi.json")


def _docs_router(app: FastAPI) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/docs")
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=assets.asset_url("swagger-ui-bundle.js"),
            swagger_css_url=assets.asset_url("swagger-ui.css"),
            swagger_favicon_url=assets.asset_url("favicon.svg"),
            oauth2_redirect_url="/docs/oauth2-redirect",
        )

    @router.get("/docs/oauth2-redirect")
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @router.get("/redoc")
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            redoc_js_url=assets.asset_url("redoc.standalone.js"),
            redoc_favicon_url=assets.asset_url("favicon.svg"),
            with_google_fonts=False,
        )

    return router


async def _answer(handler: Any, request: Request, exc: Exception) -> Response:
    """What an exception handler of the API (sync or async) answers."""
    answer = handler(request, exc)
    if inspect.isawaitable(answer):
        answer = await answer
    return cast(Response, answer)


def _identify(request: Request) -> None:
    """Sign the request's user in for an error page, when they have a session."""
    if getattr(request.state, "principal", None) is not None:
        return
    with request.app.state.session_factory() as db, contextlib.suppress(LoginRequired):
        page_user(request, db)


def _is_page(request: Request) -> bool:
    path = request.url.path
    return not path.startswith(_NOT_PAGES) and path not in ("/healthz", "/readyz", "/metrics")


def install_dashboard(app: FastAPI) -> None:
    app.mount(assets.asset_url("").rstrip("/"), assets.static_files(), name="static")
    app.include_router(assets.router)
    app.include_router(_docs_router(app))
    app.include_router(login.router)
    sections: set[str] = set()
    for router in SECTIONS:
        app.include_router(router)
        for route in router.routes:
            if isinstance(route, APIRoute):
                sections.add("/" + route.path.strip("/").split("/")[0])
    app.state.dashboard_sections = frozenset(sections)

    async def login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        return RedirectResponse(exc.location, status_code=303)

    api_domain_error = app.exception_handlers[DomainError]
    api_http_error = app.exception_handlers[StarletteHTTPException]

    async def domain_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DomainError)
        if not _is_page(request):
            return await _answer(api_domain_error, request, exc)
        status = status_of(exc)
        return render(
            request,
            "error.html",
            {"status": status, "title": exc.title, "detail": exc.detail},
            status_code=status,
        )

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if not _is_page(request) or exc.status_code not in (404, 405):
            return await _answer(api_http_error, request, exc)
        _identify(request)  # so a signed-in user keeps the navigation
        title = "Page not found" if exc.status_code == 404 else "Method not allowed"
        return render(
            request,
            "error.html",
            {"status": exc.status_code, "title": title, "detail": "There is no such page."},
            status_code=exc.status_code,
        )

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
