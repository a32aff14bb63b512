"""No principal can climb: whatever a caller does through API keys, users, roles or the
superuser flag, nobody ends up with a permission the caller lacked (issue 12, finding 2),
and keys made by a person die with that person (finding 3)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from typing import Any

import argon2
import pytest
from argon2.exceptions import VerifyMismatchError
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tests.integration.conftest import PASSWORD, unique
from verdict.server.identity.models import Permission, Role, User, role_permissions, user_roles
from verdict.server.identity.permissions import all_permissions, permission_name

EVERY = sorted(permission_name(r, a) for r, a in all_permissions())
IDENTITY = ("api_key:create", "user:create", "user:update", "role:create", "role:update")
OTHERS = [p for p in EVERY if p not in IDENTITY]


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _me(client: TestClient, headers: dict[str, str]) -> set[str]:
    response = client.get("/api/v1/auth/me", headers=headers)
    assert response.status_code == 200, response.text
    return set(response.json()["permissions"])


def _user(client: TestClient, headers: dict[str, str], username: str) -> dict[str, Any]:
    found = client.get("/api/v1/users", params={"q": username}, headers=headers).json()["items"]
    return next(u for u in found if u["username"] == username)


def _powers(session: Session) -> dict[str, frozenset[str]]:
    """Every user's permissions as stored (a superuser holds everything; an inactive
    user nothing), read independently of the service code."""
    rows = session.execute(
        select(User.username, User.is_superuser, User.is_active, Permission.name)
        .outerjoin(user_roles, user_roles.c.user_id == User.id)
        .outerjoin(Role, Role.id == user_roles.c.role_id)
        .outerjoin(role_permissions, role_permissions.c.role_id == Role.id)
        .outerjoin(Permission, Permission.id == role_permissions.c.permission_id)
    ).all()
    powers: dict[str, set[str]] = {}
    for username, superuser, active, name in rows:
        held = powers.setdefault(username, set())
        if not active:
            continue
        if superuser:
            held.update(EVERY)
        elif name is not None:
            held.add(name)
    return {name: frozenset(held) for name, held in powers.items()}


# -- the findings, one by one -------------------------------------------------------------


def test_api_key_create_alone_makes_no_key_stronger_than_its_maker(
    client: TestClient, make_user: Callable[..., str], login: Callable[[str], dict[str, str]]
) -> None:
    headers = login(make_user(permissions=["api_key:create"]))
    created = client.post(
        "/api/v1/api-keys", json={"name": "mine", "kind": "admin"}, headers=headers
    )
    assert created.status_code == 201, created.text
    assert created.json()["personal"] is True
    key = _bearer(created.json()["key"])
    assert _me(client, key) == {"api_key:create"}
    assert client.get("/api/v1/users", headers=key).status_code == 403
    # a key made by that key still belongs to the same person
    child = client.post("/api/v1/api-keys", json={"name": "child", "kind": "admin"}, headers=key)
    assert child.status_code == 201
    assert _me(client, _bearer(child.json()["key"])) == {"api_key:create"}


def test_user_create_alone_makes_no_superuser_and_grants_no_stronger_role(
    client: TestClient, make_user: Callable[..., str], login: Callable[[str], dict[str, str]]
) -> None:
    headers = login(make_user(permissions=["user:create"]))
    for extra in ({"is_superuser": True}, {"roles": ["admin"]}, {"roles": ["viewer"]}):
        name = unique("climber")
        body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD, **extra}
        response = client.post("/api/v1/users", json=body, headers=headers)
        assert response.status_code == 403, (extra, response.text)
        assert "cannot grant" in response.json()["detail"]
    name = unique("plain")
    plain = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
    assert client.post("/api/v1/users", json=plain, headers=headers).status_code == 201


def test_user_update_cannot_make_oneself_superuser_even_with_if_match_star(
    client: TestClient, make_user: Callable[..., str], login: Callable[[str], dict[str, str]]
) -> None:
    username = make_user(permissions=["user:update", "user:read"])
    headers = login(username)
    url = f"/api/v1/users/{_user(client, headers, username)['id']}"
    star = {**headers, "If-Match": "*"}
    for body in ({"is_superuser": True}, {"roles": ["admin"]}):
        response = client.patch(url, json=body, headers=star)
        assert response.status_code == 403, (body, response.text)
    assert _me(client, headers) == {"user:update", "user:read"}


def test_role_update_cannot_grant_the_callers_own_role_more(
    client: TestClient, make_user: Callable[..., str], login: Callable[[str], dict[str, str]]
) -> None:
    username = make_user(permissions=["role:update", "role:read", "user:read"])
    headers = login(username)
    role_name = next(r for r in _user(client, headers, username)["roles"])
    roles = client.get("/api/v1/roles", params={"limit": 200}, headers=headers).json()["items"]
    role = next(r for r in roles if r["name"] == role_name)
    star = {**headers, "If-Match": "*"}
    grab = client.patch(f"/api/v1/roles/{role['id']}", json={"permissions": EVERY}, headers=star)
    assert grab.status_code == 403
    assert "user:delete" in grab.json()["detail"]
    assert _me(client, headers) == {"role:update", "role:read", "user:read"}
    # dropping a permission, or keeping what the role has, needs nothing more
    keep = ["role:update", "role:read"]
    narrowed = client.patch(f"/api/v1/roles/{role['id']}", json={"permissions": keep}, headers=star)
    assert narrowed.status_code == 200


def test_user_update_cannot_take_over_a_stronger_account(
    client: TestClient, make_user: Callable[..., str], login: Callable[[str], dict[str, str]]
) -> None:
    victim = make_user(superuser=True)
    headers = login(make_user(permissions=["user:update", "user:read", "user:delete"]))
    url = f"/api/v1/users/{_user(client, headers, victim)['id']}"
    star = {**headers, "If-Match": "*"}
    reset = client.patch(url, json={"password": "attacker-chosen"}, headers=star)
    assert reset.status_code == 403
    assert client.delete(url, headers=star).status_code == 403
    relog = client.post("/api/v1/auth/login", json={"username": victim, "password": PASSWORD})
    assert relog.status_code == 200
    client.cookies.clear()  # a login sets the session cookie on the shared client


# -- keys die with their owner ------------------------------------------------------------


def _keys_of(
    client: TestClient, owner: dict[str, str]
) -> tuple[dict[str, str], dict[str, str], dict[str, Any]]:
    admin_key = client.post(
        "/api/v1/api-keys", json={"name": "ci", "kind": "admin"}, headers=owner
    ).json()
    server_key = client.post(
        "/api/v1/api-keys",
        json={"name": "svc", "kind": "server", "environment": "production"},
        headers=owner,
    ).json()
    admin, server = _bearer(admin_key["key"]), _bearer(server_key["key"])
    assert client.get("/api/v1/users", headers=admin).status_code == 200
    assert client.get("/api/v1/sdk/config", headers=server).status_code == 200  # now cached
    return admin, server, server_key


def test_a_persons_keys_stop_working_when_they_are_deactivated(
    client: TestClient,
    admin: dict[str, str],
    make_user: Callable[..., str],
    login: Callable[[str], dict[str, str]],
) -> None:
    make_user(superuser=True)  # so the one deactivated below is never the last superuser
    username = make_user(superuser=True)
    admin_key, server_key, server = _keys_of(client, login(username))
    url = f"/api/v1/users/{_user(client, admin, username)['id']}"
    off = client.patch(url, json={"is_active": False}, headers={**admin, "If-Match": "*"})
    assert off.status_code == 200, off.text
    assert client.get("/api/v1/users", headers=admin_key).status_code == 401
    assert client.get("/api/v1/sdk/config", headers=server_key).status_code == 401
    shown = client.get(f"/api/v1/api-keys/{server['id']}", headers=admin).json()
    assert shown["revoked_at"] is not None


def test_a_persons_keys_stop_working_when_they_are_deleted(
    client: TestClient,
    admin: dict[str, str],
    make_user: Callable[..., str],
    login: Callable[[str], dict[str, str]],
) -> None:
    username = make_user(superuser=True)
    admin_key, server_key, _ = _keys_of(client, login(username))
    url = f"/api/v1/users/{_user(client, admin, username)['id']}"
    assert client.delete(url, headers={**admin, "If-Match": "*"}).status_code == 204
    assert client.get("/api/v1/users", headers=admin_key).status_code == 401
    assert client.get("/api/v1/sdk/config", headers=server_key).status_code == 401


def test_a_personal_key_dies_even_when_its_owner_row_is_removed_behind_the_api(
    api_app: FastAPI,
    client: TestClient,
    make_user: Callable[..., str],
    login: Callable[[str], dict[str, str]],
) -> None:
    username = make_user(superuser=True)
    admin_key, _, _ = _keys_of(client, login(username))
    with api_app.state.session_factory() as session:
        session.execute(delete(User).where(User.username == username))
        session.commit()
    response = client.get("/api/v1/users", headers=admin_key)
    assert response.status_code == 401
    assert "owner" in response.json()["detail"]


def test_a_personal_admin_key_loses_what_its_owner_loses(
    client: TestClient,
    admin: dict[str, str],
    make_user: Callable[..., str],
    login: Callable[[str], dict[str, str]],
) -> None:
    username = make_user(permissions=["api_key:create", "experiment:create"])
    key = _bearer(
        client.post(
            "/api/v1/api-keys", json={"name": "k", "kind": "admin"}, headers=login(username)
        ).json()["key"]
    )
    assert "experiment:create" in _me(client, key)
    url = f"/api/v1/users/{_user(client, admin, username)['id']}"
    edit = client.patch(url, json={"roles": ["viewer"]}, headers={**admin, "If-Match": "*"})
    assert edit.status_code == 200
    assert "experiment:create" not in _me(client, key)


# -- the generated sweep --------------------------------------------------------------------

_rng = random.Random(12)
_SUBSETS = [
    sorted(set(identity) | set(_rng.sample(OTHERS, _rng.randint(0, len(OTHERS)))))
    for size in range(len(IDENTITY) + 1)
    for identity in itertools.combinations(IDENTITY, size)
    for _ in range(2)
]


@pytest.fixture(scope="module")
def victim(make_user: Callable[..., str]) -> str:
    """A superuser every caller of the sweep tries to take over."""
    return make_user(superuser=True)


def _attempts(
    client: TestClient, headers: dict[str, str], caller: dict[str, Any], victim_id: str
) -> tuple[list[dict[str, str]], str]:
    """Every route to more power the caller may try; returns the admin keys made and the
    password the victim would have if the take-over worked."""
    keys: list[dict[str, str]] = []
    star = {**headers, "If-Match": "*"}
    made = client.post("/api/v1/api-keys", json={"name": "k", "kind": "admin"}, headers=headers)
    if made.status_code == 201:
        keys.append(_bearer(made.json()["key"]))
        again = client.post(
            "/api/v1/api-keys", json={"name": "k2", "kind": "admin"}, headers=keys[0]
        )
        if again.status_code == 201:
            keys.append(_bearer(again.json()["key"]))
    for extra in ({"is_superuser": True}, {"roles": ["admin"]}):
        name = unique("made")
        body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD, **extra}
        client.post("/api/v1/users", json=body, headers=headers)
    role = client.post(
        "/api/v1/roles", json={"name": unique("grab"), "permissions": EVERY}, headers=headers
    )
    if role.status_code == 201:
        client.patch(
            f"/api/v1/users/{caller['id']}", json={"roles": [role.json()["name"]]}, headers=star
        )
    empty = client.post("/api/v1/roles", json={"name": unique("empty")}, headers=headers)
    if empty.status_code == 201:
        client.patch(
            f"/api/v1/roles/{empty.json()['id']}", json={"permissions": EVERY}, headers=star
        )
    for own_role_name in caller["roles"]:
        for page in (client.get("/api/v1/roles", params={"limit": 200}, headers=headers),):
            if page.status_code != 200:
                continue
            for found in page.json()["items"]:
                if found["name"] == own_role_name:
                    client.patch(
                        f"/api/v1/roles/{found['id']}", json={"permissions": EVERY}, headers=star
                    )
    url = f"/api/v1/users/{caller['id']}"
    client.patch(url, json={"is_superuser": True}, headers=star)
    client.patch(url, json={"roles": ["admin"]}, headers=star)
    taken = unique("taken-over")
    client.patch(f"/api/v1/users/{victim_id}", json={"password": taken}, headers=star)
    return keys, taken


@pytest.mark.parametrize(
    "held", _SUBSETS, ids=lambda held: ",".join(sorted(set(held) & set(IDENTITY))) or "none"
)
def test_no_caller_grants_a_permission_it_lacks(
    held: list[str],
    api_app: FastAPI,
    client: TestClient,
    admin: dict[str, str],
    make_user: Callable[..., str],
    login: Callable[[str], dict[str, str]],
    victim: str,
) -> None:
    caller_name = make_user(permissions=held)
    headers = login(caller_name)
    caller = _user(client, admin, caller_name)
    victim_id = _user(client, admin, victim)["id"]
    with api_app.state.session_factory() as session:
        before = _powers(session)

    keys, taken = _attempts(client, headers, caller, victim_id)

    lacked = set(EVERY) - set(held)
    with api_app.state.session_factory() as session:
        after = _powers(session)
        for username, powers in after.items():
            gained = powers - before.get(username, frozenset())
            assert not gained & lacked, (username, sorted(gained & lacked))
        stored = session.scalars(select(User).where(User.username == victim)).one()
        # checked on the stored hash, not by logging in: a failed login would count
        # against this client's address in the shared app
        assert stored.hashed_password is not None
        with pytest.raises(VerifyMismatchError):
            argon2.PasswordHasher().verify(stored.hashed_password, taken)
    for key in keys:
        assert _me(client, key) <= set(held)
