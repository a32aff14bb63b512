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

:class:`ClientBase` holds all of that; :class:`Client` adds the refresh thread and
:class:`~verdict.sdk.async_client.AsyncClient` an asyncio task instead, so both read
with the same code.

With a sticky store (:mod:`verdict.sdk.sticky`) a read that may reach a sticky
experiment takes the detailed path: the engine consults the unit's stored variants
before bucketing, and the decision behind the value is saved when it is to be kept.
A failing store is logged once and left alone for a second; reads bucket meanwhile.

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
from typing import Any, Final, TypeVar

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
from verdict.sdk.refresh import KeyRejectedError, Refresher, RefreshError, RefresherSettings
from verdict.sdk.sticky import StickyLookup, StickyPlan, StickyStore, should_save, sticky_plan
from verdict.sdk.types import (
    ClientEvent,
    ClientStatus,
    EvaluationDetails,
    Recorder,
    VariantDetails,
)

__all__ = ["Client", "ClientBase", "Listener"]

logger = logging.getLogger("verdict.sdk")

Listener = Callable[[ClientEvent, Any], None]  # (event, the client that emits it)

_MAX_LOGGED_KINDS: Final = 1024
# After a sticky store fails, reads skip it this long (a Redis that does not answer
# would otherwise cost every read its socket timeout).
_STICKY_PAUSE: Final = 1.0
_NO_EXTRAS: Final = (None, None)
_NO_STICKY_PLAN: Final = (NO_CONFIGURATION, StickyPlan(frozenset(), {}))
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


_Refresher = TypeVar("_Refresher", bound=RefresherSettings)


