"""A live ``verdict serve`` on a database of its own, for the SDK's tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.conftest import DatabaseFactory
from tests.integration.conformance.server import prepare_database
from tests.integration.delivery.test_stream import LiveServer, start_server


@contextmanager
def live_verdict(database_factory: DatabaseFactory, backend: str) -> Iterator[LiveServer]:
    """A migrated database of ``backend`` with an admin, and a server on a free port
    (stopped on exit)."""
    url = database_factory.new_url(backend)
    prepare_database(url)
    server = start_server(url)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def server(database_factory: DatabaseFactory, backend: str) -> Iterator[LiveServer]:
    with live_verdict(database_factory, backend) as live:
        yield live
