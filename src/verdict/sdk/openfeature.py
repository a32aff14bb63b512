"""The OpenFeature provider: ``openfeature-sdk`` resolving flags with a Verdict client.

:class:`VerdictProvider` wraps a :class:`~verdict.sdk.Client`, so every resolution is
the client's local evaluation (no request per flag); the OpenFeature SDK keeps what
the specification gives it: merging the API, transaction, client and invocation
contexts and the contexts returned by ``before`` hooks, running hooks, checking
provider status and the resolved value's type.

What the provider decides:

1. Context. The merged OpenFeature context becomes Verdict's: ``targeting_key`` is the
   unit id (an empty key counts as none, as OpenFeature's merge treats it), the
   attributes are the attributes; ``datetime`` values, which a JSON document cannot
   hold, are passed as ISO 8601 strings, as a remote provider would send them. A
   targeting key that is not a string of at most 255 characters, or attributes that
   are not an object, resolve to ERROR / ``INVALID_CONTEXT``.
2. Resolution. ``resolve_boolean`` / ``string`` / ``integer`` / ``float`` / ``object``
   read the flag with the client's typed detail getters (``get_bool_details``, ...,
   ``get_json_details``), so a flag of another type is ``TYPE_MISMATCH``: Verdict's
   ``integer`` flags are read with ``resolve_integer``, ``number`` flags with
   ``resolve_float``, ``json`` flags with ``resolve_object``. Object values are deep
   copies: a caller mutating one cannot change what the next read serves.
3. Reasons and error codes. Verdict's reasons and error codes are OpenFeature's
   vocabulary and map one to one; a read while the client holds no configuration is
   ``PROVIDER_NOT_READY``. The flag metadata carries ``rule`` (the rule that decided,
   ``"override"`` or ``"prerequisite:<flag>"``) when there is one, and ``experiment``
   (the experiment whose variant served the value) when an experiment rule decided,
   as Verdict's OFREP endpoint does.
4. Lifecycle and events. ``initialize`` waits up to ``ready_timeout`` seconds for the
   client's configuration: it returns once one is held (the SDK then emits READY), and
   raises when none came (``PROVIDER_NOT_READY``; ``PROVIDER_FATAL`` when the server
   refused the key), which the SDK turns into an ERROR event. After ``initialize`` the
   client's own events are forwarded: READY (a configuration is current again),
   CONFIGURATION_CHANGED (with ``flags_changed``), STALE and ERROR. ``shutdown``
   stops forwarding and, unless ``close_client=False``, closes the client (stopping
   its refresh thread and flushing its exposures and events).
5. ``track``: OpenFeature's tracking API goes to :meth:`Client.track` with the merged
   context's unit id, the details' ``value`` and its attributes as properties.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, time
from typing import TYPE_CHECKING, Any, Final, TypeAlias, TypeVar

from openfeature.evaluation_context import EvaluationContext as OpenFeatureContext
from openfeature.event import ProviderEventDetails
from openfeature.exception import ErrorCode as OpenFeatureErrorCode
from openfeature.exception import (
    ProviderFatalError,
    ProviderNotReadyError,
)
from openfeature.flag_evaluation import FlagResolutionDetails
from openfeature.flag_evaluation import Reason as OpenFeatureReason
from openfeature.provider import AbstractProvider, Metadata

from verdict.engine import ErrorCode, EvaluationContext, Reason
from verdict.sdk.client import Client
from verdict.sdk.configuration import bounded
from verdict.sdk.context import MAX_TARGETING_KEY_LENGTH, NO_ATTRIBUTES
from verdict.sdk.types import ClientEvent, ClientStatus, EvaluationDetails

__all__ = ["PROVIDER_NAME", "VerdictProvider"]

PROVIDER_NAME: Final = "Verdict"

_REASONS: Final[Mapping[Reason, OpenFeatureReason]] = {
    reason: OpenFeatureReason(reason.value) for reason in Reason
}
_ERROR_CODES: Final[Mapping[ErrorCode, OpenFeatureErrorCode]] = {
    code: OpenFeatureErrorCode(code.value) for code in ErrorCode
}
_NOT_READY: Final = frozenset({ClientStatus.NOT_READY, ClientStatus.ERROR})
_EMPTY_CONTEXT: Final = EvaluationContext(None)
_MAX_NESTING: Final = 32  # attributes nested deeper are refused, not recursed into

if TYPE_CHECKING:  # neither exists at run time in openfeature-sdk 0.8
    from openfeature.flag_evaluation import FlagValueType
    from openfeature.track import TrackingEventDetails

    ObjectValue: TypeAlias = Sequence[FlagValueType] | Mapping[str, FlagValueType]

T = TypeVar("T")
Read = Callable[[str, Any, EvaluationContext], EvaluationDetails]
# Attribute values passed on as they are; anything else is looked into (see _plain).
_SCALARS: Final = frozenset({str, int, float, bool, type(None)})


class _InvalidContextError(ValueError):
    """An OpenFeature context Verdict cannot decide for (the message names the field)."""


class VerdictProvider(AbstractProvider):
    """An OpenFeature provider deciding with a Verdict :class:`Client` (see module doc).

    ``ready_timeout`` (seconds, 0 to 3600) bounds how long ``initialize`` waits for the
    client's first configuration. ``close_client`` (default True): ``shutdown`` closes
    the client, so the provider owns it; pass False to keep using the client after the
    provider is shut down or replaced.
    """

    def __init__(
        self, client: Client, *, ready_timeout: float = 10.0, close_client: bool = True
    ) -> None:
        super().__init__()
        if not isinstance(client, Client):
            raise TypeError(f"client: expected a verdict.sdk.Client, not {type(client).__name__}")
        self._client = client
        self._ready_timeout = bounded("ready_timeout", ready_timeout, 0, 3600)
        self._close_client = bool(close_client)
        self._lock = threading.Lock()
        self._forwarding = False  # client events reach OpenFeature only after initialize
        self._listening = False
        self._shut_down = False
        self._flags: Mapping[str, Any] = {}  # the flag specs last announced, for diffs
        self._document: Mapping[str, Any] = {}

    @property
    def client(self) -> Client:
        """The Verdict client the provider decides with."""
        return self._client

    def get_metadata(self) -> Metadata:
        return Metadata(name=PROVIDER_NAME)

    # ---------------------------------------------------------------- lifecycle
    def initialize(self, evaluation_context: OpenFeatureContext) -> None:
        """Wait for the client's configuration (see module doc, step 4)."""
        if self._shut_down and self._close_client:
            raise ProviderFatalError("the provider was shut down and its client closed")
        self._shut_down = False
        with self._lock:
            self._remember(self._client.configuration)
            if not self._listening:
                for event in ClientEvent:
                    self._client.add_listener(event, self._on_client_event)
                self._listening = True
        ready = self._client.wait_until_ready(self._ready_timeout)
        with self._lock:
            self._remember(self._client.configuration)
            self._forwarding = True
        if self._client.status is ClientStatus.ERROR:
            raise ProviderFatalError("the Verdict server refused the SDK key")
        if not ready:
            raise ProviderNotReadyError(
                f"no configuration within {self._ready_timeout:g} s (ready_timeout)"
            )

    def shutdown(self) -> None:
        with self._lock:
            self._forwarding = False
            if self._listening:
                for event in ClientEvent:
                    self._client.remove_listener(event, self._on_client_event)
                self._listening = False
            self._shut_down = True
        if self._close_client:
            self._client.close()

    def _on_client_event(self, event: ClientEvent, client: Client) -> None:
        """A client listener (on the refresh thread): the matching provider event."""
        with self._lock:
            if not self._forwarding:
                return
            if event is ClientEvent.CONFIGURATION_CHANGED:
                changed = self._changed_flags(client.configuration)
        if event is ClientEvent.READY:
            self.emit_provider_ready(ProviderEventDetails())
        elif event is ClientEvent.CONFIGURATION_CHANGED:
            self.emit_provider_configuration_changed(ProviderEventDetails(flags_changed=changed))
        elif event is ClientEvent.STALE:
            self.emit_provider_stale(
                ProviderEventDetails(
                    message="refreshing the configuration is failing; serving the last one"
                )
            )
        elif client.status is ClientStatus.ERROR:
            self.emit_provider_error(
                ProviderEventDetails(
                    message="the Verdict server refused the SDK key",
                    error_code=OpenFeatureErrorCode.PROVIDER_FATAL,
                )
            )
        else:
            self.emit_provider_error(
                ProviderEventDetails(
                    message="no configuration: refreshing it is failing",
                    error_code=OpenFeatureErrorCode.GENERAL,
                )
            )

    def _remember(self, document: Mapping[str, Any]) -> None:
        self._document = document
        flags = document.get("flags")
        self._flags = flags if isinstance(flags, Mapping) else {}

    def _changed_flags(self, document: Mapping[str, Any]) -> list[str]:
        """Flags whose resolution may differ between the last document and this one.

        A flag changed when its own definition did, or a prerequisite of it changed.
        When anything besides the flags changed (segments, experiments, layers), any
        flag may resolve differently, so all of them are named.
        """
        before, old_document = self._flags, self._document
        self._remember(document)
        after = self._flags
        keys = set(before) | set(after)
        others = (set(old_document) | set(document)) - {"flags"}
        if any(old_document.get(name) != document.get(name) for name in others):
            return sorted(keys)
        changed = {key for key in keys if before.get(key) != after.get(key)}
        dependents: dict[str, set[str]] = {}
        for key, spec in after.items():
            for prerequisite in _prerequisites(spec):
                dependents.setdefault(prerequisite, set()).add(key)
        pending = list(changed)
        while pending:
            for dependent in dependents.get(pending.pop(), ()):
                if dependent not in changed:
                    changed.add(dependent)
                    pending.append(dependent)
        return sorted(changed)

    # -------------------------------------------------------------- resolution
    def resolve_boolean_details(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: OpenFeatureContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        return self._resolve(
            self._client.get_bool_details, flag_key, default_value, evaluation_context
        )

    def resolve_string_details(
        self,
        flag_key: str,
        default_value: str,
        evaluation_context: OpenFeatureContext | None = None,
    ) -> FlagResolutionDetails[str]:
        return self._resolve(
            self._client.get_string_details, flag_key, default_value, evaluation_context
        )

    def resolve_integer_details(
        self,
        flag_key: str,
        default_value: int,
        evaluation_context: OpenFeatureContext | None = None,
    ) -> FlagResolutionDetails[int]:
        return self._resolve(
            self._client.get_integer_details, flag_key, default_value, evaluation_context
        )

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: OpenFeatureContext | None = None,
    ) -> FlagResolutionDetails[float]:
        return self._resolve(
            self._client.get_number_details, flag_key, default_value, evaluation_context
        )

    def resolve_object_details(
        self,
        flag_key: str,
        default_value: ObjectValue,
        evaluation_context: OpenFeatureContext | None = None,
    ) -> FlagResolutionDetails[ObjectValue]:
        resolution = self._resolve(
            self._client.get_json_details, flag_key, default_value, evaluation_context
        )
        if resolution.error_code is None:
            # The engine serves the object it holds: a copy keeps the next read intact.
            resolution.value = copy.deepcopy(resolution.value)
        return resolution

    # Evaluation is local and never blocks, so the async forms answer directly.
    async def resolve_boolean_details_async(
        self,
        flag_key: str,
        default_value: bool,
        evaluation_context: OpenFeatureContext | None = None,
    ) -> FlagResolutionDetails[bool]:
        return self.resolve_boolean_details(flag_key, default_value, evaluation_context)

    async def resolve_string_details_async(
        self,
        flag_key: str,
        default_value: str,
        evaluation_context: OpenFeatureContext | None = None,
    ) -> FlagResolutionDetails[str]:
        return self.resolve_string_details(flag_key, default_value, evaluation_context)

    async def resolve_integer_details_async(
        self,
        flag_key: str,
        default_value: int,
        evaluation_context: OpenFeatureContext | None = None,
    ) -> FlagResolutionDetails[int]:
        return self.resolve_integer_details(flag_key, default_value, evaluation_context)

    async def resolve_float_details_async(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: OpenFeatureContext | None = None,
    ) -> FlagResolutionDetails[float]:
        return self.resolve_float_details(flag_key, default_value, evaluation_context)

    async def resolve_object_details_async(
        self,
        flag_key: str,
        default_value: ObjectValue,
        evaluation_context: OpenFeatureContext | None = None,
    ) -> FlagResolutionDetails[ObjectValue]:
        return self.resolve_object_details(flag_key, default_value, evaluation_context)

    def _resolve(
        self,
        read: Read,
        flag_key: str,
        default_value: T,
        evaluation_context: OpenFeatureContext | None,
    ) -> FlagResolutionDetails[T]:
        try:
            context = verdict_context(evaluation_context)
        except _InvalidContextError as exc:
            return FlagResolutionDetails(
                value=default_value,
                error_code=OpenFeatureErrorCode.INVALID_CONTEXT,
                error_message=str(exc),
                reason=OpenFeatureReason.ERROR,
            )
        details = read(flag_key, default_value, context)
        code = details.error_code
        if code is None:
            return FlagResolutionDetails(
                value=details.value,
                reason=_REASONS[details.reason],
                variant=details.variant,
                flag_metadata=_metadata(details),
            )
        mapped = _ERROR_CODES.get(code, OpenFeatureErrorCode.GENERAL)
        if code is ErrorCode.GENERAL and self._client.status in _NOT_READY:
            mapped = OpenFeatureErrorCode.PROVIDER_NOT_READY
        return FlagResolutionDetails(
            value=default_value,
            error_code=mapped,
            error_message=details.error_message,
            reason=OpenFeatureReason.ERROR,
            flag_metadata=_metadata(details),
        )

    # ---------------------------------------------------------------- tracking
    def track(
        self,
        tracking_event_name: str,
        evaluation_context: OpenFeatureContext | None = None,
        tracking_event_details: TrackingEventDetails | None = None,
    ) -> None:
        """Record an event for the merged context's unit (:meth:`Client.track`, which
        logs and drops one it cannot accept: no unit id, a bad name or value)."""
        try:
            context = verdict_context(evaluation_context)
        except _InvalidContextError as exc:
            self._client._log_once(  # the client's log-once, so a hot loop cannot flood
                "track", str(exc), "verdict.sdk: track(%r) ignored: %s", tracking_event_name, exc
            )
            return
        value: float | None = None
        properties: Mapping[str, Any] | None = None
        if tracking_event_details is not None:
            value = tracking_event_details.value
            properties = _plain(tracking_event_details.attributes, "attributes", 0) or None
        self._client.track(tracking_event_name, context, value, properties)


