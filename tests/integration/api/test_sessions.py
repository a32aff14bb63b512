"""Sessions end when what they stood on changes: a password change, deactivation, losing
a role or the superuser flag, and ``verdict users reset-password`` (issue 12, finding 7)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.integration.conftest import PASSWORD, unique
from verdict.cli import app as cli

runner = CliRunner()


def _alive(client: TestClient, headers: dict[str, str]) -> bool:
    return client.get("/api/v1/auth/me", headers=headers).status_code == 200


def _user(client: TestClient, headers: dict[str, str], username: str) -> dict[str, Any]:
    found = client.get("/api/v1/users", params={"q": username}, headers=headers).json()["items"]
    return next(u for u in found if u["username"] == username)


def _edit(client: TestClient, admin: dict[str, str], username: str, body: dict[str, Any]) -> None:
    url = f"/api/v1/users/{_user(client, admin, username)['id']}"
    response = client.patch(url, json=body, headers={**admin, "If-Match": "*"})
    assert response.status_code == 200, response.text


def test_a_password_change_ends_the_users_sessions(
    client: TestClient,
    admin: dict[str, str],
    make_user: Callable[..., str],
    login: Callable[[str], dict[str, str]],
) -> None:
    username = make_user("viewer")
    first, second = login(username), login(username)
    _edit(client, admin, username, {"password": "a new passphrase"})
    assert not _alive(client, first)
    assert not _alive(client, second)
    relog = client.post(
        "/api/v1/auth/login", json={"username": username, "password": "a new passphrase"}
    )
    assert relog.status_code == 200
    client.cookies.clear()  # a login sets the session cookie on the shared client


def test_changing_ones_own_password_keeps_only_the_session_doing_it(
    client: TestClient, make_user: Callable[..., str], login: Callable[[str], dict[str, str]]
) -> None:
    username = make_user(permissions=["user:update", "user:read"])
    here, elsewhere = login(username), login(username)
    _edit(client, here, username, {"password": "a new passphrase"})
    assert _alive(client, here)
    assert not _alive(client, elsewhere)


def test_deactivation_ends_sessions_for_good(
    client: TestClient,
    admin: dict[str, str],
    make_user: Callable[..., str],
    login: Callable[[str], dict[str, str]],
) -> None:
    username = make_user("viewer")
    headers = login(username)
    _edit(client, admin, username, {"is_active": False})
    _edit(client, admin, username, {"is_active": True})
    assert not _alive(client, headers)


def test_losing_a_role_or_the_superuser_flag_ends_sessions(
    client: TestClient,
    admin: dict[str, str],
    make_user: Callable[..., str],
    login: Callable[[str], dict[str, str]],
) -> None:
    demoted = make_user("experimenter", "viewer")
    headers = login(demoted)
    _edit(client, admin, demoted, {"roles": ["experimenter", "viewer"]})  # nothing lost
    assert _alive(client, headers)
    _edit(client, admin, demoted, {"roles": ["viewer"]})
    assert not _alive(client, headers)

    make_user(superuser=True)  # so that the one demoted is not the last
    superuser = make_user(superuser=True)
    headers = login(superuser)
    _edit(client, admin, superuser, {"is_superuser": False})
    assert not _alive(client, headers)


def test_deleting_a_role_ends_its_members_sessions(
    client: TestClient,
    admin: dict[str, str],
    make_user: Callable[..., str],
    login: Callable[[str], dict[str, str]],
) -> None:
    role = client.post("/api/v1/roles", json={"name": unique("temp")}, headers=admin).json()
    headers = login(make_user(role["name"]))
    deleted = client.delete(f"/api/v1/roles/{role['id']}", headers={**admin, "If-Match": "*"})
    assert deleted.status_code == 204
    assert not _alive(client, headers)
    assert _alive(client, admin)


def test_reset_password_from_the_command_line_ends_sessions(
    migrated_url: str,
    client: TestClient,
    make_user: Callable[..., str],
    login: Callable[[str], dict[str, str]],
) -> None:
    username = make_user("viewer")
    headers = login(username)
    result = runner.invoke(
        cli,
        ["users", "reset-password", "--username", username, "--database-url", migrated_url],
        env={"VERDICT_NEW_PASSWORD": "reset by the operator"},
    )
    assert result.exit_code == 0, result.output
    assert "sessions have ended" in result.output
    assert not _alive(client, headers)
    old = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert old.status_code == 401
    new = client.post(
        "/api/v1/auth/login", json={"username": username, "password": "reset by the operator"}
    )
    assert new.status_code == 200
    client.cookies.clear()  # a login sets the session cookie on the shared client


def test_reset_password_names_an_unknown_user_and_a_short_password(migrated_url: str) -> None:
    unknown = runner.invoke(
        cli,
        ["users", "reset-password", "--username", "nobody-here", "--database-url", migrated_url],
        env={"VERDICT_NEW_PASSWORD": "long enough"},
    )
    assert unknown.exit_code == 2
    assert "nobody-here" in unknown.output
    short = runner.invoke(
        cli,
        ["users", "reset-password", "--username", "x", "--database-url", migrated_url],
        env={"VERDICT_NEW_PASSWORD": "short"},
    )
    assert short.exit_code == 2
    assert "password" in short.output
