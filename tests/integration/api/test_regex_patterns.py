"""Issue 12, finding 1 through the management API: the audit's pathological patterns
are saved and decide correctly (RE2 runs them in linear time), and patterns RE2 cannot
run are refused at save time with a 422 naming the field."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.integration.api.test_experiments_api import (
    EXPERIMENTS,
    experiment_body,
    fields_of,
    make_metric,
)
from tests.integration.conftest import unique
from verdict.engine import EvaluationContext, compile_config
from verdict.engine.regex_guard import MAX_INPUT_LENGTH
from verdict.server.flags.config import environment_config

FLAGS = "/api/v1/flags"
SEGMENTS = "/api/v1/segments"
PATHOLOGICAL = ["(a|a)*b", "(a|aa)+$", "a*a*a*a*b", "^(.|\\s)*END$", "^\\w+\\s?\\w+\\s?\\w+$"]


def _errors(response: Any) -> dict[str, str]:
    return {error["field"]: error["reason"] for error in response.json()["errors"]}


def test_pathological_patterns_are_saved_and_decide_correctly_on_long_input(
    client: TestClient, admin: dict[str, str], api_app: FastAPI
) -> None:
    flag = unique("flag")
    assert client.post(FLAGS, json={"key": flag, "name": "F"}, headers=admin).status_code == 201
    rules = [
        {"type": "force", "value": True, "condition": {f"x{n}": {"$regex": pattern}}}
        for n, pattern in enumerate(PATHOLOGICAL)
    ]
    url = f"{FLAGS}/{flag}/environments/production"
    saved = client.put(
        url, json={"enabled": True, "rules": rules}, headers={**admin, "If-Match": '"0"'}
    )
    assert saved.status_code == 200, saved.text
    with api_app.state.session_factory() as session:
        snapshot = compile_config(environment_config(session, "production"))
    near_miss = "a" * (MAX_INPUT_LENGTH - 1) + "!"
    for n in range(len(PATHOLOGICAL)):
        result = snapshot.evaluate(flag, EvaluationContext("u", {f"x{n}": near_miss}))
        assert result.value is False, PATHOLOGICAL[n]
    hit = snapshot.evaluate(flag, EvaluationContext("u", {"x0": "a" * 4000 + "b"}))
    assert (hit.value, hit.rule) == (True, "rules[0]")


def test_a_backreference_in_a_segment_is_refused_naming_the_field(
    client: TestClient, admin: dict[str, str]
) -> None:
    response = client.post(
        SEGMENTS,
        json={"key": unique("seg"), "name": "S", "conditions": {"email": {"$regex": "(a)\\1"}}},
        headers=admin,
    )
    assert response.status_code == 422, response.text
    assert "backreferences" in _errors(response)["body.conditions.email.$regex"]


def test_lookaround_in_a_flag_rule_is_refused_naming_the_field(
    client: TestClient, admin: dict[str, str]
) -> None:
    flag = unique("flag")
    assert client.post(FLAGS, json={"key": flag, "name": "F"}, headers=admin).status_code == 201
    rule = {"type": "force", "value": True, "condition": {"ua": {"$regexi": "chrome(?!.*edge)"}}}
    response = client.put(
        f"{FLAGS}/{flag}/environments/production",
        json={"enabled": True, "rules": [rule]},
        headers={**admin, "If-Match": '"0"'},
    )
    assert response.status_code == 422, response.text
    assert "lookahead" in _errors(response)["body.rules.0.condition.ua.$regexi"]


def test_a_backreference_in_experiment_targeting_is_refused_naming_the_field(
    client: TestClient, admin: dict[str, str]
) -> None:
    metric = make_metric(client, admin)
    body = experiment_body(metric, targeting={"path": {"$notRegex": "^/(\\w+)/\\1$"}})
    response = client.post(EXPERIMENTS, json=body, headers=admin)
    assert response.status_code == 422, response.text
    assert "body.targeting.path.$notRegex" in fields_of(response)
    assert "backreferences" in response.text
