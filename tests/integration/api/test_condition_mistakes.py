"""Conditions GrowthBook answers but that are almost always mistakes (issue 13, point 3):
refused when saved, with a 422 naming the field, for flag rules, segments and
experiment targeting alike; a condition stored anyway (written before, or straight
into the database) still decides exactly as GrowthBook's evaluator decides."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from growthbook.core import evalCondition
from sqlalchemy import select

from tests.integration.api.test_experiments_api import (
    EXPERIMENTS,
    experiment_body,
    make_metric,
)
from tests.integration.conftest import unique
from verdict.engine import ConfigError, EvaluationContext, compile_config
from verdict.server.flags.config import environment_config
from verdict.server.flags.models import FeatureFlag, FeatureFlagEnvironment

FLAGS = "/api/v1/flags"
SEGMENTS = "/api/v1/segments"


def _errors(response: Any) -> dict[str, str]:
    return {error["field"]: error["reason"] for error in response.json()["errors"]}


def _flag(client: TestClient, headers: dict[str, str]) -> str:
    key = unique("flag")
    response = client.post(FLAGS, json={"key": key, "name": "F"}, headers=headers)
    assert response.status_code == 201, response.text
    return key


@pytest.mark.parametrize(
    ("condition", "field", "reason"),
    [
        (
            {"plan": {"$gt": True}},
            "plan.$gt",
            "needs a number or a string (only those are ordered)",
        ),
        ({"os": {"$type": "undefined"}}, "os.$type", '{"$exists": false}'),
        ({"tags": {"$in": "beta"}}, "tags.$in", "$in needs an array"),
        ({"v": {"$vgte": None}}, "v.$vgte", "needs a version string"),
        ({"x": {"$eq": [1]}}, "x.$eq", "by reference"),
        ({"ua": {"$regex": "(a+)+"}}, "ua.$regex", "nested quantifier"),
        ({"ua": {"$regex": "\\pL"}}, "ua.$regex", "invalid regular expression"),
    ],
)
def test_a_flag_rule_with_a_mistaken_operand_is_refused_naming_the_field(
    client: TestClient, admin: dict[str, str], condition: dict[str, Any], field: str, reason: str
) -> None:
    key = _flag(client, admin)
    rules = [{"type": "force", "value": True, "condition": condition}]
    response = client.put(
        f"{FLAGS}/{key}/environments/production",
        json={"enabled": True, "rules": rules},
        headers={**admin, "If-Match": '"0"'},
    )
    assert response.status_code == 422, response.text
    assert reason in _errors(response)[f"body.rules.0.condition.{field}"]


def test_a_segment_using_a_growthbook_saved_group_is_refused_naming_the_field(
    client: TestClient, admin: dict[str, str]
) -> None:
    body = {"key": unique("seg"), "name": "S", "conditions": {"id": {"$inGroup": "beta"}}}
    response = client.post(SEGMENTS, json=body, headers=admin)
    assert response.status_code == 422, response.text
    assert "$inSegment" in _errors(response)["body.conditions.id.$inGroup"]


def test_experiment_targeting_with_an_unknown_condition_operator_is_refused(
    client: TestClient, admin: dict[str, str]
) -> None:
    metric = make_metric(client, admin)
    body = experiment_body(metric, targeting={"$where": "this.plan == 'pro'"})
    response = client.post(EXPERIMENTS, json=body, headers=admin)
    assert response.status_code == 422, response.text
    assert "unknown condition operator" in _errors(response)["body.targeting.$where"]


def test_a_stored_mistaken_condition_decides_as_growthbook_decides(
    client: TestClient, admin: dict[str, str], api_app: FastAPI
) -> None:
    key = _flag(client, admin)
    saved = client.put(
        f"{FLAGS}/{key}/environments/production",
        json={"enabled": True, "rules": [{"type": "force", "value": True}]},
        headers={**admin, "If-Match": '"0"'},
    )
    assert saved.status_code == 200, saved.text
    condition = {"plan": {"$not": {"$gt": True}}, "os": {"$type": "undefined"}}
    negated = {"$not": condition}
    with api_app.state.session_factory() as session:
        state = session.scalars(
            select(FeatureFlagEnvironment)
            .join(FeatureFlag, FeatureFlagEnvironment.flag_id == FeatureFlag.id)
            .where(FeatureFlag.key == key)
        ).all()
        for row in state:
            row.rules = [
                {"id": "mistake", "type": "force", "value": True, "condition": condition},
                {"id": "negated", "type": "force", "value": False, "condition": negated},
            ]
        session.commit()
        document = environment_config(session, "production")
    with pytest.raises(ConfigError) as raised:  # how a write is checked
        compile_config(document, strict=True, refuse_mistakes=True)
    assert any(issue.path.startswith(f"$.flags.{key}.rules[") for issue in raised.value.issues)
    snapshot = compile_config(document, strict=False)  # how the server delivers it
    assert not [issue for issue in snapshot.problems if key in issue.path]
    for attributes in ({}, {"plan": True}, {"plan": "pro", "os": None}):
        result = snapshot.evaluate(key, EvaluationContext("u1", attributes))
        first_rule_matches = evalCondition(attributes, condition)
        assert first_rule_matches is False  # $type "undefined" never matches
        assert evalCondition(attributes, negated) is True
        assert (result.value, result.rule) == (False, "negated")
