"""Request limits: bodies are bounded while they are read, before anything parses them,
on every route (hot paths included), after authentication; unreadable bodies and NUL
characters in query parameters are refused naming the field. (How authentication comes
before the body: test_auth_before_body.py.)"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.integration.conftest import unique
from verdict.server.app import create_app
from verdict.server.config import get_settings

MIB = 1024 * 1024
CHUNK = 64 * 1024


def sdk_key(client: TestClient, admin: dict[str, str], kind: str = "server") -> dict[str, str]:
    created = client.post(
        "/api/v1/api-keys",
        json={"name": unique(kind), "kind": kind, "environment": "production"},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    return {"Authorization": f"Bearer {created.json()['key']}"}


def assert_too_large(response: Any) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "body"


def _call(
    app: FastAPI, path: str, headers: list[tuple[bytes, bytes]], *, total: int = 300 * MIB
) -> tuple[int, int]:
    """POST a body of ``total`` bytes to ``path`` in 64 KiB chunks, straight through the
    ASGI interface (a test client would buffer it first); return the answer's status
    and how many bytes the app asked for."""
    asked = 0
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal asked
        asked += CHUNK
        return {"type": "http.request", "body": b"x" * CHUNK, "more_body": asked < total}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), *headers],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 1234),
        "state": {},
    }
    asyncio.run(app(scope, receive, send))
    return status, asked


JSON = (b"content-type", b"application/json")


def test_an_unauthenticated_streamed_body_is_refused_once_past_the_limit(
    api_app: FastAPI, client: TestClient
) -> None:
    # Logging in needs no credentials, so its body is read: under the limit only.
    status, asked = _call(api_app, "/api/v1/auth/login", [JSON])
    assert status == 413
    # Refused as soon as the count passed one mebibyte, not after 300 were buffered.
    assert asked <= MIB + CHUNK


@pytest.mark.parametrize(
    "path", ["/api/v1/flags", "/api/v1/evaluate", "/ofrep/v1/evaluate/flags", "/api/v1/events"]
)
def test_an_unauthenticated_streamed_body_is_not_read_at_all(
    api_app: FastAPI, client: TestClient, path: str
) -> None:
    # Routes that need credentials check them before they read a byte.
    assert _call(api_app, path, [JSON]) == (401, 0)


@pytest.mark.parametrize("path", ["/api/v1/flags", "/api/v1/evaluate", "/api/v1/assign"])
def test_a_declared_length_over_the_limit_is_refused_before_a_byte_is_read(
    api_app: FastAPI, client: TestClient, admin: dict[str, str], path: str
) -> None:
    key = (sdk_key(client, admin) if path != "/api/v1/flags" else admin)["Authorization"]
    headers = [JSON, (b"content-length", b"314572800"), (b"authorization", key.encode())]
    # The app would be handed 300 MiB if it asked; it must not ask at all.
    assert _call(api_app, path, headers) == (413, 0)
    # Without credentials, still nothing read: a management route answers 401 first;
    # an SDK route, whose handler authenticates, is refused by the size it announced.
    status = 401 if path == "/api/v1/flags" else 413
    assert _call(api_app, path, headers[:2]) == (status, 0)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/evaluate", {"targeting_key": "u", "attributes": {"blob": "x" * 10_000_000}}),
        ("/api/v1/assign", {"unit_id": "u", "attributes": {"blob": "x" * 10_000_000}}),
        ("/ofrep/v1/evaluate/flags", {"context": {"targetingKey": "u", "blob": "x" * 10_000_000}}),
    ],
)
def test_a_ten_megabyte_attribute_is_refused_on_the_sdk_routes(
    client: TestClient, admin: dict[str, str], path: str, body: dict[str, Any]
) -> None:
    assert_too_large(client.post(path, json=body, headers=sdk_key(client, admin)))


def test_a_ten_megabyte_attribute_streamed_to_a_hot_path_is_refused(
    api_app: FastAPI, client: TestClient, admin: dict[str, str]
) -> None:
    key = sdk_key(client, admin)["Authorization"].encode()
    status, asked = _call(
        api_app, "/api/v1/evaluate", [JSON, (b"authorization", key)], total=10 * MIB
    )
    assert (status, asked) == (413, MIB + CHUNK)


def test_a_management_body_over_the_limit_is_refused(
    client: TestClient, admin: dict[str, str]
) -> None:
    body = {"key": unique("flag"), "name": "x", "value_type": "string", "default_value": "x"}
    body["description"] = "x" * (2 * MIB)
    assert_too_large(client.post("/api/v1/flags", json=body, headers=admin))


def test_the_limits_come_from_the_settings(migrated_url: str) -> None:
    app = create_app(
        get_settings(database_url=migrated_url, max_body_bytes=4096, sdk_max_body_bytes=2048)
    )
    small = TestClient(app)
    login = {"username": "x" * 5000, "password": "y"}
    assert_too_large(small.post("/api/v1/auth/login", json=login))
    context = {"targeting_key": "u", "attributes": {"blob": "x" * 3000}}
    assert_too_large(small.post("/api/v1/evaluate", json=context))
    # Under the SDK limit: authentication decides.
    assert small.post("/api/v1/evaluate", json={"targeting_key": "u"}).status_code == 401


def test_events_keep_their_own_limit_and_message(client: TestClient, admin: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/events",
        content=b"x" * (MIB + 1),
        headers={**sdk_key(client, admin), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert "batch" in response.json()["detail"]


def test_the_spec_documents_413_on_every_body(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if "requestBody" in operation:
                assert "413" in operation["responses"], f"{method.upper()} {path}"


@pytest.mark.parametrize(
    "path", ["/api/v1/auth/login", "/api/v1/flags", "/api/v1/evaluate", "/api/v1/assign"]
)
def test_a_body_that_is_not_utf8_is_refused_naming_the_body(
    client: TestClient, admin: dict[str, str], path: str
) -> None:
    headers = {**admin, "Content-Type": "application/json"}
    if path in ("/api/v1/evaluate", "/api/v1/assign"):
        headers.update(sdk_key(client, admin))
    response = client.post(
        path, content=b'{"username": "\xff\xfe", "password": "x"}', headers=headers
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"].startswith("body")


@pytest.mark.parametrize(
    "path", ["/api/v1/auth/login", "/api/v1/flags", "/api/v1/evaluate", "/api/v1/assign"]
)
def test_json_nested_past_the_parser_limit_is_refused_naming_the_body(
    client: TestClient, admin: dict[str, str], path: str
) -> None:
    headers = {**admin, "Content-Type": "application/json"}
    if path in ("/api/v1/evaluate", "/api/v1/assign"):
        headers.update(sdk_key(client, admin))
    deep = b"[" * 100_000 + b"]" * 100_000
    response = client.post(path, content=deep, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"].startswith("body")


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/api/v1/audit", "actor"),
        ("/api/v1/flags", "q"),
        ("/api/v1/experiments", "q"),
        ("/api/v1/segments", "q"),
        ("/api/v1/users", "q"),
        ("/api/v1/metrics", "q"),
        ("/api/v1/environments", "q"),
    ],
)
def test_a_nul_character_in_a_query_parameter_is_refused_naming_it(
    client: TestClient, admin: dict[str, str], path: str, parameter: str
) -> None:
    response = client.get(path, params={parameter: "a\x00b"}, headers=admin)
    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["errors"]] == [f"query.{parameter}"]
