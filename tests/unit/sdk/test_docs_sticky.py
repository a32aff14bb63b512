"""The sticky-assignment example of docs/sdk.md runs and prints what its ``# ->`` lines
say; the async example runs against the loopback stand-in server (its key and URL
swapped for the stand-in's)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
from pathlib import Path
from typing import Any

from tests.unit.sdk.config_server import ConfigServer

DOC = Path(__file__).resolve().parents[3] / "docs" / "sdk.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)


def test_the_sticky_example_prints_what_the_guide_says() -> None:
    example = next(block for block in _blocks() if "sticky_store=store" in block)
    expected = [line.strip()[len("# -> ") :] for line in example.splitlines() if "# -> " in line]
    assert len(expected) == 3, "the example lost its # -> lines"
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile(example, str(DOC), "exec"), {})
    assert output.getvalue().splitlines() == expected


def test_the_async_example_runs_against_a_server() -> None:
    example = next(block for block in _blocks() if "async with AsyncClient(" in block)
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
