"""POST /api/v1/exposures: an SDK's exposures become sticky assignments, first one wins."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.integration.delivery.test_assign_api import refresh, rows, start_experiment
from tests.integration.delivery.test_evaluate_api import sdk_key


def post(client: TestClient, headers: dict[str, str], *exposures: dict[str, Any]) -> Any:
    response = client.post(
        "/api/v1/exposures", json={"exposures": list(exposures)}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_a_first_exposure_is_stored_as_the_units_assignment(
    client: TestClient, admin: dict[str, str], api_app: FastAPI
) -> None:
    experiment = start_experiment(client, admin)
    headers = sdk_key(client, admin)
    seen = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    result = post(
        client,
        headers,
        {
            "unit_id": "sdk-unit",
            "experiment": experiment,
            "variant": "green",
            "timestamp": seen.isoformat(),
            "attributes": {"country": "FR"},
        },
    )
    assert result == {
        "recorded": 1,
        "duplicates": 0,
        "conflicts": 0,
        "rejected": 0,
        "errors": [],
    }
    [row] = rows(api_app, experiment, "sdk-unit")
    assert row.context == {"country": "FR"}
    assert row.assigned_at.replace(tzinfo=dt.UTC) == seen
    with api_app.state.session_factory() as session:
        session.add(row)
        assert row.variant.key == "green"

    # The stored exposure is the unit's sticky assignment for /assign too.
    refresh(api_app)
    answer = client.post(
        "/api/v1/assign",
        json={"unit_id": "sdk-unit", "experiments": [experiment]},
        headers=headers,
    )
    assert answer.json()["assignments"][0]["variant"] == "green"
    assert answer.json()["assignments"][0]["reason"] == "sticky"


def test_a_resent_exposure_is_a_duplicate_and_another_variant_a_conflict(
    client: TestClient, admin: dict[str, str], api_app: FastAPI
) -> None:
    experiment = start_experiment(client, admin)
    headers = sdk_key(client, admin)
    first = {"unit_id": "u", "experiment": experiment, "variant": "blue"}
    assert post(client, headers, first)["recorded"] == 1
    again = post(client, headers, first, {**first, "variant": "green"})
    assert (again["recorded"], again["duplicates"], again["conflicts"]) == (0, 1, 1)
    [row] = rows(api_app, experiment, "u")
    with api_app.state.session_factory() as session:
        session.add(row)
        assert row.variant.key == "blue"


def test_within_a_batch_the_earliest_exposure_wins(
    client: TestClient, admin: dict[str, str], api_app: FastAPI
) -> None:
    experiment = start_experiment(client, admin)
    headers = sdk_key(client, admin)
    later = {
        "unit_id": "u",
        "experiment": experiment,
        "variant": "green",
        "timestamp": "2026-01-02T00:00:00+00:00",
    }
    earlier = {**later, "variant": "blue", "timestamp": "2026-01-01T00:00:00+00:00"}
    result = post(client, headers, later, earlier)
    assert (result["recorded"], result["conflicts"]) == (1, 1)
    [row] = rows(api_app, experiment, "u")
    with api_app.state.session_factory() as session:
        session.add(row)
        assert row.variant.key == "blue"


def test_unknown_experiments_variants_and_future_times_are_refused_one_by_one(
    client: TestClient, admin: dict[str, str], api_app: FastAPI
) -> None:
    experiment = start_experiment(client, admin)
    headers = sdk_key(client, admin)
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat()
    result = post(
        client,
        headers,
        {"unit_id": "a", "experiment": "no-such-experiment", "variant": "blue"},
        {"unit_id": "b", "experiment": experiment, "variant": "purple"},
        {"unit_id": "c", "experiment": experiment, "variant": "blue", "timestamp": future},
        {"unit_id": "d", "experiment": experiment, "variant": "blue"},
    )
    assert result["recorded"] == 1
    assert result["rejected"] == 3
    assert [(e["index"], e["field"]) for e in result["errors"]] == [
        (0, "body.exposures.0.experiment"),
        (1, "body.exposures.1.variant"),
        (2, "body.exposures.2.timestamp"),
    ]
    assert rows(api_app, experiment, "b") == []
    assert len(rows(api_app, experiment, "d")) == 1


def test_a_malformed_batch_is_refused_naming_the_field(
    client: TestClient, admin: dict[str, str]
) -> None:
    headers = sdk_key(client, admin)
    response = client.post(
        "/api/v1/exposures",
        json={"exposures": [{"unit_id": "", "experiment": "e", "variant": "v"}]},
        headers=headers,
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "body.exposures.0.unit_id" in response.text
    too_many = [{"unit_id": f"u{i}", "experiment": "e", "variant": "v"} for i in range(1001)]
    response = client.post("/api/v1/exposures", json={"exposures": too_many}, headers=headers)
    assert response.status_code == 422
    assert "body.exposures" in response.text


def test_exposures_need_a_server_key(client: TestClient, admin: dict[str, str]) -> None:
    body = {"exposures": [{"unit_id": "u", "experiment": "e", "variant": "v"}]}
    assert client.post("/api/v1/exposures", json=body).status_code == 401
    browser = sdk_key(client, admin, "client")
    assert client.post("/api/v1/exposures", json=body, headers=browser).status_code == 403
