"""The async example of docs/sdk.md runs against the loopback stand-in server (its key
and URL swapped for the stand-in's)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.unit.sdk.config_server import ConfigServer
from tests.unit.sdk.test_docs import DOC, doc_blocks


def test_the_async_example_runs_against_a_server() -> None:
    example = next(block for block in doc_blocks() if "async with AsyncClient(" in block)
    server = ConfigServer(
        {"flags": {"new-checkout": {"type": "boolean", "default": True}}}, key="vk_docs"
    )
    try:
        source = example.replace('"vk_…"', repr(server.key)).replace(
            '"https://verdict.example.com"', repr(server.base)
        )
        assert source != example
        namespace: dict[str, Any] = {}
        exec(compile(source, str(DOC), "exec"), namespace)
        asyncio.run(namespace["main"]())
        assert ("/api/v1/sdk/config", None) in server.requests
    finally:
        server.stop()
