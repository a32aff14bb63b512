"""The asyncio client against a live ``verdict serve`` (a subprocess, on SQLite and on
PostgreSQL): it gets ready over HTTP, follows the server-sent event stream, and hears a
flag created through the management API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from tests.integration.conformance.server import sdk_key
from tests.integration.delivery.test_stream import LiveServer, admin_headers, create_flag
from verdict.sdk import AsyncClient, ClientStatus, MemoryRecorder

WAIT = 20.0  # generous bounds: the suite asserts that things happen, never how fast


async def eventually(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.02)
    return condition()


def test_the_async_client_gets_ready_and_hears_a_change(server: LiveServer) -> None:
    admin = admin_headers(server.base)
    key = sdk_key(server.base, admin, "server")
    first = create_flag(server.base, admin)

    async def main() -> None:
        async with AsyncClient(
            key, server.base, recorder=MemoryRecorder(), retry_initial=0.2, retry_max=1.0
        ) as client:
            assert await client.wait_until_ready(WAIT)
            assert client.status is ClientStatus.READY
            assert client.get_bool_details(first, True).error_code is None
            assert await eventually(lambda: client._streaming), "no event stream opened"
            etag = client.etag
            # Made from a worker thread: the loop stays free to hear the change.
            later = await asyncio.to_thread(create_flag, server.base, admin)
            assert await eventually(
                lambda: client.get_bool_details(later, True).error_code is None
            ), "the new flag never reached the client"
            assert client.etag != etag

    asyncio.run(main())
