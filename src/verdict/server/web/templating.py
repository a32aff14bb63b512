"""Rendering a page: the Jinja2 environment, the page's security policy, the context
every template gets (the signed-in user, what they may do, the CSRF token, the
navigation), and the filters templates format numbers and times with.

Templates only lay out what a page handler computed; statistics are read from stored
results, never recomputed here.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from verdict import __version__
from verdict.server.web.assets import asset_url

__all__ = ["NAVIGATION", "PAGE_CSP", "render", "templates"]

# Pages load scripts and styles from this server only. plotly.js sets inline styles on
# the elements it draws, hence 'unsafe-inline' for styles (never for scripts).
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

# (path, label, permission needed to see the section: resource, action)
NAVIGATION: tuple[tuple[str, str, tuple[str, str]], ...] = (
    ("/experiments", "Experiments", ("experiment", "read")),
    ("/flags", "Flags", ("feature_flag", "read")),
    ("/segments", "Segments", ("segment", "read")),
    ("/metric-definitions", "Metrics", ("metric", "read")),
    ("/environments", "Environments", ("environment", "read")),
    ("/api-keys", "API keys", ("api_key", "read")),
    ("/users", "Users", ("user", "read")),
    ("/roles", "Roles", ("role", "read")),
    ("/audit", "Audit log", ("audit_log", "read")),
    ("/power", "Power", ("experiment", "read")),
)


_MISSING = "\u2013"  # an en dash: no value


def _number(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return _MISSING
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def _percent(value: Any, digits: int = 1, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return _MISSING
    return f"{value * 100:{'+' if signed else ''}.{digits}f} %"


def _when(value: dt.datetime | dt.date | None) -> str:
    if value is None:
        return _MISSING
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.strftime("%Y-%m-%d %H:%M UTC")
    return value.isoformat()


def _build_environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(number=_number, percent=_percent, when=_when)
    environment.globals.update(asset=asset_url, version=__version__)
    return environment


templates = _build_environment()


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """``template`` rendered for this request, with the page's security headers.

    Every template gets ``user`` (the signed-in principal or None), ``can(resource,
    action)``, ``csrf_token``, ``navigation`` (the sections the user may see) and
    ``path`` (to mark the current section)."""
    principal = getattr(request.state, "principal", None)

    def can(resource: str, action: str) -> bool:
        return principal is not None and principal.can(resource, action)

    body = templates.get_template(template).render(
        user=principal,
        can=can,
        csrf_token=getattr(request.state, "csrf_token", ""),
        navigation=[
            (p, label)
            for p, label, need in NAVIGATION
            if p in request.app.state.dashboard_sections and can(*need)
        ],
        path=request.url.path,
        **(context or {}),
    )
    return HTMLResponse(
        body,
        status_code=status_code,
        headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-store"},
    )
