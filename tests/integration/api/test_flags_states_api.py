"""A flag's state per environment: the kill switch, rules in the engine's shape, the
flag-wide rollout gate, and the validation of every write against the engine."""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.integration.conftest import unique
from tests.unit.engine.bucketing_reference import murmur3_x86_32
from verdict.engine import EvaluationContext, compile_config
from verdict.server.environments.models import Environment
from verdict.server.experiments.models import Experiment, ExperimentStatus, Variant
from verdict.server.flags.config import environment_config

FLAGS = "/api/v1/flags"


def _flag(client: TestClient, headers: dict[str, str], **body: Any) -> str:
    key = unique("flag")
    response = client.post(FLAGS, json={"key": key, "name": "F", **body}, headers=headers)
    assert response.status_code == 201, response.text
    return key


def _put(
    client: TestClient,
    headers: dict[str, str],
    key: str,
    body: dict[str, Any],
    environment: str = "production",
) -> Any:
    url = f"{FLAGS}/{key}/environments/{environment}"
    etag = client.get(url, headers=headers).headers["etag"]
    return client.put(url, json=body, headers={**headers, "If-Match": etag})


def _fields(response: Any) -> list[str]:
    return [error["field"] for error in response.json()["errors"]]


def _experiment(
    api_app: FastAPI,
    *,
    status: ExperimentStatus = ExperimentStatus.RUNNING,
    environment: str | None = None,
    variants: tuple[str, ...] = ("control", "treatment"),
) -> str:
    key = unique("exp")
    with api_app.state.session_factory() as session:
        environment_id = (
            session.scalars(select(Environment.id).where(Environment.key == environment)).one()
            if environment
            else None
        )
        weight = 1 / len(variants)
        session.add(
            Experiment(
                key=key,
                name=key,
                status=status,
                environment_id=environment_id,
                variants=[
                    Variant(key=v, weight=weight, position=i) for i, v in enumerate(variants)
                ],
            )
        )
        session.commit()
    return key


def test_a_flag_never_configured_in_an_environment_is_off_at_version_zero(
    client: TestClient, admin: dict[str, str], viewer: dict[str, str]
) -> None:
    key = _flag(client, admin)
    response = client.get(f"{FLAGS}/{key}/environments/staging", headers=viewer)
    assert response.status_code == 200
    assert response.headers["etag"] == '"0"'
    assert response.json() == {
        "flag": key,
        "environment": "staging",
        "enabled": False,
        "rules": [],
        "rollout_percentage": None,
        "version": 0,
        "updated_at": None,
        "updated_by": None,
    }
    missing = client.get(f"{FLAGS}/{key}/environments/nowhere", headers=viewer)
    assert missing.status_code == 404


def test_the_first_put_creates_the_state_and_later_ones_need_its_version(
    client: TestClient, admin: dict[str, str]
) -> None:
    key = _flag(client, admin)
    url = f"{FLAGS}/{key}/environments/production"
    body = {"enabled": True, "rules": [], "rollout_percentage": 10}
    assert client.put(url, json=body, headers=admin).status_code == 428
    assert client.put(url, json=body, headers={**admin, "If-Match": '"1"'}).status_code == 412
    created = client.put(url, json=body, headers={**admin, "If-Match": '"0"'})
    assert created.status_code == 200, created.text
    assert created.headers["etag"] == '"1"'
    assert created.json()["updated_by"] is not None
    stale = client.put(url, json=body, headers={**admin, "If-Match": '"0"'})
    assert stale.status_code == 412
    second = client.put(
        url, json={**body, "rollout_percentage": 20}, headers={**admin, "If-Match": '"1"'}
    )
    assert second.status_code == 200
    assert second.headers["etag"] == '"2"'
    entries = client.get(f"{FLAGS}/{key}/history", headers=admin).json()["items"]
    production = client.get("/api/v1/environments/production", headers=admin).json()
    assert [(e["action"], e["environment_id"]) for e in entries[:2]] == [
        ("update", production["id"]),
        ("update", production["id"]),
    ]
    assert entries[0]["before"]["rollout_percentage"] == 10
    assert entries[0]["after"]["rollout_percentage"] == 20
    assert entries[1]["before"] is None


