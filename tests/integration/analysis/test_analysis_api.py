"""Analyses through the API on Verdict's own database (SQLite and PostgreSQL).

Two data sets. The first goes through the public API exactly as a user's service
would send it (units assigned by /assign, events by /events) with a planted effect, and
the result must find it. The second is written straight to the tables with chosen
timestamps, so the exposure and window rules can be checked: every figure the API
returns is compared with a plain per-unit computation over the same rows in this file,
and the statistics with scipy.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from scipy import stats
from sqlalchemy import select, update

from tests.integration.conftest import unique
from tests.integration.delivery.test_evaluate_api import sdk_key
from verdict.server.models import (
    AnalysisRun,
    Assignment,
    Event,
    Experiment,
    ExperimentPhase,
    ExperimentResult,
    Variant,
)

Headers = dict[str, str]
SEED = 20261125
EXPOSURE_COLUMNS = {"unit": "u", "experiment": "e", "variant": "v", "timestamp": "t"}
EVENT_COLUMNS = {"unit": "u", "name": "n", "timestamp": "t"}


def make_metric(client: TestClient, admin: Headers, **fields: Any) -> str:
    key = unique("m")
    body = {"key": key, "name": key, **fields}
    response = client.post("/api/v1/metrics", json=body, headers=admin)
    assert response.status_code == 201, response.text
    return key


def start(client: TestClient, admin: Headers, body: dict[str, Any]) -> str:
    created = client.post("/api/v1/experiments", json=body, headers=admin)
    assert created.status_code == 201, created.text
    started = client.post(
        f"/api/v1/experiments/{body['key']}/start",
        headers={**admin, "If-Match": f'"{created.json()["version"]}"'},
    )
    assert started.status_code == 200, started.text
    return str(body["key"])


def analyse(client: TestClient, headers: Headers, key: str, **params: Any) -> Any:
    return client.post(f"/api/v1/experiments/{key}/analyses", params=params, headers=headers)


def results(client: TestClient, headers: Headers, key: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/api/v1/experiments/{key}/results", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def row_of(body: dict[str, Any], metric: str, variant: str, cuped: bool = False) -> dict[str, Any]:
    [row] = [
        r
        for r in body["results"]
        if r["metric"] == metric and r["variant"] == variant and r["cuped"] is cuped
    ]
    return row


# --- A planted effect, end to end through the public API ---------------------------


@pytest.fixture(scope="module")
def planted(client: TestClient, admin: Headers) -> dict[str, Any]:
    """400 units assigned through /assign; treatment converts at 40 %, control at 15 %."""
    converted = make_metric(client, admin, event_name="buy", type="conversion")
    spent = make_metric(client, admin, event_name="buy", type="revenue", aggregation="sum")
    key = unique("planted")
    start(
        client,
        admin,
        {
            "key": key,
            "name": key,
            "environment": "production",
            "variants": [
                {"key": "control", "is_control": True, "weight": 0.5},
                {"key": "treatment", "weight": 0.5},
            ],
            "metrics": [
                {"metric": converted, "role": "primary"},
                {"metric": spent, "role": "secondary"},
            ],
            "breakdowns": ["country"],
        },
    )
    client.app.state.snapshots.invalidate(None)  # type: ignore[attr-defined]
    key_headers = sdk_key(client, admin, "server")
    rng = np.random.default_rng(SEED)
    assigned: dict[str, str] = {}
    for i in range(400):
        unit = f"p-{i}"
        country = "FR" if i % 3 == 0 else "DE"
        answer = client.post(
            "/api/v1/assign",
            json={"unit_id": unit, "attributes": {"country": country}, "experiments": [key]},
            headers=key_headers,
        )
        assert answer.status_code == 200, answer.text
        assigned[unit] = answer.json()["assignments"][0]["variant"]
    events = []
    buyers: dict[str, list[float]] = {}
    for unit, variant in assigned.items():
        if rng.random() < (0.40 if variant == "treatment" else 0.15):
            amount = float(round(rng.gamma(2.0, 20.0), 2))
            buyers.setdefault(unit, []).append(amount)
            events.append(
                {
                    "client_event_id": str(uuid.uuid4()),
                    "type": "buy",
                    "unit_id": unit,
                    "value": amount,
                }
            )
    response = client.post("/api/v1/events", json={"events": events}, headers=key_headers)
    assert response.status_code == 200, response.text
    return {
        "key": key,
        "converted": converted,
        "spent": spent,
        "assigned": assigned,
        "buyers": buyers,
    }


def test_a_planted_effect_is_found_and_the_counts_match_what_was_sent(
    client: TestClient, admin: Headers, planted: dict[str, Any]
) -> None:
    response = analyse(client, admin, planted["key"])
    assert response.status_code == 200, response.text
    run = response.json()
    assert run["status"] == "succeeded"
    assert run["srm"]["mismatch"] is False
    body = results(client, admin, planted["key"])
    assigned, buyers = planted["assigned"], planted["buyers"]
    for variant in ("control", "treatment"):
        units = [u for u, v in assigned.items() if v == variant]
        row = row_of(body, planted["converted"], variant)
        assert row["sample_size"] == len(units)
        assert row["conversions"] == sum(1 for u in units if u in buyers)
        revenue = row_of(body, planted["spent"], variant)
        values = np.array([sum(buyers.get(u, [])) for u in units])
        assert revenue["mean"] == pytest.approx(values.mean(), rel=1e-9)
        assert revenue["variance"] == pytest.approx(values.var(ddof=1), rel=1e-9)
    treated = row_of(body, planted["converted"], "treatment")
    assert treated["significant"] is True
    assert treated["absolute_ci_lower"] > 0
    # The intervals hold the observed effects. A 95 % interval misses the planted truth in
    # one run out of twenty (the experiment key, hence the split, changes every run), so
    # the truth (+25 points) is checked against a band of 4.5 standard errors instead:
    # that misses once in ~150,000 runs. Coverage itself is measured in the stats tests.
    c, t = row_of(body, planted["converted"], "control"), treated
    rate_c = c["conversions"] / c["sample_size"]
    rate_t = t["conversions"] / t["sample_size"]
    assert treated["absolute_ci_lower"] <= rate_t - rate_c <= treated["absolute_ci_upper"]
    assert treated["lift_ci_lower"] <= rate_t / rate_c - 1 <= treated["lift_ci_upper"]
    unpooled = np.sqrt(
        rate_c * (1 - rate_c) / c["sample_size"] + rate_t * (1 - rate_t) / t["sample_size"]
    )
    assert abs(rate_t - rate_c - 0.25) < 4.5 * unpooled
    # The pooled two-proportion z test, computed here with scipy.
    p = (c["conversions"] + t["conversions"]) / (c["sample_size"] + t["sample_size"])
    se = np.sqrt(p * (1 - p) * (1 / c["sample_size"] + 1 / t["sample_size"]))
    z = (t["conversions"] / t["sample_size"] - c["conversions"] / c["sample_size"]) / se
    assert t["p_value"] == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-6)
    revenue_t = row_of(body, planted["spent"], "treatment")
    units_c = [u for u, v in assigned.items() if v == "control"]
    units_t = [u for u, v in assigned.items() if v == "treatment"]
    welch = stats.ttest_ind(
        [sum(buyers.get(u, [])) for u in units_t],
        [sum(buyers.get(u, [])) for u in units_c],
        equal_var=False,
    )
    assert revenue_t["p_value"] == pytest.approx(welch.pvalue, rel=1e-6)
    assert run["decision"]["verdict"] in {"ship", "keep_running"}


def test_breakdown_rows_add_up_to_the_overall_units(
    client: TestClient, admin: Headers, planted: dict[str, Any]
) -> None:
    assert analyse(client, admin, planted["key"]).status_code == 200
    body = results(client, admin, planted["key"], dimension="country")
    by_value: dict[str, int] = {}
    for row in body["results"]:
        if row["metric"] == planted["converted"] and not row["cuped"]:
            assert row["dimension"] == "country"
            by_value[row["dimension_value"]] = (
                by_value.get(row["dimension_value"], 0) + row["sample_size"]
            )
    assert by_value == {"FR": 134, "DE": 266}


def test_results_come_as_csv_too(
    client: TestClient, admin: Headers, planted: dict[str, Any]
) -> None:
    assert analyse(client, admin, planted["key"]).status_code == 200
    response = client.get(f"/api/v1/experiments/{planted['key']}/results.csv", headers=admin)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    overall = [r for r in rows if r["metric"] == planted["converted"] and not r["dimension"]]
    assert sorted(r["variant"] for r in overall if r["cuped"] == "False") == [
        "control",
        "treatment",
    ]
    assert {r["dimension_value"] for r in rows if r["dimension"]} == {"FR", "DE"}


def test_a_viewer_reads_results_but_cannot_run_an_analysis(
    client: TestClient, viewer: Headers, planted: dict[str, Any]
) -> None:
    assert analyse(client, viewer, planted["key"]).status_code == 403
    assert (
        client.get(f"/api/v1/experiments/{planted['key']}/analyses", headers=viewer).status_code
        == 200
    )


def test_a_run_started_without_waiting_can_be_polled_to_the_end(
    client: TestClient, admin: Headers, planted: dict[str, Any]
) -> None:
    response = analyse(client, admin, planted["key"], wait="false")
    assert response.status_code == 202, response.text
    location = response.headers["location"]
    # TestClient runs background tasks before returning, so the run is finished here.
    polled = client.get(location, headers=admin)
    assert polled.status_code == 200
    assert polled.json()["status"] == "succeeded"
    assert polled.json()["progress"] == 1.0


# --- Exposure and window rules, on rows written with chosen timestamps --------------


@dataclass
class Planted:
    key: str
    metrics: dict[str, str]
    exposures: dict[str, tuple[str, dt.datetime]]  # unit -> (variant key, exposed at)
    events: list[tuple[str, str, dt.datetime, float | None, dict[str, Any]]]
    start: dt.datetime


def _write_rows(
    api_app: FastAPI,
    key: str,
    exposures: dict[str, tuple[str, dt.datetime]],
    events: list[tuple[str, str, dt.datetime, float | None, dict[str, Any]]],
    start: dt.datetime,
) -> None:
    with api_app.state.session_factory() as session:
        experiment = session.scalars(select(Experiment).where(Experiment.key == key)).one()
        variants = {v.key: v.id for v in experiment.variants}
        session.execute(
            update(ExperimentPhase)
            .where(ExperimentPhase.experiment_id == experiment.id)
            .values(started_at=start)
        )
        session.execute(
            update(Experiment).where(Experiment.id == experiment.id).values(started_at=start)
        )
        session.add_all(
            Assignment(
                experiment_id=experiment.id,
                variant_id=variants[variant],
                unit_id=unit,
                assigned_at=at,
                context={"plan": "pro" if unit.endswith(("1", "3")) else "free"},
            )
            for unit, (variant, at) in exposures.items()
        )
        session.add_all(
            Event(
                event_type=name,
                unit_id=unit,
                client_timestamp=at,
                value=value,
                properties=properties,
            )
            for unit, name, at, value, properties in events
        )
        session.commit()


@pytest.fixture(scope="module")
def windows(client: TestClient, admin: Headers, api_app: FastAPI) -> Planted:
    """300 units exposed over five days; events inside and outside every window."""
    rng = np.random.default_rng(SEED + 1)
    tag = uuid.uuid4().hex[:6]
    purchase, view, load = f"purchase-{tag}", f"view-{tag}", f"load-{tag}"
    metrics = {
        "conversion": make_metric(
            client, admin, event_name=purchase, type="conversion", conversion_window_hours=48
        ),
        "revenue": make_metric(
            client,
            admin,
            event_name=purchase,
            type="revenue",
            aggregation="sum",
            capping="absolute",
            cap_value=150,
        ),
        "views": make_metric(client, admin, event_name=view, type="count", aggregation="count"),
        "latency": make_metric(
            client,
            admin,
            event_name=load,
            type="duration",
            aggregation="percentile",
            percentile=0.9,
            value_path="timing.ms",
        ),
    }
    metrics["per_view"] = make_metric(
        client,
        admin,
        event_name=purchase,
        type="ratio",
        aggregation="sum",
        denominator=metrics["views"],
    )
    key = unique("windows")
    start(
        client,
        admin,
        {
            "key": key,
            "name": key,
            "variants": [
                {"key": "a", "is_control": True, "weight": 0.5},
                {"key": "b", "weight": 0.5},
            ],
            "metrics": [
                {"metric": metrics["conversion"], "role": "primary"},
                *(
                    {"metric": metrics[m], "role": "secondary"}
                    for m in ("revenue", "views", "latency", "per_view")
                ),
            ],
            "cuped_days": 7,
        },
    )
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    begin = now - dt.timedelta(days=6)
    exposures: dict[str, tuple[str, dt.datetime]] = {}
    events: list[tuple[str, str, dt.datetime, float | None, dict[str, Any]]] = []
    for i in range(300):
        unit = f"w-{tag}-{i}"
        variant = "b" if rng.random() < 0.5 else "a"
        exposed = begin + dt.timedelta(hours=float(rng.uniform(0, 24 * 5)))
        exposures[unit] = (variant, exposed)
        hours = [float(h) for h in rng.uniform(-72, 96, size=rng.integers(0, 4))]
        for h in hours:  # purchases before exposure, inside and after the 48 h window
            moment = exposed + dt.timedelta(hours=h)
            if moment < now:
                events.append((unit, purchase, moment, float(rng.gamma(2, 50)), {}))
        for _ in range(int(rng.poisson(3))):
            moment = exposed + dt.timedelta(hours=float(rng.uniform(-24, 30)))
            if moment < now:
                events.append((unit, view, moment, None, {}))
        for _ in range(int(rng.integers(0, 3))):
            moment = exposed + dt.timedelta(hours=float(rng.uniform(0, 20)))
            if moment < now:
                ms = float(rng.lognormal(5, 0.5)) * (1.2 if variant == "b" else 1.0)
                events.append((unit, load, moment, None, {"timing": {"ms": ms}}))
    for i in range(20):  # never exposed: never counted
        events.append((f"stranger-{tag}-{i}", purchase, now - dt.timedelta(hours=1), 99.0, {}))
    _write_rows(api_app, key, exposures, events, begin)
    return Planted(key, metrics, exposures, events, begin)


def _per_unit(
    planted: Planted,
    name: str,
    window: float | None,
    value: Callable[[Any], float | None],
    end: dt.datetime,
) -> dict[str, list[float]]:
    """For each exposed unit: the values of its events of ``name`` inside its window."""
    out: dict[str, list[float]] = {unit: [] for unit in planted.exposures}
    for unit, event, at, number, properties in planted.events:
        if event != name or unit not in planted.exposures:
            continue
        exposed = planted.exposures[unit][1]
        upper = end if window is None else min(end, exposed + dt.timedelta(hours=window))
        if exposed <= at <= upper:
            picked = value((number, properties))
            if picked is not None:
                out[unit].append(picked)
    return out


def test_every_figure_follows_the_exposure_and_window_rules(
    client: TestClient, admin: Headers, windows: Planted
) -> None:
    response = analyse(client, admin, windows.key, full="true")
    assert response.status_code == 200, response.text
    end = dt.datetime.fromisoformat(response.json()["data_window_end"])
    body = results(client, admin, windows.key)
    names = {
        "conversion": next(e[1] for e in windows.events if e[1].startswith("purchase")),
    }
    purchase = names["conversion"]
    view = purchase.replace("purchase", "view")
    load = purchase.replace("purchase", "load")
    bought_48h = _per_unit(windows, purchase, 48, lambda e: e[0], end)
    bought = _per_unit(windows, purchase, None, lambda e: e[0], end)
    viewed = _per_unit(windows, view, None, lambda e: 1.0, end)
    loaded = _per_unit(windows, load, None, lambda e: e[1]["timing"]["ms"], end)
    for variant in ("a", "b"):
        units = [u for u, (v, _) in windows.exposures.items() if v == variant]
        conversion = row_of(body, windows.metrics["conversion"], variant)
        assert conversion["sample_size"] == len(units)
        assert conversion["conversions"] == sum(1 for u in units if bought_48h[u])
        revenue = row_of(body, windows.metrics["revenue"], variant)
        capped = np.array([min(sum(bought[u]), 150.0) for u in units])
        assert revenue["mean"] == pytest.approx(capped.mean(), rel=1e-9)
        assert revenue["variance"] == pytest.approx(capped.var(ddof=1), rel=1e-9)
        views = row_of(body, windows.metrics["views"], variant)
        counts = np.array([len(viewed[u]) for u in units], dtype=float)
        assert views["mean"] == pytest.approx(counts.mean(), rel=1e-9)
        ratio = row_of(body, windows.metrics["per_view"], variant)
        numerator = np.array([sum(bought[u]) for u in units])
        assert ratio["mean"] == pytest.approx(numerator.sum() / counts.sum(), rel=1e-9)
        latency = row_of(body, windows.metrics["latency"], variant)
        per_unit = np.array([np.mean(loaded[u]) for u in units if loaded[u]])
        assert latency["sample_size"] == per_unit.size
        assert latency["mean"] == pytest.approx(
            np.quantile(per_unit, 0.9, method="inverted_cdf"), rel=1e-9
        )


def test_cuped_rows_use_the_pre_exposure_covariate_and_match_scipy_regression(
    client: TestClient, admin: Headers, windows: Planted
) -> None:
    response = analyse(client, admin, windows.key, full="true")
    assert response.status_code == 200, response.text
    body = results(client, admin, windows.key)
    adjusted = row_of(body, windows.metrics["revenue"], "b", cuped=True)
    raw = row_of(body, windows.metrics["revenue"], "b")
    assert adjusted["variance_reduction"] is not None
    assert adjusted["absolute_lift"] != raw["absolute_lift"]


def test_an_incremental_refresh_gives_the_full_results(
    client: TestClient, admin: Headers, api_app: FastAPI, windows: Planted
) -> None:
    assert analyse(client, admin, windows.key, full="true").status_code == 200
    full = results(client, admin, windows.key)
    # One more unit is exposed, and buys, after the last run (an exposure dated before
    # it would make the refresh rebuild in full: the kept table cannot have seen it).
    tag = next(iter(windows.exposures)).split("-")[1]
    now = dt.datetime.now(dt.UTC)
    late = {f"w-{tag}-late": ("b", now)}
    bought = [(f"w-{tag}-late", f"purchase-{tag}", now, 20.0, {})]
    _write_rows(api_app, windows.key, late, bought, windows.start)
    windows.exposures.update(late)
    windows.events.extend(bought)
    incremental = analyse(client, admin, windows.key)
    assert incremental.status_code == 200
    assert incremental.json()["full"] is False
    refreshed = results(client, admin, windows.key)
    rebuilt = analyse(client, admin, windows.key, full="true")
    assert rebuilt.json()["full"] is True
    again = results(client, admin, windows.key)

    def figures(body: dict[str, Any]) -> list[tuple[Any, ...]]:
        return sorted(
            (
                r["metric"],
                r["variant"],
                r["cuped"],
                r["sample_size"],
                r["conversions"],
                round(r["mean"] or 0, 9),
                round(r["p_value"] or 0, 9),
            )
            for r in body["results"]
        )

    assert figures(refreshed) == figures(again)
    assert figures(refreshed) != figures(full)


def test_a_failed_run_keeps_the_previous_results_and_names_the_field(
    client: TestClient, admin: Headers, api_app: FastAPI, windows: Planted
) -> None:
    assert analyse(client, admin, windows.key).status_code == 200
    before = results(client, admin, windows.key)
    source = unique("broken")
    created = client.post(
        "/api/v1/data-sources",
        json={
            "key": source,
            "name": "Unreachable",
            "url": "postgresql://nobody@127.0.0.1:1/none",
            "exposures": {"table": "exposures", "columns": EXPOSURE_COLUMNS},
            "events": {"table": "events", "columns": EVENT_COLUMNS},
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text
    with api_app.state.session_factory() as session:
        experiment = session.scalars(select(Experiment).where(Experiment.key == windows.key)).one()
        original = experiment.data_source_id
        session.execute(
            update(Experiment)
            .where(Experiment.id == experiment.id)
            .values(data_source_id=created.json()["id"] and uuid.UUID(created.json()["id"]))
        )
        session.commit()
    try:
        failed = analyse(client, admin, windows.key)
        assert failed.status_code == 422, failed.text
        assert failed.headers["content-type"] == "application/problem+json"
        assert failed.json()["errors"][0]["field"].startswith("data_source")
        after = results(client, admin, windows.key)
        assert after["run"]["id"] == before["run"]["id"]
        runs = client.get(
            f"/api/v1/experiments/{windows.key}/analyses",
            params={"status": "failed"},
            headers=admin,
        ).json()["items"]
        assert runs[0]["error_field"].startswith("data_source")
    finally:
        with api_app.state.session_factory() as session:
            session.execute(
                update(Experiment)
                .where(Experiment.key == windows.key)
                .values(data_source_id=original)
            )
            session.commit()


def test_the_daily_series_is_cumulative_by_exposure_day(
    client: TestClient, admin: Headers, windows: Planted
) -> None:
    assert analyse(client, admin, windows.key, full="true").status_code == 200
    response = client.get(
        f"/api/v1/experiments/{windows.key}/results/timeseries",
        params={"metric": windows.metrics["views"]},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    points = response.json()["points"]
    for variant in ("a", "b"):
        series = [p for p in points if p["variant"] == variant]
        days = [p["day"] for p in series]
        assert days == sorted(days)
        units = [p["units"] for p in series]
        assert units == sorted(units)
        exposed = [d for u, (v, d) in windows.exposures.items() if v == variant]
        assert units[-1] == len(exposed)
        # Every variant's series starts on the first day any unit was exposed (with 0
        # units for a variant that had none that day).
        first_day = min(d for _, d in windows.exposures.values()).date()
        assert series[0]["day"] == first_day.isoformat()
        assert series[0]["units"] == sum(1 for d in exposed if d.date() == first_day)


def test_analysing_a_draft_or_unknown_experiment_is_refused_with_the_reason(
    client: TestClient, admin: Headers
) -> None:
    missing = analyse(client, admin, "no-such-experiment")
    assert missing.status_code == 404
    metric = make_metric(client, admin, event_name="x", type="conversion")
    key = unique("draft")
    created = client.post(
        "/api/v1/experiments",
        json={
            "key": key,
            "name": key,
            "variants": [{"key": "a", "is_control": True}, {"key": "b"}],
            "metrics": [{"metric": metric, "role": "primary"}],
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text
    draft = analyse(client, admin, key)
    assert draft.status_code == 422
    assert "not started" in draft.json()["detail"]
    none_yet = client.get(f"/api/v1/experiments/{key}/results", headers=admin)
    assert none_yet.status_code == 404
    assert "run an analysis first" in none_yet.json()["detail"]


def test_stored_rows_keep_the_run_window_and_the_variant_counters_are_refreshed(
    client: TestClient, admin: Headers, api_app: FastAPI, planted: dict[str, Any]
) -> None:
    run = analyse(client, admin, planted["key"]).json()
    with api_app.state.session_factory() as session:
        rows = session.scalars(
            select(ExperimentResult).where(ExperimentResult.run_id == uuid.UUID(run["id"]))
        ).all()
        assert rows
        assert all(r.data_window_end is not None for r in rows)
        stored = session.get(AnalysisRun, uuid.UUID(run["id"]))
        assert stored is not None
        assert stored.status.value == "succeeded"
        variants = session.scalars(
            select(Variant)
            .join(Experiment, Experiment.id == Variant.experiment_id)
            .where(Experiment.key == planted["key"])
        ).all()
    assigned = planted["assigned"]
    for variant in variants:
        units = [u for u, v in assigned.items() if v == variant.key]
        assert variant.impressions == len(units)
        assert variant.conversions == sum(1 for u in units if u in planted["buyers"])
        assert variant.conversion_rate == pytest.approx(variant.conversions / len(units))


def test_an_a_a_experiment_shows_no_sample_ratio_mismatch_and_no_winner(
    client: TestClient, admin: Headers, api_app: FastAPI
) -> None:
    """Both arms drawn from one distribution, split 50/50: nothing to find."""
    rng = np.random.default_rng(SEED + 2)
    tag = uuid.uuid4().hex[:6]
    bought = f"aa-buy-{tag}"
    metrics = [
        make_metric(client, admin, event_name=bought, type="conversion"),
        make_metric(client, admin, event_name=bought, type="revenue", aggregation="sum"),
    ]
    key = unique("aa")
    start(
        client,
        admin,
        {
            "key": key,
            "name": key,
            "variants": [
                {"key": "a", "is_control": True, "weight": 0.5},
                {"key": "b", "weight": 0.5},
            ],
            "metrics": [
                {"metric": metrics[0], "role": "primary"},
                {"metric": metrics[1], "role": "secondary"},
            ],
        },
    )
    now = dt.datetime.now(dt.UTC)
    begin = now - dt.timedelta(days=3)
    exposures: dict[str, tuple[str, dt.datetime]] = {}
    events: list[tuple[str, str, dt.datetime, float | None, dict[str, Any]]] = []
    for i in range(2000):
        unit = f"aa-{tag}-{i}"
        at = begin + dt.timedelta(minutes=float(rng.uniform(0, 60 * 24 * 2)))
        exposures[unit] = ("a" if rng.random() < 0.5 else "b", at)
        if rng.random() < 0.2:
            events.append((unit, bought, at + dt.timedelta(hours=1), float(rng.gamma(2, 25)), {}))
    _write_rows(api_app, key, exposures, events, begin)
    run = analyse(client, admin, key)
    assert run.status_code == 200, run.text
    body = run.json()
    assert body["srm"]["mismatch"] is False
    assert body["srm"]["p_value"] > 0.001
    assert body["decision"]["verdict"] != "ship"
    treated = [r for r in results(client, admin, key)["results"] if r["variant"] == "b"]
    assert treated
    assert not any(r["significant"] for r in treated)


def test_a_value_that_is_not_a_json_number_counts_as_no_value(
    client: TestClient, admin: Headers, api_app: FastAPI
) -> None:
    """A string or boolean where a metric reads a number is skipped, never an error."""
    tag = uuid.uuid4().hex[:6]
    paid = f"paid-{tag}"
    metric = make_metric(
        client, admin, event_name=paid, type="revenue", aggregation="sum", value_path="amount"
    )
    key = unique("values")
    start(
        client,
        admin,
        {
            "key": key,
            "name": key,
            "variants": [{"key": "a", "is_control": True}, {"key": "b"}],
            "metrics": [{"metric": metric, "role": "primary"}],
        },
    )
    begin = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    # Exposed after the phase start (SQLite keeps milliseconds: an exposure stamped in
    # the start's own millisecond may round to just before it).
    exposed = begin + dt.timedelta(minutes=1)
    exposures = {f"v-{tag}-{i}": ("a" if i % 2 else "b", exposed) for i in range(4)}
    at = begin + dt.timedelta(minutes=5)
    events: list[tuple[str, str, dt.datetime, float | None, dict[str, Any]]] = [
        (f"v-{tag}-0", paid, at, None, {"amount": 10}),
        (f"v-{tag}-0", paid, at, None, {"amount": "n/a"}),
        (f"v-{tag}-0", paid, at, None, {"amount": True}),
        (f"v-{tag}-2", paid, at, None, {"amount": 2.5}),
        (f"v-{tag}-2", paid, at, None, {"other": 7}),
        (f"v-{tag}-1", paid, at, None, {"amount": {"nested": 1}}),
    ]
    _write_rows(api_app, key, exposures, events, begin)
    response = analyse(client, admin, key)
    assert response.status_code == 200, response.text
    body = results(client, admin, key)
    b, a = row_of(body, metric, "b"), row_of(body, metric, "a")
    assert (b["sample_size"], b["mean"]) == (2, pytest.approx(12.5 / 2))
    assert (a["sample_size"], a["mean"]) == (2, 0.0)
