"""Every response carries the security headers, errors and hot paths included; answers
carrying secrets are never stored by a cache; the documentation pages still load."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.integration.conftest import PASSWORD, unique

COMMON = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def assert_secured(response: Any) -> None:
    for name, value in COMMON.items():
        assert response.headers.get(name) == value, (name, response.headers)
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy


def sdk_key(client: TestClient, admin: dict[str, str]) -> dict[str, str]:
    created = client.post(
        "/api/v1/api-keys",
        json={"name": unique("key"), "kind": "server", "environment": "production"},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    return {"Authorization": f"Bearer {created.json()['key']}"}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/healthz", 200),
        ("GET", "/openapi.json", 200),
        ("GET", "/api/v1/flags", 401),
        ("GET", "/no/such/route", 404),
        ("DELETE", "/healthz", 405),
        ("POST", "/api/v1/evaluate", 401),
        ("POST", "/ofrep/v1/evaluate/flags", 401),
        ("GET", "/api/v1/sdk/config", 401),
    ],
)
def test_every_response_carries_the_security_headers(
    client: TestClient, method: str, path: str, status: int
) -> None:
    response = client.request(method, path)
    assert response.status_code == status
    assert_secured(response)


def test_api_answers_load_nothing(client: TestClient, admin: dict[str, str]) -> None:
    response = client.get("/api/v1/flags", headers=admin)
    assert response.status_code == 200
    assert_secured(response)
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert response.headers["cache-control"] == "no-store"


def test_hot_path_answers_carry_the_headers(client: TestClient, admin: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/evaluate", json={"targeting_key": "u"}, headers=sdk_key(client, admin)
    )
    assert response.status_code == 200, response.text
    assert_secured(response)
    assert response.headers["cache-control"] == "no-store"


def test_a_server_error_carries_the_headers(
    client: TestClient, api_app: FastAPI, admin: dict[str, str]
) -> None:
    def broken() -> None:
        raise RuntimeError("boom")

    api_app.add_api_route("/test-only/broken", broken)
    try:
        with TestClient(api_app, raise_server_exceptions=False) as unraised:
            response = unraised.get("/test-only/broken")
    finally:
        api_app.router.routes.pop()
    assert response.status_code == 500
    assert_secured(response)


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_documentation_pages_may_load_their_assets(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert_secured(response)
    policy = response.headers["content-security-policy"]
    # Swagger UI and ReDoc are served by Verdict itself and start with an inline script;
    # nothing may come from another host (an air-gapped install shows them too).
    assert "script-src 'self' 'unsafe-inline'" in policy
    assert "http" not in policy
    assert "cdn.jsdelivr.net" not in response.text


def test_a_login_token_is_never_stored_by_a_cache(client: TestClient, make_user: Any) -> None:
    username = make_user("viewer")
    response = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    client.cookies.clear()
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"


def test_a_new_api_key_is_never_stored_by_a_cache(
    client: TestClient, admin: dict[str, str]
) -> None:
    response = client.post(
        "/api/v1/api-keys",
        json={"name": unique("key"), "kind": "server", "environment": "production"},
        headers=admin,
    )
    assert response.status_code == 201
    assert response.headers["cache-control"] == "no-store"


def test_the_sdk_configuration_keeps_revalidating_with_its_etag(
    client: TestClient, admin: dict[str, str]
) -> None:
    response = client.get("/api/v1/sdk/config", headers=sdk_key(client, admin))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-cache"
    assert "etag" in response.headers
