"""Bandit weight updates through the API, on SQLite and PostgreSQL.

Units are assigned through /assign (stored, sticky) and convert with planted rates; an
update before the burn-in keeps the weights, one after it moves traffic towards the
planted best arm, opens a phase, is audited and reaches /assign at once, while units
already assigned keep their arm. Updates that cannot run say why and keep the weights.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from scipy import stats
from sqlalchemy import select

from tests.integration.analysis.test_analysis_api import (
    EVENT_COLUMNS,
    EXPOSURE_COLUMNS,
    make_metric,
    start,
)
from tests.integration.conftest import unique
from tests.integration.delivery.test_evaluate_api import sdk_key
from verdict.server.bandits.service import due_bandits
from verdict.server.config import Settings
from verdict.server.experiments.models import Experiment
from verdict.server.worker import run_worker

Headers = dict[str, str]
RATES = {"a": 0.05, "b": 0.05, "c": 0.45}


def _bandit(client: httpx.Client, admin: Headers, **settings: Any) -> str:
    metric = make_metric(client, admin, event_name=unique("signup"), type="conversion")
    key = unique("bandit")
    return start(
        client,
        admin,
        {
            "key": key,
            "name": key,
            "type": "bandit",
            "environment": "production",
            "variants": [
                {"key": "a", "is_control": True},
                {"key": "b"},
                {"key": "c"},
            ],
            "metrics": [{"metric": metric, "role": "primary"}],
            "bandit_burn_in": 30,
            **settings,
        },
    )


def _metric_event(client: httpx.Client, admin: Headers, key: str) -> str:
    body = client.get(f"/api/v1/experiments/{key}", headers=admin).json()
    metric = body["metrics"][0]["metric"]
    event: str = client.get(f"/api/v1/metrics/{metric}", headers=admin).json()["event_name"]
    return event


def _enrol(
    client: httpx.Client, admin: Headers, key: str, units: list[str], rng: np.random.Generator
) -> dict[str, str]:
    """Assign ``units`` and send the planted conversions; answer unit -> variant."""
    key_headers = sdk_key(client, admin, "server")
    event = _metric_event(client, admin, key)
    assigned: dict[str, str] = {}
    for unit in units:
        answer = client.post(
            "/api/v1/assign", json={"unit_id": unit, "experiments": [key]}, headers=key_headers
        )
        assert answer.status_code == 200, answer.text
        assigned[unit] = answer.json()["assignments"][0]["variant"]
    events = [
        {"client_event_id": str(uuid.uuid4()), "type": event, "unit_id": unit}
        for unit, variant in assigned.items()
        if rng.random() < RATES[variant]
    ]
    if events:
        sent = client.post("/api/v1/events", json={"events": events}, headers=key_headers)
        assert sent.status_code == 200, sent.text
    return assigned


def _update(client: TestClient, headers: Headers, key: str) -> Any:
    return client.post(f"/api/v1/experiments/{key}/bandit/updates", headers=headers)


@pytest.fixture(scope="module")
def learned(client: TestClient, admin: Headers) -> dict[str, Any]:
    """A bandit through burn-in and one applied update."""
    key = _bandit(client, admin)
    rng = np.random.default_rng(20261205)
    first = _enrol(client, admin, key, [f"{key}-early-{i}" for i in range(45)], rng)
    burn_in = _update(client, admin, key)
    rest = _enrol(client, admin, key, [f"{key}-u-{i}" for i in range(240)], rng)
    applied = _update(client, admin, key)
    return {
        "key": key,
        "burn_in": burn_in,
        "applied": applied,
        "assigned": {**first, **rest},
        "rng": rng,
    }


def test_an_update_before_the_burn_in_keeps_the_weights_and_says_why(
    learned: dict[str, Any],
) -> None:
    answer = learned["burn_in"]
    assert answer.status_code == 201, answer.text
    update = answer.json()
    assert update["status"] == "burn_in"
    assert update["phase"] is None
    assert "30 units" in update["reason"]
    assert update["weights"] == pytest.approx({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}, abs=1e-4)


def test_an_update_moves_traffic_to_the_best_arm_and_opens_a_phase(
    client: TestClient, admin: Headers, learned: dict[str, Any]
) -> None:
    answer = learned["applied"]
    assert answer.status_code == 201, answer.text
    update = answer.json()
    assert update["status"] == "applied", update
    assert update["phase"] == 2
    weights = update["weights"]
    assert sum(weights.values()) == pytest.approx(1.0, abs=1e-12)
    assert weights["c"] > 0.9  # 45 % against 5 % after ~100 units per arm
    assert min(weights.values()) >= 0.01  # the floor
    assert update["probabilities"]["c"] > 0.99
    arms = update["arms"]
    counted = {v: sum(1 for x in learned["assigned"].values() if x == v) for v in "abc"}
    assert {v: arms[v]["units"] for v in "abc"} == counted
    state = client.get(f"/api/v1/experiments/{learned['key']}/bandit", headers=admin).json()
    assert state["weights"] == weights
    assert [p["number"] for p in state["phases"]] == [1, 2]
    assert state["phases"][0]["ended_at"] == state["phases"][1]["started_at"]
    assert state["phases"][1]["reason"] == "bandit update"
    assert state["last_update"]["id"] == update["id"]
    history = client.get(
        "/api/v1/audit",
        params={"resource_type": "experiment", "action": "bandit_update", "actor": "bandit"},
        headers=admin,
    )
    assert history.status_code == 200, history.text
    assert any(e["actor"] == "bandit" for e in history.json()["items"])


def test_assigned_units_keep_their_arm_and_new_units_follow_the_new_weights(
    client: TestClient, admin: Headers, learned: dict[str, Any]
) -> None:
    key = learned["key"]
    key_headers = sdk_key(client, admin, "server")
    for unit, variant in list(learned["assigned"].items())[:60]:
        answer = client.post(
            "/api/v1/assign", json={"unit_id": unit, "experiments": [key]}, headers=key_headers
        )
        assert answer.json()["assignments"][0]["variant"] == variant
    weights = learned["applied"].json()["weights"]
    fresh = [
        client.post(
            "/api/v1/assign",
            json={"unit_id": f"{key}-new-{i}", "experiments": [key]},
            headers=key_headers,
        ).json()["assignments"][0]["variant"]
        for i in range(300)
    ]
    observed = [fresh.count(v) for v in "abc"]
    expected = [300 * weights[v] for v in "abc"]
    # Weights below 5 units expected are pooled so the chi-square approximation holds.
    small = [i for i, e in enumerate(expected) if e < 5]
    if small:
        big = [i for i in range(3) if i not in small]
        observed = [observed[i] for i in big] + [sum(observed[i] for i in small)]
        expected = [expected[i] for i in big] + [sum(expected[i] for i in small)]
    assert stats.chisquare(observed, expected).pvalue > 1e-4


def test_the_updates_are_listed_newest_first(
    client: TestClient, viewer: Headers, learned: dict[str, Any]
) -> None:
    listed = client.get(f"/api/v1/experiments/{learned['key']}/bandit/updates", headers=viewer)
    assert listed.status_code == 200, listed.text
    statuses = [u["status"] for u in listed.json()["items"]]
    assert statuses[:2] == ["applied", "burn_in"]
    assert _update(client, viewer, learned["key"]).status_code == 403


def test_only_a_running_bandit_updates(client: TestClient, admin: Headers) -> None:
    metric = make_metric(client, admin, event_name="x", type="conversion")
    key = unique("ab")
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
    refused = _update(client, admin, key)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "path.key"
    assert "not a bandit" in refused.json()["detail"]
    bandit = _bandit(client, admin)
    version = client.get(f"/api/v1/experiments/{bandit}", headers=admin).json()["version"]
    paused = client.post(
        f"/api/v1/experiments/{bandit}/pause", headers={**admin, "If-Match": f'"{version}"'}
    )
    assert paused.status_code == 200, paused.text
    refused = _update(client, admin, bandit)
    assert refused.status_code == 409
    assert "paused" in refused.json()["detail"]
    assert client.get("/api/v1/experiments/nope/bandit", headers=admin).status_code == 404


def test_a_floor_too_large_for_the_variants_is_refused_at_start(
    client: TestClient, admin: Headers
) -> None:
    metric = make_metric(client, admin, event_name="x", type="conversion")
    key = unique("floor")
    created = client.post(
        "/api/v1/experiments",
        json={
            "key": key,
            "name": key,
            "type": "bandit",
            "variants": [{"key": "a", "is_control": True}, {"key": "b"}, {"key": "c"}],
            "metrics": [{"metric": metric, "role": "primary"}],
            "bandit_floor": 0.4,
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text
    refused = client.post(
        f"/api/v1/experiments/{key}/start",
        headers={**admin, "If-Match": f'"{created.json()["version"]}"'},
    )
    assert refused.status_code == 422, refused.text
    problems = {p["field"]: p["reason"] for p in refused.json()["errors"]}
    assert "at most 0.3333" in problems["bandit_floor"]
    bad = client.post(
        "/api/v1/experiments",
        json={"key": unique("x"), "name": "x", "bandit_floor": 0, "bandit_update_minutes": 0},
        headers=admin,
    )
    assert bad.status_code == 422
    fields = {e["field"] for e in bad.json()["errors"]}
    assert {"body.bandit_floor", "body.bandit_update_minutes"} <= fields


def test_a_failing_analysis_keeps_the_weights_and_records_the_error(
    client: TestClient, admin: Headers
) -> None:
    key = _bandit(client, admin)
    source = client.post(
        "/api/v1/data-sources",
        json={
            "key": unique("gone"),
            "name": "gone",
            "url": "postgresql://postgres@127.0.0.1:1/nowhere",
            "exposures": {"table": "exposures", "columns": EXPOSURE_COLUMNS},
            "events": {"table": "events", "columns": EVENT_COLUMNS},
        },
        headers=admin,
    )
    assert source.status_code == 201, source.text
    version = client.get(f"/api/v1/experiments/{key}", headers=admin).json()["version"]
    moved = client.patch(
        f"/api/v1/experiments/{key}",
        json={"data_source": source.json()["key"]},
        headers={**admin, "If-Match": f'"{version}"'},
    )
    assert moved.status_code == 200, moved.text
    before = moved.json()["variants"]
    update = _update(client, admin, key).json()
    assert update["status"] == "failed"
    assert update["reason"].startswith("the analysis failed")
    after = client.get(f"/api/v1/experiments/{key}", headers=admin).json()
    assert after["variants"] == before
    assert len(after["phases"]) == 1


def test_an_update_that_began_before_another_was_applied_keeps_the_weights(
    client: TestClient, admin: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers found the bandit due: the second update's analysis ran after the
    first applied new weights, so it must not open a second phase."""
    from verdict.server.bandits import service

    key = _bandit(client, admin, bandit_burn_in=0)
    _enrol(client, admin, key, [f"{key}-r-{i}" for i in range(60)], np.random.default_rng(3))
    real_run = service.execute_run
    first: list[Any] = []

    def run_after_another_update(*args: Any, **kwargs: Any) -> Any:
        if not first:  # the other worker's update completes first
            monkeypatch.setattr(service, "execute_run", real_run)
            first.append(_update(client, admin, key))
        return real_run(*args, **kwargs)

    monkeypatch.setattr(service, "execute_run", run_after_another_update)
    second = _update(client, admin, key)
    assert first[0].status_code == 201, first[0].text
    assert first[0].json()["status"] == "applied"
    assert second.status_code == 201, second.text
    assert second.json()["status"] == "skipped"
    assert "another update was applied" in second.json()["reason"]
    state = client.get(f"/api/v1/experiments/{key}/bandit", headers=admin).json()
    assert [p["number"] for p in state["phases"]] == [1, 2]
    assert state["weights"] == first[0].json()["weights"]


