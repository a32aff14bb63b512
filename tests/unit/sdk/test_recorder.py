"""HttpRecorder against an httpx.MockTransport: batching, dropping, dedup, retries."""

from __future__ import annotations

import atexit
import datetime as dt
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any

import httpx
import pytest

from verdict.sdk import recorder as recorder_module
from verdict.sdk.recorder import HttpRecorder

BASE = "http://verdict.test"
Handler = Callable[[httpx.Request], httpx.Response]


class Server:
    """A mock server: records every request, answers with the handler's response."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.handler = handler or self.accept
        self.lock = threading.Lock()

    @staticmethod
    def accept(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if "events" in body:
            return httpx.Response(
                200, json={"accepted": len(body["events"]), "duplicates": 0, "rejected": 0}
            )
        return httpx.Response(
            200,
            json={
                "recorded": len(body["exposures"]),
                "duplicates": 0,
                "conflicts": 0,
                "rejected": 0,
            },
        )

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
        return self.handler(request)

    def bodies(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(r.content) for r in self.requests if r.url.path == path]

    def events(self) -> list[dict[str, Any]]:
        return [e for body in self.bodies("/api/v1/events") for e in body["events"]]

    def exposures(self) -> list[dict[str, Any]]:
        return [e for body in self.bodies("/api/v1/exposures") for e in body["exposures"]]


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the delays the recorder waits between retries instead of waiting them."""
    waits: list[float] = []

    def pause(stop: threading.Event, seconds: float) -> bool:
        waits.append(seconds)
        return stop.is_set()

    monkeypatch.setattr(recorder_module, "_pause", pause)
    return waits


@pytest.fixture
def make() -> Iterator[Callable[..., tuple[HttpRecorder, Server]]]:
    made: list[HttpRecorder] = []

    def build(handler: Handler | None = None, **options: Any) -> tuple[HttpRecorder, Server]:
        server = Server(handler)
        options.setdefault("flush_interval", 60.0)  # flushed by size or by hand unless set
        client = httpx.Client(transport=httpx.MockTransport(server))
        recorder = HttpRecorder("vk_test", BASE, http_client=client, **options)
        made.append(recorder)
        return recorder, server

    yield build
    for recorder in made:
        recorder.close(timeout=5)


def track(recorder: HttpRecorder, unit: str, event: str = "purchase") -> None:
    recorder.track(unit_id=unit, event=event, value=1.5, properties={"sku": "a"})


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


def test_a_full_batch_is_sent_without_waiting_for_the_interval(make: Any) -> None:
    recorder, server = make(batch_size=10)
    for i in range(10):
        track(recorder, f"u{i}")
    wait_for(lambda: len(server.events()) == 10)
    (body,) = server.bodies("/api/v1/events")
    first = body["events"][0]
    assert first["type"] == "purchase"
    assert first["unit_id"] == "u0"
    assert first["value"] == 1.5
    assert first["properties"] == {"sku": "a"}
    assert first["timestamp"].endswith("+00:00")
    request = server.requests[0]
    assert request.headers["authorization"] == "Bearer vk_test"
    assert request.url == f"{BASE}/api/v1/events"


def test_batches_hold_at_most_batch_size_entries(make: Any) -> None:
    recorder, server = make(batch_size=4)
    for i in range(10):
        track(recorder, f"u{i}")
    assert recorder.flush(timeout=10)
    sizes = [len(body["events"]) for body in server.bodies("/api/v1/events")]
    assert sum(sizes) == 10
    assert max(sizes) <= 4
    assert [e["unit_id"] for e in server.events()] == [f"u{i}" for i in range(10)]


def test_a_partial_batch_is_sent_on_the_interval(make: Any) -> None:
    recorder, server = make(batch_size=500, flush_interval=0.05)
    track(recorder, "u1")
    wait_for(lambda: len(server.events()) == 1)
    assert recorder.stats.sent == 1