def test_rules_are_stored_in_the_engine_shape_and_served_to_the_engine(
    client: TestClient, admin: dict[str, str], api_app: FastAPI
) -> None:
    segment = unique("seg")
    created = client.post(
        "/api/v1/segments",
        json={"key": segment, "name": "Staff", "conditions": {"email": {"$regex": "@acme$"}}},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    key = _flag(
        client,
        admin,
        value_type="string",
        default_value="old",
        variants=[{"key": "a", "value": "A"}, {"key": "b", "value": "B"}],
    )
    rules = [
        {"id": "staff", "type": "force", "segment": segment, "variant": "b"},
        {
            "id": "ramp",
            "type": "rollout",
            "condition": {"plan": "pro"},
            "percentage": 100,
            "value": "A",
            "description": "all pro users",
        },
        {
            "id": "split",
            "type": "split",
            "weights": [{"variant": "a", "weight": 0.5}, {"variant": "b", "weight": 0.5}],
            "coverage": 1,
            "seed": "split-seed",
        },
    ]
    response = _put(client, admin, key, {"enabled": True, "rules": rules})
    assert response.status_code == 200, response.text
    assert response.json()["rules"] == rules
    with api_app.state.session_factory() as session:
        snapshot = compile_config(environment_config(session, "production"))
    staff = snapshot.evaluate(key, EvaluationContext("u1", {"email": "x@acme"}))
    assert (staff.value, staff.rule) == ("B", "staff")
    pro = snapshot.evaluate(key, EvaluationContext("u1", {"plan": "pro"}))
    assert (pro.value, pro.rule) == ("A", "ramp")
    assert snapshot.evaluate(key, EvaluationContext("u1", {})).rule == "split"


def test_an_invalid_condition_names_the_field_and_the_reason(
    client: TestClient, admin: dict[str, str]
) -> None:
    key = _flag(client, admin)
    rules = [
        {"type": "force", "value": True, "condition": {"beta": True}},
        {"type": "force", "value": True},
        {"type": "force", "value": True, "condition": {"country": {"$in": "US"}}},
    ]
    response = _put(client, admin, key, {"enabled": True, "rules": rules})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "body.rules.2.condition.country.$in", "reason": "$in needs an array"}
    ]
    assert (
        client.get(f"{FLAGS}/{key}/environments/production", headers=admin).json()["version"] == 0
    )


def test_each_rule_type_takes_only_its_own_fields(
    client: TestClient, admin: dict[str, str]
) -> None:
    key = _flag(client, admin, variants=[{"key": "on", "value": True}])
    rules = [
        {"type": "force", "value": True, "percentage": 50},
        {"type": "split", "weights": [{"variant": "on", "weight": 1}], "value": True},
        {"type": "force", "value": True, "variant": "on"},
        {"id": "x", "type": "force", "value": True},
        {"id": "x", "type": "force", "value": False},
    ]
    response = _put(client, admin, key, {"enabled": True, "rules": rules})
    assert response.status_code == 422
    assert _fields(response) == [
        "body.rules.0.percentage",
        "body.rules.1.value",
        "body.rules.2.variant",
        "body.rules.4.id",
    ]
    unknown_type = _put(client, admin, key, {"enabled": True, "rules": [{"type": "magic"}]})
    assert unknown_type.status_code == 422
    assert _fields(unknown_type) == ["body.rules.0.type"]
    extra = _put(client, admin, key, {"enabled": True, "rules": [{"type": "force", "x": 1}]})
    assert _fields(extra) == ["body.rules.0.x"]


def test_values_variants_weights_and_segments_are_checked_by_the_engine(
    client: TestClient, admin: dict[str, str]
) -> None:
    key = _flag(
        client, admin, variants=[{"key": "on", "value": True}, {"key": "off", "value": False}]
    )
    cases = [
        ({"type": "force", "value": "yes"}, "body.rules.0.value", "not a boolean value"),
        ({"type": "force", "variant": "maybe"}, "body.rules.0.variant", "unknown variant"),
        ({"type": "force"}, "body.rules.0", "needs a value or a variant"),
        ({"type": "rollout", "value": True}, "body.rules.0.percentage", "is required"),
        (
            {"type": "split", "weights": [{"variant": "on", "weight": 0.5}]},
            "body.rules.0.weights",
            "sum to",
        ),
        (
            {"type": "force", "value": True, "segment": "no-such-segment"},
            "body.rules.0.segment",
            "unknown segment",
        ),
        (
            {"type": "force", "value": True, "condition": {"$inSegment": "no-such-segment"}},
            "body.rules.0.condition.$inSegment",
            "unknown segment",
        ),
    ]
    for rule, field, reason in cases:
        response = _put(client, admin, key, {"enabled": True, "rules": [rule]})
        assert response.status_code == 422, rule
        [error] = response.json()["errors"]
        assert error["field"] == field, rule
        assert reason in error["reason"], rule


def test_rollout_percentages_are_between_0_and_100_in_hundredths(
    client: TestClient, admin: dict[str, str]
) -> None:
    key = _flag(client, admin)
    for bad in (-1, 100.5, 12.345):
        response = _put(
            client, admin, key, {"enabled": True, "rules": [], "rollout_percentage": bad}
        )
        assert response.status_code == 422, bad
        assert _fields(response) == ["body.rollout_percentage"]
        rule = {"type": "rollout", "percentage": bad, "value": True}
        response = _put(client, admin, key, {"enabled": True, "rules": [rule]})
        assert _fields(response) == ["body.rules.0.percentage"]
    ok = _put(client, admin, key, {"enabled": True, "rules": [], "rollout_percentage": 12.34})
    assert ok.json()["rollout_percentage"] == 12.34


