"""Flag definitions through the API: create, read, list, edit, archive, delete, history."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.integration.conftest import unique

FLAGS = "/api/v1/flags"


def _create(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    body = {"key": unique("flag"), "name": "A flag", **body}
    response = client.post(FLAGS, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _patch(client: TestClient, headers: dict[str, str], key: str, body: dict[str, Any]) -> Any:
    etag = client.get(f"{FLAGS}/{key}", headers=headers).headers["etag"]
    return client.patch(f"{FLAGS}/{key}", json=body, headers={**headers, "If-Match": etag})


def _fields(response: Any) -> list[str]:
    return [error["field"] for error in response.json()["errors"]]


def _history(client: TestClient, headers: dict[str, str], key: str) -> list[dict[str, Any]]:
    response = client.get(f"{FLAGS}/{key}/history", headers=headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def test_creating_a_flag_returns_it_with_its_version_and_audits_it(
    client: TestClient, experimenter: dict[str, str]
) -> None:
    key = unique("new-checkout")
    response = client.post(
        FLAGS,
        json={
            "key": key,
            "name": "New checkout",
            "description": "The one-page checkout",
            "value_type": "string",
            "default_value": "old",
            "variants": [{"key": "on", "value": "new"}, {"key": "off", "value": "old"}],
            "tags": ["checkout", "q3", "checkout"],
        },
        headers=experimenter,
    )
    assert response.status_code == 201, response.text
    assert response.headers["etag"] == '"1"'
    flag = response.json()
    assert flag["key"] == key
    assert flag["value_type"] == "string"
    assert flag["variants"] == [{"key": "on", "value": "new"}, {"key": "off", "value": "old"}]
    assert flag["tags"] == ["checkout", "q3"]
    assert flag["archived"] is False
    assert flag["environments"] == {}
    assert flag["created_by"] == flag["updated_by"] is not None
    read = client.get(f"{FLAGS}/{key}", headers=experimenter)
    assert read.json() == flag
    assert read.headers["etag"] == '"1"'
    [entry] = _history(client, experimenter, key)
    assert (entry["action"], entry["resource_type"], entry["before"]) == (
        "create",
        "feature_flag",
        None,
    )
    assert entry["after"]["default_value"] == "old"
    assert entry["environment_id"] is None


def test_a_boolean_flag_defaults_to_false_and_other_types_need_a_default(
    client: TestClient, admin: dict[str, str]
) -> None:
    assert _create(client, admin)["default_value"] is False
    for value_type in ("string", "number", "json"):
        response = client.post(
            FLAGS,
            json={"key": unique("f"), "name": "F", "value_type": value_type},
            headers=admin,
        )
        assert response.status_code == 422
        assert _fields(response) == ["body.default_value"]
    assert _create(client, admin, value_type="json", default_value={})["default_value"] == {}


def test_default_and_variant_values_are_checked_against_the_type(
    client: TestClient, admin: dict[str, str]
) -> None:
    wrong_default = client.post(
        FLAGS,
        json={"key": unique("f"), "name": "F", "value_type": "number", "default_value": "7"},
        headers=admin,
    )
    assert wrong_default.status_code == 422
    assert _fields(wrong_default) == ["body.default_value"]
    assert "not a number value" in wrong_default.json()["detail"]
    wrong_variant = client.post(
        FLAGS,
        json={
            "key": unique("f"),
            "name": "F",
            "variants": [{"key": "on", "value": True}, {"key": "off", "value": "no"}],
        },
        headers=admin,
    )
    assert wrong_variant.status_code == 422
    assert _fields(wrong_variant) == ["body.variants.1.value"]
    duplicate = client.post(
        FLAGS,
        json={
            "key": unique("f"),
            "name": "F",
            "variants": [{"key": "on", "value": True}, {"key": "on", "value": False}],
        },
        headers=admin,
    )
    assert duplicate.status_code == 422
    assert _fields(duplicate) == ["body.variants.1.key"]


def test_keys_follow_the_identifier_syntax_and_are_unique(
    client: TestClient, admin: dict[str, str]
) -> None:
    for bad in ("1abc", "has space", "a" * 101, ""):
        response = client.post(FLAGS, json={"key": bad, "name": "F"}, headers=admin)
        assert response.status_code == 422, bad
        assert _fields(response) == ["body.key"]
    flag = _create(client, admin)
    again = client.post(FLAGS, json={"key": flag["key"], "name": "F"}, headers=admin)
    assert again.status_code == 409
    assert _fields(again) == ["body.key"]
    unknown_field = client.post(
        FLAGS, json={"key": unique("f"), "name": "F", "colour": "red"}, headers=admin
    )
    assert unknown_field.status_code == 422
    assert _fields(unknown_field) == ["body.colour"]


def test_values_no_database_or_sdk_could_hold_are_refused(
    client: TestClient, admin: dict[str, str]
) -> None:
    nested: Any = 1
    for _ in range(40):
        nested = [nested]
    for default in ("nul\u0000byte", nested, 10**400):
        response = client.post(
            FLAGS,
            json={"key": unique("f"), "name": "F", "value_type": "json", "default_value": default},
            headers=admin,
        )
        assert response.status_code == 422, response.text
        assert _fields(response) == ["body.default_value"]
    for raw in (b'"\\ud800"', b"NaN"):
        body = b'{"key": "%s", "name": "F", "value_type": "json", "default_value": %s}' % (
            unique("f").encode(),
            raw,
        )
        response = client.post(
            FLAGS, content=body, headers={**admin, "Content-Type": "application/json"}
        )
        assert response.status_code == 422, response.text
    name = client.post(FLAGS, json={"key": unique("f"), "name": "a\u0000b"}, headers=admin)
    assert name.status_code == 422
    assert _fields(name) == ["body.name"]


def test_owner_experiment_and_prerequisites_must_name_existing_things(
    client: TestClient, admin: dict[str, str]
) -> None:
    response = client.post(
        FLAGS,
        json={
            "key": unique("f"),
            "name": "F",
            "owner": "nobody-by-that-name",
            "experiment": "no-such-experiment",
            "prerequisites": [{"flag": "no-such-flag", "value": True}],
        },
        headers=admin,
    )
    assert response.status_code == 422
    assert sorted(_fields(response)) == [
        "body.experiment",
        "body.owner",
        "body.prerequisites.0.flag",
    ]


def test_a_prerequisite_value_must_be_of_the_prerequisite_flags_type(
    client: TestClient, admin: dict[str, str]
) -> None:
    parent = _create(client, admin, value_type="string", default_value="a")
    response = client.post(
        FLAGS,
        json={
            "key": unique("f"),
            "name": "F",
            "prerequisites": [{"flag": parent["key"], "value": 1}],
        },
        headers=admin,
    )
    assert response.status_code == 422
    assert _fields(response) == ["body.prerequisites.0.value"]
    twice = client.post(
        FLAGS,
        json={
            "key": unique("f"),
            "name": "F",
            "prerequisites": [{"flag": parent["key"], "value": "a"}] * 2,
        },
        headers=admin,
    )
    assert twice.status_code == 422
    assert _fields(twice) == ["body.prerequisites.1.flag"]
    child = _create(client, admin, prerequisites=[{"flag": parent["key"], "value": "b"}])
    assert child["prerequisites"] == [{"flag": parent["key"], "value": "b"}]


def test_a_prerequisite_cycle_is_refused_with_the_cycle_spelled_out(
    client: TestClient, admin: dict[str, str]
) -> None:
    c = _create(client, admin)
    b = _create(client, admin, prerequisites=[{"flag": c["key"], "value": True}])
    a = _create(client, admin, prerequisites=[{"flag": b["key"], "value": True}])
    closing = _patch(
        client, admin, c["key"], {"prerequisites": [{"flag": a["key"], "value": True}]}
    )
    assert closing.status_code == 409
    assert closing.json()["detail"] == (
        f"prerequisites would form a cycle: {c['key']} → {a['key']} → {b['key']} → {c['key']}"
    )
    assert _fields(closing) == ["body.prerequisites"]
    itself = _patch(client, admin, a["key"], {"prerequisites": [{"flag": a["key"], "value": True}]})
    assert itself.status_code == 409
    assert f"{a['key']} → {a['key']}" in itself.json()["detail"]
    assert client.get(f"{FLAGS}/{c['key']}", headers=admin).json()["prerequisites"] == []


def test_editing_a_flag_needs_the_current_version(
    client: TestClient, admin: dict[str, str]
) -> None:
    parent = _create(client, admin)
    flag = _create(client, admin)
    url = f"{FLAGS}/{flag['key']}"
    missing = client.patch(url, json={"name": "B"}, headers=admin)
    assert missing.status_code == 428
    assert _fields(missing) == ["header.If-Match"]
    first = client.patch(url, json={"name": "B"}, headers={**admin, "If-Match": '"1"'})
    assert first.status_code == 200
    assert first.headers["etag"] == '"2"'
    stale = client.patch(url, json={"name": "C"}, headers={**admin, "If-Match": '"1"'})
    assert stale.status_code == 412
    only_prerequisites = client.patch(
        url,
        json={"prerequisites": [{"flag": parent["key"], "value": False}]},
        headers={**admin, "If-Match": '"2"'},
    )
    assert only_prerequisites.status_code == 200
    assert only_prerequisites.headers["etag"] == '"3"'
    assert only_prerequisites.json()["name"] == "B"
    entries = _history(client, admin, flag["key"])
    assert [e["action"] for e in entries] == ["update", "update", "create"]
    assert entries[0]["before"]["prerequisites"] == []
    assert entries[0]["after"]["prerequisites"] == [{"flag": parent["key"], "value": False}]


def test_patch_changes_only_the_fields_sent_and_refuses_nulls_for_required_ones(
    client: TestClient, admin: dict[str, str], make_user: Any
) -> None:
    owner = make_user("viewer")
    flag = _create(client, admin, description="keep me", tags=["a"])
    edited = _patch(client, admin, flag["key"], {"owner": owner, "tags": ["b", "c"]})
    assert edited.status_code == 200, edited.text
    assert (edited.json()["owner"], edited.json()["tags"]) == (owner, ["b", "c"])
    assert edited.json()["description"] == "keep me"
    nulled = _patch(client, admin, flag["key"], {"name": None, "variants": None})
    assert nulled.status_code == 422
    assert sorted(_fields(nulled)) == ["body.name", "body.variants"]
    cleared = _patch(client, admin, flag["key"], {"owner": None, "description": None})
    assert (cleared.json()["owner"], cleared.json()["description"]) == (None, None)


def test_a_definition_change_that_breaks_a_rule_is_refused_naming_the_environment(
    client: TestClient, admin: dict[str, str]
) -> None:
    flag = _create(
        client,
        admin,
        value_type="string",
        default_value="off",
        variants=[{"key": "on", "value": "yes"}, {"key": "off", "value": "off"}],
    )
    url = f"{FLAGS}/{flag['key']}/environments/staging"
    rule = {"type": "force", "variant": "on", "condition": {"beta": True}}
    put = client.put(
        url, json={"enabled": True, "rules": [rule]}, headers={**admin, "If-Match": '"0"'}
    )
    assert put.status_code == 200, put.text
    dropped = _patch(client, admin, flag["key"], {"variants": [{"key": "off", "value": "off"}]})
    assert dropped.status_code == 422
    assert "in environment 'staging'" in dropped.json()["detail"]
    assert "unknown variant 'on'" in dropped.json()["detail"]
    retyped = _patch(client, admin, flag["key"], {"value_type": "number"})
    assert retyped.status_code == 422
    assert _fields(retyped) == ["body.variants.0.value"]
    unchanged = client.get(f"{FLAGS}/{flag['key']}", headers=admin).json()
    assert unchanged["version"] == 1
    assert unchanged["environments"]["staging"]["rules"] == 1


def test_changing_a_flags_type_is_refused_while_a_dependent_expects_the_old_type(
    client: TestClient, admin: dict[str, str]
) -> None:
    parent = _create(client, admin)
    _create(client, admin, prerequisites=[{"flag": parent["key"], "value": True}])
    retyped = _patch(client, admin, parent["key"], {"value_type": "string", "default_value": "x"})
    assert retyped.status_code == 422
    assert "prerequisites" in retyped.json()["detail"]


def test_lists_filter_by_tag_owner_text_type_and_environment_state(
    client: TestClient, admin: dict[str, str], make_user: Any
) -> None:
    owner = make_user("viewer")
    tag = unique("tag")
    marker = unique("marker")
    on = _create(client, admin, tags=[tag], owner=owner, description=f"about {marker}")
    assert on["owner"] == owner
    off = _create(client, admin, tags=[tag, "other"], value_type="number", default_value=0)
    _create(client, admin, tags=[tag + "x"])  # a longer tag is not the tag
    enable = client.post(
        f"{FLAGS}/{on['key']}/environments/development/enable",
        headers={**admin, "If-Match": '"0"'},
    )
    assert enable.status_code == 200, enable.text

    def keys(**params: Any) -> list[str]:
        response = client.get(FLAGS, params={"limit": 200, **params}, headers=admin)
        assert response.status_code == 200, response.text
        return [item["key"] for item in response.json()["items"]]

    assert sorted(keys(tag=tag)) == sorted([on["key"], off["key"]])
    assert keys(tag=tag, owner=owner) == [on["key"]]
    assert keys(q=marker) == [on["key"]]
    assert keys(tag=tag, type="number") == [off["key"]]
    assert keys(tag=tag, environment="development") == [on["key"]]
    assert keys(tag=tag, environment="development", enabled=True) == [on["key"]]
    assert keys(tag=tag, environment="development", enabled=False) == [off["key"]]
    assert keys(tag=tag, environment="production", enabled=True) == []
    assert client.get(FLAGS, params={"enabled": True}, headers=admin).status_code == 422
    summary = client.get(f"{FLAGS}/{on['key']}", headers=admin).json()["environments"]
    assert summary == {
        "development": {"enabled": True, "rollout_percentage": None, "rules": 0, "version": 1}
    }


def test_lists_sort_and_page_with_cursors(client: TestClient, admin: dict[str, str]) -> None:
    tag = unique("paged")
    created = sorted(_create(client, admin, tags=[tag])["key"] for _ in range(5))
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"tag": tag, "limit": 2, "sort": "-key"}
        if cursor:
            params["cursor"] = cursor
        page = client.get(FLAGS, params=params, headers=admin).json()
        seen += [item["key"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == created[::-1]
    bad_sort = client.get(FLAGS, params={"sort": "colour"}, headers=admin)
    assert bad_sort.status_code == 422
    assert _fields(bad_sort) == ["query.sort"]


def test_archiving_retires_a_flag_unless_live_flags_require_it(
    client: TestClient, admin: dict[str, str]
) -> None:
    tag = unique("arch")
    parent = _create(client, admin, tags=[tag])
    child = _create(
        client, admin, tags=[tag], prerequisites=[{"flag": parent["key"], "value": True}]
    )
    refused = client.post(f"{FLAGS}/{parent['key']}/archive", headers={**admin, "If-Match": '"1"'})
    assert refused.status_code == 409
    assert child["key"] in refused.json()["detail"]
    assert client.post(f"{FLAGS}/{child['key']}/archive", headers=admin).status_code == 428
    archived = client.post(f"{FLAGS}/{child['key']}/archive", headers={**admin, "If-Match": '"1"'})
    assert archived.status_code == 200
    assert archived.json()["archived"] is True
    again = client.post(f"{FLAGS}/{child['key']}/archive", headers={**admin, "If-Match": '"2"'})
    assert again.status_code == 409
    parent_archived = client.post(
        f"{FLAGS}/{parent['key']}/archive", headers={**admin, "If-Match": '"1"'}
    )
    assert parent_archived.status_code == 200
    live = client.get(FLAGS, params={"tag": tag}, headers=admin).json()["items"]
    assert live == []
    retired = client.get(FLAGS, params={"tag": tag, "archived": True}, headers=admin).json()
    assert len(retired["items"]) == 2
    blocked = client.post(f"{FLAGS}/{child['key']}/unarchive", headers={**admin, "If-Match": '"2"'})
    assert blocked.status_code == 409
    assert parent["key"] in blocked.json()["detail"]
    state = client.put(
        f"{FLAGS}/{child['key']}/environments/production",
        json={"enabled": True, "rules": []},
        headers={**admin, "If-Match": '"0"'},
    )
    assert state.status_code == 409
    requires_archived = client.post(
        FLAGS,
        json={
            "key": unique("f"),
            "name": "F",
            "prerequisites": [{"flag": parent["key"], "value": True}],
        },
        headers=admin,
    )
    assert requires_archived.status_code == 422
    assert "archived" in requires_archived.json()["detail"]
    restored = client.post(
        f"{FLAGS}/{parent['key']}/unarchive", headers={**admin, "If-Match": '"2"'}
    )
    assert restored.status_code == 200
    assert [e["action"] for e in _history(client, admin, parent["key"])] == [
        "unarchive",
        "archive",
        "create",
    ]


def test_a_flag_others_depend_on_cannot_be_deleted(
    client: TestClient, admin: dict[str, str], experimenter: dict[str, str]
) -> None:
    parent = _create(client, admin)
    child = _create(client, admin, prerequisites=[{"flag": parent["key"], "value": True}])
    url = f"{FLAGS}/{parent['key']}"
    assert client.delete(url, headers=admin).status_code == 428
    refused = client.delete(url, headers={**admin, "If-Match": '"1"'})
    assert refused.status_code == 409
    assert child["key"] in refused.json()["detail"]
    child_deleted = client.delete(
        f"{FLAGS}/{child['key']}", headers={**experimenter, "If-Match": '"1"'}
    )
    assert child_deleted.status_code == 204
    assert client.delete(url, headers={**admin, "If-Match": '"1"'}).status_code == 204
    assert client.get(url, headers=admin).status_code == 404
    entries = client.get(
        "/api/v1/audit",
        params={"resource_type": "feature_flag", "resource_id": parent["id"], "action": "delete"},
        headers=admin,
    ).json()["items"]
    assert entries[0]["before"]["key"] == parent["key"]
    assert entries[0]["after"] is None


def test_history_covers_definition_states_and_overrides_newest_first(
    client: TestClient, admin: dict[str, str], viewer: dict[str, str]
) -> None:
    flag = _create(client, admin)
    base = f"{FLAGS}/{flag['key']}/environments/production"
    put = client.put(
        base, json={"enabled": False, "rules": []}, headers={**admin, "If-Match": '"0"'}
    )
    assert put.status_code == 200
    assert client.post(f"{base}/enable", headers={**admin, "If-Match": '"1"'}).status_code == 200
    override = client.put(f"{base}/overrides/user-1", json={"value": True}, headers=admin)
    assert override.status_code == 201
    versioned = {**admin, "If-Match": override.headers["etag"]}
    assert client.delete(f"{base}/overrides/user-1", headers=versioned).status_code == 204
    _patch(client, admin, flag["key"], {"name": "Renamed"})
    entries = _history(client, viewer, flag["key"])
    assert [e["action"] for e in entries] == [
        "update",
        "delete_override",
        "set_override",
        "enable",
        "update",
        "create",
    ]
    assert [e["environment_id"] is not None for e in entries] == [
        False,
        True,
        True,
        True,
        True,
        False,
    ]
    page = client.get(f"{FLAGS}/{flag['key']}/history", params={"limit": 2}, headers=viewer)
    assert len(page.json()["items"]) == 2
    assert page.json()["next_cursor"] is not None
    assert client.get(f"{FLAGS}/no-such-flag/history", headers=viewer).status_code == 404


def test_viewers_read_flags_but_cannot_change_them(
    client: TestClient, admin: dict[str, str], viewer: dict[str, str]
) -> None:
    flag = _create(client, admin)
    assert client.get(f"{FLAGS}/{flag['key']}", headers=viewer).status_code == 200
    assert (
        client.post(FLAGS, json={"key": unique("f"), "name": "F"}, headers=viewer).status_code
        == 403
    )
    patch = client.patch(
        f"{FLAGS}/{flag['key']}", json={"name": "x"}, headers={**viewer, "If-Match": '"1"'}
    )
    assert patch.status_code == 403
    assert client.get(f"{FLAGS}/Not-There", headers=viewer).status_code == 404


def test_text_search_takes_like_wildcards_literally(
    client: TestClient, admin: dict[str, str]
) -> None:
    marker = unique("m")
    for key in (f"{marker}-a_b", f"{marker}-axb"):
        created = client.post(
            FLAGS,
            json={"key": key, "name": key, "value_type": "boolean", "default_value": False},
            headers=admin,
        )
        assert created.status_code == 201, created.text
    found = client.get(FLAGS, params={"q": f"{marker}-a_b"}, headers=admin).json()["items"]
    assert [flag["key"] for flag in found] == [f"{marker}-a_b"]
    both = client.get(FLAGS, params={"q": marker}, headers=admin).json()["items"]
    assert len(both) == 2
