"""Segments through the API: conditions validated by the engine, edits with If-Match,
lists, and deletion refused while flags, segments or experiments use the segment."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.integration.conftest import unique
from verdict.engine import EvaluationContext, compile_config
from verdict.server.experiments.models import (
    Experiment,
    ExperimentSegment,
    SegmentMatch,
    Variant,
)
from verdict.server.flags.config import environment_config
from verdict.server.segments.models import Segment

SEGMENTS = "/api/v1/segments"
PRO_NA = {"country": {"$in": ["US", "CA"]}, "plan": "pro"}


def _create(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    body = {"key": unique("seg"), "name": "Segment", **body}
    response = client.post(SEGMENTS, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _fields(response: Any) -> list[str]:
    return [error["field"] for error in response.json()["errors"]]


def test_creating_a_segment_returns_it_and_audits_it(
    client: TestClient, experimenter: dict[str, str], make_user: Any
) -> None:
    owner = make_user("viewer")
    segment = _create(
        client,
        experimenter,
        description="Pro users in North America",
        conditions=PRO_NA,
        size_estimate=1200,
        owner=owner,
    )
    assert segment["conditions"] == PRO_NA
    assert (segment["is_active"], segment["owner"], segment["version"]) == (True, owner, 1)
    assert segment["created_by"] is not None
    read = client.get(f"{SEGMENTS}/{segment['key']}", headers=experimenter)
    assert read.json() == segment
    assert read.headers["etag"] == '"1"'
    entries = client.get(
        "/api/v1/audit",
        params={"resource_type": "segment", "resource_id": segment["id"]},
        headers=experimenter,
    ).json()["items"]
    assert [(e["action"], e["after"]["conditions"]) for e in entries] == [("create", PRO_NA)]


def test_conditions_are_validated_by_the_engine_naming_the_bad_part(
    client: TestClient, admin: dict[str, str]
) -> None:
    cases = [
        ({"country": {"$in": "US"}}, "body.conditions.country.$in", "$in needs an array"),
        ({"age": {"$between": [1, 2]}}, "body.conditions.age.$between", "unknown operator"),
        ({"$inSegment": "no-such-segment"}, "body.conditions.$inSegment", "unknown segment"),
        ({"$or": [{"a": 1}, {"b": {"$gt": True}}]}, "body.conditions.$or.1.b.$gt", ""),
    ]
    for conditions, field, reason in cases:
        response = client.post(
            SEGMENTS,
            json={"key": unique("seg"), "name": "S", "conditions": conditions},
            headers=admin,
        )
        assert response.status_code == 422, conditions
        [error] = response.json()["errors"]
        assert error["field"] == field, conditions
        assert reason in error["reason"]


def test_a_segment_cycle_is_refused(client: TestClient, admin: dict[str, str]) -> None:
    inner = _create(client, admin)
    outer = _create(client, admin, conditions={"$inSegment": inner["key"]})
    response = client.patch(
        f"{SEGMENTS}/{inner['key']}",
        json={"conditions": {"$inSegment": outer["key"]}},
        headers={**admin, "If-Match": '"1"'},
    )
    assert response.status_code == 422
    assert "segment cycle" in response.json()["detail"]
    assert _fields(response)[0] == "body.conditions.$inSegment"
    itself = client.patch(
        f"{SEGMENTS}/{inner['key']}",
        json={"conditions": {"$inSegment": inner["key"]}},
        headers={**admin, "If-Match": '"1"'},
    )
    assert itself.status_code == 422


def test_keys_owner_and_size_are_checked(client: TestClient, admin: dict[str, str]) -> None:
    segment = _create(client, admin)
    duplicate = client.post(SEGMENTS, json={"key": segment["key"], "name": "S"}, headers=admin)
    assert duplicate.status_code == 409
    assert _fields(duplicate) == ["body.key"]
    bad_key = client.post(SEGMENTS, json={"key": "9lives", "name": "S"}, headers=admin)
    assert _fields(bad_key) == ["body.key"]
    owner = client.post(
        SEGMENTS, json={"key": unique("s"), "name": "S", "owner": "ghost-user"}, headers=admin
    )
    assert owner.status_code == 422
    assert _fields(owner) == ["body.owner"]
    size = client.post(
        SEGMENTS, json={"key": unique("s"), "name": "S", "size_estimate": -1}, headers=admin
    )
    assert _fields(size) == ["body.size_estimate"]


def test_editing_a_segment_needs_the_current_version(
    client: TestClient, admin: dict[str, str]
) -> None:
    segment = _create(client, admin, conditions=PRO_NA)
    url = f"{SEGMENTS}/{segment['key']}"
    assert client.patch(url, json={"name": "B"}, headers=admin).status_code == 428
    edited = client.patch(
        url, json={"name": "B", "is_active": False}, headers={**admin, "If-Match": '"1"'}
    )
    assert edited.status_code == 200
    assert edited.headers["etag"] == '"2"'
    assert (edited.json()["name"], edited.json()["is_active"]) == ("B", False)
    assert edited.json()["conditions"] == PRO_NA
    stale = client.patch(url, json={"name": "C"}, headers={**admin, "If-Match": '"1"'})
    assert stale.status_code == 412
    nulled = client.patch(url, json={"conditions": None}, headers={**admin, "If-Match": '"2"'})
    assert _fields(nulled) == ["body.conditions"]
    entries = client.get(
        "/api/v1/audit",
        params={"resource_type": "segment", "resource_id": segment["id"], "action": "update"},
        headers=admin,
    ).json()["items"]
    assert (entries[0]["before"]["name"], entries[0]["after"]["name"]) == ("Segment", "B")


def test_lists_filter_by_text_owner_and_activity_and_page(
    client: TestClient, admin: dict[str, str], make_user: Any
) -> None:
    owner = make_user("viewer")
    marker = unique("mark")
    active = _create(client, admin, name=f"{marker} one", owner=owner)
    inactive = _create(client, admin, name=f"{marker} two", is_active=False)

    def keys(**params: Any) -> list[str]:
        response = client.get(SEGMENTS, params={"q": marker, **params}, headers=admin)
        assert response.status_code == 200, response.text
        return [item["key"] for item in response.json()["items"]]

    assert keys() == sorted([active["key"], inactive["key"]])
    assert keys(owner=owner) == [active["key"]]
    assert keys(is_active=False) == [inactive["key"]]
    assert keys(sort="-key") == sorted([active["key"], inactive["key"]], reverse=True)
    first = client.get(SEGMENTS, params={"q": marker, "limit": 1}, headers=admin).json()
    second = client.get(
        SEGMENTS, params={"q": marker, "limit": 1, "cursor": first["next_cursor"]}, headers=admin
    ).json()
    assert [first["items"][0]["key"], second["items"][0]["key"]] == keys()
    assert second["next_cursor"] is None


def test_an_inactive_segment_matches_nobody(
    client: TestClient, admin: dict[str, str], api_app: FastAPI
) -> None:
    segment = _create(client, admin, conditions={"plan": "pro"})
    flag = unique("flag")
    created = client.post("/api/v1/flags", json={"key": flag, "name": "F"}, headers=admin)
    assert created.status_code == 201
    state = client.put(
        f"/api/v1/flags/{flag}/environments/development",
        json={
            "enabled": True,
            "rules": [{"type": "force", "segment": segment["key"], "value": True}],
        },
        headers={**admin, "If-Match": '"0"'},
    )
    assert state.status_code == 200, state.text
    pro = EvaluationContext("u1", {"plan": "pro"})
    with api_app.state.session_factory() as session:
        assert compile_config(environment_config(session, "development")).value(flag, *pro) is True
    off = client.patch(
        f"{SEGMENTS}/{segment['key']}",
        json={"is_active": False},
        headers={**admin, "If-Match": '"1"'},
    )
    assert off.status_code == 200
    with api_app.state.session_factory() as session:
        snapshot = compile_config(environment_config(session, "development"))
    assert snapshot.evaluate(flag, pro).value is False


def test_a_segment_in_use_cannot_be_deleted_and_the_refusal_names_every_user(
    client: TestClient, admin: dict[str, str], api_app: FastAPI
) -> None:
    segment = _create(client, admin, conditions=PRO_NA)
    key = segment["key"]
    by_field, by_condition = unique("flag"), unique("flag")
    for flag in (by_field, by_condition):
        assert (
            client.post("/api/v1/flags", json={"key": flag, "name": "F"}, headers=admin).status_code
            == 201
        )
    rules = {
        by_field: ("production", [{"type": "force", "segment": key, "value": True}]),
        by_condition: (
            "staging",
            [{"type": "force", "value": True, "condition": {"$or": [{"$notInSegment": key}]}}],
        ),
    }
    for flag, (environment, flag_rules) in rules.items():
        response = client.put(
            f"/api/v1/flags/{flag}/environments/{environment}",
            json={"enabled": True, "rules": flag_rules},
            headers={**admin, "If-Match": '"0"'},
        )
        assert response.status_code == 200, response.text
    nesting = _create(client, admin, conditions={"$and": [{"$inSegment": key}]})
    experiment = unique("exp")
    with api_app.state.session_factory() as session:
        segment_id = session.scalars(select(Segment.id).where(Segment.key == key)).one()
        session.add(
            Experiment(
                key=experiment,
                name=experiment,
                variants=[Variant(key="a", weight=1.0, position=0)],
                segment_links=[
                    ExperimentSegment(segment_id=segment_id, match=SegmentMatch.EXCLUDE)
                ],
            )
        )
        session.commit()
    url = f"{SEGMENTS}/{key}"
    assert client.delete(url, headers=admin).status_code == 428
    refused = client.delete(url, headers={**admin, "If-Match": '"1"'})
    assert refused.status_code == 409
    detail = refused.json()["detail"]
    for user in (
        f"{by_field} in production",
        f"{by_condition} in staging",
        nesting["key"],
        experiment,
    ):
        assert user in detail
    assert client.get(url, headers=admin).status_code == 200


def test_an_unused_segment_is_deleted_and_audited(
    client: TestClient, admin: dict[str, str], viewer: dict[str, str]
) -> None:
    segment = _create(client, admin)
    url = f"{SEGMENTS}/{segment['key']}"
    assert client.delete(url, headers={**viewer, "If-Match": '"1"'}).status_code == 403
    assert client.delete(url, headers={**admin, "If-Match": '"1"'}).status_code == 204
    assert client.get(url, headers=admin).status_code == 404
    entries = client.get(
        "/api/v1/audit",
        params={"resource_type": "segment", "resource_id": segment["id"], "action": "delete"},
        headers=admin,
    ).json()["items"]
    assert entries[0]["before"]["key"] == segment["key"]
