"""Per-unit overrides through the API: create or replace, type checks, expiry, listing,
deletion, audit, and what reaches the engine configuration."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from tests.integration.conftest import unique
from verdict.engine import EvaluationContext, compile_config
from verdict.server.flags.config import environment_config
from verdict.server.flags.models import FeatureFlag, FeatureFlagOverride

FLAGS = "/api/v1/flags"
LATER = (dt.datetime.now(dt.UTC) + dt.timedelta(days=7)).isoformat()


def _flag(client: TestClient, headers: dict[str, str], **body: Any) -> str:
    key = unique("flag")
    response = client.post(FLAGS, json={"key": key, "name": "F", **body}, headers=headers)
    assert response.status_code == 201, response.text
    return key


def _url(key: str, unit: str = "", environment: str = "production") -> str:
    base = f"{FLAGS}/{key}/environments/{environment}/overrides"
    return f"{base}/{unit}" if unit else base


def _fields(response: Any) -> list[str]:
    return [error["field"] for error in response.json()["errors"]]


def test_put_creates_then_replaces_a_units_override_and_audits_both(
    client: TestClient, experimenter: dict[str, str]
) -> None:
    key = _flag(client, experimenter)
    created = client.put(
        _url(key, "user-7"),
        json={"value": True, "reason": "QA", "expires_at": LATER},
        headers=experimenter,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["unit_id"], body["value"], body["reason"], body["expired"]) == (
        "user-7",
        True,
        "QA",
        False,
    )
    assert body["created_by"] is not None
    unversioned = client.put(_url(key, "user-7"), json={"value": False}, headers=experimenter)
    assert unversioned.status_code == 428
    versioned = {**experimenter, "If-Match": created.headers["etag"]}
    replaced = client.put(_url(key, "user-7"), json={"value": False}, headers=versioned)
    assert replaced.status_code == 200
    assert replaced.headers["etag"] != created.headers["etag"]
    stale = client.put(_url(key, "user-7"), json={"value": True}, headers=versioned)
    assert stale.status_code == 412
    assert (replaced.json()["value"], replaced.json()["expires_at"]) == (False, None)
    entries = client.get(f"{FLAGS}/{key}/history", headers=experimenter).json()["items"]
    assert [e["action"] for e in entries[:2]] == ["set_override", "set_override"]
    assert entries[0]["before"]["value"] is True
    assert entries[0]["after"]["value"] is False
    assert entries[1]["before"] is None
    assert all(e["environment_id"] is not None for e in entries[:2])


def test_an_override_value_must_be_of_the_flags_type(
    client: TestClient, admin: dict[str, str]
) -> None:
    key = _flag(client, admin, value_type="number", default_value=1)
    response = client.put(_url(key, "u1"), json={"value": "2"}, headers=admin)
    assert response.status_code == 422
    assert _fields(response) == ["body.value"]
    assert "not a number value" in response.json()["detail"]
    assert client.get(_url(key), headers=admin).json()["items"] == []


def test_a_variant_is_stored_as_its_value_and_shown_as_the_variant(
    client: TestClient, admin: dict[str, str]
) -> None:
    key = _flag(
        client,
        admin,
        value_type="json",
        default_value={"size": 1},
        variants=[{"key": "big", "value": {"size": 3}}, {"key": "one", "value": {"size": 1}}],
    )
    response = client.put(_url(key, "u1"), json={"variant": "big"}, headers=admin)
    assert response.status_code == 201
    assert (response.json()["value"], response.json()["variant"]) == ({"size": 3}, "big")
    other = client.put(_url(key, "u2"), json={"value": {"size": True}}, headers=admin)
    assert other.json()["variant"] is None  # true is not the 1 of variant "one"
    unknown = client.put(_url(key, "u1"), json={"variant": "huge"}, headers=admin)
    assert unknown.status_code == 422
    assert _fields(unknown) == ["body.variant"]
    both = client.put(_url(key, "u1"), json={"variant": "big", "value": {"size": 1}}, headers=admin)
    assert _fields(both) == ["body.variant"]
    neither = client.put(_url(key, "u1"), json={"reason": "?"}, headers=admin)
    assert _fields(neither) == ["body.value"]


def test_expiry_must_be_in_the_future_and_carry_a_zone(
    client: TestClient, admin: dict[str, str]
) -> None:
    key = _flag(client, admin)
    past = client.put(
        _url(key, "u1"), json={"value": True, "expires_at": "2020-01-01T00:00:00Z"}, headers=admin
    )
    assert past.status_code == 422
    assert _fields(past) == ["body.expires_at"]
    naive = client.put(
        _url(key, "u1"), json={"value": True, "expires_at": "2099-01-01T00:00:00"}, headers=admin
    )
    assert naive.status_code == 422
    assert _fields(naive) == ["body.expires_at"]


def test_overrides_are_listed_by_page_and_by_expiry(
    client: TestClient, admin: dict[str, str], api_app: FastAPI
) -> None:
    key = _flag(client, admin)
    for unit in ("a", "b", "c"):
        response = client.put(_url(key, unit), json={"value": True}, headers=admin)
        assert response.status_code == 201
    with api_app.state.session_factory() as session:
        session.execute(
            update(FeatureFlagOverride)
            .where(
                FeatureFlagOverride.unit_id == "c",
                FeatureFlagOverride.flag_id.in_(
                    select(FeatureFlag.id).where(FeatureFlag.key == key)
                ),
            )
            .values(
                created_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
                expires_at=dt.datetime(2021, 1, 1, tzinfo=dt.UTC),
            )
        )
        session.commit()
    first = client.get(_url(key), params={"limit": 2}, headers=admin).json()
    assert [item["unit_id"] for item in first["items"]] == ["a", "b"]
    rest = client.get(_url(key), params={"cursor": first["next_cursor"]}, headers=admin).json()
    assert [(item["unit_id"], item["expired"]) for item in rest["items"]] == [("c", True)]
    live = client.get(_url(key), params={"expired": False}, headers=admin).json()["items"]
    assert [item["unit_id"] for item in live] == ["a", "b"]
    expired = client.get(_url(key), params={"expired": True}, headers=admin).json()["items"]
    assert [item["unit_id"] for item in expired] == ["c"]
    with api_app.state.session_factory() as session:
        document = environment_config(session, "production")
    assert sorted(document["flags"][key]["overrides"]) == ["a", "b"]


def test_an_override_wins_in_the_engine_only_where_it_was_set(
    client: TestClient, admin: dict[str, str], api_app: FastAPI
) -> None:
    key = _flag(client, admin)
    put = client.put(
        f"{FLAGS}/{key}/environments/staging",
        json={"enabled": True, "rules": []},
        headers={**admin, "If-Match": '"0"'},
    )
    assert put.status_code == 200
    unit = "tester/with slash"
    response = client.put(
        _url(key, "tester%2Fwith%20slash", "staging"), json={"value": True}, headers=admin
    )
    assert response.status_code == 201, response.text
    assert response.json()["unit_id"] == unit
    with api_app.state.session_factory() as session:
        staging = compile_config(environment_config(session, "staging"))
        production = compile_config(environment_config(session, "production"))
    result = staging.evaluate(key, EvaluationContext(unit))
    assert (result.value, result.rule) == (True, "override")
    assert staging.value(key, "someone-else", {}) is False
    assert production.value(key, unit, {}) is False


def test_deleting_an_override_removes_it_and_is_audited(
    client: TestClient, admin: dict[str, str], viewer: dict[str, str]
) -> None:
    key = _flag(client, admin)
    created = client.put(_url(key, "u1"), json={"value": True}, headers=admin)
    assert created.status_code == 201
    versioned = {**admin, "If-Match": created.headers["etag"]}
    assert client.delete(_url(key, "u1"), headers=viewer).status_code == 403
    assert client.delete(_url(key, "u1"), headers=admin).status_code == 428
    assert client.delete(_url(key, "u1"), headers=versioned).status_code == 204
    assert client.delete(_url(key, "u1"), headers=versioned).status_code == 404
    assert client.get(_url(key), headers=viewer).json()["items"] == []
    entries = client.get(f"{FLAGS}/{key}/history", headers=admin).json()["items"]
    assert entries[0]["action"] == "delete_override"
    assert entries[0]["before"]["unit_id"] == "u1"
    assert entries[0]["after"] is None


def test_overrides_need_an_existing_flag_and_environment(
    client: TestClient, admin: dict[str, str]
) -> None:
    key = _flag(client, admin)
    assert client.get(_url("no-such-flag"), headers=admin).status_code == 404
    missing_env = client.put(_url(key, "u1", "nowhere"), json={"value": True}, headers=admin)
    assert missing_env.status_code == 404
    long_unit = client.put(_url(key, "u" * 256), json={"value": True}, headers=admin)
    assert long_unit.status_code == 422
