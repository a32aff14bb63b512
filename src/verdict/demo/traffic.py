"""Simulated visitors and what they do, drawn at once with numpy.

:func:`draw_population` gives every visitor an arrival time in the simulated fortnight
(fewer at night and at weekends), attributes (country, device, plan; a few are staff)
and the parts of the site they reach. :func:`draw_outcomes` turns the variants the SDK
gave a day's visitors into events, from the rates of :mod:`verdict.demo.effects`. The
SDK calls themselves, one per visitor and experiment, are in :mod:`verdict.demo.simulate`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from verdict.demo import effects
from verdict.demo.catalog import BANDIT, CHATBOT, CHECKOUT, HOMEPAGE, LANDING

__all__ = ["DAYS", "NOT_IN", "VARIANTS", "Population", "draw_outcomes", "draw_population", "iso"]

DAYS = 14
DAY = 86_400.0
NOT_IN = -1  # the visitor is not in the experiment (did not reach it, excluded, lost)
# Variant keys in the order of the catalogue; decisions are stored as indexes into these.
VARIANTS: dict[str, tuple[str, ...]] = {
    HOMEPAGE: ("blue", "green"),
    CHATBOT: ("formal", "friendly", "concise"),
    CHECKOUT: ("control", "one-page", "express", "one-page-express"),
    BANDIT: ("discount", "shipping", "bundle"),
    LANDING: ("current", "redesign"),
}
# Visits by hour of the day (UTC): quiet at night, busiest in the evening.
_HOURS = np.array(
    [2, 1.5, 1, 1, 1, 1.5, 2.5, 4, 5, 5.5, 6, 6, 6.5, 6.5, 6, 6, 6.5, 7, 7.5, 7.5, 7, 5.5, 4, 3]
)


def iso(seconds: NDArray[np.float64]) -> NDArray[np.str_]:
    """UNIX times as ISO 8601 strings in UTC, millisecond precision, vectorised."""
    stamps = (seconds * 1000).astype("int64").astype("datetime64[ms]")
    return np.datetime_as_string(stamps, unit="ms", timezone="UTC")


@dataclass(frozen=True)
class Population:
    """One row per visitor, sorted by arrival time."""

    ids: NDArray[np.str_]
    day: NDArray[np.int64]
    arrival: NDArray[np.float64]  # UNIX seconds
    country: NDArray[np.str_]
    device: NDArray[np.str_]
    plan: NDArray[np.str_]
    staff: NDArray[np.bool_]
    # Which parts of the site each visitor reaches, and when (UNIX seconds).
    campaign: NDArray[np.bool_]
    lost_in_redirect: NDArray[np.bool_]
    deals: NDArray[np.bool_]
    chat: NDArray[np.bool_]
    checkout: NDArray[np.bool_]
    at: dict[str, NDArray[np.float64]]

    def __len__(self) -> int:
        return len(self.ids)

    def attributes(self, i: int) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            "country": str(self.country[i]),
            "device": str(self.device[i]),
            "plan": str(self.plan[i]),
        }
        if self.staff[i]:
            attributes["email"] = f"{self.ids[i]}@verdict.example"
        return attributes


def _choice(
    rng: np.random.Generator, spec: tuple[tuple[str, ...], tuple[float, ...]], n: int
) -> NDArray[np.str_]:
    values, weights = spec
    p = np.asarray(weights, dtype=float)
    return np.asarray(values)[rng.choice(len(values), size=n, p=p / p.sum())]


def _unit_ids(rng: np.random.Generator, users: int) -> NDArray[np.str_]:
    """Random, distinct visitor ids (as an application's cookie ids would be)."""
    numbers = np.unique(rng.integers(0, 2**48, size=users, dtype=np.int64))
    while len(numbers) < users:  # a collision among 2^48: draw the missing ones again
        more = rng.integers(0, 2**48, size=users - len(numbers), dtype=np.int64)
        numbers = np.unique(np.concatenate([numbers, more]))
    rng.shuffle(numbers)
    return np.array([f"visitor-{n:012x}" for n in numbers.tolist()])


def draw_population(rng: np.random.Generator, users: int, start: dt.datetime) -> Population:
    """``users`` visitors arriving over the ``DAYS`` days from ``start`` (UTC)."""
    days = [start + dt.timedelta(days=d) for d in range(DAYS)]
    per_day = np.array([0.8 if d.weekday() >= 5 else 1.0 for d in days])
    day = np.sort(rng.choice(DAYS, size=users, p=per_day / per_day.sum()))
    hour = rng.choice(24, size=users, p=_HOURS / _HOURS.sum())
    arrival = start.timestamp() + day * DAY + hour * 3600.0 + rng.random(users) * 3600.0
    order = np.argsort(arrival, kind="stable")
    day, arrival = day[order], arrival[order]
    ids = _unit_ids(rng, users)

    def later(after: NDArray[np.float64], low: float, high: float) -> NDArray[np.float64]:
        return after + rng.uniform(low, high, users)

    at = {LANDING: arrival}
    at[HOMEPAGE] = later(arrival, 20, 120)
    at[BANDIT] = later(at[HOMEPAGE], 30, 600)
    at[CHATBOT] = later(at[HOMEPAGE], 60, 1800)
    at[CHECKOUT] = later(at[HOMEPAGE], 120, 2400)
    return Population(
        ids=ids,
        day=day.astype(np.int64),
        arrival=arrival,
        country=_choice(rng, effects.COUNTRIES, users),
        device=_choice(rng, effects.DEVICES, users),
        plan=_choice(rng, effects.PLANS, users),
        staff=rng.random(users) < effects.STAFF_SHARE,
        campaign=rng.random(users) < effects.CAMPAIGN_SHARE,
        lost_in_redirect=rng.random(users) < effects.Landing.LOST_IN_REDIRECT,
        deals=rng.random(users) < effects.DEALS_SHARE,
        chat=rng.random(users) < effects.CHAT_SHARE,
        checkout=rng.random(users) < effects.CHECKOUT_SHARE,
        at=at,
    )


def _lognormal(
    rng: np.random.Generator, median: NDArray[np.float64], sigma: float
) -> NDArray[np.float64]:
    return np.round(median * np.exp(rng.normal(0.0, sigma, len(median))), 1)


class _Events:
    """A day's events, built column by column and turned into API bodies once."""

    def __init__(self, pop: Population) -> None:
        self._pop = pop
        self._rows: list[dict[str, Any]] = []

    def add(
        self,
        rng: np.random.Generator,
        kind: str,
        who: NDArray[np.int64],
        after: NDArray[np.float64],
        values: NDArray[np.float64] | None = None,
    ) -> None:
        if len(who) == 0:
            return
        when = iso(after + rng.uniform(5, 300, len(who)))
        ids = self._pop.ids[who]
        listed = values.tolist() if values is not None else [None] * len(who)
        for unit, stamp, value in zip(ids.tolist(), when.tolist(), listed, strict=True):
            row: dict[str, Any] = {
                "client_event_id": f"demo-{kind}-{unit}",
                "type": kind,
                "unit_id": unit,
                "timestamp": stamp,
                "source": "verdict-demo",
            }
            if value is not None:
                row["value"] = value
            self._rows.append(row)

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self._rows


def draw_outcomes(
    rng: np.random.Generator,
    pop: Population,
    who: NDArray[np.int64],
    variants: dict[str, NDArray[np.int8]],
) -> list[dict[str, Any]]:
    """The events of visitors ``who`` (indexes into ``pop``) given the variant index
    each got in each experiment (``NOT_IN`` when not in it), as POST /events rows."""
    events = _Events(pop)

    def members(key: str) -> tuple[NDArray[np.int64], NDArray[np.int8]]:
        chosen = variants[key]
        inside = chosen != NOT_IN
        return who[inside], chosen[inside]

    def rates(key: str, table: dict[str, float]) -> NDArray[np.float64]:
        return np.array([table[v] for v in VARIANTS[key]])

    units, arm = members(HOMEPAGE)
    clicked = rng.random(len(units)) < rates(HOMEPAGE, effects.Homepage.CLICK)[arm]
    events.add(rng, "cta_click", units[clicked], pop.at[HOMEPAGE][units[clicked]])
    loads = _lognormal(
        rng, np.full(len(units), effects.Homepage.LOAD_MEDIAN_MS), effects.Homepage.LOAD_SIGMA
    )
    events.add(rng, "page_load", units, pop.at[HOMEPAGE][units], loads)

    units, arm = members(CHATBOT)
    resolved = rng.random(len(units)) < effects.Chat.RESOLVED
    events.add(rng, "chat_resolved", units[resolved], pop.at[CHATBOT][units[resolved]])
    rated = units[rng.random(len(units)) < effects.Chat.RATE_SHARE]
    scores, weights = effects.Chat.RATINGS
    ratings = rng.choice(np.asarray(scores, dtype=float), size=len(rated), p=np.asarray(weights))
    events.add(rng, "chat_rating", rated, pop.at[CHATBOT][rated], ratings)

    units, arm = members(CHECKOUT)
    bought = rng.random(len(units)) < rates(CHECKOUT, effects.Checkout.PURCHASE)[arm]
    values = _lognormal(
        rng,
        np.full(int(bought.sum()), effects.Checkout.ORDER_MEDIAN_USD),
        effects.Checkout.ORDER_SIGMA,
    )
    events.add(rng, "purchase", units[bought], pop.at[CHECKOUT][units[bought]], values)
    latency = _lognormal(
        rng,
        rates(CHECKOUT, effects.Checkout.LATENCY_MEDIAN_MS)[arm],
        effects.Checkout.LATENCY_SIGMA,
    )
    events.add(rng, "checkout_latency", units, pop.at[CHECKOUT][units], latency)

    units, arm = members(BANDIT)
    clicked = rng.random(len(units)) < rates(BANDIT, effects.BanditRates.CLICK)[arm]
    events.add(rng, "promo_click", units[clicked], pop.at[BANDIT][units[clicked]])

    units, arm = members(LANDING)
    signed = rng.random(len(units)) < rates(LANDING, effects.Landing.SIGNUP)[arm]
    events.add(rng, "signup", units[signed], pop.at[HOMEPAGE][units[signed]])
    return events.rows
