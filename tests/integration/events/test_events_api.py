"""POST /api/v1/events: batches are validated per event, deduplicated, limited, and
stored before they are acknowledged; conversion events mark assignments converted."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.integration.api.test_experiments_api import experiment_body, make_metric
from tests.integration.conftest import unique
from verdict.server.models import Assignment, Environment, Event, Experiment

Headers = dict[str, str]
EVENTS = "/api/v1/events"


def sdk_key(client: TestClient, admin: Headers, kind: str, environment: str) -> Headers:
    created = client.post(
        "/api/v1/api-keys",
        json={"name": unique(kind), "kind": kind, "environment": environment},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    return {"Authorization": f"Bearer {created.json()['key']}"}


@pytest.fixture(scope="module")
def server(client: TestClient, admin: Headers) -> Headers:
    return sdk_key(client, admin, "server", "production")


def event(**fields: Any) -> dict[str, Any]:
    return {"client_event_id": str(uuid.uuid4()), "type": "page_view", "unit_id": "u1", **fields}


def stored(api_app: FastAPI, *client_ids: str) -> list[Event]:
    with api_app.state.session_factory() as session:
        return list(session.scalars(select(Event).where(Event.client_event_id.in_(client_ids))))


def test_a_batch_is_stored_with_the_keys_environment(
    client: TestClient, api_app: FastAPI, server: Headers
) -> None:
    batch = [
        event(value=12.5, properties={"plan": "pro"}, context={"ip": "x"}, source="web"),
        event(unit_id=None, device_id="d1", timestamp="2026-01-02T03:04:05+02:00"),
        event(client_event_id=None, unit_id=None, session_id="s1"),
    ]
    response = client.post(EVENTS, json={"events": batch}, headers=server)
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 3, "duplicates": 0, "rejected": 0, "errors": []}
    rows = {
        row.client_event_id: row
        for row in stored(api_app, *(e["client_event_id"] for e in batch[:2]))
    }
    with api_app.state.session_factory() as session:
        production = session.scalar(select(Environment.id).where(Environment.key == "production"))
    first, second = rows[batch[0]["client_event_id"]], rows[batch[1]["client_event_id"]]
    assert first.environment_id == production
    assert (first.value, first.properties, first.context, first.source) == (
        12.5,
        {"plan": "pro"},
        {"ip": "x"},
        "web",
    )
    assert second.device_id == "d1"
    assert second.client_timestamp == dt.datetime(2026, 1, 2, 1, 4, 5, tzinfo=dt.UTC)


def test_the_same_batch_sent_twice_is_stored_once(
    client: TestClient, api_app: FastAPI, server: Headers
) -> None:
    batch = [event() for _ in range(5)]
    first = client.post(EVENTS, json={"events": batch}, headers=server)
    again = client.post(EVENTS, json={"events": batch}, headers=server)
    assert (first.json()["accepted"], first.json()["duplicates"]) == (5, 0)
    assert (again.json()["accepted"], again.json()["duplicates"]) == (0, 5)
    assert len(stored(api_app, *(e["client_event_id"] for e in batch))) == 5


def test_an_id_repeated_within_a_batch_is_one_event(
    client: TestClient, api_app: FastAPI, server: Headers
) -> None:
    twin = event()
    response = client.post(EVENTS, json={"events": [twin, twin, event()]}, headers=server)
    assert (response.json()["accepted"], response.json()["duplicates"]) == (2, 1)
    assert len(stored(api_app, twin["client_event_id"])) == 1


def test_more_than_a_thousand_events_are_refused_with_413(
    client: TestClient, api_app: FastAPI, server: Headers
) -> None:
    batch = [event() for _ in range(1001)]
    response = client.post(EVENTS, json={"events": batch}, headers=server)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert "1000" in response.json()["detail"]
    assert stored(api_app, batch[0]["client_event_id"]) == []


def test_a_thousand_events_are_accepted(client: TestClient, server: Headers) -> None:
    response = client.post(EVENTS, json={"events": [event() for _ in range(1000)]}, headers=server)
    assert response.status_code == 200
    assert response.json()["accepted"] == 1000


def test_a_body_over_one_mebibyte_is_refused_with_413(
    client: TestClient, api_app: FastAPI, server: Headers
) -> None:
    padded = event(properties={"padding": "x" * (1024 * 1024)})
    response = client.post(EVENTS, json={"events": [padded]}, headers=server)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert stored(api_app, padded["client_event_id"]) == []


def test_a_streamed_body_without_length_is_cut_at_one_mebibyte(
    client: TestClient, server: Headers
) -> None:
    body = json.dumps({"events": [event(properties={"padding": "x" * (1024 * 1024)})]})

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024].encode()

    response = client.post(EVENTS, content=chunks(), headers=server)
    assert response.status_code == 413


def test_invalid_events_are_reported_by_index_and_the_valid_ones_stored(
    client: TestClient, api_app: FastAPI, server: Headers
) -> None:
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat()
    batch = [
        event(),
        event(unit_id=None),  # no subject
        event(timestamp="2026-01-01T00:00:00"),  # naive
        event(timestamp=future),
        event(value="lots"),
        event(colour="red"),  # unknown field
        event(),
    ]
    response = client.post(EVENTS, json={"events": batch}, headers=server)
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["accepted"], result["duplicates"], result["rejected"]) == (2, 0, 5)
    fields = {error["index"]: error["field"] for error in result["errors"]}
    assert fields == {
        1: "body.events.1",
        2: "body.events.2.timestamp",
        3: "body.events.3.timestamp",
        4: "body.events.4.value",
        5: "body.events.5.colour",
    }
    assert "unit_id" in result["errors"][0]["reason"]
    ids = [e["client_event_id"] for e in batch]
    assert {row.client_event_id for row in stored(api_app, *ids)} == {ids[0], ids[6]}


def test_a_malformed_envelope_is_refused_whole(client: TestClient, server: Headers) -> None:
    for body in (b"{", b"[]", b'{"events": {}}', b'{"events": [], "x": 1}', b'{"events": [NaN]}'):
        response = client.post(EVENTS, content=body, headers=server)
        assert response.status_code == 422, body
        assert response.headers["content-type"] == "application/problem+json"


@pytest.fixture(scope="module")
def experiment(client: TestClient, admin: Headers) -> dict[str, Any]:
    event_name = unique("signup")
    metric = make_metric(client, admin, event_name=event_name, type="conversion")
    body = experiment_body(metric)
    response = client.post("/api/v1/experiments", json=body, headers=admin)
    assert response.status_code == 201, response.text
    return {"key": body["key"], "event_name": event_name}


def test_unknown_keys_reject_only_their_event(
    client: TestClient, api_app: FastAPI, server: Headers, experiment: dict[str, Any]
) -> None:
    batch = [
        event(experiment=experiment["key"], variant="green"),
        event(experiment=unique("nope")),
        event(experiment=experiment["key"], variant="purple"),
        event(flag=unique("nope")),
        event(variant="green"),  # a variant without its experiment
    ]
    result = client.post(EVENTS, json={"events": batch}, headers=server).json()
    assert (result["accepted"], result["rejected"]) == (1, 4)
    assert [(e["index"], e["field"]) for e in result["errors"]] == [
        (1, "body.events.1.experiment"),
        (2, "body.events.2.variant"),
        (3, "body.events.3.flag"),
        (4, "body.events.4"),
    ]
    (row,) = stored(api_app, batch[0]["client_event_id"])
    with api_app.state.session_factory() as session:
        found = session.scalars(select(Experiment).where(Experiment.key == experiment["key"])).one()
        green = next(v for v in found.variants if v.key == "green")
    assert (row.experiment_id, row.variant_id) == (found.id, green.id)


def test_an_experiment_of_another_environment_is_refused(
    client: TestClient, admin: Headers, server: Headers
) -> None:
    metric = make_metric(client, admin)
    body = experiment_body(metric, environment="staging")
    assert client.post("/api/v1/experiments", json=body, headers=admin).status_code == 201
    result = client.post(
        EVENTS, json={"events": [event(experiment=body["key"])]}, headers=server
    ).json()
    assert result["rejected"] == 1
    assert "environment" in result["errors"][0]["reason"]


@pytest.mark.parametrize("caller", ["user", "admin-key", "client-key"])
def test_only_a_server_key_may_send_events(
    client: TestClient, admin: Headers, experimenter: Headers, caller: str
) -> None:
    headers = {
        "user": lambda: experimenter,
        "admin-key": lambda: sdk_key(client, admin, "admin", None),  # type: ignore[arg-type]
        "client-key": lambda: sdk_key(client, admin, "client", "production"),
    }[caller]()
    response = client.post(EVENTS, json={"events": [event()]}, headers=headers)
    assert response.status_code == 403
    assert client.post(EVENTS, json={"events": [event()]}).status_code == 401


def test_a_conversion_event_marks_the_assignment_converted_at_its_first_time(
    client: TestClient, api_app: FastAPI, server: Headers, experiment: dict[str, Any]
) -> None:
    converter, bystander = unique("unit"), unique("unit")
    with api_app.state.session_factory() as session:
        found = session.scalars(select(Experiment).where(Experiment.key == experiment["key"])).one()
        for unit in (converter, bystander):
            session.add(
                Assignment(experiment_id=found.id, variant_id=found.variants[0].id, unit_id=unit)
            )
        session.commit()
    early = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
    late = early + dt.timedelta(hours=5)
    name = experiment["event_name"]
    first = [event(type=name, unit_id=converter, timestamp=late.isoformat())]
    second = [
        event(type=name, unit_id=converter, timestamp=early.isoformat()),
        event(type=name, unit_id=unique("unassigned"), timestamp=early.isoformat()),
        event(type="page_view", unit_id=bystander),
    ]
    for batch in (first, second, second, first):
        assert client.post(EVENTS, json={"events": batch}, headers=server).status_code == 200
    with api_app.state.session_factory() as session:
        rows = {
            a.unit_id: a
            for a in session.scalars(
                select(Assignment).where(Assignment.unit_id.in_([converter, bystander]))
            )
        }
        unassigned = session.scalar(
            select(func.count()).select_from(Assignment).where(Assignment.experiment_id == found.id)
        )
    assert (rows[converter].has_converted, rows[converter].converted_at) == (True, early)
    assert (rows[bystander].has_converted, rows[bystander].converted_at) == (False, None)
    assert unassigned == 2  # an event never creates an assignment
