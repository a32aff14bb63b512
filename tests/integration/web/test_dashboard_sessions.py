"""A dashboard session ends as an API login does: when it expires and when its user is
deactivated; the next page then sends the browser to the login page and back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from tests.conftest import DatabaseFactory
from verdict.server.app import create_app
from verdict.server.config import get_settings
from verdict.server.db import create_db_engine, migrate
from verdict.server.identity.models import AccessToken, AccessTokenKind, User

Browser = Callable[[str | None], TestClient]


def _sessions_of(api_app: FastAPI, username: str) -> list[AccessToken]:
    with api_app.state.session_factory() as db:
        return list(
            db.scalars(
                select(AccessToken)
                .join(User, User.id == AccessToken.user_id)
                .where(User.username == username)
            )
        )


def test_an_expired_session_sends_the_browser_to_the_login_page(
    browser: Browser, make_user: Callable[..., str], api_app: FastAPI
) -> None:
    username = make_user("viewer")
    user = browser(username)
    assert user.get("/experiments").status_code == 200
    [session] = _sessions_of(api_app, username)
    assert session.kind is AccessTokenKind.COOKIE
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    with api_app.state.session_factory() as db:
        db.execute(
            update(AccessToken)
            .where(AccessToken.id == session.id)
            .values(created_at=past - dt.timedelta(hours=12), expires_at=past)
        )
        db.commit()
    answer = user.get("/experiments?status=running")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/experiments%3Fstatus%3Drunning"


def test_deactivating_a_user_ends_their_dashboard_session(
    browser: Browser,
    make_user: Callable[..., str],
    admin: dict[str, str],
    client: TestClient,
) -> None:
    username = make_user("viewer")
    user = browser(username)
    assert user.get("/flags").status_code == 200
    found = client.get(f"/api/v1/users?q={username}", headers=admin).json()["items"]
    [record] = [u for u in found if u["username"] == username]
    current = client.get(f"/api/v1/users/{record['id']}", headers=admin)
    deactivated = client.patch(
        f"/api/v1/users/{record['id']}",
        json={"is_active": False},
        headers={**admin, "If-Match": current.headers["etag"]},
    )
    assert deactivated.status_code == 200, deactivated.text
    assert user.get("/flags").headers["location"] == "/login?next=/flags"


def test_the_login_page_of_a_fresh_install_says_how_to_create_the_first_user(
    database_factory: DatabaseFactory, backend: str, browser: Browser, admin: dict[str, str]
) -> None:
    fresh = database_factory.new_url(backend)
    engine = create_db_engine(get_settings(database_url=fresh))
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    with TestClient(create_app(get_settings(database_url=fresh))) as client:
        page = client.get("/login")
        assert page.status_code == 200
        assert 'id="first-run"' in page.text
        assert "verdict users create-admin --username admin" in page.text
        assert "verdict demo" in page.text
    # An install with users (the ``admin`` fixture's) says nothing of the kind.
    page = browser(None).get("/login")
    assert page.status_code == 200
    assert 'id="first-run"' not in page.text
