"""Quick toggles (enable / disable without If-Match) and the 428 that tells where the
ETag comes from."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.integration.conftest import unique

FLAGS = "/api/v1/flags"


def _flag(client: TestClient, headers: dict[str, str]) -> str:
    key = unique("toggle")
    response = client.post(FLAGS, json={"key": key, "name": "T"}, headers=headers)
    assert response.status_code == 201, response.text
    return key


def test_a_flag_is_turned_on_and_off_without_if_match(
    client: TestClient, admin: dict[str, str], experimenter: dict[str, str]
) -> None:
    key = _flag(client, admin)
    base = f"{FLAGS}/{key}/environments/production"
    on = client.post(f"{base}/enable", headers=experimenter)
    assert on.status_code == 200, on.text
    assert (on.json()["enabled"], on.headers["etag"]) == (True, '"1"')
    again = client.post(f"{base}/enable", headers=experimenter)
    assert (again.json()["enabled"], again.headers["etag"]) == (True, '"1"')
    off = client.post(f"{base}/disable", headers=experimenter)
    assert (off.json()["enabled"], off.headers["etag"]) == (False, '"2"')
    state = client.get(base, headers=admin)
    assert (state.json()["enabled"], state.headers["etag"]) == (False, '"2"')
    history = client.get(f"{FLAGS}/{key}/history", headers=admin).json()["items"]
    production = client.get("/api/v1/environments/production", headers=admin).json()
    # Two changes, two entries: the repeated enable changed nothing and wrote nothing.
    assert [(e["action"], e["environment_id"]) for e in history[:2]] == [
        ("disable", production["id"]),
        ("enable", production["id"]),
    ]
    assert [e["action"] for e in history].count("enable") == 1
    assert (history[0]["before"]["enabled"], history[0]["after"]["enabled"]) == (True, False)


def test_a_toggle_still_checks_an_if_match_that_is_sent(
    client: TestClient, admin: dict[str, str]
) -> None:
    key = _flag(client, admin)
    base = f"{FLAGS}/{key}/environments/staging"
    stale = client.post(f"{base}/enable", headers={**admin, "If-Match": '"7"'})
    assert stale.status_code == 412
    assert client.get(base, headers=admin).json()["enabled"] is False


def test_a_toggle_needs_the_flag_edit_permission(
    client: TestClient, admin: dict[str, str], viewer: dict[str, str]
) -> None:
    key = _flag(client, admin)
    base = f"{FLAGS}/{key}/environments/staging"
    assert client.post(f"{base}/enable", headers=viewer).status_code == 403
    assert client.post(f"{base}/disable").status_code == 401
    assert client.get(base, headers=admin).json()["version"] == 0


def test_a_toggle_of_an_unknown_environment_is_404(
    client: TestClient, admin: dict[str, str]
) -> None:
    key = _flag(client, admin)
    assert client.post(f"{FLAGS}/{key}/environments/moon/enable", headers=admin).status_code == 404


def test_the_428_names_the_get_that_returns_the_etag(
    client: TestClient, admin: dict[str, str]
) -> None:
    key = _flag(client, admin)
    edit = client.patch(f"{FLAGS}/{key}", json={"name": "Renamed"}, headers=admin)
    assert edit.status_code == 428
    detail = edit.json()["detail"]
    assert f"GET /api/v1/flags/{key} returns it in its ETag header" in detail
    assert 'If-Match: "1"' in detail
    assert 'If-Match: "0"' in detail
    assert edit.json()["errors"] == [{"field": "header.If-Match", "reason": detail}]
    # The hint is true: the ETag of that GET makes the same edit succeed, and a flag
    # created and never edited is at "1".
    etag = client.get(f"{FLAGS}/{key}", headers=admin).headers["etag"]
    assert etag == '"1"'
    assert (
        client.patch(
            f"{FLAGS}/{key}", json={"name": "Renamed"}, headers={**admin, "If-Match": etag}
        ).status_code
        == 200
    )


def test_the_428_of_an_action_names_the_resource_it_acts_on(
    client: TestClient, admin: dict[str, str]
) -> None:
    key = _flag(client, admin)
    state = client.put(
        f"{FLAGS}/{key}/environments/production",
        json={"enabled": True, "rules": []},
        headers=admin,
    )
    assert state.status_code == 428
    assert f"GET /api/v1/flags/{key}/environments/production returns it" in (state.json()["detail"])
    archive = client.post(f"{FLAGS}/{key}/archive", headers=admin)
    assert archive.status_code == 428
    assert f"GET /api/v1/flags/{key} returns it" in archive.json()["detail"]


def test_the_spec_documents_the_toggles_with_an_optional_if_match(api_app: FastAPI) -> None:
    paths = api_app.openapi()["paths"]
    for action in ("enable", "disable"):
        operation = paths[f"/api/v1/flags/{{key}}/environments/{{environment}}/{action}"]["post"]
        header = next(p for p in operation["parameters"] if p["name"] == "If-Match")
        assert header["required"] is False
        assert "x-verdict-optional-if-match" not in header["schema"]
        assert {"401", "403", "404", "409", "412", "422", "503"} <= set(operation["responses"])
        assert "428" not in operation["responses"]
        assert "If-Match" in operation["description"]
    put = paths["/api/v1/flags/{key}/environments/{environment}"]["put"]
    assert next(p for p in put["parameters"] if p["name"] == "If-Match")["required"] is True
    assert "428" in put["responses"]
