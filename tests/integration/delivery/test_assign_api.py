"""POST /api/v1/assign: variants decided by the engine, stored once, kept sticky."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select

from tests.integration.conftest import unique
from tests.integration.delivery.test_evaluate_api import sdk_key
from verdict.server.assignments.models import Assignment, AssignmentReason
from verdict.server.delivery.assignment_writer import AssignmentWriter
from verdict.server.delivery.sticky import BatchOutcome, NewAssignment, PendingAssignments
from verdict.server.experiments.models import Experiment


def start_experiment(client: TestClient, admin: dict[str, str], **fields: Any) -> str:
    metric = unique("metric")
    created = client.post(
        "/api/v1/metrics",
        json={
            "key": metric,
            "name": metric,
            "event_name": "purchase",
            "type": "conversion",
            "aggregation": "unique",
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text
    key = unique("exp")
    body = {
        "key": key,
        "name": key,
        "environment": "production",
        "variants": [
            {
                "key": "blue",
                "is_control": True,
                "weight": 0.5,
                "configuration": {"color": "#0066CC"},
                "system_prompt": "Be brief.",
            },
            {
                "key": "green",
                "weight": 0.5,
                "configuration": {"color": "#00CC66"},
                "url": "https://example.com/green",
            },
        ],
        "metrics": [{"metric": metric, "role": "primary"}],
        **fields,
    }
    created = client.post("/api/v1/experiments", json=body, headers=admin)
    assert created.status_code == 201, created.text
    started = client.post(
        f"/api/v1/experiments/{key}/start",
        headers={**admin, "If-Match": f'"{created.json()["version"]}"'},
    )
    assert started.status_code == 200, started.text
    return key


def refresh(api_app: FastAPI) -> None:
    """Rebuild production's snapshot now, before any request reads it."""
    api_app.state.snapshots.invalidate(None)
    api_app.state.snapshots.get("production")


def rows(api_app: FastAPI, experiment: str, unit: str) -> list[Assignment]:
    with api_app.state.session_factory() as session:
        return list(
            session.scalars(
                select(Assignment)
                .join(Experiment, Experiment.id == Assignment.experiment_id)
                .where(Experiment.key == experiment, Assignment.unit_id == unit)
            )
        )


def test_a_first_assignment_is_stored_with_payload_and_reason(
    client: TestClient, admin: dict[str, str], api_app: FastAPI
) -> None:
    experiment = start_experiment(client, admin)
    refresh(api_app)
    response = client.post(
        "/api/v1/assign",
        json={
            "unit_id": "unit-1",
            "attributes": {"plan": "pro"},
            "device_id": "d1",
            "session_id": "s1",
            "experiments": [experiment],
        },
        headers=sdk_key(client, admin, "client"),
    )
    assert response.status_code == 200, response.text
    [answer] = response.json()["assignments"]
    assert answer["in_experiment"] is True
    assert answer["reason"] == "bucketed"
    assert answer["variant"] in {"blue", "green"}
    assert 0 <= answer["bucket"] < 10000
    expected_url = "https://example.com/green" if answer["variant"] == "green" else None
    assert answer["url"] == expected_url
    assert set(answer["payload"]) == {
        "configuration",
        "response_template",
        "system_prompt",
        "config_overrides",
    }
    [row] = rows(api_app, experiment, "unit-1")
    assert (row.reason.value, row.bucket, row.device_id, row.session_id, row.context) == (
        "bucketed",
        answer["bucket"],
        "d1",
        "s1",
        {"plan": "pro"},
    )
    again = client.post(
        "/api/v1/assign",
        json={"unit_id": "unit-1", "experiments": [experiment]},
        headers=sdk_key(client, admin),
    ).json()["assignments"][0]
    assert (again["variant"], again["reason"], again["bucket"]) == (
        answer["variant"],
        "sticky",
        answer["bucket"],
    )
    assert len(rows(api_app, experiment, "unit-1")) == 1


