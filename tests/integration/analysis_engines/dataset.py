"""Generated exposures and events (seeded numpy) with every edge the exposure rules name.

Times are whole seconds (SQLite keeps milliseconds; every engine then agrees exactly).
Planted on purpose, besides random traffic over ``[start - 20 days, end + 2 days]``:

* units exposed twice to one variant (the first row counts, with its context), units
  exposed to both variants (excluded), rows of an unknown variant, rows of another
  experiment, rows before ``start`` and at ``end`` (outside the window);
* units never exposed, with events;
* events exactly at the exposure time, at ``end``, one second after ``end``, at the
  start and the end of the delayed window, and at the edges of the CUPED window.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

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
    order = rng.permutation(len(events))
    return Dataset(tuple(exposures), tuple(events[i] for i in order))


def properties_json(event: Event) -> str:
    return json.dumps(event.properties)


def context_json(exposure: Exposure) -> str | None:
    return None if exposure.context is None else json.dumps(exposure.context)
