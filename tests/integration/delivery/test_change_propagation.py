"""Cross-process propagation on PostgreSQL: a change committed through one server process
reaches the stream clients and the configuration of another within a second
(LISTEN/NOTIFY). PostgreSQL-only by nature: SQLite serves one process."""

from __future__ import annotations

import time

import httpx

from tests.conftest import DatabaseFactory
from tests.integration.delivery.test_stream import (
    admin_headers,
    config_events,
    create_flag,
    prepare_database,
    server_key,
    start_server,
)


def test_a_change_through_one_process_reaches_streams_of_another(
    database_factory: DatabaseFactory,
) -> None:
    # PostgreSQL only, by nature; DatabaseFactory fails (not skips) without it under CI.
    url = database_factory.new_url("postgresql")
    prepare_database(url)
    process_a = start_server(url)
    process_b = start_server(url)
    try:
        admin_a = admin_headers(process_a.base)
        key = server_key(process_a.base, admin_a)
        with httpx.Client(timeout=httpx.Timeout(10.0)) as client:
            with client.stream(
                "GET", f"{process_b.base}/api/v1/sdk/stream", headers=key
            ) as response:
                events = config_events(response.iter_lines())
                before = next(events)["data"]["etag"]

                requested = time.perf_counter()
                flag = create_flag(process_a.base, admin_a)  # answered once committed
                answered = time.perf_counter()
                changed = next(events)
                latency = time.perf_counter() - requested
                after_answer = time.perf_counter() - answered

            config_b = client.get(f"{process_b.base}/api/v1/sdk/config", headers=key)
        assert changed["data"]["etag"] != before
        assert config_b.headers["etag"] == changed["data"]["etag"]
        assert flag in config_b.json()["flags"]
        # No timing is asserted (the stream's 10 s read timeout only bounds the wait);
        # the latency is printed: pytest -s tests/integration/delivery/test_change_propagation.py
        print(
            f"cross-process propagation: {latency * 1000:.1f} ms from the request to A, "
            f"{after_answer * 1000:.1f} ms after A answered"
        )
    finally:
        process_a.stop()
        process_b.stop()
