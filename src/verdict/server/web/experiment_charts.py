"""The experiment page's charts as plotly figures (plain dicts: ``{"data", "layout"}``).

Three pictures, all drawn from what is stored, never recomputed:

* the interval (forest) plot of one metric: each treatment's relative lift against
  control with the interval the analysis stored, and the line of no effect;
* the cumulative lift of one metric over exposure days: each treatment's relative lift
  with its interval as a band, from the daily series the analysis run stored;
* a bandit's weights over time: the phases' weights as stacked steps.

The page puts each figure in a JSON block that ``verdict.js`` hands to plotly.js.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from verdict.server.analysis.result_schemas import MetricResultOut, SeriesPoint
from verdict.server.experiments.schemas import PhaseOut

__all__ = ["forest_figure", "lift_series_figure", "weights_figure"]

# Distinguishable on white with at least 4.5:1 contrast (text-grade colours).
PALETTE = ("#1d4ed8", "#b45309", "#7e22ce", "#0f766e", "#be123c", "#4d7c0f")
_INK = "#1b2430"
_GRID = "#e3e8ef"
_GOOD, _BAD, _NEUTRAL = "#146c2e", "#a11d1d", "#4f5b6b"


def _base_layout(height: int) -> dict[str, Any]:
    return {
        "height": height,
        "margin": {"l": 10, "r": 20, "t": 10, "b": 50},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "font": {"family": "system-ui, sans-serif", "size": 13, "color": _INK},
    }


def _rgba(colour: str, alpha: float) -> str:
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def _lift_axis(title: str) -> dict[str, Any]:
    """An axis of relative lift, with the line of no effect always in sight."""
    return {
        "title": {"text": title},
        "tickformat": "+.0%",
        "rangemode": "tozero",
        "zeroline": True,
        "zerolinecolor": _INK,
        "zerolinewidth": 2,
        "gridcolor": _GRID,
    }


def _time_layout(height: int, legend_y: float) -> dict[str, Any]:
    """The layout of a chart over time: a legend below it, one hover box per instant."""
    return {
        **_base_layout(height),
        "showlegend": True,
        "legend": {"orientation": "h", "y": legend_y},
        "margin": {"l": 10, "r": 20, "t": 10, "b": 70},
        "hovermode": "x unified",
    }


def forest_figure(
    rows: Sequence[MetricResultOut],
    *,
    confidence_level: float,
    lower_is_better: bool,
) -> dict[str, Any] | None:
    """Relative lift of every treatment with its stored interval; None if none has one."""
    shown = [r for r in rows if not r.is_control and r.relative_lift is not None]
    if not shown:
        return None
    lifts = [float(r.relative_lift or 0.0) for r in shown]
    above = [
        max(0.0, r.lift_ci_upper - lift) if r.lift_ci_upper is not None else 0.0
        for r, lift in zip(shown, lifts, strict=True)
    ]
    below = [
        max(0.0, lift - r.lift_ci_lower) if r.lift_ci_lower is not None else 0.0
        for r, lift in zip(shown, lifts, strict=True)
    ]
    colours = []
    for row, lift in zip(shown, lifts, strict=True):
        if not row.significant:
            colours.append(_NEUTRAL)
        else:
            colours.append(_GOOD if (lift > 0) != lower_is_better else _BAD)
    level = f"{confidence_level * 100:g}"
    layout = _base_layout(110 + 46 * len(shown))
    layout.update(
        {
            "showlegend": False,
            "xaxis": _lift_axis(f"Lift vs control, {level} % interval"),
            "yaxis": {"type": "category", "autorange": "reversed", "automargin": True},
        }
    )
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "markers",
                "x": lifts,
                "y": [r.variant for r in shown],
                "marker": {"size": 11, "color": colours, "symbol": "diamond"},
                "error_x": {
                    "type": "data",
                    "symmetric": False,
                    "array": above,
                    "arrayminus": below,
                    "color": _INK,
                    "thickness": 2,
                    "width": 7,
                },
                "hovertemplate": "%{y}: %{x:+.2%}<extra></extra>",
            }
        ],
        "layout": layout,
    }


def lift_series_figure(
    points: Sequence[SeriesPoint], *, control: str | None, confidence_level: float
) -> dict[str, Any] | None:
    """Cumulative relative lift by exposure day, one line and band per treatment;
    None when no day has a lift yet."""
    by_variant: dict[str, list[SeriesPoint]] = {}
    for point in points:
        if point.variant == control or point.relative_lift is None:
            continue
        by_variant.setdefault(point.variant, []).append(point)
    if not by_variant:
        return None
    all_days = {p.day for series in by_variant.values() for p in series}
    data: list[dict[str, Any]] = []
    for index, (variant, series) in enumerate(by_variant.items()):
        series.sort(key=lambda p: p.day)
        colour = PALETTE[index % len(PALETTE)]
        days = [p.day.isoformat() for p in series]
        banded = [p for p in series if p.lift_ci_lower is not None and p.lift_ci_upper is not None]
        if banded:
            band_days = [p.day.isoformat() for p in banded]
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "x": band_days,
                    "y": [p.lift_ci_upper for p in banded],
                    "line": {"width": 0, "color": colour},
                    "hoverinfo": "skip",
                    "showlegend": False,
                    "legendgroup": variant,
                }
            )
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "x": band_days,
                    "y": [p.lift_ci_lower for p in banded],
                    "line": {"width": 0, "color": colour},
                    "fill": "tonexty",
                    "fillcolor": _rgba(colour, 0.18),
                    "hoverinfo": "skip",
                    "showlegend": False,
                    "legendgroup": variant,
                }
            )
        line: dict[str, Any] = {}
        if len(banded) == 1:  # a band needs two days: one day's interval as a bar
            [only] = banded
            line["error_y"] = {
                "type": "data",
                "symmetric": False,
                "array": [max(0.0, (only.lift_ci_upper or 0.0) - (only.relative_lift or 0.0))],
                "arrayminus": [max(0.0, (only.relative_lift or 0.0) - (only.lift_ci_lower or 0.0))],
                "color": colour,
                "thickness": 2,
                "width": 7,
            }
        data.append(
            {
                **line,
                "type": "scatter",
                "mode": "lines+markers",
                "name": variant,
                "legendgroup": variant,
                "x": days,
                "y": [p.relative_lift for p in series],
                "customdata": [p.units for p in series],
                "line": {"width": 2.5, "color": colour},
                "marker": {"size": 6, "color": colour},
                "hovertemplate": f"{variant}: %{{y:+.2%}} (%{{customdata:,}} units)<extra></extra>",
            }
        )
    level = f"{confidence_level * 100:g}"
    layout = _time_layout(300, -0.25)
    layout.update(
        {
            "xaxis": {
                "type": "date",
                "tickformat": "%b %-d",
                "gridcolor": _GRID,
                "automargin": True,
                # A few days: one tick each (plotly would otherwise tick the hours).
                **({"dtick": 86_400_000} if len(all_days) <= 10 else {}),
            },
            "yaxis": {**_lift_axis(f"Cumulative lift, {level} % band"), "automargin": True},
        }
    )
    return {"data": data, "layout": layout}


def weights_figure(
    phases: Sequence[PhaseOut], variants: Sequence[str], *, end: dt.datetime
) -> dict[str, Any] | None:
    """A bandit's weights over time: one stacked step band per variant, each phase's
    weights held from its start to the next (the last to ``end``); None before the
    first phase."""
    if not phases:
        return None
    times = [p.started_at.isoformat() for p in phases]
    times.append(max(end, phases[-1].started_at).isoformat())
    data: list[dict[str, Any]] = []
    for index, variant in enumerate(variants):
        colour = PALETTE[index % len(PALETTE)]
        weights = [float(p.weights.get(variant, 0.0)) for p in phases]
        weights.append(weights[-1])
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": variant,
                "x": times,
                "y": weights,
                "stackgroup": "weights",
                "line": {"width": 1, "color": colour, "shape": "hv"},
                "fillcolor": _rgba(colour, 0.55),
                "hovertemplate": f"{variant}: %{{y:.1%}}<extra></extra>",
            }
        )
    layout = _time_layout(260, -0.3)
    layout.update(
        {
            "xaxis": {"type": "date", "gridcolor": _GRID, "automargin": True},
            "yaxis": {
                "title": {"text": "Share of traffic"},
                "tickformat": ".0%",
                "range": [0, 1],
                "gridcolor": _GRID,
                "automargin": True,
            },
        }
    )
    return {"data": data, "layout": layout}
