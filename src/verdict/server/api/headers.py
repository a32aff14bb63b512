"""Response headers every answer carries, and cross-origin access for the SDK routes.

Every response, errors and hot paths included, gets:

- ``X-Content-Type-Options: nosniff``: a JSON answer is never run as a script or page;
- ``X-Frame-Options: DENY`` and CSP ``frame-ancestors 'none'``: nothing is framed;
- ``Content-Security-Policy``: ``default-src 'none'`` for the API (JSON loads nothing).
  The two documentation pages, ``/docs`` (Swagger UI) and ``/redoc``, are HTML that
  FastAPI builds with an inline script, on assets Verdict serves itself (from the
  installed ``fastapi-offline`` package): their policy allows this server and that
  inline script, nothing from elsewhere. Dashboard pages set their own policy
  (:data:`verdict.server.web.templating.PAGE_CSP`);
- ``Referrer-Policy: no-referrer``;
- ``Cache-Control: no-store`` unless the route chose its own: answers carry login
  tokens, new API keys, configuration and targeting data meant for one caller, never
  for a shared cache. The SDK configuration and stream routes set ``no-cache`` (a
  client revalidates with its ETag), which is kept.

CORS is off by default. With ``cors_allow_origins`` set, Starlette's
``CORSMiddleware`` answers preflights and adds the CORS headers on the SDK routes only
(evaluation, OFREP, assignment, events, SDK configuration and stream), which a browser
SDK calls with a client key; management routes stay same-origin, so a page elsewhere
can never drive them with a signed-in user's cookie.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from verdict.server.api.limits import PathSet

__all__ = ["API_CSP", "DOCS_CSP", "DOCS_PATHS", "SdkCors", "SecurityHeaders"]

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
DOCS_CSP = (
    "default-src 'none'; "
    "script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; "
    "connect-src 'self'; worker-src blob:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})

_COMMON: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
)
_API = (*_COMMON, (b"content-security-policy", API_CSP.encode()))
_DOCS = (*_COMMON, (b"content-security-policy", DOCS_CSP.encode()))
_NAMES = frozenset(name for name, _ in _API)


def _with_headers(
    headers: list[tuple[bytes, bytes]], added: tuple[tuple[bytes, bytes], ...]
) -> list[tuple[bytes, bytes]]:
    """``headers`` and those of ``added`` it does not set itself. Header names arrive
    lower-cased (ASGI), and most responses set none of these: one pass tells."""
    for name, _ in headers:
        if name in _NAMES:
            break
    else:
        return [*headers, *added]
    present = {name for name, _ in headers}
    return [*headers, *(header for header in added if header[0] not in present)]


class SecurityHeaders:
    """ASGI middleware: the headers above, added to every response's start, unless the
    response set one of them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        added = _DOCS if scope["path"] in DOCS_PATHS else _API

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _with_headers(message.get("headers", []), added)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class SdkCors:
    """ASGI middleware: requests to ``sdk_paths`` go through Starlette's
    ``CORSMiddleware`` for ``origins``; every other request passes by it untouched."""

    def __init__(self, app: ASGIApp, *, origins: Sequence[str], sdk_paths: PathSet) -> None:
        self.app = app
        self._sdk_paths = sdk_paths
        self._cors = CORSMiddleware(
            app,
            allow_origins=list(origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            # What the SDKs send: the key (either header), a JSON or gzip body, and
            # the ETag they hold.
            allow_headers=[
                "Authorization",
                "X-API-Key",
                "Content-Type",
                "Content-Encoding",
                "If-None-Match",
            ],
            expose_headers=["ETag", "Retry-After"],
            allow_credentials=False,  # keys travel in headers, never in cookies
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self._sdk_paths:
            await self._cors(scope, receive, send)
            return
        await self.app(scope, receive, send)