def _metadata(details: EvaluationDetails) -> dict[str, str]:
    metadata = {} if details.rule is None else {"rule": details.rule}
    if details.experiment is not None:
        metadata["experiment"] = details.experiment
    return metadata


def verdict_context(context: OpenFeatureContext | None) -> EvaluationContext:
    """Verdict's context for an OpenFeature one (see module doc, step 1)."""
    if context is None:
        return _EMPTY_CONTEXT
    key = context.targeting_key
    if key is not None and not isinstance(key, str):
        raise _InvalidContextError(
            f"targeting_key: must be a string or None, not {type(key).__name__}"
        )
    if key is not None and len(key) > MAX_TARGETING_KEY_LENGTH:
        raise _InvalidContextError(
            f"targeting_key: longer than {MAX_TARGETING_KEY_LENGTH} characters"
        )
    attributes = context.attributes
    if not isinstance(attributes, Mapping):
        raise _InvalidContextError(
            f"attributes: must be an object, not {type(attributes).__name__}"
        )
    if not attributes:
        return EvaluationContext(key or None, NO_ATTRIBUTES)
    for item in attributes.values():
        if item.__class__ not in _SCALARS:  # a date, or a structure that may hold one
            return EvaluationContext(key or None, _plain(attributes, "attributes", 0))
    return EvaluationContext(key or None, attributes)


def _plain(value: Any, path: str, depth: int) -> Any:
    """``value`` with every date or time as an ISO 8601 string (the same object when it
    holds none, so the common case copies nothing)."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, str | bytes) or not isinstance(value, Mapping | list | tuple):
        return value
    if depth >= _MAX_NESTING:
        raise _InvalidContextError(f"{path}: nested deeper than {_MAX_NESTING} levels")
    if isinstance(value, Mapping):
        mapping = {k: _plain(v, f"{path}.{k}", depth + 1) for k, v in value.items()}
        return value if all(mapping[k] is v for k, v in value.items()) else mapping
    items = [_plain(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value)]
    return value if all(c is v for c, v in zip(items, value, strict=True)) else items


def _prerequisites(spec: Any) -> list[str]:
    items = spec.get("prerequisites") if isinstance(spec, Mapping) else None
    if not isinstance(items, list):
        return []
    return [
        item["flag"]
        for item in items
        if isinstance(item, Mapping) and isinstance(item.get("flag"), str)
    ]
