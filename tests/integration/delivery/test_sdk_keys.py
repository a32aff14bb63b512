"""SDK keys on the hot paths: remembered in process, forgotten the moment a key changes.

Covers the in-process API key cache (revocation, expiry, the generation guard, and
that a remembered key costs no database statement), the ``X-API-Key`` header OpenFeature
providers send, and that revocations in one process reach the others' caches through
PostgreSQL notifications.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, select
from sqlalchemy.orm import sessionmaker

from tests.integration.conftest import unique
from verdict.server.delivery.changes import ChangeListener, ChangeTracker
from verdict.server.delivery.snapshots import SnapshotCache
from verdict.server.identity.auth import Principal, key_cache
from verdict.server.identity.keycache import ApiKeyCache
from verdict.server.identity.models import ApiKey

EVALUATE = "/api/v1/evaluate"


def _new_key(client: TestClient, admin: dict[str, str], **fields: Any) -> dict[str, Any]:
    created = client.post(
        "/api/v1/api-keys",
        json={"name": unique("key"), "kind": "server", "environment": "production", **fields},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


@contextmanager
def _statements(api_app: FastAPI) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(str(args[2]))

    engine = api_app.state.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_a_remembered_key_is_answered_without_any_database_statement(
    client: TestClient, admin: dict[str, str], api_app: FastAPI
) -> None:
    key = _new_key(client, admin)
    headers = {"Authorization": f"Bearer {key['key']}"}
    cache = key_cache(api_app)
    # A key made or revoked meanwhile by another test (on PostgreSQL, in any process of
    # the run) clears the cache, and the next request rightly reads the key again: only
    # a window without a clear can be judged, so try until one comes.
    for _attempt in range(5):
        assert (
            client.post(EVALUATE, json={"targeting_key": "u"}, headers=headers).status_code == 200
        )
        clears: list[bool] = []

        def cleared(clears: list[bool] = clears) -> None:
            clears.append(True)

        cache.add_listener(cleared)
        try:
            with _statements(api_app) as seen:
                response = client.post(EVALUATE, json={"targeting_key": "u"}, headers=headers)
        finally:
            cache.remove_listener(cleared)
        assert response.status_code == 200
        if not clears:
            break
    assert not clears, "the key cache was cleared during every attempt"
    assert seen == []


def test_the_first_use_records_when_the_key_was_last_used(
    client: TestClient, admin: dict[str, str], api_app: FastAPI
) -> None:
    key = _new_key(client, admin)
    headers = {"Authorization": f"Bearer {key['key']}"}
    assert client.post(EVALUATE, json={}, headers=headers).status_code == 200
    with api_app.state.session_factory() as session:
        used = session.scalar(select(ApiKey.last_used_at).where(ApiKey.id == uuid.UUID(key["id"])))
    assert used is not None


def test_a_revoked_key_is_refused_from_the_next_request_on(
    client: TestClient, admin: dict[str, str]
) -> None:
    key = _new_key(client, admin)
    headers = {"Authorization": f"Bearer {key['key']}"}
    assert client.post(EVALUATE, json={}, headers=headers).status_code == 200
    assert client.delete(f"/api/v1/api-keys/{key['id']}", headers=admin).status_code == 200
    refused = client.post(EVALUATE, json={}, headers=headers)
    assert refused.status_code == 401
    assert "revoked" in refused.json()["detail"]


def test_openfeature_providers_may_send_the_key_as_x_api_key(
    client: TestClient, admin: dict[str, str]
) -> None:
    key = _new_key(client, admin)
    response = client.post(
        "/ofrep/v1/evaluate/flags", json={"context": {}}, headers={"X-API-Key": key["key"]}
    )
    assert response.status_code == 200, response.text
    assert client.post(EVALUATE, json={}, headers={"X-API-Key": key["key"]}).status_code == 200
    not_a_key = client.post(EVALUATE, json={}, headers={"X-API-Key": "hunter2"})
    assert not_a_key.status_code == 401
    assert "X-API-Key" in not_a_key.json()["detail"]
    unknown = client.post(EVALUATE, json={}, headers={"X-API-Key": key["key"] + "x"})
    assert unknown.status_code == 401


def _principal() -> Principal:
    return Principal(name="api-key:test", permissions=frozenset(), api_key_id=uuid.uuid4())


def test_the_cache_forgets_entries_after_their_ttl_or_the_keys_expiry() -> None:
    now = dt.datetime.now(dt.UTC)
    cache = ApiKeyCache(ttl=0.05)
    cache.put("a", _principal(), expires_at=None, generation=cache.generation)
    cache.put("b", _principal(), expires_at=now + dt.timedelta(seconds=5), generation=0)
    assert cache.get("a", now) is not None
    assert cache.get("b", now + dt.timedelta(seconds=6)) is None  # the key itself expired
    time.sleep(0.06)
    assert cache.get("a", now) is None


def test_an_authentication_that_raced_a_clear_is_not_remembered() -> None:
    cache = ApiKeyCache()
    generation = cache.generation  # a request starts authenticating...
    cache.clear()  # ...a key changes meanwhile...
    cache.put("a", _principal(), expires_at=None, generation=generation)
    assert cache.get("a", dt.datetime.now(dt.UTC)) is None  # ...so what it read is dropped


def test_key_changes_clear_the_cache_of_this_process_and_not_last_used_times(
    api_app: FastAPI,
) -> None:
    factory = sessionmaker(bind=api_app.state.engine, expire_on_commit=False)
    keys = ApiKeyCache()
    tracker = ChangeTracker(factory, SnapshotCache(factory), keys)
    tracker.install()
    try:
        keys.put("a", _principal(), expires_at=None, generation=keys.generation)
        with factory() as session:
            record = session.scalars(select(ApiKey).where(ApiKey.revoked_at.is_(None))).first()
            assert record is not None
            record.last_used_at = dt.datetime.now(dt.UTC)
            session.commit()
        assert len(keys) == 1  # a last-used time is not a change worth forgetting keys for
        with factory() as session:
            record = session.get(ApiKey, record.id)
            assert record is not None
            record.name = unique("renamed")
            session.commit()
        assert len(keys) == 0
    finally:
        tracker.remove()


# PostgreSQL only: on SQLite one process serves, so there is no other cache to reach.
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_revocation_reaches_the_key_cache_of_another_process(
    api_app: FastAPI, client: TestClient, admin: dict[str, str]
) -> None:
    # The listener of "another process": its own cache, fed only by notifications.
    other_keys = ApiKeyCache()
    listener = ChangeListener(
        api_app.state.engine, SnapshotCache(api_app.state.session_factory), api_keys=other_keys
    )
    listener.start()
    try:
        assert listener.wait_listening(10)
        other_keys.put("a", _principal(), expires_at=None, generation=other_keys.generation)
        key = _new_key(client, admin)  # creating a key is a key change too
        assert client.delete(f"/api/v1/api-keys/{key['id']}", headers=admin).status_code == 200
        deadline = time.monotonic() + 5
        while len(other_keys) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(other_keys) == 0
    finally:
        listener.stop()
