"""The OpenAPI spec lists each operation's error statuses and required headers, as the
server answers them: If-Match required with 412 and 428, 404 wherever a path names a
resource, 409 on management edits, 400 on cursors, 413 on bodies, 503 everywhere."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.integration.conftest import unique

EDITS = ("post", "put", "patch", "delete")
SDK_PREFIXES = (
    "/api/v1/evaluate",
    "/api/v1/assign",
    "/api/v1/events",
    "/api/v1/exposures",
    "/api/v1/sdk/",
    "/ofrep/",
)


@pytest.fixture
def spec(client: TestClient) -> dict[str, Any]:
    document: dict[str, Any] = client.get("/openapi.json").json()
    return document


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    ]


# The quick toggles take an optional If-Match (docs/api-flags.md): 412 when a stale one
# is sent, never 428.
OPTIONAL_IF_MATCH = {
    ("post", "/api/v1/flags/{key}/environments/{environment}/enable"),
    ("post", "/api/v1/flags/{key}/environments/{environment}/disable"),
}


def test_if_match_is_required_with_its_412_and_428(spec: dict[str, Any]) -> None:
    versioned = 0
    optional = set()
    for method, path, operation in operations(spec):
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "header" and parameter["name"] == "If-Match":
                versioned += 1
                if (method, path) in OPTIONAL_IF_MATCH:
                    optional.add((method, path))
                    assert parameter["required"] is False, f"{method} {path}"
                    assert "412" in operation["responses"], f"{method} {path}"
                    assert "428" not in operation["responses"], f"{method} {path}"
                    continue
                assert parameter["required"] is True, f"{method} {path}"
                assert {"412", "428"} <= set(operation["responses"]), f"{method} {path}"
    assert versioned >= 15
    assert optional == OPTIONAL_IF_MATCH


def test_an_operation_on_a_named_resource_documents_404(spec: dict[str, Any]) -> None:
    for method, path, operation in operations(spec):
        if any(p["in"] == "path" for p in operation.get("parameters", [])):
            assert "404" in operation["responses"], f"{method} {path}"


def test_a_management_edit_documents_409(spec: dict[str, Any]) -> None:
    for method, path, operation in operations(spec):
        if method in EDITS and not path.startswith(SDK_PREFIXES):
            assert "409" in operation["responses"], f"{method} {path}"


def test_every_operation_documents_503(spec: dict[str, Any]) -> None:
    for method, path, operation in operations(spec):
        assert "503" in operation["responses"], f"{method} {path}"


def test_an_edit_without_if_match_is_refused_as_the_spec_says(
    client: TestClient, admin: dict[str, str], spec: dict[str, Any]
) -> None:
    key = unique("segment")
    created = client.post(
        "/api/v1/segments", json={"key": key, "name": key, "conditions": {}}, headers=admin
    )
    assert created.status_code == 201, created.text
    missing = client.patch(f"/api/v1/segments/{key}", json={"name": "x"}, headers=admin)
    assert missing.status_code == 428
    stale = client.patch(
        f"/api/v1/segments/{key}", json={"name": "x"}, headers={**admin, "If-Match": '"99"'}
    )
    assert stale.status_code == 412
    responses = spec["paths"]["/api/v1/segments/{key}"]["patch"]["responses"]
    assert {"412", "428"} <= set(responses)


def test_ofrep_operations_document_their_own_errors_and_no_validation_problem(
    spec: dict[str, Any],
) -> None:
    ofrep = [(m, p, o) for m, p, o in operations(spec) if p.startswith("/ofrep/")]
    assert len(ofrep) >= 2
    for method, path, operation in ofrep:
        assert "422" not in operation["responses"], f"{method} {path}"
    single = spec["paths"]["/ofrep/v1/evaluate/flags/{key}"]["post"]["responses"]
    assert {"400", "404"} <= set(single)
