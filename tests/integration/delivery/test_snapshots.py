"""The per-environment snapshot cache: built once, rebuilt only after invalidation."""

from __future__ import annotations

import threading

import pytest
from fastapi import FastAPI

from verdict.server.delivery.snapshots import SnapshotCache
from verdict.server.errors import NotFoundError
from verdict.server.flags.models import FeatureFlag


def test_a_snapshot_is_reused_until_invalidated(api_app: FastAPI) -> None:
    cache = SnapshotCache(api_app.state.session_factory)
    first = cache.get("production")
    assert cache.get("production") is first
    cache.invalidate("production")
    rebuilt = cache.get("production")
    assert rebuilt is not first
    assert rebuilt.etag == first.etag  # nothing changed, so the same content tag


def test_a_committed_change_shows_after_invalidation_with_a_new_etag(api_app: FastAPI) -> None:
    cache = SnapshotCache(api_app.state.session_factory)
    before = cache.get("staging")
    key = f"cache-{before.etag[1:9]}"
    with api_app.state.session_factory() as session:
        session.add(FeatureFlag(key=key, name=key, default_value=False))
        session.commit()
    assert key not in cache.get("staging").document["flags"]
    cache.invalidate(None)
    after = cache.get("staging")
    assert key in after.document["flags"]
    assert after.etag != before.etag
    assert after.snapshot.value(key, "unit-1", {}) is False


def test_concurrent_requests_for_a_stale_environment_share_one_build(api_app: FastAPI) -> None:
    cache = SnapshotCache(api_app.state.session_factory)
    results = []

    def fetch() -> None:
        results.append(cache.get("development"))

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(result) for result in results}) == 1


def test_an_unknown_environment_is_not_found(api_app: FastAPI) -> None:
    with pytest.raises(NotFoundError):
        SnapshotCache(api_app.state.session_factory).get("no-such-environment")


def test_listeners_hear_each_invalidation(api_app: FastAPI) -> None:
    cache = SnapshotCache(api_app.state.session_factory)
    heard: list[str | None] = []
    cache.add_listener(heard.append)
    cache.invalidate("production")
    cache.invalidate(None)
    assert heard == ["production", None]
