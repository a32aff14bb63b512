"""OFREP answers for every key and context a client can send, and the types of values.

Malformed and unknown keys get the protocol's 404 ``{key, errorCode: FLAG_NOT_FOUND,
errorDetails}``, never the router's 404 or a 422 problem document; a NUL character in
a context is INVALID_CONTEXT (400, per flag or for the whole bulk request); number
flags answer floats and integer flags integers, as the standard library's JSON parser
reads the bytes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.integration.delivery.test_evaluate_api import make_flag, sdk_key

SINGLE = "/ofrep/v1/evaluate/flags/"
BULK = "/ofrep/v1/evaluate/flags"


@pytest.fixture
def headers(client: TestClient, admin: dict[str, str]) -> dict[str, str]:
    return sdk_key(client, admin)


@pytest.fixture
def flag(client: TestClient, admin: dict[str, str]) -> str:
    return make_flag(client, admin, value_type="boolean", default=False, variants=[], rules=[])


@pytest.mark.parametrize(
    ("path", "key", "why"),
    [
        ("x" * 101, "x" * 101, "at most 100 characters, this one 101"),
        ("x" * 5000, "x" * 5000, "at most 100 characters, this one 5000"),
        ("a%2Fb", "a/b", "holds no '/'"),
        ("a/b/c", "a/b/c", "holds no '/'"),
        ("", "", "the flag key is empty"),
        ("bad%0Akey", "bad\nkey", "no control characters"),
        ("bad%00key", "bad\x00key", "no control characters"),
        ("tab%09", "tab\t", "no control characters"),
        ("%20", " ", "starts with a letter"),
        ("1abc", "1abc", "starts with a letter"),
        ("no-such-flag", "no-such-flag", "'no-such-flag' is not in this environment"),
    ],
)
def test_a_key_no_flag_has_gets_the_protocols_flag_not_found(
    client: TestClient, headers: dict[str, str], path: str, key: str, why: str
) -> None:
    response = client.post(SINGLE + path, json={"context": {}}, headers=headers)
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"key", "errorCode", "errorDetails"}
    assert (body["key"], body["errorCode"]) == (key, "FLAG_NOT_FOUND")
    assert why in body["errorDetails"]


def test_an_unknown_key_is_not_found_whatever_the_body(
    client: TestClient, headers: dict[str, str]
) -> None:
    response = client.post(SINGLE + "nope", content=b"{not json", headers=headers)
    assert (response.status_code, response.json()["errorCode"]) == (404, "FLAG_NOT_FOUND")


def test_a_key_on_the_ofrep_path_still_needs_an_sdk_key(client: TestClient) -> None:
    assert client.post(SINGLE + "a%2Fb", json={}).status_code == 401


@pytest.mark.parametrize(
    ("context", "where"),
    [
        ({"targetingKey": "u", "name": "a\x00b"}, "context.name"),
        ({"targetingKey": "u\x00"}, "context.targetingKey"),
        ({"targetingKey": "u", "tags": ["ok", "\x00"]}, "context.tags[1]"),
        ({"targetingKey": "u", "deep": {"deeper": [{"x": "\x00"}]}}, "context.deep.deeper[0].x"),
        ({"targetingKey": "u", "a\x00": 1}, "a key of context"),
    ],
)
def test_a_nul_character_in_the_context_is_an_invalid_context(
    client: TestClient, headers: dict[str, str], flag: str, context: dict[str, Any], where: str
) -> None:
    single = client.post(SINGLE + flag, json={"context": context}, headers=headers)
    assert single.status_code == 400, single.text
    assert single.json() == {
        "key": flag,
        "errorCode": "INVALID_CONTEXT",
        "errorDetails": f"{where} contains a NUL character",
    }
    bulk = client.post(BULK, json={"context": context}, headers=headers)
    assert bulk.status_code == 400, bulk.text
    assert bulk.json() == {
        "errorCode": "INVALID_CONTEXT",
        "errorDetails": f"{where} contains a NUL character",
    }


def test_text_that_only_looks_like_a_nul_and_other_control_characters_are_accepted(
    client: TestClient, headers: dict[str, str], flag: str
) -> None:
    # The JSON text "\\u0000" is a backslash followed by "u0000", not a NUL.
    for raw in (
        rb'{"context": {"targetingKey": "u", "note": "\\u0000"}}',
        rb'{"context": {"targetingKey": "u", "lines": "a\nb\tc\u0001"}}',
        rb'{"other": "\u0000", "context": {"targetingKey": "u"}}',
    ):
        response = client.post(
            SINGLE + flag, content=raw, headers={**headers, "Content-Type": "application/json"}
        )
        assert response.status_code == 200, (raw, response.text)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"context": {"a": ' + b"[" * 5000 + b"]" * 5000 + b"}}",
        b'{"context": {"targetingKey": "\\ud800"}}',
        b'{"context": {"a": NaN}}',
    ],
    ids=["nested-5000-deep", "lone-surrogate", "nan"],
)
def test_bodies_no_json_parser_should_accept_are_parse_errors(
    client: TestClient, headers: dict[str, str], flag: str, raw: bytes
) -> None:
    typed = {**headers, "Content-Type": "application/json"}
    single = client.post(SINGLE + flag, content=raw, headers=typed)
    assert (single.status_code, single.json()["errorCode"]) == (400, "PARSE_ERROR")
    bulk = client.post(BULK, content=raw, headers=typed)
    assert (bulk.status_code, bulk.json()["errorCode"]) == (400, "PARSE_ERROR")


def test_number_flags_answer_floats_and_integer_flags_integers(
    client: TestClient, admin: dict[str, str], headers: dict[str, str]
) -> None:
    rule = {"id": "pro", "type": "force", "condition": {"plan": "pro"}, "value": 3}
    written = [
        ("number", 10, [{"key": "two", "value": 2}], float),
        ("number", 10.0, [{"key": "two", "value": 2.0}], float),
        ("integer", 10, [{"key": "two", "value": 2}], int),
        ("integer", 10.0, [{"key": "two", "value": 2.0}], int),
    ]
    for value_type, default, variants, python_type in written:
        rules = [
            rule,
            {"id": "free", "type": "force", "condition": {"plan": "free"}, "variant": "two"},
        ]
        key = make_flag(
            client, admin, value_type=value_type, default=default, variants=variants, rules=rules
        )
        served = []
        for plan in ("none", "pro", "free"):
            context = {"context": {"targetingKey": "u", "plan": plan}}
            response = client.post(SINGLE + key, json=context, headers=headers)
            assert response.status_code == 200, response.text
            served.append(json.loads(response.content)["value"])
            bulk = json.loads(client.post(BULK, json=context, headers=headers).content)
            [entry] = [entry for entry in bulk["flags"] if entry["key"] == key]
            assert entry["value"] == served[-1]
            assert type(entry["value"]) is python_type
        assert served == [10, 3, 2]
        assert [type(value) for value in served] == [python_type] * 3, (value_type, default)


def test_every_bulk_success_names_a_variant(
    client: TestClient, admin: dict[str, str], headers: dict[str, str]
) -> None:
    named = make_flag(
        client,
        admin,
        value_type="string",
        default="a",
        variants=[{"key": "named-b", "value": "b"}],
        rules=[{"id": "serve-b", "type": "force", "value": "b"}],
    )
    unnamed = make_flag(
        client,
        admin,
        value_type="string",
        default="a",
        variants=[],
        rules=[{"id": "serve-c", "type": "force", "condition": {"plan": "pro"}, "value": "c"}],
    )
    response = client.post(BULK, json={"context": {"targetingKey": "u"}}, headers=headers)
    successes = [entry for entry in response.json()["flags"] if "errorCode" not in entry]
    assert successes
    assert all(isinstance(entry["variant"], str) and entry["variant"] for entry in successes)
    by_key = {entry["key"]: entry for entry in successes}
    # A rule's raw value that equals a named variant is reported as that variant.
    assert (by_key[named]["value"], by_key[named]["variant"]) == ("b", "named-b")
    assert (by_key[unnamed]["value"], by_key[unnamed]["variant"]) == ("a", "default")
