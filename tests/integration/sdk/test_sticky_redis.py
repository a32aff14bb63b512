"""The Redis sticky store against the Redis server at 127.0.0.1:6379 (``VERDICT_TEST_REDIS_URL``).

Each test writes under its own key prefix and deletes its keys afterwards. What the
store wrote is read back with plain Redis commands (``HGETALL``, ``TTL``), not through
the store. Outside CI a missing Redis skips these tests; under ``CI=true`` it fails
them. The last tests point the store at a closed port: reads go on, bucketed as if
there were no store.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tests.conftest import IN_CI
from verdict.sdk import AsyncClient, Client, ExperimentReason, MemoryRecorder, RedisStickyStore

REDIS_URL = os.environ.get("VERDICT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def server() -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        connection.ping()
    except redis.RedisError as exc:
        connection.close()
        if IN_CI:
            pytest.fail(f"Redis is required under CI=true ({REDIS_URL}): {exc}")
        pytest.skip(f"Redis not available at {REDIS_URL}: {exc}")
    yield connection
    connection.close()


@pytest.fixture
def prefix(server: redis.Redis) -> Iterator[str]:
    prefix = f"verdict-test:{uuid.uuid4().hex}:"
    yield prefix
    keys = list(server.scan_iter(match=prefix + "*"))
    if keys:
        server.delete(*keys)


def document(weights: dict[str, float]) -> dict[str, Any]:
    return {
        "experiments": {
            "exp": {
                "variants": [{"key": key, "weight": weight} for key, weight in weights.items()],
            }
        },
        "flags": {
            "copy": {
                "type": "string",
                "default": "none",
                "variants": [
                    {"key": "control", "value": "old"},
                    {"key": "treatment", "value": "new"},
                ],
                "rules": [{"id": "e", "type": "experiment", "experiment": "exp"}],
            }
        },
    }


ALL_CONTROL = {"control": 1.0, "treatment": 0.0}
ALL_TREATMENT = {"control": 0.0, "treatment": 1.0}


def client_with(store: RedisStickyStore, weights: dict[str, float]) -> Client:
    return Client(
        "offline",
        None,
        bootstrap=document(weights),
        recorder=MemoryRecorder(),
        sticky_store=store,
    )


def test_one_hash_per_unit_read_back_with_plain_redis(server: redis.Redis, prefix: str) -> None:
    store = RedisStickyStore(server, prefix=prefix)
    store.save_assignment("user-1", "exp-a", "control")
    store.save_assignment("user-1", "exp-b", "green")
    store.save_assignment("user-2", "exp-a", "treatment")
    assert server.hgetall(prefix + "user-1") == {b"exp-a": b"control", b"exp-b": b"green"}
    assert server.hgetall(prefix + "user-2") == {b"exp-a": b"treatment"}
    assert server.ttl(prefix + "user-1") == -1  # no TTL asked for: the key never expires
    assert store.get_assignments("user-1", ["exp-b", "exp-a", "exp-c"]) == {
        "exp-a": "control",
        "exp-b": "green",
    }
    assert store.get_assignments("nobody", ["exp-a"]) == {}
    assert store.get_assignments("user-1", []) == {}


def test_a_ttl_is_set_on_every_save(server: redis.Redis, prefix: str) -> None:
    store = RedisStickyStore(server, prefix=prefix, ttl=1000)
    store.save_assignment("user-1", "exp", "control")
    assert 0 < server.ttl(prefix + "user-1") <= 1000


def test_a_client_that_decodes_responses_works_too(server: redis.Redis, prefix: str) -> None:
    decoding = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        store = RedisStickyStore(decoding, prefix=prefix)
        store.save_assignment("user-1", "exp", "control")
        assert store.get_assignments("user-1", ["exp"]) == {"exp": "control"}
    finally:
        decoding.close()


def test_units_keep_their_variant_across_processes_after_a_weight_change(
    server: redis.Redis, prefix: str
) -> None:
    first = client_with(RedisStickyStore(url=REDIS_URL, prefix=prefix), ALL_TREATMENT)
    units = [f"user-{i}" for i in range(25)]
    for unit in units:
        assert first.get_string("copy", "?", unit) == "new"
    assert server.hgetall(prefix + "user-3") == {b"exp": b"treatment"}

    # Another process (its own client and connection), started on the new weights.
    second = client_with(RedisStickyStore(url=REDIS_URL, prefix=prefix), ALL_CONTROL)
    for unit in units:
        details = second.get_variant("exp", unit)
        assert (details.variant, details.reason) == ("treatment", ExperimentReason.STICKY)
        assert second.get_string("copy", "?", unit) == "new"
    assert second.get_variant("exp", "newcomer").variant == "control"
    assert server.hgetall(prefix + "newcomer") == {b"exp": b"control"}
    for client in (first, second):
        store = client.sticky_store
        assert isinstance(store, RedisStickyStore)
        store.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends


def test_redis_down_decisions_go_on_without_the_store(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="verdict.sdk")
    store = RedisStickyStore(url=f"redis://127.0.0.1:{_closed_port()}/0", socket_timeout=0.5)
    client = client_with(store, ALL_TREATMENT)
    for i in range(30):
        details = client.get_variant("exp", f"user-{i}")
        assert (details.variant, details.reason) == ("treatment", ExperimentReason.BUCKETED)
        assert client.get_string("copy", "?", f"user-{i}") == "new"
        assert client.get_string_details("copy", "?", f"user-{i}").error_code is None
    failures = [r for r in caplog.records if "sticky store failed" in r.message]
    assert len(failures) == 1
    assert "ConnectionError" in failures[0].getMessage()


def test_the_store_itself_raises_when_redis_is_down() -> None:
    # The client catches this (above); used directly, the store reports it.
    store = RedisStickyStore(url=f"redis://127.0.0.1:{_closed_port()}/0", socket_timeout=0.5)
    with pytest.raises(redis.ConnectionError):
        store.get_assignments("user-1", ["exp"])


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"url": "http://127.0.0.1:6379"}, "url"),
        ({"url": REDIS_URL, "prefix": "p" * 201}, "prefix"),
        ({"url": REDIS_URL, "ttl": 0}, "ttl"),
        ({"url": REDIS_URL, "ttl": 1.5}, "ttl"),
        ({"url": REDIS_URL, "socket_timeout": 0}, "socket_timeout"),
        ({}, "client"),
    ],
)
def test_bad_arguments_are_refused_naming_the_field(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}: "):
        RedisStickyStore(**kwargs)


def test_the_async_client_reads_redis_off_the_loop(server: redis.Redis, prefix: str) -> None:
    server.hset(prefix + "user-1", "exp", "treatment")  # stored by another process

    async def main() -> None:
        store = RedisStickyStore(url=REDIS_URL, prefix=prefix)
        async with AsyncClient(
            "offline",
            None,
            bootstrap=document(ALL_CONTROL),
            recorder=MemoryRecorder(),
            sticky_store=store,
        ) as client:
            assert await client.get_string_async("copy", "?", "user-1") == "new"
            details = await client.get_variant_async("exp", "user-1")
            assert details.reason is ExperimentReason.STICKY
            assert await client.get_string_async("copy", "?", "user-2") == "old"
        store.close()

    asyncio.run(main())
    assert server.hgetall(prefix + "user-2") == {b"exp": b"control"}
