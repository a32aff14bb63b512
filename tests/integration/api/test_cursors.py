"""Paging cursors: one this API did not issue is a 400 naming ``query.cursor``, never a
server error, whatever it holds and whichever column the list is sorted by."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

ROW_ID = str(uuid.uuid4())


def forge(content: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(content).encode()).decode().rstrip("=")


FORGED = {
    "text for a date": forge(["not-a-date", ROW_ID]),
    "number for a date": forge([12345, ROW_ID]),
    "list for a date": forge([[1], ROW_ID]),
    "object for a date": forge([{"a": 1}, ROW_ID]),
    "id not a uuid": forge(["2024-01-01T00:00:00+00:00", "not-a-uuid"]),
    "id a number": forge(["2024-01-01T00:00:00+00:00", 7]),
    "three items": forge(["2024-01-01T00:00:00+00:00", ROW_ID, 1]),
    "an object": forge({"value": 1}),
    "a bare string": forge("cursor"),
    "not json": base64.urlsafe_b64encode(b"\xff\xfe{").decode(),
    "not base64": "***",
}


def assert_names_cursor(response: Any) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [error["field"] for error in response.json()["errors"]] == ["query.cursor"]


@pytest.mark.parametrize("cursor", FORGED.values(), ids=FORGED.keys())
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/experiments",  # sorted by -created_at
        "/api/v1/flags?sort=created_at",
        "/api/v1/audit",  # sorted by -at
        "/api/v1/api-keys",
    ],
)
def test_a_forged_cursor_on_a_date_sort_is_a_bad_request(
    client: TestClient, admin: dict[str, str], path: str, cursor: str
) -> None:
    separator = "&" if "?" in path else "?"
    assert_names_cursor(client.get(f"{path}{separator}cursor={cursor}", headers=admin))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("/api/v1/flags", 12345),  # sorted by key, a text column
        ("/api/v1/flags", True),
        ("/api/v1/segments", [1, 2]),
        ("/api/v1/environments", "first"),  # sorted by sort_order, an integer column
        ("/api/v1/environments", False),
        ("/api/v1/flags", "a\x00b"),
    ],
)
def test_a_cursor_of_the_wrong_type_for_its_sort_is_a_bad_request(
    client: TestClient, admin: dict[str, str], path: str, value: Any
) -> None:
    response = client.get(path, params={"cursor": forge([value, ROW_ID])}, headers=admin)
    assert_names_cursor(response)


def test_a_cursor_the_api_issued_still_pages(client: TestClient, admin: dict[str, str]) -> None:
    for name in ("first", "second"):
        created = client.post(
            "/api/v1/api-keys",
            json={"name": f"{name}-{ROW_ID[:8]}", "kind": "server", "environment": "production"},
            headers=admin,
        )
        assert created.status_code == 201, created.text
    first = client.get("/api/v1/api-keys", params={"limit": 1}, headers=admin)
    assert first.status_code == 200, first.text
    cursor = first.json()["next_cursor"]
    assert cursor is not None
    second = client.get("/api/v1/api-keys", params={"limit": 1, "cursor": cursor}, headers=admin)
    assert second.status_code == 200, second.text
    assert second.json()["items"] != first.json()["items"]


def test_the_spec_documents_a_bad_cursor(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/api/v1/flags"]["get"]
    assert "400" in operation["responses"]
