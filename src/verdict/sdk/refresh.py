"""Keeping the configuration document current: download, stream, poll, back off.

One background thread per client runs :meth:`Refresher.run`:

1. download ``GET /api/v1/sdk/config`` (``If-None-Match`` with the ETag held, so an
   unchanged configuration costs a ``304`` and no body);
2. when streaming, hold ``GET /api/v1/sdk/stream`` open (server-sent events, read with
   ``httpx-sse``): every ``config`` event names the current ETag, and a tag other than
   the one held triggers step 1. The server sends one such event on connect, so a
   reconnecting client learns at once whether it fell behind. When the stream ends the
   thread reconnects after the server's ``retry`` delay;
3. when not streaming (turned off, or the server answers the stream with 404/405/501),
   repeat step 1 every ``poll_interval`` seconds;
4. any failure (network, a 5xx, an unreadable document) is reported and retried after
   an exponential backoff with full jitter, from ``retry_initial`` up to
   ``retry_max`` seconds; a success resets it. A key the server refuses (401/403) is
   retried at the longest delay only, since only a change on the server fixes it.

The refresher never decides anything: it hands documents and failures to callbacks
(the :class:`~verdict.sdk.client.Client`), which compile and swap snapshots.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import socket
import threading
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from httpx_sse import connect_sse

__all__ = [
    "KeyRejectedError",
    "RefreshError",
    "Refresher",
    "StreamUnavailableError",
    "backoff_delay",
    "config_answer",
    "etag_of_event",
    "stream_problem",
]

logger = logging.getLogger("verdict.sdk")

CONFIG_PATH = "/api/v1/sdk/config"
STREAM_PATH = "/api/v1/sdk/stream"
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
_STREAM_UNSUPPORTED = frozenset({404, 405, 501})
USER_AGENT = "verdict-python-sdk"


class RefreshError(Exception):
    """The configuration could not be refreshed this time (worth retrying)."""


class KeyRejectedError(RefreshError):
    """The server refused the SDK key (401/403)."""


class StreamUnavailableError(RefreshError):
    """The server does not stream configuration changes: poll instead."""


def config_answer(response: httpx.Response) -> tuple[dict[str, Any], str | None] | None:
    """What an answer to ``GET /api/v1/sdk/config`` brings: ``None`` for ``304`` (the
    held ETag is current), else the document and its ETag; RefreshError otherwise."""
    status = response.status_code
    if status == 304:
        return None
    if status in (401, 403):
        raise KeyRejectedError(f"GET {CONFIG_PATH}: the server refused the SDK key ({status})")
    if status != 200:
        raise RefreshError(f"GET {CONFIG_PATH}: unexpected status {status}")
    if len(response.content) > MAX_DOCUMENT_BYTES:
        raise RefreshError(f"GET {CONFIG_PATH}: document over {MAX_DOCUMENT_BYTES} bytes")
    try:
        document = json.loads(response.content)
    except ValueError as exc:
        raise RefreshError(f"GET {CONFIG_PATH}: the body is not JSON ({exc})") from exc
    if not isinstance(document, dict):
        raise RefreshError(f"GET {CONFIG_PATH}: the document is not a JSON object")
    return document, response.headers.get("etag")


def stream_problem(status: int) -> RefreshError | None:
    """The error a ``GET /api/v1/sdk/stream`` status means, or None for 200."""
    if status in (401, 403):
        return KeyRejectedError(f"GET {STREAM_PATH}: the server refused the SDK key")
    if status in _STREAM_UNSUPPORTED:
        return StreamUnavailableError(f"GET {STREAM_PATH}: status {status}")
    if status != 200:
        return RefreshError(f"GET {STREAM_PATH}: unexpected status {status}")
    return None


def etag_of_event(data: str) -> str | None:
    """The ETag a stream ``config`` event names (None when it names none)."""
    try:
        parsed = json.loads(data)
    except ValueError:
        return None
    etag = parsed.get("etag") if isinstance(parsed, dict) else None
    return etag if isinstance(etag, str) else None


def backoff_delay(failures: int, initial: float, longest: float, *, rejected: bool) -> float:
    """Seconds to wait after ``failures`` failures in a row (see module doc, step 4)."""
    if rejected:
        return longest
    ceiling = min(longest, initial * 2 ** min(failures - 1, 30))
    # Full jitter, never below the initial delay: many clients restarted together
    # (a deploy) spread their retries instead of hitting the server at once.
    return max(initial, random.uniform(0, ceiling))


OnDocument = Callable[[Mapping[str, Any], str | None], None]
OnFailure = Callable[[RefreshError], None]
OnSuccess = Callable[[], None]


class RefresherSettings:
    """What both refreshers (this thread's and the asyncio task's) are told."""

    def __init__(
        self,
        *,
        sdk_key: str,
        base_url: str,
        timeout: float,
        poll_interval: float,
        stream: bool,
        stream_read_timeout: float,
        retry_initial: float,
        retry_max: float,
        on_document: OnDocument,
        on_success: OnSuccess,
        on_failure: OnFailure,
        etag: str | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._timeout = timeout
        self._poll_interval = poll_interval
        self._stream = stream
        self._stream_read_timeout = stream_read_timeout
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._stream_retry = retry_initial
        self._on_document = on_document
        self._on_success = on_success
        self._on_failure = on_failure
        self._etag = etag
        self._headers = {"Authorization": f"Bearer {sdk_key}", "User-Agent": USER_AGENT}
        self.streaming = False  # True while a stream is open (read by the client)
        self._open()

    def _open(self) -> None:
        """Make what the refresher's own kind needs (its HTTP client, its state)."""
        raise NotImplementedError


