"""Ships exposures and events to the server in the background; never blocks the host.

Decisions:

- The caller's thread only appends a tuple to a bounded deque (``track``) or checks an
  LRU of recent exposures and appends (``exposure``): no I/O, no serialisation, no
  lock on the common path. One daemon sender thread does the rest.
- A full queue drops its **oldest** entry for the new one, and counts it
  (``dropped_overflow``): recent data is worth more, and the host never waits.
- Exposures are deduplicated per (unit, experiment, variant) in an LRU of bounded size,
  so a unit decided a million times costs one exposure; the server stores the first
  exposure of a unit to an experiment as its sticky assignment (``POST
  /api/v1/exposures``), which the analysis reads as the unit's exposure.
- Events go to ``POST /api/v1/events`` with a ``client_event_id`` (a UUID) chosen when
  the event is first put in a batch; a batch keeps its ids across retries, so the
  server's idempotency key turns a retry of a batch it already stored into duplicates.
  Exposures need no id: the server's (experiment, unit) key is their idempotency key.
- A batch is flushed when ``batch_size`` entries are waiting, every ``flush_interval``
  seconds, on :meth:`HttpRecorder.flush`, and at close (also at interpreter exit).
  It is retried on network errors, 5xx and 429 with exponential backoff and full
  jitter (``Retry-After`` is obeyed when the server sends it), at most ``max_retries``
  times, then dropped and counted (``dropped_failed``). A 4xx other than 429 is never
  retried: the batch is dropped and counted (``dropped_rejected``), as are single
  entries the server refused and entries that cannot be sent as JSON.
- Nothing raises into the host: every failure is counted, and logged once per kind.
- Fork safety: a forked child (gunicorn ``--preload``) starts with empty queues, a new
  sender thread and, when the recorder made its own, a new HTTP client.
"""

from __future__ import annotations

import atexit
import datetime as dt
import email.utils
import logging
import math
import os
import random
import threading
import time
import uuid
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx
import orjson

__all__ = ["HttpRecorder", "RecorderStats"]

logger = logging.getLogger(__name__)

# The server's limits (docs/sdk-api.md): a batch holds at most this many entries and
# bytes; batches are cut below both.
_MAX_BATCH = 1_000
_MAX_BATCH_BYTES = 900_000
_MAX_RETRY_AFTER = 60.0
_BACKOFF_BASE = 0.2

