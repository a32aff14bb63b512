"""GET /api/v1/sdk/config: the cached document with its ETag, 304 when unchanged, and a
new ETag as soon as a change to configuration commits, whatever path committed it."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import sessionmaker

from tests.integration.conftest import unique
from verdict.server.delivery.changes import ChangeTracker
from verdict.server.delivery.snapshots import SnapshotCache
from verdict.server.flags.models import FeatureFlag

CONFIG = "/api/v1/sdk/config"
FLAGS = "/api/v1/flags"


def sdk_key(client: TestClient, admin: dict[str, str], kind: str, environment: str) -> str:
    response = client.post(
        "/api/v1/api-keys",
        json={"name": unique("key"), "kind": kind, "environment": environment},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["key"])


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def put_state(
    client: TestClient, admin: dict[str, str], flag: str, environment: str, body: dict[str, Any]
) -> None:
    url = f"{FLAGS}/{flag}/environments/{environment}"
    etag = client.get(url, headers=admin).headers["etag"]
    response = client.put(url, json=body, headers={**admin, "If-Match": etag})
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def production_key(client: TestClient, admin: dict[str, str]) -> dict[str, str]:
    return bearer(sdk_key(client, admin, "server", "production"))


def test_the_document_comes_with_an_etag_and_an_unchanged_one_answers_304(
    client: TestClient, production_key: dict[str, str]
) -> None:
    first = client.get(CONFIG, headers=production_key)
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/json"
    document = first.json()
    assert set(document) == {"flags", "experiments", "segments", "layers"}
    etag = first.headers["etag"]
    assert etag.startswith('"')

    again = client.get(CONFIG, headers={**production_key, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag

    weak_in_a_list = client.get(
        CONFIG, headers={**production_key, "If-None-Match": f'"other", W/{etag}'}
    )
    assert weak_in_a_list.status_code == 304
    stale = client.get(CONFIG, headers={**production_key, "If-None-Match": '"stale"'})
    assert stale.status_code == 200
    assert stale.content == first.content


def test_a_flag_change_through_the_api_gives_a_new_etag_at_once(
    client: TestClient, admin: dict[str, str], production_key: dict[str, str]
) -> None:
    flag = unique("flag")
    before = client.get(CONFIG, headers=production_key).headers["etag"]
    created = client.post(FLAGS, json={"key": flag, "name": "F"}, headers=admin)
    assert created.status_code == 201, created.text

    after_create = client.get(CONFIG, headers={**production_key, "If-None-Match": before})
    assert after_create.status_code == 200
    assert after_create.json()["flags"][flag]["enabled"] is False
    put_state(client, admin, flag, "production", {"enabled": True, "rules": []})

    after_enable = client.get(
        CONFIG, headers={**production_key, "If-None-Match": after_create.headers["etag"]}
    )
    assert after_enable.status_code == 200
    assert after_enable.json()["flags"][flag]["enabled"] is True


def test_a_change_scoped_to_one_environment_leaves_the_others_etag_alone(
    client: TestClient, admin: dict[str, str], production_key: dict[str, str]
) -> None:
    staging_key = bearer(sdk_key(client, admin, "server", "staging"))
    flag = unique("flag")
    assert client.post(FLAGS, json={"key": flag, "name": "F"}, headers=admin).status_code == 201
    production = client.get(CONFIG, headers=production_key).headers["etag"]
    staging = client.get(CONFIG, headers=staging_key).headers["etag"]

    put_state(client, admin, flag, "staging", {"enabled": True, "rules": []})

    assert client.get(CONFIG, headers=staging_key).headers["etag"] != staging
    assert client.get(CONFIG, headers=production_key).headers["etag"] == production


def test_a_commit_outside_the_api_invalidates_the_cache_too(
    api_app: FastAPI, client: TestClient, production_key: dict[str, str]
) -> None:
    before = client.get(CONFIG, headers=production_key).headers["etag"]
    flag = unique("flag")
    with api_app.state.session_factory() as session:
        session.add(FeatureFlag(key=flag, name=flag, default_value=False))
        session.commit()
    after = client.get(CONFIG, headers=production_key)
    assert after.headers["etag"] != before
    assert flag in after.json()["flags"]


def test_only_committed_changes_invalidate_and_shared_rows_invalidate_everything(
    api_app: FastAPI,
) -> None:
    # A tracker of its own, so notifications of other tests cannot blur what it hears.
    factory = sessionmaker(bind=api_app.state.engine, expire_on_commit=False)
    cache = SnapshotCache(factory)
    heard: list[str | None] = []
    cache.add_listener(heard.append)
    tracker = ChangeTracker(factory, cache)
    tracker.install()
    try:
        with factory() as session:
            session.add(FeatureFlag(key=unique("flag"), name="F", default_value=False))
            session.flush()
            session.rollback()
        assert heard == []
        with factory() as session:
            session.add(FeatureFlag(key=unique("flag"), name="F", default_value=False))
            session.commit()  # pending, flushed by the commit itself
        assert heard == [None]
    finally:
        tracker.remove()


def test_client_keys_may_not_download_the_configuration(
    client: TestClient, admin: dict[str, str]
) -> None:
    client_key = bearer(sdk_key(client, admin, "client", "production"))
    response = client.get(CONFIG, headers=client_key)
    assert response.status_code == 403
    assert client.get(CONFIG).status_code == 401
