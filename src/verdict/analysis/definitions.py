"""What to analyse: metrics, variants and the data window, as frozen dataclasses.

An :class:`AnalysisSpec` is everything the SQL is generated from. It is checked when
it is built, so an invalid definition never reaches a database: the first problem
raises :class:`~verdict.analysis.errors.AnalysisDefinitionError` naming the field
(``metrics[2].value_path``). :meth:`AnalysisSpec.fingerprint` hashes every field the
per-unit table depends on (all but ``end``, the variants' weights and the bandit
``periods``); the incremental refresh keeps per-unit aggregates only while the
fingerprint stays the same, so any change of a definition forces a full rebuild, while a
bandit's new allocation period (or a phase's new weights) does not.

A bandit (weights that change during the experiment) lists its allocation periods
(:class:`Period`); each unit belongs to the period of its first exposure, and the
analysis weights it by the inverse of its variant's weight in that period
(:mod:`verdict.stats.adaptive`). An empty ``periods`` is a fixed-weight experiment.

Enum values equal the server's ``MetricType`` / ``MetricAggregation`` values, so the
server converts with ``MetricKind(metric.type.value)``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from verdict.analysis.errors import AnalysisDefinitionError

__all__ = [
    "Aggregation",
    "AnalysisSpec",
    "Capping",
    "MetricKind",
    "MetricSpec",
    "Period",
    "VariantSpec",
]

# A bandit's allocation periods: each adds a branch to the SQL that finds a unit's period.
MAX_PERIODS = 10_000
WEIGHT_TOLERANCE = 1e-6

Capping = Literal["none", "absolute", "percentile"]

# JSON path segments and context attribute names end up inside SQL string literals and
# JSON path expressions of five dialects; plain word characters are safe in all of them.
_SEGMENT = re.compile(r"^[A-Za-z0-9_]+$")


class MetricKind(StrEnum):
    CONVERSION = "conversion"
    REVENUE = "revenue"
    COUNT = "count"
    DURATION = "duration"
    RATIO = "ratio"
    CUSTOM = "custom"


class Aggregation(StrEnum):
    SUM = "sum"
    MEAN = "mean"
    COUNT = "count"
    UNIQUE = "unique"
    MAX = "max"
    MIN = "min"
    PERCENTILE = "percentile"


# Aggregations whose per-unit value is defined (0) for a unit without events; only these
# take part in CUPED, and a ratio's parts use them with "0 if none".
ADDITIVE = frozenset({Aggregation.SUM, Aggregation.COUNT, Aggregation.UNIQUE})


@dataclass(frozen=True)
class MetricSpec:
    """One metric: which events, which per-unit value, which window and capping."""

    key: str
    kind: MetricKind
    event_name: str
    aggregation: Aggregation = Aggregation.SUM
    percentile: float | None = None
    value_path: str | None = None
    capping: Capping = "none"
    cap_value: float | None = None
    window_hours: float | None = None
    delay_hours: float = 0.0
    denominator: MetricSpec | None = None
    lower_is_better: bool = False

    @property
    def effective_aggregation(self) -> Aggregation:
        """The aggregation the SQL uses: a conversion is always per-unit 0/1."""
        if self.kind is MetricKind.CONVERSION:
            return Aggregation.UNIQUE
        return self.aggregation

    @property
    def path_segments(self) -> tuple[str, ...]:
        """The value path split at dots (empty: the event's value column)."""
        return tuple(self.value_path.split(".")) if self.value_path else ()


@dataclass(frozen=True)
class VariantSpec:
    """A variant as stored in the exposure table's variant column."""

    id: str
    key: str
    weight: float
    is_control: bool


@dataclass(frozen=True)
class Period:
    """One allocation period of a bandit: from ``start`` on, the variants' ``weights``
    (in the spec's variant order), until the next period starts."""

    start: datetime
    weights: tuple[float, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "weights", tuple(self.weights))


@dataclass(frozen=True)
class AnalysisSpec:
    """One analysis of one experiment (phase): variants, metrics, window and options.

    Exposures count in ``[start, end)``; events up to and including ``end``.
    ``quantile_confidence`` is the level of the order-statistic interval returned for
    percentile metrics (see :mod:`verdict.stats.quantiles`). ``periods`` are a bandit's
    allocation periods (empty: the weights never changed); the first starts at or before
    ``start``.
    """

    experiment_id: str
    variants: tuple[VariantSpec, ...]
    metrics: tuple[MetricSpec, ...]
    start: datetime
    end: datetime
    cuped_days: float | None = 14.0
    breakdowns: tuple[str, ...] = ()
    daily: bool = True
    quantile_confidence: float = 0.95
    periods: tuple[Period, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "variants", tuple(self.variants))
        object.__setattr__(self, "metrics", tuple(self.metrics))
        object.__setattr__(self, "breakdowns", tuple(self.breakdowns))
        object.__setattr__(self, "periods", tuple(self.periods))
        _check_spec(self)
        object.__setattr__(self, "start", self.start.astimezone(UTC))
        object.__setattr__(self, "end", self.end.astimezone(UTC))
        object.__setattr__(
            self,
            "periods",
            tuple(Period(p.start.astimezone(UTC), p.weights) for p in self.periods),
        )

    @property
    def control(self) -> VariantSpec | None:
        """The control variant, if one is marked."""
        return next((v for v in self.variants if v.is_control), None)

    @property
    def is_bandit(self) -> bool:
        """Whether the weights changed during the experiment (allocation periods)."""
        return bool(self.periods)

    def fingerprint(self) -> str:
        """SHA-256 of the fields the per-unit table depends on (hex): every field but
        ``end``, the variants' weights and ``periods``, which only the statistics read."""
        payload = {
            "experiment_id": self.experiment_id,
            "variants": [
                {k: v for k, v in _plain(variant).items() if k != "weight"}
                for variant in self.variants
            ],
            "metrics": [_plain(m) for m in self.metrics],
            "start": self.start.isoformat(),
            "cuped_days": self.cuped_days,
            "breakdowns": list(self.breakdowns),
            "daily": self.daily,
            "quantile_confidence": self.quantile_confidence,
        }
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, MetricSpec | VariantSpec):
        return {name: _plain(getattr(value, name)) for name in value.__dataclass_fields__}
    if isinstance(value, StrEnum):
        return value.value
    return value


