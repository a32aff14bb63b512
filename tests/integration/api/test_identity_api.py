"""Logging in and out, users, roles and API keys through the API."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from tests.conftest import DatabaseFactory
from tests.integration.conftest import PASSWORD, unique
from verdict.server.app import create_app
from verdict.server.config import get_settings
from verdict.server.db import create_db_engine, migrate
from verdict.server.identity import service
from verdict.server.identity.schemas import UserCreate


def test_login_returns_a_token_that_identifies_the_user(
    client: TestClient, make_user: Callable[..., str]
) -> None:
    username = make_user("viewer")
    response = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200
    assert "verdict_session" in response.headers["set-cookie"]
    assert "HttpOnly" in response.headers["set-cookie"]
    token = response.json()["access_token"]
    client.cookies.clear()
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["name"] == username
    assert "experiment:read" in me.json()["permissions"]
    assert "experiment:update" not in me.json()["permissions"]


def test_the_session_cookie_authenticates_the_dashboard(
    api_app: object, make_user: Callable[..., str]
) -> None:
    with TestClient(api_app) as browser:  # type: ignore[arg-type]
        username = make_user("viewer")
        browser.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert browser.get("/api/v1/auth/me").json()["name"] == username


def test_wrong_password_is_refused_without_saying_which_part_was_wrong(
    client: TestClient, make_user: Callable[..., str]
) -> None:
    username = make_user("viewer")
    wrong = client.post("/api/v1/auth/login", json={"username": username, "password": "nope"})
    unknown = client.post("/api/v1/auth/login", json={"username": "ghost", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]


def test_logout_revokes_the_token(
    client: TestClient, make_user: Callable[..., str], login: Callable[[str], dict[str, str]]
) -> None:
    headers = login(make_user("viewer"))
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401


def test_a_garbage_token_is_refused(client: TestClient) -> None:
    response = client.get("/api/v1/auth/me", headers={"Authorization": "Bearer vt_nonsense"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_creating_a_user_validates_fields_and_refuses_duplicates(
    client: TestClient, admin: dict[str, str]
) -> None:
    username = unique("carol")
    body = {"username": username, "email": f"{username}@example.com", "password": "longenough"}
    created = client.post("/api/v1/users", json=body, headers=admin)
    assert created.status_code == 201
    assert created.headers["etag"] == '"1"'
    assert "hashed_password" not in created.json()
    duplicate = client.post("/api/v1/users", json=body, headers=admin)
    assert duplicate.status_code == 409
    short = client.post(
        "/api/v1/users", json={**body, "username": unique("d"), "password": "short"}, headers=admin
    )
    assert short.status_code == 422
    assert short.json()["errors"][0]["field"] == "body.password"
    unknown_role = client.post(
        "/api/v1/users",
        json={**body, "username": unique("e"), "email": "e@example.com", "roles": ["wizard"]},
        headers=admin,
    )
    assert unknown_role.status_code == 422
    assert unknown_role.json()["errors"][0]["field"] == "body.roles"


def test_editing_a_user_needs_the_current_version(
    client: TestClient, admin: dict[str, str], make_user: Callable[..., str]
) -> None:
    username = make_user("viewer")
    found = client.get("/api/v1/users", params={"q": username}, headers=admin).json()["items"]
    user_id = found[0]["id"]
    url = f"/api/v1/users/{user_id}"
    etag = client.get(url, headers=admin).headers["etag"]
    missing = client.patch(url, json={"full_name": "A"}, headers=admin)
    assert missing.status_code == 428
    first = client.patch(url, json={"full_name": "A"}, headers={**admin, "If-Match": etag})
    assert first.status_code == 200
    assert first.headers["etag"] != etag
    stale = client.patch(url, json={"full_name": "B"}, headers={**admin, "If-Match": etag})
    assert stale.status_code == 412
    assert client.get(url, headers=admin).json()["full_name"] == "A"


def test_role_changes_take_effect_for_the_user(
    client: TestClient,
    admin: dict[str, str],
    make_user: Callable[..., str],
    login: Callable[[str], dict[str, str]],
) -> None:
    role = client.post(
        "/api/v1/roles",
        json={"name": unique("auditor"), "permissions": ["audit_log:read"]},
        headers=admin,
    )
    assert role.status_code == 201, role.text
    username = make_user(role.json()["name"])
    headers = login(username)
    assert client.get("/api/v1/audit", headers=headers).status_code == 200
    assert client.get("/api/v1/users", headers=headers).status_code == 403
    url = f"/api/v1/roles/{role.json()['id']}"
    edit = client.patch(
        url,
        json={"permissions": ["user:read"]},
        headers={**admin, "If-Match": role.headers["etag"]},
    )
    assert edit.status_code == 200
    assert client.get("/api/v1/users", headers=headers).status_code == 200
    assert client.get("/api/v1/audit", headers=headers).status_code == 403


def test_built_in_roles_cannot_be_edited_or_deleted(
    client: TestClient, admin: dict[str, str]
) -> None:
    roles = client.get("/api/v1/roles", params={"limit": 200}, headers=admin).json()["items"]
    viewer = next(r for r in roles if r["name"] == "viewer")
    headers = {**admin, "If-Match": f'"{viewer["version"]}"'}
    assert client.delete(f"/api/v1/roles/{viewer['id']}", headers=headers).status_code == 409
    edit = client.patch(f"/api/v1/roles/{viewer['id']}", json={"permissions": []}, headers=headers)
    assert edit.status_code == 409


def test_unknown_permissions_are_named(client: TestClient, admin: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/roles",
        json={"name": unique("r"), "permissions": ["experiment:fly"]},
        headers=admin,
    )
    assert response.status_code == 422
    assert "experiment:fly" in response.json()["detail"]


def test_api_key_secret_is_shown_once_and_use_is_recorded(
    client: TestClient, admin: dict[str, str]
) -> None:
    created = client.post(
        "/api/v1/api-keys", json={"name": "ci", "kind": "admin"}, headers=admin
    ).json()
    secret = created["key"]
    assert secret.startswith("vk_adm_")
    assert created["prefix"] == secret[:14]
    shown = client.get(f"/api/v1/api-keys/{created['id']}", headers=admin).json()
    assert "key" not in shown
    assert shown["last_used_at"] is None
    key_headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/users", headers=key_headers).status_code == 200
    used = client.get(f"/api/v1/api-keys/{created['id']}", headers=admin).json()
    assert used["last_used_at"] is not None
    assert client.delete(f"/api/v1/api-keys/{created['id']}", headers=admin).status_code == 200
    assert client.get("/api/v1/users", headers=key_headers).status_code == 401


def test_sdk_keys_need_an_environment_and_admin_keys_refuse_one(
    client: TestClient, admin: dict[str, str]
) -> None:
    no_env = client.post("/api/v1/api-keys", json={"name": "s", "kind": "server"}, headers=admin)
    assert no_env.status_code == 422
    assert no_env.json()["errors"][0]["field"] == "body.environment"
    bad_env = client.post(
        "/api/v1/api-keys",
        json={"name": "s", "kind": "client", "environment": "mars"},
        headers=admin,
    )
    assert bad_env.status_code == 422
    admin_env = client.post(
        "/api/v1/api-keys",
        json={"name": "a", "kind": "admin", "environment": "production"},
        headers=admin,
    )
    assert admin_env.status_code == 422


def test_every_identity_change_is_in_the_audit_log(
    client: TestClient, admin: dict[str, str]
) -> None:
    name = unique("audited")
    role = client.post("/api/v1/roles", json={"name": name}, headers=admin).json()
    entries = client.get(
        "/api/v1/audit", params={"resource_type": "role", "resource_id": role["id"]}, headers=admin
    ).json()["items"]
    assert [(e["action"], e["before"], e["after"]["name"]) for e in entries] == [
        ("create", None, name)
    ]


def test_a_nul_character_in_a_body_is_refused_naming_the_field(
    client: TestClient, admin: dict[str, str]
) -> None:
    response = client.post("/api/v1/roles", json={"name": "bad\u0000name"}, headers=admin)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.name"
    assert "NUL" in response.json()["errors"][0]["reason"]


def test_a_value_the_database_cannot_compare_is_a_client_error(
    client: TestClient, admin: dict[str, str]
) -> None:
    response = client.get("/api/v1/users", params={"q": "a\u0000b"}, headers=admin)
    assert response.status_code in {200, 422}  # SQLite compares it; PostgreSQL refuses it
    if response.status_code == 422:
        assert response.headers["content-type"] == "application/problem+json"


# -- issue 12, finding 9: the identity items ------------------------------------------


def _sdk_key(client: TestClient, admin: dict[str, str], kind: str) -> dict[str, str]:
    created = client.post(
        "/api/v1/api-keys",
        json={"name": "sdk", "kind": kind, "environment": "production"},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    return {"Authorization": f"Bearer {created.json()['key']}"}


@pytest.mark.parametrize("kind", ["server", "client"])
def test_sdk_keys_are_refused_on_who_am_i_and_log_out(
    client: TestClient, admin: dict[str, str], kind: str
) -> None:
    headers = _sdk_key(client, admin, kind)
    me = client.get("/api/v1/auth/me", headers=headers)
    assert me.status_code == 403
    assert "SDK routes" in me.json()["detail"]
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 403


def test_an_admin_key_knows_itself_but_does_not_log_out(
    client: TestClient, admin: dict[str, str]
) -> None:
    secret = client.post(
        "/api/v1/api-keys", json={"name": "ops", "kind": "admin"}, headers=admin
    ).json()["key"]
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    out = client.post("/api/v1/auth/logout", headers=headers)
    assert out.status_code == 403
    assert "revoke" in out.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"is_superuser": 0}, "body.is_superuser"),
        ({"is_superuser": "true"}, "body.is_superuser"),
        ({"is_active": "yes"}, "body.is_active"),
        ({"is_active": 1}, "body.is_active"),
    ],
)
def test_identity_flags_are_strict_booleans(
    client: TestClient,
    admin: dict[str, str],
    make_user: Callable[..., str],
    body: dict[str, object],
    field: str,
) -> None:
    username = make_user("viewer")
    user_id = client.get("/api/v1/users", params={"q": username}, headers=admin).json()["items"][0][
        "id"
    ]
    edit = client.patch(f"/api/v1/users/{user_id}", json=body, headers={**admin, "If-Match": "*"})
    assert edit.status_code == 422
    assert edit.json()["errors"][0]["field"] == field
    if "is_superuser" in body:
        name = unique("strict")
        create = client.post(
            "/api/v1/users",
            json={"username": name, "email": f"{name}@example.com", "password": PASSWORD, **body},
            headers=admin,
        )
        assert create.status_code == 422


def test_email_addresses_are_unique_whatever_their_case(
    client: TestClient, admin: dict[str, str]
) -> None:
    name = unique("case")
    first = client.post(
        "/api/v1/users",
        json={"username": name, "email": f"{name.upper()}@Example.COM", "password": PASSWORD},
        headers=admin,
    )
    assert first.status_code == 201, first.text
    assert first.json()["email"] == f"{name}@example.com"
    again = client.post(
        "/api/v1/users",
        json={"username": unique("case"), "email": f"{name}@example.com", "password": PASSWORD},
        headers=admin,
    )
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/users", {"username": "\u0430dmin"}, "body.username"),  # Cyrillic a
        ("/api/v1/roles", {"name": "\u0430dmin-team"}, "body.name"),
        ("/api/v1/roles", {"name": "ops\u200bteam"}, "body.name"),  # zero-width space
        ("/api/v1/roles", {"name": "\uff41dmins"}, "body.name"),  # fullwidth a
    ],
)
def test_look_alike_names_are_refused_naming_the_field(
    client: TestClient, admin: dict[str, str], path: str, body: dict[str, str], field: str
) -> None:
    if path.endswith("users"):
        body = {**body, "email": f"{unique('x')}@example.com", "password": PASSWORD}
    response = client.post(path, json=body, headers=admin)
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert error["field"] == field
    assert "look" in error["reason"] or "invisible" in error["reason"] or "NFKC" in error["reason"]


def test_role_names_in_one_script_are_welcome(client: TestClient, admin: dict[str, str]) -> None:
    suffix = uuid.uuid4().int % 10**8  # digits: the names' letters stay in one script
    for name in (f"Équipe produit {suffix}", f"Команда {suffix}", f"開発チーム {suffix}"):
        response = client.post("/api/v1/roles", json={"name": name}, headers=admin)
        assert response.status_code == 201, (name, response.text)


@pytest.fixture
def lone_superuser(
    database_factory: DatabaseFactory, backend: str
) -> Iterator[tuple[TestClient, dict[str, str], str]]:
    """An app on a database of its own, with exactly one superuser, signed in."""
    url = database_factory.new_url(backend)
    engine = create_db_engine(get_settings(database_url=url))
    migrate.upgrade(engine)
    engine.dispose()
    app = create_app(get_settings(database_url=url))
    with TestClient(app) as test_client, app.state.session_factory() as session:
        name = unique("root")
        user = service.create_user(
            session,
            actor=service.SYSTEM,
            data=UserCreate(
                username=name, email=f"{name}@example.com", password=PASSWORD, is_superuser=True
            ),
        )
        token = test_client.post(
            "/api/v1/auth/login", json={"username": name, "password": PASSWORD}
        ).json()["access_token"]
        test_client.cookies.clear()
        yield test_client, {"Authorization": f"Bearer {token}"}, str(user.id)


def test_the_last_superuser_cannot_demote_or_deactivate_themselves(
    lone_superuser: tuple[TestClient, dict[str, str], str],
) -> None:
    client, headers, user_id = lone_superuser
    star = {**headers, "If-Match": "*"}
    demote = client.patch(f"/api/v1/users/{user_id}", json={"is_superuser": False}, headers=star)
    assert demote.status_code == 409
    assert "last active superuser" in demote.json()["detail"]
    off = client.patch(f"/api/v1/users/{user_id}", json={"is_active": False}, headers=star)
    assert off.status_code == 409
    # with a second superuser, stepping down is fine
    second = client.post(
        "/api/v1/users",
        json={
            "username": unique("root"),
            "email": f"{unique('root')}@example.com",
            "password": PASSWORD,
            "is_superuser": True,
        },
        headers=headers,
    )
    assert second.status_code == 201
    assert (
        client.patch(
            f"/api/v1/users/{user_id}", json={"is_superuser": False}, headers=star
        ).status_code
        == 200
    )
