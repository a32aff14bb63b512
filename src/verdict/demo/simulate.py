"""Two weeks of visitors replayed through the Python SDK and the HTTP API.

Day by day (:func:`simulate`):

1. the SDK :class:`~verdict.sdk.Client`, holding the environment's configuration from
   ``GET /api/v1/sdk/config`` and following the change stream, decides each of the
   day's visitors: the homepage colour through its flag (whose rule serves the
   experiment's variant), the other experiments with ``get_variant``; the bot reads the
   reply style's system prompt from the variant's payload and the split-URL visitor is
   redirected with ``redirect()``;
2. the exposures the client records go to ``POST /api/v1/exposures`` and the day's
   events, drawn by :mod:`verdict.demo.traffic`, to ``POST /api/v1/events``, in batches
   of 1,000, each carrying its simulated time;
3. the bandit's weights are updated through ``POST …/bandit/updates`` (as the worker
   would at its daily cadence), the update is dated to the end of the day, and the day
   after is decided only once the client has received the new weights over the stream.

The recorder is the demo's own (:class:`ReplayRecorder`): the SDK's HTTP recorder
stamps exposures with the wall clock, and a replay needs the simulated one.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import orjson
from sqlalchemy.orm import Session, sessionmaker

from verdict.demo.catalog import BANDIT, CHATBOT, CHECKOUT, HOMEPAGE, HOMEPAGE_FLAG, LANDING
from verdict.demo.history import backdate_bandit_update
from verdict.demo.traffic import DAY, DAYS, NOT_IN, VARIANTS, Population, draw_outcomes, iso
from verdict.sdk import Client, ClientEvent, EvaluationContext

__all__ = ["ReplayRecorder", "SimulationError", "SimulationReport", "Uploader", "simulate"]

_BATCH = 1_000  # the API's limit for both exposures and events
_TICK = 500  # visitors between two progress reports
_LANDING_URL = "https://shop.example/landing?utm_source=newsletter"


class SimulationError(RuntimeError):
    """The server refused traffic, or the SDK did not behave as the demo expects."""


@dataclass
class SimulationReport:
    users: int = 0
    exposures: int = 0  # stored by the server as assignments
    events: int = 0  # accepted by the server
    bandit_updates: dict[str, int] = field(default_factory=dict)  # status -> count
    seconds: float = 0.0


class Uploader:
    """Sends exposures and events in batches and checks that the server stored them."""

    def __init__(self, http: httpx.Client, report: SimulationReport) -> None:
        self._http = http
        self._report = report

    def _post(self, path: str, name: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
        response = self._http.post(
            path,
            content=orjson.dumps({name: rows}),
            headers={"Content-Type": "application/json"},
        )
        if response.status_code >= 400:
            raise SimulationError(f"POST {path}: {response.status_code} {response.text[:300]}")
        result: dict[str, Any] = response.json()
        if result.get("rejected"):
            raise SimulationError(f"POST {path} refused some {name}: {result['errors'][:3]}")
        return result

    def exposures(self, rows: list[dict[str, Any]]) -> None:
        for start in range(0, len(rows), _BATCH):
            result = self._post("/api/v1/exposures", "exposures", rows[start : start + _BATCH])
            if result["conflicts"]:
                raise SimulationError(
                    f"{result['conflicts']} exposures conflicted with stored ones"
                )
            self._report.exposures += result["recorded"]

    def events(self, rows: list[dict[str, Any]]) -> None:
        for start in range(0, len(rows), _BATCH):
            result = self._post("/api/v1/events", "events", rows[start : start + _BATCH])
            self._report.events += result["accepted"]


class ReplayRecorder:
    """An SDK recorder (the ``verdict.sdk.Recorder`` protocol) whose clock the replay
    sets: each exposure is stamped with :attr:`at`, the simulated moment, and kept
    until :meth:`take` hands the batch over to be sent."""

    def __init__(self) -> None:
        self.at = ""
        self._exposures: list[dict[str, Any]] = []

    def exposure(
        self, *, unit_id: str, experiment_key: str, variant_key: str, attributes: Mapping[str, Any]
    ) -> None:
        self._exposures.append(
            {
                "unit_id": unit_id,
                "experiment": experiment_key,
                "variant": variant_key,
                "timestamp": self.at,
                "attributes": dict(attributes),
            }
        )

    def forget_last(self) -> None:
        """The visitor left before the page that records the exposure loaded."""
        self._exposures.pop()

    def track(
        self, *, unit_id: str, event: str, value: float | None, properties: Mapping[str, Any] | None
    ) -> None:
        # The replay sends events itself, with their simulated times (see module doc).
        raise NotImplementedError("the demo posts its events directly")

    def take(self) -> list[dict[str, Any]]:
        taken, self._exposures = self._exposures, []
        return taken

    def flush(self, timeout: float | None = None) -> bool:
        return not self._exposures

    def close(self, timeout: float | None = None) -> None:
        self._exposures = []


def _decide_day(
    client: Client,
    recorder: ReplayRecorder,
    pop: Population,
    who: np.ndarray,
    tick: Callable[[int], None],
) -> dict[str, np.ndarray]:
    """Ask the SDK for each visitor's variants, in the order they reach each page;
    ``tick(visitors)`` every few hundred visitors."""
    index = {key: {v: i for i, v in enumerate(keys)} for key, keys in VARIANTS.items()}
    chosen = {key: np.full(len(who), NOT_IN, dtype=np.int8) for key in VARIANTS}
    stamps = {key: iso(pop.at[key][who]).tolist() for key in VARIANTS}
    for j, i in enumerate(who.tolist()):
        if j % _TICK == _TICK - 1:
            tick(_TICK)
        context = EvaluationContext(str(pop.ids[i]), pop.attributes(i))
        if pop.campaign[i]:
            recorder.at = stamps[LANDING][j]
            landing = client.get_variant(LANDING, context)
            if landing.variant is not None:
                if landing.redirect(_LANDING_URL) is not None and pop.lost_in_redirect[i]:
                    recorder.forget_last()
                    continue  # gone: no exposure, no homepage, no events
                chosen[LANDING][j] = index[LANDING][landing.variant]
        recorder.at = stamps[HOMEPAGE][j]
        colour = client.get_string_details(HOMEPAGE_FLAG, "#0066CC", context)
        if colour.experiment == HOMEPAGE and colour.variant is not None:
            chosen[HOMEPAGE][j] = index[HOMEPAGE][colour.variant]
        for key, reached in ((BANDIT, pop.deals), (CHATBOT, pop.chat), (CHECKOUT, pop.checkout)):
            if not reached[i]:
                continue
            recorder.at = stamps[key][j]
            details = client.get_variant(key, context)
            if details.variant is None:
                continue
            if key == CHATBOT and not (details.payload or {}).get("system_prompt"):
                raise SimulationError(f"the SDK gave no system prompt for {details.variant!r}")
            chosen[key][j] = index[key][details.variant]
    tick(len(who) % _TICK)
    return chosen


def _update_bandit(
    admin: httpx.Client,
    session_factory: sessionmaker[Session],
    changed: threading.Event,
    at: dt.datetime,
    report: SimulationReport,
) -> None:
    """Run the bandit's daily weight update, dated ``at``; wait for the SDK to hold the
    new weights when it applied."""
    changed.clear()
    response = admin.post(f"/api/v1/experiments/{BANDIT}/bandit/updates")
    if response.status_code >= 400:
        raise SimulationError(f"bandit update: {response.status_code} {response.text[:300]}")
    status = str(response.json()["status"])
    report.bandit_updates[status] = report.bandit_updates.get(status, 0) + 1
    with session_factory() as session:
        backdate_bandit_update(session, BANDIT, at)
    if status == "applied" and not changed.wait(30):
        raise SimulationError("the SDK did not receive the bandit's new weights in 30 s")


def simulate(
    *,
    base_url: str,
    sdk_key: str,
    admin_key: str,
    session_factory: sessionmaker[Session],
    population: Population,
    start: dt.datetime,
    rng: np.random.Generator,
    progress: Callable[[int, int], None] | None = None,
) -> SimulationReport:
    """Replay ``population`` (arriving over ``DAYS`` days from ``start``) through the
    SDK and the API at ``base_url``; ``progress(visitors, day)`` reports visitors done."""
    began = time.perf_counter()
    report = SimulationReport(users=len(population))
    recorder = ReplayRecorder()
    with (
        httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {sdk_key}"}, timeout=120
        ) as sdk_http,
        httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {admin_key}"}, timeout=120
        ) as admin,
        Client(sdk_key, base_url, recorder=recorder, timeout=30, retry_initial=0.1) as client,
    ):
        changed = threading.Event()
        client.add_listener(
            ClientEvent.CONFIGURATION_CHANGED, lambda _event, _client: changed.set()
        )
        if not client.wait_until_ready(timeout=30):
            raise SimulationError("the SDK could not download the configuration in 30 s")
        uploader = Uploader(sdk_http, report)

        def tick(visitors: int, day: int) -> None:
            if progress is not None and visitors:
                progress(visitors, day)

        for day in range(DAYS):
            who = np.flatnonzero(population.day == day)
            chosen = _decide_day(
                client, recorder, population, who, functools.partial(tick, day=day)
            )
            uploader.exposures(recorder.take())
            uploader.events(draw_outcomes(rng, population, who, chosen))
            if day < DAYS - 1:
                boundary = start + dt.timedelta(seconds=(day + 1) * DAY)
                _update_bandit(admin, session_factory, changed, boundary, report)
    report.seconds = time.perf_counter() - began
    return report