class ClientBase:
    """What :class:`Client` and :class:`~verdict.sdk.async_client.AsyncClient` share:
    arguments, the configuration held, status and listeners, and every read. A
    subclass brings the refreshing (a thread, an asyncio task) in :meth:`_begin`.

    Local evaluation against the configuration of one environment (see module doc).

    ``sdk_key`` is a server key of the environment; ``base_url`` the Verdict server
    (``None``: offline, from ``bootstrap`` alone). ``bootstrap`` (a configuration
    document or the path of a JSON file holding one) is served until the server
    answers. ``stream`` follows changes over server-sent events, with ETag polling
    every ``poll_interval`` seconds where streaming is unavailable. The status turns
    STALE when refreshing fails or (when not streaming) the last successful refresh is
    older than ``stale_after`` seconds. ``recorder`` receives exposures and events;
    by default the HTTP recorder of :mod:`verdict.sdk.recorder`. ``sticky_store``
    keeps the variants units were given (:mod:`verdict.sdk.sticky`) so they keep them
    when weights change.
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
        sticky_store: StickyStore | None = None,
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
        self._closed = False
        self._sticky_store = sticky_store
        self._sticky_plan = _NO_STICKY_PLAN
        self._sticky_paused_until = 0.0
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
        self._begin(start)

    # ---------------------------------------------------------------- lifecycle
    def _begin(self, start: bool) -> None:
        """Start refreshing (when ``start`` and there is a server)."""
        raise NotImplementedError

    @property
    def _streaming(self) -> bool:
        return False

    def _became_ready(self) -> None:
        """Called when a configuration is held (READY or STALE)."""

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
            self._became_ready()
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
        config = self._config
        decide = config.deciders.get(flag)
        if decide is not None and (self._sticky_store is None or self._no_sticky(config, flag)):
            try:
                ctx: Any = context  # the checks below are by exact class, for speed
                kind = ctx.__class__
                if kind is EvaluationContext:
                    unit, attributes = ctx
                elif kind is str and len(ctx) <= MAX_TARGETING_KEY_LENGTH:
                    unit, attributes = ctx, NO_ATTRIBUTES
                elif kind is dict:  # {"targeting_key": ..., "attributes": {...}}
                    unit, attributes = ctx.get("targeting_key"), ctx.get("attributes")
                    if (
                        len(ctx) != 2  # both keys and no other: the shape as_context accepts
                        or unit.__class__ is not str
                        or len(unit) > MAX_TARGETING_KEY_LENGTH
                        or attributes.__class__ is not dict
                    ):
                        unit, attributes = as_context(ctx)
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
        # The context checks repeat is_enabled's on purpose: a shared helper would add a
        # call, about a tenth of a whole read (benchmarks/peer_eval_bench.py).
        config = self._config
        decide = config.by_type[flag_type].get(flag)
        if decide is not None and (self._sticky_store is None or self._no_sticky(config, flag)):
            try:
                ctx: Any = context  # the checks below are by exact class, for speed
                kind = ctx.__class__
                if kind is EvaluationContext:
                    unit, attributes = ctx
                elif kind is str and len(ctx) <= MAX_TARGETING_KEY_LENGTH:
                    unit, attributes = ctx, NO_ATTRIBUTES
                elif kind is dict:  # {"targeting_key": ..., "attributes": {...}}
                    unit, attributes = ctx.get("targeting_key"), ctx.get("attributes")
                    if (
                        len(ctx) != 2  # both keys and no other: the shape as_context accepts
                        or unit.__class__ is not str
                        or len(unit) > MAX_TARGETING_KEY_LENGTH
                        or attributes.__class__ is not dict
                    ):
                        unit, attributes = as_context(ctx)
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
            lookup = None
            if self._sticky_store is not None:
                plan = self._plan(config)
                lookup = self._sticky_lookup(plan.flags.get(flag), ctx[0])
            result = config.snapshot.evaluate(
                flag, ctx, default=default, expected_type=flag_type, sticky=lookup
            )
            if result.error_code is not None:
                return self._error(
                    flag, default, result.error_code, result.error_message or "", result.rule
                )
            if result.experiment is not None:
                if lookup is not None and result.variant is not None:
                    self._keep(lookup, config, result.experiment, result.variant, ctx)
                self._expose(result, ctx[0], ctx[1])
            return EvaluationDetails(
                flag,
                result.value,
                result.variant,
                result.reason,
                rule=result.rule,
                experiment=result.experiment,
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
            config = self._config
            lookup = None
            if self._sticky_store is not None:
                lookup = self._sticky_lookup(self._plan(config).experiments, ctx[0])
            results = config.snapshot.evaluate_all(ctx, sticky=lookup)
        except Exception as exc:
            self._log_once("evaluate_all", type(exc).__name__, "verdict.sdk: %s", exc)
            return {}
        return {
            key: EvaluationDetails(
                key,
                r.value,
                r.variant,
                r.reason,
                r.error_code,
                r.error_message,
                r.rule,
                r.experiment,
            )
            for key, r in results.items()
        }

    # ---------------------------------------------------------------- experiments
    def get_variant(self, experiment_key: str, context: Context = None) -> VariantDetails:
        """Whether the unit is in the experiment and which variant it sees; records an
        exposure when it is in."""
        try:
            ctx = as_context(context, trusted=False)
            config = self._config
            lookup = None
            if self._sticky_store is not None and experiment_key in self._plan(config).experiments:
                lookup = self._sticky_lookup((experiment_key,), ctx[0])
            decision = config.snapshot.decide(experiment_key, ctx, sticky=lookup)
            if lookup is not None and decision.variant is not None:
                stored = lookup.found.get(experiment_key)
                if should_save(decision.reason, stored):
                    self._save_sticky(lookup.unit_id, experiment_key, decision.variant)
        except Exception as exc:
            message = str(exc) if isinstance(exc, ContextError) else f"unexpected: {exc!r}"
            self._log_once(
                "experiment", experiment_key, "verdict.sdk: %r: %s", experiment_key, message
            )
            return VariantDetails(
                experiment_key, False, None, ExperimentReason.CONFIG_ERROR, error_message=message
            )
        variant = decision.variant
        if variant is None:
            return VariantDetails(
                experiment_key, decision.in_experiment, None, decision.reason, decision.bucket
            )
        if decision.in_experiment and ctx[0] is not None:
            self._record_exposure(ctx[0], experiment_key, variant, ctx[1])
        payload, url = config.variants.get((experiment_key, variant), _NO_EXTRAS)
        return VariantDetails(
            experiment_key,
            decision.in_experiment,
            variant,
            decision.reason,
            decision.bucket,
            payload=payload,
            url=url,
        )

    # ------------------------------------------------------------ sticky assignments
    def _plan(self, config: CompiledConfiguration) -> StickyPlan:
        held = self._sticky_plan
        if held[0] is not config:  # a new configuration: plan it once
            held = (config, sticky_plan(config.document))
            self._sticky_plan = held
        return held[1]

    def _no_sticky(self, config: CompiledConfiguration, flag: str) -> bool:
        """Whether reading ``flag`` can reach no sticky experiment (the fast path is
        then exact)."""
        return not self._plan(config).flags.get(flag)

    def _sticky_lookup(self, keys: Any, unit: Any) -> StickyLookup | None:
        """The store's view for one read, or None when there is nothing to look up (no
        store, no sticky experiment reachable, no unit id, or the store just failed)."""
        store = self._sticky_store
        if store is None or not keys or unit.__class__ is not str or not unit:
            return None
        if self._sticky_paused_until and time.monotonic() < self._sticky_paused_until:
            return None
        return StickyLookup(store, unit, keys, self._sticky_failed)

    def _keep(
        self,
        lookup: StickyLookup,
        config: CompiledConfiguration,
        experiment: str,
        variant: str,
        ctx: EvaluationContext,
    ) -> None:
        """Save the experiment decision behind a flag value when it is to be kept."""
        if experiment not in self._plan(config).experiments:
            return
        stored = lookup.found.get(experiment)
        if stored == variant:
            return
        # The flag result does not say why the experiment placed the unit (a stored
        # variant the experiment dropped, bucketing, a forced variant): ask it.
        decision = config.snapshot.decide(experiment, ctx, sticky=lookup)
        if decision.variant == variant and should_save(decision.reason, stored):
            self._save_sticky(lookup.unit_id, experiment, variant)

    def _save_sticky(self, unit: str, experiment: str, variant: str) -> None:
        store = self._sticky_store
        if store is None or time.monotonic() < self._sticky_paused_until:
            return
        try:
            store.save_assignment(unit, experiment, variant)
        except Exception as exc:
            self._sticky_failed(exc)

    def _sticky_failed(self, error: Exception) -> None:
        self._sticky_paused_until = time.monotonic() + _STICKY_PAUSE
        self._log_once(
            "sticky",
            type(error).__name__,
            "verdict.sdk: the sticky store failed (%r); deciding without it",
            error,
        )

    @property
    def sticky_store(self) -> StickyStore | None:
        return self._sticky_store

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

    def _finish_recorder(self, timeout: float) -> None:
        """Flush the recorder (and close it if the client made it); never raises."""
        recorder = self._recorder
        if recorder is not None:
            try:
                if self._owns_recorder:
                    recorder.close(timeout)
                else:
                    recorder.flush(timeout)
            except Exception:
                logger.warning("verdict.sdk: the recorder failed to flush", exc_info=True)

    def _new_refresher(self, kind: type[_Refresher]) -> _Refresher:
        """A refresher of ``kind`` (a thread's or an asyncio task's) for this client."""
        assert self._base_url is not None
        return kind(
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


class Client(ClientBase):
    """Local evaluation against the configuration of one environment (see module doc),
    kept current by a background thread. Arguments: see :class:`ClientBase`."""

    _refresher: Refresher | None = None

    def _begin(self, start: bool) -> None:
        _live_clients.add(self)
        if start and self._base_url is not None:
            self._start_refresher()

    @property
    def _streaming(self) -> bool:
        refresher = self._refresher
        return refresher is not None and refresher.streaming

    def _start_refresher(self) -> None:
        self._refresher = self._new_refresher(Refresher)
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
        self._finish_recorder(timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
