"""The per-environment snapshot cache: built once, rebuilt only after invalidation."""

from __future__ import annotations

import gc
import threading
import time
import uuid
import weakref

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from verdict.server.app import create_app
from verdict.server.config import get_settings
from verdict.server.delivery.snapshots import SnapshotCache
from verdict.server.environments.models import Environment
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


class _GatedFactory:
    """A session factory whose second and later builds wait for a gate to open."""

    def __init__(self, factory: object) -> None:
        self._factory = factory
        self.builds = 0
        self.started = threading.Event()
        self.gate = threading.Event()

    def __call__(self) -> object:
        self.builds += 1
        if self.builds > 1:
            self.started.set()
            assert self.gate.wait(10)
        return self._factory()  # type: ignore[operator]


def test_a_request_during_a_rebuild_waits_for_it_instead_of_getting_the_old_copy(
    api_app: FastAPI,
) -> None:
    gated = _GatedFactory(api_app.state.session_factory)
    cache = SnapshotCache(gated)  # type: ignore[arg-type]
    old = cache.get("production")
    cache.invalidate("production")
    results: list[object] = []
    builder = threading.Thread(target=lambda: results.append(cache.get("production")))
    builder.start()
    assert gated.started.wait(10)  # the rebuild is under way
    reader = threading.Thread(target=lambda: results.append(cache.get("production")))
    reader.start()
    reader.join(0.2)
    assert reader.is_alive()  # it waits rather than take the old copy
    gated.gate.set()
    builder.join()
    reader.join()
    assert all(result is not old for result in results)


def test_an_invalidation_during_a_rebuild_forces_another_rebuild(api_app: FastAPI) -> None:
    gated = _GatedFactory(api_app.state.session_factory)
    cache = SnapshotCache(gated)  # type: ignore[arg-type]
    cache.get("production")
    cache.invalidate("production")
    first: list[object] = []
    builder = threading.Thread(target=lambda: first.append(cache.get("production")))
    builder.start()
    assert gated.started.wait(10)
    cache.invalidate("production")  # a change committed while the build was reading
    gated.gate.set()
    builder.join()
    assert cache.get("production") is not first[0]
    assert gated.builds == 3


def test_an_aged_copy_keeps_serving_while_it_is_rebuilt_in_the_background(
    api_app: FastAPI,
) -> None:
    cache = SnapshotCache(api_app.state.session_factory, max_age=0.05)
    first = cache.get("production")
    time.sleep(0.1)
    # Aged but not invalidated: answered at once from the old copy...
    assert cache.get("production") is first
    # ...while a background thread builds its successor.
    deadline = time.monotonic() + 10
    while cache.get("production") is first and time.monotonic() < deadline:
        time.sleep(0.01)
    second = cache.get("production")
    assert second is not first
    # An invalidated copy, unlike an aged one, is never served again.
    cache.invalidate("production")
    assert cache.get("production") is not second


def test_a_starting_server_compiles_every_environment_before_its_first_request(
    migrated_url: str,
) -> None:
    app = create_app(get_settings(database_url=migrated_url))
    with app.state.session_factory() as session:
        environments = dict(session.execute(select(Environment.id, Environment.key)).all())
    assert environments
    with TestClient(app):
        cache = app.state.snapshots
        assert {s.environment_key for s in cache.cached()} == set(environments.values())
        for environment_id in environments:
            assert cache.peek_by_id(environment_id) is not None  # held: no build needed


def test_a_replaced_snapshot_is_freed_without_the_cycle_collector(api_app: FastAPI) -> None:
    # The server freezes what it compiled at start out of the cycle collector's reach;
    # that is only safe because a snapshot holds no reference cycles, so reference
    # counting alone frees it (and everything it compiled) once replaced.
    with api_app.state.session_factory() as session:
        key = f"frozen-{uuid.uuid4().hex[:8]}"
        session.add(FeatureFlag(key=key, name=key, default_value=False))
        session.commit()
    cache = SnapshotCache(api_app.state.session_factory)
    old = cache.get("production")
    assert key in old.snapshot.flags  # something was compiled
    ref = weakref.ref(old)
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)  # what a collection finds is kept in gc.garbage
    try:
        cache.invalidate("production")
        assert cache.get("production") is not old
        del old
        freed_by_reference_counting = ref() is None
        gc.collect()
        cyclic = [o for o in gc.garbage if type(o).__module__.startswith("verdict.")]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert freed_by_reference_counting
    assert cyclic == []
