"""POST /api/v1/evaluate: flag results for an SDK key's environment, from the snapshot."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.integration.conftest import unique


def sdk_key(client: TestClient, admin: dict[str, str], kind: str = "server") -> dict[str, str]:
    created = client.post(
        "/api/v1/api-keys",
        json={"name": unique(kind), "kind": kind, "environment": "production"},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    return {"Authorization": f"Bearer {created.json()['key']}"}


def make_flag(
    client: TestClient,
    admin: dict[str, str],
    *,
    value_type: str,
    default: Any,
    variants: list[dict[str, Any]],
    rules: list[dict[str, Any]],
    enabled: bool = True,
) -> str:
    key = unique("flag")
    created = client.post(
        "/api/v1/flags",
        json={
            "key": key,
            "name": key,
            "value_type": value_type,
            "default_value": default,
            "variants": variants,
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text
    state = client.put(
        f"/api/v1/flags/{key}/environments/production",
        json={"enabled": enabled, "rules": rules},
        headers={**admin, "If-Match": '"0"'},
    )
    assert state.status_code == 200, state.text
    return key


@pytest.fixture
def flags(client: TestClient, admin: dict[str, str], api_app: FastAPI) -> dict[str, str]:
    staff = make_flag(
        client,
        admin,
        value_type="boolean",
        default=False,
        variants=[{"key": "on", "value": True}, {"key": "off", "value": False}],
        rules=[{"id": "staff", "type": "force", "variant": "on", "condition": {"staff": True}}],
    )
    colour = make_flag(
        client,
        admin,
        value_type="string",
        default="blue",
        variants=[{"key": "blue", "value": "blue"}, {"key": "green", "value": "green"}],
        rules=[],
    )
    off = make_flag(
        client,
        admin,
        value_type="number",
        default=3,
        variants=[],
        rules=[],
        enabled=False,
    )
    # Configuration changes reach the cache through its invalidation; make it explicit.
    api_app.state.snapshots.invalidate(None)
    return {"staff": staff, "colour": colour, "off": off}


def test_named_flags_resolve_with_value_variant_reason_and_rule(
    client: TestClient, admin: dict[str, str], flags: dict[str, str]
) -> None:
    response = client.post(
        "/api/v1/evaluate",
        json={
            "targeting_key": "user-1",
            "attributes": {"staff": True},
            "flags": [flags["staff"], flags["colour"], flags["off"]],
        },
        headers=sdk_key(client, admin),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["environment"] == "production"
    assert list(body["flags"]) == [flags["staff"], flags["colour"], flags["off"]]
    staff = body["flags"][flags["staff"]]
    assert (staff["value"], staff["variant"], staff["reason"], staff["rule"]) == (
        True,
        "on",
        "TARGETING_MATCH",
        "staff",
    )
    assert staff["error_code"] is None
    colour = body["flags"][flags["colour"]]
    assert (colour["value"], colour["variant"], colour["reason"]) == ("blue", "blue", "STATIC")
    off = body["flags"][flags["off"]]
    assert (off["value"], off["reason"]) == (3, "DISABLED")


def test_targeting_decides_per_unit(
    client: TestClient, admin: dict[str, str], flags: dict[str, str]
) -> None:
    response = client.post(
        "/api/v1/evaluate",
        json={"targeting_key": "user-2", "attributes": {"staff": False}, "flags": [flags["staff"]]},
        headers=sdk_key(client, admin, "client"),
    )
    result = response.json()["flags"][flags["staff"]]
    assert (result["value"], result["variant"], result["reason"]) == (False, "off", "DEFAULT")


def test_without_a_flag_list_every_flag_of_the_environment_is_evaluated(
    client: TestClient, admin: dict[str, str], flags: dict[str, str]
) -> None:
    response = client.post(
        "/api/v1/evaluate", json={"targeting_key": "user-3"}, headers=sdk_key(client, admin)
    )
    assert response.status_code == 200, response.text
    assert set(flags.values()) <= set(response.json()["flags"])


def test_an_unknown_flag_resolves_to_flag_not_found_not_an_http_error(
    client: TestClient, admin: dict[str, str]
) -> None:
    response = client.post(
        "/api/v1/evaluate",
        json={"targeting_key": "user-4", "flags": ["no-such-flag"]},
        headers=sdk_key(client, admin),
    )
    assert response.status_code == 200
    result = response.json()["flags"]["no-such-flag"]
    assert (result["value"], result["reason"], result["error_code"]) == (
        None,
        "ERROR",
        "FLAG_NOT_FOUND",
    )


def test_a_malformed_body_names_the_field(client: TestClient, admin: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/evaluate",
        json={"targeting_key": "u", "attributes": [], "extra": 1},
        headers=sdk_key(client, admin),
    )
    assert response.status_code == 422
    fields = {error["field"] for error in response.json()["errors"]}
    assert {"body.attributes", "body.extra"} <= fields


def test_a_login_token_or_admin_key_is_refused(client: TestClient, admin: dict[str, str]) -> None:
    response = client.post("/api/v1/evaluate", json={"targeting_key": "u"}, headers=admin)
    assert response.status_code == 403


def test_evaluation_reads_the_cached_snapshot_without_recompiling(
    client: TestClient, admin: dict[str, str], flags: dict[str, str], api_app: FastAPI
) -> None:
    headers = sdk_key(client, admin)
    client.post("/api/v1/evaluate", json={"targeting_key": "u"}, headers=headers)
    held = api_app.state.snapshots.get("production")
    for _ in range(3):
        client.post("/api/v1/evaluate", json={"targeting_key": "u"}, headers=headers)
    assert api_app.state.snapshots.get("production") is held
