"""What the flags API refuses at save time because it could only be served wrongly or
fail: json values that are not objects, integer values that are not whole numbers,
and prerequisite chains deeper than the engine evaluates. Each refusal is a 422
naming the request field."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.integration.conftest import unique
from verdict.engine import MAX_PREREQUISITE_DEPTH

FLAGS = "/api/v1/flags"
NOT_OBJECTS: list[Any] = [[1, 2], "text", 3, True, None]


def _create(client: TestClient, admin: dict[str, str], **body: Any) -> Any:
    return client.post(FLAGS, json={"key": unique("flag"), "name": "F", **body}, headers=admin)


def _created(client: TestClient, admin: dict[str, str], **body: Any) -> str:
    response = _create(client, admin, **body)
    assert response.status_code == 201, response.text
    return str(response.json()["key"])


def _fields(response: Any) -> list[str]:
    return [error["field"] for error in response.json()["errors"]]


def _state(client: TestClient, admin: dict[str, str], key: str, rules: list[Any]) -> Any:
    return client.put(
        f"{FLAGS}/{key}/environments/production",
        json={"enabled": True, "rules": rules},
        headers={**admin, "If-Match": '"0"'},
    )


@pytest.mark.parametrize("value", NOT_OBJECTS)
def test_json_flags_refuse_values_that_are_not_objects_at_every_field(
    client: TestClient, admin: dict[str, str], value: Any
) -> None:
    default = _create(client, admin, value_type="json", default_value=value)
    assert default.status_code == 422, default.text
    assert _fields(default) == ["body.default_value"]
    assert "is not a JSON object: json flags hold objects" in default.json()["detail"]

    variant = _create(
        client,
        admin,
        value_type="json",
        default_value={"a": 1},
        variants=[{"key": "ok", "value": {"b": 2}}, {"key": "bad", "value": value}],
    )
    assert _fields(variant) == ["body.variants.1.value"]

    key = _created(client, admin, value_type="json", default_value={"a": 1})
    edit = client.patch(
        f"{FLAGS}/{key}", json={"default_value": value}, headers={**admin, "If-Match": '"1"'}
    )
    assert (edit.status_code, _fields(edit)) == (422, ["body.default_value"])
    rule = _state(client, admin, key, [{"type": "force", "value": value}])
    assert (rule.status_code, _fields(rule)) == (422, ["body.rules.0.value"])
    override = client.put(
        f"{FLAGS}/{key}/environments/production/overrides/user-1",
        json={"value": value},
        headers=admin,
    )
    assert (override.status_code, _fields(override)) == (422, ["body.value"])
    prerequisite = _create(client, admin, prerequisites=[{"flag": key, "value": value}])
    assert (prerequisite.status_code, _fields(prerequisite)) == (
        422,
        ["body.prerequisites.0.value"],
    )
    # Objects are accepted everywhere, arrays and null inside them too.
    inside = {"items": [value], "note": None}
    assert _state(client, admin, key, [{"type": "force", "value": inside}]).status_code == 200


def test_integer_flags_take_whole_numbers_and_store_them_as_sent(
    client: TestClient, admin: dict[str, str]
) -> None:
    key = _created(
        client,
        admin,
        value_type="integer",
        default_value=10.0,
        variants=[{"key": "many", "value": 250}],
    )
    read = client.get(f"{FLAGS}/{key}", headers=admin).json()
    assert (read["value_type"], read["default_value"]) == ("integer", 10.0)
    fraction = _create(client, admin, value_type="integer", default_value=2.5)
    assert (fraction.status_code, _fields(fraction)) == (422, ["body.default_value"])
    assert "2.5 is not an integer value" in fraction.json()["detail"]
    huge = _create(client, admin, value_type="integer", default_value=2**53)
    assert (huge.status_code, _fields(huge)) == (422, ["body.default_value"])
    listed = client.get(FLAGS, params={"type": "integer", "q": key}, headers=admin).json()
    assert [flag["key"] for flag in listed["items"]] == [key]


def test_changing_a_number_flag_to_integer_needs_whole_numbers(
    client: TestClient, admin: dict[str, str]
) -> None:
    key = _created(client, admin, value_type="number", default_value=1.5)
    refused = client.patch(
        f"{FLAGS}/{key}", json={"value_type": "integer"}, headers={**admin, "If-Match": '"1"'}
    )
    assert (refused.status_code, _fields(refused)) == (422, ["body.default_value"])
    changed = client.patch(
        f"{FLAGS}/{key}",
        json={"value_type": "integer", "default_value": 2},
        headers={**admin, "If-Match": '"1"'},
    )
    assert changed.status_code == 200, changed.text


def _chain(client: TestClient, admin: dict[str, str], links: int) -> list[str]:
    """Flags k0 … k{links}, each requiring the next: ``links`` prerequisite links."""
    keys = [_created(client, admin)]
    for _ in range(links):
        keys.insert(0, _created(client, admin, prerequisites=[{"flag": keys[0], "value": False}]))
    return keys


def test_a_prerequisite_chain_deeper_than_the_engine_evaluates_is_refused(
    client: TestClient, admin: dict[str, str]
) -> None:
    keys = _chain(client, admin, MAX_PREREQUISITE_DEPTH)  # as deep as allowed
    one_more = _create(client, admin, prerequisites=[{"flag": keys[0], "value": False}])
    assert one_more.status_code == 422, one_more.text
    assert _fields(one_more) == ["body.prerequisites"]
    assert f"prerequisites nest {MAX_PREREQUISITE_DEPTH + 1} deep" in one_more.json()["detail"]
    # Lengthening the chain from its far end is refused too, naming the flag it breaks.
    bottom = keys[-1]
    extra = _created(client, admin)
    lengthen = client.patch(
        f"{FLAGS}/{bottom}",
        json={"prerequisites": [{"flag": extra, "value": False}]},
        headers={**admin, "If-Match": '"1"'},
    )
    assert lengthen.status_code == 422, lengthen.text
    assert f"$.flags.{keys[0]}.prerequisites: prerequisites nest" in lengthen.json()["detail"]
    assert client.get(f"{FLAGS}/{bottom}", headers=admin).json()["prerequisites"] == []
