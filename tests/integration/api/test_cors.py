"""CORS: off by default; when origins are configured, the SDK routes (and only they)
answer browsers from those origins."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from verdict.server.app import create_app
from verdict.server.config import get_settings

SHOP = "https://shop.example.com"
SDK_ROUTES = [
    ("POST", "/api/v1/evaluate"),
    ("POST", "/api/v1/assign"),
    ("POST", "/api/v1/events"),
    ("POST", "/ofrep/v1/evaluate/flags"),
    ("POST", "/ofrep/v1/evaluate/flags/checkout"),
    ("GET", "/ofrep/v1/configuration"),
    ("GET", "/api/v1/sdk/config"),
    ("GET", "/api/v1/sdk/stream"),
]
MANAGEMENT_ROUTES = [
    ("GET", "/api/v1/flags"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/api-keys"),
]


@pytest.fixture(scope="module")
def with_cors(migrated_url: str) -> TestClient:
    return TestClient(
        create_app(get_settings(database_url=migrated_url, cors_allow_origins=[SHOP]))
    )


def preflight(client: TestClient, method: str, path: str, origin: str = SHOP) -> dict[str, str]:
    response = client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    return dict(response.headers)


@pytest.mark.parametrize(("method", "path"), SDK_ROUTES)
def test_cors_is_off_by_default(client: TestClient, method: str, path: str) -> None:
    assert "access-control-allow-origin" not in preflight(client, method, path)
    response = client.request(method, path, headers={"Origin": SHOP})
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize(("method", "path"), SDK_ROUTES)
def test_a_configured_origin_may_call_the_sdk_routes(
    with_cors: TestClient, method: str, path: str
) -> None:
    headers = preflight(with_cors, method, path)
    assert headers["access-control-allow-origin"] == SHOP
    assert method in headers["access-control-allow-methods"]
    assert "authorization" in headers["access-control-allow-headers"].lower()
    # The answer itself (a 401 here: no key) carries it too, so the browser can read it.
    response = with_cors.request(method, path, headers={"Origin": SHOP})
    assert response.headers["access-control-allow-origin"] == SHOP
    assert "access-control-allow-credentials" not in response.headers


@pytest.mark.parametrize(("method", "path"), SDK_ROUTES[:2])
def test_another_origin_may_not(with_cors: TestClient, method: str, path: str) -> None:
    assert "access-control-allow-origin" not in preflight(
        with_cors, method, path, "https://evil.example"
    )
    response = with_cors.request(method, path, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize(("method", "path"), MANAGEMENT_ROUTES)
def test_management_routes_never_answer_cross_origin(
    with_cors: TestClient, method: str, path: str
) -> None:
    assert "access-control-allow-origin" not in preflight(with_cors, method, path)
    response = with_cors.request(method, path, headers={"Origin": SHOP})
    assert "access-control-allow-origin" not in response.headers
