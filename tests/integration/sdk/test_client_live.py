"""The SDK client against a live ``verdict serve`` (a subprocess, on SQLite and on
PostgreSQL): it gets
ready, hears a change made through the management API, keeps serving through a server
outage while reporting STALE, recovers, and decides exactly as the server's
``POST /api/v1/evaluate`` does for 1,000 units across the conformance environment's
flags (tests/integration/conformance/flags.py)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import DatabaseFactory
from tests.integration.conformance.flags import (
    ENVIRONMENT,
    FLAGS,
    FORCED_UNIT,
    OVERRIDE_UNIT,
    create_flags,
)
from tests.integration.conformance.server import sdk_key
from tests.integration.delivery.test_stream import (
    LiveServer,
    admin_headers,
    create_flag,
)
from tests.integration.sdk.conftest import live_verdict
from tests.integration.sdk.test_recorder_live import restart
from verdict.sdk import Client, ClientStatus, ErrorCode, EvaluationContext, MemoryRecorder

WAIT = 20.0  # generous bounds: the suite asserts that things happen, never how fast
UNITS = 1_000


def eventually(condition: Callable[[], bool], timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def make_client(base: str, key: str, recorder: MemoryRecorder | None = None) -> Client:
    return Client(
        key,
        base,
        recorder=recorder or MemoryRecorder(),
        retry_initial=0.2,
        retry_max=1.0,
        timeout=5.0,
    )


@pytest.fixture(scope="module")
def environment(
    database_factory: DatabaseFactory, backend: str
) -> Iterator[tuple[LiveServer, str]]:
    """A live server with the conformance flags, and a server key of its environment."""
    with live_verdict(database_factory, backend) as server:
        admin = admin_headers(server.base)
        key = sdk_key(server.base, admin, "server")
        unavailable = create_flags(server.base, admin, server.url)
        assert unavailable == {}, unavailable
        yield server, key


def test_the_client_gets_ready_and_hears_a_change(environment: tuple[LiveServer, str]) -> None:
    server, key = environment
    with make_client(server.base, key) as client:
        assert client.wait_until_ready(WAIT)
        assert client.status is ClientStatus.READY
        assert set(FLAGS) <= set(client.configuration["flags"])
        etag = client.etag
        flag = create_flag(server.base, admin_headers(server.base))
        assert eventually(
            lambda: client.get_bool_details(flag, True).error_code is not ErrorCode.FLAG_NOT_FOUND
        ), "the new flag never reached the client"
        assert client.etag != etag


def _contexts() -> list[EvaluationContext]:
    rng = random.Random(14)
    units = [FORCED_UNIT, OVERRIDE_UNIT, *(f"unit-{i}" for i in range(UNITS - 2))]
    contexts = []
    for unit in units:
        attributes: dict[str, Any] = {
            "beta": rng.random() < 0.3,
            "country": rng.choice(["NL", "US", "DE"]),
            "plan": rng.choice(["pro", "free"]),
        }
        contexts.append(EvaluationContext(unit, attributes))
    return contexts


def test_sdk_and_server_decide_identically_for_1000_units(
    environment: tuple[LiveServer, str],
) -> None:
    server, key = environment
    recorder = MemoryRecorder()
    contexts = _contexts()
    with make_client(server.base, key, recorder) as client, httpx.Client() as http:
        assert client.wait_until_ready(WAIT)
        flags = sorted(FLAGS)
        mismatches: list[str] = []
        for ctx in contexts:
            response = http.post(
                f"{server.base}/api/v1/evaluate",
                json={"targeting_key": ctx.targeting_key, "attributes": dict(ctx.attributes)},
                headers={"Authorization": f"Bearer {key}"},
            )
            assert response.status_code == 200, response.text
            assert response.json()["environment"] == ENVIRONMENT
            expected = response.json()["flags"]
            local = client.evaluate_all(ctx)
            for flag in flags:
                want, got = expected[flag], local[flag]
                mine = {
                    "value": got.value,
                    "variant": got.variant,
                    "reason": got.reason.value,
                    "error_code": None if got.error_code is None else got.error_code.value,
                    "rule": got.rule,
                }
                theirs = {name: want[name] for name in mine}
                if mine != theirs or type(got.value) is not type(want["value"]):
                    mismatches.append(f"{ctx.targeting_key} {flag}: sdk {mine} server {theirs}")
        assert mismatches == [], mismatches[:10]

        # The typed getters give the same values, and record the experiment's exposures.
        experiment_flag = "conf-experiment-flag"
        for ctx in contexts[:50]:
            assert (
                client.get_string(experiment_flag, "?", ctx)
                == client.evaluate_all(ctx)[experiment_flag].value
            )
        assert {e.experiment_key for e in recorder.exposures} == {"conf-experiment"}
        assert (FORCED_UNIT, "treatment") in {
            (e.unit_id, e.variant_key) for e in recorder.exposures
        }


def test_an_outage_leaves_the_last_configuration_serving_and_reads_stale(
    server: LiveServer,
) -> None:
    admin = admin_headers(server.base)
    key = sdk_key(server.base, admin, "server")
    flag = create_flag(server.base, admin)
    with make_client(server.base, key) as client:
        assert client.wait_until_ready(WAIT)
        assert client.get_bool_details(flag, True).error_code is None
        served = client.get_bool(flag, True)

        server.stop()
        assert eventually(lambda: client.status is ClientStatus.STALE)
        details = client.get_bool_details(flag, not served)
        assert (details.value, details.error_code) == (served, None)

        restart(server)
        assert eventually(lambda: client.status is ClientStatus.READY)
        later = create_flag(server.base, admin_headers(server.base))
        assert eventually(lambda: client.get_bool_details(later, True).error_code is None)