def _fail(field_name: str, message: str) -> None:
    raise AnalysisDefinitionError(field_name, message)


def _positive(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0


def _check_spec(spec: AnalysisSpec) -> None:
    if not spec.experiment_id:
        _fail("experiment_id", "must not be empty")
    if len(spec.variants) < 2:
        _fail("variants", "an analysis needs at least two variants")
    seen_ids: set[str] = set()
    for index, variant in enumerate(spec.variants):
        if not variant.id:
            _fail(f"variants[{index}].id", "must not be empty")
        if variant.id in seen_ids:
            _fail(f"variants[{index}].id", f"duplicate variant id {variant.id!r}")
        seen_ids.add(variant.id)
    if sum(v.is_control for v in spec.variants) > 1:
        _fail("variants", "at most one variant can be the control")
    for name, moment in (("start", spec.start), ("end", spec.end)):
        if moment.tzinfo is None or moment.utcoffset() is None:
            _fail(name, "must be timezone-aware (UTC)")
    if spec.end <= spec.start:
        _fail("end", "must be after start")
    if spec.cuped_days is not None and not _positive(spec.cuped_days):
        _fail("cuped_days", "must be a positive number of days, or None to turn CUPED off")
    if not 0 < spec.quantile_confidence < 1:
        _fail("quantile_confidence", "must be in (0, 1)")
    if len(set(spec.breakdowns)) != len(spec.breakdowns):
        _fail("breakdowns", "attribute names must be unique")
    for index, attribute in enumerate(spec.breakdowns):
        if not _SEGMENT.match(attribute):
            _fail(f"breakdowns[{index}]", "an attribute name is letters, digits or _")
    _check_periods(spec)
    keys: set[str] = set()
    for index, metric in enumerate(spec.metrics):
        prefix = f"metrics[{index}]"
        if metric.key in keys:
            _fail(f"{prefix}.key", f"duplicate metric key {metric.key!r}")
        keys.add(metric.key)
        _check_metric(metric, prefix, allow_ratio=True)


def _check_periods(spec: AnalysisSpec) -> None:
    if len(spec.periods) > MAX_PERIODS:
        _fail("periods", f"at most {MAX_PERIODS:,} allocation periods")
    previous: datetime | None = None
    for index, period in enumerate(spec.periods):
        prefix = f"periods[{index}]"
        if not isinstance(period, Period):
            _fail(prefix, "must be a Period")
        start = period.start
        if not isinstance(start, datetime) or start.tzinfo is None or start.utcoffset() is None:
            _fail(f"{prefix}.start", "must be timezone-aware (UTC)")
        if index == 0 and start > spec.start:
            _fail(f"{prefix}.start", "the first period must start at or before start")
        if previous is not None and start <= previous:
            _fail(f"{prefix}.start", f"must be after periods[{index - 1}].start")
        previous = start
        weights = period.weights
        if len(weights) != len(spec.variants):
            _fail(f"{prefix}.weights", f"need one weight per variant ({len(spec.variants)})")
        if not all(isinstance(w, int | float) and _positive(w) for w in weights):
            _fail(f"{prefix}.weights", "every weight must be a positive number")
        if abs(math.fsum(weights) - 1.0) > WEIGHT_TOLERANCE:
            _fail(f"{prefix}.weights", f"must sum to 1, got {math.fsum(weights)!r}")


def _check_metric(metric: MetricSpec, prefix: str, *, allow_ratio: bool) -> None:
    if not metric.key:
        _fail(f"{prefix}.key", "must not be empty")
    if not metric.event_name:
        _fail(f"{prefix}.event_name", "must not be empty")
    if not isinstance(metric.kind, MetricKind):
        _fail(f"{prefix}.kind", f"unknown metric kind {metric.kind!r}")
    if not isinstance(metric.aggregation, Aggregation):
        _fail(f"{prefix}.aggregation", f"unknown aggregation {metric.aggregation!r}")
    if metric.aggregation is Aggregation.PERCENTILE and metric.kind is not MetricKind.CONVERSION:
        if metric.percentile is None or not 0 < metric.percentile < 1:
            _fail(f"{prefix}.percentile", "percentile aggregation needs a percentile in (0, 1)")
    elif metric.percentile is not None:
        _fail(f"{prefix}.percentile", "only percentile aggregation takes a percentile")
    if metric.value_path is not None and not all(
        _SEGMENT.match(part) for part in metric.value_path.split(".")
    ):
        _fail(f"{prefix}.value_path", "a dotted path of names made of letters, digits or _")
    if metric.capping not in ("none", "absolute", "percentile"):
        _fail(f"{prefix}.capping", f"unknown capping {metric.capping!r}")
    if metric.capping == "none":
        if metric.cap_value is not None:
            _fail(f"{prefix}.cap_value", "set capping to use a cap_value")
    elif not _positive(metric.cap_value):
        _fail(f"{prefix}.cap_value", f"{metric.capping} capping needs a positive cap_value")
    elif metric.capping == "percentile" and (metric.cap_value or 0) >= 1:
        _fail(f"{prefix}.cap_value", "percentile capping needs a cap_value in (0, 1)")
    if metric.window_hours is not None and not _positive(metric.window_hours):
        _fail(f"{prefix}.window_hours", "must be positive, or None for no window")
    if not (math.isfinite(metric.delay_hours) and metric.delay_hours >= 0):
        _fail(f"{prefix}.delay_hours", "must be zero or positive")
    if metric.kind is MetricKind.RATIO:
        if not allow_ratio:
            _fail(prefix, "a ratio's denominator cannot itself be a ratio")
        if metric.denominator is None:
            _fail(f"{prefix}.denominator", "a ratio metric needs a denominator metric")
        else:
            _check_metric(metric.denominator, f"{prefix}.denominator", allow_ratio=False)
        if metric.aggregation is Aggregation.PERCENTILE:
            _fail(f"{prefix}.aggregation", "a ratio cannot use percentile aggregation")
    elif metric.denominator is not None:
        _fail(f"{prefix}.denominator", "only a ratio metric takes a denominator")
