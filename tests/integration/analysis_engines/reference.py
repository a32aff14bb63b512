"""The figures every engine must produce, computed row by row in plain Python and numpy.

Written from the exposure and metric rules of the design, not from the SQL: a loop over
units, their exposure rows and their events, then numpy sums per group. Quantiles use
``numpy.quantile(method="inverted_cdf")``; the interval ranks follow the design's rule
``ceil(n p -+ z sqrt(n p (1 - p)))``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from tests.integration.analysis_engines.dataset import Dataset, Event, epoch
from verdict.analysis import Aggregation, AnalysisSpec, MetricKind, MetricSpec

MISSING = "__missing__"


@dataclass(frozen=True)
class Unit:
    unit_id: str
    variant: str
    ts: int
    attributes: dict[str, str]


@dataclass(frozen=True)
class Expected:
    exposures: dict[str, int]
    multiple: int
    unknown: int
    # (metric, variant, dimension, breakdown, day) -> field -> value
    groups: dict[tuple[str, str, str | None, str | None, int | None], dict[str, float]]
    caps: dict[str, float]


def exposed_units(data: Dataset, spec: AnalysisSpec) -> tuple[list[Unit], int, int]:
    start, end = epoch(spec.start), epoch(spec.end)
    known = {v.id for v in spec.variants}
    rows = [
        e for e in data.exposures if e.experiment_id == spec.experiment_id and start <= e.ts < end
    ]
    unknown = {e.unit_id for e in rows if e.variant_id not in known}
    by_unit = defaultdict(list)
    for e in rows:
        if e.variant_id in known:
            by_unit[e.unit_id].append(e)
    units: list[Unit] = []
    multiple = 0
    for unit_id, unit_rows in by_unit.items():
        if len({e.variant_id for e in unit_rows}) > 1:
            multiple += 1
            continue
        first = min(e.ts for e in unit_rows)
        attributes = {}
        for name in spec.breakdowns:
            attributes[name] = min(
                (e.context or {}).get(name, MISSING) for e in unit_rows if e.ts == first
            )
        units.append(Unit(unit_id, unit_rows[0].variant_id, first, attributes))
    return units, multiple, len(unknown)


def _value(event: Event, metric: MetricSpec) -> float | None:
    if metric.value_path is None:
        return event.value
    node: object = event.properties
    for part in metric.value_path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return float(node)  # type: ignore[arg-type]


def _aggregation(metric: MetricSpec) -> Aggregation:
    return Aggregation.UNIQUE if metric.kind is MetricKind.CONVERSION else metric.aggregation


def unit_value(
    events: list[Event], unit: Unit, metric: MetricSpec, end: int, *, pre_days: float | None
) -> float | None:
    """Per-unit value (post-exposure, or the pre-exposure covariate when pre_days is set)."""
    if pre_days is None:
        low = unit.ts + round(metric.delay_hours * 3600)
        high = end
        if metric.window_hours is not None:
            high = min(end, low + round(metric.window_hours * 3600))
        chosen = [e for e in events if e.name == metric.event_name and low <= e.ts <= high]
    else:
        low = unit.ts - round(pre_days * 86400)
        chosen = [e for e in events if e.name == metric.event_name and low <= e.ts < unit.ts]
    values = [v for v in (_value(e, metric) for e in chosen) if v is not None]
    aggregation = _aggregation(metric)
    if aggregation is Aggregation.SUM:
        return float(sum(values))
    if aggregation is Aggregation.COUNT:
        return float(len(chosen))
    if aggregation is Aggregation.UNIQUE:
        return 1.0 if chosen else 0.0
    if not values:
        return None
    if aggregation in (Aggregation.MEAN, Aggregation.PERCENTILE):
        return float(np.mean(values))
    return float(max(values) if aggregation is Aggregation.MAX else min(values))


def _cap(values: list[float | None], metric: MetricSpec) -> float | None:
    if metric.kind is MetricKind.CONVERSION or metric.capping == "none":
        return None
    if metric.capping == "absolute":
        return metric.cap_value
    nonzero = np.array([v for v in values if v is not None and v != 0], dtype=float)
    if nonzero.size == 0:
        return None
    return float(np.quantile(nonzero, metric.cap_value, method="inverted_cdf"))


def _capped(value: float | None, cap: float | None) -> float | None:
    return value if value is None or cap is None else min(value, cap)


def expected(data: Dataset, spec: AnalysisSpec) -> Expected:
    units, multiple, unknown = exposed_units(data, spec)
    end = epoch(spec.end)
    events_by_unit: dict[str, list[Event]] = defaultdict(list)
    for event in data.events:
        events_by_unit[event.unit_id].append(event)
    exposures = {v.id: 0 for v in spec.variants}
    for unit in units:
        exposures[unit.variant] += 1

    # per metric: per unit (value, denominator, covariate, covariate denominator)
    columns: dict[str, list[tuple[float | None, ...]]] = {}
    caps: dict[str, float] = {}
    for metric in spec.metrics:
        ratio = metric.kind is MetricKind.RATIO
        parts = [metric] + ([metric.denominator] if ratio and metric.denominator else [])
        cuped = spec.cuped_days is not None and all(
            _aggregation(p) in (Aggregation.SUM, Aggregation.COUNT, Aggregation.UNIQUE)
            for p in parts
        )
        raw = [
            [unit_value(events_by_unit[u.unit_id], u, p, end, pre_days=None) for u in units]
            for p in parts
        ]
        part_caps = [_cap(values, p) for values, p in zip(raw, parts, strict=True)]
        for p, cap, name in zip(parts, part_caps, ("", ".denominator"), strict=False):
            if p.capping == "percentile" and cap is not None:
                caps[metric.key + name] = cap
        rows = []
        for index, unit in enumerate(units):
            row: list[float | None] = []
            for part_index in range(len(parts)):
                value = raw[part_index][index]
                row.append(
                    _capped(0.0 if ratio and value is None else value, part_caps[part_index])
                )
            if cuped:
                for part_index, part in enumerate(parts):
                    pre = unit_value(
                        events_by_unit[unit.unit_id], unit, part, end, pre_days=spec.cuped_days
                    )
                    row.append(_capped(pre, part_caps[part_index]))
            rows.append(tuple(row))
        columns[metric.key] = rows

    groups: dict[tuple[str, str, str | None, str | None, int | None], dict[str, float]] = {}
    keys: list[tuple[str | None, str | None, int | None]] = [(None, None, None)]
    for name in spec.breakdowns:
        keys += [(name, value, None) for value in {u.attributes[name] for u in units}]
    if spec.daily:
        keys += [(None, None, day) for day in {u.ts // 86400 for u in units}]
    for metric in spec.metrics:
        for variant in spec.variants:
            for dimension, value, day in keys:
                members = [
                    i
                    for i, u in enumerate(units)
                    if u.variant == variant.id
                    and (dimension is None or u.attributes[dimension] == value)
                    and (day is None or u.ts // 86400 == day)
                ]
                if not members and (dimension is not None or day is not None):
                    continue
                groups[(metric.key, variant.id, dimension, value, day)] = _sums(
                    metric, [columns[metric.key][i] for i in members], spec, day is None
                ) | {"exposed": float(len(members))}
    return Expected(exposures, multiple, unknown, groups, caps)


def _sums(
    metric: MetricSpec, rows: list[tuple[float | None, ...]], spec: AnalysisSpec, quantiles: bool
) -> dict[str, float]:
    ratio = metric.kind is MetricKind.RATIO
    v = np.array([r[0] for r in rows if r[0] is not None], dtype=float)
    out = {
        "units": float(v.size),
        "sum": float(v.sum()),
        "sum_squares": float((v * v).sum()),
        "conversions": float((v > 0).sum()),
    }
    table = np.array(rows, dtype=float).reshape(len(rows), -1) if rows else np.zeros((0, 4))
    width = table.shape[1]
    if ratio:
        value, den = table[:, 0], table[:, 1]
        out |= {
            "denominator_sum": den.sum(),
            "denominator_sum_squares": (den * den).sum(),
            "cross": (value * den).sum(),
        }
        if width == 4:
            pre, pre_den = table[:, 2], table[:, 3]
            out |= {
                "covariate_sum": pre.sum(),
                "covariate_sum_squares": (pre * pre).sum(),
                "covariate_cross": (value * pre).sum(),
                "covariate_denominator_sum": pre_den.sum(),
                "covariate_denominator_sum_squares": (pre_den * pre_den).sum(),
                "covariate_denominator_cross": (pre * pre_den).sum(),
                "numerator_covariate_denominator": (value * pre_den).sum(),
                "denominator_covariate_numerator": (den * pre).sum(),
                "denominator_covariate_denominator": (den * pre_den).sum(),
            }
    elif width == 2:
        value, pre = table[:, 0], table[:, 1]
        out |= {
            "covariate_sum": pre.sum(),
            "covariate_sum_squares": (pre * pre).sum(),
            "covariate_cross": (value * pre).sum(),
        }
    if metric.aggregation is Aggregation.PERCENTILE and quantiles and v.size:
        p = metric.percentile or 0.5
        ordered = np.sort(v)
        n = v.size
        z = float(norm.ppf(0.5 + spec.quantile_confidence / 2))
        spread = z * math.sqrt(n * p * (1.0 - p))
        lower = min(n, max(1, math.ceil(n * p - spread)))
        upper = min(n, max(1, math.ceil(n * p + spread)))
        out |= {
            "quantile": float(np.quantile(v, p, method="inverted_cdf")),
            "quantile_lower": float(ordered[lower - 1]),
            "quantile_upper": float(ordered[upper - 1]),
        }
    return {key: float(value) for key, value in out.items()}
