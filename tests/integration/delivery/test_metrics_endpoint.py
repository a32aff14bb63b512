"""GET /metrics: Prometheus text with request latencies per route template, the decision,
assignment and event counters, and the age of each cached configuration snapshot."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import unique
from tests.integration.delivery.test_assign_api import refresh, start_experiment
from tests.integration.delivery.test_evaluate_api import sdk_key
from verdict.server.delivery.observability import (
    record_assignments,
    record_decisions,
    record_events_ingested,
)


def _samples(client: TestClient) -> dict[str, list[tuple[dict[str, str], float]]]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def _value(
    samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str
) -> float:
    return sum(v for got, v in samples.get(name, []) if labels.items() <= got.items())


def test_metrics_need_no_credentials_and_stay_out_of_the_api_spec(client: TestClient) -> None:
    assert client.get("/metrics").status_code == 200
    assert "/metrics" not in client.get("/openapi.json").json()["paths"]


def test_request_latency_is_labelled_by_route_template_not_raw_path(
    client: TestClient, admin: dict[str, str]
) -> None:
    missing = unique("missing")
    assert client.get(f"/api/v1/flags/{missing}", headers=admin).status_code == 404
    samples = _samples(client)
    count = "verdict_http_request_duration_seconds_count"
    assert _value(samples, count, route="/api/v1/flags/{key}", method="GET", status="404") >= 1
    assert not any(missing in labels.get("route", "") for labels, _ in samples[count])


def test_decision_assignment_and_event_counters_add_up(client: TestClient) -> None:
    before = _samples(client)
    record_decisions("flag", 3)
    record_decisions("experiment")
    record_assignments(2)
    record_events_ingested(5)
    after = _samples(client)

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert grew("verdict_decisions_total", kind="flag") == 3
    assert grew("verdict_decisions_total", kind="experiment") == 1
    assert grew("verdict_assignments_total") == 2
    assert grew("verdict_events_ingested_total") == 5


def test_snapshot_age_is_reported_per_cached_environment(
    client: TestClient, admin: dict[str, str]
) -> None:
    created = client.post(
        "/api/v1/api-keys",
        json={"name": unique("key"), "kind": "server", "environment": "staging"},
        headers=admin,
    )
    key = {"Authorization": f"Bearer {created.json()['key']}"}
    assert client.get("/api/v1/sdk/config", headers=key).status_code == 200
    ages = _samples(client)["verdict_config_snapshot_age_seconds"]
    staging = [value for labels, value in ages if labels == {"environment": "staging"}]
    assert len(staging) == 1
    assert staging[0] >= 0
    assert _samples(client)["verdict_config_streams"] == [({}, 0.0)]


def test_served_requests_feed_the_decision_and_assignment_counters(
    client: TestClient, admin: dict[str, str], api_app: FastAPI
) -> None:
    headers = sdk_key(client, admin)
    flags = [unique("flag"), unique("flag")]
    for flag in flags:
        created = client.post(
            "/api/v1/flags",
            json={"key": flag, "name": flag, "value_type": "boolean", "default_value": False},
            headers=admin,
        )
        assert created.status_code == 201, created.text
    experiment = start_experiment(client, admin)
    refresh(api_app)
    before = _samples(client)
    evaluated = client.post(
        "/api/v1/evaluate", json={"targeting_key": "u1", "flags": flags}, headers=headers
    )
    assert evaluated.status_code == 200
    ofrep = client.post(f"/ofrep/v1/evaluate/flags/{flags[0]}", json={}, headers=headers)
    assert ofrep.status_code == 200
    assigned = client.post(
        "/api/v1/assign",
        json={"unit_id": unique("unit"), "experiments": [experiment]},
        headers=headers,
    )
    assert assigned.status_code == 200
    after = _samples(client)

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert grew("verdict_decisions_total", kind="flag") == 3
    assert grew("verdict_decisions_total", kind="experiment") == 1
    assert grew("verdict_assignments_total") == 1


def test_ingested_events_are_counted_once_committed(
    client: TestClient, admin: dict[str, str]
) -> None:
    headers = sdk_key(client, admin)
    events = [{"client_event_id": unique("event"), "type": "view", "unit_id": "u1"}] * 2
    events.append({"type": "view"})  # rejected: no subject
    before = _samples(client)
    response = client.post("/api/v1/events", json={"events": events}, headers=headers)
    assert response.status_code == 200, response.text
    assert (response.json()["accepted"], response.json()["duplicates"]) == (1, 1)
    after = _samples(client)
    grew = _value(after, "verdict_events_ingested_total") - _value(
        before, "verdict_events_ingested_total"
    )
    assert grew == 1