class Refresher(RefresherSettings):
    """Fetches the configuration document and follows its changes (see module doc)."""

    def _open(self) -> None:
        self._stop = threading.Event()
        self._http = httpx.Client(timeout=httpx.Timeout(self._timeout), headers=self._headers)
        self._thread: threading.Thread | None = None
        self._stream_socket: socket.socket | None = None

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="verdict-sdk-refresh", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the thread, breaking an open stream's blocking read.

        Closing a socket from another thread does not wake a ``recv`` blocked on it;
        shutting it down does, so the thread ends now rather than at the next event.
        """
        self._stop.set()
        sock = self._stream_socket
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed
                sock.shutdown(socket.SHUT_RDWR)
        try:
            self._http.close()
        except Exception:  # closing from another thread while a read is under way
            logger.debug("closing the refresh HTTP client", exc_info=True)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    # ---------------------------------------------------------------- the loop
    def run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self.fetch()
                failures = 0
                if self._stream:
                    self._listen()
                    # The stream ended cleanly (server restart, key check): reconnect.
                    self._stop.wait(self._stream_retry)
                else:
                    self._stop.wait(self._poll_interval)
            except StreamUnavailableError as exc:
                logger.info("configuration stream unavailable (%s); polling instead", exc)
                self._stream = False
            except RefreshError as exc:
                if self._stop.is_set():
                    return
                failures += 1
                self._on_failure(exc)
                self._stop.wait(self._delay(failures, rejected=isinstance(exc, KeyRejectedError)))
            except Exception as exc:  # never let the thread die on a surprise
                if self._stop.is_set():
                    return
                failures += 1
                self._on_failure(RefreshError(f"unexpected refresh failure: {exc!r}"))
                self._stop.wait(self._delay(failures, rejected=False))

    def _delay(self, failures: int, *, rejected: bool) -> float:
        return backoff_delay(failures, self._retry_initial, self._retry_max, rejected=rejected)

    # ------------------------------------------------------------ the requests
    def fetch(self) -> None:
        """Download the document unless the server says the held ETag is current."""
        headers = {"If-None-Match": self._etag} if self._etag else {}
        try:
            response = self._http.get(self._base + CONFIG_PATH, headers=headers)
        except httpx.HTTPError as exc:
            raise RefreshError(f"GET {CONFIG_PATH}: {exc!r}") from exc
        except RuntimeError as exc:  # the client was closed by stop()
            raise RefreshError(f"GET {CONFIG_PATH}: {exc}") from exc
        answer = config_answer(response)
        if answer is None:
            self._on_success()
            return
        document, etag = answer
        self._on_document(document, etag)  # raises RefreshError if it cannot compile
        self._etag = etag
        self._on_success()

    def _listen(self) -> None:
        timeout = httpx.Timeout(self._timeout, read=self._stream_read_timeout)
        try:
            with connect_sse(
                self._http, "GET", self._base + STREAM_PATH, timeout=timeout
            ) as source:
                problem = stream_problem(source.response.status_code)
                if problem is not None:
                    raise problem
                network = source.response.extensions.get("network_stream")
                if network is not None:
                    self._stream_socket = network.get_extra_info("socket")
                if self._stop.is_set():  # stop() ran before the socket was known
                    return
                self.streaming = True
                self._on_success()
                for event in source.iter_sse():
                    if self._stop.is_set():
                        return
                    if event.retry is not None and event.retry > 0:
                        self._stream_retry = min(event.retry / 1000, self._retry_max)
                    if event.event == "config" and etag_of_event(event.data) != self._etag:
                        self.fetch()
                    else:
                        self._on_success()
        except httpx.HTTPError as exc:
            raise RefreshError(f"GET {STREAM_PATH}: {exc!r}") from exc
        except RuntimeError as exc:  # the client was closed by stop()
            raise RefreshError(f"GET {STREAM_PATH}: {exc}") from exc
        finally:
            self.streaming = False
            self._stream_socket = None
