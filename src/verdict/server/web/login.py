"""Signing in and out of the dashboard, and its front door.

``GET /`` sends a signed-in user to the experiments and anyone else to the login page.
``POST /login`` checks the login form's token, then logs in through the identity service
(throttled and audited like the API's login) and sets the session cookie; a wrong
password shows the form again with one message that does not say which part was wrong.
``POST /logout`` ends the session (the form carries the session's CSRF token).
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from verdict.server.errors import AuthenticationError, DomainError
from verdict.server.identity import sessions
from verdict.server.identity.auth import SESSION_COOKIE, set_session_cookie
from verdict.server.identity.models import AccessTokenKind, User
from verdict.server.identity.router import login_throttle
from verdict.server.web.params import Db
from verdict.server.web.session import (
    LOGIN_CSRF_COOKIE,
    LoginRequired,
    PageUser,
    check_csrf,
    login_csrf,
    page_user,
    safe_next,
)
from verdict.server.web.templating import render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


def _login_form(
    request: Request,
    db: Session,
    *,
    next_path: str,
    error: str | None = None,
    username: str = "",
) -> HTMLResponse:
    token = login_csrf(request)
    # A fresh install has no one to sign in as: the page says how to make the first one.
    first_run = db.execute(select(User.id).limit(1)).first() is None
    response = render(
        request,
        "login.html",
        {
            "next": next_path,
            "error": error,
            "username": username,
            "login_csrf": token,
            "first_run": first_run,
        },
        status_code=200 if error is None else 401,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.app.state.settings.secure_cookies,
        max_age=3600,
    )
    return response


@router.get("/")
def front_door(request: Request, db: Db) -> Response:
    try:
        page_user(request, db)
    except LoginRequired:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse("/experiments", status_code=303)


@router.get("/login")
def login_page(request: Request, db: Db, next: str | None = None) -> Response:
    try:
        page_user(request, db)
    except LoginRequired:
        return _login_form(request, db, next_path=safe_next(next))
    return RedirectResponse(safe_next(next), status_code=303)  # signed in already


@router.post("/login")
def log_in(
    request: Request,
    db: Db,
    username: Annotated[str, Form(max_length=150)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not cookie or not hmac.compare_digest(cookie, csrf_token):
        return _login_form(
            request,
            db,
            next_path=safe_next(next),
            error="The form expired; please sign in again.",
            username=username,
        )
    settings = request.app.state.settings
    try:
        token, _ = sessions.log_in(
            db,
            username=username,
            password=password,
            kind=AccessTokenKind.COOKIE,
            ttl=settings.token_ttl,
            throttle=login_throttle(request.app),
            address=request.client.host if request.client else "unknown",
        )
    except AuthenticationError as error:
        return _login_form(
            request, db, next_path=safe_next(next), error=error.detail, username=username
        )
    except DomainError as error:  # throttled: say so, with the wait
        return _login_form(
            request, db, next_path=safe_next(next), error=error.detail, username=username
        )
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(response, token, settings)
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
def log_out(
    request: Request,
    user: PageUser,
    db: Db,
    csrf_token: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_csrf(request, csrf_token)
    sessions.log_out(db, principal=user)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