def test_a_unit_keeps_its_variant_after_the_weights_change(
    client: TestClient, admin: dict[str, str], api_app: FastAPI
) -> None:
    experiment = start_experiment(client, admin)
    refresh(api_app)
    headers = sdk_key(client, admin)
    units = [f"unit-{i}" for i in range(40)]
    first = {
        unit: client.post(
            "/api/v1/assign", json={"unit_id": unit, "experiments": [experiment]}, headers=headers
        ).json()["assignments"][0]["variant"]
        for unit in units
    }
    assert set(first.values()) == {"blue", "green"}
    current = client.get(f"/api/v1/experiments/{experiment}", headers=admin)
    changed = client.patch(
        f"/api/v1/experiments/{experiment}",
        json={"variants": [{"key": "blue", "weight": 0.0}, {"key": "green", "weight": 1.0}]},
        headers={**admin, "If-Match": current.headers["ETag"]},
    )
    assert changed.status_code == 200, changed.text
    refresh(api_app)
    for unit in units:
        answer = client.post(
            "/api/v1/assign", json={"unit_id": unit, "experiments": [experiment]}, headers=headers
        ).json()["assignments"][0]
        assert (answer["variant"], answer["reason"]) == (first[unit], "sticky")
    newcomer = client.post(
        "/api/v1/assign",
        json={"unit_id": "newcomer", "experiments": [experiment]},
        headers=headers,
    ).json()["assignments"][0]
    assert (newcomer["variant"], newcomer["reason"]) == ("green", "bucketed")


def test_concurrent_first_calls_store_one_row_and_agree(
    client: TestClient, admin: dict[str, str], api_app: FastAPI
) -> None:
    experiment = start_experiment(client, admin)
    refresh(api_app)
    headers = sdk_key(client, admin)
    unit = unique("racer")

    def call(_: int) -> str:
        response = client.post(
            "/api/v1/assign", json={"unit_id": unit, "experiments": [experiment]}, headers=headers
        )
        assert response.status_code == 200, response.text
        answer = response.json()["assignments"][0]
        return f"{answer['variant']}:{answer['reason']}"

    with ThreadPoolExecutor(max_workers=20) as pool:
        variants = list(pool.map(call, range(100)))
    assert len({v.split(":")[0] for v in variants}) == 1, set(variants)
    with api_app.state.session_factory() as session:
        count = session.scalar(
            select(func.count())
            .select_from(Assignment)
            .join(Experiment, Experiment.id == Assignment.experiment_id)
            .where(Experiment.key == experiment, Assignment.unit_id == unit)
        )
    assert count == 1


def test_units_not_targeted_are_not_in_and_nothing_is_stored(
    client: TestClient, admin: dict[str, str], api_app: FastAPI
) -> None:
    experiment = start_experiment(client, admin, targeting={"country": "US"})
    refresh(api_app)
    headers = sdk_key(client, admin)
    answer = client.post(
        "/api/v1/assign",
        json={"unit_id": "outsider", "attributes": {"country": "FR"}, "experiments": [experiment]},
        headers=headers,
    ).json()["assignments"][0]
    assert answer == {
        "experiment": experiment,
        "variant": None,
        "in_experiment": False,
        "reason": "not_targeted",
        "payload": None,
        "url": None,
        "bucket": None,
    }
    assert rows(api_app, experiment, "outsider") == []
    everything = client.post(
        "/api/v1/assign",
        json={"unit_id": "outsider", "attributes": {"country": "FR"}},
        headers=headers,
    ).json()["assignments"]
    assert experiment not in {a["experiment"] for a in everything}
    insider = client.post(
        "/api/v1/assign",
        json={"unit_id": "insider", "attributes": {"country": "US"}},
        headers=headers,
    ).json()["assignments"]
    assert experiment in {a["experiment"] for a in insider if a["in_experiment"]}


def test_forced_units_are_stored_with_the_reason_forced(
    client: TestClient, admin: dict[str, str], api_app: FastAPI
) -> None:
    experiment = start_experiment(client, admin, forced_variants={"qa-1": "green"})
    refresh(api_app)
    answer = client.post(
        "/api/v1/assign",
        json={"unit_id": "qa-1", "experiments": [experiment]},
        headers=sdk_key(client, admin),
    ).json()["assignments"][0]
    assert (answer["variant"], answer["reason"]) == ("green", "forced")
    [row] = rows(api_app, experiment, "qa-1")
    assert row.reason.value == "forced"


def _variant_ids(api_app: FastAPI, experiment: str) -> tuple[uuid.UUID, dict[str, uuid.UUID]]:
    with api_app.state.session_factory() as session:
        found = session.scalars(select(Experiment).where(Experiment.key == experiment)).one()
        return found.id, {variant.key: variant.id for variant in found.variants}


