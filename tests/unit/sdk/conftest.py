"""Shared by the SDK's unit tests: a loopback configuration server at version 1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.unit.sdk.config_server import ConfigServer, versioned_document


@pytest.fixture
def server() -> Iterator[ConfigServer]:
    server = ConfigServer(versioned_document(1))
    yield server
    server.stop()