def test_nothing_is_sent_before_the_interval_or_a_full_batch(make: Any) -> None:
    recorder, server = make(batch_size=500, flush_interval=60)
    track(recorder, "u1")
    time.sleep(0.2)
    assert server.requests == []
    assert recorder.stats.pending == 1


def test_overflow_drops_the_oldest_and_counts_them(make: Any) -> None:
    gate = threading.Event()

    def slow(request: httpx.Request) -> httpx.Response:
        gate.wait(10)
        return Server.accept(request)

    recorder, server = make(slow, max_queue=5, batch_size=500)
    for i in range(12):
        track(recorder, f"u{i}")
    assert recorder.stats.dropped_overflow == 7
    gate.set()
    assert recorder.flush(timeout=10)
    assert [e["unit_id"] for e in server.events()] == [f"u{i}" for i in range(7, 12)]
    assert recorder.stats.sent == 5


def test_an_exposure_is_sent_once_per_unit_experiment_and_variant(make: Any) -> None:
    recorder, server = make()
    for _ in range(3):
        recorder.exposure(unit_id="u1", experiment_key="e", variant_key="a", attributes={"x": 1})
    recorder.exposure(unit_id="u1", experiment_key="e", variant_key="b", attributes={})
    recorder.exposure(unit_id="u2", experiment_key="e", variant_key="a", attributes={})
    assert recorder.flush(timeout=10)
    sent = [(e["unit_id"], e["experiment"], e["variant"]) for e in server.exposures()]
    assert sent == [("u1", "e", "a"), ("u1", "e", "b"), ("u2", "e", "a")]
    assert server.exposures()[0]["attributes"] == {"x": 1}


def test_the_dedup_memory_is_bounded_and_forgets_the_least_recent(make: Any) -> None:
    recorder, server = make(dedup_size=2)
    expose = recorder.exposure
    expose(unit_id="u1", experiment_key="e", variant_key="a", attributes={})
    expose(unit_id="u2", experiment_key="e", variant_key="a", attributes={})
    expose(unit_id="u1", experiment_key="e", variant_key="a", attributes={})  # refreshes u1
    expose(unit_id="u3", experiment_key="e", variant_key="a", attributes={})  # evicts u2
    expose(unit_id="u1", experiment_key="e", variant_key="a", attributes={})  # still held
    expose(unit_id="u2", experiment_key="e", variant_key="a", attributes={})  # sent again
    assert recorder.flush(timeout=10)
    assert [e["unit_id"] for e in server.exposures()] == ["u1", "u2", "u3", "u2"]


def test_503_is_retried_with_growing_jittered_backoff_and_the_same_ids(
    make: Any, no_backoff: list[float]
) -> None:
    answers = iter([503, 503, 503])

    def flaky(request: httpx.Request) -> httpx.Response:
        status = next(answers, 200)
        return Server.accept(request) if status == 200 else httpx.Response(status)

    recorder, server = make(flaky, max_retries=5)
    track(recorder, "u1")
    track(recorder, "u2")
    assert recorder.flush(timeout=10)
    bodies = server.bodies("/api/v1/events")
    assert len(bodies) == 4
    ids = [[e["client_event_id"] for e in body["events"]] for body in bodies]
    assert all(batch == ids[0] for batch in ids)
    assert len(set(ids[0])) == 2
    assert recorder.stats.retries == 3
    assert recorder.stats.sent == 2
    assert len(no_backoff) == 3
    # Full jitter: each wait lies in [0, base * 2**attempt].
    for attempt, waited in enumerate(no_backoff):
        assert 0 <= waited <= 0.2 * 2**attempt


def test_429_waits_as_long_as_retry_after_says(make: Any, no_backoff: list[float]) -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "7"})])

    def limited(request: httpx.Request) -> httpx.Response:
        return next(answers, None) or Server.accept(request)

    recorder, server = make(limited)
    track(recorder, "u1")
    assert recorder.flush(timeout=10)
    assert no_backoff == [7.0]
    assert recorder.stats.retries == 1
    assert recorder.stats.sent == 1
    assert len(server.bodies("/api/v1/events")) == 2


