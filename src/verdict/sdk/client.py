"""The SDK client: decide flags and experiments in process, from a held configuration.

A :class:`Client` holds the environment's configuration compiled by the shared engine
(:func:`verdict.engine.compile_config`, lenient mode: one broken flag answers ERROR,
the others keep working) and decides every read locally; no read crosses the network.
A background thread (:class:`~verdict.sdk.refresh.Refresher`) keeps the configuration
current; a new one is compiled off the read path and swapped in with one attribute
assignment, so reads take no lock and always see one whole configuration.

Reads never raise for runtime failures (unknown flag, wrong type, unusable context,
no configuration yet, an engine fault): they answer the caller's default with reason
ERROR and an error code, and each kind of problem is logged once, not once per call.

Fork safety: an ``os.register_at_fork`` hook gives every live client in a forked child
a fresh lock, HTTP connection pool and refresh thread (the parent's thread does not
exist in the child, and sharing its sockets would mix two processes' traffic).
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from os import PathLike
from types import TracebackType
from typing import Any, Final

from verdict.engine import (
    ErrorCode,
    EvaluationContext,
    ExperimentReason,
    FlagResult,
    FlagType,
    Reason,
    compile_config,
)
from verdict.sdk.configuration import (
    NO_CONFIGURATION,
    CompiledConfiguration,
    bounded,
    load_bootstrap,
)
from verdict.sdk.context import (
    MAX_TARGETING_KEY_LENGTH,
    NO_ATTRIBUTES,
    Context,
    ContextError,
    as_context,
    event_problem,
)
from verdict.sdk.refresh import KeyRejectedError, Refresher, RefreshError
from verdict.sdk.types import (
    ClientEvent,
    ClientStatus,
    EvaluationDetails,
    Recorder,
    VariantDetails,
)

__all__ = ["Client", "Listener"]

logger = logging.getLogger("verdict.sdk")

Listener = Callable[[ClientEvent, "Client"], None]

_MAX_LOGGED_KINDS: Final = 1024
# Enum members bound once: reading FlagType.X costs an attribute lookup on every call.
_BOOLEAN: Final = FlagType.BOOLEAN
_STRING: Final = FlagType.STRING
_INTEGER: Final = FlagType.INTEGER
_NUMBER: Final = FlagType.NUMBER
_JSON: Final = FlagType.JSON


_live_clients: weakref.WeakSet[Client] = weakref.WeakSet()


def _restart_in_child() -> None:
    for client in list(_live_clients):
        client._after_fork()


os.register_at_fork(after_in_child=_restart_in_child)


class Client:
    """Local evaluation against the configuration of one environment (see module doc).

    ``sdk_key`` is a server key of the environment; ``base_url`` the Verdict server
    (``None``: offline, from ``bootstrap`` alone). ``bootstrap`` (a configuration
    document or the path of a JSON file holding one) is served until the server
    answers. ``stream`` follows changes over server-sent events, with ETag polling
    every ``poll_interval`` seconds where streaming is unavailable. The status turns
    STALE when refreshing fails or (when not streaming) the last successful refresh is
    older than ``stale_after`` seconds. ``recorder`` receives exposures and events;
    by default the HTTP recorder of :mod:`verdict.sdk.recorder`.
    """

    def __init__(
        self,
        sdk_key: str,
        base_url: str | None,
        *,
        timeout: float = 5.0,
        poll_interval: float = 30.0,
        stream: bool = True,
        bootstrap: Mapping[str, Any] | str | PathLike[str] | None = None,
        recorder: Recorder | None = None,
        stale_after: float | None = None,
        retry_initial: float = 1.0,
        retry_max: float = 60.0,
        stream_read_timeout: float = 60.0,
        start: bool = True,
    ) -> None:
        if not isinstance(sdk_key, str) or not 0 < len(sdk_key) <= 1000:
            raise ValueError("sdk_key: must be a non-empty string of at most 1000 characters")
        if base_url is not None and (
            not isinstance(base_url, str) or not base_url.startswith(("http://", "https://"))
        ):
            raise ValueError("base_url: must be an http:// or https:// URL, or None")
        if base_url is None and bootstrap is None:
            raise ValueError("bootstrap: required when base_url is None (offline use)")
        self._timeout = bounded("timeout", timeout, 0.001, 300)
        self._poll_interval = bounded("poll_interval", poll_interval, 0.05, 86_400)
        self._stale_after = bounded(
            "stale_after",
            2 * self._poll_interval + self._timeout if stale_after is None else stale_after,
            0.05,
            7 * 86_400,
        )
        self._retry_initial = bounded("retry_initial", retry_initial, 0.01, 3600)
        self._retry_max = bounded("retry_max", retry_max, self._retry_initial, 86_400)
        self._stream_read_timeout = bounded("stream_read_timeout", stream_read_timeout, 1, 3600)
        self._sdk_key = sdk_key
        self._base_url = base_url
        self._stream = bool(stream)

        self._config = NO_CONFIGURATION
        self._status = ClientStatus.NOT_READY
        self._last_success: float | None = None
        self._failing = False
        self._logged: set[tuple[str, str]] = set()
        self._listeners: dict[ClientEvent, list[Listener]] = {event: [] for event in ClientEvent}
        self._lock = threading.Lock()  # status changes and listeners, never reads
        self._ready = threading.Event()
        self._refresher: Refresher | None = None
        self._closed = False
        if bootstrap is not None:  # before the recorder: a bad bootstrap leaves nothing open
            document = load_bootstrap(bootstrap)
            try:
                self._install(document, None)
            except RefreshError as exc:
                raise ValueError(f"bootstrap: {exc}") from exc
            self._set_status(ClientStatus.READY)
            self._last_success = time.monotonic()
        self._owns_recorder = recorder is None
        self._recorder: Recorder | None = (
            recorder if recorder is not None else self._default_recorder()
        )
        _live_clients.add(self)
        if start and base_url is not None:
            self._start_refresher()

    # ---------------------------------------------------------------- lifecycle
    def _default_recorder(self) -> Recorder | None:
        if self._base_url is None:
            return None
        try:
            module = importlib.import_module("verdict.sdk.recorder")
            recorder: Recorder = module.HttpRecorder(self._sdk_key, self._base_url)
        except (ImportError, AttributeError):
            logger.warning("verdict.sdk: no HTTP recorder available; exposures and events dropped")
            return None
        return recorder

    def _start_refresher(self) -> None:
        assert self._base_url is not None
        self._refresher = Refresher(
            sdk_key=self._sdk_key,
            base_url=self._base_url,
            timeout=self._timeout,
            poll_interval=self._poll_interval,
            stream=self._stream,
            stream_read_timeout=self._stream_read_timeout,
            retry_initial=self._retry_initial,
            retry_max=self._retry_max,
            on_document=self._install,
            on_success=self._succeeded,
            on_failure=self._failed,
            etag=self._config.etag,
        )
        self._refresher.start()

    def _after_fork(self) -> None:
        """In a forked child: new lock and ready event, and a new refresh thread."""
        self._lock = threading.Lock()
        ready = threading.Event()
        if self._ready.is_set():
            ready.set()
        self._ready = ready
        self._refresher = None
        if not self._closed and self._base_url is not None:
            self._start_refresher()

    def wait_until_ready(self, timeout: float | None = None) -> bool:
        """Block until a configuration is held (True) or ``timeout`` passes (False)."""
        return self._ready.wait(timeout)

    def close(self, timeout: float = 2.0) -> None:
        """Stop refreshing; flush the recorder (and close it if the client made it)."""
        if self._closed:
            return
        self._closed = True
        _live_clients.discard(self)
        if self._refresher is not None:
            self._refresher.stop(timeout)
        recorder = self._recorder
        if recorder is not None:
            try:
                if self._owns_recorder:
                    recorder.close(timeout)
                else:
                    recorder.flush(timeout)
            except Exception:
                logger.warning("verdict.sdk: the recorder failed to flush", exc_info=True)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------ status and listeners
    @property
    def status(self) -> ClientStatus:
        status = self._status
        if self._base_url is None:  # offline: nothing to refresh, nothing to go stale
            return status
        if status is ClientStatus.READY and not self._streaming:
            last = self._last_success
            if last is not None and time.monotonic() - last > self._stale_after:
                return ClientStatus.STALE
        return status

    @property
    def _streaming(self) -> bool:
        refresher = self._refresher
        return refresher is not None and refresher.streaming

    @property
    def etag(self) -> str | None:
        """The ETag of the configuration held (None: bootstrap or nothing yet)."""
        return self._config.etag

    @property
    def configuration(self) -> Mapping[str, Any]:
        """The configuration document held (empty before the first one arrives)."""
        return self._config.document

    def add_listener(self, event: ClientEvent, listener: Listener) -> None:
        """Call ``listener(event, client)`` on each ``event`` (on the refresh thread)."""
        with self._lock:
            self._listeners[ClientEvent(event)].append(listener)

    def remove_listener(self, event: ClientEvent, listener: Listener) -> None:
        with self._lock:
            handlers = self._listeners[ClientEvent(event)]
            if listener in handlers:
                handlers.remove(listener)

    def _emit(self, event: ClientEvent) -> None:
        with self._lock:
            handlers = list(self._listeners[event])
        for handler in handlers:
            try:
                handler(event, self)
            except Exception:
                logger.exception("verdict.sdk: a %s listener raised", event.value)

    def _set_status(self, status: ClientStatus) -> bool:
        with self._lock:
            changed = self._status is not status
            self._status = status
        if status is ClientStatus.READY or status is ClientStatus.STALE:
            self._ready.set()
        return changed

    # ------------------------------------------------------ refresher callbacks
    def _install(self, document: Mapping[str, Any], etag: str | None) -> None:
        try:
            snapshot = compile_config(document, strict=False)
        except Exception as exc:
            raise RefreshError(f"the configuration document cannot be compiled: {exc}") from exc
        for issue in snapshot.problems:
            self._log_once("config", str(issue), "verdict.sdk: configuration problem: %s", issue)
        first = self._config is NO_CONFIGURATION
        self._config = CompiledConfiguration(snapshot, document, etag)
        if not first:
            self._emit(ClientEvent.CONFIGURATION_CHANGED)

    def _succeeded(self) -> None:
        self._last_success = time.monotonic()
        recovered = self._failing
        self._failing = False
        if self._config is NO_CONFIGURATION:
            return
        if self._set_status(ClientStatus.READY) or recovered:
            logger.info("verdict.sdk: configuration is current")
            self._emit(ClientEvent.READY)

    def _failed(self, error: RefreshError) -> None:
        first = not self._failing  # listeners hear of a failure streak once
        self._failing = True
        self._log_once("refresh", type(error).__name__, "verdict.sdk: %s", error)
        if self._config is NO_CONFIGURATION:
            rejected = isinstance(error, KeyRejectedError)
            changed = rejected and self._set_status(ClientStatus.ERROR)
            if changed or first:
                self._emit(ClientEvent.ERROR)
            return
        if self._set_status(ClientStatus.STALE) or first:
            self._emit(ClientEvent.STALE)

    def _log_once(self, kind: str, detail: str, message: str, *args: Any) -> None:
        key = (kind, detail)
        if key in self._logged:
            return
        if len(self._logged) >= _MAX_LOGGED_KINDS:
            self._logged.clear()
        self._logged.add(key)
        logger.warning(message, *args)

    # --------------------------------------------------------------------- flags
    def is_enabled(self, flag: str, context: Context = None) -> bool:
        """Whether boolean ``flag`` is on for ``context`` (False on any error)."""
        decide = self._config.deciders.get(flag)
        if decide is not None:
            try:
                ctx: Any = context  # the checks below are by exact class, for speed
                kind = ctx.__class__
                if kind is EvaluationContext:
                    unit, attributes = ctx
                elif kind is str and len(ctx) <= MAX_TARGETING_KEY_LENGTH:
                    unit, attributes = ctx, NO_ATTRIBUTES
                else:
                    unit, attributes = as_context(ctx)
                result = decide(unit, attributes, None, None, 0)
            except Exception:
                return bool(self._details(flag, False, context, FlagType.BOOLEAN).value)
            value = result.value
            if result.error_code is None and value.__class__ is bool:
                if result.experiment is not None:
                    self._expose(result, unit, attributes)
                return bool(value)
        return bool(self._details(flag, False, context, FlagType.BOOLEAN).value)

    def _value(self, flag: str, default: Any, context: Context, flag_type: FlagType) -> Any:
        decide = self._config.by_type[flag_type].get(flag)
        if decide is not None:
            try:
                ctx: Any = context  # the checks below are by exact class, for speed
                kind = ctx.__class__
                if kind is EvaluationContext:
                    unit, attributes = ctx
                elif kind is str and len(ctx) <= MAX_TARGETING_KEY_LENGTH:
                    unit, attributes = ctx, NO_ATTRIBUTES
                else:
                    unit, attributes = as_context(ctx)
                result = decide(unit, attributes, None, None, 0)
            except Exception:
                return self._details(flag, default, context, flag_type).value
            if result.error_code is None:
                if result.experiment is not None:
                    self._expose(result, unit, attributes)
                return result.value
        return self._details(flag, default, context, flag_type).value

    def get_bool(self, flag: str, default: bool, context: Context = None) -> bool:
        return self._value(flag, default, context, _BOOLEAN)  # type: ignore[no-any-return]

    def get_string(self, flag: str, default: str, context: Context = None) -> str:
        return self._value(flag, default, context, _STRING)  # type: ignore[no-any-return]

    def get_integer(self, flag: str, default: int, context: Context = None) -> int:
        return self._value(flag, default, context, _INTEGER)  # type: ignore[no-any-return]

    def get_number(self, flag: str, default: float, context: Context = None) -> float:
        return self._value(flag, default, context, _NUMBER)  # type: ignore[no-any-return]

    def get_json(
        self, flag: str, default: Mapping[str, Any], context: Context = None
    ) -> Mapping[str, Any]:
        return self._value(flag, default, context, _JSON)  # type: ignore[no-any-return]

    def get_bool_details(
        self, flag: str, default: bool, context: Context = None
    ) -> EvaluationDetails:
        return self._details(flag, default, context, FlagType.BOOLEAN)

    def get_string_details(
        self, flag: str, default: str, context: Context = None
    ) -> EvaluationDetails:
        return self._details(flag, default, context, FlagType.STRING)

    def get_integer_details(
        self, flag: str, default: int, context: Context = None
    ) -> EvaluationDetails:
        return self._details(flag, default, context, FlagType.INTEGER)

    def get_number_details(
        self, flag: str, default: float, context: Context = None
    ) -> EvaluationDetails:
        return self._details(flag, default, context, FlagType.NUMBER)

    def get_json_details(
        self, flag: str, default: Mapping[str, Any], context: Context = None
    ) -> EvaluationDetails:
        return self._details(flag, default, context, FlagType.JSON)

    def _details(
        self, flag: str, default: Any, context: Context, flag_type: FlagType | None
    ) -> EvaluationDetails:
        """The detailed read every getter falls back to; logs each problem kind once."""
        try:
            config = self._config
            if config is NO_CONFIGURATION:
                return self._error(
                    flag, default, ErrorCode.GENERAL, "no configuration yet (client not ready)"
                )
            try:
                ctx = as_context(context)
            except ContextError as exc:
                return self._error(flag, default, ErrorCode.GENERAL, str(exc))
            result = config.snapshot.evaluate(flag, ctx, default=default, expected_type=flag_type)
            if result.error_code is not None:
                return self._error(
                    flag, default, result.error_code, result.error_message or "", result.rule
                )
            if result.experiment is not None:
                self._expose(result, ctx[0], ctx[1])
            return EvaluationDetails(
                flag, result.value, result.variant, result.reason, rule=result.rule
            )
        except Exception as exc:  # an engine fault must not reach the host
            return self._error(flag, default, ErrorCode.GENERAL, f"unexpected error: {exc!r}")

    def _error(
        self,
        flag: str,
        default: Any,
        code: ErrorCode,
        message: str,
        rule: str | None = None,
    ) -> EvaluationDetails:
        self._log_once(code.value, flag, "verdict.sdk: flag %r: %s: %s", flag, code.value, message)
        return EvaluationDetails(flag, default, None, Reason.ERROR, code, message, rule)

    def evaluate_all(self, context: Context = None) -> dict[str, EvaluationDetails]:
        """Every flag for ``context`` (values of ERROR results are ``None``).

        Records no exposures: exposures are for values a caller actually uses.
        """
        try:
            ctx = as_context(context)
            results = self._config.snapshot.evaluate_all(ctx)
        except Exception as exc:
            self._log_once("evaluate_all", type(exc).__name__, "verdict.sdk: %s", exc)
            return {}
        return {
            key: EvaluationDetails(
                key, r.value, r.variant, r.reason, r.error_code, r.error_message, r.rule
            )
            for key, r in results.items()
        }

    # ---------------------------------------------------------------- experiments
    def get_variant(self, experiment_key: str, context: Context = None) -> VariantDetails:
        """Whether the unit is in the experiment and which variant it sees; records an
        exposure when it is in."""
        try:
            ctx = as_context(context, trusted=False)
            decision = self._config.snapshot.decide(experiment_key, ctx)
        except Exception as exc:
            message = str(exc) if isinstance(exc, ContextError) else f"unexpected: {exc!r}"
            self._log_once(
                "experiment", experiment_key, "verdict.sdk: %r: %s", experiment_key, message
            )
            return VariantDetails(
                experiment_key, False, None, ExperimentReason.CONFIG_ERROR, error_message=message
            )
        if decision.in_experiment and decision.variant is not None and ctx[0] is not None:
            self._record_exposure(ctx[0], experiment_key, decision.variant, ctx[1])
        return VariantDetails(
            experiment_key,
            decision.in_experiment,
            decision.variant,
            decision.reason,
            decision.bucket,
        )

    # ------------------------------------------------------ exposures and events
    def _expose(self, result: FlagResult, unit: Any, attributes: Any) -> None:
        experiment, variant = result.experiment, result.variant
        if experiment is None or variant is None or unit.__class__ is not str:
            return
        if not isinstance(attributes, Mapping):
            return  # an unchecked EvaluationContext carrying garbage: nothing to record
        self._record_exposure(unit, experiment, variant, attributes)

    def _record_exposure(
        self, unit: str, experiment: str, variant: str, attributes: Mapping[str, Any]
    ) -> None:
        recorder = self._recorder
        if recorder is None:
            return
        try:
            recorder.exposure(
                unit_id=unit, experiment_key=experiment, variant_key=variant, attributes=attributes
            )
        except Exception as exc:
            self._log_once("recorder", type(exc).__name__, "verdict.sdk: recorder failed: %r", exc)

    def track(
        self,
        event: str,
        context: Context,
        value: float | None = None,
        properties: Mapping[str, Any] | None = None,
    ) -> bool:
        """Record ``event`` for the unit of ``context``; False (and a log line, once per
        kind) when the event was not accepted."""
        try:
            ctx = as_context(context, trusted=False)
            problem = event_problem(event, ctx[0], value, properties)
        except ContextError as exc:
            problem = str(exc)
        if problem is not None:
            self._log_once("track", problem, "verdict.sdk: track(%r) ignored: %s", event, problem)
            return False
        recorder = self._recorder
        if recorder is None:
            return False
        try:
            recorder.track(
                unit_id=str(ctx[0]),
                event=event,
                value=None if value is None else float(value),
                properties=properties,
            )
        except Exception as exc:
            self._log_once("recorder", type(exc).__name__, "verdict.sdk: recorder failed: %r", exc)
            return False
        return True

    @property
    def recorder(self) -> Recorder | None:
        return self._recorder
