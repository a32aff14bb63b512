"""A bandit's new weights reach SDK clients over the change stream (a live ``verdict
serve`` on SQLite and on PostgreSQL); with a sticky store, units the client already
placed keep their variant, and new units follow the new weights. On PostgreSQL the
update also comes from a worker in another process than the server, as in production:
its commit's notification reaches the server, and the server's stream the client."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import numpy as np
import pytest
from scipy import stats
from sqlalchemy import create_engine, text

from tests.conftest import DatabaseFactory
from tests.integration.bandits.test_bandit_updates import _bandit, _enrol
from tests.integration.conformance.server import sdk_key
from tests.integration.delivery.test_stream import admin_headers
from tests.integration.sdk.conftest import live_verdict
from tests.integration.sdk.test_client_live import WAIT, eventually
from verdict.sdk import Client, MemoryRecorder, MemoryStickyStore
from verdict.server.config import Settings
from verdict.server.db import create_session_factory
from verdict.server.worker import run_worker


def _weights(client: Client, key: str) -> dict[str, float]:
    spec: dict[str, Any] = client.configuration["experiments"][key]
    return {variant["key"]: float(variant["weight"]) for variant in spec["variants"]}


def _sticky_client(base: str, key: str) -> Client:
    return Client(
        key,
        base,
        recorder=MemoryRecorder(),
        sticky_store=MemoryStickyStore(),
        retry_initial=0.2,
        retry_max=1.0,
        timeout=5.0,
    )


def _check_weights_reach_the_client(base: str, admin: dict[str, str], update: Any) -> None:
    with httpx.Client(base_url=base, timeout=30) as http:
        key = _bandit(http, admin, bandit_burn_in=10)
        secret = sdk_key(base, admin, "server")
        with _sticky_client(base, secret) as client:
            assert client.wait_until_ready(WAIT)
            assert _weights(client, key) == pytest.approx({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3})
            placed = {
                f"early-{i}": client.get_variant(key, f"early-{i}").variant for i in range(150)
            }
            _enrol(http, admin, key, [f"{key}-{i}" for i in range(90)], np.random.default_rng(5))
            weights = update(http, key)
            assert eventually(lambda: _weights(client, key) == weights), (
                "the new weights never reached the client"
            )
            for unit, variant in placed.items():
                assert client.get_variant(key, unit).variant == variant
            fresh = [client.get_variant(key, f"late-{i}").variant for i in range(2000)]
    observed = [fresh.count(v) for v in "abc"]
    expected = [2000 * weights[v] for v in "abc"]
    assert stats.chisquare(observed, expected).pvalue > 1e-4


def test_an_api_update_reaches_sdk_clients_and_units_keep_their_variant(
    database_factory: DatabaseFactory, backend: str
) -> None:
    with live_verdict(database_factory, backend) as server:
        admin = admin_headers(server.base)

        def update(http: httpx.Client, key: str) -> dict[str, float]:
            answer = http.post(f"/api/v1/experiments/{key}/bandit/updates", headers=admin)
            assert answer.status_code == 201, answer.text
            assert answer.json()["status"] == "applied", answer.json()
            weights: dict[str, float] = answer.json()["weights"]
            return weights

        _check_weights_reach_the_client(server.base, admin, update)


def test_a_worker_update_reaches_the_clients_of_another_process(
    database_factory: DatabaseFactory,
) -> None:
    with live_verdict(database_factory, "postgresql") as server:
        admin = admin_headers(server.base)
        engine = create_engine(server.url)

        def update(http: httpx.Client, key: str) -> dict[str, float]:
            # Due now: the worker's clock is the real one, the bandit started seconds ago.
            patched = http.get(f"/api/v1/experiments/{key}", headers=admin).json()
            moved = http.patch(
                f"/api/v1/experiments/{key}",
                json={"bandit_update_minutes": 1},
                headers={**admin, "If-Match": f'"{patched["version"]}"'},
            )
            assert moved.status_code == 200, moved.text
            with engine.begin() as connection:
                for statement in (
                    "UPDATE experiments SET started_at = started_at - interval '1 hour' "
                    "WHERE key = :key",
                    "UPDATE experiment_phases SET started_at = started_at - interval '1 hour' "
                    "WHERE experiment_id = (SELECT id FROM experiments WHERE key = :key)",
                ):
                    connection.execute(text(statement), {"key": key})
            stop = threading.Event()
            said: list[str] = []

            def say(line: str) -> None:
                said.append(line)
                if line.startswith(f"bandit {key}:"):
                    stop.set()

            timer = threading.Timer(120, stop.set)
            timer.start()
            try:
                run_worker(
                    settings=Settings(
                        database_url=server.url, analysis_interval=3600, bandit_interval=0.05
                    ),
                    session_factory=create_session_factory(engine),
                    stop=stop,
                    say=say,
                    engine=engine,
                )
            finally:
                timer.cancel()
            assert any(f"bandit {key}: phase 2" in line for line in said), said
            state = http.get(f"/api/v1/experiments/{key}/bandit", headers=admin).json()
            weights: dict[str, float] = state["weights"]
            return weights

        try:
            _check_weights_reach_the_client(server.base, admin, update)
        finally:
            engine.dispose()
