"""Every route of the OpenAPI spec refuses anonymous callers and callers without its
permission, so no route added later can forget to declare one."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

# Routes anyone may call: health and logging in. (The spec and docs are not in the spec.)
PUBLIC = {
    ("GET", "/healthz"),
    ("POST", "/api/v1/auth/login"),
}
# Routes any signed-in caller may use, whatever their role.
SIGNED_IN = {
    ("GET", "/api/v1/auth/me"),
    ("POST", "/api/v1/auth/logout"),
}
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def _operations(client: TestClient) -> list[tuple[str, str]]:
    spec = client.get("/openapi.json").json()
    return [
        (method.upper(), path)
        for path, methods in spec["paths"].items()
        for method in methods
        if method.upper() in METHODS
    ]


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "00000000-0000-4000-8000-000000000000", path)


def test_the_public_and_signed_in_lists_name_real_operations(client: TestClient) -> None:
    assert set(_operations(client)) >= PUBLIC | SIGNED_IN


def test_every_operation_answers_401_without_credentials(client: TestClient) -> None:
    failures = []
    for method, path in _operations(client):
        if (method, path) in PUBLIC:
            continue
        response = client.request(method, _concrete(path))
        if response.status_code != 401:
            failures.append((method, path, response.status_code))
        elif response.headers["content-type"] != "application/problem+json":
            failures.append((method, path, "not a problem document"))
    assert failures == []


def test_every_operation_answers_403_to_a_role_without_its_permission(
    client: TestClient, nobody: dict[str, str]
) -> None:
    failures = []
    checked = 0
    for method, path in _operations(client):
        if (method, path) in PUBLIC | SIGNED_IN:
            continue
        checked += 1
        response = client.request(method, _concrete(path), headers=nobody)
        if response.status_code != 403:
            failures.append((method, path, response.status_code))
    assert failures == []
    assert checked > 10


@pytest.mark.parametrize("kind", ["server", "client"])
def test_sdk_keys_cannot_use_the_management_api(
    client: TestClient, admin: dict[str, str], kind: str
) -> None:
    created = client.post(
        "/api/v1/api-keys",
        json={"name": f"{kind} key", "kind": kind, "environment": "production"},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    key = {"Authorization": f"Bearer {created.json()['key']}"}
    assert client.get("/api/v1/users", headers=key).status_code == 403
