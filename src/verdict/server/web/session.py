"""Who is looking at a page, and the CSRF check of every form the pages post.

A page is for a signed-in user: their session is the API's login session, kept in the
``verdict_session`` cookie (HttpOnly, SameSite=Strict, Secure with
``VERDICT_SECURE_COOKIES``), so it expires, is revoked on logout and ends when the user
is deactivated or their password or roles change, exactly as for the API. A request
without a live session is sent to ``/login`` (and back afterwards).

CSRF: every form carries a token the server derives from the session token (a SHA-256
of it under a fixed label), so it is bound to the session, changes with each login, and
reveals nothing of the cookie, which scripts cannot read. A post without the right
token is refused with 403 before anything is done. The login form, before any session
exists, uses a double-submit token: a random value set in a SameSite=Strict cookie and
echoed by the form.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from verdict.server.db import get_db
from verdict.server.errors import AuthenticationError, PermissionDeniedError
from verdict.server.identity.auth import SESSION_COOKIE, Principal, authenticate

__all__ = [
    "LOGIN_CSRF_COOKIE",
    "LoginRequired",
    "PageUser",
    "check_csrf",
    "csrf_for_session",
    "login_csrf",
    "safe_next",
]

LOGIN_CSRF_COOKIE = "verdict_login_csrf"
_LABEL = b"verdict dashboard csrf v1:"


class LoginRequired(Exception):  # noqa: N818 - a redirect, not an error
    """The page needs a signed-in user; the handler sends the browser to ``/login``."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.location = "/login?next=" + quote(next_path, safe="/")


def csrf_for_session(session_token: str) -> str:
    return hashlib.sha256(_LABEL + session_token.encode()).hexdigest()


def page_user(request: Request, db: Annotated[Session, Depends(get_db)]) -> Principal:
    """The signed-in user of a page request (a browser session, never an API key)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if cookie is None or request.headers.get("authorization"):
        raise LoginRequired(target)
    try:
        principal = authenticate(request, db)
    except AuthenticationError:
        raise LoginRequired(target) from None
    request.state.principal = principal
    request.state.csrf_token = csrf_for_session(cookie)
    return principal


PageUser = Annotated[Principal, Depends(page_user)]


def check_csrf(request: Request, submitted: str | None) -> None:
    """Refuse (403) a post whose form token is not the session's."""
    expected = getattr(request.state, "csrf_token", None)
    if not expected or not submitted or not hmac.compare_digest(expected, submitted):
        raise PermissionDeniedError(
            "csrf_token: missing or wrong; reload the page and submit the form again"
        )


def login_csrf(request: Request) -> str:
    """The login form's double-submit token: the cookie's, or a new one."""
    return request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)


def safe_next(value: str | None) -> str:
    """Where to go after logging in: a path on this server, never another site."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or "\\" in value:
        return "/"
    return value
