"""Metric definitions through the API: CRUD, the table's CHECK rules as named 422s,
filters, deletion refused while in use, versions and audit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import CheckConstraint

from tests.integration.conftest import unique
from verdict.server.models import Metric

Headers = dict[str, str]
METRICS = "/api/v1/metrics"


def metric_body(**fields: Any) -> dict[str, Any]:
    return {
        "key": unique("metric"),
        "name": "Revenue",
        "event_name": "purchase",
        "type": "revenue",
        **fields,
    }


def create(client: TestClient, headers: Headers, **fields: Any) -> dict[str, Any]:
    response = client.post(METRICS, json=metric_body(**fields), headers=headers)
    assert response.status_code == 201, response.text
    assert response.headers["etag"] == '"1"'
    created: dict[str, Any] = response.json()
    return created


def fields_of(response: Any) -> set[str]:
    return {error["field"] for error in response.json()["errors"]}


def audit_actions(client: TestClient, headers: Headers, metric_id: str) -> list[str]:
    entries = client.get(
        "/api/v1/audit",
        params={"resource_type": "metric", "resource_id": metric_id},
        headers=headers,
    ).json()["items"]
    return [e["action"] for e in entries]


def test_a_metric_is_created_read_edited_and_deleted(
    client: TestClient, admin: Headers, make_user: Callable[..., str]
) -> None:
    orders = create(client, admin, type="count", event_name="order_placed")
    owner = make_user("experimenter")
    created = create(
        client,
        admin,
        name="Revenue per order",
        description="Revenue over orders",
        type="ratio",
        denominator=orders["key"],
        aggregation="sum",
        value_path="$.amount",
        calculation="sum(amount) / count(orders)",
        lower_is_better=False,
        minimum_sample_size=1000,
        expected_effect=0.02,
        unit="USD",
        capping="percentile",
        cap_value=0.99,
        conversion_window_hours=72,
        conversion_delay_hours=1.5,
        tags=["revenue"],
        owner=owner,
    )
    url = f"{METRICS}/{created['key']}"
    read = client.get(url, headers=admin)
    assert read.json() == created
    assert read.headers["etag"] == '"1"'
    assert created["denominator"] == orders["key"]
    assert created["owner"] == owner
    assert created["conversion_window_hours"] == 72

    edited = client.patch(
        url,
        json={"aggregation": "mean", "percentile": None, "capping": "none", "cap_value": None},
        headers={**admin, "If-Match": '"1"'},
    )
    assert edited.status_code == 200, edited.text
    assert edited.headers["etag"] == '"2"'
    assert (edited.json()["aggregation"], edited.json()["percentile"]) == ("mean", None)
    assert edited.json()["name"] == "Revenue per order"  # unsent fields keep their value

    deleted = client.delete(url, headers={**admin, "If-Match": '"2"'})
    assert deleted.status_code == 204
    assert client.get(url, headers=admin).status_code == 404
    assert audit_actions(client, admin, created["id"]) == ["delete", "update", "create"]


def test_the_owner_defaults_to_the_caller(
    client: TestClient, make_user: Callable[..., str], login: Callable[[str], Headers]
) -> None:
    username = make_user("experimenter")
    assert create(client, login(username))["owner"] == username


def test_a_duplicate_key_is_a_conflict(client: TestClient, admin: Headers) -> None:
    body = metric_body()
    assert client.post(METRICS, json=body, headers=admin).status_code == 201
    again = client.post(METRICS, json=body, headers=admin)
    assert again.status_code == 409
    assert fields_of(again) == {"body.key"}


# Each CHECK constraint of the metrics table, and a request that would break it.
CHECK_CASES: dict[str, tuple[dict[str, Any], str]] = {
    "ck_metrics_key_identifier": ({"key": "1st"}, "body.key"),
    "ck_metrics_metric_type": ({"type": "rate"}, "body.type"),
    "ck_metrics_metric_aggregation": ({"aggregation": "average"}, "body.aggregation"),
    "ck_metrics_metric_capping": ({"capping": "soft"}, "body.capping"),
    "ck_metrics_ratio_has_denominator": ({"type": "ratio"}, "body.denominator"),
    "ck_metrics_denominator_not_self": (
        {"key": "self-divided", "type": "ratio", "denominator": "self-divided"},
        "body.denominator",
    ),
    "ck_metrics_percentile_fraction": ({"aggregation": "percentile"}, "body.percentile"),
    "ck_metrics_cap_value_for_capping": ({"capping": "absolute"}, "body.cap_value"),
    "ck_metrics_percentile_cap_fraction": (
        {"capping": "percentile", "cap_value": 1.5},
        "body.cap_value",
    ),
    "ck_metrics_conversion_window_positive": (
        {"conversion_window_hours": 0},
        "body.conversion_window_hours",
    ),
    "ck_metrics_conversion_delay_not_negative": (
        {"conversion_delay_hours": -1},
        "body.conversion_delay_hours",
    ),
    "ck_metrics_minimum_sample_size_not_negative": (
        {"minimum_sample_size": -1},
        "body.minimum_sample_size",
    ),
}


def test_every_check_constraint_of_the_table_has_a_case() -> None:
    names = {
        str(constraint.name)
        for constraint in Metric.__table__.constraints
        if isinstance(constraint, CheckConstraint)
    }
    assert names == set(CHECK_CASES)


@pytest.mark.parametrize("constraint", sorted(CHECK_CASES))
def test_each_check_constraint_is_reported_as_a_422_naming_the_field(
    client: TestClient, admin: Headers, constraint: str
) -> None:
    change, field = CHECK_CASES[constraint]
    response = client.post(METRICS, json=metric_body(**change), headers=admin)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in fields_of(response), response.json()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"percentile": 0}, "body.percentile"),
        ({"aggregation": "percentile", "percentile": 1}, "body.percentile"),
        ({"percentile": 0.5}, "body.percentile"),  # without percentile aggregation
        ({"cap_value": 0, "capping": "absolute"}, "body.cap_value"),
        ({"cap_value": 10}, "body.cap_value"),  # without capping
        ({"type": "ratio", "denominator": "no-such-metric"}, "body.denominator"),
        ({"denominator": "anything"}, "body.denominator"),  # not a ratio
        ({"owner": "ghost"}, "body.owner"),
        ({"name": ""}, "body.name"),
        ({"event_name": "x" * 256}, "body.event_name"),
        ({"expected_effect": "NaN"}, "body.expected_effect"),
        ({"tags": [""]}, "body.tags.0"),
        ({"colour": "red"}, "body.colour"),
    ],
)
def test_invalid_metric_fields_are_named(
    client: TestClient, admin: Headers, change: dict[str, Any], field: str
) -> None:
    response = client.post(METRICS, json=metric_body(**change), headers=admin)
    assert response.status_code == 422, response.text
    assert field in fields_of(response)


def test_a_denominator_must_not_itself_be_a_ratio(client: TestClient, admin: Headers) -> None:
    base = create(client, admin, type="count")
    ratio = create(client, admin, type="ratio", denominator=base["key"])
    nested = client.post(
        METRICS, json=metric_body(type="ratio", denominator=ratio["key"]), headers=admin
    )
    assert nested.status_code == 422
    assert fields_of(nested) == {"body.denominator"}
    # The denominator cannot turn into a ratio while a ratio divides by it.
    turned = client.patch(
        f"{METRICS}/{base['key']}",
        json={"type": "ratio", "denominator": ratio["key"]},
        headers={**admin, "If-Match": '"1"'},
    )
    assert turned.status_code == 422
    assert "body.type" in fields_of(turned)


def test_edits_check_the_rules_over_the_stored_metric_and_write_nothing_when_refused(
    client: TestClient, admin: Headers
) -> None:
    created = create(client, admin)
    url = f"{METRICS}/{created['key']}"
    headers = {**admin, "If-Match": '"1"'}
    cases = [
        ({"type": "ratio"}, "body.denominator"),
        ({"capping": "absolute"}, "body.cap_value"),
        ({"aggregation": "percentile"}, "body.percentile"),
        ({"name": None}, "body.name"),
        ({"archived": None}, "body.archived"),
        ({"key": "renamed"}, "body.key"),
    ]
    for change, field in cases:
        response = client.patch(url, json=change, headers=headers)
        assert response.status_code == 422, (change, response.text)
        assert field in fields_of(response)
    assert client.get(url, headers=admin).json() == created
    assert audit_actions(client, admin, created["id"]) == ["create"]


def test_of_two_conflicting_edits_the_second_is_refused(client: TestClient, admin: Headers) -> None:
    created = create(client, admin)
    url = f"{METRICS}/{created['key']}"
    first = client.patch(url, json={"unit": "EUR"}, headers={**admin, "If-Match": '"1"'})
    assert first.status_code == 200
    second = client.patch(url, json={"unit": "USD"}, headers={**admin, "If-Match": '"1"'})
    assert second.status_code == 412
    assert client.patch(url, json={"unit": "USD"}, headers=admin).status_code == 428
    assert client.get(url, headers=admin).json()["unit"] == "EUR"


def test_a_metric_in_use_cannot_be_deleted(client: TestClient, admin: Headers) -> None:
    used = create(client, admin)
    experiments = []
    for _ in range(2):
        body = {
            "key": unique("exp"),
            "name": "Uses the metric",
            "metrics": [{"metric": used["key"], "role": "primary"}],
        }
        response = client.post("/api/v1/experiments", json=body, headers=admin)
        assert response.status_code == 201, response.text
        experiments.append(body["key"])
    refused = client.delete(f"{METRICS}/{used['key']}", headers={**admin, "If-Match": '"1"'})
    assert refused.status_code == 409
    assert all(key in refused.json()["detail"] for key in experiments)
    assert client.get(f"{METRICS}/{used['key']}", headers=admin).status_code == 200

    base = create(client, admin, type="count")
    create(client, admin, type="ratio", denominator=base["key"])
    divided = client.delete(f"{METRICS}/{base['key']}", headers={**admin, "If-Match": '"1"'})
    assert divided.status_code == 409
    assert "denominator" in divided.json()["detail"]
    assert audit_actions(client, admin, used["id"]) == ["create"]


def test_metrics_are_listed_with_filters(
    client: TestClient, admin: Headers, make_user: Callable[..., str]
) -> None:
    tag = unique("tag")
    owner = make_user("experimenter")
    a = create(client, admin, key=f"{tag}-a", type="count", tags=[tag], owner=owner)
    b = create(client, admin, key=f"{tag}-b", tags=[tag, "money"], description="Gross take")
    c = create(client, admin, key=f"{tag}-c", tags=[tag], archived=True)

    def listed(**params: Any) -> list[str]:
        response = client.get(METRICS, params={"tag": tag, **params}, headers=admin)
        assert response.status_code == 200, response.text
        return [item["key"] for item in response.json()["items"]]

    assert listed() == [a["key"], b["key"]]
    assert listed(archived="true") == [c["key"]]
    assert listed(type="count") == [a["key"]]
    assert listed(owner=owner) == [a["key"]]
    assert listed(q="gross TAKE") == [b["key"]]
    assert listed(tag="money", q=tag) == [b["key"]]
    assert listed(sort="-key") == [b["key"], a["key"]]
    page = client.get(METRICS, params={"tag": tag, "limit": 1}, headers=admin).json()
    assert [item["key"] for item in page["items"]] == [a["key"]]
    rest = client.get(
        METRICS, params={"tag": tag, "limit": 1, "cursor": page["next_cursor"]}, headers=admin
    ).json()
    assert [item["key"] for item in rest["items"]] == [b["key"]]


def test_an_archived_metric_cannot_be_linked_to_a_new_experiment(
    client: TestClient, admin: Headers
) -> None:
    metric = create(client, admin, archived=True)
    body = {"key": unique("exp"), "name": "x", "metrics": [{"metric": metric["key"]}]}
    response = client.post("/api/v1/experiments", json=body, headers=admin)
    assert response.status_code == 422
    assert fields_of(response) == {"body.metrics.0.metric"}


def test_viewers_read_metrics_but_cannot_change_them(
    client: TestClient, admin: Headers, viewer: Headers
) -> None:
    created = create(client, admin)
    url = f"{METRICS}/{created['key']}"
    assert client.get(url, headers=viewer).status_code == 200
    assert client.get(METRICS, headers=viewer).status_code == 200
    assert client.post(METRICS, json=metric_body(), headers=viewer).status_code == 403
    edit = client.patch(url, json={"unit": "x"}, headers={**viewer, "If-Match": '"1"'})
    assert edit.status_code == 403
    assert client.delete(url, headers={**viewer, "If-Match": '"1"'}).status_code == 403


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"value_path": "order..total"}, "body.value_path"),
        ({"value_path": "$['order']"}, "body.value_path"),
        ({"value_path": "order total"}, "body.value_path"),
    ],
)
def test_a_value_path_the_analysis_cannot_read_is_refused_at_save(
    client: TestClient, admin: Headers, fields: dict[str, Any], field: str
) -> None:
    response = client.post(METRICS, json=metric_body(**fields), headers=admin)
    assert response.status_code == 422, response.text
    assert field in fields_of(response)


def test_a_dotted_value_path_with_or_without_the_root_sign_is_kept(
    client: TestClient, admin: Headers
) -> None:
    for path in ("order.total", "$.order.total"):
        response = client.post(METRICS, json=metric_body(value_path=path), headers=admin)
        assert response.status_code == 201, response.text
        assert response.json()["value_path"] == path


def test_a_ratio_cannot_take_a_percentile(client: TestClient, admin: Headers) -> None:
    orders = client.post(METRICS, json=metric_body(), headers=admin).json()["key"]
    response = client.post(
        METRICS,
        json=metric_body(
            type="ratio", denominator=orders, aggregation="percentile", percentile=0.9
        ),
        headers=admin,
    )
    assert response.status_code == 422, response.text
    assert "body.aggregation" in fields_of(response)
