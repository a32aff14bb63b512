"""Refreshing against a loopback stand-in server (tests/unit/sdk/config_server.py):
polling with ETags when the stream is unavailable, STALE and recovery, a refused key,
listeners, atomic swaps under concurrent reads, and a forked child's own refresh."""

from __future__ import annotations

import os
import select
import threading
import time
from collections.abc import Callable
from typing import Any

from tests.unit.sdk.config_server import ConfigServer, polling_options
from tests.unit.sdk.config_server import versioned_document as document
from verdict.sdk import (
    Client,
    ClientEvent,
    ClientStatus,
    EvaluationContext,
    MemoryRecorder,
    Reason,
)

WAIT = 10.0  # generous: the suite never asserts timings, only that things happen


def eventually(condition: Callable[[], bool], timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def polling_client(server: ConfigServer, **kwargs: Any) -> Client:
    return Client(server.key, server.base, **polling_options(**kwargs))


def test_the_client_downloads_then_polls_with_its_etag(server: ConfigServer) -> None:
    with polling_client(server) as client:
        assert client.wait_until_ready(WAIT)
        assert client.status is ClientStatus.READY
        assert client.get_integer("version", 0) == 1
        server.set_document(document(2))
        assert eventually(lambda: client.get_integer("version", 0) == 2)
        etag = client.etag
        assert eventually(lambda: server.requests.count(("/api/v1/sdk/config", etag)) >= 2)
    # The stream answered 404, so the client fell back to polling and never asked again.
    assert [path for path, _ in server.requests].count("/api/v1/sdk/stream") == 1


def test_a_failing_server_makes_the_client_stale_and_it_recovers(server: ConfigServer) -> None:
    events: list[ClientEvent] = []
    with polling_client(server) as client:
        for event in ClientEvent:
            client.add_listener(event, lambda e, c: events.append(e))
        assert client.wait_until_ready(WAIT)
        server.failure = 503
        assert eventually(lambda: client.status is ClientStatus.STALE)
        assert client.get_integer("version", 0) == 1  # the last configuration still serves
        server.set_document(document(3))
        server.failure = None
        assert eventually(lambda: client.status is ClientStatus.READY)
        assert eventually(lambda: client.get_integer("version", 0) == 3)
    assert ClientEvent.STALE in events
    after_stale = events[events.index(ClientEvent.STALE) :]
    assert ClientEvent.READY in after_stale
    assert ClientEvent.CONFIGURATION_CHANGED in after_stale
    assert events.count(ClientEvent.STALE) == 1  # once per failure streak


def test_an_old_last_refresh_reads_as_stale(server: ConfigServer) -> None:
    with polling_client(server, poll_interval=3600, stale_after=0.05) as client:
        assert client.wait_until_ready(WAIT)
        assert eventually(lambda: client.status is ClientStatus.STALE)


def test_a_refused_key_is_an_error(server: ConfigServer) -> None:
    errors: list[ClientEvent] = []
    client = Client(
        "vk_wrong",
        server.base,
        poll_interval=0.05,
        retry_initial=0.05,
        retry_max=0.1,
        recorder=MemoryRecorder(),
        start=False,
    )
    client.add_listener(ClientEvent.ERROR, lambda e, c: errors.append(e))
    client._start_refresher()
    with client:
        assert eventually(lambda: client.status is ClientStatus.ERROR)
        assert client.wait_until_ready(0.1) is False
        assert client.get_bool_details("version", True).reason is Reason.ERROR
    assert errors == [ClientEvent.ERROR]


def test_bootstrap_serves_until_the_server_answers(server: ConfigServer) -> None:
    with polling_client(server, bootstrap=document(0), start=False) as client:
        assert client.get_integer("version", -1) == 0
        client._start_refresher()
        assert eventually(lambda: client.get_integer("version", -1) == 1)


def test_close_stops_the_refresh_thread(server: ConfigServer) -> None:
    # Only this client's thread counts: other tests' clients may still be closing.
    before = set(_client_threads())
    client = polling_client(server)
    assert client.wait_until_ready(WAIT)
    [own] = [t for t in _client_threads() if t not in before]
    client.close()
    assert not own.is_alive()
    seen = len(server.requests)
    time.sleep(0.2)
    assert len(server.requests) == seen
    client.close()  # idempotent


def _client_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "verdict-sdk-refresh"]


def test_reads_never_see_half_a_configuration_while_it_is_swapped() -> None:
    client = Client("vk_offline", None, bootstrap=document(0), recorder=MemoryRecorder())
    stop = threading.Event()
    problems: list[str] = []

    def reader() -> None:
        ctx = EvaluationContext("u")
        while not stop.is_set():
            results = client.evaluate_all(ctx)
            if results["version"].value != results["mirror"].value:
                problems.append(f"mixed: {results}")
            if client.get_integer("version", -1) < 0:
                problems.append("a read fell back to the default")

    readers = [threading.Thread(target=reader) for _ in range(4)]
    for thread in readers:
        thread.start()
    for version in range(1, 300):
        client._install(document(version), f'"{version}"')
    stop.set()
    for thread in readers:
        thread.join()
    assert problems == []
    assert client.get_integer("version", -1) == 299


def test_a_forked_child_refreshes_on_its_own_thread(server: ConfigServer) -> None:
    client = polling_client(server)
    assert client.wait_until_ready(WAIT)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what it sees, then leave without pytest's teardown
        code = 1
        try:
            os.close(read_end)
            alive = any(t.is_alive() for t in _client_threads())
            got_new = eventually(lambda: client.get_integer("version", 0) == 2)
            os.write(write_end, f"{alive} {got_new}".encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    try:
        server.set_document(document(2))  # published after the fork: only a live
        # refresher in the child can bring it there
        ready, _, _ = select.select([read_end], [], [], WAIT + 5)
        assert ready, "the child did not report"
        report = os.read(read_end, 100).decode()
    finally:
        os.close(read_end)
        _, status = os.waitpid(pid, 0)
        client.close()
    assert os.waitstatus_to_exitcode(status) == 0
    assert report == "True True"
