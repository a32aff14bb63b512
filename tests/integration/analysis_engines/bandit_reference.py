"""A bandit's figures computed unit by unit: pandas sums per period, numpy's Hajek, and
Welch's comparison of two arms' weighted estimates.

Independent of the SQL and of :mod:`verdict.stats.adaptive`: the units and their
values come from the row-by-row rules of :mod:`reference`, the period from
``bisect`` over the period starts, the sums from a pandas ``groupby``, each arm's
weighted estimate from ``np.average`` with weights ``1 / p`` over the units themselves,
and the comparison of two arms from those estimates: scipy's ``ttest_ind_from_stats``
for the p-value, ``scipy.stats.t.ppf`` at the Welch-Satterthwaite degrees of freedom
for the difference's interval, and the lift's on the log scale written out.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict

import numpy as np
import pandas as pd
from scipy import stats

from tests.integration.analysis_engines.dataset import Dataset, Event, epoch
from tests.integration.analysis_engines.reference import exposed_units, unit_value
from verdict.analysis import AnalysisSpec, MetricKind


def unit_frame(data: Dataset, spec: AnalysisSpec) -> pd.DataFrame:
    """One row per analysed unit: variant, period, day, country and each metric's value
    (a ratio's numerator ``<key>`` and denominator ``<key>.d``), and its propensity."""
    units, _, _ = exposed_units(data, spec)
    starts = [epoch(period.start) for period in spec.periods]
    events: dict[str, list[Event]] = defaultdict(list)
    for event in data.events:
        events[event.unit_id].append(event)
    arms = [v.id for v in spec.variants]
    end = epoch(spec.end)
    records = []
    for unit in units:
        period = max(0, bisect.bisect_right(starts, unit.ts) - 1)
        record: dict[str, object] = {
            "variant": unit.variant,
            "period": period,
            "day": unit.ts // 86_400,
            "country": unit.attributes.get("country"),
            "p": spec.periods[period].weights[arms.index(unit.variant)],
        }
        for metric in spec.metrics:
            value = unit_value(events[unit.unit_id], unit, metric, end, pre_days=None)
            if metric.kind is MetricKind.RATIO and metric.denominator is not None:
                record[metric.key] = value or 0.0
                record[f"{metric.key}.d"] = unit_value(
                    events[unit.unit_id], unit, metric.denominator, end, pre_days=None
                )
            else:
                record[metric.key] = value
        records.append(record)
    return pd.DataFrame.from_records(records)


def period_sums(
    frame: pd.DataFrame, spec: AnalysisSpec, by: str | None
) -> dict[tuple[str, str, object, int], dict[str, float]]:
    """(metric, variant, group value, period) -> sums, grouped by ``by`` as well (None:
    overall, value None)."""
    keys = ["variant", "period"] if by is None else ["variant", by, "period"]
    out: dict[tuple[str, str, object, int], dict[str, float]] = {}
    for metric in spec.metrics:
        columns = frame.assign(
            y=frame[metric.key].astype(float),
            y2=frame[metric.key].astype(float) ** 2,
            hit=(frame[metric.key].astype(float) > 0).astype(float),
        )
        ratio = metric.kind is MetricKind.RATIO
        if ratio:
            d = columns[f"{metric.key}.d"].astype(float)
            columns = columns.assign(d=d, d2=d**2, yd=columns["y"] * d)
        grouped = columns.groupby(keys)
        table = grouped.agg(
            exposed=("variant", "size"),
            units=("y", "count"),
            sum=("y", "sum"),
            sum_squares=("y2", "sum"),
            conversions=("hit", "sum"),
            **(
                {
                    "denominator_sum": ("d", "sum"),
                    "denominator_sum_squares": ("d2", "sum"),
                    "cross": ("yd", "sum"),
                }
                if ratio
                else {}
            ),
        )
        for index, row in table.iterrows():
            parts = index if isinstance(index, tuple) else (index,)
            variant, period = parts[0], parts[-1]
            group = None if by is None else parts[1]
            out[(metric.key, str(variant), group, int(period))] = {
                name: float(value) for name, value in row.items()
            }
    return out


def hajek(frame: pd.DataFrame, key: str, ratio: bool) -> tuple[float, float]:
    """The weighted mean (ratio) of one arm's units and the variance of that estimate:
    weights ``w = 1 / p``; ``sum(w**2 (y - mu)**2) / sum(w)**2`` (for a ratio, the
    residual ``y - R d`` over ``sum(w d)**2``)."""
    w = 1.0 / frame["p"].to_numpy(dtype=float)
    y = frame[key].to_numpy(dtype=float)
    if not ratio:
        keep = ~np.isnan(y)
        w, y = w[keep], y[keep]
        mu = float(np.average(y, weights=w))
        return mu, float(np.sum(w**2 * (y - mu) ** 2) / np.sum(w) ** 2)
    d = frame[f"{key}.d"].to_numpy(dtype=float)
    r = float(np.sum(w * y) / np.sum(w * d))
    return r, float(np.sum(w**2 * (y - r * d) ** 2) / np.sum(w * d) ** 2)


def welch_reference(
    control: tuple[float, float, int], treatment: tuple[float, float, int]
) -> tuple[float, tuple[float, float], tuple[float, float]]:
    """From each arm's (estimate, variance of the estimate, units): Welch's p-value of
    treatment minus control (scipy, each arm's per-unit standard deviation ``sqrt(v
    n)``); the difference's interval ``+- t_df sqrt(v_c + v_t)``, ``df`` the
    Welch-Satterthwaite degrees of freedom; the lift's ``exp(log(m_t / m_c) +- t_df
    sqrt(v_t / m_t**2 + v_c / m_c**2)) - 1`` (both means positive here)."""
    (m_c, v_c, n_c), (m_t, v_t, n_t) = control, treatment
    welch = stats.ttest_ind_from_stats(
        m_t, math.sqrt(v_t * n_t), n_t, m_c, math.sqrt(v_c * n_c), n_c, equal_var=False
    )
    df = (v_c + v_t) ** 2 / (v_c**2 / (n_c - 1) + v_t**2 / (n_t - 1))
    q = float(stats.t.ppf(0.975, df))
    half = q * math.sqrt(v_c + v_t)
    spread = q * math.sqrt(v_t / m_t**2 + v_c / m_c**2)
    centre = math.log(m_t / m_c)
    return (
        float(welch.pvalue),
        (m_t - m_c - half, m_t - m_c + half),
        (math.exp(centre - spread) - 1, math.exp(centre + spread) - 1),
    )