def test_the_worker_updates_the_bandits_that_are_due(
    client: TestClient, admin: Headers, api_app: Any
) -> None:
    key = _bandit(client, admin, bandit_burn_in=0)
    rng = np.random.default_rng(7)
    _enrol(client, admin, key, [f"{key}-w-{i}" for i in range(30)], rng)
    factory = api_app.state.session_factory
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    with factory() as session:
        assert key in due_bandits(session, now=later)
        assert key not in due_bandits(session, now=dt.datetime.now(dt.UTC))
    # The worker's clock is the real one: move the start back so the first update is due.
    with factory() as session:
        experiment = session.scalars(select(Experiment).where(Experiment.key == key)).one()
        assert experiment.started_at is not None
        experiment.started_at -= dt.timedelta(hours=2)
        experiment.phases[0].started_at -= dt.timedelta(hours=2)
        session.commit()
    said: list[str] = []
    stop = threading.Event()

    def say(line: str) -> None:
        said.append(line)
        if line.startswith(f"bandit {key}:"):
            stop.set()

    settings = Settings(
        database_url=str(api_app.state.engine.url.render_as_string(hide_password=False)),
        worker_interval=3600,
        analysis_interval=3600,
        bandit_interval=0.05,
    )
    timer = threading.Timer(120, stop.set)  # the test never hangs
    timer.start()
    try:
        run_worker(
            settings=settings,
            session_factory=factory,
            stop=stop,
            say=say,
            engine=api_app.state.engine,
        )
    finally:
        timer.cancel()
    lines = [line for line in said if line.startswith(f"bandit {key}:")]
    assert lines, said
    assert "phase 2, weights" in lines[0], lines
    listed = client.get(f"/api/v1/experiments/{key}/bandit/updates", headers=admin).json()
    assert listed["items"][0]["trigger"] == "worker"


def test_a_bandit_with_as_many_phases_as_an_analysis_weighs_keeps_its_weights(
    client: TestClient, admin: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = _bandit(client, admin, bandit_burn_in=0)
    _enrol(client, admin, key, [f"{key}-{i}" for i in range(30)], np.random.default_rng(9))
    monkeypatch.setattr("verdict.server.bandits.service.MAX_PERIODS", 1)
    update = _update(client, admin, key).json()
    assert update["status"] == "skipped"
    assert "the most an analysis weighs" in update["reason"]
    assert len(client.get(f"/api/v1/experiments/{key}", headers=admin).json()["phases"]) == 1
