"""/api/v1/data-sources: mappings validated at save, passwords never shown, in-use kept."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.integration.analysis.test_analysis_api import (
    EVENT_COLUMNS,
    EXPOSURE_COLUMNS,
    make_metric,
)
from tests.integration.conftest import unique

Headers = dict[str, str]
SOURCES = "/api/v1/data-sources"


def body(**fields: Any) -> dict[str, Any]:
    return {
        "key": unique("src"),
        "name": "Warehouse",
        "url": "postgresql://analyst:s3cret@warehouse.internal:5432/analytics",
        "exposures": {"table": "analytics.exposures", "columns": EXPOSURE_COLUMNS},
        "events": {"query": "SELECT * FROM tracks", "columns": EVENT_COLUMNS},
        **fields,
    }


def fields_of(response: Any) -> set[str]:
    return {error["field"] for error in response.json()["errors"]}


def test_a_data_source_round_trips_with_its_password_masked(
    client: TestClient, admin: Headers
) -> None:
    sent = body()
    created = client.post(SOURCES, json=sent, headers=admin)
    assert created.status_code == 201, created.text
    assert created.json()["url"] == "postgresql://analyst:***@warehouse.internal:5432/analytics"
    assert "s3cret" not in created.text
    read = client.get(f"{SOURCES}/{sent['key']}", headers=admin)
    assert read.json() == created.json()
    audit = client.get("/api/v1/audit", params={"resource_type": "data_source"}, headers=admin)
    assert audit.status_code == 200
    assert "s3cret" not in audit.text
    edited = client.patch(
        f"{SOURCES}/{sent['key']}",
        json={"name": "Renamed"},
        headers={**admin, "If-Match": read.headers["etag"]},
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["name"] == "Renamed"
    assert edited.json()["version"] == 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"url": "mysql://db/x"}, "body.url"),
        ({"url": "warehouse"}, "body.url"),
        (
            {"exposures": {"table": "e", "columns": {"unit": "u"}}},
            "body.exposures.columns.experiment",
        ),
        (
            {"events": {"table": "e", "columns": {**EVENT_COLUMNS, "colour": "c"}}},
            "body.events.columns",
        ),
        (
            {"events": {"table": "e", "query": "SELECT 1", "columns": EVENT_COLUMNS}},
            "body.events.table",
        ),
        ({"events": {"columns": EVENT_COLUMNS}}, "body.events.table"),
        ({"key": "-bad"}, "body.key"),
    ],
)
def test_a_mapping_the_analysis_cannot_use_is_refused_naming_the_field(
    client: TestClient, admin: Headers, change: dict[str, Any], field: str
) -> None:
    response = client.post(SOURCES, json=body(**change), headers=admin)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in fields_of(response)


def test_an_experiment_names_its_data_source_and_keeps_it_from_deletion(
    client: TestClient, admin: Headers
) -> None:
    sent = body()
    assert client.post(SOURCES, json=sent, headers=admin).status_code == 201
    metric = make_metric(client, admin, event_name="x", type="conversion")
    key = unique("exp")
    experiment = client.post(
        "/api/v1/experiments",
        json={
            "key": key,
            "name": key,
            "variants": [{"key": "a", "is_control": True}, {"key": "b"}],
            "metrics": [{"metric": metric, "role": "primary"}],
            "data_source": sent["key"],
            "analysis_method": "bayesian",
            "cuped_days": None,
            "breakdowns": ["country", "plan"],
        },
        headers=admin,
    )
    assert experiment.status_code == 201, experiment.text
    shown = experiment.json()
    assert (shown["data_source"], shown["analysis_method"], shown["cuped_days"]) == (
        sent["key"],
        "bayesian",
        None,
    )
    assert shown["breakdowns"] == ["country", "plan"]
    deleted = client.delete(f"{SOURCES}/{sent['key']}", headers={**admin, "If-Match": '"1"'})
    assert deleted.status_code == 409
    assert key in deleted.json()["detail"]
    unknown = client.post(
        "/api/v1/experiments",
        json={"key": unique("exp"), "name": "x", "data_source": "no-such-source"},
        headers=admin,
    )
    assert unknown.status_code == 422
    assert "body.data_source" in fields_of(unknown)


def test_only_admins_manage_data_sources_but_everyone_reads_them(
    client: TestClient, admin: Headers, experimenter: Headers, viewer: Headers
) -> None:
    sent = body()
    assert client.post(SOURCES, json=sent, headers=experimenter).status_code == 403
    assert client.post(SOURCES, json=sent, headers=admin).status_code == 201
    for reader in (experimenter, viewer):
        listed = client.get(SOURCES, headers=reader)
        assert listed.status_code == 200
        assert sent["key"] in {s["key"] for s in listed.json()["items"]}
