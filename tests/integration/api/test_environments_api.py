"""Environments through the API: the defaults, create, edit with If-Match, and deletion
refused while flags, overrides, API keys or experiments live in the environment."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.integration.conftest import unique
from verdict.server.environments.models import Environment
from verdict.server.experiments.models import Experiment, Variant

ENVIRONMENTS = "/api/v1/environments"


def _create(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    body = {"key": unique("env"), "name": "QA", **body}
    response = client.post(ENVIRONMENTS, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _fields(response: Any) -> list[str]:
    return [error["field"] for error in response.json()["errors"]]


def test_the_default_environments_are_listed_in_their_order(
    client: TestClient, viewer: dict[str, str]
) -> None:
    response = client.get(ENVIRONMENTS, params={"limit": 200}, headers=viewer)
    assert response.status_code == 200
    defaults = ["development", "staging", "production"]
    # Other tests add environments to the shared database; look at the defaults only.
    keys = [item["key"] for item in response.json()["items"] if item["key"] in defaults]
    assert keys == defaults
    production = client.get(f"{ENVIRONMENTS}/production", headers=viewer)
    assert production.json()["name"] == "Production"
    assert production.headers["etag"] == f'"{production.json()["version"]}"'


def test_creating_an_environment_needs_the_permission_and_is_audited(
    client: TestClient, admin: dict[str, str], experimenter: dict[str, str]
) -> None:
    refused = client.post(
        ENVIRONMENTS, json={"key": unique("e"), "name": "E"}, headers=experimenter
    )
    assert refused.status_code == 403
    environment = _create(client, admin, description="Quality assurance", sort_order=500)
    assert (environment["description"], environment["sort_order"], environment["version"]) == (
        "Quality assurance",
        500,
        1,
    )
    appended = _create(client, admin)
    assert appended["sort_order"] > 500
    entries = client.get(
        "/api/v1/audit",
        params={"resource_type": "environment", "resource_id": environment["id"]},
        headers=admin,
    ).json()["items"]
    assert [(e["action"], e["environment_id"]) for e in entries] == [("create", environment["id"])]


def test_keys_are_identifiers_of_at_most_64_characters_and_unique(
    client: TestClient, admin: dict[str, str]
) -> None:
    for bad in ("0day", "a b", "x" * 65):
        response = client.post(ENVIRONMENTS, json={"key": bad, "name": "E"}, headers=admin)
        assert response.status_code == 422
        assert _fields(response) == ["body.key"]
    taken = client.post(ENVIRONMENTS, json={"key": "production", "name": "E"}, headers=admin)
    assert taken.status_code == 409
    assert _fields(taken) == ["body.key"]
    negative = client.post(
        ENVIRONMENTS, json={"key": unique("e"), "name": "E", "sort_order": -1}, headers=admin
    )
    assert _fields(negative) == ["body.sort_order"]


def test_editing_an_environment_needs_the_current_version(
    client: TestClient, admin: dict[str, str]
) -> None:
    environment = _create(client, admin)
    url = f"{ENVIRONMENTS}/{environment['key']}"
    assert client.patch(url, json={"name": "B"}, headers=admin).status_code == 428
    edited = client.patch(url, json={"name": "B"}, headers={**admin, "If-Match": '"1"'})
    assert edited.status_code == 200
    assert (edited.json()["name"], edited.headers["etag"]) == ("B", '"2"')
    stale = client.patch(url, json={"name": "C"}, headers={**admin, "If-Match": '"1"'})
    assert stale.status_code == 412
    nulled = client.patch(url, json={"name": None}, headers={**admin, "If-Match": '"2"'})
    assert _fields(nulled) == ["body.name"]
    rekey = client.patch(url, json={"key": "other"}, headers={**admin, "If-Match": '"2"'})
    assert _fields(rekey) == ["body.key"]


def test_an_empty_environment_is_deleted(client: TestClient, admin: dict[str, str]) -> None:
    environment = _create(client, admin)
    url = f"{ENVIRONMENTS}/{environment['key']}"
    assert client.delete(url, headers=admin).status_code == 428
    assert client.delete(url, headers={**admin, "If-Match": '"1"'}).status_code == 204
    assert client.get(url, headers=admin).status_code == 404
    entries = client.get(
        "/api/v1/audit",
        params={"resource_type": "environment", "resource_id": environment["id"]},
        headers=admin,
    ).json()["items"]
    assert [e["action"] for e in entries] == ["delete", "create"]


def test_an_environment_in_use_cannot_be_deleted_and_the_refusal_names_what_blocks_it(
    client: TestClient, admin: dict[str, str], api_app: FastAPI
) -> None:
    environment = _create(client, admin)
    env_key = environment["key"]
    configured, overridden = unique("flag"), unique("flag")
    for flag in (configured, overridden):
        assert (
            client.post("/api/v1/flags", json={"key": flag, "name": "F"}, headers=admin).status_code
            == 201
        )
    state = client.post(
        f"/api/v1/flags/{configured}/environments/{env_key}/enable",
        headers={**admin, "If-Match": '"0"'},
    )
    assert state.status_code == 200
    override = client.put(
        f"/api/v1/flags/{overridden}/environments/{env_key}/overrides/u1",
        json={"value": True},
        headers=admin,
    )
    assert override.status_code == 201
    key_name = unique("sdk-key")
    api_key = client.post(
        "/api/v1/api-keys",
        json={"name": key_name, "kind": "server", "environment": env_key},
        headers=admin,
    )
    assert api_key.status_code == 201
    experiment = unique("exp")
    with api_app.state.session_factory() as session:
        environment_id = session.scalars(
            select(Environment.id).where(Environment.key == env_key)
        ).one()
        session.add(
            Experiment(
                key=experiment,
                name=experiment,
                environment_id=environment_id,
                variants=[Variant(key="a", weight=1.0, position=0)],
            )
        )
        session.commit()
    url = f"{ENVIRONMENTS}/{env_key}"
    refused = client.delete(url, headers={**admin, "If-Match": '"1"'})
    assert refused.status_code == 409
    detail = refused.json()["detail"]
    for blocker in (configured, overridden, key_name, experiment):
        assert blocker in detail
    assert client.get(url, headers=admin).status_code == 200
