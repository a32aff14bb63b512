"""Issue 12, finding 8 through the management API: conditions over the size, depth or
segment limits and flags over the rule limit are refused with a 422 naming the field,
for flag rules, segments and experiments alike."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from tests.integration.api.test_experiments_api import (
    EXPERIMENTS,
    experiment_body,
    fields_of,
    make_metric,
)
from tests.integration.conftest import unique
from verdict.engine.limits import (
    MAX_CONDITION_DEPTH,
    MAX_CONDITION_NODES,
    MAX_RULES_PER_FLAG,
    MAX_SEGMENT_REFERENCES,
)

FLAGS = "/api/v1/flags"
SEGMENTS = "/api/v1/segments"


def _flag(client: TestClient, headers: dict[str, str]) -> str:
    key = unique("flag")
    response = client.post(FLAGS, json={"key": key, "name": "F"}, headers=headers)
    assert response.status_code == 201, response.text
    return key


def _put_rules(
    client: TestClient, headers: dict[str, str], key: str, rules: list[dict[str, Any]]
) -> Any:
    url = f"{FLAGS}/{key}/environments/production"
    etag = client.get(url, headers=headers).headers["etag"]
    body = {"enabled": True, "rules": rules}
    return _send(client, "PUT", url, body, {**headers, "If-Match": etag})


HUGE_OR = {"$or": [{"a": 1}] * 100_000}
"""The audit's condition: 100,000 terms, sent compactly to stay under the body limit."""


def _send(client: TestClient, method: str, url: str, body: Any, headers: dict[str, str]) -> Any:
    content = json.dumps(body, separators=(",", ":"))
    return client.request(
        method, url, content=content, headers={**headers, "Content-Type": "application/json"}
    )


def _errors(response: Any) -> dict[str, str]:
    return {error["field"]: error["reason"] for error in response.json()["errors"]}


def _force(condition: dict[str, Any]) -> dict[str, Any]:
    return {"type": "force", "value": True, "condition": condition}


def _nested_not(levels: int) -> dict[str, Any]:
    condition: dict[str, Any] = {"plan": "pro"}
    for _ in range(levels - 1):
        condition = {"$not": condition}
    return condition


def test_an_or_of_100000_terms_in_a_flag_rule_is_a_422_naming_the_condition(
    client: TestClient, admin: dict[str, str]
) -> None:
    key = _flag(client, admin)
    response = _put_rules(client, admin, key, [_force({"plan": "pro"}), _force(HUGE_OR)])
    assert response.status_code == 422, response.text
    errors = _errors(response)
    assert list(errors) == ["body.rules.1.condition"]
    assert f"more than {MAX_CONDITION_NODES} nodes" in errors["body.rules.1.condition"]


def test_a_condition_at_the_node_limit_is_accepted(
    client: TestClient, admin: dict[str, str]
) -> None:
    key = _flag(client, admin)
    largest = {"$or": [{"a": n} for n in range(MAX_CONDITION_NODES - 1)]}
    response = _put_rules(client, admin, key, [_force(largest)])
    assert response.status_code == 200, response.text


def test_nesting_past_the_depth_limit_is_a_422_naming_the_level(
    client: TestClient, admin: dict[str, str]
) -> None:
    key = _flag(client, admin)
    assert _put_rules(client, admin, key, [_force(_nested_not(MAX_CONDITION_DEPTH))]).is_success
    response = _put_rules(client, admin, key, [_force(_nested_not(MAX_CONDITION_DEPTH + 1))])
    assert response.status_code == 422, response.text
    field = "body.rules.0.condition" + ".$not" * MAX_CONDITION_DEPTH
    assert f"deeper than {MAX_CONDITION_DEPTH} levels" in _errors(response)[field]


def test_more_rules_than_the_limit_is_a_422_naming_the_rules(
    client: TestClient, admin: dict[str, str]
) -> None:
    key = _flag(client, admin)
    rules = [_force({"n": n}) for n in range(MAX_RULES_PER_FLAG + 1)]
    response = _put_rules(client, admin, key, rules)
    assert response.status_code == 422, response.text
    assert f"at most {MAX_RULES_PER_FLAG} are allowed" in _errors(response)["body.rules"]
    assert _put_rules(client, admin, key, rules[:MAX_RULES_PER_FLAG]).status_code == 200


def test_a_segment_over_the_limits_is_a_422_naming_its_conditions(
    client: TestClient, admin: dict[str, str]
) -> None:
    targets = []
    for _ in range(MAX_SEGMENT_REFERENCES + 1):
        targets.append(unique("seg"))
        created = client.post(
            SEGMENTS, json={"key": targets[-1], "name": "S", "conditions": {}}, headers=admin
        )
        assert created.status_code == 201, created.text
    cases = [
        (HUGE_OR, "body.conditions", "nodes"),
        (_nested_not(MAX_CONDITION_DEPTH + 1), "body.conditions", "deeper than"),
        ({"$or": [{"$inSegment": key} for key in targets]}, "body.conditions", "segments"),
    ]
    for conditions, field, reason in cases:
        body = {"key": unique("seg"), "name": "S", "conditions": conditions}
        response = _send(client, "POST", SEGMENTS, body, admin)
        assert response.status_code == 422, response.text
        assert any(
            name.startswith(field) and reason in text for name, text in _errors(response).items()
        ), response.json()


def test_experiment_targeting_over_the_limits_is_a_422_naming_the_targeting(
    client: TestClient, admin: dict[str, str]
) -> None:
    metric = make_metric(client, admin)
    for targeting, reason in [
        (HUGE_OR, "nodes"),
        (_nested_not(MAX_CONDITION_DEPTH + 1), "deeper than"),
        # Its segment links take one level in the configuration: targeting keeps it free.
        (_nested_not(MAX_CONDITION_DEPTH), "deeper than"),
    ]:
        body = experiment_body(metric, targeting=targeting)
        response = _send(client, "POST", EXPERIMENTS, body, admin)
        assert response.status_code == 422, response.text
        assert any(field.startswith("body.targeting") for field in fields_of(response))
        assert reason in response.text
    body = experiment_body(metric, targeting=_nested_not(MAX_CONDITION_DEPTH - 1))
    assert client.post(EXPERIMENTS, json=body, headers=admin).status_code == 201
