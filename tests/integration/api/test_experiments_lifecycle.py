"""The experiment lifecycle through the API: every (status, action) pair, the start
rules one by one, phases opened by allocation changes, and edits while running."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import delete

from tests.integration.api.test_experiments_api import (
    EXPERIMENTS,
    Headers,
    act,
    create,
    etag_of,
    experiment_body,
    experiment_in,
    fields_of,
    history,
    make_metric,
    make_segment,
)
from verdict.server.models import Segment

STATUSES = ["draft", "running", "paused", "completed", "archived"]
ACTIONS = ["start", "pause", "resume", "complete", "archive"]
# The whole state machine, written out independently of the code.
LEGAL = {
    ("draft", "start"): "running",
    ("draft", "archive"): "archived",
    ("running", "pause"): "paused",
    ("running", "complete"): "completed",
    ("paused", "resume"): "running",
    ("paused", "complete"): "completed",
    ("completed", "archive"): "archived",
}
ALLOWED = {
    status: [action for action in ACTIONS if (status, action) in LEGAL] for status in STATUSES
}


@pytest.fixture
def metric(client: TestClient, admin: Headers) -> str:
    return make_metric(client, admin)


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("status", STATUSES)
def test_every_status_and_action_pair(
    client: TestClient, admin: Headers, metric: str, status: str, action: str
) -> None:
    key = experiment_in(client, admin, status, metric)
    before = client.get(f"{EXPERIMENTS}/{key}", headers=admin)
    assert before.json()["status"] == status
    assert before.json()["allowed_actions"] == ALLOWED[status]
    entries = len(history(client, admin, key))
    response = client.post(
        f"{EXPERIMENTS}/{key}/{action}", headers={**admin, "If-Match": before.headers["etag"]}
    )
    if (status, action) in LEGAL:
        assert response.status_code == 200, response.text
        assert response.json()["status"] == LEGAL[status, action]
        assert response.headers["etag"] != before.headers["etag"]
        assert history(client, admin, key)[0]["action"] == action
        assert len(history(client, admin, key)) == entries + 1
    else:
        assert response.status_code == 409, response.text
        detail = response.json()["detail"]
        assert f"that is {status}" in detail
        allowed = ALLOWED[status]
        assert (", ".join(allowed) if allowed else "no action is allowed") in detail
        assert client.get(f"{EXPERIMENTS}/{key}", headers=admin).json() == before.json()
        assert len(history(client, admin, key)) == entries


def test_start_stamps_the_start_and_opens_phase_one(
    client: TestClient, admin: Headers, metric: str
) -> None:
    key = create(client, admin, experiment_body(metric, coverage=0.4))["key"]
    before = dt.datetime.now(dt.UTC)
    started = act(client, admin, key, "start").json()
    started_at = dt.datetime.fromisoformat(started["started_at"])
    assert before <= started_at <= dt.datetime.now(dt.UTC)
    assert started["phases"] == [
        {
            "number": 1,
            "started_at": started["started_at"],
            "ended_at": None,
            "coverage": 0.4,
            "weights": {"blue": 0.5, "green": 0.5},
            "reason": "start",
        }
    ]
    paused = act(client, admin, key, "pause").json()
    resumed = act(client, admin, key, "resume").json()
    assert paused["phases"] == resumed["phases"] == started["phases"]
    assert resumed["started_at"] == started["started_at"]


def test_complete_names_the_winner_and_ends_the_open_phase(
    client: TestClient, admin: Headers, metric: str
) -> None:
    key = experiment_in(client, admin, "running", metric)
    unknown = act(client, admin, key, "complete", winner="purple")
    assert unknown.status_code == 422
    assert fields_of(unknown) == {"body.winner"}
    assert client.get(f"{EXPERIMENTS}/{key}", headers=admin).json()["status"] == "running"
    done = act(client, admin, key, "complete", winner="green")
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["status"] == "completed"
    assert body["winner"] == "green"
    assert body["completed_at"] >= body["started_at"]
    assert body["phases"][-1]["ended_at"] == body["completed_at"]
    no_winner = experiment_in(client, admin, "paused", metric)
    completed = act(client, admin, no_winner, "complete")
    assert completed.json()["winner"] is None
    assert completed.json()["completed_at"] is not None


# -- the start rules, one by one --------------------------------------------------------


def _variants(*specs: tuple[str, bool, float]) -> list[dict[str, Any]]:
    return [{"key": k, "is_control": c, "weight": w} for k, c, w in specs]


START_RULES = {
    "at least two variants": ({"variants": _variants(("only", True, 1.0))}, "variants"),
    "exactly one control": (
        {"variants": _variants(("a", False, 0.5), ("b", False, 0.5))},
        "variants.is_control",
    ),
    "weights sum to 100%": (
        {"variants": _variants(("a", True, 0.5), ("b", False, 0.4))},
        "variants.weight",
    ),
    "a primary metric": ("secondary-only", "metrics"),
    "end in the future": ({"end_at": "2020-01-01T00:00:00Z"}, "end_at"),
}


@pytest.mark.parametrize("rule", sorted(START_RULES))
def test_each_start_rule_refuses_the_start_naming_its_field(
    client: TestClient, admin: Headers, metric: str, rule: str
) -> None:
    change, field = START_RULES[rule]
    if change == "secondary-only":
        change = {"metrics": [{"metric": metric, "role": "secondary"}]}
    assert isinstance(change, dict)
    key = create(client, admin, experiment_body(metric, **change))["key"]
    response = act(client, admin, key, "start")
    assert response.status_code == 422, response.text
    assert fields_of(response) == {field}
    assert "cannot start" in response.json()["detail"]
    stored = client.get(f"{EXPERIMENTS}/{key}", headers=admin).json()
    assert stored["status"] == "draft"
    assert stored["phases"] == []
    assert [e["action"] for e in history(client, admin, key)] == ["create"]


def test_weights_may_miss_100_percent_by_rounding_only(
    client: TestClient, admin: Headers, metric: str
) -> None:
    thirds = _variants(("a", True, 0.3333333), ("b", False, 0.3333333), ("c", False, 0.3333334))
    key = create(client, admin, experiment_body(metric, variants=thirds))["key"]
    assert act(client, admin, key, "start").status_code == 200
    off = _variants(("a", True, 0.333333), ("b", False, 0.333333), ("c", False, 0.333333))
    key = create(client, admin, experiment_body(metric, variants=off))["key"]
    assert fields_of(act(client, admin, key, "start")) == {"variants.weight"}


def test_an_invalid_targeting_condition_refuses_the_start(
    client: TestClient, admin: Headers, api_app: FastAPI, metric: str
) -> None:
    segment = make_segment(api_app)
    body = experiment_body(metric, targeting={"$or": [{"$inSegment": segment}]})
    key = create(client, admin, body)["key"]
    with api_app.state.session_factory() as session:  # the segment goes away meanwhile
        session.execute(delete(Segment).where(Segment.key == segment))
        session.commit()
    response = act(client, admin, key, "start")
    assert response.status_code == 422
    assert fields_of(response) == {"targeting.$or[0].$inSegment"}
    assert segment in response.json()["detail"]


def test_every_failed_start_rule_is_listed_together(
    client: TestClient, admin: Headers, metric: str
) -> None:
    body = experiment_body(
        metric,
        variants=_variants(("a", False, 0.2)),
        metrics=[],
        start_at="2019-01-01T00:00:00Z",
        end_at="2020-01-01T00:00:00Z",
    )
    key = create(client, admin, body)["key"]
    response = act(client, admin, key, "start")
    assert response.status_code == 422
    assert fields_of(response) == {
        "variants",
        "variants.is_control",
        "variants.weight",
        "metrics",
        "end_at",
    }


# -- phases and edits of running experiments ---------------------------------------------


def _patch(client: TestClient, headers: Headers, key: str, body: dict[str, Any]) -> Any:
    return client.patch(
        f"{EXPERIMENTS}/{key}",
        json=body,
        headers={**headers, "If-Match": etag_of(client, headers, key)},
    )


def test_changing_weights_or_coverage_closes_the_phase_and_opens_the_next(
    client: TestClient, admin: Headers, metric: str
) -> None:
    key = experiment_in(client, admin, "running", metric)
    renamed = _patch(client, admin, key, {"name": "No allocation change", "coverage": 1.0})
    assert renamed.status_code == 200
    assert len(renamed.json()["phases"]) == 1

    weights = {"variants": [{"key": "blue", "weight": 0.2}, {"key": "green", "weight": 0.8}]}
    reweighted = _patch(client, admin, key, weights)
    assert reweighted.status_code == 200, reweighted.text
    assert act(client, admin, key, "pause").status_code == 200
    covered = _patch(client, admin, key, {"coverage": 0.5, "phase_reason": "ramp down"})
    assert covered.status_code == 200, covered.text

    phases = client.get(f"{EXPERIMENTS}/{key}/phases", headers=admin)
    assert phases.status_code == 200
    listed = phases.json()
    assert listed == covered.json()["phases"]
    assert [(p["number"], p["coverage"], p["weights"], p["reason"]) for p in listed] == [
        (1, 1.0, {"blue": 0.5, "green": 0.5}, "start"),
        (2, 1.0, {"blue": 0.2, "green": 0.8}, "weights changed"),
        (3, 0.5, {"blue": 0.2, "green": 0.8}, "ramp down"),
    ]
    assert listed[0]["ended_at"] == listed[1]["started_at"]
    assert listed[1]["ended_at"] == listed[2]["started_at"]
    assert listed[2]["ended_at"] is None
    assert client.get(f"{EXPERIMENTS}/nope/phases", headers=admin).status_code == 404


def test_a_draft_edit_opens_no_phase(client: TestClient, admin: Headers, metric: str) -> None:
    key = create(client, admin, experiment_body(metric))["key"]
    edited = _patch(client, admin, key, {"coverage": 0.3})
    assert edited.json()["phases"] == []


def test_variants_cannot_be_removed_or_rekeyed_while_running(
    client: TestClient, admin: Headers, metric: str
) -> None:
    for status in ("running", "paused"):
        key = experiment_in(client, admin, status, metric)
        before = client.get(f"{EXPERIMENTS}/{key}", headers=admin).json()
        blue, green = before["variants"]
        removed = _patch(client, admin, key, {"variants": [{"key": "blue", "weight": 1.0}]})
        assert removed.status_code == 409
        assert fields_of(removed) == {"body.variants"}
        assert "green" in removed.json()["detail"]
        rekeyed = _patch(
            client,
            admin,
            key,
            {"variants": [{"id": blue["id"], "key": "azure"}, {"id": green["id"], "key": "green"}]},
        )
        assert rekeyed.status_code == 409
        assert fields_of(rekeyed) == {"body.variants.0.key"}
        # Matching by key, "azure" is a new variant and "blue" would be removed.
        replaced = _patch(client, admin, key, {"variants": [{"key": "azure"}, {"key": "green"}]})
        assert replaced.status_code == 409
        swap = [{"key": "blue", "is_control": False}, {"key": "green", "is_control": True}]
        recontrolled = _patch(client, admin, key, {"variants": swap})
        assert recontrolled.status_code == 409
        assert fields_of(recontrolled) == {
            "body.variants.0.is_control",
            "body.variants.1.is_control",
        }
        frozen = _patch(client, admin, key, {"hash_seed": "other", "bucket_end": 10})
        assert frozen.status_code == 409
        assert fields_of(frozen) == {"body.hash_seed", "body.bucket_end"}
        after = client.get(f"{EXPERIMENTS}/{key}", headers=admin).json()
        assert after == before
        assert history(client, admin, key)[0]["action"] != "update"


def test_a_running_experiment_must_stay_valid_to_run(
    client: TestClient, admin: Headers, metric: str
) -> None:
    key = experiment_in(client, admin, "running", metric)
    broken = _patch(
        client, admin, key, {"variants": [{"key": "blue", "weight": 0.9}, {"key": "green"}]}
    )
    assert broken.status_code == 422
    assert fields_of(broken) == {"variants.weight"}
    no_primary = _patch(client, admin, key, {"metrics": [{"metric": metric}]})
    assert no_primary.status_code == 422
    assert fields_of(no_primary) == {"metrics"}
    past = _patch(client, admin, key, {"end_at": "2020-01-01T00:00:00Z"})
    assert past.status_code == 422
    assert "end_at" in fields_of(past)
    added = _patch(
        client,
        admin,
        key,
        {
            "variants": [
                {"key": "blue", "weight": 0.4},
                {"key": "green", "weight": 0.4},
                {"key": "red", "weight": 0.2},
            ]
        },
    )
    assert added.status_code == 200, added.text
    assert added.json()["phases"][-1]["weights"] == {"blue": 0.4, "green": 0.4, "red": 0.2}
