"""The dashboard's front door: signing in and out through the form, CSRF, where a
visitor without a session is sent, error pages, and the locally served assets of the
pages and of /docs and /redoc (nothing from a CDN)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.conftest import PASSWORD
from tests.integration.web.conftest import Browser, form_token


def test_a_visitor_is_sent_to_the_login_page_and_back(
    browser: Browser, make_user: Callable[..., str]
) -> None:
    visitor = browser(None)
    assert visitor.get("/").headers["location"] == "/login"
    page = visitor.get("/login?next=/flags%3Fq%3Dx")
    assert page.status_code == 200
    assert 'name="next" value="/flags?q=x"' in page.text
    assert page.headers["content-security-policy"].startswith(
        "default-src 'none'; script-src 'self'"
    )
    signed_in = visitor.post(
        "/login",
        data={
            "username": make_user("viewer"),
            "password": PASSWORD,
            "csrf_token": form_token(page.text),
            "next": "/flags?q=x",
        },
    )
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/flags?q=x")
    cookie = signed_in.headers["set-cookie"]
    assert "verdict_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert visitor.get("/").headers["location"] == "/experiments"


def test_a_wrong_password_shows_the_form_again_without_saying_which_part(
    browser: Browser, make_user: Callable[..., str]
) -> None:
    visitor = browser(None)
    token = form_token(visitor.get("/login").text)
    answer = visitor.post(
        "/login",
        data={"username": make_user("viewer"), "password": "nope", "csrf_token": token},
    )
    assert answer.status_code == 401
    assert "wrong username or password" in answer.text
    assert "verdict_session" not in answer.headers.get("set-cookie", "")


def test_a_login_without_the_form_token_is_refused(
    browser: Browser, make_user: Callable[..., str]
) -> None:
    visitor = browser(None)
    visitor.get("/login")
    answer = visitor.post(
        "/login",
        data={"username": make_user("viewer"), "password": PASSWORD, "csrf_token": "forged"},
    )
    assert answer.status_code == 401
    assert "The form expired" in answer.text
    assert "verdict_session" not in answer.headers.get("set-cookie", "")


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil"])
def test_next_never_leaves_the_server(
    browser: Browser, make_user: Callable[..., str], target: str
) -> None:
    visitor = browser(None)
    token = form_token(visitor.get("/login").text)
    answer = visitor.post(
        "/login",
        data={
            "username": make_user("viewer"),
            "password": PASSWORD,
            "csrf_token": token,
            "next": target,
        },
    )
    assert answer.headers["location"] == "/"


def test_logging_out_needs_the_session_token_and_ends_the_session(
    browser: Browser, make_user: Callable[..., str]
) -> None:
    user = browser(make_user("viewer"))
    page = user.get("/no-such-page")  # every page with the signed-in layout carries it
    assert 'action="/logout"' in page.text
    refused = user.post("/logout", data={"csrf_token": "forged"})
    assert refused.status_code == 403
    assert "text/html" in refused.headers["content-type"]
    assert "csrf_token" in refused.text
    token = form_token(page.text)
    assert user.post("/logout", data={"csrf_token": token}).headers["location"] == "/login"
    assert user.get("/").headers["location"] == "/login"


def test_an_unknown_page_is_an_html_404_and_the_api_keeps_problem_json(
    browser: Browser,
) -> None:
    visitor = browser(None)
    page = visitor.get("/no-such-page")
    assert page.status_code == 404
    assert "text/html" in page.headers["content-type"]
    api = visitor.get("/api/v1/no-such-route")
    assert api.status_code == 404
    assert api.headers["content-type"] == "application/problem+json"


def test_docs_load_only_local_assets(browser: Browser) -> None:
    visitor = browser(None)
    for path in ("/docs", "/redoc"):
        page = visitor.get(path)
        assert page.status_code == 200
        urls = re.findall(r'(?:src|href)="([^"]+)"', page.text) + re.findall(
            r"url: '([^']+)'", page.text
        )
        assert urls, path
        assert all(url.startswith("/") for url in urls), urls
        policy = page.headers["content-security-policy"]
        assert "http" not in policy, policy
        for url in urls:
            if url.startswith("/static/"):
                asset = visitor.get(url)
                assert asset.status_code == 200, url
                assert "immutable" in asset.headers["cache-control"]
                assert len(asset.content) > 100


def test_vendor_files_come_from_installed_packages(browser: Browser) -> None:
    visitor = browser(None)
    version = importlib.metadata.version("plotly")
    plotly = visitor.get(f"/static/vendor/{version}/plotly.min.js")
    assert plotly.status_code == 200
    assert (
        plotly.content
        == (
            Path(importlib.util.find_spec("plotly").origin).parent  # type: ignore[arg-type,union-attr]
            / "package_data"
            / "plotly.min.js"
        ).read_bytes()
    )
    assert visitor.get(f"/static/vendor/{version}/not-a-file.js").status_code == 404