def test_retry_after_as_an_http_date_is_understood() -> None:
    later = time.time() + 30
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(later))
    waited = recorder_module._retry_after(httpx.Response(429, headers={"Retry-After": date}))
    assert waited is not None
    assert 25 <= waited <= 31
    assert recorder_module._retry_after(httpx.Response(429, headers={"Retry-After": "x"})) is None


def test_network_errors_are_retried(make: Any, no_backoff: list[float]) -> None:
    failures = iter([True, True])

    def broken(request: httpx.Request) -> httpx.Response:
        if next(failures, False):
            raise httpx.ConnectError("refused", request=request)
        return Server.accept(request)

    recorder, _server = make(broken)
    track(recorder, "u1")
    assert recorder.flush(timeout=10)
    assert recorder.stats.retries == 2
    assert recorder.stats.sent == 1


def test_a_400_is_never_retried_and_the_batch_is_dropped_and_counted(
    make: Any, no_backoff: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    recorder, server = make(lambda request: httpx.Response(400, json={"title": "bad"}))
    track(recorder, "u1")
    track(recorder, "u2")
    assert recorder.flush(timeout=10)
    track(recorder, "u3")
    assert recorder.flush(timeout=10)
    assert len(server.requests) == 2
    stats = recorder.stats
    assert stats.retries == 0
    assert stats.dropped_rejected == 3
    assert stats.sent == 0
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1  # logged once


def test_retries_give_up_after_max_retries_and_count_the_loss(
    make: Any, no_backoff: list[float]
) -> None:
    recorder, server = make(lambda request: httpx.Response(500), max_retries=2)
    track(recorder, "u1")
    assert recorder.flush(timeout=10)
    assert len(server.requests) == 3
    assert recorder.stats.dropped_failed == 1
    assert recorder.stats.retries == 2


def test_entries_the_server_refuses_one_by_one_are_counted(make: Any) -> None:
    def half(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"accepted": 1, "duplicates": 0, "rejected": 1})

    recorder, _ = make(half)
    track(recorder, "u1")
    track(recorder, "u2")
    assert recorder.flush(timeout=10)
    assert recorder.stats.sent == 1
    assert recorder.stats.dropped_rejected == 1


def test_an_entry_that_is_not_json_is_dropped_alone(make: Any) -> None:
    recorder, server = make()
    recorder.track(unit_id="u1", event="e", value=float("nan"), properties=None)
    track(recorder, "u2")
    assert recorder.flush(timeout=10)
    assert [e["unit_id"] for e in server.events()] == ["u2"]
    assert recorder.stats.dropped_rejected == 1


def test_values_json_cannot_carry_are_sent_as_text_or_null(make: Any) -> None:
    recorder, server = make()
    when = dt.datetime(2026, 12, 5, 9, 30, tzinfo=dt.UTC)
    recorder.track(
        unit_id="u1",
        event="e",
        value=2.0,
        properties={"at": when, "price": Decimal("9.90"), 7: "seven", "ratio": float("inf")},
    )
    recorder.exposure(
        unit_id="u1", experiment_key="x", variant_key="a", attributes={"score": float("nan")}
    )
    assert recorder.flush(timeout=10)
    [event] = server.events()
    assert event["properties"] == {
        "at": "2026-12-05 09:30:00+00:00",  # str(), as the guide says
        "price": "9.90",
        "7": "seven",
        "ratio": None,
    }
    assert server.exposures()[0]["attributes"] == {"score": None}
    assert recorder.stats.dropped_rejected == 0


def test_exposure_conflicts_reported_by_the_server_are_counted(make: Any) -> None:
    def conflict(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, json={"recorded": 0, "duplicates": 0, "conflicts": 1, "rejected": 0}
        )

    recorder, _ = make(conflict)
    recorder.exposure(unit_id="u1", experiment_key="e", variant_key="b", attributes={})
    assert recorder.flush(timeout=10)
    assert recorder.stats.exposure_conflicts == 1


