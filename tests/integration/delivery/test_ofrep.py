"""OFREP against a running ``verdict serve``, through the OpenFeature SDK's OFREP provider."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

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
from tests.integration.delivery.test_stream import LiveServer
from tests.integration.delivery.test_stream import start_server as start_live_server


@pytest.fixture
def start_server(migrated_url: str) -> Iterator[Callable[[], str]]:
    """Starts ``verdict serve`` on the test database when called; answers its base URL.

    A test calls it after its setup: a server compiles every environment when it
    starts, and on SQLite (one serving process per database is the supported layout)
    it does not hear of changes this test makes through its own app.
    """
    servers: list[LiveServer] = []

    def start() -> str:
        servers.append(start_live_server(migrated_url))
        return servers[-1].base

    try:
        yield start
    finally:
        for server in servers:
            server.stop()


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


def _override(client: TestClient, admin: dict[str, str], flag: str, unit: str, value: Any) -> None:
    response = client.put(
        f"/api/v1/flags/{flag}/environments/production/overrides/{unit}",
        json={"value": value},
        headers=admin,
    )
    assert response.status_code == 201, response.text


def test_the_python_provider_resolves_unnamed_values_with_a_variant_and_their_type(
    client: TestClient, admin: dict[str, str], start_server: Callable[[], str]
) -> None:
    """Flags created without variants, raw-value rules and overrides: the published
    provider reads ``variant`` unconditionally and checks Python types, so each answer
    needs a variant, integers as ints and numbers as floats."""
    beta = {"beta": True}
    boolean = make_flag(
        client,
        admin,
        value_type="boolean",
        default=False,
        variants=[],
        rules=[{"id": "beta-users", "type": "force", "condition": beta, "value": True}],
    )
    string = make_flag(
        client,
        admin,
        value_type="string",
        default="blue",
        variants=[],
        rules=[{"id": "ramp", "type": "rollout", "percentage": 100, "value": "green"}],
    )
    integer = make_flag(
        client,
        admin,
        value_type="integer",
        default=10.0,
        variants=[],
        rules=[{"id": "beta-limit", "type": "force", "condition": beta, "value": 25.0}],
    )
    number = make_flag(client, admin, value_type="number", default=10, variants=[], rules=[])
    _override(client, admin, number, "qa-1", 4)
    document = make_flag(
        client,
        admin,
        value_type="json",
        default={"limit": 10},
        variants=[],
        rules=[],
        enabled=False,
    )
    key = sdk_key(client, admin)
    server = start_server()
    provider = OFREPProvider(server, headers_factory=lambda: dict(key))
    name = unique("ofrep")
    api.set_provider(provider, domain=name)
    flags = api.get_client(name)
    plain = EvaluationContext(targeting_key="user-2", attributes={"beta": False})
    tester = EvaluationContext(targeting_key="user-3", attributes=beta)
    qa = EvaluationContext(targeting_key="qa-1")

    def details(resolved: Any) -> tuple[Any, Any, Any, Any]:
        return (resolved.value, resolved.variant, resolved.reason, resolved.error_code)

    assert details(flags.get_boolean_details(boolean, True, plain)) == (
        False,
        "default",
        Reason.DEFAULT,
        None,
    )
    assert details(flags.get_boolean_details(boolean, False, tester)) == (
        True,
        "beta-users",
        Reason.TARGETING_MATCH,
        None,
    )
    assert details(flags.get_string_details(string, "red", plain)) == (
        "green",
        "ramp",
        Reason.SPLIT,
        None,
    )
    limit = flags.get_integer_details(integer, 0, plain)
    assert details(limit) == (10, "default", Reason.DEFAULT, None)
    assert type(limit.value) is int
    raised = flags.get_integer_details(integer, 0, tester)
    assert details(raised) == (25, "beta-limit", Reason.TARGETING_MATCH, None)
    amount = flags.get_float_details(number, 0.5, plain)
    assert details(amount) == (10.0, "default", Reason.DEFAULT, None)
    assert type(amount.value) is float
    assert details(flags.get_float_details(number, 0.5, qa)) == (
        4.0,
        "override",
        Reason.TARGETING_MATCH,
        None,
    )
    assert details(flags.get_object_details(document, {}, plain)) == (
        {"limit": 10},
        "default",
        Reason.DISABLED,
        None,
    )
    # Each flag keeps its declared type: a number flag is no integer, nor the reverse.
    assert flags.get_integer_details(number, 7, plain).error_code == ErrorCode.TYPE_MISMATCH
    assert flags.get_float_details(integer, 0.5, plain).error_code == ErrorCode.TYPE_MISMATCH

    for odd_key in ("a/b", "x" * 101):
        missing = flags.get_boolean_details(odd_key, True, plain)
        assert (missing.value, missing.error_code) == (True, ErrorCode.FLAG_NOT_FOUND)
    nul = EvaluationContext(targeting_key="user-2", attributes={"name": "a\x00b"})
    refused = flags.get_boolean_details(boolean, True, nul)
    assert (refused.value, refused.error_code) == (True, ErrorCode.INVALID_CONTEXT)

    # The same answers from uvicorn itself: an encoded slash, and the bulk entries.
    slash = httpx.post(f"{server}/ofrep/v1/evaluate/flags/a%2Fb", json={}, headers=key)
    assert (slash.status_code, slash.json()["key"], slash.json()["errorCode"]) == (
        404,
        "a/b",
        "FLAG_NOT_FOUND",
    )
    bulk = httpx.post(
        f"{server}/ofrep/v1/evaluate/flags", json={"context": {"targetingKey": "qa-1"}}, headers=key
    )
    entries = {entry["key"]: entry for entry in bulk.json()["flags"]}
    assert {flag: entries[flag]["variant"] for flag in (boolean, string, number, document)} == {
        boolean: "default",
        string: "ramp",
        number: "override",
        document: "default",
    }
    assert all(
        isinstance(entry.get("variant"), str)
        for entry in entries.values()
        if "errorCode" not in entry
    )


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
    # The enumeration of the protocol's last definition of this document (before its
    # removal in May 2025): int, float, string, boolean, object.
    supported = body["capabilities"]["flagEvaluation"]["supportedTypes"]
    assert sorted(supported) == sorted(["int", "float", "string", "boolean", "object"])
    etag = response.headers["etag"]
    again = client.get("/ofrep/v1/configuration", headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304
    assert client.get("/ofrep/v1/configuration").status_code == 401
