"""Experiments through the API: create in one request, read, list, edit, delete, audit.

Lifecycle actions, start rules and phases are in ``test_experiments_lifecycle.py``,
which reuses the helpers defined here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import CheckConstraint

from tests.integration.conftest import unique
from verdict.server.models import Experiment, ExperimentMetric, Segment, Variant

Headers = dict[str, str]
EXPERIMENTS = "/api/v1/experiments"


# -- helpers shared with the lifecycle tests ------------------------------------------


def make_metric(client: TestClient, headers: Headers, **fields: Any) -> str:
    body = {
        "key": unique("metric"),
        "name": "Purchases",
        "event_name": "purchase",
        "type": "conversion",
        **fields,
    }
    response = client.post("/api/v1/metrics", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return str(body["key"])


def make_segment(api_app: FastAPI, conditions: dict[str, Any] | None = None) -> str:
    """A segment written straight to the database (its API belongs to another domain)."""
    key = unique("segment")
    with api_app.state.session_factory() as session:
        session.add(Segment(key=key, name=key, conditions=conditions or {"beta": True}))
        session.commit()
    return key


def experiment_body(metric: str, **fields: Any) -> dict[str, Any]:
    """A body that passes every start rule."""
    return {
        "key": unique("exp"),
        "name": "Checkout button colour",
        "variants": [
            {"key": "blue", "is_control": True, "weight": 0.5},
            {"key": "green", "weight": 0.5},
        ],
        "metrics": [{"metric": metric, "role": "primary"}],
        **fields,
    }


def create(client: TestClient, headers: Headers, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(EXPERIMENTS, json=body, headers=headers)
    assert response.status_code == 201, response.text
    assert response.headers["etag"] == f'"{response.json()["version"]}"'
    created: dict[str, Any] = response.json()
    return created


def etag_of(client: TestClient, headers: Headers, key: str) -> str:
    response = client.get(f"{EXPERIMENTS}/{key}", headers=headers)
    assert response.status_code == 200, response.text
    return response.headers["etag"]


def act(client: TestClient, headers: Headers, key: str, action: str, **body: Any) -> Any:
    """Run a lifecycle action with the current ETag; return the response."""
    etag = etag_of(client, headers, key)
    return client.post(
        f"{EXPERIMENTS}/{key}/{action}",
        json=body or None,
        headers={**headers, "If-Match": etag},
    )


# The actions that lead from draft to each status.
ROUTE_TO = {
    "draft": [],
    "running": ["start"],
    "paused": ["start", "pause"],
    "completed": ["start", "complete"],
    "archived": ["archive"],
}


def experiment_in(client: TestClient, headers: Headers, status: str, metric: str) -> str:
    key = str(create(client, headers, experiment_body(metric))["key"])
    for action in ROUTE_TO[status]:
        response = act(client, headers, key, action)
        assert response.status_code == 200, response.text
    return key


def history(client: TestClient, headers: Headers, key: str) -> list[dict[str, Any]]:
    response = client.get(f"{EXPERIMENTS}/{key}/history", params={"limit": 200}, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def fields_of(response: Any) -> set[str]:
    return {error["field"] for error in response.json()["errors"]}


@pytest.fixture
def metric(client: TestClient, admin: Headers) -> str:
    return make_metric(client, admin)


# -- create and read ------------------------------------------------------------------


def test_an_experiment_is_created_with_variants_metrics_and_segments_in_one_request(
    client: TestClient, admin: Headers, api_app: FastAPI, make_user: Callable[..., str]
) -> None:
    primary = make_metric(client, admin)
    guardrail = make_metric(client, admin, type="duration", aggregation="mean")
    included, excluded = make_segment(api_app), make_segment(api_app)
    owner = make_user("experimenter")
    body = experiment_body(
        primary,
        description="Green stands out",
        hypothesis="A green button raises purchases by 2%",
        type="a_b",
        target="checkout-page",
        environment="production",
        targeting={"country": {"$in": ["US", "CA"]}, "$inSegment": included},
        include_segments=[included],
        exclude_segments=[excluded],
        coverage=0.8,
        layer="checkout",
        bucket_start=0,
        bucket_end=5000,
        hash_attribute="account_id",
        hash_seed="button-v1",
        minimum_sample_size=4000,
        confidence_level=0.9,
        tags=["checkout", "ui"],
        owner=owner,
        start_at="2030-01-01T00:00:00Z",
        end_at="2030-02-01T00:00:00+01:00",
        metrics=[
            {"metric": primary, "role": "primary"},
            {"metric": guardrail, "role": "guardrail", "non_inferiority_margin": 0.05},
        ],
    )
    body["variants"][1].update(
        label="Green",
        description="The new colour",
        configuration={"color": "#00CC66"},
        url="https://example.com/green",
        response_template="Buy {item}",
        system_prompt="Be brief.",
        config_overrides={"temperature": 0.2},
    )
    created = create(client, admin, body)
    read = client.get(f"{EXPERIMENTS}/{body['key']}", headers=admin)
    assert read.status_code == 200
    assert read.json() == created
    assert created["status"] == "draft"
    assert created["allowed_actions"] == ["start", "archive"]
    assert created["owner"] == owner
    assert created["environment"] == "production"
    assert created["include_segments"] == [included]
    assert created["exclude_segments"] == [excluded]
    assert created["end_at"] == "2030-01-31T23:00:00Z"
    assert [(m["metric"], m["role"], m["non_inferiority_margin"]) for m in created["metrics"]] == [
        (primary, "primary", None),
        (guardrail, "guardrail", 0.05),
    ]
    green = created["variants"][1]
    assert green["configuration"] == {"color": "#00CC66"}
    assert green["config_overrides"] == {"temperature": 0.2}
    assert green["system_prompt"] == "Be brief."
    assert created["phases"] == []
    assert created["winner"] is None


def test_the_owner_defaults_to_the_caller_and_weights_default_to_an_even_split(
    client: TestClient, make_user: Callable[..., str], login: Callable[[str], Headers]
) -> None:
    username = make_user("experimenter")
    headers = login(username)
    metric = make_metric(client, headers)
    body = experiment_body(metric)
    body["variants"] = [{"key": "a", "is_control": True}, {"key": "b"}, {"key": "c"}]
    created = create(client, headers, body)
    assert created["owner"] == username
    assert [v["weight"] for v in created["variants"]] == pytest.approx([1 / 3] * 3)
    body = experiment_body(metric)
    body["variants"] = [{"key": "a", "is_control": True, "weight": 0.5}, {"key": "b"}, {"key": "c"}]
    assert [v["weight"] for v in create(client, headers, body)["variants"]] == [0.5, 0.25, 0.25]


def test_a_duplicate_key_is_a_conflict(client: TestClient, admin: Headers, metric: str) -> None:
    body = experiment_body(metric)
    create(client, admin, body)
    again = client.post(EXPERIMENTS, json=body, headers=admin)
    assert again.status_code == 409
    assert fields_of(again) == {"body.key"}


def test_an_unknown_experiment_is_404(client: TestClient, admin: Headers) -> None:
    assert client.get(f"{EXPERIMENTS}/no-such-thing", headers=admin).status_code == 404


# -- validation: every rule the database checks is a 422 naming the field first ---------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"key": "9-starts-with-a-digit"}, "body.key"),
        ({"key": "has space"}, "body.key"),
        ({"name": ""}, "body.name"),
        ({"coverage": 1.5}, "body.coverage"),
        ({"coverage": -0.1}, "body.coverage"),
        ({"confidence_level": 1}, "body.confidence_level"),
        ({"minimum_sample_size": -1}, "body.minimum_sample_size"),
        ({"bucket_start": 5000, "bucket_end": 5000}, "body.bucket_end"),
        ({"bucket_end": 10001}, "body.bucket_end"),
        ({"type": "lottery"}, "body.type"),
        ({"start_at": "2030-01-02T00:00:00Z", "end_at": "2030-01-01T00:00:00Z"}, "body.end_at"),
        ({"start_at": "2030-01-02T00:00:00"}, "body.start_at"),
        ({"environment": "mars"}, "body.environment"),
        ({"owner": "nobody-by-that-name"}, "body.owner"),
        ({"include_segments": ["no-such-segment"]}, "body.include_segments.0"),
        ({"targeting": {"age": {"$gt": []}}}, "body.targeting.age.$gt"),
        ({"targeting": {"$or": [{"a": 1}, {"b": {"$nope": 1}}]}}, "body.targeting.$or[1].b.$nope"),
        ({"targeting": {"$inSegment": "no-such-segment"}}, "body.targeting.$inSegment"),
        ({"colour": "green"}, "body.colour"),
    ],
)
def test_invalid_experiment_fields_are_named(
    client: TestClient, admin: Headers, metric: str, change: dict[str, Any], field: str
) -> None:
    response = client.post(EXPERIMENTS, json=experiment_body(metric, **change), headers=admin)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in fields_of(response), response.json()


@pytest.mark.parametrize(
    ("variants", "field"),
    [
        ([{"key": "a", "weight": 1.5}], "body.variants.0.weight"),
        ([{"key": "a", "weight": -0.5}], "body.variants.0.weight"),
        ([{"key": ""}], "body.variants.0.key"),
        ([{"key": "a"}, {"key": "a"}], "body.variants.1.key"),
        (
            [{"key": "a", "is_control": True}, {"key": "b", "is_control": True}],
            "body.variants.1.is_control",
        ),
        ([{"key": "a", "shade": "dark"}], "body.variants.0.shade"),
    ],
)
def test_invalid_variants_are_named(
    client: TestClient, admin: Headers, metric: str, variants: list[Any], field: str
) -> None:
    response = client.post(
        EXPERIMENTS, json=experiment_body(metric, variants=variants), headers=admin
    )
    assert response.status_code == 422, response.text
    assert field in fields_of(response)


def test_invalid_metric_links_and_segments_are_named(
    client: TestClient, admin: Headers, api_app: FastAPI
) -> None:
    first, second = make_metric(client, admin), make_metric(client, admin)
    archived = make_metric(client, admin, archived=True)
    segment = make_segment(api_app)
    body = experiment_body(
        first,
        metrics=[
            {"metric": first, "role": "primary"},
            {"metric": second, "role": "primary"},
            {"metric": first, "role": "secondary"},
            {"metric": "no-such-metric"},
            {"metric": archived},
            {"metric": second, "role": "guardrail", "non_inferiority_margin": -1},
        ],
        include_segments=[segment],
        exclude_segments=[segment],
    )
    response = client.post(EXPERIMENTS, json=body, headers=admin)
    assert response.status_code == 422
    assert fields_of(response) == {"body.metrics.5.non_inferiority_margin"}  # schema first
    body["metrics"].pop()
    response = client.post(EXPERIMENTS, json=body, headers=admin)
    assert response.status_code == 422
    assert fields_of(response) == {
        "body.metrics.1.role",
        "body.metrics.2.metric",
        "body.metrics.3.metric",
        "body.metrics.4.metric",
        "body.exclude_segments.0",
    }
    assert "no-such-metric" in response.json()["detail"]
    assert client.get(f"{EXPERIMENTS}/{body['key']}", headers=admin).status_code == 404


# Constraints the API cannot be asked to break: kept by the server or by analysis.
SERVER_MANAGED = {
    "ck_experiments_completed_after_started",
    "ck_experiments_significance_fraction",
    "ck_experiments_experiment_status",
    "ck_variants_conversion_rate_fraction",
    "ck_variants_conversions_within_impressions",
    "ck_variants_impressions_not_negative",
    "ck_variants_interval_ordered",
    "ck_experiment_metrics_metric_role",  # an enum: the schema admits its values only
}
# Each remaining CHECK, and a request that would break it.
CHECK_CASES: dict[str, tuple[dict[str, Any], str]] = {
    "ck_experiments_key_identifier": ({"key": "-x"}, "body.key"),
    "ck_experiments_coverage_fraction": ({"coverage": 2}, "body.coverage"),
    "ck_experiments_bucket_range": ({"bucket_start": 9, "bucket_end": 3}, "body.bucket_end"),
    "ck_experiments_minimum_sample_size_not_negative": (
        {"minimum_sample_size": -5},
        "body.minimum_sample_size",
    ),
    "ck_experiments_end_after_start": (
        {"start_at": "2031-01-01T00:00:00Z", "end_at": "2031-01-01T00:00:00Z"},
        "body.end_at",
    ),
    "ck_experiments_confidence_level_fraction": ({"confidence_level": 0}, "body.confidence_level"),
    "ck_experiments_experiment_type": ({"type": "a/b"}, "body.type"),
    "ck_experiments_analysis_method": ({"analysis_method": "guess"}, "body.analysis_method"),
    "ck_experiments_cuped_days_positive": ({"cuped_days": 0}, "body.cuped_days"),
    "ck_experiments_bandit_update_minutes_range": (
        {"bandit_update_minutes": 0},
        "body.bandit_update_minutes",
    ),
    "ck_experiments_bandit_floor_range": ({"bandit_floor": 0}, "body.bandit_floor"),
    "ck_experiments_bandit_burn_in_not_negative": ({"bandit_burn_in": -1}, "body.bandit_burn_in"),
    "ck_experiments_bandit_top_two_fraction": ({"bandit_top_two": 1.5}, "body.bandit_top_two"),
    "ck_variants_weight_fraction": (
        {"variants": [{"key": "a", "weight": 2}]},
        "body.variants.0.weight",
    ),
    "ck_experiment_metrics_margin_not_negative": (
        {"metrics": [{"metric": "m", "non_inferiority_margin": -0.1}]},
        "body.metrics.0.non_inferiority_margin",
    ),
}


def test_every_check_constraint_a_request_could_break_has_a_422_case() -> None:
    names = {
        str(constraint.name)
        for model in (Experiment, Variant, ExperimentMetric)
        for constraint in model.__table__.constraints
        if isinstance(constraint, CheckConstraint)
    }
    assert names - SERVER_MANAGED == set(CHECK_CASES)


@pytest.mark.parametrize("constraint", sorted(CHECK_CASES))
def test_each_check_constraint_is_reported_as_a_422_naming_the_field(
    client: TestClient, admin: Headers, metric: str, constraint: str
) -> None:
    change, field = CHECK_CASES[constraint]
    response = client.post(EXPERIMENTS, json=experiment_body(metric, **change), headers=admin)
    assert response.status_code == 422, response.text
    assert field in fields_of(response)


def test_every_problem_of_a_request_is_listed_at_once(
    client: TestClient, admin: Headers, metric: str
) -> None:
    body = experiment_body(
        metric,
        environment="mars",
        owner="ghost",
        bucket_start=10,
        bucket_end=5,
        targeting={"x": {"$bogus": 1}},
        variants=[{"key": "a"}, {"key": "a"}],
    )
    since = dt.datetime.now(dt.UTC).isoformat()
    response = client.post(EXPERIMENTS, json=body, headers=admin)
    assert response.status_code == 422
    written = client.get(
        "/api/v1/audit", params={"resource_type": "experiment", "since": since}, headers=admin
    )
    assert written.json()["items"] == []
    assert fields_of(response) == {
        "body.environment",
        "body.owner",
        "body.bucket_end",
        "body.targeting.x.$bogus",
        "body.variants.1.key",
    }


# -- list -----------------------------------------------------------------------------


def test_experiments_are_listed_with_filters_sort_and_cursor_paging(
    client: TestClient, admin: Headers, metric: str, make_user: Callable[..., str]
) -> None:
    tag = unique("tag")
    owner = make_user("experimenter")
    keys = []
    for index, environment in enumerate(["production", "staging", None]):
        body = experiment_body(
            metric,
            key=f"{tag}-{index}",
            name=f"Listing {index}",
            description="needle in a haystack" if index == 1 else None,
            tags=[tag, "all"] if index else [tag],
            environment=environment,
            type="multivariate" if index == 2 else "a_b",
            owner=owner if index == 0 else None,
        )
        keys.append(create(client, admin, body)["key"])
    assert act(client, admin, keys[1], "start").status_code == 200

    def listed(**params: Any) -> list[str]:
        response = client.get(EXPERIMENTS, params={"tag": tag, **params}, headers=admin)
        assert response.status_code == 200, response.text
        return [item["key"] for item in response.json()["items"]]

    assert listed(sort="key") == keys
    assert listed(sort="-key") == keys[::-1]
    assert listed(status="running") == [keys[1]]
    assert listed(status="draft", sort="key") == [keys[0], keys[2]]
    assert listed(type="multivariate") == [keys[2]]
    assert listed(owner=owner) == [keys[0]]
    assert listed(environment="staging") == [keys[1]]
    assert listed(q="NEEDLE") == [keys[1]]
    assert listed(q=keys[2]) == [keys[2]]
    assert listed(q="100%") == []
    assert set(listed(tag="all")) >= {keys[1], keys[2]}

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"tag": tag, "sort": "name", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.get(EXPERIMENTS, params=params, headers=admin).json()
        seen += [item["key"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == keys
    newest_first = client.get(EXPERIMENTS, params={"tag": tag, "limit": 2}, headers=admin).json()
    last = client.get(
        EXPERIMENTS,
        params={"tag": tag, "limit": 2, "cursor": newest_first["next_cursor"]},
        headers=admin,
    ).json()
    assert [i["key"] for i in newest_first["items"] + last["items"]] == keys[::-1]

    bad_sort = client.get(EXPERIMENTS, params={"sort": "colour"}, headers=admin)
    assert bad_sort.status_code == 422
    assert fields_of(bad_sort) == {"query.sort"}
    assert client.get(EXPERIMENTS, params={"status": "active"}, headers=admin).status_code == 422


# -- edit -----------------------------------------------------------------------------


def test_a_draft_can_change_anything_and_the_etag_moves(
    client: TestClient, admin: Headers, metric: str, api_app: FastAPI
) -> None:
    created = create(client, admin, experiment_body(metric))
    key = created["key"]
    url = f"{EXPERIMENTS}/{key}"
    other = make_metric(client, admin)
    segment = make_segment(api_app)
    new_key = unique("renamed")
    blue, green = created["variants"]
    response = client.patch(
        url,
        json={
            "key": new_key,
            "name": "Renamed",
            "hash_seed": "seed-2",
            "environment": "staging",
            "exclude_segments": [segment],
            "targeting": {"plan": "pro"},
            # Swap the keys by id, move the control, add a third variant.
            "variants": [
                {"id": blue["id"], "key": "green", "is_control": False, "weight": 0.25},
                {"id": green["id"], "key": "blue", "is_control": True, "weight": 0.25},
                {"key": "red"},
            ],
            "metrics": [{"metric": other, "role": "primary"}, {"metric": metric}],
        },
        headers={**admin, "If-Match": f'"{created["version"]}"'},
    )
    assert response.status_code == 200, response.text
    edited = response.json()
    assert response.headers["etag"] == f'"{edited["version"]}"' != f'"{created["version"]}"'
    assert edited["key"] == new_key
    assert client.get(url, headers=admin).status_code == 404
    assert [(v["id"], v["key"], v["is_control"], v["weight"]) for v in edited["variants"]] == [
        (blue["id"], "green", False, 0.25),
        (green["id"], "blue", True, 0.25),
        (edited["variants"][2]["id"], "red", False, 0.5),
    ]
    assert [(m["metric"], m["role"]) for m in edited["metrics"]] == [
        (other, "primary"),
        (metric, "secondary"),
    ]
    assert edited["exclude_segments"] == [segment]
    assert edited["environment"] == "staging"
    # Dropping a variant, a metric and a segment from a draft removes them.
    response = client.patch(
        f"{EXPERIMENTS}/{new_key}",
        json={
            "variants": [{"key": "blue"}, {"key": "green"}],
            "metrics": [{"metric": metric, "role": "primary"}],
            "exclude_segments": [],
            "environment": None,
        },
        headers={**admin, "If-Match": response.headers["etag"]},
    )
    assert response.status_code == 200, response.text
    assert [v["key"] for v in response.json()["variants"]] == ["blue", "green"]
    assert [m["metric"] for m in response.json()["metrics"]] == [metric]
    assert response.json()["exclude_segments"] == []
    assert response.json()["environment"] is None


def test_edits_need_the_current_version(client: TestClient, admin: Headers, metric: str) -> None:
    key = create(client, admin, experiment_body(metric))["key"]
    url = f"{EXPERIMENTS}/{key}"
    missing = client.patch(url, json={"name": "x"}, headers=admin)
    assert missing.status_code == 428
    assert fields_of(missing) == {"header.If-Match"}
    assert client.delete(url, headers=admin).status_code == 428
    assert client.post(f"{url}/start", headers=admin).status_code == 428


def test_of_two_conflicting_edits_the_second_is_refused_and_the_first_survives(
    client: TestClient,
    admin: Headers,
    metric: str,
    make_user: Callable[..., str],
    login: Callable[[str], Headers],
) -> None:
    key = create(client, admin, experiment_body(metric))["key"]
    url = f"{EXPERIMENTS}/{key}"
    alice, bob = login(make_user("experimenter")), login(make_user("experimenter"))
    alice_etag = client.get(url, headers=alice).headers["etag"]
    bob_etag = client.get(url, headers=bob).headers["etag"]
    assert alice_etag == bob_etag
    weights = [{"key": "blue", "weight": 0.3}, {"key": "green", "weight": 0.7}]
    first = client.patch(
        url,
        json={"name": "Alice's name", "variants": weights},
        headers={**alice, "If-Match": alice_etag},
    )
    assert first.status_code == 200, first.text
    second = client.patch(url, json={"name": "Bob's name"}, headers={**bob, "If-Match": bob_etag})
    assert second.status_code == 412
    assert fields_of(second) == {"header.If-Match"}
    stale_action = client.post(f"{url}/start", headers={**bob, "If-Match": bob_etag})
    assert stale_action.status_code == 412
    stored = client.get(url, headers=admin).json()
    assert stored["name"] == "Alice's name"
    assert [v["weight"] for v in stored["variants"]] == [0.3, 0.7]
    assert stored["status"] == "draft"
    assert [e["action"] for e in history(client, admin, key)] == ["update", "create"]


def test_edit_validation_names_fields_and_changes_nothing(
    client: TestClient, admin: Headers, metric: str
) -> None:
    created = create(client, admin, experiment_body(metric))
    url = f"{EXPERIMENTS}/{created['key']}"
    headers = {**admin, "If-Match": f'"{created["version"]}"'}
    cases = [
        ({"name": None}, "body.name"),
        ({"coverage": 3}, "body.coverage"),
        ({"bucket_start": 10000}, "body.bucket_end"),
        ({"end_at": "2020-01-01T00:00:00Z", "start_at": "2021-01-01T00:00:00Z"}, "body.end_at"),
        ({"targeting": {"$and": {}}}, "body.targeting.$and"),
        (
            {"variants": [{"key": "blue", "is_control": True}, {"key": "x", "is_control": True}]},
            "body.variants.1.is_control",
        ),
        (
            {"variants": [{"id": "00000000-0000-4000-8000-000000000000", "key": "q"}]},
            "body.variants.0.id",
        ),
        ({"metrics": [{"metric": "nope"}]}, "body.metrics.0.metric"),
        ({"include_segments": ["nope"]}, "body.include_segments.0"),
    ]
    for change, field in cases:
        response = client.patch(url, json=change, headers=headers)
        assert response.status_code == 422, (change, response.text)
        assert field in fields_of(response), (change, response.json())
    assert client.get(url, headers=admin).json() == created
    assert [e["action"] for e in history(client, admin, created["key"])] == ["create"]


def test_a_completed_experiment_keeps_its_allocation_and_an_archived_one_is_read_only(
    client: TestClient, admin: Headers, metric: str
) -> None:
    key = experiment_in(client, admin, "completed", metric)
    url = f"{EXPERIMENTS}/{key}"
    stored = client.get(url, headers=admin)
    headers = {**admin, "If-Match": stored.headers["etag"]}
    refused = client.patch(url, json={"coverage": 0.5, "hash_seed": "x"}, headers=headers)
    assert refused.status_code == 409
    assert fields_of(refused) == {"body.coverage", "body.hash_seed"}
    other = make_metric(client, admin)
    allowed = client.patch(
        url,
        json={
            "description": "Green won",
            "metrics": [{"metric": metric, "role": "primary"}, {"metric": other}],
            "coverage": stored.json()["coverage"],  # unchanged values are not changes
        },
        headers=headers,
    )
    assert allowed.status_code == 200, allowed.text
    assert act(client, admin, key, "archive").status_code == 200
    archived = client.patch(
        url, json={"description": "x"}, headers={**admin, "If-Match": etag_of(client, admin, key)}
    )
    assert archived.status_code == 409
    assert "archived" in archived.json()["detail"]


# -- delete ---------------------------------------------------------------------------


def test_only_drafts_can_be_deleted(client: TestClient, admin: Headers, metric: str) -> None:
    draft = create(client, admin, experiment_body(metric))
    url = f"{EXPERIMENTS}/{draft['key']}"
    deleted = client.delete(url, headers={**admin, "If-Match": f'"{draft["version"]}"'})
    assert deleted.status_code == 204
    assert client.get(url, headers=admin).status_code == 404
    entries = client.get(
        "/api/v1/audit",
        params={"resource_type": "experiment", "resource_id": draft["id"]},
        headers=admin,
    ).json()["items"]
    assert [e["action"] for e in entries] == ["delete", "create"]
    assert entries[0]["before"]["key"] == draft["key"]
    for status in ("running", "paused", "completed", "archived"):
        key = experiment_in(client, admin, status, metric)
        response = client.delete(
            f"{EXPERIMENTS}/{key}", headers={**admin, "If-Match": etag_of(client, admin, key)}
        )
        assert response.status_code == 409, status
        assert status in response.json()["detail"]


# -- audit and permissions --------------------------------------------------------------


def test_changes_are_audited_with_before_and_after_and_history_pages_newest_first(
    client: TestClient, admin: Headers, metric: str
) -> None:
    key = create(client, admin, experiment_body(metric))["key"]
    url = f"{EXPERIMENTS}/{key}"
    client.patch(
        url, json={"name": "Second"}, headers={**admin, "If-Match": etag_of(client, admin, key)}
    )
    act(client, admin, key, "start")
    act(client, admin, key, "pause")
    entries = history(client, admin, key)
    assert [e["action"] for e in entries] == ["pause", "start", "update", "create"]
    update = entries[2]
    assert update["before"]["name"] == "Checkout button colour"
    assert update["after"]["name"] == "Second"
    assert entries[1]["after"]["status"] == "running"
    assert entries[3]["after"]["variants"][0]["key"] == "blue"
    assert all(e["resource_type"] == "experiment" for e in entries)
    first = client.get(f"{url}/history", params={"limit": 3}, headers=admin).json()
    rest = client.get(
        f"{url}/history", params={"limit": 3, "cursor": first["next_cursor"]}, headers=admin
    ).json()
    assert [e["id"] for e in first["items"] + rest["items"]] == [e["id"] for e in entries]
    assert rest["next_cursor"] is None
    assert client.get(f"{EXPERIMENTS}/nope/history", headers=admin).status_code == 404


def test_viewers_read_experiments_but_cannot_change_them(
    client: TestClient, admin: Headers, viewer: Headers, metric: str
) -> None:
    key = create(client, admin, experiment_body(metric))["key"]
    url = f"{EXPERIMENTS}/{key}"
    assert client.get(url, headers=viewer).status_code == 200
    assert client.get(f"{url}/history", headers=viewer).status_code == 200
    assert client.get(f"{url}/phases", headers=viewer).status_code == 200
    etag = etag_of(client, admin, key)
    assert client.post(EXPERIMENTS, json=experiment_body(metric), headers=viewer).status_code == 403
    assert (
        client.patch(url, json={"name": "x"}, headers={**viewer, "If-Match": etag}).status_code
        == 403
    )
    assert client.post(f"{url}/start", headers={**viewer, "If-Match": etag}).status_code == 403
    assert client.delete(url, headers={**viewer, "If-Match": etag}).status_code == 403


def test_dates_come_back_as_utc(client: TestClient, admin: Headers, metric: str) -> None:
    soon = dt.datetime(2031, 5, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    created = create(client, admin, experiment_body(metric, start_at=soon.isoformat()))
    assert created["start_at"] == "2031-05-01T10:00:00Z"


def test_qa_forcing_names_variants_of_the_experiment(
    client: TestClient, admin: Headers, metric: str
) -> None:
    body = experiment_body(metric, forced_variants={"qa-1": "green", "qa-2": "purple"})
    unknown = client.post(EXPERIMENTS, json=body, headers=admin)
    assert unknown.status_code == 422
    assert fields_of(unknown) == {"body.forced_variants.qa-2"}
    body["forced_variants"] = {"qa-1": "green", "qa-2": "blue"}
    created = create(client, admin, body)
    assert created["forced_variants"] == {"qa-1": "green", "qa-2": "blue"}
    url = f"{EXPERIMENTS}/{created['key']}"
    # Removing a variant that a unit is forced into is refused until the forcing goes.
    dropped = client.patch(
        url,
        json={"variants": [{"key": "blue", "weight": 1.0}]},
        headers={**admin, "If-Match": etag_of(client, admin, created["key"])},
    )
    assert dropped.status_code == 422
    assert fields_of(dropped) == {"body.forced_variants.qa-1"}
    assert act(client, admin, created["key"], "start").status_code == 200
    moved = client.patch(
        url,
        json={"forced_variants": {"qa-1": "blue"}},
        headers={**admin, "If-Match": etag_of(client, admin, created["key"])},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["forced_variants"] == {"qa-1": "blue"}
    assert len(moved.json()["phases"]) == 1  # forcing is not an allocation change
    assert act(client, admin, created["key"], "complete").status_code == 200
    frozen = client.patch(
        url,
        json={"forced_variants": {}},
        headers={**admin, "If-Match": etag_of(client, admin, created["key"])},
    )
    assert frozen.status_code == 409
    assert fields_of(frozen) == {"body.forced_variants"}


def test_a_draft_served_by_a_flag_rule_cannot_be_deleted_until_the_rule_goes(
    client: TestClient, admin: Headers
) -> None:
    experiment = create(
        client,
        admin,
        experiment_body(
            make_metric(client, admin),
            variants=[
                {"key": "off", "is_control": True, "weight": 0.5},
                {"key": "on", "weight": 0.5},
            ],
        ),
    )
    flag = unique("flag")
    created = client.post(
        "/api/v1/flags",
        json={
            "key": flag,
            "name": flag,
            "value_type": "boolean",
            "default_value": False,
            "variants": [{"key": "off", "value": False}, {"key": "on", "value": True}],
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text
    state_url = f"/api/v1/flags/{flag}/environments/staging"
    rule = {"id": "exp", "type": "experiment", "experiment": experiment["key"]}
    served = client.put(
        state_url, json={"enabled": True, "rules": [rule]}, headers={**admin, "If-Match": '"0"'}
    )
    assert served.status_code == 200, served.text
    delete_headers = {**admin, "If-Match": etag_of(client, admin, experiment["key"])}
    refused = client.delete(f"{EXPERIMENTS}/{experiment['key']}", headers=delete_headers)
    assert refused.status_code == 409
    assert f"{flag} in staging" in refused.json()["detail"]
    cleared = client.put(
        state_url,
        json={"enabled": True, "rules": []},
        headers={**admin, "If-Match": served.headers["etag"]},
    )
    assert cleared.status_code == 200, cleared.text
    deleted = client.delete(f"{EXPERIMENTS}/{experiment['key']}", headers=delete_headers)
    assert deleted.status_code == 204
