"""A browser-like client of the dashboard: its own cookie jar, signed in by the form."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.integration.conftest import PASSWORD

Browser = Callable[[str | None], TestClient]
"""The ``browser`` fixture: ``browser(username)`` is a client signed in as ``username``."""
Headers = dict[str, str]
MakeUser = Callable[..., str]

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def form_token(html: str) -> str:
    """The CSRF token a page's forms carry."""
    match = _TOKEN.search(html)
    assert match, "the page has no form token"
    return match.group(1)


@pytest.fixture
def browser(api_app: FastAPI) -> Iterator[Callable[[str | None], TestClient]]:
    """``browser(username)``: a client with its own cookies, signed in through the
    login form as ``username`` (or not signed in, with None)."""
    made: list[TestClient] = []

    def open_browser(username: str | None) -> TestClient:
        client = TestClient(api_app, follow_redirects=False)
        made.append(client)
        if username is not None:
            page = client.get("/login")
            answer = client.post(
                "/login",
                data={
                    "username": username,
                    "password": PASSWORD,
                    "csrf_token": form_token(page.text),
                    "next": "/",
                },
            )
            assert answer.status_code == 303, answer.text
        return client

    yield open_browser
    for client in made:
        client.close()
