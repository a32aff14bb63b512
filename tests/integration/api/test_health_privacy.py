"""With the database down, no answer shows where the database is: not /healthz (which
anyone may call), not the 503 of an API route, not the 503 of a hot path."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from verdict.server.app import create_app
from verdict.server.config import get_settings

# Nothing listens on this port: a connection is refused at once.
HOST, PORT = "127.0.0.1", "59397"
DOWN = f"postgresql+psycopg://verdict:hunter2@{HOST}:{PORT}/verdict"


@pytest.fixture(scope="module")
def down() -> TestClient:
    return TestClient(create_app(get_settings(database_url=DOWN)))


def assert_private(text: str) -> None:
    for secret in (HOST, PORT, "hunter2", "verdict:"):
        assert secret not in text


def test_healthz_says_the_database_is_down_without_saying_where(down: TestClient) -> None:
    response = down.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"]["reachable"] is False
    assert response.json()["database"]["error"]
    assert_private(response.text)


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/v1/flags"), ("GET", "/api/v1/auth/me"), ("POST", "/api/v1/evaluate")],
)
def test_a_503_says_the_database_is_down_without_saying_where(
    down: TestClient, method: str, path: str
) -> None:
    headers = {"Authorization": "Bearer vk_unknownkeyunknownkeyunknownkey"}
    if path != "/api/v1/evaluate":
        headers = {"Authorization": "Bearer vt_unknowntokenunknowntokenunknown"}
    response = down.request(method, path, headers=headers, json={"context": {}})
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "1"
    assert_private(response.text)


def test_the_operator_still_finds_the_reason_in_the_log(
    down: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        down.get("/healthz")
        down.get("/api/v1/flags", headers={"Authorization": "Bearer vt_x"})
    assert PORT in caplog.text
