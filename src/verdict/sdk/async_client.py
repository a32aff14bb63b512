"""The asyncio client: the same reads as :class:`~verdict.sdk.client.Client`, refreshed
by a task on the event loop instead of a thread.

Reads come in both forms. The plain ones (``client.get_bool(...)``, no ``await``) are
those of ``Client``: a decision is a function call on the configuration held in
memory, so an ``await`` would only add a coroutine's cost. The awaitable ones
(``await client.get_bool_async(...)``, OpenFeature's naming; GrowthBook's async client
awaits its reads) answer the same, and differ in one case: a read that must ask a
sticky store other than :class:`~verdict.sdk.sticky.MemoryStickyStore` (Redis: a
network round trip) runs in a worker thread, so the event loop never waits on it.
What waits is asynchronous too: ``await client.wait_until_ready()``,
``await client.aclose()`` and ``async with``. Everything but the refreshing is
inherited from :class:`~verdict.sdk.client.ClientBase`: arguments, status,
listeners, exposures, events and sticky assignments behave exactly as in ``Client``.

The refresh task needs a running loop: it starts when the client is built inside one
(``start=True``), else on ``async with``, :meth:`AsyncClient.start` or the first
:meth:`AsyncClient.wait_until_ready`. Listeners run on the event loop. Closing flushes
the recorder in a worker thread so the loop is never blocked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, TypeVar

from verdict.sdk.async_refresh import AsyncRefresher
from verdict.sdk.client import ClientBase
from verdict.sdk.context import Context
from verdict.sdk.sticky import MemoryStickyStore
from verdict.sdk.types import EvaluationDetails, VariantDetails

__all__ = ["AsyncClient"]

_T = TypeVar("_T")


class AsyncClient(ClientBase):
    """Local evaluation against one environment's configuration, kept current by an
    asyncio task (see module doc). Arguments: see :class:`~verdict.sdk.client.ClientBase`.
    """

    _refresher: AsyncRefresher | None = None
    _wants_refresh = False
    _ready_event: asyncio.Event | None = None

    def _begin(self, start: bool) -> None:
        self._wants_refresh = self._base_url is not None
        if start and self._wants_refresh:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop yet: started by async with, start() or wait_until_ready()
            self._start_refresher()

    def _start_refresher(self) -> None:
        self._refresher = self._new_refresher(AsyncRefresher)
        self._refresher.start()

    def start(self) -> None:
        """Start refreshing on the running loop (nothing when started, closed or offline)."""
        if self._refresher is None and self._wants_refresh and not self._closed:
            self._start_refresher()

    @property
    def _streaming(self) -> bool:
        refresher = self._refresher
        return refresher is not None and refresher.streaming

    def _event(self) -> asyncio.Event:
        if self._ready_event is None:
            self._ready_event = asyncio.Event()
            if self._ready.is_set():
                self._ready_event.set()
        return self._ready_event

    def _became_ready(self) -> None:
        if self._ready_event is not None:
            self._ready_event.set()

    # The same signature as Client.wait_until_ready (and a bool answer rather than a
    # TimeoutError), so code moving between the clients changes only the await.
    async def wait_until_ready(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109
        """Wait until a configuration is held (True) or ``timeout`` passes (False)."""
        self.start()
        if self._ready.is_set():
            return True
        try:
            await asyncio.wait_for(self._event().wait(), timeout)
        except TimeoutError:
            return self._ready.is_set()
        return True

    async def aclose(self, timeout: float = 2.0) -> None:  # noqa: ASYNC109 (the flush's)
        """Stop refreshing; flush the recorder (and close it if the client made it)."""
        if self._closed:
            return
        self._closed = True
        if self._refresher is not None:
            await self._refresher.stop()
        await asyncio.to_thread(self._finish_recorder, timeout)

    async def __aenter__(self) -> AsyncClient:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    # ------------------------------------------------------------ awaitable reads
    def _store_waits(self, experiments: Any) -> bool:
        """Whether a read reaching ``experiments`` asks a store that may block."""
        store = self._sticky_store
        return store is not None and not isinstance(store, MemoryStickyStore) and bool(experiments)

    async def _read(self, blocks: bool, read: Callable[..., _T], *args: Any) -> _T:
        if blocks:
            return await asyncio.to_thread(read, *args)
        return read(*args)

    def _flag_waits(self, flag: str) -> bool:
        store = self._sticky_store
        return store is not None and self._store_waits(self._plan(self._config).flags.get(flag))

    async def is_enabled_async(self, flag: str, context: Context = None) -> bool:
        return await self._read(self._flag_waits(flag), self.is_enabled, flag, context)

    async def get_bool_async(self, flag: str, default: bool, context: Context = None) -> bool:
        return await self._read(self._flag_waits(flag), self.get_bool, flag, default, context)

    async def get_string_async(self, flag: str, default: str, context: Context = None) -> str:
        return await self._read(self._flag_waits(flag), self.get_string, flag, default, context)

    async def get_integer_async(self, flag: str, default: int, context: Context = None) -> int:
        return await self._read(self._flag_waits(flag), self.get_integer, flag, default, context)

    async def get_number_async(self, flag: str, default: float, context: Context = None) -> float:
        return await self._read(self._flag_waits(flag), self.get_number, flag, default, context)

    async def get_json_async(
        self, flag: str, default: Mapping[str, Any], context: Context = None
    ) -> Mapping[str, Any]:
        return await self._read(self._flag_waits(flag), self.get_json, flag, default, context)

    async def get_bool_details_async(
        self, flag: str, default: bool, context: Context = None
    ) -> EvaluationDetails:
        waits = self._flag_waits(flag)
        return await self._read(waits, self.get_bool_details, flag, default, context)

    async def get_string_details_async(
        self, flag: str, default: str, context: Context = None
    ) -> EvaluationDetails:
        waits = self._flag_waits(flag)
        return await self._read(waits, self.get_string_details, flag, default, context)

    async def get_integer_details_async(
        self, flag: str, default: int, context: Context = None
    ) -> EvaluationDetails:
        waits = self._flag_waits(flag)
        return await self._read(waits, self.get_integer_details, flag, default, context)

    async def get_number_details_async(
        self, flag: str, default: float, context: Context = None
    ) -> EvaluationDetails:
        waits = self._flag_waits(flag)
        return await self._read(waits, self.get_number_details, flag, default, context)

    async def get_json_details_async(
        self, flag: str, default: Mapping[str, Any], context: Context = None
    ) -> EvaluationDetails:
        waits = self._flag_waits(flag)
        return await self._read(waits, self.get_json_details, flag, default, context)

    async def get_variant_async(
        self, experiment_key: str, context: Context = None
    ) -> VariantDetails:
        waits = self._sticky_store is not None and self._store_waits(
            experiment_key in self._plan(self._config).experiments
        )
        return await self._read(waits, self.get_variant, experiment_key, context)

    async def evaluate_all_async(self, context: Context = None) -> dict[str, EvaluationDetails]:
        waits = self._sticky_store is not None and self._store_waits(
            self._plan(self._config).experiments
        )
        return await self._read(waits, self.evaluate_all, context)