def test_close_flushes_what_is_queued(make: Any) -> None:
    recorder, server = make()
    track(recorder, "u1")
    recorder.exposure(unit_id="u1", experiment_key="e", variant_key="a", attributes={})
    recorder.close(timeout=10)
    assert len(server.events()) == 1
    assert len(server.exposures()) == 1
    track(recorder, "u2")  # after close: ignored, never raises
    recorder.close()


def test_close_gives_up_at_its_timeout_when_the_server_is_away(make: Any) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    recorder, _ = make(down, max_retries=1_000_000, max_backoff=0.05)
    track(recorder, "u1")
    closing = threading.Thread(target=recorder.close, kwargs={"timeout": 0.3})
    closing.start()
    closing.join(60)  # a hang guard, not a timing: close must return at all
    assert not closing.is_alive()
    wait_for(lambda: recorder.stats.dropped_failed == 1)  # the sender stops after close
    assert recorder.stats.pending == 0


def test_the_recorder_registers_its_close_at_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    registered: list[Callable[[], None]] = []
    unregistered: list[Callable[[], None]] = []
    monkeypatch.setattr(atexit, "register", registered.append)
    monkeypatch.setattr(atexit, "unregister", unregistered.append)
    server = Server()
    client = httpx.Client(transport=httpx.MockTransport(server))
    recorder = HttpRecorder("vk", BASE, http_client=client, flush_interval=60)
    assert len(registered) == 1
    track(recorder, "u1")
    registered[0]()  # what the interpreter calls at exit
    assert len(server.events()) == 1
    assert unregistered == registered


def test_the_host_never_sees_an_exception(make: Any) -> None:
    recorder, _ = make()

    class Exploding(Mapping[str, Any]):
        def __getitem__(self, key: str) -> Any:
            raise RuntimeError("boom")

        def __iter__(self) -> Iterator[str]:
            raise RuntimeError("boom")

        def __len__(self) -> int:
            return 1

    recorder.track(unit_id="u", event="e", value=None, properties=Exploding())
    recorder.exposure(unit_id="u", experiment_key="e", variant_key="a", attributes=Exploding())
    assert recorder.flush(timeout=10)


def test_options_out_of_range_are_refused_naming_the_option() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        HttpRecorder("vk", BASE, batch_size=0)
    with pytest.raises(ValueError, match="batch_size"):
        HttpRecorder("vk", BASE, batch_size=5000)
    with pytest.raises(ValueError, match="max_queue"):
        HttpRecorder("vk", BASE, max_queue=-1)
    with pytest.raises(ValueError, match="sdk_key"):
        HttpRecorder("", BASE)


def test_a_forked_child_starts_with_an_empty_queue_and_its_own_sender(make: Any) -> None:
    recorder, server = make()
    for i in range(3):
        track(recorder, f"parent{i}")
    pid = os.fork()
    if pid == 0:  # the child: report through the exit status, never return into pytest
        status = 1
        try:
            if recorder.stats.pending == 0:
                track(recorder, "child")
                flushed = recorder.flush(timeout=10)
                units = [e["unit_id"] for e in server.events()]
                status = 0 if flushed and units == ["child"] else 2
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert recorder.flush(timeout=10)
    assert [e["unit_id"] for e in server.events()] == ["parent0", "parent1", "parent2"]


def test_an_exposure_the_server_schema_would_refuse_is_dropped_alone(make: Any) -> None:
    recorder, server = make()
    expose = recorder.exposure
    expose(unit_id="x" * 256, experiment_key="e", variant_key="a", attributes={})
    expose(unit_id="u1", experiment_key="", variant_key="a", attributes={})
    expose(unit_id="u2", experiment_key="e", variant_key="a", attributes={"n": "a\x00b"})
    expose(unit_id="u3", experiment_key="e", variant_key="a", attributes={})
    assert recorder.flush(timeout=10)
    assert [e["unit_id"] for e in server.exposures()] == ["u3"]
    assert recorder.stats.dropped_rejected == 3