# (timestamp, unit id, event, value, properties)
_Event = tuple[float, str, str, float | None, dict[str, Any] | None]
# (timestamp, unit id, experiment key, variant key, attributes)
_Exposure = tuple[float, str, str, str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class RecorderStats:
    """Counts since the recorder started (in this process)."""

    sent: int  # entries the server acknowledged (stored, or already stored)
    dropped_overflow: int  # oldest entries pushed out of a full queue
    dropped_rejected: int  # refused by the server (4xx, or one by one) or not JSON
    dropped_failed: int  # still failing after max_retries (network, 5xx, 429)
    retries: int  # batch sends retried
    exposure_conflicts: int  # exposures whose unit already had another variant stored
    pending: int  # waiting in the queues now


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asked to wait (delta-seconds or an HTTP date), if any."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - dt.datetime.now(dt.UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER)


def _encode(document: dict[str, Any]) -> bytes:
    """One entry as JSON. orjson keeps the sender's share of the GIL small (a host's
    thread records while it encodes); what JSON cannot carry goes as its ``str()``
    (datetimes and dataclasses too, as the standard encoder's ``default=str`` would),
    and a NaN or an infinity inside attributes or properties as ``null``."""
    return orjson.dumps(document, default=str, option=_ORJSON_OPTIONS)


_ORJSON_OPTIONS: Final = (
    orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)


def _iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat()


def _positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {value!r}")


class HttpRecorder:
    """Exposures and events for one environment, sent with its server SDK key."""

    def __init__(
        self,
        sdk_key: str,
        base_url: str,
        *,
        max_queue: int = 10_000,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        dedup_size: int = 100_000,
        max_retries: int = 10,
        timeout: float = 10.0,
        max_backoff: float = 30.0,
        http_client: httpx.Client | None = None,
    ) -> None:
        if not sdk_key:
            raise ValueError("sdk_key must not be empty")
        for name, value in (
            ("max_queue", max_queue),
            ("batch_size", batch_size),
            ("flush_interval", flush_interval),
            ("dedup_size", dedup_size),
            ("timeout", timeout),
            ("max_backoff", max_backoff),
        ):
            _positive(name, value)
        if batch_size > _MAX_BATCH:
            raise ValueError(f"batch_size must be at most {_MAX_BATCH}, got {batch_size}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, got {max_retries}")
        self._sdk_key = sdk_key
        self._base_url = base_url.rstrip("/")
        self._max_queue = max_queue
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._dedup_size = dedup_size
        self._max_retries = max_retries
        self._timeout = timeout
        self._max_backoff = max_backoff
        self._own_client = http_client is None
        self._client = http_client if http_client is not None else self._new_client()
        self._closed = False
        self._reset_state()
        self._start()
        # Weak references: registering must not keep an unused recorder alive.
        ref = weakref.ref(self)
        self._atexit = _call_if_alive(ref, lambda recorder: recorder.close())
        atexit.register(self._atexit)
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_call_if_alive(ref, HttpRecorder._after_fork))

    # -- the caller's side: append and return ---------------------------------------

    def track(
        self,
        *,
        unit_id: str,
        event: str,
        value: float | None,
        properties: Mapping[str, Any] | None,
    ) -> None:
        """Queue an event; it is sent in the background."""
        try:
            events = self._events
            if len(events) >= self._max_queue:
                self._count_overflow()
            events.append(
                (
                    time.time(),
                    unit_id,
                    event,
                    value,
                    None if properties is None else dict(properties),
                )
            )
            if len(events) >= self._batch_size and not self._wake.is_set():
                self._wake.set()
        except Exception as error:  # never into the host
            self._log_once("track", "track() failed: %s", error)

    def exposure(
        self,
        *,
        unit_id: str,
        experiment_key: str,
        variant_key: str,
        attributes: Mapping[str, Any],
    ) -> None:
        """Queue an exposure unless this unit was recently exposed to this variant."""
        try:
            key = (unit_id, experiment_key, variant_key)
            seen = self._seen
            # No lock: each OrderedDict operation is atomic under the GIL; two threads
            # racing on one key at worst both queue it (the server stores it once).
            if key in seen:
                # try/except, not contextlib.suppress: free unless it raises, and this is
                # the hot path (a unit decided again and again).
                try:  # noqa: SIM105
                    seen.move_to_end(key)
                except KeyError:  # evicted by another thread meanwhile
                    pass
                return
            seen[key] = None
            if len(seen) > self._dedup_size:
                try:  # noqa: SIM105
                    seen.popitem(last=False)
                except KeyError:
                    pass
            exposures = self._exposures
            if len(exposures) >= self._max_queue:
                self._count_overflow()
            exposures.append((time.time(), unit_id, experiment_key, variant_key, dict(attributes)))
            if len(exposures) >= self._batch_size and not self._wake.is_set():
                self._wake.set()
        except Exception as error:  # never into the host
            self._seen.pop((unit_id, experiment_key, variant_key), None)  # not queued
            self._log_once("exposure", "exposure() failed: %s", error)

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued now; True once the server acknowledged it (or it was
        dropped for good), False if ``timeout`` seconds passed first."""
        try:
            return self._wait_idle(timeout)
        except Exception as error:
            self._log_once("flush", "flush() failed: %s", error)
            return False

    def close(self, timeout: float | None = 5.0) -> None:
        """Flush (at most ``timeout`` seconds), stop the sender, release the client."""
        try:
            if self._closed:
                return
            self._wait_idle(timeout)
            self._closed = True
            self._stop.set()
            self._wake.set()
            thread = self._thread
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout)
            if self._own_client:
                self._client.close()
            atexit.unregister(self._atexit)
        except Exception as error:
            self._log_once("close", "close() failed: %s", error)

    @property
    def stats(self) -> RecorderStats:
        with self._stats_lock:
            return RecorderStats(
                sent=self._sent,
                dropped_overflow=self._dropped_overflow,
                dropped_rejected=self._dropped_rejected,
                dropped_failed=self._dropped_failed,
                retries=self._retries,
                exposure_conflicts=self._conflicts,
                pending=len(self._events) + len(self._exposures) + self._in_flight,
            )

    def __enter__(self) -> HttpRecorder:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- state, threads and fork ------------------------------------------------------

    def _new_client(self) -> httpx.Client:
        return httpx.Client(timeout=self._timeout)

    def _reset_state(self) -> None:
        self._events: deque[_Event] = deque(maxlen=self._max_queue)
        self._exposures: deque[_Exposure] = deque(maxlen=self._max_queue)
        self._seen: OrderedDict[tuple[str, str, str], None] = OrderedDict()
        self._stats_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._idle = threading.Condition()
        self._flush_requests = 0
        self._flushes_done = 0
        self._in_flight = 0
        self._logged: set[str] = set()
        self._sent = self._dropped_overflow = self._dropped_rejected = 0
        self._dropped_failed = self._retries = self._conflicts = 0
        self._thread: threading.Thread | None = None

    def _start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="verdict-recorder", daemon=True)
        self._thread.start()

    def _after_fork(self) -> None:
        """In a forked child: the parent's thread is gone and its queue is the parent's
        to send; start empty, with a fresh client (connections are not shared)."""
        if self._closed:
            return
        self._reset_state()
        if self._own_client:
            self._client = self._new_client()
        self._start()

    def _count_overflow(self) -> None:
        # No lock on the caller's path: CPython (with the GIL) does not switch threads
        # inside an integer attribute's ``+=``, so the count is exact there.
        self._dropped_overflow += 1

    def _count(self, **counts: int) -> None:
        with self._stats_lock:
            for name, count in counts.items():
                setattr(self, f"_{name}", getattr(self, f"_{name}") + count)

    def _log_once(self, kind: str, message: str, *args: object) -> None:
        if kind not in self._logged:
            self._logged.add(kind)
            logger.warning(
                message + " (further failures of this kind are counted, not logged)", *args
            )

    def _wait_idle(self, timeout: float | None) -> bool:
        if self._closed or self._thread is None or not self._thread.is_alive():
            return not (self._events or self._exposures)
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._idle:
            self._flush_requests += 1
            ticket = self._flush_requests
            self._wake.set()
            while self._flushes_done < ticket:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    # -- the sender thread --------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._flush_interval)
            self._wake.clear()
            with self._idle:
                ticket = self._flush_requests
            try:
                self._drain(everything=ticket > self._flushes_done or self._stop.is_set())
            except Exception as error:  # the thread must survive anything
                self._log_once("sender", "sending failed: %s", error)
            if ticket > self._flushes_done:
                with self._idle:
                    self._flushes_done = ticket
                    self._idle.notify_all()

    def _drain(self, *, everything: bool) -> None:
        """Send full batches, then (on the interval or a flush) what is left."""
        while self._events or self._exposures:
            sent = False
            if self._exposures:
                sent = self._send_batch(self._exposures, "exposures", self._exposure_item)
            if self._events:
                sent = self._send_batch(self._events, "events", self._event_item) or sent
            if not sent or (self._stop.is_set() and not everything):
                return

    def _event_item(self, item: _Event) -> bytes:
        timestamp, unit_id, event, value, properties = item
        document = {
            "client_event_id": str(uuid.uuid4()),
            "type": event,
            "unit_id": unit_id,
            "value": value,
            "properties": properties or {},
            "timestamp": _iso(timestamp),
        }
        if value is not None and not math.isfinite(value):
            raise ValueError(f"value must be a finite number, got {value!r}")
        return _encode(document)

    def _exposure_item(self, item: _Exposure) -> bytes:
        timestamp, unit_id, experiment, variant, attributes = item
        # The server refuses a whole exposure batch that breaks its schema: check here
        # what it checks, so one bad entry is dropped alone.
        for name, text, limit in (
            ("unit_id", unit_id, 255),
            ("experiment_key", experiment, 100),
            ("variant_key", variant, 100),
        ):
            if not isinstance(text, str) or not 0 < len(text) <= limit:
                raise ValueError(f"{name} must be a string of 1 to {limit} characters")
        document = {
            "unit_id": unit_id,
            "experiment": experiment,
            "variant": variant,
            "timestamp": _iso(timestamp),
            "attributes": attributes,
        }
        encoded = _encode(document)
        if b"\\u0000" in encoded:
            raise ValueError("a string holds a NUL character, which the server refuses")
        return encoded

    def _send_batch(
        self,
        queue: deque[Any],
        field: str,
        encode: Callable[[Any], bytes],
    ) -> bool:
        """Take one batch off ``queue``, encode it (ids fixed here, kept across
        retries) and send it; False when nothing was taken."""
        items: list[bytes] = []
        size = 0
        invalid = 0
        while queue and len(items) < self._batch_size:
            try:
                entry = queue.popleft()
            except IndexError:
                break
            try:
                encoded = encode(entry)
            except (TypeError, ValueError) as error:
                invalid += 1
                self._log_once(f"encode-{field}", "dropped a %s entry: %s", field, error)
                continue
            if size + len(encoded) > _MAX_BATCH_BYTES and items:
                queue.appendleft(entry)
                break
            items.append(encoded)
            size += len(encoded) + 1
        if invalid:
            self._count(dropped_rejected=invalid)
        if not items:
            return invalid > 0
        with self._stats_lock:
            self._in_flight += len(items)
        try:
            body = b'{"' + field.encode() + b'":[' + b",".join(items) + b"]}"
            self._post(field, body, len(items))
        finally:
            with self._stats_lock:
                self._in_flight -= len(items)
        return True

    def _post(self, field: str, body: bytes, count: int) -> None:
        url = f"{self._base_url}/api/v1/{field}"
        headers = {"Authorization": f"Bearer {self._sdk_key}", "Content-Type": "application/json"}
        attempt = 0
        while True:
            delay: float | None = None
            try:
                response = self._client.post(url, content=body, headers=headers)
            except httpx.HTTPError as error:
                self._log_once(f"network-{field}", "sending %s failed: %s", field, error)
            else:
                status = response.status_code
                if status < 300:
                    self._acknowledged(field, response, count)
                    return
                if status != 429 and status < 500:
                    self._log_once(
                        f"rejected-{field}-{status}",
                        "the server refused a batch of %d %s (HTTP %d): %s",
                        count,
                        field,
                        status,
                        response.text[:500],
                    )
                    self._count(dropped_rejected=count)
                    return
                self._log_once(f"status-{field}-{status}", "sending %s: HTTP %d", field, status)
                delay = _retry_after(response)
            if attempt >= self._max_retries:
                self._log_once(
                    f"gave-up-{field}", "dropped %d %s after %d retries", count, field, attempt
                )
                self._count(dropped_failed=count)
                return
            if delay is None:
                delay = random.uniform(
                    0, min(self._max_backoff, _BACKOFF_BASE * 2 ** min(attempt, 30))
                )
            attempt += 1
            self._count(retries=1)
            if _pause(self._stop, delay):
                self._count(dropped_failed=count)
                return

    def _acknowledged(self, field: str, response: httpx.Response, count: int) -> None:
        try:
            result = response.json()
            rejected = int(result.get("rejected", 0))
            conflicts = int(result.get("conflicts", 0)) if field == "exposures" else 0
        except (ValueError, AttributeError, TypeError):
            rejected = conflicts = 0
        if rejected:
            self._log_once(
                f"rejected-{field}-items",
                "the server refused %d %s: %s",
                rejected,
                field,
                response.text[:500],
            )
        self._count(sent=count - rejected, dropped_rejected=rejected, conflicts=conflicts)


def _pause(stop: threading.Event, seconds: float) -> bool:
    """Wait between retries; True when the recorder is stopping meanwhile."""
    return stop.wait(seconds)


def _call_if_alive(
    ref: weakref.ref[HttpRecorder], action: Callable[[HttpRecorder], None]
) -> Callable[[], None]:
    def call() -> None:
        recorder = ref()
        if recorder is not None:
            action(recorder)

    return call
