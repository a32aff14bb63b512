"""Server-sent events: tell connected SDKs that their environment's configuration changed.

A stream carries ETags, not documents: on connect it sends the environment's current
ETag, then one ``config`` event each time the ETag changes; the SDK fetches
``GET /api/v1/sdk/config`` (with ``If-None-Match``) when the ETag is not the one it
holds. Events are small whatever the configuration's size, and the document an SDK
downloads is always the one the cache serves, with one ETag scheme for both paths.

Wire format (one event; ``id`` is the ETag, so a reconnecting EventSource sends it back
as ``Last-Event-ID``)::

    id: "3f1c…"
    event: config
    data: {"environment":"production","etag":"\\"3f1c…\\""}

A comment line (``: keep-alive``) is sent after ``keepalive`` seconds of silence so
proxies keep the connection open. A stream ends when the client disconnects, when its
environment is deleted, when the server shuts down (:meth:`StreamHub.close`), and when
the key it was opened with stops authenticating (revoked, deleted, expired, or its
owner deactivated): the stream asks ``authorized`` again

- as soon as any API key changes: the API key cache is cleared in every process
  (:mod:`verdict.server.identity.keycache`) and tells the hub
  (:meth:`StreamHub.keys_changed`), which wakes every stream to check;
- before each keep-alive, which catches an expiry and a lost notification.

The check is the one an SDK request makes (the in-process key cache, the database only
on a miss), so a key change costs one database lookup per distinct key, not per stream.
If the check itself fails (the database is unavailable), the stream stays open and is
checked again at the next keep-alive.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import anyio
import anyio.to_thread
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from verdict.server.delivery.snapshots import EnvironmentSnapshot, SnapshotCache
from verdict.server.errors import NotFoundError

__all__ = ["KEEPALIVE_SECONDS", "RETRY_MILLISECONDS", "EventStream", "StreamHub"]

logger = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 15.0
RETRY_MILLISECONDS = 2000  # the reconnection delay EventSource clients are told to use


@dataclass(eq=False)
class _Subscription:
    environment_key: str
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    recheck: bool = False  # an API key changed: is the stream's own still good?


class StreamHub:
    """The open streams of one process, woken from any thread (request threads that
    commit, the PostgreSQL listener) on the event loop the streams run on."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._subscriptions: set[_Subscription] = set()
        self._closed = threading.Event()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    @property
    def open_streams(self) -> int:
        return len(self._subscriptions)

    def notify(self, environment_key: str | None) -> None:
        """A cache listener: wake the streams of ``environment_key`` (None: all)."""
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake, environment_key)

    def keys_changed(self) -> None:
        """A key cache listener: every stream re-checks its key (one may be revoked)."""
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._recheck)

    def close(self) -> None:
        """End every stream (server shutdown); safe from any thread or a signal handler."""
        self._closed.set()
        self.notify(None)

    def _wake(self, environment_key: str | None) -> None:
        for subscription in list(self._subscriptions):
            if environment_key is None or subscription.environment_key == environment_key:
                subscription.changed.set()

    def _recheck(self) -> None:
        for subscription in list(self._subscriptions):
            subscription.recheck = True
            subscription.changed.set()

    @contextmanager
    def subscribe(self, environment_key: str) -> Iterator[_Subscription]:
        subscription = _Subscription(environment_key)
        self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)


def _event(snapshot: EnvironmentSnapshot) -> bytes:
    data = json.dumps(
        {"environment": snapshot.environment_key, "etag": snapshot.etag}, separators=(",", ":")
    )
    return f"id: {snapshot.etag}\nevent: config\ndata: {data}\n\n".encode()


class EventStream(Response):
    """The ``text/event-stream`` response of one SDK connection; ``authorized`` says
    whether the credential that opened it still may (None: the stream never asks)."""

    media_type = "text/event-stream"

    def __init__(
        self,
        *,
        hub: StreamHub,
        cache: SnapshotCache,
        environment_key: str,
        keepalive: float = KEEPALIVE_SECONDS,
        authorized: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        super().__init__(
            headers={
                "Cache-Control": "no-cache",
                # Reverse proxies (nginx) would otherwise buffer the stream.
                "X-Accel-Buffering": "no",
            }
        )
        # A stream has no length: drop the ``content-length: 0`` of the empty body.
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]
        self._hub = hub
        self._cache = cache
        self._environment_key = environment_key
        self._keepalive = keepalive
        self._authorized = authorized

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        disconnected = False
        async with anyio.create_task_group() as group:

            async def watch_disconnect() -> None:
                nonlocal disconnected
                message: Message = {}
                while message.get("type") != "http.disconnect":
                    message = await receive()
                disconnected = True
                group.cancel_scope.cancel()

            group.start_soon(watch_disconnect)
            try:
                await self._write_events(send)
            except OSError:  # the client went away mid-write
                disconnected = True
            group.cancel_scope.cancel()
        if not disconnected:
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _write_events(self, send: Send) -> None:
        async def write(chunk: bytes) -> None:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})

        await write(f"retry: {RETRY_MILLISECONDS}\n\n".encode())
        sent: str | None = None
        with self._hub.subscribe(self._environment_key) as subscription:
            # A key revoked after the request authenticated, before the subscription
            # could hear of it, is caught by this first check (a cache hit otherwise).
            subscription.recheck = True
            while not self._hub.closed:
                # Cleared before reading, so a change during the read wakes us again.
                subscription.changed.clear()
                if subscription.recheck:
                    subscription.recheck = False
                    if not await self._still_authorized():
                        return
                try:
                    snapshot = await anyio.to_thread.run_sync(
                        self._cache.get, self._environment_key
                    )
                except NotFoundError:
                    return  # the environment was deleted
                if snapshot.etag != sent:
                    await write(_event(snapshot))
                    sent = snapshot.etag
                with anyio.move_on_after(self._keepalive) as waited:
                    await subscription.changed.wait()
                if waited.cancelled_caught:
                    if not await self._still_authorized():
                        return
                    await write(b": keep-alive\n\n")

    async def _still_authorized(self) -> bool:
        if self._authorized is None:
            return True
        try:
            return await self._authorized()
        except Exception:
            # Not a verdict on the key (the database is unavailable): keep the stream and
            # ask again at the next keep-alive.
            logger.warning("could not re-check the key of a configuration stream", exc_info=True)
            return True
