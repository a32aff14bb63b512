"""Keeping the configuration current from an asyncio task (the async client's refresher).

The same steps as the thread of :mod:`verdict.sdk.refresh` (download with
``If-None-Match``, follow ``GET /api/v1/sdk/stream`` with ``httpx-sse``'s
``aconnect_sse``, poll when streaming is unavailable, back off with full jitter on
failures, the longest delay for a refused key), with ``httpx.AsyncClient`` on the
event loop instead of a thread. The answers are read by the same functions
(:func:`~verdict.sdk.refresh.config_answer` and friends), so both refreshers treat
every status alike. Stopping cancels the task, which also ends an open stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import httpx
from httpx_sse import aconnect_sse

from verdict.sdk.refresh import (
    CONFIG_PATH,
    STREAM_PATH,
    KeyRejectedError,
    RefreshError,
    RefresherSettings,
    StreamUnavailableError,
    backoff_delay,
    config_answer,
    etag_of_event,
    stream_problem,
)

__all__ = ["AsyncRefresher"]

logger = logging.getLogger("verdict.sdk")


class AsyncRefresher(RefresherSettings):
    """Fetches the configuration document and follows its changes in an asyncio task."""

    def _open(self) -> None:
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(self._timeout), headers=self._headers)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the task on the running event loop (RuntimeError without one)."""
        self._task = asyncio.get_running_loop().create_task(self.run(), name="verdict-sdk-refresh")

    async def stop(self) -> None:
        """Cancel the task (ending any open stream) and close the HTTP client."""
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._http.aclose()

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                await self.fetch()
                failures = 0
                if self._stream:
                    await self._listen()
                    # The stream ended cleanly (server restart, key check): reconnect.
                    await asyncio.sleep(self._stream_retry)
                else:
                    await asyncio.sleep(self._poll_interval)
            except StreamUnavailableError as exc:
                logger.info("configuration stream unavailable (%s); polling instead", exc)
                self._stream = False
            except RefreshError as exc:
                failures += 1
                self._on_failure(exc)
                rejected = isinstance(exc, KeyRejectedError)
                await asyncio.sleep(self._delay(failures, rejected=rejected))
            except Exception as exc:  # never let the task die on a surprise
                failures += 1
                self._on_failure(RefreshError(f"unexpected refresh failure: {exc!r}"))
                await asyncio.sleep(self._delay(failures, rejected=False))

    def _delay(self, failures: int, *, rejected: bool) -> float:
        return backoff_delay(failures, self._retry_initial, self._retry_max, rejected=rejected)

    async def fetch(self) -> None:
        """Download the document unless the server says the held ETag is current."""
        headers = {"If-None-Match": self._etag} if self._etag else {}
        try:
            response = await self._http.get(self._base + CONFIG_PATH, headers=headers)
        except httpx.HTTPError as exc:
            raise RefreshError(f"GET {CONFIG_PATH}: {exc!r}") from exc
        answer = config_answer(response)
        if answer is not None:
            document, etag = answer
            self._on_document(document, etag)  # raises RefreshError if it cannot compile
            self._etag = etag
        self._on_success()

    async def _listen(self) -> None:
        timeout = httpx.Timeout(self._timeout, read=self._stream_read_timeout)
        try:
            async with aconnect_sse(
                self._http, "GET", self._base + STREAM_PATH, timeout=timeout
            ) as source:
                problem = stream_problem(source.response.status_code)
                if problem is not None:
                    raise problem
                self.streaming = True
                self._on_success()
                async for event in source.aiter_sse():
                    if event.retry is not None and event.retry > 0:
                        self._stream_retry = min(event.retry / 1000, self._retry_max)
                    if event.event == "config" and etag_of_event(event.data) != self._etag:
                        await self.fetch()
                    else:
                        self._on_success()
        except httpx.HTTPError as exc:
            raise RefreshError(f"GET {STREAM_PATH}: {exc!r}") from exc
        finally:
            self.streaming = False
