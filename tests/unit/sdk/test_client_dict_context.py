"""A context given as a plain dict (``{"targeting_key": ..., "attributes": {...}}``, the
shape of the evaluate body) decides exactly as the same context given as an
EvaluationContext, on the fast path and off it; malformed dicts answer the caller's
default with reason ERROR, never raise. Expected values are read off :data:`CONFIG`."""

from __future__ import annotations

from collections.abc import Iterator
from types import MappingProxyType
from typing import Any

import pytest

from verdict.sdk import Client, ErrorCode, EvaluationContext, MemoryRecorder, Reason

CONFIG: dict[str, Any] = {
    "experiments": {
        "exp": {"variants": [{"key": "a", "weight": 0.5}, {"key": "b", "weight": 0.5}]},
    },
    "flags": {
        "pro-only": {
            "type": "boolean",
            "default": False,
            "rules": [{"id": "pro", "type": "force", "condition": {"plan": "pro"}, "value": True}],
        },
        "half": {
            "type": "boolean",
            "default": False,
            "rules": [{"id": "half", "type": "rollout", "percentage": 50, "value": True}],
        },
        "copy": {
            "type": "string",
            "default": "plain",
            "variants": [{"key": "a", "value": "A"}, {"key": "b", "value": "B"}],
            "rules": [{"id": "exp", "type": "experiment", "experiment": "exp"}],
        },
    },
}


@pytest.fixture
def client() -> Iterator[Client]:
    with Client("sdk-key", None, bootstrap=CONFIG, recorder=MemoryRecorder()) as held:
        yield held


def test_a_dict_context_decides_as_the_evaluation_context_does(client: Client) -> None:
    for i in range(400):
        attributes = {"plan": "pro" if i % 3 == 0 else "free"}
        unit = f"user-{i}"
        as_dict = {"targeting_key": unit, "attributes": attributes}
        as_tuple = EvaluationContext(unit, attributes)
        for flag in ("pro-only", "half"):
            assert client.is_enabled(flag, as_dict) is client.is_enabled(flag, as_tuple)
            assert client.get_bool(flag, True, as_dict) is client.get_bool(flag, True, as_tuple)
        assert client.get_string("copy", "?", as_dict) == client.get_string("copy", "?", as_tuple)
    # Both halves of the rollout and both variants were reached (else the check is cheap).
    units = [{"targeting_key": f"user-{i}", "attributes": {}} for i in range(400)]
    assert {client.is_enabled("half", ctx) for ctx in units} == {True, False}
    assert {client.get_string("copy", "?", ctx) for ctx in units} == {"A", "B"}
    assert client.is_enabled("pro-only", {"targeting_key": "u", "attributes": {"plan": "pro"}})


def test_exposures_from_a_dict_context_name_the_unit_and_its_attributes() -> None:
    recorder = MemoryRecorder()
    with Client("sdk-key", None, bootstrap=CONFIG, recorder=recorder) as client:
        value = client.get_string("copy", "?", {"targeting_key": "u-1", "attributes": {"x": 1}})
    [exposure] = recorder.exposures
    assert (exposure.unit_id, exposure.experiment_key) == ("u-1", "exp")
    assert {"a": "A", "b": "B"}[exposure.variant_key] == value
    assert dict(exposure.attributes) == {"x": 1}


@pytest.mark.parametrize(
    "context",
    [
        {"targeting_key": "u", "attributes": {"plan": "pro"}, "extra": 1},  # unknown field
        {"targeting_key": "u", "plan": "pro"},  # attributes at the top level
        {"targeting_key": 7, "attributes": {"plan": "pro"}},  # not a string
        {"targeting_key": "u" * 256, "attributes": {"plan": "pro"}},  # too long
        {"targeting_key": "u", "attributes": ["plan", "pro"]},  # not an object
    ],
)
def test_a_malformed_dict_answers_the_default_with_an_error(
    client: Client, context: dict[str, Any]
) -> None:
    assert client.is_enabled("pro-only", context) is False
    assert client.get_bool("pro-only", True, context) is True
    details = client.get_bool_details("pro-only", True, context)
    assert (details.value, details.reason, details.error_code) == (
        True,
        Reason.ERROR,
        ErrorCode.GENERAL,
    )


@pytest.mark.parametrize(
    "context",
    [
        {"targeting_key": None, "attributes": {"plan": "pro"}},  # no unit: force rules apply
        {"attributes": {"plan": "pro"}},
        {"targeting_key": "u", "attributes": MappingProxyType({"plan": "pro"})},  # any mapping
    ],
)
def test_dicts_off_the_fast_path_are_still_understood(
    client: Client, context: dict[str, Any]
) -> None:
    assert client.is_enabled("pro-only", context) is True
    assert client.get_bool("pro-only", False, context) is True
