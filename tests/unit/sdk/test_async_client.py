"""The asyncio client: reads from a bootstrap (values read off the configuration by
hand), refreshing from an asyncio task against the loopback stand-in server
(tests/unit/sdk/config_server.py), start rules, STALE and recovery, and closing."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Collection
from typing import Any

import pytest

from tests.unit.sdk.config_server import ConfigServer, polling_options
from tests.unit.sdk.config_server import versioned_document as document
from verdict.sdk import (
    AsyncClient,
    ClientEvent,
    ClientStatus,
    ErrorCode,
    EvaluationContext,
    ExperimentReason,
    MemoryRecorder,
    MemoryStickyStore,
    Reason,
)

WAIT = 10.0  # generous: the suite never asserts timings, only that things happen

CONFIG: dict[str, Any] = {
    "experiments": {
        "exp": {
            "variants": [{"key": "control", "weight": 0.0}, {"key": "treatment", "weight": 1.0}],
            "forced": {"qa-1": "control"},
        }
    },
    "flags": {
        "beta": {
            "type": "boolean",
            "default": False,
            "rules": [{"id": "pro", "type": "force", "condition": {"plan": "pro"}, "value": True}],
        },
        "copy": {
            "type": "string",
            "default": "Buy",
            "variants": [
                {"key": "control", "value": "Buy"},
                {"key": "treatment", "value": "Buy now"},
            ],
            "rules": [{"id": "e", "type": "experiment", "experiment": "exp"}],
        },
        "size": {"type": "integer", "default": 10},
    },
}


async def eventually(condition: Callable[[], bool], within: float = WAIT) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.01)
    return condition()


def polling(server: ConfigServer, **kwargs: Any) -> AsyncClient:
    return AsyncClient(server.key, server.base, **polling_options(**kwargs))


def test_reads_from_a_bootstrap_are_plain_calls() -> None:
    recorder = MemoryRecorder()

    async def main() -> None:
        async with AsyncClient("offline", None, bootstrap=CONFIG, recorder=recorder) as client:
            assert await client.wait_until_ready(0) is True
            assert client.status is ClientStatus.READY
            pro = EvaluationContext("u-1", {"plan": "pro"})
            assert client.is_enabled("beta", pro) is True
            assert client.get_bool("beta", True, "u-1") is False
            assert client.get_string("copy", "?", "u-1") == "Buy now"
            assert client.get_integer("size", 0) == 10
            details = client.get_integer_details("beta", 0, "u-1")
            assert (details.reason, details.error_code) == (Reason.ERROR, ErrorCode.TYPE_MISMATCH)
            variant = client.get_variant("exp", "qa-1")
            assert (variant.variant, variant.reason) == ("control", ExperimentReason.FORCED)
            assert set(client.evaluate_all("u-1")) == {"beta", "copy", "size"}
            assert client.track("purchase", "u-1", 9.5) is True

    asyncio.run(main())
    assert [(e.unit_id, e.variant_key) for e in recorder.exposures] == [
        ("u-1", "treatment"),
        ("qa-1", "control"),
    ]
    assert [(e.unit_id, e.event, e.value) for e in recorder.events] == [("u-1", "purchase", 9.5)]
    assert recorder.closed is False  # the caller's recorder is flushed, not closed


def test_sticky_assignments_work_as_in_the_sync_client() -> None:
    store = MemoryStickyStore()
    moved = {
        **CONFIG,
        "experiments": {
            "exp": {
                "variants": [
                    {"key": "control", "weight": 1.0},
                    {"key": "treatment", "weight": 0.0},
                ]
            }
        },
    }

    async def main() -> None:
        client = AsyncClient(
            "offline", None, bootstrap=CONFIG, recorder=MemoryRecorder(), sticky_store=store
        )
        assert client.get_string("copy", "?", "u-1") == "Buy now"
        client._install(moved, '"2"')
        assert client.get_variant("exp", "u-1").reason is ExperimentReason.STICKY
        assert client.get_variant("exp", "u-2").variant == "control"
        await client.aclose()

    asyncio.run(main())


def test_the_task_downloads_then_polls_with_its_etag(server: ConfigServer) -> None:
    async def main() -> None:
        async with polling(server) as client:
            assert await client.wait_until_ready(WAIT)
            assert client.get_integer("version", 0) == 1
            server.set_document(document(2))
            assert await eventually(lambda: client.get_integer("version", 0) == 2)
            etag = client.etag
            assert await eventually(
                lambda: server.requests.count(("/api/v1/sdk/config", etag)) >= 2
            )
            refresh_tasks = [
                t for t in asyncio.all_tasks() if t.get_name() == "verdict-sdk-refresh"
            ]
            assert len(refresh_tasks) == 1
        # Closed: the task is gone and the server hears nothing more.
        assert not [t for t in asyncio.all_tasks() if t.get_name() == "verdict-sdk-refresh"]
        seen = len(server.requests)
        await asyncio.sleep(0.2)
        assert len(server.requests) == seen
        await client.aclose()  # idempotent

    asyncio.run(main())
    assert [path for path, _ in server.requests].count("/api/v1/sdk/stream") == 1


def test_built_outside_a_loop_the_client_starts_when_awaited(server: ConfigServer) -> None:
    client = polling(server)  # no running loop here: nothing can start yet
    assert client.status is ClientStatus.NOT_READY
    assert server.requests == []

    async def main() -> None:
        assert await client.wait_until_ready(WAIT)
        assert client.get_integer("version", 0) == 1
        await client.aclose()

    asyncio.run(main())


def test_start_false_waits_for_start(server: ConfigServer) -> None:
    async def main() -> None:
        client = polling(server, start=False)
        await asyncio.sleep(0.2)
        assert server.requests == []
        client.start()
        assert await client.wait_until_ready(WAIT)
        await client.aclose()

    asyncio.run(main())


def test_a_failing_server_makes_it_stale_and_it_recovers(server: ConfigServer) -> None:
    events: list[ClientEvent] = []

    async def main() -> None:
        async with polling(server) as client:
            for event in ClientEvent:
                client.add_listener(event, lambda e, c: events.append(e))
            assert await client.wait_until_ready(WAIT)
            server.failure = 503
            assert await eventually(lambda: client.status is ClientStatus.STALE)
            assert client.get_integer("version", 0) == 1
            server.set_document(document(3))
            server.failure = None
            assert await eventually(lambda: client.status is ClientStatus.READY)
            assert await eventually(lambda: client.get_integer("version", 0) == 3)

    asyncio.run(main())
    assert events.count(ClientEvent.STALE) == 1
    after_stale = events[events.index(ClientEvent.STALE) :]
    assert ClientEvent.READY in after_stale
    assert ClientEvent.CONFIGURATION_CHANGED in after_stale


def test_a_refused_key_times_out_and_reads_error(server: ConfigServer) -> None:
    async def main() -> None:
        async with AsyncClient(
            "vk_wrong",
            server.base,
            retry_initial=0.05,
            retry_max=0.1,
            recorder=MemoryRecorder(),
        ) as client:
            assert await client.wait_until_ready(0.3) is False
            assert await eventually(lambda: client.status is ClientStatus.ERROR)
            assert client.get_bool_details("version", True).reason is Reason.ERROR

    asyncio.run(main())


def test_bad_arguments_are_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"^poll_interval: "):
        AsyncClient("k", "http://127.0.0.1:1", poll_interval=0)


class ThreadNoting:
    """A store (not the memory one) noting which thread asked it."""

    def __init__(self) -> None:
        self.threads: list[int] = []
        self.saved: dict[tuple[str, str], str] = {}

    def get_assignments(self, unit_id: str, experiment_keys: Collection[str]) -> dict[str, str]:
        self.threads.append(threading.get_ident())
        return {k: self.saved[(unit_id, k)] for k in experiment_keys if (unit_id, k) in self.saved}

    def save_assignment(self, unit_id: str, experiment_key: str, variant: str) -> None:
        self.threads.append(threading.get_ident())
        self.saved[(unit_id, experiment_key)] = variant


def test_awaitable_reads_answer_as_the_plain_ones() -> None:
    async def main() -> None:
        async with AsyncClient("offline", None, bootstrap=CONFIG, recorder=MemoryRecorder()) as c:
            pro = EvaluationContext("u-1", {"plan": "pro"})
            assert await c.is_enabled_async("beta", pro) is True
            assert await c.get_bool_async("beta", True, "u-1") is False
            assert await c.get_string_async("copy", "?", "u-1") == "Buy now"
            assert await c.get_integer_async("size", 0) == 10
            assert await c.get_number_async("size", 1.5) == 1.5  # an integer flag: the default
            assert await c.get_json_async("size", {"a": 1}) == {"a": 1}
            details = await c.get_string_details_async("copy", "?", "u-1")
            assert (details.value, details.variant, details.reason) == (
                "Buy now",
                "treatment",
                Reason.SPLIT,
            )
            assert (await c.get_bool_details_async("beta", False, pro)).value is True
            assert (await c.get_integer_details_async("size", 0)).value == 10
            assert (await c.get_number_details_async("size", 0.0)).error_code is (
                ErrorCode.TYPE_MISMATCH
            )
            assert (await c.get_json_details_async("nope", {})).error_code is (
                ErrorCode.FLAG_NOT_FOUND
            )
            assert (await c.get_variant_async("exp", "qa-1")).variant == "control"
            assert (await c.evaluate_all_async("u-1"))["copy"].value == "Buy now"

    asyncio.run(main())


def test_a_store_that_may_block_is_asked_off_the_event_loop() -> None:
    store = ThreadNoting()

    async def main() -> None:
        loop_thread = threading.get_ident()
        async with AsyncClient(
            "offline", None, bootstrap=CONFIG, recorder=MemoryRecorder(), sticky_store=store
        ) as client:
            assert await client.get_string_async("copy", "?", "u-1") == "Buy now"
            assert (await client.get_variant_async("exp", "u-2")).variant == "treatment"
            assert (await client.evaluate_all_async("u-1"))["copy"].value == "Buy now"
            assert store.threads
            assert loop_thread not in store.threads
            assert store.saved == {("u-1", "exp"): "treatment", ("u-2", "exp"): "treatment"}
            asked = len(store.threads)
            assert await client.get_integer_async("size", 0, "u-1") == 10  # no experiment
            assert len(store.threads) == asked

    asyncio.run(main())


def test_the_memory_store_is_asked_on_the_loop_itself() -> None:
    threads: list[int] = []

    class Noting(MemoryStickyStore):
        def get_assignments(self, unit_id: str, experiment_keys: Collection[str]) -> dict[str, str]:
            threads.append(threading.get_ident())
            return super().get_assignments(unit_id, experiment_keys)

    async def main() -> None:
        client = AsyncClient(
            "offline", None, bootstrap=CONFIG, recorder=MemoryRecorder(), sticky_store=Noting()
        )
        assert await client.get_string_async("copy", "?", "u-1") == "Buy now"
        assert threads == [threading.get_ident()]
        await client.aclose()

    asyncio.run(main())