def test_experiment_rules_name_an_experiment_this_environment_runs(
    client: TestClient, admin: dict[str, str], api_app: FastAPI
) -> None:
    variants = [{"key": "control", "value": False}, {"key": "treatment", "value": True}]
    key = _flag(client, admin, variants=variants)
    running = _experiment(api_app)
    elsewhere = _experiment(api_app, environment="staging")
    draft = _experiment(api_app, status=ExperimentStatus.DRAFT, environment="production")
    three = _experiment(api_app, variants=("control", "treatment", "third"))
    refused = _put(
        client,
        admin,
        key,
        {
            "enabled": True,
            "rules": [
                {"type": "experiment", "experiment": "no-such-experiment"},
                {"type": "experiment", "experiment": elsewhere},
            ],
        },
    )
    assert refused.status_code == 422
    assert _fields(refused) == ["body.rules.0.experiment", "body.rules.1.experiment"]
    assert "runs only in staging" in refused.json()["detail"]
    missing_variant = _put(
        client,
        admin,
        key,
        {"enabled": True, "rules": [{"type": "experiment", "experiment": three}]},
    )
    assert missing_variant.status_code == 422
    assert "'third'" in missing_variant.json()["detail"]
    rules = [
        {"id": "draft", "type": "experiment", "experiment": draft},
        {"id": "exp", "type": "experiment", "experiment": running},
    ]
    accepted = _put(client, admin, key, {"enabled": True, "rules": rules})
    assert accepted.status_code == 200, accepted.text
    with api_app.state.session_factory() as session:
        snapshot = compile_config(environment_config(session, "production"))
    result = snapshot.evaluate(key, EvaluationContext("user-1"))
    assert (result.rule, result.experiment) == ("exp", running)
    assert result.variant in ("control", "treatment")


def test_enable_and_disable_flip_the_kill_switch_with_if_match(
    client: TestClient, admin: dict[str, str], experimenter: dict[str, str]
) -> None:
    key = _flag(client, admin)
    base = f"{FLAGS}/{key}/environments/staging"
    assert (
        client.post(f"{base}/enable", headers={**experimenter, "If-Match": '"3"'}).status_code
        == 412
    )
    on = client.post(f"{base}/enable", headers={**experimenter, "If-Match": '"0"'})
    assert on.status_code == 200
    assert (on.json()["enabled"], on.headers["etag"]) == (True, '"1"')
    again = client.post(f"{base}/enable", headers={**experimenter, "If-Match": '"1"'})
    assert (again.status_code, again.headers["etag"]) == (200, '"1"')
    assert (
        client.post(f"{base}/disable", headers={**experimenter, "If-Match": '"0"'}).status_code
        == 412
    )
    off = client.post(f"{base}/disable", headers={**experimenter, "If-Match": '"1"'})
    assert (off.json()["enabled"], off.headers["etag"]) == (False, '"2"')
    staging = client.get("/api/v1/environments/staging", headers=admin).json()
    entries = client.get(f"{FLAGS}/{key}/history", headers=admin).json()["items"]
    assert [(e["action"], e["environment_id"]) for e in entries[:2]] == [
        ("disable", staging["id"]),
        ("enable", staging["id"]),
    ]
    assert entries[0]["before"]["enabled"] is True
    assert entries[0]["after"]["enabled"] is False


def _inside(flag_key: str, unit: str, percentage: float) -> bool:
    bucket = murmur3_x86_32(f"{flag_key}:inclusion:{unit}".encode()) % 10_000
    return bucket < math.floor(percentage * 100 + 0.5)


def test_the_rollout_gate_serves_the_rules_to_its_share_and_raising_it_keeps_everyone(
    client: TestClient, admin: dict[str, str], api_app: FastAPI
) -> None:
    key = _flag(client, admin)
    units = [f"user-{n}" for n in range(1000)]
    reached: dict[float, set[str]] = {}
    for percentage in (25, 50):
        body = {
            "enabled": True,
            "rules": [{"type": "force", "value": True}],
            "rollout_percentage": percentage,
        }
        assert _put(client, admin, key, body).status_code == 200
        with api_app.state.session_factory() as session:
            document = environment_config(session, "production")
        assert document["flags"][key]["rollout"] == percentage
        snapshot = compile_config(document)
        reached[percentage] = {u for u in units if snapshot.value(key, u, {}) is True}
        assert reached[percentage] == {u for u in units if _inside(key, u, percentage)}
    assert reached[25] < reached[50]
    assert 0.2 < len(reached[25]) / len(units) < 0.3
    outside = next(u for u in units if u not in reached[50])
    result = snapshot.evaluate(key, EvaluationContext(outside))
    assert (result.value, result.rule) == (False, "rollout")
