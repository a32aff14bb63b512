"""OFREP against a running ``verdict serve``, through the OpenFeature SDK's OFREP provider."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

from tests.integration.conftest import unique
from tests.integration.delivery.test_evaluate_api import make_flag, sdk_key


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def start_server(migrated_url: str) -> Iterator[Callable[[], str]]:
    """Starts ``verdict serve`` on the test database when called; answers its base URL.

    A test calls it after its setup: a server compiles every environment when it
    starts, and on SQLite (one serving process per database is the supported layout)
    it does not hear of changes this test makes through its own app.
    """
    processes: list[subprocess.Popen[bytes]] = []

    def start() -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VERDICT_")}
        env["VERDICT_DATABASE_URL"] = migrated_url
        port = _free_port()
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "verdict", "serve", "--port", str(port), "--no-migrate"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        return base

    try:
        yield start
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=15)


def test_the_openfeature_ofrep_provider_resolves_flags(
    client: TestClient, admin: dict[str, str], start_server: Callable[[], str]
) -> None:
    on_off = [{"key": "on", "value": True}, {"key": "off", "value": False}]
    boolean = make_flag(
        client,
        admin,
        value_type="boolean",
        default=False,
        variants=on_off,
        rules=[{"id": "beta", "type": "force", "variant": "on", "condition": {"beta": True}}],
    )
    string = make_flag(
        client,
        admin,
        value_type="string",
        default="blue",
        variants=[{"key": "blue", "value": "blue"}, {"key": "green", "value": "green"}],
        rules=[{"id": "all", "type": "force", "variant": "green"}],
    )
    number = make_flag(
        client,
        admin,
        value_type="number",
        default=2.5,
        variants=[{"key": "low", "value": 2.5}],
        rules=[],
    )
    json_flag = make_flag(
        client,
        admin,
        value_type="json",
        default={"limit": 10},
        variants=[{"key": "small", "value": {"limit": 10}}],
        rules=[],
        enabled=False,
    )
    key = sdk_key(client, admin)
    provider = OFREPProvider(start_server(), headers_factory=lambda: dict(key))
    name = unique("ofrep")
    api.set_provider(provider, domain=name)
    flags = api.get_client(name)
    beta = EvaluationContext(targeting_key="user-1", attributes={"beta": True})
    plain = EvaluationContext(targeting_key="user-2", attributes={"beta": False})

    hit = flags.get_boolean_details(boolean, False, beta)
    assert (hit.value, hit.variant, hit.reason) == (True, "on", Reason.TARGETING_MATCH)
    assert hit.flag_metadata == {"rule": "beta"}
    miss = flags.get_boolean_details(boolean, True, plain)
    assert (miss.value, miss.variant, miss.reason) == (False, "off", Reason.DEFAULT)
    colour = flags.get_string_details(string, "red", plain)
    assert (colour.value, colour.variant, colour.reason) == (
        "green",
        "green",
        Reason.TARGETING_MATCH,
    )
    amount = flags.get_float_details(number, 0.0, plain)
    assert (amount.value, amount.variant, amount.reason) == (2.5, "low", Reason.STATIC)
    document = flags.get_object_details(json_flag, {}, plain)
    assert (document.value, document.reason) == ({"limit": 10}, Reason.DISABLED)

    missing = flags.get_boolean_details("no-such-flag", True, plain)
    assert (missing.value, missing.error_code, missing.reason) == (
        True,
        ErrorCode.FLAG_NOT_FOUND,
        Reason.ERROR,
    )
    mismatch = flags.get_boolean_details(string, True, plain)
    assert (mismatch.value, mismatch.error_code) == (True, ErrorCode.TYPE_MISMATCH)


def test_bulk_evaluation_answers_304_to_an_unchanged_etag(
    client: TestClient, admin: dict[str, str], start_server: Callable[[], str]
) -> None:
    flag = make_flag(
        client,
        admin,
        value_type="boolean",
        default=False,
        variants=[{"key": "on", "value": True}, {"key": "off", "value": False}],
        rules=[],
    )
    headers = sdk_key(client, admin, "client")
    server = start_server()
    body = {"context": {"targetingKey": "user-1", "plan": "pro"}}
    first = httpx.post(f"{server}/ofrep/v1/evaluate/flags", json=body, headers=headers)
    assert first.status_code == 200, first.text
    assert {"key": flag, "value": False, "reason": "STATIC", "variant": "off", "metadata": {}} in (
        first.json()["flags"]
    )
    etag = first.headers["ETag"]
    again = httpx.post(
        f"{server}/ofrep/v1/evaluate/flags", json=body, headers={**headers, "If-None-Match": etag}
    )
    assert (again.status_code, again.content, again.headers["ETag"]) == (304, b"", etag)
    other = httpx.post(
        f"{server}/ofrep/v1/evaluate/flags",
        json={"context": {"targetingKey": "user-2"}},
        headers={**headers, "If-None-Match": etag},
    )
    assert other.status_code == 200


def test_ofrep_errors_use_the_protocol_bodies(client: TestClient, admin: dict[str, str]) -> None:
    headers = sdk_key(client, admin)
    split = make_flag(
        client,
        admin,
        value_type="boolean",
        default=False,
        variants=[{"key": "on", "value": True}, {"key": "off", "value": False}],
        rules=[{"id": "half", "type": "rollout", "percentage": 50, "variant": "on"}],
    )
    client.app.state.snapshots.invalidate(None)  # type: ignore[attr-defined]
    no_key = client.post(f"/ofrep/v1/evaluate/flags/{split}", json={"context": {}}, headers=headers)
    assert no_key.status_code == 400
    assert no_key.json()["errorCode"] == "TARGETING_KEY_MISSING"
    assert no_key.json()["key"] == split
    bad = client.post(
        f"/ofrep/v1/evaluate/flags/{split}", json={"context": {"targetingKey": 7}}, headers=headers
    )
    assert (bad.status_code, bad.json()["errorCode"]) == (400, "INVALID_CONTEXT")
    garbled = client.post(
        f"/ofrep/v1/evaluate/flags/{split}", content=b"{not json", headers=headers
    )
    assert (garbled.status_code, garbled.json()["errorCode"]) == (400, "PARSE_ERROR")
    missing = client.post("/ofrep/v1/evaluate/flags/nope", json={}, headers=headers)
    assert missing.status_code == 404
    assert missing.json() == {
        "key": "nope",
        "errorCode": "FLAG_NOT_FOUND",
        "errorDetails": missing.json()["errorDetails"],
    }
    bulk = client.post("/ofrep/v1/evaluate/flags", json={"context": {}}, headers=headers)
    assert bulk.status_code == 200
    [entry] = [f for f in bulk.json()["flags"] if f["key"] == split]
    assert entry["errorCode"] == "TARGETING_KEY_MISSING"
    assert (
        client.post("/ofrep/v1/evaluate/flags", json={"context": []}, headers=headers).json()[
            "errorCode"
        ]
        == "INVALID_CONTEXT"
    )
    assert client.post(f"/ofrep/v1/evaluate/flags/{split}", json={}).status_code == 401
    assert (
        client.post(f"/ofrep/v1/evaluate/flags/{split}", json={}, headers=admin).status_code == 403
    )


def test_the_provider_configuration_names_its_capabilities_with_an_etag(
    client: TestClient, admin: dict[str, str]
) -> None:
    headers = sdk_key(client, admin)
    response = client.get("/ofrep/v1/configuration", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == "Verdict"
    polling = body["capabilities"]["cacheInvalidation"]["polling"]
    assert polling["enabled"] is True
    assert polling["minPollingIntervalMs"] >= 1
    assert "boolean" in body["capabilities"]["flagEvaluation"]["supportedTypes"]
    etag = response.headers["etag"]
    again = client.get("/ofrep/v1/configuration", headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304
    assert client.get("/ofrep/v1/configuration").status_code == 401
