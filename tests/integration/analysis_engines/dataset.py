"""Generated exposures and events (seeded numpy) with every edge the exposure rules name.

Times are whole seconds (SQLite keeps milliseconds; every engine then agrees exactly).
Planted on purpose, besides random traffic over ``[start - 20 days, end + 2 days]``:

* units exposed twice to one variant (the first row counts, with its context), units
  exposed to both variants (excluded), rows of an unknown variant, rows of another
  experiment, rows before ``start`` and at ``end`` (outside the window);
* units never exposed, with events;
* events exactly at the exposure time, at ``end``, one second after ``end``, at the
  start and the end of the delayed window, and at the edges of the CUPED window.

A second experiment, a bandit (:func:`bandit_rows`, its own units and events, drawn
from its own seed so the rows above stay the same), moves its three arms' weights over
four allocation periods while the conversion rate rises from period to period: arm B
converts worse than control in every period but, favoured in the later periods, better
pooled (Simpson's paradox).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

EXPERIMENT = str(uuid.UUID(int=0x1E57))
OTHER_EXPERIMENT = str(uuid.UUID(int=0x0DD))
CONTROL = str(uuid.UUID(int=0xC0))
TREATMENT = str(uuid.UUID(int=0x7E))
GHOST = str(uuid.UUID(int=0x6057))
START = datetime(2026, 3, 1, tzinfo=UTC)
END = datetime(2026, 3, 7, tzinfo=UTC)
DAY = 86_400
HOUR = 3_600

BANDIT = str(uuid.UUID(int=0xBA2D))
BANDIT_ARMS = tuple(str(uuid.UUID(int=0xA0 + i)) for i in range(3))  # control, B, C
# Allocation periods: the first starts a day before START; each holds 600 units.
BANDIT_STARTS = (START - timedelta(days=1), *(START + timedelta(hours=36 * k) for k in (1, 2, 3)))
BANDIT_WEIGHTS = ((0.6, 0.2, 0.2), (0.3, 0.5, 0.2), (0.15, 0.7, 0.15), (0.1, 0.8, 0.1))
BANDIT_RATES = (0.10, 0.20, 0.35, 0.50)  # the conversion rate of control and C per period
BANDIT_B_EFFECT = -0.03  # B's difference from control in every period
BANDIT_UNITS_PER_PERIOD = 600


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


@dataclass(frozen=True)
class Exposure:
    experiment_id: str
    variant_id: str
    unit_id: str
    ts: int
    context: dict[str, str] | None


@dataclass(frozen=True)
class Event:
    unit_id: str
    name: str
    ts: int
    value: float | None
    properties: dict[str, object]


@dataclass(frozen=True)
class Dataset:
    exposures: tuple[Exposure, ...]
    events: tuple[Event, ...]

    def moment(self, ts: int) -> datetime:
        return datetime.fromtimestamp(ts, tz=UTC)


def _context(rng: np.random.Generator) -> dict[str, str] | None:
    roll = rng.random()
    if roll < 0.1:
        return None
    if roll < 0.2:
        return {"platform": "web"}
    return {"country": str(rng.choice(["US", "DE", "FR"])), "platform": "app"}


def _event(rng: np.random.Generator, unit: str, name: str, ts: int) -> Event:
    if name == "purchase":
        value = float(np.round(rng.lognormal(3.0, 1.0), 2))
        properties: dict[str, object] = (
            {"order": {"total": float(np.round(value * 1.1, 2))}} if rng.random() < 0.8 else {}
        )
        return Event(unit, name, ts, value, properties)
    if name == "latency":
        return Event(unit, name, ts, float(np.round(rng.gamma(2.0, 150.0), 1)), {})
    return Event(unit, name, ts, None, {})


def generate(seed: int = 20261125, units: int = 300) -> Dataset:
    rng = np.random.default_rng(seed)
    start, end = epoch(START), epoch(END)
    exposures: list[Exposure] = []
    unit_ids = [f"u{i:04d}" for i in range(units)]
    first: dict[str, int] = {}
    for index, unit in enumerate(unit_ids):
        variant = CONTROL if rng.random() < 0.5 else TREATMENT
        ts = int(rng.integers(start, end))
        if index == 0:
            ts = start  # exposed at the very start
        first[unit] = ts
        exposures.append(Exposure(EXPERIMENT, variant, unit, ts, _context(rng)))
        roll = rng.random()
        later = int(min(end - 1, ts + int(rng.integers(1, 2 * DAY))))
        if roll < 0.15:  # exposed again, same variant, other context: the first row counts
            exposures.append(Exposure(EXPERIMENT, variant, unit, later, {"country": "JP"}))
        elif roll < 0.20:  # exposed to the other variant too: excluded
            other = TREATMENT if variant == CONTROL else CONTROL
            exposures.append(Exposure(EXPERIMENT, other, unit, later, _context(rng)))
        elif roll < 0.23:  # a row of a variant the spec does not know
            exposures.append(Exposure(EXPERIMENT, GHOST, unit, later, None))
        elif roll < 0.26:  # an earlier row before start: the in-window row counts
            exposures.append(Exposure(EXPERIMENT, variant, unit, start - DAY, None))
        if index in (1, 2):  # two rows at the same first time: the smaller country counts
            exposures.append(Exposure(EXPERIMENT, variant, unit, ts, {"country": "AA"}))
    outsiders = [f"x{i:03d}" for i in range(40)]
    for i, unit in enumerate(outsiders):
        kind = i % 4
        ts = int(rng.integers(start, end))
        if kind == 0:
            exposures.append(Exposure(OTHER_EXPERIMENT, CONTROL, unit, ts, None))
        elif kind == 1:
            exposures.append(Exposure(EXPERIMENT, GHOST, unit, ts, None))
        elif kind == 2:
            exposures.append(Exposure(EXPERIMENT, CONTROL, unit, start - 3 * HOUR, None))
        else:
            exposures.append(Exposure(EXPERIMENT, TREATMENT, unit, end, None))  # not < end
        first[unit] = ts
    never = [f"n{i:03d}" for i in range(30)]
    for unit in never:
        first[unit] = int(rng.integers(start, end))

    events: list[Event] = []
    names = ("purchase", "pageview", "latency", "other")
    rates = (1.5, 4.0, 2.5, 1.0)
    for unit in unit_ids + outsiders + never:
        lift = 1.3 if unit.startswith("u") and rng.random() < 0.5 else 1.0
        for name, rate in zip(names, rates, strict=True):
            for _ in range(int(rng.poisson(rate * lift))):
                ts = int(rng.integers(start - 20 * DAY, end + 2 * DAY))
                events.append(_event(rng, unit, name, ts))
            for _ in range(int(rng.poisson(rate * lift))):  # dense around exposure
                ts = first[unit] + int(rng.integers(-3 * DAY, 3 * DAY))
                events.append(_event(rng, unit, name, ts))
    for index, unit in enumerate(unit_ids[:40]):
        x = first[unit]
        edges = {
            0: [("purchase", x), ("latency", x)],  # at exposure: counts
            1: [("purchase", end), ("latency", end)],  # at end: counts
            2: [("purchase", end + 1)],  # after end: never
            3: [("pageview", x + HOUR), ("pageview", x + 25 * HOUR)],  # delayed window edges
            4: [("pageview", x + 25 * HOUR + 1), ("pageview", x + HOUR - 1)],  # just outside
            5: [("purchase", x - 14 * DAY), ("pageview", x - 14 * DAY)],  # CUPED start: in
            6: [("purchase", x - 1), ("purchase", x - 14 * DAY - 1)],  # pre: in, out
        }
        for name, ts in edges[index % 7]:
            events.append(_event(rng, unit, name, ts))
    bandit_exposures, bandit_events = bandit_rows(seed + 1)
    exposures += bandit_exposures
    events += bandit_events
    order = rng.permutation(len(events))
    return Dataset(tuple(exposures), tuple(events[i] for i in order))


def bandit_rows(seed: int) -> tuple[list[Exposure], list[Event]]:
    """The bandit's exposures and events: per period, units exposed uniformly over the
    period's part of ``[START, END)``, assigned with that period's weights; some are
    exposed again later (same arm: the first exposure's period counts), one exactly at
    each period start and one a second before it."""
    rng = np.random.default_rng(seed)
    start, end = epoch(START), epoch(END)
    bounds = [max(start, epoch(moment)) for moment in BANDIT_STARTS] + [end]
    exposures: list[Exposure] = []
    events: list[Event] = []
    for drawn in range(len(BANDIT_WEIGHTS)):
        low, high = bounds[drawn], bounds[drawn + 1]
        for i in range(BANDIT_UNITS_PER_PERIOD):
            unit = f"b{drawn}{i:04d}"
            ts = int(rng.integers(low, high))
            if i == 0:
                ts = low  # exactly at the period's start
            elif i == 1 and drawn > 0:
                ts = low - 1  # a second before it: the previous period
            period = drawn if ts >= low else drawn - 1
            arm = int(rng.choice(3, p=BANDIT_WEIGHTS[period]))
            country = "US" if rng.random() < 0.6 else "DE"
            exposures.append(Exposure(BANDIT, BANDIT_ARMS[arm], unit, ts, {"country": country}))
            if rng.random() < 0.1:
                again = int(rng.integers(ts, end))
                exposures.append(Exposure(BANDIT, BANDIT_ARMS[arm], unit, again, None))
            rate = BANDIT_RATES[period] + (BANDIT_B_EFFECT if arm == 1 else 0.0)
            if rng.random() < rate:
                at = ts + int(rng.integers(0, min(60, end - ts) + 1))
                value = float(np.round(rng.gamma(2.0, 10.0), 2))
                events.append(Event(unit, "signup", at, value, {}))
            for _ in range(int(rng.poisson(2 + period))):
                events.append(Event(unit, "visit", int(rng.integers(ts, end + 1)), None, {}))
    return exposures, events


def properties_json(event: Event) -> str:
    return json.dumps(event.properties)


def context_json(exposure: Exposure) -> str | None:
    return None if exposure.context is None else json.dumps(exposure.context)