def test_requests_that_arrive_together_are_stored_in_one_batch(
    client: TestClient, admin: dict[str, str], api_app: FastAPI
) -> None:
    experiment = start_experiment(client, admin)
    experiment_id, variants = _variant_ids(api_app, experiment)
    writer = AssignmentWriter(api_app.state.engine)

    def pending(unit: str, variant: str) -> PendingAssignments:
        proposal = NewAssignment(
            experiment_id, variants[variant], variant, 17, AssignmentReason.BUCKETED
        )
        return PendingAssignments(unit, {experiment_id: experiment}, [proposal])

    units = [unique("batch") for _ in range(30)]
    twin = unique("twin")

    async def together() -> list[BatchOutcome]:
        requests = [pending(unit, "blue") for unit in units]
        # Two requests of one unit in one batch: the first one's decision is stored.
        requests += [pending(twin, "green"), pending(twin, "blue")]
        outcomes = await asyncio.gather(*(writer.store(r) for r in requests))
        await writer.close()
        return list(outcomes)

    outcomes = asyncio.run(together())
    assert writer.batches == 1
    assert all(o.inserted == 1 and not o.stored for o in outcomes[:30])
    first, second = outcomes[30:]
    assert (first.inserted, first.stored) == (1, {})
    assert second.inserted == 0
    assert second.stored[experiment].variant == "green"
    assert [row.variant_id for row in rows(api_app, experiment, twin)] == [variants["green"]]
    assert all(len(rows(api_app, experiment, unit)) == 1 for unit in units)


def test_a_database_that_does_not_answer_gives_503_and_stores_nothing(
    client: TestClient, admin: dict[str, str], api_app: FastAPI, tmp_path: Path
) -> None:
    experiment = start_experiment(client, admin)
    refresh(api_app)
    headers = sdk_key(client, admin)
    url = api_app.state.engine.url
    unreachable = (
        url.set(database=f"missing_{uuid.uuid4().hex[:8]}")
        if url.get_backend_name() == "postgresql"
        else f"sqlite:///{tmp_path}/no/such/dir/verdict.db"
    )
    working = api_app.state.assignment_writer
    api_app.state.assignment_writer = AssignmentWriter(create_engine(unreachable))
    try:
        response = client.post(
            "/api/v1/assign",
            json={"unit_id": "unit-503", "experiments": [experiment]},
            headers=headers,
        )
    finally:
        api_app.state.assignment_writer = working
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "1"
    assert rows(api_app, experiment, "unit-503") == []


def test_an_experiment_randomised_by_an_attribute_gives_its_holders_one_variant(
    client: TestClient, admin: dict[str, str], api_app: FastAPI
) -> None:
    experiment = start_experiment(client, admin, hash_attribute="company_id")
    refresh(api_app)
    headers = sdk_key(client, admin)
    answers = [
        client.post(
            "/api/v1/assign",
            json={
                "unit_id": f"employee-{i}",
                "attributes": {"company_id": company},
                "experiments": [experiment],
            },
            headers=headers,
        ).json()["assignments"][0]
        for company in ("acme", "globex")
        for i in range(10)
    ]
    for company_answers in (answers[:10], answers[10:]):
        assert len({(a["variant"], a["bucket"]) for a in company_answers}) == 1
    # Each employee still has a sticky row of their own.
    assert len(rows(api_app, experiment, "employee-3")) == 1
    nobody = client.post(
        "/api/v1/assign",
        json={"unit_id": "freelancer", "experiments": [experiment]},
        headers=headers,
    ).json()["assignments"][0]
    assert (nobody["in_experiment"], nobody["reason"]) == (False, "targeting_key_missing")


def test_the_writer_lets_go_of_event_loops_that_ended(
    client: TestClient, admin: dict[str, str], api_app: FastAPI
) -> None:
    experiment = start_experiment(client, admin)
    experiment_id, variants = _variant_ids(api_app, experiment)
    writer = AssignmentWriter(api_app.state.engine)

    async def one() -> BatchOutcome:
        proposal = NewAssignment(
            experiment_id, variants["blue"], "blue", 1, AssignmentReason.BUCKETED
        )
        return await writer.store(
            PendingAssignments(unique("loop"), {experiment_id: experiment}, [proposal])
        )

    # Each asyncio.run is a new event loop that ends without closing the writer.
    assert asyncio.run(one()).inserted == 1
    first = next(iter(writer._states.values())).connection
    assert asyncio.run(one()).inserted == 1
    assert len(writer._states) == 1  # the ended loop's state is gone...
    assert first is None or first.closed  # ...and so is its connection
