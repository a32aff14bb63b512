"""Integration fixtures: one API app per backend, and callers with chosen roles."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from verdict.server.app import create_app
from verdict.server.config import get_settings
from verdict.server.identity import service
from verdict.server.identity.schemas import RoleCreate, UserCreate

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def api_app(migrated_url: str) -> FastAPI:
    return create_app(get_settings(database_url=migrated_url))


@pytest.fixture(scope="session")
def client(api_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(api_app) as test_client:
        yield test_client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def make_user(api_app: FastAPI) -> Callable[..., str]:
    """Create a user with the given roles (and custom permissions); return its username."""

    def make(*roles: str, permissions: list[str] | None = None, superuser: bool = False) -> str:
        username = unique("user")
        with api_app.state.session_factory() as session:
            role_names = list(roles)
            if permissions is not None:
                role = service.create_role(
                    session,
                    actor=service.SYSTEM,
                    data=RoleCreate(name=unique("role"), permissions=permissions),
                )
                role_names.append(role.name)
            service.create_user(
                session,
                actor=service.SYSTEM,
                data=UserCreate(
                    username=username,
                    email=f"{username}@example.com",
                    password=PASSWORD,
                    roles=role_names,
                    is_superuser=superuser,
                ),
            )
        return username

    return make


@pytest.fixture(scope="session")
def login(client: TestClient) -> Callable[[str], dict[str, str]]:
    def headers_for(username: str) -> dict[str, str]:
        response = client.post(
            "/api/v1/auth/login", json={"username": username, "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        client.cookies.clear()  # tests authenticate explicitly, per request
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    return headers_for


@pytest.fixture(scope="session")
def admin(make_user: Callable[..., str], login: Callable[[str], dict[str, str]]) -> dict[str, str]:
    return login(make_user("admin"))


@pytest.fixture(scope="session")
def viewer(make_user: Callable[..., str], login: Callable[[str], dict[str, str]]) -> dict[str, str]:
    return login(make_user("viewer"))


@pytest.fixture(scope="session")
def experimenter(
    make_user: Callable[..., str], login: Callable[[str], dict[str, str]]
) -> dict[str, str]:
    return login(make_user("experimenter"))


@pytest.fixture(scope="session")
def nobody(make_user: Callable[..., str], login: Callable[[str], dict[str, str]]) -> dict[str, str]:
    """A signed-in user whose only role grants nothing."""
    return login(make_user(permissions=[]))
