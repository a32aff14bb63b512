"""What the SDK hands back and what it hands on: result types, status, and recorders.

A flag read through the client ends in an :class:`EvaluationDetails` (value, variant,
reason, error code, rule), an experiment read in a :class:`VariantDetails`. Reasons and
error codes are the engine's, which are OpenFeature's vocabulary. Exposures and events
leave the client through a :class:`Recorder`; :class:`MemoryRecorder` keeps them in
memory (tests, offline scripts, a host that ships them itself).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Protocol
from urllib.parse import SplitResult, parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from verdict.engine import ErrorCode, ExperimentReason, Reason

__all__ = [
    "ClientEvent",
    "ClientStatus",
    "EvaluationDetails",
    "Exposure",
    "MemoryRecorder",
    "Recorder",
    "TrackedEvent",
    "VariantDetails",
]


class ClientStatus(StrEnum):
    """Where the client's configuration stands.

    ``NOT_READY``: nothing to decide from yet (every read answers its default).
    ``READY``: a configuration is held and the last refresh succeeded recently.
    ``STALE``: a configuration is held, but refreshing it is failing or the last
    successful refresh is older than the client's ``stale_after``.
    ``ERROR``: no configuration could be had and the server refused the key (or the
    bootstrap was unusable): retrying will not help without a change.
    """

    NOT_READY = "NOT_READY"
    READY = "READY"
    STALE = "STALE"
    ERROR = "ERROR"


class ClientEvent(StrEnum):
    """What listeners are told about (the OpenFeature provider events)."""

    READY = "READY"
    CONFIGURATION_CHANGED = "CONFIGURATION_CHANGED"
    STALE = "STALE"
    ERROR = "ERROR"


@dataclass(frozen=True, slots=True)
class EvaluationDetails:
    """One flag resolved for one context, with why.

    ``value`` is the caller's default whenever ``reason`` is ERROR; ``error_code`` and
    ``error_message`` then say what went wrong. ``rule`` names what decided (a rule id,
    ``"override"``, ``"prerequisite:<flag>"``) or is ``None``; ``experiment`` names the
    experiment whose variant served the value (an experiment rule), else ``None``.
    """

    flag_key: str
    value: Any
    variant: str | None
    reason: Reason
    error_code: ErrorCode | None = None
    error_message: str | None = None
    rule: str | None = None
    experiment: str | None = None


def _redirect_target(current_url: str, variant_url: str) -> str | None:
    """``variant_url`` made absolute against ``current_url`` with the visitor's query and
    fragment carried over, or ``None`` when that is where the visitor already is."""
    current = urlsplit(current_url)
    target = urlsplit(urljoin(current_url, variant_url))
    names = {name for name, _ in parse_qsl(target.query, keep_blank_values=True)}
    kept = [
        (name, value)
        for name, value in parse_qsl(current.query, keep_blank_values=True)
        if name not in names
    ]
    query = "&".join(part for part in (target.query, urlencode(kept)) if part)
    destination = target._replace(query=query, fragment=target.fragment or current.fragment)
    if _same_page(destination, current):
        return None
    return urlunsplit(destination)


def _same_page(a: SplitResult, b: SplitResult) -> bool:
    return (
        a.scheme.lower() == b.scheme.lower()
        and a.netloc.lower() == b.netloc.lower()
        and (a.path.rstrip("/") or "/") == (b.path.rstrip("/") or "/")
        and sorted(parse_qsl(a.query, keep_blank_values=True))
        == sorted(parse_qsl(b.query, keep_blank_values=True))
    )


@dataclass(frozen=True, slots=True)
class VariantDetails:
    """One experiment decided for one context.

    ``variant`` is the variant key when ``in_experiment``, else ``None`` (the caller
    shows its control experience); ``payload`` is then what the variant carries
    (``configuration``, ``response_template``, ``system_prompt``, ``config_overrides``;
    shared, so read it, do not change it) and ``url`` its page in a split-URL test
    (:meth:`redirect` says where to send the visitor). ``reason`` is the engine's decision step
    (``bucketed``, ``forced``, ``not_targeted``, ``not_found``, ...); an SDK failure
    reports ``config_error`` with ``error_message`` set.
    """

    experiment_key: str
    in_experiment: bool
    variant: str | None
    reason: ExperimentReason
    bucket: int | None = None
    error_message: str | None = None
    payload: Mapping[str, Any] | None = None
    url: str | None = None

    def redirect(self, current_url: str) -> str | None:
        """Where a split-URL test sends a visitor now on ``current_url``, or ``None``
        to stay (not in the experiment, no URL for the variant, or already there).

        A relative variant URL is resolved against ``current_url``; the visitor's query
        parameters are kept unless the variant URL sets the same name, and so is the
        fragment unless the variant URL has one.
        """
        if self.url is None or not self.in_experiment:
            return None
        return _redirect_target(current_url, self.url)


class Recorder(Protocol):
    """Where exposures and events go. Implementations must not block the caller for
    long and must not raise: the client calls them on the host's thread."""

    def exposure(
        self, *, unit_id: str, experiment_key: str, variant_key: str, attributes: Mapping[str, Any]
    ) -> None: ...

    def track(
        self,
        *,
        unit_id: str,
        event: str,
        value: float | None,
        properties: Mapping[str, Any] | None,
    ) -> None: ...

    def flush(self, timeout: float | None = None) -> bool: ...

    def close(self, timeout: float | None = None) -> None: ...


@dataclass(frozen=True, slots=True)
class Exposure:
    """One exposure a :class:`MemoryRecorder` was given."""

    unit_id: str
    experiment_key: str
    variant_key: str
    attributes: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class TrackedEvent:
    """One event a :class:`MemoryRecorder` was given."""

    unit_id: str
    event: str
    value: float | None
    properties: Mapping[str, Any] | None


@dataclass
class MemoryRecorder:
    """A :class:`Recorder` that keeps what it is given, in order, in memory.

    For tests, offline runs and hosts that forward exposures and events themselves.
    At most ``limit`` of each are kept: past it the oldest are dropped and counted in
    :attr:`dropped`, so a long-running process never grows without bound. Thread-safe.
    After :meth:`close` further calls are ignored.
    """

    limit: int = 100_000
    exposures: list[Exposure] = field(default_factory=list)
    events: list[TrackedEvent] = field(default_factory=list)
    dropped: int = 0
    closed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 1:
            raise ValueError(f"limit: must be a positive integer, got {self.limit!r}")

    def exposure(
        self, *, unit_id: str, experiment_key: str, variant_key: str, attributes: Mapping[str, Any]
    ) -> None:
        item = Exposure(unit_id, experiment_key, variant_key, MappingProxyType(dict(attributes)))
        with self._lock:
            if not self.closed:
                self._append(self.exposures, item)

    def track(
        self,
        *,
        unit_id: str,
        event: str,
        value: float | None,
        properties: Mapping[str, Any] | None,
    ) -> None:
        kept = None if properties is None else MappingProxyType(dict(properties))
        item = TrackedEvent(unit_id, event, value, kept)
        with self._lock:
            if not self.closed:
                self._append(self.events, item)

    def _append(self, items: list[Any], item: Any) -> None:
        items.append(item)
        if len(items) > self.limit:
            del items[0]
            self.dropped += 1

    def flush(self, timeout: float | None = None) -> bool:
        """Nothing is pending in memory: always True."""
        return True

    def close(self, timeout: float | None = None) -> None:
        with self._lock:
            self.closed = True
