"""One run of a blocking lookup for every request that needs it at the same moment.

When a hot path misses a cache (a server process has just started, or a change has
just invalidated it), every request in flight misses together. Without coordination
each would run the same database lookup on the thread pool: sixty-four requests,
sixty-four identical queries, a thread pool exhausted and the event loop starved while
they compete. :class:`SingleFlight` lets the first request run the lookup and the
others await its result (or its error).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

__all__ = ["SingleFlight"]

T = TypeVar("T")


class SingleFlight:
    """Shares, per key and event loop, one thread-pool run of a blocking function."""

    def __init__(self) -> None:
        self._running: dict[Hashable, asyncio.Task[Any]] = {}

    async def run(self, key: Hashable, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        running = self._running.get(key)
        if running is None or running.get_loop() is not loop or running.done():
            running = loop.create_task(run_in_threadpool(function, *args))
            self._running[key] = running
            running.add_done_callback(lambda task: self._forget(key, task))
        # Shielded: a caller that goes away does not cancel the lookup the others await.
        result: T = await asyncio.shield(running)
        return result

    def _forget(self, key: Hashable, task: asyncio.Task[Any]) -> None:
        if self._running.get(key) is task:
            del self._running[key]
