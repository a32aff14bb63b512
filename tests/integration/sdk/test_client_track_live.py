"""The Client's own paths end to end against a live ``verdict serve`` (SQLite and
PostgreSQL): exposures recorded by flag reads bound to an experiment and events passed
to ``Client.track`` reach the database exactly once through retries and a server
restart. (test_recorder_live.py drives the HttpRecorder directly; this goes through
the public Client API a host calls.)"""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from tests.integration.delivery.test_assign_api import start_experiment
from tests.integration.delivery.test_stream import (
    LiveServer,
    admin_headers,
    server_key,
)
from tests.integration.sdk.test_recorder_live import (
    patient_recorder,
    restart,
    stored,
    wait_for_a_retry,
)
from verdict.sdk import Client, EvaluationContext
from verdict.server.config import get_settings
from verdict.server.db import create_db_engine
from verdict.server.models import Event

UNITS = 40  # per phase: before the stop, while stopped
FLAG = "track-live-color"


def bind_flag(api: httpx.Client, admin: dict[str, str], experiment: str) -> None:
    """A string flag whose only rule is the experiment (variants blue and green)."""
    created = api.post(
        "/api/v1/flags",
        json={
            "key": FLAG,
            "name": FLAG,
            "value_type": "string",
            "default_value": "none",
            "variants": [{"key": "blue", "value": "#0066CC"}, {"key": "green", "value": "#00CC66"}],
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text
    state = api.put(
        f"/api/v1/flags/{FLAG}/environments/production",
        json={
            "enabled": True,
            "rules": [{"id": "exp", "type": "experiment", "experiment": experiment}],
        },
        headers={**admin, "If-Match": '"0"'},
    )
    assert state.status_code == 200, state.text


def use(client: Client, units: range, seen: dict[str, str]) -> None:
    """What a host does: read the flag (twice: one exposure is sent) and track events."""
    colours = {"#0066CC": "blue", "#00CC66": "green"}
    for unit in units:
        ctx = EvaluationContext(f"user-{unit}", {"plan": "pro" if unit % 2 else "free"})
        for _ in range(2):
            value = client.get_string(FLAG, "none", ctx)
        seen[ctx.targeting_key] = colours[value]
        if unit % 2 == 0:
            assert client.track("purchase", ctx, value=float(unit), properties={"unit": unit})


def stored_events(url: str) -> list[tuple[str | None, str | None, float | None, Any]]:
    engine = create_db_engine(get_settings(database_url=url))
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(Event.client_event_id, Event.unit_id, Event.value, Event.properties).where(
                    Event.event_type == "purchase"
                )
            ).all()
    finally:
        engine.dispose()
    return [tuple(row) for row in rows]


def test_client_exposures_and_tracked_events_arrive_exactly_once_through_a_restart(
    server: LiveServer,
) -> None:
    admin = admin_headers(server.base)
    with httpx.Client(base_url=server.base, timeout=10) as api:
        experiment = start_experiment(api, admin)  # type: ignore[arg-type]
        bind_flag(api, admin, experiment)
    secret = server_key(server.base, admin)["Authorization"].removeprefix("Bearer ")
    recorder = patient_recorder(secret, server.base, batch_size=10)
    seen: dict[str, str] = {}
    with Client(secret, server.base, recorder=recorder, stream=False) as client:
        assert client.wait_until_ready(30)
        use(client, range(UNITS), seen)
        assert recorder.flush(timeout=60)
        assert recorder.stats.sent == UNITS + UNITS // 2

        server.stop()
        # Used while the server is away: decisions come from the held configuration,
        # the recorder retries and keeps the rest queued.
        use(client, range(UNITS, 2 * UNITS), seen)
        wait_for_a_retry(recorder)
        restart(server)
        assert recorder.flush(timeout=60)
    recorder.close(timeout=10)

    stats = recorder.stats
    assert stats.sent == 2 * (UNITS + UNITS // 2)
    assert stats.dropped_overflow == stats.dropped_rejected == stats.dropped_failed == 0
    assert stats.exposure_conflicts == 0
    assert set(seen.values()) == {"blue", "green"}
    assignments, per_event_id = stored(server.url, experiment)
    assert assignments == seen
    assert set(per_event_id.values()) == {1}  # no client event id stored twice
    events = stored_events(server.url)
    assert sorted((unit, value, props) for _, unit, value, props in events) == sorted(
        (f"user-{unit}", float(unit), {"unit": unit}) for unit in range(0, 2 * UNITS, 2)
    )
