"""HttpRecorder against a live ``verdict serve`` (SQLite and PostgreSQL): events and
exposures arrive exactly once through retries and a server restart, and the exposures
become the assignments the analysis reads."""

from __future__ import annotations

import time
from collections import Counter

import httpx
from sqlalchemy import func, select

from tests.integration.delivery.test_assign_api import start_experiment
from tests.integration.delivery.test_stream import (
    LiveServer,
    admin_headers,
    server_key,
    start_server,
)
from verdict.sdk.client import Client
from verdict.sdk.recorder import HttpRecorder
from verdict.sdk.types import MemoryRecorder
from verdict.server.config import get_settings
from verdict.server.db import create_db_engine
from verdict.server.models import Assignment, Event, Experiment, Variant

UNITS = 60  # per phase: before the stop, while stopped


def variant_of(unit: int) -> str:
    return "green" if unit % 3 == 0 else "blue"


def record(recorder: HttpRecorder, experiment: str, units: range) -> None:
    """What a host does through the SDK: decide (here: a fixed rule), expose, track."""
    for unit in units:
        for _ in range(3):  # decided again and again: one exposure is sent
            recorder.exposure(
                unit_id=f"user-{unit}",
                experiment_key=experiment,
                variant_key=variant_of(unit),
                attributes={"plan": "pro" if unit % 2 else "free"},
            )
        if unit % 2 == 0:
            recorder.track(unit_id=f"user-{unit}", event="purchase", value=10.0, properties=None)


def stored(url: str, experiment: str) -> tuple[dict[str, str], Counter[str]]:
    """Each unit's stored variant, and the purchase events per client event id."""
    engine = create_db_engine(get_settings(database_url=url))
    try:
        with engine.connect() as connection:
            assignments = dict(
                connection.execute(
                    select(Assignment.unit_id, Variant.key)
                    .join(Variant, Variant.id == Assignment.variant_id)
                    .join(Experiment, Experiment.id == Assignment.experiment_id)
                    .where(Experiment.key == experiment)
                ).all()
            )
            events = Counter(
                {
                    str(event_id): count
                    for event_id, count in connection.execute(
                        select(Event.client_event_id, func.count())
                        .where(Event.event_type == "purchase")
                        .group_by(Event.client_event_id)
                    )
                }
            )
    finally:
        engine.dispose()
    return assignments, events


def restart(server: LiveServer) -> None:
    """Start the server again on the same database and port (the SDK's base URL)."""
    port = int(server.base.rsplit(":", 1)[1])
    server.process = start_server(server.url, port).process


def patient_recorder(secret: str, base: str, *, batch_size: int) -> HttpRecorder:
    """A recorder that flushes often and never gives up while a server restarts."""
    return HttpRecorder(
        secret,
        base,
        batch_size=batch_size,
        flush_interval=0.05,
        max_retries=10_000,
        max_backoff=0.2,
        timeout=5,
    )


def wait_for_a_retry(recorder: HttpRecorder) -> None:
    """Until the recorder has retried (the server is away), with entries still queued."""
    deadline = time.monotonic() + 30
    while recorder.stats.retries == 0:
        assert time.monotonic() < deadline, "the recorder never retried"
        time.sleep(0.05)
    assert recorder.stats.pending > 0


def test_events_and_exposures_arrive_exactly_once_through_a_server_restart(
    server: LiveServer,
) -> None:
    admin = admin_headers(server.base)
    with httpx.Client(base_url=server.base, timeout=10) as api:
        experiment = start_experiment(api, admin)  # type: ignore[arg-type]
    secret = server_key(server.base, admin)["Authorization"].removeprefix("Bearer ")
    recorder = patient_recorder(secret, server.base, batch_size=25)
    try:
        record(recorder, experiment, range(UNITS))
        assert recorder.flush(timeout=60)
        assert recorder.stats.sent == UNITS + UNITS // 2

        server.stop()
        # Recorded while the server is away: the sender retries, the rest stays queued.
        record(recorder, experiment, range(UNITS, 2 * UNITS))
        wait_for_a_retry(recorder)
        restart(server)
        assert recorder.flush(timeout=60)
    finally:
        recorder.close(timeout=10)

    stats = recorder.stats
    assert stats.sent == 2 * (UNITS + UNITS // 2)
    assert stats.dropped_overflow == stats.dropped_rejected == stats.dropped_failed == 0
    assert stats.exposure_conflicts == 0
    assignments, events = stored(server.url, experiment)
    assert assignments == {f"user-{unit}": variant_of(unit) for unit in range(2 * UNITS)}
    assert len(events) == UNITS  # one purchase per even unit of both phases
    assert set(events.values()) == {1}

    # The analysis reads the SDK's exposures like /assign's: units and conversions.
    with httpx.Client(base_url=server.base, timeout=60) as api:
        admin = admin_headers(server.base)
        run = api.post(f"/api/v1/experiments/{experiment}/analyses", headers=admin)
        assert run.status_code in (200, 201), run.text
        assert run.json()["status"] == "succeeded", run.text
        results = api.get(f"/api/v1/experiments/{experiment}/results", headers=admin).json()
    rows = {r["variant"]: r for r in results["results"] if not r.get("cuped")}
    for variant in ("blue", "green"):
        units = [u for u in range(2 * UNITS) if variant_of(u) == variant]
        assert rows[variant]["sample_size"] == len(units)
        assert rows[variant]["conversions"] == sum(1 for u in units if u % 2 == 0)


def test_an_experiment_decided_only_in_the_sdk_is_stored_as_the_server_would_decide(
    server: LiveServer,
) -> None:
    admin = admin_headers(server.base)
    with httpx.Client(base_url=server.base, timeout=10) as api:
        experiment = start_experiment(api, admin)  # type: ignore[arg-type]
    key = server_key(server.base, admin)
    secret = key["Authorization"].removeprefix("Bearer ")
    recorder = HttpRecorder(secret, server.base, flush_interval=0.05)
    units = [f"visitor-{i}" for i in range(40)]
    with Client(secret, server.base, recorder=recorder, stream=False) as client:
        assert client.wait_until_ready(30)
        decided = {}
        for unit in units:
            for _ in range(2):  # decided twice, exposed once
                details = client.get_variant(experiment, {"targeting_key": unit})
            assert details.in_experiment
            decided[unit] = details.variant
        assert recorder.flush(timeout=30)
    assert recorder.stats.sent == len(units)
    assignments, _ = stored(server.url, experiment)
    assert assignments == decided
    assert set(decided.values()) == {"blue", "green"}
    # The reference: the server's own decision through /assign, for units it has not
    # seen, asked before the SDK (which records nothing here) decides them.
    with (
        httpx.Client(base_url=server.base, timeout=10) as api,
        Client(secret, server.base, recorder=MemoryRecorder(), stream=False) as probe,
    ):
        assert probe.wait_until_ready(30)
        for unit in units:
            fresh = f"fresh-{unit}"
            answer = api.post(
                "/api/v1/assign", json={"unit_id": fresh, "experiments": [experiment]}, headers=key
            )
            expected = answer.json()["assignments"][0]["variant"]
            assert probe.get_variant(experiment, {"targeting_key": fresh}).variant == expected
