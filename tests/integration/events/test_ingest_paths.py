"""POST /api/v1/events beyond the basics: gzip bodies, events linked to their unit's
assignment, conversions of events without a client id, and Unicode checks."""

from __future__ import annotations

import gzip
import json
import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.integration.api.test_experiments_api import experiment_body, make_metric
from tests.integration.conftest import unique
from tests.integration.events.test_events_api import EVENTS, event, sdk_key, stored
from verdict.server.events.schemas import MAX_BATCH_BYTES
from verdict.server.models import Assignment, Event, Experiment

Headers = dict[str, str]


@pytest.fixture(scope="module")
def server(client: TestClient, admin: Headers) -> Headers:
    return sdk_key(client, admin, "server", "production")


def gzipped(server: Headers) -> Headers:
    return {**server, "Content-Type": "application/json", "Content-Encoding": "gzip"}


def test_a_gzip_batch_is_stored_like_a_plain_one(
    client: TestClient, api_app: FastAPI, server: Headers
) -> None:
    batch = [event(properties={"plan": "pro"}), event(unit_id=None, device_id="d1")]
    body = gzip.compress(json.dumps({"events": batch}).encode())
    response = client.post(EVENTS, content=body, headers=gzipped(server))
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 2
    rows = stored(api_app, *(e["client_event_id"] for e in batch))
    assert sorted((row.unit_id or "", row.properties) for row in rows) == [
        ("", {}),
        ("u1", {"plan": "pro"}),
    ]


def test_a_gzip_body_of_several_members_is_read_whole(
    client: TestClient, api_app: FastAPI, server: Headers
) -> None:
    first, second = event(), event()
    text = json.dumps({"events": [first, second]}).encode()
    middle = len(text) // 2
    body = gzip.compress(text[:middle]) + gzip.compress(text[middle:])
    response = client.post(EVENTS, content=body, headers=gzipped(server))
    assert response.status_code == 200, response.text
    assert len(stored(api_app, first["client_event_id"], second["client_event_id"])) == 2


def test_a_gzip_body_inflating_past_one_mebibyte_is_refused_with_413(
    client: TestClient, api_app: FastAPI, server: Headers
) -> None:
    padded = event(properties={"padding": "x" * MAX_BATCH_BYTES})
    body = gzip.compress(json.dumps({"events": [padded]}).encode())
    assert len(body) < MAX_BATCH_BYTES // 100  # small on the wire
    response = client.post(EVENTS, content=body, headers=gzipped(server))
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert "decompressed" in response.json()["detail"]
    assert stored(api_app, padded["client_event_id"]) == []


@pytest.mark.parametrize(
    "body",
    [
        b"not gzip at all",
        gzip.compress(b'{"events": []}')[:-6],  # truncated
        gzip.compress(b'{"events": []}') + b"trailing garbage",
    ],
    ids=["not-gzip", "truncated", "trailing-garbage"],
)
def test_a_corrupt_gzip_body_is_refused_naming_the_body(
    client: TestClient, server: Headers, body: bytes
) -> None:
    response = client.post(EVENTS, content=body, headers=gzipped(server))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    (error,) = response.json()["errors"]
    assert error["field"] == "body"
    assert "gzip" in error["reason"]


def test_an_unsupported_content_encoding_is_refused_naming_the_header(
    client: TestClient, server: Headers
) -> None:
    headers = {**server, "Content-Type": "application/json", "Content-Encoding": "br"}
    response = client.post(EVENTS, content=b'{"events": []}', headers=headers)
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["field"] == "header.Content-Encoding"
    assert "'br'" in error["reason"]


@pytest.fixture(scope="module")
def converting(client: TestClient, admin: Headers) -> dict[str, Any]:
    """Two experiments sharing one conversion metric, and an assignment in each."""
    event_name = unique("checkout")
    metric = make_metric(client, admin, event_name=event_name, type="conversion")
    keys = []
    for _ in range(2):
        body = experiment_body(metric)
        assert client.post("/api/v1/experiments", json=body, headers=admin).status_code == 201
        keys.append(body["key"])
    return {"keys": keys, "event_name": event_name}


def assign(api_app: FastAPI, experiment_key: str, unit_id: str) -> uuid.UUID:
    with api_app.state.session_factory() as session:
        found = session.scalars(select(Experiment).where(Experiment.key == experiment_key)).one()
        assignment = Assignment(
            experiment_id=found.id, variant_id=found.variants[0].id, unit_id=unit_id
        )
        session.add(assignment)
        session.commit()
        return assignment.id


def test_an_event_is_linked_to_its_units_assignment_in_its_experiment(
    client: TestClient, api_app: FastAPI, server: Headers, converting: dict[str, Any]
) -> None:
    first, second = converting["keys"]
    assigned, unassigned = unique("unit"), unique("unit")
    in_first = assign(api_app, first, assigned)
    assign(api_app, second, assigned)
    batch = [
        event(unit_id=assigned, experiment=first),
        event(unit_id=assigned, experiment=first, variant="green"),
        event(unit_id=unassigned, experiment=first),
        event(unit_id=assigned),  # no experiment: nothing to link to
        event(unit_id=None, device_id=assigned, experiment=first),  # no unit
    ]
    response = client.post(EVENTS, json={"events": batch}, headers=server)
    assert response.json()["accepted"] == 5, response.text
    rows = {
        row.client_event_id: row for row in stored(api_app, *(e["client_event_id"] for e in batch))
    }
    links = [rows[e["client_event_id"]].assignment_id for e in batch]
    assert links == [in_first, in_first, None, None, None]


def test_a_conversion_counts_in_every_experiment_and_without_a_client_id(
    client: TestClient, api_app: FastAPI, server: Headers, converting: dict[str, Any]
) -> None:
    unit = unique("unit")
    ids = [assign(api_app, key, unit) for key in converting["keys"]]
    anonymous = {"type": converting["event_name"], "unit_id": unit}  # no client_event_id
    response = client.post(EVENTS, json={"events": [anonymous]}, headers=server)
    assert response.json()["accepted"] == 1, response.text
    with api_app.state.session_factory() as session:
        rows = session.scalars(select(Assignment).where(Assignment.id.in_(ids))).all()
        (stored_event,) = session.scalars(select(Event).where(Event.unit_id == unit)).all()
    assert [row.has_converted for row in rows] == [True, True]
    assert {row.converted_at for row in rows} == {stored_event.client_timestamp}
    # A conversion event names no experiment, so it links to no assignment.
    assert stored_event.assignment_id is None


def test_a_lone_surrogate_rejects_its_event_and_a_surrogate_pair_is_kept(
    client: TestClient, api_app: FastAPI, server: Headers
) -> None:
    lone, pair, plain = event(properties={"note": "LONE"}), event(unit_id="PAIR"), event()
    body = (
        json.dumps({"events": [lone, pair, plain]})
        .replace('"LONE"', '"\\ud800"')  # valid JSON, not valid Unicode
        .replace('"PAIR"', '"\\ud83d\\ude00"')  # an escaped emoji
    )
    response = client.post(EVENTS, content=body.encode(), headers=server)
    result = response.json()
    assert (result["accepted"], result["rejected"]) == (2, 1), result
    assert result["errors"] == [
        {"index": 0, "field": "body.events.0", "reason": "a string is not valid Unicode"}
    ]
    rows = stored(api_app, pair["client_event_id"], plain["client_event_id"])
    assert sorted(row.unit_id or "" for row in rows) == ["u1", "\U0001f600"]
